//! EPP commands: each frame read, mapped onto the registry's commands and queries (the same ones
//! the HTTP API calls, so that both give the same results, charges, history and poll messages),
//! and answered. No registry rule lives here: only the translation of EPP's shapes to nicbox's
//! and of nicbox's errors to EPP's result codes.

// A failed command is an answer like any other, built once per command: its size is no cost.
#![allow(clippy::result_large_err)]

use roxmltree::Node;

use super::pt;
use super::xml::{
    CONTACT, DOMAIN, EPP, HOST, LOGINSEC, PTCONTACT, PTDOMAIN, RGP, SECDNS, Writer, boolean, child, children,
    first_element, text_of,
};
use crate::model::{ContactKind, Domain, PollMessage, Registrar, Status, Timestamp};
use crate::registry::{
    Code, ContactInput, ContactPatch, DomainCreate, DomainPatch, DsInput, NameserverInput, Registry, RegistryError,
    RenewRequest, TransferRequest,
};

/// Names in one `check`.
pub const CHECK_NAMES_MAX: usize = 50;

/// Standard text of each result code (RFC 5730 section 3).
pub fn message(code: u16) -> &'static str {
    match code {
        1000 => "Command completed successfully",
        1001 => "Command completed successfully; action pending",
        1300 => "Command completed successfully; no messages",
        1301 => "Command completed successfully; ack to dequeue",
        1500 => "Command completed successfully; ending session",
        2000 => "Unknown command",
        2001 => "Command syntax error",
        2002 => "Command use error",
        2003 => "Required parameter missing",
        2004 => "Parameter value range error",
        2005 => "Parameter value syntax error",
        2100 => "Unimplemented protocol version",
        2101 => "Unimplemented command",
        2102 => "Unimplemented option",
        2103 => "Unimplemented extension",
        2104 => "Billing failure",
        2105 => "Object is not eligible for renewal",
        2106 => "Object is not eligible for transfer",
        2200 => "Authentication error",
        2201 => "Authorization error",
        2202 => "Invalid authorization information",
        2300 => "Object pending transfer",
        2301 => "Object not pending transfer",
        2302 => "Object exists",
        2303 => "Object does not exist",
        2304 => "Object status prohibits operation",
        2305 => "Object association prohibits operation",
        2306 => "Parameter value policy error",
        2307 => "Unimplemented object service",
        2308 => "Data management policy violation",
        2400 => "Command failed",
        2500 => "Command failed; server closing connection",
        2501 => "Authentication error; server closing connection",
        2502 => "Session limit exceeded; server closing connection",
        _ => "Command failed",
    }
}

/// The EPP result code of a registry error, and a short reason (at most 32 characters, the
/// bound of `extValue/reason`).
pub fn result_of(code: Code) -> (u16, &'static str) {
    match code {
        Code::InvalidRequest => (2306, "Request refused by policy"),
        Code::Unauthorized => (2200, "Not authenticated"),
        Code::InsufficientFunds => (2104, "Insufficient balance"),
        Code::NotSponsor => (2201, "Not the sponsoring registrar"),
        Code::Forbidden => (2201, "Not allowed"),
        Code::NotFound => (2303, "Object does not exist"),
        Code::NotAvailable => (2302, "Object exists"),
        Code::StatusProhibits => (2304, "Status prohibits operation"),
        Code::ContactInUse => (2305, "Contact is in use"),
        Code::ExpiryYearMismatch => (2306, "curExpDate does not match"),
        Code::Conflict => (2302, "Conflicting request"),
        Code::TooLarge => (2004, "Request too large"),
        Code::InvalidName => (2005, "Invalid domain name"),
        Code::ReservedName => (2306, "Name reserved or blocked"),
        Code::ZoneClosed => (2306, "Zone closed to new names"),
        Code::InvalidPeriod => (2004, "Period not allowed"),
        Code::MissingFiscalId => (2306, "Fiscal id required"),
        Code::InvalidFiscalId => (2005, "Invalid fiscal id"),
        Code::TooManyNameservers => (2306, "Too many nameservers"),
        Code::MissingGlue => (2306, "Glue required"),
        Code::InvalidContact => (2005, "Invalid contact data"),
        Code::BadAuthCode => (2202, "Invalid auth code or ROID"),
        Code::RenewTooEarly => (2105, "Too early to renew"),
        Code::RestorePeriodOver => (2304, "Restore period is over"),
        Code::RateLimited => (2400, "Rate limited"),
        Code::Internal | Code::Unavailable => (2400, "Registry unavailable"),
    }
}

/// An answer being built: result, optional message queue, data and extension (XML fragments).
pub struct Answer {
    pub code: u16,
    /// What went wrong, in words (any length): the result's `extValue/value`.
    pub detail: Option<String>,
    pub reason: Option<&'static str>,
    pub msgq: Option<String>,
    pub res_data: Option<String>,
    pub extension: Option<String>,
    /// Whether the session ends after this answer.
    pub close: bool,
    /// A whole frame that is not a response (the greeting that answers `<hello>`).
    pub raw: Option<String>,
}

impl Answer {
    pub fn ok() -> Answer {
        Answer::code(1000)
    }

    pub fn code(code: u16) -> Answer {
        Answer {
            code,
            detail: None,
            reason: None,
            msgq: None,
            res_data: None,
            extension: None,
            close: false,
            raw: None,
        }
    }

    pub fn fail(code: u16, reason: &'static str, detail: impl Into<String>) -> Answer {
        debug_assert!(reason.len() <= 32);
        Answer { detail: Some(detail.into()), reason: Some(reason), ..Answer::code(code) }
    }

    pub fn data(mut self, res_data: String) -> Answer {
        self.res_data = Some(res_data);
        self
    }

    pub fn ext(mut self, ext: Option<String>) -> Answer {
        self.extension = ext.filter(|e| !e.is_empty());
        self
    }

    pub fn closing(mut self) -> Answer {
        self.close = true;
        self
    }

    pub fn from_error(e: &RegistryError) -> Answer {
        if e.is_internal() {
            tracing::error!(error = %e, "EPP command failed inside the registry");
            return Answer::fail(2400, "Registry unavailable", "the registry could not complete the command");
        }
        let (code, reason) = result_of(e.code);
        Answer::fail(code, reason, e.detail.clone())
    }

