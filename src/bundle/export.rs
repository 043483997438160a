//! Writing a sealed bundle: select the records, append an export event to
//! each (in the same transaction, so the bundle carries it), build the bag's
//! small files in memory, sign the tag manifest with minisign, and stream
//! everything (evidence straight from the vault) through a deterministic tar
//! into age. The output appears under its name only when complete.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use secrecy::SecretString;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layout::*;
use super::redact::{InContext, NameShield};
use super::report::{render, Protection, ReportInput, Signer};
use crate::audit::chains::verify_before_export;
use crate::audit::check::CheckReport;
use crate::audit::checkpoint::{current_state, sign_checkpoint};
use crate::custody::chain::{brought_history, check_handover, readable_events};
use crate::custody::Event;
use crate::custody::{self, Action};
use crate::error::{Error, Integrity, Invalid, Result};
use crate::files::{create_temp_beside, finish_temp, release_held, remove_leftovers, HoldBack};
use crate::format::Id;
use crate::format::Kind;
use crate::formats::bagit::{
    tag_manifest, write_bag_text, BagInfo, PayloadEntry, MANIFEST_NAME, TAG_MANIFEST_NAME,
};
use crate::formats::metadata::MetadataKind;
use crate::formats::minisign::{self, PublicKey};
use crate::formats::tar::{dedupe_names, sanitize_file_name, DeterministicTar};
use crate::records::case::find_case;
use crate::records::case::Case;
use crate::records::evidence::{self, reader_error, with_context, with_reader};
use crate::records::imported::imported_history;
use crate::records::statement::{self, read_version, StatementFields, StatementVersion};
use crate::records::{expect_record, refuse_withdrawn, Scope};
use crate::stream::write_behind;
use crate::vault::sealed::resolve;
use crate::vault::users::KeyDirectory;
use crate::vault::{KeyLimit, Session, Unlocked, Vault};
use rusqlite::Connection;

/// How the bundle is protected in transit.
pub enum Encryption {
    /// age X25519 recipients (`age1…`).
    Recipients(Vec<String>),
    /// An age passphrase (scrypt).
    Passphrase(SecretString),
    /// No encryption: the signed tar.
    None,
}

/// What to export.
pub struct ExportOptions {
    /// Case reference or id.
    pub case: String,
    /// Statement ids (prefixes); empty with no evidence given = whole case.
    pub statements: Vec<String>,
    /// Evidence ids (prefixes).
    pub evidence: Vec<String>,
    /// Encryption.
    pub encryption: Encryption,
    /// Show protected witnesses' names.
    pub reveal_protected: bool,
    /// Keep protected witnesses' names in statement texts (the opt-out of
    /// the default redaction, recorded in the export events). Without it,
    /// each text naming a protected witness is exported as a redacted copy
    /// whose SHA-256 the statement's export event records.
    pub keep_names_in_text: bool,
    /// Output file.
    pub out: PathBuf,
    /// Replace an existing output.
    pub force: bool,
    /// Export each exhibit's stripped copy (`evidence strip`) in place of
    /// the original, where it has one. Without it, a whole-case export
    /// carries the originals only (copies are exported when named).
    pub stripped: bool,
}

/// A protected name found in a statement text.
#[derive(Clone, Debug, Serialize)]
pub struct NameWarning {
    /// Statement id.
    pub statement: String,
    /// Version.
    pub version: u64,
    /// Occurrences of the protected name (or a part of it).
    pub occurrences: usize,
    /// Whether they were replaced in the exported copy.
    pub redacted: bool,
}

/// The result of an export.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    /// The bundle file.
    pub out: PathBuf,
    /// The bag's directory name.
    pub bag: String,
    /// Statements exported.
    pub statements: usize,
    /// Statement versions exported.
    pub versions: usize,
    /// Evidence items exported.
    pub evidence: usize,
    /// Bytes of the bag's payload (every file under `data/`: texts,
    /// exhibits, custody logs, keys, the report).
    pub payload_bytes: u64,
    /// Exporter key id (minisign label).
    pub signer_key_id: String,
    /// Exporter key fingerprint (SHA-256 of the key, hex): what the court
    /// compares.
    pub signer_fingerprint: String,
    /// Recipient fingerprints (SHA-256 of the recipient string, 16 hex).
    pub recipients: Vec<String>,
    /// Protected names found in texts.
    pub name_warnings: Vec<NameWarning>,
    /// Protected names replaced by pseudonyms in metadata (titles, places,
    /// reasons, exhibit names and descriptions…).
    pub metadata_redactions: usize,
    /// Statements with a protected witness whose real name this vault does
    /// not hold (imported with the identity withheld): their texts could
    /// not be checked for it.
    pub names_unknown: Vec<String>,
    /// How many aliases of protected witnesses were looked for (besides
    /// their whole names). Redaction covers those names and aliases only.
    pub aliases: usize,
    /// Exported exhibits carrying identifying metadata (kinds only).
    pub metadata_warnings: Vec<MetadataWarning>,
}

/// An exported exhibit whose bytes carry identifying metadata.
#[derive(Clone, Debug, Serialize)]
pub struct MetadataWarning {
    /// The exhibit's id, hex.
    pub evidence: String,
    /// Its path in the bundle.
    pub path: String,
    /// What it carries (kinds, never values).
    pub kinds: Vec<MetadataKind>,
}

/// A file of the bag: bytes held in memory, or an evidence item streamed.
enum Source {
    Bytes(Vec<u8>),
    Evidence(Id),
}

/// The fingerprint recorded for an age recipient.
pub(crate) fn recipient_fingerprint(recipient: &str) -> String {
    hex::encode(&Sha256::digest(recipient.trim().as_bytes())[..8])
}

/// Of `damaged` records (whose metadata cannot be read, so whose case is
/// unknown from it), those that may belong to case `case_hex`: their first
/// signed event (create or import) names that case, or cannot be read.
fn damaged_in_case(
    conn: &rusqlite::Connection,
    session: &crate::vault::Session<'_>,
    damaged: &[Id],
    case_hex: &str,
) -> Result<Vec<Id>> {
    let mut out = Vec::new();
    for id in damaged {
        let first = custody::record_events(conn, &session.vault_id, &session.keys.events, id)
            .ok()
            .and_then(|events| events.into_iter().next());
        let elsewhere = first.is_some_and(|(event, _)| {
            event
                .details
                .get("case")
                .and_then(|c| c.as_str())
                .is_some_and(|c| c != case_hex)
        });
        if !elsewhere {
            out.push(*id);
        }
    }
    Ok(out)
}

