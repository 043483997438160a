//! The sealed-field layer: how a field of a record version is sealed in
//! its place (its [`Binding`]: vault, kind, record, version, field) and
//! opened again, and how a user-typed id or prefix resolves to a record.
//!
//! It owns no rule about what a record holds (see [`crate::records`]) and
//! writes no custody event (see [`crate::custody`]); it is the one place
//! where a record field meets the AEAD.

use rusqlite::Connection;
use serde::de::DeserializeOwned;
use serde::Serialize;

use zeroize::Zeroizing;

use crate::crypto::aead::{open_bytes_in_place, open_value, seal_value};
use crate::crypto::keys::SymmetricKey;
use crate::error::{Error, Integrity, Invalid, Result};
use crate::format::{normalize_id_prefix, Binding, Id, Kind};
use crate::store::records as rows;

/// Resolves a user-typed id or unique prefix (6+ hex characters) to a record
/// of the expected kind, as git does for commits.
pub fn resolve(conn: &Connection, kind: Kind, text: &str) -> Result<Id> {
    let prefix = normalize_id_prefix(text).map_err(|e| {
        Error::Invalid(Invalid::IdPrefix {
            problem: e.to_string(),
        })
    })?;
    let matches = rows::records_with_prefix(conn, &prefix, 10)?;
    match matches.as_slice() {
        [] => Err(Error::NotFound(format!(
            "no {} with an id starting {prefix:?}",
            kind.as_str()
        ))),
        [one] => {
            if one.kind == kind.as_str() {
                Ok(one.id)
            } else {
                let other =
                    Kind::record_from_stored(&one.kind).map_or("another kind", Kind::article);
                Err(Error::NotFound(format!(
                    "{prefix} is {other}, not {}",
                    kind.article()
                )))
            }
        }
        many => {
            let same: Vec<_> = many.iter().filter(|r| r.kind == kind.as_str()).collect();
            if same.len() == 1 && prefix.len() == 32 {
                return Ok(same[0].id);
            }
            let list: Vec<String> = many
                .iter()
                .map(|r| format!("{} ({})", r.id.short(), r.kind))
                .collect();
            Err(Error::NotFound(format!(
                "the id prefix {prefix:?} is ambiguous: it matches {}; give more characters",
                list.join(", ")
            )))
        }
    }
}

/// Resolves an id or unique prefix to a record of any kind.
pub(crate) fn resolve_any(conn: &Connection, text: &str) -> Result<(Id, Kind)> {
    let prefix = normalize_id_prefix(text).map_err(|e| {
        Error::Invalid(Invalid::IdPrefix {
            problem: e.to_string(),
        })
    })?;
    let matches = rows::records_with_prefix(conn, &prefix, 10)?;
    match matches.as_slice() {
        [] => Err(Error::NotFound(format!(
            "no record with an id starting {prefix:?}"
        ))),
        [one] => Ok((
            one.id,
            Kind::record_from_stored(&one.kind).ok_or_else(|| {
                Error::Integrity(Integrity::RecordDamaged {
                    record: one.id,
                    problem: format!("record {} has an unknown kind", one.id),
                })
            })?,
        )),
        many => Err(Error::NotFound(format!(
            "the id prefix {prefix:?} is ambiguous: it matches {} records; give more characters",
            many.len()
        ))),
    }
}

/// The binding of a record field.
pub(crate) fn record_binding<'a>(
    vault_id: &'a Id,
    kind: Kind,
    record: &'a str,
    version: u64,
    field: &'a str,
) -> Binding<'a> {
    Binding {
        vault_id,
        kind: kind.as_str(),
        record,
        version,
        field,
    }
}

/// Seals one field of a record version.
pub(crate) fn seal_field<T: Serialize + ?Sized>(
    key: &SymmetricKey,
    vault_id: &Id,
    kind: Kind,
    id: &Id,
    version: u64,
    field: &str,
    value: &T,
) -> Result<Vec<u8>> {
    let record = id.to_hex();
    Ok(seal_value(
        key,
        &record_binding(vault_id, kind, &record, version, field),
        value,
    )?)
}

/// Opens one field of a record version, naming the record if it fails.
pub(crate) fn open_field<T: DeserializeOwned>(
    key: &SymmetricKey,
    vault_id: &Id,
    kind: Kind,
    id: &Id,
    version: u64,
    field: &str,
    sealed: &[u8],
) -> Result<T> {
    let record = id.to_hex();
    open_value(
        key,
        &record_binding(vault_id, kind, &record, version, field),
        sealed,
    )
    .map_err(|_| {
        Error::Integrity(Integrity::FieldUnauthentic {
            kind,
            record: *id,
            version,
            field: field.to_owned(),
        })
    })
}

/// A statement's opened search text: UTF-8 checked once when opened (with
/// a vectorised check: it is read for every candidate on every search),
/// wiped when dropped. Reads as a `&str`.
pub(crate) struct SearchText(Zeroizing<Vec<u8>>);

impl std::ops::Deref for SearchText {
    type Target = str;
    fn deref(&self) -> &str {
        // Checked when opened; the check is repeated (it is cheap) because
        // turning bytes into text without one would need `unsafe`.
        simdutf8::basic::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Opens a statement's sealed search text (UTF-8, not JSON: it is read for
/// every statement on every search) into a buffer of its own.
pub(crate) fn open_search_text(
    session: &super::Session<'_>,
    id: &Id,
    version: u64,
    sealed: &[u8],
) -> Result<SearchText> {
    let mut buf = Zeroizing::new(sealed.to_vec());
    let text = open_search_text_in_place(session, id, version, &mut buf)?;
    Ok(SearchText(Zeroizing::new(text.as_bytes().to_vec())))
}

/// [`open_search_text`] where the sealed text lies: `buf` holds it on
/// entry and the returned text borrows from it. The scan that opens every
/// statement decrypts each batch it is handed this way, with no copy, and
/// wipes the batch after scoring.
pub(crate) fn open_search_text_in_place<'b>(
    session: &super::Session<'_>,
    id: &Id,
    version: u64,
    buf: &'b mut [u8],
) -> Result<&'b str> {
    let record = id.to_hex();
    let binding = record_binding(
        &session.vault_id,
        Kind::Statement,
        &record,
        version,
        "search",
    );
    let range = open_bytes_in_place(&session.keys.records, &binding, buf).map_err(|_| {
        Error::Integrity(Integrity::FieldUnauthentic {
            kind: Kind::Statement,
            record: *id,
            version,
            field: "search".into(),
        })
    })?;
    buf.get(range)
        .and_then(|text| simdutf8::basic::from_utf8(text).ok())
        .ok_or_else(|| {
            Error::Integrity(Integrity::RecordDamaged {
                record: *id,
                problem: format!("statement {record}: its search text is not UTF-8"),
            })
        })
}
