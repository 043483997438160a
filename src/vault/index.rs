//! The sealed search index (`docs/format.md`, "The search index"): one
//! sealed block per [`BLOCK_POSITIONS`] statement positions, each holding
//! a Bloom filter of its statements' word-prefix keys and the version of
//! each member's search text it covers.
//!
//! A [`Session`] keeps the blocks a transaction touches in an
//! [`IndexDraft`] and seals them once, before the transaction commits, in
//! the same transaction as the search texts. A block is trusted for a
//! statement only when it lists that statement at the version of its
//! current search text; anything else (no block, a block that does not
//! open, an old block put back) makes the search open that statement's
//! text, so the index can slow a search down but never hide a match.
//! `check` verifies the blocks against the sealed texts, and
//! [`Vault::rebuild_search_index`] rebuilds them from those texts alone.

use std::collections::BTreeMap;

use rusqlite::Connection;

use super::sealed::open_search_text;
use super::{Session, Unlocked, Vault};
use crate::crypto::aead::{open_bytes, seal_bytes};
use crate::custody::state::VaultState;
use crate::error::{Error, Integrity, Result};
use crate::format::{Binding, Id};
use crate::formats::search_index::{block_of, Block, KeySet, BLOCK_POSITIONS, MAX_FILL};
use crate::store::index as rows;

/// The blocks one transaction has touched, sealed at its end.
#[derive(Default)]
pub(crate) struct IndexDraft {
    blocks: BTreeMap<u64, DraftBlock>,
    /// Whether any block was touched (a warm search cache is then stale).
    pub(crate) touched: bool,
}

struct DraftBlock {
    block: Block,
    /// Keys of the texts indexed in this transaction.
    keys: KeySet,
    /// The block had no row and no other statement: its filter is sized
    /// from `keys` when sealed.
    fresh: bool,
    /// The stored block was missing or did not open while the block has
    /// other statements: it is rebuilt from their sealed texts.
    rebuild: bool,
}

/// The positions of block `block`.
fn positions(block: u64) -> std::ops::RangeInclusive<u64> {
    let first = block.saturating_mul(BLOCK_POSITIONS);
    first..=first.saturating_add(BLOCK_POSITIONS - 1)
}

fn binding<'a>(vault_id: &'a Id, block: &'a str) -> Binding<'a> {
    Binding {
        vault_id,
        kind: "search-index",
        record: block,
        version: 1,
        field: "block",
    }
}

/// Seals one block in its place (the vault and the block number).
fn seal_block(session: &Session<'_>, number: u64, block: &Block) -> Result<Vec<u8>> {
    let plain = zeroize::Zeroizing::new(block.to_bytes());
    let name = number.to_string();
    Ok(seal_bytes(
        &session.keys.records,
        &binding(&session.vault_id, &name),
        &plain,
    )?)
}

/// Opens one sealed block; an error names the block.
pub(crate) fn open_block(session: &Session<'_>, number: u64, sealed: &[u8]) -> Result<Block> {
    let name = number.to_string();
    let damaged = |problem: String| {
        Error::Integrity(Integrity::SearchIndex {
            problem: format!("search index block {number}: {problem}"),
        })
    };
    let plain = open_bytes(
        &session.keys.records,
        &binding(&session.vault_id, &name),
        sealed,
    )
    .map_err(|_| damaged("does not authenticate (altered, or moved from another place)".into()))?;
    Block::from_bytes(&plain).map_err(|e| damaged(e.to_string()))
}

/// Builds block `number` from the sealed search texts of its statements.
/// A text that does not open is left out (and so never trusted: a search
/// opens it, and reports it).
fn build_block(conn: &Connection, session: &Session<'_>, number: u64) -> Result<Block> {
    let members = rows::indexed_in(conn, positions(number))?;
    let mut keys = KeySet::default();
    let mut listed = BTreeMap::new();
    for m in &members {
        if let Some((version, text)) = open_text(conn, session, &m.id)? {
            keys.add_text(&text);
            listed.insert(m.id.0, version);
        }
    }
    let mut block = Block::with_capacity(headroom(keys.len()));
    for k in keys.keys() {
        block.filter.insert(k);
    }
    block.members = listed;
    Ok(block)
}

/// Room for half as many keys again before the filter must grow.
fn headroom(keys: usize) -> usize {
    keys.saturating_add(keys / 2)
}

