//! Configuration: a TOML file read into raw structs (unknown keys refused), then validated into
//! `Settings`, the only form the rest of nicbox sees.
//!
//! Every error names the key at fault in one line (`main` prints it and exits 2). Paths in the
//! file are relative to the file's own directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::clock::ClockKind;
use crate::model::Prices;
use crate::policy::{NameList, Policy, Profile, ProfileOverrides, TldPolicy};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A configuration error: one line, whatever the file held. The messages quote values from the
/// file, so control characters (a newline, an escape sequence for the terminal) are shown escaped.
fn bad(msg: impl Into<String>) -> ConfigError {
    let msg = msg.into();
    if !msg.chars().any(char::is_control) {
        return ConfigError(msg);
    }
    ConfigError(
        msg.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect(),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    data_dir: PathBuf,
    #[serde(default)]
    clock: Option<String>,
    #[serde(default)]
    registry: RawRegistry,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    whois: RawWhois,
    #[serde(default)]
    tld: Vec<RawTld>,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    smtp: Option<RawSmtp>,
    #[serde(default)]
    zone: Option<RawZone>,
    #[serde(default)]
    dns: Option<RawDns>,
    #[serde(default)]
    epp: Option<RawEpp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEpp {
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
    max_connections: Option<u32>,
    sessions_per_registrar: Option<u32>,
    login_timeout_secs: Option<u32>,
    idle_secs: Option<u32>,
    commands_per_second: Option<u32>,
    failed_logins: Option<u32>,
    failed_login_minutes: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDns {
    listen: Option<String>,
    allow: Option<Vec<String>>,
    max_connections: Option<usize>,
    max_transfers: Option<usize>,
    idle_secs: Option<u32>,
    write_timeout_secs: Option<u32>,
    keep_publications: Option<u32>,
    keep_days: Option<u32>,
    behind_after_secs: Option<u32>,
    send_buffer_kib: Option<u32>,
    #[serde(default)]
    tsig: Vec<RawTsig>,
    #[serde(default)]
    secondary: Vec<RawSecondary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTsig {
    name: String,
    algorithm: Option<String>,
    secret: String,
    zones: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecondary {
    address: String,
    name: Option<String>,
    tsig: Option<String>,
    zones: Option<Vec<String>>,
    notify: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    dir: Option<PathBuf>,
    interval_minutes: Option<u32>,
    removal_cap_percent: Option<f64>,
    removal_cap_count: Option<u64>,
    reload_command: Option<Vec<String>>,
    notify: Option<Vec<String>>,
    #[serde(default)]
    check: RawZoneCheck,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZoneCheck {
    port: Option<u16>,
    resolver: Option<String>,
    allow_loopback: Option<bool>,
    retry_minutes: Option<Vec<u32>>,
    interval_secs: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTldZone {
    primary: Option<String>,
    mailbox: Option<String>,
    ttl: Option<u32>,
    soa_ttl: Option<u32>,
    refresh: Option<u32>,
    retry: Option<u32>,
    expire: Option<u32>,
    minimum: Option<u32>,
    #[serde(default)]
    nameservers: Vec<RawZoneNameserver>,
    #[serde(default)]
    separate: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZoneNameserver {
    name: String,
    #[serde(default)]
    addresses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    relay: String,
    from: String,
    tls: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    Opportunistic,
    Required,
}

/// The SMTP relay of the anonymised contact form.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub from: String,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log.
        write!(
            f,
            "SmtpSettings {{ host: {}, port: {}, from: {}, tls: {:?} }}",
            self.host, self.port, self.from, self.tls
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    name: Option<String>,
    currency: Option<String>,
    /// Public base URL (links in WHOIS and RDAP).
    public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    api_rate_per_second: Option<u32>,
    api_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhois {
    listen: Option<String>,
    rate_per_minute: Option<u32>,
    burst: Option<u32>,
    allow: Option<Vec<String>>,
    suspend_after: Option<u32>,
    suspension_minutes: Option<Vec<u32>>,
    remember_days: Option<u32>,
    log_retention_days: Option<u32>,
    max_connections: Option<u32>,
    max_connections_per_origin: Option<u32>,
    timeout_secs: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: Option<String>,
    format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTld {
    name: String,
    #[serde(default)]
    profile: Option<String>,
    reserved: Option<PathBuf>,
    blocked: Option<PathBuf>,
    #[serde(default)]
    policy: Option<ProfileOverrides>,
    #[serde(default)]
    prices: Option<RawPrices>,
    #[serde(default)]
    zone: RawTldZone,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrices {
    create: i64,
    create_premium: i64,
    renew: i64,
    transfer: i64,
    restore: i64,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Registrar API requests per second per registrar, and the burst above it.
    pub api_rate_per_second: u32,
    pub api_burst: u32,
}

#[derive(Debug, Clone)]
pub struct WhoisSettings {
    pub listen: SocketAddr,
    /// Per origin (IPv4 address, IPv6 /64), shared by WHOIS and RDAP.
    pub rate_per_minute: u32,
    pub burst: u32,
    /// Networks exempt from the limits.
    pub allow: Vec<String>,
    /// Queries refused by the limit, within one window of the limit, after which the origin is suspended.
    pub suspend_after: u32,
    /// Suspension lengths: first, second, third and later time.
    pub suspension_minutes: Vec<u32>,
    /// How long a suspended origin is remembered, so that a recurrence is suspended for longer.
    pub remember_days: u32,
    /// Days the query log is kept.
    pub log_retention_days: u32,
    pub max_connections: u32,
    pub max_connections_per_origin: u32,
    /// Seconds a client has to send its query, and to take the answer.
    pub timeout_secs: u32,
}

#[derive(Debug, Clone)]
pub struct TldSettings {
    pub name: String,
    /// The TLD's default prices (a registrar may have its own).
    pub prices: Prices,
    /// What the TLD's zone file says about itself.
    pub zone: TldZone,
}

/// The apex of a TLD's zone (and of its second-level zones published apart): SOA values, TTLs,
/// the TLD's own nameservers, and which second-level zones are zones of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TldZone {
    /// SOA MNAME (the primary), absolute without the trailing dot.
    pub primary: String,
    /// SOA RNAME as a mailbox in DNS form (`hostmaster.dns.pt`).
    pub mailbox: String,
    /// TTL of the TLD's NS records, the delegations, glue and DS.
    pub ttl: u32,
    pub soa_ttl: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// SOA MINIMUM: the negative-caching TTL (RFC 2308).
    pub minimum: u32,
    /// The TLD's own nameservers, with their addresses (written where the zone holds them).
    pub nameservers: Vec<crate::model::Nameserver>,
    /// Second-level zones published as zones of their own, delegated from the TLD's zone.
    pub separate: Vec<String>,
}

/// Zone publication: where, how often, the guard's removal cap, what runs after publishing,
/// and the nameserver check's network settings.
#[derive(Debug, Clone)]
pub struct ZoneSettings {
    /// Whether the `[zone]` table was given: the server publishes on its interval and runs the
    /// nameserver checks only then (`nicbox zone export` works either way).
    pub enabled: bool,
    pub dir: PathBuf,
    /// Minutes between publications (only when something changed); 0: on demand only.
    pub interval_minutes: u32,
    /// Refuse a publication that removes more than this share of the delegations last
    /// published (percent) ...
    pub removal_cap_percent: f64,
    /// ... or, when set, more than this many.
    pub removal_cap_count: Option<u64>,
    /// Run after each publication, with `{zone}` and `{file}` replaced (for example
    /// `["knotc", "zone-reload", "{zone}"]`).
    pub reload_command: Vec<String>,
    /// DNS NOTIFY (RFC 1996) goes here after each publication.
    pub notify: Vec<SocketAddr>,
    /// Port queried on nameservers by the check (53).
    pub check_port: u16,
    /// Where nameservers without glue are resolved; None: they are not (the check fails them).
    pub check_resolver: Option<SocketAddr>,
    /// Whether the check may query loopback addresses (tests).
    pub check_allow_loopback: bool,
    /// Waits between the retries of a failing check; the last one repeats.
    pub check_retry_minutes: Vec<u32>,
    /// Seconds between rounds of the checker.
    pub check_interval_secs: u32,
}

/// The EPP server (`[epp]`, RFC 5730/5734): TLS with a required client certificate, and bounds.
#[derive(Debug, Clone)]
pub struct EppSettings {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// When set, a client certificate must also chain to this CA (besides being pinned).
    pub client_ca: Option<PathBuf>,
    /// TLS connections at once; more are closed at once.
    pub max_connections: u32,
    /// Logged-in sessions of one registrar at once; a login past it gets 2502.
    pub sessions_per_registrar: u32,
    /// Seconds from connect to a completed login.
    pub login_timeout_secs: u32,
    /// Seconds a session may stay silent.
    pub idle_secs: u32,
    /// Commands per second a session may send; faster ones wait, a burst of as many passes.
    pub commands_per_second: u32,
    /// Failed logins (per registrar and per address) in `failed_login_minutes` before further
    /// logins are refused for the rest of that window.
    pub failed_logins: u32,
    pub failed_login_minutes: u32,
}

/// The hidden primary (`[dns]`): the listener, its keys, its secondaries and its bounds.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    pub listen: SocketAddr,
    pub keys: Vec<TsigKeySettings>,
    pub secondaries: Vec<SecondarySettings>,
    /// Networks that may query and transfer every zone without TSIG.
    pub allow: Vec<ipnet::IpNet>,
    /// TCP connections at once; more are closed at once.
    pub max_connections: usize,
    /// AXFR/IXFR streams at once; more are answered REFUSED.
    pub max_transfers: usize,
    /// A TCP connection that sends no query for this long is closed.
    pub idle_secs: u32,
    /// A client that does not take one message of a transfer in this time is dropped.
    pub write_timeout_secs: u32,
    /// Differences kept for IXFR: at most this many publications per zone ...
    pub keep_publications: u32,
    /// ... and none older than this many days.
    pub keep_days: u32,
    /// A secondary still on an older serial this long after a publication is flagged behind.
    pub behind_after_secs: u32,
    /// The kernel's send buffer of each TCP connection, KiB (0: the kernel's autotuning, which
    /// grows to a few MiB per connection): bounds what a client that stops reading pins.
    pub send_buffer_kib: u32,
}

/// A TSIG key (RFC 8945). The secret never appears in `Debug` output or logs.
#[derive(Clone)]
pub struct TsigKeySettings {
    /// Lower case, no trailing dot.
    pub name: String,
    /// `hmac-sha256`, `hmac-sha384`, `hmac-sha512` (or `hmac-sha1`).
    pub algorithm: String,
    pub secret: Vec<u8>,
    /// The zones this key may transfer (None: every zone).
    pub zones: Option<Vec<String>>,
}

impl std::fmt::Debug for TsigKeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeySettings")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .field("zones", &self.zones)
            .finish()
    }
}

/// A secondary: NOTIFY goes to `address` after each publication of its zones (signed with its
/// key); without a key, unsigned transfers from its address are allowed.
#[derive(Debug, Clone)]
pub struct SecondarySettings {
    pub address: SocketAddr,
    /// How the admin UI names it (default: the address).
    pub name: String,
    pub tsig: Option<String>,
    /// None: every zone.
    pub zones: Option<Vec<String>>,
    pub notify: bool,
}

impl SecondarySettings {
    pub fn serves(&self, zone: &str) -> bool {
        self.zones.as_ref().is_none_or(|z| z.iter().any(|x| x == zone))
    }
}

impl TsigKeySettings {
    pub fn serves(&self, zone: &str) -> bool {
        self.zones.as_ref().is_none_or(|z| z.iter().any(|x| x == zone))
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub clock: ClockKind,
    pub registry_name: String,
    pub currency: String,
    pub public_url: String,
    pub http: HttpSettings,
    pub whois: WhoisSettings,
    pub tlds: Vec<TldSettings>,
    pub policy: std::sync::Arc<Policy>,
    pub log_level: String,
    pub log_json: bool,
    pub smtp: Option<SmtpSettings>,
    pub zone: ZoneSettings,
    pub dns: Option<DnsSettings>,
    pub epp: Option<EppSettings>,
}

impl Settings {
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(crate::store::DB_FILE)
    }

    pub fn tld(&self, name: &str) -> Option<&TldSettings> {
        self.tlds.iter().find(|t| t.name == name)
    }
}

pub const DEFAULT_PRICES: Prices =
    Prices { create: 1_500, create_premium: 15_000, renew: 1_500, transfer: 500, restore: 3_000 };

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    parse(&text, &base).map_err(|e| bad(format!("{}: {}", path.display(), e.0)))
}

fn toml_error(e: toml::de::Error) -> ConfigError {
    // One line: the message, with the key path when toml gives one.
    let msg = e.message().replace('\n', " ");
    match e.span() {
        Some(span) => bad(format!("{msg} (at byte {})", span.start)),
        None => bad(msg),
    }
}

fn addr(key: &str, v: Option<String>, default: &str) -> Result<SocketAddr, ConfigError> {
    let text = v.unwrap_or_else(|| default.to_string());
    text.parse().map_err(|_| bad(format!("{key}: `{text}` is not an address:port (for example 127.0.0.1:8080)")))
}

/// Parses configuration text; `base` resolves relative paths.
pub fn parse(text: &str, base: &Path) -> Result<Settings, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(toml_error)?;
    let resolve = |p: &Path| {
        if p.is_absolute() { p.to_path_buf() } else { base.join(p) }
    };

    let clock = match raw.clock.as_deref() {
        None | Some("system") => ClockKind::System,
        Some("lab") => ClockKind::Lab,
        Some(other) => return Err(bad(format!("clock: `{other}` is not one of system, lab"))),
    };
    let currency = raw.registry.currency.unwrap_or_else(|| "EUR".into());
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(bad(format!("registry.currency: `{currency}` is not an ISO 4217 code such as EUR")));
    }
    let http_listen = addr("http.listen", raw.http.listen, "127.0.0.1:8080")?;
    let tls = match (raw.http.tls_cert, raw.http.tls_key) {
        (None, None) => None,
        (Some(c), Some(k)) => Some((resolve(&c), resolve(&k))),
        _ => return Err(bad("http.tls_cert and http.tls_key: give both or neither")),
    };
    let api_rate_per_second = raw.http.api_rate_per_second.unwrap_or(50);
    let api_burst = raw.http.api_burst.unwrap_or(200);
    if api_rate_per_second == 0 || api_burst == 0 {
        return Err(bad("http.api_rate_per_second and http.api_burst: must be at least 1"));
    }
    let whois = WhoisSettings {
        listen: addr("whois.listen", raw.whois.listen, "127.0.0.1:4343")?,
        rate_per_minute: raw.whois.rate_per_minute.unwrap_or(60),
        burst: raw.whois.burst.unwrap_or(20),
        allow: raw.whois.allow.unwrap_or_default(),
        suspend_after: raw.whois.suspend_after.unwrap_or(20),
        suspension_minutes: raw.whois.suspension_minutes.unwrap_or_else(|| vec![10, 60, 1_440]),
        remember_days: raw.whois.remember_days.unwrap_or(30),
        log_retention_days: raw.whois.log_retention_days.unwrap_or(90),
        max_connections: raw.whois.max_connections.unwrap_or(1_024),
        max_connections_per_origin: raw.whois.max_connections_per_origin.unwrap_or(16),
        timeout_secs: raw.whois.timeout_secs.unwrap_or(10),
    };
    if whois.suspension_minutes.is_empty()
        || whois.suspension_minutes.len() > 10
        || whois.suspension_minutes.contains(&0)
    {
        return Err(bad("whois.suspension_minutes: 1 to 10 durations, each at least 1 minute"));
    }
    let checks = [
        ("whois.suspend_after", whois.suspend_after, 1, 1_000_000),
        ("whois.remember_days", whois.remember_days, 0, 3_650),
        ("whois.log_retention_days", whois.log_retention_days, 1, 3_650),
        ("whois.max_connections", whois.max_connections, 1, 1_000_000),
        ("whois.max_connections_per_origin", whois.max_connections_per_origin, 1, 1_000_000),
        ("whois.timeout_secs", whois.timeout_secs, 1, 3_600),
    ];
    for (key, v, lo, hi) in checks {
        if !(lo..=hi).contains(&v) {
            return Err(bad(format!("{key}: {v} is outside {lo}..={hi}")));
        }
    }
    if whois.rate_per_minute == 0 || whois.burst == 0 {
        return Err(bad("whois.rate_per_minute and whois.burst: must be at least 1"));
    }
    for net in &whois.allow {
        if !valid_network(net) {
            return Err(bad(format!("whois.allow: `{net}` is not a network such as 127.0.0.0/8 or ::1/128")));
        }
    }

    if raw.tld.is_empty() {
        return Err(bad("tld: at least one [[tld]] is required"));
    }
    let mut tlds = Vec::new();
    let mut policies = Vec::new();
    for (i, t) in raw.tld.into_iter().enumerate() {
        let key = format!("tld[{i}]");
        let name = t.name.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.contains('.') || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(bad(format!("{key}.name: `{}` is not a top-level label (A-label)", t.name)));
        }
        if tlds.iter().any(|x: &TldSettings| x.name == name) {
            return Err(bad(format!("{key}.name: `{name}` appears twice")));
        }
        let profile_name = t.profile.unwrap_or_else(|| name.clone());
        let mut profile = Profile::builtin(&profile_name).ok_or_else(|| {
            bad(format!(
                "{key}.profile: no built-in profile `{profile_name}` (have: {})",
                Profile::builtin_names().join(", ")
            ))
        })?;
        if let Some(o) = t.policy {
            profile = profile.with_overrides(o);
        }
        profile.validate(&name).map_err(|e| bad(format!("{key}.policy: {e}")))?;
        let load_list = |field: &str, p: Option<PathBuf>| -> Result<NameList, ConfigError> {
            match p {
                None => NameList::parse("").map_err(|e| bad(format!("{key}.{field}: {e}"))),
                Some(p) => {
                    let p = resolve(&p);
                    NameList::load(&p).map_err(|e| bad(format!("{key}.{field}: {}: {e}", p.display())))
                }
            }
        };
        let reserved = load_list("reserved", t.reserved)?;
        let blocked = load_list("blocked", t.blocked)?;
        let prices = match t.prices {
            None => DEFAULT_PRICES,
            Some(p) => {
                let v = [p.create, p.create_premium, p.renew, p.transfer, p.restore];
                if v.iter().any(|x| *x < 0 || *x > 100_000_000) {
                    return Err(bad(format!("{key}.prices: every price is cents between 0 and 100000000")));
                }
                Prices {
                    create: p.create,
                    create_premium: p.create_premium,
                    renew: p.renew,
                    transfer: p.transfer,
                    restore: p.restore,
                }
            }
        };
        let zone = tld_zone(&key, &name, &profile, t.zone)?;
        tlds.push(TldSettings { name: name.clone(), prices, zone });
        policies.push(TldPolicy { tld: name, profile, reserved, blocked });
    }
    let log_level = raw.log.level.unwrap_or_else(|| "info".into());
    if !["error", "warn", "info", "debug", "trace"].contains(&log_level.as_str()) {
        return Err(bad(format!("log.level: `{log_level}` is not one of error, warn, info, debug, trace")));
    }
    let log_json = match raw.log.format.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(bad(format!("log.format: `{other}` is not one of text, json")));
        }
    };
    let smtp = match raw.smtp {
        None => None,
        Some(m) => {
            let (host, port) = match m.relay.rsplit_once(':') {
                Some((h, p)) => (h.trim_matches(|c| c == '[' || c == ']').to_string(), p.parse::<u16>().ok()),
                None => (m.relay.clone(), Some(25)),
            };
            let Some(port) = port.filter(|_| !host.is_empty()) else {
                return Err(bad(format!("smtp.relay: `{}` is not host:port", m.relay)));
            };
            if !m.from.contains('@') {
                return Err(bad(format!("smtp.from: `{}` is not an email address", m.from)));
            }
            let tls = match m.tls.as_deref() {
                None | Some("opportunistic") => SmtpTls::Opportunistic,
                Some("required") => SmtpTls::Required,
                Some("none") => SmtpTls::None,
                Some(other) => {
                    return Err(bad(format!("smtp.tls: `{other}` is not one of opportunistic, required, none")));
                }
            };
            if m.username.is_some() != m.password.is_some() {
                return Err(bad("smtp.username and smtp.password: give both or neither"));
            }
            Some(SmtpSettings { host, port, from: m.from, tls, username: m.username, password: m.password })
        }
    };
    let zone = zone_settings(raw.zone, &resolve, &resolve(&raw.data_dir))?;
    let zone_names: Vec<String> =
        tlds.iter().flat_map(|t| std::iter::once(t.name.clone()).chain(t.zone.separate.iter().cloned())).collect();
    let dns = match raw.dns {
        Some(d) => Some(dns_settings(d, &zone_names)?),
        None => None,
    };
    let epp = match raw.epp {
        Some(e) => Some(epp_settings(e, &resolve)?),
        None => None,
    };
    let public_url = raw
        .registry
        .public_url
        .unwrap_or_else(|| format!("{}://{}", if tls.is_some() { "https" } else { "http" }, http_listen));
    Ok(Settings {
        data_dir: resolve(&raw.data_dir),
        clock,
        registry_name: raw.registry.name.unwrap_or_else(|| "nicbox registry".into()),
        currency,
        public_url: public_url.trim_end_matches('/').to_string(),
        http: HttpSettings { listen: http_listen, tls, api_rate_per_second, api_burst },
        whois,
        tlds,
        policy: std::sync::Arc::new(Policy::new(policies).map_err(bad)?),
        log_level,
        log_json,
        smtp,
        zone,
        dns,
        epp,
    })
}

fn epp_settings(raw: RawEpp, resolve: &dyn Fn(&Path) -> PathBuf) -> Result<EppSettings, ConfigError> {
    let listen = addr("epp.listen", raw.listen, "127.0.0.1:700")?;
    let (Some(cert), Some(key)) = (raw.tls_cert, raw.tls_key) else {
        return Err(bad("epp.tls_cert and epp.tls_key: EPP runs over TLS only; give both (PEM files)"));
    };
    let bounded = |key: &str, v: Option<u32>, default: u32, lo: u32, hi: u32| -> Result<u32, ConfigError> {
        let v = v.unwrap_or(default);
        if !(lo..=hi).contains(&v) {
            return Err(bad(format!("epp.{key}: {v} is outside {lo}..={hi}")));
        }
        Ok(v)
    };
    Ok(EppSettings {
        listen,
        tls_cert: resolve(&cert),
        tls_key: resolve(&key),
        client_ca: raw.client_ca.map(|c| resolve(&c)),
        max_connections: bounded("max_connections", raw.max_connections, 256, 1, 100_000)?,
        sessions_per_registrar: bounded("sessions_per_registrar", raw.sessions_per_registrar, 32, 1, 10_000)?,
        login_timeout_secs: bounded("login_timeout_secs", raw.login_timeout_secs, 30, 1, 3_600)?,
        idle_secs: bounded("idle_secs", raw.idle_secs, 600, 1, 86_400)?,
        commands_per_second: bounded("commands_per_second", raw.commands_per_second, 200, 1, 1_000_000)?,
        failed_logins: bounded("failed_logins", raw.failed_logins, 5, 1, 1_000)?,
        failed_login_minutes: bounded("failed_login_minutes", raw.failed_login_minutes, 15, 1, 1_440)?,
    })
}

fn zone_list(key: &str, zones: Option<Vec<String>>, known: &[String]) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(zones) = zones else { return Ok(None) };
    let mut out = Vec::new();
    for z in zones {
        let z = z.trim().trim_end_matches('.').to_ascii_lowercase();
        if !known.contains(&z) {
            return Err(bad(format!(
                "{key}: `{z}` is not a zone this registry publishes (one of {})",
                known.join(", ")
            )));
        }
        out.push(z);
    }
    Ok(Some(out))
}

