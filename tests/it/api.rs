//! Router tests (tier 2): every rule of POLICY.md sections 1 and 2 through the registrar API.
//!
//! Each test builds its own registry (`Env`), calls the router in memory and asserts the HTTP
//! status and the contract's stable `code` (CONTRACT.md section 3). Refusals also check that
//! nothing was left behind: no domain, no charge.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Env, code, org_body, person_body};

/// Opening balance of the registrars of these tests, in cents.
const OPENING: i64 = 1_000_000;
/// Prices of the test configuration (`common::CONFIG`).
const PRICE: i64 = 1000;
const PREMIUM: i64 = 10_000;

/// Percent-encodes everything but RFC 3986 unreserved characters (paths and query values).
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

/// A registry with registrar `reg-a` and one organization contact: (env, key, handle).
async fn setup() -> (Env, String, String) {
    let env = Env::new();
    let key = env.registrar("reg-a", OPENING).await;
    let h = env.org(&key).await;
    (env, key, h)
}

/// The standard registration body: `h` as registrant, admin and tech.
fn body(name: &str, h: &str) -> Value {
    json!({"name": name, "period_years": 1, "registrant": h, "admin": h, "tech": h})
}

/// `base` with the fields of `extra` set; a `null` in `extra` removes the field.
fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                b.remove(k);
            } else {
                b.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

async fn create(env: &Env, key: &str, body: Value) -> (StatusCode, Value) {
    env.call("POST", "/api/v1/domains", Some(key), Some(body)).await
}

async fn get_domain(env: &Env, key: &str, name: &str) -> (StatusCode, Value) {
    env.call("GET", &format!("/api/v1/domains/{}", pct(name)), Some(key), None).await
}

async fn patch_domain(env: &Env, key: &str, name: &str, body: Value) -> (StatusCode, Value) {
    env.call("PATCH", &format!("/api/v1/domains/{}", pct(name)), Some(key), Some(body)).await
}

/// Every name the registrar's domain list shows, over all pages.
async fn listed(env: &Env, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/domains?limit=500&after={}", pct(a)),
            None => "/api/v1/domains?limit=500".to_string(),
        };
        let (s, v) = env.call("GET", &path, Some(key), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for d in v["domains"].as_array().unwrap() {
            out.push(d["name"].as_str().unwrap().to_string());
        }
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    out
}

/// The check result of one name.
async fn check_one(env: &Env, key: &str, name: &str) -> Value {
    let (s, v) = env.call("GET", &format!("/api/v1/domains/check?name={}", pct(name)), Some(key), None).await;
    assert_eq!(s, StatusCode::OK, "check {name}: {v}");
    assert_eq!(v["results"].as_array().unwrap().len(), 1, "{v}");
    v["results"][0].clone()
}

fn assert_problem(label: &str, s: StatusCode, v: &Value, status: u16, want: &str) {
    assert_eq!((s.as_u16(), code(v)), (status, want), "{label}: {v}");
}

fn nameservers(n: usize) -> Value {
    Value::Array((1..=n).map(|i| json!({"name": format!("ns{i}.example.net")})).collect())
}

fn statuses(v: &Value) -> Vec<String> {
    v["status"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn expiry_year(v: &Value) -> &str {
    &v["expires"].as_str().unwrap()[..4]
}

// ---------------------------------------------------------------------------------------------
// Names (POLICY.md section 1)

/// Names every new registration refuses: (label, name, code, reason in a check). All are 422.
const NAME_REFUSALS: &[(&str, &str, &str, &str)] = &[
    ("label of 1 character", "a.pt", "invalid_name", "invalid"),
    (
        "label of 64 characters",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.pt",
        "invalid_name",
        "invalid",
    ),
    ("underscore", "ex_emplo.pt", "invalid_name", "invalid"),
    ("space inside the label", "ex emplo.pt", "invalid_name", "invalid"),
    ("dot inside the label where no zone is", "ex.emplo.pt", "invalid_name", "invalid"),
    ("exclamation mark", "exemplo!.pt", "invalid_name", "invalid"),
    ("hyphen first", "-exemplo.pt", "invalid_name", "invalid"),
    ("hyphen last", "exemplo-.pt", "invalid_name", "invalid"),
    ("'--' at positions 3-4 outside xn--", "ab--cd.pt", "invalid_name", "invalid"),
    ("xn-- label that is not valid Punycode of a valid label", "xn--a.pt", "invalid_name", "invalid"),
    ("u-umlaut outside the repertoire", "müller.pt", "invalid_name", "invalid"),
    ("n-tilde outside the repertoire", "españa.pt", "invalid_name", "invalid"),
    ("Cyrillic outside the repertoire", "пример.pt", "invalid_name", "invalid"),
    ("Cyrillic letter mixed into a Latin label", "ex\u{430}mplo.pt", "invalid_name", "invalid"),
    ("two-letter ccTLD code", "es.pt", "reserved_name", "reserved"),
    ("name of an existing TLD under com.pt", "net.com.pt", "reserved_name", "reserved"),
    ("name of an existing TLD under pt", "info.pt", "reserved_name", "reserved"),
    ("a zone itself", "com.pt", "invalid_name", "invalid"),
    ("the TLD itself", "pt", "invalid_name", "invalid"),
    ("closed zone", "novo.net.pt", "zone_closed", "zone_closed"),
    ("another closed zone", "novo.org.pt", "zone_closed", "zone_closed"),
    ("reserved list (bare label)", "lisboa.pt", "reserved_name", "reserved"),
    ("reserved label in a second-level zone", "lisboa.com.pt", "reserved_name", "reserved"),
    ("reserved list (full name)", "exemplo-reservado.com.pt", "reserved_name", "reserved"),
    ("blocked list", "merda.pt", "reserved_name", "reserved"),
    ("another TLD", "google.com", "invalid_name", "other_tld"),
    ("two labels under a zone", "a.b.pt", "invalid_name", "invalid"),
    ("empty name", "", "invalid_name", "invalid"),
];

/// Every refused create, by rule: the status and code, and nothing left behind (no domain,
/// no charge, nothing new in the list).
#[tokio::test]
async fn refused_creates_leave_nothing_behind() {
    let (env, key, h) = setup().await;
    let no_fiscal = env.contact(&key, with(org_body(), json!({"fiscal_id": null}))).await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    // One existing domain, so that "nothing new in the list" is not trivially an empty list.
    let (s, v) = env.register(&key, "existente.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let mut rows: Vec<(String, Value, u16, &str, &str)> = NAME_REFUSALS
        .iter()
        .map(|(label, name, c, _)| (format!("name: {label}"), body(name, &h), 422, *c, ""))
        .collect();
    let more: Vec<(&str, Value, u16, &str, &str)> = vec![
        ("name: reserved reason in detail", body("lisboa.pt", &h), 422, "reserved_name", "geographic: district"),
        ("name: blocked reason in detail", body("merda.pt", &h), 422, "reserved_name", "offensive: vulgar term"),
        ("name: closed zone named in detail", body("novo.net.pt", &h), 422, "zone_closed", "net.pt"),
        ("name: already registered", body("existente.pt", &h), 409, "not_available", ""),
        ("name: already registered, other case", body("EXISTENTE.PT", &h), 409, "not_available", ""),
        ("period: 0 years", with(body("periodo.pt", &h), json!({"period_years": 0})), 422, "invalid_period", ""),
        ("period: 2 years", with(body("periodo.pt", &h), json!({"period_years": 2})), 422, "invalid_period", ""),
        ("period: 11 years", with(body("periodo.pt", &h), json!({"period_years": 11})), 422, "invalid_period", ""),
        ("period: negative", with(body("periodo.pt", &h), json!({"period_years": -1})), 400, "invalid_request", ""),
        ("period: a string", with(body("periodo.pt", &h), json!({"period_years": "1"})), 400, "invalid_request", ""),
        (
            "contact: registrant without fiscal id",
            with(body("fiscal.pt", &h), json!({"registrant": no_fiscal})),
            422,
            "missing_fiscal_id",
            "registrant",
        ),
        (
            "contact: admin without fiscal id",
            with(body("fiscal.pt", &h), json!({"admin": no_fiscal})),
            422,
            "missing_fiscal_id",
            "admin",
        ),
        (
            "contact: tech without fiscal id",
            with(body("fiscal.pt", &h), json!({"tech": no_fiscal})),
            422,
            "missing_fiscal_id",
            "tech",
        ),
        (
            "contact: no tech (pt requires one)",
            with(body("contactos.pt", &h), json!({"tech": null})),
            422,
            "invalid_contact",
            "",
        ),
        (
            "contact: unknown registrant handle",
            with(body("contactos.pt", &h), json!({"registrant": "C9999999"})),
            422,
            "invalid_contact",
            "",
        ),
        (
            "contact: unknown admin handle",
            with(body("contactos.pt", &h), json!({"admin": "NOPE-1"})),
            422,
            "invalid_contact",
            "",
        ),
        (
            "contact: unknown billing handle",
            with(body("contactos.pt", &h), json!({"billing": "NOPE-1"})),
            422,
            "invalid_contact",
            "",
        ),
        (
            "contact: another registrar's registrant",
            with(body("contactos.pt", &h), json!({"registrant": h_b})),
            422,
            "invalid_contact",
            "",
        ),
        (
            "contact: another registrar's tech",
            with(body("contactos.pt", &h), json!({"tech": h_b})),
            422,
            "invalid_contact",
            "",
        ),
        (
            "contact: registrant missing",
            with(body("contactos.pt", &h), json!({"registrant": null})),
            400,
            "invalid_request",
            "",
        ),
        (
            "ns: 14 nameservers",
            with(body("ns.pt", &h), json!({"nameservers": nameservers(14)})),
            422,
            "too_many_nameservers",
            "",
        ),
        (
            "ns: host inside the domain without glue",
            with(body("glue.pt", &h), json!({"nameservers": [{"name": "ns1.glue.pt"}, {"name": "ns2.example.net"}]})),
            422,
            "missing_glue",
            "",
        ),
        (
            "ns: host outside the domain with glue",
            with(
                body("glue.pt", &h),
                json!({"nameservers": [{"name": "ns1.example.net", "addresses": ["192.0.2.1"]}, {"name": "ns2.example.net"}]}),
            ),
            400,
            "invalid_request",
            "",
        ),
        (
            "ns: glue that is not an IP address",
            with(
                body("glue.pt", &h),
                json!({"nameservers": [{"name": "ns1.glue.pt", "addresses": ["192.0.2.300"]}, {"name": "ns2.example.net"}]}),
            ),
            400,
            "invalid_request",
            "",
        ),
        (
            "ns: host name that is not a host name",
            with(
                body("glue.pt", &h),
                json!({"nameservers": [{"name": "ns_1.example.net"}, {"name": "ns2.example.net"}]}),
            ),
            400,
            "invalid_request",
            "",
        ),
        (
            "ns: the same host twice",
            with(
                body("glue.pt", &h),
                json!({"nameservers": [{"name": "ns1.example.net"}, {"name": "NS1.example.net."}]}),
            ),
            400,
            "invalid_request",
            "",
        ),
        (
            "ds: digest of the wrong length",
            with(
                body("dnssec.pt", &h),
                json!({"ds": [{"key_tag": 12345, "algorithm": 13, "digest_type": 2, "digest": "ab".repeat(31)}]}),
            ),
            400,
            "invalid_request",
            "",
        ),
        (
            "ds: digest that is not hexadecimal",
            with(
                body("dnssec.pt", &h),
                json!({"ds": [{"key_tag": 12345, "algorithm": 13, "digest_type": 2, "digest": "zz".repeat(32)}]}),
            ),
            400,
            "invalid_request",
            "",
        ),
        (
            "ds: unknown algorithm",
            with(
                body("dnssec.pt", &h),
                json!({"ds": [{"key_tag": 12345, "algorithm": 99, "digest_type": 2, "digest": "ab".repeat(32)}]}),
            ),
            400,
            "invalid_request",
            "",
        ),
        ("request: unknown field", with(body("campo.pt", &h), json!({"colour": "blue"})), 400, "invalid_request", ""),
    ];
    rows.extend(more.into_iter().map(|(l, b, s, c, d)| (l.to_string(), b, s, c, d)));

    let balance = env.balance(&key).await;
    let before = listed(&env, &key).await;
    assert_eq!(before, vec!["existente.pt".to_string()]);
    for (label, req, status, want, detail) in &rows {
        let name = req["name"].as_str().unwrap_or("").to_string();
        let (s, v) = create(&env, &key, req.clone()).await;
        assert_problem(label, s, &v, *status, want);
        assert_eq!(v["status"].as_u64(), Some(u64::from(*status)), "{label}: problem status member: {v}");
        assert!(v["detail"].as_str().unwrap_or("").contains(detail), "{label}: detail should mention {detail:?}: {v}");
        assert_eq!(env.balance(&key).await, balance, "{label}: the balance moved");
        assert_eq!(listed(&env, &key).await, before, "{label}: the domain list changed");
        if name != "existente.pt" && !name.eq_ignore_ascii_case("existente.pt") && !name.is_empty() {
            let (s, v) = get_domain(&env, &key, &name).await;
            assert_ne!(s, StatusCode::OK, "{label}: {name} can be read after a refused create: {v}");
        }
    }
    // The other registrar saw nothing either.
    assert_eq!(env.balance(&key_b).await, OPENING);
    assert!(listed(&env, &key_b).await.is_empty());
}

/// `GET /domains/check` gives the same verdict as a create, with a reason.
#[tokio::test]
async fn check_reports_each_name_rule() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "registado.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for (label, name, _, reason) in NAME_REFUSALS {
        let r = check_one(&env, &key, name).await;
        assert_eq!(r["available"], json!(false), "{label}: {r}");
        assert_eq!(r["reason"], json!(reason), "{label}: {r}");
    }
    let lisboa = check_one(&env, &key, "lisboa.pt").await;
    assert!(lisboa["detail"].as_str().unwrap_or("").contains("geographic: district"), "{lisboa}");
    for (label, name, reason) in [
        ("registered", "registado.pt", "registered"),
        ("registered, upper case", "REGISTADO.PT", "registered"),
        ("registered, trailing dot", "registado.pt.", "registered"),
    ] {
        let r = check_one(&env, &key, name).await;
        assert_eq!((r["available"].clone(), r["reason"].clone()), (json!(false), json!(reason)), "{label}: {r}");
        assert_eq!(r["name"], json!("registado.pt"), "{label}: {r}");
    }
    for (label, name) in [
        ("label of 63 characters", format!("{}.pt", "a".repeat(63))),
        ("two-letter name that is no country code", "xq.pt".to_string()),
        ("IDN U-label", "açores-turismo.pt".to_string()),
        ("full-name reserved entry does not hold the same label elsewhere", "exemplo-reservado.pt".to_string()),
        ("second level com.pt", "exemplo.com.pt".to_string()),
        ("review zone gov.pt", "exemplo.gov.pt".to_string()),
    ] {
        let r = check_one(&env, &key, &name).await;
        assert_eq!(r["available"], json!(true), "{label}: {r}");
        assert!(r["reason"].is_null(), "{label}: {r}");
    }
    // Several names in one check, answered in order.
    let (s, v) =
        env.call("GET", "/api/v1/domains/check?name=registado.pt&name=livre.pt&name=a.pt", Some(&key), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got: Vec<(String, bool)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["available"].as_bool().unwrap()))
        .collect();
    assert_eq!(got, vec![("registado.pt".into(), false), ("livre.pt".into(), true), ("a.pt".into(), false)]);
}

#[tokio::test]
async fn label_of_63_characters_is_accepted() {
    let (env, key, h) = setup().await;
    let name = format!("{}.pt", "a".repeat(63));
    let (s, v) = env.register(&key, &name, &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], json!(name));
    // Two letters is the shortest label .pt takes.
    let (s, v) = env.register(&key, "x9.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // For IDNs the length is that of the A-label: one U-label character is `xn--7ca`.
    let (s, v) = env.register(&key, "ç.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], json!("xn--7ca.pt"));
}

#[tokio::test]
async fn idn_u_label_is_stored_as_a_label_with_unicode_name() {
    let (env, key, h) = setup().await;
    let alabel = idna::domain_to_ascii("açores-turismo.pt").unwrap();
    assert!(alabel.starts_with("xn--"), "{alabel}");
    let (s, v) = env.register(&key, "açores-turismo.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], json!(alabel));
    assert_eq!(v["unicode_name"], json!("açores-turismo.pt"));
    // Both forms read the same domain.
    for form in ["açores-turismo.pt", alabel.as_str(), "AÇORES-TURISMO.PT"] {
        let (s, v) = get_domain(&env, &key, form).await;
        assert_eq!(s, StatusCode::OK, "{form}: {v}");
        assert_eq!(v["name"], json!(alabel), "{form}");
        assert_eq!(v["unicode_name"], json!("açores-turismo.pt"), "{form}");
    }
    assert_eq!(listed(&env, &key).await, vec![alabel.clone()]);
    // Every accented letter of the repertoire is accepted.
    let (s, v) = env.register(&key, "áàâãçéêíóôõú.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["unicode_name"], json!("áàâãçéêíóôõú.pt"));
}

#[tokio::test]
async fn same_idn_by_a_label_then_u_label_is_not_available() {
    let (env, key, h) = setup().await;
    let alabel = idna::domain_to_ascii("açores-turismo.pt").unwrap();
    let (s, v) = env.register(&key, &alabel, &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["unicode_name"], json!("açores-turismo.pt"));
    let balance = env.balance(&key).await;
    let (s, v) = env.register(&key, "açores-turismo.pt", &h, json!({})).await;
    assert_problem("U-label after A-label", s, &v, 409, "not_available");
    // And the other way round.
    let (s, v) = env.register(&key, "conceição.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env.register(&key, &idna::domain_to_ascii("conceição.pt").unwrap(), &h, json!({})).await;
    assert_problem("A-label after U-label", s, &v, 409, "not_available");
    // A U-label typed in decomposed form (c + combining cedilla) is the same name (NFC).
    let (s, v) = env.register(&key, "conceic\u{327}a\u{303}o.pt", &h, json!({})).await;
    assert_problem("NFD U-label after NFC U-label", s, &v, 409, "not_available");
    assert_eq!(env.balance(&key).await, balance - PRICE);
    let r = check_one(&env, &key, "açores-turismo.pt").await;
    assert_eq!((r["available"].clone(), r["reason"].clone()), (json!(false), json!("registered")), "{r}");
}

#[tokio::test]
async fn names_are_case_insensitive_and_stored_lower_case() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "EXEMPLO.PT", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], json!("exemplo.pt"));
    let (s, v) = get_domain(&env, &key, "Exemplo.Pt").await;
    assert_eq!((s, v["name"].clone()), (StatusCode::OK, json!("exemplo.pt")), "{v}");
    let (s, v) = env.register(&key, "exemplo.pt", &h, json!({})).await;
    assert_problem("lower case after upper case", s, &v, 409, "not_available");
    assert_eq!(listed(&env, &key).await, vec!["exemplo.pt".to_string()]);
}

#[tokio::test]
async fn trailing_dot_is_ignored() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "exemplo.pt.", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["name"], json!("exemplo.pt"));
    let (s, v) = env.register(&key, "exemplo.pt", &h, json!({})).await;
    assert_problem("without the dot", s, &v, 409, "not_available");
}

