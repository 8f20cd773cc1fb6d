//! Abuse protection of the public directory (POLICY.md section 4, point 8), shared by WHOIS and
//! RDAP so that one origin has one budget.
//!
//! An origin is an IPv4 address or an IPv6 /64. Each has a token bucket (`governor`): a rate
//! per minute and a burst. An origin that keeps going past its limit (`suspend_after` refused
//! queries within one refill of its bucket) is suspended: for the first configured duration,
//! then the next one each time it recurs while it is remembered. Suspensions are stored through
//! the registry (they survive a restart) and held in memory for the query path. Networks on the
//! allow-list skip all of this. Every query is logged, in batches, off the query path.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use tokio::sync::mpsc;

use crate::model::{QueryLogBlock, QueryLogRow, QueryOutcome, Suspension, Timestamp};
use crate::registry::Registry;

/// Where queries come from: an IPv4 address, or the /64 of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    V4([u8; 4]),
    V6([u8; 8]),
}

impl Origin {
    pub fn of(ip: IpAddr) -> Origin {
        match ip {
            IpAddr::V4(v4) => Origin::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Origin::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&o[..8]);
                    Origin::V6(p)
                }
            },
        }
    }

    /// Parses the form `Display` writes (an IPv4 address, or `prefix::/64`), or any IPv6
    /// address (taken as its /64).
    pub fn parse(text: &str) -> Option<Origin> {
        let t = text.trim().trim_end_matches("/64");
        t.parse::<IpAddr>().ok().map(Origin::of)
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::V4(o) => write!(f, "{}", std::net::Ipv4Addr::from(*o)),
            Origin::V6(p) => {
                let mut o = [0u8; 16];
                o[..8].copy_from_slice(p);
                write!(f, "{}/64", std::net::Ipv6Addr::from(o))
            }
        }
    }
}

/// The answer to "may this origin query now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over the limit: try again after this many seconds.
    Limited {
        retry_after_secs: u64,
    },
    /// Suspended until then (registry time).
    Suspended {
        until: Timestamp,
    },
}

/// Refused queries of one origin within its current window.
struct Strikes {
    count: u32,
    since: Instant,
}

pub struct Guard {
    registry: Registry,
    limiter: governor::DefaultKeyedRateLimiter<Origin>,
    allow: Vec<IpNet>,
    /// Seconds for the bucket to refill completely: the window in which refusals are counted.
    window: Duration,
    strikes: Mutex<HashMap<Origin, Strikes>>,
    /// Every stored suspension record by origin (current and remembered).
    records: RwLock<HashMap<Origin, Suspension>>,
    log: mpsc::Sender<Logged>,
    log_dropped: std::sync::atomic::AtomicU64,
    log_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Entries the query log holds in memory before it drops (and counts) new ones.
const LOG_QUEUE_MAX: usize = 65_536;
/// Entries written per transaction, and the longest an entry waits.
const LOG_BATCH_MAX: usize = 8_192;
const LOG_FLUSH_MS: u64 = 500;
/// Characters of a query kept in the log.
const QUERY_CHARS_MAX: usize = 255;
/// Origins tracked for strikes before the oldest are forgotten.
const STRIKE_ORIGINS_MAX: usize = 100_000;

impl Guard {
    /// Builds the guard from the settings and the stored suspensions, and starts the query-log
    /// writer task (which ends when the guard is dropped, after writing what it holds).
    pub fn start(registry: Registry) -> Result<Arc<Guard>, crate::registry::RegistryError> {
        let w = registry.settings().whois.clone();
        let per_minute = NonZeroU32::new(w.rate_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(w.burst).unwrap_or(NonZeroU32::MIN);
        let limiter = governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute).allow_burst(burst));
        let allow = w.allow.iter().filter_map(|n| parse_net(n)).collect();
        let window = Duration::from_secs_f64(60.0 * f64::from(w.burst) / f64::from(w.rate_per_minute))
            .max(Duration::from_secs(1));
        let mut records = HashMap::new();
        for s in registry.suspensions()? {
            if let Some(o) = Origin::parse(&s.origin) {
                records.insert(o, s);
            }
        }
        let (tx, rx) = mpsc::channel(LOG_QUEUE_MAX);
        let task = tokio::spawn(log_writer(registry.clone(), rx));
        Ok(Arc::new(Guard {
            registry,
            limiter,
            allow,
            window,
            strikes: Mutex::new(HashMap::new()),
            records: RwLock::new(records),
            log: tx,
            log_dropped: Default::default(),
            log_task: Mutex::new(Some(task)),
        }))
    }

