//! The public directory's abuse tables: suspended origins and the query log (blocks, one per
//! flush of the log writer, and their index by origin), with the schema 1 to 2 migration.

use redb::ReadableTable;

use super::tables::{QUERY_LOG_BLOCK_ORIGINS, QUERY_LOG_BLOCKS, SUSPENSIONS, legacy};
use super::{StoreError, WriteTx, codec};
use crate::model::{QueryLogBlock, QueryLogEntry, Suspension, Timestamp};

/// Rows per block when older records are gathered into blocks (the writer's flush size).
pub(super) const QUERY_LOG_BLOCK_ROWS: usize = 8_192;

reads! {
    pub fn suspensions(&self) -> Result<Vec<Suspension>, StoreError> {
        let t = self.txn.open_table(SUSPENSIONS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(codec::decode(v.value())?);
        }
        Ok(out)
    }

    /// Query-log entries from `from` on, optionally of one origin, at most `limit`: the oldest
    /// first, or the newest first. Blocks are ordered by their latest entry, and a block's
    /// entries by arrival, so entries of neighbouring blocks logged within the same second
    /// may come out of order by that second.
    pub fn query_log(
        &self,
        origin: Option<&str>,
        from: Timestamp,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<QueryLogEntry>, StoreError> {
        let blocks = self.txn.open_table(QUERY_LOG_BLOCKS)?;
        let mut out = Vec::new();
        let mut take = |bytes: &[u8]| -> Result<bool, StoreError> {
            let block: QueryLogBlock = codec::decode(bytes)?;
            let keep =
                |r: &&crate::model::QueryLogRow| r.at >= from && origin.is_none_or(|o| block.origin_of(r) == o);
            let rows: Box<dyn Iterator<Item = &crate::model::QueryLogRow>> = if newest_first {
                Box::new(block.rows.iter().rev().filter(keep))
            } else {
                Box::new(block.rows.iter().filter(keep))
            };
            for r in rows {
                if out.len() >= limit {
                    return Ok(false);
                }
                out.push(block.entry(r));
            }
            Ok(out.len() < limit)
        };
        if limit == 0 {
            return Ok(out);
        }
        match origin {
            None => {
                let range = blocks.range((from.0, 0u64)..)?;
                let range: Box<dyn Iterator<Item = _>> =
                    if newest_first { Box::new(range.rev()) } else { Box::new(range) };
                for item in range {
                    let (_, v) = item?;
                    if !take(v.value())? {
                        break;
                    }
                }
            }
            Some(o) => {
                let idx = self.txn.open_table(QUERY_LOG_BLOCK_ORIGINS)?;
                let range = idx.range((o, from.0, 0u64)..=(o, i64::MAX, u64::MAX))?;
                let range: Box<dyn Iterator<Item = _>> =
                    if newest_first { Box::new(range.rev()) } else { Box::new(range) };
                for item in range {
                    let (k, _) = item?;
                    let (_, at, seq) = k.value();
                    if let Some(v) = blocks.get((at, seq))?
                        && !take(v.value())?
                    {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Whether some block of the query log is entirely older than `before` (to be purged).
    pub fn query_log_has_before(&self, before: Timestamp) -> Result<bool, StoreError> {
        let blocks = self.txn.open_table(QUERY_LOG_BLOCKS)?;
        Ok(blocks.first()?.is_some_and(|(k, _)| k.value().0 < before.0))
    }
}

impl WriteTx {
    pub fn put_suspension(&mut self, s: &Suspension) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(s)?;
        self.txn.open_table(SUSPENSIONS)?.insert(s.origin.as_str(), bytes.as_slice())?;
        Ok(())
    }

    pub fn remove_suspension(&mut self, origin: &str) -> Result<bool, StoreError> {
        self.writes += 1;
        Ok(self.txn.open_table(SUSPENSIONS)?.remove(origin)?.is_some())
    }

    /// Stores a block of query-log entries (one record, and one index entry per origin in it).
    pub fn append_query_log(&mut self, block: &QueryLogBlock) -> Result<(), StoreError> {
        let Some(last) = block.last_at() else { return Ok(()) };
        let seq = self.next_seq_by("query_log", 1)?;
        self.writes += 1;
        let bytes = codec::encode(block)?;
        self.txn.open_table(QUERY_LOG_BLOCKS)?.insert((last.0, seq), bytes.as_slice())?;
        let mut idx = self.txn.open_table(QUERY_LOG_BLOCK_ORIGINS)?;
        for origin in &block.origins {
            idx.insert((origin.as_str(), last.0, seq), ())?;
        }
        Ok(())
    }

    /// Removes the query-log blocks whose entries are all older than `before`, until at least
    /// `limit` entries are gone; returns how many entries went.
    pub fn purge_query_log(&mut self, before: Timestamp, limit: usize) -> Result<usize, StoreError> {
        let mut old = Vec::new();
        let mut rows = 0;
        {
            let blocks = self.txn.open_table(QUERY_LOG_BLOCKS)?;
            for item in blocks.range((i64::MIN, 0u64)..(before.0, 0u64))? {
                let (k, v) = item?;
                let block: QueryLogBlock = codec::decode(v.value())?;
                rows += block.rows.len();
                old.push((k.value(), block.origins));
                if rows >= limit {
                    break;
                }
            }
        }
        if old.is_empty() {
            return Ok(0);
        }
        self.writes += 1;
        let mut blocks = self.txn.open_table(QUERY_LOG_BLOCKS)?;
        let mut idx = self.txn.open_table(QUERY_LOG_BLOCK_ORIGINS)?;
        for ((at, seq), origins) in &old {
            blocks.remove((*at, *seq))?;
            for o in origins {
                idx.remove((o.as_str(), *at, *seq))?;
            }
        }
        Ok(rows)
    }

    /// Schema 1 to 2: the query log's records (one per query) gathered into blocks in time
    /// order; the old tables are deleted. Returns the entries moved.
    pub(super) fn migrate_query_log_to_blocks(&mut self) -> Result<u64, StoreError> {
        match self.txn.open_table(legacy::QUERY_LOG) {
            Ok(_) => {}
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
            Err(e) => return Err(e.into()),
        }
        let mut moved = 0u64;
        let mut next = (i64::MIN, 0u64);
        loop {
            // One block at a time, so that a long log never sits in memory whole.
            let mut block = QueryLogBlock::default();
            let mut index: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
            let mut last_key = None;
            {
                let old = self.txn.open_table(legacy::QUERY_LOG)?;
                for item in old.range(next..)?.take(QUERY_LOG_BLOCK_ROWS) {
                    let (k, v) = item?;
                    last_key = Some(k.value());
                    let e: QueryLogEntry = codec::decode(v.value())?;
                    let origin = match index.get(&e.origin) {
                        Some(&i) => i,
                        None => {
                            let i = block.add_origin(e.origin.clone());
                            index.insert(e.origin, i);
                            i
                        }
                    };
                    let protocol = block.protocol(&e.protocol);
                    block.rows.push(crate::model::QueryLogRow {
                        at: e.at,
                        origin,
                        protocol,
                        query: e.query,
                        outcome: e.outcome,
                    });
                }
            }
            let Some((at, seq)) = last_key else { break };
            moved += block.rows.len() as u64;
            self.append_query_log(&block)?;
            match seq.checked_add(1) {
                Some(s) => next = (at, s),
                None => break,
            }
        }
        self.txn.delete_table(legacy::QUERY_LOG)?;
        self.txn.delete_table(legacy::QUERY_LOG_BY_ORIGIN)?;
        self.writes += 1;
        Ok(moved)
    }
}