    /// The whole response frame, with the client's transaction id echoed.
    pub fn render(&self, cl_trid: Option<&str>, sv_trid: &str) -> String {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut w = Writer::new();
        w.open("epp", &[("xmlns", EPP)]).open("response", &[]);
        let code = self.code.to_string();
        w.open("result", &[("code", &code)]).text("msg", message(self.code));
        if let (Some(detail), Some(reason)) = (&self.detail, self.reason) {
            w.open("extValue", &[]).open("value", &[]).text("text", detail).close("value");
            w.text("reason", reason).close("extValue");
        }
        w.close("result");
        let mut out = w.finish();
        for part in [&self.msgq, &self.res_data].into_iter().flatten() {
            out.push_str(part);
        }
        if let Some(ext) = &self.extension {
            out.push_str("<extension>");
            out.push_str(ext);
            out.push_str("</extension>");
        }
        let mut w = Writer::fragment();
        w.open("trID", &[]);
        if let Some(c) = cl_trid {
            w.text("clTRID", c);
        }
        w.text("svTRID", sv_trid).close("trID").close("response").close("epp");
        out.push_str(&w.finish());
        out
    }
}

/// What a session knows of itself, for the commands.
pub struct Session {
    pub registrar: Option<Registrar>,
    /// SHA-256 of the client certificate the connection presented.
    pub fingerprint: [u8; 32],
    /// The extension URIs the client announced at login: answers carry no other extension
    /// (RFC 5730 2.9.1.1).
    pub extensions: Vec<String>,
}

impl Session {
    /// Whether the client announced the extension `uri` at login.
    pub fn announced(&self, uri: &str) -> bool {
        self.extensions.iter().any(|u| u == uri)
    }
}

/// A client transaction id, if the frame carries a usable one (3 to 64 characters).
pub fn cl_trid(doc: &roxmltree::Document) -> Option<String> {
    let command = child(doc.root_element(), EPP, "command")?;
    let t = text_of(command, EPP, "clTRID")?;
    (3..=64).contains(&t.chars().count()).then(|| t.to_string())
}

/// A missing element: 2003 naming it.
fn missing(what: &str) -> Answer {
    Answer::fail(2003, "Required parameter missing", format!("{what} is required"))
}

fn required<'a>(n: Node<'a, '_>, ns: &str, name: &str, what: &str) -> Result<&'a str, Answer> {
    match text_of(n, ns, name) {
        Some(t) if !t.is_empty() => Ok(t),
        _ => Err(missing(what)),
    }
}

/// A command this module runs (hello, login and logout are the session's: server.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Command {
    DomainCheck,
    DomainInfo,
    DomainCreate,
    DomainUpdate,
    DomainDelete,
    DomainRenew,
    DomainTransfer,
    ContactCheck,
    ContactInfo,
    ContactCreate,
    ContactUpdate,
    ContactDelete,
    Poll,
}

/// Every command `command` dispatches, by EPP name (`object:verb`, `poll` without an object): a
/// frame runs only a command found here, so this list is what the server offers (and what the
/// authorization matrix of tests/it/authz.rs must cover).
const COMMANDS: &[(&str, Command)] = &[
    ("domain:check", Command::DomainCheck),
    ("domain:info", Command::DomainInfo),
    ("domain:create", Command::DomainCreate),
    ("domain:update", Command::DomainUpdate),
    ("domain:delete", Command::DomainDelete),
    ("domain:renew", Command::DomainRenew),
    ("domain:transfer", Command::DomainTransfer),
    ("contact:check", Command::ContactCheck),
    ("contact:info", Command::ContactInfo),
    ("contact:create", Command::ContactCreate),
    ("contact:update", Command::ContactUpdate),
    ("contact:delete", Command::ContactDelete),
    ("poll", Command::Poll),
];

/// The names of the commands `command` dispatches (see `COMMANDS`).
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|(name, _)| *name)
}

/// The listed command a `<command>` element asks for, with its verb and object elements (poll's
/// object is its verb), or the answer refusing it.
fn select<'a, 'i>(command: Node<'a, 'i>) -> Result<(Command, Node<'a, 'i>, Node<'a, 'i>), Answer> {
    let Some(verb) = first_element(command) else {
        return Err(Answer::fail(2001, "No command", "the command element is empty"));
    };
    if verb.tag_name().namespace() != Some(EPP) {
        return Err(Answer::fail(2000, "Unknown command", format!("unknown command {}", verb.tag_name().name())));
    }
    let verb_name = verb.tag_name().name();
    if !["check", "info", "create", "update", "delete", "renew", "transfer", "poll"].contains(&verb_name) {
        return Err(Answer::fail(2000, "Unknown command", format!("unknown command <{verb_name}>")));
    }
    let object = if verb_name == "poll" {
        None
    } else {
        Some(first_element(verb).ok_or_else(|| missing(&format!("the object of <{verb_name}>")))?)
    };
    let name = match object.map(|o| o.tag_name().namespace()) {
        None => verb_name.to_string(),
        Some(Some(DOMAIN)) => format!("domain:{verb_name}"),
        Some(Some(CONTACT)) => format!("contact:{verb_name}"),
        Some(_) => String::new(),
    };
    if let Some((_, c)) = COMMANDS.iter().find(|(n, _)| *n == name) {
        return Ok((*c, verb, object.unwrap_or(verb)));
    }
    Err(match (object.and_then(|o| o.tag_name().namespace()), verb_name) {
        (Some(CONTACT), "transfer" | "renew") => {
            Answer::fail(2101, "Unimplemented command", "contacts are not transferred or renewed here")
        }
        (Some(HOST), _) => Answer::fail(
            2307,
            "Host objects not offered",
            "nameservers are host attributes of their domain (domain:hostAttr); host objects are not offered",
        ),
        (Some(DOMAIN | CONTACT), other) => Answer::fail(2000, "Unknown command", format!("unknown command {other}")),
        (ns, _) => Answer::fail(
            2307,
            "Unimplemented object service",
            format!("objects of {} are not offered", ns.unwrap_or("no namespace")),
        ),
    })
}

/// Runs one command (not hello, login or logout: the session handles those).
pub async fn command(registry: &Registry, session: &Session, command: Node<'_, '_>) -> Answer {
    let Some(registrar) = session.registrar.as_ref() else {
        return Answer::fail(2002, "Not logged in", "log in first");
    };
    let id = registrar.id.as_str();
    // The registrar as it is now, not as it was at login: one the registry disabled since is
    // refused and its session ends (the registry's commands but create do not check it).
    match registry.registrar_get(id) {
        Ok(r) if r.enabled => {}
        Ok(_) | Err(RegistryError { code: Code::NotFound, .. }) => {
            return Answer::fail(2501, "Registrar disabled", "the registry disabled this registrar").closing();
        }
        Err(e) => return Answer::from_error(&e),
    }
    let (which, verb, object) = match select(command) {
        Ok(selected) => selected,
        Err(refusal) => return refusal,
    };
    let extension = child(command, EPP, "extension");
    let result = match which {
        Command::DomainCheck => domain_check(registry, object),
        Command::DomainInfo => domain_info(registry, session, id, object, extension),
        Command::DomainCreate => domain_create(registry, session, id, object, extension).await,
        Command::DomainUpdate => domain_update(registry, id, object, extension).await,
        Command::DomainDelete => domain_delete(registry, id, object).await,
        Command::DomainRenew => domain_renew(registry, id, object, extension).await,
        Command::DomainTransfer => domain_transfer(registry, id, verb, object, extension).await,
        Command::ContactCheck => contact_check(registry, id, object),
        Command::ContactInfo => contact_info(registry, session, id, object),
        Command::ContactCreate => contact_create(registry, id, object, extension).await,
        Command::ContactUpdate => contact_update(registry, id, object, extension).await,
        Command::ContactDelete => contact_delete(registry, id, object).await,
        Command::Poll => return poll(registry, id, verb).await,
    };
    result.unwrap_or_else(|a| a)
}

