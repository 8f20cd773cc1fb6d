//! Plain data: the objects of the registry (POLICY.md section 2) and what is recorded about them.
//!
//! No behaviour beyond small derived facts; rules live in `registry` and `policy`, storage in
//! `store`. Every type here is stored with postcard, so fields are plain (no untagged enums, no
//! skipped fields): changing a stored type means a new encoding version and a migration.

mod time_stamp;
mod view;

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub use time_stamp::{Rfc3339Utc, SECS_PER_DAY, Timestamp};
pub use view::{ContactView, DomainView, DsView, NameserverView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactKind {
    Person,
    Organization,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub handle: String,
    /// The registrar that created it and alone may see or change it.
    pub registrar: String,
    pub kind: ContactKind,
    pub name: String,
    pub organization: Option<String>,
    pub street: Vec<String>,
    pub city: String,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country_code: String,
    pub email: String,
    pub phone: Option<String>,
    pub fiscal_id: Option<String>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// A nameserver as a host attribute of its domain (the .pt way): a name and its glue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nameserver {
    /// Host name, A-labels, lower case, no trailing dot.
    pub name: String,
    pub addresses: Vec<IpAddr>,
}

/// A DNSSEC delegation signer record (RFC 4034 section 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ds {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    /// Upper-case hexadecimal.
    pub digest: String,
}

macro_rules! statuses {
    ($($variant:ident = $text:literal),* $(,)?) => {
        /// EPP statuses (RFC 5731, RFC 3915). `Ok` and `Inactive` are derived, never stored.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Status { $($variant),* }

        impl Status {
            pub const ALL: &'static [Status] = &[$(Status::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Status::$variant => $text),* }
            }

            pub fn parse(text: &str) -> Option<Status> {
                match text { $($text => Some(Status::$variant),)* _ => None }
            }
        }
    };
}

statuses! {
    Ok = "ok",
    Inactive = "inactive",
    PendingCreate = "pendingCreate",
    PendingDelete = "pendingDelete",
    PendingUpdate = "pendingUpdate",
    RedemptionPeriod = "redemptionPeriod",
    ClientHold = "clientHold",
    ServerHold = "serverHold",
    ClientTransferProhibited = "clientTransferProhibited",
    ServerTransferProhibited = "serverTransferProhibited",
    ClientUpdateProhibited = "clientUpdateProhibited",
    ServerUpdateProhibited = "serverUpdateProhibited",
    ClientDeleteProhibited = "clientDeleteProhibited",
    ServerDeleteProhibited = "serverDeleteProhibited",
    ClientRenewProhibited = "clientRenewProhibited",
    ServerRenewProhibited = "serverRenewProhibited",
}

impl Status {
    /// Statuses a registrar may set and clear.
    pub fn is_client(self) -> bool {
        self.as_str().starts_with("client")
    }
    /// Statuses only the registry sets (registry lock, suspension).
    pub fn is_server(self) -> bool {
        self.as_str().starts_with("server")
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// A-label name, the key everywhere.
    pub name: String,
    pub unicode_name: String,
    /// Registry object id, never reused, even after the name is purged and registered again.
    pub roid: String,
    pub zone: String,
    pub tld: String,
    pub registrar: String,
    pub registrant: String,
    pub admin: String,
    pub tech: Option<String>,
    pub billing: Option<String>,
    pub nameservers: Vec<Nameserver>,
    pub ds: Vec<Ds>,
    /// Statuses set on the domain (never `ok` or `inactive`, which are derived).
    pub statuses: Vec<Status>,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub updated: Timestamp,
    pub auto_renew: bool,
    pub auth_code: String,
    pub auth_code_issued: Timestamp,
    /// When the domain entered pendingDelete (for the restore period).
    pub deleted: Option<Timestamp>,
    /// Zone-specific fields (edu.pt, gov.pt): registration basis and legitimacy codes.
    pub registration_basis: Option<String>,
    pub legitimacy: Option<String>,
    pub owner_visible: bool,
    /// A registrant change waiting for the registry's review (status pendingUpdate): the new
    /// registrant's handle and when it was asked.
    pub pending_registrant: Option<String>,
    pub pending_since: Option<Timestamp>,
    /// When the lifecycle job must next look at this domain (expiry, end of the restore period,
    /// end of a review); kept by the registry, indexed by the store.
    pub due: Timestamp,
}

impl Domain {
    pub fn has(&self, s: Status) -> bool {
        self.statuses.contains(&s)
    }

