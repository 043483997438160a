//! A vault as a whole: creating one, unlocking it with a passphrase or the
//! recovery key, and managing its users and their key slots.
//!
//! The state is a type: a [`Vault<Locked>`] can only report what the file
//! shows anyone (format, KDF parameters, counts); a [`Vault<Unlocked>`] holds
//! the master key and the acting user's signing key, and is what records,
//! audits and bundles are built on. Dropping it wipes the keys.
//!
//! A write or read runs in a [`Session`]: the purpose subkeys, the acting
//! user, and the vault state as the transaction sees it; it appends custody
//! events ([`Session::append`]) and seals record fields ([`sealed`]). User
//! management (add, remove, passphrase change, recovery, pinned signers) is
//! here too, each change a signed event through [`crate::custody`].

pub(crate) mod index;
pub mod sealed;
pub mod signers;
pub mod slots;
pub mod users;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use crate::crypto::aead::{open_value, seal_value};
use crate::crypto::kdf::{self, KdfParams};
use crate::crypto::keys::{MasterKey, Purpose, SymmetricKey};
use crate::crypto::random_id;
use crate::crypto::recovery::RecoveryKey;
use crate::crypto::signing::UserSigningKey;
use crate::custody::state::{self, Loaded, UserState, VaultState};
use crate::custody::{self, now_utc, Action, Author, Event, LogHead, LogKeys};
use crate::error::{Error, Integrity, Invalid, Result};
use crate::format::{Binding, Id, Kind};
use crate::store::records as rows_records;
use crate::store::rows::{self, SlotKind, VaultRow};
use crate::store::{schema, Store};
use users::{ActiveUser, UserProfile};

/// Marker: the vault's keys are not available.
#[derive(Debug)]
pub struct Locked;

/// The keys of an unlocked vault and the user acting on it.
pub struct Unlocked {
    master: MasterKey,
    keys: KeyRing,
    user: ActiveUser,
    notes: Vec<String>,
    via: Option<Channel>,
    /// The search index as the last search in this process read it, for
    /// the next search of a long session (shell, desk); see `index`.
    search_cache: Option<index::SearchCache>,
    /// The vault state as this process's last transaction left it, reused
    /// by the next while no other process has committed (see
    /// [`StateCache`]).
    state_cache: Option<StateCache>,
}

/// The vault state kept from one transaction of this process to the next.
/// SQLite's `PRAGMA data_version` changes when another connection commits
/// (never for this connection's own commits), so a state kept with the
/// version of its snapshot is exactly what the store would give while the
/// version is the same; with a large vault this saves decrypting and
/// parsing the whole state at every command of a long session, and
/// several times per command. A failed transaction drops it.
struct StateCache {
    data_version: i64,
    loaded: Loaded,
}

impl StateCache {
    /// Keeps `loaded` if it is the plain stored state (not a rebuilt or
    /// pre-migration fold, not moved without being written).
    fn keep(data_version: i64, loaded: Loaded) -> Option<StateCache> {
        (loaded.ready && !loaded.rebuilt && !loaded.needs_migration && !loaded.dirty).then_some(
            StateCache {
                data_version,
                loaded,
            },
        )
    }

    /// The kept state if the snapshot is still of `data_version`.
    fn reuse(cache: Option<StateCache>, data_version: i64) -> Option<Loaded> {
        cache
            .filter(|c| c.data_version == data_version)
            .map(|c| c.loaded)
    }
}

/// The `data_version` of the caller's transaction's snapshot: a row is
/// read first so that the snapshot (and its read lock) is taken.
fn snapshot_version(tx: &rusqlite::Connection) -> Result<i64> {
    tx.query_row("SELECT singleton FROM vault", [], |_| Ok(()))?;
    Ok(tx.pragma_query_value(None, "data_version", |r| r.get(0))?)
}

/// Through which interface an unlocked vault acts, when it is not the
/// command line: every custody event it appends then says so in its
/// details (`"via": "desk"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// The local web interface (`custodia desk`).
    Desk,
}

impl Channel {
    /// The word written in event details.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Desk => "desk",
        }
    }
}

/// The purpose subkeys an unlocked vault uses, derived once.
pub struct KeyRing {
    /// Case, statement and evidence metadata, statement bodies.
    pub records: SymmetricKey,
    /// Evidence chunks.
    pub evidence: SymmetricKey,
    /// Custody events and chain heads.
    pub events: SymmetricKey,
}

impl KeyRing {
    fn derive(master: &MasterKey) -> Result<KeyRing> {
        Ok(KeyRing {
            records: master.subkey(Purpose::Records)?,
            evidence: master.subkey(Purpose::Evidence)?,
            events: master.subkey(Purpose::Events)?,
        })
    }
}

/// What a write needs besides the transaction: who acts, with which keys,
/// and the vault state as this transaction sees it (loaded at first use,
/// written back once by [`Vault::write`] before it commits).
pub struct Session<'a> {
    /// The vault's id.
    pub vault_id: Id,
    /// Purpose subkeys.
    pub keys: &'a KeyRing,
    /// The acting user.
    pub user: &'a ActiveUser,
    /// The acting user's minisign key id (hex).
    pub key_id: String,
    /// The interface acting, if not the command line ([`Channel`]).
    pub via: Option<Channel>,
    state: Mutex<Loaded>,
    /// The search-index blocks this transaction touched (`index`).
    index: Mutex<index::IndexDraft>,
}

