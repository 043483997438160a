//! The fuzz target bodies, in ONE place (issue 17).
//!
//! Included with `#[path]` by every `fuzz/fuzz_targets/*.rs` (libFuzzer,
//! `cargo fuzz run NAME`) and by `tests/it/fuzz_replay.rs` (stable `cargo test`:
//! the committed corpus plus seeded mutations, under `catch_unwind`). Each
//! function takes arbitrary bytes and feeds them to a parser of untrusted
//! input; the only property checked is "no panic, no unbounded allocation"
//! (plus a few cheap invariants asserted below), so a target must never
//! `unwrap` what the parser returns.
//!
//! [`ALL`] lists every target by the name of its fuzz binary and corpus
//! directory (`fuzz/corpus/NAME/`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Cursor;

use custodia::bundle::verify::{check_bag, hash_reader, walk_bundle, Status, Verdict};
use custodia::crypto::aead::{open_raw, open_value, seal_raw};
use custodia::crypto::kdf::{self, KdfParams};
use custodia::crypto::keys::{hkdf_derive, SymmetricKey};
use custodia::crypto::recovery::RecoveryKey;
use custodia::custody::chain::{readable_events, verify_chain, ImportedHistory};
use custodia::custody::state::VaultState;
use custodia::custody::SignedEvent;
use custodia::format::{unpad, Binding, Envelope, Id};
use custodia::formats::bagit;
use custodia::formats::checkpoint::Checkpoint;
use custodia::formats::minisign::{PublicKey, SignatureFile};
use custodia::formats::search::{Folded, Query};
use custodia::formats::tar::{for_each_entry, ReadLimits, TarError};
use custodia::records::statement::StatementFields;
use custodia::vault::Settings;

/// A fuzz target: arbitrary bytes in, nothing out; must not panic.
pub type Target = fn(&[u8]);

/// Every target, by name (= fuzz binary = corpus directory).
pub const ALL: &[(&str, Target)] = &[
    ("tar_reader", tar_reader),
    ("bagit", bagit),
    ("minisign", minisign),
    ("checkpoint", checkpoint),
    ("envelope", envelope),
    ("key_slot", key_slot),
    ("event", event),
    ("recovery_key", recovery_key),
    ("search_query", search_query),
    ("bundle_verify", bundle_verify),
];

/// Text view of the input: the exact string when it is UTF-8, else a lossy
/// copy (so non-UTF-8 mutations still reach the text parsers).
fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The tar reader on a whole archive, with small limits (so limit checks
/// are reached by small inputs too), reading every file it is handed (in
/// odd-sized reads, to exercise the tracking reader).
pub fn tar_reader(data: &[u8]) {
    let limits = ReadLimits {
        max_entries: 64,
        max_entry_size: 1 << 20,
        max_total_size: 4 << 20,
        max_path_len: 512,
    };
    for (i, limits) in [limits, ReadLimits::default()].iter().enumerate() {
        let mut seen = 0u64;
        let result = for_each_entry(Cursor::new(data), limits, |path, size, r| {
            assert!(!path.is_empty(), "the tar reader handed out an empty path");
            assert!(
                !path
                    .split('/')
                    .any(|c| c == ".." || c == "." || c.is_empty()),
                "the tar reader handed out an unnormalised path {path:?}"
            );
            let mut buf = [0u8; 777];
            let mut got = 0u64;
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                got += n as u64;
            }
            if got != size {
                return Err(TarError::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "short entry",
                )));
            }
            seen += 1;
            Ok(())
        });
        if result.is_ok() {
            assert!(seen <= limits.max_entries, "limit {i} exceeded");
        }
    }
}

/// Every BagIt tag-file parser on the same text.
pub fn bagit(data: &[u8]) {
    let t = text(data);
    if let Ok(entries) = bagit::parse_manifest(&t) {
        for (path, _) in entries {
            assert!(!path.is_empty());
        }
    }
    let _ = bagit::parse_tag_manifest(&t);
    if let Ok(info) = bagit::parse_bag_info(&t) {
        for (label, value) in &info {
            if label == "Payload-Oxum" {
                let _ = bagit::parse_payload_oxum(value);
            }
        }
    }
    let _ = bagit::parse_bagit_txt(&t);
    let _ = bagit::parse_payload_oxum(&t);
}

