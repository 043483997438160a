//! Commands about the vault itself: init, info, users, passphrases,
//! recovery and public keys.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};
use serde_json::json;

use custodia::crypto::kdf::KdfParams;
use custodia::crypto::recovery::RecoveryKey;
use custodia::crypto::strength::{self, AttackedKdf, StrengthEstimate};
use custodia::formats::minisign::PublicKey;
use custodia::{CreateOptions, Error, KdfChoice, Unlocked, Vault};

use super::secrets::{check_one_stdin, new_passphrase, read_secret_file, report_strength};
use super::session::Lease;
use super::{vault_path, Failure, Global, Output};

/// `custodia init`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  custodia init --name \"Cabinet Dupont\" --user \"Claire Dupont\" --recovery-key-file /media/usb/recovery.txt
  custodia --vault field.custodia init --user \"Amina Q.\"      # asks the passphrase, shows the key once
  custodia --vault old.custodia --force init --confirm old.custodia --user \"Claire Dupont\" \\
      --recovery-key-file rk.txt                  # replaces a vault, keeping old.custodia.bak-<time>")]
pub struct InitArgs {
    /// A name for the vault (stored encrypted)
    #[arg(long)]
    name: Option<String>,
    /// Write the recovery key to this new file (mode 0600; never replaces a
    /// file); '-' prints it on standard output even when that is not a
    /// terminal [default: shown on the terminal, confirmed by typing its
    /// last group]
    #[arg(long, alias = "recovery-key-out", value_name = "FILE")]
    recovery_key_file: Option<PathBuf>,
    /// With --force on an existing vault: its file name, to confirm (on a
    /// terminal, you are asked to type it)
    #[arg(long, value_name = "FILE_NAME")]
    confirm: Option<String>,
    /// FOR TESTS ONLY: derive keys with deliberately weak Argon2 settings,
    /// so a stolen vault falls to a cheap passphrase search
    #[arg(long)]
    insecure_fast_kdf: bool,
}

/// Where `init` puts the recovery key.
enum KeyDestination {
    /// A new file, mode 0600.
    File(PathBuf),
    /// Standard output, asked for with `--recovery-key-file -`.
    Stdout,
    /// The terminal, then typed back (its last group).
    Terminal,
}

/// Reads one line typed on the terminal (standard input is one), after
/// `label` on standard error; `None` at the end of the input.
fn ask_line(label: &str) -> Result<Option<String>, Failure> {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{label}");
    let _ = err.flush();
    drop(err);
    let mut line = String::new();
    let n = std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Failure::io("cannot read from the terminal", e))?;
    Ok((n > 0).then(|| line.trim().to_owned()))
}

/// The first user's name: `--user`, or asked on the terminal. Never a
/// made-up default: the name signs every custody event.
fn first_user_name(g: &Global) -> Result<String, Failure> {
    use std::io::IsTerminal;
    if let Some(u) = &g.user {
        return Ok(u.clone());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "who is creating this vault? Give your name with --user NAME (it appears in the \
             custody log and in exported bundles)",
        ));
    }
    for _ in 0..3 {
        match ask_line("Your name (it appears in the custody log and in bundles you sign): ")? {
            Some(name) if !name.is_empty() => return Ok(name),
            Some(_) => continue,
            None => break,
        }
    }
    Err(Failure::usage("no name given; nothing was created"))
}

/// `init --force` on an existing vault: the user types the vault's file
/// name (or gives it with `--confirm`).
fn confirm_replacement(path: &std::path::Path, confirm: Option<&str>) -> Result<(), Failure> {
    use std::io::IsTerminal;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let typed = match confirm {
        Some(c) => c.to_owned(),
        None if std::io::stdin().is_terminal() => ask_line(&format!(
            "--force replaces the vault {} (the old file is kept as a backup). \
             Type its file name ({name}) to go on: ",
            path.display()
        ))?
        .unwrap_or_default(),
        None => {
            return Err(Failure::usage(format!(
                "--force would replace the vault {}: confirm with --confirm {name} \
                 (the old file is kept as a backup)",
                path.display()
            )))
        }
    };
    if typed != name {
        return Err(Failure::invalid(format!(
            "that is not the vault's file name ({name}); nothing was changed"
        )));
    }
    Ok(())
}