impl<'a> Session<'a> {
    /// A session acting as `user`.
    pub fn new(vault_id: Id, keys: &'a KeyRing, user: &'a ActiveUser) -> Session<'a> {
        Session {
            vault_id,
            keys,
            user,
            key_id: crate::formats::minisign::PublicKey::new(user.signing.verifying_key())
                .key_id_hex(),
            via: None,
            state: Mutex::new(Loaded::default()),
            index: Mutex::new(index::IndexDraft::default()),
        }
    }

    /// This session acting through `via` ([`Channel`]).
    fn via(mut self, via: Option<Channel>) -> Session<'a> {
        self.via = via;
        self
    }

    /// A session whose state is `loaded` already.
    fn with_state(mut self, loaded: Loaded) -> Session<'a> {
        self.state = Mutex::new(loaded);
        self
    }

    /// The state as the session leaves it.
    fn into_loaded(self) -> Loaded {
        self.state.into_inner().unwrap_or_default()
    }

    /// The vault state as this transaction sees it, loaded on first use.
    pub fn state(&self, conn: &rusqlite::Connection) -> Result<MutexGuard<'_, Loaded>> {
        let mut slot = self
            .state
            .try_lock()
            .map_err(|_| Error::Internal("the vault state is already in use".into()))?;
        if !slot.ready {
            *slot = state::load(conn, &self.vault_id, &self.keys.events)?;
        }
        Ok(slot)
    }

    /// Where this vault's custody log is and its events key.
    pub(crate) fn log_keys(&self) -> LogKeys<'_> {
        LogKeys {
            vault_id: self.vault_id,
            events: &self.keys.events,
        }
    }

    /// The acting user as the signer of custody events.
    pub fn author(&self) -> Author<'_> {
        Author {
            name: &self.user.name,
            key_id: &self.key_id,
            signing: &self.user.signing,
        }
    }

    /// Appends a custody event about `record` (a chain of `kind`) in the
    /// caller's transaction, signed by the acting user; the vault state
    /// moves with it and is written by [`Vault::write`] before it commits.
    pub fn append(
        &self,
        conn: &rusqlite::Connection,
        kind: Kind,
        record: &Id,
        action: Action,
        mut details: serde_json::Value,
    ) -> Result<Event> {
        if let Some(via) = self.via {
            match &mut details {
                serde_json::Value::Object(map) => {
                    map.insert("via".into(), via.as_str().into());
                }
                serde_json::Value::Null => details = serde_json::json!({ "via": via.as_str() }),
                _ => {
                    return Err(Error::Internal(
                        "event details are not an object; cannot mark the channel".into(),
                    ))
                }
            }
        }
        let mut loaded = self.state(conn)?;
        custody::append(
            conn,
            self.log_keys(),
            &self.author(),
            &mut loaded,
            kind,
            record,
            action,
            details,
        )
    }

    /// The head of the vault-wide chain as this transaction sees it.
    pub(crate) fn log_head(&self, conn: &rusqlite::Connection) -> Result<LogHead> {
        Ok(custody::vault_head(&*self.state(conn)?))
    }

    /// Seals the search-index blocks this transaction touched, then
    /// writes the state back if an event moved it. Returns whether the
    /// index changed.
    fn flush(&self, conn: &rusqlite::Connection) -> Result<bool> {
        let index_changed = self.flush_index(conn)?;
        let mut loaded = self
            .state
            .try_lock()
            .map_err(|_| Error::Internal("the vault state is already in use".into()))?;
        if loaded.ready && loaded.dirty {
            state::save(conn, &self.vault_id, &self.keys.events, &mut loaded)?;
            loaded.dirty = false;
        }
        Ok(index_changed)
    }
}

/// A vault file, locked or unlocked.
pub struct Vault<S> {
    store: Store,
    row: VaultRow,
    state: S,
}

/// How strong the passphrase KDF of a new vault is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KdfChoice {
    /// At least RFC 9106's second recommendation, raised so unlocking takes
    /// about one second on this machine.
    Calibrated,
    /// Fixed parameters.
    Fixed(KdfParams),
    /// Deliberately weak parameters, for tests only.
    InsecureFast,
}

/// Options for [`Vault::create`].
#[derive(Clone, Debug)]
pub struct CreateOptions {
    /// A name for the vault (sealed).
    pub name: Option<String>,
    /// The first user's name.
    pub user: String,
    /// KDF strength.
    pub kdf: KdfChoice,
    /// Replace an existing file.
    pub force: bool,
}

/// What [`Vault::create`] returns: the open vault and the recovery key,
/// which exists nowhere else and must be shown to the user once.
pub struct Created {
    /// The new vault, unlocked as its first user.
    pub vault: Vault<Unlocked>,
    /// The recovery key.
    pub recovery_key: RecoveryKey,
}

/// Sealed vault settings. Being sealed, they are authenticated: the KDF
/// parameters new slots get are taken from here, never from the plaintext
/// copy in the `vault` row (which only serves `info`), so tampering with the
/// file cannot silently weaken future key slots.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// The vault's name, if given.
    pub name: Option<String>,
    /// When it was created (UTC, RFC 3339).
    pub created_at: String,
    /// Argon2id parameters for new passphrase slots.
    pub kdf: KdfParams,
    /// How long `custodia shell` (and the desk) stay unlocked without a
    /// command, in seconds (10 minutes when not set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<u64>,
    /// The vault's time zone, as a fixed offset from UTC (`+02:00`): the
    /// court report shows times in UTC and in this zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// The idle time when the settings give none: 10 minutes.
pub const DEFAULT_IDLE_SECONDS: u64 = 600;

/// Longest idle time a vault may be set to keep its keys: one day.
pub const MAX_IDLE_SECONDS: u64 = 24 * 60 * 60;

/// A change of settings (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct SettingsChange {
    /// A new idle time, in seconds.
    pub idle_seconds: Option<u64>,
    /// A new time zone (`+02:00`, `-05:30`, `UTC`).
    pub time_zone: Option<String>,
}

/// Parses a time zone as a fixed offset from UTC (`+02:00`, `-05:30`,
/// `UTC`/`Z`), or says what is wrong.
pub fn parse_time_zone(text: &str) -> Result<time::UtcOffset> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("utc") || t == "Z" {
        return Ok(time::UtcOffset::UTC);
    }
    time::UtcOffset::parse(
        t,
        time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]"),
    )
    .map_err(|_| {
        Error::Invalid(Invalid::Command {
            problem: format!(
                "{t:?} is not a time zone offset: give it as +02:00, -05:30 or UTC (a fixed \
                 offset; daylight saving time is not followed)"
            ),
        })
    })
}

impl Settings {
    /// The idle time in seconds (the default when not set).
    pub fn idle_seconds(&self) -> u64 {
        self.idle_seconds.unwrap_or(DEFAULT_IDLE_SECONDS)
    }

    /// The time zone, if one is set and readable.
    pub fn zone(&self) -> Option<time::UtcOffset> {
        self.time_zone
            .as_deref()
            .and_then(|z| parse_time_zone(z).ok())
    }
}

/// What anyone holding the file can see (SECURITY.md lists the same).
#[derive(Clone, Debug, Serialize)]
pub struct PublicInfo {
    /// Vault id.
    pub vault_id: String,
    /// Schema version.
    pub format_version: i64,
    /// `calibrated` or `insecure-fast`.
    pub kdf_profile: String,
    /// KDF parameters of each passphrase slot.
    pub passphrase_slots: Vec<KdfParams>,
    /// Number of recovery slots.
    pub recovery_slots: usize,
    /// Row counts.
    pub counts: Vec<(String, i64)>,
    /// File size in bytes.
    pub file_size: u64,
}

impl<S> Vault<S> {
    /// The vault id.
    pub fn id(&self) -> Id {
        self.row.vault_id
    }

    /// The vault file's path.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// Writes a consistent copy of the (encrypted) vault file.
    pub fn backup(&self, target: &Path, force: bool) -> Result<()> {
        self.store.backup_to(target, force)
    }

    /// What anyone holding the file can see.
    pub fn public_info(&self) -> Result<PublicInfo> {
        let conn = self.store.conn();
        let pass = rows::slots(conn, SlotKind::Passphrase)?;
        let rec = rows::slots(conn, SlotKind::Recovery)?;
        Ok(PublicInfo {
            vault_id: self.row.vault_id.to_hex(),
            format_version: schema::CURRENT_VERSION,
            kdf_profile: self.row.kdf_profile.clone(),
            passphrase_slots: pass.iter().filter_map(|s| s.kdf).collect(),
            recovery_slots: rec.len(),
            counts: rows::counts(conn)?,
            file_size: self.store.file_size(),
        })
    }
}

impl Vault<Locked> {
    /// Opens a vault file without unlocking it.
    pub fn open(path: &Path) -> Result<Vault<Locked>> {
        let store = Store::open(path)?;
        let row = rows::vault(store.conn())?;
        Ok(Vault {
            store,
            row,
            state: Locked,
        })
    }

