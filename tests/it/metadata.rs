//! Issue 14.4: folders, and identifying metadata in exhibits. A folder is
//! added recursively with relative names; a photo's GPS position and camera
//! serial, a PDF's author are warned about on add and on export (kinds
//! only, never values); `evidence strip` seals a JPEG copy without its EXIF,
//! linked to the original, and `export --stripped` carries the copy.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::*;

const CASE: &str = "KZ-2026-014";
/// The camera serial written into the test photo: must never reach a log.
const SERIAL: &str = "SN4711-XYZ";

fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

fn be32(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// One 12-byte IFD entry (big-endian TIFF).
fn entry(tag: u16, kind: u16, count: u32, value: [u8; 4]) -> Vec<u8> {
    let mut e = Vec::with_capacity(12);
    e.extend(be16(tag));
    e.extend(be16(kind));
    e.extend(be32(count));
    e.extend(value);
    e
}

/// A small JPEG: JFIF APP0, an APP1 Exif block whose IFD0 points to an Exif
/// IFD (BodySerialNumber) and a GPS IFD (latitude and longitude), a
/// comment, then a scan and the end marker.
fn photo_with_gps_and_serial() -> Vec<u8> {
    const ASCII: u16 = 2;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    let mut tiff = b"MM\0*".to_vec();
    tiff.extend(be32(8));
    // IFD0 at 8: two pointers; 2 + 2 * 12 + 4 = 30 bytes, ends at 38.
    let exif_ifd = 38u32;
    // Exif IFD: one entry, 18 bytes; its string at 56 (11 bytes, padded to 12).
    let serial_at = 56u32;
    let gps_ifd = 68u32;
    // GPS IFD: four entries, 2 + 48 + 4 = 54 bytes, ends at 122.
    let lat_at = 122u32;
    let lon_at = 146u32;
    tiff.extend(be16(2));
    tiff.extend(entry(0x8769, LONG, 1, be32(exif_ifd)));
    tiff.extend(entry(0x8825, LONG, 1, be32(gps_ifd)));
    tiff.extend(be32(0));
    assert_eq!(tiff.len() as u32, exif_ifd);
    tiff.extend(be16(1));
    let serial = format!("{SERIAL}\0");
    tiff.extend(entry(0xA431, ASCII, serial.len() as u32, be32(serial_at)));
    tiff.extend(be32(0));
    assert_eq!(tiff.len() as u32, serial_at);
    tiff.extend(serial.as_bytes());
    tiff.push(0);
    assert_eq!(tiff.len() as u32, gps_ifd);
    tiff.extend(be16(4));
    tiff.extend(entry(0x0001, ASCII, 2, *b"N\0\0\0"));
    tiff.extend(entry(0x0002, RATIONAL, 3, be32(lat_at)));
    tiff.extend(entry(0x0003, ASCII, 2, *b"E\0\0\0"));
    tiff.extend(entry(0x0004, RATIONAL, 3, be32(lon_at)));
    tiff.extend(be32(0));
    assert_eq!(tiff.len() as u32, lat_at);
    for (num, den) in [(43, 1), (15, 1), (3012, 100), (76, 1), (56, 1), (4471, 100)] {
        tiff.extend(be32(num));
        tiff.extend(be32(den));
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);

    let mut jpeg = vec![0xFF, 0xD8];
    let mut segment = |marker: u8, payload: &[u8]| {
        jpeg.extend([0xFF, marker]);
        jpeg.extend(be16(payload.len() as u16 + 2));
        jpeg.extend(payload);
    };
    segment(0xE0, b"JFIF\0\x01\x01\0\0\x48\0\x48\0\0");
    segment(0xE1, &app1);
    segment(0xFE, b"taken near the border post");
    segment(0xDB, &[0u8; 65]);
    segment(0xDA, &[1, 1, 0, 0, 0x3F, 0]);
    jpeg.extend([0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]);
    jpeg
}

fn pdf_with_author() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj\n<< /Title (Report) /Author (Jane Roe) /Producer (Writer) >>\nendobj\n\
      trailer\n<< /Info 1 0 R >>\n%%EOF\n"
        .to_vec()
}

