//! Counters (per zone, registrar, status...; moved in the same transaction as the records they
//! count) and named sequences (`seq:<name>`), both in the `counters` table.

use redb::ReadableTable;

use super::tables::COUNTERS;
use super::{ReadTx, StoreError, WriteTx};

impl ReadTx {
    pub fn counter(&self, key: &str) -> Result<i64, StoreError> {
        let t = self.txn.open_table(COUNTERS)?;
        Ok(t.get(key)?.map(|v| v.value()).unwrap_or(0))
    }

    /// Every counter whose key starts with `prefix`.
    pub fn counters_with_prefix(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        stored_with_prefix(&self.txn.open_table(COUNTERS)?, prefix)
    }
}

fn stored_with_prefix(
    t: &impl ReadableTable<&'static str, i64>,
    prefix: &str,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut out = Vec::new();
    for item in t.range(prefix..)? {
        let (k, v) = item?;
        if !k.value().starts_with(prefix) {
            break;
        }
        out.push((k.value().to_string(), v.value()));
    }
    Ok(out)
}

impl ReadTx {
    /// The last sequence number handed out by a named sequence (0 when never used).
    pub fn seq_value(&self, name: &str) -> Result<u64, StoreError> {
        Ok(u64::try_from(self.counter(&format!("seq:{name}"))?).unwrap_or(0))
    }
}

impl WriteTx {
    /// A counter as it stands in this transaction.
    pub fn counter(&self, key: &str) -> Result<i64, StoreError> {
        if let Some(v) = self.counters.get(key) {
            return Ok(*v);
        }
        let t = self.txn.open_table(COUNTERS)?;
        Ok(t.get(key)?.map(|v| v.value()).unwrap_or(0))
    }

    /// Every counter whose key starts with `prefix`, as they stand in this transaction.
    pub fn counters_with_prefix(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut all: std::collections::BTreeMap<String, i64> =
            stored_with_prefix(&self.txn.open_table(COUNTERS)?, prefix)?.into_iter().collect();
        for (k, v) in self.counters.iter().filter(|(k, _)| k.starts_with(prefix)) {
            all.insert(k.clone(), *v);
        }
        Ok(all.into_iter().filter(|(_, v)| *v != 0).collect())
    }

    /// The counter's value in this transaction, kept for the rest of it (written at commit).
    fn counter_slot(&mut self, key: &str) -> Result<&mut i64, StoreError> {
        if !self.counters.contains_key(key) {
            let v = self.counter(key)?;
            self.counters.insert(key.to_string(), v);
        }
        Ok(self.counters.get_mut(key).expect("inserted above"))
    }

    /// Writes the counters this transaction moved (once each, however often they moved): called
    /// by `commit`.
    pub(super) fn flush_counters(&mut self) -> Result<(), StoreError> {
        if self.counters.is_empty() {
            return Ok(());
        }
        let mut t = self.txn.open_table(COUNTERS)?;
        for (k, v) in self.counters.drain() {
            if v == 0 {
                t.remove(k.as_str())?;
            } else {
                t.insert(k.as_str(), v)?;
            }
        }
        Ok(())
    }

    /// Reserves `n` numbers of a named sequence at once; returns the first.
    pub fn next_seq_by(&mut self, name: &str, n: u64) -> Result<u64, StoreError> {
        self.writes += 1;
        let n = i64::try_from(n).map_err(|_| StoreError::Db("sequence step too large".into()))?;
        let slot = self.counter_slot(&format!("seq:{name}"))?;
        let first = *slot + 1;
        *slot = first + n - 1;
        u64::try_from(first).map_err(|_| StoreError::Db(format!("sequence {name} overflowed")))
    }

    /// The next number of a named sequence (history, ROIDs, handles): 1, 2, 3...
    pub fn next_seq(&mut self, name: &str) -> Result<u64, StoreError> {
        self.next_seq_by(name, 1)
    }

    pub fn counter_add(&mut self, key: &str, delta: i64) -> Result<(), StoreError> {
        if delta == 0 {
            return Ok(());
        }
        self.writes += 1;
        *self.counter_slot(key)? += delta;
        Ok(())
    }

    /// Applies the difference between two sets of counter keys (-1 for each old, +1 for each new).
    pub fn counters_move(&mut self, old: &[String], new: &[String]) -> Result<(), StoreError> {
        let mut delta: std::collections::BTreeMap<&str, i64> = Default::default();
        for k in old {
            *delta.entry(k.as_str()).or_default() -= 1;
        }
        for k in new {
            *delta.entry(k.as_str()).or_default() += 1;
        }
        for (k, d) in delta {
            self.counter_add(k, d)?;
        }
        Ok(())
    }
}
