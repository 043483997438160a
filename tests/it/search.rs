//! Search without flooding the log (issue 14.5): how many more hits there
//! are, exhibits by name and description, and the `--witness`, `--from`
//! and `--to` filters.

use std::fs;

use crate::common::{arg, parse_json, TestVault};

const CASE: &str = "SY-2026-007";

fn statement(v: &TestVault, witness: &str, taken: &str, body: &str) -> String {
    let file = v.secret_file(&format!("{witness}-{taken}.txt"), body);
    v.ok(&[
        "statement",
        "add",
        "--case",
        CASE,
        "--witness",
        witness,
        "--taken-at",
        taken,
        "--file",
        arg(&file),
    ])
    .trim()
    .to_owned()
}

fn search(v: &TestVault, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["search"];
    all.extend_from_slice(args);
    all.push("--json");
    parse_json(&v.ok(&all))
}

fn ids(found: &serde_json::Value, key: &str) -> Vec<String> {
    found[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn search_says_how_many_more_match_and_filters_by_witness_and_date() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Aleppo detention centre"]);
    let mut all = Vec::new();
    for day in 1..=5 {
        all.push(statement(
            &v,
            "Rami Haddad",
            &format!("2026-03-0{day}"),
            &format!("On day {day} the guards moved the detainees to the basement."),
        ));
    }
    let nour = statement(
        &v,
        "Nour Khalil",
        "2026-04-10",
        "The guards took our phones at the checkpoint.",
    );
    // Six match; three shown; the rest counted, in JSON and in words.
    let found = search(&v, &["guards", "--limit", "3"]);
    assert_eq!(ids(&found, "statements").len(), 3);
    assert_eq!(found["more_statements"], 3);
    let text = v.run(&["search", "guards", "--limit", "3"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&text.stdout),
        String::from_utf8_lossy(&text.stderr)
    );
    assert!(said.contains("3 more statement(s) match"), "{said}");
    // By witness (folded: case and accents do not matter).
    let found = search(&v, &["guards", "--witness", "nour"]);
    assert_eq!(ids(&found, "statements"), std::slice::from_ref(&nour));
    assert_eq!(found["more_statements"], 0);
    // By date taken, both ends included.
    let found = search(
        &v,
        &["guards", "--from", "2026-03-02", "--to", "2026-03-03"],
    );
    let mut got = ids(&found, "statements");
    got.sort();
    let mut want = vec![all[1].clone(), all[2].clone()];
    want.sort();
    assert_eq!(got, want);
    let found = search(&v, &["guards", "--from", "2026-04-01"]);
    assert_eq!(ids(&found, "statements"), [nour]);
    v.fails_with(&["search", "guards", "--from", "March"], 1);
}

#[test]
fn search_finds_exhibits_by_name_and_description() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Aleppo detention centre"]);
    let dir = v.file("intake");
    fs::create_dir_all(&dir).unwrap();
    let map = dir.join("basement-plan.pdf");
    fs::write(&map, b"%PDF-1.4 not really").unwrap();
    let photo = dir.join("IMG_0042.jpg");
    fs::write(&photo, [0xFFu8, 0xD8, 0xFF, 0xD9]).unwrap();
    let map_id = v.ok(&["evidence", "add", "--case", CASE, arg(&map)]);
    let map_id = map_id.split_whitespace().next().unwrap().to_owned();
    let photo_id = v.ok(&[
        "evidence",
        "add",
        "--case",
        CASE,
        "--description",
        "Courtyard of the détention centre, east wall",
        arg(&photo),
    ]);
    let photo_id = photo_id.split_whitespace().next().unwrap().to_owned();
    let found = search(&v, &["basement"]);
    assert_eq!(ids(&found, "exhibits"), [map_id]);
    let found = search(&v, &["detention", "courtyard"]);
    assert_eq!(ids(&found, "exhibits"), [photo_id]);
    assert!(ids(&found, "statements").is_empty());
    // A witness filter is about statements: no exhibit has a witness.
    assert!(ids(&search(&v, &["basement", "--witness", "Rami"]), "exhibits").is_empty());
}
