//! Keyless tampering (issue 13, SPEC §2, §4, §7): each test is an attack
//! by someone who holds the vault file and `sqlite3` but no passphrase or
//! key. It is performed on a real vault file, and the test fails if the
//! attack goes unnoticed again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::common::*;
use rusqlite::Connection;

const KZ: &str = "KZ-2026-014";

fn sql(path: &Path, statements: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(statements).unwrap();
}

/// Copies rows of `table` matching `condition` from `from` into `to`,
/// replacing rows with the same key: "restoring" them from an old copy.
fn restore_rows(from: &Path, to: &Path, table: &str, condition: &str) {
    let conn = Connection::open(to).unwrap();
    conn.execute("ATTACH DATABASE ?1 AS old", [from.to_str().unwrap()])
        .unwrap();
    conn.execute_batch(&format!(
        "INSERT OR REPLACE INTO main.{table} SELECT * FROM old.{table} WHERE {condition};"
    ))
    .unwrap();
    conn.execute_batch("DETACH DATABASE old").unwrap();
}

fn add_statement(v: &TestVault, witness: &str, body: &str) -> String {
    let file = v.secret_file(&format!("{witness}.txt"), body);
    let out = v.ok(&[
        "statement",
        "add",
        "--case",
        KZ,
        "--witness",
        witness,
        "--file",
        arg(&file),
    ]);
    out.trim().to_owned()
}

fn with_case() -> TestVault {
    let v = TestVault::new();
    v.ok(&["case", "new", KZ, "--title", "Déserteur, Astana — recours"]);
    v
}

