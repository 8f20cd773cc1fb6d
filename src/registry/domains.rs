//! Domains: availability, registration, reading, changing, listing and history.
//!
//! Every command checks all of its rules before its first write (see `writer`). Names arrive as
//! U-labels or A-labels and are keyed by the A-label.

use serde::{Deserialize, Serialize};

use super::error::{Code, RegistryError, err};
use super::registrars::charge;
use super::{Registry, put_domain_counted, random_code, record, validate};
use crate::limits::{AUTH_CODE_CHARS, CHECK_NAMES_MAX, HISTORY_ENTRIES_MAX, NAME_INPUT_BYTES_MAX};
use crate::model::{Actor, Domain, HistoryEntry, Snapshot, Status, Timestamp};
use crate::policy::DelegationCheck;
use crate::policy::{Name, NameError, Profile};
use crate::store::WriteTx;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameserverInput {
    pub name: String,
    #[serde(default)]
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsInput {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub digest: String,
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// A registration request (CONTRACT.md section 3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainCreate {
    pub name: String,
    #[serde(default = "one")]
    pub period_years: u32,
    pub registrant: String,
    pub admin: String,
    #[serde(default)]
    pub tech: Option<String>,
    #[serde(default)]
    pub billing: Option<String>,
    #[serde(default)]
    pub nameservers: Vec<NameserverInput>,
    #[serde(default)]
    pub ds: Vec<DsInput>,
    #[serde(default = "yes")]
    pub auto_renew: bool,
    #[serde(default)]
    pub registration_basis: Option<String>,
    #[serde(default)]
    pub legitimacy: Option<String>,
    #[serde(default)]
    pub owner_visible: Option<bool>,
}

/// A change to a domain: each field given replaces the stored one; statuses are added and
/// removed by name. The registrant is changed by the registrant-change command, not here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainPatch {
    pub nameservers: Option<Vec<NameserverInput>>,
    pub admin: Option<String>,
    pub tech: Option<String>,
    pub billing: Option<String>,
    pub ds: Option<Vec<DsInput>>,
    #[serde(default)]
    pub add_status: Vec<String>,
    #[serde(default)]
    pub remove_status: Vec<String>,
    pub auto_renew: Option<bool>,
    pub owner_visible: Option<bool>,
    /// Present only to answer with a clear error: the registrant changes through
    /// `POST /domains/{name}/registrant`.
    #[serde(default)]
    pub registrant: Option<serde::de::IgnoredAny>,
}

impl DomainPatch {
    fn only_status_changes(&self) -> bool {
        self.nameservers.is_none()
            && self.admin.is_none()
            && self.tech.is_none()
            && self.billing.is_none()
            && self.ds.is_none()
            && self.auto_renew.is_none()
            && self.owner_visible.is_none()
    }
}

/// The availability of one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The A-label name (the input as given when it is not a name at all).
    pub name: String,
    pub unicode_name: Option<String>,
    pub available: bool,
    /// Why not: `registered`, `reserved`, `zone_closed`, `invalid`, `other_tld`; absent when available.
    pub reason: Option<String>,
    /// The reason in words.
    pub detail: Option<String>,
}

fn check_reason(e: &NameError) -> &'static str {
    match e {
        NameError::OtherTld => "other_tld",
        NameError::ZoneClosed(_) => "zone_closed",
        NameError::Reserved(_) | NameError::Blocked(_) => "reserved",
        _ => "invalid",
    }
}

fn nameserver_pairs(ns: &[NameserverInput]) -> Vec<(String, Vec<String>)> {
    ns.iter().map(|n| (n.name.clone(), n.addresses.clone())).collect()
}

fn ds_tuples(ds: &[DsInput]) -> Vec<(u16, u8, u8, String)> {
    ds.iter().map(|d| (d.key_tag, d.algorithm, d.digest_type, d.digest.clone())).collect()
}

