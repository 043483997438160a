//! Pure byte and text formats: what Custodia reads and writes, with nothing
//! of the vault in it.
//!
//! * [`tar`]: the deterministic tar writer, the hostile-input-safe tar
//!   reader, and safe file names for evidence.
//! * [`bagit`]: BagIt 1.0 tag files (bag-info, manifests), written and parsed.
//! * [`paths`]: the relative-path rules tar and BagIt share.
//! * [`minisign`]: minisign public keys and signatures (sign with a key
//!   handed in, verify).
//! * [`checkpoint`]: the checkpoint receipt line.
//! * [`search`]: search text folding, query parsing, matching and snippets.
//! * [`search_index`]: the search index's keys, Bloom filter and block bytes.
//!
//! Every module here works on strings, byte slices and the `Read`/`Write`
//! values it is handed: no files opened, no SQLite, no keys from the vault
//! (a signing or public key is a parameter), no custody or record logic.
//! Nothing here imports from the rest of the crate; each format has its own
//! error type.

pub mod bagit;
pub mod checkpoint;
pub mod metadata;
pub mod minisign;
pub mod paths;
pub mod search;
pub mod search_index;
pub mod tar;
