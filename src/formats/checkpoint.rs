//! The text of a checkpoint receipt: a short signed statement of a vault's
//! custody state (vault id, event count, hash of the last event).
//!
//! Receipt text (one line):
//! `custodia-checkpoint:1:<vault id>:<count>:<head hash>:<key id>:<signature>`
//! where the signature is Ed25519, base64, over everything before the last
//! `:` (the prefix through the key id, `Checkpoint::signed_part`).
//!
//! This module owns parsing and writing that line and checking its
//! signature against a public key it is handed. It does not own signing
//! (the signer's key is the vault's), finding the key for a key id, or
//! comparing a receipt with a vault's events: those are `custody`'s. No
//! I/O, no SQLite, no vault keys.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Serialize;

const PREFIX: &str = "custodia-checkpoint:1";

/// Why a text is not a checkpoint receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a custodia checkpoint receipt: {0}")]
pub struct ReceiptError(&'static str);

/// A checkpoint of the custody state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// The vault id (hex).
    pub vault: String,
    /// Number of events.
    pub count: u64,
    /// Hash of event `count` (the genesis hash when there are none).
    pub head: String,
    /// Key id of the signer.
    pub key_id: String,
    /// Signature, base64.
    pub signature: String,
}

impl Checkpoint {
    /// The signed message for (`vault`, `count`, `head`, `key_id`): the
    /// receipt without its last `:` and signature.
    pub(crate) fn signed_part(vault: &str, count: u64, head: &str, key_id: &str) -> String {
        format!("{PREFIX}:{vault}:{count}:{head}:{key_id}")
    }

    /// The receipt text.
    pub fn receipt(&self) -> String {
        format!(
            "{}:{}",
            Checkpoint::signed_part(&self.vault, self.count, &self.head, &self.key_id),
            self.signature
        )
    }

    /// Parses a receipt (whitespace anywhere is ignored, so a receipt copied
    /// across lines still reads).
    ///
    /// # Errors
    /// Text that is not a receipt: wrong prefix, wrong number of fields, a
    /// malformed vault id, head hash or count. The signature is not checked.
    pub fn parse(text: &str) -> Result<Checkpoint, ReceiptError> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let rest = compact
            .strip_prefix(&format!("{PREFIX}:"))
            .ok_or(ReceiptError("it does not start with custodia-checkpoint:1"))?;
        let parts: Vec<&str> = rest.split(':').collect();
        let [vault, count, head, key_id, signature] = parts.as_slice() else {
            return Err(ReceiptError(
                "it does not have the five fields after the prefix",
            ));
        };
        let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hexy(vault, 32) || !hexy(head, 64) {
            return Err(ReceiptError("the vault id or head hash is malformed"));
        }
        let count: u64 = count
            .parse()
            .map_err(|_| ReceiptError("the event count is not a number"))?;
        Ok(Checkpoint {
            vault: vault.to_ascii_lowercase(),
            count,
            head: head.to_ascii_lowercase(),
            key_id: key_id.to_ascii_uppercase(),
            signature: (*signature).to_owned(),
        })
    }

    /// Whether the signature is `key`'s over [`Checkpoint::signed_part`]
    /// (strict Ed25519, as everywhere in Custodia).
    pub(crate) fn signed_by(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = B64.decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        let msg = Checkpoint::signed_part(&self.vault, self.count, &self.head, &self.key_id);
        key.verify_strict(msg.as_bytes(), &sig).is_ok() && key.verify(msg.as_bytes(), &sig).is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn receipts_parse_back_and_reject_garbage() {
        let cp = Checkpoint {
            vault: "0".repeat(32),
            count: 42,
            head: "a".repeat(64),
            key_id: "0011223344556677".into(),
            signature: "c2ln".into(),
        };
        let text = cp.receipt();
        assert_eq!(Checkpoint::parse(&text).unwrap(), cp);
        let wrapped = format!("{}\n  {}", &text[..40], &text[40..]);
        assert_eq!(Checkpoint::parse(&wrapped).unwrap(), cp);
        assert!(Checkpoint::parse("custodia-checkpoint:1:zz").is_err());
        assert!(Checkpoint::parse("hello").is_err());
    }

    #[test]
    fn signature_is_checked_against_the_key() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let vault = "0".repeat(32);
        let head = "a".repeat(64);
        let msg = Checkpoint::signed_part(&vault, 3, &head, "K");
        let cp = Checkpoint {
            vault,
            count: 3,
            head,
            key_id: "K".into(),
            signature: B64.encode(ed25519_dalek::Signer::sign(&sk, msg.as_bytes()).to_bytes()),
        };
        assert!(cp.signed_by(&sk.verifying_key()));
        let other = ed25519_dalek::SigningKey::from_bytes(&[8; 32]);
        assert!(!cp.signed_by(&other.verifying_key()));
        let moved = Checkpoint { count: 4, ..cp };
        assert!(!moved.signed_by(&sk.verifying_key()));
    }
}