fn dns_settings(raw: RawDns, zones: &[String]) -> Result<DnsSettings, ConfigError> {
    use base64::Engine as _;
    let listen = addr("dns.listen", raw.listen, "127.0.0.1:5353")?;
    let mut keys: Vec<TsigKeySettings> = Vec::new();
    for (i, k) in raw.tsig.into_iter().enumerate() {
        let key = format!("dns.tsig[{i}]");
        let name = host_name(&format!("{key}.name"), &k.name)?;
        if keys.iter().any(|o| o.name == name) {
            return Err(bad(format!("{key}.name: `{name}` is given twice")));
        }
        let algorithm = k.algorithm.unwrap_or_else(|| "hmac-sha256".into()).to_ascii_lowercase();
        if !["hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512"].contains(&algorithm.as_str()) {
            return Err(bad(format!(
                "{key}.algorithm: `{algorithm}` is not one of hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha1"
            )));
        }
        let secret = base64::engine::general_purpose::STANDARD
            .decode(k.secret.trim())
            .map_err(|_| bad(format!("{key}.secret: not base64")))?;
        if secret.len() < 16 || secret.len() > 512 {
            return Err(bad(format!(
                "{key}.secret: {} bytes; give 16 to 512 (32 random bytes for hmac-sha256)",
                secret.len()
            )));
        }
        let zones = zone_list(&format!("{key}.zones"), k.zones, zones)?;
        keys.push(TsigKeySettings { name, algorithm, secret, zones });
    }
    let mut secondaries = Vec::new();
    for (i, s) in raw.secondary.into_iter().enumerate() {
        let key = format!("dns.secondary[{i}]");
        let address = s
            .address
            .parse::<SocketAddr>()
            .map_err(|_| bad(format!("{key}.address: `{}` is not an address:port", s.address)))?;
        let tsig = match s.tsig {
            Some(t) => {
                let t = t.trim().trim_end_matches('.').to_ascii_lowercase();
                if !keys.iter().any(|k| k.name == t) {
                    return Err(bad(format!("{key}.tsig: no [[dns.tsig]] is named `{t}`")));
                }
                Some(t)
            }
            None => None,
        };
        let zones = zone_list(&format!("{key}.zones"), s.zones, zones)?;
        let name = s.name.unwrap_or_else(|| address.to_string());
        if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
            return Err(bad(format!("{key}.name: 1 to 64 printable characters")));
        }
        secondaries.push(SecondarySettings { address, name, tsig, zones, notify: s.notify.unwrap_or(true) });
    }
    let mut allow = Vec::new();
    for net in raw.allow.unwrap_or_default() {
        let n = net
            .parse::<ipnet::IpNet>()
            .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| bad(format!("dns.allow: `{net}` is not a network such as 192.0.2.0/24")))?;
        allow.push(n);
    }
    let bounded = |key: &str, v: Option<u32>, default: u32, lo: u32, hi: u32| -> Result<u32, ConfigError> {
        let v = v.unwrap_or(default);
        if !(lo..=hi).contains(&v) {
            return Err(bad(format!("dns.{key}: {v} is outside {lo}..={hi}")));
        }
        Ok(v)
    };
    let max_connections = raw.max_connections.unwrap_or(64);
    if !(1..=10_000).contains(&max_connections) {
        return Err(bad(format!("dns.max_connections: {max_connections} is outside 1..=10000")));
    }
    let max_transfers = raw.max_transfers.unwrap_or(8);
    if !(1..=1_000).contains(&max_transfers) {
        return Err(bad(format!("dns.max_transfers: {max_transfers} is outside 1..=1000")));
    }
    Ok(DnsSettings {
        listen,
        keys,
        secondaries,
        allow,
        max_connections,
        max_transfers,
        idle_secs: bounded("idle_secs", raw.idle_secs, 10, 1, 3_600)?,
        write_timeout_secs: bounded("write_timeout_secs", raw.write_timeout_secs, 30, 1, 3_600)?,
        keep_publications: bounded("keep_publications", raw.keep_publications, 100, 1, 100_000)?,
        keep_days: bounded("keep_days", raw.keep_days, 7, 1, 3_650)?,
        behind_after_secs: bounded("behind_after_secs", raw.behind_after_secs, 300, 1, 604_800)?,
        send_buffer_kib: bounded("send_buffer_kib", raw.send_buffer_kib, 0, 0, 65_536)?,
    })
}

