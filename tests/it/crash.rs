//! Crash safety (issue 14): the real binary under a mixed write load (creates, nameserver
//! updates, transfers, deletes, restores, and requests that must be refused; two registrars;
//! over the HTTP API and over EPP) is killed with SIGKILL at random moments, again and again.
//! After each kill:
//! - `nicbox check --deep` on the killed database (offline: it opens, recovers and checks the
//!   file as the next start would) passes: counters, indexes, balances against the ledger,
//!   histories, poll queues, and the change journal against the zone file;
//! - the server starts again on it, and every operation that was acknowledged is there, nothing
//!   that was refused left a trace, and the one request of each client that was in flight at
//!   the kill either happened whole or not at all.
//!
//! At the end every domain is read back once more, and no log line of any run holds a secret
//! (API keys, EPP and admin passwords, auth codes, the TSIG secret).
//!
//! `NICBOX_CRASH_KILLS` sets the number of kills (default 200); `NICBOX_CRASH_SEED` replays a
//! run (the seed is printed, and named in every failure).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Server, http_agent, http_call, start_demo};
use crate::epp::{Raw, Received, Registrar, code as epp_code, field, tls_config};

const DOMAIN_NS: &str = "urn:ietf:params:xml:ns:domain-1.0";
const RGP_NS: &str = "urn:ietf:params:xml:ns:rgp-1.0";
const E: &str = r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0">"#;

/// A small deterministic generator (xorshift64*), so that a seed replays a run's choices.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What a registered domain must look like.
#[derive(Debug, Clone, PartialEq)]
struct State {
    /// Index of the sponsoring registrar.
    sponsor: usize,
    /// Generation of its nameserver set (see [`nameservers`]).
    ns: u32,
    pending_delete: bool,
}

/// The nameservers of generation `g` of a domain.
fn nameservers(g: u32) -> [String; 2] {
    ["ns1.example.net".to_string(), format!("v{g}.crash-ns.example.net")]
}

#[derive(Debug, Clone)]
struct Dom {
    name: String,
    /// None: not registered.
    state: Option<State>,
    /// The expiry as created (nothing here renews: a renew is one of the refused requests).
    expires: Option<String>,
}

/// A change sent and not answered when the server died: the domain is either as before or as
/// `after`.
#[derive(Debug, Clone)]
struct InFlight {
    dom: usize,
    after: Option<State>,
    what: &'static str,
}

/// One client of the load: HTTP or EPP, with its home registrar and its own domains.
struct Worker {
    index: usize,
    epp: bool,
    home: usize,
    doms: Vec<Dom>,
    created: u32,
    rng: Rng,
    /// Changed since the last read-back: checked after the next restart.
    dirty: BTreeSet<usize>,
    in_flight: Option<InFlight>,
    acked: u64,
    refused: u64,
}

#[derive(Default)]
struct Totals {
    acknowledged: u64,
    refused: u64,
    in_flight: u64,
    in_flight_applied: u64,
}

/// What one request came to.
enum Outcome {
    /// Done (2xx, EPP 1000/1001).
    Ack(Value),
    /// Refused with this status or EPP code.
    Refused(u16, String),
    /// No answer: the server is gone.
    Lost,
}

struct Lab {
    registrars: Vec<Registrar>,
    ca: PathBuf,
    secrets: Vec<String>,
    /// Auth codes the load read: secrets too.
    codes: Mutex<Vec<String>>,
    data: PathBuf,
}

fn lab(data: &Path) -> Lab {
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_string();
    let registrars = crate::epp::registrars_of(&creds);
    let mut secrets: Vec<String> = registrars.iter().flat_map(|r| [r.api_key.clone(), r.password.clone()]).collect();
    secrets.push(s(&creds["admin"]["password"]));
    secrets.push(s(&creds["dns"]["tsig"]["secret"]));
    Lab {
        registrars,
        ca: s(&creds["epp"]["ca_cert"]).into(),
        secrets,
        codes: Mutex::default(),
        data: data.to_path_buf(),
    }
}

/// Where the server listens (the load holds this, not the server, so the test can kill it).
#[derive(Clone, Copy)]
struct Target {
    http: std::net::SocketAddr,
    epp: std::net::SocketAddr,
}

impl Target {
    fn of(s: &Server) -> Target {
        Target { http: s.http, epp: s.epp() }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }
}

