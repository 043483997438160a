//! Minisign public keys and signatures (sign and verify) for Custodia.
//!
//! Custodia signs a bundle's BagIt tag manifest with a detached signature in
//! the format of the `minisign` tool by Frank Denis. A third party (for
//! example a court's expert) can then check the bag with the stock tool,
//! without any Custodia software:
//!
//! ```text
//! minisign -Vm BAG/tagmanifest-sha256.txt -P <public key line>
//! minisign -Vm BAG/tagmanifest-sha256.txt -p custodia.pub
//! ```
//!
//! This module writes and reads exactly the bytes described below. Every
//! "base64" in this document is the standard alphabet of RFC 4648 section 4
//! (`A–Z a–z 0–9 + /`) **with** `=` padding and no line wrapping. Every line
//! ends with a single line feed (`0x0A`). Text is UTF-8.
//!
//! # Cryptographic primitives
//!
//! * **Ed25519** as specified in RFC 8032 section 5.1 ("PureEdDSA", *not*
//!   Ed25519ph). A public key is 32 bytes, a signature is 64 bytes
//!   (`R` 32 bytes followed by `S` 32 bytes).
//! * **BLAKE2b-512** as specified in RFC 7693: unkeyed, no salt, no
//!   personalisation, 64-byte output. This is what libsodium calls
//!   `crypto_generichash` with a 64-byte output, which minisign uses.
//!
//! # Public key file (`.pub`)
//!
//! Two lines:
//!
//! ```text
//! untrusted comment: <free text>
//! <base64 of the 42-byte public key blob>
//! ```
//!
//! The 42-byte public key blob, before base64 (56 base64 characters, no `=`):
//!
//! | offset | length | content                                                   |
//! |-------:|-------:|-----------------------------------------------------------|
//! |      0 |      2 | signature algorithm: ASCII `Ed` (`0x45 0x64`)             |
//! |      2 |      8 | key id (see below)                                        |
//! |     10 |     32 | Ed25519 public key, RFC 8032 encoding                     |
//!
//! The first line is **not** authenticated by anything; `minisign` ignores
//! it. Only the second line matters, and `minisign -P` takes that line alone.
//!
//! # Signature file (`.minisig`)
//!
//! Four lines, each ending in a line feed:
//!
//! ```text
//! untrusted comment: <free text>
//! <base64 of the 74-byte signature blob>
//! trusted comment: <trusted comment text>
//! <base64 of the 64-byte global signature>
//! ```
//!
//! The 74-byte signature blob, before base64 (100 base64 characters, the
//! last one being `=`):
//!
//! | offset | length | content                                                   |
//! |-------:|-------:|-----------------------------------------------------------|
//! |      0 |      2 | algorithm: ASCII `ED` (`0x45 0x44`) = prehashed (the only form read), or `Ed` (`0x45 0x64`) = legacy (refused) |
//! |      2 |      8 | key id of the signing key (must equal the public key's)   |
//! |     10 |     64 | Ed25519 signature over the *message* defined below        |
//!
//! * With `ED` (what this module always writes, and what current minisign
//!   writes by default) the signed message is the 64-byte
//!   BLAKE2b-512 digest of the whole file. The digest is signed with plain
//!   Ed25519 (not Ed25519ph).
//! * With `Ed` (legacy; `minisign -S -l`) the signed message is the raw
//!   content of the file. This module neither produces nor accepts such
//!   signatures: parsing one fails with [`MinisignError::LegacySignature`].
//!
//! The global signature (64 bytes, 88 base64 characters ending in `==`) is
//! an Ed25519 signature, by the same key, over the concatenation
//!
//! ```text
//! signature (the 64 bytes at offset 10 of the signature blob) || trusted comment bytes
//! ```
//!
//! where "trusted comment bytes" are the UTF-8 bytes of line 3 *after* the
//! 17-byte prefix `trusted comment: ` and *without* the line terminator.
//! Nothing else on the line is trimmed: leading and trailing spaces are
//! signed. This binds the trusted comment (Custodia puts metadata such as a
//! timestamp and the bundle name there) to the file signature. The
//! untrusted comment on line 1 is not signed by anything.
//!
//! # Key id
//!
//! The key id is 8 opaque bytes. Stock `minisign -G` picks them at random.
//! Custodia derives them deterministically ([`key_id_for`]): the first 8
//! bytes of BLAKE2b-512 over the ASCII string
//! `custodia minisign key id v1` (27 bytes, no terminator) followed by the
//! 32 public key bytes.
//!
//! Byte order when displayed: minisign reads the 8 stored bytes as a
//! **little-endian** unsigned 64-bit integer and prints that number in
//! upper-case hexadecimal. The printed id is therefore the stored bytes in
//! *reverse* order: stored `2F 91 02 EC 63 35 A7 F7` is shown as
//! `F7A73563EC02912F` (in the `.pub` comment `minisign public key
//! F7A73563EC02912F` and in key-id mismatch messages).
//! [`PublicKey::key_id_hex`] prints the id the same way, always as 16
//! digits. Current upstream minisign also pads to 16 digits (`%016X`), but
//! minisign 0.11 (the Debian package) prints no leading zeros: stored
//! `5C D5 0D 65 12 10 F2 08` appears there as `8F21012650DD55C`, not
//! `08F21012650DD55C`. Both denote the same number; compare ids as numbers.
//!
//! # Verification procedure
//!
//! [`verify`] accepts a signature if and only if, in this order:
//!
//! 1. the signature text parses as above (see "Strictness");
//! 2. the key id in the signature equals the key id in the public key
//!    (otherwise [`MinisignError::KeyIdMismatch`]);
//! 3. the Ed25519 signature over the message (digest or raw file) verifies
//!    (otherwise [`MinisignError::BadSignature`]);
//! 4. the global signature over `signature || trusted comment` verifies
//!    (otherwise [`MinisignError::BadGlobalSignature`]).
//!
//! Ed25519 checks use `ed25519-dalek`'s `verify_strict`, which in addition
//! to RFC 8032 rejects non-canonical `S`, and small-order `R` or public
//! keys, like libsodium's `crypto_sign_verify_detached` that minisign uses.
//! Public keys that are of small order or not canonically encoded are
//! already rejected when parsed.
//!
//! # Strictness and limits (compared with stock minisign)
//!
//! The aim is: whatever this module accepts, stock `minisign -V` accepts
//! too, and whatever this module writes, stock `minisign -V` accepts.
//!
//! * Comments must not contain line feed, carriage return or NUL (minisign
//!   reads lines with C string functions, so a NUL would truncate the
//!   trusted comment it checks). [`sign`] rejects them; the parser rejects
//!   NUL and a carriage return anywhere but immediately before the line
//!   feed (a `\r\n` line ending is accepted, as minisign accepts it).
//! * minisign reads the untrusted comment line into a 1024-byte buffer and
//!   the trusted comment line into an 8192-byte buffer. Hence an untrusted
//!   comment is at most [`MAX_UNTRUSTED_COMMENT_LEN`] = 1003 bytes and a
//!   trusted comment at most [`MAX_TRUSTED_COMMENT_LEN`] = 8173 bytes. Both
//!   limits are enforced when signing and when parsing. When parsing, the
//!   limit is on the whole line as minisign sees it: prefix, comment and a
//!   `\r` of a `\r\n` line ending (so a file with `\r\n` line endings
//!   allows comments one byte shorter; minisign rejects longer ones as
//!   "too long").
//! * Base64 must be canonical (correct padding, unused bits zero).
//!   minisign's own decoder tolerates non-zero unused bits in the final
//!   character; this module does not.
//! * Anything but whitespace after the fourth line of a signature file is
//!   rejected (minisign ignores it). The final line feed is optional.
//! * [`PublicKey::parse`] is lenient about whitespace (it trims lines, so a
//!   bare key line copied with spaces works), accepts the bare base64 line,
//!   and otherwise requires exactly two lines, the first starting with
//!   `untrusted comment:` and short enough for minisign's 1024-byte buffer.
//!   minisign itself ignores the content of that first line.
//! * Comments are Rust strings, hence UTF-8. minisign treats them as bytes;
//!   a signature file whose comments are not UTF-8 must be rejected (or
//!   decoded) by the caller before it reaches this module.
//! * Legacy (`Ed`) signatures are refused ([`MinisignError::LegacySignature`]):
//!   Custodia never writes them, and they would need the whole file in
//!   memory. Prehashed (`ED`) signatures are checked in 64 KiB reads with
//!   constant memory.
//! * [`PublicKey::parse`] refuses a key whose key id is not [`key_id_for`]
//!   of the key itself ([`MinisignError::ForeignKeyId`]): Custodia derives
//!   every id, so any other id is a key posing as another.
//!   [`PublicKey::parse_any_id`] reads stock `minisign -G` keys (random
//!   ids) for interoperability tests only.
//!
//! # Secret keys
//!
//! This module does not read or write minisign secret key files. Custodia
//! keeps its own Ed25519 signing key; only the public key file and the
//! signature files are exchanged.
//!
//! # What this module does not own
//!
//! It signs with a key it is handed ([`sign`]) and does no I/O beyond the
//! `Read` of the signed data: it never loads keys from the vault, never
//! decides which keys are trusted (that is the bundle verifier's job with
//! the vault's signers), and knows nothing of SQLite or custody.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::io::{ErrorKind, Read};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use blake2::{Blake2b512, Digest};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// Errors from parsing, signing and verifying minisign data.
#[derive(Debug, thiserror::Error)]
pub enum MinisignError {
    /// The public key text is not a valid minisign public key; the string
    /// says what is wrong.
    #[error("malformed minisign public key: {0}")]
    MalformedPublicKey(String),
    /// The signature text is not a valid minisign signature file; the string
    /// says what is wrong.
    #[error("malformed minisign signature: {0}")]
    MalformedSignature(String),
    /// The algorithm bytes of a public key or signature are not supported;
    /// the string names the bytes found and the ones expected.
    #[error("unsupported minisign algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// A public key whose key id is not the one Custodia derives from the
    /// key ([`key_id_for`]): someone filed a key under another key's id.
    #[error(
        "the public key claims key id {found}, but the id derived from the key itself is \
         {derived} (fingerprint {fingerprint}): refused, a key filed under another key's id \
         could pass for that signer"
    )]
    ForeignKeyId {
        /// The id the key file carries.
        found: String,
        /// The id derived from the key.
        derived: String,
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// A legacy (`Ed`, not prehashed) signature: Custodia never writes one
    /// and does not read one.
    #[error(
        "legacy minisign signature (algorithm \"Ed\", over the raw data): Custodia accepts \
         only prehashed \"ED\" signatures, which it always writes; re-sign without `minisign -l`"
    )]
    LegacySignature,
    /// The signature was made by a different key than the public key given.
    /// Both ids are shown the way `minisign` prints them
    /// (see [`PublicKey::key_id_hex`]).
    #[error(
        "key id mismatch: the public key has key id {expected} but the signature was made by key id {found}"
    )]
    KeyIdMismatch {
        /// Key id of the public key used for verification.
        expected: String,
        /// Key id recorded in the signature.
        found: String,
    },
    /// The Ed25519 signature over the data (or its BLAKE2b-512 digest) does
    /// not verify: the data was altered or signed by another key.
    #[error("signature verification failed: the data does not match the signature")]
    BadSignature,
    /// The global signature over the signature and the trusted comment does
    /// not verify: the trusted comment (or the signature line) was altered.
    #[error("global signature verification failed: the trusted comment was altered")]
    BadGlobalSignature,
    /// A comment given to [`sign`] cannot be written in a minisign file; the
    /// string says which comment and why.
    #[error("invalid comment: {0}")]
    InvalidComment(String),
    /// A legacy (`Ed`, non-prehashed) signature must be checked against the
    /// whole data in memory, and the data is larger than the limit.
    #[error(
        "data larger than {limit} bytes cannot be checked against a legacy (non-prehashed) signature"
    )]
    LegacyMessageTooLarge {
        /// The limit in bytes ([`LEGACY_MAX_MESSAGE_LEN`]).
        limit: u64,
    },
    /// Reading the data failed.
    #[error("I/O error while reading the signed data: {0}")]
    Io(#[from] std::io::Error),
}

