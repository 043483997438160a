//! Every string the desk shows, looked up by key in one catalogue.
//!
//! The English catalogue is `assets/en.txt` (`key = text`, one a line, `#`
//! comments). A translation is another such file with the same keys; its
//! `lang` and `dir` keys set the page's language and direction. A key the
//! catalogue lacks shows as itself (a test checks none is missing).

use std::collections::HashMap;
use std::sync::OnceLock;

/// The English catalogue.
pub const ENGLISH: &str = include_str!("assets/en.txt");

/// Parses a catalogue file into key → text.
pub fn parse(catalogue: &'static str) -> HashMap<&'static str, &'static str> {
    catalogue
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn catalogue() -> &'static HashMap<&'static str, &'static str> {
    static CATALOGUE: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    CATALOGUE.get_or_init(|| parse(ENGLISH))
}

/// The text for `key`.
pub fn t(key: &'static str) -> &'static str {
    catalogue().get(key).copied().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t("…")` key written in the desk's sources is in the English
    /// catalogue, and the catalogue has no key twice.
    #[test]
    fn every_key_used_is_in_the_catalogue() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("pages.rs"),
            include_str!("guard.rs"),
        ];
        let known = parse(ENGLISH);
        let mut missing = Vec::new();
        for source in sources {
            for (at, _) in source.match_indices("t(\"") {
                let before = source[..at].chars().next_back().unwrap_or(' ');
                if before.is_alphanumeric() || before == '_' || before == '.' {
                    continue; // get("…"), format!("…") and the like
                }
                let piece = &source[at + 3..];
                let Some(end) = piece.find('"') else { continue };
                let key = &piece[..end];
                if !known.contains_key(key) {
                    missing.push(key.to_owned());
                }
            }
        }
        assert!(missing.is_empty(), "keys missing from en.txt: {missing:?}");
        let lines = ENGLISH
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim().starts_with('#'))
            .count();
        assert_eq!(lines, known.len(), "a key appears twice in en.txt");
        assert_eq!(t("lang"), "en");
        assert_eq!(t("dir"), "ltr");
    }
}