/// Where the recovery key goes, decided before anything is created.
fn key_destination(args: &InitArgs) -> Result<KeyDestination, Failure> {
    use std::io::IsTerminal;
    match &args.recovery_key_file {
        Some(p) if p.as_os_str() == "-" => Ok(KeyDestination::Stdout),
        Some(p) => {
            if p.exists() {
                return Err(Error::AlreadyExists(p.clone()).into());
            }
            Ok(KeyDestination::File(p.clone()))
        }
        None if std::io::stdout().is_terminal() => Ok(KeyDestination::Terminal),
        None => Err(Failure::usage(
            "standard output is not a terminal, and the recovery key must not go silently \
             into a pipe or a file: give --recovery-key-file PATH (a new file, mode 0600), \
             or --recovery-key-file - to print it on standard output on purpose",
        )),
    }
}

/// Asks for the recovery key's last group, up to three times.
fn confirm_key_written(display: &str) -> Result<(), Failure> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Ok(());
    }
    let last = display.rsplit('-').next().unwrap_or_default();
    for _ in 0..3 {
        match ask_line("To confirm you wrote it down, type its last group (4 characters): ")? {
            Some(t) if t.eq_ignore_ascii_case(last) => return Ok(()),
            Some(_) => super::output::stderr_line("That is not its last group; look again."),
            None => break,
        }
    }
    Err(Failure::invalid("the recovery key was not confirmed"))
}

/// `custodia user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user with their own passphrase and signing key; prints their id
    Add {
        /// The new user's name
        name: String,
        /// Read the new user's passphrase from this file ('-' = standard input)
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
    /// List users
    List,
    /// Remove a user: their passphrase no longer opens the vault
    Remove {
        /// The user to remove
        name: String,
    },
}

/// `custodia passphrase …`.
#[derive(Debug, Subcommand)]
pub enum PassphraseCommand {
    /// Change the acting user's passphrase
    Change {
        /// Read the new passphrase from this file ('-' = standard input)
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
    },
}

/// `custodia recover`.
#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The recovery key, in a file ('-' = standard input)
    #[arg(long, value_name = "FILE")]
    recovery_key_file: Option<PathBuf>,
    /// Read the new passphrase from this file ('-' = standard input)
    #[arg(long, value_name = "FILE")]
    new_passphrase_file: Option<PathBuf>,
}

/// `custodia key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print a user's signing key as a minisign public key (for `minisign -V`)
    ///
    /// With --user NAME, prints NAME's key (unlocking with NAME's passphrase).
    Public,
}

/// Opens and unlocks the vault as the acting user (or lends the shell
/// session's vault).
pub fn unlock(g: &Global) -> Result<Lease, Failure> {
    super::session::unlock(g)
}

/// Estimates a new passphrase's strength against the parameters its slot
/// gets (the vault's sealed default: the real cost of one guess), and
/// warns on standard error below about 50 bits.
fn assess_new_passphrase(
    out: &Output,
    vault: &Vault<Unlocked>,
    passphrase: &str,
    user_inputs: &[&str],
) -> Result<StrengthEstimate, Failure> {
    let kdf = vault.kdf_default()?;
    let words: Vec<&str> = user_inputs
        .iter()
        .copied()
        .filter(|w| !w.is_empty())
        .collect();
    let estimate = strength::estimate(passphrase, &words, &AttackedKdf::Argon2id(kdf));
    report_strength(out, &estimate);
    Ok(estimate)
}

