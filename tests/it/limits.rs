//! Limits (issue 17): absurd but possible inputs, each driven through the
//! real binary, each ending in success or a clear error, never a panic,
//! and always within bounded memory. Every command's peak resident set
//! size is measured (`/usr/bin/time -f %M` when present, else by polling
//! `VmHWM` in `/proc/PID/status`) and must stay under [`MAX_RSS_MIB`]; the
//! figures are printed (`cargo test --test it limits:: -- --nocapture`).
//!
//! * a 0-byte exhibit: added, extracted, exported and verified;
//! * a 10 MB single-line statement: accepted (the limit is 16 MiB), found
//!   by search, shown; a 17 MiB one is refused by name;
//! * a bundle tar of 1,000,000 empty entries: refused at the reader's
//!   100,000-entry limit without reading further;
//! * a key slot whose Argon2 memory is 2^40 KiB (set with SQL, as a
//!   keyless attacker could): refused before anything is allocated;
//! * a bundle whose bag-info.txt is 100 MB: refused by the 64 MiB bound on
//!   what a reader holds in memory, before reading it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::{arg, assert_no_panic, clean_env, TestVault};

/// Peak RSS allowed for any single command here.
const MAX_RSS_MIB: u64 = 150;

const CASE: &str = "KZ-2026-014";

/// A command's output (its peak RSS was checked and printed).
struct Measured {
    out: Output,
}

impl Measured {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// Runs the binary on `v`'s vault with `args`, measuring its peak RSS;
/// checks it did not panic and stayed under [`MAX_RSS_MIB`]; prints the
/// figure under `label`.
fn measure(v: &TestVault, label: &str, args: &[&str]) -> Measured {
    let dir = v.dir.path();
    let rss_file = dir.join("peak-rss.txt");
    let stdout = dir.join("measured.out");
    let stderr = dir.join("measured.err");
    let time = Path::new("/usr/bin/time");
    let use_time = time.is_file();
    let mut cmd = if use_time {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file);
        c.arg(common::binary());
        c
    } else {
        Command::new(common::binary())
    };
    clean_env(&mut cmd, dir);
    cmd.arg("--vault")
        .arg(&v.path)
        .arg("--passphrase-file")
        .arg(&v.pass_file)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).unwrap())
        .stderr(File::create(&stderr).unwrap());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn custodia");
    let mut polled_kib = 0u64;
    let status = loop {
        if !use_time {
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) {
                if let Some(kib) = s
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
                {
                    polled_kib = polled_kib.max(kib);
                }
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{label}: still running after 120 s"
        );
        std::thread::sleep(Duration::from_millis(if use_time { 10 } else { 2 }));
    };
    let peak_kib = if use_time {
        let text = std::fs::read_to_string(&rss_file).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.trim().parse::<u64>().ok())
            .next_back()
            .unwrap_or_else(|| panic!("{label}: no RSS figure from /usr/bin/time: {text}"))
    } else {
        polled_kib
    };
    let out = Output {
        status,
        stdout: std::fs::read(&stdout).unwrap(),
        stderr: std::fs::read(&stderr).unwrap(),
    };
    assert_no_panic(&out);
    let m = Measured { out };
    eprintln!(
        "limits: {label}: exit {}, peak RSS {:.1} MiB, {:.2} s ({})",
        m.code(),
        peak_kib as f64 / 1024.0,
        start.elapsed().as_secs_f64(),
        if use_time { "/usr/bin/time" } else { "VmHWM" }
    );
    assert!(
        peak_kib > 0 && peak_kib < MAX_RSS_MIB * 1024,
        "{label}: peak RSS {peak_kib} KiB (bound {MAX_RSS_MIB} MiB)\nstderr:\n{}",
        m.stderr()
    );
    m
}

/// [`measure`], demanding exit 0.
fn measure_ok(v: &TestVault, label: &str, args: &[&str]) -> Measured {
    let m = measure(v, label, args);
    assert_eq!(m.code(), 0, "{label} failed:\n{}", m.stderr());
    m
}

/// [`measure`], demanding a failure with a message that says `needle`.
fn measure_refused(v: &TestVault, label: &str, args: &[&str], needle: &str) -> Measured {
    let m = measure(v, label, args);
    // Errors go to stderr; `bundle verify` prints its verdict on stdout.
    let said = format!("{}{}", m.stdout(), m.stderr());
    assert_ne!(m.code(), 0, "{label} should have been refused:\n{said}");
    assert!(
        said.to_lowercase().contains(&needle.to_lowercase()),
        "{label}: the error does not say {needle:?}:\n{said}"
    );
    eprintln!("limits: {label}: {}", said.trim());
    m
}

