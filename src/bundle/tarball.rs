//! Deterministic tar writing and hostile-input-safe tar reading, both streaming.
//!
//! This module owns the tar container of a sealed bundle: [`DeterministicTar`]
//! writes byte-for-byte reproducible POSIX pax/ustar archives, and
//! [`for_each_entry`] reads untrusted archives one entry at a time under
//! [`ReadLimits`], refusing anything that could escape an extraction
//! directory or exhaust memory. It also owns the rules for turning evidence
//! "original names" into safe file names ([`sanitize_file_name`],
//! [`dedupe_names`]).
//!
//! It does not own what goes *into* the archive (BagIt text lives in the
//! `bagit` module), hashing or verifying entry contents (the `visit`
//! callback does that), extracting to disk, compression or encryption.
//!
//! # Writer format
//! Every entry is a ustar header with mtime [`MTIME`] (0, the Unix epoch),
//! uid/gid 0, empty uname/gname, device numbers left zero, mode
//! [`FILE_MODE`] for files and [`DIR_MODE`] for directories. A path longer
//! than the 100-byte ustar name field, or containing non-ASCII characters, is
//! carried in a preceding pax extended header (`x`, named
//! [`PAX_HEADER_NAME`]) holding only `path=`; the ustar name field then holds
//! an ASCII stand-in for readers that ignore pax. A file of 8 GiB or more also
//! gets a pax `size=` record (its ustar size field is base-256 encoded). No
//! record is time-, user- or host-dependent. The archive ends with two zero
//! blocks and no further padding. Entries must be added in strictly
//! increasing byte order of their path (directories compare without a
//! trailing `/`), so identical content always yields identical bytes.
//!
//! # Reader rules
//! Only regular files (`0`, NUL), directories (`5`) and pax headers (`x`,
//! `g`) are accepted; pax records are parsed here (the `tar` crate's
//! non-raw mode would buffer pax and GNU long-name data without a bound).
//! Paths must be relative UTF-8 without `..`, backslashes, control
//! characters or empty components; `.` components are dropped and a
//! directory's trailing `/` is removed. Duplicate paths, a file used as a
//! directory and a file placed where a directory already is are rejected.
//! The archive must end with two zero blocks, optionally followed by at most
//! 1 MiB of zero padding; the reader consumes its input to the end.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Read, Write};

use sha2::{Digest, Sha256};

/// Modification time written in every header: 0 (1970-01-01T00:00:00Z).
pub const MTIME: u64 = 0;
/// Permission bits written for regular files.
pub const FILE_MODE: u32 = 0o644;
/// Permission bits written for directories.
pub const DIR_MODE: u32 = 0o755;
/// Name field of the pax extended headers the writer emits.
pub const PAX_HEADER_NAME: &str = "././@PaxHeader";
/// Longest path, in bytes, the writer accepts (the reader's default limit).
pub const MAX_WRITE_PATH_LEN: usize = 4096;
/// Longest name, in bytes, [`sanitize_file_name`] and [`dedupe_names`] produce.
pub const MAX_FILE_NAME_LEN: usize = 200;

const BLOCK: u64 = 512;
const USTAR_NAME_LEN: usize = 100;
/// Largest size the 11-digit octal ustar size field can hold (8 GiB - 1).
const MAX_OCTAL_SIZE: u64 = 0o777_7777_7777;
/// Bytes a pax header may use beyond `max_path_len` for its other records.
const PAX_HEADER_SLACK: u64 = 64 * 1024;
/// Zero padding tolerated after the end-of-archive marker.
const MAX_TRAILING_ZEROS: u64 = 1024 * 1024;
/// Longest suffix after the last '.' that counts as an extension.
const MAX_EXTENSION_LEN: usize = 32;

/// Why a path is not acceptable in an archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// The path is empty.
    Empty,
    /// The path starts with `/`.
    Absolute,
    /// The path has a `..` component.
    ParentComponent,
    /// The path has a `.` component (the writer requires normalised paths).
    CurrentComponent,
    /// The path has an empty component (`a//b`, or a trailing `/` given to the writer).
    EmptyComponent,
    /// The path contains a backslash.
    Backslash,
    /// The path contains a control character (NUL included).
    ControlCharacter(char),
    /// A regular-file entry's name ends with `/`.
    FileWithTrailingSlash,
    /// The path is longer than allowed.
    TooLong {
        /// Length in bytes.
        len: usize,
        /// Limit in bytes.
        max: usize,
    },
}

impl fmt::Display for PathProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathProblem::Empty => f.write_str("path is empty"),
            PathProblem::Absolute => f.write_str("path is absolute"),
            PathProblem::ParentComponent => f.write_str("path has a \"..\" component"),
            PathProblem::CurrentComponent => f.write_str("path has a \".\" component"),
            PathProblem::EmptyComponent => f.write_str("path has an empty component"),
            PathProblem::Backslash => f.write_str("path contains a backslash"),
            PathProblem::ControlCharacter(c) => {
                write!(f, "path contains control character U+{:04X}", u32::from(*c))
            }
            PathProblem::FileWithTrailingSlash => f.write_str("regular file name ends with '/'"),
            PathProblem::TooLong { len, max } => {
                write!(f, "path is {len} bytes, more than the {max}-byte limit")
            }
        }
    }
}

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

// ---------------------------------------------------------------------------
// Writer

/// Streaming writer of reproducible tar archives (see the module docs for the format).
///
/// Wrap unbuffered outputs in a `BufWriter`. Errors detected before anything
/// is written (bad path, wrong order) leave the writer usable; an error while
/// writing an entry leaves a partial entry behind and every later call then
/// fails with [`TarError::Poisoned`].
pub struct DeterministicTar<W: Write> {
    out: W,
    last: Option<String>,
    poisoned: bool,
}

impl<W: Write> DeterministicTar<W> {
    /// Starts an archive written to `out`.
    pub fn new(out: W) -> Self {
        DeterministicTar {
            out,
            last: None,
            poisoned: false,
        }
    }

    /// Adds a directory entry. `path` is relative, `/`-separated, without a trailing `/`.
    ///
    /// # Errors
    /// An invalid path, a path not after the previous entry, or an I/O error.
    pub fn add_dir(&mut self, path: &str) -> Result<(), TarError> {
        self.check_next(path)?;
        let name = format!("{path}/");
        let result = self.write_headers(&name, tar::EntryType::Directory, DIR_MODE, 0);
        self.record(path, result)
    }

    /// Adds a regular file of exactly `size` bytes, streamed from `reader`.
    ///
    /// # Errors
    /// An invalid path, a path not after the previous entry, a reader that
    /// yields fewer or more than `size` bytes, or an I/O error.
    pub fn add_file(&mut self, path: &str, size: u64, reader: impl Read) -> Result<(), TarError> {
        self.check_next(path)?;
        let result = self.write_file(path, size, reader);
        self.record(path, result)
    }

