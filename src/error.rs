//! The library's error type. Each variant names what went wrong and, where it
//! helps, which record; none carries a secret. [`Error::category`] tells a
//! front end which exit code to use.
//!
//! Damage and tampering are [`Error::Integrity`] with an [`Integrity`] that
//! says what and where (record, version, field, custody event position);
//! input a user gave that is refused is [`Error::Invalid`] with an
//! [`Invalid`]; [`Error::Internal`] is a failure that is neither (a value
//! that cannot be encoded, a worker thread that stopped). Callers match on
//! these variants, never on the text; the `Display` text is what the user
//! reads.

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

use crate::crypto::CryptoError;
use crate::format::{FormatError, Id, Kind};

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
    /// Input that the user supplied is invalid: [`Invalid`] says which.
    #[error("{0}")]
    Invalid(Invalid),
    /// A failure that is not the user's input nor damage: a value that
    /// cannot be encoded, a worker thread that stopped, state in use.
    #[error("{0}")]
    Internal(String),
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
    /// Damage or tampering was detected: [`Integrity`] says what and where.
    #[error("integrity violation: {0}")]
    Integrity(Integrity),
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
                    return Error::Integrity(Integrity::Corrupt {
                        detail: e.to_string(),
                    })
                }
                _ => {}
            }
        }
        Error::Database(e)
    }
}

/// What damage or tampering was detected, and where (which record, version,
/// field or custody event). `check`, `verify` and the tests match on these
/// variants; [`Display`](fmt::Display) renders the sentence a user sees.
/// None carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Integrity {
    /// A sealed field of a record version does not open under its binding
    /// (vault, kind, record, version, field): damaged, altered or moved.
    FieldUnauthentic {
        /// The record's kind.
        kind: Kind,
        /// The record.
        record: Id,
        /// The version whose field failed.
        version: u64,
        /// The field (`overview`, `body`, `search`…).
        field: String,
    },
    /// A sealed custody event does not open at its position.
    EventUnauthentic {
        /// Its log position.
        position: u64,
    },
    /// A custody event below the sealed head is missing.
    EventMissing {
        /// Its log position.
        position: u64,
    },
    /// The custody log holds an event beyond its sealed head.
    EventInserted {
        /// Its log position.
        position: u64,
    },
    /// A custody event opened but its text is malformed, or a row is not
    /// a blob.
    EventMalformed {
        /// Its log position, when known.
        position: Option<u64>,
        /// What is wrong, following "custody event N " or "a custody event ".
        problem: String,
    },
    /// Custody events that `log` could not read.
    EventsUnreadable {
        /// Their log positions.
        positions: Vec<u64>,
    },
    /// Some custody events' signatures do not verify.
    EventSignatures,
    /// The last custody event of a record's chain is missing or damaged.
    LastEventDamaged {
        /// The record.
        record: Id,
        /// The event's log position.
        position: u64,
    },
    /// A record row that no custody chain created (inserted, or put back
    /// from an old copy).
    RecordNotInChain {
        /// The kind it is stored as.
        kind: Kind,
        /// The record.
        record: Id,
    },
    /// A record stored as one kind whose chain made another.
    RecordKindMismatch {
        /// The record.
        record: Id,
        /// The kind it is stored as.
        kind: Kind,
        /// The kind its chain made.
        chain_kind: String,
    },
    /// The file holds a different number of versions of a record than its
    /// chain made (deleted, inserted or renumbered).
    VersionCount {
        /// The record's kind.
        kind: Kind,
        /// The record.
        record: Id,
        /// Versions in the file.
        found: u64,
        /// Versions the chain made.
        expected: u64,
    },
    /// A seal row present when the chain did not seal the record, or
    /// missing when it did.
    SealRow {
        /// The record's kind.
        kind: Kind,
        /// The record.
        record: Id,
        /// Whether its chain sealed it.
        chain_sealed: bool,
    },
    /// Other damage to one record: a missing body or version, a SHA-256
    /// mismatch, a chunk layout, an imported history that does not open.
    RecordDamaged {
        /// The record.
        record: Id,
        /// The whole sentence, naming the record.
        problem: String,
    },
    /// Evidence content that does not decrypt or is cut short.
    Content {
        /// What the reader found.
        detail: String,
    },
    /// Key slots, user profiles, users table and pinned signers: removed,
    /// inserted, reordered or put back from old copies.
    Access {
        /// The whole sentence.
        problem: String,
    },
    /// A block of the sealed search index does not open or does not match
    /// the search texts (it never hides a match: see `vault::index`).
    SearchIndex {
        /// The whole sentence.
        problem: String,
    },
    /// The database schema differs from the one Custodia creates.
    Schema {
        /// Each difference (an object added, altered or missing).
        differences: Vec<String>,
    },
    /// The custody log's sealed head or state is missing, damaged or not
    /// migrated.
    LogHead {
        /// The whole sentence.
        problem: String,
    },
    /// The sealed vault state refused an event that was just written.
    StateRefused {
        /// Why.
        why: String,
    },
    /// The vault's sealed settings do not open or disagree with the file.
    Settings {
        /// The whole sentence.
        problem: String,
    },
    /// A bundle (or its import spool) is damaged, altered or malformed.
    Bundle {
        /// The whole sentence.
        problem: String,
    },
    /// An export was refused because what it would carry is damaged.
    Export {
        /// The whole sentence.
        problem: String,
    },
    /// An operation that needs a clean vault found problems.
    NotClean {
        /// How many problems block it.
        problems: usize,
        /// The first of them.
        first: String,
        /// What was not done (`exported`…).
        what: String,
    },
    /// The file says it is a vault but SQLite cannot read it.
    Unreadable {
        /// The vault file.
        path: PathBuf,
        /// SQLite's error.
        detail: String,
    },
    /// A custody write changed a number of rows other than one.
    WriteInterfered {
        /// What was written.
        what: String,
        /// Rows changed.
        changed: usize,
    },
    /// SQLite reports the database corrupt.
    Corrupt {
        /// SQLite's error.
        detail: String,
    },
}

