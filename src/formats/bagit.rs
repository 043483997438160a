//! BagIt 1.0 (RFC 8493) tag files: writing them and checking them.
//!
//! This module owns the *text* of a bag: `bagit.txt`, `bag-info.txt`,
//! `manifest-sha256.txt` and `tagmanifest-sha256.txt`, both producing them
//! from already-computed payload sizes and digests and parsing them strictly
//! for a verifier. It is pure: it never touches the file system, never reads
//! payload bytes and never decides where a bag lives. Hashing payload files,
//! laying the bag out on disk or in a tar (see [`crate::formats::tar`]), and
//! deciding which bag-info fields a bundle carries belong to the caller; so
//! do signing the tag manifest ([`crate::formats::minisign`]), keys and the
//! vault. Path rules shared with the tar reader live in
//! [`crate::formats::paths`].
//!
//! # Conformance notes
//!
//! * Lines end with LF. Manifest lines are `<lowercase hex>  <path>` (two
//!   spaces), sorted by the byte order of the unencoded path.
//! * Paths in manifests percent-encode `%` as `%25`, CR as `%0D` and LF as
//!   `%0A` (RFC 8493 §2.1.3), with upper-case hex digits. Note that the stock
//!   `bagit.py` (1.9.0, issue LibraryOfCongress/bagit-python#157) decodes
//!   only `%0D`/`%0A` and *not* `%25`, so a payload path containing `%`
//!   produces a bag that is RFC-valid but that `bagit.py --validate` rejects.
//!   Keep `%` out of payload names (`formats::tar::sanitize_file_name` does).
//! * The writer refuses paths that end in whitespace: they are legal in the
//!   RFC but common validators (`bagit.py` included) strip line ends and
//!   would then look for a different file.
//! * bag-info values containing LF are folded: every line after the first is
//!   written on a continuation line indented with two spaces. The parser
//!   unfolds by joining continuation lines with LF after removing their
//!   indentation, so `parse_bag_info` returns exactly what was written. Values
//!   that could not survive that round trip (a line with leading or trailing
//!   spaces or tabs, an empty line, CR or other control characters) are
//!   rejected rather than silently altered. Long single-line values are not
//!   folded (the RFC only *recommends* 79-character lines).
//! * Labels must be non-empty and contain no `:`, whitespace or control
//!   characters. `Payload-Oxum` and `Bagging-Date` are reserved: the writer
//!   adds them itself, after the caller's fields.

use std::collections::HashMap;
use std::fmt;

use sha2::{Digest, Sha256};

use crate::formats::paths::{check_chars, check_components, Forbidden, PathProblem};

/// The exact contents of `bagit.txt` written by [`write_bag_text`].
pub(crate) const BAGIT_TXT: &str = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

/// File name of the payload manifest written by this module.
pub(crate) const MANIFEST_NAME: &str = "manifest-sha256.txt";

/// File name of the tag manifest written by this module.
pub(crate) const TAG_MANIFEST_NAME: &str = "tagmanifest-sha256.txt";

const BAG_INFO_NAME: &str = "bag-info.txt";
const BAGIT_TXT_NAME: &str = "bagit.txt";
const RESERVED_LABELS: [&str; 2] = ["Payload-Oxum", "Bagging-Date"];
const CONTINUATION_INDENT: &str = "  ";

/// One payload file, as the caller measured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadEntry {
    /// Path relative to the bag root, `/`-separated, starting with `data/`.
    pub path: String,
    /// Size in bytes (summed into `Payload-Oxum`).
    pub size: u64,
    /// SHA-256 digest of the file's bytes.
    pub sha256: [u8; 32],
}

/// Ordered bag-info.txt metadata supplied by the caller.
///
/// Labels may repeat (RFC 8493 allows repeated elements); order is kept.
/// `Payload-Oxum` and `Bagging-Date` must not be present: the writer adds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BagInfo {
    /// `(label, value)` pairs in the order they are written.
    pub fields: Vec<(String, String)>,
}

/// The three tag files produced by [`write_bag_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagText {
    /// Contents of `bagit.txt` (always `BAGIT_TXT`).
    pub bagit_txt: String,
    /// Contents of `bag-info.txt`: the caller's fields, then `Payload-Oxum`, then `Bagging-Date`.
    pub bag_info_txt: String,
    /// Contents of `manifest-sha256.txt`, one line per payload file, sorted by path.
    pub manifest_sha256_txt: String,
}

/// Why a bag-info label is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelProblem {
    /// The label is empty.
    Empty,
    /// The label contains `:`.
    Colon,
    /// The label contains whitespace.
    Whitespace,
    /// The label contains a control character.
    ControlCharacter,
}

impl fmt::Display for LabelProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelProblem::Empty => "label is empty",
            LabelProblem::Colon => "label contains ':'",
            LabelProblem::Whitespace => "label contains whitespace",
            LabelProblem::ControlCharacter => "label contains a control character",
        })
    }
}

/// Why a bag-info value cannot be written so that it parses back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueProblem {
    /// The value contains a control character other than LF and tab (CR included).
    ControlCharacter(char),
    /// Line `line` (1-based, within the value) starts with a space or tab.
    LeadingWhitespace {
        /// 1-based line within the value.
        line: usize,
    },
    /// Line `line` (1-based, within the value) ends with a space or tab.
    TrailingWhitespace {
        /// 1-based line within the value.
        line: usize,
    },
    /// Line `line` (1-based, within the value) is empty; a multi-line value
    /// cannot contain empty lines or end with LF.
    EmptyLine {
        /// 1-based line within the value.
        line: usize,
    },
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueProblem::ControlCharacter(c) => {
                write!(f, "contains control character U+{:04X}", u32::from(*c))
            }
            ValueProblem::LeadingWhitespace { line } => {
                write!(f, "line {line} of the value starts with whitespace")
            }
            ValueProblem::TrailingWhitespace { line } => {
                write!(f, "line {line} of the value ends with whitespace")
            }
            ValueProblem::EmptyLine { line } => write!(f, "line {line} of the value is empty"),
        }
    }
}

