//! Unlocking for a command: a passphrase from a file, or a no-echo prompt
//! with three tries and a growing pause; and, inside `custodia shell`, the
//! session's vault, unlocked once and lent to each command.
//!
//! The session's vault lives in one thread-local slot. A command borrows it
//! through a [`Lease`] and gives it back when the lease drops; locking the
//! session takes it out of the slot and drops it, which wipes its keys
//! (the vault's key types zeroize on drop).

use std::cell::{Cell, RefCell};
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use custodia::{Category, Unlocked, Vault};

use super::secrets::{prompt, read_secret_file};
use super::{vault_path, Failure, Global};

/// Tries at the passphrase prompt before giving up (exit 3).
pub const PROMPT_TRIES: u32 = 3;

thread_local! {
    /// True while `custodia shell` runs.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// The shell's unlocked vault; `None` outside a shell or when locked.
    static SLOT: RefCell<Option<Vault<Unlocked>>> = const { RefCell::new(None) };
}

/// Marks the start of a shell session (its vault is unlocked on first use).
pub fn begin() {
    ACTIVE.with(|a| a.set(true));
}

/// Locks: drops the session's vault, wiping its keys. Returns true when a
/// vault was unlocked.
pub fn lock() -> bool {
    SLOT.with(|s| s.borrow_mut().take()).is_some()
}

/// An unlocked vault for one command: the session's (given back on drop)
/// or one unlocked for this command alone.
pub struct Lease {
    vault: Option<Vault<Unlocked>>,
    shared: bool,
}

impl Deref for Lease {
    type Target = Vault<Unlocked>;
    fn deref(&self) -> &Vault<Unlocked> {
        match &self.vault {
            Some(v) => v,
            // The vault is only taken out in `drop`.
            None => unreachable!("a lease holds its vault until dropped"),
        }
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Vault<Unlocked> {
        match &mut self.vault {
            Some(v) => v,
            None => unreachable!("a lease holds its vault until dropped"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.shared {
            if let Some(v) = self.vault.take() {
                SLOT.with(|s| *s.borrow_mut() = Some(v));
            }
        }
    }
}

/// The acting user's unlocked vault: the shell session's if there is one,
/// else unlocked now (and kept by the session inside a shell).
pub fn unlock(g: &Global) -> Result<Lease, Failure> {
    if let Some(v) = SLOT.with(|s| s.borrow_mut().take()) {
        return Ok(Lease {
            vault: Some(v),
            shared: true,
        });
    }
    let vault = unlock_fresh(g)?;
    let shared = ACTIVE.with(Cell::get);
    if shared && !g.quiet {
        super::output::stderr_line(&format!(
            "Unlocked as \"{}\".",
            super::terminal_safe(&vault.user().name)
        ));
    }
    Ok(Lease {
        vault: Some(vault),
        shared,
    })
}

/// Opens and unlocks the vault. A passphrase file is read once; at the
/// prompt, a wrong passphrase may be typed again after a pause that grows
/// (1 s, then 2 s), [`PROMPT_TRIES`] times in all, then exit 3.
fn unlock_fresh(g: &Global) -> Result<Vault<Unlocked>, Failure> {
    let path = vault_path(g)?;
    if let Some(file) = &g.passphrase_file {
        let vault = Vault::open(&path)?;
        let passphrase = read_secret_file(file, "passphrase")?;
        return Ok(vault.unlock(g.user.as_deref(), &passphrase)?);
    }
    let mut tries = 0;
    loop {
        let vault = Vault::open(&path)?;
        let passphrase = prompt("Vault passphrase: ")?;
        tries += 1;
        match vault.unlock(g.user.as_deref(), &passphrase) {
            Ok(v) => return Ok(v),
            Err(e) if e.category() == Category::WrongKey && tries < PROMPT_TRIES => {
                let left = PROMPT_TRIES - tries;
                super::output::stderr_line(&format!(
                    "custodia: wrong passphrase; {left} {} left",
                    if left == 1 { "try" } else { "tries" }
                ));
                std::thread::sleep(Duration::from_secs(u64::from(tries)));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
