//! Records end to end through the real binary (issue 3, SPEC §3, §6, §7):
//! cases, append-only witness statements (add, import, amend, seal),
//! streamed evidence with SHA-256 fingerprints, id prefixes, search in any
//! script, and what a crash, a second process or a look at the raw file
//! can and cannot do to them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{arg, expect_code, find_any, is_record_id, parse_json, sha256_hex, TestVault};
use serde_json::Value;

// ---------------------------------------------------------------- testimony

/// The case of a Russian deserter who fled to Kazakhstan.
const KZ: &str = "KZ-2026-014";
const KZ_TITLE: &str = "Évgueni K. — déserteur, demande d'asile refusée (CNDA)";
/// A Ukrainian case.
const UA: &str = "UA-2025-207";
const UA_TITLE: &str = "Обстріл села Кам'янка, березень 2025";
/// A Syrian case.
const SY: &str = "SY-2024-031";
const SY_TITLE: &str = "شهادات لاجئين من حلب";

const FR_WITNESS: &str = "Évgueni Kouznetsov";
const FR_PLACE: &str = "Café Chokolad, Astana";
const FR_BODY: &str = "Je m’appelle Évgueni. J’ai déserté en septembre 2022 et je suis \
parti au Kazakhstan. « Je refuse de tirer sur des civils », ai-je dit au commandant. \
Nous nous sommes retrouvés dans un café d’Astana ; là, j’ai raconté mon histoire à un \
journaliste. Aujourd’hui je suis réfugié, mais la cour a refusé ma demande d’asile.\n";

const RU_WITNESS: &str = "Жанна Сейткали";
const RU_PLACE: &str = "Алматы";
const RU_BODY: &str = "Он сказал мне прямо: «Я ДЕЗЕРТИР, и я не вернусь». \
Мы встретились в кафе в Астане, и он рассказал журналисту всё, что видел.\n";

const UK_WITNESS: &str = "Олена Петренко";
const UK_PLACE: &str = "Кам'янка, Харківська область";
const UK_BODY: &str = "Я бачила, як солдати увійшли до села вночі. Моя сусідка \
сховалася в погребі, а мій брат став дезертиром з їхньої армії.\n";

const AR_WITNESS: &str = "أحمد الحسن";
const AR_PLACE: &str = "حلب، سوريا";
/// With harakat (vowel marks) on شَهَادَةٌ, without on اللاجئين.
const AR_BODY: &str = "قال الشاهد: رأيتُ الجنودَ يدخلونَ القريةَ ليلاً. \
هذه شَهَادَةٌ مهمة عن اللاجئين في المخيم.\n";

// ---------------------------------------------------------------- helpers

/// Writes exactly `bytes` (no newline added) to `name` in the vault's dir.
fn write_file(v: &TestVault, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = v.file(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `case new REF --title T`; returns the printed id.
fn new_case(v: &TestVault, reference: &str, title: &str) -> String {
    let out = v.ok(&["case", "new", reference, "--title", title]);
    let id = out.trim_end_matches('\n');
    assert!(is_record_id(id), "case new printed {out:?}");
    id.to_owned()
}

/// `statement add --case CASE --witness W --file F` plus `extra`; returns
/// the printed id.
fn add_statement(v: &TestVault, case: &str, witness: &str, body: &str, extra: &[&str]) -> String {
    let name = format!("statement-{}.txt", sha256_hex(body.as_bytes()));
    let file = write_file(v, &name, body);
    let mut args = vec![
        "statement",
        "add",
        "--case",
        case,
        "--witness",
        witness,
        "--file",
        arg(&file),
    ];
    args.extend_from_slice(extra);
    let out = v.ok(&args);
    let id = out.trim_end_matches('\n');
    assert!(is_record_id(id), "statement add printed {out:?}");
    id.to_owned()
}

/// The four statements most tests use: French and Russian in KZ,
/// Ukrainian in UA, Arabic in SY. Returns (fr, ru, uk, ar) ids.
fn testimony(v: &TestVault) -> (String, String, String, String) {
    new_case(v, KZ, KZ_TITLE);
    new_case(v, UA, UA_TITLE);
    new_case(v, SY, SY_TITLE);
    let fr = add_statement(
        v,
        KZ,
        FR_WITNESS,
        FR_BODY,
        &[
            "--language",
            "fr",
            "--place",
            FR_PLACE,
            "--taken-at",
            "2026-03-14T10:30",
        ],
    );
    let ru = add_statement(v, KZ, RU_WITNESS, RU_BODY, &["--place", RU_PLACE]);
    let uk = add_statement(
        v,
        UA,
        UK_WITNESS,
        UK_BODY,
        &[
            "--pseudonym",
            "Свідок 3",
            "--protected",
            "--place",
            UK_PLACE,
        ],
    );
    let ar = add_statement(v, SY, AR_WITNESS, AR_BODY, &["--place", AR_PLACE]);
    (fr, ru, uk, ar)
}

/// `statement show ID --json` (plus `extra`), parsed.
fn show_json(v: &TestVault, id: &str, extra: &[&str]) -> Value {
    let mut args = vec!["statement", "show", id, "--json"];
    args.extend_from_slice(extra);
    parse_json(&v.ok(&args))
}

/// The ids of `statement list` (plus `extra`), from `--json`.
fn statement_ids(v: &TestVault, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["statement", "list", "--json"];
    args.extend_from_slice(extra);
    ids_of(&parse_json(&v.ok(&args)))
}

/// The ids of `evidence list`, from `--json`.
fn evidence_ids(v: &TestVault) -> Vec<String> {
    ids_of(&parse_json(&v.ok(&["evidence", "list", "--json"])))
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {list}"))
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_owned())
        .collect()
}

/// `search QUERY` (plus `extra`) with `--json`, parsed.
fn search(v: &TestVault, query: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["search", query, "--json"];
    args.extend_from_slice(extra);
    parse_json(&v.ok(&args))["statements"]
        .as_array()
        .unwrap()
        .clone()
}

/// The ids of the hits of `search QUERY` (plus `extra`).
fn search_ids(v: &TestVault, query: &str, extra: &[&str]) -> Vec<String> {
    search(v, query, extra)
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Deterministic pseudo-random bytes (xorshift64*), fast enough for MiBs.
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

/// Parses the `ID  SHA256  NAME` lines of `evidence add`.
fn evidence_lines(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .map(|line| {
            let parts: Vec<&str> = line.splitn(3, "  ").collect();
            assert_eq!(parts.len(), 3, "not `ID  SHA256  NAME`: {line:?}");
            (
                parts[0].to_owned(),
                parts[1].to_owned(),
                parts[2].to_owned(),
            )
        })
        .collect()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

// ---------------------------------------------------------------- cases

#[test]
fn case_new_prints_only_the_new_id() {
    let v = TestVault::new();
    let out = v.run(&["case", "new", KZ, "--title", KZ_TITLE]);
    let stdout = common::expect_success(&out, &["case", "new"]);
    assert_eq!(stdout.lines().count(), 1, "{stdout:?}");
    let id = stdout
        .strip_suffix('\n')
        .expect("one line ending in a newline");
    assert!(is_record_id(id), "{stdout:?}");
}

#[test]
fn a_duplicate_case_reference_is_refused() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let stderr = v.fails_with(&["case", "new", KZ, "--title", "Autre dossier"], 1);
    assert!(
        stderr.contains("already exists") && stderr.contains(KZ),
        "{stderr}"
    );
    // References are compared without regard to case.
    let lower = KZ.to_lowercase();
    let stderr = v.fails_with(&["case", "new", &lower, "--title", "Autre dossier"], 1);
    assert!(stderr.contains("already exists"), "{stderr}");
    let cases = parse_json(&v.ok(&["case", "list", "--json"]));
    assert_eq!(cases.as_array().unwrap().len(), 1, "{cases}");
    assert_eq!(cases[0]["title"].as_str(), Some(KZ_TITLE));
}

#[test]
fn case_list_shows_every_case_with_its_title() {
    let v = TestVault::new();
    let kz = new_case(&v, KZ, KZ_TITLE);
    let ua = new_case(&v, UA, UA_TITLE);
    let sy = new_case(&v, SY, SY_TITLE);
    let text = v.ok(&["case", "list"]);
    for (id, reference, title) in [
        (&kz, KZ, KZ_TITLE),
        (&ua, UA, UA_TITLE),
        (&sy, SY, SY_TITLE),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(reference))
            .unwrap_or_else(|| panic!("{reference} not listed:\n{text}"));
        assert!(
            line.starts_with(&id[..12]) && line.contains(title),
            "{line}"
        );
    }
    let json = parse_json(&v.ok(&["case", "list", "--json"]));
    let refs: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, [KZ, UA, SY]);
}