#[tokio::test]
async fn two_letter_name_is_charged_the_premium_price() {
    let (env, key, h) = setup().await;
    for (label, name, years, price) in [
        ("normal name, 1 year", "xqz.pt", 1, PRICE),
        ("two-letter name, 1 year", "xq.pt", 1, PREMIUM),
        ("two-letter name, 3 years: premium only the first year", "xw.pt", 3, PREMIUM + 2 * PRICE),
        ("two-letter name under com.pt", "xq.com.pt", 1, PREMIUM),
    ] {
        let before = env.balance(&key).await;
        let (s, v) = env.register(&key, name, &h, json!({"period_years": years})).await;
        assert_eq!(s, StatusCode::CREATED, "{label}: {v}");
        assert_eq!(before - env.balance(&key).await, price, "{label}");
    }
    let (_, v) = env.call("GET", "/api/v1/account", Some(&key), None).await;
    assert_eq!(v["prices"]["pt"]["create_premium"], json!(PREMIUM), "{v}");
}

#[tokio::test]
async fn full_name_reserved_entry_holds_only_that_name() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "exemplo-reservado.com.pt", &h, json!({})).await;
    assert_problem("the listed name", s, &v, 422, "reserved_name");
    assert!(v["detail"].as_str().unwrap().contains("held for a test"), "{v}");
    let (s, v) = env.register(&key, "exemplo-reservado.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "the same label in another zone: {v}");
}

