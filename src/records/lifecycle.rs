//! The end of a record's life, and corrections to a case (SPEC §3):
//!
//! * **Withdraw** (consent withdrawn, or a record to be kept back): the
//!   record stays sealed in the vault, readable by its users, but is never
//!   again exported, searched, extracted or amended. The custody event
//!   says why.
//! * **Destroy** (entered by mistake, or ordered erased): its content is
//!   erased (versions, search text, seal, evidence chunks; `secure_delete`
//!   zeroes the freed pages and the vault is compacted afterwards), while
//!   its `records` row and every custody event stay, with the hashes they
//!   recorded. SECURITY.md says what a disk may still hold.
//! * **Case amendment**: the title, description or tags of a case get a
//!   new version with a reason, as statements do.
//!
//! The vault state (the fold of the chain) says which records are
//! withdrawn or destroyed, so deleting the rows of a record without its
//! destroy event is still detected.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::case::{find_case, CaseData};
use super::{check_text, expect_record};
use crate::custody::Action;
use crate::error::{Error, Invalid, Result};
use crate::format::{Id, Kind};
use crate::store::records as rows;
use crate::vault::sealed::{resolve_any, seal_field};
use crate::vault::{Unlocked, Vault};

/// What a withdrawal or destruction did.
#[derive(Clone, Debug, Serialize)]
pub struct Retired {
    /// The record.
    #[serde(serialize_with = "crate::vault::users::ser_id")]
    pub id: Id,
    /// Its kind.
    pub kind: &'static str,
    /// The custody event's position.
    pub event: u64,
    /// Vault file size before and after compaction (destroy only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<(u64, u64)>,
}

/// The changes of a case amendment (`None`: unchanged).
#[derive(Clone, Debug, Default)]
pub struct CaseChanges {
    /// A new title.
    pub title: Option<String>,
    /// A new description (`Some("")` removes it).
    pub description: Option<String>,
    /// New tags (replacing the old ones).
    pub tags: Option<Vec<String>>,
}

const MAX_REASON: usize = 10_000;

fn retirable(id: &Id, kind: Kind) -> Result<()> {
    if kind == Kind::Case {
        return Err(Error::Invalid(Invalid::Retire {
            problem: format!(
                "{} is a case; withdraw or destroy its statements and exhibits one by one",
                id.short()
            ),
        }));
    }
    Ok(())
}

impl Vault<Unlocked> {
    /// Withdraws a statement or exhibit (by id or prefix): kept sealed, out
    /// of every export and search from now on. Refused twice.
    pub fn withdraw_record(&mut self, id: &str, reason: &str) -> Result<Retired> {
        check_text("the reason", reason, MAX_REASON, true)?;
        self.write(|tx, session| {
            let (id, kind) = resolve_any(tx, id)?;
            retirable(&id, kind)?;
            let chain = expect_record(tx, session, &id, kind)?;
            if chain.withdrawn {
                return Err(Error::Invalid(Invalid::Retire {
                    problem: format!("{} {} is withdrawn already", kind.as_str(), id.short()),
                }));
            }
            // The events of a withdrawn record never leave the vault (it is
            // never exported), so the reason is kept in its event.
            let event = session.append(
                tx,
                kind,
                &id,
                Action::Withdraw,
                serde_json::json!({ "reason": reason }),
            )?;
            Ok(Retired {
                id,
                kind: kind.as_str(),
                event: event.position,
                file_bytes: None,
            })
        })
    }

