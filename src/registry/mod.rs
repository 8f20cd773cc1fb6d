//! The registry service layer: every command and query, every rule, the writer.
//!
//! Front ends (HTTP, the CLI, later WHOIS, RDAP and EPP) call `Registry` and translate its
//! answers; they never open a transaction and never decide a rule. Commands are closures run by
//! the single writer (`writer`) against a `WriteTx`; each one checks everything first and writes
//! only when it will succeed, so a refused command leaves nothing behind. Queries open a read
//! transaction and return plain model values.

mod abuse;
pub mod admin;
mod contacts;
mod domains;
mod epp;
pub mod error;
mod idem;
mod import;
mod lifecycle;
mod registrars;
mod users;
mod validate;
mod writer;
pub mod zone;

use std::sync::Arc;

pub use crate::store::DomainParties;
pub use contacts::{ContactInput, ContactPatch};
pub use domains::{CheckResult, DomainCreate, DomainPatch, DsInput, NameserverInput};
pub use epp::{EPP_PASSWORD_MAX, EPP_PASSWORD_MIN, LoginRefusal, check_epp_password};
pub use error::{Code, RegistryError};
pub use idem::Idem;
pub use import::{ImportLine, ImportReport};
pub use lifecycle::{LifecycleReport, RegistrantChangeRequest, RenewRequest, TransferRequest};
pub use registrars::{ApiKey, NewRegistrar};

use crate::clock::{Clock, ClockKind};
use crate::config::Settings;
use crate::model::{Actor, Domain, HistoryEntry, Prices, Snapshot, Timestamp};
use crate::policy::Policy;
use crate::store::{ReadTx, Store, StoreError, WriteTx};
use error::err;
use writer::Writer;

/// The registry: cheap to clone, shared by every front end.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    settings: Settings,
    clock: Clock,
    writer: Writer,
    writer_thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Meta key of the lab clock's offset.
const LAB_OFFSET_KEY: &str = "lab_clock_offset_secs";

impl Registry {
    /// Opens the database named by the settings and starts the writer. With a lab clock, the
    /// clock's offset is read back from the database.
    pub fn open(settings: Settings) -> Result<Registry, StoreError> {
        Registry::open_with_cache(settings, crate::store::CACHE_BYTES)
    }

    /// [`Registry::open`] with the database's page cache of `cache_bytes` (`nicbox import`).
    pub fn open_with_cache(settings: Settings, cache_bytes: usize) -> Result<Registry, StoreError> {
        let store = Store::open_with_cache(&settings.db_path(), cache_bytes)?;
        let clock = match settings.clock {
            ClockKind::System => Clock::system(),
            ClockKind::Lab => {
                let offset = store
                    .read()?
                    .get_meta(LAB_OFFSET_KEY)?
                    .and_then(|b| b.try_into().ok())
                    .map(i64::from_le_bytes)
                    .unwrap_or(0);
                Clock::lab(offset)
            }
            ClockKind::Manual => Clock::manual(Timestamp(0)),
        };
        Ok(Self::with_clock(store, settings, clock))
    }

    /// A registry over an open store with the given clock (tests use a manual clock).
    pub fn with_clock(store: Store, settings: Settings, clock: Clock) -> Registry {
        let (writer, thread) = Writer::start(store.clone());
        Registry {
            inner: Arc::new(Inner {
                store,
                settings,
                clock,
                writer,
                writer_thread: std::sync::Mutex::new(Some(thread)),
            }),
        }
    }

