//! Redaction that holds (issue 14, points 2 and 8), through the real
//! binary: a protected witness's listed aliases are replaced on export and
//! nothing else is (another man with a similar name keeps his), `export
//! --preview` shows every replacement before anything is written, the
//! export event counts the aliases without naming them, and a statement's
//! own fields are amendable with a new version that keeps the text.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::common::bag::expect_exit;
use crate::common::{arg, parse_json, run_command, TestVault};
use custodia::formats::tar::{for_each_entry, ReadLimits};
use serde_json::Value;

const CASE: &str = "KZ-2026-099";
const WITNESS: &str = "Evgeny Ivanov";
const PSEUDONYM: &str = "Témoin A";
const ALIASES: [&str; 3] = ["Yevgeny", "Евгений", "Ivanov"];

/// The protected witness's statement. "Evgeny Ivanov", "Yevgeny",
/// "Евгений" and "Ivanov" are him; "mon cousin Evgueni" is another man, and
/// "Ivanovka" is a village.
const TEXT: &str = "\
Je m'appelle Evgeny Ivanov. Ma mère m'appelait Yevgeny ; à Kharkiv on disait \
Евгений. La famille Ivanov a quitté le village d'Ivanovka en 2024.\n\
Mon frère Yevgeny Ivanov, c'est moi ; mon cousin Evgueni est resté à Belgorod.\n";

/// A vault with the case and the statement; returns it and the statement id.
fn fixture() -> (TestVault, String) {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Déserteur — recours"]);
    let text = v.file("statement.txt");
    fs::write(&text, TEXT).unwrap();
    let mut args = vec![
        "statement",
        "add",
        "--case",
        CASE,
        "--witness",
        WITNESS,
        "--pseudonym",
        PSEUDONYM,
        "--protected",
        "--language",
        "fr",
        "--place",
        "Astana",
        "--taken-at",
        "2026-03-14",
        "--file",
        arg(&text),
    ];
    for a in ALIASES {
        args.extend(["--alias", a]);
    }
    let id = v.ok(&args).trim().to_owned();
    (v, id)
}

/// Every file of a plain (`--no-encrypt`) bundle, by path inside the bag.
fn bag_files(tar: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let file = fs::File::open(tar).unwrap();
    for_each_entry::<_, custodia::formats::tar::TarError>(
        file,
        &ReadLimits::default(),
        |path, _size, reader| {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes).unwrap();
            let inner = path.split_once('/').map_or(path, |(_, rest)| rest);
            files.insert(inner.to_owned(), bytes);
            Ok(())
        },
    )
    .unwrap();
    files
}

/// The events of a custody JSON Lines file (each line an event's canonical
/// text with its signature).
fn events(jsonl: &[u8]) -> Vec<Value> {
    String::from_utf8(jsonl.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            match v["canonical"].as_str() {
                Some(canonical) => serde_json::from_str(canonical).unwrap(),
                None => v,
            }
        })
        .collect()
}

