//! The vault state: one sealed row (`vault_state`) that says what must
//! exist in the vault, so that a keyless attacker who deletes, restores or
//! reorders rows is found out.
//!
//! It holds the head of the custody log, every chain (records, users, the
//! vault itself) with its length, last event and what it implies (versions,
//! seal), the users in their authoritative order with the version of their
//! profile and the one key slot each may unlock with, the recovery slots and
//! the pinned signers. It is a cache of the signed custody chain, never an
//! authority beside it: [`VaultState::apply`] is the one function that
//! moves it forward, event by event, when an event is appended, and `check`
//! folds the whole chain through the same function and demands the stored
//! state be exactly the result.
//!
//! Sealed under the events key, bound to the vault; rewritten once per
//! write transaction, so every change to the vault changes this one row and
//! the rows the change itself needs (SECURITY.md, "What the file reveals").

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::{open_event, Action, Event, GENESIS};
use crate::crypto::aead::{open_value, seal_value};
use crate::crypto::keys::SymmetricKey;
use crate::error::{Error, Integrity, Result};
use crate::format::{Binding, Id};
use crate::store::records as rows;

/// The version of the state's layout: 3 since the chains are kept in
/// shards beside the head (`docs/format.md` §17.2); a format-2 state (one
/// sealed JSON value) is still read, and written as format 3 at the next
/// write.
pub const STATE_FORMAT: u32 = 3;

/// The format-2 layout, read only.
const MONOLITHIC_FORMAT: u32 = 2;

/// `record_kind` of the events about users (their `record` is the user id).
pub const USER_KIND: &str = "user";
/// `record_kind` of the events about the vault itself (their `record` is
/// the vault id): creation, migration, pinned signers.
pub const VAULT_KIND: &str = "vault";

/// The head of the vault-wide log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    /// Number of events.
    pub count: u64,
    /// Hash of the last ([`GENESIS`] for none).
    pub hash: String,
    /// The first event written after the state had to be rebuilt from the
    /// chain (its row was missing or damaged): from then on no checkpoint
    /// vouches for the log, as its end may have been cut.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_at: Option<u64>,
}

/// One chain: a record's, a user's or the vault's own.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainState {
    /// `case`, `statement`, `evidence`, `user` or `vault`.
    #[serde(rename = "k")]
    pub kind: String,
    /// Number of events in the chain.
    #[serde(rename = "n")]
    pub events: u64,
    /// Log position of its last event.
    #[serde(rename = "l")]
    pub last: u64,
    /// Versions the chain has created (records).
    #[serde(rename = "v", default, skip_serializing_if = "is_zero")]
    pub versions: u64,
    /// Whether the chain has sealed the record.
    #[serde(rename = "s", default, skip_serializing_if = "is_false")]
    pub sealed: bool,
    /// Whether the record was withdrawn (kept, but never exported,
    /// searched, extracted or amended again).
    #[serde(rename = "w", default, skip_serializing_if = "is_false")]
    pub withdrawn: bool,
    /// Whether the record's content was destroyed: the file holds its
    /// `records` row and its events, no version, chunk, search text or seal.
    #[serde(rename = "d", default, skip_serializing_if = "is_false")]
    pub destroyed: bool,
}

impl ChainState {
    /// Withdrawn or destroyed: the record takes part in nothing any more.
    pub fn retired(&self) -> bool {
        self.withdrawn || self.destroyed
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One user, in the vault's authoritative order (the first active one is
/// the default user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserState {
    /// User id (hex).
    pub id: String,
    /// The version the sealed profile must carry (bound in its associated
    /// data), raised at every change of the profile.
    pub profile_version: u64,
    /// The one passphrase slot that may open the vault for this user.
    pub slot: Option<String>,
    /// That slot's digest ([`crate::vault::slots::slot_digest`]): `check`
    /// finds a slot altered in the file even without its passphrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_sha256: Option<String>,
    /// Log position of the user's removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<u64>,
}

/// A signer pinned in this vault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerState {
    /// The name given when pinning.
    pub name: String,
    /// The Ed25519 public key, base64.
    pub public_key: String,
    /// When (UTC).
    pub pinned_at: String,
    /// By whom.
    pub pinned_by: String,
    /// Log position of the pinning event.
    pub position: u64,
}

