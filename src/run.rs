//! What the command line (`cli`) and the demo (`demo`) both use: the failure that becomes an
//! exit code, logging, the runtime, opening the registry and serving from settings. It imports
//! neither of them, so `cli` calls `demo` and both call this module, never the other way.

use crate::config::Settings;
use crate::registry::Registry;
use crate::store::StoreError;

/// Exit codes: 0 fine, 1 the command failed, 2 bad input (arguments or configuration).
#[derive(Debug)]
pub enum Failure {
    Usage(String),
    Failed(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Failed(e.to_string())
    }
}

/// Logs to stderr at `level` for nicbox and `warn` for the rest (`NICBOX_LOG` overrides both);
/// `json` drops the colours.
pub fn init_tracing(level: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("NICBOX_LOG").unwrap_or_else(|_| EnvFilter::new(format!("nicbox={level},warn")));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr);
    let _ = if json { builder.with_ansi(false).try_init() } else { builder.try_init() };
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Opens the registry for a command-line action; a running server holds the database.
pub(crate) fn open_registry(settings: Settings) -> Result<Registry, Failure> {
    open_registry_with_cache(settings, crate::store::CACHE_BYTES)
}

/// [`open_registry`] with a page cache of `cache_bytes`.
pub(crate) fn open_registry_with_cache(settings: Settings, cache_bytes: usize) -> Result<Registry, Failure> {
    Registry::open_with_cache(settings, cache_bytes).map_err(|e| match e {
        StoreError::Busy => Failure::Failed(
            "the database is in use by a running server: stop it first (backup and check work while it runs)".into(),
        ),
        other => Failure::Failed(other.to_string()),
    })
}

/// Opens the registry and serves every configured listener until SIGTERM or SIGINT.
pub fn serve(settings: Settings) -> Result<(), Failure> {
    serve_with(settings, |_, _| {}, |_, _| {})
}

/// Serves: binds every listener, lets `adjust` change the settings knowing the bound addresses
/// (the demo's links on port 0), opens the registry, calls `ready` (before the `listening` lines).
pub fn serve_with(
    mut settings: Settings,
    adjust: impl FnOnce(&crate::server::Bound, &mut Settings),
    ready: impl FnOnce(&crate::server::Bound, &Settings),
) -> Result<(), Failure> {
    let rt = runtime()?;
    rt.block_on(async {
        let bound = crate::server::bind(&settings).await.map_err(|e| Failure::Failed(format!("cannot listen: {e}")))?;
        adjust(&bound, &mut settings);
        let reg = open_registry(settings.clone())?;
        ready(&bound, &settings);
        crate::server::serve(reg, bound).await.map_err(|e| Failure::Failed(e.to_string()))
    })
}
