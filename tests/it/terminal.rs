//! What reaches the terminal (regression tests for terminal injection):
//! names, texts and details that come from a vault or a bundle are printed
//! with their control and bidirectional characters escaped, so a hostile
//! exhibit name or statement cannot forge a line (a fake "VERDICT: VALID"),
//! hide the real ones (ESC[8m) or clear the screen; `--json` keeps the exact
//! bytes. Also the messages of a few command-line mistakes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{arg, expect_code, parse_json, run_command, TestVault};

const CASE: &str = "KZ-2026-014";
const TITLE: &str = "Évgueni K. — déserteur";

/// The forged line an attacker wants to see on its own.
const FORGED: &str = "VERDICT: VALID. Every file matches the signed manifests.";
/// An exhibit name that starts a forged verdict line and then hides
/// everything after it (ESC[8m: concealed text).
const HOSTILE_NAME: &str =
    "photo.jpg\nVERDICT: VALID. Every file matches the signed manifests.\x1b[8m";
/// The same name as it must be shown.
const HOSTILE_SHOWN: &str =
    "photo.jpg\\nVERDICT: VALID. Every file matches the signed manifests.\\u{1b}[8m";

/// Stdout then stderr, as text.
fn all_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails unless `text` is safe for a terminal: no control characters but
/// newline (and, in a statement's text, tab and the CR of a CRLF), no C1
/// controls, no bidirectional controls or Unicode line separators, and no
/// line that starts with the forged verdict.
fn assert_inert(text: &str, statement_text: bool, what: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let bad = match c {
            '\n' => false,
            '\t' => !statement_text,
            '\r' => !(statement_text && chars.peek() == Some(&'\n')),
            c => {
                c.is_control()
                    || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                    || matches!(c, '\u{2028}' | '\u{2029}')
            }
        };
        assert!(
            !bad,
            "{what}: raw {c:?} reaches the terminal:\n{}",
            text.escape_debug()
        );
    }
    assert!(
        !text.lines().any(|l| l.starts_with(FORGED)),
        "{what}: a line starts with the forged verdict:\n{text}"
    );
}

/// Runs on `v`, demands success, checks stdout and stderr are inert;
/// returns stdout.
fn ok_inert(v: &TestVault, args: &[&str]) -> String {
    let out = v.run(args);
    let stdout = common::expect_success(&out, args);
    assert_inert(&all_text(&out), false, &args.join(" "));
    stdout
}

/// `case new CASE --title TITLE`.
fn new_case(v: &TestVault) {
    v.ok(&["case", "new", CASE, "--title", TITLE]);
}

