//! The court report (`data/report.html`, issue 14 point 6), through the real
//! binary: an Arabic case (two Arabic statements, one amended, and a French
//! one) exported to an age recipient and without encryption. The report
//! must take the case's language and direction, show the words an
//! amendment changed, give a first page "How to check this bundle" whose
//! commands, run as printed, really check the bundle, and print (headless
//! Chromium, then poppler's `pdftotext` and `pdftoppm`) as numbered pages
//! with no raw JSON.
//!
//! Tools: `tar`, `age`, `minisign`, `bagit.py`, `sha256sum`, `chromium`,
//! `pdftotext`, `pdftoppm`. When one is missing the test prints `SKIPPED`
//! and returns, unless `CUSTODIA_REQUIRE_TOOLS` is set (CI), where it fails.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{arg, parse_json, TestVault};

const CASE: &str = "AR-2026-007";
const CASE_TITLE: &str = "شهادات حول احتجاز المدنيين";

const WITNESS_1: &str = "ليلى حداد";
const ARABIC_V1: &str =
    "رأيت الجنود يدخلون القرية في الساعة الخامسة صباحا. أخذوا ثلاثة رجال من بيت جارنا.\n";
const ARABIC_V2: &str =
    "رأيت الجنود يدخلون القرية في الساعة السادسة صباحا. أخذوا أربعة رجال من بيت جارنا.\n";
const REMOVED: [&str; 2] = ["الخامسة", "ثلاثة"];
const ADDED: [&str; 2] = ["السادسة", "أربعة"];
const AMEND_REASON: &str = "تصحيح الساعة وعدد الرجال بعد مراجعة التسجيل";

const WITNESS_2: &str = "يوسف خليل";
const ARABIC_2: &str = "كنت في السوق عندما سمعت إطلاق النار.\n";

const WITNESS_3: &str = "Claire Martin";
const FRENCH: &str = "J'ai vu les camions partir vers le nord à sept heures.\n";

// ------------------------------------------------------------ tools

/// True when every tool is on PATH. Otherwise panics when
/// `CUSTODIA_REQUIRE_TOOLS` is set, and else prints why it skips.
fn tools(test: &str, needed: &[&str]) -> bool {
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|t| find_on_path(t).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: {} not on PATH (apt-get install chromium poppler-utils age minisign tar; pip install bagit)",
        missing.join(", ")
    );
    assert!(
        std::env::var_os("CUSTODIA_REQUIRE_TOOLS").is_none(),
        "{msg}; CUSTODIA_REQUIRE_TOOLS is set, so they are required"
    );
    eprintln!("SKIPPED {msg}");
    false
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Runs `program` in `dir` (stdin closed, UTC) and demands success.
fn run_ok(dir: &Path, program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("TZ", "UTC")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

// ------------------------------------------------------------ the case

struct Case {
    v: TestVault,
}

fn add_statement(v: &TestVault, file: &str, body: &str, fields: &[&str]) -> String {
    let path = v.file(file);
    fs::write(&path, body).unwrap();
    let mut args = vec!["statement", "add", "--case", CASE];
    args.extend_from_slice(fields);
    args.extend(["--file", arg(&path)]);
    v.ok(&args).trim().to_owned()
}

impl Case {
    fn new() -> Case {
        let v = TestVault::new();
        v.ok(&["case", "new", CASE, "--title", CASE_TITLE]);
        let amended = add_statement(
            &v,
            "s1.txt",
            ARABIC_V1,
            &["--witness", WITNESS_1, "--language", "ar", "--place", "حلب"],
        );
        let second = add_statement(
            &v,
            "s2.txt",
            ARABIC_2,
            &["--witness", WITNESS_2, "--language", "ar"],
        );
        add_statement(
            &v,
            "s3.txt",
            FRENCH,
            &["--witness", WITNESS_3, "--language", "fr"],
        );
        let v2 = v.file("s1-v2.txt");
        fs::write(&v2, ARABIC_V2).unwrap();
        v.ok(&[
            "statement",
            "amend",
            &amended,
            "--reason",
            AMEND_REASON,
            "--file",
            arg(&v2),
        ]);
        // A clerk reads the statements: one row in the timeline.
        for id in [&amended, &second, &amended, &second] {
            v.ok(&["statement", "show", id]);
        }
        Case { v }
    }

    /// Exports with `protection` to `file` (in the vault's folder).
    fn export(&self, file: &str, protection: &[&str]) -> PathBuf {
        let out = self.v.file(file);
        let mut args = vec!["export", "--case", CASE, "--out", arg(&out)];
        args.extend_from_slice(protection);
        self.v.ok(&args);
        out
    }

    /// The exporter's key: id, fingerprint and base64 line.
    fn key(&self) -> (String, String, String) {
        let json = parse_json(&self.v.ok(&["key", "public", "--json"]));
        let get = |k: &str| {
            json[k]
                .as_str()
                .unwrap_or_else(|| panic!("key public --json has no {k}: {json}"))
                .to_owned()
        };
        (get("key_id"), get("fingerprint"), get("minisign"))
    }
}

/// Unpacks a plain tar into `into`; returns the report's path.
fn report_of(tar: &Path, into: &Path) -> PathBuf {
    fs::create_dir_all(into).unwrap();
    run_ok(into, "tar", &["-xf", arg(tar)]);
    let report = into.join(CASE).join("data/report.html");
    assert!(report.is_file(), "no report in {}", tar.display());
    report
}

fn unescape(s: &str) -> String {
    s.replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The shell commands of the report's instructions (`<pre class="cmd">`).
fn commands(html: &str) -> Vec<String> {
    html.split("<pre class=\"cmd\">")
        .skip(1)
        .map(|rest| unescape(&rest[..rest.find("</pre>").unwrap()]))
        .collect()
}

/// The text between the start of the page and `heading`.
fn before<'a>(html: &'a str, heading: &str) -> &'a str {
    &html[..html.find(heading).unwrap_or_else(|| panic!("no {heading}"))]
}

