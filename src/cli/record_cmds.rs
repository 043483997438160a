//! Commands on records: cases, statements, evidence and search.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use clap::{ArgGroup, Args, Subcommand};
use serde_json::json;

use custodia::formats::metadata::describe;
use custodia::records::case::NewCase;
use custodia::records::evidence::{
    check_input_file, plan_folder, EvidenceSummary, FolderPlan, NewEvidence,
};
use custodia::records::import::ImportFile;
use custodia::records::statement::{
    Amendment, FieldChanges, NewStatement, StatementFields, MAX_BODY_BYTES,
};

use super::editor::edit_in_ram;
use super::open::{progress_bar, OpenVault};
use super::output::{highlighted, Piece};
use super::{Failure, Global, Output};

/// The columns of `statement import`, shown under its `--help` (a test
/// checks the list against the library's).
pub const IMPORT_HELP: &str = "\
Columns (a CSV header row, or the keys of each JSON line), named as the
options of `statement add` with _ for -:
  case          the case reference (required)
  witness       the witness's name (required)
  body          the statement's text (required)
  pseudonym     the name shown in exports for a protected witness
  protected     true/false (also yes/no, 1/0)
  language      e.g. fr, ru, ar
  taken_at      when the statement was taken (2026-03-14 or 2026-03-14T10:30:00Z)
  place         where it was taken
  interviewer   who took it
  interpreter   who interpreted
  consent       the consent given
  source        a URL or citation

Examples:
  custodia statement import interviews.csv
  custodia statement import interviews.jsonl --json
  custodia --vault field.custodia statement import day3.csv";

/// `custodia case …`.
#[derive(Debug, Subcommand)]
pub enum CaseCommand {
    /// Create a case; prints its id
    New {
        /// The case reference, e.g. KZ-2026-014
        reference: String,
        /// Title
        #[arg(long)]
        title: String,
        /// Description
        #[arg(long)]
        description: Option<String>,
        /// A tag (repeat for several)
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
    },
    /// List cases
    List,
    /// Show a case and what it holds
    Show {
        /// Case reference or id prefix
        reference: String,
    },
    /// Correct a case's title, description or tags: a new version, with a reason
    Amend {
        /// Case reference or id prefix
        reference: String,
        /// New title
        #[arg(long)]
        title: Option<String>,
        /// New description ("" removes it)
        #[arg(long)]
        description: Option<String>,
        /// New tags, replacing the old ones (repeat for several)
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Why (kept in the sealed version; the custody event holds its hash)
        #[arg(long)]
        reason: String,
    },
}

/// `custodia record …`: the end of a statement's or exhibit's life.
#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Withdraw a statement or exhibit (consent withdrawn): it stays sealed in
    /// the vault but is never exported, searched, extracted or amended again
    Withdraw {
        /// Statement or evidence id (or unique prefix)
        id: String,
        /// Why (recorded in the custody event, which never leaves the vault)
        #[arg(long)]
        reason: String,
    },
    /// Erase a statement's or exhibit's content for good (entered by
    /// mistake, or ordered erased); its custody events and hashes stay
    Destroy {
        /// Statement or evidence id (or unique prefix)
        id: String,
        /// Why (recorded in the custody event)
        #[arg(long)]
        reason: String,
        /// The record's full id (32 hex digits), typed again
        #[arg(long, value_name = "FULL_ID")]
        confirm: String,
    },
}

/// `custodia record withdraw|destroy`.
pub fn record(g: &Global, out: &Output, cmd: RecordCommand) -> Result<(), Failure> {
    let mut vault = OpenVault::unlock(g, out)?;
    let (done, retired) = match cmd {
        RecordCommand::Withdraw { id, reason } => {
            ("withdrawn", vault.withdraw_record(&id, &reason)?)
        }
        RecordCommand::Destroy {
            id,
            reason,
            confirm,
        } => ("destroyed", vault.destroy_record(&id, &reason, &confirm)?),
    };
    out.either(&retired, || {
        out.line(format!(
            "{} {} {done} (custody event {})",
            retired.kind, retired.id, retired.event
        ))?;
        if let Some((before, after)) = retired.file_bytes {
            out.line(format!(
                "Its content was erased and the vault compacted ({before} → {after} bytes). \
                 Backups and bundles made before still hold it."
            ))?;
        }
        Ok(())
    })
}

