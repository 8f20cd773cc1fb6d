//! What the registry publishes in its zones, as rules: which domains are delegated and with what
//! (`delegation_of`), the change journal kept in step with every domain write
//! (`domain_written`, called by the only two functions that write domains), the nameserver
//! check's queue and results, and the record of publication attempts.
//!
//! The journal is what makes the publication guard possible: every change of a delegation is
//! written, before and after, in the same transaction as the change. An export that finds a
//! difference from the previous publication that the journal does not explain has found a bug
//! or a damaged database, whatever the size of the difference.

use crate::model::{
    Actor, Delegation, Domain, DomainView, Ds, GuardOutcome, JournalEntry, Nameserver, NameserverView, NsCheck,
    ServerCheck, Status, Timestamp, ZoneRun,
};
use crate::policy::{DelegationCheck, Policy};
use crate::store::{ReadTx, StoreError, WriteTx};

use super::error::{Code, RegistryError, err};
use super::{Registry, record};

/// Statuses that keep a domain out of its zone (POLICY.md section 3; RFC 5731).
const HELD: &[Status] =
    &[Status::ClientHold, Status::ServerHold, Status::PendingCreate, Status::PendingDelete, Status::RedemptionPeriod];

/// Whether `host` is the domain itself or below it: the zone then needs its addresses (glue).
pub fn host_needs_glue(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len() + 1
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// A set of nameservers in canonical order, keeping glue only where the zone needs it.
fn canonical(domain: &str, ns: &[NameserverView<'_>]) -> Vec<Nameserver> {
    let mut out: Vec<Nameserver> = ns
        .iter()
        .map(|n| {
            let mut addresses = if host_needs_glue(n.name, domain) { n.addresses.clone() } else { Vec::new() };
            addresses.sort();
            addresses.dedup();
            Nameserver { name: n.name.to_string(), addresses }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup_by(|a, b| a.name == b.name);
    out
}

/// The delegation a domain puts into its zone, or None when it is not delegated: pending
/// (create, delete, redemption), on hold, with fewer nameservers than delegation needs
/// (`inactive`), or, under `delegation_check = "require"`, with nameservers that have not passed
/// the check (the last set that passed stays in the zone until the new one does).
pub fn delegation_of(policy: &Policy, d: &Domain, check: Option<&NsCheck>) -> Option<Delegation> {
    delegation_of_view(policy, &d.view(), check)
}

/// [`delegation_of`] for a domain decoded as a view of its stored bytes (the zone export reads
/// every domain, and an owned decode cost a string per field it never uses).
pub fn delegation_of_view(policy: &Policy, d: &DomainView<'_>, check: Option<&NsCheck>) -> Option<Delegation> {
    let profile = &policy.tlds.iter().find(|t| t.tld == d.tld)?.profile;
    if d.statuses.iter().any(|s| HELD.contains(s)) {
        return None;
    }
    let passed_views: Vec<NameserverView<'_>>;
    let ns: &[NameserverView<'_>] = match profile.delegation_check {
        DelegationCheck::Off | DelegationCheck::Warn => &d.nameservers,
        DelegationCheck::Require => match check {
            Some(c) if c.passed && same_nameservers(&c.nameservers, &d.nameservers) => &d.nameservers,
            Some(c) => {
                passed_views = c.passed_nameservers.as_deref()?.iter().map(Nameserver::view).collect();
                &passed_views
            }
            None => return None,
        },
    };
    if ns.len() < profile.nameservers_min_delegated {
        return None;
    }
    let mut ds: Vec<Ds> =
        d.ds.iter()
            .map(|x| Ds {
                key_tag: x.key_tag,
                algorithm: x.algorithm,
                digest_type: x.digest_type,
                digest: x.digest.to_string(),
            })
            .collect();
    ds.sort_by(|a, b| {
        (a.key_tag, a.algorithm, a.digest_type, &a.digest).cmp(&(b.key_tag, b.algorithm, b.digest_type, &b.digest))
    });
    ds.dedup();
    Some(Delegation { ns: canonical(d.name, ns), ds })
}

/// Whether a stored set of nameservers is the view's, element by element.
fn same_nameservers(owned: &[Nameserver], view: &[NameserverView<'_>]) -> bool {
    owned.len() == view.len() && owned.iter().zip(view).all(|(a, b)| a.name == b.name && a.addresses == b.addresses)
}

/// Keeps the zone journal and the nameserver-check queue in step with a domain write (`new`
/// None: the domain was removed). Called in the same transaction as the write.
pub(crate) fn domain_written(
    tx: &mut WriteTx,
    policy: &Policy,
    old: Option<&Domain>,
    new: Option<&Domain>,
) -> Result<(), StoreError> {
    let Some(d) = new.or(old) else { return Ok(()) };
    let check = tx.ns_check(&d.name)?;
    let before = old.and_then(|o| delegation_of(policy, o, check.as_ref()));
    let after = new.and_then(|n| delegation_of(policy, n, check.as_ref()));
    if before != after {
        let seq = tx.next_seq("zone_journal")?;
        tx.append_journal(&d.tld, &d.name, seq, &JournalEntry { at: d.updated, before, after })?;
    }
    let Some(n) = new else {
        if check.is_some() || tx.ns_check_due_of(&d.name)?.is_some() {
            tx.remove_ns_check(&d.name)?;
        }
        return Ok(());
    };
    let Some(profile) = policy.tlds.iter().find(|t| t.tld == n.tld).map(|t| &t.profile) else { return Ok(()) };
    let wants_check = profile.delegation_check != DelegationCheck::Off
        && n.nameservers.len() >= profile.nameservers_min_delegated
        && !n.has(Status::PendingDelete);
    let changed = old.is_none_or(|o| o.nameservers != n.nameservers);
    if !wants_check {
        tx.set_ns_check_due(&n.name, None)?;
    } else if changed && check.as_ref().is_none_or(|c| c.nameservers != n.nameservers) {
        tx.set_ns_check_due(&n.name, Some(n.updated))?;
    }
    Ok(())
}

/// Marks a domain as checked and delegated by the registry it came from (imports): under
/// `require`, a migrated registry's delegations stay in the zone.
pub(crate) fn grandfather_check(tx: &mut WriteTx, d: &Domain, now: Timestamp) -> Result<(), StoreError> {
    if d.nameservers.is_empty() {
        return Ok(());
    }
    tx.put_ns_check(&NsCheck {
        domain: d.name.clone(),
        nameservers: d.nameservers.clone(),
        at: now,
        passed: true,
        servers: Vec::new(),
        failing_since: None,
        attempts: 0,
        notified: false,
        passed_nameservers: Some(d.nameservers.clone()),
    })?;
    tx.set_ns_check_due(&d.name, None)
}

/// A domain due for a nameserver check: its name and the nameservers to check.
#[derive(Debug, Clone)]
pub struct CheckDue {
    pub domain: String,
    pub nameservers: Vec<Nameserver>,
}

impl Registry {
    /// A read snapshot for the zone export (one transaction for the whole scan).
    pub fn zone_snapshot(&self) -> Result<ReadTx, RegistryError> {
        self.read()
    }

    /// The last nameserver check of a domain.
    pub fn ns_check(&self, name: &str) -> Result<Option<NsCheck>, RegistryError> {
        Ok(self.read()?.ns_check(name)?)
    }

    /// When a domain's next nameserver check is due, if one is queued.
    pub fn ns_check_due_of(&self, name: &str) -> Result<Option<Timestamp>, RegistryError> {
        Ok(self.read()?.ns_check_due_of(name)?)
    }

    /// Domains whose nameserver check is due now, at most `limit`.
    pub fn ns_checks_due(&self, limit: usize) -> Result<Vec<CheckDue>, RegistryError> {
        let r = self.read()?;
        let mut out = Vec::new();
        for name in r.ns_checks_due(self.now(), limit)? {
            if let Some(d) = r.domain(&name)? {
                out.push(CheckDue { domain: d.name, nameservers: d.nameservers });
            }
        }
        Ok(out)
    }

    /// Queues a domain's nameserver check now (admin: "check again").
    pub async fn ns_check_now(&self, name: &str) -> Result<(), RegistryError> {
        let name = name.to_string();
        self.submit(move |tx| {
            if tx.domain(&name)?.is_none() {
                return err(Code::NotFound, format!("{name} is not registered"));
            }
            // Ahead of every check already due (the queue is ordered by due time).
            tx.set_ns_check_due(&name, Some(Timestamp(0)))?;
            Ok(())
        })
        .await
    }

    /// Records the outcome of a nameserver check of `checked` (the nameservers as they were
    /// when the check began; an outcome for a set since replaced is dropped). A failure is
    /// retried on the configured schedule; after the profile's `nameserver_fix_days` of failing,
    /// the registrar gets one poll message. Returns the stored check, if it was stored.
    pub async fn record_ns_check(
        &self,
        name: &str,
        checked: Vec<Nameserver>,
        servers: Vec<ServerCheck>,
        passed: bool,
    ) -> Result<Option<NsCheck>, RegistryError> {
        let name = name.to_string();
        let now = self.now();
        let this = self.clone();
        self.submit(move |tx| {
            let policy = this.policy();
            let Some(d) = tx.domain(&name)? else {
                return Ok(None);
            };
            if d.nameservers != checked {
                return Ok(None);
            }
            let old = tx.ns_check(&name)?;
            let same = old.as_ref().is_some_and(|o| o.nameservers == checked);
            let prev = old.as_ref().filter(|_| same);
            let attempts = prev.map(|o| o.attempts.saturating_add(1)).unwrap_or(1);
            let failing_since = if passed { None } else { prev.and_then(|o| o.failing_since).or(Some(now)) };
            let mut check = NsCheck {
                domain: name.clone(),
                nameservers: checked.clone(),
                at: now,
                passed,
                servers: servers.clone(),
                failing_since,
                attempts,
                notified: !passed && prev.is_some_and(|o| o.notified),
                passed_nameservers: if passed {
                    Some(checked.clone())
                } else {
                    old.as_ref().and_then(|o| o.passed_nameservers.clone())
                },
            };
            let fix_days = policy
                .tlds
                .iter()
                .find(|t| t.tld == d.tld)
                .map(|t| i64::from(t.profile.nameserver_fix_days))
                .unwrap_or(5);
            if let Some(since) = check.failing_since
                && !check.notified
                && since.add_days(fix_days) <= now
            {
                let failing: Vec<String> =
                    check.servers.iter().filter(|s| !s.ok).map(|s| format!("{}: {}", s.host, s.reason)).collect();
                super::lifecycle::poll(
                    tx,
                    &d.registrar,
                    "nameservers.failing",
                    Some(&name),
                    format!(
                        "the nameservers of {} have failed the registry's check for {fix_days} days; it is not delegated until they answer for it ({})",
                        d.unicode_name,
                        failing.join("; ")
                    ),
                    now,
                )?;
                check.notified = true;
            }
            let before = delegation_of(policy, &d, old.as_ref());
            let after = delegation_of(policy, &d, Some(&check));
            if before != after {
                let seq = tx.next_seq("zone_journal")?;
                tx.append_journal(&d.tld, &d.name, seq, &JournalEntry { at: now, before, after })?;
            }
            tx.put_ns_check(&check)?;
            let retry = &this.settings().zone.check_retry_minutes;
            let due = if passed {
                None
            } else {
                let i = (attempts as usize).saturating_sub(1).min(retry.len().saturating_sub(1));
                Some(now.add_secs(i64::from(retry.get(i).copied().unwrap_or(60)) * 60))
            };
            tx.set_ns_check_due(&name, due)?;
            Ok(Some(check))
        })
        .await
    }

    /// Records a publication attempt; a forced one is also written to the history of
    /// `zone:<zone>` with who forced it (the reason is in the run's note).
    pub async fn record_zone_run(&self, run: ZoneRun, actor: Option<Actor>) -> Result<(), RegistryError> {
        let published = matches!(run.outcome, GuardOutcome::Published | GuardOutcome::Forced);
        self.submit(move |tx| {
            tx.put_zone_run(&run, published)?;
            if run.outcome == GuardOutcome::Forced
                && let Some(a) = &actor
            {
                record(tx, &format!("zone:{}", run.zone), "zone.publish_forced", run.at, a, None, None, None, 0)?;
            }
            Ok(())
        })
        .await
    }

    /// Drops a TLD's journal entries up to `upto_seq` (those every kept publication covers), a
    /// bounded number per transaction.
    pub async fn purge_journal(&self, tld: &str, upto_seq: u64) -> Result<usize, RegistryError> {
        let mut total = 0;
        loop {
            let tld2 = tld.to_string();
            let n = self.submit(move |tx| Ok(tx.purge_journal(&tld2, upto_seq, 10_000)?)).await?;
            total += n;
            if n < 10_000 {
                return Ok(total);
            }
        }
    }

    /// The last publication and the last attempt of a zone.
    pub fn zone_state(&self, zone: &str) -> Result<(Option<ZoneRun>, Option<ZoneRun>), RegistryError> {
        let r = self.read()?;
        Ok((r.zone_state(&format!("published:{zone}"))?, r.zone_state(&format!("attempt:{zone}"))?))
    }

    /// A zone's publication attempts, newest first.
    pub fn zone_runs(&self, zone: &str, limit: usize) -> Result<Vec<ZoneRun>, RegistryError> {
        Ok(self.read()?.zone_runs(zone, limit)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_only_inside_the_domain() {
        assert!(host_needs_glue("ns1.exemplo.pt", "exemplo.pt"));
        assert!(host_needs_glue("exemplo.pt", "exemplo.pt"));
        assert!(!host_needs_glue("ns1.notexemplo.pt", "exemplo.pt"));
        assert!(!host_needs_glue("ns1.exemplo.pt.evil", "exemplo.pt"));
        assert!(!host_needs_glue("ns.example.net", "exemplo.pt"));
    }
}
