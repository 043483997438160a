//! `custodia desk`: the local web interface ([`custodia::desk`]) on
//! 127.0.0.1, opened in the user's browser; Ctrl-C locks and exits.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;

use custodia::desk::{Desk, DeskOptions};

use super::shell::parse_duration;
use super::{vault_path, Failure, Global, Output};

/// Set while the desk serves: Ctrl-C then stops it (locking the vault)
/// instead of exiting at once.
pub static RUNNING: AtomicBool = AtomicBool::new(false);
/// Set by Ctrl-C while the desk serves.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// `custodia desk`.
#[derive(Debug, Args)]
pub struct DeskArgs {
    /// Lock the vault after this long without a request (30s, 10m, 1h)
    /// [default: the vault's setting (`custodia settings --idle`), else 10m]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle: Option<Duration>,
    /// Only print the address; do not start a browser
    #[arg(long)]
    no_open: bool,
    /// Seconds unlocking waits after three wrong passphrases
    #[arg(long, value_name = "SECONDS", default_value_t = 30, hide = true)]
    unlock_pause: u64,
}

/// Runs the desk until Ctrl-C.
pub fn desk(g: &Global, out: &Output, args: DeskArgs) -> Result<(), Failure> {
    super::shell::no_dumps(out);
    let desk = Desk::start(DeskOptions {
        vault: vault_path(g)?,
        user: g.user.clone(),
        idle: args.idle,
        unlock_pause: Duration::from_secs(args.unlock_pause),
    })?;
    // The address, with its one-time token, goes to standard output only
    // (and to the browser); it is never written to a file.
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", desk.url())
            .and_then(|()| stdout.flush())
            .map_err(|e| Failure::io("cannot write the desk's address", e))?;
    }
    out.note(
        "The desk is open on this computer only. Open the address above in your browser \
         (it works once); Ctrl-C locks the vault and stops the desk.",
    );
    if !args.no_open {
        open_browser(out, desk.url());
    }
    RUNNING.store(true, Ordering::SeqCst);
    let result = desk.run(&STOP);
    RUNNING.store(false, Ordering::SeqCst);
    out.note("The desk is stopped and the vault locked.");
    Ok(result?)
}

fn open_browser(out: &Output, url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if started.is_err() {
        out.warn(format!(
            "cannot start a browser with {opener}: open the address above yourself"
        ));
    }
}