    /// Adds a status, keeping the list sorted and free of duplicates.
    pub fn set(&mut self, s: Status) {
        if let Err(i) = self.statuses.binary_search(&s) {
            self.statuses.insert(i, s);
        }
    }

    pub fn clear(&mut self, s: Status) {
        self.statuses.retain(|x| *x != s);
    }

    /// Whether the registry publishes the domain in its directory (WHOIS, RDAP, stats): every
    /// stored domain except one still waiting for the registry to accept it.
    pub fn is_registered(&self) -> bool {
        is_registered(&self.statuses)
    }

    /// The statuses as shown to the world: the stored ones, plus `inactive` when the domain has
    /// fewer nameservers than delegation needs, and `ok` when there is nothing else to say.
    pub fn effective_statuses(&self, nameservers_min_delegated: usize) -> Vec<Status> {
        effective_statuses(&self.statuses, self.nameservers.len(), nameservers_min_delegated)
    }
}

fn is_registered(statuses: &[Status]) -> bool {
    !statuses.contains(&Status::PendingCreate)
}

fn effective_statuses(statuses: &[Status], nameservers: usize, nameservers_min_delegated: usize) -> Vec<Status> {
    let mut out = Vec::with_capacity(statuses.len() + 1);
    out.extend_from_slice(statuses);
    if nameservers < nameservers_min_delegated {
        out.push(Status::Inactive);
    }
    if out.is_empty() {
        out.push(Status::Ok);
    }
    out.sort();
    out
}

/// Prices of one TLD, in integer cents of the registry's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prices {
    pub create: i64,
    /// First-year price of a premium (two-letter) name.
    pub create_premium: i64,
    pub renew: i64,
    pub transfer: i64,
    pub restore: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registrar {
    pub id: String,
    pub name: String,
    /// SHA-256 of the API key's secret part; the key itself is shown once and never stored.
    pub api_key_digest: [u8; 32],
    pub balance_cents: i64,
    /// Prices agreed with this registrar per TLD; a TLD missing here uses the TLD's defaults.
    pub prices: BTreeMap<String, Prices>,
    pub email: String,
    pub created: Timestamp,
    pub enabled: bool,
}

/// A registrar's EPP credentials: the password's argon2id digest (PHC string) and the SHA-256
/// fingerprints of the client certificates it may connect with. Kept apart from [`Registrar`]
/// so that the registrar record keeps its stored shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EppAccess {
    pub registrar: String,
    pub password_digest: Option<String>,
    pub fingerprints: Vec<[u8; 32]>,
    pub updated: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Support,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Support => "support",
        }
    }
}

/// A person who signs in to the admin UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: String,
    pub created: Timestamp,
    pub enabled: bool,
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    Registrar(String),
    User(String),
    /// The registry itself: lifecycle jobs, imports, the command line.
    System(String),
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Registrar(id) => write!(f, "registrar:{id}"),
            Actor::User(name) => write!(f, "user:{name}"),
            Actor::System(what) => write!(f, "system:{what}"),
        }
    }
}

/// An object as it was before or after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Snapshot {
    Domain(Box<Domain>),
    Contact(Box<Contact>),
    /// Registrars are recorded without their key digest.
    Registrar {
        id: String,
        name: String,
        balance_cents: i64,
        enabled: bool,
    },
}

/// One append-only history record: who, when, which operation, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Global sequence number: orders every change in the registry.
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Actor,
    /// `domain.create`, `contact.update`, `registrar.credit`...
    pub operation: String,
    /// For domains, the ROID of the registration (a name can be registered again after purge).
    pub roid: Option<String>,
    pub before: Option<Snapshot>,
    pub after: Option<Snapshot>,
    /// Money moved by this change (negative: charged to the registrar).
    pub amount_cents: i64,
}

/// One movement of a registrar's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub seq: u64,
    pub at: Timestamp,
    pub registrar: String,
    /// Positive: credit; negative: charge.
    pub amount_cents: i64,
    pub balance_after_cents: i64,
    pub operation: String,
    pub domain: Option<String>,
    pub actor: Actor,
    pub reason: String,
}

/// What a poll message tells a registrar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollMessage {
    pub id: u64,
    pub at: Timestamp,
    /// `transfer.away`, `domain.autorenewed`, `domain.expired`, `domain.purged`, `create.accepted`...
    pub kind: String,
    pub domain: Option<String>,
    pub text: String,
}