type Res = Result<Answer, Answer>;

fn reg<T>(r: Result<T, RegistryError>) -> Result<T, Answer> {
    r.map_err(|e| Answer::from_error(&e))
}

// --- poll ----------------------------------------------------------------------------------

async fn poll(registry: &Registry, id: &str, verb: Node<'_, '_>) -> Answer {
    match verb.attribute("op") {
        Some("req") => {
            let (count, messages) = match registry.poll_list(id) {
                Ok(m) => m,
                Err(e) => return Answer::from_error(&e),
            };
            let Some(m) = messages.first() else {
                return Answer::code(1300);
            };
            let mut a = Answer::code(1301);
            let mut w = Writer::fragment();
            let (count, mid) = (count.max(1).to_string(), m.id.to_string());
            w.open("msgQ", &[("count", &count), ("id", &mid)]).text("qDate", &m.at.to_rfc3339()).text("msg", &m.text);
            w.close("msgQ");
            a.msgq = Some(w.finish());
            a.res_data = poll_data(registry, id, m);
            a
        }
        Some("ack") => {
            let Some(mid) = verb.attribute("msgID").and_then(|s| s.trim().parse::<u64>().ok()) else {
                return missing("msgID of <poll op=\"ack\">");
            };
            if let Err(e) = registry.poll_ack(id, mid).await {
                return Answer::from_error(&e);
            }
            // RFC 5730 2.9.2.3: the count left and the id of the message acknowledged; clients
            // read both from every ack.
            let count = registry.poll_list(id).map(|(c, _)| c).unwrap_or_default();
            let mut w = Writer::fragment();
            let (count, shown) = (count.max(0).to_string(), mid.to_string());
            w.empty("msgQ", &[("count", &count), ("id", &shown)]);
            let mut a = Answer::ok();
            a.msgq = Some(w.finish());
            a
        }
        _ => Answer::fail(2005, "op must be req or ack", "poll needs op=\"req\" or op=\"ack\""),
    }
}

/// Machine-readable data of a poll message: `domain:trnData` for a transfer away, else the
/// domain's `panData`-free `infData` naming it (RFC 5731's `domain:panData` is for pending
/// actions only).
fn poll_data(registry: &Registry, reader: &str, m: &PollMessage) -> Option<String> {
    let name = m.domain.as_deref()?;
    let mut w = Writer::fragment();
    w.open("resData", &[]);
    if m.kind == "transfer.away" {
        let gaining = m.text.rsplit(' ').next().unwrap_or("");
        let domain = registry.domain_any(name).ok().flatten();
        w.open("domain:trnData", &[("xmlns:domain", DOMAIN)]).text("domain:name", name);
        w.text("domain:trStatus", "serverApproved").text("domain:reID", gaining);
        w.text("domain:reDate", &m.at.to_rfc3339());
        // The losing registrar is the one reading this message.
        w.text("domain:acID", reader).text("domain:acDate", &m.at.to_rfc3339());
        if let Some(d) = domain {
            w.text("domain:exDate", &d.expires.to_rfc3339());
        }
        w.close("domain:trnData");
    } else {
        w.open("domain:panData", &[("xmlns:domain", DOMAIN)]);
        let ok = if m.kind.ends_with("rejected") || m.kind.ends_with("cancelled") { "0" } else { "1" };
        w.leaf("domain:name", &[("paResult", ok)], name);
        w.open("domain:paTRID", &[]).text("svTRID", &format!("poll-{}", m.id)).close("domain:paTRID");
        w.text("domain:paDate", &m.at.to_rfc3339()).close("domain:panData");
    }
    w.close("resData");
    Some(w.finish())
}

// --- domains -------------------------------------------------------------------------------

fn domain_names<'a>(object: Node<'a, '_>) -> Vec<&'a str> {
    children(object, DOMAIN, "name").map(|n| n.text().unwrap_or("").trim()).collect()
}

fn domain_check(registry: &Registry, object: Node<'_, '_>) -> Res {
    let names = domain_names(object);
    if names.is_empty() {
        return Err(missing("domain:name"));
    }
    if names.len() > CHECK_NAMES_MAX {
        return Err(Answer::fail(2306, "Too many names", format!("at most {CHECK_NAMES_MAX} names per check")));
    }
    let owned: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let results = reg(registry.check(&owned))?;
    let mut w = Writer::fragment();
    w.open("resData", &[]).open("domain:chkData", &[("xmlns:domain", DOMAIN)]);
    for (asked, r) in names.iter().zip(&results) {
        w.open("domain:cd", &[]);
        let avail = if r.available { "1" } else { "0" };
        // The name as asked when it is not a name at all (the schema wants a name token).
        let shown = if r.reason.as_deref() == Some("invalid") { asked } else { r.name.as_str() };
        w.leaf("domain:name", &[("avail", avail)], shown);
        if !r.available {
            let reason = r.detail.as_deref().or(r.reason.as_deref()).unwrap_or("not available");
            w.text("domain:reason", reason);
        }
        w.close("domain:cd");
    }
    w.close("domain:chkData").close("resData");
    Ok(Answer::ok().data(w.finish()))
}

