//! RDAP (RFC 7480, 9082, 9083): domain, nameserver, entity (registrars) and help, from the same
//! disclosure as WHOIS (`directory`), with RFC 9537 `redacted` entries for every withheld field.
//!
//! Searches answer 501; a name outside the registry's TLDs 400; an unregistered name 404. Every
//! answer is `application/rdap+json` with `Access-Control-Allow-Origin: *`. Queries count
//! against the same per-origin budget as WHOIS and go to the same query log.

use std::net::IpAddr;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::AppState;
use super::routes::{Routes, get};
use super::tls::ClientAddr;
use crate::abuse::Verdict;
use crate::directory::{self, Lookup, PublicRecord};
use crate::model::{QueryOutcome, Status};

/// RDAP's routes, at their full paths (merged into the application rather than nested: a nested
/// router rewrites every request's URI on this, the busiest, path).
pub fn router() -> Routes {
    Routes::new()
        .route("/rdap/domain/{name}", get(domain))
        .route("/rdap/nameserver/{name}", get(nameserver))
        .route("/rdap/entity/{handle}", get(entity))
        .route("/rdap/help", get(help))
        .route("/rdap/domains", get(search))
        .route("/rdap/nameservers", get(search))
        .route("/rdap/entities", get(search))
        .route("/rdap", get(not_found_path))
        .route("/rdap/", get(not_found_path))
        .route("/rdap/{*rest}", get(not_found_path))
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
    rdap_text(status, body.to_string())
}

