//! Differential test of our minisign verifier against the reference crate
//! `minisign-verify` (issue 17): for many generated (key, message,
//! signature) cases, both must give the same verdict.
//!
//! Intended differences, checked as such rather than compared:
//!
//! * **Legacy `Ed` signatures** (the message itself signed, no BLAKE2b
//!   prehash): we refuse them always (`MinisignError::LegacySignature`).
//!   `minisign-verify` refuses them too unless `allow_legacy` is true; we
//!   compare against `allow_legacy = false` and check that with `true` the
//!   reference accepts a valid legacy signature that we refuse.
//! * **Key ids not derived from the key**: `PublicKey::parse` (what every
//!   `--signer`/pinned key goes through) refuses a key whose 8-byte id is
//!   not `key_id_for(key)`, so two keys cannot pose under one id; the
//!   reference accepts any id. The signature check itself is compared
//!   through `PublicKey::parse_any_id`, which keeps the stored id.
//!
//! Everything else (valid signatures, flipped bits in the message, the
//! signature, the key id, the algorithm or the global signature, edited
//! trusted comments, edited untrusted comments, wrong keys) must agree.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Cursor;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use custodia::formats::minisign::{self, PublicKey, SignatureFile, ALG_ED25519};
use ed25519_dalek::{Signer, SigningKey};

/// Cases per kind (x 10 kinds).
const ROUNDS: u64 = 120;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn key(&mut self) -> SigningKey {
        let seed: [u8; 32] = self.bytes(32).try_into().unwrap();
        SigningKey::from_bytes(&seed)
    }
    fn comment(&mut self) -> String {
        const PIECES: &[&str] = &[
            "timestamp:1765000000",
            "\tfile:bundle.tar",
            " témoin « Évgueni »",
            " Показания",
            " شهادة",
            " KZ-2026-014",
            "",
        ];
        (0..1 + self.below(4))
            .map(|_| PIECES[self.below(PIECES.len())])
            .collect()
    }
}

/// Our verdict: parse the key (keeping its id) and the signature file,
/// then verify.
fn ours(pk_text: &str, sig_text: &str, message: &[u8]) -> bool {
    let Ok(pk) = PublicKey::parse_any_id(pk_text) else {
        return false;
    };
    minisign::verify(&pk, Cursor::new(message), sig_text).is_ok()
}

/// The reference verdict.
fn reference(pk_text: &str, sig_text: &str, message: &[u8], allow_legacy: bool) -> bool {
    let Ok(pk) = minisign_verify::PublicKey::decode(pk_text) else {
        return false;
    };
    let Ok(sig) = minisign_verify::Signature::decode(sig_text) else {
        return false;
    };
    pk.verify(message, &sig, allow_legacy).is_ok()
}

fn agree(case: &str, pk_text: &str, sig_text: &str, message: &[u8], expected: bool) {
    let a = ours(pk_text, sig_text, message);
    let b = reference(pk_text, sig_text, message, false);
    assert_eq!(
        a, b,
        "{case}: custodia says {a}, minisign-verify says {b}\nkey:\n{pk_text}\nsig:\n{sig_text}"
    );
    assert_eq!(
        a, expected,
        "{case}: both verifiers say {a}, expected {expected}"
    );
}

fn pub_text(pk: &PublicKey) -> String {
    pk.to_file_string("minisign public key")
}

/// The signature file with its base64 line 2 (alg ‖ key id ‖ signature)
/// or line 4 (global signature) decoded, edited, and re-encoded.
fn edit_line(sig_text: &str, line: usize, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut lines: Vec<String> = sig_text.lines().map(str::to_owned).collect();
    let mut blob = B64.decode(&lines[line]).unwrap();
    edit(&mut blob);
    lines[line] = B64.encode(&blob);
    lines.join("\n") + "\n"
}