fn domain_info(
    registry: &Registry,
    session: &Session,
    id: &str,
    object: Node<'_, '_>,
    ext: Option<Node<'_, '_>>,
) -> Res {
    let name = required(object, DOMAIN, "name", "domain:name")?;
    let pw = child(object, DOMAIN, "authInfo").and_then(|a| child(a, DOMAIN, "pw")).map(|p| p.text().unwrap_or(""));
    let pw = pw.filter(|p| !p.is_empty());
    let (d, full) = reg(registry.domain_info_for(id, name, pw))?;
    let min = registry.policy().tld(&d.tld).map(|t| t.profile.nameservers_min_delegated).unwrap_or(2);
    let mut w = Writer::fragment();
    w.open("resData", &[]).open("domain:infData", &[("xmlns:domain", DOMAIN)]);
    w.text("domain:name", &d.name).text("domain:roid", &d.roid);
    for s in d.effective_statuses(min) {
        if s != Status::RedemptionPeriod {
            w.empty("domain:status", &[("s", s.as_str())]);
        }
    }
    if full {
        w.text("domain:registrant", &d.registrant);
        w.leaf("domain:contact", &[("type", "admin")], &d.admin);
        if let Some(t) = &d.tech {
            w.leaf("domain:contact", &[("type", "tech")], t);
        }
        if let Some(b) = &d.billing {
            w.leaf("domain:contact", &[("type", "billing")], b);
        }
        if !d.nameservers.is_empty() {
            w.open("domain:ns", &[]);
            for ns in &d.nameservers {
                w.open("domain:hostAttr", &[]).text("domain:hostName", &ns.name);
                for a in &ns.addresses {
                    let v = if a.is_ipv4() { "v4" } else { "v6" };
                    w.leaf("domain:hostAddr", &[("ip", v)], &a.to_string());
                }
                w.close("domain:hostAttr");
            }
            w.close("domain:ns");
        }
    }
    w.text("domain:clID", &d.registrar);
    if full {
        w.text("domain:crDate", &d.created.to_rfc3339());
        w.text("domain:upDate", &d.updated.to_rfc3339());
        w.text("domain:exDate", &d.expires.to_rfc3339());
        w.open("domain:authInfo", &[]).text("domain:pw", &d.auth_code).close("domain:authInfo");
    }
    w.close("domain:infData").close("resData");
    let mut e = Writer::fragment();
    if full && !d.ds.is_empty() && session.announced(SECDNS) {
        e.open("secDNS:infData", &[("xmlns:secDNS", SECDNS)]);
        for ds in &d.ds {
            e.open("secDNS:dsData", &[]).text("secDNS:keyTag", &ds.key_tag.to_string());
            e.text("secDNS:alg", &ds.algorithm.to_string()).text("secDNS:digestType", &ds.digest_type.to_string());
            e.text("secDNS:digest", &ds.digest).close("secDNS:dsData");
        }
        e.close("secDNS:infData");
    }
    if d.has(Status::PendingDelete) && session.announced(RGP) {
        e.open("rgp:infData", &[("xmlns:rgp", RGP)]).empty("rgp:rgpStatus", &[("s", "redemptionPeriod")]);
        e.close("rgp:infData");
    }
    if full
        && pt::enabled(registry, &d.tld)
        && session.announced(PTDOMAIN)
        && ext.is_some_and(|x| child(x, PTDOMAIN, "info").is_some())
    {
        pt::domain_info_data(&mut e, &d);
    }
    Ok(Answer::ok().data(w.finish()).ext(Some(e.finish())))
}

/// Nameservers of a create or update: `domain:hostAttr` (hostObj is refused: no host objects).
fn host_attrs(ns: Node<'_, '_>) -> Result<Vec<NameserverInput>, Answer> {
    if child(ns, DOMAIN, "hostObj").is_some() {
        return Err(Answer::fail(
            2306,
            "Use hostAttr, not hostObj",
            "nameservers are host attributes (domain:hostAttr with hostName and hostAddr); host objects are not offered",
        ));
    }
    let mut out = Vec::new();
    for h in children(ns, DOMAIN, "hostAttr") {
        let name = required(h, DOMAIN, "hostName", "domain:hostName")?.to_string();
        let addresses = children(h, DOMAIN, "hostAddr").map(|a| a.text().unwrap_or("").trim().to_string()).collect();
        out.push(NameserverInput { name, addresses });
    }
    Ok(out)
}

fn ds_data(parent: Node<'_, '_>) -> Result<Vec<DsInput>, Answer> {
    if child(parent, SECDNS, "keyData").is_some() {
        return Err(Answer::fail(2306, "keyData not accepted", "give DS records (secDNS:dsData), not key data"));
    }
    let mut out = Vec::new();
    for d in children(parent, SECDNS, "dsData") {
        let num = |name: &str| -> Result<u64, Answer> {
            required(d, SECDNS, name, &format!("secDNS:{name}"))?
                .parse::<u64>()
                .map_err(|_| Answer::fail(2005, "Invalid DS data", format!("secDNS:{name} is not a number")))
        };
        let (key_tag, alg, digest_type) = (num("keyTag")?, num("alg")?, num("digestType")?);
        let (Ok(key_tag), Ok(algorithm), Ok(digest_type)) =
            (u16::try_from(key_tag), u8::try_from(alg), u8::try_from(digest_type))
        else {
            return Err(Answer::fail(2004, "DS value out of range", "keyTag, alg or digestType out of range"));
        };
        let digest = required(d, SECDNS, "digest", "secDNS:digest")?.to_string();
        out.push(DsInput { key_tag, algorithm, digest_type, digest });
    }
    Ok(out)
}

/// The period in years: `unit="y"`, or months in whole years.
fn period_years(object: Node<'_, '_>) -> Result<Option<u32>, Answer> {
    let Some(p) = child(object, DOMAIN, "period") else { return Ok(None) };
    let n: u32 = p
        .text()
        .unwrap_or("")
        .trim()
        .parse()
        .map_err(|_| Answer::fail(2005, "Invalid period", "domain:period is not a number"))?;
    match p.attribute("unit") {
        Some("y") => Ok(Some(n)),
        Some("m") if n.is_multiple_of(12) => Ok(Some(n / 12)),
        Some("m") => Err(Answer::fail(2004, "Period in whole years", "periods are whole years")),
        _ => Err(Answer::fail(2005, "Invalid period unit", "domain:period needs unit=\"y\" or \"m\"")),
    }
}

fn contacts_of<'a>(object: Node<'a, '_>, kind: &str) -> Option<String> {
    children(object, DOMAIN, "contact")
        .find(|c| c.attribute("type") == Some(kind))
        .map(|c| c.text().unwrap_or("").trim().to_string())
}

fn creation(registry: &Registry, d: &Domain, pt_ext: bool) -> Answer {
    let mut w = Writer::fragment();
    w.open("resData", &[]).open("domain:creData", &[("xmlns:domain", DOMAIN)]);
    w.text("domain:name", &d.name).text("domain:crDate", &d.created.to_rfc3339());
    w.text("domain:exDate", &d.expires.to_rfc3339()).close("domain:creData").close("resData");
    let code = if d.has(Status::PendingCreate) { 1001 } else { 1000 };
    let ext = (pt_ext && pt::enabled(registry, &d.tld)).then(|| pt::domain_cre_data(d));
    Answer::code(code).data(w.finish()).ext(ext)
}

