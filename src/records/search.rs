//! Running a search over the vault: decrypt each statement's sealed folded
//! search text in memory, match and rank with [`crate::formats::search`], then
//! decrypt only the bodies of the hits shown, for snippets; exhibits are
//! matched on their names, descriptions and sources. Nothing decrypted is
//! written anywhere; one `search` event is logged per search (not one per
//! hit, which buried the log), and opening a hit logs its view.

use serde::Serialize;

use super::case::{all_cases, find_case};
use super::open_or_note;
use super::statement::{read_version, searchable_text};
use crate::crypto::WipedBytes;
use crate::custody::Action;
use crate::format::Kind;
use crate::vault::sealed::{open_search_text, open_search_text_in_place};
use std::collections::{BTreeMap, HashSet};
use std::sync::mpsc::sync_channel;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::format::Id;
use crate::formats::search::{fold, snippet, Query, Snippet};
use crate::formats::search_index::{block_of, query_key};
use crate::store::records as rows;
use crate::vault::index::SearchCache;
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

/// Up to this many candidates are fetched one by one; more are streamed.
const FETCH_ONE_BY_ONE: usize = 2048;

/// Search texts handed to a scoring thread at a time.
const BATCH_ROWS: usize = 64;
/// Scoring threads at most.
const MAX_WORKERS: usize = 8;

type Scored = Vec<(f64, Id, u64)>;

/// Sealed search texts handed to a scoring thread together: one buffer
/// (opened in place, then wiped when dropped) and where each row lies in it.
#[derive(Default)]
struct Batch {
    rows: Vec<(Id, u64, std::ops::Range<usize>)>,
    bytes: WipedBytes,
}