/// An HTTP request of the load (again after a pause when rate-limited).
fn http(t: &Target, key: &str, method: &str, path: &str, body: Option<Value>) -> Outcome {
    let agent = http_agent();
    loop {
        let (status, v) = http_call(&agent, method, &t.url(path), Some(key), body.as_ref());
        return match status {
            0 => Outcome::Lost,
            429 => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            200..=299 => Outcome::Ack(v),
            s => Outcome::Refused(s, v["code"].as_str().unwrap_or("").to_string()),
        };
    }
}

/// The EPP sessions of a worker, one per registrar.
struct Sessions {
    raw: Vec<Raw>,
    n: u64,
}

impl Sessions {
    fn open(lab: &Lab, t: &Target) -> Option<Sessions> {
        let mut raw = Vec::new();
        for r in &lab.registrars {
            let config = tls_config(&lab.ca, Some((&r.cert, &r.key)));
            let mut c = Raw::connect(t.epp, config, Arc::new(Received::default())).ok()?;
            let login = format!(
                "{E}<command><login><clID>{}</clID><pw>{}</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>{DOMAIN_NS}</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI><svcExtension><extURI>{RGP_NS}</extURI></svcExtension></svcs></login><clTRID>login</clTRID></command></epp>",
                r.id, r.password
            );
            let resp = c.send_bytes(login.as_bytes()).ok()?;
            assert_eq!(epp_code(&resp), 1000, "EPP login of {}: {resp}", r.id);
            raw.push(c);
        }
        Some(Sessions { raw, n: 0 })
    }

    /// One command (again after a pause when over the session's command rate).
    fn command(&mut self, who: usize, inner: &str) -> Outcome {
        loop {
            self.n += 1;
            let trid = format!("crash-{}", self.n);
            let frame = format!("{E}<command>{inner}<clTRID>{trid}</clTRID></command></epp>");
            return match self.raw[who].send_bytes(frame.as_bytes()) {
                Ok(resp) => {
                    assert!(resp.contains(&format!("<clTRID>{trid}</clTRID>")), "clTRID echoed: {resp}");
                    match epp_code(&resp) {
                        1000 | 1001 => Outcome::Ack(Value::String(resp)),
                        2400 if resp.contains("Command rate limit") => {
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                        c => Outcome::Refused(c, resp),
                    }
                }
                Err(_) => Outcome::Lost,
            };
        }
    }
}

fn ns_json(g: u32) -> Value {
    Value::Array(nameservers(g).iter().map(|n| json!({ "name": n })).collect())
}

fn host_attrs(g: u32) -> String {
    nameservers(g)
        .iter()
        .map(|n| format!("<domain:hostAttr><domain:hostName>{n}</domain:hostName></domain:hostAttr>"))
        .collect()
}

/// The kinds of request the load sends.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Create,
    SetNs,
    Transfer,
    Delete,
    Restore,
    /// Requests that must be refused and change nothing: a renewal long before expiry, a
    /// transfer with a wrong auth code, a create of a registered name.
    Refused,
}

impl Worker {
    fn pick(&mut self) -> (Kind, Option<usize>) {
        let live: Vec<usize> = (0..self.doms.len()).filter(|&i| self.doms[i].state.is_some()).collect();
        if live.is_empty() || (self.rng.below(100) < 25 && live.len() < 400) {
            return (Kind::Create, None);
        }
        let i = live[self.rng.below(live.len() as u64) as usize];
        let pd = self.doms[i].state.as_ref().is_some_and(|s| s.pending_delete);
        let kind = match (pd, self.rng.below(100)) {
            (true, r) if r < 70 => Kind::Restore,
            (true, _) => Kind::Refused,
            (false, r) if r < 35 => Kind::SetNs,
            (false, r) if r < 55 => Kind::Transfer,
            (false, r) if r < 75 => Kind::Delete,
            _ => Kind::Refused,
        };
        (kind, Some(i))
    }

