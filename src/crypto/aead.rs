//! Sealing: XChaCha20-Poly1305 over padded plaintext, with associated data
//! that binds each ciphertext to its place ([`Binding`]).
//!
//! `seal_value`/`open_value` are the record-encryption API the rest of the
//! crate uses: a serde value goes in, an envelope (see
//! [`crate::format::Envelope`]) comes out, and it only opens again under the
//! same key *and* the same (vault, kind, record, version, field).

use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use super::keys::SymmetricKey;
use super::xchacha;
use super::{random_bytes, CryptoError};
use crate::format::{pad, unpad, Binding, Envelope, ENVELOPE_VERSION, NONCE_LEN, TAG_LEN};

/// Seals raw bytes: pads them, encrypts with a fresh random nonce, binds to `binding`.
pub fn seal_bytes(
    key: &SymmetricKey,
    binding: &Binding<'_>,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal_bytes_with_nonce(key, binding, plaintext, &random_bytes()?)
}

/// [`seal_bytes`] under a given nonce: the one code path of padded sealing.
fn seal_bytes_with_nonce(
    key: &SymmetricKey,
    binding: &Binding<'_>,
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let padded = Zeroizing::new(pad(plaintext)?);
    seal_raw_with_nonce(key, &binding.associated_data(), &padded, nonce)
}

/// Opens bytes sealed by [`seal_bytes`] under the same key and binding.
pub(crate) fn open_bytes(
    key: &SymmetricKey,
    binding: &Binding<'_>,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let padded = open_raw(key, &binding.associated_data(), sealed)?;
    Ok(Zeroizing::new(unpad(&padded)?.to_vec()))
}

/// Opens bytes sealed by [`seal_bytes`] where they lie: `buf` holds the
/// envelope on entry and the plaintext afterwards, at the returned range
/// (the header, length prefix, padding and tag around it are left as they
/// are). No allocation and no copy: for scans that open every statement's
/// search text, where the caller reuses and finally wipes one buffer. When
/// the tag does not authenticate, the ciphertext's place is zeroed (no
/// unauthenticated plaintext); when it does but the padding is malformed,
/// the buffer holds the authenticated plaintext, which the caller wipes as
/// it wipes the buffer.
pub(crate) fn open_bytes_in_place(
    key: &SymmetricKey,
    binding: &Binding<'_>,
    buf: &mut [u8],
) -> Result<std::ops::Range<usize>, CryptoError> {
    let (version, nonce) = {
        let env = Envelope::parse(buf)?;
        (env.version, *env.nonce)
    };
    // `parse` checked that header and tag fit.
    let body_start = 1 + NONCE_LEN;
    let tag_start = buf.len() - TAG_LEN;
    let (head, tag) = buf.split_at_mut(tag_start);
    let body = head
        .get_mut(body_start..)
        .ok_or(crate::format::FormatError::TruncatedEnvelope(tag_start))?;
    let aad = Envelope::associated_data(version, &binding.associated_data());
    xchacha::open_in_place(key, &nonce, &aad, body, tag)?;
    let len = unpad(body)?.len();
    // `unpad` returns the bytes after the 4-byte length prefix.
    Ok(body_start + 4..body_start + 4 + len)
}

/// Seals a serde value (encoded as JSON, then padded).
pub(crate) fn seal_value<T: Serialize + ?Sized>(
    key: &SymmetricKey,
    binding: &Binding<'_>,
    value: &T,
) -> Result<Vec<u8>, CryptoError> {
    seal_value_inner(key, binding, value, &random_bytes()?)
}

/// [`seal_value`] under a fixed nonce, for the reproducible test vectors of
/// `docs/format.md` §20. Never for real data: a nonce must not repeat.
#[cfg(test)]
pub(crate) fn seal_value_with_nonce<T: Serialize + ?Sized>(
    key: &SymmetricKey,
    binding: &Binding<'_>,
    value: &T,
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    seal_value_inner(key, binding, value, nonce)
}

/// The one code path of [`seal_value`]: JSON, then [`seal_bytes_with_nonce`].
fn seal_value_inner<T: Serialize + ?Sized>(
    key: &SymmetricKey,
    binding: &Binding<'_>,
    value: &T,
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let json = to_json_zeroizing(value)?;
    seal_bytes_with_nonce(key, binding, &json, nonce)
}