/// What is wrong with one line of a tag file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyntaxProblem {
    /// The file starts with a UTF-8 byte-order mark (RFC 8493 forbids it).
    ByteOrderMark,
    /// The line is empty or contains only whitespace.
    BlankLine,
    /// A manifest line has no whitespace between checksum and path.
    MissingSeparator,
    /// A manifest line has a checksum that is not 64 characters long.
    ChecksumLength {
        /// Length found, in characters.
        found: usize,
    },
    /// A manifest line has a checksum containing a non-hex character.
    ChecksumCharacter {
        /// The offending character.
        found: char,
    },
    /// A manifest line has a checksum but no path.
    MissingPath,
    /// A `%` in a manifest path is not followed by `25`, `0A` or `0D`.
    BadPercentEscape {
        /// The raw path as it appears in the file.
        raw: String,
    },
    /// A manifest path is unsafe or malformed.
    BadPath {
        /// The decoded path.
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// A tag line has no `:`.
    MissingColon,
    /// A tag line has an invalid label.
    BadLabel {
        /// The label as found.
        label: String,
        /// What is wrong with it.
        problem: LabelProblem,
    },
    /// A continuation line (starting with whitespace) appears before any field.
    ContinuationWithoutField,
    /// `bagit.txt` has a continuation line, which it may not.
    ContinuationNotAllowed,
    /// `bagit.txt` has a different label where a specific one is required.
    UnexpectedLabel {
        /// The label required at this line.
        expected: &'static str,
        /// The label found.
        found: String,
    },
    /// `bagit.txt` ends before a required line.
    MissingLine {
        /// The label of the missing line.
        expected: &'static str,
    },
    /// `bagit.txt` has more than its two lines.
    ExtraLine,
    /// `BagIt-Version` is not of the form `<digits>.<digits>`.
    BadVersion {
        /// The value found.
        value: String,
    },
    /// A required value is empty.
    EmptyValue,
}

impl fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxProblem::ByteOrderMark => f.write_str("file starts with a byte-order mark"),
            SyntaxProblem::BlankLine => f.write_str("blank line"),
            SyntaxProblem::MissingSeparator => {
                f.write_str("no whitespace between checksum and path")
            }
            SyntaxProblem::ChecksumLength { found } => {
                write!(f, "checksum has {found} characters, SHA-256 needs 64")
            }
            SyntaxProblem::ChecksumCharacter { found } => {
                write!(f, "checksum contains non-hex character {found:?}")
            }
            SyntaxProblem::MissingPath => f.write_str("checksum is not followed by a path"),
            SyntaxProblem::BadPercentEscape { raw } => write!(
                f,
                "path {raw:?} has a '%' not followed by 25, 0A or 0D (a literal '%' must be written %25)"
            ),
            SyntaxProblem::BadPath { path, problem } => write!(f, "path {path:?}: {problem}"),
            SyntaxProblem::MissingColon => f.write_str("line has no ':' separating label and value"),
            SyntaxProblem::BadLabel { label, problem } => {
                write!(f, "invalid label {label:?}: {problem}")
            }
            SyntaxProblem::ContinuationWithoutField => {
                f.write_str("continuation line (starting with whitespace) before any field")
            }
            SyntaxProblem::ContinuationNotAllowed => {
                f.write_str("continuation lines are not allowed in this file")
            }
            SyntaxProblem::UnexpectedLabel { expected, found } => {
                write!(f, "expected label {expected:?}, found {found:?}")
            }
            SyntaxProblem::MissingLine { expected } => {
                write!(f, "missing required line {expected:?}")
            }
            SyntaxProblem::ExtraLine => f.write_str("unexpected extra line"),
            SyntaxProblem::BadVersion { value } => {
                write!(f, "version {value:?} is not of the form M.N")
            }
            SyntaxProblem::EmptyValue => f.write_str("value is empty"),
        }
    }
}