/// Where a statement's text comes from.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("text").required(true).args(["file", "stdin", "editor"])))]
pub struct TextSource {
    /// Read the text from this file (UTF-8)
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Read the text from standard input
    #[arg(long)]
    stdin: bool,
    /// Write the text in $EDITOR, on a file in RAM (/dev/shm) that is wiped afterwards
    #[arg(long)]
    editor: bool,
}

/// Where an amended statement's new text comes from (none: unchanged).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("new_text").args(["file", "stdin", "editor"])))]
pub struct AmendText {
    /// Read the new text from this file (UTF-8)
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Read the new text from standard input
    #[arg(long)]
    stdin: bool,
    /// Write the new text in $EDITOR, on a file in RAM (/dev/shm) that is wiped afterwards
    #[arg(long)]
    editor: bool,
}

impl AmendText {
    fn given(&self) -> Option<TextSource> {
        (self.file.is_some() || self.stdin || self.editor).then(|| TextSource {
            file: self.file.clone(),
            stdin: self.stdin,
            editor: self.editor,
        })
    }
}

/// A statement's own fields, as `statement amend` changes them.
#[derive(Debug, Args)]
pub struct AmendFields {
    /// New pseudonym
    #[arg(long)]
    pseudonym: Option<String>,
    /// Make the witness protected (needs a pseudonym)
    #[arg(long)]
    protect: bool,
    /// New language
    #[arg(long)]
    language: Option<String>,
    /// New date taken (2026-03-14 or 2026-03-14T10:30)
    #[arg(long, value_name = "DATE")]
    taken_at: Option<String>,
    /// New place
    #[arg(long)]
    place: Option<String>,
    /// New interviewer
    #[arg(long)]
    interviewer: Option<String>,
    /// New interpreter
    #[arg(long)]
    interpreter: Option<String>,
    /// New consent note
    #[arg(long)]
    consent: Option<String>,
    /// New source
    #[arg(long)]
    source: Option<String>,
    /// The witness's aliases: the list given replaces the old one (repeat)
    #[arg(long = "alias", value_name = "NAME", conflicts_with = "clear_aliases")]
    aliases: Vec<String>,
    /// Remove every alias
    #[arg(long)]
    clear_aliases: bool,
}

impl AmendFields {
    fn changes(self) -> FieldChanges {
        FieldChanges {
            pseudonym: self.pseudonym,
            protect: self.protect,
            language: self.language,
            taken_at: self.taken_at,
            place: self.place,
            interviewer: self.interviewer,
            interpreter: self.interpreter,
            consent: self.consent,
            source: self.source,
            aliases: if self.clear_aliases {
                Some(Vec::new())
            } else if self.aliases.is_empty() {
                None
            } else {
                Some(self.aliases)
            },
        }
    }
}

