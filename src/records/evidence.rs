//! Evidence items: files of any size streamed into the vault in sealed
//! chunks, fingerprinted with SHA-256 at intake, and streamed back out with
//! the fingerprint checked on the way.
//!
//! The whole stream is padded: the file's bytes, then zeros up to
//! [`padded_stream_len`] (Padmé of the size, at least 64 bytes), cut into
//! chunks of [`CHUNK_SIZE`] with a shorter final one. Extra chunks of zeros
//! are added where the padding needs them, so the number of rows and their
//! sizes depend only on the padded length, not on the exact file size.
//!
//! Chunk `i` of item `R` is sealed with associated data binding it to
//! (vault, `evidence`, R, i, `chunk` | `end-chunk`): a chunk moved to
//! another item or position, a reordering, or a truncation (the final chunk
//! missing, or a chunk after it) fails to open. Exhibits written before the
//! stream was padded end in a `last-chunk` instead (only that chunk padded,
//! with a length prefix) and still read. Memory stays bounded by a couple
//! of chunks whatever the file size.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::case::{all_cases, find_case};
use super::{check_date, check_optional, latest_overviews_in, refuse_withdrawn, InCase, Scope};
use crate::crypto::aead::{open_raw_into, seal_raw_in_place, ENVELOPE_HEADER_LEN};
use crate::crypto::keys::SymmetricKey;
use crate::custody::now_utc;
use crate::custody::Action;
use crate::error::{Error, Integrity, Invalid, Result};
use crate::files::{
    create_temp_beside, finish_temp, release_held, remove_leftovers, EarlyWriteBack, HoldBack,
};
use crate::format::Kind;
use crate::format::{padme, unpad, Binding, Id, MIN_PADDED_LEN, TAG_LEN};
use crate::formats::metadata::{strip_jpeg, MetadataKind, MetadataScanner, StripError};
use crate::store::records as rows;
use crate::stream::{write_behind, ParallelHasher};
use crate::vault::sealed::{open_field, resolve};
use crate::vault::{Session, Unlocked, Vault};

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 1024 * 1024;

/// Chunks in flight between two stages of the intake pipeline.
const PIPELINE_DEPTH: usize = 2;

/// What `evidence add` takes besides the file.
#[derive(Clone, Debug, Default)]
pub struct NewEvidence {
    /// Case reference or id.
    pub case: String,
    /// Statement id (prefix) the item supports.
    pub statement: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Source (URL, citation, device).
    pub source: Option<String>,
    /// When it was acquired.
    pub acquired_at: Option<String>,
    /// Who acquired it.
    pub acquired_by: Option<String>,
}

/// The sealed overview of an evidence item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceOverview {
    /// Case id.
    pub case: String,
    /// Supported statement id.
    pub statement: Option<String>,
    /// Original file name, as it was.
    pub original_name: String,
    /// Media type detected from the content.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the original bytes, hex: the exhibit's fingerprint.
    pub sha256: String,
    /// Description.
    pub description: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// When acquired.
    pub acquired_at: Option<String>,
    /// Who acquired it.
    pub acquired_by: Option<String>,
    /// When it entered the vault.
    pub added_at: String,
    /// Who added it.
    pub added_by: String,
    /// Plaintext bytes per chunk.
    pub chunk_size: u64,
    /// Number of chunks (at least 1).
    pub chunk_count: u64,
    /// Kinds of identifying metadata found in the bytes at intake (GPS
    /// position, camera serial, author name); never their values. Absent
    /// in exhibits added before the scan existed, and for imported ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<MetadataKind>,
    /// The exhibit this one is a stripped copy of (`evidence strip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripped_from: Option<String>,
}

impl InCase for EvidenceOverview {
    fn case_hex(&self) -> &str {
        &self.case
    }
}

/// An evidence item as listed and shown.
#[derive(Clone, Debug, Serialize)]
pub struct EvidenceSummary {
    /// Id.
    #[serde(serialize_with = "crate::vault::users::ser_id")]
    pub id: Id,
    /// The case's reference.
    pub case_reference: String,
    /// Overview.
    #[serde(flatten)]
    pub overview: EvidenceOverview,
}

/// The length of an exhibit's padded plaintext stream: Padmé of its size,
/// at least [`MIN_PADDED_LEN`] bytes.
pub fn padded_stream_len(size: u64) -> u64 {
    padme(size).max(MIN_PADDED_LEN as u64)
}

/// The number of `evidence_chunks` rows a new exhibit of `size` bytes gets:
/// its padded stream cut into [`CHUNK_SIZE`] chunks, the final one shorter
/// (possibly empty). A function of the padded length only.
pub fn stored_chunk_count(size: u64) -> u64 {
    padded_stream_len(size) / CHUNK_SIZE as u64 + 1
}

/// What a chunk is, as bound into its associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkRole {
    /// Any chunk but the final one: exactly [`CHUNK_SIZE`] bytes of the
    /// padded stream (field `chunk`).
    Full,
    /// The final chunk of a padded stream, shorter than [`CHUNK_SIZE`]
    /// (field `end-chunk`).
    End,
    /// The final chunk of an exhibit written before the stream was padded:
    /// `pad()`-formatted (field `last-chunk`). Read only.
    LegacyLast,
}

fn chunk_binding<'a>(
    vault_id: &'a Id,
    record: &'a str,
    index: u64,
    role: ChunkRole,
) -> Binding<'a> {
    Binding {
        vault_id,
        kind: "evidence",
        record,
        version: index,
        field: match role {
            ChunkRole::Full => "chunk",
            ChunkRole::End => "end-chunk",
            ChunkRole::LegacyLast => "last-chunk",
        },
    }
}