    /// Writes the end-of-archive marker (two zero blocks), flushes and returns the output.
    ///
    /// # Errors
    /// [`TarError::Poisoned`] after an earlier write error, or an I/O error.
    pub fn finish(mut self) -> Result<W, TarError> {
        if self.poisoned {
            return Err(TarError::Poisoned);
        }
        self.out.write_all(&[0u8; 2 * BLOCK as usize])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn check_next(&self, path: &str) -> Result<(), TarError> {
        if self.poisoned {
            return Err(TarError::Poisoned);
        }
        check_write_path(path).map_err(|problem| TarError::InvalidPath {
            path: path.to_owned(),
            problem,
        })?;
        if let Some(previous) = &self.last {
            if path.as_bytes() <= previous.as_bytes() {
                return Err(TarError::OutOfOrder {
                    previous: previous.clone(),
                    path: path.to_owned(),
                });
            }
        }
        Ok(())
    }

    fn record(&mut self, path: &str, result: Result<(), TarError>) -> Result<(), TarError> {
        match result {
            Ok(()) => {
                self.last = Some(path.to_owned());
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                Err(e)
            }
        }
    }

    fn write_file(&mut self, path: &str, size: u64, reader: impl Read) -> Result<(), TarError> {
        self.write_headers(path, tar::EntryType::Regular, FILE_MODE, size)?;
        let mut limited = reader.take(size);
        let copied = io::copy(&mut limited, &mut self.out)?;
        if copied < size {
            return Err(TarError::SourceTooShort {
                path: path.to_owned(),
                expected: size,
                actual: copied,
            });
        }
        let mut rest = limited.into_inner();
        let mut probe = [0u8; 1];
        loop {
            match rest.read(&mut probe) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(TarError::SourceTooLong {
                        path: path.to_owned(),
                        expected: size,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
        self.pad(size)
    }

    fn write_headers(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        mode: u32,
        size: u64,
    ) -> Result<(), TarError> {
        let pax_path = name.len() > USTAR_NAME_LEN || !name.is_ascii();
        let pax_size = size > MAX_OCTAL_SIZE;
        if pax_path || pax_size {
            let mut records = Vec::new();
            if pax_path {
                records.extend(pax_record("path", name.as_bytes()));
            }
            if pax_size {
                records.extend(pax_record("size", size.to_string().as_bytes()));
            }
            let len = records.len() as u64;
            let header = ustar_header(
                PAX_HEADER_NAME.as_bytes(),
                tar::EntryType::XHeader,
                FILE_MODE,
                len,
            );
            self.out.write_all(header.as_bytes())?;
            self.out.write_all(&records)?;
            self.pad(len)?;
        }
        let stand_in;
        let ustar_name = if pax_path {
            stand_in = ascii_stand_in(name);
            stand_in.as_str()
        } else {
            name
        };
        let header = ustar_header(ustar_name.as_bytes(), kind, mode, size);
        self.out.write_all(header.as_bytes())?;
        Ok(())
    }

    fn pad(&mut self, size: u64) -> Result<(), TarError> {
        let rem = size % BLOCK;
        if rem != 0 {
            let zeros = [0u8; BLOCK as usize];
            self.out.write_all(&zeros[..(BLOCK - rem) as usize])?;
        }
        Ok(())
    }
}

/// Builds a ustar header; `name` must be at most 100 bytes.
fn ustar_header(name: &[u8], kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    let field = &mut header.as_old_mut().name;
    let len = name.len().min(field.len());
    field[..len].copy_from_slice(&name[..len]);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(MTIME);
    header.set_size(size);
    header.set_entry_type(kind);
    header.set_cksum();
    header
}

/// One pax record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body = 1 + key.len() + 1 + value.len() + 1;
    let mut len = body;
    loop {
        let total = body + len.to_string().len();
        if total == len {
            break;
        }
        len = total;
    }
    let mut record = Vec::with_capacity(len);
    record.extend_from_slice(len.to_string().as_bytes());
    record.push(b' ');
    record.extend_from_slice(key.as_bytes());
    record.push(b'=');
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

/// ASCII stand-in for the ustar name field when the real name is in a pax
/// header: non-printable-ASCII characters become `_`, cut to fit 100 bytes
/// (a directory keeps its trailing `/`).
fn ascii_stand_in(name: &str) -> String {
    let (base, slash) = match name.strip_suffix('/') {
        Some(base) => (base, "/"),
        None => (name, ""),
    };
    let mut out: String = base
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(USTAR_NAME_LEN - slash.len());
    out.push_str(slash);
    out
}

fn check_write_path(path: &str) -> Result<(), PathProblem> {
    if path.len() > MAX_WRITE_PATH_LEN {
        return Err(PathProblem::TooLong {
            len: path.len(),
            max: MAX_WRITE_PATH_LEN,
        });
    }
    check_path_chars(path)?;
    for component in path.split('/') {
        match component {
            "" => return Err(PathProblem::EmptyComponent),
            "." => return Err(PathProblem::CurrentComponent),
            ".." => return Err(PathProblem::ParentComponent),
            _ => {}
        }
    }
    Ok(())
}

/// Checks shared by writer and reader: non-empty, relative, no backslash, no control characters.
fn check_path_chars(path: &str) -> Result<(), PathProblem> {
    if path.is_empty() {
        return Err(PathProblem::Empty);
    }
    if path.starts_with('/') {
        return Err(PathProblem::Absolute);
    }
    if path.contains('\\') {
        return Err(PathProblem::Backslash);
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Err(PathProblem::ControlCharacter(c));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reader

/// Resource limits for [`for_each_entry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadLimits {
    /// Most entries accepted: files, directories and pax global headers. The
    /// number of distinct directories implied by entry paths is bounded by the
    /// same number.
    pub max_entries: u64,
    /// Largest single file, in bytes.
    pub max_entry_size: u64,
    /// Largest sum of file sizes, in bytes.
    pub max_total_size: u64,
    /// Longest entry path, in bytes (pax headers may be this plus 64 KiB).
    pub max_path_len: usize,
}

impl Default for ReadLimits {
    /// 100 000 entries, 64 GiB per file, 256 GiB in total, 4096-byte paths.
    fn default() -> Self {
        ReadLimits {
            max_entries: 100_000,
            max_entry_size: 64 << 30,
            max_total_size: 256 << 30,
            max_path_len: MAX_WRITE_PATH_LEN,
        }
    }
}

/// Streams the regular files of an untrusted tar archive to `visit`.
///
/// `visit` receives each file's normalised relative path (no `.`
/// components, `/`-separated), its size, and a reader of exactly that many
/// bytes; it need not read them all. Directories are checked but not passed
/// to `visit`. Every check on an entry happens before `visit` sees it, so
/// `visit` is never called for a rejected entry; entries before it may
/// already have been visited. Reading stops at the first error, which is
/// returned (an error from `visit` is returned unchanged, except that
/// running out of input while `visit` reads is reported as
/// [`TarError::Truncated`]).
///
/// Memory use is bounded by the limits (pax headers are capped at
/// `max_path_len` + 64 KiB; duplicate detection keeps 32-byte digests), not
/// by sizes claimed in headers.
///
/// # Errors
/// See [`TarError`]: unsafe or non-UTF-8 paths, forbidden entry types
/// (symlinks, hard links, devices, fifos, GNU long names, sparse files, ...),
/// duplicate or conflicting paths, limits exceeded, malformed pax records,
/// bad header checksums or number fields, truncation, a missing end-of-archive
/// marker, non-zero data after it, and I/O errors.
pub fn for_each_entry<R: Read>(
    reader: R,
    limits: &ReadLimits,
    mut visit: impl FnMut(&str, u64, &mut dyn Read) -> Result<(), TarError>,
) -> Result<(), TarError> {
    let tracker = Tracker::default();
    let mut archive = tar::Archive::new(TrackingReader {
        inner: reader,
        tracker: &tracker,
    });
    let mut state = ReadState::new(limits);
    {
        let entries = archive
            .entries()
            .map_err(|e| tracker.map_error(e))?
            .raw(true);
        for entry in entries {
            let mut entry = entry.map_err(|e| tracker.map_error(e))?;
            state.handle(&mut entry, &tracker, &mut visit)?;
        }
    }
    if let Some(pending) = state.pending.take() {
        return Err(TarError::Truncated {
            offset: pending.offset,
            detail: "pax extended header is not followed by an entry",
        });
    }
    let mut inner = archive.into_inner();
    check_end(&mut inner, &tracker, state.expected_end)
}

#[derive(Default)]
struct Tracker {
    pos: Cell<u64>,
    eof: Cell<bool>,
    failed: Cell<bool>,
}

impl Tracker {
    /// Classifies an error from the `tar` crate: our reader failed (I/O),
    /// input ran out (truncated), or the archive itself is bad (malformed).
    fn map_error(&self, e: io::Error) -> TarError {
        if self.failed.get() {
            TarError::Io(e)
        } else if self.eof.get() {
            TarError::Truncated {
                offset: self.pos.get(),
                detail: "input ended inside a header or entry",
            }
        } else {
            TarError::Malformed {
                offset: self.pos.get(),
                detail: e.to_string(),
            }
        }
    }
}

struct TrackingReader<'t, R> {
    inner: R,
    tracker: &'t Tracker,
}

impl<R: Read> Read for TrackingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                if n == 0 && !buf.is_empty() {
                    self.tracker.eof.set(true);
                }
                self.tracker
                    .pos
                    .set(self.tracker.pos.get().saturating_add(n as u64));
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.tracker.failed.set(true);
                }
                Err(e)
            }
        }
    }
}

/// Yields exactly `remaining` bytes, turning an early end of input into an error.
struct ExactReader<'a, E: Read> {
    inner: &'a mut E,
    remaining: u64,
    truncated: bool,
}

impl<E: Read> Read for ExactReader<'_, E> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = usize::try_from(self.remaining).map_or(buf.len(), |r| r.min(buf.len()));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            self.truncated = true;
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar archive ends inside entry data",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[derive(Default)]
struct PaxInfo {
    offset: u64,
    path: Option<Vec<u8>>,
    size: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    File,
    Dir,
    ImpliedDir,
}

struct ReadState<'l> {
    limits: &'l ReadLimits,
    entries: u64,
    total: u64,
    implied_dirs: u64,
    /// SHA-256 of each normalised path seen (explicit or implied).
    seen: HashMap<[u8; 32], Seen>,
    pending: Option<PaxInfo>,
    /// Where the byte after the last entry's padded data lies.
    expected_end: u64,
}

impl<'l> ReadState<'l> {
    fn new(limits: &'l ReadLimits) -> Self {
        ReadState {
            limits,
            entries: 0,
            total: 0,
            implied_dirs: 0,
            seen: HashMap::new(),
            pending: None,
            expected_end: 0,
        }
    }

