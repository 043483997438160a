//! # Custodia
//!
//! An offline, encrypted vault for witness testimony and the evidence that
//! goes with it: one SQLite file in which every sensitive field is sealed
//! with XChaCha20-Poly1305 under keys derived from a random master key,
//! itself wrapped in per-user Argon2id key slots and a recovery slot.
//!
//! Layers, each naming only those below it (`tests/layers.rs` reads the
//! sources and fails on any path that goes up or sideways):
//!
//! ```text
//! cli (binary only)
//!  → desk      the local web interface (`custodia desk`), over the library
//!  → bundle    sealed bundles: export, verify, import, redaction, report
//!  → audit     check, the readable log, checkpoints (records joined with custody)
//!  → records   cases, statements, evidence, search execution, imported histories
//!  → vault     create, unlock, users, key slots, signers; the session and sealed fields
//!  → custody   signed hash-chained events, the vault state they fold into
//!  → store     the SQLite file, schema, migrations, rows (bytes, not meaning)
//!  → files     private files, temporary names, held-back output
//!  → error     the library's typed errors
//!  → crypto    KDF, key hierarchy, AEAD sealing, recovery and signing keys
//!  → format, formats, stream, process
//!              vault byte layouts (ids, associated data, envelopes, kinds);
//!              pure interchange formats (tar, BagIt, minisign, checkpoint
//!              receipts, search folding); bounded streaming helpers;
//!              hardening of a long-lived process (core dumps, memory lock)
//! ```
//!
//! * [`format`]: byte layouts of the vault (ids, [`format::Kind`], associated data, envelopes, padding).
//! * [`formats`]: tar, BagIt, minisign, checkpoint receipts, search text; no I/O, no keys.
//! * [`process`]: no core dumps, memory locked, for the shell and the desk.
//! * [`crypto`]: KDF, key hierarchy, AEAD sealing, recovery and signing keys.
//! * [`store`]: the SQLite file, schema, migrations, transactions.
//! * [`custody`]: signed events, their chains and the vault state; knows no vault type.
//! * [`vault`]: creating, unlocking, users and key slots, the [`vault::Session`] a
//!   transaction acts in, and the sealed-field layer ([`vault::sealed`]).
//! * [`records`]: cases, statements, evidence, search execution.
//! * [`audit`]: `check`, `log` and checkpoints, above records and custody.
//! * [`bundle`]: export, verify and import of sealed bundles.
//! * [`desk`]: the local web interface, serving the library to a browser.
//!
//! See `docs/format.md` for the on-disk format and `SECURITY.md` for the
//! threat model.

#![forbid(unsafe_code)]

pub mod audit;
pub mod bundle;
pub mod crypto;
pub mod custody;
pub mod desk;
pub mod error;
pub mod files;
pub mod format;
pub mod formats;
pub mod process;
pub mod records;
pub mod store;
pub mod stream;
pub mod vault;

pub use error::{Category, Error, FieldProblem, Integrity, Invalid, Result};
pub use vault::{CreateOptions, KdfChoice, Locked, Unlocked, Vault};
