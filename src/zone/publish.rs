//! One publication of every zone: a single scan of one read snapshot, merged name by name with
//! the previous publication (read back from its file) and the change journal, written to a
//! temporary file that is fsynced and renamed into place, through the guard.
//!
//! Memory stays flat in the zone's size: the domains, the previous file and the journal are all
//! walked in name order side by side, and nothing but the current name's records is held.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::diff::DiffWriter;
use super::render::{self, Header, Reader};
use crate::config::{Settings, TldZone};
use crate::limits::ZONE_SAMPLE_NAMES;
use crate::model::{Delegation, GuardOutcome, JournalEntry, Timestamp, ZoneRun};
use crate::policy::DelegationCheck;
use crate::registry::Registry;
use crate::registry::zone::delegation_of_view;
use crate::store::JournalCursor;

/// Names handed from the export's scan to its writer at a time, and batches in flight between
/// them (the memory this takes is bounded by their product).
const EXPORT_BATCH: usize = 512;
const EXPORT_BATCHES_IN_FLIGHT: usize = 8;

/// One batch: each name's zone (its index among the jobs), the name and its delegation.
type Batch = Vec<(usize, String, Option<Delegation>)>;

/// What an admin forcing a refused publication says.
#[derive(Debug, Clone)]
pub struct Force {
    pub who: String,
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Config(String),
    #[error("zone export: {0}")]
    Io(String),
    #[error("zone export: {0}")]
    Registry(String),
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        ExportError::Io(e.to_string())
    }
}

impl From<crate::store::StoreError> for ExportError {
    fn from(e: crate::store::StoreError) -> Self {
        ExportError::Registry(e.to_string())
    }
}

impl From<crate::registry::RegistryError> for ExportError {
    fn from(e: crate::registry::RegistryError) -> Self {
        ExportError::Registry(e.to_string())
    }
}

/// The file of a zone in a directory.
pub fn zone_file(dir: &Path, zone: &str) -> PathBuf {
    dir.join(format!("{zone}.zone"))
}

/// The previous publication, kept beside the current one.
pub fn previous_file(dir: &Path, zone: &str) -> PathBuf {
    dir.join(format!("{zone}.zone.prev"))
}

/// The zones a configuration publishes: each TLD, and its second-level zones published apart.
pub fn zones_of(settings: &Settings) -> Vec<(String, &TldZone, String)> {
    let mut out = Vec::new();
    for t in &settings.tlds {
        out.push((t.name.clone(), &t.zone, t.name.clone()));
        for s in &t.zone.separate {
            out.push((s.clone(), &t.zone, t.name.clone()));
        }
    }
    out
}

/// Fingerprint of what shapes a zone besides the registry's data.
fn config_digest(settings: &Settings, zone: &str, z: &TldZone, tld: &str) -> [u8; 32] {
    let profile = settings.policy.tlds.iter().find(|t| t.tld == tld).map(|t| &t.profile);
    let text = format!(
        "{zone}|{z:?}|{:?}|{:?}",
        profile.map(|p| p.delegation_check),
        profile.map(|p| p.nameservers_min_delegated)
    );
    Sha256::digest(text.as_bytes()).into()
}

/// The serial of a new publication: `YYYYMMDDnn` of the registry's day, or one more than any
/// serial already published (in the database or in the file on disk, which survives a restore
/// of an older backup), whichever is higher.
pub fn next_serial(now: Timestamp, published: &[u32]) -> u32 {
    let day = now.day_key().replace('-', "");
    let base: u32 = day.parse::<u32>().ok().and_then(|d| d.checked_mul(100)).unwrap_or(0);
    let after = published.iter().map(|s| s.wrapping_add(1)).max().unwrap_or(0);
    base.max(after)
}

/// Where a zone being exported is written: its temporary file, or nowhere when only
/// verifying ([`verify`]).
enum Out {
    File(File),
    Nowhere,
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::File(f) => f.write(buf),
            Out::Nowhere => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::File(f) => f.flush(),
            Out::Nowhere => Ok(()),
        }
    }
}

