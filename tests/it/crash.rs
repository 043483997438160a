//! Kills, crash loops and concurrency (SPEC §7, issue 17).
//!
//! - `a_kill_at_the_*_commit_*`: `strace` kills `custodia` with SIGKILL
//!   on the `ftruncate` of the rollback journal, which is the commit of the
//!   transaction holding the extract or export event. The output file is
//!   then written except its last bytes (held back until the commit), so
//!   the leftover must be incomplete: no copy exists that the log does not
//!   record. The next extract or export to that directory removes it.
//! - `crash_loop`: SIGKILL at random moments during evidence add,
//!   statement import, passphrase change, user add and remove, bundle
//!   import and export; after each kill `check` is clean, the vault opens
//!   with the old or the new passphrase, and everything that reported
//!   success is there, byte for byte. `CUSTODIA_CRASH_KILLS` (default 50)
//!   sets the number of kills and `CUSTODIA_CRASH_SEED` replays a run;
//!   `scripts/crash-loop.sh --long` runs 1,000.
//! - `concurrent_readers_and_writers`: 6 processes at once for
//!   `CUSTODIA_CONCURRENCY_SECS` (default 12) seconds (record writers,
//!   readers, and one that adds and removes users and changes a user's
//!   passphrase back and forth): each command
//!   succeeds or says the vault is busy, within the busy timeout, never
//!   warns of tampering, and nothing that succeeded is lost.
//!
//! The kill tests need `strace` (CI installs it; `.ci/run`); elsewhere
//! they are skipped with a note unless `CI` or `CUSTODIA_REQUIRE_TOOLS` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;

/// Bytes `custodia` holds back until the commit (`files::HELD_BACK`).
const HELD_BACK: u64 = 64 * 1024;

/// Words that must never appear after a kill or under concurrency: each
/// would be a false alarm (or a real problem).
const ALARMS: &[&str] = &[
    "local checkpoint",
    "tamper",
    "reordered",
    "old copy",
    "rolled back",
    "panicked",
    "corrupt",
    "damaged",
];

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_alarm(out: &Output, what: &str) {
    let all = text(out).to_lowercase();
    for alarm in ALARMS {
        assert!(!all.contains(alarm), "{what}: {alarm:?} in:\n{all}");
    }
}

/// Whether `strace` can trace here; if not, skips (fails under CI).
fn strace_usable(test: &str) -> bool {
    let ok = Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !crate::common::tools_required(),
            "{test}: strace is missing or cannot trace (CI installs it: .ci/run)"
        );
        eprintln!("{test}: skipped: strace is missing or cannot trace here");
    }
    ok
}

/// Runs `custodia ARGS` on `v` under strace, killed (SIGKILL) on its
/// first `ftruncate`: the rollback journal's truncation, i.e. the commit.
fn killed_at_commit(v: &TestVault, args: &[&str]) -> Output {
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-o",
        "/dev/null",
        "-e",
        "trace=ftruncate",
        "-e",
        "inject=ftruncate:signal=SIGKILL:when=1",
    ]);
    cmd.arg(binary())
        .arg("--vault")
        .arg(&v.path)
        .arg("--passphrase-file")
        .arg(&v.pass_file)
        .args(args);
    clean_env(&mut cmd, v.dir.path());
    let out = cmd.output().expect("run strace");
    // strace reports the tracee's death by SIGKILL as its own (137 or a signal).
    assert!(
        out.status.code() != Some(0),
        "{args:?} was not killed:\n{}",
        text(&out)
    );
    out
}

/// The `.NAME.partial-*` files in `dir`.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') && n.contains(".partial-"))
        })
        .collect();
    found.sort();
    found
}

/// How many events of `action` the log of `record` has.
fn events_of(v: &TestVault, record: &str, action: &str) -> usize {
    let log = parse_json(&v.ok(&["log", record, "--json"]));
    let events = log
        .as_array()
        .or_else(|| log["events"].as_array())
        .unwrap_or_else(|| panic!("log --json: {log}"))
        .clone();
    events
        .iter()
        .filter(|e| e["event"]["action"].as_str() == Some(action))
        .count()
}

