//! Checkpoints against this vault: signing a receipt of its custody state,
//! checking that it contains and extends a receipt it is shown, and the
//! last-seen state kept beside the vault (SPEC §4). The receipt's text
//! format is [`crate::formats::checkpoint`].

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

use crate::custody::{open_event, GENESIS};
use crate::error::{Error, Integrity, Result};
use crate::formats::checkpoint::Checkpoint;
use crate::store::records as rows;
use crate::vault::{Session, Unlocked, Vault};

/// The vault's current (count, head hash).
pub(crate) fn current_state(
    conn: &rusqlite::Connection,
    session: &Session<'_>,
) -> Result<(u64, String)> {
    let head = session.log_head(conn)?;
    Ok((head.count, head.hash))
}

/// Whether this vault contains and extends (`count`, `head`): its event
/// `count` exists and hashes to `head`.
pub fn extends(
    conn: &rusqlite::Connection,
    session: &Session<'_>,
    count: u64,
    head: &str,
) -> Result<bool> {
    if count == 0 {
        return Ok(head == GENESIS);
    }
    Ok(match rows::event_at(conn, count)? {
        Some(sealed) => match open_event(&session.vault_id, &session.keys.events, count, &sealed) {
            Ok(ev) => ev.hash() == head,
            Err(_) => false,
        },
        None => false,
    })
}

/// Signs a checkpoint of (`count`, `head`) as the session's user.
pub(crate) fn sign_checkpoint(session: &Session<'_>, count: u64, head: &str) -> Checkpoint {
    let vault = session.vault_id.to_hex();
    let key_id = session.key_id.clone();
    let msg = Checkpoint::signed_part(&vault, count, head, &key_id);
    let signature = B64.encode(session.user.signing.sign(msg.as_bytes()).to_bytes());
    Checkpoint {
        vault,
        count,
        head: head.to_owned(),
        key_id,
        signature,
    }
}

impl Vault<Unlocked> {
    /// A signed checkpoint of the current state.
    pub fn checkpoint(&mut self) -> Result<Checkpoint> {
        self.read(|tx, session| {
            let head = session.log_head(tx)?;
            if head.rebuilt || head.rebuilt_at.is_some() {
                // A receipt must not vouch for a log whose end may be cut.
                return Err(Error::Integrity(Integrity::LogHead {
                    problem:
                        "the custody log's sealed head is missing or damaged, so no checkpoint \
                     can vouch for it; run `custodia check`"
                            .into(),
                }));
            }
            Ok(sign_checkpoint(session, head.count, &head.hash))
        })
    }

    /// Whether this vault contains and extends `receipt`. Returns a
    /// description of the problem when it does not.
    pub fn verify_checkpoint(&mut self, receipt: &Checkpoint) -> Result<Option<String>> {
        if receipt.vault != self.id().to_hex() {
            return Ok(Some(format!(
                "the receipt is for vault {}, not this vault ({})",
                receipt.vault,
                self.id()
            )));
        }
        let directory = self.key_directory()?;
        let signed = directory
            .get(&receipt.key_id)
            .is_some_and(|(_, key)| receipt.signed_by(key));
        if !signed {
            return Ok(Some(
                "the receipt's signature does not verify with any key of this vault".into(),
            ));
        }
        let (count, _) = self.read(|tx, session| current_state(tx, session))?;
        let ok = self.read(|tx, session| extends(tx, session, receipt.count, &receipt.head))?;
        if ok {
            return Ok(None);
        }
        Ok(Some(if count < receipt.count {
            format!(
                "this vault has {count} custody events but the receipt records {}: it is a rolled-back copy",
                receipt.count
            )
        } else {
            format!(
                "event {} of this vault is not the one the receipt records: the history was rewritten or forked",
                receipt.count
            )
        }))
    }

    /// Compares the vault with the last state this machine saw (kept in
    /// `state_dir`), then records the current state. Returns a warning when
    /// the vault is behind (a rolled-back or replaced copy).
    pub fn compare_with_local_state(&mut self, state_dir: &Path) -> Result<Option<String>> {
        let file = state_file(state_dir, &self.id().to_hex());
        let seen = std::fs::read_to_string(&file).ok();
        let warning = match seen.as_deref().and_then(parse_state) {
            Some((count, head)) => {
                let ok = self.read(|tx, session| extends(tx, session, count, &head))?;
                if ok {
                    None
                } else {
                    Some(format!(
                        "this vault does not contain the custody state this computer last saw \
                         ({count} events): it may be a rolled-back or replaced copy. \
                         Run `custodia check` and compare with your checkpoint receipts."
                    ))
                }
            }
            None => None,
        };
        if warning.is_none() {
            self.save_local_state(state_dir)?;
        }
        Ok(warning)
    }

    /// Records the current state in `state_dir`. Several processes may do
    /// this at once: each writes its own temporary file (a random name
    /// beside the target) and renames it into place, atomically; and a
    /// state is never replaced by an older one of the same vault (a slower
    /// process that read the vault earlier must not move it back).
    pub fn save_local_state(&mut self, state_dir: &Path) -> Result<()> {
        let (count, head) = self.read(|tx, session| current_state(tx, session))?;
        let file = state_file(state_dir, &self.id().to_hex());
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
        }
        let seen = std::fs::read_to_string(&file).ok();
        if let Some((seen_count, seen_head)) = seen.as_deref().and_then(parse_state) {
            if seen_count > count
                && self.read(|tx, session| extends(tx, session, seen_count, &seen_head))?
            {
                return Ok(()); // another process recorded a later state
            }
            if seen_count == count && seen_head == head {
                return Ok(());
            }
        }
        let tag = hex::encode(crate::crypto::random_bytes::<8>()?);
        let tmp = file.with_extension(format!("tmp-{tag}"));
        let written = write_private(&tmp, format!("{count} {head}\n").as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &file));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(|e| Error::io(format!("cannot write {}", file.display()), e))
    }
}

/// Writes a file only its owner can read (it names a vault and its size).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = crate::files::create_private(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn state_file(dir: &Path, vault: &str) -> PathBuf {
    dir.join("checkpoints").join(format!("{vault}.last"))
}

fn parse_state(text: &str) -> Option<(u64, String)> {
    let mut parts = text.split_whitespace();
    let count = parts.next()?.parse().ok()?;
    let head = parts.next()?.to_owned();
    Some((count, head))
}
