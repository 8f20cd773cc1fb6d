//! Lifecycle tests (tier 2): POLICY.md section 3 through the registrar API in memory, with the
//! manual clock moved by hand and the lifecycle job run explicitly.
//!
//! Every refusal asserts the HTTP status and the contract's stable `code` (CONTRACT.md section 3);
//! every charge is checked against the balance, the domain's history and the ledger.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use nicbox::clock::Clock;
use nicbox::model::{Actor, Role, SECS_PER_DAY, Status, Timestamp};
use nicbox::registry::{LifecycleReport, Registry};
use nicbox::store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Env, T0, code, org_body, person_body, write_config};

/// Opening balance of the registrars of these tests, in cents.
const OPENING: i64 = 1_000_000;
/// Prices of the test configuration (`common::CONFIG`).
const CREATE: i64 = 1000;
const RENEW: i64 = 900;
const TRANSFER: i64 = 500;
const RESTORE: i64 = 3000;
const DAY: i64 = SECS_PER_DAY;
const HOUR: i64 = 3_600;

// ---------------------------------------------------------------------------------------------
// Helpers

fn assert_problem(label: &str, s: StatusCode, v: &Value, status: u16, want: &str) {
    assert_eq!((s.as_u16(), code(v)), (status, want), "{label}: {v}");
}

/// A registry with registrar `reg-a` and one organization contact: (env, key, handle).
async fn setup_with(extra: &str) -> (Env, String, String) {
    let env = Env::with(extra);
    let key = env.registrar("reg-a", OPENING).await;
    let h = env.org(&key).await;
    (env, key, h)
}

async fn setup() -> (Env, String, String) {
    setup_with("").await
}

/// Registers `name` (1 year unless `extra` says otherwise) and asserts 201.
async fn register_ok(env: &Env, key: &str, name: &str, h: &str, extra: Value) -> Value {
    let (s, v) = env.register(key, name, h, extra).await;
    assert_eq!(s, StatusCode::CREATED, "register {name}: {v}");
    v
}

async fn get_domain(env: &Env, key: &str, name: &str) -> (StatusCode, Value) {
    env.call("GET", &format!("/api/v1/domains/{name}"), Some(key), None).await
}

/// The domain as its sponsor sees it (asserts 200).
async fn domain(env: &Env, key: &str, name: &str) -> Value {
    let (s, v) = get_domain(env, key, name).await;
    assert_eq!(s, StatusCode::OK, "GET {name}: {v}");
    v
}

async fn patch_domain(env: &Env, key: &str, name: &str, body: Value) -> (StatusCode, Value) {
    env.call("PATCH", &format!("/api/v1/domains/{name}"), Some(key), Some(body)).await
}

async fn renew(env: &Env, key: &str, name: &str, years: u32, current_year: i32) -> (StatusCode, Value) {
    let body = json!({"period_years": years, "current_expiry_year": current_year});
    env.call("POST", &format!("/api/v1/domains/{name}/renew"), Some(key), Some(body)).await
}

async fn transfer(env: &Env, key: &str, name: &str, auth_code: &str, roid: &str) -> (StatusCode, Value) {
    let body = json!({"auth_code": auth_code, "roid": roid});
    env.call("POST", &format!("/api/v1/domains/{name}/transfer"), Some(key), Some(body)).await
}

async fn delete(env: &Env, key: &str, name: &str) -> (StatusCode, Value) {
    env.call("DELETE", &format!("/api/v1/domains/{name}"), Some(key), None).await
}

async fn restore(env: &Env, key: &str, name: &str) -> (StatusCode, Value) {
    env.call("POST", &format!("/api/v1/domains/{name}/restore"), Some(key), None).await
}

async fn change_registrant(env: &Env, key: &str, name: &str, handle: &str) -> (StatusCode, Value) {
    let body = json!({"registrant": handle});
    env.call("POST", &format!("/api/v1/domains/{name}/registrant"), Some(key), Some(body)).await
}

/// A new auth code from the sponsor (asserts 200): (auth code, roid).
async fn new_auth_code(env: &Env, key: &str, name: &str) -> (String, String) {
    let (s, v) = env.call("POST", &format!("/api/v1/domains/{name}/auth-code"), Some(key), None).await;
    assert_eq!(s, StatusCode::OK, "auth-code {name}: {v}");
    (v["auth_code"].as_str().unwrap().to_string(), v["roid"].as_str().unwrap().to_string())
}

/// The auth code and ROID the sponsor sees on the domain.
async fn auth_of(env: &Env, key: &str, name: &str) -> (String, String) {
    let v = domain(env, key, name).await;
    (v["auth_code"].as_str().unwrap().to_string(), v["roid"].as_str().unwrap().to_string())
}

/// History entries of a domain as its sponsor sees them (asserts 200).
async fn history(env: &Env, key: &str, name: &str) -> Vec<Value> {
    let (s, v) = env.call("GET", &format!("/api/v1/domains/{name}/history"), Some(key), None).await;
    assert_eq!(s, StatusCode::OK, "history {name}: {v}");
    v["history"].as_array().unwrap().clone()
}

fn operations(h: &[Value]) -> Vec<String> {
    h.iter().map(|e| e["operation"].as_str().unwrap().to_string()).collect()
}

fn amounts(h: &[Value]) -> i64 {
    h.iter().map(|e| e["amount_cents"].as_i64().unwrap()).sum()
}

