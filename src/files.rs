//! Files Custodia writes outside the vault: extracted exhibits, bundles,
//! recovery keys, the editor's scratch file. Each is created new, readable
//! by its owner only (mode 0600), and written under a temporary name that
//! is renamed into place when complete.
//!
//! Temporary files are registered while they exist, so that a program
//! interrupted by a signal (Ctrl-C, `kill`) can remove them with
//! [`remove_pending`] before it exits: a half-written exhibit is plaintext
//! testimony left on disk. (`kill -9` cannot be caught; SECURITY.md says so.)
//!
//! A file that records custody (an extracted exhibit, an exported bundle)
//! is written through [`HoldBack`]: its last [`HELD_BACK`] bytes stay in
//! memory until the transaction holding its custody event has committed.
//! So a `kill -9` at any moment leaves either a committed event, or a
//! leftover that is incomplete (its exhibit fingerprint or age stream does
//! not check): the vault never records less than exists (issue 17). Each
//! temporary file is held under an exclusive `flock` while its writer
//! lives, so the next export or extract to the same directory can tell a
//! dead writer's leftover from a live one's and remove only the former
//! ([`remove_leftovers`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Temporary files that exist now and must not outlive an interruption.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Creates `path`, which must not exist, for writing, mode 0600.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// The directory a new file at `target` goes in.
pub(crate) fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// A new private temporary file beside `target` (same directory, so the
/// final rename is atomic), named `.<target name>.partial-<random>`, and
/// registered for removal on interruption until [`finish_temp`].
pub fn create_temp_beside(target: &Path) -> Result<(PathBuf, File)> {
    let dir = parent_dir(target);
    let tag = hex::encode(crate::crypto::random_bytes::<6>()?);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let path = dir.join(format!(".{name}.partial-{tag}"));
    register(&path);
    match create_private(&path) {
        Ok(file) => {
            // Held while this process lives (the kernel drops it at any
            // exit, `kill -9` included): see [`remove_leftovers`].
            lock_exclusive(&file);
            Ok((path, file))
        }
        Err(e) => {
            unregister(&path);
            Err(Error::io(
                format!("cannot create a file in {}", dir.display()),
                e,
            ))
        }
    }
}

/// Puts the finished temporary file `tmp` at `out` if `outcome` is a
/// success (refusing to replace an existing `out` unless `force`), and
/// otherwise removes it. Either way it is no longer pending.
///
/// Extract and export call this only once the transaction recording the
/// output (its custody event) has committed: a file must never exist
/// without its event. (If the rename itself fails after the commit, the log
/// records an output that is not there, which errs on the side of the
/// record.)
pub fn finish_temp<T>(outcome: Result<T>, tmp: &Path, out: &Path, force: bool) -> Result<T> {
    let placed = outcome.and_then(|value| {
        if out.exists() && !force {
            return Err(Error::AlreadyExists(out.to_owned()));
        }
        std::fs::rename(tmp, out)
            .map_err(|e| Error::io(format!("cannot put {} in place", out.display()), e))?;
        Ok(value)
    });
    if placed.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    unregister(tmp);
    placed
}

/// Removes an unfinished temporary file (the work it was for failed).
pub fn discard_temp(tmp: &Path) {
    let _ = std::fs::remove_file(tmp);
    unregister(tmp);
}

/// Moves an existing file (a vault about to be replaced by `init --force`)
/// aside to `<name>.bak-<UTC timestamp>` in the same directory, with its
/// SQLite rollback journal if one is left (it belongs to the file). Never
/// deletes or overwrites anything: an existing backup name is an error.
/// Returns the backup's path.
pub fn keep_as_backup(path: &Path) -> Result<PathBuf> {
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| Error::Internal(format!("cannot name the backup: {e}")))?;
    let with_suffix = |p: &Path, suffix: &str| {
        let mut s = p.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    let backup = with_suffix(path, &format!(".bak-{stamp}"));
    if backup.exists() {
        return Err(Error::AlreadyExists(backup));
    }
    std::fs::rename(path, &backup).map_err(|e| {
        Error::io(
            format!("cannot keep {} as {}", path.display(), backup.display()),
            e,
        )
    })?;
    let journal = with_suffix(path, "-journal");
    if journal.exists() {
        let _ = std::fs::rename(&journal, with_suffix(&backup, "-journal"));
    }
    Ok(backup)
}