/// `photos/` with a dated subfolder, a hidden file, a PDF and a symbolic
/// link (not followed).
fn folder_tree(root: &Path) -> PathBuf {
    let photos = root.join("photos");
    fs::create_dir_all(photos.join("2026-03-14")).unwrap();
    fs::create_dir_all(photos.join("docs")).unwrap();
    fs::write(
        photos.join("2026-03-14/IMG_0042.jpg"),
        photo_with_gps_and_serial(),
    )
    .unwrap();
    fs::write(
        photos.join("2026-03-14/notes.txt"),
        "Three photos of the school.\n",
    )
    .unwrap();
    fs::write(photos.join("docs/report.pdf"), pdf_with_author()).unwrap();
    fs::write(photos.join(".hidden-note.txt"), "kept as well\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("2026-03-14/notes.txt", photos.join("link.txt")).unwrap();
    photos
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn evidence_by_name(v: &TestVault) -> Vec<(String, String, String)> {
    let list = parse_json(&v.ok(&["evidence", "list", "--json"]));
    let mut items: Vec<(String, String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["original_name"].as_str().unwrap().to_owned(),
                e["id"].as_str().unwrap().to_owned(),
                e["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    items.sort();
    items
}

fn vault_with_folder() -> (TestVault, PathBuf, std::process::Output) {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Photos de l'école"]);
    let photos = folder_tree(v.dir.path());
    let run = v.run(&["evidence", "add", "--case", CASE, arg(&photos)]);
    (v, photos, run)
}

#[test]
fn a_folder_is_added_recursively_with_relative_names_and_resumes_without_duplicates() {
    let (v, photos, run) = vault_with_folder();
    let stderr = expect_success(&run, &["evidence", "add"]);
    let _ = stderr;
    let err = stderr_of(&run);
    let names: Vec<String> = evidence_by_name(&v).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            "photos/.hidden-note.txt",
            "photos/2026-03-14/IMG_0042.jpg",
            "photos/2026-03-14/notes.txt",
            "photos/docs/report.pdf",
        ]
    );
    #[cfg(unix)]
    assert!(
        err.contains("Skipped photos/link.txt: symbolic link, not followed"),
        "{err}"
    );
    // Stopped or run twice: the files already in are skipped, not doubled.
    let again = v.run(&["evidence", "add", "--case", CASE, arg(&photos)]);
    expect_success(&again, &["evidence", "add"]);
    assert!(
        stderr_of(&again).contains("(skipped)"),
        "{}",
        stderr_of(&again)
    );
    assert_eq!(evidence_by_name(&v).len(), 4);
}

#[test]
fn metadata_kinds_are_warned_on_add_and_export_and_shown_but_values_never_logged() {
    let (v, _photos, run) = vault_with_folder();
    expect_success(&run, &["evidence", "add"]);
    let err = stderr_of(&run);
    assert!(
        err.contains("photos/2026-03-14/IMG_0042.jpg")
            && err.contains("carries identifying metadata: GPS position, camera serial"),
        "{err}"
    );
    assert!(
        err.contains("photos/docs/report.pdf") && err.contains("metadata: author name"),
        "{err}"
    );
    assert!(!err.contains(SERIAL) && !err.contains("Jane Roe"), "{err}");

    let items = evidence_by_name(&v);
    let photo = &items[1].1;
    let shown = parse_json(&v.ok(&["evidence", "show", photo, "--json"]));
    assert_eq!(
        shown["metadata"],
        serde_json::json!(["gps-position", "camera-serial"])
    );
    let text = v.ok(&["evidence", "show", photo]);
    assert!(
        text.contains("Metadata     GPS position, camera serial"),
        "{text}"
    );
    let notes = &items[2].1;
    let shown = parse_json(&v.ok(&["evidence", "show", notes, "--json"]));
    assert!(shown.get("metadata").is_none(), "{shown}");

    let out = v.file("bundle.tar");
    let run = v.run(&["export", "--case", CASE, "--no-encrypt", "--out", arg(&out)]);
    expect_success(&run, &["export"]);
    let err = stderr_of(&run);
    assert!(
        err.contains("data/evidence/photos_2026-03-14_IMG_0042.jpg")
            && err.contains("GPS position, camera serial"),
        "{err}"
    );
    assert!(err.contains("author name"), "{err}");

    let log = v.ok(&["log", "--json"]);
    assert!(log.contains("gps-position"), "the kinds are logged");
    // Hashes, ids and signatures are long random runs that may hold "4471"
    // by chance: they are blanked before looking for the values.
    let mut words_only = String::new();
    for token in log.split_inclusive(|c: char| !(c.is_alphanumeric() || "+/=".contains(c))) {
        let word_len = token
            .trim_end_matches(|c: char| !(c.is_alphanumeric() || "+/=".contains(c)))
            .len();
        if word_len > 20 {
            words_only.push_str("# ");
        } else {
            words_only.push_str(token);
        }
    }
    for value in [SERIAL, "Jane Roe", "3012", "4471", "border post"] {
        assert!(!words_only.contains(value), "{value} leaked into the log");
    }
}

fn untar(tar: &Path, into: &Path) -> PathBuf {
    fs::create_dir_all(into).unwrap();
    let status = std::process::Command::new("tar")
        .args(["-xf", arg(tar), "-C", arg(into)])
        .status()
        .unwrap();
    assert!(status.success());
    fs::read_dir(into)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("bagit.txt").is_file())
        .unwrap()
}

#[test]
fn strip_seals_a_linked_copy_without_exif_and_export_stripped_carries_it() {
    let (v, _photos, run) = vault_with_folder();
    expect_success(&run, &["evidence", "add"]);
    let items = evidence_by_name(&v);
    let (_, photo, photo_sha) = items[1].clone();
    let (_, pdf, _) = items[3].clone();

    let out = v.ok(&["evidence", "strip", &photo[..8], "--json"]);
    let copy = parse_json(&out);
    let copy_id = copy["id"].as_str().unwrap().to_owned();
    let copy_sha = copy["sha256"].as_str().unwrap().to_owned();
    assert_eq!(copy["stripped_from"], serde_json::json!(photo));
    assert_eq!(copy["original_name"], "photos/2026-03-14/IMG_0042.jpg");
    assert!(copy.get("metadata").is_none(), "{copy}");
    assert_ne!(copy_sha, photo_sha);

    // The copy's bytes: no Exif block, no serial, no comment; the image
    // data unchanged.
    let extracted = v.file("copy.jpg");
    v.ok(&["evidence", "extract", &copy_id, "--out", arg(&extracted)]);
    let bytes = fs::read(&extracted).unwrap();
    assert_eq!(sha256_hex(&bytes), copy_sha);
    assert!(find_any(&bytes, &["Exif", SERIAL, "border post"]).is_none());
    assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF, 0xE0]));
    assert!(bytes.ends_with(&[0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD9]));

    // Both hashes in the copy's create event; the original's chain names
    // the copy; the original is unchanged.
    let events = parse_json(&v.ok(&["log", "--json"]));
    let events = events.as_array().unwrap();
    let event = |e: &serde_json::Value| e.get("event").cloned().unwrap_or(e.clone());
    let create = events
        .iter()
        .map(event)
        .find(|e| e["action"] == "create" && e["details"]["stripped_from"] == photo.as_str())
        .expect("the copy's create event");
    assert_eq!(create["details"]["original_sha256"], photo_sha.as_str());
    assert_eq!(create["details"]["sha256"], copy_sha.as_str());
    assert!(events
        .iter()
        .map(event)
        .any(|e| e["details"]["stripped_copy"] == copy_id.as_str()));
    let original = parse_json(&v.ok(&["evidence", "show", &photo, "--json"]));
    assert_eq!(original["sha256"], photo_sha.as_str());

    // A PDF cannot be stripped safely: refused, nothing written.
    let refused = v.run(&["evidence", "strip", &pdf]);
    assert!(!refused.status.success());
    assert!(
        stderr_of(&refused).contains("only JPEG photos can be stripped"),
        "{}",
        stderr_of(&refused)
    );
    assert_eq!(evidence_by_name(&v).len(), 5);

    // Without --stripped: the originals only. With it: the copy in place.
    let plain = v.file("plain.tar");
    v.ok(&[
        "export",
        "--case",
        CASE,
        "--no-encrypt",
        "--out",
        arg(&plain),
    ]);
    let bag = untar(&plain, &v.file("plain"));
    let photo_file = bag.join("data/evidence/photos_2026-03-14_IMG_0042.jpg");
    assert_eq!(sha256_hex(&fs::read(&photo_file).unwrap()), photo_sha);
    assert_eq!(fs::read_dir(bag.join("data/evidence")).unwrap().count(), 4);

    let stripped = v.file("stripped.tar");
    let run = v.run(&[
        "export",
        "--case",
        CASE,
        "--no-encrypt",
        "--stripped",
        "--out",
        arg(&stripped),
    ]);
    expect_success(&run, &["export", "--stripped"]);
    let err = stderr_of(&run);
    assert!(!err.contains("GPS position"), "{err}");
    let bag = untar(&stripped, &v.file("stripped"));
    let photo_file = bag.join("data/evidence/photos_2026-03-14_IMG_0042.jpg");
    assert_eq!(sha256_hex(&fs::read(&photo_file).unwrap()), copy_sha);
    assert_eq!(fs::read_dir(bag.join("data/evidence")).unwrap().count(), 4);
    let export = events_after(&v, "export")
        .into_iter()
        .find(|e| e["details"]["stripped"] == true)
        .expect("an export event recording --stripped");
    assert_eq!(
        export["details"]["stripped_copies"],
        serde_json::json!([{ "original": photo, "copy": copy_id }])
    );
    // The bundle verifies against the exporter's key.
    let signer = v.file("signer.pub");
    fs::write(&signer, v.ok(&["key", "public"])).unwrap();
    let mut verify = v.bare_command();
    verify
        .args(["bundle", "verify"])
        .arg(&stripped)
        .arg("--signer")
        .arg(&signer);
    expect_success(&run_command(&mut verify), &["bundle", "verify"]);
    // And the vault, with the copy and its events, checks clean.
    v.ok(&["check"]);
}

fn events_after(v: &TestVault, action: &str) -> Vec<serde_json::Value> {
    parse_json(&v.ok(&["log", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.get("event").cloned().unwrap_or(e.clone()))
        .filter(|e| e["action"] == action)
        .collect()
}