/// Creates `name` (any bytes but NUL and '/') in the vault's directory.
fn write_named(v: &TestVault, name: &str, bytes: &[u8]) -> PathBuf {
    let path = v.file(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `evidence add --case CASE FILE`; demands exactly one output line (a name
/// with a newline must not add one) and returns the new id.
fn add_exhibit(v: &TestVault, file: &Path) -> String {
    let out = ok_inert(v, &["evidence", "add", "--case", CASE, arg(file)]);
    assert_eq!(out.lines().count(), 1, "evidence add printed:\n{out}");
    let id = out.split_whitespace().next().unwrap().to_owned();
    assert!(common::is_record_id(&id), "evidence add printed:\n{out}");
    id
}

/// Exports the case as a plain signed tar.
fn export_plain(v: &TestVault, name: &str) -> PathBuf {
    let out = v.file(name);
    ok_inert(
        v,
        &["export", "--case", CASE, "--no-encrypt", "--out", arg(&out)],
    );
    out
}

/// `bundle verify FILE` with no vault.
fn verify(v: &TestVault, bundle: &Path) -> Output {
    let mut cmd = v.bare_command();
    cmd.args(["bundle", "verify"]).arg(bundle);
    run_command(&mut cmd)
}

/// The lines of `text` that start with "VERDICT".
fn verdict_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("VERDICT")).collect()
}

/// Copies the tar `from` to `to` entry by entry (raw: pax headers too),
/// passing the bytes of `data/evidence.json` through `edit`.
fn rewrite_evidence_json(from: &Path, to: &Path, edit: impl Fn(&[u8]) -> Vec<u8>) {
    let mut archive = tar::Archive::new(std::fs::File::open(from).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(to).unwrap());
    let mut edited = false;
    for entry in archive.entries().unwrap().raw(true) {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if path.ends_with("/data/evidence.json") {
            data = edit(&data);
            header.set_size(data.len() as u64);
            header.set_cksum();
            edited = true;
        }
        builder.append(&header, data.as_slice()).unwrap();
    }
    builder.finish().unwrap();
    assert!(edited, "no data/evidence.json in {}", from.display());
}

// ------------------------------------------------------------ vault records

#[test]
fn an_exhibit_name_with_escapes_and_a_newline_cannot_forge_or_hide_lines() {
    let v = TestVault::new();
    new_case(&v);
    let file = write_named(&v, HOSTILE_NAME, b"JPEG bytes");
    let id = add_exhibit(&v, &file);

    let list = ok_inert(&v, &["evidence", "list"]);
    assert!(list.contains(HOSTILE_SHOWN), "evidence list:\n{list}");
    assert_eq!(list.lines().count(), 1, "evidence list:\n{list}");

    let show = ok_inert(&v, &["evidence", "show", &id]);
    assert!(
        show.lines()
            .any(|l| l.starts_with("File name") && l.ends_with(HOSTILE_SHOWN)),
        "evidence show:\n{show}"
    );
    ok_inert(&v, &["case", "show", CASE]);
    ok_inert(&v, &["log"]);
    ok_inert(&v, &["log", &id]);
    ok_inert(&v, &["check"]);

    // JSON keeps the exact name (serde escapes it for the terminal).
    let json = parse_json(&v.ok(&["evidence", "show", &id, "--json"]));
    assert_eq!(json["original_name"], HOSTILE_NAME, "{json}");
    let raw = v.ok(&["evidence", "list", "--json"]);
    assert!(!raw.contains('\x1b'), "{raw}");
}

#[test]
fn a_statement_body_with_escape_sequences_is_shown_escaped_and_json_keeps_its_bytes() {
    let v = TestVault::new();
    new_case(&v);
    let body = "Le témoin a parlé.\n\x1b[2J\x1b[HVERDICT: VALID\r\n\tIl a fui\rla nuit.\u{9b}1m \u{202e}txt.exe\n";
    let file = write_named(&v, "statement.txt", body.as_bytes());
    let id = v.ok(&[
        "statement",
        "add",
        "--case",
        CASE,
        "--witness",
        "Amina \u{202e}Q.",
        "--file",
        arg(&file),
    ]);
    let id = id.trim();

    let out = v.run(&["statement", "show", id]);
    let show = common::expect_success(&out, &["statement", "show", id]);
    // Tabs and line breaks of the text are kept; everything else is shown.
    assert_inert(&all_text(&out), true, "statement show");
    assert!(show.contains("Witness      Amina \\u{202e}Q."), "{show}");
    assert!(
        show.contains("Le témoin a parlé.\n\\u{1b}[2J\\u{1b}[HVERDICT: VALID\r\n\tIl a fui\\rla nuit.\\u{9b}1m \\u{202e}txt.exe\n"),
        "statement show:\n{show}"
    );

    let json = parse_json(&v.ok(&["statement", "show", id, "--json"]));
    assert_eq!(json["body"], body, "{json}");

    ok_inert(&v, &["statement", "list"]);
    ok_inert(&v, &["statement", "history", id]);
    ok_inert(&v, &["case", "show", CASE]);
    let hits = ok_inert(&v, &["search", "témoin"]);
    assert!(hits.contains("Amina \\u{202e}Q."), "search:\n{hits}");
}

// ------------------------------------------------------------------ bundles

#[test]
fn bundle_verify_of_an_injected_exhibit_name_prints_no_forged_verdict() {
    let v = TestVault::new();
    new_case(&v);
    let file = write_named(&v, "photo.jpg", b"JPEG bytes");
    add_exhibit(&v, &file);
    let bundle = export_plain(&v, "bundle.tar");
    let tampered = v.file("tampered.tar");
    rewrite_evidence_json(&bundle, &tampered, |bytes| {
        let mut docs: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        docs[0]["original_name"] = HOSTILE_NAME.into();
        serde_json::to_vec_pretty(&docs).unwrap()
    });

    let out = verify(&v, &tampered);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(4), "bundle verify:\n{text}");
    assert_inert(&text, false, "bundle verify of a tampered bundle");
    assert_eq!(
        verdict_lines(&text),
        ["VERDICT: NOT VALID. This bundle was altered, is incomplete, or is not signed as claimed."],
        "bundle verify:\n{text}"
    );

    let json = verify_json(&v, &tampered);
    assert_eq!(json["valid"], false, "{json}");
}

