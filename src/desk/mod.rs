//! The desk: a local web interface to one vault, for people who do not use
//! a terminal (issue 12, SPEC §1, §6).
//!
//! [`Desk::start`] binds `127.0.0.1` on a random port and makes a one-time
//! URL token; [`Desk::run`] serves until told to stop. Every action goes
//! through the same library functions as the command line, on a vault
//! unlocked with [`Channel::Desk`] so its custody events say `"via":
//! "desk"`. Uploads stream from the request body into sealed chunks and
//! downloads from the sealed chunks to the response: no plaintext file is
//! ever written.
//!
//! Security (each point has a test in `tests/it/desk.rs`, listed in
//! SECURITY.md): the `Host` must be the desk's own (DNS rebinding); a
//! state-changing request must come from the desk's own `Origin` and carry
//! the CSRF token; the URL token is exchanged once for an `HttpOnly;
//! SameSite=Strict` cookie and is dead afterwards, and without the cookie
//! every answer is 403; every answer has a strict CSP and no-store,
//! no-referrer and nosniff headers; URLs carry only random ids (search is
//! a POST); "Lock", the idle time and exit drop the unlocked vault, whose
//! keys zeroize.

mod form;
pub mod guard;
mod pages;
pub mod text;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use maud::Markup;
use tiny_http::{Header, Method, Request, Response, Server};
use zeroize::Zeroizing;

use crate::crypto::WipedBytes;
use crate::error::{Error, Result};
use crate::format::Id;
use crate::records::case::NewCase;
use crate::records::evidence::NewEvidence;
use crate::records::statement::{Amendment, NewStatement, StatementFields, MAX_BODY_BYTES};
use crate::vault::{Channel, Unlocked, Vault};
use form::Form;
use guard::Secret;
use text::t;

/// Wrong passphrases in a row before unlocking pauses.
pub const UNLOCK_TRIES: u32 = 3;
/// The idle time when the vault's settings give none.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(600);
/// Largest form body accepted (a statement and its fields).
const MAX_FORM_BYTES: usize = MAX_BODY_BYTES + 256 * 1024;

/// How to start the desk.
#[derive(Clone, Debug)]
pub struct DeskOptions {
    /// The vault file.
    pub vault: PathBuf,
    /// Act as this user (default: the vault's first user).
    pub user: Option<String>,
    /// Lock after this long without a request (default: the vault's
    /// sealed setting, else [`DEFAULT_IDLE`]).
    pub idle: Option<Duration>,
    /// How long unlocking waits after [`UNLOCK_TRIES`] wrong passphrases.
    pub unlock_pause: Duration,
}

/// The browser's session: its cookie and the CSRF token of its forms.
struct BrowserSession {
    cookie: Secret,
    csrf: Secret,
}

/// The unlocked vault and its idle time.
struct Open {
    vault: Vault<Unlocked>,
    idle: Duration,
}

#[derive(Default)]
struct Tries {
    failed: u32,
    paused_until: Option<Instant>,
}

struct Shared {
    port: u16,
    options: DeskOptions,
    url_token: Mutex<Option<Secret>>,
    browser: Mutex<Option<BrowserSession>>,
    vault: Mutex<Option<Open>>,
    activity: Mutex<Instant>,
    tries: Mutex<Tries>,
    /// The last check run from the desk: when, and whether it was clean.
    last_check: Mutex<Option<(String, bool)>>,
    /// The long work under way (check, export): evidence bytes done and
    /// in all, for the page's progress bar (`GET /progress`).
    progress: Mutex<Option<(u64, u64)>>,
    /// Whether memory locking is still tried ([`Shared::lock_memory`]).
    lock_memory: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A handler that panicked left the data as it was: keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running desk.
pub struct Desk {
    server: Server,
    shared: Arc<Shared>,
    url: Zeroizing<String>,
}

impl Desk {
    /// Checks the vault opens, binds `127.0.0.1:0` and makes the one-time
    /// URL.
    pub fn start(options: DeskOptions) -> Result<Desk> {
        drop(Vault::open(&options.vault)?);
        let server = Server::http("127.0.0.1:0").map_err(|e| {
            Error::io(
                "cannot listen on 127.0.0.1".to_owned(),
                std::io::Error::other(e.to_string()),
            )
        })?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .ok_or_else(|| Error::Internal("the desk is not listening on an IP port".into()))?;
        let token = Secret::random()?;
        let url = Zeroizing::new(format!("http://127.0.0.1:{port}/open/{}", token.expose()));
        Ok(Desk {
            server,
            shared: Arc::new(Shared {
                port,
                options,
                url_token: Mutex::new(Some(token)),
                browser: Mutex::new(None),
                vault: Mutex::new(None),
                activity: Mutex::new(Instant::now()),
                tries: Mutex::new(Tries::default()),
                last_check: Mutex::new(None),
                progress: Mutex::new(None),
                lock_memory: AtomicBool::new(true),
            }),
            url,
        })
    }