#[test]
fn case_show_gives_the_case_and_what_it_holds() {
    let v = TestVault::new();
    let (fr, ru, _uk, _ar) = testimony(&v);
    let text = v.ok(&["case", "show", KZ]);
    assert!(text.contains(KZ) && text.contains(KZ_TITLE), "{text}");
    assert!(text.contains("Statements   2"), "{text}");
    assert!(
        text.contains(&fr[..12]) && text.contains(&ru[..12]),
        "{text}"
    );
    assert!(
        text.contains(FR_WITNESS) && text.contains(RU_WITNESS),
        "{text}"
    );
    assert!(
        !text.contains(UK_WITNESS),
        "another case's statement: {text}"
    );
    let json = parse_json(&v.ok(&["case", "show", KZ, "--json"]));
    assert_eq!(json["case"]["title"].as_str(), Some(KZ_TITLE));
    assert_eq!(ids_of(&json["statements"]), [fr, ru]);
    // A reference is found whatever its letter case.
    let lower = v.ok(&["case", "show", &KZ.to_lowercase()]);
    assert!(lower.contains(KZ_TITLE), "{lower}");
}

// ---------------------------------------------------------------- statement add

#[test]
fn statement_add_from_a_file_prints_only_the_new_id() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let file = write_file(&v, "témoignage-évgueni.txt", FR_BODY);
    let args = [
        "statement",
        "add",
        "--case",
        KZ,
        "--witness",
        FR_WITNESS,
        "--language",
        "fr",
        "--place",
        FR_PLACE,
        "--file",
        arg(&file),
    ];
    let stdout = common::expect_success(&v.run(&args), &args);
    let id = stdout
        .strip_suffix('\n')
        .expect("a newline-terminated line");
    assert!(is_record_id(id), "{stdout:?}");
    let shown = show_json(&v, id, &[]);
    assert_eq!(shown["body"].as_str(), Some(FR_BODY));
    assert_eq!(shown["witness"].as_str(), Some(FR_WITNESS));
    assert_eq!(shown["place"].as_str(), Some(FR_PLACE));
    assert_eq!(shown["case_reference"].as_str(), Some(KZ));
    assert_eq!(shown["created_by"].as_str(), Some(common::OWNER));
}

#[test]
fn statement_add_from_stdin_prints_only_the_new_id() {
    let v = TestVault::new();
    new_case(&v, SY, SY_TITLE);
    let out = common::run_command(
        v.command()
            .args([
                "statement",
                "add",
                "--case",
                SY,
                "--witness",
                AR_WITNESS,
                "--language",
                "ar",
                "--stdin",
            ])
            .write_stdin(AR_BODY),
    );
    let stdout = common::expect_success(&out, &["statement", "add", "--stdin"]);
    let id = stdout
        .strip_suffix('\n')
        .expect("a newline-terminated line");
    assert!(is_record_id(id), "{stdout:?}");
    assert_eq!(show_json(&v, id, &[])["body"].as_str(), Some(AR_BODY));
}

/// Awkward but real text: a BOM, CRLF line endings, decomposed (NFD)
/// accents, guillemets, Cyrillic with ё/й/ї/ґ, Arabic with harakat and a
/// right-to-left mark, a tab, trailing spaces, an emoji, no final newline.
const AWKWARD_BODY: &str = "\u{FEFF}Témoignage recueilli à Astana, le 14 mars 2026.\r\n\
« Je m’appelle E\u{301}vgueni ; j’ai de\u{301}serte\u{301}, je suis re\u{301}fugie\u{301}. »\r\n\
Русский: Я ДЕЗЕРТИР, ёлка, йод.\r\n\
Українська: Їжак, ґанок, м'ята.\r\n\
العربية: هذه شَهَادَةٌ\u{200F} مهمة.\r\n\
\tligne indentée, espaces finaux   \r\n\
😀 pas de saut de ligne final";

#[test]
fn the_statement_text_round_trips_byte_for_byte_via_show_json() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let id = add_statement(&v, KZ, FR_WITNESS, AWKWARD_BODY, &[]);
    let shown = show_json(&v, &id, &[]);
    let body = shown["body"].as_str().unwrap();
    assert_eq!(body.as_bytes(), AWKWARD_BODY.as_bytes());
    assert!(body.contains("E\u{301}vgueni"), "NFD was normalised");
    assert_eq!(body.matches("\r\n").count(), 6, "CRLF was changed");
    assert_eq!(
        shown["body_bytes"].as_u64(),
        Some(AWKWARD_BODY.len() as u64)
    );
}

#[test]
fn the_statement_text_round_trips_byte_for_byte_via_its_sha256() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let file = write_file(&v, "awkward.txt", AWKWARD_BODY);
    let expected = sha256_hex(&std::fs::read(&file).unwrap());
    let out = v.ok(&[
        "statement",
        "add",
        "--case",
        KZ,
        "--witness",
        FR_WITNESS,
        "--file",
        arg(&file),
    ]);
    let id = out.trim();
    let shown = show_json(&v, id, &[]);
    assert_eq!(shown["body_sha256"].as_str(), Some(expected.as_str()));
    assert_eq!(
        sha256_hex(shown["body"].as_str().unwrap().as_bytes()),
        expected
    );
    let human = v.ok(&["statement", "show", id]);
    assert!(
        human.contains(&format!("SHA-256      {expected}")),
        "{human}"
    );
    let history = parse_json(&v.ok(&["statement", "history", id, "--json"]));
    assert_eq!(
        history["versions"][0]["body_sha256"].as_str(),
        Some(expected.as_str())
    );
}

#[test]
fn statement_add_without_case_is_a_usage_error() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let file = write_file(&v, "s.txt", FR_BODY);
    let stderr = v.fails_with(
        &[
            "statement",
            "add",
            "--witness",
            FR_WITNESS,
            "--file",
            arg(&file),
        ],
        2,
    );
    assert!(stderr.contains("--case"), "{stderr}");
    assert!(statement_ids(&v, &[]).is_empty());
}

