//! Importing a bundle into this vault: the bundle is verified first (a
//! bundle with any problem is refused before anything is written), then,
//! in one transaction, its case, statements (every version) and exhibits
//! are created under their original ids, exhibits are streamed from the
//! bundle with their SHA-256 checked again, each record keeps its original
//! signed custody history (sealed), and an import event is appended.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layout::*;
use super::tarball::{for_each_entry, ReadLimits, TarError};
use super::verify::{open_tar, read_bundle, Unlock};
use crate::crypto::minisign::PublicKey;
use crate::custody::chain::{ImportedHistory, IMPORTED_CUSTODY_FIELD};
use crate::custody::{self, Action};
use crate::error::{Error, Result};
use crate::format::Id;
use crate::records::case::{all_cases, same_reference};
use crate::records::evidence::{write_chunks_serial, EvidenceOverview, CHUNK_SIZE};
use crate::records::statement::{self, StatementFields, StatementOverview};
use crate::records::{seal_field, Kind};
use crate::store::records::{self as rows, VersionRow};
use crate::vault::{now_utc, Unlocked, Vault};

/// What an import brought in.
#[derive(Clone, Debug, Serialize)]
pub struct ImportSummary {
    /// Case reference.
    pub case: String,
    /// Whether the case was created (false: it existed).
    pub case_created: bool,
    /// Statements imported.
    pub statements: usize,
    /// Exhibits imported.
    pub evidence: usize,
    /// Key id that signed the bundle.
    pub signer_key_id: String,
}

fn parse_id(text: &str) -> Result<Id> {
    text.parse()
        .map_err(|_| Error::Integrity(format!("the bundle has a malformed record id {text:?}")))
}

