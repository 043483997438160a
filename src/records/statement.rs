//! Witness statements: append-only versions (an amendment is a new version
//! with a reason; every version stays readable), sealing, and the
//! overview/body/search split.

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::case::{all_cases, find_case};
use super::{
    check_date, check_optional, check_text, expect_record, latest_overviews_in, refuse_withdrawn,
    InCase, Scope,
};
use crate::crypto::aead::seal_bytes;
use crate::custody::now_utc;
use crate::custody::Action;
use crate::error::{Error, Integrity, Invalid, Result};
use crate::format::Id;
use crate::format::Kind;
use crate::formats::search::fold;
use crate::formats::search_index::KeySet;
use crate::store::records::{self as rows, VersionRow};
use crate::vault::sealed::{open_field, resolve, seal_field};
use crate::vault::{Session, Unlocked, Vault};

/// Largest statement body accepted (larger material belongs in evidence).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
const MAX_FIELD: usize = 4096;
/// Most aliases one witness may carry.
pub const MAX_ALIASES: usize = 100;

/// The descriptive fields of a statement (SPEC §3).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatementFields {
    /// The witness's name.
    pub witness: String,
    /// A pseudonym shown instead of the name when the witness is protected.
    pub pseudonym: Option<String>,
    /// The witness's identity must be withheld on export unless asked.
    pub protected: bool,
    /// Language of the statement.
    pub language: Option<String>,
    /// When it was taken.
    pub taken_at: Option<String>,
    /// Where it was taken.
    pub place: Option<String>,
    /// Who took it.
    pub interviewer: Option<String>,
    /// Who interpreted.
    pub interpreter: Option<String>,
    /// The witness's consent, in words.
    pub consent: Option<String>,
    /// Source: a URL or citation.
    pub source: Option<String>,
    /// Other spellings of the witness's name (transliterations, other
    /// scripts, a surname used alone…). A protected witness's aliases are
    /// replaced by the pseudonym on export, as the whole name is (and only
    /// these: see `bundle::redact`). Never written into a bundle. Absent
    /// from versions written before aliases existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl InCase for StatementOverview {
    fn case_hex(&self) -> &str {
        &self.case
    }
}

impl StatementFields {
    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        check_text("the witness name", &self.witness, MAX_FIELD, false)?;
        check_optional("the pseudonym", &self.pseudonym, MAX_FIELD)?;
        check_optional("the language", &self.language, 100)?;
        check_optional("the place", &self.place, MAX_FIELD)?;
        check_optional("the interviewer", &self.interviewer, MAX_FIELD)?;
        check_optional("the interpreter", &self.interpreter, MAX_FIELD)?;
        check_optional("the source", &self.source, MAX_FIELD)?;
        if self.aliases.len() > MAX_ALIASES {
            return Err(Error::Invalid(Invalid::Statement {
                problem: format!("a witness can have at most {MAX_ALIASES} aliases"),
            }));
        }
        for alias in &self.aliases {
            check_text("an alias", alias, MAX_FIELD, false)?;
            // An alias with no letter or digit would match nothing: refused
            // rather than silently not redacted.
            if !alias.chars().any(char::is_alphanumeric) {
                return Err(Error::Invalid(Invalid::Statement {
                    problem: format!(
                        "the alias {alias:?} has no letter or digit, so it could never be found"
                    ),
                }));
            }
        }
        if let Some(c) = &self.consent {
            check_text("the consent note", c, 100_000, true)?;
        }
        if let Some(d) = &self.taken_at {
            check_date("the date taken", d)?;
        }
        if self.protected && self.pseudonym.is_none() {
            return Err(Error::Invalid(Invalid::Statement {
                problem: "a protected witness needs a pseudonym (the name shown instead of theirs)"
                    .into(),
            }));
        }
        Ok(())
    }

    /// The name to show when identities are withheld.
    pub(crate) fn public_name(&self) -> &str {
        match (&self.pseudonym, self.protected) {
            (Some(p), true) => p,
            _ => &self.witness,
        }
    }
}

