//! Domains and their indexes (by registrar, due time, status, Unicode name, nameserver host,
//! contact), all written by `put_domain`/`remove_domain` in the same transaction as the domain.

use redb::{ReadableTable, ReadableTableMetadata};

use super::tables::{
    CONTACT_USES, DOMAINS, DOMAINS_BY_NS_COUNT, DOMAINS_BY_REGISTRAR, DOMAINS_BY_STATUS, DOMAINS_BY_UNICODE,
    DOMAINS_DUE, NAMESERVER_USES,
};
use super::{ReadTx, StoreError, WriteTx, codec};
use crate::model::{Domain, Timestamp};

reads! {
    pub fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError> {
        let t = self.txn.open_table(DOMAINS)?;
        t.get(name)?.map(|v| codec::decode(v.value())).transpose()
    }

    pub fn domain_exists(&self, name: &str) -> Result<bool, StoreError> {
        let t = self.txn.open_table(DOMAINS)?;
        Ok(t.get(name)?.is_some())
    }

    /// Names of the registrar's domains after `after` (exclusive), at most `limit`.
    pub fn domain_names_of(
        &self,
        registrar: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let t = self.txn.open_table(DOMAINS_BY_REGISTRAR)?;
        let start = (registrar, after.unwrap_or(""));
        let mut out = Vec::new();
        for item in t.range(start..)? {
            let (k, _) = item?;
            let (r, name) = k.value();
            if r != registrar || out.len() >= limit {
                break;
            }
            if Some(name) == after {
                continue;
            }
            out.push(name.to_string());
        }
        Ok(out)
    }

    /// Names of domains with a status, after `after` (exclusive), at most `limit`.
    pub fn domain_names_with_status(
        &self,
        status: crate::model::Status,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let t = self.txn.open_table(DOMAINS_BY_STATUS)?;
        let key = status.as_str();
        let mut out = Vec::new();
        for item in t.range((key, after.unwrap_or(""))..)? {
            let (k, _) = item?;
            let (s, name) = k.value();
            if s != key || out.len() >= limit {
                break;
            }
            if Some(name) == after {
                continue;
            }
            out.push(name.to_string());
        }
        Ok(out)
    }

    /// A-label names whose Unicode (or ASCII) form starts with `prefix`, after `after`
    /// (a unicode name, exclusive), at most `limit`.
    pub fn names_with_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let t = self.txn.open_table(DOMAINS_BY_UNICODE)?;
        let start = after.unwrap_or(prefix);
        let mut out = Vec::new();
        for item in t.range((start, "")..)? {
            let (k, _) = item?;
            let (u, a) = k.value();
            if !u.starts_with(prefix) || out.len() >= limit {
                break;
            }
            if Some(u) == after {
                continue;
            }
            out.push((u.to_string(), a.to_string()));
        }
        Ok(out)
    }

    /// Domains with fewer than `below` nameservers whose Unicode name starts with `prefix`, after
    /// `after` (a unicode name, exclusive), in Unicode order, at most `limit`: (unicode, A-label).
    /// Reads at most `limit` index entries per nameserver count below `below` (13 at most).
    pub fn names_with_few_nameservers(
        &self,
        below: u8,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let t = self.txn.open_table(DOMAINS_BY_NS_COUNT)?;
        let start = after.filter(|a| *a > prefix).unwrap_or(prefix);
        let mut out = Vec::new();
        for count in 0..below {
            let mut taken = 0;
            for item in t.range((count, start, "")..)? {
                let (k, _) = item?;
                let (c, u, a) = k.value();
                if c != count || !u.starts_with(prefix) || taken >= limit {
                    break;
                }
                if Some(u) == after {
                    continue;
                }
                out.push((u.to_string(), a.to_string()));
                taken += 1;
            }
        }
        out.sort();
        out.truncate(limit);
        Ok(out)
    }

    /// Names of the domains that delegate to a nameserver host, at most `limit`.
    pub fn domains_with_nameserver(&self, host: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let t = self.txn.open_table(NAMESERVER_USES)?;
        let mut out = Vec::new();
        for item in t.range((host, "")..)? {
            let (k, _) = item?;
            let (h, name) = k.value();
            if h != host || out.len() >= limit {
                break;
            }
            out.push(name.to_string());
        }
        Ok(out)
    }

    /// Names of the domains that use a contact (any role), at most `limit`.
    pub fn domains_using(&self, handle: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let t = self.txn.open_table(CONTACT_USES)?;
        let mut out = Vec::new();
        for item in t.range((handle, "")..)? {
            let (k, _) = item?;
            let (h, name) = k.value();
            if h != handle || out.len() >= limit {
                break;
            }
            out.push(name.to_string());
        }
        Ok(out)
    }

    /// Domains due for the lifecycle job at or before `until`, earliest first, at most `limit`.
    pub fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<(Timestamp, String)>, StoreError> {
        let t = self.txn.open_table(DOMAINS_DUE)?;
        let mut out = Vec::new();
        for item in t.range((i64::MIN, "")..)? {
            let (k, _) = item?;
            let (at, name) = k.value();
            if at > until.0 || out.len() >= limit {
                break;
            }
            out.push((Timestamp(at), name.to_string()));
        }
        Ok(out)
    }

    /// Domains due at or before `until` after the entry `after` (exclusive), at most `limit`.
    pub fn due_after(
        &self,
        until: Timestamp,
        after: Option<(Timestamp, &str)>,
        limit: usize,
    ) -> Result<Vec<(Timestamp, String)>, StoreError> {
        let t = self.txn.open_table(DOMAINS_DUE)?;
        let start = after.map(|(t, n)| (t.0, n)).unwrap_or((i64::MIN, ""));
        let mut out = Vec::new();
        for item in t.range(start..)? {
            let (k, _) = item?;
            let (at, name) = k.value();
            if after.is_some_and(|(t, n)| t.0 == at && n == name) {
                continue;
            }
            if at > until.0 || out.len() >= limit {
                break;
            }
            out.push((Timestamp(at), name.to_string()));
        }
        Ok(out)
    }

    pub fn count_domains(&self) -> Result<u64, StoreError> {
        let t = self.txn.open_table(DOMAINS)?;
        Ok(t.len()?)
    }
}

