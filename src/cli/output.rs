//! Output: results on standard output (human text, or one JSON document
//! with `--json`), commentary on standard error (silenced by `--quiet`).
//! A closed pipe (`| head`) ends the program quietly instead of panicking.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use super::Failure;

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

    /// One line of result on standard output (human mode).
    pub fn line(&self, text: impl AsRef<str>) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{}", text.as_ref()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::Silent(0)),
            Err(e) => Err(Failure::io("cannot write to standard output", e)),
        }
    }

    /// The JSON document (with `--json`).
    pub fn json<T: Serialize>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| Failure::invalid(format!("cannot encode JSON output: {e}")))?;
        self.line(text)
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

    /// Commentary on standard error, unless `--quiet`.
    pub fn note(&self, text: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A warning: always printed, on standard error.
    pub fn warn(&self, text: impl AsRef<str>) {
        eprintln!("custodia: warning: {}", text.as_ref());
    }

    /// True when standard error is a terminal (progress bars go there).
    pub fn interactive(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }
}
