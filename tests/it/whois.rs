//! Black-box tests of the WHOIS server (CONTRACT.md section 2, POLICY.md section 4): the real
//! `nicbox` binary on port 0, raw sockets and the Debian `whois` client.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::demo_args;
use crate::common::{Server, http_agent, http_call, org_body, person_body, run, whois_client, whois_raw, write_config};

const WHOIS_LISTEN: &str = "[whois]\nlisten = \"127.0.0.1:0\"\n";

/// A configuration whose `[whois]` table gets `whois` lines after its `listen`.
fn config_with_whois(dir: &Path, whois: &str) -> std::path::PathBuf {
    let path = write_config(dir, "");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(WHOIS_LISTEN), "{text}");
    std::fs::write(&path, text.replacen(WHOIS_LISTEN, &format!("{WHOIS_LISTEN}{whois}"), 1)).unwrap();
    path
}

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
    let key = out.lines().find_map(|l| l.split("): ").nth(1)).expect("key printed").trim().to_string();
    assert!(key.starts_with(&format!("nbx_{id}_")), "{out}");
    key
}

/// `user add` (before `serve`): returns the password.
fn add_user(config: &Path, name: &str, role: &str) -> String {
    let (code, out, err) = run(&["user", "add", "--config", config.to_str().unwrap(), "--name", name, "--role", role]);
    assert_eq!(code, 0, "user add: {out} {err}");
    out.lines()
        .find_map(|l| l.split("password (shown once): ").nth(1))
        .unwrap_or_else(|| panic!("no password in {out}"))
        .trim()
        .to_string()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// (status, JSON body) of a GET or DELETE with optional `Authorization`.
fn admin_call(agent: &ureq::Agent, method: &str, url: &str, auth: Option<&str>) -> (u16, Value) {
    let mut r = if method == "DELETE" { agent.delete(url) } else { agent.get(url) };
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    let mut resp = r.call().expect("HTTP call");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The answer to `name` + CRLF over a raw socket, as text.
fn ask(addr: SocketAddr, name: &str) -> String {
    ask_bytes(addr, format!("{name}\r\n").as_bytes())
}

fn ask_bytes(addr: SocketAddr, bytes: &[u8]) -> String {
    let out = whois_raw(addr, bytes);
    String::from_utf8(out).expect("WHOIS answers are UTF-8")
}

/// Every line of `text` ends with CRLF: no bare LF, no bare CR, and a final CRLF.
fn assert_crlf(text: &str) {
    assert!(text.ends_with("\r\n"), "no final CRLF: {text:?}");
    let stripped = text.replace("\r\n", "");
    assert!(!stripped.contains('\n') && !stripped.contains('\r'), "a line does not end with CRLF: {text:?}");
}

/// The first line of the record proper (after `%` comments and blank lines).
fn record_start(text: &str) -> Option<&str> {
    text.split("\r\n").find(|l| !l.is_empty() && !l.starts_with('%'))
}

/// The value of the first line `key: value`.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split("\r\n").find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
}

/// `2026-11-22T10:00:00Z` as the .pt directory writes it: `22/11/2026 10:00:00`.
fn pt_date(rfc3339: &str) -> String {
    let (date, time) = rfc3339.split_once('T').unwrap();
    let mut d = date.split('-');
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    format!("{day}/{m}/{y} {}", &time[..8])
}

/// `dd/mm/yyyy HH:MM:SS`.
fn is_pt_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b'/',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Every page of a registrar's list (`/api/v1/domains` or `/api/v1/contacts`), by `limit=500&after=`.
fn list_all(agent: &ureq::Agent, s: &Server, key: &str, what: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            Some(a) => s.url(&format!("/api/v1/{what}?limit=500&after={a}")),
            None => s.url(&format!("/api/v1/{what}?limit=500")),
        };
        let (status, v) = http_call(agent, "GET", &url, Some(key), None);
        assert_eq!(status, 200, "{v}");
        out.extend(v[what].as_array().unwrap().iter().cloned());
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    out
}

/// Personal data of a contact that must never leave: its email, phone digits and fiscal id.
fn secrets(c: &Value) -> Vec<String> {
    let mut v = vec![c["email"].as_str().unwrap().to_string()];
    if let Some(p) = c["phone"].as_str() {
        let digits = p.split_once('.').map(|(_, d)| d).unwrap_or(p);
        v.push(digits.to_string());
    }
    if let Some(f) = c["fiscal_id"].as_str() {
        v.push(f.to_string());
    }
    v
}

