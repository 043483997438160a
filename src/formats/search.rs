//! Full-text search over decrypted testimony: text normalisation ("folding"),
//! query parsing, matching, ranking and snippet extraction.
//!
//! This module owns only the *text* side of search. It does NOT read storage,
//! decrypt records or keep an index (running a search over a vault's
//! records is `records::search`): callers hand it plaintext (or text they
//! folded earlier with [`fold`]) and get back booleans, scores, byte ranges and
//! display snippets. Nothing here allocates per character in the hot matching
//! path and nothing here panics on any input.
//!
//! # Model
//!
//! * [`fold`] turns any text into its *search form*: compatibility-decomposed
//!   (NFKD), without non-spacing marks (accents, Arabic harakat, Cyrillic
//!   breve/diaeresis), lowercased, with a few extra foldings (ß→ss, quotes, …)
//!   and whitespace runs collapsed. Documents and queries are folded the same
//!   way, so `evgueni` finds `Évgueni` and `شهادة` finds `شَهَادَة`.
//! * [`Query::parse`] splits user input into [`Term`]s: words, and quoted
//!   phrases (`"…"`, `«…»`, `“…”`). Every term must match ([`Query::matches`]).
//! * A word matches as a *prefix of a word* in the document (`refug` finds
//!   `réfugié`, `gueni` does not match inside `evgueni`). A phrase matches its
//!   words in order, separated by any run of whitespace or punctuation.
//! * [`Query::score`] ranks matching documents, [`snippet`] cuts an excerpt of
//!   the ORIGINAL text around the first hit, using [`Folded`] to map hits in
//!   folded text back to the original bytes.
//!
//! # Performance
//!
//! Callers should fold each document once (e.g. when it is decrypted for a
//! search session) and reuse the folded text for every query.
//! [`Query::matches`] first rejects documents with `str::contains` (SIMD
//! accelerated in `std` for needles up to 32 bytes), then scans with
//! `match_indices` for the longest word of each term and verifies word starts
//! and the neighbouring phrase words around each candidate. The `#[ignore]`d
//! test `bench_matches_10k_docs` runs queries over 10,000 folded documents of
//! ~5 KB (run it with
//! `cargo test --release -- --ignored --nocapture bench_matches`); on the
//! 2-core development machine a query takes about 5 ms when its words are
//! absent or found early, and 35-45 ms in the worst case, where every document
//! contains the words many times but never at a word start or in phrase order.

use std::ops::Range;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Weight of a prefix-only occurrence relative to a whole-word occurrence.
const PREFIX_WEIGHT: f64 = 0.5;
/// Weight of a phrase term relative to a single-word term.
const PHRASE_WEIGHT: f64 = 2.0;
/// BM25-style length normalisation strength (0 = ignore length, 1 = fully proportional).
const LENGTH_B: f64 = 0.75;
/// Nominal document length, in chars, used for the length normalisation.
const AVG_DOC_CHARS: f64 = 4000.0;
/// Marker placed at the cut ends of a snippet.
const ELLIPSIS: char = '…';

// ---------------------------------------------------------------------------
// Folding
// ---------------------------------------------------------------------------

/// The version of [`fold`]'s output. Folded texts are sealed in the vault
/// (`search_texts`), so any change to what `fold` produces for some input
/// (a new rule, a dependency's newer Unicode tables) is a format change:
/// raise this, and vaults re-fold their stored texts at the next unlock
/// (`docs/format.md`, "Search texts"). `tests/vectors/fold.tsv` pins the
/// output; it fails when the output changes without this moving.
pub const FOLD_VERSION: u32 = 2;

/// Fold text to its search form.
///
/// Steps, per character of `text`:
///
/// 1. Compatibility decomposition (NFKD): `ﬁ`→`fi`, `²`→`2`, full-width
///    letters → ASCII, Arabic presentation forms → base letters, `é`→`e`+`◌́`.
/// 2. Drop combining marks of general category Mn (and Me): accents, Arabic
///    harakat/tashkeel and hamza marks (`أ`→`ا`), Cyrillic breve and diaeresis
///    (`й`→`и`, `ё`→`е`, `ї`→`і`). Spacing marks (Mc, e.g. Devanagari vowel
///    signs) are kept because they carry meaning.
/// 3. Drop invisible format characters: Arabic tatweel (U+0640), soft hyphen,
///    zero-width space/joiners, bidi marks and embeddings, BOM.
/// 4. Full lowercase (`char::to_lowercase`).
/// 5. Extra folds: `ß`→`ss`, `œ`→`oe`, `æ`→`ae`, `ł`→`l`, `đ`→`d`, `ø`→`o`,
///    `ı`→`i`, Greek final `ς`→`σ`; `’ ‘ ‛ ʼ`→`'`; `« » “ ” „ ‟`→`"`;
///    Arabic-Indic and Persian digits → ASCII digits.
/// 6. Every run of whitespace becomes a single `' '`; leading and trailing
///    whitespace is removed.
///
/// `fold` is idempotent and always equals `Folded::new(text).text`.
///
/// It gives the same output as the [`Folder`] state machine that
/// [`Folded::new`] runs, by a faster road (no origin map is kept): ASCII
/// bytes are lowercased directly, and the folded form of each other char
/// (steps 1–5, a pure function of the char) is remembered in a small
/// cache, so the Unicode tables are consulted once per distinct char of a
/// text rather than once per occurrence. Step 6 is the same.
pub fn fold(text: &str) -> String {
    let mut out = FastFold {
        text: String::with_capacity(text.len()),
        pending_space: false,
        emitted_any: false,
    };
    // Filled at the first non-ASCII char (an ASCII text needs none).
    let mut cache: Vec<FoldCacheEntry> = Vec::new();
    let mut scratch: Vec<char> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        // The ASCII run at the front, byte by byte.
        let ascii = rest.bytes().take_while(u8::is_ascii).count();
        let (run, tail) = rest.split_at(ascii);
        for b in run.bytes() {
            out.push_final(char::from(b.to_ascii_lowercase()));
        }
        rest = tail;
        let mut chars = rest.chars();
        let Some(c) = chars.next() else {
            break;
        };
        rest = chars.as_str();
        if cache.is_empty() {
            cache.resize(FOLD_CACHE_SLOTS, FoldCacheEntry::EMPTY);
        }
        let Some(slot) = cache.get_mut(fold_cache_slot(c)) else {
            break;
        };
        if slot.key == c as u32 {
            let folded = &slot.folded[..usize::from(slot.len)];
            if slot.plain {
                out.push_plain(folded);
            } else {
                for &x in folded {
                    out.push_final(x);
                }
            }
            continue;
        }
        scratch.clear();
        fold_char(c, &mut scratch);
        if scratch.len() <= FOLD_CACHE_WIDTH {
            slot.key = c as u32;
            slot.len = scratch.len() as u8;
            slot.folded[..scratch.len()].copy_from_slice(&scratch);
            slot.plain = !scratch.is_empty() && !scratch.iter().any(|x| x.is_whitespace());
        }
        for &x in &scratch {
            out.push_final(x);
        }
    }
    out.text
}

/// Slots of [`fold`]'s per-call cache of folded non-ASCII chars (a power
/// of two).
const FOLD_CACHE_SLOTS: usize = 1024;

