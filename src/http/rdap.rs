//! RDAP (RFC 7480, 9082, 9083): domain, nameserver, entity (registrars) and help, from the same
//! disclosure as WHOIS (`directory`), with RFC 9537 `redacted` entries for every withheld field.
//!
//! Searches answer 501; a name outside the registry's TLDs 400; an unregistered name 404. Every
//! answer is `application/rdap+json` with `Access-Control-Allow-Origin: *`. Queries count
//! against the same per-origin budget as WHOIS and go to the same query log.

use std::net::IpAddr;

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::tls::ClientAddr;
use crate::abuse::Verdict;
use crate::directory::{self, Lookup, PublicParty, PublicRecord, Withheld};
use crate::model::{QueryOutcome, Status, Timestamp};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/domain/{name}", get(domain))
        .route("/nameserver/{name}", get(nameserver))
        .route("/entity/{handle}", get(entity))
        .route("/help", get(help))
        .route("/domains", get(search))
        .route("/nameservers", get(search))
        .route("/entities", get(search))
        .fallback(not_found_path)
}

/// The client's address (127.0.0.1 for requests made in memory by tests).
pub struct PeerIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<axum::extract::ConnectInfo<ClientAddr>>()
            .map(|c| c.0.0.ip())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        Ok(PeerIp(ip))
    }
}

const CONFORMANCE: &[&str] = &["rdap_level_0", "redacted"];

fn rdap(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/rdap+json"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    resp
}

fn error(status: StatusCode, title: &str, description: &str) -> Response {
    rdap(
        status,
        json!({
            "rdapConformance": CONFORMANCE,
            "errorCode": status.as_u16(),
            "title": title,
            "description": [description],
        }),
    )
}

fn notices(s: &AppState) -> Value {
    let base = &s.registry.settings().public_url;
    json!([{
        "title": "Terms of Use",
        "description": [
            format!("{} publishes registration data under its directory policy: one criterion, the domain name.", s.registry.settings().registry_name),
            "Personal data of natural persons is not disclosed, nor anyone's email address or phone number (GDPR).",
            "Write to a domain's holder through the anonymised contact form linked from each domain.",
        ],
        "links": [{"value": format!("{base}/rdap/help"), "rel": "terms-of-service", "href": format!("{base}/"), "type": "text/html"}],
    }])
}

/// The per-origin budget shared with WHOIS; `Err` is the 429 answer.
#[allow(clippy::result_large_err)] // the error is the response itself
fn admit(s: &AppState, ip: IpAddr, query: &str) -> Result<(), Response> {
    let (retry, text) = match s.guard.check(ip) {
        Verdict::Allow => return Ok(()),
        Verdict::Limited { retry_after_secs } => (retry_after_secs, "too many queries from your address".to_string()),
        Verdict::Suspended { until } => {
            let secs = (until.0 - s.registry.now().0).max(1) as u64;
            (secs, format!("your address is suspended until {}", until.to_rfc3339()))
        }
    };
    s.guard.log(ip, "rdap", query, QueryOutcome::Limited);
    let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded", &text);
    if let Ok(v) = HeaderValue::from_str(&retry.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Err(resp)
}

/// RFC 8056 mapping of EPP statuses to RDAP status values.
pub fn rdap_status(s: Status) -> &'static str {
    match s {
        Status::Ok => "active",
        Status::Inactive => "inactive",
        Status::PendingCreate => "pending create",
        Status::PendingDelete => "pending delete",
        Status::PendingUpdate => "pending update",
        Status::RedemptionPeriod => "redemption period",
        Status::ClientHold => "client hold",
        Status::ServerHold => "server hold",
        Status::ClientTransferProhibited => "client transfer prohibited",
        Status::ServerTransferProhibited => "server transfer prohibited",
        Status::ClientUpdateProhibited => "client update prohibited",
        Status::ServerUpdateProhibited => "server update prohibited",
        Status::ClientDeleteProhibited => "client delete prohibited",
        Status::ServerDeleteProhibited => "server delete prohibited",
        Status::ClientRenewProhibited => "client renew prohibited",
        Status::ServerRenewProhibited => "server renew prohibited",
    }
}