/// A supervisor may stop the server as soon as it says it listens: SIGTERM is a clean exit.
#[test]
fn sigterm_right_after_listening_is_a_clean_exit() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_whois(dir.path(), "");
    init_with_registrar(&config, "ptreg", 0);
    for _ in 0..5 {
        let s = Server::serve(&config);
        assert_eq!(s.terminate().code(), Some(0), "SIGTERM right after the listening lines");
    }
}

#[test]
fn demo_domains_disclose_no_email_or_phone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let args = demo_args(&data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(&args, dir.path());
    // The demo serves WHOIS with its default limits.
    assert_eq!(ask(s.whois, "google.com"), "invalid search\r\n");
    assert_eq!(s.terminate().code(), Some(0));
    // Exempt the tests' own address from the limits: every domain is asked.
    let cfg = data.join("nicbox.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("allow = []\n"), "{text}");
    std::fs::write(&cfg, text.replacen("allow = []\n", "allow = [\"127.0.0.0/8\"]\n", 1)).unwrap();
    let s = Server::start(&args, dir.path());

    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let agent = http_agent();
    let (mut asked, mut persons, mut orgs, mut idns, mut pending_delete, mut by_client) = (0, 0, 0, 0, 0, 0);
    for r in creds["registrars"].as_array().unwrap() {
        let key = r["api_key"].as_str().unwrap();
        // All contacts at once (the registrar API's rate limit makes one GET per contact slow);
        // a sample is cross-checked against GET /api/v1/contacts/{handle}.
        let mut contacts: HashMap<String, Value> = HashMap::new();
        for (i, c) in list_all(&agent, &s, key, "contacts").into_iter().enumerate() {
            let handle = c["handle"].as_str().unwrap().to_string();
            if i % 200 == 0 {
                let (status, one) =
                    http_call(&agent, "GET", &s.url(&format!("/api/v1/contacts/{handle}")), Some(key), None);
                assert_eq!(status, 200, "{one}");
                assert_eq!(one, c, "the list and GET disagree on {handle}");
            }
            contacts.insert(handle, c);
        }
        let mut contact = |handle: &str| -> Value {
            if let Some(c) = contacts.get(handle) {
                return c.clone();
            }
            let (status, c) = http_call(&agent, "GET", &s.url(&format!("/api/v1/contacts/{handle}")), Some(key), None);
            assert_eq!(status, 200, "contact {handle}: {c}");
            contacts.insert(handle.to_string(), c.clone());
            c
        };
        for d in list_all(&agent, &s, key, "domains") {
            let name = d["name"].as_str().unwrap();
            let unicode = d["unicode_name"].as_str().unwrap();
            let statuses: Vec<&str> = d["status"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
            let answer = ask(s.whois, name);
            asked += 1;
            assert_crlf(&answer);
            assert!(!answer.contains('@'), "{name}: an email address in\n{answer}");
            if statuses.contains(&"pendingCreate") {
                assert_eq!(answer, format!("{name} - No Match\r\n"));
                continue;
            }
            assert_eq!(record_start(&answer), Some(format!("Domain: {unicode}").as_str()), "{name}:\n{answer}");
            if name.contains("xn--") {
                idns += 1;
                assert_ne!(name, unicode);
                assert!(
                    answer.contains(&format!("Domain: {unicode}\r\nDomain (A-label): {name}\r\n")),
                    "{name}:\n{answer}"
                );
            } else {
                assert!(!answer.contains("Domain (A-label)"), "{name}:\n{answer}");
            }
            if statuses.contains(&"pendingDelete") {
                pending_delete += 1;
                assert_eq!(field(&answer, "Domain Status"), Some("Pending Delete"), "{name}:\n{answer}");
            }
            let registrant = contact(d["registrant"].as_str().unwrap());
            let admin = contact(d["admin"].as_str().unwrap());
            for c in [&registrant, &admin] {
                for secret in secrets(c) {
                    assert!(!answer.contains(&secret), "{name}: `{secret}` of {} disclosed:\n{answer}", c["handle"]);
                }
            }
            let visible = d["owner_visible"].as_bool().unwrap();
            let disclosed = |c: &Value| c["kind"] == "organization" && visible;
            // Names and streets of organizations that may be shown (a person's name may be part
            // of one, e.g. a sole trader's firm).
            let shown: Vec<String> = [&registrant, &admin]
                .iter()
                .filter(|c| disclosed(c))
                .flat_map(|c| {
                    let mut v = vec![c["name"].as_str().unwrap().to_string()];
                    v.extend(c["street"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()));
                    v
                })
                .collect();
            for (role, c) in [("Owner", &registrant), ("Admin", &admin)] {
                if disclosed(c) {
                    let cname = c["name"].as_str().unwrap();
                    assert!(answer.contains(&format!("{role} Name: {cname}\r\n")), "{name}:\n{answer}");
                    assert_eq!(field(&answer, &format!("{role} Country Code")), c["country_code"].as_str());
                } else {
                    assert!(!answer.contains(&format!("{role} Name:")), "{name}: {role} name shown:\n{answer}");
                    assert!(!answer.contains(&format!("{role} Address:")), "{name}:\n{answer}");
                    if c["kind"] == "person" {
                        let mut personal = vec![c["name"].as_str().unwrap().to_string()];
                        personal
                            .extend(c["street"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()));
                        for p in personal {
                            if !shown.iter().any(|s| s.contains(&p)) {
                                assert!(!answer.contains(&p), "{name}: `{p}` of a person disclosed:\n{answer}");
                            }
                        }
                    }
                }
            }
            if registrant["kind"] == "person" {
                persons += 1;
                assert!(
                    answer
                        .contains(&format!("Owner Country Code: {}\r\n", registrant["country_code"].as_str().unwrap())),
                    "{name}:\n{answer}"
                );
            } else {
                orgs += 1;
            }
            // A sample through the real client (which prints LF line ends).
            if asked % 100 == 1 {
                by_client += 1;
                let out = whois_client(s.whois, name);
                assert_eq!(out.trim_end(), answer.replace("\r\n", "\n").trim_end(), "{name} through the whois client");
            }
        }
    }
    assert!((1_900..=2_100).contains(&asked), "{asked} demo domains asked");
    assert!(persons >= 100 && orgs >= 100, "{persons} persons, {orgs} organizations");
    assert!(idns >= 50, "{idns} IDN domains");
    assert!(pending_delete >= 1, "the demo has pending-delete domains");
    assert!(by_client >= 15, "{by_client} asked with the whois client");
    assert_eq!(s.terminate().code(), Some(0));
}

/// A domain body with nameservers (`ns1` under the domain, with glue).
fn domain_body(name: &str, ascii: &str, registrant: &str, admin: &str) -> Value {
    json!({"name": name, "period_years": 1, "registrant": registrant, "admin": admin, "tech": admin,
           "nameservers": [{"name": format!("ns1.{ascii}"), "addresses": ["192.0.2.1", "2001:db8::53"]},
                           {"name": "ns2.example.net"}]})
}

fn post(agent: &ureq::Agent, s: &Server, key: &str, path: &str, body: &Value) -> (u16, Value) {
    http_call(agent, "POST", &s.url(path), Some(key), Some(body))
}

#[test]
fn answers_as_the_contract_says() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_whois(dir.path(), "allow = [\"127.0.0.0/8\"]\n");
    let key = init_with_registrar(&config, "ptreg", 10_000_000);
    let s = Server::serve(&config);
    let agent = http_agent();
    let (status, org) = post(&agent, &s, &key, "/api/v1/contacts", &org_body());
    assert_eq!(status, 201, "{org}");
    let org = org["handle"].as_str().unwrap().to_string();
    let (status, person) = post(&agent, &s, &key, "/api/v1/contacts", &person_body());
    assert_eq!(status, 201, "{person}");
    let person = person["handle"].as_str().unwrap().to_string();

    let (status, d_org) =
        post(&agent, &s, &key, "/api/v1/domains", &domain_body("empresa-exemplo.pt", "empresa-exemplo.pt", &org, &org));
    assert_eq!(status, 201, "{d_org}");
    let (status, d_person) = post(
        &agent,
        &s,
        &key,
        "/api/v1/domains",
        &domain_body("joao-goncalves.pt", "joao-goncalves.pt", &person, &person),
    );
    assert_eq!(status, 201, "{d_person}");
    let (status, d_idn) = post(
        &agent,
        &s,
        &key,
        "/api/v1/domains",
        &json!({"name": "açores-turismo.pt", "period_years": 1, "registrant": org, "admin": org, "tech": org,
                "nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]}),
    );
    assert_eq!(status, 201, "{d_idn}");
    let a_label = d_idn["name"].as_str().unwrap().to_string();
    assert!(a_label.starts_with("xn--") && a_label.ends_with(".pt"), "{d_idn}");

    let secrets_all: Vec<String> = secrets(&org_body()).into_iter().chain(secrets(&person_body())).collect();
    let clean = |answer: &str| {
        assert_crlf(answer);
        assert!(!answer.contains('@'), "{answer}");
        for secret in &secrets_all {
            assert!(!answer.contains(secret.as_str()), "`{secret}` disclosed:\n{answer}");
        }
        for key in ["Creation Date", "Expiration Date", "Last Update"] {
            if let Some(v) = field(answer, key) {
                assert!(is_pt_date(v), "{key}: {v}");
            }
        }
    };

    // An organization: name and address of owner and admin, the .pt block as the contract lays it out.
    let a = ask(s.whois, "empresa-exemplo.pt");
    clean(&a);
    let want = format!(
        "Domain: empresa-exemplo.pt\r\nDomain Status: Registered\r\nCreation Date: {}\r\nExpiration Date: {}\r\n\
Owner Name: Exemplo, Lda.\r\nOwner Address: Rua Augusta 1\r\nOwner Locality: Lisboa\r\nOwner ZipCode: 1100-048\r\n\
Owner Country Code: PT\r\nAdmin Name: Exemplo, Lda.\r\nAdmin Address: Rua Augusta 1\r\nAdmin Locality: Lisboa\r\n\
Admin ZipCode: 1100-048\r\nAdmin Country Code: PT\r\n\r\n\
Name Server: ns1.empresa-exemplo.pt | IPv4: 192.0.2.1 and IPv6: 2001:db8::53\r\n\
Name Server: ns2.example.net | IPv4:  and IPv6: \r\n",
        pt_date(d_org["created"].as_str().unwrap()),
        pt_date(d_org["expires"].as_str().unwrap()),
    );
    assert!(a.contains(&want), "want\n{want}\nin\n{a}");
    assert_eq!(record_start(&a), Some("Domain: empresa-exemplo.pt"));
    assert!(!a.contains("Domain (A-label)"));
    // Same answer for every form of the same query.
    for q in [
        &b"EMPRESA-EXEMPLO.PT\r\n"[..],
        b"empresa-exemplo.pt.\r\n",
        b"   empresa-exemplo.pt  \r\n",
        b"\tEmpresa-Exemplo.Pt.\t\r\n",
        b"empresa-exemplo.pt\n",
    ] {
        assert_eq!(ask_bytes(s.whois, q), a, "{:?}", String::from_utf8_lossy(q));
    }
    assert_eq!(whois_client(s.whois, "empresa-exemplo.pt").trim_end(), a.replace("\r\n", "\n").trim_end());

    // A person: only the owner's country; no name, address, phone or email of anyone.
    let p = ask(s.whois, "joao-goncalves.pt");
    clean(&p);
    let want = format!(
        "Domain: joao-goncalves.pt\r\nDomain Status: Registered\r\nCreation Date: {}\r\nExpiration Date: {}\r\n\
Owner Country Code: PT\r\n\r\nName Server: ns1.joao-goncalves.pt | IPv4: 192.0.2.1 and IPv6: 2001:db8::53\r\n",
        pt_date(d_person["created"].as_str().unwrap()),
        pt_date(d_person["expires"].as_str().unwrap()),
    );
    assert!(p.contains(&want), "want\n{want}\nin\n{p}");
    for leak in [
        "Owner Name",
        "Owner Address",
        "Admin Name",
        "Admin Address",
        "João",
        "Gonçalves",
        "Évora",
        "Prata",
        "7000-651",
    ] {
        assert!(!p.contains(leak), "`{leak}` in a person's record:\n{p}");
    }

    // An IDN: U-label (UTF-8 and Latin-1), A-label, any case, the whois client: one record.
    let i = ask(s.whois, &a_label);
    clean(&i);
    assert!(i.contains(&format!("Domain: açores-turismo.pt\r\nDomain (A-label): {a_label}\r\n")), "{i}");
    assert_eq!(record_start(&i), Some("Domain: açores-turismo.pt"));
    for q in [
        "açores-turismo.pt\r\n".as_bytes(),
        b"a\xe7ores-turismo.pt\r\n",
        "AÇORES-TURISMO.PT\r\n".as_bytes(),
        " açores-turismo.pt. \r\n".as_bytes(),
        a_label.to_uppercase().as_bytes(),
    ] {
        let mut q = q.to_vec();
        if !q.ends_with(b"\n") {
            q.extend_from_slice(b"\r\n");
        }
        assert_eq!(ask_bytes(s.whois, &q), i, "{:?}", String::from_utf8_lossy(&q));
    }
    let lf = i.replace("\r\n", "\n");
    assert_eq!(whois_client(s.whois, "açores-turismo.pt").trim_end(), lf.trim_end(), "U-label through the client");
    assert_eq!(whois_client(s.whois, &a_label).trim_end(), lf.trim_end(), "A-label through the client");

    // Free names, and names outside the registry.
    assert_eq!(ask(s.whois, "livre-de-todo.pt"), "livre-de-todo.pt - No Match\r\n");
    assert_eq!(ask(s.whois, "  LIVRE-DE-TODO.PT. "), "livre-de-todo.pt - No Match\r\n");
    assert_eq!(ask(s.whois, "nada.com.pt"), "nada.com.pt - No Match\r\n");
    assert_eq!(ask(s.whois, "google.com"), "invalid search\r\n");
    assert_eq!(ask(s.whois, "GOOGLE.COM."), "invalid search\r\n");
    assert_eq!(ask(s.whois, "exemplo.pt.com"), "invalid search\r\n");
    assert_eq!(whois_client(s.whois, "google.com").trim_end(), "invalid search");

    // Deleted (with auto-renew on): still shown, as Pending Delete.
    let mut body = domain_body("apagado.pt", "apagado.pt", &org, &org);
    body["auto_renew"] = json!(true);
    let (status, v) = post(&agent, &s, &key, "/api/v1/domains", &body);
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["auto_renew"], true, "{v}");
    assert_eq!(field(&ask(s.whois, "apagado.pt"), "Domain Status"), Some("Registered"));
    let mut resp = agent
        .delete(&s.url("/api/v1/domains/apagado.pt"))
        .header("authorization", &format!("Bearer {key}"))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{}", resp.body_mut().read_to_string().unwrap_or_default());
    let gone = ask(s.whois, "apagado.pt");
    clean(&gone);
    assert_eq!(record_start(&gone), Some("Domain: apagado.pt"), "{gone}");
    assert_eq!(field(&gone, "Domain Status"), Some("Pending Delete"), "{gone}");
    assert!(field(&gone, "Status").unwrap().contains("pendingDelete"), "{gone}");

    // In review (gov.pt): pendingCreate, not shown.
    let (status, v) = post(
        &agent,
        &s,
        &key,
        "/api/v1/domains",
        &domain_body("ministerio-exemplo.gov.pt", "ministerio-exemplo.gov.pt", &org, &org),
    );
    assert_eq!(status, 202, "{v}");
    assert!(v["status"].as_array().unwrap().contains(&json!("pendingCreate")), "{v}");
    assert_eq!(ask(s.whois, "ministerio-exemplo.gov.pt"), "ministerio-exemplo.gov.pt - No Match\r\n");
    assert_eq!(s.terminate().code(), Some(0));
}

const LIMITS: &str = "rate_per_minute = 6\nburst = 3\nsuspend_after = 3\nsuspension_minutes = [10, 60, 1440]\n";

/// Queries until the answer says suspended: (answered, refused before the suspension). Panics
/// after 12 queries.
fn until_suspended(addr: SocketAddr) -> (usize, usize) {
    let (mut answered, mut refused) = (0, 0);
    for _ in 0..12 {
        let a = ask(addr, "livre.pt");
        assert_crlf(&a);
        if a == "livre.pt - No Match\r\n" {
            assert_eq!(refused, 0, "answered after a refusal: {a}");
            answered += 1;
        } else {
            assert!(a.starts_with("% Rate limit exceeded"), "{a}");
            assert_eq!(a.lines().count(), 1, "{a}");
            if a.contains("suspended until") {
                return (answered, refused);
            }
            assert!(a.contains("try again after"), "{a}");
            refused += 1;
        }
    }
    panic!("not suspended after 12 queries");
}

fn suspensions(agent: &ureq::Agent, s: &Server, auth: &str) -> Vec<Value> {
    let (status, v) = admin_call(agent, "GET", &s.url("/admin/api/whois/suspensions"), Some(auth));
    assert_eq!(status, 200, "{v}");
    v["suspensions"].as_array().unwrap().clone()
}

fn secs(rfc3339: &Value) -> i64 {
    nicbox::model::Timestamp::parse_rfc3339(rfc3339.as_str().unwrap()).unwrap().0
}

#[test]
fn rate_limit_and_suspension_lifted_by_admin() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_whois(dir.path(), LIMITS);
    init_with_registrar(&config, "ptreg", 0);
    let ops = basic("ops", &add_user(&config, "ops", "admin"));
    let help = basic("help", &add_user(&config, "help", "support"));
    let s = Server::serve(&config);
    let agent = http_agent();

    let first = Instant::now();
    let (answered, refused) = until_suspended(s.whois);
    assert_eq!((answered, refused), (3, 2), "the burst, then suspend_after refusals (the third suspends)");
    let a = ask(s.whois, "livre.pt");
    assert!(a.starts_with("% Rate limit exceeded") && a.contains("suspended until"), "{a}");
    // Other forms of query are refused as well: the budget is the origin's.
    assert!(ask(s.whois, "google.com").starts_with("% Rate limit exceeded"));

    let list = suspensions(&agent, &s, &ops);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["origin"], "127.0.0.1");
    assert_eq!(list[0]["level"], 1);
    assert_eq!(secs(&list[0]["until"]) - secs(&list[0]["since"]), 10 * 60, "{list:?}");
    // The support role reads too; wrong or missing credentials do not.
    assert_eq!(suspensions(&agent, &s, &help).len(), 1);
    let url = s.url("/admin/api/whois/suspensions");
    assert_eq!(admin_call(&agent, "GET", &url, Some(&basic("ops", "wrong"))).0, 401);
    assert_eq!(admin_call(&agent, "GET", &url, Some(&basic("nobody", "x"))).0, 401);
    assert_eq!(admin_call(&agent, "GET", &url, None).0, 401);
    let lift = s.url("/admin/api/whois/suspensions/127.0.0.1");
    assert_eq!(admin_call(&agent, "DELETE", &lift, Some(&basic("help", "wrong"))).0, 401);
    assert!(ask(s.whois, "livre.pt").contains("suspended until"), "a refused lift lifts nothing");

    let (status, v) = admin_call(&agent, "DELETE", &lift, Some(&help));
    assert_eq!(status, 200, "support may lift: {v}");
    assert_eq!(v["origin"], "127.0.0.1");
    assert!(v["lifted_by"].as_str().unwrap_or("").contains("help"), "{v}");
    assert!(suspensions(&agent, &s, &ops).is_empty());
    assert_eq!(admin_call(&agent, "DELETE", &lift, Some(&ops)).0, 404, "nothing left to lift");

    // The bucket refills one query per 10 s: the first came back 10 s after the first query.
    let wait = Duration::from_secs(11).saturating_sub(first.elapsed());
    std::thread::sleep(wait);
    assert_eq!(ask(s.whois, "livre.pt"), "livre.pt - No Match\r\n", "answered again after the lift");
    assert_eq!(s.terminate().code(), Some(0));
}