impl ReadTx {
    /// Every domain (for `check`'s consistency audit and exports): calls `f` on each in name order.
    pub fn for_each_domain(&self, mut f: impl FnMut(Domain) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let t = self.txn.open_table(DOMAINS)?;
        for item in t.iter()? {
            let (_, v) = item?;
            f(codec::decode(v.value())?)?;
        }
        Ok(())
    }
}

impl WriteTx {
    /// Stores a domain and keeps its indexes in step with `old` (the stored version, if any).
    pub fn put_domain(&mut self, old: Option<&Domain>, new: &Domain) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(new)?;
        self.txn.open_table(DOMAINS)?.insert(new.name.as_str(), bytes.as_slice())?;
        let (old_reg, old_due) = match old {
            Some(o) => (Some(o.registrar.as_str()), Some(o.due)),
            None => (None, None),
        };
        if old_reg != Some(new.registrar.as_str()) {
            let mut t = self.txn.open_table(DOMAINS_BY_REGISTRAR)?;
            if let Some(r) = old_reg {
                t.remove((r, new.name.as_str()))?;
            }
            t.insert((new.registrar.as_str(), new.name.as_str()), ())?;
        }
        let defer = self.deferring();
        if old_due != Some(new.due) && !defer {
            let mut t = self.txn.open_table(DOMAINS_DUE)?;
            if let Some(e) = old_due {
                t.remove((e.0, new.name.as_str()))?;
            }
            t.insert((new.due.0, new.name.as_str()), ())?;
        }
        let old_statuses: &[crate::model::Status] = old.map(|o| o.statuses.as_slice()).unwrap_or(&[]);
        if old_statuses != new.statuses.as_slice() {
            let mut t = self.txn.open_table(DOMAINS_BY_STATUS)?;
            for st in old_statuses.iter().filter(|s| !new.statuses.contains(s)) {
                t.remove((st.as_str(), new.name.as_str()))?;
            }
            for st in new.statuses.iter().filter(|s| !old_statuses.contains(s)) {
                t.insert((st.as_str(), new.name.as_str()), ())?;
            }
        }
        if old.is_none() {
            self.txn.open_table(DOMAINS_BY_UNICODE)?.insert((new.unicode_name.as_str(), new.name.as_str()), ())?;
        }
        let old_count = old.map(|o| (ns_count(o), o.unicode_name.as_str()));
        if old_count.map(|(c, _)| c) != Some(ns_count(new)) && !defer {
            let mut t = self.txn.open_table(DOMAINS_BY_NS_COUNT)?;
            if let Some((c, u)) = old_count {
                t.remove((c, u, new.name.as_str()))?;
            }
            t.insert((ns_count(new), new.unicode_name.as_str(), new.name.as_str()), ())?;
        }
        if !defer {
            let old_hosts: std::collections::BTreeSet<&str> =
                old.map(|o| o.nameservers.iter().map(|n| n.name.as_str()).collect()).unwrap_or_default();
            let new_hosts: std::collections::BTreeSet<&str> = new.nameservers.iter().map(|n| n.name.as_str()).collect();
            if old_hosts != new_hosts {
                let mut t = self.txn.open_table(NAMESERVER_USES)?;
                for h in old_hosts.difference(&new_hosts) {
                    t.remove((*h, new.name.as_str()))?;
                }
                for h in new_hosts.difference(&old_hosts) {
                    t.insert((*h, new.name.as_str()), ())?;
                }
            }
            let old_contacts = old.map(contacts_of).unwrap_or_default();
            let new_contacts = contacts_of(new);
            if old_contacts != new_contacts {
                let mut t = self.txn.open_table(CONTACT_USES)?;
                for h in old_contacts.difference(&new_contacts) {
                    t.remove((h.as_str(), new.name.as_str()))?;
                }
                for h in new_contacts.difference(&old_contacts) {
                    t.insert((h.as_str(), new.name.as_str()), ())?;
                }
            }
        }
        Ok(())
    }

    /// Removes a domain and its index entries (purge). Its history stays.
    pub fn remove_domain(&mut self, old: &Domain) -> Result<(), StoreError> {
        self.writes += 1;
        self.txn.open_table(DOMAINS)?.remove(old.name.as_str())?;
        self.txn.open_table(DOMAINS_BY_REGISTRAR)?.remove((old.registrar.as_str(), old.name.as_str()))?;
        self.txn.open_table(DOMAINS_DUE)?.remove((old.due.0, old.name.as_str()))?;
        let mut t = self.txn.open_table(DOMAINS_BY_STATUS)?;
        for st in &old.statuses {
            t.remove((st.as_str(), old.name.as_str()))?;
        }
        let mut t = self.txn.open_table(CONTACT_USES)?;
        for h in contacts_of(old) {
            t.remove((h.as_str(), old.name.as_str()))?;
        }
        self.txn.open_table(DOMAINS_BY_UNICODE)?.remove((old.unicode_name.as_str(), old.name.as_str()))?;
        self.txn.open_table(DOMAINS_BY_NS_COUNT)?.remove((
            ns_count(old),
            old.unicode_name.as_str(),
            old.name.as_str(),
        ))?;
        let mut t = self.txn.open_table(NAMESERVER_USES)?;
        for n in &old.nameservers {
            t.remove((n.name.as_str(), old.name.as_str()))?;
        }
        Ok(())
    }
}

