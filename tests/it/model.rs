//! Model-based tests (tier 1): random sequences of registry commands, with registry time moving
//! and the lifecycle job running, checked after every step against a plain in-memory model of
//! POLICY.md section 3 (the `pt` profile's values and the prices of `common::CONFIG`).
//!
//! The system under test is the real `Registry` on a temporary database with a manual clock. The
//! model below knows nothing of nicbox's code: a map of name → {sponsor, expiry, statuses,
//! nameservers, auto-renew, registrant, auth-code issue time} and a balance per registrar, moved
//! by the rules as POLICY.md states them. After every operation the test compares the outcome
//! (success, or the refusal's error code), every name of the pool (exists, sponsor, expiry,
//! statuses as published, auto-renew, nameserver count, registrant), both balances and the
//! number of domains per registrar (the listing and the counter), and the poll messages each
//! registrar received; at the end of each sequence `check --deep` (counters, indexes, balances
//! against the ledger, histories, poll queues, the zone journal) must find nothing.
//!
//! Where POLICY.md is silent the model takes the choice the README documents, said where it is
//! made: the order in which a refused command's rules are checked (which error code it gets),
//! auto-renewal catching up several years when time jumped, a restore renewing an expired
//! domain, the job handling due domains earliest first (then by name) when one balance must
//! pay for several, `pendingUpdate` blocking changes but not renewal.
//!
//! It runs under two profiles: `pt` as shipped, and `pt` with `restore_days = 0` and registrant
//! changes in review. Failures are shrunk by proptest and their seeds kept in
//! `tests/it/model.proptest-regressions` (committed), replayed first on every run; the shrunk
//! sequences are also kept in `kept_sequences`. `NICBOX_MODEL_CASES=N` runs N sequences (N/2
//! under the second profile) instead of the default 128.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use nicbox::clock::Clock;
use nicbox::model::{Actor, Status, Timestamp};
use nicbox::registry::{
    ContactInput, DomainCreate, DomainPatch, Idem, NameserverInput, NewRegistrar, RegistrantChangeRequest, Registry,
    RegistryError, RenewRequest, TransferRequest,
};
use nicbox::store::Store;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use crate::common::{T0, org_body, person_body, write_config};

// ---------------------------------------------------------------------------------------------
// The rules, as POLICY.md and the test configuration give them (the model's only inputs).

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;
/// Prices of `common::CONFIG`, in cents.
const CREATE: i64 = 1_000;
const CREATE_PREMIUM: i64 = 10_000;
const RENEW: i64 = 900;
const TRANSFER: i64 = 500;
const RESTORE: i64 = 3_000;
/// `pt` profile values (POLICY.md section 3).
const PERIODS: [u32; 3] = [1, 3, 5];
const RENEW_WINDOW_DAYS: i64 = 60;
const MAX_YEARS_AHEAD: i32 = 10;
const AUTH_CODE_VALID_DAYS: i64 = 30;
/// A domain with fewer nameservers is registered but not delegated (`inactive`).
const NAMESERVERS_MIN_DELEGATED: u8 = 2;

/// The hours a registrant change in review waits for its supporting document (`pt`: 48).
const REVIEW_HOURS: i64 = 48;

/// The profile values that differ between the two configurations the test runs.
#[derive(Debug, Clone, Copy)]
struct Rules {
    name: &'static str,
    /// `restore_days`: 30 in `pt`; a profile may set 0 (deleted and expired names are purged at once).
    restore_days: i64,
    /// `registrant_change_mode = "review"`: the change waits as `pendingUpdate` for a person at
    /// the registry, and is cancelled after `REVIEW_HOURS` without one.
    registrant_review: bool,
    /// The configuration's `[tld.policy]` overrides.
    config: &'static str,
}

/// The `pt` profile as shipped.
const PT: Rules = Rules { name: "pt", restore_days: 30, registrant_review: false, config: "" };
/// A profile with no restore period and registrant changes in review.
const VARIANT: Rules = Rules {
    name: "pt, restore_days = 0, registrant changes in review",
    restore_days: 0,
    registrant_review: true,
    config: "[tld.policy]\nrestore_days = 0\nregistrant_change_mode = \"review\"\n",
};

const REGISTRARS: [&str; 2] = ["reg-a", "reg-b"];
/// Small opening balances, so that refusals for lack of funds (and auto-renewals that cannot be
/// paid) happen.
const OPENING: [i64; 2] = [40_000, 12_000];
/// The name pool: few names, so registrations collide; `xy.pt` is a premium two-letter name;
/// `gov.pt` has eligibility rules, so its registrations wait as `pendingCreate` for the registry.
const NAMES: [&str; 7] =
    ["alfa.pt", "bravo.pt", "xy.pt", "casa-nova.com.pt", "tasca.pt", "foxtrot.pt", "junta-exemplo.gov.pt"];
const CLIENT_STATUSES: [&str; 4] =
    ["clientTransferProhibited", "clientDeleteProhibited", "clientRenewProhibited", "clientUpdateProhibited"];
/// The registry's own statuses (registry lock, suspension), set by a person at the registry.
const SERVER_STATUSES: [&str; 5] = [
    "serverTransferProhibited",
    "serverDeleteProhibited",
    "serverRenewProhibited",
    "serverUpdateProhibited",
    "serverHold",
];

/// Each registrar's contacts: (kind of body, has a fiscal id). reg-a has three, reg-b two.
const CONTACTS: [&[(bool, bool)]; 2] =
    [&[(true, true), (false, true), (false, false)], &[(true, true), (false, false)]];

fn in_review(name: &str) -> bool {
    name.ends_with(".gov.pt")
}

fn premium(name: &str) -> bool {
    name.split('.').next().is_some_and(|l| l.chars().count() == 2)
}

/// The same calendar instant `years` later (UTC); 29 February becomes 28 February in a common year.
fn add_years(t: i64, years: i32) -> i64 {
    let odt = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
    let year = odt.year() + years;
    let day = if odt.month() == time::Month::February && odt.day() == 29 && !time::util::is_leap_year(year) {
        28
    } else {
        odt.day()
    };
    let date = time::Date::from_calendar_date(year, odt.month(), day).unwrap();
    odt.replace_date(date).unix_timestamp()
}

fn year_of(t: i64) -> i32 {
    time::OffsetDateTime::from_unix_timestamp(t).unwrap().year()
}

// ---------------------------------------------------------------------------------------------
// Operations

/// Who sends a command about a name: its sponsor (reg-a for a free name), or the other registrar.
#[derive(Debug, Clone, Copy)]
enum Who {
    Sponsor,
    Other,
}

/// A contact for a registration or registrant change: one of the registrar's own, or one of the
/// other registrar's (which it may not use).
#[derive(Debug, Clone, Copy)]
enum Pick {
    Own(usize),
    Foreign,
}