#[test]
fn suspension_survives_a_restart_and_escalates() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_whois(dir.path(), LIMITS);
    init_with_registrar(&config, "ptreg", 0);
    let ops = basic("ops", &add_user(&config, "ops", "admin"));
    let agent = http_agent();

    let s = Server::serve(&config);
    assert_eq!(until_suspended(s.whois), (3, 2));
    let before = suspensions(&agent, &s, &ops);
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["level"], 1);
    assert_eq!(s.terminate().code(), Some(0));

    let s = Server::serve(&config);
    let a = ask(s.whois, "livre.pt");
    assert!(a.starts_with("% Rate limit exceeded") && a.contains("suspended until"), "after a restart: {a}");
    let after = suspensions(&agent, &s, &ops);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(
        (&after[0]["origin"], &after[0]["level"], &after[0]["until"]),
        (&before[0]["origin"], &before[0]["level"], &before[0]["until"])
    );
    let (status, v) = admin_call(&agent, "DELETE", &s.url("/admin/api/whois/suspensions/127.0.0.1"), Some(&ops));
    assert_eq!(status, 200, "{v}");

    // Recurrence: the next suspension is the second level (60 minutes).
    assert_eq!(until_suspended(s.whois), (3, 2));
    let again = suspensions(&agent, &s, &ops);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0]["level"], 2, "{again:?}");
    assert_eq!(again[0]["count"], 2, "{again:?}");
    assert_eq!(secs(&again[0]["until"]) - secs(&again[0]["since"]), 60 * 60, "{again:?}");
    assert_eq!(s.terminate().code(), Some(0));
}

