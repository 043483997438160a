//! Files Custodia writes outside the vault: extracted exhibits, bundles,
//! recovery keys, the editor's scratch file. Each is created new, readable
//! by its owner only (mode 0600), and written under a temporary name that
//! is renamed into place when complete.
//!
//! Temporary files are registered while they exist, so that a program
//! interrupted by a signal (Ctrl-C, `kill`) can remove them with
//! [`remove_pending`] before it exits: a half-written exhibit is plaintext
//! testimony left on disk. (`kill -9` cannot be caught; SECURITY.md says so.)

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
pub fn parent_dir(target: &Path) -> PathBuf {
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
        Ok(file) => Ok((path, file)),
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
