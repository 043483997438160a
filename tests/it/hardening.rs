//! Issues 13 and 16, crypto side: what the file reveals of exhibit sizes,
//! the envelope version byte, old vaults still reading, and passphrase
//! strength warnings. Each test drives the real binary on a real vault.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::common::*;
use custodia::records::evidence::{padded_stream_len, stored_chunk_count, CHUNK_SIZE};
use rusqlite::Connection;
use serde_json::Value;

const CASE: &str = "KZ-2026-014";

/// A vault with one case.
fn vault_with_case() -> TestVault {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Déserteur, Astana"]);
    v
}

/// Deterministic, non-repeating-looking bytes.
fn exhibit_bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u64)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(u64::from(seed)) as u8
        })
        .collect()
}

/// Adds a file of `len` bytes as evidence; returns (id, bytes).
fn add_exhibit(v: &TestVault, name: &str, len: usize, seed: u8) -> (String, Vec<u8>) {
    let bytes = exhibit_bytes(len, seed);
    let path = v.file(name);
    std::fs::write(&path, &bytes).unwrap();
    let out = v.ok(&["evidence", "add", "--case", CASE, arg(&path)]);
    let id = out.split_whitespace().next().unwrap().to_owned();
    assert!(is_record_id(&id), "{out}");
    (id, bytes)
}

/// The lengths of an exhibit's `evidence_chunks.data` rows, in order, as
/// anyone holding the file reads them.
fn chunk_rows(vault: &Path, id: &str) -> Vec<u64> {
    let conn = Connection::open(vault).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT length(data) FROM evidence_chunks WHERE record_id = ?1 ORDER BY chunk_index",
        )
        .unwrap();
    let rows = stmt
        .query_map([id], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|r| r.unwrap() as u64)
        .collect();
    rows
}

fn extract(v: &TestVault, id: &str, name: &str) -> Vec<u8> {
    let out = v.file(name);
    v.ok(&["evidence", "extract", id, "--out", arg(&out)]);
    std::fs::read(out).unwrap()
}

/// Full chunk envelope: 1 MiB of plaintext plus version, nonce and tag.
const FULL_ROW: u64 = CHUNK_SIZE as u64 + 41;

// ------------------------------------------------------------ 16.3 padding

/// Issue 16.3: files of 1,048,676 and 1,048,680 bytes left rows of 145 and
/// 153 bytes beside a full chunk. The whole stream is now padded to Padmé
/// of the size: both leave the same rows, and extract gives the exact bytes.
#[test]
fn exhibits_of_nearby_sizes_leave_identical_rows() {
    let v = vault_with_case();
    let (a, a_bytes) = add_exhibit(&v, "a.bin", 1_048_676, 1);
    let (b, b_bytes) = add_exhibit(&v, "b.bin", 1_048_680, 2);
    let rows_a = chunk_rows(&v.path, &a);
    let rows_b = chunk_rows(&v.path, &b);
    assert_eq!(rows_a, rows_b, "the rows differ: they reveal the sizes");
    // Padmé(1 048 680) = 1 081 344: one full chunk and a final 32 768.
    assert_eq!(padded_stream_len(1_048_680), 1_081_344);
    assert_eq!(rows_a, vec![FULL_ROW, 32_768 + 41]);
    assert_eq!(extract(&v, &a, "a.out"), a_bytes);
    assert_eq!(extract(&v, &b, "b.out"), b_bytes);
    assert!(v.ok(&["check"]).starts_with("OK"));
}

/// The rows of every new exhibit are a function of Padmé(size) alone: their
/// count is `stored_chunk_count(size)` and their bytes add up to the padded
/// length plus 41 per row; the create event records the count.
#[test]
fn rows_follow_the_padded_length_and_the_create_event_counts_them() {
    let v = vault_with_case();
    // 0 and 14 bytes pad to 64; 2 MiB − 10 bytes fills its data-last chunk
    // with zeros and ends in an empty chunk; 3 000 000 pads to 3 014 656.
    for (i, size) in [0usize, 14, 2 * 1024 * 1024 - 10, 3_000_000]
        .into_iter()
        .enumerate()
    {
        let (id, bytes) = add_exhibit(&v, &format!("f{i}.bin"), size, i as u8);
        let rows = chunk_rows(&v.path, &id);
        let size = size as u64;
        assert_eq!(rows.len() as u64, stored_chunk_count(size), "size {size}");
        assert_eq!(
            rows.iter().sum::<u64>(),
            padded_stream_len(size) + 41 * rows.len() as u64,
            "size {size}: {rows:?}"
        );
        assert!(rows[..rows.len() - 1].iter().all(|r| *r == FULL_ROW));
        assert_eq!(extract(&v, &id, &format!("f{i}.out")), bytes);
        let log = parse_json(&v.ok(&["log", &id, "--json"]));
        let create = &log.as_array().unwrap()[0]["event"];
        assert_eq!(create["action"].as_str(), Some("create"));
        assert_eq!(
            create["details"]["chunks"].as_u64(),
            Some(rows.len() as u64)
        );
        assert_eq!(create["details"]["size"].as_u64(), Some(size));
    }
}

