//! Bulk loading (`nicbox import`): the indexes whose keys do not follow the domain's name (which
//! contacts and nameserver hosts a domain uses, when it is next due, how many nameservers it
//! has) are left out of each commit and built once at the end from the records, in key order.
//! Inserted one domain at a time they land on random pages, and at 2,000,000 domains they were
//! about a third of the import's writer time (issue 15).
//!
//! A marker in `meta` says the indexes are pending. It is committed before the first deferred
//! write, and removed in the transaction that rebuilds them; an import that dies in between
//! leaves the marker, and the next open rebuilds the indexes before anything reads them.

use std::sync::atomic::Ordering;

use redb::ReadableTable;

use super::domains::contacts_of;
use super::tables::{CONTACT_USES, DOMAINS, DOMAINS_BY_NS_COUNT, DOMAINS_DUE, META, NAMESERVER_USES};
use super::{Store, StoreError, WriteTx, codec};
use crate::model::Domain;

/// The `meta` key of the marker.
const PENDING: &str = "bulk_indexes_pending";

impl Store {
    /// From now on, writes of this store leave the deferred indexes to [`Store::end_bulk`].
    pub fn begin_bulk(&self) -> Result<(), StoreError> {
        let mut tx = self.write()?;
        tx.put_meta(PENDING, &[1])?;
        tx.commit()?;
        self.bulk.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Builds the deferred indexes from the records and clears the marker, in one transaction.
    /// Returns the index entries written.
    pub fn end_bulk(&self) -> Result<u64, StoreError> {
        let mut tx = self.write()?;
        let n = tx.rebuild_deferred_indexes()?;
        tx.txn.open_table(META)?.remove(PENDING)?;
        tx.commit()?;
        self.bulk.store(false, Ordering::SeqCst);
        Ok(n)
    }

    /// At open: an import that did not finish left its marker; the indexes are rebuilt now.
    pub(super) fn finish_interrupted_bulk(&self) -> Result<(), StoreError> {
        if self.read()?.get_meta(PENDING)?.is_some() {
            let started = std::time::Instant::now();
            let entries = self.end_bulk()?;
            let secs = started.elapsed().as_secs_f64();
            tracing::warn!(entries, secs, "an import did not finish: rebuilt the indexes it had left for its end");
        }
        Ok(())
    }
}

impl WriteTx {
    /// Whether this transaction leaves the deferred indexes out (a bulk load is under way).
    pub(super) fn deferring(&self) -> bool {
        self.bulk
    }

    /// Empties the deferred indexes and fills them from the records: one scan of the domains per
    /// index (so that only one index's keys are held at a time), sorted, inserted in order.
    fn rebuild_deferred_indexes(&mut self) -> Result<u64, StoreError> {
        let mut written = 0u64;
        {
            let mut keys: Vec<(String, String)> = Vec::new();
            self.each_domain(&mut |d| keys.extend(contacts_of(d).into_iter().map(|h| (h, d.name.clone()))))?;
            keys.sort_unstable();
            self.txn.delete_table(CONTACT_USES)?;
            let mut t = self.txn.open_table(CONTACT_USES)?;
            for (h, n) in &keys {
                t.insert((h.as_str(), n.as_str()), ())?;
            }
            written += keys.len() as u64;
        }
        {
            let mut keys: Vec<(String, String)> = Vec::new();
            self.each_domain(&mut |d| {
                let hosts: std::collections::BTreeSet<&str> = d.nameservers.iter().map(|n| n.name.as_str()).collect();
                keys.extend(hosts.into_iter().map(|h| (h.to_string(), d.name.clone())));
            })?;
            keys.sort_unstable();
            self.txn.delete_table(NAMESERVER_USES)?;
            let mut t = self.txn.open_table(NAMESERVER_USES)?;
            for (h, n) in &keys {
                t.insert((h.as_str(), n.as_str()), ())?;
            }
            written += keys.len() as u64;
        }
        {
            let mut keys: Vec<(i64, String)> = Vec::new();
            self.each_domain(&mut |d| keys.push((d.due.0, d.name.clone())))?;
            keys.sort_unstable();
            self.txn.delete_table(DOMAINS_DUE)?;
            let mut t = self.txn.open_table(DOMAINS_DUE)?;
            for (due, n) in &keys {
                t.insert((*due, n.as_str()), ())?;
            }
            written += keys.len() as u64;
        }
        self.txn.delete_table(DOMAINS_BY_NS_COUNT)?;
        let before = self.writes;
        written += self.fill_ns_count_index()?;
        self.writes = before;
        self.writes += written;
        Ok(written)
    }

    fn each_domain(&self, f: &mut dyn FnMut(&Domain)) -> Result<(), StoreError> {
        let t = self.txn.open_table(DOMAINS)?;
        for item in t.iter()? {
            let (_, v) = item?;
            let d: Domain = codec::decode(v.value())?;
            f(&d);
        }
        Ok(())
    }
}
