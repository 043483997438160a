//! The sealed search index (issue 15.3): a search through the index gives
//! exactly the results of a full scan, on a generated corpus in French,
//! Russian and Arabic; an index block deleted, damaged or put back from an
//! old copy hides no statement, `check` names it and `check
//! --repair-index` rebuilds it from the sealed search texts; a long
//! session's kept index sees another process's writes.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use rusqlite::Connection;

use crate::common::{arg, assert_no_panic, parse_json, TestVault};

const CASE: &str = "UA-2026-031";

/// A small deterministic generator (no dependency, same corpus each run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

const WORDS: &[&str] = &[
    "témoin",
    "armée",
    "réfugié",
    "frontière",
    "village",
    "soldats",
    "nuit",
    "interrogatoire",
    "le",
    "de",
    "la",
    "commissariat",
    "procès-verbal",
    "дезертир",
    "мобилизация",
    "граница",
    "свидетель",
    "армия",
    "ушла",
    "в",
    "ночью",
    "شهادة",
    "القرية",
    "الجنود",
    "الليل",
    "في",
    "asile",
    "juge",
    "audience",
    "l'armée",
    "Jean-Pierre",
    "北京",
    "東京",
];

/// `count` statements of ~80 words, some with a rare word planted.
fn corpus(count: usize) -> String {
    let mut rng = Lcg(0x5eed);
    let mut out = String::new();
    for i in 0..count {
        let mut body: Vec<&str> = (0..80).map(|_| WORDS[rng.next(WORDS.len())]).collect();
        match i {
            17 => body.push("Zyxwvutsrq"),
            301 => body.push("Qwertyuiopa Zyxwvutsrq"),
            444 => body.extend(["армия", "ушла", "ночью"]),
            _ => {}
        }
        let line = serde_json::json!({
            "case": CASE,
            "witness": format!("Témoin {i}"),
            "body": body.join(" "),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

const QUERIES: &[&str] = &[
    "zyxwvutsrq",
    "zyxw",
    "qwertyuiopa zyxwvutsrq",
    "refug",
    "armee",
    "\"village soldats\"",
    "дезерт",
    "\"армия ушла ночью\"",
    "شهاد",
    "\"القرية الجنود\"",
    "de",
    "в",
    "jean-pierre",
    "l'armée",
    "北京",
    "temoin 30",
    "nonexistentword",
];

fn search_on(v: &TestVault, vault: &std::path::Path, query: &str) -> serde_json::Value {
    let out = v.run_on(vault, &["search", "--limit", "1000", "--json", query]);
    assert_no_panic(&out);
    assert!(out.status.success(), "search {query}: {out:?}");
    parse_json(&String::from_utf8_lossy(&out.stdout))
}

fn statement_hits(found: &serde_json::Value) -> Vec<(String, String)> {
    found["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|h| (h["id"].to_string(), h["score"].to_string()))
        .collect()
}

/// What a command printed, on both streams (check reports on stdout).
fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sql(vault: &std::path::Path, statement: &str) {
    let conn = Connection::open(vault).expect("open the vault with sqlite");
    conn.execute_batch(statement).expect("tamper");
}

fn block_count(vault: &std::path::Path) -> i64 {
    let conn = Connection::open(vault).expect("open the vault with sqlite");
    conn.query_row("SELECT COUNT(*) FROM search_index", [], |r| r.get(0))
        .expect("count blocks")
}

#[test]
fn the_index_gives_exactly_the_results_of_a_full_scan() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Kharkiv filtration"]);
    let file = v.secret_file("corpus.jsonl", &corpus(700));
    v.ok(&["statement", "import", arg(&file)]);
    assert!(
        block_count(&v.path) >= 2,
        "700 statements span several blocks"
    );
    // The copy searches without an index: every block is damaged, so no
    // block is trusted and every statement is opened, as before the index.
    let scan = v.copy_vault("scan.custodia");
    sql(
        &scan,
        "UPDATE search_index SET sealed = randomblob(length(sealed))",
    );
    let mut nonempty = 0;
    for query in QUERIES {
        let indexed = search_on(&v, &v.path, query);
        let scanned = search_on(&v, &scan, query);
        assert_eq!(
            statement_hits(&indexed),
            statement_hits(&scanned),
            "query {query}"
        );
        assert_eq!(
            indexed["more_statements"], scanned["more_statements"],
            "query {query}"
        );
        if !statement_hits(&indexed).is_empty() {
            nonempty += 1;
        }
    }
    assert!(nonempty >= QUERIES.len() - 1, "the queries find something");
    let rare = search_on(&v, &v.path, "zyxwvutsrq");
    assert_eq!(statement_hits(&rare).len(), 2);
    // The damaged copy fails its check, naming the index, until repaired.
    let out = v.run_on(&scan, &["check"]);
    assert!(!out.status.success());
    let stderr = all_output(&out);
    assert!(
        stderr.contains("search index block") && stderr.contains("does not authenticate"),
        "{stderr}"
    );
    let repaired = v.run_on(&scan, &["check", "--repair-index"]);
    assert!(repaired.status.success(), "{repaired:?}");
    assert_eq!(
        statement_hits(&search_on(&v, &scan, "zyxwvutsrq")),
        statement_hits(&rare)
    );
}

#[test]
fn an_old_or_deleted_index_block_hides_no_statement() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Kharkiv filtration"]);
    let file = v.secret_file("s.txt", "They took us to the school at night.");
    let id = v
        .ok(&[
            "statement",
            "add",
            "--case",
            CASE,
            "--witness",
            "Olena",
            "--file",
            arg(&file),
        ])
        .trim()
        .to_owned();
    let old_block: Vec<u8> = Connection::open(&v.path)
        .unwrap()
        .query_row("SELECT sealed FROM search_index WHERE block = 0", [], |r| {
            r.get(0)
        })
        .expect("block 0 after the first statement");
    let amended = v.secret_file(
        "s2.txt",
        "They took us to the school at night. The officer was called Mordvinov.",
    );
    v.ok(&[
        "statement",
        "amend",
        &id,
        "--file",
        arg(&amended),
        "--reason",
        "the witness remembered the officer's name",
    ]);
    // Put back the block from before the amendment: it lists version 1,
    // whose words do not include the name.
    let conn = Connection::open(&v.path).unwrap();
    conn.execute(
        "UPDATE search_index SET sealed = ?1 WHERE block = 0",
        [&old_block],
    )
    .unwrap();
    drop(conn);
    let found = parse_json(&v.ok(&["search", "--json", "mordvinov"]));
    assert_eq!(statement_hits(&found).len(), 1, "{found}");
    let stderr = all_output(&v.run(&["check"]));
    assert!(
        stderr.contains("covers version 1 of statement"),
        "check names the old block:\n{stderr}"
    );
    // Deleted: still found; check names the missing block.
    sql(&v.path, "DELETE FROM search_index");
    let stderr = all_output(&v.run(&["check"]));
    // (The unlock of `check` rebuilt an index that was wholly missing.)
    assert!(!stderr.contains("search index"), "{stderr}");
    assert_eq!(block_count(&v.path), 1);
    let found = parse_json(&v.ok(&["search", "--json", "mordvinov"]));
    assert_eq!(statement_hits(&found).len(), 1, "{found}");
    // A block moved to another place does not open there.
    sql(&v.path, "UPDATE search_index SET block = 7");
    let found = parse_json(&v.ok(&["search", "--json", "mordvinov"]));
    assert_eq!(statement_hits(&found).len(), 1, "{found}");
    let stderr = all_output(&v.run(&["check"]));
    assert!(
        stderr.contains("search index block 0 is missing"),
        "{stderr}"
    );
    assert!(stderr.contains("block 7"), "{stderr}");
    v.ok(&["check", "--repair-index"]);
}

#[test]
fn a_long_session_sees_what_another_process_wrote() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Kharkiv filtration"]);
    let first = v.secret_file("a.txt", "Nothing about the convoy.");
    v.ok(&[
        "statement",
        "add",
        "--case",
        CASE,
        "--witness",
        "A",
        "--file",
        arg(&first),
    ]);
    let mut cmd = v.std_command();
    cmd.arg("--vault")
        .arg(&v.path)
        .arg("--passphrase-file")
        .arg(&v.pass_file)
        .arg("shell")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start custodia shell");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"search --json sviatohirsk\nsearch --json sviatohirsk\n")
        .unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // Another process adds a statement with the word meanwhile.
    let second = v.secret_file("b.txt", "The convoy left Sviatohirsk at dawn.");
    v.ok(&[
        "statement",
        "add",
        "--case",
        CASE,
        "--witness",
        "B",
        "--file",
        arg(&second),
    ]);
    stdin
        .write_all(b"search --json sviatohirsk\nexit\n")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<usize> = stdout
        .match_indices("\"statements\": [")
        .map(|(at, _)| {
            let rest = &stdout[at..];
            let end = rest.find(']').unwrap();
            rest[..end].matches("\"id\"").count()
        })
        .collect();
    assert_eq!(counts, vec![0, 0, 1], "{stdout}");
}
