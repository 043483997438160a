//! Safe file names for evidence inside a bundle: what an evidence file's
//! "original name" becomes so that it unpacks to itself on Linux, macOS and
//! Windows, and how clashing names are made unique.
//!
//! Pure string functions: no archive, no file system.

use std::collections::HashSet;

/// Longest name, in bytes, [`sanitize_file_name`] and [`dedupe_names`] produce.
pub(crate) const MAX_FILE_NAME_LEN: usize = 200;
/// Longest suffix after the last '.' that counts as an extension.
const MAX_EXTENSION_LEN: usize = 32;

/// Turns an evidence file's original name into a safe single file name,
/// one that unpacks to itself on Linux, macOS and Windows.
///
/// In order: normalises to NFC (macOS file systems and many tools compare
/// names by normalisation); removes `/`, `\`, Unicode bidirectional
/// controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, which can
/// disguise an extension) and `%` (RFC 8493 requires `%` to be written
/// `%25` in manifests, which the stock `bagit.py` does not decode, so a `%`
/// in a payload name makes a court's validation fail); replaces the
/// characters Windows forbids (`: * ? " < > |`) and control characters by
/// `_`; trims whitespace, leading dots and trailing dots (Windows drops
/// trailing dots and spaces, so `report.` would become `report`); prefixes
/// `_` to a Windows device name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`,
/// `LPT0`–`LPT9`, also with an extension, as `con.txt`); keeps all other
/// Unicode, and caps the result at `MAX_FILE_NAME_LEN` (200) bytes on a
/// character boundary, keeping an extension of up to 32 bytes. An empty
/// result becomes `"unnamed"`.
pub fn sanitize_file_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let kept: String = name
        .nfc()
        .filter(|&c| !(c == '/' || c == '\\' || c == '%' || is_bidi_control(c)))
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut trimmed = kept.as_str();
    loop {
        let next = trimmed.trim().trim_start_matches('.').trim_end_matches('.');
        if next.len() == trimmed.len() {
            break;
        }
        trimmed = next;
    }
    let device_safe;
    if is_windows_device_name(trimmed) {
        device_safe = format!("_{trimmed}");
        trimmed = &device_safe;
    }
    let (stem, ext) = split_extension(trimmed);
    let capped = fit_name(stem, "", ext);
    if capped.is_empty() {
        "unnamed".to_owned()
    } else {
        capped
    }
}

/// True for a name Windows reserves for a device, with or without an
/// extension (`CON`, `nul.txt`, `Com1.tar.gz`, `LPT9 .log`).
fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.chars().count() == 4
        && upper
            .chars()
            .nth(3)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '¹' | '²' | '³')))
}

/// The key under which two names are the same file on a case-insensitive,
/// normalisation-insensitive file system (macOS, Windows): NFC, then full
/// case folding approximated by upper- then lower-casing (`ß` = `ss`, `Σ` =
/// `σ` = `ς`), then NFC again.
pub fn name_fold_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let nfc: String = name.nfc().collect();
    let folded = nfc.to_uppercase().to_lowercase();
    folded.nfc().collect()
}

/// Makes names unique, case- and normalisation-insensitively (see
/// [`name_fold_key`]), in a deterministic way.
///
/// The first occurrence of a name keeps it; each later one becomes
/// `stem (n).ext` with the smallest `n >= 2` that collides with no input
/// name and no name already produced. Results stay within
/// `MAX_FILE_NAME_LEN` (200) bytes by shortening the stem. Expects names already
/// passed through [`sanitize_file_name`].
pub fn dedupe_names(names: &[String]) -> Vec<String> {
    let mut taken: HashSet<String> = names.iter().map(|n| name_fold_key(n)).collect();
    let mut claimed: HashSet<String> = HashSet::with_capacity(names.len());
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if claimed.insert(name_fold_key(name)) {
            out.push(name.clone());
            continue;
        }
        let (stem, ext) = split_extension(name);
        let mut n: u64 = 2;
        loop {
            let candidate = fit_name(stem, &format!(" ({n})"), ext);
            let key = name_fold_key(&candidate);
            if taken.insert(key.clone()) {
                claimed.insert(key);
                out.push(candidate);
                break;
            }
            n += 1;
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Splits `name` into stem and extension (with its dot). A leading dot, an
/// empty extension, an extension over 32 bytes or one containing whitespace
/// does not count.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot)
            if dot > 0
                && name.len() - dot > 1
                && name.len() - dot <= MAX_EXTENSION_LEN + 1
                && !name[dot..].contains(char::is_whitespace) =>
        {
            name.split_at(dot)
        }
        _ => (name, ""),
    }
}

/// `stem + suffix + ext`, shortening the stem (on a character boundary, then
/// trimming trailing whitespace) so the result fits [`MAX_FILE_NAME_LEN`].
fn fit_name(stem: &str, suffix: &str, ext: &str) -> String {
    let total = stem.len() + suffix.len() + ext.len();
    if total <= MAX_FILE_NAME_LEN {
        return format!("{stem}{suffix}{ext}");
    }
    let budget = MAX_FILE_NAME_LEN.saturating_sub(suffix.len() + ext.len());
    let mut end = budget.min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let short = stem[..end].trim_end();
    format!("{short}{suffix}{ext}")
}
