//! Everyday use (issue 14, points 1, 7 and 8, the command line's side):
//! `custodia shell` unlocks once and locks on idle and on exit; the prompt
//! allows three tries; `init` asks who you are and guards the recovery
//! key; closed pipes, `--json` errors, pasted secret keys and import
//! columns are handled in plain words.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{arg, assert_no_panic, expect_code, parse_json, run_command, TestVault};

const CASE: &str = "KZ-2026-014";

/// Runs `custodia shell` on `v` with `extra` shell options, writing each
/// chunk of `input` to its standard input after the pause before it.
/// Returns (exit code, stdout, stderr).
fn shell(v: &TestVault, extra: &[&str], input: &[(Duration, &str)]) -> (i32, String, String) {
    let mut cmd = v.std_command();
    cmd.arg("--vault")
        .arg(&v.path)
        .arg("--passphrase-file")
        .arg(&v.pass_file)
        .arg("shell")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start custodia shell");
    let mut stdin = child.stdin.take().unwrap();
    for (pause, text) in input {
        std::thread::sleep(*pause);
        // The shell may have ended already (that is for the test to see).
        let _ = stdin.write_all(text.as_bytes());
        let _ = stdin.flush();
    }
    drop(stdin);
    let out = child.wait_with_output().expect("wait for custodia shell");
    assert_no_panic(&out);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn shell_unlocks_once_and_runs_commands_as_on_the_command_line() {
    let v = TestVault::new();
    let text = v.file("amina.txt");
    std::fs::write(&text, "Le 3 mars, à Almaty, on m'a dit de partir.").unwrap();
    let script = format!(
        "case new {CASE} --title 'Évgueni K. — \"déserteur\"'\n\
         statement add --case {CASE} --witness 'Amina Q.' --file {}\n\
         \n\
         # a comment\n\
         init --insecure-fast-kdf\n\
         completions zsh\n\
         --vault other.custodia case list\n\
         case list\n\
         statement list --json\n\
         case show NO-SUCH-CASE\n\
         statement add --case {CASE} --witness X --stdin\n\
         history\n\
         exit\n\
         case list\n",
        arg(&text)
    );
    let (code, stdout, stderr) = shell(&v, &[], &[(Duration::ZERO, &script)]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(
        stderr.matches("Unlocked as").count(),
        1,
        "one unlock for the whole session:\n{stderr}"
    );
    // `case new` and `statement add` printed their ids.
    let ids: Vec<&str> = stdout
        .lines()
        .filter(|l| crate::common::is_record_id(l.trim()))
        .collect();
    assert_eq!(ids.len(), 2, "two new ids:\n{stdout}");
    // The quoted title came through whole; the list shows the case.
    assert!(stdout.contains(CASE), "{stdout}");
    assert!(stdout.contains("Évgueni K. — \"déserteur\""), "{stdout}");
    // --json on one line: a JSON array holding the statement.
    let start = stdout.find("[\n").expect("statement list --json output");
    let end = stdout[start..].find("\n]").unwrap() + start + 2;
    let list = parse_json(&stdout[start..end]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    // Refused inside, with a message; the session went on.
    for name in ["init", "completions"] {
        assert!(
            stderr.contains(&format!("`{name}` cannot run inside the shell")),
            "{name}:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("--vault cannot change inside the shell"),
        "{stderr}"
    );
    assert!(!v.file("other.custodia").exists());
    assert!(
        stderr.contains("inside the shell, standard input carries the commands"),
        "{stderr}"
    );
    // An error in one command does not end the session.
    assert!(stderr.contains("NO-SUCH-CASE"), "{stderr}");
    // History is in memory: shown, and never written next to the vault
    // or in the home directory.
    assert!(stdout.contains("   1  case new"), "{stdout}");
    let leftovers: Vec<_> = std::fs::read_dir(v.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("hist"))
        .collect();
    assert!(leftovers.is_empty(), "history files: {leftovers:?}");
    // `exit` ended it: the `case list` after it did not run.
    let listed = stdout
        .lines()
        .filter(|l| !l.starts_with(' ') && l.contains(&format!("  {CASE}  ")))
        .count();
    assert_eq!(listed, 1, "{stdout}");
    assert!(stderr.trim_end().ends_with("Locked."), "{stderr}");
}

#[test]
fn shell_locks_after_the_idle_time_and_unlocks_again_for_the_next_command() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Évgueni K."]);
    let (code, stdout, stderr) = shell(
        &v,
        &["--idle", "1s"],
        &[
            (Duration::ZERO, "case list\n"),
            (Duration::from_millis(2500), "case list\n"),
        ],
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("Locked after 1s idle"),
        "no idle lock:\n{stderr}"
    );
    assert_eq!(
        stderr.matches("Unlocked as").count(),
        2,
        "unlocked at the start and again after the idle lock:\n{stderr}"
    );
    assert_eq!(stdout.matches(CASE).count(), 2, "{stdout}");
    // Ctrl-D (the end of the input) locks and ends the session.
    assert!(stderr.trim_end().ends_with("Locked."), "{stderr}");
}

#[test]
fn shell_idle_times_are_checked() {
    let v = TestVault::new();
    for bad in ["10", "0s", "1d", "soon"] {
        let out = run_command(v.command().args(["shell", "--idle", bad]));
        let stderr = expect_code(&out, &["shell", "--idle", bad], 2);
        assert!(
            stderr.contains("30s, 10m, 1h") || stderr.contains("more than zero"),
            "{stderr}"
        );
    }
    // Standard input carries the commands: it cannot be the passphrase too.
    let mut cmd = v.bare_command();
    cmd.args(["--vault", arg(&v.path), "--passphrase-file", "-", "shell"]);
    let stderr = expect_code(&run_command(&mut cmd), &["shell"], 2);
    assert!(
        stderr.contains("standard input carries the commands"),
        "{stderr}"
    );
}

#[test]
fn a_wrong_passphrase_in_the_shell_ends_it_before_any_command() {
    let v = TestVault::new();
    let wrong = v.secret_file("wrong.pass", "not the passphrase at all");
    let mut cmd = v.std_command();
    cmd.arg("--vault")
        .arg(&v.path)
        .arg("--passphrase-file")
        .arg(&wrong)
        .arg("shell")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("case new {CASE} --title T\n").as_bytes());
    let out = child.wait_with_output().unwrap();
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
}

/// Runs `custodia` on a pseudo-terminal (util-linux `script`), typing each
/// line after a pause. None when `script` is not installed.
fn on_terminal(v: &TestVault, args: &[&str], typed: &[(Duration, &str)]) -> Option<(i32, String)> {
    let script = ["/usr/bin/script", "/bin/script"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let mut line = crate::common::binary().to_string_lossy().into_owned();
    for a in args {
        line.push_str(" '");
        line.push_str(&a.replace('\'', "'\\''"));
        line.push('\'');
    }
    let mut cmd = std::process::Command::new(script);
    crate::common::clean_env(&mut cmd, v.dir.path());
    cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().ok()?;
    let mut stdin = child.stdin.take()?;
    for (pause, text) in typed {
        std::thread::sleep(*pause);
        let _ = stdin.write_all(text.as_bytes());
        let _ = stdin.flush();
    }
    // Keep the terminal open until the program is done.
    let mut stdout = child.stdout.take()?;
    let mut seen = Vec::new();
    let _ = stdout.read_to_end(&mut seen);
    drop(stdin);
    let status = child.wait().ok()?;
    Some((
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&seen).into_owned(),
    ))
}

#[test]
fn the_prompt_allows_three_tries_with_a_growing_pause_then_exits_3() {
    let v = TestVault::new();
    let started = Instant::now();
    let Some((code, seen)) = on_terminal(
        &v,
        &["--vault", arg(&v.path), "case", "list"],
        &[
            (Duration::from_millis(500), "wrong one\n"),
            (Duration::from_millis(1500), "wrong two\n"),
            (Duration::from_millis(2500), "wrong three\n"),
        ],
    ) else {
        eprintln!("skipped: no `script` to make a terminal");
        return;
    };
    assert_eq!(code, 3, "{seen}");
    assert!(seen.contains("2 tries left"), "{seen}");
    assert!(seen.contains("1 try left"), "{seen}");
    assert_eq!(seen.matches("Vault passphrase:").count(), 3, "{seen}");
    // Pauses of 1 s and 2 s between the tries.
    assert!(started.elapsed() >= Duration::from_secs(3), "{seen}");
    // The right passphrase on the second try opens the vault.
    let Some((code, seen)) = on_terminal(
        &v,
        &["--vault", arg(&v.path), "case", "list"],
        &[
            (Duration::from_millis(500), "wrong one\n"),
            (
                Duration::from_millis(1500),
                &format!("{}\n", crate::common::OWNER_PASS),
            ),
        ],
    ) else {
        return;
    };
    assert_eq!(code, 0, "{seen}");
    assert!(seen.contains("2 tries left"), "{seen}");
}

#[test]
fn completions_into_a_closed_pipe_end_quietly() {
    let v = TestVault::empty();
    for shell_name in ["zsh", "bash", "fish"] {
        let mut cmd = v.std_command();
        cmd.args(["completions", shell_name])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // `| head -1`: read one line, then close the pipe.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        let _ = stdout.read(&mut first);
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{shell_name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Through a real shell pipeline too, with pipefail.
    let line = format!(
        "set -o pipefail; '{}' completions zsh | head -1 >/dev/null",
        crate::common::binary().display()
    );
    let status = std::process::Command::new("bash")
        .args(["-c", &line])
        .status()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn with_json_errors_are_a_json_object_on_standard_error() {
    let v = TestVault::new();
    // A library error (exit 1).
    let out = v.run(&["--json", "case", "show", "NO-SUCH-CASE"]);
    let stderr = expect_code(&out, &["case", "show"], 1);
    let doc = parse_json(stderr.trim());
    assert_eq!(doc["error"]["kind"], "error", "{doc}");
    assert_eq!(doc["error"]["exit_code"], 1, "{doc}");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("NO-SUCH-CASE"));
    assert!(out.stdout.is_empty());
    // A wrong passphrase (exit 3).
    let wrong = v.secret_file("wrong.pass", "not the passphrase at all");
    let out = v.run_as(&wrong, &["case", "list", "--json"]);
    let doc = parse_json(expect_code(&out, &["case", "list"], 3).trim());
    assert_eq!(doc["error"]["kind"], "wrong_key", "{doc}");
    assert_eq!(doc["error"]["exit_code"], 3, "{doc}");
    // A command line clap refuses (exit 2).
    let out = v.run(&["--json", "case", "frobnicate"]);
    let doc = parse_json(expect_code(&out, &["case", "frobnicate"], 2).trim());
    assert_eq!(doc["error"]["kind"], "usage", "{doc}");
    assert_eq!(doc["error"]["exit_code"], 2, "{doc}");
    // Without --json, a plain line as before.
    let stderr = v.fails_with(&["case", "show", "NO-SUCH-CASE"], 1);
    assert!(stderr.starts_with("custodia: error: "), "{stderr}");
}

#[test]
fn a_pasted_secret_key_as_recipient_is_refused_before_any_prompt_and_never_echoed() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "T"]);
    let secret = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZ";
    let bundle = v.file("out.custodia");
    // No passphrase file and no terminal: had the prompt come first, the
    // error would be about the missing passphrase.
    let mut cmd = v.bare_command();
    cmd.args(["--vault", arg(&v.path), "export", "--case", CASE])
        .args(["--recipient", secret, "--out", arg(&bundle)]);
    let out = run_command(&mut cmd);
    let stderr = expect_code(&out, &["export"], 1);
    assert!(
        stderr.contains(
            "this looks like an age secret key, not a recipient; give the public key (age1…)"
        ),
        "{stderr}"
    );
    assert!(
        !stderr.contains("QYQSZQGP"),
        "the secret key was echoed:\n{stderr}"
    );
    assert!(!stderr.contains("passphrase"), "{stderr}");
    // A mistyped recipient: named (its start only), before the prompt.
    let mut cmd = v.bare_command();
    cmd.args(["--vault", arg(&v.path), "export", "--case", CASE])
        .args([
            "--recipient",
            "age1notavalidrecipientatall",
            "--out",
            arg(&bundle),
        ]);
    let stderr = expect_code(&run_command(&mut cmd), &["export"], 1);
    assert!(stderr.contains("is not an age recipient"), "{stderr}");
    assert!(!stderr.contains("passphrase"), "{stderr}");
    assert!(!bundle.exists());
}

#[test]
fn statement_import_help_lists_the_columns_and_a_bad_column_is_named_in_plain_words() {
    let v = TestVault::new();
    let help = v.ok(&["statement", "import", "--help"]);
    for column in [
        "case",
        "witness",
        "body",
        "pseudonym",
        "protected",
        "language",
        "taken_at",
        "place",
        "interviewer",
        "interpreter",
        "consent",
        "source",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{column} "))),
            "--help does not list {column}:\n{help}"
        );
    }
    v.ok(&["case", "new", CASE, "--title", "T"]);
    let csv = v.file("rows.csv");
    std::fs::write(&csv, format!("case,witness,text\n{CASE},Amina,Bonjour\n")).unwrap();
    let stderr = v.fails_with(&["statement", "import", arg(&csv)], 1);
    assert!(
        stderr.contains("the column \"text\" is not one this import knows"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the columns are case, witness, body (required)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("unknown field"),
        "serde's words:\n{stderr}"
    );
    std::fs::write(&csv, format!("case,witness\n{CASE},Amina\n")).unwrap();
    let stderr = v.fails_with(&["statement", "import", arg(&csv)], 1);
    assert!(
        stderr.contains("the column \"body\" is missing"),
        "{stderr}"
    );
    let jsonl = v.file("rows.jsonl");
    std::fs::write(
        &jsonl,
        format!("{{\"case\":\"{CASE}\",\"witness\":\"A\",\"body\":\"x\",\"date\":\"2026\"}}\n"),
    )
    .unwrap();
    let stderr = v.fails_with(&["statement", "import", arg(&jsonl)], 1);
    assert!(
        stderr.contains("row 1: the column \"date\" is not one this import knows"),
        "{stderr}"
    );
    // Nothing was imported.
    assert_eq!(v.ok(&["statement", "list"]).trim(), "");
}

/// A program on a pseudo-terminal (util-linux `script`) that the test
/// talks to: it waits for a text to appear, then types a line.
struct Terminal {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Terminal {
    /// None when `script` is not installed.
    fn start(v: &TestVault, args: &[&str]) -> Option<Terminal> {
        let script = ["/usr/bin/script", "/bin/script"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())?;
        let mut line = crate::common::binary().to_string_lossy().into_owned();
        for a in args {
            line.push_str(" '");
            line.push_str(&a.replace('\'', "'\\''"));
            line.push('\'');
        }
        let mut cmd = std::process::Command::new(script);
        crate::common::clean_env(&mut cmd, v.dir.path());
        cmd.args(["-q", "-e", "-c", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().ok()?;
        let stdin = child.stdin.take()?;
        let mut stdout = child.stdout.take()?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Some(Terminal { child, stdin, seen })
    }

    /// Waits (up to 60 s) until `text` has been shown `times` times.
    fn wait_for(&self, text: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = self.seen.lock().unwrap().clone();
            if seen.matches(text).count() >= times {
                return seen;
            }
            assert!(Instant::now() < deadline, "never saw {text:?}:\n{seen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types a line.
    fn type_line(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits for the end; returns the exit code and everything shown.
    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let seen = self.seen.lock().unwrap().clone();
        (status.code().unwrap_or(-1), seen)
    }
}

#[test]
fn init_asks_for_your_name_and_shows_the_recovery_key_only_on_a_terminal() {
    let v = TestVault::empty();
    // Without a terminal: no made-up user, no key into a pipe.
    let mut cmd = v.bare_command();
    cmd.args([
        "--vault",
        arg(&v.path),
        "--passphrase-file",
        arg(&v.pass_file),
    ])
    .args([
        "init",
        "--insecure-fast-kdf",
        "--recovery-key-file",
        "rk.txt",
    ]);
    let stderr = expect_code(&run_command(&mut cmd), &["init"], 2);
    assert!(stderr.contains("--user NAME"), "{stderr}");
    assert!(!v.path.exists());
    let mut cmd = v.bare_command();
    cmd.args([
        "--vault",
        arg(&v.path),
        "--passphrase-file",
        arg(&v.pass_file),
    ])
    .args(["init", "--insecure-fast-kdf", "--user", "Claire Dupont"]);
    let out = run_command(&mut cmd);
    let stderr = expect_code(&out, &["init"], 2);
    assert!(
        stderr.contains("must not go silently into a pipe"),
        "{stderr}"
    );
    assert!(stderr.contains("--recovery-key-file"), "{stderr}");
    assert!(crate::common::find_recovery_key(&String::from_utf8_lossy(&out.stdout)).is_none());
    assert!(!v.path.exists());

    // On a terminal: asked for a name, shown the key, asked for its last
    // group (a wrong one is refused once, then the right one).
    let Some(mut t) = Terminal::start(
        &v,
        &[
            "--vault",
            arg(&v.path),
            "--passphrase-file",
            arg(&v.pass_file),
            "init",
            "--insecure-fast-kdf",
        ],
    ) else {
        eprintln!("skipped: no `script` to make a terminal");
        return;
    };
    t.wait_for("Your name", 1);
    t.type_line("Claire Dupont");
    let seen = t.wait_for("type its last group", 1);
    let key = crate::common::find_recovery_key(&seen).expect("the key is shown on the terminal");
    t.type_line("ZZZZ");
    t.wait_for("type its last group", 2);
    t.type_line(key.rsplit('-').next().unwrap());
    let (code, seen) = t.finish();
    assert_eq!(code, 0, "{seen}");
    assert!(seen.contains("That is not its last group"), "{seen}");
    assert!(seen.contains("User \"Claire Dupont\""), "{seen}");
    let users = v.active_users_as(&v.pass_file);
    assert_eq!(users, vec!["Claire Dupont".to_owned()]);
}

#[test]
fn init_writes_the_recovery_key_to_a_new_private_file_only() {
    let v = TestVault::empty();
    let key_file = v.file("recovery.txt");
    let out = v.ok(&[
        "init",
        "--user",
        "Claire Dupont",
        "--insecure-fast-kdf",
        "--recovery-key-file",
        arg(&key_file),
    ]);
    assert!(crate::common::find_recovery_key(&out).is_none(), "{out}");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(crate::common::is_recovery_key(text.trim()), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    // Never replaced, even with --force.
    let other = v.file("other.custodia");
    let mut cmd = v.command_on(&other);
    cmd.args(["--force", "init", "--user", "X", "--insecure-fast-kdf"])
        .args(["--recovery-key-file", arg(&key_file)]);
    let stderr = expect_code(&run_command(&mut cmd), &["init"], 1);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), text);
    assert!(!other.exists());
}

#[test]
fn init_force_asks_for_the_vault_name_and_keeps_the_old_file_as_a_backup() {
    let v = TestVault::new();
    let before = std::fs::read(&v.path).unwrap();
    let key_file = v.file("new-recovery.txt");
    let base = [
        "--force",
        "init",
        "--user",
        "Claire Dupont",
        "--insecure-fast-kdf",
        "--recovery-key-file",
        arg(&key_file),
    ];
    // No confirmation (and no terminal to ask on): refused, untouched.
    let stderr = v.fails_with(&base, 2);
    assert!(stderr.contains("--confirm vault.custodia"), "{stderr}");
    // The wrong name: refused, untouched.
    let mut wrong = base.to_vec();
    wrong.extend(["--confirm", "other.custodia"]);
    let stderr = v.fails_with(&wrong, 1);
    assert!(stderr.contains("not the vault's file name"), "{stderr}");
    assert_eq!(std::fs::read(&v.path).unwrap(), before);
    assert!(!key_file.exists());
    // The right name: a new vault, the old one kept beside it.
    let mut right = base.to_vec();
    right.extend(["--confirm", "vault.custodia"]);
    let out = v.run(&right);
    crate::common::expect_success(&out, &right);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("The old vault was kept as"), "{stderr}");
    let backups: Vec<_> = std::fs::read_dir(v.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("vault.custodia.bak-")
        })
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(
        std::fs::read(&backups[0]).unwrap(),
        before,
        "the backup is the old vault"
    );
    assert_eq!(
        v.active_users_as(&v.pass_file),
        vec!["Claire Dupont".to_owned()]
    );
    // The backup still opens as the old vault.
    let users = crate::common::parse_json(&v.ok_on(&backups[0], &["user", "list", "--json"]));
    assert_eq!(users[0]["name"], crate::common::OWNER);
}

/// The sh block under "## A first session" in README.md.
fn readme_first_session() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme
        .find("## A first session")
        .expect("README has the section")..];
    let start = section.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = section[start..].find("```").unwrap() + start;
    section[start..end].to_owned()
}

#[test]
fn readmes_first_session_runs_as_written() {
    let v = TestVault::empty();
    let block = readme_first_session();
    // What a reader would have at hand: the files it names, the court's
    // age key pair, the passphrase (here in a file, instead of typed).
    for (name, content) in [
        (
            "temoignage.txt",
            "Je m'appelle Évgueni. Je suis parti au Kazakhstan en 2022.\n",
        ),
        (
            "corrige.txt",
            "Précision : c'était le 21 septembre 2022. Je m'appelle Évgueni.\n",
        ),
        ("entretien.ogg", "OggS not really an ogg file"),
        ("photo.jpg", "\u{ff}\u{d8} not really a jpeg"),
    ] {
        std::fs::write(v.file(name), content).unwrap();
    }
    let identity = age::x25519::Identity::generate();
    {
        use secrecy::ExposeSecret;
        std::fs::write(
            v.file("court.key"),
            format!("{}\n", identity.to_string().expose_secret()),
        )
        .unwrap();
    }
    std::fs::write(v.file("court.pub"), format!("{}\n", identity.to_public())).unwrap();
    // A fast KDF, so the test takes seconds (the only change to the text).
    assert!(block.contains("custodia init "), "{block}");
    let script = block.replace("custodia init ", "custodia init --insecure-fast-kdf ");
    let bin_dir = crate::common::binary().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new("bash");
    crate::common::clean_env(&mut cmd, v.dir.path());
    cmd.env("PATH", path)
        .env("CUSTODIA_PASSPHRASE_FILE", &v.pass_file)
        .args(["-euo", "pipefail", "-c", &script])
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "README's first session failed:\n{script}\nstdout:\n{}\nstderr:\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("VALID"),
        "the bundle was not verified:\n{stdout}"
    );
    assert!(v.file("signer.pub").exists() && v.file("KZ-2026-014.age").exists());
    let key = std::fs::read_to_string(v.file("recovery.txt")).unwrap();
    assert!(crate::common::is_recovery_key(key.trim()));
}

