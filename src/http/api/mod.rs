//! The registrar API (CONTRACT.md section 3): JSON over HTTP under `/api/v1`, bearer keys,
//! problem+json errors. The OpenAPI document (`openapi.json`, served at `/api/v1/openapi.json`) is
//! checked against the routes of `router()` by a test.

pub mod views;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Authed, NoBody, Posted, query_values};
use super::routes::{Routes, delete, get, post};
use crate::limits::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
use crate::model::Status;
use crate::registry::{
    Code, ContactInput, ContactPatch, DomainCreate, DomainPatch, RegistrantChangeRequest, RenewRequest, TransferRequest,
};
use views::{ContactView, DomainView, HistoryView};

/// The OpenAPI 3 document, kept in step with the routes of `router()` by a test.
pub const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Routes {
    Routes::new()
        .route("/openapi.json", get(openapi))
        .route("/account", get(account))
        .route("/domains/check", get(check))
        .route("/contacts", get(contact_list).post(contact_create))
        .route("/contacts/{handle}", get(contact_get).patch(contact_update))
        .route("/domains", get(domain_list).post(domain_create))
        .route("/domains/{name}", get(domain_get).patch(domain_update).delete(domain_delete))
        .route("/domains/{name}/history", get(domain_history))
        .route("/domains/{name}/renew", post(domain_renew))
        .route("/domains/{name}/transfer", post(domain_transfer))
        .route("/domains/{name}/restore", post(domain_restore))
        .route("/domains/{name}/registrant", post(domain_registrant))
        .route("/domains/{name}/auth-code", post(domain_auth_code))
        .route("/poll", get(poll_list))
        .route("/poll/{id}", delete(poll_ack))
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn account(State(s): State<AppState>, Authed(r): Authed) -> Result<Json<serde_json::Value>, ApiError> {
    let prices: serde_json::Map<String, serde_json::Value> = s
        .registry
        .registrar_prices(&r)
        .into_iter()
        .map(|(tld, p)| {
            (
                tld,
                json!({"create": p.create, "create_premium": p.create_premium, "renew": p.renew,
                       "transfer": p.transfer, "restore": p.restore}),
            )
        })
        .collect();
    Ok(Json(json!({
        "id": r.id,
        "name": r.name,
        "balance": {"cents": r.balance_cents, "currency": s.registry.settings().currency},
        "currency": s.registry.settings().currency,
        "prices": prices,
    })))
}

async fn check(
    State(s): State<AppState>,
    _a: Authed,
    RawQuery(q): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let names = query_values(q.as_deref(), "name");
    let results = s.registry.check(&names)?;
    Ok(Json(json!({ "results": results })))
}

/// `limit` and `after` of a list call.
fn paging(q: Option<&str>) -> Result<(usize, Option<String>), ApiError> {
    let limit = match query_values(q, "limit").first() {
        None => PAGE_SIZE_DEFAULT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=PAGE_SIZE_MAX).contains(&n) => n,
            _ => {
                return Err(ApiError::new(Code::InvalidRequest, format!("limit must be 1 to {PAGE_SIZE_MAX}")));
            }
        },
    };
    Ok((limit, query_values(q, "after").into_iter().next()))
}

async fn contact_list(
    State(s): State<AppState>,
    Authed(r): Authed,
    RawQuery(q): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (limit, after) = paging(q.as_deref())?;
    let list = s.registry.contact_list(&r.id, after.as_deref(), limit)?;
    let next = if list.len() == limit { list.last().map(|c| c.handle.clone()) } else { None };
    let contacts: Vec<ContactView> = list.iter().map(ContactView::from).collect();
    Ok(Json(json!({ "contacts": contacts, "next": next })))
}

async fn contact_create(
    State(s): State<AppState>,
    Authed(r): Authed,
    p: Posted<ContactInput>,
) -> Result<Response, ApiError> {
    let c = s.registry.contact_create_idem(&r.id, p.body, p.idem).await?;
    Ok((StatusCode::CREATED, Json(ContactView::from(&c))).into_response())
}

async fn contact_get(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(handle): Path<String>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(ContactView::from(&s.registry.contact_get(&r.id, &handle)?)))
}

async fn contact_update(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(handle): Path<String>,
    ApiJson(patch): ApiJson<ContactPatch>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(ContactView::from(&s.registry.contact_update(&r.id, &handle, patch).await?)))
}

