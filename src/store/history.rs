//! History: every change of an object, by object key and global sequence.

use redb::ReadableTable;

use super::tables::HISTORY;
use super::{StoreError, WriteTx, codec};
use crate::model::HistoryEntry;

reads! {
    /// Entries of one history object, newest first, before sequence `before` (exclusive).
    pub fn history_rev(
        &self,
        object: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        let t = self.txn.open_table(HISTORY)?;
        let mut out = Vec::new();
        for item in t.range((object, 0u64)..(object, before.unwrap_or(u64::MAX)))?.rev() {
            let (_, v) = item?;
            out.push(codec::decode(v.value())?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// History of one object (`domain:NAME`, `contact:HANDLE`, ...), oldest first, at most `limit`.
    pub fn history(&self, object: &str, limit: usize) -> Result<Vec<HistoryEntry>, StoreError> {
        let t = self.txn.open_table(HISTORY)?;
        let mut out = Vec::new();
        for item in t.range((object, 0u64)..=(object, u64::MAX))? {
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
    pub fn append_history(&mut self, object: &str, e: &HistoryEntry) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(e)?;
        self.txn.open_table(HISTORY)?.insert((object, e.seq), bytes.as_slice())?;
        Ok(())
    }
}
