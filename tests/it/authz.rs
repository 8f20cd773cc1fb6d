//! The authorization matrix (issue 14): every route of the HTTP application and every EPP
//! command, against every class of caller, on the real binary (the demo).
//!
//! The rows come from the code: `nicbox::http::route_table()` is recorded by the very calls that
//! build the application's router, `nicbox::http::admin::ACTIONS` lists the admin forms' actions
//! their handlers accept, and `nicbox::epp::commands()` the commands the EPP dispatcher runs.
//! `the_matrix_has_a_row_for_every_route_action_and_command` fails when one of them has no row
//! here, or when a row names one that no longer exists; each matrix test then fails unless it
//! exercised every cell of its rows (`Cells::assert_complete`).
//!
//! Callers: a registrar on its own objects, another registrar, no key, a wrong key (from an
//! address of its own, so the wrong-key throttle never locks the test out); the admin and
//! support roles, no session, a form without its CSRF token and one with another session's.
//! A refused request that could change something is followed by a read of what it aimed at
//! (by its sponsor, or the admin), which must be as before.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Server, org_body, start_demo};
use crate::epp::{Raw, Received, code, field, tls_config};

// ---------------------------------------------------------------------------------------------
// The rows

/// How a route is guarded, and so which callers its row has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    /// The registrar API (bearer key).
    Registrar,
    /// A page of the admin UI (GET, session cookie).
    AdminPage,
    /// A form of the admin UI (POST, session cookie and its CSRF token).
    AdminForm,
    /// The admin JSON API (HTTP Basic of an admin-UI user).
    AdminApi,
    /// The admin UI's sign-in form (no session yet; a signed form token).
    SignIn,
    /// Anyone, without credentials.
    Public,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    /// The registrar the object belongs to (or the one the call is for).
    Own,
    /// Another registrar, on the first one's object.
    Other,
    NoKey,
    /// A wrong API key, or wrong HTTP Basic credentials, or a wrong password at sign-in.
    BadKey,
    Admin,
    Support,
    NoSession,
    NoCsrf,
    /// A valid CSRF token of another session.
    WrongCsrf,
    /// The admin's HTTP Basic credentials, sent by a browser from a page of another site
    /// (`Origin` of that site).
    CrossSite,
    Anyone,
    /// EPP: the sponsoring registrar's session.
    Sponsor,
    /// EPP: a connection that has not logged in.
    BeforeLogin,
}

use Caller::*;

fn callers(g: Guard) -> &'static [Caller] {
    match g {
        Guard::Registrar => &[Own, Other, NoKey, BadKey],
        Guard::AdminPage => &[Admin, Support, NoSession],
        Guard::AdminForm => &[Admin, Support, NoSession, NoCsrf, WrongCsrf],
        Guard::AdminApi => &[Admin, Support, NoSession, BadKey, CrossSite],
        Guard::SignIn => &[Anyone, NoCsrf, WrongCsrf, BadKey],
        Guard::Public => &[Anyone],
    }
}

/// Every route of the application: (method, path pattern, guard).
const ROUTES: &[(&str, &str, Guard)] = &[
    // The registrar API (CONTRACT.md section 3).
    ("GET", "/api/v1/openapi.json", Guard::Public),
    ("GET", "/api/v1/account", Guard::Registrar),
    ("GET", "/api/v1/domains/check", Guard::Registrar),
    ("GET", "/api/v1/contacts", Guard::Registrar),
    ("POST", "/api/v1/contacts", Guard::Registrar),
    ("GET", "/api/v1/contacts/{handle}", Guard::Registrar),
    ("PATCH", "/api/v1/contacts/{handle}", Guard::Registrar),
    ("GET", "/api/v1/domains", Guard::Registrar),
    ("POST", "/api/v1/domains", Guard::Registrar),
    ("GET", "/api/v1/domains/{name}", Guard::Registrar),
    ("PATCH", "/api/v1/domains/{name}", Guard::Registrar),
    ("DELETE", "/api/v1/domains/{name}", Guard::Registrar),
    ("GET", "/api/v1/domains/{name}/history", Guard::Registrar),
    ("POST", "/api/v1/domains/{name}/renew", Guard::Registrar),
    ("POST", "/api/v1/domains/{name}/transfer", Guard::Registrar),
    ("POST", "/api/v1/domains/{name}/restore", Guard::Registrar),
    ("POST", "/api/v1/domains/{name}/registrant", Guard::Registrar),
    ("POST", "/api/v1/domains/{name}/auth-code", Guard::Registrar),
    ("GET", "/api/v1/poll", Guard::Registrar),
    ("DELETE", "/api/v1/poll/{id}", Guard::Registrar),
    // The admin JSON API (CONTRACT.md section 5).
    ("GET", "/admin/api/clock", Guard::AdminApi),
    ("POST", "/admin/api/clock/advance", Guard::AdminApi),
    ("POST", "/admin/api/lifecycle/run", Guard::AdminApi),
    ("GET", "/admin/api/stats", Guard::AdminApi),
    ("GET", "/admin/api/whois/suspensions", Guard::AdminApi),
    ("DELETE", "/admin/api/whois/suspensions/{ip}", Guard::AdminApi),
    ("POST", "/admin/api/zone/export", Guard::AdminApi),
    // The admin UI.
    ("GET", "/admin", Guard::AdminPage),
    ("GET", "/admin/", Guard::AdminPage),
    ("GET", "/admin/login", Guard::Public),
    ("POST", "/admin/login", Guard::SignIn),
    ("POST", "/admin/logout", Guard::AdminForm),
    ("GET", "/admin/lang/{lang}", Guard::Public),
    ("GET", "/admin/domains", Guard::AdminPage),
    ("GET", "/admin/domains/{name}", Guard::AdminPage),
    ("POST", "/admin/domains/{name}/action", Guard::AdminForm),
    ("GET", "/admin/registrars", Guard::AdminPage),
    ("POST", "/admin/registrars", Guard::AdminForm),
    ("GET", "/admin/registrars/{id}", Guard::AdminPage),
    ("POST", "/admin/registrars/{id}/action", Guard::AdminForm),
    ("GET", "/admin/queues", Guard::AdminPage),
    ("GET", "/admin/zones", Guard::AdminPage),
    ("POST", "/admin/zones/publish", Guard::AdminForm),
    ("GET", "/admin/directory", Guard::AdminPage),
    ("POST", "/admin/directory/lift", Guard::AdminForm),
    ("POST", "/admin/directory/disclosures", Guard::AdminForm),
    ("GET", "/admin/directory/disclosures/{id}", Guard::AdminPage),
    ("POST", "/admin/directory/disclosures/{id}", Guard::AdminForm),
    ("GET", "/admin/users", Guard::AdminPage),
    ("POST", "/admin/users", Guard::AdminForm),
    ("GET", "/admin/audit", Guard::AdminPage),
    ("GET", "/admin/clock", Guard::AdminPage),
    ("POST", "/admin/clock", Guard::AdminForm),
    ("GET", "/admin/static/admin.css", Guard::Public),
    // Public pages, health and metrics (CONTRACT.md section 4).
    ("GET", "/", Guard::Public),
    ("GET", "/static/{file}", Guard::Public),
    ("GET", "/api/public/availability", Guard::Public),
    ("GET", "/api/public/stats", Guard::Public),
    ("GET", "/contact/{domain}", Guard::Public),
    ("POST", "/contact/{domain}", Guard::Public),
    ("GET", "/healthz", Guard::Public),
    ("GET", "/metrics", Guard::Public),
    // RDAP.
    ("GET", "/rdap/domain/{name}", Guard::Public),
    ("GET", "/rdap/nameserver/{name}", Guard::Public),
    ("GET", "/rdap/entity/{handle}", Guard::Public),
    ("GET", "/rdap/help", Guard::Public),
    ("GET", "/rdap/domains", Guard::Public),
    ("GET", "/rdap/nameservers", Guard::Public),
    ("GET", "/rdap/entities", Guard::Public),
    ("GET", "/rdap", Guard::Public),
    ("GET", "/rdap/", Guard::Public),
    ("GET", "/rdap/{*rest}", Guard::Public),
];

/// The admin forms that take an `action`, with every action: one row each.
const ACTIONS: &[(&str, &[&str])] = &[
    (
        "/admin/domains/{name}/action",
        &[
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
        ],
    ),
    ("/admin/registrars/{id}/action", &["credit", "edit", "prices", "rotate", "epp_password", "epp_pin", "epp_unpin"]),
    ("/admin/users", &["create", "disable", "enable"]),
];

/// Every EPP command, with its callers.
const EPP_COMMANDS: &[(&str, &[Caller])] = &[
    // Sponsor: a second login in a logged-in session; Other: another registrar's credentials
    // on this certificate.
    ("login", &[BeforeLogin, Sponsor, Other]),
    ("logout", &[BeforeLogin, Sponsor]),
    ("domain:check", &[Sponsor, Other, BeforeLogin]),
    ("domain:info", &[Sponsor, Other, BeforeLogin]),
    ("domain:create", &[Sponsor, Other, BeforeLogin]),
    ("domain:update", &[Sponsor, Other, BeforeLogin]),
    ("domain:delete", &[Sponsor, Other, BeforeLogin]),
    ("domain:renew", &[Sponsor, Other, BeforeLogin]),
    ("domain:transfer", &[Sponsor, Other, BeforeLogin]),
    ("contact:check", &[Sponsor, Other, BeforeLogin]),
    ("contact:info", &[Sponsor, Other, BeforeLogin]),
    ("contact:create", &[Sponsor, Other, BeforeLogin]),
    ("contact:update", &[Sponsor, Other, BeforeLogin]),
    ("contact:delete", &[Sponsor, Other, BeforeLogin]),
    ("poll", &[Sponsor, Other, BeforeLogin]),
];

/// The HTTP rows of the routes under `guards`, each with its callers (a form with actions has
/// a row per action: `POST /admin/users action=create`).
fn http_rows(guards: &[Guard]) -> Vec<(String, &'static [Caller])> {
    let mut rows = Vec::new();
    for (method, path, guard) in ROUTES.iter().filter(|(_, _, g)| guards.contains(g)) {
        match ACTIONS.iter().find(|(p, _)| p == path && *method == "POST") {
            Some((_, actions)) => {
                rows.extend(actions.iter().map(|a| (format!("{method} {path} action={a}"), callers(*guard))))
            }
            None => rows.push((format!("{method} {path}"), callers(*guard))),
        }
    }
    rows
}