enum Sink<W: Write> {
    Age(age::stream::StreamWriter<W>),
    Plain(W),
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Age(w) => w.write(buf),
            Sink::Plain(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Age(w) => w.flush(),
            Sink::Plain(w) => w.flush(),
        }
    }
}

impl<W: Write> Sink<W> {
    fn finish(self) -> io::Result<W> {
        match self {
            Sink::Age(w) => w.finish(),
            Sink::Plain(w) => Ok(w),
        }
    }
}

fn json_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::Internal(format!("cannot encode bundle metadata: {e}")))?;
    v.push(b'\n');
    Ok(v)
}

fn bag_name(reference: &str) -> String {
    let s = sanitize_file_name(reference);
    if s.is_empty() || s == "unnamed" {
        "custodia-bundle".into()
    } else {
        s
    }
}

/// Refuses to go on when the shared verification (`check` without its
/// content pass) found a problem that concerns `records` (hex ids) or the
/// vault as a whole (see [`crate::audit::check::CheckReport::blocking`]).
/// `what` says what did not happen ("exported", "imported").
pub(crate) fn refuse_unless_clean(
    report: &crate::audit::check::CheckReport,
    records: Option<&[String]>,
    what: &str,
) -> Result<()> {
    let blocking: Vec<_> = report.blocking(records).collect();
    match blocking.first() {
        None => Ok(()),
        Some(first) => Err(Error::Integrity(Integrity::NotClean {
            problems: blocking.len(),
            first: first.message.clone(),
            what: what.to_string(),
        })),
    }
}

impl Vault<Unlocked> {
    /// Exports a sealed bundle (SPEC §5), in four steps: [`select`] the
    /// records, [`record_export`] the export events (in the same
    /// transaction, so the bundle carries them), [`build_bag`] the bag's
    /// files, and [`write_bundle`] them through tar and age. The output
    /// appears under its name only once the events are committed.
    pub fn export(
        &mut self,
        opts: &ExportOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ExportSummary> {
        if opts.out.exists() && !opts.force {
            return Err(Error::AlreadyExists(opts.out.clone()));
        }
        let exporter = self.exporter(opts)?;
        remove_leftovers(&opts.out);
        let (tmp_path, file) = create_temp_beside(&opts.out)?;
        let recorded = self.write(|tx, session| {
            let selection = select(tx, session, opts)?;
            let mut files = Files::new();
            let (mut shield, names_unknown) = protected_names(tx, session, opts, &selection)?;
            let mut docs = Documents {
                aliases: shield.alias_count(),
                ..Documents::default()
            };
            let case_doc = case_document(&selection, &mut shield, &mut docs, &mut files)?;
            statement_documents(
                tx, session, opts, &selection, &shield, &mut docs, &mut files,
            )?;
            evidence_documents(tx, session, &selection, &shield, &mut docs, &mut files)?;
            refuse_unless_clean(&exporter.audit, Some(&selection.hex_ids()), "exported")?;
            // Every file of the bundle is dated with the export event's
            // time: a clerk unpacks files dated the day of the export, and
            // the bytes stay reproducible from the signed event.
            let exported_at = record_export(tx, session, opts, &exporter, &selection, &docs)?;
            let custody = custody_files(tx, session, &exporter, &selection, &mut files)?;
            let bundle_file = report_file_name(opts, &shield);
            let bag = build_bag(
                tx,
                session,
                opts,
                &bundle_file,
                &exporter,
                &selection,
                &case_doc,
                &docs,
                &custody,
                files,
            )?;
            // The bundle's last bytes wait for the commit of the export
            // events: a kill before it leaves no complete bundle (issue 17).
            let mut held = write_bundle(
                tx,
                session,
                bag.entries,
                exported_at,
                HoldBack::syncing_early(file),
                &opts.encryption,
                &exporter.recipients,
                progress,
                &opts.out,
            )?;
            // Room for the held bytes before the commit: a full disk fails
            // here, with the export events rolled back.
            held.reserve()
                .map_err(|e| Error::io(format!("cannot write {}", opts.out.display()), e))?;
            let summary = ExportSummary {
                out: opts.out.clone(),
                bag: bag.name,
                statements: selection.statements.len(),
                versions: docs.versions_total,
                evidence: selection.evidence.len(),
                payload_bytes: bag.payload_bytes,
                signer_key_id: exporter.key.key_id_hex(),
                signer_fingerprint: exporter.key.fingerprint(),
                recipients: exporter.fingerprints.clone(),
                name_warnings: docs.warnings,
                metadata_redactions: docs.metadata_redactions,
                names_unknown,
                aliases: docs.aliases,
                metadata_warnings: docs.metadata_warnings,
            };
            Ok((summary, held))
        });
        // Committed: now the bundle may become complete.
        let mut open_file = None;
        let completed = recorded.and_then(|(summary, held)| {
            open_file = Some(release_held(held, &opts.out)?);
            Ok(summary)
        });
        let placed = finish_temp(completed, &tmp_path, &opts.out, opts.force);
        // Closed (unlocked) only once renamed: see `remove_leftovers`.
        drop(open_file);
        placed
    }

    /// Everything the export needs before its transaction: the recipients
    /// (checked), the vault's audit (one verification serves `check` and
    /// `export`), the key directory and the exporter's keys.
    fn exporter(&mut self, opts: &ExportOptions) -> Result<Exporter> {
        let recipients = match &opts.encryption {
            Encryption::Recipients(list) => {
                if list.is_empty() {
                    return Err(Error::Invalid(Invalid::Recipient {
                        problem: "give at least one --recipient".into(),
                    }));
                }
                list.iter()
                    .map(|r| check_recipient(r))
                    .collect::<Result<Vec<_>>>()?
            }
            _ => Vec::new(),
        };
        let fingerprints: Vec<String> = match &opts.encryption {
            Encryption::Recipients(list) => list.iter().map(|r| recipient_fingerprint(r)).collect(),
            _ => Vec::new(),
        };
        let encryption_label = match &opts.encryption {
            Encryption::Recipients(_) => "age-recipients",
            Encryption::Passphrase(_) => "age-passphrase",
            Encryption::None => "none",
        };
        // A vault that `check` would call tampered (a deleted version or
        // record, a restored slot, a broken chain…) exports nothing.
        let audit = self.audit(None)?;
        // Every problem blocks, but the marks left after a rebuilt state,
        // which block only the records they concern (checked in the
        // transaction, once the selection is known).
        refuse_unless_clean(&audit, Some(&[]), "exported")?;
        Ok(Exporter {
            recipients,
            fingerprints,
            encryption_label,
            audit,
            directory: self.key_directory()?,
            limits: self.key_limits()?,
            vault_hex: self.id().to_hex(),
            key: PublicKey::new(self.signing_key().verifying_key()),
            name: self.user().name.clone(),
            signing: self.signing_key().dalek().clone(),
            zone: self.settings()?.zone(),
        })
    }
}

/// What the export knows before its transaction starts.
struct Exporter {
    recipients: Vec<age::x25519::Recipient>,
    fingerprints: Vec<String>,
    encryption_label: &'static str,
    audit: CheckReport,
    directory: KeyDirectory,
    limits: HashMap<String, KeyLimit>,
    vault_hex: String,
    key: PublicKey,
    name: String,
    signing: ed25519_dalek::SigningKey,
    /// The vault's time zone (from its sealed settings), for the report.
    zone: Option<time::UtcOffset>,
}

/// The records an export carries.
struct Selection {
    case: Case,
    case_hex: String,
    statements: Vec<Id>,
    evidence: Vec<Id>,
    /// (original, stripped copy) for each original replaced by `--stripped`.
    substituted: Vec<(Id, Id)>,
}

impl Selection {
    /// The case, then the statements, then the exhibits.
    fn ids(&self) -> impl Iterator<Item = &Id> {
        std::iter::once(&self.case.id)
            .chain(&self.statements)
            .chain(&self.evidence)
    }