/// The auth code a gaining registrar sends.
#[derive(Debug, Clone, Copy)]
enum Code {
    Current,
    /// The code the domain had before its last new code (single use: it must not work again).
    Previous,
    Wrong,
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        reg: usize,
        name: usize,
        period: u32,
        contact: Pick,
        ns: u8,
        auto_renew: bool,
    },
    /// `year_off`: 0 states the right current expiry year. `stated` is the year the request
    /// states, filled in by [`concrete`] from the model's expiry plus `year_off`.
    Renew {
        who: Who,
        name: usize,
        period: u32,
        year_off: i32,
        stated: i32,
    },
    /// The last renewal sent again as it was (a client retrying): becomes that `Renew`.
    RenewAgain,
    /// The last registration, renewal, transfer or restore that succeeded, sent again with its
    /// Idempotency-Key (within the day the registry keeps keys): the first answer, nothing done.
    Retry,
    /// The registry's decision on a registration in review.
    Decide {
        name: usize,
        accept: bool,
    },
    /// The registry sets or lifts one of its statuses.
    ServerStatus {
        name: usize,
        status: usize,
        add: bool,
    },
    /// The registry's decision on a registrant change in review.
    DecideRegistrant {
        name: usize,
        accept: bool,
    },
    Delete {
        who: Who,
        name: usize,
    },
    Restore {
        who: Who,
        name: usize,
    },
    NewAuthCode {
        who: Who,
        name: usize,
    },
    Transfer {
        gaining: Who,
        name: usize,
        code: Code,
        roid_right: bool,
    },
    Nameservers {
        who: Who,
        name: usize,
        ns: u8,
    },
    ClientStatus {
        who: Who,
        name: usize,
        status: usize,
        add: bool,
    },
    AutoRenew {
        who: Who,
        name: usize,
        on: bool,
    },
    ChangeRegistrant {
        who: Who,
        name: usize,
        contact: Pick,
    },
    Credit {
        reg: usize,
        amount: i64,
    },
    /// Registry time moves; the lifecycle job runs after it when `job`.
    Advance {
        secs: i64,
        job: bool,
    },
    /// Time moves to `before` seconds before the next event of a domain (its expiry, or the end
    /// of its restore period; negative: after it), to meet the rules' edges: becomes an `Advance`.
    AdvanceNear {
        name: usize,
        before: i64,
        job: bool,
    },
    Lifecycle,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![5 => Just(Who::Sponsor), 1 => Just(Who::Other)]
}

/// A name for a registration: one of the pool.
fn free_name() -> impl Strategy<Value = usize> {
    prop_oneof![6 => 0..NAMES.len(), 1 => Just(NAMES.len() - 1)]
}

/// The name a command is about: below `NAMES.len()` a name of the pool, from there on (more
/// often) the (n - NAMES.len())-th registered name in the model's order, so that most commands
/// meet a domain. Resolved by [`concrete`] before the step runs.
fn name() -> impl Strategy<Value = usize> {
    prop_oneof![1 => 0..NAMES.len(), 4 => NAMES.len()..2 * NAMES.len()]
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![6 => Just(Pick::Own(0)), 3 => Just(Pick::Own(1)), 1 => Just(Pick::Own(2)), 1 => Just(Pick::Foreign)]
}

fn period() -> impl Strategy<Value = u32> {
    prop_oneof![8 => Just(1u32), 2 => Just(3), 2 => Just(5), 1 => Just(2)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..2, free_name(), period(), pick(), 0u8..4, prop::bool::weighted(0.8))
            .prop_map(|(reg, name, period, contact, ns, auto_renew)| Op::Create { reg, name, period, contact, ns, auto_renew }),
        4 => (who(), name(), period(), prop_oneof![5 => Just(0), 1 => Just(-1), 1 => Just(1)])
            .prop_map(|(who, name, period, year_off)| Op::Renew { who, name, period, year_off, stated: 0 }),
        1 => Just(Op::RenewAgain),
        2 => Just(Op::Retry),
        1 => prop::bool::weighted(0.7).prop_map(|accept| Op::Decide { name: NAMES.len() - 1, accept }),
        1 => (name(), prop::bool::weighted(0.7)).prop_map(|(name, accept)| Op::DecideRegistrant { name, accept }),
        1 => (name(), 0..SERVER_STATUSES.len(), prop::bool::weighted(0.6))
            .prop_map(|(name, status, add)| Op::ServerStatus { name, status, add }),
        2 => (who(), name()).prop_map(|(who, name)| Op::Delete { who, name }),
        2 => (who(), name()).prop_map(|(who, name)| Op::Restore { who, name }),
        2 => (who(), name()).prop_map(|(who, name)| Op::NewAuthCode { who, name }),
        3 => (
            prop_oneof![6 => Just(Who::Other), 1 => Just(Who::Sponsor)],
            name(),
            prop_oneof![6 => Just(Code::Current), 1 => Just(Code::Previous), 1 => Just(Code::Wrong)],
            prop::bool::weighted(0.9),
        )
            .prop_map(|(gaining, name, code, roid_right)| Op::Transfer { gaining, name, code, roid_right }),
        1 => (who(), name(), 0u8..4).prop_map(|(who, name, ns)| Op::Nameservers { who, name, ns }),
        2 => (who(), name(), 0..CLIENT_STATUSES.len(), prop::bool::weighted(0.6))
            .prop_map(|(who, name, status, add)| Op::ClientStatus { who, name, status, add }),
        2 => (who(), name(), any::<bool>()).prop_map(|(who, name, on)| Op::AutoRenew { who, name, on }),
        2 => (who(), name(), pick()).prop_map(|(who, name, contact)| Op::ChangeRegistrant { who, name, contact }),
        1 => (0usize..2, prop_oneof![Just(5_000i64), Just(20_000)]).prop_map(|(reg, amount)| Op::Credit { reg, amount }),
        6 => (
            prop_oneof![
                3 => (1i64..72).prop_map(|h| h * HOUR),
                4 => (1i64..90).prop_map(|d| d * DAY),
                3 => (290i64..400).prop_map(|d| d * DAY),
            ],
            prop::bool::weighted(0.85),
        )
            .prop_map(|(secs, job)| Op::Advance { secs, job }),
        3 => (
            name(),
            prop_oneof![
                Just(0i64), Just(1), Just(-1), Just(HOUR), Just(DAY), Just(30 * DAY), Just(59 * DAY), Just(61 * DAY)
            ],
            prop::bool::weighted(0.7),
        )
            .prop_map(|(name, before, job)| Op::AdvanceNear { name, before, job }),
        1 => Just(Op::Lifecycle),
    ]
}

// ---------------------------------------------------------------------------------------------
// The model

/// Who holds a domain: one of the sponsor's own contacts (by index), or a copy made by a
/// transfer (registrars never share contacts, so a transfer copies them under new handles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Own(usize),
    Copied,
}