/// The guard's view of one zone while the scan runs.
struct ZoneJob {
    zone: String,
    tld: String,
    ttl: u32,
    file: PathBuf,
    tmp: PathBuf,
    out: BufWriter<Out>,
    content: Sha256,
    prev: Option<std::iter::Peekable<Reader<BufReader<File>>>>,
    journal: Option<std::iter::Peekable<JournalCursor>>,
    /// The previous publication could not be compared (missing file with a recorded
    /// publication, or a damaged one).
    prev_problem: Option<String>,
    check_journal: bool,
    run: ZoneRun,
    prev_count: u64,
    buf: Vec<u8>,
    /// Second-level zones published apart (for the TLD's zone): their names are not this zone's.
    children: Vec<String>,
    /// The differences from the previous publication, for IXFR (when it could be read and the
    /// zone's configuration is the same).
    diff: Option<DiffWriter>,
    /// The database's record of the zone's last publication.
    published: Option<ZoneRun>,
}

fn sample(v: &mut Vec<String>, name: &str) {
    if v.len() < ZONE_SAMPLE_NAMES {
        v.push(name.to_string());
    }
}

impl ZoneJob {
    /// Whether a name of the TLD's journal belongs to this zone.
    fn belongs(&self, name: &str) -> bool {
        if self.zone == self.tld {
            !self.children.iter().any(|c| render::in_zone(name, c))
        } else {
            render::in_zone(name, &self.zone)
        }
    }

    /// Skips journal entries of names that belong to another zone of the TLD.
    fn skip_foreign_journal(&mut self) {
        loop {
            let name = match self.journal.as_mut().map(|j| j.peek()) {
                Some(Some(Ok((n, _, _)))) => Some(n.clone()),
                _ => None,
            };
            let foreign = name.is_some_and(|n| !self.belongs(&n));
            if !foreign {
                return;
            }
            if let Some(j) = self.journal.as_mut() {
                j.next();
            }
        }
    }

    /// Compares and writes everything of this zone up to and including `name` (`new` its
    /// delegation now; `name` None: the end of the scan).
    fn advance(&mut self, name: Option<&str>, new: Option<Delegation>) -> Result<(), ExportError> {
        // Names before `name` that only the previous file or the journal has.
        loop {
            let next_prev = match self.prev.as_mut().map(|p| p.peek()) {
                Some(Some(Ok((n, _)))) => Some(n.clone()),
                Some(Some(Err(_))) => {
                    if let Some(Some(Err(e))) = self.prev.as_mut().map(|p| p.next()) {
                        self.prev_problem = Some(format!("the previous publication cannot be read: {e}"));
                    }
                    self.prev = None;
                    continue;
                }
                _ => None,
            };
            self.skip_foreign_journal();
            let next_journal = match self.journal.as_mut().map(|j| j.peek()) {
                Some(Some(Ok((n, _, _)))) => Some(n.clone()),
                Some(Some(Err(_))) => {
                    if let Some(Some(Err(e))) = self.journal.as_mut().map(|j| j.next()) {
                        return Err(ExportError::Registry(e.to_string()));
                    }
                    continue;
                }
                _ => None,
            };
            let first = match (next_prev, next_journal) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match (first, name) {
                (Some(f), Some(n)) if f.as_str() < n => self.compare(&f, None)?,
                (Some(f), None) => self.compare(&f, None)?,
                _ => break,
            }
        }
        if let Some(n) = name {
            if let Some(d) = &new {
                self.buf.clear();
                render::write_delegation(&mut self.buf, n, self.ttl, d)?;
                self.out.write_all(&self.buf)?;
                self.content.update(&self.buf);
                self.run.delegations += 1;
            }
            self.compare(n, new)?;
        }
        Ok(())
    }

