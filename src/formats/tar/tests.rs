//! Tests of the tar writer, reader and file-name rules together (round trips).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::process::Command;

use super::names::MAX_FILE_NAME_LEN;
use super::write::{ascii_stand_in, pax_record, MAX_OCTAL_SIZE};
use super::*;

// ----- helpers ---------------------------------------------------------

fn build(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
    let mut tar = DeterministicTar::new(Vec::new());
    for (path, content) in entries {
        match content {
            Some(bytes) => tar.add_file(path, bytes.len() as u64, *bytes).unwrap(),
            None => tar.add_dir(path).unwrap(),
        }
    }
    tar.finish().unwrap()
}

/// Visited `(path, content)` pairs, or the error plus the paths visited before it.
type ReadOutcome = Result<Vec<(String, Vec<u8>)>, (TarError, Vec<String>)>;

/// Reads an archive with default limits.
fn read_all(bytes: &[u8]) -> ReadOutcome {
    read_with(bytes, &ReadLimits::default())
}

fn read_with(bytes: &[u8], limits: &ReadLimits) -> ReadOutcome {
    let mut seen = Vec::new();
    let result = for_each_entry(bytes, limits, |path, size, data| {
        let mut content = Vec::new();
        data.read_to_end(&mut content)?;
        assert_eq!(content.len() as u64, size);
        seen.push((path.to_owned(), content));
        Ok(())
    });
    match result {
        Ok(()) => Ok(seen),
        Err(e) => Err((e, seen.into_iter().map(|(p, _)| p).collect())),
    }
}

/// A raw ustar header, built by hand with a correct checksum.
fn raw_header(name: &[u8], typeflag: u8, size_field: &[u8], linkname: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..124 + size_field.len()].copy_from_slice(size_field);
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typeflag;
    h[157..157 + linkname.len()].copy_from_slice(linkname);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    set_checksum(&mut h);
    h
}

fn set_checksum(h: &mut [u8; 512]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn octal_size(size: u64) -> Vec<u8> {
    format!("{size:011o}\0").into_bytes()
}

fn base256_size(size: u64) -> Vec<u8> {
    let mut field = vec![0x80, 0, 0, 0];
    field.extend_from_slice(&size.to_be_bytes());
    field
}

/// Appends a file entry: header, data, padding.
fn push_file(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    out.extend_from_slice(&raw_header(
        name.as_bytes(),
        b'0',
        &octal_size(data.len() as u64),
        b"",
    ));
    push_data(out, data);
}

fn push_data(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    let pad = (512 - data.len() % 512) % 512;
    out.extend(std::iter::repeat_n(0u8, pad));
}

fn push_pax(out: &mut Vec<u8>, typeflag: u8, records: &[u8]) {
    out.extend_from_slice(&raw_header(
        b"././@PaxHeader",
        typeflag,
        &octal_size(records.len() as u64),
        b"",
    ));
    push_data(out, records);
}

fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0u8; 1024]);
}

/// An archive with one good file, then `bad` (raw bytes), then the end marker.
fn with_bad_entry(bad: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_file(&mut out, "good.txt", b"fine");
    out.extend_from_slice(bad);
    end(&mut out);
    out
}

/// Reads `with_bad_entry(bad)`, expecting an error after only `good.txt` was visited.
fn expect_rejected(bad: &[u8]) -> TarError {
    let (err, visited) = read_all(&with_bad_entry(bad)).expect_err("archive should be rejected");
    assert_eq!(visited, vec!["good.txt".to_owned()], "visited: {visited:?}");
    err
}

fn gnu_tar_available() -> bool {
    Command::new("tar")
        .arg("--version")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GNU tar"))
        .unwrap_or(false)
}

const RUSSIAN: &str = "data/evidence/Фото «свидетель» — 01.jpg";

fn long_name() -> String {
    let name = format!("data/{}.bin", "x".repeat(141));
    assert_eq!(name.len(), 150);
    name
}

fn sample_entries(long: &str) -> Vec<(&str, Option<&[u8]>)> {
    vec![
        ("bagit.txt", Some(&b"BagIt-Version: 1.0\n"[..])),
        ("data", None),
        ("data/a.txt", Some(&b"alpha"[..])),
        ("data/evidence", None),
        (RUSSIAN, Some(&b"\xff\xd8\xff jpeg-ish"[..])),
        (long, Some(&[7u8; 1500][..])),
        ("data/z", Some(&b""[..])),
    ]
}

// ----- writer ----------------------------------------------------------

#[test]
fn same_content_gives_identical_bytes() {
    let long = long_name();
    let mut sorted = sample_entries(&long);
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let first = build(&sorted);
    let second = build(&sorted);
    assert_eq!(first, second);
    assert_eq!(first.len() % 512, 0);
    assert!(first.ends_with(&[0u8; 1024]));
}