    pub fn allowed(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.allow.iter().any(|n| n.contains(&ip))
    }

    /// Decides whether `ip` may query now, counting the query against its budget.
    pub fn check(&self, ip: IpAddr) -> Verdict {
        if self.allowed(ip) {
            return Verdict::Allow;
        }
        let origin = Origin::of(ip);
        let now = self.registry.now();
        if let Ok(records) = self.records.read()
            && let Some(s) = records.get(&origin)
            && s.until > now
        {
            return Verdict::Suspended { until: s.until };
        }
        match self.limiter.check_key(&origin) {
            Ok(()) => Verdict::Allow,
            Err(not_until) => {
                let wait =
                    not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
                if self.strike(origin) {
                    return Verdict::Suspended { until: self.suspend(origin, now) };
                }
                Verdict::Limited { retry_after_secs: wait.as_secs() + 1 }
            }
        }
    }

    /// Counts a refused query; true when the origin has now earned a suspension.
    fn strike(&self, origin: Origin) -> bool {
        let Ok(mut strikes) = self.strikes.lock() else { return false };
        if strikes.len() >= STRIKE_ORIGINS_MAX {
            let window = self.window;
            strikes.retain(|_, s| s.since.elapsed() < window);
        }
        let s = strikes.entry(origin).or_insert(Strikes { count: 0, since: Instant::now() });
        if s.since.elapsed() >= self.window {
            *s = Strikes { count: 0, since: Instant::now() };
        }
        s.count += 1;
        if s.count >= self.registry.settings().whois.suspend_after {
            strikes.remove(&origin);
            return true;
        }
        false
    }

    /// Suspends an origin for the duration its history calls for; returns until when.
    fn suspend(&self, origin: Origin, now: Timestamp) -> Timestamp {
        let w = &self.registry.settings().whois;
        let remember_secs = i64::from(w.remember_days) * 86_400;
        let Ok(mut records) = self.records.write() else { return now };
        let (level, count) = match records.get(&origin) {
            Some(prev) if prev.until.add_secs(remember_secs) >= now => (prev.level + 1, prev.count + 1),
            _ => (1, 1),
        };
        let level = level.min(w.suspension_minutes.len() as u32).max(1);
        let minutes = w.suspension_minutes[(level - 1) as usize];
        let s = Suspension {
            origin: origin.to_string(),
            level,
            since: now,
            until: now.add_secs(i64::from(minutes) * 60),
            count,
            lifted_by: None,
        };
        let until = s.until;
        records.insert(origin, s.clone());
        tracing::warn!(origin = %origin, level, minutes, "directory origin suspended");
        let registry = self.registry.clone();
        tokio::spawn(async move {
            if let Err(e) = registry.suspension_put(s).await {
                tracing::error!(error = %e, "could not store a suspension");
            }
        });
        until
    }

    /// Current suspensions (until after now).
    pub fn current(&self) -> Vec<Suspension> {
        let now = self.registry.now();
        let mut v: Vec<Suspension> =
            self.records.read().map(|r| r.values().filter(|s| s.until > now).cloned().collect()).unwrap_or_default();
        v.sort_by(|a, b| a.origin.cmp(&b.origin));
        v
    }

