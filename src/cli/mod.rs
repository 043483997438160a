//! The command line: clap definitions (whose doc comments are the `--help`
//! text), prompts, human and `--json` output, and exit codes.
//!
//! Every capability lives in the library; this module only parses, asks,
//! prints and maps errors. Exit codes (SPEC §6): 0 success, 1 error,
//! 2 usage, 3 wrong passphrase or key, 4 integrity violation, 5 a bundle
//! whose signer nobody vouched for (no --signer, no pinned key).

mod bundle_cmds;
mod custody_cmds;
mod desk_cmd;
mod editor;
mod examples;
mod open;
mod output;
mod record_cmds;
mod secrets;
mod session;
mod shell;
mod signer_cmds;
mod vault_cmds;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use custodia::{Category, Error};
pub use output::{terminal_safe, Output};

/// Custodia: an offline, encrypted vault for witness testimony and evidence.
///
/// Everything in the vault file is encrypted; only its approximate size and
/// record counts show. Passphrases are read from --passphrase-file (or
/// CUSTODIA_PASSPHRASE_FILE), else asked on the terminal without echo.
///
/// Exit codes: 0 success; 1 error; 2 usage; 3 wrong passphrase or key;
/// 4 integrity violation (tampering, corruption, bad signature, broken
/// chain); 5 unauthenticated bundle signer (the bundle is intact but no
/// --signer or pinned key vouches for its signer).
#[derive(Debug, Parser)]
#[command(name = "custodia", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The vault file [default: the platform data directory, e.g.
    /// ~/.local/share/custodia/vault.custodia]
    #[arg(long, global = true, help_heading = examples::GLOBAL_HEADING, env = "CUSTODIA_VAULT", value_name = "PATH")]
    pub vault: Option<PathBuf>,
    /// Act as this user [default: the vault's first user]
    #[arg(long, global = true, help_heading = examples::GLOBAL_HEADING, env = "CUSTODIA_USER", value_name = "NAME")]
    pub user: Option<String>,
    /// Read the passphrase from the first line of this file ('-' = standard
    /// input) instead of asking on the terminal
    #[arg(
        long,
        global = true,
        help_heading = examples::GLOBAL_HEADING,
        env = "CUSTODIA_PASSPHRASE_FILE",
        value_name = "PATH"
    )]
    pub passphrase_file: Option<PathBuf>,
    /// Print one JSON document on standard output
    #[arg(long, global = true, help_heading = examples::GLOBAL_HEADING)]
    pub json: bool,
    /// Print only what was asked for (ids, results), no commentary
    #[arg(long, short, global = true, help_heading = examples::GLOBAL_HEADING)]
    pub quiet: bool,
    /// Replace an existing vault or output file
    #[arg(long, global = true, help_heading = examples::GLOBAL_HEADING)]
    pub force: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new vault, its first user and a recovery key
    Init(vault_cmds::InitArgs),
    /// Show what the vault file reveals (and, unlocked, its name and users)
    Info,
    /// Add, list or remove users (each has a passphrase and a signing key)
    #[command(subcommand)]
    User(vault_cmds::UserCommand),
    /// Change your passphrase (re-wraps your key slot; the data is untouched)
    #[command(subcommand)]
    Passphrase(vault_cmds::PassphraseCommand),
    /// Set a new passphrase with the recovery key
    Recover(vault_cmds::RecoverArgs),
    /// Print signing keys
    #[command(subcommand)]
    Key(vault_cmds::KeyCommand),
    /// Pin or list the signers whose bundles this vault trusts
    #[command(subcommand)]
    Signer(signer_cmds::SignerCommand),
    /// Create, list, show and amend cases
    #[command(subcommand)]
    Case(record_cmds::CaseCommand),
    /// Add, import, list, show, amend and seal witness statements
    #[command(subcommand)]
    Statement(record_cmds::StatementCommand),
    /// Add, list, show and extract evidence files
    #[command(subcommand)]
    Evidence(record_cmds::EvidenceCommand),
    /// Withdraw or destroy a statement or exhibit
    #[command(subcommand)]
    Record(record_cmds::RecordCommand),
    /// Search statements (accent-, case- and script-insensitive)
    Search(record_cmds::SearchArgs),
    /// Show the custody log (of one record, or of the whole vault)
    Log(custody_cmds::LogArgs),
    /// Print a signed receipt of the custody state
    Checkpoint,
    /// Verify everything: records, evidence hashes, signatures, chains
    Check(custody_cmds::CheckArgs),
    /// Export a case as a sealed bundle (BagIt + minisign + age) for a court
    Export(bundle_cmds::ExportArgs),
    /// Verify or import a sealed bundle
    #[command(subcommand)]
    Bundle(bundle_cmds::BundleCommand),
    /// Write a consistent encrypted copy of the vault
    Backup(custody_cmds::BackupArgs),
    /// Show or change the vault's settings (idle lock, time zone)
    Settings(vault_cmds::SettingsArgs),
    /// Unlock once and run commands at a prompt until exit, Ctrl-D or idle
    Shell(shell::ShellArgs),
    /// Open the desk: a web interface in your browser, on this computer only
    Desk(desk_cmd::DeskArgs),
    /// Print a shell completion script
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    record_cmds::DAMAGED_SEEN.store(false, std::sync::atomic::Ordering::SeqCst);
    run_command(cli)?;
    // Records left out as damaged or missing: shown the others, exit 4.
    if record_cmds::DAMAGED_SEEN.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Failure::Silent(4));
    }
    Ok(())
}