impl Session<'_> {
    fn draft_block<'d>(
        &self,
        conn: &Connection,
        draft: &'d mut IndexDraft,
        id: &Id,
    ) -> Result<Option<(u64, &'d mut DraftBlock)>> {
        let Some(position) = rows::position(conn, id)? else {
            return Ok(None);
        };
        let number = block_of(position);
        if let std::collections::btree_map::Entry::Vacant(slot) = draft.blocks.entry(number) {
            let loaded = match rows::block(conn, number)? {
                Some(sealed) => match open_block(self, number, &sealed) {
                    Ok(block) => DraftBlock {
                        block,
                        keys: KeySet::default(),
                        fresh: false,
                        rebuild: false,
                    },
                    Err(Error::Integrity(_)) => DraftBlock::rebuilt(),
                    Err(e) => return Err(e),
                },
                None => {
                    let others = rows::indexed_in(conn, positions(number))?
                        .iter()
                        .any(|m| m.id != *id);
                    if others {
                        DraftBlock::rebuilt()
                    } else {
                        DraftBlock {
                            block: Block::with_capacity(0),
                            keys: KeySet::default(),
                            fresh: true,
                            rebuild: false,
                        }
                    }
                }
            };
            slot.insert(loaded);
        }
        draft.touched = true;
        Ok(draft.blocks.get_mut(&number).map(|b| (number, b)))
    }

    /// Records in the index that statement `id`'s search text is now
    /// of `version`, with the keys `keys` (gathered from its folded text;
    /// called with every write of a search text).
    pub(crate) fn index_text(
        &self,
        conn: &Connection,
        id: &Id,
        version: u64,
        keys: &KeySet,
    ) -> Result<()> {
        let mut draft = self.index_draft()?;
        if let Some((_, block)) = self.draft_block(conn, &mut draft, id)? {
            block.block.members.insert(id.0, version);
            if !block.rebuild {
                block.keys.extend(keys);
            }
        }
        Ok(())
    }

    /// Takes statement `id` out of the index (its search text was erased).
    pub(crate) fn index_forget(&self, conn: &Connection, id: &Id) -> Result<()> {
        let mut draft = self.index_draft()?;
        if let Some((_, block)) = self.draft_block(conn, &mut draft, id)? {
            block.block.members.remove(&id.0);
        }
        Ok(())
    }

    fn index_draft(&self) -> Result<std::sync::MutexGuard<'_, IndexDraft>> {
        self.index
            .try_lock()
            .map_err(|_| Error::Internal("the search index draft is already in use".into()))
    }

    /// Seals every block this transaction touched.
    pub(super) fn flush_index(&self, conn: &Connection) -> Result<bool> {
        let mut draft = self.index_draft()?;
        let touched = draft.touched;
        for (number, mut d) in std::mem::take(&mut draft.blocks) {
            let block = if d.rebuild {
                build_block(conn, self, number)?
            } else if d.fresh {
                let mut block = Block::with_capacity(headroom(d.keys.len()));
                for k in d.keys.keys() {
                    block.filter.insert(k);
                }
                block.members = std::mem::take(&mut d.block.members);
                block
            } else {
                for k in d.keys.keys() {
                    d.block.filter.insert(k);
                }
                if d.block.filter.fill() > MAX_FILL {
                    build_block(conn, self, number)?
                } else {
                    d.block
                }
            };
            if block.members.is_empty() {
                rows::delete_block(conn, number)?;
            } else {
                rows::put_block(conn, number, &seal_block(self, number, &block)?)?;
            }
        }
        draft.touched = false;
        Ok(touched)
    }
}

impl DraftBlock {
    fn rebuilt() -> DraftBlock {
        DraftBlock {
            block: Block::with_capacity(0),
            keys: KeySet::default(),
            fresh: false,
            rebuild: true,
        }
    }
}

/// Every block, opened (`None` for one that does not open), by number.
pub(crate) fn load_blocks(
    conn: &Connection,
    session: &Session<'_>,
) -> Result<BTreeMap<u64, Option<Block>>> {
    let mut out = BTreeMap::new();
    for (number, sealed) in rows::blocks(conn)? {
        let block = match open_block(session, number, &sealed) {
            Ok(b) => Some(b),
            Err(Error::Integrity(_)) => None,
            Err(e) => return Err(e),
        };
        out.insert(number, block);
    }
    Ok(out)
}

