//! Commands on the custody log: log, checkpoint, check; and backup.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use custodia::formats::checkpoint::Checkpoint;
use custodia::Vault;

use super::open::{advance, evidence_bytes, progress_bar, OpenVault};
use super::{vault_path, Failure, Global, Output};

/// `custodia log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only this record (id or unique prefix)
    id: Option<String>,
}

/// `custodia check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A receipt from `custodia checkpoint`: fail (exit 4) unless this vault
    /// contains and extends it
    #[arg(long, value_name = "RECEIPT")]
    expect_checkpoint: Option<String>,
    /// Rebuild the sealed search index from the sealed search texts before
    /// checking (when check reports a missing, damaged or stale index block)
    #[arg(long)]
    repair_index: bool,
}

/// `custodia backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the copy (still encrypted)
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn log(g: &Global, out: &Output, args: LogArgs) -> Result<(), Failure> {
    let mut vault = OpenVault::unlock(g, out)?;
    let log = vault.log(args.id.as_deref())?;
    let entries = &log.entries;
    let invalid = entries.iter().any(|e| !e.signature_valid);
    // Damage is reported after the readable events, which stay useful.
    let finish = || -> Result<(), Failure> {
        if !log.unreadable.is_empty() {
            return Err(Failure::Lib(custodia::Error::Integrity(
                custodia::Integrity::EventsUnreadable {
                    positions: log.unreadable.clone(),
                },
            )));
        }
        if invalid {
            return Err(invalid_signatures());
        }
        Ok(())
    };
    if out.json {
        out.json(entries)?;
        return finish();
    }
    for entry in entries {
        let e = &entry.event;
        let details = match &e.details {
            serde_json::Value::Object(m) if m.is_empty() => String::new(),
            other => other.to_string(),
        };
        let reason = entry
            .reason
            .as_ref()
            .map(|r| format!("  reason: {r}"))
            .unwrap_or_default();
        let origin = entry
            .imported_from
            .as_ref()
            .map(|v| format!("  [earlier vault {}]", prefix(v, 8)))
            .unwrap_or_default();
        out.line(format!(
            "{:>5}  {}  {:<16} {:<7} {:<9} {}  {}{}{}{}",
            e.position,
            e.time,
            e.user,
            e.action.as_str(),
            e.record_kind,
            prefix(&e.record, 12),
            details,
            reason,
            origin,
            if entry.signature_valid {
                ""
            } else {
                "  [SIGNATURE INVALID]"
            }
        ))?;
    }
    finish()
}

/// The first `n` characters of `text` (ids from an imported history are
/// not known to be ASCII).
fn prefix(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

fn invalid_signatures() -> Failure {
    Failure::Lib(custodia::Error::Integrity(
        custodia::Integrity::EventSignatures,
    ))
}

pub fn checkpoint(g: &Global, out: &Output) -> Result<(), Failure> {
    let mut vault = OpenVault::unlock(g, out)?;
    let cp = vault.checkpoint()?;
    out.either(
        &json!({ "checkpoint": cp, "receipt": cp.receipt() }),
        || {
            out.note(format!(
                "Custody checkpoint: {} events. Keep this receipt elsewhere; \
             `custodia check --expect-checkpoint RECEIPT` proves a vault has not been rolled back.",
                cp.count
            ));
            out.line(cp.receipt())
        },
    )
}

pub fn check(g: &Global, out: &Output, args: CheckArgs) -> Result<(), Failure> {
    let expected = match &args.expect_checkpoint {
        Some(text) => Some(Checkpoint::parse(text).map_err(|e| {
            custodia::Error::Invalid(custodia::Invalid::Checkpoint {
                problem: e.to_string(),
            })
        })?),
        None => None,
    };
    let mut vault = OpenVault::unlock(g, out)?;
    if args.repair_index {
        let blocks = vault.rebuild_search_index()?;
        out.note(format!(
            "Search index rebuilt from the sealed search texts: {blocks} block(s)."
        ));
    }
    let total = evidence_bytes(out, &mut vault, None, &[]);
    let bar = progress_bar(out, total, "checking evidence");
    let mut report = vault.check(&mut |n| advance(bar.as_ref(), n))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(cp) = &expected {
        if let Some(problem) = vault.verify_checkpoint(cp)? {
            report.problems.push(custodia::audit::check::Problem {
                record: None,
                position: Some(cp.count),
                message: format!("checkpoint: {problem}"),
                after_rebuilt_state: false,
            });
        }
    }
    let clean = report.is_clean();
    out.either(&json!({ "clean": clean, "report": report }), || {
        for w in &report.warnings {
            out.warn(w);
        }
        for p in &report.problems {
            // Name the record and position unless the message already does.
            let mut place = String::new();
            if let Some(pos) = p.position {
                if !p.message.contains(&format!("event {pos}")) {
                    place.push_str(&format!("event {pos}: "));
                }
            }
            if let Some(r) = &p.record {
                if !p.message.contains(r.as_str()) {
                    place.insert_str(0, &format!("record {r}, "));
                }
            }
            out.line(format!("DAMAGED  {place}{}", p.message))?;
        }
        out.line(format!(
            "{}: {} records, {} versions, {} evidence bytes re-hashed, {} custody events verified{}",
            if clean { "OK" } else { "INTEGRITY VIOLATIONS FOUND" },
            report.records,
            report.versions,
            report.evidence_bytes,
            report.events,
            if clean { String::new() } else { format!("; {} problem(s)", report.problems.len()) }
        ))
    })?;
    if clean {
        Ok(())
    } else {
        Err(Failure::Silent(4))
    }
}

pub fn backup(g: &Global, out: &Output, args: BackupArgs) -> Result<(), Failure> {
    let vault = Vault::open(&vault_path(g)?)?;
    vault.backup(&args.out, g.force)?;
    out.either(&json!({ "backup": args.out }), || {
        out.note(format!(
            "Wrote an encrypted copy of the vault to {}. It opens with the same passphrases and recovery key.",
            args.out.display()
        ));
        Ok(())
    })
}
