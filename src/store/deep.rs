//! Whole-table walks for `check --deep` (see `crate::deep`): each streams one table family in
//! key order and holds nothing but the current record.

use redb::{ReadableTable, ReadableTableMetadata};

use super::{
    CONTACTS, CONTACTS_BY_REGISTRAR, HISTORY, LEDGER, NS_CHECK_DUE, NS_CHECK_DUE_OF, NS_CHECKS, POLL, ReadTx,
    StoreError, codec,
};
use crate::model::{HistoryEntry, LedgerEntry, PollMessage};

impl ReadTx {
    /// A registrar's balance movements in order: `f(entry)`.
    pub fn for_each_ledger_entry(
        &self,
        registrar: &str,
        mut f: impl FnMut(LedgerEntry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.txn.open_table(LEDGER)?;
        for item in t.range((registrar, 0u64)..=(registrar, u64::MAX))? {
            let (_, v) = item?;
            f(codec::decode(v.value())?)?;
        }
        Ok(())
    }

    /// Every ledger entry's registrar: `(registrar, entries)`, for entries of registrars that
    /// no longer exist.
    pub fn ledger_registrars(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let t = self.txn.open_table(LEDGER)?;
        let mut out: Vec<(String, u64)> = Vec::new();
        for item in t.iter()? {
            let (k, _) = item?;
            let (r, _) = k.value();
            match out.last_mut() {
                Some((last, n)) if last == r => *n += 1,
                _ => out.push((r.to_string(), 1)),
            }
        }
        Ok(out)
    }

    /// One object's history in order (`domain:NAME`, `contact:HANDLE`...): `f(seq key, entry)`.
    pub fn for_each_history_entry(
        &self,
        object: &str,
        mut f: impl FnMut(u64, HistoryEntry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.txn.open_table(HISTORY)?;
        for item in t.range((object, 0u64)..=(object, u64::MAX))? {
            let (k, v) = item?;
            f(k.value().1, codec::decode(v.value())?)?;
        }
        Ok(())
    }

    /// A registrar's poll queue, whole (bounded by `POLL_MESSAGES_MAX` on the way in).
    pub fn for_each_poll_message(
        &self,
        registrar: &str,
        mut f: impl FnMut(PollMessage) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.txn.open_table(POLL)?;
        for item in t.range((registrar, 0u64)..=(registrar, u64::MAX))? {
            let (_, v) = item?;
            f(codec::decode(v.value())?)?;
        }
        Ok(())
    }

    /// Every (registrar, handle) entry of the contacts' registrar index, with whether its
    /// contact exists and names that registrar; and the number of contacts.
    pub fn contact_index_problems(&self) -> Result<(Vec<String>, u64), StoreError> {
        let contacts = self.txn.open_table(CONTACTS)?;
        let index = self.txn.open_table(CONTACTS_BY_REGISTRAR)?;
        let mut problems = Vec::new();
        for item in index.iter()? {
            let (k, _) = item?;
            let (registrar, handle) = k.value();
            match contacts.get(handle)? {
                None => problems.push(format!("contact index names {handle} of {registrar}, which does not exist")),
                Some(v) => {
                    let c: crate::model::Contact = codec::decode(v.value())?;
                    if c.registrar != registrar {
                        problems.push(format!(
                            "contact index puts {handle} under {registrar}; the contact is {}'s",
                            c.registrar
                        ));
                    }
                }
            }
        }
        if index.len()? != contacts.len()? {
            problems.push(format!("contact index has {} entries for {} contacts", index.len()?, contacts.len()?));
        }
        Ok((problems, contacts.len()?))
    }

    /// The nameserver-check queue against its reverse map and the checks: every queued name
    /// has one due time recorded both ways.
    pub fn ns_check_queue_problems(&self) -> Result<Vec<String>, StoreError> {
        let (Some(due), Some(due_of)) =
            (optional(self.txn.open_table(NS_CHECK_DUE))?, optional(self.txn.open_table(NS_CHECK_DUE_OF))?)
        else {
            return Ok(Vec::new());
        };
        let mut problems = Vec::new();
        for item in due.iter()? {
            let (k, _) = item?;
            let (at, name) = k.value();
            if due_of.get(name)?.map(|v| v.value()) != Some(at) {
                problems.push(format!("nameserver-check queue has {name} at {at}; its due time says otherwise"));
            }
        }
        if due.len()? != due_of.len()? {
            problems.push(format!("nameserver-check queue has {} entries and {} due times", due.len()?, due_of.len()?));
        }
        if let Some(checks) = optional(self.txn.open_table(NS_CHECKS))? {
            let domains = self.txn.open_table(super::DOMAINS)?;
            for item in checks.iter()? {
                let (k, _) = item?;
                if domains.get(k.value())?.is_none() {
                    problems.push(format!("a nameserver check is kept for {}, which is not registered", k.value()));
                }
            }
        }
        Ok(problems)
    }
}

/// A table that may not exist yet (created by its first write).
fn optional<T>(r: Result<T, redb::TableError>) -> Result<Option<T>, StoreError> {
    match r {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
