//! The bundle's layout: names of files inside the bag and the JSON
//! documents it carries. Shared by the writer, the verifier and the importer,
//! and specified in `docs/bundle.md`.
//!
//! ```text
//! <bag>/bag-info.txt
//! <bag>/bagit.txt
//! <bag>/data/case.json
//! <bag>/data/custody/<record id>.jsonl     one signed event per line
//! <bag>/data/prior-custody/<record id>/<n>.jsonl   chains from earlier
//!                                          vaults of an imported record
//! <bag>/data/evidence.json                 metadata of every exhibit
//! <bag>/data/evidence/<sanitised original name>
//! <bag>/data/report.html
//! <bag>/data/signers/<key id>.pub          minisign public keys
//! <bag>/data/statements/<id>/v<N>.json     metadata of version N
//! <bag>/data/statements/<id>/v<N>.txt      text of version N (UTF-8)
//! <bag>/manifest-sha256.txt
//! <bag>/tagmanifest-sha256.txt
//! <bag>/tagmanifest-sha256.txt.minisig     minisign signature of the tag manifest
//! ```

use serde::{Deserialize, Serialize};

/// The signature file beside the tag manifest.
pub const SIGNATURE_NAME: &str = "tagmanifest-sha256.txt.minisig";
/// Case metadata.
pub const CASE_JSON: &str = "data/case.json";
/// Exhibit metadata.
pub const EVIDENCE_JSON: &str = "data/evidence.json";
/// Key of a statement's export event details: for each exported version
/// whose text is a redacted copy, the copy's SHA-256 (`{"2": "<hex>"}`).
pub const REDACTED_SHA256: &str = "redacted_sha256";
/// Folder of the exhibits' bytes.
pub const EVIDENCE_DIR: &str = "data/evidence/";
/// The clerk's report.
pub const REPORT_HTML: &str = "data/report.html";
/// bag-info label: case reference.
pub const INFO_CASE: &str = "Custodia-Case-Reference";
/// bag-info label: exporting user.
pub const INFO_EXPORTER: &str = "Custodia-Exporter";
/// bag-info label: exporting user's key id.
pub const INFO_EXPORTER_KEY: &str = "Custodia-Exporter-Key";
/// bag-info label: vault checkpoint receipt.
pub const INFO_CHECKPOINT: &str = "Custodia-Vault-Checkpoint";

/// `data/case.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CaseDoc {
    /// Case id in the source vault.
    pub id: String,
    /// Reference.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Created at.
    pub created_at: String,
    /// Created by.
    pub created_by: String,
}

/// `data/statements/<id>/v<N>.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StatementDoc {
    /// Statement id.
    pub id: String,
    /// Version.
    pub version: u64,
    /// Number of versions exported.
    pub versions: u64,
    /// Name shown: the pseudonym when protected and not revealed.
    pub witness: String,
    /// True when `witness` is a pseudonym standing for a protected identity.
    pub identity_withheld: bool,
    /// The protected witness's pseudonym (also when their name is revealed,
    /// so that a vault importing the bundle can withhold it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    /// Protected flag.
    pub protected: bool,
    /// Language.
    pub language: Option<String>,
    /// Taken at.
    pub taken_at: Option<String>,
    /// Place.
    pub place: Option<String>,
    /// Interviewer.
    pub interviewer: Option<String>,
    /// Interpreter.
    pub interpreter: Option<String>,
    /// Consent note.
    pub consent: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Why this version was made.
    pub reason: Option<String>,
    /// Recorded at.
    pub created_at: String,
    /// Recorded by.
    pub created_by: String,
    /// Sealed in the vault.
    pub sealed: bool,
    /// SHA-256 of the text file beside this one.
    pub text_sha256: String,
    /// SHA-256 of the original version in the vault (differs from
    /// `text_sha256` only when the text was redacted).
    pub original_sha256: String,
    /// Occurrences of the protected name replaced by the pseudonym.
    pub redactions: usize,
}

/// One entry of `data/evidence.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EvidenceDoc {
    /// Item id.
    pub id: String,
    /// Path of the file inside the bag.
    pub path: String,
    /// Original file name.
    pub original_name: String,
    /// Media type.
    pub media_type: String,
    /// Size.
    pub size: u64,
    /// SHA-256 recorded at intake.
    pub sha256: String,
    /// Supported statement id.
    pub statement: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Source.
    pub source: Option<String>,
    /// Acquired at.
    pub acquired_at: Option<String>,
    /// Acquired by.
    pub acquired_by: Option<String>,
    /// Added at.
    pub added_at: String,
    /// Added by.
    pub added_by: String,
}

/// Path of a statement version's text.
pub(crate) fn statement_text_path(id: &str, version: u64) -> String {
    format!("data/statements/{id}/v{version}.txt")
}

/// Path of a statement version's metadata.
pub(crate) fn statement_json_path(id: &str, version: u64) -> String {
    format!("data/statements/{id}/v{version}.json")
}

/// Path of a record's custody log.
pub(crate) fn custody_path(id: &str) -> String {
    format!("data/custody/{id}.jsonl")
}

/// Folder of the chains imported records brought from earlier vaults.
pub const PRIOR_CUSTODY_DIR: &str = "data/prior-custody/";

/// Path of the `n`th (from 1, oldest first) earlier chain of record `id`.
pub(crate) fn prior_custody_path(id: &str, n: usize) -> String {
    format!("{PRIOR_CUSTODY_DIR}{id}/{n}.jsonl")
}

/// The record id and number of a [`prior_custody_path`], if it is one.
pub(crate) fn parse_prior_custody_path(path: &str) -> Option<(String, usize)> {
    let rest = path.strip_prefix(PRIOR_CUSTODY_DIR)?;
    let (id, file) = rest.split_once('/')?;
    let n: usize = file.strip_suffix(".jsonl")?.parse().ok()?;
    let canonical = prior_custody_path(id, n);
    (canonical == path && n >= 1 && id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (id.to_owned(), n))
}

/// Path of a signer's public key.
pub(crate) fn signer_path(key_id: &str) -> String {
    format!("data/signers/{key_id}.pub")
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escape_neutralises_markup() {
        assert_eq!(
            html_escape("<script>alert('x')</script> & \"«é»\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;«é»&quot;"
        );
        assert_eq!(html_escape("a\u{1b}[31m"), "a\u{fffd}[31m");
    }
}
