//! RDAP (CONTRACT.md section 4; POLICY.md section 4) and the public JSON API.
//!
//! Router tests in memory for the objects, the disclosure and the errors; the real binary for
//! the per-origin budget RDAP shares with WHOIS, and for the agreement of RDAP and WHOIS over
//! every domain of the demo registry.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::demo_args;
use crate::common::{Env, Server, http_agent, http_call, org_body, person_body, run, whois_raw, write_config};

const OPENING: i64 = 10_000_000;
const RDAP_JSON: &str = "application/rdap+json";

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A registry with registrar `reg-a`: (env, key).
async fn setup() -> (Env, String) {
    let env = Env::new();
    let key = env.registrar("reg-a", OPENING).await;
    (env, key)
}

fn two_ns() -> Value {
    json!({"nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]})
}

/// `base` with the fields of `extra` set.
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// Registers `name` (with `extra` fields) and expects 201: the API's view of the domain.
async fn register(env: &Env, key: &str, name: &str, handle: &str, extra: Value) -> Value {
    let (s, v) = env.register(key, name, handle, extra).await;
    assert_eq!(s, StatusCode::CREATED, "{name}: {v}");
    v
}

/// An RDAP answer of the router, with its media type and CORS header checked: (status, JSON
/// body or Null, the body as text).
async fn rdap_req(env: &Env, method: &str, path: &str) -> (StatusCode, Value, String) {
    let resp = env.raw(method, path, None).await;
    let status = resp.status();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("content-type").as_deref(), Some(RDAP_JSON), "{method} {path}: content type");
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"), "{method} {path}: CORS");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
    let text = String::from_utf8(bytes.to_vec()).expect("RDAP answers are UTF-8");
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, v, text)
}

async fn rdap(env: &Env, path: &str) -> (StatusCode, Value, String) {
    rdap_req(env, "GET", path).await
}

/// The entity with `role` among a domain's entities.
fn entity<'a>(v: &'a Value, role: &str) -> &'a Value {
    v["entities"]
        .as_array()
        .unwrap_or_else(|| panic!("no entities: {v}"))
        .iter()
        .find(|e| e["roles"].as_array().is_some_and(|r| r.contains(&json!(role))))
        .unwrap_or_else(|| panic!("no {role} entity: {v}"))
}

/// The vCard properties named `name` of an entity.
fn props<'a>(e: &'a Value, name: &str) -> Vec<&'a Value> {
    assert_eq!(e["vcardArray"][0], "vcard", "{e}");
    e["vcardArray"][1].as_array().unwrap().iter().filter(|p| p[0] == name).collect()
}

fn prop<'a>(e: &'a Value, name: &str) -> Option<&'a Value> {
    let p = props(e, name);
    assert!(p.len() <= 1, "{name} appears {} times: {e}", p.len());
    p.first().copied()
}

/// The `fn` of an entity ("" when withheld).
fn vcard_fn(e: &Value) -> &str {
    prop(e, "fn").unwrap_or_else(|| panic!("no fn: {e}"))[3].as_str().unwrap()
}

/// The `adr` of an entity: (cc parameter, the seven components).
fn vcard_adr(e: &Value) -> (String, Vec<String>) {
    let adr = prop(e, "adr").unwrap_or_else(|| panic!("no adr: {e}"));
    let cc = adr[1]["cc"].as_str().unwrap_or_else(|| panic!("no cc: {adr}")).to_string();
    let parts: Vec<String> = adr[3].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
    assert_eq!(parts.len(), 7, "{adr}");
    (cc, parts)
}

