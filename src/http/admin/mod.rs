//! The admin web UI (CONTRACT.md section 5): the registry operator's daily tool, server-rendered
//! from templates compiled into the binary, calling the registry service layer only.
//!
//! Sessions live in the database (the cookie carries a random token; the store keeps its digest),
//! the cookie is HttpOnly, SameSite=Strict, Secure under TLS, scoped to /admin. Every form
//! carries the session's CSRF token and every POST checks it. Roles are enforced here, on the
//! server, for every action: `support` reads and may lift WHOIS suspensions, `admin` does all.
//! Sign-in is throttled per user name and per address after repeated failures.

mod pages;
mod text;

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::lockout::Lockout;
use super::routes::{Routes, get, post};
use crate::model::{Role, Session, User};
pub use pages::dashboard;
pub use text::Tr;

/// The form actions of the admin UI: (the route that takes them, the `action` values it runs).
/// The authorization matrix test (tests/it/authz.rs) covers exactly these.
pub const ACTIONS: &[(&str, &[&str])] = &[
    ("/admin/domains/{name}/action", pages::DOMAIN_ACTIONS),
    ("/admin/registrars/{id}/action", pages::REGISTRAR_ACTIONS),
    ("/admin/users", pages::USER_ACTIONS),
];

pub const COOKIE: &str = "nicbox_admin";
pub const LANG_COOKIE: &str = "nicbox_lang";

pub fn router() -> Routes {
    Routes::new()
        .route("/", get(pages::dashboard))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/lang/{lang}", get(pages::set_lang))
        .route("/domains", get(pages::domains))
        .route("/domains/{name}", get(pages::domain))
        .route("/domains/{name}/action", post(pages::domain_action))
        .route("/registrars", get(pages::registrars).post(pages::registrar_create))
        .route("/registrars/{id}", get(pages::registrar))
        .route("/registrars/{id}/action", post(pages::registrar_action))
        .route("/queues", get(pages::queues))
        .route("/zones", get(pages::zones))
        .route("/zones/publish", post(pages::zones_publish))
        .route("/directory", get(pages::directory))
        .route("/directory/lift", post(pages::lift))
        .route("/directory/disclosures", post(pages::disclosure_create))
        .route("/directory/disclosures/{id}", get(pages::disclosure).post(pages::disclosure_decide))
        .route("/users", get(pages::users).post(pages::user_action))
        .route("/audit", get(pages::audit))
        .route("/clock", get(pages::clock).post(pages::clock_advance))
        .route("/static/admin.css", get(css))
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../../web/static/admin.css"),
    )
        .into_response()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The language of the admin pages: the cookie, else the browser's preference, else Portuguese.
pub fn tr(headers: &HeaderMap) -> Tr {
    match cookie(headers, LANG_COOKIE).as_deref() {
        Some("en") => return Tr::en(),
        Some("pt") => return Tr::pt(),
        _ => {}
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.trim_start().to_ascii_lowercase().starts_with("en") { Tr::en() } else { Tr::pt() }
}

/// A signed-in user with its session.
pub struct Admin {
    pub user: User,
    pub session: Session,
    pub token: String,
    pub tr: Tr,
}

impl Admin {
    pub fn can_change(&self) -> bool {
        self.user.role == Role::Admin
    }

    pub fn actor(&self) -> crate::model::Actor {
        crate::model::Actor::User(self.user.name.clone())
    }

    /// Checks a form's CSRF token and, for changes, the admin role.
    #[allow(clippy::result_large_err)] // the error is the page to answer, as axum handlers return
    pub fn check(&self, csrf: &str, needs_admin: bool) -> Result<(), Response> {
        let ok: bool = subtle::ConstantTimeEq::ct_eq(self.session.csrf.as_bytes(), csrf.as_bytes()).into();
        if !ok {
            return Err(forbidden(
                &self.tr,
                self.tr
                    .t("The form was refused: its security token is missing or stale. Reload the page and try again."),
            ));
        }
        if needs_admin && !self.can_change() {
            return Err(forbidden(&self.tr, self.tr.t("Your role (support) may not change this.")));
        }
        Ok(())
    }
}

pub fn forbidden(tr: &Tr, why: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"{}\"><meta charset=\"utf-8\"><link rel=\"stylesheet\" href=\"/admin/static/admin.css\"><main class=\"narrow\"><h1>403</h1><p id=\"error\">{}</p><p><a href=\"/admin/\">{}</a></p></main></html>",
        tr.lang(),
        askama_escape(why),
        tr.t("Back")
    );
    (StatusCode::FORBIDDEN, Html(body)).into_response()
}

fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let tr = tr(&parts.headers);
        let to_login = || Redirect::to("/admin/login").into_response();
        let Some(token) = cookie(&parts.headers, COOKIE) else { return Err(to_login()) };
        match state.registry.session_get(&token) {
            Ok(Some((session, user))) => Ok(Admin { user, session, token, tr }),
            _ => Err(to_login()),
        }
    }
}

/// The session cookie: HttpOnly, SameSite=Strict, scoped to /admin, Secure under TLS.
pub fn session_cookie(state: &AppState, token: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.registry.settings().http.tls.is_some() { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or(HeaderValue::from_static("nicbox_admin=; Path=/admin"))
}

/// Failed sign-ins per user name and per address: 5 in 15 minutes lock the name or address out
/// for the rest of the 15 minutes.
fn failures() -> &'static Lockout {
    static F: OnceLock<Lockout> = OnceLock::new();
    F.get_or_init(|| Lockout::new(5, Duration::from_secs(15 * 60)))
}

/// Whether sign-in attempts for `user` from `ip` are currently throttled: the seconds until the
/// lock-out ends (at least 1; for `Retry-After`), or None.
pub fn throttled(user: &str, ip: IpAddr) -> Option<u64> {
    failures().retry_after(&[format!("user:{user}"), format!("ip:{ip}")])
}

/// How long a sign-in lock-out lasts at most.
pub fn lockout_window() -> Duration {
    failures().window()
}

pub fn record_failure(user: &str, ip: IpAddr) {
    failures().fail(&[format!("user:{user}"), format!("ip:{ip}")]);
}

pub fn clear_failures(user: &str) {
    failures().clear(&format!("user:{user}"));
}
