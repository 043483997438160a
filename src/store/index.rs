//! Rows of `search_index` (one sealed block of the search index each) and
//! the plaintext columns the index is checked against: each statement's
//! search-text version and `records.position`. Sealed bytes are opaque
//! here (see `formats::search_index` and `vault::index`).

use rusqlite::{params, Connection, OptionalExtension};

use super::records::parse_id;
use crate::error::Result;
use crate::format::Id;

/// A statement that has a search text: its id, the version of that text
/// and the position of its `records` row (which fixes its block).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Indexed {
    /// The statement.
    pub id: Id,
    /// The version its search text was made from.
    pub version: u64,
    /// Its `records.position`.
    pub position: u64,
}

/// One row of `record_id, version, position`.
fn indexed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Indexed> {
    Ok(Indexed {
        id: parse_id(&r.get::<_, String>(0)?)?,
        version: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        position: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
    })
}

/// Every statement that has a search text, in position order.
pub(crate) fn indexed(conn: &Connection) -> Result<Vec<Indexed>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.record_id, s.version, r.position FROM search_texts s
         JOIN records r ON r.record_id = s.record_id ORDER BY r.position",
    )?;
    let rows = stmt.query_map([], indexed_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Every statement's id and `records.position`, in position order (the
/// small `records` table only: no search text is read).
pub(crate) fn statements(conn: &Connection) -> Result<Vec<(Id, u64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT record_id, position FROM records WHERE kind = 'statement' ORDER BY position",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            parse_id(&r.get::<_, String>(0)?)?,
            u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The statements with a search text whose position is in `positions`.
pub(crate) fn indexed_in(
    conn: &Connection,
    positions: std::ops::RangeInclusive<u64>,
) -> Result<Vec<Indexed>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.record_id, s.version, r.position FROM records r
         JOIN search_texts s ON s.record_id = r.record_id
         WHERE r.position BETWEEN ?1 AND ?2 ORDER BY r.position",
    )?;
    let rows = stmt.query_map(
        params![*positions.start() as i64, *positions.end() as i64],
        indexed_row,
    )?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The position of a record's row.
pub(crate) fn position(conn: &Connection, id: &Id) -> Result<Option<u64>> {
    Ok(conn
        .prepare_cached("SELECT position FROM records WHERE record_id = ?1")?
        .query_row([id.to_hex()], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|p| u64::try_from(p).unwrap_or(0)))
}

/// One sealed block, if there is one.
pub(crate) fn block(conn: &Connection, block: u64) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .prepare_cached("SELECT sealed FROM search_index WHERE block = ?1")?
        .query_row([block as i64], |r| r.get(0))
        .optional()?)
}

/// Every sealed block, in block order.
pub(crate) fn blocks(conn: &Connection) -> Result<Vec<(u64, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached("SELECT block, sealed FROM search_index ORDER BY block")?;
    let rows = stmt.query_map([], |r| {
        Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Writes (or replaces) one sealed block.
pub(crate) fn put_block(conn: &Connection, block: u64, sealed: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO search_index (block, sealed) VALUES (?1, ?2)
         ON CONFLICT (block) DO UPDATE SET sealed = excluded.sealed",
    )?
    .execute(params![block as i64, sealed])?;
    Ok(())
}

/// Deletes one block.
pub(crate) fn delete_block(conn: &Connection, block: u64) -> Result<()> {
    conn.execute("DELETE FROM search_index WHERE block = ?1", [block as i64])?;
    Ok(())
}

/// How many blocks there are.
pub(crate) fn block_count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM search_index", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}
