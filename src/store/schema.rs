//! The SQLite schema and its forward migrations.
//!
//! `MIGRATIONS[i]` takes a vault from schema version `i` to `i + 1`
//! (`PRAGMA user_version`). Migrations only ever append; a released one is
//! never edited. Every column that could say something about testimony is a
//! sealed blob (see `docs/format.md`).

/// The schema version this build writes and the newest it reads.
pub const CURRENT_VERSION: i64 = MIGRATIONS.len() as i64;

/// Forward migrations, in order.
pub const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the first format.
    r#"
CREATE TABLE vault (
    singleton       INTEGER PRIMARY KEY CHECK (singleton = 1),
    format          TEXT    NOT NULL,
    vault_id        BLOB    NOT NULL CHECK (length(vault_id) = 16),
    kdf_profile     TEXT    NOT NULL CHECK (kdf_profile IN ('calibrated', 'insecure-fast')),
    kdf_memory_kib  INTEGER NOT NULL,
    kdf_time_cost   INTEGER NOT NULL,
    kdf_parallelism INTEGER NOT NULL,
    settings        BLOB    NOT NULL
);

CREATE TABLE users (
    user_id  BLOB    PRIMARY KEY CHECK (length(user_id) = 16),
    position INTEGER NOT NULL UNIQUE,
    profile  BLOB    NOT NULL
);

CREATE TABLE key_slots (
    slot_id             BLOB    PRIMARY KEY CHECK (length(slot_id) = 16),
    kind                TEXT    NOT NULL CHECK (kind IN ('passphrase', 'recovery')),
    user_id             BLOB    REFERENCES users (user_id),
    kdf_memory_kib      INTEGER,
    kdf_time_cost       INTEGER,
    kdf_parallelism     INTEGER,
    salt                BLOB    NOT NULL,
    wrapped_master      BLOB    NOT NULL,
    wrapped_signing_key BLOB,
    CHECK ((kind = 'passphrase') = (user_id IS NOT NULL AND wrapped_signing_key IS NOT NULL
                                    AND kdf_memory_kib IS NOT NULL))
);

CREATE TABLE records (
    record_id TEXT    PRIMARY KEY CHECK (length(record_id) = 32),
    kind      TEXT    NOT NULL CHECK (kind IN ('case', 'statement', 'evidence')),
    position  INTEGER NOT NULL UNIQUE
);

CREATE TABLE record_versions (
    record_id TEXT    NOT NULL REFERENCES records (record_id),
    version   INTEGER NOT NULL CHECK (version >= 1),
    overview  BLOB    NOT NULL,
    body      BLOB,
    PRIMARY KEY (record_id, version)
);

-- The latest version's folded search text of each statement, apart from
-- the bodies so that a search reads only these.
CREATE TABLE search_texts (
    record_id TEXT    PRIMARY KEY REFERENCES records (record_id),
    version   INTEGER NOT NULL,
    sealed    BLOB    NOT NULL
);

CREATE TABLE record_seals (
    record_id TEXT PRIMARY KEY REFERENCES records (record_id),
    seal      BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE evidence_chunks (
    record_id   TEXT    NOT NULL REFERENCES records (record_id),
    chunk_index INTEGER NOT NULL CHECK (chunk_index >= 0),
    data        BLOB    NOT NULL,
    PRIMARY KEY (record_id, chunk_index)
);

CREATE TABLE events (
    position INTEGER PRIMARY KEY CHECK (position >= 1),
    sealed   BLOB    NOT NULL
);

CREATE TABLE imported_custody (
    record_id TEXT PRIMARY KEY REFERENCES records (record_id),
    history   BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE custody_heads (
    record_id TEXT PRIMARY KEY,
    head      BLOB NOT NULL
) WITHOUT ROWID;
"#,
    // 1 -> 2: the sealed vault state (docs/format.md, "The vault state")
    // replaces the per-record heads of `custody_heads`, which stays empty
    // from the first unlock by a version-2 build on.
    r#"
CREATE TABLE vault_state (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    state     BLOB    NOT NULL
);
"#,
    // 2 -> 3: the sealed search index (docs/format.md, "The search index"):
    // one row per block of statement positions, built at the first unlock
    // by a version-3 build and kept in step by every write of a search
    // text; the shards of the vault state (format 3), written at the
    // next write; and an index of the records by kind.
    r#"
CREATE TABLE search_index (
    block  INTEGER PRIMARY KEY CHECK (block >= 0),
    sealed BLOB    NOT NULL
);

-- The vault state's chains in shards beside its head (docs/format.md,
-- "The vault state"), so that a write rewrites only what it moved.
CREATE TABLE vault_state_shards (
    shard  TEXT PRIMARY KEY CHECK (length(shard) BETWEEN 1 AND 2),
    sealed BLOB NOT NULL
) WITHOUT ROWID;

-- Lists of one kind of record (cases, exhibits) without reading the rows
-- of every statement.
CREATE INDEX records_by_kind ON records (kind, position);
"#,
];

/// One object of the schema as `sqlite_schema` lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SchemaObject {
    /// `table`, `index`, `trigger` or `view`.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// The table it belongs to.
    pub table: String,
    /// Its SQL text (none for SQLite's automatic indexes).
    pub sql: Option<String>,
}

/// Every object of a database's schema, sorted.
pub(crate) fn objects(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<SchemaObject>> {
    let mut stmt = conn.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema")?;
    let mut out = stmt
        .query_map([], |r| {
            Ok(SchemaObject {
                kind: r.get(0)?,
                name: r.get(1)?,
                table: r.get(2)?,
                sql: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    out.sort();
    Ok(out)
}

/// The exact schema a vault of [`CURRENT_VERSION`] has: the objects an
/// empty in-memory database gets from [`MIGRATIONS`].
pub(crate) fn expected_objects() -> rusqlite::Result<Vec<SchemaObject>> {
    let conn = rusqlite::Connection::open_in_memory()?;
    for sql in MIGRATIONS {
        conn.execute_batch(sql)?;
    }
    objects(&conn)
}