/// Encodes a value as JSON into a buffer that is wiped on drop and never
/// grows: a first pass only counts the bytes, the second writes them into a
/// buffer of exactly that capacity. (`serde_json::to_vec` doubles its
/// buffer as it goes and frees the smaller copies unwiped.)
pub(crate) fn to_json_zeroizing<T: Serialize + ?Sized>(
    value: &T,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let encode = |e: serde_json::Error| CryptoError::Encode(e.to_string());
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_err(encode)?;
    let mut out = Zeroizing::new(Vec::with_capacity(count.0));
    serde_json::to_writer(&mut *out, value).map_err(encode)?;
    Ok(out)
}

/// Opens a value sealed by [`seal_value`].
pub fn open_value<T: DeserializeOwned>(
    key: &SymmetricKey,
    binding: &Binding<'_>,
    sealed: &[u8],
) -> Result<T, CryptoError> {
    let json = open_bytes(key, binding, sealed)?;
    serde_json::from_slice(&json).map_err(|e| CryptoError::Decode(e.to_string()))
}

/// Encrypts without padding (for fixed-size secrets and evidence chunks,
/// whose sizes are already uniform).
pub fn seal_raw(
    key: &SymmetricKey,
    associated_data: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    seal_raw_with_nonce(key, associated_data, plaintext, &random_bytes()?)
}

/// [`seal_raw`] under a given nonce.
fn seal_raw_with_nonce(
    key: &SymmetricKey,
    associated_data: &[u8],
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    seal_raw_into_with_nonce(key, associated_data, plaintext, nonce, &mut out)?;
    Ok(out)
}

/// Writes the envelope of `plaintext` under `nonce` into `out` (cleared
/// first), encrypting it where it is copied: the code path of envelope
/// sealing from a plaintext elsewhere ([`seal_raw_in_place`] seals one
/// already in its place).
fn seal_raw_into_with_nonce(
    key: &SymmetricKey,
    associated_data: &[u8],
    plaintext: &[u8],
    nonce: &[u8; NONCE_LEN],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    out.clear();
    out.reserve(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&Envelope::header(nonce));
    let start = out.len();
    out.extend_from_slice(plaintext);
    let aad = Envelope::associated_data(ENVELOPE_VERSION, associated_data);
    let tag = xchacha::seal_in_place(key, nonce, &aad, &mut out[start..])?;
    out.extend_from_slice(&tag);
    Ok(())
}

/// Like [`seal_raw`], but writes the envelope into `out` (cleared first),
/// encrypting in place: no allocation per call once `out` has grown, which
/// matters when streaming gigabytes in 1 MiB chunks.
#[cfg(test)]
pub(crate) fn seal_raw_into(
    key: &SymmetricKey,
    associated_data: &[u8],
    plaintext: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    seal_raw_into_with_nonce(key, associated_data, plaintext, &random_bytes()?, out)
}

/// Bytes in front of the ciphertext in an envelope (version and nonce):
/// the room [`seal_raw_in_place`] needs before the plaintext.
pub(crate) const ENVELOPE_HEADER_LEN: usize = 1 + NONCE_LEN;

/// Like [`seal_raw_into`], but the plaintext is already in place:
/// `buf[ENVELOPE_HEADER_LEN..]`, behind room for the header. The header
/// is written in front, the plaintext encrypted where it lies and the tag
/// appended, so `buf` becomes the envelope without the plaintext being
/// copied (the same bytes `seal_raw_into` gives for the same nonce).
pub(crate) fn seal_raw_in_place(
    key: &SymmetricKey,
    associated_data: &[u8],
    buf: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let nonce: [u8; NONCE_LEN] = random_bytes()?;
    let header = Envelope::header(&nonce);
    let (head, body) = buf
        .split_at_mut_checked(ENVELOPE_HEADER_LEN)
        .ok_or_else(|| CryptoError::Encode("no room for the envelope header".into()))?;
    if header.len() != head.len() {
        return Err(CryptoError::Encode("unexpected envelope header".into()));
    }
    head.copy_from_slice(&header);
    let aad = Envelope::associated_data(ENVELOPE_VERSION, associated_data);
    let tag = xchacha::seal_in_place(key, &nonce, &aad, body)?;
    buf.extend_from_slice(&tag);
    Ok(())
}

