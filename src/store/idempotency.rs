//! Idempotency records (per registrar and Idempotency-Key) and their expiry index.

use redb::ReadableTable;

use super::tables::{IDEMPOTENCY, IDEMPOTENCY_BY_TIME};
use super::{StoreError, WriteTx, codec};
use crate::model::{IdempotencyRecord, Timestamp};

reads! {
    pub fn idempotency(&self, registrar: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let t = self.txn.open_table(IDEMPOTENCY)?;
        t.get((registrar, key))?.map(|v| codec::decode(v.value())).transpose()
    }
}

impl WriteTx {
    pub fn put_idempotency(&mut self, registrar: &str, key: &str, r: &IdempotencyRecord) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(r)?;
        self.txn.open_table(IDEMPOTENCY)?.insert((registrar, key), bytes.as_slice())?;
        self.txn.open_table(IDEMPOTENCY_BY_TIME)?.insert((r.at.0, registrar, key), ())?;
        Ok(())
    }

    /// Forgets idempotency records made before `before`, at most `limit`; returns how many.
    pub fn expire_idempotency(&mut self, before: Timestamp, limit: usize) -> Result<usize, StoreError> {
        let mut old = Vec::new();
        {
            let t = self.txn.open_table(IDEMPOTENCY_BY_TIME)?;
            for item in t.range((i64::MIN, "", "")..)? {
                let (k, _) = item?;
                let (at, reg, key) = k.value();
                if at >= before.0 || old.len() >= limit {
                    break;
                }
                old.push((at, reg.to_string(), key.to_string()));
            }
        }
        if old.is_empty() {
            return Ok(0);
        }
        self.writes += 1;
        let mut by_time = self.txn.open_table(IDEMPOTENCY_BY_TIME)?;
        let mut recs = self.txn.open_table(IDEMPOTENCY)?;
        for (at, reg, key) in &old {
            by_time.remove((*at, reg.as_str(), key.as_str()))?;
            recs.remove((reg.as_str(), key.as_str()))?;
        }
        Ok(old.len())
    }
}
