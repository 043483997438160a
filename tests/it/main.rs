//! Custodia's integration tests, in one binary (as ripgrep does): each file
//! that used to be its own `tests/*.rs` crate is a module here, so `cargo
//! test` links one test executable instead of nineteen, which is most of
//! the build time on a small machine. Every test still drives the real
//! `custodia` binary as a child process; none changes state of this
//! process (environment, rlimits, signal handlers, working directory), so
//! they can share it.
//!
//! Run one module with a filter: `cargo test --test it bundle::` (module
//! paths prefix the test names, so names never collide across modules).
//! Shared helpers are in [`common`]; fixtures stay in `tests/data/` and
//! `tests/vectors/`; the CLI snapshots are `tests/cmd/` (see [`snapshots`]).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod bundle;
mod bundle_trust;
mod crash;
mod custody;
mod desk;
mod desk_walk;
mod everyday;
mod export_summary;
mod fixtures;
mod fold_vectors;
mod full_disk;
mod fuzz_replay;
mod hardening;
mod layers;
mod leaks;
mod lifecycle;
mod limits;
mod metadata;
mod migration;
mod minisign_differential;
mod records;
mod redaction;
mod report_page;
mod search;
mod search_index;
mod snapshots;
mod stock_bagit;
mod stock_minisign;
mod tamper;
mod terminal;
mod vault;