fn role_title(role: &str) -> &'static str {
    match role {
        "registrant" => "Registrant",
        "administrative" => "Admin",
        _ => "Tech",
    }
}

/// A contact entity as the directory may show it, with its `redacted` entries (RFC 9537).
fn party_entity(p: &PublicParty, role: &str) -> (Value, Vec<Value>) {
    let mut vcard = vec![json!(["version", {}, "text", "4.0"])];
    vcard.push(json!(["kind", {}, "text", if p.disclosed() { "org" } else { "individual" }]));
    vcard.push(json!(["fn", {}, "text", p.name.clone().unwrap_or_default()]));
    if let Some(org) = &p.organization {
        vcard.push(json!(["org", {}, "text", org]));
    }
    vcard.push(json!([
        "adr",
        {"cc": p.country_code},
        "text",
        ["", "", p.street.join(", "), p.city.clone().unwrap_or_default(), "", p.postal_code.clone().unwrap_or_default(), ""]
    ]));
    let title = role_title(role);
    let base = format!("$.entities[?(@.roles[0]=='{role}')].vcardArray[1]");
    let mut redacted = Vec::new();
    for w in directory::withheld(p) {
        let entry = match w {
            Withheld::Name => json!({
                "name": {"type": format!("{title} Name")},
                "path": format!("{base}[?(@[0]=='fn')][3]"),
                "pathLang": "jsonpath", "method": "emptyValue", "reason": {"type": "Server policy"}}),
            Withheld::Organization => json!({
                "name": {"type": format!("{title} Organization")},
                "prePath": format!("{base}[?(@[0]=='org')]"),
                "pathLang": "jsonpath", "method": "removal", "reason": {"type": "Server policy"}}),
            Withheld::Address => json!({
                "name": {"type": format!("{title} Street")},
                "path": format!("{base}[?(@[0]=='adr')][3][2]"),
                "pathLang": "jsonpath", "method": "emptyValue", "reason": {"type": "Server policy"}}),
            Withheld::Email => json!({
                "name": {"type": format!("{title} Email")},
                "prePath": format!("{base}[?(@[0]=='email')]"),
                "pathLang": "jsonpath", "method": "removal", "reason": {"type": "Server policy"}}),
            Withheld::Phone => json!({
                "name": {"type": format!("{title} Phone")},
                "prePath": format!("{base}[?(@[0]=='tel')]"),
                "pathLang": "jsonpath", "method": "removal", "reason": {"type": "Server policy"}}),
        };
        redacted.push(entry);
        if w == Withheld::Address {
            for (field, idx) in [("City", 3), ("Postal Code", 5)] {
                redacted.push(json!({
                    "name": {"type": format!("{title} {field}")},
                    "path": format!("{base}[?(@[0]=='adr')][3][{idx}]"),
                    "pathLang": "jsonpath", "method": "emptyValue", "reason": {"type": "Server policy"}}));
            }
        }
    }
    let entity = json!({
        "objectClassName": "entity",
        "handle": p.handle,
        "roles": [role],
        "vcardArray": ["vcard", vcard],
    });
    (entity, redacted)
}

fn registrar_entity(s: &AppState, id: &str, name: &str) -> Value {
    let base = &s.registry.settings().public_url;
    json!({
        "objectClassName": "entity",
        "handle": id,
        "roles": ["registrar"],
        "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name]]],
        "links": [{"value": format!("{base}/rdap/entity/{id}"), "rel": "self",
                   "href": format!("{base}/rdap/entity/{id}"), "type": "application/rdap+json"}],
    })
}

fn event(action: &str, at: Timestamp) -> Value {
    json!({"eventAction": action, "eventDate": at.to_rfc3339()})
}

