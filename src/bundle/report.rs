//! `data/report.html`: the page a clerk reads and prints (A4, numbered
//! pages). First "How to check this bundle": the stock-tool commands with
//! this bundle's file names and signing key; then the case, each statement
//! version with the word-level changes from the version before
//! ([`diff`]), the exhibits with their SHA-256, and the custody timeline in
//! plain English ([`timeline`]). The page's `lang` and `dir` follow the
//! case's language (right to left for Arabic, Persian, Hebrew…); each text
//! carries its own language and `dir="auto"`. No scripts, no external
//! resources, no inline event handlers; every string is HTML-escaped.

#![allow(clippy::write_with_newline)] // one HTML block per line reads better

pub mod diff;
pub mod timeline;

use std::collections::HashMap;
use std::fmt::Write;

use super::layout::{
    html_escape as e, signer_path, CaseDoc, EvidenceDoc, StatementDoc, SIGNATURE_NAME,
};
use crate::custody::Event;
use crate::formats::bagit::TAG_MANIFEST_NAME;

/// How the bundle file is protected, as the report explains it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// age, to this many X25519 recipients.
    Recipients(usize),
    /// age, to a passphrase.
    Passphrase,
    /// Not encrypted: the bundle is the signed tar.
    None,
}

/// The key that signs the bundle.
pub struct Signer<'a> {
    /// The exporting user's name.
    pub name: &'a str,
    /// minisign key id (16 hex digits).
    pub key_id: &'a str,
    /// SHA-256 of the key (64 hex digits): what the court compares.
    pub fingerprint: &'a str,
}

/// Everything the report shows.
pub struct ReportInput<'a> {
    /// The case.
    pub case: &'a CaseDoc,
    /// Statement versions with their texts, in order (each statement's
    /// versions together, oldest first).
    pub statements: &'a [(StatementDoc, String)],
    /// Exhibits.
    pub evidence: &'a [EvidenceDoc],
    /// Custody events of every exported record, in vault order.
    pub events: &'a [Event],
    /// Events of imported records in the vaults they came from, per record
    /// and chain, oldest first.
    pub prior_events: &'a [Event],
    /// The exporting user and their key.
    pub signer: Signer<'a>,
    /// Bagging date.
    pub date: &'a str,
    /// Checkpoint receipt.
    pub checkpoint: &'a str,
    /// The vault's time zone, if its settings give one: the timeline shows
    /// times in UTC and in this zone.
    pub zone: Option<time::UtcOffset>,
    /// The bag's directory name inside the tar.
    pub bag: &'a str,
    /// The bundle's file name as written (`--out`, without its folder).
    pub bundle_file: &'a str,
    /// How the bundle file is protected.
    pub protection: Protection,
}

/// Marks English prose (headings, notes, instructions) as such, so that it
/// reads left to right on a right-to-left page.
const EN: &str = " lang=\"en\" dir=\"ltr\"";

/// Print and screen styles. `@page` margin boxes number the pages
/// ("3 / 12"); each major section starts a page; changes between versions
/// are underlined (added) and struck through (removed), so they read in
/// black and white.
const STYLE: &str = "@page{size:A4;margin:14mm 15mm 16mm;\
@bottom-center{content:counter(page) \" / \" counter(pages);direction:ltr;font-family:'DejaVu Sans',sans-serif;font-size:9pt;color:#333}}\
body{font-family:'DejaVu Serif',Georgia,serif;font-size:10.5pt;line-height:1.4;color:#111}\
@media screen{body{max-width:178mm;margin:auto;padding:6mm}}\
h1{font-size:18pt;margin:0 0 2mm}h2{font-size:14pt;border-bottom:1px solid #444;margin-top:6mm}\
h3{font-size:12pt;margin:6mm 0 1mm}h4{font-size:11pt;margin:4mm 0 1mm}\
.major{break-before:page}\
table{border-collapse:collapse;width:100%;font-size:9.5pt}\
th,td{border:1px solid #999;padding:1.2mm 2mm;text-align:start;vertical-align:top}\
th{background:#eee}thead{display:table-header-group}tr{break-inside:avoid}\
.mono{font-family:'DejaVu Sans Mono',monospace;font-size:8.5pt;word-break:break-all;direction:ltr;unicode-bidi:isolate;text-align:left}\
.ltr{direction:ltr;unicode-bidi:isolate}\
.text,.diff{white-space:pre-wrap;border-inline-start:3px solid #999;padding-inline-start:3mm;margin:2mm 0 4mm}\
.diff{border-inline-start-style:double}\
ins{text-decoration:underline;text-decoration-thickness:2px;font-weight:bold;background:#e3f1e3}\
del{text-decoration:line-through;text-decoration-thickness:2px;color:#444;background:#f6e3e3}\
.note{font-size:9pt;color:#333}.meta td:first-child{width:38mm;font-weight:bold}\
ol.steps>li{margin-bottom:2mm}td.num{white-space:nowrap}\
pre.cmd{font-family:'DejaVu Sans Mono',monospace;font-size:8.5pt;white-space:pre-wrap;word-break:break-all;\
direction:ltr;unicode-bidi:isolate;text-align:left;border:1px solid #999;background:#f3f3f3;padding:1.5mm 2.5mm;margin:1mm 0}";