/// Length in bytes of a minisign key id.
pub const KEY_ID_LEN: usize = 8;

/// Algorithm bytes of a public key, and of a legacy signature over the raw
/// data: ASCII `Ed`.
pub const ALG_ED25519: [u8; 2] = *b"Ed";

/// Algorithm bytes of a signature over the BLAKE2b-512 digest of the data
/// (what [`sign`] writes): ASCII `ED`.
pub(crate) const ALG_ED25519_PREHASHED: [u8; 2] = *b"ED";

/// Prefix of the first line of public key and signature files.
pub(crate) const UNTRUSTED_COMMENT_PREFIX: &str = "untrusted comment: ";

/// Prefix of the third line of a signature file.
pub(crate) const TRUSTED_COMMENT_PREFIX: &str = "trusted comment: ";

/// Longest untrusted comment, in bytes, that stock minisign reads back
/// (its line buffer is 1024 bytes including prefix, line feed and the C
/// string terminator).
pub const MAX_UNTRUSTED_COMMENT_LEN: usize = 1024 - UNTRUSTED_COMMENT_PREFIX.len() - 2;

/// Longest trusted comment, in bytes, that stock minisign writes and reads
/// back (its line buffer is 8192 bytes including prefix, line feed and the
/// C string terminator).
pub const MAX_TRUSTED_COMMENT_LEN: usize = 8192 - TRUSTED_COMMENT_PREFIX.len() - 2;

/// Largest data, in bytes, checked against a legacy (`Ed`) signature, which
/// requires the whole data in memory.
pub const LEGACY_MAX_MESSAGE_LEN: u64 = 1 << 30;

/// Domain separation string for [`key_id_for`].
const KEY_ID_DOMAIN: &[u8] = b"custodia minisign key id v1";

/// Size of the reads used to hash streamed data.
const READ_CHUNK: usize = 64 * 1024;

/// Longest first line (prefix + comment + optional '\r', without '\n') that
/// minisign reads whole.
const MAX_COMMENT_LINE_LEN: usize = UNTRUSTED_COMMENT_PREFIX.len() + MAX_UNTRUSTED_COMMENT_LEN;

/// Longest trusted comment line (prefix + comment + optional '\r', without
/// '\n') that minisign reads whole.
const MAX_TRUSTED_COMMENT_LINE_LEN: usize = TRUSTED_COMMENT_PREFIX.len() + MAX_TRUSTED_COMMENT_LEN;

const PUBLIC_KEY_BLOB_LEN: usize = 2 + KEY_ID_LEN + 32;
const SIGNATURE_BLOB_LEN: usize = 2 + KEY_ID_LEN + 64;

/// Deterministic key id for a verifying key: first 8 bytes of
/// BLAKE2b-512(`"custodia minisign key id v1"` || public key bytes).
pub fn key_id_for(key: &VerifyingKey) -> [u8; KEY_ID_LEN] {
    let mut hasher = Blake2b512::new();
    hasher.update(KEY_ID_DOMAIN);
    hasher.update(key.as_bytes());
    let digest: [u8; 64] = hasher.finalize().into();
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    id
}

/// Formats a key id the way minisign prints it: the 8 stored bytes read as a
/// little-endian `u64`, as 16 upper-case hex digits (i.e. bytes reversed;
/// minisign 0.11 omits leading zeros, newer versions pad to 16 digits).
pub(crate) fn key_id_to_hex(key_id: &[u8; KEY_ID_LEN]) -> String {
    format!("{:016X}", u64::from_le_bytes(*key_id))
}

