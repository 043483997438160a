//! Word-level differences between two versions of a statement, for the
//! report: Myers' O((N+M)·D) algorithm over words, spaces and single
//! punctuation marks, after the common beginning and end are set aside.
//!
//! The work is bounded: beyond [`MAX_TOKENS`] changed tokens on a side or
//! [`MAX_EDITS`] edits, [`diff`] gives up (`None`) and the report says that
//! the new version replaces the old one in full.

use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

/// Most tokens, on either side, left to compare once the common beginning
/// and end are set aside.
pub const MAX_TOKENS: usize = 20_000;
/// Most insertions plus deletions (tokens) looked for; the search keeps
/// about `MAX_EDITS²/2` positions.
pub const MAX_EDITS: usize = 1_000;

/// What a run of tokens is in the new version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// In both versions.
    Same,
    /// Only in the old version.
    Removed,
    /// Only in the new version.
    Added,
}

/// A run of consecutive tokens of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change<'a> {
    /// Same, removed or added.
    pub kind: Kind,
    /// The tokens, in order; joined they are a piece of the text.
    pub tokens: Vec<&'a str>,
}

impl Change<'_> {
    /// The run's text.
    pub fn text(&self) -> String {
        self.tokens.concat()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Space,
    Word,
    Other,
}

fn class(c: char) -> Class {
    if c.is_whitespace() {
        Class::Space
    } else if c.is_alphanumeric()
        || c == '_'
        || c.general_category_group() == GeneralCategoryGroup::Mark
    {
        Class::Word
    } else {
        Class::Other
    }
}

/// Splits `text` into words (letters, digits and combining marks), runs of
/// white space, and single other characters. Joined, the tokens are `text`.
pub(crate) fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut current: Option<Class> = None;
    for (i, c) in text.char_indices() {
        let k = class(c);
        if let Some(prev) = current {
            if prev != k || k == Class::Other {
                out.push(&text[start..i]);
                start = i;
            }
        }
        current = Some(k);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The shortest edit script of `a` into `b` (one entry per token, in
/// order), or `None` beyond `max_edits` edits.
fn myers(a: &[&str], b: &[&str], max_edits: usize) -> Option<Vec<Kind>> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    // trace[d][i]: the furthest x on diagonal k = 2i - d after d edits.
    let mut trace: Vec<Vec<isize>> = Vec::new();
    let mut end = None;
    'search: for d in 0..=max_edits.min(a.len() + b.len()) {
        let di = d as isize;
        let mut cur = vec![0isize; d + 1];
        for i in 0..=d {
            let k = 2 * i as isize - di;
            let mut x = match trace.last() {
                None => 0,
                Some(prev) => {
                    if i == 0 || (i != d && prev[i - 1] < prev[i]) {
                        prev[i]
                    } else {
                        prev[i - 1] + 1
                    }
                }
            };
            let mut y = x - k;
            while x < n && y < m && y >= 0 && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            cur[i] = x;
            if x >= n && y >= m {
                trace.push(cur);
                end = Some(d);
                break 'search;
            }
        }
        trace.push(cur);
    }
    let d_end = end?;
    let mut ops = Vec::with_capacity(a.len() + b.len());
    let (mut x, mut y) = (n, m);
    for d in (1..=d_end).rev() {
        let prev = &trace[d - 1];
        let k = x - y;
        let i = ((k + d as isize) / 2) as usize;
        let down = i == 0 || (i != d && prev[i - 1] < prev[i]);
        let (px, pk) = if down {
            (prev[i], k + 1)
        } else {
            (prev[i - 1], k - 1)
        };
        let py = px - pk;
        // The move lands on (mx, my), then the snake runs to (x, y).
        let (mx, my) = if down { (px, py + 1) } else { (px + 1, py) };
        while x > mx && y > my {
            ops.push(Kind::Same);
            x -= 1;
            y -= 1;
        }
        ops.push(if down { Kind::Added } else { Kind::Removed });
        x = px;
        y = py;
    }
    while x > 0 && y > 0 {
        ops.push(Kind::Same);
        x -= 1;
        y -= 1;
    }
    ops.reverse();
    Some(ops)
}

