//! EPP load benchmark (`cargo bench --bench epp`): the release binary's demo registry (`nicbox
//! demo`, EPP over TLS with the demo's client certificates) driven by 16 concurrent TLS sessions,
//! each its own connection with its registrar's client certificate and one command in flight (as
//! EPP clients do), spread evenly over the demo's registrars:
//!
//! 1. **creates**: `<domain:create>` of new names (`bench-<run>-<session>-<n>.pt`, two host
//!    attributes, the registrar's demo contact as registrant, admin and tech) for a fixed time;
//!    each 1000 comes only after the change is durably committed (the writer's group commit).
//!    Target: at least 2,000/s;
//! 2. **infos**: `<domain:info>` of the names each session created, picked at random. Target: at
//!    least 10,000/s. Measured in rounds alternating with
//! 3. **the reference**: a trivial EPP-like TLS server of this file (a separate process: tokio
//!    and tokio-rustls, the demo's server certificate, a client certificate required and checked
//!    against the demo CA, the same 4-byte framing, `TCP_NODELAY` on) that sends nicbox's
//!    greeting and answers every frame with one canned 1000 (a copy of a real nicbox info answer,
//!    so the same bytes travel), driven by the same 16-session client. nicbox's info throughput is
//!    given as a ratio of it;
//! 4. **logins**: sequential connections, each timed from TCP connect to the login's 1000 (full
//!    TLS handshake with a client certificate, no resumption, the greeting, the login with its
//!    argon2 check), then logged out; the same against the trivial server, to see what is TLS and
//!    what is the login.
//!
//! Before the measured start the demo is created once and stopped, its `[epp]` table gets
//! `commands_per_second = 100000` (the demo's 200 per session would be the bottleneck), and its
//! registrars are credited with `nicbox registrar credit` (the demo's balance pays for ~6,600
//! creates each, fewer than a 10 s run at the target makes). Reported: per phase the sessions,
//! commands, throughput, p50/p99/p999 latency (per command, from the client's first byte out to
//! the last byte in) and the CPU (cores) the server, the client and everything else on the
//! machine used (`/proc`: others may be building here); the ratio; the login times; the disk's
//! floor for a durable commit (4 KiB appended and `fdatasync`ed in the data directory, one after
//! the other: with one create in flight per session, creates/s cannot pass 16 per commit time);
//! nicbox's resident memory (`VmRSS`, and `VmHWM` at the end). The report is printed and written
//! to `target/epp-bench.json`. Any command that does not answer 1000 (1500 for logout) is
//! counted, and the bench fails after the report if there was one. Nothing is asserted on
//! timings: a shared machine is not a test.
//!
//! `NICBOX_BENCH_QUICK=1`: short phases and 10 logins (a smoke run).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

/// Concurrent EPP sessions, one command in flight each.
const SESSIONS: usize = 16;
const CREATE_TARGET: f64 = 2_000.0;
const INFO_TARGET: f64 = 10_000.0;
/// Credited to each demo registrar before the run (the most one credit may move).
const CREDIT_CENTS: i64 = 1_000_000_000;
const E: &str = r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0">"#;
const DOMAIN_NS: &str = "urn:ietf:params:xml:ns:domain-1.0";
const CONTACT_NS: &str = "urn:ietf:params:xml:ns:contact-1.0";
const MIB: f64 = 1024.0;

fn quick() -> bool {
    std::env::var("NICBOX_BENCH_QUICK").is_ok()
}

fn nicbox() -> &'static str {
    env!("CARGO_BIN_EXE_nicbox")
}

// --- processes -------------------------------------------------------------------------------