#[test]
fn statement_add_to_an_unknown_case_exits_1_naming_it_and_writes_nothing() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let existing = add_statement(&v, KZ, RU_WITNESS, RU_BODY, &[]);
    let log_before = v.ok(&["log", "--json"]);
    let file = write_file(&v, "s.txt", FR_BODY);
    let stderr = v.fails_with(
        &[
            "statement",
            "add",
            "--case",
            "KZ-2026-999",
            "--witness",
            FR_WITNESS,
            "--file",
            arg(&file),
        ],
        1,
    );
    assert!(stderr.contains("KZ-2026-999"), "{stderr}");
    assert_eq!(statement_ids(&v, &[]), [existing]);
    assert_eq!(v.ok(&["log", "--json"]), log_before, "an event was written");
}

#[test]
fn statement_add_of_a_file_that_is_not_utf8_exits_1_and_writes_nothing() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    // "Témoignage" in Latin-1, as an old word processor would save it.
    let file = write_file(&v, "latin1.txt", b"T\xe9moignage d'\xc9vgueni\n");
    let stderr = v.fails_with(
        &[
            "statement",
            "add",
            "--case",
            KZ,
            "--witness",
            FR_WITNESS,
            "--file",
            arg(&file),
        ],
        1,
    );
    assert!(stderr.contains("UTF-8"), "{stderr}");
    assert!(statement_ids(&v, &[]).is_empty());
}

#[test]
fn statement_add_of_a_directory_exits_1() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let dir = v.file("dossier");
    std::fs::create_dir(&dir).unwrap();
    let stderr = v.fails_with(
        &[
            "statement",
            "add",
            "--case",
            KZ,
            "--witness",
            FR_WITNESS,
            "--file",
            arg(&dir),
        ],
        1,
    );
    assert!(stderr.contains("directory"), "{stderr}");
    assert!(statement_ids(&v, &[]).is_empty());
}

#[test]
fn a_protected_witness_without_a_pseudonym_is_refused() {
    let v = TestVault::new();
    new_case(&v, UA, UA_TITLE);
    let file = write_file(&v, "s.txt", UK_BODY);
    let stderr = v.fails_with(
        &[
            "statement",
            "add",
            "--case",
            UA,
            "--witness",
            UK_WITNESS,
            "--protected",
            "--file",
            arg(&file),
        ],
        1,
    );
    assert!(stderr.contains("pseudonym"), "{stderr}");
    assert!(statement_ids(&v, &[]).is_empty());
    // With one it is accepted and kept.
    let id = add_statement(
        &v,
        UA,
        UK_WITNESS,
        UK_BODY,
        &["--protected", "--pseudonym", "Свідок 3"],
    );
    let shown = show_json(&v, &id, &[]);
    assert_eq!(shown["protected"], Value::Bool(true));
    assert_eq!(shown["pseudonym"].as_str(), Some("Свідок 3"));
}

#[test]
fn statement_list_with_case_lists_only_that_cases_statements() {
    let v = TestVault::new();
    let (fr, ru, uk, ar) = testimony(&v);
    assert_eq!(
        statement_ids(&v, &[]),
        [fr.as_str(), ru.as_str(), uk.as_str(), ar.as_str()]
    );
    assert_eq!(
        statement_ids(&v, &["--case", KZ]),
        [fr.as_str(), ru.as_str()]
    );
    assert_eq!(statement_ids(&v, &["--case", UA]), [uk.as_str()]);
    let text = v.ok(&["statement", "list", "--case", SY]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains(&ar[..12]) && text.contains(AR_WITNESS),
        "{text}"
    );
    let stderr = v.fails_with(&["statement", "list", "--case", "XX-0000-000"], 1);
    assert!(stderr.contains("XX-0000-000"), "{stderr}");
}

// ---------------------------------------------------------------- amend, seal

const FR_AMENDED: &str = "Je m’appelle Évgueni. J’ai déserté le 23 septembre 2022 (et non \
en octobre) et je suis parti au Kazakhstan par Petropavl. « Je refuse de tirer sur des \
civils », ai-je dit au commandant.\n";

#[test]
fn amend_creates_version_2_and_version_1_stays_readable() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    let reason = "Correction de la date par le témoin, relu avec l’interprète";
    let file = write_file(&v, "amended.txt", FR_AMENDED);
    v.ok(&[
        "statement",
        "amend",
        &fr,
        "--reason",
        reason,
        "--file",
        arg(&file),
    ]);
    let latest = show_json(&v, &fr, &[]);
    assert_eq!(latest["version"].as_u64(), Some(2));
    assert_eq!(latest["versions"].as_u64(), Some(2));
    assert_eq!(latest["reason"].as_str(), Some(reason));
    assert_eq!(latest["body"].as_str(), Some(FR_AMENDED));
    let first = show_json(&v, &fr, &["--version", "1"]);
    assert_eq!(first["version"].as_u64(), Some(1));
    assert_eq!(first["body"].as_str(), Some(FR_BODY));
    assert_eq!(first["reason"], Value::Null);

    let history = parse_json(&v.ok(&["statement", "history", &fr, "--json"]));
    let versions = history["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{history}");
    assert_eq!(versions[0]["version"].as_u64(), Some(1));
    assert_eq!(
        versions[0]["body_sha256"].as_str(),
        Some(sha256_hex(FR_BODY.as_bytes()).as_str())
    );
    assert_eq!(versions[1]["version"].as_u64(), Some(2));
    assert_eq!(versions[1]["reason"].as_str(), Some(reason));
    let text = v.ok(&["statement", "history", &fr]);
    assert!(text.contains("v1") && text.contains("(original)"), "{text}");
    assert!(text.contains("v2") && text.contains(reason), "{text}");
    // A version that does not exist.
    let stderr = v.fails_with(&["statement", "show", &fr, "--version", "3"], 1);
    assert!(stderr.contains("no version 3"), "{stderr}");
}

#[test]
fn a_sealed_statement_cannot_be_amended() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    v.ok(&["statement", "seal", &fr]);
    let file = write_file(&v, "amended.txt", FR_AMENDED);
    let stderr = v.fails_with(
        &[
            "statement",
            "amend",
            &fr,
            "--reason",
            "tentative après scellé",
            "--file",
            arg(&file),
        ],
        1,
    );
    assert!(stderr.contains("sealed"), "{stderr}");
    let shown = show_json(&v, &fr, &[]);
    assert_eq!(shown["sealed"], Value::Bool(true));
    assert_eq!(shown["versions"].as_u64(), Some(1));
    assert_eq!(shown["body"].as_str(), Some(FR_BODY));
}

// ---------------------------------------------------------------- import