fn rdap_text(status: StatusCode, body: String) -> Response {
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.reserve(2);
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

/// The notices of every answer, built once per application (`AppState::rdap_notices`), as a
/// value (for the small answers built as trees) and serialized (for the domain answer).
pub struct Notices {
    value: Value,
    raw: Box<RawValue>,
}

impl Notices {
    pub fn new(settings: &crate::config::Settings) -> Notices {
        let value = notices_for(settings);
        let raw = RawValue::from_string(value.to_string()).expect("a serialized value is JSON");
        Notices { value, raw }
    }
}

fn notices_for(settings: &crate::config::Settings) -> Value {
    let base = &settings.public_url;
    json!([{
        "title": "Terms of Use",
        "description": [
            format!("{} publishes registration data under its directory policy: one criterion, the domain name.", settings.registry_name),
            "Personal data of natural persons is not disclosed, nor anyone's email address or phone number (GDPR).",
            "Write to a domain's holder through the anonymised contact form linked from each domain.",
        ],
        "links": [{"value": format!("{base}/rdap/help"), "rel": "terms-of-service", "href": format!("{base}/"), "type": "text/html"}],
    }])
}

fn notices(s: &AppState) -> Value {
    s.rdap_notices.value.clone()
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

/// The RDAP domain object of a public record, serialized. Written straight into one buffer, with
/// the parts that never change (notices, redaction entries) serialized once: an RDAP lookup is
/// the busiest path of the registry, and a tree of values (or serde's escaping of every key)
/// costs more than reading the domain. Its shape is checked by the RDAP tests, ICANN's
/// `rdap-test`, and the comparison with WHOIS over every demo domain.
pub fn domain_body(s: &AppState, r: &PublicRecord<'_>) -> String {
    let base = s.registry.settings().public_url.as_str();
    let mut w = out::Json::with_capacity(6 * 1024);
    w.raw("{\"rdapConformance\":[");
    for (i, c) in CONFORMANCE.iter().enumerate() {
        w.sep(i);
        w.str(c);
    }
    w.raw("],\"objectClassName\":\"domain\",\"handle\":");
    w.str(&r.roid);
    w.raw(",\"ldhName\":");
    w.str(&r.name);
    if r.is_idn() {
        w.raw(",\"unicodeName\":");
        w.str(&r.unicode_name);
    }
    w.raw(",\"status\":[");
    for (i, st) in r.statuses.iter().enumerate() {
        w.sep(i);
        w.str(rdap_status(*st));
    }
    w.raw("],\"events\":[");
    let events = [
        ("registration", r.created),
        ("expiration", r.expires),
        ("last changed", r.updated),
        ("last update of RDAP database", s.registry.now()),
    ];
    for (i, (action, at)) in events.into_iter().enumerate() {
        w.sep(i);
        w.raw("{\"eventAction\":");
        w.str(action);
        w.raw(",\"eventDate\":");
        w.display(at.rfc3339());
        w.raw("}");
    }

    w.raw("],\"entities\":[{\"objectClassName\":\"entity\",\"handle\":");
    w.str(&r.registrar_id);
    w.raw(
        ",\"roles\":[\"registrar\"],\"vcardArray\":[\"vcard\",[[\"version\",{},\"text\",\"4.0\"],[\"fn\",{},\"text\",",
    );
    w.str(&r.registrar_name);
    w.raw("]]],\"links\":[");
    w.link(base, "/rdap/entity/", &r.registrar_id);
    w.raw("]}");
    let mut redacted: Vec<&'static RawValue> = Vec::with_capacity(21);
    for (party, role) in [
        (Some(&r.owner), out::Role::Registrant),
        (r.admin.as_ref(), out::Role::Administrative),
        (r.tech.as_ref(), out::Role::Technical),
    ] {
        let Some(p) = party else { continue };
        w.raw(",{\"objectClassName\":\"entity\",\"handle\":");
        w.str(&p.handle);
        w.raw(",\"roles\":[");
        w.str(role.as_str());
        w.raw("],\"vcardArray\":[\"vcard\",[[\"version\",{},\"text\",\"4.0\"],[\"kind\",{},\"text\",");
        w.str(if p.disclosed() { "org" } else { "individual" });
        w.raw("],[\"fn\",{},\"text\",");
        w.str(p.name.as_deref().unwrap_or(""));
        w.raw("]");
        if let Some(org) = &p.organization {
            w.raw(",[\"org\",{},\"text\",");
            w.str(org);
            w.raw("]");
        }
        w.raw(",[\"adr\",{\"cc\":");
        w.str(&p.country_code);
        w.raw("},\"text\",[\"\",\"\",");
        w.str(&p.street.join(", "));
        w.raw(",");
        w.str(p.city.as_deref().unwrap_or(""));
        w.raw(",\"\",");
        w.str(p.postal_code.as_deref().unwrap_or(""));
        w.raw(",\"\"]]]]}");
        redacted.extend(out::redactions(p, role));
    }

    w.raw("],\"nameservers\":[");
    for (i, n) in r.nameservers.iter().enumerate() {
        w.sep(i);
        w.raw("{\"objectClassName\":\"nameserver\",\"ldhName\":");
        w.str(&n.name);
        // Only names with an A-label have another form to show.
        if n.name.contains("xn--")
            && let (u, Ok(())) = idna::domain_to_unicode(&n.name)
            && u != n.name
        {
            w.raw(",\"unicodeName\":");
            w.str(&u);
        }
        // Only non-empty lists: an empty one is an error under RFC 9083.
        if !n.ipv4.is_empty() || !n.ipv6.is_empty() {
            w.raw(",\"ipAddresses\":{");
            for (k, (key, ips)) in
                [("v4", &n.ipv4), ("v6", &n.ipv6)].into_iter().filter(|(_, l)| !l.is_empty()).enumerate()
            {
                w.sep(k);
                w.str(key);
                w.raw(":[");
                for (j, ip) in ips.iter().enumerate() {
                    w.sep(j);
                    w.display(ip);
                }
                w.raw("]");
            }
            w.raw("}");
        }
        w.raw(",\"links\":[");
        w.link(base, "/rdap/nameserver/", &n.name);
        w.raw("]}");
    }

    w.raw("],\"secureDNS\":{\"delegationSigned\":");
    w.raw(if r.signed() { "true" } else { "false" });
    if r.signed() {
        w.raw(",\"dsData\":[");
        for (i, d) in r.ds.iter().enumerate() {
            w.sep(i);
            w.raw("{\"keyTag\":");
            w.display(d.key_tag);
            w.raw(",\"algorithm\":");
            w.display(d.algorithm);
            w.raw(",\"digestType\":");
            w.display(d.digest_type);
            w.raw(",\"digest\":");
            w.str(&d.digest);
            w.raw("}");
        }
        w.raw("]");
    }
    w.raw("},\"links\":[");
    w.link(base, "/rdap/domain/", &r.name);
    w.raw(",{\"value\":\"");
    w.unquoted(base);
    w.raw("/rdap/domain/");
    w.unquoted(&r.name);
    w.raw("\",\"rel\":\"about\",\"href\":");
    w.str(&r.contact_form);
    w.raw(",\"type\":\"text/html\",\"title\":\"Anonymised contact form\"}],\"notices\":");
    w.raw(s.rdap_notices.raw.get());
    w.raw(",\"redacted\":[");
    for (i, entry) in redacted.into_iter().enumerate() {
        w.sep(i);
        w.raw(entry.get());
    }
    w.raw("]}");
    w.finish()
}

/// The writer of the RDAP domain answer, and its redaction entries (RFC 9537).
mod out {
    use std::fmt::Write as _;
    use std::sync::OnceLock;

    use serde::Serialize;
    use serde_json::value::RawValue;

    use crate::directory::{PublicParty, Withheld, withheld_when};

    /// JSON text being written. Keys and punctuation go in as `raw` text; every value from the
    /// record goes through `str` (quoted and escaped) or `display` (numbers, addresses, dates:
    /// text that never needs escaping).
    pub struct Json(String);

    impl Json {
        pub fn with_capacity(n: usize) -> Json {
            Json(String::with_capacity(n))
        }

        pub fn raw(&mut self, text: &str) {
            self.0.push_str(text);
        }

        /// A comma before every element but the first.
        pub fn sep(&mut self, index: usize) {
            if index > 0 {
                self.0.push(',');
            }
        }

        /// A JSON string.
        pub fn str(&mut self, text: &str) {
            self.0.push('"');
            self.unquoted(text);
            self.0.push('"');
        }

        /// The inside of a JSON string (escaped).
        pub fn unquoted(&mut self, text: &str) {
            // Checked without stopping at the first byte found, which lets the loop run wide.
            let needs_escape =
                text.as_bytes().iter().fold(false, |found, &b| found | (b < 0x20) | (b == b'"') | (b == b'\\'));
            if !needs_escape {
                self.0.push_str(text);
            } else {
                let quoted = serde_json::to_string(text).unwrap_or_default();
                self.0.push_str(quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default());
            }
        }

        /// A value whose text needs no escaping, as a number (integers) or a string (the rest).
        pub fn display(&mut self, v: impl Bare) {
            v.write(&mut self.0);
        }

        /// An RDAP `self` link to `{base}{path}{id}`.
        pub fn link(&mut self, base: &str, path: &str, id: &str) {
            self.raw("{\"value\":\"");
            self.unquoted(base);
            self.raw(path);
            self.unquoted(id);
            self.raw("\",\"rel\":\"self\",\"href\":\"");
            self.unquoted(base);
            self.raw(path);
            self.unquoted(id);
            self.raw("\",\"type\":\"application/rdap+json\"}");
        }

        pub fn finish(self) -> String {
            self.0
        }
    }

    /// Values written without escaping: integers bare, the rest as strings.
    pub trait Bare {
        fn write(&self, out: &mut String);
    }

    impl Bare for u16 {
        fn write(&self, out: &mut String) {
            decimal(out, *self);
        }
    }

    impl Bare for u8 {
        fn write(&self, out: &mut String) {
            decimal(out, u16::from(*self));
        }
    }

    /// An unsigned number in decimal, without the formatting machinery.
    fn decimal(out: &mut String, v: u16) {
        let mut digits = [0u8; 5];
        let mut i = digits.len();
        let mut v = v;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        out.extend(digits[i..].iter().map(|&d| char::from(d)));
    }

    impl Bare for &std::net::IpAddr {
        fn write(&self, out: &mut String) {
            match self {
                std::net::IpAddr::V4(v4) => {
                    out.push('"');
                    for (i, octet) in v4.octets().into_iter().enumerate() {
                        if i > 0 {
                            out.push('.');
                        }
                        decimal(out, u16::from(octet));
                    }
                    out.push('"');
                }
                std::net::IpAddr::V6(_) => {
                    let _ = write!(out, "\"{self}\"");
                }
            }
        }
    }

    impl Bare for crate::model::Rfc3339Utc {
        fn write(&self, out: &mut String) {
            match self.text().as_ref().map(|b| std::str::from_utf8(b)) {
                Some(Ok(text)) => {
                    out.push('"');
                    out.push_str(text);
                    out.push('"');
                }
                _ => {
                    let _ = write!(out, "\"{self}\"");
                }
            }
        }
    }

    #[derive(Serialize)]
    pub struct TypeName {
        #[serde(rename = "type")]
        pub kind: String,
    }

    #[derive(Serialize)]
    pub struct Redacted {
        pub name: TypeName,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub path: Option<String>,
        #[serde(rename = "prePath", skip_serializing_if = "Option::is_none")]
        pub pre_path: Option<String>,
        #[serde(rename = "pathLang")]
        pub path_lang: &'static str,
        pub method: &'static str,
        pub reason: TypeName,
    }

    /// A contact's role in a domain.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Role {
        Registrant,
        Administrative,
        Technical,
    }

    impl Role {
        pub fn as_str(self) -> &'static str {
            match self {
                Role::Registrant => "registrant",
                Role::Administrative => "administrative",
                Role::Technical => "technical",
            }
        }
        fn title(self) -> &'static str {
            match self {
                Role::Registrant => "Registrant",
                Role::Administrative => "Admin",
                Role::Technical => "Tech",
            }
        }
    }

    /// The RFC 9537 entries for what a party's vCard withholds. They depend only on the role and
    /// on what is withheld, so each set is serialized once and reused.
    pub fn redactions(p: &PublicParty, role: Role) -> impl Iterator<Item = &'static RawValue> {
        static SETS: OnceLock<[[Vec<Box<RawValue>>; 2]; 3]> = OnceLock::new();
        let sets = SETS.get_or_init(|| {
            [Role::Registrant, Role::Administrative, Role::Technical].map(|role| {
                [false, true].map(|disclosed| {
                    entries(&withheld_when(disclosed), role)
                        .iter()
                        .map(|e| {
                            let text = serde_json::to_string(e).expect("a redaction entry serializes");
                            RawValue::from_string(text).expect("a serialized entry is JSON")
                        })
                        .collect()
                })
            })
        });
        sets[role as usize][usize::from(p.disclosed())].iter().map(|b| &**b)
    }

    fn entries(withheld: &[Withheld], role: Role) -> Vec<Redacted> {
        let title = role.title();
        let base = format!("$.entities[?(@.roles[0]=='{}')].vcardArray[1]", role.as_str());
        let entry = |field: &str, path: Option<String>, pre_path: Option<String>, method: &'static str| Redacted {
            name: TypeName { kind: format!("{title} {field}") },
            path,
            pre_path,
            path_lang: "jsonpath",
            method,
            reason: TypeName { kind: "Server policy".into() },
        };
        let mut out = Vec::new();
        for w in withheld {
            match w {
                Withheld::Name => {
                    out.push(entry("Name", Some(format!("{base}[?(@[0]=='fn')][3]")), None, "emptyValue"))
                }
                Withheld::Organization => {
                    out.push(entry("Organization", None, Some(format!("{base}[?(@[0]=='org')]")), "removal"))
                }
                Withheld::Address => {
                    out.push(entry("Street", Some(format!("{base}[?(@[0]=='adr')][3][2]")), None, "emptyValue"));
                    out.push(entry("City", Some(format!("{base}[?(@[0]=='adr')][3][3]")), None, "emptyValue"));
                    out.push(entry("Postal Code", Some(format!("{base}[?(@[0]=='adr')][3][5]")), None, "emptyValue"));
                }
                Withheld::Email => out.push(entry("Email", None, Some(format!("{base}[?(@[0]=='email')]")), "removal")),
                Withheld::Phone => out.push(entry("Phone", None, Some(format!("{base}[?(@[0]=='tel')]")), "removal")),
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn written(f: impl FnOnce(&mut Json)) -> String {
            let mut w = Json::with_capacity(16);
            f(&mut w);
            w.finish()
        }

        /// Numbers, addresses and strings come out as serde_json writes them.
        #[test]
        fn values_are_written_as_serde_json_would() {
            for n in [0u16, 7, 10, 99, 100, 12345, u16::MAX] {
                assert_eq!(written(|w| w.display(n)), serde_json::to_string(&n).unwrap());
            }
            for n in [0u8, 9, 13, 255] {
                assert_eq!(written(|w| w.display(n)), serde_json::to_string(&n).unwrap());
            }
            for ip in ["0.0.0.0", "192.0.2.1", "255.255.255.255", "10.0.100.9", "2001:db8::53", "::1"] {
                let ip: std::net::IpAddr = ip.parse().unwrap();
                assert_eq!(written(|w| w.display(&ip)), serde_json::to_string(&ip.to_string()).unwrap());
            }
            for text in ["plain", "", "Rua \"Augusta\" 1", "back\\slash", "tab\tand\nline", "\u{1}", "açores.pt"] {
                assert_eq!(written(|w| w.str(text)), serde_json::to_string(text).unwrap(), "{text:?}");
            }
        }
    }
}

async fn domain(State(s): State<AppState>, PeerIp(ip): PeerIp, Path(name): Path<String>) -> Response {
    if name.len() > crate::limits::NAME_INPUT_BYTES_MAX {
        return error(StatusCode::BAD_REQUEST, "invalid search", "the name is too long");
    }
    if let Err(resp) = admit(&s, ip, &name) {
        return resp;
    }
    // The answer is written while the record is borrowed from the stored bytes.
    let answer = directory::lookup_with(&s.registry, &name, |lookup| match lookup {
        Lookup::Found(r) => (QueryOutcome::Found, rdap_text(StatusCode::OK, domain_body(&s, &r))),
        Lookup::NoMatch(n) => {
            (QueryOutcome::NoMatch, error(StatusCode::NOT_FOUND, "not found", &format!("{n} is not registered")))
        }
        Lookup::Invalid => (
            QueryOutcome::Invalid,
            error(StatusCode::BAD_REQUEST, "invalid search", "not a domain name of this registry"),
        ),
    });
    match answer {
        Ok((outcome, resp)) => {
            s.guard.log(ip, "rdap", &name, outcome);
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "rdap lookup failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal error", "please try again later")
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
        directory::disclose(&s.registry, &d.name)
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