/// The names (`name.type`) of the `redacted` entries starting with `prefix`.
fn redacted(v: &Value, prefix: &str) -> BTreeSet<String> {
    v["redacted"]
        .as_array()
        .unwrap_or_else(|| panic!("no redacted member: {v}"))
        .iter()
        .map(|r| r["name"]["type"].as_str().unwrap().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The date of the event `action`.
fn event<'a>(v: &'a Value, action: &str) -> &'a str {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["eventAction"] == action)
        .unwrap_or_else(|| panic!("no {action} event: {v}"))["eventDate"]
        .as_str()
        .unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

/// Asserts that none of `secrets` appears in an RDAP body (as sent, and re-serialized in case
/// the server escaped non-ASCII characters).
fn assert_hidden(label: &str, text: &str, v: &Value, secrets: &[&str]) {
    let plain = v.to_string();
    for s in secrets {
        assert!(!text.contains(s) && !plain.contains(s), "{label}: `{s}` disclosed:\n{text}");
    }
    assert!(!has_email(text), "{label}: an email address in\n{text}");
}

/// Whether `text` holds something like an email address (an `@` between word characters; the
/// JSONPath of `redacted` entries uses `@` after brackets).
fn has_email(text: &str) -> bool {
    let c: Vec<char> = text.chars().collect();
    (1..c.len().saturating_sub(1)).any(|i| c[i] == '@' && c[i - 1].is_alphanumeric() && c[i + 1].is_alphanumeric())
}

fn assert_error(label: &str, s: StatusCode, v: &Value, status: u16) {
    assert_eq!(s.as_u16(), status, "{label}: {v}");
    assert_eq!(v["errorCode"], status, "{label}: {v}");
    assert!(v["title"].is_string() && v["description"].is_array(), "{label}: {v}");
}

// ---------------------------------------------------------------------------------------------
// Domains

#[tokio::test]
async fn a_persons_domain_discloses_only_the_country() {
    let (env, key) = setup().await;
    let person = env.contact(&key, person_body()).await;
    register(&env, &key, "joao-goncalves.pt", &person, two_ns()).await;
    // A change a day later, so that the three dates differ.
    env.clock.advance(86_400);
    let (s, v) =
        env.call("PATCH", "/api/v1/domains/joao-goncalves.pt", Some(&key), Some(json!({"auto_renew": false}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, api) = env.call("GET", "/api/v1/domains/joao-goncalves.pt", Some(&key), None).await;
    assert_eq!(s, StatusCode::OK, "{api}");
    assert_ne!(api["created"], api["updated"], "{api}");

    let (s, v, text) = rdap(&env, "/rdap/domain/joao-goncalves.pt").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(v["objectClassName"], "domain");
    assert_eq!(v["ldhName"], "joao-goncalves.pt");
    assert_eq!(v["handle"], api["roid"], "the handle is the ROID");
    assert!(v.get("unicodeName").is_none(), "an ASCII name has no unicodeName: {v}");
    let conformance = strings(&v["rdapConformance"]);
    assert!(conformance.contains(&"rdap_level_0".into()) && conformance.contains(&"redacted".into()), "{v}");
    assert_eq!(v["status"], json!(["active"]), "ok maps to active (RFC 8056)");
    assert_eq!(event(&v, "registration"), api["created"].as_str().unwrap());
    assert_eq!(event(&v, "expiration"), api["expires"].as_str().unwrap());
    assert_eq!(event(&v, "last changed"), api["updated"].as_str().unwrap());
    for action in ["registration", "expiration", "last changed"] {
        let date = event(&v, action);
        assert!(nicbox::model::Timestamp::parse_rfc3339(date).is_some(), "{action}: {date} is not RFC 3339");
    }

    let registrant = entity(&v, "registrant");
    assert_eq!(registrant["objectClassName"], "entity");
    assert_eq!(vcard_fn(registrant), "", "a person's name is withheld: {registrant}");
    assert!(prop(registrant, "org").is_none(), "{registrant}");
    assert!(prop(registrant, "email").is_none() && prop(registrant, "tel").is_none(), "{registrant}");
    let (cc, parts) = vcard_adr(registrant);
    assert_eq!(cc, "PT");
    assert!(parts.iter().all(String::is_empty), "only the country of a person: {parts:?}");
    let want = set(&[
        "Registrant Name",
        "Registrant Organization",
        "Registrant Street",
        "Registrant City",
        "Registrant Postal Code",
        "Registrant Email",
        "Registrant Phone",
    ]);
    assert_eq!(redacted(&v, "Registrant "), want, "{v}");
    // The admin (the same person) is withheld alike.
    assert_eq!(vcard_fn(entity(&v, "administrative")), "");
    assert_eq!(redacted(&v, "Admin ").len(), 7, "{v}");
    for r in v["redacted"].as_array().unwrap() {
        assert_eq!(r["pathLang"], "jsonpath", "{r}");
        assert!(r["method"] == "removal" || r["method"] == "emptyValue", "{r}");
    }

    let p = person_body();
    let secrets = [
        p["email"].as_str().unwrap(),
        p["phone"].as_str().unwrap(),
        "912345678",
        p["fiscal_id"].as_str().unwrap(),
        p["name"].as_str().unwrap(),
        "Gonçalves",
        p["street"][0].as_str().unwrap(),
        "Rua da Prata",
        p["city"].as_str().unwrap(),
        p["postal_code"].as_str().unwrap(),
    ];
    assert_hidden("person", &text, &v, &secrets);
    let form = v["links"].as_array().unwrap().iter().find(|l| l["rel"] == "about").expect("a contact link");
    assert!(form["href"].as_str().unwrap().ends_with("/contact/joao-goncalves.pt"), "{form}");
    let registrar = entity(&v, "registrar");
    assert_eq!((registrar["handle"].as_str(), vcard_fn(registrar)), (Some("reg-a"), "Registrar reg-a"));
}

#[tokio::test]
async fn an_organizations_domain_shows_name_and_address_never_email_or_phone() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    register(&env, &key, "empresa-exemplo.pt", &org, two_ns()).await;
    let (s, v, text) = rdap(&env, "/rdap/domain/empresa-exemplo.pt").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let registrant = entity(&v, "registrant");
    assert_eq!(vcard_fn(registrant), "Exemplo, Lda.");
    assert_eq!(prop(registrant, "org").map(|o| o[3].clone()), Some(json!("Exemplo, Lda.")), "{registrant}");
    let (cc, parts) = vcard_adr(registrant);
    assert_eq!(cc, "PT");
    assert_eq!((parts[2].as_str(), parts[3].as_str(), parts[5].as_str()), ("Rua Augusta 1", "Lisboa", "1100-048"));
    assert!(prop(registrant, "email").is_none() && prop(registrant, "tel").is_none(), "{registrant}");
    assert_eq!(redacted(&v, "Registrant "), set(&["Registrant Email", "Registrant Phone"]), "{v}");
    assert_eq!(redacted(&v, "Admin "), set(&["Admin Email", "Admin Phone"]), "{v}");
    let o = org_body();
    assert_hidden(
        "organization",
        &text,
        &v,
        &[o["email"].as_str().unwrap(), o["phone"].as_str().unwrap(), "213456789", o["fiscal_id"].as_str().unwrap()],
    );

    // An organization that asked not to be shown is withheld like a person.
    register(&env, &key, "discreta.pt", &org, with(two_ns(), json!({"owner_visible": false}))).await;
    let (s, v, text) = rdap(&env, "/rdap/domain/discreta.pt").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let registrant = entity(&v, "registrant");
    assert_eq!(vcard_fn(registrant), "");
    assert!(prop(registrant, "org").is_none(), "{registrant}");
    assert_eq!(redacted(&v, "Registrant ").len(), 7, "{v}");
    assert_hidden("hidden organization", &text, &v, &["Exemplo, Lda.", "Rua Augusta", "1100-048", "213456789"]);
}

#[tokio::test]
async fn an_idn_answers_by_u_label_and_a_label() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    let d = register(&env, &key, "açores-turismo.pt", &org, two_ns()).await;
    assert_eq!(d["name"], "xn--aores-turismo-igb.pt", "{d}");
    let (s, by_u, text) = rdap(&env, &format!("/rdap/domain/{}", pct("açores-turismo.pt"))).await;
    assert_eq!(s, StatusCode::OK, "{text}");
    let (s, by_a, text) = rdap(&env, "/rdap/domain/xn--aores-turismo-igb.pt").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(by_u, by_a, "the same object by either label");
    assert_eq!(by_a["ldhName"], "xn--aores-turismo-igb.pt");
    assert_eq!(by_a["unicodeName"], "açores-turismo.pt");
    assert_eq!(by_a["handle"], d["roid"]);
    // Upper case and a final dot find it too.
    let (s, upper, _) = rdap(&env, "/rdap/domain/XN--AORES-TURISMO-IGB.PT.").await;
    assert_eq!(s, StatusCode::OK, "{upper}");
    assert_eq!(upper["ldhName"], "xn--aores-turismo-igb.pt");
}

#[tokio::test]
async fn dnssec_and_statuses() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    let digest = "0123456789abcdef".repeat(4);
    let ds = json!([{"key_tag": 12345, "algorithm": 13, "digest_type": 2, "digest": digest}]);
    register(&env, &key, "assinado.pt", &org, with(two_ns(), json!({"ds": ds}))).await;
    register(&env, &key, "nao-assinado.pt", &org, two_ns()).await;

    let (s, v, text) = rdap(&env, "/rdap/domain/assinado.pt").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(v["secureDNS"]["delegationSigned"], true, "{v}");
    assert_eq!(
        v["secureDNS"]["dsData"],
        json!([{"keyTag": 12345, "algorithm": 13, "digestType": 2, "digest": digest.to_ascii_uppercase()}])
    );
    let (s, v, text) = rdap(&env, "/rdap/domain/nao-assinado.pt").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(v["secureDNS"]["delegationSigned"], false, "{v}");
    assert!(v["secureDNS"]["dsData"].as_array().is_none_or(|a| a.is_empty()), "{v}");

    // Statuses go through RFC 8056; a domain without nameservers is inactive.
    let (s, p) = env
        .call(
            "PATCH",
            "/api/v1/domains/nao-assinado.pt",
            Some(&key),
            Some(json!({"add_status": ["clientTransferProhibited"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, v, _) = rdap(&env, "/rdap/domain/nao-assinado.pt").await;
    assert_eq!(v["status"], json!(["client transfer prohibited"]), "{v}");
    register(&env, &key, "sem-servidores.pt", &org, json!({})).await;
    let (_, v, _) = rdap(&env, "/rdap/domain/sem-servidores.pt").await;
    assert_eq!(v["status"], json!(["inactive"]), "{v}");
}

#[tokio::test]
async fn nameservers_show_their_glue_and_only_delegated_hosts() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    let ns = json!({"nameservers": [
        {"name": "ns1.glue-exemplo.pt", "addresses": ["192.0.2.1", "2001:db8::53"]},
        {"name": "ns2.example.net"}]});
    register(&env, &key, "glue-exemplo.pt", &org, ns).await;

    let (s, v, text) = rdap(&env, "/rdap/nameserver/ns1.glue-exemplo.pt").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(v["objectClassName"], "nameserver");
    assert_eq!(v["ldhName"], "ns1.glue-exemplo.pt");
    assert_eq!(v["ipAddresses"], json!({"v4": ["192.0.2.1"], "v6": ["2001:db8::53"]}), "{v}");
    assert!(strings(&v["rdapConformance"]).contains(&"rdap_level_0".into()), "{v}");

    let (s, v, text) = rdap(&env, "/rdap/nameserver/ns2.example.net").await;
    assert_eq!(s, StatusCode::OK, "an out-of-domain host a domain uses: {text}");
    assert_eq!(v["ldhName"], "ns2.example.net");
    assert!(v.get("ipAddresses").is_none(), "no glue outside the registry: {v}");

    let (s, v, _) = rdap(&env, "/rdap/nameserver/ns9.nenhum.net").await;
    assert_error("unknown host", s, &v, 404);

    // The domain lists the same two, with the glue on the first only.
    let (_, d, _) = rdap(&env, "/rdap/domain/glue-exemplo.pt").await;
    let list = d["nameservers"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{d}");
    assert_eq!(list[0]["ipAddresses"]["v4"], json!(["192.0.2.1"]), "{d}");
    assert!(list[1].get("ipAddresses").is_none(), "{d}");
}

/// A published domain delegates to a host inside a domain still in review (gov.pt): the
/// domain's RDAP object lists the host with a `self` link to `/rdap/nameserver/{host}`, which
/// must answer (without the pending domain's glue).
#[tokio::test]
async fn a_host_inside_a_pending_domain_used_by_a_published_one_is_shown() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    let ns = json!({"nameservers": [
        {"name": "ns1.ministerio.gov.pt", "addresses": ["192.0.2.1"]}, {"name": "ns2.example.net"}]});
    let (s, d) = env.register(&key, "ministerio.gov.pt", &org, ns).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let ns = json!({"nameservers": [{"name": "ns1.ministerio.gov.pt"}, {"name": "ns2.example.net"}]});
    register(&env, &key, "usa-o-ministerio.pt", &org, ns).await;
    let (s, d, _) = rdap(&env, "/rdap/domain/usa-o-ministerio.pt").await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["nameservers"][0]["ldhName"], "ns1.ministerio.gov.pt", "{d}");

    let (s, v, text) = rdap(&env, "/rdap/nameserver/ns1.ministerio.gov.pt").await;
    assert_eq!(s, StatusCode::OK, "a published domain delegates to it: {text}");
    assert_eq!(v["ldhName"], "ns1.ministerio.gov.pt");
    assert!(v.get("ipAddresses").is_none(), "the glue of a domain in review is not published: {v}");
}

#[tokio::test]
async fn entities_are_registrars_only() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    let (s, v, text) = rdap(&env, "/rdap/entity/reg-a").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert_eq!(v["objectClassName"], "entity");
    assert_eq!(v["handle"], "reg-a");
    assert_eq!(v["roles"], json!(["registrar"]));
    assert_eq!(vcard_fn(&v), "Registrar reg-a");
    assert!(!has_email(&text), "no registrar email either: {text}");
    let (s, v, _) = rdap(&env, &format!("/rdap/entity/{}", pct(&org))).await;
    assert_error("a contact handle", s, &v, 404);
    let (s, v, _) = rdap(&env, "/rdap/entity/nobody").await;
    assert_error("an unknown handle", s, &v, 404);
}

#[tokio::test]
async fn help_searches_and_errors() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    let (s, v, text) = rdap(&env, "/rdap/help").await;
    assert_eq!(s, StatusCode::OK, "{text}");
    assert!(v["notices"].as_array().is_some_and(|n| !n.is_empty()), "{v}");
    assert!(strings(&v["rdapConformance"]).contains(&"rdap_level_0".into()), "{v}");

    for path in ["/rdap/domains?name=x*", "/rdap/nameservers?name=ns1.*", "/rdap/entities?fn=Exemplo*"] {
        let (s, v, _) = rdap(&env, path).await;
        assert_error(path, s, &v, 501);
    }
    let (s, v, _) = rdap(&env, "/rdap/domain/google.com").await;
    assert_error("google.com", s, &v, 400);
    assert_eq!(v["title"], "invalid search");
    let (s, v, _) = rdap(&env, "/rdap/domain/livre-de-todo.pt").await;
    assert_error("a free name", s, &v, 404);
    let (s, v, _) = rdap(&env, "/rdap/domain/nada.com.pt").await;
    assert_error("a free name in com.pt", s, &v, 404);

    let (s, d) = env.register(&key, "ministerio-exemplo.gov.pt", &org, two_ns()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let (s, v, _) = rdap(&env, "/rdap/domain/ministerio-exemplo.gov.pt").await;
    assert_error("pendingCreate", s, &v, 404);
    let (s, v, _) = rdap(&env, "/rdap/nameserver/ns1.example.net").await;
    assert_error("a host only a pending domain uses", s, &v, 404);
    let (s, v, _) = rdap(&env, "/rdap/autnum/1").await;
    assert_error("an RDAP path not offered", s, &v, 404);
}

#[tokio::test]
async fn head_answers_without_a_body() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    register(&env, &key, "exemplo.pt", &org, two_ns()).await;
    let (s, _, text) = rdap_req(&env, "HEAD", "/rdap/domain/exemplo.pt").await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.is_empty(), "HEAD has no body: {text}");
    let (s, _, text) = rdap_req(&env, "HEAD", "/rdap/domain/livre-de-todo.pt").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(text.is_empty(), "{text}");
}

