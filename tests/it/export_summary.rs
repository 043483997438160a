//! Small breakages of issue 14.8 on the library side: the export summary
//! counts every payload byte (a case of statements only is not "0 payload
//! bytes"), and the files of a bundle unpack dated the day of the export
//! (the time of the signed export event), not 1970-01-01.

use std::path::Path;

use crate::common::{arg, parse_json, TestVault};

const CASE: &str = "MM-2026-112";

#[test]
fn a_case_of_statements_only_reports_its_payload_bytes_and_unpacks_dated_today() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Sittwe, June 2026"]);
    for n in 0..3 {
        let file = v.secret_file(
            &format!("s{n}.txt"),
            &"The boats left the jetty at night; we counted them from the roof. ".repeat(20),
        );
        v.ok(&[
            "statement",
            "add",
            "--case",
            CASE,
            "--witness",
            &format!("Witness {n}"),
            "--file",
            arg(&file),
        ]);
    }
    let out = v.file("case.tar");
    let before = time_now();
    let summary = parse_json(&v.ok(&[
        "export",
        "--case",
        CASE,
        "--no-encrypt",
        "--out",
        arg(&out),
        "--json",
    ]));
    let after = time_now();
    let payload = summary["payload_bytes"].as_u64().expect("payload_bytes");
    // Three texts of ~1.3 KB each, their JSON, custody logs, keys, report.
    assert!(payload > 3 * 1300, "payload_bytes = {payload}");
    let archive_bytes = std::fs::metadata(&out).unwrap().len();
    assert!(
        payload < archive_bytes,
        "{payload} ≥ the whole tar ({archive_bytes})"
    );
    // Every entry carries the export's time.
    let mut archive = tar::Archive::new(std::fs::File::open(Path::new(&out)).unwrap());
    let mut entries = 0;
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let mtime = entry.header().mtime().unwrap();
        assert!(
            (before - 1..=after + 1).contains(&mtime),
            "{:?} is dated {mtime}, not the export time ({before}…{after})",
            entry.path().unwrap()
        );
        entries += 1;
    }
    assert!(entries > 10);
}

fn time_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