/// `custodia statement …`.
#[derive(Debug, Subcommand)]
pub enum StatementCommand {
    /// Add a witness statement to a case; prints its id
    Add {
        /// Case reference or id
        #[arg(long)]
        case: String,
        /// The witness's name
        #[arg(long)]
        witness: String,
        /// A pseudonym, shown instead of the name when the witness is protected
        #[arg(long)]
        pseudonym: Option<String>,
        /// Withhold the witness's identity on export unless --reveal-protected
        #[arg(long)]
        protected: bool,
        /// Language of the statement (e.g. ru, fr, ar)
        #[arg(long)]
        language: Option<String>,
        /// When it was taken (2026-03-14 or 2026-03-14T10:30)
        #[arg(long, value_name = "DATE")]
        taken_at: Option<String>,
        /// Where it was taken
        #[arg(long)]
        place: Option<String>,
        /// Who took it
        #[arg(long)]
        interviewer: Option<String>,
        /// Who interpreted
        #[arg(long)]
        interpreter: Option<String>,
        /// The witness's consent, in words
        #[arg(long)]
        consent: Option<String>,
        /// Source: a URL or citation
        #[arg(long)]
        source: Option<String>,
        /// Another spelling of the witness's name, replaced like the name
        /// when the witness is protected (repeat: "Yevgeny", "Евгений", a
        /// surname alone). Only the whole name and these are redacted
        #[arg(long = "alias", value_name = "NAME")]
        aliases: Vec<String>,
        #[command(flatten)]
        text: TextSource,
    },
    /// Import statements from JSON Lines or CSV (all rows checked first)
    #[command(after_help = IMPORT_HELP)]
    Import {
        /// The file (.jsonl or .csv)
        file: PathBuf,
    },
    /// List statements (latest versions)
    List {
        /// Only this case
        #[arg(long)]
        case: Option<String>,
    },
    /// Show a statement (latest version unless --version)
    Show {
        /// Statement id or unique prefix
        id: String,
        /// Which version
        #[arg(long)]
        version: Option<u64>,
    },
    /// List a statement's versions and why each was made
    History {
        /// Statement id or unique prefix
        id: String,
    },
    /// Add a new version of a statement (the old ones stay readable): a new
    /// text, new values of its own fields, or both
    ///
    /// Without --file, --stdin or --editor the text stays as it is. The
    /// amend event names the fields that changed, never their values. A
    /// protected witness cannot be made unprotected (use --reveal-protected
    /// on one export where a court must see the name).
    Amend {
        /// Statement id or unique prefix
        id: String,
        /// Why it is amended
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        text: AmendText,
        #[command(flatten)]
        fields: AmendFields,
    },
    /// Seal a statement: it can no longer be amended
    Seal {
        /// Statement id or unique prefix
        id: String,
    },
}

/// `custodia evidence …`.
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Add files or folders as evidence; prints `ID  SHA256  NAME` per file
    ///
    /// A folder is taken recursively: every regular file, hidden ones
    /// included, named by its path from the folder
    /// (`photos/2026-03-14/IMG_0042.jpg`); symbolic links are not followed
    /// (they are listed as skipped). Each file is its own transaction: if the command stops
    /// halfway, the files before are in the vault, and running it again
    /// skips them (same name, same SHA-256). Files carrying identifying
    /// metadata (GPS position, camera serial, author name) are warned about.
    Add {
        /// Case reference or id
        #[arg(long)]
        case: String,
        /// The statement the files support
        #[arg(long)]
        statement: Option<String>,
        /// Description
        #[arg(long)]
        description: Option<String>,
        /// Source (URL, citation, device)
        #[arg(long)]
        source: Option<String>,
        /// When it was acquired (2026-03-14)
        #[arg(long, value_name = "DATE")]
        acquired_at: Option<String>,
        /// Who acquired it
        #[arg(long, value_name = "NAME")]
        acquired_by: Option<String>,
        /// The files and folders
        #[arg(required = true, value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// List evidence items
    List {
        /// Only this case
        #[arg(long)]
        case: Option<String>,
    },
    /// Show an item's metadata
    Show {
        /// Evidence id or unique prefix
        id: String,
    },
    /// Seal a copy of a JPEG photo without its metadata (EXIF with GPS
    /// and serials, XMP, comments) as a new exhibit linked to the original
    ///
    /// The original stays as it was; the copy's create event records the
    /// original's id and both SHA-256. `custodia export --stripped` exports
    /// the copy in place of the original. Other formats are refused.
    Strip {
        /// Evidence id or unique prefix
        id: String,
    },
    /// Write an item's original bytes to a file, checking its SHA-256
    Extract {
        /// Evidence id or unique prefix
        id: String,
        /// Where to write
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
}

/// `custodia search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words (all must match) and "quoted phrases"; several arguments are
    /// joined with spaces, so `search refugie kyiv` needs no quotes
    #[arg(required = true, num_args = 1..)]
    query: Vec<String>,
    /// Only this case
    #[arg(long)]
    case: Option<String>,
    /// Only statements of this witness (name or pseudonym; every word must match)
    #[arg(long)]
    witness: Option<String>,
    /// Only statements taken (exhibits acquired) on or after this day, e.g. 2026-03-01
    #[arg(long, value_name = "DAY")]
    from: Option<String>,
    /// Only statements taken (exhibits acquired) on or before this day
    #[arg(long, value_name = "DAY")]
    to: Option<String>,
    /// At most this many statements and this many exhibits (at least 1)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
}