/// A started server, stopped on drop: SIGTERM, then SIGKILL after 10 s.
struct Proc {
    child: Child,
    name: &'static str,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        // SAFETY: signals our own child, not yet reaped (try_wait just said it runs).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `nicbox demo --data DIR` with every listener on a free port; waits for its EPP listener
/// (the first start creates the demo first). Its stderr is drained, the last lines kept.
/// The writer's (commits, commands) from nicbox's `/metrics`.
fn writer_metrics(http: SocketAddr) -> (u64, u64) {
    let body = ureq::get(&format!("http://{http}/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    let get = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<u64>().ok()))
            .unwrap_or_else(|| panic!("/metrics has no {name}"))
    };
    (get("nicbox_writer_commits_total "), get("nicbox_writer_commands_total "))
}

fn start_demo(data: &Path) -> (Proc, SocketAddr, SocketAddr) {
    let mut child = Command::new(nicbox())
        .args(["demo", "--data", data.to_str().unwrap()])
        .args(["--http", "127.0.0.1:0", "--whois", "127.0.0.1:0", "--dns", "127.0.0.1:0", "--epp", "127.0.0.1:0"])
        .env("NICBOX_LOG", "nicbox=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nicbox demo");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(VecDeque::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let plain = strip_ansi(&line);
            for (proto, marker) in [("epp", "listening protocol=epp addr="), ("http", "listening protocol=http addr=")]
            {
                if let Some(i) = plain.find(marker) {
                    let a: String = plain[i + marker.len()..].chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = tx.send((proto, a));
                }
            }
            let mut l = log2.lock().unwrap();
            if l.len() >= 200 {
                l.pop_front();
            }
            l.push_back(plain);
        }
    });
    let mut proc = Proc { child, name: "nicbox demo", log };
    let (mut epp, mut http) = (None, None);
    while epp.is_none() || http.is_none() {
        match rx.recv_timeout(Duration::from_secs(600)) {
            Ok((proto, a)) => {
                let addr: SocketAddr = a.parse().unwrap_or_else(|e| panic!("{proto} address {a:?}: {e}"));
                if proto == "epp" { epp = Some(addr) } else { http = Some(addr) }
            }
            Err(_) => {
                let status = proc.child.try_wait().ok().flatten();
                panic!("nicbox demo gave no EPP and HTTP addresses (exit {status:?}):\n{}", proc.log());
            }
        }
    }
    (proc, epp.unwrap(), http.unwrap())
}

fn run_nicbox(args: &[&str]) {
    let out = Command::new(nicbox()).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "nicbox {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// (VmRSS, VmHWM) of a process, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU seconds (user + system, all threads) a process has used; `None`: this process.
fn cpu_secs(pid: Option<u32>) -> f64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3: utime is 14, stime 15.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) as f64 / hz
}

/// CPU seconds the whole machine has spent busy (every CPU, anything but idle and iowait).
fn machine_busy_secs() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map(|l| l.split_whitespace().filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    let busy: u64 = f.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy as f64 / hz
}

/// The disk's floor for a durable commit: 4 KiB written at the end of a file in `dir` and
/// `sync_data`, one after the other, for `secs`. Sorted µs.
fn fsync_probe(dir: &Path, secs: f64) -> Vec<u32> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = [0x5au8; 4096];
    let mut lat = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        let t = Instant::now();
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    lat.sort_unstable();
    lat
}

// --- the trivial reference server ------------------------------------------------------------

/// Reference mode: the bench binary re-executed with `--trivial-epp CERT KEY CA GREETING ANSWER`.
/// Prints its address, then serves until killed.
fn trivial_server(args: &[String]) {
    let [cert, key, ca, greeting, answer] = args else { panic!("--trivial-epp CERT KEY CA GREETING ANSWER") };
    let frame = |path: &str| -> &'static [u8] {
        let text = std::fs::read(path).unwrap();
        let mut f = ((text.len() + 4) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&text);
        Box::leak(f.into_boxed_slice())
    };
    let (greeting, answer) = (frame(greeting), frame(answer));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).unwrap().map(|c| c.unwrap()).collect();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", l.local_addr().unwrap());
        loop {
            let Ok((s, _)) = l.accept().await else { continue };
            let _ = s.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(s).await else { return };
                if tls.write_all(greeting).await.is_err() || tls.flush().await.is_err() {
                    return;
                }
                let mut body = Vec::with_capacity(4096);
                loop {
                    let mut h = [0u8; 4];
                    if tls.read_exact(&mut h).await.is_err() {
                        break;
                    }
                    let n = u32::from_be_bytes(h) as usize;
                    if !(5..=65536).contains(&n) {
                        break;
                    }
                    body.resize(n - 4, 0);
                    if tls.read_exact(&mut body).await.is_err() {
                        break;
                    }
                    if tls.write_all(answer).await.is_err() || tls.flush().await.is_err() {
                        break;
                    }
                }
                let _ = tls.shutdown().await;
            });
        }
    });
}