impl fmt::Display for Integrity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Integrity::*;
        match self {
            FieldUnauthentic {
                kind,
                record,
                version,
                field,
            } => write!(
                f,
                "{} {record}: version {version} field {field:?} does not authenticate (damaged, altered or moved)",
                kind.as_str()
            ),
            EventUnauthentic { position } => write!(
                f,
                "custody event {position} does not authenticate (altered or moved)"
            ),
            EventMissing { position } => write!(
                f,
                "custody event {position} is missing (deleted); run `custodia check`"
            ),
            EventInserted { position } => write!(
                f,
                "the custody log holds an event {position} beyond its sealed head (inserted); run `custodia check`"
            ),
            EventMalformed {
                position: Some(p),
                problem,
            } => write!(f, "custody event {p} {problem}"),
            EventMalformed {
                position: None,
                problem,
            } => write!(f, "a custody event {problem}"),
            EventsUnreadable { positions } => {
                let list: Vec<String> = positions.iter().map(u64::to_string).collect();
                write!(
                    f,
                    "custody event(s) {} cannot be read (damaged); they may belong to any record, \
                     so this log may be incomplete; run `custodia check`",
                    list.join(", ")
                )
            }
            EventSignatures => f.write_str(
                "some custody events have invalid signatures; run `custodia check`",
            ),
            LastEventDamaged { record, position } => write!(
                f,
                "the last custody event of record {} (event {position}) is missing or damaged; run `custodia check`",
                record.short()
            ),
            RecordNotInChain { kind, record } => write!(
                f,
                "{} {record} is in the file but its custody chain never created it: it was \
                 inserted or put back from an old copy",
                kind.as_str()
            ),
            RecordKindMismatch {
                record,
                kind,
                chain_kind,
            } => write!(
                f,
                "record {record} is stored as a {} but its custody chain made a {chain_kind}",
                kind.as_str()
            ),
            VersionCount {
                kind,
                record,
                found,
                expected,
            } => write!(
                f,
                "{} {record}: the file holds {found} version(s) but its custody chain records \
                 {expected}: versions were {} (tampering); run `custodia check`",
                kind.as_str(),
                if found < expected {
                    "deleted"
                } else {
                    "inserted or renumbered"
                }
            ),
            SealRow {
                kind,
                record,
                chain_sealed,
            } => write!(
                f,
                "{} {record}: its custody chain says it is {}sealed but its seal row is {} \
                 (tampering); run `custodia check`",
                kind.as_str(),
                if *chain_sealed { "" } else { "not " },
                if *chain_sealed { "missing" } else { "there" }
            ),
            RecordDamaged { problem, .. }
            | Access { problem }
            | SearchIndex { problem }
            | LogHead { problem }
            | Settings { problem }
            | Bundle { problem }
            | Export { problem } => f.write_str(problem),
            Content { detail } => f.write_str(detail),
            Schema { differences } => write!(
                f,
                "the vault's database schema was tampered with: {}; it must be exactly the schema \
                 Custodia creates (restore the vault from a backup)",
                differences.join("; ")
            ),
            StateRefused { why } => write!(f, "refused: {why}"),
            NotClean {
                problems,
                first,
                what,
            } => write!(
                f,
                "the vault fails its check ({problems} problem(s); the first: {first}); nothing was {what} \
                 (run `custodia check`)"
            ),
            Unreadable { path, detail } => write!(
                f,
                "{} is a Custodia vault but cannot be read: it is damaged or incomplete \
                 (a truncated or half-copied file?): {detail}",
                path.display()
            ),
            WriteInterfered { what, changed } => write!(
                f,
                "writing {what} changed {changed} rows instead of one: something in the vault \
                 file interferes with its writes (tampering); nothing was saved"
            ),
            Corrupt { detail } => write!(f, "the vault database is corrupt: {detail}"),
        }
    }
}