/// Runs `check`, demands exit 4, returns its report and messages.
fn check_fails(v: &TestVault) -> String {
    let out = v.run(&["check"]);
    let stderr = expect_code(&out, &["check"], 4);
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

/// `export` exits 4 naming `export_says` and writes nothing; `check`
/// exits 4 naming `check_says`.
fn export_and_check_refuse(v: &TestVault, export_says: &str, check_says: &str) {
    let out = v.file("kz.tar");
    let err = v.fails_with(
        &["export", "--case", KZ, "--no-encrypt", "--out", arg(&out)],
        4,
    );
    assert!(err.contains(export_says), "{err}");
    assert!(!out.exists());
    let report = check_fails(v);
    assert!(report.contains(check_says), "{report}");
}

fn stderr_of(v: &TestVault, args: &[&str], code: i32) -> String {
    v.fails_with(args, code)
}

// ------------------------------------------------------------ 2. schema

#[test]
fn a_trigger_that_silently_drops_custody_events_makes_every_command_exit_4() {
    let v = with_case();
    let id = add_statement(&v, "Évgueni", "J'ai déserté en septembre 2022.");
    sql(
        &v.path,
        "CREATE TRIGGER mute BEFORE INSERT ON events BEGIN SELECT RAISE(IGNORE); END;
         CREATE TRIGGER mute_state BEFORE UPDATE ON vault_state BEGIN SELECT RAISE(IGNORE); END;",
    );
    let events_before: i64 = Connection::open(&v.path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    let err = stderr_of(&v, &["statement", "show", &id], 4);
    assert!(err.contains("trigger") && err.contains("\"mute"), "{err}");
    let err = stderr_of(&v, &["check"], 4);
    assert!(err.contains("trigger"), "{err}");
    let err = stderr_of(&v, &["checkpoint"], 4);
    assert!(err.contains("schema"), "{err}");
    let events_after: i64 = Connection::open(&v.path)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events_before, events_after);
}

#[test]
fn an_extra_table_index_or_view_is_named_and_refused() {
    for (what, statement) in [
        ("table", "CREATE TABLE notes (x TEXT);"),
        ("index", "CREATE INDEX sneaky ON events (sealed);"),
        ("view", "CREATE VIEW peek AS SELECT * FROM events;"),
    ] {
        let v = with_case();
        sql(&v.path, statement);
        let err = stderr_of(&v, &["case", "list"], 4);
        assert!(err.contains(what), "{what}: {err}");
    }
}

#[test]
fn a_write_that_a_trigger_swallows_is_refused_not_half_done() {
    // Defence in depth behind the schema check: a trigger slipped in
    // while the vault is open (through the library's own connection)
    // makes the insert change no row, and the write is refused.
    use custodia::{CreateOptions, KdfChoice, Vault};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.custodia");
    let created = Vault::create(
        &path,
        OWNER_PASS,
        &CreateOptions {
            name: None,
            user: OWNER.into(),
            kdf: KdfChoice::InsecureFast,
            force: false,
        },
    )
    .unwrap();
    let mut vault = created.vault;
    vault
        .store()
        .conn()
        .execute_batch(
            "CREATE TEMP TRIGGER mute BEFORE INSERT ON main.events BEGIN SELECT RAISE(IGNORE); END;",
        )
        .unwrap();
    let err = vault
        .create_case(&custodia::records::case::NewCase {
            reference: KZ.into(),
            title: "t".into(),
            description: None,
            tags: vec![],
        })
        .unwrap_err();
    assert!(err.to_string().contains("changed 0 rows"), "{err}");
    assert!(
        matches!(
            &err,
            custodia::Error::Integrity(custodia::Integrity::WriteInterfered { changed: 0, .. })
        ),
        "{err:?}"
    );
    assert!(matches!(err.category(), custodia::Category::Integrity));
}

// ------------------------------------------------------------ 3. users

#[test]
fn a_removed_user_put_back_from_an_old_copy_cannot_unlock_and_check_says_so() {
    let (v, second) = TestVault::with_two_users();
    let old = v.copy_vault("before-removal.custodia");
    v.ok(&["user", "remove", SECOND]);
    v.fails_with_as(&second, &["--user", SECOND, "case", "list"], 3);
    // The attacker puts back the removed user's profile and key slot.
    restore_rows(&old, &v.path, "users", "1");
    restore_rows(&old, &v.path, "key_slots", "kind = 'passphrase'");
    let err = v.fails_with_as(&second, &["--user", SECOND, "case", "list"], 4);
    assert!(err.contains("old copy"), "{err}");
    let report = check_fails(&v);
    assert!(
        report.contains("old copy") || report.contains("not a slot"),
        "{report}"
    );
}

#[test]
fn an_old_passphrase_put_back_after_a_change_is_refused() {
    let v = with_case();
    let old = v.copy_vault("before-change.custodia");
    let new_pass = v.secret_file("new.pass", "Nouvelle phrase « solide » d'Astana 2026");
    v.ok(&[
        "passphrase",
        "change",
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    restore_rows(&old, &v.path, "key_slots", "kind = 'passphrase'");
    let err = v.fails_with(&["case", "list"], 4);
    assert!(err.contains("old copy"), "{err}");
    // The new passphrase still works, and check names the stale slot.
    v.ok_as(&new_pass, &["case", "list"]);
    let out = v.run_as(&new_pass, &["check"]);
    let report = expect_code(&out, &["check"], 4) + &String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("not a slot of the vault"), "{report}");
}

#[test]
fn a_recovered_passphrase_cannot_be_undone_by_an_old_slot() {
    let v = with_case();
    let old = v.copy_vault("before-recovery.custodia");
    let key_file = v.secret_file("recovery.key", v.recovery_key.as_deref().unwrap());
    let new_pass = v.secret_file("new.pass", "Une autre phrase « solide » 2026");
    v.ok(&[
        "recover",
        "--recovery-key-file",
        arg(&key_file),
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    restore_rows(&old, &v.path, "key_slots", "kind = 'passphrase'");
    let err = v.fails_with(&["case", "list"], 4);
    assert!(err.contains("old copy"), "{err}");
}

#[test]
fn an_old_profile_put_back_is_detected() {
    let (v, _second) = TestVault::with_two_users();
    let old = v.copy_vault("old.custodia");
    let new_pass = v.secret_file("new.pass", "Nouvelle phrase « solide » d'Astana 2026");
    v.ok(&[
        "passphrase",
        "change",
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    // The old profile (with the old key current) is put back.
    restore_rows(&old, &v.path, "users", "position = 1");
    let err = v.fails_with_as(&new_pass, &["case", "list"], 4);
    assert!(err.contains("profile"), "{err}");
}

// ------------------------------------------------------------ 4. seals

#[test]
fn deleting_a_seal_row_does_not_unseal_a_statement() {
    let v = with_case();
    let id = add_statement(&v, "Évgueni", "J'ai déserté en septembre 2022.");
    v.ok(&["statement", "seal", &id]);
    sql(&v.path, "DELETE FROM record_seals;");
    let amended = v.secret_file("amended.txt", "Texte modifié après le scellé.");
    let err = v.fails_with(
        &[
            "statement",
            "amend",
            &id,
            "--reason",
            "après le scellé",
            "--file",
            arg(&amended),
        ],
        4,
    );
    assert!(err.contains("seal"), "{err}");
    export_and_check_refuse(&v, "seal", "seal");
}

// ------------------------------------------------------------ 5. order

#[test]
fn moving_a_user_to_the_first_position_is_reported_as_tampering() {
    let (v, _second) = TestVault::with_two_users();
    sql(
        &v.path,
        "UPDATE users SET position = position + 10;
         UPDATE users SET position = 1 WHERE position = 12;
         UPDATE users SET position = 2 WHERE position = 11;",
    );
    let err = v.fails_with(&["case", "list"], 4);
    assert!(err.contains("reordered"), "{err}");
}

// ------------------------------------------------------------ 6. sizes

#[test]
fn every_kind_of_event_has_the_same_size_on_disk_and_a_view_changes_no_record_row() {
    let v = with_case();
    let id = add_statement(&v, "Évgueni", "J'ai déserté en septembre 2022.");
    let photo = v.secret_file("photo.jpg", "pas vraiment une photo");
    v.ok(&["evidence", "add", "--case", KZ, arg(&photo)]);
    let dump = |path: &Path| -> Vec<u8> {
        let conn = Connection::open(path).unwrap();
        let mut all = Vec::new();
        for table in [
            "records",
            "record_versions",
            "search_texts",
            "record_seals",
            "evidence_chunks",
            "users",
            "key_slots",
            "custody_heads",
            "imported_custody",
        ] {
            let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
            let n = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            while let Some(row) = rows.next().unwrap() {
                for i in 0..n {
                    match row.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Blob(b) => all.extend_from_slice(b),
                        rusqlite::types::ValueRef::Text(t) => all.extend_from_slice(t),
                        rusqlite::types::ValueRef::Integer(x) => {
                            all.extend_from_slice(&x.to_le_bytes())
                        }
                        _ => {}
                    }
                }
            }
        }
        all
    };
    let before = dump(&v.path);
    v.ok(&["statement", "show", &id]);
    assert_eq!(
        before,
        dump(&v.path),
        "a view changed a record, user or slot row"
    );
    let out = v.file("kz.tar");
    v.ok(&["export", "--case", KZ, "--no-encrypt", "--out", arg(&out)]);
    let amended = v.secret_file("amended.txt", "Texte corrigé.");
    v.ok(&[
        "statement",
        "amend",
        &id,
        "--reason",
        "date",
        "--file",
        arg(&amended),
    ]);
    let conn = Connection::open(&v.path).unwrap();
    let sizes: Vec<i64> = conn
        .prepare("SELECT length(sealed) FROM events WHERE position > 2 ORDER BY position")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(sizes.len() >= 6, "{sizes:?}");
    assert!(
        sizes.iter().all(|s| *s == sizes[0]),
        "event sizes differ by action: {sizes:?}"
    );
    let heads: i64 = conn
        .query_row("SELECT COUNT(*) FROM custody_heads", [], |r| r.get(0))
        .unwrap();
    assert_eq!(heads, 0, "no per-record head row keyed by a record id");
}

// ------------------------------------------------------------ 7. keys

#[test]
fn a_passphrase_change_retires_the_signing_key_at_a_log_position() {
    let v = with_case();
    let before = v.ok(&["key", "public"]);
    let new_pass = v.secret_file("new.pass", "Nouvelle phrase « solide » d'Astana 2026");
    v.ok(&[
        "passphrase",
        "change",
        "--new-passphrase-file",
        arg(&new_pass),
    ]);
    let after = v.ok_as(&new_pass, &["key", "public"]);
    assert_ne!(before, after);
    let log = parse_json(&v.ok_as(&new_pass, &["log", "--json"]));
    let change = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["action"] == "passphrase-change")
        .expect("a passphrase-change event");
    assert_eq!(change["signature_valid"], true);
    // Old events, signed with the retired key, still verify.
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["signature_valid"] == true));
    v.ok_as(&new_pass, &["check"]);
}

// ------------------------------------------------------------ 8. bounds

#[test]
fn a_slot_claiming_4_gib_and_64_passes_is_skipped_not_run() {
    let (v, _second) = TestVault::with_two_users();
    sql(
        &v.path,
        "UPDATE key_slots SET kdf_memory_kib = 4194304, kdf_time_cost = 64, kdf_parallelism = 64
         WHERE kind = 'passphrase' AND user_id = (SELECT user_id FROM users ORDER BY position LIMIT 1);",
    );
    let started = std::time::Instant::now();
    let err = v.fails_with(&["case", "list"], 4);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert!(err.contains("skipped"), "{err}");
    assert!(err.contains("KiB"), "{err}");
}

// ------------------------------------------------------------ 11. concurrency

#[test]
fn concurrent_commands_print_no_false_checkpoint_warning() {
    let v = with_case();
    let files: Vec<PathBuf> = (0..4)
        .map(|i| v.secret_file(&format!("piece-{i}.txt"), &format!("pièce {i}")))
        .collect();
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            let mut cmd = v.std_command();
            cmd.arg("--vault")
                .arg(&v.path)
                .arg("--passphrase-file")
                .arg(&v.pass_file);
            cmd.args(["evidence", "add", "--case", KZ, arg(f)]);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .chain((0..4).map(|_| {
            let mut cmd = v.std_command();
            cmd.arg("--vault")
                .arg(&v.path)
                .arg("--passphrase-file")
                .arg(&v.pass_file);
            cmd.args(["case", "list"]);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        }))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("local checkpoint") && !stderr.contains("rolled-back"),
            "{stderr}"
        );
        assert!(out.status.success() || stderr.contains("busy"), "{stderr}");
    }
}

