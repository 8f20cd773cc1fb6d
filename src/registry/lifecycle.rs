//! The life of a domain after registration (POLICY.md section 3): renew, transfer, auth codes,
//! delete and restore, registrant change, the registry's decisions on reviews and server
//! statuses, poll messages, and the lifecycle job (which also expires idempotency records; the
//! retries themselves are in `idem`).
//!
//! Each command reads the domain inside the writer, checks every rule, and only then writes.
//! Numbers (periods, windows, restore days, review hours) are policy values of the TLD profile.

use serde::Serialize;
use subtle::ConstantTimeEq;

use super::error::{Code, RegistryError, err};
use super::idem::{Idem, idempotent};
use super::registrars::charge;
use super::{Registry, commit_domain, put_domain_counted, random_code, record, remove_domain_counted};
use crate::limits::{AUTH_CODE_BYTES_MAX, AUTH_CODE_CHARS, POLL_MESSAGES_MAX, POLL_PAGE_MAX};
use crate::model::{Actor, Contact, Domain, PollMessage, Registrar, Snapshot, Status, Timestamp};
use crate::policy::{Profile, RegistrantChangeMode};
use crate::store::WriteTx;

/// Queues a poll message for a registrar, dropping its oldest when the queue is full.
pub(super) fn poll(
    tx: &mut WriteTx,
    registrar: &str,
    kind: &str,
    domain: Option<&str>,
    text: String,
    now: Timestamp,
) -> Result<(), RegistryError> {
    let count_key = format!("poll.count:{registrar}");
    if tx.counter(&count_key)? >= POLL_MESSAGES_MAX as i64
        && let Some(oldest) = tx.poll_messages(registrar, 1)?.first()
        && tx.remove_poll(registrar, oldest.id)?
    {
        tx.counter_add(&count_key, -1)?;
        tx.counter_add(&format!("poll.dropped:{registrar}"), 1)?;
    }
    let id = tx.next_seq("poll")?;
    tx.put_poll(registrar, &PollMessage { id, at: now, kind: kind.into(), domain: domain.map(str::to_string), text })?;
    tx.counter_add(&count_key, 1)?;
    Ok(())
}

fn domain_snapshot(d: &Domain) -> Option<Snapshot> {
    Some(Snapshot::Domain(Box::new(d.clone())))
}

/// The stored domain, sponsored by `registrar`.
fn sponsored(tx: &WriteTx, registrar: &str, name: &str) -> Result<Domain, RegistryError> {
    match tx.domain(name)? {
        Some(d) if d.registrar == registrar => Ok(d),
        Some(_) => err(Code::NotSponsor, format!("{name} is sponsored by another registrar")),
        None => err(Code::NotFound, format!("{name} is not registered")),
    }
}

/// Refuses when the domain has any of `statuses`.
fn refuse_if(d: &Domain, statuses: &[Status], what: &str) -> Result<(), RegistryError> {
    match statuses.iter().find(|s| d.has(**s)) {
        Some(s) => err(Code::StatusProhibits, format!("{} has status {s}: {what} is not allowed", d.name)),
        None => Ok(()),
    }
}

