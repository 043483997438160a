//! Interoperability with the stock BagIt validator, `bagit.py` (PyPI package
//! `bagit`, the Library of Congress implementation a court would use), and
//! with GNU `tar`.
//!
//! A sealed-bundle-shaped bag is built with `formats::bagit` + `formats::tar`, unpacked with
//! `tar -x`, and must pass `bagit.py --validate`; changing one payload byte
//! (or one tag-file byte) must make the stock tool fail. These tests fail,
//! rather than skip, when `bagit.py` or GNU tar is missing: install with
//! `pip install bagit` and `apt-get install tar`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use custodia::formats::bagit::{
    parse_bag_info, parse_bagit_txt, parse_manifest, parse_payload_oxum, parse_tag_manifest,
    tag_manifest, write_bag_text, BagInfo, PayloadEntry,
};
use custodia::formats::tar::{
    dedupe_names, for_each_entry, sanitize_file_name, DeterministicTar, ReadLimits, TarError,
};
use sha2::{Digest, Sha256};

/// The stock validator: `bagit.py` on PATH, else `python3 -m bagit`.
fn bagit_py() -> Command {
    let candidates: [(&str, &[&str]); 2] = [("bagit.py", &[]), ("python3", &["-m", "bagit"])];
    for (program, args) in candidates {
        let works = Command::new(program)
            .args(args)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if works {
            let mut cmd = Command::new(program);
            cmd.args(args);
            return cmd;
        }
    }
    panic!("stock bagit.py not found: install it with `pip install bagit`");
}

fn validate(bag: &Path) -> Output {
    bagit_py().arg("--validate").arg(bag).output().unwrap()
}

fn run_tar(args: &[&str], archive: &Path, dir: Option<&Path>) -> Output {
    let mut cmd = Command::new("tar");
    cmd.env("TZ", "UTC").args(args).arg(archive);
    if let Some(dir) = dir {
        cmd.arg("-C").arg(dir);
    }
    let out = cmd
        .output()
        .expect("GNU tar is required: apt-get install tar");
    assert!(
        out.status.success(),
        "tar {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

const RUSSIAN: &str = "Фото «свидетель» — 01.jpg";

/// Payload files `(path, content)`: names go through `sanitize_file_name` and
/// `dedupe_names` the way evidence original names would.
fn payload() -> Vec<(String, Vec<u8>)> {
    let originals = [
        RUSSIAN.to_owned(),
        "../../100% genuine.txt".to_owned(),
        "photo.JPG".to_owned(),
        "Photo.jpg".to_owned(),
    ];
    let sanitized: Vec<String> = originals.iter().map(|n| sanitize_file_name(n)).collect();
    let names = dedupe_names(&sanitized);
    assert_eq!(
        names,
        [RUSSIAN, "100 genuine.txt", "photo.JPG", "Photo (2).jpg"]
    );
    let mut files: Vec<(String, Vec<u8>)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let content: Vec<u8> = (0..=255u8).cycle().skip(i).take(700 + 300 * i).collect();
            (format!("data/evidence/{name}"), content)
        })
        .collect();
    // A 150-byte path, which needs a pax header.
    let long = format!("data/testimony/{}.txt", "t".repeat(131));
    assert_eq!(long.len(), 150);
    files.push((long, b"Long-named statement.\n".to_vec()));
    files.push(("data/testimony/empty.txt".to_owned(), Vec::new()));
    files
}

fn bag_info() -> BagInfo {
    let fields = [
        ("Source-Organization", "Custodia test chambers"),
        ("Contact-Name", "Registry Clerk"),
        ("External-Identifier", "CASE-2024-0042"),
        (
            "External-Description",
            "Sealed bundle of witness testimony.\nSecond line, folded per RFC 8493.",
        ),
        ("Bag-Software-Agent", "custodia-bagit tests"),
    ];
    BagInfo {
        fields: fields
            .iter()
            .map(|(l, v)| ((*l).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// Builds the bundle tar: tag files, directories and payload, sorted by path.
fn build_bundle() -> Vec<u8> {
    let files = payload();
    let entries: Vec<PayloadEntry> = files
        .iter()
        .map(|(path, content)| PayloadEntry {
            path: path.clone(),
            size: content.len() as u64,
            sha256: sha256(content),
        })
        .collect();
    let text = write_bag_text(&entries, &bag_info(), time::macros::date!(2024 - 05 - 01)).unwrap();
    let tagmanifest = tag_manifest(&[
        ("bagit.txt", text.bagit_txt.as_bytes()),
        ("bag-info.txt", text.bag_info_txt.as_bytes()),
        ("manifest-sha256.txt", text.manifest_sha256_txt.as_bytes()),
    ])
    .unwrap();

    let mut all: Vec<(String, Option<Vec<u8>>)> = vec![
        ("bagit.txt".into(), Some(text.bagit_txt.into_bytes())),
        ("bag-info.txt".into(), Some(text.bag_info_txt.into_bytes())),
        (
            "manifest-sha256.txt".into(),
            Some(text.manifest_sha256_txt.into_bytes()),
        ),
        (
            "tagmanifest-sha256.txt".into(),
            Some(tagmanifest.into_bytes()),
        ),
        ("data".into(), None),
        ("data/evidence".into(), None),
        ("data/testimony".into(), None),
    ];
    all.extend(files.into_iter().map(|(p, c)| (p, Some(c))));
    all.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));

    let mut tar = DeterministicTar::new(Vec::new());
    for (path, content) in &all {
        match content {
            Some(bytes) => tar.add_file(path, bytes.len() as u64, &bytes[..]).unwrap(),
            None => tar.add_dir(path).unwrap(),
        }
    }
    tar.finish().unwrap()
}

/// Writes the bundle, unpacks it with stock `tar -x`; returns (tempdir, bag dir).
fn unpacked_bundle() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bundle.tar");
    std::fs::write(&archive, build_bundle()).unwrap();
    let bag = dir.path().join("bag");
    std::fs::create_dir(&bag).unwrap();
    run_tar(&["-xf"], &archive, Some(&bag));
    (dir, bag)
}

#[test]
fn stock_bagit_validates_our_bundle() {
    let (_dir, bag) = unpacked_bundle();
    let out = validate(&bag);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bagit.py --validate failed:\n{stderr}"
    );
    assert!(stderr.contains("is valid"), "{stderr}");
    // The stock tool hashed every payload file.
    for (path, _) in payload() {
        let name = path.rsplit('/').next().unwrap();
        assert!(stderr.contains(name), "{name} not verified:\n{stderr}");
    }
}

