//! What the command line prints, as snapshots that read as documentation
//! (`trycmd`): `tests/cmd/help/*.md` hold `--help` of `custodia` and of
//! every command and subcommand, `tests/cmd/sessions/*.md` whole sessions
//! (init, case, statement, evidence, list, search, check, key, export,
//! verify). Each `$ custodia …` line in a ```` ```console ```` block is run
//! and its standard output and error, merged, must match the lines under
//! it (`[..]` matches the rest of a line, `...` any lines; `? N` is the
//! expected exit code). A session runs in a fresh copy of its `NAME.in/`
//! directory (the `NAME.out/` beside it makes the commands share it).
//!
//! When the output changes on purpose, rewrite the snapshots and review
//! the diff: `TRYCMD=overwrite cargo test --test it snapshots::` (lines
//! that still match, `[..]` included, are kept).

use std::path::Path;

/// The `custodia` binary under test.
fn custodia() -> std::path::PathBuf {
    Path::new(env!("CARGO_BIN_EXE_custodia")).to_path_buf()
}

/// Cases with a fixed terminal width, no colour and UTC.
fn cases() -> trycmd::TestCases {
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("custodia", custodia())
        .timeout(std::time::Duration::from_secs(120))
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env("TZ", "UTC");
    cases
}

/// `--help` of `custodia` and of every command: a new command without a
/// page here fails [`every_command_has_a_help_page`]. The developer's own
/// `CUSTODIA_*` settings are blanked: clap shows their values in `--help`.
#[test]
fn help() {
    let cases = cases();
    for var in [
        "CUSTODIA_VAULT",
        "CUSTODIA_USER",
        "CUSTODIA_PASSPHRASE_FILE",
        "CUSTODIA_BUNDLE_PASSPHRASE_FILE",
    ] {
        cases.env(var, "");
    }
    cases.case("tests/cmd/help/*.md").run();
}

/// Whole sessions against a vault in the session's own directory, as the
/// user the session's `init` creates.
#[test]
fn sessions() {
    let cases = cases();
    cases
        .env("CUSTODIA_VAULT", "vault.custodia")
        .env("CUSTODIA_PASSPHRASE_FILE", "owner.pass")
        .env("CUSTODIA_USER", "maitre-dupont")
        .env("CUSTODIA_STATE_DIR", "state")
        .case("tests/cmd/sessions/*.md")
        .run();
}

/// The commands `custodia --help` lists (without `help`).
fn commands(args: &[&str]) -> Vec<String> {
    let out = std::process::Command::new(custodia())
        .args(args)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .expect("run custodia --help");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("UTF-8 help")
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// Every command listed by `custodia --help` has its page
/// (`tests/cmd/help/COMMAND.md`), holding its `--help` and that of each of
/// its subcommands.
#[test]
fn every_command_has_a_help_page() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cmd/help");
    let top = commands(&[]);
    assert!(top.len() > 10, "{top:?}");
    let mut missing = Vec::new();
    let page = std::fs::read_to_string(dir.join("custodia.md")).unwrap_or_default();
    if !page.contains("$ custodia --help\n") {
        missing.push("custodia.md: $ custodia --help".to_owned());
    }
    for command in &top {
        let name = format!("{command}.md");
        let page = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        let mut wanted = vec![format!("$ custodia {command} --help\n")];
        for sub in commands(&[command]) {
            wanted.push(format!("$ custodia {command} {sub} --help\n"));
        }
        for line in wanted {
            if !page.contains(&line) {
                missing.push(format!("{name}: {}", line.trim_end()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "help snapshots missing (add the lines, then TRYCMD=overwrite cargo test --test it snapshots::):\n{}",
        missing.join("\n")
    );
}