// ------------------------------------------------------------ tests

#[test]
fn arabic_case_report_is_right_to_left_shows_the_amendment_and_its_instructions_work() {
    let test = "arabic_case_report";
    if !tools(
        test,
        &[
            "tar",
            "age",
            "minisign",
            "bagit.py",
            "sha256sum",
            "base64",
            "sh",
        ],
    ) {
        return;
    }
    let case = Case::new();
    let (key_id, fingerprint, key_line) = case.key();

    // Encrypted to a court's age key: the instructions must work as printed.
    let court = case.v.file("court");
    fs::create_dir_all(&court).unwrap();
    let identity = age::x25519::Identity::generate();
    {
        use secrecy::ExposeSecret;
        fs::write(
            court.join("court.key"),
            identity.to_string().expose_secret(),
        )
        .unwrap();
    }
    let recipient = identity.to_public().to_string();
    let sent = case.export("pour la cour.age", &["--recipient", &recipient]);
    let bundle = court.join("pour la cour.age");
    fs::copy(&sent, &bundle).unwrap();

    // Read the report through the age crate (the commands are checked below).
    let decryptor = age::Decryptor::new(fs::File::open(&bundle).unwrap()).unwrap();
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap();
    let plain = case.v.file("peek.tar");
    std::io::copy(&mut reader, &mut fs::File::create(&plain).unwrap()).unwrap();
    let html = fs::read_to_string(report_of(&plain, &case.v.file("peek"))).unwrap();

    // Language and direction: the case is mostly Arabic.
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"ar\" dir=\"rtl\">"),
        "{}",
        &html[..200]
    );
    // Each text carries its own language; the French one stays French.
    assert!(html.contains(&format!(
        "<div class=\"text\" dir=\"auto\" lang=\"fr\">{}</div>",
        FRENCH.replace('\'', "&#39;")
    )));
    assert!(html.contains(&format!(
        "<div class=\"text\" dir=\"auto\" lang=\"ar\">{ARABIC_V2}</div>"
    )));

    // The amendment's word-level changes.
    let diff_at = html.find("<div class=\"diff\"").expect("a diff block");
    let diff = &html[diff_at..diff_at + html[diff_at..].find("</div>").unwrap()];
    assert!(
        diff.starts_with("<div class=\"diff\" dir=\"auto\" lang=\"ar\">"),
        "{diff}"
    );
    for w in REMOVED {
        assert!(
            diff.contains(&format!("<del>{w}</del>")),
            "{w} not struck out:\n{diff}"
        );
    }
    for w in ADDED {
        assert!(
            diff.contains(&format!("<ins>{w}</ins>")),
            "{w} not marked added:\n{diff}"
        );
    }
    assert!(
        !diff.contains("<del>رأيت") && diff.contains("رأيت الجنود"),
        "{diff}"
    );
    assert_eq!(
        html.matches("<div class=\"diff\"").count(),
        1,
        "one amended statement"
    );

    // The first page: how to check, with this bundle's names and key.
    let first = before(&html, ">The case</h2>");
    assert!(first.contains("How to check this bundle"));
    for needle in [
        "age -d -i court.key -o &#39;pour la cour.tar&#39; &#39;pour la cour.age&#39;",
        "tar xf &#39;pour la cour.tar&#39;",
        &format!("minisign -V -p {CASE}/data/signers/{key_id}.pub -m {CASE}/tagmanifest-sha256.txt -x {CASE}/tagmanifest-sha256.txt.minisig"),
        &format!("bagit.py --validate {CASE}"),
        &fingerprint,
        &key_id,
    ] {
        assert!(first.contains(needle), "first page lacks {needle}:\n{first}");
    }

    // The timeline: plain English, the clerk's four reads in one row, no JSON.
    let timeline = &html[html.find(">Custody timeline</h2>").unwrap()..];
    assert!(
        timeline.contains("viewed 2 records (4 views)"),
        "{timeline}"
    );
    assert!(
        timeline.contains("amended: version 2 (reason SHA-256 "),
        "{timeline}"
    );
    assert!(timeline.contains(&format!("({WITNESS_1})")), "{timeline}");
    assert!(timeline.contains(crate::common::OWNER));
    assert!(timeline.contains("exported in a bundle (encrypted with age to 1 recipient)"));
    let body = &html[html.find("<body>").unwrap()..];
    for raw in ["{", "\"ts\":", "\"action\":", "&quot;version&quot;"] {
        assert!(!body.contains(raw), "the page shows {raw}");
    }
    // Times are readable UTC minutes.
    let minute = regex_like_minute(timeline);
    assert!(
        minute,
        "no `YYYY-MM-DD HH:MM UTC` in the timeline:\n{timeline}"
    );

    // Run the printed commands, in the court's folder, as a clerk would.
    let cmds = commands(&html);
    assert_eq!(cmds.len(), 6, "{cmds:?}");
    for cmd in &cmds[..3] {
        run_ok(&court, "sh", &["-c", cmd]);
    }
    let out = run_ok(&court, "sh", &["-c", &cmds[3]]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.starts_with(&fingerprint),
        "the fingerprint command printed {printed}"
    );
    run_ok(&court, "sh", &["-c", &cmds[4]]);
    // The one-step alternative, with the exporter's key as received.
    assert!(
        cmds[5].starts_with("custodia bundle verify "),
        "{}",
        cmds[5]
    );
    fs::write(
        court.join("signer.pub"),
        format!("untrusted comment: key\n{key_line}\n"),
    )
    .unwrap();
    let verify = cmds[5].replacen(
        "custodia",
        &crate::common::binary().display().to_string(),
        1,
    );
    run_ok(&court, "sh", &["-c", &verify]);
}