impl Vault<Unlocked> {
    /// Imports a bundle (see the module docs), refusing it unless it is
    /// signed by `signer` when one is given.
    pub fn import_bundle(
        &mut self,
        path: &Path,
        unlock: &Unlock,
        signer: Option<&PublicKey>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<ImportSummary> {
        let read = read_bundle(path, unlock, signer)?;
        if !read.verdict.is_valid() {
            return Err(Error::Integrity(format!(
                "the bundle failed verification, nothing was imported: {}",
                read.verdict.problems.join("; ")
            )));
        }
        let files = read.files;
        let bag = read.verdict.bag.clone();
        let signer = read.verdict.signer_key_id.clone();
        let json = |name: &str| -> Result<&[u8]> {
            files
                .get(name)
                .and_then(|e| e.bytes.as_deref())
                .ok_or_else(|| Error::Integrity(format!("the bundle has no {name}")))
        };
        let case_doc: CaseDoc = serde_json::from_slice(json(CASE_JSON)?)
            .map_err(|e| Error::Integrity(format!("{CASE_JSON}: {e}")))?;
        let evidence_docs: Vec<EvidenceDoc> = serde_json::from_slice(json(EVIDENCE_JSON)?)
            .map_err(|e| Error::Integrity(format!("{EVIDENCE_JSON}: {e}")))?;
        let mut statements: BTreeMap<String, Vec<(StatementDoc, String)>> = BTreeMap::new();
        for (p, entry) in files
            .iter()
            .filter(|(p, _)| p.starts_with("data/statements/") && p.ends_with(".json"))
        {
            let doc: StatementDoc = entry
                .bytes
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .ok_or_else(|| Error::Integrity(format!("{p} is malformed")))?;
            let text = files
                .get(&statement_text_path(&doc.id, doc.version))
                .and_then(|e| e.bytes.clone())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    Error::Integrity(format!("the text of {p} is missing or not UTF-8"))
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

        self.write(|tx, session| {
            let details = |n_events: usize, versions: u64| {
                serde_json::json!({
                    "bundle_case": case_doc.reference,
                    "signer": signer,
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
                let sealed = seal_field(
                    &session.keys.events,
                    &session.vault_id,
                    kind,
                    id,
                    1,
                    IMPORTED_CUSTODY_FIELD,
                    &doc,
                )?;
                rows::insert_imported_custody(tx, id, &sealed)?;
                Ok(n)
            };
            // Case: reuse one with the same reference, else create it.
            let existing = all_cases(tx, session)?
                .into_iter()
                .find(|c| same_reference(&c.data.reference, &case_doc.reference));
            let (case_id, case_created) = match existing {
                Some(c) => (c.id, false),
                None => {
                    let id = parse_id(&case_doc.id)?;
                    if rows::record_exists(tx, &id)? {
                        return Err(Error::Invalid(format!(
                            "record {id} already exists in this vault"
                        )));
                    }
                    let data = crate::records::case::CaseData {
                        reference: case_doc.reference.clone(),
                        title: case_doc.title.clone(),
                        description: case_doc.description.clone(),
                        tags: case_doc.tags.clone(),
                        created_at: case_doc.created_at.clone(),
                        created_by: case_doc.created_by.clone(),
                    };
                    rows::insert_record(tx, &id, Kind::Case.as_str())?;
                    rows::insert_version(
                        tx,
                        &VersionRow {
                            id,
                            version: 1,
                            overview: seal_field(
                                &session.keys.records,
                                &session.vault_id,
                                Kind::Case,
                                &id,
                                1,
                                "overview",
                                &data,
                            )?,
                            body: None,
                        },
                    )?;
                    let n = keep_history(&id, Kind::Case)?;
                    custody::append(tx, session, &id, "case", Action::Import, details(n, 1))?;
                    (id, true)
                }
            };
            // Statements, every version, under their original ids.
            for (sid, mut versions) in statements.clone() {
                versions.sort_by_key(|(d, _)| d.version);
                let id = parse_id(&sid)?;
                if rows::record_exists(tx, &id)? {
                    return Err(Error::Invalid(format!(
                        "statement {} is already in this vault; nothing was imported",
                        id.short()
                    )));
                }
                rows::insert_record(tx, &id, Kind::Statement.as_str())?;
                for (i, (doc, text)) in versions.iter().enumerate() {
                    let v = i as u64 + 1;
                    if doc.version != v {
                        return Err(Error::Integrity(format!(
                            "statement {sid}: version {v} is missing from the bundle"
                        )));
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
                    };
                    // (A bundle from before the `pseudonym` field that reveals a
                    // protected witness lands here: not damage, an older
                    // form this vault cannot keep protected.)
                    fields.validate().map_err(|e| {
                        Error::Invalid(format!(
                            "statement {sid} version {v} in the bundle cannot be imported: {e}"
                        ))
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
                }
                let n = keep_history(&id, Kind::Statement)?;
                let mut d = details(n, versions.len() as u64);
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
                custody::append(tx, session, &id, "statement", Action::Import, d)?;
                // A statement sealed at the source stays sealed here.
                if versions.last().is_some_and(|(doc, _)| doc.sealed) {
                    statement::seal(tx, session, &id)?;
                }
            }
            // Exhibits: stream them from the bundle a second time.
            let mut by_path: BTreeMap<String, EvidenceDoc> = BTreeMap::new();
            for doc in &evidence_docs {
                let id = parse_id(&doc.id)?;
                if rows::record_exists(tx, &id)? {
                    return Err(Error::Invalid(format!(
                        "evidence {} is already in this vault; nothing was imported",
                        id.short()
                    )));
                }
                by_path.insert(format!("{bag}/{}", doc.path), doc.clone());
            }
            let (reader, _) = open_tar(path, unlock)?;
            let mut failure: Option<Error> = None;
            let walked = for_each_entry(reader, &ReadLimits::default(), |full, _size, r| {
                let Some(doc) = by_path.get(full) else {
                    std::io::copy(r, &mut std::io::sink())?;
                    return Ok(());
                };
                let result = (|| -> Result<()> {
                    let id = parse_id(&doc.id)?;
                    rows::insert_record(tx, &id, Kind::Evidence.as_str())?;
                    let reader = r;
                    let (size, sha256, chunk_count, media_type) =
                        write_chunks_serial(tx, session, &id, reader, &doc.path, progress)?;
                    if sha256 != doc.sha256 || size != doc.size {
                        return Err(Error::Integrity(format!(
                            "{}: the bytes changed since verification (SHA-256 {sha256})",
                            doc.path
                        )));
                    }
                    let overview = EvidenceOverview {
                        case: case_id.to_hex(),
                        statement: doc.statement.clone(),
                        original_name: doc.original_name.clone(),
                        media_type: if doc.media_type.is_empty() {
                            media_type
                        } else {
                            doc.media_type.clone()
                        },
                        size,
                        sha256,
                        description: doc.description.clone(),
                        source: doc.source.clone(),
                        acquired_at: doc.acquired_at.clone(),
                        acquired_by: doc.acquired_by.clone(),
                        added_at: now_utc(),
                        added_by: session.user.name.clone(),
                        chunk_size: CHUNK_SIZE as u64,
                        chunk_count,
                    };
                    rows::insert_version(
                        tx,
                        &VersionRow {
                            id,
                            version: 1,
                            overview: seal_field(
                                &session.keys.records,
                                &session.vault_id,
                                Kind::Evidence,
                                &id,
                                1,
                                "overview",
                                &overview,
                            )?,
                            body: None,
                        },
                    )?;
                    let n = keep_history(&id, Kind::Evidence)?;
                    let mut d = details(n, 1);
                    d["sha256"] = serde_json::json!(overview.sha256);
                    d["case"] = serde_json::json!(case_id.to_hex());
                    custody::append(tx, session, &id, "evidence", Action::Import, d)?;
                    Ok(())
                })();
                if let Err(e) = result {
                    failure = Some(e);
                    return Err(TarError::Io(std::io::Error::other("import failed")));
                }
                Ok(())
            });
            if let Some(e) = failure {
                return Err(e);
            }
            walked.map_err(|e| {
                Error::Integrity(format!("the bundle changed since verification: {e}"))
            })?;
            Ok(ImportSummary {
                case: case_doc.reference.clone(),
                case_created,
                statements: statements.len(),
                evidence: evidence_docs.len(),
                signer_key_id: signer.clone(),
            })
        })
    }
}
