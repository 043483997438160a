//! Rows of the record, evidence-chunk and custody tables. Sealed columns are
//! opaque bytes here; ids are lowercase hex text so prefixes can be looked up.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Integrity, Result};
use crate::format::Id;

/// A row of `records`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordRow {
    /// The record's id.
    pub id: Id,
    /// `case`, `statement` or `evidence`.
    pub kind: String,
}

/// A row of `record_versions`.
#[derive(Clone, Debug)]
pub struct VersionRow {
    /// Record id.
    pub id: Id,
    /// Version, from 1.
    pub version: u64,
    /// Sealed overview.
    pub overview: Vec<u8>,
    /// Sealed body (statements).
    pub body: Option<Vec<u8>>,
}

pub(crate) fn parse_id(text: &str) -> rusqlite::Result<Id> {
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Inserts a record at the next position.
pub(crate) fn insert_record(conn: &Connection, id: &Id, kind: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO records (record_id, kind, position)
         VALUES (?1, ?2, (SELECT COALESCE(MAX(position), 0) + 1 FROM records))",
        params![id.to_hex(), kind],
    )?;
    Ok(())
}

/// Records whose id starts with `prefix` (already validated hex), at most `limit`.
pub(crate) fn records_with_prefix(
    conn: &Connection,
    prefix: &str,
    limit: usize,
) -> Result<Vec<RecordRow>> {
    // `prefix` is hex only, so it cannot contain LIKE wildcards.
    let mut stmt = conn.prepare(
        "SELECT record_id, kind FROM records WHERE record_id LIKE ?1 || '%'
         ORDER BY record_id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![prefix, limit as i64], |r| {
        Ok(RecordRow {
            id: parse_id(&r.get::<_, String>(0)?)?,
            kind: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The kind of one record.
pub fn record_kind(conn: &Connection, id: &Id) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT kind FROM records WHERE record_id = ?1",
            [id.to_hex()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Every record of a kind, in creation order.
pub(crate) fn records_of_kind(conn: &Connection, kind: &str) -> Result<Vec<Id>> {
    let mut stmt =
        conn.prepare("SELECT record_id FROM records WHERE kind = ?1 ORDER BY position")?;
    let rows = stmt.query_map([kind], |r| parse_id(&r.get::<_, String>(0)?))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Every record, in creation order.
pub(crate) fn all_records(conn: &Connection) -> Result<Vec<RecordRow>> {
    let mut stmt = conn.prepare("SELECT record_id, kind FROM records ORDER BY position")?;
    let rows = stmt.query_map([], |r| {
        Ok(RecordRow {
            id: parse_id(&r.get::<_, String>(0)?)?,
            kind: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Inserts one version of a record.
pub(crate) fn insert_version(conn: &Connection, row: &VersionRow) -> Result<()> {
    conn.execute(
        "INSERT INTO record_versions (record_id, version, overview, body)
         VALUES (?1, ?2, ?3, ?4)",
        params![row.id.to_hex(), row.version as i64, row.overview, row.body],
    )?;
    Ok(())
}

const VERSION_COLUMNS: &str = "record_id, version, overview, body";

fn version_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRow> {
    let version: i64 = r.get(1)?;
    Ok(VersionRow {
        id: parse_id(&r.get::<_, String>(0)?)?,
        version: u64::try_from(version).unwrap_or(0),
        overview: r.get(2)?,
        body: r.get(3)?,
    })
}

/// Every version of one record, oldest first.
pub fn versions(conn: &Connection, id: &Id) -> Result<Vec<VersionRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {VERSION_COLUMNS} FROM record_versions WHERE record_id = ?1 ORDER BY version"
    ))?;
    let rows = stmt.query_map([id.to_hex()], version_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The overview (and nothing else) of the latest version of every record
/// of a kind, in creation order. Bodies are not read.
pub(crate) fn latest_overviews(conn: &Connection, kind: &str) -> Result<Vec<(Id, u64, Vec<u8>)>> {
    let mut stmt = conn.prepare(
        "SELECT v.record_id, v.version, v.overview
         FROM records r JOIN record_versions v ON v.record_id = r.record_id
         WHERE r.kind = ?1
           AND v.version = (SELECT MAX(version) FROM record_versions WHERE record_id = r.record_id)
         ORDER BY r.position",
    )?;
    let rows = stmt.query_map([kind], |r| {
        let version: i64 = r.get(1)?;
        Ok((
            parse_id(&r.get::<_, String>(0)?)?,
            u64::try_from(version).unwrap_or(0),
            r.get(2)?,
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Sets the sealed search text of a statement (its latest version's).
pub(crate) fn set_search_text(
    conn: &Connection,
    id: &Id,
    version: u64,
    sealed: &[u8],
) -> Result<()> {
    conn.execute(
        "INSERT INTO search_texts (record_id, version, sealed) VALUES (?1, ?2, ?3)
         ON CONFLICT (record_id) DO UPDATE SET version = excluded.version, sealed = excluded.sealed",
        params![id.to_hex(), version as i64, sealed],
    )?;
    Ok(())
}

/// Streams every statement's sealed search text to `visit(id, version, sealed)`.
pub(crate) fn for_each_search_text(
    conn: &Connection,
    mut visit: impl FnMut(Id, u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare("SELECT record_id, version, sealed FROM search_texts")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let id = parse_id(&row.get::<_, String>(0)?)?;
        let version = u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0);
        let sealed = row.get_ref(2)?.as_blob().map_err(|_| {
            Error::Integrity(Integrity::RecordDamaged {
                record: id,
                problem: format!("statement {id}: its search text is not a blob"),
            })
        })?;
        visit(id, version, sealed)?;
    }
    Ok(())
}

/// One statement's sealed search text, if any.
pub(crate) fn search_text(conn: &Connection, id: &Id) -> Result<Option<(u64, Vec<u8>)>> {
    Ok(conn
        .query_row(
            "SELECT version, sealed FROM search_texts WHERE record_id = ?1",
            [id.to_hex()],
            |r| Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?)),
        )
        .optional()?)
}

/// The seal row of a record, if it is sealed.
pub fn seal(conn: &Connection, id: &Id) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT seal FROM record_seals WHERE record_id = ?1",
            [id.to_hex()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Marks a record sealed.
pub(crate) fn insert_seal(conn: &Connection, id: &Id, seal: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO record_seals (record_id, seal) VALUES (?1, ?2)",
        params![id.to_hex(), seal],
    )?;
    Ok(())
}

/// Erases everything a record holds but its `records` row (its id and
/// kind) and its imported custody history: versions, search text, seal
/// and evidence chunks. With `secure_delete` on, the freed pages are
/// overwritten with zeros. Returns how many rows were deleted.
pub(crate) fn erase_content(conn: &Connection, id: &Id) -> Result<usize> {
    let hex = id.to_hex();
    let mut deleted = 0;
    for table in [
        "record_versions",
        "search_texts",
        "record_seals",
        "evidence_chunks",
    ] {
        deleted += conn.execute(&format!("DELETE FROM {table} WHERE record_id = ?1"), [&hex])?;
    }
    Ok(deleted)
}

/// Stores one evidence chunk.
pub(crate) fn insert_chunk(conn: &Connection, id: &Id, index: u64, data: &[u8]) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO evidence_chunks (record_id, chunk_index, data) VALUES (?1, ?2, zeroblob(?3))",
    )?;
    stmt.execute(params![id.to_hex(), index as i64, data.len() as i64])?;
    let rowid = conn.last_insert_rowid();
    let mut blob = conn.blob_open(
        rusqlite::DatabaseName::Main,
        "evidence_chunks",
        "data",
        rowid,
        false,
    )?;
    blob.write_at(data, 0)?;
    blob.close()?;
    Ok(())
}

/// How many chunks are stored for item `id`.
pub(crate) fn chunk_count(conn: &Connection, id: &Id) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM evidence_chunks WHERE record_id = ?1",
        [id.to_hex()],
        |row| row.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Appends a sealed event at `position`.
pub fn insert_event(conn: &Connection, position: u64, sealed: &[u8]) -> Result<()> {
    let changed = conn.execute(
        "INSERT INTO events (position, sealed) VALUES (?1, ?2)",
        params![position as i64, sealed],
    )?;
    exactly_one(changed, &format!("custody event {position}"))
}

/// A write to a custody row must change exactly one row: anything else
/// means something in the file (a trigger, say) interfered.
fn exactly_one(changed: usize, what: &str) -> Result<()> {
    if changed != 1 {
        return Err(Error::Integrity(Integrity::WriteInterfered {
            what: what.to_owned(),
            changed,
        }));
    }
    Ok(())
}

/// Every shard of the vault state: name and sealed chains, by name.
pub(crate) fn state_shards(conn: &Connection) -> Result<Vec<(String, Vec<u8>)>> {
    let mut stmt =
        conn.prepare_cached("SELECT shard, sealed FROM vault_state_shards ORDER BY shard")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Writes (or replaces) one shard of the vault state.
pub(crate) fn set_state_shard(conn: &Connection, name: &str, sealed: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO vault_state_shards (shard, sealed) VALUES (?1, ?2)
         ON CONFLICT (shard) DO UPDATE SET sealed = excluded.sealed",
    )?
    .execute(params![name, sealed])?;
    Ok(())
}

/// Deletes one shard of the vault state.
pub(crate) fn delete_state_shard(conn: &Connection, name: &str) -> Result<()> {
    conn.execute("DELETE FROM vault_state_shards WHERE shard = ?1", [name])?;
    Ok(())
}

/// Deletes every shard of the vault state (before writing them all).
pub(crate) fn clear_state_shards(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM vault_state_shards", [])?;
    Ok(())
}

/// Whether the vault has a state row yet (without reading it).
pub(crate) fn vault_state_exists(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM vault_state WHERE singleton = 1)",
        [],
        |r| r.get(0),
    )?)
}

/// The sealed vault state, if there is one.
pub fn vault_state(conn: &Connection) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT state FROM vault_state WHERE singleton = 1",
            [],
            |r| r.get(0),
        )
        .optional()?)
}

/// Writes the sealed vault state.
pub(crate) fn set_vault_state(conn: &Connection, sealed: &[u8]) -> Result<()> {
    let changed = conn.execute(
        "INSERT INTO vault_state (singleton, state) VALUES (1, ?1)
         ON CONFLICT (singleton) DO UPDATE SET state = excluded.state",
        [sealed],
    )?;
    exactly_one(changed, "the vault state")
}

/// Number of rows left in the retired `custody_heads` table (version-1
/// per-record heads; empty once a vault is migrated).
pub(crate) fn legacy_head_count(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM custody_heads", [], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Removes every version-1 per-record head (at migration).
pub(crate) fn clear_legacy_heads(conn: &Connection) -> Result<()> {
    conn.execute("DELETE FROM custody_heads", [])?;
    Ok(())
}

/// How many versions a record has stored, and the highest.
pub(crate) fn version_count(conn: &Connection, id: &Id) -> Result<(u64, u64)> {
    let (n, max): (i64, Option<i64>) = conn.query_row(
        "SELECT COUNT(*), MAX(version) FROM record_versions WHERE record_id = ?1",
        [id.to_hex()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((
        u64::try_from(n).unwrap_or(0),
        u64::try_from(max.unwrap_or(0)).unwrap_or(0),
    ))
}

/// One event by position.
pub(crate) fn event_at(conn: &Connection, position: u64) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT sealed FROM events WHERE position = ?1",
            [position as i64],
            |r| r.get(0),
        )
        .optional()?)
}

/// Streams every event in position order.
pub(crate) fn for_each_event(
    conn: &Connection,
    mut visit: impl FnMut(u64, &[u8]) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn.prepare("SELECT position, sealed FROM events ORDER BY position")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let p: i64 = row.get(0)?;
        let data = row.get_ref(1)?.as_blob().map_err(|_| {
            Error::Integrity(Integrity::EventMalformed {
                position: Some(u64::try_from(p).unwrap_or(0)),
                problem: "is not a blob".into(),
            })
        })?;
        visit(u64::try_from(p).unwrap_or(0), data)?;
    }
    Ok(())
}

/// Stores the sealed original custody history of an imported record.
pub(crate) fn insert_imported_custody(conn: &Connection, id: &Id, history: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT INTO imported_custody (record_id, history) VALUES (?1, ?2)",
        params![id.to_hex(), history],
    )?;
    Ok(())
}

/// The sealed history an imported record brought, if it has one.
pub fn imported_custody(conn: &Connection, id: &Id) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row(
            "SELECT history FROM imported_custody WHERE record_id = ?1",
            [id.to_hex()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Ids of every record with an imported history.
pub(crate) fn imported_custody_records(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT record_id FROM imported_custody ORDER BY record_id")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(ids)
}

/// Inserts a record with a given id (import), failing if it exists.
pub(crate) fn record_exists(conn: &Connection, id: &Id) -> Result<bool> {
    Ok(record_kind(conn, id)?.is_some())
}