/// The first answer to a request with an Idempotency-Key, kept to answer its repeats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub at: Timestamp,
    /// SHA-256 of the request (operation and body): a key reused for another request is refused.
    pub fingerprint: [u8; 32],
    /// The command's result, postcard-encoded.
    pub outcome: Vec<u8>,
}

/// How an origin (an IPv4 address or an IPv6 /64) stands with the directory's abuse limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suspension {
    /// `192.0.2.1` or `2001:db8:1:2::/64`.
    pub origin: String,
    /// 1, 2, 3...: which of the configured durations the last suspension used.
    pub level: u32,
    pub since: Timestamp,
    pub until: Timestamp,
    /// Suspensions of this origin so far (within the memory window).
    pub count: u32,
    /// Who lifted it early, if anyone.
    pub lifted_by: Option<String>,
}

/// The outcome of one directory query, for the query log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryOutcome {
    Found,
    NoMatch,
    Invalid,
    Limited,
}

impl QueryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryOutcome::Found => "found",
            QueryOutcome::NoMatch => "no_match",
            QueryOutcome::Invalid => "invalid",
            QueryOutcome::Limited => "limited",
        }
    }
}

/// One query to the public directory (WHOIS or RDAP), kept for abuse detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryLogEntry {
    pub at: Timestamp,
    pub origin: String,
    /// `whois` or `rdap`.
    pub protocol: String,
    pub query: String,
    pub outcome: QueryOutcome,
}

/// Query-log entries written together (one flush of the query-log writer), stored as one record:
/// a record per query would cost the busy directory two index inserts per query. Each origin and
/// protocol is written once per block; rows refer to them by position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryLogBlock {
    pub origins: Vec<String>,
    pub protocols: Vec<String>,
    /// In the order the queries were logged.
    pub rows: Vec<QueryLogRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryLogRow {
    pub at: Timestamp,
    /// Index into `QueryLogBlock::origins`.
    pub origin: u32,
    /// Index into `QueryLogBlock::protocols`.
    pub protocol: u32,
    pub query: String,
    pub outcome: QueryOutcome,
}

impl QueryLogBlock {
    /// Adds an origin not in the block yet (the caller keeps its own index of them).
    pub fn add_origin(&mut self, origin: String) -> u32 {
        self.origins.push(origin);
        (self.origins.len() - 1) as u32
    }

    /// The index of a protocol, added on first use (there are two).
    pub fn protocol(&mut self, protocol: &str) -> u32 {
        match self.protocols.iter().position(|p| p == protocol) {
            Some(i) => i as u32,
            None => {
                self.protocols.push(protocol.to_string());
                (self.protocols.len() - 1) as u32
            }
        }
    }

    /// Adds one entry (interning by a linear search of the origins: for small blocks and tests).
    pub fn push(&mut self, e: QueryLogEntry) {
        let origin = match self.origins.iter().position(|o| *o == e.origin) {
            Some(i) => i as u32,
            None => self.add_origin(e.origin),
        };
        let protocol = self.protocol(&e.protocol);
        self.rows.push(QueryLogRow { at: e.at, origin, protocol, query: e.query, outcome: e.outcome });
    }

    /// The latest time in the block.
    pub fn last_at(&self) -> Option<Timestamp> {
        self.rows.iter().map(|r| r.at).max()
    }

    pub fn origin_of(&self, row: &QueryLogRow) -> &str {
        self.origins.get(row.origin as usize).map(String::as_str).unwrap_or("")
    }

    pub fn protocol_of(&self, row: &QueryLogRow) -> &str {
        self.protocols.get(row.protocol as usize).map(String::as_str).unwrap_or("")
    }

    pub fn entry(&self, row: &QueryLogRow) -> QueryLogEntry {
        QueryLogEntry {
            at: row.at,
            origin: self.origin_of(row).to_string(),
            protocol: self.protocol_of(row).to_string(),
            query: row.query.clone(),
            outcome: row.outcome,
        }
    }
}

/// A signed-in admin-UI session (stored by the SHA-256 of its cookie token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub user: String,
    /// The token every form of this session must carry.
    pub csrf: String,
    pub created: Timestamp,
    pub expires: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisclosureState {
    Pending,
    Granted,
    Refused,
}

/// A request for non-public data (POLICY.md section 4, point 6): who asks, on what legal basis,
/// the decision, and what was disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisclosureRequest {
    pub id: u64,
    pub domain: String,
    pub requester: String,
    pub legal_basis: String,
    pub case_reference: String,
    pub received: Timestamp,
    pub recorded_by: String,
    pub state: DisclosureState,
    pub decided_by: Option<String>,
    pub decided: Option<Timestamp>,
    pub decision_note: String,
    /// The full record as disclosed (registrant, admin, tech), once granted.
    pub disclosed: Option<String>,
}