/// The sealed overview of one statement version: everything but the body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatementOverview {
    /// The case's id.
    pub case: String,
    /// Descriptive fields.
    #[serde(flatten)]
    pub fields: StatementFields,
    /// This version's number.
    pub version: u64,
    /// Why this version was made (amendments).
    pub reason: Option<String>,
    /// When this version was made.
    pub created_at: String,
    /// Who made it.
    pub created_by: String,
    /// SHA-256 of the body's UTF-8 bytes, hex.
    pub body_sha256: String,
    /// Body length in bytes.
    pub body_bytes: u64,
}

/// A statement version with its body.
#[derive(Clone, Debug, Serialize)]
pub struct StatementVersion {
    /// Statement id.
    #[serde(serialize_with = "crate::vault::users::ser_id")]
    pub id: Id,
    /// The case's reference.
    pub case_reference: String,
    /// The overview.
    #[serde(flatten)]
    pub overview: StatementOverview,
    /// Number of versions the statement has.
    pub versions: u64,
    /// Sealed against amendment.
    pub sealed: bool,
    /// The text, byte for byte as given.
    pub body: String,
}

/// A statement as listed (latest version, no body).
#[derive(Clone, Debug, Serialize)]
pub struct StatementSummary {
    /// Statement id.
    #[serde(serialize_with = "crate::vault::users::ser_id")]
    pub id: Id,
    /// The case's reference.
    pub case_reference: String,
    /// Latest version's overview.
    #[serde(flatten)]
    pub overview: StatementOverview,
    /// Sealed against amendment.
    pub sealed: bool,
}

/// What `statement add` and each imported row take.
#[derive(Clone, Debug)]
pub struct NewStatement {
    /// Case reference or id.
    pub case: String,
    /// Descriptive fields.
    pub fields: StatementFields,
    /// The text.
    pub body: String,
}

/// An amendment: a new text or new field values (or both), and why.
#[derive(Clone, Debug, Default)]
pub struct Amendment {
    /// The new text; `None` keeps the current one.
    pub body: Option<String>,
    /// Why the statement is amended (required).
    pub reason: String,
    /// The statement's own fields to change.
    pub changes: FieldChanges,
}

/// New values for a statement's own fields (`None`: unchanged).
///
/// There is deliberately no way to make a protected witness unprotected:
/// an amendment that would expose an identity on every later export is
/// refused by construction. `--reveal-protected` on one export is the way
/// to show a name where a court must see it (docs/bundle.md §4).
#[derive(Clone, Debug, Default)]
pub struct FieldChanges {
    /// New pseudonym.
    pub pseudonym: Option<String>,
    /// Make the witness protected (needs a pseudonym).
    pub protect: bool,
    /// New language.
    pub language: Option<String>,
    /// New date taken.
    pub taken_at: Option<String>,
    /// New place.
    pub place: Option<String>,
    /// New interviewer.
    pub interviewer: Option<String>,
    /// New interpreter.
    pub interpreter: Option<String>,
    /// New consent note.
    pub consent: Option<String>,
    /// New source.
    pub source: Option<String>,
    /// A new list of aliases, replacing the old one (`Some(vec![])` clears it).
    pub aliases: Option<Vec<String>>,
}

impl FieldChanges {
    /// `fields` with these changes, and the names of the fields whose value
    /// actually changed (in `StatementFields` order).
    pub fn apply(&self, fields: &StatementFields) -> (StatementFields, Vec<&'static str>) {
        let mut out = fields.clone();
        let mut changed = Vec::new();
        fn set(
            slot: &mut Option<String>,
            new: &Option<String>,
            name: &'static str,
            changed: &mut Vec<&'static str>,
        ) {
            if let Some(v) = new {
                if slot.as_deref() != Some(v.as_str()) {
                    *slot = Some(v.clone());
                    changed.push(name);
                }
            }
        }
        set(
            &mut out.pseudonym,
            &self.pseudonym,
            "pseudonym",
            &mut changed,
        );
        if self.protect && !out.protected {
            out.protected = true;
            changed.push("protected");
        }
        set(&mut out.language, &self.language, "language", &mut changed);
        set(&mut out.taken_at, &self.taken_at, "taken_at", &mut changed);
        set(&mut out.place, &self.place, "place", &mut changed);
        set(
            &mut out.interviewer,
            &self.interviewer,
            "interviewer",
            &mut changed,
        );
        set(
            &mut out.interpreter,
            &self.interpreter,
            "interpreter",
            &mut changed,
        );
        set(&mut out.consent, &self.consent, "consent", &mut changed);
        set(&mut out.source, &self.source, "source", &mut changed);
        if let Some(aliases) = &self.aliases {
            if *aliases != out.aliases {
                out.aliases = aliases.clone();
                changed.push("aliases");
            }
        }
        (out, changed)
    }
}