// ------------------------------------------------------------ 12. deletions

#[test]
fn deleting_an_amendment_is_refused_by_show_export_and_check() {
    let v = with_case();
    let id = add_statement(&v, "Évgueni", "J'ai déserté en septembre 2022.");
    let amended = v.secret_file("amended.txt", "J'ai déserté le 23 septembre 2022.");
    v.ok(&[
        "statement",
        "amend",
        &id,
        "--reason",
        "date",
        "--file",
        arg(&amended),
    ]);
    sql(
        &v.path,
        &format!("DELETE FROM record_versions WHERE record_id = '{id}' AND version = 2;"),
    );
    let err = v.fails_with(&["statement", "show", &id], 4);
    assert!(err.contains(&id) && err.contains("version"), "{err}");
    export_and_check_refuse(&v, "version", &id);
}

#[test]
fn deleting_a_statement_with_all_its_rows_is_refused_by_export_and_named_by_list() {
    let v = with_case();
    let keep = add_statement(&v, "Amina", "Je confirme.");
    let gone = add_statement(&v, "Évgueni", "J'ai déserté en septembre 2022.");
    sql(
        &v.path,
        &format!(
            "DELETE FROM search_texts WHERE record_id = '{gone}';
             DELETE FROM record_versions WHERE record_id = '{gone}';
             DELETE FROM records WHERE record_id = '{gone}';"
        ),
    );
    let out = v.run(&["statement", "list"]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains(&gone[..12]), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&keep[..12]));
    let bundle = v.file("kz.tar");
    let err = v.fails_with(
        &[
            "export",
            "--case",
            KZ,
            "--no-encrypt",
            "--out",
            arg(&bundle),
        ],
        4,
    );
    assert!(err.contains(&gone), "{err}");
    let report = check_fails(&v);
    assert!(report.contains(&gone), "{report}");
}