/// Checks a path is a readable regular file before anything is written.
pub fn check_input_file(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    if meta.is_dir() {
        return Err(Error::Invalid(Invalid::Path {
            path: path.to_owned(),
            problem: "is a directory, not a file".into(),
        }));
    }
    if !meta.is_file() {
        return Err(Error::Invalid(Invalid::Path {
            path: path.to_owned(),
            problem: "is not a regular file".into(),
        }));
    }
    File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    Ok(meta.len())
}

/// Detects a media type from the first bytes: magic numbers, else UTF-8
/// text, else `application/octet-stream`. The file name is not trusted.
pub(crate) fn detect_media_type(head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if head.is_empty() {
        return "application/octet-stream".into();
    }
    let text_ok = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sample is fine.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    if text_ok && !head.contains(&0) {
        "text/plain; charset=utf-8".into()
    } else {
        "application/octet-stream".into()
    }
}

fn read_full(reader: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

type Buf = Zeroizing<Vec<u8>>;

/// Room kept in front of each chunk's plaintext for the envelope header,
/// so the chunk is sealed where it was read ([`seal_raw_in_place`]).
const HEAD: usize = ENVELOPE_HEADER_LEN;

/// A chunk buffer: room for the header, a full chunk and the tag.
fn chunk_buffer() -> Buf {
    Zeroizing::new(Vec::with_capacity(HEAD + CHUNK_SIZE + TAG_LEN))
}

/// Where plaintext chunks come from, already hashed, each behind [`HEAD`]
/// bytes of room. A chunk is the last one exactly when it is shorter than
/// [`CHUNK_SIZE`] (possibly empty), so no read-ahead is needed to know it.
trait ChunkSource {
    /// The next chunk and whether it is the last.
    fn next_chunk(&mut self) -> Result<(Buf, bool)>;
}

/// Reads and hashes on the calling thread (for readers that cannot be
/// sent to another thread, such as a tar entry).
struct SerialSource<'r> {
    reader: &'r mut dyn Read,
    hasher: Sha256,
    size: u64,
    /// Buffers given back by whoever stored their chunk.
    spare: std::rc::Rc<std::cell::RefCell<Option<Buf>>>,
    label: &'r str,
}

impl ChunkSource for SerialSource<'_> {
    fn next_chunk(&mut self) -> Result<(Buf, bool)> {
        let mut buf = self.spare.take().unwrap_or_else(chunk_buffer);
        fill_chunk(self.reader, &mut buf, &mut self.hasher, &mut self.size)
            .map_err(|e| Error::io(format!("cannot read {}", self.label), e))?;
        let last = buf.len() - HEAD < CHUNK_SIZE;
        Ok((buf, last))
    }
}

/// Receives chunks read and hashed by another thread.
struct ChannelSource<'r> {
    full: std::sync::mpsc::Receiver<io::Result<(Buf, bool)>>,
    label: &'r str,
}

impl ChunkSource for ChannelSource<'_> {
    fn next_chunk(&mut self) -> Result<(Buf, bool)> {
        match self.full.recv() {
            Ok(Ok(chunk)) => Ok(chunk),
            Ok(Err(e)) => Err(Error::io(format!("cannot read {}", self.label), e)),
            Err(_) => Err(Error::Internal(format!("reading {} stopped", self.label))),
        }
    }
}

/// Reads up to one chunk into `buf` (resized) behind [`HEAD`] bytes of
/// room, hashing what was read.
fn fill_chunk(
    reader: &mut dyn Read,
    buf: &mut Buf,
    hasher: &mut Sha256,
    size: &mut u64,
) -> io::Result<()> {
    buf.resize(HEAD + CHUNK_SIZE, 0);
    let n = read_full(reader, &mut buf[HEAD..])?;
    buf.truncate(HEAD + n);
    hasher.update(&buf[HEAD..]);
    *size += n as u64;
    Ok(())
}

/// Seals chunks from `source` until its last one, then the padding: the
/// stream is zero-filled to [`padded_stream_len`] of the size (known once
/// the short last read comes back), in extra chunks where needed. Each
/// chunk is sealed in its own buffer, which goes to `emit` with its index
/// and the bytes of the file read so far. Returns (bytes of the file
/// stored, chunk rows emitted, media type); the rows are
/// [`stored_chunk_count`] of the size.
fn seal_chunks(
    key: &SymmetricKey,
    vault_id: &Id,
    record: &str,
    source: &mut dyn ChunkSource,
    emit: &mut dyn FnMut(u64, Buf, u64) -> Result<()>,
) -> Result<(u64, u64, String)> {
    let mut index = 0u64;
    let mut stored = 0u64;
    let mut media_type = String::new();
    let mut seal_and_emit = |index: u64, role: ChunkRole, mut chunk: Buf, stored: u64| {
        let ad = chunk_binding(vault_id, record, index, role).associated_data();
        seal_raw_in_place(key, &ad, &mut chunk)?;
        emit(index, chunk, stored)
    };
    let zeros = |len: usize| -> Buf {
        let mut buf = chunk_buffer();
        buf.resize(HEAD + len, 0);
        buf
    };
    loop {
        let (mut chunk, last) = source.next_chunk()?;
        let plain = chunk.get(HEAD..).unwrap_or(&[]);
        if index == 0 {
            media_type = detect_media_type(&plain[..plain.len().min(8192)]);
        }
        stored += plain.len() as u64;
        if !last {
            seal_and_emit(index, ChunkRole::Full, chunk, stored)?;
            index += 1;
            continue;
        }
        // The file has ended inside this chunk: pad the stream.
        let final_index = stored_chunk_count(stored) - 1;
        let final_len = (padded_stream_len(stored) - final_index * CHUNK_SIZE as u64) as usize;
        if index == final_index {
            chunk.resize(HEAD + final_len, 0);
            seal_and_emit(index, ChunkRole::End, chunk, stored)?;
        } else {
            // The buffer holds a full chunk of capacity: no reallocation.
            chunk.resize(HEAD + CHUNK_SIZE, 0);
            seal_and_emit(index, ChunkRole::Full, chunk, stored)?;
            for padding in index + 1..final_index {
                seal_and_emit(padding, ChunkRole::Full, zeros(CHUNK_SIZE), stored)?;
            }
            seal_and_emit(final_index, ChunkRole::End, zeros(final_len), stored)?;
        }
        return Ok((stored, final_index + 1, media_type));
    }
}

