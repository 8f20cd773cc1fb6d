//! HTTP: one router for the registrar API, health and metrics (later RDAP, public pages and the
//! admin UI), with limits as tower layers. Handlers translate HTTP into registry calls and back.

pub mod admin;
pub mod admin_api;
pub mod api;
pub mod error;
pub mod extract;
pub mod lockout;
pub mod public;
pub mod rdap;
pub mod routes;
pub mod tls;

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::limits::{HTTP_CONCURRENCY_MAX, HTTP_REQUEST_TIMEOUT_MS};
use crate::registry::{Code, Registry};
use error::ApiError;
use routes::{Route, Routes, get};

/// Requests per key (a registrar id) under a rate limit.
pub type KeyedLimiter = governor::DefaultKeyedRateLimiter<String>;

/// What every handler shares, behind one `Arc`: axum clones the state for each request, and one
/// reference count is cheaper to move between threads than one per field.
#[derive(Clone)]
pub struct AppState(std::sync::Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub registry: Registry,
    /// The registrar API's limit, per registrar.
    pub api_limiter: std::sync::Arc<KeyedLimiter>,
    /// The public directory's abuse guard, shared with WHOIS.
    pub guard: std::sync::Arc<crate::abuse::Guard>,
    /// The contact form's SMTP relay, when one is configured.
    pub mailer: public::SharedMailer,
    /// RDAP's notices (terms of use), built once.
    pub rdap_notices: std::sync::Arc<rdap::Notices>,
}

/// A limiter of `per_second` with `burst` per key.
pub fn keyed_limiter(per_second: u32, burst: u32) -> KeyedLimiter {
    let per_second = std::num::NonZeroU32::new(per_second).unwrap_or(std::num::NonZeroU32::MIN);
    let burst = std::num::NonZeroU32::new(burst).unwrap_or(std::num::NonZeroU32::MIN);
    governor::RateLimiter::keyed(governor::Quota::per_second(per_second).allow_burst(burst))
}

/// The application state alone (benchmarks of handlers' pieces).
pub fn test_state(registry: Registry) -> AppState {
    let guard = crate::abuse::Guard::start(registry.clone()).expect("the abuse guard needs the database");
    let http = &registry.settings().http;
    let api_limiter = std::sync::Arc::new(keyed_limiter(http.api_rate_per_second, http.api_burst));
    let rdap_notices = std::sync::Arc::new(rdap::Notices::new(registry.settings()));
    AppState(std::sync::Arc::new(Shared { registry, api_limiter, guard, mailer: None, rdap_notices }))
}

/// The whole HTTP application with a guard of its own (tests; `serve` shares one with WHOIS).
pub fn app(registry: Registry) -> Router {
    // Reading the stored suspensions fails only with a broken database, which a test must see.
    let guard = crate::abuse::Guard::start(registry.clone()).expect("the abuse guard needs the database");
    app_with(registry, guard)
}

/// The whole HTTP application, built once and testable in memory.
pub fn app_with(registry: Registry, guard: std::sync::Arc<crate::abuse::Guard>) -> Router {
    let http = &registry.settings().http;
    let api_limiter = std::sync::Arc::new(keyed_limiter(http.api_rate_per_second, http.api_burst));
    let mailer = match &registry.settings().smtp {
        Some(m) => match crate::mail::Mailer::new(m) {
            Ok(mailer) => Some(std::sync::Arc::new(mailer)),
            Err(e) => {
                tracing::error!(error = %e, "the SMTP relay is misconfigured; the contact form is off");
                None
            }
        },
        None => None,
    };
    let rdap_notices = std::sync::Arc::new(rdap::Notices::new(registry.settings()));
    let state = AppState(std::sync::Arc::new(Shared { registry, api_limiter, guard, mailer, rdap_notices }));
    routes()
        .into_router()
        .fallback(not_found)
        .with_state(state)
        .layer(GlobalConcurrencyLimitLayer::new(HTTP_CONCURRENCY_MAX))
        .layer(axum::extract::DefaultBodyLimit::max(crate::limits::API_BODY_BYTES_MAX))
        .layer(axum::middleware::map_response(security_headers))
}

