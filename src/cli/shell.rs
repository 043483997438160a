//! `custodia shell`: unlock once, then run commands written as on the
//! command line, until `exit`, Ctrl-D or the idle time locks the session.
//!
//! Each line is split like a POSIX shell would (quotes, backslashes) and
//! parsed with the same clap definitions as the command line. History is
//! kept in memory only (`history` shows it) and never written to a file.
//! The vault stays unlocked in this process between commands (its keys
//! zeroize when it is locked); core dumps are off and, where the system
//! allows it, the process's memory is locked against swapping.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc;
use std::time::Duration;

use clap::Args;

use super::{session, terminal_safe, Cli, Command, Failure, Global, Output};

/// `custodia shell`.
#[derive(Debug, Args)]
pub struct ShellArgs {
    /// Lock the vault after this long without a command (30s, 10m, 1h)
    /// [default: the vault's setting (`custodia settings --idle`), else 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle: Option<Duration>,
}

/// Parses `30s`, `10m`, `1h` (a positive whole number and a unit).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a duration: write a number and s, m or h (30s, 10m, 1h)");
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    }
    .ok_or_else(bad)?;
    if secs == 0 {
        return Err(format!("{text:?}: the idle time must be more than zero"));
    }
    Ok(Duration::from_secs(secs))
}

/// Splits a line into words like a POSIX shell: blanks separate words;
/// 'single quotes' keep everything; "double quotes" keep everything but
/// `\"` and `\\`; a backslash outside quotes keeps the next character.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a 'quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a \"quote is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a \"quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("the line ends with a backslash".into()),
                }
            }
            '#' if !in_word => break,
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Turns off core dumps and ptrace by other processes of this user (the
/// shell's and the desk's long-lived processes), or says it could not.
pub(super) fn no_dumps(out: &Output) {
    if let Err(e) = custodia::process::forbid_core_dumps() {
        out.warn(format!("cannot turn off core dumps (PR_SET_DUMPABLE): {e}"));
    }
}

/// Tries to keep the pages this process holds now (the unlocked keys, and
/// after a command what the session keeps: the vault state, the search
/// index) out of swap. Where the memory-lock limit is too low it is
/// refused, and said once; `locked` says whether the last try worked.
fn lock_memory(out: &Output, locked: &mut bool) {
    match custodia::process::lock_held_memory() {
        Ok(()) => *locked = true,
        Err(e) => {
            // Said at the start, or once when it stops working; not tried
            // again after that.
            out.note(format!(
                "Memory could not be locked against swapping ({e}); keys and what the \
                 session keeps may reach swap. Use encrypted swap, or raise the \
                 memory-lock limit (ulimit -l)."
            ));
            *locked = false;
        }
    }
}

/// What a line asks for.
enum Line {
    /// End the session.
    Exit,
    /// Nothing to run (blank, comment, built-in done).
    Nothing,
    /// A command.
    Run(Box<Cli>),
}

/// Runs the session. `g` carries the vault, user and passphrase file for
/// the whole session.
pub fn shell(g: &Global, out: &Output, args: ShellArgs) -> Result<(), Failure> {
    if g.passphrase_file
        .as_deref()
        .is_some_and(|p| p == std::path::Path::new("-"))
    {
        return Err(Failure::usage(
            "in the shell, standard input carries the commands: give the passphrase in a file \
             (--passphrase-file PATH) or type it at the prompt",
        ));
    }
    no_dumps(out);
    session::begin();
    // Unlock now: a wrong passphrase ends here, before any command. The
    // idle time is the one given, else the vault's sealed setting.
    let idle = {
        let vault = session::unlock(g)?;
        match args.idle {
            Some(given) => given,
            None => Duration::from_secs(vault.settings()?.idle_seconds()),
        }
    };
    let mut locked = false;
    lock_memory(out, &mut locked);
    let interactive = std::io::stdin().is_terminal();
    if interactive && !out.quiet {
        super::output::stderr_line(&format!(
            "Custodia shell: commands as on the command line (`case list`, `statement add …`), \
             `history`, `lock`, `exit`. Locks after {} idle.",
            describe(idle)
        ));
    }
    let lines = line_reader();
    let mut history: Vec<String> = Vec::new();
    loop {
        if interactive {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "custodia> ");
            let _ = err.flush();
        }
        let Ok(()) = lines.want.send(()) else {
            break;
        };
        let next = match lines.got.recv_timeout(idle) {
            Ok(next) => next,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if session::lock() && !out.quiet {
                    super::output::stderr_line(&format!(
                        "\nLocked after {} idle; the next command asks for the passphrase again.",
                        describe(idle)
                    ));
                }
                match lines.got.recv() {
                    Ok(next) => next,
                    Err(_) => break,
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let Some(line) = next else {
            // Ctrl-D or the end of the input.
            if interactive {
                super::output::stderr_line("");
            }
            break;
        };
        let line = line.trim_end_matches(['\n', '\r']).to_owned();
        let parsed = parse_line(&line, g, &history);
        if !line.trim().is_empty() && line.trim() != "history" {
            history.push(line.clone());
        }
        match parsed {
            Ok(Line::Exit) => break,
            Ok(Line::Nothing) => {}
            Ok(Line::Run(cli)) => {
                let cmd_out = Output::new(cli.global.json, cli.global.quiet);
                if let Err(failure) = super::run(*cli) {
                    if matches!(failure, Failure::Silent(0)) {
                        // Standard output was closed: nobody is reading.
                        break;
                    }
                    failure.report(&cmd_out);
                }
                // What the command kept (keys after an unlock, the state,
                // the search index) is locked too, where locking works.
                if locked {
                    lock_memory(out, &mut locked);
                }
            }
            Err(failure) => failure.report(out),
        }
    }
    session::lock();
    if !out.quiet {
        super::output::stderr_line("Locked.");
    }
    Ok(())
}

/// Parses one line of the shell into what it asks for.
fn parse_line(line: &str, g: &Global, history: &[String]) -> Result<Line, Failure> {
    let words = split_words(line).map_err(Failure::usage)?;
    let Some(first) = words.first() else {
        return Ok(Line::Nothing);
    };
    match (first.as_str(), words.len()) {
        ("exit" | "quit", 1) => return Ok(Line::Exit),
        ("lock", 1) => {
            session::lock();
            super::output::stderr_line("Locked; the next command asks for the passphrase again.");
            return Ok(Line::Nothing);
        }
        ("history", 1) => {
            let mut stdout = std::io::stdout().lock();
            for (i, l) in history.iter().enumerate() {
                writeln!(stdout, "{:>4}  {}", i + 1, terminal_safe(l))
                    .map_err(|_| Failure::Silent(0))?;
            }
            return Ok(Line::Nothing);
        }
        _ => {}
    }
    // Standard input carries the shell's commands: a command reading it
    // would swallow the ones after it.
    if words.iter().any(|w| w == "--stdin" || w == "-") {
        return Err(Failure::usage(
            "inside the shell, standard input carries the commands: give a text with --file \
             or --editor, a secret in a file",
        ));
    }
    let argv = std::iter::once("custodia".to_owned()).chain(words);
    let mut cli = match super::parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print and go on; mistakes are shown.
            let _ = e.print();
            return Ok(Line::Nothing);
        }
    };
    if let Some(name) = match &cli.command {
        Command::Init(_) => Some("init"),
        Command::Shell(_) => Some("shell"),
        Command::Completions { .. } => Some("completions"),
        _ => None,
    } {
        return Err(Failure::usage(format!(
            "`{name}` cannot run inside the shell: leave it (exit) and run `custodia {name}`"
        )));
    }
    for (what, line_value, session_value) in [
        ("--vault", cli.global.vault.as_deref(), g.vault.as_deref()),
        (
            "--passphrase-file",
            cli.global.passphrase_file.as_deref(),
            g.passphrase_file.as_deref(),
        ),
    ] {
        if line_value.is_some() && line_value != session_value {
            return Err(Failure::usage(format!(
                "{what} cannot change inside the shell: leave it (exit) and start another"
            )));
        }
    }
    if cli.global.user.is_some() && cli.global.user != g.user {
        return Err(Failure::usage(
            "--user cannot change inside the shell: leave it (exit) and start another",
        ));
    }
    cli.global.vault = g.vault.clone();
    cli.global.user = g.user.clone();
    cli.global.passphrase_file = g.passphrase_file.clone();
    Ok(Line::Run(Box::new(cli)))
}