#[tokio::test]
async fn gov_pt_registration_waits_for_review() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "exemplo.gov.pt", &h, json!({"nameservers": nameservers(2)})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert!(statuses(&v).contains(&"pendingCreate".to_string()), "{v}");
    assert!(!statuses(&v).contains(&"ok".to_string()), "{v}");
    let (s, v) = get_domain(&env, &key, "exemplo.gov.pt").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(statuses(&v).contains(&"pendingCreate".to_string()), "{v}");
    assert_eq!(v["zone"], json!("gov.pt"));
}

#[tokio::test]
async fn com_pt_second_level_registers() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "exemplo.com.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!((v["name"].clone(), v["zone"].clone()), (json!("exemplo.com.pt"), json!("com.pt")));
    // The same label in .pt is a different name.
    let (s, v) = env.register(&key, "exemplo.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(env.balance(&key).await, OPENING - 2 * PRICE);
}

// ---------------------------------------------------------------------------------------------
// Periods and money

#[tokio::test]
async fn periods_1_3_5_move_the_expiry_year() {
    let (env, key, h) = setup().await;
    for (years, year) in [(1, "2027"), (3, "2029"), (5, "2031")] {
        let name = format!("periodo{years}.pt");
        let before = env.balance(&key).await;
        let (s, v) = env.register(&key, &name, &h, json!({"period_years": years})).await;
        assert_eq!(s, StatusCode::CREATED, "{years} years: {v}");
        assert_eq!(expiry_year(&v), year, "{years} years: {v}");
        assert!(v["expires"].as_str().unwrap().starts_with(&format!("{year}-11-22")), "{v}");
        assert_eq!(before - env.balance(&key).await, PRICE * years, "{years} years charged per year");
    }
}