/// The whole state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultState {
    /// [`STATE_FORMAT`].
    pub format: u32,
    /// The log's head.
    pub log: LogState,
    /// Users, in order.
    pub users: Vec<UserState>,
    /// Ids of the slots the recovery key opens.
    pub recovery_slots: Vec<String>,
    /// The recovery slots' digests, by slot id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub recovery_slot_sha256: BTreeMap<String, String>,
    /// Pinned signers.
    pub signers: Vec<SignerState>,
    /// Every chain by its record id (hex).
    pub chains: BTreeMap<String, ChainState>,
    /// The [`crate::formats::search::FOLD_VERSION`] the stored search texts were
    /// folded with (1 for vaults from before it was recorded): set by the
    /// vault's `create` event and by every `refold` event.
    #[serde(default = "legacy_fold_version")]
    pub fold_version: u32,
    /// SHA-256 (hex) of the sealed settings row the last `settings` event
    /// wrote; `None` until the settings are first changed (the row is
    /// then the one `init` wrote). A settings row put back from an old
    /// copy no longer matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_sha256: Option<String>,
}

fn legacy_fold_version() -> u32 {
    1
}

fn detail_u64(event: &Event, key: &str) -> Option<u64> {
    event.details.get(key).and_then(|v| v.as_u64())
}