    fn hex_ids(&self) -> Vec<String> {
        self.ids().map(Id::to_hex).collect()
    }
}

/// The bag's payload files by path: size, SHA-256 and where the bytes come
/// from.
type Files = BTreeMap<String, (u64, [u8; 32], Source)>;

fn add_bytes(files: &mut Files, path: String, bytes: Vec<u8>) {
    let digest: [u8; 32] = Sha256::digest(&bytes).into();
    files.insert(path, (bytes.len() as u64, digest, Source::Bytes(bytes)));
}

/// Step 1: the case, and its statements and exhibits (all of them, or
/// those named; a record named twice is exported, and recorded, once).
fn select(tx: &Connection, session: &Session<'_>, opts: &ExportOptions) -> Result<Selection> {
    let case = find_case(tx, session, &opts.case)?;
    let case_hex = case.id.to_hex();
    let mut statements = Vec::new();
    let mut evidence = Vec::new();
    if opts.statements.is_empty() && opts.evidence.is_empty() {
        let (in_case, bad_s) = statement::summaries(tx, session, Some(&case.id), Scope::Active)?;
        let (items, bad_e) = evidence::summaries(tx, session, Some(&case.id))?;
        let damaged: Vec<Id> = bad_s.iter().chain(&bad_e).copied().collect();
        if let Some(bad) = damaged_in_case(tx, session, &damaged, &case_hex)?.first() {
            // A court bundle must never silently miss a record.
            return Err(Error::Integrity(Integrity::Export {
                problem: format!(
                    "record {bad} of this case is damaged, so the case cannot be exported \
                 whole; run `custodia check`"
                ),
            }));
        }
        statements.extend(in_case.iter().map(|s| s.id));
        // Stripped copies stand in for their originals only when asked.
        evidence.extend(
            items
                .iter()
                .filter(|e| e.overview.stripped_from.is_none())
                .map(|e| e.id),
        );
    } else {
        for s in &opts.statements {
            let id = resolve(tx, Kind::Statement, s)?;
            let chain = expect_record(tx, session, &id, Kind::Statement)?;
            refuse_withdrawn(&chain, Kind::Statement, &id, "exported")?;
            if !statements.contains(&id) {
                statements.push(id);
            }
        }
        for e in &opts.evidence {
            let id = resolve(tx, Kind::Evidence, e)?;
            let chain = expect_record(tx, session, &id, Kind::Evidence)?;
            refuse_withdrawn(&chain, Kind::Evidence, &id, "exported")?;
            if !evidence.contains(&id) {
                evidence.push(id);
            }
        }
    }
    let mut substituted = Vec::new();
    if opts.stripped {
        // The newest stripped copy of each original.
        let (items, _) = evidence::summaries(tx, session, Some(&case.id))?;
        let mut copies: BTreeMap<String, (String, Id)> = BTreeMap::new();
        for e in items {
            if let Some(original) = e.overview.stripped_from {
                let newer = copies
                    .get(&original)
                    .is_none_or(|(at, _)| *at <= e.overview.added_at);
                if newer {
                    copies.insert(original, (e.overview.added_at, e.id));
                }
            }
        }
        let mut replaced = Vec::with_capacity(evidence.len());
        for id in evidence {
            let chosen = match copies.get(&id.to_hex()) {
                Some((_, copy)) => {
                    substituted.push((id, *copy));
                    *copy
                }
                None => id,
            };
            if !replaced.contains(&chosen) {
                replaced.push(chosen);
            }
        }
        evidence = replaced;
    }
    Ok(Selection {
        case,
        case_hex,
        statements,
        evidence,
        substituted,
    })
}

/// Every protected witness of the case, in every version, unless
/// identities are revealed: their names are kept out of all metadata, and
/// replaced (or, with --keep-names-in-text, counted) in the texts. Also
/// the selected statements whose protected witness had no name to look
/// for.
fn protected_names(
    tx: &Connection,
    session: &Session<'_>,
    opts: &ExportOptions,
    selection: &Selection,
) -> Result<(NameShield, Vec<String>)> {
    let mut shield = NameShield::new();
    let mut unknown_names = Vec::new();
    if opts.reveal_protected {
        return Ok((shield, unknown_names));
    }
    let case = &selection.case;
    // Withdrawn statements too: their witnesses may be named elsewhere.
    let (in_case, damaged) =
        statement::summaries(tx, session, Some(&case.id), Scope::WithWithdrawn)?;
    if let Some(bad) = damaged_in_case(tx, session, &damaged, &selection.case_hex)?.first() {
        // Its witness may be protected: we could not keep their name out
        // of the bundle.
        return Err(Error::Integrity(Integrity::Export {
            problem: format!(
                "statement {bad} of this case is damaged, so its protected witness's \
             name cannot be kept out of the bundle; run `custodia check`"
            ),
        }));
    }
    for summary in &in_case {
        // Newest first: a name found in several versions gets the latest
        // pseudonym, and the latest version's aliases are the ones looked
        // for (an amendment's list replaces the earlier one).
        let mut history = statement::history(tx, session, &summary.id)?;
        history.reverse();
        let Some(latest) = history.first().map(|o| o.fields.clone()) else {
            continue;
        };
        if latest.protected {
            for alias in &latest.aliases {
                shield.add_alias(alias, latest.public_name());
            }
        }
        for o in &history {
            let f = &o.fields;
            let hex = summary.id.to_hex();
            let (protected, pseudonym) = withheld_as(f, &latest);
            if protected
                && !shield.add(&f.witness, pseudonym)
                && selection.statements.contains(&summary.id)
                && !unknown_names.contains(&hex)
            {
                unknown_names.push(hex);
            }
        }
    }
    Ok((shield, unknown_names))
}

/// Whether version `f` of a statement is exported as protected, and the
/// pseudonym it shows: a version is protected when it or the latest version
/// is (a witness made protected by an amendment is withheld in every
/// version, the earlier ones included; no amendment makes one unprotected),
/// under its own pseudonym, else the latest one's.
fn withheld_as<'a>(f: &'a StatementFields, latest: &'a StatementFields) -> (bool, &'a str) {
    if f.protected {
        (true, f.public_name())
    } else if latest.protected {
        (true, latest.public_name())
    } else {
        (false, f.public_name())
    }
}

