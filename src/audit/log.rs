//! The custody log as `custodia log` shows it: every event of the vault
//! (or of one record), oldest first, each with whether its signature
//! verifies, an amendment's reason read from its sealed version, and the
//! history an imported record brought with it.

use rusqlite::Connection;
use serde::Serialize;

use crate::custody::{open_event, Action, Event};
use crate::error::Result;
use crate::format::Id;
use crate::store::records as rows;
use crate::vault::Session;

use super::chains::readable_events;
use crate::records::imported::imported_history;

/// What `custodia log` shows.
#[derive(Clone, Debug, Serialize)]
pub struct Log {
    /// The events that could be read, oldest first.
    pub entries: Vec<LogEntry>,
    /// Positions of events that could not be read (damaged): they may
    /// belong to any record, so a filtered log may be incomplete.
    pub unreadable: Vec<u64>,
}

/// One line of `custodia log`.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    /// The event.
    pub event: Event,
    /// Whether its signature verifies with the key of the user it names.
    pub signature_valid: bool,
    /// For an amendment: its reason, read from the sealed statement version
    /// (the signed event carries only the reason's hash, so that exported
    /// events never hold free text that could name a protected witness).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For an event an imported record brought from an earlier vault: that
    /// vault's id (its own chain, verified with the keys it came with).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
}

impl crate::vault::Vault<crate::vault::Unlocked> {
    /// The custody log: every event, or one record's (by id or prefix),
    /// oldest first, each with whether its signature verifies.
    pub fn log(&mut self, record: Option<&str>) -> Result<Log> {
        let directory = self.key_directory()?;
        self.read(|tx, session| {
            let wanted = match record {
                Some(text) => Some(crate::vault::sealed::resolve_any(tx, text)?.0.to_hex()),
                None => None,
            };
            let mut out = Vec::new();
            let mut readable = Vec::new();
            let mut unreadable = Vec::new();
            // Tolerant: one damaged event must not hide the others.
            rows::for_each_event(tx, |pos, sealed| {
                match open_event(&session.vault_id, &session.keys.events, pos, sealed)
                    .and_then(|signed| Ok((signed.event()?, signed)))
                {
                    Ok(pair) => readable.push(pair),
                    Err(_) => unreadable.push(pos),
                }
                Ok(())
            })?;
            for (event, signed) in readable {
                if wanted.as_ref().is_some_and(|w| *w != event.record) {
                    continue;
                }
                let signature_valid = directory
                    .get(&event.key_id)
                    .is_some_and(|(owner, key)| *owner == event.user && signed.verify_with(key));
                let reason = match event.action {
                    Action::Amend => amendment_reason(tx, session, &event),
                    _ => None,
                };
                // An imported record's earlier history comes just before
                // the event that imported it.
                if event.action == Action::Import && event.record_position == 1 {
                    if let Ok(id) = event.record.parse::<Id>() {
                        out.extend(imported_entries(tx, session, &id)?);
                    }
                }
                out.push(LogEntry {
                    event,
                    signature_valid,
                    reason,
                    imported_from: None,
                });
            }
            Ok(Log {
                entries: out,
                unreadable,
            })
        })
    }
}

/// The entries of record `id`'s imported history: the events that verify
/// with the keys it came with, then any unreadable remainder marked invalid.
fn imported_entries(conn: &Connection, session: &Session<'_>, id: &Id) -> Result<Vec<LogEntry>> {
    let Some(history) = imported_history(conn, session, id)? else {
        return Ok(Vec::new());
    };
    let record = id.to_hex();
    let mut out = Vec::new();
    for (text, verified) in history.chains.iter().zip(history.verify(&record)) {
        let good = verified.events.len();
        for (i, event) in readable_events(text).into_iter().enumerate() {
            out.push(LogEntry {
                imported_from: Some(event.vault.clone()),
                signature_valid: i < good,
                reason: None,
                event,
            });
        }
    }
    Ok(out)
}

/// The reason of the statement version an amend event made, if readable.
fn amendment_reason(conn: &Connection, session: &Session<'_>, event: &Event) -> Option<String> {
    let id: Id = event.record.parse().ok()?;
    let version = event.details.get("version")?.as_u64()?;
    crate::records::statement::history(conn, session, &id)
        .ok()?
        .into_iter()
        .find(|o| o.version == version)?
        .reason
}