#[test]
fn statement_import_of_json_lines_creates_every_row() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    new_case(&v, UA, UA_TITLE);
    new_case(&v, SY, SY_TITLE);
    let rows = [
        serde_json::json!({"case": KZ, "witness": FR_WITNESS, "language": "fr",
            "place": FR_PLACE, "taken_at": "2026-03-14", "body": FR_BODY}),
        serde_json::json!({"case": UA, "witness": UK_WITNESS, "pseudonym": "Свідок 3",
            "protected": true, "language": "uk", "place": UK_PLACE, "body": UK_BODY}),
        serde_json::json!({"case": SY, "witness": AR_WITNESS, "language": "ar",
            "interpreter": "Maître Haddad", "place": AR_PLACE, "body": AR_BODY}),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let file = write_file(&v, "import.jsonl", text);
    let out = v.ok(&["statement", "import", arg(&file)]);
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 3, "{out}");
    assert!(ids.iter().all(|id| is_record_id(id)), "{out}");
    assert_eq!(statement_ids(&v, &[]), ids);
    for (id, row) in ids.iter().zip(&rows) {
        let shown = show_json(&v, id, &[]);
        assert_eq!(shown["body"], row["body"]);
        assert_eq!(shown["witness"], row["witness"]);
        assert_eq!(shown["case_reference"], row["case"]);
    }
    assert_eq!(show_json(&v, ids[1], &[])["protected"], Value::Bool(true));
}

#[test]
fn statement_import_of_csv_creates_every_row_with_quoted_commas() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    new_case(&v, UA, UA_TITLE);
    new_case(&v, SY, SY_TITLE);
    let csv = "case,witness,pseudonym,protected,language,place,body\n\
UA-2025-207,Олена Петренко,Свідок 3,true,uk,\"Кам'янка, Харківська область\",\"Я бачила, як солдати увійшли до села.\"\n\
SY-2024-031,أحمد الحسن,,false,ar,\"حلب، سوريا\",\"قال الشاهد: هذه شَهَادَةٌ, والله\"\n\
KZ-2026-014,Жанна Сейткали,,no,ru,Алматы,\"Он сказал: «Я ДЕЗЕРТИР», и ушёл.\"\n\
KZ-2026-014,Évgueni Kouznetsov,,,fr,\"Café, Astana\",\"« Je refuse de tirer », a-t-il dit, puis il est parti.\"\n";
    let file = write_file(&v, "import.csv", csv);
    let out = v.ok(&["statement", "import", arg(&file)]);
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 4, "{out}");
    assert_eq!(statement_ids(&v, &[]), ids);
    let uk = show_json(&v, ids[0], &[]);
    assert_eq!(uk["place"].as_str(), Some("Кам'янка, Харківська область"));
    assert_eq!(
        uk["body"].as_str(),
        Some("Я бачила, як солдати увійшли до села.")
    );
    assert_eq!(uk["protected"], Value::Bool(true));
    let ar = show_json(&v, ids[1], &[]);
    assert_eq!(ar["witness"].as_str(), Some(AR_WITNESS));
    assert_eq!(ar["body"].as_str(), Some("قال الشاهد: هذه شَهَادَةٌ, والله"));
    assert_eq!(ar["pseudonym"], Value::Null);
    let ru = show_json(&v, ids[2], &[]);
    assert_eq!(
        ru["body"].as_str(),
        Some("Он сказал: «Я ДЕЗЕРТИР», и ушёл.")
    );
    let fr = show_json(&v, ids[3], &[]);
    assert_eq!(fr["place"].as_str(), Some("Café, Astana"));
    assert_eq!(statement_ids(&v, &["--case", KZ]), [ids[2], ids[3]]);
}

#[test]
fn an_import_whose_row_3_names_an_unknown_case_imports_nothing() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    new_case(&v, UA, UA_TITLE);
    let rows = [
        serde_json::json!({"case": KZ, "witness": FR_WITNESS, "body": FR_BODY}),
        serde_json::json!({"case": UA, "witness": UK_WITNESS, "body": UK_BODY}),
        serde_json::json!({"case": "SY-2024-999", "witness": AR_WITNESS, "body": AR_BODY}),
        serde_json::json!({"case": KZ, "witness": RU_WITNESS, "body": RU_BODY}),
    ];
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    let file = write_file(&v, "import.jsonl", text);
    let log_before = v.ok(&["log", "--json"]);
    let stderr = v.fails_with(&["statement", "import", arg(&file)], 1);
    assert!(stderr.contains("row 3"), "{stderr}");
    assert!(stderr.contains("SY-2024-999"), "{stderr}");
    assert!(statement_ids(&v, &[]).is_empty(), "rows were imported");
    assert_eq!(v.ok(&["log", "--json"]), log_before, "events were written");
}

#[test]
fn a_csv_import_whose_row_3_has_an_empty_witness_imports_nothing() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    new_case(&v, SY, SY_TITLE);
    let csv = "case,witness,language,body\n\
KZ-2026-014,Évgueni Kouznetsov,fr,\"« Je refuse de tirer », a-t-il dit.\"\n\
KZ-2026-014,Жанна Сейткали,ru,\"Он сказал: «Я ДЕЗЕРТИР».\"\n\
SY-2024-031,,ar,\"قال الشاهد: هذه شَهَادَةٌ, والله\"\n\
SY-2024-031,أحمد الحسن,ar,\"رأيتُ الجنودَ, ليلاً\"\n";
    let file = write_file(&v, "import.csv", csv);
    let stderr = v.fails_with(&["statement", "import", arg(&file)], 1);
    assert!(stderr.contains("row 3"), "{stderr}");
    assert!(stderr.contains("witness"), "{stderr}");
    assert!(statement_ids(&v, &[]).is_empty(), "rows were imported");
}

// ---------------------------------------------------------------- evidence

