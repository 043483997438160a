//! A minimal W3C WebDriver client for `chromedriver` (Debian's
//! `chromium-driver`), over the raw HTTP client of [`super::desk`]: enough
//! to drive a headless Chromium through the desk (navigate, find, type,
//! click, run a script, take a screenshot).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::desk::request;

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether `program` is on the `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A chromedriver process and one browser session, both ended on drop.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium that downloads into
    /// `downloads`, with its profile in `profile`.
    pub fn start(profile: &Path, downloads: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        let started = Instant::now();
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1100,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                    "safebrowsing.enabled": false,
                },
            },
        }}});
        let answer = browser.call("POST", "/session", Some(caps));
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers = vec![
            ("Host".to_owned(), format!("127.0.0.1:{}", self.port)),
            (
                "Content-Type".to_owned(),
                "application/json; charset=utf-8".to_owned(),
            ),
        ];
        let a = request(self.port, method, path, &headers, body.as_bytes());
        let value: Value = serde_json::from_slice(&a.body)
            .unwrap_or_else(|_| panic!("webdriver {path}: {}", a.text()));
        assert_eq!(a.status, 200, "webdriver {method} {path}: {value}");
        value["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    /// Loads `url`.
    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The element `css` selects (waiting up to 20 s for it).
    pub fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let headers = vec![
                ("Host".to_owned(), format!("127.0.0.1:{}", self.port)),
                ("Content-Type".to_owned(), "application/json".to_owned()),
            ];
            let body = json!({ "using": "css selector", "value": css }).to_string();
            let a = request(
                self.port,
                "POST",
                &format!("/session/{}/element", self.session),
                &headers,
                body.as_bytes(),
            );
            if a.status == 200 {
                let v: Value = serde_json::from_slice(&a.body)
                    .unwrap_or_else(|_| panic!("find {css}: {}", a.text()));
                return v["value"][ELEMENT]
                    .as_str()
                    .unwrap_or_else(|| panic!("find {css}: {v}"))
                    .to_owned();
            }
            if started.elapsed() > Duration::from_secs(20) {
                panic!(
                    "no element {css} on {}:\n{}\n{}",
                    self.url(),
                    self.text(),
                    a.text().chars().take(300).collect::<String>()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `text` into the element `css` selects (for a file input:
    /// file paths, one a line).
    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.session_call(
            "POST",
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks the element `css` selects.
    pub fn click(&self, css: &str) {
        let el = self.find(css);
        self.session_call("POST", &format!("/element/{el}/click"), Some(json!({})));
    }

    /// Runs `script` (a function body) with `args`; returns its value.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        self.script("return document.body.innerText;", json!([]))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML.
    pub fn source(&self) -> String {
        self.session_call("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.session_call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits up to `secs` for `script` to return true.
    pub fn wait_for(&self, what: &str, script: &str, secs: u64) {
        let started = Instant::now();
        while self.script(script, json!([])) != json!(true) {
            assert!(
                started.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Resizes the window (CSS pixels).
    pub fn resize(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Writes a PNG screenshot of the page to `path`.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let data = self.session_call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let headers = vec![("Host".to_owned(), format!("127.0.0.1:{}", self.port))];
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                request(
                    self.port,
                    "DELETE",
                    &format!("/session/{}", self.session),
                    &headers,
                    b"",
                );
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
