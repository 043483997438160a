//! Evidence in and out through streams instead of paths, for the desk
//! (`src/desk`): an upload goes from the request body straight into sealed
//! chunks, a download from the sealed chunks straight to the response, so no
//! plaintext ever touches the disk.
//!
//! Both follow [`Vault::add_evidence`] and [`Vault::extract_evidence`] step
//! by step (same checks, same overview, same custody events) and use the
//! same chunk writer and verifying reader. They live in their own file only
//! while `evidence.rs` is being reworked elsewhere; once that lands, the
//! path-based functions can delegate to these.

use std::io::{self, Read, Write};

use super::case::find_case;
use super::evidence::{
    overview, reader_error, with_reader, write_chunks, EvidenceOverview, EvidenceSummary,
    NewEvidence, CHUNK_SIZE,
};
use super::{check_date, check_optional, check_text, refuse_withdrawn};
use crate::custody::{now_utc, Action};
use crate::error::{Error, Invalid, Result};
use crate::format::{Id, Kind};
use crate::formats::metadata::MetadataScanner;
use crate::vault::sealed::resolve;
use crate::vault::{Unlocked, Vault};

/// Longest original file name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// The last component of a file name a browser sent (some send a path),
/// checked like any text field: not empty, no control characters.
pub fn clean_original_name(name: &str) -> Result<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name).trim();
    check_text("the file name", last, MAX_NAME_BYTES, false)?;
    if last.is_empty() || last == "." || last == ".." {
        return Err(Error::Invalid(Invalid::Path {
            path: last.into(),
            problem: "is not a file name".into(),
        }));
    }
    Ok(last.to_owned())
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

impl Vault<Unlocked> {
    /// [`Vault::add_evidence`] from a stream: reads `reader` to its end
    /// into sealed chunks of a new exhibit named `original_name`, in one
    /// transaction (an error or a short stream leaves nothing behind).
    pub fn add_evidence_from(
        &mut self,
        input: &NewEvidence,
        reader: &mut (dyn Read + Send),
        original_name: &str,
        progress: &mut dyn FnMut(u64),
    ) -> Result<EvidenceSummary> {
        check_optional("the description", &input.description, 100_000)?;
        check_optional("the source", &input.source, 4096)?;
        check_optional("the acquirer", &input.acquired_by, 4096)?;
        if let Some(d) = &input.acquired_at {
            check_date("the acquisition date", d)?;
        }
        let original_name = clean_original_name(original_name)?;
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
            super::new_record(tx, Kind::Evidence, &id)?;
            let mut scanning = Scanning {
                inner: reader,
                scanner: MetadataScanner::new(),
            };
            let (size, sha256, chunk_count, media_type) =
                write_chunks(tx, session, &id, &mut scanning, "the upload", progress)?;
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

    /// The overview of exhibit `id` as an extract would give it, after the
    /// same checks (known, not withdrawn), without reading its bytes.
    pub fn evidence_for_extract(&mut self, id: &str) -> Result<(Id, EvidenceOverview)> {
        self.read(|tx, session| {
            let id = resolve(tx, Kind::Evidence, id)?;
            let chain = super::expect_record(tx, session, &id, Kind::Evidence)?;
            refuse_withdrawn(&chain, Kind::Evidence, &id, "extracted")?;
            Ok((id, overview(tx, session, &id)?))
        })
    }

    /// [`Vault::extract_evidence`] to a stream: records the extract event
    /// (committed before any byte leaves, so no copy goes out unlogged),
    /// then writes the exhibit's bytes to `out` through the verifying
    /// reader. A chunk that does not authenticate, or a wrong SHA-256 at
    /// the end, stops the stream with an integrity error: the receiver must
    /// treat a stream shorter than the overview's size as failed.
    pub fn extract_evidence_to(
        &mut self,
        id: &Id,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(u64),
    ) -> Result<EvidenceSummary> {
        let summary = self.write(|tx, session| {
            let chain = super::expect_record(tx, session, id, Kind::Evidence)?;
            refuse_withdrawn(&chain, Kind::Evidence, id, "extracted")?;
            let overview = overview(tx, session, id)?;
            session.append(
                tx,
                Kind::Evidence,
                id,
                Action::Extract,
                serde_json::json!({ "sha256": overview.sha256, "size": overview.size }),
            )?;
            let case_reference = super::case::all_cases(tx, session)?
                .into_iter()
                .find(|c| c.id.to_hex() == overview.case)
                .map(|c| c.data.reference)
                .unwrap_or_default();
            Ok(EvidenceSummary {
                id: *id,
                case_reference,
                overview,
            })
        })?;
        self.read(|tx, session| {
            with_reader(tx, session, id, |reader| {
                super::evidence::copy_with_progress(reader, out, progress)
                    .map_err(|e| reader_error(e, "cannot send the exhibit"))
            })
        })?;
        Ok(summary)
    }
}