/// Reads to EOF (or the read timeout): the bytes and whether EOF came.
fn read_all(stream: &mut TcpStream, timeout: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A reset after the answer is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
}

#[test]
fn bad_clients_get_a_line_or_a_closed_socket() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        // Not allow-listed (allow-listed networks are exempt from the connection cap too): a
        // budget large enough that the rate limit never interferes.
        config_with_whois(
            dir.path(),
            "rate_per_minute = 100000\nburst = 100000\ntimeout_secs = 1\nmax_connections_per_origin = 4\n",
        );
    init_with_registrar(&config, "ptreg", 0);
    let mut s = Server::serve(&config);
    let addr = s.whois;

    // Binary garbage with a line end: a line, then the close.
    let mut x: u32 = 0x2545_f491;
    let mut garbage: Vec<u8> = (0..200)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect();
    garbage.push(b'\n');
    for bytes in [&garbage[..], b"\x00\x00\x00\r\n", b"\xff\xfe\x00a\x00.\x00p\x00t\r\n", b"\r\n"] {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(bytes).unwrap();
        let (out, eof) = read_all(&mut c, Duration::from_secs(5));
        assert!(eof, "closed after the answer");
        let text = String::from_utf8(out).unwrap();
        assert!(!text.is_empty(), "an answer to {bytes:?}");
        assert_crlf(&text);
    }

    // An endless line: refused with one line.
    let mut c = TcpStream::connect(addr).unwrap();
    let _ = c.write_all(&[b'a'; 10 * 1024]);
    let (out, eof) = read_all(&mut c, Duration::from_secs(5));
    assert!(eof);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("% Query too long"), "{text:?}");
    assert_eq!(text.lines().count(), 1, "{text:?}");

    // A silent client is closed after the timeout.
    let started = Instant::now();
    let mut c = TcpStream::connect(addr).unwrap();
    let (out, eof) = read_all(&mut c, Duration::from_secs(5));
    assert!(eof && started.elapsed() < Duration::from_secs(3), "closed in {:?}", started.elapsed());
    assert!(started.elapsed() >= Duration::from_millis(800), "closed at once: {:?}", started.elapsed());
    assert!(out.is_empty(), "{out:?}");

    // A client that never reads does not hold up anyone.
    let mut deaf: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = TcpStream::connect(addr).unwrap();
            c.write_all(b"livre.pt\r\n").unwrap();
            c
        })
        .collect();
    let started = Instant::now();
    assert_eq!(ask(addr, "livre.pt"), "livre.pt - No Match\r\n");
    assert!(started.elapsed() < Duration::from_millis(900), "{:?}", started.elapsed());
    for c in &mut deaf {
        let (out, eof) = read_all(c, Duration::from_secs(5));
        assert!(eof);
        assert_eq!(out, b"livre.pt - No Match\r\n");
    }
    drop(deaf);
    // A slot is given back a moment after its client sees the end of the answer (on this 2-core
    // machine the fourth idle connection below was sometimes refused without this pause).
    std::thread::sleep(Duration::from_millis(100));

    // The per-origin cap: 4 idle connections, then a fifth gets a line.
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(150));
    let mut fifth = TcpStream::connect(addr).unwrap();
    let _ = fifth.write_all(b"livre.pt\r\n");
    let (out, eof) = read_all(&mut fifth, Duration::from_secs(5));
    assert!(eof);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("% Too many connections"), "{text:?}");
    assert_crlf(&text);
    // The idle ones time out, and free their slots.
    for mut c in idle {
        let (out, eof) = read_all(&mut c, Duration::from_secs(5));
        assert!(eof && out.is_empty(), "{out:?}");
    }

    assert_eq!(ask(addr, "livre.pt"), "livre.pt - No Match\r\n", "still answering");
    assert_eq!(whois_client(addr, "google.com").trim_end(), "invalid search");
    assert!(s.child.try_wait().unwrap().is_none(), "the server is alive");
    assert_eq!(s.terminate().code(), Some(0));
}

