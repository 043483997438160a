//! `application/x-www-form-urlencoded` bodies and the desk's upload
//! headers, decoded into strings that zeroize when dropped.

use std::collections::HashMap;

use zeroize::Zeroizing;

/// A decoded form: field name → value (the last of a repeated name).
pub struct Form(HashMap<String, Zeroizing<String>>);

/// Percent-decodes `text` (`+` as a space when `plus` is set); `None` when
/// the bytes are not UTF-8 or an escape is malformed.
pub fn decode(text: &str, plus: bool) -> Option<Zeroizing<String>> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = std::str::from_utf8(&out).ok()?;
    Some(Zeroizing::new(text.to_owned()))
}

impl Form {
    /// Parses a form body; `None` when it is not valid form encoding.
    pub fn parse(body: &[u8]) -> Option<Form> {
        let text = std::str::from_utf8(body).ok()?;
        let mut fields = HashMap::new();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name, true)?;
            let value = decode(value, true)?;
            fields.insert(name.to_string(), value);
        }
        Some(Form(fields))
    }

    /// A field's value, if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str())
    }

    /// A field's value with line ends as `\n`, or "" when not sent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").replace("\r\n", "\n")
    }

    /// A field's trimmed value, `None` when absent or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }

    /// The ticked checkboxes named `PREFIX<id>`: their ids, sorted.
    pub fn ticked_with_prefix(&self, prefix: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .filter_map(|(k, _)| k.strip_prefix(prefix))
            .map(str::to_owned)
            .collect();
        out.sort();
        out
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms() {
        let f = Form::parse("a=1&b=x+y%20z&c=%D8%B4%D9%87&d".as_bytes()).unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), Some("x y z"));
        assert_eq!(f.get("c"), Some("شه"));
        assert_eq!(f.get("d"), Some(""));
        assert!(f.checked("a") && !f.checked("d") && !f.checked("e"));
        assert!(Form::parse(b"a=%ZZ").is_none());
        assert!(Form::parse(b"a=%FF").is_none());
        assert!(Form::parse(b"a=%4").is_none());
        assert_eq!(decode("a+b", false).unwrap().as_str(), "a+b");
    }
}