    /// The one-time URL that opens the desk (works once).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port the desk listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// Serves until `stop` is set (Ctrl-C), locking on idle; locks on the
    /// way out.
    pub fn run(self, stop: &AtomicBool) -> Result<()> {
        while !stop.load(Ordering::SeqCst) {
            match self.server.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(request)) => {
                    let shared = Arc::clone(&self.shared);
                    std::thread::spawn(move || handle(&shared, request));
                }
                Ok(None) => {}
                Err(e) => return Err(Error::io("the desk stopped listening".to_owned(), e)),
            }
            self.shared.lock_if_idle();
        }
        *lock(&self.shared.vault) = None;
        Ok(())
    }
}

impl Shared {
    /// Drops the unlocked vault (its keys zeroize) once idle too long.
    fn lock_if_idle(&self) {
        let idle_for = lock(&self.activity).elapsed();
        // Busy (an upload, a check): that is activity, not idleness.
        let Ok(mut open) = self.vault.try_lock() else {
            return;
        };
        if open.as_ref().is_some_and(|o| idle_for >= o.idle) {
            *open = None;
        }
    }

    fn touch(&self) {
        *lock(&self.activity) = Instant::now();
    }

    /// While a vault is unlocked, locks what the process holds against
    /// swapping, after an unlock (the keys, the state) and a search (the
    /// index it keeps for the next), as long as the memory-lock limit
    /// allows it: after the first refusal it is not tried again. (Not
    /// after every request: `MCL_CURRENT` pins every page mapped then, and
    /// an upload's buffers would stay resident for nothing.)
    fn lock_memory(&self) {
        if !self.lock_memory.load(Ordering::SeqCst) {
            return;
        }
        let unlocked = self.vault.try_lock().is_ok_and(|open| open.is_some());
        if unlocked && crate::process::lock_held_memory().is_err() {
            self.lock_memory.store(false, Ordering::SeqCst);
        }
    }
}

/// What a handler answers.
enum Reply {
    Page(u16, Markup),
    Redirect(String),
    Text(u16, String),
    Asset(&'static str, &'static str),
    Json(u16, serde_json::Value),
    /// A session starts: the cookie, then on to the desk.
    Welcome(String),
    /// An exhibit's bytes, streamed.
    Download(Id, String, u64),
}

fn header(name: &str, value: &str) -> Option<Header> {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

fn respond<R: Read>(request: Request, mut response: Response<R>) {
    for (name, value) in guard::HEADERS {
        if let Some(h) = header(name, value) {
            response.add_header(h);
        }
    }
    // A client gone away is nothing to report.
    let _ = request.respond(response);
}

fn handle(shared: &Shared, mut request: Request) {
    let reply = route(shared, &mut request);
    let (status, content_type, body, extra): (u16, &str, Vec<u8>, Option<Header>) = match reply {
        Reply::Page(status, page) => (
            status,
            "text/html; charset=utf-8",
            page.into_string().into_bytes(),
            None,
        ),
        Reply::Text(status, text) => (status, "text/plain; charset=utf-8", text.into_bytes(), None),
        Reply::Json(status, value) => (
            status,
            "application/json",
            value.to_string().into_bytes(),
            None,
        ),
        Reply::Asset(content_type, body) => (200, content_type, body.as_bytes().to_vec(), None),
        Reply::Redirect(to) => (
            303,
            "text/plain; charset=utf-8",
            Vec::new(),
            header("Location", &to),
        ),
        Reply::Welcome(cookie) => (
            303,
            "text/plain; charset=utf-8",
            Vec::new(),
            header("Set-Cookie", &guard::set_cookie(&cookie)),
        ),
        Reply::Download(id, name, size) => return download(shared, request, id, &name, size),
    };
    let mut response = Response::from_data(body).with_status_code(status);
    if let Some(h) = header("Content-Type", content_type) {
        response.add_header(h);
    }
    if let Some(h) = extra {
        if h.field.equiv("Set-Cookie") {
            if let Some(l) = header("Location", "/") {
                response.add_header(l);
            }
        }
        response.add_header(h);
    }
    respond(request, response);
}

fn header_value<'r>(request: &'r Request, name: &'static str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn refused(why: &'static str) -> Reply {
    Reply::Text(403, t(why).to_owned())
}

