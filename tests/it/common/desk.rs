//! A running `custodia desk` for the tests, and a raw HTTP/1.1 client over
//! `std::net::TcpStream` that can send any `Host`, `Origin` or cookie.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::{TestVault, OWNER_PASS};

/// A desk process, killed when dropped.
pub struct DeskProcess {
    pub child: Child,
    /// The one-time URL it printed.
    pub url: String,
    pub port: u16,
    /// The session cookie (`custodia_desk=…`) once [`DeskProcess::open`] ran.
    pub cookie: String,
    /// The CSRF token of the session's forms.
    pub csrf: String,
}

/// An answer: status, headers (names lower-cased), body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl DeskProcess {
    /// Starts `custodia desk --no-open` on `v` with `extra` arguments and
    /// `envs`, and reads the address it prints.
    pub fn start(v: &TestVault, extra: &[&str], envs: &[(&str, &std::path::Path)]) -> DeskProcess {
        let mut cmd = v.std_command();
        cmd.arg("--vault")
            .arg(&v.path)
            .arg("desk")
            .arg("--no-open")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, val) in envs {
            cmd.env(k, val);
        }
        let mut child = cmd.spawn().expect("start custodia desk");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the desk's address");
        let url = line.trim().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "desk printed {url:?}");
        let port = url["http://127.0.0.1:".len()..]
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        DeskProcess {
            child,
            url,
            port,
            cookie: String::new(),
            csrf: String::new(),
        }
    }

    /// The path of the one-time URL (`/open/TOKEN`).
    pub fn token_path(&self) -> String {
        self.url[format!("http://127.0.0.1:{}", self.port).len()..].to_owned()
    }

    /// Exchanges the URL token for the session cookie and reads the CSRF
    /// token from the first page.
    pub fn open(&mut self) {
        let a = self.get_raw(&self.token_path(), &[]);
        assert_eq!(a.status, 303, "{}", a.text());
        let set = a.header("set-cookie").expect("a session cookie").to_owned();
        self.cookie = set.split(';').next().unwrap().to_owned();
        let page = self.get("/").text();
        let at = page.find("name=\"csrf\" content=\"").expect("a csrf meta") + 21;
        self.csrf = page[at..at + 64].to_owned();
    }

    /// Opens and unlocks with the owner's passphrase.
    pub fn open_and_unlock(&mut self) {
        self.open();
        let a = self.post_form("/unlock", &[("passphrase", OWNER_PASS)]);
        assert_eq!(a.status, 303, "unlock: {}", a.text());
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A GET with the desk's Host and no cookie, plus `headers`.
    pub fn get_raw(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        let mut all = vec![("Host".to_owned(), self.host())];
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        request(self.port, "GET", path, &all, b"")
    }

    /// A GET with the session cookie.
    pub fn get(&self, path: &str) -> Answer {
        self.get_raw(path, &[("Cookie", &self.cookie.clone())])
    }

    /// A form POST with the session cookie, Origin and CSRF token.
    pub fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all, &[])
    }

    /// A form POST with the cookie and Origin (unless overridden in
    /// `headers`) and exactly `fields`.
    pub fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let body = encode_form(fields);
        let mut all: Vec<(String, String)> = vec![
            ("Host".into(), self.host()),
            ("Cookie".into(), self.cookie.clone()),
            ("Origin".into(), self.origin()),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ];
        for (k, v) in headers {
            all.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
            if !v.is_empty() {
                all.push((k.to_string(), v.to_string()));
            }
        }
        request(self.port, "POST", path, &all, body.as_bytes())
    }

    /// Uploads `bytes` as an exhibit named `name` to case `case`.
    pub fn upload(&self, case: &str, name: &str, bytes: &[u8]) -> Answer {
        let all: Vec<(String, String)> = vec![
            ("Host".into(), self.host()),
            ("Cookie".into(), self.cookie.clone()),
            ("Origin".into(), self.origin()),
            ("X-CSRF-Token".into(), self.csrf.clone()),
            ("X-File-Name".into(), percent(name)),
            ("Content-Type".into(), "application/octet-stream".into()),
        ];
        request(
            self.port,
            "POST",
            &format!("/case/{case}/exhibits"),
            &all,
            bytes,
        )
    }
}

impl Drop for DeskProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encodes everything but unreserved ASCII.
pub fn percent(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn encode_form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent(k), percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Sends one request on a new connection and reads the whole answer.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the desk");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    // Read the head, then exactly Content-Length bytes (a server may keep
    // the connection open), else up to the end of a chunked body or EOF.
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            let body = raw.len() - end - 4;
            let chunked_done =
                head.contains("transfer-encoding: chunked") && raw.ends_with(b"\r\n0\r\n\r\n");
            let complete = match length {
                Some(length) => body >= length,
                None => chunked_done || method == "HEAD",
            };
            if complete {
                break;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = unchunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
}
