//! Importing a bundle into this vault, reading it ONCE: in one write
//! transaction, the tar is streamed entry by entry; exhibits are stored
//! (encrypted, chunked) as they stream by, under the ids `evidence.json`
//! gives them (an exhibit that comes before `evidence.json`, as in a bag
//! re-packed by GNU tar, goes to a sealed spool first: an unlinked
//! temporary file encrypted with age to a key that exists only in memory),
//! and every other file is kept in memory (bounded). Then the
//! whole bag is verified exactly as `bundle verify` does, the signer must
//! be trusted (given with `--signer` or pinned in this vault), and every
//! document (each statement version, each exhibit of `evidence.json`) must
//! have been stored exactly once. Only then are the case, statements and
//! custody histories written and import events appended; any failure rolls
//! the transaction back, so nothing is imported.

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layout::*;
use super::verify::{check_bag, hash_reader, open_tar, walk_bundle, TrustSource, Unlock, Verdict};
use crate::custody::chain::ImportedHistory;
use crate::custody::now_utc;
use crate::custody::Action;
use crate::error::{Error, Integrity, Invalid, Result};
use crate::format::{Id, Kind};
use crate::formats::minisign::PublicKey;
use crate::formats::tar::TarError;
use crate::records::case::{all_cases, find_case, same_reference};
use crate::records::evidence::{write_chunks_serial, EvidenceOverview, CHUNK_SIZE};
use crate::records::statement::{self, StatementFields, StatementOverview};
use crate::vault::{Unlocked, Vault};

/// What an import brought in.
#[derive(Clone, Debug, Serialize)]
pub struct ImportSummary {
    /// Case reference.
    pub case: String,
    /// Whether the case was created (false: the records joined an existing
    /// case named with `--into-case`).
    pub case_created: bool,
    /// Statements stored.
    pub statements: usize,
    /// Statement versions stored.
    pub versions: usize,
    /// Exhibits stored.
    pub evidence: usize,
    /// Minisign key id that signed the bundle (a label).
    pub signer_key_id: String,
    /// Fingerprint of the signer's key (SHA-256 of the key, hex).
    pub signer_fingerprint: String,
    /// Why the signer is trusted.
    pub trusted_as: Option<TrustSource>,
    /// The vault the bundle was exported from.
    pub source_vault: String,
}

/// What import options say beyond the file.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Signer keys given on the command line (`--signer`); the vault's
    /// pinned signers are trusted too.
    pub signers: Vec<PublicKey>,
    /// `--into-case REF`: add the bundle's records to this existing case.
    /// Required when the vault already has a case with the bundle's
    /// reference.
    pub into_case: Option<String>,
}

/// An exhibit stored while the bundle streamed by.
struct Stored {
    size: u64,
    sha256: String,
    chunk_count: u64,
    media_type: String,
}

fn parse_id(text: &str) -> Result<Id> {
    text.parse().map_err(|_| {
        Error::Integrity(Integrity::Bundle {
            problem: format!("the bundle has a malformed record id {text:?}"),
        })
    })
}

/// The entries of `evidence.json` by path, once it has been read; each id
/// must be new to this vault.
fn listed_exhibits(
    tx: &rusqlite::Transaction<'_>,
    bytes: &[u8],
) -> Result<BTreeMap<String, EvidenceDoc>> {
    let docs: Vec<EvidenceDoc> = serde_json::from_slice(bytes).map_err(|e| {
        Error::Integrity(Integrity::Bundle {
            problem: format!("{EVIDENCE_JSON} is malformed: {e}"),
        })
    })?;
    let mut by_path = BTreeMap::new();
    for doc in docs {
        let id = parse_id(&doc.id)?;
        if crate::records::exists(tx, &id)? {
            return Err(Error::Invalid(Invalid::Bundle {
                problem: format!(
                    "evidence {} is already in this vault; nothing was imported",
                    id.short()
                ),
            }));
        }
        by_path.insert(doc.path.clone(), doc);
    }
    Ok(by_path)
}