fn registrar_of(tx: &WriteTx, id: &str) -> Result<Registrar, RegistryError> {
    match tx.registrar(id)? {
        Some(r) => Ok(r),
        None => err(Code::Unauthorized, "unknown registrar"),
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    pub period_years: u32,
    pub current_expiry_year: i32,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub auth_code: String,
    pub roid: String,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrantChangeRequest {
    /// The new registrant: a contact of the sponsoring registrar, with a fiscal id.
    pub registrant: String,
}

/// What the lifecycle job did in one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LifecycleReport {
    pub examined: u64,
    pub auto_renewed: u64,
    pub expired: u64,
    pub purged: u64,
    pub registrant_changes_cancelled: u64,
    pub idempotency_records_expired: u64,
    pub query_log_purged: u64,
    pub batches: u64,
}

/// Domains the lifecycle job handles in one transaction.
pub const LIFECYCLE_BATCH: usize = 512;
/// How long an Idempotency-Key is remembered.
pub const IDEMPOTENCY_KEEP_SECS: i64 = 24 * 3_600;

impl Registry {
    fn profile_for(&self, d: &Domain) -> Result<Profile, RegistryError> {
        self.policy()
            .tld(&d.tld)
            .map(|t| t.profile.clone())
            .ok_or_else(|| RegistryError::new(Code::Internal, format!("{} is outside every TLD", d.name)))
    }

    /// Renews for `period_years`, from the current expiry. `current_expiry_year` must match, so a
    /// retried request cannot renew twice.
    pub async fn domain_renew(
        &self,
        registrar: &str,
        name: &str,
        req: RenewRequest,
        idem: Option<Idem>,
    ) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        let (registrar, now, this) = (registrar.to_string(), self.now(), self.clone());
        self.submit(move |tx| {
            idempotent(tx, &registrar, idem.as_ref(), now, |tx| {
                let old = sponsored(tx, &registrar, &key)?;
                refuse_if(
                    &old,
                    &[
                        Status::PendingDelete,
                        Status::PendingCreate,
                        Status::ClientRenewProhibited,
                        Status::ServerRenewProhibited,
                    ],
                    "renewal",
                )?;
                let p = this.profile_for(&old)?;
                if !p.renew_periods.contains(&req.period_years) {
                    return err(
                        Code::InvalidPeriod,
                        format!("period_years {} is not one of {:?}", req.period_years, p.renew_periods),
                    );
                }
                if old.expires.year() != req.current_expiry_year {
                    return err(
                        Code::ExpiryYearMismatch,
                        format!("{key} expires in {}, not {}", old.expires.year(), req.current_expiry_year),
                    );
                }
                let window_opens = old.expires.add_days(-i64::from(p.renew_window_days));
                if now < window_opens {
                    return err(
                        Code::RenewTooEarly,
                        format!(
                            "{key} can be renewed from {} ({} days before expiry)",
                            window_opens.to_rfc3339(),
                            p.renew_window_days
                        ),
                    );
                }
                let expires = old.expires.add_years(i32::try_from(req.period_years).unwrap_or(1));
                let ceiling = now.add_years(i32::try_from(p.max_years_ahead).unwrap_or(10));
                if expires > ceiling {
                    return err(
                        Code::InvalidPeriod,
                        format!(
                            "{key} would expire on {}, beyond {} years ahead",
                            expires.to_rfc3339(),
                            p.max_years_ahead
                        ),
                    );
                }
                let mut reg = registrar_of(tx, &registrar)?;
                let price = this.prices_for(&reg, &old.tld).renew * i64::from(req.period_years);
                if reg.balance_cents < price {
                    return err(
                        Code::InsufficientFunds,
                        format!("renewal costs {price} cents; balance {} cents", reg.balance_cents),
                    );
                }
                let mut new = old.clone();
                new.expires = expires;
                new.updated = now;
                put_domain_counted(tx, this.policy(), Some(&old), &mut new)?;
                let actor = Actor::Registrar(registrar.clone());
                charge(
                    tx,
                    &mut reg,
                    -price,
                    "domain.renew",
                    Some(&key),
                    &actor,
                    now,
                    &format!("{} year(s)", req.period_years),
                )?;
                record(
                    tx,
                    &format!("domain:{key}"),
                    "domain.renew",
                    now,
                    &actor,
                    Some(&new.roid),
                    domain_snapshot(&old),
                    domain_snapshot(&new),
                    -price,
                )?;
                Ok(new)
            })
        })
        .await
    }

    /// A new auth code for the sponsor (valid `auth_code_valid_days`).
    pub async fn domain_new_auth_code(
        &self,
        registrar: &str,
        name: &str,
        idem: Option<Idem>,
    ) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        let (registrar, now, this) = (registrar.to_string(), self.now(), self.clone());
        self.submit(move |tx| {
            idempotent(tx, &registrar, idem.as_ref(), now, |tx| {
                let old = sponsored(tx, &registrar, &key)?;
                refuse_if(&old, &[Status::PendingDelete, Status::PendingCreate], "a new auth code")?;
                let mut new = old.clone();
                new.auth_code = random_code(AUTH_CODE_CHARS);
                new.auth_code_issued = now;
                new.updated = now;
                put_domain_counted(tx, this.policy(), Some(&old), &mut new)?;
                // Before and after, like every change (the deep check holds the last entry's
                // state to the record; the views of history never show auth codes). Without
                // them `check --deep` reported every domain whose last change was a new auth
                // code; found by the model-based test (tests/it/model.rs).
                record(
                    tx,
                    &format!("domain:{key}"),
                    "domain.auth_code",
                    now,
                    &Actor::Registrar(registrar.clone()),
                    Some(&new.roid),
                    domain_snapshot(&old),
                    domain_snapshot(&new),
                    0,
                )?;
                Ok(new)
            })
        })
        .await
    }

    /// Transfer to the gaining `registrar` with the auth code and ROID: at once, no years added,
    /// the transfer price charged, a new auth code, the contacts copied to the gaining registrar
    /// (registrars never share contacts), client statuses cleared, and a poll message to the
    /// losing registrar.
    pub async fn domain_transfer(
        &self,
        registrar: &str,
        name: &str,
        req: TransferRequest,
        idem: Option<Idem>,
    ) -> Result<Domain, RegistryError> {
        if req.auth_code.is_empty() || req.auth_code.len() > AUTH_CODE_BYTES_MAX || req.roid.len() > 64 {
            return err(Code::BadAuthCode, "the auth code or ROID does not match");
        }
        let key = self.name_key(name)?;
        let (gaining, now, this) = (registrar.to_string(), self.now(), self.clone());
        self.submit(move |tx| {
            idempotent(tx, &gaining, idem.as_ref(), now, |tx| {
                let Some(old) = tx.domain(&key)? else {
                    return err(Code::NotFound, format!("{key} is not registered"));
                };
                if old.registrar == gaining {
                    return err(Code::InvalidRequest, format!("{key} is already sponsored by {gaining}"));
                }
                let p = this.profile_for(&old)?;
                let code_ok = bool::from(old.auth_code.as_bytes().ct_eq(req.auth_code.as_bytes()))
                    && bool::from(old.roid.as_bytes().ct_eq(req.roid.trim().as_bytes()));
                if !code_ok {
                    return err(Code::BadAuthCode, "the auth code or ROID does not match");
                }
                if now > old.auth_code_issued.add_days(i64::from(p.auth_code_valid_days)) {
                    return err(
                        Code::BadAuthCode,
                        format!(
                            "the auth code expired {} days after it was issued; ask the sponsor for a new one",
                            p.auth_code_valid_days
                        ),
                    );
                }
                refuse_if(
                    &old,
                    &[
                        Status::PendingDelete,
                        Status::PendingCreate,
                        Status::PendingUpdate,
                        Status::ClientTransferProhibited,
                        Status::ServerTransferProhibited,
                    ],
                    "transfer",
                )?;
                if old.expires <= now {
                    return err(Code::StatusProhibits, format!("{key} has expired: it cannot be transferred"));
                }
                let mut reg = registrar_of(tx, &gaining)?;
                let price = this.prices_for(&reg, &old.tld).transfer;
                if reg.balance_cents < price {
                    return err(
                        Code::InsufficientFunds,
                        format!("transfer costs {price} cents; balance {} cents", reg.balance_cents),
                    );
                }
                // Every rule holds: from here on, only writes.
                let actor = Actor::Registrar(gaining.clone());
                let mut copies: Vec<(String, String)> = Vec::new();
                let mut copy = |tx: &mut WriteTx, handle: &str| -> Result<String, RegistryError> {
                    if let Some((_, n)) = copies.iter().find(|(o, _)| o == handle) {
                        return Ok(n.clone());
                    }
                    let n = copy_contact(tx, handle, &gaining, now, &actor)?;
                    copies.push((handle.to_string(), n.clone()));
                    Ok(n)
                };
                let mut new = old.clone();
                new.registrar = gaining.clone();
                new.registrant = copy(tx, &old.registrant)?;
                new.admin = copy(tx, &old.admin)?;
                new.tech = old.tech.as_deref().map(|h| copy(tx, h)).transpose()?;
                new.billing = old.billing.as_deref().map(|h| copy(tx, h)).transpose()?;
                new.statuses.retain(|s| !s.is_client());
                new.auth_code = random_code(AUTH_CODE_CHARS);
                new.auth_code_issued = now;
                new.updated = now;
                put_domain_counted(tx, this.policy(), Some(&old), &mut new)?;
                charge(
                    tx,
                    &mut reg,
                    -price,
                    "domain.transfer",
                    Some(&key),
                    &actor,
                    now,
                    &format!("from {}", old.registrar),
                )?;
                record(
                    tx,
                    &format!("domain:{key}"),
                    "domain.transfer",
                    now,
                    &actor,
                    Some(&new.roid),
                    domain_snapshot(&old),
                    domain_snapshot(&new),
                    -price,
                )?;
                poll(
                    tx,
                    &old.registrar,
                    "transfer.away",
                    Some(&key),
                    format!("{key} was transferred to registrar {gaining}"),
                    now,
                )?;
                Ok(new)
            })
        })
        .await
    }

    /// Deletes: the domain goes to pendingDelete (out of the zone) for the restore period, or
    /// is purged at once when the profile has no restore period.
    pub async fn domain_delete(&self, registrar: &str, name: &str) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        let (registrar, now, this) = (registrar.to_string(), self.now(), self.clone());
        self.submit(move |tx| {
            let old = sponsored(tx, &registrar, &key)?;
            refuse_if(
                &old,
                &[
                    Status::PendingDelete,
                    Status::PendingCreate,
                    Status::PendingUpdate,
                    Status::ClientDeleteProhibited,
                    Status::ServerDeleteProhibited,
                ],
                "deletion",
            )?;
            let p = this.profile_for(&old)?;
            let actor = Actor::Registrar(registrar.clone());
            this.to_pending_delete(tx, &old, &p, now, &actor, "domain.delete")
        })
        .await
    }

    /// Moves a domain to pendingDelete (or purges it when restore_days is 0). Writes only.
    fn to_pending_delete(
        &self,
        tx: &mut WriteTx,
        old: &Domain,
        p: &Profile,
        now: Timestamp,
        actor: &Actor,
        operation: &str,
    ) -> Result<Domain, RegistryError> {
        let mut new = old.clone();
        new.set(Status::PendingDelete);
        new.updated = now;
        new.deleted = Some(now);
        // A registrant change waiting for review ends with the registration.
        new.clear(Status::PendingUpdate);
        new.pending_registrant = None;
        new.pending_since = None;
        if p.restore_days == 0 {
            remove_domain_counted(tx, self.policy(), old)?;
            record(
                tx,
                &format!("domain:{}", old.name),
                operation,
                now,
                actor,
                Some(&old.roid),
                domain_snapshot(old),
                None,
                0,
            )?;
            return Ok(new);
        }
        new.set(Status::RedemptionPeriod);
        put_domain_counted(tx, self.policy(), Some(old), &mut new)?;
        record(
            tx,
            &format!("domain:{}", old.name),
            operation,
            now,
            actor,
            Some(&old.roid),
            domain_snapshot(old),
            domain_snapshot(&new),
            0,
        )?;
        Ok(new)
    }

    /// Restores a pendingDelete domain within the restore period (charged). A domain deleted by
    /// expiry is renewed for one year too (charged), so it does not expire again at once.
    pub async fn domain_restore(
        &self,
        registrar: &str,
        name: &str,
        idem: Option<Idem>,
    ) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        let (registrar, now, this) = (registrar.to_string(), self.now(), self.clone());
        self.submit(move |tx| {
            idempotent(tx, &registrar, idem.as_ref(), now, |tx| {
                let old = sponsored(tx, &registrar, &key)?;
                if !old.has(Status::PendingDelete) {
                    return err(Code::StatusProhibits, format!("{key} is not pending delete: nothing to restore"));
                }
                let p = this.profile_for(&old)?;
                let deleted = old.deleted.unwrap_or(old.updated);
                if now >= deleted.add_days(i64::from(p.restore_days)) {
                    return err(
                        Code::RestorePeriodOver,
                        format!("the {}-day restore period of {key} is over", p.restore_days),
                    );
                }
                let mut reg = registrar_of(tx, &registrar)?;
                let prices = this.prices_for(&reg, &old.tld);
                let mut new = old.clone();
                let mut price = prices.restore;
                while new.expires <= now {
                    new.expires = new.expires.add_years(1);
                    price += prices.renew;
                }
                if reg.balance_cents < price {
                    return err(
                        Code::InsufficientFunds,
                        format!("restore costs {price} cents; balance {} cents", reg.balance_cents),
                    );
                }
                new.clear(Status::PendingDelete);
                new.clear(Status::RedemptionPeriod);
                new.deleted = None;
                new.updated = now;
                put_domain_counted(tx, this.policy(), Some(&old), &mut new)?;
                let actor = Actor::Registrar(registrar.clone());
                charge(tx, &mut reg, -price, "domain.restore", Some(&key), &actor, now, "restore")?;
                record(
                    tx,
                    &format!("domain:{key}"),
                    "domain.restore",
                    now,
                    &actor,
                    Some(&new.roid),
                    domain_snapshot(&old),
                    domain_snapshot(&new),
                    -price,
                )?;
                Ok(new)
            })
        })
        .await
    }

    /// Registrant change (trade): the new registrant's fiscal id is required; the domain is not
    /// renewed. In `review` mode the domain waits as pendingUpdate for the registry's decision.
    pub async fn domain_change_registrant(
        &self,
        registrar: &str,
        name: &str,
        req: RegistrantChangeRequest,
        idem: Option<Idem>,
    ) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        let (registrar, now, this) = (registrar.to_string(), self.now(), self.clone());
        self.submit(move |tx| {
            idempotent(tx, &registrar, idem.as_ref(), now, |tx| {
                let old = sponsored(tx, &registrar, &key)?;
                refuse_if(
                    &old,
                    &[
                        Status::PendingDelete,
                        Status::PendingCreate,
                        Status::PendingUpdate,
                        Status::ClientUpdateProhibited,
                        Status::ServerUpdateProhibited,
                    ],
                    "a registrant change",
                )?;
                let contact: Contact = match tx.contact(&req.registrant)? {
                    Some(c) if c.registrar == registrar => c,
                    _ => return err(Code::InvalidContact, format!("contact {} does not exist", req.registrant)),
                };
                if contact.fiscal_id.is_none() {
                    return err(
                        Code::MissingFiscalId,
                        format!("the new registrant {} has no fiscal_id", contact.handle),
                    );
                }
                if contact.handle == old.registrant {
                    return err(Code::InvalidRequest, format!("{} already holds {key}", contact.handle));
                }
                let p = this.profile_for(&old)?;
                let actor = Actor::Registrar(registrar.clone());
                let mut new = old.clone();
                new.updated = now;
                match p.registrant_change_mode {
                    RegistrantChangeMode::Immediate => new.registrant = contact.handle.clone(),
                    RegistrantChangeMode::Review => {
                        new.set(Status::PendingUpdate);
                        new.pending_registrant = Some(contact.handle.clone());
                        new.pending_since = Some(now);
                    }
                }
                commit_domain(tx, this.policy(), &old, &mut new, "domain.registrant_change", now, &actor, 0)?;
                Ok(new)
            })
        })
        .await
    }

    /// The registry's decision on a registration in review: accepted, it is registered;
    /// refused, it is removed and its charge refunded. The registrar gets a poll message.
    pub async fn decide_registration(
        &self,
        name: &str,
        accept: bool,
        note: &str,
        actor: Actor,
    ) -> Result<Option<Domain>, RegistryError> {
        let key = self.name_key(name)?;
        let (note, now, this) = (note.trim().to_string(), self.now(), self.clone());
        self.submit(move |tx| {
            let Some(old) = tx.domain(&key)? else {
                return err(Code::NotFound, format!("{key} is not registered"));
            };
            if !old.has(Status::PendingCreate) {
                return err(Code::Conflict, format!("{key} is not waiting for review"));
            }
            if accept {
                let mut new = old.clone();
                new.clear(Status::PendingCreate);
                // The name is registered now: the period asked for runs from here, not from the
                // request (a review may outlast it; the job never looks at a domain in review, so
                // an accepted domain would otherwise expire at once, a year paid for and lost).
                // Found by the model-based test (tests/it/model.rs).
                let periods = this.profile_for(&old)?.create_periods;
                let years = periods
                    .iter()
                    .filter_map(|y| i32::try_from(*y).ok())
                    .find(|y| old.created.add_years(*y) == old.expires);
                new.expires = match years {
                    Some(years) => now.add_years(years),
                    None => old.expires.add_secs((now.0 - old.created.0).max(0)),
                };
                new.updated = now;
                commit_domain(tx, this.policy(), &old, &mut new, "domain.create_accepted", now, &actor, 0)?;
                poll(
                    tx,
                    &old.registrar,
                    "create.accepted",
                    Some(&key),
                    format!("the registration of {key} was accepted. {note}"),
                    now,
                )?;
                Ok(Some(new))
            } else {
                // Refund what the registration was charged.
                let charged: i64 = tx
                    .history(&format!("domain:{key}"), crate::limits::HISTORY_ENTRIES_MAX)?
                    .iter()
                    .filter(|e| e.roid.as_deref() == Some(old.roid.as_str()))
                    .map(|e| e.amount_cents)
                    .sum();
                let mut reg = registrar_of(tx, &old.registrar)?;
                remove_domain_counted(tx, this.policy(), &old)?;
                charge(
                    tx,
                    &mut reg,
                    -charged,
                    "domain.create_refused",
                    Some(&key),
                    &actor,
                    now,
                    "refund of a refused registration",
                )?;
                record(
                    tx,
                    &format!("domain:{key}"),
                    "domain.create_refused",
                    now,
                    &actor,
                    Some(&old.roid),
                    domain_snapshot(&old),
                    None,
                    -charged,
                )?;
                poll(
                    tx,
                    &old.registrar,
                    "create.refused",
                    Some(&key),
                    format!("the registration of {key} was refused and refunded: {note}"),
                    now,
                )?;
                Ok(None)
            }
        })
        .await
    }

    /// The registry's decision on a registrant change in review, with the reference of the
    /// supporting document when accepted.
    pub async fn decide_registrant_change(
        &self,
        name: &str,
        accept: bool,
        document: &str,
        actor: Actor,
    ) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        let document = document.trim().to_string();
        if accept && (document.is_empty() || document.len() > 255) {
            return err(
                Code::InvalidRequest,
                "accepting a registrant change needs the supporting document's reference",
            );
        }
        let (now, this) = (self.now(), self.clone());
        self.submit(move |tx| {
            let Some(old) = tx.domain(&key)? else {
                return err(Code::NotFound, format!("{key} is not registered"));
            };
            let Some(pending) = old.pending_registrant.clone().filter(|_| old.has(Status::PendingUpdate)) else {
                return err(Code::Conflict, format!("{key} has no registrant change waiting"));
            };
            // After the review hours the change is cancelled (POLICY.md), whether or not the
            // lifecycle job has come by yet to say so; like the restore period, a function of
            // time, not of the job's schedule. Found by the model-based test (tests/it/model.rs).
            let hours = i64::from(this.profile_for(&old)?.registrant_change_review_hours);
            if let Some(since) = old.pending_since
                && now >= since.add_secs(hours * 3_600)
            {
                return err(
                    Code::Conflict,
                    format!(
                        "the registrant change of {key} was cancelled: no supporting document within {hours} hours"
                    ),
                );
            }
            let mut new = old.clone();
            new.clear(Status::PendingUpdate);
            new.pending_registrant = None;
            new.pending_since = None;
            new.updated = now;
            if accept {
                new.registrant = pending;
            }
            put_domain_counted(tx, this.policy(), Some(&old), &mut new)?;
            let (op, kind, text) = if accept {
                (
                    "domain.registrant_change_accepted",
                    "registrant_change.accepted",
                    format!("the registrant change of {key} was accepted (document {document})"),
                )
            } else {
                (
                    "domain.registrant_change_refused",
                    "registrant_change.refused",
                    format!("the registrant change of {key} was refused"),
                )
            };
            record(
                tx,
                &format!("domain:{key}"),
                op,
                now,
                &actor,
                Some(&new.roid),
                domain_snapshot(&old),
                domain_snapshot(&new),
                0,
            )?;
            poll(tx, &old.registrar, kind, Some(&key), text, now)?;
            Ok(new)
        })
        .await
    }

    /// Sets and clears server statuses (registry lock, serverHold): the registry's own.
    pub async fn set_server_statuses(
        &self,
        name: &str,
        add: Vec<Status>,
        remove: Vec<Status>,
        actor: Actor,
    ) -> Result<Domain, RegistryError> {
        if let Some(s) = add.iter().chain(&remove).find(|s| !s.is_server()) {
            return err(Code::InvalidRequest, format!("{s} is not a server status"));
        }
        let key = self.name_key(name)?;
        let (now, this) = (self.now(), self.clone());
        self.submit(move |tx| {
            let Some(old) = tx.domain(&key)? else {
                return err(Code::NotFound, format!("{key} is not registered"));
            };
            let mut new = old.clone();
            for s in &add {
                new.set(*s);
            }
            for s in &remove {
                new.clear(*s);
            }
            if new == old {
                return Ok(old);
            }
            new.updated = now;
            commit_domain(tx, this.policy(), &old, &mut new, "domain.server_status", now, &actor, 0)?;
            Ok(new)
        })
        .await
    }

    /// Registry-initiated delete (admin UI): the same path as a registrar's, ignoring client statuses.
    pub async fn registry_delete(&self, name: &str, actor: Actor) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        let (now, this) = (self.now(), self.clone());
        self.submit(move |tx| {
            let Some(old) = tx.domain(&key)? else {
                return err(Code::NotFound, format!("{key} is not registered"));
            };
            refuse_if(&old, &[Status::PendingDelete, Status::ServerDeleteProhibited], "deletion")?;
            let p = this.profile_for(&old)?;
            let new = this.to_pending_delete(tx, &old, &p, now, &actor, "domain.registry_delete")?;
            poll(
                tx,
                &old.registrar,
                "domain.deleted_by_registry",
                Some(&key),
                format!("{key} was deleted by the registry"),
                now,
            )?;
            Ok(new)
        })
        .await
    }

    /// Registry-initiated restore (admin UI): no charge.
    pub async fn registry_restore(&self, name: &str, actor: Actor) -> Result<Domain, RegistryError> {
        let key = self.name_key(name)?;
        let (now, this) = (self.now(), self.clone());
        self.submit(move |tx| {
            let Some(old) = tx.domain(&key)? else {
                return err(Code::NotFound, format!("{key} is not registered"));
            };
            if !old.has(Status::PendingDelete) {
                return err(Code::StatusProhibits, format!("{key} is not pending delete"));
            }
            let mut new = old.clone();
            new.clear(Status::PendingDelete);
            new.clear(Status::RedemptionPeriod);
            new.deleted = None;
            while new.expires <= now {
                new.expires = new.expires.add_years(1);
            }
            new.updated = now;
            commit_domain(tx, this.policy(), &old, &mut new, "domain.registry_restore", now, &actor, 0)?;
            poll(
                tx,
                &old.registrar,
                "domain.restored_by_registry",
                Some(&key),
                format!("{key} was restored by the registry"),
                now,
            )?;
            Ok(new)
        })
        .await
    }

    /// Names of domains with a status (review queues, filters), in name order after `after`.
    pub fn domains_with_status(
        &self,
        status: Status,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Domain>, RegistryError> {
        let r = self.read()?;
        let mut out = Vec::new();
        for n in r.domain_names_with_status(status, after, limit)? {
            if let Some(d) = r.domain(&n)? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// The registrar's waiting messages (oldest first) and how many there are in all.
    pub fn poll_list(&self, registrar: &str) -> Result<(i64, Vec<PollMessage>), RegistryError> {
        let r = self.read()?;
        Ok((r.counter(&format!("poll.count:{registrar}"))?, r.poll_messages(registrar, POLL_PAGE_MAX)?))
    }

    /// Acknowledges (removes) one message.
    pub async fn poll_ack(&self, registrar: &str, id: u64) -> Result<(), RegistryError> {
        let registrar = registrar.to_string();
        self.submit(move |tx| {
            if tx.poll_messages(&registrar, POLL_MESSAGES_MAX)?.iter().all(|m| m.id != id) {
                return err(Code::NotFound, format!("no message {id}"));
            }
            tx.remove_poll(&registrar, id)?;
            tx.counter_add(&format!("poll.count:{registrar}"), -1)?;
            Ok(())
        })
        .await
    }

    /// The lifecycle job: handles every domain due at registry time now, by the due index
    /// (never the whole table), `LIFECYCLE_BATCH` domains per transaction. Idempotent, and safe
    /// to interrupt: each batch commits on its own, and each domain is examined afresh.
    pub async fn run_lifecycle(&self) -> Result<LifecycleReport, RegistryError> {
        let now = self.now();
        let mut report = LifecycleReport::default();
        let mut after: Option<(Timestamp, String)> = None;
        loop {
            // The due list is read in slices after the last name handled, so a domain whose work
            // leaves it due (none should) cannot hold the job in a loop.
            let slice: Vec<(Timestamp, String)> =
                self.read()?.due_after(now, after.as_ref().map(|(t, n)| (*t, n.as_str())), LIFECYCLE_BATCH)?;
            if slice.is_empty() {
                break;
            }
            after = slice.last().cloned();
            let names: Vec<String> = slice.into_iter().map(|(_, n)| n).collect();
            let this = self.clone();
            let part = self
                .submit(move |tx| {
                    let mut part = LifecycleReport::default();
                    for name in &names {
                        this.lifecycle_one(tx, name, now, &mut part)?;
                    }
                    Ok(part)
                })
                .await?;
            report.examined += part.examined;
            report.auto_renewed += part.auto_renewed;
            report.expired += part.expired;
            report.purged += part.purged;
            report.registrant_changes_cancelled += part.registrant_changes_cancelled;
            report.batches += 1;
        }
        let (log_purged, _) = self.directory_housekeeping().await?;
        report.query_log_purged = log_purged as u64;
        report.idempotency_records_expired = self
            .submit(move |tx| Ok(tx.expire_idempotency(now.add_secs(-IDEMPOTENCY_KEEP_SECS), 100_000)? as u64))
            .await?;
        if report.examined > 0 {
            tracing::info!(?report, "lifecycle job ran");
        }
        Ok(report)
    }

    /// One domain's due work at `now`. Checks before writing, like every command.
    fn lifecycle_one(
        &self,
        tx: &mut WriteTx,
        name: &str,
        now: Timestamp,
        rep: &mut LifecycleReport,
    ) -> Result<(), RegistryError> {
        let Some(old) = tx.domain(name)? else { return Ok(()) };
        if old.due > now {
            return Ok(());
        }
        rep.examined += 1;
        let p = self.profile_for(&old)?;
        let system = Actor::System("lifecycle".into());
        let object = format!("domain:{name}");
        if old.has(Status::PendingDelete) {
            // The restore period is over: the name is free again; its history stays.
            remove_domain_counted(tx, self.policy(), &old)?;
            record(tx, &object, "domain.purge", now, &system, Some(&old.roid), domain_snapshot(&old), None, 0)?;
            poll(
                tx,
                &old.registrar,
                "domain.purged",
                Some(name),
                format!("{name} was purged at the end of its restore period"),
                now,
            )?;
            rep.purged += 1;
            return Ok(());
        }
        let mut cur = old.clone();
        if let (true, Some(since)) = (cur.has(Status::PendingUpdate), cur.pending_since)
            && now >= since.add_secs(i64::from(p.registrant_change_review_hours) * 3_600)
        {
            cur.clear(Status::PendingUpdate);
            cur.pending_registrant = None;
            cur.pending_since = None;
            cur.updated = now;
            let mut next = cur.clone();
            put_domain_counted(tx, self.policy(), Some(&old), &mut next)?;
            record(
                tx,
                &object,
                "domain.registrant_change_cancelled",
                now,
                &system,
                Some(&old.roid),
                domain_snapshot(&old),
                domain_snapshot(&next),
                0,
            )?;
            poll(
                tx,
                &old.registrar,
                "registrant_change.cancelled",
                Some(name),
                format!(
                    "the registrant change of {name} was cancelled: no supporting document within {} hours",
                    p.registrant_change_review_hours
                ),
                now,
            )?;
            rep.registrant_changes_cancelled += 1;
            cur = next;
        }
        if cur.expires > now {
            return Ok(());
        }
        // Expired: auto-renew a year at a time while the balance allows, else pendingDelete.
        let mut reg = registrar_of(tx, &cur.registrar)?;
        let renew_price = self.prices_for(&reg, &cur.tld).renew;
        let renewable =
            cur.auto_renew && !cur.has(Status::ClientRenewProhibited) && !cur.has(Status::ServerRenewProhibited);
        let mut years = 0;
        let mut expires = cur.expires;
        while renewable && expires <= now && reg.balance_cents >= renew_price * (years + 1) && years < 10 {
            expires = expires.add_years(1);
            years += 1;
        }
        if expires > now {
            let mut new = cur.clone();
            new.expires = expires;
            new.updated = now;
            put_domain_counted(tx, self.policy(), Some(&cur), &mut new)?;
            let price = renew_price * years;
            charge(tx, &mut reg, -price, "domain.autorenew", Some(name), &system, now, &format!("{years} year(s)"))?;
            record(
                tx,
                &object,
                "domain.autorenew",
                now,
                &system,
                Some(&new.roid),
                domain_snapshot(&cur),
                domain_snapshot(&new),
                -price,
            )?;
            poll(
                tx,
                &cur.registrar,
                "domain.autorenewed",
                Some(name),
                format!("{name} was renewed automatically until {}", new.expires.to_rfc3339()),
                now,
            )?;
            rep.auto_renewed += 1;
        } else {
            let why = if !renewable { "auto-renew is off" } else { "the balance does not cover the renewal" };
            self.to_pending_delete(tx, &cur, &p, now, &system, "domain.expire")?;
            poll(
                tx,
                &cur.registrar,
                "domain.expired",
                Some(name),
                format!("{name} expired ({why}) and is pending delete"),
                now,
            )?;
            rep.expired += 1;
        }
        Ok(())
    }
}

/// Copies a contact to another registrar under a new handle (a transfer moves the domain, and
/// registrars never share contacts). Writes only.
fn copy_contact(
    tx: &mut WriteTx,
    handle: &str,
    registrar: &str,
    now: Timestamp,
    actor: &Actor,
) -> Result<String, RegistryError> {
    let Some(c) = tx.contact(handle)? else {
        return err(Code::Internal, format!("contact {handle} is missing"));
    };
    let mut copy = c.clone();
    copy.created = now;
    copy.updated = now;
    Ok(super::contacts::create_in(tx, registrar, &copy, None, actor)?.handle)
}
