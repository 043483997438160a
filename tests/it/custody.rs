//! The custody and access log end to end (issue 4, SPEC §4, §7): signed,
//! hash-chained events shown by `log`, `check` on a clean vault and on
//! copies of it tampered with in every way the brief lists, checkpoint
//! receipts against rolled-back copies, and the local rollback warning.
//!
//! Every tamper works on its own copy of the vault, changed with rusqlite
//! while no custodia process runs; `check` must then exit 4 and name the
//! damaged record and, for event damage, the first bad event position.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};

use base64::Engine;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::common::{
    arg, expect_code, expect_success, is_record_id, parse_json, sha256_hex, TestVault, OWNER,
    SECOND, SECOND_PASS,
};

// ---------------------------------------------------------------- testimony

const KZ: &str = "KZ-2026-014";
const KZ_TITLE: &str = "Évgueni K. — déserteur, demande d'asile refusée (CNDA)";

const FR_WITNESS: &str = "Évgueni Kouznetsov";
const FR_BODY: &str = "Je m’appelle Évgueni. J’ai déserté en septembre 2022 et je suis \
parti au Kazakhstan. « Je refuse de tirer sur des civils », ai-je dit au commandant. \
Aujourd’hui je suis réfugié, mais la cour a refusé ma demande d’asile.\n";
const FR_AMENDED: &str = "Je m’appelle Évgueni. J’ai déserté le 23 septembre 2022 (et non \
en octobre) et je suis parti au Kazakhstan par Petropavl.\n";

const RU_WITNESS: &str = "Жанна Сейткали";
const RU_BODY: &str = "Он сказал мне прямо: «Я ДЕЗЕРТИР, и я не вернусь». \
Мы встретились в кафе в Астане, и он рассказал журналисту всё, что видел.\n";

const AR_WITNESS: &str = "أحمد الحسن";
const AR_BODY: &str = "قال الشاهد: رأيتُ الجنودَ يدخلونَ القريةَ ليلاً. \
هذه شَهَادَةٌ مهمة عن اللاجئين في المخيم.\n";

// ---------------------------------------------------------------- scene

/// The custody events [`TestVault::with_two_users`] writes before any
/// record exists: 1 the vault's creation, 2 its first user (`OWNER`)
/// added, 3 the second user (`SECOND`) added, both by `OWNER`.
const BEFORE_SCENE: u64 = 3;

/// A vault with two users and this history (custody event positions):
///
/// - 1 to `BEFORE_SCENE` (3): the vault created, `OWNER` and `SECOND` added
/// - `BEFORE_SCENE + 1` (4): case `KZ` created
/// - `BEFORE_SCENE + 2` (5): statement `fr` created (French)
/// - `BEFORE_SCENE + 3` (6): statement `ru` created (Russian)
/// - `BEFORE_SCENE + 4` (7): evidence `ev` created (2.5 MiB: three chunks)
/// - `BEFORE_SCENE + 5` (8): `fr` viewed
/// - `BEFORE_SCENE + 6` (9): `fr` amended (version 2)
/// - `BEFORE_SCENE + 7` (10): `fr` sealed
/// - `BEFORE_SCENE + 8` (11): `ru` viewed — the vault's last event, and
///   `ru`'s last
///
/// Every event is `OWNER`'s.
struct Scene {
    v: TestVault,
    second: PathBuf,
    case: String,
    fr: String,
    ru: String,
    ev: String,
    ev_bytes: Vec<u8>,
}