/// minisign public keys (both parsers) and signature files; when a key and
/// a signature both parse from the two halves of the input, verify one
/// against the other.
pub fn minisign(data: &[u8]) {
    let t = text(data);
    let _ = PublicKey::parse(&t);
    let any = PublicKey::parse_any_id(&t);
    let sig = SignatureFile::parse(&t);
    if let Ok(sig) = &sig {
        // What parses must print back to text that parses to the same.
        let again = SignatureFile::parse(&sig.to_file_string());
        assert!(
            matches!(&again, Ok(a) if a == sig),
            "signature round trip differs"
        );
        let _ = sig.key_id_hex();
    }
    if let Ok(pk) = &any {
        let _ = pk.fingerprint();
        let _ = pk.fingerprint_short();
    }
    // Split at the first blank line: key above, signature below.
    if let Some((a, b)) = t.split_once("\n\n") {
        if let (Ok(pk), Ok(sig)) = (PublicKey::parse_any_id(a), SignatureFile::parse(b)) {
            let _ = sig.verify(&pk, Cursor::new(b"message"));
        }
    }
}

/// Checkpoint receipts (`custodia check --expect-checkpoint`).
pub fn checkpoint(data: &[u8]) {
    if let Ok(c) = Checkpoint::parse(&text(data)) {
        let receipt = c.receipt();
        assert!(
            Checkpoint::parse(&receipt).is_ok(),
            "a parsed receipt does not parse again once printed"
        );
    }
}

fn fixed_key() -> SymmetricKey {
    SymmetricKey::from_bytes([7u8; 32])
}

const VAULT_ID: Id = Id([0x42; 16]);

/// Sealed values: random bytes as an envelope under a fixed key (header
/// parsing, authentication failure), then the bytes as the *plaintext* of
/// a real envelope, opened as every sealed type a vault stores (padding,
/// JSON decoding of settings, statements, custody state, imported history).
pub fn envelope(data: &[u8]) {
    let key = fixed_key();
    let binding = Binding {
        vault_id: &VAULT_ID,
        kind: "settings",
        record: "vault",
        version: 1,
        field: "settings",
    };
    let ad = binding.associated_data();
    let _ = Envelope::parse(data);
    let _ = open_raw(&key, &ad, data);
    let _ = open_value::<Settings>(&key, &binding, data);
    let _ = unpad(data);
    let Ok(sealed) = seal_raw(&key, &ad, data) else {
        return;
    };
    match open_raw(&key, &ad, &sealed) {
        Ok(plain) => assert_eq!(plain.as_slice(), data, "seal/open round trip"),
        Err(e) => panic!("a fresh envelope does not open: {e}"),
    }
    let _ = open_value::<Settings>(&key, &binding, &sealed);
    let _ = open_value::<StatementFields>(&key, &binding, &sealed);
    let _ = open_value::<VaultState>(&key, &binding, &sealed);
    let _ = open_value::<ImportedHistory>(&key, &binding, &sealed);
    let _ = open_value::<serde_json::Value>(&key, &binding, &sealed);
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = data.get(at + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

/// Key slot rows as read from the file: KDF parameters (12 bytes, checked
/// against a default from the next 12 as `check_slot_cost` does before any
/// Argon2 run), salt, and wrapped master key. Argon2 itself is never run
/// here: bounding its cost before it runs is the property under test.
pub fn key_slot(data: &[u8]) {
    let slot_params = KdfParams {
        memory_kib: u32_at(data, 0),
        time_cost: u32_at(data, 4),
        parallelism: u32_at(data, 8),
    };
    let default = KdfParams {
        memory_kib: u32_at(data, 12),
        time_cost: u32_at(data, 16),
        parallelism: u32_at(data, 20),
    };
    let _ = slot_params.validate();
    let _ = slot_params.is_weak();
    if kdf::check_slot_params(&slot_params, &default).is_ok() {
        assert!(slot_params.validate().is_ok());
        assert!(slot_params.memory_kib <= kdf::MAX_SLOT_MEMORY_KIB);
    }
    let _ = kdf::check_slot_params(&slot_params, &kdf::RECOMMENDED);
    // The rest: salt length, salt, wrapped master key. A recovery slot's
    // wrapping key is HKDF(recovery secret, salt); the wrapped key is then
    // opened as the unlock path does (`vault::slots`, crate-private).
    let rest = data.get(24..).unwrap_or_default();
    let salt_len = usize::from(rest.first().copied().unwrap_or(16) % 40);
    let salt = rest.get(1..1 + salt_len).unwrap_or_default();
    let wrapped = rest.get(1 + salt_len..).unwrap_or_default();
    if let Ok(wrap) = hkdf_derive(&[9u8; 20], salt, "recovery-wrap") {
        let binding = Binding {
            vault_id: &VAULT_ID,
            kind: "slot",
            record: "01010101010101010101010101010101",
            version: 1,
            field: "master",
        };
        let _ = open_raw(&wrap, &binding.associated_data(), wrapped);
    }
    // Bytes that are themselves a sealed settings row.
    let _ = serde_json::from_slice::<KdfParams>(data);
    let _ = serde_json::from_slice::<Settings>(data);
}

/// Custody events: a JSON Lines history as a bundle carries it (one
/// `SignedEvent` a line), each checked for canonical form, the chain
/// verified with no trusted key, and the same bytes as a stored
/// `VaultState` and `ImportedHistory`.
pub fn event(data: &[u8]) {
    let t = text(data);
    for line in t.lines().take(1000) {
        if let Ok(signed) = serde_json::from_str::<SignedEvent>(line) {
            let _ = signed.hash();
            if let Ok(ev) = signed.event() {
                let again = serde_json::to_string(&ev).unwrap_or_default();
                assert_eq!(
                    again, signed.canonical,
                    "event() accepted a non-canonical text"
                );
            }
            let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]).verifying_key();
            let _ = signed.verify_with(&key);
        }
    }
    let chain = verify_chain("0123456789abcdef0123456789abcdef", &t, |_| None);
    let _ = chain.is_intact();
    let _ = readable_events(&t);
    let _ = serde_json::from_slice::<VaultState>(data);
    if let Ok(history) = serde_json::from_slice::<ImportedHistory>(data) {
        let _ = history.verify("0123456789abcdef0123456789abcdef");
    }
}

