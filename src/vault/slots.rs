//! Key slots: the master key wrapped under a passphrase-derived key (with
//! the user's signing secret wrapped beside it) or under the recovery key.

use crate::crypto::aead::{open_raw, seal_raw};
use crate::crypto::kdf::{self, KdfParams, SALT_LEN};
use crate::crypto::keys::{hkdf_derive, MasterKey, PassphraseKeys, SymmetricKey};
use crate::crypto::recovery::RecoveryKey;
use crate::crypto::signing::UserSigningKey;
use crate::crypto::{random_bytes, random_id, CryptoError};
use crate::error::{Error, Integrity, Result};
use crate::format::{Binding, Id};
use crate::store::rows::{SlotKind, SlotRow};

/// The slot's associated data: bound to the vault, the slot, and (for
/// passphrase slots) the user, so a slot cannot be re-assigned to another user.
fn slot_binding<'a>(vault_id: &'a Id, record: &'a str, field: &'a str) -> Binding<'a> {
    Binding {
        vault_id,
        kind: "slot",
        record,
        version: 1,
        field,
    }
}

fn slot_record(slot_id: &Id, user_id: Option<&Id>) -> String {
    match user_id {
        Some(u) => format!("{slot_id}:{u}"),
        None => slot_id.to_hex(),
    }
}

/// Builds a passphrase slot for `user_id`.
pub(crate) fn passphrase_slot(
    master: &MasterKey,
    user_id: &Id,
    passphrase: &str,
    params: &KdfParams,
    signing: &UserSigningKey,
) -> Result<SlotRow> {
    let vault_id = master.vault_id();
    let slot_id = random_id()?;
    let salt: [u8; SALT_LEN] = random_bytes()?;
    let stretched = kdf::derive(passphrase, &salt, params)?;
    let keys = PassphraseKeys::from_stretched(&stretched)?;
    let record = slot_record(&slot_id, Some(user_id));
    let wrapped_master = seal_raw(
        &keys.slot_wrap,
        &slot_binding(&vault_id, &record, "master").associated_data(),
        master.key().expose(),
    )?;
    let wrapped_signing_key = seal_raw(
        &keys.signing_wrap,
        &slot_binding(&vault_id, &record, "signing-key").associated_data(),
        signing.secret().as_ref(),
    )?;
    Ok(SlotRow {
        slot_id,
        kind: SlotKind::Passphrase,
        user_id: Some(*user_id),
        kdf: Some(*params),
        salt: salt.to_vec(),
        wrapped_master,
        wrapped_signing_key: Some(wrapped_signing_key),
    })
}

/// Refuses to run a slot whose KDF would cost far more than the vault's
/// default ([`kdf::check_slot_params`]: at most 4× each parameter, and
/// 1 GiB of memory): a slot edited to claim 4 GiB and 64 passes would
/// otherwise cost gigabytes and minutes before failing. Before unlocking,
/// the default is the plaintext copy in the `vault` row; once unlocked it
/// must equal the sealed settings (else the file was tampered with).
/// Says which slot and parameter, for the unlock to skip it with a note.
pub fn check_slot_cost(slot: &SlotRow, default: &KdfParams) -> std::result::Result<(), String> {
    let Some(p) = slot.kdf else {
        return Err(format!(
            "key slot {} has no KDF parameters and was skipped",
            slot.slot_id.short()
        ));
    };
    kdf::check_slot_params(&p, default).map_err(|e| {
        format!(
            "key slot {} was skipped: {e} (the file was tampered with?); run `custodia check`",
            slot.slot_id.short()
        )
    })
}

/// The slot's digest: SHA-256 (hex) of its stored contents (id, kind,
/// user, KDF parameters, salt and wrapped keys, each length-prefixed).
/// The vault state keeps each slot's digest, so a slot altered or damaged
/// in the file is found by `check` even by someone who cannot open it (a
/// colleague's slot, the recovery slot). It says nothing about the keys:
/// it is a hash of ciphertext.
pub(crate) fn slot_digest(slot: &SlotRow) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(b"custodia slot digest v1");
    field(&slot.slot_id.0);
    field(slot.kind.as_str().as_bytes());
    field(slot.user_id.as_ref().map_or(&[][..], |u| &u.0[..]));
    match &slot.kdf {
        Some(k) => {
            field(&k.memory_kib.to_be_bytes());
            field(&k.time_cost.to_be_bytes());
            field(&k.parallelism.to_be_bytes());
        }
        None => field(b""),
    }
    field(&slot.salt);
    field(&slot.wrapped_master);
    field(slot.wrapped_signing_key.as_deref().unwrap_or(&[]));
    hex::encode(h.finalize())
}