async fn domain_create(
    registry: &Registry,
    session: &Session,
    id: &str,
    object: Node<'_, '_>,
    ext: Option<Node<'_, '_>>,
) -> Res {
    let name = required(object, DOMAIN, "name", "domain:name")?.to_string();
    let registrant = required(object, DOMAIN, "registrant", "domain:registrant")?.to_string();
    let admin = contacts_of(object, "admin").ok_or_else(|| missing("domain:contact type=\"admin\""))?;
    let nameservers = match child(object, DOMAIN, "ns") {
        Some(ns) => host_attrs(ns)?,
        None => Vec::new(),
    };
    let ds = match ext.and_then(|e| child(e, SECDNS, "create")) {
        Some(c) => ds_data(c)?,
        None => Vec::new(),
    };
    let pt_create = ext.and_then(|e| child(e, PTDOMAIN, "create"));
    let mut req = DomainCreate {
        name,
        period_years: period_years(object)?.unwrap_or(1),
        registrant,
        admin,
        tech: contacts_of(object, "tech"),
        billing: contacts_of(object, "billing"),
        nameservers,
        ds,
        auto_renew: true,
        registration_basis: None,
        legitimacy: None,
        owner_visible: None,
    };
    if let Some(p) = pt_create {
        pt::apply_domain_create(&mut req, p)?;
    }
    let d = reg(registry.domain_create(id, req).await)?;
    Ok(creation(registry, &d, pt_create.is_some() && session.announced(PTDOMAIN)))
}

fn statuses_of(n: Option<Node<'_, '_>>) -> Vec<String> {
    n.map(|n| children(n, DOMAIN, "status").filter_map(|s| s.attribute("s").map(str::to_string)).collect())
        .unwrap_or_default()
}

async fn domain_update(registry: &Registry, id: &str, object: Node<'_, '_>, ext: Option<Node<'_, '_>>) -> Res {
    let name = required(object, DOMAIN, "name", "domain:name")?.to_string();
    // RGP restore rides on an update (RFC 3915).
    if let Some(restore) = ext.and_then(|e| child(e, RGP, "update")).and_then(|u| child(u, RGP, "restore")) {
        return match restore.attribute("op") {
            Some("request") => {
                reg(registry.domain_restore(id, &name, None).await)?;
                Ok(Answer::ok())
            }
            Some("report") => {
                // nicbox restores at the request: the report is accepted once that happened.
                let d = reg(registry.domain_get(id, &name))?;
                if d.has(Status::PendingDelete) {
                    reg(registry.domain_restore(id, &name, None).await)?;
                }
                Ok(Answer::ok())
            }
            _ => Err(Answer::fail(2005, "op must be request or report", "rgp:restore needs op")),
        };
    }
    let old = reg(registry.domain_get(id, &name))?;
    let (add, rem, chg) = (child(object, DOMAIN, "add"), child(object, DOMAIN, "rem"), child(object, DOMAIN, "chg"));
    let mut patch = DomainPatch { add_status: statuses_of(add), remove_status: statuses_of(rem), ..Default::default() };
    // Nameservers: the stored list, minus the removed hosts, plus the added ones.
    let added_ns = match add.and_then(|a| child(a, DOMAIN, "ns")) {
        Some(ns) => host_attrs(ns)?,
        None => Vec::new(),
    };
    let removed_ns: Vec<String> = match rem.and_then(|r| child(r, DOMAIN, "ns")) {
        Some(ns) => {
            host_attrs(ns)?.into_iter().map(|h| h.name.trim().trim_end_matches('.').to_ascii_lowercase()).collect()
        }
        None => Vec::new(),
    };
    if !added_ns.is_empty() || !removed_ns.is_empty() {
        let mut list: Vec<NameserverInput> = old
            .nameservers
            .iter()
            .filter(|n| !removed_ns.contains(&n.name))
            .map(|n| NameserverInput {
                name: n.name.clone(),
                addresses: n.addresses.iter().map(|a| a.to_string()).collect(),
            })
            .collect();
        list.extend(added_ns);
        patch.nameservers = Some(list);
    }
    // Contacts: admin and tech are single in nicbox, so an add replaces (a rem alone of the
    // tech or billing contact clears it).
    for (kind, slot) in [("admin", &mut patch.admin), ("tech", &mut patch.tech), ("billing", &mut patch.billing)] {
        if let Some(a) = add.and_then(|a| contacts_of(a, kind)) {
            *slot = Some(a);
        } else if kind != "admin" && rem.and_then(|r| contacts_of(r, kind)).is_some() {
            *slot = Some(String::new());
        }
    }
    if let Some(c) = chg {
        if child(c, DOMAIN, "authInfo").is_some() {
            return Err(Answer::fail(
                2306,
                "Auth codes are registry-issued",
                "the registry issues auth codes; ask for a new one with the API's auth-code command",
            ));
        }
        if let Some(r) = text_of(c, DOMAIN, "registrant").filter(|r| !r.is_empty())
            && r != old.registrant
        {
            registrant_change_pending(registry, id, &name, r, &patch).await?;
        }
    }
    // secDNS-1.1 update: rem all / rem some, add, (chg maxSigLife ignored).
    if let Some(u) = ext.and_then(|e| child(e, SECDNS, "update")) {
        let mut ds: Vec<DsInput> = old
            .ds
            .iter()
            .map(|d| DsInput {
                key_tag: d.key_tag,
                algorithm: d.algorithm,
                digest_type: d.digest_type,
                digest: d.digest.clone(),
            })
            .collect();
        if let Some(r) = child(u, SECDNS, "rem") {
            if text_of(r, SECDNS, "all").and_then(boolean) == Some(true) {
                ds.clear();
            } else {
                let gone = ds_data(r)?;
                ds.retain(|d| {
                    !gone.iter().any(|g| {
                        g.key_tag == d.key_tag
                            && g.algorithm == d.algorithm
                            && g.digest_type == d.digest_type
                            && g.digest.eq_ignore_ascii_case(&d.digest)
                    })
                });
            }
        }
        if let Some(a) = child(u, SECDNS, "add") {
            ds.extend(ds_data(a)?);
        }
        patch.ds = Some(ds);
    }
    if let Some(p) = ext.and_then(|e| child(e, PTDOMAIN, "update")) {
        pt::apply_domain_update(&mut patch, p)?;
    }
    let nothing = patch.nameservers.is_none()
        && patch.admin.is_none()
        && patch.tech.is_none()
        && patch.billing.is_none()
        && patch.ds.is_none()
        && patch.add_status.is_empty()
        && patch.remove_status.is_empty()
        && patch.auto_renew.is_none()
        && patch.owner_visible.is_none();
    let registrant_changed =
        chg.and_then(|c| text_of(c, DOMAIN, "registrant")).is_some_and(|r| !r.is_empty() && r != old.registrant);
    if nothing {
        return Ok(if registrant_changed { registrant_answer(registry, id, &name)? } else { Answer::ok() });
    }
    reg(registry.domain_update(id, &name, patch).await)?;
    Ok(if registrant_changed { registrant_answer(registry, id, &name)? } else { Answer::ok() })
}

