//! The custody and access log (SPEC §4): every create, view, amend, seal,
//! extract, export and import of a record appends a signed event, inside the
//! same transaction as the change it records.
//!
//! An event is a canonical JSON text ([`Event`]) signed with the acting
//! user's Ed25519 key. Its SHA-256 is its hash; each event names the hash of
//! the previous event in the vault (`prev`) and of the previous event of the
//! same record (`prev_record`), so both chains break if an event is deleted,
//! edited, reordered or inserted. In the vault an event is sealed (its
//! contents are as sensitive as the records); in a bundle it is exported as
//! is, and anyone with the signers' public keys can check it.
//!
//! This module owns event encoding, appending ([`append`], given the log's
//! keys and an [`Author`]) and reading, the portable chains ([`chain`]) and
//! the vault state the chain folds into ([`state`]). It knows no vault
//! type: `vault::Session::append` is how the rest of the crate writes an
//! event. Verification of a whole vault (`check`), the readable log and
//! checkpoints are in [`crate::audit`], above records and custody.

pub mod chain;
pub mod state;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::aead::open_value;
use crate::crypto::keys::SymmetricKey;
use crate::crypto::signing::{verify as verify_signature, UserSigningKey};
use crate::error::{Error, Integrity, Result};
use crate::format::Kind;
use crate::format::{Binding, Id};
use crate::store::records as rows;
use state::Loaded;

/// The `type` of every event this version writes.
pub const EVENT_TYPE: &str = "custodia.event.v1";
/// The hash that stands before the first event of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The record was created.
    Create,
    /// The record was shown to the acting user.
    View,
    /// A statement got a new version.
    Amend,
    /// A statement was sealed against further amendment.
    Seal,
    /// Evidence bytes were written out of the vault.
    Extract,
    /// The record was exported in a bundle.
    Export,
    /// The record was imported from a bundle.
    Import,
    /// The record was deleted.
    Delete,
    /// Consent was withdrawn (or the record is to be kept back): it stays
    /// sealed in the vault but leaves no more (no export, no search, no
    /// extract, no amendment).
    Withdraw,
    /// The record's content was erased; its chain and hashes stay.
    Destroy,
    /// The vault's settings were changed (idle time, time zone): the event
    /// carries the new values and the sealed row's digest.
    Settings,
    /// A search was run (on the vault's own chain: the query, the filters,
    /// the ids shown, the counts).
    Search,
    /// A user was added (the event's record is the user).
    #[serde(rename = "user-add")]
    UserAdd,
    /// A user was removed.
    #[serde(rename = "user-remove")]
    UserRemove,
    /// A user changed their passphrase (and got a new signing key).
    #[serde(rename = "passphrase-change")]
    PassphraseChange,
    /// A user was given a new passphrase with the recovery key.
    #[serde(rename = "recover")]
    Recover,
    /// A signer's public key was pinned in the vault.
    #[serde(rename = "signer-add")]
    SignerAdd,
    /// A version-1 vault was migrated to the current format.
    #[serde(rename = "migrate")]
    Migrate,
    /// The statements' search texts were folded again by a newer
    /// [`crate::formats::search::FOLD_VERSION`].
    #[serde(rename = "refold")]
    Refold,
}

impl Action {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::View => "view",
            Action::Amend => "amend",
            Action::Seal => "seal",
            Action::Extract => "extract",
            Action::Export => "export",
            Action::Import => "import",
            Action::Delete => "delete",
            Action::Withdraw => "withdraw",
            Action::Destroy => "destroy",
            Action::Search => "search",
            Action::Settings => "settings",
            Action::UserAdd => "user-add",
            Action::UserRemove => "user-remove",
            Action::PassphraseChange => "passphrase-change",
            Action::Recover => "recover",
            Action::SignerAdd => "signer-add",
            Action::Migrate => "migrate",
            Action::Refold => "refold",
        }
    }
}

/// The signed content of an event. Serialised with `serde_json` in this
/// field order and without whitespace, it is the canonical text that is
/// hashed and signed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Always [`EVENT_TYPE`]; separates event signatures from anything else
    /// the key signs.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The vault's id.
    pub vault: String,
    /// Position in the vault's chain, from 1.
    pub position: u64,
    /// The record's id.
    pub record: String,
    /// `case`, `statement` or `evidence`.
    pub record_kind: String,
    /// Position in the record's own chain, from 1.
    pub record_position: u64,
    /// What happened.
    pub action: Action,
    /// The acting user's name.
    pub user: String,
    /// The minisign key id of the key that signed.
    pub key_id: String,
    /// When, UTC, RFC 3339.
    pub time: String,
    /// Action-specific facts (versions, SHA-256 values, recipients, reasons).
    pub details: serde_json::Value,
    /// Hash of the previous event in the vault ([`GENESIS`] for the first).
    pub prev: String,
    /// Hash of the previous event of this record ([`GENESIS`] for its first).
    pub prev_record: String,
}