#[test]
fn deleting_the_recovery_slot_or_a_users_slot_is_named_by_check() {
    let (v, _second) = TestVault::with_two_users();
    sql(&v.path, "DELETE FROM key_slots WHERE kind = 'recovery';");
    let report = check_fails(&v);
    assert!(report.contains("recovery slot"), "{report}");
    let key_file = v.secret_file("recovery.key", v.recovery_key.as_deref().unwrap());
    let new_pass = v.secret_file("new.pass", "Nouvelle phrase « solide » d'Astana 2026");
    let err = v.fails_with(
        &[
            "recover",
            "--recovery-key-file",
            arg(&key_file),
            "--new-passphrase-file",
            arg(&new_pass),
        ],
        4,
    );
    assert!(err.contains("no recovery slot"), "{err}");

    let (w, _second) = TestVault::with_two_users();
    sql(
        &w.path,
        "DELETE FROM key_slots WHERE kind = 'passphrase' AND user_id =
             (SELECT user_id FROM users ORDER BY position DESC LIMIT 1);",
    );
    let report = check_fails(&w);
    assert!(report.contains("key slot of user"), "{report}");
}

#[test]
fn deleting_the_vault_state_keeps_the_vault_usable_but_never_clean_again() {
    let v = with_case();
    add_statement(&v, "Évgueni", "J'ai déserté en septembre 2022.");
    sql(&v.path, "DELETE FROM vault_state;");
    let report = check_fails(&v);
    assert!(report.contains("sealed state is missing"), "{report}");
    // Work goes on; the state is rebuilt from the signed chain and marked.
    add_statement(&v, "Amina", "Je confirme.");
    let report = check_fails(&v);
    assert!(report.contains("missing or damaged"), "{report}");
    v.fails_with(&["checkpoint"], 4);
}