#[test]
fn the_matrix_has_a_row_for_every_route_action_and_command() {
    let served: BTreeSet<(String, String)> =
        nicbox::http::route_table().into_iter().map(|r| (r.method.to_string(), r.path)).collect();
    let rows: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p, _)| (m.to_string(), p.to_string())).collect();
    assert_eq!(ROUTES.len(), rows.len(), "a route listed twice");
    let missing: Vec<_> = served.difference(&rows).collect();
    assert!(missing.is_empty(), "routes without a row in the authorization matrix: {missing:?}");
    let gone: Vec<_> = rows.difference(&served).collect();
    assert!(gone.is_empty(), "rows of the authorization matrix for routes that are not served: {gone:?}");

    let served: BTreeSet<(&str, &str)> =
        nicbox::http::admin::ACTIONS.iter().flat_map(|(p, list)| list.iter().map(move |a| (*p, *a))).collect();
    let rows: BTreeSet<(&str, &str)> =
        ACTIONS.iter().flat_map(|(p, list)| list.iter().map(move |a| (*p, *a))).collect();
    assert_eq!(served, rows, "the admin forms' actions and the matrix's rows for them");
    for (path, _) in ACTIONS {
        assert!(ROUTES.iter().any(|(m, p, _)| *m == "POST" && p == path), "{path}");
    }

    let served: BTreeSet<&str> = nicbox::epp::commands().into_iter().collect();
    let rows: BTreeSet<&str> = EPP_COMMANDS.iter().map(|(c, _)| *c).collect();
    assert_eq!(served, rows, "the EPP commands dispatched and the matrix's rows for them");
}

/// The cells a test exercised.
#[derive(Default)]
struct Cells(Mutex<BTreeSet<(String, Caller)>>);

impl Cells {
    fn done(&self, row: &str, caller: Caller) {
        self.0.lock().unwrap().insert((row.to_string(), caller));
    }

    /// Asserts the status of an answer and records the cell.
    fn check(&self, row: &str, caller: Caller, got: &Resp, want: u16) {
        assert_eq!(got.status, want, "{row} as {caller:?}: {}", got.shown());
        self.done(row, caller);
    }

    /// A problem+json answer with `status` and `code`.
    fn problem(&self, row: &str, caller: Caller, got: &Resp, status: u16, code: &str) {
        assert_eq!(
            (got.status, got.json()["code"].as_str().unwrap_or("")),
            (status, code),
            "{row} as {caller:?}: {}",
            got.shown()
        );
        self.done(row, caller);
    }