#[test]
fn evidence_add_prints_id_sha256_and_name_per_file() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let photo = write_file(&v, "photo_café_Astana.jpg", pseudo_random(70_000, 1));
    let audio = write_file(&v, "entretien Évgueni.ogg", pseudo_random(1_500_000, 2));
    let out = v.ok(&[
        "evidence",
        "add",
        "--case",
        KZ,
        "--description",
        "Photo du café et enregistrement de l’entretien",
        arg(&photo),
        arg(&audio),
    ]);
    let lines = evidence_lines(&out);
    assert_eq!(lines.len(), 2, "{out}");
    for ((id, sha, name), file) in lines.iter().zip([&photo, &audio]) {
        assert!(is_record_id(id), "{out}");
        assert_eq!(*sha, sha256_hex(&std::fs::read(file).unwrap()));
        assert_eq!(name, file.file_name().unwrap().to_str().unwrap());
        let shown = parse_json(&v.ok(&["evidence", "show", id, "--json"]));
        assert_eq!(shown["sha256"].as_str(), Some(sha.as_str()));
        assert_eq!(shown["size"].as_u64(), Some(file_len(file)));
        assert_eq!(shown["original_name"].as_str(), Some(name.as_str()));
    }
    assert_eq!(
        evidence_ids(&v),
        lines.iter().map(|l| l.0.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn evidence_media_type_is_detected_from_the_content_not_the_name() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x10".to_vec();
    png.extend(pseudo_random(4000, 3));
    let mut jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01".to_vec();
    jpeg.extend(pseudo_random(4000, 4));
    let png = write_file(&v, "notes_entretien.txt", png);
    let jpeg = write_file(&v, "transcription.txt", jpeg);
    let text = write_file(&v, "image.png", "Témoignage « brut », pas une image.\n");
    let out = v.ok(&[
        "evidence",
        "add",
        "--case",
        KZ,
        arg(&png),
        arg(&jpeg),
        arg(&text),
    ]);
    let media: Vec<String> = evidence_lines(&out)
        .iter()
        .map(|(id, ..)| {
            let shown = parse_json(&v.ok(&["evidence", "show", id, "--json"]));
            shown["media_type"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(media[0], "image/png");
    assert_eq!(media[1], "image/jpeg");
    assert!(media[2].starts_with("text/plain"), "{media:?}");
}

#[test]
fn evidence_extract_gives_back_identical_bytes_across_several_chunks() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    // 5 MiB plus a little: five full 1 MiB chunks and a short last one.
    let bytes = pseudo_random(5 * 1024 * 1024 + 12_345, 5);
    let video = write_file(&v, "vidéo_témoin.mp4", &bytes);
    let out = v.ok(&["evidence", "add", "--case", KZ, arg(&video)]);
    let (id, sha, _) = evidence_lines(&out).remove(0);
    assert_eq!(sha, sha256_hex(&bytes));
    let target = v.file("extrait.mp4");
    v.ok(&["evidence", "extract", &id, "--out", arg(&target)]);
    let back = std::fs::read(&target).unwrap();
    assert!(
        back == bytes,
        "extracted bytes differ ({} bytes)",
        back.len()
    );
}

#[test]
fn evidence_extract_of_an_empty_file_gives_an_empty_file() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let empty = write_file(&v, "vide.txt", b"");
    let out = v.ok(&["evidence", "add", "--case", KZ, arg(&empty)]);
    let (id, sha, name) = evidence_lines(&out).remove(0);
    assert_eq!(sha, sha256_hex(b""));
    assert_eq!(name, "vide.txt");
    let target = v.file("vide-extrait.txt");
    v.ok(&["evidence", "extract", &id, "--out", arg(&target)]);
    assert_eq!(std::fs::read(&target).unwrap(), b"");
}

#[test]
fn evidence_extract_refuses_to_overwrite_without_force() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let bytes = pseudo_random(100_000, 6);
    let photo = write_file(&v, "photo.jpg", &bytes);
    let out = v.ok(&["evidence", "add", "--case", KZ, arg(&photo)]);
    let (id, ..) = evidence_lines(&out).remove(0);
    let target = write_file(&v, "existant.jpg", "notes précieuses de l’avocate\n");
    let stderr = v.fails_with(&["evidence", "extract", &id, "--out", arg(&target)], 1);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "notes précieuses de l’avocate\n"
    );
    v.ok(&["evidence", "extract", &id, "--out", arg(&target), "--force"]);
    assert!(std::fs::read(&target).unwrap() == bytes);
}

#[test]
fn evidence_add_with_one_missing_file_adds_none() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let photo = write_file(&v, "photo.jpg", pseudo_random(10_000, 7));
    let audio = write_file(&v, "audio.ogg", pseudo_random(10_000, 8));
    let missing = v.file("enregistrement-perdu.ogg");
    let stderr = v.fails_with(
        &[
            "evidence",
            "add",
            "--case",
            KZ,
            arg(&photo),
            arg(&missing),
            arg(&audio),
        ],
        1,
    );
    assert!(stderr.contains("enregistrement-perdu.ogg"), "{stderr}");
    assert!(evidence_ids(&v).is_empty(), "some files were added");
}

// ---------------------------------------------------------------- id prefixes

#[test]
fn an_id_prefix_of_six_characters_is_accepted() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    let photo = write_file(&v, "photo.jpg", pseudo_random(1000, 9));
    let out = v.ok(&["evidence", "add", "--case", KZ, arg(&photo)]);
    let (ev, ..) = evidence_lines(&out).remove(0);
    assert_eq!(
        show_json(&v, &fr[..6], &[])["id"].as_str(),
        Some(fr.as_str())
    );
    assert_eq!(
        show_json(&v, &fr[..9].to_uppercase(), &[])["id"].as_str(),
        Some(fr.as_str())
    );
    let shown = parse_json(&v.ok(&["evidence", "show", &ev[..6], "--json"]));
    assert_eq!(shown["id"].as_str(), Some(ev.as_str()));
    v.ok(&["statement", "history", &fr[..6]]);
    v.ok(&["log", &fr[..6]]);
}

#[test]
fn an_id_prefix_of_five_characters_is_refused() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    let out = v.run(&["statement", "show", &fr[..5]]);
    assert!(!out.status.success(), "a 5-character prefix was accepted");
    let stderr = stderr_of(&out);
    assert!(stderr.contains("at least 6"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(FR_WITNESS));
}

#[test]
fn an_id_prefix_of_five_characters_is_a_user_error_not_an_integrity_violation() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    let out = v.run(&["statement", "show", &fr[..5]]);
    let code = out.status.code();
    assert!(
        code == Some(1) || code == Some(2),
        "exit {code:?} (4 means tampering was found):\n{}",
        stderr_of(&out)
    );
    assert!(!stderr_of(&out).contains("malformed data"));
}

#[test]
fn an_ambiguous_id_prefix_is_reported_as_ambiguous() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    // Two random ids sharing 8 hex digits would need ~65,000 records, so a
    // second `records` row sharing the first 8 digits of `fr` is inserted
    // directly (no custodia process is running).
    let twin = format!("{}{}", &fr[..8], "0".repeat(24));
    assert_ne!(twin, fr);
    {
        let conn = rusqlite::Connection::open(&v.path).unwrap();
        conn.execute(
            "INSERT INTO records (record_id, kind, position)
             VALUES (?1, 'statement', (SELECT MAX(position) + 1 FROM records))",
            [&twin],
        )
        .unwrap();
    }
    let stderr = v.fails_with(&["statement", "show", &fr[..8]], 1);
    assert!(stderr.contains("ambiguous"), "{stderr}");
    assert!(
        stderr.contains(&fr[..12]) && stderr.contains(&twin[..12]),
        "the candidates are not listed: {stderr}"
    );
    // More characters resolve it.
    assert_eq!(
        show_json(&v, &fr[..12], &[])["id"].as_str(),
        Some(fr.as_str())
    );
}

#[test]
fn a_statement_id_given_to_evidence_show_is_reported_as_a_statement() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    let stderr = v.fails_with(&["evidence", "show", &fr[..8]], 1);
    assert!(
        stderr.contains("a statement, not an evidence item"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- search

#[test]
fn search_is_accent_insensitive() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    assert_eq!(search_ids(&v, "evgueni", &[]), [fr.as_str()]);
    assert_eq!(search_ids(&v, "EVGUENI", &[]), [fr.as_str()]);
    assert_eq!(search_ids(&v, "refugie", &[]), [fr.as_str()]);
}

#[test]
fn search_finds_nfd_text_with_an_nfc_query() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let id = add_statement(&v, KZ, FR_WITNESS, AWKWARD_BODY, &[]);
    assert_eq!(search_ids(&v, "réfugié", &[]), [id.as_str()]);
    assert_eq!(search_ids(&v, "déserté", &[]), [id.as_str()]);
}

#[test]
fn search_in_cyrillic_is_case_insensitive() {
    let v = TestVault::new();
    let (_fr, ru, uk, _ar) = testimony(&v);
    // RU_BODY has «ДЕЗЕРТИР» in capitals, UK_BODY has «дезертиром».
    let mut expected = vec![ru.clone(), uk.clone()];
    expected.sort();
    for query in ["дезертир", "ДЕЗЕРТИР", "Дезертир"] {
        let mut found = search_ids(&v, query, &[]);
        found.sort();
        assert_eq!(found, expected, "{query}");
    }
    // ё and е are the same letter for search: "все" finds "всё".
    assert_eq!(search_ids(&v, "все", &[]), [ru.as_str()]);
}

