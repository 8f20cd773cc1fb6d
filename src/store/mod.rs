//! The only code that knows redb: table definitions, encoding, schema version, backup.
//!
//! Every table is declared once below. Keys are A-label names, handles and ids; values are
//! `codec`-encoded model types. Secondary indexes are tables of their own and are written in the
//! same transaction as the record they index; so are the counters, so that dashboards read a
//! number instead of scanning. The registry gets typed read and write transactions (`ReadTx`,
//! `WriteTx`) and never sees a redb type.

pub mod codec;
mod deep;
mod migrate;
mod space;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::{
    ConcurrencyMode, Database, Durability, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    ReadableTableMetadata, TableDefinition, WriteTransaction,
};

use crate::model::{
    Contact, ContactView, DisclosureRequest, Domain, DomainView, EppAccess, HistoryEntry, IdempotencyRecord,
    JournalEntry, LedgerEntry, NsCheck, PollMessage, QueryLogBlock, QueryLogEntry, Registrar, Session, Suspension,
    Timestamp, User, ZoneRun,
};

/// Schema version of the database layout this binary writes. A file with a newer version is
/// refused; an older one is migrated at open, before any listener starts.
pub const SCHEMA_VERSION: u32 = 2;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const COUNTERS: TableDefinition<&str, i64> = TableDefinition::new("counters");
const DOMAINS: TableDefinition<&str, &[u8]> = TableDefinition::new("domains");
/// (registrar id, domain name)
const DOMAINS_BY_REGISTRAR: TableDefinition<(&str, &str), ()> = TableDefinition::new("domains_by_registrar");
/// (due time, domain name): the lifecycle job's work list, by when each domain next needs it
/// (its expiry, the end of its restore period or of a review).
const DOMAINS_DUE: TableDefinition<(i64, &str), ()> = TableDefinition::new("domains_due");
/// (status, domain name) for every stored status: queues (pendingCreate, pendingUpdate) and filters.
const DOMAINS_BY_STATUS: TableDefinition<(&str, &str), ()> = TableDefinition::new("domains_by_status");
/// (registrar id, message id) -> PollMessage
const POLL: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("poll");
/// (registrar id, Idempotency-Key) -> IdempotencyRecord
const IDEMPOTENCY: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("idempotency");
/// Origin -> Suspension: the directory's suspended (and remembered) origins.
const SUSPENSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("suspensions");
/// (latest time in the block, sequence) -> QueryLogBlock: every directory query, for the
/// retention period, a block per flush of the query-log writer.
const QUERY_LOG_BLOCKS: TableDefinition<(i64, u64), &[u8]> = TableDefinition::new("query_log_blocks");
/// (origin, latest time in the block, sequence): the blocks holding an origin's queries.
const QUERY_LOG_BLOCK_ORIGINS: TableDefinition<(&str, i64, u64), ()> = TableDefinition::new("query_log_block_origins");
/// Rows per block when older records are gathered into blocks (the writer's flush size).
const QUERY_LOG_BLOCK_ROWS: usize = 8_192;

/// Tables of earlier schema versions, read only by the migrations.
mod legacy {
    use redb::TableDefinition;