    /// Creates a new vault: a random master key, a passphrase slot and an
    /// Ed25519 key for the first user, and a recovery slot. Its first two
    /// custody events record the vault (with its recovery slot) and the
    /// first user (with their slot), so the vault state is, from the
    /// start, the fold of its signed chain.
    pub fn create(path: &Path, passphrase: &str, options: &CreateOptions) -> Result<Created> {
        users::validate_user_name(&options.user)?;
        let user_name = users::normalize_user_name(&options.user);
        let (profile_name, params) = match options.kdf {
            KdfChoice::Calibrated => ("calibrated", kdf::calibrate()?),
            KdfChoice::Fixed(p) => {
                p.validate()?;
                ("calibrated", p)
            }
            KdfChoice::InsecureFast => ("insecure-fast", kdf::INSECURE_FAST),
        };
        let vault_id = random_id()?;
        let master = MasterKey::new(SymmetricKey::generate()?, vault_id);
        let user_id = random_id()?;
        let signing = UserSigningKey::generate()?;
        let recovery_key = RecoveryKey::generate()?;
        let created_at = now_utc();
        let settings = Settings {
            name: options.name.clone(),
            created_at: created_at.clone(),
            kdf: params,
            idle_seconds: None,
            time_zone: None,
        };
        let settings_blob = seal_value(
            &master.subkey(Purpose::Settings)?,
            &settings_binding(&vault_id),
            &settings,
        )?;
        // Event 1 records the vault, event 2 the first user; both are
        // signed with the first user's key.
        let profile = UserProfile::new(&user_name, &signing, &created_at, 1);
        let profile_blob = users::seal_profile(&master, &user_id, 1, &profile)?;
        let pass_slot = slots::passphrase_slot(&master, &user_id, passphrase, &params, &signing)?;
        let rec_slot = slots::recovery_slot(&master, &recovery_key)?;
        let row = VaultRow {
            vault_id,
            kdf_profile: profile_name.to_owned(),
            kdf_default: params,
            settings: settings_blob,
        };
        let keys = KeyRing::derive(&master)?;
        let user = ActiveUser {
            id: user_id,
            name: user_name,
            signing,
            profile,
        };
        let store = Store::create(path, options.force, |tx| {
            rows::insert_vault(tx, &row)?;
            rows::insert_user(
                tx,
                &rows::UserRow {
                    user_id,
                    position: 1,
                    profile: profile_blob,
                },
            )?;
            rows::insert_slot(tx, &pass_slot)?;
            rows::insert_slot(tx, &rec_slot)?;
            let session = Session::new(vault_id, &keys, &user).with_state(Loaded {
                ready: true,
                state: VaultState::empty(),
                ..Loaded::default()
            });
            session.append(
                tx,
                Kind::Vault,
                &vault_id,
                Action::Create,
                serde_json::json!({
                    "recovery_slots": [rec_slot.slot_id.to_hex()],
                    "recovery_slot_sha256": recovery_digests([&rec_slot]),
                    "fold_version": crate::formats::search::FOLD_VERSION,
                }),
            )?;
            session.append(
                tx,
                Kind::User,
                &user_id,
                Action::UserAdd,
                user_details(1, &pass_slot, &user.signing),
            )?;
            session.flush(tx).map(|_| ())
        })?;
        Ok(Created {
            vault: Vault::unlocked(store, row, master, user, Vec::new())?,
            recovery_key,
        })
    }

    /// Unlocks with a passphrase. Slots are tried in the users table's
    /// order (one KDF run when the first one opens). A slot that opens must
    /// be the one the sealed vault state lists for its user, who must be
    /// active and (without `user`) the vault's default user: a slot or
    /// profile put back from an old copy, a removed user brought back, or
    /// users reordered in the table are integrity errors (exit 4), not a
    /// way in. A slot whose KDF parameters exceed the vault's bounds is
    /// skipped with a note, never run.
    pub fn unlock(mut self, user: Option<&str>, passphrase: &str) -> Result<Vault<Unlocked>> {
        let candidates = rows::slots(self.store.conn(), SlotKind::Passphrase)?;
        let mut notes = Vec::new();
        let mut other_user_opened = false;
        for slot in &candidates {
            if let Err(why) = slots::check_slot_cost(slot, &self.row.kdf_default) {
                notes.push(why);
                continue;
            }
            let Some((master, signing)) =
                slots::open_passphrase_slot(&self.row.vault_id, slot, passphrase)?
            else {
                continue;
            };
            let Some(user_id) = slot.user_id else {
                continue;
            };
            let keys = KeyRing::derive(&master)?;
            if !rows_records::vault_state_exists(self.store.conn())?
                && state::load(self.store.conn(), &self.row.vault_id, &keys.events)?.needs_migration
            {
                self.migrate(&master, &keys, &user_id, &signing)?;
            }
            // One snapshot for the state and the rows it vouches for: another
            // process's passphrase change or user add must not look like
            // tampering half-way through.
            let tx = self.store.read()?;
            if !rows::slot_exists(&tx, &slot.slot_id)? {
                return Err(Error::Invalid(Invalid::User { problem: "your key slot was replaced while unlocking (a passphrase change in another \
                     process?); try again"
                        .into() }));
            }
            let version = snapshot_version(&tx)?;
            let loaded = state::load(&tx, &self.row.vault_id, &keys.events)?;
            let vault_state = &loaded.state;
            let user_state = authorize_slot(vault_state, &user_id, &slot.slot_id)?;
            let profile = users::load_profile(&tx, &master, &user_id, user_state.profile_version)?;
            match user {
                Some(wanted) if profile.name != users::normalize_user_name(wanted) => continue,
                Some(_) => {}
                None => {
                    let is_default = vault_state.default_user().map(|u| u.id.as_str())
                        == Some(user_id.to_hex().as_str());
                    if !is_default {
                        other_user_opened = true;
                        continue;
                    }
                }
            }
            check_user_rows(&tx, vault_state)?;
            check_settings_row(&self.row, vault_state)?;
            drop(tx);
            users::check_signing_key(&profile, &signing)?;
            let user = ActiveUser {
                id: user_id,
                name: profile.name.clone(),
                signing,
                profile,
            };
            let mut vault = Vault::unlocked(self.store, self.row, master, user, notes)?;
            vault.state.state_cache = StateCache::keep(version, loaded);
            vault.refold_if_needed()?;
            vault.index_if_needed()?;
            return Ok(vault);
        }
        if other_user_opened {
            return Err(Error::Invalid(Invalid::User {
                problem:
                    "this passphrase belongs to another user of the vault than the default one: \
                 name them with --user"
                        .into(),
            }));
        }
        if !notes.is_empty() {
            return Err(Error::Integrity(Integrity::Access {
                problem: format!(
                    "no key slot opened with this passphrase, and {}",
                    notes.join("; ")
                ),
            }));
        }
        Err(Error::WrongPassphrase)
    }