impl std::error::Error for Integrity {}

impl From<Integrity> for Error {
    fn from(e: Integrity) -> Error {
        Error::Integrity(e)
    }
}

/// Why one text field is refused ([`Invalid::Field`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldProblem {
    /// Empty (or only spaces).
    Empty,
    /// Longer than allowed.
    TooLong {
        /// Its length in bytes.
        bytes: usize,
        /// The most allowed.
        max: usize,
    },
    /// Holds control characters.
    ControlCharacters,
    /// Starts or ends with spaces.
    OuterSpaces,
    /// Not a date like 2026-03-14 or 2026-03-14T10:30.
    NotADate {
        /// What was given.
        value: String,
    },
}

/// Which input was refused, and why. None carries a secret (a pasted key
/// is never echoed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// A text or date field of a record.
    Field {
        /// The field as a user knows it (`the case title`).
        label: String,
        /// What is wrong.
        problem: FieldProblem,
    },
    /// A statement's text or witness fields (empty, too large, pseudonym).
    Statement {
        /// The whole sentence.
        problem: String,
    },
    /// A record of this id is in the vault already.
    AlreadyInVault {
        /// Its kind.
        kind: Kind,
        /// The record.
        record: Id,
    },
    /// The statement is sealed: it cannot be amended.
    Sealed {
        /// The statement.
        record: Id,
    },
    /// The statement is sealed already.
    AlreadySealed {
        /// The statement.
        record: Id,
    },
    /// A record named for a case belongs to another case.
    OtherCase {
        /// Its kind.
        kind: Kind,
        /// The record.
        record: Id,
    },
    /// A case with this reference exists already.
    CaseExists {
        /// The reference.
        reference: String,
    },
    /// A user name, removing a user, or which user a passphrase opens.
    User {
        /// The whole sentence.
        problem: String,
    },
    /// A signer's name or key when pinning.
    Signer {
        /// The whole sentence.
        problem: String,
    },
    /// A row of a statement import file.
    ImportRow {
        /// The row, from 1, not counting a CSV header.
        row: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A statement import file as a whole.
    ImportFile {
        /// The whole sentence.
        problem: String,
    },
    /// A bundle that is intact but cannot be taken in (records already
    /// here, too much decryption work, ASCII armour…).
    Bundle {
        /// The whole sentence.
        problem: String,
    },
    /// A file given on the command line is not what the operation needs.
    Path {
        /// The path.
        path: PathBuf,
        /// What is wrong, following the path (`is a directory, not a file`).
        problem: String,
    },
    /// A folder's file is in the case already (same relative name, same
    /// SHA-256): a second `evidence add DIR` skips it.
    AlreadyInCase {
        /// The name it was added under.
        name: String,
        /// The exhibit already holding it.
        record: Id,
    },
    /// `evidence strip` cannot remove metadata from this kind of file.
    CannotStrip {
        /// The exhibit.
        record: Id,
        /// Why (its media type, or what is wrong with its bytes).
        why: String,
    },
    /// A file changed while it was read.
    SourceChanged {
        /// The file, as named to the user.
        label: String,
    },
    /// Bundle recipients.
    Recipient {
        /// The whole sentence (never a secret key).
        problem: String,
    },
    /// A record id or id prefix.
    IdPrefix {
        /// What is wrong.
        problem: String,
    },
    /// A search query.
    Query {
        /// What is wrong.
        problem: String,
    },
    /// A checkpoint receipt given to verify.
    Checkpoint {
        /// What is wrong.
        problem: String,
    },
    /// The record was withdrawn: it is not exported, searched, extracted
    /// or amended any more.
    Withdrawn {
        /// Its kind.
        kind: Kind,
        /// The record.
        record: Id,
        /// What was refused (`exported`, `amended`…).
        doing: &'static str,
    },
    /// A withdrawal or destruction that cannot be done as asked (a case,
    /// twice, an unconfirmed id).
    Retire {
        /// The whole sentence.
        problem: String,
    },
    /// A case amendment that changes nothing.
    CaseAmendment {
        /// The whole sentence.
        problem: String,
    },
    /// What a command of the front end was given (editor, options, files
    /// it writes).
    Command {
        /// The whole sentence.
        problem: String,
    },
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldProblem::Empty => f.write_str("must not be empty"),
            FieldProblem::TooLong { bytes, max } => {
                write!(f, "is too long ({bytes} bytes; at most {max})")
            }
            FieldProblem::ControlCharacters => f.write_str("contains control characters"),
            FieldProblem::OuterSpaces => f.write_str("must not start or end with spaces"),
            FieldProblem::NotADate { value } => {
                write!(
                    f,
                    "{value:?} is not a date like 2026-03-14 or 2026-03-14T10:30"
                )
            }
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Invalid::*;
        match self {
            Field { label, problem } => write!(f, "{label} {problem}"),
            Withdrawn {
                kind,
                record,
                doing,
            } => write!(
                f,
                "{} {} was withdrawn, so it cannot be {doing}",
                kind.as_str(),
                record.short()
            ),
            Retire { problem } | CaseAmendment { problem } => f.write_str(problem),
            AlreadyInVault { kind, record } => write!(
                f,
                "{} {} is already in this vault",
                kind.as_str(),
                record.short()
            ),
            Sealed { record } => write!(
                f,
                "statement {} is sealed and can no longer be amended",
                record.short()
            ),
            AlreadySealed { record } => {
                write!(f, "statement {} is already sealed", record.short())
            }
            OtherCase { kind, record } => write!(
                f,
                "{} {} belongs to another case",
                kind.as_str(),
                record.short()
            ),
            CaseExists { reference } => write!(f, "a case \"{reference}\" already exists"),
            ImportRow { row, problem } => {
                write!(f, "row {row}: {problem}; nothing was imported")
            }
            Path { path, problem } => write!(f, "{} {problem}", path.display()),
            SourceChanged { label } => write!(f, "{label} changed while it was read"),
            AlreadyInCase { name, record } => write!(
                f,
                "{name} is already in this case as evidence {}",
                record.short()
            ),
            CannotStrip { record, why } => write!(
                f,
                "evidence {} cannot be stripped of its metadata: {why}; nothing was written",
                record.short()
            ),
            Statement { problem }
            | User { problem }
            | Signer { problem }
            | ImportFile { problem }
            | Bundle { problem }
            | Recipient { problem }
            | IdPrefix { problem }
            | Query { problem }
            | Checkpoint { problem }
            | Command { problem } => f.write_str(problem),
        }
    }
}

