//! `custodia desk` over plain HTTP (issue 12): one test per security point
//! listed in SECURITY.md ("The desk"), and the pages' work checked with the
//! command line (same records, same custody events, marked `via desk`).

use std::time::{Duration, Instant};

use crate::common::desk::{request, Answer, DeskProcess};
use crate::common::{parse_json, sha256_hex, TestVault, OWNER_PASS};

fn location(a: &Answer) -> String {
    a.header("location")
        .unwrap_or_else(|| panic!("no Location in {} {}", a.status, a.text()))
        .to_owned()
}

/// Creates a case through the desk; returns its id.
fn new_case(d: &DeskProcess, reference: &str) -> String {
    let a = d.post_form("/cases", &[("reference", reference), ("title", "Test")]);
    assert_eq!(a.status, 303, "{}", a.text());
    location(&a).trim_start_matches("/case/").to_owned()
}

fn cases_in(v: &TestVault) -> Vec<serde_json::Value> {
    parse_json(&v.ok(&["case", "list", "--json"]))
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn desk_listens_on_loopback_only_on_a_random_port() {
    let v = TestVault::new();
    let a = DeskProcess::start(&v, &[], &[]);
    let b = DeskProcess::start(&v, &[], &[]);
    assert_ne!(a.port, b.port);
    assert!(a.url.starts_with("http://127.0.0.1:"));
    #[cfg(target_os = "linux")]
    {
        // The listening socket's local address is 127.0.0.1 (0100007F).
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        let port = format!(":{:04X}", a.port);
        let listening: Vec<&str> = table
            .lines()
            .filter(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&port) && cols[3] == "0A"
            })
            .collect();
        assert!(!listening.is_empty(), "no listening socket on {port}");
        for l in listening {
            assert!(
                l.split_whitespace().nth(1).unwrap().starts_with("0100007F"),
                "{l}"
            );
        }
        let v6 = std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
        assert!(
            !v6.lines().any(|l| l
                .split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(&port))),
            "the desk listens on IPv6 too"
        );
    }
}

#[test]
fn desk_refuses_a_host_that_is_not_its_own() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    let token = d.token_path();
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{}", d.port),
        format!("127.0.0.1:{}", d.port + 1),
        "127.0.0.1".to_owned(),
    ] {
        let a = request(d.port, "GET", &token, &[("Host".into(), host.clone())], b"");
        assert_eq!(a.status, 403, "Host {host} was accepted");
        assert!(a.header("set-cookie").is_none());
    }
    let a = request(d.port, "GET", &token, &[], b"");
    assert_eq!(a.status, 403, "no Host was accepted");
    // The refused tries did not use up the token; localhost works too.
    let a = request(
        d.port,
        "GET",
        &token,
        &[("Host".into(), format!("localhost:{}", d.port))],
        b"",
    );
    assert_eq!(a.status, 303);
    d.cookie = a
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(d.get("/").status, 200);
    // With the session cookie, a rebinding Host is still refused.
    let b = request(
        d.port,
        "GET",
        "/",
        &[
            ("Host".into(), format!("rebind.example:{}", d.port)),
            ("Cookie".into(), d.cookie.clone()),
        ],
        b"",
    );
    assert_eq!(
        b.status, 403,
        "a rebinding Host with the cookie was accepted"
    );
}