#[derive(Serialize, Deserialize)]
struct SealMark {
    sealed_at: String,
    sealed_by: String,
    version: u64,
}

/// Checks a body: not empty, not too large. (It is already valid UTF-8.)
pub(crate) fn check_body(body: &str) -> Result<()> {
    if body.trim().is_empty() {
        return Err(Error::Invalid(Invalid::Statement {
            problem: "the statement text is empty".into(),
        }));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::Invalid(Invalid::Statement {
            problem: format!(
                "the statement text is {} bytes, more than {} MiB; add it as evidence instead",
                body.len(),
                MAX_BODY_BYTES / (1024 * 1024)
            ),
        }));
    }
    Ok(())
}

/// The text a statement is searched by: metadata and body (folded by the
/// caller), joined by newlines into a wiped buffer sized exactly first, so
/// it never grows and leaves no unwiped copy behind.
fn search_source(fields: &StatementFields, body: &str) -> Zeroizing<String> {
    let mut parts: Vec<&str> = vec![&fields.witness];
    for f in [
        &fields.pseudonym,
        &fields.place,
        &fields.language,
        &fields.interviewer,
        &fields.interpreter,
        &fields.source,
    ]
    .into_iter()
    .flatten()
    {
        parts.push(f);
    }
    parts.push(body);
    let len = parts.iter().map(|p| p.len()).sum::<usize>() + parts.len() - 1;
    let mut text = Zeroizing::new(String::with_capacity(len));
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(part);
    }
    text
}

/// The unfolded text of [`search_source`], for snippets.
pub(crate) fn searchable_text(fields: &StatementFields, body: &str) -> Zeroizing<String> {
    search_source(fields, body)
}

/// What writing a version computes from its fields and body alone: the
/// folded search text and the search-index keys of its words. A statement
/// import prepares it on its reading thread, beside the transaction.
pub(crate) struct SearchPrep {
    /// Wiped on drop. (`fold` may still regrow its own buffer when folding
    /// lengthens the text, e.g. "ß" to "ss": see SECURITY.md.)
    folded: Zeroizing<String>,
    keys: KeySet,
}

impl SearchPrep {
    /// Folds the search text of `fields` and `body` and gathers its keys.
    pub(crate) fn of(fields: &StatementFields, body: &str) -> SearchPrep {
        let folded = Zeroizing::new(fold(&search_source(fields, body)));
        let mut keys = KeySet::default();
        keys.add_text(&folded);
        SearchPrep { folded, keys }
    }
}

/// Writes one version of a statement (overview and body in
/// `record_versions`) and makes its folded search text the statement's
/// current one. Used by add, amend and bundle import.
pub(crate) fn write_version(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    overview: &StatementOverview,
    body: &str,
) -> Result<()> {
    let prep = SearchPrep::of(&overview.fields, body);
    write_version_prepared(conn, session, id, overview, body, &prep)
}

/// [`write_version`] with the search text prepared already, from the same
/// fields and body.
fn write_version_prepared(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    overview: &StatementOverview,
    body: &str,
    prep: &SearchPrep,
) -> Result<()> {
    let key = &session.keys.records;
    let v = overview.version;
    let vault = &session.vault_id;
    rows::insert_version(
        conn,
        &VersionRow {
            id: *id,
            version: v,
            overview: seal_field(key, vault, Kind::Statement, id, v, "overview", overview)?,
            body: Some(seal_field(
                key,
                vault,
                Kind::Statement,
                id,
                v,
                "body",
                body,
            )?),
        },
    )?;
    write_search_text(conn, session, id, v, prep)
}