/// "10m", "1h", "45s": the idle time as given.
fn describe(d: Duration) -> String {
    let s = d.as_secs();
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

/// A thread that reads one line of standard input each time it is asked
/// (so that nothing reads ahead while a command prompts on the terminal).
struct LineReader {
    want: mpsc::Sender<()>,
    got: mpsc::Receiver<Option<String>>,
}

fn line_reader() -> LineReader {
    let (want, asked) = mpsc::channel::<()>();
    let (give, got) = mpsc::channel::<Option<String>>();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        while asked.recv().is_ok() {
            let mut line = String::new();
            let next = match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(line),
            };
            let end = next.is_none();
            if give.send(next).is_err() || end {
                break;
            }
        }
    });
    LineReader { want, got }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in [
            "",
            "10",
            "m",
            "0s",
            "1d",
            "-1s",
            "1.5m",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn words() {
        assert_eq!(
            split_words(r#"case new KZ-1 --title "Évgueni K. \"le\" témoin" 'a b'\ c # note"#),
            Ok(vec![
                "case".to_owned(),
                "new".to_owned(),
                "KZ-1".to_owned(),
                "--title".to_owned(),
                "Évgueni K. \"le\" témoin".to_owned(),
                "a b c".to_owned(),
            ])
        );
        assert_eq!(split_words("  "), Ok(vec![]));
        assert_eq!(split_words("''"), Ok(vec![String::new()]));
        assert!(split_words("say \"unclosed").is_err());
        assert!(split_words("x\\").is_err());
    }
}