// ---------------------------------------------------------------------------------------------
// The public JSON API

async fn availability(env: &Env, name: &str) -> Value {
    let (s, v) = env.call("GET", &format!("/api/public/availability?name={}", pct(name)), None, None).await;
    assert_eq!(s, StatusCode::OK, "{name}: {v}");
    v
}

#[tokio::test]
async fn public_availability_and_stats() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;

    let v = availability(&env, "novo.pt").await;
    assert_eq!(
        (&v["name"], &v["unicode_name"], &v["available"], &v["reason"]),
        (&json!("novo.pt"), &json!("novo.pt"), &json!(true), &Value::Null)
    );
    let v = availability(&env, "lisboa.pt").await;
    assert_eq!((&v["available"], &v["reason"]), (&json!(false), &json!("reserved")), "{v}");
    let v = availability(&env, "google.com").await;
    assert_eq!((&v["available"], &v["reason"]), (&json!(false), &json!("other_tld")), "{v}");

    register(&env, &key, "açores-turismo.pt", &org, two_ns()).await;
    let v = availability(&env, "xn--aores-turismo-igb.pt").await;
    assert_eq!(v["available"], false, "{v}");
    assert_eq!(v["reason"], "registered", "{v}");
    assert_eq!(v["name"], "xn--aores-turismo-igb.pt", "{v}");
    assert_eq!(v["unicode_name"], "açores-turismo.pt", "{v}");
    let v = availability(&env, "açores-turismo.pt").await;
    assert_eq!(v["reason"], "registered", "by U-label too: {v}");

    for name in ["exemplo-um.pt", "exemplo-dois.pt", "exemplo.com.pt"] {
        register(&env, &key, name, &org, two_ns()).await;
    }
    let (s, d) = env.register(&key, "ministerio-exemplo.gov.pt", &org, two_ns()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{d}");
    let (s, v) = env.call("GET", "/api/public/stats", None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["domains"], 4, "pendingCreate is not counted: {v}");
    let by_zone = v["by_zone"].as_object().unwrap();
    let sum: i64 = by_zone.values().map(|n| n.as_i64().unwrap()).sum();
    assert_eq!(sum, 4, "{v}");
    assert_eq!((&by_zone["pt"], &by_zone["com.pt"]), (&json!(3), &json!(1)), "{v}");
    assert_eq!(by_zone.get("gov.pt").cloned().unwrap_or(json!(0)), 0, "{v}");
}