#[test]
fn desk_refuses_state_changes_from_another_origin() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let csrf = d.csrf.clone();
    let form = [
        ("csrf", csrf.as_str()),
        ("reference", "X-1"),
        ("title", "T"),
    ];
    for origin in ["http://evil.example", "null", "http://127.0.0.1:1", ""] {
        let a = d.post_raw("/cases", &form, &[("Origin", origin)]);
        assert_eq!(
            a.status,
            403,
            "Origin {origin:?} was accepted: {}",
            a.text()
        );
    }
    // The browser's word against its own Origin, or with Origin: null.
    for (origin, site) in [
        (d.origin(), "cross-site"),
        (d.origin(), "same-site"),
        ("null".to_owned(), "cross-site"),
        ("".to_owned(), "none"),
    ] {
        let a = d.post_raw(
            "/cases",
            &form,
            &[("Origin", &origin), ("Sec-Fetch-Site", site)],
        );
        assert_eq!(
            a.status, 403,
            "Origin {origin:?} with Sec-Fetch-Site {site} was accepted"
        );
    }
    assert!(cases_in(&v).is_empty());
    let a = d.post_raw("/cases", &form, &[]);
    assert_eq!(a.status, 303, "{}", a.text());
    assert_eq!(cases_in(&v).len(), 1);
    // What a browser sends for the desk's own form under no-referrer.
    let form = [
        ("csrf", csrf.as_str()),
        ("reference", "X-2"),
        ("title", "T"),
    ];
    let a = d.post_raw(
        "/cases",
        &form,
        &[("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
    );
    assert_eq!(a.status, 303, "{}", a.text());
    assert_eq!(cases_in(&v).len(), 2);
}

#[test]
fn desk_refuses_a_form_without_its_csrf_token() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let a = d.post_raw("/cases", &[("reference", "X-1"), ("title", "T")], &[]);
    assert_eq!(a.status, 403);
    let wrong = "0".repeat(64);
    let a = d.post_raw(
        "/cases",
        &[("csrf", &wrong), ("reference", "X-1"), ("title", "T")],
        &[],
    );
    assert_eq!(a.status, 403);
    let short = d.csrf[..63].to_owned();
    let a = d.post_raw("/lock", &[("csrf", &short)], &[]);
    assert_eq!(a.status, 403);
    assert!(cases_in(&v).is_empty());
    // An upload without the token in its header.
    let case = new_case(&d, "X-2");
    let real = d.csrf.clone();
    d.csrf = wrong;
    let a = d.upload(&case, "a.txt", b"hello");
    assert_eq!(a.status, 403);
    d.csrf = real;
    let list = parse_json(&v.ok(&["evidence", "list", "--json"]));
    assert!(list.as_array().unwrap().is_empty());
    // Every form on a page carries the token.
    let page = d.get(&format!("/case/{case}")).text();
    let forms = page.matches("<form").count();
    assert!(forms >= 2, "{page}");
    assert_eq!(
        forms,
        page.matches(&format!("name=\"csrf\" value=\"{}\"", d.csrf))
            .count()
    );
}

