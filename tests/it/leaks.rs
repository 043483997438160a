//! Leak check (SPEC §2, issue 17): a whole working session with canary
//! strings (names, places, passphrases, file names, statement words, in
//! French, Russian and Arabic), after which no file the program wrote
//! under the vault directory, its `$TMPDIR`, its `$HOME` or `/dev/shm`
//! holds a canary in plaintext (as UTF-8, in NFC and NFD, and folded as
//! the search index folds), and no message it printed holds a passphrase.
//!
//! The only files allowed to hold testimony are the explicit outputs a
//! user asked for in the clear: the plain (`--no-encrypt`) bundle and the
//! extracted exhibit. Inputs (passphrase files, statement texts, exhibits)
//! live in a directory of their own that is not scanned.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;
use unicode_normalization::UnicodeNormalization;

const PASS: &str = "Canari-phrase «Qwelmdor» été 2026 n°9";
const PASS2: &str = "Second canari «Brixendal» clé 4417";
const WITNESS: &str = "Zorvemka Ïlyanovna";
const PSEUDONYM: &str = "Témoin Kestrafil";
const PLACE: &str = "Café Vlorbengrad, quai Ümsk";
const CASE_TITLE: &str = "Dossier Quandrelisse";
const FR_WORDS: &str = "réfugiéquintal désertâmes Moqueblanc";
const RU_WORDS: &str = "Кракозябрищев Ждунград";
const AR_WORDS: &str = "زمردانيه قطرفيلو";
const EXHIBIT_NAME: &str = "photo-Wexlaforde-été.jpg";
const EXHIBIT_TEXT: &str = "contenu-canari-Plimsoré";
const AMEND_WORDS: &str = "amendementGrulfoss";
const INTERVIEWER: &str = "Me Oxtanberg";

fn canaries() -> Vec<&'static str> {
    vec![
        PASS,
        PASS2,
        WITNESS,
        "Zorvemka",
        PSEUDONYM,
        "Kestrafil",
        PLACE,
        "Vlorbengrad",
        CASE_TITLE,
        "Quandrelisse",
        FR_WORDS,
        "réfugiéquintal",
        "Moqueblanc",
        RU_WORDS,
        "Кракозябрищев",
        AR_WORDS,
        "زمردانيه",
        EXHIBIT_NAME,
        "Wexlaforde",
        EXHIBIT_TEXT,
        "Plimsoré",
        AMEND_WORDS,
        "Grulfoss",
        "Oxtanberg",
    ]
}

/// Every form a canary could take on disk: as given (NFC), NFD, and
/// folded the way the search index folds.
fn needles() -> Vec<String> {
    let mut set = BTreeSet::new();
    for c in canaries() {
        set.insert(c.to_owned());
        set.insert(c.nfc().collect::<String>());
        set.insert(c.nfd().collect::<String>());
        set.insert(custodia::formats::search::fold(c));
    }
    set.into_iter().filter(|s| s.chars().count() >= 5).collect()
}

/// The session: a scratch root holding the vault directory, the child's
/// `$HOME` and `$TMPDIR`, and (not scanned) the inputs.
struct Session {
    root: tempfile::TempDir,
    pass: PathBuf,
    outputs: Vec<Output>,
}