    /// One name: the previous publication's delegation against the new one, explained (or
    /// not) by the journal's entries for the name.
    fn compare(&mut self, name: &str, new: Option<Delegation>) -> Result<(), ExportError> {
        let prev = match self.prev.as_mut() {
            Some(p) => match p.peek() {
                Some(Ok((n, _))) if n == name => p.next().and_then(|r| r.ok()).map(|(_, d)| d),
                _ => None,
            },
            None => None,
        };
        let (mut first, mut last): (Option<JournalEntry>, Option<JournalEntry>) = (None, None);
        let mut chain_ok = true;
        self.skip_foreign_journal();
        if let Some(j) = self.journal.as_mut() {
            while let Some(Ok((n, _, _))) = j.peek() {
                if n != name {
                    break;
                }
                let Some(Ok((_, _, e))) = j.next() else { break };
                if let Some(l) = &last
                    && l.after != e.before
                {
                    chain_ok = false;
                }
                if first.is_none() {
                    first = Some(e.clone());
                }
                last = Some(e);
            }
        }
        if prev != new
            && let Some(w) = self.diff.as_mut()
            && let Err(e) = w.write(name, prev.as_ref(), new.as_ref())
        {
            tracing::warn!(zone = %self.zone, error = %e, "cannot write the differences for IXFR; secondaries will transfer the whole zone");
            if let Some(w) = self.diff.take() {
                w.discard();
            }
        }
        match (&prev, &new) {
            (None, Some(_)) => {
                self.run.added += 1;
                sample(&mut self.run.sample_added, name);
            }
            (Some(_), None) => {
                self.run.removed += 1;
                sample(&mut self.run.sample_removed, name);
            }
            (Some(a), Some(b)) if a != b => {
                self.run.changed += 1;
                sample(&mut self.run.sample_changed, name);
            }
            _ => {}
        }
        if self.check_journal {
            let explained = match (&first, &last) {
                (None, _) | (_, None) => prev == new,
                (Some(f), Some(l)) => chain_ok && f.before == prev && l.after == new,
            };
            if !explained {
                self.run.unexplained += 1;
                sample(&mut self.run.sample_unexplained, name);
            }
        }
        Ok(())
    }
}

/// Exports every zone now (blocking: run it off the async threads). Each zone's outcome is
/// returned, and is not yet recorded: [`super::publish`] records it.
pub fn export(registry: &Registry, dir: &Path, force: Option<&Force>) -> Result<Vec<ZoneRun>, ExportError> {
    let snap = registry.zone_snapshot()?;
    scan(registry.settings(), snap, registry.now(), dir, force, Some(registry))
}

/// Runs the guard of every zone in `dir` against one read snapshot without writing anything
/// (`check --deep`): whether the change journal explains every difference between each zone's
/// file and the database. Outcomes: `Unchanged` (the file is the database's zone), `Published`
/// (differences, all explained: the next publication would go out), or a refusal with its
/// reason. Nothing is recorded.
pub fn verify(settings: &Settings, snap: crate::store::ReadTx, dir: &Path) -> Result<Vec<ZoneRun>, ExportError> {
    scan(settings, snap, crate::clock::Clock::wall_now(), dir, None, None)
}