/// Everything that can go wrong writing or parsing BagIt text.
///
/// Writer errors name the offending input by its 0-based index; parser errors
/// name the file and the 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BagItError {
    /// A bag-info label is invalid.
    #[error("bag-info.txt field #{index}: invalid label {label:?}: {problem}")]
    InvalidLabel {
        /// 0-based index into `BagInfo::fields`.
        index: usize,
        /// The label given.
        label: String,
        /// What is wrong with it.
        problem: LabelProblem,
    },
    /// A bag-info label is one the writer adds itself.
    #[error("bag-info.txt field #{index}: label {label:?} is reserved; the writer adds it")]
    ReservedLabel {
        /// 0-based index into `BagInfo::fields`.
        index: usize,
        /// The label given.
        label: String,
    },
    /// A bag-info value cannot be written losslessly.
    #[error("bag-info.txt field #{index} ({label}): value {problem}")]
    InvalidValue {
        /// 0-based index into `BagInfo::fields`.
        index: usize,
        /// The field's label.
        label: String,
        /// What is wrong with the value.
        problem: ValueProblem,
    },
    /// A payload path is invalid.
    #[error("manifest-sha256.txt payload entry #{index}: {path:?}: {problem}")]
    InvalidPayloadPath {
        /// 0-based index into the payload slice.
        index: usize,
        /// The path given.
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// Two payload entries have the same path.
    #[error("manifest-sha256.txt payload entries #{first} and #{second} share the path {path:?}")]
    DuplicatePayloadPath {
        /// 0-based index of one entry.
        first: usize,
        /// 0-based index of the other entry.
        second: usize,
        /// The shared path.
        path: String,
    },
    /// The payload sizes add up to more than `u64::MAX` bytes.
    #[error("bag-info.txt Payload-Oxum: payload sizes overflow 64 bits")]
    PayloadSizeOverflow,
    /// The bagging date cannot be written as `YYYY-MM-DD`.
    #[error("bag-info.txt Bagging-Date: {date} is outside years 0000-9999")]
    InvalidBaggingDate {
        /// The date given.
        date: String,
    },
    /// A tag file name given to [`tag_manifest`] is invalid.
    #[error("tagmanifest-sha256.txt tag file #{index}: {name:?}: {problem}")]
    InvalidTagFileName {
        /// 0-based index into the tag file slice.
        index: usize,
        /// The name given.
        name: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// Two tag files given to [`tag_manifest`] share a name.
    #[error("tagmanifest-sha256.txt tag files #{first} and #{second} share the name {name:?}")]
    DuplicateTagFile {
        /// 0-based index of one entry.
        first: usize,
        /// 0-based index of the other entry.
        second: usize,
        /// The shared name.
        name: String,
    },
    /// A line of a tag file is malformed.
    #[error("{file} line {line}: {problem}")]
    Syntax {
        /// The file being parsed.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: SyntaxProblem,
    },
    /// A manifest lists the same (decoded) path twice.
    #[error("{file} line {line}: path {path:?} already listed on line {first_line}")]
    DuplicateManifestPath {
        /// The manifest being parsed.
        file: &'static str,
        /// 1-based line of the repeat.
        line: usize,
        /// 1-based line of the first listing.
        first_line: usize,
        /// The decoded path.
        path: String,
    },
    /// A `Payload-Oxum` value is malformed.
    #[error("bag-info.txt Payload-Oxum {value:?}: {problem}")]
    InvalidPayloadOxum {
        /// The value given.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

/// Writes `bagit.txt`, `bag-info.txt` and `manifest-sha256.txt` for a payload.
///
/// `bag-info.txt` holds `info.fields` in order, then
/// `Payload-Oxum: <total bytes>.<file count>`, then `Bagging-Date: YYYY-MM-DD`.
/// The manifest holds one `<hex>  <path>` line per entry, sorted by the byte
/// order of the unencoded path, with `%`, CR and LF percent-encoded.
///
/// # Errors
/// Invalid or reserved labels, values that cannot be folded losslessly,
/// invalid or duplicate payload paths, a size total over `u64::MAX`, or a date
/// outside years 0000–9999.
pub fn write_bag_text(
    payload: &[PayloadEntry],
    info: &BagInfo,
    bagging_date: time::Date,
) -> Result<BagText, BagItError> {
    let date = format_date(bagging_date)?;

    let mut bag_info_txt = String::new();
    for (index, (label, value)) in info.fields.iter().enumerate() {
        check_label(label).map_err(|problem| BagItError::InvalidLabel {
            index,
            label: label.clone(),
            problem,
        })?;
        if RESERVED_LABELS
            .iter()
            .any(|reserved| reserved.eq_ignore_ascii_case(label))
        {
            return Err(BagItError::ReservedLabel {
                index,
                label: label.clone(),
            });
        }
        check_value(value).map_err(|problem| BagItError::InvalidValue {
            index,
            label: label.clone(),
            problem,
        })?;
        push_field(&mut bag_info_txt, label, value);
    }

    for (index, entry) in payload.iter().enumerate() {
        check_payload_path(&entry.path).map_err(|problem| BagItError::InvalidPayloadPath {
            index,
            path: entry.path.clone(),
            problem,
        })?;
    }
    let mut order: Vec<usize> = (0..payload.len()).collect();
    order.sort_by(|&a, &b| payload[a].path.as_bytes().cmp(payload[b].path.as_bytes()));
    for pair in order.windows(2) {
        if let [a, b] = *pair {
            if payload[a].path == payload[b].path {
                let (first, second) = (a.min(b), a.max(b));
                return Err(BagItError::DuplicatePayloadPath {
                    first,
                    second,
                    path: payload[a].path.clone(),
                });
            }
        }
    }

    let mut octets: u64 = 0;
    let mut manifest = String::new();
    for &i in &order {
        let entry = &payload[i];
        octets = octets
            .checked_add(entry.size)
            .ok_or(BagItError::PayloadSizeOverflow)?;
        push_manifest_line(&mut manifest, &entry.sha256, &entry.path);
    }

    push_field(
        &mut bag_info_txt,
        "Payload-Oxum",
        &format!("{octets}.{}", payload.len()),
    );
    push_field(&mut bag_info_txt, "Bagging-Date", &date);

    Ok(BagText {
        bagit_txt: BAGIT_TXT.to_owned(),
        bag_info_txt,
        manifest_sha256_txt: manifest,
    })
}

/// Writes `tagmanifest-sha256.txt` over the given tag files `(name, bytes)`.
///
/// Lines are `<hex>  <name>` sorted by the byte order of the name, with names
/// percent-encoded like manifest paths. The tag manifest should not list
/// itself; pass `bagit.txt`, `bag-info.txt`, `manifest-sha256.txt` and any
/// other tag files.
///
/// # Errors
/// A name that is not a safe relative path outside `data/`, or a name given
/// twice. (Deviation from the original infallible signature: a duplicate or
/// unsafe name would otherwise produce a bag that validators reject.)
pub fn tag_manifest(tag_files: &[(&str, &[u8])]) -> Result<String, BagItError> {
    for (index, (name, _)) in tag_files.iter().enumerate() {
        check_tag_path(name).map_err(|problem| BagItError::InvalidTagFileName {
            index,
            name: (*name).to_owned(),
            problem,
        })?;
    }
    let mut order: Vec<usize> = (0..tag_files.len()).collect();
    order.sort_by(|&a, &b| tag_files[a].0.as_bytes().cmp(tag_files[b].0.as_bytes()));
    for pair in order.windows(2) {
        if let [a, b] = *pair {
            if tag_files[a].0 == tag_files[b].0 {
                return Err(BagItError::DuplicateTagFile {
                    first: a.min(b),
                    second: a.max(b),
                    name: tag_files[a].0.to_owned(),
                });
            }
        }
    }
    let mut out = String::new();
    for &i in &order {
        let (name, bytes) = tag_files[i];
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        push_manifest_line(&mut out, &digest, name);
    }
    Ok(out)
}

/// Parses `manifest-sha256.txt` strictly.
///
/// Accepts LF, CRLF or CR line ends and upper- or lower-case hex; requires one
/// or more spaces/tabs between checksum and path. Returns `(decoded path,
/// digest)` in file order. Every path must be a safe relative path under
/// `data/`.
///
/// # Errors
/// A byte-order mark, a blank line, a checksum that is not 64 hex digits, a
/// bad `%` escape, an unsafe path (absolute, `..`, `.`, backslash, empty
/// component, NUL, not under `data/`) or a path listed twice; each names the
/// 1-based line.
pub fn parse_manifest(text: &str) -> Result<Vec<(String, [u8; 32])>, BagItError> {
    parse_manifest_file(MANIFEST_NAME, text, check_payload_path_parsed)
}

/// Parses `tagmanifest-sha256.txt` strictly.
///
/// Same rules as [`parse_manifest`], except that paths must lie *outside*
/// `data/`.
///
/// # Errors
/// As for [`parse_manifest`].
pub fn parse_tag_manifest(text: &str) -> Result<Vec<(String, [u8; 32])>, BagItError> {
    parse_manifest_file(TAG_MANIFEST_NAME, text, check_tag_path_parsed)
}

/// Parses `bag-info.txt` into ordered `(label, value)` pairs.
///
/// Continuation lines (starting with a space or tab) are unfolded: their
/// indentation is removed and they are joined to the value with LF, which
/// inverts the folding done by [`write_bag_text`]. Spaces and tabs around
/// each value line are trimmed. Repeated labels are kept in order.
///
/// # Errors
/// A byte-order mark, a blank line, a line without `:`, an invalid label (one
/// with whitespace, control characters, or empty), or a continuation line
/// before the first field; each names the 1-based line.
pub fn parse_bag_info(text: &str) -> Result<Vec<(String, String)>, BagItError> {
    let file = BAG_INFO_NAME;
    reject_bom(file, text)?;
    let mut fields: Vec<(String, String)> = Vec::new();
    for (line_no, line) in Lines::new(text) {
        let syntax = |problem| BagItError::Syntax {
            file,
            line: line_no,
            problem,
        };
        if line.trim_matches(is_lws).is_empty() {
            return Err(syntax(SyntaxProblem::BlankLine));
        }
        if line.starts_with(is_lws) {
            let Some((_, value)) = fields.last_mut() else {
                return Err(syntax(SyntaxProblem::ContinuationWithoutField));
            };
            value.push('\n');
            value.push_str(line.trim_matches(is_lws));
            continue;
        }
        let (label, value) = split_tag_line(line).map_err(syntax)?;
        fields.push((label.to_owned(), value.to_owned()));
    }
    Ok(fields)
}

/// Parses `bagit.txt`, returning `(version, encoding)`.
///
/// The file must consist of exactly the two lines `BagIt-Version: M.N` and
/// `Tag-File-Character-Encoding: ENCODING`, in that order (RFC 8493 §2.1.1),
/// with no byte-order mark. The caller decides which versions and encodings
/// it accepts.
///
/// # Errors
/// Missing, extra, reordered or folded lines, a byte-order mark, a malformed
/// version or an empty encoding; each names the 1-based line.
pub fn parse_bagit_txt(text: &str) -> Result<(String, String), BagItError> {
    let file = BAGIT_TXT_NAME;
    reject_bom(file, text)?;
    const EXPECTED: [&str; 2] = ["BagIt-Version", "Tag-File-Character-Encoding"];
    let mut values: Vec<String> = Vec::with_capacity(2);
    let mut last_line = 0;
    for (line_no, line) in Lines::new(text) {
        last_line = line_no;
        let syntax = |problem| BagItError::Syntax {
            file,
            line: line_no,
            problem,
        };
        let Some(expected) = EXPECTED.get(values.len()).copied() else {
            return Err(syntax(SyntaxProblem::ExtraLine));
        };
        if line.trim_matches(is_lws).is_empty() {
            return Err(syntax(SyntaxProblem::BlankLine));
        }
        if line.starts_with(is_lws) {
            return Err(syntax(SyntaxProblem::ContinuationNotAllowed));
        }
        let (label, value) = split_tag_line(line).map_err(syntax)?;
        if label != expected {
            return Err(syntax(SyntaxProblem::UnexpectedLabel {
                expected,
                found: label.to_owned(),
            }));
        }
        if value.is_empty() {
            return Err(syntax(SyntaxProblem::EmptyValue));
        }
        if values.is_empty() && !is_version(value) {
            return Err(syntax(SyntaxProblem::BadVersion {
                value: value.to_owned(),
            }));
        }
        values.push(value.to_owned());
    }
    match <[String; 2]>::try_from(values) {
        Ok([version, encoding]) => Ok((version, encoding)),
        Err(values) => Err(BagItError::Syntax {
            file,
            line: last_line + 1,
            problem: SyntaxProblem::MissingLine {
                expected: EXPECTED[values.len().min(1)],
            },
        }),
    }
}

/// Parses a `Payload-Oxum` value `<octets>.<file count>` into `(octets, count)`.
///
/// # Errors
/// Anything but two non-empty runs of ASCII digits separated by one `.`, or a
/// number over `u64::MAX`.
pub fn parse_payload_oxum(value: &str) -> Result<(u64, u64), BagItError> {
    let err = |problem| BagItError::InvalidPayloadOxum {
        value: value.to_owned(),
        problem,
    };
    let (octets, count) = value
        .split_once('.')
        .ok_or_else(|| err("expected <octets>.<count>"))?;
    let parse = |digits: &str| -> Result<u64, BagItError> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("both parts must be non-empty ASCII digits"));
        }
        digits
            .parse::<u64>()
            .map_err(|_| err("number does not fit in 64 bits"))
    };
    Ok((parse(octets)?, parse(count)?))
}