#[test]
fn every_help_shows_examples_and_the_global_options_apart() {
    let v = TestVault::empty();
    for args in [
        &["--help"][..],
        &["init", "--help"],
        &["case", "new", "--help"],
        &["statement", "add", "--help"],
        &["export", "--help"],
        &["shell", "--help"],
        &["bundle", "verify", "--help"],
    ] {
        let mut cmd = v.bare_command();
        cmd.args(args);
        let help = crate::common::expect_success(&run_command(&mut cmd), args);
        let examples = help
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("{args:?}:\n{help}"));
        let n = examples
            .lines()
            .filter(|l| l.trim_start().starts_with("custodia "))
            .count();
        assert!((2..=3).contains(&n), "{args:?}: {n} examples:\n{help}");
        let globals = help
            .split("Global options:")
            .nth(1)
            .unwrap_or_else(|| panic!("{args:?}:\n{help}"));
        assert!(
            globals.contains("--vault") && globals.contains("--passphrase-file"),
            "{help}"
        );
    }
}

#[test]
fn export_and_check_show_bytes_and_a_total_on_a_terminal_only() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "T"]);
    let big = v.file("entretien.ogg");
    let bytes: Vec<u8> = (0..24u32 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&big, &bytes).unwrap();
    v.ok(&["evidence", "add", "--case", CASE, arg(&big)]);
    for args in [
        vec!["check"],
        vec!["export", "--case", CASE, "--no-encrypt", "--out", "b1.tar"],
    ] {
        // On a pipe: nothing but the results.
        let out = v.run(&args);
        crate::common::expect_success(&out, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("MiB"),
            "{args:?} drew on a pipe:\n{stderr}"
        );
        // On a terminal: bytes done out of the exhibit's 24 MiB.
        let mut full = vec![
            "--vault",
            arg(&v.path),
            "--passphrase-file",
            arg(&v.pass_file),
        ];
        full.extend(
            args.iter()
                .map(|a| if *a == "b1.tar" { "b2.tar" } else { a }),
        );
        let Some(t) = Terminal::start(&v, &full) else {
            eprintln!("skipped: no `script` to make a terminal");
            return;
        };
        let (code, seen) = t.finish();
        assert_eq!(code, 0, "{seen}");
        assert!(
            seen.contains("/24.00 MiB"),
            "{args:?}: no total on the bar:\n{}",
            seen.escape_debug()
        );
    }
}

