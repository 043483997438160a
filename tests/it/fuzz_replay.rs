//! Stable-toolchain replay of the fuzz targets (issue 17).
//!
//! `cargo fuzz` needs nightly; CI runs stable. So every file of the
//! committed seed corpus (`fuzz/corpus/TARGET/`) and a few thousand
//! seeded, deterministic mutations of each go through the very same target
//! bodies as the fuzzer (`fuzz/targets.rs`, included below), each call under
//! `catch_unwind`: any panic fails the test, naming the corpus file and the
//! mutation number, and the offending input is written to
//! `target/fuzz-replay-failures/` for `cargo fuzz run TARGET FILE`.
//!
//! Budget: each target stops mutating after [`TIME_BUDGET`] (the count
//! reached is printed), so the whole file stays near 20 s on a slow CI
//! machine while still doing its full count on a normal one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fuzz/targets.rs"]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Mutations per corpus file (at most; see [`TIME_BUDGET`]).
const MUTATIONS_PER_FILE: usize = 5000;
/// Wall-clock budget per target for the mutations.
const TIME_BUDGET: Duration = Duration::from_secs(3);

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that tend to matter to these parsers.
const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\n",
    b"\r\n",
    b" ",
    b"/",
    b"../",
    b"\"",
    b":",
    b"0",
    b"7777777",
    b"\xff\xff\xff\xff",
    b"\x00\x00\x00\x00",
    b"\xc3\xa9",
    b"\xe2\x80\xaf",
    b"\xd9\x8b",
    b"18446744073709551615",
    b"-1",
    b"{}",
    b"[]",
    b"ED",
    b"Ed",
    b"  ",
    b"untrusted comment: ",
    b"trusted comment: ",
    b"Payload-Oxum: ",
    b"\xab\xcd",
];

/// One random mutation (1 to 4 stacked edits) of `seed`, like libFuzzer's.
fn mutate(rng: &mut Rng, seed: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                let what = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(i..i, what.iter().copied());
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                out.drain(i..i + n);
            }
            4 if len > 0 => {
                out.truncate(rng.below(len));
            }
            5 if len > 0 => {
                // Duplicate a chunk somewhere else.
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(512));
                let chunk = out[i..i + n].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, chunk);
            }
            6 if len > 0 => {
                // Overwrite with an interesting value.
                let what = INTERESTING[rng.below(INTERESTING.len())];
                let i = rng.below(len);
                for (k, b) in what.iter().enumerate() {
                    if let Some(slot) = out.get_mut(i + k) {
                        *slot = *b;
                    }
                }
            }
            7 if !others.is_empty() => {
                // Splice with another corpus file (crossover).
                let other = &others[rng.below(others.len())];
                let cut = rng.below(out.len() + 1);
                let from = rng.below(other.len() + 1);
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            8 if len > 0 => {
                // An ASCII digit run changed (sizes, counts, octal fields).
                let i = rng.below(len);
                if out[i].is_ascii_digit() {
                    out[i] = b'0' + (rng.below(10) as u8);
                } else {
                    out[i] = out[i].wrapping_add(1);
                }
            }
            _ => {
                let i = rng.below(len + 1);
                out.insert(i, rng.next() as u8);
            }
        }
    }
    out
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn save_failure(target: &str, name: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-replay-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}-{name}"));
    std::fs::write(&path, input).unwrap();
    path
}

fn run_one(target: &str, f: targets::Target, label: &str, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
        let saved = save_failure(target, label, input);
        panic!(
            "fuzz target {target} panicked on {label} ({} bytes), saved as {}",
            input.len(),
            saved.display()
        );
    }
}

/// Replays one target's corpus and its mutations; returns (files, runs).
fn replay(target: &str) -> (usize, usize) {
    let f = targets::ALL
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .expect("a target of that name");
    let files = corpus(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target}/ is empty");
    let bodies: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
    let mut runs = 0;
    for (name, bytes) in &files {
        run_one(target, f, name, bytes);
        runs += 1;
    }
    let start = Instant::now();
    // Round-robin over files so a time cut still covers all of them.
    'outer: for round in 0..MUTATIONS_PER_FILE {
        for (k, (name, bytes)) in files.iter().enumerate() {
            if start.elapsed() > TIME_BUDGET {
                break 'outer;
            }
            // The seed names the mutation exactly: target, file, round.
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((k as u64) << 32) ^ round as u64);
            for _ in 0..3 {
                rng.next();
            }
            let input = mutate(&mut rng, bytes, &bodies);
            run_one(target, f, &format!("{name}.mut{round}"), &input);
            runs += 1;
        }
    }
    eprintln!(
        "fuzz replay {target}: {} corpus files, {runs} runs in {:.1} s",
        files.len(),
        start.elapsed().as_secs_f64()
    );
    (files.len(), runs)
}

#[test]
fn every_target_has_a_corpus_and_a_fuzz_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    for (name, _) in targets::ALL {
        assert!(corpus_dir(name).is_dir(), "no corpus for {name}");
        let bin = root.join("fuzz_targets").join(format!("{name}.rs"));
        let body = std::fs::read_to_string(&bin).unwrap_or_default();
        assert!(
            body.contains(&format!("targets::{name}")),
            "{} must call targets::{name}",
            bin.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
    }
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let (files, runs) = replay(stringify!($name));
                assert!(runs > files);
            }
        )*
    };
}

replay_tests!(
    tar_reader,
    bagit,
    minisign,
    checkpoint,
    envelope,
    key_slot,
    event,
    recovery_key,
    search_query,
    bundle_verify,
);
