//! Output: results on standard output (human text, or one JSON document
//! with `--json`), commentary on standard error (silenced by `--quiet`).
//! A closed pipe (`| head`) ends the program quietly instead of panicking.
//!
//! Human text is made safe for a terminal here, in one place. Most of what
//! is printed comes from a vault or a bundle, that is from whoever wrote
//! it: an exhibit's file name, a witness's name, a statement's text, a
//! detail in a bundle's verdict. A terminal acts on control characters
//! (ESC starts a sequence that can move the cursor, erase or hide text,
//! retitle the window; CR rewinds the line), and bidirectional controls
//! reorder what is shown, so such a string could forge a line (a fake
//! "VERDICT: VALID") or hide a real one. Every human-readable line goes
//! through [`terminal_safe`] (one line: even a newline is shown as `\n`,
//! so a name cannot start a line of its own) or, for a statement's text,
//! [`terminal_safe_text`] (keeps newlines and tabs). The CLI's own styling
//! (search highlights) goes through [`Output::styled_line`], where only the
//! data is escaped. JSON output is left exactly as serde writes it.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::Failure;

/// Start of a search hit's highlight (bold yellow), on a terminal.
pub const HIGHLIGHT: &str = "\x1b[1;33m";
/// End of a highlight.
pub const RESET: &str = "\x1b[0m";

/// True for a character a terminal acts on, or that changes how the text
/// around it is shown: C0 controls (including newline, tab and CR), DEL,
/// C1 controls (U+0080–U+009F), the bidirectional embeddings, overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069), and the Unicode line and
/// paragraph separators (U+2028, U+2029).
pub fn is_terminal_unsafe(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// A single-line value, safe to print: every character of
/// [`is_terminal_unsafe`] is shown as an escape (`\n`, `\r`, `\t`,
/// `\u{1b}`, `\u{202e}`…), so the value stays on one line and cannot steer
/// the terminal. Borrows when there is nothing to escape.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// Multi-line text (a statement's body), safe to print: like
/// [`terminal_safe`] but newlines, tabs and the CR of a CRLF line ending
/// are kept.
pub fn terminal_safe_text(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

fn escape(text: &str, multi_line: bool) -> Cow<'_, str> {
    let mut escaped: Option<String> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let keep = !is_terminal_unsafe(c)
            || (multi_line
                && (c == '\n'
                    || c == '\t'
                    || (c == '\r' && chars.peek().is_some_and(|&(_, next)| next == '\n'))));
        match (&mut escaped, keep) {
            (Some(out), true) => out.push(c),
            (None, true) => {}
            (out, false) => {
                let out = out.get_or_insert_with(|| {
                    let mut s = String::with_capacity(text.len() + 16);
                    s.push_str(&text[..i]);
                    s
                });
                match c {
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    _ => {
                        let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                    }
                }
            }
        }
    }
    match escaped {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(text),
    }
}

/// A piece of a styled line (see [`Output::styled_line`]).
#[derive(Clone, Copy, Debug)]
pub enum Piece<'a> {
    /// Text from a vault, a bundle or the user: escaped like any line.
    Data(&'a str),
    /// One of the CLI's own terminal styles ([`HIGHLIGHT`], [`RESET`]):
    /// written as is. Only constants qualify.
    Style(&'static str),
}

/// How to print.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// `--json`.
    pub json: bool,
    /// `--quiet`.
    pub quiet: bool,
}

impl Output {
    /// Output settings from the global flags.
    pub fn new(json: bool, quiet: bool) -> Output {
        Output { json, quiet }
    }

    /// One line of result on standard output (human mode), made
    /// [`terminal_safe`]: whatever the values in it hold, it stays one
    /// line and carries no control or bidirectional characters.
    pub fn line(&self, text: impl AsRef<str>) -> Result<(), Failure> {
        self.stdout(&terminal_safe(text.as_ref()))
    }

    /// Several lines of text on standard output (a statement's body, a key
    /// file), made [`terminal_safe_text`]: newlines and tabs are kept.
    pub fn text(&self, text: impl AsRef<str>) -> Result<(), Failure> {
        self.stdout(&terminal_safe_text(text.as_ref()))
    }

    /// One line on standard output made of data (escaped as in
    /// [`Output::line`]) and the CLI's own styles (written as they are).
    pub fn styled_line(&self, pieces: &[Piece<'_>]) -> Result<(), Failure> {
        let mut line = String::new();
        for piece in pieces {
            match piece {
                Piece::Data(text) => line.push_str(&terminal_safe(text)),
                Piece::Style(style) => line.push_str(style),
            }
        }
        self.stdout(&line)
    }

    /// The JSON document (with `--json`), exactly as serde writes it
    /// (strings are escaped there).
    pub fn json<T: Serialize>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Failure::invalid(format!("cannot encode JSON output: {e}")))?;
        self.stdout(&text)
    }

    /// Writes `text` and a newline to standard output, as is.
    fn stdout(&self, text: &str) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{text}").and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::Silent(0)),
            Err(e) => Err(Failure::io("cannot write to standard output", e)),
        }
    }

    /// Bytes on standard output as they are (a completion script).
    pub fn raw(&self, bytes: &[u8]) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        match out.write_all(bytes).and_then(|()| out.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::Silent(0)),
            Err(e) => Err(Failure::io("cannot write to standard output", e)),
        }
    }

    /// Prints `value` as JSON with `--json`, else runs `human`.
    pub fn either<T: Serialize>(
        &self,
        value: &T,
        human: impl FnOnce() -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        if self.json {
            self.json(value)
        } else {
            human()
        }
    }

    /// Commentary on standard error, unless `--quiet`; one line, made
    /// [`terminal_safe`].
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            stderr_line(&terminal_safe(text.as_ref()));
        }
    }

    /// A warning: always printed, on standard error; one line, made
    /// [`terminal_safe`].
    pub fn warn(&self, text: impl AsRef<str>) {
        stderr_line(&format!(
            "custodia: warning: {}",
            terminal_safe(text.as_ref())
        ));
    }

    /// True when standard error is a terminal (progress bars go there).
    pub fn interactive(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}