    fn handle<E: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, E>,
        tracker: &Tracker,
        visit: &mut impl FnMut(&str, u64, &mut dyn Read) -> Result<(), TarError>,
    ) -> Result<(), TarError> {
        let offset = entry.raw_header_position();
        let header = entry.header();
        check_size_field(&header.as_bytes()[124..136])
            .map_err(|detail| TarError::BadSizeField { offset, detail })?;
        let size = header.entry_size().map_err(|e| TarError::Malformed {
            offset,
            detail: e.to_string(),
        })?;
        self.expected_end = entry
            .raw_file_position()
            .checked_add(size.div_ceil(BLOCK) * BLOCK)
            .ok_or(TarError::BadSizeField {
                offset,
                detail: "entry extends past 2^64 bytes",
            })?;
        let typeflag = header.entry_type().as_byte();
        let is_dir = match typeflag {
            b'x' => {
                if self.pending.is_some() {
                    return Err(TarError::BadPaxHeader {
                        offset,
                        detail: "two pax extended headers for one entry".into(),
                    });
                }
                let data = self.read_pax_data(entry, size, offset, tracker)?;
                let mut info = parse_pax(&data, offset, false)?;
                info.offset = offset;
                self.pending = Some(info);
                return Ok(());
            }
            b'g' => {
                if self.pending.is_some() {
                    return Err(TarError::BadPaxHeader {
                        offset,
                        detail: "pax extended header followed by a global header".into(),
                    });
                }
                self.count_entry(offset)?;
                let data = self.read_pax_data(entry, size, offset, tracker)?;
                parse_pax(&data, offset, true)?;
                return Ok(());
            }
            b'0' | b'\0' => false,
            b'5' => true,
            other => {
                let path = match &self.pending {
                    Some(PaxInfo {
                        path: Some(path), ..
                    }) => preview(path),
                    _ => preview(&header.path_bytes()),
                };
                return Err(TarError::ForbiddenEntryType {
                    offset,
                    path,
                    kind: describe_type(other),
                    typeflag: char::from(other),
                });
            }
        };

        let pax = self.pending.take().unwrap_or_default();
        if let Some(pax_size) = pax.size {
            if pax_size != size {
                return Err(TarError::BadPaxHeader {
                    offset: pax.offset,
                    detail: format!("pax size {pax_size} disagrees with header size {size}"),
                });
            }
        }
        let raw_path: Vec<u8> = match pax.path {
            Some(path) => path,
            None => header.path_bytes().into_owned(),
        };
        self.count_entry(offset)?;
        let path = self.normalise(&raw_path, is_dir, offset)?;

        if is_dir {
            if size != 0 {
                return Err(TarError::Malformed {
                    offset,
                    detail: format!("directory {path:?} has {size} bytes of data"),
                });
            }
            if !path.is_empty() {
                self.insert_path(&path, true, offset)?;
            }
            return Ok(());
        }

        if path.is_empty() {
            return Err(TarError::UnsafePath {
                offset,
                path: preview(&raw_path),
                problem: PathProblem::Empty,
            });
        }
        if size > self.limits.max_entry_size {
            return Err(TarError::EntryTooLarge {
                offset,
                path,
                size,
                max: self.limits.max_entry_size,
            });
        }
        let total = match self.total.checked_add(size) {
            Some(total) if total <= self.limits.max_total_size => total,
            _ => {
                return Err(TarError::TotalTooLarge {
                    offset,
                    path,
                    size,
                    max: self.limits.max_total_size,
                })
            }
        };
        self.insert_path(&path, false, offset)?;
        self.total = total;

        let mut data = ExactReader {
            inner: entry,
            remaining: size,
            truncated: false,
        };
        match visit(&path, size, &mut data) {
            Ok(()) => Ok(()),
            Err(_) if data.truncated || tracker.eof.get() => Err(TarError::Truncated {
                offset: tracker.pos.get(),
                detail: "input ended inside entry data",
            }),
            Err(e) => Err(e),
        }
    }

    fn count_entry(&mut self, offset: u64) -> Result<(), TarError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(TarError::TooManyEntries {
                offset,
                max: self.limits.max_entries,
            });
        }
        Ok(())
    }

    fn read_pax_data<E: Read>(
        &self,
        entry: &mut tar::Entry<'_, E>,
        size: u64,
        offset: u64,
        tracker: &Tracker,
    ) -> Result<Vec<u8>, TarError> {
        let max = (self.limits.max_path_len as u64).saturating_add(PAX_HEADER_SLACK);
        if size > max {
            return Err(TarError::BadPaxHeader {
                offset,
                detail: format!("{size} bytes of records exceed the {max}-byte limit"),
            });
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let mut exact = ExactReader {
            inner: entry,
            remaining: size,
            truncated: false,
        };
        match exact.read_to_end(&mut data) {
            Ok(_) => Ok(data),
            Err(_) if exact.truncated => Err(TarError::Truncated {
                offset: tracker.pos.get(),
                detail: "input ended inside a pax extended header",
            }),
            Err(e) => Err(TarError::Io(e)),
        }
    }

    fn normalise(&self, raw: &[u8], is_dir: bool, offset: u64) -> Result<String, TarError> {
        let max = self.limits.max_path_len;
        // A directory's trailing '/' is not counted, matching the writer.
        let len = match raw.strip_suffix(b"/") {
            Some(trimmed) if is_dir => trimmed.len(),
            _ => raw.len(),
        };
        if len > max {
            return Err(TarError::UnsafePath {
                offset,
                path: preview(raw),
                problem: PathProblem::TooLong { len, max },
            });
        }
        let text = std::str::from_utf8(raw).map_err(|_| TarError::NonUtf8Path {
            offset,
            path: preview(raw),
        })?;
        normalise_path(text, is_dir).map_err(|problem| TarError::UnsafePath {
            offset,
            path: preview(raw),
            problem,
        })
    }

    /// Records `path`, rejecting duplicates and file/directory conflicts.
    ///
    /// Invariant: every directory in `seen` has all its ancestors in `seen`
    /// as directories, so the ancestor walk stops at the first known one.
    fn insert_path(&mut self, path: &str, is_dir: bool, offset: u64) -> Result<(), TarError> {
        let key = path_key(path);
        match self.seen.get(&key).copied() {
            Some(Seen::File | Seen::Dir) => {
                return Err(TarError::DuplicatePath {
                    offset,
                    path: path.to_owned(),
                })
            }
            Some(Seen::ImpliedDir) if is_dir => {
                self.seen.insert(key, Seen::Dir);
                return Ok(());
            }
            Some(Seen::ImpliedDir) => {
                return Err(TarError::FileReplacesDirectory {
                    offset,
                    path: path.to_owned(),
                })
            }
            None => {}
        }
        let mut ancestor = path;
        while let Some(slash) = ancestor.rfind('/') {
            ancestor = &ancestor[..slash];
            let ancestor_key = path_key(ancestor);
            match self.seen.get(&ancestor_key).copied() {
                Some(Seen::File) => {
                    return Err(TarError::FileUsedAsDirectory {
                        offset,
                        path: path.to_owned(),
                        file: ancestor.to_owned(),
                    })
                }
                Some(Seen::Dir | Seen::ImpliedDir) => break,
                None => {
                    self.implied_dirs += 1;
                    if self.implied_dirs > self.limits.max_entries {
                        return Err(TarError::TooManyDirectories {
                            offset,
                            max: self.limits.max_entries,
                        });
                    }
                    self.seen.insert(ancestor_key, Seen::ImpliedDir);
                }
            }
        }
        self.seen
            .insert(key, if is_dir { Seen::Dir } else { Seen::File });
        Ok(())
    }
}

fn path_key(path: &str) -> [u8; 32] {
    Sha256::digest(path.as_bytes()).into()
}

