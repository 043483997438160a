//! Testimony records (SPEC §3): cases, append-only witness statements and
//! evidence items, with their rules (unique case references, amendments as
//! new versions, sealing, streamed evidence with SHA-256 fingerprints).
//!
//! Each record is a row of `records` (id and kind only) with sealed
//! versions. A statement version keeps a small sealed *overview* (metadata)
//! apart from its sealed *body* and its sealed folded *search* text, so
//! listing never decrypts bodies. Every change appends a custody event in
//! the same transaction (see [`crate::vault::Session::append`]); every
//! record, typed in or imported from a bundle, is created through
//! [`new_record`]. Fields are sealed by [`crate::vault::sealed`].

pub mod case;
pub mod evidence;
pub mod evidence_io;
pub mod import;
pub mod imported;
pub mod lifecycle;
pub mod search;
pub mod statement;

use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::custody::state::ChainState;
use crate::error::{Error, FieldProblem, Integrity, Invalid, Result};
use crate::format::{Id, Kind};
use crate::store::records as rows;
use crate::vault::sealed::{open_field, seal_field};
use crate::vault::Session;

/// Checks record `id` of `kind` against the vault state (the fold of the
/// signed chain): its chain must exist and be of this kind, the file must
/// hold exactly the versions the chain made, and a seal row exactly when
/// the chain sealed it. A row deleted, restored from an old copy or
/// inserted with `sqlite3` is an integrity error naming the record, on
/// whatever operation meets it. Returns the chain.
pub(crate) fn expect_record(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    kind: Kind,
) -> Result<ChainState> {
    let chain = session.state(conn)?.state.chain(&id.to_hex()).cloned();
    let what = kind.as_str();
    let Some(chain) = chain else {
        return Err(Error::Integrity(Integrity::RecordNotInChain {
            kind,
            record: *id,
        }));
    };
    if chain.kind != what {
        return Err(Error::Integrity(Integrity::RecordKindMismatch {
            record: *id,
            kind,
            chain_kind: chain.kind.clone(),
        }));
    }
    if chain.destroyed {
        return Err(Error::NotFound(format!(
            "{what} {id} was destroyed: its content is gone (its custody events remain; \
             `custodia log {}` shows them)",
            id.short()
        )));
    }
    let (count, highest) = rows::version_count(conn, id)?;
    if count != chain.versions || highest != chain.versions {
        return Err(Error::Integrity(Integrity::VersionCount {
            kind,
            record: *id,
            found: count,
            expected: chain.versions,
        }));
    }
    let seal_row = rows::seal(conn, id)?.is_some();
    if seal_row != chain.sealed {
        return Err(Error::Integrity(Integrity::SealRow {
            kind,
            record: *id,
            chain_sealed: chain.sealed,
        }));
    }
    Ok(chain)
}

/// Whether a record with this id is in the vault (of any kind).
pub fn exists(conn: &Connection, id: &Id) -> Result<bool> {
    rows::record_exists(conn, id)
}

/// Makes room for record `id` of `kind`: refuses an id the vault already
/// holds (naming it) and inserts its `records` row. Every record, typed in
/// or brought by a bundle, is created through this, then given its first
/// version and its custody event in the same transaction.
pub(crate) fn new_record(conn: &Connection, kind: Kind, id: &Id) -> Result<()> {
    if rows::record_exists(conn, id)? {
        return Err(Error::Invalid(Invalid::AlreadyInVault {
            kind,
            record: *id,
        }));
    }
    rows::insert_record(conn, id, kind.as_str())
}

/// Writes version 1 of a record that has only an overview (a case, an
/// exhibit), sealed in its place: the one way `records` and `bundle import`
/// store such a version.
pub(crate) fn insert_first_overview<T: Serialize + ?Sized>(
    conn: &Connection,
    session: &Session<'_>,
    kind: Kind,
    id: &Id,
    overview: &T,
) -> Result<()> {
    let sealed = seal_field(
        &session.keys.records,
        &session.vault_id,
        kind,
        id,
        1,
        "overview",
        overview,
    )?;
    rows::insert_version(
        conn,
        &rows::VersionRow {
            id: *id,
            version: 1,
            overview: sealed,
            body: None,
        },
    )
}

