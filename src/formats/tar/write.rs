//! The deterministic tar writer.
//!
//! # Format
//! Every entry is a ustar header with one mtime for the whole archive
//! ([`MTIME`], the Unix epoch, unless [`DeterministicTar::with_mtime`] gives
//! another, e.g. the time of the export event, so files unpack with a
//! meaningful date and the bytes stay reproducible from that event),
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
//! It writes only to the `Write` it is given.

use std::io::{self, BufRead, Read, Write};

use super::{TarError, BLOCK, USTAR_NAME_LEN};
use crate::formats::paths::{check_chars, check_components, Forbidden, PathProblem};

/// Modification time written in every header unless another is given: 0
/// (1970-01-01T00:00:00Z).
pub(crate) const MTIME: u64 = 0;
/// Permission bits written for regular files.
pub(crate) const FILE_MODE: u32 = 0o644;
/// Permission bits written for directories.
pub(crate) const DIR_MODE: u32 = 0o755;
/// Name field of the pax extended headers the writer emits.
pub(crate) const PAX_HEADER_NAME: &str = "././@PaxHeader";
/// Longest path, in bytes, the writer accepts (the reader's default limit).
pub(crate) const MAX_WRITE_PATH_LEN: usize = 4096;

/// Largest size the 11-digit octal ustar size field can hold (8 GiB - 1).
pub(super) const MAX_OCTAL_SIZE: u64 = 0o777_7777_7777;

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
    mtime: u64,
}

impl<W: Write> DeterministicTar<W> {
    /// Starts an archive written to `out`.
    pub fn new(out: W) -> Self {
        DeterministicTar {
            out,
            last: None,
            poisoned: false,
            mtime: MTIME,
        }
    }

    /// The same archive with every entry dated `mtime` (seconds since the
    /// Unix epoch; clamped to what the 11-digit octal field holds).
    pub(crate) fn with_mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime.min(MAX_OCTAL_SIZE);
        self
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

    /// [`DeterministicTar::add_file`] from a buffered reader, whose buffer
    /// is written out directly (one copy of each byte fewer than through
    /// `Read`). After `size` bytes the reader must have nothing more.
    ///
    /// # Errors
    /// As [`DeterministicTar::add_file`].
    pub fn add_file_buffered(
        &mut self,
        path: &str,
        size: u64,
        reader: impl BufRead,
    ) -> Result<(), TarError> {
        self.check_next(path)?;
        let result = self.write_file_buffered(path, size, reader);
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

    fn write_file_buffered(
        &mut self,
        path: &str,
        size: u64,
        reader: impl BufRead,
    ) -> Result<(), TarError> {
        self.write_headers(path, tar::EntryType::Regular, FILE_MODE, size)?;
        let mut limited = reader.take(size);
        let mut copied = 0u64;
        loop {
            let available = match limited.fill_buf() {
                Ok(available) => available,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            if available.is_empty() {
                break;
            }
            self.out.write_all(available)?;
            let n = available.len();
            limited.consume(n);
            copied += n as u64;
        }
        if copied < size {
            return Err(TarError::SourceTooShort {
                path: path.to_owned(),
                expected: size,
                actual: copied,
            });
        }
        let mut rest = limited.into_inner();
        loop {
            match rest.fill_buf() {
                Ok([]) => break,
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
                self.mtime,
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
        let header = ustar_header(ustar_name.as_bytes(), kind, mode, size, self.mtime);
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
fn ustar_header(
    name: &[u8],
    kind: tar::EntryType,
    mode: u32,
    size: u64,
    mtime: u64,
) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    let field = &mut header.as_old_mut().name;
    let len = name.len().min(field.len());
    field[..len].copy_from_slice(&name[..len]);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    header.set_size(size);
    header.set_entry_type(kind);
    header.set_cksum();
    header
}

/// One pax record: `"<len> <key>=<value>\n"`, where `<len>` counts the whole record.
pub(super) fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
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
pub(super) fn ascii_stand_in(name: &str) -> String {
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
    check_chars(path, Forbidden::Control)?;
    check_components(path)
}
