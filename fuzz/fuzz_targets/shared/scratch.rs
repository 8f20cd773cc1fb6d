//! A scratch directory for the life of the fuzzing process, removed when libFuzzer ends it.
//!
//! The targets keep their directory in a static, and statics are never dropped, so a
//! `TempDir` alone would be left behind by every run (and by every step of `cargo fuzz tmin`
//! and `cmin`, which start the target many times). libFuzzer leaves through `exit`, which runs
//! the `atexit` hook below; after a crash the directory stays, with the evidence.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static PATH: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove() {
    if let Some(p) = PATH.get() {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// A new directory under `base` (once per process: later calls return the first one).
pub fn dir(base: &Path) -> &'static Path {
    PATH.get_or_init(|| {
        let path = tempfile::Builder::new().prefix("nicbox-fuzz-").tempdir_in(base).expect("scratch dir").keep();
        // SAFETY: registers a plain function with no captured state.
        unsafe { libc::atexit(remove) };
        path
    })
}

/// tmpfs where there is one (every commit of a target's registry is cheap there), else /tmp.
#[allow(dead_code)] // only the targets with a registry use it
pub fn fast_base() -> &'static Path {
    if Path::new("/dev/shm").is_dir() { Path::new("/dev/shm") } else { Path::new("/tmp") }
}