/// A language tag usable in `lang` for a statement's `language` field:
/// a BCP 47 tag (`ar`, `fa-IR`, `az-Arab`) or an English language name
/// (`Arabic`); `None` for anything else (free text such as "Russian,
/// interpreted into French").
pub(crate) fn language_tag(value: &str) -> Option<String> {
    let v = value.trim();
    let parts: Vec<&str> = v.split(['-', '_']).collect();
    let primary = parts.first()?;
    let is_tag = (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts[1..]
            .iter()
            .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if is_tag {
        let mut tag = primary.to_ascii_lowercase();
        for p in &parts[1..] {
            tag.push('-');
            tag.push_str(p);
        }
        return Some(tag);
    }
    const NAMES: &[(&str, &str)] = &[
        ("arabic", "ar"),
        ("persian", "fa"),
        ("farsi", "fa"),
        ("dari", "prs"),
        ("hebrew", "he"),
        ("urdu", "ur"),
        ("pashto", "ps"),
        ("yiddish", "yi"),
        ("kurdish (sorani)", "ckb"),
        ("sorani", "ckb"),
        ("english", "en"),
        ("french", "fr"),
        ("german", "de"),
        ("spanish", "es"),
        ("russian", "ru"),
        ("ukrainian", "uk"),
        ("kazakh", "kk"),
        ("turkish", "tr"),
        ("tigrinya", "ti"),
        ("amharic", "am"),
        ("somali", "so"),
    ];
    let lower = v.to_lowercase();
    NAMES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, tag)| (*tag).to_owned())
}

/// True for a language written right to left: Arabic, Persian, Hebrew,
/// Urdu, Pashto, Yiddish and a few more, or any tag with an Arabic, Hebrew,
/// Syriac or Thaana script subtag.
pub(crate) fn is_rtl(tag: &str) -> bool {
    const RTL: &[&str] = &[
        "ar", "fa", "prs", "he", "iw", "ur", "ps", "yi", "ji", "ckb", "sd", "ug", "dv", "syr",
    ];
    let mut parts = tag.split('-').map(str::to_ascii_lowercase);
    let primary = parts.next().unwrap_or_default();
    let mut rtl = RTL.contains(&primary.as_str());
    for p in parts {
        match p.as_str() {
            "arab" | "hebr" | "syrc" | "thaa" => rtl = true,
            "latn" | "cyrl" => rtl = false,
            _ => {}
        }
    }
    rtl
}

