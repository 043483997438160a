//! Bytes on disk that do not need a key: identifiers, the associated-data
//! layout that binds every ciphertext to its place, the sealed-envelope
//! layout, and size padding.
//!
//! This module owns *layouts* only. It performs no cryptography (see
//! [`crate::crypto`]) and no I/O (see [`crate::store`]). Everything here is
//! specified in `docs/format.md`; a change here is a format change.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// Name written in the vault's metadata row; identifies a Custodia vault.
pub const VAULT_FORMAT_NAME: &str = "custodia-vault";

/// SQLite `application_id` of a Custodia vault: ASCII "CSTD".
pub const SQLITE_APPLICATION_ID: i32 = 0x4353_5444;

/// Length of every random identifier (vault, record, user, slot), in bytes.
pub const ID_LEN: usize = 16;

/// Shortest id prefix a command accepts.
pub const MIN_ID_PREFIX: usize = 6;

/// Version byte that starts every sealed envelope written now. Version 2
/// authenticates its version byte: it is prefixed to the associated data
/// (see [`Envelope::associated_data`]).
pub const ENVELOPE_VERSION: u8 = 2;

/// Version byte of envelopes written before version 2 (read, never
/// written): their version byte is not authenticated.
pub const ENVELOPE_VERSION_1: u8 = 1;

/// Length of an XChaCha20-Poly1305 nonce.
pub const NONCE_LEN: usize = 24;

/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;

/// Smallest padded plaintext: short fields all look alike.
pub const MIN_PADDED_LEN: usize = 64;

/// Errors in bytes or text that should have had a known layout.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FormatError {
    /// An id was not 32 lowercase hexadecimal characters.
    #[error("{0:?} is not a valid id (expected 32 hexadecimal characters)")]
    BadId(String),
    /// An id prefix was too short or not hexadecimal.
    #[error("{0:?} is not a usable id prefix (give at least 6 hexadecimal characters)")]
    BadIdPrefix(String),
    /// A sealed envelope was shorter than its fixed parts.
    #[error("ciphertext is truncated ({0} bytes)")]
    TruncatedEnvelope(usize),
    /// A sealed envelope started with an unknown version byte.
    #[error("ciphertext has unknown format version {0}")]
    UnknownEnvelopeVersion(u8),
    /// A padded plaintext's length prefix did not fit its buffer.
    #[error("padded plaintext is malformed")]
    BadPadding,
}

/// A random 128-bit identifier, printed as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(pub [u8; ID_LEN]);

impl Id {
    /// Builds an id from raw bytes (e.g. from a database column).
    pub fn from_slice(bytes: &[u8]) -> Result<Id, FormatError> {
        let arr: [u8; ID_LEN] = bytes
            .try_into()
            .map_err(|_| FormatError::BadId(hex::encode(bytes)))?;
        Ok(Id(arr))
    }

    /// The id as lowercase hex (the form stored in the database and shown).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// [`Id::to_hex`] as bytes on the stack, for comparisons in loops
    /// over every record (lowercase hex sorts as the bytes do).
    pub fn hex_bytes(&self) -> [u8; 2 * ID_LEN] {
        let mut out = [0u8; 2 * ID_LEN];
        // Cannot fail: the buffer is exactly twice the id's length.
        let _ = hex::encode_to_slice(self.0, &mut out);
        out
    }

    /// The first `n` hex digits, for compact display.
    pub fn short(&self) -> String {
        let mut s = self.to_hex();
        s.truncate(12);
        s
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.to_hex())
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl FromStr for Id {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<Id, FormatError> {
        // Either case; exactly 32 digits (no allocation: ids are parsed
        // for every row of some scans).
        let mut bytes = [0u8; ID_LEN];
        hex::decode_to_slice(s.trim(), &mut bytes).map_err(|_| FormatError::BadId(s.to_owned()))?;
        Ok(Id(bytes))
    }
}

/// Checks a user-typed id prefix and returns it in canonical (lowercase) form.
pub(crate) fn normalize_id_prefix(prefix: &str) -> Result<String, FormatError> {
    let p = prefix.trim().to_ascii_lowercase();
    if p.len() < MIN_ID_PREFIX || p.len() > 2 * ID_LEN || !p.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(FormatError::BadIdPrefix(prefix.to_owned()));
    }
    Ok(p)
}