    /// Version 1: (time, sequence) -> QueryLogEntry, a record per query.
    pub const QUERY_LOG: TableDefinition<(i64, u64), &[u8]> = TableDefinition::new("query_log");
    /// Version 1: (origin, time, sequence).
    pub const QUERY_LOG_BY_ORIGIN: TableDefinition<(&str, i64, u64), ()> = TableDefinition::new("query_log_by_origin");
}
/// SHA-256 of a session token -> Session
const SESSIONS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("sessions");
/// id -> DisclosureRequest
const DISCLOSURES: TableDefinition<u64, &[u8]> = TableDefinition::new("disclosures");
/// (unicode name, A-label name): name searches by U-label or A-label prefix.
const DOMAINS_BY_UNICODE: TableDefinition<(&str, &str), ()> = TableDefinition::new("domains_by_unicode");
/// (time, registrar id, Idempotency-Key): expiry of the records above.
const IDEMPOTENCY_BY_TIME: TableDefinition<(i64, &str, &str), ()> = TableDefinition::new("idempotency_by_time");
const CONTACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("contacts");
/// (contact handle, domain name): which domains use a contact, in any role.
const CONTACT_USES: TableDefinition<(&str, &str), ()> = TableDefinition::new("contact_uses");
/// (nameserver host name, domain name): which domains delegate to a host (RDAP nameserver lookups).
const NAMESERVER_USES: TableDefinition<(&str, &str), ()> = TableDefinition::new("nameserver_uses");
/// (registrar id, contact handle)
const CONTACTS_BY_REGISTRAR: TableDefinition<(&str, &str), ()> = TableDefinition::new("contacts_by_registrar");
const REGISTRARS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrars");
/// Registrar id -> EppAccess (EPP password digest, pinned client certificates). Created by its
/// first write, so a database of an earlier version needs no migration.
const EPP_ACCESS: TableDefinition<&str, &[u8]> = TableDefinition::new("epp_access");
const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// (object key such as `domain:exemplo.pt`, global sequence) -> HistoryEntry
const HISTORY: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("history");
/// (registrar id, global sequence) -> LedgerEntry
const LEDGER: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("ledger");
/// (TLD, domain name, journal sequence) -> JournalEntry: every change of a delegation, written
/// in the same transaction as the change. Grouped by name so that an export can walk it beside
/// the domains and the previous publication in one merge, with flat memory.
const ZONE_JOURNAL: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("zone_journal");
/// `published:<zone>` and `attempt:<zone>` -> ZoneRun: the last publication of each zone and the
/// last attempt (which may have been refused).
const ZONE_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("zone_state");
/// (zone, sequence) -> ZoneRun: every publication attempt, for the admin UI (bounded per zone).
const ZONE_RUNS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("zone_runs");
/// Domain name -> NsCheck: the last nameserver check of each domain.
const NS_CHECKS: TableDefinition<&str, &[u8]> = TableDefinition::new("ns_checks");
/// (due time, domain name): domains whose nameservers are to be checked, by when.
const NS_CHECK_DUE: TableDefinition<(i64, &str), ()> = TableDefinition::new("ns_check_due");
/// Domain name -> due time: the reverse of `ns_check_due`, to move an entry.
const NS_CHECK_DUE_OF: TableDefinition<&str, i64> = TableDefinition::new("ns_check_due_of");
/// Zone runs kept per zone.
const ZONE_RUNS_KEPT: u64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(String),
    #[error("cannot encode a value: {0}")]
    Encode(String),
    #[error("cannot decode a stored value: {0}")]
    Decode(String),
    #[error("the database file {0} already exists")]
    Exists(PathBuf),
    #[error("no database at {0} (run `nicbox init` first)")]
    Missing(PathBuf),
    #[error("the database is open in another process (is the server running?)")]
    Busy,
    #[error(
        "the database has schema version {found}, newer than this binary understands ({supported}): use a newer nicbox"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("the file is not a nicbox database (no schema version)")]
    NotNicbox,
    /// See `space`: writes wait for free space.
    #[error("the disk holding the database is full ({free} bytes free): writes are paused until space is freed")]
    Full { free: u64 },
    #[error("database I/O error: {0}")]
    Io(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => { $(impl From<$t> for StoreError {
        fn from(e: $t) -> Self { StoreError::Db(e.to_string()) }
    })* };
}
from_redb!(redb::Error, redb::TableError, redb::CompactionError);

impl From<redb::DatabaseError> for StoreError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Busy,
            other => StoreError::Db(other.to_string()),
        }
    }
}

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "nicbox.redb";

/// An open registry database (read and write).
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
    /// Commits so far (in this process): a snapshot taken at generation `g` is the latest state
    /// for as long as the generation is still `g`.
    generation: Arc<AtomicU64>,
    /// The public directory's snapshot, reused until the next commit (`Store::directory`).
    directory: Arc<Mutex<Option<Arc<DirectorySnapshot>>>>,
}

fn builder() -> redb::Builder {
    let mut b = Database::builder();
    // One process owns the file. The shared modes would let `nicbox backup` open it beside a
    // running server, but they take a byte-range file lock on every read transaction, which
    // halves read throughput (measured: 92k against 174k reads/s on one thread); a running
    // server is asked for backups and checks over its control socket instead (`control`).
    b.set_concurrency_mode(ConcurrencyMode::ExclusiveWriter);
    b.set_cache_size(256 * 1024 * 1024);
    b
}

impl Store {
    /// Creates a new, empty database; refuses to touch an existing file.
    pub fn create(path: &Path) -> Result<Store, StoreError> {
        if path.exists() {
            return Err(StoreError::Exists(path.to_path_buf()));
        }
        let db = builder().create(path)?;
        let store = Store::from_db(db, path);
        let mut tx = store.write()?;
        tx.init_tables()?;
        tx.put_meta("schema_version", &SCHEMA_VERSION.to_le_bytes())?;
        tx.commit()?;
        Ok(store)
    }

