//! The admin UI's pages and form actions. Each handler reads through the registry, renders a
//! template, or checks the form (CSRF, role) and calls one registry command.

use askama::Template;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Admin, Tr, forbidden, session_cookie};
use crate::http::AppState;
use crate::http::extract::query_values;
use crate::http::rdap::PeerIp;
use crate::model::{Actor, Domain, GuardOutcome, HistoryEntry, Role, Status, ZoneRun};
use crate::registry::admin::DomainSearch;

/// What every page's layout needs.
pub struct Chrome {
    pub tr: Tr,
    pub user: String,
    pub role: &'static str,
    pub csrf: String,
    pub current: &'static str,
    pub registry: String,
    pub lab: bool,
    pub flash: String,
    pub flash_error: bool,
    /// The disk holding the database is full: changes are refused until it has room.
    pub paused: bool,
}

fn chrome(s: &AppState, a: &Admin, current: &'static str, q: Option<&str>) -> Chrome {
    let flash = query_values(q, "ok").into_iter().next().unwrap_or_default();
    let err = query_values(q, "err").into_iter().next();
    Chrome {
        tr: a.tr,
        user: a.user.name.clone(),
        role: a.user.role.as_str(),
        csrf: a.session.csrf.clone(),
        current,
        registry: s.registry.settings().registry_name.clone(),
        lab: s.registry.clock().kind() != crate::clock::ClockKind::System,
        flash_error: err.is_some(),
        flash: err.unwrap_or(flash),
        paused: s.registry.store().writes_paused(),
    }
}