/// Sorts out a damaged record from a real failure: `Ok(Some(v))` when it
/// opened, `Ok(None)` when it is damaged (its id is noted, so the caller can
/// go on with the others and report it), `Err` for anything else.
pub(crate) fn open_or_note<T>(
    opened: Result<T>,
    id: Id,
    damaged: &mut Vec<Id>,
) -> Result<Option<T>> {
    match opened {
        Ok(v) => Ok(Some(v)),
        Err(Error::Integrity(_)) => {
            damaged.push(id);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Which records a listing covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Those that take part in exports and searches (not withdrawn).
    Active,
    /// Withdrawn ones too (to keep every protected witness's name out of
    /// an export, say). Destroyed records have nothing left to list.
    WithWithdrawn,
}

/// Refuses `doing` on a withdrawn record (see [`crate::custody::Action::Withdraw`]).
pub(crate) fn refuse_withdrawn(
    chain: &ChainState,
    kind: Kind,
    id: &Id,
    doing: &'static str,
) -> Result<()> {
    if chain.withdrawn {
        return Err(Error::Invalid(Invalid::Withdrawn {
            kind,
            record: *id,
            doing,
        }));
    }
    Ok(())
}

/// A record's id, its case's reference and its overview.
pub type InCaseOverview<T> = (Id, String, T);

/// An overview that names the case its record belongs to.
pub trait InCase {
    /// The case's id, hex.
    fn case_hex(&self) -> &str;
}

/// The latest overview of every record of `kind` (optionally only those of
/// `case`), each with its id and its case's reference; and the ids of the
/// records whose overview does not open (left out, so one damaged record
/// does not hide the others).
pub(crate) fn latest_overviews_in<T: DeserializeOwned + InCase>(
    conn: &Connection,
    session: &Session<'_>,
    kind: Kind,
    case: Option<&Id>,
    scope: Scope,
) -> Result<(Vec<InCaseOverview<T>>, Vec<Id>)> {
    let cases = case::all_cases(conn, session)?;
    let mut out = Vec::new();
    let mut damaged = Vec::new();
    // The vault state says which records of this kind exist, with how many
    // versions: one missing, restored or inserted is left out as damaged.
    // Withdrawn records (unless asked for) and destroyed ones are left
    // out: a version row of a destroyed record is damage `check` names.
    let mut expected = std::collections::BTreeMap::<String, u64>::new();
    let mut left_out = std::collections::BTreeSet::<String>::new();
    for (id, c) in session.state(conn)?.state.record_ids() {
        if c.destroyed || (scope == Scope::Active && c.withdrawn) {
            left_out.insert(id.clone());
        } else if c.kind == kind.as_str() {
            expected.insert(id.clone(), c.versions);
        }
    }
    let stored = rows::latest_overviews(conn, kind.as_str())?;
    let stored_ids: std::collections::HashSet<String> =
        stored.iter().map(|(id, _, _)| id.to_hex()).collect();
    for hex in expected.keys() {
        if !stored_ids.contains(hex) {
            if let Ok(id) = hex.parse::<Id>() {
                damaged.push(id);
            }
        }
    }
    let references: std::collections::HashMap<String, &str> = cases
        .iter()
        .map(|c| (c.id.to_hex(), c.data.reference.as_str()))
        .collect();
    for (id, version, sealed) in stored {
        let hex = id.to_hex();
        if left_out.contains(&hex) {
            continue;
        }
        if expected.get(&hex) != Some(&version) {
            damaged.push(id);
            continue;
        }
        let opened = open_field(
            &session.keys.records,
            &session.vault_id,
            kind,
            &id,
            version,
            "overview",
            &sealed,
        );
        let Some(overview): Option<T> = open_or_note(opened, id, &mut damaged)? else {
            continue;
        };
        if case.is_some_and(|c| c.to_hex() != overview.case_hex()) {
            continue;
        }
        let case_reference = references
            .get(overview.case_hex())
            .map_or_else(|| overview.case_hex().to_owned(), |r| (*r).to_owned());
        out.push((id, case_reference, overview));
    }
    Ok((out, damaged))
}

/// Checks a required free-text field: not empty, no control characters
/// other than newline and tab, at most `max` bytes.
pub(crate) fn check_text(label: &str, value: &str, max: usize, multiline: bool) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::Invalid(Invalid::Field {
            label: label.to_owned(),
            problem: FieldProblem::Empty,
        }));
    }
    if value.len() > max {
        return Err(Error::Invalid(Invalid::Field {
            label: label.to_owned(),
            problem: FieldProblem::TooLong {
                bytes: value.len(),
                max,
            },
        }));
    }
    let bad = value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad {
        return Err(Error::Invalid(Invalid::Field {
            label: label.to_owned(),
            problem: FieldProblem::ControlCharacters,
        }));
    }
    Ok(())
}

/// Checks an optional one-line field.
pub(crate) fn check_optional(label: &str, value: &Option<String>, max: usize) -> Result<()> {
    match value {
        Some(v) => check_text(label, v, max, false),
        None => Ok(()),
    }
}

/// Checks a date or date-time as users type it: `2026-03-14`,
/// `2026-03-14T10:30`, `2026-03-14T10:30:00Z` or with an offset.
pub(crate) fn check_date(label: &str, value: &str) -> Result<()> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let v = value.trim();
    let ok = time::Date::parse(v, format_description!("[year]-[month]-[day]")).is_ok()
        || time::PrimitiveDateTime::parse(
            v,
            format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        )
        .is_ok()
        || time::PrimitiveDateTime::parse(
            v,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
        .is_ok()
        || time::OffsetDateTime::parse(v, &Rfc3339).is_ok();
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(Invalid::Field {
            label: label.to_owned(),
            problem: FieldProblem::NotADate {
                value: value.to_owned(),
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_checks_name_the_field_and_the_problem() {
        let field = |r: Result<()>| match r {
            Err(Error::Invalid(Invalid::Field { label, problem })) => (label, problem),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(check_text("the case title", "  ", 10, false)),
            ("the case title".into(), FieldProblem::Empty)
        );
        assert_eq!(
            field(check_text("the place", "Almaty, Kazakhstan", 6, false)).1,
            FieldProblem::TooLong { bytes: 18, max: 6 }
        );
        assert_eq!(
            field(check_text("the place", "Alma\u{7}ty", 100, false)).1,
            FieldProblem::ControlCharacters
        );
        assert!(check_text("the note", "a\nb", 100, true).is_ok());
        let (label, problem) = field(check_date("the date taken", "14/03/2026"));
        assert_eq!(label, "the date taken");
        assert_eq!(
            problem,
            FieldProblem::NotADate {
                value: "14/03/2026".into()
            }
        );
        assert!(check_date("the date taken", "2026-03-14T10:30").is_ok());
    }
}
