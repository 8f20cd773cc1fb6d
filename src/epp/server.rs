//! The EPP listener (RFC 5734): TLS 1.2+ with a required client certificate, frames of a 4-byte
//! big-endian length (header included) and XML, a greeting on connect, then one command at a
//! time. Every bound is here: connections at once, handshake time, frame size, time to log in,
//! idle time, commands per second, sessions per registrar, failed logins per registrar and per
//! address. A slow or hostile client holds only its own task. The TLS configuration is taken
//! per accepted connection from a `crate::tls::Reloadable` (SIGHUP: new certificate, key and
//! client CA for new connections; open sessions keep theirs).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

use super::exec::{self, Answer, Session};
use super::xml::{self, EPP, LOGINSEC, child, children, text_of};
use crate::config::EppSettings;
use crate::model::{Actor, Registrar, Timestamp};
use crate::registry::{LoginRefusal, Registry};

/// Largest frame accepted, header included: an EPP command is a few KiB.
pub const FRAME_MAX: usize = 64 * 1024;
/// Seconds to complete the TLS handshake.
const HANDSHAKE_SECS: u64 = 10;

/// Seconds to take a response: a client that does not read is dropped.
const WRITE_SECS: u64 = 30;

const LOGIN: &str = "login";
const LOGOUT: &str = "logout";
/// The commands the session answers itself (every other one goes to `exec::command`).
pub const SESSION_COMMANDS: &[&str] = &[LOGIN, LOGOUT];

/// One live session, for the admin UI.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub id: u64,
    pub registrar: String,
    pub peer: SocketAddr,
    pub fingerprint: [u8; 32],
    pub since: Timestamp,
    pub commands: u64,
}

/// Live sessions and counters of this process (in memory: they describe connections).
#[derive(Default)]
pub struct Book {
    sessions: Mutex<HashMap<u64, SessionInfo>>,
    next: AtomicU64,
    /// Responses sent, by result code.
    results: Mutex<std::collections::BTreeMap<u16, u64>>,
    /// Failed logins: (registrar id or address) -> (count, window start).
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

static BOOK: std::sync::OnceLock<Book> = std::sync::OnceLock::new();

/// The process's EPP book.
pub fn book() -> &'static Book {
    BOOK.get_or_init(Book::default)
}

impl Book {
    /// Live sessions, oldest first (all registrars, or one).
    pub fn sessions(&self, registrar: Option<&str>) -> Vec<SessionInfo> {
        let mut v: Vec<SessionInfo> = self
            .sessions
            .lock()
            .map(|s| s.values().filter(|i| registrar.is_none_or(|r| i.registrar == r)).cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|i| i.id);
        v
    }

    /// Responses sent so far, by result code (for `/metrics`).
    pub fn results(&self) -> Vec<(u16, u64)> {
        self.results.lock().map(|r| r.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default()
    }

    fn count(&self, code: u16) {
        if let Ok(mut r) = self.results.lock() {
            *r.entry(code).or_default() += 1;
        }
    }

    fn open(&self, registrar: &str, peer: SocketAddr, fingerprint: [u8; 32], max: u32) -> Option<u64> {
        let mut s = self.sessions.lock().ok()?;
        if s.values().filter(|i| i.registrar == registrar).count() >= max as usize {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let since = crate::clock::Clock::wall_now();
        s.insert(id, SessionInfo { id, registrar: registrar.to_string(), peer, fingerprint, since, commands: 0 });
        Some(id)
    }

    fn close(&self, id: u64) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(&id);
        }
    }

    fn command(&self, id: u64) {
        if let Ok(mut s) = self.sessions.lock()
            && let Some(i) = s.get_mut(&id)
        {
            i.commands += 1;
        }
    }

    /// Seconds left (at least 1) of a lock-out for any of `keys`, if one has reached `max`
    /// failures within `window`.
    fn locked(&self, keys: &[String], max: u32, window: Duration) -> Option<u64> {
        let f = self.failures.lock().ok()?;
        keys.iter()
            .filter_map(|k| f.get(k))
            .filter(|(n, _)| *n >= max)
            .filter_map(|(_, start)| window.checked_sub(start.elapsed()))
            .map(|left| left.as_secs_f64().ceil().max(1.0) as u64)
            .max()
    }

    fn fail(&self, keys: &[String], window: Duration) {
        if let Ok(mut f) = self.failures.lock() {
            if f.len() > 100_000 {
                f.retain(|_, (_, start)| start.elapsed() < window);
            }
            for k in keys {
                let e = f.entry(k.clone()).or_insert((0, Instant::now()));
                if e.1.elapsed() >= window {
                    *e = (0, Instant::now());
                }
                e.0 += 1;
            }
        }
    }