/// A file just over 64 MiB pads to 66 MiB: a chunk of nothing but padding
/// sits between the data and the final chunk. Removing it, or the final
/// chunk, or adding one after, is detected (exit 4), like any chunk.
#[test]
fn padding_chunks_are_authenticated_like_data_chunks() {
    let v = vault_with_case();
    let size = 64 * 1024 * 1024 + 1;
    let (id, bytes) = add_exhibit(&v, "big.bin", size, 7);
    let rows = chunk_rows(&v.path, &id);
    assert_eq!(padded_stream_len(size as u64), 66 * 1024 * 1024);
    assert_eq!(
        rows.len(),
        67,
        "64 data chunks, one padding chunk, an empty end"
    );
    assert_eq!(*rows.last().unwrap(), 41);
    assert_eq!(extract(&v, &id, "big.out"), bytes);

    let tampered = |name: &str, sql: &str| -> PathBuf {
        let path = v.copy_vault(name);
        let conn = Connection::open(&path).unwrap();
        conn.execute(sql, [&id]).unwrap();
        path
    };
    let cases = [
        (
            "no-padding-chunk",
            "DELETE FROM evidence_chunks WHERE record_id = ?1 AND chunk_index = 65",
        ),
        (
            "no-end",
            "DELETE FROM evidence_chunks WHERE record_id = ?1 AND chunk_index = 66",
        ),
        (
            "extra",
            "INSERT INTO evidence_chunks (record_id, chunk_index, data) \
             SELECT record_id, 67, data FROM evidence_chunks \
             WHERE record_id = ?1 AND chunk_index = 65",
        ),
        (
            "swapped-padding",
            "UPDATE evidence_chunks SET data = (SELECT data FROM evidence_chunks \
             WHERE record_id = ?1 AND chunk_index = 64) \
             WHERE record_id = ?1 AND chunk_index = 65",
        ),
    ];
    for (name, sql) in cases {
        let copy = tampered(&format!("{name}.custodia"), sql);
        let out_file = v.file(&format!("{name}.out"));
        let out = v.run_on(
            &copy,
            &["evidence", "extract", &id, "--out", arg(&out_file)],
        );
        assert_eq!(out.status.code(), Some(4), "{name}: {out:?}");
        assert!(!out_file.exists(), "{name}: a partial file was left");
    }
}

// --------------------------------------------------- old vaults still read

/// A vault written by the code before envelope version 2 and stream
/// padding (`tests/data/legacy-v1.custodia`: version-1 envelopes
/// everywhere, exhibits of 14, 0 and 1 048 676 bytes whose last chunks
/// alone are padded). Everything still opens, extracts and checks.
fn legacy_vault(v: &TestVault) -> PathBuf {
    let path = v.file("legacy.custodia");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/legacy-v1.custodia"),
        &path,
    )
    .unwrap();
    path
}

#[test]
fn a_vault_from_before_version_2_still_reads() {
    let v = TestVault::empty();
    let path = legacy_vault(&v);
    let list = parse_json(&v.ok_on(&path, &["evidence", "list", "--json"]));
    let mut seen = 0;
    for item in list.as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let out_file = v.file(&format!("{id}.out"));
        v.ok_on(&path, &["evidence", "extract", id, "--out", arg(&out_file)]);
        let bytes = std::fs::read(&out_file).unwrap();
        assert_eq!(sha256_hex(&bytes), item["sha256"].as_str().unwrap());
        assert_eq!(bytes.len() as u64, item["size"].as_u64().unwrap());
        seen += 1;
    }
    assert_eq!(seen, 3);
    let big = exhibit_legacy_big();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["sha256"].as_str() == Some(big)));
    let hits = v.ok_on(&path, &["search", "evgueni"]);
    assert!(hits.contains("Astana"), "{hits}");
    assert!(v.ok_on(&path, &["check"]).starts_with("OK"));
}