/// The documents of the bag (what the report and the summary show).
#[derive(Default)]
struct Documents {
    statements: Vec<(StatementDoc, String)>,
    redacted_copies: HashMap<Id, Vec<(u64, String)>>,
    warnings: Vec<NameWarning>,
    versions_total: usize,
    evidence: Vec<EvidenceDoc>,
    metadata_redactions: usize,
    /// Aliases looked for (their count only is recorded).
    aliases: usize,
    metadata_warnings: Vec<MetadataWarning>,
}

fn case_document(
    selection: &Selection,
    shield: &mut NameShield,
    docs: &mut Documents,
    files: &mut Files,
) -> Result<CaseDoc> {
    let case = &selection.case;
    let m = &mut docs.metadata_redactions;
    let case_doc = CaseDoc {
        id: selection.case_hex.clone(),
        reference: case.data.reference.clone(),
        title: shield.field(&case.data.title, m),
        description: shield.optional(&case.data.description, m),
        tags: case.data.tags.iter().map(|t| shield.field(t, m)).collect(),
        created_at: case.data.created_at.clone(),
        created_by: case.data.created_by.clone(),
    };
    add_bytes(files, CASE_JSON.into(), json_bytes(&case_doc)?);
    Ok(case_doc)
}

/// Every version of every selected statement: its JSON document and its
/// text, protected names replaced by default.
fn statement_documents(
    tx: &Connection,
    session: &Session<'_>,
    opts: &ExportOptions,
    selection: &Selection,
    shield: &NameShield,
    docs: &mut Documents,
    files: &mut Files,
) -> Result<()> {
    for_each_selected_version(tx, session, selection, |id, latest, shown| {
        let v = shown.overview.version;
        {
            let f = &shown.overview.fields;
            let (protected, pseudonym) = withheld_as(f, &latest.overview.fields);
            let withhold = protected && !opts.reveal_protected;
            // The testimony itself: protected names replaced by default (a
            // redacted copy), kept only on request.
            let redact = !opts.keep_names_in_text;
            let (text, count) = if redact {
                shield.replace(&shown.body)
            } else {
                (shown.body.clone(), shield.count(&shown.body))
            };
            if count > 0 {
                docs.warnings.push(NameWarning {
                    statement: id.to_hex(),
                    version: v,
                    occurrences: count,
                    redacted: redact,
                });
            }
            let redactions = if redact { count } else { 0 };
            // Metadata (the amendment reason included): always.
            let m = &mut docs.metadata_redactions;
            let reason = shield.optional(&shown.overview.reason, m);
            let text_sha = hex::encode(Sha256::digest(text.as_bytes()));
            let doc = StatementDoc {
                id: id.to_hex(),
                version: v,
                versions: latest.versions,
                witness: if withhold {
                    pseudonym.to_owned()
                } else {
                    f.witness.clone()
                },
                identity_withheld: withhold,
                pseudonym: if protected {
                    Some(pseudonym.to_owned())
                } else {
                    None
                },
                protected,
                language: shield.optional(&f.language, m),
                taken_at: f.taken_at.clone(),
                place: shield.optional(&f.place, m),
                interviewer: shield.optional(&f.interviewer, m),
                interpreter: shield.optional(&f.interpreter, m),
                consent: shield.optional(&f.consent, m),
                source: shield.optional(&f.source, m),
                reason,
                created_at: shown.overview.created_at.clone(),
                created_by: shown.overview.created_by.clone(),
                sealed: shown.sealed,
                text_sha256: text_sha,
                original_sha256: shown.overview.body_sha256.clone(),
                redactions,
            };
            add_bytes(files, statement_json_path(&doc.id, v), json_bytes(&doc)?);
            if redactions > 0 {
                docs.redacted_copies
                    .entry(*id)
                    .or_default()
                    .push((v, doc.text_sha256.clone()));
            }
            add_bytes(
                files,
                statement_text_path(&doc.id, v),
                text.clone().into_bytes(),
            );
            docs.statements.push((doc, text));
            docs.versions_total += 1;
        }
        Ok(())
    })
}