/// What a domain puts into its zone: the NS records, the glue the zone needs (addresses of the
/// nameservers inside the domain itself) and the DS records. Kept in canonical order (hosts by
/// name, addresses and DS sorted, no duplicates), so that two equal delegations compare equal
/// and render to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Delegation {
    /// Host names (A-labels, no trailing dot), each with its glue (empty when none is needed).
    pub ns: Vec<Nameserver>,
    pub ds: Vec<Ds>,
}

/// One record of the zone change journal: a delegation as it was before and after one change,
/// written in the same transaction as the change. `None`: not in the zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub at: Timestamp,
    pub before: Option<Delegation>,
    pub after: Option<Delegation>,
}

/// How one publication attempt of a zone ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GuardOutcome {
    /// Written and renamed into place.
    Published,
    /// Nothing changed since the last publication: no new serial, no file written.
    Unchanged,
    /// The journal does not explain a difference (a bug or a damaged database).
    RefusedUnexplained,
    /// More removals than the cap allows.
    RefusedRemovals,
    /// Published by an admin over a refusal, with a reason.
    Forced,
    /// The export itself failed (disk, database).
    Failed,
}

impl GuardOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardOutcome::Published => "published",
            GuardOutcome::Unchanged => "unchanged",
            GuardOutcome::RefusedUnexplained => "refused_unexplained",
            GuardOutcome::RefusedRemovals => "refused_removals",
            GuardOutcome::Forced => "forced",
            GuardOutcome::Failed => "failed",
        }
    }

    pub fn is_refusal(self) -> bool {
        matches!(self, GuardOutcome::RefusedUnexplained | GuardOutcome::RefusedRemovals)
    }
}

/// One publication attempt of one zone, as recorded for the admin UI, `/metrics` and the next
/// export (which compares against the last published one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRun {
    pub zone: String,
    pub at: Timestamp,
    pub outcome: GuardOutcome,
    /// The serial written (published, forced) or the serial of the publication kept.
    pub serial: u32,
    /// Delegations in the zone written (or that would have been written).
    pub delegations: u64,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// Differences the journal does not explain.
    pub unexplained: u64,
    /// A few names of each kind of difference, for the operator.
    pub sample_added: Vec<String>,
    pub sample_removed: Vec<String>,
    pub sample_changed: Vec<String>,
    pub sample_unexplained: Vec<String>,
    /// The journal sequence the publication covers (every change up to it is in the file).
    pub journal_seq: u64,
    /// Fingerprint of the configuration that shapes the zone (SOA values, NS, layout, check
    /// modes): a change of it explains differences the journal does not hold.
    pub config_digest: [u8; 32],
    /// SHA-256 of the zone's content with the serial left out: equal content, no new serial.
    pub content_digest: [u8; 32],
    /// What went wrong (failed) or why an admin forced it, and who.
    pub note: String,
    /// The reload command's and NOTIFY's outcome after publishing.
    pub after_publish: Vec<String>,
    pub file: String,
    pub millis: u64,
}

/// Transport of one nameserver-check query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// One query of a nameserver check: which host, which address, which transport, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCheck {
    pub host: String,
    /// None when the host had no address (not resolvable, no resolver).
    pub address: Option<IpAddr>,
    /// None when no query was sent (no address, address not allowed).
    pub transport: Option<Transport>,
    pub ok: bool,
    /// `ok`, `timeout`, `REFUSED`, `not authoritative (no AA)`, ...
    pub reason: String,
}

/// The nameserver check of one domain (POLICY.md section 3, "Nameserver check").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsCheck {
    pub domain: String,
    /// The nameservers this check was about (a check of an older set does not count).
    pub nameservers: Vec<Nameserver>,
    pub at: Timestamp,
    pub passed: bool,
    pub servers: Vec<ServerCheck>,
    /// Since when this set of nameservers has been failing.
    pub failing_since: Option<Timestamp>,
    /// Checks of this set so far.
    pub attempts: u32,
    /// Whether the registrar was told (poll message) that the check keeps failing.
    pub notified: bool,
    /// The last set of nameservers that passed: under `require`, kept in the zone until the
    /// new set passes.
    pub passed_nameservers: Option<Vec<Nameserver>>,
}