#[tokio::test]
async fn period_defaults_to_one_year() {
    let (env, key, h) = setup().await;
    let (s, v) = create(&env, &key, with(body("omisso.pt", &h), json!({"period_years": null}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(expiry_year(&v), "2027");
}

#[tokio::test]
async fn insufficient_funds_creates_nothing() {
    let env = Env::new();
    let key = env.registrar("pobre", PRICE - 1).await;
    let h = env.org(&key).await;
    let (s, v) = env.register(&key, "caro.pt", &h, json!({})).await;
    assert_problem("balance below the price", s, &v, 402, "insufficient_funds");
    assert_eq!(env.balance(&key).await, PRICE - 1);
    let (s, v) = get_domain(&env, &key, "caro.pt").await;
    assert_problem("the refused name", s, &v, 404, "not_found");
    assert!(listed(&env, &key).await.is_empty());
    // Enough for one year is not enough for three.
    let key2 = env.registrar("justo", PRICE).await;
    let h2 = env.org(&key2).await;
    let (s, v) = env.register(&key2, "caro.pt", &h2, json!({"period_years": 3})).await;
    assert_problem("3 years with the price of one", s, &v, 402, "insufficient_funds");
    // A premium name costs more than a normal one.
    let (s, v) = env.register(&key2, "xq.pt", &h2, json!({})).await;
    assert_problem("premium name", s, &v, 402, "insufficient_funds");
    assert_eq!(env.balance(&key2).await, PRICE);
    // Exactly the price is enough.
    let (s, v) = env.register(&key2, "caro.pt", &h2, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(env.balance(&key2).await, 0);
}

#[tokio::test]
async fn three_year_create_charges_three_years() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "tresanos.pt", &h, json!({"period_years": 3})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(env.balance(&key).await, OPENING - 3 * PRICE);
}

// ---------------------------------------------------------------------------------------------
// Contacts and fiscal ids (POLICY.md section 2)

#[tokio::test]
async fn contact_kinds_person_and_organization() {
    let (env, key, _) = setup().await;
    for (label, b, kind) in [("person", person_body(), "person"), ("organization", org_body(), "organization")] {
        let (s, v) = env.call("POST", "/api/v1/contacts", Some(&key), Some(b)).await;
        assert_eq!(s, StatusCode::CREATED, "{label}: {v}");
        assert_eq!(v["kind"], json!(kind), "{label}");
        let handle = v["handle"].as_str().unwrap();
        let (s, v) = env.call("GET", &format!("/api/v1/contacts/{handle}"), Some(&key), None).await;
        assert_eq!((s, v["kind"].clone()), (StatusCode::OK, json!(kind)), "{label}: {v}");
    }
    let (s, v) =
        env.call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), json!({"kind": "robot"})))).await;
    assert_problem("unknown kind", s, &v, 400, "invalid_request");
    // Both kinds can hold a .pt domain.
    let p = env.contact(&key, person_body()).await;
    let (s, v) = env.register(&key, "pessoa.pt", &p, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn accents_round_trip_exactly() {
    let (env, key, _) = setup().await;
    let (s, created) = env.call("POST", "/api/v1/contacts", Some(&key), Some(person_body())).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let handle = created["handle"].as_str().unwrap();
    let (s, got) = env.call("GET", &format!("/api/v1/contacts/{handle}"), Some(&key), None).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    for v in [&created, &got] {
        assert_eq!(v["name"], json!("João Conceição Gonçalves"));
        assert_eq!(v["city"], json!("Évora"));
        assert_eq!(v["street"], json!(["Rua da Prata 12, 3.º Esq."]));
        assert_eq!(v["postal_code"], json!("7000-651"));
    }
    let (s, v) = env
        .call("PATCH", &format!("/api/v1/contacts/{handle}"), Some(&key), Some(json!({"city": "São João da Madeira"})))
        .await;
    assert_eq!((s, v["city"].clone()), (StatusCode::OK, json!("São João da Madeira")), "{v}");
    assert_eq!(v["name"], json!("João Conceição Gonçalves"));
}

#[tokio::test]
async fn contact_create_refusals() {
    let (env, key, _) = setup().await;
    let cv = json!({"country_code": "CV", "postal_code": "7600", "city": "Praia"});
    let es = json!({"country_code": "ES", "postal_code": "28001", "city": "Madrid"});
    let rows: Vec<(&str, Value, u16, &str)> = vec![
        ("PT NIF with a wrong check digit", json!({"fiscal_id": "501964842"}), 422, "invalid_fiscal_id"),
        (
            "PT NIF with a prefix not in the list (4 without 5)",
            json!({"fiscal_id": "411111111"}),
            422,
            "invalid_fiscal_id",
        ),
        ("PT NIF with a prefix not in the list (73)", json!({"fiscal_id": "730000000"}), 422, "invalid_fiscal_id"),
        ("PT NIF of 8 digits", json!({"fiscal_id": "50196484"}), 422, "invalid_fiscal_id"),
        ("PT NIF with a letter", json!({"fiscal_id": "50196484A"}), 422, "invalid_fiscal_id"),
        ("CV NIF starting with 6", with(cv.clone(), json!({"fiscal_id": "612345678"})), 422, "invalid_fiscal_id"),
        ("CV NIF of 8 digits", with(cv.clone(), json!({"fiscal_id": "12345678"})), 422, "invalid_fiscal_id"),
        (
            "ES fiscal id with punctuation",
            with(es.clone(), json!({"fiscal_id": "B-1234567"})),
            422,
            "invalid_fiscal_id",
        ),
        (
            "ES fiscal id of 21 characters",
            with(es.clone(), json!({"fiscal_id": "A".repeat(21)})),
            422,
            "invalid_fiscal_id",
        ),
        ("email without @", json!({"email": "dns-at-exemplo.pt"}), 422, "invalid_contact"),
        ("email without a domain", json!({"email": "dns@exemplo"}), 422, "invalid_contact"),
        ("phone without the country part", json!({"phone": "912345678"}), 422, "invalid_contact"),
        ("phone with letters", json!({"phone": "+351.91234567a"}), 422, "invalid_contact"),
        ("country code that is not ISO 3166-1", json!({"country_code": "XX"}), 422, "invalid_contact"),
        ("alpha-3 country code", json!({"country_code": "PRT"}), 422, "invalid_contact"),
        ("empty name", json!({"name": "  "}), 422, "invalid_contact"),
        ("no street", json!({"street": []}), 422, "invalid_contact"),
        ("name with a control character", json!({"name": "Exemplo\u{7}"}), 422, "invalid_contact"),
        ("email missing", json!({"email": null}), 400, "invalid_request"),
        ("unknown field", json!({"colour": "blue"}), 400, "invalid_request"),
    ];
    for (label, extra, status, want) in rows {
        let (s, v) = env.call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), extra))).await;
        assert_problem(label, s, &v, status, want);
    }
    let (s, v) = env.call("GET", "/api/v1/contacts", Some(&key), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["contacts"].as_array().unwrap().len(), 1, "only the setup contact exists: {v}");
}

