//! The admin JSON API for operators' scripts (CONTRACT.md section 5), with HTTP Basic auth of
//! an admin-UI user. `admin` may do everything; `support` may read and lift WHOIS suspensions.
//! A change sent by a browser from a page of another site is refused (`cross_site`).

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::ApiJson;
use super::routes::{Routes, delete, get, post};
use crate::clock::ClockKind;
use crate::model::{Actor, Role, User};
use crate::registry::Code;

pub fn router() -> Routes {
    Routes::new()
        .route("/clock", get(clock))
        .route("/clock/advance", post(advance))
        .route("/lifecycle/run", post(lifecycle_run))
        .route("/stats", get(stats))
        .route("/whois/suspensions", get(suspensions))
        .route("/whois/suspensions/{ip}", delete(lift))
        .route("/zone/export", post(zone_export))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneExport {
    #[serde(default)]
    force: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// Publishes the zones now (admin role). A refusal of the guard answers 409 with the counts;
/// `{"force": true, "reason": "..."}` publishes anyway, recorded with who and why.
async fn zone_export(
    State(s): State<AppState>,
    u: BasicUser,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    u.require_admin()?;
    let req: ZoneExport = if body.iter().all(u8::is_ascii_whitespace) {
        ZoneExport { force: false, reason: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::new(Code::InvalidRequest, format!("body: {e}")))?
    };
    let force = match (req.force, req.reason.map(|r| r.trim().to_string())) {
        (false, _) => None,
        (true, Some(r)) if !r.is_empty() && r.len() <= 500 => Some((Actor::User(u.0.name.clone()), r)),
        (true, _) => return Err(ApiError::new(Code::InvalidRequest, "force needs a reason (1 to 500 bytes)")),
    };
    let runs = crate::zone::publish(&s.registry, None, force).await.map_err(|e| match e {
        crate::zone::ExportError::Config(m) => ApiError::new(Code::Conflict, m),
        other => ApiError::new(Code::Internal, other.to_string()),
    })?;
    let refused = runs.iter().any(|r| r.outcome.is_refusal());
    let body = json!({ "zones": runs.iter().map(crate::zone::run_json).collect::<Vec<_>>() });
    let status = if refused { axum::http::StatusCode::CONFLICT } else { axum::http::StatusCode::OK };
    Ok((status, Json(body)).into_response())
}

/// The user behind HTTP Basic credentials.
pub struct BasicUser(pub User);

impl BasicUser {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.0.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::new(Code::Forbidden, "this needs the admin role"))
        }
    }
}

impl FromRequestParts<AppState> for BasicUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if cross_site(parts) {
            return Err(ApiError::new(Code::Forbidden, "a change from a page of another site is refused"));
        }
        let unauthorized = || ApiError::new(Code::Unauthorized, "send HTTP Basic credentials of an admin-UI user");
        let encoded = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .ok_or_else(unauthorized)?;
        if encoded.len() > 512 {
            return Err(unauthorized());
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| unauthorized())?;
        let text = String::from_utf8(decoded).map_err(|_| unauthorized())?;
        let (name, password) = text.split_once(':').ok_or_else(unauthorized)?;
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<crate::http::tls::ClientAddr>>()
            .map(|c| c.0.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        // The same throttle as the sign-in form: 5 failures per user or address, 15 minutes.
        if let Some(secs) = crate::http::admin::throttled(name, ip) {
            return Err(ApiError::rate_limited(secs));
        }
        let (registry, name, password) = (state.registry.clone(), name.to_string(), password.to_string());
        // argon2 takes tens of milliseconds: off the async threads.
        let user = tokio::task::spawn_blocking(move || registry.user_verify(&name, &password))
            .await
            .map_err(|_| ApiError::new(Code::Internal, "verifier failed"))??;
        match user {
            Some(u) => {
                crate::http::admin::clear_failures(&u.name);
                Ok(BasicUser(u))
            }
            None => {
                crate::http::admin::record_failure(text.split(':').next().unwrap_or(""), ip);
                Err(unauthorized())
            }
        }
    }
}