/// `details.recovery_slot_sha256`: slot id → digest.
fn digests(event: &Event) -> BTreeMap<String, String> {
    event
        .details
        .get("recovery_slot_sha256")
        .and_then(|v| v.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn fold_version(event: &Event) -> Option<u32> {
    detail_u64(event, "fold_version").and_then(|v| u32::try_from(v).ok())
}

fn detail_str<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
    event.details.get(key).and_then(|v| v.as_str())
}

impl VaultState {
    /// An empty state (a vault with no events yet).
    pub fn empty() -> VaultState {
        VaultState {
            format: STATE_FORMAT,
            fold_version: legacy_fold_version(),
            log: LogState {
                count: 0,
                hash: GENESIS.to_owned(),
                rebuilt_at: None,
            },
            ..VaultState::default()
        }
    }

    /// Moves the state past `event` (whose hash is `hash`), the next event
    /// of the log. Returns why the event cannot follow, if it cannot (an
    /// amendment after a seal, a version out of order, a removed user's
    /// key slot…); the state is then moved anyway, as far as it can be, so
    /// that a tolerant reader (`check`) can go on.
    pub fn apply(&mut self, event: &Event, hash: &str) -> std::result::Result<(), String> {
        let mut problem = None;
        if event.position != self.log.count + 1 {
            problem = Some(format!(
                "event {} follows event {} of the log",
                event.position, self.log.count
            ));
        }
        self.log.count = event.position;
        self.log.hash = hash.to_owned();
        let chain = self.chains.entry(event.record.clone()).or_default();
        if chain.events == 0 {
            chain.kind = event.record_kind.clone();
        } else if chain.kind != event.record_kind {
            problem.get_or_insert_with(|| {
                format!(
                    "event {} calls record {} a {} but it is a {}",
                    event.position, event.record, event.record_kind, chain.kind
                )
            });
        }
        chain.events += 1;
        chain.last = event.position;
        let chain_problem = match event.record_kind.as_str() {
            USER_KIND => self.apply_user(event),
            VAULT_KIND => self.apply_vault(event),
            _ => Self::apply_record(
                self.chains
                    .get_mut(&event.record)
                    .ok_or("the chain vanished")?,
                event,
            ),
        };
        match (problem, chain_problem) {
            (Some(p), _) | (None, Err(p)) => Err(p),
            (None, Ok(())) => Ok(()),
        }
    }

    fn apply_record(chain: &mut ChainState, event: &Event) -> std::result::Result<(), String> {
        let at = event.position;
        if chain.destroyed {
            return Err(format!(
                "event {at} ({}) concerns record {}, whose content was destroyed",
                event.action.as_str(),
                event.record
            ));
        }
        if chain.withdrawn
            && matches!(
                event.action,
                Action::Amend | Action::Export | Action::Extract | Action::Seal | Action::Withdraw
            )
        {
            return Err(format!(
                "event {at} ({}) concerns record {}, which was withdrawn",
                event.action.as_str(),
                event.record
            ));
        }
        match event.action {
            Action::Withdraw => {
                if chain.kind == "case" {
                    return Err(format!("event {at} withdraws a case"));
                }
                chain.withdrawn = true;
            }
            Action::Destroy => {
                if chain.kind == "case" {
                    return Err(format!("event {at} destroys a case"));
                }
                chain.destroyed = true;
            }
            Action::Create => {
                if chain.events != 1 {
                    return Err(format!("event {at} creates a record that already exists"));
                }
                chain.versions = 1;
            }
            Action::Import => {
                if chain.events != 1 {
                    return Err(format!("event {at} imports a record that already exists"));
                }
                chain.versions = detail_u64(event, "versions").unwrap_or(1);
            }
            Action::Amend => {
                let version = detail_u64(event, "version");
                let was_sealed = chain.sealed;
                let expected = chain.versions + 1;
                chain.versions = version.unwrap_or(expected).max(chain.versions);
                if was_sealed {
                    return Err(format!(
                        "event {at} amends record {} after it was sealed",
                        event.record
                    ));
                }
                if version != Some(expected) {
                    return Err(format!(
                        "event {at} makes version {} of record {}, not version {expected}",
                        version.map_or_else(|| "?".to_owned(), |v| v.to_string()),
                        event.record
                    ));
                }
            }
            Action::Seal => chain.sealed = true,
            _ => {}
        }
        Ok(())
    }

    fn apply_user(&mut self, event: &Event) -> std::result::Result<(), String> {
        let at = event.position;
        let profile_version = detail_u64(event, "profile_version");
        let slot = detail_str(event, "slot").map(str::to_owned);
        let existing = self.users.iter().position(|u| u.id == event.record);
        match event.action {
            Action::UserAdd => {
                if existing.is_some() {
                    return Err(format!("event {at} adds user {} twice", event.record));
                }
                self.users.push(UserState {
                    id: event.record.clone(),
                    profile_version: profile_version.unwrap_or(1),
                    slot,
                    slot_sha256: detail_str(event, "slot_sha256").map(str::to_owned),
                    removed_at: None,
                });
                Ok(())
            }
            Action::UserRemove | Action::PassphraseChange | Action::Recover => {
                let Some(i) = existing else {
                    return Err(format!(
                        "event {at} changes user {}, whom the vault does not have",
                        event.record
                    ));
                };
                let user = &mut self.users[i];
                let was_removed = user.removed_at.is_some();
                let next = user.profile_version + 1;
                user.profile_version = profile_version.unwrap_or(next);
                if event.action == Action::UserRemove {
                    user.slot = None;
                    user.slot_sha256 = None;
                    user.removed_at = Some(at);
                } else {
                    user.slot = slot;
                    user.slot_sha256 = detail_str(event, "slot_sha256").map(str::to_owned);
                }
                if was_removed {
                    return Err(format!(
                        "event {at} changes user {} after that user was removed",
                        event.record
                    ));
                }
                if profile_version != Some(next) {
                    return Err(format!(
                        "event {at} gives user {} profile version {:?}, not {next}",
                        event.record, profile_version
                    ));
                }
                Ok(())
            }
            other => Err(format!(
                "event {at}: {:?} is not an action on a user",
                other.as_str()
            )),
        }
    }

    fn apply_vault(&mut self, event: &Event) -> std::result::Result<(), String> {
        let at = event.position;
        let ids = |key: &str| -> Vec<String> {
            event
                .details
                .get(key)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        match event.action {
            Action::Create => {
                self.recovery_slots = ids("recovery_slots");
                self.recovery_slot_sha256 = digests(event);
                self.fold_version = fold_version(event).unwrap_or(legacy_fold_version());
                Ok(())
            }
            // A search changes nothing the state tracks.
            Action::Search => Ok(()),
            Action::Settings => match detail_str(event, "settings_sha256") {
                Some(digest) => {
                    self.settings_sha256 = Some(digest.to_owned());
                    Ok(())
                }
                None => Err(format!("event {at}: a settings change without its digest")),
            },
            Action::Refold => match fold_version(event) {
                Some(v) => {
                    self.fold_version = v;
                    Ok(())
                }
                None => Err(format!("event {at}: a re-folding without its fold version")),
            },
            Action::Migrate => {
                self.recovery_slots = ids("recovery_slots");
                self.recovery_slot_sha256 = digests(event);
                let users: Vec<UserState> = event
                    .details
                    .get("users")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .ok_or_else(|| format!("event {at}: a migration without its users"))?;
                self.users = users;
                Ok(())
            }
            Action::SignerAdd => {
                let (Some(name), Some(public_key)) =
                    (detail_str(event, "name"), detail_str(event, "public_key"))
                else {
                    return Err(format!("event {at}: a pinned signer without name or key"));
                };
                self.signers.push(SignerState {
                    name: name.to_owned(),
                    public_key: public_key.to_owned(),
                    pinned_at: event.time.clone(),
                    pinned_by: event.user.clone(),
                    position: at,
                });
                Ok(())
            }
            other => Err(format!(
                "event {at}: {:?} is not an action on the vault",
                other.as_str()
            )),
        }
    }

    /// The chain of record `id` (hex), if it has one.
    pub fn chain(&self, id: &str) -> Option<&ChainState> {
        self.chains.get(id)
    }

    /// A user by id (hex).
    pub fn user(&self, id: &str) -> Option<&UserState> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The default user: the first active one.
    pub(crate) fn default_user(&self) -> Option<&UserState> {
        self.users.iter().find(|u| u.removed_at.is_none())
    }

    /// Ids of the records (cases, statements, evidence) the chain says exist.
    pub(crate) fn record_ids(&self) -> impl Iterator<Item = (&String, &ChainState)> {
        self.chains
            .iter()
            .filter(|(_, c)| !matches!(c.kind.as_str(), USER_KIND | VAULT_KIND))
    }

    /// Whether the chain has ever recorded a vault event (creation by a
    /// version-2 build, or migration to it).
    pub(crate) fn has_vault_chain(&self) -> bool {
        self.chains.values().any(|c| c.kind == VAULT_KIND)
    }
}

/// Where the state (format 2) or its head (format 3) is sealed.
fn state_binding(vault_id: &Id, format: u32) -> Binding<'_> {
    Binding {
        vault_id,
        kind: "vault-state",
        record: "state",
        version: u64::from(format),
        field: "state",
    }
}

/// Where the chains of one shard are sealed (`record` is `shard:<name>`).
fn shard_binding<'a>(vault_id: &'a Id, record: &'a str) -> Binding<'a> {
    Binding {
        vault_id,
        kind: "vault-state",
        record,
        version: u64::from(STATE_FORMAT),
        field: "chains",
    }
}

/// The shard a chain is kept in: the first two characters of its record
/// id (hex), so a vault has at most 256 shards and a write rewrites only
/// the shards of the chains its events moved.
pub fn shard_name(record: &str) -> &str {
    record.get(..2).unwrap_or(record)
}

/// The head of a format-3 state as written: every field of the state but
/// the chains, and the SHA-256 of each shard's sealed row.
#[derive(Serialize)]
struct HeadOut<'a> {
    format: u32,
    log: &'a LogState,
    users: &'a Vec<UserState>,
    recovery_slots: &'a Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    recovery_slot_sha256: &'a BTreeMap<String, String>,
    signers: &'a Vec<SignerState>,
    fold_version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    settings_sha256: &'a Option<String>,
    shards: &'a BTreeMap<String, String>,
}