    /// Migrates a version-1 vault to the sealed vault state: the state is
    /// the fold of the existing chain (records, log head), the users and
    /// slots are taken from the rows as they are (the one moment the rows
    /// are trusted; SECURITY.md), and a signed `migrate` event records them.
    /// The retired per-record heads are removed. One transaction.
    fn migrate(
        &mut self,
        master: &MasterKey,
        keys: &KeyRing,
        user_id: &Id,
        signing: &UserSigningKey,
    ) -> Result<Option<u64>> {
        let tx = self.store.write()?;
        let profiles = users::legacy_profiles(&tx, master)?;
        let acting = profiles
            .iter()
            .find(|(id, _)| id == user_id)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| {
                Error::Integrity(Integrity::Access {
                    problem: "a key slot points to a missing user".into(),
                })
            })?;
        if acting.removed_at.is_some() {
            return Err(Error::Integrity(Integrity::Access {
                problem: format!(
                    "user {:?} was removed, yet a key slot of theirs is still in the file",
                    acting.name
                ),
            }));
        }
        let slot_rows = rows::slots(&tx, SlotKind::Passphrase)?;
        let recovery = rows::slots(&tx, SlotKind::Recovery)?;
        let mut loaded = state::load(&tx, &self.row.vault_id, &keys.events)?;
        if !loaded.needs_migration {
            // Another process migrated it meanwhile.
            return Ok(None);
        }
        let migrate_position = loaded.state.log.count + 1;
        let legacy = legacy_log_head(&tx, &self.row.vault_id, &keys.events)?;
        let log_whole = match &legacy {
            Some((count, hash, _)) => {
                *count == loaded.state.log.count && *hash == loaded.state.log.hash
            }
            None => loaded.state.log.count == 0,
        };
        if let Some((_, _, Some(at))) = legacy {
            loaded.state.log.rebuilt_at = Some(at);
        }
        loaded.rebuilt = !log_whole;
        let users_json: Vec<UserState> = profiles
            .iter()
            .map(|(id, p)| {
                let slot = match p.removed_at {
                    Some(_) => None,
                    None => slot_rows.iter().find(|s| s.user_id.as_ref() == Some(id)),
                };
                UserState {
                    id: id.to_hex(),
                    profile_version: 1,
                    slot: slot.map(|s| s.slot_id.to_hex()),
                    slot_sha256: slot.map(slots::slot_digest),
                    removed_at: p.removed_at.as_ref().map(|_| migrate_position),
                }
            })
            .collect();
        let user = ActiveUser {
            id: *user_id,
            name: acting.name.clone(),
            signing: UserSigningKey::from_secret(signing.secret().as_ref())?,
            profile: acting,
        };
        let session = Session::new(self.row.vault_id, keys, &user).with_state(loaded);
        let event = session.append(
            &tx,
            Kind::Vault,
            &self.row.vault_id,
            Action::Migrate,
            serde_json::json!({
                "from_format": 1,
                "users": users_json,
                "recovery_slots": recovery.iter().map(|s| s.slot_id.to_hex()).collect::<Vec<_>>(),
                "recovery_slot_sha256": recovery_digests(&recovery),
            }),
        )?;
        session.flush(&tx)?;
        rows_records::clear_legacy_heads(&tx)?;
        tx.commit()?;
        Ok(Some(event.position))
    }

    /// Opens the vault with the recovery key and gives `user` (default: the
    /// first active user) a new passphrase. Their old signing key cannot be
    /// recovered (it was wrapped under the forgotten passphrase), so a new
    /// one is made; the old public key stays in the profile, retired at the
    /// `recover` event's position, so history signed with it still verifies.
    pub fn recover(
        mut self,
        recovery_key: &RecoveryKey,
        user: Option<&str>,
        new_passphrase: &str,
    ) -> Result<Vault<Unlocked>> {
        let rec_slots = rows::slots(self.store.conn(), SlotKind::Recovery)?;
        if rec_slots.is_empty() {
            return Err(Error::Integrity(Integrity::Access {
                problem: "this vault has no recovery slot any more: it was deleted from the file \
                 (tampering); restore the vault from a backup"
                    .into(),
            }));
        }
        let (slot_id, master) = rec_slots
            .iter()
            .find_map(|s| {
                slots::open_recovery_slot(&self.row.vault_id, s, recovery_key)
                    .ok()
                    .map(|m| (s.slot_id, m))
            })
            .ok_or(Error::WrongRecoveryKey)?;
        let keys = KeyRing::derive(&master)?;
        let signing = UserSigningKey::generate()?;
        let loaded = state::load(self.store.conn(), &self.row.vault_id, &keys.events)?;
        let mut migrated_at = None;
        if loaded.needs_migration {
            let profiles = users::legacy_profiles(self.store.conn(), &master)?;
            let (first, _) = users::find_user(profiles, user)?;
            // The migration event is signed with the new key (the old one is
            // lost with the passphrase), which is therefore valid from it.
            migrated_at = self.migrate(&master, &keys, &first, &signing)?;
        }
        let params = authenticated_kdf(&master, &self.row)?;
        let tx = self.store.write()?;
        let loaded = state::load(&tx, &self.row.vault_id, &keys.events)?;
        if !loaded.state.recovery_slots.contains(&slot_id.to_hex()) {
            return Err(Error::Integrity(Integrity::Access {
                problem:
                    "the recovery slot that opened is not the vault's: it was put back from an old \
                 copy (tampering)"
                        .into(),
            }));
        }
        let profiles = users::profiles_in(&tx, &master, &loaded.state)?;
        let (user_id, mut profile) = users::find_user(profiles, user)?;
        let version = loaded
            .state
            .user(&user_id.to_hex())
            .map(|u| u.profile_version + 1)
            .unwrap_or(1);
        let slot = slots::passphrase_slot(&master, &user_id, new_passphrase, &params, &signing)?;
        let acting = ActiveUser {
            id: user_id,
            name: profile.name.clone(),
            signing,
            profile: profile.clone(),
        };
        let session = Session::new(self.row.vault_id, &keys, &acting).with_state(loaded);
        let event = session.append(
            &tx,
            Kind::User,
            &user_id,
            Action::Recover,
            user_details(version, &slot, &acting.signing),
        )?;
        profile.rotate_signing_key(&acting.signing, &now_utc(), event.position);
        if let (Some(at), Some(new_key)) = (migrated_at, profile.keys.last_mut()) {
            new_key.created_at_position = Some(at);
        }
        let profile_blob = users::seal_profile(&master, &user_id, version, &profile)?;
        rows::delete_user_slots(&tx, &user_id)?;
        rows::insert_slot(&tx, &slot)?;
        rows::update_user_profile(&tx, &user_id, &profile_blob)?;
        session.flush(&tx)?;
        drop(session);
        tx.commit()?;
        let user = ActiveUser { profile, ..acting };
        let mut vault = Vault::unlocked(self.store, self.row, master, user, Vec::new())?;
        vault.refold_if_needed()?;
        vault.index_if_needed()?;
        Ok(vault)
    }
}

/// The details of a user event: the profile version it makes, the slot
/// it gives the user, and the user's (new) public key.
fn user_details(
    profile_version: u64,
    slot: &rows::SlotRow,
    signing: &UserSigningKey,
) -> serde_json::Value {
    let key = crate::formats::minisign::PublicKey::new(signing.verifying_key());
    serde_json::json!({
        "profile_version": profile_version,
        "slot": slot.slot_id.to_hex(),
        "slot_sha256": slots::slot_digest(slot),
        "key_fingerprint": key.fingerprint(),
    })
}