/// Streams a file (or any `Send` reader) into sealed chunks of item `id`
/// in the caller's transaction. Returns (size, sha256 hex, chunk count,
/// media type).
///
/// Three stages run at once, on the two cores: a reader thread reads and
/// hashes chunk `n+2` while a sealing thread encrypts chunk `n+1` in the
/// buffer it was read into and this thread stores chunk `n` (SQLite's page
/// writes cost about as much as the encryption or the hashing, so no stage
/// waits long on another). At most 2 × [`PIPELINE_DEPTH`] + 1 chunk buffers
/// exist, circulating from stage to stage and back to the reader, so memory
/// stays bounded whatever the file size.
pub(crate) fn write_chunks<R: Read + Send>(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    reader: &mut R,
    label: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, String, u64, String)> {
    use std::sync::mpsc::sync_channel;
    let depth = PIPELINE_DEPTH;
    let (full_tx, full_rx) = sync_channel::<io::Result<(Buf, bool)>>(depth);
    let (sealed_tx, sealed_rx) = sync_channel::<(u64, Buf, u64)>(depth);
    let (empty_tx, empty_rx) = sync_channel::<Buf>(2 * depth + 1);
    for _ in 0..=2 * depth {
        let _ = empty_tx.send(chunk_buffer());
    }
    let record = id.to_hex();
    let (key, vault_id) = (&session.keys.evidence, &session.vault_id);
    std::thread::scope(|scope| {
        let reading = scope.spawn(move || -> (String, u64) {
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Ok(mut buf) = empty_rx.recv() {
                if let Err(e) = fill_chunk(reader, &mut buf, &mut hasher, &mut size) {
                    let _ = full_tx.send(Err(e));
                    break;
                }
                let last = buf.len() - HEAD < CHUNK_SIZE;
                if full_tx.send(Ok((buf, last))).is_err() || last {
                    break;
                }
            }
            (hex::encode(hasher.finalize()), size)
        });
        let record = &record;
        let sealing = scope.spawn(move || -> Result<(u64, u64, String)> {
            let mut source = ChannelSource {
                full: full_rx,
                label,
            };
            let stopped = || Error::Internal(format!("storing {label} stopped"));
            seal_chunks(
                key,
                vault_id,
                record,
                &mut source,
                &mut |index, sealed, stored| {
                    sealed_tx
                        .send((index, sealed, stored))
                        .map_err(|_| stopped())
                },
            )
            // Dropping the channels unblocks the reader if we stopped early.
        });
        let mut inserted = Ok(());
        // The commit's fsync of a large exhibit then finds most of it on
        // disk already (1 GiB: 1.01-1.13x `age -r` + fsync without, 0.89x
        // with).
        let mut write_back = conn
            .path()
            .and_then(|p| EarlyWriteBack::of_file_system(Path::new(p)));
        for (index, sealed, stored) in sealed_rx.iter() {
            inserted = rows::insert_chunk(conn, id, index, &sealed);
            if inserted.is_err() {
                break;
            }
            if let Some(w) = &mut write_back {
                w.wrote(sealed.len() as u64);
            }
            progress(stored);
            // Back to the reader; padding chunks beyond the pool are dropped.
            let _ = empty_tx.try_send(sealed);
        }
        // Dropping the channels unblocks the sealing thread if we stopped.
        drop(sealed_rx);
        drop(empty_tx);
        let sealed = sealing
            .join()
            .map_err(|_| Error::Internal(format!("sealing {label} failed")))?;
        let (digest, size) = reading
            .join()
            .map_err(|_| Error::Internal(format!("reading {label} failed")))?;
        inserted?;
        let (stored, count, media_type) = sealed?;
        if size != stored {
            return Err(Error::Invalid(Invalid::SourceChanged {
                label: label.to_string(),
            }));
        }
        Ok((size, digest, count, media_type))
    })
}