/// A host name as the zone file needs it: lower case, no trailing dot, LDH labels.
fn host_name(key: &str, v: &str) -> Result<String, ConfigError> {
    let h = v.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok { Ok(h) } else { Err(bad(format!("{key}: `{v}` is not a host name"))) }
}

fn tld_zone(key: &str, tld: &str, profile: &Profile, raw: RawTldZone) -> Result<TldZone, ConfigError> {
    let primary = match raw.primary {
        Some(p) => host_name(&format!("{key}.zone.primary"), &p)?,
        None => raw
            .nameservers
            .first()
            .map(|n| n.name.trim_end_matches('.').to_ascii_lowercase())
            .unwrap_or_else(|| format!("ns1.nic.{tld}")),
    };
    let mailbox = host_name(
        &format!("{key}.zone.mailbox"),
        &raw.mailbox.unwrap_or_else(|| format!("hostmaster.nic.{tld}")).replace('@', "."),
    )?;
    let mut nameservers = Vec::new();
    for (i, n) in raw.nameservers.into_iter().enumerate() {
        let k = format!("{key}.zone.nameservers[{i}]");
        let name = host_name(&format!("{k}.name"), &n.name)?;
        let mut addresses = Vec::new();
        for a in &n.addresses {
            addresses.push(
                a.parse::<std::net::IpAddr>().map_err(|_| bad(format!("{k}.addresses: `{a}` is not an IP address")))?,
            );
        }
        addresses.sort();
        addresses.dedup();
        let inside = name == tld || name.ends_with(&format!(".{tld}"));
        if inside && addresses.is_empty() {
            return Err(bad(format!("{k}: {name} is inside .{tld} and needs addresses")));
        }
        nameservers.push(crate::model::Nameserver { name, addresses });
    }
    nameservers.sort_by(|a, b| a.name.cmp(&b.name));
    let mut separate = Vec::new();
    for z in raw.separate {
        let z = z.trim().trim_end_matches('.').to_ascii_lowercase();
        if z == tld || !profile.has_zone(&z) {
            return Err(bad(format!("{key}.zone.separate: `{z}` is not a second-level zone of .{tld}")));
        }
        separate.push(z);
    }
    if !separate.is_empty() && nameservers.is_empty() {
        return Err(bad(format!(
            "{key}.zone.separate: zones published apart are delegated to the TLD's nameservers: give {key}.zone.nameservers"
        )));
    }
    let z = TldZone {
        primary,
        mailbox,
        ttl: raw.ttl.unwrap_or(86_400),
        soa_ttl: raw.soa_ttl.unwrap_or(3_600),
        refresh: raw.refresh.unwrap_or(3_600),
        retry: raw.retry.unwrap_or(900),
        expire: raw.expire.unwrap_or(1_209_600),
        minimum: raw.minimum.unwrap_or(3_600),
        nameservers,
        separate,
    };
    let checks = [
        ("ttl", z.ttl, 60, 604_800),
        ("soa_ttl", z.soa_ttl, 60, 604_800),
        ("refresh", z.refresh, 60, 2_419_200),
        ("retry", z.retry, 60, 2_419_200),
        ("expire", z.expire, 3_600, 31_536_000),
        ("minimum", z.minimum, 0, 86_400),
    ];
    for (k, v, lo, hi) in checks {
        if !(lo..=hi).contains(&v) {
            return Err(bad(format!("{key}.zone.{k}: {v} is outside {lo}..={hi}")));
        }
    }
    if z.expire <= z.refresh + z.retry {
        return Err(bad(format!("{key}.zone.expire: must be longer than refresh + retry")));
    }
    Ok(z)
}