/// The cache slot of `c`: a multiplicative hash, so that the letters of
/// scripts 512 code points apart (Cyrillic U+04xx and Arabic U+06xx) do
/// not take each other's slots as they would by `c % FOLD_CACHE_SLOTS`.
fn fold_cache_slot(c: char) -> usize {
    let bits = FOLD_CACHE_SLOTS.trailing_zeros();
    ((c as u32).wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize
}
/// Longest folded form the cache keeps (longer ones are folded each time).
const FOLD_CACHE_WIDTH: usize = 4;

/// One slot of [`fold`]'s cache: a char and its folded form.
#[derive(Clone, Copy)]
struct FoldCacheEntry {
    /// The char (`u32::MAX`, never a char, when the slot is empty).
    key: u32,
    len: u8,
    /// At least one char, none of them whitespace: step 6 only has to put
    /// down a pending space before them.
    plain: bool,
    folded: [char; FOLD_CACHE_WIDTH],
}

impl FoldCacheEntry {
    const EMPTY: FoldCacheEntry = FoldCacheEntry {
        key: u32::MAX,
        len: 0,
        plain: false,
        folded: ['\0'; FOLD_CACHE_WIDTH],
    };
}

/// Steps 1–5 of [`fold`] for one non-ASCII char: the chars it hands to
/// step 6, exactly as [`Folder::run`] and [`Folder::push_decomposed`] do.
fn fold_char(c: char, out: &mut Vec<char>) {
    decompose_compatible(c, |d| {
        if is_dropped(d) {
            return;
        }
        for l in d.to_lowercase() {
            if l != d && is_dropped(l) {
                continue;
            }
            match fold_extra(l) {
                Extra::One(x) => out.push(x),
                Extra::Two(x, y) => {
                    out.push(x);
                    out.push(y);
                }
            }
        }
    });
}

/// Step 6 of [`fold`] without an origin map ([`Folder::push_final`] with a
/// text-only sink).
struct FastFold {
    text: String,
    pending_space: bool,
    emitted_any: bool,
}

impl FastFold {
    /// [`FastFold::push_final`] of each of `chars`, none of them whitespace
    /// (and at least one).
    #[inline]
    fn push_plain(&mut self, chars: &[char]) {
        if self.pending_space {
            self.text.push(' ');
            self.pending_space = false;
        }
        for &x in chars {
            self.text.push(x);
        }
        self.emitted_any = true;
    }

    #[inline]
    fn push_final(&mut self, x: char) {
        if x.is_whitespace() {
            if self.emitted_any {
                self.pending_space = true;
            }
        } else {
            if self.pending_space {
                self.text.push(' ');
                self.pending_space = false;
            }
            self.text.push(x);
            self.emitted_any = true;
        }
    }
}

/// Text in search form together with a map back to the original text.
///
/// For every byte of [`Folded::text`] it records the byte range of the
/// original character that produced it, so a hit found in folded text can be
/// mapped back with [`Folded::original_range`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded {
    /// The folded text; identical to [`fold`] of the original.
    pub text: String,
    /// For each byte of `text`: start of the original char that produced it.
    /// `u32`, not `usize`: these two maps are 8 bytes per folded byte, not
    /// 16 (a 10 MB statement's snippet cost 160 MB of maps; statements are
    /// at most 16 MiB, far below 4 GiB; larger offsets saturate, and
    /// [`Folded::original_range`] clamps them).
    starts: Vec<u32>,
    /// For each byte of `text`: end of the original char that produced it,
    /// extended over directly following chars that folded to nothing
    /// (combining marks, tatweel, ...), so highlights include them.
    ends: Vec<u32>,
}

impl Folded {
    /// Fold `original` (exactly like [`fold`]) and remember where every folded
    /// byte came from.
    pub fn new(original: &str) -> Folded {
        let mut folder = Folder::new(MapSink {
            text: String::with_capacity(original.len()),
            starts: Vec::with_capacity(original.len()),
            ends: Vec::with_capacity(original.len()),
            group_origin: usize::MAX,
            group_start: 0,
        });
        folder.run(original);
        let MapSink {
            text, starts, ends, ..
        } = folder.sink;
        Folded { text, starts, ends }
    }

    /// Map a byte range of `self.text` to the byte range of the original text
    /// that produced it (start of first original char .. end of last original
    /// char, including combining marks that directly follow it); always on
    /// char boundaries of the original.
    ///
    /// `original` must be the text given to [`Folded::new`]; out-of-range
    /// input is clamped rather than panicking, and an empty range maps to an
    /// empty range at the corresponding original position.
    pub fn original_range(&self, folded: Range<usize>, original: &str) -> Range<usize> {
        let len = self.text.len();
        let start = folded.start.min(len);
        let end = folded.end.clamp(start, len);
        let (orig_start, orig_end) = if start == end {
            let at = offset(self.starts.get(start), original.len());
            (at, at)
        } else {
            let s = offset(self.starts.get(start), original.len());
            let e = offset(self.ends.get(end - 1), original.len());
            (s, e.max(s))
        };
        let orig_start = floor_char_boundary(original, orig_start);
        let orig_end = ceil_char_boundary(original, orig_end).max(orig_start);
        orig_start..orig_end
    }
}

/// A stored origin offset as `usize` (the end of `original` when absent).
fn offset(stored: Option<&u32>, missing: usize) -> usize {
    stored.map_or(missing, |&o| usize::try_from(o).unwrap_or(missing))
}

/// An origin offset as stored in the maps (saturating: see [`Folded`]).
fn stored_offset(o: usize) -> u32 {
    u32::try_from(o).unwrap_or(u32::MAX)
}

/// Receives folded chars with the original byte range they came from.
trait Sink {
    /// Append `c`, produced by the original char at `start..end`.
    fn emit(&mut self, c: char, start: usize, end: usize);
    /// The original char ending at `end` produced nothing and directly follows
    /// the last emitted group: attribute it to that group.
    fn extend(&mut self, end: usize);
}

/// Sink for [`Folded::new`]: text plus per-byte origin ranges.
struct MapSink {
    text: String,
    starts: Vec<u32>,
    ends: Vec<u32>,
    /// Original start of the char whose output is at the end of `text`.
    group_origin: usize,
    /// Folded byte where that char's output begins.
    group_start: usize,
}

impl Sink for MapSink {
    fn emit(&mut self, c: char, start: usize, end: usize) {
        if start != self.group_origin {
            self.group_origin = start;
            self.group_start = self.text.len();
        }
        self.text.push(c);
        let n = c.len_utf8();
        self.starts
            .extend(std::iter::repeat_n(stored_offset(start), n));
        self.ends.extend(std::iter::repeat_n(stored_offset(end), n));
    }

    fn extend(&mut self, end: usize) {
        if let Some(tail) = self.ends.get_mut(self.group_start..) {
            for e in tail {
                *e = stored_offset(end);
            }
        }
    }
}

/// The folding state machine of [`Folded::new`] (and the reference for
/// [`fold`], which must give the same text).
struct Folder<S: Sink> {
    sink: S,
    /// Original range of the first whitespace char of a pending run.
    pending_space: Option<(usize, usize)>,
    /// Whether any non-space char was emitted yet (for trimming).
    emitted_any: bool,
    /// Whether the current original char produced anything (even a space).
    touched: bool,
}

impl<S: Sink> Folder<S> {
    fn new(sink: S) -> Self {
        Folder {
            sink,
            pending_space: None,
            emitted_any: false,
            touched: false,
        }
    }

    fn run(&mut self, text: &str) {
        for (start, c) in text.char_indices() {
            let end = start + c.len_utf8();
            self.touched = false;
            if c.is_ascii() {
                // ASCII has no decomposition, no marks and no extra folds.
                self.push_final(c.to_ascii_lowercase(), start, end);
            } else {
                decompose_compatible(c, |d| self.push_decomposed(d, start, end));
            }
            if !self.touched && self.emitted_any && self.pending_space.is_none() {
                // A mark (or tatweel, bidi mark, ...) directly after a char:
                // it belongs to that char's highlight.
                self.sink.extend(end);
            }
        }
    }