/// [`write_chunks`] for a reader that must stay on this thread.
pub(crate) fn write_chunks_serial(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    reader: &mut dyn Read,
    label: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<(u64, String, u64, String)> {
    let spare = std::rc::Rc::new(std::cell::RefCell::new(None));
    let mut source = SerialSource {
        reader,
        hasher: Sha256::new(),
        size: 0,
        spare: spare.clone(),
        label,
    };
    let record = id.to_hex();
    let (stored, count, media_type) = seal_chunks(
        &session.keys.evidence,
        &session.vault_id,
        &record,
        &mut source,
        &mut |index, sealed, stored| {
            rows::insert_chunk(conn, id, index, &sealed)?;
            progress(stored);
            spare.replace(Some(sealed));
            Ok(())
        },
    )?;
    let digest = hex::encode(std::mem::take(&mut source.hasher).finalize());
    debug_assert_eq!(stored, source.size);
    Ok((stored, digest, count, media_type))
}

/// A `Read` over an item's plaintext that checks, as it goes, that every
/// chunk authenticates in order, that none is missing or extra, and at the
/// end that the SHA-256 and size match the overview. A failure surfaces as
/// an `io::Error` of kind `InvalidData` naming the item and chunk.
pub struct EvidenceReader<'a, 's> {
    rows: rusqlite::Rows<'a>,
    key: &'a SymmetricKey,
    vault_id: Id,
    record: String,
    overview: EvidenceOverview,
    buf: Zeroizing<Vec<u8>>,
    pos: usize,
    next_index: u64,
    hasher: ParallelHasher<'s>,
    size: u64,
    done: bool,
}

impl EvidenceReader<'_, '_> {
    fn bad(&self, what: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("evidence {}: {what}", self.record),
        )
    }

    fn next_chunk(&mut self) -> io::Result<()> {
        let row = self
            .rows
            .next()
            .map_err(|e| io::Error::other(format!("vault database error: {e}")))?;
        let Some(row) = row else {
            return Err(self.bad(format!(
                "truncated: {} of {} chunks present",
                self.next_index, self.overview.chunk_count
            )));
        };
        let index: i64 = row.get(0).map_err(|e| io::Error::other(e.to_string()))?;
        if index != self.next_index as i64 {
            return Err(self.bad(format!(
                "chunk {} is missing or out of order",
                self.next_index
            )));
        }
        let data = row
            .get_ref(1)
            .and_then(|v| v.as_blob().map_err(rusqlite::Error::from))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let last = self.next_index + 1 == self.overview.chunk_count;
        let unauthentic = |reader: &Self| {
            reader.bad(format!(
                "chunk {} does not authenticate (damaged, altered, moved or reordered)",
                reader.next_index
            ))
        };
        let (key, vault_id, index) = (self.key, self.vault_id, self.next_index);
        let (record, buf) = (&self.record, &mut self.buf);
        let mut open = |role: ChunkRole| {
            let ad = chunk_binding(&vault_id, record, index, role).associated_data();
            open_raw_into(key, &ad, data, buf).is_ok()
        };
        // The final chunk says which layout the exhibit has: a padded
        // stream (`end-chunk`) or, written before, a padded last chunk.
        let role = if !last {
            open(ChunkRole::Full).then_some(ChunkRole::Full)
        } else if open(ChunkRole::End) {
            Some(ChunkRole::End)
        } else {
            open(ChunkRole::LegacyLast).then_some(ChunkRole::LegacyLast)
        };
        let role = role.ok_or_else(|| unauthentic(self))?;
        if !last && self.buf.len() != CHUNK_SIZE {
            return Err(self.bad(format!(
                "chunk {} has {} bytes; only the last chunk may be shorter than {CHUNK_SIZE}",
                self.next_index,
                self.buf.len()
            )));
        }
        match role {
            ChunkRole::LegacyLast => {
                let len = unpad(&self.buf)
                    .map_err(|_| self.bad("the last chunk's padding is malformed".into()))?
                    .len();
                self.buf.copy_within(4..4 + len, 0);
                self.buf.truncate(len);
            }
            ChunkRole::End => {
                let size = self.overview.size;
                let total = self.next_index * CHUNK_SIZE as u64 + self.buf.len() as u64;
                if self.overview.chunk_count != stored_chunk_count(size)
                    || total != padded_stream_len(size)
                {
                    return Err(self.bad(format!(
                        "its padded stream has {total} bytes in {} chunks; {size} bytes pad to \
                         {} in {}",
                        self.overview.chunk_count,
                        padded_stream_len(size),
                        stored_chunk_count(size)
                    )));
                }
            }
            ChunkRole::Full => {}
        }
        // Bytes past the exhibit's size are padding: zeros, not given out.
        if role != ChunkRole::LegacyLast {
            let remaining = self.overview.size.saturating_sub(self.size);
            let keep = self
                .buf
                .len()
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            if self.buf[keep..].iter().any(|b| *b != 0) {
                return Err(self.bad(format!(
                    "chunk {} holds data past the exhibit's size",
                    self.next_index
                )));
            }
            self.buf.truncate(keep);
        }
        let plain = &self.buf;
        self.hasher.update(&plain[..])?;
        self.size += plain.len() as u64;
        self.pos = 0;
        self.next_index += 1;
        if last {
            self.done = true;
            if self
                .rows
                .next()
                .map_err(|e| io::Error::other(e.to_string()))?
                .is_some()
            {
                return Err(self.bad("there are chunks after the last one".into()));
            }
            let digest = hex::encode(self.hasher.finish()?);
            if digest != self.overview.sha256 || self.size != self.overview.size {
                return Err(self.bad(format!(
                    "the bytes do not match the recorded SHA-256 {}",
                    self.overview.sha256
                )));
            }
        }
        Ok(())
    }
}

impl Read for EvidenceReader<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.buf.len() {
                let n = (self.buf.len() - self.pos).min(out.len());
                out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
    }
}

/// The decrypted chunk is the buffer: a caller that copies through
/// `fill_buf` (the tar writer's `add_file_buffered`) saves one copy of
/// every byte over `read` into a buffer of its own.
impl io::BufRead for EvidenceReader<'_, '_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos >= self.buf.len() && !self.done {
            self.next_chunk()?;
        }
        Ok(self.buf.get(self.pos..).unwrap_or(&[]))
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

/// Opens an item's overview.
pub fn overview(conn: &Connection, session: &Session<'_>, id: &Id) -> Result<EvidenceOverview> {
    super::expect_record(conn, session, id, Kind::Evidence)?;
    let versions = rows::versions(conn, id)?;
    let row = versions.last().ok_or_else(|| {
        Error::Integrity(Integrity::RecordDamaged {
            record: *id,
            problem: format!("evidence {} has no metadata", id.to_hex()),
        })
    })?;
    open_field(
        &session.keys.records,
        &session.vault_id,
        Kind::Evidence,
        id,
        row.version,
        "overview",
        &row.overview,
    )
}