fn render(t: impl Template) -> Response {
    match t.render() {
        Ok(body) => {
            let mut r = Html(body).into_response();
            r.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            r.headers_mut().insert(
                header::CONTENT_SECURITY_POLICY,
                header::HeaderValue::from_static(
                    "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
                ),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "admin template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Back to a page with a message (`ok`) or an error (`err`).
fn back(to: &str, ok: Result<String, String>) -> Response {
    let (k, v) = match ok {
        Ok(m) => ("ok", m),
        Err(m) => ("err", m),
    };
    let sep = if to.contains('?') { '&' } else { '?' };
    let q = form_urlencoded::Serializer::new(String::new()).append_pair(k, &v).finish();
    Redirect::to(&format!("{to}{sep}{q}")).into_response()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

// ---- sign-in ----

#[derive(Template)]
#[template(path = "admin/login.html")]
struct LoginPage {
    tr: Tr,
    error: String,
    token: String,
    registry: String,
}

/// The sign-in form carries a signed, time-limited token (a CSRF token before any session).
fn login_token() -> String {
    let exp = crate::clock::Clock::wall_now().0 + 3_600;
    format!("{exp}.{}", crate::http::public::sign_text(&format!("login.{exp}")))
}

fn login_token_ok(token: &str) -> bool {
    let Some((exp, sig)) = token.split_once('.') else { return false };
    let Ok(e) = exp.parse::<i64>() else { return false };
    let good: bool =
        subtle::ConstantTimeEq::ct_eq(crate::http::public::sign_text(&format!("login.{e}")).as_bytes(), sig.as_bytes())
            .into();
    good && e >= crate::clock::Clock::wall_now().0
}

pub async fn login_form(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let tr = super::tr(&headers);
    render(LoginPage {
        tr,
        error: String::new(),
        token: login_token(),
        registry: s.registry.settings().registry_name.clone(),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    token: String,
}

pub async fn login(
    State(s): State<AppState>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let tr = super::tr(&headers);
    let page = |status: StatusCode, msg: &str| {
        let mut r = render(LoginPage {
            tr,
            error: msg.to_string(),
            token: login_token(),
            registry: s.registry.settings().registry_name.clone(),
        });
        *r.status_mut() = status;
        r
    };
    if !login_token_ok(&f.token) {
        return page(
            StatusCode::FORBIDDEN,
            tr.t("The form was refused: its security token is missing or stale. Reload the page and try again."),
        );
    }
    let name: String = f.username.trim().chars().take(64).collect();
    if let Some(secs) = super::throttled(&name, ip) {
        let mut r = page(StatusCode::TOO_MANY_REQUESTS, &tr.wait_to_sign_in(secs));
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let (registry, n, p) = (s.registry.clone(), name.clone(), f.password.chars().take(256).collect::<String>());
    let user =
        tokio::task::spawn_blocking(move || registry.user_verify(&n, &p)).await.ok().and_then(|r| r.ok()).flatten();
    let Some(user) = user else {
        super::record_failure(&name, ip);
        let _ = s.registry.audit_action(Actor::System("admin-ui".into()), "failed sign-in", &name).await;
        return page(StatusCode::UNAUTHORIZED, tr.t("Wrong user name or password."));
    };
    super::clear_failures(&name);
    match s.registry.session_open(&user).await {
        Ok((token, _)) => {
            let mut r = Redirect::to("/admin/").into_response();
            r.headers_mut()
                .insert(header::SET_COOKIE, session_cookie(&s, &token, crate::registry::admin::SESSION_HOURS * 3_600));
            r
        }
        Err(e) if e.code == crate::registry::Code::Unavailable => {
            let mut r = page(StatusCode::SERVICE_UNAVAILABLE, tr.t(STORAGE_FULL));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
            r
        }
        Err(e) => page(StatusCode::INTERNAL_SERVER_ERROR, &e.detail),
    }
}

/// What the admin UI says while the disk is full (the banner on every page; the sign-in page,
/// since signing in writes a session).
pub(super) const STORAGE_FULL: &str = "The disk holding the database is full: changes (and new sign-ins) are paused until space is freed. Reads work; writing resumes by itself.";

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(State(s): State<AppState>, a: Admin, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = a.check(&f.csrf, false) {
        return r;
    }
    let _ = s.registry.session_close(&a.token, &a.user.name).await;
    let mut r = Redirect::to("/admin/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, session_cookie(&s, "", 0));
    r
}

pub async fn set_lang(Path(lang): Path<String>, headers: HeaderMap) -> Response {
    let lang = if lang == "en" { "en" } else { "pt" };
    let back_to = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("/admin").map(|i| r[i..].to_string()))
        .filter(|p| !p.contains("/admin/lang/"))
        .unwrap_or_else(|| "/admin/".into());
    let mut r = Redirect::to(&back_to).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&format!(
        "{}={lang}; Path=/; SameSite=Strict; Max-Age=31536000",
        super::LANG_COOKIE
    )) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

// ---- dashboard ----

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    c: Chrome,
    registered: i64,
    today: i64,
    month: i64,
    pending_create: i64,
    pending_update: i64,
    inactive: i64,
    whois_queries: i64,
    suspended: usize,
    rows: Vec<(String, String, i64)>,
    chart: String,
    zp: ZonesPanel,
}

/// Registrations per day as an SVG bar chart (server-rendered, no script).
fn chart(days: &[(String, i64)]) -> String {
    let max = days.iter().map(|d| d.1).max().unwrap_or(0).max(1);
    let (w, h, bar) = (900.0, 160.0, 900.0 / days.len().max(1) as f64);
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"registrations per day\">",
        h + 20.0
    );
    for (i, (day, n)) in days.iter().enumerate() {
        let bh = (*n as f64 / max as f64) * h;
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#1f5f8b\"><title>{day}: {n}</title></rect>",
            i as f64 * bar + 1.0,
            h - bh,
            (bar - 2.0).max(1.0),
            bh
        ));
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        svg.push_str(&format!("<text x=\"0\" y=\"{}\" font-size=\"12\" fill=\"#5e6d7d\">{}</text>", h + 16.0, first.0));
        svg.push_str(&format!(
            "<text x=\"{w}\" y=\"{}\" font-size=\"12\" fill=\"#5e6d7d\" text-anchor=\"end\">{} (max {max})</text>",
            h + 16.0,
            last.0
        ));
    }
    svg.push_str("</svg>");
    svg
}

pub async fn dashboard(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    let r = &s.registry;
    let now = r.now();
    let count =
        |k: &str| r.counters(k).ok().and_then(|v| v.into_iter().find(|(key, _)| key == k)).map(|(_, n)| n).unwrap_or(0);
    let day_counts: std::collections::HashMap<String, i64> = r
        .counters("created.day:")
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k["created.day:".len()..].to_string(), v))
        .collect();
    let days: Vec<(String, i64)> = (0..90)
        .rev()
        .map(|i| {
            let d = now.add_days(-i).day_key();
            let n = day_counts.get(&d).copied().unwrap_or(0);
            (d, n)
        })
        .collect();
    let month_prefix = &now.day_key()[..7];
    let month: i64 = day_counts.iter().filter(|(k, _)| k.starts_with(month_prefix)).map(|(_, v)| v).sum();
    let mut rows = Vec::new();
    for (k, n) in r.counters("domains.zone_status:").unwrap_or_default() {
        if let Some((zone, status)) = k["domains.zone_status:".len()..].rsplit_once(':') {
            rows.push((zone.to_string(), status.to_string(), n));
        }
    }
    let whois_queries: i64 = r.counters("queries.whois:").unwrap_or_default().iter().map(|(_, v)| v).sum();
    let page = DashboardPage {
        c: chrome(&s, &a, "dashboard", q.as_deref()),
        registered: r.stats().map(|x| x.domains).unwrap_or(0),
        today: day_counts.get(&now.day_key()).copied().unwrap_or(0),
        month,
        pending_create: count("domains.status:pendingCreate"),
        pending_update: count("domains.status:pendingUpdate"),
        inactive: count("domains.status:inactive"),
        whois_queries,
        suspended: s.guard.current().len(),
        rows,
        chart: chart(&days),
        zp: zones_panel(&s, a.tr, "dashboard"),
    };
    render(page)
}

// ---- domains ----

#[derive(Template)]
#[template(path = "admin/domains.html")]
struct DomainsPage {
    c: Chrome,
    q: String,
    zone: String,
    status: String,
    registrar: String,
    zones: Vec<String>,
    statuses: Vec<String>,
    registrars: Vec<String>,
    domains: Vec<Domain>,
    next: String,
}

pub async fn domains(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    let qs = q.as_deref();
    let get = |k: &str| query_values(qs, k).into_iter().next().unwrap_or_default();
    let (text, zone, status, registrar, after) = (get("q"), get("zone"), get("status"), get("registrar"), get("after"));
    let search = DomainSearch {
        prefix: text.chars().take(255).collect(),
        zone: (!zone.is_empty()).then(|| zone.clone()),
        status: Status::parse(&status),
        registrar: (!registrar.is_empty()).then(|| registrar.clone()),
        after: (!after.is_empty()).then(|| after.clone()),
    };
    let list = s.registry.domain_search(&search, 50).unwrap_or_default();
    let next =
        if list.len() == 50 { list.last().map(|d| d.unicode_name.clone()).unwrap_or_default() } else { String::new() };
    let zones = s
        .registry
        .policy()
        .tlds
        .iter()
        .flat_map(|t| t.profile.all_zones().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let page = DomainsPage {
        c: chrome(&s, &a, "domains", qs),
        q: text,
        zone,
        status,
        registrar,
        zones,
        statuses: Status::ALL.iter().map(|s| s.as_str().to_string()).collect(),
        registrars: s.registry.registrars().unwrap_or_default().into_iter().map(|r| r.id).collect(),
        domains: list,
        next,
    };
    render(page)
}

pub struct HistoryRow {
    pub at: String,
    pub actor: String,
    pub operation: String,
    pub amount: i64,
    pub changes: String,
}

fn history_rows(s: &AppState, entries: &[HistoryEntry]) -> Vec<HistoryRow> {
    entries
        .iter()
        .rev()
        .map(|e| {
            let v = crate::http::api::views::HistoryView::new(e, s.registry.policy());
            let changes = v
                .changes
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| k.as_str() != "updated")
                        .map(|(k, v)| format!("{k}: {} → {}", v["before"], v["after"]))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            HistoryRow {
                at: e.at.to_rfc3339(),
                actor: e.actor.to_string(),
                operation: e.operation.clone(),
                amount: e.amount_cents,
                changes,
            }
        })
        .collect()
}

#[derive(Template)]
#[template(path = "admin/domain.html")]
struct DomainPage {
    c: Chrome,
    d: Domain,
    statuses: Vec<String>,
    parties: Vec<(String, crate::model::Contact)>,
    history: Vec<HistoryRow>,
    locked: bool,
    held: bool,
    ns: NsCheckView,
}

/// The domain page's nameserver check: the TLD's mode, the last check, the next one due.
pub struct NsCheckView {
    pub mode: &'static str,
    pub explain: &'static str,
    pub check: Option<crate::model::NsCheck>,
    /// Whether the last check was of the domain's current nameservers.
    pub current: bool,
    pub due: String,
    /// Whether this server runs the checker (a `[zone]` section is configured).
    pub checker: bool,
}

fn ns_check_view(s: &AppState, tr: Tr, d: &Domain) -> NsCheckView {
    use crate::policy::DelegationCheck;
    let mode = s.registry.policy().tld(&d.tld).map(|t| t.profile.delegation_check).unwrap_or(DelegationCheck::Off);
    let explain = match mode {
        DelegationCheck::Off => tr.t("not checked: delegated as registered"),
        DelegationCheck::Warn => tr.t("checked and reported: delegated whatever the outcome"),
        DelegationCheck::Require => tr.t("delegated only once its nameservers pass"),
    };
    let check = s.registry.ns_check(&d.name).ok().flatten();
    NsCheckView {
        mode: mode.as_str(),
        explain,
        current: check.as_ref().is_some_and(|c| c.nameservers == d.nameservers),
        check,
        due: s.registry.ns_check_due_of(&d.name).ok().flatten().map(|t| t.to_rfc3339()).unwrap_or_default(),
        checker: s.registry.settings().zone.enabled,
    }
}

pub async fn domain(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery, Path(name): Path<String>) -> Response {
    let Ok(Some(d)) = s.registry.domain_any(&name) else {
        return (StatusCode::NOT_FOUND, forbidden(&a.tr, a.tr.t("Not found."))).into_response();
    };
    let min_ns = s.registry.policy().tld(&d.tld).map(|t| t.profile.nameservers_min_delegated).unwrap_or(2);
    let mut parties = Vec::new();
    let roles = [
        ("Registrant", Some(d.registrant.clone())),
        ("Admin", Some(d.admin.clone())),
        ("Tech", d.tech.clone()),
        ("Billing", d.billing.clone()),
    ];
    for (role, h) in roles {
        if let Some(h) = h
            && let Ok(Some(c)) = s.registry.contact_any(&h)
        {
            parties.push((a.tr.t(role).to_string(), c));
        }
    }
    let entries = s.registry.read_history(&format!("domain:{}", d.name)).unwrap_or_default();
    let page = DomainPage {
        c: chrome(&s, &a, "domains", q.as_deref()),
        statuses: d.effective_statuses(min_ns).iter().map(|x| x.as_str().to_string()).collect(),
        locked: d.has(Status::ServerUpdateProhibited)
            && d.has(Status::ServerDeleteProhibited)
            && d.has(Status::ServerTransferProhibited),
        held: d.has(Status::ServerHold),
        parties,
        history: history_rows(&s, &entries),
        ns: ns_check_view(&s, a.tr, &d),
        d,
    };
    render(page)
}

#[derive(Deserialize)]
pub struct DomainAction {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    note: String,
}

/// The actions of the domain page's forms (`domain_action` runs only these).
pub const DOMAIN_ACTIONS: &[&str] = &[
    "lock",
    "unlock",
    "hold",
    "unhold",
    "delete",
    "restore",
    "accept",
    "refuse",
    "accept_registrant",
    "refuse_registrant",
    "ns_check",
];

pub async fn domain_action(
    State(s): State<AppState>,
    a: Admin,
    Path(name): Path<String>,
    Form(f): Form<DomainAction>,
) -> Response {
    if let Err(r) = a.check(&f.csrf, true) {
        return r;
    }
    let to = format!("/admin/domains/{}", enc(&name));
    if !DOMAIN_ACTIONS.contains(&f.action.as_str()) {
        return back(&to, Err("unknown action".into()));
    }
    let lock = vec![Status::ServerUpdateProhibited, Status::ServerDeleteProhibited, Status::ServerTransferProhibited];
    let r = &s.registry;
    let actor = a.actor();
    let result = match f.action.as_str() {
        "lock" => r.set_server_statuses(&name, lock, vec![], actor.clone()).await.map(|_| ()),
        "unlock" => r.set_server_statuses(&name, vec![], lock, actor.clone()).await.map(|_| ()),
        "hold" => r.set_server_statuses(&name, vec![Status::ServerHold], vec![], actor.clone()).await.map(|_| ()),
        "unhold" => r.set_server_statuses(&name, vec![], vec![Status::ServerHold], actor.clone()).await.map(|_| ()),
        "delete" => r.registry_delete(&name, actor.clone()).await.map(|_| ()),
        "restore" => r.registry_restore(&name, actor.clone()).await.map(|_| ()),
        "accept" => r.decide_registration(&name, true, &f.note, actor.clone()).await.map(|_| ()),
        "refuse" => r.decide_registration(&name, false, &f.note, actor.clone()).await.map(|_| ()),
        "accept_registrant" => r.decide_registrant_change(&name, true, &f.note, actor.clone()).await.map(|_| ()),
        "refuse_registrant" => r.decide_registrant_change(&name, false, &f.note, actor.clone()).await.map(|_| ()),
        "ns_check" => r.ns_check_now(&name).await,
        _ => return back(&to, Err("unknown action".into())),
    };
    match result {
        Ok(()) => {
            let _ = r.audit_action(actor, &format!("domain {}", f.action), &name).await;
            let to = if f.action == "refuse" { "/admin/queues".to_string() } else { to };
            let done = if f.action == "ns_check" {
                a.tr.t("Nameserver check queued: it runs after the checks already due; reload the page to see it.")
            } else {
                a.tr.t("Done.")
            };
            back(&to, Ok(done.to_string()))
        }
        Err(e) => back(&to, Err(e.detail)),
    }
}

// ---- registrars ----

#[derive(Template)]
#[template(path = "admin/registrars.html")]
struct RegistrarsPage {
    c: Chrome,
    registrars: Vec<(crate::model::Registrar, i64)>,
    new_key: String,
}

pub async fn registrars(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    let list = s.registry.registrars().unwrap_or_default();
    let counts: std::collections::HashMap<String, i64> = s
        .registry
        .counters("domains.registrar:")
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k["domains.registrar:".len()..].to_string(), v))
        .collect();
    let rows = list
        .into_iter()
        .map(|r| {
            let n = counts.get(&r.id).copied().unwrap_or(0);
            (r, n)
        })
        .collect();
    render(RegistrarsPage { c: chrome(&s, &a, "registrars", q.as_deref()), registrars: rows, new_key: String::new() })
}

