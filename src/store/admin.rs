//! The admin UI's tables: users, their sessions and the disclosure requests.

use redb::ReadableTable;

use super::tables::{DISCLOSURES, SESSIONS, USERS};
use super::{StoreError, WriteTx, codec};
use crate::model::{DisclosureRequest, Session, Timestamp, User};

reads! {
    pub fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        let t = self.txn.open_table(USERS)?;
        t.get(name)?.map(|v| codec::decode(v.value())).transpose()
    }

    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        let t = self.txn.open_table(USERS)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            out.push(codec::decode(v.value())?);
        }
        Ok(out)
    }

    pub fn session(&self, digest: &[u8; 32]) -> Result<Option<Session>, StoreError> {
        let t = self.txn.open_table(SESSIONS)?;
        t.get(digest)?.map(|v| codec::decode(v.value())).transpose()
    }

    pub fn disclosure(&self, id: u64) -> Result<Option<DisclosureRequest>, StoreError> {
        let t = self.txn.open_table(DISCLOSURES)?;
        t.get(id)?.map(|v| codec::decode(v.value())).transpose()
    }

    /// Disclosure requests, newest first, at most `limit`.
    pub fn disclosures(&self, limit: usize) -> Result<Vec<DisclosureRequest>, StoreError> {
        let t = self.txn.open_table(DISCLOSURES)?;
        let mut out = Vec::new();
        for item in t.iter()?.rev() {
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
    pub fn put_user(&mut self, u: &User) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(u)?;
        self.txn.open_table(USERS)?.insert(u.name.as_str(), bytes.as_slice())?;
        Ok(())
    }

    pub fn put_session(&mut self, digest: &[u8; 32], s: &Session) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(s)?;
        self.txn.open_table(SESSIONS)?.insert(digest, bytes.as_slice())?;
        Ok(())
    }

    pub fn remove_session(&mut self, digest: &[u8; 32]) -> Result<(), StoreError> {
        self.writes += 1;
        self.txn.open_table(SESSIONS)?.remove(digest)?;
        Ok(())
    }

    /// Removes sessions that expired before `now`; returns how many.
    pub fn expire_sessions(&mut self, now: Timestamp) -> Result<usize, StoreError> {
        let mut old = Vec::new();
        {
            let t = self.txn.open_table(SESSIONS)?;
            for item in t.iter()? {
                let (k, v) = item?;
                let s: Session = codec::decode(v.value())?;
                if s.expires < now {
                    old.push(*k.value());
                }
            }
        }
        if !old.is_empty() {
            self.writes += 1;
            let mut t = self.txn.open_table(SESSIONS)?;
            for k in &old {
                t.remove(k)?;
            }
        }
        Ok(old.len())
    }

    pub fn put_disclosure(&mut self, d: &DisclosureRequest) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(d)?;
        self.txn.open_table(DISCLOSURES)?.insert(d.id, bytes.as_slice())?;
        Ok(())
    }
}