/// What a chain of custody events, and the sealed fields bound to it, is
/// about. The stored name ([`Kind::as_str`]) is part of every record
/// field's associated data ([`Binding::kind`]) and of every custody event
/// (`record_kind`), so it is a format constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A case.
    Case,
    /// A witness statement.
    Statement,
    /// An evidence item.
    Evidence,
    /// A user of the vault (the chain of their addition, passphrase
    /// changes and removal; its record id is the user id).
    User,
    /// The vault itself (creation, recovery, pinned signers, migrations;
    /// its record id is the vault id).
    Vault,
}

impl Kind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Case => "case",
            Kind::Statement => "statement",
            Kind::Evidence => "evidence",
            Kind::User => "user",
            Kind::Vault => "vault",
        }
    }

    /// The name with its article, for messages ("a case", "an evidence item").
    pub const fn article(self) -> &'static str {
        match self {
            Kind::Case => "a case",
            Kind::Statement => "a statement",
            Kind::Evidence => "an evidence item",
            Kind::User => "a user",
            Kind::Vault => "the vault",
        }
    }

    /// Whether this kind is a testimony record (a row of `records`).
    pub const fn is_record(self) -> bool {
        matches!(self, Kind::Case | Kind::Statement | Kind::Evidence)
    }

    /// Parses the stored name.
    pub fn from_stored(s: &str) -> Option<Kind> {
        match s {
            "case" => Some(Kind::Case),
            "statement" => Some(Kind::Statement),
            "evidence" => Some(Kind::Evidence),
            "user" => Some(Kind::User),
            "vault" => Some(Kind::Vault),
            _ => None,
        }
    }

    /// Parses the stored name of a testimony record (case, statement,
    /// evidence); `None` for anything else.
    pub(crate) fn record_from_stored(s: &str) -> Option<Kind> {
        Kind::from_stored(s).filter(|k| k.is_record())
    }
}

/// Where a ciphertext belongs. Serialised as the AEAD associated data, so a
/// ciphertext opened anywhere else (another vault, kind, record, version or
/// field) fails authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding<'a> {
    /// The vault the ciphertext belongs to.
    pub vault_id: &'a Id,
    /// What kind of thing holds it: `"case"`, `"statement"`, `"slot"`, …
    pub kind: &'a str,
    /// The holder's identifier (an id in hex, or a position such as an event number).
    pub record: &'a str,
    /// The holder's version (1 for things that have no versions).
    pub version: u64,
    /// Which field of the holder this is.
    pub field: &'a str,
}

impl Binding<'_> {
    /// The associated data: a domain tag, then each part length-prefixed
    /// (u16 big-endian) so no two bindings share an encoding.
    ///
    /// `"custodia/v1/aad" ‖ vault_id(16) ‖ len‖kind ‖ len‖record ‖ version(u64 BE) ‖ len‖field`
    pub fn associated_data(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            16 + ID_LEN + 8 + 6 + self.kind.len() + self.record.len() + self.field.len(),
        );
        out.extend_from_slice(b"custodia/v1/aad");
        out.extend_from_slice(&self.vault_id.0);
        push_prefixed(&mut out, self.kind.as_bytes());
        push_prefixed(&mut out, self.record.as_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        push_prefixed(&mut out, self.field.as_bytes());
        out
    }
}

fn push_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // Kinds, ids and field names are short constants; clamp defensively.
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

/// The parts of a sealed envelope: `version(1) ‖ nonce(24) ‖ ciphertext‖tag`.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// The version byte ([`ENVELOPE_VERSION`] or [`ENVELOPE_VERSION_1`]).
    pub version: u8,
    /// The random nonce.
    pub nonce: &'a [u8; NONCE_LEN],
    /// Ciphertext with its 16-byte tag appended.
    pub ciphertext: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Splits stored bytes into their parts, checking version and length.
    pub fn parse(bytes: &'a [u8]) -> Result<Envelope<'a>, FormatError> {
        if bytes.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(FormatError::TruncatedEnvelope(bytes.len()));
        }
        let version = bytes[0];
        if version != ENVELOPE_VERSION && version != ENVELOPE_VERSION_1 {
            return Err(FormatError::UnknownEnvelopeVersion(version));
        }
        let nonce: &[u8; NONCE_LEN] = bytes[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| FormatError::TruncatedEnvelope(bytes.len()))?;
        Ok(Envelope {
            version,
            nonce,
            ciphertext: &bytes[1 + NONCE_LEN..],
        })
    }

    /// The associated data the AEAD authenticates for an envelope of
    /// `version` bound to `binding_ad` (the caller's associated data, e.g.
    /// [`Binding::associated_data`]): from version 2 on, the version byte
    /// followed by `binding_ad`, so changing the byte in either direction
    /// fails to open; for version 1, `binding_ad` alone, as those envelopes
    /// were written.
    pub fn associated_data(version: u8, binding_ad: &[u8]) -> Vec<u8> {
        if version == ENVELOPE_VERSION_1 {
            return binding_ad.to_vec();
        }
        let mut out = Vec::with_capacity(1 + binding_ad.len());
        out.push(version);
        out.extend_from_slice(binding_ad);
        out
    }

    /// Writes the header of an envelope (version and nonce).
    pub fn header(nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + NONCE_LEN);
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(nonce);
        out
    }
}