/// How many final bytes of a custody-recording output [`HoldBack`] keeps
/// in memory until its event has committed. More than a tar's end (two
/// zero blocks and our padding) and than an age STREAM chunk's tag, so a
/// leftover always lacks real content: its last exhibit bytes, the end of
/// the last tar entry, or the final age chunk (which age then refuses).
pub const HELD_BACK: usize = 64 * 1024;

/// A writer that passes on all but the last [`HELD_BACK`] bytes written
/// to it; [`HoldBack::release`] writes those once the custody event that
/// records the output has committed. The held bytes (plaintext, for an
/// extract) are zeroized on drop.
pub struct HoldBack<W: Write> {
    inner: W,
    tail: Zeroizing<Vec<u8>>,
    early: Option<EarlyWriteBack>,
}

impl<W: Write> HoldBack<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> HoldBack<W> {
        HoldBack {
            inner,
            // Never grows past this (see `write`), so never reallocates
            // and leaves no unzeroized copy behind.
            tail: Zeroizing::new(Vec::with_capacity(HELD_BACK)),
            early: None,
        }
    }

    /// The wrapped writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Ends the early write-back, if any, with the first error one of its
    /// syncs met: that error would not be reported again to the final
    /// fsync of the same open file.
    fn stop_early(&mut self) -> io::Result<()> {
        match self.early.take() {
            Some(mut early) => early.stop().map(|_| ()),
            None => Ok(()),
        }
    }

    /// Writes the held-back bytes and flushes: call only after the commit.
    pub fn release(mut self) -> io::Result<W> {
        self.stop_early()?;
        self.inner.write_all(&self.tail)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for HoldBack<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let total = self.tail.len() + buf.len();
        if total <= HELD_BACK {
            self.tail.extend_from_slice(buf);
            return Ok(buf.len());
        }
        let excess = total - HELD_BACK;
        let from_tail = excess.min(self.tail.len());
        self.inner.write_all(&self.tail[..from_tail])?;
        self.tail.drain(..from_tail);
        let from_buf = excess - from_tail;
        self.inner.write_all(&buf[..from_buf])?;
        self.tail.extend_from_slice(&buf[from_buf..]);
        if let Some(early) = &mut self.early {
            early.wrote(excess as u64);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl HoldBack<File> {
    /// Wraps `file`, and has what is passed on written to disk as it
    /// comes ([`EarlyWriteBack`]), so the fsync before the commit finds little
    /// left to write (for a 1 GiB export or extract, most of half a
    /// second the CPUs otherwise wait). Best effort: without a second
    /// handle or thread it is [`HoldBack::new`].
    pub fn syncing_early(file: File) -> HoldBack<File> {
        let early = EarlyWriteBack::of_file(&file, EARLY_SYNC_EVERY);
        HoldBack {
            early,
            ..HoldBack::new(file)
        }
    }

    /// Before the commit: claims the disk space of the held bytes by
    /// writing, where they will go, their bitwise complement (which differs
    /// from them at every byte, so the file still never holds the real
    /// output), syncs, and steps back. A full disk then fails the operation
    /// before its custody event commits, and [`HoldBack::release`] only
    /// overwrites blocks already allocated.
    pub(crate) fn reserve(&mut self) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        let at = self.inner.stream_position()?;
        let mut decoy = Zeroizing::new(self.tail.to_vec());
        decoy.iter_mut().for_each(|b| *b = !*b);
        self.inner.write_all(&decoy)?;
        self.sync_passed_on()?;
        self.inner.seek(SeekFrom::Start(at))?;
        Ok(())
    }

    /// Fsyncs what was passed on so far, after the early write-back has
    /// ended: an error any of its syncs met is this sync's error.
    pub(crate) fn sync_passed_on(&mut self) -> io::Result<()> {
        self.stop_early()?;
        self.inner.sync_all()
    }
}

/// Bytes written between two requests for early write-back.
pub(crate) const EARLY_SYNC_EVERY: u64 = 64 * 1024 * 1024;

/// Has data written to disk while it is still being written, so that the
/// final fsync, which the caller still makes, finds little left to write:
/// each time [`EarlyWriteBack::wrote`] has counted `every` bytes, a thread
/// of its own asks the kernel to write back (the writer never waits: one
/// request at a time, and one made while another runs is dropped). The
/// thread starts at the first request, so small outputs never get one. It
/// changes only when bytes reach the disk, never which, nor any guarantee.
pub(crate) struct EarlyWriteBack {
    target: Target,
    every: u64,
    since: u64,
    ask: Option<std::sync::mpsc::SyncSender<()>>,
    /// The running thread, when it is waited for.
    worker: Option<std::thread::JoinHandle<io::Result<u64>>>,
}

/// What [`EarlyWriteBack`] writes back.
enum Target {
    /// A file of ours: `fdatasync` of a second handle of it, which shares
    /// its open file (and so its `flock`: dropping it releases nothing). A
    /// sync's error is kept and returned by [`EarlyWriteBack::stop`]: the
    /// kernel reports a write-back error once per open file, so the final
    /// fsync, on the same open file, would not see it again.
    File(File),
    /// The file system holding a directory, with `syncfs` (Linux): for the
    /// vault, which SQLite writes and holds with POSIX locks that closing
    /// any other handle of the vault file would drop. It may write other
    /// programs' pending data too (as the kernel would within seconds
    /// anyway), so its thread is not waited for; `syncfs` does not take
    /// the vault file's error from SQLite's own fsync.
    FileSystem(PathBuf),
    /// Started, or failed to start.
    Spent,
}

impl EarlyWriteBack {
    /// For a file of ours.
    fn of_file(file: &File, every: u64) -> Option<EarlyWriteBack> {
        let handle = file.try_clone().ok()?;
        Some(Self::new(Target::File(handle), every))
    }

    /// For the vault's file at `path` (Linux; elsewhere `None`).
    pub(crate) fn of_file_system(path: &Path) -> Option<EarlyWriteBack> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        Some(Self::new(Target::FileSystem(dir), EARLY_SYNC_EVERY))
    }

    fn new(target: Target, every: u64) -> EarlyWriteBack {
        EarlyWriteBack {
            target,
            every,
            since: 0,
            ask: None,
            worker: None,
        }
    }

    /// Starts the thread; afterwards, or when it cannot start, a no-op.
    fn start(&mut self) {
        let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let (mut write_back, wait): (Box<dyn FnMut() -> io::Result<()> + Send>, bool) =
            match std::mem::replace(&mut self.target, Target::Spent) {
                Target::File(handle) => (Box::new(move || handle.sync_data()), true),
                Target::FileSystem(dir) => {
                    let Ok(handle) = File::open(dir) else { return };
                    (Box::new(move || sync_file_system(&handle)), false)
                }
                Target::Spent => return,
            };
        let spawned = std::thread::Builder::new()
            .name("custodia-write-back".into())
            .spawn(move || -> io::Result<u64> {
                let mut done = 0u64;
                for () in asked {
                    write_back()?;
                    done += 1;
                }
                Ok(done)
            });
        if let Ok(worker) = spawned {
            self.ask = Some(ask);
            self.worker = wait.then_some(worker);
        }
    }

    /// Counts `bytes` written, and asks for a write-back each `every`.
    pub(crate) fn wrote(&mut self, bytes: u64) {
        self.since += bytes;
        if self.since >= self.every {
            self.since = 0;
            if self.ask.is_none() {
                self.start();
            }
            if let Some(ask) = &self.ask {
                let _ = ask.try_send(());
            }
        }
    }

    /// Stops the thread, waiting for it when it is waited for: how many
    /// write-backs it made (0 when not waited for), or the first error one
    /// met (after which it made no more).
    fn stop(&mut self) -> io::Result<u64> {
        self.ask = None;
        match self.worker.take() {
            Some(worker) => worker
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the write-back thread panicked"))),
            None => Ok(0),
        }
    }
}