    /// Lifts a suspension now (stored, and at once in memory).
    pub async fn lift(
        &self,
        origin: &str,
        actor: crate::model::Actor,
    ) -> Result<Suspension, crate::registry::RegistryError> {
        let o = Origin::parse(origin).ok_or_else(|| {
            crate::registry::RegistryError::new(crate::registry::Code::NotFound, format!("{origin} is not an origin"))
        })?;
        let s = self.registry.suspension_lift(&o.to_string(), actor).await?;
        if let Ok(mut records) = self.records.write() {
            records.insert(o, s.clone());
        }
        // A fresh budget: the lifted origin starts over.
        if let Ok(mut strikes) = self.strikes.lock() {
            strikes.remove(&o);
        }
        Ok(s)
    }

    /// Records a query in the log (dropped, and counted, if the log cannot keep up).
    pub fn log(&self, ip: IpAddr, protocol: &'static str, query: &str, outcome: QueryOutcome) {
        let query = if query.len() <= QUERY_CHARS_MAX && query.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            query.to_string()
        } else {
            query.chars().filter(|c| !c.is_control()).take(QUERY_CHARS_MAX).collect()
        };
        let entry = Logged { at: self.registry.now(), origin: Origin::of(ip), protocol, query, outcome };
        if self.log.try_send(entry).is_err() {
            self.log_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Takes the query-log writer's task: once every `Guard` is dropped it writes what it holds
    /// and ends; the server awaits it before closing the database.
    pub fn take_log_task(&self) -> Option<tokio::task::JoinHandle<()>> {
        self.log_task.lock().ok().and_then(|mut t| t.take())
    }

    pub fn log_dropped(&self) -> u64 {
        self.log_dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// A query on its way to the log.
struct Logged {
    at: Timestamp,
    origin: Origin,
    protocol: &'static str,
    query: String,
    outcome: QueryOutcome,
}

/// Writes the query log in blocks: once an entry arrives, whatever else arrives within
/// `LOG_FLUSH_MS` goes with it (a full block at once), stored as one record. The writer sleeps
/// meanwhile instead of waiting on the queue, so that a query does not wake it: at thousands of
/// queries a second, those wake-ups cost more than the log itself.
async fn log_writer(registry: Registry, mut rx: mpsc::Receiver<Logged>) {
    let mut batch = Vec::with_capacity(LOG_BATCH_MAX);
    // A failing store (a full disk) must not turn every block into a log line of its own.
    let mut failures = crate::jobs::Failures::new("query log");
    loop {
        if rx.recv_many(&mut batch, LOG_BATCH_MAX).await == 0 {
            break; // every sender is gone and the queue is empty
        }
        if batch.len() < LOG_BATCH_MAX {
            tokio::time::sleep(Duration::from_millis(LOG_FLUSH_MS)).await;
            while batch.len() < LOG_BATCH_MAX
                && let Ok(e) = rx.try_recv()
            {
                batch.push(e);
            }
        }
        match registry.log_queries(block_of(&mut batch)).await {
            Ok(_) => failures.succeeded(),
            Err(e) => {
                failures.failed("could not write the query log", &e, Duration::ZERO);
            }
        }
    }
}

/// The block stored for a batch (which it empties): each origin written out once.
fn block_of(batch: &mut Vec<Logged>) -> QueryLogBlock {
    let mut block = QueryLogBlock { rows: Vec::with_capacity(batch.len()), ..Default::default() };
    let mut origins: HashMap<Origin, u32> = HashMap::new();
    for e in batch.drain(..) {
        let origin = *origins.entry(e.origin).or_insert_with(|| block.add_origin(e.origin.to_string()));
        let protocol = block.protocol(e.protocol);
        block.rows.push(QueryLogRow { at: e.at, origin, protocol, query: e.query, outcome: e.outcome });
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_group_ipv6_by_64() {
        let a = Origin::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = Origin::of("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = Origin::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(Origin::parse("2001:db8:1:2::/64"), Some(a));
        let v4 = Origin::of("192.0.2.7".parse().unwrap());
        assert_eq!(v4.to_string(), "192.0.2.7");
        assert_eq!(Origin::of("::ffff:192.0.2.7".parse().unwrap()), v4);
        assert_eq!(Origin::parse("not an address"), None);
    }
}