// ------------------------------------------------------------ signers

#[test]
fn pinning_a_signer_is_a_signed_event_and_listed_with_its_fingerprint() {
    let v = with_case();
    let other = with_case();
    let key = other.file("other.pub");
    std::fs::write(&key, other.ok(&["key", "public"])).unwrap();
    v.ok(&["signer", "add", "Greffe CNDA", arg(&key)]);
    let list = v.ok(&["signer", "list"]);
    assert!(list.contains("Greffe CNDA"), "{list}");
    let json = parse_json(&v.ok(&["signer", "list", "--json"]));
    let fingerprint = json["signers"][0]["fingerprint"].as_str().unwrap();
    assert_eq!(fingerprint.len(), 64);
    let log = parse_json(&v.ok(&["log", "--json"]));
    assert!(log
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"]["action"] == "signer-add" && e["signature_valid"] == true));
    // Pinning twice is refused; one's own key is refused.
    v.fails_with(&["signer", "add", "Encore", arg(&key)], 1);
    let own = v.file("own.pub");
    std::fs::write(&own, v.ok(&["key", "public"])).unwrap();
    v.fails_with(&["signer", "add", "Moi", arg(&own)], 1);
    v.ok(&["check"]);
}

#[test]
fn a_pinned_signer_makes_verify_valid_and_import_accept_without_signer() {
    let sender = with_case();
    add_statement(&sender, "Évgueni", "J'ai déserté en septembre 2022.");
    let bundle = sender.file("kz.tar");
    sender.ok(&[
        "export",
        "--case",
        KZ,
        "--no-encrypt",
        "--out",
        arg(&bundle),
    ]);
    let court = TestVault::new();
    let out = court.run(&["bundle", "verify", arg(&bundle)]);
    assert_eq!(out.status.code(), Some(5), "unpinned: unauthenticated");
    court.fails_with(&["bundle", "import", arg(&bundle)], 5);
    let key = court.file("sender.pub");
    std::fs::write(&key, sender.ok(&["key", "public"])).unwrap();
    court.ok(&["signer", "add", "Cabinet Dupont", arg(&key)]);
    let verdict = court.ok(&["bundle", "verify", arg(&bundle)]);
    assert!(verdict.contains("Cabinet Dupont"), "{verdict}");
    court.ok(&["bundle", "import", arg(&bundle)]);
    court.ok(&["check"]);
}

#[test]
fn after_a_rebuilt_state_only_the_records_written_since_are_kept_from_export() {
    let v = with_case();
    add_statement(&v, "Évgueni", "J'ai déserté en septembre 2022.");
    v.ok(&["case", "new", "KZ-2026-015", "--title", "Autre dossier"]);
    sql(&v.path, "DELETE FROM vault_state;");
    // The next event (a statement of KZ) carries the mark.
    add_statement(&v, "Amina", "Je confirme.");
    let out = v.file("kz.tar");
    let err = v.fails_with(
        &["export", "--case", KZ, "--no-encrypt", "--out", arg(&out)],
        4,
    );
    assert!(
        err.contains("rebuilt") || err.contains("missing or damaged"),
        "{err}"
    );
    let other = v.file("kz15.tar");
    v.ok(&[
        "export",
        "--case",
        "KZ-2026-015",
        "--no-encrypt",
        "--out",
        arg(&other),
    ]);
}

#[test]
fn a_damaged_recovery_slot_or_colleagues_slot_is_named_by_check() {
    let (v, _second) = TestVault::with_two_users();
    sql(
        &v.path,
        "UPDATE key_slots SET wrapped_master = zeroblob(length(wrapped_master))
         WHERE kind = 'recovery';",
    );
    let report = check_fails(&v);
    assert!(
        report.contains("recovery slot") && report.contains("altered"),
        "{report}"
    );

    let (w, _second) = TestVault::with_two_users();
    sql(
        &w.path,
        "UPDATE key_slots SET salt = zeroblob(length(salt)) WHERE kind = 'passphrase' AND user_id =
             (SELECT user_id FROM users ORDER BY position DESC LIMIT 1);",
    );
    let report = check_fails(&w);
    assert!(
        report.contains("key slot") && report.contains("altered"),
        "{report}"
    );
}

// ------------------------------------------------ typed errors (library)

/// A vault made through the library with case `KZ` and one statement,
/// amended once (two versions); returns the vault file's directory, its
/// path and the statement's id.
fn library_vault() -> (tempfile::TempDir, PathBuf, custodia::format::Id) {
    use custodia::records::case::NewCase;
    use custodia::records::statement::{NewStatement, StatementFields};
    use custodia::{CreateOptions, KdfChoice, Vault};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.custodia");
    let mut vault = Vault::create(
        &path,
        OWNER_PASS,
        &CreateOptions {
            name: None,
            user: OWNER.into(),
            kdf: KdfChoice::InsecureFast,
            force: false,
        },
    )
    .unwrap()
    .vault;
    vault
        .create_case(&NewCase {
            reference: KZ.into(),
            title: "t".into(),
            description: None,
            tags: vec![],
        })
        .unwrap();
    let id = vault
        .add_statement(&NewStatement {
            case: KZ.into(),
            fields: StatementFields {
                witness: "Évgueni".into(),
                ..StatementFields::default()
            },
            body: "J'ai déserté en septembre 2022.".into(),
        })
        .unwrap();
    vault
        .amend_statement(&id.to_hex(), "J'ai déserté le 23 septembre 2022.", "date")
        .unwrap();
    (dir, path, id)
}

fn library_unlock(path: &Path) -> custodia::Result<custodia::Vault<custodia::Unlocked>> {
    custodia::Vault::open(path)?.unlock(None, OWNER_PASS)
}

#[test]
fn a_deleted_statement_version_is_a_version_count_error() {
    use custodia::{Error, Integrity};
    let (_dir, path, id) = library_vault();
    sql(
        &path,
        &format!("DELETE FROM record_versions WHERE record_id = '{id}' AND version = 2;"),
    );
    let err = library_unlock(&path)
        .unwrap()
        .show_statement(&id.to_hex(), None)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Integrity(Integrity::VersionCount { record, found: 1, expected: 2, .. })
                if *record == id
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("versions were deleted"), "{err}");
}