#[test]
fn desk_url_token_works_once_and_nothing_works_without_the_cookie() {
    let v = TestVault::new();
    let d = DeskProcess::start(&v, &[], &[]);
    // Without the cookie: 403 everywhere.
    for path in ["/", "/assets/desk.css", "/search", "/cases/new"] {
        assert_eq!(d.get_raw(path, &[]).status, 403, "{path}");
    }
    let wrong = format!("/open/{}", "a".repeat(64));
    assert_eq!(d.get_raw(&wrong, &[]).status, 403);
    let first = d.get_raw(&d.token_path(), &[]);
    assert_eq!(first.status, 303);
    let set = first.header("set-cookie").unwrap();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(
        !set.contains("Expires") && !set.contains("Max-Age"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    // The token is dead now.
    let again = d.get_raw(&d.token_path(), &[]);
    assert_eq!(again.status, 403);
    assert!(again.header("set-cookie").is_none());
    assert_eq!(d.get_raw("/", &[("Cookie", &cookie)]).status, 200);
    let forged = format!("custodia_desk={}", "b".repeat(64));
    assert_eq!(d.get_raw("/", &[("Cookie", &forged)]).status, 403);
}

fn assert_secure_headers(a: &Answer, what: &str) {
    let csp = a
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    assert!(!csp.contains("http") && !csp.contains('*'), "{what}: {csp}");
    assert_eq!(a.header("cache-control"), Some("no-store"), "{what}");
    assert_eq!(a.header("referrer-policy"), Some("no-referrer"), "{what}");
    assert_eq!(
        a.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
}

#[test]
fn desk_answers_carry_the_security_headers_and_pages_no_inline_script() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    assert_secure_headers(&d.get_raw("/", &[]), "a refusal");
    let opened = d.get_raw(&d.token_path(), &[]);
    assert_secure_headers(&opened, "the token exchange");
    d.cookie = opened
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let unlock_page = d.get("/");
    assert_secure_headers(&unlock_page, "the unlock page");
    let page = unlock_page.text();
    let at = page.find("name=\"csrf\" content=\"").unwrap() + 21;
    d.csrf = page[at..at + 64].to_owned();
    assert_eq!(
        d.post_form("/unlock", &[("passphrase", OWNER_PASS)]).status,
        303
    );
    let case = new_case(&d, "H-1");
    let up = d.upload(&case, "note.txt", b"bytes");
    assert_eq!(up.status, 200, "{}", up.text());
    assert_secure_headers(&up, "an upload");
    let id = parse_json(&up.text())["id"].as_str().unwrap().to_owned();
    let down = d.post_form(&format!("/exhibit/{id}/download"), &[]);
    assert_secure_headers(&down, "a download");
    for path in [
        "/".to_owned(),
        format!("/case/{case}"),
        "/assets/desk.css".to_owned(),
        "/assets/desk.js".to_owned(),
        "/no/such/page".to_owned(),
    ] {
        let a = d.get(&path);
        assert_secure_headers(&a, &path);
        let text = a.text();
        // No inline script or style, nothing from elsewhere.
        for piece in text.split("<script").skip(1) {
            let tag = &piece[..piece.find('>').unwrap()];
            assert!(tag.contains("src=\"/assets/"), "{path}: inline script");
            assert!(piece[tag.len() + 1..].starts_with("</script>"), "{path}");
        }
        assert!(
            !text.contains(" style=\"") && !text.contains("<style"),
            "{path}"
        );
        assert!(
            !text.contains(" onclick=") && !text.contains(" onload="),
            "{path}"
        );
        assert!(
            !text.contains("https://") && !text.contains("http://"),
            "{path}"
        );
    }
}

#[test]
fn desk_downloads_are_attachments_with_a_safe_name_and_logged_as_extract() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let case = new_case(&d, "D-1");
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let name = "../صورة \"1\".jpg";
    let up = d.upload(&case, name, &bytes);
    assert_eq!(up.status, 200, "{}", up.text());
    let id = parse_json(&up.text())["id"].as_str().unwrap().to_owned();
    assert_eq!(parse_json(&up.text())["sha256"], sha256_hex(&bytes));
    let down = d.post_form(&format!("/exhibit/{id}/download"), &[]);
    assert_eq!(down.status, 200);
    assert_eq!(down.body, bytes);
    let cd = down.header("content-disposition").unwrap();
    assert!(cd.starts_with("attachment; filename=\""), "{cd}");
    let ascii = cd.split('"').nth(1).unwrap();
    assert!(
        ascii
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
        "{cd}"
    );
    assert!(!ascii.starts_with('.'), "{cd}");
    assert_eq!(
        down.header("content-type"),
        Some("application/octet-stream")
    );
    // A path that climbs is not trusted: the stored name is its last part.
    let shown = parse_json(&v.ok(&["evidence", "show", &id, "--json"]));
    assert_eq!(shown["original_name"], "صورة \"1\".jpg");
    // A file of a dropped folder keeps its path from the folder, as
    // `evidence add FOLDER` names it.
    let in_folder = d.upload(&case, "/témoins/2026-03-14/IMG_0042.jpg", b"jpeg bytes");
    assert_eq!(in_folder.status, 200, "{}", in_folder.text());
    let folder_id = parse_json(&in_folder.text())["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shown = parse_json(&v.ok(&["evidence", "show", &folder_id, "--json"]));
    assert_eq!(shown["original_name"], "témoins/2026-03-14/IMG_0042.jpg");
    // Logged as an extract, made through the desk.
    let log = parse_json(&v.ok(&["log", &id, "--json"]));
    let entries = log.as_array().unwrap();
    let extract = entries
        .iter()
        .find(|e| e["event"]["action"] == "extract")
        .expect("an extract event");
    assert_eq!(extract["event"]["details"]["via"], "desk");
    assert_eq!(extract["event"]["details"]["sha256"], sha256_hex(&bytes));
    // A GET cannot download (it would be a state change without a token).
    assert_eq!(d.get(&format!("/exhibit/{id}/download")).status, 404);
}

#[test]
fn desk_search_is_a_post_and_urls_carry_only_random_ids() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let case = new_case(&d, "S-1");
    let a = d.post_form(
        &format!("/case/{case}/statements"),
        &[
            ("witness", "Évgueni"),
            ("body", "Je suis parti à Astana en mars."),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.text());
    for path in [
        "/search?q=astana",
        "/?q=astana",
        &format!("/case/{case}?q=x"),
    ] {
        let a = d.get(path);
        assert_eq!(a.status, 403, "{path}");
        assert!(!a.text().to_lowercase().contains("astana"), "{path}");
    }
    let found = d.post_form("/search", &[("q", "astana")]);
    assert_eq!(found.status, 200);
    let page = found.text();
    assert!(page.contains("Évgueni"), "{page}");
    assert!(
        page.contains("<h2 dir=\"auto\">S-1</h2>"),
        "grouped by case: {page}"
    );
    // Every link on every page is a fixed path or a random id.
    for page in [
        page,
        d.get(&format!("/case/{case}")).text(),
        d.get("/").text(),
    ] {
        for piece in page.split("href=\"").skip(1) {
            let href = &piece[..piece.find('"').unwrap()];
            let ok = href.split(['/', '?', '=']).all(|seg| {
                seg.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c == '.')
                    || (seg.len() == 32 && seg.chars().all(|c| c.is_ascii_hexdigit()))
                    || seg.chars().all(|c| c.is_ascii_digit())
            });
            assert!(ok, "a link carries words: {href}");
        }
    }
}

#[test]
fn desk_unlock_pauses_after_three_wrong_passphrases() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &["--unlock-pause", "2"], &[]);
    d.open();
    for n in 1..=2 {
        let a = d.post_form("/unlock", &[("passphrase", "wrong")]);
        assert_eq!(a.status, 403, "try {n}");
        assert!(a.text().contains("Wrong passphrase"));
    }
    assert_eq!(
        d.post_form("/unlock", &[("passphrase", "wrong")]).status,
        429
    );
    // Paused: even the right passphrase waits.
    let a = d.post_form("/unlock", &[("passphrase", OWNER_PASS)]);
    assert_eq!(a.status, 429);
    assert!(!d.get("/").text().contains("New case"));
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(
        d.post_form("/unlock", &[("passphrase", OWNER_PASS)]).status,
        303
    );
    assert!(d.get("/").text().contains("New case"));
}

