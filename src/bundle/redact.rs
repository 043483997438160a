//! Protected witnesses in an export (SPEC §5): finding their names and
//! putting their pseudonyms in their place.
//!
//! What is looked for, for each protected witness of the case: the whole
//! name as recorded in each version of their statement, and each alias the
//! latest version lists (`statement add --alias`, `statement amend
//! --alias`). Nothing else: a name part alone ("Ivanov" for "Évgueni
//! Ivanov") is found only when it is listed as an alias, so another man
//! called Evgueni keeps his name, and a spelling nobody listed ("Yevgeny",
//! "Евгений") is not found. `export --preview` shows every replacement in
//! context before anything is written.
//!
//! How: as search matches (the fold of `crate::formats::search`: case,
//! accents, compatibility forms and normalisation, in any script; no
//! transliteration between scripts), as whole words: a match must start
//! and end at a word boundary ("Ivanov" is not found in "Ivanovich"); the
//! words of a name may be separated by any run of spaces or punctuation.
//! In scripts written without spaces (CJK, Thai…) a name is found anywhere,
//! as there are no word boundaries to hold it to. Two matches of the same
//! witness separated only by spaces ("Yevgeny Ivanov", two aliases) become
//! one replacement. Every protected witness of the case is looked for
//! everywhere, since one statement's metadata may name another's witness.
//!
//! The export replaces them in every metadata field (case, statements,
//! exhibits, file names) unless identities are revealed, and by default in
//! statement texts too (a redacted copy, whose SHA-256 the statement's
//! export event records); with `--keep-names-in-text` the texts keep the
//! names and the export warns how often each names a witness.

use std::ops::Range;

use serde::Serialize;

use crate::formats::search::{fold, is_unspaced_script, Folded, Query};

/// One name or alias to look for, and the pseudonym that replaces it.
struct Pattern {
    query: Query,
    pseudonym: String,
}

/// The protected names of an export.
#[derive(Default)]
pub struct NameShield {
    patterns: Vec<Pattern>,
    /// Folded names and aliases already added (a witness in several
    /// statements or versions is looked for once).
    seen: Vec<String>,
    /// How many aliases were added (the export event records the count).
    aliases: usize,
}

impl NameShield {
    /// An empty shield (identities revealed: nothing is replaced).
    pub fn new() -> NameShield {
        NameShield::default()
    }

    /// Adds a protected witness's whole name. Returns false, adding
    /// nothing, when the real name is not known (a statement imported with
    /// its identity withheld holds the pseudonym in place of the name) or
    /// has no word to look for.
    pub fn add(&mut self, witness: &str, pseudonym: &str) -> bool {
        self.add_pattern(witness, pseudonym)
    }

    /// Adds one alias of a protected witness (another spelling, another
    /// script, a surname alone). Returns false when it adds nothing to look
    /// for (no word, or the pseudonym itself).
    pub(crate) fn add_alias(&mut self, alias: &str, pseudonym: &str) -> bool {
        let added = self.add_pattern(alias, pseudonym);
        if added {
            self.aliases += 1;
        }
        added
    }

    fn add_pattern(&mut self, name: &str, pseudonym: &str) -> bool {
        let folded = fold(name);
        let words: Vec<&str> = folded
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if words.is_empty() || folded == fold(pseudonym) {
            return false;
        }
        let key = words.join(" ");
        if self.seen.contains(&key) {
            return true;
        }
        // The words are alphanumeric only: no quote can end the phrase early.
        let Ok(query) = Query::parse(&format!("\"{key}\"")) else {
            return false;
        };
        self.patterns.push(Pattern {
            query,
            pseudonym: pseudonym.to_owned(),
        });
        self.seen.push(key);
        true
    }

    /// True when there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// How many aliases are looked for.
    pub(crate) fn alias_count(&self) -> usize {
        self.aliases
    }