/// SHA-256 of the legacy vault's 1 048 676-byte exhibit (bytes i mod 251).
fn exhibit_legacy_big() -> &'static str {
    "51a6eef401c0119654ac362ad4ee6d51d8d169da32f9ff13e0b8a30829964970"
}

// ------------------------------------------------ 16.6 envelope version

/// Sets byte 0 of the case's overview envelope to `version` in a copy.
fn relabel_case_overview(v: &TestVault, vault: &Path, name: &str, version: u8) -> PathBuf {
    let copy = v.file(name);
    std::fs::copy(vault, &copy).unwrap();
    let conn = Connection::open(&copy).unwrap();
    let (record, blob): (String, Vec<u8>) = conn
        .query_row(
            "SELECT v.record_id, v.overview FROM record_versions v \
             JOIN records r ON r.record_id = v.record_id WHERE r.kind = 'case'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_ne!(blob[0], version, "already version {version}");
    let mut changed = blob.clone();
    changed[0] = version;
    conn.execute(
        "UPDATE record_versions SET overview = ?1 WHERE record_id = ?2",
        rusqlite::params![changed, record],
    )
    .unwrap();
    copy
}

/// Issue 16.6: the version byte is authenticated. A version-2 envelope
/// relabelled 1, and a version-1 envelope (from an old vault) relabelled
/// 2, both fail to open: `check` reports the case, exit 4.
#[test]
fn relabelling_the_envelope_version_either_way_is_detected() {
    let v = vault_with_case();
    let overview_version = |path: &Path| -> u8 {
        Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT v.overview FROM record_versions v JOIN records r \
                 ON r.record_id = v.record_id WHERE r.kind = 'case'",
                [],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .unwrap()[0]
    };
    assert_eq!(overview_version(&v.path), 2, "new envelopes are version 2");
    let down = relabel_case_overview(&v, &v.path, "down.custodia", 1);
    let out = v.run_on(&down, &["check"]);
    assert_eq!(out.status.code(), Some(4), "2 → 1 went unnoticed: {out:?}");

    let legacy = legacy_vault(&v);
    assert_eq!(overview_version(&legacy), 1);
    let up = relabel_case_overview(&v, &legacy, "up.custodia", 2);
    let out = v.run_on(&up, &["check"]);
    assert_eq!(out.status.code(), Some(4), "1 → 2 went unnoticed: {out:?}");
    // The untouched old vault is fine.
    assert!(v.ok_on(&legacy, &["check"]).starts_with("OK"));
}

// ------------------------------------------------ 13.13 passphrase strength

/// A weak passphrase that passes the length rule (9 characters).
const WEAK: &str = "password1";

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_weak_warning(stderr: &str) {
    assert!(stderr.contains("passphrase is weak"), "{stderr}");
    assert!(stderr.contains("bits"), "{stderr}");
    // Priced at this vault's real slot parameters: the test KDF.
    assert!(stderr.contains("Argon2id m=64 KiB t=1 p=1"), "{stderr}");
    assert!(stderr.contains("--insecure-fast-kdf"), "{stderr}");
    assert!(
        !stderr.contains(WEAK),
        "the passphrase was printed: {stderr}"
    );
}

fn strength(doc: &Value) -> &Value {
    let s = &doc["passphrase_strength"];
    assert!(s["bits"].is_number(), "{doc}");
    assert!(s["guess_time_seconds"].is_number(), "{doc}");
    assert!(s["warning"].is_boolean(), "{doc}");
    s
}

#[test]
fn init_warns_about_a_weak_passphrase_at_the_vaults_kdf_cost() {
    let mut v = TestVault::empty();
    write_secret_file(&v.pass_file, WEAK);
    let out = run_command(
        v.command()
            .args(["init", "--user", OWNER, "--insecure-fast-kdf", "--json"])
            .args(["--recovery-key-file", "-"]),
    );
    let stdout = expect_success(&out, &["init"]);
    assert_weak_warning(&stderr_of(&out));
    let doc = parse_json(&stdout);
    let s = strength(&doc);
    assert_eq!(s["warning"].as_bool(), Some(true));
    assert!(s["bits"].as_f64().unwrap() < 50.0);
    assert_eq!(s["weak_kdf"].as_bool(), Some(true));
    assert!(!stdout.contains(WEAK));
    v.recovery_key = doc["recovery_key"].as_str().map(str::to_owned);

    // A strong passphrase: no warning, and the estimate says so.
    let strong = TestVault::empty();
    let out = run_command(strong.command().args([
        "init",
        "--user",
        OWNER,
        "--insecure-fast-kdf",
        "--json",
        "--recovery-key-file",
        "-",
    ]));
    let stdout = expect_success(&out, &["init"]);
    assert!(!stderr_of(&out).contains("passphrase is weak"));
    assert_eq!(
        strength(&parse_json(&stdout))["warning"].as_bool(),
        Some(false)
    );
}

#[test]
fn user_add_passphrase_change_and_recover_warn_about_weak_passphrases() {
    let v = TestVault::new();
    let weak = v.secret_file("weak.pass", WEAK);

    let out = v.run(&[
        "user",
        "add",
        SECOND,
        "--new-passphrase-file",
        arg(&weak),
        "--json",
    ]);
    let stdout = expect_success(&out, &["user add"]);
    assert_weak_warning(&stderr_of(&out));
    assert_eq!(
        strength(&parse_json(&stdout))["warning"].as_bool(),
        Some(true)
    );

    let out = v.run_as(
        &weak,
        &[
            "--user",
            SECOND,
            "passphrase",
            "change",
            "--new-passphrase-file",
            arg(&weak),
            "--json",
        ],
    );
    let stdout = expect_success(&out, &["passphrase change"]);
    assert_weak_warning(&stderr_of(&out));
    assert_eq!(
        strength(&parse_json(&stdout))["warning"].as_bool(),
        Some(true)
    );

    let key = v.secret_file("recovery.key", v.recovery_key.as_deref().unwrap());
    let out = v.run(&[
        "recover",
        "--recovery-key-file",
        arg(&key),
        "--new-passphrase-file",
        arg(&weak),
        "--json",
    ]);
    let stdout = expect_success(&out, &["recover"]);
    assert_weak_warning(&stderr_of(&out));
    assert_eq!(
        strength(&parse_json(&stdout))["warning"].as_bool(),
        Some(true)
    );

    // Without --json the warning is there too, and nothing on stdout leaks.
    let strong = v.secret_file("strong.pass", SECOND_PASS);
    let out = v.run_as(
        &weak,
        &[
            "passphrase",
            "change",
            "--new-passphrase-file",
            arg(&strong),
        ],
    );
    expect_success(&out, &["passphrase change"]);
    assert!(!stderr_of(&out).contains("passphrase is weak"), "{out:?}");
}

/// Issue 13.8 / 16.6: `export --passphrase` accepted the passphrase `a`.
/// It now gets the vault's minimum length (8 characters), and a weak one
/// the strength warning (priced at age's scrypt).
#[test]
fn export_passphrase_gets_the_minimum_length_and_the_warning() {
    let v = vault_with_case();
    let short = v.secret_file("short.pass", "a");
    let out_file = v.file("bundle.age");
    let err = v.fails_with(
        &[
            "export",
            "--case",
            CASE,
            "--passphrase",
            "--bundle-passphrase-file",
            arg(&short),
            "--out",
            arg(&out_file),
        ],
        1,
    );
    assert!(err.contains("at least 8 characters"), "{err}");
    assert!(!out_file.exists());
    let weak = v.secret_file("weak.pass", WEAK);
    let out = v.run(&[
        "export",
        "--case",
        CASE,
        "--passphrase",
        "--bundle-passphrase-file",
        arg(&weak),
        "--out",
        arg(&out_file),
    ]);
    expect_success(&out, &["export"]);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("passphrase is weak"), "{stderr}");
    assert!(stderr.contains("scrypt"), "{stderr}");
    assert!(!stderr.contains(WEAK));
    // --json carries the estimate (figures only).
    let again = v.file("bundle-2.age");
    let out = v.run(&[
        "--json",
        "export",
        "--case",
        CASE,
        "--passphrase",
        "--bundle-passphrase-file",
        arg(&weak),
        "--out",
        arg(&again),
    ]);
    let doc = parse_json(&expect_success(&out, &["export --json"]));
    assert_eq!(doc["passphrase_strength"]["warning"], true, "{doc}");
    assert!(doc["passphrase_strength"]["bits"].as_f64().unwrap() < 50.0);
    assert!(!doc.to_string().contains(WEAK));
}
