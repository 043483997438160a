//! The desk's pages: compile-checked HTML (maud escapes every value),
//! every string from the catalogue ([`super::text`]), `dir="auto"` on every
//! field and every text a user wrote, a label on every input.

use maud::{html, Markup, DOCTYPE};

use super::text::t;
use crate::audit::check::CheckReport;
use crate::audit::log::Log;
use crate::bundle::export::{ExportPreview, ExportSummary};
use crate::bundle::import::ImportSummary;
use crate::bundle::report::diff::{diff, Kind as DiffKind};
use crate::bundle::verify::{Status, Verdict};
use crate::records::case::Case;
use crate::records::evidence::EvidenceSummary;
use crate::records::search::SearchResults;
use crate::records::statement::{StatementOverview, StatementSummary, StatementVersion};
use crate::vault::users::UserSummary;

/// Statements shown on one page of a case.
pub const PAGE: usize = 200;

/// What every page needs: the CSRF token of its forms.
pub struct Ctx {
    /// The session's CSRF token.
    pub csrf: String,
}

fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf); }
}

fn layout(ctx: &Ctx, title: &str, unlocked: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(t("lang")) dir=(t("dir")) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf" content=(ctx.csrf);
                title { (title) " · " (t("app.name")) }
                link rel="stylesheet" href="/assets/desk.css";
                script src="/assets/desk.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { (t("app.name")) }
                    @if unlocked {
                        nav aria-label=(t("nav.label")) {
                            a href="/" { (t("nav.cases")) }
                            a href="/search" { (t("nav.search")) }
                            a href="/bundles" { (t("nav.bundles")) }
                            a href="/users" { (t("nav.users")) }
                            form method="post" action="/check" data-busy=(t("busy.check")) {
                                (csrf(ctx))
                                button type="submit" { (t("nav.check")) }
                            }
                            form method="post" action="/lock" {
                                (csrf(ctx))
                                button #lock type="submit" { (t("nav.lock")) }
                            }
                        }
                    }
                }
                main #main { h1 dir="auto" { (title) } (body) }
            }
        }
    }
}

/// The unlock form, with a message after a wrong passphrase or a pause.
pub fn unlock(ctx: &Ctx, message: Option<&str>) -> Markup {
    layout(
        ctx,
        t("unlock.title"),
        false,
        html! {
            @if let Some(m) = message { p.problem role="alert" { (m) } }
            form method="post" action="/unlock" {
                (csrf(ctx))
                label for="passphrase" { (t("unlock.passphrase")) }
                input #passphrase type="password" name="passphrase" autocomplete="current-password" required autofocus;
                button type="submit" { (t("unlock.button")) }
            }
        },
    )
}

/// A problem, said plainly.
pub fn error(ctx: &Ctx, message: &str) -> Markup {
    layout(
        ctx,
        t("error.title"),
        true,
        html! {
            p.problem role="alert" dir="auto" { (message) }
            p { a href="/" { (t("nav.back")) } }
        },
    )
}

/// The cases list.
pub fn cases(ctx: &Ctx, cases: &[Case], damaged: usize) -> Markup {
    layout(
        ctx,
        t("cases.title"),
        true,
        html! {
            p { a.button href="/cases/new" { (t("cases.new")) } }
            @if damaged > 0 { p.problem role="alert" { (t("cases.damaged")) " " (damaged) } }
            @if cases.is_empty() { p { (t("cases.none")) } }
            ul.cards {
                @for c in cases {
                    li {
                        a href={ "/case/" (c.id.to_hex()) } {
                            strong dir="auto" { (c.data.reference) }
                            " — "
                            span dir="auto" { (c.data.title) }
                        }
                    }
                }
            }
        },
    )
}

fn field(id: &str, label: &str, required: bool) -> Markup {
    html! {
        label for=(id) { (label) }
        input id=(id) name=(id) type="text" dir="auto" required[required];
    }
}

