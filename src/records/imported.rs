//! The custody history a record brought from its earlier vault when it
//! was imported from a bundle: sealed beside it (under the events subkey,
//! bound to the record, version 1, field `imported-custody`), written once
//! by the import and read by `check` and `log`.

use rusqlite::Connection;

use crate::custody::chain::{ImportedHistory, IMPORTED_CUSTODY_FIELD};
use crate::error::{Error, Integrity, Result};
use crate::format::{Id, Kind};
use crate::store::records as rows;
use crate::vault::sealed::{open_field, seal_field};
use crate::vault::Session;

/// Seals `history` beside the newly imported record `id` of `kind`.
pub(crate) fn keep_imported_history(
    conn: &Connection,
    session: &Session<'_>,
    kind: Kind,
    id: &Id,
    history: &ImportedHistory,
) -> Result<()> {
    let sealed = seal_field(
        &session.keys.events,
        &session.vault_id,
        kind,
        id,
        1,
        IMPORTED_CUSTODY_FIELD,
        history,
    )?;
    rows::insert_imported_custody(conn, id, &sealed)
}

/// The history record `id` brought when it was imported, if it was.
pub(crate) fn imported_history(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
) -> Result<Option<ImportedHistory>> {
    let Some(sealed) = rows::imported_custody(conn, id)? else {
        return Ok(None);
    };
    let kind = rows::record_kind(conn, id)?
        .as_deref()
        .and_then(Kind::from_stored)
        .ok_or_else(|| {
            Error::Integrity(Integrity::RecordDamaged {
                record: *id,
                problem: format!(
                    "record {} has an imported custody history but no known kind",
                    id.short()
                ),
            })
        })?;
    open_field(
        &session.keys.events,
        &session.vault_id,
        kind,
        id,
        1,
        IMPORTED_CUSTODY_FIELD,
        &sealed,
    )
    .map(Some)
    .map_err(|_| {
        Error::Integrity(Integrity::RecordDamaged { record: *id, problem: format!(
            "the imported custody history of record {} does not authenticate (damaged, altered or moved)",
            id.short()
        ) })
    })
}