/// `log --json`: every event's action and details, in order.
fn log(v: &TestVault) -> Vec<Value> {
    parse_json(&v.ok(&["log", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

fn signer(v: &TestVault) -> String {
    v.ok(&["key", "public"])
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap()
        .to_owned()
}

/// The stock verification path: `custodia bundle verify FILE --signer KEY`,
/// with no vault.
fn verify(v: &TestVault, tar: &Path) -> std::process::Output {
    let signer = signer(v);
    run_command(
        v.bare_command()
            .args(["bundle", "verify"])
            .arg(tar)
            .args(["--signer", &signer]),
    )
}

fn export(v: &TestVault, name: &str) -> std::path::PathBuf {
    let out = v.file(name);
    v.ok(&["export", "--case", CASE, "--no-encrypt", "--out", arg(&out)]);
    out
}

#[test]
fn export_replaces_the_name_and_listed_aliases_and_leaves_the_cousin() {
    let (v, id) = fixture();
    let tar = export(&v, "bundle.tar");
    let files = bag_files(&tar);
    let text = String::from_utf8(files[&format!("data/statements/{id}/v1.txt")].clone()).unwrap();
    assert_eq!(
        text,
        "Je m'appelle Témoin A. Ma mère m'appelait Témoin A ; à Kharkiv on disait \
         Témoin A. La famille Témoin A a quitté le village d'Ivanovka en 2024.\n\
         Mon frère Témoin A, c'est moi ; mon cousin Evgueni est resté à Belgorod.\n"
    );
    // No spelling of him anywhere in the bag (the aliases are never written).
    for (path, bytes) in &files {
        let content = String::from_utf8_lossy(bytes);
        for name in ["Evgeny", "Yevgeny", "Евгений", "Ivanov "] {
            assert!(!content.contains(name), "{name:?} in {path}");
        }
    }
    // The stock verification path still calls the bundle valid, and says
    // what the redaction covers.
    let verdict = expect_exit(&verify(&v, &tar), 0, "bundle verify");
    assert!(verdict.contains("VERDICT: VALID"), "{verdict}");
    assert!(
        verdict.contains("names and aliases the exporter listed; other spellings are not covered"),
        "{verdict}"
    );
}

#[test]
fn the_export_event_records_how_many_aliases_never_which() {
    let (v, id) = fixture();
    let out = v.file("bundle.tar");
    let summary = parse_json(&v.ok(&[
        "export",
        "--case",
        CASE,
        "--no-encrypt",
        "--out",
        arg(&out),
        "--json",
    ]));
    assert_eq!(summary["aliases"], 3, "{summary}");
    let files = bag_files(&out);
    let custody = &files[&format!("data/custody/{id}.jsonl")];
    let export = events(custody)
        .into_iter()
        .find(|e| e["action"] == "export")
        .expect("an export event");
    assert_eq!(export["details"]["aliases"], 3, "{export}");
    for (path, bytes) in files.iter().filter(|(p, _)| p.starts_with("data/custody/")) {
        let text = String::from_utf8_lossy(bytes);
        for alias in ALIASES {
            assert!(!text.contains(alias), "{alias:?} in {path}");
        }
    }
    // Nor in the vault's own log.
    let log = serde_json::to_string(&log(&v)).unwrap();
    for alias in ALIASES {
        assert!(!log.contains(alias), "{alias:?} in the log");
    }
}

#[test]
fn preview_lists_every_replacement_in_context_and_writes_nothing() {
    let (v, id) = fixture();
    let before: Vec<String> = fs::read_dir(v.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let events_before = log(&v).len();
    let out = v.file("never.tar");
    let json = parse_json(&v.ok(&[
        "export",
        "--case",
        CASE,
        "--preview",
        "--no-encrypt",
        "--out",
        arg(&out),
        "--json",
    ]));
    let text_items: Vec<&Value> = json["replacements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["field"] == "text")
        .collect();
    let names: Vec<&str> = text_items
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Evgeny Ivanov",
            "Yevgeny",
            "Евгений",
            "Ivanov",
            "Yevgeny Ivanov"
        ],
        "{json}"
    );
    for item in &text_items {
        assert_eq!(item["id"], id.as_str());
        assert_eq!(item["version"], 1);
        assert_eq!(item["pseudonym"], PSEUDONYM);
        assert_eq!(item["replaced"], true);
    }
    assert_eq!(text_items[2]["before"], "…Yevgeny ; à Kharkiv on disait ");
    assert_eq!(json["aliases"], 3);
    // The witness field is listed too (withheld on export).
    assert!(json["replacements"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["field"] == "witness" && i["name"] == WITNESS));

    // The human form marks each name with its pseudonym, on one line.
    let human = v.ok(&["export", "--case", CASE, "--preview"]);
    assert!(
        human.contains("[Евгений → Témoin A]. La famille Ivanov a quitté"),
        "{human}"
    );
    assert!(human.contains("c'est moi ; mon cousin Evgue"), "{human}");
    assert!(!human.contains("[Evgueni"), "{human}");

    // Nothing written: no bundle, no temporary file, no export event. The
    // previews showed testimony and names, so each logged a view of the
    // statement (and of nothing else here), with a count and no name.
    assert!(!out.exists());
    let after: Vec<String> = fs::read_dir(v.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(before, after);
    let all = log(&v);
    let new: Vec<&Value> = all[events_before..]
        .iter()
        .filter(|e| e["action"] != "view" || e["details"]["export_preview"] == true)
        .collect();
    assert_eq!(new.len(), 2, "{new:?}");
    for e in new {
        assert_eq!(e["action"], "view");
        assert_eq!(e["record"], id.as_str());
        assert_eq!(e["details"]["replacements"], 6);
        let text = e.to_string();
        for name in ALIASES {
            assert!(!text.contains(name), "{name:?} in {text}");
        }
    }
    assert!(all.iter().all(|e| e["action"] != "export"));
}

#[test]
fn amending_place_and_date_makes_version_2_with_the_same_text() {
    let (v, id) = fixture();
    let out = v.ok(&[
        "statement",
        "amend",
        &id,
        "--reason",
        "Lieu et date corrigés d'après l'agenda",
        "--place",
        "Almaty",
        "--taken-at",
        "2026-03-15",
    ]);
    assert!(!out.contains("Almaty"), "{out}");
    let v2 = parse_json(&v.ok(&["statement", "show", &id, "--json"]));
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["place"], "Almaty");
    assert_eq!(v2["taken_at"], "2026-03-15");
    assert_eq!(v2["body"], TEXT);
    assert_eq!(v2["aliases"], serde_json::json!(ALIASES));
    let v1 = parse_json(&v.ok(&["statement", "show", &id, "--version", "1", "--json"]));
    assert_eq!(v1["place"], "Astana");
    assert_eq!(v1["body_sha256"], v2["body_sha256"]);
    // The amend event names the changed fields, never their values.
    let amend = log(&v)
        .into_iter()
        .find(|e| e["action"] == "amend")
        .expect("an amend event");
    assert_eq!(
        amend["details"]["fields"],
        serde_json::json!(["taken_at", "place"])
    );
    assert_eq!(amend["details"]["version"], 2);
    let text = amend.to_string();
    assert!(
        !text.contains("Almaty") && !text.contains("2026-03-15"),
        "{text}"
    );
    // Nothing to change: refused, no version made.
    let err = v.fails_with(
        &[
            "statement",
            "amend",
            &id,
            "--reason",
            "rien",
            "--place",
            "Almaty",
        ],
        1,
    );
    assert!(err.contains("nothing to change"), "{err}");
    // The bundle of both versions verifies with the stock path.
    let tar = export(&v, "amended.tar");
    let files = bag_files(&tar);
    assert!(files.contains_key(&format!("data/statements/{id}/v2.txt")));
    expect_exit(&verify(&v, &tar), 0, "bundle verify");
}

#[test]
fn an_amended_alias_list_replaces_the_old_one() {
    let (v, id) = fixture();
    v.ok(&[
        "statement",
        "amend",
        &id,
        "--reason",
        "Seul le surnom « Jenya » est utilisé dans les autres témoignages",
        "--alias",
        "Jenya",
        "--alias",
        "Евгений",
    ]);
    let shown = parse_json(&v.ok(&["statement", "show", &id, "--json"]));
    assert_eq!(shown["aliases"], serde_json::json!(["Jenya", "Евгений"]));
    let amend = log(&v)
        .into_iter()
        .find(|e| e["action"] == "amend")
        .unwrap();
    assert_eq!(amend["details"]["fields"], serde_json::json!(["aliases"]));
    assert!(!amend.to_string().contains("Jenya"));
    let preview = parse_json(&v.ok(&["export", "--case", CASE, "--preview", "--json"]));
    let names: Vec<&str> = preview["replacements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["field"] == "text")
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    // Both versions' texts: the whole name and Евгений, no longer Yevgeny
    // or Ivanov alone.
    assert_eq!(
        names,
        ["Evgeny Ivanov", "Евгений", "Evgeny Ivanov", "Евгений"],
        "{preview}"
    );
    assert_eq!(preview["aliases"], 2);
    // Clearing the list, and a witness cannot be made unprotected.
    v.ok(&[
        "statement",
        "amend",
        &id,
        "--reason",
        "r",
        "--clear-aliases",
    ]);
    let shown = parse_json(&v.ok(&["statement", "show", &id, "--json"]));
    assert!(shown
        .get("aliases")
        .is_none_or(|a| a == &serde_json::json!([])));
    v.fails_with(
        &["statement", "amend", &id, "--reason", "r", "--unprotect"],
        2,
    );
}

#[test]
fn an_alias_without_a_letter_is_refused() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "t"]);
    let text = v.file("s.txt");
    fs::write(&text, TEXT).unwrap();
    let err = v.fails_with(
        &[
            "statement",
            "add",
            "--case",
            CASE,
            "--witness",
            WITNESS,
            "--pseudonym",
            PSEUDONYM,
            "--protected",
            "--alias",
            "« — »",
            "--file",
            arg(&text),
        ],
        1,
    );
    assert!(err.contains("no letter or digit"), "{err}");
}

#[test]
fn a_witness_can_be_made_protected_by_amendment_but_needs_a_pseudonym() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "t"]);
    let text = v.file("s.txt");
    fs::write(&text, TEXT).unwrap();
    let id = v
        .ok(&[
            "statement",
            "add",
            "--case",
            CASE,
            "--witness",
            WITNESS,
            "--file",
            arg(&text),
        ])
        .trim()
        .to_owned();
    let err = v.fails_with(
        &["statement", "amend", &id, "--reason", "danger", "--protect"],
        1,
    );
    assert!(err.contains("needs a pseudonym"), "{err}");
    v.ok(&[
        "statement",
        "amend",
        &id,
        "--reason",
        "Menaces reçues",
        "--protect",
        "--pseudonym",
        PSEUDONYM,
        "--alias",
        "Yevgeny",
    ]);
    let amend = log(&v)
        .into_iter()
        .find(|e| e["action"] == "amend")
        .unwrap();
    assert_eq!(
        amend["details"]["fields"],
        serde_json::json!(["pseudonym", "protected", "aliases"])
    );
    // From now on every version's text is redacted, the first one included.
    let tar = export(&v, "b.tar");
    let files = bag_files(&tar);
    for n in [1, 2] {
        let text =
            String::from_utf8(files[&format!("data/statements/{id}/v{n}.txt")].clone()).unwrap();
        assert!(
            !text.contains("Evgeny Ivanov") && !text.contains("Yevgeny"),
            "{text}"
        );
        assert!(text.contains("mon cousin Evgueni"), "{text}");
        // Version 1 was taken unprotected; it is withheld all the same.
        let meta: Value =
            serde_json::from_slice(&files[&format!("data/statements/{id}/v{n}.json")]).unwrap();
        assert_eq!(meta["witness"], PSEUDONYM, "{meta}");
        assert_eq!(meta["identity_withheld"], true, "{meta}");
        assert!(!meta.to_string().contains("Ivanov"), "{meta}");
    }
    expect_exit(&verify(&v, &tar), 0, "bundle verify");
}
