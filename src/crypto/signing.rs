//! Users' Ed25519 signing keys (custody events, checkpoints, bundle
//! signatures). The secret half never leaves this type unwrapped except to
//! be sealed into its owner's slot.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use zeroize::Zeroizing;

use super::{random_bytes, CryptoError};

/// A user's Ed25519 key pair; the secret is wiped on drop (ed25519-dalek's
/// `zeroize` feature).
pub struct UserSigningKey(SigningKey);

impl UserSigningKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Result<UserSigningKey, CryptoError> {
        let seed = Zeroizing::new(random_bytes::<32>()?);
        Ok(UserSigningKey(SigningKey::from_bytes(&seed)))
    }

    /// Rebuilds a key from its 32-byte secret seed.
    pub fn from_secret(secret: &[u8]) -> Result<UserSigningKey, CryptoError> {
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            secret
                .try_into()
                .map_err(|_| CryptoError::BadSigningKey("secret is not 32 bytes".into()))?,
        );
        Ok(UserSigningKey(SigningKey::from_bytes(&seed)))
    }

    /// The secret seed, for sealing into the owner's slot.
    pub fn secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// Signs a message.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }

    /// The underlying dalek key (for the minisign writer).
    pub fn dalek(&self) -> &SigningKey {
        &self.0
    }
}

/// Verifies a signature with the strict rules (no malleable encodings).
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &Signature) -> bool {
    key.verify_strict(message, signature).is_ok() && key.verify(message, signature).is_ok()
}

/// Decodes a 32-byte public key.
pub(crate) fn verifying_key_from_bytes(bytes: &[u8]) -> Result<VerifyingKey, CryptoError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| CryptoError::BadSigningKey("public key is not 32 bytes".into()))?;
    VerifyingKey::from_bytes(&arr).map_err(|e| CryptoError::BadSigningKey(e.to_string()))
}

/// Decodes a base64 32-byte public key (as stored in user profiles).
pub fn verifying_key_from_base64(text: &str) -> Result<VerifyingKey, CryptoError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| CryptoError::BadSigningKey("public key is not valid base64".into()))?;
    verifying_key_from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_rebuild() {
        let k = UserSigningKey::generate().unwrap();
        let sig = k.sign(b"event");
        assert!(verify(&k.verifying_key(), b"event", &sig));
        assert!(!verify(&k.verifying_key(), b"evenT", &sig));
        let again = UserSigningKey::from_secret(k.secret().as_ref()).unwrap();
        assert_eq!(again.verifying_key(), k.verifying_key());
        assert!(UserSigningKey::from_secret(&[1; 31]).is_err());
    }
}