    fn push_decomposed(&mut self, d: char, start: usize, end: usize) {
        if is_dropped(d) {
            return;
        }
        for l in d.to_lowercase() {
            if l != d && is_dropped(l) {
                continue;
            }
            match fold_extra(l) {
                Extra::One(x) => self.push_final(x, start, end),
                Extra::Two(x, y) => {
                    self.push_final(x, start, end);
                    self.push_final(y, start, end);
                }
            }
        }
    }

    fn push_final(&mut self, x: char, start: usize, end: usize) {
        self.touched = true;
        if x.is_whitespace() {
            if self.emitted_any && self.pending_space.is_none() {
                self.pending_space = Some((start, end));
            }
        } else {
            if let Some((ps, pe)) = self.pending_space.take() {
                self.sink.emit(' ', ps, pe);
            }
            self.sink.emit(x, start, end);
            self.emitted_any = true;
        }
    }
}

/// Result of the extra, post-lowercase folds.
enum Extra {
    One(char),
    Two(char, char),
}

fn fold_extra(c: char) -> Extra {
    match c {
        'ß' => Extra::Two('s', 's'),
        'œ' => Extra::Two('o', 'e'),
        'æ' => Extra::Two('a', 'e'),
        'ς' => Extra::One('σ'),
        'ł' => Extra::One('l'),
        'đ' => Extra::One('d'),
        'ø' => Extra::One('o'),
        'ı' => Extra::One('i'),
        '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{02BC}' => Extra::One('\''),
        '«' | '»' | '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' => Extra::One('"'),
        '\u{0660}'..='\u{0669}' => Extra::One(ascii_digit(c as u32 - 0x0660)),
        '\u{06F0}'..='\u{06F9}' => Extra::One(ascii_digit(c as u32 - 0x06F0)),
        _ => Extra::One(c),
    }
}

fn ascii_digit(n: u32) -> char {
    char::from_digit(n, 10).unwrap_or('0')
}

/// Chars removed entirely by folding: non-spacing/enclosing marks and
/// invisible format characters.
fn is_dropped(c: char) -> bool {
    if c.is_ascii() {
        return false;
    }
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{0640}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    ) || (is_combining_mark(c) && !is_spacing_mark(c))
}

/// General category Mc (spacing combining mark), from the maintained
/// `unicode-properties` tables (the same Unicode version as the
/// normaliser's, so new scripts fold consistently).
fn is_spacing_mark(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    c.general_category() == GeneralCategory::SpacingMark
}

fn floor_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

/// One search term, stored in folded form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A single word; matches as a prefix of a word in the document.
    Word(String),
    /// Words that must appear in this order, separated by whitespace or
    /// punctuation; stored as the folded words joined by single spaces.
    /// Quoted input becomes a phrase, and so does an unquoted word with inner
    /// punctuation (`jean-pierre`, `l'armée`).
    Phrase(String),
}

/// Why a search query could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    /// The query has no searchable word (blank, or punctuation only).
    #[error("the search query is empty")]
    Empty,
    /// A `"` (or `«`, `»`, `“`, `”`) opened a phrase that was never closed.
    #[error("the search query has an unclosed quote")]
    UnclosedQuote,
}

/// A parsed search query: every term must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    terms: Vec<Term>,
    compiled: Vec<Compiled>,
}

/// A term prepared for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Compiled {
    /// Folded alphanumeric words, never empty, each non-empty.
    words: Vec<String>,
    /// One prepared substring searcher per word, in the order of `words`
    /// (built once per query, not once per statement searched).
    finders: Vec<WordFinder>,
    phrase: bool,
    /// Whether the first word must start at a word start. False for scripts
    /// written without spaces (CJK, Thai, ...), where any position is allowed.
    anchored: bool,
    /// Index in `words` of the word searched for first (the longest).
    anchor: usize,
}

/// A vectorised substring searcher for one word ([`memchr::memmem`]: the
/// scan of every statement's text is most of a search's time, and the
/// standard library's `str` search rebuilds its tables on every call).
#[derive(Debug, Clone)]
struct WordFinder(memchr::memmem::Finder<'static>);

impl WordFinder {
    fn new(word: &str) -> Self {
        WordFinder(memchr::memmem::Finder::new(word.as_bytes()).into_owned())
    }
}

impl PartialEq for WordFinder {
    fn eq(&self, other: &Self) -> bool {
        self.0.needle() == other.0.needle()
    }
}

impl Eq for WordFinder {}

impl Query {
    /// Parse user input: whitespace-separated words, and "double-quoted
    /// phrases" (`« »`, `“ ”` and `„` are accepted as quotes too). Terms are
    /// folded with [`fold`]. Punctuation-only words are dropped, leading and
    /// trailing punctuation of a word is ignored, and a word with inner
    /// punctuation (`jean-pierre`) becomes a phrase of its parts. Duplicate
    /// terms are kept once.
    ///
    /// Errors: [`QueryError::UnclosedQuote`] when quotes are unbalanced,
    /// [`QueryError::Empty`] when no term remains.
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        let folded = fold(input);
        if folded.bytes().filter(|&b| b == b'"').count() % 2 == 1 {
            return Err(QueryError::UnclosedQuote);
        }
        let mut terms = Vec::new();
        let mut compiled = Vec::new();
        for (k, segment) in folded.split('"').enumerate() {
            if k % 2 == 0 {
                for word in segment.split(' ') {
                    add_term(&mut terms, &mut compiled, word, false);
                }
            } else {
                add_term(&mut terms, &mut compiled, segment, true);
            }
        }
        if terms.is_empty() {
            return Err(QueryError::Empty);
        }
        Ok(Query { terms, compiled })
    }

    /// The parsed, folded terms in input order.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The words a matching text must hold at the start of one of its
    /// words (what the search index looks up): every word of every term,
    /// but the first word of a term in a script written without spaces,
    /// which may match anywhere. Sound for [`Query::score`]: a word
    /// before or after another word of a phrase is always separated from
    /// it, and an anchored term starts at a word start.
    pub fn required_prefixes(&self) -> impl Iterator<Item = &str> {
        self.compiled.iter().flat_map(|c| {
            c.words
                .iter()
                .skip(usize::from(!c.anchored))
                .map(String::as_str)
        })
    }

    /// True when every term occurs in the already-folded haystack (see
    /// [`fold`]). A word matches as a substring at the START of a word (so
    /// "refug" finds "réfugié", but "gueni" does not match inside
    /// "evgueni"); a phrase matches its words in sequence separated by any
    /// whitespace/punctuation run, starting at a word start. In scripts
    /// written without spaces (CJK, Thai, Lao, Khmer, Myanmar) a term may
    /// start anywhere.
    pub fn matches(&self, folded_haystack: &str) -> bool {
        self.all_words_present(folded_haystack)
            && self
                .compiled
                .iter()
                .all(|c| c.find_from(folded_haystack, 0).is_some())
    }

    /// Score for ranking; `None` when not all terms match, otherwise higher
    /// is better.
    ///
    /// Per term, occurrences are counted (a whole-word occurrence counts 1, a
    /// prefix-only one 0.5), log-damped with `ln(1 + tf)` and weighted (a
    /// phrase weighs twice a word). The sum is divided by a BM25-like length
    /// norm `1 - b + b * chars / 4000` with `b = 0.75`, so shorter documents
    /// rank above longer ones with the same occurrences. Deterministic.
    pub fn score(&self, folded_haystack: &str) -> Option<f64> {
        if !self.all_words_present(folded_haystack) {
            return None;
        }
        let mut total = 0.0;
        for c in &self.compiled {
            let (mut count, mut whole) = (0u32, 0u32);
            let mut pos = 0;
            while let Some(r) = c.find_from(folded_haystack, pos) {
                count += 1;
                if is_word_end(folded_haystack, r.end) {
                    whole += 1;
                }
                pos = r.end;
            }
            if count == 0 {
                return None;
            }
            let tf = f64::from(whole) + PREFIX_WEIGHT * f64::from(count - whole);
            let weight = if c.phrase { PHRASE_WEIGHT } else { 1.0 };
            total += weight * tf.ln_1p();
        }
        let chars = folded_haystack.chars().count() as f64;
        let norm = 1.0 - LENGTH_B + LENGTH_B * chars / AVG_DOC_CHARS;
        Some(total / norm)
    }

    /// All hit ranges (byte ranges in the folded haystack) of all terms,
    /// sorted, with overlapping or touching hits merged. A word hit covers the
    /// matched prefix only; a phrase hit spans from its first to its last
    /// word. Returns hits even when not every term matches.
    pub fn hits(&self, folded_haystack: &str) -> Vec<Range<usize>> {
        let mut hits = Vec::new();
        for c in &self.compiled {
            let mut pos = 0;
            while let Some(r) = c.find_from(folded_haystack, pos) {
                pos = r.end;
                hits.push(r);
            }
        }
        merge_ranges(hits)
    }

    /// Cheap rejection: every word of every term occurs somewhere.
    fn all_words_present(&self, haystack: &str) -> bool {
        self.compiled.iter().all(|c| {
            c.finders
                .iter()
                .all(|f| f.0.find(haystack.as_bytes()).is_some())
        })
    }
}