/// `{slot id: digest}` of recovery slots, for the vault's `create` and
/// `migrate` events.
fn recovery_digests<'a>(slots: impl IntoIterator<Item = &'a rows::SlotRow>) -> serde_json::Value {
    serde_json::Value::Object(
        slots
            .into_iter()
            .map(|s| (s.slot_id.to_hex(), serde_json::json!(slots::slot_digest(s))))
            .collect(),
    )
}

/// The slot `slot_id` opened for `user_id`: it must be that user's one
/// slot in the vault state, and the user active.
fn authorize_slot<'s>(state: &'s VaultState, user_id: &Id, slot_id: &Id) -> Result<&'s UserState> {
    let hex = user_id.to_hex();
    let Some(user) = state.user(&hex) else {
        return Err(Error::Integrity(Integrity::Access {
            problem: format!(
                "a key slot opened for user {}, whom the vault's sealed state does not list: the \
             slot or user was inserted or put back from an old copy (tampering)",
                user_id.short()
            ),
        }));
    };
    if let Some(at) = user.removed_at {
        return Err(Error::Integrity(Integrity::Access {
            problem: format!(
                "a key slot opened for user {}, who was removed at custody event {at}: the slot \
             was put back from an old copy (tampering)",
                user_id.short()
            ),
        }));
    }
    if user.slot.as_deref() != Some(slot_id.to_hex().as_str()) {
        return Err(Error::Integrity(Integrity::Access {
            problem: format!(
                "a key slot of user {} opened, but it is not the one the vault's sealed state \
             lists: it was replaced (passphrase change or recovery) and put back from an old \
             copy (tampering)",
                user_id.short()
            ),
        }));
    }
    Ok(user)
}

/// The users table must list exactly the state's users, in its order.
fn check_user_rows(conn: &rusqlite::Connection, state: &VaultState) -> Result<()> {
    let in_table: Vec<String> = rows::users(conn)?
        .iter()
        .map(|r| r.user_id.to_hex())
        .collect();
    let in_state: Vec<String> = state.users.iter().map(|u| u.id.clone()).collect();
    if in_table != in_state {
        return Err(Error::Integrity(Integrity::Access {
            problem:
                "the users table does not list the vault's users in the order its sealed state \
             does: rows were reordered, inserted or deleted (tampering); no one can unlock it \
             until the file is restored from a backup"
                    .into(),
        }));
    }
    Ok(())
}

/// The version-1 log head from `custody_heads` (count, hash, rebuilt_at),
/// if it is there and opens.
fn legacy_log_head(
    conn: &rusqlite::Connection,
    vault_id: &Id,
    events_key: &SymmetricKey,
) -> Result<Option<(u64, String, Option<u64>)>> {
    #[derive(Deserialize)]
    struct Head {
        count: u64,
        hash: String,
        #[serde(default)]
        rebuilt_at: Option<u64>,
    }
    let sealed: Option<Vec<u8>> = conn
        .query_row(
            "SELECT head FROM custody_heads WHERE record_id = 'vault'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let binding = Binding {
        vault_id,
        kind: "custody-head",
        record: "vault",
        version: 1,
        field: "head",
    };
    Ok(open_value::<Head>(events_key, &binding, &sealed)
        .ok()
        .map(|h| (h.count, h.hash, h.rebuilt_at)))
}

impl Vault<Unlocked> {
    fn unlocked(
        store: Store,
        row: VaultRow,
        master: MasterKey,
        user: ActiveUser,
        notes: Vec<String>,
    ) -> Result<Vault<Unlocked>> {
        let keys = KeyRing::derive(&master)?;
        Ok(Vault {
            store,
            row,
            state: Unlocked {
                master,
                keys,
                user,
                notes,
                via: None,
                search_cache: None,
                state_cache: None,
            },
        })
    }

    /// Marks every custody event this unlocked vault appends from now on
    /// as made through `via` (`"via": "desk"` in its details).
    pub fn set_channel(&mut self, via: Channel) {
        self.state.via = Some(via);
    }

    /// The interface this vault acts through, if not the command line.
    pub fn channel(&self) -> Option<Channel> {
        self.state.via
    }

    /// What unlocking noticed that the user should hear (a key slot skipped
    /// for its absurd KDF cost, say).
    pub fn unlock_notes(&self) -> &[String] {
        &self.state.notes
    }

