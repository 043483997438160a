//! Cryptography: passphrase key derivation, the master key and its purpose
//! subkeys, AEAD sealing of values bound to their place, recovery keys and
//! signing keys.
//!
//! This module owns keys and the operations on them. It knows the byte
//! layouts of [`crate::format`] but nothing of SQLite, records or the CLI.
//! Every secret it hands out is zeroized on drop.

pub mod aead;
pub mod kdf;
pub mod keys;
pub mod recovery;
pub mod signing;
pub mod strength;
mod xchacha;

use thiserror::Error;
use zeroize::Zeroize;

use crate::format::FormatError;

/// A byte buffer wiped when dropped, as `Zeroizing<Vec<u8>>` is, but with
/// one fill behind an optimisation barrier (`<[u8]>::zeroize`) where
/// `Vec::zeroize` makes a volatile store per byte: for the buffers that
/// hold a whole batch of opened search texts, whose wiping cost more than
/// a third of their decryption that way. Both the bytes in use and the
/// spare capacity are wiped.
#[derive(Default)]
pub(crate) struct WipedBytes(pub(crate) Vec<u8>);

impl Drop for WipedBytes {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
        self.0.spare_capacity_mut().zeroize();
    }
}

/// Failures of cryptographic operations. Opening failures are deliberately
/// not more specific than "does not authenticate": a wrong key and a
/// modified ciphertext look the same.
#[derive(Debug, Error)]
pub enum CryptoError {
    /// An AEAD ciphertext did not authenticate under this key and binding.
    #[error("ciphertext does not authenticate (wrong key, altered, or moved from elsewhere)")]
    Unauthentic,
    /// The ciphertext's envelope or padding was malformed.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// Argon2 parameters outside the accepted bounds (checked before use).
    #[error("key-derivation parameters out of bounds: {0}")]
    KdfParamsOutOfBounds(String),
    /// A key slot's Argon2 parameters go beyond what the vault's sealed
    /// default allows (see [`kdf::check_slot_params`]).
    #[error(
        "a key slot's key-derivation {parameter} is {value}, above the {limit} this vault \
         allows (4 times its sealed default, and at most 1 GiB of memory)"
    )]
    SlotKdfAboveDefault {
        /// Which parameter.
        parameter: kdf::KdfParameter,
        /// The slot's value.
        value: u64,
        /// The most allowed.
        limit: u64,
    },
    /// The Argon2 implementation refused the parameters or failed.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// A decrypted value could not be decoded.
    #[error("decrypted value is malformed: {0}")]
    Decode(String),
    /// A value could not be encoded for sealing.
    #[error("value could not be encoded: {0}")]
    Encode(String),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
    /// A recovery key was mistyped or is not a recovery key.
    #[error("recovery key is malformed: {0}")]
    MalformedRecoveryKey(String),
    /// A signing key did not match or could not be decoded.
    #[error("signing key is invalid: {0}")]
    BadSigningKey(String),
}

/// Fills a buffer with bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(out)
}

/// A fresh random id.
pub(crate) fn random_id() -> Result<crate::format::Id, CryptoError> {
    Ok(crate::format::Id(random_bytes()?))
}