/// `chg/registrant`: the registrant change of POLICY.md (immediate, or pending review).
async fn registrant_change_pending(
    registry: &Registry,
    id: &str,
    name: &str,
    new: &str,
    _patch: &DomainPatch,
) -> Result<(), Answer> {
    let req = crate::registry::RegistrantChangeRequest { registrant: new.to_string() };
    reg(registry.domain_change_registrant(id, name, req, None).await).map(|_| ())
}

fn registrant_answer(registry: &Registry, id: &str, name: &str) -> Res {
    let d = reg(registry.domain_get(id, name))?;
    Ok(Answer::code(if d.has(Status::PendingUpdate) { 1001 } else { 1000 }))
}

async fn domain_delete(registry: &Registry, id: &str, object: Node<'_, '_>) -> Res {
    let name = required(object, DOMAIN, "name", "domain:name")?;
    reg(registry.domain_delete(id, name).await)?;
    Ok(Answer::ok())
}

/// `curExpDate` (a date, `2027-05-01`): the year the renew guard compares.
fn cur_exp_year(object: Node<'_, '_>) -> Result<i32, Answer> {
    let t = required(object, DOMAIN, "curExpDate", "domain:curExpDate")?;
    let year = t.get(..4).and_then(|y| y.parse::<i32>().ok());
    match (year, t.len() >= 10 && t.as_bytes().get(4) == Some(&b'-')) {
        (Some(y), true) => Ok(y),
        _ => Err(Answer::fail(2005, "curExpDate is a date", format!("`{t}` is not a date such as 2027-05-01"))),
    }
}

async fn domain_renew(registry: &Registry, id: &str, object: Node<'_, '_>, ext: Option<Node<'_, '_>>) -> Res {
    let name = required(object, DOMAIN, "name", "domain:name")?.to_string();
    let req =
        RenewRequest { period_years: period_years(object)?.unwrap_or(1), current_expiry_year: cur_exp_year(object)? };
    let d = reg(registry.domain_renew(id, &name, req, None).await)?;
    if let Some(p) = ext.and_then(|e| child(e, PTDOMAIN, "renew")) {
        pt::apply_renew(registry, id, &name, p).await?;
    }
    let mut w = Writer::fragment();
    w.open("resData", &[]).open("domain:renData", &[("xmlns:domain", DOMAIN)]);
    w.text("domain:name", &d.name).text("domain:exDate", &d.expires.to_rfc3339());
    w.close("domain:renData").close("resData");
    Ok(Answer::ok().data(w.finish()))
}

fn trn_data(d: &Domain, status: &str, gaining: &str, losing: &str, at: Timestamp) -> String {
    let mut w = Writer::fragment();
    w.open("resData", &[]).open("domain:trnData", &[("xmlns:domain", DOMAIN)]);
    w.text("domain:name", &d.name).text("domain:trStatus", status).text("domain:reID", gaining);
    w.text("domain:reDate", &at.to_rfc3339()).text("domain:acID", losing).text("domain:acDate", &at.to_rfc3339());
    w.text("domain:exDate", &d.expires.to_rfc3339()).close("domain:trnData").close("resData");
    w.finish()
}

async fn domain_transfer(
    registry: &Registry,
    id: &str,
    verb: Node<'_, '_>,
    object: Node<'_, '_>,
    ext: Option<Node<'_, '_>>,
) -> Res {
    let name = required(object, DOMAIN, "name", "domain:name")?.to_string();
    match verb.attribute("op") {
        Some("request") => {
            let pw = child(object, DOMAIN, "authInfo").and_then(|a| child(a, DOMAIN, "pw"));
            let pt_t = ext.and_then(|e| child(e, PTDOMAIN, "transfer"));
            let auth_code = pw
                .map(|p| p.text().unwrap_or("").to_string())
                .filter(|p| !p.is_empty())
                .or_else(|| pt_t.and_then(|t| text_of(t, PTDOMAIN, "transferKey")).map(str::to_string))
                .ok_or_else(|| missing("domain:authInfo/domain:pw (the auth code)"))?;
            // The ROID the .pt rules ask for: pw@roid, or the extension's roid.
            let roid = pw
                .and_then(|p| p.attribute("roid"))
                .map(str::to_string)
                .or_else(|| pt_t.and_then(|t| text_of(t, PTDOMAIN, "roid")).map(str::to_string))
                .filter(|r| !r.is_empty())
                .ok_or_else(|| {
                    Answer::fail(
                        2003,
                        "ROID required",
                        "a transfer needs the domain's ROID with the auth code: <domain:pw roid=\"D1-PT\">",
                    )
                })?;
            let before = registry.domain_any(&name).ok().flatten();
            let losing = before.map(|d| d.registrar).unwrap_or_default();
            let d = reg(registry.domain_transfer(id, &name, TransferRequest { auth_code, roid }, None).await)?;
            Ok(Answer::ok().data(trn_data(&d, "serverApproved", id, &losing, d.updated)))
        }
        Some("query") => {
            let d = reg(registry.domain_get(id, &name))?;
            let last = reg(registry.domain_history(id, &name))?
                .into_iter()
                .rev()
                .find(|h| h.operation.starts_with("domain.transfer"));
            match last {
                Some(h) => {
                    let losing = match &h.before {
                        Some(crate::model::Snapshot::Domain(before)) => before.registrar.clone(),
                        _ => String::new(),
                    };
                    Ok(Answer::ok().data(trn_data(&d, "serverApproved", &d.registrar, &losing, h.at)))
                }
                None => Err(Answer::fail(2301, "Not pending transfer", format!("{name} has no transfer"))),
            }
        }
        Some("approve" | "reject" | "cancel") => Err(Answer::fail(
            2301,
            "Not pending transfer",
            "transfers here are approved by the registry at once (serverApproved): nothing is pending",
        )),
        _ => Err(Answer::fail(
            2005,
            "Invalid transfer op",
            "transfer needs op=request, query, approve, reject or cancel",
        )),
    }
}

// --- contacts ------------------------------------------------------------------------------