    /// Runs `f` in one write transaction with the acting session; writes
    /// the moved vault state and commits only if `f` succeeds, so a failure
    /// leaves the vault as it was.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &Session<'_>) -> Result<T>,
    ) -> Result<T> {
        let (out, index_changed) = write_in(
            &mut self.store,
            self.row.vault_id,
            &self.state.keys,
            &self.state.user,
            self.state.via,
            &mut self.state.state_cache,
            f,
        )?;
        if index_changed {
            self.forget_search_cache();
        }
        Ok(out)
    }

    /// [`Vault::write`] for the user and key-slot operations, which also
    /// need the master key (to seal profiles).
    fn write_with_master<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &Session<'_>, &MasterKey) -> Result<T>,
    ) -> Result<T> {
        let master = &self.state.master;
        let (out, index_changed) = write_in(
            &mut self.store,
            self.row.vault_id,
            &self.state.keys,
            &self.state.user,
            self.state.via,
            &mut self.state.state_cache,
            |tx, session| f(tx, session, master),
        )?;
        if index_changed {
            self.state.search_cache = None;
        }
        Ok(out)
    }

    /// Runs `f` on a consistent read snapshot with the acting session.
    pub fn read<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &Session<'_>) -> Result<T>,
    ) -> Result<T> {
        let cached = self.state.state_cache.take();
        let tx = self.store.read()?;
        let version = snapshot_version(&tx)?;
        let mut session =
            Session::new(self.row.vault_id, &self.state.keys, &self.state.user).via(self.state.via);
        if let Some(loaded) = StateCache::reuse(cached, version) {
            session = session.with_state(loaded);
        }
        let out = f(&tx, &session)?;
        let loaded = session.into_loaded();
        drop(tx);
        self.state.state_cache = StateCache::keep(version, loaded);
        Ok(out)
    }

    /// The purpose subkeys.
    pub fn keys(&self) -> &KeyRing {
        &self.state.keys
    }

    /// Every user's profile, in the vault state's order.
    ///
    /// The state and the profile rows are read in one snapshot: read in two,
    /// a passphrase change or user removal committed by another process in
    /// between made the profiles look "put back from an old copy" (a false
    /// alarm found by tests/crash.rs, issue 17).
    fn profiles(&mut self) -> Result<Vec<(Id, UserProfile)>> {
        // As `read` does (the state kept from the last transaction is
        // reused while no other process has committed), with the master key.
        let cached = self.state.state_cache.take();
        let tx = self.store.read()?;
        let version = snapshot_version(&tx)?;
        let loaded = match StateCache::reuse(cached, version) {
            Some(loaded) => loaded,
            None => state::load(&tx, &self.row.vault_id, &self.state.keys.events)?,
        };
        let profiles = users::profiles_in(&tx, &self.state.master, &loaded.state)?;
        drop(tx);
        self.state.state_cache = StateCache::keep(version, loaded);
        Ok(profiles)
    }

    /// Why the settings row is not the one the last `settings` event
    /// sealed, if it is not.
    pub(crate) fn settings_problem(&self, state: &VaultState) -> Option<String> {
        check_settings_row(&self.row, state)
            .err()
            .map(|e| e.to_string())
    }

    /// Why each user of `state` cannot be read as the version it lists.
    pub(crate) fn profile_problems(&self, state: &VaultState) -> Vec<String> {
        let mut out = Vec::new();
        for u in &state.users {
            let Ok(id) = u.id.parse::<Id>() else {
                out.push(format!(
                    "the vault state names a malformed user id {:?}",
                    u.id
                ));
                continue;
            };
            if rows::user(self.store.conn(), &id).ok().flatten().is_none() {
                continue; // reported as a missing row
            }
            if let Err(e) = users::load_profile(
                self.store.conn(),
                &self.state.master,
                &id,
                u.profile_version,
            ) {
                out.push(e.to_string());
            }
        }
        out
    }

    /// Public keys of every user, current and retired, by minisign key id.
    pub(crate) fn key_directory(&mut self) -> Result<users::KeyDirectory> {
        let mut out = users::KeyDirectory::new();
        for (_, profile) in self.profiles()? {
            for key in profile.all_keys()? {
                let id = crate::formats::minisign::PublicKey::new(key).key_id_hex();
                out.insert(id, (profile.name.clone(), key));
            }
        }
        Ok(out)
    }

    /// Until when each key may sign, by minisign key id: the log position
    /// after which events signed with it are forged (its retirement by a
    /// passphrase change or recovery, or its user's removal), and for users
    /// removed by a version-1 build the removal time.
    pub(crate) fn key_limits(&mut self) -> Result<HashMap<String, KeyLimit>> {
        let mut out = HashMap::new();
        for (_, profile) in self.profiles()? {
            for (key, record) in profile.keys_with_records()? {
                let id = crate::formats::minisign::PublicKey::new(key).key_id_hex();
                let until = match (record.retired_at_position, profile.removed_at_position) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                out.insert(
                    id,
                    KeyLimit {
                        until_position: until,
                        from_position: record.created_at_position,
                        removed_at: profile.removed_at.clone(),
                        owner: profile.name.clone(),
                    },
                );
            }
        }
        Ok(out)
    }

    /// The acting user.
    pub fn user(&self) -> &ActiveUser {
        &self.state.user
    }

    /// A purpose subkey of the master key.
    pub(crate) fn subkey(&self, purpose: Purpose) -> Result<SymmetricKey> {
        Ok(self.state.master.subkey(purpose)?)
    }

    /// The store, for the record, custody and bundle layers.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, mutably (to start write transactions).
    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The sealed settings.
    pub fn settings(&self) -> Result<Settings> {
        Ok(open_value(
            &self.subkey(Purpose::Settings)?,
            &settings_binding(&self.row.vault_id),
            &self.row.settings,
        )?)
    }

    /// Changes the idle time or the time zone: the settings are sealed
    /// again and a signed `settings` event records the new values and the
    /// sealed row's digest, so a row put back from an old copy is found.
    pub fn change_settings(&mut self, change: &SettingsChange) -> Result<Settings> {
        let mut settings = self.settings()?;
        if let Some(idle) = change.idle_seconds {
            if idle == 0 || idle > MAX_IDLE_SECONDS {
                return Err(Error::Invalid(Invalid::Command {
                    problem: format!(
                        "the idle time must be between 1 second and {} hours",
                        MAX_IDLE_SECONDS / 3600
                    ),
                }));
            }
            settings.idle_seconds = Some(idle);
        }
        if let Some(zone) = &change.time_zone {
            let offset = parse_time_zone(zone)?;
            let (h, m, _) = offset.as_hms();
            settings.time_zone = Some(format!(
                "{}{:02}:{:02}",
                if offset.is_negative() { '-' } else { '+' },
                h.unsigned_abs(),
                m.unsigned_abs()
            ));
        }
        let sealed = seal_value(
            &self.subkey(Purpose::Settings)?,
            &settings_binding(&self.row.vault_id),
            &settings,
        )?;
        let digest = settings_digest(&sealed);
        let vault_id = self.row.vault_id;
        let (idle, zone) = (settings.idle_seconds, settings.time_zone.clone());
        self.write(|tx, session| {
            rows::update_settings(tx, &sealed)?;
            session.append(
                tx,
                Kind::Vault,
                &vault_id,
                Action::Settings,
                serde_json::json!({
                    "idle_seconds": idle,
                    "time_zone": zone,
                    "settings_sha256": digest,
                }),
            )?;
            Ok(())
        })?;
        self.row.settings = sealed;
        Ok(settings)
    }

    /// Parameters new passphrase slots get in this vault (from the sealed,
    /// authenticated settings).
    pub fn kdf_default(&self) -> Result<KdfParams> {
        authenticated_kdf(&self.state.master, &self.row)
    }

    /// Every user with their status and keys.
    pub fn users(&mut self) -> Result<Vec<users::UserSummary>> {
        users::list(self.profiles()?)
    }

    /// Adds a user with their own passphrase and a fresh signing key. The
    /// slow key derivation runs first; the name is checked again inside the
    /// write transaction, so two concurrent `user add` of one name cannot
    /// both succeed. A signed `user-add` event records the user and their
    /// slot.
    pub fn add_user(&mut self, name: &str, passphrase: &str) -> Result<Id> {
        users::validate_user_name(name)?;
        let name = users::normalize_user_name(name);
        let name = name.as_str();
        let taken = |profiles: &[(Id, UserProfile)]| {
            profiles
                .iter()
                .any(|(_, p)| p.name == name && p.removed_at.is_none())
        };
        if taken(&self.profiles()?) {
            return Err(Error::UserExists(name.to_owned()));
        }
        let user_id = random_id()?;
        let signing = UserSigningKey::generate()?;
        let slot = slots::passphrase_slot(
            &self.state.master,
            &user_id,
            passphrase,
            &self.kdf_default()?,
            &signing,
        )?;
        self.write_with_master(|tx, session, master| {
            let profiles = users::profiles_in(tx, master, &session.state(tx)?.state)?;
            if taken(&profiles) {
                return Err(Error::UserExists(name.to_owned()));
            }
            let event = session.append(
                tx,
                Kind::User,
                &user_id,
                Action::UserAdd,
                user_details(1, &slot, &signing),
            )?;
            let profile = UserProfile::new(name, &signing, &event.time, event.position);
            let profile_blob = users::seal_profile(master, &user_id, 1, &profile)?;
            let position = rows::next_user_position(tx)?;
            rows::insert_user(
                tx,
                &rows::UserRow {
                    user_id,
                    position,
                    profile: profile_blob,
                },
            )?;
            rows::insert_slot(tx, &slot)?;
            Ok(user_id)
        })
    }

    /// Removes a user: their slot is deleted (their passphrase no longer
    /// opens the vault) and their profile is marked removed at the signed
    /// `user-remove` event's position; their public keys stay so what they
    /// signed before still verifies. Everything is decided inside one
    /// write transaction, so two concurrent removals cannot leave a vault
    /// without users.
    pub fn remove_user(&mut self, name: &str) -> Result<()> {
        let name = users::normalize_user_name(name);
        let name = name.as_str();
        self.write_with_master(|tx, session, master| {
            let vault_state = session.state(tx)?.state.clone();
            let profiles = users::profiles_in(tx, master, &vault_state)?;
            let Some((user_id, profile)) = profiles
                .iter()
                .find(|(_, p)| p.name == name && p.removed_at.is_none())
            else {
                if let Some(at) = profiles
                    .iter()
                    .filter(|(_, p)| p.name == name)
                    .find_map(|(_, p)| p.removed_at.as_ref())
                {
                    return Err(Error::Invalid(Invalid::User {
                        problem: format!("user \"{name}\" was already removed (at {at})"),
                    }));
                }
                return Err(Error::UnknownUser(name.to_owned()));
            };
            if profiles
                .iter()
                .filter(|(_, p)| p.removed_at.is_none())
                .count()
                <= 1
            {
                return Err(Error::Invalid(Invalid::User {
                    problem: format!("\"{name}\" is the only user; a vault must keep at least one"),
                }));
            }
            let version = vault_state
                .user(&user_id.to_hex())
                .map(|u| u.profile_version + 1)
                .unwrap_or(1);
            let event = session.append(
                tx,
                Kind::User,
                user_id,
                Action::UserRemove,
                serde_json::json!({ "profile_version": version }),
            )?;
            let mut profile = profile.clone();
            profile.removed_at = Some(event.time.clone());
            profile.removed_at_position = Some(event.position);
            let blob = users::seal_profile(master, user_id, version, &profile)?;
            rows::delete_user_slots(tx, user_id)?;
            rows::update_user_profile(tx, user_id, &blob)?;
            Ok(())
        })
    }

    /// Re-wraps the acting user's slot under a new passphrase (fresh salt)
    /// and gives them a new signing key: the old one is retired at the
    /// signed `passphrase-change` event (which it signs), so an old
    /// passphrase with an old copy of the vault cannot sign for the user
    /// any more. The data and the master key are untouched.
    pub fn change_passphrase(&mut self, new_passphrase: &str) -> Result<()> {
        let signing = UserSigningKey::generate()?;
        let user_id = self.state.user.id;
        let slot = slots::passphrase_slot(
            &self.state.master,
            &user_id,
            new_passphrase,
            &self.kdf_default()?,
            &signing,
        )?;
        let mut profile = self.state.user.profile.clone();
        let new_profile = self.write_with_master(|tx, session, master| {
            let version = session
                .state(tx)?
                .state
                .user(&user_id.to_hex())
                .map(|u| u.profile_version + 1)
                .unwrap_or(1);
            let event = session.append(
                tx,
                Kind::User,
                &user_id,
                Action::PassphraseChange,
                user_details(version, &slot, &signing),
            )?;
            profile.rotate_signing_key(&signing, &event.time, event.position);
            let blob = users::seal_profile(master, &user_id, version, &profile)?;
            rows::delete_user_slots(tx, &user_id)?;
            rows::insert_slot(tx, &slot)?;
            rows::update_user_profile(tx, &user_id, &blob)?;
            Ok(profile)
        })?;
        self.state.user.signing = signing;
        self.state.user.profile = new_profile;
        Ok(())
    }

    /// The current public key of a user (default: the acting user).
    pub fn public_key(&mut self, user: Option<&str>) -> Result<ed25519_dalek::VerifyingKey> {
        match user {
            None => Ok(self.state.user.signing.verifying_key()),
            Some(name) => {
                let (_, profile) = users::find_user(self.profiles()?, Some(name))?;
                profile.current_key()
            }
        }
    }

    /// The acting user's signing key.
    pub fn signing_key(&self) -> &UserSigningKey {
        &self.state.user.signing
    }

    /// The signers pinned in this vault (see [`signers`]).
    pub fn pinned_signers(&mut self) -> Result<Vec<signers::PinnedSigner>> {
        self.read(|tx, session| signers::pinned(&session.state(tx)?.state))
    }

    /// Pins a signer's public key under `name`, as a signed `signer-add`
    /// custody event. Refuses a name or key already pinned, and the vault's
    /// own users' keys (they are trusted already).
    pub fn pin_signer(
        &mut self,
        name: &str,
        key: &crate::formats::minisign::PublicKey,
    ) -> Result<signers::PinnedSigner> {
        signers::validate_name(name)?;
        let name = users::normalize_user_name(name);
        if self.key_directory()?.contains_key(&key.key_id_hex()) {
            return Err(Error::Invalid(Invalid::Signer {
                problem: "this key belongs to a user of this vault; it is trusted already".into(),
            }));
        }
        let vault_id = self.row.vault_id;
        self.write(|tx, session| {
            let pinned = signers::pinned(&session.state(tx)?.state)?;
            if let Some(p) = pinned.iter().find(|p| p.fingerprint == key.fingerprint()) {
                return Err(Error::Invalid(Invalid::Signer {
                    problem: format!("this key is pinned already, as {:?}", p.name),
                }));
            }
            if pinned.iter().any(|p| p.name == name) {
                return Err(Error::Invalid(Invalid::Signer {
                    problem: format!("a signer named {name:?} is pinned already"),
                }));
            }
            session.append(
                tx,
                Kind::Vault,
                &vault_id,
                Action::SignerAdd,
                serde_json::json!({
                    "name": name,
                    "public_key": key.base64(),
                    "fingerprint": key.fingerprint(),
                }),
            )?;
            let pinned = signers::pinned(&session.state(tx)?.state)?;
            pinned
                .into_iter()
                .find(|p| p.fingerprint == key.fingerprint())
                .ok_or_else(|| Error::Internal("the pinned signer was not recorded".into()))
        })
    }
}

