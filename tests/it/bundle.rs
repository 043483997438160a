//! Sealed court bundles (SPEC §5), end to end through the real binary and
//! the stock tools a receiving court would use instead of ours: `age -d`,
//! GNU `tar`, `bagit.py --validate` and `minisign -V`.
//!
//! Every test builds its own vault with real-looking testimony: a French
//! statement by a protected witness (« Évgueni Ivanov », pseudonym « Témoin
//! A »), a Ukrainian statement, a Russian statement amended once, a 3 MiB
//! random recording and a small JPEG whose name is in Cyrillic with
//! guillemets. Bundles are then exported, opened, verified, tampered with,
//! replaced by hostile archives, and imported into a second vault.
//!
//! Stock tools: in CI (`CI` or `CUSTODIA_REQUIRE_TOOLS` set) a missing
//! `age`, `age-keygen`, `minisign`, `bagit.py`, `tar` or `python3` fails
//! the test; elsewhere the test prints `SKIPPED …` and returns. `chromium`
//! (the rendering test) is optional on a developer's machine, where
//! without it the test prints that it skipped; `.ci/run` installs it and
//! sets `CUSTODIA_REQUIRE_TOOLS=1`, so in CI (or with `CI` set) a missing
//! `chromium` fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::bag::{all_text, expect_exit, files_under, rebag};
use crate::common::{arg, parse_json, run_command, TestVault};
use custodia::bundle::layout::html_escape;
use custodia::formats::minisign::PublicKey;
use custodia::formats::tar::DeterministicTar;
use sha2::{Digest, Sha256};

// ------------------------------------------------------------ testimony

/// The case reference (also the bag's directory name).
const CASE: &str = "KZ-2026-014";
const CASE_TITLE: &str = "Déserteur — demande d'asile refusée (Astana)";
const CASE_DESCRIPTION: &str =
    "Recours devant la Cour nationale du droit d'asile ; témoignages recueillis à Astana et Kharkiv.";

/// The protected witness's real name: must not leave the vault by default.
const PROTECTED_NAME: &str = "Évgueni Ivanov";
/// Parts of the protected name, listed as the witness's aliases, so the
/// export replaces them too (a part alone is replaced only when listed).
const PROTECTED_PARTS: [&str; 2] = ["Évgueni", "Ivanov"];
const PSEUDONYM: &str = "Témoin A";

/// The protected witness's statement: "Évgueni" occurs twice (once in the
/// full name), so the exporter must count two occurrences.
const FRENCH: &str = "\
Je m'appelle Évgueni Ivanov. J'ai servi comme conducteur dans une unité de \
transmissions près de Belgorod jusqu'au 3 octobre 2025. Quand l'ordre est venu de \
partir vers Koupiansk, j'ai quitté l'unité de nuit et j'ai franchi la frontière \
kazakhe à Petropavl.\n\
Mes camarades m'appelaient « Évgueni le taiseux ». Le 14 mars 2026, au café \
« Samal » à Astana, j'ai raconté mon histoire à un journaliste ; l'article a été \
traduit du russe en français. Le tribunal a refusé ma demande d'asile : je crains \
d'être renvoyé en Russie, où la désertion est punie de dix ans de prison.\n";

const UKRAINIAN_WITNESS: &str = "Оксана Мельник";
const UKRAINIAN: &str = "\
Мене звати Оксана Мельник. 24 лютого 2022 року о п'ятій ранку ми прокинулися від \
вибухів у Харкові. Мій сусід, пан Василь, вийшов на вулицю і більше не повернувся.\n\
Я бачила, як російські військові вантажили людей у вантажівку біля школи № 134. \
Я готова повторити це перед судом.\n";

const AMENDED_WITNESS: &str = "Nurlan Abenov";
const AMENDED_V1: &str = "\
Я встретился со свидетелем в кафе «Самал» в Астане 14 марта 2026 года около 19:00. \
Он говорил по-русски, спокойно, иногда замолкал. Запись велась с его согласия.\n";
const AMENDED_V2: &str = "\
Я встретился со свидетелем в кафе «Самал» в Астане 15 марта 2026 года около 19:00. \
Он говорил по-русски, спокойно, иногда замолкал. Запись велась с его согласия.\n";
const AMEND_REASON: &str =
    "Correction de la date : l'entretien a eu lieu le 15 mars, pas le 14 (agenda du journaliste)";

/// A statement pasted from a web page, markup included.
const PASTED_ARTICLE: &str = "\
<p>Дезертир из Белгорода рассказал <b>Власти</b> о побеге в Казахстан.</p>\n\
<script src=\"https://vlast.kz/static/counter.js\"></script>\n\
<img src=\"https://vlast.kz/media/photo-astana.jpg\" alt=\"Кафе «Самал»\">\n\
Суд отказал ему в убежище; адвокат обжалует решение.\n";

/// The 3 MiB random exhibit.
const RECORDING_NAME: &str = "Enregistrement café Samal 2026-03-14.m4a";
const RECORDING_SIZE: usize = 3 * 1024 * 1024;
/// The small JPEG exhibit.
const PHOTO_NAME: &str = "Фото «свидетель» 01.jpg";

// ------------------------------------------------------------ stock tools

/// The program's path if it is an executable file on PATH.
fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::metadata(candidate)
                    .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                    .unwrap_or(false)
            }
            #[cfg(not(unix))]
            {
                candidate.is_file()
            }
        })
}

/// True when every tool is on PATH. Otherwise fails the test in CI, and
/// elsewhere prints why the test is skipped and returns false.
fn stock_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find_on_path(t).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: stock tool(s) {} not on PATH (apt-get install age minisign tar python3; pip install bagit)",
        missing.join(", ")
    );
    assert!(!crate::common::tools_required(), "{msg}; CI must have them");
    eprintln!("SKIPPED {msg}");
    false
}

