//! Opening the vault for a command: unlock as the acting user, compare with
//! the custody state this machine last saw (warning when the vault is
//! behind it), and record the new state when the command is done.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use custodia::{Unlocked, Vault};

use super::session::Lease;

use super::vault_cmds::unlock;
use super::{terminal_safe, Failure, Global, Output};

/// An unlocked vault that records its custody state on drop.
pub struct OpenVault {
    vault: Lease,
    /// Where to record the state on drop; `None` when there is nowhere, or
    /// when this vault is behind what was seen (the warning must repeat
    /// until someone looks, so the older state must not replace the newer).
    state_dir: Option<PathBuf>,
}

/// Where this machine keeps the last custody state it saw of each vault.
pub fn state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CUSTODIA_STATE_DIR") {
        return Some(PathBuf::from(dir));
    }
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .map(|d| d.join("custodia"))
}

impl OpenVault {
    /// Unlocks and compares with the local state.
    pub fn unlock(g: &Global, out: &Output) -> Result<OpenVault, Failure> {
        let mut vault = unlock(g)?;
        for note in vault.unlock_notes() {
            out.warn(note);
        }
        let mut state_dir = state_dir();
        if let Some(dir) = &state_dir {
            match vault.compare_with_local_state(dir) {
                Ok(Some(warning)) => {
                    out.warn(warning);
                    state_dir = None;
                }
                Ok(None) => {}
                Err(e) => out.warn(format!("cannot compare with the local checkpoint: {e}")),
            }
        }
        Ok(OpenVault { vault, state_dir })
    }
}

impl Deref for OpenVault {
    type Target = Vault<Unlocked>;
    fn deref(&self) -> &Vault<Unlocked> {
        &self.vault
    }
}

impl DerefMut for OpenVault {
    fn deref_mut(&mut self) -> &mut Vault<Unlocked> {
        &mut self.vault
    }
}

impl Drop for OpenVault {
    fn drop(&mut self) {
        if let Some(dir) = &self.state_dir {
            // Best effort: the local state only serves the rollback warning.
            let _ = self.vault.save_local_state(dir);
        }
    }
}

/// The bytes of the exhibits a long command will read (those of `case`, or
/// of every case; only the ids starting with one of `only`, when given),
/// for a progress bar's total and ETA. Asked only on a terminal; 0 when
/// unknown.
pub fn evidence_bytes(
    out: &Output,
    vault: &mut Vault<Unlocked>,
    case: Option<&str>,
    only: &[String],
) -> u64 {
    if !out.interactive() {
        return 0;
    }
    match vault.evidence(case) {
        Ok((list, _)) => list
            .iter()
            .filter(|e| {
                only.is_empty() || only.iter().any(|p| e.id.to_hex().starts_with(p.as_str()))
            })
            .map(|e| e.overview.size)
            .sum(),
        Err(_) => 0,
    }
}

/// Moves `bar` to `done` bytes (growing its total if the estimate was
/// short, so the bar never overflows).
pub fn advance(bar: Option<&ProgressBar>, done: u64) {
    if let Some(b) = bar {
        if b.length().is_some_and(|len| done > len) {
            b.set_length(done);
        }
        b.set_position(done);
    }
}

/// A progress bar on standard error when it is a terminal; `None` on a pipe.
pub fn progress_bar(out: &Output, len: u64, label: &str) -> Option<ProgressBar> {
    if !out.interactive() {
        return None;
    }
    let bar = if len > 0 {
        ProgressBar::new(len)
    } else {
        ProgressBar::no_length()
    };
    let style = ProgressStyle::with_template(
        "{msg:24!} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    // The label may be a file's name: shown escaped like any output.
    bar.set_message(terminal_safe(label).into_owned());
    Some(bar)
}