/// An exhibit read before `evidence.json` said whose it is: its bytes,
/// encrypted with age to a key that lives only in this process, in a
/// temporary file that is unlinked as soon as it is created (on Unix; on
/// other systems when this is dropped). Nothing of it is readable on disk,
/// and it leaves nothing behind.
struct Spooled {
    file: std::fs::File,
    path: std::path::PathBuf,
    identity: age::x25519::Identity,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Spooled {
    /// Encrypts `r` to a new spool; returns it and the bytes' SHA-256.
    fn write(r: &mut dyn Read) -> Result<(Spooled, [u8; 32])> {
        let random = crate::crypto::random_bytes::<12>()?;
        let path =
            std::env::temp_dir().join(format!("custodia-import-spool-{}", hex::encode(random)));
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let context = || format!("cannot write the import spool {}", path.display());
        let file = options.open(&path).map_err(|e| Error::io(context(), e))?;
        #[cfg(unix)]
        let _ = std::fs::remove_file(&path);
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| Error::Internal(format!("cannot encrypt the import spool: {e}")))?;
        let mut writer = encryptor
            .wrap_output(std::io::BufWriter::new(file))
            .map_err(|e| Error::io(context(), e))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = r
                .read(&mut buf)
                .map_err(|e| Error::io("cannot read the bundle", e))?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            hasher.update(chunk);
            writer
                .write_all(chunk)
                .map_err(|e| Error::io(context(), e))?;
        }
        let mut file = writer
            .finish()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .map_err(|e| Error::io(context(), e))?;
        file.seek(std::io::SeekFrom::Start(0))
            .map_err(|e| Error::io(context(), e))?;
        Ok((
            Spooled {
                file,
                path,
                identity,
            },
            hasher.finalize().into(),
        ))
    }

    /// Reads the spool back (authenticated by age).
    fn reader(&self) -> Result<Box<dyn Read + '_>> {
        let decryptor =
            age::Decryptor::new_buffered(std::io::BufReader::new(&self.file)).map_err(|e| {
                Error::Integrity(Integrity::Bundle {
                    problem: format!("the import spool does not decrypt: {e}"),
                })
            })?;
        let reader = decryptor
            .decrypt(std::iter::once(&self.identity as &dyn age::Identity))
            .map_err(|e| {
                Error::Integrity(Integrity::Bundle {
                    problem: format!("the import spool does not decrypt: {e}"),
                })
            })?;
        Ok(Box::new(reader))
    }
}

/// Carries a library error through the tar reader's error type.
fn stop(failure: &mut Option<Error>, e: Error) -> TarError {
    let msg = e.to_string();
    *failure = Some(e);
    TarError::Io(std::io::Error::other(msg))
}

