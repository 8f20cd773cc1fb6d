//! What zone publication reads and writes: the zone journal, nameserver checks and their
//! queue, publication state and runs.

use redb::{ReadableTable, ReadableTableMetadata};

use super::tables::{DOMAINS, NS_CHECK_DUE, NS_CHECK_DUE_OF, NS_CHECKS, ZONE_JOURNAL, ZONE_RUNS, ZONE_STATE};
use super::{ReadTx, StoreError, WriteTx, codec};
use crate::model::{DomainView, JournalEntry, NsCheck, Timestamp, ZoneRun};

/// Zone runs kept per zone.
const ZONE_RUNS_KEPT: u64 = 1_000;

reads! {
    /// The last nameserver check of a domain.
    pub fn ns_check(&self, name: &str) -> Result<Option<NsCheck>, StoreError> {
        let t = match self.txn.open_table(NS_CHECKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        t.get(name)?.map(|v| codec::decode(v.value())).transpose()
    }

    /// Domains whose nameserver check is due by `until`, oldest first, at most `limit`.
    pub fn ns_checks_due(&self, until: Timestamp, limit: usize) -> Result<Vec<String>, StoreError> {
        let t = match self.txn.open_table(NS_CHECK_DUE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for item in t.range((i64::MIN, "")..=(until.0, "\u{10FFFF}"))? {
            let (k, _) = item?;
            out.push(k.value().1.to_string());
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// When a domain's nameserver check is next due, if it is queued.
    pub fn ns_check_due_of(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
        let t = match self.txn.open_table(NS_CHECK_DUE_OF) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(t.get(name)?.map(|v| Timestamp(v.value())))
    }

    /// `published:<zone>` or `attempt:<zone>`.
    pub fn zone_state(&self, key: &str) -> Result<Option<ZoneRun>, StoreError> {
        let t = match self.txn.open_table(ZONE_STATE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        t.get(key)?.map(|v| codec::decode(v.value())).transpose()
    }

    /// A zone's publication attempts, newest first, at most `limit`.
    pub fn zone_runs(&self, zone: &str, limit: usize) -> Result<Vec<ZoneRun>, StoreError> {
        let t = match self.txn.open_table(ZONE_RUNS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for item in t.range((zone, 0u64)..=(zone, u64::MAX))?.rev() {
            let (_, v) = item?;
            out.push(codec::decode(v.value())?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

impl ReadTx {
    /// Journal entries of a TLD with a sequence above `after_seq` and at most `upto_seq`, in
    /// (name, sequence) order: `f(name, seq, entry)`. Streams; holds nothing.
    pub fn for_each_journal_entry(
        &self,
        tld: &str,
        after_seq: u64,
        upto_seq: u64,
        mut f: impl FnMut(&str, u64, JournalEntry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = match self.txn.open_table(ZONE_JOURNAL) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for item in t.range((tld, "", 0u64)..)? {
            let (k, v) = item?;
            let (t2, name, seq) = k.value();
            if t2 != tld {
                break;
            }
            if seq > after_seq && seq <= upto_seq {
                f(name, seq, codec::decode(v.value())?)?;
            }
        }
        Ok(())
    }

    /// A pull cursor over a TLD's journal entries with a sequence in (`after_seq`, `upto_seq`],
    /// in (name, sequence) order: the zone export merges it with the domains and the previous
    /// publication.
    pub fn journal_cursor(&self, tld: &str, after_seq: u64, upto_seq: u64) -> Result<JournalCursor, StoreError> {
        let range = match self.txn.open_table(ZONE_JOURNAL) {
            Ok(t) => Some(t.range((tld, "", 0u64)..)?),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(JournalCursor { range, tld: tld.to_string(), after_seq, upto_seq })
    }

    /// Every domain, as a view of its stored bytes, with its nameserver check (`with_checks`
    /// false: always None, and the checks are not read), in name order (the zone export's
    /// scan). Both tables are keyed by the domain name, so they are walked side by side (a
    /// lookup per domain would cost as much as the rest of the export).
    pub fn for_each_domain_with_check(
        &self,
        with_checks: bool,
        mut f: impl FnMut(&DomainView<'_>, Option<NsCheck>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.txn.open_table(DOMAINS)?;
        let checks = match self.txn.open_table(NS_CHECKS) {
            Ok(c) if with_checks => Some(c),
            Ok(_) | Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let mut check_iter = match &checks {
            Some(c) => Some(c.iter()?),
            None => None,
        };
        let mut pending: Option<(String, NsCheck)> = None;
        let mut exhausted = check_iter.is_none();
        for item in t.iter()? {
            let (k, v) = item?;
            let name = k.value();
            // Move the check cursor up to this name.
            while !exhausted && pending.as_ref().is_none_or(|(n, _)| n.as_str() < name) {
                match check_iter.as_mut().and_then(|i| i.next()) {
                    Some(item) => {
                        let (ck, cv) = item?;
                        pending = Some((ck.value().to_string(), codec::decode(cv.value())?));
                    }
                    None => {
                        exhausted = true;
                        pending = None;
                    }
                }
            }
            let check = match &pending {
                Some((n, _)) if n == name => pending.take().map(|(_, c)| c),
                _ => None,
            };
            let d: DomainView<'_> = codec::decode_view(v.value())?;
            f(&d, check)?;
        }
        Ok(())
    }
}

impl WriteTx {
    /// Appends a journal entry for a delegation change (sequence from `next_seq("zone_journal")`).
    pub fn append_journal(&mut self, tld: &str, name: &str, seq: u64, e: &JournalEntry) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(e)?;
        self.txn.open_table(ZONE_JOURNAL)?.insert((tld, name, seq), bytes.as_slice())?;
        Ok(())
    }

    /// Removes a TLD's journal entries of sequence `upto_seq` and below (retention), at most
    /// `limit`; returns how many went.
    pub fn purge_journal(&mut self, tld: &str, upto_seq: u64, limit: usize) -> Result<usize, StoreError> {
        let mut t = self.txn.open_table(ZONE_JOURNAL)?;
        // Every entry is this TLD's and none came after `upto_seq` (the journal's sequence has
        // not moved past it): the whole table goes at once, its pages freed without a removal
        // per entry (the first publication after an import purges millions of them).
        let whole = u64::try_from(self.counter("seq:zone_journal")?).unwrap_or(0) <= upto_seq
            && t.first()?.is_some_and(|(k, _)| k.value().0 == tld)
            && t.last()?.is_some_and(|(k, _)| k.value().0 == tld);
        if whole {
            let n = usize::try_from(t.len()?).unwrap_or(usize::MAX);
            drop(t);
            self.txn.delete_table(ZONE_JOURNAL)?;
            // Empty again, not missing: every table the store creates stays there.
            self.txn.open_table(ZONE_JOURNAL)?;
            self.writes += 1;
            return Ok(n);
        }
        let mut doomed: Vec<(String, u64)> = Vec::new();
        for item in t.range((tld, "", 0u64)..)? {
            let (k, _) = item?;
            let (t2, name, seq) = k.value();
            if t2 != tld || doomed.len() >= limit {
                break;
            }
            if seq <= upto_seq {
                doomed.push((name.to_string(), seq));
            }
        }
        for (name, seq) in &doomed {
            t.remove((tld, name.as_str(), *seq))?;
        }
        if !doomed.is_empty() {
            self.writes += 1;
        }
        Ok(doomed.len())
    }

    pub fn put_ns_check(&mut self, c: &NsCheck) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(c)?;
        self.txn.open_table(NS_CHECKS)?.insert(c.domain.as_str(), bytes.as_slice())?;
        Ok(())
    }

    pub fn remove_ns_check(&mut self, name: &str) -> Result<(), StoreError> {
        self.writes += 1;
        self.txn.open_table(NS_CHECKS)?.remove(name)?;
        self.set_ns_check_due(name, None)
    }

    /// Queues (or moves, or with None removes) a domain's nameserver check.
    pub fn set_ns_check_due(&mut self, name: &str, due: Option<Timestamp>) -> Result<(), StoreError> {
        let mut of = self.txn.open_table(NS_CHECK_DUE_OF)?;
        let old = of.get(name)?.map(|v| v.value());
        if old == due.map(|d| d.0) {
            return Ok(());
        }
        self.writes += 1;
        let mut q = self.txn.open_table(NS_CHECK_DUE)?;
        if let Some(o) = old {
            q.remove((o, name))?;
        }
        match due {
            Some(d) => {
                q.insert((d.0, name), ())?;
                of.insert(name, d.0)?;
            }
            None => {
                of.remove(name)?;
            }
        }
        Ok(())
    }

    /// Records a publication attempt: as the zone's last attempt, in its run history (the
    /// oldest beyond the bound dropped) and, when it published, as its last publication.
    pub fn put_zone_run(&mut self, run: &ZoneRun, published: bool) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(run)?;
        let mut state = self.txn.open_table(ZONE_STATE)?;
        state.insert(format!("attempt:{}", run.zone).as_str(), bytes.as_slice())?;
        if published {
            state.insert(format!("published:{}", run.zone).as_str(), bytes.as_slice())?;
        }
        drop(state);
        let seq = self.next_seq("zone_runs")?;
        let mut runs = self.txn.open_table(ZONE_RUNS)?;
        runs.insert((run.zone.as_str(), seq), bytes.as_slice())?;
        let count = runs.range((run.zone.as_str(), 0u64)..=(run.zone.as_str(), u64::MAX))?.count() as u64;
        if count > ZONE_RUNS_KEPT {
            let oldest: Vec<u64> = runs
                .range((run.zone.as_str(), 0u64)..=(run.zone.as_str(), u64::MAX))?
                .take((count - ZONE_RUNS_KEPT) as usize)
                .filter_map(|i| i.ok().map(|(k, _)| k.value().1))
                .collect();
            for s in oldest {
                runs.remove((run.zone.as_str(), s))?;
            }
        }
        Ok(())
    }
}

/// The journal's key: (TLD, domain name, sequence).
type JournalKey = (&'static str, &'static str, u64);

/// See [`ReadTx::journal_cursor`].
pub struct JournalCursor {
    range: Option<redb::Range<'static, JournalKey, &'static [u8]>>,
    tld: String,
    after_seq: u64,
    upto_seq: u64,
}

impl Iterator for JournalCursor {
    type Item = Result<(String, u64, JournalEntry), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let range = self.range.as_mut()?;
        loop {
            let (k, v) = match range.next()? {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let (tld, name, seq) = k.value();
            if tld != self.tld {
                self.range = None;
                return None;
            }
            if seq > self.after_seq && seq <= self.upto_seq {
                return Some(codec::decode(v.value()).map(|e| (name.to_string(), seq, e)));
            }
        }
    }
}
