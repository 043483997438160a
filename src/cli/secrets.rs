//! Where passphrases and keys come from: a file, standard input, or a
//! no-echo prompt on the terminal. Values live in `Zeroizing` buffers.

use std::io::{BufRead, Read};
use std::path::Path;

use zeroize::Zeroizing;

use super::Failure;

/// Longest secret file accepted (a passphrase or a recovery key).
const MAX_SECRET_FILE: u64 = 64 * 1024;
/// Shortest passphrase accepted for a new slot.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// Reads a secret's first line from `path` (`-` = standard input).
pub fn read_secret_file(path: &Path, what: &str) -> Result<Zeroizing<String>, Failure> {
    let mut raw = Zeroizing::new(Vec::new());
    if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_SECRET_FILE)
            .read_until(b'\n', &mut raw)
            .map_err(|e| Failure::io(format!("cannot read the {what} from standard input"), e))?;
    } else {
        let file = std::fs::File::open(path).map_err(|e| {
            Failure::io(format!("cannot read the {what} file {}", path.display()), e)
        })?;
        file.take(MAX_SECRET_FILE)
            .read_to_end(&mut raw)
            .map_err(|e| {
                Failure::io(format!("cannot read the {what} file {}", path.display()), e)
            })?;
    }
    let text = std::str::from_utf8(&raw).map_err(|_| {
        Failure::invalid(format!(
            "the {what} in {} is not valid UTF-8",
            path.display()
        ))
    })?;
    let first = Zeroizing::new(
        text.lines()
            .next()
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_owned(),
    );
    if first.is_empty() {
        return Err(Failure::invalid(format!(
            "the {what} file {} is empty",
            path.display()
        )));
    }
    Ok(first)
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

/// The acting user's passphrase: from `file` if given, else a prompt.
pub fn current_passphrase(file: Option<&Path>) -> Result<Zeroizing<String>, Failure> {
    match file {
        Some(path) => read_secret_file(path, "passphrase"),
        None => prompt("Vault passphrase: "),
    }
}

/// A new passphrase: from `file` if given, else prompted twice.
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
    if value.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Failure::invalid(format!(
            "a passphrase needs at least {MIN_PASSPHRASE_CHARS} characters; a few random \
             words are best"
        )));
    }
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