impl std::error::Error for Invalid {}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Error {
        Error::Invalid(e)
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> Id {
        Id([byte; crate::format::ID_LEN])
    }

    #[test]
    fn integrity_variants_render_the_sentences_users_know() {
        let record = id(0xab);
        let hex = record.to_hex();
        let e = Error::Integrity(Integrity::VersionCount {
            kind: Kind::Statement,
            record,
            found: 1,
            expected: 2,
        });
        assert_eq!(
            e.to_string(),
            format!(
                "integrity violation: statement {hex}: the file holds 1 version(s) but its \
                 custody chain records 2: versions were deleted (tampering); run `custodia check`"
            )
        );
        assert_eq!(e.category(), Category::Integrity);
        let e = Integrity::FieldUnauthentic {
            kind: Kind::Evidence,
            record,
            version: 3,
            field: "overview".into(),
        };
        assert_eq!(
            e.to_string(),
            format!(
                "evidence {hex}: version 3 field \"overview\" does not authenticate (damaged, \
                 altered or moved)"
            )
        );
        let e = Integrity::SealRow {
            kind: Kind::Statement,
            record,
            chain_sealed: true,
        };
        assert!(
            e.to_string()
                .contains("says it is sealed but its seal row is missing"),
            "{e}"
        );
        let e = Integrity::SealRow {
            kind: Kind::Statement,
            record,
            chain_sealed: false,
        };
        assert!(
            e.to_string()
                .contains("says it is not sealed but its seal row is there"),
            "{e}"
        );
        assert_eq!(
            Integrity::EventMissing { position: 7 }.to_string(),
            "custody event 7 is missing (deleted); run `custodia check`"
        );
        assert_eq!(
            Integrity::EventsUnreadable {
                positions: vec![3, 5]
            }
            .to_string(),
            "custody event(s) 3, 5 cannot be read (damaged); they may belong to any record, \
             so this log may be incomplete; run `custodia check`"
        );
    }

    #[test]
    fn invalid_and_internal_errors_are_ordinary_failures() {
        let e = Error::Invalid(Invalid::Field {
            label: "the case title".into(),
            problem: FieldProblem::TooLong {
                bytes: 1001,
                max: 1000,
            },
        });
        assert_eq!(
            e.to_string(),
            "the case title is too long (1001 bytes; at most 1000)"
        );
        assert_eq!(e.category(), Category::Failure);
        let e = Error::Invalid(Invalid::Sealed { record: id(0x12) });
        assert_eq!(
            e.to_string(),
            "statement 121212121212 is sealed and can no longer be amended"
        );
        let e = Error::Internal("a search thread panicked".into());
        assert_eq!(e.category(), Category::Failure);
    }

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
