//! Zone publication (the zones' files, the guard, what runs after publishing) and the
//! nameserver checker that decides, under `delegation_check = "require"`, which domains may
//! enter their zone.
//!
//! Reads go through the registry's snapshot, writes (the record of each attempt, check results)
//! through its writer. `render` is the pure file format, `publish` the export with its guard;
//! this module runs one publication at a time, records it, reloads the DNS server and sends
//! NOTIFY, and runs the checker off the request path with bounded concurrency.

pub mod diff;
pub mod publish;
pub mod render;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use publish::{ExportError, Force, export, zone_file};

use crate::model::{Actor, GuardOutcome, ZoneRun};
use crate::registry::Registry;

/// One publication at a time in this process (the interval, the admin button, the CLI).
static EXPORT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Counters for `/metrics`, since the process started.
pub static REFUSALS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
pub static PUBLICATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Held while anything compares the zone files with the database (`check --deep`), so that
/// no publication replaces a file in the middle.
pub async fn export_lock() -> tokio::sync::MutexGuard<'static, ()> {
    EXPORT_LOCK.lock().await
}

/// Publishes every zone now into `dir` (the configured directory when None): export through
/// the guard, record each attempt, then for each zone published run the reload command and send
/// NOTIFY. A refusal is logged, counted and recorded, and leaves the previous zone in place.
pub async fn publish(
    registry: &Registry,
    dir: Option<PathBuf>,
    force: Option<(Actor, String)>,
) -> Result<Vec<ZoneRun>, ExportError> {
    let _one = EXPORT_LOCK.lock().await;
    let dir = dir.unwrap_or_else(|| registry.settings().zone.dir.clone());
    let f = force.as_ref().map(|(a, r)| Force { who: a.to_string(), reason: r.clone() });
    let reg = registry.clone();
    let dir2 = dir.clone();
    let mut runs = tokio::task::spawn_blocking(move || export(&reg, &dir2, f.as_ref()))
        .await
        .map_err(|e| ExportError::Io(format!("export task: {e}")))??;
    for run in &mut runs {
        match run.outcome {
            GuardOutcome::Published | GuardOutcome::Forced => {
                PUBLICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(
                    zone = %run.zone, serial = run.serial, delegations = run.delegations, added = run.added,
                    removed = run.removed, changed = run.changed, forced = run.outcome == GuardOutcome::Forced,
                    millis = run.millis, "zone published"
                );
                run.after_publish = after_publish(registry, run).await;
            }
            GuardOutcome::Unchanged => {
                tracing::debug!(zone = %run.zone, serial = run.serial, "zone unchanged; not published");
            }
            _ => {
                REFUSALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(
                    zone = %run.zone, outcome = run.outcome.as_str(), removed = run.removed,
                    unexplained = run.unexplained, sample_removed = ?run.sample_removed,
                    sample_unexplained = ?run.sample_unexplained, note = %run.note,
                    "zone publication refused by the guard; the previous zone stays published"
                );
            }
        }
        if run.outcome != GuardOutcome::Unchanged {
            registry.record_zone_run(run.clone(), force.as_ref().map(|(a, _)| a.clone())).await?;
        }
        if matches!(run.outcome, GuardOutcome::Published | GuardOutcome::Forced) {
            notify_secondaries(registry, run);
        }
    }
    purge_journal(registry).await;
    purge_differences(registry, &dir, &runs);
    Ok(runs)
}

/// Drops journal entries that every zone of a TLD has published (the next issue keeps a
/// window of them for IXFR).
async fn purge_journal(registry: &Registry) {
    for t in &registry.settings().tlds {
        let mut covered = u64::MAX;
        for zone in std::iter::once(&t.name).chain(&t.zone.separate) {
            match registry.zone_state(zone) {
                Ok((Some(p), _)) => covered = covered.min(p.journal_seq),
                _ => covered = 0,
            }
        }
        if covered > 0
            && covered < u64::MAX
            && let Err(e) = registry.purge_journal(&t.name, covered).await
        {
            tracing::warn!(error = %e, tld = %t.name, "journal purge failed; it runs again after the next publication");
        }
    }
}