/// The statement text from `--file` or `--stdin`, or from the editor
/// (opened on `initial`).
fn read_text(source: &TextSource, initial: &str) -> Result<String, Failure> {
    let bytes = if let Some(path) = &source.file {
        read_bounded_file(path)?
    } else if source.stdin {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_BODY_BYTES as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Failure::io("cannot read standard input", e))?;
        buf
    } else {
        edit_in_ram(initial)?
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Failure::invalid(format!(
            "the statement text is over {} MiB; add it as evidence instead",
            MAX_BODY_BYTES / (1024 * 1024)
        )));
    }
    let where_ = source
        .file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "the statement text".into());
    String::from_utf8(bytes).map_err(|e| {
        Failure::invalid(format!(
            "{where_} is not valid UTF-8 text (bad byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })
}

fn read_bounded_file(path: &Path) -> Result<Vec<u8>, Failure> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Failure::io(format!("cannot read {}", path.display()), e))?;
    if meta.is_dir() {
        return Err(Failure::invalid(format!(
            "{} is a directory, not a file",
            path.display()
        )));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::io(format!("cannot read {}", path.display()), e))?;
    let mut buf = Vec::new();
    file.take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::io(format!("cannot read {}", path.display()), e))?;
    Ok(buf)
}

pub fn case(g: &Global, out: &Output, cmd: CaseCommand) -> Result<(), Failure> {
    let mut vault = OpenVault::unlock(g, out)?;
    match cmd {
        CaseCommand::New {
            reference,
            title,
            description,
            tags,
        } => {
            let id = vault.create_case(&NewCase {
                reference: reference.clone(),
                title,
                description,
                tags,
            })?;
            out.either(
                &json!({ "id": id.to_hex(), "reference": reference }),
                || out.line(id.to_hex()),
            )
        }
        CaseCommand::Amend {
            reference,
            title,
            description,
            tags,
            reason,
        } => {
            let changes = custodia::records::lifecycle::CaseChanges {
                title,
                description,
                tags: (!tags.is_empty()).then_some(tags),
            };
            let (id, version) = vault.amend_case(&reference, &changes, &reason)?;
            out.either(&json!({ "id": id.to_hex(), "version": version }), || {
                out.line(format!("case {} amended: version {version}", id.short()))
            })
        }
        CaseCommand::List => {
            let (cases, damaged) = vault.cases()?;
            warn_damaged(out, "case", &damaged);
            out.either(&cases, || {
                for c in &cases {
                    out.line(format!(
                        "{}  {:<16} {}",
                        c.id.short(),
                        c.data.reference,
                        c.data.title
                    ))?;
                }
                Ok(())
            })
        }
        CaseCommand::Show { reference } => {
            let case = vault.show_case(&reference)?;
            let (statements, bad_s) = vault.statements(Some(&case.id.to_hex()))?;
            let (evidence, bad_e) = vault.evidence(Some(&case.id.to_hex()))?;
            warn_damaged(out, "statement", &bad_s);
            warn_damaged(out, "evidence item", &bad_e);
            out.either(
                &json!({ "case": case, "statements": statements, "evidence": evidence }),
                || {
                    out.line(format!("Case         {}", case.data.reference))?;
                    out.line(format!("Id           {}", case.id))?;
                    out.line(format!("Title        {}", case.data.title))?;
                    if let Some(d) = &case.data.description {
                        out.line(format!("Description  {d}"))?;
                    }
                    if !case.data.tags.is_empty() {
                        out.line(format!("Tags         {}", case.data.tags.join(", ")))?;
                    }
                    out.line(format!(
                        "Created      {} by {}",
                        case.data.created_at, case.data.created_by
                    ))?;
                    if let (Some(reason), Some(at), Some(by)) = (
                        &case.data.reason,
                        &case.data.amended_at,
                        &case.data.amended_by,
                    ) {
                        out.line(format!("Amended      {at} by {by}: {reason}"))?;
                    }
                    out.line(format!("Statements   {}", statements.len()))?;
                    for s in &statements {
                        out.line(format!(
                            "  {}  v{}  {}",
                            s.id.short(),
                            s.overview.version,
                            s.overview.fields.witness
                        ))?;
                    }
                    out.line(format!("Evidence     {}", evidence.len()))?;
                    for e in &evidence {
                        out.line(format!(
                            "  {}  {}  {}",
                            e.id.short(),
                            e.overview.sha256.get(..16).unwrap_or(&e.overview.sha256),
                            e.overview.original_name
                        ))?;
                    }
                    Ok(())
                },
            )
        }
    }
}