/// The value of a metrics line `name{labels}`.
fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|r| r.trim().parse().ok()))
}

#[test]
fn query_log_counts_on_metrics() {
    let dir = tempfile::tempdir().unwrap();
    // A budget of 10, no suspension in sight.
    let config = config_with_whois(dir.path(), "rate_per_minute = 6\nburst = 10\nsuspend_after = 1000\n");
    let key = init_with_registrar(&config, "ptreg", 1_000_000);
    let s = Server::serve(&config);
    let agent = http_agent();
    let (status, c) = post(&agent, &s, &key, "/api/v1/contacts", &org_body());
    assert_eq!(status, 201, "{c}");
    let handle = c["handle"].as_str().unwrap();
    let (status, v) = post(&agent, &s, &key, "/api/v1/domains", &domain_body("existe.pt", "existe.pt", handle, handle));
    assert_eq!(status, 201, "{v}");

    let (found, no_match, invalid, limited) = (3, 4, 3, 4);
    for _ in 0..found {
        assert!(ask(s.whois, "existe.pt").contains("Domain: existe.pt\r\n"));
    }
    for i in 0..no_match {
        assert_eq!(ask(s.whois, &format!("livre{i}.pt")), format!("livre{i}.pt - No Match\r\n"));
    }
    for q in ["google.com", "example.org", "nic.fr"].iter().take(invalid) {
        assert_eq!(ask(s.whois, q), "invalid search\r\n");
    }
    // The budget is spent: the rest are limited.
    for _ in 0..limited {
        assert!(ask(s.whois, "existe.pt").starts_with("% Rate limit exceeded"));
    }
    // An empty query is not a query.
    assert!(ask_bytes(s.whois, b"\r\n").starts_with('%'));

    let want = [("found", found), ("no_match", no_match), ("invalid", invalid), ("limited", limited)];
    let deadline = Instant::now() + Duration::from_secs(5);
    std::thread::sleep(Duration::from_millis(1_000));
    loop {
        let mut resp = agent.get(&s.url("/metrics")).call().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let text = resp.body_mut().read_to_string().unwrap();
        let got: Vec<(&str, Option<u64>)> = want
            .iter()
            .map(|(o, _)| {
                (*o, metric(&text, &format!("nicbox_directory_queries_total{{protocol=\"whois\",outcome=\"{o}\"}}")))
            })
            .collect();
        let expected: Vec<(&str, Option<u64>)> = want.iter().map(|(o, n)| (*o, Some(*n as u64))).collect();
        if got == expected {
            assert_eq!(metric(&text, "nicbox_directory_suspended_origins"), Some(0), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "metrics {got:?}, want {expected:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(s.terminate().code(), Some(0));
}

/// Allow-listed networks are exempt from every limit: the rate limit and the connection cap.
#[test]
fn allow_listed_networks_skip_every_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_whois(
        dir.path(),
        "allow = [\"127.0.0.0/8\"]\nrate_per_minute = 1\nburst = 1\nsuspend_after = 1\nmax_connections_per_origin = 1\n",
    );
    init_with_registrar(&config, "ptreg", 0);
    let s = Server::serve(&config);
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(s.whois).unwrap()).collect();
    for _ in 0..5 {
        assert_eq!(ask(s.whois, "livre.pt"), "livre.pt - No Match\r\n");
    }
    drop(idle);
}