#[test]
fn search_in_arabic_ignores_harakat() {
    let v = TestVault::new();
    let (.., ar) = testimony(&v);
    // The body has شَهَادَةٌ (with harakat): a plain query finds it.
    assert_eq!(search_ids(&v, "شهادة", &[]), [ar.as_str()]);
    // The body has اللاجئين (plain): a query with harakat finds it.
    assert_eq!(search_ids(&v, "اللَّاجِئِينَ", &[]), [ar.as_str()]);
}

#[test]
fn search_requires_every_word_to_match() {
    let v = TestVault::new();
    let (fr, ru, ..) = testimony(&v);
    assert_eq!(search_ids(&v, "evgueni astana", &[]), [fr.as_str()]);
    assert_eq!(search_ids(&v, "астане журналисту", &[]), [ru.as_str()]);
    assert!(search_ids(&v, "evgueni журналисту", &[]).is_empty());
    assert!(search_ids(&v, "evgueni kyiv", &[]).is_empty());
    // Words given as separate arguments (no quotes) mean the same.
    let separate =
        parse_json(&v.ok(&["search", "evgueni", "astana", "--json"]))["statements"].clone();
    assert_eq!(separate[0]["id"], fr.as_str());
    assert_eq!(separate.as_array().unwrap().len(), 1);
    v.fails_with(&["search", "evgueni", "--limit", "0"], 2);
}

#[test]
fn search_quoted_phrases_match_words_in_order() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    assert_eq!(search_ids(&v, "\"refuse de tirer\"", &[]), [fr.as_str()]);
    assert_eq!(search_ids(&v, "«refuse de tirer»", &[]), [fr.as_str()]);
    assert!(search_ids(&v, "\"tirer de refuse\"", &[]).is_empty());
    // The same words unquoted, in any order, do match.
    assert_eq!(search_ids(&v, "tirer de refuse", &[]), [fr.as_str()]);
}

#[test]
fn search_with_case_only_searches_that_case() {
    let v = TestVault::new();
    let (_fr, ru, uk, _ar) = testimony(&v);
    assert_eq!(search_ids(&v, "дезертир", &["--case", KZ]), [ru.as_str()]);
    assert_eq!(search_ids(&v, "дезертир", &["--case", UA]), [uk.as_str()]);
    assert!(search_ids(&v, "дезертир", &["--case", SY]).is_empty());
}

#[test]
fn search_limit_caps_the_number_of_results() {
    let v = TestVault::new();
    testimony(&v);
    // The Cyrillic word "в" ("in") occurs in both the Russian and the
    // Ukrainian statements.
    let many = search_ids(&v, "в", &[]);
    assert_eq!(many.len(), 2, "{many:?}");
    // The limit keeps the best-ranked hits.
    assert_eq!(search_ids(&v, "в", &["--limit", "1"]), many[..1]);
    assert_eq!(search_ids(&v, "в", &["--limit", "5"]), many);
}

#[test]
fn search_snippet_contains_the_hit() {
    let v = TestVault::new();
    let (fr, ru, ..) = testimony(&v);
    let hits = search(&v, "journaliste", &[]);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["id"].as_str(), Some(fr.as_str()));
    let snippet = hits[0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("journaliste"), "{snippet}");
    let hits = search(&v, "дезертир", &["--case", KZ]);
    assert_eq!(hits[0]["id"].as_str(), Some(ru.as_str()));
    let snippet = hits[0]["snippet"].as_str().unwrap();
    assert!(snippet.contains("ДЕЗЕРТИР"), "{snippet}");
    // The human output shows the same snippet under the hit.
    let text = v.ok(&["search", "réfugié"]);
    assert!(text.contains(&fr[..12]), "{text}");
    assert!(text.contains("réfugié"), "{text}");
}

/// Search looks at the latest version of each statement only: after an
/// amendment, words that only the old version had no longer find it.
#[test]
fn search_after_an_amendment_matches_only_the_latest_version() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    assert_eq!(search_ids(&v, "journaliste", &[]), [fr.as_str()]);
    let file = write_file(&v, "amended.txt", FR_AMENDED);
    v.ok(&[
        "statement",
        "amend",
        &fr,
        "--reason",
        "Date corrigée",
        "--file",
        arg(&file),
    ]);
    assert!(
        search_ids(&v, "journaliste", &[]).is_empty(),
        "a word of version 1 only still finds the statement"
    );
    let hits = search(&v, "petropavl", &[]);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["id"].as_str(), Some(fr.as_str()));
    assert_eq!(hits[0]["version"].as_u64(), Some(2));
}

// ---------------------------------------------------------------- faults

/// Writes `mib` MiB of incompressible bytes quickly (one random MiB,
/// varied per block).
fn write_big_file(path: &Path, mib: usize) {
    use std::io::Write;
    let mut block = pseudo_random(1024 * 1024, 11);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..mib {
        block[..8].copy_from_slice(&(i as u64).to_le_bytes());
        file.write_all(&block).unwrap();
    }
    file.flush().unwrap();
}

#[test]
fn a_kill_during_evidence_add_leaves_no_item_and_no_leaked_space() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    add_statement(&v, KZ, FR_WITNESS, FR_BODY, &[]);
    let [db, journal, _] = v.sidecars();
    let before = file_len(&db) + file_len(&journal);
    let big = v.file("vidéo_entretien_complet.mp4");
    write_big_file(&big, 300);

    let mut child = v
        .std_command()
        .args([
            "--vault",
            arg(&v.path),
            "--passphrase-file",
            arg(&v.pass_file),
        ])
        .args(["evidence", "add", "--case", KZ, arg(&big)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("evidence add finished ({status}) before it could be killed");
        }
        // The intake's pages spill into the vault file (new pages are
        // appended there; the journal holds the few it modifies).
        if file_len(&db) + file_len(&journal) > before + 8 * 1024 * 1024 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the vault never grew during the intake"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        file_len(&journal) > 0,
        "the killed intake left no hot journal"
    );

    assert!(
        evidence_ids(&v).is_empty(),
        "a half-written item is visible"
    );
    // The next open rolled the hot journal back and cut the file back.
    let after = file_len(&db) + file_len(&journal);
    assert!(
        after <= 2 * before,
        "the vault grew from {before} to {after} bytes after the killed intake"
    );
    let report = v.ok(&["check"]);
    assert!(report.contains("OK"), "{report}");
    let small = write_file(&v, "photo.jpg", pseudo_random(20_000, 12));
    let out = v.ok(&["evidence", "add", "--case", KZ, arg(&small)]);
    assert_eq!(evidence_lines(&out).len(), 1);
    assert_eq!(evidence_ids(&v).len(), 1);
}