#[test]
fn desk_lock_button_and_idle_time_lock_the_vault() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    assert!(d.get("/").text().contains("New case"));
    assert_eq!(d.post_form("/lock", &[]).status, 303);
    let page = d.get("/").text();
    assert!(page.contains("name=\"passphrase\""), "{page}");
    let a = d.post_form("/cases", &[("reference", "L-1"), ("title", "T")]);
    assert!(a.text().contains("name=\"passphrase\""));
    assert!(cases_in(&v).is_empty());

    // Idle: the vault's sealed setting is the default.
    v.ok(&["settings", "--idle", "1s"]);
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    assert!(d.get("/").text().contains("New case"));
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(300));
        if d.get("/").text().contains("name=\"passphrase\"") {
            break;
        }
        // Each look is activity; wait without looking for a while.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(started.elapsed() < Duration::from_secs(20), "never locked");
    }
}

#[test]
fn desk_upload_streams_into_the_vault_without_plaintext_in_tmpdir() {
    let v = TestVault::new();
    let tmp = v.file("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut d = DeskProcess::start(&v, &[], &[("TMPDIR", &tmp)]);
    d.open_and_unlock();
    let case = new_case(&d, "T-1");
    let mut bytes = b"MARKER-PLAINTEXT-".repeat(300_000); // 5.1 MB
    bytes.extend_from_slice(b"end");
    let up = d.upload(&case, "interview.txt", &bytes);
    assert_eq!(up.status, 200, "{}", up.text());
    let leftovers: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(leftovers.is_empty(), "left in TMPDIR: {leftovers:?}");
    // Nothing beside the vault but SQLite's own files and ours.
    for entry in std::fs::read_dir(v.dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let content = std::fs::read(entry.path()).unwrap();
            assert!(
                !content.windows(17).any(|w| w == b"MARKER-PLAINTEXT-"),
                "plaintext in {}",
                entry.path().display()
            );
        }
    }
    let list = parse_json(&v.ok(&["evidence", "list", "--json"]));
    assert_eq!(list[0]["sha256"], sha256_hex(&bytes));
    assert_eq!(list[0]["original_name"], "interview.txt");
}