#[test]
fn our_minisign_agrees_with_minisign_verify() {
    let mut rng = Rng(0x5EED_0000_0017);
    let mut compared = 0u32;
    for round in 0..ROUNDS {
        let sk = rng.key();
        let pk = PublicKey::new(sk.verifying_key());
        let pk_text = pub_text(&pk);
        let len = [0, 1, 63, 64, 65, 1000, 70_000][rng.below(7)];
        let message = rng.bytes(len);
        let tc = rng.comment();
        let sig_text = minisign::sign(&sk, Cursor::new(&message), "signature", &tc).unwrap();

        // 1. Valid.
        agree("valid", &pk_text, &sig_text, &message, true);

        // 2. One bit of the message flipped (or a byte added to an empty one).
        let mut other = message.clone();
        if other.is_empty() {
            other.push(0);
        } else {
            let i = rng.below(other.len());
            other[i] ^= 1 << rng.below(8);
        }
        agree("message bit", &pk_text, &sig_text, &other, false);

        // 3. One bit of the algorithm, key id or signature flipped.
        let bit = rng.below(74 * 8);
        let bad = edit_line(&sig_text, 1, |b| b[bit / 8] ^= 1 << (bit % 8));
        agree(&format!("sig bit {bit}"), &pk_text, &bad, &message, false);

        // 4. One bit of the global signature flipped.
        let bit = rng.below(64 * 8);
        let bad = edit_line(&sig_text, 3, |b| b[bit / 8] ^= 1 << (bit % 8));
        agree("global sig bit", &pk_text, &bad, &message, false);

        // 5. Trusted comment edited (changed, extended, emptied).
        let mut lines: Vec<String> = sig_text.lines().map(str::to_owned).collect();
        lines[2] = match round % 3 {
            0 => format!("{}x", lines[2]),
            1 => "trusted comment: ".to_owned(),
            _ => lines[2].replacen("trusted comment: ", "trusted comment:  ", 1),
        };
        let bad = lines.join("\n") + "\n";
        if bad != sig_text {
            agree("trusted comment", &pk_text, &bad, &message, false);
        }

        // 6. Untrusted comment edited: not authenticated, still valid.
        let mut lines: Vec<String> = sig_text.lines().map(str::to_owned).collect();
        lines[0] = format!("untrusted comment: {}", rng.comment());
        agree(
            "untrusted comment",
            &pk_text,
            &(lines.join("\n") + "\n"),
            &message,
            true,
        );

        // 7. Wrong key (its own id): key id mismatch.
        let other_pk = PublicKey::new(rng.key().verifying_key());
        agree(
            "wrong key",
            &pub_text(&other_pk),
            &sig_text,
            &message,
            false,
        );

        // 8. Wrong key posing under the signer's key id.
        let poser = PublicKey {
            key_id: pk.key_id,
            key: other_pk.key,
        };
        agree("poser", &pub_text(&poser), &sig_text, &message, false);

        // 9. Legacy `Ed`: the message signed directly. Intended difference.
        let legacy_sig = sk.sign(&message).to_bytes();
        let mut global = legacy_sig.to_vec();
        global.extend_from_slice(tc.as_bytes());
        let legacy = SignatureFile {
            untrusted_comment: "signature".to_owned(),
            algorithm: ALG_ED25519,
            key_id: pk.key_id,
            signature: legacy_sig,
            trusted_comment: tc.clone(),
            global_signature: sk.sign(&global).to_bytes(),
        }
        .to_file_string();
        agree(
            "legacy vs allow_legacy=false",
            &pk_text,
            &legacy,
            &message,
            false,
        );
        assert!(
            reference(&pk_text, &legacy, &message, true),
            "the reference should accept a valid legacy signature with allow_legacy"
        );

        // 10. A key id not derived from the key: parse() refuses it (an
        // intended difference), parse_any_id + verify agree with the
        // reference on a signature made under that id.
        let mut foreign_id = pk.key_id;
        foreign_id[0] ^= 0x80;
        let foreign = PublicKey {
            key_id: foreign_id,
            key: pk.key,
        };
        let foreign_text = pub_text(&foreign);
        assert!(PublicKey::parse(&foreign_text).is_err());
        assert!(minisign_verify::PublicKey::decode(&foreign_text).is_ok());
        let under_foreign = edit_line(&sig_text, 1, |b| b[2..10].copy_from_slice(&foreign_id));
        agree("foreign id", &foreign_text, &under_foreign, &message, true);
        agree(
            "foreign id, own key",
            &pk_text,
            &under_foreign,
            &message,
            false,
        );

        compared += 10;
    }
    eprintln!("minisign differential: {compared} cases compared");
}

/// Random junk in place of the signature or key text: when both parse and
/// agree nothing verifies, fine; we must never accept what the reference
/// refuses.
#[test]
fn we_never_accept_what_the_reference_refuses() {
    let mut rng = Rng(0x5EED_0000_0018);
    let sk = rng.key();
    let pk = PublicKey::new(sk.verifying_key());
    let pk_text = pub_text(&pk);
    let message = "Témoignage KZ-2026-014".as_bytes().to_vec();
    let sig_text = minisign::sign(&sk, Cursor::new(&message), "s", "t").unwrap();
    for _ in 0..2000 {
        let mut bytes = sig_text.clone().into_bytes();
        for _ in 0..1 + rng.below(3) {
            let i = rng.below(bytes.len());
            bytes[i] = match rng.below(3) {
                0 => bytes[i] ^ (1 << rng.below(7)),
                1 => b"\n \r+/=A"[rng.below(7)],
                _ => rng.next() as u8 & 0x7f,
            };
        }
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        if ours(&pk_text, &text, &message) {
            assert!(
                reference(&pk_text, &text, &message, false),
                "we accept a signature the reference refuses:\n{text}"
            );
        }
    }
}
