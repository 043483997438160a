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

use serde::{Deserialize, Serialize};

use super::{chain, open_event, Action, KeyDirectory, GENESIS};
use crate::crypto::aead::open_value;
use crate::error::{Error, Result};
use crate::format::{Binding, Id};
use crate::records::evidence::with_reader;
use crate::records::statement::open_search_text;
use crate::records::{open_field, Kind};
use crate::store::records as rows;
use crate::store::rows::{slots, SlotKind};
use crate::vault::{Session, Unlocked, Vault};

/// One problem found.
#[derive(Clone, Debug, Serialize)]
pub struct Problem {
    /// The record concerned (id), if any.
    pub record: Option<String>,
    /// The event position concerned, if any (the first bad one).
    pub position: Option<u64>,
    /// What is wrong.
    pub message: String,
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
        });
    }
}

#[derive(Default)]
struct RecordChain {
    /// The record's first event in this vault (an import, for a record
    /// that came with an earlier history).
    first: Option<super::Event>,
    /// Vault position of its last event seen so far.
    last_position: u64,
    count: u64,
    hash: String,
    broken: bool,
    versions_made: u64,
    sealed: bool,
}

#[derive(Deserialize)]
struct Head {
    count: u64,
    hash: String,
}

impl Vault<Unlocked> {
    /// Checks the whole vault. `progress(done, total)` is told about
    /// evidence bytes as they are re-hashed.
    pub fn check(&mut self, progress: &mut dyn FnMut(u64)) -> Result<CheckReport> {
        let directory = self.key_directory()?;
        let removed = self.removed_keys()?;
        let mut report = CheckReport::default();
        for slot in slots(self.store().conn(), SlotKind::Passphrase)? {
            if let Some(k) = slot.kdf {
                if k.validate().is_err() {
                    report.problem(
                        None,
                        None,
                        format!(
                            "key slot {} has out-of-bounds KDF parameters",
                            slot.slot_id.short()
                        ),
                    );
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
        self.read(|tx, session| {
            let chains = check_events(tx, session, &directory, &removed, &mut report)?;
            check_records(tx, session, &chains, &mut report, progress)?;
            check_imported_histories(tx, session, &chains, &mut report)?;
            Ok(())
        })?;
        Ok(report)
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
        let history = match chain::imported_history(conn, session, &id) {
            Ok(Some(h)) => h,
            Ok(None) => continue,
            Err(Error::Integrity(why)) => {
                report.problem(Some(&hex), None, why);
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
    removed: &HashMap<String, String>,
    report: &mut CheckReport,
) -> Result<HashMap<String, RecordChain>> {
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
        if event.details.get(super::LOG_HEAD_REBUILT) == Some(&serde_json::Value::Bool(true)) {
            report.problem(Some(&rec), Some(position), format!(
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
        // Times compare as text: both are RFC 3339 UTC with whole seconds.
        if let Some(removed_at) = removed.get(&event.key_id) {
            if event.time > *removed_at {
                report.problem(Some(&rec), Some(position), format!(
                    "custody event {position} of record {rec} is signed by {:?} at {}, after that user was removed ({removed_at})",
                    event.user, event.time
                ));
            }
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
    // The sealed head says how long the log is: events cut from its end
    // leave a consistent but shorter chain that only the head betrays.
    let last = expected_position - 1;
    match super::stored_vault_head(conn, &session.vault_id, &session.keys.events)? {
        None if last > 0 => report.problem(
            None,
            None,
            "the custody log's sealed head is missing (removed)".to_owned(),
        ),
        None => {}
        Some(Err(())) => report.problem(
            None,
            None,
            "the custody log's sealed head does not authenticate (altered or moved)".to_owned(),
        ),
        Some(Ok((count, hash))) => {
            let hash_differs = prev_hash.as_ref().is_some_and(|h| *h != hash);
            if count != last || hash_differs {
                let why = if count > last {
                    "events were removed from its end"
                } else if count < last {
                    "its head was rolled back or events were added after it"
                } else {
                    "its last event was replaced"
                };
                report.problem(
                    None,
                    Some(last.min(count) + 1),
                    format!(
                        "the custody log has {last} events but its sealed head says {count}: {why}"
                    ),
                );
            }
        }
    }
    Ok(chains)
}

fn check_records(
    conn: &rusqlite::Connection,
    session: &Session<'_>,
    chains: &HashMap<String, RecordChain>,
    report: &mut CheckReport,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let key = &session.keys.records;
    let mut evidence_done = 0u64;
    let records = rows::all_records(conn)?;
    // A record whose rows were deleted still has its events in the chain.
    let present: std::collections::HashSet<String> =
        records.iter().map(|r| r.id.to_hex()).collect();
    let mut vanished: Vec<&String> = chains.keys().filter(|id| !present.contains(*id)).collect();
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
            if let Err(e) = check_version(session, kind, &id, v) {
                report.problem(Some(&hex), None, e.to_string());
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
                    if let Err(e) = open_search_text(session, &id, v, &sealed) {
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
        if kind == Kind::Evidence && !versions.is_empty() {
            let result = with_reader(conn, session, &id, |reader| {
                let mut sink = ProgressSink {
                    done: &mut evidence_done,
                    progress,
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
        check_head(conn, session, &hex, chains.get(&hex), report)?;
    }
    Ok(())
}

fn check_head(
    conn: &rusqlite::Connection,
    session: &Session<'_>,
    hex: &str,
    chain: Option<&RecordChain>,
    report: &mut CheckReport,
) -> Result<()> {
    let Some(sealed) = rows::custody_head(conn, hex)? else {
        report.problem(
            Some(hex),
            None,
            format!("record {hex} has no custody chain head"),
        );
        return Ok(());
    };
    let binding = Binding {
        vault_id: &session.vault_id,
        kind: "custody-head",
        record: hex,
        version: 1,
        field: "head",
    };
    match open_value::<Head>(&session.keys.events, &binding, &sealed) {
        Err(_) => report.problem(
            Some(hex),
            None,
            format!("record {hex}: its custody chain head does not authenticate"),
        ),
        Ok(head) => {
            if let Some(chain) = chain {
                if !chain.broken && (head.count != chain.count || head.hash != chain.hash) {
                    let why = if head.count > chain.count {
                        "events were removed from its end"
                    } else if head.count < chain.count {
                        "its head was rolled back or events were added after it"
                    } else {
                        "its last event was replaced"
                    };
                    report.problem(Some(hex), None, format!(
                        "record {hex}: its custody chain has {} events but its sealed head says {}: {why}",
                        chain.count, head.count
                    ));
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
                return Err(crate::Error::Integrity(format!(
                    "statement {id}: version {} has no body",
                    v.version
                )))
            }
        };
        use sha2::{Digest, Sha256};
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        if overview.get("body_sha256").and_then(|x| x.as_str()) != Some(digest.as_str()) {
            return Err(crate::Error::Integrity(format!(
                "statement {id}: version {} body does not match its recorded SHA-256",
                v.version
            )));
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