// ---------------------------------------------------------------------------
// Writing helpers

fn format_date(date: time::Date) -> Result<String, BagItError> {
    let invalid = || BagItError::InvalidBaggingDate {
        date: date.to_string(),
    };
    if !(0..=9999).contains(&date.year()) {
        return Err(invalid());
    }
    date.format(time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| invalid())
}

fn push_field(out: &mut String, label: &str, value: &str) {
    out.push_str(label);
    out.push_str(": ");
    let mut lines = value.split('\n');
    if let Some(first) = lines.next() {
        out.push_str(first);
    }
    for line in lines {
        out.push('\n');
        out.push_str(CONTINUATION_INDENT);
        out.push_str(line);
    }
    out.push('\n');
}

fn push_manifest_line(out: &mut String, digest: &[u8; 32], path: &str) {
    out.push_str(&hex::encode(digest));
    out.push_str("  ");
    for c in path.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c => out.push(c),
        }
    }
    out.push('\n');
}

fn check_label(label: &str) -> Result<(), LabelProblem> {
    if label.is_empty() {
        return Err(LabelProblem::Empty);
    }
    for c in label.chars() {
        if c == ':' {
            return Err(LabelProblem::Colon);
        }
        if c.is_control() {
            return Err(LabelProblem::ControlCharacter);
        }
        if c.is_whitespace() {
            return Err(LabelProblem::Whitespace);
        }
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), ValueProblem> {
    if let Some(c) = value
        .chars()
        .find(|&c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValueProblem::ControlCharacter(c));
    }
    if value.is_empty() {
        return Ok(());
    }
    for (i, line) in value.split('\n').enumerate() {
        let line_no = i + 1;
        if line.is_empty() {
            return Err(ValueProblem::EmptyLine { line: line_no });
        }
        if line.starts_with(is_lws) {
            return Err(ValueProblem::LeadingWhitespace { line: line_no });
        }
        if line.ends_with(is_lws) {
            return Err(ValueProblem::TrailingWhitespace { line: line_no });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Paths

fn check_relative_path(path: &str) -> Result<(), PathProblem> {
    check_chars(path, Forbidden::Nul)?;
    check_components(path)
}

fn check_payload_path_parsed(path: &str) -> Result<(), PathProblem> {
    check_relative_path(path)?;
    if !path.starts_with("data/") {
        return Err(PathProblem::NotUnderData);
    }
    Ok(())
}

fn check_tag_path_parsed(path: &str) -> Result<(), PathProblem> {
    check_relative_path(path)?;
    if path == "data" || path.starts_with("data/") {
        return Err(PathProblem::UnderData);
    }
    Ok(())
}

fn check_payload_path(path: &str) -> Result<(), PathProblem> {
    check_payload_path_parsed(path)?;
    if path.ends_with(char::is_whitespace) {
        return Err(PathProblem::TrailingWhitespace);
    }
    Ok(())
}

fn check_tag_path(path: &str) -> Result<(), PathProblem> {
    check_tag_path_parsed(path)?;
    if path.ends_with(char::is_whitespace) {
        return Err(PathProblem::TrailingWhitespace);
    }
    Ok(())
}

/// Decodes `%25`, `%0A`/`%0a` and `%0D`/`%0d`; any other `%` is an error.
fn decode_path(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let escape = rest.get(pos + 1..pos + 3)?;
        let decoded = match escape.to_ascii_uppercase().as_str() {
            "25" => '%',
            "0A" => '\n',
            "0D" => '\r',
            _ => return None,
        };
        out.push(decoded);
        rest = &rest[pos + 3..];
    }
    out.push_str(rest);
    Some(out)
}

// ---------------------------------------------------------------------------
// Parsing helpers

/// Linear whitespace as the RFC uses it: space or tab.
fn is_lws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn reject_bom(file: &'static str, text: &str) -> Result<(), BagItError> {
    if text.starts_with('\u{feff}') {
        return Err(BagItError::Syntax {
            file,
            line: 1,
            problem: SyntaxProblem::ByteOrderMark,
        });
    }
    Ok(())
}

/// Splits `Label: value`, validating the label and trimming the value.
fn split_tag_line(line: &str) -> Result<(&str, &str), SyntaxProblem> {
    let (label, value) = line.split_once(':').ok_or(SyntaxProblem::MissingColon)?;
    check_label(label).map_err(|problem| SyntaxProblem::BadLabel {
        label: label.to_owned(),
        problem,
    })?;
    Ok((label, value.trim_matches(is_lws)))
}

fn is_version(value: &str) -> bool {
    match value.split_once('.') {
        Some((major, minor)) => [major, minor]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

fn parse_manifest_file(
    file: &'static str,
    text: &str,
    check: fn(&str) -> Result<(), PathProblem>,
) -> Result<Vec<(String, [u8; 32])>, BagItError> {
    reject_bom(file, text)?;
    let mut entries: Vec<(String, [u8; 32])> = Vec::new();
    let mut first_seen: HashMap<String, usize> = HashMap::new();
    for (line_no, line) in Lines::new(text) {
        let syntax = |problem| BagItError::Syntax {
            file,
            line: line_no,
            problem,
        };
        if line.trim_matches(is_lws).is_empty() {
            return Err(syntax(SyntaxProblem::BlankLine));
        }
        let (checksum, rest) = line
            .split_once(is_lws)
            .ok_or_else(|| syntax(SyntaxProblem::MissingSeparator))?;
        let digest = parse_digest(checksum).map_err(syntax)?;
        let raw_path = rest.trim_start_matches(is_lws);
        if raw_path.is_empty() {
            return Err(syntax(SyntaxProblem::MissingPath));
        }
        let path = decode_path(raw_path).ok_or_else(|| {
            syntax(SyntaxProblem::BadPercentEscape {
                raw: raw_path.to_owned(),
            })
        })?;
        check(&path).map_err(|problem| {
            syntax(SyntaxProblem::BadPath {
                path: path.clone(),
                problem,
            })
        })?;
        if let Some(&first_line) = first_seen.get(&path) {
            return Err(BagItError::DuplicateManifestPath {
                file,
                line: line_no,
                first_line,
                path,
            });
        }
        first_seen.insert(path.clone(), line_no);
        entries.push((path, digest));
    }
    Ok(entries)
}

fn parse_digest(checksum: &str) -> Result<[u8; 32], SyntaxProblem> {
    if let Some(found) = checksum.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(SyntaxProblem::ChecksumCharacter { found });
    }
    let mut digest = [0u8; 32];
    hex::decode_to_slice(checksum, &mut digest).map_err(|_| SyntaxProblem::ChecksumLength {
        found: checksum.chars().count(),
    })?;
    Ok(digest)
}

/// Iterates over lines ended by LF, CRLF or CR (RFC 8493 allows all three),
/// yielding `(1-based line number, line without terminator)`. A terminator at
/// the very end does not start an extra empty line.
struct Lines<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a str) -> Self {
        Lines {
            rest: text,
            line: 0,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        self.line += 1;
        let (line, rest) = match self.rest.find(['\n', '\r']) {
            Some(end) => {
                let terminator = if self.rest[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                (&self.rest[..end], &self.rest[end + terminator..])
            }
            None => (self.rest, ""),
        };
        self.rest = rest;
        Some((self.line, line))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use time::macros::date;

    fn digest_of(bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(bytes).into()
    }

    fn entry(path: &str, content: &[u8]) -> PayloadEntry {
        PayloadEntry {
            path: path.to_owned(),
            size: content.len() as u64,
            sha256: digest_of(content),
        }
    }

    fn info(fields: &[(&str, &str)]) -> BagInfo {
        BagInfo {
            fields: fields
                .iter()
                .map(|(l, v)| ((*l).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn syntax_problem(err: BagItError) -> (usize, SyntaxProblem) {
        match err {
            BagItError::Syntax { line, problem, .. } => (line, problem),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    const HELLO_SHA: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn writes_the_three_tag_files() {
        let payload = vec![
            entry("data/z.txt", b"zz"),
            entry("data/a/hello.txt", b"hello"),
            entry("data/a-b.txt", b""),
        ];
        let text = write_bag_text(
            &payload,
            &info(&[
                ("Source-Organization", "Custodia"),
                ("Contact-Name", "Clerk"),
            ]),
            date!(2024 - 03 - 07),
        )
        .unwrap();
        assert_eq!(
            text.bagit_txt,
            "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
        );
        assert_eq!(
            text.bag_info_txt,
            "Source-Organization: Custodia\nContact-Name: Clerk\n\
             Payload-Oxum: 7.3\nBagging-Date: 2024-03-07\n"
        );
        let lines: Vec<&str> = text.manifest_sha256_txt.lines().collect();
        // Byte order: "data/a-b.txt" < "data/a/hello.txt" ('-' < '/') < "data/z.txt".
        assert_eq!(
            lines,
            vec![
                format!("{}  data/a-b.txt", hex::encode(digest_of(b""))),
                format!("{HELLO_SHA}  data/a/hello.txt"),
                format!("{}  data/z.txt", hex::encode(digest_of(b"zz"))),
            ]
        );
        assert!(text.manifest_sha256_txt.ends_with('\n'));
    }

    #[test]
    fn empty_payload_is_allowed() {
        let text = write_bag_text(&[], &BagInfo::default(), date!(2000 - 01 - 01)).unwrap();
        assert_eq!(text.manifest_sha256_txt, "");
        assert_eq!(
            text.bag_info_txt,
            "Payload-Oxum: 0.0\nBagging-Date: 2000-01-01\n"
        );
    }

    #[test]
    fn output_round_trips_through_the_parsers() {
        let payload = vec![entry("data/b", b"b"), entry("data/a", b"a")];
        let fields = [
            ("External-Description", "Line one\nline two\tinner tab"),
            ("Empty", ""),
            ("Repeated", "1"),
            ("Repeated", "2"),
        ];
        let text = write_bag_text(&payload, &info(&fields), date!(2025 - 12 - 31)).unwrap();
        assert_eq!(
            parse_bagit_txt(&text.bagit_txt).unwrap(),
            ("1.0".to_owned(), "UTF-8".to_owned())
        );
        let parsed = parse_bag_info(&text.bag_info_txt).unwrap();
        let mut expected: Vec<(String, String)> = fields
            .iter()
            .map(|(l, v)| ((*l).to_owned(), (*v).to_owned()))
            .collect();
        expected.push(("Payload-Oxum".into(), "2.2".into()));
        expected.push(("Bagging-Date".into(), "2025-12-31".into()));
        assert_eq!(parsed, expected);
        let manifest = parse_manifest(&text.manifest_sha256_txt).unwrap();
        assert_eq!(
            manifest,
            vec![
                ("data/a".to_owned(), digest_of(b"a")),
                ("data/b".to_owned(), digest_of(b"b"))
            ]
        );
        let oxum = &parsed[parsed.len() - 2].1;
        assert_eq!(parse_payload_oxum(oxum).unwrap(), (2, 2));
    }

    #[test]
    fn folds_multiline_values_with_indented_continuations() {
        let text = write_bag_text(
            &[],
            &info(&[("Internal-Sender-Description", "first\nsecond\nthird")]),
            date!(2024 - 01 - 01),
        )
        .unwrap();
        assert!(text
            .bag_info_txt
            .starts_with("Internal-Sender-Description: first\n  second\n  third\n"));
    }

    #[test]
    fn rejects_bad_labels() {
        let cases = [
            ("", LabelProblem::Empty),
            ("Has:Colon", LabelProblem::Colon),
            ("Has Space", LabelProblem::Whitespace),
            ("Tab\tLabel", LabelProblem::ControlCharacter),
            ("Bell\u{7}", LabelProblem::ControlCharacter),
            ("No\u{a0}Break", LabelProblem::Whitespace),
        ];
        for (label, want) in cases {
            let err = write_bag_text(
                &[],
                &info(&[("Ok", "v"), (label, "v")]),
                date!(2024 - 01 - 01),
            )
            .unwrap_err();
            assert_eq!(
                err,
                BagItError::InvalidLabel {
                    index: 1,
                    label: label.to_owned(),
                    problem: want
                },
                "label {label:?}"
            );
        }
    }

    #[test]
    fn rejects_reserved_labels_case_insensitively() {
        for label in ["Payload-Oxum", "bagging-date", "PAYLOAD-OXUM"] {
            let err =
                write_bag_text(&[], &info(&[(label, "1.1")]), date!(2024 - 01 - 01)).unwrap_err();
            assert!(
                matches!(err, BagItError::ReservedLabel { index: 0, .. }),
                "{err:?}"
            );
        }
    }

    #[test]
    fn rejects_values_that_cannot_round_trip() {
        let cases = [
            ("a\r\nb", ValueProblem::ControlCharacter('\r')),
            ("nul\0", ValueProblem::ControlCharacter('\0')),
            (" lead", ValueProblem::LeadingWhitespace { line: 1 }),
            ("trail ", ValueProblem::TrailingWhitespace { line: 1 }),
            ("a\n  indented", ValueProblem::LeadingWhitespace { line: 2 }),
            ("a\n\nb", ValueProblem::EmptyLine { line: 2 }),
            ("ends\n", ValueProblem::EmptyLine { line: 2 }),
        ];
        for (value, want) in cases {
            let err =
                write_bag_text(&[], &info(&[("Label", value)]), date!(2024 - 01 - 01)).unwrap_err();
            assert_eq!(
                err,
                BagItError::InvalidValue {
                    index: 0,
                    label: "Label".into(),
                    problem: want
                },
                "value {value:?}"
            );
        }
    }

    #[test]
    fn percent_encodes_percent_cr_and_lf_in_paths() {
        let payload = vec![entry("data/100%\r\nx.txt", b"hello")];
        let text = write_bag_text(&payload, &BagInfo::default(), date!(2024 - 01 - 01)).unwrap();
        assert_eq!(
            text.manifest_sha256_txt,
            format!("{HELLO_SHA}  data/100%25%0D%0Ax.txt\n")
        );
        let parsed = parse_manifest(&text.manifest_sha256_txt).unwrap();
        assert_eq!(parsed[0].0, "data/100%\r\nx.txt");
    }

    #[test]
    fn rejects_bad_payload_paths() {
        let cases = [
            ("", PathProblem::Empty),
            ("payload/x", PathProblem::NotUnderData),
            ("data", PathProblem::NotUnderData),
            ("data/", PathProblem::EmptyComponent),
            ("/data/x", PathProblem::Absolute),
            ("data/../x", PathProblem::ParentComponent),
            ("data/./x", PathProblem::CurrentComponent),
            ("data//x", PathProblem::EmptyComponent),
            ("data/x/", PathProblem::EmptyComponent),
            ("data\\x", PathProblem::Backslash),
            ("data/a\0b", PathProblem::Nul),
            ("data/x ", PathProblem::TrailingWhitespace),
        ];
        for (path, want) in cases {
            let err = write_bag_text(
                &[entry("data/ok", b""), entry(path, b"")],
                &BagInfo::default(),
                date!(2024 - 01 - 01),
            )
            .unwrap_err();
            assert_eq!(
                err,
                BagItError::InvalidPayloadPath {
                    index: 1,
                    path: path.to_owned(),
                    problem: want
                },
                "path {path:?}"
            );
        }
    }

    #[test]
    fn rejects_duplicate_payload_paths() {
        let payload = vec![
            entry("data/a", b"1"),
            entry("data/b", b""),
            entry("data/a", b"2"),
        ];
        let err = write_bag_text(&payload, &BagInfo::default(), date!(2024 - 01 - 01)).unwrap_err();
        assert_eq!(
            err,
            BagItError::DuplicatePayloadPath {
                first: 0,
                second: 2,
                path: "data/a".into()
            }
        );
    }

    #[test]
    fn rejects_oxum_overflow_and_bad_dates() {
        let mut a = entry("data/a", b"");
        a.size = u64::MAX;
        let mut b = entry("data/b", b"");
        b.size = 1;
        let err = write_bag_text(&[a, b], &BagInfo::default(), date!(2024 - 01 - 01)).unwrap_err();
        assert_eq!(err, BagItError::PayloadSizeOverflow);

        let err = write_bag_text(&[], &BagInfo::default(), date!(-0001 - 01 - 01)).unwrap_err();
        assert!(
            matches!(err, BagItError::InvalidBaggingDate { .. }),
            "{err:?}"
        );
        let text = write_bag_text(&[], &BagInfo::default(), date!(0042 - 02 - 03)).unwrap();
        assert!(text.bag_info_txt.ends_with("Bagging-Date: 0042-02-03\n"));
    }

    #[test]
    fn tag_manifest_is_sorted_and_hashed() {
        let out = tag_manifest(&[
            ("manifest-sha256.txt", b"m"),
            ("bagit.txt", b"hello"),
            ("bag-info.txt", b""),
        ])
        .unwrap();
        assert_eq!(
            out,
            format!(
                "{}  bag-info.txt\n{HELLO_SHA}  bagit.txt\n{}  manifest-sha256.txt\n",
                hex::encode(digest_of(b"")),
                hex::encode(digest_of(b"m"))
            )
        );
        assert_eq!(parse_tag_manifest(&out).unwrap().len(), 3);
    }

    #[test]
    fn tag_manifest_rejects_duplicates_and_bad_names() {
        let err =
            tag_manifest(&[("bagit.txt", b"a"), ("x.txt", b""), ("bagit.txt", b"b")]).unwrap_err();
        assert_eq!(
            err,
            BagItError::DuplicateTagFile {
                first: 0,
                second: 2,
                name: "bagit.txt".into()
            }
        );
        for (name, want) in [
            ("data/x", PathProblem::UnderData),
            ("../x", PathProblem::ParentComponent),
            ("/x", PathProblem::Absolute),
            ("", PathProblem::Empty),
        ] {
            let err = tag_manifest(&[(name, b"")]).unwrap_err();
            assert_eq!(
                err,
                BagItError::InvalidTagFileName {
                    index: 0,
                    name: name.into(),
                    problem: want
                }
            );
        }
    }

    #[test]
    fn parse_manifest_accepts_variants_the_rfc_allows() {
        let upper = HELLO_SHA.to_ascii_uppercase();
        let text = format!(
            "{upper}\tdata/tab sep\r\n{HELLO_SHA}    data/many spaces\r{HELLO_SHA}  data/%0a%0d%25 lower"
        );
        let parsed = parse_manifest(&text).unwrap();
        let paths: Vec<&str> = parsed.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            ["data/tab sep", "data/many spaces", "data/\n\r% lower"]
        );
        assert!(parsed.iter().all(|(_, d)| *d == digest_of(b"hello")));
        assert_eq!(parse_manifest("").unwrap(), vec![]);
    }

    #[test]
    fn parse_manifest_reports_line_numbers_and_problems() {
        let good = format!("{HELLO_SHA}  data/ok\n");
        let cases: Vec<(String, SyntaxProblem)> = vec![
            (
                format!("{HELLO_SHA}data/x"),
                SyntaxProblem::MissingSeparator,
            ),
            (
                format!("{}  data/x", &HELLO_SHA[..63]),
                SyntaxProblem::ChecksumLength { found: 63 },
            ),
            (
                format!("{HELLO_SHA}0  data/x"),
                SyntaxProblem::ChecksumLength { found: 65 },
            ),
            (
                format!("{}g  data/x", &HELLO_SHA[..63]),
                SyntaxProblem::ChecksumCharacter { found: 'g' },
            ),
            (HELLO_SHA.to_owned(), SyntaxProblem::MissingSeparator),
            (format!("{HELLO_SHA}  "), SyntaxProblem::MissingPath),
            ("   ".to_owned(), SyntaxProblem::BlankLine),
            (String::new(), SyntaxProblem::BlankLine),
            (
                format!("{HELLO_SHA}  data/100%.txt"),
                SyntaxProblem::BadPercentEscape {
                    raw: "data/100%.txt".into(),
                },
            ),
            (
                format!("{HELLO_SHA}  data/%2F"),
                SyntaxProblem::BadPercentEscape {
                    raw: "data/%2F".into(),
                },
            ),
            (
                format!("{HELLO_SHA}  data/../../etc/passwd"),
                SyntaxProblem::BadPath {
                    path: "data/../../etc/passwd".into(),
                    problem: PathProblem::ParentComponent,
                },
            ),
            (
                format!("{HELLO_SHA}  /etc/passwd"),
                SyntaxProblem::BadPath {
                    path: "/etc/passwd".into(),
                    problem: PathProblem::Absolute,
                },
            ),
            (
                format!("{HELLO_SHA}  data\\x"),
                SyntaxProblem::BadPath {
                    path: "data\\x".into(),
                    problem: PathProblem::Backslash,
                },
            ),
            (
                format!("{HELLO_SHA}  data//x"),
                SyntaxProblem::BadPath {
                    path: "data//x".into(),
                    problem: PathProblem::EmptyComponent,
                },
            ),
            (
                format!("{HELLO_SHA}  bagit.txt"),
                SyntaxProblem::BadPath {
                    path: "bagit.txt".into(),
                    problem: PathProblem::NotUnderData,
                },
            ),
            (
                format!("{HELLO_SHA}  *data/x"),
                SyntaxProblem::BadPath {
                    path: "*data/x".into(),
                    problem: PathProblem::NotUnderData,
                },
            ),
        ];
        for (bad, want) in cases {
            let text = format!("{good}{bad}\n{good}");
            let (line, problem) = syntax_problem(parse_manifest(&text).unwrap_err());
            assert_eq!((line, problem), (2, want), "line {bad:?}");
        }
    }

    #[test]
    fn parse_manifest_rejects_duplicates_and_bom() {
        let text = format!("{HELLO_SHA}  data/a\n{HELLO_SHA}  data/b\n{HELLO_SHA}  data/%25\n{HELLO_SHA}  data/a\n");
        assert_eq!(
            parse_manifest(&text).unwrap_err(),
            BagItError::DuplicateManifestPath {
                file: MANIFEST_NAME,
                line: 4,
                first_line: 1,
                path: "data/a".into()
            }
        );
        // Different encodings of the same decoded path are duplicates too.
        let text = format!("{HELLO_SHA}  data/%0A\n{HELLO_SHA}  data/%0a\n");
        assert!(matches!(
            parse_manifest(&text).unwrap_err(),
            BagItError::DuplicateManifestPath { line: 2, .. }
        ));
        let text = format!("\u{feff}{HELLO_SHA}  data/a\n");
        assert_eq!(
            syntax_problem(parse_manifest(&text).unwrap_err()),
            (1, SyntaxProblem::ByteOrderMark)
        );
        let err = parse_tag_manifest(&format!("{HELLO_SHA}  data/a\n")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("tagmanifest-sha256.txt line 1:"),
            "{err}"
        );
    }

    #[test]
    fn parse_bag_info_unfolds_and_reports_errors() {
        let text = "A: one\n  two\n\tthree  \nB:no-space\r\nC:   \nD: x: y\r";
        assert_eq!(
            parse_bag_info(text).unwrap(),
            vec![
                ("A".to_owned(), "one\ntwo\nthree".to_owned()),
                ("B".to_owned(), "no-space".to_owned()),
                ("C".to_owned(), String::new()),
                ("D".to_owned(), "x: y".to_owned()),
            ]
        );
        let cases = [
            ("A: 1\n\nB: 2\n", 2, SyntaxProblem::BlankLine),
            ("A: 1\n  \n", 2, SyntaxProblem::BlankLine),
            ("  folded\n", 1, SyntaxProblem::ContinuationWithoutField),
            ("A: 1\nno colon\n", 2, SyntaxProblem::MissingColon),
            (
                "A: 1\nB c: 2\n",
                2,
                SyntaxProblem::BadLabel {
                    label: "B c".into(),
                    problem: LabelProblem::Whitespace,
                },
            ),
            (
                ": 2\n",
                1,
                SyntaxProblem::BadLabel {
                    label: String::new(),
                    problem: LabelProblem::Empty,
                },
            ),
            ("\u{feff}A: 1\n", 1, SyntaxProblem::ByteOrderMark),
        ];
        for (text, line, want) in cases {
            assert_eq!(
                syntax_problem(parse_bag_info(text).unwrap_err()),
                (line, want),
                "text {text:?}"
            );
        }
    }

    #[test]
    fn parse_bagit_txt_is_strict() {
        assert_eq!(
            parse_bagit_txt("BagIt-Version: 0.97\r\nTag-File-Character-Encoding: UTF-8").unwrap(),
            ("0.97".to_owned(), "UTF-8".to_owned())
        );
        let cases = [
            (
                "",
                1,
                SyntaxProblem::MissingLine {
                    expected: "BagIt-Version",
                },
            ),
            (
                "BagIt-Version: 1.0\n",
                2,
                SyntaxProblem::MissingLine {
                    expected: "Tag-File-Character-Encoding",
                },
            ),
            (
                "Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n",
                1,
                SyntaxProblem::UnexpectedLabel {
                    expected: "BagIt-Version",
                    found: "Tag-File-Character-Encoding".into(),
                },
            ),
            (
                "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\nExtra: x\n",
                3,
                SyntaxProblem::ExtraLine,
            ),
            (
                "BagIt-Version: 1\nTag-File-Character-Encoding: UTF-8\n",
                1,
                SyntaxProblem::BadVersion { value: "1".into() },
            ),
            (
                "BagIt-Version: 1.0\nTag-File-Character-Encoding:\n",
                2,
                SyntaxProblem::EmptyValue,
            ),
            (
                "BagIt-Version: 1.0\n  more\n",
                2,
                SyntaxProblem::ContinuationNotAllowed,
            ),
            (
                "\u{feff}BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
                1,
                SyntaxProblem::ByteOrderMark,
            ),
        ];
        for (text, line, want) in cases {
            assert_eq!(
                syntax_problem(parse_bagit_txt(text).unwrap_err()),
                (line, want),
                "text {text:?}"
            );
        }
    }

    #[test]
    fn parse_payload_oxum_cases() {
        assert_eq!(parse_payload_oxum("0.0").unwrap(), (0, 0));
        assert_eq!(
            parse_payload_oxum("18446744073709551615.7").unwrap(),
            (u64::MAX, 7)
        );
        for bad in [
            "",
            "1",
            "1.",
            ".1",
            "1.2.3",
            "-1.2",
            "+1.2",
            " 1.2",
            "1.2 ",
            "a.b",
            "1,2",
            "18446744073709551616.1",
        ] {
            assert!(
                matches!(
                    parse_payload_oxum(bad),
                    Err(BagItError::InvalidPayloadOxum { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn error_messages_name_file_and_line() {
        let err = parse_manifest(&format!("{HELLO_SHA}  data/a\nabc  data/b\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "manifest-sha256.txt line 2: checksum has 3 characters, SHA-256 needs 64"
        );
        let err = parse_bag_info("A: 1\nB\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "bag-info.txt line 2: line has no ':' separating label and value"
        );
    }
}