// ---------------------------------------------------------------------------------------------
// The real binary

const WHOIS_LISTEN: &str = "[whois]\nlisten = \"127.0.0.1:0\"\n";

/// `init`, then `registrar add` with an opening balance: returns the API key.
fn init_with_registrar(config: &Path, id: &str, cents: i64) -> String {
    let c = config.to_str().unwrap();
    let (code, out, err) = run(&["init", "--config", c]);
    assert_eq!(code, 0, "init: {out} {err}");
    let (code, out, err) = run(&[
        "registrar",
        "add",
        "--config",
        c,
        "--id",
        id,
        "--name",
        "Registos Teste, Lda.",
        "--balance-cents",
        &cents.to_string(),
    ]);
    assert_eq!(code, 0, "registrar add: {out} {err}");
    out.lines().find_map(|l| l.split("): ").nth(1)).expect("key printed").trim().to_string()
}

/// A GET against a running server: (status, headers by lower-case name, body text).
fn get(agent: &ureq::Agent, url: &str) -> (u16, HashMap<String, String>, String) {
    let mut resp = agent.get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, headers, text)
}

/// An RDAP GET against a running server, media type and CORS checked: (status, headers, JSON).
fn rdap_get(agent: &ureq::Agent, s: &Server, path: &str) -> (u16, HashMap<String, String>, Value) {
    let (status, headers, text) = get(agent, &s.url(path));
    assert_eq!(headers.get("content-type").map(String::as_str), Some(RDAP_JSON), "{path}: {headers:?}");
    assert_eq!(headers.get("access-control-allow-origin").map(String::as_str), Some("*"), "{path}");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    (status, headers, v)
}