fn nameserver_json(s: &AppState, n: &directory::PublicNameserver) -> Value {
    let base = &s.registry.settings().public_url;
    let mut v = json!({
        "objectClassName": "nameserver",
        "ldhName": n.name,
        "links": [{"value": format!("{base}/rdap/nameserver/{}", n.name), "rel": "self",
                   "href": format!("{base}/rdap/nameserver/{}", n.name), "type": "application/rdap+json"}],
    });
    // Only non-empty lists: an empty one is an error under RFC 9083 (as ICANN's rdap-test says).
    let mut ips = serde_json::Map::new();
    if !n.ipv4.is_empty() {
        ips.insert("v4".into(), json!(n.ipv4.iter().map(ToString::to_string).collect::<Vec<_>>()));
    }
    if !n.ipv6.is_empty() {
        ips.insert("v6".into(), json!(n.ipv6.iter().map(ToString::to_string).collect::<Vec<_>>()));
    }
    if !ips.is_empty() {
        v["ipAddresses"] = serde_json::Value::Object(ips);
    }
    let (unicode, ok) = idna::domain_to_unicode(&n.name);
    if ok.is_ok() && unicode != n.name {
        v["unicodeName"] = json!(unicode);
    }
    v
}

/// The RDAP domain object of a public record.
pub fn domain_json(s: &AppState, r: &PublicRecord) -> Value {
    let base = &s.registry.settings().public_url;
    let mut entities = vec![registrar_entity(s, &r.registrar_id, &r.registrar_name)];
    let mut redacted = Vec::new();
    for (party, role) in
        [(Some(&r.owner), "registrant"), (r.admin.as_ref(), "administrative"), (r.tech.as_ref(), "technical")]
    {
        if let Some(p) = party {
            let (e, red) = party_entity(p, role);
            entities.push(e);
            redacted.extend(red);
        }
    }
    let mut v = json!({
        "rdapConformance": CONFORMANCE,
        "objectClassName": "domain",
        "handle": r.roid,
        "ldhName": r.name,
        "status": r.statuses.iter().map(|s| rdap_status(*s)).collect::<Vec<_>>(),
        "events": [
            event("registration", r.created),
            event("expiration", r.expires),
            event("last changed", r.updated),
            event("last update of RDAP database", s.registry.now()),
        ],
        "entities": entities,
        "nameservers": r.nameservers.iter().map(|n| nameserver_json(s, n)).collect::<Vec<_>>(),
        "secureDNS": {"delegationSigned": r.signed()},
        "links": [
            {"value": format!("{base}/rdap/domain/{}", r.name), "rel": "self",
             "href": format!("{base}/rdap/domain/{}", r.name), "type": "application/rdap+json"},
            {"value": format!("{base}/rdap/domain/{}", r.name), "rel": "about", "title": "Anonymised contact form",
             "href": r.contact_form, "type": "text/html"},
        ],
        "notices": notices(s),
        "redacted": redacted,
    });
    if r.signed() {
        v["secureDNS"]["dsData"] = r
            .ds
            .iter()
            .map(|d| json!({"keyTag": d.key_tag, "algorithm": d.algorithm, "digestType": d.digest_type, "digest": d.digest}))
            .collect();
    }
    if r.is_idn() {
        v["unicodeName"] = json!(r.unicode_name);
    }
    v
}