/// An event as stored and exported: the exact canonical text and its
/// signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedEvent {
    /// The canonical JSON text of an [`Event`].
    pub canonical: String,
    /// Ed25519 signature of the canonical text's UTF-8 bytes, base64.
    pub signature: String,
}

impl SignedEvent {
    /// Encodes `event` canonically and signs it with `key`.
    pub fn sign(event: &Event, key: &UserSigningKey) -> Result<SignedEvent> {
        let canonical = serde_json::to_string(event)
            .map_err(|e| Error::Internal(format!("cannot encode a custody event: {e}")))?;
        let signature = B64.encode(key.sign(canonical.as_bytes()).to_bytes());
        Ok(SignedEvent {
            canonical,
            signature,
        })
    }

    /// SHA-256 of the canonical text, lowercase hex: the event's hash.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical.as_bytes()))
    }

    /// Parses the canonical text, checking that it is canonical (re-encoding
    /// gives the same bytes).
    pub fn event(&self) -> Result<Event> {
        let event: Event = serde_json::from_str(&self.canonical).map_err(|e| {
            Error::Integrity(Integrity::EventMalformed {
                position: None,
                problem: format!("is malformed: {e}"),
            })
        })?;
        let again = serde_json::to_string(&event).map_err(|e| {
            Error::Integrity(Integrity::EventMalformed {
                position: None,
                problem: format!("cannot be re-encoded: {e}"),
            })
        })?;
        if again != self.canonical {
            return Err(Error::Integrity(Integrity::EventMalformed {
                position: None,
                problem: "text is not in canonical form".into(),
            }));
        }
        Ok(event)
    }

    /// Checks the signature with `key`.
    pub fn verify_with(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = B64.decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        verify_signature(key, self.canonical.as_bytes(), &sig)
    }
}

fn event_binding<'a>(vault_id: &'a Id, position: &'a str) -> Binding<'a> {
    Binding {
        vault_id,
        kind: "event",
        record: position,
        version: 1,
        field: "event",
    }
}

/// Opens the sealed event stored at `position`.
pub(crate) fn open_event(
    session_vault: &Id,
    key: &crate::crypto::keys::SymmetricKey,
    position: u64,
    sealed: &[u8],
) -> Result<SignedEvent> {
    let pos = position.to_string();
    open_value(key, &event_binding(session_vault, &pos), sealed)
        .map_err(|_| Error::Integrity(Integrity::EventUnauthentic { position }))
}

/// Sealed events are padded to a multiple of this many bytes (with JSON
/// whitespace), so that every ordinary event (view, extract, export,
/// create, amend…) has the same size on disk (SECURITY.md).
pub const EVENT_SIZE_CLASS: usize = 2048;

/// Seals a signed event for its position, padded to [`EVENT_SIZE_CLASS`].
fn seal_event(
    key: &crate::crypto::keys::SymmetricKey,
    vault_id: &Id,
    position: u64,
    signed: &SignedEvent,
) -> Result<Vec<u8>> {
    let mut json = zeroize::Zeroizing::new(
        serde_json::to_vec(signed)
            .map_err(|e| Error::Internal(format!("cannot encode a custody event: {e}")))?,
    );
    let size = json.len().div_ceil(EVENT_SIZE_CLASS).max(1) * EVENT_SIZE_CLASS;
    json.resize(size, b' ');
    let pos = position.to_string();
    Ok(crate::crypto::aead::seal_bytes(
        key,
        &event_binding(vault_id, &pos),
        &json,
    )?)
}

/// Where a vault's custody log is and the key its events are sealed with.
#[derive(Clone, Copy)]
pub struct LogKeys<'a> {
    /// The vault's id (bound into every sealed event).
    pub vault_id: Id,
    /// The events subkey.
    pub events: &'a SymmetricKey,
}

/// Who signs an event.
pub struct Author<'a> {
    /// The user's name, as events record it.
    pub name: &'a str,
    /// The user's minisign key id (hex).
    pub key_id: &'a str,
    /// The user's signing key.
    pub signing: &'a UserSigningKey,
}