#[derive(Debug, Clone)]
struct MDomain {
    sponsor: usize,
    expires: i64,
    /// When it went to pendingDelete (deleted by its registrar or expired).
    deleted: Option<i64>,
    /// Stored statuses: the client statuses the registrar set, `pendingDelete` and `redemptionPeriod`.
    statuses: BTreeSet<&'static str>,
    ns: u8,
    auto_renew: bool,
    registrant: Holder,
    auth_issued: i64,
    /// What the registration was charged (refunded when the registry refuses it).
    charged: i64,
    /// The registration period in years.
    period: u32,
    /// A registrant change waiting for review (`pendingUpdate`): the new holder, and since when.
    pending_registrant: Option<(usize, i64)>,
}

impl MDomain {
    fn has(&self, s: &str) -> bool {
        self.statuses.contains(s)
    }
    /// Whether the registrar's or the registry's status prohibits `what` (`Renew`, `Delete`,
    /// `Transfer`, `Update`: RFC 5731's `client*Prohibited` and `server*Prohibited`).
    fn prohibits(&self, what: &str) -> bool {
        self.has(&format!("client{what}Prohibited")) || self.has(&format!("server{what}Prohibited"))
    }
    fn pending_delete(&self) -> bool {
        self.has("pendingDelete")
    }
    /// Not (or no longer) a live registration: waiting for review, or pending delete.
    fn pending(&self) -> bool {
        self.has("pendingCreate") || self.pending_delete()
    }
    /// The statuses as published: plus `inactive` when not delegated, `ok` when nothing else.
    fn published(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.statuses.iter().map(|s| s.to_string()).collect();
        if self.ns < NAMESERVERS_MIN_DELEGATED {
            out.insert("inactive".into());
        }
        if out.is_empty() {
            out.insert("ok".into());
        }
        out
    }
    /// The next time the lifecycle has something to do with this domain: never while the
    /// registry reviews its registration; the end of its restore period once deleted; else its
    /// expiry, or the end of a registrant change's review when that comes first.
    fn due(&self, rules: &Rules) -> i64 {
        if self.has("pendingCreate") {
            return i64::MAX;
        }
        if let (true, Some(d)) = (self.pending_delete(), self.deleted) {
            return d + rules.restore_days * DAY;
        }
        match self.pending_registrant {
            Some((_, since)) => self.expires.min(since + REVIEW_HOURS * HOUR),
            None => self.expires,
        }
    }
    /// Goes to pendingDelete (out of the zone) at `now`; a registrant change waiting ends with it.
    fn enter_pending_delete(&mut self, now: i64) {
        self.statuses.insert("pendingDelete");
        self.statuses.insert("redemptionPeriod");
        self.statuses.remove("pendingUpdate");
        self.pending_registrant = None;
        self.deleted = Some(now);
    }
}

type Outcome = Result<(), &'static str>;

#[derive(Debug, Clone)]
struct Model {
    rules: Rules,
    now: i64,
    domains: BTreeMap<usize, MDomain>,
    balance: [i64; 2],
    /// Poll messages the last step sent: (registrar, kind, name), drained by the runner.
    polls: Vec<(usize, &'static str, usize)>,
}

fn refuse(code: &'static str) -> Outcome {
    Err(code)
}

impl Model {
    fn new(rules: Rules) -> Model {
        Model { rules, now: T0, domains: BTreeMap::new(), balance: OPENING, polls: Vec::new() }
    }

    /// The registrar a `Who` names for `name`: its sponsor (reg-a when free) or the other one.
    fn resolve(&self, who: Who, name: usize) -> usize {
        let sponsor = self.domains.get(&name).map_or(0, |d| d.sponsor);
        match who {
            Who::Sponsor => sponsor,
            Who::Other => 1 - sponsor,
        }
    }

    /// The domain, sponsored by `reg`.
    fn sponsored(&mut self, reg: usize, name: usize) -> Result<&mut MDomain, &'static str> {
        match self.domains.get_mut(&name) {
            None => Err("not_found"),
            Some(d) if d.sponsor != reg => Err("not_sponsor"),
            Some(d) => Ok(d),
        }
    }