fn start_trivial(args: &[&str]) -> (Proc, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--trivial-epp")
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().parse().unwrap_or_else(|e| panic!("trivial server address {line:?}: {e}"));
    (Proc { child, name: "trivial EPP server", log: Arc::default() }, addr)
}

// --- the client ------------------------------------------------------------------------------

struct Registrar {
    id: String,
    password: String,
    contact: String,
    tls: Arc<rustls::ClientConfig>,
}

/// A client configuration: the demo CA as the only root, the registrar's client certificate, no
/// session resumption (every connection makes a full handshake, as a first login does).
fn client_config(ca: &Path, cert: &Path, key: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert).unwrap().map(|c| c.unwrap()).collect();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
        .unwrap();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

/// One logged-in EPP session.
struct Session {
    tls: Tls,
    index: usize,
    registrar: usize,
    /// Names this session created, for its infos.
    names: Vec<String>,
    n: u64,
    rng: u64,
    out: Vec<u8>,
    buf: Vec<u8>,
}

async fn send_frame<S: AsyncWrite + Unpin>(s: &mut S, body: &str, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.clear();
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body.as_bytes());
    s.write_all(out).await?;
    s.flush().await
}

async fn recv_frame<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).await?;
    let n = u32::from_be_bytes(h) as usize;
    if !(5..=(1 << 20)).contains(&n) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("frame length {n}")));
    }
    buf.resize(n - 4, 0);
    s.read_exact(buf).await.map(|_| ())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn result_code(resp: &[u8]) -> Option<u16> {
    let pat = b"<result code=\"";
    let i = find(resp, pat)? + pat.len();
    std::str::from_utf8(resp.get(i..i + 4)?).ok()?.parse().ok()
}

/// A failed command, for the report: its result code and message (or the I/O error).
fn describe(what: &str, resp: &[u8]) -> String {
    let text = String::from_utf8_lossy(resp);
    let msg = text.find("<msg").and_then(|i| {
        let from = i + text[i..].find('>')? + 1;
        Some(text[from..from + text[from..].find('<')?].to_string())
    });
    let reason = text.find("<reason").and_then(|i| {
        let from = i + text[i..].find('>')? + 1;
        Some(text[from..from + text[from..].find('<')?].to_string())
    });
    format!(
        "{what}: code {} {} {}",
        result_code(resp).map_or("?".to_string(), |c| c.to_string()),
        msg.unwrap_or_default(),
        reason.unwrap_or_default()
    )
}

fn login_frame(r: &Registrar, trid: &str) -> String {
    format!(
        "{E}<command><login><clID>{}</clID><pw>{}</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>{DOMAIN_NS}</objURI><objURI>{CONTACT_NS}</objURI></svcs></login><clTRID>{trid}</clTRID></command></epp>",
        r.id, r.password
    )
}

