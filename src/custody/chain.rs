//! One record's chain of signed events in its portable form (JSON Lines of
//! [`SignedEvent`], as a bundle carries it), verified with nothing but the
//! signers' public keys. `bundle verify` uses it for the chains in a
//! bundle; `check` and `log` use it for the histories that imported records
//! brought from the vaults they came from ([`ImportedHistory`]).

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use super::{Event, SignedEvent, GENESIS};
use crate::formats::minisign::PublicKey;

/// The outcome of verifying one record's chain.
#[derive(Clone, Debug, Default)]
pub struct VerifiedChain {
    /// The events that verified, oldest first, up to any break.
    pub events: Vec<Event>,
    /// The first bad event (1-based line) and why, if the chain breaks.
    pub broken: Option<(u64, String)>,
}

impl VerifiedChain {
    /// True when every event verified.
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies the chain of `record` given as JSON Lines: every line a
/// canonical signed event of this record, positions 1, 2, … with each
/// `prev_record` the hash of the line before, and each signature valid
/// under the key `key_of(event.key_id)`. Stops at the first bad event.
pub fn verify_chain(
    record: &str,
    jsonl: &str,
    key_of: impl Fn(&str) -> Option<VerifyingKey>,
) -> VerifiedChain {
    let parsed = jsonl.lines().map(|line| {
        serde_json::from_str::<SignedEvent>(line).map_err(|e| format!("is malformed: {e}"))
    });
    verify_events(record, parsed, key_of)
}

/// [`verify_chain`] over events already parsed (or the reason one could
/// not be), in chain order.
pub(crate) fn verify_events(
    record: &str,
    events: impl IntoIterator<Item = std::result::Result<SignedEvent, String>>,
    key_of: impl Fn(&str) -> Option<VerifyingKey>,
) -> VerifiedChain {
    let mut out = VerifiedChain::default();
    let mut prev = GENESIS.to_owned();
    for (i, parsed) in events.into_iter().enumerate() {
        let pos = i as u64 + 1;
        let mut fail = |why: String| VerifiedChain {
            events: std::mem::take(&mut out.events),
            broken: Some((pos, why)),
        };
        let signed = match parsed {
            Ok(s) => s,
            Err(why) => return fail(format!("event {pos} {why}")),
        };
        let event = match signed.event() {
            Ok(e) => e,
            Err(e) => return fail(format!("event {pos}: {e}")),
        };
        if event.record != record || event.record_position != pos || event.prev_record != prev {
            return fail(format!(
                "the chain breaks at event {pos} (removed, altered, reordered or inserted)"
            ));
        }
        match key_of(&event.key_id) {
            Some(key) if signed.verify_with(&key) => {}
            Some(_) => {
                return fail(format!(
                    "event {pos}: the signature does not verify (forged or altered)"
                ))
            }
            None => {
                return fail(format!(
                    "event {pos}: signed by key {}, which is not among the signers' keys",
                    event.key_id
                ))
            }
        }
        prev = signed.hash();
        out.events.push(event);
    }
    out
}

/// Checks the hand-over between two vaults: `earlier` is a record's chain
/// in the vault it left, `import` the first event of its chain in the next
/// vault. The import event names how many events the bundle carried and
/// which key signed the bundle; the earlier chain must have exactly that
/// many, ending in an export signed by that key. Otherwise the chain was
/// cut short (or padded) by whoever built the bundle.
pub(crate) fn check_handover(earlier: &VerifiedChain, import: Option<&Event>) -> Option<String> {
    let Some(import) = import else {
        return Some("no import event follows it".into());
    };
    if import.action != super::Action::Import {
        return Some(format!(
            "the next vault's chain starts with {:?}, not an import",
            import.action.as_str()
        ));
    }
    let count = import
        .details
        .get("original_events")
        .and_then(|n| n.as_u64());
    let signer = import.details.get("signer").and_then(|s| s.as_str());
    let last = earlier.events.last();
    if count != Some(earlier.events.len() as u64) {
        return Some(format!(
            "it has {} events but the import that followed it received {}",
            earlier.events.len(),
            count.map_or_else(|| "an unknown number".to_owned(), |n| n.to_string())
        ));
    }
    match last {
        Some(e) if e.action == super::Action::Export && Some(e.key_id.as_str()) == signer => None,
        Some(_) => Some(
            "it does not end with the export, signed by the bundle's signer, that the import received"
                .into(),
        ),
        None => Some("it is empty".into()),
    }
}

/// True when `first` (a record's first event) imported it together with
/// events from the vault it came from, which must then be kept beside it.
pub(crate) fn brought_history(first: &Event) -> bool {
    first.action == super::Action::Import
        && first
            .details
            .get("original_events")
            .and_then(|n| n.as_u64())
            .is_some_and(|n| n > 0)
}

/// Every line of `jsonl` that parses as a canonical event, verified or not
/// (for showing a damaged history as far as it can be read).
pub fn readable_events(jsonl: &str) -> Vec<Event> {
    jsonl
        .lines()
        .filter_map(|line| serde_json::from_str::<SignedEvent>(line).ok()?.event().ok())
        .collect()
}

/// The sealed field name (in the associated data) of an imported history.
pub const IMPORTED_CUSTODY_FIELD: &str = "imported-custody";

/// What an imported record brought with it, sealed in `imported_custody`:
/// the chains of the vaults it passed through before this one, oldest
/// first, exactly as signed there, and the public keys that signed them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedHistory {
    /// One JSON Lines chain per earlier vault, oldest first.
    pub chains: Vec<String>,
    /// Minisign public keys (file form) by key id.
    pub signers: BTreeMap<String, String>,
}