/// Padmé padding (Nikitin et al., "Reducing Metadata Leakage from Encrypted
/// Files and Communication with PURBs", 2019): rounds a length up so that at
/// most O(log log L) bits of it remain, with at most ~12% overhead.
pub(crate) fn padme(len: u64) -> u64 {
    if len < 2 {
        return len;
    }
    let e = 63 - u64::from(len.leading_zeros()); // floor(log2 len)
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 e) + 1
    let last_bits = e - s;
    let mask = (1u64 << last_bits) - 1;
    (len + mask) & !mask
}

/// Pads a plaintext: `len(u32 BE) ‖ bytes ‖ zeros` up to
/// `max(MIN_PADDED_LEN, padme(4 + len))`.
pub fn pad(plaintext: &[u8]) -> Result<Vec<u8>, FormatError> {
    let len = u32::try_from(plaintext.len()).map_err(|_| FormatError::BadPadding)?;
    let inner = 4 + plaintext.len() as u64;
    let target = padme(inner).max(MIN_PADDED_LEN as u64) as usize;
    let mut out = Vec::with_capacity(target);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(plaintext);
    out.resize(target, 0);
    Ok(out)
}

/// Removes [`pad`]ding, returning the original plaintext slice.
pub fn unpad(padded: &[u8]) -> Result<&[u8], FormatError> {
    let head: [u8; 4] = padded
        .get(..4)
        .and_then(|h| h.try_into().ok())
        .ok_or(FormatError::BadPadding)?;
    let len = u32::from_be_bytes(head) as usize;
    padded.get(4..4 + len).ok_or(FormatError::BadPadding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_matches_published_examples() {
        // Values from the PURBs paper's definition.
        assert_eq!(padme(0), 0);
        assert_eq!(padme(1), 1);
        assert_eq!(padme(9), 10);
        assert_eq!(padme(100), 104);
        assert_eq!(padme(1000), 1024);
        assert_eq!(padme(1025), 1088);
        for len in 2..5000u64 {
            let p = padme(len);
            assert!(
                p >= len && (p - len) as f64 <= len as f64 * 0.12 + 1.0,
                "{len}->{p}"
            );
        }
    }

    #[test]
    fn pad_round_trips_and_hides_small_sizes() {
        for len in [0usize, 1, 5, 59, 60, 61, 500, 4096] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let padded = pad(&data).unwrap();
            assert!(padded.len() >= MIN_PADDED_LEN);
            assert_eq!(unpad(&padded).unwrap(), &data[..]);
        }
        assert_eq!(pad(b"a").unwrap().len(), pad(b"abcdefgh").unwrap().len());
    }

    #[test]
    fn unpad_rejects_lying_length() {
        let mut padded = pad(b"hello").unwrap();
        padded[0] = 0xff;
        assert_eq!(unpad(&padded), Err(FormatError::BadPadding));
        assert_eq!(unpad(&[0, 0]), Err(FormatError::BadPadding));
    }

    #[test]
    fn bindings_differ_in_every_part() {
        let v1 = Id([1; 16]);
        let v2 = Id([2; 16]);
        let base = Binding {
            vault_id: &v1,
            kind: "statement",
            record: "ab",
            version: 1,
            field: "body",
        };
        let variants = [
            Binding {
                vault_id: &v2,
                ..base
            },
            Binding {
                kind: "case",
                ..base
            },
            Binding {
                record: "ac",
                ..base
            },
            Binding { version: 2, ..base },
            Binding {
                field: "overview",
                ..base
            },
            // Shifting a byte between adjacent parts must not collide.
            Binding {
                kind: "statementa",
                record: "b",
                ..base
            },
        ];
        for v in variants {
            assert_ne!(v.associated_data(), base.associated_data(), "{v:?}");
        }
    }

    /// Decodes a test vector written as hex lines, as in `docs/format.md` §20.
    fn vector(lines: &[&str]) -> Vec<u8> {
        hex::decode(lines.concat()).unwrap()
    }

    /// `docs/format.md` §20, "Associated data" (both vectors).
    #[test]
    fn associated_data_matches_format_vectors() {
        let vault = Id([0x11; 16]);
        let settings = Binding {
            vault_id: &vault,
            kind: "vault",
            record: "settings",
            version: 1,
            field: "settings",
        };
        let ad = settings.associated_data();
        assert_eq!(ad.len(), 66);
        assert_eq!(
            ad,
            vector(&[
                "637573746f6469612f76312f616164111111111111111111111111111111110005",
                "7661756c74000873657474696e67730000000000000001000873657474696e6773",
            ])
        );
        let slot = Binding {
            vault_id: &vault,
            kind: "slot",
            record: "aa:bb",
            version: 1,
            field: "master",
        };
        assert_eq!(
            slot.associated_data(),
            vector(&[
                "637573746f6469612f76312f616164111111111111111111111111111111110004",
                "736c6f74000561613a6262000000000000000100066d6173746572",
            ])
        );
    }

    /// `docs/format.md` §20, "Sealed settings": the padded plaintext.
    #[test]
    fn padding_matches_format_vector() {
        let plaintext: &[u8] = br#"{"name":"Test","created_at":"2026-01-01T00:00:00Z","kdf":{"memory_kib":64,"time_cost":1,"parallelism":1}}"#;
        assert_eq!(plaintext.len(), 105);
        let padded = pad(plaintext).unwrap();
        assert_eq!(padded.len(), 112);
        assert_eq!(
            padded,
            vector(&[
                "000000697b226e616d65223a2254657374222c22637265617465645f6174223a",
                "22323032362d30312d30315430303a30303a30305a222c226b6466223a7b226d",
                "656d6f72795f6b6962223a36342c2274696d655f636f7374223a312c22706172",
                "616c6c656c69736d223a317d7d000000",
            ])
        );
        assert_eq!(unpad(&padded).unwrap(), plaintext);
    }

    #[test]
    fn ids_parse_and_print_lowercase() {
        let id: Id = "00112233445566778899AABBCCDDEEFF".parse().unwrap();
        assert_eq!(id.to_hex(), "00112233445566778899aabbccddeeff");
        assert!("0011".parse::<Id>().is_err());
        assert!("zz112233445566778899aabbccddeeff".parse::<Id>().is_err());
        assert_eq!(normalize_id_prefix("ABCDEF").unwrap(), "abcdef");
        assert!(normalize_id_prefix("abcde").is_err());
        assert!(normalize_id_prefix("abcdeg").is_err());
        assert!(normalize_id_prefix("abc%de").is_err());
    }

    #[test]
    fn envelope_version_is_in_the_associated_data_from_version_2() {
        let ad = b"custodia/v1/aad...";
        assert_eq!(Envelope::associated_data(1, ad), ad.to_vec());
        let v2 = Envelope::associated_data(2, ad);
        assert_eq!(v2[0], 2);
        assert_eq!(&v2[1..], ad);
        assert_ne!(Envelope::associated_data(3, ad), v2);
        let mut b = vec![0u8; 1 + NONCE_LEN + TAG_LEN];
        for version in [1u8, 2] {
            b[0] = version;
            assert_eq!(Envelope::parse(&b).unwrap().version, version);
        }
        assert_eq!(Envelope::header(&[0; NONCE_LEN])[0], 2);
    }

    #[test]
    fn envelope_rejects_short_and_unknown() {
        assert_eq!(
            Envelope::parse(&[1; 10]).unwrap_err(),
            FormatError::TruncatedEnvelope(10)
        );
        let mut b = vec![1u8; 1 + NONCE_LEN + TAG_LEN];
        for bad in [0u8, 3, 9] {
            b[0] = bad;
            assert_eq!(
                Envelope::parse(&b).unwrap_err(),
                FormatError::UnknownEnvelopeVersion(bad)
            );
        }
    }
}