fn run_command(cli: Cli) -> Result<(), Failure> {
    let out = Output::new(cli.global.json, cli.global.quiet);
    let g = &cli.global;
    match cli.command {
        Command::Init(args) => vault_cmds::init(g, &out, args),
        Command::Info => vault_cmds::info(g, &out),
        Command::User(cmd) => vault_cmds::user(g, &out, cmd),
        Command::Passphrase(cmd) => vault_cmds::passphrase(g, &out, cmd),
        Command::Recover(args) => vault_cmds::recover(g, &out, args),
        Command::Key(cmd) => vault_cmds::key(g, &out, cmd),
        Command::Signer(cmd) => signer_cmds::signer(g, &out, cmd),
        Command::Case(cmd) => record_cmds::case(g, &out, cmd),
        Command::Statement(cmd) => record_cmds::statement(g, &out, cmd),
        Command::Evidence(cmd) => record_cmds::evidence(g, &out, cmd),
        Command::Record(cmd) => record_cmds::record(g, &out, cmd),
        Command::Search(args) => record_cmds::search(g, &out, args),
        Command::Log(args) => custody_cmds::log(g, &out, args),
        Command::Checkpoint => custody_cmds::checkpoint(g, &out),
        Command::Check(args) => custody_cmds::check(g, &out, args),
        Command::Backup(args) => custody_cmds::backup(g, &out, args),
        Command::Export(args) => bundle_cmds::export(g, &out, args),
        Command::Bundle(cmd) => bundle_cmds::bundle(g, &out, cmd),
        Command::Shell(args) => shell::shell(g, &out, args),
        Command::Desk(args) => desk_cmd::desk(g, &out, args),
        Command::Settings(args) => vault_cmds::settings(g, &out, args),
        Command::Completions { shell } => {
            let mut cmd = examples::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "custodia", &mut script);
            out.raw(&script)
        }
    }
}

/// Parses the program's arguments (with the examples under `--help`).
pub fn parse() -> Result<Cli, clap::Error> {
    parse_from(std::env::args_os())
}

/// Parses a command line given as words (the first is the program name).
pub fn parse_from<I, T>(words: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::FromArgMatches;
    let matches = examples::command().try_get_matches_from(words)?;
    Cli::from_arg_matches(&matches)
}