#[test]
fn desk_upload_cut_short_keeps_nothing() {
    use std::io::Write;
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let case = new_case(&d, "C-1");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    let head = format!(
        "POST /case/{case}/exhibits HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {}\r\n\
         Origin: {}\r\nX-CSRF-Token: {}\r\nX-File-Name: cut.bin\r\nContent-Length: 3000000\r\n\r\n",
        d.port,
        d.cookie,
        d.origin(),
        d.csrf
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&[7u8; 1_500_000]).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut s, &mut answer);
    // Whatever was answered, nothing was kept and the desk still works.
    let list = parse_json(&v.ok(&["evidence", "list", "--json"]));
    assert!(list.as_array().unwrap().is_empty(), "{list}");
    assert_eq!(d.get("/").status, 200);
}

#[test]
fn desk_events_say_via_desk_and_cli_events_do_not() {
    let v = TestVault::new();
    v.ok(&["case", "new", "CLI-1", "--title", "From the terminal"]);
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let case = new_case(&d, "DESK-1");
    let log = parse_json(&v.ok(&["log", "--json"]));
    let creates: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["record_kind"] == "case" && e["event"]["action"] == "create")
        .collect();
    assert_eq!(creates.len(), 2);
    let desk = creates
        .iter()
        .find(|e| e["event"]["record"] == case.as_str())
        .unwrap();
    assert_eq!(desk["event"]["details"]["via"], "desk");
    assert!(desk["signature_valid"].as_bool().unwrap());
    let cli = creates
        .iter()
        .find(|e| e["event"]["record"] != case.as_str())
        .unwrap();
    assert!(cli["event"]["details"].get("via").is_none());
    // The vault still checks clean with the marked events.
    v.ok(&["check"]);
}

#[test]
fn desk_statement_in_arabic_round_trips_and_an_amendment_shows_its_diff() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let case = new_case(&d, "AR-1");
    let body = "غادرتُ حلب في آذار ٢٠١٦ مع أخي.\nكنا خائفين.";
    let a = d.post_form(
        &format!("/case/{case}/statements"),
        &[
            ("witness", "سارة"),
            ("pseudonym", "Témoin B"),
            ("protected", "1"),
            ("language", "ar"),
            ("aliases", "Sara\r\nSarah"),
            ("body", body),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.text());
    let id = location(&a).trim_start_matches("/statement/").to_owned();
    let shown = parse_json(&v.ok(&["statement", "show", &id, "--json"]));
    assert_eq!(shown["body"], body);
    assert_eq!(shown["protected"], true);
    assert_eq!(shown["aliases"], serde_json::json!(["Sara", "Sarah"]));
    let page = d.get(&format!("/statement/{id}")).text();
    assert!(page.contains("lang=\"ar\" dir=\"auto\""), "{page}");
    // Every text field is dir="auto".
    let form = d.get(&format!("/case/{case}/statements/new")).text();
    for piece in form.split("<input").skip(1) {
        let tag = &piece[..piece.find('>').unwrap()];
        if tag.contains("type=\"text\"") {
            assert!(tag.contains("dir=\"auto\""), "{tag}");
        }
        if let Some(at) = tag.find(" id=\"") {
            let input_id = &tag[at + 5..];
            let input_id = &input_id[..input_id.find('"').unwrap()];
            assert!(
                form.contains(&format!("for=\"{input_id}\"")),
                "no label for {input_id}"
            );
        }
    }
    for piece in form.split("<textarea").skip(1) {
        let tag = &piece[..piece.find('>').unwrap()];
        assert!(tag.contains("dir=\"auto\""), "{tag}");
    }
    // An amendment needs a reason.
    let new_body = "غادرتُ حلب في نيسان ٢٠١٦ مع أخي.\nكنا خائفين.";
    let a = d.post_form(
        &format!("/statement/{id}/amend"),
        &[("body", new_body), ("reason", " ")],
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        parse_json(&v.ok(&["statement", "show", &id, "--json"]))["version"],
        1
    );
    let a = d.post_form(
        &format!("/statement/{id}/amend"),
        &[("body", new_body), ("reason", "تصحيح الشهر")],
    );
    assert_eq!(a.status, 303, "{}", a.text());
    let page = d.get(&format!("/statement/{id}")).text();
    assert!(page.contains("<del>آذار</del>"), "{page}");
    assert!(page.contains("<ins>نيسان</ins>"), "{page}");
    let history = parse_json(&v.ok(&["statement", "history", &id, "--json"]));
    assert_eq!(history["versions"][1]["reason"], "تصحيح الشهر");
    // The history links (a version number, the one query allowed) work.
    let v1 = d.get(&format!("/statement/{id}?v=1"));
    assert_eq!(v1.status, 200);
    assert!(v1.text().contains("آذار") && !v1.text().contains("نيسان"));
    assert_eq!(d.get(&format!("/statement/{id}?v=1&q=x")).status, 403);
    assert_eq!(d.get(&format!("/statement/{id}?q=x")).status, 403);
    // Seal: then no amend button.
    assert_eq!(
        d.post_form(&format!("/statement/{id}/seal"), &[]).status,
        303
    );
    assert!(
        parse_json(&v.ok(&["statement", "show", &id, "--json"]))["sealed"]
            .as_bool()
            .unwrap()
    );
    let refused = d.post_form(
        &format!("/statement/{id}/amend"),
        &[("body", "x"), ("reason", "y")],
    );
    assert_eq!(refused.status, 400);
}