/// Whether a change (not GET or HEAD) comes from a page of another site. A browser sends the
/// HTTP Basic credentials it remembers for this site with any request to it, a form posted from
/// elsewhere included (a `text/plain` form can even carry JSON), and sends `Origin` with every
/// such POST or DELETE; scripts send no `Origin`. So a change whose `Origin` is not this site
/// is refused, before the credentials are looked at.
fn cross_site(parts: &Parts) -> bool {
    if parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD {
        return false;
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else { return false };
    let origin_host = origin.to_str().ok().and_then(|o| o.split_once("://")).map(|(_, h)| h);
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok());
    origin_host.is_none() || origin_host != host
}

fn clock_json(s: &AppState) -> serde_json::Value {
    let c = s.registry.clock();
    json!({
        "now": s.registry.now().to_rfc3339(),
        "kind": match c.kind() { ClockKind::System => "system", ClockKind::Lab => "lab", ClockKind::Manual => "manual" },
        "offset_days": c.offset_secs() as f64 / 86_400.0,
    })
}

async fn clock(State(s): State<AppState>, _u: BasicUser) -> Json<serde_json::Value> {
    Json(clock_json(&s))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    days: i64,
}

/// Moves a lab clock forward and runs the lifecycle job at once.
async fn advance(
    State(s): State<AppState>,
    u: BasicUser,
    ApiJson(a): ApiJson<Advance>,
) -> Result<Json<serde_json::Value>, ApiError> {
    u.require_admin()?;
    s.registry.advance_clock(a.days, Actor::User(u.0.name.clone())).await?;
    let report = s.registry.run_lifecycle().await?;
    let mut v = clock_json(&s);
    v["lifecycle"] = serde_json::to_value(report).unwrap_or_default();
    Ok(Json(v))
}

async fn lifecycle_run(State(s): State<AppState>, u: BasicUser) -> Result<Json<serde_json::Value>, ApiError> {
    u.require_admin()?;
    let report = s.registry.run_lifecycle().await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}

/// Counts by zone, status and registrar, from counters.
async fn stats(State(s): State<AppState>, _u: BasicUser) -> Result<Json<serde_json::Value>, ApiError> {
    let mut by_zone = serde_json::Map::new();
    let mut by_status = serde_json::Map::new();
    let mut by_registrar = serde_json::Map::new();
    for (k, v) in s.registry.counters("domains.")? {
        if let Some(z) = k.strip_prefix("domains.zone:") {
            by_zone.insert(z.to_string(), v.into());
        } else if let Some(st) = k.strip_prefix("domains.status:") {
            by_status.insert(st.to_string(), v.into());
        } else if let Some(r) = k.strip_prefix("domains.registrar:") {
            by_registrar.insert(r.to_string(), v.into());
        }
    }
    let stats = s.registry.stats()?;
    Ok(Json(json!({
        "domains": stats.domains,
        "registered_by_zone": stats.by_zone,
        "by_zone": by_zone,
        "by_status": by_status,
        "by_registrar": by_registrar,
    })))
}

fn suspension_json(s: &crate::model::Suspension) -> serde_json::Value {
    json!({"origin": s.origin, "level": s.level, "since": s.since.to_rfc3339(), "until": s.until.to_rfc3339(),
           "count": s.count, "lifted_by": s.lifted_by})
}

/// Origins suspended now.
async fn suspensions(State(s): State<AppState>, _u: BasicUser) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = s.guard.current().iter().map(suspension_json).collect();
    Json(json!({ "suspensions": list }))
}

/// Lifts a suspension (support may too). `ip` is an IPv4 address or any address of an IPv6 /64.
async fn lift(
    State(s): State<AppState>,
    u: BasicUser,
    axum::extract::Path(ip): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let lifted = s.guard.lift(&ip, Actor::User(u.0.name.clone())).await?;
    Ok(Json(suspension_json(&lifted)))
}