    /// Stops the writer once every command queued has been answered and closes the database.
    /// Other clones of this registry must have been dropped (the servers have stopped); if some
    /// remain, the database closes when the last one goes.
    pub fn close(self) {
        let thread = self.inner.writer_thread.lock().ok().and_then(|mut t| t.take());
        // Clones held for an instant by tasks that are finishing (a log flush, a job's last
        // step) are waited for, briefly.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(crate::limits::SHUTDOWN_GRACE_SECS);
        let mut inner = self.inner;
        loop {
            match Arc::try_unwrap(inner) {
                Ok(i) => {
                    drop(i);
                    if let Some(t) = thread {
                        let _ = t.join();
                    }
                    return;
                }
                Err(still_shared) if std::time::Instant::now() < deadline => {
                    inner = still_shared;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(_) => {
                    tracing::warn!("registry still in use at close; the database closes when it is released");
                    return;
                }
            }
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn policy(&self) -> &Policy {
        &self.inner.settings.policy
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    fn read(&self) -> Result<ReadTx, RegistryError> {
        Ok(self.inner.store.read()?)
    }

    /// Commits and commands of the writer so far (`/metrics`).
    pub fn writer_stats(&self) -> (u64, u64) {
        let s = self.inner.writer.stats();
        (s.commits.load(std::sync::atomic::Ordering::Relaxed), s.commands.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Runs a command on the writer and waits until it is durable.
    async fn submit<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteTx) -> Result<T, RegistryError> + Send + 'static,
    {
        self.inner.writer.submit(f).await
    }

    /// Queues a command without waiting for its answer (imports keep many in flight).
    async fn enqueue<T, F>(
        &self,
        f: F,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<T, RegistryError>>, RegistryError>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteTx) -> Result<T, RegistryError> + Send + 'static,
    {
        self.inner.writer.enqueue(f).await
    }

    /// Checks the database: readable, and every index and counter in step with the records.
    pub fn audit(&self) -> Result<Vec<String>, RegistryError> {
        let policy = self.inner.settings.policy.clone();
        Ok(self.read()?.audit(&|d| counter_keys(&policy, d))?)
    }

    /// Stored records today's input rules would refuse ([`review_records`]).
    pub fn review_records(&self) -> Result<Vec<String>, RegistryError> {
        Ok(review_records(&self.inner.settings.policy, &self.read()?)?)
    }

    /// Counters with a prefix (dashboards, stats): never a scan of the records.
    pub fn counters(&self, prefix: &str) -> Result<Vec<(String, i64)>, RegistryError> {
        Ok(self.read()?.counters_with_prefix(prefix)?)
    }

    /// Number of registered (published) domains, in all and per zone.
    pub fn stats(&self) -> Result<Stats, RegistryError> {
        let r = self.read()?;
        let mut by_zone = std::collections::BTreeMap::new();
        for t in &self.policy().tlds {
            for z in t.profile.zones_open.iter().chain(&t.profile.zones_review).chain(&t.profile.zones_closed) {
                by_zone.insert(z.clone(), 0);
            }
        }
        for (k, v) in r.counters_with_prefix("domains.registered.zone:")? {
            by_zone.insert(k["domains.registered.zone:".len()..].to_string(), v);
        }
        Ok(Stats { domains: r.counter("domains.registered")?, by_zone })
    }

    /// Moves a lab clock forward and records the new offset durably. Refused for the system clock.
    pub async fn advance_clock(&self, days: i64, actor: Actor) -> Result<Timestamp, RegistryError> {
        if self.inner.clock.kind() == ClockKind::System {
            return err(Code::Conflict, "the registry runs on the system clock; only a lab clock can be moved");
        }
        if !(1..=3_650).contains(&days) {
            return err(Code::InvalidRequest, "days must be between 1 and 3650");
        }
        let offset = self.inner.clock.offset_secs() + days * crate::model::SECS_PER_DAY;
        let at = self.now();
        self.submit(move |tx| {
            tx.put_meta(LAB_OFFSET_KEY, &offset.to_le_bytes())?;
            record(tx, "clock", "clock.advance", at, &actor, None, None, None, 0)?;
            Ok(())
        })
        .await?;
        self.inner.clock.advance(days * crate::model::SECS_PER_DAY);
        Ok(self.now())
    }

    /// The prices a registrar pays in a TLD (its own, or the TLD's defaults).
    fn prices_for(&self, registrar: &crate::model::Registrar, tld: &str) -> Prices {
        registrar
            .prices
            .get(tld)
            .copied()
            .or_else(|| self.settings().tld(tld).map(|t| t.prices))
            .unwrap_or(crate::config::DEFAULT_PRICES)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub domains: i64,
    pub by_zone: std::collections::BTreeMap<String, i64>,
}

/// Stored contacts and domains that today's input rules would refuse (an import from another
/// registry may carry them, and a record may be older than a rule): one line per finding,
/// `contact C0000001: name contains U+202E, ...`. Reported by `nicbox check`; nothing changes.
pub fn review_records(policy: &Policy, read: &crate::store::ReadTx) -> Result<Vec<String>, crate::store::StoreError> {
    let mut out = Vec::new();
    read.for_each_contact(|c| {
        out.extend(validate::stored_contact_findings(&c).into_iter().map(|f| format!("contact {}: {f}", c.handle)));
        Ok(())
    })?;
    read.for_each_domain(|d| {
        if let Some(t) = policy.tld_of(&d.name) {
            out.extend(
                validate::stored_domain_findings(&d, &t.profile).into_iter().map(|f| format!("domain {}: {f}", d.name)),
            );
        }
        Ok(())
    })?;
    Ok(out)
}

/// `check`'s lines for the findings of [`review_records`]: each finding, then a summary.
pub fn review_lines(findings: &[String]) -> Vec<String> {
    if findings.is_empty() {
        return vec!["records: ok (every contact and delegation passes today's input rules)".into()];
    }
    let mut lines: Vec<String> = findings.iter().map(|f| format!("records: note: {f}")).collect();
    lines.push(format!(
        "records: {} stored values that today's input rules would refuse (left unchanged; the registrar fixes them with an update)",
        findings.len()
    ));
    lines
}

/// The counters a stored domain counts in. Kept in step by `put_domain_counted`, checked by
/// `audit`.
pub fn counter_keys(policy: &Policy, d: &Domain) -> Vec<String> {
    let min_ns = policy.tlds.iter().find(|t| t.tld == d.tld).map(|t| t.profile.nameservers_min_delegated).unwrap_or(2);
    let mut keys = vec![
        "domains.all".to_string(),
        format!("domains.zone:{}", d.zone),
        format!("domains.registrar:{}", d.registrar),
    ];
    for s in d.effective_statuses(min_ns) {
        keys.push(format!("domains.status:{s}"));
        keys.push(format!("domains.zone_status:{}:{s}", d.zone));
    }
    if d.is_registered() {
        keys.push("domains.registered".to_string());
        keys.push(format!("domains.registered.zone:{}", d.zone));
    }
    keys
}

/// When the lifecycle job must next look at a domain: never while the registry reviews its
/// registration; at the end of the restore period once deleted; otherwise at its expiry, or at
/// the end of a registrant change's review if that comes first.
pub(crate) fn due_of(policy: &Policy, d: &Domain) -> Timestamp {
    let profile = policy.tlds.iter().find(|t| t.tld == d.tld).map(|t| &t.profile);
    let restore_days = profile.map(|p| i64::from(p.restore_days)).unwrap_or(30);
    let review_hours = profile.map(|p| i64::from(p.registrant_change_review_hours)).unwrap_or(48);
    if d.has(crate::model::Status::PendingCreate) {
        return Timestamp(i64::MAX);
    }
    if d.has(crate::model::Status::PendingDelete) {
        return d.deleted.unwrap_or(d.updated).add_days(restore_days);
    }
    match (d.has(crate::model::Status::PendingUpdate), d.pending_since) {
        (true, Some(since)) => d.expires.min(since.add_secs(review_hours * 3_600)),
        _ => d.expires,
    }
}

/// Stores a domain with its indexes and counters (the only way commands write domains); sets
/// its `due` time first.
pub(crate) fn put_domain_counted(
    tx: &mut WriteTx,
    policy: &Policy,
    old: Option<&Domain>,
    new: &mut Domain,
) -> Result<(), StoreError> {
    new.due = due_of(policy, new);
    let old_keys = old.map(|o| counter_keys(policy, o)).unwrap_or_default();
    tx.put_domain(old, new)?;
    tx.counters_move(&old_keys, &counter_keys(policy, new))?;
    zone::domain_written(tx, policy, old, Some(new))
}

/// Writes a changed domain with its history entry (before and after): the common end of the
/// domain commands.
#[allow(clippy::too_many_arguments)]
pub(crate) fn commit_domain(
    tx: &mut WriteTx,
    policy: &Policy,
    old: &Domain,
    new: &mut Domain,
    operation: &str,
    now: Timestamp,
    actor: &Actor,
    amount_cents: i64,
) -> Result<(), StoreError> {
    put_domain_counted(tx, policy, Some(old), new)?;
    record(
        tx,
        &format!("domain:{}", new.name),
        operation,
        now,
        actor,
        Some(&new.roid),
        Some(Snapshot::Domain(Box::new(old.clone()))),
        Some(Snapshot::Domain(Box::new(new.clone()))),
        amount_cents,
    )?;
    Ok(())
}

/// Removes a domain (purge) with its indexes and counters; its history stays.
pub(crate) fn remove_domain_counted(tx: &mut WriteTx, policy: &Policy, old: &Domain) -> Result<(), StoreError> {
    tx.remove_domain(old)?;
    tx.counters_move(&counter_keys(policy, old), &[])?;
    zone::domain_written(tx, policy, Some(old), None)
}

/// Appends one history entry for `object` (`domain:NAME`, `contact:HANDLE`...).
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    tx: &mut WriteTx,
    object: &str,
    operation: &str,
    at: Timestamp,
    actor: &Actor,
    roid: Option<&str>,
    before: Option<Snapshot>,
    after: Option<Snapshot>,
    amount_cents: i64,
) -> Result<u64, StoreError> {
    let seq = tx.next_seq("history")?;
    tx.append_history(
        object,
        &HistoryEntry {
            seq,
            at,
            actor: actor.clone(),
            operation: operation.to_string(),
            roid: roid.map(str::to_string),
            before,
            after,
            amount_cents,
        },
    )?;
    Ok(seq)
}

/// Random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS random source failing is not something a registry can serve without: a key or
    // auth code must never be predictable.
    getrandom::fill(&mut b).expect("the operating system's random source failed");
    b
}

/// A random 256-bit token (base64url), for session cookies.
pub(crate) fn random_token() -> String {
    admin::token()
}

/// A random string over an unambiguous alphabet (no 0/O, 1/l/I).
pub(crate) fn random_code(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let bytes = random_bytes::<64>();
    bytes.iter().take(len.min(64)).map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests;
