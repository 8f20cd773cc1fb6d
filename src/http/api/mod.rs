//! The registrar API (CONTRACT.md section 3): JSON over HTTP under `/api/v1`, bearer keys,
//! problem+json errors. `ROUTES` lists every route; the OpenAPI document (`openapi.json`,
//! served at `/api/v1/openapi.json`) is checked against it by a test.

mod views;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, Authed, query_values};
use crate::limits::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
use crate::model::Status;
use crate::registry::{Code, ContactInput, ContactPatch, DomainCreate, DomainPatch};
use views::{ContactView, DomainView, HistoryView};

/// Every route of the API as (method, path in OpenAPI form).
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/openapi.json"),
    ("get", "/account"),
    ("get", "/domains/check"),
    ("get", "/contacts"),
    ("post", "/contacts"),
    ("get", "/contacts/{handle}"),
    ("patch", "/contacts/{handle}"),
    ("get", "/domains"),
    ("post", "/domains"),
    ("get", "/domains/{name}"),
    ("patch", "/domains/{name}"),
    ("get", "/domains/{name}/history"),
];

/// The OpenAPI 3 document, kept in step with `ROUTES` by a test.
pub const OPENAPI: &str = include_str!("openapi.json");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/account", get(account))
        .route("/domains/check", get(check))
        .route("/contacts", get(contact_list).post(contact_create))
        .route("/contacts/{handle}", get(contact_get).patch(contact_update))
        .route("/domains", get(domain_list).post(domain_create))
        .route("/domains/{name}", get(domain_get).patch(domain_update))
        .route("/domains/{name}/history", get(domain_history))
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
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<Response, ApiError> {
    let c = s.registry.contact_create(&r.id, input).await?;
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
    ApiJson(req): ApiJson<DomainCreate>,
) -> Result<Response, ApiError> {
    let d = s.registry.domain_create(&r.id, req).await?;
    let status = if d.has(Status::PendingCreate) { StatusCode::ACCEPTED } else { StatusCode::CREATED };
    Ok((status, Json(DomainView::new(&d, s.registry.policy(), true))).into_response())
}

async fn domain_get(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
) -> Result<Json<DomainView>, ApiError> {
    let d = s.registry.domain_get(&r.id, &name)?;
    Ok(Json(DomainView::new(&d, s.registry.policy(), true)))
}

async fn domain_update(
    State(s): State<AppState>,
    Authed(r): Authed,
    Path(name): Path<String>,
    ApiJson(patch): ApiJson<DomainPatch>,
) -> Result<Json<DomainView>, ApiError> {
    let d = s.registry.domain_update(&r.id, &name, patch).await?;
    Ok(Json(DomainView::new(&d, s.registry.policy(), true)))
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
