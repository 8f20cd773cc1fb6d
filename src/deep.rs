//! `nicbox check --deep`: every derived piece of the database recomputed from what it derives
//! from, and every zone's file held against the database and the change journal.
//!
//! - counters equal a recount, and every index entry matches its record and the reverse
//!   ([`ReadTx::audit`], the contact index, the nameserver-check queue);
//! - each registrar's balance is the sum of its ledger, and each ledger entry's balance after
//!   follows from the one before;
//! - each domain's history is complete: its registration (ROID) starts with a create or an
//!   import, its entries are in order, and the last one's state is the record as stored;
//! - each poll queue holds as many messages as its counter says;
//! - the change journal explains every difference between each zone's file and the database
//!   (the publication guard run without writing: [`crate::zone::verify`]).
//!
//! Offline it reads one snapshot of the file; beside a running server it runs in the server
//! (control socket) while no publication runs. Findings are lines; none means sound.

use crate::config::Settings;
use crate::model::{Domain, GuardOutcome, Snapshot};
use crate::store::{ReadTx, StoreError};

/// What the deep check found, and what it looked at.
#[derive(Debug, Default)]
pub struct Report {
    /// Each problem, on one line. Empty: the database is sound.
    pub findings: Vec<String>,
    /// What was checked (for the operator).
    pub summary: Vec<String>,
}

/// Operations that open a registration (the first history entry of a ROID).
const OPENING: &[&str] = &["domain.create", "domain.import"];

/// Runs every check on `r`; the zones are checked on `zone_snap`, a second snapshot of the same
/// state (the zone scan consumes it).
pub fn run(settings: &Settings, r: &ReadTx, zone_snap: ReadTx) -> Result<Report, StoreError> {
    let started = std::time::Instant::now();
    let policy = settings.policy.clone();
    let mut rep = Report::default();
    let domains = r.count_domains()?;

    // Counters and the domain indexes (both ways: every expected entry is there, and the
    // index holds no more entries than expected).
    rep.findings.extend(r.audit(&|d| crate::registry::counter_keys(&policy, d))?);
    let (contact_problems, contacts) = r.contact_index_problems()?;
    rep.findings.extend(contact_problems);
    rep.findings.extend(r.ns_check_queue_problems()?);

    // Balances against the ledger.
    let registrars = r.registrars()?;
    let mut ledger_entries = 0u64;
    for reg in &registrars {
        let (mut balance, mut sum) = (0i64, 0i64);
        let mut last_seq = 0u64;
        r.for_each_ledger_entry(&reg.id, |e| {
            ledger_entries += 1;
            balance += e.amount_cents;
            sum += e.amount_cents;
            if e.balance_after_cents != balance {
                rep.findings.push(format!(
                    "ledger of {}: entry {} ({}) says the balance after was {} cents; the entries before it sum to {balance}",
                    reg.id, e.seq, e.operation, e.balance_after_cents
                ));
                balance = e.balance_after_cents;
            }
            if e.seq <= last_seq {
                rep.findings.push(format!("ledger of {}: entry {} follows entry {last_seq}", reg.id, e.seq));
            }
            last_seq = e.seq;
            Ok(())
        })?;
        if sum != reg.balance_cents {
            rep.findings.push(format!(
                "registrar {}: balance {} cents, its ledger sums to {sum} cents",
                reg.id, reg.balance_cents
            ));
        }
    }
    for (id, n) in r.ledger_registrars()? {
        if !registrars.iter().any(|g| g.id == id) {
            rep.findings.push(format!("ledger holds {n} entries of {id}, which is not a registrar"));
        }
    }

    // Poll queues against their counters.
    for reg in &registrars {
        let mut n = 0i64;
        r.for_each_poll_message(&reg.id, |_| {
            n += 1;
            Ok(())
        })?;
        let counted = r.counter(&format!("poll.count:{}", reg.id))?;
        if n != counted {
            rep.findings.push(format!("poll queue of {} holds {n} messages, its counter says {counted}", reg.id));
        }
    }

    // Each domain's history.
    let history_seq = r.seq_value("history")?;
    let mut history_entries = 0u64;
    r.for_each_domain(|d| {
        history_entries += history_problems(r, &d, history_seq, &mut rep.findings)?;
        Ok(())
    })?;

    rep.summary.push(format!(
        "database: {domains} domains, {contacts} contacts, {} registrars, {ledger_entries} ledger entries, {history_entries} history entries of the domains",
        registrars.len()
    ));

    // The zones: the publication guard without writing.
    match crate::zone::publish::verify(settings, zone_snap, &settings.zone.dir) {
        Ok(runs) => {
            for run in runs {
                match run.outcome {
                    GuardOutcome::Unchanged => rep.summary.push(format!(
                        "zone {}: the file is the database's zone (serial {}, {} delegations)",
                        run.zone, run.serial, run.delegations
                    )),
                    GuardOutcome::Published => rep.summary.push(format!(
                        "zone {}: {} added, {} removed, {} changed since the file was written, all in the change journal{}",
                        run.zone,
                        run.added,
                        run.removed,
                        run.changed,
                        if run.note.is_empty() { String::new() } else { format!(" ({})", run.note) }
                    )),
                    _ => rep.findings.push(format!("zone {}: {}", run.zone, run.note)),
                }
            }
        }
        Err(crate::zone::publish::ExportError::Config(why)) => rep.summary.push(format!("zones: not checked: {why}")),
        Err(e) => rep.findings.push(format!("zones: {e}")),
    }
    rep.summary.push(format!(
        "deep check: {} findings in {:.1} s",
        rep.findings.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(rep)
}

/// The history of one domain's registration: returns its number of entries.
fn history_problems(r: &ReadTx, d: &Domain, history_seq: u64, out: &mut Vec<String>) -> Result<u64, StoreError> {
    let mut n = 0u64;
    let mut first_op: Option<String> = None;
    let mut last: Option<(u64, Option<Snapshot>)> = None;
    let mut prev_seq = 0u64;
    r.for_each_history_entry(&format!("domain:{}", d.name), |key, e| {
        if e.roid.as_deref() != Some(d.roid.as_str()) {
            return Ok(());
        }
        n += 1;
        if e.seq != key || e.seq <= prev_seq || e.seq > history_seq {
            out.push(format!("history of {}: entry {} is out of order (after {prev_seq})", d.name, e.seq));
        }
        prev_seq = e.seq;
        if first_op.is_none() {
            first_op = Some(e.operation.clone());
        }
        last = Some((e.seq, e.after));
        Ok(())
    })?;
    match (&first_op, last) {
        (None, _) | (_, None) => out.push(format!("history of {} ({}): no entry", d.name, d.roid)),
        (Some(op), Some((seq, after))) => {
            if !OPENING.contains(&op.as_str()) {
                out.push(format!("history of {} ({}): starts with {op}, not a create or import", d.name, d.roid));
            }
            match after {
                Some(Snapshot::Domain(s)) if *s == *d => {}
                Some(Snapshot::Domain(_)) => out.push(format!(
                    "history of {}: the state after its last entry ({seq}) is not the record as stored",
                    d.name
                )),
                _ => out
                    .push(format!("history of {}: its last entry ({seq}) does not record the domain's state", d.name)),
            }
        }
    }
    Ok(n)
}