/// Visits every version of every selected statement, oldest first, with
/// the statement's latest version (whose protection governs them all);
/// a statement of another case is refused. Shared by the export and its
/// preview, so both see the same texts.
fn for_each_selected_version(
    tx: &Connection,
    session: &Session<'_>,
    selection: &Selection,
    mut visit: impl FnMut(&Id, &StatementVersion, &StatementVersion) -> Result<()>,
) -> Result<()> {
    for id in &selection.statements {
        let latest = read_version(tx, session, id, None)?;
        if latest.overview.case != selection.case_hex {
            return Err(Error::Invalid(Invalid::OtherCase {
                kind: Kind::Statement,
                record: *id,
            }));
        }
        for v in 1..=latest.versions {
            let shown = read_version(tx, session, id, Some(v))?;
            visit(id, &latest, &shown)?;
        }
    }
    Ok(())
}

/// The selected exhibits' overviews; an exhibit of another case is refused.
fn selected_exhibits(
    tx: &Connection,
    session: &Session<'_>,
    selection: &Selection,
) -> Result<Vec<(Id, evidence::EvidenceOverview)>> {
    let mut overviews = Vec::with_capacity(selection.evidence.len());
    for id in &selection.evidence {
        let o = evidence::overview(tx, session, id)?;
        if o.case != selection.case_hex {
            return Err(Error::Invalid(Invalid::OtherCase {
                kind: Kind::Evidence,
                record: *id,
            }));
        }
        overviews.push((*id, o));
    }
    Ok(overviews)
}

/// The selected exhibits: metadata now, bytes streamed by [`write_bundle`].
fn evidence_documents(
    tx: &Connection,
    session: &Session<'_>,
    selection: &Selection,
    shield: &NameShield,
    docs: &mut Documents,
    files: &mut Files,
) -> Result<()> {
    let overviews = selected_exhibits(tx, session, selection)?;
    let m = &mut docs.metadata_redactions;
    let shown_names: Vec<String> = overviews
        .iter()
        .map(|(_, o)| shield.field(&o.original_name, m))
        .collect();
    // A folder's file keeps its relative path in its name
    // (`photos/2026-03-14/IMG_0042.jpg`): flattened with `_` in the bundle,
    // so no `/`, `..` or absolute path reaches the archive.
    let names: Vec<String> = shown_names
        .iter()
        .map(|n| sanitize_file_name(&n.replace(['/', '\\'], "_")))
        .collect();
    let names = dedupe_names(&names);
    for (((id, o), name), shown_name) in overviews.iter().zip(names).zip(shown_names) {
        let path = format!("{EVIDENCE_DIR}{name}");
        let digest: [u8; 32] = hex::decode(&o.sha256)
            .ok()
            .and_then(|d| d.try_into().ok())
            .ok_or_else(|| {
                Error::Integrity(Integrity::RecordDamaged {
                    record: *id,
                    problem: format!("evidence {id}: malformed SHA-256"),
                })
            })?;
        files.insert(path.clone(), (o.size, digest, Source::Evidence(*id)));
        if !o.metadata.is_empty() {
            docs.metadata_warnings.push(MetadataWarning {
                evidence: id.to_hex(),
                path: path.clone(),
                kinds: o.metadata.clone(),
            });
        }
        let m = &mut docs.metadata_redactions;
        docs.evidence.push(EvidenceDoc {
            id: id.to_hex(),
            path,
            original_name: shown_name,
            media_type: o.media_type.clone(),
            size: o.size,
            sha256: o.sha256.clone(),
            statement: o.statement.clone(),
            description: shield.optional(&o.description, m),
            source: shield.optional(&o.source, m),
            acquired_at: o.acquired_at.clone(),
            acquired_by: shield.optional(&o.acquired_by, m),
            added_at: o.added_at.clone(),
            added_by: o.added_by.clone(),
        });
    }
    add_bytes(files, EVIDENCE_JSON.into(), json_bytes(&docs.evidence)?);
    Ok(())
}

/// One replacement an export would make, as `export --preview` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PreviewItem {
    /// The record: `case`, `statement` or `evidence`.
    pub kind: &'static str,
    /// The record's id (hex).
    pub id: String,
    /// The statement version (statements only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Where: `text` (the testimony), `witness` (the name field, withheld),
    /// or the metadata field's name.
    pub field: &'static str,
    /// The name in its context, and what replaces it.
    #[serde(flatten)]
    pub context: InContext,
    /// False where the export would keep the name (`--keep-names-in-text`,
    /// statement texts only).
    pub replaced: bool,
}

/// What `export --preview` shows: every replacement the export would
/// make, in context. Nothing is written but one `view` event on each record
/// whose content it shows.
#[derive(Clone, Debug, Serialize)]
pub struct ExportPreview {
    /// The case's reference.
    pub case: String,
    /// Every replacement, in the order of the bundle (case, statements and
    /// their versions, exhibits).
    pub replacements: Vec<PreviewItem>,
    /// How many aliases are looked for.
    pub aliases: usize,
    /// Statements whose protected witness's real name this vault does not
    /// hold (see [`ExportSummary::names_unknown`]).
    pub names_unknown: Vec<String>,
}

