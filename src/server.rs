//! Serving: bind every listener, log `listening protocol=... addr=...`, run until SIGTERM or
//! SIGINT, then stop accepting, let requests in flight finish, and close the database. SIGHUP
//! reloads the TLS certificates from their files (`crate::tls`) and serves on.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util_shim::CancellationToken;

use crate::config::Settings;
use crate::http::tls::ClientAddr;
use crate::limits::SHUTDOWN_GRACE_SECS;
use crate::registry::Registry;
use crate::tls::Reloadable;

/// A tiny cancellation token: a watch channel that flips once (no extra crate needed).
mod tokio_util_shim {
    use tokio::sync::watch;

    #[derive(Clone)]
    pub struct CancellationToken {
        tx: std::sync::Arc<watch::Sender<bool>>,
        rx: watch::Receiver<bool>,
    }

    impl CancellationToken {
        pub fn new() -> CancellationToken {
            let (tx, rx) = watch::channel(false);
            CancellationToken { tx: std::sync::Arc::new(tx), rx }
        }
        pub fn cancel(&self) {
            let _ = self.tx.send(true);
        }
        pub async fn cancelled(&self) {
            let mut rx = self.rx.clone();
            // An error means the sender is gone, which also means: stop.
            let _ = rx.wait_for(|v| *v).await;
        }
    }
}

/// SIGTERM, SIGINT and SIGHUP handlers, installed before the server says it listens, so that a
/// supervisor may stop it (or ask it to reload) as soon as it has said so.
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for SIGTERM or SIGINT; each SIGHUP meanwhile calls `on_hup` (and does not stop).
    pub async fn wait(mut self, on_hup: impl Fn()) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                _ = self.term.recv() => break,
                _ = self.int.recv() => break,
                _ = self.hup.recv() => on_hup(),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &on_hup;
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: no new connections, finishing requests in flight");
    }
}

pub struct Bound {
    pub http: TcpListener,
    pub http_addr: SocketAddr,
    pub whois: TcpListener,
    pub whois_addr: SocketAddr,
    /// Present when the HTTP listener speaks HTTPS only (reloaded on SIGHUP).
    pub tls: Option<std::sync::Arc<Reloadable>>,
    /// The hidden primary's TCP and UDP sockets, when `[dns]` is configured.
    pub dns: Option<(TcpListener, tokio::net::UdpSocket, SocketAddr)>,
    /// The EPP listener and its TLS configuration, when `[epp]` is configured.
    pub epp: Option<(TcpListener, std::sync::Arc<Reloadable>, SocketAddr)>,
}

/// Binds the listeners named by the settings (port 0 gives a free port, logged) and loads the
/// TLS certificate when one is configured.
pub async fn bind(settings: &Settings) -> Result<Bound, String> {
    let tls = match &settings.http.tls {
        Some((cert, key)) => {
            let (cert, key) = (cert.clone(), key.clone());
            Some(Reloadable::new("https", move || crate::http::tls::server_config(&cert, &key))?)
        }
        None => None,
    };
    let http = TcpListener::bind(settings.http.listen)
        .await
        .map_err(|e| format!("http.listen {}: {e}", settings.http.listen))?;
    let http_addr = http.local_addr().map_err(|e| e.to_string())?;
    let whois = TcpListener::bind(settings.whois.listen)
        .await
        .map_err(|e| format!("whois.listen {}: {e}", settings.whois.listen))?;
    let whois_addr = whois.local_addr().map_err(|e| e.to_string())?;
    let dns = match &settings.dns {
        Some(d) => {
            let (tcp, udp) =
                crate::dns::server::bind(d.listen).await.map_err(|e| format!("dns.listen {}: {e}", d.listen))?;
            let addr = tcp.local_addr().map_err(|e| e.to_string())?;
            Some((tcp, udp, addr))
        }
        None => None,
    };
    let epp = match &settings.epp {
        Some(e) => {
            let files = e.clone();
            let config = Reloadable::new("epp", move || crate::epp::server::tls_config(&files))?;
            let l = TcpListener::bind(e.listen).await.map_err(|err| format!("epp.listen {}: {err}", e.listen))?;
            let addr = l.local_addr().map_err(|e| e.to_string())?;
            Some((l, config, addr))
        }
        None => None,
    };
    Ok(Bound { http, http_addr, whois, whois_addr, tls, dns, epp })
}