impl Vault<Unlocked> {
    /// Imports a bundle (see the module docs). Refused, with nothing
    /// written, unless its signer is trusted (`opts.signers` or a pinned
    /// key: [`Error::Unauthenticated`]), and when this vault already has a
    /// case with the bundle's reference unless `opts.into_case` names it.
    pub fn import_bundle(
        &mut self,
        path: &Path,
        unlock: &Unlock,
        opts: &ImportOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportSummary> {
        let trusted = self.trusted_signers(&opts.signers)?;
        if trusted.is_empty() {
            return Err(Error::Unauthenticated(
                "no --signer given and no signer is pinned in this vault: a bundle is imported \
                 only from a signer you vouch for; nothing was imported"
                    .into(),
            ));
        }
        // The receiving vault must pass the same verification as an
        // export: nothing is added to a vault `check` would call tampered.
        crate::bundle::export::refuse_unless_clean(&self.audit(None)?, None, "imported")?;
        self.write(|tx, session| {
            let (reader, encrypted) = open_tar(path, unlock)?;
            // One pass: exhibits go into the transaction as they stream by.
            let mut listed: Option<BTreeMap<String, EvidenceDoc>> = None;
            let mut stored: BTreeMap<String, Stored> = BTreeMap::new();
            let mut spooled: Vec<(String, Spooled)> = Vec::new();
            let mut failure: Option<Error> = None;
            let walked = walk_bundle(reader, |rel, _size, r, files| {
                if listed.is_none() {
                    match files.get(EVIDENCE_JSON).and_then(|e| e.bytes.as_deref()) {
                        Some(b) => {
                            listed =
                                Some(listed_exhibits(tx, b).map_err(|e| stop(&mut failure, e))?)
                        }
                        None => {
                            // Whose it is comes later: keep it sealed.
                            let (spool, digest) =
                                Spooled::write(r).map_err(|e| stop(&mut failure, e))?;
                            spooled.push((rel.to_owned(), spool));
                            return Ok(digest);
                        }
                    }
                }
                let Some(doc) = listed.as_ref().and_then(|l| l.get(rel)) else {
                    // Not listed: hashed only; verification reports it.
                    return Ok(hash_reader(r)?);
                };
                if stored.contains_key(&doc.id) {
                    return Err(stop(
                        &mut failure,
                        Error::Integrity(Integrity::Bundle {
                            problem: format!("{EVIDENCE_JSON} gives evidence {} two files", doc.id),
                        }),
                    ));
                }
                let result = store_exhibit(tx, session, doc, r, progress);
                match result {
                    Ok((s, digest)) => {
                        stored.insert(doc.id.clone(), s);
                        Ok(digest)
                    }
                    Err(e) => Err(stop(&mut failure, e)),
                }
            });
            let walked = match (walked, failure) {
                (_, Some(e)) => return Err(e),
                (Err(e), None) => {
                    return Err(Error::Integrity(Integrity::Bundle {
                        problem: format!(
                        "the bundle's archive is unsafe or malformed, nothing was imported: {e}"
                    ),
                    }))
                }
                (Ok(w), None) => w,
            };
            // The same checks as `bundle verify`, on what was just read.
            let mut verdict = Verdict {
                encrypted,
                bag: walked.bag.clone(),
                ..Verdict::default()
            };
            check_bag(&mut verdict, &walked.files, &trusted);
            if let Some(refusal) = verdict.refusal() {
                return Err(refusal);
            }
            let files = walked.files;
            // Exhibits that came before evidence.json: out of the spool,
            // into the vault under the ids it gives them.
            let listed = match listed {
                Some(l) => l,
                None => match files.get(EVIDENCE_JSON).and_then(|e| e.bytes.as_deref()) {
                    Some(b) => listed_exhibits(tx, b)?,
                    None => BTreeMap::new(),
                },
            };
            for (rel, spool) in &spooled {
                let Some(doc) = listed.get(rel) else { continue };
                if stored.contains_key(&doc.id) {
                    return Err(Error::Integrity(Integrity::Bundle {
                        problem: format!("{EVIDENCE_JSON} gives evidence {} two files", doc.id),
                    }));
                }
                let mut reader = spool.reader()?;
                let (s, _) = store_exhibit(tx, session, doc, &mut reader, progress)?;
                stored.insert(doc.id.clone(), s);
            }
            drop(spooled);
            let evidence_docs: Vec<EvidenceDoc> = listed.into_values().collect();
            import_records(
                tx,
                session,
                &verdict,
                &files,
                evidence_docs,
                stored,
                opts.into_case.as_deref(),
            )
        })
    }
}

/// Stores one exhibit's bytes as sealed chunks under its id from
/// `evidence.json`; returns what was stored and its SHA-256.
fn store_exhibit(
    tx: &rusqlite::Transaction<'_>,
    session: &crate::vault::Session<'_>,
    doc: &EvidenceDoc,
    r: &mut dyn Read,
    progress: &mut dyn FnMut(u64),
) -> Result<(Stored, [u8; 32])> {
    let id = parse_id(&doc.id)?;
    crate::records::new_record(tx, Kind::Evidence, &id)?;
    let (size, sha256, chunk_count, media_type) =
        write_chunks_serial(tx, session, &id, r, &doc.path, progress)?;
    let digest: [u8; 32] = hex::decode(&sha256)
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| Error::Internal("malformed SHA-256 from intake".into()))?;
    Ok((
        Stored {
            size,
            sha256,
            chunk_count,
            media_type,
        },
        digest,
    ))
}