    fn succeed(&self, keys: &[String]) {
        if let Ok(mut f) = self.failures.lock() {
            for k in keys {
                f.remove(k);
            }
        }
    }
}

/// Accepts any client certificate at the TLS level (its signature over the handshake is still
/// checked): which certificate may log in as which registrar is decided at login, against the
/// registrar's pinned fingerprints.
#[derive(Debug)]
struct PinnedClients {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for PinnedClients {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls configuration: the server's certificate, TLS 1.2 and 1.3 only, a client
/// certificate required (chaining to `client_ca` when set, else any, to be matched at login).
pub fn tls_config(s: &EppSettings) -> Result<Arc<ServerConfig>, String> {
    use crate::tls::{read_certs, read_key};
    let certs = read_certs(&s.tls_cert)?;
    let key = read_key(&s.tls_key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = match &s.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| format!("epp.client_ca: {e}"))?
        }
        None => Arc::new(PinnedClients { algorithms: provider.signature_verification_algorithms }),
    };
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| crate::tls::pair_error(&e, &s.tls_cert, &s.tls_key))?;
    Ok(Arc::new(config))
}

/// Serves EPP on `listener` until `stop` completes.
pub async fn serve(
    registry: Registry,
    settings: EppSettings,
    config: Arc<crate::tls::Reloadable>,
    listener: TcpListener,
    stop: impl std::future::Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(settings.max_connections as usize));
    let settings = Arc::new(settings);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "EPP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = settings.max_connections, "EPP connection refused: too many connections");
            drop(stream);
            continue;
        };
        // Request and answer go one at a time: without this, Nagle's algorithm holds the last
        // small segment of a greeting or handshake flight until the peer's delayed ACK (~40 ms).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, error = %e, "EPP: cannot set TCP_NODELAY");
        }
        // The configuration of this moment: a reload (SIGHUP) changes later handshakes only.
        let acceptor = TlsAcceptor::from(config.current());
        let (registry, settings) = (registry.clone(), settings.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let hs = tokio::time::timeout(Duration::from_secs(HANDSHAKE_SECS), acceptor.accept(stream)).await;
            match hs {
                Ok(Ok(tls)) => connection(registry, settings, tls, peer).await,
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "EPP TLS handshake failed"),
                Err(_) => tracing::info!(%peer, "EPP TLS handshake timed out"),
            }
        });
    }
}

/// Reads one frame's text; `Err` with a final answer when the session must end.
async fn read_frame(tls: &mut TlsStream<TcpStream>, deadline: tokio::time::Instant) -> Result<Vec<u8>, Option<Answer>> {
    let mut header = [0u8; 4];
    match tokio::time::timeout_at(deadline, tls.read_exact(&mut header)).await {
        Ok(Ok(_)) => {}
        Ok(Err(_)) => return Err(None),
        Err(_) => return Err(Some(Answer::fail(2500, "Timeout", "no command in time: closing"))),
    }
    let len = u32::from_be_bytes(header) as usize;
    if len <= 4 {
        return Err(Some(Answer::fail(2500, "Frame length too small", format!("a frame length of {len}"))));
    }
    if len > FRAME_MAX {
        return Err(Some(Answer::fail(
            2500,
            "Frame too large",
            format!("frame of {len} bytes: at most {FRAME_MAX} bytes, header included"),
        )));
    }
    let mut body = vec![0u8; len - 4];
    match tokio::time::timeout_at(deadline, tls.read_exact(&mut body)).await {
        Ok(Ok(_)) => Ok(body),
        Ok(Err(_)) => Err(None),
        Err(_) => Err(Some(Answer::fail(2500, "Timeout", "the frame did not arrive in time: closing"))),
    }
}

