//! The end of a record's life and corrections to a case (issue 14.3):
//! `record withdraw`, `record destroy` and `case amend`, on real vault
//! files, with the attacks that try to undo them with `sqlite3`.

use std::fs;
use std::path::Path;

use rusqlite::Connection;

use crate::common::{arg, parse_json, TestVault};

const CASE: &str = "UA-2026-031";

fn add_statement(v: &TestVault, witness: &str, body: &str) -> String {
    let file = v.secret_file(&format!("{witness}.txt"), body);
    let id = v
        .ok(&[
            "statement",
            "add",
            "--case",
            CASE,
            "--witness",
            witness,
            "--file",
            arg(&file),
        ])
        .trim()
        .to_owned();
    assert_eq!(id.len(), 32, "statement add printed {id:?}");
    id
}

fn vault_with_two_statements() -> (TestVault, String, String) {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Izium, September 2026"]);
    let kept = add_statement(
        &v,
        "Olena Marchenko",
        "The soldiers came to the school on the morning of the 14th.",
    );
    let withdrawn = add_statement(
        &v,
        "Taras Bondar",
        "I saw the convoy leave towards Balakliia before dawn.",
    );
    (v, kept, withdrawn)
}

fn count(path: &Path, sql: &str, id: &str) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row(sql, [id], |r| r.get(0))
        .unwrap()
}