/// [`HeadOut`] as read.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeadIn {
    format: u32,
    log: LogState,
    users: Vec<UserState>,
    recovery_slots: Vec<String>,
    #[serde(default)]
    recovery_slot_sha256: BTreeMap<String, String>,
    signers: Vec<SignerState>,
    fold_version: u32,
    #[serde(default)]
    settings_sha256: Option<String>,
    shards: BTreeMap<String, String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The state as loaded for a transaction.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// Whether it was loaded at all (a session loads it at first use).
    pub ready: bool,
    /// The state.
    pub state: VaultState,
    /// True when the stored state was missing or damaged and was rebuilt
    /// from the chain: the next event says so (`log_head_rebuilt`).
    pub rebuilt: bool,
    /// True when this is a version-1 vault that has never had a state: it
    /// is migrated at the next unlock.
    pub needs_migration: bool,
    /// Whether it changed since it was loaded.
    pub dirty: bool,
    /// The shards as stored (name → SHA-256 of the sealed row) when the
    /// state was read in format 3; `None` makes the next save write every
    /// shard.
    pub shards: Option<BTreeMap<String, String>>,
    /// The shards whose chains events have moved since the last save.
    pub touched: std::collections::BTreeSet<String>,
}

/// What was stored, as `check` sees it.
pub enum Stored {
    /// No state row.
    Missing,
    /// A row that does not open (damaged, altered, moved).
    Unreadable,
    /// The stored state.
    Found(Box<VaultState>),
}