    /// Destroys a statement's or exhibit's content. `confirm` must be the
    /// record's full id (32 hex digits): a prefix that happens to match is
    /// not enough to erase testimony.
    pub fn destroy_record(&mut self, id: &str, reason: &str, confirm: &str) -> Result<Retired> {
        check_text("the reason", reason, MAX_REASON, true)?;
        let before = self.store().file_size();
        let mut retired = self.write(|tx, session| {
            let (id, kind) = resolve_any(tx, id)?;
            retirable(&id, kind)?;
            if !confirm.trim().eq_ignore_ascii_case(&id.to_hex()) {
                return Err(Error::Invalid(Invalid::Retire {
                    problem: format!(
                        "to destroy {} {}, repeat its full id with --confirm {}",
                        kind.as_str(),
                        id.short(),
                        id.to_hex()
                    ),
                }));
            }
            expect_record(tx, session, &id, kind)?;
            let erased = rows::erase_content(tx, &id)?;
            if kind == Kind::Statement {
                session.index_forget(tx, &id)?;
            }
            let event = session.append(
                tx,
                kind,
                &id,
                Action::Destroy,
                serde_json::json!({ "reason": reason, "rows_erased": erased }),
            )?;
            Ok(Retired {
                id,
                kind: kind.as_str(),
                event: event.position,
                file_bytes: None,
            })
        })?;
        // Committed: rewrite the file without the freed pages.
        self.store_mut().compact()?;
        retired.file_bytes = Some((before, self.store().file_size()));
        Ok(retired)
    }

    /// Amends a case's title, description or tags: a new version, with a
    /// reason. Returns the case id and the new version.
    pub fn amend_case(
        &mut self,
        reference: &str,
        changes: &CaseChanges,
        reason: &str,
    ) -> Result<(Id, u64)> {
        check_text("the reason", reason, MAX_REASON, true)?;
        if changes.title.is_none() && changes.description.is_none() && changes.tags.is_none() {
            return Err(Error::Invalid(Invalid::CaseAmendment {
                problem: "nothing to amend: give --title, --description or --tag".into(),
            }));
        }
        if let Some(t) = &changes.title {
            check_text("the case title", t, 1000, false)?;
        }
        if let Some(d) = changes.description.as_deref().filter(|d| !d.is_empty()) {
            check_text("the case description", d, 100_000, true)?;
        }
        for t in changes.tags.iter().flatten() {
            check_text("a tag", t, 200, false)?;
        }
        self.write(|tx, session| {
            let case = find_case(tx, session, reference)?;
            let chain = expect_record(tx, session, &case.id, Kind::Case)?;
            let version = chain.versions + 1;
            let mut changed = Vec::new();
            let mut data: CaseData = case.data.clone();
            if let Some(t) = &changes.title {
                if *t != data.title {
                    data.title = t.clone();
                    changed.push("title");
                }
            }
            if let Some(d) = &changes.description {
                let d = Some(d.clone()).filter(|d| !d.is_empty());
                if d != data.description {
                    data.description = d;
                    changed.push("description");
                }
            }
            if let Some(tags) = &changes.tags {
                if *tags != data.tags {
                    data.tags = tags.clone();
                    changed.push("tags");
                }
            }
            if changed.is_empty() {
                return Err(Error::Invalid(Invalid::CaseAmendment {
                    problem: format!(
                        "case {:?} already has these details; nothing was amended",
                        data.reference
                    ),
                }));
            }
            data.reason = Some(reason.to_owned());
            data.amended_at = Some(crate::custody::now_utc());
            data.amended_by = Some(session.user.name.clone());
            let sealed = seal_field(
                &session.keys.records,
                &session.vault_id,
                Kind::Case,
                &case.id,
                version,
                "overview",
                &data,
            )?;
            rows::insert_version(
                tx,
                &rows::VersionRow {
                    id: case.id,
                    version,
                    overview: sealed,
                    body: None,
                },
            )?;
            // As for statements: the reason is free text that may name a
            // protected witness, and a case's events are exported, so the
            // signed event carries its hash and the names of the fields.
            session.append(
                tx,
                Kind::Case,
                &case.id,
                Action::Amend,
                serde_json::json!({
                    "version": version,
                    "fields": changed,
                    "reason_sha256": hex::encode(Sha256::digest(reason.as_bytes())),
                }),
            )?;
            Ok((case.id, version))
        })
    }
}