/// A contact that `registrar` may use on a domain, checked for the fiscal id when required.
fn usable_contact(
    tx: &WriteTx,
    registrar: &str,
    role: &str,
    handle: &str,
    fiscal_required: bool,
) -> Result<(), RegistryError> {
    match tx.with_contact(handle, |c| (c.registrar == registrar, c.fiscal_id.is_some()))? {
        Some((true, has_fiscal)) => {
            if fiscal_required && !has_fiscal {
                return err(
                    Code::MissingFiscalId,
                    format!("{role} contact {handle} has no fiscal_id, which this TLD requires"),
                );
            }
            Ok(())
        }
        _ => err(Code::InvalidContact, format!("{role} contact {handle} does not exist")),
    }
}

/// The price of a registration: per year, with the premium price for the first year of a
/// premium name.
pub(super) fn create_price(p: &crate::model::Prices, years: u32, premium: bool) -> i64 {
    let years = i64::from(years);
    if premium { p.create_premium + p.create * (years - 1) } else { p.create * years }
}

/// Everything a registration needs that can be checked without the database.
pub(super) struct PreparedCreate {
    pub name: Name,
    pub profile: Profile,
    pub req: DomainCreate,
    pub nameservers: Vec<crate::model::Nameserver>,
    pub ds: Vec<crate::model::Ds>,
    pub premium: bool,
    pub review: bool,
}

impl Registry {
    /// A-label key of a name as typed: the parsed name, or for names current rules no longer
    /// accept (imported legacy names), the trimmed lower-case input.
    pub fn name_key(&self, input: &str) -> Result<String, RegistryError> {
        if input.len() > NAME_INPUT_BYTES_MAX {
            return err(Code::InvalidName, "name too long");
        }
        match self.policy().parse(input) {
            Ok(n) => Ok(n.ascii),
            Err(NameError::OtherTld) => err(Code::InvalidName, NameError::OtherTld.to_string()),
            Err(e) => {
                let raw = input.trim().trim_end_matches('.').to_ascii_lowercase();
                if raw.is_empty() || !raw.is_ascii() {
                    return Err(e.into());
                }
                Ok(raw)
            }
        }
    }

    /// Availability of up to `CHECK_NAMES_MAX` names.
    pub fn check(&self, names: &[String]) -> Result<Vec<CheckResult>, RegistryError> {
        if names.is_empty() {
            return err(Code::InvalidRequest, "give at least one name");
        }
        if names.len() > CHECK_NAMES_MAX {
            return err(Code::InvalidRequest, format!("at most {CHECK_NAMES_MAX} names per check"));
        }
        let r = self.read()?;
        let mut out = Vec::with_capacity(names.len());
        for input in names {
            // An over-long name is answered like any invalid one (the policy bounds its work).
            let parsed = self.policy().parse(input);
            let res = match parsed {
                Err(e) => CheckResult {
                    name: input.trim().chars().take(NAME_INPUT_BYTES_MAX / 4).collect(),
                    unicode_name: None,
                    available: false,
                    reason: Some(check_reason(&e).into()),
                    detail: Some(e.to_string()),
                },
                Ok(n) => {
                    let (available, reason, detail) = if r.domain_exists(&n.ascii)? {
                        (false, Some("registered".to_string()), Some("the name is registered".to_string()))
                    } else {
                        match self.policy().check_new(&n) {
                            Ok(()) => (true, None, None),
                            Err(e) => (false, Some(check_reason(&e).to_string()), Some(e.to_string())),
                        }
                    };
                    CheckResult { name: n.ascii, unicode_name: Some(n.unicode), available, reason, detail }
                }
            };
            out.push(res);
        }
        Ok(out)
    }

    fn profile_of(&self, name: &Name) -> Result<Profile, RegistryError> {
        self.policy()
            .tld_of(&name.ascii)
            .map(|t| t.profile.clone())
            .ok_or_else(|| RegistryError::new(Code::InvalidName, "not a TLD of this registry"))
    }