/// Every route of the application with its handler: the one place the routers are put together.
fn routes() -> Routes {
    Routes::new()
        .nest("/api/v1", api::router())
        .nest("/admin/api", admin_api::router())
        .nest("/admin", admin::router())
        .route("/admin/", get(admin::dashboard))
        .merge(public::router())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .map_router(|r| {
            r.layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                Duration::from_millis(HTTP_REQUEST_TIMEOUT_MS),
            ))
        })
        // RDAP's handlers never wait (a lookup is a read of a snapshot in memory or the page
        // cache), so a timeout could not interrupt them: they are merged after the timeout layer
        // and skip its timer, which is a measurable share of a lookup's cost.
        .merge(rdap::router())
}

/// Every (method, path pattern) the application serves, recorded by the code that builds its
/// router (`routes()`, which `app_with` serves): the authorization matrix test's source.
pub fn route_table() -> Vec<Route> {
    routes().table().to_vec()
}

/// On every answer: no content sniffing, no full URL (with a name or a query) in the Referer of
/// links followed elsewhere; an HTML page without a policy of its own gets the strict one (no
/// inline script, never framed).
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    let is_html = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        h.entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; form-action 'self'"));
    }
    resp
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(Code::NotFound, format!("no such resource: {}", uri.path()))
}