/// A minisign public key: key id plus Ed25519 verifying key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// Key id, in the byte order stored in the files.
    pub key_id: [u8; KEY_ID_LEN],
    /// The Ed25519 public key.
    pub key: VerifyingKey,
}

impl PublicKey {
    /// Wraps a verifying key, with the Custodia key id from [`key_id_for`].
    pub fn new(key: VerifyingKey) -> PublicKey {
        PublicKey {
            key_id: key_id_for(&key),
            key,
        }
    }

    /// The 42-byte public key blob: `Ed` || key id || public key.
    fn blob(&self) -> [u8; PUBLIC_KEY_BLOB_LEN] {
        let mut blob = [0u8; PUBLIC_KEY_BLOB_LEN];
        blob[..2].copy_from_slice(&ALG_ED25519);
        blob[2..2 + KEY_ID_LEN].copy_from_slice(&self.key_id);
        blob[2 + KEY_ID_LEN..].copy_from_slice(self.key.as_bytes());
        blob
    }

    /// The bare base64 line (second line of the `.pub` file), as taken by
    /// `minisign -V -P`.
    pub fn base64(&self) -> String {
        BASE64.encode(self.blob())
    }

    /// The whole `.pub` file: `untrusted comment: <comment>`, the base64
    /// line, each followed by `'\n'`.
    ///
    /// The comment is not authenticated. So that the file always stays
    /// readable by minisign, line feeds, carriage returns and NULs in it are
    /// replaced by spaces and it is cut (at a character boundary) to
    /// [`MAX_UNTRUSTED_COMMENT_LEN`] bytes.
    pub fn to_file_string(&self, untrusted_comment: &str) -> String {
        let mut comment: String = untrusted_comment
            .chars()
            .map(|c| {
                if matches!(c, '\n' | '\r' | '\0') {
                    ' '
                } else {
                    c
                }
            })
            .collect();
        if comment.len() > MAX_UNTRUSTED_COMMENT_LEN {
            let mut cut = MAX_UNTRUSTED_COMMENT_LEN;
            while !comment.is_char_boundary(cut) {
                cut -= 1;
            }
            comment.truncate(cut);
        }
        format!("{UNTRUSTED_COMMENT_PREFIX}{comment}\n{}\n", self.base64())
    }

    /// Parses a whole `.pub` file (the `untrusted comment:` line is
    /// optional) or a bare base64 line. Surrounding whitespace, including
    /// `\r\n` line endings, is ignored.
    ///
    /// Checks: at most two lines; a first line, if present, starts with
    /// `untrusted comment:` and fits minisign's line buffer; the base64 is
    /// canonical and decodes to exactly 42 bytes; the algorithm is `Ed`; the
    /// key is the canonical encoding of an Ed25519 point that is not of
    /// small order.
    ///
    /// The key id is kept as found: this is for keys made by stock
    /// `minisign -G` (random ids). Custodia's own readers use
    /// [`PublicKey::parse`], which also demands the derived id.
    pub fn parse_any_id(text: &str) -> Result<PublicKey, MinisignError> {
        let lines: Vec<&str> = text.trim().lines().map(str::trim).collect();
        let b64 = match lines.as_slice() {
            [] => return Err(malformed_pk("the text is empty")),
            [b64] => *b64,
            [comment, b64] => {
                if !comment.starts_with(UNTRUSTED_COMMENT_PREFIX.trim_end()) {
                    return Err(malformed_pk(
                        "the first of two lines does not start with \"untrusted comment:\"",
                    ));
                }
                // minisign reads this line, '\r' included, into its
                // 1024-byte buffer together with '\n' and a NUL.
                let raw_len = text.trim_start().split('\n').next().map_or(0, str::len);
                if raw_len > MAX_COMMENT_LINE_LEN {
                    return Err(malformed_pk(format!(
                        "the comment line is {raw_len} bytes long (without the final line feed); \
                         minisign reads at most {MAX_COMMENT_LINE_LEN}"
                    )));
                }
                *b64
            }
            more => {
                return Err(malformed_pk(format!(
                    "expected a base64 line, optionally preceded by an untrusted comment line, \
                     but found {} lines",
                    more.len()
                )))
            }
        };
        let blob: [u8; PUBLIC_KEY_BLOB_LEN] =
            decode_exact(b64, "the key line", "2 algorithm + 8 key id + 32 key")
                .map_err(MinisignError::MalformedPublicKey)?;
        if blob[..2] != ALG_ED25519 {
            return Err(MinisignError::UnsupportedAlgorithm(format!(
                "public key algorithm is {}, expected \"Ed\" (0x45 0x64)",
                describe_alg(&blob[..2])
            )));
        }
        let mut key_id = [0u8; KEY_ID_LEN];
        key_id.copy_from_slice(&blob[2..2 + KEY_ID_LEN]);
        let mut key_bytes = [0u8; 32];
        key_bytes.copy_from_slice(&blob[2 + KEY_ID_LEN..]);
        let key = VerifyingKey::from_bytes(&key_bytes)
            .map_err(|_| malformed_pk("the 32 key bytes are not a valid Ed25519 point"))?;
        // libsodium (used by minisign) refuses non-canonical encodings
        // (y >= p, or a "negative zero" x); so do we.
        if key.to_edwards().compress().as_bytes() != key.as_bytes() {
            return Err(malformed_pk(
                "the 32 key bytes are not the canonical encoding of an Ed25519 point",
            ));
        }
        if key.is_weak() {
            return Err(malformed_pk(
                "the Ed25519 key is of small order (a weak key that cannot be trusted)",
            ));
        }
        Ok(PublicKey { key_id, key })
    }

    /// Parses a public key as [`PublicKey::parse_any_id`] does, then
    /// refuses it unless its key id is the one Custodia derives from the key
    /// itself ([`key_id_for`]). Every Custodia key has such an id; a key
    /// filed under another key's id (a forger's key posing as the real
    /// signer's) is refused here with [`MinisignError::ForeignKeyId`].
    pub fn parse(text: &str) -> Result<PublicKey, MinisignError> {
        let parsed = PublicKey::parse_any_id(text)?;
        let derived = key_id_for(&parsed.key);
        if parsed.key_id != derived {
            return Err(MinisignError::ForeignKeyId {
                found: parsed.key_id_hex(),
                derived: key_id_to_hex(&derived),
                fingerprint: parsed.fingerprint(),
            });
        }
        Ok(parsed)
    }

    /// Upper-case hex of the key id as `minisign` prints it: the stored bytes
    /// read as a little-endian `u64`, i.e. in reverse order, zero-padded to
    /// 16 digits like current minisign (minisign 0.11 omits leading zeros).
    pub fn key_id_hex(&self) -> String {
        key_id_to_hex(&self.key_id)
    }

    /// The key's fingerprint: SHA-256 of the 32 raw Ed25519 key bytes, as
    /// 64 lowercase hex digits. This (not the 64-bit minisign key id, which
    /// is only a label) is what people compare to decide whom they trust.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.key)
    }

    /// The first 128 bits of [`PublicKey::fingerprint`], as 8 groups of 4
    /// hex digits, for reading aloud or comparing by eye.
    pub fn fingerprint_short(&self) -> String {
        short_fingerprint(&self.fingerprint())
    }
}

