//! The library's error type. Each variant names what went wrong and, where it
//! helps, which record; none carries a secret. [`Error::category`] tells a
//! front end which exit code to use.

use std::path::PathBuf;

use thiserror::Error;

use crate::crypto::CryptoError;
use crate::format::FormatError;

/// What kind of failure an error is, for exit codes (SPEC §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Ordinary failure (exit 1).
    Failure,
    /// The command line was wrong (exit 2).
    Usage,
    /// Wrong passphrase, recovery key or decryption key (exit 3).
    WrongKey,
    /// Tampering, corruption, bad signature or broken chain (exit 4).
    Integrity,
    /// A bundle is intact but its signer is not one the user trusts
    /// (no `--signer`, no pinned key): exit 5.
    Unauthenticated,
}

/// Everything the library can fail with.
#[derive(Debug, Error)]
pub enum Error {
    /// No vault file at the path.
    #[error("no vault at {}; create one with `custodia init`", .0.display())]
    NoVault(PathBuf),
    /// The path holds something that is not a Custodia vault.
    #[error("{} is not a Custodia vault", .0.display())]
    NotAVault(PathBuf),
    /// The vault was written by a newer Custodia.
    #[error("{} uses vault format version {found}, newer than this custodia supports ({supported}); upgrade custodia", .path.display())]
    FormatTooNew {
        /// The vault file.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest this build reads.
        supported: i64,
    },
    /// A file that must not be overwritten already exists.
    #[error("{} already exists; pass --force to replace it", .0.display())]
    AlreadyExists(PathBuf),
    /// The passphrase opened no slot (for this user).
    #[error("wrong passphrase (or no such user in this vault)")]
    WrongPassphrase,
    /// The recovery key opened no recovery slot.
    #[error("this recovery key does not open this vault")]
    WrongRecoveryKey,
    /// A key, passphrase or identity could not decrypt a bundle.
    #[error("cannot decrypt: {0}")]
    CannotDecrypt(String),
    /// Named user is not in the vault.
    #[error("no user named {0:?} in this vault")]
    UnknownUser(String),
    /// A user of that name exists already.
    #[error("a user named {0:?} already exists")]
    UserExists(String),
    /// Input that the user supplied is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A record reference did not resolve.
    #[error("{0}")]
    NotFound(String),
    /// Another process holds the vault's write lock.
    #[error("the vault is busy: another custodia process is using it; try again in a moment")]
    Busy,
    /// The disk is full; nothing was changed.
    #[error("the disk is full; the operation was not done and the vault is unchanged")]
    DiskFull,
    /// SQLite could not read or write the vault file (`SQLITE_IOERR`): a
    /// file-size limit (`EFBIG`, which SQLite does not report as "full"),
    /// a failing device… The transaction was rolled back.
    #[error("cannot write or read the vault file ({0}): the disk may be full, the file too large for its file system or process limit, or the device failing; the operation was not done and the vault is unchanged")]
    VaultIo(String),
    /// Damage or tampering was detected.
    #[error("integrity violation: {0}")]
    Integrity(String),
    /// A bundle's signer is not authenticated (exit 5).
    #[error("unauthenticated signer: {0}")]
    Unauthenticated(String),
    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A stored layout was malformed.
    #[error("malformed data: {0}")]
    Format(#[from] FormatError),
    /// SQLite failed.
    #[error("vault database error: {0}")]
    Database(rusqlite::Error),
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, naming the file.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// The exit-code category of this error.
    pub fn category(&self) -> Category {
        match self {
            Error::WrongPassphrase | Error::WrongRecoveryKey | Error::CannotDecrypt(_) => {
                Category::WrongKey
            }
            Error::Crypto(CryptoError::MalformedRecoveryKey(_)) => Category::WrongKey,
            Error::Integrity(_)
            | Error::Crypto(CryptoError::Unauthentic)
            | Error::Crypto(CryptoError::KdfParamsOutOfBounds(_))
            | Error::Crypto(CryptoError::SlotKdfAboveDefault { .. })
            | Error::Crypto(CryptoError::Decode(_))
            | Error::Crypto(CryptoError::Format(_))
            | Error::Format(_) => Category::Integrity,
            // A value of the wrong type in a vault column: the file was
            // edited outside Custodia.
            Error::Database(
                rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..)
                | rusqlite::Error::IntegralValueOutOfRange(..),
            ) => Category::Integrity,
            Error::Unauthenticated(_) => Category::Unauthenticated,
            _ => Category::Failure,
        }
    }

    /// An I/O error with a sentence of context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        if source.raw_os_error() == Some(28) {
            return Error::DiskFull;
        }
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::io("I/O error", e)
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        use rusqlite::ffi::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => return Error::Busy,
                ErrorCode::DiskFull => return Error::DiskFull,
                ErrorCode::SystemIoFailure => return Error::VaultIo(e.to_string()),
                ErrorCode::DatabaseCorrupt => {
                    return Error::Integrity(format!("the vault database is corrupt: {e}"))
                }
                _ => {}
            }
        }
        Error::Database(e)
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_io_errors_say_what_happened_to_the_vault() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        assert!(matches!(Error::from(full), Error::DiskFull));
        // What SQLite reports when a write fails with EFBIG (RLIMIT_FSIZE).
        let ioerr = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR_WRITE),
            None,
        );
        let e = Error::from(ioerr);
        assert!(matches!(e, Error::VaultIo(_)), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("too large") && text.contains("unchanged"),
            "{text}"
        );
        assert_eq!(e.category(), Category::Failure);
        let efbig = Error::io(
            "cannot write out.txt",
            std::io::Error::from_raw_os_error(27),
        );
        assert!(efbig.to_string().contains("too large"), "{efbig}");
        let enospc = Error::io(
            "cannot write out.txt",
            std::io::Error::from_raw_os_error(28),
        );
        assert!(matches!(enospc, Error::DiskFull));
    }
}