/// Normalises an archive path: drops `.` components and a directory's
/// trailing `/`; rejects everything unsafe. May return "" (the root).
fn normalise_path(path: &str, is_dir: bool) -> Result<String, PathProblem> {
    check_path_chars(path)?;
    let trimmed = match path.strip_suffix('/') {
        Some(_) if !is_dir => return Err(PathProblem::FileWithTrailingSlash),
        Some(trimmed) => trimmed,
        None => path,
    };
    let mut parts: Vec<&str> = Vec::new();
    for component in trimmed.split('/') {
        match component {
            "." => {}
            ".." => return Err(PathProblem::ParentComponent),
            "" => return Err(PathProblem::EmptyComponent),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Checks the raw 12-byte size field: base-256 values must be non-negative
/// and fit in 64 bits (the `tar` crate silently keeps only the low 8 bytes).
fn check_size_field(field: &[u8]) -> Result<(), &'static str> {
    match field.first() {
        Some(&first) if first & 0x80 != 0 => {
            if first != 0x80 || field.get(1..4).is_some_and(|b| b.iter().any(|&x| x != 0)) {
                Err("base-256 size is negative or does not fit in 64 bits")
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn describe_type(typeflag: u8) -> &'static str {
    match typeflag {
        b'1' => "hard link",
        b'2' => "symbolic link",
        b'3' => "character device",
        b'4' => "block device",
        b'6' => "fifo",
        b'7' => "contiguous file",
        b'L' => "GNU long name",
        b'K' => "GNU long link name",
        b'S' => "GNU sparse file",
        b'M' => "GNU multi-volume continuation",
        b'V' => "GNU volume label",
        b'D' => "GNU dump directory",
        _ => "unknown-type",
    }
}

/// Lossy, length-capped rendering of a raw path for error messages.
fn preview(raw: &[u8]) -> String {
    const MAX: usize = 256;
    let text = String::from_utf8_lossy(raw);
    if text.len() <= MAX {
        return text.into_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// Parses pax records (`"<len> <key>=<value>\n"`, `<len>` counting the whole
/// record). Values may contain newlines. Rejects link targets, sparse-file
/// maps, empty or repeated `path`, and (in global headers) `path`/`size`.
fn parse_pax(data: &[u8], offset: u64, global: bool) -> Result<PaxInfo, TarError> {
    let bad = |detail: String| TarError::BadPaxHeader { offset, detail };
    let mut info = PaxInfo::default();
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad("record without a length".into()))?;
        let digits = &rest[..space];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad("record length is not a decimal number".into()));
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| bad("record length is too large".into()))?;
        if len < space + 3 || len > rest.len() {
            return Err(bad(format!(
                "record length {len} does not fit the {} remaining bytes",
                rest.len()
            )));
        }
        let record = &rest[..len];
        let Some((&b'\n', body)) = record.split_last() else {
            return Err(bad("record does not end with a newline".into()));
        };
        let body = &body[space + 1..];
        let eq = body
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| bad("record without '='".into()))?;
        let key =
            std::str::from_utf8(&body[..eq]).map_err(|_| bad("record key is not UTF-8".into()))?;
        let value = &body[eq + 1..];
        match key {
            "" => return Err(bad("record with an empty key".into())),
            "path" | "size" if global => {
                return Err(bad(format!("global header sets {key:?}")));
            }
            "path" => {
                if value.is_empty() {
                    return Err(bad("empty path record".into()));
                }
                if info.path.is_some() {
                    return Err(bad("repeated path record".into()));
                }
                info.path = Some(value.to_vec());
            }
            "size" => {
                let size = std::str::from_utf8(value)
                    .ok()
                    .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| bad("size record is not a 64-bit decimal number".into()))?;
                if info.size.replace(size).is_some() {
                    return Err(bad("repeated size record".into()));
                }
            }
            "linkpath" => return Err(bad("link target records are not allowed".into())),
            k if k.starts_with("GNU.sparse.") => {
                return Err(bad(format!("sparse-file record {k:?} is not allowed")));
            }
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(info)
}

/// After the `tar` crate stopped at a zero block (or at end of input),
/// requires a second zero block and only zero padding after it.
fn check_end<R: Read>(inner: &mut R, tracker: &Tracker, expected_end: u64) -> Result<(), TarError> {
    let pos = tracker.pos.get();
    if pos == expected_end {
        return Err(TarError::Truncated {
            offset: pos,
            detail: "archive ends without an end-of-archive marker",
        });
    }
    if pos != expected_end.saturating_add(BLOCK) {
        return Err(TarError::Malformed {
            offset: pos,
            detail: format!("archive stopped at an unexpected position (expected {expected_end})"),
        });
    }
    let mut block = [0u8; BLOCK as usize];
    let got = read_full(inner, &mut block)?;
    if got < block.len() {
        return Err(TarError::Truncated {
            offset: tracker.pos.get(),
            detail: "end-of-archive marker has only one zero block",
        });
    }
    if block.iter().any(|&b| b != 0) {
        return Err(TarError::Malformed {
            offset: pos,
            detail: "a lone zero block is followed by more data".into(),
        });
    }
    let mut trailing = 0u64;
    loop {
        let n = read_full(inner, &mut block)?;
        if n == 0 {
            return Ok(());
        }
        if block[..n].iter().any(|&b| b != 0) {
            return Err(TarError::Malformed {
                offset: tracker.pos.get(),
                detail: "non-zero data after the end-of-archive marker".into(),
            });
        }
        trailing += n as u64;
        if trailing > MAX_TRAILING_ZEROS {
            return Err(TarError::Malformed {
                offset: tracker.pos.get(),
                detail: format!(
                    "more than {MAX_TRAILING_ZEROS} bytes of padding after the end-of-archive marker"
                ),
            });
        }
    }
}

fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, TarError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TarError::Io(e)),
        }
    }
    Ok(filled)
}

// ---------------------------------------------------------------------------
// File names

/// Turns an evidence file's original name into a safe single file name,
/// one that unpacks to itself on Linux, macOS and Windows.
///
/// In order: normalises to NFC (macOS file systems and many tools compare
/// names by normalisation); removes `/`, `\`, Unicode bidirectional
/// controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069, which can
/// disguise an extension) and `%` (RFC 8493 requires `%` to be written
/// `%25` in manifests, which the stock `bagit.py` does not decode, so a `%`
/// in a payload name makes a court's validation fail); replaces the
/// characters Windows forbids (`: * ? " < > |`) and control characters by
/// `_`; trims whitespace, leading dots and trailing dots (Windows drops
/// trailing dots and spaces, so `report.` would become `report`); prefixes
/// `_` to a Windows device name (`CON`, `PRN`, `AUX`, `NUL`, `COM0`–`COM9`,
/// `LPT0`–`LPT9`, also with an extension, as `con.txt`); keeps all other
/// Unicode, and caps the result at [`MAX_FILE_NAME_LEN`] bytes on a
/// character boundary, keeping an extension of up to 32 bytes. An empty
/// result becomes `"unnamed"`.
pub fn sanitize_file_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let kept: String = name
        .nfc()
        .filter(|&c| !(c == '/' || c == '\\' || c == '%' || is_bidi_control(c)))
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut trimmed = kept.as_str();
    loop {
        let next = trimmed.trim().trim_start_matches('.').trim_end_matches('.');
        if next.len() == trimmed.len() {
            break;
        }
        trimmed = next;
    }
    let device_safe;
    if is_windows_device_name(trimmed) {
        device_safe = format!("_{trimmed}");
        trimmed = &device_safe;
    }
    let (stem, ext) = split_extension(trimmed);
    let capped = fit_name(stem, "", ext);
    if capped.is_empty() {
        "unnamed".to_owned()
    } else {
        capped
    }
}

/// True for a name Windows reserves for a device, with or without an
/// extension (`CON`, `nul.txt`, `Com1.tar.gz`, `LPT9 .log`).
fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end();
    let upper = stem.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.chars().count() == 4
        && upper
            .chars()
            .nth(3)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '¹' | '²' | '³')))
}

/// The key under which two names are the same file on a case-insensitive,
/// normalisation-insensitive file system (macOS, Windows): NFC, then full
/// case folding approximated by upper- then lower-casing (`ß` = `ss`, `Σ` =
/// `σ` = `ς`), then NFC again.
pub fn name_fold_key(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let nfc: String = name.nfc().collect();
    let folded = nfc.to_uppercase().to_lowercase();
    folded.nfc().collect()
}

/// Makes names unique, case- and normalisation-insensitively (see
/// [`name_fold_key`]), in a deterministic way.
///
/// The first occurrence of a name keeps it; each later one becomes
/// `stem (n).ext` with the smallest `n >= 2` that collides with no input
/// name and no name already produced. Results stay within
/// [`MAX_FILE_NAME_LEN`] bytes by shortening the stem. Expects names already
/// passed through [`sanitize_file_name`].
pub fn dedupe_names(names: &[String]) -> Vec<String> {
    let mut taken: HashSet<String> = names.iter().map(|n| name_fold_key(n)).collect();
    let mut claimed: HashSet<String> = HashSet::with_capacity(names.len());
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if claimed.insert(name_fold_key(name)) {
            out.push(name.clone());
            continue;
        }
        let (stem, ext) = split_extension(name);
        let mut n: u64 = 2;
        loop {
            let candidate = fit_name(stem, &format!(" ({n})"), ext);
            let key = name_fold_key(&candidate);
            if taken.insert(key.clone()) {
                claimed.insert(key);
                out.push(candidate);
                break;
            }
            n += 1;
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Splits `name` into stem and extension (with its dot). A leading dot, an
/// empty extension, an extension over 32 bytes or one containing whitespace
/// does not count.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot)
            if dot > 0
                && name.len() - dot > 1
                && name.len() - dot <= MAX_EXTENSION_LEN + 1
                && !name[dot..].contains(char::is_whitespace) =>
        {
            name.split_at(dot)
        }
        _ => (name, ""),
    }
}

