//! The tar container of a sealed bundle: a deterministic writer, a
//! hostile-input-safe reader (both streaming), and the rules for turning
//! evidence "original names" into safe file names.
//!
//! * `write`: [`DeterministicTar`] writes byte-for-byte reproducible POSIX
//!   pax/ustar archives.
//! * `read`: [`for_each_entry`] reads untrusted archives one entry at a time
//!   under [`ReadLimits`], refusing anything that could escape an extraction
//!   directory or exhaust memory.
//! * `names`: [`sanitize_file_name`], [`name_fold_key`] and [`dedupe_names`].
//!
//! The writer's exact byte format and the reader's rules are spelled out at
//! the top of `write.rs` and `read.rs`.
//!
//! Entry paths are checked with the rules of [`crate::formats::paths`],
//! which BagIt manifests share.
//!
//! This module does not own what goes *into* the archive (BagIt text lives
//! in [`crate::formats::bagit`]), hashing or verifying entry contents (the
//! `visit` callback does that), extracting to disk, compression or
//! encryption. It does no I/O beyond the `Read`/`Write` values it is handed,
//! holds no keys and knows nothing of the vault or SQLite.

mod names;
mod read;
#[cfg(test)]
mod tests;
mod write;

use std::io;

use crate::formats::paths::PathProblem;
pub use names::{dedupe_names, name_fold_key, sanitize_file_name};
pub use read::{for_each_entry, ReadLimits};
pub use write::DeterministicTar;
use write::MAX_WRITE_PATH_LEN;

/// Size of a tar block.
const BLOCK: u64 = 512;
/// Size of the ustar name field.
const USTAR_NAME_LEN: usize = 100;

/// Errors from writing or reading an archive.
///
/// Reader errors carry `offset`, the byte position of the offending entry's
/// first header (for truncation: how far the input was read).
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    /// The underlying reader or writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),

    /// Writer: a path given to `add_dir`/`add_file` is invalid.
    #[error("cannot add {path:?}: {problem}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// Writer: an entry does not sort strictly after the previous one.
    #[error("entry {path:?} does not sort strictly after the previous entry {previous:?}; add entries in byte order")]
    OutOfOrder {
        /// The previous entry's path.
        previous: String,
        /// The rejected path.
        path: String,
    },
    /// Writer: the source reader ended before the declared size.
    #[error("source for {path:?} ended after {actual} of the declared {expected} bytes")]
    SourceTooShort {
        /// The entry's path.
        path: String,
        /// Declared size.
        expected: u64,
        /// Bytes actually read.
        actual: u64,
    },
    /// Writer: the source reader had more than the declared size.
    #[error("source for {path:?} has more than the declared {expected} bytes")]
    SourceTooLong {
        /// The entry's path.
        path: String,
        /// Declared size.
        expected: u64,
    },
    /// Writer: an earlier error left a partial entry in the output.
    #[error("archive writer is unusable after an earlier error left a partial entry")]
    Poisoned,

    /// Reader: an entry's path is unsafe or malformed.
    #[error("entry at byte {offset}: unsafe path {path:?}: {problem}")]
    UnsafePath {
        /// Header offset.
        offset: u64,
        /// The path (lossy, possibly shortened).
        path: String,
        /// What is wrong with it.
        problem: PathProblem,
    },
    /// Reader: an entry's path is not valid UTF-8.
    #[error("entry at byte {offset}: path {path:?} is not valid UTF-8")]
    NonUtf8Path {
        /// Header offset.
        offset: u64,
        /// The path, lossily decoded.
        path: String,
    },
    /// Reader: the entry type is not a regular file, directory or pax header.
    #[error("entry at byte {offset} ({path:?}): {kind} entries are not allowed (type flag {typeflag:?})")]
    ForbiddenEntryType {
        /// Header offset.
        offset: u64,
        /// The entry's path (lossy, possibly shortened).
        path: String,
        /// Human name of the type, e.g. "symbolic link".
        kind: &'static str,
        /// The raw type flag byte, as a char.
        typeflag: char,
    },
    /// Reader: a path occurs twice.
    #[error("entry at byte {offset}: duplicate path {path:?}")]
    DuplicatePath {
        /// Header offset.
        offset: u64,
        /// The normalised path.
        path: String,
    },
    /// Reader: a path lies under an earlier regular file.
    #[error("entry at byte {offset}: {path:?} lies under {file:?}, which is a regular file")]
    FileUsedAsDirectory {
        /// Header offset.
        offset: u64,
        /// The normalised path.
        path: String,
        /// The earlier file.
        file: String,
    },
    /// Reader: a regular file has the path of a directory implied by earlier entries.
    #[error("entry at byte {offset}: file {path:?} has the path of a directory that earlier entries lie in")]
    FileReplacesDirectory {
        /// Header offset.
        offset: u64,
        /// The normalised path.
        path: String,
    },
    /// Reader: an entry is larger than `max_entry_size`.
    #[error("entry at byte {offset} ({path:?}): size {size} exceeds the {max}-byte entry limit")]
    EntryTooLarge {
        /// Header offset.
        offset: u64,
        /// The normalised path.
        path: String,
        /// Declared size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Reader: the file sizes add up to more than `max_total_size`.
    #[error("entry at byte {offset} ({path:?}): size {size} takes the archive total past the {max}-byte limit")]
    TotalTooLarge {
        /// Header offset.
        offset: u64,
        /// The normalised path.
        path: String,
        /// Declared size of this entry.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Reader: more entries than `max_entries`.
    #[error("entry at byte {offset}: archive has more than {max} entries")]
    TooManyEntries {
        /// Header offset of the first entry over the limit.
        offset: u64,
        /// The limit.
        max: u64,
    },
    /// Reader: entry paths imply more than `max_entries` directories.
    #[error("entry at byte {offset}: paths imply more than {max} directories")]
    TooManyDirectories {
        /// Header offset.
        offset: u64,
        /// The limit.
        max: u64,
    },
    /// Reader: a header's size field is out of range (negative or over 64 bits).
    #[error("entry at byte {offset}: header size field is invalid: {detail}")]
    BadSizeField {
        /// Header offset.
        offset: u64,
        /// What is wrong.
        detail: &'static str,
    },
    /// Reader: a pax extended header is malformed, too large or not allowed.
    #[error("pax header at byte {offset}: {detail}")]
    BadPaxHeader {
        /// Header offset.
        offset: u64,
        /// What is wrong.
        detail: String,
    },
    /// Reader: the input ended early.
    #[error("archive truncated at byte {offset}: {detail}")]
    Truncated {
        /// Bytes read when the end was detected.
        offset: u64,
        /// What was missing.
        detail: &'static str,
    },
    /// Reader: the archive is structurally invalid (bad checksum, bad number field, ...).
    #[error("malformed archive at byte {offset}: {detail}")]
    Malformed {
        /// Byte position (header offset where known).
        offset: u64,
        /// What is wrong.
        detail: String,
    },
}