/// Writes `text` and a newline to standard error, as is. A closed standard
/// error is ignored (`eprintln!` would panic).
pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// `snippet` with the byte ranges `highlights` between [`HIGHLIGHT`] and
/// [`RESET`], as pieces for [`Output::styled_line`]. Ranges that overlap
/// an earlier one, split a character or run past the end are skipped.
pub fn highlighted<'a>(snippet: &'a str, highlights: &[std::ops::Range<usize>]) -> Vec<Piece<'a>> {
    let mut pieces = Vec::with_capacity(highlights.len() * 4 + 1);
    let mut pos = 0;
    for h in highlights {
        if h.start < pos {
            continue;
        }
        let (Some(plain), Some(marked)) = (snippet.get(pos..h.start), snippet.get(h.clone()))
        else {
            continue;
        };
        pieces.extend([
            Piece::Data(plain),
            Piece::Style(HIGHLIGHT),
            Piece::Data(marked),
            Piece::Style(RESET),
        ]);
        pos = h.end;
    }
    pieces.push(Piece::Data(snippet.get(pos..).unwrap_or_default()));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(pieces: &[Piece<'_>]) -> String {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Data(d) => terminal_safe(d).into_owned(),
                Piece::Style(s) => (*s).to_owned(),
            })
            .collect()
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for s in [
            "",
            "photo.jpg",
            "Évgueni Kouznetsov",
            "حلب، سوريا",
            "a\\u{1b}b",
        ] {
            assert!(matches!(terminal_safe(s), Cow::Borrowed(t) if t == s));
            assert!(matches!(terminal_safe_text(s), Cow::Borrowed(t) if t == s));
        }
    }

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        let name = "photo.jpg\nVERDICT: VALID.\x1b[8m";
        assert_eq!(terminal_safe(name), "photo.jpg\\nVERDICT: VALID.\\u{1b}[8m");
        assert_eq!(
            terminal_safe_text(name),
            "photo.jpg\nVERDICT: VALID.\\u{1b}[8m"
        );
    }

    #[test]
    fn single_line_values_escape_every_control() {
        assert_eq!(terminal_safe("a\tb\rc\r\nd"), "a\\tb\\rc\\r\\nd");
        assert_eq!(terminal_safe("\0\x07\x7f"), "\\u{0}\\u{7}\\u{7f}");
        assert_eq!(terminal_safe("x\u{9b}31m\u{85}"), "x\\u{9b}31m\\u{85}");
    }

    #[test]
    fn bidi_controls_and_separators_are_shown() {
        assert_eq!(
            terminal_safe("\u{202e}gpj.exe\u{202c}"),
            "\\u{202e}gpj.exe\\u{202c}"
        );
        assert_eq!(terminal_safe("\u{2066}a\u{2069}"), "\\u{2066}a\\u{2069}");
        assert_eq!(
            terminal_safe_text("a\u{2028}b\u{2029}"),
            "a\\u{2028}b\\u{2029}"
        );
        // Ordinary right-to-left text is left alone.
        assert_eq!(terminal_safe("شهادة"), "شهادة");
    }

    #[test]
    fn text_keeps_lines_tabs_and_crlf_but_not_a_lone_cr() {
        assert_eq!(terminal_safe_text("a\tb\nc\r\nd"), "a\tb\nc\r\nd");
        assert_eq!(
            terminal_safe_text("real\rVERDICT: VALID\x1b[2J\n"),
            "real\\rVERDICT: VALID\\u{1b}[2J\n"
        );
        assert_eq!(terminal_safe_text("end\r"), "end\\r");
    }

    #[test]
    fn highlights_keep_our_style_and_escape_the_data() {
        let snippet = "le t\u{e9}moin \x1b[2J a d\u{e9}clar\u{e9}";
        let pieces = highlighted(snippet, &[3..10, 18..27]);
        assert_eq!(
            joined(&pieces),
            "le \x1b[1;33mt\u{e9}moin\x1b[0m \\u{1b}[2J a \x1b[1;33md\u{e9}clar\u{e9}\x1b[0m"
        );
    }

    #[test]
    fn bad_highlight_ranges_are_skipped() {
        // 2..3 splits "é", 4..9 runs past the end.
        let pieces = highlighted("a\u{e9} b", &[2..3, 0..1, 4..9]);
        assert_eq!(joined(&pieces), "\x1b[1;33ma\x1b[0m\u{e9} b");
        let pieces = highlighted("a\u{e9} b", &[0..1, 4..5]);
        assert_eq!(
            joined(&pieces),
            "\x1b[1;33ma\x1b[0m\u{e9} \x1b[1;33mb\x1b[0m"
        );
    }
}
