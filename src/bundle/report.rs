//! `data/report.html`: a self-contained page a clerk can read and print on
//! A4: the case, each statement version, the exhibits with their SHA-256,
//! and the custody timeline. No scripts, no external resources; every string
//! is HTML-escaped.

#![allow(clippy::write_with_newline)] // one HTML block per line reads better

use std::fmt::Write;

use super::layout::{html_escape as e, CaseDoc, EvidenceDoc, StatementDoc};
use crate::custody::Event;

/// Everything the report shows.
pub struct ReportInput<'a> {
    /// The case.
    pub case: &'a CaseDoc,
    /// Statement versions with their texts, in order.
    pub statements: &'a [(StatementDoc, String)],
    /// Exhibits.
    pub evidence: &'a [EvidenceDoc],
    /// Custody events of every exported record, in vault order.
    pub events: &'a [Event],
    /// Events of imported records in the vaults they came from, per record
    /// and chain, oldest first.
    pub prior_events: &'a [Event],
    /// Exporting user and key id.
    pub exporter: (&'a str, &'a str),
    /// Bagging date.
    pub date: &'a str,
    /// Checkpoint receipt.
    pub checkpoint: &'a str,
}

const STYLE: &str = "@page{size:A4;margin:18mm 16mm}\
body{font-family:'DejaVu Serif',Georgia,serif;font-size:11pt;line-height:1.45;color:#111;max-width:178mm;margin:auto}\
h1{font-size:18pt;margin:0 0 2mm}h2{font-size:14pt;border-bottom:1px solid #444;margin-top:8mm}\
h3{font-size:12pt;margin:5mm 0 1mm}table{border-collapse:collapse;width:100%;font-size:9.5pt}\
th,td{border:1px solid #999;padding:1.2mm 2mm;text-align:left;vertical-align:top}\
th{background:#eee}.mono{font-family:'DejaVu Sans Mono',monospace;font-size:8.5pt;word-break:break-all}\
.text{white-space:pre-wrap;border-left:3px solid #999;padding-left:3mm;margin:2mm 0 4mm}\
.note{font-size:9pt;color:#333}.meta td:first-child{width:38mm;font-weight:bold}\
section{page-break-inside:auto}tr{page-break-inside:avoid}";