/// SHA-256 of the 32 raw key bytes, lowercase hex (see
/// [`PublicKey::fingerprint`]).
pub(crate) fn fingerprint_of(key: &VerifyingKey) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// The first 32 hex digits (128 bits) of a fingerprint, grouped by 4.
pub fn short_fingerprint(fingerprint: &str) -> String {
    let head: Vec<char> = fingerprint.chars().take(32).collect();
    head.chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

fn malformed_pk(msg: impl Into<String>) -> MinisignError {
    MinisignError::MalformedPublicKey(msg.into())
}

fn malformed_sig(msg: impl Into<String>) -> MinisignError {
    MinisignError::MalformedSignature(msg.into())
}

/// Decodes canonical padded base64 that must yield exactly `N` bytes. On
/// error, says what is wrong with `what` (e.g. "line 2 (the signature)"),
/// whose expected content is described by `layout`.
fn decode_exact<const N: usize>(b64: &str, what: &str, layout: &str) -> Result<[u8; N], String> {
    // Far longer input cannot be right; refuse it before allocating.
    if b64.len() > 2 * 4 * N.div_ceil(3) {
        return Err(format!(
            "{what} is {} characters long; the base64 of {N} bytes ({layout}) is {}",
            b64.len(),
            4 * N.div_ceil(3)
        ));
    }
    let bytes = BASE64
        .decode(b64)
        .map_err(|e| format!("{what} is not valid base64: {e}"))?;
    let len = bytes.len();
    bytes
        .try_into()
        .map_err(|_| format!("{what} decodes to {len} bytes, expected {N} ({layout})"))
}

/// Shows two algorithm bytes as hex and, when printable, as ASCII.
fn describe_alg(alg: &[u8]) -> String {
    let hex: Vec<String> = alg.iter().map(|b| format!("0x{b:02X}")).collect();
    if alg.iter().all(|b| b.is_ascii_graphic()) {
        format!("\"{}\" ({})", String::from_utf8_lossy(alg), hex.join(" "))
    } else {
        hex.join(" ")
    }
}

/// Checks that a comment can be written on one line of a minisign file.
fn check_comment(which: &str, comment: &str, max_len: usize) -> Result<(), MinisignError> {
    if let Some(c) = comment.chars().find(|c| matches!(c, '\n' | '\r' | '\0')) {
        let name = match c {
            '\n' => "a line feed (\\n)",
            '\r' => "a carriage return (\\r)",
            _ => "a NUL byte",
        };
        return Err(MinisignError::InvalidComment(format!(
            "the {which} comment contains {name}; it must fit on one line"
        )));
    }
    if comment.len() > max_len {
        return Err(MinisignError::InvalidComment(format!(
            "the {which} comment is {} bytes long; minisign accepts at most {max_len}",
            comment.len()
        )));
    }
    Ok(())
}

/// Reads `data` to the end in 64 KiB reads and returns its BLAKE2b-512
/// digest.
fn blake2b512_stream(mut data: impl Read) -> Result<[u8; 64], std::io::Error> {
    let mut hasher = Blake2b512::new();
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match data.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(buf.get(..n).ok_or_else(|| {
                std::io::Error::new(
                    ErrorKind::InvalidData,
                    "the reader claimed to return more bytes than requested",
                )
            })?),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(hasher.finalize().into())
}

/// The message covered by the global signature: signature || trusted
/// comment bytes.
fn global_message(signature: &[u8; 64], trusted_comment: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(64 + trusted_comment.len());
    msg.extend_from_slice(signature);
    msg.extend_from_slice(trusted_comment.as_bytes());
    msg
}

/// Sign the bytes read from `data` (streamed with bounded memory: hashed
/// with BLAKE2b-512 in 64 KiB reads) and return the whole `.minisig` text
/// (prehashed `ED` format, four lines, trailing newline).
///
/// The key id written is [`key_id_for`] of the signing key's public key, so
/// the result verifies against `PublicKey::new(signing_key.verifying_key())`.
///
/// Comments must not contain `'\n'`, `'\r'` or NUL and must respect
/// [`MAX_UNTRUSTED_COMMENT_LEN`] / [`MAX_TRUSTED_COMMENT_LEN`]; otherwise
/// [`MinisignError::InvalidComment`] is returned before `data` is read.
pub fn sign(
    signing_key: &SigningKey,
    data: impl Read,
    untrusted_comment: &str,
    trusted_comment: &str,
) -> Result<String, MinisignError> {
    check_comment("untrusted", untrusted_comment, MAX_UNTRUSTED_COMMENT_LEN)?;
    check_comment("trusted", trusted_comment, MAX_TRUSTED_COMMENT_LEN)?;
    let digest = blake2b512_stream(data)?;
    let signature = signing_key.sign(&digest).to_bytes();
    let global_signature = signing_key
        .sign(&global_message(&signature, trusted_comment))
        .to_bytes();
    let file = SignatureFile {
        untrusted_comment: untrusted_comment.to_owned(),
        algorithm: ALG_ED25519_PREHASHED,
        key_id: key_id_for(&signing_key.verifying_key()),
        signature,
        trusted_comment: trusted_comment.to_owned(),
        global_signature,
    };
    Ok(file.to_file_string())
}

/// What a successful [`verify`] vouches for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// Key id of the key that made the signature (equal to the public
    /// key's).
    pub key_id: [u8; KEY_ID_LEN],
    /// The trusted comment, authenticated by the global signature.
    pub trusted_comment: String,
    /// `true` for a prehashed (`ED`) signature, `false` for a legacy (`Ed`)
    /// one.
    pub prehashed: bool,
}

/// Verify streamed data against `.minisig` text and a public key: the key id
/// must match, and both the signature over the data and the global
/// signature over the trusted comment must verify (strict Ed25519).
///
/// Prehashed (`ED`) signatures are checked in 64 KiB reads; legacy (`Ed`)
/// ones are refused.
pub fn verify(
    public_key: &PublicKey,
    data: impl Read,
    signature_text: &str,
) -> Result<VerifiedSignature, MinisignError> {
    SignatureFile::parse(signature_text)?.verify(public_key, data)
}

/// A parsed `.minisig` file. Parsing checks the syntax only; nothing in it
/// is trusted until [`SignatureFile::verify`] (or [`verify`]) succeeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureFile {
    /// Text of line 1 after `untrusted comment: ` (not authenticated).
    pub untrusted_comment: String,
    /// Algorithm bytes: `ED` (prehashed) or `Ed` (legacy).
    pub algorithm: [u8; 2],
    /// Key id of the signing key, in stored byte order.
    pub key_id: [u8; KEY_ID_LEN],
    /// Ed25519 signature over the data's BLAKE2b-512 digest (`ED`) or the
    /// raw data (`Ed`).
    pub signature: [u8; 64],
    /// Text of line 3 after `trusted comment: `, without the line ending.
    pub trusted_comment: String,
    /// Ed25519 signature over `signature || trusted_comment`.
    pub global_signature: [u8; 64],
}

impl SignatureFile {
    /// Parses `.minisig` text (see the module documentation for the exact
    /// rules). Does not verify anything.
    pub fn parse(text: &str) -> Result<SignatureFile, MinisignError> {
        let [line1, line2, line3, line4] = split_signature_lines(text)?;

        let untrusted_comment = line1
            .strip_prefix(UNTRUSTED_COMMENT_PREFIX)
            .ok_or_else(|| malformed_sig("line 1 does not start with \"untrusted comment: \""))?;

        let blob: [u8; SIGNATURE_BLOB_LEN] = decode_exact(
            line2,
            "line 2 (the signature)",
            "2 algorithm + 8 key id + 64 signature",
        )
        .map_err(MinisignError::MalformedSignature)?;
        let mut algorithm = [0u8; 2];
        algorithm.copy_from_slice(&blob[..2]);
        if algorithm == ALG_ED25519 {
            return Err(MinisignError::LegacySignature);
        }
        if algorithm != ALG_ED25519_PREHASHED {
            return Err(MinisignError::UnsupportedAlgorithm(format!(
                "signature algorithm is {}, expected \"ED\" (0x45 0x44)",
                describe_alg(&algorithm)
            )));
        }
        let mut key_id = [0u8; KEY_ID_LEN];
        key_id.copy_from_slice(&blob[2..2 + KEY_ID_LEN]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&blob[2 + KEY_ID_LEN..]);

        let trusted_comment = line3
            .strip_prefix(TRUSTED_COMMENT_PREFIX)
            .ok_or_else(|| malformed_sig("line 3 does not start with \"trusted comment: \""))?;

        let global_signature: [u8; 64] = decode_exact(
            line4,
            "line 4 (the global signature)",
            "an Ed25519 signature",
        )
        .map_err(MinisignError::MalformedSignature)?;

        Ok(SignatureFile {
            untrusted_comment: untrusted_comment.to_owned(),
            algorithm,
            key_id,
            signature,
            trusted_comment: trusted_comment.to_owned(),
            global_signature,
        })
    }

