//! What happens around a schema migration: before `Store::open` migrates a file written by an
//! older schema, it keeps the file as it was beside it (`nicbox.redb.v1-backup-<time>`), so that
//! an upgrade that goes wrong can be undone by putting the copy back and the older binary with it.

use std::path::{Path, PathBuf};

use super::StoreError;

/// The name of the copy kept before migrating `path` from schema `version` at `at` (unix
/// seconds): `<file>.v<version>-backup-<YYYYMMDDTHHMMSSZ>`.
pub(super) fn copy_name(path: &Path, version: u32, at: crate::model::Timestamp) -> PathBuf {
    let stamp: String = at.to_rfc3339().chars().filter(|c| !matches!(c, '-' | ':')).collect();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".v{version}-backup-{stamp}"));
    path.with_file_name(name)
}

/// Copies the database file at `path` (closed: nothing may have it open) beside itself before a
/// migration from `version`. The copy is written under a temporary name, fsynced and renamed,
/// so a copy with the final name is always whole; an existing file is never overwritten. A copy
/// that cannot be made (a full disk) refuses the migration: the error says why.
pub(super) fn keep_copy(path: &Path, version: u32) -> Result<PathBuf, StoreError> {
    let failed = |e: std::io::Error| {
        StoreError::Io(format!("cannot keep a copy of {} before migrating it: {e}", path.display()))
    };
    let base = copy_name(path, version, crate::clock::Clock::wall_now());
    let mut out = base.clone();
    let mut n = 1;
    while out.exists() {
        n += 1;
        let mut name = base.file_name().unwrap_or_default().to_os_string();
        name.push(format!("-{n}"));
        out = base.with_file_name(name);
    }
    let mut tmp_name = out.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".partial");
    let tmp = out.with_file_name(tmp_name);
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        std::fs::copy(path, &tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &out)?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_named_after_the_file_the_version_and_the_time() {
        let at = crate::model::Timestamp(1_795_341_600); // 2026-11-22T10:00:00Z
        assert_eq!(
            copy_name(Path::new("/var/lib/nicbox/nicbox.redb"), 1, at),
            PathBuf::from("/var/lib/nicbox/nicbox.redb.v1-backup-20261122T100000Z")
        );
    }
}
