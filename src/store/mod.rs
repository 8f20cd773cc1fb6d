//! The only code that knows redb: table definitions, encoding, schema version, backup.
//!
//! Every table is declared once, in `tables`. Keys are A-label names, handles and ids; values are
//! `codec`-encoded model types. Secondary indexes are tables of their own and are written in the
//! same transaction as the record they index; so are the counters, so that dashboards read a
//! number instead of scanning. The registry gets typed read and write transactions (`ReadTx`,
//! `WriteTx`) and never sees a redb type.
//!
//! This file holds opening (with the schema check and the migrations), the two transaction types
//! and the meta table. Each family of tables has its accessors in a module of its own
//! (`domains`, `contacts`, `registrars`, `admin`, `counters`, `history`, `poll`, `idempotency`,
//! `abuse`, `zone`), beside the directory's snapshot (`directory`), `backup`, `audit` and
//! `deep` (`check`'s walks). A read accessor is written once inside `reads!` and exists on both
//! `ReadTx` and `WriteTx`.

/// Defines read accessors on both transactions: a command in the writer reads through its
/// `WriteTx` exactly as a query reads through a `ReadTx`.
macro_rules! reads {
    ($($body:tt)*) => {
        impl $crate::store::ReadTx {
            $($body)*
        }
        impl $crate::store::WriteTx {
            $($body)*
        }
    };
}

mod abuse;
mod admin;
mod audit;
mod backup;
mod bulk;
pub mod codec;
mod contacts;
mod counters;
mod deep;
mod directory;
mod domains;
mod history;
mod idempotency;
mod migrate;
mod poll;
mod registrars;
mod space;
mod tables;
mod zone;

pub use backup::{BackupReport, verify_file};
pub use directory::{DirectorySnapshot, DomainParties};
pub use zone::JournalCursor;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use redb::{ConcurrencyMode, Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};

use tables::*;

/// Schema version of the database layout this binary writes. A file with a newer version is
/// refused; an older one is migrated at open, before any listener starts.
pub const SCHEMA_VERSION: u32 = 3;

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
    /// A bulk load is under way: writes leave the indexes of `bulk` to its end.
    bulk: Arc<std::sync::atomic::AtomicBool>,
}

/// The page cache of a database opened to serve: the hot inner pages of the B-trees. The kernel's
/// page cache holds the file as well, so a larger cache mostly keeps a second copy: at 2,000,000
/// domains, 64 and 128 MiB served WHOIS and durable creates as fast as 256 MiB did, with a third
/// to a half of the resident memory (135 / 225 against 400 MiB after the read loads; the budget
/// is 512 MiB); RDAP, which reads a domain and its contacts, lost ground at 64 MiB in a full run
/// (the branch pages of a 5 GiB file no longer all fit), hence 128 (benches/RESULTS.md, Memory).
pub const CACHE_BYTES: usize = 128 * 1024 * 1024;

fn builder(cache_bytes: usize) -> redb::Builder {
    let mut b = Database::builder();
    // One process owns the file. The shared modes would let `nicbox backup` open it beside a
    // running server, but they take a byte-range file lock on every read transaction, which
    // halves read throughput (measured: 92k against 174k reads/s on one thread); a running
    // server is asked for backups and checks over its control socket instead (`control`).
    b.set_concurrency_mode(ConcurrencyMode::ExclusiveWriter);
    b.set_cache_size(cache_bytes);
    b
}

impl Store {
    /// Creates a new, empty database; refuses to touch an existing file.
    pub fn create(path: &Path) -> Result<Store, StoreError> {
        if path.exists() {
            return Err(StoreError::Exists(path.to_path_buf()));
        }
        let db = builder(CACHE_BYTES).create(path)?;
        let store = Store::from_db(db, path);
        let mut tx = store.write()?;
        tx.init_tables()?;
        tx.put_meta("schema_version", &SCHEMA_VERSION.to_le_bytes())?;
        tx.commit()?;
        Ok(store)
    }

    /// Opens an existing database, checks its schema version and migrates an older one.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, CACHE_BYTES)
    }

    /// [`Store::open`] with a page cache of `cache_bytes` (a bulk import touches far more of the
    /// trees than serving does).
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let mut store = Store::from_db(builder(cache_bytes).open(path)?, path);
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
            store = Store::from_db(builder(cache_bytes).open(path)?, path);
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
        if matches!(version, Some(1 | 2)) {
            let started = std::time::Instant::now();
            let mut tx = store.write()?;
            let rows = tx.fill_ns_count_index()?;
            tx.put_meta("schema_version", &3u32.to_le_bytes())?;
            tx.commit()?;
            let secs = started.elapsed().as_secs_f64();
            tracing::info!(rows, secs, "database migrated to schema version 3 (domains by nameserver count)");
        }
        store.finish_interrupted_bulk()?;
        Ok(store)
    }

    fn from_db(db: Database, path: &Path) -> Store {
        Store {
            db: Arc::new(db),
            path: path.to_path_buf(),
            generation: Arc::new(AtomicU64::new(0)),
            directory: Arc::new(Mutex::new(None)),
            bulk: Default::default(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn read(&self) -> Result<ReadTx, StoreError> {
        Ok(ReadTx { txn: self.db.begin_read()? })
    }

    /// A durable write transaction. Only the registry's writer thread calls this while serving.
    pub fn write(&self) -> Result<WriteTx, StoreError> {
        space::check(&self.path)?;
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate).map_err(|e| StoreError::Db(e.to_string()))?;
        Ok(WriteTx {
            txn,
            writes: 0,
            generation: self.generation.clone(),
            directory: self.directory.clone(),
            counters: Default::default(),
            bulk: self.bulk.load(Ordering::SeqCst),
        })
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
        let db = builder(CACHE_BYTES).open_read_only(path)?;
        let s = ReadOnlyStore { db };
        check_version(s.read()?.schema_version()?)?;
        Ok(s)
    }

    pub fn read(&self) -> Result<ReadTx, StoreError> {
        Ok(ReadTx { txn: self.db.begin_read()? })
    }
}

/// A consistent snapshot for reading. Cheap to open; never hold one across an `.await`.
pub struct ReadTx {
    txn: ReadTransaction,
}

/// A write transaction, owned by the registry's writer. It counts its mutations, so the writer
/// knows whether a command that failed left something behind.
pub struct WriteTx {
    txn: WriteTransaction,
    /// Mutations so far: the writer compares it before and after a command.
    writes: u64,
    /// The store's commit counter, raised once this transaction is durable.
    generation: Arc<AtomicU64>,
    /// The store's cached directory snapshot, dropped at commit: a read transaction kept open
    /// keeps every page freed after it, and a run of creates with no lookup between them grew
    /// the file by ~35 KB per create (issue 15).
    directory: Arc<Mutex<Option<Arc<DirectorySnapshot>>>>,
    /// Counters and sequences this transaction moved, as they stand: written once at commit (a
    /// group of commands, an import above all, moves the same few counters thousands of times).
    counters: std::collections::HashMap<String, i64>,
    /// Leaves the deferred indexes out (`bulk`).
    bulk: bool,
}

reads! {
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
}

impl WriteTx {
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
        self.txn.open_table(DOMAINS_BY_NS_COUNT)?;
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

    pub fn commit(mut self) -> Result<(), StoreError> {
        self.flush_counters()?;
        self.txn.commit()?;
        self.generation.fetch_add(1, Ordering::Release);
        if let Ok(mut cached) = self.directory.lock() {
            cached.take();
        }
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
}

#[cfg(test)]
mod tests;