    /// The checks of a registration that need no database.
    pub(super) fn prepare_create(&self, req: DomainCreate, new_name: bool) -> Result<PreparedCreate, RegistryError> {
        if req.name.len() > NAME_INPUT_BYTES_MAX {
            return err(Code::InvalidName, "name too long");
        }
        let name = self.policy().parse(&req.name)?;
        if new_name {
            self.policy().check_new(&name)?;
        }
        let profile = self.profile_of(&name)?;
        if new_name && !profile.create_periods.contains(&req.period_years) {
            return err(
                Code::InvalidPeriod,
                format!("period_years {} is not one of {:?}", req.period_years, profile.create_periods),
            );
        }
        if profile.tech_required && req.tech.is_none() {
            return err(Code::InvalidContact, "a tech contact is required in this TLD");
        }
        let nameservers = validate::nameservers(&name.ascii, &nameserver_pairs(&req.nameservers), &profile)?;
        let ds = validate::ds(&ds_tuples(&req.ds))?;
        let premium = self.policy().is_premium(&name);
        let review = self.policy().needs_review(&name);
        Ok(PreparedCreate { name, profile, req, nameservers, ds, premium, review })
    }

    /// Registers a domain for `registrar`. In review mode the domain waits as `pendingCreate`.
    pub async fn domain_create(&self, registrar: &str, req: DomainCreate) -> Result<Domain, RegistryError> {
        self.domain_create_idem(registrar, req, None).await
    }

    /// Registers a domain; a repeat of the same request with the same Idempotency-Key returns
    /// the first answer and charges nothing.
    pub async fn domain_create_idem(
        &self,
        registrar: &str,
        req: DomainCreate,
        idem: Option<super::Idem>,
    ) -> Result<Domain, RegistryError> {
        let now = self.now();
        let registrar = registrar.to_string();
        let this = self.clone();
        // A retry must get the first answer even where the request would now be refused (the
        // name is taken: by this very request), so the rules are checked inside.
        let prepared = self.prepare_create(req, true);
        self.submit(move |tx| {
            super::idem::idempotent(tx, &registrar, idem.as_ref(), now, |tx| match &prepared {
                Ok(p) => this.create_in(tx, &registrar, p, now),
                Err(e) => Err(e.clone()),
            })
        })
        .await
    }