/// Recovery key text (`custodia recover --recovery-key-file`).
pub fn recovery_key(data: &[u8]) {
    if let Ok(key) = RecoveryKey::parse(&text(data)) {
        let shown = key.to_display();
        match RecoveryKey::parse(&shown) {
            Ok(again) => assert_eq!(again.secret(), key.secret(), "recovery key round trip"),
            Err(e) => panic!("a printed recovery key does not parse: {e}"),
        }
    }
}

const HAYSTACK: &str = "Témoignage recueilli à Astana : « Je suis réfugié », dit Évgueni. \
    Показания дезертира, данные в кафе. شهادة اللاجئ في المحكمة. जन-पियरे 北京 2026-014";

/// Search queries (`custodia search QUERY`), then matching, scoring, hits
/// and snippet ranges against a fixed multilingual text and against the
/// input itself.
pub fn search_query(data: &[u8]) {
    let t = text(data);
    let _ = custodia::formats::search::fold(&t);
    let folded_input = Folded::new(&t);
    let len = folded_input.text.len();
    let _ = folded_input.original_range(0..len, &t);
    let _ = folded_input.original_range(len / 3..len / 2, &t);
    let Ok(query) = Query::parse(&t) else {
        return;
    };
    assert!(!query.terms().is_empty());
    let hay = Folded::new(HAYSTACK);
    for (h, original) in [(&hay, HAYSTACK), (&folded_input, &*t)] {
        let _ = query.matches(&h.text);
        let _ = query.score(&h.text);
        for range in query.hits(&h.text) {
            let r = h.original_range(range, original);
            assert!(original.get(r).is_some(), "a hit maps off a char boundary");
        }
    }
}

/// `bundle verify` on a whole plain tar, with no trusted signer: the same
/// walk and checks as `verify_bundle`, from memory instead of a file.
pub fn bundle_verify(data: &[u8]) {
    let mut verdict = Verdict::default();
    let walked = walk_bundle(Cursor::new(data), |_, _, r, _| Ok(hash_reader(r)?));
    let files: BTreeMap<_, _> = match walked {
        Ok(w) => w.files,
        Err(_) => return,
    };
    check_bag(&mut verdict, &files, &[]);
    // No trusted key was given: never a full VALID.
    assert!(
        !matches!(verdict.status(), Status::Valid),
        "a bundle verified VALID with no trusted key"
    );
    let _ = verdict.is_valid();
    let _ = verdict.refusal();
}
