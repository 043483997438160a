//! `statement import`: JSON Lines or CSV, one statement a row, with the
//! fields of `statement add` (`case`, `witness`, `pseudonym`, `protected`,
//! `language`, `taken_at`, `place`, `interviewer`, `interpreter`, `consent`,
//! `source`) plus `body`. Every row is checked before any is written; the
//! first bad row is reported by number and nothing is written.

use std::collections::HashMap;
use std::io::Read;

use serde::Deserialize;

use super::case::all_cases;
use super::statement::{check_body, insert_statement, NewStatement, StatementFields};
use crate::error::{Error, Invalid, Result};
use crate::format::Id;
use crate::vault::{Unlocked, Vault};

/// Largest import file accepted.
pub const MAX_IMPORT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// One JSON object per line.
    JsonLines,
    /// A header row, then one statement per row.
    Csv,
}

impl ImportFormat {
    /// Guesses from the file name, then from the first byte.
    pub(crate) fn detect(name: &str, head: &[u8]) -> ImportFormat {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            return ImportFormat::Csv;
        }
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
            return ImportFormat::JsonLines;
        }
        let first = head
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF);
        if first == Some(b'{') {
            ImportFormat::JsonLines
        } else {
            ImportFormat::Csv
        }
    }
}

/// The columns (CSV header names, or JSON Lines keys) an import accepts,
/// named as `statement add`'s long options with `_` for `-`, plus `body`.
pub const COLUMNS: &[&str] = &[
    "case",
    "witness",
    "body",
    "pseudonym",
    "protected",
    "language",
    "taken_at",
    "place",
    "interviewer",
    "interpreter",
    "consent",
    "source",
];

/// The columns every row must have.
pub const REQUIRED_COLUMNS: &[&str] = &["case", "witness", "body"];

