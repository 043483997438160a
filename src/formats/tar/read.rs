//! The streaming reader of untrusted tar archives.
//!
//! # Rules
//! Only regular files (`0`, NUL), directories (`5`) and pax headers (`x`,
//! `g`) are accepted; pax records are parsed here (the `tar` crate's
//! non-raw mode would buffer pax and GNU long-name data without a bound).
//! Paths must be relative UTF-8 without `..`, backslashes, control
//! characters or empty components; `.` components are dropped and a
//! directory's trailing `/` is removed. Duplicate paths, a file used as a
//! directory and a file placed where a directory already is are rejected.
//! The archive must end with two zero blocks, optionally followed by at most
//! 1 MiB of zero padding; the reader consumes its input to the end.
//!
//! It reads only from the `Read` it is given and extracts nothing.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, Read};

use sha2::{Digest, Sha256};

use super::{TarError, BLOCK, MAX_WRITE_PATH_LEN};
use crate::formats::paths::{check_chars, Forbidden, PathProblem};

/// Bytes a pax header may use beyond `max_path_len` for its other records.
const PAX_HEADER_SLACK: u64 = 64 * 1024;
/// Zero padding tolerated after the end-of-archive marker.
const MAX_TRAILING_ZEROS: u64 = 1024 * 1024;

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
/// [`TarError::Truncated`]). The error type is the caller's: anything a
/// [`TarError`] converts into.
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
pub fn for_each_entry<R: Read, E: From<TarError>>(
    reader: R,
    limits: &ReadLimits,
    mut visit: impl FnMut(&str, u64, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
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
            if let Some((path, size)) = state.check(&mut entry, &tracker)? {
                let mut data = ExactReader {
                    inner: &mut entry,
                    remaining: size,
                    truncated: false,
                };
                match visit(&path, size, &mut data) {
                    Ok(()) => {}
                    Err(_) if data.truncated || tracker.eof.get() => {
                        return Err(TarError::Truncated {
                            offset: tracker.pos.get(),
                            detail: "input ended inside entry data",
                        }
                        .into())
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if let Some(pending) = state.pending.take() {
        return Err(TarError::Truncated {
            offset: pending.offset,
            detail: "pax extended header is not followed by an entry",
        }
        .into());
    }
    let mut inner = archive.into_inner();
    Ok(check_end(&mut inner, &tracker, state.expected_end)?)
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

    /// Checks one entry (and consumes it if it is a pax header). Returns the
    /// normalised path and size of a regular file to hand to the visitor,
    /// `None` for anything else.
    fn check<E: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, E>,
        tracker: &Tracker,
    ) -> Result<Option<(String, u64)>, TarError> {
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
                return Ok(None);
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
                return Ok(None);
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
            return Ok(None);
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

        Ok(Some((path, size)))
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
    check_chars(path, Forbidden::Control)?;
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