/// Drops the differences kept for IXFR beyond `[dns] keep_publications` / `keep_days`.
fn purge_differences(registry: &Registry, dir: &std::path::Path, runs: &[ZoneRun]) {
    let (keep, days) = registry.settings().dns.as_ref().map(|d| (d.keep_publications, d.keep_days)).unwrap_or((100, 7));
    for run in runs {
        match diff::purge(dir, &run.zone, keep, days, registry.now()) {
            Ok(0) => {}
            Ok(n) => tracing::debug!(zone = %run.zone, removed = n, "old differences purged"),
            Err(e) => {
                tracing::warn!(zone = %run.zone, error = %e, "cannot purge old differences; tried again at the next publication")
            }
        }
    }
}

/// NOTIFY (signed when the secondary has a key) to every `[[dns.secondary]]` of the zone, in
/// the background with retries: a dead secondary holds up nothing. Outcomes go to the
/// secondaries' book (admin UI) and the log.
fn notify_secondaries(registry: &Registry, run: &ZoneRun) {
    let Some(dns) = registry.settings().dns.as_ref() else { return };
    for s in dns.secondaries.iter().filter(|s| s.notify && s.serves(&run.zone)) {
        let key = match &s.tsig {
            Some(k) => match crate::dns::server::key(dns, k) {
                Some(k) => Some(k),
                None => continue,
            },
            None => None,
        };
        let (name, target, zone, serial) = (s.name.clone(), s.address, run.zone.clone(), run.serial);
        tokio::spawn(async move {
            let outcome = crate::dns::notify::notify_signed(target, &zone, key).await;
            let line = match &outcome {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("failed: {e}"),
            };
            match &outcome {
                Ok(()) => tracing::info!(zone = %zone, serial, secondary = %name, "notify sent"),
                Err(e) => tracing::warn!(zone = %zone, serial, secondary = %name, error = %e, "notify failed"),
            }
            crate::dns::book::book().notified(&name, &zone, serial, &line);
        });
    }
}

/// The reload command and NOTIFY for one published zone; each outcome as a line.
async fn after_publish(registry: &Registry, run: &ZoneRun) -> Vec<String> {
    let zs = &registry.settings().zone;
    let mut out = Vec::new();
    if let Some((program, args)) = zs.reload_command.split_first() {
        let args: Vec<String> =
            args.iter().map(|a| a.replace("{zone}", &run.zone).replace("{file}", &run.file)).collect();
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(&args).stdin(std::process::Stdio::null()).kill_on_drop(true);
        let line = match tokio::time::timeout(Duration::from_secs(crate::limits::RELOAD_TIMEOUT_SECS), cmd.output())
            .await
        {
            Ok(Ok(o)) if o.status.success() => format!("reload: ok ({program})"),
            Ok(Ok(o)) => {
                let err = String::from_utf8_lossy(&o.stderr);
                let text = String::from_utf8_lossy(&o.stdout);
                let detail: String = format!("{} {}", err.trim(), text.trim()).chars().take(300).collect();
                format!("reload: failed ({program}: {}): {}", o.status, detail.trim())
            }
            Ok(Err(e)) => format!("reload: failed: cannot run {program}: {e}"),
            Err(_) => format!("reload: failed: {program} did not finish in {}s", crate::limits::RELOAD_TIMEOUT_SECS),
        };
        if line.starts_with("reload: failed") {
            tracing::error!(zone = %run.zone, "{line}");
        }
        out.push(line);
    }
    let mut sends = tokio::task::JoinSet::new();
    for target in zs.notify.iter().copied() {
        let zone = run.zone.clone();
        sends.spawn(async move { (target, crate::dns::notify::notify(target, &zone).await) });
    }
    while let Some(r) = sends.join_next().await {
        if let Ok((target, r)) = r {
            let line = match r {
                Ok(()) => format!("notify {target}: ok"),
                Err(e) => format!("notify {target}: failed: {e}"),
            };
            if line.contains("failed") {
                tracing::warn!(zone = %run.zone, "{line}");
            }
            out.push(line);
        }
    }
    out.sort();
    out
}

/// The publication job: every `interval_minutes`, publishes when something changed (the export
/// finds out cheaply: same content, same serial, nothing written).
pub async fn run_publisher(registry: Registry, stop: impl std::future::Future<Output = ()>) {
    let minutes = registry.settings().zone.interval_minutes;
    if minutes == 0 {
        stop.await;
        return;
    }
    tokio::pin!(stop);
    let pace = Duration::from_secs(u64::from(minutes) * 60);
    let mut failures = crate::jobs::Failures::new("zone publication");
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {
                wait = match publish(&registry, None, None).await {
                    Ok(_) => { failures.succeeded(); pace }
                    Err(e) => failures.failed("zone publication failed; it runs again later", &e, pace),
                };
            }
        }
    }
}