    /// One request; false when the server is gone.
    fn step(&mut self, lab: &Lab, t: &Target, sessions: &mut Option<Sessions>) -> bool {
        let (kind, target) = self.pick();
        let i = match target {
            Some(i) => i,
            None => {
                self.created += 1;
                self.doms.push(Dom {
                    name: format!("crash-w{}-{}.pt", self.index, self.created),
                    state: None,
                    expires: None,
                });
                self.doms.len() - 1
            }
        };
        let name = self.doms[i].name.clone();
        let before = self.doms[i].state.clone();
        let sponsor = before.as_ref().map(|s| s.sponsor).unwrap_or(self.home);
        let other = 1 - sponsor;
        let regs = &lab.registrars;
        let mut after = before.clone();
        let (outcome, what): (Outcome, &'static str) = match kind {
            Kind::Create => {
                after = Some(State { sponsor: self.home, ns: 0, pending_delete: false });
                let c = &regs[self.home].contact;
                let o = match sessions {
                    None => http(
                        t,
                        &regs[self.home].api_key,
                        "POST",
                        "/api/v1/domains",
                        Some(json!({"name": name, "period_years": 1, "registrant": c, "admin": c, "tech": c, "nameservers": ns_json(0)})),
                    ),
                    Some(s) => s.command(
                        self.home,
                        &format!(
                            "<create><domain:create xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:period unit=\"y\">1</domain:period><domain:ns>{}</domain:ns><domain:registrant>{c}</domain:registrant><domain:contact type=\"admin\">{c}</domain:contact><domain:contact type=\"tech\">{c}</domain:contact><domain:authInfo><domain:pw/></domain:authInfo></domain:create></create>",
                            host_attrs(0)
                        ),
                    ),
                };
                if let Outcome::Ack(v) = &o {
                    self.doms[i].expires = match v {
                        Value::String(x) => field(x, "domain:exDate"),
                        v => v["expires"].as_str().map(str::to_string),
                    };
                }
                (o, "create")
            }
            Kind::SetNs => {
                let st = before.clone().unwrap();
                let g = st.ns + 1;
                after = Some(State { ns: g, ..st.clone() });
                let o = match sessions {
                    None => http(
                        t,
                        &regs[sponsor].api_key,
                        "PATCH",
                        &format!("/api/v1/domains/{name}"),
                        Some(json!({ "nameservers": ns_json(g) })),
                    ),
                    Some(s) => s.command(
                        sponsor,
                        &format!(
                            "<update><domain:update xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:add><domain:ns><domain:hostAttr><domain:hostName>{}</domain:hostName></domain:hostAttr></domain:ns></domain:add><domain:rem><domain:ns><domain:hostAttr><domain:hostName>{}</domain:hostName></domain:hostAttr></domain:ns></domain:rem></domain:update></update>",
                            nameservers(g)[1],
                            nameservers(st.ns)[1]
                        ),
                    ),
                };
                (o, "nameserver update")
            }
            Kind::Transfer => {
                // The sponsor reads the auth code and ROID; the other registrar transfers.
                let (code, roid) = match read_auth(lab, t, sessions, sponsor, &name) {
                    Some(x) => x,
                    None => return false,
                };
                after = Some(State { sponsor: other, ..before.clone().unwrap() });
                let o = match sessions {
                    None => http(
                        t,
                        &regs[other].api_key,
                        "POST",
                        &format!("/api/v1/domains/{name}/transfer"),
                        Some(json!({ "auth_code": code, "roid": roid })),
                    ),
                    Some(s) => s.command(
                        other,
                        &format!(
                            "<transfer op=\"request\"><domain:transfer xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:authInfo><domain:pw roid=\"{roid}\">{code}</domain:pw></domain:authInfo></domain:transfer></transfer>"
                        ),
                    ),
                };
                (o, "transfer")
            }
            Kind::Delete => {
                after = Some(State { pending_delete: true, ..before.clone().unwrap() });
                let o = match sessions {
                    None => http(t, &regs[sponsor].api_key, "DELETE", &format!("/api/v1/domains/{name}"), None),
                    Some(s) => s.command(
                        sponsor,
                        &format!(
                            "<delete><domain:delete xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:delete></delete>"
                        ),
                    ),
                };
                (o, "delete")
            }
            Kind::Restore => {
                after = Some(State { pending_delete: false, ..before.clone().unwrap() });
                let o = match sessions {
                    None => http(t, &regs[sponsor].api_key, "POST", &format!("/api/v1/domains/{name}/restore"), None),
                    Some(s) => s.command(
                        sponsor,
                        &format!(
                            "<update><domain:update xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:chg/></domain:update></update><extension><rgp:update xmlns:rgp=\"{RGP_NS}\"><rgp:restore op=\"request\"/></rgp:update></extension>"
                        ),
                    ),
                };
                (o, "restore")
            }
            Kind::Refused => {
                let st = before.clone().unwrap();
                let (o, what, want): (Outcome, &'static str, &[&str]) = match (self.rng.below(3), sessions.as_mut()) {
                    (0, None) => {
                        let year: i32 = self.doms[i].expires.as_deref().and_then(|e| e[..4].parse().ok()).unwrap_or(2027);
                        (
                            http(
                                t,
                                &regs[sponsor].api_key,
                                "POST",
                                &format!("/api/v1/domains/{name}/renew"),
                                Some(json!({ "period_years": 1, "current_expiry_year": year })),
                            ),
                            "renewal long before expiry",
                            &["renew_too_early", "status_prohibits"],
                        )
                    }
                    (0, Some(s)) => {
                        let date = self.doms[i].expires.as_deref().map(|e| e[..10].to_string()).unwrap_or_default();
                        (
                            s.command(
                                sponsor,
                                &format!(
                                    "<renew><domain:renew xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:curExpDate>{date}</domain:curExpDate><domain:period unit=\"y\">1</domain:period></domain:renew></renew>"
                                ),
                            ),
                            "renewal long before expiry",
                            &["2105", "2304", "2306"],
                        )
                    }
                    (1, None) => (
                        http(
                            t,
                            &regs[other].api_key,
                            "POST",
                            &format!("/api/v1/domains/{name}/transfer"),
                            Some(json!({ "auth_code": "Wrong-Code-123", "roid": "D1-PT" })),
                        ),
                        "transfer with a wrong auth code",
                        &["bad_auth_code", "status_prohibits", "invalid_request"],
                    ),
                    (1, Some(s)) => (
                        s.command(
                            other,
                            &format!(
                                "<transfer op=\"request\"><domain:transfer xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:authInfo><domain:pw roid=\"D1-PT\">Wrong-Code-123</domain:pw></domain:authInfo></domain:transfer></transfer>"
                            ),
                        ),
                        "transfer with a wrong auth code",
                        &["2201", "2202", "2304"],
                    ),
                    (_, None) => {
                        let c = &regs[other].contact;
                        (
                            http(
                                t,
                                &regs[other].api_key,
                                "POST",
                                "/api/v1/domains",
                                Some(json!({"name": name, "period_years": 1, "registrant": c, "admin": c, "tech": c})),
                            ),
                            "create of a registered name",
                            &["not_available"],
                        )
                    }
                    (_, Some(s)) => {
                        let c = &regs[other].contact;
                        (
                            s.command(
                                other,
                                &format!(
                                    "<create><domain:create xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:period unit=\"y\">1</domain:period><domain:registrant>{c}</domain:registrant><domain:contact type=\"admin\">{c}</domain:contact><domain:contact type=\"tech\">{c}</domain:contact><domain:authInfo><domain:pw/></domain:authInfo></domain:create></create>"
                                ),
                            ),
                            "create of a registered name",
                            &["2302"],
                        )
                    }
                };
                match &o {
                    Outcome::Ack(v) => panic!("{what} of {name} ({st:?}) was accepted: {v}"),
                    Outcome::Refused(status, c) => {
                        let said = if sessions.is_some() { status.to_string() } else { c.clone() };
                        assert!(
                            want.contains(&said.as_str()),
                            "{what} of {name}: refused with {status} {c}, want one of {want:?}"
                        );
                    }
                    Outcome::Lost => {}
                }
                (o, what)
            }
        };
        match outcome {
            Outcome::Ack(_) => {
                assert!(!matches!(kind, Kind::Refused));
                self.doms[i].state = after;
                self.dirty.insert(i);
                self.acked += 1;
                true
            }
            Outcome::Refused(status, body) => {
                assert!(matches!(kind, Kind::Refused), "{what} of {name} ({before:?}) refused: {status} {body}");
                self.dirty.insert(i);
                self.refused += 1;
                true
            }
            Outcome::Lost => {
                if !matches!(kind, Kind::Refused) {
                    self.in_flight = Some(InFlight { dom: i, after, what });
                }
                self.dirty.insert(i);
                false
            }
        }
    }
}