fn add_term(terms: &mut Vec<Term>, compiled: &mut Vec<Compiled>, text: &str, quoted: bool) {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let Some(first) = words.first() else {
        return;
    };
    let phrase = quoted || words.len() > 1;
    let term = if phrase {
        Term::Phrase(words.join(" "))
    } else {
        Term::Word((*first).to_owned())
    };
    if terms.contains(&term) {
        return;
    }
    let anchored = !first.chars().next().is_some_and(is_unspaced_script);
    // Longest word, first one on ties (max_by_key would pick the last).
    let anchor = words
        .iter()
        .enumerate()
        .fold(
            (0, 0),
            |best, (i, w)| if w.len() > best.1 { (i, w.len()) } else { best },
        )
        .0;
    terms.push(term);
    compiled.push(Compiled {
        words: words.iter().map(|w| (*w).to_owned()).collect(),
        finders: words.iter().map(|w| WordFinder::new(w)).collect(),
        phrase,
        anchored,
        anchor,
    });
}

impl Compiled {
    /// First occurrence starting at or after byte `from` of `h`.
    ///
    /// The scan looks for the longest word of the term (the "anchor": fewer
    /// candidates and longer skips than a short leading word such as "en" or
    /// "les"), then verifies the words before it backwards and the words after
    /// it forwards.
    fn find_from(&self, h: &str, from: usize) -> Option<Range<usize>> {
        let anchor = self.words.get(self.anchor)?;
        let (before, after) = (
            self.words.get(..self.anchor)?,
            self.words.get(self.anchor + 1..)?,
        );
        let tail = h.get(from..)?;
        let finder = &self.finders.get(self.anchor)?.0;
        // Non-overlapping, left to right, as `str::match_indices`.
        for rel in finder.find_iter(tail.as_bytes()) {
            let at = from + rel;
            let Some(start) = match_before(h, at, before) else {
                continue;
            };
            if start < from || (self.anchored && !is_word_start(h, start)) {
                continue;
            }
            if let Some(end) = match_rest(h, at + anchor.len(), after) {
                return Some(start..end);
            }
        }
        None
    }
}

/// Match phrase words backwards from byte `pos` (the start of a later word),
/// each followed by a non-empty run of non-alphanumeric chars. Returns the
/// start of the first word.
fn match_before(h: &str, mut pos: usize, before: &[String]) -> Option<usize> {
    for word in before.iter().rev() {
        let prefix = h.get(..pos)?;
        let (i, c) = prefix
            .char_indices()
            .rev()
            .find(|&(_, c)| c.is_alphanumeric())?;
        let word_end = i + c.len_utf8();
        if word_end == pos {
            return None;
        }
        if !h.get(..word_end)?.ends_with(word.as_str()) {
            return None;
        }
        pos = word_end - word.len();
    }
    Some(pos)
}

/// Match the remaining phrase words from byte `pos`, each preceded by a
/// non-empty run of non-alphanumeric chars. Returns the end of the last word.
fn match_rest(h: &str, mut pos: usize, rest: &[String]) -> Option<usize> {
    for word in rest {
        let after = h.get(pos..)?;
        let sep = after
            .char_indices()
            .find(|&(_, c)| c.is_alphanumeric())
            .map(|(i, _)| i)?;
        if sep == 0 {
            return None;
        }
        pos += sep;
        if !h.get(pos..)?.starts_with(word.as_str()) {
            return None;
        }
        pos += word.len();
    }
    Some(pos)
}

/// The char before byte `i` is not alphanumeric (or `i` is the start).
fn is_word_start(h: &str, i: usize) -> bool {
    h.get(..i)
        .and_then(|s| s.chars().next_back())
        .is_none_or(|c| !c.is_alphanumeric())
}

/// The char at byte `i` is not alphanumeric (or `i` is the end).
fn is_word_end(h: &str, i: usize) -> bool {
    h.get(i..)
        .and_then(|s| s.chars().next())
        .is_none_or(|c| !c.is_alphanumeric())
}

/// Scripts usually written without spaces between words, where the
/// word-start rule would make search useless (also used by redaction's
/// word-boundary rule, `bundle::redact`).
pub(crate) fn is_unspaced_script(c: char) -> bool {
    matches!(
        c,
        '\u{0E00}'..='\u{0EFF}'         // Thai, Lao
            | '\u{1000}'..='\u{109F}'   // Myanmar
            | '\u{1780}'..='\u{17FF}'   // Khmer
            | '\u{2E80}'..='\u{2FDF}'   // CJK radicals
            | '\u{3005}'..='\u{3007}'   // CJK iteration marks, ideographic zero
            | '\u{3040}'..='\u{31FF}'   // Kana, Bopomofo, ...
            | '\u{3400}'..='\u{4DBF}'   // CJK extension A
            | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
            | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
            | '\u{20000}'..='\u{3FFFF}' // CJK extensions B..
    )
}

/// Sort ranges and merge those that overlap or touch.
fn merge_ranges(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

// ---------------------------------------------------------------------------
// Snippets
// ---------------------------------------------------------------------------

/// A short excerpt of the ORIGINAL text around the first hit, with the byte
/// ranges inside [`Snippet::text`] to highlight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The excerpt: about `width` chars of the original, whitespace runs and
    /// control chars (newlines, tabs, escapes) collapsed to single spaces,
    /// with `…` where the original was cut.
    pub text: String,
    /// Byte ranges of `text` to highlight: all hits that fall entirely inside
    /// the excerpt; sorted, non-overlapping, on char boundaries.
    pub highlights: Vec<Range<usize>>,
}