/// Every request passes here: the checks first, then the page.
fn route(shared: &Shared, request: &mut Request) -> Reply {
    let port = shared.port;
    if !guard::host_ok(header_value(request, "Host"), port) {
        return refused("refused.host");
    }
    let method = request.method().clone();
    let url = request.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let path = path.to_owned();
    if let Some(token) = path.strip_prefix("/open/") {
        if method != Method::Get {
            return refused("refused.method");
        }
        return open_with_token(shared, token);
    }
    // The browser's session: its cookie must be the one the token gave.
    let csrf = {
        let browser = lock(&shared.browser);
        let given = header_value(request, "Cookie").and_then(guard::cookie_value);
        match (&*browser, given) {
            (Some(b), Some(given)) if b.cookie.matches(given) => b.csrf.expose().to_owned(),
            _ => return refused("refused.cookie"),
        }
    };
    let csrf = Zeroizing::new(csrf);
    let state_changing = !matches!(method, Method::Get | Method::Head);
    let fetch_site = header_value(request, "Sec-Fetch-Site");
    if state_changing && !guard::origin_ok(header_value(request, "Origin"), fetch_site, port) {
        return refused("refused.origin");
    }
    shared.touch();
    match (&method, path.as_str()) {
        (Method::Get, "/assets/desk.css") => {
            return Reply::Asset("text/css; charset=utf-8", include_str!("assets/desk.css"))
        }
        (Method::Get, "/assets/desk.js") => {
            return Reply::Asset(
                "text/javascript; charset=utf-8",
                include_str!("assets/desk.js"),
            )
        }
        _ => {}
    }
    // The only queries a URL may carry: numbers (a statement's version, a
    // page of a case's statements).
    let number_query = |prefix: &str, key: &str| {
        path.starts_with(prefix)
            && query.strip_prefix(key).is_some_and(|v| {
                !v.is_empty() && v.len() < 10 && v.bytes().all(|b| b.is_ascii_digit())
            })
    };
    let allowed = number_query("/statement/", "v=") || number_query("/case/", "p=");
    if method == Method::Get && !query.is_empty() && !allowed {
        // URLs carry random ids only: no words, names or places.
        return refused("refused.query");
    }
    // Uploads carry the CSRF token in a header; forms in a field.
    if method == Method::Post {
        if let Some(case) = path
            .strip_prefix("/case/")
            .and_then(|p| p.strip_suffix("/exhibits"))
        {
            let token = header_value(request, "X-CSRF-Token").unwrap_or("");
            if !same(&csrf, token) {
                return refused("refused.csrf");
            }
            let case = case.to_owned();
            return upload(shared, request, &case);
        }
    }
    let form = if method == Method::Post {
        let mut body = Zeroizing::new(Vec::new());
        let limit = MAX_FORM_BYTES as u64 + 1;
        if request
            .as_reader()
            .take(limit)
            .read_to_end(&mut body)
            .is_err()
        {
            return Reply::Text(400, t("error.body").to_owned());
        }
        if body.len() > MAX_FORM_BYTES {
            return Reply::Text(413, t("error.too_big").to_owned());
        }
        let Some(form) = Form::parse(&body) else {
            return Reply::Text(400, t("error.body").to_owned());
        };
        if !same(&csrf, form.get("csrf").unwrap_or("")) {
            return refused("refused.csrf");
        }
        Some(form)
    } else {
        None
    };
    let ctx = pages::Ctx {
        csrf: csrf.to_string(),
    };
    match (method, form) {
        (Method::Get | Method::Head, _) => get(shared, &ctx, &path, query),
        (Method::Post, Some(form)) => post(shared, &ctx, &path, &form),
        _ => refused("refused.method"),
    }
}

fn same(csrf: &str, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    csrf.len() == given.len() && bool::from(csrf.as_bytes().ct_eq(given.as_bytes()))
}

fn open_with_token(shared: &Shared, token: &str) -> Reply {
    let mut slot = lock(&shared.url_token);
    match &*slot {
        Some(secret) if secret.matches(token) => {}
        _ => return refused("refused.token"),
    }
    *slot = None; // dead from now on
    let (cookie, csrf) = match (Secret::random(), Secret::random()) {
        (Ok(c), Ok(s)) => (c, s),
        _ => return Reply::Text(500, t("error.random").to_owned()),
    };
    let value = cookie.expose().to_owned();
    *lock(&shared.browser) = Some(BrowserSession { cookie, csrf });
    shared.touch();
    Reply::Welcome(value)
}