fn contact_check(registry: &Registry, id: &str, object: Node<'_, '_>) -> Res {
    let ids: Vec<&str> = children(object, CONTACT, "id").map(|n| n.text().unwrap_or("").trim()).collect();
    if ids.is_empty() {
        return Err(missing("contact:id"));
    }
    if ids.len() > CHECK_NAMES_MAX {
        return Err(Answer::fail(2306, "Too many ids", format!("at most {CHECK_NAMES_MAX} ids per check")));
    }
    let _ = id;
    let mut w = Writer::fragment();
    w.open("resData", &[]).open("contact:chkData", &[("xmlns:contact", CONTACT)]);
    for h in ids {
        let taken = reg(registry.contact_any(h))?.is_some();
        w.open("contact:cd", &[]).leaf("contact:id", &[("avail", if taken { "0" } else { "1" })], h);
        if taken {
            w.text("contact:reason", "in use");
        }
        w.close("contact:cd");
    }
    w.close("contact:chkData").close("resData");
    Ok(Answer::ok().data(w.finish()))
}

/// A contact ROID in RFC 5730's pattern (word characters, a dash, up to 8 more).
pub fn contact_roid(handle: &str) -> String {
    if handle.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        format!("{handle}-CNT")
    } else {
        let hex: String = handle.bytes().map(|b| format!("{b:02X}")).collect();
        format!("H{hex}-CNT")
    }
}

fn contact_info(registry: &Registry, session: &Session, id: &str, object: Node<'_, '_>) -> Res {
    let handle = required(object, CONTACT, "id", "contact:id")?;
    let c = reg(registry.contact_get(id, handle))?;
    let linked = reg(registry.contact_in_use(&c.handle))?;
    let mut w = Writer::fragment();
    w.open("resData", &[]).open("contact:infData", &[("xmlns:contact", CONTACT)]);
    w.text("contact:id", &c.handle).text("contact:roid", &contact_roid(&c.handle));
    w.empty("contact:status", &[("s", if linked { "linked" } else { "ok" })]);
    w.open("contact:postalInfo", &[("type", "int")]).text("contact:name", &c.name);
    if let Some(o) = &c.organization {
        w.text("contact:org", o);
    }
    w.open("contact:addr", &[]);
    for s in &c.street {
        w.text("contact:street", s);
    }
    w.text("contact:city", &c.city).text("contact:pc", &c.postal_code).text("contact:cc", &c.country_code);
    w.close("contact:addr").close("contact:postalInfo");
    if let Some(p) = &c.phone {
        w.text("contact:voice", p);
    }
    w.text("contact:email", &c.email).text("contact:clID", &c.registrar).text("contact:crID", &c.registrar);
    w.text("contact:crDate", &c.created.to_rfc3339());
    if c.updated != c.created {
        w.text("contact:upDate", &c.updated.to_rfc3339());
    }
    w.close("contact:infData").close("resData");
    let ext = session.announced(PTCONTACT).then(|| pt::contact_info_data(&c));
    Ok(Answer::ok().data(w.finish()).ext(ext))
}

/// The parts of a contact create or `chg` that EPP carries: postalInfo (int preferred, else
/// loc), voice, email.
struct ContactFields {
    name: Option<String>,
    org: Option<String>,
    street: Option<Vec<String>>,
    city: Option<String>,
    pc: Option<String>,
    cc: Option<String>,
    voice: Option<String>,
    email: Option<String>,
}

fn contact_fields(n: Node<'_, '_>) -> ContactFields {
    let postal = children(n, CONTACT, "postalInfo")
        .find(|p| p.attribute("type") == Some("int"))
        .or_else(|| child(n, CONTACT, "postalInfo"));
    let addr = postal.and_then(|p| child(p, CONTACT, "addr"));
    let s = |n: Option<Node>, name: &str| n.and_then(|n| text_of(n, CONTACT, name)).map(str::to_string);
    ContactFields {
        name: s(postal, "name"),
        org: s(postal, "org"),
        street: addr
            .map(|a| children(a, CONTACT, "street").map(|l| l.text().unwrap_or("").trim().to_string()).collect()),
        city: s(addr, "city"),
        pc: s(addr, "pc"),
        cc: s(addr, "cc"),
        voice: s(Some(n), "voice"),
        email: s(Some(n), "email"),
    }
}

async fn contact_create(registry: &Registry, id: &str, object: Node<'_, '_>, ext: Option<Node<'_, '_>>) -> Res {
    let handle = required(object, CONTACT, "id", "contact:id")?.to_string();
    let f = contact_fields(object);
    let pt_ext = ext.and_then(|e| child(e, PTCONTACT, "create"));
    let org = f.org.filter(|o| !o.is_empty());
    let mut input = ContactInput {
        handle: Some(handle),
        kind: if org.is_some() { ContactKind::Organization } else { ContactKind::Person },
        name: f.name.ok_or_else(|| missing("contact:postalInfo/contact:name"))?,
        organization: org,
        street: f.street.unwrap_or_default(),
        city: f.city.ok_or_else(|| missing("contact:city"))?,
        postal_code: f.pc.unwrap_or_default(),
        country_code: f.cc.ok_or_else(|| missing("contact:cc"))?,
        email: f.email.ok_or_else(|| missing("contact:email"))?,
        phone: f.voice.filter(|v| !v.is_empty()),
        fiscal_id: None,
    };
    if let Some(p) = pt_ext {
        pt::apply_contact_create(&mut input, p)?;
    }
    let c = reg(registry.contact_create(id, input).await)?;
    let mut w = Writer::fragment();
    w.open("resData", &[]).open("contact:creData", &[("xmlns:contact", CONTACT)]);
    w.text("contact:id", &c.handle).text("contact:crDate", &c.created.to_rfc3339());
    w.close("contact:creData").close("resData");
    Ok(Answer::ok().data(w.finish()))
}

async fn contact_update(registry: &Registry, id: &str, object: Node<'_, '_>, ext: Option<Node<'_, '_>>) -> Res {
    let handle = required(object, CONTACT, "id", "contact:id")?.to_string();
    let mut patch = ContactPatch::default();
    if let Some(chg) = child(object, CONTACT, "chg") {
        let f = contact_fields(chg);
        patch.name = f.name;
        patch.organization = f.org;
        patch.street = f.street;
        patch.city = f.city;
        patch.postal_code = f.pc;
        patch.country_code = f.cc;
        patch.phone = f.voice;
        patch.email = f.email;
    }
    if let Some(p) = ext.and_then(|e| child(e, PTCONTACT, "update")) {
        pt::apply_contact_update(&mut patch, p)?;
    }
    reg(registry.contact_update(id, &handle, patch).await)?;
    Ok(Answer::ok())
}

async fn contact_delete(registry: &Registry, id: &str, object: Node<'_, '_>) -> Res {
    let handle = required(object, CONTACT, "id", "contact:id")?;
    reg(registry.contact_delete(id, handle).await)?;
    Ok(Answer::ok())
}

