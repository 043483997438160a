//! Reading records' chains for an audit: the custody history an imported
//! record brought from its earlier vault (sealed beside it), and the check
//! of every chain a bundle is about to carry.

use crate::custody::chain::verify_events;
use crate::custody::{Event, SignedEvent, GENESIS, LOG_HEAD_REBUILT};
use crate::error::{Error, Integrity, Result};
use crate::format::Id;
use crate::vault::users::KeyDirectory;
use crate::vault::KeyLimit;

pub use crate::custody::chain::readable_events;

/// Checks, before they leave the vault, the custody of `records`: the
/// vault's chain is whole (positions 1, 2, … each naming the hash of the
/// one before), each record's chain is whole and every event is signed by
/// the key of the user it names, who had not been removed by then. `all`
/// is every event of the vault in order; the parsed events are returned in
/// the same order. A bundle must never carry a history that `check` would
/// call damaged.
pub(crate) fn verify_before_export(
    all: &[SignedEvent],
    vault_id: &str,
    records: &[Id],
    directory: &KeyDirectory,
    limits: &std::collections::HashMap<String, KeyLimit>,
) -> Result<Vec<Event>> {
    let damaged = |why: String| {
        Err(Error::Integrity(Integrity::Export {
            problem: format!("{why}; nothing was exported (run `custodia check`)"),
        }))
    };
    let mut prev = GENESIS.to_owned();
    let mut events = Vec::with_capacity(all.len());
    for (i, signed) in all.iter().enumerate() {
        let event = signed.event()?;
        if event.position != i as u64 + 1 || event.prev != prev || event.vault != vault_id {
            return damaged(format!(
                "the vault's custody chain breaks at event {}",
                i + 1
            ));
        }
        prev = signed.hash();
        events.push(event);
    }
    for id in records {
        let record = id.to_hex();
        let mine = all.iter().zip(&events).filter(|(_, e)| e.record == record);
        for (_, event) in mine.clone() {
            match directory.get(&event.key_id) {
                Some((owner, _)) if *owner != event.user => {
                    return damaged(format!(
                        "custody event {} of record {} claims user {:?} but is signed with {owner:?}'s key",
                        event.position,
                        id.short(),
                        event.user
                    ))
                }
                _ => {}
            }
            if event.details.get(LOG_HEAD_REBUILT) == Some(&serde_json::Value::Bool(true)) {
                return damaged(format!(
                    "custody event {} of record {} was written while the log's sealed head was \
                     missing or damaged, so events may have been cut before it",
                    event.position,
                    id.short()
                ));
            }
            if let Some(why) = limits
                .get(&event.key_id)
                .and_then(|limit| super::check::limit_problem(limit, event))
            {
                return damaged(why);
            }
        }
        let chain = verify_events(&record, mine.map(|(s, _)| Ok(s.clone())), |key_id| {
            directory.get(key_id).map(|(_, k)| *k)
        });
        if let Some((_, why)) = chain.broken {
            return damaged(format!("the custody chain of record {}: {why}", id.short()));
        }
    }
    Ok(events)
}