/// A domain's key in the nameserver-count index (at most 13 nameservers; saturates).
pub(super) fn ns_count(d: &Domain) -> u8 {
    u8::try_from(d.nameservers.len()).unwrap_or(u8::MAX)
}

impl WriteTx {
    /// Schema 3's migration: the nameserver-count index of every stored domain, inserted in key
    /// order (collected and sorted first, ~60 bytes a domain). Returns the entries written.
    pub(super) fn fill_ns_count_index(&mut self) -> Result<u64, StoreError> {
        let mut keys: Vec<(u8, String, String)> = Vec::new();
        {
            let t = self.txn.open_table(DOMAINS)?;
            for item in t.iter()? {
                let (_, v) = item?;
                let d: Domain = codec::decode(v.value())?;
                keys.push((ns_count(&d), d.unicode_name, d.name));
            }
        }
        keys.sort();
        let mut t = self.txn.open_table(DOMAINS_BY_NS_COUNT)?;
        for (c, u, a) in &keys {
            t.insert((*c, u.as_str(), a.as_str()), ())?;
        }
        self.writes += keys.len() as u64;
        Ok(keys.len() as u64)
    }
}

/// The contacts a domain uses, in any role.
pub(super) fn contacts_of(d: &Domain) -> std::collections::BTreeSet<String> {
    let mut set = std::collections::BTreeSet::new();
    set.insert(d.registrant.clone());
    set.insert(d.admin.clone());
    set.extend(d.tech.iter().cloned());
    set.extend(d.billing.iter().cloned());
    set
}