/// True when `text` holds a time like `2026-12-06 14:03 UTC`.
fn regex_like_minute(text: &str) -> bool {
    text.match_indices(" UTC").any(|(at, _)| {
        at >= 16 && {
            let s = &text.as_bytes()[at - 16..at];
            let shape = b"dddd-dd-dd dd:dd";
            s.iter().zip(shape).all(|(c, k)| {
                if *k == b'd' {
                    c.is_ascii_digit()
                } else {
                    c == k
                }
            })
        }
    })
}

#[test]
fn report_prints_as_numbered_pages_with_instructions_first_and_no_raw_json() {
    let test = "report_prints";
    if !tools(test, &["tar", "chromium", "pdftotext", "pdftoppm"]) {
        return;
    }
    let case = Case::new();
    let (key_id, fingerprint, _) = case.key();
    let tar = case.export("court-bundle.tar", &["--no-encrypt"]);
    let report = report_of(&tar, &case.v.file("court"));
    let html = fs::read_to_string(&report).unwrap();
    assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"));
    assert!(html.contains("not encrypted"));

    let pdf = case.v.file("report.pdf");
    chromium_pdf(&case.v, &report, &pdf);

    // Text, page by page.
    let text = |first: usize, last: usize| -> String {
        let out = run_ok(
            case.v.dir.path(),
            "pdftotext",
            &[
                "-layout",
                "-enc",
                "UTF-8",
                "-f",
                &first.to_string(),
                "-l",
                &last.to_string(),
                arg(&pdf),
                "-",
            ],
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let all = text(1, 9999);
    let pages = all.matches('\u{c}').count();
    assert!(
        pages >= 4,
        "expected a page per section, got {pages}:\n{all}"
    );
    let page1 = text(1, 1);
    for needle in [
        "How to check this bundle",
        "court-bundle.tar",
        &format!("{CASE}/data/signers/{key_id}.pub"),
        "tagmanifest-sha256.txt.minisig",
        "bagit.py --validate",
        &key_id,
        &fingerprint[..32],
    ] {
        assert!(page1.contains(needle), "page 1 lacks {needle:?}:\n{page1}");
    }
    assert!(
        !page1.contains("Custody timeline"),
        "page 1 runs on:\n{page1}"
    );
    // Every page is numbered "n / total" (on a line of its own, at the foot).
    for n in 1..=pages {
        let page = text(n, n);
        let number = page
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && l.trim() != "\u{c}")
            .unwrap_or_default()
            .replace([' ', '\u{c}'], "");
        assert_eq!(number, format!("{n}/{pages}"), "page {n}'s foot:\n{page}");
    }
    for raw in ["{", "}", "\"ts\":", "\"action\":", "\"details\""] {
        assert!(!all.contains(raw), "the printed report shows {raw}:\n{all}");
    }
    assert!(all.contains("viewed 2 records"), "{all}");
    assert!(all.contains("Changes from version 1 to version 2"), "{all}");

    // And as images, one per page.
    let prefix = case.v.file("page");
    run_ok(
        case.v.dir.path(),
        "pdftoppm",
        &["-png", "-r", "60", arg(&pdf), arg(&prefix)],
    );
    let pngs: Vec<PathBuf> = fs::read_dir(case.v.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("page") && n.ends_with(".png"))
        })
        .collect();
    assert_eq!(pngs.len(), pages, "{pngs:?}");
    // For docs/report-page.png: `CUSTODIA_REPORT_PAGE_PNG=path` keeps page 1.
    if let Some(keep) = std::env::var_os("CUSTODIA_REPORT_PAGE_PNG") {
        let mut sorted = pngs.clone();
        sorted.sort();
        fs::copy(&sorted[0], keep).unwrap();
    }
    for png in &pngs {
        let bytes = fs::read(png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 2_000,
            "{}",
            png.display()
        );
    }
}