#[test]
fn two_processes_adding_statements_at_once_both_finish_or_say_busy() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    new_case(&v, UA, UA_TITLE);
    let fr = write_file(&v, "fr.txt", FR_BODY);
    let uk = write_file(&v, "uk.txt", UK_BODY);
    let outputs: Vec<Output> = std::thread::scope(|scope| {
        let workers: Vec<_> = [(KZ, FR_WITNESS, &fr), (UA, UK_WITNESS, &uk)]
            .into_iter()
            .map(|(case, witness, file)| {
                let v = &v;
                scope.spawn(move || {
                    (0..10)
                        .map(|_| {
                            v.run(&[
                                "statement",
                                "add",
                                "--case",
                                case,
                                "--witness",
                                witness,
                                "--file",
                                arg(file),
                            ])
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let mut ids = Vec::new();
    for out in &outputs {
        assert!(
            !stderr_of(out).contains("rolled-back"),
            "a concurrent writer was taken for a rollback:\n{}",
            stderr_of(out)
        );
        if out.status.success() {
            let id = String::from_utf8(out.stdout.clone()).unwrap();
            assert!(is_record_id(id.trim_end()), "{id:?}");
            ids.push(id.trim_end().to_owned());
        } else {
            let stderr = expect_code(out, &["statement", "add"], 1);
            assert!(stderr.contains("busy"), "{stderr}");
        }
    }
    let report = v.ok(&["check"]);
    assert!(report.contains("OK"), "{report}");
    let mut listed = statement_ids(&v, &[]);
    listed.sort();
    ids.sort();
    assert_eq!(listed, ids, "the vault does not hold exactly the successes");
}

#[test]
fn the_raw_vault_file_and_wal_reveal_no_testimony() {
    let v = TestVault::new();
    let (fr, ..) = testimony(&v);
    let photo_name = "photo_Évgueni_Kouznetsov_Astana.jpg";
    let photo = write_file(
        &v,
        photo_name,
        "Légende : Évgueni devant le café d’Astana, 14 mars 2026\n",
    );
    let file = write_file(&v, "amended.txt", FR_AMENDED);
    v.ok(&[
        "statement",
        "amend",
        &fr,
        "--reason",
        "Date corrigée par Évgueni",
        "--file",
        arg(&file),
    ]);
    v.ok(&[
        "evidence",
        "add",
        "--case",
        KZ,
        "--description",
        "Photo prise par Жанна Сейткали",
        "--source",
        "https://vlast.kz/deserteur-astana",
        arg(&photo),
    ]);
    let needles = [
        KZ,
        KZ_TITLE,
        UA_TITLE,
        SY_TITLE,
        "Évgueni",
        "Evgueni",
        "Kouznetsov",
        FR_WITNESS,
        RU_WITNESS,
        UK_WITNESS,
        AR_WITNESS,
        "Свідок 3",
        FR_PLACE,
        "Astana",
        RU_PLACE,
        UK_PLACE,
        AR_PLACE,
        "Chokolad",
        photo_name,
        "Kouznetsov_Astana",
        "vlast.kz",
        "déserté",
        "deserte",
        "réfugié",
        "refugie",
        "journaliste",
        "Petropavl",
        "ДЕЗЕРТИР",
        "дезертир",
        "журналисту",
        "погребі",
        "شَهَادَةٌ",
        "شهادة",
        "اللاجئين",
        "Date corrigée",
        "Légende",
    ];
    // Leave a hot journal to inspect too: kill an intake mid-way. The
    // journal holds the pages the transaction was changing, as they were.
    let [db, journal, _] = v.sidecars();
    let big = v.file("entretien_Évgueni_Astana.mp4");
    write_big_file(&big, 64);
    let before = file_len(&db);
    let mut child = v
        .std_command()
        .args([
            "--vault",
            arg(&v.path),
            "--passphrase-file",
            arg(&v.pass_file),
        ])
        .args(["evidence", "add", "--case", KZ, arg(&big)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while file_len(&db) < before + 4 * 1024 * 1024 && child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the intake never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(file_len(&journal) > 0, "no hot journal to inspect");
    for path in v.sidecars() {
        let raw = common::read_or_empty(&path);
        if let Some(found) = find_any(&raw, &needles) {
            panic!("{} contains {found:?} in plaintext", path.display());
        }
        // Also as UTF-16 (SQLite can store text that way).
        for n in needles {
            let utf16: Vec<u8> = n.encode_utf16().flat_map(u16::to_le_bytes).collect();
            assert!(
                !raw.windows(utf16.len()).any(|w| w == utf16),
                "{} contains {n:?} as UTF-16",
                path.display()
            );
        }
    }
}

#[test]
fn search_over_many_statements_misses_none_and_finds_the_rare_one() {
    // More statements than several scoring batches, with a partial last
    // batch, so every thread and the remainder are exercised.
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let count = 64 * 5 + 17;
    let rare_at = 199;
    let text: String = (0..count)
        .map(|i| {
            let rare = if i == rare_at { " Zyxwvutsrq" } else { "" };
            let row = serde_json::json!({"case": KZ, "witness": format!("Témoin {i}"),
                "body": format!("Déposition numéro {i} : les soldats sont arrivés la nuit.{rare}")});
            format!("{row}\n")
        })
        .collect();
    let file = write_file(&v, "many.jsonl", text);
    let ids: Vec<String> = v
        .ok(&["statement", "import", arg(&file)])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), count);
    let mut all = search_ids(&v, "SOLDATS", &["--limit", "100000"]);
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected);
    assert_eq!(search_ids(&v, "zyxwvutsrq", &[]), [ids[rare_at].as_str()]);
    let numbered = search(&v, "\"numero 250 \"", &[]);
    assert_eq!(numbered.len(), 1, "{numbered:?}");
    assert_eq!(numbered[0]["id"], ids[250].as_str());
}

#[test]
fn an_interrupted_extract_leaves_no_partial_plaintext_behind() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let big = v.file("audition.wav");
    write_big_file(&big, 120);
    let added = v.ok(&["evidence", "add", "--case", KZ, arg(&big)]);
    let id = evidence_ids(&v)[0].clone();
    assert!(added.contains(&id[..12]), "{added}");
    let out_dir = v.file("extraits");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("audition.wav");
    let partials = || -> Vec<PathBuf> {
        std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .contains(".partial-")
            })
            .collect()
    };

    let mut child = v
        .std_command()
        .args([
            "--vault",
            arg(&v.path),
            "--passphrase-file",
            arg(&v.pass_file),
        ])
        .args(["evidence", "extract", &id, "--out", arg(&out)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("extract finished ({status}) before it could be interrupted");
        }
        if partials().iter().any(|p| file_len(p) > 4 * 1024 * 1024) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no partial output appeared"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("interrupted"),
        "{output:?}"
    );
    assert!(
        partials().is_empty(),
        "partial plaintext left: {:?}",
        partials()
    );
    assert!(!out.exists(), "an incomplete output was put in place");
    // Nothing was extracted, so no extract event was recorded.
    let log = v.ok(&["log", &id]);
    assert!(!log.contains(" extract "), "{log}");
    assert!(v.ok(&["check"]).contains("OK"));
}

// ---------------------------------------------------------------- --editor

/// An `$EDITOR` script that logs the file it was given (path, mode, the
/// text it found) to `log`, then appends `addition`.
fn editor_script(v: &TestVault, log: &Path, addition: &str) -> PathBuf {
    let script = v.file("editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nset -e\n{{ echo \"$1\"; stat -c %a \"$1\"; }} > '{log}'\ncp \"$1\" '{log}.seen'\nprintf '%s' '{addition}' >> \"$1\"\n",
            log = log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    script
}

/// Whether /dev/shm is a RAM file system here (else --editor refuses).
fn ram_dev_shm() -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/dev/shm") && l.contains("tmpfs"))
}

/// The `--editor` tests need a RAM `/dev/shm` (the editor's file must
/// never touch a disk, so `--editor` refuses without one) and `/bin/sh`
/// with `stat` and `cp` (the editor is [`editor_script`]). Skips where
/// they are missing, except under `CUSTODIA_REQUIRE_TOOLS` or `CI`.
fn needs_ram_dev_shm(test: &str) -> bool {
    let sh = Path::new("/bin/sh").exists();
    common::needs(test, sh, "/bin/sh is missing", "install a POSIX shell")
        && common::needs(
            test,
            ram_dev_shm(),
            "/dev/shm is not a tmpfs (RAM) file system here",
            "mount one: mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm (.ci/run does)",
        )
}

fn run_with_editor(v: &TestVault, pass: &Path, script: &Path, args: &[&str]) -> Output {
    let mut cmd = v.command_with(pass);
    cmd.env_remove("VISUAL").env("EDITOR", script).args(args);
    common::run_command(&mut cmd)
}

#[test]
fn statement_add_with_editor_uses_a_private_ram_file_and_wipes_it() {
    if !needs_ram_dev_shm("statement_add_with_editor_uses_a_private_ram_file_and_wipes_it") {
        return;
    }
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let log = v.file("editor.log");
    let script = editor_script(&v, &log, FR_BODY);
    let out = run_with_editor(
        &v,
        &v.pass_file,
        &script,
        &[
            "statement",
            "add",
            "--case",
            KZ,
            "--witness",
            FR_WITNESS,
            "--editor",
        ],
    );
    let id = common::expect_success(&out, &["statement add --editor"])
        .trim()
        .to_owned();
    let logged = std::fs::read_to_string(&log).unwrap();
    let mut lines = logged.lines();
    let path = PathBuf::from(lines.next().unwrap());
    assert!(path.starts_with("/dev/shm"), "{logged}");
    assert_eq!(lines.next(), Some("600"), "{logged}");
    assert!(!path.exists(), "the editor file was left behind");
    assert!(
        !path.parent().unwrap().exists(),
        "its directory was left behind"
    );
    assert_eq!(show_json(&v, &id, &[])["body"], FR_BODY);
}

#[test]
fn editor_does_not_open_before_the_passphrase_and_case_are_checked() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let log = v.file("editor.log");
    let script = editor_script(&v, &log, "texte perdu");
    let wrong = v.secret_file("wrong.pass", "pas la bonne phrase du tout");
    let out = run_with_editor(
        &v,
        &wrong,
        &script,
        &[
            "statement",
            "add",
            "--case",
            KZ,
            "--witness",
            FR_WITNESS,
            "--editor",
        ],
    );
    common::expect_code(&out, &["statement add --editor (wrong passphrase)"], 3);
    assert!(
        !log.exists(),
        "the editor ran before the passphrase was checked"
    );
    let out = run_with_editor(
        &v,
        &v.pass_file,
        &script,
        &[
            "statement",
            "add",
            "--case",
            "NOPE-1",
            "--witness",
            FR_WITNESS,
            "--editor",
        ],
    );
    common::expect_code(&out, &["statement add --editor (unknown case)"], 1);
    assert!(!log.exists(), "the editor ran for an unknown case");
}

#[test]
fn amend_with_editor_starts_from_the_latest_text_and_refuses_sealed_or_unchanged() {
    if !needs_ram_dev_shm(
        "amend_with_editor_starts_from_the_latest_text_and_refuses_sealed_or_unchanged",
    ) {
        return;
    }
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let id = add_statement(&v, KZ, FR_WITNESS, FR_BODY, &[]);
    let log = v.file("editor.log");
    let script = editor_script(&v, &log, "\nAjout : le sous-sol du commissariat.\n");
    let out = run_with_editor(
        &v,
        &v.pass_file,
        &script,
        &[
            "statement",
            "amend",
            &id,
            "--reason",
            "complément",
            "--editor",
        ],
    );
    common::expect_success(&out, &["statement amend --editor"]);
    let seen = std::fs::read_to_string(v.file("editor.log.seen")).unwrap();
    assert_eq!(
        seen, FR_BODY,
        "the editor did not start from the latest text"
    );
    let shown = show_json(&v, &id, &[]);
    assert_eq!(
        shown["body"].as_str().unwrap(),
        format!("{FR_BODY}\nAjout : le sous-sol du commissariat.\n")
    );

    // An editor that changes nothing makes no version.
    let noop = v.file("noop.sh");
    std::fs::write(&noop, "#!/bin/sh\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&noop, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = run_with_editor(
        &v,
        &v.pass_file,
        &noop,
        &["statement", "amend", &id, "--reason", "rien", "--editor"],
    );
    let stderr = common::expect_code(&out, &["statement amend --editor (unchanged)"], 1);
    assert!(stderr.contains("not changed"), "{stderr}");
    assert_eq!(show_json(&v, &id, &[])["versions"], 2);

    // A sealed statement: refused before the editor opens.
    v.ok(&["statement", "seal", &id]);
    std::fs::remove_file(&log).unwrap();
    let out = run_with_editor(
        &v,
        &v.pass_file,
        &script,
        &["statement", "amend", &id, "--reason", "x", "--editor"],
    );
    let stderr = common::expect_code(&out, &["statement amend --editor (sealed)"], 1);
    assert!(stderr.contains("sealed"), "{stderr}");
    assert!(!log.exists(), "the editor opened on a sealed statement");
}

#[test]
fn case_references_match_across_unicode_normalisation_and_case() {
    let v = TestVault::new();
    let nfd = "Re\u{301}fugie\u{301}-2026";
    let nfc = "Réfugié-2026";
    v.ok(&["case", "new", nfd, "--title", "Demande d'asile"]);
    let stderr = v.fails_with(&["case", "new", nfc, "--title", "Doublon"], 1);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(
        !stderr.contains("\\u{"),
        "debug escapes in a message: {stderr}"
    );
    let shown = parse_json(&v.ok(&["case", "show", "RÉFUGIÉ-2026", "--json"]));
    assert_eq!(shown["case"]["reference"], nfc, "stored in NFC");
    let stderr = v.fails_with(&["case", "show", "Inconnue\u{301}"], 1);
    assert!(stderr.contains("no case \"Inconnue"), "{stderr}");
}

#[test]
fn extract_to_a_directory_says_so_even_when_it_exists() {
    let v = TestVault::new();
    new_case(&v, KZ, KZ_TITLE);
    let photo = write_file(&v, "photo.jpg", pseudo_random(10_000, 3));
    v.ok(&["evidence", "add", "--case", KZ, arg(&photo)]);
    let id = evidence_ids(&v)[0].clone();
    let dir = v.file("extraits");
    std::fs::create_dir_all(&dir).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["evidence", "extract", id.as_str(), "--out", arg(&dir)];
        args.extend_from_slice(extra);
        let stderr = v.fails_with(&args, 1);
        assert!(
            stderr.contains("is a directory; give a file name"),
            "{stderr}"
        );
    }
}