    /// Every cell of `rows` was exercised, and no other.
    fn assert_complete(&self, rows: &[(String, &'static [Caller])]) -> usize {
        let done = self.0.lock().unwrap().clone();
        let wanted: BTreeSet<(String, Caller)> =
            rows.iter().flat_map(|(r, cs)| cs.iter().map(move |c| (r.clone(), *c))).collect();
        let missing: Vec<_> = wanted.difference(&done).collect();
        assert!(missing.is_empty(), "cells of the matrix not exercised: {missing:?}");
        let extra: Vec<_> = done.difference(&wanted).collect();
        assert!(extra.is_empty(), "cells exercised that are not in the matrix (a typo?): {extra:?}");
        wanted.len()
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP from any loopback address

/// One HTTP answer.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn location(&self) -> &str {
        self.header("location").unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn shown(&self) -> String {
        let body: String = self.body.chars().take(600).collect();
        format!("{} (location {:?}) {body}", self.status, self.header("location"))
    }
}

/// The next address of 127.0.0.0/8 for a caller that must not share a throttle with others.
fn fresh_address() -> Ipv4Addr {
    static NEXT: AtomicU8 = AtomicU8::new(100);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(n < 250, "out of loopback addresses");
    Ipv4Addr::new(127, 0, 0, n)
}

/// A TCP connection to `to` from the local address `from`.
fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    socket.connect(&to.into()).unwrap();
    let tcp: TcpStream = socket.into();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp
}

/// One HTTP/1.1 request on its own connection from `from`.
fn http_from(
    from: Ipv4Addr,
    to: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
) -> Resp {
    let mut tcp = connect_from(from, to);
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" {
        req.push_str(&format!("Content-Length: {}\r\n", body.unwrap_or("").len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    tcp.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        let (mut out, mut rest) = (Vec::new(), &body[..]);
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[eol + 2 + size + 2..];
        }
        body = out;
    }
    Resp { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// The server's HTTP side, as the tests call it.
struct Http {
    addr: SocketAddr,
}

impl Http {
    fn request(&self, method: &str, path: &str, headers: &[(&str, String)], body: Option<&str>) -> Resp {
        http_from(Ipv4Addr::LOCALHOST, self.addr, method, path, headers, body)
    }

    /// A registrar API call with `key` (none: no Authorization header).
    fn api(&self, key: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some(k) = key {
            headers.push(("authorization", format!("Bearer {k}")));
        }
        self.request(method, path, &headers, body.map(|b| b.to_string()).as_deref())
    }

    /// The same call with a wrong key, from an address of its own.
    fn api_bad_key(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let headers = [
            ("content-type", "application/json".to_string()),
            ("authorization", "Bearer nbx_ptisp_WrongKeyWrongKeyWrongKeyWrongKeyWrong".to_string()),
        ];
        http_from(fresh_address(), self.addr, method, path, &headers, body.map(|b| b.to_string()).as_deref())
    }

    /// A 200 answer of the registrar API, as JSON.
    fn get_ok(&self, key: &str, path: &str) -> Value {
        let r = self.api(Some(key), "GET", path, None);
        assert_eq!(r.status, 200, "GET {path}: {}", r.shown());
        r.json()
    }
}

// ---------------------------------------------------------------------------------------------
// The registrar API and the public routes

/// A domain as its sponsor reads it, without the nameserver check (the checker may write it
/// at any time).
fn domain_state(h: &Http, key: &str, name: &str) -> Value {
    let mut v = h.get_ok(key, &format!("/api/v1/domains/{name}"));
    v.as_object_mut().unwrap().remove("nameserver_check");
    v
}

/// The e-mail address of the test's contacts: private, never shown to the public.
const PRIVATE_EMAIL: &str = "authz-private@exemplo.pt";

fn contact_body() -> Value {
    let mut body = org_body();
    body["email"] = json!(PRIVATE_EMAIL);
    body
}

fn new_contact(h: &Http, key: &str) -> String {
    let r = h.api(Some(key), "POST", "/api/v1/contacts", Some(&contact_body()));
    assert_eq!(r.status, 201, "{}", r.shown());
    r.json()["handle"].as_str().unwrap().to_string()
}

fn domain_body(name: &str, handle: &str) -> Value {
    json!({"name": name, "period_years": 1, "registrant": handle, "admin": handle, "tech": handle,
           "nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]})
}

fn new_domain(h: &Http, key: &str, name: &str, handle: &str) -> Value {
    let r = h.api(Some(key), "POST", "/api/v1/domains", Some(&domain_body(name, handle)));
    assert!(r.status == 201 || r.status == 202, "create {name}: {}", r.shown());
    r.json()
}

/// Every item of a registrar's paged list (`domains` or `contacts`), by `field`.
fn all_of(h: &Http, key: &str, list: &str, field: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/{list}?limit=500&after={a}"),
            None => format!("/api/v1/{list}?limit=500"),
        };
        let v = h.get_ok(key, &path);
        for item in v[list].as_array().unwrap() {
            out.insert(item[field].as_str().unwrap().to_string());
        }
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => return out,
        }
    }
}

/// Registry time (the demo's lab clock), from the admin API.
fn registry_now(h: &Http, admin_password: &str) -> time::OffsetDateTime {
    let r = h.request("GET", "/admin/api/clock", &[("authorization", basic("admin", admin_password))], None);
    assert_eq!(r.status, 200, "{}", r.shown());
    rfc3339(r.json()["now"].as_str().unwrap())
}

fn rfc3339(t: &str) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// A registrar's domains with nothing holding them, by expiry.
fn plain_domains(h: &Http, key: &str) -> Vec<(time::OffsetDateTime, String)> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/domains?limit=500&after={a}"),
            None => "/api/v1/domains?limit=500".to_string(),
        };
        let v = h.get_ok(key, &path);
        for d in v["domains"].as_array().unwrap() {
            if d["status"] == json!(["ok"]) {
                found.push((rfc3339(d["expires"].as_str().unwrap()), d["name"].as_str().unwrap().to_string()));
            }
        }
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    found.sort();
    found
}

/// `n` of a registrar's demo domains that may be renewed now (renewing opens 60 days before
/// expiry): the lab clock is moved forward until the first one is 40 days from its expiry.
fn renewable(demo: &crate::epp::Demo, h: &Http, key: &str, n: usize) -> Vec<String> {
    let now = registry_now(h, &demo.admin_password);
    let first = plain_domains(h, key).first().expect("a domain").0;
    let days = (first - now).whole_days() - 40;
    if days > 0 {
        demo.advance_days(days as u32);
    }
    let now = registry_now(h, &demo.admin_password);
    let found: Vec<String> = plain_domains(h, key)
        .into_iter()
        .filter(|(e, _)| (2..55).contains(&(*e - now).whole_days()))
        .map(|(_, name)| name)
        .take(n)
        .collect();
    assert_eq!(found.len(), n, "renewable domains: {found:?}");
    found
}

/// The cells without a key and with a wrong key: 401 `unauthorized`, and `state` unchanged.
fn unauthenticated(m: &Cells, h: &Http, row: &str, path: &str, body: Option<&Value>, state: &dyn Fn() -> Value) {
    let method = row.split(' ').next().unwrap();
    let before = state();
    m.problem(row, NoKey, &h.api(None, method, path, body), 401, "unauthorized");
    m.problem(row, BadKey, &h.api_bad_key(method, path, body), 401, "unauthorized");
    assert_eq!(state(), before, "{row}: a refused call changed something");
}

#[test]
fn registrar_api_and_public_routes_answer_only_whom_they_should() {
    let d = crate::epp::demo();
    let h = Http { addr: d.server.http };
    let m = Cells::default();
    let (ka, kb) = (d.registrars[0].api_key.as_str(), d.registrars[1].api_key.as_str());
    let (id_a, id_b) = (d.registrars[0].id.as_str(), d.registrars[1].id.as_str());
    let nothing = || Value::Null;

    // A demo domain of A's near its expiry (the lab clock moved forward first, so that the
    // objects made below are fresh), A's objects, and B's domain that A will gain.
    let dn = renewable(&d, &h, ka, 1).remove(0);
    let (ca, ca2, cb) = (new_contact(&h, ka), new_contact(&h, ka), new_contact(&h, kb));
    let (dm, dd, dr, dt, dg) = ("authz-main.pt", "authz-del.pt", "authz-res.pt", "authz-trade.pt", "authz-gain.pt");
    for name in [dm, dd, dr, dt] {
        new_domain(&h, ka, name, &ca);
    }
    new_domain(&h, kb, dg, &cb);
    assert_eq!(h.api(Some(ka), "DELETE", &format!("/api/v1/domains/{dr}"), None).status, 200);
    let gain = h.api(Some(kb), "POST", &format!("/api/v1/domains/{dg}/auth-code"), None).json();
    let a_domain = |name: &str| domain_state(&h, ka, name);

    // GET /account: each registrar sees itself.
    let row = "GET /api/v1/account";
    let r = h.api(Some(ka), "GET", "/api/v1/account", None);
    m.check(row, Own, &r, 200);
    assert_eq!(r.json()["id"], id_a);
    let r = h.api(Some(kb), "GET", "/api/v1/account", None);
    m.check(row, Other, &r, 200);
    assert_eq!(r.json()["id"], id_b, "{}", r.body);
    unauthenticated(&m, &h, row, "/api/v1/account", None, &nothing);

    // GET /domains/check: availability is public knowledge, the same for everyone.
    let row = "GET /api/v1/domains/check";
    let path = format!("/api/v1/domains/check?name={dm}&name=authz-free.pt");
    let own = h.api(Some(ka), "GET", &path, None);
    m.check(row, Own, &own, 200);
    let other = h.api(Some(kb), "GET", &path, None);
    m.check(row, Other, &other, 200);
    assert_eq!(own.json(), other.json());
    assert_eq!(own.json()["results"][0]["available"], false);
    unauthenticated(&m, &h, row, &path, None, &nothing);

    // GET /contacts: each registrar lists its own.
    let row = "GET /api/v1/contacts";
    m.check(row, Own, &h.api(Some(ka), "GET", "/api/v1/contacts", None), 200);
    let theirs = all_of(&h, kb, "contacts", "handle");
    m.check(row, Other, &h.api(Some(kb), "GET", "/api/v1/contacts", None), 200);
    assert!(theirs.contains(&cb) && !theirs.contains(&ca) && !theirs.contains(&ca2), "B lists A's contacts");
    assert!(all_of(&h, ka, "contacts", "handle").contains(&ca));
    unauthenticated(&m, &h, row, "/api/v1/contacts", None, &nothing);

    // POST /contacts: B cannot take A's handle.
    let row = "POST /api/v1/contacts";
    let contact_a = || h.get_ok(ka, &format!("/api/v1/contacts/{ca}"));
    let mut body = org_body();
    body["handle"] = json!(ca);
    unauthenticated(&m, &h, row, "/api/v1/contacts", Some(&body), &contact_a);
    let before = contact_a();
    m.problem(row, Other, &h.api(Some(kb), "POST", "/api/v1/contacts", Some(&body)), 409, "not_available");
    assert_eq!(contact_a(), before);
    let r = h.api(Some(ka), "POST", "/api/v1/contacts", Some(&org_body()));
    m.check(row, Own, &r, 201);
    let handle = r.json()["handle"].as_str().unwrap().to_string();
    assert_eq!(h.api(Some(ka), "GET", &format!("/api/v1/contacts/{handle}"), None).status, 200);
    assert_eq!(h.api(Some(kb), "GET", &format!("/api/v1/contacts/{handle}"), None).status, 404);

    // GET /contacts/{handle}: handles are private: another registrar's is not found.
    let row = "GET /api/v1/contacts/{handle}";
    let path = format!("/api/v1/contacts/{ca}");
    m.check(row, Own, &h.api(Some(ka), "GET", &path, None), 200);
    m.problem(row, Other, &h.api(Some(kb), "GET", &path, None), 404, "not_found");
    unauthenticated(&m, &h, row, &path, None, &nothing);

    // PATCH /contacts/{handle}
    let row = "PATCH /api/v1/contacts/{handle}";
    let body = json!({"city": "Porto"});
    unauthenticated(&m, &h, row, &path, Some(&body), &contact_a);
    let before = contact_a();
    m.problem(row, Other, &h.api(Some(kb), "PATCH", &path, Some(&body)), 404, "not_found");
    assert_eq!(contact_a(), before);
    let r = h.api(Some(ka), "PATCH", &path, Some(&body));
    m.check(row, Own, &r, 200);
    assert_eq!(contact_a()["city"], "Porto");

    // GET /domains: each registrar lists its own.
    let row = "GET /api/v1/domains";
    m.check(row, Own, &h.api(Some(ka), "GET", "/api/v1/domains", None), 200);
    assert!(all_of(&h, ka, "domains", "name").contains(dm));
    m.check(row, Other, &h.api(Some(kb), "GET", "/api/v1/domains", None), 200);
    let theirs = all_of(&h, kb, "domains", "name");
    assert!(theirs.contains(dg) && !theirs.contains(dm) && !theirs.contains(dd), "B lists A's domains");
    unauthenticated(&m, &h, row, "/api/v1/domains", None, &nothing);

    // POST /domains: another registrar cannot register with A's contacts.
    let row = "POST /api/v1/domains";
    let fresh = "authz-new.pt";
    let available = || h.get_ok(ka, &format!("/api/v1/domains/check?name={fresh}"))["results"][0]["available"].clone();
    unauthenticated(&m, &h, row, "/api/v1/domains", Some(&domain_body(fresh, &ca)), &available);
    let r = h.api(Some(kb), "POST", "/api/v1/domains", Some(&domain_body(fresh, &ca)));
    m.problem(row, Other, &r, 422, "invalid_contact");
    assert!(!r.body.contains("Porto"), "nothing of A's contact is told: {}", r.body);
    assert_eq!(available(), true);
    let r = h.api(Some(ka), "POST", "/api/v1/domains", Some(&domain_body(fresh, &ca)));
    m.check(row, Own, &r, 201);
    assert_eq!(r.json()["registrar"], id_a);

    // GET /domains/{name}: another registrar's domain is refused (its existence is public, in
    // WHOIS and RDAP; nothing else is told, the auth code least of all).
    let row = "GET /api/v1/domains/{name}";
    let path = format!("/api/v1/domains/{dm}");
    let r = h.api(Some(ka), "GET", &path, None);
    m.check(row, Own, &r, 200);
    let code_a = r.json()["auth_code"].as_str().unwrap().to_string();
    let r = h.api(Some(kb), "GET", &path, None);
    m.problem(row, Other, &r, 403, "not_sponsor");
    assert!(!r.body.contains(&code_a) && !r.body.contains(&ca), "{}", r.body);
    unauthenticated(&m, &h, row, &path, None, &nothing);

    // PATCH /domains/{name}
    let row = "PATCH /api/v1/domains/{name}";
    let body = json!({"auto_renew": false});
    unauthenticated(&m, &h, row, &path, Some(&body), &|| a_domain(dm));
    let before = a_domain(dm);
    m.problem(row, Other, &h.api(Some(kb), "PATCH", &path, Some(&body)), 403, "not_sponsor");
    assert_eq!(a_domain(dm), before);
    m.check(row, Own, &h.api(Some(ka), "PATCH", &path, Some(&body)), 200);
    assert_eq!(a_domain(dm)["auto_renew"], false);

    // GET /domains/{name}/history
    let row = "GET /api/v1/domains/{name}/history";
    let path = format!("/api/v1/domains/{dm}/history");
    let r = h.api(Some(ka), "GET", &path, None);
    m.check(row, Own, &r, 200);
    assert!(!r.json()["history"].as_array().unwrap().is_empty());
    m.problem(row, Other, &h.api(Some(kb), "GET", &path, None), 403, "not_sponsor");
    unauthenticated(&m, &h, row, &path, None, &nothing);

    // DELETE /domains/{name}: on a domain made for it.
    let row = "DELETE /api/v1/domains/{name}";
    let path = format!("/api/v1/domains/{dd}");
    unauthenticated(&m, &h, row, &path, None, &|| a_domain(dd));
    let before = a_domain(dd);
    m.problem(row, Other, &h.api(Some(kb), "DELETE", &path, None), 403, "not_sponsor");
    assert_eq!(a_domain(dd), before);
    m.check(row, Own, &h.api(Some(ka), "DELETE", &path, None), 200);
    assert!(a_domain(dd)["status"].as_array().unwrap().contains(&json!("pendingDelete")));

    // POST /domains/{name}/renew: on a demo domain close enough to its expiry.
    let row = "POST /api/v1/domains/{name}/renew";
    let path = format!("/api/v1/domains/{dn}/renew");
    let year: i64 = a_domain(&dn)["expires"].as_str().unwrap()[..4].parse().unwrap();
    let body = json!({"period_years": 1, "current_expiry_year": year});
    let balance = |key: &str| h.get_ok(key, "/api/v1/account")["balance"]["cents"].clone();
    let state = || json!([a_domain(&dn), balance(ka), balance(kb)]);
    unauthenticated(&m, &h, row, &path, Some(&body), &state);
    let before = state();
    m.problem(row, Other, &h.api(Some(kb), "POST", &path, Some(&body)), 403, "not_sponsor");
    assert_eq!(state(), before, "nothing renewed, nobody charged");
    m.check(row, Own, &h.api(Some(ka), "POST", &path, Some(&body)), 200);
    assert!(a_domain(&dn)["expires"].as_str().unwrap().starts_with(&(year + 1).to_string()));

    // POST /domains/{name}/transfer: the gaining registrar with the auth code; another
    // registrar without it is refused and takes nothing.
    let row = "POST /api/v1/domains/{name}/transfer";
    let path = format!("/api/v1/domains/{dg}/transfer");
    let body = json!({"auth_code": gain["auth_code"], "roid": gain["roid"]});
    unauthenticated(&m, &h, row, &path, Some(&body), &|| domain_state(&h, kb, dg));
    let before = a_domain(dm);
    let wrong = json!({"auth_code": "not-the-code-1", "roid": before["roid"]});
    let r = h.api(Some(kb), "POST", &format!("/api/v1/domains/{dm}/transfer"), Some(&wrong));
    m.problem(row, Other, &r, 422, "bad_auth_code");
    assert_eq!(a_domain(dm), before);
    let r = h.api(Some(ka), "POST", &path, Some(&body));
    m.check(row, Own, &r, 200);
    assert_eq!(r.json()["registrar"], id_a);
    assert_eq!(h.api(Some(kb), "GET", &format!("/api/v1/domains/{dg}"), None).status, 403, "B lost it");

    // POST /domains/{name}/restore: on a domain deleted for it.
    let row = "POST /api/v1/domains/{name}/restore";
    let path = format!("/api/v1/domains/{dr}/restore");
    unauthenticated(&m, &h, row, &path, None, &|| a_domain(dr));
    let before = a_domain(dr);
    m.problem(row, Other, &h.api(Some(kb), "POST", &path, None), 403, "not_sponsor");
    assert_eq!(a_domain(dr), before);
    m.check(row, Own, &h.api(Some(ka), "POST", &path, None), 200);
    assert!(!a_domain(dr)["status"].as_array().unwrap().contains(&json!("pendingDelete")));

    // POST /domains/{name}/registrant: on a domain made for it.
    let row = "POST /api/v1/domains/{name}/registrant";
    let path = format!("/api/v1/domains/{dt}/registrant");
    unauthenticated(&m, &h, row, &path, Some(&json!({"registrant": ca2})), &|| a_domain(dt));
    let before = a_domain(dt);
    let r = h.api(Some(kb), "POST", &path, Some(&json!({"registrant": cb})));
    m.problem(row, Other, &r, 403, "not_sponsor");
    assert_eq!(a_domain(dt), before);
    m.check(row, Own, &h.api(Some(ka), "POST", &path, Some(&json!({"registrant": ca2}))), 200);
    assert_eq!(a_domain(dt)["registrant"], json!(ca2));

    // POST /domains/{name}/auth-code
    let row = "POST /api/v1/domains/{name}/auth-code";
    let path = format!("/api/v1/domains/{dm}/auth-code");
    unauthenticated(&m, &h, row, &path, None, &|| a_domain(dm));
    let before = a_domain(dm);
    let r = h.api(Some(kb), "POST", &path, None);
    m.problem(row, Other, &r, 403, "not_sponsor");
    assert_eq!(a_domain(dm), before);
    let r = h.api(Some(ka), "POST", &path, None);
    m.check(row, Own, &r, 200);
    assert_ne!(r.json()["auth_code"], before["auth_code"]);

    // GET /poll: each registrar reads its own queue (A's has the demo's expiries).
    let row = "GET /api/v1/poll";
    let ids = |key: &str| -> Vec<u64> {
        h.get_ok(key, "/api/v1/poll")["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect()
    };
    let r = h.api(Some(ka), "GET", "/api/v1/poll", None);
    m.check(row, Own, &r, 200);
    let mine = ids(ka);
    assert!(mine.len() >= 2, "A's queue: {}", r.body);
    let r = h.api(Some(kb), "GET", "/api/v1/poll", None);
    m.check(row, Other, &r, 200);
    assert!(ids(kb).iter().all(|id| !mine.contains(id)), "B reads A's messages: {}", r.body);
    unauthenticated(&m, &h, row, "/api/v1/poll", None, &nothing);

    // DELETE /poll/{id}
    let row = "DELETE /api/v1/poll/{id}";
    let path = format!("/api/v1/poll/{}", mine[0]);
    unauthenticated(&m, &h, row, &path, None, &|| json!(ids(ka)));
    m.problem(row, Other, &h.api(Some(kb), "DELETE", &path, None), 404, "not_found");
    assert!(ids(ka).contains(&mine[0]), "B acknowledged A's message");
    m.check(row, Own, &h.api(Some(ka), "DELETE", &path, None), 204);
    assert!(!ids(ka).contains(&mine[0]));

    // The public routes answer anyone, without credentials.
    let public: &[(&str, &str, String, Option<&str>, u16)] = &[
        ("GET /api/v1/openapi.json", "GET", "/api/v1/openapi.json".into(), None, 200),
        ("GET /admin/login", "GET", "/admin/login".into(), None, 200),
        ("GET /admin/lang/{lang}", "GET", "/admin/lang/en".into(), None, 303),
        ("GET /admin/static/admin.css", "GET", "/admin/static/admin.css".into(), None, 200),
        ("GET /", "GET", "/".into(), None, 200),
        ("GET /static/{file}", "GET", "/static/site.css".into(), None, 200),
        ("GET /api/public/availability", "GET", format!("/api/public/availability?name={dm}"), None, 200),
        ("GET /api/public/stats", "GET", "/api/public/stats".into(), None, 200),
        // The demo has no SMTP relay: the contact form opens and says that messages cannot be
        // sent; a message posted anyway answers 503.
        ("GET /contact/{domain}", "GET", format!("/contact/{dm}"), None, 200),
        (
            "POST /contact/{domain}",
            "POST",
            format!("/contact/{dm}"),
            Some("from_name=A&from_email=a%40example.net&subject=s&message=m&token=t&answer=1"),
            503,
        ),
        ("GET /healthz", "GET", "/healthz".into(), None, 200),
        ("GET /metrics", "GET", "/metrics".into(), None, 200),
        ("GET /rdap/domain/{name}", "GET", format!("/rdap/domain/{dm}"), None, 200),
        ("GET /rdap/nameserver/{name}", "GET", "/rdap/nameserver/ns1.ptisp.pt".into(), None, 200),
        ("GET /rdap/entity/{handle}", "GET", format!("/rdap/entity/{id_a}"), None, 200),
        ("GET /rdap/help", "GET", "/rdap/help".into(), None, 200),
        ("GET /rdap/domains", "GET", "/rdap/domains?name=authz*".into(), None, 501),
        ("GET /rdap/nameservers", "GET", "/rdap/nameservers?name=ns1*".into(), None, 501),
        ("GET /rdap/entities", "GET", "/rdap/entities?fn=a*".into(), None, 501),
        ("GET /rdap", "GET", "/rdap".into(), None, 404),
        ("GET /rdap/", "GET", "/rdap/".into(), None, 404),
        ("GET /rdap/{*rest}", "GET", "/rdap/no/such/path".into(), None, 404),
    ];
    for (row, method, path, form, status) in public {
        let headers = [("content-type", "application/x-www-form-urlencoded".to_string())];
        let r = h.request(method, path, &headers, *form);
        m.check(row, Anyone, &r, *status);
        // Nothing private on the way: no auth code, no contact's personal data.
        assert!(!r.body.contains(&code_a) && !r.body.contains(PRIVATE_EMAIL), "{row}: {}", r.shown());
    }
    // RDAP shows no contact handle as an entity: handles are private.
    let r = h.request("GET", &format!("/rdap/entity/{ca}"), &[], None);
    assert_eq!(r.status, 404, "{}", r.shown());

    let cells = m.assert_complete(&http_rows(&[Guard::Registrar, Guard::Public]));
    eprintln!("registrar API and public routes: {cells} cells");
}

// ---------------------------------------------------------------------------------------------
// The admin UI and the admin API

/// A demo whose registrant changes wait for review (so that the admin's accept and refuse of
/// one have something to decide): started once to be created, then again with the setting.
struct ReviewDemo {
    server: Server,
    admin_password: String,
    /// (id, API key) of the demo's registrars.
    registrars: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

fn demo_with_registrant_review() -> ReviewDemo {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    drop(start_demo(&data, dir.path()));
    let config = data.join("nicbox.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("[tld.policy]\n"), "{text}");
    let text = text.replace("[tld.policy]\n", "[tld.policy]\nregistrant_change_mode = \"review\"\n");
    std::fs::write(&config, text).unwrap();
    let server = start_demo(&data, dir.path());
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_string();
    ReviewDemo {
        server,
        admin_password: s(&creds["admin"]["password"]),
        registrars: creds["registrars"].as_array().unwrap().iter().map(|r| (s(&r["id"]), s(&r["api_key"]))).collect(),
        _dir: dir,
    }
}

/// A signed-in admin-UI session.
struct Session {
    cookie: String,
    csrf: String,
}

/// The value of the first `name="NAME" value="..."` in a page.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let i = html.find(&marker)? + marker.len();
    Some(html[i..].split('"').next()?.to_string())
}

/// The text of the element with `id="ID"`.
fn by_id(html: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\">");
    let i = html.find(&marker)? + marker.len();
    Some(html[i..].split('<').next()?.to_string())
}

fn form_body(fields: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        s.append_pair(k, v);
    }
    s.finish()
}

const FORM: &str = "application/x-www-form-urlencoded";

impl Http {
    fn sign_in_token(&self) -> String {
        let r = self.request("GET", "/admin/login", &[], None);
        input_value(&r.body, "token").expect("the sign-in form's token")
    }

