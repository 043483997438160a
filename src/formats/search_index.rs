//! The search index's pure part: which keys a folded search text gives,
//! which keys a query needs, the per-block Bloom filter, and the bytes of
//! one index block (`docs/format.md`, "The search index").
//!
//! Statements are grouped in blocks by the position of their `records`
//! row ([`block_of`]). Each block keeps a Bloom filter of the *word-prefix
//! keys* of its statements' folded search texts and the version of each
//! member's search text it covers. A query word that must be a prefix of
//! a word of the text ([`crate::formats::search::Query::required_prefixes`])
//! gives one key; a block whose filter lacks a key holds no match, so a
//! search opens only the texts of the blocks that may match. The filter
//! can only say "maybe" wrongly, never "no": results are those of a full
//! scan. Nothing here seals or stores; the vault does.

use std::collections::BTreeMap;

/// Statements' `records.position`s per block: block `n` holds positions
/// `n * BLOCK_POSITIONS ..= n * BLOCK_POSITIONS + BLOCK_POSITIONS - 1`.
pub const BLOCK_POSITIONS: u64 = 64;

/// The block of a record at `position`.
pub fn block_of(position: u64) -> u64 {
    position / BLOCK_POSITIONS
}

/// The first byte of a block's plaintext.
pub const BLOCK_FORMAT: u8 = 1;

/// Word prefixes indexed, in characters: a word of `w` characters gives
/// one key per length here that is `<= w`. A query word of `n` characters
/// looks up its prefix of the longest length here that is `<= n` (words
/// shorter than the first cannot use the index).
pub const PREFIX_LENGTHS: [usize; 8] = [3, 4, 5, 6, 8, 10, 12, 16];

/// Bits of filter per distinct key (about 0.8 % false positives with
/// [`HASHES`] probes at full load).
pub const BITS_PER_KEY: u64 = 10;

/// Probes per key.
pub const HASHES: u8 = 7;

/// A filter is rebuilt, larger, when more than this share of its bits are
/// set (its false-positive rate then grows quickly).
pub const MAX_FILL: f64 = 0.55;

/// Most bits a filter may have (4 MiB): bounds what a damaged block can
/// make a reader allocate.
pub const MAX_BITS: u64 = 32 * 1024 * 1024;

/// Most members a block may list.
pub const MAX_MEMBERS: u32 = BLOCK_POSITIONS as u32;

/// FNV-1a (64-bit) offset basis and prime.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// MurmurHash3's 64-bit finalizer: spreads FNV's bits over the whole word.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// Calls `emit` with the key of every indexed prefix of `word` (one
/// folded word: alphanumeric characters only). The key of a prefix is
/// `fmix64(FNV-1a-64(its UTF-8 bytes))`.
pub fn word_keys(word: &str, mut emit: impl FnMut(u64)) {
    let mut h = FNV_OFFSET;
    let mut chars = 0usize;
    let mut next = 0usize; // index in PREFIX_LENGTHS of the next length to emit
    for c in word.chars() {
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
        chars += 1;
        if PREFIX_LENGTHS.get(next) == Some(&chars) {
            emit(fmix64(h));
            next += 1;
            if next == PREFIX_LENGTHS.len() {
                return;
            }
        }
    }
}

/// The key a query word looks up: that of its longest indexed prefix, or
/// `None` when the word is shorter than every indexed length.
pub fn query_key(word: &str) -> Option<u64> {
    let mut key = None;
    word_keys(word, |k| key = Some(k));
    key
}

/// The words of a folded text as search sees them: maximal runs of
/// alphanumeric characters.
pub fn words(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// A Bloom filter over 64-bit keys: [`HASHES`] probes by double hashing
/// (`h1 + i * h2` modulo the bit count, `h1` the key's low 32 bits, `h2`
/// its high 32 bits with the lowest bit set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bloom {
    words: Vec<u64>,
}

impl Bloom {
    /// An empty filter sized for `keys` distinct keys.
    pub fn with_capacity(keys: usize) -> Bloom {
        let bits = (keys as u64)
            .saturating_mul(BITS_PER_KEY)
            .clamp(512, MAX_BITS);
        Bloom {
            words: vec![0; bits.div_ceil(64) as usize],
        }
    }

    fn bits(&self) -> u64 {
        self.words.len() as u64 * 64
    }

    /// Adds a key.
    pub fn insert(&mut self, key: u64) {
        let bits = self.bits();
        for i in 0..HASHES {
            let bit = probe(key, i, bits);
            if let Some(w) = self.words.get_mut((bit / 64) as usize) {
                *w |= 1 << (bit % 64);
            }
        }
    }

    /// False when `key` was certainly never added.
    pub fn may_contain(&self, key: u64) -> bool {
        let bits = self.bits();
        (0..HASHES).all(|i| {
            let bit = probe(key, i, bits);
            self.words
                .get((bit / 64) as usize)
                .is_some_and(|w| w & (1 << (bit % 64)) != 0)
        })
    }