/// Seals the prepared search text of version `v` of statement `id` and
/// indexes its keys.
fn write_search_text(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    v: u64,
    prep: &SearchPrep,
) -> Result<()> {
    let folded = &prep.folded;
    let record = id.to_hex();
    let sealed = seal_bytes(
        &session.keys.records,
        &crate::vault::sealed::record_binding(
            &session.vault_id,
            Kind::Statement,
            &record,
            v,
            "search",
        ),
        folded.as_bytes(),
    )?;
    rows::set_search_text(conn, id, v, &sealed)?;
    session.index_text(conn, id, v, &prep.keys)
}

impl Vault<Unlocked> {
    /// Folds every statement's search text again when the vault's texts
    /// were folded by an older [`crate::formats::search::FOLD_VERSION`] (a change of
    /// folding rules or of the Unicode tables), so a new query never
    /// silently misses an old text. Runs at unlock, once per fold version,
    /// in one write transaction ending with a signed `refold` event.
    /// A statement that cannot be read keeps its old text (`check` reports
    /// it). Returns how many texts were folded again, if it ran.
    pub(crate) fn refold_if_needed(&mut self) -> Result<Option<u64>> {
        let current = self.read(|tx, session| Ok(session.state(tx)?.state.fold_version))?;
        if current == crate::formats::search::FOLD_VERSION {
            return Ok(None);
        }
        let vault_id = self.id();
        self.write(|tx, session| {
            let from = session.state(tx)?.state.fold_version;
            if from == crate::formats::search::FOLD_VERSION {
                return Ok(None); // another process did it meanwhile
            }
            let mut refolded = 0u64;
            for id in rows::records_of_kind(tx, Kind::Statement.as_str())? {
                let destroyed = session
                    .state(tx)?
                    .state
                    .chain(&id.to_hex())
                    .is_some_and(|c| c.destroyed);
                if destroyed {
                    continue; // nothing left to fold
                }
                let latest = match read_version(tx, session, &id, None) {
                    Ok(v) => v,
                    Err(Error::Integrity(_)) => continue,
                    Err(e) => return Err(e),
                };
                let o = &latest.overview;
                let prep = SearchPrep::of(&o.fields, &latest.body);
                write_search_text(tx, session, &id, o.version, &prep)?;
                refolded += 1;
            }
            session.append(
                tx,
                Kind::Vault,
                &vault_id,
                Action::Refold,
                serde_json::json!({
                    "fold_version": crate::formats::search::FOLD_VERSION,
                    "from_fold_version": from,
                    "statements": refolded,
                }),
            )?;
            Ok(Some(refolded))
        })
    }
}

/// Creates a statement in the caller's transaction (used by `add` and `import`).
pub(crate) fn insert_statement(
    conn: &Connection,
    session: &Session<'_>,
    case_id: &Id,
    input: &NewStatement,
    prep: &SearchPrep,
) -> Result<Id> {
    let id = crate::crypto::random_id()?;
    let overview = StatementOverview {
        case: case_id.to_hex(),
        fields: input.fields.clone(),
        version: 1,
        reason: None,
        created_at: now_utc(),
        created_by: session.user.name.clone(),
        body_sha256: hex::encode(Sha256::digest(input.body.as_bytes())),
        body_bytes: input.body.len() as u64,
    };
    crate::records::new_record(conn, Kind::Statement, &id)?;
    write_version_prepared(conn, session, &id, &overview, &input.body, prep)?;
    session.append(conn, Kind::Statement, &id, Action::Create, serde_json::json!({ "version": 1, "body_sha256": overview.body_sha256, "case": overview.case }))?;
    Ok(id)
}