/// The form for a new case.
pub fn new_case(ctx: &Ctx) -> Markup {
    layout(
        ctx,
        t("case.new"),
        true,
        html! {
            form method="post" action="/cases" {
                (csrf(ctx))
                (field("reference", t("case.reference"), true))
                (field("title", t("case.case_title"), true))
                label for="description" { (t("case.description")) }
                textarea #description name="description" dir="auto" rows="3" {}
                label for="tags" { (t("case.tags")) }
                textarea #tags name="tags" dir="auto" rows="2" {}
                button type="submit" { (t("case.create")) }
            }
        },
    )
}

fn witness(o: &StatementOverview) -> String {
    match (&o.fields.pseudonym, o.fields.protected) {
        (Some(p), true) => format!("{} ({}; {p})", o.fields.witness, t("witness.protected")),
        (Some(p), false) => format!("{} ({p})", o.fields.witness),
        (None, true) => format!("{} ({})", o.fields.witness, t("witness.protected")),
        (None, false) => o.fields.witness.clone(),
    }
}

/// The witness's name isolated from the words around it (a name in
/// Arabic must not reorder the "(protected; …)" that follows it).
fn witness_markup(o: &StatementOverview) -> Markup {
    html! {
        bdi { (o.fields.witness) }
        @match (&o.fields.pseudonym, o.fields.protected) {
            (Some(p), true) => { " (" (t("witness.protected")) "; " bdi { (p) } ")" }
            (Some(p), false) => { " (" bdi { (p) } ")" }
            (None, true) => { " (" (t("witness.protected")) ")" }
            (None, false) => {}
        }
    }
}