impl Session {
    fn dir(&self, name: &str) -> PathBuf {
        let p = self.root.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    fn input(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir("inputs").join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// Runs the binary under `strace`, which records in `trace/` (not
    /// scanned) every file it opens, creates or renames: the files it wrote
    /// and then deleted would escape a scan afterwards, not the trace.
    fn run(&mut self, vault: &Path, pass: &Path, args: &[&str]) -> String {
        let trace = self
            .dir("trace")
            .join(format!("{}.txt", self.outputs.len()));
        let mut cmd = std::process::Command::new("strace");
        let home = self.dir("home");
        clean_env(&mut cmd, &home);
        cmd.args(["-f", "-qq", "-e"])
            .arg("trace=open,openat,openat2,creat,memfd_create,rename,renameat,renameat2,link,linkat")
            .arg("-o")
            .arg(&trace)
            .arg("--")
            .arg(binary());
        cmd.env("TMPDIR", self.dir("tmp"))
            .current_dir(self.dir("vaults"))
            .arg("--vault")
            .arg(vault)
            .arg("--passphrase-file")
            .arg(pass)
            .args(args);
        let out = cmd.output().expect("run strace (the leak check needs it)");
        assert_no_panic(&out);
        let stdout = expect_success(&out, args);
        self.outputs.push(out);
        stdout
    }

    /// From the traces: every path opened for writing or created (made
    /// absolute against the working directory), and every rename source.
    fn written(&self) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
        let cwd = self.dir("vaults");
        let (mut written, mut renamed) = (BTreeSet::new(), BTreeSet::new());
        let mut traces = Vec::new();
        files_under(&self.dir("trace"), &mut traces);
        assert_eq!(traces.len(), self.outputs.len(), "a trace per command");
        for t in traces {
            for line in std::fs::read_to_string(t).unwrap().lines() {
                let path = line
                    .split('"')
                    .nth(1)
                    .map(|p| cwd.join(p.strip_prefix("./").unwrap_or(p)));
                let Some(path) = path else { continue };
                if line.contains("memfd_create(") {
                    written.insert(PathBuf::from(format!("memfd:{}", path.display())));
                } else if line.contains("rename") && !line.contains("= -1") {
                    renamed.insert(path);
                } else if (line.contains("O_WRONLY")
                    || line.contains("O_RDWR")
                    || line.contains("O_CREAT")
                    || line.contains("creat(")
                    || line.contains("link"))
                    && !line.contains("= -1")
                {
                    written.insert(path);
                }
            }
        }
        (written, renamed)
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files_under(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

fn shm_files() -> BTreeSet<PathBuf> {
    let mut v = Vec::new();
    files_under(Path::new("/dev/shm"), &mut v);
    v.into_iter().collect()
}

#[test]
fn a_whole_session_leaves_no_canary_on_disk_and_no_passphrase_in_messages() {
    let shm_before = shm_files();
    let root = tempfile::Builder::new()
        .prefix("custodia-leaks-")
        .tempdir()
        .unwrap();
    let mut s = Session {
        root,
        pass: PathBuf::new(),
        outputs: Vec::new(),
    };
    s.pass = s.input("owner.pass", format!("{PASS}\n").as_bytes());
    let pass2 = s.input("second.pass", format!("{PASS2}\n").as_bytes());
    let pass = s.pass.clone();
    let vaults = s.dir("vaults");
    let vault = vaults.join("vault.custodia");
    let other = vaults.join("other.custodia");
    let outputs = s.dir("outputs");
    let recovery = vaults.join("recovery.key");

    s.run(
        &vault,
        &pass,
        &[
            "init",
            "--name",
            CASE_TITLE,
            "--user",
            "Oxtanberg",
            "--insecure-fast-kdf",
            "--recovery-key-out",
            arg(&recovery),
        ],
    );
    s.run(
        &vault,
        &pass,
        &["user", "add", WITNESS, "--new-passphrase-file", arg(&pass2)],
    );
    s.run(
        &vault,
        &pass,
        &["case", "new", "KZ-2026-099", "--title", CASE_TITLE],
    );
    let fr = s.input(
        "fr.txt",
        format!("{WITNESS} a dit : {FR_WORDS}.\n").as_bytes(),
    );
    let fr = s
        .run(
            &vault,
            &pass,
            &[
                "statement",
                "add",
                "--case",
                "KZ-2026-099",
                "--witness",
                WITNESS,
                "--pseudonym",
                PSEUDONYM,
                "--protected",
                "--language",
                "fr",
                "--place",
                PLACE,
                "--interviewer",
                INTERVIEWER,
                "--file",
                arg(&fr),
            ],
        )
        .trim()
        .to_owned();
    let ru = s.input("ru.txt", format!("{RU_WORDS}\n").as_bytes());
    s.run(
        &vault,
        &pass,
        &[
            "statement",
            "add",
            "--case",
            "KZ-2026-099",
            "--witness",
            "Кракозябрищев",
            "--language",
            "ru",
            "--file",
            arg(&ru),
        ],
    );
    let ar = s.input("ar.txt", format!("{AR_WORDS}\n").as_bytes());
    s.run(
        &vault,
        &pass,
        &[
            "statement",
            "add",
            "--case",
            "KZ-2026-099",
            "--witness",
            "زمردانيه",
            "--language",
            "ar",
            "--file",
            arg(&ar),
        ],
    );
    let photo = s.input(
        EXHIBIT_NAME,
        format!("{EXHIBIT_TEXT}\n").repeat(2000).as_bytes(),
    );
    let added = s.run(
        &vault,
        &pass,
        &[
            "evidence",
            "add",
            "--case",
            "KZ-2026-099",
            "--statement",
            &fr,
            arg(&photo),
        ],
    );
    let exhibit = added.split_whitespace().next().unwrap().to_owned();
    for q in [
        "refugiequintal",
        "Кракозябрищев",
        "زمردانيه",
        "\"désertâmes moqueblanc\"",
    ] {
        let hits = s.run(&vault, &pass, &["search", q]);
        assert!(!hits.trim().is_empty(), "search {q} found nothing");
    }
    let fr2 = s.input(
        "fr2.txt",
        format!("{WITNESS} a dit : {FR_WORDS}, {AMEND_WORDS}.\n").as_bytes(),
    );
    s.run(
        &vault,
        &pass,
        &[
            "statement",
            "amend",
            &fr,
            "--file",
            arg(&fr2),
            "--reason",
            AMEND_WORDS,
        ],
    );
    s.run(&vault, &pass, &["statement", "show", &fr]);
    s.run(&vault, &pass2, &["--user", WITNESS, "statement", "list"]);
    let plain = outputs.join("plain.bundle");
    s.run(
        &vault,
        &pass,
        &[
            "export",
            "--case",
            "KZ-2026-099",
            "--no-encrypt",
            "--reveal-protected",
            "--out",
            arg(&plain),
        ],
    );
    let identity = s.input(
        "court.key",
        &std::fs::read(data_v2("court.age-identity")).unwrap(),
    );
    let recipient = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_owned))
        .unwrap();
    // The age bundle is scanned too: it must be ciphertext.
    let aged = vaults.join("sealed.age");
    s.run(
        &vault,
        &pass,
        &[
            "export",
            "--case",
            "KZ-2026-099",
            "--recipient",
            &recipient,
            "--out",
            arg(&aged),
        ],
    );
    let key = vaults.join("owner.pub");
    let public = s.run(&vault, &pass, &["key", "public"]);
    std::fs::write(&key, public).unwrap();
    s.run(
        &other,
        &pass2,
        &[
            "init",
            "--user",
            "Grulfoss",
            "--insecure-fast-kdf",
            "--recovery-key-out",
            arg(&vaults.join("other.key")),
        ],
    );
    s.run(
        &other,
        &pass2,
        &[
            "bundle",
            "import",
            arg(&aged),
            "--identity",
            arg(&identity),
            "--signer",
            arg(&key),
        ],
    );
    s.run(&other, &pass2, &["search", "moqueblanc"]);
    let extracted = outputs.join("extrait.jpg");
    s.run(
        &vault,
        &pass,
        &["evidence", "extract", &exhibit, "--out", arg(&extracted)],
    );
    s.run(&vault, &pass, &["check"]);
    s.run(&other, &pass2, &["check"]);
    // The plain outputs hold what was asked for (a sanity check of the scan).
    let needles = needles();
    assert!(find_any(&std::fs::read(&extracted).unwrap(), &[EXHIBIT_TEXT]).is_some());
    assert!(find_any(&std::fs::read(&plain).unwrap(), &[RU_WORDS]).is_some());

    // Scan: the vault directory (both vaults, their journals, the age
    // bundle), $HOME (local state), $TMPDIR, and /dev/shm's new files.
    let mut files = Vec::new();
    for d in ["vaults", "home", "tmp"] {
        files_under(&s.dir(d), &mut files);
    }
    let new_shm: Vec<PathBuf> = shm_files().difference(&shm_before).cloned().collect();
    files.extend(new_shm);
    let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        if let Some(c) = find_any(&bytes, &refs) {
            found.push(format!("{}: {c:?}", f.display()));
        }
    }
    assert!(files.len() >= 5, "scanned only {files:?}");

    // What the program wrote, by the traces: only inside the scanned
    // directories or the explicit outputs' directory, and each file either
    // still there (so scanned) or renamed into place (a `.partial-*` or
    // `.tmp-*`, or the new vault's `.creating-*`): nothing was written and
    // then deleted unseen.
    let (written, renamed) = s.written();
    let scanned: Vec<PathBuf> = ["vaults", "home", "tmp", "outputs"]
        .iter()
        .map(|d| s.dir(d))
        .collect();
    let mut stray = Vec::new();
    for w in &written {
        if w == Path::new("/dev/null") || w == Path::new("/dev/tty") {
            continue;
        }
        let inside = scanned.iter().any(|d| w.starts_with(d));
        // SQLite's rollback journal of a vault being created, deleted
        // when the file is complete: old page images of a sealed
        // database, accounted for by the database it belongs to.
        let db = w
            .to_str()
            .and_then(|p| p.strip_suffix("-journal"))
            .map(PathBuf::from);
        let accounted = w.exists()
            || renamed.contains(w)
            || db.is_some_and(|d| d.exists() || renamed.contains(&d));
        if !inside || !accounted {
            stray.push(format!(
                "{} (inside: {inside}, accounted: {accounted})",
                w.display()
            ));
        }
    }
    assert!(written.len() >= 5, "the traces saw only {written:?}");
    assert!(
        stray.is_empty(),
        "files written outside the scan:\n{}",
        stray.join("\n")
    );
    assert!(found.is_empty(), "canaries on disk:\n{}", found.join("\n"));

    // Messages: no passphrase, in any form, on stdout or stderr.
    let secrets: Vec<String> = [PASS, PASS2]
        .iter()
        .flat_map(|p| {
            [
                p.to_string(),
                p.nfd().collect(),
                custodia::formats::search::fold(p),
            ]
        })
        .collect();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    for out in &s.outputs {
        for stream in [&out.stdout, &out.stderr] {
            assert!(
                find_any(stream, &secrets).is_none(),
                "a passphrase was printed:\n{}",
                String::from_utf8_lossy(stream)
            );
        }
    }
    eprintln!(
        "leak check: {} files written (traced), {} scanned for {} canary forms, {} messages for the passphrases: none found",
        written.len(),
        files.len(),
        refs.len(),
        s.outputs.len() * 2
    );
}

fn data_v2(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/v2")
        .join(name)
}