/// What `check` found wrong with the index, one sentence each. With
/// `deep`, every member's sealed text is opened and each of its keys
/// looked up in the filter.
pub(crate) fn index_problems(
    conn: &Connection,
    session: &Session<'_>,
    deep: bool,
) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let indexed = rows::indexed(conn)?;
    let mut by_block: BTreeMap<u64, Vec<rows::Indexed>> = BTreeMap::new();
    for m in indexed {
        by_block.entry(block_of(m.position)).or_default().push(m);
    }
    let stored = rows::blocks(conn)?;
    for (number, _) in &stored {
        if !by_block.contains_key(number) {
            problems.push(format!(
                "search index block {number} indexes no statement (run `custodia check --repair-index`)"
            ));
        }
    }
    for (number, members) in &by_block {
        let Some((_, sealed)) = stored.iter().find(|(n, _)| n == number) else {
            problems.push(format!(
                "search index block {number} is missing: its {} statement(s) are searched one by one (run `custodia check --repair-index`)",
                members.len()
            ));
            continue;
        };
        let block = match open_block(session, *number, sealed) {
            Ok(b) => b,
            Err(Error::Integrity(e)) => {
                problems.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e),
        };
        for m in members {
            match block.members.get(&m.id.0) {
                Some(v) if *v == m.version => {}
                Some(v) => problems.push(format!(
                    "search index block {number} covers version {v} of statement {}, whose search text is of version {} (an old block put back?)",
                    m.id, m.version
                )),
                // A text that does not open is left out of the index on
                // purpose (and reported by the search-text check).
                None if open_text(conn, session, &m.id)?.is_none() => {}
                None => problems.push(format!(
                    "search index block {number} does not cover statement {}",
                    m.id
                )),
            }
        }
        if block.members.len() > members.len() {
            problems.push(format!(
                "search index block {number} lists {} statement(s) that have no search text",
                block.members.len() - members.len()
            ));
        }
        if deep {
            for m in members {
                let Some((_, text)) = open_text(conn, session, &m.id)? else {
                    continue; // reported by the search-text check
                };
                let mut keys = KeySet::default();
                keys.add_text(&text);
                if keys.keys().any(|k| !block.filter.may_contain(k)) {
                    problems.push(format!(
                        "search index block {number} lacks words of statement {}: a search could miss it",
                        m.id
                    ));
                }
            }
        }
    }
    Ok(problems)
}

/// The index as one search read it, kept by a long session (shell, desk)
/// for the next search while no other process has written to the vault
/// (`PRAGMA data_version`) and no write of this process touched the
/// index. The filters are wiped when it is dropped.
pub(crate) struct SearchCache {
    data_version: i64,
    /// Every statement's id and position, in position order.
    pub(crate) statements: Vec<(Id, u64)>,
    /// Every block, opened (`None` when it did not open).
    pub(crate) blocks: BTreeMap<u64, Option<Block>>,
    /// For each of `statements`: whether its block lists it at the version
    /// its signed chain says is the latest, so that the block may rule it
    /// out. (Versions change only with a write of a search text, which
    /// drops the cache.)
    pub(crate) trusted: Vec<bool>,
}

impl SearchCache {
    /// `cached` if the vault has not changed since it was read, else the
    /// index read again in the caller's transaction.
    pub(crate) fn fresh(
        conn: &Connection,
        session: &Session<'_>,
        cached: Option<SearchCache>,
    ) -> Result<SearchCache> {
        let data_version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if let Some(c) = cached {
            if c.data_version == data_version {
                return Ok(c);
            }
        }
        let statements = rows::statements(conn)?;
        let blocks = load_blocks(conn, session)?;
        let latest = {
            let state = session.state(conn)?;
            latest_versions(&state.state, &statements)
        };
        let trusted = statements
            .iter()
            .zip(latest)
            .map(|((id, position), latest)| {
                matches!(
                    blocks.get(&block_of(*position)),
                    Some(Some(block)) if latest.is_some() && block.members.get(&id.0) == latest.as_ref()
                )
            })
            .collect();
        Ok(SearchCache {
            data_version,
            statements,
            blocks,
            trusted,
        })
    }
}