fn describe_kdf(p: &KdfParams) -> String {
    let memory = if p.memory_kib >= 1024 {
        format!("{} MiB", p.memory_kib / 1024)
    } else {
        format!("{} KiB", p.memory_kib)
    };
    format!("Argon2id m={memory} t={} p={}", p.time_cost, p.parallelism)
}

pub fn init(g: &Global, out: &Output, args: InitArgs) -> Result<(), Failure> {
    let path = vault_path(g)?;
    let replacing = path.exists();
    if replacing && !g.force {
        return Err(Error::AlreadyExists(path).into());
    }
    if replacing {
        confirm_replacement(&path, args.confirm.as_deref())?;
    }
    let destination = key_destination(&args)?;
    let user = first_user_name(g)?;
    let passphrase = new_passphrase(g.passphrase_file.as_deref(), "New vault passphrase")?;
    if args.insecure_fast_kdf {
        out.warn(
            "--insecure-fast-kdf: this vault's passphrases are protected by a deliberately \
             WEAK key derivation. Use it for tests only, never for real testimony.",
        );
    } else {
        out.note("Calibrating the key derivation for this machine (about 1 second per unlock)…");
    }
    let options = CreateOptions {
        name: args.name.clone(),
        user: user.clone(),
        kdf: if args.insecure_fast_kdf {
            KdfChoice::InsecureFast
        } else {
            KdfChoice::Calibrated
        },
        force: g.force,
    };
    // The recovery key's file is created (empty, private) before the vault,
    // so that a bad path fails before there is a vault whose key nobody saw.
    let key_out = match &destination {
        KeyDestination::File(file) => Some((file, custodia::files::create_temp_beside(file)?)),
        _ => None,
    };
    // The vault being replaced is moved aside, never deleted.
    let backup = if replacing {
        match custodia::files::keep_as_backup(&path) {
            Ok(b) => Some(b),
            Err(e) => {
                if let Some((_, (tmp, _))) = &key_out {
                    custodia::files::discard_temp(tmp);
                }
                return Err(e.into());
            }
        }
    } else {
        None
    };
    // Takes the new vault back (and puts the old one back) when nobody
    // could see its recovery key.
    let take_back = |why: String| -> Failure {
        remove_vault_files(&path);
        let restored = match &backup {
            Some(b) => std::fs::rename(b, &path).is_ok(),
            None => true,
        };
        let mut msg = format!("{why}; the vault was not created");
        if let (Some(b), false) = (&backup, restored) {
            msg.push_str(&format!(" (the old vault is in {})", b.display()));
        }
        Failure::invalid(msg)
    };
    let created = match Vault::create(&path, &passphrase, &options) {
        Ok(c) => c,
        Err(e) => {
            if let Some((_, (tmp, _))) = &key_out {
                custodia::files::discard_temp(tmp);
            }
            if let Some(b) = &backup {
                let _ = std::fs::rename(b, &path);
            }
            return Err(e.into());
        }
    };
    let vault = created.vault;
    let kdf = vault.kdf_default()?;
    let vault_name = args.name.as_deref().unwrap_or("");
    let strength = assess_new_passphrase(out, &vault, &passphrase, &[&user, vault_name])?;
    let display = created.recovery_key.to_display();
    let key_file = match key_out {
        Some((file, (tmp, mut handle))) => {
            use std::io::Write;
            let mut text = zeroize::Zeroizing::new(display.to_string());
            text.push('\n');
            let written = handle
                .write_all(text.as_bytes())
                .and_then(|()| handle.sync_all())
                .map_err(|e| Error::io(format!("cannot write {}", file.display()), e));
            // Never replaces a file, even with --force: it could be the
            // recovery key of another vault.
            if let Err(e) = custodia::files::finish_temp(written, &tmp, file, false) {
                drop(vault);
                return Err(take_back(format!(
                    "{e} (its recovery key could not be saved)"
                )));
            }
            Some(file.clone())
        }
        None => None,
    };
    let public = PublicKey::new(vault.signing_key().verifying_key());
    if let Some(b) = &backup {
        out.note(format!("The old vault was kept as {}", b.display()));
    }
    if out.json {
        let mut doc = json!({
            "vault_id": vault.id().to_hex(),
            "path": path,
            "user": user,
            "public_key": public.base64(),
            "kdf": kdf,
            "insecure_fast_kdf": args.insecure_fast_kdf,
            "passphrase_strength": strength,
        });
        if let Some(b) = &backup {
            doc["backup"] = json!(b);
        }
        match &key_file {
            Some(f) => doc["recovery_key_file"] = json!(f),
            None => doc["recovery_key"] = json!(display.as_str()),
        }
        return out.json(&doc);
    }
    out.note(format!(
        "Created vault {} at {}",
        vault.id(),
        path.display()
    ));
    out.note(format!(
        "User \"{user}\", signing key {} (see `custodia key public`)",
        public.key_id_hex()
    ));
    out.note(format!("Key derivation: {}", describe_kdf(&kdf)));
    match key_file {
        Some(f) => out.note(format!(
            "Recovery key written to {} (mode 0600). Move it off this machine.",
            f.display()
        )),
        None => {
            out.line("")?;
            out.line("RECOVERY KEY: write it down now and keep it away from this computer.")?;
            out.line(
                "It is shown only this once. It opens the vault if every passphrase is lost.",
            )?;
            out.line("")?;
            out.line(format!("    {}", display.as_str()))?;
            out.line("")?;
            if matches!(destination, KeyDestination::Terminal) {
                if let Err(e) = confirm_key_written(display.as_str()) {
                    drop(vault);
                    return Err(take_back(e_text(&e)));
                }
            }
        }
    }
    Ok(())
}