/// Connects, reads the greeting and logs in: the session, the time from connect to the login's
/// answer, and the greeting.
async fn connect_login(
    addr: SocketAddr,
    regs: &[Registrar],
    registrar: usize,
    index: usize,
) -> Result<(Session, Duration, String), String> {
    let r = &regs[registrar];
    let t = Instant::now();
    let tcp = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(r.tls.clone())
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let mut s = Session {
        tls,
        index,
        registrar,
        names: Vec::new(),
        n: 0,
        rng: 0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1),
        out: Vec::with_capacity(2048),
        buf: Vec::with_capacity(4096),
    };
    recv_frame(&mut s.tls, &mut s.buf).await.map_err(|e| format!("greeting: {e}"))?;
    let greeting = String::from_utf8_lossy(&s.buf).into_owned();
    if find(&s.buf, b"<greeting>").is_none() {
        return Err(format!("not a greeting: {greeting}"));
    }
    send_frame(&mut s.tls, &login_frame(r, &format!("login-{index}")), &mut s.out)
        .await
        .map_err(|e| format!("login: {e}"))?;
    recv_frame(&mut s.tls, &mut s.buf).await.map_err(|e| format!("login: {e}"))?;
    let took = t.elapsed();
    if result_code(&s.buf) != Some(1000) {
        return Err(describe(&format!("login {}", r.id), &s.buf));
    }
    Ok((s, took, greeting))
}

/// Logs out (1500 expected) and closes.
async fn logout(mut s: Session) -> Result<(), String> {
    let body = format!("{E}<command><logout/><clTRID>logout-{}</clTRID></command></epp>", s.index);
    send_frame(&mut s.tls, &body, &mut s.out).await.map_err(|e| format!("logout: {e}"))?;
    recv_frame(&mut s.tls, &mut s.buf).await.map_err(|e| format!("logout: {e}"))?;
    let code = result_code(&s.buf);
    let _ = s.tls.shutdown().await;
    // The trivial server answers everything with its canned 1000.
    if code == Some(1500) || code == Some(1000) { Ok(()) } else { Err(describe("logout", &s.buf)) }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Create,
    Info,
}

#[derive(Default)]
struct Outcome {
    sessions: usize,
    commands: usize,
    secs: f64,
    /// Sorted latencies, µs.
    lat: Vec<u32>,
    errors: usize,
    samples: Vec<String>,
    server_cpu: f64,
    client_cpu: f64,
    /// The whole machine's busy CPU seconds (server, client and anything else running).
    machine_cpu: f64,
}

impl Outcome {
    /// CPU seconds neither the server nor the client used (other processes, the kernel's own).
    fn other_cpu(&self) -> f64 {
        (self.machine_cpu - self.server_cpu - self.client_cpu).max(0.0)
    }

    fn rate(&self) -> f64 {
        self.commands as f64 / self.secs.max(1e-9)
    }

    fn add(&mut self, o: Outcome) {
        self.sessions = self.sessions.max(o.sessions);
        self.commands += o.commands;
        self.secs += o.secs;
        self.lat.extend(o.lat);
        self.lat.sort_unstable();
        self.errors += o.errors;
        self.samples.extend(o.samples);
        self.samples.truncate(10);
        self.server_cpu += o.server_cpu;
        self.client_cpu += o.client_cpu;
        self.machine_cpu += o.machine_cpu;
    }

    fn json(&self) -> Value {
        json!({
            "sessions": self.sessions,
            "commands": self.commands,
            "seconds": round(self.secs, 3),
            "per_second": round(self.rate(), 1),
            "p50_ms": pct(&self.lat, 0.50),
            "p99_ms": pct(&self.lat, 0.99),
            "p999_ms": pct(&self.lat, 0.999),
            "max_ms": pct(&self.lat, 1.0),
            "errors": self.errors,
            "error_samples": self.samples,
            "server_cpu_cores": round(self.server_cpu / self.secs.max(1e-9), 2),
            "client_cpu_cores": round(self.client_cpu / self.secs.max(1e-9), 2),
            "other_cpu_cores": round(self.other_cpu() / self.secs.max(1e-9), 2),
        })
    }
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

/// The latency at quantile `p` of sorted µs values, in ms.
fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    round(sorted[i] as f64 / 1000.0, 3)
}

