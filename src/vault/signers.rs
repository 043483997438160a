//! Signers pinned in this vault: public keys of other people (a sending
//! office, a colleague's vault) that `bundle verify` and `bundle import`
//! trust without a `--signer` on the command line. Pinning is a signed
//! custody event; the list lives in the vault's sealed state.

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

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
