//! Counters (per zone, registrar, status...; moved in the same transaction as the records they
//! count) and named sequences (`seq:<name>`), both in the `counters` table.

use redb::ReadableTable;

use super::tables::COUNTERS;
use super::{ReadTx, StoreError, WriteTx};

reads! {
    pub fn counter(&self, key: &str) -> Result<i64, StoreError> {
        let t = self.txn.open_table(COUNTERS)?;
        Ok(t.get(key)?.map(|v| v.value()).unwrap_or(0))
    }

    /// Every counter whose key starts with `prefix`.
    pub fn counters_with_prefix(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let t = self.txn.open_table(COUNTERS)?;
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
}

impl ReadTx {
    /// The last sequence number handed out by a named sequence (0 when never used).
    pub fn seq_value(&self, name: &str) -> Result<u64, StoreError> {
        Ok(u64::try_from(self.counter(&format!("seq:{name}"))?).unwrap_or(0))
    }
}

impl WriteTx {
    /// Reserves `n` numbers of a named sequence at once; returns the first.
    pub fn next_seq_by(&mut self, name: &str, n: u64) -> Result<u64, StoreError> {
        self.writes += 1;
        let key = format!("seq:{name}");
        let mut t = self.txn.open_table(COUNTERS)?;
        let first = t.get(key.as_str())?.map(|v| v.value()).unwrap_or(0) + 1;
        let n = i64::try_from(n).map_err(|_| StoreError::Db("sequence step too large".into()))?;
        t.insert(key.as_str(), first + n - 1)?;
        u64::try_from(first).map_err(|_| StoreError::Db(format!("sequence {name} overflowed")))
    }

    /// The next number of a named sequence (history, ROIDs, handles): 1, 2, 3...
    pub fn next_seq(&mut self, name: &str) -> Result<u64, StoreError> {
        self.writes += 1;
        let key = format!("seq:{name}");
        let mut t = self.txn.open_table(COUNTERS)?;
        let next = t.get(key.as_str())?.map(|v| v.value()).unwrap_or(0) + 1;
        t.insert(key.as_str(), next)?;
        u64::try_from(next).map_err(|_| StoreError::Db(format!("sequence {name} overflowed")))
    }

    pub fn counter_add(&mut self, key: &str, delta: i64) -> Result<(), StoreError> {
        if delta == 0 {
            return Ok(());
        }
        self.writes += 1;
        let mut t = self.txn.open_table(COUNTERS)?;
        let v = t.get(key)?.map(|v| v.value()).unwrap_or(0) + delta;
        if v == 0 {
            t.remove(key)?;
        } else {
            t.insert(key, v)?;
        }
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