/// The latest version the signed chains give each of `statements` (`None`
/// for one without a chain), found by walking the ids in order beside the
/// chains, which are kept in the order of their hex ids: no tree descent
/// and no hex string per statement.
fn latest_versions(state: &VaultState, statements: &[(Id, u64)]) -> Vec<Option<u64>> {
    let mut order: Vec<usize> = (0..statements.len()).collect();
    order.sort_unstable_by_key(|&i| statements.get(i).map(|s| s.0));
    let mut latest = vec![None; statements.len()];
    let mut chains = state.chains.iter().peekable();
    for i in order {
        let (Some((id, _)), Some(slot)) = (statements.get(i), latest.get_mut(i)) else {
            continue;
        };
        let hex = id.hex_bytes();
        while chains
            .peek()
            .is_some_and(|(key, _)| key.as_bytes() < hex.as_slice())
        {
            chains.next();
        }
        if let Some((key, chain)) = chains.peek() {
            if key.as_bytes() == hex.as_slice() {
                *slot = Some(chain.versions);
            }
        }
    }
    latest
}

impl Vault<Unlocked> {
    /// The search cache, taken out for one search (see [`SearchCache`]).
    pub(crate) fn take_search_cache(&mut self) -> Option<SearchCache> {
        self.state.search_cache.take()
    }

    /// Keeps the search cache for the next search.
    pub(crate) fn keep_search_cache(&mut self, cache: SearchCache) {
        self.state.search_cache = Some(cache);
    }

    /// Drops (and wipes) the search cache.
    pub(crate) fn forget_search_cache(&mut self) {
        self.state.search_cache = None;
    }

    /// Rebuilds the whole search index from the sealed search texts (and
    /// nothing else), in one write transaction. Returns the number of
    /// blocks written.
    pub fn rebuild_search_index(&mut self) -> Result<u64> {
        let written = self.write(|tx, session| rebuild_all(tx, session))?;
        self.forget_search_cache();
        Ok(written)
    }

    /// Builds the index of a vault that has search texts but no index (a
    /// vault from before the index). Runs at unlock.
    pub(crate) fn index_if_needed(&mut self) -> Result<()> {
        let conn = self.store().conn();
        if rows::block_count(conn)? > 0 || rows::indexed(conn)?.is_empty() {
            return Ok(());
        }
        self.rebuild_search_index().map(|_| ())
    }
}

fn rebuild_all(conn: &Connection, session: &Session<'_>) -> Result<u64> {
    let mut numbers: Vec<u64> = rows::indexed(conn)?
        .iter()
        .map(|m| block_of(m.position))
        .collect();
    numbers.dedup();
    for (number, _) in rows::blocks(conn)? {
        rows::delete_block(conn, number)?;
    }
    for &number in &numbers {
        let block = build_block(conn, session, number)?;
        if !block.members.is_empty() {
            rows::put_block(conn, number, &seal_block(session, number, &block)?)?;
        }
    }
    Ok(numbers.len() as u64)
}

/// Statement `id`'s search text and its version, opened; `None` when it
/// has none or it does not authenticate (the search-text check reports
/// that; the index leaves such a text out, so a search always opens it).
fn open_text(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
) -> Result<Option<(u64, super::sealed::SearchText)>> {
    let Some((version, sealed)) = crate::store::records::search_text(conn, id)? else {
        return Ok(None);
    };
    match open_search_text(session, id, version, &sealed) {
        Ok(text) => Ok(Some((version, text))),
        Err(Error::Integrity(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::custody::state::ChainState;

    #[test]
    fn latest_versions_walk_finds_what_a_lookup_per_statement_finds() {
        let mut state = VaultState::default();
        let mut statements = Vec::new();
        for i in 0u8..200 {
            let id = Id([
                i.wrapping_mul(37),
                i,
                255 - i,
                7,
                1,
                2,
                3,
                4,
                5,
                6,
                7,
                8,
                9,
                10,
                11,
                i,
            ]);
            // Every third has no chain; others a chain of some kind.
            if i % 3 != 0 {
                let kind = if i % 5 == 0 { "case" } else { "statement" };
                state.chains.insert(
                    id.to_hex(),
                    ChainState {
                        kind: kind.into(),
                        versions: u64::from(i),
                        ..ChainState::default()
                    },
                );
            }
            if i % 7 != 0 {
                statements.push((id, u64::from(i) * 3));
            }
        }
        // Chains that are no statement's, before, among and after them.
        for hex in ["00", "7f", "ff"] {
            state.chains.insert(hex.repeat(16), ChainState::default());
        }
        let walked = latest_versions(&state, &statements);
        let looked_up: Vec<Option<u64>> = statements
            .iter()
            .map(|(id, _)| state.chain(&id.to_hex()).map(|c| c.versions))
            .collect();
        assert_eq!(walked, looked_up);
        assert!(walked.iter().any(Option::is_none) && walked.iter().any(Option::is_some));
    }
}