/// A language tag safe to put in `lang` (letters, digits and `-` only).
fn lang_of(o: &StatementOverview) -> Option<&str> {
    o.fields.language.as_deref().filter(|l| {
        !l.is_empty() && l.len() <= 35 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

/// One case: its statements and exhibits, and the exhibit drop zone.
pub fn case(
    ctx: &Ctx,
    case: &Case,
    statements: &[StatementSummary],
    page: usize,
    exhibits: &[EvidenceSummary],
    last_check: Option<&(String, bool)>,
) -> Markup {
    let id = case.id.to_hex();
    let pages = statements.len().div_ceil(PAGE).max(1);
    let page = page.min(pages);
    let shown = statements
        .iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .collect::<Vec<_>>();
    layout(
        ctx,
        &format!("{} — {}", case.data.reference, case.data.title),
        true,
        html! {
            @if let Some(d) = &case.data.description { p dir="auto" { (d) } }
            p #last_check {
                @match last_check {
                    Some((at, true)) => { (t("check.last_clean")) " " time { (at) } }
                    Some((at, false)) => { strong.problem { (t("check.last_problems")) " " time { (at) } } }
                    None => { (t("check.never")) }
                }
            }
            p {
                a.button href={ "/case/" (id) "/statements/new" } { (t("statement.new")) }
                " "
                a.button href={ "/case/" (id) "/export" } { (t("export.title")) }
                " "
                a href={ "/log/" (id) } { (t("log.link")) }
            }
            h2 { (t("case.statements")) }
            @if statements.is_empty() { p { (t("case.no_statements")) } }
            table {
                thead { tr {
                    th scope="col" { (t("statement.witness")) }
                    th scope="col" { (t("statement.version")) }
                    th scope="col" { (t("statement.state")) }
                } }
                tbody {
                    @for s in &shown {
                        tr {
                            td { a href={ "/statement/" (s.id.to_hex()) } { (witness_markup(&s.overview)) } }
                            td { (s.overview.version) }
                            td { @if s.sealed { (t("statement.sealed")) } @else { (t("statement.open")) } }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav.pages aria-label=(t("case.pages")) {
                    @if page > 1 { a rel="prev" href={ "/case/" (id) "?p=" (page - 1) } { (t("case.previous")) } }
                    " " span { (page) " / " (pages) } " "
                    @if page < pages { a rel="next" href={ "/case/" (id) "?p=" (page + 1) } { (t("case.next")) } }
                }
            }
            h2 { (t("case.exhibits")) }
            @if exhibits.is_empty() { p { (t("case.no_exhibits")) } }
            table {
                thead { tr {
                    th scope="col" { (t("exhibit.name")) }
                    th scope="col" { (t("exhibit.size")) }
                    th scope="col" { (t("exhibit.sha256")) }
                    th scope="col" { (t("exhibit.actions")) }
                } }
                tbody {
                    @for e in exhibits {
                        tr {
                            td dir="auto" { (e.overview.original_name)
                                @if !e.overview.metadata.is_empty() { " " span.warn { (t("exhibit.metadata")) } } }
                            td { (e.overview.size) }
                            td { code { (e.overview.sha256.get(..16).unwrap_or(&e.overview.sha256)) } }
                            td {
                                form method="post" action={ "/exhibit/" (e.id.to_hex()) "/download" } {
                                    (csrf(ctx))
                                    button type="submit" { (t("exhibit.download")) }
                                }
                                a href={ "/log/" (e.id.to_hex()) } { (t("log.link")) }
                            }
                        }
                    }
                }
            }
            h2 { (t("exhibit.add")) }
            div #dropzone.dropzone data-case=(id) tabindex="0" role="region" aria-label=(t("exhibit.drop")) {
                p { (t("exhibit.drop")) }
                label for="files" { (t("exhibit.choose")) }
                input #files type="file" multiple;
                ul #uploads aria-live="polite" {}
            }
        },
    )
}

/// The form for a new witness statement.
pub fn new_statement(ctx: &Ctx, case: &Case) -> Markup {
    layout(
        ctx,
        t("statement.new"),
        true,
        html! {
            p dir="auto" { (case.data.reference) }
            form method="post" action={ "/case/" (case.id.to_hex()) "/statements" } {
                (csrf(ctx))
                (field("witness", t("statement.witness"), true))
                (field("pseudonym", t("statement.pseudonym"), false))
                div.check {
                    input #protected type="checkbox" name="protected" value="1";
                    label for="protected" { (t("statement.protected")) }
                }
                label for="aliases" { (t("statement.aliases")) }
                textarea #aliases name="aliases" dir="auto" rows="2" {}
                (field("language", t("statement.language"), false))
                (field("taken_at", t("statement.taken_at"), false))
                (field("place", t("statement.place"), false))
                (field("interviewer", t("statement.interviewer"), false))
                (field("interpreter", t("statement.interpreter"), false))
                (field("consent", t("statement.consent"), false))
                (field("source", t("statement.source"), false))
                label for="textfile" { (t("statement.from_file")) }
                input #textfile type="file" accept=".txt,text/plain" data-fills="body";
                label for="body" { (t("statement.body")) }
                textarea #body name="body" dir="auto" rows="14" required {}
                button type="submit" { (t("statement.save")) }
            }
        },
    )
}

fn diff_view(old: &str, new: &str) -> Markup {
    match diff(old, new) {
        Some(changes) => html! {
            div.diff dir="auto" {
                @for c in &changes {
                    @match c.kind {
                        DiffKind::Same => span { (c.text()) },
                        DiffKind::Removed => del { (c.text()) },
                        DiffKind::Added => ins { (c.text()) },
                    }
                }
            }
        },
        None => html! { p { (t("amend.too_different")) } },
    }
}

/// One statement version: its fields, text, history, and what can be done.
pub fn statement(
    ctx: &Ctx,
    s: &StatementVersion,
    previous: Option<&StatementVersion>,
    history: &[StatementOverview],
) -> Markup {
    let o = &s.overview;
    let id = s.id.to_hex();
    let latest = o.version == s.versions;
    layout(
        ctx,
        &witness(o),
        true,
        html! {
            dl {
                dt { (t("statement.case")) } dd dir="auto" { (s.case_reference) }
                dt { (t("statement.version")) } dd { (o.version) " / " (s.versions)
                    @if s.sealed { " · " (t("statement.sealed")) } }
                @for (label, value) in [
                    (t("statement.language"), &o.fields.language),
                    (t("statement.taken_at"), &o.fields.taken_at),
                    (t("statement.place"), &o.fields.place),
                    (t("statement.interviewer"), &o.fields.interviewer),
                    (t("statement.interpreter"), &o.fields.interpreter),
                    (t("statement.consent"), &o.fields.consent),
                    (t("statement.source"), &o.fields.source),
                    (t("amend.reason"), &o.reason),
                ] {
                    @if let Some(v) = value { dt { (label) } dd dir="auto" { (v) } }
                }
                @if !o.fields.aliases.is_empty() {
                    dt { (t("statement.aliases")) } dd dir="auto" { (o.fields.aliases.join("; ")) }
                }
                dt { (t("statement.recorded")) } dd dir="auto" { (o.created_at) " · " (o.created_by) }
                dt { (t("exhibit.sha256")) } dd { code { (o.body_sha256) } }
            }
            h2 { (t("statement.body")) }
            @if let Some(lang) = lang_of(o) {
                div #text.text lang=(lang) dir="auto" { (s.body) }
            } @else {
                div #text.text dir="auto" { (s.body) }
            }
            @if let Some(p) = previous {
                h2 { (t("amend.diff")) " " (p.overview.version) " → " (o.version) }
                (diff_view(&p.body, &s.body))
            }
            @if latest && !s.sealed {
                p.actions {
                    a.button href={ "/statement/" (id) "/amend" } { (t("amend.title")) }
                    form method="post" action={ "/statement/" (id) "/seal" } {
                        (csrf(ctx))
                        button type="submit" { (t("statement.seal")) }
                    }
                }
            }
            h2 { (t("statement.history")) }
            ol {
                @for v in history {
                    li { a href={ "/statement/" (id) "?v=" (v.version) } { (t("statement.version")) " " (v.version) }
                        " · " span dir="auto" { (v.created_at) " · " (v.created_by) }
                        @if let Some(r) = &v.reason { " · " span dir="auto" { (r) } } }
                }
            }
            p { a href={ "/log/" (id) } { (t("log.link")) } }
        },
    )
}

/// The amendment form: the latest text to edit and a reason (required).
pub fn amend(ctx: &Ctx, s: &StatementVersion, problem: Option<&str>) -> Markup {
    layout(
        ctx,
        t("amend.title"),
        true,
        html! {
            @if let Some(p) = problem { p.problem role="alert" { (p) } }
            form method="post" action={ "/statement/" (s.id.to_hex()) "/amend" } {
                (csrf(ctx))
                label for="body" { (t("statement.body")) }
                textarea #body name="body" dir="auto" rows="14" required { (s.body) }
                label for="reason" { (t("amend.reason")) }
                input #reason name="reason" type="text" dir="auto" required;
                button type="submit" { (t("amend.save")) }
            }
        },
    )
}

/// The search form and, after a search, its hits grouped by case.
pub fn search(ctx: &Ctx, query: &str, found: Option<&SearchResults>) -> Markup {
    layout(
        ctx,
        t("search.title"),
        true,
        html! {
            form method="post" action="/search" role="search" {
                (csrf(ctx))
                label for="q" { (t("search.words")) }
                input #q type="search" name="q" dir="auto" value=(query) required;
                button type="submit" { (t("search.button")) }
            }
            @if let Some(found) = found {
                @if found.statements.is_empty() && found.exhibits.is_empty() {
                    p #nothing { (t("search.nothing")) }
                }
                @for case in &hit_cases(found) {
                    section.hits {
                        h2 dir="auto" { (case) }
                        ul {
                            @for h in found.statements.iter().filter(|h| h.case_reference == *case) {
                                li { a href={ "/statement/" (h.id.to_hex()) } dir="auto" { (h.witness) }
                                    " · v" (h.version)
                                    p.snippet dir="auto" { (h.snippet) } }
                            }
                            @for e in found.exhibits.iter().filter(|e| e.case_reference == *case) {
                                li dir="auto" { (e.name) @if let Some(d) = &e.description { " — " (d) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The cases of a search's hits, each once, in order.
fn hit_cases(found: &SearchResults) -> Vec<&str> {
    let mut cases: Vec<&str> = found
        .statements
        .iter()
        .map(|h| h.case_reference.as_str())
        .chain(found.exhibits.iter().map(|e| e.case_reference.as_str()))
        .collect();
    cases.sort_unstable();
    cases.dedup();
    cases
}

/// A record's custody log as a timeline.
pub fn log(ctx: &Ctx, id: &str, log: &Log) -> Markup {
    layout(
        ctx,
        t("log.title"),
        true,
        html! {
            p { code { (id) } }
            @if !log.unreadable.is_empty() { p.problem role="alert" { (t("log.unreadable")) " " (log.unreadable.len()) } }
            ol.timeline {
                @for e in &log.entries {
                    li {
                        time { (e.event.time) } " · "
                        strong { (e.event.action.as_str()) } " · "
                        span dir="auto" { (e.event.user) }
                        @if e.event.details.get("via").and_then(|v| v.as_str()) == Some("desk") {
                            " · " (t("log.via_desk"))
                        }
                        @if let Some(r) = &e.reason { " · " span dir="auto" { (r) } }
                        @if !e.signature_valid { " · " strong.problem { (t("log.bad_signature")) } }
                    }
                }
            }
        },
    )
}

/// The result of a check.
pub fn check(ctx: &Ctx, report: &CheckReport) -> Markup {
    layout(
        ctx,
        t("check.title"),
        true,
        html! {
            @if report.is_clean() {
                p #verdict.ok role="status" { (t("check.clean")) }
            } @else {
                p #verdict.problem role="alert" { (t("check.problems")) " " (report.problems.len()) }
                ul { @for p in &report.problems { li dir="auto" { (p.message) } } }
            }
            p { (t("check.records")) " " (report.records) " · " (t("check.events")) " " (report.events) }
            @if !report.warnings.is_empty() {
                ul { @for w in &report.warnings { li dir="auto" { (w) } } }
            }
        },
    )
}

/// What the export wizard has chosen so far.
pub struct ExportChoice {
    /// Statement ids (hex).
    pub statements: Vec<String>,
    /// Exhibit ids (hex).
    pub exhibits: Vec<String>,
    /// Name protected witnesses in the bundle.
    pub reveal_protected: bool,
    /// `recipient`, `passphrase` or `none`.
    pub encryption: String,
    /// age recipients, one a line.
    pub recipients: String,
    /// The output file.
    pub out: String,
}

impl ExportChoice {
    /// Everything in the case, for a court (age recipients).
    pub fn all(statements: &[StatementSummary], exhibits: &[EvidenceSummary]) -> ExportChoice {
        ExportChoice {
            statements: statements.iter().map(|s| s.id.to_hex()).collect(),
            exhibits: exhibits.iter().map(|e| e.id.to_hex()).collect(),
            reveal_protected: false,
            encryption: "recipient".into(),
            recipients: String::new(),
            out: String::new(),
        }
    }
}

/// The export wizard: records, redaction preview, encryption, output.
pub fn export(
    ctx: &Ctx,
    case: &Case,
    statements: &[StatementSummary],
    exhibits: &[EvidenceSummary],
    choice: &ExportChoice,
    preview: Option<&ExportPreview>,
) -> Markup {
    export_page(ctx, case, statements, exhibits, choice, preview, None)
}

/// The export wizard with a problem to fix.
pub fn export_problem(
    ctx: &Ctx,
    case: &Case,
    statements: &[StatementSummary],
    exhibits: &[EvidenceSummary],
    choice: &ExportChoice,
    message: &str,
) -> Markup {
    export_page(ctx, case, statements, exhibits, choice, None, Some(message))
}

fn export_page(
    ctx: &Ctx,
    case: &Case,
    statements: &[StatementSummary],
    exhibits: &[EvidenceSummary],
    choice: &ExportChoice,
    preview: Option<&ExportPreview>,
    problem: Option<&str>,
) -> Markup {
    let enc = choice.encryption.as_str();
    layout(
        ctx,
        &format!("{} — {}", t("export.title"), case.data.reference),
        true,
        html! {
            @if let Some(p) = problem { p.problem role="alert" dir="auto" { (p) } }
            form method="post" action={ "/case/" (case.id.to_hex()) "/export" } data-busy=(t("busy.working")) {
                (csrf(ctx))
                fieldset {
                    legend { (t("export.step_records")) }
                    @for s in statements {
                        @let name = format!("s_{}", s.id.to_hex());
                        div.check {
                            input id=(name) name=(name) type="checkbox" value="1" checked[choice.statements.contains(&s.id.to_hex())];
                            label for=(name) dir="auto" { (witness(&s.overview)) " · v" (s.overview.version) }
                        }
                    }
                    @for e in exhibits {
                        @let name = format!("e_{}", e.id.to_hex());
                        div.check {
                            input id=(name) name=(name) type="checkbox" value="1" checked[choice.exhibits.contains(&e.id.to_hex())];
                            label for=(name) dir="auto" { (e.overview.original_name) }
                        }
                    }
                    div.check {
                        input #reveal_protected name="reveal_protected" type="checkbox" value="1" checked[choice.reveal_protected];
                        label for="reveal_protected" { (t("export.reveal")) }
                    }
                }
                fieldset {
                    legend { (t("export.step_preview")) }
                    button #preview type="submit" name="action" value="preview" { (t("export.preview")) }
                    @if let Some(p) = preview {
                        @if p.replacements.is_empty() { p #no_replacements { (t("export.no_replacements")) } }
                        ul #replacements {
                            @for r in &p.replacements {
                                li dir="auto" {
                                    (r.context.before)
                                    @if r.replaced { del { (r.context.name) } " " ins { (r.context.pseudonym) } }
                                    @else { mark { (r.context.name) } }
                                    (r.context.after)
                                }
                            }
                        }
                    }
                }
                fieldset {
                    legend { (t("export.step_encryption")) }
                    div.check {
                        input #enc_recipient name="encryption" type="radio" value="recipient" checked[enc == "recipient"];
                        label for="enc_recipient" { (t("export.recipient")) }
                    }
                    label for="recipients" { (t("export.recipients")) }
                    textarea #recipients name="recipients" dir="ltr" rows="2" { (choice.recipients) }
                    div.check {
                        input #enc_passphrase name="encryption" type="radio" value="passphrase" checked[enc == "passphrase"];
                        label for="enc_passphrase" { (t("export.passphrase")) }
                    }
                    label for="bundle_passphrase" { (t("export.passphrase_field")) }
                    input #bundle_passphrase name="bundle_passphrase" type="password" autocomplete="new-password";
                    label for="again" { (t("export.passphrase_again")) }
                    input #again name="again" type="password" autocomplete="new-password";
                    div.check {
                        input #enc_none name="encryption" type="radio" value="none" checked[enc == "none"];
                        label for="enc_none" { (t("export.none")) }
                    }
                }
                fieldset {
                    legend { (t("export.step_output")) }
                    label for="out" { (t("export.out")) }
                    input #out name="out" type="text" dir="auto" value=(choice.out);
                    button #export type="submit" name="action" value="export" { (t("export.button")) }
                }
            }
        },
    )
}

/// What an export wrote.
pub fn exported(ctx: &Ctx, s: &ExportSummary) -> Markup {
    layout(
        ctx,
        t("export.done"),
        true,
        html! {
            p #verdict.ok role="status" { (t("export.written")) " " span dir="auto" { (s.out.display().to_string()) } }
            dl {
                dt { (t("export.bag")) } dd { (s.bag) }
                dt { (t("case.statements")) } dd { (s.statements) " (" (s.versions) ")" }
                dt { (t("case.exhibits")) } dd { (s.evidence) }
                dt { (t("bundle.signer")) } dd { code { (s.signer_key_id) } " " code { (s.signer_fingerprint) } }
                dt { (t("export.redactions")) } dd { (s.name_warnings.len()) }
            }
        },
    )
}

/// The verify/import form.
pub fn bundles(ctx: &Ctx) -> Markup {
    layout(
        ctx,
        t("bundle.title"),
        true,
        html! {
            form method="post" action="/bundles/verify" data-busy=(t("busy.working")) {
                (csrf(ctx))
                label for="file" { (t("bundle.file")) }
                input #file name="file" type="text" dir="auto" required;
                label for="identity" { (t("bundle.identity")) }
                input #identity name="identity" type="text" dir="auto";
                label for="bundle_passphrase" { (t("bundle.passphrase")) }
                input #bundle_passphrase name="bundle_passphrase" type="password" autocomplete="off";
                label for="signer" { (t("bundle.signer_key")) }
                input #signer name="signer" type="text" dir="ltr";
                button #verify type="submit" { (t("bundle.verify")) }
                button #import type="submit" formaction="/bundles/import" { (t("bundle.import")) }
            }
        },
    )
}

/// A bundle's verdict, said plainly.
pub fn verdict(ctx: &Ctx, v: &Verdict) -> Markup {
    let (class, text) = match v.status() {
        Status::Valid => ("ok", t("bundle.valid")),
        Status::Unauthenticated => ("problem", t("bundle.unauthenticated")),
        Status::Invalid => ("problem", t("bundle.invalid")),
    };
    layout(
        ctx,
        t("bundle.verdict"),
        true,
        html! {
            p #verdict class=(class) role="status" { (text) }
            dl {
                dt { (t("statement.case")) } dd dir="auto" { (v.case_reference) }
                dt { (t("bundle.exporter")) } dd dir="auto" { (v.exporter) }
                dt { (t("bundle.signer")) } dd { code { (v.signer_key_id) } " " code { (v.signer_fingerprint_short) } }
                dt { (t("bundle.trusted")) } dd dir="auto" {
                    @match &v.trusted_as { Some(s) => (s.describe()), None => (t("bundle.not_pinned")) }
                }
                dt { (t("bundle.items")) } dd { (v.items.len()) }
            }
            @if !v.problems.is_empty() {
                ul { @for p in &v.problems { li.problem dir="auto" { (p) } } }
            }
        },
    )
}

/// What an import brought in.
pub fn imported(ctx: &Ctx, s: &ImportSummary) -> Markup {
    layout(
        ctx,
        t("bundle.imported"),
        true,
        html! {
            p #verdict.ok role="status" { (t("bundle.imported")) }
            dl {
                dt { (t("statement.case")) } dd dir="auto" { (s.case) }
                dt { (t("case.statements")) } dd { (s.statements) " (" (s.versions) ")" }
                dt { (t("case.exhibits")) } dd { (s.evidence) }
                dt { (t("bundle.signer")) } dd { code { (s.signer_key_id) } }
                dt { (t("bundle.trusted")) } dd dir="auto" {
                    @match &s.trusted_as { Some(t) => (t.describe()), None => (super::text::t("bundle.not_pinned")) }
                }
            }
        },
    )
}

/// The vault's users; for the owner (its default user), forms to add and
/// remove them.
pub fn users(ctx: &Ctx, users: &[UserSummary], owner: bool, problem: Option<&str>) -> Markup {
    layout(
        ctx,
        t("users.title"),
        true,
        html! {
            @if let Some(p) = problem { p.problem role="alert" { (p) } }
            table {
                thead { tr { th scope="col" { (t("users.name")) } th scope="col" { (t("users.since")) } th scope="col" { (t("users.state")) } th scope="col" { (t("users.remove")) } } }
                tbody {
                    @for u in users {
                        tr {
                            td dir="auto" { (u.name) }
                            td { (u.created_at) }
                            td { @if u.active { (t("users.active")) } @else { (t("users.removed")) } }
                            td {
                                @if u.active && owner {
                                    @let field_id = format!("confirm-{}", u.id.to_hex());
                                    form.inline method="post" action={ "/user/" (u.id.to_hex()) "/remove" } {
                                        (csrf(ctx))
                                        label for=(field_id) { (t("users.confirm")) }
                                        input id=(field_id) name="confirm" type="text" dir="auto" autocomplete="off" required;
                                        button type="submit" { (t("users.remove")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !owner { p { (t("users.owner_only")) } }
            @if owner {
            h2 { (t("users.add")) }
            form method="post" action="/users" {
                (csrf(ctx))
                (field("name", t("users.name"), true))
                label for="new_passphrase" { (t("users.passphrase")) }
                input #new_passphrase name="new_passphrase" type="password" autocomplete="new-password" required;
                label for="again" { (t("export.passphrase_again")) }
                input #again name="again" type="password" autocomplete="new-password" required;
                button type="submit" { (t("users.add")) }
            }
            }
        },
    )
}