/// The base64 key line of `custodia key public` (for `--signer`).
fn signer_line(key_public: &str) -> String {
    key_public
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .expect("a key line")
        .to_owned()
}

fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    (0..n).map(|_| rng.next() as u8).collect()
}

#[test]
fn a_kill_at_the_extract_commit_leaves_no_complete_copy() {
    if !strace_usable("a_kill_at_the_extract_commit_leaves_no_complete_copy") {
        return;
    }
    let v = TestVault::new();
    v.ok(&["case", "new", "KZ-1", "--title", "t"]);
    let bytes = pseudo_random_bytes(300_000, 7);
    let exhibit = v.file("exhibit.bin");
    std::fs::write(&exhibit, &bytes).unwrap();
    let line = v.ok(&["evidence", "add", "--case", "KZ-1", arg(&exhibit)]);
    let id = line.split_whitespace().next().unwrap().to_owned();
    let outdir = v.file("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("copy.bin");

    killed_at_commit(&v, &["evidence", "extract", &id, "--out", arg(&out)]);
    assert!(!out.exists(), "the copy appeared without its event");
    let left = leftovers(&outdir);
    assert_eq!(left.len(), 1, "{left:?}");
    // Killed after writing, before the commit: everything but the held-back
    // bytes, whose room holds their complement (never the real copy).
    let partial = std::fs::read(&left[0]).unwrap();
    assert_eq!(partial.len(), bytes.len());
    let cut = bytes.len() - HELD_BACK as usize;
    assert_eq!(partial[..cut], bytes[..cut]);
    assert!(partial[cut..]
        .iter()
        .zip(&bytes[cut..])
        .all(|(a, b)| a != b));
    let check = v.run(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert_no_alarm(&check, "check after the kill");
    assert_eq!(events_of(&v, &id, "extract"), 0);

    // The next extract to that directory removes the dead one's leftover.
    let again = outdir.join("again.bin");
    v.ok(&["evidence", "extract", &id, "--out", arg(&again)]);
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    assert!(leftovers(&outdir).is_empty(), "{:?}", leftovers(&outdir));
    assert_eq!(events_of(&v, &id, "extract"), 1);
}

#[test]
fn a_kill_at_the_export_commit_leaves_no_valid_bundle() {
    if !strace_usable("a_kill_at_the_export_commit_leaves_no_valid_bundle") {
        return;
    }
    let v = TestVault::new();
    let case = v
        .ok(&["case", "new", "KZ-2", "--title", "t"])
        .trim()
        .to_owned();
    let exhibit = v.file("photo.jpg");
    std::fs::write(&exhibit, pseudo_random_bytes(200_000, 9)).unwrap();
    v.ok(&["evidence", "add", "--case", "KZ-2", arg(&exhibit)]);
    let signer = signer_line(&v.ok(&["key", "public"]));
    let outdir = v.file("out");
    std::fs::create_dir(&outdir).unwrap();
    let bundle = outdir.join("kz2.tar");
    let export = ["export", "--case", "KZ-2", "--no-encrypt", "--out"];

    let mut args = export.to_vec();
    args.push(arg(&bundle));
    killed_at_commit(&v, &args);
    assert!(!bundle.exists(), "the bundle appeared without its event");
    let left = leftovers(&outdir);
    assert_eq!(left.len(), 1, "{left:?}");
    let verdict = v.run(&["bundle", "verify", arg(&left[0]), "--signer", &signer]);
    assert_ne!(verdict.status.code(), Some(0), "{}", text(&verdict));
    assert!(
        !text(&verdict).contains("VERDICT: VALID"),
        "{}",
        text(&verdict)
    );
    let check = v.run(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert_no_alarm(&check, "check after the kill");
    assert_eq!(events_of(&v, &case, "export"), 0);

    // The next export to that directory removes the leftover, and its own
    // bundle is valid and recorded.
    let mut args = export.to_vec();
    args.push(arg(&bundle));
    v.ok(&args);
    assert!(leftovers(&outdir).is_empty(), "{:?}", leftovers(&outdir));
    let verdict = v.run(&["bundle", "verify", arg(&bundle), "--signer", &signer]);
    assert!(
        text(&verdict).contains("VERDICT: VALID"),
        "{}",
        text(&verdict)
    );
    assert_eq!(events_of(&v, &case, "export"), 1);
}

/// xorshift64*: enough for picking moments; the seed is printed to replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Runs `cmd` and kills it with SIGKILL after `delay` unless it finished.
/// Returns its output if it finished by itself.
fn run_killed_after(mut cmd: Command, delay: Duration) -> Option<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn custodia");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        if start.elapsed() >= delay {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            // It may have finished just before the kill.
            return out.status.code().map(|_| out);
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// What to note when an operation reports success.
type OnSuccess<T> = Box<dyn FnOnce(&Output, &mut T)>;

/// What reported success, to be found again.
#[derive(Default)]
struct Ledger {
    /// Evidence id → SHA-256.
    evidence: BTreeMap<String, String>,
    /// Statement id → body.
    statements: BTreeMap<String, String>,
    /// Users added (and not removed since).
    users: BTreeSet<String>,
    /// Users whose removal succeeded.
    removed: BTreeSet<String>,
    /// Bundles exported.
    bundles: Vec<PathBuf>,
}

#[test]
fn crash_loop() {
    let kills = env_number("CUSTODIA_CRASH_KILLS", 50);
    let seed = env_number(
        "CUSTODIA_CRASH_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    eprintln!("crash_loop: {kills} kills, CUSTODIA_CRASH_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let started = Instant::now();
    // Epochs of at most 100 kills, each on a new vault, so that `check`
    // after every kill (which re-hashes every exhibit) stays fast in a long
    // run.
    let (mut survived, mut operations, mut epoch) = (0, 0, 0);
    while survived < kills {
        epoch += 1;
        let (s, o) = crash_epoch((kills - survived).min(100), &mut rng, seed, epoch);
        survived += s;
        operations += o;
    }
    eprintln!(
        "crash_loop: {survived} kills survived over {operations} operations in {epoch} \
         vault(s), {:.1} s; seed {seed}",
        started.elapsed().as_secs_f64()
    );
}

/// Kills `kills` operations on a new vault; returns the kills survived and
/// the operations run.
fn crash_epoch(kills: u64, rng: &mut Rng, seed: u64, epoch: u64) -> (u64, u64) {
    let started = Instant::now();
    let v = TestVault::new();
    v.ok(&["case", "new", "KZ-LOOP", "--title", "crash loop"]);
    let passes = [
        v.pass_file.clone(),
        v.secret_file("other.pass", SECOND_PASS),
    ];
    let mut current = 0usize;
    // A second vault exports the bundles this one imports.
    let source = TestVault::new();
    let source_key = signer_line(&source.ok(&["key", "public"]));
    let helper_pass = v.secret_file("helper.pass", "helper passphrase for the loop 42");
    let outdir = v.file("exports");
    std::fs::create_dir(&outdir).unwrap();

    let mut ledger = Ledger::default();
    // The longest each kind of operation took unkilled (ms), to aim kills.
    let mut durations: BTreeMap<&str, u64> = BTreeMap::new();
    let ops = [
        "evidence add",
        "statement import",
        "passphrase change",
        "user add",
        "user remove",
        "bundle import",
        "export",
    ];
    let mut survived = 0u64;
    let mut operations = 0u64;
    let mut i = 0u64;
    while survived < kills {
        i += 1;
        let op = ops[rng.below(ops.len() as u64) as usize];
        let pass = &passes[current];
        let mut cmd = v.std_command();
        cmd.arg("--vault")
            .arg(&v.path)
            .arg("--passphrase-file")
            .arg(pass);
        // What success means, checked below.
        let mut expect: Option<OnSuccess<Ledger>> = None;
        match op {
            "evidence add" => {
                // Mostly one chunk; one in four crosses chunk boundaries.
                let max = if rng.below(4) == 0 {
                    2_500_000
                } else {
                    200_000
                };
                let size = 1 + rng.below(max) as usize;
                let bytes = pseudo_random_bytes(size, rng.next());
                let path = v.file(&format!("exhibit-{i}.bin"));
                std::fs::write(&path, &bytes).unwrap();
                let sha = sha256_hex(&bytes);
                cmd.args(["evidence", "add", "--case", "KZ-LOOP"])
                    .arg(&path);
                expect = Some(Box::new(move |out, ledger| {
                    let line = String::from_utf8_lossy(&out.stdout).to_string();
                    let mut parts = line.split_whitespace();
                    let id = parts.next().unwrap().to_owned();
                    assert_eq!(parts.next(), Some(sha.as_str()), "{line}");
                    ledger.evidence.insert(id, sha);
                }));
            }
            "statement import" => {
                let rows: Vec<String> = (0..3)
                    .map(|r| format!("Témoignage {i}.{r} : « Astana », {}", rng.next()))
                    .collect();
                let jsonl: String = rows
                    .iter()
                    .map(|body| {
                        serde_json::json!({"case": "KZ-LOOP", "witness": format!("W{i}"), "body": body})
                            .to_string()
                            + "\n"
                    })
                    .collect();
                let path = v.file(&format!("import-{i}.jsonl"));
                std::fs::write(&path, jsonl).unwrap();
                cmd.args(["--json", "statement", "import"]).arg(&path);
                expect = Some(Box::new(move |out, ledger| {
                    let doc = parse_json(&String::from_utf8_lossy(&out.stdout));
                    let ids = doc["imported"].as_array().unwrap();
                    assert_eq!(ids.len(), rows.len());
                    for (id, body) in ids.iter().zip(rows) {
                        ledger
                            .statements
                            .insert(id.as_str().unwrap().to_owned(), body);
                    }
                }));
            }
            "passphrase change" => {
                cmd.args(["passphrase", "change", "--new-passphrase-file"])
                    .arg(&passes[1 - current]);
            }
            "user add" => {
                let name = format!("helper-{i}");
                cmd.args(["user", "add", &name, "--new-passphrase-file"])
                    .arg(&helper_pass);
                expect = Some(Box::new(move |_, ledger| {
                    ledger.users.insert(name);
                }));
            }
            "user remove" => {
                let Some(name) = ledger.users.iter().next().cloned() else {
                    continue;
                };
                cmd.args(["user", "remove", &name]);
                // Whatever happens, it is no longer sure to be there.
                ledger.users.remove(&name);
                expect = Some(Box::new(move |_, ledger| {
                    ledger.removed.insert(name);
                }));
            }
            "bundle import" => {
                let reference = format!("SRC-{i}");
                source.ok(&["case", "new", &reference, "--title", "source"]);
                let body = format!("Déposition {i} « Almaty » {}", rng.next());
                let file = source.file(&format!("s-{i}.txt"));
                std::fs::write(&file, &body).unwrap();
                let sid = source
                    .ok(&[
                        "statement",
                        "add",
                        "--case",
                        &reference,
                        "--witness",
                        "Témoin",
                        "--file",
                        arg(&file),
                    ])
                    .trim()
                    .to_owned();
                let bundle = source.file(&format!("b-{i}.tar"));
                source.ok(&[
                    "export",
                    "--case",
                    &reference,
                    "--no-encrypt",
                    "--out",
                    arg(&bundle),
                ]);
                cmd.args(["bundle", "import"])
                    .arg(&bundle)
                    .args(["--signer", &source_key]);
                expect = Some(Box::new(move |_, ledger| {
                    ledger.statements.insert(sid, body);
                }));
            }
            "export" => {
                let bundle = outdir.join(format!("export-{i}.tar"));
                cmd.args(["export", "--case", "KZ-LOOP", "--no-encrypt", "--out"])
                    .arg(&bundle);
                expect = Some(Box::new(move |_, ledger| {
                    ledger.bundles.push(bundle);
                }));
            }
            _ => unreachable!(),
        }
        operations += 1;
        // Unkilled the first time (to learn how long it takes), then killed
        // at a random moment up to a little past its usual end.
        let known = durations.get(op).copied();
        let delay = match known {
            None => Duration::from_secs(120),
            Some(ms) => Duration::from_micros(rng.below(ms * 1300)),
        };
        let t = Instant::now();
        let finished = run_killed_after(cmd, delay);
        let elapsed = t.elapsed().as_millis() as u64;
        match &finished {
            Some(out) => {
                assert_no_panic(out);
                assert_no_alarm(out, op);
                assert_eq!(out.status.code(), Some(0), "{op}: {}", text(out));
                durations
                    .entry(op)
                    .and_modify(|d| *d = (*d).max(elapsed))
                    .or_insert(elapsed.max(1));
                if op == "passphrase change" {
                    current = 1 - current;
                }
                if let Some(expect) = expect {
                    expect(out, &mut ledger);
                }
            }
            None => survived += 1,
        }

        // After every run: the vault opens with exactly one of the two
        // passphrases, and `check` is clean.
        let check = v.run_as(&passes[current], &["check"]);
        let check = if check.status.code() == Some(3) {
            current = 1 - current;
            v.run_as(&passes[current], &["check"])
        } else {
            check
        };
        assert_eq!(
            check.status.code(),
            Some(0),
            "after {op} (run {i}, seed {seed}): check:\n{}",
            text(&check)
        );
        assert_no_alarm(&check, "check");
        let pass = &passes[current];
        // Everything that reported success is there.
        let items = parse_json(&v.ok_as(pass, &["--json", "evidence", "list"]));
        let listed: BTreeMap<String, String> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["id"].as_str().unwrap().to_owned(),
                    e["sha256"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for (id, sha) in &ledger.evidence {
            assert_eq!(listed.get(id), Some(sha), "evidence {id} (seed {seed})");
        }
        let statements = parse_json(&v.ok_as(pass, &["--json", "statement", "list"]));
        let listed: BTreeSet<String> = statements
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect();
        for id in ledger.statements.keys() {
            assert!(listed.contains(id), "statement {id} (seed {seed})");
        }
        let users = parse_json(&v.ok_as(pass, &["--json", "user", "list"]));
        let active: BTreeSet<String> = users
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["active"].as_bool() == Some(true))
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect();
        for name in &ledger.users {
            assert!(active.contains(name), "user {name} (seed {seed})");
        }
        for name in &ledger.removed {
            assert!(!active.contains(name), "removed user {name} (seed {seed})");
        }
        // A bundle exported now is signed by the key of now (a passphrase
        // change gives the user a new signing key): verify it at once.
        if let Some(bundle) = ledger
            .bundles
            .last()
            .filter(|_| op == "export" && finished.is_some())
        {
            let own_key = signer_line(&v.ok_as(pass, &["key", "public"]));
            let verdict = v.run_as(
                pass,
                &["bundle", "verify", arg(bundle), "--signer", &own_key],
            );
            assert!(
                text(&verdict).contains("VERDICT: VALID"),
                "{}",
                text(&verdict)
            );
        }
        // Another (killed) user add may have committed: keep it removable.
        for name in active {
            if name.starts_with("helper-") && !ledger.users.contains(&name) {
                ledger.users.insert(name);
            }
        }
    }

    // At the end, byte for byte.
    let pass = &passes[current];
    for (id, sha) in &ledger.evidence {
        let out = v.file(&format!("check-{id}.bin"));
        v.ok_as(pass, &["evidence", "extract", id, "--out", arg(&out)]);
        assert_eq!(&sha256_hex(&std::fs::read(&out).unwrap()), sha, "{id}");
        std::fs::remove_file(&out).unwrap();
    }
    for (id, body) in &ledger.statements {
        let shown = parse_json(&v.ok_as(pass, &["--json", "statement", "show", id]));
        assert_eq!(shown["body"].as_str(), Some(body.as_str()), "{id}");
    }
    // A killed export leaves at most an incomplete file (removed by the
    // next export): none verifies, even as unauthenticated (exit 5).
    for left in leftovers(&outdir) {
        let verdict = v.run_as(pass, &["bundle", "verify", arg(&left)]);
        assert!(
            !matches!(verdict.status.code(), Some(0 | 5)),
            "a complete leftover {}:\n{}",
            left.display(),
            text(&verdict)
        );
    }
    eprintln!(
        "crash_loop: vault {epoch}: {survived} kills survived over {operations} operations \
         ({} evidence, {} statements, {} bundles kept) in {:.1} s",
        ledger.evidence.len(),
        ledger.statements.len(),
        ledger.bundles.len(),
        started.elapsed().as_secs_f64()
    );
    (survived, operations)
}

/// Outcome counts of the concurrency test.
#[derive(Default)]
struct Tally {
    ok: u64,
    busy: u64,
    evidence: BTreeMap<String, String>,
    statements: BTreeMap<String, String>,
}

#[test]
fn concurrent_readers_and_writers() {
    let secs = env_number("CUSTODIA_CONCURRENCY_SECS", 12);
    let workers = env_number("CUSTODIA_CONCURRENCY_PROCESSES", 6).clamp(2, 64);
    let v = Arc::new(TestVault::new());
    v.ok(&["case", "new", "KZ-CONC", "--title", "concurrency"]);
    let first = v.file("first.txt");
    std::fs::write(&first, "Premier témoignage, Astana").unwrap();
    v.ok(&[
        "statement",
        "add",
        "--case",
        "KZ-CONC",
        "--witness",
        "Évgueni",
        "--file",
        arg(&first),
    ]);
    // The keys worker changes this user's passphrase back and forth, and
    // adds and removes users, while the others read and write records
    // (each unlock reads the sealed vault state these change).
    let rotator = [
        v.secret_file("rotator-1.pass", "rotator passphrase number one 1"),
        v.secret_file("rotator-2.pass", "rotator passphrase number two 2"),
    ];
    v.ok(&[
        "user",
        "add",
        "rotator",
        "--new-passphrase-file",
        arg(&rotator[0]),
    ]);
    let rotator_now = Arc::new(Mutex::new(0usize));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let limit = Duration::from_secs(15 + 10);
    let mut handles = Vec::new();
    for w in 0..workers {
        let (v, tally, stop) = (v.clone(), tally.clone(), stop.clone());
        let (rotator, rotator_now) = (rotator.clone(), rotator_now.clone());
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng((w + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let keys = w == 5;
            let writer = w % 2 == 0;
            let mut n = 0u64;
            let mut added: Vec<String> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let mut record: Option<OnSuccess<Tally>> = None;
                let mut pass = v.pass_file.clone();
                let mut rotated = false;
                let mut adding: Option<String> = None;
                let args: Vec<String> = if keys {
                    match n % 3 {
                        0 => {
                            let now = *rotator_now.lock().unwrap();
                            pass = rotator[now].clone();
                            rotated = true;
                            vec![
                                "--user".into(),
                                "rotator".into(),
                                "passphrase".into(),
                                "change".into(),
                                "--new-passphrase-file".into(),
                                arg(&rotator[1 - now]).into(),
                            ]
                        }
                        1 => {
                            let name = format!("helper-{n}");
                            adding = Some(name.clone());
                            vec![
                                "user".into(),
                                "add".into(),
                                name,
                                "--new-passphrase-file".into(),
                                arg(&rotator[0]).into(),
                            ]
                        }
                        _ => match added.pop() {
                            Some(name) => vec!["user".into(), "remove".into(), name],
                            None => vec!["user".into(), "list".into()],
                        },
                    }
                } else if writer && rng.below(2) == 0 {
                    let bytes = pseudo_random_bytes(1 + rng.below(300_000) as usize, rng.next());
                    let path = v.file(&format!("w{w}-{n}.bin"));
                    std::fs::write(&path, &bytes).unwrap();
                    let sha = sha256_hex(&bytes);
                    record = Some(Box::new(move |out, t| {
                        let line = String::from_utf8_lossy(&out.stdout).to_string();
                        let mut parts = line.split_whitespace();
                        let id = parts.next().unwrap().to_owned();
                        assert_eq!(parts.next(), Some(sha.as_str()), "{line}");
                        t.evidence.insert(id, sha);
                    }));
                    ["evidence", "add", "--case", "KZ-CONC", arg(&path)]
                        .map(String::from)
                        .to_vec()
                } else if writer {
                    let body = format!("Témoignage {w}.{n} « réfugié » {}", rng.next());
                    let path = v.file(&format!("w{w}-{n}.jsonl"));
                    let row = serde_json::json!({"case": "KZ-CONC", "witness": "W", "body": body});
                    std::fs::write(&path, format!("{row}\n")).unwrap();
                    record = Some(Box::new(move |out, t| {
                        let doc = parse_json(&String::from_utf8_lossy(&out.stdout));
                        let id = doc["imported"][0].as_str().unwrap().to_owned();
                        t.statements.insert(id, body);
                    }));
                    ["--json", "statement", "import", arg(&path)]
                        .map(String::from)
                        .to_vec()
                } else {
                    let reads: [&[&str]; 5] = [
                        &["statement", "list"],
                        &["evidence", "list", "--case", "KZ-CONC"],
                        &["search", "evgueni"],
                        &["log"],
                        &["check"],
                    ];
                    reads[rng.below(reads.len() as u64) as usize]
                        .iter()
                        .map(|s| s.to_string())
                        .collect()
                };
                let t = Instant::now();
                let out = v.run_as(&pass, &args);
                let took = t.elapsed();
                assert!(took < limit, "{args:?} took {took:?}");
                assert_no_alarm(&out, &format!("{args:?}"));
                let mut tally = tally.lock().unwrap();
                match out.status.code() {
                    Some(0) => {
                        tally.ok += 1;
                        if rotated {
                            let mut now = rotator_now.lock().unwrap();
                            *now = 1 - *now;
                        }
                        // Only a user whose addition succeeded is removed later.
                        added.extend(adding);
                        if let Some(record) = record {
                            record(&out, &mut tally);
                        }
                    }
                    Some(1) if text(&out).contains("the vault is busy") => tally.busy += 1,
                    _ => panic!("{args:?} failed:\n{}", text(&out)),
                }
            }
        }));
    }
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().expect("a worker failed");
    }
    let tally = tally.lock().unwrap();
    // The rotating user opens with the passphrase its last success set.
    let now = *rotator_now.lock().unwrap();
    let as_rotator = v.run_as(&rotator[now], &["--user", "rotator", "check"]);
    assert_eq!(as_rotator.status.code(), Some(0), "{}", text(&as_rotator));
    let check = v.run(&["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert_no_alarm(&check, "check");
    let items = parse_json(&v.ok(&["--json", "evidence", "list"]));
    let listed: BTreeMap<String, String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["sha256"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (id, sha) in &tally.evidence {
        assert_eq!(listed.get(id), Some(sha), "evidence {id}");
    }
    for (id, body) in &tally.statements {
        let shown = parse_json(&v.ok(&["--json", "statement", "show", id]));
        assert_eq!(shown["body"].as_str(), Some(body.as_str()), "{id}");
    }
    eprintln!(
        "concurrency: {workers} processes for {secs} s: {} operations ({} succeeded, {} busy); \
         {} exhibits and {} statements found again",
        tally.ok + tally.busy,
        tally.ok,
        tally.busy,
        tally.evidence.len(),
        tally.statements.len()
    );
    assert!(tally.ok > 0);
}