/// Reads one version (latest when `version` is None) with its body.
pub(crate) fn read_version(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
    version: Option<u64>,
) -> Result<StatementVersion> {
    let chain = expect_record(conn, session, id, Kind::Statement)?;
    let versions = rows::versions(conn, id)?;
    let count = versions.len() as u64;
    let row = match version {
        None => versions.last(),
        Some(n) => versions.iter().find(|v| v.version == n),
    }
    .ok_or_else(|| match version {
        Some(n) => Error::NotFound(format!(
            "statement {} has no version {n} (it has {count})",
            id.short()
        )),
        None => Error::Integrity(Integrity::RecordDamaged {
            record: *id,
            problem: format!("statement {} has no versions", id.to_hex()),
        }),
    })?;
    let key = &session.keys.records;
    let overview: StatementOverview = open_field(
        key,
        &session.vault_id,
        Kind::Statement,
        id,
        row.version,
        "overview",
        &row.overview,
    )?;
    let sealed_body = row.body.as_ref().ok_or_else(|| {
        Error::Integrity(Integrity::RecordDamaged {
            record: *id,
            problem: format!("statement {} has no body", id.to_hex()),
        })
    })?;
    let body: String = open_field(
        key,
        &session.vault_id,
        Kind::Statement,
        id,
        row.version,
        "body",
        sealed_body,
    )?;
    if hex::encode(Sha256::digest(body.as_bytes())) != overview.body_sha256
        || overview.version != row.version
    {
        return Err(Error::Integrity(Integrity::RecordDamaged {
            record: *id,
            problem: format!(
                "statement {} version {}: the body does not match its recorded SHA-256",
                id.to_hex(),
                row.version
            ),
        }));
    }
    let case_reference = case_reference(conn, session, &overview.case);
    Ok(StatementVersion {
        id: *id,
        case_reference,
        overview,
        versions: count,
        sealed: chain.sealed,
        body,
    })
}

fn case_reference(conn: &Connection, session: &Session<'_>, case_hex: &str) -> String {
    all_cases(conn, session)
        .ok()
        .and_then(|cases| cases.into_iter().find(|c| c.id.to_hex() == case_hex))
        .map(|c| c.data.reference)
        .unwrap_or_else(|| case_hex.to_owned())
}

/// Summaries of every statement (optionally of one case); bodies are not
/// decrypted. Statements whose overview is damaged are left out and their
/// ids returned, so one damaged record does not hide the others.
/// Withdrawn statements are left out unless `scope` asks for them.
pub(crate) fn summaries(
    conn: &Connection,
    session: &Session<'_>,
    case: Option<&Id>,
    scope: Scope,
) -> Result<(Vec<StatementSummary>, Vec<Id>)> {
    let (found, damaged) =
        latest_overviews_in::<StatementOverview>(conn, session, Kind::Statement, case, scope)?;
    let mut out = Vec::with_capacity(found.len());
    for (id, case_reference, overview) in found {
        out.push(StatementSummary {
            id,
            case_reference,
            sealed: rows::seal(conn, &id)?.is_some(),
            overview,
        });
    }
    Ok((out, damaged))
}

/// Every version's overview of one statement, oldest first.
pub fn history(
    conn: &Connection,
    session: &Session<'_>,
    id: &Id,
) -> Result<Vec<StatementOverview>> {
    expect_record(conn, session, id, Kind::Statement)?;
    rows::versions(conn, id)?
        .iter()
        .map(|row| {
            open_field(
                &session.keys.records,
                &session.vault_id,
                Kind::Statement,
                id,
                row.version,
                "overview",
                &row.overview,
            )
        })
        .collect()
}

impl Vault<Unlocked> {
    /// Adds a statement to a case; returns its id.
    pub fn add_statement(&mut self, input: &NewStatement) -> Result<Id> {
        input.fields.validate()?;
        check_body(&input.body)?;
        self.write(|tx, session| {
            let case = find_case(tx, session, &input.case)?;
            let prep = SearchPrep::of(&input.fields, &input.body);
            insert_statement(tx, session, &case.id, input, &prep)
        })
    }