fn ask(addr: SocketAddr, name: &str) -> String {
    String::from_utf8(whois_raw(addr, format!("{name}\r\n").as_bytes())).expect("WHOIS answers are UTF-8")
}

#[test]
fn rdap_and_whois_share_one_budget() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(WHOIS_LISTEN), "{text}");
    // A burst of 3 that refills slowly (one query per 30 s), so the test does not race the
    // refill on a busy machine; no suspension in sight.
    let limits = "rate_per_minute = 2\nburst = 3\nsuspend_after = 100\n";
    std::fs::write(&config, text.replacen(WHOIS_LISTEN, &format!("{WHOIS_LISTEN}{limits}"), 1)).unwrap();
    init_with_registrar(&config, "ptreg", 0);
    let s = Server::serve(&config);
    let agent = http_agent();

    assert_eq!(ask(s.whois, "livre.pt"), "livre.pt - No Match\r\n");
    assert_eq!(ask(s.whois, "livre.pt"), "livre.pt - No Match\r\n");
    let (status, _, v) = rdap_get(&agent, &s, "/rdap/domain/livre.pt");
    assert_eq!(status, 404, "the third query of the burst is answered: {v}");
    let (status, headers, v) = rdap_get(&agent, &s, "/rdap/domain/livre.pt");
    assert_eq!(status, 429, "the burst is spent: {v}");
    assert_eq!(v["errorCode"], 429, "{v}");
    let retry: u64 = headers
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {headers:?}"))
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    let a = ask(s.whois, "livre.pt");
    assert!(a.starts_with("% Rate limit exceeded"), "WHOIS shares the spent budget: {a}");
    // Help costs nothing.
    assert_eq!(rdap_get(&agent, &s, "/rdap/help").0, 200);
    assert_eq!(s.terminate().code(), Some(0));
}