/// Renders the report.
pub fn render(input: &ReportInput<'_>) -> String {
    let mut h = String::with_capacity(16 * 1024);
    let c = input.case;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Case {ref_} — sealed bundle</title><style>{STYLE}</style></head><body>\n\
         <h1>Case {ref_}</h1><p><strong>{title}</strong></p>\n",
        ref_ = e(&c.reference),
        title = e(&c.title)
    );
    let _ = write!(h, "<table class=\"meta\">");
    row(&mut h, "Reference", &c.reference);
    if let Some(d) = &c.description {
        row(&mut h, "Description", d);
    }
    if !c.tags.is_empty() {
        row(&mut h, "Tags", &c.tags.join(", "));
    }
    row(
        &mut h,
        "Case opened",
        &format!("{} by {}", c.created_at, c.created_by),
    );
    row(
        &mut h,
        "Exported by",
        &format!("{} (signing key {})", input.exporter.0, input.exporter.1),
    );
    row(&mut h, "Bagging date", input.date);
    let _ = write!(
        h,
        "<tr><td>Vault checkpoint</td><td class=\"mono\">{}</td></tr></table>\n",
        e(input.checkpoint)
    );
    let _ = write!(
        h,
        "<p class=\"note\">This bundle is a BagIt bag. Its file list and SHA-256 fingerprints \
         (tagmanifest-sha256.txt) are signed with minisign by the exporting user; \
         <code>custodia bundle verify</code>, <code>bagit.py --validate</code> and \
         <code>minisign -V</code> check it. This page is a reading copy: the files in \
         <code>data/</code> are the evidence.</p>\n"
    );

    let mut ids: Vec<&str> = input
        .statements
        .iter()
        .map(|(d, _)| d.id.as_str())
        .collect();
    ids.dedup();
    let _ = write!(
        h,
        "<h2>Statements ({} statement(s), {} version(s))</h2>\n",
        ids.len(),
        input.statements.len()
    );
    for (doc, text) in input.statements {
        let _ = write!(
            h,
            "<section><h3>Statement {} — version {} of {}</h3><table class=\"meta\">",
            e(&short(&doc.id)),
            doc.version,
            doc.versions
        );
        let witness = if doc.identity_withheld {
            format!("{} (pseudonym; identity withheld)", doc.witness)
        } else {
            doc.witness.clone()
        };
        row(&mut h, "Witness", &witness);
        for (label, value) in [
            ("Language", &doc.language),
            ("Taken at", &doc.taken_at),
            ("Place", &doc.place),
            ("Interviewer", &doc.interviewer),
            ("Interpreter", &doc.interpreter),
            ("Consent", &doc.consent),
            ("Source", &doc.source),
            ("Reason for version", &doc.reason),
        ] {
            if let Some(v) = value {
                row(&mut h, label, v);
            }
        }
        row(
            &mut h,
            "Recorded",
            &format!("{} by {}", doc.created_at, doc.created_by),
        );
        if doc.sealed {
            row(&mut h, "Status", "sealed (no further amendment possible)");
        }
        let _ = write!(
            h,
            "<tr><td>SHA-256</td><td class=\"mono\">{}</td></tr>",
            e(&doc.text_sha256)
        );
        if doc.redactions > 0 {
            row(
                &mut h,
                "Redacted copy",
                &format!(
                    "This text is a redacted copy of version {} of statement {}: {} occurrence(s) \
                     of protected names replaced by pseudonyms. Its SHA-256 (above) is recorded \
                     in the statement's export event; the original version's SHA-256 is {}",
                    doc.version,
                    short(&doc.id),
                    doc.redactions,
                    doc.original_sha256
                ),
            );
        }
        let _ = write!(
            h,
            "</table><div class=\"text\" dir=\"auto\">{}</div></section>\n",
            e(text)
        );
    }

    let _ = write!(
        h,
        "<h2>Exhibits ({})</h2><table><tr><th>File</th><th>Type</th><th>Bytes</th><th>SHA-256</th><th>Acquired</th></tr>",
        input.evidence.len()
    );
    for ev in input.evidence {
        let acquired = match (&ev.acquired_at, &ev.acquired_by) {
            (Some(a), Some(b)) => format!("{a} by {b}"),
            (Some(a), None) => a.clone(),
            (None, Some(b)) => format!("by {b}"),
            (None, None) => format!("added {} by {}", ev.added_at, ev.added_by),
        };
        let _ = write!(
            h,
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
            e(&ev.original_name),
            ev.description
                .as_ref()
                .map(|d| format!("<br><span class=\"note\">{}</span>", e(d)))
                .unwrap_or_default(),
            e(&ev.media_type),
            ev.size,
            e(&ev.sha256),
            e(&acquired)
        );
    }
    let _ = write!(h, "</table>\n");

    let _ = write!(
        h,
        "<h2>Custody timeline ({} events)</h2><table><tr><th>#</th><th>Time (UTC)</th><th>User</th><th>Action</th><th>Record</th><th>Details</th></tr>",
        input.events.len()
    );
    for ev in input.events {
        event_row(&mut h, ev, false);
    }
    let _ = write!(h, "</table>\n");
    if !input.prior_events.is_empty() {
        let _ = write!(
            h,
            "<h2>Earlier custody ({} events)</h2><p>Records imported into this vault keep \
             their history from the vault they came from, signed there.</p>\
             <table><tr><th>Vault</th><th>#</th><th>Time (UTC)</th><th>User</th><th>Action</th><th>Record</th><th>Details</th></tr>",
            input.prior_events.len()
        );
        for ev in input.prior_events {
            event_row(&mut h, ev, true);
        }
        let _ = write!(h, "</table>\n");
    }
    let _ = write!(h, "</body></html>\n");
    h
}

/// One custody event as a table row; `with_vault` adds the vault it was
/// signed in (for histories brought from earlier vaults).
fn event_row(h: &mut String, ev: &Event, with_vault: bool) {
    let details = match &ev.details {
        serde_json::Value::Object(m) if m.is_empty() => String::new(),
        other => other.to_string(),
    };
    let _ = write!(h, "<tr>");
    if with_vault {
        let _ = write!(h, "<td class=\"mono\">{}</td>", e(&short(&ev.vault)));
    }
    let _ = write!(
        h,
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td class=\"mono\">{}</td></tr>",
        ev.position,
        e(&ev.time),
        e(&ev.user),
        e(ev.action.as_str()),
        e(&ev.record_kind),
        e(&short(&ev.record)),
        e(&details)
    );
}

fn row(h: &mut String, label: &str, value: &str) {
    let _ = write!(h, "<tr><td>{}</td><td>{}</td></tr>", e(label), e(value));
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}