/// `stem + suffix + ext`, shortening the stem (on a character boundary, then
/// trimming trailing whitespace) so the result fits [`MAX_FILE_NAME_LEN`].
fn fit_name(stem: &str, suffix: &str, ext: &str) -> String {
    let total = stem.len() + suffix.len() + ext.len();
    if total <= MAX_FILE_NAME_LEN {
        return format!("{stem}{suffix}{ext}");
    }
    let budget = MAX_FILE_NAME_LEN.saturating_sub(suffix.len() + ext.len());
    let mut end = budget.min(stem.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let short = stem[..end].trim_end();
    format!("{short}{suffix}{ext}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::process::Command;

    // ----- helpers ---------------------------------------------------------

    fn build(entries: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut tar = DeterministicTar::new(Vec::new());
        for (path, content) in entries {
            match content {
                Some(bytes) => tar.add_file(path, bytes.len() as u64, *bytes).unwrap(),
                None => tar.add_dir(path).unwrap(),
            }
        }
        tar.finish().unwrap()
    }

    /// Visited `(path, content)` pairs, or the error plus the paths visited before it.
    type ReadOutcome = Result<Vec<(String, Vec<u8>)>, (TarError, Vec<String>)>;

    /// Reads an archive with default limits.
    fn read_all(bytes: &[u8]) -> ReadOutcome {
        read_with(bytes, &ReadLimits::default())
    }

    fn read_with(bytes: &[u8], limits: &ReadLimits) -> ReadOutcome {
        let mut seen = Vec::new();
        let result = for_each_entry(bytes, limits, |path, size, data| {
            let mut content = Vec::new();
            data.read_to_end(&mut content)?;
            assert_eq!(content.len() as u64, size);
            seen.push((path.to_owned(), content));
            Ok(())
        });
        match result {
            Ok(()) => Ok(seen),
            Err(e) => Err((e, seen.into_iter().map(|(p, _)| p).collect())),
        }
    }

    /// A raw ustar header, built by hand with a correct checksum.
    fn raw_header(name: &[u8], typeflag: u8, size_field: &[u8], linkname: &[u8]) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..124 + size_field.len()].copy_from_slice(size_field);
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = typeflag;
        h[157..157 + linkname.len()].copy_from_slice(linkname);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        set_checksum(&mut h);
        h
    }

    fn set_checksum(h: &mut [u8; 512]) {
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }

    fn octal_size(size: u64) -> Vec<u8> {
        format!("{size:011o}\0").into_bytes()
    }

    fn base256_size(size: u64) -> Vec<u8> {
        let mut field = vec![0x80, 0, 0, 0];
        field.extend_from_slice(&size.to_be_bytes());
        field
    }

    /// Appends a file entry: header, data, padding.
    fn push_file(out: &mut Vec<u8>, name: &str, data: &[u8]) {
        out.extend_from_slice(&raw_header(
            name.as_bytes(),
            b'0',
            &octal_size(data.len() as u64),
            b"",
        ));
        push_data(out, data);
    }

    fn push_data(out: &mut Vec<u8>, data: &[u8]) {
        out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }

    fn push_pax(out: &mut Vec<u8>, typeflag: u8, records: &[u8]) {
        out.extend_from_slice(&raw_header(
            b"././@PaxHeader",
            typeflag,
            &octal_size(records.len() as u64),
            b"",
        ));
        push_data(out, records);
    }

    fn end(out: &mut Vec<u8>) {
        out.extend_from_slice(&[0u8; 1024]);
    }

    /// An archive with one good file, then `bad` (raw bytes), then the end marker.
    fn with_bad_entry(bad: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        push_file(&mut out, "good.txt", b"fine");
        out.extend_from_slice(bad);
        end(&mut out);
        out
    }

    /// Reads `with_bad_entry(bad)`, expecting an error after only `good.txt` was visited.
    fn expect_rejected(bad: &[u8]) -> TarError {
        let (err, visited) =
            read_all(&with_bad_entry(bad)).expect_err("archive should be rejected");
        assert_eq!(visited, vec!["good.txt".to_owned()], "visited: {visited:?}");
        err
    }

    fn gnu_tar_available() -> bool {
        Command::new("tar")
            .arg("--version")
            .output()
            .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GNU tar"))
            .unwrap_or(false)
    }

    const RUSSIAN: &str = "data/evidence/Фото «свидетель» — 01.jpg";

    fn long_name() -> String {
        let name = format!("data/{}.bin", "x".repeat(141));
        assert_eq!(name.len(), 150);
        name
    }

    fn sample_entries(long: &str) -> Vec<(&str, Option<&[u8]>)> {
        vec![
            ("bagit.txt", Some(&b"BagIt-Version: 1.0\n"[..])),
            ("data", None),
            ("data/a.txt", Some(&b"alpha"[..])),
            ("data/evidence", None),
            (RUSSIAN, Some(&b"\xff\xd8\xff jpeg-ish"[..])),
            (long, Some(&[7u8; 1500][..])),
            ("data/z", Some(&b""[..])),
        ]
    }

    // ----- writer ----------------------------------------------------------

    #[test]
    fn same_content_gives_identical_bytes() {
        let long = long_name();
        let mut sorted = sample_entries(&long);
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let first = build(&sorted);
        let second = build(&sorted);
        assert_eq!(first, second);
        assert_eq!(first.len() % 512, 0);
        assert!(first.ends_with(&[0u8; 1024]));
    }

    #[test]
    fn headers_are_normalised() {
        let long = long_name();
        let mut entries = sample_entries(&long);
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let bytes = build(&entries);
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut paths = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!(h.uid().unwrap(), 0);
            assert_eq!(h.gid().unwrap(), 0);
            assert_eq!(h.username_bytes(), Some(&b""[..]));
            assert_eq!(h.groupname_bytes(), Some(&b""[..]));
            assert!(h.as_ustar().is_some(), "ustar magic");
            let is_dir = h.entry_type().is_dir();
            assert_eq!(h.mode().unwrap(), if is_dir { 0o755 } else { 0o644 });
            paths.push(String::from_utf8(entry.path_bytes().into_owned()).unwrap());
        }
        assert_eq!(
            paths,
            vec![
                "bagit.txt".to_owned(),
                "data/".into(),
                "data/a.txt".into(),
                "data/evidence/".into(),
                RUSSIAN.into(),
                long.clone(),
                "data/z".into()
            ]
        );
        // Pax headers carry only `path=`: no time-, user- or host-dependent record.
        let mut raw = tar::Archive::new(&bytes[..]);
        let mut pax_count = 0;
        for entry in raw.entries().unwrap().raw(true) {
            let mut entry = entry.unwrap();
            if entry.header().entry_type() == tar::EntryType::XHeader {
                pax_count += 1;
                assert_eq!(entry.header().path_bytes().as_ref(), b"././@PaxHeader");
                let mut body = Vec::new();
                entry.read_to_end(&mut body).unwrap();
                let text = String::from_utf8(body).unwrap();
                assert_eq!(text.matches('\n').count(), 1, "{text}");
                assert!(text.contains(" path=data/"), "{text}");
            }
        }
        assert_eq!(pax_count, 2, "russian name and 150-byte name");
    }

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(pax_record("path", b"a"), b"9 path=a\n");
        // 1+4+1+93+1 = 100 body bytes, plus 3 digits = 103.
        let value = vec![b'v'; 93];
        let rec = pax_record("path", &value);
        assert_eq!(rec.len(), 103);
        assert!(rec.starts_with(b"103 path="));
        // Boundary: body 98 + 2 digits = 100, which itself has 3 digits -> 101.
        let rec = pax_record("path", &[b'v'; 91]);
        assert_eq!(rec.len(), 101);
        assert!(rec.starts_with(b"101 "));
    }

    #[test]
    fn ascii_stand_in_fits_ustar() {
        assert_eq!(ascii_stand_in("data/é.txt"), "data/_.txt");
        let dir = format!("{}/", "d".repeat(150));
        let stand = ascii_stand_in(&dir);
        assert_eq!(stand.len(), 100);
        assert!(stand.ends_with('/'));
    }

    #[test]
    fn writer_rejects_out_of_order_and_duplicates_without_poisoning() {
        let mut tar = DeterministicTar::new(Vec::new());
        tar.add_dir("data").unwrap();
        tar.add_file("data/b", 1, &b"b"[..]).unwrap();
        for path in ["data/b", "data/a", "data"] {
            let err = tar.add_file(path, 0, &b""[..]).unwrap_err();
            assert!(
                matches!(&err, TarError::OutOfOrder { previous, .. } if previous == "data/b"),
                "{err:?}"
            );
        }
        let err = tar.add_dir("data/b").unwrap_err();
        assert!(matches!(err, TarError::OutOfOrder { .. }), "{err:?}");
        tar.add_file("data/c", 0, &b""[..]).unwrap();
        let bytes = tar.finish().unwrap();
        let files = read_all(&bytes).unwrap();
        assert_eq!(files.len(), 2);
    }

    #[test]
    fn writer_orders_directories_without_trailing_slash() {
        // "data/x" < "data/x-1" < "data/x/a" in byte order ('-' < '/').
        let bytes = build(&[
            ("data/x", None),
            ("data/x-1", Some(&b"1"[..])),
            ("data/x/a", Some(&b"a"[..])),
        ]);
        let paths: Vec<String> = read_all(&bytes)
            .unwrap()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(paths, ["data/x-1", "data/x/a"]);
    }

    #[test]
    fn writer_rejects_bad_paths() {
        let cases = [
            ("", PathProblem::Empty),
            ("/etc/x", PathProblem::Absolute),
            ("data/../x", PathProblem::ParentComponent),
            ("./data", PathProblem::CurrentComponent),
            ("data//x", PathProblem::EmptyComponent),
            ("data/", PathProblem::EmptyComponent),
            ("data\\x", PathProblem::Backslash),
            ("data/\nx", PathProblem::ControlCharacter('\n')),
            ("data/\0", PathProblem::ControlCharacter('\0')),
        ];
        for (path, want) in cases {
            let mut tar = DeterministicTar::new(Vec::new());
            let err = tar.add_file(path, 0, &b""[..]).unwrap_err();
            assert!(
                matches!(&err, TarError::InvalidPath { problem, .. } if *problem == want),
                "{path:?}: {err:?}"
            );
        }
        let mut tar = DeterministicTar::new(Vec::new());
        let err = tar.add_dir(&"a".repeat(4097)).unwrap_err();
        assert!(
            matches!(
                err,
                TarError::InvalidPath {
                    problem: PathProblem::TooLong {
                        len: 4097,
                        max: 4096
                    },
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn writer_checks_source_length_and_then_poisons() {
        let mut tar = DeterministicTar::new(Vec::new());
        let err = tar.add_file("short", 10, &b"12345"[..]).unwrap_err();
        assert!(
            matches!(
                err,
                TarError::SourceTooShort {
                    expected: 10,
                    actual: 5,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(matches!(
            tar.add_file("z", 0, &b""[..]).unwrap_err(),
            TarError::Poisoned
        ));
        assert!(matches!(tar.finish().unwrap_err(), TarError::Poisoned));

        let mut tar = DeterministicTar::new(Vec::new());
        let err = tar.add_file("long", 3, &b"1234"[..]).unwrap_err();
        assert!(
            matches!(err, TarError::SourceTooLong { expected: 3, .. }),
            "{err:?}"
        );
        assert!(matches!(tar.finish().unwrap_err(), TarError::Poisoned));
    }

    /// A reader producing `n` bytes without touching the buffer (its bytes are
    /// whatever the caller's buffer held), so multi-GiB entries cost no memory
    /// and little time.
    struct Unfilled(u64);

    impl Read for Unfilled {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = usize::try_from(self.0).map_or(buf.len(), |r| r.min(buf.len()));
            self.0 -= n as u64;
            Ok(n)
        }
    }

    /// Keeps the first `keep` bytes written, counts the rest.
    struct Head {
        bytes: Vec<u8>,
        keep: usize,
        total: u64,
    }

    impl Write for Head {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let room = self.keep.saturating_sub(self.bytes.len());
            self.bytes.extend_from_slice(&buf[..room.min(buf.len())]);
            self.total += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn files_of_8_gib_or_more_get_a_pax_size_record() {
        let size = MAX_OCTAL_SIZE + 1; // 8 GiB
        let mut tar = DeterministicTar::new(Head {
            bytes: Vec::new(),
            keep: 1536,
            total: 0,
        });
        tar.add_file("big", size, Unfilled(size)).unwrap();
        let head = tar.finish().unwrap();
        assert_eq!(head.total, 1536 + size + 1024);
        let (pax_header, rest) = head.bytes.split_at(512);
        assert_eq!(pax_header[156], b'x');
        assert!(rest.starts_with(b"19 size=8589934592\n\0"));
        let header = &rest[512..1024];
        assert_eq!(&header[..4], b"big\0");
        assert_eq!(&header[124..136], &base256_size(size)[..]);

        // The reader accepts it (pax size agrees with the base-256 field) and
        // skips the data without buffering it.
        let mut input = head.bytes.clone();
        let chained = (&input[..1536])
            .chain(Unfilled(size))
            .chain(&[0u8; 1024][..]);
        let mut visited = Vec::new();
        for_each_entry(chained, &ReadLimits::default(), |path, len, _| {
            visited.push((path.to_owned(), len));
            Ok(())
        })
        .unwrap();
        assert_eq!(visited, vec![("big".to_owned(), size)]);

        // A pax size disagreeing with the header is rejected.
        input[512..531].copy_from_slice(b"19 size=8589934593\n");
        let chained = (&input[..1536])
            .chain(Unfilled(size))
            .chain(&[0u8; 1024][..]);
        let err = for_each_entry(chained, &ReadLimits::default(), |_, _, _| {
            panic!("visit must not be called")
        })
        .unwrap_err();
        assert!(
            matches!(err, TarError::BadPaxHeader { offset: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn gnu_tar_lists_and_extracts_the_output() {
        assert!(gnu_tar_available(), "GNU tar is required for this test");
        let long = long_name();
        let mut entries = sample_entries(&long);
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("out.tar");
        std::fs::write(&archive, build(&entries)).unwrap();

        let list = Command::new("tar")
            .env("TZ", "UTC")
            .arg("-tvf")
            .arg(&archive)
            .output()
            .unwrap();
        assert!(
            list.status.success(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        assert!(
            list.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        let listing = String::from_utf8(list.stdout).unwrap();
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines.len(), entries.len(), "{listing}");
        assert!(lines[0].starts_with("-rw-r--r-- 0/0"), "{listing}");
        assert!(lines[1].starts_with("drwxr-xr-x 0/0"), "{listing}");
        assert!(
            lines.iter().all(|l| l.contains(" 1970-01-01 00:00 ")),
            "{listing}"
        );
        assert!(listing.contains(RUSSIAN), "{listing}");
        assert!(listing.contains(&long), "{listing}");

        let out = dir.path().join("x");
        std::fs::create_dir(&out).unwrap();
        let status = Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        for (path, content) in &entries {
            let on_disk = out.join(path);
            match content {
                Some(bytes) => assert_eq!(&std::fs::read(&on_disk).unwrap(), bytes, "{path}"),
                None => assert!(on_disk.is_dir(), "{path}"),
            }
        }
    }

    // ----- reader: good input ---------------------------------------------

    #[test]
    fn reader_round_trips_writer_output() {
        let long = long_name();
        let mut entries = sample_entries(&long);
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let files = read_all(&build(&entries)).unwrap();
        let expected: Vec<(String, Vec<u8>)> = entries
            .iter()
            .filter_map(|(p, c)| c.map(|c| ((*p).to_owned(), c.to_vec())))
            .collect();
        assert_eq!(files, expected);
    }

    #[test]
    fn reader_accepts_gnu_tar_pax_archives() {
        assert!(gnu_tar_available(), "GNU tar is required for this test");
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("data/evidence")).unwrap();
        std::fs::write(src.join(RUSSIAN), b"photo").unwrap();
        std::fs::write(src.join(long_name()), b"long").unwrap();
        let archive = dir.path().join("gnu.tar");
        let status = Command::new("tar")
            .args(["--format=pax", "--sort=name", "-cf"])
            .arg(&archive)
            .arg("-C")
            .arg(&src)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        let files = read_all(&std::fs::read(&archive).unwrap()).unwrap();
        let mut paths: Vec<String> = files.into_iter().map(|(p, _)| p).collect();
        paths.sort();
        assert_eq!(paths, vec![RUSSIAN.to_owned(), long_name()]);
    }

    #[test]
    fn reader_normalises_dot_components_and_skips_root() {
        let mut out = Vec::new();
        out.extend_from_slice(&raw_header(b"./", b'5', &octal_size(0), b""));
        out.extend_from_slice(&raw_header(b"./data/", b'5', &octal_size(0), b""));
        push_file(&mut out, "./data/./f", b"x");
        end(&mut out);
        let files = read_all(&out).unwrap();
        assert_eq!(files, vec![("data/f".to_owned(), b"x".to_vec())]);
    }

    #[test]
    fn reader_allows_visitor_to_skip_data_and_tolerates_zero_padding() {
        let mut out = Vec::new();
        push_file(&mut out, "a", &[1u8; 1000]);
        push_file(&mut out, "b", b"bee");
        end(&mut out);
        out.extend_from_slice(&[0u8; 10240 - 3584]);
        let mut seen = Vec::new();
        for_each_entry(&out[..], &ReadLimits::default(), |path, _, data| {
            if path == "b" {
                let mut s = String::new();
                data.read_to_string(&mut s)?;
                seen.push(s);
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec!["bee".to_owned()]);
    }

    #[test]
    fn visitor_errors_are_returned_unchanged() {
        let bytes = build(&[("a", Some(&b"1"[..])), ("b", Some(&b"2"[..]))]);
        let mut calls = 0;
        let err = for_each_entry(&bytes[..], &ReadLimits::default(), |path, _, _| {
            calls += 1;
            Err(TarError::InvalidPath {
                path: path.to_owned(),
                problem: PathProblem::Empty,
            })
        })
        .unwrap_err();
        assert_eq!(calls, 1);
        assert!(matches!(err, TarError::InvalidPath { path, .. } if path == "a"));
    }

    // ----- reader: hostile input ------------------------------------------

    #[test]
    fn rejects_parent_traversal() {
        let err = expect_rejected(&raw_header(b"../evil", b'0', &octal_size(0), b""));
        assert!(
            matches!(&err, TarError::UnsafePath { offset: 1024, path, problem: PathProblem::ParentComponent } if path == "../evil"),
            "{err:?}"
        );
        let err = expect_rejected(&raw_header(b"data/../../evil", b'5', &octal_size(0), b""));
        assert!(
            matches!(
                err,
                TarError::UnsafePath {
                    problem: PathProblem::ParentComponent,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_absolute_paths() {
        let err = expect_rejected(&raw_header(b"/etc/x", b'0', &octal_size(0), b""));
        assert!(
            matches!(&err, TarError::UnsafePath { path, problem: PathProblem::Absolute, .. } if path == "/etc/x"),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_backslashes_controls_empty_components_and_bad_utf8() {
        let cases: [(&[u8], PathProblem); 4] = [
            (b"data\\x", PathProblem::Backslash),
            (b"data/\x1bx", PathProblem::ControlCharacter('\u{1b}')),
            (b"data//x", PathProblem::EmptyComponent),
            (b"data/x/", PathProblem::FileWithTrailingSlash),
        ];
        for (name, want) in cases {
            let err = expect_rejected(&raw_header(name, b'0', &octal_size(0), b""));
            assert!(
                matches!(&err, TarError::UnsafePath { problem, .. } if *problem == want),
                "{name:?}: {err:?}"
            );
        }
        let err = expect_rejected(&raw_header(b"data/\xff", b'0', &octal_size(0), b""));
        assert!(matches!(err, TarError::NonUtf8Path { .. }), "{err:?}");
    }

    #[test]
    fn rejects_links_devices_and_other_types() {
        let cases: [(u8, &str); 7] = [
            (b'2', "symbolic link"),
            (b'1', "hard link"),
            (b'3', "character device"),
            (b'4', "block device"),
            (b'6', "fifo"),
            (b'L', "GNU long name"),
            (b'S', "GNU sparse file"),
        ];
        for (flag, kind_name) in cases {
            let err = expect_rejected(&raw_header(b"data/x", flag, &octal_size(0), b"/etc/passwd"));
            assert!(
                matches!(&err, TarError::ForbiddenEntryType { offset: 1024, path, kind, typeflag }
                    if path == "data/x" && *kind == kind_name && *typeflag == char::from(flag)),
                "{kind_name}: {err:?}"
            );
        }
    }

    #[test]
    fn rejects_duplicate_paths() {
        let mut bad = Vec::new();
        push_file(&mut bad, "./good.txt", b"again");
        let err = expect_rejected(&bad);
        assert!(
            matches!(&err, TarError::DuplicatePath { offset: 1024, path } if path == "good.txt"),
            "{err:?}"
        );
        // Directory given twice.
        let mut bad = raw_header(b"d/", b'5', &octal_size(0), b"").to_vec();
        bad.extend_from_slice(&raw_header(b"d", b'5', &octal_size(0), b""));
        let err = expect_rejected(&bad);
        assert!(matches!(err, TarError::DuplicatePath { .. }), "{err:?}");
    }

    #[test]
    fn rejects_file_directory_conflicts() {
        let mut bad = Vec::new();
        push_file(&mut bad, "good.txt/inner", b"x");
        let err = expect_rejected(&bad);
        assert!(
            matches!(&err, TarError::FileUsedAsDirectory { file, .. } if file == "good.txt"),
            "{err:?}"
        );

        let mut archive = Vec::new();
        push_file(&mut archive, "good.txt", b"fine");
        push_file(&mut archive, "dir/sub/file", b"x");
        push_file(&mut archive, "dir", b"replaces the directory");
        end(&mut archive);
        let (err, visited) = read_all(&archive).unwrap_err();
        assert_eq!(visited, ["good.txt", "dir/sub/file"]);
        assert!(
            matches!(&err, TarError::FileReplacesDirectory { path, .. } if path == "dir"),
            "{err:?}"
        );

        // An explicit directory after files inside it is fine.
        let mut archive = Vec::new();
        push_file(&mut archive, "dir/f", b"x");
        archive.extend_from_slice(&raw_header(b"dir/", b'5', &octal_size(0), b""));
        end(&mut archive);
        assert_eq!(read_all(&archive).unwrap().len(), 1);
    }

    #[test]
    fn rejects_a_one_tib_entry_by_limit_without_reading_it() {
        let tib = 1u64 << 40;
        // Only the header exists: no data follows. The limit fires first.
        let err = expect_rejected(&raw_header(b"huge", b'0', &base256_size(tib), b""));
        assert!(
            matches!(&err, TarError::EntryTooLarge { offset: 1024, size, max, .. }
                if *size == tib && *max == 64 << 30),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_entries_past_the_total_limit() {
        let limits = ReadLimits {
            max_total_size: 10,
            ..ReadLimits::default()
        };
        let mut archive = Vec::new();
        push_file(&mut archive, "a", b"123456");
        push_file(&mut archive, "b", b"12345");
        end(&mut archive);
        let (err, visited) = read_with(&archive, &limits).unwrap_err();
        assert_eq!(visited, ["a"]);
        assert!(
            matches!(&err, TarError::TotalTooLarge { path, size: 5, max: 10, .. } if path == "b"),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_absurd_size_fields() {
        // Negative base-256.
        let mut field = vec![0xff; 4];
        field.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        let err = expect_rejected(&raw_header(b"neg", b'0', &field, b""));
        assert!(
            matches!(err, TarError::BadSizeField { offset: 1024, .. }),
            "{err:?}"
        );
        // Base-256 beyond 64 bits (high bytes set; the tar crate alone would drop them).
        let mut field = vec![0x80, 0, 0, 1];
        field.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        let err = expect_rejected(&raw_header(b"wide", b'0', &field, b""));
        assert!(matches!(err, TarError::BadSizeField { .. }), "{err:?}");
        // Near u64::MAX: position arithmetic would overflow.
        let err = expect_rejected(&raw_header(b"max", b'0', &base256_size(u64::MAX - 10), b""));
        assert!(matches!(err, TarError::Malformed { .. }), "{err:?}");
        // Not a number at all.
        let err = expect_rejected(&raw_header(b"junk", b'0', b"12x45678901\0", b""));
        assert!(
            matches!(&err, TarError::Malformed { detail, .. } if detail.contains("numeric")),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_more_entries_than_allowed() {
        let limits = ReadLimits {
            max_entries: 3,
            ..ReadLimits::default()
        };
        let mut archive = Vec::new();
        for name in ["a", "b", "c", "d"] {
            push_file(&mut archive, name, name.as_bytes());
        }
        end(&mut archive);
        let (err, visited) = read_with(&archive, &limits).unwrap_err();
        assert_eq!(visited, ["a", "b", "c"]);
        assert!(
            matches!(
                err,
                TarError::TooManyEntries {
                    offset: 3072,
                    max: 3
                }
            ),
            "{err:?}"
        );

        // Implied directories are bounded too.
        let mut archive = Vec::new();
        push_file(&mut archive, "a/b/c/d/e", b"");
        end(&mut archive);
        let (err, visited) = read_with(&archive, &limits).unwrap_err();
        assert!(visited.is_empty());
        assert!(
            matches!(err, TarError::TooManyDirectories { max: 3, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_long_paths() {
        let limits = ReadLimits {
            max_path_len: 10,
            ..ReadLimits::default()
        };
        let mut archive = Vec::new();
        push_file(&mut archive, "short", b"");
        push_file(&mut archive, "eleven-char", b"");
        end(&mut archive);
        let (err, visited) = read_with(&archive, &limits).unwrap_err();
        assert_eq!(visited, ["short"]);
        assert!(
            matches!(
                err,
                TarError::UnsafePath {
                    problem: PathProblem::TooLong { len: 11, max: 10 },
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn longest_writable_paths_are_readable_with_default_limits() {
        let dir = "d".repeat(MAX_WRITE_PATH_LEN);
        let file = format!("{}/f", "d".repeat(MAX_WRITE_PATH_LEN - 2));
        let bytes = build(&[(&file, Some(&b"x"[..])), (&dir, None)]);
        let files = read_all(&bytes).unwrap();
        assert_eq!(files, vec![(file, b"x".to_vec())]);
    }

    #[test]
    fn rejects_truncated_archives() {
        let mut full = Vec::new();
        push_file(&mut full, "good.txt", b"fine");
        push_file(&mut full, "second", &[9u8; 700]);
        end(&mut full);
        assert_eq!(read_all(&full).unwrap().len(), 2);

        // Cut inside a header, inside data, at an entry boundary (no end
        // marker), and inside the end marker.
        for cut in [1024 + 100, 1024 + 512 + 300, 2560, 2560 + 512, 2560 + 700] {
            let (err, _) = read_all(&full[..cut]).unwrap_err();
            assert!(
                matches!(err, TarError::Truncated { .. }),
                "cut {cut}: {err:?}"
            );
        }
        // The visitor sees an error, not a short file, when data is cut.
        let mut saw_error = false;
        let err = for_each_entry(
            &full[..1024 + 512 + 300],
            &ReadLimits::default(),
            |p, _, d| {
                if p == "second" {
                    let mut buf = Vec::new();
                    saw_error = d.read_to_end(&mut buf).is_err();
                    assert_eq!(buf.len(), 300);
                    d.read_to_end(&mut buf)?;
                }
                Ok(())
            },
        )
        .unwrap_err();
        assert!(saw_error);
        assert!(matches!(err, TarError::Truncated { .. }), "{err:?}");
        // Empty input is not an archive.
        assert!(matches!(
            read_all(&[]).unwrap_err().0,
            TarError::Truncated { .. }
        ));
    }

    #[test]
    fn rejects_data_after_the_end_marker_and_bad_checksums() {
        let mut archive = Vec::new();
        push_file(&mut archive, "good.txt", b"fine");
        end(&mut archive);
        archive.extend_from_slice(b"hidden");
        let (err, _) = read_all(&archive).unwrap_err();
        assert!(matches!(err, TarError::Malformed { .. }), "{err:?}");

        let mut archive = Vec::new();
        push_file(&mut archive, "good.txt", b"fine");
        archive.extend_from_slice(&[0u8; 512]);
        push_file(&mut archive, "after-lone-zero-block", b"x");
        end(&mut archive);
        let (err, _) = read_all(&archive).unwrap_err();
        assert!(matches!(err, TarError::Malformed { .. }), "{err:?}");

        let mut header = raw_header(b"tampered", b'0', &octal_size(0), b"");
        header[0] = b'T';
        let err = expect_rejected(&header);
        assert!(
            matches!(&err, TarError::Malformed { detail, .. } if detail.contains("checksum")),
            "{err:?}"
        );
    }

    #[test]
    fn pax_paths_are_checked_like_ustar_paths() {
        let mut bad = Vec::new();
        push_pax(
            &mut bad,
            b'x',
            &pax_record("path", b"data/../../etc/cron.d/x"),
        );
        bad.extend_from_slice(&raw_header(b"innocent", b'0', &octal_size(0), b""));
        let err = expect_rejected(&bad);
        assert!(
            matches!(&err, TarError::UnsafePath { offset: 2048, path, problem: PathProblem::ParentComponent }
                if path == "data/../../etc/cron.d/x"),
            "{err:?}"
        );

        let mut bad = Vec::new();
        push_pax(&mut bad, b'x', &pax_record("path", b"a\nb"));
        bad.extend_from_slice(&raw_header(b"innocent", b'0', &octal_size(0), b""));
        let err = expect_rejected(&bad);
        assert!(
            matches!(
                err,
                TarError::UnsafePath {
                    problem: PathProblem::ControlCharacter('\n'),
                    ..
                }
            ),
            "{err:?}"
        );

        // A pax path on a symlink is reported with that path.
        let mut bad = Vec::new();
        push_pax(
            &mut bad,
            b'x',
            &pax_record("path", "data/ссылка".as_bytes()),
        );
        bad.extend_from_slice(&raw_header(b"x", b'2', &octal_size(0), b"/"));
        let err = expect_rejected(&bad);
        assert!(
            matches!(&err, TarError::ForbiddenEntryType { path, .. } if path == "data/ссылка"),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_hostile_pax_headers() {
        let cases: Vec<Vec<u8>> = vec![
            pax_record("linkpath", b"/etc/passwd"),
            pax_record("GNU.sparse.map", b"0,1"),
            pax_record("path", b""),
            [pax_record("path", b"a"), pax_record("path", b"b")].concat(),
            pax_record("size", b"-1"),
            b"99 path=short\n".to_vec(),
            b"x path=a\n".to_vec(),
            b"9 path=a!".to_vec(),
            b"6 a=b\n\n".to_vec(),
            b"no-length".to_vec(),
        ];
        for records in cases {
            let mut bad = Vec::new();
            push_pax(&mut bad, b'x', &records);
            bad.extend_from_slice(&raw_header(b"innocent", b'0', &octal_size(0), b""));
            let err = expect_rejected(&bad);
            assert!(
                matches!(err, TarError::BadPaxHeader { offset: 1024, .. }),
                "{:?}: {err:?}",
                String::from_utf8_lossy(&records)
            );
        }
        // Global headers may not set path or size.
        let mut bad = Vec::new();
        push_pax(&mut bad, b'g', &pax_record("path", b"evil"));
        let err = expect_rejected(&bad);
        assert!(matches!(err, TarError::BadPaxHeader { .. }), "{err:?}");
        // Harmless global records are accepted.
        let mut ok = Vec::new();
        push_pax(&mut ok, b'g', &pax_record("comment", b"made by hand"));
        push_file(&mut ok, "f", b"1");
        end(&mut ok);
        assert_eq!(read_all(&ok).unwrap().len(), 1);
        // Two pax headers in a row, and a dangling one at the end.
        let mut bad = Vec::new();
        push_pax(&mut bad, b'x', &pax_record("path", b"a"));
        push_pax(&mut bad, b'x', &pax_record("path", b"b"));
        let err = expect_rejected(&bad);
        assert!(
            matches!(err, TarError::BadPaxHeader { offset: 2048, .. }),
            "{err:?}"
        );
        let mut bad = Vec::new();
        push_pax(&mut bad, b'x', &pax_record("path", b"a"));
        let err = expect_rejected(&bad);
        assert!(matches!(err, TarError::Truncated { .. }), "{err:?}");
    }

    #[test]
    fn rejects_oversized_pax_headers_without_buffering_them() {
        // Claims 1 GiB of records; only the header is present.
        let bad = raw_header(b"././@PaxHeader", b'x', &octal_size(1 << 30), b"");
        let err = expect_rejected(&bad);
        assert!(
            matches!(&err, TarError::BadPaxHeader { detail, .. } if detail.contains("exceed")),
            "{err:?}"
        );
    }

    #[test]
    fn rejects_directories_with_data() {
        let mut bad = raw_header(b"d/", b'5', &octal_size(3), b"").to_vec();
        push_data(&mut bad, b"abc");
        let err = expect_rejected(&bad);
        assert!(matches!(err, TarError::Malformed { .. }), "{err:?}");
    }

    // ----- names ------------------------------------------------------------

    #[test]
    fn sanitize_file_name_cases() {
        let cases = [
            ("report.pdf", "report.pdf"),
            ("../../etc/passwd", "etcpasswd"),
            ("..\\..\\boot.ini", "boot.ini"),
            ("  .hidden  ", "hidden"),
            (". .. . x", "x"),
            ("a\u{0}b\u{1f}c\u{7f}d\ne", "a_b_c_d_e"),
            ("a:b*c?d\"e<f>g|h.txt", "a_b_c_d_e_f_g_h.txt"),
            ("report.", "report"),
            ("report. . ", "report"),
            ("con.txt", "_con.txt"),
            ("NUL", "_NUL"),
            ("Com1.tar.gz", "_Com1.tar.gz"),
            ("lpt9 .log", "_lpt9 .log"),
            ("console.txt", "console.txt"),
            ("COM10", "COM10"),
            ("De\u{301}claration.txt", "D\u{e9}claration.txt"),
            ("Фото «свидетель» — 01.jpg", "Фото «свидетель» — 01.jpg"),
            ("evil\u{202e}gpj.exe", "evilgpj.exe"),
            ("100%.txt", "100.txt"),
            ("", "unnamed"),
            ("...", "unnamed"),
            (" / \\ ", "unnamed"),
            ("証拠 写真.jpeg", "証拠 写真.jpeg"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize_file_name(input), want, "input {input:?}");
        }
    }

    #[test]
    fn sanitize_file_name_caps_length_keeping_extension() {
        let long = format!("{}.jpg", "я".repeat(150)); // 300 + 4 bytes
        let out = sanitize_file_name(&long);
        assert!(out.len() <= MAX_FILE_NAME_LEN, "{}", out.len());
        assert!(out.ends_with("я.jpg"), "{out}");
        assert_eq!(out.len(), 200); // 98 two-byte chars + ".jpg"
        let no_ext = "ж".repeat(150);
        let out = sanitize_file_name(&no_ext);
        assert_eq!(out.len(), 200);
        assert!(out.chars().all(|c| c == 'ж'));
        // An "extension" that is too long is not kept specially.
        let odd = format!("{}.{}", "a".repeat(10), "b".repeat(250));
        assert_eq!(sanitize_file_name(&odd).len(), 200);
        // Cutting right before a space trims it.
        let spaced = format!("{} tail.png", "a".repeat(195));
        assert_eq!(
            sanitize_file_name(&spaced),
            format!("{}.png", "a".repeat(195))
        );
    }

    #[test]
    fn dedupe_names_is_deterministic_and_case_insensitive() {
        let names: Vec<String> = [
            "a.jpg",
            "A.JPG",
            "b",
            "a.jpg",
            "a (2).jpg",
            "B",
            "c.tar.gz",
            "C.tar.gz",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let out = dedupe_names(&names);
        assert_eq!(
            out,
            vec![
                "a.jpg",
                "A (3).JPG",
                "b",
                "a (4).jpg",
                "a (2).jpg",
                "B (2)",
                "c.tar.gz",
                "C.tar (2).gz"
            ]
        );
        assert_eq!(dedupe_names(&names), out);
        let lower: HashSet<String> = out.iter().map(|n| n.to_lowercase()).collect();
        assert_eq!(lower.len(), out.len());
    }

    #[test]
    fn dedupe_names_folds_normalisation_and_case_as_macos_and_windows_do() {
        let raw = [
            "D\u{e9}claration.txt",
            "De\u{301}claration.txt",
            "report",
            "report.",
            "a:b.txt",
            "a_b.txt",
            "Stra\u{df}e.pdf",
            "STRASSE.pdf",
        ];
        let names: Vec<String> = raw.iter().map(|n| sanitize_file_name(n)).collect();
        let out = dedupe_names(&names);
        let keys: HashSet<String> = out.iter().map(|n| name_fold_key(n)).collect();
        assert_eq!(keys.len(), raw.len(), "{out:?}");
        assert_eq!(out[0], "D\u{e9}claration.txt");
        assert_eq!(out[1], "D\u{e9}claration (2).txt");
        assert_eq!(out[3], "report (2)");
        assert_eq!(out[5], "a_b (2).txt");
        assert_eq!(out[7], "STRASSE (2).pdf");
    }

    #[test]
    fn dedupe_names_respects_the_length_cap() {
        let name = format!("{}.jpg", "x".repeat(196));
        let out = dedupe_names(&[name.clone(), name.clone(), name]);
        assert_eq!(out[0].len(), 200);
        assert_eq!(out[1], format!("{} (2).jpg", "x".repeat(192)));
        assert_eq!(out[2], format!("{} (3).jpg", "x".repeat(192)));
    }
}