#[test]
fn headers_are_normalised() {
    let long = long_name();
    let mut entries = sample_entries(&long);
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let bytes = build(&entries);
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut paths = Vec::new();
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let h = entry.header();
        assert_eq!(h.mtime().unwrap(), 0);
        assert_eq!(h.uid().unwrap(), 0);
        assert_eq!(h.gid().unwrap(), 0);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
        assert_eq!(h.groupname_bytes(), Some(&b""[..]));
        assert!(h.as_ustar().is_some(), "ustar magic");
        let is_dir = h.entry_type().is_dir();
        assert_eq!(h.mode().unwrap(), if is_dir { 0o755 } else { 0o644 });
        paths.push(String::from_utf8(entry.path_bytes().into_owned()).unwrap());
    }
    assert_eq!(
        paths,
        vec![
            "bagit.txt".to_owned(),
            "data/".into(),
            "data/a.txt".into(),
            "data/evidence/".into(),
            RUSSIAN.into(),
            long.clone(),
            "data/z".into()
        ]
    );
    // Pax headers carry only `path=`: no time-, user- or host-dependent record.
    let mut raw = tar::Archive::new(&bytes[..]);
    let mut pax_count = 0;
    for entry in raw.entries().unwrap().raw(true) {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() == tar::EntryType::XHeader {
            pax_count += 1;
            assert_eq!(entry.header().path_bytes().as_ref(), b"././@PaxHeader");
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            let text = String::from_utf8(body).unwrap();
            assert_eq!(text.matches('\n').count(), 1, "{text}");
            assert!(text.contains(" path=data/"), "{text}");
        }
    }
    assert_eq!(pax_count, 2, "russian name and 150-byte name");
}

#[test]
fn pax_record_length_counts_itself() {
    assert_eq!(pax_record("path", b"a"), b"9 path=a\n");
    // 1+4+1+93+1 = 100 body bytes, plus 3 digits = 103.
    let value = vec![b'v'; 93];
    let rec = pax_record("path", &value);
    assert_eq!(rec.len(), 103);
    assert!(rec.starts_with(b"103 path="));
    // Boundary: body 98 + 2 digits = 100, which itself has 3 digits -> 101.
    let rec = pax_record("path", &[b'v'; 91]);
    assert_eq!(rec.len(), 101);
    assert!(rec.starts_with(b"101 "));
}

#[test]
fn ascii_stand_in_fits_ustar() {
    assert_eq!(ascii_stand_in("data/é.txt"), "data/_.txt");
    let dir = format!("{}/", "d".repeat(150));
    let stand = ascii_stand_in(&dir);
    assert_eq!(stand.len(), 100);
    assert!(stand.ends_with('/'));
}

#[test]
fn writer_rejects_out_of_order_and_duplicates_without_poisoning() {
    let mut tar = DeterministicTar::new(Vec::new());
    tar.add_dir("data").unwrap();
    tar.add_file("data/b", 1, &b"b"[..]).unwrap();
    for path in ["data/b", "data/a", "data"] {
        let err = tar.add_file(path, 0, &b""[..]).unwrap_err();
        assert!(
            matches!(&err, TarError::OutOfOrder { previous, .. } if previous == "data/b"),
            "{err:?}"
        );
    }
    let err = tar.add_dir("data/b").unwrap_err();
    assert!(matches!(err, TarError::OutOfOrder { .. }), "{err:?}");
    tar.add_file("data/c", 0, &b""[..]).unwrap();
    let bytes = tar.finish().unwrap();
    let files = read_all(&bytes).unwrap();
    assert_eq!(files.len(), 2);
}

#[test]
fn writer_orders_directories_without_trailing_slash() {
    // "data/x" < "data/x-1" < "data/x/a" in byte order ('-' < '/').
    let bytes = build(&[
        ("data/x", None),
        ("data/x-1", Some(&b"1"[..])),
        ("data/x/a", Some(&b"a"[..])),
    ]);
    let paths: Vec<String> = read_all(&bytes)
        .unwrap()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(paths, ["data/x-1", "data/x/a"]);
}