pub fn statement(g: &Global, out: &Output, cmd: StatementCommand) -> Result<(), Failure> {
    match cmd {
        StatementCommand::Add {
            case,
            witness,
            pseudonym,
            protected,
            language,
            taken_at,
            place,
            interviewer,
            interpreter,
            consent,
            source,
            aliases,
            text,
        } => {
            if text.stdin && g.passphrase_file.as_deref() == Some(Path::new("-")) {
                return Err(Failure::usage(
                    "--stdin and --passphrase-file - cannot both read standard input",
                ));
            }
            let fields = StatementFields {
                witness,
                pseudonym,
                protected,
                language,
                taken_at,
                place,
                interviewer,
                interpreter,
                consent,
                source,
                aliases,
            };
            fields.validate()?;
            // Typed testimony must not be lost to a wrong passphrase or an
            // unknown case: with --editor, unlock and check first.
            let (mut vault, body) = if text.editor {
                let mut vault = OpenVault::unlock(g, out)?;
                vault.case_id(&case)?;
                (vault, read_text(&text, "")?)
            } else {
                let body = read_text(&text, "")?;
                (OpenVault::unlock(g, out)?, body)
            };
            let id = vault.add_statement(&NewStatement { case, fields, body })?;
            out.either(&json!({ "id": id.to_hex() }), || out.line(id.to_hex()))
        }
        StatementCommand::Import { file } => {
            // Every row is checked before the passphrase is asked for.
            let source = ImportFile::open(&file)?;
            source.check()?;
            let mut vault = OpenVault::unlock(g, out)?;
            let ids = vault.import_statements(&source)?;
            out.either(
                &json!({ "imported": ids.iter().map(|i| i.to_hex()).collect::<Vec<_>>() }),
                || {
                    out.note(format!("Imported {} statements.", ids.len()));
                    for id in &ids {
                        out.line(id.to_hex())?;
                    }
                    Ok(())
                },
            )
        }
        StatementCommand::List { case } => {
            let mut vault = OpenVault::unlock(g, out)?;
            let (list, damaged) = vault.statements(case.as_deref())?;
            warn_damaged(out, "statement", &damaged);
            out.either(&list, || {
                for s in &list {
                    let o = &s.overview;
                    out.line(format!(
                        "{}  {:<14} v{:<2} {:<7} {}  {}",
                        s.id.short(),
                        s.case_reference,
                        o.version,
                        if s.sealed { "sealed" } else { "" },
                        o.fields.taken_at.as_deref().unwrap_or("          "),
                        witness_label(&o.fields),
                    ))?;
                }
                Ok(())
            })
        }
        StatementCommand::Show { id, version } => {
            let mut vault = OpenVault::unlock(g, out)?;
            let s = vault.show_statement(&id, version)?;
            out.either(&s, || {
                let o = &s.overview;
                let f = &o.fields;
                out.line(format!("Statement    {}", s.id))?;
                out.line(format!("Case         {}", s.case_reference))?;
                out.line(format!(
                    "Version      {} of {}{}",
                    o.version,
                    s.versions,
                    if s.sealed { " (sealed)" } else { "" }
                ))?;
                out.line(format!("Witness      {}", witness_label(f)))?;
                for (label, value) in [
                    ("Language", &f.language),
                    ("Taken at", &f.taken_at),
                    ("Place", &f.place),
                    ("Interviewer", &f.interviewer),
                    ("Interpreter", &f.interpreter),
                    ("Consent", &f.consent),
                    ("Source", &f.source),
                    ("Reason", &o.reason),
                ] {
                    if let Some(v) = value {
                        out.line(format!("{label:<13}{v}"))?;
                    }
                }
                if !f.aliases.is_empty() {
                    out.line(format!("Aliases      {}", f.aliases.join("; ")))?;
                }
                out.line(format!("Recorded     {} by {}", o.created_at, o.created_by))?;
                out.line(format!("SHA-256      {}", o.body_sha256))?;
                out.line("")?;
                out.text(&s.body)
            })
        }
        StatementCommand::History { id } => {
            let mut vault = OpenVault::unlock(g, out)?;
            let (id, versions, sealed) = vault.statement_history(&id)?;
            out.either(
                &json!({ "id": id.to_hex(), "sealed": sealed, "versions": versions }),
                || {
                    for v in &versions {
                        out.line(format!(
                            "v{:<3} {}  {:<16} {}  {}",
                            v.version,
                            v.created_at,
                            v.created_by,
                            v.body_sha256.get(..16).unwrap_or(&v.body_sha256),
                            v.reason.as_deref().unwrap_or("(original)")
                        ))?;
                    }
                    if sealed {
                        out.line("sealed: no further amendments")?;
                    }
                    Ok(())
                },
            )
        }
        StatementCommand::Amend {
            id,
            reason,
            text,
            fields,
        } => {
            let changes = fields.changes();
            let (mut vault, body) = match text.given() {
                Some(text) if text.editor => {
                    // Unlock and check first; the editor starts from the
                    // latest text (reading it is logged as a view).
                    let mut vault = OpenVault::unlock(g, out)?;
                    let current = vault.show_statement(&id, None)?;
                    if current.sealed {
                        return Err(custodia::Error::Invalid(custodia::Invalid::Sealed {
                            record: current.id,
                        })
                        .into());
                    }
                    let body = read_text(&text, &current.body)?;
                    let (_, changed) = changes.apply(&current.overview.fields);
                    if body == current.body && changed.is_empty() {
                        return Err(Failure::invalid(
                            "the text was not changed; no new version was made",
                        ));
                    }
                    (vault, Some(body))
                }
                Some(text) => {
                    let body = read_text(&text, "")?;
                    (OpenVault::unlock(g, out)?, Some(body))
                }
                None => (OpenVault::unlock(g, out)?, None),
            };
            let amendment = Amendment {
                body,
                reason,
                changes,
            };
            let (id, version) = vault.amend(&id, &amendment)?;
            out.either(&json!({ "id": id.to_hex(), "version": version }), || {
                out.note(format!(
                    "Statement {} is now at version {version}.",
                    id.short()
                ));
                Ok(())
            })
        }
        StatementCommand::Seal { id } => {
            let mut vault = OpenVault::unlock(g, out)?;
            let (id, version) = vault.seal_statement(&id)?;
            out.either(
                &json!({ "id": id.to_hex(), "sealed_version": version }),
                || {
                    out.note(format!(
                        "Statement {} sealed at version {version}.",
                        id.short()
                    ));
                    Ok(())
                },
            )
        }
    }
}