    /// Lists statements, optionally of one case, with the ids of damaged
    /// ones left out.
    pub fn statements(&mut self, case: Option<&str>) -> Result<(Vec<StatementSummary>, Vec<Id>)> {
        self.read(|tx, session| {
            let case_id = match case {
                Some(reference) => Some(find_case(tx, session, reference)?.id),
                None => None,
            };
            summaries(tx, session, case_id.as_ref(), Scope::Active)
        })
    }

    /// Shows one version of a statement (records a view).
    pub fn show_statement(&mut self, id: &str, version: Option<u64>) -> Result<StatementVersion> {
        self.write(|tx, session| {
            let id = resolve(tx, Kind::Statement, id)?;
            let shown = read_version(tx, session, &id, version)?;
            session.append(
                tx,
                Kind::Statement,
                &id,
                Action::View,
                serde_json::json!({ "version": shown.overview.version }),
            )?;
            Ok(shown)
        })
    }

    /// The versions of a statement (records a view).
    pub fn statement_history(&mut self, id: &str) -> Result<(Id, Vec<StatementOverview>, bool)> {
        self.write(|tx, session| {
            let id = resolve(tx, Kind::Statement, id)?;
            let versions = history(tx, session, &id)?;
            let sealed = rows::seal(tx, &id)?.is_some();
            session.append(
                tx,
                Kind::Statement,
                &id,
                Action::View,
                serde_json::json!({ "history": true }),
            )?;
            Ok((id, versions, sealed))
        })
    }

    /// Amends a statement: a new version with a new body and a reason.
    /// Refused when the statement is sealed. Returns the new version number.
    pub fn amend_statement(&mut self, id: &str, body: &str, reason: &str) -> Result<(Id, u64)> {
        self.amend(
            id,
            &Amendment {
                body: Some(body.to_owned()),
                reason: reason.to_owned(),
                changes: FieldChanges::default(),
            },
        )
    }

    /// Amends a statement: a new version with a new text, new field
    /// values, or both, and a reason (the text stays the same when none is
    /// given). Refused when the statement is sealed, and when neither the
    /// text nor any field is given. The `amend` event names the fields that
    /// changed (never their values). Returns the new version number.
    pub fn amend(&mut self, id: &str, amendment: &Amendment) -> Result<(Id, u64)> {
        if let Some(body) = &amendment.body {
            check_body(body)?;
        }
        let reason = amendment.reason.as_str();
        check_text("the reason", reason, 10_000, true)?;
        self.write(|tx, session| {
            let id = resolve(tx, Kind::Statement, id)?;
            // The chain, not the seal row, says whether it is sealed.
            let chain = expect_record(tx, session, &id, Kind::Statement)?;
            refuse_withdrawn(&chain, Kind::Statement, &id, "amended")?;
            if chain.sealed {
                return Err(Error::Invalid(Invalid::Sealed { record: id }));
            }
            let current = read_version(tx, session, &id, None)?;
            let (fields, changed) = amendment.changes.apply(&current.overview.fields);
            if amendment.body.is_none() && changed.is_empty() {
                return Err(Error::Invalid(Invalid::Statement {
                    problem: "nothing to change: give a new text or a field whose value \
                              differs; no new version was made"
                        .into(),
                }));
            }
            fields.validate()?;
            let body = amendment.body.as_deref().unwrap_or(&current.body);
            let version = current.versions + 1;
            let overview = StatementOverview {
                fields,
                version,
                reason: Some(reason.to_owned()),
                created_at: now_utc(),
                created_by: session.user.name.clone(),
                body_sha256: hex::encode(Sha256::digest(body.as_bytes())),
                body_bytes: body.len() as u64,
                ..current.overview
            };
            write_version(tx, session, &id, &overview, body)?;
            // The reason is free text that may name a protected witness;
            // the signed event carries its hash, the sealed version the
            // text. Changed fields are named, their values never written
            // (a place or an alias can identify a witness).
            let mut details = serde_json::json!({
                "version": version,
                "reason_sha256": hex::encode(Sha256::digest(reason.as_bytes())),
                "body_sha256": overview.body_sha256
            });
            if !changed.is_empty() {
                details["fields"] = serde_json::json!(changed);
            }
            session.append(tx, Kind::Statement, &id, Action::Amend, details)?;
            Ok((id, version))
        })
    }

