//! Cases: a user-chosen reference (`KZ-2026-014`), a title, a description
//! and tags. References are unique (compared case-insensitively).

use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::{check_text, open_or_note};
use crate::custody::now_utc;
use crate::custody::Action;
use crate::error::{Error, FieldProblem, Invalid, Result};
use crate::format::Id;
use crate::format::Kind;
use crate::store::records as rows;
use crate::vault::sealed::{open_field, resolve};
use crate::vault::{Session, Unlocked, Vault};

/// What `case new` takes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NewCase {
    /// The reference, e.g. `KZ-2026-014`.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
}

/// A case as stored (sealed overview of version 1).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CaseData {
    /// The reference.
    pub reference: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// When created.
    pub created_at: String,
    /// Who created it.
    pub created_by: String,
    /// Why this version amended the case (versions 2 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When this version was made (versions 2 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended_at: Option<String>,
    /// By whom (versions 2 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amended_by: Option<String>,
}

/// A case with its id.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    /// The id.
    #[serde(serialize_with = "crate::vault::users::ser_id")]
    pub id: Id,
    /// Its data.
    #[serde(flatten)]
    pub data: CaseData,
}

/// Every case (decrypts only the small case overviews), and the ids of
/// cases whose overview is damaged (left out, so the rest stay usable;
/// `check` names them).
pub(crate) fn cases_and_damaged(
    conn: &Connection,
    session: &Session<'_>,
) -> Result<(Vec<Case>, Vec<Id>)> {
    let mut cases = Vec::new();
    let mut damaged = Vec::new();
    for (id, version, sealed) in rows::latest_overviews(conn, Kind::Case.as_str())? {
        let opened = open_field(
            &session.keys.records,
            &session.vault_id,
            Kind::Case,
            &id,
            version,
            "overview",
            &sealed,
        );
        if let Some(data) = open_or_note(opened, id, &mut damaged)? {
            cases.push(Case { id, data });
        }
    }
    Ok((cases, damaged))
}

/// Every readable case.
pub(crate) fn all_cases(conn: &Connection, session: &Session<'_>) -> Result<Vec<Case>> {
    Ok(cases_and_damaged(conn, session)?.0)
}

/// Whether two case references name the same case: compared after
/// Unicode normalisation (NFC) and case folding, so "Réfugié-2026" typed
/// with a combining accent, or in capitals, is the same reference.
pub(crate) fn same_reference(a: &str, b: &str) -> bool {
    fold_reference(a) == fold_reference(b)
}

fn fold_reference(reference: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    reference.trim().nfc().collect::<String>().to_lowercase()
}

/// Finds a case by reference (see [`same_reference`]) or by id prefix.
pub(crate) fn find_case(conn: &Connection, session: &Session<'_>, reference: &str) -> Result<Case> {
    let wanted = reference.trim();
    let cases = all_cases(conn, session)?;
    if let Some(c) = cases
        .iter()
        .find(|c| same_reference(&c.data.reference, wanted))
    {
        return Ok(c.clone());
    }
    if let Ok(id) = resolve(conn, Kind::Case, wanted) {
        if let Some(c) = cases.into_iter().find(|c| c.id == id) {
            return Ok(c);
        }
    }
    Err(Error::NotFound(format!(
        "no case \"{wanted}\"; `custodia case list` shows the cases"
    )))
}

fn validate(input: &NewCase) -> Result<()> {
    check_text("the case reference", &input.reference, 200, false)?;
    if input.reference.trim() != input.reference {
        return Err(Error::Invalid(Invalid::Field {
            label: "the case reference".into(),
            problem: FieldProblem::OuterSpaces,
        }));
    }
    check_text("the case title", &input.title, 1000, false)?;
    if let Some(d) = &input.description {
        check_text("the case description", d, 100_000, true)?;
    }
    for t in &input.tags {
        check_text("a tag", t, 200, false)?;
    }
    Ok(())
}

impl Vault<Unlocked> {
    /// Creates a case; the reference must be new.
    pub fn create_case(&mut self, input: &NewCase) -> Result<Id> {
        validate(input)?;
        self.write(|tx, session| {
            let exists = all_cases(tx, session)?
                .iter()
                .any(|c| same_reference(&c.data.reference, &input.reference));
            if exists {
                return Err(Error::Invalid(Invalid::CaseExists {
                    reference: input.reference.clone(),
                }));
            }
            let id = crate::crypto::random_id()?;
            let data = CaseData {
                // Stored in NFC, as typed otherwise.
                reference: {
                    use unicode_normalization::UnicodeNormalization;
                    input.reference.nfc().collect()
                },
                title: input.title.clone(),
                description: input.description.clone(),
                tags: input.tags.clone(),
                created_at: now_utc(),
                created_by: session.user.name.clone(),
                reason: None,
                amended_at: None,
                amended_by: None,
            };
            crate::records::new_record(tx, Kind::Case, &id)?;
            super::insert_first_overview(tx, session, Kind::Case, &id, &data)?;
            session.append(tx, Kind::Case, &id, Action::Create, serde_json::json!({}))?;
            Ok(id)
        })
    }

    /// Every readable case, and the ids of damaged ones.
    pub fn cases(&mut self) -> Result<(Vec<Case>, Vec<Id>)> {
        self.read(|tx, session| cases_and_damaged(tx, session))
    }

    /// The id of the case `reference` names, without recording a view (it
    /// reads nothing of the case): to check a target before work starts.
    pub fn case_id(&mut self, reference: &str) -> Result<Id> {
        self.read(|tx, session| Ok(find_case(tx, session, reference)?.id))
    }

    /// Shows a case (records a view).
    pub fn show_case(&mut self, reference: &str) -> Result<Case> {
        self.write(|tx, session| {
            let case = find_case(tx, session, reference)?;
            session.append(
                tx,
                Kind::Case,
                &case.id,
                Action::View,
                serde_json::json!({}),
            )?;
            Ok(case)
        })
    }
}
