//! The vault file: one SQLite database opened through rusqlite (bundled
//! SQLite), its connection settings, schema migrations and transactions.
//!
//! This module knows tables and bytes, not meaning: it stores sealed blobs
//! and plaintext ids, and never sees a key. Opening something that is not a
//! Custodia vault is detected from SQLite's `application_id` *before* any
//! write, so a wrong path is never modified.

pub mod index;
pub mod records;
pub mod rows;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};

use crate::error::{Error, Integrity, Invalid, Result};
use crate::format::{Id, SQLITE_APPLICATION_ID};

/// How long a command waits for another process's write to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// The SQLite page size of vaults created from now on (a vault keeps the
/// size it was created with; older ones have SQLite's default, 4096).
/// SQLite reads and writes one page per system call: at 4096 bytes a
/// 1 GiB exhibit took 262,000 `pwrite64` calls and 1.5 s of system time;
/// at 16,384 about 66,000 and 0.6 s (issue 15, `scripts/bench.sh`).
/// 65,536 measured a little faster still (0.5 s), but an empty vault then
/// takes 1.4 MiB (every table a page) and small transactions journal
/// 64 KiB pages: the full-disk tests' 1 MiB file system no longer holds one.
pub const NEW_VAULT_PAGE_SIZE: i64 = 16384;