/// Reads the stored state without repairing anything.
pub fn stored(conn: &Connection, vault_id: &Id, key: &SymmetricKey) -> Result<Stored> {
    Ok(match read_stored(conn, vault_id, key)? {
        None => Stored::Missing,
        Some(None) => Stored::Unreadable,
        Some(Some((state, _))) => Stored::Found(Box::new(state)),
    })
}

/// The stored state and its shard digests (`None` for a format-2 state):
/// `None` when there is no state row, `Some(None)` when it does not open
/// or its shards are not exactly those its head lists.
#[allow(clippy::type_complexity)]
fn read_stored(
    conn: &Connection,
    vault_id: &Id,
    key: &SymmetricKey,
) -> Result<Option<Option<(VaultState, Option<BTreeMap<String, String>>)>>> {
    let Some(blob) = rows::vault_state(conn)? else {
        return Ok(None);
    };
    if let Ok(head) = open_value::<HeadIn>(key, &state_binding(vault_id, STATE_FORMAT), &blob) {
        if head.format != STATE_FORMAT {
            return Ok(Some(None));
        }
        let stored_shards = rows::state_shards(conn)?;
        if stored_shards.len() != head.shards.len() {
            return Ok(Some(None)); // a shard row added or deleted
        }
        let Some(chains) = open_shards(vault_id, key, &head.shards, &stored_shards)? else {
            return Ok(Some(None));
        };
        let state = VaultState {
            format: STATE_FORMAT,
            log: head.log,
            users: head.users,
            recovery_slots: head.recovery_slots,
            recovery_slot_sha256: head.recovery_slot_sha256,
            signers: head.signers,
            chains,
            fold_version: head.fold_version,
            settings_sha256: head.settings_sha256,
        };
        return Ok(Some(Some((state, Some(head.shards)))));
    }
    // Format 2: one sealed value, read as the same state.
    match open_value::<VaultState>(key, &state_binding(vault_id, MONOLITHIC_FORMAT), &blob) {
        Ok(mut s) if s.format == MONOLITHIC_FORMAT => {
            s.format = STATE_FORMAT;
            Ok(Some(Some((s, None))))
        }
        _ => Ok(Some(None)),
    }
}

/// Opens the stored shards against the digests the head lists: `None` when
/// any is altered, put back from another time or holds a chain of another
/// shard. The shards are independent, so a large vault's (256 of them, some
/// megabytes of JSON at 100,000 statements) are opened on every core, and
/// the chains, sorted already, are built into one map at once.
fn open_shards(
    vault_id: &Id,
    key: &SymmetricKey,
    digests: &BTreeMap<String, String>,
    stored: &[(String, Vec<u8>)],
) -> Result<Option<BTreeMap<String, ChainState>>> {
    let open_one = |(name, sealed): &(String, Vec<u8>)| {
        let digest = digests.get(name)?;
        if sha256_hex(sealed) != *digest {
            return None; // altered, or put back from another time
        }
        let record = format!("shard:{name}");
        let part: BTreeMap<String, ChainState> =
            open_value(key, &shard_binding(vault_id, &record), sealed).ok()?;
        part.keys().all(|id| shard_name(id) == name).then_some(part)
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let per_worker = stored.len().div_ceil(workers).max(1);
    let parts: Vec<Option<Vec<BTreeMap<String, ChainState>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = stored
            .chunks(per_worker)
            .map(|slice| scope.spawn(move || slice.iter().map(open_one).collect()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join())
            .collect::<std::result::Result<_, _>>()
    })
    .map_err(|_| Error::Internal("a thread opening the vault state panicked".into()))?;
    let mut opened = Vec::with_capacity(stored.len());
    for part in parts {
        let Some(part) = part else { return Ok(None) };
        opened.extend(part);
    }
    // The shards come in name order and a name is the ids' first two hex
    // digits: the chains are in order, and the map is built in one pass.
    Ok(Some(opened.into_iter().flatten().collect()))
}