/// Cut an excerpt of `original` around the first hit of `query`: about
/// `width` chars (the hit itself is never cut, even if longer), cut on char
/// boundaries and preferably just after/before whitespace, with `…` at cut
/// ends and newlines and other control chars replaced by spaces. Highlights
/// cover every hit that falls inside the excerpt, mapped back to the
/// original (accented, unnormalised) characters.
///
/// Returns `None` when no term of the query occurs in `original`.
pub fn snippet(original: &str, query: &Query, width: usize) -> Option<Snippet> {
    let folded = Folded::new(original);
    let hits = merge_ranges(
        query
            .hits(&folded.text)
            .into_iter()
            .map(|r| folded.original_range(r, original))
            .collect(),
    );
    let first = hits.first()?.clone();
    let (start, end) = excerpt_bounds(original, first, width);
    let body = original.get(start..end)?;

    let mut text = String::with_capacity(body.len() + 2 * ELLIPSIS.len_utf8());
    if start > 0 {
        text.push(ELLIPSIS);
    }
    let body_start = text.len();
    // (original offset, snippet offset) for every char start in the body.
    let mut offsets: Vec<(usize, usize)> = Vec::with_capacity(body.len() + 1);
    let mut pending_space = false;
    for (i, c) in body.char_indices() {
        if c.is_whitespace() || c.is_control() {
            offsets.push((start + i, text.len()));
            pending_space = text.len() > body_start;
        } else {
            if pending_space {
                text.push(' ');
                pending_space = false;
            }
            offsets.push((start + i, text.len()));
            text.push(c);
        }
    }
    offsets.push((end, text.len()));
    if end < original.len() {
        text.push(ELLIPSIS);
    }

    let map = |orig: usize| {
        offsets
            .binary_search_by_key(&orig, |&(o, _)| o)
            .ok()
            .and_then(|k| offsets.get(k))
            .map(|&(_, new)| new)
    };
    let highlights = hits
        .iter()
        .filter(|h| h.start >= start && h.end <= end)
        .filter_map(|h| Some(map(h.start)?..map(h.end)?))
        .filter(|h| h.start < h.end)
        .collect();
    Some(Snippet { text, highlights })
}

/// Byte bounds of the excerpt around `hit` in `original`.
fn excerpt_bounds(original: &str, hit: Range<usize>, width: usize) -> (usize, usize) {
    let (Some(before_text), Some(hit_text), Some(after_text)) = (
        original.get(..hit.start),
        original.get(hit.clone()),
        original.get(hit.end..),
    ) else {
        return (0, original.len());
    };
    let budget = width.saturating_sub(hit_text.chars().count());
    let avail_before = before_text.chars().rev().take(budget).count();
    let avail_after = after_text.chars().take(budget).count();
    let before = avail_before.min((budget / 2).max(budget - avail_after));
    let after = avail_after.min(budget - before);

    let mut start = if before == 0 {
        hit.start
    } else {
        before_text
            .char_indices()
            .rev()
            .nth(before - 1)
            .map_or(0, |(i, _)| i)
    };
    let mut end = hit.end
        + after_text
            .char_indices()
            .nth(after)
            .map_or(after_text.len(), |(i, _)| i);

    // Prefer cutting at whitespace: drop a partial word at each cut end.
    if start > 0 && !ends_with_whitespace(&original[..start]) {
        if let Some((i, c)) = original[start..hit.start]
            .char_indices()
            .find(|&(_, c)| c.is_whitespace())
        {
            start += i + c.len_utf8();
        }
    }
    if end < original.len() && !starts_with_whitespace(&original[end..]) {
        if let Some(i) = original[hit.end..end].rfind(char::is_whitespace) {
            end = hit.end + i;
        }
    }
    // Do not announce a cut when only whitespace was left out.
    if original[..start].trim().is_empty() {
        start = 0;
    }
    if original[end..].trim().is_empty() {
        end = original.len();
    }
    (start, end)
}

fn ends_with_whitespace(s: &str) -> bool {
    s.chars().next_back().is_some_and(char::is_whitespace)
}

fn starts_with_whitespace(s: &str) -> bool {
    s.chars().next().is_some_and(char::is_whitespace)
}