fn write_file(v: &TestVault, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = v.file(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn one_id(stdout: &str) -> String {
    let id = stdout.trim_end_matches('\n');
    assert!(is_record_id(id), "expected one id, got {stdout:?}");
    id.to_owned()
}

fn add_statement(v: &TestVault, witness: &str, body: &str) -> String {
    add_statement_in(v, KZ, witness, body)
}

fn add_statement_in(v: &TestVault, case: &str, witness: &str, body: &str) -> String {
    let file = write_file(
        v,
        &format!("{}.txt", &sha256_hex(body.as_bytes())[..8]),
        body,
    );
    one_id(&v.ok(&[
        "statement",
        "add",
        "--case",
        case,
        "--witness",
        witness,
        "--file",
        arg(&file),
    ]))
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn scene() -> Scene {
    let (v, second) = TestVault::with_two_users();
    let case = one_id(&v.ok(&["case", "new", KZ, "--title", KZ_TITLE]));
    let fr = add_statement(&v, FR_WITNESS, FR_BODY);
    let ru = add_statement(&v, RU_WITNESS, RU_BODY);
    let ev_bytes = pseudo_random(2 * 1024 * 1024 + 500_000, 42);
    let video = write_file(&v, "vidéo_café_Astana.mp4", &ev_bytes);
    let out = v.ok(&["evidence", "add", "--case", KZ, arg(&video)]);
    let ev = out.split("  ").next().unwrap().to_owned();
    assert!(is_record_id(&ev), "{out}");
    v.ok(&["statement", "show", &fr]);
    let amended = write_file(&v, "amended.txt", FR_AMENDED);
    v.ok(&[
        "statement",
        "amend",
        &fr,
        "--reason",
        "Date corrigée par le témoin",
        "--file",
        arg(&amended),
    ]);
    v.ok(&["statement", "seal", &fr]);
    v.ok(&["statement", "show", &ru]);
    let s = Scene {
        v,
        second,
        case,
        fr,
        ru,
        ev,
        ev_bytes,
    };
    // Before the scene: the vault's creation (its record is the vault id)
    // and the two users' additions (their records are the user ids).
    let before = [
        (1, "vault", "create"),
        (2, "user", "user-add"),
        (3, "user", "user-add"),
    ];
    let expected = [
        (BEFORE_SCENE + 1, &s.case, "create"),
        (BEFORE_SCENE + 2, &s.fr, "create"),
        (BEFORE_SCENE + 3, &s.ru, "create"),
        (BEFORE_SCENE + 4, &s.ev, "create"),
        (BEFORE_SCENE + 5, &s.fr, "view"),
        (BEFORE_SCENE + 6, &s.fr, "amend"),
        (BEFORE_SCENE + 7, &s.fr, "seal"),
        (BEFORE_SCENE + 8, &s.ru, "view"),
    ];
    let events = log_json(&s.v, None);
    assert_eq!(
        events.len(),
        before.len() + expected.len(),
        "unexpected history: {events:?}"
    );
    assert_eq!(before.len() as u64, BEFORE_SCENE);
    let (setup, recorded) = events.split_at(before.len());
    let records = [&s.case, &s.fr, &s.ru, &s.ev];
    for ((position, kind, action), e) in before.iter().zip(setup) {
        let event = &e["event"];
        assert_eq!(event["position"].as_u64(), Some(*position), "{event}");
        assert_eq!(event["record_kind"].as_str(), Some(*kind), "{event}");
        assert_eq!(event["action"].as_str(), Some(*action), "{event}");
        assert_eq!(event["user"].as_str(), Some(OWNER), "{event}");
        let record = event["record"].as_str().unwrap();
        assert!(!records.iter().any(|r| r.as_str() == record), "{event}");
        if *kind == "vault" {
            assert_eq!(Some(record), event["vault"].as_str(), "{event}");
        }
    }
    assert_ne!(
        setup[1]["event"]["record"], setup[2]["event"]["record"],
        "both users have one id"
    );
    for ((position, record, action), e) in expected.iter().zip(recorded) {
        assert_eq!(e["event"]["position"].as_u64(), Some(*position));
        assert_eq!(e["event"]["record"].as_str(), Some(record.as_str()));
        assert_eq!(e["event"]["action"].as_str(), Some(*action));
    }
    s
}

/// `log [ID] --json`, parsed into its list of `{event, signature_valid}`.
fn log_json(v: &TestVault, id: Option<&str>) -> Vec<Value> {
    let mut args = vec!["log"];
    args.extend(id);
    args.push("--json");
    parse_json(&v.ok(&args)).as_array().unwrap().clone()
}

// ---------------------------------------------------------------- tampering

/// Copies the vault to `name` and lets `tamper` change the copy.
fn tampered(v: &TestVault, name: &str, tamper: impl FnOnce(&Connection)) -> PathBuf {
    let path = v.copy_vault(name);
    let conn = Connection::open(&path).unwrap();
    tamper(&conn);
    conn.close().unwrap();
    path
}

/// Flips one bit in the middle of `column` of the one row of `table`
/// matching `condition`.
fn flip_byte(conn: &Connection, table: &str, column: &str, condition: &str) {
    let mut blob: Vec<u8> = conn
        .query_row(
            &format!("SELECT {column} FROM {table} WHERE {condition}"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    let middle = blob.len() / 2;
    blob[middle] ^= 0x10;
    let n = conn
        .execute(
            &format!("UPDATE {table} SET {column} = ?1 WHERE {condition}"),
            [&blob],
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn event_blob(conn: &Connection, position: u64) -> Vec<u8> {
    conn.query_row(
        "SELECT sealed FROM events WHERE position = ?1",
        [position as i64],
        |r| r.get(0),
    )
    .unwrap()
}

fn set_event_blob(conn: &Connection, position: u64, blob: &[u8]) {
    let n = conn
        .execute(
            "UPDATE events SET sealed = ?1 WHERE position = ?2",
            rusqlite::params![blob, position as i64],
        )
        .unwrap();
    assert_eq!(n, 1);
}

fn body_blob(conn: &Connection, id: &str, version: u64) -> Vec<u8> {
    conn.query_row(
        "SELECT body FROM record_versions WHERE record_id = ?1 AND version = ?2",
        rusqlite::params![id, version as i64],
        |r| r.get(0),
    )
    .unwrap()
}

/// Runs `check` on `vault`, demands exit 4, returns standard output.
fn check_finds_damage(v: &TestVault, vault: &Path) -> String {
    let out = v.run_on(vault, &["check"]);
    expect_code(&out, &["check"], 4);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("INTEGRITY VIOLATIONS FOUND"),
        "no verdict:\n{stdout}"
    );
    stdout
}

/// The `DAMAGED` lines of a check report.
fn damaged(report: &str) -> Vec<&str> {
    report
        .lines()
        .filter(|l| l.starts_with("DAMAGED"))
        .collect()
}

/// The event position of the first `DAMAGED` line that names one.
fn first_bad_position(report: &str) -> Option<u64> {
    damaged(report).iter().find_map(|line| {
        let place = line.trim_start_matches("DAMAGED").trim_start();
        let place = place.split(": ").next()?;
        let at = place.find("event ")?;
        place[at + 6..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    })
}

/// Asserts the report names `record` on some `DAMAGED` line.
fn assert_names(report: &str, record: &str) {
    assert!(
        damaged(report).iter().any(|l| l.contains(record)),
        "record {record} is not named:\n{report}"
    );
}

// ---------------------------------------------------------------- log

#[test]
fn log_shows_create_view_amend_seal_in_order_with_the_acting_user() {
    let (v, second) = TestVault::with_two_users();
    v.ok(&["case", "new", KZ, "--title", KZ_TITLE]);
    let fr = add_statement(&v, FR_WITNESS, FR_BODY);
    v.ok_as(&second, &["--user", SECOND, "statement", "show", &fr]);
    let amended = write_file(&v, "amended.txt", FR_AMENDED);
    v.ok(&[
        "statement",
        "amend",
        &fr,
        "--reason",
        "Date corrigée",
        "--file",
        arg(&amended),
    ]);
    v.ok(&["statement", "seal", &fr]);

    let events = log_json(&v, Some(&fr));
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["event"]["action"].as_str().unwrap(),
                e["event"]["user"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("create", OWNER),
            ("view", SECOND),
            ("amend", OWNER),
            ("seal", OWNER)
        ]
    );
    assert!(events.iter().all(|e| e["signature_valid"] == json!(true)));

    let text = v.ok(&["log", &fr]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for (line, (action, user)) in lines.iter().zip(&seen) {
        assert!(
            line.contains(action) && line.contains(user) && line.contains(&fr[..12]),
            "{line}"
        );
        assert!(!line.contains("SIGNATURE INVALID"), "{line}");
    }
    assert!(lines[2].contains("Date corrigée"), "{}", lines[2]);
}

#[test]
fn log_json_parses_into_signed_chained_events() {
    let s = scene();
    let events = log_json(&s.v, None);
    let genesis = "0".repeat(64);
    let mut links = std::collections::BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        let event = &e["event"];
        assert_eq!(e["signature_valid"], json!(true), "{e}");
        assert_eq!(event["type"].as_str(), Some("custodia.event.v1"));
        assert_eq!(event["position"].as_u64(), Some(i as u64 + 1));
        assert_eq!(event["user"].as_str(), Some(OWNER));
        // The vault's and the users' events name the vault's or the user's
        // id, of the same form as a record's.
        assert!(is_record_id(event["record"].as_str().unwrap()), "{event}");
        assert_eq!(event["prev"].as_str().unwrap().len(), 64, "{event}");
        if i == 0 {
            assert_eq!(event["prev"].as_str(), Some(genesis.as_str()));
        } else {
            assert_ne!(event["prev"].as_str(), Some(genesis.as_str()));
        }
        assert!(
            links.insert(event["prev"].as_str().unwrap().to_owned()),
            "two events link to the same predecessor: {event}"
        );
    }
    // One record's log is the subsequence of the vault's log for it.
    let fr_events = log_json(&s.v, Some(&s.fr[..6]));
    let from_all: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"]["record"].as_str() == Some(s.fr.as_str()))
        .collect();
    assert_eq!(fr_events.iter().collect::<Vec<_>>(), from_all);
}

/// Sealed events are padded: their sizes in the file do not tell a view
/// from a creation, an amendment or a user's addition.
#[test]
fn every_sealed_event_has_the_same_size() {
    let s = scene();
    let conn = Connection::open(&s.v.path).unwrap();
    let sizes: Vec<(u64, usize)> = (1..=BEFORE_SCENE + 8)
        .map(|position| (position, event_blob(&conn, position).len()))
        .collect();
    assert!(sizes.iter().all(|(_, n)| *n == sizes[0].1), "{sizes:?}");
}

#[test]
fn statement_show_appends_a_view_event() {
    let s = scene();
    let before = log_json(&s.v, None).len();
    s.v.ok(&["statement", "show", &s.fr, "--version", "1"]);
    let events = log_json(&s.v, None);
    assert_eq!(events.len(), before + 1);
    let last = &events[before]["event"];
    assert_eq!(last["action"].as_str(), Some("view"));
    assert_eq!(last["record"].as_str(), Some(s.fr.as_str()));
    assert_eq!(last["user"].as_str(), Some(OWNER));
    assert_eq!(last["details"]["version"].as_u64(), Some(1));
}

#[test]
fn evidence_extract_appends_an_extract_event_with_the_sha256() {
    let s = scene();
    let target = s.v.file("extrait.mp4");
    s.v.ok(&["evidence", "extract", &s.ev, "--out", arg(&target)]);
    assert!(std::fs::read(&target).unwrap() == s.ev_bytes);
    let events = log_json(&s.v, Some(&s.ev));
    let last = &events.last().unwrap()["event"];
    assert_eq!(last["action"].as_str(), Some("extract"));
    assert_eq!(last["user"].as_str(), Some(OWNER));
    assert_eq!(
        last["details"]["sha256"].as_str(),
        Some(sha256_hex(&s.ev_bytes).as_str())
    );
    assert_eq!(
        last["details"]["size"].as_u64(),
        Some(s.ev_bytes.len() as u64)
    );
}

// ---------------------------------------------------------------- check

#[test]
fn check_exits_0_on_a_clean_vault() {
    let s = scene();
    let out = s.v.run(&["check"]);
    let stdout = expect_success(&out, &["check"]);
    assert!(damaged(&stdout).is_empty(), "{stdout}");
    assert!(stdout.starts_with("OK: 4 records"), "{stdout}");
    assert!(
        stdout.contains(&format!("{} custody events verified", BEFORE_SCENE + 8)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} evidence bytes", s.ev_bytes.len())),
        "{stdout}"
    );
    let json = parse_json(&s.v.ok(&["check", "--json"]));
    assert_eq!(json["clean"], json!(true), "{json}");
}

#[test]
fn a_flipped_byte_in_a_statement_body_is_reported_naming_the_statement() {
    let s = scene();
    let copy = tampered(&s.v, "body.custodia", |c| {
        flip_byte(
            c,
            "record_versions",
            "body",
            &format!("record_id = '{}' AND version = 1", s.ru),
        );
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_names(&report, &s.ru);
    for line in damaged(&report) {
        assert!(line.contains(&s.ru), "another record blamed: {line}");
    }
}

#[test]
fn a_flipped_byte_in_an_evidence_chunk_is_reported_naming_the_item() {
    let s = scene();
    let copy = tampered(&s.v, "chunk.custodia", |c| {
        flip_byte(
            c,
            "evidence_chunks",
            "data",
            &format!("record_id = '{}' AND chunk_index = 1", s.ev),
        );
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_names(&report, &s.ev);
    assert!(report.contains("chunk 1"), "{report}");
    for line in damaged(&report) {
        assert!(line.contains(&s.ev), "another record blamed: {line}");
    }
}

#[test]
fn a_flipped_byte_in_a_custody_event_is_reported_with_its_position_and_record() {
    let s = scene();
    // The creation of `ru`, which has a later event (its view, the last).
    let created = BEFORE_SCENE + 3;
    let copy = tampered(&s.v, "event.custodia", |c| {
        flip_byte(c, "events", "sealed", &format!("position = {created}"));
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_eq!(first_bad_position(&report), Some(created), "{report}");
    assert_names(&report, &s.ru);
    // The record's own line points at the event it lost, not at the next
    // readable one (its view, BEFORE_SCENE + 8).
    let ru_line = damaged(&report)
        .into_iter()
        .find(|l| l.contains(&s.ru))
        .unwrap_or_else(|| panic!("no line names {}:\n{report}", s.ru));
    assert!(
        ru_line.contains(&format!("probably {created}")),
        "{ru_line}"
    );
}

#[test]
fn two_statement_bodies_swapped_between_rows_are_both_reported() {
    let s = scene();
    let copy = tampered(&s.v, "swap-bodies.custodia", |c| {
        let fr = body_blob(c, &s.fr, 1);
        let ru = body_blob(c, &s.ru, 1);
        for (id, blob) in [(&s.fr, &ru), (&s.ru, &fr)] {
            c.execute(
                "UPDATE record_versions SET body = ?1 WHERE record_id = ?2 AND version = 1",
                rusqlite::params![blob, id],
            )
            .unwrap();
        }
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_names(&report, &s.fr);
    assert_names(&report, &s.ru);
}

#[test]
fn a_deleted_event_in_the_middle_is_reported_with_its_position_and_record() {
    let s = scene();
    // A view of `fr`, followed by its amendment and seal.
    let view = BEFORE_SCENE + 5;
    let copy = tampered(&s.v, "delete-middle.custodia", |c| {
        assert_eq!(
            c.execute("DELETE FROM events WHERE position = ?1", [view as i64])
                .unwrap(),
            1
        );
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_eq!(first_bad_position(&report), Some(view), "{report}");
    assert!(report.contains("missing"), "{report}");
    assert_names(&report, &s.fr);
}

#[test]
fn a_deleted_last_event_of_the_vault_is_reported_naming_its_record() {
    let s = scene();
    // The view of `ru` (BEFORE_SCENE + 8) is both `ru`'s last event and
    // the vault's: no gap in positions and no broken link is left behind,
    // only the vault's sealed state knows the log and `ru`'s chain had one
    // more event.
    let copy = tampered(&s.v, "delete-last.custodia", |c| {
        assert_eq!(
            c.execute(
                "DELETE FROM events WHERE position = ?1",
                [(BEFORE_SCENE + 8) as i64]
            )
            .unwrap(),
            1
        );
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_names(&report, &s.ru);
    assert!(report.contains("removed"), "{report}");
}

#[test]
fn two_events_swapped_are_reported_as_a_reordering_at_the_first_position() {
    let s = scene();
    // The view of `fr` and its amendment change places.
    let (view, amend) = (BEFORE_SCENE + 5, BEFORE_SCENE + 6);
    let copy = tampered(&s.v, "reorder.custodia", |c| {
        let viewed = event_blob(c, view);
        let amended = event_blob(c, amend);
        set_event_blob(c, view, &amended);
        set_event_blob(c, amend, &viewed);
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_eq!(first_bad_position(&report), Some(view), "{report}");
    assert_names(&report, &s.fr);
}

/// A copied event does not open at another position (its position is part
/// of its sealing), so `check` reports the position of the duplicate. It
/// cannot name the record: the row's contents cannot be read where it is.
#[test]
fn a_duplicated_event_is_reported_at_its_position() {
    let s = scene();
    let last = BEFORE_SCENE + 8;
    let copy = tampered(&s.v, "duplicate.custodia", |c| {
        // The creation of `fr`, copied after the last event.
        let fr_created = event_blob(c, BEFORE_SCENE + 2);
        c.execute(
            "INSERT INTO events (position, sealed) VALUES (?1, ?2)",
            rusqlite::params![(last + 1) as i64, fr_created],
        )
        .unwrap();
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_eq!(first_bad_position(&report), Some(last + 1), "{report}");
    // Nothing before it is blamed.
    assert!(!report.contains(&format!("event {last}")), "{report}");
}

/// An event made in a copy of the vault (by a real user, with her real key)
/// and spliced into the original as its last row: it is validly sealed and
/// signed, but the original's sealed vault state (the log's head and the
/// record's chain) does not know it.
#[test]
fn an_event_spliced_in_from_a_copy_of_the_vault_is_reported_naming_its_record() {
    let s = scene();
    let fork = s.v.copy_vault("fork.custodia");
    let args = [
        "--vault",
        arg(&fork),
        "--passphrase-file",
        arg(&s.second),
        "--user",
        SECOND,
        "statement",
        "show",
        &s.ru,
    ];
    expect_success(&common::run_command(s.v.bare_command().args(args)), &args);
    let next = BEFORE_SCENE + 9;
    let spliced = {
        let conn = Connection::open(&fork).unwrap();
        event_blob(&conn, next)
    };
    let copy = tampered(&s.v, "spliced.custodia", |c| {
        c.execute(
            "INSERT INTO events (position, sealed) VALUES (?1, ?2)",
            rusqlite::params![next as i64, spliced],
        )
        .unwrap();
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_names(&report, &s.ru);
}

/// Which key id a forged event claims to be signed with.
#[derive(Clone, Copy)]
enum ClaimedKey {
    /// The owner's key id (the signature then cannot verify).
    Owners,
    /// The real signer's own key id.
    Signers,
}

/// Forgery by an insider: Amina, a real user of the vault, unlocks it with
/// her own passphrase through the library (a modified client) and appends
/// a view of `record` in the OWNER's name, signed with HER key, sealed,
/// padded and chained exactly as custodia would (vault chain, record chain),
/// with the sealed vault state moved past it. No outsider can forge events
/// at all (they are sealed with the vault's key), and through the binary
/// Amina can only act in her own name, so this is the forgery that can
/// honestly be built. Returns the new event's position.
fn forge_event_in_owners_name(vault: &Path, record: &str, claimed: ClaimedKey) -> u64 {
    use custodia::crypto::aead::seal_bytes;
    use custodia::crypto::signing::UserSigningKey;
    use custodia::custody::state::event_hash;
    use custodia::custody::{Action, Event, SignedEvent, EVENT_SIZE_CLASS, EVENT_TYPE};
    use custodia::format::Binding;
    use custodia::formats::minisign::PublicKey;
    use custodia::store::records as rows;

    // The owner's key id, as found on any of the owner's events.
    let owner_key_id = {
        let mut v = custodia::Vault::open(vault)
            .unwrap()
            .unlock(Some(SECOND), SECOND_PASS)
            .unwrap();
        let events = v.log(None).unwrap().entries;
        events
            .iter()
            .find(|entry| entry.event.user == OWNER)
            .map(|entry| entry.event.key_id.clone())
            .unwrap()
    };
    let mut amina = custodia::Vault::open(vault)
        .unwrap()
        .unlock(Some(SECOND), SECOND_PASS)
        .unwrap();
    let key = UserSigningKey::from_secret(&amina.signing_key().secret()[..]).unwrap();
    let key_id = match claimed {
        ClaimedKey::Owners => owner_key_id,
        ClaimedKey::Signers => PublicKey::new(key.verifying_key()).key_id_hex(),
    };
    amina
        .write(|tx, session| {
            let mut loaded = session.state(tx)?;
            let log = loaded.state.log.clone();
            let chain = loaded.state.chain(record).cloned().unwrap();
            let prev_record = event_hash(tx, &session.vault_id, &session.keys.events, chain.last)?;
            let position = log.count + 1;
            let event = Event {
                event_type: EVENT_TYPE.to_owned(),
                vault: session.vault_id.to_hex(),
                position,
                record: record.to_owned(),
                record_kind: chain.kind.clone(),
                record_position: chain.events + 1,
                action: Action::View,
                user: OWNER.to_owned(),
                key_id,
                time: custodia::custody::now_utc(),
                details: json!({ "version": 1 }),
                prev: log.hash,
                prev_record,
            };
            let canonical = serde_json::to_string(&event).unwrap();
            let signature = base64::engine::general_purpose::STANDARD
                .encode(key.sign(canonical.as_bytes()).to_bytes());
            let signed = SignedEvent {
                canonical,
                signature,
            };
            // Padded like every event, so that its size gives nothing away.
            let mut padded = serde_json::to_vec(&signed).unwrap();
            padded.resize(
                padded.len().div_ceil(EVENT_SIZE_CLASS) * EVENT_SIZE_CLASS,
                b' ',
            );
            let pos = position.to_string();
            let event_binding = Binding {
                vault_id: &session.vault_id,
                kind: "event",
                record: &pos,
                version: 1,
                field: "event",
            };
            rows::insert_event(
                tx,
                position,
                &seal_bytes(&session.keys.events, &event_binding, &padded)?,
            )?;
            // A forger with the keys keeps the sealed vault state in step
            // too: the write seals and stores it before committing.
            loaded.state.apply(&event, &signed.hash()).unwrap();
            loaded.dirty = true;
            Ok(position)
        })
        .unwrap()
}

#[test]
fn an_event_claiming_the_owners_key_but_signed_by_another_user_is_reported_as_forged() {
    let s = scene();
    let copy = s.v.copy_vault("forged-owner-key.custodia");
    let position = forge_event_in_owners_name(&copy, &s.ru, ClaimedKey::Owners);
    assert_eq!(position, BEFORE_SCENE + 9);
    let report = check_finds_damage(&s.v, &copy);
    assert_eq!(first_bad_position(&report), Some(position), "{report}");
    assert_names(&report, &s.ru);
    assert!(report.contains("forged"), "{report}");
}

#[test]
fn an_event_in_one_users_name_signed_with_another_users_key_is_reported_as_forged() {
    let s = scene();
    let copy = s.v.copy_vault("forged-own-key.custodia");
    let position = forge_event_in_owners_name(&copy, &s.ru, ClaimedKey::Signers);
    assert_eq!(position, BEFORE_SCENE + 9);
    let report = check_finds_damage(&s.v, &copy);
    assert_eq!(first_bad_position(&report), Some(position), "{report}");
    assert_names(&report, &s.ru);
    // `log` must not attribute the view to the owner with a valid signature.
    // With --json it still prints the whole document, and exits 4.
    let out = s.v.run_on(&copy, &["log", &s.ru, "--json"]);
    expect_code(&out, &["log", "--json"], 4);
    let events = parse_json(&String::from_utf8_lossy(&out.stdout));
    let forged = events.as_array().unwrap().last().unwrap().clone();
    assert!(
        forged["event"]["user"] != json!(OWNER) || forged["signature_valid"] != json!(true),
        "log shows the forged event as a valid view by {OWNER}: {forged}"
    );
    expect_code(&s.v.run_on(&copy, &["log", &s.ru]), &["log"], 4);
}

#[test]
fn damage_to_one_statement_leaves_the_others_readable() {
    let s = scene();
    let copy = tampered(&s.v, "one-damaged.custodia", |c| {
        flip_byte(
            c,
            "record_versions",
            "body",
            &format!("record_id = '{}' AND version = 1", s.ru),
        );
    });
    let shown = parse_json(&s.v.ok_on(&copy, &["statement", "show", &s.fr, "--json"]));
    assert_eq!(shown["body"].as_str(), Some(FR_AMENDED));
    let shown = parse_json(&s.v.ok_on(
        &copy,
        &["statement", "show", &s.fr, "--version", "1", "--json"],
    ));
    assert_eq!(shown["body"].as_str(), Some(FR_BODY));
    let target = s.v.file("extrait.mp4");
    s.v.ok_on(
        &copy,
        &["evidence", "extract", &s.ev, "--out", arg(&target)],
    );
    assert!(std::fs::read(&target).unwrap() == s.ev_bytes);
    // The damaged one is refused with an integrity error naming it.
    let out = s.v.run_on(&copy, &["statement", "show", &s.ru]);
    let stderr = expect_code(&out, &["statement", "show"], 4);
    assert!(stderr.contains(&s.ru), "{stderr}");
}

#[test]
fn statement_list_still_lists_the_others_when_one_overview_is_damaged() {
    let s = scene();
    let copy = tampered(&s.v, "overview.custodia", |c| {
        flip_byte(
            c,
            "record_versions",
            "overview",
            &format!("record_id = '{}' AND version = 1", s.ru),
        );
    });
    let out = s.v.run_on(&copy, &["statement", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(4) && stdout.contains(&s.fr[..12]) && stdout.contains(FR_WITNESS),
        "the undamaged statement is not listed (exit {:?}):\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn search_still_finds_the_others_when_one_statements_search_text_is_damaged() {
    let s = scene();
    let copy = tampered(&s.v, "search.custodia", |c| {
        flip_byte(
            c,
            "search_texts",
            "sealed",
            &format!("record_id = '{}'", s.ru),
        );
    });
    let out = s.v.run_on(&copy, &["search", "petropavl", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The others are shown; the damage found makes it exit 4.
    assert!(
        out.status.code() == Some(4) && stdout.contains(&s.fr),
        "the undamaged statement is not found (exit {:?}):\n{stdout}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn check_keeps_going_past_damage_and_names_every_damaged_record() {
    let s = scene();
    let copy = tampered(&s.v, "two-damaged.custodia", |c| {
        flip_byte(
            c,
            "record_versions",
            "body",
            &format!("record_id = '{}' AND version = 1", s.fr),
        );
        flip_byte(
            c,
            "evidence_chunks",
            "data",
            &format!("record_id = '{}' AND chunk_index = 2", s.ev),
        );
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_names(&report, &s.fr);
    assert_names(&report, &s.ev);
    assert!(
        !damaged(&report).iter().any(|l| l.contains(&s.ru)),
        "{report}"
    );
    assert!(report.contains("2 problem(s)"), "{report}");
}

// ---------------------------------------------------------------- checkpoints

/// `checkpoint`'s receipt: one line on standard output.
fn receipt(v: &TestVault, vault: &Path) -> String {
    let out = v.ok_on(vault, &["checkpoint"]);
    let receipt = out.trim().to_owned();
    assert!(
        receipt.starts_with("custodia-checkpoint:1:") && !receipt.contains('\n'),
        "{out:?}"
    );
    receipt
}

#[test]
fn a_rolled_back_copy_does_not_extend_a_later_receipt() {
    let s = scene();
    let old = s.v.copy_vault("old.custodia");
    let ar = add_statement(&s.v, AR_WITNESS, AR_BODY);
    s.v.ok(&["statement", "show", &ar]);
    let later = receipt(&s.v, &s.v.path);

    let out = s.v.run_on(&old, &["check", "--expect-checkpoint", &later]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    expect_code(&out, &["check", "--expect-checkpoint"], 4);
    assert!(stdout.contains("rolled-back"), "{stdout}");

    s.v.ok(&["check", "--expect-checkpoint", &later]);
}

/// Someone holding an older copy of the file can cut the tail off the log
/// and put back the vault's sealed state from that copy: what is left is a
/// consistent earlier history, which `check` alone cannot tell from the
/// real one (by design; SPEC §4). A receipt taken before does tell.
#[test]
fn a_truncated_log_with_a_replayed_chain_head_is_caught_by_a_receipt() {
    let s = scene();
    let old = s.v.copy_vault("old.custodia");
    // The next event: someone reads the Russian statement; the receipt
    // records it.
    let read = BEFORE_SCENE + 9;
    s.v.ok(&["statement", "show", &s.ru]);
    let later = receipt(&s.v, &s.v.path);
    // The vault's sealed state (the log's head and every chain) is replayed
    // from the old copy: a consistent, shorter history that only a receipt
    // betrays.
    let old_conn = Connection::open(&old).unwrap();
    let old_state: Vec<u8> = old_conn
        .query_row(
            "SELECT state FROM vault_state WHERE singleton = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // (and its shards, which the head lists by digest)
    let old_shards: Vec<(String, Vec<u8>)> = old_conn
        .prepare("SELECT shard, sealed FROM vault_state_shards")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(old_conn);
    let copy = tampered(&s.v, "truncated.custodia", |c| {
        c.execute("DELETE FROM vault_state_shards", []).unwrap();
        for (name, sealed) in &old_shards {
            c.execute(
                "INSERT INTO vault_state_shards (shard, sealed) VALUES (?1, ?2)",
                rusqlite::params![name, sealed],
            )
            .unwrap();
        }
        assert_eq!(
            c.execute("DELETE FROM events WHERE position = ?1", [read as i64])
                .unwrap(),
            1
        );
        assert_eq!(
            c.execute(
                "UPDATE vault_state SET state = ?1 WHERE singleton = 1",
                [&old_state],
            )
            .unwrap(),
            1
        );
    });
    s.v.ok_on(&copy, &["check"]);
    let out = s.v.run_on(&copy, &["check", "--expect-checkpoint", &later]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    expect_code(&out, &["check", "--expect-checkpoint"], 4);
    assert!(stdout.contains("rolled-back"), "{stdout}");
}

#[test]
fn one_shard_of_the_state_put_back_or_deleted_is_refused() {
    let s = scene();
    let old = s.v.copy_vault("old.custodia");
    // A view moves the Russian statement's chain, so its shard changes.
    s.v.ok(&["statement", "show", &s.ru]);
    let shard = s.ru[..2].to_owned();
    let old_row: Vec<u8> = Connection::open(&old)
        .unwrap()
        .query_row(
            "SELECT sealed FROM vault_state_shards WHERE shard = ?1",
            [&shard],
            |r| r.get(0),
        )
        .unwrap();
    let put_back = tampered(&s.v, "shard-put-back.custodia", |c| {
        let n = c
            .execute(
                "UPDATE vault_state_shards SET sealed = ?1 WHERE shard = ?2",
                rusqlite::params![old_row, shard],
            )
            .unwrap();
        assert_eq!(n, 1);
    });
    let deleted = tampered(&s.v, "shard-deleted.custodia", |c| {
        c.execute("DELETE FROM vault_state_shards WHERE shard = ?1", [&shard])
            .unwrap();
    });
    for copy in [put_back, deleted] {
        let report = check_finds_damage(&s.v, &copy);
        assert!(
            report.contains("the vault's sealed state does not authenticate"),
            "{report}"
        );
    }
}

#[test]
fn events_cut_from_the_end_of_the_log_are_caught_by_its_sealed_head() {
    let s = scene();
    // The next event reads `ru` again; it is cut from the log, while the
    // vault's sealed state still counts it.
    let read = BEFORE_SCENE + 9;
    s.v.ok(&["statement", "show", &s.ru]);
    let copy = tampered(&s.v, "cut.custodia", |c| {
        assert_eq!(
            c.execute("DELETE FROM events WHERE position = ?1", [read as i64])
                .unwrap(),
            1
        );
    });
    let report = check_finds_damage(&s.v, &copy);
    assert!(
        report.contains(&format!(
            "the custody log has {} events but the vault's sealed state says {read}: \
             events were removed from its end",
            read - 1
        )),
        "{report}"
    );
    assert_eq!(first_bad_position(&report), Some(read), "{report}");
}

#[test]
fn one_damaged_event_leaves_the_other_records_usable() {
    let s = scene();
    // The vault's last event is `ru`'s; `fr` has nothing to do with it.
    let last = BEFORE_SCENE + 8;
    let copy = tampered(&s.v, "last-event.custodia", |c| {
        flip_byte(c, "events", "sealed", &format!("position = {last}"));
    });
    let shown = parse_json(&s.v.ok_on(&copy, &["statement", "show", &s.fr, "--json"]));
    assert_eq!(shown["body"], FR_AMENDED);
    let out = s.v.file("fr-extract.bin");
    s.v.ok_on(&copy, &["evidence", "extract", &s.ev, "--out", arg(&out)]);
    assert_eq!(std::fs::read(&out).unwrap(), s.ev_bytes);
    // `log fr` still shows fr's events, and says the log has a hole.
    let out = s.v.run_on(&copy, &["log", &s.fr]);
    let stderr = expect_code(&out, &["log"], 4);
    assert!(
        stderr.contains(&format!("{last} cannot be read")),
        "{stderr}"
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.lines().any(|l| l.contains(" amend ")), "{shown}");
    let report = check_finds_damage(&s.v, &copy);
    assert_eq!(first_bad_position(&report), Some(last), "{report}");
}

#[test]
fn a_vault_extends_an_earlier_receipt_of_itself() {
    let s = scene();
    let earlier = receipt(&s.v, &s.v.path);
    add_statement(&s.v, AR_WITNESS, AR_BODY);
    let out = s.v.ok(&["check", "--expect-checkpoint", &earlier]);
    assert!(out.contains("OK"), "{out}");
}

#[test]
fn a_receipt_from_another_vault_is_refused() {
    let s = scene();
    let other = TestVault::new();
    other.ok(&["case", "new", KZ, "--title", KZ_TITLE]);
    let foreign = receipt(&other, &other.path);
    let out = s.v.run(&["check", "--expect-checkpoint", &foreign]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    expect_code(&out, &["check", "--expect-checkpoint"], 4);
    assert!(stdout.contains("not this vault"), "{stdout}");
}

// ---------------------------------------------------------------- local state

#[test]
fn opening_a_copy_behind_the_local_state_warns_rolled_back_or_replaced() {
    let s = scene();
    let old = s.v.copy_vault("old.custodia");
    add_statement(&s.v, AR_WITNESS, AR_BODY);
    // The up-to-date vault opens without a warning.
    let out = s.v.run(&["statement", "list"]);
    expect_success(&out, &["statement", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("rolled-back"), "{stderr}");
    // The old copy is behind what this computer last saw.
    let out = s.v.run_on(&old, &["statement", "list"]);
    expect_success(&out, &["statement", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rolled-back or replaced"), "{stderr}");
}

#[test]
fn the_rollback_warning_is_repeated_on_the_next_command() {
    let s = scene();
    let old = s.v.copy_vault("old.custodia");
    add_statement(&s.v, AR_WITNESS, AR_BODY);
    for attempt in 1..=2 {
        let out = s.v.run_on(&old, &["statement", "list"]);
        expect_success(&out, &["statement", "list"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("rolled-back or replaced"),
            "no warning on command {attempt}: {stderr}"
        );
    }
}

#[test]
fn a_record_deleted_with_all_its_rows_is_reported() {
    // Its events stay in the vault's chain, which is how `check` knows it
    // existed.
    let s = scene();
    let copy = tampered(&s.v, "deleted-record.custodia", |c| {
        for table in [
            "record_seals",
            "record_versions",
            "imported_custody",
            "search_texts",
            "records",
        ] {
            c.execute(
                &format!("DELETE FROM {table} WHERE record_id = ?1"),
                [&s.ru],
            )
            .unwrap();
        }
    });
    let report = check_finds_damage(&s.v, &copy);
    assert_names(&report, &s.ru);
    assert!(report.contains("deleted"), "{report}");
}

#[test]
fn events_signed_by_a_user_after_their_removal_fail_check() {
    // A removed user kept a copy of the vault from before their removal:
    // their passphrase still opens it, so they add testimony there and,
    // with the keys that copy gives them (a modified client), splice it
    // into the live vault: the statement's rows from the copy, and its
    // creation event appended in their own name, signed with their own key,
    // sealed and chained exactly as custodia would, with the vault's sealed
    // state moved past it. Everything fits, but their key was retired at
    // the position of their removal.
    let (v, second_pass) = TestVault::with_two_users();
    v.ok(&["case", "new", KZ, "--title", KZ_TITLE]);
    let old_copy = v.copy_vault("before-removal.custodia");
    v.ok(&["user", "remove", SECOND]);
    expect_code(&v.run(&["check"]), &["check"], 0);
    let removal = BEFORE_SCENE + 2;
    let removed = log_json(&v, None).last().unwrap()["event"].clone();
    assert_eq!(removed["action"], "user-remove", "{removed}");
    assert_eq!(removed["position"].as_u64(), Some(removal), "{removed}");

    let body = v.file("forged.txt");
    std::fs::write(&body, FR_BODY).unwrap();
    let mut cmd = v.bare_command();
    cmd.arg("--vault")
        .arg(&old_copy)
        .arg("--passphrase-file")
        .arg(&second_pass)
        .arg("--user")
        .arg(SECOND)
        .args([
            "statement",
            "add",
            "--case",
            KZ,
            "--witness",
            FR_WITNESS,
            "--file",
        ])
        .arg(&body);
    let out = common::run_command(&mut cmd);
    let id = expect_success(&out, &["statement", "add (old copy)"])
        .trim()
        .to_owned();
    assert!(is_record_id(&id), "{id}");

    let mut conn = Connection::open(&v.path).unwrap();
    conn.execute("ATTACH DATABASE ?1 AS old", [old_copy.to_str().unwrap()])
        .unwrap();
    for table in ["records", "record_versions", "search_texts"] {
        conn.execute(
            &format!("INSERT INTO main.{table} SELECT * FROM old.{table} WHERE record_id = ?1"),
            [&id],
        )
        .unwrap();
    }
    conn.execute("DETACH DATABASE old", []).unwrap();

    let mut amina = custodia::Vault::open(&old_copy)
        .unwrap()
        .unlock(Some(SECOND), SECOND_PASS)
        .unwrap();
    let created = amina.log(Some(&id)).unwrap().entries.remove(0).event;
    assert_eq!(created.action, custodia::custody::Action::Create);
    let session = custodia::vault::Session::new(amina.id(), amina.keys(), amina.user());
    let tx = conn.transaction().unwrap();
    let spliced = session
        .append(
            &tx,
            custodia::format::Kind::from_stored(&created.record_kind).unwrap(),
            &id.parse().unwrap(),
            created.action,
            created.details.clone(),
        )
        .unwrap();
    assert_eq!(spliced.position, removal + 1);
    {
        let mut loaded = session.state(&tx).unwrap();
        custodia::custody::state::save(&tx, &session.vault_id, &session.keys.events, &mut loaded)
            .unwrap();
    }
    tx.commit().unwrap();
    conn.close().unwrap();

    let report = check_finds_damage(&v, &v.path);
    let bad = damaged(&report);
    assert!(
        bad.iter().any(|l| l.contains(&id)
            && l.contains(&format!(
                "retired or whose user was removed at event {removal}"
            ))),
        "{report}"
    );
    assert_eq!(first_bad_position(&report), Some(removal + 1), "{report}");
    // Nothing else is wrong: it is the retired key alone that gives it away.
    assert_eq!(bad.len(), 1, "{report}");
}

/// `export --case KZ --no-encrypt` on `vault`: must exit 4 naming `needle`
/// and write nothing.
fn export_is_refused(s: &Scene, vault: &Path, needle: &str) {
    let out_file = s.v.file("refused.tar");
    let out = s.v.run_on(
        vault,
        &[
            "export",
            "--case",
            KZ,
            "--no-encrypt",
            "--out",
            arg(&out_file),
        ],
    );
    let stderr = expect_code(&out, &["export"], 4);
    assert!(stderr.contains(needle), "{stderr}");
    assert!(stderr.contains("nothing was exported"), "{stderr}");
    assert!(!out_file.exists(), "a bundle was written");
}

#[test]
fn export_refuses_a_case_whose_custody_holds_a_forged_event() {
    let s = scene();
    let copy = s.v.copy_vault("forged-before-export.custodia");
    forge_event_in_owners_name(&copy, &s.ru, ClaimedKey::Signers);
    export_is_refused(&s, &copy, &s.ru[..12]);
}

#[test]
fn export_refuses_a_case_whose_custody_lost_an_event() {
    let s = scene();
    // The view of `fr`, in the middle of the case's custody.
    let view = BEFORE_SCENE + 5;
    let copy = tampered(&s.v, "deleted-before-export.custodia", |c| {
        assert_eq!(
            c.execute("DELETE FROM events WHERE position = ?1", [view as i64])
                .unwrap(),
            1
        );
    });
    // Export runs the whole check first and names its first problem.
    export_is_refused(&s, &copy, &format!("custody event {view} is missing"));
    // The untouched vault exports fine.
    let fine = s.v.file("fine.tar");
    s.v.ok(&["export", "--case", KZ, "--no-encrypt", "--out", arg(&fine)]);
}

#[test]
fn a_search_logs_one_search_event_not_a_view_per_hit() {
    let s = scene();
    let before = log_json(&s.v, Some(&s.ru)).len();
    let total = log_json(&s.v, None).len();
    let found = parse_json(&s.v.ok(&["search", "дезертир", "--json"]));
    let ids: Vec<&str> = found["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [s.ru.as_str()]);
    // The statement's own chain is untouched: showing a snippet is not
    // opening the record.
    assert_eq!(log_json(&s.v, Some(&s.ru)).len(), before);
    // One event for the whole search, on the vault's chain, with the
    // query, the ids shown and the count.
    let all = log_json(&s.v, None);
    assert_eq!(all.len(), total + 1);
    let last = &all.last().unwrap()["event"];
    assert_eq!(last["action"], "search");
    assert_eq!(last["record_kind"], "vault");
    assert_eq!(last["details"]["shown"], serde_json::json!([s.ru]));
    assert_eq!(last["details"]["statements"], 1);
    assert_eq!(last["details"]["query"], "дезертир");
    // Opening the hit is what logs a view.
    s.v.ok(&["statement", "show", &s.ru]);
    let after = log_json(&s.v, Some(&s.ru));
    assert_eq!(after.len(), before + 1);
    assert_eq!(after.last().unwrap()["event"]["action"], "view");
    // A search that finds nothing is logged too (what was looked for is
    // custody information), once.
    s.v.ok(&["search", "zzzzqqqq"]);
    assert_eq!(log_json(&s.v, None).len(), total + 3);
}

#[test]
fn a_deleted_log_head_keeps_the_vault_usable_but_never_clean_again() {
    let s = scene();
    // Cut the log's last event and delete the vault's sealed state (which
    // holds the log's head), hoping the next event rebuilds a state that
    // blesses the shorter log.
    let copy = tampered(&s.v, "no-head.custodia", |c| {
        assert_eq!(
            c.execute(
                "DELETE FROM events WHERE position = ?1",
                [(BEFORE_SCENE + 8) as i64]
            )
            .unwrap(),
            1
        );
        assert_eq!(
            c.execute("DELETE FROM vault_state WHERE singleton = 1", [])
                .unwrap(),
            1
        );
    });
    let report = check_finds_damage(&s.v, &copy);
    assert!(
        report.contains("the vault's sealed state is missing (removed)"),
        "{report}"
    );
    // Reading still works (and is logged)…
    let shown = parse_json(&s.v.ok_on(&copy, &["statement", "show", &s.fr, "--json"]));
    assert_eq!(shown["body"], FR_AMENDED);
    // …and the event written over the rebuilt head says so, for good.
    let report = check_finds_damage(&s.v, &copy);
    assert!(
        report.contains("written while the log's sealed head was missing"),
        "{report}"
    );
    // No receipt vouches for it, and no bundle carries it to a court.
    let out = s.v.run_on(&copy, &["checkpoint"]);
    let stderr = expect_code(&out, &["checkpoint"], 4);
    assert!(stderr.contains("missing or damaged"), "{stderr}");
    export_is_refused(&s, &copy, "missing or damaged");
}

#[test]
fn a_damaged_statement_of_another_case_does_not_block_this_cases_export() {
    let s = scene();
    s.v.ok(&["case", "new", "UA-2025-207", "--title", "Autre affaire"]);
    let other = add_statement_in(&s.v, "UA-2025-207", RU_WITNESS, RU_BODY);
    let copy = tampered(&s.v, "other-damaged.custodia", |c| {
        flip_byte(
            c,
            "record_versions",
            "overview",
            &format!("record_id = '{other}' AND version = 1"),
        );
    });
    let out_file = s.v.file("kz.tar");
    s.v.ok_on(
        &copy,
        &[
            "export",
            "--case",
            KZ,
            "--no-encrypt",
            "--out",
            arg(&out_file),
        ],
    );
    assert!(out_file.exists());
    // The other case cannot be exported whole.
    let other_out = s.v.file("ua.tar");
    let out = s.v.run_on(
        &copy,
        &[
            "export",
            "--case",
            "UA-2025-207",
            "--no-encrypt",
            "--out",
            arg(&other_out),
        ],
    );
    expect_code(&out, &["export (damaged case)"], 4);
}

#[test]
fn a_partial_export_is_refused_when_another_statement_of_the_case_is_unreadable() {
    // The damaged statement's witness may be protected and named in the
    // exported one's metadata: export cannot promise to keep them out.
    let s = scene();
    let copy = tampered(&s.v, "ru-overview.custodia", |c| {
        flip_byte(
            c,
            "record_versions",
            "overview",
            &format!("record_id = '{}' AND version = 1", s.ru),
        );
    });
    let out_file = s.v.file("fr-only.tar");
    let out = s.v.run_on(
        &copy,
        &[
            "export",
            "--case",
            KZ,
            "--statement",
            &s.fr,
            "--no-encrypt",
            "--out",
            arg(&out_file),
        ],
    );
    let stderr = expect_code(&out, &["export --statement"], 4);
    assert!(
        stderr.contains(&s.ru[..12]) || stderr.contains(&s.ru),
        "{stderr}"
    );
    assert!(!out_file.exists());
}