/// Loads the state: the stored one, or, when it is missing or damaged, the
/// fold of the chain (marked rebuilt), or for a version-1 vault the fold of
/// the chain marked as needing migration.
pub fn load(conn: &Connection, vault_id: &Id, key: &SymmetricKey) -> Result<Loaded> {
    let stored = read_stored(conn, vault_id, key)?;
    if let Some(Some((state, shards))) = stored {
        return Ok(Loaded {
            ready: true,
            state,
            rebuilt: false,
            needs_migration: false,
            dirty: false,
            shards,
            touched: Default::default(),
        });
    }
    let (state, _) = fold(conn, vault_id, key)?;
    let version_one = stored.is_none() && !state.has_vault_chain();
    Ok(Loaded {
        ready: true,
        rebuilt: !version_one,
        needs_migration: version_one,
        state,
        dirty: false,
        shards: None,
        touched: Default::default(),
    })
}

/// Seals and writes the state: the shards events have touched (every
/// shard when the stored layout is unknown or older), then the head with
/// every shard's digest.
pub fn save(
    conn: &Connection,
    vault_id: &Id,
    key: &SymmetricKey,
    loaded: &mut Loaded,
) -> Result<()> {
    let (mut digests, names): (BTreeMap<String, String>, Vec<String>) = match &loaded.shards {
        Some(d) => (d.clone(), loaded.touched.iter().cloned().collect()),
        None => {
            rows::clear_state_shards(conn)?;
            let mut all: Vec<String> = loaded
                .state
                .chains
                .keys()
                .map(|id| shard_name(id).to_owned())
                .collect();
            all.dedup();
            (BTreeMap::new(), all)
        }
    };
    for name in names {
        let part: BTreeMap<&String, &ChainState> = loaded
            .state
            .chains
            .range(name.clone()..)
            .take_while(|(id, _)| shard_name(id) == name)
            .collect();
        if part.is_empty() {
            rows::delete_state_shard(conn, &name)?;
            digests.remove(&name);
            continue;
        }
        let record = format!("shard:{name}");
        let sealed = seal_value(key, &shard_binding(vault_id, &record), &part)?;
        rows::set_state_shard(conn, &name, &sealed)?;
        digests.insert(name, sha256_hex(&sealed));
    }
    let s = &loaded.state;
    let head = HeadOut {
        format: STATE_FORMAT,
        log: &s.log,
        users: &s.users,
        recovery_slots: &s.recovery_slots,
        recovery_slot_sha256: &s.recovery_slot_sha256,
        signers: &s.signers,
        fold_version: s.fold_version,
        settings_sha256: &s.settings_sha256,
        shards: &digests,
    };
    let sealed = seal_value(key, &state_binding(vault_id, STATE_FORMAT), &head)?;
    rows::set_vault_state(conn, &sealed)?;
    loaded.shards = Some(digests);
    loaded.touched.clear();
    Ok(())
}

/// One event of the log as the fold saw it.
pub struct Folded {
    /// Position.
    pub position: u64,
    /// Why it could not be read or could not follow, if so.
    pub problem: Option<String>,
}

/// Folds every readable event of the log, in order, through
/// [`VaultState::apply`]. Returns the state and, per event that could not
/// be read or applied, its position and why.
pub fn fold(
    conn: &Connection,
    vault_id: &Id,
    key: &SymmetricKey,
) -> Result<(VaultState, Vec<(u64, String)>)> {
    let mut state = VaultState::empty();
    let mut problems = Vec::new();
    rows::for_each_event(conn, |position, sealed| {
        let parsed = open_event(vault_id, key, position, sealed)
            .and_then(|signed| Ok((signed.event()?, signed.hash())));
        match parsed {
            Ok((event, hash)) => {
                if let Err(why) = state.apply(&event, &hash) {
                    problems.push((position, why));
                }
            }
            Err(e) => problems.push((position, e.to_string())),
        }
        Ok(())
    })?;
    Ok((state, problems))
}

