//! Read models that join records and custody, above both: `custodia check`
//! (every row against the signed chain and the vault state), `custodia log`
//! (the readable log), checkpoints against this vault, and the check of
//! every chain a bundle carries before it leaves.
//!
//! Nothing here writes a record; a checkpoint is the only custody event it
//! appends. `bundle` uses [`Vault::audit`](crate::vault::Vault) so that
//! `check`, `export` and `import` refuse the same things.

pub mod chains;
pub mod check;
pub mod checkpoint;
pub mod log;