    /// The share of bits set.
    pub fn fill(&self) -> f64 {
        let set: u64 = self.words.iter().map(|w| u64::from(w.count_ones())).sum();
        set as f64 / self.bits() as f64
    }
}

/// The bit of probe `i` of `key` in a filter of `bits` bits.
fn probe(key: u64, i: u8, bits: u64) -> u64 {
    let h1 = key & 0xffff_ffff;
    let h2 = (key >> 32) | 1;
    h1.wrapping_add(u64::from(i).wrapping_mul(h2)) % bits.max(1)
}

impl Drop for Bloom {
    /// A filter says which words a block's statements hold: wiped.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.words);
    }
}

/// One block of the index, as sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Each member statement's id (16 bytes) and the version of the search
    /// text whose keys the filter holds.
    pub members: BTreeMap<[u8; 16], u64>,
    /// The filter over the members' keys.
    pub filter: Bloom,
}

/// Why a block's bytes were refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlockError {
    /// Not [`BLOCK_FORMAT`].
    #[error("unknown index block format {0}")]
    Format(u8),
    /// Cut short, too long, or a count out of bounds.
    #[error("malformed index block: {0}")]
    Malformed(&'static str),
}

impl Block {
    /// An empty block with a filter sized for `keys` keys.
    pub fn with_capacity(keys: usize) -> Block {
        Block {
            members: BTreeMap::new(),
            filter: Bloom::with_capacity(keys),
        }
    }