/// Serves until a shutdown signal, then closes the registry. Returns once the database is closed.
pub async fn serve(registry: Registry, bound: Bound) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    // What SIGHUP reloads: the certificates (and EPP's client CA) of every TLS listener.
    let reloadable: Vec<std::sync::Arc<Reloadable>> =
        bound.tls.iter().chain(bound.epp.as_ref().map(|(_, c, _)| c)).cloned().collect();
    let token = CancellationToken::new();
    let guard = crate::abuse::Guard::start(registry.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let log_task = guard.take_log_task();
    let app = crate::http::app_with(registry.clone(), guard.clone());
    tracing::info!("listening protocol=whois addr={}", bound.whois_addr);
    let whois_token = token.clone();
    let whois = tokio::spawn(crate::whois::server::serve(bound.whois, registry.clone(), guard.clone(), async move {
        whois_token.cancelled().await
    }));
    let http_token = token.clone();
    let http = match bound.tls {
        None => {
            tracing::info!("listening protocol=http addr={}", bound.http_addr);
            tokio::spawn(async move {
                axum::serve(bound.http, app.into_make_service_with_connect_info::<ClientAddr>())
                    .with_graceful_shutdown(async move { http_token.cancelled().await })
                    .await
            })
        }
        Some(config) => {
            let listener = crate::http::tls::TlsListener::new(bound.http, config)?;
            tracing::info!("listening protocol=https addr={}", bound.http_addr);
            tokio::spawn(async move {
                axum::serve(listener, app.into_make_service_with_connect_info::<ClientAddr>())
                    .with_graceful_shutdown(async move { http_token.cancelled().await })
                    .await
            })
        }
    };
    let dns = match bound.dns {
        Some((tcp, udp, addr)) => {
            let settings = registry.settings();
            let zones: Vec<String> = crate::zone::publish::zones_of(settings).into_iter().map(|(z, _, _)| z).collect();
            let d = settings.dns.clone().ok_or_else(|| anyhow::anyhow!("dns settings"))?;
            let primary = crate::dns::server::Primary::new(d, zones, settings.zone.dir.clone())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            tracing::info!("listening protocol=dns addr={addr}");
            let t = token.clone();
            Some(tokio::spawn(crate::dns::server::serve(std::sync::Arc::new(primary), tcp, udp, async move {
                t.cancelled().await
            })))
        }
        None => None,
    };
    let epp = match bound.epp {
        Some((listener, config, addr)) => {
            let e = registry.settings().epp.clone().ok_or_else(|| anyhow::anyhow!("epp settings"))?;
            tracing::info!("listening protocol=epp addr={addr}");
            let t = token.clone();
            Some(tokio::spawn(crate::epp::server::serve(registry.clone(), e, config, listener, async move {
                t.cancelled().await
            })))
        }
        None => None,
    };
    let control_token = token.clone();
    let control =
        tokio::spawn(crate::control::serve(registry.clone(), registry.settings().data_dir.clone(), async move {
            control_token.cancelled().await
        }));
    let jobs_token = token.clone();
    let jobs_registry = registry.clone();
    let jobs = tokio::spawn(async move {
        let pace = Duration::from_secs(crate::limits::LIFECYCLE_INTERVAL_SECS);
        let mut failures = crate::jobs::Failures::new("lifecycle");
        let mut wait = Duration::ZERO;
        loop {
            tokio::select! {
                _ = jobs_token.cancelled() => break,
                _ = tokio::time::sleep(wait) => {
                    wait = match jobs_registry.run_lifecycle().await {
                        Ok(_) => { failures.succeeded(); pace }
                        Err(e) => failures.failed("lifecycle job failed; it runs again later", &e, pace),
                    };
                }
            }
        }
    });
    let zone_tasks = if registry.settings().zone.enabled {
        let (t1, t2) = (token.clone(), token.clone());
        vec![
            tokio::spawn(crate::zone::run_publisher(registry.clone(), async move { t1.cancelled().await })),
            tokio::spawn(crate::zone::run_checker(registry.clone(), async move { t2.cancelled().await })),
        ]
    } else {
        Vec::new()
    };
    signals
        .wait(|| {
            if reloadable.is_empty() {
                tracing::info!("SIGHUP: no TLS listener, nothing to reload");
                return;
            }
            tracing::info!("SIGHUP: reloading the TLS certificates");
            let list = reloadable.clone();
            // Reading files and parsing keys: off the async threads.
            tokio::task::spawn_blocking(move || {
                for r in &list {
                    r.reload();
                }
            });
        })
        .await;
    token.cancel();
    for t in zone_tasks {
        let _ = tokio::time::timeout(Duration::from_secs(SHUTDOWN_GRACE_SECS), t).await;
    }
    if let Some(d) = dns {
        let _ = tokio::time::timeout(Duration::from_secs(SHUTDOWN_GRACE_SECS), d).await;
    }
    if let Some(e) = epp {
        let _ = tokio::time::timeout(Duration::from_secs(SHUTDOWN_GRACE_SECS), e).await;
    }
    let _ = control.await;
    let _ = jobs.await;
    let _ = whois.await;
    // The guard's query-log writer flushes what it holds once the last guard is gone.
    drop(guard);
    if let Some(t) = log_task {
        let _ = tokio::time::timeout(Duration::from_secs(SHUTDOWN_GRACE_SECS), t).await;
    }
    match tokio::time::timeout(Duration::from_secs(SHUTDOWN_GRACE_SECS), http).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "http server failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "http task failed"),
        Err(_) => {
            tracing::warn!("requests still in flight after {SHUTDOWN_GRACE_SECS}s; closing anyway")
        }
    }
    registry.close();
    tracing::info!("stopped; database closed");
    Ok(())
}
