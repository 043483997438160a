//! Signers pinned in this vault: public keys of other people (a sending
//! office, a colleague's vault) that `bundle verify` and `bundle import`
//! trust without a `--signer` on the command line. Pinning is a signed
//! custody event; the list lives in the vault's sealed state.

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

use crate::custody::state::VaultState;
use crate::error::{Error, Integrity, Invalid, Result};
use crate::formats::minisign::PublicKey;

/// One pinned signer.
#[derive(Clone, Debug, Serialize)]
pub struct PinnedSigner {
    /// A name chosen by whoever pinned it ("Greffe CNDA").
    pub name: String,
    /// The Ed25519 public key.
    #[serde(skip)]
    pub key: VerifyingKey,
    /// The key's fingerprint (SHA-256 of the key bytes, hex).
    pub fingerprint: String,
    /// When it was pinned (UTC, RFC 3339).
    pub pinned_at: String,
    /// Who pinned it.
    pub pinned_by: String,
}

/// The pinned signers the vault state lists, oldest first.
pub fn pinned(state: &VaultState) -> Result<Vec<PinnedSigner>> {
    state
        .signers
        .iter()
        .map(|s| {
            let key = PublicKey::parse(&s.public_key).map_err(|e| {
                Error::Integrity(Integrity::Access {
                    problem: format!("the pinned signer {:?} has a bad key: {e}", s.name),
                })
            })?;
            Ok(PinnedSigner {
                name: s.name.clone(),
                key: key.key,
                fingerprint: key.fingerprint(),
                pinned_at: s.pinned_at.clone(),
                pinned_by: s.pinned_by.clone(),
            })
        })
        .collect()
}

/// A signer's name: 1–64 characters, printable, as user names.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    crate::vault::users::validate_user_name(name).map_err(|_| {
        Error::Invalid(Invalid::Signer {
            problem: format!(
                "a signer name must have 1 to {} characters, without control or \
             bidirectional-text characters, nor start or end with a space",
                crate::vault::users::MAX_USER_NAME
            ),
        })
    })
}
