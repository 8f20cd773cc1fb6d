//! The control socket: how `nicbox backup` and `nicbox check` reach a running server.
//!
//! The server owns the database file exclusively (see `store`), so a command-line tool that
//! finds it busy sends its request over a Unix socket in the data directory instead. The socket
//! is created with mode 0600: only the owner of the data directory, who could read the database
//! file anyway, may use it. One JSON line in, one JSON line out.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::registry::Registry;

pub const SOCKET_FILE: &str = "control.sock";
/// Bytes of one request line.
const REQUEST_BYTES_MAX: usize = 4_096;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Request {
    Backup {
        out: PathBuf,
    },
    Check,
    /// `check --deep` ([`crate::deep`]), run while no publication runs.
    CheckDeep,
    /// Publishes the zones now into `out` (the configured directory when None).
    ZoneExport {
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub lines: Vec<String>,
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_FILE)
}

/// Runs one request on a blocking thread. `rt` is the server's runtime: a publication spawns
/// its NOTIFYs there, so they outlive this request (a runtime made here would drop them).
fn handle(registry: &Registry, rt: &tokio::runtime::Handle, req: Request) -> Response {
    match req {
        Request::ZoneExport { out } => match rt.block_on(crate::zone::publish(registry, out, None)) {
            Ok(runs) => Response {
                ok: !runs.iter().any(|r| r.outcome.is_refusal()),
                lines: runs.iter().map(crate::zone::run_line).collect(),
            },
            Err(e) => Response { ok: false, lines: vec![e.to_string()] },
        },
        Request::Backup { out } => {
            if out.exists() {
                return Response {
                    ok: false,
                    lines: vec![format!("{} exists; backups never overwrite", out.display())],
                };
            }
            match registry.store().backup_to(&out) {
                Ok(r) => Response {
                    ok: true,
                    lines: vec![format!(
                        "backup written to {} ({} domains, {} entries)",
                        out.display(),
                        r.domains,
                        r.entries
                    )],
                },
                Err(e) => Response { ok: false, lines: vec![format!("backup failed: {e}")] },
            }
        }
        Request::CheckDeep => {
            let _one = rt.block_on(crate::zone::export_lock());
            let snaps = registry.store().read().and_then(|a| Ok((a, registry.store().read()?)));
            match snaps.and_then(|(r, z)| crate::deep::run(registry.settings(), &r, z)) {
                Ok(rep) => Response {
                    ok: rep.findings.is_empty(),
                    lines: rep
                        .summary
                        .into_iter()
                        .chain(rep.findings.into_iter().map(|f| format!("finding: {f}")))
                        .collect(),
                },
                Err(e) => Response { ok: false, lines: vec![format!("deep check: {e}")] },
            }
        }
        Request::Check => match registry.audit() {
            Ok(problems) if problems.is_empty() => {
                let n = registry.store().read().and_then(|r| r.count_domains()).unwrap_or(0);
                let mut lines = vec![format!("database: ok ({n} domains, checked by the running server)")];
                match registry.review_records() {
                    Ok(findings) => lines.extend(crate::registry::review_lines(&findings)),
                    Err(e) => lines.push(format!("records: not reviewed: {e}")),
                }
                Response { ok: true, lines }
            }
            Ok(problems) => {
                Response { ok: false, lines: problems.into_iter().map(|p| format!("database: {p}")).collect() }
            }
            Err(e) => Response { ok: false, lines: vec![format!("database: {e}")] },
        },
    }
}

#[cfg(unix)]
pub async fn serve(registry: Registry, data_dir: PathBuf, stop: impl std::future::Future<Output = ()>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let path = socket_path(&data_dir);
    // A socket file left by a server that was killed: nobody answers on it any more.
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "no control socket: backup and check need the server stopped");
            return;
        }
    };
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
    }
    tokio::pin!(stop);
    loop {
        let conn = tokio::select! {
            _ = &mut stop => break,
            c = listener.accept() => c,
        };
        let Ok((stream, _)) = conn else { continue };
        let registry = registry.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = BufReader::new(read.take(REQUEST_BYTES_MAX as u64));
            let resp = match reader.read_line(&mut line).await {
                Ok(_) => match serde_json::from_str::<Request>(&line) {
                    Ok(req) => {
                        let rt = tokio::runtime::Handle::current();
                        tokio::task::spawn_blocking(move || handle(&registry, &rt, req))
                            .await
                            .unwrap_or(Response { ok: false, lines: vec!["internal error".into()] })
                    }
                    Err(e) => Response { ok: false, lines: vec![format!("bad request: {e}")] },
                },
                Err(e) => Response { ok: false, lines: vec![format!("bad request: {e}")] },
            };
            let mut text = serde_json::to_string(&resp).unwrap_or_default();
            text.push('\n');
            let _ = write.write_all(text.as_bytes()).await;
        });
    }
    let _ = std::fs::remove_file(&path);
}

#[cfg(not(unix))]
pub async fn serve(_registry: Registry, _data_dir: PathBuf, stop: impl std::future::Future<Output = ()>) {
    stop.await
}

/// Sends a request to the server running on `data_dir` (blocking).
#[cfg(unix)]
pub fn request(data_dir: &Path, req: &Request) -> std::io::Result<Response> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket_path(data_dir))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(3_600)))?;
    let mut text = serde_json::to_string(req).map_err(std::io::Error::other)?;
    text.push('\n');
    s.write_all(text.as_bytes())?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    serde_json::from_str(&line).map_err(std::io::Error::other)
}

#[cfg(not(unix))]
pub fn request(_data_dir: &Path, _req: &Request) -> std::io::Result<Response> {
    Err(std::io::Error::other("no control socket on this platform"))
}