/// Appends an event about record `record` (a chain of `kind`) in the
/// caller's transaction and returns it. The vault state `loaded` (see
/// [`state`]) moves with it; the caller writes it back before committing
/// (the vault's write path does, see `vault::Session`).
#[allow(clippy::too_many_arguments)]
pub fn append(
    conn: &Connection,
    log_keys: LogKeys<'_>,
    author: &Author<'_>,
    loaded: &mut Loaded,
    kind: Kind,
    record: &Id,
    action: Action,
    details: serde_json::Value,
) -> Result<Event> {
    let vault_id = log_keys.vault_id;
    let events_key = log_keys.events;
    if loaded.needs_migration && action != Action::Migrate {
        return Err(Error::Integrity(Integrity::LogHead {
            problem: "this version-1 vault has not been migrated yet; unlock it again".into(),
        }));
    }
    let log = loaded.state.log.clone();
    let position = log.count + 1;
    let mut details = details;
    if loaded.rebuilt {
        if let Some(map) = details.as_object_mut() {
            map.insert(LOG_HEAD_REBUILT.to_owned(), serde_json::Value::Bool(true));
        }
    }
    if rows::event_at(conn, position)?.is_some() {
        return Err(Error::Integrity(Integrity::EventInserted { position }));
    }
    let record_hex = record.to_hex();
    let (prev_record, record_position) = match loaded.state.chain(&record_hex) {
        Some(chain) => (
            state::event_hash(conn, &vault_id, events_key, chain.last).map_err(|_| {
                Error::Integrity(Integrity::LastEventDamaged {
                    record: *record,
                    position: chain.last,
                })
            })?,
            chain.events + 1,
        ),
        None => (GENESIS.to_owned(), 1),
    };
    let event = Event {
        event_type: EVENT_TYPE.to_owned(),
        vault: vault_id.to_hex(),
        position,
        record: record_hex,
        record_kind: kind.as_str().to_owned(),
        record_position,
        action,
        user: author.name.to_owned(),
        key_id: author.key_id.to_owned(),
        time: now_utc(),
        details,
        prev: log.hash,
        prev_record,
    };
    let signed = SignedEvent::sign(&event, author.signing)?;
    let sealed = seal_event(events_key, &vault_id, position, &signed)?;
    rows::insert_event(conn, position, &sealed)?;
    loaded.state.apply(&event, &signed.hash()).map_err(|why| {
        Error::Integrity(Integrity::StateRefused {
            why: why.to_string(),
        })
    })?;
    if loaded.rebuilt {
        loaded.state.log.rebuilt_at.get_or_insert(position);
        loaded.rebuilt = false;
    }
    loaded.needs_migration = false;
    loaded.dirty = true;
    loaded
        .touched
        .insert(state::shard_name(&event.record).to_owned());
    Ok(event)
}

/// The vault-wide chain's head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogHead {
    /// Number of events.
    pub count: u64,
    /// Hash of the last one ([`GENESIS`] for none).
    pub hash: String,
    /// True when the sealed state was missing or damaged and was rebuilt
    /// from the chain: the next event says so in its details
    /// (`log_head_rebuilt`), so `check` keeps reporting that the log's end
    /// may have been cut before it, instead of the vault refusing to work.
    pub rebuilt: bool,
    /// The first event written over a rebuilt state, if one ever was: the
    /// sealed state keeps it, so no checkpoint vouches for the log again.
    pub rebuilt_at: Option<u64>,
}

/// The details key that marks an event written over a rebuilt state.
pub const LOG_HEAD_REBUILT: &str = "log_head_rebuilt";

/// The vault-wide chain's head, from the loaded state.
pub(crate) fn vault_head(loaded: &Loaded) -> LogHead {
    LogHead {
        count: loaded.state.log.count,
        hash: loaded.state.log.hash.clone(),
        rebuilt: loaded.rebuilt || loaded.needs_migration,
        rebuilt_at: loaded.state.log.rebuilt_at,
    }
}

/// The current time in UTC, RFC 3339 with seconds, as events record it.
pub fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Every event in the vault, in order, opened (stops at the first that does
/// not open; `check` is the tolerant reader).
pub(crate) fn all_events(
    conn: &Connection,
    vault_id: &Id,
    key: &crate::crypto::keys::SymmetricKey,
) -> Result<Vec<SignedEvent>> {
    let mut out = Vec::new();
    rows::for_each_event(conn, |pos, sealed| {
        out.push(open_event(vault_id, key, pos, sealed)?);
        Ok(())
    })?;
    Ok(out)
}

/// The events of one record, in order.
pub(crate) fn record_events(
    conn: &Connection,
    vault_id: &Id,
    key: &crate::crypto::keys::SymmetricKey,
    record: &Id,
) -> Result<Vec<(Event, SignedEvent)>> {
    let wanted = record.to_hex();
    let mut out = Vec::new();
    for signed in all_events(conn, vault_id, key)? {
        let event = signed.event()?;
        if event.record == wanted {
            out.push((event, signed));
        }
    }
    Ok(out)
}