fn zone_settings(
    raw: Option<RawZone>,
    resolve: &dyn Fn(&Path) -> PathBuf,
    data_dir: &Path,
) -> Result<ZoneSettings, ConfigError> {
    let enabled = raw.is_some();
    let raw = raw.unwrap_or_default();
    let removal_cap_percent = raw.removal_cap_percent.unwrap_or(5.0);
    if !(0.0..=100.0).contains(&removal_cap_percent) {
        return Err(bad(format!("zone.removal_cap_percent: {removal_cap_percent} is outside 0..=100")));
    }
    let interval_minutes = raw.interval_minutes.unwrap_or(15);
    if interval_minutes > 10_080 {
        return Err(bad(format!("zone.interval_minutes: {interval_minutes} is outside 0..=10080")));
    }
    let reload_command = raw.reload_command.unwrap_or_default();
    if reload_command.first().is_some_and(|c| c.trim().is_empty()) {
        return Err(bad("zone.reload_command: the first element is the program to run"));
    }
    let mut notify = Vec::new();
    for a in raw.notify.unwrap_or_default() {
        notify.push(a.parse::<SocketAddr>().map_err(|_| bad(format!("zone.notify: `{a}` is not an address:port")))?);
    }
    let check_resolver = match raw.check.resolver.as_deref() {
        None | Some("none") => None,
        Some(a) => Some(
            a.parse::<SocketAddr>()
                .map_err(|_| bad(format!("zone.check.resolver: `{a}` is not an address:port (or \"none\")")))?,
        ),
    };
    let check_retry_minutes = raw.check.retry_minutes.unwrap_or_else(|| vec![5, 15, 60, 240]);
    if check_retry_minutes.is_empty()
        || check_retry_minutes.len() > 20
        || check_retry_minutes.iter().any(|m| !(1..=10_080).contains(m))
    {
        return Err(bad("zone.check.retry_minutes: 1 to 20 waits, each 1 to 10080 minutes"));
    }
    let check_interval_secs = raw.check.interval_secs.unwrap_or(10);
    if !(1..=3_600).contains(&check_interval_secs) {
        return Err(bad(format!("zone.check.interval_secs: {check_interval_secs} is outside 1..=3600")));
    }
    Ok(ZoneSettings {
        enabled,
        dir: raw.dir.map(|d| resolve(&d)).unwrap_or_else(|| data_dir.join("zones")),
        interval_minutes,
        removal_cap_percent,
        removal_cap_count: raw.removal_cap_count,
        reload_command,
        notify,
        check_port: raw.check.port.unwrap_or(53),
        check_resolver,
        check_allow_loopback: raw.check.allow_loopback.unwrap_or(false),
        check_retry_minutes,
        check_interval_secs,
    })
}