/// A failure's message, for wrapping.
fn e_text(f: &Failure) -> String {
    match f {
        Failure::Lib(e) => e.to_string(),
        Failure::Usage(m) => m.clone(),
        Failure::Silent(_) => String::new(),
    }
}

/// Removes a vault file and its sidecar files.
fn remove_vault_files(path: &std::path::Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(std::path::PathBuf::from(p));
    }
}

pub fn info(g: &Global, out: &Output) -> Result<(), Failure> {
    let path = vault_path(g)?;
    let vault = Vault::open(&path)?;
    let public = vault.public_info()?;
    // Unlock only when a passphrase is given non-interactively: `info` never prompts.
    let mut unlocked = match &g.passphrase_file {
        Some(file) => {
            let pass = read_secret_file(file, "passphrase")?;
            Some(vault.unlock(g.user.as_deref(), &pass)?)
        }
        None => None,
    };
    let private = match &mut unlocked {
        Some(v) => Some((v.settings()?, v.users()?, v.user().name.clone())),
        None => None,
    };
    let weak = public.passphrase_slots.iter().any(|p| p.is_weak());
    if out.json {
        let mut doc = json!({ "path": path, "file": public, "weak_kdf": weak });
        if let Some((settings, users, me)) = &private {
            doc["name"] = json!(settings.name);
            doc["created_at"] = json!(settings.created_at);
            doc["users"] = json!(users);
            doc["acting_user"] = json!(me);
        }
        return out.json(&doc);
    }
    out.line(format!("Vault           {}", path.display()))?;
    out.line(format!("Id              {}", public.vault_id))?;
    out.line(format!("Format          version {}", public.format_version))?;
    out.line(format!("File size       {} bytes", public.file_size))?;
    for (i, p) in public.passphrase_slots.iter().enumerate() {
        out.line(format!(
            "Key slot {:<7} passphrase, {}",
            i + 1,
            describe_kdf(p)
        ))?;
    }
    out.line(format!("Recovery        {} slot(s)", public.recovery_slots))?;
    for (label, n) in &public.counts {
        out.line(format!("{:<16}{n}", capitalise(label)))?;
    }
    if weak {
        out.warn("a key slot uses weak KDF settings (--insecure-fast-kdf): not for real testimony");
    }
    match private {
        Some((settings, users, me)) => {
            out.line(format!(
                "Name            {}",
                settings.name.as_deref().unwrap_or("(none)")
            ))?;
            out.line(format!("Created         {}", settings.created_at))?;
            let names: Vec<_> = users
                .iter()
                .filter(|u| u.active)
                .map(|u| u.name.clone())
                .collect();
            out.line(format!("Users           {}", names.join(", ")))?;
            out.line(format!("Unlocked as     {me}"))?;
        }
        None => out.note(
            "(Only what the file shows anyone. Give --passphrase-file to see the name and users.)",
        ),
    }
    Ok(())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub fn user(g: &Global, out: &Output, cmd: UserCommand) -> Result<(), Failure> {
    match cmd {
        UserCommand::Add {
            name,
            new_passphrase_file,
        } => {
            check_one_stdin(&[g.passphrase_file.as_deref(), new_passphrase_file.as_deref()])?;
            let mut vault = unlock(g)?;
            let pass = new_passphrase(
                new_passphrase_file.as_deref(),
                &format!("Passphrase for {name}"),
            )?;
            let id = vault.add_user(&name, &pass)?;
            let strength = assess_new_passphrase(out, &vault, &pass, &[&name])?;
            let doc =
                json!({ "user_id": id.to_hex(), "name": name, "passphrase_strength": strength });
            out.either(&doc, || {
                out.note(format!("Added user \"{name}\"."));
                out.line(id.to_hex())
            })
        }
        UserCommand::List => {
            let mut vault = unlock(g)?;
            let users = vault.users()?;
            out.either(&users, || {
                for u in &users {
                    let key = custodia::crypto::signing::verifying_key_from_base64(&u.public_key)
                        .map(|k| PublicKey::new(k).key_id_hex())
                        .unwrap_or_default();
                    let status = if u.active { "active" } else { "removed" };
                    out.line(format!(
                        "{:<20} {:<8} added {}  key {}",
                        u.name, status, u.created_at, key
                    ))?;
                }
                Ok(())
            })
        }
        UserCommand::Remove { name } => {
            let mut vault = unlock(g)?;
            vault.remove_user(&name)?;
            out.either(&json!({ "removed": name }), || {
                out.note(format!(
                    "Removed user \"{name}\": their passphrase no longer opens this vault."
                ));
                Ok(())
            })
        }
    }
}

pub fn passphrase(g: &Global, out: &Output, cmd: PassphraseCommand) -> Result<(), Failure> {
    match cmd {
        PassphraseCommand::Change {
            new_passphrase_file,
        } => {
            check_one_stdin(&[g.passphrase_file.as_deref(), new_passphrase_file.as_deref()])?;
            let mut vault = unlock(g)?;
            let pass = new_passphrase(new_passphrase_file.as_deref(), "New passphrase")?;
            let started = Instant::now();
            vault.change_passphrase(&pass)?;
            let user = vault.user().name.clone();
            let strength = assess_new_passphrase(out, &vault, &pass, &[&user])?;
            let doc = json!({ "changed": true, "user": user, "passphrase_strength": strength });
            out.either(&doc, || {
                out.note(format!(
                    "Passphrase changed for \"{user}\" ({:.1} s).",
                    started.elapsed().as_secs_f64()
                ));
                Ok(())
            })
        }
    }
}

pub fn recover(g: &Global, out: &Output, args: RecoverArgs) -> Result<(), Failure> {
    check_one_stdin(&[
        args.recovery_key_file.as_deref(),
        args.new_passphrase_file.as_deref(),
    ])?;
    let path = vault_path(g)?;
    let vault = Vault::open(&path)?;
    let key_text = match &args.recovery_key_file {
        Some(f) => read_secret_file(f, "recovery key")?,
        None => super::secrets::prompt("Recovery key: ")?,
    };
    let key = RecoveryKey::parse(&key_text).map_err(Error::from)?;
    let pass = new_passphrase(args.new_passphrase_file.as_deref(), "New passphrase")?;
    let vault = vault.recover(&key, g.user.as_deref(), &pass)?;
    let user = vault.user().name.clone();
    let strength = assess_new_passphrase(out, &vault, &pass, &[&user])?;
    let public = PublicKey::new(vault.signing_key().verifying_key());
    out.either(
        &json!({
            "recovered": true,
            "user": user,
            "public_key": public.base64(),
            "passphrase_strength": strength,
        }),
        || {
            out.note(format!(
                "New passphrase set for \"{user}\". Their signing key was replaced (new key {}); \
                 what they signed before still verifies with the old key.",
                public.key_id_hex()
            ));
            Ok(())
        },
    )
}

pub fn key(g: &Global, out: &Output, cmd: KeyCommand) -> Result<(), Failure> {
    match cmd {
        KeyCommand::Public => {
            let mut vault = unlock(g)?;
            let name = vault.user().name.clone();
            let public = PublicKey::new(vault.public_key(None)?);
            // The fingerprint (SHA-256 of the key) is what people compare;
            // the comment line carries it for reading only (it is not
            // authenticated: compare it with `signer list` or the verdict).
            let comment = format!(
                "custodia signing key {}, fingerprint {}",
                public.key_id_hex(),
                public.fingerprint_short()
            );
            out.either(
                &json!({
                    "user": name,
                    "key_id": public.key_id_hex(),
                    "fingerprint": public.fingerprint(),
                    "minisign": public.base64()
                }),
                || {
                    let text = public.to_file_string(&comment);
                    out.text(text.trim_end())
                },
            )
        }
    }
}

/// `custodia settings`: show or change the vault's settings.
#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// How long `custodia shell` stays unlocked without a command (30s, 10m, 1h)
    #[arg(long, value_name = "DURATION", value_parser = super::shell::parse_duration)]
    idle: Option<std::time::Duration>,
    /// The vault's time zone, as an offset from UTC (+02:00, -05:30, UTC): the
    /// court report's timeline shows times in UTC and in this zone
    #[arg(long, value_name = "OFFSET")]
    time_zone: Option<String>,
}