async fn domain_list(
    State(s): State<AppState>,
    Authed(r): Authed,
    RawQuery(q): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (limit, after) = paging(q.as_deref())?;
    let list = s.registry.domain_list(&r.id, after.as_deref(), limit)?;
    let next = if list.len() == limit { list.last().map(|d| d.name.clone()) } else { None };
    let domains: Vec<DomainView> = list.iter().map(|d| DomainView::new(d, s.registry.policy(), true)).collect();
    Ok(Json(json!({ "domains": domains, "next": next })))
}

async fn domain_create(
    State(s): State<AppState>,
    Authed(r): Authed,
    p: Posted<DomainCreate>,
) -> Result<Response, ApiError> {
    let d = s.registry.domain_create_idem(&r.id, p.body, p.idem).await?;
    let status = if d.has(Status::PendingCreate) { StatusCode::ACCEPTED } else { StatusCode::CREATED };
    Ok((status, Json(DomainView::new(&d, s.registry.policy(), true))).into_response())
}

async fn domain_get(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
) -> Result<Json<DomainView>, ApiError> {
    let d = s.registry.domain_get(&r.id, &name)?;
    Ok(Json(with_check(&s, &d)?))
}

/// A domain with its nameserver check (answers about one domain).
fn with_check(s: &AppState, d: &crate::model::Domain) -> Result<DomainView, ApiError> {
    let mut v = DomainView::new(d, s.registry.policy(), true);
    let check = s.registry.ns_check(&d.name)?;
    let due = s.registry.ns_check_due_of(&d.name)?;
    v.nameserver_check = Some(views::ns_check_json(d, s.registry.policy(), check.as_ref(), due));
    Ok(v)
}

async fn domain_update(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<DomainPatch>,
) -> Result<Json<DomainView>, ApiError> {
    let d = s.registry.domain_update(&r.id, &name, patch).await?;
    Ok(Json(with_check(&s, &d)?))
}

async fn domain_history(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let entries = s.registry.domain_history(&r.id, &name)?;
    let history: Vec<HistoryView> = entries.iter().map(|e| HistoryView::new(e, s.registry.policy())).collect();
    Ok(Json(json!({ "history": history })))
}

fn domain_json(s: &AppState, d: &crate::model::Domain) -> Json<DomainView> {
    Json(DomainView::new(d, s.registry.policy(), true))
}

async fn domain_delete(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
) -> Result<Json<DomainView>, ApiError> {
    let d = s.registry.domain_delete(&r.id, &name).await?;
    Ok(domain_json(&s, &d))
}

async fn domain_renew(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
    p: Posted<RenewRequest>,
) -> Result<Json<DomainView>, ApiError> {
    Ok(domain_json(&s, &s.registry.domain_renew(&r.id, &name, p.body, p.idem).await?))
}

async fn domain_transfer(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
    p: Posted<TransferRequest>,
) -> Result<Json<DomainView>, ApiError> {
    Ok(domain_json(&s, &s.registry.domain_transfer(&r.id, &name, p.body, p.idem).await?))
}

async fn domain_restore(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
    p: Posted<NoBody>,
) -> Result<Json<DomainView>, ApiError> {
    Ok(domain_json(&s, &s.registry.domain_restore(&r.id, &name, p.idem).await?))
}

async fn domain_registrant(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
    p: Posted<RegistrantChangeRequest>,
) -> Result<Response, ApiError> {
    let d = s.registry.domain_change_registrant(&r.id, &name, p.body, p.idem).await?;
    let status = if d.has(Status::PendingUpdate) { StatusCode::ACCEPTED } else { StatusCode::OK };
    Ok((status, domain_json(&s, &d)).into_response())
}

async fn domain_auth_code(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
    p: Posted<NoBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let d = s.registry.domain_new_auth_code(&r.id, &name, p.idem).await?;
    let days = s.registry.policy().tld(&d.tld).map(|t| t.profile.auth_code_valid_days).unwrap_or(30);
    Ok(Json(json!({
        "name": d.name,
        "roid": d.roid,
        "auth_code": d.auth_code,
        "valid_until": d.auth_code_issued.add_days(i64::from(days)).to_rfc3339(),
    })))
}

async fn poll_list(State(s): State<AppState>, Authed(r): Authed) -> Result<Json<serde_json::Value>, ApiError> {
    let (count, messages) = s.registry.poll_list(&r.id)?;
    let messages: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| json!({"id": m.id, "at": m.at.to_rfc3339(), "kind": m.kind, "domain": m.domain, "text": m.text}))
        .collect();
    Ok(Json(json!({ "count": count, "messages": messages })))
}

async fn poll_ack(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::new(Code::NotFound, format!("no message {id}")))?;
    s.registry.poll_ack(&r.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