    /// The byte ranges of `text` that name a protected witness, in order
    /// and not overlapping, each with the pseudonym that replaces it.
    pub fn find(&self, text: &str) -> Vec<(Range<usize>, &str)> {
        if self.patterns.is_empty() || text.is_empty() {
            return Vec::new();
        }
        let folded = Folded::new(text);
        let h = folded.text.as_str();
        let mut ranges: Vec<(Range<usize>, &str)> = Vec::new();
        for pattern in &self.patterns {
            for hit in pattern.query.hits(h) {
                if starts_word(h, &hit) && ends_word(h, &hit) {
                    ranges.push((folded.original_range(hit, text), &pattern.pseudonym));
                }
            }
        }
        // Longest first where two start together; overlaps merged.
        ranges.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
        let mut merged: Vec<(Range<usize>, &str)> = Vec::new();
        for (r, pseudonym) in ranges {
            match merged.last_mut() {
                Some((last, _)) if r.start < last.end => last.end = last.end.max(r.end),
                // Two names of one witness with only spaces between them
                // ("Yevgeny Ivanov" from two aliases) are one mention.
                Some((last, p))
                    if *p == pseudonym
                        && text
                            .get(last.end..r.start)
                            .is_some_and(|gap| gap.chars().all(|c| c == ' ' || c == '\u{a0}')) =>
                {
                    last.end = r.end;
                }
                _ => merged.push((r, pseudonym)),
            }
        }
        merged
    }

    /// How many times `text` names a protected witness.
    pub fn count(&self, text: &str) -> usize {
        self.find(text).len()
    }

    /// `text` with every protected name replaced, and how many were.
    pub fn replace(&self, text: &str) -> (String, usize) {
        let found = self.find(text);
        if found.is_empty() {
            return (text.to_owned(), 0);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (r, pseudonym) in &found {
            out.push_str(text.get(at..r.start).unwrap_or_default());
            out.push_str(pseudonym);
            at = r.end;
        }
        out.push_str(text.get(at..).unwrap_or_default());
        (out, found.len())
    }

    /// [`NameShield::replace`] for a metadata field, adding to `count`.
    pub fn field(&self, text: &str, count: &mut usize) -> String {
        let (out, n) = self.replace(text);
        *count += n;
        out
    }

    /// [`NameShield::field`] for an optional field.
    pub fn optional(&self, text: &Option<String>, count: &mut usize) -> Option<String> {
        text.as_deref().map(|t| self.field(t, count))
    }

    /// Every replacement in `text`, in context (for `export --preview`).
    pub(crate) fn in_context(&self, text: &str) -> Vec<InContext> {
        self.find(text)
            .into_iter()
            .map(|(r, pseudonym)| InContext {
                before: context_before(text, r.start),
                name: one_line(text.get(r.clone()).unwrap_or_default()),
                pseudonym: pseudonym.to_owned(),
                after: context_after(text, r.end),
            })
            .collect()
    }
}

/// About this many characters of context are shown on each side of a
/// replacement in a preview.
pub const CONTEXT_CHARS: usize = 30;

/// One replacement as the preview shows it: the original name with the
/// text around it (one line, cut with `…`), and its pseudonym.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InContext {
    /// The text before the name.
    pub before: String,
    /// The name as the text writes it.
    pub name: String,
    /// What replaces it.
    pub pseudonym: String,
    /// The text after the name.
    pub after: String,
}

impl InContext {
    /// `…mon frère [Evgeny → Témoin A] est…`
    pub fn marked(&self) -> String {
        format!(
            "{}[{} → {}]{}",
            self.before, self.name, self.pseudonym, self.after
        )
    }
}

/// `text` on one line: every run of whitespace or control characters
/// becomes one space.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            space = true;
        } else {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    if space && !out.is_empty() {
        out.push(' ');
    }
    out
}