/// The nameserver checker: every few seconds, takes the domains whose check is due and checks
/// them, a bounded number of queries in flight, and records each outcome through the writer.
pub async fn run_checker(registry: Registry, stop: impl std::future::Future<Output = ()>) {
    let zs = &registry.settings().zone;
    let settings =
        Arc::new(crate::dns::check::CheckSettings::new(zs.check_port, zs.check_resolver, zs.check_allow_loopback));
    let permits = Arc::new(tokio::sync::Semaphore::new(crate::limits::NS_CHECK_CONCURRENCY_MAX));
    tokio::pin!(stop);
    let pace = Duration::from_secs(u64::from(zs.check_interval_secs));
    let mut failures = crate::jobs::Failures::new("nameserver checker");
    let mut wait = Duration::ZERO;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let due = match registry.ns_checks_due(crate::limits::NS_CHECK_BATCH_MAX) {
            Ok(d) => d,
            Err(e) => {
                wait = failures.failed("nameserver checker cannot read its queue", &e, pace);
                continue;
            }
        };
        let full = due.len() >= crate::limits::NS_CHECK_BATCH_MAX;
        let mut tasks = tokio::task::JoinSet::new();
        for d in due {
            let (reg, settings, permits) = (registry.clone(), settings.clone(), permits.clone());
            tasks.spawn(async move {
                let servers = crate::dns::check::check_domain(&d.domain, &d.nameservers, &settings, &permits).await;
                let passed = crate::dns::check::passed(&servers);
                reg.record_ns_check(&d.domain, d.nameservers, servers, passed).await.map_err(|e| (d.domain, e))
            });
        }
        let mut round_failed = false;
        loop {
            tokio::select! {
                _ = &mut stop => { tasks.abort_all(); return; }
                r = tasks.join_next() => match r {
                    None => break,
                    Some(Ok(Err((domain, e)))) => {
                        round_failed = true;
                        failures.item_failed(&format!("cannot record the nameserver check of {domain}"), &e);
                    }
                    Some(_) => {}
                },
            }
        }
        // A full round means more are waiting: the next round starts at once, unless recording
        // failed (the store refuses writes): then the checker backs off like any failing job.
        wait = if round_failed {
            failures.failed(
                "nameserver checker cannot record its checks",
                &"a check of the round was not recorded",
                pace,
            )
        } else {
            failures.succeeded();
            if full { Duration::ZERO } else { pace }
        };
    }
}

/// A publication attempt as JSON (the admin API and the command line).
pub fn run_json(run: &ZoneRun) -> serde_json::Value {
    serde_json::json!({
        "zone": run.zone,
        "file": run.file,
        "serial": run.serial,
        "delegations": run.delegations,
        "published": matches!(run.outcome, GuardOutcome::Published | GuardOutcome::Forced),
        "outcome": run.outcome.as_str(),
        "added": run.added,
        "removed": run.removed,
        "changed": run.changed,
        "unexplained": run.unexplained,
        "sample_added": run.sample_added,
        "sample_removed": run.sample_removed,
        "sample_changed": run.sample_changed,
        "sample_unexplained": run.sample_unexplained,
        "note": run.note,
        "after_publish": run.after_publish,
        "at": run.at.to_rfc3339(),
        "millis": run.millis,
    })
}

/// One line per zone for the command line.
pub fn run_line(run: &ZoneRun) -> String {
    let mut line = format!(
        "zone {}: {} serial {} ({} delegations; +{} -{} ~{}) {}",
        run.zone,
        run.outcome.as_str(),
        run.serial,
        run.delegations,
        run.added,
        run.removed,
        run.changed,
        run.file
    );
    if run.outcome.is_refusal() {
        line.push_str(&format!(
            "; refused: {}; removed e.g. {:?}; unexplained e.g. {:?}",
            run.note, run.sample_removed, run.sample_unexplained
        ));
    } else if !run.note.is_empty() {
        line.push_str(&format!("; {}", run.note));
    }
    for a in &run.after_publish {
        line.push_str(&format!("; {a}"));
    }
    line
}