/// Runs `f` with a verifying reader over item `id`'s bytes. The SHA-256
/// check runs on a second core beside the decryption.
pub(crate) fn with_reader<T>(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    f: impl FnOnce(&mut EvidenceReader<'_, '_>) -> Result<T>,
) -> Result<T> {
    let overview = overview(conn, session, id)?;
    if overview.chunk_count == 0 || overview.chunk_size != CHUNK_SIZE as u64 {
        return Err(Error::Integrity(Integrity::RecordDamaged {
            record: *id,
            problem: format!("evidence {}: unsupported chunk layout", id.to_hex()),
        }));
    }
    let mut stmt = conn.prepare(
        "SELECT chunk_index, data FROM evidence_chunks WHERE record_id = ?1 ORDER BY chunk_index",
    )?;
    let rows = stmt.query([id.to_hex()])?;
    std::thread::scope(|scope| {
        let mut reader = EvidenceReader {
            rows,
            key: &session.keys.evidence,
            vault_id: session.vault_id,
            record: id.to_hex(),
            overview,
            buf: Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + 64)),
            pos: 0,
            next_index: 0,
            hasher: ParallelHasher::start(scope),
            size: 0,
            done: false,
        };
        f(&mut reader)
    })
}

/// Maps a reader's `InvalidData` error back to an integrity error.
pub(crate) fn reader_error(e: io::Error, context: &str) -> Error {
    if e.kind() == io::ErrorKind::InvalidData {
        Error::Integrity(Integrity::Content {
            detail: e.to_string(),
        })
    } else {
        Error::io(context.to_owned(), e)
    }
}

fn summaries_of(
    conn: &Connection,
    session: &Session<'_>,
    case: Option<&Id>,
) -> Result<(Vec<EvidenceSummary>, Vec<Id>)> {
    let (found, damaged) = latest_overviews_in::<EvidenceOverview>(
        conn,
        session,
        Kind::Evidence,
        case,
        Scope::Active,
    )?;
    let mut out = Vec::with_capacity(found.len());
    for (id, case_reference, overview) in found {
        out.push(EvidenceSummary {
            id,
            case_reference,
            overview,
        });
    }
    Ok((out, damaged))
}

/// Summaries of every item (optionally of one case), and the ids of items
/// whose metadata is damaged (left out).
pub(crate) fn summaries(
    conn: &Connection,
    session: &Session<'_>,
    case: Option<&Id>,
) -> Result<(Vec<EvidenceSummary>, Vec<Id>)> {
    summaries_of(conn, session, case)
}

/// The checks of an exhibit's typed fields, before any byte is read.
pub(crate) fn check_new_evidence(input: &NewEvidence) -> Result<()> {
    check_optional("the description", &input.description, 100_000)?;
    check_optional("the source", &input.source, 4096)?;
    check_optional("the acquirer", &input.acquired_by, 4096)?;
    if let Some(d) = &input.acquired_at {
        check_date("the acquisition date", d)?;
    }
    Ok(())
}

/// A reader that shows every byte it passes to a [`MetadataScanner`].
struct Scanning<'a, R: ?Sized> {
    inner: &'a mut R,
    scanner: MetadataScanner,
}

impl<R: Read + ?Sized> Read for Scanning<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.scanner.update(&buf[..n]);
        Ok(n)
    }
}

/// One file of a folder to add.
#[derive(Clone, Debug)]
pub struct FolderFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its name in the vault: the folder's own name, then the path inside
    /// it, with `/` (`photos/2026-03-14/IMG_0042.jpg`).
    pub name: String,
    /// Its size when planned.
    pub size: u64,
}

