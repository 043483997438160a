//! The desk's security checks, kept apart from the pages so each can be
//! read (and tested) on its own: which `Host` and `Origin` are the desk's
//! own, secret tokens and their constant-time comparison, the cookie, the
//! headers every answer carries and safe download names.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::Result;

/// The session cookie's name.
pub const COOKIE: &str = "custodia_desk";

/// The Content-Security-Policy of every answer: only the desk's own
/// stylesheet and script, no inline script or style, no other origin, no
/// framing, forms posted only to the desk.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
frame-ancestors 'none'";

/// Headers on every answer, pages, assets, errors and downloads alike.
pub const HEADERS: [(&str, &str); 8] = [
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
];

/// A random secret (URL token, session cookie, CSRF token): 32 bytes from
/// the operating system, written as 64 hex digits, zeroized when dropped.
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// A new random secret.
    pub fn random() -> Result<Secret> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut bytes[..]).map_err(|e| {
            crate::error::Error::Internal(format!("no randomness from the system: {e}"))
        })?;
        Ok(Secret(Zeroizing::new(hex::encode(&bytes[..]))))
    }

    /// The secret as text (for the URL, the cookie, a form field).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this secret, compared in constant time.
    pub fn matches(&self, given: &str) -> bool {
        let a = self.0.as_bytes();
        let b = given.as_bytes();
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }
}

/// Whether a `Host` header names the desk: `127.0.0.1:PORT` or
/// `localhost:PORT` exactly (anything else may be a DNS-rebinding page).
pub fn host_ok(host: Option<&str>, port: u16) -> bool {
    let Some(host) = host else { return false };
    let host = host.trim();
    host == format!("127.0.0.1:{port}") || host.eq_ignore_ascii_case(&format!("localhost:{port}"))
}

/// Whether a state-changing request comes from the desk's own pages.
///
/// The `Origin` must be the desk's own. Because every answer says
/// `Referrer-Policy: no-referrer`, browsers send `Origin: null` on the
/// desk's own form posts; such a request (or one without `Origin`) is
/// accepted only when the browser vouches with `Sec-Fetch-Site:
/// same-origin`. A `Sec-Fetch-Site` other than `same-origin` is refused
/// whatever the `Origin` says.
pub fn origin_ok(origin: Option<&str>, fetch_site: Option<&str>, port: u16) -> bool {
    let fetch_site = fetch_site.map(str::trim);
    if fetch_site.is_some_and(|s| s != "same-origin") {
        return false;
    }
    match origin.map(str::trim) {
        Some(origin) if origin != "null" => {
            origin == format!("http://127.0.0.1:{port}")
                || origin.eq_ignore_ascii_case(&format!("http://localhost:{port}"))
        }
        _ => fetch_site == Some("same-origin"),
    }
}

/// The value of the desk's cookie in a `Cookie` header, if any.
pub fn cookie_value(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name.trim() == COOKIE).then(|| value.trim())
    })
}

/// The `Set-Cookie` header value for a session: not readable by scripts,
/// never sent by another site's request, for the whole desk, gone when the
/// browser closes.
pub fn set_cookie(value: &str) -> String {
    format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/")
}

/// A file name safe in a `Content-Disposition` header: the ASCII fallback
/// keeps letters, digits, `.`, `-` and `_` (others become `_`, no leading
/// dot, at most 100 characters); the full name goes percent-encoded in
/// `filename*`.
pub fn content_disposition(name: &str) -> String {
    let mut ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    while ascii.starts_with('.') {
        ascii.replace_range(..1, "_");
    }
    if ascii.is_empty() {
        ascii.push_str("exhibit");
    }
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Whether `text` is a record id as the desk's URLs carry them (32 hex).
pub fn is_id(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_origins() {
        assert!(host_ok(Some("127.0.0.1:4000"), 4000));
        assert!(host_ok(Some("localhost:4000"), 4000));
        assert!(!host_ok(Some("127.0.0.1:4001"), 4000));
        assert!(!host_ok(Some("evil.example:4000"), 4000));
        assert!(!host_ok(Some("127.0.0.1"), 4000));
        assert!(!host_ok(None, 4000));
        let same = Some("same-origin");
        assert!(origin_ok(Some("http://127.0.0.1:4000"), None, 4000));
        assert!(origin_ok(Some("http://127.0.0.1:4000"), same, 4000));
        assert!(!origin_ok(Some("http://evil.example"), None, 4000));
        assert!(!origin_ok(Some("http://evil.example"), same, 4000));
        assert!(!origin_ok(Some("null"), None, 4000));
        assert!(origin_ok(Some("null"), same, 4000));
        assert!(!origin_ok(Some("null"), Some("cross-site"), 4000));
        assert!(!origin_ok(
            Some("http://127.0.0.1:4000"),
            Some("same-site"),
            4000
        ));
        assert!(!origin_ok(None, None, 4000));
        assert!(origin_ok(None, same, 4000));
    }

    #[test]
    fn secrets_compare_whole() {
        let s = Secret::random().unwrap();
        assert_eq!(s.expose().len(), 64);
        assert!(s.matches(s.expose()));
        assert!(!s.matches(&s.expose()[..63]));
        assert!(!s.matches(""));
        assert_ne!(s.expose(), Secret::random().unwrap().expose());
    }

    #[test]
    fn cookies() {
        assert_eq!(cookie_value("a=1; custodia_desk=xyz; b=2"), Some("xyz"));
        assert_eq!(cookie_value("custodia_desk_other=1"), None);
        assert!(set_cookie("v").contains("HttpOnly; SameSite=Strict"));
    }

    #[test]
    fn download_names() {
        let d = content_disposition("../شهادة \"x\".txt\r\nSet-Cookie: a");
        assert!(d.starts_with("attachment; filename=\"_._"), "{d}");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(!d[..d.find(';').unwrap()].contains('/'));
        assert_eq!(
            content_disposition("photo.jpg"),
            "attachment; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg"
        );
        assert!(content_disposition(".bashrc").contains("filename=\"_bashrc\""));
    }
}
