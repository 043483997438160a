//! Where passphrases and keys come from: a file, standard input, or a
//! no-echo prompt on the terminal. Values live in `Zeroizing` buffers.

use std::io::{BufRead, Read};
use std::path::Path;

use custodia::crypto::strength::{self, StrengthEstimate};
use zeroize::Zeroizing;

use super::{Failure, Output};

/// Longest secret file accepted (a passphrase or a recovery key).
const MAX_SECRET_FILE: usize = 64 * 1024;

/// Reads a secret's first line from `path` (`-` = standard input).
///
/// The bytes go into one buffer of fixed capacity ([`MAX_SECRET_FILE`]),
/// wiped on drop, that never grows: a growing buffer would leave freed,
/// unwiped copies of the secret behind. The first line is then copied once
/// into an exactly sized, wiped `String`.
pub fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>, Failure> {
    let raw = if path == Path::new("-") {
        read_first_line_bounded(&mut std::io::stdin().lock())
            .map_err(|e| Failure::io(format!("cannot read the {what} from standard input"), e))?
    } else {
        let mut file = std::fs::File::open(path).map_err(|e| {
            Failure::io(format!("cannot read the {what} file {}", path.display()), e)
        })?;
        read_bounded(&mut file).map_err(|e| {
            Failure::io(format!("cannot read the {what} file {}", path.display()), e)
        })?
    };
    let text = std::str::from_utf8(&raw).map_err(|_| {
        Failure::invalid(format!(
            "the {what} in {} is not valid UTF-8",
            path.display()
        ))
    })?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    let mut first = Zeroizing::new(String::with_capacity(line.len()));
    first.push_str(line);
    if first.is_empty() {
        return Err(Failure::invalid(format!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(first)
}

/// Reads at most [`MAX_SECRET_FILE`] bytes into a buffer allocated once at
/// that size (the rest of a longer file is ignored, as before).
fn read_bounded(reader: &mut dyn Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; MAX_SECRET_FILE]);
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Reads up to the first newline (at most [`MAX_SECRET_FILE`] bytes) into a
/// buffer whose capacity is reserved up front, so it never reallocates.
fn read_first_line_bounded(reader: &mut dyn BufRead) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_SECRET_FILE));
    reader
        .take(MAX_SECRET_FILE as u64)
        .read_until(b'\n', &mut buf)?;
    Ok(buf)
}

/// Shows a new passphrase's strength warning, if it has one, on standard
/// error (never the passphrase itself).
pub fn report_strength(out: &Output, estimate: &StrengthEstimate) {
    if let Some(text) = estimate.warning_text() {
        out.warn(text);
    }
}

/// Prompts on the terminal without echo for the vault's passphrase (or a
/// recovery key); without a terminal, points to `--passphrase-file`.
pub fn prompt(label: &str) -> Result<Zeroizing<String>, Failure> {
    prompt_or(
        label,
        "no passphrase given and no terminal to ask on: use --passphrase-file \
         (or CUSTODIA_PASSPHRASE_FILE)",
    )
}

/// Prompts on the terminal without echo; without a terminal, fails with
/// `no_terminal` (which names the option to use instead).
pub fn prompt_or(label: &str, no_terminal: &str) -> Result<Zeroizing<String>, Failure> {
    let value =
        rpassword::prompt_password(label).map_err(|_| Failure::invalid(no_terminal.to_owned()))?;
    Ok(Zeroizing::new(value))
}

/// A new passphrase: from `file` if given, else prompted twice. Shorter
/// than [`strength::MIN_PASSPHRASE_CHARS`] characters is refused.
pub fn new_passphrase(file: Option<&Path>, label: &str) -> Result<Zeroizing<String>, Failure> {
    let value = match file {
        Some(path) => read_secret_file(path, "new passphrase")?,
        None => {
            let first = prompt(&format!("{label}: "))?;
            let again = prompt(&format!("{label} (again): "))?;
            if *first != *again {
                return Err(Failure::invalid(
                    "the two passphrases differ; nothing was changed",
                ));
            }
            first
        }
    };
    strength::check_min_length(&value).map_err(|e| Failure::invalid(e.to_string()))?;
    Ok(value)
}

/// Refuses two secrets both read from standard input.
pub fn check_one_stdin(paths: &[Option<&Path>]) -> Result<(), Failure> {
    let from_stdin = paths
        .iter()
        .filter(|p| p.is_some_and(|p| p == Path::new("-")))
        .count();
    if from_stdin > 1 {
        return Err(Failure::usage(
            "only one secret can be read from standard input ('-'); put the others in files",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_are_read_into_buffers_that_never_grow() {
        let long = "x".repeat(MAX_SECRET_FILE + 100);
        let buf = read_bounded(&mut long.as_bytes()).unwrap();
        assert_eq!(buf.len(), MAX_SECRET_FILE);
        assert_eq!(buf.capacity(), MAX_SECRET_FILE);
        let buf = read_bounded(&mut &b"secret\nrest"[..]).unwrap();
        assert_eq!(&buf[..], b"secret\nrest");
        assert_eq!(
            buf.capacity(),
            MAX_SECRET_FILE,
            "the buffer was reallocated"
        );
        let line = read_first_line_bounded(&mut &b"first line\nsecond"[..]).unwrap();
        assert_eq!(&line[..], b"first line\n");
        assert_eq!(line.capacity(), MAX_SECRET_FILE);
        let line = read_first_line_bounded(&mut long.as_bytes()).unwrap();
        assert_eq!(line.len(), MAX_SECRET_FILE);
        assert_eq!(line.capacity(), MAX_SECRET_FILE);
    }

    #[test]
    fn the_first_line_is_kept_in_an_exactly_sized_string() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pass");
        std::fs::write(&path, "Réfugié « côté »\r\nnext\n").unwrap();
        let value = read_secret_file(&path, "passphrase").unwrap();
        assert_eq!(value.as_str(), "Réfugié « côté »");
        assert_eq!(value.capacity(), value.len());
    }
}