/// The export's one scan; `registry` None: verify only (nothing written, see [`verify`]).
fn scan(
    settings: &Settings,
    snap: crate::store::ReadTx,
    now: Timestamp,
    dir: &Path,
    force: Option<&Force>,
    registry: Option<&Registry>,
) -> Result<Vec<ZoneRun>, ExportError> {
    let writing = registry.is_some();
    let zones = zones_of(settings);
    for (zone, z, _) in &zones {
        if z.nameservers.is_empty() {
            return Err(ExportError::Config(format!(
                "zone {zone}: no nameservers of its own are configured (set [tld.zone] nameservers in the configuration)"
            )));
        }
    }
    if writing {
        std::fs::create_dir_all(dir)?;
    }
    let started = std::time::Instant::now();
    let journal_upto = snap.seq_value("zone_journal")?;
    let mut jobs: Vec<ZoneJob> = Vec::new();
    for (zone, z, tld) in &zones {
        let file = zone_file(dir, zone);
        let published = snap.zone_state(&format!("published:{zone}"))?;
        let digest = config_digest(settings, zone, z, tld);
        let mut prev_problem = None;
        let prev = match File::open(&file) {
            Ok(f) => match Reader::open(BufReader::with_capacity(256 * 1024, f)) {
                Ok(r) => Some(r),
                Err(e) => {
                    prev_problem =
                        Some(format!("{} is not a publication nicbox can compare with: {e}", file.display()));
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if published.is_some() {
                    prev_problem = Some(format!(
                        "{} is missing although the database records a publication (serial {})",
                        file.display(),
                        published.as_ref().map(|p| p.serial).unwrap_or(0)
                    ));
                }
                None
            }
            Err(e) => return Err(e.into()),
        };
        let prev_header = prev.as_ref().map(|r| r.header);
        let after_seq = prev_header.map(|h| h.journal_seq).or(published.as_ref().map(|p| p.journal_seq)).unwrap_or(0);
        let serial = next_serial(
            now,
            &[prev_header.map(|h| h.serial), published.as_ref().map(|p| p.serial)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        );
        let config_same = published.as_ref().is_none_or(|p| p.config_digest == digest);
        let check_journal = prev.is_some() && config_same;
        let diff = match prev_header {
            Some(h) if writing && config_same && h.serial != serial => {
                match DiffWriter::create(dir, zone, h.serial, serial, z.ttl, now) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!(zone = %zone, error = %e, "cannot write the differences for IXFR; secondaries will transfer the whole zone");
                        None
                    }
                }
            }
            _ => None,
        };
        let tmp = dir.join(format!(".{zone}.zone.tmp"));
        let mut out = if writing {
            BufWriter::with_capacity(1 << 20, Out::File(File::create(&tmp)?))
        } else {
            BufWriter::with_capacity(64 * 1024, Out::Nowhere)
        };
        let children: Vec<String> = if zone == tld { z.separate.clone() } else { Vec::new() };
        render::write_apex(&mut out, zone, z, Header { serial, journal_seq: journal_upto }, &children)?;
        let mut content = Sha256::new();
        let mut apex = Vec::new();
        render::write_apex_body(&mut apex, zone, z, 0, &children)?;
        content.update(&apex);
        let prev_count = published.as_ref().map(|p| p.delegations).unwrap_or(0);
        let mut note = String::new();
        if !config_same {
            note = "the configuration of the zone changed since the last publication: differences are not checked against the journal".into();
        }
        jobs.push(ZoneJob {
            zone: zone.clone(),
            tld: tld.clone(),
            ttl: z.ttl,
            file: file.clone(),
            tmp,
            out,
            content,
            prev: prev.map(Iterator::peekable),
            journal: if check_journal {
                Some(snap.journal_cursor(tld, after_seq, journal_upto)?.peekable())
            } else {
                None
            },
            prev_problem,
            check_journal,
            run: ZoneRun {
                zone: zone.clone(),
                at: now,
                outcome: GuardOutcome::Published,
                serial,
                delegations: 0,
                added: 0,
                removed: 0,
                changed: 0,
                unexplained: 0,
                sample_added: vec![],
                sample_removed: vec![],
                sample_changed: vec![],
                sample_unexplained: vec![],
                journal_seq: journal_upto,
                config_digest: digest,
                content_digest: [0; 32],
                note,
                after_publish: vec![],
                file: file.display().to_string(),
                millis: 0,
            },
            prev_count,
            buf: Vec::with_capacity(1024),
            children,
            diff,
            published: published.clone(),
        });
    }
    // Two stages on two threads: this one walks the snapshot and works out each name's
    // delegation; the other writes, hashes and compares, in batches so that neither waits on
    // the other for each name. The channel is bounded: memory stays flat.
    let policy = &settings.policy;
    let zone_names: Vec<String> = jobs.iter().map(|j| j.zone.clone()).collect();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(EXPORT_BATCHES_IN_FLIGHT);
    let (scanned, consumed) = std::thread::scope(|s| {
        let writer = s.spawn(|| -> Result<(), ExportError> {
            for batch in rx {
                for (i, name, delegation) in batch {
                    jobs[i].advance(Some(&name), delegation)?;
                }
            }
            Ok(())
        });
        let mut batch: Batch = Vec::with_capacity(EXPORT_BATCH);
        // A domain's check only matters under `delegation_check = "require"`; decoding one per
        // domain otherwise cost a fifth of the export.
        let with_checks = policy.tlds.iter().any(|t| t.profile.delegation_check == DelegationCheck::Require);
        let scanned = snap.for_each_domain_with_check(with_checks, |d, check| {
            let Some(t) = settings.tld(d.tld) else { return Ok(()) };
            let zone = if t.zone.separate.iter().any(|z| z == d.zone) { d.zone } else { d.tld };
            let Some(i) = zone_names.iter().position(|z| z == zone) else { return Ok(()) };
            batch.push((i, d.name.to_string(), delegation_of_view(policy, d, check.as_ref())));
            if batch.len() == EXPORT_BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(EXPORT_BATCH));
                // The writer stopped on an error: it is the one reported.
                tx.send(full).map_err(|_| crate::store::StoreError::Db("export stopped".into()))?;
            }
            Ok(())
        });
        if scanned.is_ok() && !batch.is_empty() {
            let _ = tx.send(batch);
        }
        drop(tx);
        let consumed = writer.join().unwrap_or_else(|_| Err(ExportError::Io("the export's writer panicked".into())));
        (scanned, consumed)
    });
    consumed?;
    scanned?;
    drop(snap);
    let mut runs = Vec::new();
    for mut job in jobs {
        job.advance(None, None)?;
        let ZoneJob {
            mut run,
            out,
            tmp,
            file,
            content,
            prev_problem,
            prev_count,
            check_journal,
            diff,
            published: recorded,
            ..
        } = job;
        run.content_digest = content.finalize().into();
        let Some(registry) = registry else {
            runs.push(verified(run, prev_problem, check_journal, recorded.as_ref()));
            continue;
        };
        // Written out now (a full disk fails here); made durable only if it is to be published:
        // an unchanged or refused zone's file is thrown away unsynced.
        let written = out.into_inner().map_err(|e| ExportError::Io(e.to_string()))?;
        let (published, _) = registry.zone_state(&run.zone)?;
        // Same content as the last publication, and the file on disk still is that publication.
        let unchanged = prev_problem.is_none()
            && run.unexplained == 0
            && published
                .as_ref()
                .is_some_and(|p| p.content_digest == run.content_digest && p.config_digest == run.config_digest)
            && file.exists();
        if unchanged {
            if let Some(w) = diff {
                w.discard();
            }
            let _ = std::fs::remove_file(&tmp);
            run.outcome = GuardOutcome::Unchanged;
            run.serial = published.as_ref().map(|p| p.serial).unwrap_or(run.serial);
            run.millis = started.elapsed().as_millis() as u64;
            runs.push(run);
            continue;
        }
        let cap = match settings.zone.removal_cap_count {
            Some(c) => c,
            None => ((prev_count as f64) * settings.zone.removal_cap_percent / 100.0).floor().max(10.0) as u64,
        };
        let refusal = if let Some(p) = &prev_problem {
            run.unexplained = run.unexplained.max(1);
            Some((GuardOutcome::RefusedUnexplained, p.clone()))
        } else if check_journal && run.unexplained > 0 {
            Some((
                GuardOutcome::RefusedUnexplained,
                format!(
                    "{} differences from the last publication are not in the change journal (a bug or a damaged database)",
                    run.unexplained
                ),
            ))
        } else if run.removed > cap {
            Some((
                GuardOutcome::RefusedRemovals,
                format!("{} delegations removed, more than the cap of {cap}", run.removed),
            ))
        } else {
            None
        };
        if let Some((outcome, why)) = refusal {
            match force {
                Some(f) => {
                    run.outcome = GuardOutcome::Forced;
                    run.note = format!("forced by {} over \"{why}\": {}", f.who, f.reason);
                }
                None => {
                    if let Some(w) = diff {
                        w.discard();
                    }
                    let _ = std::fs::remove_file(&tmp);
                    run.outcome = outcome;
                    run.note = if run.note.is_empty() { why } else { format!("{why}; {}", run.note) };
                    run.serial = published.as_ref().map(|p| p.serial).unwrap_or(0);
                    run.millis = started.elapsed().as_millis() as u64;
                    runs.push(run);
                    continue;
                }
            }
        }
        if let Out::File(f) = written {
            f.sync_all()?;
        }
        // The differences first (they are only used once the zone they lead to is in place).
        if let Some(w) = diff
            && let Err(e) = w.commit()
        {
            tracing::warn!(zone = %run.zone, error = %e, "cannot keep the differences for IXFR; secondaries will transfer the whole zone");
        }
        // Keep the publication being replaced, then move the new one into place; at every
        // moment the zone's file is a whole publication.
        if file.exists() {
            let prev = previous_file(dir, &run.zone);
            let prev_tmp = dir.join(format!(".{}.zone.prev.tmp", run.zone));
            let _ = std::fs::remove_file(&prev_tmp);
            std::fs::hard_link(&file, &prev_tmp)?;
            std::fs::rename(&prev_tmp, &prev)?;
        }
        std::fs::rename(&tmp, &file)?;
        File::open(dir)?.sync_all()?;
        run.millis = started.elapsed().as_millis() as u64;
        runs.push(run);
    }
    Ok(runs)
}