#[test]
fn desk_runs_check_and_shows_a_custody_timeline() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let case = new_case(&d, "K-1");
    assert!(d
        .get(&format!("/case/{case}"))
        .text()
        .contains("No check run"));
    let check = d.post_form("/check", &[]);
    assert_eq!(check.status, 200);
    assert!(
        check.text().contains("Everything checks out"),
        "{}",
        check.text()
    );
    let log = d.get(&format!("/log/{case}")).text();
    assert!(log.contains("create"), "{log}");
    assert!(log.contains("via the desk"), "{log}");
}

#[cfg(unix)]
#[test]
fn desk_stops_on_ctrl_c() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let pid = d.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = d.child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The base64 key line of `custodia key public`.
fn signer_line(v: &TestVault) -> String {
    v.ok(&["key", "public"])
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
        .unwrap()
        .to_owned()
}

#[test]
fn desk_export_wizard_previews_redaction_and_writes_a_bundle_the_cli_verifies() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let case = new_case(&d, "E-1");
    let a = d.post_form(
        &format!("/case/{case}/statements"),
        &[
            ("witness", "Evgeny Petrov"),
            ("pseudonym", "Témoin A"),
            ("protected", "1"),
            (
                "body",
                "Mon nom est Evgeny Petrov et je suis parti en mars.",
            ),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.text());
    let statement = location(&a).trim_start_matches("/statement/").to_owned();
    let wizard = d.get(&format!("/case/{case}/export")).text();
    assert!(
        wizard.contains(&format!("name=\"s_{statement}\"")),
        "{wizard}"
    );
    let s_field = format!("s_{statement}");
    let preview = d.post_form(
        &format!("/case/{case}/export"),
        &[
            (&s_field, "1"),
            ("encryption", "none"),
            ("action", "preview"),
        ],
    );
    assert_eq!(preview.status, 200, "{}", preview.text());
    let page = preview.text();
    assert!(
        page.contains("<del>Evgeny Petrov</del> <ins>Témoin A</ins>"),
        "{page}"
    );
    // A relative output path is refused; nothing written.
    let a = d.post_form(
        &format!("/case/{case}/export"),
        &[
            (&s_field, "1"),
            ("encryption", "none"),
            ("action", "export"),
            ("out", "b.tar"),
        ],
    );
    assert_eq!(a.status, 400);
    let out = v.file("E-1.tar");
    let out_text = out.to_str().unwrap().to_owned();
    let a = d.post_form(
        &format!("/case/{case}/export"),
        &[
            (&s_field, "1"),
            ("encryption", "none"),
            ("action", "export"),
            ("out", &out_text),
        ],
    );
    assert_eq!(a.status, 200, "{}", a.text());
    assert!(out.is_file());
    let tar = std::fs::read(&out).unwrap();
    assert!(
        !tar.windows(6).any(|w| w == b"Evgeny"),
        "the protected name is in the bundle"
    );
    // The CLI verifies it, trusting the exporter's key.
    let signer = signer_line(&v);
    v.ok(&["bundle", "verify", &out_text, "--signer", &signer]);
    // The desk says the same, plainly.
    let verdict = d.post_form(
        "/bundles/verify",
        &[("file", &out_text), ("signer", &signer)],
    );
    assert_eq!(verdict.status, 200, "{}", verdict.text());
    assert!(
        verdict.text().contains("Valid: intact"),
        "{}",
        verdict.text()
    );
    let unknown = d.post_form("/bundles/verify", &[("file", &out_text)]);
    assert!(
        unknown.text().contains("nobody you trust"),
        "{}",
        unknown.text()
    );
    // A weak bundle passphrase is refused as the CLI refuses it.
    let weak = d.post_form(
        &format!("/case/{case}/export"),
        &[
            (&s_field, "1"),
            ("encryption", "passphrase"),
            ("bundle_passphrase", "abc"),
            ("again", "abc"),
            ("action", "export"),
            ("out", v.file("weak.age").to_str().unwrap()),
        ],
    );
    assert_eq!(weak.status, 400);
    assert!(!v.file("weak.age").exists());
    // The export event says via desk.
    let log = parse_json(&v.ok(&["log", &case, "--json"]));
    let export = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"]["action"] == "export")
        .expect("an export event");
    assert_eq!(export["event"]["details"]["via"], "desk");
}