/// The command frame session `s` sends next (and for a create, the name it creates).
fn command(s: &mut Session, kind: Kind, run: &str, regs: &[Registrar]) -> (String, Option<String>) {
    s.n += 1;
    let trid = format!("b{}-{}", s.index, s.n);
    match kind {
        Kind::Create => {
            let name = format!("bench-{run}-{}-{}.pt", s.index, s.n);
            let c = &regs[s.registrar].contact;
            let body = format!(
                "{E}<command><create><domain:create xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:period unit=\"y\">1</domain:period><domain:ns><domain:hostAttr><domain:hostName>ns1.example.net</domain:hostName></domain:hostAttr><domain:hostAttr><domain:hostName>ns2.example.net</domain:hostName></domain:hostAttr></domain:ns><domain:registrant>{c}</domain:registrant><domain:contact type=\"admin\">{c}</domain:contact><domain:contact type=\"tech\">{c}</domain:contact><domain:authInfo><domain:pw/></domain:authInfo></domain:create></create><clTRID>{trid}</clTRID></command></epp>"
            );
            (body, Some(name))
        }
        Kind::Info => {
            s.rng ^= s.rng << 13;
            s.rng ^= s.rng >> 7;
            s.rng ^= s.rng << 17;
            let name = if s.names.is_empty() {
                "exemplo.pt"
            } else {
                s.names[(s.rng % s.names.len() as u64) as usize].as_str()
            };
            let body = format!(
                "{E}<command><info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:info></info><clTRID>{trid}</clTRID></command></epp>"
            );
            (body, None)
        }
    }
}

/// Every session sends `kind` commands, one at a time, for `secs`; returns the sessions still
/// connected and the outcome. `server` is the process whose CPU is counted.
async fn drive(
    sessions: Vec<Session>,
    kind: Kind,
    secs: f64,
    run: Arc<str>,
    regs: Arc<Vec<Registrar>>,
    server: u32,
) -> (Vec<Session>, Outcome) {
    let count = sessions.len();
    let (cpu0, self0, all0) = (cpu_secs(Some(server)), cpu_secs(None), machine_busy_secs());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for mut s in sessions {
        let (run, regs) = (run.clone(), regs.clone());
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(65_536);
            let (mut errors, mut samples) = (0usize, Vec::new());
            let mut alive = true;
            while Instant::now() < deadline {
                let (body, name) = command(&mut s, kind, &run, &regs);
                let t = Instant::now();
                let io = async {
                    send_frame(&mut s.tls, &body, &mut s.out).await?;
                    recv_frame(&mut s.tls, &mut s.buf).await
                }
                .await;
                if let Err(e) = io {
                    errors += 1;
                    samples.push(format!("session {}: {e}", s.index));
                    alive = false;
                    break;
                }
                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                if result_code(&s.buf) == Some(1000) {
                    if let Some(n) = name {
                        s.names.push(n);
                    }
                } else {
                    errors += 1;
                    if samples.len() < 3 {
                        samples.push(describe(&format!("session {}", s.index), &s.buf));
                    }
                }
            }
            (alive.then_some(s), lat, errors, samples)
        });
    }
    let mut out = Outcome { sessions: count, ..Outcome::default() };
    let mut back = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (s, lat, errors, samples) = r.unwrap();
        back.extend(s);
        out.lat.extend(lat);
        out.errors += errors;
        out.samples.extend(samples);
    }
    out.secs = start.elapsed().as_secs_f64();
    out.server_cpu = cpu_secs(Some(server)) - cpu0;
    out.client_cpu = cpu_secs(None) - self0;
    out.machine_cpu = machine_busy_secs() - all0;
    out.commands = out.lat.len();
    out.lat.sort_unstable();
    out.samples.truncate(10);
    back.sort_by_key(|s| s.index);
    (back, out)
}

/// Opens `SESSIONS` logged-in sessions, spread evenly over the registrars.
async fn open_sessions(addr: SocketAddr, regs: &[Registrar]) -> Vec<Session> {
    let mut v = Vec::new();
    for i in 0..SESSIONS {
        match connect_login(addr, regs, i % regs.len(), i).await {
            Ok((s, _, _)) => v.push(s),
            Err(e) => panic!("session {i}: {e}"),
        }
    }
    v
}

