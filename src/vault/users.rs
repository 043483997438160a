//! Users: their sealed profiles (name, public signing keys, status) and the
//! acting user of an unlocked vault.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::crypto::aead::{open_value, seal_value};
use crate::crypto::keys::{MasterKey, Purpose};
use crate::crypto::signing::{verifying_key_from_bytes, UserSigningKey};
use crate::custody::state::VaultState;
use crate::error::{Error, Integrity, Invalid, Result};
use crate::format::{Binding, Id};
use crate::store::rows;

/// Longest user name accepted, in characters.
pub const MAX_USER_NAME: usize = 64;

/// One public signing key a user has had.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The Ed25519 public key, base64.
    pub public_key: String,
    /// When it was made.
    pub created_at: String,
    /// When it was replaced (after a recovery), if it was.
    pub retired_at: Option<String>,
    /// The log position of the event that introduced it (none for keys
    /// made by a version-1 build).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at_position: Option<u64>,
    /// The log position of the event that retired it: events after it
    /// signed with this key are forged (a passphrase change or a recovery
    /// retires the key, so an old passphrase plus an old copy of the vault
    /// cannot sign for the user any more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at_position: Option<u64>,
}

/// A user's sealed profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserProfile {
    /// The user's name (unique among active users).
    pub name: String,
    /// When the user was added.
    pub created_at: String,
    /// When the user was removed, if they were.
    pub removed_at: Option<String>,
    /// The log position of the user's removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at_position: Option<u64>,
    /// Every signing key the user has had; the last is current.
    pub keys: Vec<KeyRecord>,
}

impl UserProfile {
    /// A new profile with one signing key, introduced at log `position`.
    pub fn new(name: &str, signing: &UserSigningKey, now: &str, position: u64) -> UserProfile {
        UserProfile {
            name: name.to_owned(),
            created_at: now.to_owned(),
            removed_at: None,
            removed_at_position: None,
            keys: vec![KeyRecord {
                public_key: B64.encode(signing.verifying_key().as_bytes()),
                created_at: now.to_owned(),
                retired_at: None,
                created_at_position: Some(position),
                retired_at_position: None,
            }],
        }
    }

    /// The current public key.
    pub(crate) fn current_key(&self) -> Result<VerifyingKey> {
        let last = self.keys.last().ok_or_else(|| {
            Error::Integrity(Integrity::Access {
                problem: format!("user {:?} has no signing key", self.name),
            })
        })?;
        decode_key(&last.public_key)
    }

    /// Every public key the user has had, oldest first.
    pub(crate) fn all_keys(&self) -> Result<Vec<VerifyingKey>> {
        self.keys
            .iter()
            .map(|k| decode_key(&k.public_key))
            .collect()
    }

    /// Retires the current key at log `position` and makes `signing`
    /// current from there.
    pub(crate) fn rotate_signing_key(
        &mut self,
        signing: &UserSigningKey,
        now: &str,
        position: u64,
    ) {
        if let Some(last) = self.keys.last_mut() {
            last.retired_at = Some(now.to_owned());
            last.retired_at_position = Some(position);
        }
        self.keys.push(KeyRecord {
            public_key: B64.encode(signing.verifying_key().as_bytes()),
            created_at: now.to_owned(),
            retired_at: None,
            created_at_position: Some(position),
            retired_at_position: None,
        });
    }

    /// Every key with its record, oldest first.
    pub(crate) fn keys_with_records(&self) -> Result<Vec<(VerifyingKey, &KeyRecord)>> {
        self.keys
            .iter()
            .map(|k| Ok((decode_key(&k.public_key)?, k)))
            .collect()
    }
}

fn decode_key(b64: &str) -> Result<VerifyingKey> {
    let bytes = B64.decode(b64).map_err(|_| {
        Error::Integrity(Integrity::Access {
            problem: "a stored public key is not valid base64".into(),
        })
    })?;
    Ok(verifying_key_from_bytes(&bytes)?)
}

/// The user acting on an unlocked vault.
pub struct ActiveUser {
    /// Their id.
    pub id: Id,
    /// Their name.
    pub name: String,
    /// Their signing key (secret; wiped on drop).
    pub(crate) signing: UserSigningKey,
    /// Their profile.
    pub profile: UserProfile,
}

/// A user as `user list` shows them.
#[derive(Clone, Debug, Serialize)]
pub struct UserSummary {
    /// Internal id.
    #[serde(serialize_with = "crate::vault::users::ser_id")]
    pub id: Id,
    /// Name.
    pub name: String,
    /// Added at.
    pub created_at: String,
    /// False once removed.
    pub active: bool,
    /// Removed at.
    pub removed_at: Option<String>,
    /// Current public key (base64).
    pub public_key: String,
}

/// Serialises an id as hex.
pub(crate) fn ser_id<S: serde::Serializer>(id: &Id, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&id.to_hex())
}

/// A user name in its stored form: Unicode NFC, so that "maître" typed with
/// a composed or a decomposed accent is the same user.
pub(crate) fn normalize_user_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.nfc().collect()
}