/// The outcome [`verify`] reports for a zone scanned without writing.
fn verified(mut run: ZoneRun, prev_problem: Option<String>, checked: bool, recorded: Option<&ZoneRun>) -> ZoneRun {
    let (outcome, why) = if let Some(p) = prev_problem {
        run.unexplained = run.unexplained.max(1);
        (GuardOutcome::RefusedUnexplained, p)
    } else if checked && run.unexplained > 0 {
        (
            GuardOutcome::RefusedUnexplained,
            format!(
                "{} differences between the zone's file and the database are not in the change journal (first: {})",
                run.unexplained,
                run.sample_unexplained.join(", ")
            ),
        )
    } else if recorded.is_some_and(|p| p.content_digest == run.content_digest && p.config_digest == run.config_digest) {
        (GuardOutcome::Unchanged, String::new())
    } else if recorded.is_none() && !checked {
        (GuardOutcome::Published, "never published yet".to_string())
    } else {
        (GuardOutcome::Published, String::new())
    };
    run.outcome = outcome;
    if !why.is_empty() {
        run.note = if run.note.is_empty() { why } else { format!("{why}; {}", run.note) };
    }
    if let Some(p) = recorded
        && outcome == GuardOutcome::Unchanged
    {
        run.serial = p.serial;
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_only_go_up() {
        // 2026-11-22
        let day = Timestamp(1_795_341_600);
        assert_eq!(next_serial(day, &[]), 2026112200);
        assert_eq!(next_serial(day, &[2026112200]), 2026112201);
        assert_eq!(next_serial(day, &[2026112299]), 2026112300);
        // A restored database remembers an older serial than the file on disk: the file wins.
        assert_eq!(next_serial(day, &[2026100105, 2026112207]), 2026112208);
        assert_eq!(next_serial(day.add_days(1), &[2026112207]), 2026112300);
    }
}
