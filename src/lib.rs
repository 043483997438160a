//! # Custodia
//!
//! An offline, encrypted vault for witness testimony and the evidence that
//! goes with it: one SQLite file in which every sensitive field is sealed
//! with XChaCha20-Poly1305 under keys derived from a random master key,
//! itself wrapped in per-user Argon2id key slots and a recovery slot.
//!
//! Layers, each depending only on those below it:
//!
//! ```text
//! cli (binary only) → bundle → records, custody → vault → store → crypto → format
//! ```
//!
//! [`formats`] sits beside that stack, below everything that uses it: pure
//! byte and text formats (tar, BagIt, minisign, checkpoint receipts, search
//! folding and matching) that import nothing else from the crate.
//!
//! * [`format`]: byte layouts (ids, associated data, envelopes, padding).
//! * [`crypto`]: KDF, key hierarchy, AEAD sealing, recovery and signing keys.
//! * [`store`]: the SQLite file, schema, migrations, transactions.
//! * [`vault`]: creating, unlocking, users and key slots.
//! * [`records`]: cases, statements, evidence, search execution.
//! * [`custody`]: signed hash-chained events, `check`, checkpoints.
//! * [`formats`]: tar, BagIt, minisign, checkpoint receipts, search text.
//!
//! See `docs/format.md` for the on-disk format and `SECURITY.md` for the
//! threat model.

#![forbid(unsafe_code)]

pub mod audit;
pub mod bundle;
pub mod crypto;
pub mod custody;
pub mod error;
pub mod files;
pub mod format;
pub mod formats;
pub mod records;
pub mod store;
pub mod stream;
pub mod vault;

pub use error::{Category, Error, Result};
pub use vault::{CreateOptions, KdfChoice, Locked, Unlocked, Vault};