impl ImportedHistory {
    /// The key with id `key_id`, if the history carries it and it parses.
    pub fn key(&self, key_id: &str) -> Option<VerifyingKey> {
        let text = self.signers.get(key_id)?;
        let key = PublicKey::parse(text).ok()?;
        (key.key_id_hex() == key_id).then_some(key.key)
    }

    /// Verifies every chain for `record`.
    pub fn verify(&self, record: &str) -> Vec<VerifiedChain> {
        self.chains
            .iter()
            .map(|c| verify_chain(record, c, |k| self.key(k)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::signing::UserSigningKey as SigningKey;

    fn event(record: &str, pos: u64, prev: &str, key_id: &str) -> Event {
        Event {
            event_type: super::super::EVENT_TYPE.into(),
            vault: "v".into(),
            position: pos,
            record: record.into(),
            record_kind: "statement".into(),
            record_position: pos,
            action: super::super::Action::Create,
            user: "amina".into(),
            key_id: key_id.into(),
            time: "2026-01-01T00:00:00Z".into(),
            details: serde_json::json!({}),
            prev: prev.into(),
            prev_record: prev.into(),
        }
    }

    fn chain(key: &SigningKey, record: &str, n: u64) -> Vec<SignedEvent> {
        let key_id = PublicKey::new(key.verifying_key()).key_id_hex();
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|pos| {
                let signed = SignedEvent::sign(&event(record, pos, &prev, &key_id), key).unwrap();
                prev = signed.hash();
                signed
            })
            .collect()
    }

    fn jsonl(events: &[SignedEvent]) -> String {
        events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap() + "\n")
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_a_removed_event_breaks_it() {
        let key = SigningKey::generate().unwrap();
        let vk = key.verifying_key();
        let events = chain(&key, "r1", 3);
        let ok = verify_chain("r1", &jsonl(&events), |_| Some(vk));
        assert!(ok.is_intact(), "{:?}", ok.broken);
        assert_eq!(ok.events.len(), 3);

        let gap = jsonl(&[events[0].clone(), events[2].clone()]);
        let broken = verify_chain("r1", &gap, |_| Some(vk));
        assert_eq!(broken.broken.unwrap().0, 2);
        assert_eq!(broken.events.len(), 1);

        let other = verify_chain("r2", &jsonl(&events), |_| Some(vk));
        assert_eq!(other.broken.unwrap().0, 1);
    }

    #[test]
    fn another_key_or_a_missing_key_breaks_the_chain() {
        let key = SigningKey::generate().unwrap();
        let forger = SigningKey::generate().unwrap().verifying_key();
        let events = chain(&key, "r1", 2);
        let forged = verify_chain("r1", &jsonl(&events), |_| Some(forger));
        assert!(forged.broken.unwrap().1.contains("does not verify"));
        let missing = verify_chain("r1", &jsonl(&events), |_| None);
        assert!(missing.broken.unwrap().1.contains("not among the signers"));
    }

    #[test]
    fn imported_history_refuses_a_key_filed_under_another_id() {
        let key = SigningKey::generate().unwrap();
        let public = PublicKey::new(key.verifying_key());
        let events = chain(&key, "r1", 2);
        let mut history = ImportedHistory {
            chains: vec![jsonl(&events)],
            signers: BTreeMap::new(),
        };
        history.signers.insert(
            public.key_id_hex(),
            public.to_file_string("custodia signing key"),
        );
        assert!(history.verify("r1")[0].is_intact());
        let text = history.signers.remove(&public.key_id_hex()).unwrap();
        history.signers.insert("0000000000000000".into(), text);
        assert!(!history.verify("r1")[0].is_intact());
    }
}