    /// `true` if the signature is over the BLAKE2b-512 digest (`ED`).
    pub(crate) fn is_prehashed(&self) -> bool {
        self.algorithm == ALG_ED25519_PREHASHED
    }

    /// Upper-case hex of the key id as `minisign` prints it (see
    /// [`PublicKey::key_id_hex`]).
    pub fn key_id_hex(&self) -> String {
        key_id_to_hex(&self.key_id)
    }

    /// Serialises to `.minisig` text: four lines, each ending in `'\n'`.
    /// Comments are written as they are; [`sign`] checks them beforehand.
    pub fn to_file_string(&self) -> String {
        let mut blob = [0u8; SIGNATURE_BLOB_LEN];
        blob[..2].copy_from_slice(&self.algorithm);
        blob[2..2 + KEY_ID_LEN].copy_from_slice(&self.key_id);
        blob[2 + KEY_ID_LEN..].copy_from_slice(&self.signature);
        format!(
            "{UNTRUSTED_COMMENT_PREFIX}{}\n{}\n{TRUSTED_COMMENT_PREFIX}{}\n{}\n",
            self.untrusted_comment,
            BASE64.encode(blob),
            self.trusted_comment,
            BASE64.encode(self.global_signature)
        )
    }

    /// Verifies this signature against streamed data and a public key, as
    /// [`verify`] does.
    pub fn verify(
        &self,
        public_key: &PublicKey,
        data: impl Read,
    ) -> Result<VerifiedSignature, MinisignError> {
        if self.key_id != public_key.key_id {
            return Err(MinisignError::KeyIdMismatch {
                expected: public_key.key_id_hex(),
                found: self.key_id_hex(),
            });
        }
        if !self.is_prehashed() {
            return Err(MinisignError::LegacySignature);
        }
        let signature = Signature::from_bytes(&self.signature);
        let digest = blake2b512_stream(data)?;
        let verified = public_key.key.verify_strict(&digest, &signature);
        verified.map_err(|_| MinisignError::BadSignature)?;

        let global_signature = Signature::from_bytes(&self.global_signature);
        public_key
            .key
            .verify_strict(
                &global_message(&self.signature, &self.trusted_comment),
                &global_signature,
            )
            .map_err(|_| MinisignError::BadGlobalSignature)?;

        Ok(VerifiedSignature {
            key_id: self.key_id,
            trusted_comment: self.trusted_comment.clone(),
            prehashed: self.is_prehashed(),
        })
    }
}

