//! Checkpoints: a short signed receipt of the vault's custody state
//! (vault id, event count, hash of the last event). A copy of the vault that
//! does not contain and extend a receipt it is shown has been rolled back
//! or forked.
//!
//! Receipt text (one line):
//! `custodia-checkpoint:1:<vault id>:<count>:<head hash>:<key id>:<signature>`
//! where the signature is Ed25519, base64, over everything before the last
//! `:` (the prefix through the key id).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ed25519_dalek::Signature;
use serde::Serialize;

use crate::crypto::signing::verify;
use crate::error::{Error, Result};
use ed25519_dalek::VerifyingKey;

const PREFIX: &str = "custodia-checkpoint:1";

/// A checkpoint of the custody state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// The vault id (hex).
    pub vault: String,
    /// Number of events.
    pub count: u64,
    /// Hash of event `count` ([`GENESIS`] when there are none).
    pub head: String,
    /// Key id of the signer.
    pub key_id: String,
    /// Signature, base64.
    pub signature: String,
}

impl Checkpoint {
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
    pub fn parse(text: &str) -> Result<Checkpoint> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = |why: &str| Error::Invalid(format!("not a custodia checkpoint receipt: {why}"));
        let rest = compact
            .strip_prefix(&format!("{PREFIX}:"))
            .ok_or_else(|| bad("it does not start with custodia-checkpoint:1"))?;
        let parts: Vec<&str> = rest.split(':').collect();
        let [vault, count, head, key_id, signature] = parts.as_slice() else {
            return Err(bad("it does not have the five fields after the prefix"));
        };
        let hexy = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hexy(vault, 32) || !hexy(head, 64) {
            return Err(bad("the vault id or head hash is malformed"));
        }
        let count: u64 = count
            .parse()
            .map_err(|_| bad("the event count is not a number"))?;
        Ok(Checkpoint {
            vault: vault.to_ascii_lowercase(),
            count,
            head: head.to_ascii_lowercase(),
            key_id: key_id.to_ascii_uppercase(),
            signature: (*signature).to_owned(),
        })
    }

    /// Checks the receipt's signature with the key its key id names
    /// (`key_for` looks a key id up; `None` means no such key).
    pub fn verify_signature<'k>(
        &self,
        key_for: impl FnOnce(&str) -> Option<&'k VerifyingKey>,
    ) -> bool {
        let Some(key) = key_for(&self.key_id) else {
            return false;
        };
        let Ok(bytes) = B64.decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        let msg = Checkpoint::signed_part(&self.vault, self.count, &self.head, &self.key_id);
        verify(key, msg.as_bytes(), &sig)
    }
}

#[cfg(test)]
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
}
