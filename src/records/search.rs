//! Running a search over the vault: decrypt each statement's sealed folded
//! search text in memory, match and rank with [`crate::search`], then
//! decrypt only the bodies of the hits shown, for snippets. Nothing
//! decrypted is written anywhere.

use serde::Serialize;

use super::case::{all_cases, find_case};
use super::statement::{read_version, searchable_text, StatementOverview};
use super::{open_field, open_or_note, Kind};
use crate::error::Result;
use crate::format::Id;
use crate::search::{snippet, Query, Snippet};
use crate::store::records as rows;
use crate::vault::{Unlocked, Vault};

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
        let query = Query::parse(query).map_err(|e| crate::Error::Invalid(e.to_string()))?;
        self.read(|tx, session| {
            let case_filter = match case {
                Some(reference) => Some(find_case(tx, session, reference)?.id.to_hex()),
                None => None,
            };
            let key = &session.keys.records;
            let mut scored: Vec<(f64, Id, u64, StatementOverview)> = Vec::new();
            let mut damaged = Vec::new();
            for (id, version, sealed_overview, sealed_search) in rows::latest_search_texts(tx)? {
                let Some(sealed_search) = sealed_search else {
                    continue;
                };
                let field = |name: &str, sealed: &[u8]| -> Result<String> {
                    open_field(
                        key,
                        &session.vault_id,
                        Kind::Statement,
                        &id,
                        version,
                        name,
                        sealed,
                    )
                };
                let Some(folded) = open_or_note(field("search", &sealed_search), id, &mut damaged)?
                else {
                    continue;
                };
                let Some(score) = query.score(&folded) else {
                    continue;
                };
                let opened = open_field(
                    key,
                    &session.vault_id,
                    Kind::Statement,
                    &id,
                    version,
                    "overview",
                    &sealed_overview,
                );
                let Some(overview): Option<StatementOverview> =
                    open_or_note(opened, id, &mut damaged)?
                else {
                    continue;
                };
                if case_filter.as_ref().is_some_and(|c| *c != overview.case) {
                    continue;
                }
                scored.push((score, id, version, overview));
            }
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            scored.truncate(limit);
            let cases = all_cases(tx, session)?;
            let mut hits = Vec::with_capacity(scored.len());
            for (score, id, version, overview) in scored {
                let Some(shown) = open_or_note(
                    read_version(tx, session, &id, Some(version)),
                    id,
                    &mut damaged,
                )?
                else {
                    continue;
                };
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
            Ok((hits, damaged))
        })
    }
}