#[derive(Deserialize)]
pub struct NewRegistrarForm {
    #[serde(default)]
    csrf: String,
    id: String,
    name: String,
    #[serde(default)]
    email: String,
}

pub async fn registrar_create(State(s): State<AppState>, a: Admin, Form(f): Form<NewRegistrarForm>) -> Response {
    if let Err(r) = a.check(&f.csrf, true) {
        return r;
    }
    let new =
        crate::registry::NewRegistrar { id: f.id.trim().to_string(), name: f.name, email: f.email, balance_cents: 0 };
    match s.registry.registrar_add(new, a.actor()).await {
        Ok((reg, key)) => {
            let _ = s.registry.audit_action(a.actor(), "created registrar", &reg.id).await;
            let list = s.registry.registrars().unwrap_or_default().into_iter().map(|r| (r, 0)).collect();
            render(RegistrarsPage { c: chrome(&s, &a, "registrars", None), registrars: list, new_key: key.0 })
        }
        Err(e) => back("/admin/registrars", Err(e.detail)),
    }
}

#[derive(Template)]
#[template(path = "admin/registrar.html")]
struct RegistrarPage {
    c: Chrome,
    r: crate::model::Registrar,
    prices: Vec<(String, crate::model::Prices)>,
    ledger: Vec<crate::model::LedgerEntry>,
    new_key: String,
    epp: EppView,
    /// A new EPP password, shown once after it was set.
    new_epp_password: String,
}