/// What `evidence add DIR` will take.
#[derive(Clone, Debug, Default)]
pub struct FolderPlan {
    /// Regular files, hidden ones included, sorted by name.
    pub files: Vec<FolderFile>,
    /// What is left out, with why: symbolic links (never followed) and
    /// anything that is not a regular file or folder.
    pub skipped: Vec<(String, &'static str)>,
}

impl FolderPlan {
    /// Bytes in all the files.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// What `evidence add DIR` did.
#[derive(Debug, Default)]
pub struct FolderOutcome {
    /// Added, in order.
    pub added: Vec<EvidenceSummary>,
    /// Already in the case (same name, same SHA-256): skipped.
    pub already: Vec<(String, Id)>,
    /// The file it stopped at and why; the files after it were not tried.
    pub error: Option<(String, Error)>,
}

/// Largest JPEG `evidence strip` takes (its copy is built in memory).
pub const MAX_STRIP_BYTES: u64 = 512 * 1024 * 1024;

/// Most files a folder may hold for one `evidence add`.
pub const MAX_FOLDER_FILES: usize = 1_000_000;

/// Walks a folder recursively: regular files are taken, hidden ones too
/// (nothing in the folder is silently left out: a `._IMG_0042.jpg` may be
/// what a court asks about); symbolic links are not followed and, with
/// anything else that is not a file or a folder, listed as skipped.
pub fn plan_folder(dir: &Path) -> Result<FolderPlan> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::io(format!("cannot read {}", dir.display()), e))?;
    if !meta.is_dir() {
        return Err(Error::Invalid(Invalid::Path {
            path: dir.to_owned(),
            problem: "is not a folder".into(),
        }));
    }
    let top = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut plan = FolderPlan::default();
    let mut pending = vec![(dir.to_path_buf(), top)];
    while let Some((folder, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .map_err(|e| Error::io(format!("cannot read {}", folder.display()), e))?;
        for entry in entries {
            let entry =
                entry.map_err(|e| Error::io(format!("cannot read {}", folder.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry
                .file_type()
                .map_err(|e| Error::io(format!("cannot read {}", entry.path().display()), e))?;
            if kind.is_symlink() {
                plan.skipped.push((rel, "symbolic link, not followed"));
            } else if kind.is_dir() {
                pending.push((entry.path(), rel));
            } else if kind.is_file() {
                let size = check_input_file(&entry.path())?;
                plan.files.push(FolderFile {
                    path: entry.path(),
                    name: rel,
                    size,
                });
                if plan.files.len() > MAX_FOLDER_FILES {
                    return Err(Error::Invalid(Invalid::Path {
                        path: dir.to_owned(),
                        problem: format!("holds more than {MAX_FOLDER_FILES} files"),
                    }));
                }
            } else {
                plan.skipped.push((rel, "not a regular file"));
            }
        }
    }
    plan.files.sort_by(|a, b| a.name.cmp(&b.name));
    plan.skipped.sort();
    Ok(plan)
}

impl Vault<Unlocked> {
    /// Streams one file into the vault as a new evidence item, in one
    /// transaction: a crash leaves nothing behind. The bytes are scanned
    /// for identifying metadata on the way ([`EvidenceOverview::metadata`]).
    pub fn add_evidence(
        &mut self,
        input: &NewEvidence,
        path: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> Result<EvidenceSummary> {
        let original_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unnamed".into());
        self.add_evidence_named(input, path, original_name, None, progress)
    }

    /// [`Vault::add_evidence`] under a given original name; `skip_same`
    /// holds the (name, SHA-256) of exhibits already in the case, and a
    /// file matching one is rolled back with [`Invalid::AlreadyInCase`].
    fn add_evidence_named(
        &mut self,
        input: &NewEvidence,
        path: &Path,
        original_name: String,
        skip_same: Option<&HashMap<(String, String), Id>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<EvidenceSummary> {
        check_new_evidence(input)?;
        check_input_file(path)?;
        let mut file = File::open(path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        let label = path.display().to_string();
        self.add_evidence_stream(input, &mut file, original_name, &label, skip_same, progress)
    }

    /// The one way an exhibit comes in, from a file ([`Vault::add_evidence`])
    /// or a stream ([`Vault::add_evidence_from`]): the checks, the chunks
    /// (scanned for metadata on the way), the overview and the `create`
    /// event, in one write transaction. `label` names the source in errors.
    pub(crate) fn add_evidence_stream(
        &mut self,
        input: &NewEvidence,
        reader: &mut (dyn Read + Send),
        original_name: String,
        label: &str,
        skip_same: Option<&HashMap<(String, String), Id>>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<EvidenceSummary> {
        self.write(|tx, session| {
            let case = find_case(tx, session, &input.case)?;
            let statement = match &input.statement {
                Some(s) => {
                    let sid = resolve(tx, Kind::Statement, s)?;
                    let st = super::statement::history(tx, session, &sid)?;
                    if st.first().is_some_and(|o| o.case != case.id.to_hex()) {
                        return Err(Error::Invalid(Invalid::OtherCase {
                            kind: Kind::Statement,
                            record: sid,
                        }));
                    }
                    Some(sid.to_hex())
                }
                None => None,
            };
            let id = crate::crypto::random_id()?;
            crate::records::new_record(tx, Kind::Evidence, &id)?;
            let mut scanning = Scanning {
                inner: reader,
                scanner: MetadataScanner::new(),
            };
            let (size, sha256, chunk_count, media_type) =
                write_chunks(tx, session, &id, &mut scanning, label, progress)?;
            if let Some(existing) =
                skip_same.and_then(|m| m.get(&(original_name.clone(), sha256.clone())))
            {
                return Err(Error::Invalid(Invalid::AlreadyInCase {
                    name: original_name.clone(),
                    record: *existing,
                }));
            }
            let metadata = scanning.scanner.finish();
            let overview = EvidenceOverview {
                case: case.id.to_hex(),
                statement,
                original_name: original_name.clone(),
                media_type,
                size,
                sha256,
                description: input.description.clone(),
                source: input.source.clone(),
                acquired_at: input.acquired_at.clone(),
                acquired_by: input.acquired_by.clone(),
                added_at: now_utc(),
                added_by: session.user.name.clone(),
                chunk_size: CHUNK_SIZE as u64,
                chunk_count,
                metadata,
                stripped_from: None,
            };
            super::insert_first_overview(tx, session, Kind::Evidence, &id, &overview)?;
            let mut details = serde_json::json!({
                "sha256": overview.sha256,
                "size": size,
                "case": overview.case,
                "chunks": chunk_count,
            });
            if !overview.metadata.is_empty() {
                // Kinds only, never the values.
                details["metadata"] = serde_json::json!(overview.metadata);
            }
            session.append(tx, Kind::Evidence, &id, Action::Create, details)?;
            Ok(EvidenceSummary {
                id,
                case_reference: case.data.reference,
                overview,
            })
        })
    }

    /// Adds every file of a folder plan ([`plan_folder`]), each in its own
    /// transaction, in the plan's order: after a crash or an error halfway,
    /// the files before it are in the vault (each complete and logged) and
    /// none is half in. Running the same command again skips the files
    /// already in the case under the same name with the same SHA-256, so it
    /// resumes where it stopped. `progress` gets the bytes done over the
    /// whole plan. Stops at the first error, returned in the outcome with
    /// what was added before it.
    pub fn add_evidence_folder(
        &mut self,
        input: &NewEvidence,
        plan: &FolderPlan,
        progress: &mut dyn FnMut(u64),
    ) -> Result<FolderOutcome> {
        let (existing, _) = self.evidence(Some(&input.case))?;
        let known: HashMap<(String, String), Id> = existing
            .into_iter()
            .map(|e| ((e.overview.original_name, e.overview.sha256), e.id))
            .collect();
        let mut outcome = FolderOutcome::default();
        let mut done = 0u64;
        for entry in &plan.files {
            let result = self.add_evidence_named(
                input,
                &entry.path,
                entry.name.clone(),
                Some(&known),
                &mut |n| progress(done + n),
            );
            done += entry.size;
            progress(done);
            match result {
                Ok(summary) => outcome.added.push(summary),
                Err(Error::Invalid(Invalid::AlreadyInCase { name, record })) => {
                    outcome.already.push((name, record));
                }
                Err(e) => {
                    outcome.error = Some((entry.name.clone(), e));
                    break;
                }
            }
        }
        Ok(outcome)
    }

    /// Seals a copy of JPEG exhibit `id` without its metadata segments
    /// ([`strip_jpeg`]) as a new exhibit of the same case, name and
    /// statement, with `stripped_from` naming the original. The original
    /// is not rewritten: its chain gets a view event naming the copy, and
    /// the copy's create event records the original's id and both SHA-256.
    /// Other formats are refused ([`Invalid::CannotStrip`]). The copy is
    /// built in (zeroized) memory, so photos above [`MAX_STRIP_BYTES`] are
    /// refused too.
    pub fn strip_evidence(
        &mut self,
        id: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<EvidenceSummary> {
        self.write(|tx, session| {
            let original = resolve(tx, Kind::Evidence, id)?;
            let chain = super::expect_record(tx, session, &original, Kind::Evidence)?;
            refuse_withdrawn(&chain, Kind::Evidence, &original, "stripped")?;
            let o = overview(tx, session, &original)?;
            let cannot = |why: String| {
                Error::Invalid(Invalid::CannotStrip {
                    record: original,
                    why,
                })
            };
            if o.media_type != "image/jpeg" {
                return Err(cannot(format!(
                    "it is {}, and only JPEG photos can be stripped safely",
                    o.media_type
                )));
            }
            if o.size > MAX_STRIP_BYTES {
                return Err(cannot(format!(
                    "it has {} bytes, more than {MAX_STRIP_BYTES}",
                    o.size
                )));
            }
            let mut stripped = Zeroizing::new(Vec::new());
            with_reader(tx, session, &original, |reader| {
                strip_jpeg(reader, &mut *stripped).map_err(|e| match e {
                    StripError::Io(e) => reader_error(e, "cannot read the exhibit"),
                    StripError::Malformed(why) => cannot(format!("not a well-formed JPEG ({why})")),
                })
            })?;
            let copy = crate::crypto::random_id()?;
            crate::records::new_record(tx, Kind::Evidence, &copy)?;
            let mut bytes = stripped.as_slice();
            let mut scanning = Scanning {
                inner: &mut bytes,
                scanner: MetadataScanner::new(),
            };
            let label = format!("stripped copy of {}", original.short());
            let (size, sha256, chunk_count, media_type) =
                write_chunks(tx, session, &copy, &mut scanning, &label, progress)?;
            let overview = EvidenceOverview {
                media_type,
                size,
                sha256,
                added_at: now_utc(),
                added_by: session.user.name.clone(),
                chunk_size: CHUNK_SIZE as u64,
                chunk_count,
                metadata: scanning.scanner.finish(),
                stripped_from: Some(original.to_hex()),
                ..o.clone()
            };
            super::insert_first_overview(tx, session, Kind::Evidence, &copy, &overview)?;
            session.append(
                tx,
                Kind::Evidence,
                &copy,
                Action::Create,
                serde_json::json!({
                    "sha256": overview.sha256,
                    "size": size,
                    "case": overview.case,
                    "chunks": chunk_count,
                    "stripped_from": original.to_hex(),
                    "original_sha256": o.sha256,
                }),
            )?;
            session.append(
                tx,
                Kind::Evidence,
                &original,
                Action::View,
                serde_json::json!({
                    "stripped_copy": copy.to_hex(),
                    "copy_sha256": overview.sha256,
                }),
            )?;
            let case_reference = all_cases(tx, session)?
                .into_iter()
                .find(|c| c.id.to_hex() == overview.case)
                .map(|c| c.data.reference)
                .unwrap_or_default();
            Ok(EvidenceSummary {
                id: copy,
                case_reference,
                overview,
            })
        })
    }

    /// Lists evidence items, with the ids of damaged ones left out.
    pub fn evidence(&mut self, case: Option<&str>) -> Result<(Vec<EvidenceSummary>, Vec<Id>)> {
        self.read(|tx, session| {
            let case_id = match case {
                Some(reference) => Some(find_case(tx, session, reference)?.id),
                None => None,
            };
            summaries_of(tx, session, case_id.as_ref())
        })
    }

    /// Shows an item's metadata (records a view).
    pub fn show_evidence(&mut self, id: &str) -> Result<EvidenceSummary> {
        self.write(|tx, session| {
            let id = resolve(tx, Kind::Evidence, id)?;
            let overview = overview(tx, session, &id)?;
            session.append(tx, Kind::Evidence, &id, Action::View, serde_json::json!({}))?;
            let case_reference = all_cases(tx, session)?
                .into_iter()
                .find(|c| c.id.to_hex() == overview.case)
                .map(|c| c.data.reference)
                .unwrap_or_else(|| overview.case.clone());
            Ok(EvidenceSummary {
                id,
                case_reference,
                overview,
            })
        })
    }

    /// Writes an item's bytes to `out`, checking the SHA-256 on the way.
    /// The file appears only when complete and verified; an existing file
    /// is replaced only with `force`. Records an extract event.
    pub fn extract_evidence(
        &mut self,
        id: &str,
        out: &Path,
        force: bool,
        progress: &mut dyn FnMut(u64),
    ) -> Result<EvidenceSummary> {
        if out.is_dir() {
            return Err(Error::Invalid(Invalid::Path {
                path: out.to_owned(),
                problem: "is a directory; give a file name".into(),
            }));
        }
        if out.exists() && !force {
            return Err(Error::AlreadyExists(out.to_owned()));
        }
        remove_leftovers(out);
        let (tmp_path, file) = create_temp_beside(out)?;
        let recorded = self.write(|tx, session| {
            let id = resolve(tx, Kind::Evidence, id)?;
            let chain = super::expect_record(tx, session, &id, Kind::Evidence)?;
            refuse_withdrawn(&chain, Kind::Evidence, &id, "extracted")?;
            let overview = overview(tx, session, &id)?;
            // Decrypt here; hash and write (then fsync) on the other cores.
            // The last bytes wait for the commit of the extract event: a
            // kill before it leaves no complete copy (issue 17).
            let (_, held) = write_behind(
                HoldBack::syncing_early(file),
                |sink| {
                    with_reader(tx, session, &id, |reader| {
                        copy_with_progress(reader, sink, progress).map_err(|e| {
                            reader_error(e, &format!("cannot write {}", out.display()))
                        })
                    })
                },
                // Room for the held bytes before the commit (a full disk
                // fails here, before the extract event commits).
                |mut held| held.reserve().map(|()| held),
            )
            .map_err(|e| with_context(e, out))?;
            session.append(
                tx,
                Kind::Evidence,
                &id,
                Action::Extract,
                serde_json::json!({ "sha256": overview.sha256, "size": overview.size }),
            )?;
            let case_reference = all_cases(tx, session)?
                .into_iter()
                .find(|c| c.id.to_hex() == overview.case)
                .map(|c| c.data.reference)
                .unwrap_or_default();
            Ok((
                EvidenceSummary {
                    id,
                    case_reference,
                    overview,
                },
                held,
            ))
        });
        // Committed: now the copy may become complete.
        let mut open_file = None;
        let completed = recorded.and_then(|(summary, held)| {
            open_file = Some(release_held(held, out)?);
            Ok(summary)
        });
        let placed = finish_temp(completed, &tmp_path, out, force);
        // Closed (unlocked) only once renamed: see `remove_leftovers`.
        drop(open_file);
        placed
    }
}

/// Names the output file in a bare I/O error.
pub(crate) fn with_context(e: Error, out: &Path) -> Error {
    match e {
        Error::Io { source, .. } => Error::io(format!("cannot write {}", out.display()), source),
        other => other,
    }
}

/// Copies with a progress callback, a chunk at a time.
pub(crate) fn copy_with_progress(
    reader: &mut (impl io::BufRead + ?Sized),
    writer: &mut (impl Write + ?Sized),
    progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    // Straight from the reader's own buffer (for an exhibit, the decrypted
    // chunk): no copy of ours between the two.
    let mut total = 0u64;
    loop {
        let n = match reader.fill_buf() {
            Ok([]) => return Ok(total),
            Ok(data) => {
                writer.write_all(data)?;
                data.len()
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        reader.consume(n);
        total += n as u64;
        progress(total);
    }
}

/// How many sealed chunks the vault holds for item `id` (what an import
/// event records as `chunks`).
pub(crate) fn chunk_count(conn: &Connection, id: &Id) -> Result<u64> {
    rows::chunk_count(conn, id)
}

#[cfg(test)]
mod padding_tests {
    use super::*;

    /// Row lengths (`data`, envelope included) a new exhibit of `size` gets.
    fn row_lengths(size: u64) -> Vec<u64> {
        let rows = stored_chunk_count(size);
        let total = padded_stream_len(size);
        (0..rows)
            .map(|i| {
                let plain = if i + 1 < rows {
                    CHUNK_SIZE as u64
                } else {
                    total - i * CHUNK_SIZE as u64
                };
                plain + 41
            })
            .collect()
    }

    /// `docs/format.md` §20, "Evidence stream padding".
    #[test]
    fn stream_padding_matches_format_vector() {
        let full = CHUNK_SIZE as u64 + 41;
        let vectors: [(u64, u64, &[u64]); 8] = [
            (0, 64, &[105]),
            (14, 64, &[105]),
            (100_000, 100_352, &[100_393]),
            (1_048_575, 1_048_576, &[full, 41]),
            (1_048_676, 1_081_344, &[full, 32_809]),
            (1_048_680, 1_081_344, &[full, 32_809]),
            (3_000_000, 3_014_656, &[full, full, 917_545]),
            (67_108_865, 69_206_016, &[]),
        ];
        for (size, padded, rows) in vectors {
            assert_eq!(padded_stream_len(size), padded, "size {size}");
            let lengths = row_lengths(size);
            if rows.is_empty() {
                // 64 MiB + 1: 66 MiB in 66 full chunks and an empty end.
                assert_eq!(lengths.len(), 67);
                assert_eq!(lengths[..66], [full; 66]);
                assert_eq!(lengths[66], 41);
            } else {
                assert_eq!(lengths, rows, "size {size}");
            }
            assert_eq!(stored_chunk_count(size), lengths.len() as u64);
        }
    }

    /// `docs/format.md` §20, "Associated data" of an evidence end chunk.
    #[test]
    fn end_chunk_binding_matches_format_vector() {
        let vault = Id([0x11; 16]);
        let record = "ab".repeat(16);
        let ad = chunk_binding(&vault, &record, 2, ChunkRole::End).associated_data();
        assert_eq!(
            hex::encode(&ad),
            [
                "637573746f6469612f76312f6161641111111111111111111111111111111100",
                "0865766964656e63650020616261626162616261626162616261626162616261",
                "626162616261626162616200000000000000020009656e642d6368756e6b",
            ]
            .concat()
        );
        for role in [ChunkRole::Full, ChunkRole::LegacyLast] {
            assert_ne!(
                chunk_binding(&vault, &record, 2, role).associated_data(),
                ad
            );
        }
    }
}