    /// A sign-in attempt from an address of its own.
    fn sign_in_attempt(&self, user: &str, password: &str, token: Option<&str>) -> Resp {
        let mut fields = vec![("username", user), ("password", password)];
        if let Some(t) = token {
            fields.push(("token", t));
        }
        let headers = [("content-type", FORM.to_string())];
        http_from(fresh_address(), self.addr, "POST", "/admin/login", &headers, Some(&form_body(&fields)))
    }

    fn sign_in(&self, user: &str, password: &str) -> Session {
        let r = self.sign_in_attempt(user, password, Some(&self.sign_in_token()));
        assert_eq!((r.status, r.location()), (303, "/admin/"), "sign-in of {user}: {}", r.shown());
        let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
        let page = self.page(Some(&Session { cookie: cookie.clone(), csrf: String::new() }), "/admin/clock");
        assert_eq!(page.status, 200, "{}", page.shown());
        Session { cookie, csrf: input_value(&page.body, "csrf").expect("a CSRF token") }
    }

    fn page(&self, session: Option<&Session>, path: &str) -> Resp {
        let headers: Vec<(&str, String)> = session.map(|s| ("cookie", s.cookie.clone())).into_iter().collect();
        self.request("GET", path, &headers, None)
    }

    /// A form posted with `session`'s cookie and the CSRF token `csrf`.
    fn post_form(&self, session: Option<&Session>, csrf: Option<&str>, path: &str, fields: &[(&str, &str)]) -> Resp {
        let mut headers = vec![("content-type", FORM.to_string())];
        if let Some(s) = session {
            headers.push(("cookie", s.cookie.clone()));
        }
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if let Some(c) = csrf {
            all.push(("csrf", c));
        }
        self.request("POST", path, &headers, Some(&form_body(&all)))
    }

