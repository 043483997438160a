//! Typed rows of the vault tables and the queries that read and write them.
//! Functions take a `&Connection` so they work inside a transaction too
//! (`Transaction` dereferences to `Connection`).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::crypto::kdf::KdfParams;
use crate::error::{Error, Result};
use crate::format::Id;

/// The single row of the `vault` table.
#[derive(Clone, Debug)]
pub struct VaultRow {
    /// Random vault id (plaintext).
    pub vault_id: Id,
    /// `calibrated` or `insecure-fast`.
    pub kdf_profile: String,
    /// Parameters new passphrase slots get.
    pub kdf_default: KdfParams,
    /// Sealed vault settings (its name, creation time).
    pub settings: Vec<u8>,
}

/// Which kind of key slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// Opened by a user's passphrase through Argon2id.
    Passphrase,
    /// Opened by the recovery key.
    Recovery,
}

impl SlotKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::Passphrase => "passphrase",
            SlotKind::Recovery => "recovery",
        }
    }
}

/// One row of `key_slots`.
#[derive(Clone, Debug)]
pub struct SlotRow {
    /// Random slot id.
    pub slot_id: Id,
    /// Passphrase or recovery.
    pub kind: SlotKind,
    /// The user a passphrase slot belongs to.
    pub user_id: Option<Id>,
    /// Argon2id parameters (passphrase slots).
    pub kdf: Option<KdfParams>,
    /// KDF salt.
    pub salt: Vec<u8>,
    /// The master key sealed under the slot key.
    pub wrapped_master: Vec<u8>,
    /// The user's Ed25519 secret sealed under their own key (passphrase slots).
    pub wrapped_signing_key: Option<Vec<u8>>,
}

/// One row of `users`.
#[derive(Clone, Debug)]
pub struct UserRow {
    /// Random user id.
    pub user_id: Id,
    /// Order of creation; the lowest active one is the default user.
    pub position: i64,
    /// Sealed profile (name, public keys, status).
    pub profile: Vec<u8>,
}

fn id_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Id> {
    let bytes: Vec<u8> = row.get(idx)?;
    Id::from_slice(&bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Blob, Box::new(e))
    })
}

fn u32_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<u32>> {
    // Out-of-range values saturate, so that the KDF bounds check (not a
    // conversion error) is what rejects a hostile slot.
    let v: Option<i64> = row.get(idx)?;
    Ok(v.map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX)))
}

/// Writes the vault row (at creation).
pub(crate) fn insert_vault(conn: &Connection, row: &VaultRow) -> Result<()> {
    conn.execute(
        "INSERT INTO vault (singleton, format, vault_id, kdf_profile, kdf_memory_kib,
             kdf_time_cost, kdf_parallelism, settings)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            crate::format::VAULT_FORMAT_NAME,
            &row.vault_id.0[..],
            row.kdf_profile,
            row.kdf_default.memory_kib,
            row.kdf_default.time_cost,
            row.kdf_default.parallelism,
            row.settings
        ],
    )?;
    Ok(())
}

/// Reads the vault row.
pub fn vault(conn: &Connection) -> Result<VaultRow> {
    let row = conn.query_row(
        "SELECT vault_id, kdf_profile, kdf_memory_kib, kdf_time_cost, kdf_parallelism, settings
         FROM vault WHERE singleton = 1",
        [],
        |r| {
            Ok(VaultRow {
                vault_id: id_col(r, 0)?,
                kdf_profile: r.get(1)?,
                kdf_default: KdfParams {
                    memory_kib: u32_col(r, 2)?.unwrap_or(0),
                    time_cost: u32_col(r, 3)?.unwrap_or(0),
                    parallelism: u32_col(r, 4)?.unwrap_or(0),
                },
                settings: r.get(5)?,
            })
        },
    )?;
    Ok(row)
}

/// Adds a key slot.
pub(crate) fn insert_slot(conn: &Connection, slot: &SlotRow) -> Result<()> {
    conn.execute(
        "INSERT INTO key_slots (slot_id, kind, user_id, kdf_memory_kib, kdf_time_cost,
             kdf_parallelism, salt, wrapped_master, wrapped_signing_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            &slot.slot_id.0[..],
            slot.kind.as_str(),
            slot.user_id.map(|u| u.0.to_vec()),
            slot.kdf.map(|k| k.memory_kib),
            slot.kdf.map(|k| k.time_cost),
            slot.kdf.map(|k| k.parallelism),
            slot.salt,
            slot.wrapped_master,
            slot.wrapped_signing_key,
        ],
    )?;
    Ok(())
}

