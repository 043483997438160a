//! Evidence in and out through streams instead of paths, for the desk
//! (`src/desk`): an upload goes from the request body straight into sealed
//! chunks, a download from the sealed chunks straight to the response, so no
//! plaintext ever touches the disk.
//!
//! An upload goes through the same intake as [`Vault::add_evidence`]
//! (`add_evidence_stream`: same checks, chunk writer, overview and custody
//! event); a download follows [`Vault::extract_evidence`] with the same
//! verifying reader.

use std::io::{Read, Write};

use super::evidence::{
    overview, reader_error, with_reader, EvidenceOverview, EvidenceSummary, NewEvidence,
};
use super::{check_text, refuse_withdrawn};
use crate::custody::Action;
use crate::error::{Error, Invalid, Result};
use crate::format::{Id, Kind};
use crate::vault::sealed::resolve;
use crate::vault::{Unlocked, Vault};

/// Longest original file name kept, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// A file name a browser sent, as the vault keeps it: a name, or, for a
/// file of a dropped folder, its path from that folder with `/`
/// (`photos/2026-03-14/IMG_0042.jpg`, as `evidence add DIR` names it). A
/// path with a backslash (`C:\fakepath\x.txt`), a `.` or `..` or an empty
/// part is not trusted as a path: its last part alone is kept, as any
/// other browser-sent path. Checked like any text field: not empty, no
/// control characters.
pub fn clean_original_name(name: &str) -> Result<String> {
    let trimmed = name.trim();
    let path = trimmed.trim_start_matches('/');
    let plain_part = |p: &str| !p.trim().is_empty() && p != "." && p != "..";
    let kept = if !trimmed.contains('\\') && path.split('/').all(plain_part) {
        path
    } else {
        trimmed.rsplit(['/', '\\']).next().unwrap_or(trimmed).trim()
    };
    check_text("the file name", kept, MAX_NAME_BYTES, false)?;
    if kept.is_empty() || kept == "." || kept == ".." {
        return Err(Error::Invalid(Invalid::Path {
            path: kept.into(),
            problem: "is not a file name".into(),
        }));
    }
    Ok(kept.to_owned())
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
        super::evidence::check_new_evidence(input)?;
        let original_name = clean_original_name(original_name)?;
        self.add_evidence_stream(input, reader, original_name, "the upload", None, progress)
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

#[cfg(test)]
mod tests {
    use super::clean_original_name;

    #[test]
    fn a_folders_path_is_kept_and_any_other_path_gives_its_last_part() {
        let kept = |n: &str| clean_original_name(n).unwrap();
        assert_eq!(kept("IMG_0042.jpg"), "IMG_0042.jpg");
        assert_eq!(
            kept("photos/2026-03-14/IMG_0042.jpg"),
            "photos/2026-03-14/IMG_0042.jpg"
        );
        assert_eq!(kept("/photos/صورة.jpg"), "photos/صورة.jpg");
        assert_eq!(kept("../../etc/passwd"), "passwd");
        assert_eq!(kept("photos/./x.jpg"), "x.jpg");
        assert_eq!(kept("photos//x.jpg"), "x.jpg");
        assert_eq!(kept("C:\\fakepath\\report.pdf"), "report.pdf");
        for bad in ["", "/", "..", "photos/..", "a/\u{7}b"] {
            assert!(clean_original_name(bad).is_err(), "{bad:?}");
        }
    }
}