fn preview_field(
    items: &mut Vec<PreviewItem>,
    shield: &NameShield,
    (kind, id, version): (&'static str, &Id, Option<u64>),
    field: &'static str,
    text: Option<&str>,
    replaced: bool,
) {
    let Some(text) = text else { return };
    for context in shield.in_context(text) {
        items.push(PreviewItem {
            kind,
            id: id.to_hex(),
            version,
            field,
            context,
            replaced,
        });
    }
}

impl Vault<Unlocked> {
    /// `export --preview`: the replacements the export `opts` describes
    /// would make (its encryption, output and `--force` are not used), with
    /// the original names in context, for the user to judge before
    /// anything is written. Writes no file and no `export` event; since it
    /// shows testimony and protected names, it appends a `view` event (SPEC
    /// §4) to each record whose content it shows, recording the count of
    /// replacements shown, never the names.
    pub fn preview_export(&mut self, opts: &ExportOptions) -> Result<ExportPreview> {
        self.write(|tx, session| {
            let selection = select(tx, session, opts)?;
            let (shield, names_unknown) = protected_names(tx, session, opts, &selection)?;
            let mut items = Vec::new();
            let case = &selection.case;
            let at = ("case", &case.id, None);
            preview_field(
                &mut items,
                &shield,
                at,
                "title",
                Some(&case.data.title),
                true,
            );
            let description = case.data.description.as_deref();
            preview_field(&mut items, &shield, at, "description", description, true);
            for tag in &case.data.tags {
                preview_field(&mut items, &shield, at, "tag", Some(tag), true);
            }
            for_each_selected_version(tx, session, &selection, |id, latest, shown| {
                let v = shown.overview.version;
                {
                    let f = &shown.overview.fields;
                    let at = ("statement", id, Some(v));
                    let (protected, pseudonym) = withheld_as(f, &latest.overview.fields);
                    if protected && !opts.reveal_protected && f.witness != pseudonym {
                        items.push(PreviewItem {
                            kind: "statement",
                            id: id.to_hex(),
                            version: Some(v),
                            field: "witness",
                            context: InContext {
                                before: String::new(),
                                name: f.witness.clone(),
                                pseudonym: pseudonym.to_owned(),
                                after: String::new(),
                            },
                            replaced: true,
                        });
                    }
                    let in_text = !opts.keep_names_in_text;
                    preview_field(&mut items, &shield, at, "text", Some(&shown.body), in_text);
                    for (field, value) in [
                        ("reason", &shown.overview.reason),
                        ("language", &f.language),
                        ("place", &f.place),
                        ("interviewer", &f.interviewer),
                        ("interpreter", &f.interpreter),
                        ("consent", &f.consent),
                        ("source", &f.source),
                    ] {
                        preview_field(&mut items, &shield, at, field, value.as_deref(), true);
                    }
                }
                Ok(())
            })?;
            for (id, o) in &selected_exhibits(tx, session, &selection)? {
                let at = ("evidence", id, None);
                let name = Some(o.original_name.as_str());
                preview_field(&mut items, &shield, at, "original_name", name, true);
                for (field, value) in [
                    ("description", &o.description),
                    ("source", &o.source),
                    ("acquired_by", &o.acquired_by),
                ] {
                    preview_field(&mut items, &shield, at, field, value.as_deref(), true);
                }
            }
            // What was shown of each record is logged as a view of it.
            let mut shown: Vec<(Kind, Id, usize)> = Vec::new();
            for (kind, id) in std::iter::once((Kind::Case, case.id))
                .chain(selection.statements.iter().map(|i| (Kind::Statement, *i)))
                .chain(selection.evidence.iter().map(|i| (Kind::Evidence, *i)))
            {
                let hex = id.to_hex();
                let n = items.iter().filter(|i| i.id == hex).count();
                if n > 0 {
                    shown.push((kind, id, n));
                }
            }
            for (kind, id, n) in shown {
                session.append(
                    tx,
                    kind,
                    &id,
                    Action::View,
                    serde_json::json!({ "export_preview": true, "replacements": n }),
                )?;
            }
            Ok(ExportPreview {
                case: case.data.reference.clone(),
                replacements: items,
                aliases: shield.alias_count(),
                names_unknown,
            })
        })
    }
}

/// Step 2: the export events, in the export's transaction and before the
/// custody logs are read, so the bundle carries them. A statement's event
/// records the SHA-256 of each redacted copy it exports.
fn record_export(
    tx: &Connection,
    session: &Session<'_>,
    opts: &ExportOptions,
    exporter: &Exporter,
    selection: &Selection,
    docs: &Documents,
) -> Result<u64> {
    let details = serde_json::json!({
        "encryption": exporter.encryption_label,
        "recipients": exporter.fingerprints,
        "reveal_protected": opts.reveal_protected,
        "redact_names": !opts.keep_names_in_text && !opts.reveal_protected,
        "keep_names_in_text": opts.keep_names_in_text,
        // How many aliases were looked for; never their text (they are
        // names of protected witnesses).
        "aliases": docs.aliases,
    });
    let mut details = details;
    if opts.stripped {
        // Which copies stood in for which originals.
        details["stripped"] = serde_json::json!(true);
        details["stripped_copies"] = selection
            .substituted
            .iter()
            .map(|(original, copy)| {
                serde_json::json!({ "original": original.to_hex(), "copy": copy.to_hex() })
            })
            .collect();
    }
    let event = session.append(
        tx,
        Kind::Case,
        &selection.case.id,
        Action::Export,
        details.clone(),
    )?;
    for id in &selection.statements {
        let mut d = details.clone();
        if let Some(copies) = docs.redacted_copies.get(id) {
            d[REDACTED_SHA256] = copies
                .iter()
                .map(|(v, sha)| (v.to_string(), serde_json::json!(sha)))
                .collect::<serde_json::Map<_, _>>()
                .into();
        }
        session.append(tx, Kind::Statement, id, Action::Export, d)?;
    }
    for id in &selection.evidence {
        session.append(tx, Kind::Evidence, id, Action::Export, details.clone())?;
    }
    // The time of the case's export event, as seconds since the epoch.
    let at =
        time::OffsetDateTime::parse(&event.time, &time::format_description::well_known::Rfc3339)
            .map(|t| u64::try_from(t.unix_timestamp()).unwrap_or(0))
            .unwrap_or(0);
    Ok(at)
}

/// The custody the bag carries: its events (for the report), the events of
/// earlier vaults, and every key that signed one.
struct Custody {
    events: Vec<Event>,
    prior_events: Vec<Event>,
    signers: BTreeMap<String, PublicKey>,
}

/// Every event of every exported record (checked whole first), and the
/// chains an imported record brought from earlier vaults, as files.
fn custody_files(
    tx: &Connection,
    session: &Session<'_>,
    exporter: &Exporter,
    selection: &Selection,
    files: &mut Files,
) -> Result<Custody> {
    let exported: Vec<Id> = selection.ids().copied().collect();
    let mut signers: BTreeMap<String, PublicKey> = BTreeMap::new();
    signers.insert(exporter.key.key_id_hex(), exporter.key.clone());
    let mut report_events = Vec::new();
    let mut prior_events = Vec::new();
    let all = custody::all_events(tx, &session.vault_id, &session.keys.events)?;
    // Parsed once; each exported record's events found by index.
    let events = verify_before_export(
        &all,
        &exporter.vault_hex,
        &exported,
        &exporter.directory,
        &exporter.limits,
    )?;
    let mut by_record: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        by_record.entry(event.record.as_str()).or_default().push(i);
    }
    for id in &exported {
        let hex_id = id.to_hex();
        let mine = by_record
            .get(hex_id.as_str())
            .map_or(&[][..], Vec::as_slice);
        let mut lines = Vec::new();
        for &i in mine {
            let event = &events[i];
            if let Some((_, key)) = exporter.directory.get(&event.key_id) {
                signers.insert(event.key_id.clone(), PublicKey::new(*key));
            }
            lines.extend(serde_json::to_vec(&all[i]).map_err(|e| Error::Internal(e.to_string()))?);
            lines.push(b'\n');
            report_events.push(event.clone());
        }
        add_bytes(files, custody_path(&hex_id), lines);
        // An imported record's chains from earlier vaults, as signed there,
        // with the keys that signed them. A broken one is not sent to a
        // court: `check` names it.
        let history = imported_history(tx, session, id)?;
        let first = mine.first().map(|&i| events[i].clone());
        if history.is_none() && first.as_ref().is_some_and(brought_history) {
            return Err(Error::Integrity(Integrity::Export { problem: format!(
                "record {} was imported with an earlier custody history, which is missing; run `custodia check`",
                id.short()
            ) }));
        }
        let Some(history) = history else {
            continue;
        };
        let verified_all = history.verify(&hex_id);
        for (n, (chain, verified)) in history.chains.iter().zip(verified_all).enumerate() {
            // Whole up to the import that followed it (the next earlier
            // chain, or this vault's own).
            let next = match history.chains.get(n + 1) {
                Some(text) => readable_events(text).into_iter().next(),
                None => first.clone(),
            };
            if verified.is_intact() {
                if let Some(why) = check_handover(&verified, next.as_ref()) {
                    return Err(Error::Integrity(Integrity::Export { problem: format!(
                        "the custody history record {} brought from an earlier vault was cut short or padded ({why}); run `custodia check`",
                        id.short()
                    ) }));
                }
            }
            if let Some((pos, why)) = verified.broken {
                return Err(Error::Integrity(Integrity::Export { problem: format!(
                    "the custody history record {} brought from an earlier vault is broken at event {pos} ({why}); run `custodia check`",
                    id.short()
                ) }));
            }
            for event in verified.events {
                if let Some(key) = history.key(&event.key_id) {
                    signers.insert(event.key_id.clone(), PublicKey::new(key));
                }
                prior_events.push(event);
            }
            add_bytes(
                files,
                prior_custody_path(&hex_id, n + 1),
                chain.as_bytes().to_vec(),
            );
        }
    }
    report_events.sort_by_key(|e| e.position);
    Ok(Custody {
        events: report_events,
        prior_events,
        signers,
    })
}

