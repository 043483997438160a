//! `check`: re-verifies everything a vault holds and reports every problem
//! it finds, naming the record and the first bad event position, without
//! stopping at the first one.
//!
//! What is checked: every record version's sealed fields open (and
//! statement bodies match their SHA-256); every evidence item streams
//! through its chunk chain and re-hashes to its fingerprint; every event
//! opens at its position, is canonical, is signed by a key some user of the
//! vault holds, and links to its predecessor in the vault chain and in its
//! record's chain; each record's chain ends where its sealed head says; the
//! number of statement versions and seals agrees with the chain.

use std::collections::HashMap;
use std::io;

use serde::Serialize;

use crate::custody::state::{self, VaultState};
use crate::custody::{chain, open_event, Action, Event, GENESIS, LOG_HEAD_REBUILT};
use crate::error::{Error, Integrity, Result};
use crate::format::Id;
use crate::format::Kind;
use crate::records::evidence::with_reader;
use crate::store::records as rows;
use crate::store::rows::{slots, SlotKind};
use crate::vault::index::index_problems;
use crate::vault::sealed::open_field;
use crate::vault::sealed::open_search_text;
use crate::vault::users::KeyDirectory;
use crate::vault::{KeyLimit, Session, Unlocked, Vault};

/// One problem found.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The record concerned (id), if any.
    pub record: Option<String>,
    /// The event position concerned, if any (the first bad one).
    pub position: Option<u64>,
    /// What is wrong.
    pub message: String,
    /// True for the mark an event carries when it was written after the
    /// vault state had to be rebuilt (the log's end may have been cut
    /// before it): reported by `check` for ever, but blocking an export
    /// only of the records it concerns.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub after_rebuilt_state: bool,
}

/// The outcome of a check.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Records checked.
    pub records: u64,
    /// Record versions opened.
    pub versions: u64,
    /// Evidence bytes re-hashed.
    pub evidence_bytes: u64,
    /// Events verified.
    pub events: u64,
    /// Problems (empty when clean).
    pub problems: Vec<Problem>,
    /// Warnings that are not integrity problems (e.g. weak KDF settings).
    pub warnings: Vec<String>,
}

impl CheckReport {
    fn rebuilt_mark(&mut self, record: &str, position: u64, message: String) {
        self.problem(Some(record), Some(position), message);
        if let Some(last) = self.problems.last_mut() {
            last.after_rebuilt_state = true;
        }
    }

    /// The problems that forbid acting on `records` (hex ids; `None`: on
    /// the vault as a whole, as an import does): every problem, except the
    /// marks of events written after a rebuilt state that concern other
    /// records.
    pub(crate) fn blocking<'a>(
        &'a self,
        records: Option<&'a [String]>,
    ) -> impl Iterator<Item = &'a Problem> {
        self.problems.iter().filter(move |p| {
            !p.after_rebuilt_state
                || p.record
                    .as_ref()
                    .is_some_and(|r| records.is_some_and(|list| list.contains(r)))
        })
    }

    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, record: Option<&str>, position: Option<u64>, message: impl Into<String>) {
        let message: String = message.into();
        // Inside a report every line is an integrity finding; drop the
        // error's generic prefix.
        let message = message
            .strip_prefix("integrity violation: ")
            .map(str::to_owned)
            .unwrap_or(message);
        self.problems.push(Problem {
            record: record.map(str::to_owned),
            position,
            message,
            after_rebuilt_state: false,
        });
    }
}

#[derive(Default)]
struct RecordChain {
    /// The record's first event in this vault (an import, for a record
    /// that came with an earlier history).
    first: Option<Event>,
    /// Vault position of its last event seen so far.
    last_position: u64,
    count: u64,
    hash: String,
    broken: bool,
    versions_made: u64,
    sealed: bool,
}

impl Vault<Unlocked> {
    /// Checks the whole vault. `progress(done)` is told about evidence
    /// bytes as they are re-hashed.
    pub fn check(&mut self, progress: &mut dyn FnMut(u64)) -> Result<CheckReport> {
        self.audit(Some(progress))
    }