/// Runs `f` on the unlocked vault, or shows the unlock page.
fn with_vault(
    shared: &Shared,
    ctx: &pages::Ctx,
    f: impl FnOnce(&mut Vault<Unlocked>) -> Result<Reply>,
) -> Reply {
    let mut open = lock(&shared.vault);
    let Some(o) = open.as_mut() else {
        return Reply::Page(200, pages::unlock(ctx, None));
    };
    match f(&mut o.vault) {
        Ok(reply) => reply,
        Err(e) => error_page(ctx, &e),
    }
}

fn error_page(ctx: &pages::Ctx, e: &Error) -> Reply {
    let status = match e {
        Error::NotFound(_) => 404,
        Error::Invalid(_) | Error::AlreadyExists(_) => 400,
        Error::Integrity(_) => 500,
        _ => 400,
    };
    Reply::Page(status, pages::error(ctx, &e.to_string()))
}

fn id_in<'p>(path: &'p str, prefix: &str, suffix: &str) -> Option<&'p str> {
    path.strip_prefix(prefix)
        .and_then(|p| p.strip_suffix(suffix))
        .filter(|id| guard::is_id(id))
}

fn get(shared: &Shared, ctx: &pages::Ctx, path: &str, query: &str) -> Reply {
    if path == "/progress" {
        // Never waits for the vault, which the work itself holds.
        let (done, total) = lock(&shared.progress).unwrap_or((0, 0));
        return Reply::Json(200, serde_json::json!({ "done": done, "total": total }));
    }
    if path == "/" {
        return with_vault(shared, ctx, |v| {
            let (cases, damaged) = v.cases()?;
            Ok(Reply::Page(200, pages::cases(ctx, &cases, damaged.len())))
        });
    }
    if path == "/cases/new" {
        return with_vault(shared, ctx, |_| Ok(Reply::Page(200, pages::new_case(ctx))));
    }
    if path == "/search" {
        return with_vault(shared, ctx, |_| {
            Ok(Reply::Page(200, pages::search(ctx, "", None)))
        });
    }
    if let Some(id) = id_in(path, "/case/", "") {
        let page = query
            .strip_prefix("p=")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        return with_vault(shared, ctx, |v| {
            let case = v.show_case(id)?;
            let hex = case.id.to_hex();
            let (statements, _) = v.statements(Some(&hex))?;
            let (exhibits, _) = v.evidence(Some(&hex))?;
            let last_check = lock(&shared.last_check).clone();
            Ok(Reply::Page(
                200,
                pages::case(
                    ctx,
                    &case,
                    &statements,
                    page,
                    &exhibits,
                    last_check.as_ref(),
                ),
            ))
        });
    }
    if let Some(id) = id_in(path, "/case/", "/statements/new") {
        return with_vault(shared, ctx, |v| {
            let case = v.show_case(id)?;
            Ok(Reply::Page(200, pages::new_statement(ctx, &case)))
        });
    }
    if let Some(id) = id_in(path, "/statement/", "") {
        let version = query.strip_prefix("v=").and_then(|v| v.parse::<u64>().ok());
        if !query.is_empty() && version.is_none() {
            return refused("refused.query");
        }
        return with_vault(shared, ctx, |v| {
            let shown = v.show_statement(id, version)?;
            let previous = if shown.overview.version > 1 {
                Some(v.show_statement(id, Some(shown.overview.version - 1))?)
            } else {
                None
            };
            let (_, history, _) = v.statement_history(id)?;
            Ok(Reply::Page(
                200,
                pages::statement(ctx, &shown, previous.as_ref(), &history),
            ))
        });
    }
    if let Some(id) = id_in(path, "/statement/", "/amend") {
        return with_vault(shared, ctx, |v| {
            let shown = v.show_statement(id, None)?;
            Ok(Reply::Page(200, pages::amend(ctx, &shown, None)))
        });
    }
    if let Some(id) = id_in(path, "/case/", "/export") {
        return with_vault(shared, ctx, |v| {
            let case = v.show_case(id)?;
            let hex = case.id.to_hex();
            let (statements, _) = v.statements(Some(&hex))?;
            let (exhibits, _) = v.evidence(Some(&hex))?;
            let choice = pages::ExportChoice::all(&statements, &exhibits);
            Ok(Reply::Page(
                200,
                pages::export(ctx, &case, &statements, &exhibits, &choice, None),
            ))
        });
    }
    if path == "/bundles" {
        return with_vault(shared, ctx, |_| Ok(Reply::Page(200, pages::bundles(ctx))));
    }
    if path == "/users" {
        return with_vault(shared, ctx, |v| {
            let users = v.users()?;
            let owner = is_owner(v, &users);
            Ok(Reply::Page(200, pages::users(ctx, &users, owner, None)))
        });
    }
    if let Some(id) = id_in(path, "/log/", "") {
        return with_vault(shared, ctx, |v| {
            let log = v.log(Some(id))?;
            Ok(Reply::Page(200, pages::log(ctx, id, &log)))
        });
    }
    Reply::Page(404, pages::error(ctx, t("error.no_page")))
}