impl Drop for EarlyWriteBack {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

#[cfg(target_os = "linux")]
fn sync_file_system(handle: &File) -> io::Result<()> {
    rustix::fs::syncfs(handle).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn sync_file_system(_handle: &File) -> io::Result<()> {
    Ok(())
}

/// Completes a held-back temporary file once its event has committed:
/// writes the held bytes and fsyncs. Returns the file, which the caller
/// keeps open (and so locked) until [`finish_temp`] has renamed it.
pub(crate) fn release_held(held: HoldBack<File>, out: &Path) -> Result<File> {
    let file = held
        .release()
        .and_then(|file| file.sync_all().map(|()| file))
        .map_err(|e| Error::io(format!("cannot write {}", out.display()), e))?;
    Ok(file)
}

/// Whether `name` is one of our temporary names: `.<name>.partial-<12 hex>`.
fn is_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix('.') else {
        return false;
    };
    let Some((stem, tag)) = rest.rsplit_once(".partial-") else {
        return false;
    };
    !stem.is_empty()
        && tag.len() == 12
        && tag
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(unix)]
fn lock_exclusive(file: &File) {
    // Best effort: a file system without locks only loses the cleanup.
    let _ = rustix::fs::flock(file, rustix::fs::FlockOperation::LockExclusive);
}

#[cfg(not(unix))]
fn lock_exclusive(_file: &File) {}

/// Whether the temporary file at `path` has no living writer: a regular
/// file (not a link) whose `flock` we can take at once.
#[cfg(unix)]
fn abandoned(path: &Path) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    let regular = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    if !regular {
        return false;
    }
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    else {
        return false;
    };
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
}