    /// Opens an existing database, checks its schema version and migrates an older one.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let mut store = Store::from_db(builder().open(path)?, path);
        let version = store.read()?.schema_version()?;
        check_version(version)?;
        if let Some(v) = version.filter(|v| *v < SCHEMA_VERSION) {
            // The file as it was, copied beside it while nothing has it open (`migrate`).
            drop(store);
            let copy = migrate::keep_copy(path, v)?;
            tracing::info!(
                copy = %copy.display(),
                "kept a copy of the database before migrating it from schema version {v} to {SCHEMA_VERSION}"
            );
            store = Store::from_db(builder().open(path)?, path);
        }
        // Migrations, each in its own transaction, raising `schema_version` as it completes.
        if version == Some(1) {
            let started = std::time::Instant::now();
            let mut tx = store.write()?;
            let rows = tx.migrate_query_log_to_blocks()?;
            tx.put_meta("schema_version", &2u32.to_le_bytes())?;
            tx.commit()?;
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(rows, secs, "database migrated to schema version 2 (query log in blocks)");
        }
        Ok(store)
    }

    fn from_db(db: Database, path: &Path) -> Store {
        Store {
            db: Arc::new(db),
            path: path.to_path_buf(),
            generation: Arc::new(AtomicU64::new(0)),
            directory: Arc::new(Mutex::new(None)),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A read snapshot of the latest committed state with the public directory's tables open.
    /// Directory lookups are the hottest reads and the most numerous: beginning a transaction and
    /// opening three tables cost more than the lookup itself, so one snapshot serves every lookup
    /// until the next commit. A lookup never sees older data than a fresh transaction would: a
    /// commit raises the generation before the writer answers, and a snapshot is labelled with
    /// the generation read before it was taken.
    pub fn directory(&self) -> Result<Arc<DirectorySnapshot>, StoreError> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Ok(cached) = self.directory.lock()
            && let Some(snap) = cached.as_ref()
            && snap.generation == generation
        {
            return Ok(snap.clone());
        }
        let txn = self.db.begin_read()?;
        let snap = Arc::new(DirectorySnapshot {
            generation,
            domains: txn.open_table(DOMAINS)?,
            contacts: txn.open_table(CONTACTS)?,
            registrars: txn.open_table(REGISTRARS)?,
            registrar_names: Mutex::new(std::collections::HashMap::new()),
        });
        if let Ok(mut cached) = self.directory.lock()
            && cached.as_ref().is_none_or(|c| c.generation <= generation)
        {
            *cached = Some(snap.clone());
        }
        Ok(snap)
    }

    pub fn read(&self) -> Result<ReadTx, StoreError> {
        Ok(ReadTx { txn: self.db.begin_read()? })
    }

    /// A durable write transaction. Only the registry's writer thread calls this while serving.
    pub fn write(&self) -> Result<WriteTx, StoreError> {
        space::check(&self.path)?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate).map_err(|e| StoreError::Db(e.to_string()))?;
        Ok(WriteTx { txn, writes: 0, generation: self.generation.clone() })
    }

    /// Writes a consistent copy of the whole database to `out` (a new file) from one snapshot.
    pub fn backup_to(&self, out: &Path) -> Result<BackupReport, StoreError> {
        backup_from(&self.db.begin_read()?, out)
    }
}

fn check_version(version: Option<u32>) -> Result<(), StoreError> {
    match version {
        None => Err(StoreError::NotNicbox),
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::TooNew { found: v, supported: SCHEMA_VERSION }),
        Some(_) => Ok(()),
    }
}

/// A database opened read-only by another process while the server may be writing it
/// (`nicbox backup` and `nicbox check` while the server runs).
pub struct ReadOnlyStore {
    db: redb::ReadOnlyDatabase,
}

impl ReadOnlyStore {
    pub fn open(path: &Path) -> Result<ReadOnlyStore, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let db = builder().open_read_only(path)?;
        let s = ReadOnlyStore { db };
        check_version(s.read()?.schema_version()?)?;
        Ok(s)
    }

    pub fn read(&self) -> Result<ReadTx, StoreError> {
        Ok(ReadTx { txn: self.db.begin_read()? })
    }

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

