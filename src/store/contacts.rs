//! Contacts and their registrar index. Which domains use a contact is a domain index
//! (`contact_uses`, in `domains`).

use redb::ReadableTable;

use super::tables::{CONTACTS, CONTACTS_BY_REGISTRAR};
use super::{ReadTx, StoreError, WriteTx, codec};
use crate::model::Contact;

reads! {
    pub fn contact(&self, handle: &str) -> Result<Option<Contact>, StoreError> {
        let t = self.txn.open_table(CONTACTS)?;
        t.get(handle)?.map(|v| codec::decode(v.value())).transpose()
    }

    /// Calls `f` with the contact decoded as a view of its stored bytes (nothing copied): the
    /// checks of a domain command read a contact's registrar and fiscal id, three times per
    /// create.
    pub fn with_contact<R>(
        &self,
        handle: &str,
        f: impl FnOnce(&crate::model::ContactView<'_>) -> R,
    ) -> Result<Option<R>, StoreError> {
        let t = self.txn.open_table(CONTACTS)?;
        let Some(v) = t.get(handle)? else { return Ok(None) };
        let view: crate::model::ContactView<'_> = codec::decode_view(v.value())?;
        Ok(Some(f(&view)))
    }

    /// Handles of the registrar's contacts after `after` (exclusive), at most `limit`.
    pub fn contact_handles_of(
        &self,
        registrar: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let t = self.txn.open_table(CONTACTS_BY_REGISTRAR)?;
        let start = (registrar, after.unwrap_or(""));
        let mut out = Vec::new();
        for item in t.range(start..)? {
            let (k, _) = item?;
            let (r, handle) = k.value();
            if r != registrar || out.len() >= limit {
                break;
            }
            if Some(handle) == after {
                continue;
            }
            out.push(handle.to_string());
        }
        Ok(out)
    }
}

impl ReadTx {
    /// Every contact, in handle order (for `check`'s review of stored records).
    pub fn for_each_contact(&self, mut f: impl FnMut(Contact) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let t = self.txn.open_table(CONTACTS)?;
        for item in t.iter()? {
            let (_, v) = item?;
            f(codec::decode(v.value())?)?;
        }
        Ok(())
    }
}

impl WriteTx {
    pub fn put_contact(&mut self, c: &Contact) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(c)?;
        let previous = self.txn.open_table(CONTACTS)?.insert(c.handle.as_str(), bytes.as_slice())?.is_some();
        if !previous {
            self.txn.open_table(CONTACTS_BY_REGISTRAR)?.insert((c.registrar.as_str(), c.handle.as_str()), ())?;
        }
        Ok(())
    }

    /// Removes a contact and its registrar index entry (the caller checks it is on no domain).
    pub fn remove_contact(&mut self, c: &Contact) -> Result<(), StoreError> {
        self.writes += 1;
        self.txn.open_table(CONTACTS)?.remove(c.handle.as_str())?;
        self.txn.open_table(CONTACTS_BY_REGISTRAR)?.remove((c.registrar.as_str(), c.handle.as_str()))?;
        Ok(())
    }
}