/// The word-level differences from `old` to `new`, as runs: within each
/// changed passage the removed words come before the added ones, and a
/// lone space between two changes joins them. `None` when the texts are
/// too long or too different to compare within the bounds above.
pub fn diff<'a>(old: &'a str, new: &'a str) -> Option<Vec<Change<'a>>> {
    let a = tokens(old);
    let b = tokens(new);
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    if am.len() > MAX_TOKENS || bm.len() > MAX_TOKENS {
        return None;
    }
    let ops = myers(am, bm, MAX_EDITS)?;

    let mut changes: Vec<Change<'a>> = Vec::new();
    let push = |kind: Kind, token: &'a str, changes: &mut Vec<Change<'a>>| match changes.last_mut()
    {
        Some(last) if last.kind == kind => last.tokens.push(token),
        _ => changes.push(Change {
            kind,
            tokens: vec![token],
        }),
    };
    for t in &a[..prefix] {
        push(Kind::Same, t, &mut changes);
    }
    // One passage of changes at a time: removed words, then added ones.
    let (mut ia, mut ib) = (0, 0);
    let mut removed: Vec<&'a str> = Vec::new();
    let mut added: Vec<&'a str> = Vec::new();
    let mut k = 0;
    while k < ops.len() {
        match ops[k] {
            Kind::Removed => {
                removed.push(am[ia]);
                ia += 1;
            }
            Kind::Added => {
                added.push(bm[ib]);
                ib += 1;
            }
            Kind::Same => {
                // A lone run of spaces between two changes belongs to both.
                let run = ops[k..].iter().take_while(|o| **o == Kind::Same).count();
                let lone_space = run == 1
                    && (!removed.is_empty() || !added.is_empty())
                    && k + 1 < ops.len()
                    && am[ia].trim().is_empty();
                if lone_space {
                    removed.push(am[ia]);
                    added.push(bm[ib]);
                    ia += 1;
                    ib += 1;
                    k += 1;
                    continue;
                }
                flush(&mut removed, &mut added, &mut changes);
                for _ in 0..run {
                    push(Kind::Same, am[ia], &mut changes);
                    ia += 1;
                    ib += 1;
                }
                k += run;
                continue;
            }
        }
        k += 1;
    }
    flush(&mut removed, &mut added, &mut changes);
    for t in &a[a.len() - suffix..] {
        push(Kind::Same, t, &mut changes);
    }
    Some(changes)
}

