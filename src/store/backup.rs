//! Backups: a consistent copy of every table from one read snapshot into a new file, and the
//! check `restore` makes of a file before using it.

use std::path::Path;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::tables::*;
use super::{ReadOnlyStore, Store, StoreError};

impl Store {
    /// Writes a consistent copy of the whole database to `out` (a new file) from one snapshot.
    pub fn backup_to(&self, out: &Path) -> Result<BackupReport, StoreError> {
        backup_from(&self.db.begin_read()?, out)
    }
}

impl ReadOnlyStore {
    pub fn backup_to(&self, out: &Path) -> Result<BackupReport, StoreError> {
        backup_from(&self.db.begin_read()?, out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub entries: u64,
    pub domains: u64,
}

fn copy_table<K: redb::Key + 'static, V: redb::Value + 'static>(
    src: &ReadTransaction,
    dst: &WriteTransaction,
    def: TableDefinition<K, V>,
) -> Result<u64, StoreError> {
    let from = match src.open_table(def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let mut to = dst.open_table(def)?;
    let mut n = 0;
    for item in from.iter()? {
        let (k, v) = item?;
        to.insert(k.value(), v.value())?;
        n += 1;
    }
    Ok(n)
}

fn backup_from(src: &ReadTransaction, out: &Path) -> Result<BackupReport, StoreError> {
    if out.exists() {
        return Err(StoreError::Exists(out.to_path_buf()));
    }
    // Written beside the target and renamed at the end, so a failed backup leaves no file that
    // looks complete.
    let tmp = out.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let db = Database::builder().create(&tmp)?;
    let txn = db.begin_write()?;
    let mut entries = 0;
    entries += copy_table(src, &txn, META)?;
    entries += copy_table(src, &txn, COUNTERS)?;
    let domains = copy_table(src, &txn, DOMAINS)?;
    entries += domains;
    entries += copy_table(src, &txn, DOMAINS_BY_REGISTRAR)?;
    entries += copy_table(src, &txn, DOMAINS_DUE)?;
    entries += copy_table(src, &txn, DOMAINS_BY_STATUS)?;
    entries += copy_table(src, &txn, DOMAINS_BY_NS_COUNT)?;
    entries += copy_table(src, &txn, POLL)?;
    entries += copy_table(src, &txn, IDEMPOTENCY)?;
    entries += copy_table(src, &txn, IDEMPOTENCY_BY_TIME)?;
    entries += copy_table(src, &txn, SUSPENSIONS)?;
    entries += copy_table(src, &txn, SESSIONS)?;
    entries += copy_table(src, &txn, DISCLOSURES)?;
    entries += copy_table(src, &txn, DOMAINS_BY_UNICODE)?;
    entries += copy_table(src, &txn, QUERY_LOG_BLOCKS)?;
    entries += copy_table(src, &txn, QUERY_LOG_BLOCK_ORIGINS)?;
    // A database of an earlier schema (a running older server) is copied as it is; the binary
    // that opens the copy migrates it.
    entries += copy_table(src, &txn, legacy::QUERY_LOG)?;
    entries += copy_table(src, &txn, legacy::QUERY_LOG_BY_ORIGIN)?;
    entries += copy_table(src, &txn, CONTACTS)?;
    entries += copy_table(src, &txn, CONTACTS_BY_REGISTRAR)?;
    entries += copy_table(src, &txn, CONTACT_USES)?;
    entries += copy_table(src, &txn, NAMESERVER_USES)?;
    entries += copy_table(src, &txn, REGISTRARS)?;
    entries += copy_table(src, &txn, EPP_ACCESS)?;
    entries += copy_table(src, &txn, USERS)?;
    entries += copy_table(src, &txn, HISTORY)?;
    entries += copy_table(src, &txn, LEDGER)?;
    entries += copy_table(src, &txn, ZONE_JOURNAL)?;
    entries += copy_table(src, &txn, ZONE_STATE)?;
    entries += copy_table(src, &txn, ZONE_RUNS)?;
    entries += copy_table(src, &txn, NS_CHECKS)?;
    entries += copy_table(src, &txn, NS_CHECK_DUE)?;
    entries += copy_table(src, &txn, NS_CHECK_DUE_OF)?;
    txn.commit()?;
    drop(db);
    std::fs::rename(&tmp, out).map_err(|e| StoreError::Db(format!("rename {}: {e}", tmp.display())))?;
    Ok(BackupReport { entries, domains })
}

/// Checks that a file is a readable nicbox database (used by `restore` before replacing).
pub fn verify_file(path: &Path) -> Result<u64, StoreError> {
    let s = ReadOnlyStore::open(path)?;
    let r = s.read()?;
    r.count_domains()
}
