//! The desk in a real browser (issue 12): headless Chromium driven over
//! WebDriver (`chromedriver`) through a working session, with a screenshot
//! of each step in `target/desk-shots/`. Fails, never skips, where tools
//! are required (CI, CUSTODIA_REQUIRE_TOOLS=1) and Chromium or its driver
//! is missing.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::desk::DeskProcess;
use crate::common::webdriver::{on_path, Browser};
use crate::common::{needs, parse_json, sha256_hex, TestVault, OWNER_PASS};

fn shots_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("desk-shots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn desk_walk_in_a_real_browser() {
    let test = "desk_walk_in_a_real_browser";
    if !needs(
        test,
        on_path("chromium") && on_path("chromedriver"),
        "chromium or chromedriver is not installed",
        "apt-get install chromium chromium-driver",
    ) {
        return;
    }
    let started = Instant::now();
    let shots = shots_dir();
    let mut step = 0;
    let v = TestVault::new();
    let downloads = v.file("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let d = DeskProcess::start(&v, &["--idle", "6s"], &[]);
    let browser = Browser::start(&v.file("chromium-profile"), &downloads);
    let base = d.origin();
    let mut shot = |name: &str, browser: &Browser| {
        step += 1;
        browser.screenshot(&shots.join(format!("{step:02}-{name}.png")));
    };

    // Unlock.
    browser.goto(&d.url);
    browser.type_into("#passphrase", OWNER_PASS);
    shot("unlock", &browser);
    browser.click("button[type=submit]");
    browser.find("a.button[href='/cases/new']");

    // New case.
    browser.click("a.button[href='/cases/new']");
    browser.type_into("#reference", "AL-2026-002");
    browser.type_into("#title", "حلب — شهادات 2026");
    shot("new-case", &browser);
    browser.click("form[action='/cases'] button[type=submit]");
    browser.find("#dropzone");
    let case_url = browser.url();
    assert!(case_url.starts_with(&format!("{base}/case/")), "{case_url}");
    let case_id = case_url.rsplit('/').next().unwrap().to_owned();

    // A protected witness and a statement in Arabic.
    browser.click("a.button[href$='/statements/new']");
    browser.type_into("#witness", "سارة الأحمد");
    browser.type_into("#pseudonym", "Témoin B");
    browser.click("#protected");
    browser.type_into("#language", "ar");
    // The testimony is loaded from a text file into the form.
    let body = "غادرتُ حلب في آذار مع أخي سارة الأحمد.\nكنا خائفين جداً.";
    let text_file = v.file("شهادة-سارة.txt");
    std::fs::write(&text_file, body).unwrap();
    browser.type_into("#textfile", &text_file.display().to_string());
    browser.wait_for(
        "the text file in the statement's text box",
        &format!(
            "return document.getElementById('body').value === {};",
            serde_json::to_string(body).unwrap()
        ),
        10,
    );
    shot("new-statement", &browser);
    browser.click("form[action$='/statements'] button[type=submit]");
    browser.find("#text");
    let statement_url = browser.url();
    let statement_id = statement_url.rsplit('/').next().unwrap().to_owned();
    let shown = parse_json(&v.ok(&["statement", "show", &statement_id, "--json"]));
    assert_eq!(shown["body"], body);
    assert_eq!(shown["protected"], true);
    shot("statement", &browser);

    // An amendment, and its diff.
    browser.click("a.button[href$='/amend']");
    browser.script(
        "document.getElementById('body').value = arguments[0];",
        json!([body.replace("آذار", "نيسان")]),
    );
    browser.type_into("#reason", "تصحيح الشهر");
    browser.click("form[action$='/amend'] button[type=submit]");
    browser.find(".diff");
    let html = browser.source();
    assert!(html.contains("<del>آذار</del>"), "{html}");
    assert!(html.contains("<ins>نيسان</ins>"), "{html}");
    shot("amendment-diff", &browser);

    // Two exhibits dropped on the drop zone, one of 50 MB.
    browser.goto(&case_url);
    let small = v.file("photo-café.jpg");
    let small_bytes: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&small, &small_bytes).unwrap();
    let big = v.file("entretien.ogg");
    let big_bytes: Vec<u8> = (0..50 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&big, &big_bytes).unwrap();
    // The files reach the page through a file input of the test's own
    // (WebDriver cannot drag from the desktop), then are dropped.
    browser.script(
        "var i = document.createElement('input'); i.type = 'file'; i.multiple = true; \
         i.id = 'walk-files'; document.body.appendChild(i);",
        json!([]),
    );
    browser.type_into(
        "#walk-files",
        &format!("{}\n{}", small.display(), big.display()),
    );
    browser.script(
        "var dt = new DataTransfer(); \
         for (var f of document.getElementById('walk-files').files) dt.items.add(f); \
         var zone = document.getElementById('dropzone'); \
         zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true})); \
         zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));",
        json!([]),
    );
    browser.wait_for(
        "both uploads",
        "return document.querySelectorAll('#uploads li.ok').length === 2 \
         || document.querySelectorAll('#uploads li.problem').length > 0;",
        60,
    );
    shot("exhibits-uploaded", &browser);
    assert_eq!(
        browser.script(
            "return document.querySelectorAll('#uploads li.problem').length;",
            json!([])
        ),
        json!(0),
        "{}",
        browser.text()
    );
    let list = parse_json(&v.ok(&["evidence", "list", "--json"]));
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let big_entry = list
        .iter()
        .find(|e| e["original_name"] == "entretien.ogg")
        .unwrap();
    assert_eq!(big_entry["sha256"], sha256_hex(&big_bytes));
    let big_id = big_entry["id"].as_str().unwrap().to_owned();

    // At 200 % zoom (half the width): nothing needs sideways scrolling.
    browser.resize(550, 900);
    for page in [
        case_url.clone(),
        statement_url.clone(),
        format!("{base}/case/{case_id}/export"),
    ] {
        browser.goto(&page);
        browser.find("main");
        let fits = browser.script(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            json!([]),
        );
        assert_eq!(fits, json!(true), "{page} scrolls sideways at half width");
    }
    browser.goto(&case_url);
    shot("narrow-200-percent", &browser);
    browser.resize(1100, 900);

    // Search (a form posted), hits grouped by case.
    browser.goto(&format!("{base}/search"));
    browser.type_into("#q", "حلب");
    browser.click("form[action='/search'] button[type=submit]");
    browser.find("section.hits");
    assert!(browser.text().contains("AL-2026-002"));
    assert_eq!(browser.url(), format!("{base}/search"), "words in the URL");
    shot("search", &browser);

    // Download the big exhibit and compare the bytes.
    browser.goto(&case_url);
    browser.click(&format!("form[action='/exhibit/{big_id}/download'] button"));
    let target = downloads.join("entretien.ogg");
    let waited = Instant::now();
    while !(target.is_file() && std::fs::metadata(&target).unwrap().len() == big_bytes.len() as u64)
    {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "no download: {:?}",
            std::fs::read_dir(&downloads).unwrap().collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        std::fs::read(&target).unwrap() == big_bytes,
        "downloaded bytes differ"
    );

    // Export with redaction, then verify the bundle with the command line.
    browser.goto(&format!("{base}/case/{case_id}/export"));
    browser.click("#enc_none");
    browser.click("#preview");
    browser.find("#replacements");
    assert!(browser.source().contains("<ins>Témoin B</ins>"));
    shot("export-preview", &browser);
    let bundle = v.file("AL-2026-002.tar");
    browser.click("#enc_none");
    browser.type_into("#out", bundle.to_str().unwrap());
    browser.click("#export");
    browser.find("#verdict.ok");
    shot("exported", &browser);
    let signer = v
        .ok(&["key", "public"])
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap()
        .to_owned();
    v.ok(&[
        "bundle",
        "verify",
        bundle.to_str().unwrap(),
        "--signer",
        &signer,
    ]);
    let tar = std::fs::read(&bundle).unwrap();
    let name = "سارة الأحمد".as_bytes();
    assert!(
        !tar.windows(name.len()).any(|w| w == name),
        "the protected name is in the bundle"
    );

    // Lock by idle: no request for longer than the idle time.
    browser.goto(&case_url);
    std::thread::sleep(Duration::from_secs(7));
    browser.goto(&format!("{base}/"));
    browser.find("#passphrase");
    shot("locked-by-idle", &browser);
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the walk took {:?}",
        started.elapsed()
    );
}