#[test]
fn the_shell_takes_its_idle_time_from_the_vaults_sealed_settings() {
    let v = TestVault::new();
    v.ok(&["case", "new", CASE, "--title", "Évgueni K."]);
    let shown = parse_json(&v.ok(&["settings", "--json"]));
    assert_eq!(shown["idle_seconds"], 600, "10 minutes by default: {shown}");
    v.ok(&["settings", "--idle", "1s"]);
    assert_eq!(
        parse_json(&v.ok(&["settings", "--json"]))["idle_seconds"],
        1
    );
    // No --idle: the sealed setting applies.
    let (code, stdout, stderr) = shell(
        &v,
        &[],
        &[
            (Duration::ZERO, "case list\n"),
            (Duration::from_millis(2500), "case list\n"),
        ],
    );
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stderr.contains("Locked after 1s idle"), "{stderr}");
    // The change is a signed event on the vault's chain.
    let log = parse_json(&v.ok(&["log", "--json"]));
    let change = log
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["event"]["action"] == "settings")
        .expect("a settings event");
    assert_eq!(change["event"]["details"]["idle_seconds"], 1);
    assert!(change["event"]["details"]["settings_sha256"].is_string());
    assert_eq!(change["signature_valid"], true);
    // Bad values are refused, naming what is wrong.
    let refused = v.fails_with(&["settings", "--time-zone", "Europe/Kyiv"], 1);
    assert!(refused.contains("+02:00"), "{refused}");
}