#[test]
fn stock_tar_lists_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bundle.tar");
    std::fs::write(&archive, build_bundle()).unwrap();
    let out = run_tar(&["-tvf"], &archive, None);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        listing.contains(&format!("data/evidence/{RUSSIAN}")),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("data/testimony/{}.txt", "t".repeat(131))),
        "{listing}"
    );
    for line in listing.lines() {
        assert!(line.contains(" 0/0 "), "{line}");
        assert!(line.contains(" 1970-01-01 00:00 "), "{line}");
    }
}

#[test]
fn stock_bagit_rejects_one_changed_payload_byte() {
    let (_dir, bag) = unpacked_bundle();
    let victim = bag.join("data/evidence").join(RUSSIAN);
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[123] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();
    let out = validate(&bag);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "tampered bag validated:\n{stderr}");
    assert!(stderr.contains("sha256 validation failed"), "{stderr}");
}

#[test]
fn stock_bagit_rejects_a_changed_tag_file() {
    let (_dir, bag) = unpacked_bundle();
    let info = bag.join("bag-info.txt");
    let text = std::fs::read_to_string(&info).unwrap();
    std::fs::write(&info, text.replace("Registry Clerk", "Registry Clerc")).unwrap();
    let out = validate(&bag);
    assert!(
        !out.status.success(),
        "bag with edited bag-info.txt validated:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bundle_bytes_are_reproducible() {
    assert_eq!(sha256(&build_bundle()), sha256(&build_bundle()));
}

/// Our own verifier path: stream the tar, hash each file, and check it
/// against the parsed manifests and Payload-Oxum.
#[test]
fn our_reader_and_parsers_verify_the_bundle() {
    let bundle = build_bundle();
    let mut files: Vec<(String, u64, [u8; 32], Vec<u8>)> = Vec::new();
    for_each_entry(&bundle[..], &ReadLimits::default(), |path, size, data| {
        let mut content = Vec::new();
        data.read_to_end(&mut content)?;
        files.push((path.to_owned(), size, sha256(&content), content));
        Ok::<(), TarError>(())
    })
    .unwrap();
    let find = |name: &str| -> &[u8] {
        &files
            .iter()
            .find(|f| f.0 == name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .3
    };
    let text = |name: &str| std::str::from_utf8(find(name)).unwrap().to_owned();

    assert_eq!(
        parse_bagit_txt(&text("bagit.txt")).unwrap(),
        ("1.0".to_owned(), "UTF-8".to_owned())
    );
    let info = parse_bag_info(&text("bag-info.txt")).unwrap();
    let description = info
        .iter()
        .find(|(l, _)| l == "External-Description")
        .unwrap();
    assert_eq!(description.1, bag_info().fields[3].1);
    let oxum = &info.iter().find(|(l, _)| l == "Payload-Oxum").unwrap().1;
    let (octets, count) = parse_payload_oxum(oxum).unwrap();

    let manifest = parse_manifest(&text("manifest-sha256.txt")).unwrap();
    let payload: Vec<_> = files.iter().filter(|f| f.0.starts_with("data/")).collect();
    assert_eq!(count, payload.len() as u64);
    assert_eq!(octets, payload.iter().map(|f| f.1).sum::<u64>());
    assert_eq!(manifest.len(), payload.len());
    for (path, digest) in &manifest {
        let file = payload.iter().find(|f| &f.0 == path).unwrap();
        assert_eq!(&file.2, digest, "{path}");
    }
    for (name, digest) in parse_tag_manifest(&text("tagmanifest-sha256.txt")).unwrap() {
        assert_eq!(sha256(find(&name)), digest, "{name}");
    }
}