    fn create_in(
        &self,
        tx: &mut WriteTx,
        registrar: &str,
        p: &PreparedCreate,
        now: Timestamp,
    ) -> Result<Domain, RegistryError> {
        let name = &p.name;
        if tx.domain_exists(&name.ascii)? {
            return err(Code::NotAvailable, format!("{} is already registered", name.unicode));
        }
        let mut reg = match tx.registrar(registrar)? {
            Some(r) if r.enabled => r,
            _ => return err(Code::Unauthorized, "unknown registrar"),
        };
        let fiscal = p.profile.fiscal_id_required;
        let req = &p.req;
        usable_contact(tx, registrar, "registrant", &req.registrant, fiscal)?;
        usable_contact(tx, registrar, "admin", &req.admin, fiscal)?;
        if let Some(t) = &req.tech {
            usable_contact(tx, registrar, "tech", t, fiscal)?;
        }
        if let Some(b) = &req.billing {
            usable_contact(tx, registrar, "billing", b, false)?;
        }
        let price = create_price(&self.prices_for(&reg, &name.tld), req.period_years, p.premium);
        if reg.balance_cents < price {
            return err(
                Code::InsufficientFunds,
                format!("the registration costs {price} cents and the balance is {} cents", reg.balance_cents),
            );
        }
        // Every rule holds: from here on, only writes.
        let roid = format!("D{:09}-{}", tx.next_seq("roid")?, name.tld.to_ascii_uppercase());
        let mut d = Domain {
            name: name.ascii.clone(),
            unicode_name: name.unicode.clone(),
            roid,
            zone: name.zone.clone(),
            tld: name.tld.clone(),
            registrar: registrar.to_string(),
            registrant: req.registrant.clone(),
            admin: req.admin.clone(),
            tech: req.tech.clone(),
            billing: req.billing.clone(),
            nameservers: p.nameservers.clone(),
            ds: p.ds.clone(),
            statuses: Vec::new(),
            created: now,
            expires: now.add_years(i32::try_from(req.period_years).unwrap_or(1)),
            updated: now,
            auto_renew: req.auto_renew,
            auth_code: random_code(AUTH_CODE_CHARS),
            auth_code_issued: now,
            deleted: None,
            registration_basis: req.registration_basis.clone(),
            legitimacy: req.legitimacy.clone(),
            owner_visible: req.owner_visible.unwrap_or(true),
            pending_registrant: None,
            pending_since: None,
            due: Timestamp(0),
        };
        if p.review {
            d.set(Status::PendingCreate);
        }
        put_domain_counted(tx, self.policy(), None, &mut d)?;
        tx.counter_add(&format!("created.day:{}", now.day_key()), 1)?;
        let actor = Actor::Registrar(registrar.to_string());
        charge(
            tx,
            &mut reg,
            -price,
            "domain.create",
            Some(&d.name),
            &actor,
            now,
            &format!("{} year(s)", req.period_years),
        )?;
        record(
            tx,
            &format!("domain:{}", d.name),
            "domain.create",
            now,
            &actor,
            Some(&d.roid),
            None,
            Some(Snapshot::Domain(Box::new(d.clone()))),
            -price,
        )?;
        Ok(d)
    }