/// `custodia settings [--idle D] [--time-zone Z]`.
pub fn settings(g: &Global, out: &Output, args: SettingsArgs) -> Result<(), Failure> {
    let mut vault = super::open::OpenVault::unlock(g, out)?;
    let settings = if args.idle.is_none() && args.time_zone.is_none() {
        vault.settings()?
    } else {
        let changed = vault.change_settings(&custodia::vault::SettingsChange {
            idle_seconds: args.idle.map(|d| d.as_secs()),
            time_zone: args.time_zone,
        })?;
        out.note("Settings changed (a signed `settings` event records it).");
        changed
    };
    let idle = settings.idle_seconds();
    let doc = json!({
        "name": settings.name,
        "created_at": settings.created_at,
        "idle_seconds": idle,
        "time_zone": settings.time_zone,
        "kdf": settings.kdf,
    });
    out.either(&doc, || {
        if let Some(name) = &settings.name {
            out.line(format!("Name        {}", super::terminal_safe(name)))?;
        }
        out.line(format!("Created     {}", settings.created_at))?;
        out.line(format!(
            "Idle lock   {} ({idle} s){}",
            if idle % 60 == 0 {
                format!("{} min", idle / 60)
            } else {
                format!("{idle} s")
            },
            if settings.idle_seconds.is_none() {
                ", the default"
            } else {
                ""
            }
        ))?;
        out.line(format!(
            "Time zone   {}",
            settings
                .time_zone
                .as_deref()
                .map_or("UTC only (none set)".to_owned(), |z| format!("UTC{z}"))
        ))?;
        out.line(format!(
            "KDF         Argon2id m={} KiB t={} p={}",
            settings.kdf.memory_kib, settings.kdf.time_cost, settings.kdf.parallelism
        ))
    })
}