/// A registrar's EPP access as the registrar page shows it: never the password, only whether one
/// is set; the pinned certificates; the live sessions of this process.
struct EppView {
    password_set: bool,
    pins: Vec<String>,
    sessions: Vec<EppSessionRow>,
}

struct EppSessionRow {
    peer: String,
    since: String,
    commands: u64,
    certificate: String,
}

fn epp_view(s: &AppState, id: &str) -> EppView {
    use crate::epp::certs::fingerprint_hex;
    let access = s.registry.epp_access(id).ok().flatten();
    let sessions = crate::epp::server::book()
        .sessions(Some(id))
        .into_iter()
        .map(|i| EppSessionRow {
            peer: i.peer.to_string(),
            since: i.since.to_rfc3339(),
            commands: i.commands,
            certificate: fingerprint_hex(&i.fingerprint),
        })
        .collect();
    EppView {
        password_set: access.as_ref().is_some_and(|a| a.password_digest.is_some()),
        pins: access.map(|a| a.fingerprints.iter().map(fingerprint_hex).collect()).unwrap_or_default(),
        sessions,
    }
}

fn registrar_page(
    s: &AppState,
    a: &Admin,
    r: crate::model::Registrar,
    q: Option<&str>,
    new_key: String,
    new_epp_password: String,
) -> Response {
    let mut ledger = s.registry.ledger(&r.id, 10_000).unwrap_or_default();
    ledger.reverse();
    ledger.truncate(100);
    let prices = s.registry.registrar_prices(&r);
    let epp = epp_view(s, &r.id);
    render(RegistrarPage { c: chrome(s, a, "registrars", q), r, prices, ledger, new_key, epp, new_epp_password })
}

pub async fn registrar(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery, Path(id): Path<String>) -> Response {
    let Ok(r) = s.registry.registrar_get(&id) else {
        return (StatusCode::NOT_FOUND, forbidden(&a.tr, a.tr.t("Not found."))).into_response();
    };
    registrar_page(&s, &a, r, q.as_deref(), String::new(), String::new())
}

#[derive(Deserialize)]
pub struct RegistrarActionForm {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    amount_cents: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    tld: String,
    #[serde(default)]
    create: String,
    #[serde(default)]
    create_premium: String,
    #[serde(default)]
    renew: String,
    #[serde(default)]
    transfer: String,
    #[serde(default)]
    restore: String,
    /// A certificate's SHA-256 fingerprint (or its PEM text) to pin or unpin.
    #[serde(default)]
    fingerprint: String,
}