/// Writes the case, statements, exhibit overviews, histories and import
/// events of a verified bundle whose exhibits are already `stored`.
fn import_records(
    tx: &rusqlite::Transaction<'_>,
    session: &crate::vault::Session<'_>,
    verdict: &Verdict,
    files: &BTreeMap<String, super::verify::Entry>,
    evidence_docs: Vec<EvidenceDoc>,
    mut stored: BTreeMap<String, Stored>,
    into_case: Option<&str>,
) -> Result<ImportSummary> {
    let signer = verdict.signer_key_id.clone();
    let source_vault = verdict.source_vault.clone();
    let json = |name: &str| -> Result<&[u8]> {
        files
            .get(name)
            .and_then(|e| e.bytes.as_deref())
            .ok_or_else(|| {
                Error::Integrity(Integrity::Bundle {
                    problem: format!("the bundle has no {name}"),
                })
            })
    };
    let case_doc: CaseDoc = serde_json::from_slice(json(CASE_JSON)?).map_err(|e| {
        Error::Integrity(Integrity::Bundle {
            problem: format!("{CASE_JSON}: {e}"),
        })
    })?;
    let mut statements: BTreeMap<String, Vec<(StatementDoc, String)>> = BTreeMap::new();
    for (p, entry) in files
        .iter()
        .filter(|(p, _)| p.starts_with("data/statements/") && p.ends_with(".json"))
    {
        let doc: StatementDoc = entry
            .bytes
            .as_deref()
            .and_then(|b| serde_json::from_slice(b).ok())
            .ok_or_else(|| {
                Error::Integrity(Integrity::Bundle {
                    problem: format!("{p} is malformed"),
                })
            })?;
        let text = files
            .get(&statement_text_path(&doc.id, doc.version))
            .and_then(|e| e.bytes.clone())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Error::Integrity(Integrity::Bundle {
                    problem: format!("the text of {p} is missing or not UTF-8"),
                })
            })?;
        statements
            .entry(doc.id.clone())
            .or_default()
            .push((doc, text));
    }
    // Earlier vaults' chains first (oldest first), then the exporting
    // vault's own: the whole history, each chain as it was signed.
    let chains_of = |id: &str| -> Vec<String> {
        let mut prior: Vec<(usize, String)> = files
            .iter()
            .filter_map(|(p, e)| {
                let (record, n) = parse_prior_custody_path(p)?;
                let text = String::from_utf8(e.bytes.clone()?).ok()?;
                (record == id).then_some((n, text))
            })
            .collect();
        prior.sort_by_key(|(n, _)| *n);
        let mut chains: Vec<String> = prior.into_iter().map(|(_, t)| t).collect();
        if let Some(own) = files
            .get(&custody_path(id))
            .and_then(|e| String::from_utf8(e.bytes.clone()?).ok())
        {
            chains.push(own);
        }
        chains
    };
    let signer_keys: BTreeMap<String, String> = files
        .iter()
        .filter(|(p, _)| p.starts_with("data/signers/"))
        .filter_map(|(p, e)| {
            let text = String::from_utf8(e.bytes.clone()?).ok()?;
            Some((
                p.trim_start_matches("data/signers/")
                    .trim_end_matches(".pub")
                    .to_owned(),
                text,
            ))
        })
        .collect();

    let details = |n_events: usize, versions: u64| {
        serde_json::json!({
            "bundle_case": case_doc.reference,
            "signer": signer,
            "signer_fingerprint": verdict.signer_fingerprint,
            "source_vault": source_vault,
            "original_events": n_events,
            "versions": versions,
        })
    };
    let keep_history = |id: &Id, kind: Kind| -> Result<usize> {
        let chains = chains_of(&id.to_hex());
        let n = chains.last().map_or(0, |c| c.lines().count());
        let doc = ImportedHistory {
            chains,
            signers: signer_keys.clone(),
        };
        crate::records::imported::keep_imported_history(tx, session, kind, id, &doc)?;
        Ok(n)
    };
    // Case: the one named with --into-case; a case of the same reference
    // is never joined silently; otherwise created.
    let same = all_cases(tx, session)?
        .into_iter()
        .find(|c| same_reference(&c.data.reference, &case_doc.reference));
    let (case_id, case_ref, case_created) = match (into_case, same) {
        (Some(wanted), _) => {
            let c = find_case(tx, session, wanted)?;
            (c.id, c.data.reference, false)
        }
        (None, Some(c)) => {
            return Err(Error::Invalid(Invalid::Bundle {
                problem: format!(
                "this vault already has a case {:?} (id {}); the bundle's case {:?} comes from \
                 vault {source_vault}, signed by key fingerprint {}. Nothing was imported. To \
                 add its records to the existing case, repeat with --into-case {:?}",
                c.data.reference,
                c.id.short(),
                case_doc.reference,
                verdict.signer_fingerprint_short,
                c.data.reference
            ),
            }))
        }
        (None, None) => {
            let id = parse_id(&case_doc.id)?;
            if crate::records::exists(tx, &id)? {
                return Err(Error::Invalid(Invalid::Bundle {
                    problem: format!("record {id} already exists in this vault"),
                }));
            }
            let data = crate::records::case::CaseData {
                reference: case_doc.reference.clone(),
                title: case_doc.title.clone(),
                description: case_doc.description.clone(),
                tags: case_doc.tags.clone(),
                created_at: case_doc.created_at.clone(),
                created_by: case_doc.created_by.clone(),
                reason: None,
                amended_at: None,
                amended_by: None,
            };
            crate::records::new_record(tx, Kind::Case, &id)?;
            crate::records::insert_first_overview(tx, session, Kind::Case, &id, &data)?;
            let n = keep_history(&id, Kind::Case)?;
            session.append(tx, Kind::Case, &id, Action::Import, details(n, 1))?;
            (id, case_doc.reference.clone(), true)
        }
    };
    // Statements, every version, under their original ids.
    let mut versions_stored = 0usize;
    for (sid, mut versions) in statements.clone() {
        versions.sort_by_key(|(d, _)| d.version);
        let id = parse_id(&sid)?;
        if crate::records::exists(tx, &id)? {
            return Err(Error::Invalid(Invalid::Bundle {
                problem: format!(
                    "statement {} is already in this vault; nothing was imported",
                    id.short()
                ),
            }));
        }
        crate::records::new_record(tx, Kind::Statement, &id)?;
        let count = versions.len() as u64;
        for (i, (doc, text)) in versions.iter().enumerate() {
            let v = i as u64 + 1;
            if doc.version != v || doc.versions != count {
                return Err(Error::Integrity(Integrity::Bundle {
                    problem: format!(
                        "statement {sid}: the bundle does not hold versions 1 to {} exactly once \
                     (found version {} where {v} belongs); nothing was imported",
                        doc.versions, doc.version
                    ),
                }));
            }
            // A protected witness keeps a pseudonym here too, even
            // when the bundle revealed their name.
            let pseudonym = doc
                .pseudonym
                .clone()
                .or_else(|| doc.identity_withheld.then(|| doc.witness.clone()));
            let fields = StatementFields {
                witness: doc.witness.clone(),
                pseudonym,
                protected: doc.protected,
                language: doc.language.clone(),
                taken_at: doc.taken_at.clone(),
                place: doc.place.clone(),
                interviewer: doc.interviewer.clone(),
                interpreter: doc.interpreter.clone(),
                consent: doc.consent.clone(),
                source: doc.source.clone(),
                // A bundle never carries aliases (they are names).
                aliases: Vec::new(),
            };
            // (A bundle from before the `pseudonym` field that reveals a
            // protected witness lands here: not damage, an older
            // form this vault cannot keep protected.)
            fields.validate().map_err(|e| {
                Error::Invalid(Invalid::Bundle {
                    problem: format!(
                        "statement {sid} version {v} in the bundle cannot be imported: {e}"
                    ),
                })
            })?;
            let overview = StatementOverview {
                case: case_id.to_hex(),
                fields: fields.clone(),
                version: v,
                reason: doc.reason.clone(),
                created_at: doc.created_at.clone(),
                created_by: doc.created_by.clone(),
                body_sha256: hex::encode(Sha256::digest(text.as_bytes())),
                body_bytes: text.len() as u64,
            };
            statement::write_version(tx, session, &id, &overview, text)?;
            versions_stored += 1;
        }
        let n = keep_history(&id, Kind::Statement)?;
        let mut d = details(n, count);
        d["case"] = serde_json::json!(case_id.to_hex());
        // What each version's text hashes to here, as a create or
        // amend event would record it, so a re-export verifies.
        d["version_sha256"] = versions
            .iter()
            .map(|(doc, text)| {
                (
                    doc.version.to_string(),
                    serde_json::json!(hex::encode(Sha256::digest(text.as_bytes()))),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        session.append(tx, Kind::Statement, &id, Action::Import, d)?;
        // A statement sealed at the source stays sealed here.
        if versions.last().is_some_and(|(doc, _)| doc.sealed) {
            statement::seal(tx, session, &id)?;
        }
    }
    // Exhibits: each entry of evidence.json was stored exactly once while
    // the bundle streamed by; nothing else was.
    let mut evidence_stored = 0usize;
    for doc in &evidence_docs {
        let id = parse_id(&doc.id)?;
        let Some(s) = stored.remove(&doc.id) else {
            return Err(Error::Integrity(Integrity::Bundle {
                problem: format!(
                    "{EVIDENCE_JSON} lists evidence {} ({}), but the bundle did not carry its \
                 file; nothing was imported",
                    id.short(),
                    doc.path
                ),
            }));
        };
        if s.sha256 != doc.sha256 || s.size != doc.size {
            return Err(Error::Integrity(Integrity::Bundle {
                problem: format!(
                "{}: the bytes read are not the ones recorded (SHA-256 {}); nothing was imported",
                doc.path, s.sha256
            ),
            }));
        }
        let overview = EvidenceOverview {
            case: case_id.to_hex(),
            statement: doc.statement.clone(),
            original_name: doc.original_name.clone(),
            media_type: if doc.media_type.is_empty() {
                s.media_type
            } else {
                doc.media_type.clone()
            },
            size: s.size,
            sha256: s.sha256,
            description: doc.description.clone(),
            source: doc.source.clone(),
            acquired_at: doc.acquired_at.clone(),
            acquired_by: doc.acquired_by.clone(),
            added_at: now_utc(),
            added_by: session.user.name.clone(),
            chunk_size: CHUNK_SIZE as u64,
            chunk_count: s.chunk_count,
            metadata: Vec::new(),
            stripped_from: None,
        };
        crate::records::insert_first_overview(tx, session, Kind::Evidence, &id, &overview)?;
        let n = keep_history(&id, Kind::Evidence)?;
        let mut d = details(n, 1);
        d["sha256"] = serde_json::json!(overview.sha256);
        d["case"] = serde_json::json!(case_id.to_hex());
        d["chunks"] = serde_json::json!(crate::records::evidence::chunk_count(tx, &id)?);
        session.append(tx, Kind::Evidence, &id, Action::Import, d)?;
        evidence_stored += 1;
    }
    if let Some(extra) = stored.keys().next() {
        return Err(Error::Integrity(Integrity::Bundle {
            problem: format!(
                "evidence {extra} was stored twice or is not listed; nothing was imported"
            ),
        }));
    }
    Ok(ImportSummary {
        case: case_ref,
        case_created,
        statements: statements.len(),
        versions: versions_stored,
        evidence: evidence_stored,
        signer_key_id: signer,
        signer_fingerprint: verdict.signer_fingerprint.clone(),
        trusted_as: verdict.trusted_as.clone(),
        source_vault,
    })
}