/// The demo's first run, which creates the data directory, then stopped (a first run that
/// fails to serve is tolerated: see `whois::demo_first_run_serves`; the data is complete first).
fn create_demo(args: &[&str], dir: &Path) {
    let log_path = dir.join("first-run.log");
    let mut child = std::process::Command::new(crate::common::binary())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("listening protocol=http") && log.contains("listening protocol=whois") {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            assert_eq!(child.wait().unwrap().code(), Some(0));
            break;
        }
        assert!(Instant::now() < deadline, "the demo did not start: {log}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(log.contains("demo registry created"), "{log}");
}

/// Every page of a registrar's domains.
fn list_domains(agent: &ureq::Agent, s: &Server, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            Some(a) => s.url(&format!("/api/v1/domains?limit=500&after={}", pct(a))),
            None => s.url("/api/v1/domains?limit=500"),
        };
        let (status, v) = http_call(agent, "GET", &url, Some(key), None);
        assert_eq!(status, 200, "{v}");
        out.extend(v["domains"].as_array().unwrap().iter().cloned());
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    out
}

/// The fields of a WHOIS answer: every `key: value` line (repeated keys keep every value).
fn whois_fields(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.split("\r\n") {
        if line.starts_with('%') {
            continue;
        }
        if let Some((k, v)) = line.split_once(": ") {
            out.entry(k.to_string()).or_default().push(v.to_string());
        } else if let Some(k) = line.strip_suffix(':') {
            out.entry(k.to_string()).or_default().push(String::new());
        }
    }
    out
}

fn one<'a>(f: &'a BTreeMap<String, Vec<String>>, key: &str) -> Option<&'a str> {
    f.get(key).map(|v| {
        assert_eq!(v.len(), 1, "{key} appears {} times", v.len());
        v[0].as_str()
    })
}

/// `2026-11-22T10:00:00Z` as the .pt directory writes it: `22/11/2026 10:00:00`.
fn pt_date(rfc3339: &str) -> String {
    let t = nicbox::model::Timestamp::parse_rfc3339(rfc3339).unwrap_or_else(|| panic!("{rfc3339} is not RFC 3339"));
    t.to_pt()
}

/// RFC 8056 section 2: EPP status values and their RDAP names.
fn rfc8056(epp: &str) -> &'static str {
    match epp {
        "ok" => "active",
        "inactive" => "inactive",
        "pendingCreate" => "pending create",
        "pendingDelete" => "pending delete",
        "pendingRenew" => "pending renew",
        "pendingTransfer" => "pending transfer",
        "pendingUpdate" => "pending update",
        "pendingRestore" => "pending restore",
        "redemptionPeriod" => "redemption period",
        "clientHold" => "client hold",
        "serverHold" => "server hold",
        "clientTransferProhibited" => "client transfer prohibited",
        "serverTransferProhibited" => "server transfer prohibited",
        "clientUpdateProhibited" => "client update prohibited",
        "serverUpdateProhibited" => "server update prohibited",
        "clientDeleteProhibited" => "client delete prohibited",
        "serverDeleteProhibited" => "server delete prohibited",
        "clientRenewProhibited" => "client renew prohibited",
        "serverRenewProhibited" => "server renew prohibited",
        other => panic!("`{other}` is not an EPP status"),
    }
}

/// A WHOIS `Name Server:` line's value: (name, IPv4 set, IPv6 set).
type Ns = (String, BTreeSet<String>, BTreeSet<String>);