    /// An admin API call with HTTP Basic credentials (none: no header).
    fn admin_api(&self, creds: Option<(&str, &str)>, method: &str, path: &str, body: Option<&str>) -> Resp {
        let mut headers = vec![("content-type", "application/json".to_string())];
        if let Some((u, p)) = creds {
            headers.push(("authorization", basic(u, p)));
        }
        self.request(method, path, &headers, body)
    }

    /// The admin's call as a browser sends it from a page of another site, with the credentials
    /// it remembers for this one.
    fn admin_api_cross_site(&self, method: &str, path: &str, body: Option<&str>, password: &str) -> Resp {
        let headers = [
            ("content-type", "text/plain".to_string()),
            ("origin", "https://elsewhere.example".to_string()),
            ("authorization", basic("admin", password)),
        ];
        self.request(method, path, &headers, body)
    }

    /// The same with credentials of no user, a name and an address of its own each time (five
    /// failures lock a name or an address out, a real user's name included).
    fn admin_api_bad(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        let from = fresh_address();
        let headers = [
            ("content-type", "application/json".to_string()),
            ("authorization", basic(&format!("intruder-{from}"), "not-a-password")),
        ];
        http_from(from, self.addr, method, path, &headers, body)
    }
}

/// A form's answer on success: back to `to` with a notice, not an error.
fn back_ok(r: &Resp, to: &str) -> bool {
    r.status == 303 && r.location().starts_with(to) && r.location().contains("ok=") && !r.location().contains("err=")
}

/// Suspends an origin of the directory: WHOIS queries from it past its budget.
fn suspend(whois: SocketAddr, from: Ipv4Addr) {
    for _ in 0..60 {
        let mut tcp = connect_from(from, whois);
        tcp.write_all(b"authz-adm.pt\r\n").unwrap();
        let mut out = Vec::new();
        let _ = tcp.read_to_end(&mut out);
    }
}

/// The admin's view of what a refused form might have changed: the audit log and `more`.
struct Admins<'a> {
    h: &'a Http,
    m: &'a Cells,
    admin: &'a Session,
    support: &'a Session,
}

impl Admins<'_> {
    fn audit(&self) -> String {
        let r = self.h.page(Some(self.admin), "/admin/audit");
        assert_eq!(r.status, 200);
        r.body
    }

    /// A form row's refused cells (no session, no CSRF token, another session's token, and the
    /// support role unless `support_may`), each followed by `state` and the audit log, which
    /// must be as before; then the admin's cell, whose answer is returned.
    fn form(
        &self,
        row: &str,
        path: &str,
        fields: &[(&str, &str)],
        support_may: bool,
        state: &dyn Fn() -> String,
    ) -> Resp {
        let (h, m) = (self.h, self.m);
        let before = (state(), self.audit());
        let r = h.post_form(None, Some(&self.admin.csrf), path, fields);
        assert_eq!(r.location(), "/admin/login", "{row}: {}", r.shown());
        m.check(row, NoSession, &r, 303);
        m.check(row, NoCsrf, &h.post_form(Some(self.admin), None, path, fields), 403);
        m.check(row, WrongCsrf, &h.post_form(Some(self.admin), Some(&self.support.csrf), path, fields), 403);
        if !support_may {
            let r = h.post_form(Some(self.support), Some(&self.support.csrf), path, fields);
            m.check(row, Support, &r, 403);
            assert!(r.body.contains("suport"), "{row}: the refusal names the role: {}", r.shown());
        }
        assert_eq!((state(), self.audit()), before, "{row}: a refused form changed something");
        let r = h.post_form(Some(self.admin), Some(&self.admin.csrf), path, fields);
        m.done(row, Admin);
        r
    }
}

