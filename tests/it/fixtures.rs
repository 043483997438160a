//! Stored format fixtures (issue 17): a vault and two bundles written by
//! this format version, committed under `tests/data/v2/` (made by
//! `tests/data/v2/make.sh`), and damaged copies of the vault. Every later
//! build must open them and give the same verdicts: `check --json` on each
//! vault and `bundle verify --json` on each bundle are compared with the
//! snapshots in `tests/data/v2/expected/`, so a format drift fails CI.
//!
//! Each fixture is opened on a copy in a temporary directory (the first
//! unlock may write). To accept a deliberate change, rerun with
//! `UPDATE_SNAPSHOTS=1 cargo test --test it fixtures::` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/v2")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

/// A copy of a committed vault (`vault.custodia` or `damaged/NAME`) in a
/// fresh temporary directory, with the owner's passphrase file.
fn copy_of(name: &str) -> TestVault {
    let v = TestVault::empty();
    std::fs::copy(data(name), &v.path).unwrap();
    write_secret_file(&v.pass_file, read("owner.pass").trim_end());
    v
}

/// What a run gave, as a stable JSON document: exit code, standard output
/// (parsed if JSON) and standard error, with the temporary directory
/// replaced by `<tmp>`.
fn outcome(out: &Output, tmp: &Path) -> serde_json::Value {
    let tmp = tmp.to_str().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).replace(tmp, "<tmp>");
    let stderr = String::from_utf8_lossy(&out.stderr).replace(tmp, "<tmp>");
    let stdout = match serde_json::from_str::<serde_json::Value>(&stdout) {
        Ok(v) => v,
        Err(_) => serde_json::Value::String(stdout),
    };
    serde_json::json!({
        "exit": out.status.code(),
        "stdout": stdout,
        "stderr": stderr,
    })
}

/// Compares `got` with `expected/NAME.json` (or writes it, with
/// `UPDATE_SNAPSHOTS=1`).
fn snapshot(name: &str, got: &serde_json::Value) {
    let path = data("expected").join(format!("{name}.json"));
    let text = format!("{}\n", serde_json::to_string_pretty(got).unwrap());
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no snapshot {} ({e}); make it with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert!(
        want == text,
        "format drift: {} differs from the snapshot {}\n--- expected\n{want}\n--- got\n{text}",
        name,
        path.display()
    );
}

fn check_snapshot(fixture: &str, name: &str) -> serde_json::Value {
    let v = copy_of(fixture);
    let got = outcome(&v.run(&["check", "--json"]), v.dir.path());
    snapshot(name, &got);
    got
}

/// Every damaged variant, its snapshot name, and the exit code it must give.
const DAMAGED: &[&str] = &[
    "events-byte",
    "vault-state-byte",
    "overview-byte",
    "body-byte",
    "search-text-byte",
    "record-seal-byte",
    "evidence-chunk-byte",
    "users-byte",
    "key-slots-byte",
    "imported-custody-byte",
    "truncated",
    "log-tail-cut",
    "vault-state-deleted",
];

#[test]
fn the_stored_vault_checks_clean_and_matches_its_snapshot() {
    let got = check_snapshot("vault.custodia", "vault.check");
    assert_eq!(got["exit"], 0, "{got}");
    assert_eq!(got["stdout"]["clean"], true, "{got}");
}

#[test]
fn every_damaged_vault_gives_its_snapshot_verdict() {
    for name in DAMAGED {
        let got = check_snapshot(
            &format!("damaged/{name}.custodia"),
            &format!("{name}.check"),
        );
        // A flipped byte in the recovery slot's wrapped key is not seen by
        // `check` today (slot contents are not in the sealed state; only
        // the recovery key could tell): the snapshot records it, see
        // SECURITY.md. Every other damage is reported as an integrity
        // violation.
        if *name != "key-slots-byte" {
            assert_eq!(got["exit"], 4, "{name}: {got}");
        }
    }
}

#[test]
fn the_stored_vault_reads_back_everything_it_holds() {
    let v = copy_of("vault.custodia");
    let ids = read("statements.txt");
    let ids: Vec<&str> = ids.lines().collect();
    let fr = v.ok(&["statement", "show", ids[0], "--version", "1"]);
    assert!(fr.contains("septembre 2022 et je suis arrivé"), "{fr}");
    let fr2 = v.ok(&["statement", "show", ids[0]]);
    assert!(fr2.contains("23 septembre 2022"), "{fr2}");
    let ru = v.ok(&["statement", "show", ids[1]]);
    assert!(ru.contains("Меня зовут Евгений"), "{ru}");
    let ar = v.ok(&["statement", "show", ids[2]]);
    assert!(ar.contains("اسمي يفغيني"), "{ar}");
    let hits = v.ok(&["search", "evgueni"]);
    assert!(hits.contains(&ids[0][..12]), "{hits}");
    let exhibit = read("evidence.txt");
    let exhibit = exhibit.split_whitespace().next().unwrap();
    let out = v.file("out.txt");
    v.ok(&["evidence", "extract", exhibit, "--out", arg(&out)]);
    assert_eq!(
        sha256_hex(&std::fs::read(&out).unwrap()),
        read("exhibit.sha256").trim()
    );
    // The imported case, the second user, the pinned signer.
    assert!(v.ok(&["case", "list"]).contains("KZ-2026-020"));
    let amina = v.secret_file("amina.pass", read("amina.pass").trim_end());
    v.ok_as(&amina, &["--user", "Amina Q.", "case", "list"]);
    assert!(v.ok(&["signer", "list"]).contains("Cabinet partenaire"));
    let report = v.ok(&["check"]);
    assert!(report.starts_with("OK"), "{report}");
}

#[test]
fn the_stored_recovery_key_opens_the_stored_vault() {
    let v = copy_of("vault.custodia");
    let new = v.secret_file("new.pass", "Une nouvelle phrase de passe, 2027");
    v.ok(&[
        "recover",
        "--recovery-key-file",
        arg(&data("recovery.key")),
        "--new-passphrase-file",
        arg(&new),
    ]);
    v.ok_as(&new, &["check"]);
}

#[test]
fn the_stored_bundles_give_their_snapshot_verdicts() {
    let v = TestVault::empty();
    let run = |name: &str, args: &[&str]| {
        let out = run_command(v.bare_command().args(args));
        let got = outcome(&out, v.dir.path());
        snapshot(name, &got);
        got
    };
    let plain = data("plain.bundle");
    let age = data("age.bundle");
    let key = data("owner.pub");
    let id = data("court.age-identity");
    let got = run(
        "plain.verify",
        &[
            "bundle",
            "verify",
            "--json",
            arg(&plain),
            "--signer",
            arg(&key),
        ],
    );
    assert_eq!(got["exit"], 0, "{got}");
    let got = run(
        "plain.verify-unauthenticated",
        &["bundle", "verify", "--json", arg(&plain)],
    );
    assert_eq!(got["exit"], 5, "{got}");
    let got = run(
        "age.verify",
        &[
            "bundle",
            "verify",
            "--json",
            arg(&age),
            "--identity",
            arg(&id),
            "--signer",
            arg(&key),
        ],
    );
    assert_eq!(got["exit"], 0, "{got}");
}

#[test]
fn the_stored_fixtures_stay_small() {
    fn size(p: &Path) -> u64 {
        if p.is_dir() {
            std::fs::read_dir(p)
                .unwrap()
                .map(|e| size(&e.unwrap().path()))
                .sum()
        } else {
            std::fs::metadata(p).unwrap().len()
        }
    }
    let total = size(&data(""));
    assert!(total < 3_000_000, "tests/data/v2 is {total} bytes");
}