#[test]
fn a_field_moved_between_versions_is_a_field_unauthentic_error() {
    use custodia::format::Kind;
    use custodia::{Error, Integrity};
    let (_dir, path, id) = library_vault();
    sql(
        &path,
        &format!(
            "UPDATE record_versions SET overview = (SELECT overview FROM record_versions \
             WHERE record_id = '{id}' AND version = 2) WHERE record_id = '{id}' AND version = 1;"
        ),
    );
    let err = library_unlock(&path)
        .unwrap()
        .show_statement(&id.to_hex(), Some(1))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Integrity(Integrity::FieldUnauthentic {
                kind: Kind::Statement,
                record,
                version: 1,
                field,
            }) if *record == id && field == "overview"
        ),
        "{err:?}"
    );
    assert_eq!(err.category(), custodia::Category::Integrity);
}

#[test]
fn a_deleted_seal_row_is_a_seal_row_error() {
    use custodia::{Error, Integrity};
    let (_dir, path, id) = library_vault();
    library_unlock(&path)
        .unwrap()
        .seal_statement(&id.to_hex())
        .unwrap();
    sql(&path, "DELETE FROM record_seals;");
    let err = library_unlock(&path)
        .unwrap()
        .amend_statement(&id.to_hex(), "Texte modifié après le scellé.", "après")
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Integrity(Integrity::SealRow { record, chain_sealed: true, .. }) if *record == id
        ),
        "{err:?}"
    );
}