/// Object and extension URIs of the greeting, and so of what a login may announce.
pub const OBJ_URIS: &[&str] = &[DOMAIN, CONTACT];
pub const EXT_URIS: &[&str] = &[SECDNS, RGP, LOGINSEC, PTDOMAIN, PTCONTACT];

/// The greeting (RFC 5730 2.4): what this server implements.
pub fn greeting(server_id: &str, now: Timestamp) -> String {
    let mut w = Writer::new();
    w.open("epp", &[("xmlns", EPP)]).open("greeting", &[]);
    w.text("svID", server_id).text("svDate", &now.to_rfc3339());
    w.open("svcMenu", &[]).text("version", "1.0").text("lang", "en");
    for u in OBJ_URIS {
        w.text("objURI", u);
    }
    w.open("svcExtension", &[]);
    for u in EXT_URIS {
        w.text("extURI", u);
    }
    w.close("svcExtension").close("svcMenu");
    w.open("dcp", &[]).open("access", &[]).empty("personalAndOther", &[]).close("access");
    w.open("statement", &[]).open("purpose", &[]).empty("admin", &[]).empty("prov", &[]).close("purpose");
    w.open("recipient", &[]).empty("ours", &[]).empty("public", &[]).close("recipient");
    w.open("retention", &[]).empty("stated", &[]).close("retention").close("statement").close("dcp");
    w.close("greeting").close("epp");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epp::xml;

    #[test]
    fn every_registry_error_has_a_code_and_a_short_reason() {
        for code in Code::ALL {
            let (result, reason) = result_of(*code);
            assert!((2000..2600).contains(&result), "{code:?}");
            assert!(!reason.is_empty() && reason.chars().count() <= 32, "{code:?}: `{reason}` (reasonBaseType: 32)");
            assert_ne!(message(result), "", "{result}");
        }
        assert_eq!(result_of(Code::BadAuthCode).0, 2202);
        assert_eq!(result_of(Code::NotFound).0, 2303);
        assert_eq!(result_of(Code::NotAvailable).0, 2302);
        assert_eq!(result_of(Code::InsufficientFunds).0, 2104);
        assert_eq!(result_of(Code::ContactInUse).0, 2305);
    }

    #[test]
    fn answers_echo_the_transaction_and_escape_details() {
        let a = Answer::fail(2306, "Request refused by policy", "bad <name> & \u{1} more");
        let text = a.render(Some("ABC-12345"), "NBX-1");
        let doc = xml::parse(&text).expect("well-formed");
        let response = child(doc.root_element(), EPP, "response").expect("response");
        let tr = child(response, EPP, "trID").expect("trID");
        assert_eq!(text_of(tr, EPP, "clTRID"), Some("ABC-12345"));
        let result = child(response, EPP, "result").expect("result");
        assert_eq!(result.attribute("code"), Some("2306"));
        let value = child(child(result, EPP, "extValue").expect("extValue"), EPP, "value").expect("value");
        assert_eq!(text_of(value, EPP, "text"), Some("bad <name> &  more"));
        // Without a clTRID there is none in the answer, and the svTRID is always there.
        let text = Answer::ok().render(None, "NBX-2");
        assert!(!text.contains("clTRID") && text.contains("<svTRID>NBX-2</svTRID>"), "{text}");
    }

    #[test]
    fn greeting_lists_what_is_implemented() {
        let g = greeting("nicbox <test>", Timestamp(0));
        let doc = xml::parse(&g).expect("well-formed");
        let menu = child(child(doc.root_element(), EPP, "greeting").expect("greeting"), EPP, "svcMenu").expect("menu");
        let objs: Vec<&str> = children(menu, EPP, "objURI").filter_map(|n| n.text()).collect();
        assert_eq!(objs, vec![DOMAIN, CONTACT], "no host objects offered");
        let ext = child(menu, EPP, "svcExtension").expect("svcExtension");
        let exts: Vec<&str> = children(ext, EPP, "extURI").filter_map(|n| n.text()).collect();
        assert!(exts.contains(&SECDNS) && exts.contains(&RGP) && exts.contains(&PTDOMAIN), "{exts:?}");
    }

    /// `<command>` of a frame whose verb element is `verb` with `object` inside.
    fn frame(verb: &str, object: &str) -> String {
        format!("<epp xmlns=\"{EPP}\"><command><{verb}>{object}</{verb}><clTRID>t-1</clTRID></command></epp>")
    }

    fn selected(text: &str) -> Result<Command, u16> {
        let doc = xml::parse(text).expect("well-formed");
        let command = child(doc.root_element(), EPP, "command").expect("command");
        select(command).map(|(c, _, _)| c).map_err(|a| a.code)
    }

    #[test]
    fn every_listed_command_is_dispatched_and_nothing_else() {
        let mut seen = std::collections::HashSet::new();
        for (name, command) in COMMANDS {
            assert!(seen.insert(*command), "{name} listed twice");
            let text = match name.split_once(':') {
                None => frame(name, ""),
                Some(("domain", verb)) => frame(verb, &format!("<domain:{verb} xmlns:domain=\"{DOMAIN}\"/>")),
                Some(("contact", verb)) => frame(verb, &format!("<contact:{verb} xmlns:contact=\"{CONTACT}\"/>")),
                Some(_) => panic!("{name}: an object the dispatcher does not know"),
            };
            assert_eq!(selected(&text), Ok(*command), "{name}");
        }
        assert_eq!(command_names().count(), COMMANDS.len());
        // What is not listed is refused with the codes it always had.
        let host = "urn:ietf:params:xml:ns:host-1.0";
        let refused = [
            (frame("transfer", &format!("<contact:transfer xmlns:contact=\"{CONTACT}\"/>")), 2101),
            (frame("renew", &format!("<contact:renew xmlns:contact=\"{CONTACT}\"/>")), 2101),
            (frame("info", &format!("<host:info xmlns:host=\"{host}\"/>")), 2307),
            (frame("info", "<x:info xmlns:x=\"urn:example:other\"/>"), 2307),
            (frame("frobnicate", ""), 2000),
            (frame("info", ""), 2003),
        ];
        for (text, code) in refused {
            assert_eq!(selected(&text), Err(code), "{text}");
        }
    }

    #[test]
    fn contact_roids_follow_the_rfc_pattern() {
        assert_eq!(contact_roid("C0000001"), "C0000001-CNT");
        assert_eq!(contact_roid("a_b"), "a_b-CNT");
        // A dash is not a word character: such handles are hex-encoded, so no two collide.
        assert_eq!(contact_roid("A-B"), "H412D42-CNT");
        assert_ne!(contact_roid("A-B"), contact_roid("A_B"));
    }
}