fn valid_network(net: &str) -> bool {
    let (ip, len) = match net.split_once('/') {
        Some((ip, len)) => (ip, len.parse::<u8>().ok()),
        None => (net, Some(255)),
    };
    match (ip.parse::<std::net::IpAddr>(), len) {
        (Ok(std::net::IpAddr::V4(_)), Some(l)) => l <= 32 || l == 255,
        (Ok(std::net::IpAddr::V6(_)), Some(l)) => l <= 128 || l == 255,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "data_dir = \"d\"\n[[tld]]\nname = \"pt\"\n";

    #[test]
    fn minimal_file_gives_pt_defaults() {
        let s = parse(MINIMAL, Path::new("/etc/nicbox")).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/etc/nicbox/d"));
        assert_eq!(s.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.whois.rate_per_minute, 60);
        assert_eq!(s.tlds[0].prices, DEFAULT_PRICES);
        assert_eq!(s.policy.tlds[0].profile.restore_days, 30);
        assert_eq!(s.clock, ClockKind::System);
    }

    #[test]
    fn overrides_replace_profile_values() {
        let text = format!("{MINIMAL}[tld.policy]\nrestore_days = 0\nrenew_window_days = 90\n");
        let s = parse(&text, Path::new(".")).unwrap();
        assert_eq!(s.policy.tlds[0].profile.restore_days, 0);
        assert_eq!(s.policy.tlds[0].profile.renew_window_days, 90);
        assert_eq!(s.policy.tlds[0].profile.label_min, 2);
    }

    #[test]
    fn dns_keys_parse_and_secrets_stay_out_of_debug() {
        let text = format!(
            "{MINIMAL}[dns]\nlisten = \"127.0.0.1:5353\"\nallow = [\"192.0.2.0/24\", \"2001:db8::1\"]\n[[dns.tsig]]\nname = \"Xfr.\"\nsecret = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n[[dns.secondary]]\naddress = \"127.0.0.1:5354\"\ntsig = \"xfr\"\n"
        );
        let s = parse(&text, Path::new(".")).unwrap();
        let d = s.dns.unwrap();
        assert_eq!(d.keys[0].name, "xfr");
        assert_eq!(d.keys[0].algorithm, "hmac-sha256");
        assert_eq!(d.keys[0].secret, b"0123456789abcdef0123456789abcdef");
        assert_eq!(d.secondaries[0].name, "127.0.0.1:5354");
        assert_eq!(d.allow.len(), 2);
        assert!(!format!("{d:?}").contains("MDEy") && !format!("{d:?}").contains("0123456789abcdef"));
        assert!(parse(MINIMAL, Path::new(".")).unwrap().dns.is_none());
    }

    #[test]
    fn bad_files_name_the_key_in_one_line() {
        let cases = [
            ("data_dir = \"d\"\nbogus = 1\n[[tld]]\nname=\"pt\"\n", "bogus"),
            ("data_dir = \"d\"\n[http]\nlisten = \"nowhere\"\n[[tld]]\nname=\"pt\"\n", "http.listen"),
            ("data_dir = \"d\"\n", "tld"),
            ("data_dir = \"d\"\nclock = \"sundial\"\n[[tld]]\nname=\"pt\"\n", "clock"),
            ("data_dir = \"d\"\n[[tld]]\nname=\"pt\"\nprofile=\"xx\"\n", "profile"),
            ("data_dir = \"d\"\n[[tld]]\nname=\"pt\"\n[tld.policy]\nrestore_dayz = 3\n", "restore_dayz"),
            ("data_dir = \"d\"\n[whois]\nallow = [\"10.0.0.0/99\"]\n[[tld]]\nname=\"pt\"\n", "whois.allow"),
            ("data_dir = \"d\"\n[http]\ntls_cert = \"c.pem\"\n[[tld]]\nname=\"pt\"\n", "tls_key"),
            ("data_dir = \"d\"\n[[tld]]\nname=\"pt\"\nreserved = \"/nonexistent/list\"\n", "reserved"),
            ("data_dir = \"d\"\n[[tld]]\nname=\"pt\"\n[dns]\nlisten = \"x\"\n", "dns.listen"),
            (
                "data_dir = \"d\"\n[[tld]]\nname=\"pt\"\n[dns]\n[[dns.tsig]]\nname = \"k\"\nsecret = \"c2hvcnQ=\"\n",
                "dns.tsig[0].secret",
            ),
            (
                "data_dir = \"d\"\n[[tld]]\nname=\"pt\"\n[dns]\n[[dns.secondary]]\naddress = \"127.0.0.1:53\"\ntsig = \"nope\"\n",
                "dns.secondary[0].tsig",
            ),
            (
                "data_dir = \"d\"\n[[tld]]\nname=\"pt\"\n[dns]\n[[dns.secondary]]\naddress = \"127.0.0.1:53\"\nzones = [\"cv\"]\n",
                "dns.secondary[0].zones",
            ),
        ];
        // A value holding a newline or a terminal escape is quoted escaped, on the same line.
        let sneaky = "data_dir = \"d\"\nclock = \"sun\\ndial\\u001b[31m\"\n[[tld]]\nname=\"pt\"\n";
        let e = parse(sneaky, Path::new(".")).unwrap_err().0;
        assert!(e.contains("clock") && e.contains("sun\\ndial\\u{1b}[31m"), "{e}");
        for (text, key) in cases {
            let e = parse(text, Path::new(".")).unwrap_err().0;
            assert!(e.contains(key), "error for {key}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