async fn domain(State(s): State<AppState>, PeerIp(ip): PeerIp, Path(name): Path<String>) -> Response {
    if name.len() > crate::limits::NAME_INPUT_BYTES_MAX {
        return error(StatusCode::BAD_REQUEST, "invalid search", "the name is too long");
    }
    if let Err(resp) = admit(&s, ip, &name) {
        return resp;
    }
    let lookup = match directory::lookup(&s.registry, &name) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "rdap lookup failed");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", "please try again later");
        }
    };
    match lookup {
        Lookup::Found(r) => {
            s.guard.log(ip, "rdap", &name, QueryOutcome::Found);
            rdap(StatusCode::OK, domain_json(&s, &r))
        }
        Lookup::NoMatch(n) => {
            s.guard.log(ip, "rdap", &name, QueryOutcome::NoMatch);
            error(StatusCode::NOT_FOUND, "not found", &format!("{n} is not registered"))
        }
        Lookup::Invalid => {
            s.guard.log(ip, "rdap", &name, QueryOutcome::Invalid);
            error(StatusCode::BAD_REQUEST, "invalid search", "not a domain name of this registry")
        }
    }
}

async fn nameserver(State(s): State<AppState>, PeerIp(ip): PeerIp, Path(name): Path<String>) -> Response {
    if name.len() > crate::limits::NAME_INPUT_BYTES_MAX {
        return error(StatusCode::BAD_REQUEST, "invalid search", "the name is too long");
    }
    if let Err(resp) = admit(&s, ip, &name) {
        return resp;
    }
    let host = match idna::domain_to_ascii(name.trim().trim_end_matches('.')) {
        Ok(h) if !h.is_empty() => h,
        _ => {
            s.guard.log(ip, "rdap", &name, QueryOutcome::Invalid);
            return error(StatusCode::BAD_REQUEST, "invalid search", "not a host name");
        }
    };
    // A nameserver is shown when a published domain delegates to it; its addresses are the glue
    // its own domain gives (hosts inside a domain), none otherwise.
    let found = s.registry.nameserver_lookup(&host).ok().flatten().and_then(|d| {
        directory::disclose(&s.registry, &d)
            .ok()
            .flatten()
            .and_then(|r| r.nameservers.into_iter().find(|n| n.name == host))
    });
    match found {
        Some(n) => {
            s.guard.log(ip, "rdap", &name, QueryOutcome::Found);
            let mut v = nameserver_json(&s, &n);
            v["rdapConformance"] = json!(CONFORMANCE);
            v["notices"] = notices(&s);
            v["status"] = json!(["active"]);
            rdap(StatusCode::OK, v)
        }
        None => {
            s.guard.log(ip, "rdap", &name, QueryOutcome::NoMatch);
            error(StatusCode::NOT_FOUND, "not found", &format!("no registered domain delegates to {host}"))
        }
    }
}

/// Entities: registrars only (contacts appear embedded in their domains, as disclosure allows).
async fn entity(State(s): State<AppState>, PeerIp(ip): PeerIp, Path(handle): Path<String>) -> Response {
    if handle.len() > 64 {
        return error(StatusCode::BAD_REQUEST, "invalid search", "the handle is too long");
    }
    if let Err(resp) = admit(&s, ip, &handle) {
        return resp;
    }
    match s.registry.registrar_get(&handle) {
        Ok(r) if r.enabled => {
            s.guard.log(ip, "rdap", &handle, QueryOutcome::Found);
            let mut v = registrar_entity(&s, &r.id, &r.name);
            v["rdapConformance"] = json!(CONFORMANCE);
            v["notices"] = notices(&s);
            rdap(StatusCode::OK, v)
        }
        _ => {
            s.guard.log(ip, "rdap", &handle, QueryOutcome::NoMatch);
            error(StatusCode::NOT_FOUND, "not found", "no such entity (contacts are shown only inside their domains)")
        }
    }
}

async fn help(State(s): State<AppState>) -> Response {
    rdap(StatusCode::OK, json!({"rdapConformance": CONFORMANCE, "notices": notices(&s)}))
}

async fn search() -> Response {
    error(
        StatusCode::NOT_IMPLEMENTED,
        "searches are not offered",
        "the directory answers one criterion, the domain name (look up /rdap/domain/NAME)",
    )
}

async fn not_found_path() -> Response {
    error(StatusCode::NOT_FOUND, "not found", "no such RDAP path")
}