#[test]
fn admin_ui_and_admin_api_answer_only_whom_they_should() {
    let d = demo_with_registrant_review();
    let h = Http { addr: d.server.http };
    let m = Cells::default();
    let pw = d.admin_password.as_str();
    let (id_a, ka) = &d.registrars[0];

    // POST /admin/login: the sign-in form's own token guards it before any session exists.
    let row = "POST /admin/login";
    let token = h.sign_in_token();
    let r = h.sign_in_attempt("admin", pw, None);
    m.check(row, NoCsrf, &r, 403);
    assert!(r.header("set-cookie").is_none());
    let forged = format!("{}.{}", token.split('.').next().unwrap(), "0".repeat(64));
    let r = h.sign_in_attempt("admin", pw, Some(&forged));
    m.check(row, WrongCsrf, &r, 403);
    assert!(r.header("set-cookie").is_none());
    let r = h.sign_in_attempt("admin", "not-the-password", Some(&token));
    m.check(row, BadKey, &r, 401);
    assert!(r.header("set-cookie").is_none());
    let r = h.sign_in_attempt("admin", pw, Some(&token));
    m.check(row, Anyone, &r, 303);
    assert!(r.header("set-cookie").is_some_and(|c| c.starts_with("nicbox_admin=")));
    let admin = h.sign_in("admin", pw);

    // A support user, made by the admin: the admin's cell of `create`.
    let users_page = || h.page(Some(&admin), "/admin/users").body;
    let row = "POST /admin/users action=create";
    let create = [("action", "create"), ("name", "authz-support"), ("role", "support")];
    let r = h.post_form(Some(&admin), Some(&admin.csrf), "/admin/users", &create);
    m.check(row, Admin, &r, 200);
    let support_pw = by_id(&r.body, "new-password").expect("the new user's password");
    let support = h.sign_in("authz-support", &support_pw);
    let a = Admins { h: &h, m: &m, admin: &admin, support: &support };
    let r = a.form(
        row,
        "/admin/users",
        &[("action", "create"), ("name", "authz-nobody"), ("role", "admin")],
        false,
        &users_page,
    );
    assert_eq!(r.status, 200, "{}", r.shown());
    assert!(users_page().contains("authz-nobody"));
    let nobody_pw = by_id(&r.body, "new-password").expect("the new user's password");
    let nobody = h.sign_in("authz-nobody", &nobody_pw);
    let nobody_api = || h.admin_api(Some(("authz-nobody", &nobody_pw)), "GET", "/admin/api/clock", None).status;
    // Disabling and enabling another user: disabled, its open session and its credentials are
    // refused at once.
    let row = "POST /admin/users action=disable";
    let fields = [("action", "disable"), ("name", "authz-nobody")];
    assert!(back_ok(&a.form(row, "/admin/users", &fields, false, &users_page), "/admin/users"));
    assert_eq!(h.page(Some(&nobody), "/admin/").status, 303, "a disabled user's session");
    assert_eq!(nobody_api(), 401, "a disabled user's credentials");
    let row = "POST /admin/users action=enable";
    let fields = [("action", "enable"), ("name", "authz-nobody")];
    assert!(back_ok(&a.form(row, "/admin/users", &fields, false, &users_page), "/admin/users"));
    assert_eq!(nobody_api(), 200);

    // Objects for the domain actions, made by registrar A: a domain, two gov.pt names in
    // review, two registrant changes in review.
    let ca = new_contact(&h, ka);
    let ca2 = new_contact(&h, ka);
    let dx = "authz-adm.pt";
    new_domain(&h, ka, dx, &ca);
    for name in ["authz-accept.gov.pt", "authz-refuse.gov.pt"] {
        let v = new_domain(&h, ka, name, &ca);
        assert!(v["status"].as_array().unwrap().contains(&json!("pendingCreate")), "{v}");
    }
    for name in ["authz-trade1.pt", "authz-trade2.pt"] {
        new_domain(&h, ka, name, &ca);
        let r =
            h.api(Some(ka), "POST", &format!("/api/v1/domains/{name}/registrant"), Some(&json!({"registrant": ca2})));
        assert_eq!(r.status, 202, "{}", r.shown());
    }
    let sponsor_view = |name: &str| domain_state(&h, ka, name).to_string();
    let statuses = |name: &str| -> Vec<String> {
        domain_state(&h, ka, name)["status"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    type Holds<'a> = &'a dyn Fn(&[String]) -> bool;
    let actions: &[(&str, &str, Holds)] = &[
        ("lock", dx, &|s| s.iter().any(|x| x == "serverUpdateProhibited")),
        ("unlock", dx, &|s| !s.iter().any(|x| x == "serverUpdateProhibited")),
        ("hold", dx, &|s| s.iter().any(|x| x == "serverHold")),
        ("unhold", dx, &|s| !s.iter().any(|x| x == "serverHold")),
        ("ns_check", dx, &|_| true),
        ("delete", dx, &|s| s.iter().any(|x| x == "pendingDelete")),
        ("restore", dx, &|s| !s.iter().any(|x| x == "pendingDelete")),
        ("accept", "authz-accept.gov.pt", &|s| !s.iter().any(|x| x == "pendingCreate")),
        ("accept_registrant", "authz-trade1.pt", &|s| !s.iter().any(|x| x == "pendingUpdate")),
        ("refuse_registrant", "authz-trade2.pt", &|s| !s.iter().any(|x| x == "pendingUpdate")),
    ];
    for (action, name, after) in actions {
        let row = format!("POST /admin/domains/{{name}}/action action={action}");
        let path = format!("/admin/domains/{name}/action");
        let r = a.form(&row, &path, &[("action", action), ("note", "authz")], false, &|| sponsor_view(name));
        assert!(back_ok(&r, &format!("/admin/domains/{name}")), "{row}: {}", r.shown());
        assert!(after(&statuses(name)), "{row}: {:?}", statuses(name));
    }
    assert_eq!(domain_state(&h, ka, "authz-trade1.pt")["registrant"], json!(ca2));
    assert_eq!(domain_state(&h, ka, "authz-trade2.pt")["registrant"], json!(ca));
    // Refusing a registration removes it: back to the queues.
    let row = "POST /admin/domains/{name}/action action=refuse";
    let name = "authz-refuse.gov.pt";
    let r = a.form(
        row,
        &format!("/admin/domains/{name}/action"),
        &[("action", "refuse"), ("note", "authz")],
        false,
        &|| sponsor_view(name),
    );
    assert!(back_ok(&r, "/admin/queues"), "{}", r.shown());
    assert_ne!(h.api(Some(ka), "GET", &format!("/api/v1/domains/{name}"), None).status, 200);

    // POST /admin/registrars: a registrar made by the admin, for the registrar actions.
    let row = "POST /admin/registrars";
    let rid = "authz-reg";
    let exists = || h.page(Some(&admin), &format!("/admin/registrars/{rid}")).status.to_string();
    let fields = [("id", rid), ("name", "Authz Registos, Lda."), ("email", "registos@authz.example")];
    let r = a.form(row, "/admin/registrars", &fields, false, &exists);
    assert_eq!(r.status, 200, "{}", r.shown());
    let key = by_id(&r.body, "new-key").expect("the new registrar's key");
    assert_eq!(exists(), "200");
    let account = || h.get_ok(&key, "/api/v1/account");
    let registrar_page = || h.page(Some(&admin), &format!("/admin/registrars/{rid}")).body;
    let path = format!("/admin/registrars/{rid}/action");
    let fingerprint = "ab".repeat(32);
    let plain: &[(&str, Vec<(&str, &str)>)] = &[
        ("credit", vec![("amount_cents", "1000"), ("reason", "authz")]),
        ("edit", vec![("name", "Authz Registos 2, Lda."), ("email", "outro@authz.example"), ("enabled", "on")]),
        (
            "prices",
            vec![
                ("tld", "pt"),
                ("create", "1100"),
                ("create_premium", "11000"),
                ("renew", "1100"),
                ("transfer", "600"),
                ("restore", "3100"),
            ],
        ),
        ("epp_pin", vec![("fingerprint", fingerprint.as_str())]),
        ("epp_unpin", vec![("fingerprint", fingerprint.as_str())]),
    ];
    for (action, extra) in plain {
        let row = format!("POST /admin/registrars/{{id}}/action action={action}");
        let mut fields = vec![("action", *action)];
        fields.extend(extra.iter().cloned());
        let r = a.form(&row, &path, &fields, false, &|| format!("{}{}", registrar_page(), account()));
        assert!(back_ok(&r, &format!("/admin/registrars/{rid}")), "{row}: {}", r.shown());
    }
    assert_eq!(account()["balance"]["cents"], 1000);
    assert_eq!(account()["name"], "Authz Registos 2, Lda.");
    assert_eq!(account()["prices"]["pt"]["create"], 1100);
    let row = "POST /admin/registrars/{id}/action action=epp_password";
    let r = a.form(row, &path, &[("action", "epp_password")], false, &registrar_page);
    assert_eq!(r.status, 200, "{}", r.shown());
    let row = "POST /admin/registrars/{id}/action action=rotate";
    let r = a.form(row, &path, &[("action", "rotate")], false, &|| format!("{}{}", registrar_page(), account()));
    assert_eq!(r.status, 200, "{}", r.shown());
    let rotated = by_id(&r.body, "new-key").expect("the new key");
    assert_eq!(h.api(Some(&key), "GET", "/api/v1/account", None).status, 401, "the old key is gone");
    assert_eq!(h.api(Some(&rotated), "GET", "/api/v1/account", None).status, 200);

    // Directory: suspended origins (WHOIS queries past the budget, from addresses of their
    // own), lifted by the admin and by support (support may), in the UI and the API.
    let origins: Vec<Ipv4Addr> = (0..4).map(|_| fresh_address()).collect();
    for o in &origins {
        suspend(d.server.whois, *o);
    }
    let suspended = || -> Vec<String> {
        let r = h.admin_api(Some(("admin", pw)), "GET", "/admin/api/whois/suspensions", None);
        assert_eq!(r.status, 200, "{}", r.shown());
        let mut v: Vec<String> = r.json()["suspensions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["lifted_by"].is_null())
            .map(|s| s["origin"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let is_suspended = |o: &Ipv4Addr| suspended().contains(&o.to_string());
    assert!(origins.iter().all(is_suspended), "suspended: {:?}", suspended());
    let row = "POST /admin/directory/lift";
    let (o1, o2) = (origins[0].to_string(), origins[1].to_string());
    let r = h.post_form(Some(&support), Some(&support.csrf), "/admin/directory/lift", &[("origin", &o2)]);
    m.check(row, Support, &r, 303);
    assert!(back_ok(&r, "/admin/directory"), "{}", r.shown());
    let r = a.form(row, "/admin/directory/lift", &[("origin", &o1)], true, &|| format!("{:?}", suspended()));
    assert!(back_ok(&r, "/admin/directory"), "{}", r.shown());
    assert!(!is_suspended(&origins[0]) && !is_suspended(&origins[1]), "{:?}", suspended());

    // (Before the lab clock moves: suspensions run on registry time.)
    let (o3, o4) = (origins[2].to_string(), origins[3].to_string());
    let admin_creds = Some(("admin", pw));
    let support_creds = Some(("authz-support", support_pw.as_str()));
    // A page of this very site may (the Origin a browser sends from the admin's own pages).
    let headers = [("origin", format!("http://{}", d.server.http)), ("authorization", basic("admin", pw))];
    let r = h.request("POST", "/admin/api/lifecycle/run", &headers, None);
    assert_eq!(r.status, 200, "same-site: {}", r.shown());
    let row = "DELETE /admin/api/whois/suspensions/{ip}";
    let before = suspended();
    let path = format!("/admin/api/whois/suspensions/{o3}");
    m.problem(row, NoSession, &h.admin_api(None, "DELETE", &path, None), 401, "unauthorized");
    m.problem(row, BadKey, &h.admin_api_bad("DELETE", &path, None), 401, "unauthorized");
    m.problem(row, CrossSite, &h.admin_api_cross_site("DELETE", &path, None, pw), 403, "forbidden");
    assert_eq!(suspended(), before);
    m.check(row, Admin, &h.admin_api(admin_creds, "DELETE", &path, None), 200);
    let path = format!("/admin/api/whois/suspensions/{o4}");
    m.check(row, Support, &h.admin_api(support_creds, "DELETE", &path, None), 200);
    assert!(!is_suspended(&origins[2]) && !is_suspended(&origins[3]), "{:?}", suspended());

    // Disclosure requests: made and decided by the admin only.
    let row = "POST /admin/directory/disclosures";
    let fields = [
        ("domain", dx),
        ("requester", "Tribunal de Lisboa"),
        ("legal_basis", "RGPD 6(1)(c)"),
        ("case_reference", "P-1/2026"),
    ];
    let r = a.form(row, "/admin/directory/disclosures", &fields, false, &String::new);
    assert_eq!(r.status, 303, "{}", r.shown());
    let disclosure = r.location().to_string();
    assert!(disclosure.starts_with("/admin/directory/disclosures/"), "{}", r.shown());
    let row = "POST /admin/directory/disclosures/{id}";
    let page = || h.page(Some(&admin), &disclosure).body;
    let r = a.form(row, &disclosure, &[("decision", "grant"), ("note", "authz")], false, &page);
    assert!(back_ok(&r, &disclosure), "{}", r.shown());

    // Zones: publishing now is the admin's.
    let row = "POST /admin/zones/publish";
    let zones_page = || h.page(Some(&admin), "/admin/zones").body;
    let r = a.form(row, "/admin/zones/publish", &[("back", "zones")], false, &zones_page);
    assert!(back_ok(&r, "/admin/zones"), "{}", r.shown());

    // The lab clock: moving it is the admin's.
    let row = "POST /admin/clock";
    // The clock's offset (its `now` moves by itself).
    let clock = || h.admin_api(Some(("admin", pw)), "GET", "/admin/api/clock", None).json()["offset_days"].to_string();
    let r = a.form(row, "/admin/clock", &[("days", "1")], false, &clock);
    assert!(back_ok(&r, "/admin/clock"), "{}", r.shown());

    // Every page: the admin and support read them (users are the admin's); without a session,
    // the sign-in page.
    let pages: &[(&str, String, u16)] = &[
        ("GET /admin", "/admin".into(), 200),
        ("GET /admin/", "/admin/".into(), 200),
        ("GET /admin/domains", "/admin/domains".into(), 200),
        ("GET /admin/domains/{name}", format!("/admin/domains/{dx}"), 200),
        ("GET /admin/registrars", "/admin/registrars".into(), 200),
        ("GET /admin/registrars/{id}", format!("/admin/registrars/{id_a}"), 200),
        ("GET /admin/queues", "/admin/queues".into(), 200),
        ("GET /admin/zones", "/admin/zones".into(), 200),
        ("GET /admin/directory", "/admin/directory".into(), 200),
        ("GET /admin/directory/disclosures/{id}", disclosure.clone(), 200),
        ("GET /admin/users", "/admin/users".into(), 403),
        ("GET /admin/audit", "/admin/audit".into(), 200),
        ("GET /admin/clock", "/admin/clock".into(), 200),
    ];
    for (row, path, support_status) in pages {
        m.check(row, Admin, &h.page(Some(&admin), path), 200);
        m.check(row, Support, &h.page(Some(&support), path), *support_status);
        let r = h.page(None, path);
        m.check(row, NoSession, &r, 303);
        assert_eq!(r.location(), "/admin/login", "{row}");
    }
    // A registrar's API key is never shown again, to anyone.
    for s in [&admin, &support] {
        let body = h.page(Some(s), &format!("/admin/registrars/{rid}")).body;
        assert!(!body.contains(&rotated), "the key on the registrar page");
    }

    // The admin JSON API: support reads and lifts suspensions; the rest is the admin's.
    let clock_json = || h.admin_api(admin_creds, "GET", "/admin/api/clock", None).json()["offset_days"].clone();
    type State<'a> = &'a dyn Fn() -> Value;
    // (row, body, support's status, what a refusal must leave as it was)
    let api_rows: &[(&str, Option<&str>, u16, State)] = &[
        ("GET /admin/api/clock", None, 200, &|| Value::Null),
        ("POST /admin/api/clock/advance", Some(r#"{"days": 1}"#), 403, &clock_json),
        // Nothing is due: the lifecycle job's run leaves nothing to compare.
        ("POST /admin/api/lifecycle/run", None, 403, &|| Value::Null),
        ("GET /admin/api/stats", None, 200, &|| Value::Null),
        ("GET /admin/api/whois/suspensions", None, 200, &|| Value::Null),
        ("POST /admin/api/zone/export", None, 403, &|| json!(zones_page())),
    ];
    for (row, body, support_status, state) in api_rows {
        let (method, path) = row.split_once(' ').unwrap();
        let before = state();
        m.problem(row, NoSession, &h.admin_api(None, method, path, *body), 401, "unauthorized");
        m.problem(row, BadKey, &h.admin_api_bad(method, path, *body), 401, "unauthorized");
        let r = h.admin_api_cross_site(method, path, *body, pw);
        if method == "GET" {
            // Answered, but unreadable to the other site: no CORS header allows it.
            m.check(row, CrossSite, &r, 200);
            assert!(r.header("access-control-allow-origin").is_none(), "{row}");
        } else {
            m.problem(row, CrossSite, &r, 403, "forbidden");
        }
        let r = h.admin_api(support_creds, method, path, *body);
        if *support_status == 403 {
            m.problem(row, Support, &r, 403, "forbidden");
        } else {
            m.check(row, Support, &r, *support_status);
        }
        assert_eq!(state(), before, "{row}: a refused call changed something");
        m.check(row, Admin, &h.admin_api(admin_creds, method, path, *body), 200);
    }
    // POST /admin/logout, last: a session of its own for each caller that signs out.
    let row = "POST /admin/logout";
    let alive = |s: &Session| h.page(Some(s), "/admin/").status.to_string();
    let spare_support = h.sign_in("authz-support", &support_pw);
    let r = h.post_form(Some(&spare_support), Some(&spare_support.csrf), "/admin/logout", &[]);
    m.check(row, Support, &r, 303);
    assert_eq!(alive(&spare_support), "303", "signed out");
    let spare = h.sign_in("admin", pw);
    let a = Admins { h: &h, m: &m, admin: &spare, support: &support };
    let r = a.form(row, "/admin/logout", &[], true, &|| alive(&spare));
    assert_eq!((r.status, r.location()), (303, "/admin/login"), "{}", r.shown());
    assert_eq!(alive(&spare), "303", "signed out");
    assert_eq!(alive(&admin), "200", "the other sessions stay");

    let cells = m.assert_complete(&http_rows(&[Guard::AdminPage, Guard::AdminForm, Guard::AdminApi, Guard::SignIn]));
    eprintln!("admin UI and admin API: {cells} cells");
}

// ---------------------------------------------------------------------------------------------
// EPP

const DOMAIN_NS: &str = "urn:ietf:params:xml:ns:domain-1.0";
const CONTACT_NS: &str = "urn:ietf:params:xml:ns:contact-1.0";

fn d_cmd(verb: &str, inner: &str) -> String {
    format!("<{verb}><domain:{verb} xmlns:domain=\"{DOMAIN_NS}\">{inner}</domain:{verb}></{verb}>")
}

fn c_cmd(verb: &str, inner: &str) -> String {
    format!("<{verb}><contact:{verb} xmlns:contact=\"{CONTACT_NS}\">{inner}</contact:{verb}></{verb}>")
}

fn epp_domain_create(name: &str, contact: &str) -> String {
    d_cmd(
        "create",
        &format!(
            "<domain:name>{name}</domain:name><domain:period unit=\"y\">1</domain:period><domain:ns><domain:hostAttr><domain:hostName>ns1.example.net</domain:hostName></domain:hostAttr><domain:hostAttr><domain:hostName>ns2.example.net</domain:hostName></domain:hostAttr></domain:ns><domain:registrant>{contact}</domain:registrant><domain:contact type=\"admin\">{contact}</domain:contact><domain:contact type=\"tech\">{contact}</domain:contact><domain:authInfo><domain:pw/></domain:authInfo>"
        ),
    )
}

fn epp_contact_create(id: &str) -> String {
    c_cmd(
        "create",
        &format!(
            "<contact:id>{id}</contact:id><contact:postalInfo type=\"int\"><contact:name>Authz EPP</contact:name><contact:addr><contact:street>Rua Augusta 1</contact:street><contact:city>Lisboa</contact:city><contact:pc>1100-048</contact:pc><contact:cc>PT</contact:cc></contact:addr></contact:postalInfo><contact:voice>+351.213456789</contact:voice><contact:email>{PRIVATE_EMAIL}</contact:email><contact:authInfo><contact:pw>unused-1</contact:pw></contact:authInfo>"
        ),
    )
}

struct Epp<'a> {
    d: &'a crate::epp::Demo,
    received: Arc<Received>,
    m: &'a Cells,
}

impl Epp<'_> {
    /// A connection with registrar `who`'s certificate, not logged in.
    fn connect(&self, who: usize) -> Raw {
        let r = &self.d.registrars[who];
        Raw::connect(self.d.server.epp(), tls_config(&self.d.ca, Some((&r.cert, &r.key))), self.received.clone())
            .unwrap()
    }

    fn session(&self, who: usize) -> Raw {
        let mut c = self.connect(who);
        let r = c.login(&self.d.registrars[who], &[]);
        assert_eq!(code(&r), 1000, "{r}");
        c
    }

    fn check(&self, row: &str, caller: Caller, answer: &str, want: u16) {
        assert_eq!(code(answer), want, "{row} as {caller:?}: {answer}");
        self.m.done(row, caller);
    }

    /// The cell before login (2002, on a new connection with the sponsor's certificate) and
    /// the other registrar's, each followed by `state`, which must be as before.
    fn refused(
        &self,
        row: &str,
        before_login: &str,
        other: &mut Raw,
        other_cmd: &str,
        want: u16,
        state: &dyn Fn() -> Value,
    ) -> String {
        let before = state();
        self.check(row, BeforeLogin, &self.connect(0).command(before_login), 2002);
        let r = other.command(other_cmd);
        self.check(row, Other, &r, want);
        assert_eq!(state(), before, "{row}: a refused command changed something");
        r
    }
}

#[test]
fn epp_commands_answer_only_their_sponsor() {
    let d = crate::epp::demo();
    let h = Http { addr: d.server.http };
    let m = Cells::default();
    let e = Epp { d: &d, received: Arc::new(Received::default()), m: &m };
    let (ka, kb) = (d.registrars[0].api_key.as_str(), d.registrars[1].api_key.as_str());
    let (id_a, id_b) = (d.registrars[0].id.as_str(), d.registrars[1].id.as_str());
    let dn = renewable(&d, &h, ka, 1).remove(0);
    let (ca, cu, cdel, cb) = (new_contact(&h, ka), new_contact(&h, ka), new_contact(&h, ka), new_contact(&h, kb));
    let (de, dd, dg) = ("authz-epp.pt", "authz-epp-del.pt", "authz-epp-gain.pt");
    new_domain(&h, ka, de, &ca);
    new_domain(&h, ka, dd, &ca);
    new_domain(&h, kb, dg, &cb);
    let db = "authz-epp-b.pt";
    new_domain(&h, kb, db, &cb);
    let gain = h.api(Some(kb), "POST", &format!("/api/v1/domains/{dg}/auth-code"), None).json();
    let a_domain = |name: &str| domain_state(&h, ka, name);
    let a_contact = |handle: &str| h.api(Some(ka), "GET", &format!("/api/v1/contacts/{handle}"), None).json();

    // login: once per session, and only as the registrar the certificate is pinned for.
    let row = "login";
    let mut sa = e.connect(0);
    e.check(row, BeforeLogin, &sa.login(&d.registrars[0], &[]), 1000);
    e.check(row, Sponsor, &sa.login(&d.registrars[0], &[]), 2002);
    let mut c = e.connect(0);
    let r = c.login(&d.registrars[1], &[]);
    e.check(row, Other, &r, 2501);
    assert!(r.contains("not pinned"), "{r}");
    assert!(c.recv().is_err(), "the session is closed");
    let mut sb = e.session(1);

    // domain:check: availability is public knowledge.
    let row = "domain:check";
    let cmd = d_cmd("check", &format!("<domain:name>{de}</domain:name>"));
    let r = sa.command(&cmd);
    e.check(row, Sponsor, &r, 1000);
    assert!(r.contains("avail=\"0\""), "{r}");
    let r = e.refused(row, &cmd, &mut sb, &cmd, 1000, &|| Value::Null);
    assert!(r.contains("avail=\"0\""), "{r}");

    // domain:info: the sponsor sees everything; another registrar the name, ROID, statuses and
    // sponsor only (RFC 5731 3.1.2), everything with the auth code, nothing with a wrong one.
    let row = "domain:info";
    let cmd = d_cmd("info", &format!("<domain:name>{de}</domain:name>"));
    let r = sa.command(&cmd);
    e.check(row, Sponsor, &r, 1000);
    let auth = field(&r, "domain:pw").expect("the auth code, to the sponsor");
    assert!(r.contains(&format!("<domain:registrant>{ca}</domain:registrant>")), "{r}");
    let r = e.refused(row, &cmd, &mut sb, &cmd, 1000, &|| Value::Null);
    assert!(!r.contains("domain:authInfo") && !r.contains("domain:registrant") && !r.contains(&auth), "{r}");
    assert_eq!(field(&r, "domain:clID").as_deref(), Some(id_a));
    let with = |pw: &str| {
        d_cmd(
            "info",
            &format!("<domain:name>{de}</domain:name><domain:authInfo><domain:pw>{pw}</domain:pw></domain:authInfo>"),
        )
    };
    assert_eq!(code(&sb.command(&with("not-the-code-1"))), 2202);
    let r = sb.command(&with(&auth));
    assert!(code(&r) == 1000 && r.contains("domain:registrant"), "with the auth code: {r}");

    // domain:create: another registrar cannot register with A's contacts.
    let row = "domain:create";
    let fresh = "authz-epp-new.pt";
    let available = || h.get_ok(ka, &format!("/api/v1/domains/check?name={fresh}"))["results"][0]["available"].clone();
    let cmd = epp_domain_create(fresh, &ca);
    e.refused(row, &cmd, &mut sb, &cmd, 2005, &available);
    assert_eq!(available(), true);
    e.check(row, Sponsor, &sa.command(&cmd), 1000);
    assert_eq!(a_domain(fresh)["registrar"], id_a);

    // domain:update
    let row = "domain:update";
    let cmd = d_cmd(
        "update",
        &format!(
            "<domain:name>{de}</domain:name><domain:add><domain:status s=\"clientTransferProhibited\"/></domain:add>"
        ),
    );
    e.refused(row, &cmd, &mut sb, &cmd, 2201, &|| a_domain(de));
    e.check(row, Sponsor, &sa.command(&cmd), 1000);
    assert!(a_domain(de)["status"].as_array().unwrap().contains(&json!("clientTransferProhibited")));

    // domain:delete, on a domain made for it.
    let row = "domain:delete";
    let cmd = d_cmd("delete", &format!("<domain:name>{dd}</domain:name>"));
    e.refused(row, &cmd, &mut sb, &cmd, 2201, &|| a_domain(dd));
    e.check(row, Sponsor, &sa.command(&cmd), 1000);
    assert!(a_domain(dd)["status"].as_array().unwrap().contains(&json!("pendingDelete")));

    // domain:renew, on a demo domain near its expiry.
    let row = "domain:renew";
    let expires = a_domain(&dn)["expires"].as_str().unwrap().to_string();
    let cmd = d_cmd(
        "renew",
        &format!(
            "<domain:name>{dn}</domain:name><domain:curExpDate>{}</domain:curExpDate><domain:period unit=\"y\">1</domain:period>",
            &expires[..10]
        ),
    );
    let balance = |key: &str| h.get_ok(key, "/api/v1/account")["balance"]["cents"].clone();
    e.refused(row, &cmd, &mut sb, &cmd, 2201, &|| json!([a_domain(&dn), balance(ka), balance(kb)]));
    e.check(row, Sponsor, &sa.command(&cmd), 1000);
    assert_ne!(a_domain(&dn)["expires"].as_str().unwrap(), expires);

    // domain:transfer: the gaining registrar with the auth code (request, then query); another
    // registrar without the code takes nothing and may not query the sponsor's domain.
    let row = "domain:transfer";
    let request = |name: &str, pw: &str, roid: &str| {
        format!(
            "<transfer op=\"request\"><domain:transfer xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:authInfo><domain:pw roid=\"{roid}\">{pw}</domain:pw></domain:authInfo></domain:transfer></transfer>"
        )
    };
    let query = |name: &str| {
        format!(
            "<transfer op=\"query\"><domain:transfer xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:transfer></transfer>"
        )
    };
    let gaining = request(dg, gain["auth_code"].as_str().unwrap(), gain["roid"].as_str().unwrap());
    let before = domain_state(&h, kb, dg);
    e.check(row, BeforeLogin, &e.connect(0).command(&gaining), 2002);
    assert_eq!(domain_state(&h, kb, dg), before);
    let roid = a_domain(de)["roid"].as_str().unwrap().to_string();
    let r = e.refused(
        row,
        &request(de, "not-the-code-1", &roid),
        &mut sb,
        &request(de, "not-the-code-1", &roid),
        2202,
        &|| a_domain(de),
    );
    assert!(!r.contains(&auth), "{r}");
    assert_eq!(code(&sb.command(&query(de))), 2201, "B queries A's domain");
    e.check(row, Sponsor, &sa.command(&gaining), 1000);
    assert_eq!(a_domain(dg)["registrar"], id_a);
    let r = sa.command(&query(dg));
    assert!(code(&r) == 1000 && field(&r, "domain:acID").as_deref() == Some(id_b), "{r}");

    // contact:check: like domain:check, whoever's the handle.
    let row = "contact:check";
    let cmd = c_cmd("check", &format!("<contact:id>{ca}</contact:id>"));
    let r = sa.command(&cmd);
    e.check(row, Sponsor, &r, 1000);
    assert!(r.contains("avail=\"0\""), "{r}");
    let r = e.refused(row, &cmd, &mut sb, &cmd, 1000, &|| Value::Null);
    assert!(r.contains("avail=\"0\"") && !r.contains(PRIVATE_EMAIL), "{r}");

    // contact:info: handles are private: another registrar's does not exist.
    let row = "contact:info";
    let cmd = c_cmd("info", &format!("<contact:id>{ca}</contact:id>"));
    let r = sa.command(&cmd);
    e.check(row, Sponsor, &r, 1000);
    assert!(r.contains(PRIVATE_EMAIL), "{r}");
    let r = e.refused(row, &cmd, &mut sb, &cmd, 2303, &|| Value::Null);
    assert!(!r.contains(PRIVATE_EMAIL), "{r}");

    // contact:create: another registrar cannot take A's handle.
    let row = "contact:create";
    let before = a_contact(&ca);
    e.check(row, BeforeLogin, &e.connect(0).command(&epp_contact_create("AUTHZEPP1")), 2002);
    assert_eq!(h.api(Some(ka), "GET", "/api/v1/contacts/AUTHZEPP1", None).status, 404);
    e.check(row, Other, &sb.command(&epp_contact_create(&ca)), 2302);
    assert_eq!(a_contact(&ca), before);
    e.check(row, Sponsor, &sa.command(&epp_contact_create("AUTHZEPP2")), 1000);
    assert_eq!(a_contact("AUTHZEPP2")["handle"], "AUTHZEPP2");

    // contact:update
    let row = "contact:update";
    let cmd = c_cmd(
        "update",
        &format!(
            "<contact:id>{cu}</contact:id><contact:chg><contact:voice>+351.210000001</contact:voice></contact:chg>"
        ),
    );
    e.refused(row, &cmd, &mut sb, &cmd, 2303, &|| a_contact(&cu));
    e.check(row, Sponsor, &sa.command(&cmd), 1000);
    assert_eq!(a_contact(&cu)["phone"], "+351.210000001");

    // contact:delete, on a contact made for it.
    let row = "contact:delete";
    let cmd = c_cmd("delete", &format!("<contact:id>{cdel}</contact:id>"));
    e.refused(row, &cmd, &mut sb, &cmd, 2303, &|| a_contact(&cdel));
    e.check(row, Sponsor, &sa.command(&cmd), 1000);
    assert_eq!(h.api(Some(ka), "GET", &format!("/api/v1/contacts/{cdel}"), None).status, 404);

    // poll: each registrar its own queue; another registrar cannot acknowledge A's messages.
    let row = "poll";
    let ids = |key: &str| -> Vec<u64> {
        h.get_ok(key, "/api/v1/poll")["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_u64().unwrap())
            .collect()
    };
    let r = sa.command("<poll op=\"req\"/>");
    e.check(row, Sponsor, &r, 1301);
    let first = ids(ka)[0];
    assert!(r.contains(&format!("id=\"{first}\"")), "{r}");
    let ack = format!("<poll op=\"ack\" msgID=\"{first}\"/>");
    e.refused(row, &ack, &mut sb, &ack, 2303, &|| json!(ids(ka)));
    let r = sb.command("<poll op=\"req\"/>");
    assert!([1300, 1301].contains(&code(&r)) && !ids(ka).iter().any(|id| r.contains(&format!("id=\"{id}\""))), "{r}");
    assert_eq!(code(&sa.command(&ack)), 1000);
    assert!(!ids(ka).contains(&first));

    // A registrar the registry disables is refused at once, in a session already open too.
    let admin = h.sign_in("admin", &d.admin_password);
    let fields = [("action", "edit"), ("name", "Amen Portugal, S.A."), ("email", "registos@amen-pt.example")];
    let r = h.post_form(Some(&admin), Some(&admin.csrf), &format!("/admin/registrars/{id_b}/action"), &fields);
    assert!(back_ok(&r, &format!("/admin/registrars/{id_b}")), "{}", r.shown());
    assert_eq!(h.api(Some(kb), "GET", "/api/v1/account", None).status, 401, "the API key of a disabled registrar");
    let update = d_cmd(
        "update",
        &format!("<domain:name>{db}</domain:name><domain:add><domain:status s=\"clientHold\"/></domain:add>"),
    );
    let r = sb.command(&update);
    assert_eq!(code(&r), 2501, "a disabled registrar's open session: {r}");
    assert!(sb.recv().is_err(), "and the session is closed");

    // logout
    let row = "logout";
    e.check(row, BeforeLogin, &e.connect(0).command("<logout/>"), 2002);
    e.check(row, Sponsor, &sa.command("<logout/>"), 1500);
    assert!(sa.recv().is_err(), "logout closes the session");
    // (B, enabled again, finds its domain as it left it.)
    let fields =
        [("action", "edit"), ("name", "Amen Portugal, S.A."), ("email", "registos@amen-pt.example"), ("enabled", "on")];
    let r = h.post_form(Some(&admin), Some(&admin.csrf), &format!("/admin/registrars/{id_b}/action"), &fields);
    assert!(back_ok(&r, &format!("/admin/registrars/{id_b}")), "{}", r.shown());
    let v = domain_state(&h, kb, db);
    assert!(!v["status"].as_array().unwrap().contains(&json!("clientHold")), "changed while disabled: {v}");

    // Every answer is valid against the EPP schemas.
    e.received.validate();
    let rows: Vec<(String, &'static [Caller])> = EPP_COMMANDS.iter().map(|(c, cs)| (c.to_string(), *cs)).collect();
    let cells = m.assert_complete(&rows);
    eprintln!("EPP: {cells} cells");
}