/// `bundle verify FILE --json`, parsed.
fn verify_json(v: &TestVault, bundle: &Path) -> serde_json::Value {
    let mut cmd = v.bare_command();
    cmd.args(["bundle", "verify", "--json"]).arg(bundle);
    let out = run_command(&mut cmd);
    parse_json(&String::from_utf8_lossy(&out.stdout))
}

#[test]
fn a_signed_bundle_with_a_hostile_exhibit_name_verifies_and_imports_with_the_name_escaped() {
    let v = TestVault::new();
    new_case(&v);
    let file = write_named(&v, HOSTILE_NAME, b"JPEG bytes");
    add_exhibit(&v, &file);
    let bundle = export_plain(&v, "bundle.tar");

    // The exporter's key, as the court would get it from the exporter.
    let key = v.ok(&["key", "public"]);
    let key_file = v.file("exporter.pub");
    std::fs::write(&key_file, &key).unwrap();
    let mut cmd = v.bare_command();
    cmd.args(["bundle", "verify"])
        .arg(&bundle)
        .arg("--signer")
        .arg(&key_file);
    let out = run_command(&mut cmd);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "bundle verify:\n{text}");
    assert_inert(&text, false, "bundle verify");
    assert_eq!(verdict_lines(&text).len(), 1, "bundle verify:\n{text}");
    assert!(text.contains(HOSTILE_SHOWN), "bundle verify:\n{text}");

    let court = TestVault::new();
    ok_inert(
        &court,
        &["bundle", "import", arg(&bundle), "--signer", arg(&key_file)],
    );
    let list = ok_inert(&court, &["evidence", "list"]);
    assert_eq!(list.lines().count(), 1, "evidence list:\n{list}");
    let id = list.split_whitespace().next().unwrap();
    let show = ok_inert(&court, &["evidence", "show", id]);
    assert!(show.contains(HOSTILE_SHOWN), "evidence show:\n{show}");
    ok_inert(&court, &["log"]);
    ok_inert(&court, &["case", "show", CASE]);
}

// ----------------------------------------------------------------- messages

#[test]
fn a_missing_signer_file_is_reported_as_a_missing_file() {
    let v = TestVault::new();
    new_case(&v);
    let bundle = export_plain(&v, "bundle.tar");
    let mut cmd = v.bare_command();
    cmd.args(["bundle", "verify"])
        .arg(&bundle)
        .args(["--signer", "/nonexistent/alice.pub"]);
    let out = run_command(&mut cmd);
    let stderr = expect_code(&out, &["bundle", "verify", "--signer"], 1);
    assert!(
        stderr.contains("cannot read /nonexistent/alice.pub: no such file"),
        "{stderr}"
    );
    assert!(!stderr.contains("base64"), "{stderr}");
}

#[test]
fn export_refuses_redact_names_with_reveal_protected() {
    let v = TestVault::new();
    new_case(&v);
    let out = v.file("bundle.tar");
    let stderr = v.fails_with(
        &[
            "export",
            "--case",
            CASE,
            "--no-encrypt",
            "--reveal-protected",
            "--redact-names",
            "--out",
            arg(&out),
        ],
        2,
    );
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn export_passphrase_without_a_terminal_points_to_bundle_passphrase_file() {
    // Only meaningful where no terminal can be opened (CI); on a developer's
    // terminal the prompt would wait for input.
    if std::fs::File::open("/dev/tty").is_ok() {
        eprintln!("skipped: this test has a terminal to prompt on");
        return;
    }
    let v = TestVault::new();
    new_case(&v);
    let out = v.file("bundle.tar");
    let stderr = v.fails_with(
        &["export", "--case", CASE, "--passphrase", "--out", arg(&out)],
        1,
    );
    assert!(stderr.contains("--bundle-passphrase-file"), "{stderr}");
    assert!(!out.exists());
}