/// Decrypts and scores every statement's search text. The rows are read on
/// this thread and handed in small batches (bounded memory) to one scoring
/// thread per core: decryption and matching dominate the cost. Returns the
/// scored hits and the statements whose search text did not authenticate.
fn score_all(
    tx: &Connection,
    session: &Session<'_>,
    query: &Query,
    only: Option<&HashSet<Id>>,
) -> Result<(Scored, Vec<Id>)> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WORKERS);
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (sender, batches) = sync_channel::<Batch>(2);
            senders.push(sender);
            handles.push(scope.spawn(move || -> Result<(Scored, Vec<Id>)> {
                let (mut scored, mut damaged) = (Vec::new(), Vec::new());
                for mut batch in batches {
                    for (id, version, at) in batch.rows {
                        let Some(sealed) = batch.bytes.0.get_mut(at) else {
                            continue;
                        };
                        let opened = open_search_text_in_place(session, &id, version, sealed);
                        if let Some(folded) = open_or_note(opened, id, &mut damaged)? {
                            if let Some(score) = query.score(folded) {
                                scored.push((score, id, version));
                            }
                        }
                    }
                }
                Ok((scored, damaged))
            }));
        }
        // Withdrawn (and destroyed) statements are never searched.
        // (Parsed once, so no row needs its id written out in hex.)
        let retired: HashSet<Id> = session
            .state(tx)?
            .state
            .record_ids()
            .filter(|(_, c)| c.retired())
            .filter_map(|(id, _)| id.parse().ok())
            .collect();
        let stopped = || Error::Internal("a search thread stopped early".into());
        let mut batch = Batch::default();
        let mut turn = 0;
        let mut read = rows::for_each_search_text(tx, |id, version, sealed| {
            if retired.contains(&id) || only.is_some_and(|o| !o.contains(&id)) {
                return Ok(());
            }
            let start = batch.bytes.0.len();
            batch.bytes.0.extend_from_slice(sealed);
            batch.rows.push((id, version, start..batch.bytes.0.len()));
            if batch.rows.len() == BATCH_ROWS {
                // The next batch will be about as large: no regrowing.
                let next = Batch {
                    rows: Vec::with_capacity(BATCH_ROWS),
                    bytes: WipedBytes(Vec::with_capacity(batch.bytes.0.len())),
                };
                let full = std::mem::replace(&mut batch, next);
                senders[turn % workers].send(full).map_err(|_| stopped())?;
                turn += 1;
            }
            Ok(())
        });
        if read.is_ok() && !batch.rows.is_empty() {
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

/// The statements a search must open, from the sealed search index: those
/// in a block whose filter may hold every word the query needs, and those
/// the index does not cover at the version their signed chain says is
/// the latest (no block, a block that did not open, an old block put
/// back); the scoring leaves out withdrawn and destroyed ones. `None`
/// when the query has no word the index can look up (all shorter than
/// three characters): then every statement is opened.
fn candidates(index: &SearchCache, query: &Query) -> Option<HashSet<Id>> {
    let keys: Vec<u64> = query.required_prefixes().filter_map(query_key).collect();
    if keys.is_empty() {
        return None;
    }
    let may_match: BTreeMap<u64, bool> = index
        .blocks
        .iter()
        .map(|(number, block)| {
            let may = block
                .as_ref()
                .is_none_or(|b| keys.iter().all(|k| b.filter.may_contain(*k)));
            (*number, may)
        })
        .collect();
    let mut out = HashSet::new();
    for ((id, position), trusted) in index.statements.iter().zip(&index.trusted) {
        let ruled_out = *trusted && may_match.get(&block_of(*position)) == Some(&false);
        if !ruled_out {
            out.insert(*id);
        }
    }
    Some(out)
}

/// Scores the few statements the index left, one lookup each.
fn score_some(
    tx: &Connection,
    session: &Session<'_>,
    query: &Query,
    only: &HashSet<Id>,
) -> Result<(Scored, Vec<Id>)> {
    let state = session.state(tx)?;
    let (mut scored, mut damaged) = (Vec::new(), Vec::new());
    let mut ids: Vec<&Id> = only.iter().collect();
    ids.sort();
    for id in ids {
        if state.state.chain(&id.to_hex()).is_some_and(|c| c.retired()) {
            continue;
        }
        let Some((version, sealed)) = rows::search_text(tx, id)? else {
            continue;
        };
        let opened = open_search_text(session, id, version, &sealed);
        if let Some(folded) = open_or_note(opened, *id, &mut damaged)? {
            if let Some(score) = query.score(&folded) {
                scored.push((score, *id, version));
            }
        }
    }
    Ok((scored, damaged))
}

/// Snippet width in characters.
const SNIPPET_WIDTH: usize = 120;

/// What to search for, and where.
#[derive(Clone, Debug, Default)]
pub struct SearchRequest {
    /// Words (all must match) and "quoted phrases".
    pub query: String,
    /// Only this case (reference or id prefix).
    pub case: Option<String>,
    /// Only statements of this witness (their name or pseudonym, matched
    /// as the query is: folded, every word).
    pub witness: Option<String>,
    /// Only records dated (statement taken, exhibit acquired) on or after
    /// this day (`YYYY-MM-DD`); undated records are then left out.
    pub from: Option<String>,
    /// Only records dated on or before this day.
    pub to: Option<String>,
    /// At most this many statements and this many exhibits shown.
    pub limit: usize,
}

impl SearchRequest {
    fn dated(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// Whether a record dated `date` (RFC 3339 or a day) is in the range.
    fn in_range(&self, date: Option<&str>) -> bool {
        if !self.dated() {
            return true;
        }
        let Some(day) = date.and_then(|d| d.get(..10)) else {
            return false;
        };
        let day_of = |d: &str| d.get(..10).unwrap_or(d).to_owned();
        self.from
            .as_deref()
            .is_none_or(|f| day >= day_of(f).as_str())
            && self.to.as_deref().is_none_or(|t| day <= day_of(t).as_str())
    }
}

/// An exhibit whose name, description or source matches.
#[derive(Clone, Debug, Serialize)]
pub struct ExhibitHit {
    /// Exhibit id.
    #[serde(serialize_with = "crate::vault::users::ser_id")]
    pub id: Id,
    /// The case's reference.
    pub case_reference: String,
    /// The file's original name.
    pub name: String,
    /// Its description, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Rank score (higher first).
    pub score: f64,
}

/// What a search found.
#[derive(Clone, Debug, Serialize)]
pub struct SearchResults {
    /// The statements shown, best first.
    pub statements: Vec<SearchHit>,
    /// How many more statements match than are shown.
    pub more_statements: usize,
    /// The exhibits shown, best first.
    pub exhibits: Vec<ExhibitHit>,
    /// How many more exhibits match than are shown.
    pub more_exhibits: usize,
    /// Statements left out because they are damaged.
    #[serde(skip)]
    pub damaged: Vec<Id>,
}

impl Vault<Unlocked> {
    /// Searches the latest version of every statement that is not
    /// withdrawn, and the names, descriptions and sources of the exhibits.
    /// All words must match; "quoted phrases" match in order. One `search`
    /// event is logged on the vault's own chain (the query, the filters,
    /// the ids shown and the counts; sealed like every event, and never in
    /// a bundle); opening a hit afterwards logs its view.
    pub fn search(&mut self, request: &SearchRequest) -> Result<SearchResults> {
        let query = Query::parse(&request.query).map_err(|e| {
            crate::error::Error::Invalid(crate::error::Invalid::Query {
                problem: e.to_string(),
            })
        })?;
        for (label, day) in [("--from", &request.from), ("--to", &request.to)] {
            if let Some(day) = day {
                super::check_date(label, day)?;
            }
        }
        let witness = match &request.witness {
            Some(w) => Some(Query::parse(w).map_err(|e| {
                crate::error::Error::Invalid(crate::error::Invalid::Query {
                    problem: format!("--witness: {e}"),
                })
            })?),
            None => None,
        };
        let limit = request.limit.max(1);
        let vault_id = self.id();
        let mut cache = self.take_search_cache();
        let found = self.write(|tx, session| {
            let case_filter = match &request.case {
                Some(reference) => Some(find_case(tx, session, reference)?.id.to_hex()),
                None => None,
            };
            // Pass 1: every statement's search text (small, apart from the
            // bodies), decrypted in memory, matched and scored on every core.
            // The index narrows the statements to open when the query has
            // a word it can look up; a few are fetched one by one, many
            // are streamed as a full scan is.
            let index = SearchCache::fresh(tx, session, cache.take())?;
            // (When every statement may match, the scan needs no list.)
            let only = candidates(&index, &query).filter(|c| c.len() < index.statements.len());
            cache = Some(index);
            let (mut scored, mut damaged) = match &only {
                Some(few) if few.len() <= FETCH_ONE_BY_ONE => score_some(tx, session, &query, few)?,
                _ => score_all(tx, session, &query, only.as_ref())?,
            };
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            // Pass 2: the filters, on the overviews of the matches only.
            if case_filter.is_some() || witness.is_some() || request.dated() {
                let mut kept = Vec::with_capacity(scored.len());
                for (score, id, version) in scored {
                    let Some(o) =
                        open_or_note(overview_at(tx, session, &id, version), id, &mut damaged)?
                    else {
                        continue;
                    };
                    let case_ok = case_filter.as_ref().is_none_or(|c| *c == o.case);
                    let witness_ok = witness.as_ref().is_none_or(|w| {
                        let names = format!(
                            "{} {}",
                            o.fields.witness,
                            o.fields.pseudonym.as_deref().unwrap_or("")
                        );
                        w.score(&fold(&names)).is_some()
                    });
                    if case_ok && witness_ok && request.in_range(o.fields.taken_at.as_deref()) {
                        kept.push((score, id, version));
                    }
                }
                scored = kept;
            }
            // Pass 3: only those shown are opened further (the body, for
            // the snippet).
            let cases = all_cases(tx, session)?;
            let reference_of = |case_hex: &str| {
                cases
                    .iter()
                    .find(|c| c.id.to_hex() == case_hex)
                    .map(|c| c.data.reference.clone())
                    .unwrap_or_default()
            };
            let mut hits = Vec::with_capacity(limit.min(scored.len()));
            let mut matched = scored.len();
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
                    matched -= 1;
                    continue;
                };
                let overview = &shown.overview;
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
                hits.push(SearchHit {
                    id,
                    case_reference: reference_of(&overview.case),
                    version,
                    witness: overview.fields.witness.clone(),
                    score,
                    snippet: snip.text,
                    highlights: snip.highlights,
                });
            }
            // Exhibits: their names, descriptions and sources (no witness).
            let mut exhibit_hits = Vec::new();
            if witness.is_none() {
                let case_id = case_filter.as_ref().and_then(|c| c.parse::<Id>().ok());
                let (items, bad) = super::evidence::summaries(tx, session, case_id.as_ref())?;
                damaged.extend(bad);
                for item in items {
                    let o = &item.overview;
                    let text = format!(
                        "{} {} {}",
                        o.original_name,
                        o.description.as_deref().unwrap_or(""),
                        o.source.as_deref().unwrap_or("")
                    );
                    if !request.in_range(o.acquired_at.as_deref()) {
                        continue;
                    }
                    if let Some(score) = query.score(&fold(&text)) {
                        exhibit_hits.push(ExhibitHit {
                            id: item.id,
                            case_reference: item.case_reference.clone(),
                            name: o.original_name.clone(),
                            description: o.description.clone(),
                            score,
                        });
                    }
                }
                exhibit_hits
                    .sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
            }
            let exhibits_matched = exhibit_hits.len();
            exhibit_hits.truncate(limit);
            let results = SearchResults {
                more_statements: matched.saturating_sub(hits.len()),
                more_exhibits: exhibits_matched - exhibit_hits.len(),
                statements: hits,
                exhibits: exhibit_hits,
                damaged: Vec::new(),
            };
            let shown: Vec<String> = results
                .statements
                .iter()
                .map(|h| h.id.to_hex())
                .chain(results.exhibits.iter().map(|h| h.id.to_hex()))
                .collect();
            session.append(
                tx,
                Kind::Vault,
                &vault_id,
                Action::Search,
                serde_json::json!({
                    "query": request.query,
                    "case": case_filter,
                    "witness": request.witness,
                    "from": request.from,
                    "to": request.to,
                    "shown": shown,
                    "statements": matched,
                    "exhibits": exhibits_matched,
                }),
            )?;
            damaged.sort();
            damaged.dedup();
            Ok(SearchResults { damaged, ..results })
        });
        if let Some(index) = cache {
            self.keep_search_cache(index);
        }
        found
    }
}

/// The overview of one version of a statement (no body opened).
fn overview_at(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    version: u64,
) -> Result<super::statement::StatementOverview> {
    super::expect_record(conn, session, id, Kind::Statement)?;
    let row = rows::versions(conn, id)?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| {
            Error::NotFound(format!("statement {} has no version {version}", id.short()))
        })?;
    crate::vault::sealed::open_field(
        &session.keys.records,
        &session.vault_id,
        Kind::Statement,
        id,
        version,
        "overview",
        &row.overview,
    )
}