/// The passphrase of "Amina Q.", the second user of the user tests.
const AMINA_PASS: &str = "Une phrase de passe assez longue pour Amina, 2026";

/// Adds "Amina Q." with the command line: her passphrase file, and the
/// users listed afterwards.
fn add_amina(v: &TestVault) -> (std::path::PathBuf, serde_json::Value) {
    let amina = v.secret_file("amina.pass", AMINA_PASS);
    v.ok(&[
        "user",
        "add",
        "Amina Q.",
        "--new-passphrase-file",
        amina.to_str().unwrap(),
    ]);
    (amina, parse_json(&v.ok(&["user", "list", "--json"])))
}

#[test]
fn desk_users_page_adds_a_user_with_the_passphrase_twice() {
    let v = TestVault::new();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let pass = AMINA_PASS;
    let a = d.post_form(
        "/users",
        &[
            ("name", "Amina Q."),
            ("new_passphrase", pass),
            ("again", "other"),
        ],
    );
    assert_eq!(a.status, 400);
    let a = d.post_form(
        "/users",
        &[
            ("name", "Amina Q."),
            ("new_passphrase", pass),
            ("again", pass),
        ],
    );
    assert_eq!(a.status, 303, "{}", a.text());
    let page = d.get("/users").text();
    assert!(page.contains("Amina Q."), "{page}");
    let amina = v.secret_file("amina.pass", pass);
    v.ok_as(&amina, &["--user", "Amina Q.", "case", "list"]);
}

#[test]
fn desk_users_page_removes_a_user_once_their_name_is_typed_again() {
    let v = TestVault::new();
    let (amina, users) = add_amina(&v);
    let id = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "amina q." || u["name"] == "Amina Q.")
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .expect("Amina is listed");
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let page = d.get("/users").text();
    assert!(
        page.contains(&format!("action=\"/user/{id}/remove\"")),
        "{page}"
    );
    // A wrong name removes nobody.
    let wrong = d.post_form(&format!("/user/{id}/remove"), &[("confirm", "Amina")]);
    assert_eq!(wrong.status, 400);
    v.ok_as(&amina, &["--user", "Amina Q.", "case", "list"]);
    let done = d.post_form(&format!("/user/{id}/remove"), &[("confirm", "Amina Q.")]);
    assert_eq!(done.status, 303, "{}", done.text());
    // Her passphrase no longer opens the vault; the event says via desk.
    let out = v.run_as(&amina, &["--user", "Amina Q.", "case", "list"]);
    assert!(!out.status.success());
    let log = v.ok(&["log", "--json"]);
    assert!(log.contains("user-remove"), "{log}");
    let removal = parse_json(&log)
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["event"]["action"] == "user-remove")
        .cloned()
        .unwrap();
    assert_eq!(removal["event"]["details"]["via"], "desk", "{removal}");
}