/// One write transaction acting as `user`: runs `f`, writes the moved
/// vault state, commits (see [`Vault::write`]).
fn write_in<T>(
    store: &mut Store,
    vault_id: Id,
    keys: &KeyRing,
    user: &ActiveUser,
    via: Option<Channel>,
    cache: &mut Option<StateCache>,
    f: impl FnOnce(&rusqlite::Transaction<'_>, &Session<'_>) -> Result<T>,
) -> Result<(T, bool)> {
    let cached = cache.take();
    let tx = store.write()?;
    let version = snapshot_version(&tx)?;
    let mut session = Session::new(vault_id, keys, user).via(via);
    if let Some(loaded) = StateCache::reuse(cached, version) {
        session = session.with_state(loaded);
    }
    let out = f(&tx, &session)?;
    let index_changed = session.flush(&tx)?;
    let loaded = session.into_loaded();
    tx.commit()?;
    *cache = StateCache::keep(version, loaded);
    Ok((out, index_changed))
}

/// How long a key may sign (see [`Vault::key_limits`]).
#[derive(Clone, Debug)]
pub struct KeyLimit {
    /// Its owner's name.
    pub owner: String,
    /// Events after this log position signed with the key are forged.
    pub until_position: Option<u64>,
    /// Events before this log position signed with the key are forged.
    pub from_position: Option<u64>,
    /// For a user removed by a version-1 build: the removal time.
    pub removed_at: Option<String>,
}

