//! A vault as a whole: creating one, unlocking it with a passphrase or the
//! recovery key, and managing its users and their key slots.
//!
//! The state is a type: a [`Vault<Locked>`] can only report what the file
//! shows anyone (format, KDF parameters, counts); a [`Vault<Unlocked>`] holds
//! the master key and the acting user's signing key, and is what records,
//! custody and bundles are built on. Dropping it wipes the keys.

pub(crate) mod slots;
pub mod signers;
pub mod users;

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::crypto::aead::{open_value, seal_value};
use crate::crypto::kdf::{self, KdfParams};
use crate::crypto::keys::{MasterKey, Purpose, SymmetricKey};
use crate::crypto::random_id;
use crate::crypto::recovery::RecoveryKey;
use crate::crypto::signing::UserSigningKey;
use crate::error::{Error, Result};
use crate::format::{Binding, Id};
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
    key_id: String,
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

/// What a write needs besides the transaction: who acts, with which keys.
pub struct Session<'a> {
    /// The vault's id.
    pub vault_id: Id,
    /// Purpose subkeys.
    pub keys: &'a KeyRing,
    /// The acting user.
    pub user: &'a ActiveUser,
    /// The acting user's minisign key id (hex).
    pub key_id: String,
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

/// The current time, UTC, RFC 3339 to the second.
pub fn now_utc() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
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
    /// Ed25519 key for the first user, and a recovery slot.
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
        };
        let settings_blob = seal_value(
            &master.subkey(Purpose::Settings)?,
            &settings_binding(&vault_id),
            &settings,
        )?;
        let profile = UserProfile::new(&user_name, &signing, &created_at);
        let profile_blob = users::seal_profile(&master, &user_id, &profile)?;
        let pass_slot = slots::passphrase_slot(&master, &user_id, passphrase, &params, &signing)?;
        let rec_slot = slots::recovery_slot(&master, &recovery_key)?;
        let row = VaultRow {
            vault_id,
            kdf_profile: profile_name.to_owned(),
            kdf_default: params,
            settings: settings_blob,
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
            Ok(())
        })?;
        let user = ActiveUser {
            id: user_id,
            name: user_name,
            signing,
            profile,
        };
        Ok(Created {
            vault: Vault::unlocked(store, row, master, user)?,
            recovery_key,
        })
    }

    /// Unlocks with a passphrase. Without `user`, only the vault's first
    /// active user's slot is tried (one KDF run). With `user`, slots are
    /// tried in user order until one opens *and* belongs to that name (slots
    /// carry no names, by design; see docs/format.md).
    pub fn unlock(self, user: Option<&str>, passphrase: &str) -> Result<Vault<Unlocked>> {
        let candidates = rows::slots(self.store.conn(), SlotKind::Passphrase)?;
        let candidates: Vec<_> = match user {
            None => candidates.into_iter().take(1).collect(),
            Some(_) => candidates,
        };
        for slot in candidates {
            let Some(opened) = slots::open_passphrase_slot(&self.row.vault_id, &slot, passphrase)?
            else {
                continue;
            };
            let (master, signing) = opened;
            let Some(user_id) = slot.user_id else {
                continue;
            };
            let profile = users::load_profile(&self.store, &master, &user_id)?;
            if let Some(wanted) = user {
                if profile.name != users::normalize_user_name(wanted) {
                    continue;
                }
            }
            if profile.removed_at.is_some() {
                continue;
            }
            users::check_signing_key(&profile, &signing)?;
            let user = ActiveUser {
                id: user_id,
                name: profile.name.clone(),
                signing,
                profile,
            };
            return Vault::unlocked(self.store, self.row, master, user);
        }
        Err(Error::WrongPassphrase)
    }

    /// Opens the vault with the recovery key and gives `user` (default: the
    /// first active user) a new passphrase. Their old signing key cannot be
    /// recovered (it was wrapped under the forgotten passphrase), so a new
    /// one is made; the old public key stays in the profile, retired, so
    /// history signed with it still verifies.
    pub fn recover(
        mut self,
        recovery_key: &RecoveryKey,
        user: Option<&str>,
        new_passphrase: &str,
    ) -> Result<Vault<Unlocked>> {
        let rec_slots = rows::slots(self.store.conn(), SlotKind::Recovery)?;
        let master = rec_slots
            .iter()
            .find_map(|s| slots::open_recovery_slot(&self.row.vault_id, s, recovery_key).ok())
            .ok_or(Error::WrongRecoveryKey)?;
        let (user_id, mut profile) = users::find_user(&self.store, &master, user)?;
        let signing = UserSigningKey::generate()?;
        profile.rotate_signing_key(&signing, &now_utc());
        let params = authenticated_kdf(&master, &self.row)?;
        let slot = slots::passphrase_slot(&master, &user_id, new_passphrase, &params, &signing)?;
        let profile_blob = users::seal_profile(&master, &user_id, &profile)?;
        let tx = self.store.write()?;
        rows::delete_user_slots(&tx, &user_id)?;
        rows::insert_slot(&tx, &slot)?;
        rows::update_user_profile(&tx, &user_id, &profile_blob)?;
        tx.commit()?;
        let user = ActiveUser {
            id: user_id,
            name: profile.name.clone(),
            signing,
            profile,
        };
        Vault::unlocked(self.store, self.row, master, user)
    }
}