/// `chromium --headless --print-to-pdf`, without Chromium's own header and
/// footer (the page numbers must be the report's), within two minutes.
fn chromium_pdf(v: &TestVault, html: &Path, pdf: &Path) {
    let stderr = crate::common::headless_chromium(
        v,
        &[
            "--no-pdf-header-footer".to_owned(),
            format!("--print-to-pdf={}", pdf.display()),
        ],
        html,
    );
    let bytes = fs::read(pdf).unwrap_or_else(|e| panic!("no PDF ({e}):\n{stderr}"));
    assert!(bytes.starts_with(b"%PDF"), "not a PDF");
}

#[test]
fn a_bundle_file_named_after_a_protected_witness_is_not_named_in_the_report() {
    if !tools("bundle_file_named_after_a_protected_witness", &["tar"]) {
        return;
    }
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", CASE_TITLE]);
    add_statement(
        &v,
        "p.txt",
        ARABIC_2,
        &[
            "--witness",
            "Yevgeny Petrov",
            "--pseudonym",
            "Witness A",
            "--protected",
            "--language",
            "ar",
        ],
    );
    let out = v.file("Yevgeny Petrov.tar");
    v.ok(&["export", "--case", CASE, "--no-encrypt", "--out", arg(&out)]);
    let html = fs::read_to_string(report_of(&out, &v.file("court"))).unwrap();
    assert!(
        !html.contains("Yevgeny"),
        "the report names the protected witness"
    );
    assert!(
        html.contains("tar xf bundle.tar"),
        "a generic name stands in"
    );
    assert!(html.contains("Witness A"));
}