/// The KDF parameters from the sealed settings; a plaintext copy that
/// disagrees with them means the file was tampered with.
fn authenticated_kdf(master: &MasterKey, row: &VaultRow) -> Result<KdfParams> {
    let settings: Settings = open_value(
        &master.subkey(Purpose::Settings)?,
        &settings_binding(&row.vault_id),
        &row.settings,
    )
    .map_err(|_| {
        Error::Integrity(Integrity::Settings {
            problem: "the vault settings do not authenticate".into(),
        })
    })?;
    settings.kdf.validate()?;
    if settings.kdf != row.kdf_default {
        return Err(Error::Integrity(Integrity::Settings {
            problem: "the plaintext KDF parameters of the vault differ from its sealed settings: \
             the file was tampered with"
                .into(),
        }));
    }
    Ok(settings.kdf)
}

/// SHA-256 (hex) of a sealed settings row, as `settings` events record it.
pub(crate) fn settings_digest(sealed: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(sealed))
}

/// The settings row must be the one the last `settings` event sealed.
fn check_settings_row(row: &VaultRow, state: &VaultState) -> Result<()> {
    if let Some(expected) = &state.settings_sha256 {
        if settings_digest(&row.settings) != *expected {
            return Err(Error::Integrity(Integrity::Settings {
                problem: "the vault's settings are not the ones its last signed settings \
                          change sealed: they were put back from an old copy (tampering)"
                    .into(),
            }));
        }
    }
    Ok(())
}

/// Where the sealed settings live.
pub(crate) fn settings_binding(vault_id: &Id) -> Binding<'_> {
    Binding {
        vault_id,
        kind: "vault",
        record: "settings",
        version: 1,
        field: "settings",
    }
}

/// The sealed-settings vectors of `docs/format.md` §20 (they pin how the
/// vault seals its settings with the crypto layer's envelope).
#[cfg(test)]
mod settings_vectors {
    use super::{settings_binding, Settings};
    use crate::crypto::aead::{
        open_raw, open_raw_into, open_value, seal_raw_into, seal_value, seal_value_with_nonce,
    };
    use crate::crypto::keys::SymmetricKey;
    use crate::crypto::CryptoError;
    use crate::format::{Id, NONCE_LEN};

    /// `docs/format.md` §20, "Sealed settings": the settings a vault seals
    /// at creation (a version-2 envelope), under the settings subkey of master `22` × 32 and vault
    /// id `11` × 16, with the nonce fixed to `66` × 24.
    #[test]
    fn sealed_settings_match_format_vector() {
        use crate::crypto::kdf::INSECURE_FAST;
        use crate::crypto::keys::{MasterKey, Purpose};

        let vault = Id([0x11; 16]);
        let master = MasterKey::new(SymmetricKey::from_bytes([0x22; 32]), vault);
        let key = master.subkey(Purpose::Settings).unwrap();
        let b = settings_binding(&vault);
        let settings = Settings {
            name: Some("Test".into()),
            created_at: "2026-01-01T00:00:00Z".into(),
            kdf: INSECURE_FAST,
            idle_seconds: None,
            time_zone: None,
        };
        let json = serde_json::to_vec(&settings).unwrap();
        assert_eq!(
            json,
            br#"{"name":"Test","created_at":"2026-01-01T00:00:00Z","kdf":{"memory_kib":64,"time_cost":1,"parallelism":1}}"#
        );
        let sealed = seal_value_with_nonce(&key, &b, &settings, &[0x66; NONCE_LEN]).unwrap();
        assert_eq!(sealed.len(), 153);
        let expected = [
            "02666666666666666666666666666666666666666666666666aefce2dc5072b1",
            "fb7b79bb77c2845564991029e0648449bcfe20b0b6014a025e3b3d2f932df475",
            "afb8923eba444307aa773e308c5ca8044bc15998ce1cfc4deae080fa8fda1f10",
            "119186ed2fe3e3372b9fff4306bf6fd0ae9a9ef4d38cc68110a83fdf5d86d6f1",
            "18404fe3f4ef996544d9b59d34216b20002af48cfdf5b3e580",
        ]
        .concat();
        assert_eq!(hex::encode(&sealed), expected);
        // The vector opens the way the vault opens its settings.
        let back: Settings = open_value(&key, &b, &sealed).unwrap();
        assert_eq!(serde_json::to_vec(&back).unwrap(), json);
    }

    /// The sealed-settings envelope of `docs/format.md` §20 as version 1
    /// wrote it (before the version byte was authenticated): vaults made
    /// then hold such envelopes everywhere.
    const SETTINGS_V1: [&str; 5] = [
        "01666666666666666666666666666666666666666666666666aefce2dc5072b1",
        "fb7b79bb77c2845564991029e0648449bcfe20b0b6014a025e3b3d2f932df475",
        "afb8923eba444307aa773e308c5ca8044bc15998ce1cfc4deae080fa8fda1f10",
        "119186ed2fe3e3372b9fff4306bf6fd0ae9a9ef4d38cc68110a83fdf5d86d6f1",
        "18404fe3f4ef996544ea87c43da84ae911421ca3a8382b1ec3",
    ];

    /// Issue 16.6: the envelope version byte is authenticated from version
    /// 2 on; version-1 envelopes still open; changing the byte either way
    /// fails to open.
    #[test]
    fn version_byte_flips_fail_both_ways_and_version_1_still_opens() {
        use crate::crypto::keys::{MasterKey, Purpose};

        let vault = Id([0x11; 16]);
        let master = MasterKey::new(SymmetricKey::from_bytes([0x22; 32]), vault);
        let key = master.subkey(Purpose::Settings).unwrap();
        let b = settings_binding(&vault);
        let v1 = hex::decode(SETTINGS_V1.concat()).unwrap();
        let old: Settings = open_value(&key, &b, &v1).unwrap();
        assert_eq!(old.name.as_deref(), Some("Test"));
        let mut v1_as_v2 = v1.clone();
        v1_as_v2[0] = 2;
        assert!(matches!(
            open_value::<Settings>(&key, &b, &v1_as_v2),
            Err(CryptoError::Unauthentic)
        ));
        let v2 = seal_value(&key, &b, &old).unwrap();
        assert_eq!(v2[0], 2);
        assert!(open_value::<Settings>(&key, &b, &v2).is_ok());
        let mut v2_as_v1 = v2.clone();
        v2_as_v1[0] = 1;
        assert!(matches!(
            open_value::<Settings>(&key, &b, &v2_as_v1),
            Err(CryptoError::Unauthentic)
        ));
        // The same through the in-place path that evidence chunks use.
        let mut chunk = Vec::new();
        seal_raw_into(&key, b"ad", b"chunk", &mut chunk).unwrap();
        chunk[0] = 1;
        let mut out = Vec::new();
        assert!(open_raw_into(&key, b"ad", &chunk, &mut out).is_err());
        assert!(open_raw(&key, b"ad", &chunk).is_err());
    }
}
