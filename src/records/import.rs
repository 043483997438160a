//! `statement import`: JSON Lines or CSV, one statement a row, with the
//! fields of `statement add` (`case`, `witness`, `pseudonym`, `protected`,
//! `language`, `taken_at`, `place`, `interviewer`, `interpreter`, `consent`,
//! `source`) plus `body`. The file is read one row at a time, twice: every
//! row is checked before the vault is unlocked, then each is stored as it
//! is read again, in one transaction; the first bad row is reported by
//! number and nothing is written. While storing, a second thread reads and
//! checks the rows ahead in small batches (about 1 MiB of text in flight),
//! so memory stays that of a few rows whatever the file's size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc::sync_channel;

use serde::Deserialize;

use super::case::all_cases;
use super::statement::{
    check_body, insert_statement, NewStatement, SearchPrep, StatementFields, MAX_BODY_BYTES,
};
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

/// Rows read and checked ahead of the one being stored, handed over in
/// batches of up to [`BATCH_ROWS`] rows or [`BATCH_BYTES`] of text.
type Batch = Vec<(usize, NewStatement, SearchPrep)>;
const BATCH_ROWS: usize = 64;
const BATCH_BYTES: usize = 512 * 1024;
const BATCHES_AHEAD: usize = 2;

/// Longest line of a JSON Lines import: a statement text of
/// [`MAX_BODY_BYTES`] as JSON (escapes included) and its fields. A longer
/// line is refused before it is held in memory.
const MAX_LINE_BYTES: u64 = 8 * MAX_BODY_BYTES as u64 + 1024 * 1024;

/// A statement import file, opened and bounded, read one row at a time:
/// once to check every row (before the vault is even unlocked) and once to
/// store them, so memory stays that of one row whatever the file's size.
#[derive(Clone, Debug)]
pub struct ImportFile {
    path: std::path::PathBuf,
    format: ImportFormat,
}

impl ImportFile {
    /// Opens `path`: refuses a directory or a file over
    /// [`MAX_IMPORT_BYTES`], and tells the format from the name (or the
    /// first byte).
    pub fn open(path: &Path) -> Result<ImportFile> {
        let io = |e| Error::io(format!("cannot read {}", path.display()), e);
        let mut file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if meta.is_dir() {
            return Err(Error::Invalid(Invalid::Path {
                path: path.to_owned(),
                problem: "is a directory".into(),
            }));
        }
        if meta.len() > MAX_IMPORT_BYTES {
            return Err(Error::Invalid(Invalid::Path {
                path: path.to_owned(),
                problem: "is too large to import".into(),
            }));
        }
        let mut head = Vec::with_capacity(64);
        (&mut file).take(64).read_to_end(&mut head).map_err(io)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(ImportFile {
            path: path.to_owned(),
            format: ImportFormat::detect(&name, &head),
        })
    }

    /// The format read.
    pub fn format(&self) -> ImportFormat {
        self.format
    }

    /// Checks every row (columns, fields, text) and returns how many there
    /// are; the first bad row is named by number.
    pub fn check(&self) -> Result<usize> {
        self.for_each(|_, _| Ok(()))
    }

    /// Visits every row, checked, in order (rows numbered from 1).
    fn for_each(&self, visit: impl FnMut(usize, NewStatement) -> Result<()>) -> Result<usize> {
        let file = File::open(&self.path)
            .map_err(|e| Error::io(format!("cannot read {}", self.path.display()), e))?;
        let reader = BufReader::with_capacity(1 << 16, file.take(MAX_IMPORT_BYTES + 1));
        rows_in(self.format, reader, visit)
    }
}

/// Parses the rows of `input` one at a time, checks each and hands it to
/// `visit`; nothing of a row is kept once visited.
pub fn rows_in(
    format: ImportFormat,
    mut input: impl BufRead,
    mut visit: impl FnMut(usize, NewStatement) -> Result<()>,
) -> Result<usize> {
    let read_error = |e: std::io::Error| Error::io("cannot read the import file", e);
    let mut checked = |n: usize, st: NewStatement| -> Result<()> {
        st.fields.validate().map_err(|e| row_error(n, e))?;
        check_body(&st.body).map_err(|e| row_error(n, e))?;
        visit(n, st)
    };
    let mut n = 0usize;
    match format {
        ImportFormat::JsonLines => {
            let mut line = Vec::new();
            let mut line_no = 0usize;
            loop {
                line.clear();
                let read = (&mut input)
                    .take(MAX_LINE_BYTES + 1)
                    .read_until(b'\n', &mut line)
                    .map_err(read_error)?;
                if read == 0 {
                    break;
                }
                line_no += 1;
                if read as u64 > MAX_LINE_BYTES {
                    return Err(row_error(
                        n + 1,
                        format!("line {line_no} is longer than {MAX_LINE_BYTES} bytes"),
                    ));
                }
                // The common case in one pass: a well-formed row parsed
                // straight into its fields. Anything refused (bad UTF-8,
                // bad JSON, blank lines) takes the careful road below,
                // which names the problem exactly.
                let bytes = if line_no == 1 {
                    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line)
                } else {
                    &line
                };
                if !bytes.iter().all(u8::is_ascii_whitespace) {
                    // One vectorised UTF-8 check of the line, then a parse
                    // that does not check each string again.
                    let row = simdutf8::basic::from_utf8(bytes)
                        .ok()
                        .and_then(|text| serde_json::from_str::<Row>(text).ok());
                    if let Some(row) = row {
                        n += 1;
                        checked(n, row.into_statement())?;
                        continue;
                    }
                }
                let text = std::str::from_utf8(&line).map_err(|e| {
                    Error::Invalid(Invalid::ImportFile {
                        problem: format!(
                            "the import file is not valid UTF-8 (line {line_no}, at byte {}); \
                             nothing was imported",
                            e.valid_up_to()
                        ),
                    })
                })?;
                let text = if line_no == 1 {
                    text.strip_prefix('\u{feff}').unwrap_or(text)
                } else {
                    text
                };
                if text.trim().is_empty() {
                    continue;
                }
                n += 1;
                let value: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| row_error(n, e))?;
                if let Some(map) = value.as_object() {
                    check_columns(map.keys().map(String::as_str), Some(n))?;
                }
                let row: Row = serde_json::from_value(value).map_err(|e| row_error(n, e))?;
                checked(n, row.into_statement())?;
            }
        }
        ImportFormat::Csv => {
            // A UTF-8 byte-order mark is not part of the first header.
            if input
                .fill_buf()
                .map_err(read_error)?
                .starts_with(b"\xEF\xBB\xBF")
            {
                input.consume(3);
            }
            let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
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
                n = i + 1;
                let row = record.map_err(|e| row_error(n, e))?;
                checked(n, row.into_statement())?;
            }
        }
    }
    if n == 0 {
        return Err(Error::Invalid(Invalid::ImportFile {
            problem: "the import file has no statements".into(),
        }));
    }
    Ok(n)
}