/// Tries a passphrase on one slot. `Ok(None)`: not this slot's passphrase.
/// Bounds on the stored KDF parameters are checked before any allocation.
pub(crate) fn open_passphrase_slot(
    vault_id: &Id,
    slot: &SlotRow,
    passphrase: &str,
) -> Result<Option<(MasterKey, UserSigningKey)>> {
    let params = slot.kdf.ok_or_else(|| {
        Error::Integrity(Integrity::Access {
            problem: "a passphrase slot has no KDF parameters".into(),
        })
    })?;
    params.validate()?;
    let salt: [u8; SALT_LEN] = slot.salt.as_slice().try_into().map_err(|_| {
        Error::Integrity(Integrity::Access {
            problem: "a key slot's salt has the wrong length".into(),
        })
    })?;
    let stretched = kdf::derive(passphrase, &salt, &params)?;
    let keys = PassphraseKeys::from_stretched(&stretched)?;
    let record = slot_record(&slot.slot_id, slot.user_id.as_ref());
    let master_bytes = match open_raw(
        &keys.slot_wrap,
        &slot_binding(vault_id, &record, "master").associated_data(),
        &slot.wrapped_master,
    ) {
        Ok(b) => b,
        Err(CryptoError::Unauthentic) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let master = MasterKey::new(SymmetricKey::from_bytes(to_key(&master_bytes)?), *vault_id);
    let wrapped_signing = slot.wrapped_signing_key.as_ref().ok_or_else(|| {
        Error::Integrity(Integrity::Access {
            problem: "a passphrase slot has no signing key".into(),
        })
    })?;
    let secret = open_raw(
        &keys.signing_wrap,
        &slot_binding(vault_id, &record, "signing-key").associated_data(),
        wrapped_signing,
    )
    .map_err(|_| {
        Error::Integrity(Integrity::Access {
            problem: "a user's wrapped signing key does not authenticate".into(),
        })
    })?;
    let signing = UserSigningKey::from_secret(&secret)?;
    Ok(Some((master, signing)))
}

/// The key that wraps the master key in the recovery slot.
pub(crate) fn recovery_wrap_key(recovery: &RecoveryKey, salt: &[u8]) -> Result<SymmetricKey> {
    // The recovery secret has 160 bits of entropy: no stretching is needed.
    Ok(hkdf_derive(recovery.secret(), salt, "recovery-wrap")?)
}

/// Builds the recovery slot.
pub(crate) fn recovery_slot(master: &MasterKey, recovery: &RecoveryKey) -> Result<SlotRow> {
    let vault_id = master.vault_id();
    let slot_id = random_id()?;
    let salt: [u8; SALT_LEN] = random_bytes()?;
    let key = recovery_wrap_key(recovery, &salt)?;
    let record = slot_record(&slot_id, None);
    let wrapped_master = seal_raw(
        &key,
        &slot_binding(&vault_id, &record, "master").associated_data(),
        master.key().expose(),
    )?;
    Ok(SlotRow {
        slot_id,
        kind: SlotKind::Recovery,
        user_id: None,
        kdf: None,
        salt: salt.to_vec(),
        wrapped_master,
        wrapped_signing_key: None,
    })
}

/// Opens the recovery slot.
pub(crate) fn open_recovery_slot(
    vault_id: &Id,
    slot: &SlotRow,
    recovery: &RecoveryKey,
) -> Result<MasterKey> {
    let key = recovery_wrap_key(recovery, &slot.salt)?;
    let record = slot_record(&slot.slot_id, None);
    let bytes = open_raw(
        &key,
        &slot_binding(vault_id, &record, "master").associated_data(),
        &slot.wrapped_master,
    )?;
    Ok(MasterKey::new(
        SymmetricKey::from_bytes(to_key(&bytes)?),
        *vault_id,
    ))
}

fn to_key(bytes: &[u8]) -> Result<[u8; 32]> {
    bytes.try_into().map_err(|_| {
        Error::Integrity(Integrity::Access {
            problem: "a wrapped master key has the wrong length".into(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/format.md`: the recovery slot's wrapping key for the recovery
    /// key vector of `crypto::recovery` and salt `55` × 16.
    #[test]
    fn recovery_wrap_key_matches_format_vector() {
        let secret: [u8; crate::crypto::recovery::SECRET_LEN] = std::array::from_fn(|i| i as u8);
        let key = crate::crypto::recovery::RecoveryKey::parse(
            "000G-40R4-0M30-E209-185G-R38E-1W81-24GK-T1JZ",
        )
        .unwrap();
        assert_eq!(key.secret(), &secret);
        // The derivation the recovery slot uses.
        let wrap = recovery_wrap_key(&key, &[0x55; 16]).unwrap();
        assert_eq!(
            hex::encode(wrap.expose()),
            "5c39c9ac3d22d84366917ad1de0a15fec8b699726c1bbc7efd0afaa0ac68e6cb"
        );
    }
}