/// The bundle's file name as the report's instructions give it: `--out`
/// without its folder, or `bundle.age` (`bundle.tar` unencrypted) when
/// that name holds a protected witness's name, which must not enter the bag.
fn report_file_name(opts: &ExportOptions, shield: &NameShield) -> String {
    let generic = match opts.encryption {
        Encryption::None => "bundle.tar",
        _ => "bundle.age",
    };
    let Some(name) = opts
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return generic.into();
    };
    let mut replaced = 0;
    if shield.field(&name, &mut replaced) != name || replaced > 0 {
        return generic.into();
    }
    name
}

/// A bag ready to write: its directory name and every entry by path.
struct Bag {
    name: String,
    /// Bytes of every payload file (`data/…`: statements, exhibits,
    /// custody logs, keys, the report), as the manifest lists them.
    payload_bytes: u64,
    entries: BTreeMap<String, Source>,
}

/// Step 3: the signers' keys, the checkpoint, the report, the tag files
/// and the minisign signature over the tag manifest.
#[allow(clippy::too_many_arguments)]
fn build_bag(
    tx: &Connection,
    session: &Session<'_>,
    opts: &ExportOptions,
    bundle_file: &str,
    exporter: &Exporter,
    selection: &Selection,
    case_doc: &CaseDoc,
    docs: &Documents,
    custody: &Custody,
    mut files: Files,
) -> Result<Bag> {
    let case = &selection.case;
    for (key_id, key) in &custody.signers {
        let comment = format!("custodia signing key {key_id}");
        add_bytes(
            &mut files,
            signer_path(key_id),
            key.to_file_string(&comment).into_bytes(),
        );
    }
    let (count, head) = current_state(tx, session)?;
    let receipt = sign_checkpoint(session, count, &head).receipt();
    let date = time::OffsetDateTime::now_utc().date();
    let date_text = format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let name = bag_name(&case.data.reference);
    let protection = match &opts.encryption {
        Encryption::Recipients(list) => Protection::Recipients(list.len()),
        Encryption::Passphrase(_) => Protection::Passphrase,
        Encryption::None => Protection::None,
    };
    let key_id = exporter.key.key_id_hex();
    let fingerprint = exporter.key.fingerprint();
    let report = render(&ReportInput {
        case: case_doc,
        statements: &docs.statements,
        evidence: &docs.evidence,
        events: &custody.events,
        prior_events: &custody.prior_events,
        signer: Signer {
            name: &exporter.name,
            key_id: &key_id,
            fingerprint: &fingerprint,
        },
        date: &date_text,
        checkpoint: &receipt,
        bag: &name,
        bundle_file,
        protection,
        zone: exporter.zone,
    });
    add_bytes(&mut files, REPORT_HTML.into(), report.into_bytes());

    // Tag files.
    let payload_bytes = files.values().map(|(size, _, _)| *size).sum();
    let payload: Vec<PayloadEntry> = files
        .iter()
        .map(|(path, (size, digest, _))| PayloadEntry {
            path: path.clone(),
            size: *size,
            sha256: *digest,
        })
        .collect();
    let info = BagInfo {
        fields: vec![
            ("Source-Organization".into(), "Custodia".into()),
            (INFO_CASE.into(), case.data.reference.clone()),
            (INFO_EXPORTER.into(), exporter.name.clone()),
            (INFO_EXPORTER_KEY.into(), exporter.key.key_id_hex()),
            (INFO_CHECKPOINT.into(), receipt.clone()),
        ],
    };
    let text = write_bag_text(&payload, &info, date).map_err(|e| Error::Internal(e.to_string()))?;
    let tagman = tag_manifest(&[
        ("bagit.txt", text.bagit_txt.as_bytes()),
        ("bag-info.txt", text.bag_info_txt.as_bytes()),
        (MANIFEST_NAME, text.manifest_sha256_txt.as_bytes()),
    ])
    .map_err(|e| Error::Internal(e.to_string()))?;
    let signature = minisign::sign(
        &exporter.signing,
        tagman.as_bytes(),
        &format!(
            "custodia bundle signed by key {}",
            exporter.key.key_id_hex()
        ),
        &format!(
            "custodia bundle: case {} exported by {}",
            sanitize_comment(&case.data.reference),
            sanitize_comment(&exporter.name)
        ),
    )
    .map_err(|e| Error::Internal(format!("cannot sign the bundle: {e}")))?;

    // Everything sorted by path under the bag directory.
    let mut entries: BTreeMap<String, Source> = BTreeMap::new();
    for (path, (_, _, source)) in files {
        entries.insert(format!("{name}/{path}"), source);
    }
    for (tag, bytes) in [
        ("bagit.txt", text.bagit_txt.into_bytes()),
        ("bag-info.txt", text.bag_info_txt.into_bytes()),
        (MANIFEST_NAME, text.manifest_sha256_txt.into_bytes()),
        (TAG_MANIFEST_NAME, tagman.into_bytes()),
        (SIGNATURE_NAME, signature.into_bytes()),
    ] {
        entries.insert(format!("{name}/{tag}"), Source::Bytes(bytes));
    }
    Ok(Bag {
        name,
        payload_bytes,
        entries,
    })
}