#[test]
fn settings_put_back_from_an_old_copy_are_refused() {
    let v = TestVault::new();
    v.ok(&["settings", "--idle", "30m"]);
    let old = v.copy_vault("old.custodia");
    v.ok(&["settings", "--idle", "1h", "--time-zone", "+02:00"]);
    // The attacker restores the earlier settings row (longer-lived keys,
    // another zone) with sqlite3.
    let conn = rusqlite::Connection::open(&v.path).unwrap();
    conn.execute("ATTACH DATABASE ?1 AS old", [arg(&old)])
        .unwrap();
    conn.execute_batch("UPDATE main.vault SET settings = (SELECT settings FROM old.vault)")
        .unwrap();
    drop(conn);
    let refused = v.fails_with(&["case", "list"], 4);
    assert!(
        refused.contains("settings") && refused.contains("old copy"),
        "{refused}"
    );
}

#[test]
fn the_report_timeline_shows_the_vaults_time_zone_too() {
    let v = TestVault::new();
    v.ok(&["settings", "--time-zone", "+02:00"]);
    v.ok(&["case", "new", CASE, "--title", "Évgueni K."]);
    let out = v.file("zone.tar");
    v.ok(&["export", "--case", CASE, "--no-encrypt", "--out", arg(&out)]);
    let mut archive = tar::Archive::new(std::fs::File::open(&out).unwrap());
    let mut report = String::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().ends_with("data/report.html") {
            std::io::Read::read_to_string(&mut entry, &mut report).unwrap();
        }
    }
    assert!(report.contains("UTC+02:00"), "the note names the zone");
    assert!(
        report.contains(" +02:00)"),
        "timeline rows give the local time"
    );
}