#[tokio::test]
async fn fiscal_ids_of_other_countries_follow_their_rules() {
    let (env, key, _) = setup().await;
    for (label, extra, stored) in [
        ("PT NIF with spaces", json!({"fiscal_id": "501 964 843"}), "501964843"),
        ("PT NIF with prefix 45", json!({"fiscal_id": "451234561"}), "451234561"),
        ("CV NIF, format only", json!({"country_code": "CV", "fiscal_id": "512345678"}), "512345678"),
        ("ES alphanumeric", json!({"country_code": "ES", "fiscal_id": "B12345678"}), "B12345678"),
        ("BR digits", json!({"country_code": "BR", "fiscal_id": "12345678000195"}), "12345678000195"),
        ("country code in lower case", json!({"country_code": "es", "fiscal_id": "X1234567L"}), "X1234567L"),
    ] {
        let (s, v) = env.call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), extra))).await;
        assert_eq!(s, StatusCode::CREATED, "{label}: {v}");
        assert_eq!(v["fiscal_id"], json!(stored), "{label}: {v}");
    }
    // A contact without a fiscal id can be created (it just cannot hold a .pt domain).
    let (s, v) =
        env.call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), json!({"fiscal_id": null})))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(v["fiscal_id"].is_null(), "{v}");
}

/// POLICY.md 2: the registrant, admin and tech contacts of a .pt domain need a fiscal id, so a
/// contact holding one of those roles cannot drop it; a contact on no domain may.
#[tokio::test]
async fn contact_of_a_pt_domain_cannot_drop_its_fiscal_id() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "fiscal.pt", &h, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env.call("PATCH", &format!("/api/v1/contacts/{h}"), Some(&key), Some(json!({"fiscal_id": ""}))).await;
    assert_problem("registrant of fiscal.pt drops its fiscal id", s, &v, 422, "missing_fiscal_id");
    let (_, v) = env.call("GET", &format!("/api/v1/contacts/{h}"), Some(&key), None).await;
    assert_eq!(v["fiscal_id"], json!("501964843"), "{v}");
    // A new fiscal id for the holder of a domain is a registrant change, not a contact edit.
    let (s, v) =
        env.call("PATCH", &format!("/api/v1/contacts/{h}"), Some(&key), Some(json!({"fiscal_id": "503504564"}))).await;
    assert_problem("holder of fiscal.pt changes its fiscal id", s, &v, 422, "invalid_contact");
    let unused = env.org(&key).await;
    let (s, v) =
        env.call("PATCH", &format!("/api/v1/contacts/{unused}"), Some(&key), Some(json!({"fiscal_id": ""}))).await;
    assert_eq!((s, v["fiscal_id"].clone()), (StatusCode::OK, Value::Null), "a contact on no domain: {v}");
}

#[tokio::test]
async fn contact_patch_checks_fields_like_create() {
    let (env, key, h) = setup().await;
    for (label, b, status, want) in [
        ("invalid PT NIF", json!({"fiscal_id": "501964842"}), 422, "invalid_fiscal_id"),
        ("bad email", json!({"email": "nada"}), 422, "invalid_contact"),
        ("bad phone", json!({"phone": "213456789"}), 422, "invalid_contact"),
        ("bad country", json!({"country_code": "XX"}), 422, "invalid_contact"),
        ("kind cannot change", json!({"kind": "person"}), 400, "invalid_request"),
        ("unknown field", json!({"colour": "blue"}), 400, "invalid_request"),
    ] {
        let (s, v) = env.call("PATCH", &format!("/api/v1/contacts/{h}"), Some(&key), Some(b)).await;
        assert_problem(label, s, &v, status, want);
    }
    let (_, v) = env.call("GET", &format!("/api/v1/contacts/{h}"), Some(&key), None).await;
    let mut want = org_body();
    want["handle"] = json!(h);
    for (k, val) in want.as_object().unwrap() {
        assert_eq!(&v[k], val, "{k} changed by a refused PATCH: {v}");
    }
}