fn log_actions(v: &TestVault, id: &str) -> Vec<String> {
    let log = parse_json(&v.ok(&["log", id, "--json"]));
    log.as_array()
        .expect("log --json is a list of entries")
        .iter()
        .map(|e| e["event"]["action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn export_payload(v: &TestVault, name: &str) -> Vec<String> {
    let out = v.file(name);
    v.ok(&["export", "--case", CASE, "--no-encrypt", "--out", arg(&out)]);
    let unpacked = v.file(&format!("{name}.d"));
    fs::create_dir_all(&unpacked).unwrap();
    let status = std::process::Command::new("tar")
        .args(["-xf", arg(&out), "-C", arg(&unpacked)])
        .status()
        .unwrap();
    assert!(status.success());
    crate::common::bag::files_under(&unpacked, &unpacked)
}

#[test]
fn a_withdrawn_statement_stays_in_the_vault_but_is_never_exported_searched_or_amended() {
    let (v, kept, withdrawn) = vault_with_two_statements();
    let reason = "the witness withdrew consent on 2026-12-01";
    let out = v.ok(&["record", "withdraw", &withdrawn[..8], "--reason", reason]);
    assert!(out.contains("withdrawn"), "{out}");
    // Searched no more; the other statement still is.
    assert!(!v.ok(&["search", "convoy"]).contains(&withdrawn[..8]));
    assert!(v.ok(&["search", "school"]).contains(&kept[..8]));
    // Not listed, not exported with the case, and not exportable by name.
    assert!(!v.ok(&["statement", "list"]).contains(&withdrawn[..8]));
    let files = export_payload(&v, "case.tar");
    assert!(files.iter().any(|f| f.contains(&kept)), "{files:?}");
    assert!(!files.iter().any(|f| f.contains(&withdrawn)), "{files:?}");
    let refused = v.fails_with(
        &[
            "export",
            "--case",
            CASE,
            "--statement",
            &withdrawn,
            "--no-encrypt",
            "--out",
            arg(&v.file("named.tar")),
        ],
        1,
    );
    assert!(refused.contains("withdrawn"), "{refused}");
    // Not amended, not withdrawn twice.
    let new_text = v.secret_file("new.txt", "changed");
    let refused = v.fails_with(
        &[
            "statement",
            "amend",
            &withdrawn,
            "--file",
            arg(&new_text),
            "--reason",
            "typo",
        ],
        1,
    );
    assert!(refused.contains("withdrawn"), "{refused}");
    v.fails_with(&["record", "withdraw", &withdrawn, "--reason", reason], 1);
    // Still in the vault, readable by its users, and the log says why.
    assert!(v.ok(&["statement", "show", &withdrawn]).contains("convoy"));
    assert_eq!(log_actions(&v, &withdrawn).last().unwrap(), "view");
    assert!(log_actions(&v, &withdrawn).contains(&"withdraw".to_owned()));
    v.ok(&["check"]);
}

#[test]
fn a_destroyed_statement_loses_its_content_but_keeps_its_events_and_check_stays_clean() {
    let (v, kept, doomed) = vault_with_two_statements();
    // A prefix is not enough to erase testimony.
    let refused = v.fails_with(
        &[
            "record",
            "destroy",
            &doomed,
            "--reason",
            "entered by mistake",
            "--confirm",
            &doomed[..8],
        ],
        1,
    );
    assert!(
        refused.contains(&doomed),
        "the message gives the full id: {refused}"
    );
    let before = v.copy_vault("before-destroy.custodia");
    let out = v.ok(&[
        "record",
        "destroy",
        &doomed[..8],
        "--reason",
        "entered by mistake",
        "--confirm",
        &doomed,
    ]);
    assert!(
        out.contains("destroyed") && out.contains("compacted"),
        "{out}"
    );
    for table in ["record_versions", "search_texts", "record_seals"] {
        let n = count(
            &v.path,
            &format!("SELECT COUNT(*) FROM {table} WHERE record_id = ?1"),
            &doomed,
        );
        assert_eq!(n, 0, "{table} still holds the destroyed statement");
    }
    assert_eq!(
        count(
            &v.path,
            "SELECT COUNT(*) FROM records WHERE record_id = ?1",
            &doomed
        ),
        1
    );
    // Its events stay, ending with the destruction.
    let actions = log_actions(&v, &doomed);
    assert_eq!(actions.first().unwrap(), "create");
    assert_eq!(actions.last().unwrap(), "destroy");
    let shown = v.fails_with(&["statement", "show", &doomed], 1);
    assert!(shown.contains("destroyed"), "{shown}");
    assert!(v.ok(&["statement", "list"]).contains(&kept[..8]));
    assert!(!v.ok(&["search", "convoy"]).contains(&doomed[..8]));
    v.ok(&["check"]);
    let files = export_payload(&v, "after.tar");
    assert!(!files.iter().any(|f| f.contains(&doomed)), "{files:?}");
    // Unlocking again (the search texts are refolded when needed) works.
    v.ok(&["case", "show", CASE]);

    // The attack: put the destroyed versions back from the old copy.
    let conn = Connection::open(&v.path).unwrap();
    conn.execute("ATTACH DATABASE ?1 AS old", [arg(&before)])
        .unwrap();
    conn.execute(
        "INSERT INTO main.record_versions SELECT * FROM old.record_versions WHERE record_id = ?1",
        [&doomed],
    )
    .unwrap();
    drop(conn);
    let checked = v.run(&["check"]);
    let report = crate::common::bag::expect_exit(&checked, 4, "check after the rows were put back");
    let report = format!("{report}{}", crate::common::bag::all_text(&checked));
    assert!(report.contains("put back"), "{report}");
}

#[test]
fn a_destroyed_exhibit_can_no_longer_be_extracted_and_its_chunks_are_gone() {
    let (v, _, _) = vault_with_two_statements();
    let photo = v.file("photo.jpg");
    fs::write(&photo, vec![0xA5u8; 300_000]).unwrap();
    let line = v.ok(&["evidence", "add", "--case", CASE, arg(&photo)]);
    let id = line.split_whitespace().next().unwrap().to_owned();
    v.ok(&[
        "record",
        "destroy",
        &id,
        "--reason",
        "wrong case",
        "--confirm",
        &id,
    ]);
    let chunks = count(
        &v.path,
        "SELECT COUNT(*) FROM evidence_chunks WHERE record_id = ?1",
        &id,
    );
    assert_eq!(chunks, 0);
    let refused = v.fails_with(
        &["evidence", "extract", &id, "--out", arg(&v.file("out.jpg"))],
        1,
    );
    assert!(refused.contains("destroyed"), "{refused}");
    assert!(!v.file("out.jpg").exists());
    v.ok(&["check"]);
}

#[test]
fn a_case_is_amended_with_a_reason_and_the_bundle_carries_the_new_title() {
    let (v, _, _) = vault_with_two_statements();
    v.fails_with(&["case", "amend", CASE, "--reason", "nothing"], 1);
    let reason = "the village is Kapytolivka, not Izium";
    let out = v.ok(&[
        "case",
        "amend",
        CASE,
        "--title",
        "Kapytolivka, September 2026",
        "--reason",
        reason,
    ]);
    assert!(out.contains("version 2"), "{out}");
    let shown = v.ok(&["case", "show", CASE]);
    assert!(shown.contains("Kapytolivka, September 2026"), "{shown}");
    assert!(shown.contains(reason), "{shown}");
    let case_id = parse_json(&v.ok(&["case", "show", CASE, "--json"]))["case"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = parse_json(&v.ok(&["log", &case_id, "--json"]));
    let amend = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["action"] == "amend")
        .expect("an amend event")
        .clone();
    assert_eq!(
        amend["event"]["details"]["fields"],
        serde_json::json!(["title"])
    );
    assert!(amend["event"]["details"]["reason_sha256"].is_string());
    assert!(
        !amend["event"].to_string().contains("Kapytolivka, not"),
        "the reason text stays out of the signed event"
    );
    let out = v.file("amended.tar");
    v.ok(&["export", "--case", CASE, "--no-encrypt", "--out", arg(&out)]);
    let signer = v.ok(&["key", "public"]);
    let key = signer
        .lines()
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap()
        .trim()
        .to_owned();
    let mut verify = v.bare_command();
    verify.args(["bundle", "verify", arg(&out), "--signer", &key]);
    let verified = crate::common::run_command(&mut verify);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    v.ok(&["check"]);
}