/// The auth code and ROID of a domain, read by its sponsor; None when the server is gone.
fn read_auth(
    lab: &Lab,
    t: &Target,
    sessions: &mut Option<Sessions>,
    sponsor: usize,
    name: &str,
) -> Option<(String, String)> {
    let got = match sessions {
        None => match http(t, &lab.registrars[sponsor].api_key, "GET", &format!("/api/v1/domains/{name}"), None) {
            Outcome::Ack(v) => Some((v["auth_code"].as_str()?.to_string(), v["roid"].as_str()?.to_string())),
            Outcome::Refused(s, c) => panic!("the sponsor cannot read {name}: {s} {c}"),
            Outcome::Lost => None,
        },
        Some(s) => match s.command(
            sponsor,
            &format!(
                "<info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:info></info>"
            ),
        ) {
            Outcome::Ack(Value::String(r)) => Some((field(&r, "domain:pw")?, field(&r, "domain:roid")?)),
            Outcome::Ack(_) => None,
            Outcome::Refused(c, r) => panic!("the sponsor cannot read {name}: {c} {r}"),
            Outcome::Lost => None,
        },
    };
    if let Some((code, _)) = &got {
        lab.codes.lock().unwrap().push(code.clone());
    }
    got
}

/// The domain as the registry has it now (read through the API by each registrar in turn).
fn observe(lab: &Lab, t: &Target, name: &str) -> (Option<State>, Option<String>) {
    for (r, reg) in lab.registrars.iter().enumerate() {
        let url = t.url(&format!("/api/v1/domains/{name}"));
        let (status, v) = loop {
            match http_call(&http_agent(), "GET", &url, Some(&reg.api_key), None) {
                (429, _) => std::thread::sleep(Duration::from_millis(250)),
                answer => break answer,
            }
        };
        match status {
            200 => {
                assert_eq!(v["registrar"].as_str(), Some(reg.id.as_str()), "{name} read by its sponsor: {v}");
                let hosts: Vec<&str> =
                    v["nameservers"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
                let ns = (0..100_000u32)
                    .find(|g| hosts.len() == 2 && hosts.contains(&nameservers(*g)[1].as_str()))
                    .unwrap_or_else(|| panic!("{name}: nameservers {hosts:?} of no generation"));
                let statuses: Vec<&str> = v["status"].as_array().unwrap().iter().filter_map(|s| s.as_str()).collect();
                let state = State { sponsor: r, ns, pending_delete: statuses.contains(&"pendingDelete") };
                return (Some(state), v["expires"].as_str().map(str::to_string));
            }
            403 | 404 => continue,
            s => panic!("reading {name} as {}: {s} {v}", reg.id),
        }
    }
    (None, None)
}

/// Reads back the domains a worker changed (all of them when `all`), settling its in-flight
/// request by what is there.
fn verify(lab: &Lab, t: &Target, w: &mut Worker, all: bool, totals: &mut Totals, seed: u64) {
    let flight = w.in_flight.take();
    let which: Vec<usize> =
        if all { (0..w.doms.len()).collect() } else { std::mem::take(&mut w.dirty).into_iter().collect() };
    for i in which {
        let d = &w.doms[i];
        let (seen, expires) = observe(lab, t, &d.name);
        let in_flight = flight.as_ref().filter(|f| f.dom == i);
        let ok = seen == d.state || in_flight.is_some_and(|f| seen == f.after);
        assert!(
            ok,
            "seed {seed}: {} is {seen:?}; acknowledged state {:?}{}",
            d.name,
            d.state,
            in_flight
                .map(|f| format!(", or {:?} if the {} in flight at the kill happened", f.after, f.what))
                .unwrap_or_default()
        );
        if let (Some(a), Some(b)) = (&d.expires, &expires) {
            assert_eq!(a[..10], b[..10], "seed {seed}: {} expiry changed (nothing renews it)", d.name);
        }
        if in_flight.is_some() {
            totals.in_flight += 1;
            if seen != d.state {
                totals.in_flight_applied += 1;
            }
        }
        let d = &mut w.doms[i];
        d.state = seen;
        if d.expires.is_none() {
            d.expires = expires;
        }
    }
    w.dirty.clear();
}

/// `nicbox check --deep` on the (killed) database: its output; panics unless it passes.
fn deep_check(data: &Path, seed: u64, kill: usize) -> String {
    let out = std::process::Command::new(crate::common::binary())
        .args(["check", "--deep", "--config", data.join("nicbox.toml").to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "seed {seed}, after kill {kill}: check --deep failed:\n{text}");
    text
}

#[test]
fn sigkill_under_mixed_write_load_loses_nothing_acknowledged() {
    let kills: usize = std::env::var("NICBOX_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let seed: u64 = std::env::var("NICBOX_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
    });
    eprintln!("crash test: {kills} kills, seed {seed} (NICBOX_CRASH_SEED={seed} replays the choices)");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut server = start_demo(&data, dir.path());
    let lab = lab(&data);
    // The demo's opening balances pay for a few thousand restores; the load makes more than
    // that in 200 kills on a fast machine. Stopped, credited offline, started again.
    let _ = server.child.kill();
    let _ = server.child.wait();
    for r in &lab.registrars {
        let (code, out, err) = crate::common::run(&[
            "registrar",
            "credit",
            "--config",
            data.join("nicbox.toml").to_str().unwrap(),
            "--id",
            &r.id,
            "--amount-cents",
            "1000000000",
            "--reason",
            "crash test load",
        ]);
        assert_eq!(code, 0, "registrar credit {}: {out}{err}", r.id);
    }
    server = start_demo(&data, dir.path());
    let mut rng = Rng(seed);
    // Two HTTP clients (one per registrar) and one EPP client with a session per registrar.
    let mut workers: Vec<Worker> = (0..3)
        .map(|index| Worker {
            index,
            epp: index == 2,
            home: index % 2,
            doms: Vec::new(),
            created: 0,
            rng: Rng(seed.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1),
            dirty: BTreeSet::new(),
            in_flight: None,
            acked: 0,
            refused: 0,
        })
        .collect();
    let mut totals = Totals::default();
    let logs: Arc<Mutex<Vec<String>>> = Arc::default();
    let started = Instant::now();
    let mut deep_last = String::new();
    for kill in 1..=kills {
        // The load, until the kill.
        let stop = Arc::new(AtomicBool::new(false));
        let target = Target::of(&server);
        let lab_ref = &lab;
        let delay = Duration::from_millis(20 + rng.below(300));
        std::thread::scope(|scope| {
            for w in workers.iter_mut() {
                let stop = stop.clone();
                scope.spawn(move || {
                    let mut sessions = None;
                    if w.epp {
                        sessions = Sessions::open(lab_ref, &target);
                        if sessions.is_none() {
                            return;
                        }
                    }
                    while !stop.load(Ordering::Relaxed) {
                        if !w.step(lab_ref, &target, &mut sessions) {
                            return;
                        }
                    }
                    // Stopped without a kill: nothing in flight.
                });
            }
            std::thread::sleep(delay);
            // SIGKILL (std's kill), while the clients keep sending.
            let _ = server.child.kill();
            let _ = server.child.wait();
            stop.store(true, Ordering::Relaxed);
        });
        logs.lock().unwrap().extend(server.log.lock().unwrap().drain(..));
        // The killed file: recovered and checked offline, as the next start would find it.
        deep_last = deep_check(&lab.data, seed, kill);
        server = start_demo(&data, dir.path());
        for w in workers.iter_mut() {
            verify(&lab, &Target::of(&server), w, false, &mut totals, seed);
        }
        if kill % 50 == 0 {
            eprintln!("crash test: {kill} kills in {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    for w in workers.iter_mut() {
        verify(&lab, &Target::of(&server), w, true, &mut totals, seed);
        totals.acknowledged += w.acked;
        totals.refused += w.refused;
    }
    // The running server's own deep check (through the control socket) agrees.
    let (code, out, err) =
        crate::common::run(&["check", "--deep", "--config", data.join("nicbox.toml").to_str().unwrap()]);
    assert_eq!(code, 0, "deep check beside the running server:\n{out}{err}");
    assert!(out.contains("0 findings"), "{out}");
    drop(server);
    let domains: usize = workers.iter().map(|w| w.doms.iter().filter(|d| d.state.is_some()).count()).sum();
    eprintln!(
        "crash test: {kills} kills in {:.0} s; {} operations acknowledged, {} refused as they must be, {} in flight at a kill ({} of them had happened); {domains} domains of the load registered; last deep check:\n{deep_last}",
        started.elapsed().as_secs_f64(),
        totals.acknowledged,
        totals.refused,
        totals.in_flight,
        totals.in_flight_applied,
    );
    assert!(totals.acknowledged > kills as u64, "the load did work between kills: {}", totals.acknowledged);
    assert!(totals.refused > 0, "refused requests were tried");
    // No secret in any log line of any run.
    let logs = logs.lock().unwrap();
    assert!(logs.len() > kills, "the runs logged");
    let codes = lab.codes.lock().unwrap();
    assert!(!codes.is_empty(), "auth codes were read");
    for s in lab.secrets.iter().chain(codes.iter()) {
        if let Some(l) = logs.iter().find(|l| l.contains(s.as_str())) {
            panic!("a secret is in the log: {l}");
        }
    }
}

/// `check --deep` finds what is wrong, one line each: a counter off by one, a balance moved
/// without the ledger, a domain changed without its history, a poll message gone without its
/// counter, a zone file that lost a delegation the journal does not explain.
#[test]
fn deep_check_names_each_kind_of_damage() {
    use nicbox::model::{HistoryEntry, Snapshot};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let server = start_demo(&data, dir.path());
    let lab = lab(&data);
    let config = data.join("nicbox.toml");
    let config = config.to_str().unwrap();
    // Sound beside the running server (control socket), then offline.
    let (code, out, err) = crate::common::run(&["check", "--deep", "--config", config]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("deep check: 0 findings") && out.contains("zone pt: the file is the database's zone"),
        "{out}"
    );
    assert_eq!(server.terminate().code(), Some(0));
    let (code, out, err) = crate::common::run(&["check", "--deep", "--config", config]);
    assert_eq!(code, 0, "{out}{err}");

    // The damage, written straight into the file.
    let store = nicbox::store::Store::open(&data.join("nicbox.redb")).unwrap();
    let (victim, registrar) = {
        let r = store.read().unwrap();
        let reg = r.registrar(&lab.registrars[0].id).unwrap().unwrap();
        let poll = r.poll_messages(&reg.id, 1).unwrap();
        assert!(!poll.is_empty(), "the demo queues poll messages");
        let mut first = None;
        r.for_each_domain(|d| {
            if first.is_none() && d.registrar == reg.id && d.is_registered() {
                first = Some(d);
            }
            Ok(())
        })
        .unwrap();
        (first.unwrap(), (reg, poll[0].id))
    };
    let (mut reg, poll_id) = registrar;
    let mut tx = store.write().unwrap();
    tx.counter_add("domains.all", 1).unwrap();
    reg.balance_cents += 1;
    tx.put_registrar(&reg).unwrap();
    assert!(tx.remove_poll(&reg.id, poll_id).unwrap());
    let mut changed = victim.clone();
    changed.auto_renew = !changed.auto_renew;
    let seq = tx.next_seq("history").unwrap();
    tx.append_history(
        &format!("domain:{}", victim.name),
        &HistoryEntry {
            seq,
            at: victim.updated,
            actor: nicbox::model::Actor::System("test".into()),
            operation: "domain.update".into(),
            roid: Some(victim.roid.clone()),
            before: Some(Snapshot::Domain(Box::new(victim.clone()))),
            after: Some(Snapshot::Domain(Box::new(changed))),
            amount_cents: 0,
        },
    )
    .unwrap();
    tx.commit().unwrap();
    drop(store);
    // A delegation gone from the published file (not through the journal).
    let zone_file = data.join("zones").join("pt.zone");
    let text = std::fs::read_to_string(&zone_file).unwrap();
    let gone = text.lines().skip_while(|l| !l.starts_with("; delegations")).nth(1).unwrap().to_string();
    let gone_name = gone.split_whitespace().next().unwrap().trim_end_matches('.').to_string();
    assert!(gone.contains(" NS "), "{gone}");
    let kept: String =
        text.lines().filter(|l| !l.starts_with(&format!("{gone_name}."))).map(|l| format!("{l}\n")).collect();
    std::fs::write(&zone_file, kept).unwrap();

    let (code, out, err) = crate::common::run(&["check", "--deep", "--config", config]);
    assert_eq!(code, 1, "damage found: {out}{err}");
    let findings: Vec<&str> = out.lines().filter(|l| l.starts_with("finding: ")).collect();
    let want = [
        "counter domains.all is".to_string(),
        format!("registrar {}: balance", reg.id),
        format!("poll queue of {}", reg.id),
        format!("history of {}: the state after its last entry", victim.name),
        "zone pt: ".to_string(),
    ];
    for w in &want {
        assert!(findings.iter().any(|f| f.contains(w.as_str())), "a finding {w:?} in:\n{out}");
    }
    assert!(findings.iter().any(|f| f.contains(&gone_name)), "the zone finding names {gone_name}:\n{out}");
    assert_eq!(findings.len(), want.len(), "one line per damage:\n{out}");
}
