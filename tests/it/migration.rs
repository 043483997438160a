//! A vault written by version 1 (committed under `tests/data/v1/`, made by
//! `tests/data/v1/make.sh` with the version-1 build) must open with this
//! build: the first unlock migrates it to the sealed vault state with one
//! signed `migrate` event, and everything in it stays readable and checks
//! clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::common::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/v1")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// A copy of the version-1 vault in a fresh directory.
fn v1_vault() -> TestVault {
    let v = TestVault::empty();
    std::fs::copy(fixture("vault.custodia"), &v.path).unwrap();
    write_secret_file(&v.pass_file, read("owner.pass").trim_end());
    v
}

#[test]
fn a_version_1_vault_is_migrated_once_and_checks_clean() {
    let v = v1_vault();
    let cases = v.ok(&["case", "list"]);
    assert!(cases.contains("KZ-2026-014"), "{cases}");
    let log = parse_json(&v.ok(&["log", "--json"]));
    let migrations: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["action"] == "migrate")
        .collect();
    assert_eq!(migrations.len(), 1, "{log}");
    assert_eq!(migrations[0]["signature_valid"], true);
    assert_eq!(migrations[0]["event"]["details"]["from_format"], 1);
    // Its search texts were folded by fold version 1: they are folded
    // again, once, with a signed `refold` event, and searches find them.
    let refolds: Vec<_> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["action"] == "refold")
        .collect();
    assert_eq!(refolds.len(), 1, "{log}");
    assert_eq!(
        refolds[0]["event"]["details"]["fold_version"],
        custodia::formats::search::FOLD_VERSION
    );
    assert_eq!(refolds[0]["event"]["details"]["from_fold_version"], 1);
    assert_eq!(refolds[0]["event"]["details"]["statements"], 2);
    let ids = read("statements.txt");
    let ru = ids.lines().nth(1).unwrap();
    let hits = v.ok(&["search", "евгении"]);
    assert!(hits.contains(&ru[..12]), "{hits}");
    let report = v.ok(&["check"]);
    assert!(report.starts_with("OK"), "{report}");
    // A second unlock does not migrate again.
    v.ok(&["case", "list"]);
    let log = parse_json(&v.ok(&["log", "--json"]));
    assert_eq!(
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"]["action"] == "migrate" || e["event"]["action"] == "refold")
            .count(),
        2
    );
}

#[test]
fn everything_a_version_1_vault_holds_stays_readable_after_migration() {
    let v = v1_vault();
    let ids = read("statements.txt");
    let mut ids = ids.lines();
    let (fr, ru) = (ids.next().unwrap(), ids.next().unwrap());
    let shown = v.ok(&["statement", "show", fr]);
    assert!(shown.contains("23 septembre 2022"), "{shown}");
    let first = v.ok(&["statement", "show", fr, "--version", "1"]);
    assert!(first.contains("en septembre 2022"), "{first}");
    assert!(v.ok(&["statement", "show", ru]).contains("Евгений"));
    // The sealed statement stays sealed.
    let amended = v.secret_file("late.txt", "Trop tard.");
    v.fails_with(
        &[
            "statement",
            "amend",
            fr,
            "--reason",
            "x",
            "--file",
            arg(&amended),
        ],
        1,
    );
    let evidence = read("evidence.txt");
    let id = evidence.split_whitespace().next().unwrap();
    let out = v.file("entretien.ogg");
    v.ok(&["evidence", "extract", id, "--out", arg(&out)]);
    assert_eq!(
        sha256_hex(&std::fs::read(&out).unwrap()),
        read("entretien.sha256").trim()
    );
    // The second user still unlocks; the removed one does not.
    let amina = v.secret_file("amina.pass", read("amina.pass").trim_end());
    v.ok_as(&amina, &["--user", "Amina Q.", "case", "list"]);
    let leaving = v.secret_file("leaving.pass", "Partir sans laisser de clé, 2026");
    v.fails_with_as(&leaving, &["--user", "Départ", "case", "list"], 3);
    // The recovery key of version 1 still recovers.
    let key = v.secret_file("recovery.key", read("recovery.key").trim_end());
    let new_pass = v.secret_file("new.pass", "Une nouvelle phrase « solide » 2026");
    v.ok(&[
        "recover",
        "--recovery-key-file",
        arg(&key),
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    v.ok_as(&new_pass, &["check"]);
    // And the migrated vault exports a bundle that verifies.
    let bundle = v.file("kz.tar");
    v.ok_as(
        &new_pass,
        &[
            "export",
            "--case",
            "KZ-2026-014",
            "--no-encrypt",
            "--out",
            arg(&bundle),
        ],
    );
    let key_file = v.file("signer.pub");
    std::fs::write(&key_file, v.ok_as(&new_pass, &["key", "public"])).unwrap();
    v.ok(&["bundle", "verify", arg(&bundle), "--signer", arg(&key_file)]);
}

#[test]
fn recovering_a_version_1_vault_first_migrates_it_and_checks_clean() {
    let v = v1_vault();
    let key = v.secret_file("recovery.key", read("recovery.key").trim_end());
    let new_pass = v.secret_file("new.pass", "Une nouvelle phrase « solide » 2026");
    v.ok(&[
        "recover",
        "--recovery-key-file",
        arg(&key),
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    let report = v.ok_as(&new_pass, &["check"]);
    assert!(report.starts_with("OK"), "{report}");
    let log = parse_json(&v.ok_as(&new_pass, &["log", "--json"]));
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions[actions.len() - 3..],
        ["migrate", "recover", "refold"]
    );
}