/// Splits `.minisig` text into its four lines, without line endings.
///
/// Lines 1 to 3 must end in `'\n'`; line 4 may omit it. A `'\r'` directly
/// before the `'\n'` is dropped. Any other `'\r'`, or a NUL, is an error
/// (minisign would silently cut the line there). After line 4 only
/// whitespace may follow.
fn split_signature_lines(text: &str) -> Result<[&str; 4], MinisignError> {
    const NAMES: [&str; 4] = [
        "line 1 (untrusted comment)",
        "line 2 (signature)",
        "line 3 (trusted comment)",
        "line 4 (global signature)",
    ];
    // minisign reads each comment line, '\r' included, into a fixed buffer
    // that also holds '\n' and a NUL; longer lines break it.
    const MAX_LEN: [usize; 4] = [
        MAX_COMMENT_LINE_LEN,
        usize::MAX,
        MAX_TRUSTED_COMMENT_LINE_LEN,
        usize::MAX,
    ];
    let mut lines = [""; 4];
    let mut rest = text;
    for (i, ((slot, name), max_len)) in lines.iter_mut().zip(NAMES).zip(MAX_LEN).enumerate() {
        let (line, after) = match rest.split_once('\n') {
            Some(pair) => pair,
            None if i == 3 && !rest.is_empty() => (rest, ""),
            None => {
                return Err(malformed_sig(format!(
                    "the text ends before {name} is complete (expected 4 lines)"
                )))
            }
        };
        if line.len() > max_len {
            return Err(malformed_sig(format!(
                "{name} is {} bytes long (without the final line feed); minisign reads at most {max_len}",
                line.len()
            )));
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.contains('\r') {
            return Err(malformed_sig(format!("{name} contains a carriage return")));
        }
        if line.contains('\0') {
            return Err(malformed_sig(format!("{name} contains a NUL byte")));
        }
        *slot = line;
        rest = after;
    }
    if !rest.trim().is_empty() {
        return Err(malformed_sig(
            "unexpected text after line 4 (the global signature)",
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed_byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed_byte; 32])
    }

    fn random_key() -> SigningKey {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).expect("getrandom");
        SigningKey::from_bytes(&seed)
    }

    fn sig_for(sk: &SigningKey, data: &[u8], tc: &str) -> String {
        sign(sk, data, "custodia test", tc).expect("sign")
    }

    /// Replaces line `index` (0-based) of a signature file.
    fn replace_line(text: &str, index: usize, new: &str) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines[index] = new.to_owned();
        lines.join("\n") + "\n"
    }

    /// Sets an unused low bit in the last data character of padded base64:
    /// decodes to the same bytes, but is not the canonical encoding.
    fn non_canonical(line: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bytes = line.as_bytes().to_vec();
        let pos = line.trim_end_matches('=').len() - 1;
        let value = ALPHABET.iter().position(|&c| c == bytes[pos]).unwrap();
        bytes[pos] = ALPHABET[value ^ 1];
        String::from_utf8(bytes).unwrap()
    }

    /// Rebuilds line 2 from a modified signature blob.
    fn with_sig_blob(text: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let line2 = text.lines().nth(1).expect("line 2");
        let mut blob = BASE64.decode(line2).expect("b64");
        edit(&mut blob);
        replace_line(text, 1, &BASE64.encode(&blob))
    }

    #[test]
    fn round_trip() {
        let sk = random_key();
        let pk = PublicKey::new(sk.verifying_key());
        let data = b"sealed bundle contents".repeat(10_000);
        let text = sign(&sk, &data[..], "untrusted here", "timestamp:1\tfile:b").unwrap();
        let v = verify(&pk, &data[..], &text).unwrap();
        assert_eq!(v.trusted_comment, "timestamp:1\tfile:b");
        assert_eq!(v.key_id, pk.key_id);
        assert!(v.prehashed);
        let parsed = SignatureFile::parse(&text).unwrap();
        assert_eq!(parsed.untrusted_comment, "untrusted here");
        assert_eq!(parsed.algorithm, *b"ED");
        assert_eq!(parsed.to_file_string(), text);
    }

    #[test]
    fn empty_data_and_empty_comments() {
        let sk = key(1);
        let pk = PublicKey::new(sk.verifying_key());
        let text = sign(&sk, &b""[..], "", "").unwrap();
        assert!(text.starts_with("untrusted comment: \n"));
        assert_eq!(verify(&pk, &b""[..], &text).unwrap().trusted_comment, "");
    }

    #[test]
    fn layout_of_signature_file() {
        let sk = key(2);
        let text = sig_for(&sk, b"x", "tc");
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines.len(), 5, "four lines and a final newline");
        assert_eq!(lines[0], "untrusted comment: custodia test");
        assert_eq!(lines[1].len(), 100);
        assert!(lines[1].starts_with("RU")); // base64 of "ED"
        assert_eq!(lines[2], "trusted comment: tc");
        assert_eq!(lines[3].len(), 88);
        assert!(lines[3].ends_with("=="));
        assert_eq!(lines[4], "");
        let blob = BASE64.decode(lines[1]).unwrap();
        assert_eq!(&blob[..2], b"ED");
        assert_eq!(blob[2..10], key_id_for(&sk.verifying_key()));
    }

    #[test]
    fn signature_is_plain_ed25519_over_blake2b512() {
        let sk = key(3);
        let data = b"abc";
        let parsed = SignatureFile::parse(&sig_for(&sk, data, "t")).unwrap();
        let digest: [u8; 64] = Blake2b512::digest(data).into();
        let expected = sk.sign(&digest).to_bytes();
        assert_eq!(parsed.signature, expected);
        let mut global = expected.to_vec();
        global.extend_from_slice(b"t");
        assert_eq!(parsed.global_signature, sk.sign(&global).to_bytes());
    }

    #[test]
    fn known_answer_regression() {
        // Fixed seed, data and comments: the output must never change.
        let sk = key(0x42);
        let pk = PublicKey::new(sk.verifying_key());
        let text = sign(&sk, &b"Custodia"[..], "u", "t").unwrap();
        assert_eq!(pk.to_file_string("k"), KAT_PUB);
        assert_eq!(text, KAT_SIG);
        verify(&pk, &b"Custodia"[..], KAT_SIG).unwrap();
    }

    // Checked with stock minisign 0.11:
    // `printf Custodia > f; minisign -Vm f -x f.minisig -P RWS7...` exits 0.
    const KAT_PUB: &str = "untrusted comment: k\n\
        RWS7WwWXcp1cSyFS+NGbeR0kRTJC4V8uq2y3z/p7al7TAJeWDgaYgdsS\n";
    const KAT_SIG: &str = "untrusted comment: u\n\
        RUS7WwWXcp1cS+sBzvzCvPb0WBMUuk7XKMqffgxyTWW6nKXMmAxTbt+pK/eOF/H9ClyyR9SzOKxzpwBuu8sSgFe6/leTCZjG7wQ=\n\
        trusted comment: t\n\
        hFzLDW35Mwzq/BLP80y86urSIzIxSOix8NWg7+hKIKUIW3pga1jdyMDi/TeNL+uvjmCrwgyh5fImgE6YpDpaAA==\n";

    #[test]
    fn tampered_data_is_bad_signature() {
        let sk = key(4);
        let pk = PublicKey::new(sk.verifying_key());
        let mut data = b"important evidence".to_vec();
        let text = sig_for(&sk, &data, "tc");
        data[3] ^= 1;
        assert!(matches!(
            verify(&pk, &data[..], &text),
            Err(MinisignError::BadSignature)
        ));
        data.pop();
        assert!(matches!(
            verify(&pk, &data[..], &text),
            Err(MinisignError::BadSignature)
        ));
    }

    #[test]
    fn tampered_trusted_comment_is_bad_global_signature() {
        let sk = key(5);
        let pk = PublicKey::new(sk.verifying_key());
        let text = sig_for(&sk, b"data", "timestamp:100");
        for forged in [
            "trusted comment: timestamp:101",
            "trusted comment: timestamp:100 ",
            "trusted comment:  timestamp:100",
            "trusted comment: ",
        ] {
            let forged_text = replace_line(&text, 2, forged);
            assert!(
                matches!(
                    verify(&pk, &b"data"[..], &forged_text),
                    Err(MinisignError::BadGlobalSignature)
                ),
                "{forged}"
            );
        }
    }

    #[test]
    fn tampered_signature_bytes_are_detected() {
        let sk = key(6);
        let pk = PublicKey::new(sk.verifying_key());
        let text = sig_for(&sk, b"data", "tc");
        let forged = with_sig_blob(&text, |b| b[40] ^= 0x10);
        assert!(matches!(
            verify(&pk, &b"data"[..], &forged),
            Err(MinisignError::BadSignature)
        ));
        let line4 = text.lines().nth(3).unwrap();
        let mut global = BASE64.decode(line4).unwrap();
        global[5] ^= 1;
        let forged = replace_line(&text, 3, &BASE64.encode(&global));
        assert!(matches!(
            verify(&pk, &b"data"[..], &forged),
            Err(MinisignError::BadGlobalSignature)
        ));
    }

    #[test]
    fn wrong_key_is_key_id_mismatch() {
        let sk = key(7);
        let other = PublicKey::new(key(8).verifying_key());
        let text = sig_for(&sk, b"data", "tc");
        match verify(&other, &b"data"[..], &text) {
            Err(MinisignError::KeyIdMismatch { expected, found }) => {
                assert_eq!(expected, other.key_id_hex());
                assert_eq!(found, PublicKey::new(sk.verifying_key()).key_id_hex());
                let msg = MinisignError::KeyIdMismatch { expected, found }.to_string();
                assert!(msg.contains(&other.key_id_hex()), "{msg}");
            }
            other => panic!("expected KeyIdMismatch, got {other:?}"),
        }
    }

    #[test]
    fn wrong_key_with_same_id_is_bad_signature() {
        let sk = key(9);
        let impostor = PublicKey {
            key_id: key_id_for(&sk.verifying_key()),
            key: key(10).verifying_key(),
        };
        let text = sig_for(&sk, b"data", "tc");
        assert!(matches!(
            verify(&impostor, &b"data"[..], &text),
            Err(MinisignError::BadSignature)
        ));
    }

    #[test]
    fn unicode_trusted_comment_round_trips() {
        let sk = key(11);
        let pk = PublicKey::new(sk.verifying_key());
        let tc = "Aktenzeichen 7 O 123/24 — «sceau» 封印 🔏 ñ";
        let text = sign(&sk, &b"d"[..], "Ünicode untrusted ✓", tc).unwrap();
        let v = verify(&pk, &b"d"[..], &text).unwrap();
        assert_eq!(v.trusted_comment, tc);
        assert_eq!(
            SignatureFile::parse(&text).unwrap().untrusted_comment,
            "Ünicode untrusted ✓"
        );
    }

    #[test]
    fn spaces_and_tabs_in_trusted_comment_are_signed_verbatim() {
        let sk = key(12);
        let pk = PublicKey::new(sk.verifying_key());
        let tc = "  leading\tand trailing  ";
        let text = sig_for(&sk, b"d", tc);
        assert_eq!(verify(&pk, &b"d"[..], &text).unwrap().trusted_comment, tc);
    }

    #[test]
    fn comments_with_newlines_or_nul_are_rejected() {
        let sk = key(13);
        for (u, t) in [
            ("a\nb", "ok"),
            ("a\rb", "ok"),
            ("ok", "a\nb"),
            ("ok", "a\r"),
            ("ok", "\n"),
            ("ok", "a\0b"),
        ] {
            match sign(&sk, &b"d"[..], u, t) {
                Err(MinisignError::InvalidComment(msg)) => {
                    let which = if u == "ok" { "trusted" } else { "untrusted" };
                    assert!(msg.contains(&format!("the {which} comment")), "{msg}");
                }
                other => panic!("{u:?}/{t:?}: expected InvalidComment, got {other:?}"),
            }
        }
    }

    #[test]
    fn comment_length_limits() {
        let sk = key(14);
        let pk = PublicKey::new(sk.verifying_key());
        let u = "u".repeat(MAX_UNTRUSTED_COMMENT_LEN);
        let t = "t".repeat(MAX_TRUSTED_COMMENT_LEN);
        let text = sign(&sk, &b"d"[..], &u, &t).unwrap();
        assert_eq!(verify(&pk, &b"d"[..], &text).unwrap().trusted_comment, t);
        assert!(matches!(
            sign(&sk, &b"d"[..], &(u.clone() + "u"), "t"),
            Err(MinisignError::InvalidComment(_))
        ));
        assert!(matches!(
            sign(&sk, &b"d"[..], "u", &(t.clone() + "t")),
            Err(MinisignError::InvalidComment(_))
        ));
        // With "\r\n" endings the '\r' counts against minisign's buffer.
        assert!(matches!(
            SignatureFile::parse(&text.replace('\n', "\r\n")),
            Err(MinisignError::MalformedSignature(m)) if m.contains("line 1")
        ));
        // Over-long comments in a file are rejected when parsing too.
        let long_tc = replace_line(&text, 2, &format!("trusted comment: {t}t"));
        assert!(matches!(
            SignatureFile::parse(&long_tc),
            Err(MinisignError::MalformedSignature(_))
        ));
        let long_uc = replace_line(&text, 0, &format!("untrusted comment: {u}u"));
        assert!(matches!(
            SignatureFile::parse(&long_uc),
            Err(MinisignError::MalformedSignature(_))
        ));
    }

    #[test]
    fn legacy_signature_over_raw_data_is_refused() {
        let sk = key(15);
        let pk = PublicKey::new(sk.verifying_key());
        let data = b"legacy data";
        let signature = sk.sign(data).to_bytes();
        let tc = "legacy";
        let file = SignatureFile {
            untrusted_comment: "legacy".into(),
            algorithm: *b"Ed",
            key_id: pk.key_id,
            signature,
            trusted_comment: tc.into(),
            global_signature: sk.sign(&global_message(&signature, tc)).to_bytes(),
        };
        let text = file.to_file_string();
        // A genuine legacy signature: refused when parsed, and when a
        // hand-built SignatureFile is verified.
        assert!(matches!(
            verify(&pk, &data[..], &text),
            Err(MinisignError::LegacySignature)
        ));
        assert!(matches!(
            file.verify(&pk, &data[..]),
            Err(MinisignError::LegacySignature)
        ));
        let msg = MinisignError::LegacySignature.to_string();
        assert!(msg.contains("\"Ed\"") && msg.contains("\"ED\""), "{msg}");
        // The same signature relabelled as prehashed must fail.
        let relabelled = with_sig_blob(&text, |b| b[1] = b'D');
        assert!(matches!(
            verify(&pk, &data[..], &relabelled),
            Err(MinisignError::BadSignature)
        ));
    }

    #[test]
    fn a_key_filed_under_another_keys_id_is_refused() {
        let real = PublicKey::new(key(16).verifying_key());
        let forger = PublicKey {
            key_id: real.key_id,
            key: key(17).verifying_key(),
        };
        let text = forger.to_file_string("custodia signing key");
        match PublicKey::parse(&text) {
            Err(MinisignError::ForeignKeyId { found, derived, .. }) => {
                assert_eq!(found, real.key_id_hex());
                assert_ne!(derived, found);
            }
            other => panic!("{other:?}"),
        }
        // Stock minisign keys (random ids) are read only on request.
        assert_eq!(PublicKey::parse_any_id(&text).unwrap(), forger);
        assert_eq!(PublicKey::parse(&real.base64()).unwrap(), real);
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let sk = key(16);
        let pk = PublicKey::new(sk.verifying_key());
        let text = sig_for(&sk, b"d", "tc");
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(verify(&pk, &b"d"[..], &crlf).unwrap().trusted_comment, "tc");
        let no_final_newline = text.trim_end_matches('\n');
        verify(&pk, &b"d"[..], no_final_newline).unwrap();
        let pub_crlf = pk.to_file_string("c").replace('\n', "\r\n");
        assert_eq!(PublicKey::parse(&pub_crlf).unwrap(), pk);
    }

    #[test]
    fn malformed_signature_files() {
        let sk = key(17);
        let text = sig_for(&sk, b"d", "tc");
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "ends before line 1"),
            ("untrusted comment: x\n".into(), "ends before line 2"),
            (
                text.lines().take(3).collect::<Vec<_>>().join("\n"),
                "ends before line 3",
            ),
            (
                text.lines().take(3).collect::<Vec<_>>().join("\n") + "\n",
                "ends before line 4",
            ),
            (
                replace_line(&text, 0, "comment: x"),
                "line 1 does not start",
            ),
            (
                replace_line(&text, 2, "trusted: x"),
                "line 3 does not start",
            ),
            (
                replace_line(&text, 1, "not*base64!"),
                "line 2 (the signature) is not valid base64",
            ),
            (replace_line(&text, 1, "RUQ"), "not valid base64"),
            (
                replace_line(&text, 1, &BASE64.encode([b'E'; 73])),
                "line 2 (the signature) decodes to 73 bytes, expected 74",
            ),
            (
                replace_line(&text, 1, &BASE64.encode([b'E'; 75])),
                "decodes to 75 bytes, expected 74",
            ),
            (
                replace_line(&text, 3, "@@@@"),
                "line 4 (the global signature) is not valid base64",
            ),
            (
                replace_line(&text, 3, &BASE64.encode([0u8; 63])),
                "line 4 (the global signature) decodes to 63 bytes, expected 64",
            ),
            (text.clone() + "garbage\n", "unexpected text after line 4"),
            (
                replace_line(&text, 2, "trusted comment: a\rb"),
                "carriage return",
            ),
            (replace_line(&text, 2, "trusted comment: a\0b"), "NUL"),
            (
                replace_line(&text, 3, &non_canonical(text.lines().nth(3).unwrap())),
                "not valid base64",
            ),
            (
                replace_line(&text, 1, &non_canonical(text.lines().nth(1).unwrap())),
                "not valid base64",
            ),
        ];
        for (bad, want) in cases {
            match SignatureFile::parse(&bad) {
                Err(MinisignError::MalformedSignature(msg)) => {
                    assert!(
                        msg.contains(want),
                        "{bad:?}: message {msg:?} lacks {want:?}"
                    )
                }
                other => panic!("{bad:?}: expected MalformedSignature, got {other:?}"),
            }
        }
    }

    #[test]
    fn unsupported_signature_algorithm() {
        let sk = key(18);
        let pk = PublicKey::new(sk.verifying_key());
        let text = sig_for(&sk, b"d", "tc");
        for alg in [*b"EE", *b"ed", *b"eD", [0xff, 0x00]] {
            let bad = with_sig_blob(&text, |b| b[..2].copy_from_slice(&alg));
            match verify(&pk, &b"d"[..], &bad) {
                Err(MinisignError::UnsupportedAlgorithm(msg)) => {
                    assert!(msg.contains("signature algorithm"), "{msg}")
                }
                other => panic!("{alg:?}: expected UnsupportedAlgorithm, got {other:?}"),
            }
        }
    }

    #[test]
    fn public_key_round_trip_and_layout() {
        let sk = key(19);
        let pk = PublicKey::new(sk.verifying_key());
        let b64 = pk.base64();
        assert_eq!(b64.len(), 56);
        assert!(b64.starts_with("RW")); // base64 of "Ed"
        let blob = BASE64.decode(&b64).unwrap();
        assert_eq!(&blob[..2], b"Ed");
        assert_eq!(blob[2..10], pk.key_id);
        assert_eq!(&blob[10..], sk.verifying_key().as_bytes());
        let file = pk.to_file_string("custodia public key");
        assert_eq!(
            file,
            format!("untrusted comment: custodia public key\n{b64}\n")
        );
        assert_eq!(PublicKey::parse(&file).unwrap(), pk);
        assert_eq!(PublicKey::parse(&b64).unwrap(), pk);
        assert_eq!(PublicKey::parse(&format!("  {b64}  \n\n")).unwrap(), pk);
    }

    #[test]
    fn public_key_file_comment_is_sanitised() {
        let pk = PublicKey::new(key(20).verifying_key());
        let file = pk.to_file_string("evil\nRWQfake\r\0");
        assert_eq!(file.lines().count(), 2);
        assert_eq!(PublicKey::parse(&file).unwrap(), pk);
        let long = pk.to_file_string(&"é".repeat(1000));
        let first = long.lines().next().unwrap();
        assert!(first.len() <= UNTRUSTED_COMMENT_PREFIX.len() + MAX_UNTRUSTED_COMMENT_LEN);
        assert_eq!(PublicKey::parse(&long).unwrap(), pk);
    }

    #[test]
    fn key_id_derivation_and_hex() {
        let vk = key(21).verifying_key();
        let mut h = Blake2b512::new();
        h.update(b"custodia minisign key id v1");
        h.update(vk.as_bytes());
        let d = h.finalize();
        assert_eq!(key_id_for(&vk), d[..8]);
        let pk = PublicKey {
            key_id: [0x2F, 0x91, 0x02, 0xEC, 0x63, 0x35, 0xA7, 0xF7],
            key: vk,
        };
        assert_eq!(pk.key_id_hex(), "F7A73563EC02912F");
        let small = PublicKey {
            key_id: [1, 0, 0, 0, 0, 0, 0, 0],
            key: vk,
        };
        assert_eq!(small.key_id_hex(), "0000000000000001");
    }

    #[test]
    fn parses_a_stock_minisign_public_key() {
        // Produced by `minisign -G -W` (minisign 0.11).
        let text = "untrusted comment: minisign public key F7A73563EC02912F\n\
                    RWQvkQLsYzWn9zDxMINPT+wOFdwiD2TANwl06ftcCcLu7Sfiea12IcXC\n";
        let pk = PublicKey::parse_any_id(text).unwrap();
        assert_eq!(pk.key_id_hex(), "F7A73563EC02912F");
        assert_eq!(pk.key_id, [0x2F, 0x91, 0x02, 0xEC, 0x63, 0x35, 0xA7, 0xF7]);
    }

    #[test]
    fn malformed_public_keys() {
        let pk = PublicKey::new(key(22).verifying_key());
        let b64 = pk.base64();
        let mut blob = BASE64.decode(&b64).unwrap();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "empty"),
            ("   \n  ".into(), "empty"),
            ("RWQ!!!".into(), "not valid base64"),
            (b64[..55].to_owned(), "not valid base64"),
            (
                BASE64.encode(&blob[..41]),
                "the key line decodes to 41 bytes, expected 42",
            ),
            ("RWQA".repeat(100), "is 400 characters long"),
            (
                BASE64.encode([&blob[..], &[0]].concat()),
                "decodes to 43 bytes",
            ),
            (
                format!("hello\n{b64}"),
                "does not start with \"untrusted comment:\"",
            ),
            (
                format!("untrusted comment: a\n{b64}\nextra"),
                "found 3 lines",
            ),
            (
                format!("untrusted comment: {}\n{b64}", "x".repeat(2000)),
                "comment line is",
            ),
        ];
        for (bad, want) in cases {
            match PublicKey::parse_any_id(&bad) {
                Err(MinisignError::MalformedPublicKey(msg)) => {
                    assert!(
                        msg.contains(want),
                        "{bad:?}: message {msg:?} lacks {want:?}"
                    )
                }
                other => panic!("{bad:?}: expected MalformedPublicKey, got {other:?}"),
            }
        }
        // Wrong algorithm bytes.
        for alg in [*b"ED", *b"Eb", [0, 0]] {
            blob[..2].copy_from_slice(&alg);
            match PublicKey::parse_any_id(&BASE64.encode(&blob)) {
                Err(MinisignError::UnsupportedAlgorithm(msg)) => {
                    assert!(msg.contains("public key algorithm"), "{msg}")
                }
                other => panic!("expected UnsupportedAlgorithm, got {other:?}"),
            }
        }
        // Invalid point and small-order point.
        blob[..2].copy_from_slice(b"Ed");
        let mut not_a_point = None;
        for y in 2u8..=255 {
            let mut candidate = [0u8; 32];
            candidate[0] = y;
            if VerifyingKey::from_bytes(&candidate).is_err() {
                not_a_point = Some(candidate);
                break;
            }
        }
        blob[10..].copy_from_slice(&not_a_point.expect("some y is not on the curve"));
        assert!(matches!(
            PublicKey::parse_any_id(&BASE64.encode(&blob)),
            Err(MinisignError::MalformedPublicKey(m)) if m.contains("not a valid Ed25519 point")
        ));
        // y = p + k (p = 2^255 - 19) encodes the same point as y = k, but
        // not canonically.
        let non_canonical = (0u8..19)
            .map(|k| {
                let mut y = [0xFFu8; 32];
                y[0] = 0xED + k;
                y[31] = 0x7F;
                y
            })
            .find(|y| VerifyingKey::from_bytes(y).is_ok_and(|vk| !vk.is_weak()))
            .expect("some y = p + k is a point of large order");
        blob[10..].copy_from_slice(&non_canonical);
        assert!(matches!(
            PublicKey::parse_any_id(&BASE64.encode(&blob)),
            Err(MinisignError::MalformedPublicKey(m)) if m.contains("canonical encoding")
        ));
        let mut identity = [0u8; 32];
        identity[0] = 1; // the neutral element, of order 1
        blob[10..].copy_from_slice(&identity);
        assert!(matches!(
            PublicKey::parse_any_id(&BASE64.encode(&blob)),
            Err(MinisignError::MalformedPublicKey(m)) if m.contains("small order")
        ));
    }

    #[test]
    fn garbage_never_panics() {
        let sk = key(23);
        let pk = PublicKey::new(sk.verifying_key());
        let text = sig_for(&sk, b"d", "tc");
        // Truncations and single-byte corruptions of a valid file.
        for cut in 0..text.len() {
            if text.is_char_boundary(cut) {
                let _ = verify(&pk, &b"d"[..], &text[..cut]);
                let _ = PublicKey::parse_any_id(&text[..cut]);
            }
        }
        let bytes = text.as_bytes();
        // Line 1 after its prefix is the untrusted comment, which no
        // signature covers: changing it is allowed. Everything else is not.
        let comment = UNTRUSTED_COMMENT_PREFIX.len()..text.find('\n').unwrap();
        for i in (0..bytes.len()).filter(|i| !comment.contains(i)) {
            for flip in [1u8, 0x20, 0x80] {
                let mut b = bytes.to_vec();
                b[i] ^= flip;
                if let Ok(s) = std::str::from_utf8(&b) {
                    let r = verify(&pk, &b"d"[..], s);
                    assert!(r.is_err() || s == text, "corruption at {i} accepted");
                }
            }
        }
    }

    struct FailingReader;
    impl Read for FailingReader {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }

    #[test]
    fn io_errors_are_reported() {
        let sk = key(24);
        let pk = PublicKey::new(sk.verifying_key());
        assert!(matches!(
            sign(&sk, FailingReader, "u", "t"),
            Err(MinisignError::Io(_))
        ));
        let text = sig_for(&sk, b"d", "tc");
        let err = verify(&pk, FailingReader, &text).unwrap_err();
        assert!(err.to_string().contains("disk on fire"), "{err}");
    }

    #[test]
    fn streams_in_small_reads() {
        // A reader returning one byte per call must give the same result.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match (self.0.split_first(), buf.first_mut()) {
                    (Some((b, rest)), Some(slot)) => {
                        *slot = *b;
                        self.0 = rest;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let sk = key(25);
        let pk = PublicKey::new(sk.verifying_key());
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let a = sign(&sk, &data[..], "u", "t").unwrap();
        let b = sign(&sk, OneByte(&data), "u", "t").unwrap();
        assert_eq!(a, b);
        verify(&pk, OneByte(&data), &a).unwrap();
    }

    #[test]
    fn error_messages_name_the_problem() {
        let e = MinisignError::KeyIdMismatch {
            expected: "AAAA".into(),
            found: "BBBB".into(),
        };
        assert!(e.to_string().contains("AAAA") && e.to_string().contains("BBBB"));
        assert!(MinisignError::BadSignature.to_string().contains("data"));
        assert!(MinisignError::BadGlobalSignature
            .to_string()
            .contains("trusted comment"));
    }
}