impl Vault<Unlocked> {
    /// Imports every row of `file` in one transaction: each row is read,
    /// checked and stored (with its custody event) before the next is
    /// read; the first refused row rolls everything back.
    pub fn import_statements(&mut self, file: &ImportFile) -> Result<Vec<Id>> {
        self.write(|tx, session| {
            let cases = all_cases(tx, session)?;
            let mut by_ref: HashMap<String, Id> = HashMap::new();
            for c in &cases {
                by_ref.insert(c.data.reference.to_lowercase(), c.id);
                by_ref.insert(c.id.to_hex(), c.id);
            }
            let mut ids = Vec::new();
            // A second thread reads and checks the rows ahead, in batches,
            // while this one seals and stores them: at most BATCHES_AHEAD
            // batches of about BATCH_BYTES wait, so memory stays small.
            let (batches, received) = sync_channel::<Result<Batch>>(BATCHES_AHEAD);
            std::thread::scope(|scope| {
                scope.spawn(move || {
                    let stopped = || Error::Internal("the import stopped".into());
                    let mut batch = Batch::new();
                    let mut bytes = 0usize;
                    let read = file.for_each(|n, st| {
                        bytes += st.body.len();
                        // Folding and the index keys need nothing of the
                        // vault: done here, beside the sealing.
                        let prep = SearchPrep::of(&st.fields, &st.body);
                        batch.push((n, st, prep));
                        if bytes >= BATCH_BYTES || batch.len() >= BATCH_ROWS {
                            bytes = 0;
                            let full = std::mem::take(&mut batch);
                            batches.send(Ok(full)).map_err(|_| stopped())?;
                        }
                        Ok(())
                    });
                    let last = read.map(|_| batch);
                    // Fails only when the storing side has stopped already.
                    let _ = batches.send(last);
                });
                let stored = (|| -> Result<()> {
                    for batch in received.iter() {
                        for (n, st, prep) in batch? {
                            let case = by_ref.get(&st.case.to_lowercase()).ok_or_else(|| {
                                row_error(n, format!("no case \"{}\" in this vault", st.case))
                            })?;
                            ids.push(insert_statement(tx, session, case, &st, &prep)?);
                        }
                    }
                    Ok(())
                })();
                // Stops the reading thread if storing failed.
                drop(received);
                stored
            })?;
            Ok(ids)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of `input`, checked, collected (tests only: the import
    /// itself keeps one row at a time).
    fn parse(format: ImportFormat, input: &[u8]) -> Result<Vec<NewStatement>> {
        let mut rows = Vec::new();
        rows_in(format, input, |_, st| {
            rows.push(st);
            Ok(())
        })?;
        Ok(rows)
    }

    #[test]
    fn a_byte_order_mark_and_a_bad_encoding_are_handled_per_line() {
        let csv = "\u{feff}case,witness,body\nKZ-1,A,texte\n";
        assert_eq!(parse(ImportFormat::Csv, csv.as_bytes()).unwrap().len(), 1);
        let jsonl = "\u{feff}{\"case\":\"K\",\"witness\":\"A\",\"body\":\"x\"}\n";
        assert_eq!(
            parse(ImportFormat::JsonLines, jsonl.as_bytes())
                .unwrap()
                .len(),
            1
        );
        let mut bad = b"{\"case\":\"K\",\"witness\":\"A\",\"body\":\"x\"}\n".to_vec();
        bad.extend_from_slice(b"{\"case\":\"K\",\"witness\":\"\xff\",\"body\":\"x\"}\n");
        let err = parse(ImportFormat::JsonLines, &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid UTF-8 (line 2"), "{err}");
        let err = parse(ImportFormat::JsonLines, b"\n\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no statements"), "{err}");
    }

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