/// The case's language: the most common language of its statements (each
/// counted once, by its latest version; on a tie the earlier statement's),
/// or `en` when none has a usable one.
pub(crate) fn case_language(statements: &[(StatementDoc, String)]) -> String {
    let mut latest: Vec<(&str, Option<String>)> = Vec::new();
    for (doc, _) in statements {
        let tag = doc.language.as_deref().and_then(language_tag);
        match latest.iter_mut().find(|(id, _)| *id == doc.id) {
            Some(entry) => entry.1 = tag,
            None => latest.push((&doc.id, tag)),
        }
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for tag in latest.into_iter().filter_map(|(_, t)| t) {
        match counts.iter_mut().find(|(t, _)| *t == tag) {
            Some(entry) => entry.1 += 1,
            None => counts.push((tag, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
    counts
        .into_iter()
        .find(|(_, n)| *n == best)
        .map_or_else(|| "en".to_owned(), |(t, _)| t)
}

/// `s` as one word for a POSIX shell: unchanged when it is made of safe
/// characters only, else single-quoted.
pub(crate) fn sh_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/+:@,=%-".contains(c));
    if safe {
        s.to_owned()
    } else if s.starts_with('-') {
        sh_quote(&format!("./{s}"))
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The name of the tar `age -d` writes for `bundle_file`: `bundle.age`
/// gives `bundle.tar`, `b.tar.age` gives `b.tar`, anything else gets
/// `.tar` added.
pub(crate) fn tar_name(bundle_file: &str, protection: Protection) -> String {
    if protection == Protection::None {
        return bundle_file.to_owned();
    }
    match bundle_file.strip_suffix(".age") {
        Some(stem) if stem.ends_with(".tar") => stem.to_owned(),
        Some("") => "bundle.tar".to_owned(),
        Some(stem) => format!("{stem}.tar"),
        None => format!("{bundle_file}.tar"),
    }
}

/// Renders the report.
pub fn render(input: &ReportInput<'_>) -> String {
    let mut h = String::with_capacity(32 * 1024);
    let c = input.case;
    let lang = case_language(input.statements);
    let dir = if is_rtl(&lang) { "rtl" } else { "ltr" };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"{lang}\" dir=\"{dir}\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <title>Case {ref_} — sealed bundle</title><style>{STYLE}</style></head><body>\n\
         <h1{EN}>Case <bdi>{ref_}</bdi> — sealed bundle</h1><p dir=\"auto\"><strong>{title}</strong></p>\n",
        lang = e(&lang),
        ref_ = e(&c.reference),
        title = e(&c.title)
    );
    instructions(&mut h, input);

    let _ = write!(
        h,
        "<section class=\"major\"><h2{EN}>The case</h2><table class=\"meta\">"
    );
    row(&mut h, "Reference", &c.reference);
    row(&mut h, "Title", &c.title);
    if let Some(d) = &c.description {
        row(&mut h, "Description", d);
    }
    if !c.tags.is_empty() {
        row(&mut h, "Tags", &c.tags.join(", "));
    }
    row(
        &mut h,
        "Case opened",
        &format!(
            "{} by {}",
            timeline::utc_minute(&c.created_at),
            c.created_by
        ),
    );
    row(
        &mut h,
        "Exported by",
        &format!(
            "{} (signing key {}, fingerprint {})",
            input.signer.name, input.signer.key_id, input.signer.fingerprint
        ),
    );
    row(&mut h, "Bagging date", input.date);
    let zone_note = match input.zone {
        Some(z) if z != time::UtcOffset::UTC => format!(
            "Times are in UTC; the timeline also gives them in the vault's time zone, UTC{} \
             (a fixed offset, set with <code>custodia settings --time-zone</code>).",
            timeline::offset_text(z)
        ),
        _ => "Times are in UTC (the vault sets no other time zone).".to_owned(),
    };
    let _ = write!(
        h,
        "<tr><td>Vault checkpoint</td><td class=\"mono\">{}</td></tr></table>\n\
         <p class=\"note\"{EN}>This page is a reading copy: the files in <code>data/</code> are the \
         evidence. {zone_note}</p></section>\n",
        e(input.checkpoint)
    );

    statements(&mut h, input.statements);
    exhibits(&mut h, input.evidence);

    let names = record_names(input);
    let rows = timeline::rows(input.events, &names, input.zone);
    let _ = write!(
        h,
        "<section class=\"major\"><h2{EN}>Custody timeline</h2><p class=\"note\"{EN}>{} in {}: \
         every event recorded for the exported records, oldest first. A run of searches and \
         views by one user is one row. The signed events themselves are in \
         <code>data/custody/</code>.</p>\
         <table><thead><tr><th>#</th><th>When (UTC)</th><th>Who</th><th>What</th><th>Record</th></tr></thead>",
        timeline::count(input.events.len(), "event", "events"),
        timeline::count(rows.len(), "row", "rows")
    );
    for r in &rows {
        timeline_row(&mut h, r, false);
    }
    let _ = write!(h, "</table></section>\n");
    if !input.prior_events.is_empty() {
        let rows = timeline::rows(input.prior_events, &names, input.zone);
        let _ = write!(
            h,
            "<section class=\"major\"><h2{EN}>Earlier custody</h2><p class=\"note\"{EN}>{}: records \
             imported into this vault keep their history from the vault they came from, \
             signed there (<code>data/prior-custody/</code>).</p>\
             <table><thead><tr><th>Vault</th><th>#</th><th>When (UTC)</th><th>Who</th><th>What</th><th>Record</th></tr></thead>",
            timeline::count(input.prior_events.len(), "event", "events")
        );
        for r in &rows {
            timeline_row(&mut h, r, true);
        }
        let _ = write!(h, "</table></section>\n");
    }
    let _ = write!(h, "</body></html>\n");
    h
}

/// The first page: how to check the bundle with stock tools, with this
/// bundle's names.
fn instructions(h: &mut String, input: &ReportInput<'_>) {
    let bundle = input.bundle_file;
    let tar = tar_name(bundle, input.protection);
    let bag = input.bag;
    let key = format!("{bag}/{}", signer_path(input.signer.key_id));
    let manifest = format!("{bag}/{TAG_MANIFEST_NAME}");
    let signature = format!("{bag}/{SIGNATURE_NAME}");
    let q = sh_quote;
    let _ = write!(
        h,
        "<section{EN}><h2>How to check this bundle</h2>\
         <p>This bundle is the file <code class=\"ltr\">{b}</code>. Its files can be checked \
         on any computer with four free tools (<code>age</code>, <code>tar</code>, \
         <code>minisign</code>, <code>bagit.py</code> from bagit-python), without Custodia. \
         Run these commands in the folder that holds <code class=\"ltr\">{b}</code> (if the \
         file was renamed, use its new name).</p>\n\
         <table class=\"meta\"><tr><td>Bundle file</td><td class=\"mono\">{b}</td></tr>\
         <tr><td>Folder inside</td><td class=\"mono\">{bag_e}/</td></tr>\
         <tr><td>Signed by</td><td dir=\"auto\">{name}</td></tr>\
         <tr><td>Signing key id</td><td class=\"mono\">{id}</td></tr>\
         <tr><td>Key fingerprint</td><td class=\"mono\">{fp}</td></tr>\
         <tr><td>Key file in the bag</td><td class=\"mono\">{key_e}</td></tr></table>\n<ol class=\"steps\">",
        b = e(bundle),
        bag_e = e(bag),
        name = e(input.signer.name),
        id = e(input.signer.key_id),
        fp = e(input.signer.fingerprint),
        key_e = e(&key),
    );
    match input.protection {
        Protection::Recipients(n) => {
            let _ = write!(
                h,
                "<li><strong>Decrypt</strong> with age. The bundle is encrypted to {}; \
                 <code>court.key</code> stands for your age identity file (the secret key \
                 of one of them):<pre class=\"cmd\">age -d -i court.key -o {} {}</pre></li>",
                e(&timeline::count(n, "recipient", "recipients")),
                e(&q(&tar)),
                e(&q(bundle))
            );
        }
        Protection::Passphrase => {
            let _ = write!(
                h,
                "<li><strong>Decrypt</strong> with age. The bundle is encrypted to a \
                 passphrase, which the sender gives you separately; age asks for it:\
                 <pre class=\"cmd\">age -d -o {} {}</pre></li>",
                e(&q(&tar)),
                e(&q(bundle))
            );
        }
        Protection::None => {
            let _ = write!(
                h,
                "<li><strong>Decrypt:</strong> not needed. This bundle is not encrypted: \
                 <code class=\"ltr\">{}</code> is already the tar file.</li>",
                e(bundle)
            );
        }
    }
    let _ = write!(
        h,
        "<li><strong>Unpack</strong> it (this creates the folder <code class=\"ltr\">{}/</code>; \
         <code>tar tvf</code> lists it first, which should show only plain files in that \
         one folder):<pre class=\"cmd\">tar xf {}</pre></li>",
        e(bag),
        e(&q(&tar))
    );
    let _ = write!(
        h,
        "<li><strong>Check the signature</strong> on the list of fingerprints of every file \
         (it should print <q>Signature and comment signature verified</q>):\
         <pre class=\"cmd\">minisign -V -p {} -m {} -x {}</pre>\
         The key file in the bag is the sender's copy: it shows that nothing changed since \
         the bag was signed, not who signed it. Compare its fingerprint with the one the \
         exporter gave you by another channel (letter, phone, court registry) — this must \
         print <span class=\"mono\">{}</span>:\
         <pre class=\"cmd\">tail -1 {} | base64 -d | tail -c 32 | sha256sum</pre>\
         or give <code>-p</code> the key file the exporter sent you instead.</li>",
        e(&q(&key)),
        e(&q(&manifest)),
        e(&q(&signature)),
        e(input.signer.fingerprint),
        e(&q(&key))
    );
    let _ = write!(
        h,
        "<li><strong>Validate the bag</strong>: every file against its SHA-256 (it should \
         end with <q>{} is valid</q>):<pre class=\"cmd\">bagit.py --validate {}</pre></li></ol>",
        e(bag),
        e(&q(bag))
    );
    let protection = match input.protection {
        Protection::Recipients(_) => " --identity court.key",
        Protection::Passphrase => " --bundle-passphrase-file passphrase.txt",
        Protection::None => "",
    };
    let _ = write!(
        h,
        "<div><strong>In one step</strong>, with Custodia: decrypts, checks every file, the \
         signature and the custody history, and prints a verdict. <code>signer.pub</code> \
         is the exporter's public key as you received it from them{}:\
         <pre class=\"cmd\">custodia bundle verify {}{} --signer signer.pub</pre></div></section>\n",
        if input.protection == Protection::Passphrase {
            ", and passphrase.txt holds the passphrase"
        } else {
            ""
        },
        e(&q(bundle)),
        protection
    );
}

/// Each statement version: its metadata, the changes from the version
/// before, and its full text.
fn statements(h: &mut String, statements: &[(StatementDoc, String)]) {
    let mut ids: Vec<&str> = statements.iter().map(|(d, _)| d.id.as_str()).collect();
    ids.dedup();
    let _ = write!(
        h,
        "<section class=\"major\"><h2{EN}>Statements ({}, {})</h2>\
         <p class=\"note\"{EN}>Each version is shown in full. From the second version on, the \
         changes from the version before come first: <ins>added words underlined</ins>, \
         <del>removed words struck through</del>.</p>\n",
        timeline::count(ids.len(), "statement", "statements"),
        timeline::count(statements.len(), "version", "versions")
    );
    let mut previous: Option<&(StatementDoc, String)> = None;
    for item in statements {
        let (doc, text) = item;
        let lang_attr = doc
            .language
            .as_deref()
            .and_then(language_tag)
            .map(|t| format!(" lang=\"{}\"", e(&t)))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<section><h3{EN}>Statement <span class=\"ltr\">{}</span> — version {} of {} — <bdi>{}</bdi></h3><table class=\"meta\">",
            e(&short(&doc.id)),
            doc.version,
            doc.versions,
            e(&doc.witness)
        );
        let witness = if doc.identity_withheld {
            format!("{} (pseudonym; identity withheld)", doc.witness)
        } else {
            doc.witness.clone()
        };
        row(h, "Witness", &witness);
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
                row(h, label, v);
            }
        }
        row(
            h,
            "Recorded",
            &format!(
                "{} by {}",
                timeline::utc_minute(&doc.created_at),
                doc.created_by
            ),
        );
        if doc.sealed {
            row(h, "Status", "sealed (no further amendment possible)");
        }
        let _ = write!(
            h,
            "<tr><td>SHA-256</td><td class=\"mono\">{}</td></tr>",
            e(&doc.text_sha256)
        );
        if doc.redactions > 0 {
            row(
                h,
                "Redacted copy",
                &format!(
                    "This text is a redacted copy of version {} of statement {}: {} occurrence(s) \
                     of protected names replaced by pseudonyms. The redaction covers the \
                     protected witnesses' whole names and the aliases the exporter listed only; \
                     other spellings were not looked for. Its SHA-256 (above) is recorded \
                     in the statement's export event; the original version's SHA-256 is {}",
                    doc.version,
                    short(&doc.id),
                    doc.redactions,
                    doc.original_sha256
                ),
            );
        }
        let _ = write!(h, "</table>");
        if let Some((prev, prev_text)) =
            previous.filter(|(p, _)| p.id == doc.id && p.version + 1 == doc.version)
        {
            changes(h, prev.version, doc.version, prev_text, text, &lang_attr);
        }
        let _ = write!(
            h,
            "<h4{EN}>Text of version {}</h4><div class=\"text\" dir=\"auto\"{lang_attr}>{}</div></section>\n",
            doc.version,
            e(text)
        );
        previous = Some(item);
    }
    let _ = write!(h, "</section>\n");
}

/// Unchanged stretches longer than this many words are shortened in a
/// diff to their first and last [`CONTEXT_WORDS`].
const LONG_SAME_WORDS: usize = 40;
/// Words of context kept on each side of a change.
const CONTEXT_WORDS: usize = 12;

/// The word-level changes from version `from` to version `to`.
fn changes(h: &mut String, from: u64, to: u64, old: &str, new: &str, lang_attr: &str) {
    let _ = write!(
        h,
        "<h4{EN}>Changes from version {from} to version {to}</h4>"
    );
    if old == new {
        let _ = write!(
            h,
            "<p{EN}>The text is unchanged; only the details above differ.</p>"
        );
        return;
    }
    let Some(runs) = diff::diff(old, new) else {
        let _ = write!(
            h,
            "<p{EN}>Version {to} replaces version {from} in full (the texts are too long or too \
             different to compare word by word here; both are shown in full).</p>"
        );
        return;
    };
    let _ = write!(h, "<div class=\"diff\" dir=\"auto\"{lang_attr}>");
    let last = runs.len().saturating_sub(1);
    for (n, run) in runs.iter().enumerate() {
        match run.kind {
            diff::Kind::Removed => {
                let _ = write!(h, "<del>{}</del>", e(&run.text()));
            }
            diff::Kind::Added => {
                let _ = write!(h, "<ins>{}</ins>", e(&run.text()));
            }
            diff::Kind::Same => same_run(h, &run.tokens, n == 0, n == last),
        }
    }
    let _ = write!(h, "</div>");
}

/// An unchanged stretch in a diff, shortened when long: only the words
/// next to a change are kept.
fn same_run(h: &mut String, tokens: &[&str], first: bool, last: bool) {
    let words: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(i, _)| i)
        .collect();
    let keep_head = if first { 0 } else { CONTEXT_WORDS };
    let keep_tail = if last { 0 } else { CONTEXT_WORDS };
    if words.len() <= LONG_SAME_WORDS.max(keep_head + keep_tail + 1) {
        let _ = write!(h, "{}", e(&tokens.concat()));
        return;
    }
    // Cut after the head's last word and before the tail's first one.
    let head_end = if keep_head == 0 {
        0
    } else {
        words[keep_head - 1] + 1
    };
    let tail_start = if keep_tail == 0 {
        tokens.len()
    } else {
        words[words.len() - keep_tail]
    };
    let skipped = words.len() - keep_head - keep_tail;
    let _ = write!(
        h,
        "{}<span class=\"note\"{EN}> […{} unchanged…] </span>{}",
        e(&tokens[..head_end].concat()),
        e(&timeline::count(skipped, "word", "words")),
        e(&tokens[tail_start..].concat())
    );
}

fn exhibits(h: &mut String, evidence: &[EvidenceDoc]) {
    let _ = write!(
        h,
        "<section class=\"major\"><h2{EN}>Exhibits ({})</h2><table><thead><tr><th>File</th><th>Type</th><th>Bytes</th><th>SHA-256</th><th>Acquired</th></tr></thead>",
        evidence.len()
    );
    for ev in evidence {
        let acquired = match (&ev.acquired_at, &ev.acquired_by) {
            (Some(a), Some(b)) => format!("{a} by {b}"),
            (Some(a), None) => a.clone(),
            (None, Some(b)) => format!("by {b}"),
            (None, None) => format!(
                "added {} by {}",
                timeline::utc_minute(&ev.added_at),
                ev.added_by
            ),
        };
        let _ = write!(
            h,
            "<tr><td dir=\"auto\">{}{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td dir=\"auto\">{}</td></tr>",
            e(&ev.original_name),
            ev.description
                .as_ref()
                .map(|d| format!("<br><span class=\"note\" dir=\"auto\">{}</span>", e(d)))
                .unwrap_or_default(),
            e(&ev.media_type),
            ev.size,
            e(&ev.sha256),
            e(&acquired)
        );
    }
    let _ = write!(h, "</table></section>\n");
}

/// The names the timeline gives records: the case reference, a
/// statement's witness as exported (the pseudonym when withheld), an
/// exhibit's file name.
fn record_names(input: &ReportInput<'_>) -> HashMap<String, String> {
    let mut names = HashMap::new();
    names.insert(input.case.id.clone(), input.case.reference.clone());
    for (doc, _) in input.statements {
        let name = if doc.identity_withheld {
            format!("{}, pseudonym", doc.witness)
        } else {
            doc.witness.clone()
        };
        names.insert(doc.id.clone(), name);
    }
    for ev in input.evidence {
        names.insert(ev.id.clone(), ev.original_name.clone());
    }
    names
}

fn timeline_row(h: &mut String, r: &timeline::Row, with_vault: bool) {
    let _ = write!(h, "<tr>");
    if with_vault {
        let _ = write!(h, "<td class=\"mono\">{}</td>", e(&r.vault));
    }
    let positions = if r.positions.0 == r.positions.1 {
        r.positions.0.to_string()
    } else {
        format!("{}–{}", r.positions.0, r.positions.1)
    };
    let _ = write!(
        h,
        "<td class=\"ltr num\">{}</td><td class=\"ltr\">{}</td><td dir=\"auto\">{}</td><td{EN}>{}</td><td dir=\"auto\">{}</td></tr>",
        positions,
        e(&r.when),
        e(&r.user),
        e(&r.what),
        e(&r.record)
    );
}

fn row(h: &mut String, label: &str, value: &str) {
    let _ = write!(
        h,
        "<tr><td>{}</td><td dir=\"auto\">{}</td></tr>",
        e(label),
        e(value)
    );
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn doc(id: &str, version: u64, language: Option<&str>) -> StatementDoc {
        StatementDoc {
            id: id.into(),
            version,
            versions: version,
            witness: "Witness <b>".into(),
            identity_withheld: false,
            pseudonym: None,
            protected: false,
            language: language.map(str::to_owned),
            taken_at: None,
            place: None,
            interviewer: None,
            interpreter: None,
            consent: None,
            source: None,
            reason: None,
            created_at: "2026-12-06T14:03:22Z".into(),
            created_by: "alice".into(),
            sealed: false,
            text_sha256: "00".into(),
            original_sha256: "00".into(),
            redactions: 0,
        }
    }

    #[test]
    fn language_tags_from_codes_and_names() {
        assert_eq!(language_tag("ar").as_deref(), Some("ar"));
        assert_eq!(language_tag(" AR-eg ").as_deref(), Some("ar-eg"));
        assert_eq!(language_tag("fa_IR").as_deref(), Some("fa-IR"));
        assert_eq!(language_tag("Arabic").as_deref(), Some("ar"));
        assert_eq!(language_tag("Hebrew").as_deref(), Some("he"));
        assert_eq!(language_tag("Russian, interpreted into French"), None);
        assert_eq!(language_tag("\"><script>"), None);
        assert_eq!(language_tag(""), None);
    }

    #[test]
    fn right_to_left_languages() {
        for rtl in [
            "ar", "fa", "he", "ur", "ps", "yi", "ar-EG", "az-Arab", "ckb",
        ] {
            assert!(is_rtl(rtl), "{rtl}");
        }
        for ltr in [
            "en", "fr", "ru", "uk", "kk", "az", "az-Latn", "tr", "ar-Latn",
        ] {
            assert!(!is_rtl(ltr), "{ltr}");
        }
    }

    #[test]
    fn case_language_is_the_most_common_statement_language_else_en() {
        let s = |items: &[(&str, u64, Option<&str>)]| -> Vec<(StatementDoc, String)> {
            items
                .iter()
                .map(|(id, v, l)| (doc(id, *v, *l), String::new()))
                .collect()
        };
        // Two Arabic statements (one Arabic in its latest version only)
        // against one French statement with two versions.
        assert_eq!(
            case_language(&s(&[
                ("a", 1, Some("fr")),
                ("a", 2, Some("fr")),
                ("b", 1, Some("ar")),
                ("c", 1, Some("fr")),
                ("c", 2, Some("Arabic")),
            ])),
            "ar"
        );
        // A tie goes to the earlier statement.
        assert_eq!(
            case_language(&s(&[("a", 1, Some("ru")), ("b", 1, Some("he"))])),
            "ru"
        );
        assert_eq!(
            case_language(&s(&[("a", 1, None), ("b", 1, Some("?"))])),
            "en"
        );
        assert_eq!(case_language(&[]), "en");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(sh_quote("KZ-2026-014/data/x.pub"), "KZ-2026-014/data/x.pub");
        assert_eq!(sh_quote("Affaire Dupont"), "'Affaire Dupont'");
        assert_eq!(sh_quote("l'appel.age"), "'l'\\''appel.age'");
        assert_eq!(sh_quote("-rf"), "./-rf");
        assert_eq!(sh_quote("$(rm)"), "'$(rm)'");
        assert_eq!(tar_name("bundle.age", Protection::Passphrase), "bundle.tar");
        assert_eq!(tar_name("b.tar.age", Protection::Recipients(1)), "b.tar");
        assert_eq!(tar_name("court", Protection::Recipients(1)), "court.tar");
        assert_eq!(tar_name("court.tar", Protection::None), "court.tar");
    }

    fn input<'a>(
        case: &'a CaseDoc,
        statements: &'a [(StatementDoc, String)],
        protection: Protection,
    ) -> ReportInput<'a> {
        ReportInput {
            case,
            statements,
            evidence: &[],
            events: &[],
            prior_events: &[],
            signer: Signer {
                name: "alice",
                key_id: "E9A5CCAF5E97F0FB",
                fingerprint: "e98b4f929802e44a14ac7cfdb1a83f5d3362a63d0e99726ad1fb41415936de2e",
            },
            date: "2026-12-06",
            checkpoint: "custodia-checkpoint:1:…",
            bag: "KZ 2026",
            bundle_file: "pour la cour.age",
            protection,
            zone: None,
        }
    }

    fn case() -> CaseDoc {
        CaseDoc {
            id: "c".repeat(32),
            reference: "KZ 2026".into(),
            title: "<script>alert(1)</script>".into(),
            description: None,
            tags: vec![],
            created_at: "2026-12-06T14:03:22Z".into(),
            created_by: "alice".into(),
        }
    }

    #[test]
    fn the_page_takes_the_case_language_and_marks_each_text() {
        let c = case();
        let statements = vec![
            (
                doc("a", 1, Some("ar")),
                "قال الشاهد إنه رأى السيارة".to_owned(),
            ),
            (doc("b", 1, Some("fr")), "Je l'ai vu.".to_owned()),
            (doc("c", 1, Some("ar")), "نص".to_owned()),
        ];
        let html = render(&input(&c, &statements, Protection::Passphrase));
        assert!(
            html.starts_with("<!DOCTYPE html>\n<html lang=\"ar\" dir=\"rtl\">"),
            "{html}"
        );
        assert!(html.contains("<div class=\"text\" dir=\"auto\" lang=\"fr\">Je l&#39;ai vu.</div>"));
        assert!(!html.contains("<script"), "user text must be escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        let statements = vec![(doc("b", 1, None), "Text.".to_owned())];
        let html = render(&input(&c, &statements, Protection::Passphrase));
        assert!(html.contains("<html lang=\"en\" dir=\"ltr\">"));
    }

    #[test]
    fn instructions_name_this_bundles_files_and_key() {
        let c = case();
        let html = render(&input(&c, &[], Protection::Recipients(2)));
        for needle in [
            "age -d -i court.key -o &#39;pour la cour.tar&#39; &#39;pour la cour.age&#39;",
            "tar xf &#39;pour la cour.tar&#39;",
            "minisign -V -p &#39;KZ 2026/data/signers/E9A5CCAF5E97F0FB.pub&#39; -m &#39;KZ 2026/tagmanifest-sha256.txt&#39; -x &#39;KZ 2026/tagmanifest-sha256.txt.minisig&#39;",
            "bagit.py --validate &#39;KZ 2026&#39;",
            "custodia bundle verify &#39;pour la cour.age&#39; --identity court.key --signer signer.pub",
            "e98b4f929802e44a14ac7cfdb1a83f5d3362a63d0e99726ad1fb41415936de2e",
            "2 recipients",
        ] {
            assert!(html.contains(needle), "missing {needle}");
        }
        let html = render(&input(&c, &[], Protection::None));
        assert!(html.contains("not encrypted"));
        assert!(!html.contains("age -d"));
        assert!(html.contains("tar xf &#39;pour la cour.age&#39;"));
        let html = render(&input(&c, &[], Protection::Passphrase));
        assert!(html.contains("age -d -o &#39;pour la cour.tar&#39; &#39;pour la cour.age&#39;"));
        // No scripts, no event handlers, no external resources.
        let lower = html.to_lowercase();
        for bad in ["<script", " onload=", " onclick=", "src=", "href=", "url("] {
            assert!(!lower.contains(bad), "{bad}");
        }
        assert!(html.contains("counter(page) \" / \" counter(pages)"));
    }

    #[test]
    fn consecutive_versions_show_their_word_changes() {
        let c = case();
        let mut v1 = doc("a", 1, Some("ru"));
        v1.versions = 3;
        let mut v2 = doc("a", 2, Some("ru"));
        v2.versions = 3;
        let mut v3 = doc("a", 3, Some("ru"));
        v3.versions = 3;
        let statements = vec![
            (v1, "в кафе 14 марта <b>около</b> 19:00".to_owned()),
            (v2, "в кафе 15 марта <b>около</b> 19:00".to_owned()),
            (v3, "в кафе 15 марта <b>около</b> 19:00".to_owned()),
        ];
        let html = render(&input(&c, &statements, Protection::None));
        assert!(
            html.contains("<div class=\"diff\" dir=\"auto\" lang=\"ru\">в кафе <del>14</del><ins>15</ins> марта &lt;b&gt;около&lt;/b&gt; 19:00</div>"),
            "{html}"
        );
        assert!(html.contains("Changes from version 2 to version 3</h4><p lang=\"en\" dir=\"ltr\">The text is unchanged"));
        assert_eq!(html.matches(">Changes from").count(), 2);
    }

    #[test]
    fn long_unchanged_stretches_are_shortened_and_huge_rewrites_fall_back() {
        let mut h = String::new();
        let words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        let text = words.join(" ");
        let old = format!("{text} old {text}");
        let new = format!("{text} new {text}");
        changes(&mut h, 1, 2, &old, &new, "");
        assert!(h.contains("<del>old</del><ins>new</ins>"), "{h}");
        assert!(h.contains("[…88 words unchanged…]"), "{h}");
        assert!(h.contains("w88 w89"), "{h}");
        assert!(!h.contains("w87 "), "kept too much before the change: {h}");
        let mut h = String::new();
        let old: String = (0..3000).map(|i| format!("a{i} ")).collect();
        let new: String = (0..3000).map(|i| format!("b{i} ")).collect();
        changes(&mut h, 4, 5, &old, &new, "");
        assert!(h.contains("Version 5 replaces version 4 in full"), "{h}");
    }
}