fn witness_label(f: &StatementFields) -> String {
    match (&f.pseudonym, f.protected) {
        (Some(p), true) => format!("{} (protected; pseudonym {p})", f.witness),
        (Some(p), false) => format!("{} (pseudonym {p})", f.witness),
        _ => f.witness.clone(),
    }
}

pub fn evidence(g: &Global, out: &Output, cmd: EvidenceCommand) -> Result<(), Failure> {
    match cmd {
        EvidenceCommand::Add {
            case,
            statement,
            description,
            source,
            acquired_at,
            acquired_by,
            files,
        } => {
            // Check every file and walk every folder before writing any.
            enum Input {
                File(PathBuf, u64),
                Folder(FolderPlan),
            }
            let mut inputs = Vec::with_capacity(files.len());
            for f in files {
                if f.is_dir() {
                    let plan = plan_folder(&f)?;
                    for (name, why) in &plan.skipped {
                        out.note(format!("Skipped {name}: {why}."));
                    }
                    inputs.push(Input::Folder(plan));
                } else {
                    let size = check_input_file(&f)?;
                    inputs.push(Input::File(f, size));
                }
            }
            let total: u64 = inputs
                .iter()
                .map(|i| match i {
                    Input::File(_, size) => *size,
                    Input::Folder(plan) => plan.total_bytes(),
                })
                .sum();
            let mut vault = OpenVault::unlock(g, out)?;
            let input = NewEvidence {
                case,
                statement,
                description,
                source,
                acquired_at,
                acquired_by,
            };
            // One bar for everything, in bytes, on a terminal only.
            let bar = progress_bar(out, total, "evidence");
            let mut done = 0u64;
            let mut added: Vec<EvidenceSummary> = Vec::new();
            let mut failure = None;
            for item in &inputs {
                let mut progress = |n: u64| {
                    if let Some(b) = &bar {
                        b.set_position(done + n);
                    }
                };
                match item {
                    Input::File(file, size) => {
                        let result = vault.add_evidence(&input, file, &mut progress);
                        done += size;
                        match result {
                            Ok(e) => {
                                print_added(out, &e)?;
                                added.push(e);
                            }
                            Err(e) => {
                                failure = Some(e.into());
                                break;
                            }
                        }
                    }
                    Input::Folder(plan) => {
                        let outcome = vault.add_evidence_folder(&input, plan, &mut progress)?;
                        done += plan.total_bytes();
                        for e in outcome.added {
                            print_added(out, &e)?;
                            added.push(e);
                        }
                        for (name, id) in &outcome.already {
                            out.note(format!(
                                "Already in the case as {}: {name} (skipped).",
                                id.short()
                            ));
                        }
                        if let Some((name, e)) = outcome.error {
                            out.warn(format!("stopped at {name}; the files before it were added"));
                            failure = Some(e.into());
                            break;
                        }
                    }
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let flagged = added
                .iter()
                .filter(|e| !e.overview.metadata.is_empty())
                .count();
            if flagged > 0 {
                out.warn(format!(
                    "{flagged} file(s) carry identifying metadata; see `custodia evidence show ID`, \
                     and `custodia evidence strip ID` for JPEG photos"
                ));
            }
            if out.json {
                out.json(&added)?;
            }
            match failure {
                Some(f) => Err(f),
                None => Ok(()),
            }
        }
        EvidenceCommand::List { case } => {
            let mut vault = OpenVault::unlock(g, out)?;
            let (list, damaged) = vault.evidence(case.as_deref())?;
            warn_damaged(out, "evidence item", &damaged);
            out.either(&list, || {
                for e in &list {
                    out.line(format!(
                        "{}  {:<14} {:>12}  {:<24} {}",
                        e.id.short(),
                        e.case_reference,
                        e.overview.size,
                        e.overview.media_type,
                        e.overview.original_name
                    ))?;
                    if let Some(original) = &e.overview.stripped_from {
                        out.line(format!(
                            "        stripped copy of {}",
                            original.get(..12).unwrap_or(original)
                        ))?;
                    }
                }
                Ok(())
            })
        }
        EvidenceCommand::Show { id } => {
            let mut vault = OpenVault::unlock(g, out)?;
            let e = vault.show_evidence(&id)?;
            out.either(&e, || {
                let o = &e.overview;
                out.line(format!("Evidence     {}", e.id))?;
                out.line(format!("Case         {}", e.case_reference))?;
                out.line(format!("File name    {}", o.original_name))?;
                out.line(format!("Media type   {}", o.media_type))?;
                out.line(format!("Size         {} bytes", o.size))?;
                out.line(format!("SHA-256      {}", o.sha256))?;
                for (label, value) in [
                    ("Statement", &o.statement),
                    ("Description", &o.description),
                    ("Source", &o.source),
                    ("Acquired at", &o.acquired_at),
                    ("Acquired by", &o.acquired_by),
                ] {
                    if let Some(v) = value {
                        out.line(format!("{label:<13}{v}"))?;
                    }
                }
                if let Some(original) = &o.stripped_from {
                    out.line(format!("Stripped from {original}"))?;
                }
                if !o.metadata.is_empty() {
                    out.line(format!(
                        "Metadata     {} (identifying)",
                        describe(&o.metadata)
                    ))?;
                }
                out.line(format!("Added        {} by {}", o.added_at, o.added_by))
            })
        }
        EvidenceCommand::Strip { id } => {
            let mut vault = OpenVault::unlock(g, out)?;
            let bar = progress_bar(out, 0, "strip");
            let copy = vault.strip_evidence(&id, &mut |n| {
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            let o = &copy.overview;
            out.either(&copy, || {
                out.line(format!("{}  {}  {}", copy.id, o.sha256, o.original_name))?;
                out.note(format!(
                    "Sealed a stripped copy of {} as {} ({} bytes); `custodia export \
                     --stripped` exports it in place of the original.",
                    o.stripped_from.as_deref().unwrap_or_default(),
                    copy.id.short(),
                    o.size
                ));
                Ok(())
            })?;
            if !o.metadata.is_empty() {
                out.warn(format!(
                    "the copy still carries identifying metadata: {}",
                    describe(&o.metadata)
                ));
            }
            Ok(())
        }
        EvidenceCommand::Extract { id, out: path } => {
            let mut vault = OpenVault::unlock(g, out)?;
            let mut bar = None;
            let item = vault.extract_evidence(&id, &path, g.force, &mut |n| {
                if bar.is_none() {
                    bar = progress_bar(out, 0, "extract");
                }
                if let Some(b) = &bar {
                    b.set_position(n);
                }
            })?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            out.either(&json!({ "id": item.id.to_hex(), "out": path, "sha256": item.overview.sha256, "size": item.overview.size }), || {
                out.note(format!(
                    "Wrote {} ({} bytes, SHA-256 {} verified).",
                    path.display(),
                    item.overview.size,
                    item.overview.sha256
                ));
                Ok(())
            })
        }
    }
}

/// Prints one added exhibit, and a warning naming the kinds of identifying
/// metadata it carries (never their values).
fn print_added(out: &Output, e: &EvidenceSummary) -> Result<(), Failure> {
    if !out.json {
        out.line(format!(
            "{}  {}  {}",
            e.id, e.overview.sha256, e.overview.original_name
        ))?;
    }
    if !e.overview.metadata.is_empty() {
        out.warn(format!(
            "{} ({}) carries identifying metadata: {}",
            e.overview.original_name,
            e.id.short(),
            describe(&e.overview.metadata)
        ));
    }
    Ok(())
}

pub fn search(g: &Global, out: &Output, args: SearchArgs) -> Result<(), Failure> {
    let mut vault = OpenVault::unlock(g, out)?;
    let request = custodia::records::search::SearchRequest {
        query: args.query.join(" "),
        case: args.case,
        witness: args.witness,
        from: args.from,
        to: args.to,
        limit: usize::try_from(args.limit).unwrap_or(usize::MAX),
    };
    let found = vault.search(&request)?;
    warn_damaged(out, "statement", &found.damaged);
    out.either(&found, || {
        if found.statements.is_empty() && found.exhibits.is_empty() {
            out.note("Nothing matches.");
        }
        let colour = std::io::stdout().is_terminal();
        for h in &found.statements {
            out.line(format!(
                "{}  {}  v{}  {}",
                h.id.short(),
                h.case_reference,
                h.version,
                h.witness
            ))?;
            let mut pieces = vec![Piece::Data("    ")];
            if colour {
                pieces.extend(highlighted(&h.snippet, &h.highlights));
            } else {
                pieces.push(Piece::Data(&h.snippet));
            }
            out.styled_line(&pieces)?;
        }
        if found.more_statements > 0 {
            out.note(format!(
                "{} more statement(s) match; narrow the search or raise --limit",
                found.more_statements
            ));
        }
        if !found.exhibits.is_empty() {
            out.line("Exhibits")?;
        }
        for e in &found.exhibits {
            out.line(format!(
                "{}  {}  {}{}",
                e.id.short(),
                e.case_reference,
                e.name,
                e.description
                    .as_deref()
                    .map(|d| format!(" — {d}"))
                    .unwrap_or_default()
            ))?;
        }
        if found.more_exhibits > 0 {
            out.note(format!(
                "{} more exhibit(s) match; narrow the search or raise --limit",
                found.more_exhibits
            ));
        }
        Ok(())
    })
}

/// Set when a command left out damaged records: it then exits 4 after
/// showing the others (an integrity violation was found, SPEC §6).
pub static DAMAGED_SEEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Warns about records left out because they are damaged (or missing from
/// the file while the custody chain says they exist).
fn warn_damaged(out: &Output, kind: &str, ids: &[custodia::format::Id]) {
    if !ids.is_empty() {
        DAMAGED_SEEN.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    for id in ids {
        out.warn(format!(
            "{kind} {id} is damaged or missing and was left out; run `custodia check`"
        ));
    }
}