/// A command line clap refused (or `--help`, `--version`): printed as clap
/// writes it, or with `--json` anywhere on the line as the JSON error object
/// on standard error. Exit 2 for a mistake, 0 for help.
pub fn usage_error(e: &clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    if json && !informational {
        let failure = Failure::usage(e.render().to_string().trim().to_owned());
        failure.report(&Output::new(true, false));
        return std::process::ExitCode::from(2);
    }
    // A closed pipe (`--help | head -1`) is not an error.
    let _ = e.print();
    std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

/// The vault path: `--vault`, `CUSTODIA_VAULT`, or the platform default.
pub fn vault_path(g: &Global) -> Result<PathBuf, Failure> {
    if let Some(p) = &g.vault {
        return Ok(p.clone());
    }
    dirs::data_dir()
        .map(|d| d.join("custodia").join("vault.custodia"))
        .ok_or_else(|| Failure::usage("no data directory on this system: give --vault PATH"))
}

/// Makes sure this process never writes a core dump (which could hold keys
/// and testimony).
pub fn disable_core_dumps() {
    #[cfg(unix)]
    {
        let _ = rlimit::setrlimit(rlimit::Resource::CORE, 0, 0);
    }
}

/// A command's failure: a library error, or a command-line problem.
#[derive(Debug)]
pub enum Failure {
    /// From the library.
    Lib(Error),
    /// The command line is wrong (exit 2).
    Usage(String),
    /// Exit with this code, the message having been printed already.
    Silent(u8),
}

impl Failure {
    /// A usage problem (exit 2).
    pub fn usage(msg: impl Into<String>) -> Failure {
        Failure::Usage(msg.into())
    }

    /// Invalid input (exit 1).
    pub fn invalid(msg: impl Into<String>) -> Failure {
        Failure::Lib(Error::Invalid(custodia::Invalid::Command {
            problem: msg.into(),
        }))
    }

    /// An I/O error with context (exit 1).
    pub fn io(context: impl Into<String>, e: std::io::Error) -> Failure {
        Failure::Lib(Error::io(context, e))
    }

    /// The exit code (SPEC §6).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Silent(code) => *code,
            Failure::Lib(e) => match e.category() {
                Category::Failure => 1,
                Category::Usage => 2,
                Category::WrongKey => 3,
                Category::Integrity => 4,
                Category::Unauthenticated => 5,
            },
        }
    }

    /// What kind of failure, for `--json` (`"error"`, `"usage"`,
    /// `"wrong_key"`, `"integrity"`, `"unauthenticated"`).
    pub fn kind(&self) -> &'static str {
        match self.exit_code() {
            2 => "usage",
            3 => "wrong_key",
            4 => "integrity",
            5 => "unauthenticated",
            _ => "error",
        }
    }

    /// Prints the message on standard error: one [`terminal_safe`] line,
    /// or with `--json` one JSON object
    /// `{"error":{"kind":…,"message":…,"exit_code":…}}` (a message may
    /// quote a name from a bundle or a vault). A closed standard error is
    /// ignored.
    pub fn report(&self, out: &Output) {
        let message = match self {
            Failure::Lib(e) => e.to_string(),
            Failure::Usage(m) => m.clone(),
            Failure::Silent(_) => return,
        };
        if out.json {
            let doc = serde_json::json!({ "error": {
                "kind": self.kind(),
                "message": message,
                "exit_code": self.exit_code(),
            }});
            output::stderr_line(&doc.to_string());
            return;
        }
        let label = match self {
            Failure::Usage(_) => "usage error",
            _ => "error",
        };
        output::stderr_line(&format!("custodia: {label}: {}", terminal_safe(&message)));
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::Lib(e)
    }
}

/// On Ctrl-C, SIGTERM or SIGHUP: remove half-written output (plaintext)
/// and exit 130. An open transaction is rolled back by SQLite on the next
/// open. While `--editor` runs, the editor gets the keystroke instead.
pub fn remove_partial_output_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        if editor::is_running() {
            return;
        }
        // The desk stops by itself: it locks the vault (keys zeroized).
        if desk_cmd::RUNNING.load(std::sync::atomic::Ordering::SeqCst) {
            desk_cmd::STOP.store(true, std::sync::atomic::Ordering::SeqCst);
            return;
        }
        custodia::files::remove_pending();
        output::stderr_line("custodia: interrupted; no partial output was kept");
        std::process::exit(130);
    });
}
