//! The key hierarchy: the master key, the subkeys derived from it for each
//! purpose, and the key-encryption keys that wrap it in slots.
//!
//! ```text
//! passphrase ──NFC──Argon2id(salt, m, t, p)──► stretched key (32 B)
//!      stretched key ──HKDF "slot-wrap"────► KEK   (wraps the master key)
//!      stretched key ──HKDF "signing-wrap"─► SWK   (wraps this user's Ed25519 secret)
//! recovery secret (160 bit) ──HKDF(salt) "recovery-wrap"──► KEK
//! master key (256 bit random) ──HKDF(vault id, "subkey <purpose>")──► one key per Purpose
//! ```

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{random_bytes, CryptoError};
use crate::format::Id;

/// A 256-bit symmetric key, wiped on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SymmetricKey([u8; 32]);

impl SymmetricKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> SymmetricKey {
        SymmetricKey(bytes)
    }

    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> Result<SymmetricKey, CryptoError> {
        Ok(SymmetricKey(random_bytes()?))
    }

    /// The raw bytes, for the cipher.
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymmetricKey(..)")
    }
}

/// What a subkey of the master key is for. Each purpose has its own key so
/// no key is ever used for two things.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Vault settings (its name).
    Settings,
    /// User profiles (names, public keys).
    Users,
    /// Case, statement and evidence metadata and statement bodies.
    Records,
    /// Evidence file chunks.
    Evidence,
    /// Custody events.
    Events,
}

impl Purpose {
    /// The HKDF info label of this purpose.
    pub fn label(self) -> &'static str {
        match self {
            Purpose::Settings => "settings",
            Purpose::Users => "users",
            Purpose::Records => "records",
            Purpose::Evidence => "evidence",
            Purpose::Events => "events",
        }
    }
}

/// HKDF-SHA256 expand of `ikm` with `salt` and a labelled info string.
pub fn hkdf_derive(ikm: &[u8], salt: &[u8], label: &str) -> Result<SymmetricKey, CryptoError> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    let info = format!("custodia v1 {label}");
    hk.expand(info.as_bytes(), out.as_mut())
        .map_err(|e| CryptoError::Kdf(e.to_string()))?;
    Ok(SymmetricKey(*out))
}

/// The vault's master key and the subkeys derived from it.
pub struct MasterKey {
    key: SymmetricKey,
    vault_id: Id,
}

impl MasterKey {
    /// Wraps a master key belonging to `vault_id`.
    pub fn new(key: SymmetricKey, vault_id: Id) -> MasterKey {
        MasterKey { key, vault_id }
    }

    /// The vault this key belongs to.
    pub fn vault_id(&self) -> Id {
        self.vault_id
    }

    /// The raw key, for wrapping it into a slot.
    pub fn key(&self) -> &SymmetricKey {
        &self.key
    }

    /// The subkey for one purpose: HKDF(master, salt = vault id, "subkey <purpose>").
    pub(crate) fn subkey(&self, purpose: Purpose) -> Result<SymmetricKey, CryptoError> {
        hkdf_derive(
            self.key.expose(),
            &self.vault_id.0,
            &format!("subkey {}", purpose.label()),
        )
    }
}

/// The keys a passphrase opens: one wraps the master key, one wraps the
/// user's signing secret.
pub struct PassphraseKeys {
    /// Wraps the master key in the slot.
    pub slot_wrap: SymmetricKey,
    /// Wraps the user's Ed25519 secret.
    pub signing_wrap: SymmetricKey,
}

impl PassphraseKeys {
    /// Splits an Argon2id output into its two wrapping keys.
    pub(crate) fn from_stretched(stretched: &[u8; 32]) -> Result<PassphraseKeys, CryptoError> {
        Ok(PassphraseKeys {
            slot_wrap: hkdf_derive(stretched, b"", "slot-wrap")?,
            signing_wrap: hkdf_derive(stretched, b"", "signing-wrap")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_differ_per_purpose_and_vault() {
        let k = SymmetricKey::from_bytes([9; 32]);
        let a = MasterKey::new(k.clone(), Id([1; 16]));
        let b = MasterKey::new(k, Id([2; 16]));
        let records = a.subkey(Purpose::Records).unwrap();
        assert_ne!(
            records.expose(),
            a.subkey(Purpose::Events).unwrap().expose()
        );
        assert_ne!(
            records.expose(),
            b.subkey(Purpose::Records).unwrap().expose()
        );
        assert_eq!(
            records.expose(),
            a.subkey(Purpose::Records).unwrap().expose()
        );
        assert_ne!(records.expose(), &[9; 32]);
    }

    /// `docs/format.md` §20, "Subkeys": master key `22` × 32, vault id `11` × 16.
    #[test]
    fn subkeys_match_format_vectors() {
        let master = MasterKey::new(SymmetricKey::from_bytes([0x22; 32]), Id([0x11; 16]));
        let vectors = [
            (
                Purpose::Settings,
                "62ba03cad4a629cfb98a2ba542ce86f8412142bad37f89272530b4628ece955a",
            ),
            (
                Purpose::Users,
                "1d31f7d3652e524e806b20802f00d826f26844102c0033f340754b18d01a9c92",
            ),
            (
                Purpose::Records,
                "de764973fa9a3448f132d673a4010e604a56b4bd54ce2466c4791bda44170f63",
            ),
            (
                Purpose::Evidence,
                "3ac94cc524e4aca6606c4b1106fb1dbe49c6d2119355b902c935c46be4d56000",
            ),
            (
                Purpose::Events,
                "f37a4bd7364282eefd3f1b21bf19912a16c38e5f9e67b50491e2b975e2c9fe50",
            ),
        ];
        for (purpose, expected) in vectors {
            assert_eq!(
                hex::encode(master.subkey(purpose).unwrap().expose()),
                expected,
                "{purpose:?}"
            );
        }
    }

    /// `docs/format.md` §20, "Wrapping keys": stretched key `33` × 32.
    #[test]
    fn wrapping_keys_match_format_vectors() {
        let keys = PassphraseKeys::from_stretched(&[0x33; 32]).unwrap();
        assert_eq!(
            hex::encode(keys.slot_wrap.expose()),
            "e5881fe6bb4d5c8665cfd26cd8eee7fd2897e81b7b0362cfa5653581512d7c47"
        );
        assert_eq!(
            hex::encode(keys.signing_wrap.expose()),
            "e0ca9730803f6c89c150cb433c748b82446b4962cf9ff42b93ed9da59579e9a7"
        );
    }

    #[test]
    fn debug_does_not_print_key() {
        let k = SymmetricKey::from_bytes([0xab; 32]);
        assert!(!format!("{k:?}").contains("ab"));
    }
}