/// A fingerprint from the form: hex (with or without colons) or a pasted PEM certificate.
fn form_fingerprint(text: &str) -> Result<[u8; 32], String> {
    if text.contains("-----BEGIN") {
        crate::epp::certs::fingerprint_pem(text)
    } else {
        crate::epp::certs::parse_fingerprint(text)
    }
}

/// The actions of the registrar page's forms (`registrar_action` runs only these).
pub const REGISTRAR_ACTIONS: &[&str] = &["credit", "edit", "prices", "rotate", "epp_password", "epp_pin", "epp_unpin"];

pub async fn registrar_action(
    State(s): State<AppState>,
    a: Admin,
    Path(id): Path<String>,
    Form(f): Form<RegistrarActionForm>,
) -> Response {
    if let Err(r) = a.check(&f.csrf, true) {
        return r;
    }
    let to = format!("/admin/registrars/{}", enc(&id));
    if !REGISTRAR_ACTIONS.contains(&f.action.as_str()) {
        return back(&to, Err("unknown action".into()));
    }
    let r = &s.registry;
    let result: Result<String, String> = match f.action.as_str() {
        "credit" => match f.amount_cents.trim().parse::<i64>() {
            Ok(n) => r
                .registrar_credit(&id, n, &f.reason, a.actor())
                .await
                .map(|x| format!("{} {}", a.tr.t("Balance"), x.balance_cents))
                .map_err(|e| e.detail),
            Err(_) => Err("amount: whole cents".into()),
        },
        "edit" => r
            .registrar_edit(&id, &f.name, &f.email, f.enabled.is_some(), a.actor())
            .await
            .map(|_| a.tr.t("Done.").into())
            .map_err(|e| e.detail),
        "prices" => {
            let p = |v: &str| v.trim().parse::<i64>().map_err(|_| format!("`{v}` is not whole cents"));
            match (p(&f.create), p(&f.create_premium), p(&f.renew), p(&f.transfer), p(&f.restore)) {
                (Ok(create), Ok(create_premium), Ok(renew), Ok(transfer), Ok(restore)) => r
                    .registrar_set_prices(
                        &id,
                        &f.tld,
                        crate::model::Prices { create, create_premium, renew, transfer, restore },
                        a.actor(),
                    )
                    .await
                    .map(|_| a.tr.t("Done.").into())
                    .map_err(|e| e.detail),
                (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), ..) | (_, _, _, Err(e), _) | (.., Err(e)) => Err(e),
            }
        }
        "rotate" => match r.registrar_rotate_key(&id, a.actor()).await {
            Ok(key) => {
                let _ = r.audit_action(a.actor(), "rotated API key of registrar", &id).await;
                let Ok(reg) = r.registrar_get(&id) else { return back(&to, Err("gone".into())) };
                return registrar_page(&s, &a, reg, None, key.0, String::new());
            }
            Err(e) => Err(e.detail),
        },
        "epp_password" => match r.epp_set_password(&id, None, a.actor()).await {
            Ok(pw) => {
                let _ = r.audit_action(a.actor(), "set a new EPP password of registrar", &id).await;
                let Ok(reg) = r.registrar_get(&id) else { return back(&to, Err("gone".into())) };
                return registrar_page(&s, &a, reg, None, String::new(), pw);
            }
            Err(e) => Err(e.detail),
        },
        "epp_pin" | "epp_unpin" => match form_fingerprint(&f.fingerprint) {
            Ok(fp) => {
                let done = if f.action == "epp_pin" {
                    r.epp_pin(&id, fp, a.actor()).await
                } else {
                    r.epp_unpin(&id, fp, a.actor()).await
                };
                done.map(|_| a.tr.t("Done.").into()).map_err(|e| e.detail)
            }
            Err(e) => Err(e),
        },
        _ => Err("unknown action".into()),
    };
    if result.is_ok() && f.action != "edit" {
        let _ = r.audit_action(a.actor(), &format!("registrar {}", f.action), &id).await;
    }
    back(&to, result)
}

// ---- queues ----

#[derive(Template)]
#[template(path = "admin/queues.html")]
struct QueuesPage {
    c: Chrome,
    creates: Vec<Domain>,
    changes: Vec<Domain>,
    undelegated: Vec<Domain>,
    /// All registered domains with fewer nameservers than delegation needs (a counter).
    undelegated_total: i64,
}

pub async fn queues(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    let r = &s.registry;
    let undelegated = r
        .domain_search(&DomainSearch { status: Some(Status::Inactive), ..Default::default() }, 50)
        .unwrap_or_default()
        .into_iter()
        .filter(|d| !d.has(Status::PendingDelete))
        .collect();
    render(QueuesPage {
        c: chrome(&s, &a, "queues", q.as_deref()),
        creates: r.domains_with_status(Status::PendingCreate, None, 200).unwrap_or_default(),
        changes: r.domains_with_status(Status::PendingUpdate, None, 200).unwrap_or_default(),
        undelegated,
        undelegated_total: r
            .counters("domains.status:inactive")
            .ok()
            .and_then(|v| v.into_iter().find(|(k, _)| k == "domains.status:inactive"))
            .map(|(_, n)| n)
            .unwrap_or(0),
    })
}

// ---- directory: suspensions, query log, disclosure requests ----

#[derive(Template)]
#[template(path = "admin/directory.html")]
struct DirectoryPage {
    c: Chrome,
    suspensions: Vec<crate::model::Suspension>,
    origin: String,
    hours: i64,
    log: Vec<crate::model::QueryLogEntry>,
    disclosures: Vec<crate::model::DisclosureRequest>,
}