/// Every slot of one kind; passphrase slots in their users' order.
pub fn slots(conn: &Connection, kind: SlotKind) -> Result<Vec<SlotRow>> {
    let mut stmt = conn.prepare(
        "SELECT s.slot_id, s.user_id, s.kdf_memory_kib, s.kdf_time_cost, s.kdf_parallelism,
                s.salt, s.wrapped_master, s.wrapped_signing_key
         FROM key_slots s LEFT JOIN users u ON u.user_id = s.user_id
         WHERE s.kind = ?1
         ORDER BY u.position, s.slot_id",
    )?;
    let rows = stmt.query_map([kind.as_str()], |r| {
        let user: Option<Vec<u8>> = r.get(1)?;
        let memory = u32_col(r, 2)?;
        Ok(SlotRow {
            slot_id: id_col(r, 0)?,
            kind,
            user_id: user.and_then(|u| Id::from_slice(&u).ok()),
            kdf: memory
                .map(|m| -> rusqlite::Result<KdfParams> {
                    Ok(KdfParams {
                        memory_kib: m,
                        time_cost: u32_col(r, 3)?.unwrap_or(0),
                        parallelism: u32_col(r, 4)?.unwrap_or(0),
                    })
                })
                .transpose()?,
            salt: r.get(5)?,
            wrapped_master: r.get(6)?,
            wrapped_signing_key: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Whether a key slot with this id is in the file.
pub(crate) fn slot_exists(conn: &Connection, slot: &Id) -> Result<bool> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM key_slots WHERE slot_id = ?1",
        [&slot.0[..]],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// Removes every passphrase slot of a user (returns how many).
pub(crate) fn delete_user_slots(conn: &Connection, user: &Id) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM key_slots WHERE kind = 'passphrase' AND user_id = ?1",
        [&user.0[..]],
    )?)
}

/// Adds a user.
pub(crate) fn insert_user(conn: &Connection, user: &UserRow) -> Result<()> {
    conn.execute(
        "INSERT INTO users (user_id, position, profile) VALUES (?1, ?2, ?3)",
        params![&user.user_id.0[..], user.position, user.profile],
    )?;
    Ok(())
}

/// Replaces a user's sealed profile.
pub(crate) fn update_user_profile(conn: &Connection, user: &Id, profile: &[u8]) -> Result<()> {
    let n = conn.execute(
        "UPDATE users SET profile = ?2 WHERE user_id = ?1",
        params![&user.0[..], profile],
    )?;
    if n != 1 {
        return Err(Error::NotFound("user not found".into()));
    }
    Ok(())
}

/// Every user, in order of creation.
pub fn users(conn: &Connection) -> Result<Vec<UserRow>> {
    let mut stmt =
        conn.prepare("SELECT user_id, position, profile FROM users ORDER BY position")?;
    let rows = stmt.query_map([], |r| {
        Ok(UserRow {
            user_id: id_col(r, 0)?,
            position: r.get(1)?,
            profile: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The next free user position.
pub(crate) fn next_user_position(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(position), 0) + 1 FROM users",
        [],
        |r| r.get(0),
    )?)
}

/// One user's row.
pub fn user(conn: &Connection, user: &Id) -> Result<Option<UserRow>> {
    Ok(conn
        .query_row(
            "SELECT user_id, position, profile FROM users WHERE user_id = ?1",
            [&user.0[..]],
            |r| {
                Ok(UserRow {
                    user_id: id_col(r, 0)?,
                    position: r.get(1)?,
                    profile: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// Plaintext counts that SECURITY.md says may leak: rows per table/kind.
pub fn counts(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for (label, sql) in [
        ("users", "SELECT COUNT(*) FROM users"),
        ("key slots", "SELECT COUNT(*) FROM key_slots"),
        ("cases", "SELECT COUNT(*) FROM records WHERE kind = 'case'"),
        (
            "statements",
            "SELECT COUNT(*) FROM records WHERE kind = 'statement'",
        ),
        (
            "evidence items",
            "SELECT COUNT(*) FROM records WHERE kind = 'evidence'",
        ),
        ("custody events", "SELECT COUNT(*) FROM events"),
    ] {
        out.push((label.to_owned(), conn.query_row(sql, [], |r| r.get(0))?));
    }
    Ok(out)
}

/// Replaces the sealed settings of the vault row (exactly one row).
pub fn update_settings(conn: &Connection, sealed: &[u8]) -> Result<()> {
    let changed = conn.execute(
        "UPDATE vault SET settings = ?1 WHERE singleton = 1",
        rusqlite::params![sealed],
    )?;
    if changed != 1 {
        return Err(crate::error::Error::Integrity(
            crate::error::Integrity::WriteInterfered {
                what: "the vault settings".into(),
                changed,
            },
        ));
    }
    Ok(())
}