async fn write_frame(tls: &mut TlsStream<TcpStream>, text: &str) -> bool {
    let mut out = Vec::with_capacity(text.len() + 4);
    out.extend_from_slice(&((text.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    let w = async {
        tls.write_all(&out).await?;
        tls.flush().await
    };
    matches!(tokio::time::timeout(Duration::from_secs(WRITE_SECS), w).await, Ok(Ok(())))
}

static SV_TRID: AtomicU64 = AtomicU64::new(0);

fn sv_trid() -> String {
    let n = SV_TRID.fetch_add(1, Ordering::Relaxed) + 1;
    format!("NBX-{}-{n}", crate::clock::Clock::wall_now().0)
}

/// Sends an answer, counting it; false when the client is gone.
async fn send(tls: &mut TlsStream<TcpStream>, a: &Answer, cl_trid: Option<&str>) -> bool {
    if a.raw.is_none() {
        book().count(a.code);
    }
    write_frame(tls, &a.render(cl_trid, &sv_trid())).await
}

struct Live {
    registrar: Registrar,
    book_id: u64,
    limiter: DefaultDirectRateLimiter,
}

async fn connection(registry: Registry, settings: Arc<EppSettings>, mut tls: TlsStream<TcpStream>, peer: SocketAddr) {
    let fingerprint = match tls.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        Some(c) => super::certs::fingerprint_der(c.as_ref()),
        None => return,
    };
    let server_id = registry.settings().registry_name.clone();
    if !write_frame(&mut tls, &exec::greeting(&server_id, crate::clock::Clock::wall_now())).await {
        return;
    }
    let mut session = Session { registrar: None, fingerprint, extensions: Vec::new() };
    let mut live: Option<Live> = None;
    let login_deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(settings.login_timeout_secs));
    loop {
        let deadline = match &live {
            None => login_deadline,
            Some(_) => tokio::time::Instant::now() + Duration::from_secs(u64::from(settings.idle_secs)),
        };
        let body = match read_frame(&mut tls, deadline).await {
            Ok(b) => b,
            Err(last) => {
                if let Some(a) = last {
                    send(&mut tls, &a, None).await;
                }
                break;
            }
        };
        let (answer, cl_trid) = answer_frame(&registry, &settings, &mut session, &mut live, &body, peer).await;
        if let Some(l) = &live {
            book().command(l.book_id);
        }
        if !send(&mut tls, &answer, cl_trid.as_deref()).await || answer.close {
            break;
        }
    }
    if let Some(l) = live {
        book().close(l.book_id);
        tracing::info!(registrar = %l.registrar.id, %peer, "EPP session ended");
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), tls.shutdown()).await;
}

async fn answer_frame(
    registry: &Registry,
    settings: &EppSettings,
    session: &mut Session,
    live: &mut Option<Live>,
    body: &[u8],
    peer: SocketAddr,
) -> (Answer, Option<String>) {
    let Ok(text) = std::str::from_utf8(body) else {
        return (Answer::fail(2001, "Not UTF-8", "the frame is not UTF-8"), None);
    };
    let doc = match xml::parse(text) {
        Ok(d) => d,
        Err(e) => return (Answer::fail(2001, "Unreadable XML", e.0), None),
    };
    let cl_trid = exec::cl_trid(&doc);
    let root = doc.root_element();
    if child(root, EPP, "hello").is_some() {
        return (greeting_answer(registry), None);
    }
    let Some(command) = child(root, EPP, "command") else {
        return (Answer::fail(2001, "No command", "an EPP frame holds <hello> or <command>"), cl_trid);
    };
    if let Some(l) = live.as_ref()
        && l.limiter.check().is_err()
    {
        let per = settings.commands_per_second;
        return (
            Answer::fail(2400, "Command rate limit", format!("at most {per} commands per second per session")),
            cl_trid,
        );
    }
    let verb = xml::first_element(command).map(|v| v.tag_name().name()).unwrap_or("");
    let answer = match verb {
        LOGIN => login(registry, settings, session, live, command, peer).await,
        LOGOUT => match live.take() {
            Some(l) => {
                book().close(l.book_id);
                session.registrar = None;
                tracing::info!(registrar = %l.registrar.id, %peer, "EPP logout");
                Answer::code(1500).closing()
            }
            None => Answer::fail(2002, "Not logged in", "log in first"),
        },
        _ => exec::command(registry, session, command).await,
    };
    (answer, cl_trid)
}

/// A greeting, as the answer to `<hello>`.
fn greeting_answer(registry: &Registry) -> Answer {
    let mut a = Answer::ok();
    a.raw = Some(exec::greeting(&registry.settings().registry_name, crate::clock::Clock::wall_now()));
    a
}