/// The hash of the event at `position` (the last of some chain).
pub fn event_hash(
    conn: &Connection,
    vault_id: &Id,
    key: &SymmetricKey,
    position: u64,
) -> Result<String> {
    let sealed = rows::event_at(conn, position)?
        .ok_or_else(|| Error::Integrity(Integrity::EventMissing { position }))?;
    Ok(open_event(vault_id, key, position, &sealed)?.hash())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        pos: u64,
        record: &str,
        kind: &str,
        action: Action,
        details: serde_json::Value,
    ) -> Event {
        Event {
            event_type: super::super::EVENT_TYPE.into(),
            vault: "v".into(),
            position: pos,
            record: record.into(),
            record_kind: kind.into(),
            record_position: 1,
            action,
            user: "u".into(),
            key_id: "k".into(),
            time: "2026-01-01T00:00:00Z".into(),
            details,
            prev: GENESIS.into(),
            prev_record: GENESIS.into(),
        }
    }

    #[test]
    fn an_amendment_after_a_seal_cannot_follow() {
        let mut s = VaultState::empty();
        s.apply(
            &event(1, "r", "statement", Action::Create, serde_json::json!({})),
            "h1",
        )
        .unwrap();
        s.apply(
            &event(
                2,
                "r",
                "statement",
                Action::Amend,
                serde_json::json!({"version": 2}),
            ),
            "h2",
        )
        .unwrap();
        s.apply(
            &event(3, "r", "statement", Action::Seal, serde_json::json!({})),
            "h3",
        )
        .unwrap();
        let err = s
            .apply(
                &event(
                    4,
                    "r",
                    "statement",
                    Action::Amend,
                    serde_json::json!({"version": 3}),
                ),
                "h4",
            )
            .unwrap_err();
        assert!(err.contains("after it was sealed"), "{err}");
        assert_eq!(s.chain("r").unwrap().versions, 3);
        assert_eq!(s.log.count, 4);
    }

    #[test]
    fn users_move_through_their_events_and_a_removed_user_stays_removed() {
        let mut s = VaultState::empty();
        s.apply(
            &event(
                1,
                "v",
                VAULT_KIND,
                Action::Create,
                serde_json::json!({"recovery_slots": ["r1"]}),
            ),
            "a",
        )
        .unwrap();
        s.apply(
            &event(
                2,
                "u1",
                USER_KIND,
                Action::UserAdd,
                serde_json::json!({"profile_version": 1, "slot": "s1"}),
            ),
            "b",
        )
        .unwrap();
        s.apply(
            &event(
                3,
                "u2",
                USER_KIND,
                Action::UserAdd,
                serde_json::json!({"profile_version": 1, "slot": "s2"}),
            ),
            "c",
        )
        .unwrap();
        s.apply(
            &event(
                4,
                "u1",
                USER_KIND,
                Action::PassphraseChange,
                serde_json::json!({"profile_version": 2, "slot": "s3"}),
            ),
            "d",
        )
        .unwrap();
        s.apply(
            &event(
                5,
                "u2",
                USER_KIND,
                Action::UserRemove,
                serde_json::json!({"profile_version": 2}),
            ),
            "e",
        )
        .unwrap();
        assert_eq!(s.recovery_slots, vec!["r1".to_owned()]);
        assert_eq!(s.user("u1").unwrap().slot.as_deref(), Some("s3"));
        assert_eq!(s.user("u2").unwrap().removed_at, Some(5));
        assert_eq!(s.user("u2").unwrap().slot, None);
        assert_eq!(s.default_user().unwrap().id, "u1");
        let err = s
            .apply(
                &event(
                    6,
                    "u2",
                    USER_KIND,
                    Action::PassphraseChange,
                    serde_json::json!({"profile_version": 3, "slot": "s9"}),
                ),
                "f",
            )
            .unwrap_err();
        assert!(err.contains("after that user was removed"), "{err}");
    }
}