/// An open vault database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Creates a new vault file at `path` atomically: the database is built
    /// under a temporary name in the same directory, `init` fills it inside
    /// one transaction, and it is renamed into place only when complete.
    /// Refuses to replace an existing file unless `force`.
    pub fn create(
        path: &Path,
        force: bool,
        init: impl FnOnce(&Transaction<'_>) -> Result<()>,
    ) -> Result<Store> {
        if path.exists() && !force {
            return Err(Error::AlreadyExists(path.to_owned()));
        }
        if path.is_dir() {
            return Err(Error::Invalid(Invalid::Path {
                path: path.to_owned(),
                problem: "is a directory, not a vault file".into(),
            }));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("cannot create directory {}", dir.display()), e))?;
        let tag = hex::encode(crate::crypto::random_bytes::<6>()?);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "vault".into());
        let tmp = dir.join(format!(".{file_name}.creating-{tag}"));
        let result = (|| -> Result<()> {
            let mut conn = Connection::open_with_flags(
                &tmp,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            restrict_permissions(&tmp)?;
            // The page size only takes effect before the first page is
            // written: first of all (see NEW_VAULT_PAGE_SIZE).
            conn.pragma_update(None, "page_size", NEW_VAULT_PAGE_SIZE)?;
            // auto_vacuum only takes effect before the first page is written.
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
            conn.pragma_update(None, "application_id", SQLITE_APPLICATION_ID)?;
            configure(&conn)?;
            migrate(&mut conn, 0)?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            init(&tx)?;
            tx.commit()?;
            conn.close().map_err(|(_, e)| Error::from(e))?;
            if force {
                // The rename below replaces the old file atomically; only its
                // journal (and any WAL of an older format) must go, or SQLite
                // could try to apply them to the new file.
                for suffix in ["-journal", "-wal", "-shm"] {
                    let mut p = path.as_os_str().to_owned();
                    p.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(p));
                }
            }
            std::fs::rename(&tmp, path)
                .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
            // The temporary file's (empty, truncated) journal stays behind.
            let mut journal = tmp.as_os_str().to_owned();
            journal.push("-journal");
            let _ = std::fs::remove_file(PathBuf::from(journal));
            Ok(())
        })();
        if result.is_err() {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut p = tmp.as_os_str().to_owned();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
        result?;
        Store::open(path)
    }

    /// Opens an existing vault, checking it is one, and applying any
    /// forward migrations.
    pub fn open(path: &Path) -> Result<Store> {
        if !path.exists() {
            return Err(Error::NoVault(path.to_owned()));
        }
        if !path.is_file() {
            return Err(Error::NotAVault(path.to_owned()));
        }
        let mut conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|_| Error::NotAVault(path.to_owned()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // A file whose header names it a Custodia vault but that SQLite
        // cannot read is damage (a truncated or half-copied file), not a
        // stranger: exit 4, not 1.
        let claims_vault = header_claims_vault(path);
        let damaged = |e: rusqlite::Error| {
            if is_busy(&e) {
                return Error::Busy;
            }
            Error::Integrity(Integrity::Unreadable {
                path: path.to_owned(),
                detail: e.to_string(),
            })
        };
        let not_a_vault = |e: rusqlite::Error| {
            if is_busy(&e) {
                Error::Busy
            } else if claims_vault {
                damaged(e)
            } else {
                Error::NotAVault(path.to_owned())
            }
        };
        let app_id: i32 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(not_a_vault)?;
        if app_id != SQLITE_APPLICATION_ID {
            return Err(Error::NotAVault(path.to_owned()));
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(damaged)?;
        if version > schema::CURRENT_VERSION {
            return Err(Error::FormatTooNew {
                path: path.to_owned(),
                found: version,
                supported: schema::CURRENT_VERSION,
            });
        }
        configure(&conn)?;
        if version < schema::CURRENT_VERSION {
            migrate(&mut conn, version)?;
        }
        check_schema(&conn)?;
        let format: Option<String> = conn
            .query_row("SELECT format FROM vault WHERE singleton = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(damaged)?;
        if format.as_deref() != Some(crate::format::VAULT_FORMAT_NAME) {
            return Err(Error::NotAVault(path.to_owned()));
        }
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for reads.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Starts a write transaction, taking the write lock at once so two
    /// writers never interleave (the second waits up to [`BUSY_TIMEOUT`],
    /// then gets [`Error::Busy`]).
    pub fn write(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Starts a read transaction: a consistent snapshot for multi-query reads.
    pub fn read(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?)
    }

    /// The vault id (plaintext by design).
    pub fn vault_id(&self) -> Result<Id> {
        let bytes: Vec<u8> =
            self.conn
                .query_row("SELECT vault_id FROM vault WHERE singleton = 1", [], |r| {
                    r.get(0)
                })?;
        Ok(Id::from_slice(&bytes)?)
    }

    /// Writes a consistent copy of the vault to `target` (which must not
    /// exist): `VACUUM INTO` a temporary name beside it, then a rename.
    pub(crate) fn backup_to(&self, target: &Path, force: bool) -> Result<()> {
        if target.exists() && !force {
            return Err(Error::AlreadyExists(target.to_owned()));
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let tag = hex::encode(crate::crypto::random_bytes::<6>()?);
        let tmp = dir.join(format!(".custodia-backup-{tag}"));
        let tmp_text = tmp.to_str().ok_or_else(|| {
            Error::Invalid(Invalid::Path {
                path: tmp.clone(),
                problem: "is not valid UTF-8 (the backup path)".into(),
            })
        })?;
        // Created empty and private first (VACUUM INTO fills an empty file),
        // and removed if we are interrupted.
        let mut tmp_journal = tmp.as_os_str().to_owned();
        tmp_journal.push("-journal");
        let tmp_journal = PathBuf::from(tmp_journal);
        crate::files::register(&tmp);
        crate::files::register(&tmp_journal);
        let result = crate::files::create_private(&tmp)
            .map_err(|e| Error::io(format!("cannot create a file in {}", dir.display()), e))
            .and_then(|_| {
                self.conn
                    .execute("VACUUM INTO ?1", [tmp_text])
                    .map_err(Error::from)
            })
            .and_then(|_| {
                restrict_permissions(&tmp)?;
                std::fs::rename(&tmp, target)
                    .map_err(|e| Error::io(format!("cannot write {}", target.display()), e))
            });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        let _ = std::fs::remove_file(&tmp_journal);
        crate::files::unregister(&tmp);
        crate::files::unregister(&tmp_journal);
        result
    }

    /// Rewrites the file without its free pages (`VACUUM`), so erased
    /// content leaves no free page behind. Runs outside any transaction.
    pub(crate) fn compact(&mut self) -> Result<()> {
        self.conn.execute_batch("VACUUM")?;
        Ok(())
    }

    /// Size in bytes of the vault file.
    pub fn file_size(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Whether the file's SQLite header carries Custodia's application id
/// (bytes 68–71), read directly: SQLite itself cannot answer for a file
/// whose schema pages are missing.
fn header_claims_vault(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 72];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && header.starts_with(b"SQLite format 3\0")
        && header[68..72] == SQLITE_APPLICATION_ID.to_be_bytes()
}

/// Per-connection settings (SPEC §2, issue 2): a rollback journal with
/// full fsync, a busy timeout, secure delete, temporary data in memory only.
///
/// Issue 2 proposed WAL. Measured on a 1 GiB exhibit (scripts/bench.sh),
/// WAL writes every evidence byte twice (into the log, then checkpointed
/// into the file) and took 4.8 s against 2.0 s for a rollback journal,
/// which journals only pages that existed before the transaction (new
/// chunk pages are appended, not journaled). Both are atomic and durable
/// with `synchronous=FULL`; the rollback journal also keeps every committed
/// byte in the one vault file, so copying it is a complete backup even
/// after a crash (with WAL, committed data can sit in `-wal`). The price is
/// concurrency: a writer that commits or spills its cache blocks readers,
/// who wait up to [`BUSY_TIMEOUT`] and then get [`Error::Busy`] (SPEC §7).
/// `TRUNCATE` empties the journal at commit instead of deleting it.
fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Defensive mode: no writable_schema, no journal-mode tricks, no
    // direct writes to shadow tables, whatever SQL the file itself holds.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = TRUNCATE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("truncate") {
        return Err(Error::Internal(format!(
            "the vault could not be switched to its journal mode (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "trusted_schema", "OFF")?;
    conn.pragma_update(None, "cell_size_check", "ON")?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(())
}

/// Refuses a vault whose schema is not exactly the one this build makes:
/// a trigger, view, index or table added with `sqlite3` could silently
/// drop or rewrite custody rows (a `BEFORE INSERT … RAISE(IGNORE)` trigger
/// on `events` turns the log off), so any difference is tampering (exit 4),
/// named in the message. `check` reports the same through this function.
pub(crate) fn check_schema(conn: &Connection) -> Result<()> {
    let found = schema::objects(conn)?;
    let expected = schema::expected_objects()?;
    if found == expected {
        return Ok(());
    }
    let describe = |o: &schema::SchemaObject| format!("{} {:?} (on {:?})", o.kind, o.name, o.table);
    let mut differences = Vec::new();
    for o in &found {
        match expected
            .iter()
            .find(|e| e.kind == o.kind && e.name == o.name)
        {
            None => differences.push(format!("an unexpected {} was added", describe(o))),
            Some(e) if e != o => differences.push(format!("{} was altered", describe(o))),
            Some(_) => {}
        }
    }
    for e in &expected {
        if !found.iter().any(|o| o.kind == e.kind && o.name == e.name) {
            differences.push(format!("{} is missing", describe(e)));
        }
    }
    Err(Error::Integrity(Integrity::Schema { differences }))
}

fn migrate(conn: &mut Connection, from: i64) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Re-read under the lock: another process may have migrated meanwhile.
    let current: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let start = current.max(from);
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(start as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        Error::io(
            format!("cannot restrict permissions of {}", path.display()),
            e,
        )
    })
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> Result<()> {
    Ok(())
}
