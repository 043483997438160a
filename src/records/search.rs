//! Running a search over the vault: decrypt each statement's sealed folded
//! search text in memory, match and rank with [`crate::formats::search`], then
//! decrypt only the bodies of the hits shown, for snippets. Nothing
//! decrypted is written anywhere; each hit shown is logged as a view of its
//! statement (the snippet is testimony).

use serde::Serialize;

use super::case::{all_cases, find_case};
use super::open_or_note;
use super::statement::{open_search_text, read_version, searchable_text};
use crate::custody::Action;
use crate::format::Kind;
use std::sync::mpsc::sync_channel;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::format::Id;
use crate::formats::search::{snippet, Query, Snippet};
use crate::store::records as rows;
use crate::vault::{Session, Unlocked, Vault};

/// One search result.
#[derive(Clone, Debug, Serialize)]
pub struct SearchHit {
    /// Statement id.
    #[serde(serialize_with = "crate::vault::users::ser_id")]
    pub id: Id,
    /// The case's reference.
    pub case_reference: String,
    /// Latest version.
    pub version: u64,
    /// Witness name (as stored; the CLI decides what to show).
    pub witness: String,
    /// Rank score (higher first).
    pub score: f64,
    /// Excerpt around the first hit.
    pub snippet: String,
    /// Byte ranges of `snippet` to highlight.
    #[serde(skip)]
    pub highlights: Vec<std::ops::Range<usize>>,
}

impl SearchHit {
    /// The snippet with highlights wrapped in `open`/`close`.
    pub fn render(&self, open: &str, close: &str) -> String {
        Snippet {
            text: self.snippet.clone(),
            highlights: self.highlights.clone(),
        }
        .render(open, close)
    }
}

/// Search texts handed to a scoring thread at a time.
const BATCH_ROWS: usize = 64;
/// Scoring threads at most.
const MAX_WORKERS: usize = 8;

type Scored = Vec<(f64, Id, u64)>;

/// Decrypts and scores every statement's search text. The rows are read on
/// this thread and handed in small batches (bounded memory) to one scoring
/// thread per core: decryption and matching dominate the cost. Returns the
/// scored hits and the statements whose search text did not authenticate.
fn score_all(tx: &Connection, session: &Session<'_>, query: &Query) -> Result<(Scored, Vec<Id>)> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS);
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (sender, batches) = sync_channel::<Vec<(Id, u64, Vec<u8>)>>(2);
            senders.push(sender);
            handles.push(scope.spawn(move || -> Result<(Scored, Vec<Id>)> {
                let (mut scored, mut damaged) = (Vec::new(), Vec::new());
                for batch in batches {
                    for (id, version, sealed) in batch {
                        let opened = open_search_text(session, &id, version, &sealed);
                        if let Some(folded) = open_or_note(opened, id, &mut damaged)? {
                            if let Some(score) = query.score(&folded) {
                                scored.push((score, id, version));
                            }
                        }
                    }
                }
                Ok((scored, damaged))
            }));
        }
        // Withdrawn (and destroyed) statements are never searched.
        let retired: std::collections::HashSet<String> = session
            .state(tx)?
            .state
            .record_ids()
            .filter(|(_, c)| c.retired())
            .map(|(id, _)| id.clone())
            .collect();
        let stopped = || Error::Internal("a search thread stopped early".into());
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        let mut turn = 0;
        let mut read = rows::for_each_search_text(tx, |id, version, sealed| {
            if retired.contains(&id.to_hex()) {
                return Ok(());
            }
            batch.push((id, version, sealed.to_vec()));
            if batch.len() == BATCH_ROWS {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                senders[turn % workers].send(full).map_err(|_| stopped())?;
                turn += 1;
            }
            Ok(())
        });
        if read.is_ok() && !batch.is_empty() {
            read = senders[turn % workers].send(batch).map_err(|_| stopped());
        }
        drop(senders);
        let (mut scored, mut damaged) = (Vec::new(), Vec::new());
        // A worker's own error explains a "stopped early": report it first.
        for handle in handles {
            let (s, d) = handle
                .join()
                .map_err(|_| Error::Internal("a search thread panicked".into()))??;
            scored.extend(s);
            damaged.extend(d);
        }
        read?;
        damaged.sort();
        Ok((scored, damaged))
    })
}

/// Snippet width in characters.
const SNIPPET_WIDTH: usize = 120;

impl Vault<Unlocked> {
    /// Searches the latest version of every statement (optionally in one
    /// case). All words must match; "quoted phrases" match in order.
    pub fn search(
        &mut self,
        query: &str,
        case: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<SearchHit>, Vec<Id>)> {
        let query = Query::parse(query).map_err(|e| {
            crate::error::Error::Invalid(crate::error::Invalid::Query {
                problem: e.to_string(),
            })
        })?;
        // A write transaction: every hit shown (its snippet is testimony)
        // is logged as a view of that statement, with the results.
        self.write(|tx, session| {
            let case_filter = match case {
                Some(reference) => Some(find_case(tx, session, reference)?.id.to_hex()),
                None => None,
            };
            // Pass 1: every statement's search text (small, apart from the
            // bodies), decrypted in memory, matched and scored on every core.
            let (mut scored, mut damaged) = score_all(tx, session, &query)?;
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            // Pass 2: only the best ones are opened further (metadata for the
            // case filter, the body for the snippet).
            let cases = all_cases(tx, session)?;
            let mut hits = Vec::with_capacity(limit.min(scored.len()));
            for (score, id, version) in scored {
                if hits.len() >= limit {
                    break;
                }
                let Some(shown) = open_or_note(
                    read_version(tx, session, &id, Some(version)),
                    id,
                    &mut damaged,
                )?
                else {
                    continue;
                };
                let overview = &shown.overview;
                if case_filter.as_ref().is_some_and(|c| *c != overview.case) {
                    continue;
                }
                // Prefer an excerpt of the testimony itself; fall back to the
                // metadata when only a name or place matched.
                let snip = snippet(&shown.body, &query, SNIPPET_WIDTH)
                    .or_else(|| {
                        snippet(
                            &searchable_text(&overview.fields, ""),
                            &query,
                            SNIPPET_WIDTH,
                        )
                    })
                    .unwrap_or(Snippet {
                        text: String::new(),
                        highlights: Vec::new(),
                    });
                let case_reference = cases
                    .iter()
                    .find(|c| c.id.to_hex() == overview.case)
                    .map(|c| c.data.reference.clone())
                    .unwrap_or_default();
                hits.push(SearchHit {
                    id,
                    case_reference,
                    version,
                    witness: overview.fields.witness.clone(),
                    score,
                    snippet: snip.text,
                    highlights: snip.highlights,
                });
            }
            for hit in &hits {
                session.append(
                    tx,
                    Kind::Statement,
                    &hit.id,
                    Action::View,
                    serde_json::json!({ "version": hit.version, "via": "search" }),
                )?;
            }
            Ok((hits, damaged))
        })
    }
}