    /// Seals a statement: no more amendments. Sealing twice is refused.
    pub fn seal_statement(&mut self, id: &str) -> Result<(Id, u64)> {
        self.write(|tx, session| {
            let id = resolve(tx, Kind::Statement, id)?;
            Ok((id, seal(tx, session, &id)?))
        })
    }
}

/// Seals statement `id` in the caller's transaction (used by `seal` and by
/// bundle import, which carries a sealed statement over sealed). Returns
/// the version sealed.
pub fn seal(conn: &Connection, session: &Session<'_>, id: &Id) -> Result<u64> {
    if expect_record(conn, session, id, Kind::Statement)?.sealed {
        return Err(Error::Invalid(Invalid::AlreadySealed { record: *id }));
    }
    let version = rows::versions(conn, id)?.len() as u64;
    let mark = SealMark {
        sealed_at: now_utc(),
        sealed_by: session.user.name.clone(),
        version,
    };
    let sealed = seal_field(
        &session.keys.records,
        &session.vault_id,
        Kind::Statement,
        id,
        1,
        "seal",
        &mark,
    )?;
    rows::insert_seal(conn, id, &sealed)?;
    session.append(
        conn,
        Kind::Statement,
        id,
        Action::Seal,
        serde_json::json!({ "version": version }),
    )?;
    Ok(version)
}

#[cfg(test)]
mod search_text_tests {
    use super::*;

    #[test]
    fn field_changes_name_only_the_fields_whose_value_changed() {
        let fields = StatementFields {
            witness: "Evgeny Ivanov".into(),
            place: Some("Astana".into()),
            aliases: vec!["Yevgeny".into()],
            ..StatementFields::default()
        };
        let changes = FieldChanges {
            place: Some("Astana".into()),
            taken_at: Some("2026-03-15".into()),
            aliases: Some(vec!["Евгений".into()]),
            protect: true,
            pseudonym: Some("Témoin A".into()),
            ..FieldChanges::default()
        };
        let (new, changed) = changes.apply(&fields);
        assert_eq!(changed, ["pseudonym", "protected", "taken_at", "aliases"]);
        assert_eq!(new.place.as_deref(), Some("Astana"));
        assert_eq!(new.aliases, ["Евгений"]);
        assert!(new.protected);
        assert!(new.validate().is_ok());
        let (_, none) = FieldChanges::default().apply(&new);
        assert!(none.is_empty());
    }

    #[test]
    fn older_versions_without_aliases_still_read() {
        let old = r#"{"witness":"W","pseudonym":null,"protected":false,"language":null,"taken_at":null,"place":null,"interviewer":null,"interpreter":null,"consent":null,"source":null}"#;
        let f: StatementFields = serde_json::from_str(old).unwrap_or_default();
        assert_eq!(f.witness, "W");
        assert!(f.aliases.is_empty());
        // And an empty list is not written, so such a version stays as it was.
        assert_eq!(serde_json::to_string(&f).ok().as_deref(), Some(old));
    }

    #[test]
    fn search_source_is_an_exactly_sized_zeroizing_buffer() {
        let fields = StatementFields {
            witness: "Évgueni Ivanov".into(),
            place: Some("Astana".into()),
            source: Some("https://example.org/temoignage".into()),
            ..StatementFields::default()
        };
        let text: Zeroizing<String> = searchable_text(&fields, "Я дезертир « sans rien ».");
        assert_eq!(
            text.as_str(),
            "Évgueni Ivanov\nAstana\nhttps://example.org/temoignage\nЯ дезертир « sans rien »."
        );
        assert_eq!(text.capacity(), text.len(), "the buffer grew");
        let bare = searchable_text(&StatementFields::default(), "");
        assert_eq!(bare.as_str(), "\n");
    }
}
