//! Registrars' poll messages, by registrar and id.

use redb::ReadableTable;

use super::tables::POLL;
use super::{StoreError, WriteTx, codec};
use crate::model::PollMessage;

reads! {
    /// A registrar's poll messages, oldest first, at most `limit`.
    pub fn poll_messages(&self, registrar: &str, limit: usize) -> Result<Vec<PollMessage>, StoreError> {
        let t = self.txn.open_table(POLL)?;
        let mut out = Vec::new();
        for item in t.range((registrar, 0u64)..=(registrar, u64::MAX))? {
            let (_, v) = item?;
            out.push(codec::decode(v.value())?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

impl WriteTx {
    pub fn put_poll(&mut self, registrar: &str, m: &PollMessage) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(m)?;
        self.txn.open_table(POLL)?.insert((registrar, m.id), bytes.as_slice())?;
        Ok(())
    }

    /// Removes a poll message; false when there was none.
    pub fn remove_poll(&mut self, registrar: &str, id: u64) -> Result<bool, StoreError> {
        self.writes += 1;
        Ok(self.txn.open_table(POLL)?.remove((registrar, id))?.is_some())
    }
}