    /// A contact `reg` may name as registrant, admin and tech of a .pt domain (a fiscal id is required).
    fn usable(reg: usize, pick: Pick) -> Result<usize, &'static str> {
        match pick {
            Pick::Foreign => Err("invalid_contact"),
            Pick::Own(i) => {
                let i = i % CONTACTS[reg].len();
                if CONTACTS[reg][i].1 { Ok(i) } else { Err("missing_fiscal_id") }
            }
        }
    }

    /// Applies one command (time moves only through `Advance` and `Lifecycle`), returning the
    /// outcome the rules give. `code_ok` and `roid_ok` tell whether a transfer's credentials
    /// are the domain's current ones (the model cannot know nicbox's random codes).
    fn apply(&mut self, op: &Op, code_ok: bool, roid_ok: bool) -> Outcome {
        let now = self.now;
        match *op {
            Op::Create { reg, name, period, contact, ns, auto_renew } => {
                if !PERIODS.contains(&period) {
                    return refuse("invalid_period");
                }
                if self.domains.contains_key(&name) {
                    // Registered, pending delete, or restore period over but not yet purged.
                    return refuse("not_available");
                }
                let holder = Model::usable(reg, contact)?;
                let years = i64::from(period);
                let price = if premium(NAMES[name]) { CREATE_PREMIUM + CREATE * (years - 1) } else { CREATE * years };
                if self.balance[reg] < price {
                    return refuse("insufficient_funds");
                }
                self.balance[reg] -= price;
                self.domains.insert(
                    name,
                    MDomain {
                        sponsor: reg,
                        expires: add_years(now, period as i32),
                        deleted: None,
                        // Eligibility rules: waiting for a person at the registry.
                        statuses: if in_review(NAMES[name]) {
                            BTreeSet::from(["pendingCreate"])
                        } else {
                            BTreeSet::new()
                        },
                        ns,
                        auto_renew,
                        registrant: Holder::Own(holder),
                        auth_issued: now,
                        charged: price,
                        period,
                        pending_registrant: None,
                    },
                );
                Ok(())
            }
            Op::Renew { who, name, period, stated, .. } => {
                let reg = self.resolve(who, name);
                let balance = self.balance[reg];
                let d = self.sponsored(reg, name)?;
                if d.pending() || d.prohibits("Renew") {
                    return refuse("status_prohibits");
                }
                if !PERIODS.contains(&period) {
                    return refuse("invalid_period");
                }
                // The request states the current expiry year: a retry cannot renew twice.
                if stated != year_of(d.expires) {
                    return refuse("expiry_year_mismatch");
                }
                if now < d.expires - RENEW_WINDOW_DAYS * DAY {
                    return refuse("renew_too_early");
                }
                let expires = add_years(d.expires, period as i32);
                if expires > add_years(now, MAX_YEARS_AHEAD) {
                    return refuse("invalid_period");
                }
                let price = RENEW * i64::from(period);
                if balance < price {
                    return refuse("insufficient_funds");
                }
                d.expires = expires;
                self.balance[reg] -= price;
                Ok(())
            }
            Op::Delete { who, name } => {
                let reg = self.resolve(who, name);
                let restore_days = self.rules.restore_days;
                let d = self.sponsored(reg, name)?;
                if d.pending() || d.has("pendingUpdate") || d.prohibits("Delete") {
                    return refuse("status_prohibits");
                }
                // Out of the zone, restorable for restore_days (purged at once when the profile
                // has none); no refund.
                if restore_days == 0 {
                    self.domains.remove(&name);
                } else {
                    d.enter_pending_delete(now);
                }
                Ok(())
            }
            Op::Restore { who, name } => {
                let reg = self.resolve(who, name);
                let balance = self.balance[reg];
                let restore_days = self.rules.restore_days;
                let d = self.sponsored(reg, name)?;
                if !d.pending_delete() {
                    return refuse("status_prohibits");
                }
                let deleted = d.deleted.expect("a pendingDelete domain has its deletion time");
                if now >= deleted + restore_days * DAY {
                    return refuse("restore_period_over");
                }
                // Charged; an expired domain is renewed (and charged) year by year until it is
                // current again, so it does not expire again at once.
                let mut price = RESTORE;
                let mut expires = d.expires;
                while expires <= now {
                    expires = add_years(expires, 1);
                    price += RENEW;
                }
                if balance < price {
                    return refuse("insufficient_funds");
                }
                d.expires = expires;
                d.statuses.remove("pendingDelete");
                d.statuses.remove("redemptionPeriod");
                d.deleted = None;
                self.balance[reg] -= price;
                Ok(())
            }
            Op::NewAuthCode { who, name } => {
                let reg = self.resolve(who, name);
                let d = self.sponsored(reg, name)?;
                if d.pending() {
                    return refuse("status_prohibits");
                }
                d.auth_issued = now;
                Ok(())
            }
            Op::Transfer { gaining, name, .. } => {
                let reg = self.resolve(gaining, name);
                let balance = self.balance[reg];
                let Some(d) = self.domains.get_mut(&name) else { return refuse("not_found") };
                if d.sponsor == reg {
                    return refuse("invalid_request");
                }
                if !(code_ok && roid_ok) {
                    return refuse("bad_auth_code");
                }
                if now > d.auth_issued + AUTH_CODE_VALID_DAYS * DAY {
                    return refuse("bad_auth_code");
                }
                if d.pending() || d.has("pendingUpdate") || d.prohibits("Transfer") {
                    return refuse("status_prohibits");
                }
                if d.expires <= now {
                    return refuse("status_prohibits");
                }
                if balance < TRANSFER {
                    return refuse("insufficient_funds");
                }
                // At once, no years added, a new auth code, the client statuses cleared.
                self.polls.push((d.sponsor, "transfer.away", name));
                d.sponsor = reg;
                d.statuses.retain(|s| !s.starts_with("client"));
                d.auth_issued = now;
                d.registrant = Holder::Copied;
                self.balance[reg] -= TRANSFER;
                Ok(())
            }
            Op::Nameservers { who, name, ns } => {
                let reg = self.resolve(who, name);
                let d = self.sponsored(reg, name)?;
                if d.pending() || d.has("pendingUpdate") || d.prohibits("Update") {
                    return refuse("status_prohibits");
                }
                d.ns = ns;
                Ok(())
            }
            Op::AutoRenew { who, name, on } => {
                let reg = self.resolve(who, name);
                let d = self.sponsored(reg, name)?;
                if d.pending() || d.has("pendingUpdate") || d.prohibits("Update") {
                    return refuse("status_prohibits");
                }
                d.auto_renew = on;
                Ok(())
            }
            Op::ClientStatus { who, name, status, add } => {
                let reg = self.resolve(who, name);
                let d = self.sponsored(reg, name)?;
                let s = CLIENT_STATUSES[status];
                if d.pending() || d.has("pendingUpdate") || d.has("serverUpdateProhibited") {
                    return refuse("status_prohibits");
                }
                // clientUpdateProhibited allows one change: its own removal.
                let lifts_it = s == "clientUpdateProhibited" && !add;
                if d.has("clientUpdateProhibited") && !lifts_it {
                    return refuse("status_prohibits");
                }
                if add {
                    d.statuses.insert(s);
                } else {
                    d.statuses.remove(s);
                }
                Ok(())
            }
            Op::ChangeRegistrant { who, name, contact } => {
                let reg = self.resolve(who, name);
                let review = self.rules.registrant_review;
                let d = self.sponsored(reg, name)?;
                if d.pending() || d.has("pendingUpdate") || d.prohibits("Update") {
                    return refuse("status_prohibits");
                }
                let holder = Model::usable(reg, contact)?;
                if d.registrant == Holder::Own(holder) {
                    return refuse("invalid_request");
                }
                // Not a renewal, no charge; at once, or waiting for the registry's review.
                if review {
                    d.statuses.insert("pendingUpdate");
                    d.pending_registrant = Some((holder, now));
                } else {
                    d.registrant = Holder::Own(holder);
                }
                Ok(())
            }
            Op::Decide { name, accept } => {
                let Some(d) = self.domains.get_mut(&name) else { return refuse("not_found") };
                if !d.has("pendingCreate") {
                    return refuse("conflict");
                }
                if accept {
                    // Registered now: the period runs from the registration, not from the
                    // request (a review can outlast the period asked for).
                    d.statuses.remove("pendingCreate");
                    d.expires = add_years(now, d.period as i32);
                    self.polls.push((d.sponsor, "create.accepted", name));
                } else {
                    // Refused: removed, and what it was charged refunded.
                    let (sponsor, charged) = (d.sponsor, d.charged);
                    self.domains.remove(&name);
                    self.balance[sponsor] += charged;
                    self.polls.push((sponsor, "create.refused", name));
                }
                Ok(())
            }
            Op::ServerStatus { name, status, add } => {
                // The registry's to set on any domain, whatever its state.
                let Some(d) = self.domains.get_mut(&name) else { return refuse("not_found") };
                if add {
                    d.statuses.insert(SERVER_STATUSES[status]);
                } else {
                    d.statuses.remove(SERVER_STATUSES[status]);
                }
                Ok(())
            }
            Op::DecideRegistrant { name, accept } => {
                let Some(d) = self.domains.get_mut(&name) else { return refuse("not_found") };
                // Cancelled after REVIEW_HOURS without a document: from then on there is nothing
                // to decide, whether or not the job has run yet.
                let Some((holder, _)) = d.pending_registrant.filter(|(_, since)| now < since + REVIEW_HOURS * HOUR)
                else {
                    return refuse("conflict");
                };
                d.statuses.remove("pendingUpdate");
                d.pending_registrant = None;
                if accept {
                    d.registrant = Holder::Own(holder);
                    self.polls.push((d.sponsor, "registrant_change.accepted", name));
                } else {
                    self.polls.push((d.sponsor, "registrant_change.refused", name));
                }
                Ok(())
            }
            Op::RenewAgain | Op::AdvanceNear { .. } | Op::Retry => unreachable!("resolved by concrete()"),
            Op::Credit { reg, amount } => {
                self.balance[reg] += amount;
                Ok(())
            }
            Op::Advance { secs, job } => {
                self.now += secs;
                if job {
                    self.lifecycle();
                }
                Ok(())
            }
            Op::Lifecycle => {
                self.lifecycle();
                Ok(())
            }
        }
    }

    /// The lifecycle at `now`: every domain whose time has come, the earliest first (by its
    /// event time, then name): a domain whose restore period is over is purged; an expired one
    /// is auto-renewed a year at a time up to now when auto-renew is on, renewal is not
    /// prohibited and the balance pays every year, otherwise it goes to pendingDelete.
    fn lifecycle(&mut self) {
        let now = self.now;
        let rules = self.rules;
        let mut due: Vec<(i64, &str, usize)> = self
            .domains
            .iter()
            .filter(|(_, d)| d.due(&rules) <= now)
            .map(|(n, d)| (d.due(&rules), NAMES[*n], *n))
            .collect();
        due.sort();
        for (_, _, name) in due {
            let d = self.domains.get_mut(&name).expect("due domain");
            if d.pending_delete() {
                self.polls.push((d.sponsor, "domain.purged", name));
                self.domains.remove(&name);
                continue;
            }
            // A registrant change without its document in time is cancelled.
            if let Some((_, since)) = d.pending_registrant
                && now >= since + REVIEW_HOURS * HOUR
            {
                d.pending_registrant = None;
                d.statuses.remove("pendingUpdate");
                self.polls.push((d.sponsor, "registrant_change.cancelled", name));
            }
            if d.expires > now {
                continue;
            }
            let mut years = 0i64;
            let mut expires = d.expires;
            while expires <= now {
                expires = add_years(expires, 1);
                years += 1;
            }
            let renewable = d.auto_renew && !d.prohibits("Renew");
            if renewable && years <= i64::from(MAX_YEARS_AHEAD) && self.balance[d.sponsor] >= RENEW * years {
                d.expires = expires;
                self.balance[d.sponsor] -= RENEW * years;
                self.polls.push((d.sponsor, "domain.autorenewed", name));
            } else {
                self.polls.push((d.sponsor, "domain.expired", name));
                if rules.restore_days == 0 {
                    self.domains.remove(&name);
                } else {
                    d.enter_pending_delete(now);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The system under test

struct Sut {
    _dir: tempfile::TempDir,
    registry: Registry,
    clock: Clock,
    /// Handles of each registrar's own contacts, in `CONTACTS` order.
    contacts: [Vec<String>; 2],
    /// The auth code each name had before its current one (a transfer or a new code replaced it).
    previous_code: HashMap<usize, String>,
    current_code: HashMap<usize, String>,
}

/// A temporary directory on tmpfs when there is one: every command commits durably, and fsync
/// on a shared disk would make the test slow without testing anything more.
fn tempdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().unwrap()
}

fn nameservers(n: u8) -> Vec<NameserverInput> {
    (1..=n).map(|i| NameserverInput { name: format!("ns{i}.example.net"), addresses: vec![] }).collect()
}

fn contact_input(org: bool, fiscal: bool) -> ContactInput {
    let mut body = if org { org_body() } else { person_body() };
    if !fiscal {
        body.as_object_mut().unwrap().remove("fiscal_id");
    }
    serde_json::from_value(body).unwrap()
}

impl Sut {
    async fn new(rules: &Rules) -> Sut {
        let dir = tempdir();
        let path = write_config(dir.path(), rules.config);
        let settings = nicbox::config::load(&path).unwrap();
        std::fs::create_dir_all(&settings.data_dir).unwrap();
        let store = Store::create(&settings.db_path()).unwrap();
        let clock = Clock::manual(Timestamp(T0));
        let registry = Registry::with_clock(store, settings, clock.clone());
        let mut contacts: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        for (i, id) in REGISTRARS.iter().enumerate() {
            registry
                .registrar_add(
                    NewRegistrar {
                        id: (*id).into(),
                        name: format!("Registrar {id}"),
                        email: format!("{id}@example.net"),
                        balance_cents: OPENING[i],
                    },
                    Actor::System("model".into()),
                )
                .await
                .unwrap();
            for (org, fiscal) in CONTACTS[i] {
                let c = registry.contact_create(id, contact_input(*org, *fiscal)).await.unwrap();
                contacts[i].push(c.handle);
            }
        }
        Sut { _dir: dir, registry, clock, contacts, previous_code: HashMap::new(), current_code: HashMap::new() }
    }

    fn contact(&self, reg: usize, pick: Pick) -> String {
        match pick {
            Pick::Own(i) => self.contacts[reg][i % self.contacts[reg].len()].clone(),
            Pick::Foreign => self.contacts[1 - reg][0].clone(),
        }
    }

    /// Runs one operation; `reg` is the registrar the model resolved for it. Returns nicbox's
    /// outcome as the model's: Ok, or the refusal's code.
    async fn apply(&mut self, op: &Op, reg: usize, key: Option<&str>) -> Result<(), String> {
        let r = &self.registry;
        let id = REGISTRARS[reg];
        // The key names the request; the fingerprint stands for its content.
        let idem = key.map(|k| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            format!("{op:?} {reg}").hash(&mut h);
            Idem { key: k.to_string(), fingerprint: [h.finish().to_le_bytes(); 4].concat().try_into().unwrap() }
        });
        let res: Result<(), RegistryError> = match *op {
            Op::Create { name, period, contact, ns, auto_renew, .. } => {
                let h = self.contact(reg, contact);
                let req = DomainCreate {
                    name: NAMES[name].into(),
                    period_years: period,
                    registrant: h.clone(),
                    admin: h.clone(),
                    tech: Some(h),
                    billing: None,
                    nameservers: nameservers(ns),
                    ds: vec![],
                    auto_renew,
                    registration_basis: None,
                    legitimacy: None,
                    owner_visible: None,
                };
                r.domain_create_idem(id, req, idem).await.map(drop)
            }
            Op::Renew { name, period, stated, .. } => {
                let req = RenewRequest { period_years: period, current_expiry_year: stated };
                r.domain_renew(id, NAMES[name], req, idem).await.map(drop)
            }
            Op::Decide { name, accept } => {
                r.decide_registration(NAMES[name], accept, "model test", Actor::System("model".into())).await.map(drop)
            }
            Op::ServerStatus { name, status, add } => {
                let s = vec![Status::parse(SERVER_STATUSES[status]).unwrap()];
                let (add, remove) = if add { (s, vec![]) } else { (vec![], s) };
                r.set_server_statuses(NAMES[name], add, remove, Actor::System("model".into())).await.map(drop)
            }
            Op::DecideRegistrant { name, accept } => {
                let actor = Actor::System("model".into());
                r.decide_registrant_change(NAMES[name], accept, "DOC-1", actor).await.map(drop)
            }
            Op::RenewAgain | Op::AdvanceNear { .. } | Op::Retry => unreachable!("resolved by concrete()"),
            Op::Delete { name, .. } => r.domain_delete(id, NAMES[name]).await.map(drop),
            Op::Restore { name, .. } => r.domain_restore(id, NAMES[name], idem).await.map(drop),
            Op::NewAuthCode { name, .. } => r.domain_new_auth_code(id, NAMES[name], None).await.map(drop),
            Op::Transfer { name, code, roid_right, .. } => {
                let stored = r.domain_any(NAMES[name]).unwrap();
                let auth_code = match code {
                    Code::Current => stored.as_ref().map(|d| d.auth_code.clone()),
                    Code::Previous => self.previous_code.get(&name).cloned(),
                    Code::Wrong => None,
                }
                .unwrap_or_else(|| "Wr0ngWr0ngWr0ng9".into());
                let roid = match (&stored, roid_right) {
                    (Some(d), true) => d.roid.clone(),
                    _ => "D999999999-PT".into(),
                };
                r.domain_transfer(id, NAMES[name], TransferRequest { auth_code, roid }, idem).await.map(drop)
            }
            Op::Nameservers { name, ns, .. } => {
                let patch = DomainPatch { nameservers: Some(nameservers(ns)), ..DomainPatch::default() };
                r.domain_update(id, NAMES[name], patch).await.map(drop)
            }
            Op::AutoRenew { name, on, .. } => {
                let patch = DomainPatch { auto_renew: Some(on), ..DomainPatch::default() };
                r.domain_update(id, NAMES[name], patch).await.map(drop)
            }
            Op::ClientStatus { name, status, add, .. } => {
                let s = vec![CLIENT_STATUSES[status].to_string()];
                let patch = if add {
                    DomainPatch { add_status: s, ..DomainPatch::default() }
                } else {
                    DomainPatch { remove_status: s, ..DomainPatch::default() }
                };
                r.domain_update(id, NAMES[name], patch).await.map(drop)
            }
            Op::ChangeRegistrant { name, contact, .. } => {
                let req = RegistrantChangeRequest { registrant: self.contact(reg, contact) };
                r.domain_change_registrant(id, NAMES[name], req, None).await.map(drop)
            }
            Op::Credit { amount, .. } => {
                r.registrar_credit(id, amount, "model test", Actor::System("model".into())).await.map(drop)
            }
            Op::Advance { secs, job } => {
                self.clock.advance(secs);
                if job { r.run_lifecycle().await.map(drop) } else { Ok(()) }
            }
            Op::Lifecycle => r.run_lifecycle().await.map(drop),
        };
        // Keep the auth codes: the current one of each name, and the one before it.
        for (i, n) in NAMES.iter().enumerate() {
            if let Some(d) = r.domain_any(n).unwrap()
                && let Some(old) = self.current_code.insert(i, d.auth_code.clone())
                && old != d.auth_code
            {
                self.previous_code.insert(i, old);
            }
        }
        res.map_err(|e| e.code.as_str().to_string())
    }

    /// The poll messages waiting (each registrar reads and acknowledges its queue): (registrar,
    /// kind, name), sorted.
    async fn drain_polls(&self) -> Vec<(usize, String, usize)> {
        let mut out = Vec::new();
        for (i, id) in REGISTRARS.iter().enumerate() {
            loop {
                let (_, msgs) = self.registry.poll_list(id).unwrap();
                if msgs.is_empty() {
                    break;
                }
                for m in msgs {
                    let name = NAMES.iter().position(|n| Some(*n) == m.domain.as_deref()).unwrap_or(usize::MAX);
                    out.push((i, m.kind.clone(), name));
                    self.registry.poll_ack(id, m.id).await.unwrap();
                }
            }
        }
        out.sort();
        out
    }

    /// Differences between nicbox's state and the model's, one line each.
    fn compare(&self, m: &Model) -> Vec<String> {
        let r = &self.registry;
        let mut out = Vec::new();
        if r.now().0 != m.now {
            out.push(format!("registry time {} vs model {}", r.now().0, m.now));
        }
        for (i, n) in NAMES.iter().enumerate() {
            let got = r.domain_any(n).unwrap();
            match (got, m.domains.get(&i)) {
                (None, None) => {}
                (Some(d), None) => out.push(format!("{n}: exists in nicbox ({:?}), free in the model", d.statuses)),
                (None, Some(md)) => out.push(format!("{n}: missing in nicbox, the model has {md:?}")),
                (Some(d), Some(md)) => {
                    if d.registrar != REGISTRARS[md.sponsor] {
                        out.push(format!("{n}: sponsor {} vs model {}", d.registrar, REGISTRARS[md.sponsor]));
                    }
                    if d.expires.0 != md.expires {
                        out.push(format!(
                            "{n}: expires {} vs model {}",
                            d.expires.to_rfc3339(),
                            Timestamp(md.expires).to_rfc3339()
                        ));
                    }
                    let st: BTreeSet<String> = d.effective_statuses(2).iter().map(|s| s.as_str().to_string()).collect();
                    if st != md.published() {
                        out.push(format!("{n}: statuses {st:?} vs model {:?}", md.published()));
                    }
                    if d.auto_renew != md.auto_renew {
                        out.push(format!("{n}: auto_renew {} vs model {}", d.auto_renew, md.auto_renew));
                    }
                    if d.nameservers.len() != usize::from(md.ns) {
                        out.push(format!("{n}: {} nameservers vs model {}", d.nameservers.len(), md.ns));
                    }
                    let own = &self.contacts[md.sponsor];
                    let pending = md.pending_registrant.map(|(h, _)| own[h].clone());
                    if d.pending_registrant != pending {
                        out.push(format!("{n}: registrant waiting {:?} vs model {pending:?}", d.pending_registrant));
                    }
                    match md.registrant {
                        Holder::Own(h) if d.registrant != own[h] => {
                            out.push(format!("{n}: registrant {} vs model {}", d.registrant, own[h]));
                        }
                        Holder::Copied => match r.contact_any(&d.registrant).unwrap() {
                            Some(c) if c.registrar == d.registrar && !own.contains(&d.registrant) => {}
                            c => out.push(format!(
                                "{n}: registrant {} should be a copy held by {}: {c:?}",
                                d.registrant, d.registrar
                            )),
                        },
                        _ => {}
                    }
                }
            }
        }
        let counters: HashMap<String, i64> = r.counters("domains.registrar:").unwrap().into_iter().collect();
        for (i, id) in REGISTRARS.iter().enumerate() {
            let balance = r.registrar_get(id).unwrap().balance_cents;
            if balance != m.balance[i] {
                out.push(format!("{id}: balance {balance} vs model {}", m.balance[i]));
            }
            let want = m.domains.values().filter(|d| d.sponsor == i).count();
            let listed = r.domain_list(id, None, 100).unwrap().len();
            let counted = counters.get(&format!("domains.registrar:{id}")).copied().unwrap_or(0);
            if listed != want || counted != want as i64 {
                out.push(format!("{id}: {listed} domains listed, counter {counted}, model {want}"));
            }
        }
        out
    }
}

/// The step with its name resolved (see [`name`]): a name of the pool stays; otherwise the
/// k-th registered name of the model (k modulo their number), or the pool's k-th when none is.
fn concrete(op: &Op, m: &Model, last_renew: &Option<Op>) -> Op {
    let pool = NAMES.len();
    let resolve = |n: usize| {
        if n < pool {
            return n;
        }
        let k = n - pool;
        let registered: Vec<usize> = m.domains.keys().copied().collect();
        if registered.is_empty() { k } else { registered[k % registered.len()] }
    };
    let mut op = op.clone();
    match &mut op {
        Op::Renew { name, .. }
        | Op::Delete { name, .. }
        | Op::Restore { name, .. }
        | Op::NewAuthCode { name, .. }
        | Op::Transfer { name, .. }
        | Op::Nameservers { name, .. }
        | Op::ClientStatus { name, .. }
        | Op::AutoRenew { name, .. }
        | Op::ChangeRegistrant { name, .. }
        | Op::DecideRegistrant { name, .. }
        | Op::ServerStatus { name, .. }
        | Op::AdvanceNear { name, .. } => *name = resolve(*name),
        Op::RenewAgain
        | Op::Retry
        | Op::Decide { .. }
        | Op::Create { .. }
        | Op::Credit { .. }
        | Op::Advance { .. }
        | Op::Lifecycle => {}
    }
    if let Op::Renew { name, year_off, stated, .. } = &mut op {
        // The year as the registrar read it (the model's expiry; the comparison after each step
        // holds nicbox to the same), or a wrong one.
        *stated = m.domains.get(name).map_or(year_of(m.now), |d| year_of(d.expires)) + *year_off;
    }
    if let Op::AdvanceNear { name, before, job } = op {
        let target = m.domains.get(&name).map(|d| d.due(&m.rules)).filter(|t| *t != i64::MAX);
        let secs = target.map_or(HOUR, |t| t - before - m.now);
        return Op::Advance { secs: if secs > 0 { secs } else { HOUR }, job };
    }
    if let Op::RenewAgain = op {
        // A retry of the last renewal, verbatim (a first renewal with a year nobody holds when
        // there was none).
        return last_renew.clone().unwrap_or(Op::Renew {
            who: Who::Sponsor,
            name: 0,
            period: 1,
            year_off: 0,
            stated: 0,
        });
    }
    op
}

/// Runs one sequence against a fresh registry and the model; the first disagreement fails it.
async fn run(ops: &[Op], seen: &Seen, rules: Rules) -> Result<(), TestCaseError> {
    let mut sut = Sut::new(&rules).await;
    let mut model = Model::new(rules);
    let mut result = Ok(());
    let mut last_renew = None;
    // The last idempotent command that succeeded: (command, registrar, key, when).
    let mut last_idem: Option<(Op, usize, String, i64)> = None;
    for (step, op) in ops.iter().enumerate() {
        if let Op::Retry = op {
            // Within the day the registry keeps keys (the job forgets them after 24 hours).
            let Some((op, reg, key, _)) = last_idem.clone().filter(|(.., at)| model.now - at < 23 * HOUR) else {
                *seen.lock().unwrap().entry("retry: none to send".into()).or_default() += 1;
                continue;
            };
            let got = sut.apply(&op, reg, Some(&key)).await;
            *seen.lock().unwrap().entry(format!("retry {}: {:?}", kind(&op), got.as_ref().err())).or_default() += 1;
            let mut diffs = Vec::new();
            if got != Ok(()) {
                diffs.push(format!("outcome {got:?} vs model Ok (the first answer)"));
            }
            diffs.extend(sut.compare(&model));
            let got_polls = sut.drain_polls().await;
            if !got_polls.is_empty() {
                diffs.push(format!("poll messages {got_polls:?} vs model none"));
            }
            if !diffs.is_empty() {
                result = Err(TestCaseError::fail(format!(
                    "step {step}: retry of {op:?} (as {}, key {key}):\n  {}",
                    REGISTRARS[reg],
                    diffs.join("\n  ")
                )));
                break;
            }
            continue;
        }
        let op = &concrete(op, &model, &last_renew);
        if let Op::Renew { .. } = op {
            last_renew = Some(op.clone());
        }
        let reg = match *op {
            Op::Create { reg, .. } | Op::Credit { reg, .. } => reg,
            Op::Renew { who, name, .. }
            | Op::Delete { who, name }
            | Op::Restore { who, name }
            | Op::NewAuthCode { who, name }
            | Op::Nameservers { who, name, .. }
            | Op::ClientStatus { who, name, .. }
            | Op::AutoRenew { who, name, .. }
            | Op::ChangeRegistrant { who, name, .. } => model.resolve(who, name),
            Op::Transfer { gaining, name, .. } => model.resolve(gaining, name),
            Op::Decide { name, .. } | Op::DecideRegistrant { name, .. } | Op::ServerStatus { name, .. } => {
                model.domains.get(&name).map_or(0, |d| d.sponsor)
            }
            Op::Advance { .. } | Op::Lifecycle => 0,
            Op::RenewAgain | Op::AdvanceNear { .. } | Op::Retry => unreachable!("resolved by concrete()"),
        };
        let (code_ok, roid_ok) = match *op {
            Op::Transfer { code, roid_right, .. } => (matches!(code, Code::Current), roid_right),
            _ => (false, false),
        };
        let want = model.apply(op, code_ok, roid_ok).map_err(str::to_string);
        let idempotent = matches!(op, Op::Create { .. } | Op::Renew { .. } | Op::Transfer { .. } | Op::Restore { .. });
        let key = format!("k{step}");
        let got = sut.apply(op, reg, idempotent.then_some(key.as_str())).await;
        if idempotent && got.is_ok() && want.is_ok() {
            last_idem = Some((op.clone(), reg, key.clone(), model.now));
        }
        let outcome = match &got {
            Ok(()) => "ok",
            Err(code) => code.as_str(),
        };
        *seen.lock().unwrap().entry(format!("{}: {outcome}", kind(op))).or_default() += 1;
        let mut diffs = Vec::new();
        if got != want {
            diffs.push(format!("outcome {got:?} vs model {want:?}"));
        }
        diffs.extend(sut.compare(&model));
        let mut want_polls: Vec<(usize, String, usize)> =
            model.polls.drain(..).map(|(r, k, n)| (r, k.to_string(), n)).collect();
        want_polls.sort();
        let got_polls = sut.drain_polls().await;
        if got_polls != want_polls {
            diffs.push(format!("poll messages {got_polls:?} vs model {want_polls:?}"));
        }
        if !diffs.is_empty() {
            result = Err(TestCaseError::fail(format!(
                "step {step}: {op:?} (as {}), at {}:\n  {}",
                REGISTRARS[reg],
                Timestamp(model.now).to_rfc3339(),
                diffs.join("\n  ")
            )));
            break;
        }
    }
    if result.is_ok() {
        // The deep check: counters and indexes against the records, balances against the
        // ledger, every history complete, poll queues against their counters, the zone journal.
        let r = &sut.registry;
        let (snap, zone_snap) = (r.store().read().unwrap(), r.store().read().unwrap());
        let findings = nicbox::deep::run(r.settings(), &snap, zone_snap).unwrap().findings;
        if !findings.is_empty() {
            result = Err(TestCaseError::fail(format!("deep check after {} steps: {findings:?}", ops.len())));
        }
    }
    sut.registry.close();
    result
}

fn cases() -> u32 {
    std::env::var("NICBOX_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(128)
}

/// Outcomes seen per operation kind (`kind: ok` or `kind: code`), printed at the end of a run
/// so that a reader can see what the sequences reached.
type Seen = std::sync::Mutex<BTreeMap<String, u64>>;

fn kind(op: &Op) -> &'static str {
    match op {
        Op::Create { .. } => "create",
        Op::Renew { .. } => "renew",
        Op::RenewAgain => "renew_again",
        Op::Retry => "retry",
        Op::Decide { .. } => "decide",
        Op::DecideRegistrant { .. } => "decide_registrant",
        Op::ServerStatus { .. } => "server_status",
        Op::Delete { .. } => "delete",
        Op::Restore { .. } => "restore",
        Op::NewAuthCode { .. } => "auth_code",
        Op::Transfer { .. } => "transfer",
        Op::Nameservers { .. } => "nameservers",
        Op::ClientStatus { .. } => "client_status",
        Op::AutoRenew { .. } => "auto_renew",
        Op::ChangeRegistrant { .. } => "registrant_change",
        Op::Credit { .. } => "credit",
        Op::Advance { .. } => "advance",
        Op::AdvanceNear { .. } => "advance_near",
        Op::Lifecycle => "lifecycle",
    }
}

/// Runs `cases` random sequences under `rules`; a failure is shrunk to a short sequence and its
/// seed saved in `tests/it/model.proptest-regressions` (replayed first by every run).
fn follow(rules: Rules, cases: u32) {
    let config = ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/it/model.proptest-regressions"))),
        max_shrink_iters: 4_096,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let seen = Seen::default();
    let started = std::time::Instant::now();
    let result = runner.run(&prop::collection::vec(op(), 1..40), |ops| {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(&ops, &seen, rules))
    });
    let seen = seen.into_inner().unwrap();
    let lines: Vec<String> = seen.iter().map(|(k, n)| format!("{k} {n}")).collect();
    eprintln!("model ({}): {cases} sequences in {:.1?}; outcomes: {}", rules.name, started.elapsed(), lines.join(", "));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The `pt` profile as shipped.
#[test]
fn registry_follows_the_model() {
    follow(PT, cases());
}

/// No restore period, registrant changes in review.
#[test]
fn registry_follows_the_model_variant() {
    follow(VARIANT, cases().div_ceil(2));
}

/// The model's own arithmetic: calendar years, premium prices, the lifecycle's order.
#[test]
fn model_sanity() {
    assert_eq!(add_years(T0, 1) - T0, 365 * DAY);
    let feb29 = time::macros::datetime!(2028-02-29 12:00 UTC).unix_timestamp();
    assert_eq!(add_years(feb29, 1), time::macros::datetime!(2029-02-28 12:00 UTC).unix_timestamp());
    assert!(premium("xy.pt") && !premium("alfa.pt") && !premium("casa-nova.com.pt"));
    let mut m = Model::new(PT);
    let create = |name| Op::Create { reg: 1, name, period: 1, contact: Pick::Own(0), ns: 2, auto_renew: true };
    assert_eq!(m.apply(&create(0), false, false), Ok(()));
    assert_eq!(m.apply(&create(1), false, false), Ok(()));
    assert_eq!(m.balance[1], OPENING[1] - 2 * CREATE);
    m.balance[1] = RENEW; // one renewal's worth: the first to expire (same time: by name) gets it.
    assert_eq!(m.apply(&Op::Advance { secs: 366 * DAY, job: true }, false, false), Ok(()));
    assert!(!m.domains[&0].pending_delete() && m.domains[&1].pending_delete());
    assert_eq!(m.balance[1], 0);
}

/// The sequences the property found (shrunk), kept as they were printed: proptest's saved seeds
/// replay a failure only while the strategy stays the same, so a change of the operations'
/// mix would silently turn them into other sequences. These stay what they were.
#[test]
fn kept_sequences() {
    let create = |name| Op::Create { reg: 0, name, period: 1, contact: Pick::Own(0), ns: 0, auto_renew: false };
    let first = NAMES.len(); // the first registered name
    let kept: [(Rules, &str, Vec<Op>); 5] = [
        (
            PT,
            "a registration accepted after its review gets its period from the acceptance",
            vec![create(6), Op::Advance { secs: HOUR, job: false }, Op::Decide { name: 6, accept: true }],
        ),
        (
            PT,
            "a renewal is charged once (found with a deliberate break)",
            vec![
                create(0),
                Op::Advance { secs: 305 * DAY, job: false },
                Op::Renew { who: Who::Sponsor, name: first, period: 1, year_off: 0, stated: 0 },
            ],
        ),
        (
            PT,
            "an expired domain goes to its redemption period (found with a deliberate break)",
            vec![
                create(0),
                Op::AdvanceNear { name: first, before: 0, job: false },
                Op::Advance { secs: HOUR, job: true },
            ],
        ),
        (
            VARIANT,
            "a registrant change cannot be decided after its review hours",
            vec![
                create(0),
                Op::Transfer { gaining: Who::Other, name: first, code: Code::Current, roid_right: true },
                Op::ChangeRegistrant { who: Who::Sponsor, name: first, contact: Pick::Own(0) },
                Op::AdvanceNear { name: first, before: 0, job: false },
                Op::DecideRegistrant { name: first, accept: false },
            ],
        ),
        (
            PT,
            "a new auth code keeps the history complete (check --deep)",
            vec![create(0), create(0), Op::NewAuthCode { who: Who::Sponsor, name: first }],
        ),
    ];
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut failed = Vec::new();
    for (rules, what, ops) in kept {
        if let Err(e) = rt.block_on(run(&ops, &Seen::default(), rules)) {
            failed.push(format!("{what}: {e}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