async fn login(
    registry: &Registry,
    settings: &EppSettings,
    session: &mut Session,
    live: &mut Option<Live>,
    command: roxmltree::Node<'_, '_>,
    peer: SocketAddr,
) -> Answer {
    if live.is_some() {
        return Answer::fail(2002, "Already logged in", "this session is logged in already");
    }
    let Some(l) = child(command, EPP, "login") else { return Answer::fail(2001, "No login", "no login element") };
    let Some(id) = text_of(l, EPP, "clID").filter(|s| !s.is_empty()) else {
        return Answer::fail(2003, "Required parameter missing", "clID is required");
    };
    let mut pw = text_of(l, EPP, "pw").unwrap_or("").to_string();
    let mut new_pw = text_of(l, EPP, "newPW").map(str::to_string);
    // loginSec (RFC 8807): passwords longer than 16 characters travel in the extension.
    if let Some(sec) = child(command, EPP, "extension").and_then(|e| child(e, LOGINSEC, "loginSec")) {
        if pw == "[LOGIN-SECURITY]" {
            pw = text_of(sec, LOGINSEC, "pw").unwrap_or("").to_string();
        }
        if new_pw.as_deref() == Some("[LOGIN-SECURITY]") {
            new_pw = text_of(sec, LOGINSEC, "newPW").map(str::to_string);
        }
    }
    if let Some(opts) = child(l, EPP, "options") {
        if text_of(opts, EPP, "version").is_some_and(|v| v != "1.0") {
            return Answer::fail(2100, "Only EPP version 1.0", "this server speaks EPP 1.0");
        }
        if text_of(opts, EPP, "lang").is_some_and(|v| !v.eq_ignore_ascii_case("en")) {
            return Answer::fail(2102, "Only lang en", "responses are in English (lang en)");
        }
    }
    // Object and extension URIs the server does not offer are ignored, not refused
    // (EPP.md: clients announce host-1.0 whatever the server says).
    let svcs = child(l, EPP, "svcs");
    let ext_uris: Vec<String> = svcs
        .and_then(|s| child(s, EPP, "svcExtension"))
        .map(|e| children(e, EPP, "extURI").map(|u| u.text().unwrap_or("").trim().to_string()).collect())
        .unwrap_or_default();
    let window = Duration::from_secs(u64::from(settings.failed_login_minutes) * 60);
    let keys = [format!("registrar:{id}"), format!("address:{}", origin(peer.ip()))];
    // Locked out: 2502 (a limit exceeded, the session closes; EPP.md), saying how long to wait.
    if let Some(secs) = book().locked(&keys, settings.failed_logins, window) {
        tracing::warn!(registrar = %id, %peer, retry_in_secs = secs, "EPP login refused: too many failed logins");
        return Answer::fail(
            2502,
            "Too many failed logins",
            format!(
                "too many failed logins ({} within {} minutes); retry in {secs} s",
                settings.failed_logins, settings.failed_login_minutes
            ),
        )
        .closing();
    }
    let (r, id_owned, fp) = (registry.clone(), id.to_string(), session.fingerprint);
    let pw_owned = pw.clone();
    let checked = tokio::task::spawn_blocking(move || r.epp_login(&id_owned, &pw_owned, &fp)).await;
    let registrar = match checked {
        Ok(Ok(Ok(reg))) => reg,
        Ok(Ok(Err(refusal))) => {
            book().fail(&keys, window);
            tracing::warn!(registrar = %id, %peer, ?refusal, "EPP login refused");
            return match refusal {
                LoginRefusal::BadCredentials => {
                    Answer::fail(2200, "Wrong client id or password", "the client id or password is not right")
                }
                LoginRefusal::CertificateNotPinned => Answer::fail(
                    2501,
                    "Certificate not pinned",
                    "the client certificate of this connection is not pinned for this registrar",
                )
                .closing(),
                LoginRefusal::Disabled => {
                    Answer::fail(2501, "Registrar disabled", "this registrar is disabled").closing()
                }
            };
        }
        Ok(Err(e)) => return Answer::from_error(&e),
        Err(_) => return Answer::fail(2400, "Registry unavailable", "login could not be checked"),
    };
    book().succeed(&keys);
    let Some(book_id) = book().open(&registrar.id, peer, session.fingerprint, settings.sessions_per_registrar) else {
        return Answer::fail(
            2502,
            "Session limit exceeded",
            format!("at most {} sessions per registrar", settings.sessions_per_registrar),
        )
        .closing();
    };
    if let Some(new) = new_pw
        && let Err(e) =
            registry.epp_set_password(&registrar.id, Some(&new), Actor::Registrar(registrar.id.clone())).await
    {
        book().close(book_id);
        return Answer::from_error(&e);
    }
    let per = NonZeroU32::new(settings.commands_per_second).unwrap_or(NonZeroU32::MIN);
    session.extensions = ext_uris;
    session.registrar = Some(registrar.clone());
    tracing::info!(registrar = %registrar.id, %peer, "EPP login");
    *live = Some(Live { registrar, book_id, limiter: RateLimiter::direct(Quota::per_second(per)) });
    Answer::ok()
}

/// The address a failed login counts against: an IPv4 address, or an IPv6 /64.
fn origin(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}