fn context_before(text: &str, at: usize) -> String {
    let head = text.get(..at).unwrap_or_default();
    let start = head
        .char_indices()
        .rev()
        .nth(CONTEXT_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let cut = start > 0;
    let mut s = one_line(head.get(start..).unwrap_or_default());
    if head.ends_with(char::is_whitespace) && !s.ends_with(' ') {
        s.push(' ');
    }
    if cut {
        s.insert(0, '…');
    }
    s
}

fn context_after(text: &str, at: usize) -> String {
    let tail = text.get(at..).unwrap_or_default();
    let end = tail
        .char_indices()
        .nth(CONTEXT_CHARS)
        .map_or(tail.len(), |(i, _)| i);
    let mut s = one_line(tail.get(..end).unwrap_or_default());
    if tail.starts_with(char::is_whitespace) && !s.starts_with(' ') {
        s.insert(0, ' ');
    }
    if end < tail.len() {
        s.push('…');
    }
    s
}

/// The hit starts a word (or is in a script written without spaces).
fn starts_word(h: &str, hit: &Range<usize>) -> bool {
    let first = h.get(hit.clone()).and_then(|s| s.chars().next());
    first.is_some_and(is_unspaced_script)
        || h.get(..hit.start)
            .and_then(|s| s.chars().next_back())
            .is_none_or(|c| !c.is_alphanumeric())
}

/// The hit ends a word (or is in a script written without spaces).
fn ends_word(h: &str, hit: &Range<usize>) -> bool {
    let last = h.get(hit.clone()).and_then(|s| s.chars().next_back());
    last.is_some_and(is_unspaced_script)
        || h.get(hit.end..)
            .and_then(|s| s.chars().next())
            .is_none_or(|c| !c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shield(names: &[(&str, &str)]) -> NameShield {
        let mut s = NameShield::new();
        for (w, p) in names {
            s.add(w, p);
        }
        s
    }

    fn with_aliases(witness: &str, aliases: &[&str], pseudonym: &str) -> NameShield {
        let mut s = shield(&[(witness, pseudonym)]);
        for a in aliases {
            s.add_alias(a, pseudonym);
        }
        s
    }

    #[test]
    fn whole_names_are_found_as_search_finds_them_and_replaced() {
        let s = shield(&[("Évgueni Ivanov", "Témoin A")]);
        let text = "EVGUENI IVANOV est parti. Evgueni  Ivanov l'a dit; evgueni-ivanov aussi.";
        let (out, n) = s.replace(text);
        assert_eq!(n, 3, "{out}");
        assert_eq!(out, "Témoin A est parti. Témoin A l'a dit; Témoin A aussi.");
        assert_eq!(s.count(text), 3);
    }

    #[test]
    fn a_name_part_alone_is_not_replaced_without_an_alias() {
        let s = shield(&[("Évgueni Ivanov", "Témoin A")]);
        let text = "Évgueni Ivanov et mon cousin Evgueni; la famille Ivanov.";
        let (out, n) = s.replace(text);
        assert_eq!(n, 1, "{out}");
        assert_eq!(out, "Témoin A et mon cousin Evgueni; la famille Ivanov.");
    }

    #[test]
    fn listed_aliases_are_replaced_in_any_script() {
        let s = with_aliases(
            "Evgeny Ivanov",
            &["Yevgeny", "Евгений", "Ivanov"],
            "Témoin A",
        );
        assert_eq!(s.alias_count(), 3);
        let (out, n) = s.replace("Yevgeny a vu ЕВГЕНИЙ; le dossier Ivanov. Evgeny Ivanov signe.");
        assert_eq!(n, 4, "{out}");
        assert_eq!(
            out,
            "Témoin A a vu Témoin A; le dossier Témoin A. Témoin A signe."
        );
        // Not listed: not found (no transliteration between scripts).
        // Nor are other forms: an inflected name ("Евгению") needs its own
        // alias.
        let (out, n) = s.replace("Evgeny seul, Евгению.");
        assert_eq!(n, 0, "{out}");
    }

    #[test]
    fn case_and_accents_are_folded_for_aliases() {
        let s = with_aliases("Evgeny Ivanov", &["Évguéni"], "Témoin A");
        let (out, n) = s.replace("EVGUENI, evguéni et Evgue\u{301}ni.");
        assert_eq!(n, 3, "{out}");
        assert_eq!(out, "Témoin A, Témoin A et Témoin A.");
    }

    #[test]
    fn no_partial_word_hits_at_either_end() {
        let s = with_aliases("Evgeny Ivanov", &["Ivanov", "Evgeny"], "Témoin A");
        let text = "Ivanovich, Ivanova, Petro-Ivanov? non: XIvanov, Evgenya, ПетрIvanov.";
        let (out, n) = s.replace(text);
        // "Petro-Ivanov": the hyphen is a word boundary, so this one is him.
        assert_eq!(n, 1, "{out}");
        assert_eq!(
            out,
            "Ivanovich, Ivanova, Petro-Témoin A? non: XIvanov, Evgenya, ПетрIvanov."
        );
    }

    #[test]
    fn two_aliases_side_by_side_are_one_mention() {
        let s = with_aliases("Evgeny Ivanov", &["Yevgeny", "Ivanov"], "Témoin A");
        let (out, n) = s.replace("Yevgeny Ivanov, puis Ivanov, Yevgeny.");
        assert_eq!(n, 3, "{out}");
        assert_eq!(out, "Témoin A, puis Témoin A, Témoin A.");
    }

    #[test]
    fn cyrillic_names_are_replaced() {
        let s = shield(&[("Артём Ковальчук", "Témoin A")]);
        let (out, n) = s.replace("Свидетель Артем ковальчук сказал. Артём ушёл.");
        assert_eq!(n, 1);
        assert_eq!(out, "Свидетель Témoin A сказал. Артём ушёл.");
    }

    #[test]
    fn every_witness_gets_their_own_pseudonym_wherever_they_are_named() {
        let mut s = shield(&[
            ("Évgueni Ivanov", "Témoin A"),
            ("Олена Петренко", "Свідок 3"),
        ]);
        s.add_alias("Петренко", "Свідок 3");
        let (out, n) = s.replace("Affaire Evgueni Ivanov et Петренко (Олена Петренко)");
        assert_eq!(n, 3, "{out}");
        assert_eq!(out, "Affaire Témoin A et Свідок 3 (Свідок 3)");
    }

    #[test]
    fn an_unknown_real_name_or_an_empty_alias_adds_nothing() {
        let mut s = NameShield::new();
        assert!(!s.add("Témoin A", "Témoin A"));
        assert!(!s.add_alias("«…»", "Témoin A"));
        assert!(s.is_empty());
        assert_eq!(s.alias_count(), 0);
        assert_eq!(s.replace("le témoin a dit").1, 0);
    }

    #[test]
    fn unspaced_scripts_are_found_inside_running_text() {
        let s = shield(&[("王小明", "证人甲")]);
        let (out, n) = s.replace("我看见王小明走了。");
        assert_eq!(n, 1, "{out}");
        assert_eq!(out, "我看见证人甲走了。");
    }

    #[test]
    fn the_preview_shows_each_replacement_in_one_line_of_context() {
        let s = with_aliases("Evgeny Ivanov", &["Yevgeny", "Evgeny"], "Témoin A");
        let text = "Un texte assez long avant cela, mon frère\nEvgeny est venu. Puis Yevgeny.";
        let found = s.in_context(text);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].name, "Evgeny");
        assert_eq!(found[0].pseudonym, "Témoin A");
        assert_eq!(
            found[0].marked(),
            "…ez long avant cela, mon frère [Evgeny → Témoin A] est venu. Puis Yevgeny."
        );
        assert_eq!(
            found[1].marked(),
            "…n frère Evgeny est venu. Puis [Yevgeny → Témoin A]."
        );
    }
}