/// Like [`open_raw`], but decrypts in place into `out` (cleared first), so
/// a stream of chunks reuses one buffer. On failure `out` is wiped.
pub(crate) fn open_raw_into(
    key: &SymmetricKey,
    associated_data: &[u8],
    sealed: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let env = Envelope::parse(sealed)?;
    let split = env.ciphertext.len() - TAG_LEN;
    let (body, tag) = env.ciphertext.split_at(split);
    out.clear();
    out.extend_from_slice(body);
    let aad = Envelope::associated_data(env.version, associated_data);
    xchacha::open_in_place(key, env.nonce, &aad, out, tag)
        .inspect_err(|_| zeroize::Zeroize::zeroize(out))
}

/// Decrypts an envelope made by [`seal_raw`].
pub fn open_raw(
    key: &SymmetricKey,
    associated_data: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(Vec::new());
    open_raw_into(key, associated_data, sealed, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Id;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Statement {
        witness: String,
        body: String,
    }

    const VAULT: Id = Id([3; 16]);

    fn binding<'a>(record: &'a str, version: u64, field: &'a str) -> Binding<'a> {
        Binding {
            vault_id: &VAULT,
            kind: "statement",
            record,
            version,
            field,
        }
    }

    fn sample() -> Statement {
        Statement {
            witness: "Évgueni Ivanov".into(),
            body: "Je suis parti en Russie « sans rien ». Я дезертир. شَهَادَة".into(),
        }
    }

    #[test]
    fn round_trip() {
        let key = SymmetricKey::generate().unwrap();
        let b = binding("r1", 1, "body");
        let sealed = seal_value(&key, &b, &sample()).unwrap();
        assert_eq!(
            open_value::<Statement>(&key, &b, &sealed).unwrap(),
            sample()
        );
    }

    #[test]
    fn ciphertext_hides_plaintext_and_nonces_are_fresh() {
        let key = SymmetricKey::generate().unwrap();
        let b = binding("r1", 1, "body");
        let a = seal_value(&key, &b, &sample()).unwrap();
        let c = seal_value(&key, &b, &sample()).unwrap();
        assert_ne!(a, c);
        let needle = b"Ivanov";
        assert!(!a.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn every_flipped_bit_fails() {
        let key = SymmetricKey::generate().unwrap();
        let b = binding("r1", 1, "body");
        let sealed = seal_value(&key, &b, &sample()).unwrap();
        for i in 0..sealed.len() {
            for bit in [0u8, 3, 7] {
                let mut bad = sealed.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    open_value::<Statement>(&key, &b, &bad).is_err(),
                    "flip at byte {i} bit {bit} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn moved_ciphertext_fails() {
        let key = SymmetricKey::generate().unwrap();
        let home = binding("r1", 1, "body");
        let sealed = seal_value(&key, &home, &sample()).unwrap();
        let other_vault = Id([4; 16]);
        let elsewhere = [
            binding("r2", 1, "body"),     // another record
            binding("r1", 2, "body"),     // another version
            binding("r1", 1, "overview"), // another field
            Binding {
                kind: "case",
                ..home
            },
            Binding {
                vault_id: &other_vault,
                ..home
            },
        ];
        for place in elsewhere {
            assert!(matches!(
                open_value::<Statement>(&key, &place, &sealed),
                Err(CryptoError::Unauthentic)
            ));
        }
    }

    #[test]
    fn truncated_ciphertext_fails() {
        let key = SymmetricKey::generate().unwrap();
        let b = binding("r1", 1, "body");
        let sealed = seal_value(&key, &b, &sample()).unwrap();
        for len in [0, 1, 10, 24, 40, sealed.len() - 16, sealed.len() - 1] {
            assert!(open_value::<Statement>(&key, &b, &sealed[..len]).is_err());
        }
    }

    #[test]
    fn seal_raw_into_matches_seal_raw_format() {
        let key = SymmetricKey::generate().unwrap();
        let mut out = vec![9u8; 3];
        seal_raw_into(&key, b"ad", b"chunk bytes", &mut out).unwrap();
        assert_eq!(&open_raw(&key, b"ad", &out).unwrap()[..], b"chunk bytes");
        assert!(open_raw(&key, b"other", &out).is_err());
    }

    #[test]
    fn seal_raw_in_place_gives_the_same_envelope_layout() {
        let key = SymmetricKey::generate().unwrap();
        for plain in [&b""[..], b"x", b"chunk bytes", &[7u8; 5000][..]] {
            let mut buf = vec![0xAAu8; ENVELOPE_HEADER_LEN];
            buf.extend_from_slice(plain);
            seal_raw_in_place(&key, b"ad", &mut buf).unwrap();
            assert_eq!(
                buf.len(),
                ENVELOPE_HEADER_LEN + plain.len() + crate::format::TAG_LEN
            );
            assert_eq!(&open_raw(&key, b"ad", &buf).unwrap()[..], plain);
            assert!(open_raw(&key, b"other", &buf).is_err());
        }
        let mut short = vec![0u8; ENVELOPE_HEADER_LEN - 1];
        assert!(seal_raw_in_place(&key, b"ad", &mut short).is_err());
    }

    #[test]
    fn open_bytes_in_place_gives_what_open_bytes_gives_and_refuses_what_it_refuses() {
        let key = SymmetricKey::generate().unwrap();
        let v1 = Id([1; 16]);
        let at = |record| Binding {
            vault_id: &v1,
            kind: "statement",
            record,
            version: 3,
            field: "search",
        };
        for text in ["", "témoin", &"شهادة ".repeat(500)] {
            let sealed = seal_bytes(&key, &at("r"), text.as_bytes()).unwrap();
            let mut buf = sealed.clone();
            let range = open_bytes_in_place(&key, &at("r"), &mut buf).unwrap();
            assert_eq!(&buf[range], text.as_bytes());
            assert_eq!(
                *open_bytes(&key, &at("r"), &sealed).unwrap(),
                text.as_bytes()
            );
            // Another place, a flipped byte anywhere, a cut envelope: refused.
            let mut elsewhere = sealed.clone();
            assert!(open_bytes_in_place(&key, &at("other"), &mut elsewhere).is_err());
            assert!(
                elsewhere[25..elsewhere.len() - 16].iter().all(|b| *b == 0),
                "no unauthenticated plaintext is left"
            );
            for i in [0, 1, 30, sealed.len() - 1] {
                let mut bad = sealed.clone();
                bad[i] ^= 1;
                assert!(open_bytes_in_place(&key, &at("r"), &mut bad).is_err());
            }
            let mut cut = sealed[..sealed.len() - 1].to_vec();
            assert!(open_bytes_in_place(&key, &at("r"), &mut cut).is_err());
        }
        assert!(open_bytes_in_place(&key, &at("r"), &mut [2u8; 10]).is_err());
    }

    #[test]
    fn open_raw_into_reuses_the_buffer_and_rejects_tampering() {
        let key = SymmetricKey::generate().unwrap();
        let sealed = seal_raw(&key, b"ad", b"chunk").unwrap();
        let mut out = b"stale".to_vec();
        open_raw_into(&key, b"ad", &sealed, &mut out).unwrap();
        assert_eq!(out, b"chunk");
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(open_raw_into(&key, b"ad", &bad, &mut out).is_err());
        assert!(out.iter().all(|b| *b == 0));
    }

    #[test]
    fn json_is_written_into_an_exactly_sized_zeroizing_buffer() {
        let value = sample();
        let json: Zeroizing<Vec<u8>> = to_json_zeroizing(&value).unwrap();
        assert_eq!(*json, serde_json::to_vec(&value).unwrap());
        assert_eq!(json.capacity(), json.len(), "the buffer grew");
        let big = "é".repeat(100_000);
        let json = to_json_zeroizing(&big).unwrap();
        assert_eq!(json.capacity(), json.len());
    }

    #[test]
    fn wrong_key_fails() {
        let b = binding("r1", 1, "body");
        let sealed = seal_value(&SymmetricKey::generate().unwrap(), &b, &sample()).unwrap();
        assert!(open_value::<Statement>(&SymmetricKey::generate().unwrap(), &b, &sealed).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_unicode_round_trips(witness in "\\PC*", body in any::<String>()) {
            let key = SymmetricKey::from_bytes([5; 32]);
            let b = binding("r9", 7, "body");
            let value = Statement { witness, body };
            let sealed = seal_value(&key, &b, &value).unwrap();
            prop_assert_eq!(open_value::<Statement>(&key, &b, &sealed).unwrap(), value);
        }
    }
}
