//! A full disk must not damage the database or stop the reads.
//!
//! redb treats an I/O error in a commit as fatal for the open database: every later write
//! transaction fails with "previous I/O error" until the file is opened again. So a write
//! transaction is not begun while the file system holding the database has less than
//! [`DISK_RESERVE_BYTES`] free: writes are refused with [`StoreError::Full`] (the API's 503
//! `unavailable`, EPP 2400), nothing is written, reads go on from the last commit, and writing
//! resumes by itself with the first write after space returns. An I/O error that still reaches
//! a commit (a disk that fails, or fills faster than the reserve) is [`StoreError::Io`], also
//! `unavailable`: the server logs that it needs a restart to write again.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use super::StoreError;
use crate::limits::DISK_RESERVE_BYTES;

/// Bytes free for unprivileged writers on the file system of `path` (None: cannot tell).
fn available(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `s` a statvfs the call fills in.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}

impl super::Store {
    /// Whether writes are refused now because the disk is below the reserve (the admin UI says
    /// so on every page; looked up afresh, so it clears as soon as space returns).
    pub fn writes_paused(&self) -> bool {
        available(&self.path).is_some_and(|free| free < DISK_RESERVE_BYTES)
    }
}

/// Whether writes are paused now (for the log: one line when they pause, one when they resume).
static PAUSED: AtomicBool = AtomicBool::new(false);

/// Refuses a write when the database's file system is below the reserve.
pub(super) fn check(path: &Path) -> Result<(), StoreError> {
    match available(path) {
        Some(free) if free < DISK_RESERVE_BYTES => {
            if !PAUSED.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    free, reserve = DISK_RESERVE_BYTES, path = %path.display(),
                    "the disk holding the database is full: writes are paused until space is freed (reads go on)"
                );
            }
            Err(StoreError::Full { free })
        }
        _ => {
            if PAUSED.swap(false, Ordering::Relaxed) {
                tracing::warn!(path = %path.display(), "the disk has room again: writes resume");
            }
            Ok(())
        }
    }
}

/// redb's storage errors: I/O (and the "previous I/O error" that follows one) apart.
fn storage(e: redb::StorageError) -> StoreError {
    match e {
        redb::StorageError::Io(io) => StoreError::Io(io.to_string()),
        redb::StorageError::PreviousIo => {
            StoreError::Io("an earlier write failed (disk full or failing): writes need the server restarted".into())
        }
        other => StoreError::Db(other.to_string()),
    }
}

impl From<redb::StorageError> for StoreError {
    fn from(e: redb::StorageError) -> Self {
        storage(e)
    }
}

impl From<redb::CommitError> for StoreError {
    fn from(e: redb::CommitError) -> Self {
        match e {
            redb::CommitError::Storage(s) => storage(s),
            other => StoreError::Db(other.to_string()),
        }
    }
}

impl From<redb::TransactionError> for StoreError {
    fn from(e: redb::TransactionError) -> Self {
        match e {
            redb::TransactionError::Storage(s) => storage(s),
            other => StoreError::Db(other.to_string()),
        }
    }
}