    /// The verification `check` runs, shared with `export` (and through it
    /// `bundle verify`'s producer) so that what one refuses, all refuse.
    /// With `deep`, every version is opened and every exhibit re-hashed
    /// (told to `progress`); without, everything else is still checked:
    /// the schema, the signed chain, the sealed vault state against the
    /// chain, and every row the state says must exist (users, key slots,
    /// records, versions, seals) against the file.
    ///
    /// The passes read the vault in several snapshots (the key directory,
    /// the users and slots, the log), so another process's commit between
    /// them (a user added, a passphrase changed) could make a good event
    /// look signed by an unknown key. A report with problems is therefore
    /// redone, up to twice, when another connection committed while it was
    /// made (SQLite's `data_version`); a real problem is found again.
    pub fn audit(&mut self, mut deep: Option<&mut dyn FnMut(u64)>) -> Result<CheckReport> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let before = data_version(self.store().conn())?;
            let pass: Option<&mut dyn FnMut(u64)> = match deep {
                Some(ref mut f) => Some(&mut **f),
                None => None,
            };
            let report = self.audit_once(pass)?;
            let changed = data_version(self.store().conn())? != before;
            if report.problems.is_empty() || !changed || attempt >= 3 {
                return Ok(report);
            }
        }
    }

    fn audit_once(&mut self, deep: Option<&mut dyn FnMut(u64)>) -> Result<CheckReport> {
        let directory = self.key_directory()?;
        let limits = self.key_limits()?;
        let kdf_default = self.kdf_default().ok();
        let mut report = CheckReport::default();
        if let Err(e) = crate::store::check_schema(self.store().conn()) {
            report.problem(None, None, e.to_string());
        }
        for slot in slots(self.store().conn(), SlotKind::Passphrase)? {
            if let Some(k) = slot.kdf {
                let too_costly = kdf_default
                    .as_ref()
                    .and_then(|d| crate::vault::slots::check_slot_cost(&slot, d).err());
                if k.validate().is_err() {
                    report.problem(
                        None,
                        None,
                        format!(
                            "key slot {} has out-of-bounds KDF parameters",
                            slot.slot_id.short()
                        ),
                    );
                } else if let Some(why) = too_costly {
                    report.problem(None, None, why);
                } else if k.is_weak() {
                    report.warnings.push(format!(
                        "key slot {} uses weak KDF settings (m={} KiB, t={}): made with --insecure-fast-kdf?",
                        slot.slot_id.short(),
                        k.memory_kib,
                        k.time_cost
                    ));
                }
            }
        }
        let users_ok = self.check_users_and_slots(&mut report);
        if let Err(e) = users_ok {
            report.problem(None, None, e.to_string());
        }
        let deep_index = deep.is_some();
        self.read(|tx, session| {
            let (chains, folded) = check_events(tx, session, &directory, &limits, &mut report)?;
            let state = check_state(tx, session, &folded, &mut report)?;
            check_records(tx, session, &chains, &state, &mut report, deep)?;
            check_imported_histories(tx, session, &chains, &mut report)?;
            for problem in index_problems(tx, session, deep_index)? {
                report.problem(None, None, problem);
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// Users and key slots against the vault state: every listed user has
    /// their row, profile (of the listed version) and slot; no other user
    /// row or slot is in the file; the recovery slots are the listed ones.
    fn check_users_and_slots(&mut self, report: &mut CheckReport) -> Result<()> {
        // One read snapshot for the state, the user rows, the profiles and
        // the slots: read one by one, a passphrase change or user removal
        // committed by another process in between looked like slots "put
        // back from an old copy" or "missing" (a false alarm found by
        // tests/crash.rs, issue 17).
        self.store().conn().execute_batch("BEGIN DEFERRED")?;
        let result = self.users_and_slots_in_snapshot(report);
        // Nothing was written: ending the snapshot cannot lose anything.
        let _ = self.store().conn().execute_batch("ROLLBACK");
        result
    }

    fn users_and_slots_in_snapshot(&mut self, report: &mut CheckReport) -> Result<()> {
        let vault_id = self.id();
        let events_key = &self.keys().events;
        let conn = self.store().conn();
        let state = match state::stored(conn, &vault_id, events_key)? {
            state::Stored::Found(s) => *s,
            // Reported with the rest of the state by `check_state`.
            _ => return Ok(()),
        };
        let user_rows = crate::store::rows::users(conn)?;
        let in_table: Vec<String> = user_rows.iter().map(|r| r.user_id.to_hex()).collect();
        let in_state: Vec<String> = state.users.iter().map(|u| u.id.clone()).collect();
        for id in in_table.iter().filter(|id| !in_state.contains(id)) {
            report.problem(None, None, format!(
                "user row {id} is not a user of the vault's sealed state: it was inserted or put back from an old copy"
            ));
        }
        for id in in_state.iter().filter(|id| !in_table.contains(id)) {
            report.problem(
                None,
                None,
                format!("user {id} is missing from the users table (deleted)"),
            );
        }
        let common: Vec<&String> = in_table.iter().filter(|id| in_state.contains(id)).collect();
        let state_order: Vec<&String> =
            in_state.iter().filter(|id| in_table.contains(id)).collect();
        if common != state_order {
            report.problem(None, None, "the users table lists the users in another order than the vault's sealed state: its rows were reordered".to_owned());
        }
        let profiles = self.profile_problems(&state);
        for why in profiles {
            report.problem(None, None, why);
        }
        if let Some(why) = self.settings_problem(&state) {
            report.problem(None, None, why);
        }
        let conn = self.store().conn();
        let pass = slots(conn, SlotKind::Passphrase)?;
        for slot in &pass {
            let hex = slot.slot_id.to_hex();
            let owner = state
                .users
                .iter()
                .find(|u| u.slot.as_deref() == Some(hex.as_str()));
            match owner {
                None => report.problem(None, None, format!(
                    "key slot {} is not a slot of the vault's sealed state: it was inserted or put back from an old copy (an old passphrase or a removed user)",
                    slot.slot_id.short()
                )),
                Some(u) if slot.user_id.map(|i| i.to_hex()).as_deref() != Some(u.id.as_str()) => report.problem(None, None, format!(
                    "key slot {} was moved to another user", slot.slot_id.short()
                )),
                Some(u) if u.slot_sha256.as_ref().is_some_and(|d| *d != crate::vault::slots::slot_digest(slot)) => report.problem(None, None, format!(
                    "key slot {} of user {} was altered or damaged in the file: its contents differ from what the vault recorded (that user may no longer be able to unlock)",
                    slot.slot_id.short(), u.id
                )),
                Some(_) => {}
            }
        }
        for user in &state.users {
            if let Some(slot) = &user.slot {
                if !pass.iter().any(|s| s.slot_id.to_hex() == *slot) {
                    report.problem(None, None, format!(
                        "the key slot of user {} is missing (deleted): they can no longer unlock", user.id
                    ));
                }
            }
        }
        let recovery = slots(conn, SlotKind::Recovery)?;
        for slot in &recovery {
            let hex = slot.slot_id.to_hex();
            if state
                .recovery_slot_sha256
                .get(&hex)
                .is_some_and(|d| *d != crate::vault::slots::slot_digest(slot))
            {
                report.problem(None, None, format!(
                    "recovery slot {} was altered or damaged in the file: its contents differ from what the vault recorded (the recovery key may no longer open the vault)",
                    slot.slot_id.short()
                ));
            }
            if !state.recovery_slots.contains(&slot.slot_id.to_hex()) {
                report.problem(None, None, format!(
                    "recovery slot {} is not the vault's: it was inserted or put back from an old copy",
                    slot.slot_id.short()
                ));
            }
        }
        for slot in &state.recovery_slots {
            if !recovery.iter().any(|s| s.slot_id.to_hex() == *slot) {
                report.problem(None, None, format!(
                    "the recovery slot {slot} is missing (deleted): the recovery key can no longer open the vault"
                ));
            }
        }
        Ok(())
    }
}

/// The histories imported records brought from earlier vaults: each chain
/// must still verify with the keys it came with.
fn check_imported_histories(
    conn: &rusqlite::Connection,
    session: &Session<'_>,
    chains: &HashMap<String, RecordChain>,
    report: &mut CheckReport,
) -> Result<()> {
    let kept = rows::imported_custody_records(conn)?;
    let mut lost: Vec<&String> = chains
        .iter()
        .filter(|(hex, c)| {
            c.first.as_ref().is_some_and(chain::brought_history) && !kept.contains(hex)
        })
        .map(|(hex, _)| hex)
        .collect();
    lost.sort();
    for hex in lost {
        report.problem(
            Some(hex),
            None,
            format!("record {hex} was imported with the custody history of an earlier vault, which is missing (deleted)"),
        );
    }
    for hex in kept {
        let Ok(id) = hex.parse::<Id>() else {
            report.problem(
                Some(&hex),
                None,
                format!("an imported custody history is filed under a malformed record id {hex:?}"),
            );
            continue;
        };
        let history = match crate::records::imported::imported_history(conn, session, &id) {
            Ok(Some(h)) => h,
            Ok(None) => continue,
            Err(Error::Integrity(why)) => {
                report.problem(Some(&hex), None, why.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        let verified_all = history.verify(&hex);
        for (n, verified) in verified_all.iter().enumerate() {
            // Each chain must be whole up to the import that followed it.
            let next = match history.chains.get(n + 1) {
                Some(text) => chain::readable_events(text).into_iter().next(),
                None => chains.get(&hex).and_then(|c| c.first.clone()),
            };
            if verified.is_intact() {
                if let Some(why) = chain::check_handover(verified, next.as_ref()) {
                    report.problem(
                        Some(&hex),
                        None,
                        format!(
                            "record {hex}: the custody history it brought from an earlier vault (chain {}) was cut short or padded before the hand-over: {why}",
                            n + 1
                        ),
                    );
                }
            }
            if let Some((pos, why)) = &verified.broken {
                // `pos` counts within that chain, not this vault's log.
                report.problem(
                    Some(&hex),
                    None,
                    format!(
                        "record {hex}: the custody history it brought from an earlier vault (chain {}, line {pos}) is broken: {why}",
                        n + 1
                    ),
                );
            }
        }
    }
    Ok(())
}

fn check_events(
    conn: &rusqlite::Connection,
    session: &Session<'_>,
    directory: &KeyDirectory,
    limits: &HashMap<String, KeyLimit>,
    report: &mut CheckReport,
) -> Result<(HashMap<String, RecordChain>, VaultState)> {
    let mut folded = VaultState::empty();
    let vault_hex = session.vault_id.to_hex();
    let mut chains: HashMap<String, RecordChain> = HashMap::new();
    let mut expected_position = 1u64;
    let mut prev_hash: Option<String> = Some(GENESIS.to_owned());
    let mut global_broken = false;
    // Events that cannot be read belong to some record we cannot name; a
    // record whose chain then breaks is told which of them it probably lost.
    let mut unreadable: Vec<u64> = Vec::new();
    rows::for_each_event(conn, |position, sealed| {
        report.events += 1;
        if position != expected_position && !global_broken {
            report.problem(
                None,
                Some(expected_position),
                format!(
                    "custody event {expected_position} is missing (the next one is {position})"
                ),
            );
            global_broken = true;
        }
        expected_position = position + 1;
        let signed = match open_event(&session.vault_id, &session.keys.events, position, sealed) {
            Ok(s) => s,
            Err(e) => {
                report.problem(None, Some(position), e.to_string());
                global_broken = true;
                prev_hash = None;
                unreadable.push(position);
                return Ok(());
            }
        };
        let hash = signed.hash();
        let event = match signed.event() {
            Ok(e) => e,
            Err(e) => {
                report.problem(None, Some(position), e.to_string());
                prev_hash = Some(hash);
                unreadable.push(position);
                return Ok(());
            }
        };
        let rec = event.record.clone();
        if event.details.get(LOG_HEAD_REBUILT) == Some(&serde_json::Value::Bool(true)) {
            report.rebuilt_mark(&rec, position, format!(
                "custody event {position} was written while the log's sealed head was missing or damaged: \
                 events may have been cut from the log's end before it"
            ));
        }
        let chain = chains.entry(rec.clone()).or_default();
        if event.position != position || event.vault != vault_hex {
            report.problem(
                Some(&rec),
                Some(position),
                format!(
                    "custody event {position} claims to be event {} of vault {}: copied or moved",
                    event.position, event.vault
                ),
            );
        }
        match directory.get(&event.key_id) {
            Some((owner, _)) if *owner != event.user => report.problem(Some(&rec), Some(position), format!(
                "custody event {position} of record {rec} claims user {:?} but is signed with {owner:?}'s key (forged)",
                event.user
            )),
            Some((_, key)) if signed.verify_with(key) => {}
            Some(_) => report.problem(Some(&rec), Some(position), format!(
                "custody event {position} of record {rec}: the signature does not verify (forged or altered)"
            )),
            None => report.problem(Some(&rec), Some(position), format!(
                "custody event {position} of record {rec} is signed by key {}, which no user of this vault has (forged)",
                event.key_id
            )),
        }
        if let Some(limit) = limits.get(&event.key_id) {
            if let Some(why) = limit_problem(limit, &event) {
                report.problem(Some(&rec), Some(position), why);
            }
        }
        if let Err(why) = folded.apply(&event, &hash) {
            report.problem(
                Some(&rec),
                Some(position),
                format!("custody event {position} is refused: {why}"),
            );
        }
        if let Some(prev) = &prev_hash {
            if event.prev != *prev && !global_broken {
                report.problem(Some(&rec), Some(position), format!(
                    "the vault's custody chain breaks at event {position}: an event before it was removed, altered, reordered or inserted"
                ));
                global_broken = true;
            }
        }
        let expected_prev = if chain.count == 0 {
            GENESIS.to_owned()
        } else {
            chain.hash.clone()
        };
        if !chain.broken
            && (event.prev_record != expected_prev || event.record_position != chain.count + 1)
        {
            let lost = unreadable
                .iter()
                .find(|p| **p > chain.last_position && **p < position)
                .copied();
            match lost {
                Some(lost) => report.problem(Some(&rec), Some(lost), format!(
                    "record {rec}: its custody chain breaks at event {position} (record event {}); \
                     the event it lost is probably {lost}, which cannot be read",
                    event.record_position
                )),
                None => report.problem(Some(&rec), Some(position), format!(
                    "record {rec}: its custody chain breaks at event {position} (record event {}): an event was removed, altered, reordered or inserted",
                    event.record_position
                )),
            }
            chain.broken = true;
        }
        chain.last_position = position;
        if chain.count == 0 {
            chain.first = Some(event.clone());
        }
        chain.count += 1;
        chain.hash = hash.clone();
        match event.action {
            Action::Create | Action::Amend => chain.versions_made += 1,
            Action::Import => {
                chain.versions_made += event
                    .details
                    .get("versions")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(1)
            }
            Action::Seal => chain.sealed = true,
            _ => {}
        }
        prev_hash = Some(hash);
        Ok(())
    })?;
    if expected_position - 1 != folded.log.count {
        // Unreadable events were not folded: the fold's log is short.
        folded.log.count = expected_position - 1;
        if let Some(h) = prev_hash {
            folded.log.hash = h;
        }
    }
    Ok((chains, folded))
}

/// Why `event` may not be signed with a key of `limit`, if so.
pub(crate) fn limit_problem(limit: &KeyLimit, event: &Event) -> Option<String> {
    let position = event.position;
    if let Some(until) = limit.until_position {
        if position > until {
            return Some(format!(
                "custody event {position} of record {} is signed with a key of {:?} that was retired or whose user was removed at event {until} (forged, or signed with an old copy)",
                event.record, limit.owner
            ));
        }
    } else if let Some(removed_at) = &limit.removed_at {
        // Users removed by a version-1 build: times compare as text (both
        // RFC 3339 UTC with whole seconds).
        if event.time > *removed_at {
            return Some(format!(
                "custody event {position} of record {} is signed by {:?} at {}, after that user was removed ({removed_at})",
                event.record, event.user, event.time
            ));
        }
    }
    if let Some(from) = limit.from_position {
        if position < from {
            return Some(format!(
                "custody event {position} of record {} is signed with a key of {:?} that only exists from event {from} (forged)",
                event.record, limit.owner
            ));
        }
    }
    None
}

/// The sealed vault state against the fold of the chain. Returns the
/// state the rows are then compared with: the stored one when it opens,
/// else the fold.
fn check_state(
    conn: &rusqlite::Connection,
    session: &Session<'_>,
    folded: &VaultState,
    report: &mut CheckReport,
) -> Result<VaultState> {
    let legacy = rows::legacy_head_count(conn)?;
    let stored = match state::stored(conn, &session.vault_id, &session.keys.events)? {
        state::Stored::Found(s) => *s,
        state::Stored::Missing => {
            if legacy > 0 {
                report.warnings.push(
                    "this vault was made by version 1 and is migrated at its next unlock".into(),
                );
            } else if folded.log.count > 0 {
                report.problem(
                    None,
                    None,
                    "the vault's sealed state is missing (removed)".to_owned(),
                );
            }
            return Ok(folded.clone());
        }
        state::Stored::Unreadable => {
            report.problem(
                None,
                None,
                "the vault's sealed state does not authenticate (altered or moved)".to_owned(),
            );
            return Ok(folded.clone());
        }
    };
    if legacy > 0 {
        report.problem(None, None, format!(
            "the retired custody_heads table holds {legacy} row(s); a migrated vault has none (inserted)"
        ));
    }
    let (count, last) = (stored.log.count, folded.log.count);
    if count != last || stored.log.hash != folded.log.hash {
        let why = if count > last {
            "events were removed from its end"
        } else if count < last {
            "its state was rolled back or events were added after it"
        } else {
            "its last event was replaced"
        };
        report.problem(
            None,
            Some(last.min(count) + 1),
            format!(
            "the custody log has {last} events but the vault's sealed state says {count}: {why}"
        ),
        );
        // Go on: the chains that differ name the records concerned.
    }
    if stored.users != folded.users {
        report.problem(None, None, "the users and key slots in the vault's sealed state are not those its custody chain records".to_owned());
    }
    if stored.recovery_slots != folded.recovery_slots
        || stored.recovery_slot_sha256 != folded.recovery_slot_sha256
    {
        report.problem(None, None, "the recovery slots in the vault's sealed state are not those its custody chain records".to_owned());
    }
    if stored.fold_version != folded.fold_version {
        report.problem(None, None, format!(
            "the vault's sealed state says its search texts are of fold version {} but its custody chain records {}",
            stored.fold_version, folded.fold_version
        ));
    }
    if stored.signers != folded.signers {
        report.problem(None, None, "the pinned signers in the vault's sealed state are not those its custody chain records".to_owned());
    }
    for (id, chain) in &folded.chains {
        match stored.chains.get(id) {
            Some(kept) if kept == chain => {}
            Some(kept) if kept.events != chain.events || kept.last != chain.last => {
                report.problem(Some(id), Some(chain.last.min(kept.last) + 1), format!(
                    "record {id}: its custody chain has {} event(s), the last at event {}, but the vault's sealed state says {}, the last at event {}: {}",
                    chain.events,
                    chain.last,
                    kept.events,
                    kept.last,
                    if kept.events > chain.events { "events were removed" } else { "events were added or the state was rolled back" }
                ));
            }
            _ => report.problem(
                Some(id),
                None,
                format!("record {id}: the vault's sealed state does not match its custody chain"),
            ),
        }
    }
    for id in stored
        .chains
        .keys()
        .filter(|id| !folded.chains.contains_key(*id))
    {
        report.problem(
            Some(id),
            None,
            format!(
                "record {id} is in the vault's sealed state but has no custody events (deleted)"
            ),
        );
    }
    Ok(stored)
}

fn check_records(
    conn: &rusqlite::Connection,
    session: &Session<'_>,
    chains: &HashMap<String, RecordChain>,
    state: &VaultState,
    report: &mut CheckReport,
    mut deep: Option<&mut dyn FnMut(u64)>,
) -> Result<()> {
    let key = &session.keys.records;
    let mut evidence_done = 0u64;
    let records = rows::all_records(conn)?;
    // A record whose rows were deleted still has its events in the chain.
    let present: std::collections::HashSet<String> =
        records.iter().map(|r| r.id.to_hex()).collect();
    let mut vanished: Vec<&String> = state
        .record_ids()
        .map(|(id, _)| id)
        .chain(chains.keys().filter(|id| {
            !state.chains.contains_key(*id)
                && !chains[*id].first.as_ref().is_some_and(|e| {
                    Kind::from_stored(&e.record_kind).is_some_and(|k| !k.is_record())
                })
        }))
        .filter(|id| !present.contains(*id))
        .collect();
    vanished.dedup();
    vanished.sort();
    for id in vanished {
        report.problem(Some(id), None, format!(
            "record {id} has custody events but is missing from the vault: it was deleted without a trace"
        ));
    }
    for record in records {
        report.records += 1;
        let id = record.id;
        let hex = id.to_hex();
        let Some(kind) = Kind::from_stored(&record.kind) else {
            report.problem(
                Some(&hex),
                None,
                format!("record {hex} has unknown kind {:?}", record.kind),
            );
            continue;
        };
        let versions = rows::versions(conn, &id)?;
        if state
            .chain(&hex)
            .is_some_and(|c| c.destroyed && c.kind == kind.as_str())
        {
            // Destroyed: its id, kind and events stay; nothing else may.
            let leftovers = versions.len() as u64
                + u64::from(rows::search_text(conn, &id)?.is_some())
                + u64::from(rows::seal(conn, &id)?.is_some())
                + rows::chunk_count(conn, &id)?;
            if leftovers > 0 {
                report.problem(
                    Some(&hex),
                    None,
                    format!(
                        "{} {hex} was destroyed (its custody chain says so) but the file still \
                         holds {leftovers} row(s) of its content: they were put back",
                        kind.as_str()
                    ),
                );
            }
            continue;
        }
        if versions.is_empty() {
            report.problem(
                Some(&hex),
                None,
                format!("{} {hex} has no versions", kind.as_str()),
            );
        }
        for (i, v) in versions.iter().enumerate() {
            report.versions += 1;
            if v.version != i as u64 + 1 {
                report.problem(
                    Some(&hex),
                    None,
                    format!("{} {hex}: version {} is missing", kind.as_str(), i + 1),
                );
            }
            if deep.is_some() {
                if let Err(e) = check_version(session, kind, &id, v) {
                    report.problem(Some(&hex), None, e.to_string());
                }
            }
        }
        match state.chain(&hex) {
            None => report.problem(Some(&hex), None, format!(
                "{} {hex} is in the file but not in the vault's sealed state: it was inserted or put back from an old copy",
                kind.as_str()
            )),
            Some(c) => {
                if c.kind != kind.as_str() {
                    report.problem(Some(&hex), None, format!(
                        "record {hex} is stored as a {} but its custody chain made a {}", kind.as_str(), c.kind
                    ));
                }
                if c.versions != versions.len() as u64 {
                    report.problem(Some(&hex), None, format!(
                        "{} {hex} has {} version(s) in the file but the vault's sealed state records {}: {}",
                        kind.as_str(),
                        versions.len(),
                        c.versions,
                        if c.versions > versions.len() as u64 { "versions were deleted" } else { "versions were inserted" }
                    ));
                }
            }
        }
        if kind == Kind::Statement {
            match rows::search_text(conn, &id)? {
                None => report.problem(
                    Some(&hex),
                    None,
                    format!("statement {hex} has no search text"),
                ),
                Some((v, sealed)) => {
                    let opened = if deep.is_some() {
                        open_search_text(session, &id, v, &sealed).map(|_| ())
                    } else {
                        Ok(())
                    };
                    if let Err(e) = opened {
                        report.problem(Some(&hex), None, e.to_string());
                    } else if v != versions.len() as u64 {
                        report.problem(Some(&hex), None, format!(
                            "statement {hex}: its search text is of version {v}, not of the latest ({})",
                            versions.len()
                        ));
                    }
                }
            }
        }
        if let (Kind::Evidence, false, Some(progress)) = (kind, versions.is_empty(), deep.as_mut())
        {
            let result = with_reader(conn, session, &id, |reader| {
                let mut sink = ProgressSink {
                    done: &mut evidence_done,
                    progress: &mut **progress,
                };
                io::copy(reader, &mut sink)
                    .map_err(|e| crate::records::evidence::reader_error(e, "check"))
            });
            match result {
                Ok(n) => report.evidence_bytes += n,
                Err(e) => report.problem(Some(&hex), None, e.to_string()),
            }
        }
        let sealed = match rows::seal(conn, &id)? {
            Some(blob) => {
                let ok: Result<serde_json::Value> =
                    open_field(key, &session.vault_id, kind, &id, 1, "seal", &blob);
                if let Err(e) = ok {
                    report.problem(Some(&hex), None, e.to_string());
                }
                true
            }
            None => false,
        };
        if state.chain(&hex).is_some_and(|c| c.sealed != sealed) {
            report.problem(
                Some(&hex),
                None,
                format!(
                    "{} {hex}: the vault's sealed state says it is {}sealed but its seal row is {}",
                    kind.as_str(),
                    if sealed { "not " } else { "" },
                    if sealed {
                        "there (inserted)"
                    } else {
                        "missing (deleted)"
                    }
                ),
            );
        }
        match chains.get(&hex) {
            None => report.problem(
                Some(&hex),
                None,
                format!("{} {hex} has no custody events", kind.as_str()),
            ),
            Some(chain) => {
                if kind == Kind::Statement
                    && !chain.broken
                    && chain.versions_made != versions.len() as u64
                {
                    report.problem(
                        Some(&hex),
                        None,
                        format!(
                            "statement {hex} has {} versions but its custody chain records {}",
                            versions.len(),
                            chain.versions_made
                        ),
                    );
                }
                if !chain.broken && chain.sealed != sealed {
                    report.problem(
                        Some(&hex),
                        None,
                        format!(
                            "{} {hex}: the seal {} its custody chain",
                            kind.as_str(),
                            if sealed {
                                "is not recorded in"
                            } else {
                                "recorded in its chain is missing from"
                            }
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

fn check_version(session: &Session<'_>, kind: Kind, id: &Id, v: &rows::VersionRow) -> Result<()> {
    let key = &session.keys.records;
    let overview: serde_json::Value = open_field(
        key,
        &session.vault_id,
        kind,
        id,
        v.version,
        "overview",
        &v.overview,
    )?;
    if kind == Kind::Statement {
        let body: String = match &v.body {
            Some(b) => open_field(key, &session.vault_id, kind, id, v.version, "body", b)?,
            None => {
                return Err(crate::error::Error::Integrity(Integrity::RecordDamaged {
                    record: *id,
                    problem: format!("statement {id}: version {} has no body", v.version),
                }))
            }
        };
        use sha2::{Digest, Sha256};
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        if overview.get("body_sha256").and_then(|x| x.as_str()) != Some(digest.as_str()) {
            return Err(crate::error::Error::Integrity(Integrity::RecordDamaged {
                record: *id,
                problem: format!(
                    "statement {id}: version {} body does not match its recorded SHA-256",
                    v.version
                ),
            }));
        }
    }
    Ok(())
}

struct ProgressSink<'a> {
    done: &'a mut u64,
    progress: &'a mut dyn FnMut(u64),
}

impl io::Write for ProgressSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        *self.done += buf.len() as u64;
        (self.progress)(*self.done);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// SQLite's count of commits by other connections (`PRAGMA data_version`).
fn data_version(conn: &rusqlite::Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "data_version", |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_at(position: u64, time: &str) -> super::Event {
        super::Event {
            event_type: crate::custody::EVENT_TYPE.into(),
            vault: "v".into(),
            position,
            record: "r".into(),
            record_kind: "statement".into(),
            record_position: 1,
            action: Action::View,
            user: "amina".into(),
            key_id: "k".into(),
            time: time.into(),
            details: serde_json::json!({}),
            prev: GENESIS.into(),
            prev_record: GENESIS.into(),
        }
    }

    #[test]
    fn a_retired_key_signs_up_to_its_retirement_position_and_no_further() {
        let limit = KeyLimit {
            owner: "amina".into(),
            until_position: Some(10),
            from_position: Some(3),
            removed_at: None,
        };
        assert!(limit_problem(&limit, &event_at(10, "2026-01-01T00:00:00Z")).is_none());
        let late = limit_problem(&limit, &event_at(11, "2020-01-01T00:00:00Z")).unwrap();
        assert!(late.contains("retired"), "{late}");
        let early = limit_problem(&limit, &event_at(2, "2026-01-01T00:00:00Z")).unwrap();
        assert!(early.contains("only exists from event 3"), "{early}");
    }

    #[test]
    fn a_removal_by_position_is_not_fooled_by_the_signers_clock() {
        // A clock set back does not hide an event after the removal.
        let limit = KeyLimit {
            owner: "amina".into(),
            until_position: Some(7),
            from_position: None,
            removed_at: Some("2026-06-01T00:00:00Z".into()),
        };
        assert!(limit_problem(&limit, &event_at(8, "2020-01-01T00:00:00Z")).is_some());
        // A version-1 removal (no position) still goes by time.
        let v1 = KeyLimit {
            until_position: None,
            ..limit
        };
        assert!(limit_problem(&v1, &event_at(8, "2020-01-01T00:00:00Z")).is_none());
        assert!(limit_problem(&v1, &event_at(8, "2026-07-01T00:00:00Z")).is_some());
    }
}