async fn healthz(axum::extract::State(s): axum::extract::State<AppState>) -> Response {
    match s.registry.stats() {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Prometheus text format, from counters (never a scan).
async fn metrics(axum::extract::State(s): axum::extract::State<AppState>) -> Result<Response, ApiError> {
    let mut out = String::new();
    out.push_str("# HELP nicbox_domains Domains stored, by zone and status.\n# TYPE nicbox_domains gauge\n");
    for (k, v) in s.registry.counters("domains.zone_status:")? {
        let rest = &k["domains.zone_status:".len()..];
        if let Some((zone, status)) = rest.rsplit_once(':') {
            out.push_str(&format!("nicbox_domains{{zone=\"{zone}\",status=\"{status}\"}} {v}\n"));
        }
    }
    out.push_str("# HELP nicbox_domains_registered Domains published in the directory.\n# TYPE nicbox_domains_registered gauge\n");
    let stats = s.registry.stats()?;
    out.push_str(&format!("nicbox_domains_registered {}\n", stats.domains));
    out.push_str("# HELP nicbox_directory_queries_total Directory queries by protocol and outcome.\n# TYPE nicbox_directory_queries_total counter\n");
    for (k, v) in s.registry.counters("queries.")? {
        if let Some((protocol, outcome)) = k["queries.".len()..].split_once(':') {
            out.push_str(&format!(
                "nicbox_directory_queries_total{{protocol=\"{protocol}\",outcome=\"{outcome}\"}} {v}\n"
            ));
        }
    }
    out.push_str("# HELP nicbox_directory_suspended_origins Origins suspended now.\n# TYPE nicbox_directory_suspended_origins gauge\n");
    out.push_str(&format!("nicbox_directory_suspended_origins {}\n", s.guard.current().len()));
    out.push_str("# HELP nicbox_directory_log_dropped_total Query-log entries dropped because the log could not keep up.\n# TYPE nicbox_directory_log_dropped_total counter\n");
    out.push_str(&format!("nicbox_directory_log_dropped_total {}\n", s.guard.log_dropped()));
    out.push_str("# HELP nicbox_zone_publications_total Zone publications since start.\n# TYPE nicbox_zone_publications_total counter\n");
    out.push_str(&format!(
        "nicbox_zone_publications_total {}\n",
        crate::zone::PUBLICATIONS.load(std::sync::atomic::Ordering::Relaxed)
    ));
    out.push_str("# HELP nicbox_zone_refusals_total Zone publications refused by the guard since start.\n# TYPE nicbox_zone_refusals_total counter\n");
    out.push_str(&format!(
        "nicbox_zone_refusals_total {}\n",
        crate::zone::REFUSALS.load(std::sync::atomic::Ordering::Relaxed)
    ));
    let (mut serials, mut counts, mut refusals) = (String::new(), String::new(), String::new());
    for (zone, _, _) in crate::zone::publish::zones_of(s.registry.settings()) {
        let (published, attempt) = s.registry.zone_state(&zone)?;
        if let Some(p) = published {
            serials.push_str(&format!("nicbox_zone_serial{{zone=\"{zone}\"}} {}\n", p.serial));
            counts.push_str(&format!("nicbox_zone_delegations{{zone=\"{zone}\"}} {}\n", p.delegations));
        }
        let refused = attempt.is_some_and(|a| a.outcome.is_refusal());
        refusals.push_str(&format!("nicbox_zone_refused{{zone=\"{zone}\"}} {}\n", u8::from(refused)));
    }
    out.push_str(
        "# HELP nicbox_zone_serial Serial of each zone's last publication.\n# TYPE nicbox_zone_serial gauge\n",
    );
    out.push_str(&serials);
    out.push_str("# HELP nicbox_zone_delegations Delegations in each zone's last publication.\n# TYPE nicbox_zone_delegations gauge\n");
    out.push_str(&counts);
    out.push_str("# HELP nicbox_zone_refused 1 when the last publication attempt of a zone was refused by the guard.\n# TYPE nicbox_zone_refused gauge\n");
    out.push_str(&refusals);
    if s.registry.settings().dns.is_some() {
        use crate::dns::server as d;
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        out.push_str("# HELP nicbox_dns_queries_total Queries to the hidden primary by outcome.\n# TYPE nicbox_dns_queries_total counter\n");
        out.push_str(&format!("nicbox_dns_queries_total{{outcome=\"all\"}} {}\n", load(&d::QUERIES)));
        out.push_str(&format!("nicbox_dns_queries_total{{outcome=\"refused\"}} {}\n", load(&d::REFUSED)));
        out.push_str(&format!("nicbox_dns_queries_total{{outcome=\"notauth\"}} {}\n", load(&d::NOTAUTH)));
        out.push_str(&format!("nicbox_dns_queries_total{{outcome=\"dropped\"}} {}\n", load(&d::DROPPED)));
        out.push_str("# HELP nicbox_dns_transfers_total Zone transfers sent, whole (AXFR) or incremental (IXFR).\n# TYPE nicbox_dns_transfers_total counter\n");
        out.push_str(&format!("nicbox_dns_transfers_total{{kind=\"axfr\"}} {}\n", load(&d::TRANSFERS_AXFR)));
        out.push_str(&format!("nicbox_dns_transfers_total{{kind=\"ixfr\"}} {}\n", load(&d::TRANSFERS_IXFR)));
        let published = |z: &str| s.registry.zone_state(z).ok().and_then(|(p, _)| p).map(|p| (p.serial, p.at.0));
        let now = s.registry.now().0;
        out.push_str("# HELP nicbox_dns_secondary_serial The serial each secondary has (0: unknown), and 1 when it is behind.\n# TYPE nicbox_dns_secondary_serial gauge\n");
        let mut behind = String::new();
        for r in crate::dns::book::rows(s.registry.settings(), &published, now) {
            let labels = format!("secondary=\"{}\",zone=\"{}\"", r.secondary.replace('"', "'"), r.zone);
            out.push_str(&format!("nicbox_dns_secondary_serial{{{labels}}} {}\n", r.seen.serial.unwrap_or(0)));
            behind.push_str(&format!("nicbox_dns_secondary_behind{{{labels}}} {}\n", u8::from(r.state == "behind")));
        }
        out.push_str("# HELP nicbox_dns_secondary_behind 1 when a secondary is still on an older serial behind_after_secs after a publication.\n# TYPE nicbox_dns_secondary_behind gauge\n");
        out.push_str(&behind);
    }
    let (commits, commands) = s.registry.writer_stats();
    out.push_str("# HELP nicbox_writer_commits_total Durable commits of the single writer (each one fsync).\n# TYPE nicbox_writer_commits_total counter\n");
    out.push_str(&format!("nicbox_writer_commits_total {commits}\n"));
    out.push_str("# HELP nicbox_writer_commands_total Commands the writer ran; per commit, the group commit's batch.\n# TYPE nicbox_writer_commands_total counter\n");
    out.push_str(&format!("nicbox_writer_commands_total {commands}\n"));
    if s.registry.settings().epp.is_some() {
        let book = crate::epp::server::book();
        out.push_str("# HELP nicbox_epp_responses_total EPP responses sent, by result code.\n# TYPE nicbox_epp_responses_total counter\n");
        for (code, n) in book.results() {
            out.push_str(&format!("nicbox_epp_responses_total{{code=\"{code}\"}} {n}\n"));
        }
        out.push_str("# HELP nicbox_epp_sessions Logged-in EPP sessions.\n# TYPE nicbox_epp_sessions gauge\n");
        out.push_str(&format!("nicbox_epp_sessions {}\n", book.sessions(None).len()));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