fn whois_ns(line: &str) -> Ns {
    let (name, rest) = line.split_once(" | IPv4: ").unwrap_or_else(|| panic!("Name Server: {line}"));
    let (v4, v6) = rest.split_once(" and IPv6: ").unwrap_or_else(|| panic!("Name Server: {line}"));
    let ips = |s: &str| s.split(", ").map(str::trim).filter(|a| !a.is_empty()).map(String::from).collect();
    (name.to_string(), ips(v4), ips(v6))
}

fn rdap_ns(n: &Value) -> Ns {
    let ips = |k: &str| strings(&n["ipAddresses"][k]).into_iter().collect();
    (n["ldhName"].as_str().unwrap().to_string(), ips("v4"), ips("v6"))
}

/// Compares what WHOIS and RDAP disclose about one party (`Owner` or `Admin`): shown in both or
/// neither, and the same facts. Returns whether it was shown.
fn same_party(name: &str, f: &BTreeMap<String, Vec<String>>, role: &str, e: Option<&Value>) -> bool {
    let shown = e.map(vcard_fn).is_some_and(|n| !n.is_empty());
    let key = |k: &str| format!("{role} {k}");
    if !shown {
        assert!(one(f, &key("Name")).is_none(), "{name}: WHOIS shows the {role} name, RDAP does not");
        for k in ["Address", "Locality", "ZipCode"] {
            assert!(one(f, &key(k)).is_none(), "{name}: WHOIS shows the {role} {k}, RDAP does not");
        }
        if let Some(e) = e {
            let (_, parts) = vcard_adr(e);
            assert!(parts.iter().all(String::is_empty), "{name}: RDAP shows a withheld {role} address: {parts:?}");
        }
        return false;
    }
    let e = e.unwrap();
    let (cc, parts) = vcard_adr(e);
    assert_eq!(one(f, &key("Name")), Some(vcard_fn(e)), "{name}: {role} name");
    assert_eq!(one(f, &key("Address")), Some(parts[2].as_str()), "{name}: {role} address");
    assert_eq!(one(f, &key("Locality")), Some(parts[3].as_str()), "{name}: {role} locality");
    assert_eq!(one(f, &key("ZipCode")), Some(parts[5].as_str()), "{name}: {role} zip code");
    assert_eq!(one(f, &key("Country Code")), Some(cc.as_str()), "{name}: {role} country");
    true
}