#[test]
fn desk_users_are_added_and_removed_by_the_vaults_owner_only() {
    let v = TestVault::new();
    let (_, users) = add_amina(&v);
    let owner = users.as_array().unwrap()[0].clone();
    let (owner_id, owner_name) = (
        owner["id"].as_str().unwrap().to_owned(),
        owner["name"].as_str().unwrap().to_owned(),
    );
    let mut d = DeskProcess::start(&v, &["--user", "Amina Q."], &[]);
    d.open();
    let a = d.post_form("/unlock", &[("passphrase", AMINA_PASS)]);
    assert_eq!(a.status, 303, "{}", a.text());
    let page = d.get("/users").text();
    assert!(page.contains("Only the vault"), "{page}");
    assert!(!page.contains("action=\"/users\""), "{page}");
    let strong = "Encore une phrase de passe assez longue, 2026";
    let add = d.post_form(
        "/users",
        &[
            ("name", "Eve"),
            ("new_passphrase", strong),
            ("again", strong),
        ],
    );
    assert_eq!(add.status, 403, "{}", add.text());
    let remove = d.post_form(
        &format!("/user/{owner_id}/remove"),
        &[("confirm", owner_name.as_str())],
    );
    assert_eq!(remove.status, 403, "{}", remove.text());
    let after = parse_json(&v.ok(&["user", "list", "--json"]));
    assert_eq!(after, users, "nobody was added or removed");
}

#[test]
fn desk_check_publishes_its_progress_while_it_runs() {
    const SIZE: u64 = 64 * 1024 * 1024;
    let v = TestVault::new();
    v.ok(&["case", "new", "P-1", "--title", "Progress"]);
    let big = v.file("interview.mp4");
    std::fs::write(&big, vec![7u8; SIZE as usize]).unwrap();
    v.ok(&["evidence", "add", "--case", "P-1", big.to_str().unwrap()]);
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let idle = serde_json::json!({ "done": 0, "total": 0 });
    assert_eq!(parse_json(&d.get("/progress").text()), idle);
    let d = &d;
    let seen = std::thread::scope(|s| {
        let check = s.spawn(move || d.post_form("/check", &[]));
        let mut seen = Vec::new();
        while !check.is_finished() {
            let p = parse_json(&d.get("/progress").text());
            let (done, total) = (p["done"].as_u64().unwrap(), p["total"].as_u64().unwrap());
            if total > 0 {
                seen.push((done, total));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let answer = check.join().unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        seen
    });
    assert!(!seen.is_empty(), "no progress was seen while the check ran");
    assert!(
        seen.iter()
            .all(|&(done, total)| total == SIZE && done <= total),
        "{seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress went back: {seen:?}"
    );
    assert_eq!(parse_json(&d.get("/progress").text()), idle);
}

#[test]
fn desk_case_page_lists_statements_by_pages_of_200() {
    let v = TestVault::new();
    v.ok(&["case", "new", "P-1", "--title", "Many"]);
    let rows: String = (0..450)
        .map(|i| {
            serde_json::json!({ "case": "P-1", "witness": format!("W{i}"), "body": "texte" })
                .to_string()
                + "\n"
        })
        .collect();
    let file = v.file("rows.jsonl");
    std::fs::write(&file, rows).unwrap();
    v.ok(&["statement", "import", file.to_str().unwrap()]);
    let case = cases_in(&v)[0]["id"].as_str().unwrap().to_owned();
    let mut d = DeskProcess::start(&v, &[], &[]);
    d.open_and_unlock();
    let rows = |page: &str| page.matches("href=\"/statement/").count();
    let first = d.get(&format!("/case/{case}")).text();
    assert_eq!(rows(&first), 200);
    assert!(first.contains(&format!("href=\"/case/{case}?p=2\"")));
    assert_eq!(rows(&d.get(&format!("/case/{case}?p=2")).text()), 200);
    assert_eq!(rows(&d.get(&format!("/case/{case}?p=3")).text()), 50);
    assert_eq!(rows(&d.get(&format!("/case/{case}?p=99")).text()), 50);
    assert_eq!(d.get(&format!("/case/{case}?p=x")).status, 403);
    assert_eq!(d.get(&format!("/case/{case}?v=1")).status, 403);
}