impl Snippet {
    /// Render with the highlights wrapped in `open`/`close` (e.g.
    /// `"\x1b[1;33m"` and `"\x1b[0m"` on a terminal, or `"["` `"]"` on a
    /// pipe). Invalid or overlapping highlight ranges are ignored.
    pub(crate) fn render(&self, open: &str, close: &str) -> String {
        let mut out = String::with_capacity(
            self.text.len() + self.highlights.len() * (open.len() + close.len()),
        );
        let mut pos = 0;
        for h in &self.highlights {
            if h.start < pos {
                continue;
            }
            let (Some(plain), Some(marked)) =
                (self.text.get(pos..h.start), self.text.get(h.clone()))
            else {
                continue;
            };
            out.push_str(plain);
            out.push_str(open);
            out.push_str(marked);
            out.push_str(close);
            pos = h.end;
        }
        out.push_str(self.text.get(pos..).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(input: &str) -> Query {
        match Query::parse(input) {
            Ok(query) => query,
            Err(e) => panic!("query {input:?} failed to parse: {e}"),
        }
    }

    /// Does `query` match the document `doc` (folded here, like the caller would)?
    fn finds(query: &str, doc: &str) -> bool {
        q(query).matches(&fold(doc))
    }

    fn snip(doc: &str, query: &str, width: usize) -> Snippet {
        match snippet(doc, &q(query), width) {
            Some(s) => s,
            None => panic!("no snippet for {query:?} in {doc:?}"),
        }
    }

    /// The highlighted substrings of a snippet.
    fn highlighted(s: &Snippet) -> Vec<&str> {
        s.highlights
            .iter()
            .map(|h| s.text.get(h.clone()).unwrap_or("<not a char boundary>"))
            .collect()
    }

    fn score(query: &str, doc: &str) -> f64 {
        match q(query).score(&fold(doc)) {
            Some(s) => s,
            None => panic!("{query:?} does not score on {doc:?}"),
        }
    }

    // --- fold -------------------------------------------------------------

    #[test]
    fn fold_basics() {
        assert_eq!(fold("Évgueni"), "evgueni");
        assert_eq!(fold("réfugié"), "refugie");
        assert_eq!(fold("  Parti\ten \n\r\n Russie  "), "parti en russie");
        assert_eq!(fold("Straße ŒUVRE Æsir"), "strasse oeuvre aesir");
        assert_eq!(fold("l’armée ‘x’"), "l'armee 'x'");
        assert_eq!(fold("«Oui» “non” „ja“"), "\"oui\" \"non\" \"ja\"");
        assert_eq!(fold("ﬁnale ²"), "finale 2");
        assert_eq!(fold("ＡＢＣ"), "abc");
        assert_eq!(fold(""), "");
        assert_eq!(fold(" \n\t "), "");
    }

    #[test]
    fn fold_cyrillic_and_arabic() {
        assert_eq!(fold("ДЕЗЕРТИР"), "дезертир");
        assert_eq!(fold("Артём"), "артем");
        assert_eq!(fold("Київ"), "киів");
        assert_eq!(fold("Андрій"), "андріи");
        assert_eq!(fold("мʼясо"), "м'ясо");
        assert_eq!(fold("شَهَادَة"), "شهادة");
        assert_eq!(fold("شهـــادة"), "شهادة");
        assert_eq!(fold("أحمد إبراهيم آمنة"), "احمد ابراهيم امنة");
        assert_eq!(fold("٢٠٢٢ ۱۴۰۱"), "2022 1401");
    }

    #[test]
    fn fold_extra_latin_greek_and_invisibles() {
        assert_eq!(fold("Łódź"), "lodz");
        assert_eq!(fold("ΟΔΟΣ οδος"), "οδοσ οδοσ");
        assert_eq!(fold("İstanbul ıspanak"), "istanbul ispanak");
        // soft hyphen, zero-width joiner, right-to-left mark, BOM
        assert_eq!(fold("\u{FEFF}té\u{00AD}moin\u{200D}\u{200F}"), "temoin");
    }

    #[test]
    fn fold_keeps_spacing_marks() {
        // Devanagari vowel sign AA (Mc) is kept, nukta/anusvara (Mn) dropped.
        assert_eq!(fold("का"), "का");
        assert_eq!(fold("कं"), "क");
        assert!(is_spacing_mark('\u{093E}'));
        assert!(!is_spacing_mark('\u{0301}'));
    }

    #[test]
    fn fold_is_idempotent_and_equals_folded_text() {
        let samples = [
            "Évgueni a dit: « Je suis réfugié »",
            "ДЕЗЕРТИР Артём, Київ — мʼясо",
            "شَهَادَة الشاهد ﷺ ﻻ",
            "Straße ﬁnal ǅemal ΣΟΦΟΣ ẞ Ω K Å",
            "e\u{301}\u{302} a \u{301}b \u{200F}\u{200F}",
            "北京 東京 ｶﾀｶﾅ 한국어",
        ];
        for s in samples {
            let once = fold(s);
            assert_eq!(fold(&once), once, "not idempotent on {s:?}");
            assert_eq!(Folded::new(s).text, once, "Folded differs on {s:?}");
        }
    }

    #[test]
    fn fold_is_idempotent_for_every_char() {
        let mut buf = [0u8; 4];
        let mut bad = Vec::new();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let text = c.encode_utf8(&mut buf);
            let once = fold(text);
            if fold(&once) != once || Folded::new(text).text != once {
                bad.push(c);
            }
        }
        assert!(
            bad.is_empty(),
            "not idempotent: {:?}",
            &bad[..bad.len().min(20)]
        );
    }

    /// Every char of the interesting ranges, and whitespace of each kind,
    /// mixed at random: `fold` (ASCII fast path, per-call cache of folded
    /// chars, colliding slots) gives exactly `Folded::new`'s text.
    #[test]
    fn fold_fast_path_equals_the_state_machine() {
        use proptest::prelude::*;
        let pieces = prop_oneof![
            proptest::char::range('\0', '\u{7F}'),
            proptest::char::range('\u{80}', '\u{24F}'),
            proptest::char::range('\u{300}', '\u{36F}'),
            proptest::char::range('\u{370}', '\u{6FF}'),
            proptest::char::range('\u{900}', '\u{97F}'),
            proptest::char::range('\u{1E00}', '\u{206F}'),
            proptest::char::range('\u{3000}', '\u{30FF}'),
            proptest::char::range('\u{AC00}', '\u{AC40}'),
            proptest::char::range('\u{FB00}', '\u{FFFF}'),
            proptest::sample::select(vec![
                ' ',
                '\t',
                '\n',
                '\u{85}',
                '\u{A0}',
                '\u{2003}',
                '\u{3000}',
                '\u{FDFA}',
                '\u{1D400}',
                '\u{1F600}'
            ]),
            any::<char>(),
        ];
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2000));
        runner
            .run(&proptest::collection::vec(pieces, 0..200), |chars| {
                let text: String = chars.into_iter().collect();
                prop_assert_eq!(fold(&text), Folded::new(&text).text);
                Ok(())
            })
            .unwrap();
    }

    // --- matching ----------------------------------------------------------

    /// The prepared searcher finds, left to right and without overlaps,
    /// exactly what `str::match_indices` finds (what the scoring relied on
    /// before it was prepared once per query), in texts of few letters
    /// where needles repeat, overlap and cross multi-byte characters.
    #[test]
    fn word_finder_finds_what_match_indices_finds() {
        use proptest::prelude::*;
        let piece = proptest::sample::select(vec!["a", "aa", "é", "ab", " ", "-", "ش", "阿"]);
        let text = proptest::collection::vec(piece.clone(), 0..60).prop_map(|p| p.concat());
        let needle = proptest::collection::vec(piece, 1..4).prop_map(|p| p.concat());
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(3000));
        runner
            .run(&(text, needle), |(text, needle)| {
                let found: Vec<usize> = WordFinder::new(&needle)
                    .0
                    .find_iter(text.as_bytes())
                    .collect();
                let expected: Vec<usize> = text.match_indices(&needle).map(|(i, _)| i).collect();
                prop_assert_eq!(found, expected);
                prop_assert_eq!(
                    WordFinder::new(&needle).0.find(text.as_bytes()).is_some(),
                    text.contains(&needle)
                );
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn accent_and_case_insensitive_latin() {
        assert!(finds("evgueni", "Le témoin Évgueni a parlé."));
        assert!(finds("EVGUENI", "Le témoin évgueni a parlé."));
        assert!(finds("refugie", "Il est réfugié depuis 2019."));
        assert!(finds("réfugié", "Il est REFUGIE depuis 2019."));
        assert!(finds("refug", "Il est réfugié depuis 2019."));
        assert!(finds("strasse", "Straße 5"));
        assert!(finds("STRASSE", "straße 5"));
        assert!(!finds("evgenia", "Le témoin Évgueni a parlé."));
    }

    #[test]
    fn cyrillic_case_yo_and_ukrainian() {
        assert!(finds("дезертир", "Он ДЕЗЕРТИР."));
        assert!(finds("ДЕЗЕРТИР", "он дезертир."));
        assert!(finds("артем", "Свидетель Артём сказал"));
        assert!(finds("Артём", "свидетель АРТЕМ сказал"));
        // Ukrainian ї/і and й/и
        assert!(finds("киів", "Я з Києва, з Київ."));
        assert!(finds("КИЇВ", "місто Київ"));
        assert!(finds("андріи", "Свідок Андрій"));
        assert!(finds("Андрій", "свідок АНДРІИ"));
        assert!(finds("сергеи", "Сергей")); // й typed as и
        assert!(finds("киівськии", "Київський"));
        assert!(!finds("андрии", "Андрій")); // і and и stay distinct
                                             // Ukrainian apostrophe variants
        assert!(finds("м'ясо", "купив мʼясо"));
        assert!(finds("мʼясо", "купив м’ясо"));
        assert!(!finds("дезертира", "Он ДЕЗЕРТИР."));
    }

    #[test]
    fn arabic_with_and_without_harakat() {
        assert!(finds("شهادة", "هذه شَهَادَة الشاهد"));
        assert!(finds("شَهَادَة", "هذه شهادة الشاهد"));
        assert!(finds("شهادة", "هذه شهـــادة الشاهد"));
        assert!(finds("احمد", "قال أحمد"));
        assert!(!finds("شهيد", "هذه شَهَادَة الشاهد"));
    }

    #[test]
    fn nfc_and_nfd_are_equivalent() {
        let nfc = "r\u{e9}fugi\u{e9} \u{c9}vgueni";
        let nfd = "re\u{301}fugie\u{301} E\u{301}vgueni";
        assert_eq!(fold(nfc), fold(nfd));
        assert!(finds(nfc, nfd));
        assert!(finds(nfd, nfc));
        assert!(finds("refugie evgueni", nfd));
    }

    #[test]
    fn all_words_must_match() {
        let doc = "Évgueni est parti en Russie en 2022.";
        assert!(finds("evgueni russie", doc));
        assert!(finds("russie evgueni 2022", doc));
        assert!(!finds("evgueni ukraine", doc));
        assert!(!finds("ukraine evgueni", doc));
        assert!(q("evgueni ukraine").score(&fold(doc)).is_none());
    }

    #[test]
    fn quoted_phrase_across_newline_and_punctuation() {
        let doc = "Il a dit qu'il était parti en\nRussie, puis en Ukraine.";
        assert!(finds("\"en Russie\"", doc));
        assert!(finds("\"parti en russie\"", "parti en, Russie"));
        assert!(finds("\"parti en russie\"", "parti   en —\n\n Russie"));
        assert!(!finds("\"parti en russie\"", "partien russie"));
        assert!(!finds(
            "\"parti en russie\"",
            "parti en France et en Russie"
        ));
        assert_eq!(
            q("\"En  RUSSIE\"").terms(),
            [Term::Phrase("en russie".into())]
        );
    }

    #[test]
    fn phrase_order_matters() {
        let doc = "parti en Russie";
        assert!(finds("\"en russie\"", doc));
        assert!(!finds("\"russie en\"", doc));
        // Unquoted words may come in any order.
        assert!(finds("russie en", doc));
    }

    #[test]
    fn phrase_starts_at_word_start() {
        assert!(!finds("\"en russie\"", "parrainen Russie"));
        assert!(finds("\"en russie\"", "(en) Russie"));
    }

    #[test]
    fn word_start_rule() {
        let doc = "Le témoin Évgueni, l'armée.";
        assert!(!finds("gueni", doc));
        assert!(!finds("moin", doc));
        assert!(finds("evg", doc));
        assert!(finds("armee", doc));
        assert!(finds("l'armee", doc));
        assert!(finds("gueni", "Ev-gueni"));
        // Cyrillic and Arabic obey it too.
        assert!(!finds("зертир", "дезертир"));
        assert!(!finds("هادة", "شهادة"));
    }

    #[test]
    fn unspaced_scripts_match_anywhere() {
        assert!(finds("北京", "我在北京工作"));
        assert!(finds("ทหาร", "เขาเป็นทหาร"));
    }

    #[test]
    fn guillemets_and_curly_quotes_make_phrases() {
        let expected = [Term::Phrase("parti en russie".into())];
        assert_eq!(q("«parti en Russie»").terms(), expected);
        assert_eq!(q("« parti en Russie »").terms(), expected);
        assert_eq!(q("“parti en Russie”").terms(), expected);
        assert_eq!(
            q("Évgueni «en Russie»").terms(),
            [
                Term::Word("evgueni".into()),
                Term::Phrase("en russie".into())
            ]
        );
        assert!(finds("«en Russie»", "parti en\nRussie"));
        assert!(!finds("«Russie en»", "parti en\nRussie"));
    }

    #[test]
    fn unclosed_quote_is_an_error() {
        assert_eq!(Query::parse("\"en Russie"), Err(QueryError::UnclosedQuote));
        assert_eq!(Query::parse("«en Russie"), Err(QueryError::UnclosedQuote));
        assert_eq!(Query::parse("a \"b\" \"c"), Err(QueryError::UnclosedQuote));
        assert_eq!(
            QueryError::UnclosedQuote.to_string(),
            "the search query has an unclosed quote"
        );
    }

    #[test]
    fn empty_query_is_an_error() {
        for input in ["", "   ", "\n\t", "!!! — ...", "\"\"", "« »", "\u{0301}"] {
            assert_eq!(Query::parse(input), Err(QueryError::Empty), "{input:?}");
        }
        assert_eq!(QueryError::Empty.to_string(), "the search query is empty");
    }

    #[test]
    fn punctuation_words_dropped_and_inner_punctuation_makes_phrase() {
        assert_eq!(
            q("Évgueni, — ! réfugié?").terms(),
            [Term::Word("evgueni".into()), Term::Word("refugie".into())]
        );
        assert_eq!(
            q("Jean-Pierre").terms(),
            [Term::Phrase("jean pierre".into())]
        );
        assert!(finds("jean-pierre", "M. Jean Pierre Dupont"));
        assert!(finds("aujourd'hui", "aujourd’hui"));
        assert_eq!(q("x x X").terms(), [Term::Word("x".into())]);
    }

    #[test]
    fn hits_are_sorted_non_overlapping_and_on_char_boundaries() {
        let h = fold("Артём, артём и Évgueni: артем!");
        let hits = q("артем evgueni арт").hits(&h);
        assert_eq!(hits.len(), 4);
        for w in hits.windows(2) {
            assert!(w[0].end < w[1].start);
        }
        for r in &hits {
            assert!(h.is_char_boundary(r.start) && h.is_char_boundary(r.end));
        }
        assert_eq!(h.get(hits[0].clone()), Some("артем"));
        assert_eq!(h.get(hits[2].clone()), Some("evgueni"));
        assert!(q("zzz").hits(&h).is_empty());
    }

    // --- ranking -------------------------------------------------------------

    #[test]
    fn score_rewards_occurrences_shortness_whole_words_and_phrases() {
        let once = "Évgueni est parti. Il faisait froid ce jour-là.";
        let twice = "Évgueni est parti. Évgueni faisait froid ce jour.";
        assert!(score("evgueni", twice) > score("evgueni", once));

        let short = "Évgueni est parti.";
        let long = format!(
            "Évgueni est parti. {}",
            "Il pleuvait beaucoup. ".repeat(200)
        );
        assert!(score("evgueni", short) > score("evgueni", &long));

        let whole = "le réfugié est arrivé hier";
        let prefix = "le réfugiés est arrivé hier";
        assert!(score("refugie", whole) > score("refugie", prefix));

        // The phrase occurs in the first doc only; the words occur in both.
        let together = "il est parti en Russie hier matin";
        let apart = "il est parti en France, Russie hier";
        assert!(score("\"en russie\"", together) > 0.0);
        assert!(q("\"en russie\"").score(&fold(apart)).is_none());
        assert!(score("en russie", together) > 0.0);

        // Deterministic.
        assert_eq!(
            score("evgueni", twice).to_bits(),
            score("evgueni", twice).to_bits()
        );
        assert!(q("evgueni").score("").is_none());
    }

    #[test]
    fn phrase_outweighs_word() {
        // Same document, same number of occurrences: the phrase term counts more.
        let doc = "parti en russie";
        assert!(score("\"russie\"", doc) > score("russie", doc));
    }

    // --- Folded mapping -------------------------------------------------------

    #[test]
    fn original_range_on_ligature_and_expansion() {
        let original = "ﬁnal";
        let f = Folded::new(original);
        assert_eq!(f.text, "final");
        // "f" alone and "fi" both come from the 3-byte ligature.
        assert_eq!(f.original_range(0..1, original), 0..3);
        assert_eq!(f.original_range(1..2, original), 0..3);
        assert_eq!(f.original_range(0..5, original), 0..original.len());
        assert_eq!(f.original_range(2..5, original), 3..original.len());

        let original = "Straße";
        let f = Folded::new(original);
        assert_eq!(f.text, "strasse");
        let ss = f.text.find("ss").unwrap_or(usize::MAX);
        let r = f.original_range(ss..ss + 2, original);
        assert_eq!(&original[r.clone()], "ß");
        assert_eq!(f.original_range(ss + 1..ss + 2, original), r);
        assert_eq!(&original[f.original_range(0..5, original)], "Straß");
    }

    #[test]
    fn original_range_includes_trailing_marks_and_clamps() {
        let original = "E\u{301}vgueni  re\u{301}fugie\u{301}\n";
        let f = Folded::new(original);
        assert_eq!(f.text, "evgueni refugie");
        let r = f.original_range(8..15, original);
        assert_eq!(&original[r], "re\u{301}fugie\u{301}");
        let r = f.original_range(0..1, original);
        assert_eq!(&original[r], "E\u{301}");
        // Out of range / empty / reversed input never panics.
        assert_eq!(
            f.original_range(100..200, original),
            original.len()..original.len()
        );
        // Empty range: the position of the folded "u" in the original.
        assert_eq!(f.original_range(3..3, original), 5..5);
        let (hi, lo) = (5, 2);
        let r = f.original_range(hi..lo, original);
        assert!(r.start <= r.end && r.end <= original.len());
    }

    #[test]
    fn folded_mapping_is_total_on_awkward_text() {
        // Deterministic pseudo-random strings over a nasty alphabet.
        let alphabet: Vec<char> =
            "aÉe\u{301}\u{302} \n\tßﬁﷺﻻй\u{306}ёЇ\u{640}\u{200F}شَ北😀«»\"'-ǅΣ٣"
                .chars()
                .collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..300 {
            let mut s = String::new();
            for _ in 0..(seed % 24) {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let f = Folded::new(&s);
            assert_eq!(f.text, fold(&s));
            assert_eq!(fold(&f.text), f.text);
            for a in 0..=f.text.len() {
                for b in a..=f.text.len() {
                    let r = f.original_range(a..b, &s);
                    assert!(r.start <= r.end && r.end <= s.len(), "{s:?} {a}..{b}");
                    assert!(s.is_char_boundary(r.start) && s.is_char_boundary(r.end));
                }
            }
            // Queries built from the text never panic either.
            if let Ok(query) = Query::parse(&s) {
                assert!(query.matches(&f.text), "{s:?} does not find itself");
                assert!(query.score(&f.text).is_some());
                let _ = snippet(&s, &query, 10);
            }
        }
    }

    // --- snippets ------------------------------------------------------------

    #[test]
    fn snippet_highlights_original_accented_word() {
        let doc = "Le témoin Évgueni a déclaré qu'il était réfugié.";
        let s = snip(doc, "evgueni", 200);
        assert_eq!(s.text, doc);
        assert_eq!(highlighted(&s), ["Évgueni"]);
        assert_eq!(
            s.render("[", "]"),
            "Le témoin [Évgueni] a déclaré qu'il était réfugié."
        );
        let s = snip(doc, "refugie evgueni", 200);
        assert_eq!(highlighted(&s), ["Évgueni", "réfugié"]);
    }

    #[test]
    fn snippet_highlights_nfd_text_including_marks() {
        let doc = "Le te\u{301}moin E\u{301}vgueni est re\u{301}fugie\u{301}.";
        let s = snip(doc, "évgueni réfugié", 200);
        assert_eq!(highlighted(&s), ["E\u{301}vgueni", "re\u{301}fugie\u{301}"]);
    }

    #[test]
    fn snippet_highlights_cyrillic_and_arabic() {
        let s = snip(
            "Свидетель Артём сказал, что ДЕЗЕРТИР ушёл.",
            "артем дезертир",
            200,
        );
        assert_eq!(highlighted(&s), ["Артём", "ДЕЗЕРТИР"]);

        let s = snip("قال الشاهد إن هذه شَهَادَة مهمة", "شهادة", 200);
        assert_eq!(highlighted(&s), ["شَهَادَة"]);

        let s = snip("قال أحمد: شهـــادة", "احمد شهادة", 200);
        assert_eq!(highlighted(&s), ["أحمد", "شهـــادة"]);

        // Prefix match highlights only the matched part.
        let s = snip("Il est réfugié.", "refug", 200);
        assert_eq!(highlighted(&s), ["réfug"]);
    }

    #[test]
    fn snippet_phrase_across_newline() {
        let doc = "Il a dit qu'il était parti en\nRussie, puis en Ukraine.";
        let s = snip(doc, "«en Russie»", 200);
        assert!(!s.text.contains('\n'));
        assert_eq!(highlighted(&s), ["en Russie"]);
        assert_eq!(
            s.render("[", "]"),
            "Il a dit qu'il était parti [en Russie], puis en Ukraine."
        );
    }

    #[test]
    fn snippet_is_cut_with_ellipses_at_whitespace() {
        let filler = "lorem ipsum dolor sit amet ".repeat(20);
        let doc = format!("{filler}Le témoin Évgueni\na déclaré\n{filler}");
        let s = snip(&doc, "evgueni", 40);
        assert!(s.text.starts_with('…'), "{:?}", s.text);
        assert!(s.text.ends_with('…'), "{:?}", s.text);
        assert!(!s.text.contains('\n'));
        let body = s.text.trim_matches('…');
        assert!(body.chars().count() <= 40, "{body:?}");
        assert!(body.chars().count() >= 25, "{body:?}");
        // Cut at whitespace: no partial words at either end.
        for word in body.split(' ') {
            assert!(
                doc.split_whitespace().any(|w| w == word),
                "partial word {word:?} in {body:?}"
            );
        }
        assert_eq!(highlighted(&s), ["Évgueni"]);
        assert!(s.render("[", "]").contains("Le témoin [Évgueni] a déclaré"));
    }

    #[test]
    fn snippet_at_document_edges() {
        let doc = format!("Évgueni {}", "mot ".repeat(100));
        let s = snip(&doc, "evgueni", 30);
        assert!(s.text.starts_with("Évgueni"));
        assert!(s.text.ends_with('…'));
        assert_eq!(highlighted(&s), ["Évgueni"]);

        let doc = format!("{}Évgueni", "mot ".repeat(100));
        let s = snip(&doc, "evgueni", 30);
        assert!(s.text.starts_with('…'));
        assert!(s.text.ends_with("Évgueni"));
        assert_eq!(highlighted(&s), ["Évgueni"]);
    }

    #[test]
    fn snippet_only_highlights_hits_inside_and_survives_tiny_width() {
        let doc = format!("Évgueni {} Évgueni", "mot ".repeat(100));
        let s = snip(&doc, "evgueni", 20);
        assert_eq!(highlighted(&s), ["Évgueni"]);

        let s = snip("un témoignage très long", "temoignage", 0);
        assert_eq!(s.text, "…témoignage…");
        assert_eq!(highlighted(&s), ["témoignage"]);

        let unbroken = "x".repeat(50) + "Évgueni" + &"y".repeat(50);
        let s = snip(&unbroken, "xxx", 10);
        assert!(s.text.ends_with('…'));
        assert!(snippet("rien", &q("evgueni"), 40).is_none());
    }

    #[test]
    fn snippet_neutralises_control_characters() {
        let s = snip("Évgueni\u{1b}[31m rouge\r\n\u{7}fin", "evgueni rouge", 200);
        assert!(!s.text.chars().any(char::is_control), "{:?}", s.text);
        assert_eq!(highlighted(&s), ["Évgueni", "rouge"]);
    }

    #[test]
    fn render_ignores_bad_ranges() {
        let s = Snippet {
            text: "aé b".into(),
            highlights: vec![2..3, 0..1, 4..9],
        };
        // 2..3 splits "é" and 4..9 runs past the end: both are skipped.
        assert_eq!(s.render("<", ">"), "<a>é b");
        let s = Snippet {
            text: "aé b".into(),
            highlights: vec![0..1, 4..5],
        };
        assert_eq!(s.render("<", ">"), "<a>é <b>");
    }

    // --- performance -----------------------------------------------------------

    #[test]
    #[ignore = "benchmark; run with --release -- --ignored --nocapture"]
    fn bench_matches_10k_docs() {
        let words = [
            "le",
            "témoin",
            "a",
            "déclaré",
            "que",
            "les",
            "soldats",
            "sont",
            "arrivés",
            "au",
            "village",
            "свидетель",
            "сказал",
            "что",
            "شهادة",
            "الشاهد",
            "réfugié",
            "Évgueni",
            "frontière",
            "nuit",
        ];
        let mut seed: u64 = 42;
        let docs: Vec<String> = (0..10_000)
            .map(|_| {
                let mut d = String::with_capacity(5200);
                while d.len() < 5000 {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    d.push_str(words[(seed >> 33) as usize % words.len()]);
                    d.push(if seed % 13 == 0 { '\n' } else { ' ' });
                }
                fold(&d)
            })
            .collect();
        for query in [
            "evgueni",
            "refugie frontiere",
            "\"les soldats sont\"",
            "gueni",
            "absent",
            "свидетель شهادة",
        ] {
            let query = q(query);
            let t = std::time::Instant::now();
            let n = docs.iter().filter(|d| query.matches(d)).count();
            let elapsed = t.elapsed();
            println!("{:?}: {n} matches in {elapsed:?}", query.terms());
        }
    }
}