/// Compares one domain's WHOIS answer and RDAP object.
fn same_facts(name: &str, whois: &str, v: &Value) {
    let f = whois_fields(whois);
    let ctx = |what: &str| format!("{name}: {what}\nWHOIS:\n{whois}\nRDAP: {v}");
    assert_eq!(v["ldhName"], name);
    let unicode = v["unicodeName"].as_str().unwrap_or(name);
    assert_eq!(one(&f, "Domain"), Some(unicode), "{}", ctx("the name"));

    // The owner: name and address in both or neither; the country always.
    let registrant = entity(v, "registrant");
    let owner_shown = same_party(name, &f, "Owner", Some(registrant));
    if !owner_shown {
        let (cc, _) = vcard_adr(registrant);
        assert_eq!(one(&f, "Owner Country Code"), Some(cc.as_str()), "{}", ctx("owner country"));
    }
    let admin = v["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["roles"].as_array().is_some_and(|r| r.contains(&json!("administrative"))));
    same_party(name, &f, "Admin", admin);
    assert!(one(&f, "Admin Country Code").is_none() || admin.is_some(), "{}", ctx("admin"));

    // Nameservers.
    let w_ns: Vec<Ns> = f.get("Name Server").map(|l| l.iter().map(|l| whois_ns(l)).collect()).unwrap_or_default();
    let r_ns: Vec<Ns> = v["nameservers"].as_array().unwrap().iter().map(rdap_ns).collect();
    let sorted = |mut x: Vec<Ns>| {
        x.sort();
        x
    };
    assert_eq!(sorted(w_ns), sorted(r_ns), "{}", ctx("nameservers"));

    // DNSSEC.
    let signed = v["secureDNS"]["delegationSigned"].as_bool().unwrap();
    assert_eq!(one(&f, "DNSSEC"), Some(if signed { "signed" } else { "unsigned" }), "{}", ctx("DNSSEC"));
    let w_ds: BTreeSet<String> = f.get("DS").cloned().unwrap_or_default().into_iter().collect();
    let r_ds: BTreeSet<String> = v["secureDNS"]["dsData"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|d| {
                    format!("{} {} {} {}", d["keyTag"], d["algorithm"], d["digestType"], d["digest"].as_str().unwrap())
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(w_ds, r_ds, "{}", ctx("DS records"));

    // Statuses, dates, registrar.
    let w_status: BTreeSet<String> =
        one(&f, "Status").unwrap_or("").split(", ").filter(|s| !s.is_empty()).map(|s| rfc8056(s).to_string()).collect();
    let r_status: BTreeSet<String> = strings(&v["status"]).into_iter().collect();
    assert_eq!(w_status, r_status, "{}", ctx("statuses"));
    assert_eq!(
        one(&f, "Creation Date").map(String::from),
        Some(pt_date(event(v, "registration"))),
        "{}",
        ctx("created")
    );
    assert_eq!(
        one(&f, "Expiration Date").map(String::from),
        Some(pt_date(event(v, "expiration"))),
        "{}",
        ctx("expires")
    );
    assert_eq!(one(&f, "Last Update").map(String::from), Some(pt_date(event(v, "last changed"))), "{}", ctx("updated"));
    assert_eq!(one(&f, "Registrar"), Some(vcard_fn(entity(v, "registrar"))), "{}", ctx("registrar"));
}

#[test]
fn rdap_and_whois_disclose_the_same_facts_for_every_demo_domain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let args = demo_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    create_demo(&args, dir.path());
    let cfg = data.join("nicbox.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("allow = []\n"), "{text}");
    std::fs::write(&cfg, text.replacen("allow = []\n", "allow = [\"127.0.0.0/8\"]\n", 1)).unwrap();
    let s = Server::start(&args, dir.path());
    let agent = http_agent();

    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let (mut compared, mut hidden, mut owners_shown, mut signed, mut idns, mut statuses) =
        (0, 0, 0, 0, 0, BTreeSet::new());
    for r in creds["registrars"].as_array().unwrap() {
        let key = r["api_key"].as_str().unwrap();
        for d in list_domains(&agent, &s, key) {
            let name = d["name"].as_str().unwrap();
            let whois = ask(s.whois, name);
            let (status, _, v) = rdap_get(&agent, &s, &format!("/rdap/domain/{name}"));
            if strings(&d["status"]).contains(&"pendingCreate".to_string()) {
                assert_eq!(whois, format!("{name} - No Match\r\n"));
                assert_eq!(status, 404, "{name}: {v}");
                hidden += 1;
                continue;
            }
            assert_eq!(status, 200, "{name}: {v}");
            same_facts(name, &whois, &v);
            compared += 1;
            if whois.contains("Owner Name: ") {
                owners_shown += 1;
            }
            if v["secureDNS"]["delegationSigned"] == true {
                signed += 1;
            }
            if v.get("unicodeName").is_some() {
                idns += 1;
            }
            statuses.extend(strings(&v["status"]));
        }
    }
    assert!((1_900..=2_100).contains(&(compared + hidden)), "{compared} + {hidden} demo domains");
    assert!(owners_shown >= 100 && compared - owners_shown >= 100, "{owners_shown} of {compared} owners shown");
    assert!(signed >= 10, "{signed} signed domains");
    assert!(idns >= 50, "{idns} IDNs");
    assert!(statuses.len() >= 3, "the demo has several statuses: {statuses:?}");
    assert_eq!(s.terminate().code(), Some(0));
}

/// Lookups reuse one read snapshot until the next commit: every change must show in the very
/// next answer (hiding an organization above all), never a snapshot older than the change.
#[tokio::test]
async fn every_change_shows_in_the_next_answer() {
    let (env, key) = setup().await;
    let org = env.org(&key).await;
    register(&env, &key, "visivel.pt", &org, two_ns()).await;
    for _ in 0..3 {
        let (s, v, text) = rdap(&env, "/rdap/domain/visivel.pt").await;
        assert_eq!(s, StatusCode::OK, "{text}");
        assert_eq!(vcard_fn(entity(&v, "registrant")), "Exemplo, Lda.", "{v}");
    }
    let (s, p) =
        env.call("PATCH", "/api/v1/domains/visivel.pt", Some(&key), Some(json!({"owner_visible": false}))).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, v, text) = rdap(&env, "/rdap/domain/visivel.pt").await;
    assert_eq!(vcard_fn(entity(&v, "registrant")), "", "hidden at once: {v}");
    assert!(!text.contains("Rua Augusta"), "{text}");

    let (s, p) =
        env.call("PATCH", "/api/v1/domains/visivel.pt", Some(&key), Some(json!({"owner_visible": true}))).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (s, p) =
        env.call("PATCH", &format!("/api/v1/contacts/{org}"), Some(&key), Some(json!({"city": "Porto"}))).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, v, _) = rdap(&env, "/rdap/domain/visivel.pt").await;
    assert_eq!(vcard_adr(entity(&v, "registrant")).1[3], "Porto", "a contact's change shows at once: {v}");

    let (s, p) = env.call("DELETE", "/api/v1/domains/visivel.pt", Some(&key), None).await;
    assert!(s.is_success(), "{p}");
    let (s, v, _) = rdap(&env, "/rdap/domain/inexistente-ainda.pt").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    register(&env, &key, "inexistente-ainda.pt", &org, two_ns()).await;
    let (s, v, _) = rdap(&env, "/rdap/domain/inexistente-ainda.pt").await;
    assert_eq!(s, StatusCode::OK, "a new domain is found at once: {v}");
}