fn post(shared: &Shared, ctx: &pages::Ctx, path: &str, form: &Form) -> Reply {
    match path {
        "/unlock" => return unlock(shared, ctx, form),
        "/lock" => {
            *lock(&shared.vault) = None;
            return Reply::Redirect("/".into());
        }
        "/cases" => {
            return with_vault(shared, ctx, |v| {
                let input = NewCase {
                    reference: form.text("reference"),
                    title: form.text("title"),
                    description: form.optional("description"),
                    tags: lines(&form.text("tags")),
                };
                let id = v.create_case(&input)?;
                Ok(Reply::Redirect(format!("/case/{}", id.to_hex())))
            })
        }
        "/search" => {
            let query = form.text("q");
            let reply = with_vault(shared, ctx, |v| {
                let request = crate::records::search::SearchRequest {
                    query: query.clone(),
                    limit: 200,
                    ..Default::default()
                };
                let found = v.search(&request)?;
                Ok(Reply::Page(200, pages::search(ctx, &query, Some(&found))))
            });
            // The index the search kept for the next one.
            shared.lock_memory();
            return reply;
        }
        "/check" => {
            return with_vault(shared, ctx, |v| {
                let total = evidence_bytes(v, None)?;
                let report = with_progress(shared, total, |tick| v.check(tick))?;
                *lock(&shared.last_check) = Some((crate::custody::now_utc(), report.is_clean()));
                Ok(Reply::Page(200, pages::check(ctx, &report)))
            })
        }
        _ => {}
    }
    if let Some(id) = id_in(path, "/case/", "/export") {
        return with_vault(shared, ctx, |v| export(v, shared, ctx, id, form));
    }
    if path == "/bundles/verify" || path == "/bundles/import" {
        let importing = path == "/bundles/import";
        return with_vault(shared, ctx, |v| bundle(v, ctx, form, importing));
    }
    if path == "/users" {
        return with_vault(shared, ctx, |v| {
            let users = v.users()?;
            if !is_owner(v, &users) {
                return Ok(not_owner(ctx, &users));
            }
            let name = form.text("name").trim().to_owned();
            let (Some(first), Some(again)) = (form.get("new_passphrase"), form.get("again")) else {
                return Err(Error::Invalid(crate::error::Invalid::Command {
                    problem: t("users.passphrase_missing").into(),
                }));
            };
            if first != again {
                return Ok(Reply::Page(
                    400,
                    pages::users(ctx, &users, true, Some(t("users.differ"))),
                ));
            }
            v.add_user(&name, first)?;
            Ok(Reply::Redirect("/users".into()))
        });
    }
    if let Some(id) = id_in(path, "/user/", "/remove") {
        return with_vault(shared, ctx, |v| {
            let users = v.users()?;
            if !is_owner(v, &users) {
                return Ok(not_owner(ctx, &users));
            }
            let Some(user) = users.iter().find(|u| u.active && u.id.to_hex() == id) else {
                return Err(Error::NotFound(t("users.unknown").into()));
            };
            // As `custodia user remove`: the name typed again, so that a
            // slip of the mouse removes nobody.
            if form.text("confirm").trim() != user.name {
                return Ok(Reply::Page(
                    400,
                    pages::users(ctx, &users, true, Some(t("users.confirm_differs"))),
                ));
            }
            let name = user.name.clone();
            v.remove_user(&name)?;
            Ok(Reply::Redirect("/users".into()))
        });
    }
    if let Some(id) = id_in(path, "/case/", "/statements") {
        return with_vault(shared, ctx, |v| {
            let fields = StatementFields {
                witness: form.text("witness").trim().to_owned(),
                pseudonym: form.optional("pseudonym"),
                protected: form.checked("protected"),
                language: form.optional("language"),
                taken_at: form.optional("taken_at"),
                place: form.optional("place"),
                interviewer: form.optional("interviewer"),
                interpreter: form.optional("interpreter"),
                consent: form.optional("consent"),
                source: form.optional("source"),
                aliases: lines(&form.text("aliases")),
            };
            fields.validate()?;
            let id = v.add_statement(&NewStatement {
                case: id.to_owned(),
                fields,
                body: form.text("body"),
            })?;
            Ok(Reply::Redirect(format!("/statement/{}", id.to_hex())))
        });
    }
    if let Some(id) = id_in(path, "/statement/", "/amend") {
        let reason = form.text("reason");
        if reason.trim().is_empty() {
            return with_vault(shared, ctx, |v| {
                let shown = v.show_statement(id, None)?;
                Ok(Reply::Page(
                    400,
                    pages::amend(ctx, &shown, Some(t("amend.reason_required"))),
                ))
            });
        }
        return with_vault(shared, ctx, |v| {
            let amendment = Amendment {
                body: Some(form.text("body")),
                reason: reason.trim().to_owned(),
                ..Default::default()
            };
            let (id, _) = v.amend(id, &amendment)?;
            Ok(Reply::Redirect(format!("/statement/{}", id.to_hex())))
        });
    }
    if let Some(id) = id_in(path, "/statement/", "/seal") {
        return with_vault(shared, ctx, |v| {
            let (id, _) = v.seal_statement(id)?;
            Ok(Reply::Redirect(format!("/statement/{}", id.to_hex())))
        });
    }
    if let Some(id) = id_in(path, "/exhibit/", "/download") {
        return with_vault(shared, ctx, |v| {
            let (id, overview) = v.evidence_for_extract(id)?;
            Ok(Reply::Download(id, overview.original_name, overview.size))
        });
    }
    Reply::Page(404, pages::error(ctx, t("error.no_page")))
}