macro_rules! read_methods {
    () => {
        pub fn schema_version(&self) -> Result<Option<u32>, StoreError> {
            Ok(self.get_meta("schema_version")?.and_then(|b| b.try_into().ok()).map(u32::from_le_bytes))
        }

        pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
            let t = match self.txn.open_table(META) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        }

        pub fn domain(&self, name: &str) -> Result<Option<Domain>, StoreError> {
            let t = self.txn.open_table(DOMAINS)?;
            t.get(name)?.map(|v| codec::decode(v.value())).transpose()
        }

        pub fn domain_exists(&self, name: &str) -> Result<bool, StoreError> {
            let t = self.txn.open_table(DOMAINS)?;
            Ok(t.get(name)?.is_some())
        }

        pub fn contact(&self, handle: &str) -> Result<Option<Contact>, StoreError> {
            let t = self.txn.open_table(CONTACTS)?;
            t.get(handle)?.map(|v| codec::decode(v.value())).transpose()
        }

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

        pub fn counter(&self, key: &str) -> Result<i64, StoreError> {
            let t = self.txn.open_table(COUNTERS)?;
            Ok(t.get(key)?.map(|v| v.value()).unwrap_or(0))
        }

        /// Every counter whose key starts with `prefix`.
        pub fn counters_with_prefix(&self, prefix: &str) -> Result<Vec<(String, i64)>, StoreError> {
            let t = self.txn.open_table(COUNTERS)?;
            let mut out = Vec::new();
            for item in t.range(prefix..)? {
                let (k, v) = item?;
                if !k.value().starts_with(prefix) {
                    break;
                }
                out.push((k.value().to_string(), v.value()));
            }
            Ok(out)
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

        pub fn idempotency(&self, registrar: &str, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
            let t = self.txn.open_table(IDEMPOTENCY)?;
            t.get((registrar, key))?.map(|v| codec::decode(v.value())).transpose()
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

        /// The last nameserver check of a domain.
        pub fn ns_check(&self, name: &str) -> Result<Option<NsCheck>, StoreError> {
            let t = match self.txn.open_table(NS_CHECKS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            t.get(name)?.map(|v| codec::decode(v.value())).transpose()
        }

        /// Domains whose nameserver check is due by `until`, oldest first, at most `limit`.
        pub fn ns_checks_due(&self, until: Timestamp, limit: usize) -> Result<Vec<String>, StoreError> {
            let t = match self.txn.open_table(NS_CHECK_DUE) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut out = Vec::new();
            for item in t.range((i64::MIN, "")..=(until.0, "\u{10FFFF}"))? {
                let (k, _) = item?;
                out.push(k.value().1.to_string());
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        }

        /// When a domain's nameserver check is next due, if it is queued.
        pub fn ns_check_due_of(&self, name: &str) -> Result<Option<Timestamp>, StoreError> {
            let t = match self.txn.open_table(NS_CHECK_DUE_OF) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            Ok(t.get(name)?.map(|v| Timestamp(v.value())))
        }

        /// `published:<zone>` or `attempt:<zone>`.
        pub fn zone_state(&self, key: &str) -> Result<Option<ZoneRun>, StoreError> {
            let t = match self.txn.open_table(ZONE_STATE) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            t.get(key)?.map(|v| codec::decode(v.value())).transpose()
        }

        /// A zone's publication attempts, newest first, at most `limit`.
        pub fn zone_runs(&self, zone: &str, limit: usize) -> Result<Vec<ZoneRun>, StoreError> {
            let t = match self.txn.open_table(ZONE_RUNS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut out = Vec::new();
            for item in t.range((zone, 0u64)..=(zone, u64::MAX))?.rev() {
                let (_, v) = item?;
                out.push(codec::decode(v.value())?);
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        }

        pub fn count_domains(&self) -> Result<u64, StoreError> {
            let t = self.txn.open_table(DOMAINS)?;
            Ok(t.len()?)
        }
    };
}

/// The contacts a domain uses, in any role.
fn contacts_of(d: &Domain) -> std::collections::BTreeSet<String> {
    let mut set = std::collections::BTreeSet::new();
    set.insert(d.registrant.clone());
    set.insert(d.admin.clone());
    set.extend(d.tech.iter().cloned());
    set.extend(d.billing.iter().cloned());
    set
}

/// A consistent snapshot for reading. Cheap to open; never hold one across an `.await`.
pub struct ReadTx {
    txn: ReadTransaction,
}

/// A domain, its distinct contacts and its registrar's name (when the registrar exists).
/// One read snapshot with the tables a directory lookup reads already open (`Store::directory`).
pub struct DirectorySnapshot {
    generation: u64,
    domains: ReadOnlyTable<&'static str, &'static [u8]>,
    contacts: ReadOnlyTable<&'static str, &'static [u8]>,
    registrars: ReadOnlyTable<&'static str, &'static [u8]>,
    /// Registrars' names read so far from this snapshot (a registry has a few dozen).
    registrar_names: Mutex<std::collections::HashMap<String, Option<Arc<str>>>>,
}

/// What a directory lookup reads, borrowed from the snapshot's pages: the domain, its distinct
/// contacts (in the order registrant, admin, tech) and its registrar's name if it has one.
pub struct DomainParties<'a> {
    pub domain: DomainView<'a>,
    pub contacts: Vec<ContactView<'a>>,
    pub registrar_name: Option<&'a str>,
}

impl<'a> DomainParties<'a> {
    /// One of the domain's contacts by handle.
    pub fn contact(&self, handle: &str) -> Option<&ContactView<'a>> {
        self.contacts.iter().find(|c| c.handle == handle)
    }
}

impl DirectorySnapshot {
    /// Calls `f` with a domain and its parties decoded as views of the stored bytes (nothing
    /// copied); `None` when the domain is not stored.
    pub fn with_domain_parties<R>(
        &self,
        name: &str,
        f: impl FnOnce(&DomainParties<'_>) -> R,
    ) -> Result<Option<R>, StoreError> {
        let Some(stored) = self.domains.get(name)? else { return Ok(None) };
        let domain: DomainView<'_> = codec::decode_view(stored.value())?;
        let mut guards = Vec::with_capacity(3);
        for handle in [Some(domain.registrant), Some(domain.admin), domain.tech].into_iter().flatten() {
            if !guards.iter().any(|(h, _)| *h == handle)
                && let Some(v) = self.contacts.get(handle)?
            {
                guards.push((handle, v));
            }
        }
        let contacts =
            guards.iter().map(|(_, v)| codec::decode_view(v.value())).collect::<Result<Vec<ContactView<'_>>, _>>()?;
        let registrar = self.registrar_name(domain.registrar)?;
        Ok(Some(f(&DomainParties { domain, contacts, registrar_name: registrar.as_deref() })))
    }

    fn registrar_name(&self, id: &str) -> Result<Option<Arc<str>>, StoreError> {
        if let Ok(names) = self.registrar_names.lock()
            && let Some(name) = names.get(id)
        {
            return Ok(name.clone());
        }
        let name = self
            .registrars
            .get(id)?
            .map(|v| codec::decode::<Registrar>(v.value()).map(|r| Arc::<str>::from(r.name)))
            .transpose()?;
        if let Ok(mut names) = self.registrar_names.lock() {
            names.insert(id.to_owned(), name.clone());
        }
        Ok(name)
    }
}

impl ReadTx {
    read_methods!();

    /// Every domain (for `check`'s consistency audit and exports): calls `f` on each in name order.
    pub fn for_each_domain(&self, mut f: impl FnMut(Domain) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let t = self.txn.open_table(DOMAINS)?;
        for item in t.iter()? {
            let (_, v) = item?;
            f(codec::decode(v.value())?)?;
        }
        Ok(())
    }

    /// Every contact, in handle order (for `check`'s review of stored records).
    pub fn for_each_contact(&self, mut f: impl FnMut(Contact) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let t = self.txn.open_table(CONTACTS)?;
        for item in t.iter()? {
            let (_, v) = item?;
            f(codec::decode(v.value())?)?;
        }
        Ok(())
    }

    /// Journal entries of a TLD with a sequence above `after_seq` and at most `upto_seq`, in
    /// (name, sequence) order: `f(name, seq, entry)`. Streams; holds nothing.
    pub fn for_each_journal_entry(
        &self,
        tld: &str,
        after_seq: u64,
        upto_seq: u64,
        mut f: impl FnMut(&str, u64, JournalEntry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = match self.txn.open_table(ZONE_JOURNAL) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        for item in t.range((tld, "", 0u64)..)? {
            let (k, v) = item?;
            let (t2, name, seq) = k.value();
            if t2 != tld {
                break;
            }
            if seq > after_seq && seq <= upto_seq {
                f(name, seq, codec::decode(v.value())?)?;
            }
        }
        Ok(())
    }

    /// A pull cursor over a TLD's journal entries with a sequence in (`after_seq`, `upto_seq`],
    /// in (name, sequence) order: the zone export merges it with the domains and the previous
    /// publication.
    pub fn journal_cursor(&self, tld: &str, after_seq: u64, upto_seq: u64) -> Result<JournalCursor, StoreError> {
        let range = match self.txn.open_table(ZONE_JOURNAL) {
            Ok(t) => Some(t.range((tld, "", 0u64)..)?),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(JournalCursor { range, tld: tld.to_string(), after_seq, upto_seq })
    }

    /// The last sequence number handed out by a named sequence (0 when never used).
    pub fn seq_value(&self, name: &str) -> Result<u64, StoreError> {
        Ok(u64::try_from(self.counter(&format!("seq:{name}"))?).unwrap_or(0))
    }

    /// Every domain with its nameserver check, in name order (the zone export's scan). Both
    /// tables are keyed by the domain name, so they are walked side by side (a lookup per
    /// domain would cost as much as the rest of the export).
    pub fn for_each_domain_with_check(
        &self,
        mut f: impl FnMut(Domain, Option<NsCheck>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let t = self.txn.open_table(DOMAINS)?;
        let checks = match self.txn.open_table(NS_CHECKS) {
            Ok(c) => Some(c),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let mut check_iter = match &checks {
            Some(c) => Some(c.iter()?),
            None => None,
        };
        let mut pending: Option<(String, NsCheck)> = None;
        let mut exhausted = check_iter.is_none();
        for item in t.iter()? {
            let (k, v) = item?;
            let name = k.value();
            // Move the check cursor up to this name.
            while !exhausted && pending.as_ref().is_none_or(|(n, _)| n.as_str() < name) {
                match check_iter.as_mut().and_then(|i| i.next()) {
                    Some(item) => {
                        let (ck, cv) = item?;
                        pending = Some((ck.value().to_string(), codec::decode(cv.value())?));
                    }
                    None => {
                        exhausted = true;
                        pending = None;
                    }
                }
            }
            let check = match &pending {
                Some((n, _)) if n == name => pending.take().map(|(_, c)| c),
                _ => None,
            };
            f(codec::decode(v.value())?, check)?;
        }
        Ok(())
    }

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

/// The journal's key: (TLD, domain name, sequence).
type JournalKey = (&'static str, &'static str, u64);

/// See [`ReadTx::journal_cursor`].
pub struct JournalCursor {
    range: Option<redb::Range<'static, JournalKey, &'static [u8]>>,
    tld: String,
    after_seq: u64,
    upto_seq: u64,
}

impl Iterator for JournalCursor {
    type Item = Result<(String, u64, JournalEntry), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        let range = self.range.as_mut()?;
        loop {
            let (k, v) = match range.next()? {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let (tld, name, seq) = k.value();
            if tld != self.tld {
                self.range = None;
                return None;
            }
            if seq > self.after_seq && seq <= self.upto_seq {
                return Some(codec::decode(v.value()).map(|e| (name.to_string(), seq, e)));
            }
        }
    }
}

/// A write transaction, owned by the registry's writer. It counts its mutations, so the writer
/// knows whether a command that failed left something behind.
pub struct WriteTx {
    txn: WriteTransaction,
    /// Mutations so far: the writer compares it before and after a command.
    writes: u64,
    /// The store's commit counter, raised once this transaction is durable.
    generation: Arc<AtomicU64>,
}

impl WriteTx {
    read_methods!();

    /// How many mutations this transaction has made.
    pub fn writes(&self) -> u64 {
        self.writes
    }

    fn init_tables(&mut self) -> Result<(), StoreError> {
        self.txn.open_table(META)?;
        self.txn.open_table(COUNTERS)?;
        self.txn.open_table(DOMAINS)?;
        self.txn.open_table(DOMAINS_BY_REGISTRAR)?;
        self.txn.open_table(DOMAINS_DUE)?;
        self.txn.open_table(DOMAINS_BY_STATUS)?;
        self.txn.open_table(POLL)?;
        self.txn.open_table(IDEMPOTENCY)?;
        self.txn.open_table(IDEMPOTENCY_BY_TIME)?;
        self.txn.open_table(SUSPENSIONS)?;
        self.txn.open_table(SESSIONS)?;
        self.txn.open_table(DISCLOSURES)?;
        self.txn.open_table(DOMAINS_BY_UNICODE)?;
        self.txn.open_table(QUERY_LOG_BLOCKS)?;
        self.txn.open_table(QUERY_LOG_BLOCK_ORIGINS)?;
        self.txn.open_table(CONTACTS)?;
        self.txn.open_table(CONTACTS_BY_REGISTRAR)?;
        self.txn.open_table(CONTACT_USES)?;
        self.txn.open_table(NAMESERVER_USES)?;
        self.txn.open_table(REGISTRARS)?;
        self.txn.open_table(USERS)?;
        self.txn.open_table(HISTORY)?;
        self.txn.open_table(LEDGER)?;
        self.txn.open_table(ZONE_JOURNAL)?;
        self.txn.open_table(ZONE_STATE)?;
        self.txn.open_table(ZONE_RUNS)?;
        self.txn.open_table(NS_CHECKS)?;
        self.txn.open_table(NS_CHECK_DUE)?;
        self.txn.open_table(NS_CHECK_DUE_OF)?;
        Ok(())
    }

    pub fn commit(self) -> Result<(), StoreError> {
        self.txn.commit()?;
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    pub fn abort(self) -> Result<(), StoreError> {
        self.txn.abort()?;
        Ok(())
    }

    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.writes += 1;
        self.txn.open_table(META)?.insert(key, value)?;
        Ok(())
    }

    /// Reserves `n` numbers of a named sequence at once; returns the first.
    pub fn next_seq_by(&mut self, name: &str, n: u64) -> Result<u64, StoreError> {
        self.writes += 1;
        let key = format!("seq:{name}");
        let mut t = self.txn.open_table(COUNTERS)?;
        let first = t.get(key.as_str())?.map(|v| v.value()).unwrap_or(0) + 1;
        let n = i64::try_from(n).map_err(|_| StoreError::Db("sequence step too large".into()))?;
        t.insert(key.as_str(), first + n - 1)?;
        u64::try_from(first).map_err(|_| StoreError::Db(format!("sequence {name} overflowed")))
    }

    /// The next number of a named sequence (history, ROIDs, handles): 1, 2, 3...
    pub fn next_seq(&mut self, name: &str) -> Result<u64, StoreError> {
        self.writes += 1;
        let key = format!("seq:{name}");
        let mut t = self.txn.open_table(COUNTERS)?;
        let next = t.get(key.as_str())?.map(|v| v.value()).unwrap_or(0) + 1;
        t.insert(key.as_str(), next)?;
        u64::try_from(next).map_err(|_| StoreError::Db(format!("sequence {name} overflowed")))
    }

    pub fn counter_add(&mut self, key: &str, delta: i64) -> Result<(), StoreError> {
        if delta == 0 {
            return Ok(());
        }
        self.writes += 1;
        let mut t = self.txn.open_table(COUNTERS)?;
        let v = t.get(key)?.map(|v| v.value()).unwrap_or(0) + delta;
        if v == 0 {
            t.remove(key)?;
        } else {
            t.insert(key, v)?;
        }
        Ok(())
    }

    /// Applies the difference between two sets of counter keys (-1 for each old, +1 for each new).
    pub fn counters_move(&mut self, old: &[String], new: &[String]) -> Result<(), StoreError> {
        let mut delta: std::collections::BTreeMap<&str, i64> = Default::default();
        for k in old {
            *delta.entry(k.as_str()).or_default() -= 1;
        }
        for k in new {
            *delta.entry(k.as_str()).or_default() += 1;
        }
        for (k, d) in delta {
            self.counter_add(k, d)?;
        }
        Ok(())
    }

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
        if old_due != Some(new.due) {
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
        let mut t = self.txn.open_table(NAMESERVER_USES)?;
        for n in &old.nameservers {
            t.remove((n.name.as_str(), old.name.as_str()))?;
        }
        Ok(())
    }

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

    pub fn put_user(&mut self, u: &User) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(u)?;
        self.txn.open_table(USERS)?.insert(u.name.as_str(), bytes.as_slice())?;
        Ok(())
    }

    pub fn append_history(&mut self, object: &str, e: &HistoryEntry) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(e)?;
        self.txn.open_table(HISTORY)?.insert((object, e.seq), bytes.as_slice())?;
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
    fn migrate_query_log_to_blocks(&mut self) -> Result<u64, StoreError> {
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

    pub fn put_idempotency(&mut self, registrar: &str, key: &str, r: &IdempotencyRecord) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(r)?;
        self.txn.open_table(IDEMPOTENCY)?.insert((registrar, key), bytes.as_slice())?;
        self.txn.open_table(IDEMPOTENCY_BY_TIME)?.insert((r.at.0, registrar, key), ())?;
        Ok(())
    }

    /// Forgets idempotency records made before `before`, at most `limit`; returns how many.
    pub fn expire_idempotency(&mut self, before: Timestamp, limit: usize) -> Result<usize, StoreError> {
        let mut old = Vec::new();
        {
            let t = self.txn.open_table(IDEMPOTENCY_BY_TIME)?;
            for item in t.range((i64::MIN, "", "")..)? {
                let (k, _) = item?;
                let (at, reg, key) = k.value();
                if at >= before.0 || old.len() >= limit {
                    break;
                }
                old.push((at, reg.to_string(), key.to_string()));
            }
        }
        if old.is_empty() {
            return Ok(0);
        }
        self.writes += 1;
        let mut by_time = self.txn.open_table(IDEMPOTENCY_BY_TIME)?;
        let mut recs = self.txn.open_table(IDEMPOTENCY)?;
        for (at, reg, key) in &old {
            by_time.remove((*at, reg.as_str(), key.as_str()))?;
            recs.remove((reg.as_str(), key.as_str()))?;
        }
        Ok(old.len())
    }

    /// Appends a journal entry for a delegation change (sequence from `next_seq("zone_journal")`).
    pub fn append_journal(&mut self, tld: &str, name: &str, seq: u64, e: &JournalEntry) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(e)?;
        self.txn.open_table(ZONE_JOURNAL)?.insert((tld, name, seq), bytes.as_slice())?;
        Ok(())
    }

    /// Removes a TLD's journal entries of sequence `upto_seq` and below (retention), at most
    /// `limit`; returns how many went.
    pub fn purge_journal(&mut self, tld: &str, upto_seq: u64, limit: usize) -> Result<usize, StoreError> {
        let mut t = self.txn.open_table(ZONE_JOURNAL)?;
        let mut doomed: Vec<(String, u64)> = Vec::new();
        for item in t.range((tld, "", 0u64)..)? {
            let (k, _) = item?;
            let (t2, name, seq) = k.value();
            if t2 != tld || doomed.len() >= limit {
                break;
            }
            if seq <= upto_seq {
                doomed.push((name.to_string(), seq));
            }
        }
        for (name, seq) in &doomed {
            t.remove((tld, name.as_str(), *seq))?;
        }
        if !doomed.is_empty() {
            self.writes += 1;
        }
        Ok(doomed.len())
    }

    pub fn put_ns_check(&mut self, c: &NsCheck) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(c)?;
        self.txn.open_table(NS_CHECKS)?.insert(c.domain.as_str(), bytes.as_slice())?;
        Ok(())
    }

    pub fn remove_ns_check(&mut self, name: &str) -> Result<(), StoreError> {
        self.writes += 1;
        self.txn.open_table(NS_CHECKS)?.remove(name)?;
        self.set_ns_check_due(name, None)
    }

    /// Queues (or moves, or with None removes) a domain's nameserver check.
    pub fn set_ns_check_due(&mut self, name: &str, due: Option<Timestamp>) -> Result<(), StoreError> {
        let mut of = self.txn.open_table(NS_CHECK_DUE_OF)?;
        let old = of.get(name)?.map(|v| v.value());
        if old == due.map(|d| d.0) {
            return Ok(());
        }
        self.writes += 1;
        let mut q = self.txn.open_table(NS_CHECK_DUE)?;
        if let Some(o) = old {
            q.remove((o, name))?;
        }
        match due {
            Some(d) => {
                q.insert((d.0, name), ())?;
                of.insert(name, d.0)?;
            }
            None => {
                of.remove(name)?;
            }
        }
        Ok(())
    }

    /// Records a publication attempt: as the zone's last attempt, in its run history (the
    /// oldest beyond the bound dropped) and, when it published, as its last publication.
    pub fn put_zone_run(&mut self, run: &ZoneRun, published: bool) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(run)?;
        let mut state = self.txn.open_table(ZONE_STATE)?;
        state.insert(format!("attempt:{}", run.zone).as_str(), bytes.as_slice())?;
        if published {
            state.insert(format!("published:{}", run.zone).as_str(), bytes.as_slice())?;
        }
        drop(state);
        let seq = self.next_seq("zone_runs")?;
        let mut runs = self.txn.open_table(ZONE_RUNS)?;
        runs.insert((run.zone.as_str(), seq), bytes.as_slice())?;
        let count = runs.range((run.zone.as_str(), 0u64)..=(run.zone.as_str(), u64::MAX))?.count() as u64;
        if count > ZONE_RUNS_KEPT {
            let oldest: Vec<u64> = runs
                .range((run.zone.as_str(), 0u64)..=(run.zone.as_str(), u64::MAX))?
                .take((count - ZONE_RUNS_KEPT) as usize)
                .filter_map(|i| i.ok().map(|(k, _)| k.value().1))
                .collect();
            for s in oldest {
                runs.remove((run.zone.as_str(), s))?;
            }
        }
        Ok(())
    }

    pub fn append_ledger(&mut self, e: &LedgerEntry) -> Result<(), StoreError> {
        self.writes += 1;
        let bytes = codec::encode(e)?;
        self.txn.open_table(LEDGER)?.insert((e.registrar.as_str(), e.seq), bytes.as_slice())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