/// Checks column names before any row is read: an unknown one, or a
/// required one missing, is said in plain words with the accepted list.
fn check_columns<'a>(names: impl IntoIterator<Item = &'a str>, row: Option<usize>) -> Result<()> {
    let names: Vec<&str> = names.into_iter().map(str::trim).collect();
    let place = match row {
        Some(n) => format!("row {n}: "),
        None => String::new(),
    };
    let accepted = format!(
        "the columns are {} (required) and {} (optional)",
        REQUIRED_COLUMNS.join(", "),
        COLUMNS
            .iter()
            .filter(|c| !REQUIRED_COLUMNS.contains(c))
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(bad) = names.iter().find(|n| !COLUMNS.contains(n)) {
        let shown: String = bad.chars().take(40).collect();
        return Err(Error::Invalid(Invalid::ImportFile {
            problem: format!(
                "{place}the column {shown:?} is not one this import knows; {accepted}; \
                 nothing was imported"
            ),
        }));
    }
    if let Some(missing) = REQUIRED_COLUMNS.iter().find(|c| !names.contains(c)) {
        return Err(Error::Invalid(Invalid::ImportFile {
            problem: format!(
                "{place}the column {missing:?} is missing; {accepted}; nothing was imported"
            ),
        }));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    case: String,
    witness: String,
    #[serde(default)]
    pseudonym: Option<String>,
    #[serde(default, deserialize_with = "flexible_bool")]
    protected: bool,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    taken_at: Option<String>,
    #[serde(default)]
    place: Option<String>,
    #[serde(default)]
    interviewer: Option<String>,
    #[serde(default)]
    interpreter: Option<String>,
    #[serde(default)]
    consent: Option<String>,
    #[serde(default)]
    source: Option<String>,
    body: String,
}

fn flexible_bool<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Text(String),
    }
    match Option::<B>::deserialize(d)? {
        None => Ok(false),
        Some(B::Bool(b)) => Ok(b),
        Some(B::Text(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "" | "false" | "no" | "0" | "n" => Ok(false),
            "true" | "yes" | "1" | "y" => Ok(true),
            other => Err(serde::de::Error::custom(format!(
                "protected must be true or false, not {other:?}"
            ))),
        },
    }
}

fn empty_to_none(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

impl Row {
    fn into_statement(self) -> NewStatement {
        NewStatement {
            case: self.case.trim().to_owned(),
            fields: StatementFields {
                witness: self.witness,
                pseudonym: empty_to_none(self.pseudonym),
                protected: self.protected,
                language: empty_to_none(self.language),
                taken_at: empty_to_none(self.taken_at),
                place: empty_to_none(self.place),
                interviewer: empty_to_none(self.interviewer),
                interpreter: empty_to_none(self.interpreter),
                consent: empty_to_none(self.consent),
                source: empty_to_none(self.source),
                aliases: Vec::new(),
            },
            body: self.body,
        }
    }
}

fn row_error(row: usize, what: impl std::fmt::Display) -> Error {
    Error::Invalid(Invalid::ImportRow {
        row,
        problem: what.to_string(),
    })
}

/// Parses every row (rows are numbered from 1, not counting a CSV header)
/// and checks each, without touching the vault.
pub fn parse(format: ImportFormat, input: &[u8]) -> Result<Vec<NewStatement>> {
    let text = std::str::from_utf8(input).map_err(|e| {
        Error::Invalid(Invalid::ImportFile {
            problem: format!(
                "the import file is not valid UTF-8 (at byte {}); nothing was imported",
                e.valid_up_to()
            ),
        })
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    match format {
        ImportFormat::JsonLines => {
            let mut n = 0;
            for line in text.lines() {
                if line.trim().is_empty() {
                    continue;
                }
                n += 1;
                let value: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| row_error(n, e))?;
                if let Some(map) = value.as_object() {
                    check_columns(map.keys().map(String::as_str), Some(n))?;
                }
                let row: Row = serde_json::from_value(value).map_err(|e| row_error(n, e))?;
                out.push((n, row.into_statement()));
            }
        }
        ImportFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .from_reader(text.as_bytes());
            let headers = reader
                .headers()
                .map_err(|e| {
                    Error::Invalid(Invalid::ImportFile {
                        problem: format!("the CSV header: {e}; nothing was imported"),
                    })
                })?
                .clone();
            check_columns(headers.iter(), None)?;
            for (i, record) in reader.deserialize::<Row>().enumerate() {
                let row = record.map_err(|e| row_error(i + 1, e))?;
                out.push((i + 1, row.into_statement()));
            }
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid(Invalid::ImportFile {
            problem: "the import file has no statements".into(),
        }));
    }
    for (n, st) in &out {
        st.fields.validate().map_err(|e| row_error(*n, e))?;
        check_body(&st.body).map_err(|e| row_error(*n, e))?;
    }
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

/// Reads an import file (bounded), detecting its format.
pub fn read_file(path: &std::path::Path) -> Result<(ImportFormat, Vec<u8>)> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Error::Invalid(Invalid::Path {
            path: path.to_owned(),
            problem: "is a directory".into(),
        }));
    }
    let mut bytes = Vec::new();
    file.take(MAX_IMPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        return Err(Error::Invalid(Invalid::Path {
            path: path.to_owned(),
            problem: "is too large to import".into(),
        }));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((
        ImportFormat::detect(&name, &bytes[..bytes.len().min(64)]),
        bytes,
    ))
}

impl Vault<Unlocked> {
    /// Imports statements: all rows are checked (fields, and that each case
    /// exists) before any is written, then all are written in one
    /// transaction. Returns the new ids in row order.
    pub fn import_statements(&mut self, statements: &[NewStatement]) -> Result<Vec<Id>> {
        self.write(|tx, session| {
            let cases = all_cases(tx, session)?;
            let mut by_ref: HashMap<String, Id> = HashMap::new();
            for c in &cases {
                by_ref.insert(c.data.reference.to_lowercase(), c.id);
                by_ref.insert(c.id.to_hex(), c.id);
            }
            let mut case_ids = Vec::with_capacity(statements.len());
            for (i, st) in statements.iter().enumerate() {
                let id = by_ref.get(&st.case.to_lowercase()).ok_or_else(|| {
                    row_error(i + 1, format!("no case \"{}\" in this vault", st.case))
                })?;
                case_ids.push(*id);
            }
            statements
                .iter()
                .zip(case_ids)
                .map(|(st, case)| insert_statement(tx, session, &case, st))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_jsonl_parse_with_row_numbers_in_errors() {
        let csv = "case,witness,pseudonym,protected,language,body\n\
                   KZ-1,Évgueni,,false,ru,\"Я дезертир, « oui »\"\n\
                   KZ-1,Amina,A.,yes,ar,شهادة\n";
        let rows = parse(ImportFormat::Csv, csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[1].fields.protected);
        assert_eq!(rows[0].body, "Я дезертир, « oui »");

        let bad = "{\"case\":\"KZ-1\",\"witness\":\"A\",\"body\":\"x\"}\n{\"case\":\"KZ-1\",\"witness\":\"\",\"body\":\"x\"}\n";
        let err = parse(ImportFormat::JsonLines, bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 2"), "{err}");

        let unknown = "{\"case\":\"K\",\"witness\":\"A\",\"body\":\"x\",\"colour\":1}\n";
        let err = parse(ImportFormat::JsonLines, unknown.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 1") && err.contains("colour"), "{err}");
    }

    #[test]
    fn format_is_detected() {
        assert_eq!(ImportFormat::detect("a.csv", b"{"), ImportFormat::Csv);
        assert_eq!(
            ImportFormat::detect("a.txt", b"  {\"a\""),
            ImportFormat::JsonLines
        );
        assert_eq!(
            ImportFormat::detect("a", b"case,witness"),
            ImportFormat::Csv
        );
    }
}