pub async fn directory(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    let origin = query_values(q.as_deref(), "origin").into_iter().next().unwrap_or_default();
    // The window: the last `hours` hours (1 to 90 days; a day by default).
    let hours =
        query_values(q.as_deref(), "hours").first().and_then(|h| h.parse::<i64>().ok()).unwrap_or(24).clamp(1, 24 * 90);
    let from = s.registry.now().add_secs(-hours * 3_600);
    let origin_key = crate::abuse::Origin::parse(&origin).map(|o| o.to_string());
    let log = s.registry.query_log(origin_key.as_deref(), from, 200, true).unwrap_or_default();
    render(DirectoryPage {
        c: chrome(&s, &a, "directory", q.as_deref()),
        suspensions: s.guard.current(),
        origin,
        hours,
        log,
        disclosures: s.registry.disclosures(100).unwrap_or_default(),
    })
}

#[derive(Deserialize)]
pub struct LiftForm {
    #[serde(default)]
    csrf: String,
    origin: String,
}

/// Lifting a suspension: support may too.
pub async fn lift(State(s): State<AppState>, a: Admin, Form(f): Form<LiftForm>) -> Response {
    if let Err(r) = a.check(&f.csrf, false) {
        return r;
    }
    match s.guard.lift(&f.origin, a.actor()).await {
        Ok(_) => {
            let _ = s.registry.audit_action(a.actor(), "lifted WHOIS suspension", &f.origin).await;
            back("/admin/directory", Ok(a.tr.t("Done.").into()))
        }
        Err(e) => back("/admin/directory", Err(e.detail)),
    }
}

#[derive(Deserialize)]
pub struct DisclosureForm {
    #[serde(default)]
    csrf: String,
    domain: String,
    requester: String,
    legal_basis: String,
    case_reference: String,
}

pub async fn disclosure_create(State(s): State<AppState>, a: Admin, Form(f): Form<DisclosureForm>) -> Response {
    if let Err(r) = a.check(&f.csrf, true) {
        return r;
    }
    match s.registry.disclosure_create(&f.domain, &f.requester, &f.legal_basis, &f.case_reference, a.actor()).await {
        Ok(d) => Redirect::to(&format!("/admin/directory/disclosures/{}", d.id)).into_response(),
        Err(e) => back("/admin/directory", Err(e.detail)),
    }
}

#[derive(Template)]
#[template(path = "admin/disclosure.html")]
struct DisclosurePage {
    c: Chrome,
    d: crate::model::DisclosureRequest,
    state: &'static str,
}

pub async fn disclosure(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery, Path(id): Path<u64>) -> Response {
    let Ok(Some(d)) = s.registry.disclosure(id) else {
        return (StatusCode::NOT_FOUND, forbidden(&a.tr, a.tr.t("Not found."))).into_response();
    };
    let state = match d.state {
        crate::model::DisclosureState::Pending => "Pending",
        crate::model::DisclosureState::Granted => "Granted",
        crate::model::DisclosureState::Refused => "Refused",
    };
    if d.disclosed.is_some() {
        // Every view of disclosed data is audited.
        let _ = s.registry.audit_action(a.actor(), "viewed disclosed record", &format!("#{id} {}", d.domain)).await;
    }
    render(DisclosurePage { c: chrome(&s, &a, "directory", q.as_deref()), d, state })
}

#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    decision: String,
    #[serde(default)]
    note: String,
}

pub async fn disclosure_decide(
    State(s): State<AppState>,
    a: Admin,
    Path(id): Path<u64>,
    Form(f): Form<DecideForm>,
) -> Response {
    if let Err(r) = a.check(&f.csrf, true) {
        return r;
    }
    let to = format!("/admin/directory/disclosures/{id}");
    match s.registry.disclosure_decide(id, f.decision == "grant", &f.note, a.actor()).await {
        Ok(_) => back(&to, Ok(a.tr.t("Done.").into())),
        Err(e) => back(&to, Err(e.detail)),
    }
}

// ---- zones: publication and its guard ----

/// One publication attempt, ready to show.
pub struct RunView {
    pub at: String,
    pub outcome: &'static str,
    pub label: &'static str,
    /// `published`, `unchanged`, `refused` or `failed`: the style of the row.
    pub class: &'static str,
    pub serial: u32,
    pub delegations: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unexplained: u64,
    pub sample_added: String,
    pub sample_removed: String,
    pub sample_changed: String,
    pub sample_unexplained: String,
    pub note: String,
    pub after_publish: Vec<(String, bool)>,
    pub file: String,
    pub millis: u64,
}

fn outcome_label(tr: Tr, o: GuardOutcome) -> &'static str {
    match o {
        GuardOutcome::Published => tr.t("published"),
        GuardOutcome::Unchanged => tr.t("unchanged: nothing to publish"),
        GuardOutcome::RefusedUnexplained => {
            tr.t("REFUSED: differences the journal does not explain; the previous zone stays published")
        }
        GuardOutcome::RefusedRemovals => tr.t("REFUSED: too many removals; the previous zone stays published"),
        GuardOutcome::Forced => tr.t("published anyway (forced by an admin)"),
        GuardOutcome::Failed => tr.t("FAILED: the previous zone stays published"),
    }
}

fn run_view(tr: Tr, r: &ZoneRun) -> RunView {
    let class = match r.outcome {
        GuardOutcome::Published | GuardOutcome::Forced => "published",
        GuardOutcome::Unchanged => "unchanged",
        GuardOutcome::RefusedUnexplained | GuardOutcome::RefusedRemovals => "refused",
        GuardOutcome::Failed => "failed",
    };
    RunView {
        at: r.at.to_rfc3339(),
        outcome: r.outcome.as_str(),
        label: outcome_label(tr, r.outcome),
        class,
        serial: r.serial,
        delegations: r.delegations,
        added: r.added,
        removed: r.removed,
        changed: r.changed,
        unexplained: r.unexplained,
        sample_added: r.sample_added.join(", "),
        sample_removed: r.sample_removed.join(", "),
        sample_changed: r.sample_changed.join(", "),
        sample_unexplained: r.sample_unexplained.join(", "),
        note: r.note.clone(),
        after_publish: r.after_publish.iter().map(|l| (l.clone(), !l.contains("failed"))).collect(),
        file: r.file.clone(),
        millis: r.millis,
    }
}