fn statuses(v: &Value) -> Vec<String> {
    v["status"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn has_status(v: &Value, s: &str) -> bool {
    statuses(v).iter().any(|x| x == s)
}

fn expires(v: &Value) -> Timestamp {
    Timestamp::parse_rfc3339(v["expires"].as_str().unwrap()).unwrap()
}

fn expiry_year(v: &Value) -> i32 {
    expires(v).year()
}

/// The registrar's poll queue: (count, messages).
async fn poll(env: &Env, key: &str) -> (i64, Vec<Value>) {
    let (s, v) = env.call("GET", "/api/v1/poll", Some(key), None).await;
    assert_eq!(s, StatusCode::OK, "poll: {v}");
    (v["count"].as_i64().unwrap(), v["messages"].as_array().unwrap().clone())
}

/// (kind, domain) of every waiting message, oldest first.
async fn poll_kinds(env: &Env, key: &str) -> Vec<(String, String)> {
    poll(env, key)
        .await
        .1
        .iter()
        .map(|m| (m["kind"].as_str().unwrap().to_string(), m["domain"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Acknowledges every waiting message.
async fn ack_all(env: &Env, key: &str) {
    for m in poll(env, key).await.1 {
        let (s, v) = env.call("DELETE", &format!("/api/v1/poll/{}", m["id"]), Some(key), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "ack {m}: {v}");
    }
}

fn pair(kind: &str, name: &str) -> (String, String) {
    (kind.to_string(), name.to_string())
}

async fn available(env: &Env, key: &str, name: &str) -> bool {
    let (s, v) = env.call("GET", &format!("/api/v1/domains/check?name={name}"), Some(key), None).await;
    assert_eq!(s, StatusCode::OK, "check {name}: {v}");
    v["results"][0]["available"].as_bool().unwrap()
}

/// Moves the manual clock to `at` (never backwards).
fn advance_to(env: &Env, at: Timestamp) {
    let now = env.registry.now();
    assert!(at >= now, "the clock only moves forward");
    env.clock.advance(at.0 - now.0);
}

async fn job(env: &Env) -> LifecycleReport {
    env.registry.run_lifecycle().await.unwrap()
}

fn system(what: &str) -> Actor {
    Actor::System(what.into())
}

/// A request with any headers to the router in memory: (status, JSON body or Null).
async fn send(
    app: &axum::Router,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, v.as_str());
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())).unwrap(),
        None => req.body(Body::empty()).unwrap(),
    };
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// A registrar POST with an Idempotency-Key.
async fn post_idem(env: &Env, key: &str, idem: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    let headers = [("authorization", format!("Bearer {key}")), ("idempotency-key", idem.to_string())];
    send(&env.app, "POST", path, &headers, Some(body)).await
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

async fn admin(
    env_app: &axum::Router,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    send(env_app, method, path, &[("authorization", auth.to_string())], body.as_ref()).await
}

// ---------------------------------------------------------------------------------------------
// 1. Six years in the life of a domain

/// Create, renew, auto-renew, expiry, restore, delete, purge and a new registration of the same
/// name by another registrar, with the balance and the history checked at every step.
#[tokio::test]
async fn six_years_of_a_domain() {
    let (env, key, h) = setup().await;
    let name = "longavida.pt";
    // Money the test moved itself (drain and top-up), and the charges of the registry.
    let mut credits = 0i64;
    let mut charges: Vec<i64> = Vec::new();
    macro_rules! check_money {
        ($label:expr) => {{
            let total: i64 = charges.iter().sum();
            assert_eq!(env.balance(&key).await, OPENING + credits - total, "balance after {}", $label);
            let h = history(&env, &key, name).await;
            assert_eq!(amounts(&h), -total, "history amounts after {}: {h:?}", $label);
        }};
    }

    // Year 0: registration for a year.
    let v = register_ok(&env, &key, name, &h, json!({})).await;
    let roid = v["roid"].as_str().unwrap().to_string();
    assert_eq!(v["expires"], json!("2027-11-22T10:00:00Z"));
    assert!(v["auto_renew"].as_bool().unwrap());
    charges.push(CREATE);
    check_money!("create");

    // 30 days before expiry: renewed for 3 years.
    advance_to(&env, expires(&v).add_days(-30));
    let (s, v) = renew(&env, &key, name, 3, 2027).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["expires"], json!("2030-11-22T10:00:00Z"));
    charges.push(3 * RENEW);
    check_money!("renew 3y");

    // A day past expiry, auto-renew on and money enough: the job renews a year.
    advance_to(&env, expires(&v).add_days(1));
    let rep = job(&env).await;
    assert_eq!((rep.examined, rep.auto_renewed, rep.expired, rep.purged), (1, 1, 0, 0), "{rep:?}");
    let v = domain(&env, &key, name).await;
    assert_eq!(v["expires"], json!("2031-11-22T10:00:00Z"));
    assert!(!has_status(&v, "pendingDelete"), "{v}");
    assert_eq!(poll_kinds(&env, &key).await, vec![pair("domain.autorenewed", name)]);
    charges.push(RENEW);
    check_money!("auto-renew");
    let last = history(&env, &key, name).await.pop().unwrap();
    assert_eq!(
        (last["operation"].as_str(), last["actor"].as_str(), last["amount_cents"].as_i64()),
        (Some("domain.autorenew"), Some("registry:lifecycle"), Some(-RENEW))
    );
    ack_all(&env, &key).await;

    // The balance is drained; a day past the next expiry the domain expires to pendingDelete.
    let b = env.balance(&key).await;
    env.registry.registrar_credit("reg-a", -b, "drained for the test", system("test")).await.unwrap();
    credits -= b;
    check_money!("drain");
    advance_to(&env, expires(&v).add_days(1));
    let rep = job(&env).await;
    assert_eq!((rep.examined, rep.auto_renewed, rep.expired, rep.purged), (1, 0, 1, 0), "{rep:?}");
    let v = domain(&env, &key, name).await;
    assert!(has_status(&v, "pendingDelete") && has_status(&v, "redemptionPeriod"), "{v}");
    assert_eq!(v["expires"], json!("2031-11-22T10:00:00Z"), "no year added");
    assert_eq!(poll_kinds(&env, &key).await, vec![pair("domain.expired", name)]);
    check_money!("expiry (no charge)");
    assert_eq!(operations(&history(&env, &key, name).await).last().unwrap(), "domain.expire");
    ack_all(&env, &key).await;

    // Restore within the restore period: refused without money, then restore + a year's renewal.
    let (s, v) = restore(&env, &key, name).await;
    assert_problem("restore with no money", s, &v, 402, "insufficient_funds");
    check_money!("refused restore");
    env.registry.registrar_credit("reg-a", 10_000, "top-up", system("test")).await.unwrap();
    credits += 10_000;
    let (s, v) = restore(&env, &key, name).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(!has_status(&v, "pendingDelete") && !has_status(&v, "redemptionPeriod"), "{v}");
    assert_eq!(v["expires"], json!("2032-11-22T10:00:00Z"), "restored with a year, as it had expired");
    charges.push(RESTORE + RENEW);
    check_money!("restore");
    let last = history(&env, &key, name).await.pop().unwrap();
    assert_eq!((last["operation"].as_str(), last["amount_cents"].as_i64()), (Some("domain.restore"), Some(-3900)));

    // Deleted by the registrar, then purged by the job 31 days later.
    let (s, v) = delete(&env, &key, name).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(has_status(&v, "pendingDelete"), "{v}");
    check_money!("delete (no charge)");
    assert_eq!(
        operations(&history(&env, &key, name).await),
        ["domain.create", "domain.renew", "domain.autorenew", "domain.expire", "domain.restore", "domain.delete"]
    );
    assert!(!available(&env, &key, name).await);
    env.clock.advance(31 * DAY);
    let rep = job(&env).await;
    assert_eq!((rep.examined, rep.purged), (1, 1), "{rep:?}");
    assert_eq!(poll_kinds(&env, &key).await, vec![pair("domain.purged", name)]);
    let (s, v) = get_domain(&env, &key, name).await;
    assert_problem("GET a purged domain", s, &v, 404, "not_found");
    assert!(available(&env, &key, name).await);
    let total: i64 = charges.iter().sum();
    assert_eq!(total, CREATE + 3 * RENEW + RENEW + RESTORE + RENEW);
    assert_eq!(env.balance(&key).await, OPENING + credits - total);
    assert!(env.registry.now().0 - T0 > 5 * 365 * DAY, "more than five years went by");

    // Another registrar registers the name: a new ROID and a history of its own.
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    let v = register_ok(&env, &key_b, name, &h_b, json!({})).await;
    assert_ne!(v["roid"].as_str().unwrap(), roid, "a new registration gets a new ROID");
    let hb = history(&env, &key_b, name).await;
    assert_eq!(operations(&hb), ["domain.create"], "{hb:?}");
    assert_eq!(amounts(&hb), -CREATE);
    assert_eq!(hb[0]["actor"], json!("registrar:reg-b"));
    assert_eq!(env.balance(&key_b).await, OPENING - CREATE);
    assert_eq!(env.balance(&key).await, OPENING + credits - total, "the old sponsor is not charged");
    let (s, v) = get_domain(&env, &key, name).await;
    assert_problem("the old sponsor reads the new registration", s, &v, 403, "not_sponsor");
}

// ---------------------------------------------------------------------------------------------
// 2. Renew

#[tokio::test]
async fn renew_states_the_expiry_year_and_cannot_run_twice() {
    let (env, key, h) = setup().await;
    let v = register_ok(&env, &key, "anual.pt", &h, json!({})).await;
    assert_eq!(expiry_year(&v), 2027);
    // The year is checked before the window, so a wrong year is refused at any time.
    let (s, v2) = renew(&env, &key, "anual.pt", 1, 2026).await;
    assert_problem("wrong expiry year", s, &v2, 409, "expiry_year_mismatch");
    advance_to(&env, expires(&v).add_days(-10));
    let (s, v2) = renew(&env, &key, "anual.pt", 1, 2028).await;
    assert_problem("wrong expiry year in the window", s, &v2, 409, "expiry_year_mismatch");
    assert_eq!(env.balance(&key).await, OPENING - CREATE);

    let (s, v2) = renew(&env, &key, "anual.pt", 1, 2027).await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(expiry_year(&v2), 2028);
    // A retry of the same request (no Idempotency-Key) cannot renew a second time.
    let (s, v3) = renew(&env, &key, "anual.pt", 1, 2027).await;
    assert_problem("retried renew", s, &v3, 409, "expiry_year_mismatch");
    assert_eq!(expiry_year(&domain(&env, &key, "anual.pt").await), 2028);
    assert_eq!(env.balance(&key).await, OPENING - CREATE - RENEW);
    let h = history(&env, &key, "anual.pt").await;
    assert_eq!(operations(&h), ["domain.create", "domain.renew"]);
    assert_eq!(amounts(&h), -(CREATE + RENEW));
}

#[tokio::test]
async fn renew_window_and_periods() {
    let (env, key, h) = setup().await;
    let v = register_ok(&env, &key, "janela.pt", &h, json!({})).await;
    let exp = expires(&v);
    let (s, v2) = renew(&env, &key, "janela.pt", 1, 2027).await;
    assert_problem("renew right after create", s, &v2, 422, "renew_too_early");
    advance_to(&env, exp.add_days(-61));
    let (s, v2) = renew(&env, &key, "janela.pt", 1, 2027).await;
    assert_problem("61 days before expiry", s, &v2, 422, "renew_too_early");
    advance_to(&env, exp.add_days(-60));
    for bad in [0, 2, 4, 11] {
        let (s, v2) = renew(&env, &key, "janela.pt", bad, 2027).await;
        assert_problem(&format!("period {bad}"), s, &v2, 422, "invalid_period");
    }
    assert_eq!(env.balance(&key).await, OPENING - CREATE, "refusals charge nothing");
    // Exactly 60 days before expiry the window is open; 5 years are allowed.
    let (s, v2) = renew(&env, &key, "janela.pt", 5, 2027).await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(v2["expires"], json!("2032-11-22T10:00:00Z"));
    assert_eq!(env.balance(&key).await, OPENING - CREATE - 5 * RENEW);
}

/// With the policy's 60-day window no single renew can pass 10 years ahead, so the ceiling is
/// tested with a wider window.
#[tokio::test]
async fn renew_never_beyond_ten_years_ahead() {
    let (env, key, h) = setup_with("[tld.policy]\nrenew_window_days = 3660\n").await;
    let v = register_ok(&env, &key, "teto.pt", &h, json!({"period_years": 5})).await;
    assert_eq!(expiry_year(&v), 2031);
    let (s, v) = renew(&env, &key, "teto.pt", 5, 2031).await;
    assert_eq!(s, StatusCode::OK, "exactly 10 years ahead is allowed: {v}");
    assert_eq!(v["expires"], json!("2036-11-22T10:00:00Z"));
    let (s, v2) = renew(&env, &key, "teto.pt", 1, 2036).await;
    assert_problem("11 years ahead", s, &v2, 422, "invalid_period");
    env.clock.advance(DAY);
    let (s, v2) = renew(&env, &key, "teto.pt", 1, 2036).await;
    assert_problem("still beyond 10 years a day later", s, &v2, 422, "invalid_period");
    assert_eq!(env.balance(&key).await, OPENING - 5 * CREATE - 5 * RENEW);
    assert_eq!(operations(&history(&env, &key, "teto.pt").await), ["domain.create", "domain.renew"]);
}

#[tokio::test]
async fn renew_refused_for_funds_status_and_sponsor() {
    let env = Env::new();
    let key = env.registrar("reg-a", OPENING).await;
    let h = env.org(&key).await;
    let poor = env.registrar("pobre", CREATE + RENEW - 1).await;
    let hp = env.org(&poor).await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let v = register_ok(&env, &key, "renova.pt", &h, json!({})).await;
    register_ok(&env, &poor, "semdinheiro.pt", &hp, json!({})).await;
    advance_to(&env, expires(&v).add_days(-30));

    let (s, v2) = renew(&env, &poor, "semdinheiro.pt", 1, 2027).await;
    assert_problem("insufficient funds", s, &v2, 402, "insufficient_funds");
    assert_eq!(env.balance(&poor).await, RENEW - 1);

    let (s, v2) = renew(&env, &key_b, "renova.pt", 1, 2027).await;
    assert_problem("another registrar", s, &v2, 403, "not_sponsor");
    assert_eq!(env.balance(&key_b).await, OPENING);

    let (s, v2) = renew(&env, &key, "naoexiste.pt", 1, 2027).await;
    assert_problem("unknown domain", s, &v2, 404, "not_found");

    let (s, v2) = patch_domain(&env, &key, "renova.pt", json!({"add_status": ["clientRenewProhibited"]})).await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    let (s, v2) = renew(&env, &key, "renova.pt", 1, 2027).await;
    assert_problem("clientRenewProhibited", s, &v2, 409, "status_prohibits");
    let (s, v2) = patch_domain(&env, &key, "renova.pt", json!({"remove_status": ["clientRenewProhibited"]})).await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(env.balance(&key).await, OPENING - CREATE);
    let (s, v2) = renew(&env, &key, "renova.pt", 1, 2027).await;
    assert_eq!(s, StatusCode::OK, "renew once the status is gone: {v2}");
    assert_eq!(env.balance(&key).await, OPENING - CREATE - RENEW);
}

// ---------------------------------------------------------------------------------------------
// 3. Transfer

#[tokio::test]
async fn transfer_moves_the_domain_and_its_contacts() {
    let (env, key_a, h) = setup().await;
    let person = env.contact(&key_a, person_body()).await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let v = register_ok(&env, &key_a, "mudanca.pt", &h, json!({"tech": person})).await;
    let (auth, roid) = (v["auth_code"].as_str().unwrap().to_string(), v["roid"].as_str().unwrap().to_string());
    env.clock.advance(10 * DAY);

    let (s, t) = transfer(&env, &key_b, "mudanca.pt", &auth, &roid).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    assert_eq!(t["registrar"], json!("reg-b"));
    assert_eq!(t["roid"], json!(roid), "the registration keeps its ROID");
    assert_eq!(t["expires"], v["expires"], "a transfer adds no years");
    let new_auth = t["auth_code"].as_str().unwrap();
    assert!(!new_auth.is_empty() && new_auth != auth, "a new auth code: {new_auth}");
    assert_eq!(env.balance(&key_b).await, OPENING - TRANSFER);
    assert_eq!(env.balance(&key_a).await, OPENING - CREATE, "the loser is neither charged nor refunded");
    assert_eq!(poll_kinds(&env, &key_a).await, vec![pair("transfer.away", "mudanca.pt")]);
    assert!(poll(&env, &key_b).await.1.is_empty());

    // The gaining registrar holds copies of the contacts; the loser keeps its own.
    let d = domain(&env, &key_b, "mudanca.pt").await;
    assert_eq!(d["auth_code"].as_str(), Some(new_auth));
    let new_handles = [&d["registrant"], &d["admin"], &d["tech"]].map(|x| x.as_str().unwrap().to_string());
    assert_eq!(new_handles[0], new_handles[1], "one copy per contact");
    for (old, new) in [(&h, &new_handles[0]), (&person, &new_handles[2])] {
        assert_ne!(old, new);
        let (s, c) = env.call("GET", &format!("/api/v1/contacts/{new}"), Some(&key_b), None).await;
        assert_eq!(s, StatusCode::OK, "gaining reads its copy {new}: {c}");
        let (s, c) = env.call("GET", &format!("/api/v1/contacts/{old}"), Some(&key_a), None).await;
        assert_eq!(s, StatusCode::OK, "loser keeps {old}: {c}");
        let (s, c) = env.call("GET", &format!("/api/v1/contacts/{old}"), Some(&key_b), None).await;
        assert_problem("gaining reads the loser's contact", s, &c, 404, "not_found");
        let (s, c) = env.call("GET", &format!("/api/v1/contacts/{new}"), Some(&key_a), None).await;
        assert_problem("loser reads the gaining registrar's copy", s, &c, 404, "not_found");
    }
    let (s, c) = env.call("GET", &format!("/api/v1/contacts/{}", new_handles[2]), Some(&key_b), None).await;
    assert_eq!((s, c["fiscal_id"].clone()), (StatusCode::OK, json!("123456789")));

    let (s, x) = get_domain(&env, &key_a, "mudanca.pt").await;
    assert_problem("the loser reads the domain", s, &x, 403, "not_sponsor");
    let hist = history(&env, &key_b, "mudanca.pt").await;
    assert_eq!(operations(&hist), ["domain.create", "domain.transfer"]);
    assert_eq!(hist[1]["actor"], json!("registrar:reg-b"));
    assert_eq!(hist[1]["amount_cents"], json!(-TRANSFER));
    // The new sponsor can work with the domain.
    let (s, x) = patch_domain(&env, &key_b, "mudanca.pt", json!({"auto_renew": false})).await;
    assert_eq!(s, StatusCode::OK, "{x}");
}

#[tokio::test]
async fn transfer_refusals() {
    let (env, key_a, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let poor = env.registrar("pobre", TRANSFER - 1).await;
    let v = register_ok(&env, &key_a, "recusa.pt", &h, json!({})).await;
    let (auth, roid) = (v["auth_code"].as_str().unwrap().to_string(), v["roid"].as_str().unwrap().to_string());
    let other = register_ok(&env, &key_a, "outro.pt", &h, json!({})).await;

    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        ("wrong auth code", "ERRADO123456".into(), roid.clone(), 422, "bad_auth_code"),
        ("empty auth code", String::new(), roid.clone(), 422, "bad_auth_code"),
        ("wrong ROID", auth.clone(), "D999999999-PT".into(), 422, "bad_auth_code"),
        ("ROID of another domain", auth.clone(), other["roid"].as_str().unwrap().into(), 422, "bad_auth_code"),
        (
            "auth code of another domain",
            other["auth_code"].as_str().unwrap().into(),
            roid.clone(),
            422,
            "bad_auth_code",
        ),
    ];
    for (label, a, r, status, c) in cases {
        let (s, x) = transfer(&env, &key_b, "recusa.pt", &a, &r).await;
        assert_problem(label, s, &x, status, c);
    }
    let (s, x) = transfer(&env, &poor, "recusa.pt", &auth, &roid).await;
    assert_problem("gaining registrar cannot pay", s, &x, 402, "insufficient_funds");
    assert_eq!(env.balance(&poor).await, TRANSFER - 1);
    let (s, x) = transfer(&env, &key_a, "recusa.pt", &auth, &roid).await;
    assert_problem("transfer to the sponsor itself", s, &x, 400, "invalid_request");
    let (s, x) = transfer(&env, &key_b, "naoexiste.pt", &auth, &roid).await;
    assert_problem("unknown domain", s, &x, 404, "not_found");

    let (s, x) = patch_domain(&env, &key_a, "recusa.pt", json!({"add_status": ["clientTransferProhibited"]})).await;
    assert_eq!(s, StatusCode::OK, "{x}");
    let (s, x) = transfer(&env, &key_b, "recusa.pt", &auth, &roid).await;
    assert_problem("clientTransferProhibited", s, &x, 409, "status_prohibits");
    let (s, x) = patch_domain(&env, &key_a, "recusa.pt", json!({"remove_status": ["clientTransferProhibited"]})).await;
    assert_eq!(s, StatusCode::OK, "{x}");

    // Nothing moved, nobody charged, no message.
    assert_eq!(domain(&env, &key_a, "recusa.pt").await["auth_code"], json!(auth));
    assert_eq!(env.balance(&key_b).await, OPENING);
    assert!(poll(&env, &key_a).await.1.is_empty());
    let (s, x) = transfer(&env, &key_b, "recusa.pt", &auth, &format!(" {roid} ")).await;
    assert_eq!(s, StatusCode::OK, "the right code and ROID (ROID trimmed): {x}");
}

#[tokio::test]
async fn auth_codes_expire_after_30_days_and_are_single_use() {
    let (env, key_a, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let key_c = env.registrar("reg-c", OPENING).await;
    register_ok(&env, &key_a, "codigo.pt", &h, json!({})).await;
    let (auth, roid) = auth_of(&env, &key_a, "codigo.pt").await;

    env.clock.advance(30 * DAY + 1);
    let (s, x) = transfer(&env, &key_b, "codigo.pt", &auth, &roid).await;
    assert_problem("code issued 30 days and a second ago", s, &x, 422, "bad_auth_code");
    let (s, x) = env.call("POST", "/api/v1/domains/codigo.pt/auth-code", Some(&key_b), None).await;
    assert_problem("only the sponsor issues codes", s, &x, 403, "not_sponsor");
    let (fresh, roid2) = new_auth_code(&env, &key_a, "codigo.pt").await;
    assert_eq!(roid2, roid);
    assert_ne!(fresh, auth);
    let (s, x) = transfer(&env, &key_b, "codigo.pt", &auth, &roid).await;
    assert_problem("the replaced code", s, &x, 422, "bad_auth_code");
    let (s, x) = transfer(&env, &key_b, "codigo.pt", &fresh, &roid).await;
    assert_eq!(s, StatusCode::OK, "{x}");
    assert_ne!(x["auth_code"].as_str().unwrap(), fresh);

    // The code is used up: nobody can transfer with it again.
    let (s, x) = transfer(&env, &key_a, "codigo.pt", &fresh, &roid).await;
    assert_problem("transfer back with the used code", s, &x, 422, "bad_auth_code");
    let (s, x) = transfer(&env, &key_c, "codigo.pt", &fresh, &roid).await;
    assert_problem("a third registrar with the used code", s, &x, 422, "bad_auth_code");
    assert_eq!(env.balance(&key_a).await, OPENING - CREATE);
    assert_eq!(env.balance(&key_b).await, OPENING - TRANSFER);
    assert_eq!(env.balance(&key_c).await, OPENING);
    let hist = history(&env, &key_b, "codigo.pt").await;
    assert_eq!(operations(&hist), ["domain.create", "domain.auth_code", "domain.transfer"]);
}

#[tokio::test]
async fn pending_delete_and_expired_domains_cannot_be_transferred() {
    let (env, key_a, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    register_ok(&env, &key_a, "apagado.pt", &h, json!({})).await;
    let v = register_ok(&env, &key_a, "expirado.pt", &h, json!({})).await;
    let (auth, roid) = auth_of(&env, &key_a, "apagado.pt").await;
    let (s, x) = delete(&env, &key_a, "apagado.pt").await;
    assert_eq!(s, StatusCode::OK, "{x}");
    let (s, x) = transfer(&env, &key_b, "apagado.pt", &auth, &roid).await;
    assert_problem("pendingDelete", s, &x, 409, "status_prohibits");

    // Past expiry, the job not yet run: a fresh code does not make it transferable.
    advance_to(&env, expires(&v).add_secs(HOUR));
    let (fresh, roid) = new_auth_code(&env, &key_a, "expirado.pt").await;
    let (s, x) = transfer(&env, &key_b, "expirado.pt", &fresh, &roid).await;
    assert_problem("expired, not yet processed", s, &x, 409, "status_prohibits");
    assert_eq!(domain(&env, &key_a, "expirado.pt").await["registrar"], json!("reg-a"));
    assert_eq!(env.balance(&key_b).await, OPENING);
    assert!(poll(&env, &key_a).await.1.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 4. Delete and restore

#[tokio::test]
async fn delete_and_restore() {
    let (env, key, h) = setup().await;
    let v = register_ok(&env, &key, "apagar.pt", &h, json!({})).await;

    let (s, x) = restore(&env, &key, "apagar.pt").await;
    assert_problem("restore an active domain", s, &x, 409, "status_prohibits");
    let (s, x) = patch_domain(&env, &key, "apagar.pt", json!({"add_status": ["clientDeleteProhibited"]})).await;
    assert_eq!(s, StatusCode::OK, "{x}");
    let (s, x) = delete(&env, &key, "apagar.pt").await;
    assert_problem("clientDeleteProhibited", s, &x, 409, "status_prohibits");
    let (s, x) = patch_domain(&env, &key, "apagar.pt", json!({"remove_status": ["clientDeleteProhibited"]})).await;
    assert_eq!(s, StatusCode::OK, "{x}");
    let key_b = env.registrar("reg-b", OPENING).await;
    let (s, x) = delete(&env, &key_b, "apagar.pt").await;
    assert_problem("another registrar deletes", s, &x, 403, "not_sponsor");

    let (s, x) = delete(&env, &key, "apagar.pt").await;
    assert_eq!(s, StatusCode::OK, "{x}");
    assert!(has_status(&x, "pendingDelete") && has_status(&x, "redemptionPeriod"), "{x}");
    assert!(has_status(&domain(&env, &key, "apagar.pt").await, "pendingDelete"));
    assert!(!available(&env, &key, "apagar.pt").await, "a pendingDelete name is not free");
    let (s, x) = delete(&env, &key, "apagar.pt").await;
    assert_problem("delete twice", s, &x, 409, "status_prohibits");
    let (s, x) = patch_domain(&env, &key, "apagar.pt", json!({"auto_renew": false})).await;
    assert_problem("update while pendingDelete", s, &x, 409, "status_prohibits");
    let (s, x) = renew(&env, &key, "apagar.pt", 1, 2027).await;
    assert_problem("renew while pendingDelete", s, &x, 409, "status_prohibits");
    assert_eq!(env.balance(&key).await, OPENING - CREATE, "a delete charges nothing");

    // Restored on day 29: charged the restore price only (the domain has not expired).
    env.clock.advance(29 * DAY);
    let (s, x) = restore(&env, &key, "apagar.pt").await;
    assert_eq!(s, StatusCode::OK, "{x}");
    assert!(!has_status(&x, "pendingDelete") && !has_status(&x, "redemptionPeriod"), "{x}");
    assert_eq!(x["expires"], v["expires"]);
    assert_eq!(env.balance(&key).await, OPENING - CREATE - RESTORE);
    let hist = history(&env, &key, "apagar.pt").await;
    assert_eq!(
        operations(&hist),
        ["domain.create", "domain.update", "domain.update", "domain.delete", "domain.restore"]
    );
    assert_eq!(amounts(&hist), -(CREATE + RESTORE));

    // Deleted again; the restore period ends exactly 30 days later.
    let (s, x) = delete(&env, &key, "apagar.pt").await;
    assert_eq!(s, StatusCode::OK, "{x}");
    env.clock.advance(30 * DAY);
    let (s, x) = restore(&env, &key, "apagar.pt").await;
    assert_problem("restore after 30 days", s, &x, 422, "restore_period_over");
    assert_eq!(env.balance(&key).await, OPENING - CREATE - RESTORE);
    let rep = job(&env).await;
    assert_eq!(rep.purged, 1, "{rep:?}");
    let (s, x) = restore(&env, &key, "apagar.pt").await;
    assert_problem("restore a purged name", s, &x, 404, "not_found");
}

#[tokio::test]
async fn no_restore_period_purges_at_once() {
    let (env, key, h) = setup_with("[tld.policy]\nrestore_days = 0\n").await;
    register_ok(&env, &key, "semvolta.pt", &h, json!({})).await;
    let v = register_ok(&env, &key, "expira.pt", &h, json!({"auto_renew": false})).await;
    let (s, x) = delete(&env, &key, "semvolta.pt").await;
    assert_eq!(s, StatusCode::OK, "{x}");
    let (s, x) = get_domain(&env, &key, "semvolta.pt").await;
    assert_problem("GET after delete", s, &x, 404, "not_found");
    assert!(available(&env, &key, "semvolta.pt").await);
    let (s, x) = restore(&env, &key, "semvolta.pt").await;
    assert_problem("nothing to restore", s, &x, 404, "not_found");
    assert_eq!(env.balance(&key).await, OPENING - 2 * CREATE);

    // Expiry purges at once too.
    advance_to(&env, expires(&v).add_days(1));
    let rep = job(&env).await;
    assert_eq!((rep.examined, rep.expired), (1, 1), "{rep:?}");
    let (s, x) = get_domain(&env, &key, "expira.pt").await;
    assert_problem("GET after expiry", s, &x, 404, "not_found");
    assert!(available(&env, &key, "expira.pt").await);
    assert_eq!(job(&env).await.examined, 0);
    register_ok(&env, &key, "semvolta.pt", &h, json!({})).await;
}

// ---------------------------------------------------------------------------------------------
// 5. Registrant change

#[tokio::test]
async fn registrant_change_immediate() {
    let (env, key, h) = setup().await;
    let person = env.contact(&key, person_body()).await;
    let mut no_fiscal_body = org_body();
    no_fiscal_body.as_object_mut().unwrap().remove("fiscal_id");
    let no_fiscal = env.contact(&key, no_fiscal_body).await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    let v = register_ok(&env, &key, "troca.pt", &h, json!({})).await;

    let (s, x) = change_registrant(&env, &key, "troca.pt", &no_fiscal).await;
    assert_problem("new registrant without fiscal id", s, &x, 422, "missing_fiscal_id");
    let (s, x) = change_registrant(&env, &key, "troca.pt", "C9999999").await;
    assert_problem("unknown contact", s, &x, 422, "invalid_contact");
    let (s, x) = change_registrant(&env, &key, "troca.pt", &h_b).await;
    assert_problem("another registrar's contact", s, &x, 422, "invalid_contact");
    let (s, x) = change_registrant(&env, &key_b, "troca.pt", &h_b).await;
    assert_problem("another registrar's domain", s, &x, 403, "not_sponsor");
    assert_eq!(domain(&env, &key, "troca.pt").await["registrant"], json!(h));

    let (s, x) = change_registrant(&env, &key, "troca.pt", &person).await;
    assert_eq!(s, StatusCode::OK, "{x}");
    assert_eq!(x["registrant"], json!(person));
    assert!(!has_status(&x, "pendingUpdate"), "{x}");
    assert_eq!(x["expires"], v["expires"], "a registrant change does not renew");
    assert_eq!(x["admin"], json!(h), "only the registrant changes");
    assert_eq!(domain(&env, &key, "troca.pt").await["registrant"], json!(person));
    assert_eq!(env.balance(&key).await, OPENING - CREATE);
    let hist = history(&env, &key, "troca.pt").await;
    assert_eq!(operations(&hist), ["domain.create", "domain.registrant_change"]);
    assert_eq!(hist[1]["changes"]["registrant"], json!({"before": h, "after": person}));
}

#[tokio::test]
async fn registrant_change_review() {
    let (env, key, h) = setup_with("[tld.policy]\nregistrant_change_mode = \"review\"\n").await;
    let person = env.contact(&key, person_body()).await;
    let key_b = env.registrar("reg-b", OPENING).await;
    register_ok(&env, &key, "revisao.pt", &h, json!({})).await;
    let (auth, roid) = auth_of(&env, &key, "revisao.pt").await;

    let (s, x) = change_registrant(&env, &key, "revisao.pt", &person).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{x}");
    assert!(has_status(&x, "pendingUpdate"), "{x}");
    assert_eq!(x["registrant"], json!(h), "unchanged until accepted");
    let d = env
        .registry
        .decide_registrant_change("revisao.pt", true, "DOC-123", Actor::User("maria".into()))
        .await
        .unwrap();
    assert_eq!(d.registrant, person);
    let x = domain(&env, &key, "revisao.pt").await;
    assert_eq!(x["registrant"], json!(person));
    assert!(!has_status(&x, "pendingUpdate"), "{x}");
    let msgs = poll(&env, &key).await.1;
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(msgs[0]["kind"], json!("registrant_change.accepted"));
    assert!(msgs[0]["text"].as_str().unwrap().contains("DOC-123"), "{msgs:?}");
    ack_all(&env, &key).await;
    let err = env.registry.decide_registrant_change("revisao.pt", true, "DOC-124", system("test")).await.unwrap_err();
    assert_eq!(err.code.as_str(), "conflict", "nothing waits: {err}");

    // A second change, left without a document: refused operations meanwhile, cancelled after 48 h.
    let (s, x) = change_registrant(&env, &key, "revisao.pt", &h).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{x}");
    let (s, x) = change_registrant(&env, &key, "revisao.pt", &h).await;
    assert_problem("a second registrant change while pendingUpdate", s, &x, 409, "status_prohibits");
    let (s, x) = transfer(&env, &key_b, "revisao.pt", &auth, &roid).await;
    assert_problem("transfer while pendingUpdate", s, &x, 409, "status_prohibits");
    let (s, x) = delete(&env, &key, "revisao.pt").await;
    assert_problem("delete while pendingUpdate", s, &x, 409, "status_prohibits");

    env.clock.advance(47 * HOUR);
    let rep = job(&env).await;
    assert_eq!((rep.examined, rep.registrant_changes_cancelled), (0, 0), "not yet: {rep:?}");
    env.clock.advance(2 * HOUR);
    let rep = job(&env).await;
    assert_eq!((rep.examined, rep.registrant_changes_cancelled, rep.expired), (1, 1, 0), "{rep:?}");
    let x = domain(&env, &key, "revisao.pt").await;
    assert!(!has_status(&x, "pendingUpdate"), "{x}");
    assert_eq!(x["registrant"], json!(person), "the cancelled change left the registrant as it was");
    assert_eq!(poll_kinds(&env, &key).await, vec![pair("registrant_change.cancelled", "revisao.pt")]);
    assert_eq!(
        operations(&history(&env, &key, "revisao.pt").await),
        [
            "domain.create",
            "domain.registrant_change",
            "domain.registrant_change_accepted",
            "domain.registrant_change",
            "domain.registrant_change_cancelled"
        ]
    );
    assert_eq!(env.balance(&key).await, OPENING - CREATE);
    assert_eq!(job(&env).await.examined, 0, "nothing left to do");
}

/// PATCH while a registrant change waits for review (the brief: "update ... refused while
/// pendingUpdate").
#[tokio::test]
async fn update_refused_while_registrant_change_pending() {
    let (env, key, h) = setup_with("[tld.policy]\nregistrant_change_mode = \"review\"\n").await;
    let person = env.contact(&key, person_body()).await;
    register_ok(&env, &key, "pendente.pt", &h, json!({})).await;
    let (s, x) = change_registrant(&env, &key, "pendente.pt", &person).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{x}");
    let (s, x) = patch_domain(&env, &key, "pendente.pt", json!({"auto_renew": false})).await;
    assert_problem("PATCH while pendingUpdate", s, &x, 409, "status_prohibits");
    assert!(domain(&env, &key, "pendente.pt").await["auto_renew"].as_bool().unwrap());
}

/// After the review hours a registrant change is cancelled, even before the job has run: the
/// registry can no longer accept it (found by the model-based test).
#[tokio::test]
async fn registrant_change_cannot_be_decided_after_its_review_hours() {
    let (env, key, h) = setup_with("[tld.policy]\nregistrant_change_mode = \"review\"\n").await;
    let person = env.contact(&key, person_body()).await;
    register_ok(&env, &key, "tardio.pt", &h, json!({})).await;
    let (s, x) = change_registrant(&env, &key, "tardio.pt", &person).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{x}");
    env.clock.advance(48 * HOUR);
    let e = env.registry.decide_registrant_change("tardio.pt", true, "DOC-1", system("test")).await.unwrap_err();
    assert_eq!(e.code.as_str(), "conflict", "{e}");
    assert_eq!(domain(&env, &key, "tardio.pt").await["registrant"].as_str(), Some(h.as_str()));
    assert_eq!(job(&env).await.registrant_changes_cancelled, 1);
}

// ---------------------------------------------------------------------------------------------
// 6. Registration in review mode

#[tokio::test]
async fn review_mode_registration() {
    let (env, key, h) = setup_with("[tld.policy]\nregistration_mode = \"review\"\n").await;
    let key_b = env.registrar("reg-b", OPENING).await;
    for name in ["aceitar.pt", "recusar.pt"] {
        let (s, v) = env.register(&key, name, &h, json!({})).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{name}: {v}");
        assert!(has_status(&v, "pendingCreate"), "{v}");
    }
    assert_eq!(env.balance(&key).await, OPENING - 2 * CREATE, "charged when asked");
    let waiting: Vec<String> = env
        .registry
        .domains_with_status(Status::PendingCreate, None, 100)
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(waiting, ["aceitar.pt", "recusar.pt"]);

    // Nothing but reading while the registry decides.
    let (auth, roid) = auth_of(&env, &key, "aceitar.pt").await;
    let (s, x) = transfer(&env, &key_b, "aceitar.pt", &auth, &roid).await;
    assert_problem("transfer pendingCreate", s, &x, 409, "status_prohibits");
    let (s, x) = renew(&env, &key, "aceitar.pt", 1, 2027).await;
    assert_problem("renew pendingCreate", s, &x, 409, "status_prohibits");
    let (s, x) = delete(&env, &key, "aceitar.pt").await;
    assert_problem("delete pendingCreate", s, &x, 409, "status_prohibits");
    let (s, x) = patch_domain(&env, &key, "aceitar.pt", json!({"auto_renew": false})).await;
    assert_problem("update pendingCreate", s, &x, 409, "status_prohibits");

    let d = env.registry.decide_registration("aceitar.pt", true, "ok", Actor::User("maria".into())).await.unwrap();
    assert!(!d.unwrap().has(Status::PendingCreate));
    let x = domain(&env, &key, "aceitar.pt").await;
    assert!(!has_status(&x, "pendingCreate"), "{x}");
    let r = env.registry.decide_registration("recusar.pt", false, "not eligible", system("test")).await.unwrap();
    assert!(r.is_none());
    let (s, x) = get_domain(&env, &key, "recusar.pt").await;
    assert_problem("a refused registration", s, &x, 404, "not_found");
    assert!(available(&env, &key, "recusar.pt").await);
    assert_eq!(env.balance(&key).await, OPENING - CREATE, "the refused registration is refunded");
    assert_eq!(
        poll_kinds(&env, &key).await,
        vec![pair("create.accepted", "aceitar.pt"), pair("create.refused", "recusar.pt")]
    );
    let err = env.registry.decide_registration("aceitar.pt", true, "again", system("test")).await.unwrap_err();
    assert_eq!(err.code.as_str(), "conflict", "{err}");
    assert!(env.registry.domains_with_status(Status::PendingCreate, None, 100).unwrap().is_empty());
    let ledger: i64 = env.registry.ledger("reg-a", 10_000).unwrap().iter().map(|e| e.amount_cents).sum();
    assert_eq!(ledger, env.balance(&key).await);

    // Expiry and the job never touch a registration in review.
    let (s, v) = env.register(&key, "esperar.pt", &h, json!({"auto_renew": false})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    env.clock.advance(800 * DAY);
    let rep = job(&env).await;
    assert_eq!((rep.examined, rep.expired, rep.auto_renewed), (1, 0, 1), "only aceitar.pt is due: {rep:?}");
    let x = domain(&env, &key, "esperar.pt").await;
    assert!(has_status(&x, "pendingCreate") && !has_status(&x, "pendingDelete"), "{x}");
    assert_eq!(x["expires"], v["expires"]);
    assert_eq!(job(&env).await.examined, 0);
    // Accepted at last, it gets the period it asked for from now, not what is left of it (here
    // nothing: it would expire at the next run of the job).
    let balance = env.balance(&key).await;
    let d = env.registry.decide_registration("esperar.pt", true, "ok", system("test")).await.unwrap().unwrap();
    assert_eq!(d.expires, env.registry.now().add_years(1));
    assert_eq!(job(&env).await.examined, 0);
    assert_eq!(env.balance(&key).await, balance, "nothing charged at acceptance");
}

// ---------------------------------------------------------------------------------------------
// 7. Server statuses

#[tokio::test]
async fn server_statuses_bind_the_registrar() {
    let (env, key, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let v = register_ok(&env, &key, "bloqueado.pt", &h, json!({})).await;
    let (auth, roid) = (v["auth_code"].as_str().unwrap().to_string(), v["roid"].as_str().unwrap().to_string());
    let maria = || Actor::User("maria".into());
    let set =
        |add: Vec<Status>, remove: Vec<Status>| env.registry.set_server_statuses("bloqueado.pt", add, remove, maria());

    set(vec![Status::ServerUpdateProhibited], vec![]).await.unwrap();
    let (s, x) = patch_domain(&env, &key, "bloqueado.pt", json!({"auto_renew": false})).await;
    assert_problem("serverUpdateProhibited", s, &x, 409, "status_prohibits");
    let (s, x) = patch_domain(&env, &key, "bloqueado.pt", json!({"remove_status": ["serverUpdateProhibited"]})).await;
    assert_problem("registrar removes a server status", s, &x, 400, "invalid_request");
    assert!(has_status(&domain(&env, &key, "bloqueado.pt").await, "serverUpdateProhibited"));

    set(vec![Status::ServerTransferProhibited], vec![Status::ServerUpdateProhibited]).await.unwrap();
    let (s, x) = transfer(&env, &key_b, "bloqueado.pt", &auth, &roid).await;
    assert_problem("serverTransferProhibited", s, &x, 409, "status_prohibits");

    set(vec![Status::ServerDeleteProhibited], vec![Status::ServerTransferProhibited]).await.unwrap();
    let (s, x) = delete(&env, &key, "bloqueado.pt").await;
    assert_problem("serverDeleteProhibited", s, &x, 409, "status_prohibits");

    set(vec![Status::ServerRenewProhibited], vec![Status::ServerDeleteProhibited]).await.unwrap();
    advance_to(&env, expires(&v).add_days(-30));
    let (s, x) = renew(&env, &key, "bloqueado.pt", 1, 2027).await;
    assert_problem("serverRenewProhibited", s, &x, 409, "status_prohibits");

    for body in [json!({"remove_status": ["serverHold"]}), json!({"add_status": ["serverHold"]})] {
        let (s, x) = patch_domain(&env, &key, "bloqueado.pt", body.clone()).await;
        assert_problem(&format!("registrar PATCH {body}"), s, &x, 400, "invalid_request");
    }
    let e = env.registry.set_server_statuses("bloqueado.pt", vec![Status::ClientHold], vec![], maria()).await;
    assert_eq!(e.unwrap_err().code.as_str(), "invalid_request", "the registry sets only server statuses");

    set(vec![], vec![Status::ServerRenewProhibited]).await.unwrap();
    let x = domain(&env, &key, "bloqueado.pt").await;
    assert!(!statuses(&x).iter().any(|s| s.starts_with("server")), "{x}");
    let (s, x) = renew(&env, &key, "bloqueado.pt", 1, 2027).await;
    assert_eq!(s, StatusCode::OK, "{x}");
    assert_eq!(env.balance(&key).await, OPENING - CREATE - RENEW);
    assert_eq!(env.balance(&key_b).await, OPENING);
    let hist = history(&env, &key, "bloqueado.pt").await;
    let server: Vec<&Value> = hist.iter().filter(|e| e["operation"] == "domain.server_status").collect();
    assert_eq!(server.len(), 5, "{hist:?}");
    assert!(server.iter().all(|e| e["actor"] == "registry" && e["amount_cents"] == 0), "{server:?}");
}

// ---------------------------------------------------------------------------------------------
// 8. Idempotency keys

#[tokio::test]
async fn create_with_idempotency_key_answers_the_same_and_charges_once() {
    let (env, key, h) = setup().await;
    let body = json!({"name": "idem.pt", "period_years": 1, "registrant": h, "admin": h, "tech": h});
    let (s1, v1) = post_idem(&env, &key, "create-1", "/api/v1/domains", &body).await;
    assert_eq!(s1, StatusCode::CREATED, "{v1}");
    let (s2, v2) = post_idem(&env, &key, "create-1", "/api/v1/domains", &body).await;
    assert_eq!(s2, StatusCode::CREATED, "the retry gets the first answer: {v2}");
    assert_eq!(v1, v2);
    assert_eq!(env.balance(&key).await, OPENING - CREATE);
    assert_eq!(operations(&history(&env, &key, "idem.pt").await), ["domain.create"]);
    let other = json!({"name": "idem2.pt", "period_years": 1, "registrant": h, "admin": h, "tech": h});
    let (s, x) = post_idem(&env, &key, "create-1", "/api/v1/domains", &other).await;
    assert_problem("same key, another body", s, &x, 409, "conflict");
    assert!(available(&env, &key, "idem2.pt").await);
    assert_eq!(env.balance(&key).await, OPENING - CREATE);
    // Keys are per registrar: reg-b's "create-1" is a request of its own.
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    let body_b = json!({"name": "idem2.pt", "period_years": 1, "registrant": h_b, "admin": h_b, "tech": h_b});
    let (s, x) = post_idem(&env, &key_b, "create-1", "/api/v1/domains", &body_b).await;
    assert_eq!(s, StatusCode::CREATED, "{x}");
    assert_eq!(env.balance(&key_b).await, OPENING - CREATE);
}

#[tokio::test]
async fn renew_and_transfer_with_idempotency_key_charge_once() {
    let (env, key_a, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    let v = register_ok(&env, &key_a, "repete.pt", &h, json!({})).await;
    register_ok(&env, &key_a, "leva.pt", &h, json!({})).await;
    register_ok(&env, &key_b, "dob.pt", &h_b, json!({})).await;
    advance_to(&env, expires(&v).add_days(-30));
    let (auth, roid) = new_auth_code(&env, &key_a, "leva.pt").await;

    let path = "/api/v1/domains/repete.pt/renew";
    let body = json!({"period_years": 1, "current_expiry_year": 2027});
    let (s1, v1) = post_idem(&env, &key_a, "renew-1", path, &body).await;
    assert_eq!(s1, StatusCode::OK, "{v1}");
    let (s2, v2) = post_idem(&env, &key_a, "renew-1", path, &body).await;
    assert_eq!(s2, StatusCode::OK, "the retry is not an expiry_year_mismatch: {v2}");
    assert_eq!(v1, v2, "identical answers");
    assert_eq!(expiry_year(&domain(&env, &key_a, "repete.pt").await), 2028);
    assert_eq!(env.balance(&key_a).await, OPENING - 2 * CREATE - RENEW);
    assert_eq!(operations(&history(&env, &key_a, "repete.pt").await), ["domain.create", "domain.renew"]);

    // The same key with another body, or on another call, is refused.
    let body3 = json!({"period_years": 3, "current_expiry_year": 2027});
    let (s, x) = post_idem(&env, &key_a, "renew-1", path, &body3).await;
    assert_problem("same key, another body", s, &x, 409, "conflict");
    let (s, x) = post_idem(&env, &key_a, "renew-1", "/api/v1/domains/leva.pt/renew", &body).await;
    assert_problem("same key, another domain", s, &x, 409, "conflict");
    assert_eq!(env.balance(&key_a).await, OPENING - 2 * CREATE - RENEW);

    // Keys are per registrar: reg-b's "renew-1" is its own.
    let (s, x) = post_idem(&env, &key_b, "renew-1", "/api/v1/domains/dob.pt/renew", &body).await;
    assert_eq!(s, StatusCode::OK, "{x}");
    assert_eq!(env.balance(&key_b).await, OPENING - CREATE - RENEW);

    // A retried transfer: the same answer, one charge, one message.
    let tbody = json!({"auth_code": auth, "roid": roid});
    let (s1, t1) = post_idem(&env, &key_b, "transfer-1", "/api/v1/domains/leva.pt/transfer", &tbody).await;
    assert_eq!(s1, StatusCode::OK, "{t1}");
    let (s2, t2) = post_idem(&env, &key_b, "transfer-1", "/api/v1/domains/leva.pt/transfer", &tbody).await;
    assert_eq!(s2, StatusCode::OK, "{t2}");
    assert_eq!(t1, t2);
    assert_eq!(env.balance(&key_b).await, OPENING - CREATE - RENEW - TRANSFER);
    assert_eq!(poll_kinds(&env, &key_a).await, vec![pair("transfer.away", "leva.pt")]);

    // Keys are kept a day; after that the lifecycle job forgets them.
    env.clock.advance(25 * HOUR);
    let rep = job(&env).await;
    assert_eq!(rep.idempotency_records_expired, 3, "reg-a renew-1, reg-b renew-1 and transfer-1: {rep:?}");
    let (s, x) = post_idem(&env, &key_a, "renew-1", path, &body).await;
    assert_problem("a forgotten key is a new request", s, &x, 409, "expiry_year_mismatch");
}

// ---------------------------------------------------------------------------------------------
// 9. Poll messages

#[tokio::test]
async fn poll_messages_in_order_and_acknowledged_once() {
    let (env, key_a, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let names = ["primeiro.pt", "segundo.pt", "terceiro.pt"];
    for n in names {
        register_ok(&env, &key_a, n, &h, json!({})).await;
    }
    for n in names {
        let (auth, roid) = auth_of(&env, &key_a, n).await;
        let (s, x) = transfer(&env, &key_b, n, &auth, &roid).await;
        assert_eq!(s, StatusCode::OK, "{x}");
    }
    let (count, msgs) = poll(&env, &key_a).await;
    assert_eq!(count, 3);
    assert_eq!(
        poll_kinds(&env, &key_a).await,
        names.iter().map(|n| pair("transfer.away", n)).collect::<Vec<_>>(),
        "oldest first"
    );
    let ids: Vec<u64> = msgs.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(msgs.iter().all(|m| Timestamp::parse_rfc3339(m["at"].as_str().unwrap()).is_some()));
    assert!(msgs[0]["text"].as_str().unwrap().contains("reg-b"), "{msgs:?}");
    assert_eq!(poll(&env, &key_b).await, (0, vec![]));

    let (s, x) = env.call("DELETE", &format!("/api/v1/poll/{}", ids[0]), Some(&key_b), None).await;
    assert_problem("another registrar acknowledges", s, &x, 404, "not_found");
    assert_eq!(poll(&env, &key_a).await.0, 3);
    let (s, x) = env.call("DELETE", &format!("/api/v1/poll/{}", ids[0]), Some(&key_a), None).await;
    assert_eq!((s, x), (StatusCode::NO_CONTENT, Value::Null));
    let (count, msgs) = poll(&env, &key_a).await;
    assert_eq!(count, 2);
    assert_eq!(msgs[0]["id"], json!(ids[1]));
    let (s, x) = env.call("DELETE", &format!("/api/v1/poll/{}", ids[0]), Some(&key_a), None).await;
    assert_problem("second acknowledgement", s, &x, 404, "not_found");
    let (s, x) = env.call("DELETE", "/api/v1/poll/abc", Some(&key_a), None).await;
    assert_problem("not a message id", s, &x, 404, "not_found");
    let (s, x) = env.call("DELETE", &format!("/api/v1/poll/{}", ids[1]), None, None).await;
    assert_problem("no key", s, &x, 401, "unauthorized");
    ack_all(&env, &key_a).await;
    assert_eq!(poll(&env, &key_a).await, (0, vec![]));
}

// ---------------------------------------------------------------------------------------------
// 10. Concurrent renew and transfer

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfer_and_renew_race() {
    let env = Arc::new(Env::new());
    let key_a = env.registrar("reg-a", OPENING).await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h = env.org(&key_a).await;
    let names: Vec<String> = (0..20).map(|i| format!("corrida{i:02}.pt")).collect();
    let mut exp = Timestamp(0);
    for n in &names {
        exp = expires(&register_ok(&env, &key_a, n, &h, json!({})).await);
    }
    advance_to(&env, exp.add_days(-30));
    let mut codes = Vec::new();
    for n in &names {
        codes.push(new_auth_code(&env, &key_a, n).await);
    }

    let mut tasks = Vec::new();
    for (n, (auth, roid)) in names.iter().zip(codes) {
        let (env, key_a, key_b, n) = (env.clone(), key_a.clone(), key_b.clone(), n.clone());
        tasks.push(tokio::spawn(async move {
            let (r, t) = tokio::join!(renew(&env, &key_a, &n, 1, 2027), transfer(&env, &key_b, &n, &auth, &roid));
            (n, r, t)
        }));
    }
    let (mut renewed, mut transferred) = (0i64, 0i64);
    let mut history_by_actor = std::collections::BTreeMap::<String, i64>::new();
    for t in tasks {
        let (n, (rs, rv), (ts, tv)) = t.await.unwrap();
        let d = env.registry.domain_any(&n).unwrap().unwrap();
        // The transfer never loses: a renew changes nothing it checks.
        assert_eq!(ts, StatusCode::OK, "{n}: transfer {tv}");
        assert_eq!(d.registrar == "reg-b", ts == StatusCode::OK, "{n}: sponsor {} after {ts}", d.registrar);
        match rs.as_u16() {
            200 => {
                assert_eq!(d.expires.year(), 2028, "{n}");
                renewed += 1;
            }
            403 => {
                assert_eq!(code(&rv), "not_sponsor", "{n}: {rv}");
                assert_eq!(d.expires.year(), 2027, "{n}");
            }
            other => panic!("{n}: renew answered {other}: {rv}"),
        }
        transferred += i64::from(ts == StatusCode::OK);
        let sponsor = if d.registrar == "reg-b" { &key_b } else { &key_a };
        for e in history(&env, sponsor, &n).await {
            *history_by_actor.entry(e["actor"].as_str().unwrap().to_string()).or_default() +=
                e["amount_cents"].as_i64().unwrap();
        }
    }
    let (bal_a, bal_b) = (env.balance(&key_a).await, env.balance(&key_b).await);
    assert_eq!(bal_a, OPENING - 20 * CREATE - RENEW * renewed);
    assert_eq!(bal_b, OPENING - TRANSFER * transferred);
    assert_eq!(OPENING + history_by_actor["registrar:reg-a"], bal_a, "{history_by_actor:?}");
    assert_eq!(OPENING + history_by_actor["registrar:reg-b"], bal_b, "{history_by_actor:?}");
    for (id, bal) in [("reg-a", bal_a), ("reg-b", bal_b)] {
        let ledger = env.registry.ledger(id, 10_000).unwrap();
        let moves: i64 = ledger.iter().filter(|e| e.operation != "registrar.credit").map(|e| e.amount_cents).sum();
        assert_eq!(moves, bal - OPENING, "{id}: ledger {ledger:?}");
        assert_eq!(ledger.last().unwrap().balance_after_cents, bal, "{id}");
    }
    assert!(env.registry.audit().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 11. The lifecycle job

#[tokio::test]
async fn the_job_is_idempotent_and_idle_days_do_nothing() {
    let (env, key, h) = setup().await;
    let v = register_ok(&env, &key, "renova.pt", &h, json!({})).await;
    register_ok(&env, &key, "expira.pt", &h, json!({"auto_renew": false})).await;
    register_ok(&env, &key, "apaga.pt", &h, json!({})).await;
    let (s, x) = delete(&env, &key, "apaga.pt").await;
    assert_eq!(s, StatusCode::OK, "{x}");
    let idle = job(&env).await;
    assert_eq!((idle.examined, idle.batches), (0, 0), "nothing due at creation: {idle:?}");

    advance_to(&env, expires(&v).add_days(1));
    let rep = job(&env).await;
    assert_eq!(
        (rep.examined, rep.auto_renewed, rep.expired, rep.purged, rep.registrant_changes_cancelled, rep.batches),
        (3, 1, 1, 1, 0, 1),
        "{rep:?}"
    );
    let balance = env.balance(&key).await;
    assert_eq!(balance, OPENING - 3 * CREATE - RENEW);
    let before = (domain(&env, &key, "renova.pt").await, domain(&env, &key, "expira.pt").await, poll(&env, &key).await);

    let again = job(&env).await;
    assert_eq!(
        (again.examined, again.auto_renewed, again.expired, again.purged, again.registrant_changes_cancelled),
        (0, 0, 0, 0, 0),
        "a second run at the same time changes nothing: {again:?}"
    );
    assert_eq!((again.batches, again.idempotency_records_expired), (0, 0), "{again:?}");
    let after = (domain(&env, &key, "renova.pt").await, domain(&env, &key, "expira.pt").await, poll(&env, &key).await);
    assert_eq!(before, after);
    assert_eq!(env.balance(&key).await, balance);

    env.clock.advance(DAY);
    let rep = job(&env).await;
    assert_eq!(rep.examined, 0, "a day with nothing due: {rep:?}");
    assert_eq!(env.balance(&key).await, balance);
    assert!(env.registry.audit().unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// 12. The admin clock API

#[tokio::test]
async fn admin_clock_api() {
    let (env, key, h) = setup().await;
    register_ok(&env, &key, "relogio.pt", &h, json!({"auto_renew": false})).await;
    let (_, pw) = env.registry.user_add("ops", Role::Admin, system("test")).await.unwrap();
    let (_, pw_s) = env.registry.user_add("helpdesk", Role::Support, system("test")).await.unwrap();
    let ops = basic("ops", &pw);
    let support = basic("helpdesk", &pw_s);

    let (s, v) = admin(&env.app, "GET", "/admin/api/clock", &ops, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["now"], json!("2026-11-22T10:00:00Z"));
    let (s, v) = admin(&env.app, "GET", "/admin/api/clock", &support, None).await;
    assert_eq!((s, v["now"].clone()), (StatusCode::OK, json!("2026-11-22T10:00:00Z")), "support reads: {v}");

    for (label, auth) in [
        ("wrong password", basic("ops", "not-the-password")),
        ("unknown user", basic("nobody", &pw)),
        ("a registrar key", format!("Bearer {key}")),
        ("garbage", "Basic !!!".to_string()),
    ] {
        let (s, v) = admin(&env.app, "GET", "/admin/api/clock", &auth, None).await;
        assert_problem(label, s, &v, 401, "unauthorized");
        let (s, v) = admin(&env.app, "POST", "/admin/api/clock/advance", &auth, Some(json!({"days": 1}))).await;
        assert_problem(label, s, &v, 401, "unauthorized");
    }
    let (s, v) = admin(&env.app, "POST", "/admin/api/clock/advance", &support, Some(json!({"days": 400}))).await;
    assert_problem("support advances", s, &v, 403, "forbidden");
    for days in [0, -1, 5000] {
        let (s, v) = admin(&env.app, "POST", "/admin/api/clock/advance", &ops, Some(json!({"days": days}))).await;
        assert_problem(&format!("days {days}"), s, &v, 400, "invalid_request");
    }
    let (s, v) = admin(&env.app, "POST", "/admin/api/clock/advance", &ops, Some(json!({"weeks": 1}))).await;
    assert_problem("unknown field", s, &v, 400, "invalid_request");
    assert_eq!(env.registry.now(), Timestamp(T0), "refusals move nothing");

    let (s, v) = admin(&env.app, "POST", "/admin/api/clock/advance", &ops, Some(json!({"days": 400}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let moved = Timestamp(T0 + 400 * DAY);
    assert_eq!(env.registry.now(), moved);
    assert_eq!(v["now"], json!(moved.to_rfc3339()));
    assert_eq!((v["lifecycle"]["examined"].as_u64(), v["lifecycle"]["expired"].as_u64()), (Some(1), Some(1)), "{v}");
    let d = domain(&env, &key, "relogio.pt").await;
    assert!(has_status(&d, "pendingDelete"), "the job ran in the same call: {d}");
    assert_eq!(poll_kinds(&env, &key).await, vec![pair("domain.expired", "relogio.pt")]);
    let (s, v) = admin(&env.app, "GET", "/admin/api/clock", &support, None).await;
    assert_eq!((s, v["now"].clone()), (StatusCode::OK, json!(moved.to_rfc3339())));
}

#[tokio::test]
async fn admin_clock_api_refuses_to_move_the_system_clock() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "");
    let settings = nicbox::config::load(&path).unwrap();
    std::fs::create_dir_all(&settings.data_dir).unwrap();
    let store = Store::create(&settings.db_path()).unwrap();
    let registry = Registry::with_clock(store, settings, Clock::system());
    let app = nicbox::http::app(registry.clone());
    let (_, pw) = registry.user_add("ops", Role::Admin, system("test")).await.unwrap();
    let ops = basic("ops", &pw);
    let before = registry.now();
    let (s, v) = admin(&app, "POST", "/admin/api/clock/advance", &ops, Some(json!({"days": 1}))).await;
    assert_problem("advance a system clock", s, &v, 409, "conflict");
    let (s, v) = admin(&app, "GET", "/admin/api/clock", &ops, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["kind"], json!("system"));
    let now = Timestamp::parse_rfc3339(v["now"].as_str().unwrap()).unwrap();
    assert!((now.0 - before.0).abs() < 3_600, "system time, not a day later: {v}");
}
