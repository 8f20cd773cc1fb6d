//! The WHOIS TCP server: one query per connection, the answer, then close.
//!
//! Bounded everywhere: open connections in all and per origin, query bytes, the time a client
//! has to send its query and to take the answer. Binary garbage, an endless line, a slow client
//! or one that never reads each end with an error line or a closed socket, never a stuck task.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::query::{self, QUERY_BYTES_MAX, Query};
use super::render;
use crate::abuse::{Guard, Verdict};
use crate::directory::{self, Lookup};
use crate::model::QueryOutcome;
use crate::registry::Registry;

struct Shared {
    registry: Registry,
    guard: Arc<Guard>,
    per_origin: Mutex<HashMap<IpAddr, u32>>,
    timeout: Duration,
}

/// Releases an origin's connection slot when the connection ends.
struct OriginSlot<'a> {
    shared: &'a Shared,
    ip: IpAddr,
}

impl Drop for OriginSlot<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.shared.per_origin.lock()
            && let Some(n) = m.get_mut(&self.ip)
        {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// Serves until `stop` resolves, then waits (at most the timeout) for connections in flight.
pub async fn serve(
    listener: TcpListener,
    registry: Registry,
    guard: Arc<Guard>,
    stop: impl std::future::Future<Output = ()>,
) {
    let w = registry.settings().whois.clone();
    let max = w.max_connections as usize;
    let permits = Arc::new(Semaphore::new(max));
    let shared = Arc::new(Shared {
        registry,
        guard,
        per_origin: Mutex::new(HashMap::new()),
        timeout: Duration::from_secs(u64::from(w.timeout_secs)),
    });
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            c = listener.accept() => match c {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "whois accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            // Full: close at once; the client may retry.
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let deadline = shared.timeout * 3;
            let _ = tokio::time::timeout(deadline, handle(&shared, stream, peer)).await;
        });
    }
    // Connections in flight finish within their timeouts.
    let _ = tokio::time::timeout(shared.timeout * 3, permits.acquire_many(max as u32)).await;
}

async fn handle(shared: &Shared, mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let ip = peer.ip();
    let max_per_origin = shared.registry.settings().whois.max_connections_per_origin;
    // Allow-listed networks are exempt from every limit, the connection cap included.
    let exempt = shared.guard.allowed(ip);
    let admitted = exempt
        || match shared.per_origin.lock() {
            Ok(mut m) => {
                let n = m.entry(ip).or_insert(0);
                let ok = *n < max_per_origin;
                if ok {
                    *n += 1;
                }
                ok
            }
            Err(_) => false,
        };
    if !admitted {
        let _ = tokio::time::timeout(shared.timeout, stream.write_all(b"% Too many connections from your address\r\n"))
            .await;
        return;
    }
    let _slot = (!exempt).then_some(OriginSlot { shared, ip });
    let reply = match read_query(&mut stream, shared.timeout).await {
        None => return, // silent or gone: nothing to answer
        Some(line) => respond(shared, ip, &line),
    };
    if let Ok(Ok(())) = tokio::time::timeout(shared.timeout, stream.write_all(reply.as_bytes())).await {
        let _ = tokio::time::timeout(shared.timeout, stream.shutdown()).await;
    }
}

/// Reads up to the first LF, or `QUERY_BYTES_MAX + 2` bytes, within the timeout.
async fn read_query(stream: &mut TcpStream, timeout: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; QUERY_BYTES_MAX + 2];
    let mut len = 0;
    let read = async {
        while len < buf.len() {
            match stream.read(&mut buf[len..]).await {
                Ok(0) => break,
                Ok(n) => {
                    len += n;
                    if buf[..len].contains(&b'\n') {
                        break;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(true) if len > 0 => {
            buf.truncate(len);
            Some(buf)
        }
        _ => None,
    }
}

/// The answer to one query line from `ip` (the abuse guard, the directory, the log).
fn respond(shared_registry: &Shared, ip: IpAddr, line: &[u8]) -> String {
    let registry = &shared_registry.registry;
    let guard = &shared_registry.guard;
    let text = match query::parse(line) {
        Query::Text(t) => t,
        Query::Empty => return "% Empty query: send a domain name\r\n".into(),
        Query::TooLong => String::from_utf8_lossy(&line[..line.len().min(64)]).into_owned(),
    };
    // Every query counts against the origin's budget, a malformed one too.
    match guard.check(ip) {
        Verdict::Allow => {}
        Verdict::Limited { retry_after_secs } => {
            guard.log(ip, "whois", &text, QueryOutcome::Limited);
            return render::rate_limited(registry.now().add_secs(retry_after_secs as i64), false);
        }
        Verdict::Suspended { until } => {
            guard.log(ip, "whois", &text, QueryOutcome::Limited);
            return render::rate_limited(until, true);
        }
    }
    if text.len() > QUERY_BYTES_MAX || matches!(query::parse(line), Query::TooLong) {
        guard.log(ip, "whois", &text, QueryOutcome::Invalid);
        return format!("% Query too long: at most {QUERY_BYTES_MAX} bytes\r\n");
    }
    // The answer is written while the record is borrowed from the stored bytes.
    let answer = directory::lookup_with(registry, &text, |lookup| {
        let outcome = match &lookup {
            Lookup::Found(_) => QueryOutcome::Found,
            Lookup::NoMatch(_) => QueryOutcome::NoMatch,
            Lookup::Invalid => QueryOutcome::Invalid,
        };
        (outcome, render::answer(&lookup, &text, &registry.settings().registry_name))
    });
    match answer {
        Ok((outcome, text_out)) => {
            guard.log(ip, "whois", &text, outcome);
            text_out
        }
        Err(e) => {
            tracing::error!(error = %e, "whois lookup failed");
            "% Internal error: please try again later\r\n".into()
        }
    }
}