/// One zone's state: its last publication, and its last attempt when that is another one (a
/// refusal or a failure since).
pub struct ZoneState {
    pub zone: String,
    pub published: Option<RunView>,
    pub attempt: Option<RunView>,
}

/// The zones panel of the dashboard and the zones page.
pub struct ZonesPanel {
    pub zones: Vec<ZoneState>,
    /// Whether some zone's last attempt was refused by the guard: "publish anyway" is offered.
    pub any_refused: bool,
    /// The page the panel's forms lead back to: `dashboard` or `zones`.
    pub back: &'static str,
    /// The hidden primary's secondaries, per zone (empty without `[dns]`).
    pub secondaries: Vec<SecondaryView>,
}

/// One secondary and zone on the zones panel.
pub struct SecondaryView {
    pub name: String,
    pub address: String,
    pub zone: String,
    pub published: String,
    pub serial: String,
    pub last_query: String,
    pub transferred: String,
    pub notified: String,
    pub state: &'static str,
    pub label: String,
}

fn unix_time(t: i64) -> String {
    crate::model::Timestamp(t).to_rfc3339()
}

fn secondaries_view(s: &AppState, tr: Tr) -> Vec<SecondaryView> {
    let reg = &s.registry;
    let published =
        |z: &str| -> Option<(u32, i64)> { reg.zone_state(z).ok().and_then(|(p, _)| p).map(|p| (p.serial, p.at.0)) };
    let now = reg.now().0;
    crate::dns::book::rows(reg.settings(), &published, now)
        .into_iter()
        .map(|r| SecondaryView {
            label: tr
                .t(match r.state {
                    "in sync" => "in sync",
                    "behind" => "BEHIND",
                    "catching up" => "catching up",
                    _ => "not seen since nicbox started",
                })
                .to_string(),
            name: r.secondary,
            address: r.address,
            zone: r.zone,
            published: r.published.map(|x| x.to_string()).unwrap_or_else(|| "—".into()),
            serial: r.seen.serial.map(|x| x.to_string()).unwrap_or_else(|| "—".into()),
            last_query: r.seen.last_query.map(|(k, t)| format!("{k} {}", unix_time(t))).unwrap_or_else(|| "—".into()),
            transferred: r
                .seen
                .transferred
                .map(|(serial, k, t)| format!("{serial} ({k}) {}", unix_time(t)))
                .unwrap_or_else(|| "—".into()),
            notified: r
                .seen
                .notified
                .map(|(serial, o, t)| format!("{serial}: {o} {}", unix_time(t)))
                .unwrap_or_else(|| "—".into()),
            state: r.state,
        })
        .collect()
}

fn zones_panel(s: &AppState, tr: Tr, back: &'static str) -> ZonesPanel {
    let mut any_refused = false;
    let zones = crate::zone::publish::zones_of(s.registry.settings())
        .into_iter()
        .map(|(zone, _, _)| {
            let (published, attempt) = s.registry.zone_state(&zone).unwrap_or_default();
            let attempt = attempt.filter(|x| published.as_ref() != Some(x));
            any_refused |= attempt.as_ref().is_some_and(|x| x.outcome.is_refusal());
            ZoneState {
                zone,
                published: published.as_ref().map(|r| run_view(tr, r)),
                attempt: attempt.as_ref().map(|r| run_view(tr, r)),
            }
        })
        .collect();
    ZonesPanel { zones, any_refused, back, secondaries: secondaries_view(s, tr) }
}

#[derive(Template)]
#[template(path = "admin/zones.html")]
struct ZonesPage {
    c: Chrome,
    zp: ZonesPanel,
    history: Vec<(String, Vec<RunView>)>,
}

/// How many publication attempts the zones page lists per zone.
const ZONE_RUNS_SHOWN: usize = 50;

pub async fn zones(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    let history = crate::zone::publish::zones_of(s.registry.settings())
        .into_iter()
        .map(|(zone, _, _)| {
            let runs = s.registry.zone_runs(&zone, ZONE_RUNS_SHOWN).unwrap_or_default();
            (zone, runs.iter().map(|r| run_view(a.tr, r)).collect())
        })
        .collect();
    render(ZonesPage { c: chrome(&s, &a, "zones", q.as_deref()), zp: zones_panel(&s, a.tr, "zones"), history })
}

#[derive(Deserialize)]
pub struct PublishForm {
    #[serde(default)]
    csrf: String,
    /// Present (any value): publish over the guard's refusal, with `reason`.
    #[serde(default)]
    force: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    back: String,
}

/// The longest reason accepted for publishing over a refusal, in characters.
const FORCE_REASON_MAX: usize = 500;

/// One line of the notice after publishing: the zone and how it went.
fn run_summary(tr: Tr, r: &ZoneRun) -> String {
    let mut line = format!(
        "{}: {} — {} {}, {} {} (+{} −{} ~{})",
        r.zone,
        outcome_label(tr, r.outcome),
        tr.t("serial"),
        r.serial,
        r.delegations,
        tr.t("delegations"),
        r.added,
        r.removed,
        r.changed
    );
    if r.outcome.is_refusal() {
        line.push_str(&format!(", {} {}", r.unexplained, tr.t("unexplained")));
    }
    if !r.note.is_empty() {
        line.push_str(&format!("; {}", r.note.chars().take(200).collect::<String>()));
    }
    for l in &r.after_publish {
        line.push_str(&format!("; {}", l.chars().take(200).collect::<String>()));
    }
    line
}

