//! Registrars, their EPP credentials and their ledger (balance movements).

use redb::ReadableTable;

use super::tables::{EPP_ACCESS, LEDGER, REGISTRARS};
use super::{StoreError, WriteTx, codec};
use crate::model::{EppAccess, LedgerEntry, Registrar};

reads! {
    /// A registrar's EPP credentials, if any were ever set.
    pub fn epp_access(&self, id: &str) -> Result<Option<EppAccess>, StoreError> {
        let t = match self.txn.open_table(EPP_ACCESS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        t.get(id)?.map(|v| codec::decode(v.value())).transpose()
    }

    pub fn registrar(&self, id: &str) -> Result<Option<Registrar>, StoreError> {
        let t = self.txn.open_table(REGISTRARS)?;
        t.get(id)?.map(|v| codec::decode(v.value())).transpose()
    }

    pub fn registrars(&self) -> Result<Vec<Registrar>, StoreError> {
        let t = self.txn.open_table(REGISTRARS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(codec::decode(v.value())?);
        }
        Ok(out)
    }

    /// A registrar's balance movements, oldest first.
    pub fn ledger(&self, registrar: &str, limit: usize) -> Result<Vec<LedgerEntry>, StoreError> {
        let t = self.txn.open_table(LEDGER)?;
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
    pub fn put_epp_access(&mut self, a: &EppAccess) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(a)?;
        self.txn.open_table(EPP_ACCESS)?.insert(a.registrar.as_str(), bytes.as_slice())?;
        Ok(())
    }

    pub fn put_registrar(&mut self, r: &Registrar) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(r)?;
        self.txn.open_table(REGISTRARS)?.insert(r.id.as_str(), bytes.as_slice())?;
        Ok(())
    }

    pub fn append_ledger(&mut self, e: &LedgerEntry) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(e)?;
        self.txn.open_table(LEDGER)?.insert((e.registrar.as_str(), e.seq), bytes.as_slice())?;
        Ok(())
    }
}