/// One entry a line, blank lines left out.
fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn unlock(shared: &Shared, ctx: &pages::Ctx, form: &Form) -> Reply {
    let mut tries = lock(&shared.tries);
    if let Some(until) = tries.paused_until {
        if Instant::now() < until {
            return Reply::Page(429, pages::unlock(ctx, Some(t("unlock.paused"))));
        }
        *tries = Tries::default();
    }
    let passphrase = form.get("passphrase").unwrap_or("");
    let opened = Vault::open(&shared.options.vault)
        .and_then(|v| v.unlock(shared.options.user.as_deref(), passphrase));
    match opened {
        Ok(mut vault) => {
            tries.failed = 0;
            vault.set_channel(Channel::Desk);
            let idle = match shared.options.idle {
                Some(idle) => idle,
                None => match vault.settings() {
                    Ok(s) => Duration::from_secs(s.idle_seconds()),
                    Err(e) => return error_page(ctx, &e),
                },
            };
            *lock(&shared.vault) = Some(Open { vault, idle });
            shared.touch();
            // The keys and the state kept while unlocked.
            shared.lock_memory();
            Reply::Redirect("/".into())
        }
        Err(Error::WrongPassphrase) => {
            tries.failed += 1;
            if tries.failed >= UNLOCK_TRIES {
                tries.paused_until = Some(Instant::now() + shared.options.unlock_pause);
                return Reply::Page(429, pages::unlock(ctx, Some(t("unlock.paused"))));
            }
            Reply::Page(403, pages::unlock(ctx, Some(t("unlock.wrong"))))
        }
        Err(e) => Reply::Page(400, pages::unlock(ctx, Some(&e.to_string()))),
    }
}

/// Reads an upload's body into sealed chunks: the body goes through a
/// bounded channel to the library's chunk writer on another thread; a body
/// shorter than its `Content-Length` is an error, so nothing is kept.
fn upload(shared: &Shared, request: &mut Request, case: &str) -> Reply {
    if !guard::is_id(case) {
        return Reply::Json(404, serde_json::json!({ "error": t("error.no_page") }));
    }
    let Some(name) = header_value(request, "X-File-Name").and_then(|n| form::decode(n, false))
    else {
        return Reply::Json(400, serde_json::json!({ "error": t("upload.no_name") }));
    };
    let Some(expected) = request.body_length() else {
        return Reply::Json(411, serde_json::json!({ "error": t("upload.no_length") }));
    };
    let mut open = lock(&shared.vault);
    let Some(o) = open.as_mut() else {
        return Reply::Json(409, serde_json::json!({ "error": t("locked") }));
    };
    let input = NewEvidence {
        case: case.to_owned(),
        ..Default::default()
    };
    let vault = &mut o.vault;
    // The body's pieces go to the writer through `tx` and come back through
    // `spent` to be filled again: no allocation per piece, and each buffer
    // is wiped once, when the upload ends.
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<WipedBytes>>(UPLOAD_AHEAD);
    let (spent_tx, spent) = std::sync::mpsc::sync_channel::<WipedBytes>(UPLOAD_AHEAD + 2);
    let result = std::thread::scope(|scope| {
        let adding = scope.spawn(move || {
            let mut reader = ChannelReader {
                rx,
                spent: spent_tx,
                current: WipedBytes::default(),
                pos: 0,
            };
            vault.add_evidence_from(&input, &mut reader, &name, &mut |_| {})
        });
        let body = request.as_reader();
        let mut total = 0usize;
        loop {
            let mut buf = spent.try_recv().unwrap_or_default();
            buf.0.resize(UPLOAD_PIECE, 0);
            match body.read(&mut buf.0) {
                Ok(0) => {
                    if total != expected {
                        let _ = tx.send(Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "the upload stopped before its end",
                        )));
                    }
                    break;
                }
                Ok(n) => {
                    total += n;
                    buf.0.truncate(n);
                    if tx.send(Ok(buf)).is_err() {
                        break; // the writer stopped: its error says why
                    }
                    shared.touch();
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    break;
                }
            }
        }
        drop(tx);
        adding
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the upload failed".into())))
    });
    match result {
        Ok(e) => Reply::Json(
            200,
            serde_json::json!({
                "id": e.id.to_hex(),
                "sha256": e.overview.sha256,
                "size": e.overview.size,
                "metadata": !e.overview.metadata.is_empty(),
            }),
        ),
        Err(e) => Reply::Json(400, serde_json::json!({ "error": e.to_string() })),
    }
}