/// Publishes the zones now (admin role), or, with `force` and a reason, over the guard's
/// refusal; back to the page with each zone's outcome.
pub async fn zones_publish(State(s): State<AppState>, a: Admin, Form(f): Form<PublishForm>) -> Response {
    if let Err(r) = a.check(&f.csrf, true) {
        return r;
    }
    let to = if f.back == "zones" { "/admin/zones" } else { "/admin/" };
    let reason = f.reason.trim().to_string();
    let force = if f.force.is_empty() {
        None
    } else if reason.is_empty() || reason.chars().count() > FORCE_REASON_MAX {
        return back(to, Err(a.tr.t("Publishing anyway needs a reason (1 to 500 characters).").into()));
    } else {
        Some((a.actor(), reason.clone()))
    };
    let forced = force.is_some();
    match crate::zone::publish(&s.registry, None, force).await {
        Ok(runs) => {
            let mut subject = runs
                .iter()
                .map(|r| format!("{} {} {}", r.zone, r.outcome.as_str(), r.serial))
                .collect::<Vec<_>>()
                .join(", ");
            if forced {
                subject.push_str(&format!("; reason: {reason}"));
            }
            let op = if forced { "published zones anyway" } else { "published zones" };
            let _ = s.registry.audit_action(a.actor(), op, &subject).await;
            let text = runs.iter().map(|r| run_summary(a.tr, r)).collect::<Vec<_>>().join("\n");
            let text = if text.is_empty() { a.tr.t("No zone is configured.").to_string() } else { text };
            let bad = runs.iter().any(|r| r.outcome.is_refusal() || r.outcome == GuardOutcome::Failed);
            back(to, if bad { Err(text) } else { Ok(text) })
        }
        Err(e) => {
            let _ = s.registry.audit_action(a.actor(), "zone publication failed", &e.to_string()).await;
            back(to, Err(e.to_string()))
        }
    }
}

// ---- users, audit, clock ----

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    c: Chrome,
    users: Vec<crate::model::User>,
    new_password: String,
}

pub async fn users(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    if !a.can_change() {
        return forbidden(&a.tr, a.tr.t("Your role (support) may not change this."));
    }
    render(UsersPage {
        c: chrome(&s, &a, "users", q.as_deref()),
        users: s.registry.users().unwrap_or_default(),
        new_password: String::new(),
    })
}

#[derive(Deserialize)]
pub struct UserForm {
    #[serde(default)]
    csrf: String,
    action: String,
    name: String,
    #[serde(default)]
    role: String,
}

/// The actions of the users page's forms (`user_action` runs only these).
pub const USER_ACTIONS: &[&str] = &["create", "disable", "enable"];

pub async fn user_action(State(s): State<AppState>, a: Admin, Form(f): Form<UserForm>) -> Response {
    if let Err(r) = a.check(&f.csrf, true) {
        return r;
    }
    if !USER_ACTIONS.contains(&f.action.as_str()) {
        return back("/admin/users", Err("unknown action".into()));
    }
    let r = &s.registry;
    match f.action.as_str() {
        "create" => {
            let role = if f.role == "admin" { Role::Admin } else { Role::Support };
            match r.user_add(f.name.trim(), role, a.actor()).await {
                Ok((u, password)) => {
                    let _ = r.audit_action(a.actor(), "created user", &u.name).await;
                    render(UsersPage {
                        c: chrome(&s, &a, "users", None),
                        users: r.users().unwrap_or_default(),
                        new_password: password,
                    })
                }
                Err(e) => back("/admin/users", Err(e.detail)),
            }
        }
        "disable" | "enable" => {
            if f.name == a.user.name {
                return back("/admin/users", Err("you cannot disable yourself".into()));
            }
            match r.user_set_enabled(&f.name, f.action == "enable", a.actor()).await {
                Ok(_) => back("/admin/users", Ok(a.tr.t("Done.").into())),
                Err(e) => back("/admin/users", Err(e.detail)),
            }
        }
        _ => back("/admin/users", Err("unknown action".into())),
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    c: Chrome,
    entries: Vec<HistoryEntry>,
    next: String,
}

pub async fn audit(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    let before = query_values(q.as_deref(), "before").into_iter().next().and_then(|b| b.parse().ok());
    let entries = s.registry.audit_log(before, 100).unwrap_or_default();
    let next = if entries.len() == 100 {
        entries.last().map(|e| e.seq.to_string()).unwrap_or_default()
    } else {
        String::new()
    };
    render(AuditPage { c: chrome(&s, &a, "audit", q.as_deref()), entries, next })
}

#[derive(Template)]
#[template(path = "admin/clock.html")]
struct ClockPage {
    c: Chrome,
    now: String,
    offset_days: i64,
}

pub async fn clock(State(s): State<AppState>, a: Admin, RawQuery(q): RawQuery) -> Response {
    let c = s.registry.clock();
    render(ClockPage {
        c: chrome(&s, &a, "clock", q.as_deref()),
        now: s.registry.now().to_rfc3339(),
        offset_days: c.offset_secs() / 86_400,
    })
}

#[derive(Deserialize)]
pub struct AdvanceForm {
    #[serde(default)]
    csrf: String,
    days: String,
}

pub async fn clock_advance(State(s): State<AppState>, a: Admin, Form(f): Form<AdvanceForm>) -> Response {
    if let Err(r) = a.check(&f.csrf, true) {
        return r;
    }
    let Ok(days) = f.days.trim().parse::<i64>() else {
        return back("/admin/clock", Err("days: a whole number".into()));
    };
    match s.registry.advance_clock(days, a.actor()).await {
        Ok(_) => {
            let report = s.registry.run_lifecycle().await;
            let _ = s.registry.audit_action(a.actor(), "moved the lab clock", &format!("{days} days")).await;
            back(
                "/admin/clock",
                Ok(format!(
                    "{} {:?}",
                    a.tr.t("Done."),
                    report.map(|r| (r.auto_renewed, r.expired, r.purged)).unwrap_or_default()
                )),
            )
        }
        Err(e) => back("/admin/clock", Err(e.detail)),
    }
}
