//! `check`'s consistency audit of the domain indexes and counters (the deeper walks are in
//! `deep`).

use redb::ReadableTableMetadata;

use super::domains::{contacts_of, ns_count};
use super::tables::{
    CONTACT_USES, DOMAINS_BY_NS_COUNT, DOMAINS_BY_REGISTRAR, DOMAINS_BY_STATUS, DOMAINS_BY_UNICODE, DOMAINS_DUE,
    NAMESERVER_USES,
};
use super::{ReadTx, StoreError};
use crate::model::Domain;

impl ReadTx {
    /// Consistency audit: every index entry points at its record and every record is indexed,
    /// and the domain counters equal a count. Returns the problems found (empty when sound).
    pub fn audit(&self, counter_keys: &dyn Fn(&Domain) -> Vec<String>) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut expected: std::collections::BTreeMap<String, i64> = Default::default();
        let by_reg = self.txn.open_table(DOMAINS_BY_REGISTRAR)?;
        let by_exp = self.txn.open_table(DOMAINS_DUE)?;
        let uses = self.txn.open_table(CONTACT_USES)?;
        let hosts = self.txn.open_table(NAMESERVER_USES)?;
        let mut hosts_expected = 0u64;
        let by_status = self.txn.open_table(DOMAINS_BY_STATUS)?;
        let by_ns = self.txn.open_table(DOMAINS_BY_NS_COUNT)?;
        let mut uses_expected = 0u64;
        let mut statuses_expected = 0u64;
        let mut domains = 0u64;
        self.for_each_domain(|d| {
            domains += 1;
            for k in counter_keys(&d) {
                *expected.entry(k).or_default() += 1;
            }
            if by_reg.get((d.registrar.as_str(), d.name.as_str()))?.is_none() {
                problems.push(format!("domain {} missing from the registrar index", d.name));
            }
            if by_ns.get((ns_count(&d), d.unicode_name.as_str(), d.name.as_str()))?.is_none() {
                problems.push(format!("domain {} missing from the nameserver-count index", d.name));
            }
            if by_exp.get((d.due.0, d.name.as_str()))?.is_none() {
                problems.push(format!("domain {} missing from the due index", d.name));
            }
            for st in &d.statuses {
                statuses_expected += 1;
                if by_status.get((st.as_str(), d.name.as_str()))?.is_none() {
                    problems.push(format!("domain {} missing from the index of status {st}", d.name));
                }
            }
            for n in &d.nameservers {
                hosts_expected += 1;
                if hosts.get((n.name.as_str(), d.name.as_str()))?.is_none() {
                    problems.push(format!("domain {} missing from the uses of nameserver {}", d.name, n.name));
                }
            }
            for h in contacts_of(&d) {
                uses_expected += 1;
                if uses.get((h.as_str(), d.name.as_str()))?.is_none() {
                    problems.push(format!("domain {} missing from the uses of contact {h}", d.name));
                }
            }
            Ok(())
        })?;
        let by_unicode = self.txn.open_table(DOMAINS_BY_UNICODE)?;
        if by_unicode.len()? != domains {
            problems.push(format!("name index has {} entries for {domains} domains", by_unicode.len()?));
        }
        if by_reg.len()? != domains {
            problems.push(format!("registrar index has {} entries for {domains} domains", by_reg.len()?));
        }
        if hosts.len()? != hosts_expected {
            problems
                .push(format!("nameserver-use index has {} entries, the domains give {hosts_expected}", hosts.len()?));
        }
        if uses.len()? != uses_expected {
            problems.push(format!("contact-use index has {} entries, the domains give {uses_expected}", uses.len()?));
        }
        if by_ns.len()? != domains {
            problems.push(format!("nameserver-count index has {} entries for {domains} domains", by_ns.len()?));
        }
        if by_exp.len()? != domains {
            problems.push(format!("due index has {} entries for {domains} domains", by_exp.len()?));
        }
        if by_status.len()? != statuses_expected {
            problems
                .push(format!("status index has {} entries, the domains give {statuses_expected}", by_status.len()?));
        }
        for (k, v) in self.counters_with_prefix("domains")? {
            let want = expected.remove(&k).unwrap_or(0);
            if v != want {
                problems.push(format!("counter {k} is {v}, a count gives {want}"));
            }
        }
        for (k, v) in expected {
            if v != 0 {
                problems.push(format!("counter {k} is missing, a count gives {v}"));
            }
        }
        Ok(problems)
    }
}