#[test]
fn writer_rejects_bad_paths() {
    let cases = [
        ("", PathProblem::Empty),
        ("/etc/x", PathProblem::Absolute),
        ("data/../x", PathProblem::ParentComponent),
        ("./data", PathProblem::CurrentComponent),
        ("data//x", PathProblem::EmptyComponent),
        ("data/", PathProblem::EmptyComponent),
        ("data\\x", PathProblem::Backslash),
        ("data/\nx", PathProblem::ControlCharacter('\n')),
        ("data/\0", PathProblem::ControlCharacter('\0')),
    ];
    for (path, want) in cases {
        let mut tar = DeterministicTar::new(Vec::new());
        let err = tar.add_file(path, 0, &b""[..]).unwrap_err();
        assert!(
            matches!(&err, TarError::InvalidPath { problem, .. } if *problem == want),
            "{path:?}: {err:?}"
        );
    }
    let mut tar = DeterministicTar::new(Vec::new());
    let err = tar.add_dir(&"a".repeat(4097)).unwrap_err();
    assert!(
        matches!(
            err,
            TarError::InvalidPath {
                problem: PathProblem::TooLong {
                    len: 4097,
                    max: 4096
                },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn writer_checks_source_length_and_then_poisons() {
    let mut tar = DeterministicTar::new(Vec::new());
    let err = tar.add_file("short", 10, &b"12345"[..]).unwrap_err();
    assert!(
        matches!(
            err,
            TarError::SourceTooShort {
                expected: 10,
                actual: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        tar.add_file("z", 0, &b""[..]).unwrap_err(),
        TarError::Poisoned
    ));
    assert!(matches!(tar.finish().unwrap_err(), TarError::Poisoned));

    let mut tar = DeterministicTar::new(Vec::new());
    let err = tar.add_file("long", 3, &b"1234"[..]).unwrap_err();
    assert!(
        matches!(err, TarError::SourceTooLong { expected: 3, .. }),
        "{err:?}"
    );
    assert!(matches!(tar.finish().unwrap_err(), TarError::Poisoned));
}

#[test]
fn buffered_entries_are_the_same_bytes_and_checked_the_same_way() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let mut plain = DeterministicTar::new(Vec::new());
    plain.add_file("a", 5, &b"hello"[..]).unwrap();
    plain.add_file("b", data.len() as u64, &data[..]).unwrap();
    let mut buffered = DeterministicTar::new(Vec::new());
    buffered.add_file_buffered("a", 5, &b"hello"[..]).unwrap();
    // A small buffer: the entry arrives in many pieces.
    let pieces = std::io::BufReader::with_capacity(777, &data[..]);
    buffered
        .add_file_buffered("b", data.len() as u64, pieces)
        .unwrap();
    assert_eq!(plain.finish().unwrap(), buffered.finish().unwrap());

    let mut tar = DeterministicTar::new(Vec::new());
    let err = tar
        .add_file_buffered("short", 10, &b"12345"[..])
        .unwrap_err();
    assert!(
        matches!(
            err,
            TarError::SourceTooShort {
                expected: 10,
                actual: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(tar.finish().unwrap_err(), TarError::Poisoned));
    let mut tar = DeterministicTar::new(Vec::new());
    let err = tar.add_file_buffered("long", 3, &b"1234"[..]).unwrap_err();
    assert!(
        matches!(err, TarError::SourceTooLong { expected: 3, .. }),
        "{err:?}"
    );
    assert!(matches!(tar.finish().unwrap_err(), TarError::Poisoned));
}

/// A reader producing `n` bytes without touching the buffer (its bytes are
/// whatever the caller's buffer held), so multi-GiB entries cost no memory
/// and little time.
struct Unfilled(u64);

impl Read for Unfilled {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = usize::try_from(self.0).map_or(buf.len(), |r| r.min(buf.len()));
        self.0 -= n as u64;
        Ok(n)
    }
}

/// Keeps the first `keep` bytes written, counts the rest.
struct Head {
    bytes: Vec<u8>,
    keep: usize,
    total: u64,
}

impl Write for Head {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.keep.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&buf[..room.min(buf.len())]);
        self.total += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn files_of_8_gib_or_more_get_a_pax_size_record() {
    let size = MAX_OCTAL_SIZE + 1; // 8 GiB
    let mut tar = DeterministicTar::new(Head {
        bytes: Vec::new(),
        keep: 1536,
        total: 0,
    });
    tar.add_file("big", size, Unfilled(size)).unwrap();
    let head = tar.finish().unwrap();
    assert_eq!(head.total, 1536 + size + 1024);
    let (pax_header, rest) = head.bytes.split_at(512);
    assert_eq!(pax_header[156], b'x');
    assert!(rest.starts_with(b"19 size=8589934592\n\0"));
    let header = &rest[512..1024];
    assert_eq!(&header[..4], b"big\0");
    assert_eq!(&header[124..136], &base256_size(size)[..]);

    // The reader accepts it (pax size agrees with the base-256 field) and
    // skips the data without buffering it.
    let mut input = head.bytes.clone();
    let chained = (&input[..1536])
        .chain(Unfilled(size))
        .chain(&[0u8; 1024][..]);
    let mut visited = Vec::new();
    for_each_entry(chained, &ReadLimits::default(), |path, len, _| {
        visited.push((path.to_owned(), len));
        Ok::<(), TarError>(())
    })
    .unwrap();
    assert_eq!(visited, vec![("big".to_owned(), size)]);

    // A pax size disagreeing with the header is rejected.
    input[512..531].copy_from_slice(b"19 size=8589934593\n");
    let chained = (&input[..1536])
        .chain(Unfilled(size))
        .chain(&[0u8; 1024][..]);
    let err = for_each_entry(chained, &ReadLimits::default(), |_, _, _| {
        panic!("visit must not be called")
    })
    .unwrap_err();
    assert!(
        matches!(err, TarError::BadPaxHeader { offset: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn gnu_tar_lists_and_extracts_the_output() {
    assert!(gnu_tar_available(), "GNU tar is required for this test");
    let long = long_name();
    let mut entries = sample_entries(&long);
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("out.tar");
    std::fs::write(&archive, build(&entries)).unwrap();

    let list = Command::new("tar")
        .env("TZ", "UTC")
        .arg("-tvf")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        list.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listing = String::from_utf8(list.stdout).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), entries.len(), "{listing}");
    assert!(lines[0].starts_with("-rw-r--r-- 0/0"), "{listing}");
    assert!(lines[1].starts_with("drwxr-xr-x 0/0"), "{listing}");
    assert!(
        lines.iter().all(|l| l.contains(" 1970-01-01 00:00 ")),
        "{listing}"
    );
    assert!(listing.contains(RUSSIAN), "{listing}");
    assert!(listing.contains(&long), "{listing}");

    let out = dir.path().join("x");
    std::fs::create_dir(&out).unwrap();
    let status = Command::new("tar")
        .arg("-xf")
        .arg(&archive)
        .arg("-C")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for (path, content) in &entries {
        let on_disk = out.join(path);
        match content {
            Some(bytes) => assert_eq!(&std::fs::read(&on_disk).unwrap(), bytes, "{path}"),
            None => assert!(on_disk.is_dir(), "{path}"),
        }
    }
}

// ----- reader: good input ---------------------------------------------

#[test]
fn reader_round_trips_writer_output() {
    let long = long_name();
    let mut entries = sample_entries(&long);
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let files = read_all(&build(&entries)).unwrap();
    let expected: Vec<(String, Vec<u8>)> = entries
        .iter()
        .filter_map(|(p, c)| c.map(|c| ((*p).to_owned(), c.to_vec())))
        .collect();
    assert_eq!(files, expected);
}

#[test]
fn reader_accepts_gnu_tar_pax_archives() {
    assert!(gnu_tar_available(), "GNU tar is required for this test");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("data/evidence")).unwrap();
    std::fs::write(src.join(RUSSIAN), b"photo").unwrap();
    std::fs::write(src.join(long_name()), b"long").unwrap();
    let archive = dir.path().join("gnu.tar");
    let status = Command::new("tar")
        .args(["--format=pax", "--sort=name", "-cf"])
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let files = read_all(&std::fs::read(&archive).unwrap()).unwrap();
    let mut paths: Vec<String> = files.into_iter().map(|(p, _)| p).collect();
    paths.sort();
    assert_eq!(paths, vec![RUSSIAN.to_owned(), long_name()]);
}

#[test]
fn reader_normalises_dot_components_and_skips_root() {
    let mut out = Vec::new();
    out.extend_from_slice(&raw_header(b"./", b'5', &octal_size(0), b""));
    out.extend_from_slice(&raw_header(b"./data/", b'5', &octal_size(0), b""));
    push_file(&mut out, "./data/./f", b"x");
    end(&mut out);
    let files = read_all(&out).unwrap();
    assert_eq!(files, vec![("data/f".to_owned(), b"x".to_vec())]);
}

#[test]
fn reader_allows_visitor_to_skip_data_and_tolerates_zero_padding() {
    let mut out = Vec::new();
    push_file(&mut out, "a", &[1u8; 1000]);
    push_file(&mut out, "b", b"bee");
    end(&mut out);
    out.extend_from_slice(&[0u8; 10240 - 3584]);
    let mut seen = Vec::new();
    for_each_entry(&out[..], &ReadLimits::default(), |path, _, data| {
        if path == "b" {
            let mut s = String::new();
            data.read_to_string(&mut s)?;
            seen.push(s);
        }
        Ok::<(), TarError>(())
    })
    .unwrap();
    assert_eq!(seen, vec!["bee".to_owned()]);
}

#[test]
fn visitor_errors_are_returned_unchanged() {
    let bytes = build(&[("a", Some(&b"1"[..])), ("b", Some(&b"2"[..]))]);
    let mut calls = 0;
    let err = for_each_entry(&bytes[..], &ReadLimits::default(), |path, _, _| {
        calls += 1;
        Err(TarError::InvalidPath {
            path: path.to_owned(),
            problem: PathProblem::Empty,
        })
    })
    .unwrap_err();
    assert_eq!(calls, 1);
    assert!(matches!(err, TarError::InvalidPath { path, .. } if path == "a"));
}

// ----- reader: hostile input ------------------------------------------

#[test]
fn rejects_parent_traversal() {
    let err = expect_rejected(&raw_header(b"../evil", b'0', &octal_size(0), b""));
    assert!(
        matches!(&err, TarError::UnsafePath { offset: 1024, path, problem: PathProblem::ParentComponent } if path == "../evil"),
        "{err:?}"
    );
    let err = expect_rejected(&raw_header(b"data/../../evil", b'5', &octal_size(0), b""));
    assert!(
        matches!(
            err,
            TarError::UnsafePath {
                problem: PathProblem::ParentComponent,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn rejects_absolute_paths() {
    let err = expect_rejected(&raw_header(b"/etc/x", b'0', &octal_size(0), b""));
    assert!(
        matches!(&err, TarError::UnsafePath { path, problem: PathProblem::Absolute, .. } if path == "/etc/x"),
        "{err:?}"
    );
}

#[test]
fn rejects_backslashes_controls_empty_components_and_bad_utf8() {
    let cases: [(&[u8], PathProblem); 4] = [
        (b"data\\x", PathProblem::Backslash),
        (b"data/\x1bx", PathProblem::ControlCharacter('\u{1b}')),
        (b"data//x", PathProblem::EmptyComponent),
        (b"data/x/", PathProblem::FileWithTrailingSlash),
    ];
    for (name, want) in cases {
        let err = expect_rejected(&raw_header(name, b'0', &octal_size(0), b""));
        assert!(
            matches!(&err, TarError::UnsafePath { problem, .. } if *problem == want),
            "{name:?}: {err:?}"
        );
    }
    let err = expect_rejected(&raw_header(b"data/\xff", b'0', &octal_size(0), b""));
    assert!(matches!(err, TarError::NonUtf8Path { .. }), "{err:?}");
}

#[test]
fn rejects_links_devices_and_other_types() {
    let cases: [(u8, &str); 7] = [
        (b'2', "symbolic link"),
        (b'1', "hard link"),
        (b'3', "character device"),
        (b'4', "block device"),
        (b'6', "fifo"),
        (b'L', "GNU long name"),
        (b'S', "GNU sparse file"),
    ];
    for (flag, kind_name) in cases {
        let err = expect_rejected(&raw_header(b"data/x", flag, &octal_size(0), b"/etc/passwd"));
        assert!(
            matches!(&err, TarError::ForbiddenEntryType { offset: 1024, path, kind, typeflag }
                if path == "data/x" && *kind == kind_name && *typeflag == char::from(flag)),
            "{kind_name}: {err:?}"
        );
    }
}

#[test]
fn rejects_duplicate_paths() {
    let mut bad = Vec::new();
    push_file(&mut bad, "./good.txt", b"again");
    let err = expect_rejected(&bad);
    assert!(
        matches!(&err, TarError::DuplicatePath { offset: 1024, path } if path == "good.txt"),
        "{err:?}"
    );
    // Directory given twice.
    let mut bad = raw_header(b"d/", b'5', &octal_size(0), b"").to_vec();
    bad.extend_from_slice(&raw_header(b"d", b'5', &octal_size(0), b""));
    let err = expect_rejected(&bad);
    assert!(matches!(err, TarError::DuplicatePath { .. }), "{err:?}");
}

#[test]
fn rejects_file_directory_conflicts() {
    let mut bad = Vec::new();
    push_file(&mut bad, "good.txt/inner", b"x");
    let err = expect_rejected(&bad);
    assert!(
        matches!(&err, TarError::FileUsedAsDirectory { file, .. } if file == "good.txt"),
        "{err:?}"
    );

    let mut archive = Vec::new();
    push_file(&mut archive, "good.txt", b"fine");
    push_file(&mut archive, "dir/sub/file", b"x");
    push_file(&mut archive, "dir", b"replaces the directory");
    end(&mut archive);
    let (err, visited) = read_all(&archive).unwrap_err();
    assert_eq!(visited, ["good.txt", "dir/sub/file"]);
    assert!(
        matches!(&err, TarError::FileReplacesDirectory { path, .. } if path == "dir"),
        "{err:?}"
    );

    // An explicit directory after files inside it is fine.
    let mut archive = Vec::new();
    push_file(&mut archive, "dir/f", b"x");
    archive.extend_from_slice(&raw_header(b"dir/", b'5', &octal_size(0), b""));
    end(&mut archive);
    assert_eq!(read_all(&archive).unwrap().len(), 1);
}

#[test]
fn rejects_a_one_tib_entry_by_limit_without_reading_it() {
    let tib = 1u64 << 40;
    // Only the header exists: no data follows. The limit fires first.
    let err = expect_rejected(&raw_header(b"huge", b'0', &base256_size(tib), b""));
    assert!(
        matches!(&err, TarError::EntryTooLarge { offset: 1024, size, max, .. }
            if *size == tib && *max == 64 << 30),
        "{err:?}"
    );
}

#[test]
fn rejects_entries_past_the_total_limit() {
    let limits = ReadLimits {
        max_total_size: 10,
        ..ReadLimits::default()
    };
    let mut archive = Vec::new();
    push_file(&mut archive, "a", b"123456");
    push_file(&mut archive, "b", b"12345");
    end(&mut archive);
    let (err, visited) = read_with(&archive, &limits).unwrap_err();
    assert_eq!(visited, ["a"]);
    assert!(
        matches!(&err, TarError::TotalTooLarge { path, size: 5, max: 10, .. } if path == "b"),
        "{err:?}"
    );
}

#[test]
fn rejects_absurd_size_fields() {
    // Negative base-256.
    let mut field = vec![0xff; 4];
    field.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    let err = expect_rejected(&raw_header(b"neg", b'0', &field, b""));
    assert!(
        matches!(err, TarError::BadSizeField { offset: 1024, .. }),
        "{err:?}"
    );
    // Base-256 beyond 64 bits (high bytes set; the tar crate alone would drop them).
    let mut field = vec![0x80, 0, 0, 1];
    field.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    let err = expect_rejected(&raw_header(b"wide", b'0', &field, b""));
    assert!(matches!(err, TarError::BadSizeField { .. }), "{err:?}");
    // Near u64::MAX: position arithmetic would overflow.
    let err = expect_rejected(&raw_header(b"max", b'0', &base256_size(u64::MAX - 10), b""));
    assert!(matches!(err, TarError::Malformed { .. }), "{err:?}");
    // Not a number at all.
    let err = expect_rejected(&raw_header(b"junk", b'0', b"12x45678901\0", b""));
    assert!(
        matches!(&err, TarError::Malformed { detail, .. } if detail.contains("numeric")),
        "{err:?}"
    );
}

#[test]
fn rejects_more_entries_than_allowed() {
    let limits = ReadLimits {
        max_entries: 3,
        ..ReadLimits::default()
    };
    let mut archive = Vec::new();
    for name in ["a", "b", "c", "d"] {
        push_file(&mut archive, name, name.as_bytes());
    }
    end(&mut archive);
    let (err, visited) = read_with(&archive, &limits).unwrap_err();
    assert_eq!(visited, ["a", "b", "c"]);
    assert!(
        matches!(
            err,
            TarError::TooManyEntries {
                offset: 3072,
                max: 3
            }
        ),
        "{err:?}"
    );

    // Implied directories are bounded too.
    let mut archive = Vec::new();
    push_file(&mut archive, "a/b/c/d/e", b"");
    end(&mut archive);
    let (err, visited) = read_with(&archive, &limits).unwrap_err();
    assert!(visited.is_empty());
    assert!(
        matches!(err, TarError::TooManyDirectories { max: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn rejects_long_paths() {
    let limits = ReadLimits {
        max_path_len: 10,
        ..ReadLimits::default()
    };
    let mut archive = Vec::new();
    push_file(&mut archive, "short", b"");
    push_file(&mut archive, "eleven-char", b"");
    end(&mut archive);
    let (err, visited) = read_with(&archive, &limits).unwrap_err();
    assert_eq!(visited, ["short"]);
    assert!(
        matches!(
            err,
            TarError::UnsafePath {
                problem: PathProblem::TooLong { len: 11, max: 10 },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn longest_writable_paths_are_readable_with_default_limits() {
    let dir = "d".repeat(MAX_WRITE_PATH_LEN);
    let file = format!("{}/f", "d".repeat(MAX_WRITE_PATH_LEN - 2));
    let bytes = build(&[(&file, Some(&b"x"[..])), (&dir, None)]);
    let files = read_all(&bytes).unwrap();
    assert_eq!(files, vec![(file, b"x".to_vec())]);
}

#[test]
fn rejects_truncated_archives() {
    let mut full = Vec::new();
    push_file(&mut full, "good.txt", b"fine");
    push_file(&mut full, "second", &[9u8; 700]);
    end(&mut full);
    assert_eq!(read_all(&full).unwrap().len(), 2);

    // Cut inside a header, inside data, at an entry boundary (no end
    // marker), and inside the end marker.
    for cut in [1024 + 100, 1024 + 512 + 300, 2560, 2560 + 512, 2560 + 700] {
        let (err, _) = read_all(&full[..cut]).unwrap_err();
        assert!(
            matches!(err, TarError::Truncated { .. }),
            "cut {cut}: {err:?}"
        );
    }
    // The visitor sees an error, not a short file, when data is cut.
    let mut saw_error = false;
    let err = for_each_entry(
        &full[..1024 + 512 + 300],
        &ReadLimits::default(),
        |p, _, d| {
            if p == "second" {
                let mut buf = Vec::new();
                saw_error = d.read_to_end(&mut buf).is_err();
                assert_eq!(buf.len(), 300);
                d.read_to_end(&mut buf)?;
            }
            Ok(())
        },
    )
    .unwrap_err();
    assert!(saw_error);
    assert!(matches!(err, TarError::Truncated { .. }), "{err:?}");
    // Empty input is not an archive.
    assert!(matches!(
        read_all(&[]).unwrap_err().0,
        TarError::Truncated { .. }
    ));
}

#[test]
fn rejects_data_after_the_end_marker_and_bad_checksums() {
    let mut archive = Vec::new();
    push_file(&mut archive, "good.txt", b"fine");
    end(&mut archive);
    archive.extend_from_slice(b"hidden");
    let (err, _) = read_all(&archive).unwrap_err();
    assert!(matches!(err, TarError::Malformed { .. }), "{err:?}");

    let mut archive = Vec::new();
    push_file(&mut archive, "good.txt", b"fine");
    archive.extend_from_slice(&[0u8; 512]);
    push_file(&mut archive, "after-lone-zero-block", b"x");
    end(&mut archive);
    let (err, _) = read_all(&archive).unwrap_err();
    assert!(matches!(err, TarError::Malformed { .. }), "{err:?}");

    let mut header = raw_header(b"tampered", b'0', &octal_size(0), b"");
    header[0] = b'T';
    let err = expect_rejected(&header);
    assert!(
        matches!(&err, TarError::Malformed { detail, .. } if detail.contains("checksum")),
        "{err:?}"
    );
}

#[test]
fn pax_paths_are_checked_like_ustar_paths() {
    let mut bad = Vec::new();
    push_pax(
        &mut bad,
        b'x',
        &pax_record("path", b"data/../../etc/cron.d/x"),
    );
    bad.extend_from_slice(&raw_header(b"innocent", b'0', &octal_size(0), b""));
    let err = expect_rejected(&bad);
    assert!(
        matches!(&err, TarError::UnsafePath { offset: 2048, path, problem: PathProblem::ParentComponent }
            if path == "data/../../etc/cron.d/x"),
        "{err:?}"
    );

    let mut bad = Vec::new();
    push_pax(&mut bad, b'x', &pax_record("path", b"a\nb"));
    bad.extend_from_slice(&raw_header(b"innocent", b'0', &octal_size(0), b""));
    let err = expect_rejected(&bad);
    assert!(
        matches!(
            err,
            TarError::UnsafePath {
                problem: PathProblem::ControlCharacter('\n'),
                ..
            }
        ),
        "{err:?}"
    );

    // A pax path on a symlink is reported with that path.
    let mut bad = Vec::new();
    push_pax(
        &mut bad,
        b'x',
        &pax_record("path", "data/ссылка".as_bytes()),
    );
    bad.extend_from_slice(&raw_header(b"x", b'2', &octal_size(0), b"/"));
    let err = expect_rejected(&bad);
    assert!(
        matches!(&err, TarError::ForbiddenEntryType { path, .. } if path == "data/ссылка"),
        "{err:?}"
    );
}

#[test]
fn rejects_hostile_pax_headers() {
    let cases: Vec<Vec<u8>> = vec![
        pax_record("linkpath", b"/etc/passwd"),
        pax_record("GNU.sparse.map", b"0,1"),
        pax_record("path", b""),
        [pax_record("path", b"a"), pax_record("path", b"b")].concat(),
        pax_record("size", b"-1"),
        b"99 path=short\n".to_vec(),
        b"x path=a\n".to_vec(),
        b"9 path=a!".to_vec(),
        b"6 a=b\n\n".to_vec(),
        b"no-length".to_vec(),
    ];
    for records in cases {
        let mut bad = Vec::new();
        push_pax(&mut bad, b'x', &records);
        bad.extend_from_slice(&raw_header(b"innocent", b'0', &octal_size(0), b""));
        let err = expect_rejected(&bad);
        assert!(
            matches!(err, TarError::BadPaxHeader { offset: 1024, .. }),
            "{:?}: {err:?}",
            String::from_utf8_lossy(&records)
        );
    }
    // Global headers may not set path or size.
    let mut bad = Vec::new();
    push_pax(&mut bad, b'g', &pax_record("path", b"evil"));
    let err = expect_rejected(&bad);
    assert!(matches!(err, TarError::BadPaxHeader { .. }), "{err:?}");
    // Harmless global records are accepted.
    let mut ok = Vec::new();
    push_pax(&mut ok, b'g', &pax_record("comment", b"made by hand"));
    push_file(&mut ok, "f", b"1");
    end(&mut ok);
    assert_eq!(read_all(&ok).unwrap().len(), 1);
    // Two pax headers in a row, and a dangling one at the end.
    let mut bad = Vec::new();
    push_pax(&mut bad, b'x', &pax_record("path", b"a"));
    push_pax(&mut bad, b'x', &pax_record("path", b"b"));
    let err = expect_rejected(&bad);
    assert!(
        matches!(err, TarError::BadPaxHeader { offset: 2048, .. }),
        "{err:?}"
    );
    let mut bad = Vec::new();
    push_pax(&mut bad, b'x', &pax_record("path", b"a"));
    let err = expect_rejected(&bad);
    assert!(matches!(err, TarError::Truncated { .. }), "{err:?}");
}

#[test]
fn rejects_oversized_pax_headers_without_buffering_them() {
    // Claims 1 GiB of records; only the header is present.
    let bad = raw_header(b"././@PaxHeader", b'x', &octal_size(1 << 30), b"");
    let err = expect_rejected(&bad);
    assert!(
        matches!(&err, TarError::BadPaxHeader { detail, .. } if detail.contains("exceed")),
        "{err:?}"
    );
}

#[test]
fn rejects_directories_with_data() {
    let mut bad = raw_header(b"d/", b'5', &octal_size(3), b"").to_vec();
    push_data(&mut bad, b"abc");
    let err = expect_rejected(&bad);
    assert!(matches!(err, TarError::Malformed { .. }), "{err:?}");
}

// ----- names ------------------------------------------------------------

#[test]
fn sanitize_file_name_cases() {
    let cases = [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "etcpasswd"),
        ("..\\..\\boot.ini", "boot.ini"),
        ("  .hidden  ", "hidden"),
        (". .. . x", "x"),
        ("a\u{0}b\u{1f}c\u{7f}d\ne", "a_b_c_d_e"),
        ("a:b*c?d\"e<f>g|h.txt", "a_b_c_d_e_f_g_h.txt"),
        ("report.", "report"),
        ("report. . ", "report"),
        ("con.txt", "_con.txt"),
        ("NUL", "_NUL"),
        ("Com1.tar.gz", "_Com1.tar.gz"),
        ("lpt9 .log", "_lpt9 .log"),
        ("console.txt", "console.txt"),
        ("COM10", "COM10"),
        ("De\u{301}claration.txt", "D\u{e9}claration.txt"),
        ("Фото «свидетель» — 01.jpg", "Фото «свидетель» — 01.jpg"),
        ("evil\u{202e}gpj.exe", "evilgpj.exe"),
        ("100%.txt", "100.txt"),
        ("", "unnamed"),
        ("...", "unnamed"),
        (" / \\ ", "unnamed"),
        ("証拠 写真.jpeg", "証拠 写真.jpeg"),
    ];
    for (input, want) in cases {
        assert_eq!(sanitize_file_name(input), want, "input {input:?}");
    }
}

#[test]
fn sanitize_file_name_caps_length_keeping_extension() {
    let long = format!("{}.jpg", "я".repeat(150)); // 300 + 4 bytes
    let out = sanitize_file_name(&long);
    assert!(out.len() <= MAX_FILE_NAME_LEN, "{}", out.len());
    assert!(out.ends_with("я.jpg"), "{out}");
    assert_eq!(out.len(), 200); // 98 two-byte chars + ".jpg"
    let no_ext = "ж".repeat(150);
    let out = sanitize_file_name(&no_ext);
    assert_eq!(out.len(), 200);
    assert!(out.chars().all(|c| c == 'ж'));
    // An "extension" that is too long is not kept specially.
    let odd = format!("{}.{}", "a".repeat(10), "b".repeat(250));
    assert_eq!(sanitize_file_name(&odd).len(), 200);
    // Cutting right before a space trims it.
    let spaced = format!("{} tail.png", "a".repeat(195));
    assert_eq!(
        sanitize_file_name(&spaced),
        format!("{}.png", "a".repeat(195))
    );
}

#[test]
fn dedupe_names_is_deterministic_and_case_insensitive() {
    let names: Vec<String> = [
        "a.jpg",
        "A.JPG",
        "b",
        "a.jpg",
        "a (2).jpg",
        "B",
        "c.tar.gz",
        "C.tar.gz",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let out = dedupe_names(&names);
    assert_eq!(
        out,
        vec![
            "a.jpg",
            "A (3).JPG",
            "b",
            "a (4).jpg",
            "a (2).jpg",
            "B (2)",
            "c.tar.gz",
            "C.tar (2).gz"
        ]
    );
    assert_eq!(dedupe_names(&names), out);
    let lower: HashSet<String> = out.iter().map(|n| n.to_lowercase()).collect();
    assert_eq!(lower.len(), out.len());
}

#[test]
fn dedupe_names_folds_normalisation_and_case_as_macos_and_windows_do() {
    let raw = [
        "D\u{e9}claration.txt",
        "De\u{301}claration.txt",
        "report",
        "report.",
        "a:b.txt",
        "a_b.txt",
        "Stra\u{df}e.pdf",
        "STRASSE.pdf",
    ];
    let names: Vec<String> = raw.iter().map(|n| sanitize_file_name(n)).collect();
    let out = dedupe_names(&names);
    let keys: HashSet<String> = out.iter().map(|n| name_fold_key(n)).collect();
    assert_eq!(keys.len(), raw.len(), "{out:?}");
    assert_eq!(out[0], "D\u{e9}claration.txt");
    assert_eq!(out[1], "D\u{e9}claration (2).txt");
    assert_eq!(out[3], "report (2)");
    assert_eq!(out[5], "a_b (2).txt");
    assert_eq!(out[7], "STRASSE (2).pdf");
}

#[test]
fn dedupe_names_respects_the_length_cap() {
    let name = format!("{}.jpg", "x".repeat(196));
    let out = dedupe_names(&[name.clone(), name.clone(), name]);
    assert_eq!(out[0].len(), 200);
    assert_eq!(out[1], format!("{} (2).jpg", "x".repeat(192)));
    assert_eq!(out[2], format!("{} (3).jpg", "x".repeat(192)));
}