/// Ends a changed passage: its removed run, then its added run. Tokens
/// both runs begin or end with (a space the edit script put inside) are
/// shown as unchanged.
fn flush<'a>(removed: &mut Vec<&'a str>, added: &mut Vec<&'a str>, out: &mut Vec<Change<'a>>) {
    let mut lead = 0;
    while lead < removed.len().min(added.len()) && removed[lead] == added[lead] {
        lead += 1;
    }
    let mut trail = 0;
    while trail < (removed.len() - lead).min(added.len() - lead)
        && removed[removed.len() - 1 - trail] == added[added.len() - 1 - trail]
    {
        trail += 1;
    }
    let same = |tokens: &[&'a str], out: &mut Vec<Change<'a>>| {
        if tokens.is_empty() {
            return;
        }
        match out.last_mut() {
            Some(last) if last.kind == Kind::Same => last.tokens.extend_from_slice(tokens),
            _ => out.push(Change {
                kind: Kind::Same,
                tokens: tokens.to_vec(),
            }),
        }
    };
    same(&removed[..lead], out);
    for (kind, run) in [(Kind::Removed, &*removed), (Kind::Added, &*added)] {
        let middle = &run[lead..run.len() - trail];
        if !middle.is_empty() {
            out.push(Change {
                kind,
                tokens: middle.to_vec(),
            });
        }
    }
    same(&removed[removed.len() - trail..], out);
    removed.clear();
    added.clear();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    /// The text as `kind` sees it: `Removed` gives the old text, `Added`
    /// the new one.
    fn side(changes: &[Change<'_>], keep: Kind) -> String {
        changes
            .iter()
            .filter(|c| c.kind == Kind::Same || c.kind == keep)
            .map(Change::text)
            .collect()
    }

    fn marked(changes: &[Change<'_>]) -> String {
        changes
            .iter()
            .map(|c| match c.kind {
                Kind::Same => c.text(),
                Kind::Removed => format!("[-{}]", c.text()),
                Kind::Added => format!("[+{}]", c.text()),
            })
            .collect()
    }

    /// Length of a longest common subsequence, by dynamic programming.
    fn lcs(a: &[&str], b: &[&str]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
        for x in a {
            let mut diag = 0;
            for (j, y) in b.iter().enumerate() {
                let keep = row[j + 1];
                row[j + 1] = if x == y {
                    diag + 1
                } else {
                    row[j + 1].max(row[j])
                };
                diag = keep;
            }
        }
        row[b.len()]
    }

    #[test]
    fn tokens_are_words_spaces_and_single_marks_and_join_back() {
        assert_eq!(
            tokens("le 14 mars, «Samal»  ici"),
            vec!["le", " ", "14", " ", "mars", ",", " ", "«", "Samal", "»", "  ", "ici"]
        );
        // Arabic with a combining mark (shadda) stays one word.
        assert_eq!(tokens("شَدّة قال"), vec!["شَدّة", " ", "قال"]);
        let text = "Я встретился — 15 марта!\n\tOK";
        assert_eq!(tokens(text).concat(), text);
        assert!(tokens("").is_empty());
    }

    #[test]
    fn one_changed_word_is_one_removal_and_one_insertion() {
        let d = diff("met on 14 March at 19:00", "met on 15 March at 19:00").unwrap();
        assert_eq!(marked(&d), "met on [-14][+15] March at 19:00");
    }

    #[test]
    fn insertions_deletions_and_replaced_phrases_read_as_passages() {
        let d = diff(
            "the red car left quickly at night",
            "the blue old car left at dawn",
        )
        .unwrap();
        assert_eq!(
            marked(&d),
            "the [-red][+blue old] car left [-quickly ]at [-night][+dawn]"
        );
    }

    #[test]
    fn identical_and_empty_texts() {
        let d = diff("same text", "same text").unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, Kind::Same);
        assert_eq!(marked(&diff("", "new words").unwrap()), "[+new words]");
        assert_eq!(marked(&diff("old words", "").unwrap()), "[-old words]");
        assert!(diff("", "").unwrap().is_empty());
    }

    #[test]
    fn arabic_words_are_compared_whole() {
        let d = diff("قال الشاهد إنه رأى السيارة", "قال الشاهد إنه لم يرَ السيارة").unwrap();
        assert_eq!(marked(&d), "قال الشاهد إنه [-رأى][+لم يرَ] السيارة");
    }

    #[test]
    fn too_many_changes_or_tokens_give_up_instead_of_working_forever() {
        let old: String = (0..MAX_EDITS).map(|i| format!("a{i} ")).collect();
        let new: String = (0..MAX_EDITS).map(|i| format!("b{i} ")).collect();
        assert!(diff(&old, &new).is_none(), "{} edits", 2 * MAX_EDITS);
        let long: String = "word ".repeat(MAX_TOKENS);
        assert!(diff("x", &long).is_none());
        // A long text with one change is cheap: the ends are set aside.
        let before = format!("{long}14 {long}");
        let after = format!("{long}15 {long}");
        let d = diff(&before, &after).unwrap();
        assert_eq!(d.iter().filter(|c| c.kind != Kind::Same).count(), 2);
    }

    proptest! {
        #[test]
        fn diff_rebuilds_both_texts_with_a_minimal_script(
            a in proptest::collection::vec(prop_oneof!["x", "y", "z", " ", ","], 0..40),
            b in proptest::collection::vec(prop_oneof!["x", "y", "z", " ", ","], 0..40),
        ) {
            let old: String = a.concat();
            let new: String = b.concat();
            let d = diff(&old, &new).unwrap();
            prop_assert_eq!(side(&d, Kind::Removed), old.clone());
            prop_assert_eq!(side(&d, Kind::Added), new.clone());
            // The edit script is minimal: it keeps as many tokens as the
            // longest common subsequence.
            let (ta, tb) = (tokens(&old), tokens(&new));
            let ops = myers(&ta, &tb, MAX_EDITS).unwrap();
            let same = ops.iter().filter(|o| **o == Kind::Same).count();
            prop_assert_eq!(same, lcs(&ta, &tb));
            prop_assert_eq!(ops.len(), ta.len() + tb.len() - same);
        }
    }
}