    /// The block's plaintext: format byte, member count (u32 LE), each
    /// member's id and version (u64 LE) in id order, probe count (u8),
    /// filter length in 64-bit words (u32 LE), the words (u64 LE).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(10 + self.members.len() * 24 + self.filter.words.len() * 8);
        out.push(BLOCK_FORMAT);
        out.extend_from_slice(&(self.members.len() as u32).to_le_bytes());
        for (id, version) in &self.members {
            out.extend_from_slice(id);
            out.extend_from_slice(&version.to_le_bytes());
        }
        out.push(HASHES);
        out.extend_from_slice(&(self.filter.words.len() as u32).to_le_bytes());
        for w in &self.filter.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Parses [`Block::to_bytes`], strictly: every count bounded, nothing
    /// left over.
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, BlockError> {
        let mut r = Reader(bytes);
        let format = r.u8()?;
        if format != BLOCK_FORMAT {
            return Err(BlockError::Format(format));
        }
        let count = r.u32()?;
        if count > MAX_MEMBERS {
            return Err(BlockError::Malformed("too many members"));
        }
        let mut members = BTreeMap::new();
        for _ in 0..count {
            let id: [u8; 16] = r
                .take(16)?
                .try_into()
                .map_err(|_| BlockError::Malformed("member id"))?;
            let version = r.u64()?;
            if members.insert(id, version).is_some() {
                return Err(BlockError::Malformed("a member listed twice"));
            }
        }
        if r.u8()? != HASHES {
            return Err(BlockError::Malformed("probe count"));
        }
        let words = u64::from(r.u32()?);
        if words == 0 || words * 64 > MAX_BITS {
            return Err(BlockError::Malformed("filter size"));
        }
        let mut filter = Vec::with_capacity(words as usize);
        for _ in 0..words {
            filter.push(r.u64()?);
        }
        if !r.0.is_empty() {
            return Err(BlockError::Malformed("bytes after the filter"));
        }
        Ok(Block {
            members,
            filter: Bloom { words: filter },
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BlockError> {
        if self.0.len() < n {
            return Err(BlockError::Malformed("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, BlockError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, BlockError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, BlockError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

/// The distinct keys of one folded text, gathered with a set of the words
/// already seen (most words repeat; their prefixes are hashed once).
#[derive(Default)]
pub struct KeySet {
    seen_words: std::collections::HashSet<u64, BuildIdentity>,
    keys: std::collections::HashSet<u64, BuildIdentity>,
    alnum: AlnumCache,
}

/// `char::is_alphanumeric` for non-ASCII characters, remembered in a
/// direct-mapped table (a text's letters come from few scripts).
struct AlnumCache {
    slots: Vec<(u32, bool)>,
}

impl Default for AlnumCache {
    fn default() -> AlnumCache {
        AlnumCache {
            slots: vec![(u32::MAX, false); 1024],
        }
    }
}

impl AlnumCache {
    fn is_alphanumeric(&mut self, c: char) -> bool {
        let code = u32::from(c);
        let at = (code as usize) % self.slots.len();
        match self.slots.get_mut(at) {
            Some(slot) if slot.0 == code => slot.1,
            Some(slot) => {
                *slot = (code, c.is_alphanumeric());
                slot.1
            }
            None => c.is_alphanumeric(),
        }
    }
}

impl KeySet {
    /// Adds the keys of every word of a folded text (the words of
    /// [`words`], found with a small cache of which non-ASCII characters
    /// are alphanumeric: Unicode's table lookup dominated a statement
    /// import).
    pub fn add_text(&mut self, folded: &str) {
        let mut start = None;
        for (i, c) in folded.char_indices() {
            let alnum = if c.is_ascii() {
                c.is_ascii_alphanumeric()
            } else {
                self.alnum.is_alphanumeric(c)
            };
            match (alnum, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    self.add_word(folded.get(s..i).unwrap_or_default());
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            self.add_word(folded.get(s..).unwrap_or_default());
        }
    }

    fn add_word(&mut self, word: &str) {
        if word.len() < 3 {
            return; // fewer than 3 bytes is fewer than 3 characters
        }
        if self.seen_words.insert(whole_word_hash(word)) {
            word_keys(word, |k| {
                self.keys.insert(k);
            });
        }
    }

    /// Adds every key of `other` (the keys of another text).
    pub fn extend(&mut self, other: &KeySet) {
        self.keys.extend(other.keys.iter().copied());
    }

    /// How many distinct keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys.
    pub fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.iter().copied()
    }
}

fn whole_word_hash(word: &str) -> u64 {
    let mut h = FNV_OFFSET;
    for &b in word.as_bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    fmix64(h)
}

/// The keys are hashes already: a set of them needs no second hash.
#[derive(Clone, Copy, Default)]
pub struct BuildIdentity;

impl std::hash::BuildHasher for BuildIdentity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

/// See [`BuildIdentity`].
#[derive(Default)]
pub struct IdentityHasher(u64);

impl std::hash::Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_word_gives_one_key_per_indexed_prefix_length() {
        let mut keys = Vec::new();
        word_keys("interrogatoire", |k| keys.push(k)); // 14 characters
        assert_eq!(keys.len(), 7); // 3, 4, 5, 6, 8, 10, 12
        let mut short = Vec::new();
        word_keys("de", |k| short.push(k));
        assert!(short.is_empty());
        // Counted in characters, not bytes.
        let mut cyr = Vec::new();
        word_keys("дез", |k| cyr.push(k));
        assert_eq!(cyr.len(), 1);
    }

    #[test]
    fn a_query_prefix_finds_the_key_of_every_longer_word() {
        for (query, word) in [
            ("refug", "refugie"),
            ("interroga", "interrogatoire"),
            ("zyxwvutsrq", "zyxwvutsrq"),
            ("дезерт", "дезертир"),
            ("شهاد", "شهادة"),
            ("abcdefghijklmnopqrst", "abcdefghijklmnopqrstuvwxyz"),
        ] {
            let key = query_key(query).expect("long enough");
            let mut keys = Vec::new();
            word_keys(word, |k| keys.push(k));
            assert!(keys.contains(&key), "{query} in {word}");
        }
        assert_eq!(query_key("ab"), None);
    }

    #[test]
    fn keys_are_fixed_by_the_format() {
        // docs/format.md gives this vector: a second implementation must
        // produce the same keys.
        assert_eq!(query_key("abc"), Some(0x33eb_af99_27cb_c5bd));
        assert_eq!(query_key("дез"), Some(0x718f_b4fa_0447_65a0));
        // Seven characters look up their six-character prefix.
        assert_eq!(query_key("abcdefg"), query_key("abcdef"));
    }

    #[test]
    fn add_text_finds_the_words_that_words_finds() {
        let text = "l'armee a ete vue, дезертир—граница 北京 شهادة ٢٠٢٢ x2y ab";
        let mut fast = KeySet::default();
        fast.add_text(text);
        let mut slow = KeySet::default();
        for w in words(text) {
            slow.add_word(w);
        }
        let mut a: Vec<u64> = fast.keys().collect();
        let mut b: Vec<u64> = slow.keys().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }

    #[test]
    fn the_filter_never_forgets_and_rarely_lies() {
        let mut set = KeySet::default();
        set.add_text("le temoin a vu des soldats pres du village la nuit");
        let mut bloom = Bloom::with_capacity(set.len());
        for k in set.keys() {
            bloom.insert(k);
        }
        for word in ["temo", "soldats", "villag", "nui"] {
            assert!(bloom.may_contain(query_key(word).unwrap()), "{word}");
        }
        let false_hits = (0..10_000)
            .filter(|i| bloom.may_contain(query_key(&format!("zz{i}q")).unwrap()))
            .count();
        assert!(false_hits < 200, "{false_hits} false positives in 10,000");
    }

    #[test]
    fn a_block_round_trips_and_damaged_bytes_are_refused() {
        let mut block = Block::with_capacity(10);
        block.members.insert([7; 16], 3);
        block.members.insert([1; 16], 1);
        block.filter.insert(42);
        let bytes = block.to_bytes();
        assert_eq!(Block::from_bytes(&bytes), Ok(block.clone()));
        assert_eq!(
            Block::from_bytes(&bytes[..bytes.len() - 1]),
            Err(BlockError::Malformed("cut short"))
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Block::from_bytes(&longer).is_err());
        let mut other = bytes.clone();
        other[0] = 9;
        assert_eq!(Block::from_bytes(&other), Err(BlockError::Format(9)));
        let mut huge = bytes;
        huge[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            Block::from_bytes(&huge),
            Err(BlockError::Malformed("too many members"))
        );
    }
}