/// Checks a user name: 1–64 characters, no control characters, no
/// leading/trailing space.
pub(crate) fn validate_user_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > MAX_USER_NAME {
        return Err(Error::Invalid(Invalid::User {
            problem: format!("a user name must have 1 to {MAX_USER_NAME} characters"),
        }));
    }
    if name.chars().any(is_forbidden_in_name) || name.trim() != name {
        return Err(Error::Invalid(Invalid::User {
            problem:
                "a user name must not contain control characters, line or paragraph separators or \
             bidirectional-text controls, nor start or end with a space"
                    .into(),
        }));
    }
    Ok(())
}

/// Characters that would let a name break a log line or display as
/// something else: controls, U+2028/U+2029 and the bidirectional overrides,
/// embeddings and isolates.
fn is_forbidden_in_name(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn profile_binding<'a>(vault_id: &'a Id, record: &'a str, version: u64) -> Binding<'a> {
    Binding {
        vault_id,
        kind: "user",
        record,
        version,
        field: "profile",
    }
}

/// Seals a profile for the `users` table, as its `version` (the vault
/// state says which version each user's row must carry, so a row put back
/// from an old copy no longer opens).
pub(crate) fn seal_profile(
    master: &MasterKey,
    user_id: &Id,
    version: u64,
    profile: &UserProfile,
) -> Result<Vec<u8>> {
    let vault_id = master.vault_id();
    let record = user_id.to_hex();
    Ok(seal_value(
        &master.subkey(Purpose::Users)?,
        &profile_binding(&vault_id, &record, version),
        profile,
    )?)
}

fn open_profile(master: &MasterKey, row: &rows::UserRow, version: u64) -> Result<UserProfile> {
    let vault_id = master.vault_id();
    let record = row.user_id.to_hex();
    open_value(
        &master.subkey(Purpose::Users)?,
        &profile_binding(&vault_id, &record, version),
        &row.profile,
    )
    .map_err(|_| {
        Error::Integrity(Integrity::Access {
            problem: format!(
            "the profile of user {} is not the one the vault's state expects (version {version}): \
             it was altered or put back from an old copy",
            row.user_id.short()
        ),
        })
    })
}

/// Loads one user's profile, which must be of `version`.
pub(crate) fn load_profile(
    conn: &rusqlite::Connection,
    master: &MasterKey,
    user_id: &Id,
    version: u64,
) -> Result<UserProfile> {
    let row = rows::user(conn, user_id)?.ok_or_else(|| {
        Error::Integrity(Integrity::Access {
            problem: format!(
                "user {} is missing from the users table (deleted)",
                user_id.short()
            ),
        })
    })?;
    open_profile(master, &row, version)
}

/// Every user's profile, in the order of the vault state (the authority),
/// each opened as the version the state names.
pub(crate) fn profiles_in(
    conn: &rusqlite::Connection,
    master: &MasterKey,
    state: &VaultState,
) -> Result<Vec<(Id, UserProfile)>> {
    state
        .users
        .iter()
        .map(|u| {
            let id: Id = u.id.parse().map_err(|_| {
                Error::Integrity(Integrity::Access {
                    problem: format!("the vault state names a malformed user id {:?}", u.id),
                })
            })?;
            Ok((id, load_profile(conn, master, &id, u.profile_version)?))
        })
        .collect()
}

/// Profiles as a version-1 vault keeps them: every row, by position, each
/// sealed as version 1 (only for the migration to the vault state).
pub(crate) fn legacy_profiles(
    conn: &rusqlite::Connection,
    master: &MasterKey,
) -> Result<Vec<(Id, UserProfile)>> {
    rows::users(conn)?
        .iter()
        .map(|row| Ok((row.user_id, open_profile(master, row, 1)?)))
        .collect()
}

/// Finds an active user by name, or the first active user, among
/// `profiles` (in the state's order).
pub(crate) fn find_user(
    profiles: Vec<(Id, UserProfile)>,
    name: Option<&str>,
) -> Result<(Id, UserProfile)> {
    profiles
        .into_iter()
        .filter(|(_, p)| p.removed_at.is_none())
        .find(|(_, p)| name.is_none_or(|n| p.name == normalize_user_name(n)))
        .ok_or_else(|| Error::UnknownUser(name.unwrap_or("(first user)").to_owned()))
}

/// Summaries of every user.
pub fn list(profiles: Vec<(Id, UserProfile)>) -> Result<Vec<UserSummary>> {
    profiles
        .into_iter()
        .map(|(id, p)| {
            Ok(UserSummary {
                id,
                name: p.name.clone(),
                created_at: p.created_at.clone(),
                active: p.removed_at.is_none(),
                removed_at: p.removed_at.clone(),
                public_key: p
                    .keys
                    .last()
                    .map(|k| k.public_key.clone())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Checks that an unwrapped signing key is the profile's current key.
pub(crate) fn check_signing_key(profile: &UserProfile, signing: &UserSigningKey) -> Result<()> {
    if profile.current_key()? != signing.verifying_key() {
        return Err(Error::Integrity(Integrity::Access {
            problem: format!(
                "the signing key in {:?}'s slot does not match their profile",
                profile.name
            ),
        }));
    }
    Ok(())
}

/// Public keys by minisign key id, for every key any user of the vault has
/// ever had, with the owner's name.
pub type KeyDirectory = std::collections::HashMap<String, (String, ed25519_dalek::VerifyingKey)>;