fn sanitize_comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn write_bundle(
    conn: &rusqlite::Connection,
    session: &crate::vault::Session<'_>,
    entries: BTreeMap<String, Source>,
    mtime: u64,
    file: HoldBack<std::fs::File>,
    encryption: &Encryption,
    recipients: &[age::x25519::Recipient],
    progress: &mut dyn FnMut(u64),
    out: &Path,
) -> Result<HoldBack<std::fs::File>> {
    let io_err = |e: io::Error| Error::io(format!("cannot write {}", out.display()), e);
    let buffered = BufWriter::with_capacity(1024 * 1024, file);
    let sink = match encryption {
        Encryption::Recipients(_) => {
            let enc = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r as &dyn age::Recipient),
            )
            .map_err(|e| Error::Internal(format!("cannot encrypt: {e}")))?;
            Sink::Age(enc.wrap_output(buffered).map_err(io_err)?)
        }
        Encryption::Passphrase(p) => {
            let enc = age::Encryptor::with_user_passphrase(p.clone());
            Sink::Age(enc.wrap_output(buffered).map_err(io_err)?)
        }
        Encryption::None => Sink::Plain(buffered),
    };
    // This thread reads and decrypts the vault and builds the tar; another
    // encrypts it with age, writes and fsyncs; a third verifies exhibit
    // fingerprints (see `with_reader`).
    let ((), held) = write_behind(
        sink,
        |out| -> Result<()> {
            let mut tar = DeterministicTar::new(out).with_mtime(mtime);
            let mut done = 0u64;
            for (path, source) in entries {
                match source {
                    Source::Bytes(bytes) => {
                        tar.add_file(&path, bytes.len() as u64, &bytes[..])
                            .map_err(|e| tar_error(e, &path))?;
                        done += bytes.len() as u64;
                    }
                    Source::Evidence(id) => {
                        with_reader(conn, session, &id, |reader| {
                            let size = evidence::overview(conn, session, &id)?.size;
                            let counting = Counting {
                                inner: reader,
                                done: &mut done,
                                progress: &mut *progress,
                            };
                            tar.add_file_buffered(&path, size, counting)
                                .map_err(|e| tar_error(e, &path))
                        })?;
                    }
                }
                progress(done);
            }
            tar.finish()
                .map_err(|e| tar_error(e, "the end of the archive"))?;
            Ok(())
        },
        |sink| {
            let buffered = sink.finish()?;
            let mut held = buffered.into_inner().map_err(|e| e.into_error())?;
            held.sync_passed_on().map(|()| held)
        },
    )
    .map_err(|e| with_context(e, out))?;
    Ok(held)
}

/// A tar failure while writing `path`: an exhibit that failed its checks is
/// an integrity problem; anything else is an I/O or format failure.
fn tar_error(e: crate::formats::tar::TarError, path: &str) -> Error {
    match e {
        crate::formats::tar::TarError::Io(io) => {
            reader_error(io, &format!("cannot write {path} into the bundle"))
        }
        other => Error::Internal(format!("cannot write {path} into the bundle: {other}")),
    }
}

struct Counting<'a, R: Read> {
    inner: R,
    done: &'a mut u64,
    progress: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.done += n as u64;
        (self.progress)(*self.done);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.inner.consume(amount);
        *self.done += amount as u64;
        (self.progress)(*self.done);
    }
}

/// Parses an export recipient (an age public key, `age1…`). A pasted age
/// *secret* key (`AGE-SECRET-KEY-…`) is refused without being repeated in
/// the message, and no message quotes more than the start of what was
/// given. Callers check recipients before asking for any passphrase.
pub fn check_recipient(text: &str) -> Result<age::x25519::Recipient> {
    let trimmed = text.trim();
    if trimmed
        .get(..15)
        .is_some_and(|start| start.eq_ignore_ascii_case("AGE-SECRET-KEY-"))
        || trimmed.to_ascii_uppercase().contains("AGE-SECRET-KEY")
    {
        return Err(Error::Invalid(Invalid::Recipient {
            problem: "this looks like an age secret key, not a recipient; give the public key \
                      (age1…) and keep the secret key private"
                .into(),
        }));
    }
    age::x25519::Recipient::from_str(trimmed).map_err(|_| {
        let shown: String = trimmed.chars().take(12).collect();
        let more = if trimmed.chars().count() > 12 {
            "…"
        } else {
            ""
        };
        Error::Invalid(Invalid::Recipient {
            problem: format!(
                "{shown:?}{more} is not an age recipient: give an age public key (age1…)"
            ),
        })
    })
}