fn vault_with_case() -> TestVault {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Limites"]);
    v
}

fn signer_of(v: &TestVault) -> String {
    let public = v.ok(&["key", "public"]);
    public
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .expect("a key line")
        .to_owned()
}

#[test]
fn a_zero_byte_exhibit_is_added_extracted_exported_and_verified() {
    let v = vault_with_case();
    let empty = v.file("vide.bin");
    File::create(&empty).unwrap();
    let added = measure_ok(
        &v,
        "0-byte exhibit: evidence add",
        &["evidence", "add", "--case", CASE, arg(&empty)],
    );
    let line = added.stdout();
    let mut parts = line.split_whitespace();
    let id = parts.next().expect("an id").to_owned();
    // SHA-256 of nothing.
    assert_eq!(
        parts.next(),
        Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    let out = v.file("extrait.bin");
    measure_ok(
        &v,
        "0-byte exhibit: evidence extract",
        &["evidence", "extract", &id, "--out", arg(&out)],
    );
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 0);
    let tar = v.file("bundle.tar");
    measure_ok(
        &v,
        "0-byte exhibit: export --no-encrypt",
        &["export", "--case", CASE, "--no-encrypt", "--out", arg(&tar)],
    );
    let signer = signer_of(&v);
    measure_ok(
        &v,
        "0-byte exhibit: bundle verify",
        &["bundle", "verify", arg(&tar), "--signer", &signer],
    );
    measure_ok(&v, "0-byte exhibit: check", &["check"]);
}

/// One line of about `len` bytes of French, with `marker` near the end.
fn long_line(len: usize, marker: &str) -> String {
    let words = "Le témoin déclare « qu'il a quitté l'unité » à Astana, réfugié depuis. ";
    let mut s = String::with_capacity(len + 100);
    while s.len() + words.len() + marker.len() + 2 < len {
        s.push_str(words);
    }
    s.push_str(marker);
    s.push('\n');
    s
}

#[test]
fn a_10_mb_single_line_statement_is_accepted_within_bounded_memory() {
    let v = vault_with_case();
    let file = v.file("long.txt");
    std::fs::write(&file, long_line(10_000_000, "Évgueni")).unwrap();
    let added = measure_ok(
        &v,
        "10 MB statement: statement add",
        &[
            "statement",
            "add",
            "--case",
            CASE,
            "--witness",
            "Témoin X",
            "--file",
            arg(&file),
        ],
    );
    let id = added.stdout().trim().to_owned();
    let found = measure_ok(&v, "10 MB statement: search", &["search", "evgueni"]);
    assert!(found.stdout().contains(&id[..6]), "{}", found.stdout());
    let shown = measure_ok(
        &v,
        "10 MB statement: statement show",
        &["statement", "show", &id],
    );
    assert!(shown.out.stdout.len() >= 10_000_000 - 100);

    // Over the 16 MiB limit: refused by name, nothing added.
    let too_long = v.file("too-long.txt");
    std::fs::write(&too_long, long_line(17 << 20, "fin")).unwrap();
    measure_refused(
        &v,
        "17 MiB statement: statement add",
        &[
            "statement",
            "add",
            "--case",
            CASE,
            "--witness",
            "Témoin Y",
            "--file",
            arg(&too_long),
        ],
        "MiB",
    );
}

/// A ustar header for an empty regular file (or directory) at `path`.
fn empty_header(path: &str, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).unwrap();
    h.set_size(0);
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_mtime(0);
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_cksum();
    h
}