    /// A domain the registrar sponsors (`not_sponsor` for another registrar's).
    pub fn domain_get(&self, registrar: &str, name: &str) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        match self.read()?.domain(&key)? {
            Some(d) if d.registrar == registrar => Ok(d),
            Some(_) => err(Code::NotSponsor, format!("{key} is sponsored by another registrar")),
            None => err(Code::NotFound, format!("{key} is not registered")),
        }
    }

    /// Any domain by name (U-label or A-label), for the registry's own front ends.
    pub fn domain_any(&self, name: &str) -> Result<Option<Domain>, RegistryError> {
        let key = self.name_key(name)?;
        Ok(self.read()?.domain(&key)?)
    }

    /// Calls `f` with a domain, its contacts and its registrar's name, read in one snapshot and
    /// borrowed from it (the public directory's lookup); `None` when the domain is not stored.
    pub fn with_domain_parties<R>(
        &self,
        key: &str,
        f: impl FnOnce(&crate::store::DomainParties<'_>) -> R,
    ) -> Result<Option<R>, RegistryError> {
        Ok(self.inner.store.directory()?.with_domain_parties(key, f)?)
    }

    /// The domain whose nameserver `host` is: the domain that holds the host when it is inside
    /// one (its glue), else the first domain that delegates to it.
    pub fn nameserver_lookup(&self, host: &str) -> Result<Option<Domain>, RegistryError> {
        let r = self.read()?;
        let mut parent = host;
        while let Some((_, rest)) = parent.split_once('.') {
            if let Some(d) = r.domain(rest)?
                && d.is_registered()
                && d.nameservers.iter().any(|n| n.name == host)
            {
                return Ok(Some(d));
            }
            parent = rest;
        }
        for name in r.domains_with_nameserver(host, 16)? {
            if let Some(d) = r.domain(&name)?
                && d.is_registered()
            {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// The registrar's domains in name order after `after`, at most `limit`.
    pub fn domain_list(
        &self,
        registrar: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Domain>, RegistryError> {
        let r = self.read()?;
        let mut out = Vec::with_capacity(limit);
        for name in r.domain_names_of(registrar, after, limit)? {
            if let Some(d) = r.domain(&name)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// History of the current registration of a domain the registrar sponsors.
    pub fn domain_history(&self, registrar: &str, name: &str) -> Result<Vec<HistoryEntry>, RegistryError> {
        let d = self.domain_get(registrar, name)?;
        let r = self.read()?;
        Ok(r.history(&format!("domain:{}", d.name), HISTORY_ENTRIES_MAX)?
            .into_iter()
            .filter(|e| e.roid.as_deref() == Some(d.roid.as_str()))
            .collect())
    }

    /// Changes nameservers, contacts (not the registrant), DS records, client statuses, auto-renew.
    pub async fn domain_update(
        &self,
        registrar: &str,
        name: &str,
        patch: DomainPatch,
    ) -> Result<Domain, RegistryError> {
        if patch.registrant.is_some() {
            return err(
                Code::InvalidRequest,
                "the registrant is changed with POST /api/v1/domains/{name}/registrant (registrant change)",
            );
        }
        let key = self.name_key(name)?;
        let mut add = Vec::new();
        let mut remove = Vec::new();
        for (list, out) in [(&patch.add_status, &mut add), (&patch.remove_status, &mut remove)] {
            for s in list {
                match Status::parse(s) {
                    Some(st) if st.is_client() => out.push(st),
                    Some(st) => {
                        return err(
                            Code::InvalidRequest,
                            format!("{st} is not a client status: registrars set only client* statuses"),
                        );
                    }
                    None => {
                        return err(Code::InvalidRequest, format!("`{s}` is not an EPP status"));
                    }
                }
            }
        }
        let now = self.now();
        let registrar = registrar.to_string();
        let this = self.clone();
        self.submit(move |tx| {
            let old = match tx.domain(&key)? {
                Some(d) if d.registrar == registrar => d,
                Some(_) => {
                    return err(Code::NotSponsor, format!("{key} is sponsored by another registrar"));
                }
                None => return err(Code::NotFound, format!("{key} is not registered")),
            };
            for s in
                [Status::PendingDelete, Status::PendingCreate, Status::PendingUpdate, Status::ServerUpdateProhibited]
            {
                if old.has(s) {
                    return err(Code::StatusProhibits, format!("{key} has status {s}"));
                }
            }
            if old.has(Status::ClientUpdateProhibited)
                && !(remove.contains(&Status::ClientUpdateProhibited) && patch.only_status_changes())
            {
                return err(
                    Code::StatusProhibits,
                    format!("{key} has status clientUpdateProhibited: remove it first, alone"),
                );
            }
            let profile = this
                .policy()
                .tld_of(&old.name)
                .map(|t| t.profile.clone())
                .ok_or_else(|| RegistryError::new(Code::Internal, "domain outside every TLD"))?;
            let mut new = old.clone();
            if let Some(ns) = &patch.nameservers {
                new.nameservers = validate::nameservers(&old.name, &nameserver_pairs(ns), &profile)?;
            }
            if let Some(ds) = &patch.ds {
                new.ds = validate::ds(&ds_tuples(ds))?;
            }
            let fiscal = profile.fiscal_id_required;
            if let Some(a) = &patch.admin {
                usable_contact(tx, &registrar, "admin", a, fiscal)?;
                new.admin = a.clone();
            }
            if let Some(t) = &patch.tech {
                if t.is_empty() && profile.tech_required {
                    return err(Code::InvalidContact, "a tech contact is required in this TLD");
                }
                if t.is_empty() {
                    new.tech = None;
                } else {
                    usable_contact(tx, &registrar, "tech", t, fiscal)?;
                    new.tech = Some(t.clone());
                }
            }
            if let Some(b) = &patch.billing {
                if b.is_empty() {
                    new.billing = None;
                } else {
                    usable_contact(tx, &registrar, "billing", b, false)?;
                    new.billing = Some(b.clone());
                }
            }
            for s in &add {
                new.set(*s);
            }
            for s in &remove {
                new.clear(*s);
            }
            if let Some(a) = patch.auto_renew {
                new.auto_renew = a;
            }
            if let Some(v) = patch.owner_visible {
                new.owner_visible = v;
            }
            if new == old {
                return Ok(old);
            }
            new.updated = now;
            put_domain_counted(tx, this.policy(), Some(&old), &mut new)?;
            record(
                tx,
                &format!("domain:{key}"),
                "domain.update",
                now,
                &Actor::Registrar(registrar.clone()),
                Some(&new.roid),
                Some(Snapshot::Domain(Box::new(old))),
                Some(Snapshot::Domain(Box::new(new.clone()))),
                0,
            )?;
            Ok(new)
        })
        .await
    }

    /// Creates a domain from an import line: the same checks as a registration except the rules
    /// for new names (closed zones and reserved names hold existing registrations), no charge,
    /// and dates, statuses and auth code as given.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn import_domain_in(
        &self,
        tx: &mut WriteTx,
        registrar: &str,
        p: &PreparedCreate,
        created: Timestamp,
        expires: Timestamp,
        statuses: &[Status],
        auth_code: &str,
        now: Timestamp,
    ) -> Result<Domain, RegistryError> {
        let name = &p.name;
        if tx.domain_exists(&name.ascii)? {
            return err(Code::NotAvailable, format!("{} is already registered", name.unicode));
        }
        if tx.registrar(registrar)?.is_none() {
            return err(Code::InvalidRequest, format!("no registrar {registrar}"));
        }
        let req = &p.req;
        let fiscal = p.profile.fiscal_id_required;
        usable_contact(tx, registrar, "registrant", &req.registrant, fiscal)?;
        usable_contact(tx, registrar, "admin", &req.admin, fiscal)?;
        if let Some(t) = &req.tech {
            usable_contact(tx, registrar, "tech", t, fiscal)?;
        }
        if let Some(b) = &req.billing {
            usable_contact(tx, registrar, "billing", b, false)?;
        }
        let roid = format!("D{:09}-{}", tx.next_seq("roid")?, name.tld.to_ascii_uppercase());
        let mut d = Domain {
            name: name.ascii.clone(),
            unicode_name: name.unicode.clone(),
            roid,
            zone: name.zone.clone(),
            tld: name.tld.clone(),
            registrar: registrar.to_string(),
            registrant: req.registrant.clone(),
            admin: req.admin.clone(),
            tech: req.tech.clone(),
            billing: req.billing.clone(),
            nameservers: p.nameservers.clone(),
            ds: p.ds.clone(),
            statuses: Vec::new(),
            created,
            expires,
            updated: now,
            auto_renew: req.auto_renew,
            auth_code: auth_code.to_string(),
            auth_code_issued: now,
            deleted: None,
            registration_basis: req.registration_basis.clone(),
            legitimacy: req.legitimacy.clone(),
            owner_visible: req.owner_visible.unwrap_or(true),
            pending_registrant: None,
            pending_since: None,
            due: Timestamp(0),
        };
        for s in statuses {
            d.set(*s);
        }
        if d.has(Status::PendingDelete) {
            d.deleted = Some(now);
        }
        // The registry it comes from delegated it: a migration keeps its delegations in the
        // zone instead of holding every one back until a check passes.
        if self.policy().tlds.iter().any(|t| t.tld == d.tld && t.profile.delegation_check != DelegationCheck::Off) {
            super::zone::grandfather_check(tx, &d, now)?;
        }
        put_domain_counted(tx, self.policy(), None, &mut d)?;
        tx.counter_add(&format!("created.day:{}", created.day_key()), 1)?;
        record(
            tx,
            &format!("domain:{}", d.name),
            "domain.import",
            now,
            &Actor::System("import".into()),
            Some(&d.roid),
            None,
            Some(Snapshot::Domain(Box::new(d.clone()))),
            0,
        )?;
        Ok(d)
    }
}
