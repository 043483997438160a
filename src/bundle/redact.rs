//! Protected witnesses in an export (SPEC §5): finding their names and
//! putting their pseudonyms in their place.
//!
//! A name is matched as search matches it (case-, accent- and
//! normalisation-insensitive), as whole words: the full name and each of
//! its parts of three letters or more, so "IVANOV" and "Evgueni" are found
//! for "Évgueni Ivanov". Every protected witness of the case is looked for
//! everywhere, since one statement's metadata may name another's witness.
//!
//! The export replaces them in every metadata field (case, statements,
//! exhibits, file names) unless identities are revealed, and by default in
//! statement texts too (a redacted text is a derived copy, whose SHA-256
//! the statement's export event records); with `--keep-names-in-text` the
//! texts keep the names and the export warns how often each names a
//! witness.

use std::ops::Range;

use crate::formats::search::{fold, Folded, Query};

/// One protected witness: the queries that find their name, and the
/// pseudonym that replaces it.
struct Protected {
    queries: Vec<Query>,
    pseudonym: String,
}

/// The protected names of an export.
#[derive(Default)]
pub struct NameShield {
    names: Vec<Protected>,
    /// Folded names already added (a witness in several statements or
    /// versions is looked for once).
    seen: Vec<String>,
}

impl NameShield {
    /// An empty shield (identities revealed: nothing is replaced).
    pub fn new() -> NameShield {
        NameShield::default()
    }

    /// Adds a protected witness. Returns false, adding nothing, when the
    /// real name is not known (a statement imported with its identity
    /// withheld holds the pseudonym in place of the name).
    pub fn add(&mut self, witness: &str, pseudonym: &str) -> bool {
        let folded = fold(witness);
        if folded.trim().is_empty() || folded == fold(pseudonym) {
            return false;
        }
        if self.seen.contains(&folded) {
            return true;
        }
        let mut patterns = vec![witness.replace('"', " ")];
        patterns.extend(
            witness
                .split(|c: char| !c.is_alphanumeric())
                .filter(|part| part.chars().count() >= 3)
                .map(str::to_owned),
        );
        let queries = patterns
            .iter()
            .filter_map(|p| Query::parse(&format!("\"{p}\"")).ok())
            .collect();
        self.names.push(Protected {
            queries,
            pseudonym: pseudonym.to_owned(),
        });
        self.seen.push(folded);
        true
    }

    /// True when there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The byte ranges of `text` that name a protected witness, merged,
    /// each with the pseudonym that replaces it.
    fn find(&self, text: &str) -> Vec<(Range<usize>, &str)> {
        if self.names.is_empty() || text.is_empty() {
            return Vec::new();
        }
        let folded = Folded::new(text);
        let mut ranges: Vec<(Range<usize>, &str)> = Vec::new();
        for name in &self.names {
            for query in &name.queries {
                for hit in query.hits(&folded.text) {
                    // Whole words only: the hit must end at a word boundary.
                    let ends_word = folded.text[hit.end..]
                        .chars()
                        .next()
                        .is_none_or(|c| !c.is_alphanumeric());
                    if ends_word {
                        ranges.push((folded.original_range(hit, text), &name.pseudonym));
                    }
                }
            }
        }
        ranges.sort_by_key(|(r, _)| (r.start, std::cmp::Reverse(r.end)));
        let mut merged: Vec<(Range<usize>, &str)> = Vec::new();
        for (r, pseudonym) in ranges {
            match merged.last_mut() {
                Some((last, _)) if r.start < last.end => last.end = last.end.max(r.end),
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
            out.push_str(&text[at..r.start]);
            out.push_str(pseudonym);
            at = r.end;
        }
        out.push_str(&text[at..]);
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

    #[test]
    fn names_are_found_as_search_finds_them_and_replaced() {
        let s = shield(&[("Évgueni Ivanov", "Témoin A")]);
        let text =
            "EVGUENI est parti. Evgueni Ivanov l'a dit; ivanov aussi. Evguenia non. Ivanovich non.";
        let (out, n) = s.replace(text);
        assert_eq!(n, 3, "{out}");
        assert_eq!(
            out,
            "Témoin A est parti. Témoin A l'a dit; Témoin A aussi. Evguenia non. Ivanovich non."
        );
        assert_eq!(s.count(text), 3);
    }

    #[test]
    fn cyrillic_names_are_replaced() {
        let s = shield(&[("Артём Ковальчук", "Témoin A")]);
        let (out, n) = s.replace("Свидетель Артем ковальчук сказал.");
        assert_eq!(n, 1);
        assert_eq!(out, "Свидетель Témoin A сказал.");
    }

    #[test]
    fn every_witness_gets_their_own_pseudonym_wherever_they_are_named() {
        let s = shield(&[
            ("Évgueni Ivanov", "Témoin A"),
            ("Олена Петренко", "Свідок 3"),
        ]);
        let (out, n) = s.replace("Affaire Ivanov et Петренко (Олена)");
        assert_eq!(n, 3, "{out}");
        assert_eq!(out, "Affaire Témoin A et Свідок 3 (Свідок 3)");
    }

    #[test]
    fn an_unknown_real_name_adds_nothing() {
        let mut s = NameShield::new();
        assert!(!s.add("Témoin A", "Témoin A"));
        assert!(s.is_empty());
        assert_eq!(s.replace("le témoin a dit").1, 0);
    }
}
