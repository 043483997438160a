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