#[cfg(not(unix))]
fn abandoned(_path: &Path) -> bool {
    false
}

/// Removes, from the directory `target` goes in, the temporary files an
/// earlier export or extract left there when it was killed (`kill -9`,
/// a power cut): only names of our exact pattern, `.<name>.partial-<12
/// hex digits>`, only regular files, and only those no living process
/// holds (a concurrent export's file is locked). Such a leftover is never
/// complete (see [`HoldBack`]), but an extract's holds plaintext.
/// Returns how many were removed.
pub(crate) fn remove_leftovers(target: &Path) -> usize {
    let dir = parent_dir(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_temp_name(name) {
            continue;
        }
        let path = entry.path();
        if abandoned(&path) && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Registers a file to be removed by [`remove_pending`].
pub fn register(path: &Path) {
    if let Ok(mut pending) = PENDING.lock() {
        pending.push(path.to_owned());
    }
}

/// Forgets a registered file (it was put in place or removed).
pub fn unregister(path: &Path) {
    if let Ok(mut pending) = PENDING.lock() {
        pending.retain(|p| p != path);
    }
}

/// Removes every registered temporary file; for a signal handler, just
/// before the process exits. Returns how many were removed.
pub fn remove_pending() -> usize {
    let paths = match PENDING.lock() {
        Ok(mut pending) => std::mem::take(&mut *pending),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    paths
        .iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn early_syncs_happen_while_writing_and_change_no_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let file = File::create(&path).unwrap();
        let mut held = HoldBack::new(file.try_clone().unwrap());
        held.early = EarlyWriteBack::of_file(&file, 1 << 20);
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        for piece in data.chunks(70_000) {
            held.write_all(piece).unwrap();
            // Room for the thread to take each request.
            std::thread::yield_now();
        }
        let synced = held
            .early
            .as_mut()
            .map_or(Ok(0), EarlyWriteBack::stop)
            .unwrap();
        assert!(synced >= 1, "no early sync ran");
        held.release().unwrap().sync_all().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[test]
    fn the_file_system_write_back_starts_only_when_enough_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let found = EarlyWriteBack::of_file_system(&dir.path().join("v.custodia"));
        assert_eq!(
            found.is_some(),
            cfg!(target_os = "linux"),
            "syncfs is Linux's"
        );
        let Some(mut w) = found else { return };
        w.wrote(EARLY_SYNC_EVERY - 1);
        assert!(w.ask.is_none(), "a small output starts no thread");
        w.wrote(1);
        assert!(w.ask.is_some(), "the thread started at the first request");
        // Not waited for: it ends after its last request.
        assert_eq!(w.stop().unwrap(), 0);
    }

    #[test]
    fn a_pending_temp_file_is_private_and_removed_on_interruption() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("exhibit.mp4");
        let (tmp, _file) = create_temp_beside(&out).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&tmp).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(remove_pending() >= 1);
        assert!(!tmp.exists());
        assert!(!out.exists());
    }

    #[test]
    fn hold_back_keeps_the_last_bytes_until_released() {
        for sizes in [
            vec![0usize],
            vec![10],
            vec![HELD_BACK],
            vec![HELD_BACK + 1],
            vec![3, HELD_BACK * 3, 7, 1],
            vec![1_000_000, 5, 200_000],
        ] {
            let data: Vec<u8> = (0..sizes.iter().sum::<usize>())
                .map(|i| (i % 251) as u8)
                .collect();
            let mut held = HoldBack::new(Vec::new());
            let mut at = 0;
            for n in &sizes {
                held.write_all(&data[at..at + n]).unwrap();
                at += n;
            }
            let passed = held.get_ref().len();
            assert_eq!(passed, data.len().saturating_sub(HELD_BACK), "{sizes:?}");
            assert_eq!(held.get_ref()[..], data[..passed]);
            assert!(held.tail.capacity() <= HELD_BACK.max(1) * 2);
            assert_eq!(held.release().unwrap(), data, "{sizes:?}");
        }
    }

    #[test]
    fn leftovers_of_a_dead_writer_go_and_others_stay() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bundle.age");
        // A live writer's file (this process holds its lock).
        let (live, _file) = create_temp_beside(&out).unwrap();
        // A dead writer's: no lock held.
        let dead = dir.path().join(".other.age.partial-0123456789ab");
        std::fs::write(&dead, b"partial").unwrap();
        // Not our pattern: kept.
        let keep = [
            ".other.age.partial-0123456789aZ",
            ".other.age.partial-0123",
            "other.age.partial-0123456789ab",
            "..partial-0123456789ab",
        ];
        for k in keep {
            std::fs::write(dir.path().join(k), b"x").unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(&out, dir.path().join(".link.partial-0123456789ab")).unwrap();
        assert_eq!(remove_leftovers(&out), if cfg!(unix) { 1 } else { 0 });
        assert!(live.exists());
        for k in keep {
            assert!(dir.path().join(k).exists(), "{k}");
        }
        if cfg!(unix) {
            assert!(!dead.exists());
            assert!(dir
                .path()
                .join(".link.partial-0123456789ab")
                .symlink_metadata()
                .is_ok());
        }
        discard_temp(&live);
    }

    #[test]
    fn a_finished_temp_file_is_in_place_and_no_longer_pending() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bundle.age");
        let (tmp, _file) = create_temp_beside(&out).unwrap();
        finish_temp(Ok(()), &tmp, &out, false).unwrap();
        assert!(out.exists() && !tmp.exists());
        assert!(!PENDING.lock().unwrap().contains(&tmp));
        // An existing output is not replaced without force; the temp goes.
        let (tmp2, _file) = create_temp_beside(&out).unwrap();
        let err = finish_temp(Ok(()), &tmp2, &out, false).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists(_)), "{err}");
        assert!(!tmp2.exists());
    }
}