/// Runs a stock tool (stdin closed, UTC time zone) and logs what it said.
fn tool(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    eprintln!(
        "$ {program} {}\n-> {}\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a stock tool and demands success.
fn tool_ok(program: &str, args: &[&str]) -> Output {
    let out = tool(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh age identity made by the stock `age-keygen -o FILE`; returns
/// the identity file and its recipient (`age1…`).
fn age_keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    tool_ok("age-keygen", &["-o", arg(&key)]);
    let text = fs::read_to_string(&key).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap_or_else(|| panic!("no public key comment in {}", key.display()))
        .trim()
        .to_owned();
    assert!(recipient.starts_with("age1"), "{recipient}");
    (key, recipient)
}

// ------------------------------------------------------------ helpers

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::getrandom(&mut buf).expect("getrandom");
    buf
}

fn random_tag() -> String {
    hex::encode(random_bytes(6))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `custodia bundle verify FILE ARGS…` with no vault and no passphrase file
/// (there `--passphrase-file` means the bundle's passphrase).
fn verify(home: &TestVault, bundle: &Path, extra: &[&str]) -> Output {
    let mut cmd = home.bare_command();
    cmd.args(["bundle", "verify"]).arg(bundle).args(extra);
    run_command(&mut cmd)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    haystack.windows(n.len()).any(|w| w == n)
}

/// The base64 key line of `custodia key public` (what `minisign -P` takes).
fn minisign_line(key_public_output: &str) -> String {
    key_public_output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap_or_else(|| panic!("no key line in:\n{key_public_output}"))
        .to_owned()
}

/// The signer argument that vouches for `v`'s user: the base64 key line
/// of `custodia key public` (given to `--signer`).
fn signer_of(v: &TestVault) -> String {
    minisign_line(&v.ok(&["key", "public"]))
}

/// `custodia bundle verify FILE --signer <exporter's key> ARGS…`: the
/// exporter's key obtained out of band, so a good bundle is VALID (exit 0;
/// without a trusted key it is at best UNAUTHENTICATED, exit 5).
fn verify_trusted(home: &TestVault, exporter: &TestVault, bundle: &Path, extra: &[&str]) -> Output {
    let signer = signer_of(exporter);
    let mut args = vec!["--signer", signer.as_str()];
    args.extend_from_slice(extra);
    verify(home, bundle, &args)
}

/// The key id of a vault user's signing key (`key public --json`).
fn key_id(v: &TestVault) -> String {
    parse_json(&v.ok(&["key", "public", "--json"]))["key_id"]
        .as_str()
        .expect("key public --json has key_id")
        .to_owned()
}

/// `tar -xf TAR -C INTO`; returns the bag directory.
fn untar(tar: &Path, into: &Path) -> PathBuf {
    fs::create_dir_all(into).unwrap();
    tool_ok("tar", &["-xf", arg(tar), "-C", arg(into)]);
    // The bag's one top-level directory (named after the case reference).
    let bag = fs::read_dir(into)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("bagit.txt").is_file());
    bag.unwrap_or_else(|| panic!("no bag in {}", tar.display()))
}

/// Packs `dir/CASE` back into a tar the way a forger would: GNU tar, pax
/// format, sorted, fixed owner and time.
fn repack(dir: &Path, out: &Path) {
    tool_ok(
        "tar",
        &[
            "--format=pax",
            "--pax-option=delete=atime,delete=ctime",
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-cf",
            arg(out),
            "-C",
            arg(dir),
            CASE,
        ],
    );
}

/// Re-signs a (modified) bag with a NEW stock minisign key, as a forger
/// who cannot use the exporter's key would: the forger's public key is
/// added to `data/signers/` (the exporter's stays: the custody events need
/// it), bag-info names the forger's key, the manifests are regenerated and
/// the tag manifest is signed with `minisign -S`. Returns the forger's key.
fn forge_signature(bag: &Path, keys: &Path) -> PublicKey {
    fs::create_dir_all(keys).unwrap();
    let (pub_file, sec_file) = (keys.join("forger.pub"), keys.join("forger.key"));
    tool_ok(
        "minisign",
        &["-G", "-W", "-p", arg(&pub_file), "-s", arg(&sec_file)],
    );
    let pub_text = fs::read_to_string(&pub_file).unwrap();
    let forger = PublicKey::parse_any_id(&pub_text).expect("stock minisign public key");
    fs::write(
        bag.join("data/signers")
            .join(format!("{}.pub", forger.key_id_hex())),
        &pub_text,
    )
    .unwrap();
    let info = fs::read_to_string(bag.join("bag-info.txt")).unwrap();
    let info: String = info
        .lines()
        .map(|l| {
            if l.starts_with("Custodia-Exporter-Key:") {
                format!("Custodia-Exporter-Key: {}\n", forger.key_id_hex())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(bag.join("bag-info.txt"), info).unwrap();
    rebag(bag);
    let sig = bag.join("tagmanifest-sha256.txt.minisig");
    fs::remove_file(&sig).unwrap();
    tool_ok(
        "minisign",
        &[
            "-S",
            "-s",
            arg(&sec_file),
            "-m",
            arg(&bag.join("tagmanifest-sha256.txt")),
            "-x",
            arg(&sig),
        ],
    );
    forger
}

/// `report.html` without the statement texts (`<div class="text" …>…</div>`):
/// the metadata tables, headings and custody timeline. Returns it and the
/// number of text blocks removed.
fn report_without_texts(html: &str) -> (String, usize) {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    let mut blocks = 0;
    while let Some(start) = rest.find("<div class=\"text\"") {
        out.push_str(&rest[..start]);
        let len = rest[start..]
            .find("</div>")
            .expect("a text block is closed");
        rest = &rest[start + len + "</div>".len()..];
        blocks += 1;
    }
    out.push_str(rest);
    (out, blocks)
}

// ------------------------------------------------------------ the vault

/// One evidence item as added.
struct Exhibit {
    id: String,
    sha256: String,
    bytes: Vec<u8>,
}

/// A vault holding the case, its statements and exhibits.
struct Fixture {
    v: TestVault,
    french: String,
    ukrainian: String,
    amended: String,
    recording: Exhibit,
    photo: Exhibit,
}

fn add_statement(v: &TestVault, file: &str, body: &str, fields: &[&str]) -> String {
    let path = v.file(file);
    fs::write(&path, body).unwrap();
    let mut args = vec!["statement", "add", "--case", CASE];
    args.extend_from_slice(fields);
    args.extend(["--file", arg(&path)]);
    let id = v.ok(&args).trim().to_owned();
    assert_eq!(id.len(), 32, "statement add printed {id:?}");
    id
}

fn add_exhibit(v: &TestVault, name: &str, bytes: Vec<u8>, extra: &[&str]) -> Exhibit {
    let dir = v.file("intake");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, &bytes).unwrap();
    let mut args = vec!["evidence", "add", "--case", CASE];
    args.extend_from_slice(extra);
    args.push(arg(&path));
    let line = v.ok(&args);
    let mut words = line.split_whitespace();
    let id = words.next().expect("evidence add prints an id").to_owned();
    let sha256 = words
        .next()
        .expect("evidence add prints a SHA-256")
        .to_owned();
    assert_eq!(sha256, sha256_hex(&bytes), "{line}");
    Exhibit { id, sha256, bytes }
}

impl Fixture {
    fn new() -> Fixture {
        let v = TestVault::new();
        v.ok(&[
            "case",
            "new",
            CASE,
            "--title",
            CASE_TITLE,
            "--description",
            CASE_DESCRIPTION,
            "--tag",
            "asile",
            "--tag",
            "désertion",
        ]);
        let french = add_statement(
            &v,
            "temoignage-fr.txt",
            FRENCH,
            &[
                "--witness",
                PROTECTED_NAME,
                "--pseudonym",
                PSEUDONYM,
                "--protected",
                "--alias",
                PROTECTED_PARTS[0],
                "--alias",
                PROTECTED_PARTS[1],
                "--language",
                "fr",
                "--taken-at",
                "2026-03-14T18:30",
                "--place",
                "Astana, café « Samal »",
                "--interviewer",
                "Maître Claire Dupont",
                "--interpreter",
                "Aïgerim Seitkali",
                "--consent",
                "Accord oral enregistré ; diffusion réservée à la juridiction",
                "--source",
                "https://example.org/temoignages/astana-2026-03",
            ],
        );
        let ukrainian = add_statement(
            &v,
            "svidchennia-uk.txt",
            UKRAINIAN,
            &[
                "--witness",
                UKRAINIAN_WITNESS,
                "--language",
                "uk",
                "--taken-at",
                "2022-04-02",
                "--place",
                "Харків",
                "--interviewer",
                "Amina Q.",
            ],
        );
        let amended = add_statement(
            &v,
            "zapis-ru-v1.txt",
            AMENDED_V1,
            &[
                "--witness",
                AMENDED_WITNESS,
                "--language",
                "ru",
                "--taken-at",
                "2026-03-16",
                "--place",
                "Астана",
            ],
        );
        let v2 = v.file("zapis-ru-v2.txt");
        fs::write(&v2, AMENDED_V2).unwrap();
        v.ok(&[
            "statement",
            "amend",
            &amended,
            "--reason",
            AMEND_REASON,
            "--file",
            arg(&v2),
        ]);
        let recording = add_exhibit(
            &v,
            RECORDING_NAME,
            random_bytes(RECORDING_SIZE),
            &[
                "--statement",
                &french,
                "--description",
                "Enregistrement audio intégral de l'entretien",
                "--acquired-at",
                "2026-03-14",
                "--acquired-by",
                "Maître Claire Dupont",
            ],
        );
        let mut jpeg = vec![
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00,
            0x00, 0x48, 0x00, 0x48, 0x00, 0x00,
        ];
        jpeg.extend(random_bytes(24 * 1024));
        jpeg.extend([0xFF, 0xD9]);
        let photo = add_exhibit(
            &v,
            PHOTO_NAME,
            jpeg,
            &[
                "--statement",
                &ukrainian,
                "--description",
                "Photo de l'école n° 134, prise par la témoin",
                "--source",
                "Téléphone de la témoin",
            ],
        );
        Fixture {
            v,
            french,
            ukrainian,
            amended,
            recording,
            photo,
        }
    }

    /// Runs `export --case CASE --out FILE` plus `protection` (and any
    /// other options); returns the file and the run's output.
    fn export_run(&self, file: &str, protection: &[&str]) -> (PathBuf, Output) {
        let out = self.v.file(file);
        let mut args = vec!["export", "--case", CASE, "--out", arg(&out)];
        args.extend_from_slice(protection);
        let run = self.v.run(&args);
        (out, run)
    }

    /// Exports and demands success.
    fn export(&self, file: &str, protection: &[&str]) -> PathBuf {
        let (out, run) = self.export_run(file, protection);
        expect_exit(&run, 0, "export");
        assert!(out.is_file(), "export wrote no {}", out.display());
        out
    }

    /// A court's vault that imported this case (plain tar) and exported it
    /// again, and that forwarded bundle (plain tar).
    fn forwarded(&self) -> (TestVault, PathBuf) {
        let tar = self.export("for-the-court.tar", &["--no-encrypt"]);
        let court = TestVault::new();
        court.ok(&[
            "bundle",
            "import",
            arg(&tar),
            "--signer",
            &signer_of(&self.v),
        ]);
        let forwarded = court.file("forwarded.tar");
        court.ok(&[
            "export",
            "--case",
            CASE,
            "--no-encrypt",
            "--out",
            arg(&forwarded),
        ]);
        (court, forwarded)
    }

    /// Exports with `--no-encrypt` and unpacks the tar into `dir`; returns
    /// the tar and the bag directory.
    fn unpacked(&self, dir: &str) -> (PathBuf, PathBuf) {
        let tar = self.export(&format!("{dir}.tar"), &["--no-encrypt"]);
        let bag = untar(&tar, &self.v.file(dir));
        (tar, bag)
    }

    /// `statement show ID [--version N] --json`, parsed.
    fn show(&self, id: &str, version: Option<u64>) -> serde_json::Value {
        let mut args = vec!["statement", "show", id, "--json"];
        let v = version.map(|n| n.to_string());
        if let Some(v) = &v {
            args.extend(["--version", v.as_str()]);
        }
        parse_json(&self.v.ok(&args))
    }

    /// Every statement version: (id, version, body).
    fn versions(&self) -> Vec<(&str, u64, &'static str)> {
        vec![
            (self.french.as_str(), 1, FRENCH),
            (self.ukrainian.as_str(), 1, UKRAINIAN),
            (self.amended.as_str(), 1, AMENDED_V1),
            (self.amended.as_str(), 2, AMENDED_V2),
        ]
    }
}

/// Demands a VALID verdict.
fn assert_valid(out: &Output, what: &str) {
    let text = expect_exit(out, 0, what);
    assert!(text.contains("VERDICT: VALID"), "{what}:\n{text}");
}

/// Demands exit 4 (integrity) and a NOT VALID verdict that mentions every
/// one of `needles`; returns the output.
fn assert_rejected(out: &Output, what: &str, needles: &[&str]) -> String {
    let text = expect_exit(out, 4, what);
    assert!(text.contains("NOT VALID"), "{what}:\n{text}");
    for n in needles {
        assert!(
            text.contains(n),
            "{what}: the verdict does not mention {n:?}:\n{text}"
        );
    }
    text
}

// ------------------------------------------------- stock tools open it

#[test]
fn age_bundle_opens_with_stock_age_and_validates_with_stock_bagit_and_minisign() {
    let test = "age_bundle_opens_with_stock_age_and_validates_with_stock_bagit_and_minisign";
    if !stock_tools(test, &["age", "age-keygen", "tar", "bagit.py", "minisign"]) {
        return;
    }
    let fx = Fixture::new();
    let (key, recipient) = age_keygen(fx.v.dir.path(), "court.key");
    let bundle = fx.export("bundle.age", &["--recipient", &recipient]);
    assert!(fs::read(&bundle)
        .unwrap()
        .starts_with(b"age-encryption.org/v1"));

    let tar = fx.v.file("bundle.tar");
    tool_ok(
        "age",
        &["-d", "-i", arg(&key), "-o", arg(&tar), arg(&bundle)],
    );
    let bag = untar(&tar, &fx.v.file("court"));

    let validated = tool("bagit.py", &["--validate", arg(&bag)]);
    assert!(
        validated.status.success(),
        "bagit.py --validate rejected the bag:\n{}",
        String::from_utf8_lossy(&validated.stderr)
    );

    let key_line = minisign_line(&fx.v.ok(&["key", "public"]));
    tool_ok(
        "minisign",
        &[
            "-Vm",
            arg(&bag.join("tagmanifest-sha256.txt")),
            "-P",
            &key_line,
        ],
    );
}

#[test]
fn age_bundle_carries_every_exhibit_byte_for_byte_and_every_statement_version() {
    let test = "age_bundle_carries_every_exhibit_byte_for_byte_and_every_statement_version";
    if !stock_tools(test, &["age", "age-keygen", "tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (key, recipient) = age_keygen(fx.v.dir.path(), "court.key");
    // The texts as written (protected names kept: byte for byte).
    let bundle = fx.export(
        "bundle.age",
        &["--recipient", &recipient, "--keep-names-in-text"],
    );
    let tar = fx.v.file("bundle.tar");
    tool_ok(
        "age",
        &["-d", "-i", arg(&key), "-o", arg(&tar), arg(&bundle)],
    );
    let bag = untar(&tar, &fx.v.file("court"));

    let evidence = bag.join("data/evidence");
    let names: BTreeSet<String> = fs::read_dir(&evidence)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([RECORDING_NAME.to_owned(), PHOTO_NAME.to_owned()]),
        "data/evidence holds exactly the two exhibits under their original names"
    );
    for (name, exhibit) in [(RECORDING_NAME, &fx.recording), (PHOTO_NAME, &fx.photo)] {
        let bytes = fs::read(evidence.join(name)).unwrap();
        assert_eq!(bytes.len(), exhibit.bytes.len(), "{name}");
        assert!(bytes == exhibit.bytes, "{name} differs from the original");
        assert_eq!(sha256_hex(&bytes), exhibit.sha256, "{name}");
    }

    for (id, version, body) in fx.versions() {
        let dir = bag.join("data/statements").join(id);
        let text = fs::read_to_string(dir.join(format!("v{version}.txt")))
            .unwrap_or_else(|e| panic!("{id} v{version}.txt: {e}"));
        // Not redacted (no --redact-names): every text is the original.
        assert_eq!(text, body, "{id} v{version}");
        let doc = parse_json(&fs::read_to_string(dir.join(format!("v{version}.json"))).unwrap());
        assert_eq!(doc["id"], id);
        assert_eq!(doc["version"], version);
        assert_eq!(doc["text_sha256"], sha256_hex(body.as_bytes()));
    }
    let amended = bag.join("data/statements").join(&fx.amended);
    let v2 = parse_json(&fs::read_to_string(amended.join("v2.json")).unwrap());
    assert_eq!(v2["versions"], 2);
    assert_eq!(v2["reason"], AMEND_REASON);
    assert!(!amended.join("v3.txt").exists());
}

// ------------------------------------------------- bundle verify: opening

#[test]
fn no_encrypt_bundle_is_a_plain_tar_that_verify_accepts_as_valid() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt"]);
    let bytes = fs::read(&tar).unwrap();
    assert!(!bytes.starts_with(b"age-encryption.org"));
    assert_eq!(&bytes[257..262], b"ustar", "not a ustar/pax archive");
    let out = verify_trusted(&fx.v, &fx.v, &tar, &[]);
    assert_valid(&out, "bundle verify of a --no-encrypt bundle");
    let text = all_text(&out);
    assert!(text.contains("no (plain tar)"), "{text}");
    assert!(text.contains(CASE), "{text}");
}

#[test]
fn passphrase_bundle_verifies_with_its_passphrase_file() {
    let fx = Fixture::new();
    let pass =
        fx.v.secret_file("bundle.pass", "Greffe — « dossier 014 » été 2026");
    let bundle = fx.export(
        "bundle.age",
        &["--passphrase", "--bundle-passphrase-file", arg(&pass)],
    );
    assert!(fs::read(&bundle)
        .unwrap()
        .starts_with(b"age-encryption.org/v1"));
    let out = verify_trusted(&fx.v, &fx.v, &bundle, &["--passphrase-file", arg(&pass)]);
    assert_valid(&out, "bundle verify --passphrase-file");
    assert!(all_text(&out).contains("yes (age)"));
}

#[test]
fn passphrase_bundle_with_a_wrong_passphrase_exits_3() {
    let fx = Fixture::new();
    let pass =
        fx.v.secret_file("bundle.pass", "Greffe — « dossier 014 » été 2026");
    let wrong =
        fx.v.secret_file("wrong.pass", "Greffe — « dossier 015 » été 2026");
    let bundle = fx.export(
        "bundle.age",
        &["--passphrase", "--bundle-passphrase-file", arg(&pass)],
    );
    let out = verify(&fx.v, &bundle, &["--passphrase-file", arg(&wrong)]);
    let text = expect_exit(&out, 3, "bundle verify with a wrong passphrase");
    assert!(!text.contains("VALID"), "{text}");
}

#[test]
fn age_bundle_without_identity_exits_3() {
    if !stock_tools("age_bundle_without_identity_exits_3", &["age-keygen"]) {
        return;
    }
    let fx = Fixture::new();
    let (_key, recipient) = age_keygen(fx.v.dir.path(), "court.key");
    let bundle = fx.export("bundle.age", &["--recipient", &recipient]);
    let text = expect_exit(&verify(&fx.v, &bundle, &[]), 3, "verify without --identity");
    assert!(text.contains("--identity"), "{text}");
}

#[test]
fn age_bundle_with_another_identity_exits_3() {
    if !stock_tools("age_bundle_with_another_identity_exits_3", &["age-keygen"]) {
        return;
    }
    let fx = Fixture::new();
    let (key, recipient) = age_keygen(fx.v.dir.path(), "court.key");
    let (other, _) = age_keygen(fx.v.dir.path(), "other.key");
    let bundle = fx.export("bundle.age", &["--recipient", &recipient]);
    expect_exit(
        &verify(&fx.v, &bundle, &["--identity", arg(&other)]),
        3,
        "verify with another identity",
    );
    // The right identity opens it.
    assert_valid(
        &verify_trusted(&fx.v, &fx.v, &bundle, &["--identity", arg(&key)]),
        "verify with the court's identity",
    );
}

/// The bundle with one character of its age header MAC changed.
fn with_tampered_header_mac(bundle: &Path, out: &Path) {
    let mut bytes = fs::read(bundle).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == b"\n--- ")
        .expect("an age header MAC line")
        + 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    fs::write(out, bytes).unwrap();
}

#[test]
fn age_bundle_with_a_tampered_header_exits_4_even_with_the_right_key_or_passphrase() {
    let test = "age_bundle_with_a_tampered_header_exits_4_even_with_the_right_key_or_passphrase";
    if !stock_tools(test, &["age", "age-keygen"]) {
        return;
    }
    let fx = Fixture::new();
    let (key, recipient) = age_keygen(fx.v.dir.path(), "court.key");
    let bundle = fx.export("bundle.age", &["--recipient", &recipient]);
    let tampered = fx.v.file("tampered.age");
    with_tampered_header_mac(&bundle, &tampered);
    // The court's own stock tool sees a damaged file, not a wrong key.
    let stock = tool(
        "age",
        &["-d", "-i", arg(&key), "-o", "/dev/null", arg(&tampered)],
    );
    assert!(!stock.status.success());
    assert!(String::from_utf8_lossy(&stock.stderr).contains("header MAC"));
    let text = expect_exit(
        &verify(&fx.v, &tampered, &["--identity", arg(&key)]),
        4,
        "verify of a tampered age header with the court's identity",
    );
    assert!(!text.contains("none of the given identities"), "{text}");

    let pass =
        fx.v.secret_file("bundle.pass", "Greffe — « dossier 014 » été 2026");
    let bundle = fx.export(
        "bundle-pass.age",
        &["--passphrase", "--bundle-passphrase-file", arg(&pass)],
    );
    let tampered = fx.v.file("tampered-pass.age");
    with_tampered_header_mac(&bundle, &tampered);
    let text = expect_exit(
        &verify(&fx.v, &tampered, &["--passphrase-file", arg(&pass)]),
        4,
        "verify of a tampered age header with the right passphrase",
    );
    assert!(!text.contains("wrong passphrase"), "{text}");
}

// ------------------------------------------------- bundle verify: signer

#[test]
fn verify_with_the_exporters_key_from_key_public_as_signer_exits_0() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt"]);
    let public = fx.v.ok(&["key", "public"]);
    let out = verify(&fx.v, &tar, &["--signer", &minisign_line(&public)]);
    assert_valid(&out, "verify --signer <key public line>");
    let text = all_text(&out);
    assert!(text.contains("--signer"), "{text}");
    assert!(text.contains(&key_id(&fx.v)), "{text}");
    // The whole `key public` output, saved as a .pub file, works too.
    let pub_file = fx.v.file("exporter.pub");
    fs::write(&pub_file, &public).unwrap();
    assert_valid(
        &verify(&fx.v, &tar, &["--signer", arg(&pub_file)]),
        "verify --signer FILE.pub",
    );
}

#[test]
fn verify_with_another_users_key_as_signer_exits_4_and_names_the_real_signer() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt"]);
    let other = TestVault::new();
    let other_key = minisign_line(&other.ok(&["key", "public"]));
    let out = verify(&fx.v, &tar, &["--signer", &other_key]);
    let text = assert_rejected(
        &out,
        "verify --signer <another vault's key>",
        &[&key_id(&fx.v), &key_id(&other)],
    );
    assert!(text.contains("signed by key"), "{text}");
}

// ------------------------------------------------- tampering

#[test]
fn repacked_untouched_bundle_still_verifies() {
    // The control for every tampering test: unpacking and repacking with
    // GNU tar alone does not make a bundle invalid.
    if !stock_tools("repacked_untouched_bundle_still_verifies", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("work");
    let repacked = fx.v.file("repacked.tar");
    repack(bag.parent().unwrap(), &repacked);
    assert_valid(
        &verify_trusted(&fx.v, &fx.v, &repacked, &[]),
        "untouched repack",
    );
}

#[test]
fn one_changed_byte_in_an_evidence_file_exits_4_naming_the_file() {
    if !stock_tools("one_changed_byte_in_an_evidence_file", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("work");
    let victim = bag.join("data/evidence").join(RECORDING_NAME);
    let mut bytes = fs::read(&victim).unwrap();
    bytes[1_234_567] ^= 0x01;
    fs::write(&victim, bytes).unwrap();
    let tampered = fx.v.file("tampered.tar");
    repack(bag.parent().unwrap(), &tampered);
    assert_rejected(
        &verify(&fx.v, &tampered, &[]),
        "one byte changed in an exhibit",
        &[&format!("data/evidence/{RECORDING_NAME}"), "altered"],
    );
}

#[test]
fn one_changed_byte_in_a_statement_text_exits_4_naming_the_file() {
    if !stock_tools("one_changed_byte_in_a_statement_text", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("work");
    let rel = format!("data/statements/{}/v1.txt", fx.ukrainian);
    let victim = bag.join(&rel);
    let mut bytes = fs::read(&victim).unwrap();
    let at = bytes
        .windows(3)
        .position(|w| w == b"134")
        .expect("the school number");
    bytes[at + 1] = b'8'; // "школи № 134" becomes "школи № 184"
    fs::write(&victim, bytes).unwrap();
    let tampered = fx.v.file("tampered.tar");
    repack(bag.parent().unwrap(), &tampered);
    assert_rejected(
        &verify(&fx.v, &tampered, &[]),
        "one byte changed in a statement text",
        &[&rel, "altered"],
    );
}

#[test]
fn a_file_added_under_data_exits_4_as_extra() {
    if !stock_tools("a_file_added_under_data_exits_4_as_extra", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("work");
    fs::write(
        bag.join("data/evidence/pièce ajoutée après coup.txt"),
        "Lettre de rétractation « signée » par le témoin.\n",
    )
    .unwrap();
    let tampered = fx.v.file("tampered.tar");
    repack(bag.parent().unwrap(), &tampered);
    assert_rejected(
        &verify(&fx.v, &tampered, &[]),
        "a file added under data/",
        &["data/evidence/pièce ajoutée après coup.txt", "extra"],
    );
}

#[test]
fn a_removed_file_exits_4_as_missing() {
    if !stock_tools("a_removed_file_exits_4_as_missing", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("work");
    fs::remove_file(bag.join("data/evidence").join(PHOTO_NAME)).unwrap();
    let tampered = fx.v.file("tampered.tar");
    repack(bag.parent().unwrap(), &tampered);
    assert_rejected(
        &verify(&fx.v, &tampered, &[]),
        "a payload file removed",
        &[&format!("data/evidence/{PHOTO_NAME}"), "missing"],
    );
}

#[test]
fn a_removed_signature_exits_4_as_unsigned() {
    if !stock_tools("a_removed_signature_exits_4_as_unsigned", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("work");
    fs::remove_file(bag.join("tagmanifest-sha256.txt.minisig")).unwrap();
    let tampered = fx.v.file("tampered.tar");
    repack(bag.parent().unwrap(), &tampered);
    assert_rejected(
        &verify(&fx.v, &tampered, &[]),
        "the minisig removed",
        &["unsigned"],
    );
}

#[test]
fn a_bag_resigned_with_a_new_minisign_key_fails_against_the_original_signer() {
    let test = "a_bag_resigned_with_a_new_minisign_key_fails_against_the_original_signer";
    if !stock_tools(test, &["tar", "minisign", "bagit.py"]) {
        return;
    }
    let fx = Fixture::new();
    let original = minisign_line(&fx.v.ok(&["key", "public"]));
    let (_tar, bag) = fx.unpacked("work");
    // The forger rewrites the clerk's reading copy, which no custody
    // event fingerprints, then re-manifests and re-signs with their own key.
    let report = bag.join("data/report.html");
    let html = fs::read_to_string(&report).unwrap();
    fs::write(
        &report,
        html.replace("Case ", "Affaire classée sans suite — Case "),
    )
    .unwrap();
    let forger = forge_signature(&bag, &fx.v.file("forger-keys"));

    // The forgery is good enough for the stock BagIt validator and its
    // signature checks out against the key the bag itself carries…
    tool_ok("bagit.py", &["--validate", arg(&bag)]);
    let forged = fx.v.file("forged.tar");
    repack(bag.parent().unwrap(), &forged);
    let unanchored = verify(&fx.v, &forged, &[]);
    let text = expect_exit(&unanchored, 4, "verify of the forgery without --signer");
    assert!(text.contains(&forger.key_id_hex()), "{text}");
    // The forger's stock key carries a random id, not the one derived from
    // the key: refused by name.
    assert!(text.contains("derived from the key itself"), "{text}");
    // …but the export events inside were signed by the real exporter, so
    // even without --signer the re-signing shows.
    assert!(text.contains("re-signed by someone else"), "{text}");
    assert!(!text.contains("[ok] custody chain"), "{text}");
    let court = TestVault::new();
    expect_exit(
        &court.run(&["bundle", "import", arg(&forged), "--signer", &original]),
        4,
        "import of the forgery",
    );

    // …but not against the exporter's real key, with ours or stock minisign.
    assert_rejected(
        &verify(&fx.v, &forged, &["--signer", &original]),
        "verify of the forgery --signer <original key>",
        &[&forger.key_id_hex(), &key_id(&fx.v)],
    );
    let stock = tool(
        "minisign",
        &[
            "-Vm",
            arg(&bag.join("tagmanifest-sha256.txt")),
            "-P",
            &original,
        ],
    );
    assert!(
        !stock.status.success(),
        "stock minisign accepted the forgery"
    );
}

#[test]
fn a_deleted_custody_line_exits_4() {
    if !stock_tools("a_deleted_custody_line_exits_4", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("work");
    let rel = format!("data/custody/{}.jsonl", fx.amended);
    let path = bag.join(&rel);
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "create, amend, export:\n{text}");
    assert!(lines[1].contains("amend"), "{}", lines[1]);
    let without_amend: String = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(&path, without_amend).unwrap();
    let tampered = fx.v.file("tampered.tar");
    repack(bag.parent().unwrap(), &tampered);
    assert_rejected(
        &verify(&fx.v, &tampered, &[]),
        "a custody line deleted",
        &[&rel, "altered"],
    );
}

#[test]
fn a_deleted_custody_line_is_caught_even_after_remanifesting_and_resigning() {
    let test = "a_deleted_custody_line_is_caught_even_after_remanifesting_and_resigning";
    if !stock_tools(test, &["tar", "minisign"]) {
        return;
    }
    // The forger hides the amendment: deletes its custody event, then
    // regenerates every manifest and re-signs with a key of their own. The
    // events are signed and chained by the exporter's key, so the chain
    // check alone catches it, even without --signer.
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("work");
    let path = bag.join(format!("data/custody/{}.jsonl", fx.amended));
    let text = fs::read_to_string(&path).unwrap();
    let kept: String = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    fs::write(&path, kept).unwrap();
    forge_signature(&bag, &fx.v.file("forger-keys"));
    let forged = fx.v.file("forged.tar");
    repack(bag.parent().unwrap(), &forged);
    let out = assert_rejected(
        &verify(&fx.v, &forged, &[]),
        "custody line deleted, re-manifested and re-signed",
        &[&fx.amended, "chain"],
    );
    assert!(!out.contains("altered (its SHA-256"), "{out}");
}

// ------------------------------------------------- hostile archives

/// Builds a hostile copy of a valid bundle with Python's `tarfile`: every
/// member of `src` copied, then one hostile entry appended.
const HOSTILE_TAR_PY: &str = r#"
import io, sys, tarfile

src, dst, kind, evil = sys.argv[1:5]
with tarfile.open(src) as s:
    members = [(m, s.extractfile(m).read() if m.isfile() else None) for m in s.getmembers()]
bag = members[0][0].name.split("/")[0]

out = tarfile.open(dst, "w", format=tarfile.PAX_FORMAT)
for m, data in members:
    out.addfile(m, io.BytesIO(data) if data is not None else None)

def regular(name, data=b"evil\n"):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    out.addfile(ti, io.BytesIO(data))

if kind == "none":
    pass
elif kind == "traversal":
    regular(bag + "/data/x/../../../../" + evil)
elif kind == "absolute":
    regular("/tmp/" + evil)
elif kind == "symlink":
    ti = tarfile.TarInfo(bag + "/data/evidence/lien")
    ti.type = tarfile.SYMTYPE
    ti.linkname = "/tmp/" + evil
    out.addfile(ti)
    regular(bag + "/data/evidence/lien/payload")
elif kind == "hardlink":
    ti = tarfile.TarInfo(bag + "/data/evidence/lien")
    ti.type = tarfile.LNKTYPE
    ti.linkname = "/etc/passwd"
    out.addfile(ti)
elif kind == "huge":
    ti = tarfile.TarInfo(bag + "/data/evidence/" + evil)
    ti.size = 1 << 40  # 1 TiB claimed, 64 KiB given
    header = ti.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    junk = b"\xab" * 65536
    out.fileobj.write(header + junk)
    out.offset += len(header) + len(junk)
else:
    raise SystemExit("unknown kind " + kind)
out.close()
"#;

/// A valid `--no-encrypt` bundle rewritten by Python with a hostile `kind`
/// of entry; returns the file.
fn hostile_tar(fx: &Fixture, kind: &str, evil: &str) -> PathBuf {
    let valid = fx.export("valid.tar", &["--no-encrypt"]);
    let script = fx.v.file("hostile.py");
    fs::write(&script, HOSTILE_TAR_PY).unwrap();
    let out = fx.v.file(&format!("hostile-{kind}.tar"));
    tool_ok(
        "python3",
        &[arg(&script), arg(&valid), arg(&out), kind, evil],
    );
    out
}

/// Where an extraction relative to either vault's directory (custodia's
/// working directory in these tests) would have put `evil`, and the bag
/// directory it would have created there.
fn evil_targets(dirs: &[&Path], evil: &str) -> Vec<PathBuf> {
    let mut targets = vec![PathBuf::from("/tmp").join(evil)];
    for dir in dirs {
        targets.push(dir.join(evil));
        targets.push(dir.parent().unwrap().join(evil));
        targets.push(dir.join(CASE));
    }
    targets
}

/// A hostile archive: `bundle verify` exits 4 (no panic: `run_command`
/// checks), `bundle import` into a fresh vault fails with nothing imported
/// and the vault still checks clean, and nothing appears outside.
fn assert_hostile_rejected(kind: &str, needles: &[&str]) {
    if !stock_tools(&format!("hostile {kind} archive"), &["python3"]) {
        return;
    }
    let fx = Fixture::new();
    let evil = format!("custodia-evil-{kind}-{}", random_tag());
    let tar = hostile_tar(&fx, kind, &evil);
    let receiving = TestVault::new();

    let verdict = assert_rejected(
        &verify(&receiving, &tar, &[]),
        &format!("verify of a hostile {kind} archive"),
        &["unsafe or malformed"],
    );
    for n in needles {
        assert!(verdict.contains(n), "{kind}: no {n:?} in:\n{verdict}");
    }

    let import = receiving.run(&["bundle", "import", arg(&tar), "--signer", &signer_of(&fx.v)]);
    let text = all_text(&import);
    assert!(
        !import.status.success(),
        "import of a hostile {kind} archive succeeded:\n{text}"
    );
    assert!(text.contains("nothing was imported"), "{text}");
    for list in [
        ["case", "list", "--json"],
        ["statement", "list", "--json"],
        ["evidence", "list", "--json"],
    ] {
        let listed = parse_json(&receiving.ok(&list));
        assert_eq!(
            listed,
            serde_json::json!([]),
            "{list:?} after a refused import"
        );
    }
    expect_exit(
        &receiving.run(&["check"]),
        0,
        "check after a refused import",
    );

    for target in evil_targets(&[fx.v.dir.path(), receiving.dir.path()], &evil) {
        assert!(
            fs::symlink_metadata(&target).is_err(),
            "{kind}: {} was written",
            target.display()
        );
    }
}

#[test]
fn python_rewritten_bundle_without_hostile_entries_still_verifies() {
    // The control for the hostile-archive tests.
    if !stock_tools("python_rewritten_bundle_verifies", &["python3"]) {
        return;
    }
    let fx = Fixture::new();
    let tar = hostile_tar(&fx, "none", "unused");
    assert_valid(
        &verify_trusted(&fx.v, &fx.v, &tar, &[]),
        "Python copy of a valid bundle",
    );
}

#[test]
fn hostile_tar_with_path_traversal_is_refused_by_verify_and_import() {
    assert_hostile_rejected("traversal", &[".."]);
}

#[test]
fn hostile_tar_with_an_absolute_path_is_refused_by_verify_and_import() {
    assert_hostile_rejected("absolute", &["absolute"]);
}

#[test]
fn hostile_tar_with_a_symlink_is_refused_by_verify_and_import() {
    assert_hostile_rejected("symlink", &["symbolic link"]);
}

#[test]
fn hostile_tar_with_a_hard_link_is_refused_by_verify_and_import() {
    assert_hostile_rejected("hardlink", &["hard link"]);
}

#[test]
fn hostile_tar_claiming_a_1_tib_entry_is_refused_by_verify_and_import() {
    let started = Instant::now();
    assert_hostile_rejected("huge", &[]);
    assert!(
        started.elapsed() < Duration::from_secs(100),
        "a 1 TiB header took {:?}",
        started.elapsed()
    );
}

// ------------------------------------------------- protected witnesses

#[test]
fn protected_witness_name_is_withheld_from_metadata_by_default_with_a_warning() {
    if !stock_tools("protected_witness_name_is_withheld", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    // Texts keep the name only on request (by default they are redacted
    // copies: see tests/it/bundle_trust.rs); metadata never does.
    let (tar, run) = fx.export_run("bundle.tar", &["--no-encrypt", "--keep-names-in-text"]);
    let stderr = expect_exit(&run, 0, "export");
    assert!(
        stderr.contains("warning") && stderr.contains("2 time(s)"),
        "export should warn that the name occurs twice in the text:\n{stderr}"
    );
    assert!(
        !stderr.contains(PROTECTED_NAME),
        "the warning repeats the name:\n{stderr}"
    );
    let bag = untar(&tar, &fx.v.file("court"));

    for rel in files_under(&bag, &bag) {
        let bytes = fs::read(bag.join(&rel)).unwrap();
        let is_text = rel.starts_with("data/statements/") && rel.ends_with(".txt");
        if rel == "data/report.html" {
            let html = String::from_utf8(bytes).unwrap();
            let (meta, blocks) = report_without_texts(&html);
            assert_eq!(blocks, 4, "one text block per statement version");
            assert!(
                !meta.contains(PROTECTED_NAME),
                "report metadata names the witness"
            );
            assert!(meta.contains(&html_escape(PSEUDONYM)));
        } else if !is_text {
            assert!(
                !contains(&bytes, PROTECTED_NAME),
                "{rel} contains the protected name"
            );
        }
    }
    let doc = parse_json(
        &fs::read_to_string(bag.join(format!("data/statements/{}/v1.json", fx.french))).unwrap(),
    );
    assert_eq!(doc["witness"], PSEUDONYM);
    assert_eq!(doc["identity_withheld"], true);
    assert_eq!(doc["protected"], true);
    assert_eq!(doc["redactions"], 0);
    // The text copy is the original, name included (that is what the warning is for).
    let text =
        fs::read_to_string(bag.join(format!("data/statements/{}/v1.txt", fx.french))).unwrap();
    assert_eq!(text, FRENCH);
}

#[test]
fn redact_names_removes_the_protected_name_from_every_file_and_leaves_the_vault_unchanged() {
    if !stock_tools("redact_names_removes_the_protected_name", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let before = fx.show(&fx.french, None);
    assert_eq!(before["body"], FRENCH);
    let vault_sha = before["body_sha256"].as_str().unwrap().to_owned();
    assert_eq!(vault_sha, sha256_hex(FRENCH.as_bytes()));

    let (tar, run) = fx.export_run("bundle.tar", &["--no-encrypt", "--redact-names"]);
    let stderr = expect_exit(&run, 0, "export --redact-names");
    assert!(stderr.contains("replaced by the pseudonym"), "{stderr}");

    let bag = untar(&tar, &fx.v.file("court"));
    for rel in files_under(&bag, &bag) {
        let bytes = fs::read(bag.join(&rel)).unwrap();
        for needle in std::iter::once(PROTECTED_NAME).chain(PROTECTED_PARTS) {
            assert!(!contains(&bytes, needle), "{rel} contains {needle:?}");
            assert!(
                !rel.contains(needle),
                "a file is named after the witness: {rel}"
            );
        }
    }
    let dir = bag.join("data/statements").join(&fx.french);
    let doc = parse_json(&fs::read_to_string(dir.join("v1.json")).unwrap());
    let text = fs::read_to_string(dir.join("v1.txt")).unwrap();
    assert!(doc["redactions"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(doc["redactions"], 2);
    assert_eq!(doc["original_sha256"], vault_sha.as_str());
    assert_eq!(doc["text_sha256"], sha256_hex(text.as_bytes()));
    assert_ne!(doc["text_sha256"], vault_sha.as_str());
    assert!(
        text.contains(&format!("Je m'appelle {PSEUDONYM}.")),
        "{text}"
    );

    // The redacted bundle still verifies, and the vault kept the original.
    assert_valid(
        &verify_trusted(&fx.v, &fx.v, &tar, &[]),
        "verify a redacted bundle",
    );
    let after = fx.show(&fx.french, None);
    assert_eq!(after["body"], FRENCH);
    assert_eq!(after["body_sha256"], vault_sha.as_str());
    assert_eq!(after["witness"], PROTECTED_NAME);
    assert_eq!(after["versions"], 1);
}

#[test]
fn redact_names_leaves_no_trace_of_a_protected_name_written_in_an_amendment_reason() {
    if !stock_tools("redact_names_and_amendment_reasons", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let corrected = fx.v.file("temoignage-fr-v2.txt");
    fs::write(&corrected, FRENCH.replace("3 octobre", "5 octobre")).unwrap();
    fx.v.ok(&[
        "statement",
        "amend",
        &fx.french,
        "--reason",
        "Évgueni a relu sa déposition le 20 mars 2026 et corrigé la date de départ",
        "--file",
        arg(&corrected),
    ]);
    let (tar, run) = fx.export_run("bundle.tar", &["--no-encrypt", "--redact-names"]);
    if !run.status.success() {
        // Refusing the export is an acceptable fix too, if nothing is written.
        assert!(!tar.exists(), "a refused export left {}", tar.display());
        return;
    }
    let bag = untar(&tar, &fx.v.file("court"));
    for rel in files_under(&bag, &bag) {
        let bytes = fs::read(bag.join(&rel)).unwrap();
        for needle in std::iter::once(PROTECTED_NAME).chain(PROTECTED_PARTS) {
            assert!(!contains(&bytes, needle), "{rel} contains {needle:?}");
        }
    }
}

#[test]
fn reveal_protected_puts_the_witness_name_in_the_json() {
    if !stock_tools("reveal_protected_puts_the_witness_name", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt", "--reveal-protected"]);
    let bag = untar(&tar, &fx.v.file("court"));
    let path = bag.join(format!("data/statements/{}/v1.json", fx.french));
    let raw = fs::read_to_string(&path).unwrap();
    assert!(raw.contains(PROTECTED_NAME), "{raw}");
    let doc = parse_json(&raw);
    assert_eq!(doc["witness"], PROTECTED_NAME);
    assert_eq!(doc["identity_withheld"], false);
    assert_eq!(doc["protected"], true);
}

// ------------------------------------------------- the export is recorded

#[test]
fn export_is_recorded_in_each_records_log_with_the_recipient_fingerprint() {
    let fx = Fixture::new();
    // The court's recipient (made with the age library: this test only
    // encrypts to it).
    let recipient = age::x25519::Identity::generate().to_public().to_string();
    let fingerprint = hex::encode(&Sha256::digest(recipient.as_bytes())[..8]);
    for id in [&fx.french, &fx.amended, &fx.recording.id] {
        let log = fx.v.ok(&["log", id]);
        assert!(!log.contains(" export "), "exported before export:\n{log}");
    }
    fx.export("bundle.age", &["--recipient", &recipient]);
    for id in [
        &fx.french,
        &fx.ukrainian,
        &fx.amended,
        &fx.photo.id,
        &fx.recording.id,
    ] {
        let log = fx.v.ok(&["log", id]);
        let line = log
            .lines()
            .find(|l| l.contains(" export "))
            .unwrap_or_else(|| panic!("no export event for {id}:\n{log}"));
        assert!(line.contains(&id[..12]), "{line}");
        assert!(
            line.contains(&fingerprint),
            "no recipient fingerprint:\n{line}"
        );
        assert!(line.contains("age-recipients"), "{line}");
        assert!(
            !line.contains(&recipient),
            "the full recipient is logged:\n{line}"
        );
    }
    expect_exit(&fx.v.run(&["check"]), 0, "check after export");
}

// ------------------------------------------------- overwriting

#[test]
fn export_refuses_to_overwrite_an_existing_out_without_force() {
    let fx = Fixture::new();
    let out = fx.v.file("bundle.tar");
    let precious = "Bordereau de transmission au greffe — ne pas écraser\n";
    fs::write(&out, precious).unwrap();
    let listing = || {
        let mut names: Vec<String> = fs::read_dir(fx.v.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = listing();
    let (_, run) = fx.export_run("bundle.tar", &["--no-encrypt"]);
    let text = expect_exit(&run, 1, "export over an existing file");
    assert!(text.contains("bundle.tar"), "{text}");
    assert_eq!(fs::read_to_string(&out).unwrap(), precious);
    assert_eq!(listing(), before, "export left files behind");
    let log = fx.v.ok(&["log", &fx.french]);
    assert!(
        !log.contains(" export "),
        "a refused export was logged:\n{log}"
    );
}

#[test]
fn export_with_force_replaces_an_existing_out() {
    let fx = Fixture::new();
    let out = fx.v.file("bundle.tar");
    fs::write(&out, "ancien bordereau\n").unwrap();
    fx.export("bundle.tar", &["--no-encrypt", "--force"]);
    assert_valid(
        &verify_trusted(&fx.v, &fx.v, &out, &[]),
        "verify the replaced bundle",
    );
}

// ------------------------------------------------- deterministic packing

/// The same entries through `DeterministicTar`.
fn pack_sample() -> Vec<u8> {
    let long = format!("{CASE}/data/statements/{}/v1.txt", "a".repeat(120));
    let mut tar = DeterministicTar::new(Vec::new());
    tar.add_dir(CASE).unwrap();
    let files: [(&str, &[u8]); 4] = [
        (
            "bagit.txt",
            b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        ),
        (
            "data/evidence/Фото «свидетель» 01.jpg",
            &[0xFF, 0xD8, 0xFF, 0xD9],
        ),
        ("data/report.html", FRENCH.as_bytes()),
        ("tagmanifest-sha256.txt", b""),
    ];
    let mut entries: Vec<(String, &[u8])> = files
        .iter()
        .map(|(p, b)| (format!("{CASE}/{p}"), *b))
        .collect();
    entries.push((long, UKRAINIAN.as_bytes()));
    entries.sort();
    for (path, bytes) in entries {
        tar.add_file(&path, bytes.len() as u64, bytes).unwrap();
    }
    tar.finish().unwrap()
}

#[test]
fn deterministic_tar_writes_identical_bytes_for_identical_entries() {
    let first = pack_sample();
    let second = pack_sample();
    assert_eq!(first.len() % 512, 0);
    assert!(first == second, "two packings of the same entries differ");
}

#[test]
fn exported_tar_lists_owner_0_0_and_one_export_time_for_every_entry() {
    if !stock_tools("exported_tar_lists_owner_0_0_and_one_export_time", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt"]);
    let out = tool_ok("tar", &["-tvf", arg(&tar)]);
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        listing.contains(&format!("{CASE}/data/evidence/{PHOTO_NAME}")),
        "{listing}"
    );
    let mut count = 0;
    let mut dates = std::collections::BTreeSet::new();
    for line in listing.lines() {
        assert!(line.contains(" 0/0 "), "owner is not 0/0: {line}");
        // `-rw-r--r-- 0/0 SIZE YYYY-MM-DD HH:MM PATH`: one date for all,
        // the export's (issue 14.8), never the epoch.
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(!line.contains(" 1970-01-01 "), "dated the epoch: {line}");
        dates.insert(format!("{} {}", fields[3], fields[4]));
        count += 1;
    }
    assert!(dates.len() <= 2, "entries dated differently: {dates:?}");
    // bag files + 3 statement texts and metadata (4 versions) + 2 exhibits…
    assert!(count >= 20, "{listing}");
}

// ------------------------------------------------- import

#[test]
fn import_into_a_second_vault_keeps_ids_sha256_and_custody() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt", "--keep-names-in-text"]);
    let second = TestVault::new();
    let text = expect_exit(
        &second.run(&["bundle", "import", arg(&tar), "--signer", &signer_of(&fx.v)]),
        0,
        "bundle import",
    );
    assert!(text.contains(CASE), "{text}");

    let ids = |v: &TestVault, what: &str| -> BTreeSet<String> {
        parse_json(&v.ok(&[what, "list", "--json"]))
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&second, "statement"), ids(&fx.v, "statement"));
    assert_eq!(
        ids(&second, "statement"),
        BTreeSet::from([fx.french.clone(), fx.ukrainian.clone(), fx.amended.clone()])
    );
    assert_eq!(
        ids(&second, "evidence"),
        BTreeSet::from([fx.recording.id.clone(), fx.photo.id.clone()])
    );

    for (id, version, body) in fx.versions() {
        let n = version.to_string();
        let there = parse_json(&second.ok(&["statement", "show", id, "--version", &n, "--json"]));
        assert_eq!(there["body"], body, "{id} v{version}");
        assert_eq!(there["body_sha256"], sha256_hex(body.as_bytes()));
        assert_eq!(there["versions"], if id == fx.amended { 2 } else { 1 });
    }
    for exhibit in [&fx.recording, &fx.photo] {
        let shown = parse_json(&second.ok(&["evidence", "show", &exhibit.id, "--json"]));
        assert_eq!(shown["sha256"], exhibit.sha256.as_str(), "{shown}");
        let out = second.file(&format!("{}.extracted", exhibit.id));
        second.ok(&["evidence", "extract", &exhibit.id, "--out", arg(&out)]);
        assert!(fs::read(&out).unwrap() == exhibit.bytes, "{}", exhibit.id);
    }

    expect_exit(&second.run(&["check"]), 0, "check on the receiving vault");
    for id in [&fx.french, &fx.amended, &fx.photo.id] {
        let log = second.ok(&["log", id]);
        assert!(
            log.lines().any(|l| l.contains(" import ")),
            "no import event for {id}:\n{log}"
        );
    }
}

#[test]
fn imported_case_re_exports_as_a_bundle_that_verifies() {
    // A court forwards what it received (to an appeal court): import, then export.
    let fx = Fixture::new();
    let (court, forwarded) = fx.forwarded();
    assert_valid(
        &verify_trusted(&court, &court, &forwarded, &[]),
        "verify of a re-exported import",
    );
}

#[test]
fn importing_the_same_bundle_twice_exits_1_and_changes_nothing() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt"]);
    let second = TestVault::new();
    let exporter = signer_of(&fx.v);
    second.ok(&["bundle", "import", arg(&tar), "--signer", &exporter]);

    let snapshot = |v: &TestVault| {
        let events = parse_json(&v.ok(&["log", "--json"]))
            .as_array()
            .unwrap()
            .len();
        (
            events,
            parse_json(&v.ok(&["case", "list", "--json"])),
            parse_json(&v.ok(&["statement", "list", "--json"])),
            parse_json(&v.ok(&["evidence", "list", "--json"])),
        )
    };
    let before = snapshot(&second);
    let text = expect_exit(
        &second.run(&["bundle", "import", arg(&tar), "--signer", &exporter]),
        1,
        "importing the same bundle again",
    );
    assert!(text.contains("already"), "{text}");
    let after = snapshot(&second);
    // Listing appends no event of its own, so the counts are comparable.
    assert_eq!(after, before);
    expect_exit(&second.run(&["check"]), 0, "check after a refused import");
}

// ------------------------------------------------- report.html

#[test]
fn report_html_has_no_script_no_remote_resource_and_every_statement_text() {
    if !stock_tools("report_html_has_no_script", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    // A statement pasted from a news site, markup and all: the report must
    // show it as text, never run or load it.
    let pasted = add_statement(
        &fx.v,
        "article-colle.txt",
        PASTED_ARTICLE,
        &[
            "--witness",
            "Rédaction de Vlast.kz",
            "--language",
            "ru",
            "--source",
            "https://vlast.kz/novosti/dezertir-astana.html",
        ],
    );
    let tar = fx.export("court.tar", &["--no-encrypt", "--keep-names-in-text"]);
    let bag = untar(&tar, &fx.v.file("court"));
    let html = fs::read_to_string(bag.join("data/report.html")).unwrap();
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "report.html has a script");
    assert!(!lower.contains("<img"), "report.html has an image element");
    for attr in ["src=", "href=", "url(", "@import"] {
        for (at, _) in lower.match_indices(attr) {
            let value = lower[at + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            assert!(
                !(value.starts_with("http:")
                    || value.starts_with("https:")
                    || value.starts_with("//")),
                "remote resource in report.html: {}",
                lower[at..].chars().take(80).collect::<String>()
            );
        }
    }
    // Source URLs are shown as text, not linked.
    assert!(html.contains("https://example.org/temoignages/astana-2026-03"));
    assert!(html.contains("https://vlast.kz/novosti/dezertir-astana.html"));
    for (id, version, body) in
        fx.versions()
            .into_iter()
            .chain([(pasted.as_str(), 1, PASTED_ARTICLE)])
    {
        assert!(
            html.contains(&html_escape(body)),
            "report.html lacks the text of {id} v{version}"
        );
    }
    assert!(html.contains(&html_escape(PHOTO_NAME)));
    assert!(html.contains(&fx.recording.sha256));
}

#[test]
fn report_html_renders_in_headless_chromium() {
    if !crate::common::needs(
        "report_html_renders_in_headless_chromium",
        find_on_path("chromium").is_some(),
        "`chromium` is not on PATH",
        "apt-get install chromium (.ci/run does)",
    ) {
        return;
    }
    if !stock_tools("report_html_renders_in_headless_chromium", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let (_tar, bag) = fx.unpacked("court");
    let report = bag.join("data/report.html");
    let png = fx.v.file("report.png");
    let stderr = crate::common::headless_chromium(
        &fx.v,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1240,1754".to_owned(),
        ],
        &report,
    );
    let size = fs::metadata(&png)
        .unwrap_or_else(|e| panic!("no screenshot ({e}):\n{stderr}"))
        .len();
    assert!(size > 10 * 1024, "screenshot is only {size} bytes");
    assert!(fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    // For a human to look at.
    let _ = fs::copy(&png, "/work/report-screenshot.png");
}

#[test]
fn a_sealed_statement_stays_sealed_after_import() {
    let fx = Fixture::new();
    fx.v.ok(&["statement", "seal", &fx.french]);
    let tar = fx.export("sealed.tar", &["--no-encrypt"]);
    let second = TestVault::new();
    expect_exit(
        &second.run(&["bundle", "import", arg(&tar), "--signer", &signer_of(&fx.v)]),
        0,
        "bundle import",
    );
    let shown = parse_json(&second.ok(&["statement", "show", &fx.french, "--json"]));
    assert_eq!(shown["sealed"], true, "{shown}");
    let text = second.file("amendment.txt");
    fs::write(&text, "Une modification après le scellé.").unwrap();
    second.fails_with(
        &[
            "statement",
            "amend",
            &fx.french,
            "--file",
            arg(&text),
            "--reason",
            "essai",
        ],
        1,
    );
    assert!(second.ok(&["check"]).contains("OK"));
}

// ------------------------------------------- history across vaults

/// The `log ID --json` entries of `v` that came from an earlier vault.
fn imported_log(v: &TestVault, id: &str) -> Vec<serde_json::Value> {
    parse_json(&v.ok(&["log", id, "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.get("imported_from").is_some())
        .cloned()
        .collect()
}

#[test]
fn imported_records_keep_their_earlier_history_through_log_check_and_re_export() {
    // Field office -> court -> appeal court: each vault shows, checks and
    // passes on the chains signed in the vaults before it.
    let fx = Fixture::new();
    let field_vault = parse_json(&fx.v.ok(&["info", "--json"]))["file"]["vault_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (tar, field_bag) = fx.unpacked("field");
    let field_chain =
        fs::read(field_bag.join(format!("data/custody/{}.jsonl", fx.amended))).unwrap();

    let court = TestVault::new();
    court.ok(&["bundle", "import", arg(&tar), "--signer", &signer_of(&fx.v)]);
    let earlier = imported_log(&court, &fx.amended);
    assert_eq!(
        earlier.len(),
        String::from_utf8_lossy(&field_chain).lines().count(),
        "{earlier:?}"
    );
    assert!(
        earlier
            .iter()
            .all(|e| e["imported_from"] == field_vault.as_str() && e["signature_valid"] == true),
        "{earlier:?}"
    );
    let actions: Vec<&str> = earlier
        .iter()
        .map(|e| e["event"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(&actions[..2], ["create", "amend"], "{actions:?}");
    let text = court.ok(&["log", &fx.amended]);
    assert!(text.contains("[earlier vault"), "{text}");
    expect_exit(&court.run(&["check"]), 0, "check with an imported history");

    // The court forwards the case: the field chain travels as it was signed.
    let forwarded = court.file("forwarded.tar");
    court.ok(&[
        "export",
        "--case",
        CASE,
        "--no-encrypt",
        "--out",
        arg(&forwarded),
    ]);
    let out = verify_trusted(&court, &court, &forwarded, &[]);
    assert_valid(&out, "verify of a forwarded bundle");
    assert!(
        all_text(&out).contains("earlier custody chain"),
        "{}",
        all_text(&out)
    );
    let bag = untar(&forwarded, &court.file("forwarded"));
    let prior = fs::read(bag.join(format!("data/prior-custody/{}/1.jsonl", fx.amended))).unwrap();
    assert!(prior == field_chain, "the field chain changed on the way");
    let html = fs::read_to_string(bag.join("data/report.html")).unwrap();
    assert!(
        html.contains("Earlier custody"),
        "report lacks the earlier history"
    );

    // The appeal court sees both earlier vaults' chains.
    let appeal = TestVault::new();
    appeal.ok(&[
        "bundle",
        "import",
        arg(&forwarded),
        "--signer",
        &signer_of(&court),
    ]);
    let vaults: BTreeSet<String> = imported_log(&appeal, &fx.amended)
        .iter()
        .map(|e| e["imported_from"].as_str().unwrap().to_owned())
        .collect();
    let court_vault = parse_json(&court.ok(&["info", "--json"]))["file"]["vault_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(vaults, BTreeSet::from([field_vault, court_vault]));
    expect_exit(&appeal.run(&["check"]), 0, "check after two imports");
}

#[test]
fn a_damaged_imported_history_fails_check_names_the_record_and_blocks_export() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt"]);
    let court = TestVault::new();
    court.ok(&["bundle", "import", arg(&tar), "--signer", &signer_of(&fx.v)]);
    let copy = court.copy_vault("damaged.custodia");
    {
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let condition = format!("record_id = '{}'", fx.photo.id);
        let mut blob: Vec<u8> = conn
            .query_row(
                &format!("SELECT history FROM imported_custody WHERE {condition}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let middle = blob.len() / 2;
        blob[middle] ^= 0x10;
        conn.execute(
            &format!("UPDATE imported_custody SET history = ?1 WHERE {condition}"),
            [&blob],
        )
        .unwrap();
    }
    let out = court.run_on(&copy, &["check"]);
    let text = expect_exit(&out, 4, "check of a damaged imported history");
    assert!(text.contains(&fx.photo.id), "{text}");
    assert!(text.contains("imported custody history"), "{text}");
    let bundle = court.file("from-damaged.tar");
    let out = court.run_on(
        &copy,
        &[
            "export",
            "--case",
            CASE,
            "--no-encrypt",
            "--out",
            arg(&bundle),
        ],
    );
    assert_ne!(out.status.code(), Some(0), "{}", all_text(&out));
    assert!(
        !bundle.exists(),
        "a bundle was written from a damaged history"
    );
}

#[test]
fn a_forged_earlier_chain_is_caught_even_after_remanifesting_and_resigning() {
    if !stock_tools(
        "a_forged_earlier_chain_is_caught_even_after_remanifesting_and_resigning",
        &["tar", "minisign"],
    ) {
        return;
    }
    let fx = Fixture::new();
    let (court, forwarded) = fx.forwarded();
    // Hide the amendment from the field vault's history, or cut the
    // history short (its last events, the export, gone): either way the
    // forger rebuilds the manifests and re-signs.
    type Edit = fn(usize, usize) -> bool;
    let edits: [(&str, Edit, &[&str]); 2] = [
        (
            "an event removed",
            |i, _| i != 1,
            &["prior-custody", "chain breaks at event 2"],
        ),
        (
            "cut short",
            |i, n| i + 1 < n,
            &["prior-custody", "cut short"],
        ),
    ];
    for (k, (label, keep, needles)) in edits.into_iter().enumerate() {
        let bag = untar(&forwarded, &court.file(&format!("work{k}")));
        let path = bag.join(format!("data/prior-custody/{}/1.jsonl", fx.amended));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.lines().nth(1).unwrap().contains("amend"), "{text}");
        let n = text.lines().count();
        let kept: String = text
            .lines()
            .enumerate()
            .filter(|(i, _)| keep(*i, n))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        fs::write(&path, kept).unwrap();
        forge_signature(&bag, &court.file(&format!("forger-keys{k}")));
        let forged = court.file(&format!("forged{k}.tar"));
        repack(bag.parent().unwrap(), &forged);
        assert_rejected(&verify(&court, &forged, &[]), label, needles);
        let third = TestVault::new();
        let out = third.run(&[
            "bundle",
            "import",
            arg(&forged),
            "--signer",
            &signer_of(&court),
        ]);
        expect_exit(&out, 4, label);
        assert!(third.ok(&["statement", "list", "--json"]).trim() == "[]");
    }
}

#[test]
fn a_record_named_twice_is_exported_and_recorded_once() {
    let fx = Fixture::new();
    let out = fx.v.file("twice.tar");
    fx.v.ok(&[
        "export",
        "--case",
        CASE,
        "--statement",
        &fx.french,
        "--statement",
        &fx.french[..8],
        "--evidence",
        &fx.photo.id,
        "--evidence",
        &fx.photo.id,
        "--no-encrypt",
        "--out",
        arg(&out),
    ]);
    for id in [&fx.french, &fx.photo.id] {
        let log = fx.v.ok(&["log", id]);
        let exports = log.lines().filter(|l| l.contains(" export ")).count();
        assert_eq!(exports, 1, "{id}:\n{log}");
    }
    assert_valid(
        &verify_trusted(&fx.v, &fx.v, &out, &[]),
        "bundle with a record named twice",
    );
    let bag = untar(&out, &fx.v.file("twice"));
    let evidence = files_under(&bag.join("data/evidence"), &bag.join("data/evidence"));
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let second = TestVault::new();
    expect_exit(
        &second.run(&["bundle", "import", arg(&out), "--signer", &signer_of(&fx.v)]),
        0,
        "import",
    );
}

#[test]
fn a_protected_name_in_any_metadata_field_is_replaced_by_default() {
    if !stock_tools("a_protected_name_in_any_metadata_field", &["tar"]) {
        return;
    }
    // The clerk who typed the metadata used the witness's real name
    // everywhere: case title, place, interviewer, source, exhibit file
    // name and description, amendment reason.
    let v = TestVault::new();
    let case = "RU-2026-077";
    v.ok(&[
        "case",
        "new",
        case,
        "--title",
        "Affaire IVANOV — désertion",
        "--description",
        "Dossier d'Evgueni",
    ]);
    let body = v.file("temoignage.txt");
    fs::write(&body, "Je suis parti de nuit. Personne ne m'a vu.\n").unwrap();
    let id = v
        .ok(&[
            "statement",
            "add",
            "--case",
            case,
            "--witness",
            PROTECTED_NAME,
            "--pseudonym",
            PSEUDONYM,
            "--protected",
            "--alias",
            "Évgueni",
            "--alias",
            "Ivanov",
            "--place",
            "Chez Ivanov, Astana",
            "--interviewer",
            "M. Ivanov père",
            "--source",
            "dossiers/evgueni-ivanov-deserteur",
            "--file",
            arg(&body),
        ])
        .trim()
        .to_owned();
    let amended = v.file("amende.txt");
    fs::write(
        &amended,
        "Je suis parti de nuit, le 23. Personne ne m'a vu.\n",
    )
    .unwrap();
    v.ok(&[
        "statement",
        "amend",
        &id,
        "--reason",
        "Correction demandée par Évgueni",
        "--file",
        arg(&amended),
    ]);
    let dir = v.file("intake");
    fs::create_dir_all(&dir).unwrap();
    let photo = dir.join("ivanov_passport.jpg");
    fs::write(&photo, random_bytes(5000)).unwrap();
    v.ok(&[
        "evidence",
        "add",
        "--case",
        case,
        "--description",
        "Passeport d'ÉVGUENI IVANOV",
        "--source",
        "remis par Ivanov",
        arg(&photo),
    ]);

    let tar = v.file("ru.tar");
    let run = v.run(&["export", "--case", case, "--no-encrypt", "--out", arg(&tar)]);
    expect_exit(&run, 0, "export");
    let bag = untar(&tar, &v.file("court"));
    let folded = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .to_lowercase()
            .replace(['É', 'é'], "e")
    };
    let mut files = 0;
    for rel in files_under(&bag, &bag) {
        assert!(
            !folded(rel.as_bytes()).contains("ivanov"),
            "a file is named after the witness: {rel}"
        );
        files += 1;
        let text = folded(&fs::read(bag.join(&rel)).unwrap());
        for part in ["ivanov", "evgueni"] {
            assert!(!text.contains(part), "{rel} names the witness ({part})");
        }
    }
    assert!(files > 8, "{files}");
    let meta =
        parse_json(&fs::read_to_string(bag.join(format!("data/statements/{id}/v1.json"))).unwrap());
    assert_eq!(meta["place"], "Chez Témoin A, Astana");
    assert_eq!(meta["interviewer"], "M. Témoin A père");
    let case_doc = parse_json(&fs::read_to_string(bag.join("data/case.json")).unwrap());
    assert_eq!(case_doc["title"], "Affaire Témoin A — désertion");
    assert_valid(
        &verify_trusted(&v, &v, &tar, &[]),
        "verify of a bundle with shielded metadata",
    );
    // The vault keeps what was typed.
    let shown = parse_json(&v.ok(&["statement", "show", &id, "--version", "1", "--json"]));
    assert_eq!(shown["place"], "Chez Ivanov, Astana");

    // Revealing identities keeps everything as typed.
    let open = v.file("open.tar");
    v.ok(&[
        "export",
        "--case",
        case,
        "--no-encrypt",
        "--reveal-protected",
        "--out",
        arg(&open),
    ]);
    let bag = untar(&open, &v.file("open"));
    let case_doc = parse_json(&fs::read_to_string(bag.join("data/case.json")).unwrap());
    assert_eq!(case_doc["title"], "Affaire IVANOV — désertion");
}

#[test]
fn a_statement_imported_with_its_identity_withheld_is_not_falsely_redacted() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt", "--keep-names-in-text"]);
    let court = TestVault::new();
    court.ok(&["bundle", "import", arg(&tar), "--signer", &signer_of(&fx.v)]);
    // The court's vault holds only the pseudonym: it cannot know the name.
    let out = court.file("forwarded.tar");
    let run = court.run(&[
        "export",
        "--case",
        CASE,
        "--no-encrypt",
        "--redact-names",
        "--json",
        "--out",
        arg(&out),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    expect_exit(&run, 0, "export from the court");
    let summary = parse_json(&stdout);
    let unknown: Vec<&str> = summary["names_unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(unknown.contains(&fx.french.as_str()), "{summary}");
    let bag = untar(&out, &court.file("fwd"));
    let text =
        fs::read_to_string(bag.join(format!("data/statements/{}/v1.txt", fx.french))).unwrap();
    assert_eq!(
        text, FRENCH,
        "the text was changed although no real name is known"
    );
}

#[test]
fn import_with_signer_accepts_the_exporter_and_refuses_anyone_else() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt"]);
    let exporter = minisign_line(&fx.v.ok(&["key", "public"]));
    let stranger = TestVault::new();
    let stranger_key = minisign_line(&stranger.ok(&["key", "public"]));

    let court = TestVault::new();
    let out = court.run(&["bundle", "import", arg(&tar), "--signer", &stranger_key]);
    let text = expect_exit(&out, 4, "import --signer <a stranger's key>");
    assert!(text.contains(&key_id(&fx.v)), "{text}");
    assert_eq!(court.ok(&["statement", "list", "--json"]).trim(), "[]");
    court.ok(&["bundle", "import", arg(&tar), "--signer", &exporter]);
    assert_eq!(
        parse_json(&court.ok(&["statement", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_witness_revealed_to_one_court_stays_protected_when_that_court_exports_again() {
    if !stock_tools("a_witness_revealed_to_one_court", &["tar"]) {
        return;
    }
    let fx = Fixture::new();
    let revealed = fx.export("revealed.tar", &["--no-encrypt", "--reveal-protected"]);
    let court = TestVault::new();
    court.ok(&[
        "bundle",
        "import",
        arg(&revealed),
        "--signer",
        &signer_of(&fx.v),
    ]);
    let shown = parse_json(&court.ok(&["statement", "show", &fx.french, "--json"]));
    assert_eq!(shown["witness"], PROTECTED_NAME);
    assert_eq!(shown["pseudonym"], PSEUDONYM);
    assert_eq!(shown["protected"], true);

    let out = court.file("onward.tar");
    let run = court.run(&[
        "export",
        "--case",
        CASE,
        "--no-encrypt",
        "--json",
        "--out",
        arg(&out),
    ]);
    expect_exit(&run, 0, "onward export");
    let summary = parse_json(&String::from_utf8_lossy(&run.stdout));
    assert_eq!(summary["names_unknown"], serde_json::json!([]), "{summary}");
    let bag = untar(&out, &court.file("onward"));
    let doc = parse_json(
        &fs::read_to_string(bag.join(format!("data/statements/{}/v1.json", fx.french))).unwrap(),
    );
    assert_eq!(doc["witness"], PSEUDONYM);
    for rel in files_under(&bag, &bag) {
        let is_text = rel.starts_with("data/statements/") && rel.ends_with(".txt");
        if !is_text && rel != "data/report.html" {
            let bytes = fs::read(bag.join(&rel)).unwrap();
            assert!(!contains(&bytes, PROTECTED_NAME), "{rel} names the witness");
        }
    }
}

#[test]
fn a_deleted_imported_history_fails_check_and_export_and_verify() {
    let fx = Fixture::new();
    let tar = fx.export("bundle.tar", &["--no-encrypt"]);
    let court = TestVault::new();
    court.ok(&["bundle", "import", arg(&tar), "--signer", &signer_of(&fx.v)]);
    let copy = court.copy_vault("dropped.custodia");
    {
        let conn = rusqlite::Connection::open(&copy).unwrap();
        let n = conn
            .execute(
                "DELETE FROM imported_custody WHERE record_id = ?1",
                [&fx.french],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let text = expect_exit(&court.run_on(&copy, &["check"]), 4, "check");
    assert!(
        text.contains(&fx.french) && text.contains("missing (deleted)"),
        "{text}"
    );
    let out = court.file("dropped.tar");
    let run = court.run_on(
        &copy,
        &["export", "--case", CASE, "--no-encrypt", "--out", arg(&out)],
    );
    expect_exit(&run, 4, "export without the earlier history");
    assert!(!out.exists());

    // A forwarded bundle stripped of an earlier chain fails verify even
    // when its manifests are rebuilt and it is re-signed.
    if !stock_tools(
        "a_deleted_imported_history_fails_verify",
        &["tar", "minisign"],
    ) {
        return;
    }
    let forwarded = court.file("forwarded.tar");
    court.ok(&[
        "export",
        "--case",
        CASE,
        "--no-encrypt",
        "--out",
        arg(&forwarded),
    ]);
    let bag = untar(&forwarded, &court.file("strip"));
    fs::remove_dir_all(bag.join("data/prior-custody").join(&fx.french)).unwrap();
    forge_signature(&bag, &court.file("forger-keys"));
    let stripped = court.file("stripped.tar");
    repack(bag.parent().unwrap(), &stripped);
    assert_rejected(
        &verify(&court, &stripped, &[]),
        "an earlier chain removed",
        &["lacks"],
    );
}

/// Signs a (modified) bag's tag manifest with the exporter's REAL key, read
/// from the vault through the library: an insider who holds the key.
fn resign_as_exporter(bag: &Path, v: &TestVault) {
    rebag(bag);
    let sig_path = bag.join("tagmanifest-sha256.txt.minisig");
    let old = fs::read_to_string(&sig_path).unwrap();
    let trusted = old
        .lines()
        .find_map(|l| l.strip_prefix("trusted comment: "))
        .unwrap()
        .to_owned();
    let vault = custodia::Vault::open(&v.path)
        .unwrap()
        .unlock(Some(common::OWNER), common::OWNER_PASS)
        .unwrap();
    let tagman = fs::read(bag.join("tagmanifest-sha256.txt")).unwrap();
    let sig = custodia::formats::minisign::sign(
        vault.signing_key().dalek(),
        &tagman[..],
        "signature from the exporter's key",
        &trusted,
    )
    .unwrap();
    fs::write(&sig_path, sig).unwrap();
}

#[test]
fn a_checkpoint_from_another_moment_fails_verify_even_signed_by_the_exporter() {
    // The exporter swaps in the receipt of an earlier export (a real one,
    // signed by their own key) and re-signs the bag with that same key.
    let fx = Fixture::new();
    let (_, first) = fx.unpacked("first");
    let earlier = fs::read_to_string(first.join("bag-info.txt"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Custodia-Vault-Checkpoint:"))
        .unwrap()
        .to_owned();
    let (_, bag) = fx.unpacked("second");
    let info: String = fs::read_to_string(bag.join("bag-info.txt"))
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("Custodia-Vault-Checkpoint:") {
                format!("{earlier}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    fs::write(bag.join("bag-info.txt"), info).unwrap();
    resign_as_exporter(&bag, &fx.v);
    let swapped = fx.v.file("swapped.tar");
    repack(bag.parent().unwrap(), &swapped);
    let text = assert_rejected(
        &verify(&fx.v, &swapped, &[]),
        "a checkpoint from an earlier export",
        &["does not match the export"],
    );
    // Only the checkpoint is wrong: the signature is the exporter's.
    assert!(text.contains("[ok] signature"), "{text}");
}