#[test]
fn a_bundle_of_a_million_entries_is_refused_within_bounded_memory() {
    let v = TestVault::new();
    let path = v.file("million.tar");
    let start = Instant::now();
    {
        // Written header by header (512 bytes each, 512 MB in all): a
        // template with the name and checksum rewritten, no allocation per
        // entry.
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&path).unwrap());
        w.write_all(empty_header("bag/", true).as_bytes()).unwrap();
        w.write_all(empty_header("bag/data/", true).as_bytes())
            .unwrap();
        let mut h = empty_header("bag/data/e0000000", false);
        for i in 0..1_000_000u32 {
            let name = format!("bag/data/e{i:07}");
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            w.write_all(h.as_bytes()).unwrap();
        }
        w.write_all(&[0u8; 1024]).unwrap();
        w.flush().unwrap();
    }
    eprintln!(
        "limits: wrote a tar of 1,000,002 entries ({} MB) in {:.1} s",
        std::fs::metadata(&path).unwrap().len() / 1_000_000,
        start.elapsed().as_secs_f64()
    );
    measure_refused(
        &v,
        "1,000,000 entries: bundle verify",
        &["bundle", "verify", arg(&path)],
        "entries",
    );
    // With a signer vouched for, so the import gets as far as reading.
    let signer = signer_of(&v);
    measure_refused(
        &v,
        "1,000,000 entries: bundle import",
        &["bundle", "import", arg(&path), "--signer", &signer],
        "entries",
    );
    measure_ok(&v, "1,000,000 entries: check after the import", &["check"]);
}

/// Sets one KDF column of every passphrase slot, as `sqlite3` would.
fn set_slot_kdf(v: &TestVault, column: &str, value: i64) {
    let conn = rusqlite::Connection::open(&v.path).unwrap();
    let n = conn
        .execute(
            &format!("UPDATE key_slots SET {column} = ?1 WHERE {column} IS NOT NULL"),
            [value],
        )
        .unwrap();
    assert!(n >= 1, "no slot row updated");
}

#[test]
fn a_key_slot_asking_for_2_pow_40_kib_is_refused_before_any_allocation() {
    for (column, value) in [
        ("kdf_memory_kib", 1i64 << 40),
        ("kdf_memory_kib", i64::from(u32::MAX)),
        ("kdf_time_cost", 1i64 << 40),
        ("kdf_parallelism", 1i64 << 40),
    ] {
        let v = TestVault::new();
        set_slot_kdf(&v, column, value);
        let m = measure(&v, &format!("key slot {column} = {value}: info"), &["info"]);
        let stderr = m.stderr();
        assert_ne!(m.code(), 0, "{column} = {value} unlocked:\n{stderr}");
        assert!(
            !stderr.trim().is_empty() && stderr.lines().count() < 20,
            "{column} = {value}: not a clear error:\n{stderr}"
        );
        eprintln!("limits: {column} = {value}: {}", stderr.trim());
        let check = measure(
            &v,
            &format!("key slot {column} = {value}: check"),
            &["check"],
        );
        assert_ne!(check.code(), 0);
    }
}

/// An endless text of bag-info lines, cut at `len` bytes by `take`.
struct BagInfoLines {
    line: &'static [u8],
    at: usize,
}

impl Read for BagInfoLines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for b in buf.iter_mut() {
            *b = self.line[self.at];
            self.at = (self.at + 1) % self.line.len();
        }
        Ok(buf.len())
    }
}

#[test]
fn a_100_mb_bag_info_is_refused_within_bounded_memory() {
    let v = TestVault::new();
    let path = v.file("big-bag-info.tar");
    {
        let mut b = tar::Builder::new(BufWriter::new(File::create(&path).unwrap()));
        b.mode(tar::HeaderMode::Deterministic);
        let mut add = |name: &str, size: u64, data: &mut dyn Read| {
            let mut h = tar::Header::new_ustar();
            h.set_path(name).unwrap();
            h.set_size(size);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            b.append(&h, data).unwrap();
        };
        let bagit = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";
        add("bag/bagit.txt", bagit.len() as u64, &mut &bagit[..]);
        let size = 100_000_000u64;
        let mut lines = BagInfoLines {
            line: "Internal-Sender-Description: témoignage recueilli à Astana\n".as_bytes(),
            at: 0,
        };
        add("bag/bag-info.txt", size, &mut (&mut lines).take(size));
        add("bag/data/a.txt", 1, &mut &b"a"[..]);
        b.into_inner().unwrap().flush().unwrap();
    }
    measure_refused(
        &v,
        "100 MB bag-info.txt: bundle verify",
        &["bundle", "verify", arg(&path)],
        "MiB",
    );
    let signer = signer_of(&v);
    measure_refused(
        &v,
        "100 MB bag-info.txt: bundle import",
        &["bundle", "import", arg(&path), "--signer", &signer],
        "MiB",
    );
}