#[test]
fn a_deleted_custody_event_is_named_by_its_position() {
    use custodia::{Error, Integrity};
    let (_dir, path, id) = library_vault();
    // The statement's last event (its amendment) is the newest in the log.
    let last: i64 = Connection::open(&path)
        .unwrap()
        .query_row("SELECT MAX(position) FROM events", [], |r| r.get(0))
        .unwrap();
    sql(
        &path,
        &format!("DELETE FROM events WHERE position = {last};"),
    );
    let err = library_unlock(&path)
        .and_then(|mut v| v.amend_statement(&id.to_hex(), "Encore.", "encore"))
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Integrity(Integrity::LastEventDamaged { record, position })
                if *record == id && *position == last as u64
        ),
        "{err:?}"
    );
}

#[test]
fn an_added_schema_object_is_a_schema_error() {
    use custodia::{Error, Integrity};
    let (_dir, path, _id) = library_vault();
    sql(&path, "CREATE INDEX extra ON events (sealed);");
    let err = library_unlock(&path).err().unwrap();
    match &err {
        Error::Integrity(Integrity::Schema { differences }) => assert!(
            differences
                .iter()
                .any(|d| d.contains("extra") && d.contains("added")),
            "{differences:?}"
        ),
        other => panic!("{other:?}"),
    }
}