/// `count` sequential logins (alternating registrars), each timed from TCP connect to the
/// login's answer, then logged out. Sorted µs, errors, error samples.
async fn logins(addr: SocketAddr, regs: &[Registrar], count: usize) -> (Vec<u32>, usize, Vec<String>) {
    let (mut lat, mut errors, mut samples) = (Vec::new(), 0, Vec::new());
    for i in 0..count {
        match connect_login(addr, regs, i % regs.len(), 1000 + i).await {
            Ok((s, took, _)) => {
                lat.push(took.as_micros().min(u32::MAX as u128) as u32);
                if let Err(e) = logout(s).await {
                    errors += 1;
                    samples.push(e);
                }
            }
            Err(e) => {
                errors += 1;
                samples.push(e);
            }
        }
    }
    lat.sort_unstable();
    (lat, errors, samples)
}

fn row(name: &str, o: &Outcome, note: &str) {
    println!(
        "  {name:<15} {:>3} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>6}   {:.2} / {:.2} / {:.2}{note}",
        o.sessions,
        o.commands,
        o.rate(),
        pct(&o.lat, 0.50),
        pct(&o.lat, 0.99),
        pct(&o.lat, 0.999),
        o.errors,
        o.server_cpu / o.secs.max(1e-9),
        o.client_cpu / o.secs.max(1e-9),
        o.other_cpu() / o.secs.max(1e-9),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--trivial-epp") {
        trivial_server(&args[i + 1..]);
        return;
    }
    let q = quick();
    let (warm, create_secs, info_secs, rounds, login_count) =
        if q { (0.3, 2.0, 1.0, 1, 10) } else { (1.0, 10.0, 5.0, 2, 50) };

    // The demo, created once, then restarted with the command rate out of the way and funds.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let t = Instant::now();
    let (first, _, _) = start_demo(&data);
    first.stop();
    let created_secs = t.elapsed().as_secs_f64();
    let config = data.join("nicbox.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\n[epp]\n"), "no [epp] table in {}", config.display());
    std::fs::write(&config, text.replacen("\n[epp]\n", "\n[epp]\ncommands_per_second = 100000\n", 1)).unwrap();
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let s = |v: &Value| v.as_str().unwrap_or_else(|| panic!("credentials: {v}")).to_string();
    let ca = PathBuf::from(s(&creds["epp"]["ca_cert"]));
    let regs: Vec<Registrar> = creds["registrars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Registrar {
            id: s(&r["id"]),
            password: s(&r["epp_password"]),
            contact: s(&r["contact"]),
            tls: client_config(&ca, Path::new(&s(&r["client_cert"])), Path::new(&s(&r["client_key"]))),
        })
        .collect();
    assert!(!regs.is_empty(), "the demo has no registrars");
    for r in &regs {
        run_nicbox(&[
            "registrar",
            "credit",
            "--config",
            config.to_str().unwrap(),
            "--id",
            &r.id,
            "--amount-cents",
            &CREDIT_CENTS.to_string(),
            "--reason",
            "epp bench",
        ]);
    }
    let regs = Arc::new(regs);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let disk = fsync_probe(&data, if q { 0.5 } else { 2.0 });
    let (nb, addr, http) = start_demo(&data);
    let pid = nb.pid();
    let rss_before = memory_kib(pid).0;
    let run: Arc<str> =
        format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()).into();

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // Logins first, on an idle server.
    let (nb_login, nb_login_err, nb_login_samples) = rt.block_on(logins(addr, &regs, login_count));

    let mut sessions = rt.block_on(open_sessions(addr, &regs));
    let (ss, _) = rt.block_on(drive(sessions, Kind::Create, warm, run.clone(), regs.clone(), pid));
    let writer_before = writer_metrics(http);
    let (ss, creates) = rt.block_on(drive(ss, Kind::Create, create_secs, run.clone(), regs.clone(), pid));
    let writer_after = writer_metrics(http);
    let commits = writer_after.0 - writer_before.0;
    let per_commit = (writer_after.1 - writer_before.1) as f64 / commits.max(1) as f64;
    sessions = ss;
    let created: usize = sessions.iter().map(|s| s.names.len()).sum();

    // The reference answers with a copy of a real info answer, after nicbox's greeting.
    let (greeting, answer) = rt.block_on(async {
        let (mut s, _, greeting) = connect_login(addr, &regs, 0, 999).await.unwrap();
        s.names = sessions[0].names.clone();
        let (body, _) = command(&mut s, Kind::Info, &run, &regs);
        send_frame(&mut s.tls, &body, &mut s.out).await.unwrap();
        recv_frame(&mut s.tls, &mut s.buf).await.unwrap();
        assert_eq!(result_code(&s.buf), Some(1000), "{}", describe("info", &s.buf));
        let answer = String::from_utf8(s.buf.clone()).unwrap();
        logout(s).await.unwrap();
        (greeting, answer)
    });
    let (gpath, apath) = (dir.path().join("greeting.xml"), dir.path().join("answer.xml"));
    std::fs::write(&gpath, &greeting).unwrap();
    std::fs::write(&apath, &answer).unwrap();
    let (tr, tr_addr) = start_trivial(&[
        &s(&creds["epp"]["server_cert"]),
        &s(&creds["epp"]["server_key"]),
        ca.to_str().unwrap(),
        gpath.to_str().unwrap(),
        apath.to_str().unwrap(),
    ]);
    let tr_pid = tr.pid();
    let mut tr_sessions = rt.block_on(open_sessions(tr_addr, &regs));
    for (t, n) in tr_sessions.iter_mut().zip(&sessions) {
        t.names = n.names.clone();
    }

    let (ss, _) = rt.block_on(drive(sessions, Kind::Info, warm, run.clone(), regs.clone(), pid));
    sessions = ss;
    let (ts, _) = rt.block_on(drive(tr_sessions, Kind::Info, warm, run.clone(), regs.clone(), tr_pid));
    tr_sessions = ts;
    let (mut infos, mut trivial) = (Outcome::default(), Outcome::default());
    for _ in 0..rounds {
        let (ss, o) = rt.block_on(drive(sessions, Kind::Info, info_secs, run.clone(), regs.clone(), pid));
        sessions = ss;
        infos.add(o);
        let (ts, o) = rt.block_on(drive(tr_sessions, Kind::Info, info_secs, run.clone(), regs.clone(), tr_pid));
        tr_sessions = ts;
        trivial.add(o);
    }
    let (rss_after, hwm_after) = memory_kib(pid);
    let mut logout_errors = Vec::new();
    rt.block_on(async {
        for s in sessions.into_iter().chain(tr_sessions) {
            if let Err(e) = logout(s).await {
                logout_errors.push(e);
            }
        }
    });
    let (tr_login, tr_login_err, tr_login_samples) = rt.block_on(logins(tr_addr, &regs, login_count));
    tr.stop();
    nb.stop();

    // The report.
    let ratio = infos.rate() / trivial.rate().max(1e-9);
    let ids: Vec<&str> = regs.iter().map(|r| r.id.as_str()).collect();
    let met = |v: f64, target: f64| if v >= target { "met" } else { "NOT met" };
    println!(
        "epp/load       {SESSIONS} TLS sessions over {} registrars ({}), one command in flight each; nicbox demo (created in {created_secs:.1}s), commands_per_second 100000; load average {}",
        ids.len(),
        ids.join(", "),
        load.join(" ")
    );
    println!(
        "  {:<15} {:>3} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6}   cpu cores server / client / other",
        "phase", "ses", "commands", "per s", "p50 ms", "p99 ms", "p999 ms", "errors"
    );
    row("create", &creates, &format!("   (target >= {CREATE_TARGET:.0}/s: {})", met(creates.rate(), CREATE_TARGET)));
    println!("  create commits: {commits} ({per_commit:.1} commands per commit, from /metrics)");
    row("info", &infos, &format!("   (target >= {INFO_TARGET:.0}/s: {})", met(infos.rate(), INFO_TARGET)));
    row("info trivial", &trivial, "   (reference: canned 1000 over the same TLS and framing)");
    println!(
        "  disk floor: 4 KiB write + fdatasync in the data dir, sequential: p50 {:.2} ms  p99 {:.2} ms ({} in {:.1}s)",
        pct(&disk, 0.5),
        pct(&disk, 0.99),
        disk.len(),
        if q { 0.5 } else { 2.0 }
    );
    println!(
        "  create {create_secs}s after {warm}s warm-up; info and trivial in {rounds} alternating rounds of {info_secs}s each; {created} names created"
    );
    println!(
        "  ratio info nicbox/trivial: throughput {ratio:.2}, p50 {:.2}x, p99 {:.2}x",
        pct(&infos.lat, 0.5) / pct(&trivial.lat, 0.5).max(0.001),
        pct(&infos.lat, 0.99) / pct(&trivial.lat, 0.99).max(0.001)
    );
    println!(
        "  login (TCP connect to login 1000: full TLS handshake with client certificate, greeting, login), {login_count} sequential:"
    );
    println!(
        "    nicbox   p50 {:.2} ms  p99 {:.2} ms  errors {nb_login_err}",
        pct(&nb_login, 0.5),
        pct(&nb_login, 0.99)
    );
    println!(
        "    trivial  p50 {:.2} ms  p99 {:.2} ms  errors {tr_login_err}",
        pct(&tr_login, 0.5),
        pct(&tr_login, 0.99)
    );
    println!(
        "  nicbox memory: VmRSS {:.1} MiB before, {:.1} MiB after (VmHWM {:.1} MiB)",
        rss_before as f64 / MIB,
        rss_after as f64 / MIB,
        hwm_after as f64 / MIB
    );
    let errors = creates.errors + infos.errors + trivial.errors + nb_login_err + tr_login_err + logout_errors.len();
    let report = json!({
        "bench": "epp",
        "quick": q,
        "sessions": SESSIONS,
        "registrars": ids,
        "demo_created_seconds": round(created_secs, 1),
        "commands_per_second_setting": 100000,
        "warm_up_seconds": warm,
        "load_average_at_start": load.join(" "),
        "disk_fsync": {"count": disk.len(), "p50_ms": pct(&disk, 0.5), "p99_ms": pct(&disk, 0.99)},
        "create": creates.json(),
        "create_commits": commits,
        "create_commands_per_commit": per_commit,
        "create_target_per_second": CREATE_TARGET,
        "info": infos.json(),
        "info_target_per_second": INFO_TARGET,
        "info_rounds": rounds,
        "info_round_seconds": info_secs,
        "trivial_info": trivial.json(),
        "info_ratio_nicbox_trivial": round(ratio, 3),
        "login": {
            "count": login_count,
            "nicbox": {"p50_ms": pct(&nb_login, 0.5), "p99_ms": pct(&nb_login, 0.99), "max_ms": pct(&nb_login, 1.0), "errors": nb_login_err, "error_samples": nb_login_samples},
            "trivial": {"p50_ms": pct(&tr_login, 0.5), "p99_ms": pct(&tr_login, 0.99), "max_ms": pct(&tr_login, 1.0), "errors": tr_login_err, "error_samples": tr_login_samples},
        },
        "names_created": created,
        "nicbox_vmrss_kib_before": rss_before,
        "nicbox_vmrss_kib_after": rss_after,
        "nicbox_vmhwm_kib_after": hwm_after,
        "logout_errors": logout_errors,
        "errors": errors,
    });
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/epp-bench.json");
    match std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap() + "\n") {
        Ok(()) => println!("  report: {}", out.display()),
        Err(e) => eprintln!("cannot write {}: {e}", out.display()),
    }
    if errors > 0 {
        for e in creates.samples.iter().chain(&infos.samples).chain(&trivial.samples) {
            eprintln!("  error: {e}");
        }
        for e in report["login"]["nicbox"]["error_samples"].as_array().into_iter().flatten() {
            eprintln!("  login error: {e}");
        }
        for e in &report["logout_errors"].as_array().cloned().unwrap_or_default() {
            eprintln!("  logout error: {e}");
        }
        eprintln!("epp bench: {errors} commands failed");
        std::process::exit(1);
    }
}