#[tokio::test]
async fn another_registrars_contact_is_invisible() {
    let (env, key, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    let (s, v) = env.call("GET", &format!("/api/v1/contacts/{h}"), Some(&key_b), None).await;
    assert_problem("GET another registrar's contact", s, &v, 404, "not_found");
    let (s, v) =
        env.call("PATCH", &format!("/api/v1/contacts/{h}"), Some(&key_b), Some(json!({"city": "Porto"}))).await;
    assert_problem("PATCH another registrar's contact", s, &v, 404, "not_found");
    let (s, v) = env.register(&key_b, "alheio.pt", &h, json!({})).await;
    assert_problem("register with another registrar's contact", s, &v, 422, "invalid_contact");
    let (s, v) = env.register(&key_b, "alheio.pt", &h_b, json!({"admin": h})).await;
    assert_problem("another registrar's contact as admin", s, &v, 422, "invalid_contact");
    let (_, v) = env.call("GET", "/api/v1/contacts", Some(&key_b), None).await;
    let handles: Vec<&str> = v["contacts"].as_array().unwrap().iter().map(|c| c["handle"].as_str().unwrap()).collect();
    assert_eq!(handles, vec![h_b.as_str()]);
    // The city is unchanged for its owner.
    let (_, v) = env.call("GET", &format!("/api/v1/contacts/{h}"), Some(&key), None).await;
    assert_eq!(v["city"], json!("Lisboa"));
    assert_eq!(env.balance(&key_b).await, OPENING);
}

// ---------------------------------------------------------------------------------------------
// Nameservers and DNSSEC

#[tokio::test]
async fn nameserver_count_decides_inactive_or_ok() {
    let (env, key, h) = setup().await;
    for (n, inactive) in [(0, true), (1, true), (2, false), (13, false)] {
        let name = format!("ns{n}.pt");
        let (s, v) = env.register(&key, &name, &h, json!({"nameservers": nameservers(n)})).await;
        assert_eq!(s, StatusCode::CREATED, "{n} nameservers: {v}");
        assert_eq!(v["nameservers"].as_array().unwrap().len(), n);
        let st = statuses(&v);
        if inactive {
            assert!(st.contains(&"inactive".to_string()), "{n} nameservers: {v}");
            assert!(!st.contains(&"ok".to_string()), "{n} nameservers: {v}");
        } else {
            assert_eq!(st, vec!["ok".to_string()], "{n} nameservers: {v}");
        }
    }
}

#[tokio::test]
async fn glue_inside_the_domain_is_stored() {
    let (env, key, h) = setup().await;
    let ns = json!([{"name": "ns1.glue.pt", "addresses": ["192.0.2.1", "2001:db8::53"]}, {"name": "ns2.example.net"}]);
    let (s, v) = env.register(&key, "glue.pt", &h, json!({"nameservers": ns})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        v["nameservers"],
        json!([{"name": "ns1.glue.pt", "addresses": ["192.0.2.1", "2001:db8::53"]}, {"name": "ns2.example.net", "addresses": []}])
    );
}

#[tokio::test]
async fn ds_digest_is_stored_upper_case() {
    let (env, key, h) = setup().await;
    let digest = "0123456789abcdef".repeat(4);
    let ds = json!([{"key_tag": 12345, "algorithm": 13, "digest_type": 2, "digest": digest}]);
    let (s, v) = env.register(&key, "dnssec.pt", &h, json!({"ds": ds})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let want = json!([{"key_tag": 12345, "algorithm": 13, "digest_type": 2, "digest": digest.to_ascii_uppercase()}]);
    assert_eq!(v["ds"], want);
    let (_, v) = get_domain(&env, &key, "dnssec.pt").await;
    assert_eq!(v["ds"], want);
}

// ---------------------------------------------------------------------------------------------
// Registrar isolation and authentication

#[tokio::test]
async fn other_registrar_cannot_read_change_or_list_a_domain() {
    let (env, key, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    let (s, v) = env.register(&key, "exemplo.pt", &h, json!({"nameservers": nameservers(2)})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env.register(&key_b, "outro.pt", &h_b, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let (s, v) = get_domain(&env, &key_b, "exemplo.pt").await;
    assert_problem("B reads A's domain", s, &v, 403, "not_sponsor");
    assert!(v["auth_code"].is_null(), "{v}");
    let (s, v) = patch_domain(&env, &key_b, "exemplo.pt", json!({"nameservers": nameservers(3)})).await;
    assert_problem("B changes A's nameservers", s, &v, 403, "not_sponsor");
    let (s, v) = patch_domain(&env, &key_b, "exemplo.pt", json!({"add_status": ["clientHold"]})).await;
    assert_problem("B sets a status on A's domain", s, &v, 403, "not_sponsor");
    let (s, v) = env.call("GET", "/api/v1/domains/exemplo.pt/history", Some(&key_b), None).await;
    assert_problem("B reads A's history", s, &v, 403, "not_sponsor");
    assert_eq!(listed(&env, &key_b).await, vec!["outro.pt".to_string()]);
    assert_eq!(listed(&env, &key).await, vec!["exemplo.pt".to_string()]);
    // A's domain is as it was.
    let (_, v) = get_domain(&env, &key, "exemplo.pt").await;
    assert_eq!(v["nameservers"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(statuses(&v), vec!["ok".to_string()]);
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_unauthorized() {
    let (env, key, h) = setup().await;
    let secret_len = key.len() - "nbx_reg-a_".len();
    let key_b = env.registrar("reg-b", OPENING).await;
    let b_secret = &key_b["nbx_reg-b_".len()..];
    let keys: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("empty key", Some(String::new())),
        ("garbage key", Some("garbage".into())),
        ("right id, wrong secret", Some(format!("nbx_reg-a_{}", "A".repeat(secret_len)))),
        ("right id, the other registrar's secret", Some(format!("nbx_reg-a_{b_secret}"))),
        ("right id, secret cut short", Some(key[..key.len() - 1].to_string())),
        ("unknown registrar id", Some(format!("nbx_reg-z_{b_secret}"))),
        ("key without prefix", Some(key["nbx_".len()..].to_string())),
    ];
    for (label, k) in &keys {
        for (method, path, b) in [
            ("GET", "/api/v1/account", None),
            ("GET", "/api/v1/domains", None),
            ("GET", "/api/v1/domains/check?name=exemplo.pt", None),
            ("POST", "/api/v1/domains", Some(body("exemplo.pt", &h))),
            ("POST", "/api/v1/contacts", Some(org_body())),
        ] {
            let (s, v) = env.call(method, path, k.as_deref(), b).await;
            assert_problem(&format!("{label}: {method} {path}"), s, &v, 401, "unauthorized");
        }
    }
    let (_, v, ct) = env.call_full("GET", "/api/v1/account", None, None).await;
    assert_eq!(ct, "application/problem+json", "{v}");
    assert_eq!(env.balance(&key).await, OPENING);
    assert!(listed(&env, &key).await.is_empty());
    let (s, v) = env.call("GET", "/api/v1/account", Some(&key), None).await;
    assert_eq!((s, v["id"].clone()), (StatusCode::OK, json!("reg-a")), "{v}");
}

// ---------------------------------------------------------------------------------------------
// PATCH

#[tokio::test]
async fn patch_replaces_nameservers() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "exemplo.pt", &h, json!({"nameservers": nameservers(2)})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let new = json!([{"name": "ns1.exemplo.pt", "addresses": ["192.0.2.10"]}, {"name": "a.dns.example.org"}]);
    let (s, v) = patch_domain(&env, &key, "exemplo.pt", json!({"nameservers": new})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let want = json!([{"name": "ns1.exemplo.pt", "addresses": ["192.0.2.10"]}, {"name": "a.dns.example.org", "addresses": []}]);
    assert_eq!(v["nameservers"], want);
    let (_, v) = get_domain(&env, &key, "exemplo.pt").await;
    assert_eq!(v["nameservers"], want);
    // Down to one: registered but not delegated.
    let (s, v) = patch_domain(&env, &key, "exemplo.pt", json!({"nameservers": nameservers(1)})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(statuses(&v).contains(&"inactive".to_string()), "{v}");
    // The same rules as at create.
    for (label, ns, status, want) in [
        ("14 nameservers", nameservers(14), 422, "too_many_nameservers"),
        ("host inside without glue", json!([{"name": "ns9.exemplo.pt"}]), 422, "missing_glue"),
        (
            "host outside with glue",
            json!([{"name": "ns9.example.net", "addresses": ["192.0.2.9"]}]),
            400,
            "invalid_request",
        ),
    ] {
        let (s, v) = patch_domain(&env, &key, "exemplo.pt", json!({"nameservers": ns})).await;
        assert_problem(label, s, &v, status, want);
    }
    let (_, v) = get_domain(&env, &key, "exemplo.pt").await;
    assert_eq!(v["nameservers"], json!([{"name": "ns1.example.net", "addresses": []}]), "refusals changed nothing");
}

#[tokio::test]
async fn client_update_prohibited_blocks_changes_until_removed_alone() {
    let (env, key, h) = setup().await;
    let (s, v) = env.register(&key, "trancado.pt", &h, json!({"nameservers": nameservers(2)})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = patch_domain(&env, &key, "trancado.pt", json!({"add_status": ["clientUpdateProhibited"]})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(statuses(&v).contains(&"clientUpdateProhibited".to_string()), "{v}");

    let (s, v) = patch_domain(&env, &key, "trancado.pt", json!({"nameservers": nameservers(3)})).await;
    assert_problem("nameservers while clientUpdateProhibited", s, &v, 409, "status_prohibits");
    let (s, v) = patch_domain(
        &env,
        &key,
        "trancado.pt",
        json!({"remove_status": ["clientUpdateProhibited"], "nameservers": nameservers(3)}),
    )
    .await;
    assert_problem("removing it together with another change", s, &v, 409, "status_prohibits");
    let (_, v) = get_domain(&env, &key, "trancado.pt").await;
    assert_eq!(v["nameservers"].as_array().unwrap().len(), 2, "{v}");

    let (s, v) = patch_domain(&env, &key, "trancado.pt", json!({"remove_status": ["clientUpdateProhibited"]})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(!statuses(&v).contains(&"clientUpdateProhibited".to_string()), "{v}");
    let (s, v) = patch_domain(&env, &key, "trancado.pt", json!({"nameservers": nameservers(3)})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["nameservers"].as_array().unwrap().len(), 3, "{v}");
}

#[tokio::test]
async fn patch_refusals() {
    let (env, key, h) = setup().await;
    let other = env.org(&key).await;
    let no_fiscal = env.contact(&key, with(org_body(), json!({"fiscal_id": null}))).await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    let (s, v) = env.register(&key, "exemplo.pt", &h, json!({"nameservers": nameservers(2)})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for (label, b, status, want) in [
        ("server status", json!({"add_status": ["serverHold"]}), 400, "invalid_request"),
        ("server status removed", json!({"remove_status": ["serverUpdateProhibited"]}), 400, "invalid_request"),
        ("not an EPP status", json!({"add_status": ["frozen"]}), 400, "invalid_request"),
        ("registrant", json!({"registrant": other}), 400, "invalid_request"),
        ("unknown field", json!({"colour": "blue"}), 400, "invalid_request"),
        ("wrong type", json!({"auto_renew": "yes"}), 400, "invalid_request"),
        ("unknown admin", json!({"admin": "C9999999"}), 422, "invalid_contact"),
        ("removing the tech contact", json!({"tech": ""}), 422, "invalid_contact"),
        ("admin of another registrar", json!({"admin": h_b}), 422, "invalid_contact"),
        ("admin without fiscal id", json!({"admin": no_fiscal}), 422, "missing_fiscal_id"),
        ("tech without fiscal id", json!({"tech": no_fiscal}), 422, "missing_fiscal_id"),
        (
            "DS digest of the wrong length",
            json!({"ds": [{"key_tag": 1, "algorithm": 13, "digest_type": 2, "digest": "ab"}]}),
            400,
            "invalid_request",
        ),
    ] {
        let (s, v) = patch_domain(&env, &key, "exemplo.pt", b).await;
        assert_problem(label, s, &v, status, want);
    }
    let (s, v) = patch_domain(&env, &key, "livre.pt", json!({"auto_renew": false})).await;
    assert_problem("a name not registered", s, &v, 404, "not_found");
    let (_, v) = get_domain(&env, &key, "exemplo.pt").await;
    assert_eq!(v["registrant"], json!(h));
    assert_eq!(statuses(&v), vec!["ok".to_string()]);
    // A good change still goes through afterwards.
    let (s, v) = patch_domain(&env, &key, "exemplo.pt", json!({"admin": other, "auto_renew": false})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["admin"].clone(), v["auto_renew"].clone()), (json!(other), json!(false)));
}

// ---------------------------------------------------------------------------------------------
// Limits

#[tokio::test]
async fn check_takes_at_most_50_names() {
    let (env, key, _) = setup().await;
    let q = |n: usize| (0..n).map(|i| format!("name=nome{i}.pt")).collect::<Vec<_>>().join("&");
    let (s, v) = env.call("GET", &format!("/api/v1/domains/check?{}", q(50)), Some(&key), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"].as_array().unwrap().len(), 50);
    let (s, v) = env.call("GET", &format!("/api/v1/domains/check?{}", q(51)), Some(&key), None).await;
    assert_problem("51 names", s, &v, 400, "invalid_request");
    let (s, v) = env.call("GET", "/api/v1/domains/check", Some(&key), None).await;
    assert_problem("no name", s, &v, 400, "invalid_request");
}

#[tokio::test]
async fn body_over_64_kib_is_too_large() {
    let (env, key, h) = setup().await;
    let big = with(body("grande.pt", &h), json!({"legitimacy": "x".repeat(64 * 1024)})).to_string();
    assert!(big.len() > 64 * 1024);
    let (s, v, _) = env.call_full("POST", "/api/v1/domains", Some(&key), Some(big)).await;
    assert_problem("domain create over 64 KiB", s, &v, 413, "too_large");
    let big = with(org_body(), json!({"name": "x".repeat(70 * 1024)})).to_string();
    let (s, v, _) = env.call_full("POST", "/api/v1/contacts", Some(&key), Some(big)).await;
    assert_problem("contact create over 64 KiB", s, &v, 413, "too_large");
    assert_eq!(env.balance(&key).await, OPENING);
    assert!(listed(&env, &key).await.is_empty());
}

#[tokio::test]
async fn json_nested_deeper_than_8_is_refused() {
    let (env, key, h) = setup().await;
    let nest = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    // The object itself is level 1.
    let deep = format!(r#"{{"name":"fundo.pt","registrant":"{h}","admin":"{h}","tech":"{h}","ds":{}}}"#, nest(8));
    let (s, v, _) = env.call_full("POST", "/api/v1/domains", Some(&key), Some(deep)).await;
    assert_problem("depth 9", s, &v, 400, "invalid_request");
    assert!(v["detail"].as_str().unwrap().contains("nested"), "{v}");
    let deep = format!("{}{{}}{}", "[".repeat(50), "]".repeat(50));
    let (s, v, _) = env.call_full("PATCH", "/api/v1/domains/fundo.pt", Some(&key), Some(deep)).await;
    assert_problem("depth 51", s, &v, 400, "invalid_request");
    for (label, raw) in [("not JSON", "{name: fundo.pt}"), ("empty body", ""), ("truncated", r#"{"name":"fundo.pt""#)] {
        let (s, v, _) = env.call_full("POST", "/api/v1/domains", Some(&key), Some(raw.to_string())).await;
        assert_problem(label, s, &v, 400, "invalid_request");
    }
    assert!(listed(&env, &key).await.is_empty());
}

#[tokio::test]
async fn page_size_is_1_to_500() {
    let (env, key, _) = setup().await;
    for (limit, ok) in [("0", false), ("1", true), ("500", true), ("501", false), ("-1", false), ("many", false)] {
        for list in ["/api/v1/domains", "/api/v1/contacts"] {
            let (s, v) = env.call("GET", &format!("{list}?limit={limit}"), Some(&key), None).await;
            if ok {
                assert_eq!(s, StatusCode::OK, "{list} limit={limit}: {v}");
            } else {
                assert_problem(&format!("{list} limit={limit}"), s, &v, 400, "invalid_request");
            }
        }
    }
}

#[tokio::test]
async fn paging_walks_every_domain_exactly_once() {
    let (env, key, h) = setup().await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_b = env.org(&key_b).await;
    let mut want = BTreeSet::new();
    for i in 0..23 {
        let name = if i % 4 == 0 { format!("d{i:02}.com.pt") } else { format!("d{i:02}.pt") };
        let (s, v) = env.register(&key, &name, &h, json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        want.insert(name);
        // Another registrar's domains interleave in name order.
        let (s, v) = env.register(&key_b, &format!("d{i:02}b.pt"), &h_b, json!({})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    for limit in [1, 5, 7, 23, 100] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &after {
                Some(a) => format!("/api/v1/domains?limit={limit}&after={}", pct(a)),
                None => format!("/api/v1/domains?limit={limit}"),
            };
            let (s, v) = env.call("GET", &path, Some(&key), None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let page = v["domains"].as_array().unwrap();
            assert!(page.len() <= limit, "limit {limit}: page of {}", page.len());
            seen.extend(page.iter().map(|d| d["name"].as_str().unwrap().to_string()));
            pages += 1;
            assert!(pages <= 30, "limit {limit}: paging does not end");
            match v["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
        let unique: BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "limit {limit}: a domain came twice: {seen:?}");
        assert_eq!(unique, want, "limit {limit}");
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "limit {limit}: not in name order");
    }
}

// ---------------------------------------------------------------------------------------------
// History

#[tokio::test]
async fn history_shows_create_and_update_without_auth_code() {
    let (env, key, h) = setup().await;
    let (s, created) = env.register(&key, "historia.pt", &h, json!({"nameservers": nameservers(2)})).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let auth_code = created["auth_code"].as_str().expect("the sponsor sees the auth code").to_string();
    assert!(!auth_code.is_empty());
    env.clock.advance(3600);
    let new_ns = json!([{"name": "ns1.example.org"}, {"name": "ns2.example.org"}]);
    let (s, v) = patch_domain(&env, &key, "historia.pt", json!({"nameservers": new_ns.clone()})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // A change that changes nothing and a refused change leave no entry.
    let (s, v) = patch_domain(&env, &key, "historia.pt", json!({"nameservers": new_ns})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = patch_domain(&env, &key, "historia.pt", json!({"nameservers": nameservers(14)})).await;
    assert_problem("refused change", s, &v, 422, "too_many_nameservers");

    let (s, v) = env.call("GET", "/api/v1/domains/historia.pt/history", Some(&key), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let history = v["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{v}");
    let ops: Vec<&str> = history.iter().map(|e| e["operation"].as_str().unwrap()).collect();
    assert_eq!(ops, vec!["domain.create", "domain.update"]);
    assert_eq!(history[0]["amount_cents"], json!(-PRICE));
    assert_eq!(history[1]["amount_cents"], json!(0));
    for e in history {
        assert_eq!(e["actor"], json!("registrar:reg-a"), "{e}");
    }
    let ns = &history[1]["changes"]["nameservers"];
    assert_eq!(
        ns["before"],
        json!([{"name": "ns1.example.net", "addresses": []}, {"name": "ns2.example.net", "addresses": []}]),
        "{v}"
    );
    assert_eq!(
        ns["after"],
        json!([{"name": "ns1.example.org", "addresses": []}, {"name": "ns2.example.org", "addresses": []}]),
        "{v}"
    );
    assert!(history[1]["changes"].get("registrant").is_none(), "{v}");
    let text = v.to_string();
    assert!(!text.contains("auth_code"), "history shows an auth_code field: {text}");
    assert!(!text.contains(&auth_code), "history shows the auth code: {text}");
}

// ---------------------------------------------------------------------------------------------
// Concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_registrations_for_one_name_have_one_winner() {
    let env = Arc::new(Env::new());
    let key_a = env.registrar("reg-a", OPENING).await;
    let key_b = env.registrar("reg-b", OPENING).await;
    let h_a = env.org(&key_a).await;
    let h_b = env.org(&key_b).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let (env, key_a, key_b, h_a, h_b) = (env.clone(), key_a.clone(), key_b.clone(), h_a.clone(), h_b.clone());
        tasks.push(tokio::spawn(async move {
            let name = format!("corrida{i:03}.pt");
            let (a, b) = tokio::join!(create(&env, &key_a, body(&name, &h_a)), create(&env, &key_b, body(&name, &h_b)));
            (name, a, b)
        }));
    }
    let (mut wins_a, mut wins_b) = (0i64, 0i64);
    for t in tasks {
        let (name, (sa, va), (sb, vb)) = t.await.unwrap();
        let winner = match (sa.as_u16(), sb.as_u16()) {
            (201, 409) => {
                assert_eq!(code(&vb), "not_available", "{name}: {vb}");
                wins_a += 1;
                "reg-a"
            }
            (409, 201) => {
                assert_eq!(code(&va), "not_available", "{name}: {va}");
                wins_b += 1;
                "reg-b"
            }
            other => panic!("{name}: expected one 201 and one 409, got {other:?}: {va} {vb}"),
        };
        let key = if winner == "reg-a" { &key_a } else { &key_b };
        let (s, v) = get_domain(&env, key, &name).await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        assert_eq!(v["registrar"], json!(winner), "{name}");
    }
    assert_eq!(wins_a + wins_b, 100);
    assert_eq!(env.balance(&key_a).await, OPENING - PRICE * wins_a);
    assert_eq!(env.balance(&key_b).await, OPENING - PRICE * wins_b);
    assert_eq!(listed(&env, &key_a).await.len() as i64, wins_a);
    assert_eq!(listed(&env, &key_b).await.len() as i64, wins_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn group_commit_refusal_does_not_fail_batch_mates() {
    let env = Arc::new(Env::new());
    let key = env.registrar("reg-a", OPENING).await;
    let h = env.org(&key).await;
    // A registrar that cannot pay: its refusal is decided inside the writer, like a missing contact.
    let key_poor = env.registrar("pobre", 0).await;
    let h_poor = env.org(&key_poor).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let env = env.clone();
        let name = format!("lote{i:02}.pt");
        // Every 5th is invalid: alternately an unknown contact, no funds, and a closed zone.
        let (k, b, valid) = match (i % 5, i % 15) {
            (0, 0) => (key.clone(), with(body(&name, &h), json!({"registrant": "C9999999"})), false),
            (0, 5) => (key_poor.clone(), body(&name, &h_poor), false),
            (0, _) => (key.clone(), body(&format!("lote{i:02}.net.pt"), &h), false),
            _ => (key.clone(), body(&name, &h), true),
        };
        tasks.push(tokio::spawn(async move {
            let r = create(&env, &k, b.clone()).await;
            (b["name"].as_str().unwrap().to_string(), valid, r)
        }));
    }
    let mut valid_names = Vec::new();
    for t in tasks {
        let (name, valid, (s, v)) = t.await.unwrap();
        if valid {
            assert_eq!(s, StatusCode::CREATED, "{name}: {v}");
            valid_names.push(name);
        } else {
            assert!(s.is_client_error(), "{name}: {s} {v}");
            assert!(["invalid_contact", "insufficient_funds", "zone_closed"].contains(&code(&v)), "{name}: {v}");
            let (s, v) = get_domain(&env, &key, &name).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{name} exists after a refusal: {v}");
        }
    }
    assert_eq!(valid_names.len(), 40);
    for name in &valid_names {
        let (s, v) = get_domain(&env, &key, name).await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
    }
    valid_names.sort();
    assert_eq!(listed(&env, &key).await, valid_names);
    assert_eq!(env.balance(&key).await, OPENING - 40 * PRICE);
    assert_eq!(env.balance(&key_poor).await, 0);
    assert!(listed(&env, &key_poor).await.is_empty());
}

/// Each registrar has its own request budget; past it, 429 `rate_limited` with `Retry-After`.
#[tokio::test]
async fn each_registrar_is_rate_limited_on_its_own() {
    let env = Env::with_http("api_rate_per_second = 1\napi_burst = 3\n");
    let a = env.registrar("ra", 0).await;
    let b = env.registrar("rb", 0).await;
    for i in 0..3 {
        let (s, v) = env.call("GET", "/api/v1/account", Some(&a), None).await;
        assert_eq!(s, StatusCode::OK, "request {i} within the burst: {v}");
    }
    let (s, v, _) = env.call_full("GET", "/api/v1/account", Some(&a), None).await;
    assert_problem("fourth request in a second", s, &v, 429, "rate_limited");
    let (s, _) = env.call("GET", "/api/v1/account", Some(&b), None).await;
    assert_eq!(s, StatusCode::OK, "another registrar keeps its own budget");
    let resp = env.raw("GET", "/api/v1/account", Some(&a)).await;
    assert_eq!(resp.status(), 429);
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
}
