//! Sealed court bundles (SPEC §5): a BagIt 1.0 bag of the exported records,
//! its tag manifest signed with minisign, packed in a deterministic tar and
//! encrypted with age; and the reader that verifies and imports them.
//!
//! The pure formats (BagIt text, tar, minisign) are in [`crate::formats`];
//! [`export`], [`verify`] and [`import`] tie them to the vault.

pub mod export;
pub mod import;
pub mod layout;
pub mod redact;
pub mod report;
pub mod verify;
