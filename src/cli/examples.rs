//! Two or three examples under every command's `--help`, and the global
//! options under a heading of their own. The examples live in one table,
//! added to the clap command tree when it is built; a test fails when a
//! command has none.

use clap::CommandFactory;

use super::Cli;

/// Examples by command path ("" is `custodia` itself).
const EXAMPLES: &[(&str, &str)] = &[
    ("", "custodia init --user \"Claire Dupont\" --recovery-key-file /media/usb/recovery.txt
  custodia case new KZ-2026-014 --title \"Déserteur, Astana\"
  custodia shell                     # unlock once for a working session"),
    ("settings", "custodia settings                              # show them
  custodia settings --idle 5m --time-zone +02:00   # lock the shell sooner; Kyiv winter time in the report"),
    ("info", "custodia info
  custodia --vault field.custodia info --passphrase-file pass.txt --json"),
    ("user", "custodia user add \"Amina Q.\"
  custodia user list"),
    ("user add", "custodia user add \"Amina Q.\"                  # asks for her passphrase twice
  custodia user add \"Amina Q.\" --new-passphrase-file amina.pass"),
    ("user list", "custodia user list
  custodia user list --json"),
    ("user remove", "custodia user remove \"Amina Q.\""),
    ("passphrase", "custodia passphrase change"),
    ("passphrase change", "custodia passphrase change              # asks for the new one twice
  custodia passphrase change --new-passphrase-file new.pass"),
    ("recover", "custodia recover --recovery-key-file /media/usb/recovery.txt
  custodia recover --user \"Amina Q.\" --recovery-key-file rk.txt --new-passphrase-file new.pass"),
    ("key", "custodia key public > signer.pub"),
    ("key public", "custodia key public > signer.pub          # give it to the court, out of band
  custodia key public --user \"Amina Q.\" --json"),
    ("signer", "custodia signer add \"Me Martin\" martin.pub
  custodia signer list"),
    ("signer add", "custodia signer add \"Me Martin\" martin.pub      # a key file from `key public`"),
    ("signer list", "custodia signer list
  custodia signer list --json"),
    ("case", "custodia case new KZ-2026-014 --title \"Déserteur, Astana\"
  custodia case list"),
    ("case new", "custodia case new KZ-2026-014 --title \"Déserteur, Astana — recours\"
  custodia case new AL-2026-002 --title \"Alep\" --description \"Témoignages de 2026\""),
    ("case list", "custodia case list
  custodia case list --json"),
    ("case show", "custodia case show KZ-2026-014"),
    ("case amend", "custodia case amend KZ-2026-014 --title \"Kharkiv, March 2026\" --reason \"The place was wrong\"
  custodia case amend KZ-2026-014 --tag detention --tag kharkiv --reason \"Tags agreed with the team\""),
    ("record", "custodia record withdraw 3fa1c2 --reason \"The witness withdrew consent on 2026-12-01\"
  custodia record destroy 3fa1c2 --reason \"Entered in the wrong vault\" --confirm 3fa1c2d4e5f60718293a4b5c6d7e8f90"),
    ("record withdraw", "custodia record withdraw 3fa1c2 --reason \"The witness withdrew consent on 2026-12-01\""),
    ("record destroy", "custodia record destroy 3fa1c2 --reason \"Entered in the wrong vault\" --confirm 3fa1c2d4e5f60718293a4b5c6d7e8f90  # its full id, typed again
  # The content is erased from the vault file and the file is compacted. Copies
  # made before (backups, exported bundles) still hold it; see SECURITY.md."),
    ("statement", "custodia statement add --case KZ-2026-014 --witness \"Amina Q.\" --file amina.txt
  custodia statement list --case KZ-2026-014"),
    ("statement add", "custodia statement add --case KZ-2026-014 --witness \"Amina Q.\" --file amina.txt
  custodia statement add --case KZ-2026-014 --witness \"Évgueni Ivanov\" --protected \\
      --pseudonym \"Témoin A\" --language fr --taken-at 2026-03-14 --editor
  printf 'Je suis parti en mars.\\n' | custodia statement add --case KZ-2026-014 --witness X --stdin"),
    ("statement list", "custodia statement list
  custodia statement list --case KZ-2026-014 --json"),
    ("statement show", "custodia statement show 3fa1c2
  custodia statement show 3fa1c2 --version 1"),
    ("statement history", "custodia statement history 3fa1c2"),
    ("statement amend", "custodia statement amend 3fa1c2 --file corrige.txt --reason \"Date corrected by the witness\"
  custodia statement amend 3fa1c2 --editor --reason \"Typo in the place name\""),
    ("statement seal", "custodia statement seal 3fa1c2"),
    ("evidence", "custodia evidence add --case KZ-2026-014 entretien.ogg photo.jpg
  custodia evidence list --case KZ-2026-014"),
    ("evidence strip", "custodia evidence strip 9b04e1                # a copy without EXIF/GPS, linked to the original
  custodia export --case KZ-2026-014 --stripped --recipient \"$(cat court.pub)\" --out KZ.age"),
    ("evidence add", "custodia evidence add --case KZ-2026-014 entretien.ogg photo.jpg
  custodia evidence add --case KZ-2026-014 --statement 3fa1c2 --description \"Photo du café\" cafe.jpg"),
    ("evidence list", "custodia evidence list
  custodia evidence list --case KZ-2026-014 --json"),
    ("evidence show", "custodia evidence show 9be04d"),
    ("evidence extract", "custodia evidence extract 9be04d --out /media/usb/entretien.ogg"),
    ("search", "custodia search evgueni                    # also finds « Évgueni », « Евгений »
  custodia search '\"parti au kazakhstan\"' --case KZ-2026-014
  custodia search дезертир --limit 50"),
    ("log", "custodia log                               # the whole vault
  custodia log 3fa1c2                        # one record
  custodia log --json"),
    ("checkpoint", "custodia checkpoint > receipt-2026-03-14.txt   # keep it off this machine"),
    ("check", "custodia check
  custodia check --expect-checkpoint \"$(cat receipt-2026-03-14.txt)\""),
    ("export", "custodia export --case KZ-2026-014 --recipient \"$(cat court.pub)\" --out KZ-2026-014.age
  custodia export --case KZ-2026-014 --passphrase --out KZ-2026-014.age
  custodia export --case KZ-2026-014 --statement 3fa1c2 --no-encrypt --out extract.tar"),
    ("bundle", "custodia bundle verify KZ-2026-014.age --identity court.key --signer signer.pub
  custodia bundle import KZ-2026-014.age --identity my.key"),
    ("bundle verify", "custodia bundle verify KZ-2026-014.age --identity court.key --signer signer.pub
  custodia bundle verify extract.tar --signer signer.pub --json"),
    ("bundle import", "custodia bundle import KZ-2026-014.age --identity my.key
  custodia bundle import extract.tar"),
    ("backup", "custodia backup --out /media/usb/dossiers-2026-03-14.custodia"),
    ("shell", "custodia shell                             # then: case list, statement add …, exit
  custodia shell --idle 30m
  custodia --vault field.custodia --user \"Amina Q.\" shell --idle 5m"),
    ("desk", "custodia desk                              # opens your browser on this computer only
  custodia desk --no-open --idle 5m          # print the one-time address instead"),
    ("completions", "custodia completions bash > ~/.local/share/bash-completion/completions/custodia
  custodia completions zsh > ~/.zfunc/_custodia"),
];

/// The heading the global options are listed under.
pub const GLOBAL_HEADING: &str = "Global options";

/// The clap command tree with the examples added.
pub fn command() -> clap::Command {
    add_examples(Cli::command(), "")
}

fn add_examples(cmd: clap::Command, path: &str) -> clap::Command {
    let mut cmd = cmd;
    let has_own = cmd.get_after_help().is_some();
    if !has_own {
        if let Some((_, text)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
            cmd = cmd.after_help(format!("Examples:\n  {text}"));
        }
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd = cmd.mut_subcommand(&name, |sub| add_examples(sub, &sub_path));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Command)>) {
        out.push((path.to_owned(), cmd.clone()));
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let p = if path.is_empty() {
                sub.get_name().to_owned()
            } else {
                format!("{path} {}", sub.get_name())
            };
            leaves(sub, &p, out);
        }
    }

    #[test]
    fn every_command_has_two_or_three_examples_or_a_single_obvious_one() {
        let mut all = Vec::new();
        leaves(&command(), "", &mut all);
        for (path, cmd) in all {
            let help = cmd
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(
                help.contains("Examples:"),
                "`custodia {path}` has no examples"
            );
            let n = help
                .lines()
                .filter(|l| l.trim_start().starts_with("custodia ") || l.contains("| custodia "))
                .count();
            assert!(
                (1..=3).contains(&n),
                "`custodia {path}`: {n} examples:\n{help}"
            );
        }
    }

    #[test]
    fn examples_parse_as_command_lines() {
        for (path, text) in EXAMPLES {
            for line in text.lines() {
                let line = line.trim();
                if !line.starts_with("custodia ") || line.contains('|') || line.contains("$(") {
                    continue;
                }
                let line = line.split(" #").next().unwrap_or(line);
                let line = line
                    .split(" >")
                    .next()
                    .unwrap_or(line)
                    .trim_end_matches('\\');
                let Ok(words) = super::super::shell::split_words(line) else {
                    panic!("{path}: {line}");
                };
                if let Err(e) = command().try_get_matches_from(&words) {
                    // A continued line may lack a required option.
                    if !text.contains('\\') {
                        panic!("`{line}` does not parse: {e}");
                    }
                }
            }
        }
    }
}