impl Vault<Unlocked> {
    fn unlocked(
        store: Store,
        row: VaultRow,
        master: MasterKey,
        user: ActiveUser,
    ) -> Result<Vault<Unlocked>> {
        let keys = KeyRing::derive(&master)?;
        let key_id =
            crate::crypto::minisign::PublicKey::new(user.signing.verifying_key()).key_id_hex();
        Ok(Vault {
            store,
            row,
            state: Unlocked {
                master,
                keys,
                user,
                key_id,
            },
        })
    }

    /// Runs `f` in one write transaction with the acting session; commits
    /// only if `f` succeeds, so a failure leaves the vault as it was.
    pub fn write<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &Session<'_>) -> Result<T>,
    ) -> Result<T> {
        let session = Session {
            vault_id: self.row.vault_id,
            keys: &self.state.keys,
            user: &self.state.user,
            key_id: self.state.key_id.clone(),
        };
        let tx = self.store.write()?;
        let out = f(&tx, &session)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on a consistent read snapshot with the acting session.
    pub fn read<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &Session<'_>) -> Result<T>,
    ) -> Result<T> {
        let session = Session {
            vault_id: self.row.vault_id,
            keys: &self.state.keys,
            user: &self.state.user,
            key_id: self.state.key_id.clone(),
        };
        let tx = self.store.read()?;
        f(&tx, &session)
    }

    /// The purpose subkeys.
    pub fn keys(&self) -> &KeyRing {
        &self.state.keys
    }

    /// Public keys of every user, current and retired, by minisign key id.
    pub fn key_directory(&self) -> Result<crate::custody::KeyDirectory> {
        let mut out = crate::custody::KeyDirectory::new();
        for (_, profile) in users::all_profiles(&self.store, &self.state.master)? {
            for key in profile.all_keys()? {
                let id = crate::crypto::minisign::PublicKey::new(key).key_id_hex();
                out.insert(id, (profile.name.clone(), key));
            }
        }
        Ok(out)
    }

    /// When each key of a removed user stopped being valid: its minisign
    /// key id and the user's removal time (RFC 3339, UTC).
    pub fn removed_keys(&self) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for (_, profile) in users::all_profiles(&self.store, &self.state.master)? {
            if let Some(removed_at) = &profile.removed_at {
                for key in profile.all_keys()? {
                    let id = crate::crypto::minisign::PublicKey::new(key).key_id_hex();
                    out.insert(id, removed_at.clone());
                }
            }
        }
        Ok(out)
    }

    /// The acting user.
    pub fn user(&self) -> &ActiveUser {
        &self.state.user
    }

    /// A purpose subkey of the master key.
    pub fn subkey(&self, purpose: Purpose) -> Result<SymmetricKey> {
        Ok(self.state.master.subkey(purpose)?)
    }

    /// The store, for the record, custody and bundle layers.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, mutably (to start write transactions).
    pub fn store_mut(&mut self) -> &mut Store {
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

    /// Parameters new passphrase slots get in this vault (from the sealed,
    /// authenticated settings).
    pub fn kdf_default(&self) -> Result<KdfParams> {
        authenticated_kdf(&self.state.master, &self.row)
    }

    /// Every user with their status and keys.
    pub fn users(&self) -> Result<Vec<users::UserSummary>> {
        users::list(&self.store, &self.state.master)
    }

    /// Adds a user with their own passphrase and a fresh signing key. The
    /// slow key derivation runs first; the name is checked again inside the
    /// write transaction, so two concurrent `user add` of one name cannot
    /// both succeed.
    pub fn add_user(&mut self, name: &str, passphrase: &str) -> Result<Id> {
        users::validate_user_name(name)?;
        let name = users::normalize_user_name(name);
        let name = name.as_str();
        let taken = |profiles: &[(Id, UserProfile)]| {
            profiles
                .iter()
                .any(|(_, p)| p.name == name && p.removed_at.is_none())
        };
        if taken(&users::all_profiles(&self.store, &self.state.master)?) {
            return Err(Error::UserExists(name.to_owned()));
        }
        let user_id = random_id()?;
        let signing = UserSigningKey::generate()?;
        let profile = UserProfile::new(name, &signing, &now_utc());
        let profile_blob = users::seal_profile(&self.state.master, &user_id, &profile)?;
        let slot = slots::passphrase_slot(
            &self.state.master,
            &user_id,
            passphrase,
            &self.kdf_default()?,
            &signing,
        )?;
        let tx = self.store.write()?;
        if taken(&users::profiles_in(&tx, &self.state.master)?) {
            return Err(Error::UserExists(name.to_owned()));
        }
        let position = rows::next_user_position(&tx)?;
        rows::insert_user(
            &tx,
            &rows::UserRow {
                user_id,
                position,
                profile: profile_blob,
            },
        )?;
        rows::insert_slot(&tx, &slot)?;
        tx.commit()?;
        Ok(user_id)
    }

    /// Removes a user: their slot is deleted (their passphrase no longer
    /// opens the vault) and their profile is marked removed; their public
    /// keys stay so what they signed still verifies. Everything is decided
    /// inside one write transaction, so two concurrent removals cannot leave
    /// a vault without users.
    pub fn remove_user(&mut self, name: &str) -> Result<()> {
        let name = users::normalize_user_name(name);
        let name = name.as_str();
        let master = &self.state.master;
        let tx = self.store.write()?;
        let profiles = users::profiles_in(&tx, master)?;
        let Some((user_id, profile)) = profiles
            .iter()
            .find(|(_, p)| p.name == name && p.removed_at.is_none())
        else {
            if let Some(at) = profiles
                .iter()
                .filter(|(_, p)| p.name == name)
                .find_map(|(_, p)| p.removed_at.as_ref())
            {
                return Err(Error::Invalid(format!(
                    "user \"{name}\" was already removed (at {at})"
                )));
            }
            return Err(Error::UnknownUser(name.to_owned()));
        };
        if profiles
            .iter()
            .filter(|(_, p)| p.removed_at.is_none())
            .count()
            <= 1
        {
            return Err(Error::Invalid(format!(
                "\"{name}\" is the only user; a vault must keep at least one"
            )));
        }
        let mut profile = profile.clone();
        profile.removed_at = Some(now_utc());
        let blob = users::seal_profile(master, user_id, &profile)?;
        rows::delete_user_slots(&tx, user_id)?;
        rows::update_user_profile(&tx, user_id, &blob)?;
        tx.commit()?;
        Ok(())
    }

    /// Re-wraps the acting user's slot under a new passphrase (fresh salt).
    /// The data and the master key are untouched.
    pub fn change_passphrase(&mut self, new_passphrase: &str) -> Result<()> {
        let user = &self.state.user;
        let slot = slots::passphrase_slot(
            &self.state.master,
            &user.id,
            new_passphrase,
            &self.kdf_default()?,
            &user.signing,
        )?;
        let tx = self.store.write()?;
        rows::delete_user_slots(&tx, &user.id)?;
        rows::insert_slot(&tx, &slot)?;
        tx.commit()?;
        Ok(())
    }

    /// The current public key of a user (default: the acting user).
    pub fn public_key(&self, user: Option<&str>) -> Result<ed25519_dalek::VerifyingKey> {
        match user {
            None => Ok(self.state.user.signing.verifying_key()),
            Some(name) => {
                let (_, profile) = users::find_user(&self.store, &self.state.master, Some(name))?;
                profile.current_key()
            }
        }
    }

    /// The acting user's signing key.
    pub fn signing_key(&self) -> &UserSigningKey {
        &self.state.user.signing
    }
}

/// The KDF parameters from the sealed settings; a plaintext copy that
/// disagrees with them means the file was tampered with.
fn authenticated_kdf(master: &MasterKey, row: &VaultRow) -> Result<KdfParams> {
    let settings: Settings = open_value(
        &master.subkey(Purpose::Settings)?,
        &settings_binding(&row.vault_id),
        &row.settings,
    )
    .map_err(|_| Error::Integrity("the vault settings do not authenticate".into()))?;
    settings.kdf.validate()?;
    if settings.kdf != row.kdf_default {
        return Err(Error::Integrity(
            "the plaintext KDF parameters of the vault differ from its sealed settings: \
             the file was tampered with"
                .into(),
        ));
    }
    Ok(settings.kdf)
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

impl Vault<Unlocked> {
    /// The signers pinned in this vault (see [`signers`]).
    pub fn pinned_signers(&mut self) -> Result<Vec<signers::PinnedSigner>> {
        // Filled in by the vault-state work; until then nothing is pinned.
        Ok(Vec::new())
    }
}