/// Bytes of an upload read from the socket at a time.
const UPLOAD_PIECE: usize = 256 * 1024;
/// Pieces read ahead of the writer at most.
const UPLOAD_AHEAD: usize = 4;

/// The receiving end of an upload's pieces, as a `Read`; each piece read
/// goes back to be filled again.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<std::io::Result<WipedBytes>>,
    spent: std::sync::mpsc::SyncSender<WipedBytes>,
    current: WipedBytes,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.current.0.len() {
            match self.rx.recv() {
                Ok(Ok(piece)) => {
                    let done = std::mem::replace(&mut self.current, piece);
                    // Dropped (and wiped) instead when the pool is full.
                    let _ = self.spent.try_send(done);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.0.len() - self.pos);
        buf[..n].copy_from_slice(&self.current.0[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Streams an exhibit to the browser as an attachment. The extract event
/// is committed before the first byte; the length is announced, so a
/// stream cut short by a failed check is a failed download.
fn download(shared: &Shared, request: Request, id: Id, name: &str, size: u64) {
    let mut open = lock(&shared.vault);
    let Some(o) = open.as_mut() else {
        let response = Response::from_string(t("locked")).with_status_code(409);
        return respond(request, response);
    };
    let mut head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\
         Content-Disposition: {}\r\nConnection: close\r\n",
        guard::content_disposition(name)
    );
    for (name, value) in guard::HEADERS {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut writer = request.into_writer();
    if writer.write_all(head.as_bytes()).is_err() {
        return;
    }
    // Each decrypted chunk (1 MiB) goes to the socket as it is: no buffer
    // of ours in between.
    let _ = o
        .vault
        .extract_evidence_to(&id, &mut writer, &mut |_| shared.touch());
    let _ = writer.flush();
}

/// The export wizard's POST: a redaction preview, or the export itself,
/// through the same library calls as `custodia export [--preview]`.
/// Whether the acting user is the vault's owner: its default user, the
/// first of its active users (the one who made it, while they remain).
/// Only the owner adds and removes users at the desk.
fn is_owner(v: &Vault<Unlocked>, users: &[crate::vault::users::UserSummary]) -> bool {
    users.iter().find(|u| u.active).map(|u| u.id) == Some(v.user().id)
}

/// The answer to another user who tries to manage users.
fn not_owner(ctx: &pages::Ctx, users: &[crate::vault::users::UserSummary]) -> Reply {
    Reply::Page(
        403,
        pages::users(ctx, users, false, Some(t("users.owner_only"))),
    )
}

/// The evidence bytes a check (or an export of `case`) re-hashes.
fn evidence_bytes(v: &mut Vault<Unlocked>, case: Option<&str>) -> Result<u64> {
    let (items, _) = v.evidence(case)?;
    Ok(items.iter().map(|e| e.overview.size).sum())
}

/// Runs `work`, publishing its progress (bytes done of `total`) for
/// `GET /progress` while it runs.
fn with_progress<T>(
    shared: &Shared,
    total: u64,
    work: impl FnOnce(&mut dyn FnMut(u64)) -> Result<T>,
) -> Result<T> {
    *lock(&shared.progress) = Some((0, total));
    let out = work(&mut |done| {
        if let Some(p) = lock(&shared.progress).as_mut() {
            *p = (done, p.1.max(done));
        }
    });
    *lock(&shared.progress) = None;
    out
}

fn export(
    v: &mut Vault<Unlocked>,
    shared: &Shared,
    ctx: &pages::Ctx,
    id: &str,
    form: &Form,
) -> Result<Reply> {
    use crate::bundle::export::{Encryption, ExportOptions};
    let case = v.show_case(id)?;
    let hex = case.id.to_hex();
    let (statements, _) = v.statements(Some(&hex))?;
    let (exhibits, _) = v.evidence(Some(&hex))?;
    let choice = pages::ExportChoice {
        statements: form.ticked_with_prefix("s_"),
        exhibits: form.ticked_with_prefix("e_"),
        reveal_protected: form.checked("reveal_protected"),
        encryption: form.get("encryption").unwrap_or("recipient").to_owned(),
        recipients: form.text("recipients"),
        out: form.text("out").trim().to_owned(),
    };
    // The wizard again, with what is wrong and what was chosen so far.
    let refuse = |message: &str| {
        Reply::Page(
            400,
            pages::export_problem(ctx, &case, &statements, &exhibits, &choice, message),
        )
    };
    let encryption = match choice.encryption.as_str() {
        "passphrase" => {
            let (Some(first), Some(again)) = (form.get("bundle_passphrase"), form.get("again"))
            else {
                return Ok(refuse(t("export.passphrase_missing")));
            };
            if first.is_empty() || first != again {
                return Ok(refuse(t("export.passphrases_differ")));
            }
            // The same minimum as `custodia export --passphrase`.
            if let Err(e) = crate::crypto::strength::check_bundle_passphrase(first) {
                let message = format!("{}: {e}", t("export.passphrase_weak"));
                return Ok(refuse(&message));
            }
            Encryption::Passphrase(secrecy::SecretString::from(first.to_owned()))
        }
        "none" => Encryption::None,
        _ => Encryption::Recipients(lines(&choice.recipients)),
    };
    let previewing = form.get("action") == Some("preview");
    if !previewing && !std::path::Path::new(&choice.out).is_absolute() {
        return Ok(refuse(t("export.out_absolute")));
    }
    if choice.statements.is_empty() && choice.exhibits.is_empty() {
        return Ok(refuse(t("export.nothing")));
    }
    let options = ExportOptions {
        case: hex.clone(),
        statements: choice.statements.clone(),
        evidence: choice.exhibits.clone(),
        encryption,
        reveal_protected: choice.reveal_protected,
        keep_names_in_text: false,
        out: PathBuf::from(&choice.out),
        force: false,
        stripped: false,
    };
    if previewing {
        let preview = v.preview_export(&options)?;
        return Ok(Reply::Page(
            200,
            pages::export(ctx, &case, &statements, &exhibits, &choice, Some(&preview)),
        ));
    }
    let total = evidence_bytes(v, Some(id))?;
    let summary = with_progress(shared, total, |tick| v.export(&options, tick))?;
    Ok(Reply::Page(200, pages::exported(ctx, &summary)))
}

/// Verifies or imports a bundle, as `custodia bundle verify|import`.
fn bundle(
    v: &mut Vault<Unlocked>,
    ctx: &pages::Ctx,
    form: &Form,
    importing: bool,
) -> Result<Reply> {
    use crate::bundle::import::ImportOptions;
    use crate::bundle::verify::{identities_from_file, Unlock};
    let file = PathBuf::from(form.text("file").trim());
    let identity = form.optional("identity");
    let unlock = match (
        identity,
        form.get("bundle_passphrase").filter(|p| !p.is_empty()),
    ) {
        (Some(path), _) => Unlock::Identities(identities_from_file(std::path::Path::new(&path))?),
        (None, Some(p)) => Unlock::Passphrase(secrecy::SecretString::from(p.to_owned())),
        (None, None) => Unlock::None,
    };
    let signers = match form.optional("signer") {
        Some(text) => vec![
            crate::formats::minisign::PublicKey::parse(&text).map_err(|e| {
                Error::Invalid(crate::error::Invalid::Command {
                    problem: format!("{}: {e}", t("bundle.bad_signer")),
                })
            })?,
        ],
        None => Vec::new(),
    };
    if importing {
        let summary = v.import_bundle(
            &file,
            &unlock,
            &ImportOptions {
                signers,
                into_case: None,
            },
            &mut |_| {},
        )?;
        return Ok(Reply::Page(200, pages::imported(ctx, &summary)));
    }
    let verdict = v.verify_bundle(&file, &unlock, &signers)?;
    Ok(Reply::Page(200, pages::verdict(ctx, &verdict)))
}
