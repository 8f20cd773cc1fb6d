//! Load harness for issue 15 ("At .pt scale: two million domains"): `cargo bench --bench load`.
//!
//! One command measures the real release binary (`nicbox serve`, a child process) over a dataset
//! of `.pt` scale, each protocol against a reference server in its own process (this bench binary
//! re-executed with a flag) in the same run, in alternating rounds so that a noisy neighbour hurts
//! both alike:
//!
//! - **cold start**: spawn to the last `listening protocol=... addr=...` line (every listener on
//!   port 0, the addresses read from the log), 3 times, each and the median; resident memory
//!   (`VmRSS`) after start and after each protocol's load, `VmHWM` at the end;
//! - **whois**: a new TCP connection per query, names picked at random from a sample of the
//!   dataset (as the dataset spells them, U-labels included); reference: a trivial responder that
//!   reads a line and writes a copy of a real nicbox answer (the median size of a few);
//! - **rdap**: keep-alive HTTP/1.1 `GET /rdap/domain/NAME`; reference: a minimal axum server, one
//!   route, a copy of a real answer as a fixed body;
//! - **api read**: keep-alive `GET /api/v1/domains/NAME` with the API key of the name's registrar;
//!   reference: the same minimal server answering a copy of a real API answer;
//! - **epp info**: TLS sessions with client certificates, one command in flight per session (as
//!   EPP clients do), `<domain:info>` of names the session's registrar sponsors; reference: a
//!   trivial TLS server with the same 4-byte framing answering nicbox's greeting and a copy of a
//!   real info answer;
//! - **api create** and **epp create**: durable domain creates of new names (each answer comes
//!   after the commit), with `/metrics` read around each cell for the writer's commands per commit;
//! - **mixed**: every client picks, request by request, WHOIS / RDAP / API read / API create in
//!   the proportions 40/40/15/5 over one keep-alive HTTP connection (and a new TCP connection per
//!   WHOIS query); per kind and in total.
//!
//! Each at 1, 16 and 64 concurrent clients (EPP sessions spread over the registrars `reg01`..
//! `reg08`), rounds of a fixed duration. Per cell: requests, throughput, p50/p99/p999, errors (a
//! non-success answer is an error), the CPU (cores, from `/proc`) of the server, of this client and
//! of everything else on the machine, and the ratios nicbox/reference of throughput and p99.
//! Targets are printed beside the figures, never asserted (a shared machine is not a test): WHOIS
//! ≥ 0.8× the trivial responder's throughput and p99 ≤ 1.5× its p99; RDAP ≥ 0.5× the minimal
//! server; durable creates ≥ 2,000/s over HTTP and EPP (at 64 clients); cold start ≤ 2 s; RSS ≤
//! 512 MiB. Written: `target/load/results.json`, `target/load/results.md` (a markdown table per
//! protocol, ready for benches/RESULTS.md) and SVG plots `target/load/throughput-*.svg`
//! (throughput against clients, nicbox and reference) and `target/load/latency-*.svg` (the
//! percentile curve p50..p99.9 at the highest concurrency). After the report, the bench exits 1
//! if any request failed, printing samples of the failures.
//!
//! **The data.** `NICBOX_LOAD_DATA=DIR` (default `target/load/data-2m`, or `data-20k` for a quick
//! run). Without `DIR/nicbox.toml` the harness builds it: `target/release/examples/dataset`
//! (built with `cargo build --release --example dataset` when missing) writes
//! `DIR/data.jsonl` (`NICBOX_LOAD_DOMAINS`, default 2,000,000; an existing `data.jsonl` is
//! reused), then a configuration (the `pt` TLD with the `pt` profile as the demo's, WHOIS and
//! RDAP limits lifted for 127.0.0.0/8, API and EPP rates out of the way, EPP over TLS with a test
//! CA made here), `nicbox init`, `nicbox registrar add` / `credit` / `epp-password` / `epp-cert`
//! for each registrar of the dataset, and the timed `nicbox import` (its time, the database's
//! size and bytes per domain go into the results). The credentials go into
//! `DIR/credentials.json` and a sample of names into `DIR/sample.tsv`, so later runs reuse the
//! directory (a 2,000,000-domain import takes minutes); `nicbox.toml` is written last, so an
//! interrupted build starts over. Every run tops up the registrars' balances first.
//!
//! Environment: `NICBOX_BENCH_QUICK=1` a smoke run (20,000 domains, rounds of 2 s, 1 round);
//! `NICBOX_LOAD_ONLY=whois,rdap` selects among `start`, `whois`, `rdap`, `api-read`, `epp-info`,
//! `epp-create`, `api-create`, `mixed` (`api` and `epp` name both of theirs); `NICBOX_LOAD_SECS`,
//! `NICBOX_LOAD_ROUNDS` (default 10 s, 2 rounds per side), `NICBOX_LOAD_CLIENTS` (default
//! `1,16,64`), `NICBOX_LOAD_SAMPLE` (names sampled, default 100,000), `NICBOX_LOAD_DROP_CACHES=1`
//! (drop the page cache before each cold start: root only, affects the whole machine).
//!
//! ```sh
//! cargo build --release --bin nicbox --example dataset
//! NICBOX_BENCH_QUICK=1 cargo bench --bench load        # smoke run, 20,000 domains
//! cargo bench --bench load                             # 2,000,000 domains (the first run imports)
//! NICBOX_LOAD_ONLY=whois,rdap cargo bench --bench load
//! ```

#[path = "support/mod.rs"]
mod support;
use support::{child_command, strip_ansi};

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use plotters::prelude::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

const MIB: f64 = 1024.0 * 1024.0;
/// Credited to a registrar whose balance is below `CREDIT_BELOW` at the start of a run (the most
/// one credit may move; 666,666 creates at the `pt` price).
const CREDIT_CENTS: i64 = 1_000_000_000;
const CREDIT_BELOW: i64 = 500_000_000;
/// The mixed workload: WHOIS, RDAP, API read, API create (per cent of requests).
const MIXED: [u32; KINDS] = [40, 40, 15, 5, 0, 0];
const WHOIS_RATIO_TARGET: f64 = 0.8;
const WHOIS_P99_TARGET: f64 = 1.5;
const RDAP_RATIO_TARGET: f64 = 0.5;
const CREATE_TARGET: f64 = 2_000.0;
const COLD_START_TARGET: f64 = 2.0;
const RSS_TARGET_MIB: f64 = 512.0;
const E: &str = r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0">"#;
const DOMAIN_NS: &str = "urn:ietf:params:xml:ns:domain-1.0";
const CONTACT_NS: &str = "urn:ietf:params:xml:ns:contact-1.0";

// --- what is measured ------------------------------------------------------------------------

/// One kind of request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Whois = 0,
    Rdap = 1,
    ApiRead = 2,
    ApiCreate = 3,
    EppInfo = 4,
    EppCreate = 5,
}
const KINDS: usize = 6;
const ALL_KINDS: [Kind; KINDS] =
    [Kind::Whois, Kind::Rdap, Kind::ApiRead, Kind::ApiCreate, Kind::EppInfo, Kind::EppCreate];

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Whois => "whois",
            Kind::Rdap => "rdap",
            Kind::ApiRead => "api read",
            Kind::ApiCreate => "api create",
            Kind::EppInfo => "epp info",
            Kind::EppCreate => "epp create",
        }
    }
}

/// A part of the run, selectable with `NICBOX_LOAD_ONLY`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Section {
    Whois,
    Rdap,
    ApiRead,
    EppInfo,
    EppCreate,
    ApiCreate,
    Mixed,
}
/// In the order they run: reads first, on the dataset as imported.
const SECTIONS: [Section; 7] = [
    Section::Whois,
    Section::Rdap,
    Section::ApiRead,
    Section::EppInfo,
    Section::EppCreate,
    Section::ApiCreate,
    Section::Mixed,
];

impl Section {
    fn key(self) -> &'static str {
        match self {
            Section::Whois => "whois",
            Section::Rdap => "rdap",
            Section::ApiRead => "api-read",
            Section::EppInfo => "epp-info",
            Section::EppCreate => "epp-create",
            Section::ApiCreate => "api-create",
            Section::Mixed => "mixed",
        }
    }
    fn title(self) -> &'static str {
        match self {
            Section::Whois => "WHOIS: a new TCP connection per query",
            Section::Rdap => "RDAP: keep-alive HTTP/1.1 `GET /rdap/domain/NAME`",
            Section::ApiRead => "Registrar API reads: keep-alive `GET /api/v1/domains/NAME`",
            Section::EppInfo => {
                "EPP `<domain:info>`: TLS sessions with client certificates, one command in flight each"
            }
            Section::EppCreate => "EPP durable `<domain:create>`: one command in flight per session",
            Section::ApiCreate => "Registrar API durable creates: keep-alive `POST /api/v1/domains`",
            Section::Mixed => "Mixed: WHOIS / RDAP / API read / API create, 40/40/15/5 per client",
        }
    }
    fn reference(self) -> Option<&'static str> {
        match self {
            Section::Whois => Some("a trivial responder (reads a line, writes a copy of a real nicbox answer)"),
            Section::Rdap => Some("a minimal axum server, one route, a copy of a real nicbox answer"),
            Section::ApiRead => Some("the same minimal server answering a copy of a real API answer"),
            Section::EppInfo => {
                Some("a trivial TLS server, same framing, nicbox's greeting and a copy of a real info answer")
            }
            _ => None,
        }
    }
    fn weights(self) -> [u32; KINDS] {
        let one = |k: Kind| {
            let mut w = [0; KINDS];
            w[k as usize] = 100;
            w
        };
        match self {
            Section::Whois => one(Kind::Whois),
            Section::Rdap => one(Kind::Rdap),
            Section::ApiRead => one(Kind::ApiRead),
            Section::ApiCreate => one(Kind::ApiCreate),
            Section::EppInfo => one(Kind::EppInfo),
            Section::EppCreate => one(Kind::EppCreate),
            Section::Mixed => MIXED,
        }
    }
    fn epp(self) -> bool {
        matches!(self, Section::EppInfo | Section::EppCreate)
    }
    fn creates(self) -> bool {
        matches!(self, Section::EppCreate | Section::ApiCreate | Section::Mixed)
    }
}

struct Opts {
    quick: bool,
    dir: PathBuf,
    out: PathBuf,
    domains: u64,
    secs: f64,
    rounds: usize,
    warm: f64,
    levels: Vec<usize>,
    sample: usize,
    only: Option<HashSet<String>>,
    drop_caches: bool,
}

impl Opts {
    fn from_env() -> Opts {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let quick = env("NICBOX_BENCH_QUICK").is_some();
        let target = target_dir();
        let out = target.join("load");
        let domains: u64 = env("NICBOX_LOAD_DOMAINS")
            .map(|v| v.replace('_', "").parse().expect("NICBOX_LOAD_DOMAINS: a number"))
            .unwrap_or(if quick { 20_000 } else { 2_000_000 });
        let dir =
            env("NICBOX_LOAD_DATA").map(PathBuf::from).unwrap_or_else(|| out.join(format!("data-{}", short(domains))));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let levels: Vec<usize> = env("NICBOX_LOAD_CLIENTS")
            .unwrap_or_else(|| "1,16,64".into())
            .split(',')
            .map(|v| v.trim().parse().expect("NICBOX_LOAD_CLIENTS: numbers, e.g. 1,16,64"))
            .collect();
        assert!(
            !levels.is_empty() && levels.iter().all(|&c| c > 0),
            "NICBOX_LOAD_CLIENTS: at least one level, each > 0"
        );
        let only = env("NICBOX_LOAD_ONLY").map(|v| {
            let mut set = HashSet::new();
            for w in v.split(',').map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()) {
                match w.as_str() {
                    "api" => set.extend(["api-read".to_string(), "api-create".to_string()]),
                    "epp" => set.extend(["epp-info".to_string(), "epp-create".to_string()]),
                    k if k == "start" || SECTIONS.iter().any(|s| s.key() == k) => {
                        set.insert(w);
                    }
                    other => panic!(
                        "NICBOX_LOAD_ONLY: unknown `{other}` (start, whois, rdap, api-read, epp-info, epp-create, api-create, mixed, api, epp)"
                    ),
                }
            }
            set
        });
        Opts {
            quick,
            dir,
            out,
            domains,
            secs: env("NICBOX_LOAD_SECS").map(|v| v.parse().expect("NICBOX_LOAD_SECS: seconds")).unwrap_or(if quick {
                2.0
            } else {
                10.0
            }),
            rounds: env("NICBOX_LOAD_ROUNDS")
                .map(|v| v.parse().expect("NICBOX_LOAD_ROUNDS: a number"))
                .unwrap_or(if quick { 1 } else { 2 })
                .max(1),
            warm: if quick { 0.5 } else { 1.0 },
            levels,
            sample: env("NICBOX_LOAD_SAMPLE")
                .map(|v| v.parse().expect("NICBOX_LOAD_SAMPLE: a number"))
                .unwrap_or(100_000),
            only,
            drop_caches: env("NICBOX_LOAD_DROP_CACHES").is_some_and(|v| v != "0"),
        }
    }

    fn selected(&self, key: &str) -> bool {
        self.only.as_ref().is_none_or(|s| s.contains(key))
    }
}

/// 2000000 → "2m", 20000 → "20k".
fn short(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}m", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

fn nicbox() -> &'static str {
    env!("CARGO_BIN_EXE_nicbox")
}

/// The target directory: the one `nicbox` was built into (`target/release/nicbox`).
fn target_dir() -> PathBuf {
    let exe = Path::new(nicbox());
    exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("target"))
}

// --- processes -------------------------------------------------------------------------------

/// A started server, stopped on drop (SIGTERM, then SIGKILL), so that a panic leaves nothing
/// running. Children also get SIGTERM if this process dies (`PR_SET_PDEATHSIG`).
struct Proc {
    child: Child,
    name: String,
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
        let deadline = Instant::now() + Duration::from_secs(30);
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

/// Runs `nicbox ARGS` to completion (standard error passed through); its standard output.
fn run_nicbox(args: &[&str]) -> String {
    let out = Command::new(nicbox()).args(args).stdin(Stdio::null()).stderr(Stdio::inherit()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "nicbox {args:?} failed ({}):\n{stdout}", out.status);
    stdout
}

/// The listeners of a started nicbox.
#[derive(Clone, Copy)]
struct Listeners {
    http: SocketAddr,
    whois: SocketAddr,
    epp: SocketAddr,
}

/// `nicbox serve --config CONFIG`: waits for the `listening` lines of HTTP, WHOIS and EPP; the
/// process, its addresses and the seconds from spawn to the last of those lines.
fn start_nicbox(config: &Path) -> (Proc, Listeners, f64) {
    let t = Instant::now();
    let mut child = child_command(nicbox())
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nicbox serve");
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(VecDeque::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        const MARK: &str = "listening protocol=";
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let plain = strip_ansi(&line);
            if let Some(i) = plain.find(MARK) {
                let rest = &plain[i + MARK.len()..];
                let proto: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                if let Some(j) = rest.find("addr=") {
                    let a: String = rest[j + 5..].chars().take_while(|c| !c.is_whitespace()).collect();
                    let _ = tx.send((proto, a, Instant::now()));
                }
            }
            let mut l = log2.lock().unwrap();
            if l.len() >= 200 {
                l.pop_front();
            }
            l.push_back(plain);
        }
    });
    let mut proc = Proc { child, name: "nicbox serve".into(), log };
    let (mut http, mut whois, mut epp, mut last) = (None, None, None, t);
    while http.is_none() || whois.is_none() || epp.is_none() {
        match rx.recv_timeout(Duration::from_secs(900)) {
            Ok((proto, a, at)) => {
                let addr: SocketAddr = a.parse().unwrap_or_else(|e| panic!("{proto} address {a:?}: {e}"));
                match proto.as_str() {
                    "http" => http = Some(addr),
                    "whois" => whois = Some(addr),
                    "epp" => epp = Some(addr),
                    _ => {}
                }
                last = at;
            }
            Err(_) => {
                let status = proc.child.try_wait().ok().flatten();
                panic!("nicbox serve gave no HTTP, WHOIS and EPP addresses (exit {status:?}):\n{}", proc.log());
            }
        }
    }
    let took = last.duration_since(t).as_secs_f64();
    (proc, Listeners { http: http.unwrap(), whois: whois.unwrap(), epp: epp.unwrap() }, took)
}

/// This binary re-executed as a reference server (`FLAG ARGS`): it prints its address.
fn start_reference(flag: &str, args: &[&str], name: &str) -> (Proc, SocketAddr) {
    let mut child = child_command(std::env::current_exe().unwrap())
        .arg(flag)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().parse().unwrap_or_else(|e| panic!("{name} address {line:?}: {e}"));
    (Proc { child, name: name.into(), log: Arc::default() }, addr)
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

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
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
    (ticks(11) + ticks(12)) as f64 / clock_ticks()
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
    busy as f64 / clock_ticks()
}

/// The disk's floor for a durable commit: 4 KiB appended in `dir` and `sync_data`, one after the
/// other, for `secs`. Sorted µs.
fn fsync_probe(dir: &Path, secs: f64) -> Vec<u32> {
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = [0x5au8; 4096];
    let mut lat = Vec::new();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline {
        let t = Instant::now();
        f.write_all(&block).unwrap();
        f.sync_data().unwrap();
        lat.push(micros(t.elapsed()));
    }
    drop(f);
    let _ = std::fs::remove_file(&path);
    lat.sort_unstable();
    lat
}

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

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Now, RFC 3339 to the second.
fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

// --- the data --------------------------------------------------------------------------------

/// A registrar's credentials, as `credentials.json` keeps them (paths relative to the data dir).
#[derive(Clone)]
struct RegCreds {
    id: String,
    api_key: String,
    epp_password: String,
    client_cert: String,
    client_key: String,
    /// An organization contact of the registrar's in the dataset (a PT NIF): the registrant,
    /// admin and tech of the names the bench creates.
    contact: String,
}

struct Data {
    dir: PathBuf,
    config: PathBuf,
    creds: Value,
    regs: Vec<RegCreds>,
    built_now: bool,
}

fn config_text() -> String {
    r#"# Written by benches/load.rs (`cargo bench --bench load`): the `pt` TLD as the demo has it, every
# listener on a free port, the limits that would throttle a load generator on 127.0.0.0/8 lifted.
data_dir = "state"

[registry]
name = "nicbox load bench (.pt)"
currency = "EUR"

[http]
listen = "127.0.0.1:0"
api_rate_per_second = 1000000
api_burst = 1000000

[whois]
listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]
max_connections = 100000
max_connections_per_origin = 100000

[log]
level = "info"

[[tld]]
name = "pt"
profile = "pt"
reserved = "reserved.txt"
blocked = "blocked.txt"

[tld.prices]
create = 1500
create_premium = 15000
renew = 1500
transfer = 500
restore = 3000

[tld.policy]
delegation_check = "warn"
glue_documentation = true

[tld.zone]
primary = "a.nic.pt"
mailbox = "hostmaster.nic.pt"
nameservers = [
  { name = "a.nic.pt", addresses = ["192.0.2.53", "2001:db8::53"] },
  { name = "b.nic.pt", addresses = ["198.51.100.53"] },
]

[epp]
listen = "127.0.0.1:0"
tls_cert = "epp/server.pem"
tls_key = "epp/server-key.pem"
max_connections = 1024
sessions_per_registrar = 1000
commands_per_second = 100000
"#
    .to_string()
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A JSON string field's value from one JSON line, without parsing it (the first occurrence).
fn json_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let i = line.find(&pat)? + pat.len();
    let j = line[i..].find('"')?;
    Some(&line[i..i + j])
}

/// The registrars of a dataset (first seen order), an organization contact with a Portuguese
/// NIF for each, and a sample of about `sample` domain names (every k-th) with their registrar.
/// What `scan_dataset` finds: registrar ids, a contact handle per registrar, (registrar, name) samples.
type Scan = (Vec<String>, HashMap<String, String>, Vec<(String, String)>);

fn scan_dataset(path: &Path, sample: usize) -> Scan {
    let open = || BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
    let (mut regs, mut seen, mut contacts, mut domains) = (Vec::new(), HashSet::new(), HashMap::new(), 0u64);
    for line in open().lines() {
        let line = line.unwrap();
        if line.contains("\"type\":\"domain\"") {
            domains += 1;
            continue;
        }
        if !line.contains("\"type\":\"contact\"") {
            continue;
        }
        let Some(r) = json_field(&line, "registrar") else { continue };
        if seen.insert(r.to_string()) {
            regs.push(r.to_string());
        }
        if !contacts.contains_key(r) {
            let v: Value = serde_json::from_str(&line).unwrap();
            let ok = v["kind"] == "organization" && v["country_code"] == "PT" && v["fiscal_id"].is_string();
            if ok && let Some(h) = v["handle"].as_str() {
                contacts.insert(r.to_string(), h.to_string());
            }
        }
    }
    let stride = (domains / sample.max(1) as u64).max(1);
    let mut names = Vec::new();
    let mut k = 0u64;
    for line in open().lines() {
        let line = line.unwrap();
        if !line.contains("\"type\":\"domain\"") {
            continue;
        }
        k += 1;
        if !(k - 1).is_multiple_of(stride) {
            continue;
        }
        let v: Value = serde_json::from_str(&line).unwrap();
        if let (Some(r), Some(n)) = (v["registrar"].as_str(), v["name"].as_str()) {
            names.push((r.to_string(), n.to_string()));
        }
    }
    (regs, contacts, names)
}

fn write_sample(dir: &Path, names: &[(String, String)]) {
    let mut text = String::with_capacity(names.len() * 32);
    for (r, n) in names {
        text.push_str(&format!("{r}\t{n}\n"));
    }
    std::fs::write(dir.join("sample.tsv"), text).unwrap();
}

/// Uses `o.dir` as it is, or builds it (see the top of this file).
fn ensure_data(o: &Opts) -> Data {
    let dir = o.dir.clone();
    let config = dir.join("nicbox.toml");
    let creds_path = dir.join("credentials.json");
    if config.exists() {
        assert!(
            creds_path.exists(),
            "{} exists without credentials.json: not a directory this bench built (set NICBOX_LOAD_DATA to another)",
            config.display()
        );
        let creds: Value = serde_json::from_str(&std::fs::read_to_string(&creds_path).unwrap()).unwrap();
        if !dir.join("sample.tsv").exists() {
            let (_, _, names) = scan_dataset(&dir.join("data.jsonl"), o.sample);
            write_sample(&dir, &names);
        }
        let regs = reg_creds(&creds);
        println!("load: data {} ({} domains, built {})", dir.display(), creds["domains"], creds["built_at"]);
        return Data { dir, config, creds, regs, built_now: false };
    }
    build_data(o)
}

fn reg_creds(creds: &Value) -> Vec<RegCreds> {
    let s = |v: &Value| v.as_str().unwrap_or_else(|| panic!("credentials.json: {v}")).to_string();
    creds["registrars"]
        .as_array()
        .expect("credentials.json: registrars")
        .iter()
        .map(|r| RegCreds {
            id: s(&r["id"]),
            api_key: s(&r["api_key"]),
            epp_password: s(&r["epp_password"]),
            client_cert: s(&r["client_cert"]),
            client_key: s(&r["client_key"]),
            contact: s(&r["contact"]),
        })
        .collect()
}

fn build_data(o: &Opts) -> Data {
    let dir = o.dir.clone();
    std::fs::create_dir_all(&dir).unwrap();
    println!("load: building {} ({} domains requested)", dir.display(), o.domains);
    let data = dir.join("data.jsonl");
    let mut dataset_secs = None;
    if file_size(&data) == 0 {
        let exe = Path::new(nicbox()).parent().unwrap().join("examples/dataset");
        if !exe.exists() {
            println!("load: building the dataset example (cargo build --release --example dataset)");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let st = Command::new(cargo)
                .args(["build", "--release", "--example", "dataset"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .unwrap();
            assert!(st.success(), "cargo build --release --example dataset: {st}");
        }
        let t = Instant::now();
        let tmp = dir.join("data.jsonl.tmp");
        let st = Command::new(&exe)
            .args(["--domains", &o.domains.to_string(), "--out", tmp.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(st.success(), "{} failed: {st}", exe.display());
        std::fs::rename(&tmp, &data).unwrap();
        dataset_secs = Some(t.elapsed().as_secs_f64());
        println!(
            "load: dataset written in {:.1}s ({:.1} MiB)",
            t.elapsed().as_secs_f64(),
            file_size(&data) as f64 / MIB
        );
    } else {
        println!("load: reusing {} ({:.1} MiB)", data.display(), file_size(&data) as f64 / MIB);
    }
    // A build interrupted earlier (setup.toml is its mark) left its database: start over.
    let setup = dir.join("setup.toml");
    if dir.join("state").exists() {
        assert!(setup.exists(), "{}: a state/ directory this bench did not start; refusing to touch it", dir.display());
        std::fs::remove_dir_all(dir.join("state")).unwrap();
    }
    let epp_dir = dir.join("epp");
    std::fs::create_dir_all(&epp_dir).unwrap();
    let (pki, ca) = nicbox::epp::certs::test_pki().unwrap();
    std::fs::write(epp_dir.join("ca.pem"), &pki.ca_cert_pem).unwrap();
    std::fs::write(epp_dir.join("server.pem"), &pki.server_cert_pem).unwrap();
    write_private(&epp_dir.join("server-key.pem"), &pki.server_key_pem);
    let ops = Path::new(env!("CARGO_MANIFEST_DIR")).join("ops");
    std::fs::copy(ops.join("pt-reserved.txt"), dir.join("reserved.txt")).unwrap();
    std::fs::copy(ops.join("pt-blocked.txt"), dir.join("blocked.txt")).unwrap();
    std::fs::write(&setup, config_text()).unwrap();
    let c = setup.to_str().unwrap();
    run_nicbox(&["init", "--config", c]);

    let t = Instant::now();
    let (reg_ids, contacts, names) = scan_dataset(&data, o.sample);
    println!("load: {} registrars, {} names sampled ({:.1}s)", reg_ids.len(), names.len(), t.elapsed().as_secs_f64());
    assert!(!reg_ids.is_empty(), "{}: no contacts", data.display());
    let mut regs = Vec::new();
    for id in &reg_ids {
        let out = run_nicbox(&["registrar", "add", "--config", c, "--id", id, "--name", &format!("Load {id}, Lda.")]);
        let api_key = out
            .split_whitespace()
            .find(|w| w.starts_with("nbx_"))
            .unwrap_or_else(|| panic!("no API key in: {out}"))
            .to_string();
        run_nicbox(&[
            "registrar",
            "credit",
            "--config",
            c,
            "--id",
            id,
            "--amount-cents",
            &CREDIT_CENTS.to_string(),
            "--reason",
            "load bench",
        ]);
        let out = run_nicbox(&["registrar", "epp-password", "--config", c, "--id", id]);
        let epp_password = out
            .lines()
            .find(|l| l.contains("EPP password"))
            .and_then(|l| l.split_whitespace().last())
            .unwrap_or_else(|| panic!("no EPP password in: {out}"))
            .to_string();
        let client = nicbox::epp::certs::client_cert(&ca, id).unwrap();
        let (cert, key) = (format!("epp/{id}.pem"), format!("epp/{id}-key.pem"));
        std::fs::write(dir.join(&cert), &client.cert_pem).unwrap();
        write_private(&dir.join(&key), &client.key_pem);
        run_nicbox(&["registrar", "epp-cert", "--config", c, "--id", id, "--add", dir.join(&cert).to_str().unwrap()]);
        let contact = contacts.get(id).unwrap_or_else(|| panic!("{id} has no organization contact in the dataset"));
        regs.push(json!({"id": id, "api_key": api_key, "epp_password": epp_password, "client_cert": cert,
                         "client_key": key, "contact": contact}));
    }

    println!("load: nicbox import (timed)");
    let t = Instant::now();
    let out = Command::new(nicbox())
        .args(["import", "--config", c, data.to_str().unwrap()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let import_secs = t.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout.lines().find(|l| l.starts_with("imported ")).unwrap_or_else(|| {
        panic!("nicbox import failed ({}):\n{}", out.status, stdout.lines().take(20).collect::<Vec<_>>().join("\n"))
    });
    println!("load: {summary} (wall {import_secs:.1}s)");
    let words: Vec<&str> = summary.split_whitespace().collect();
    let number = |after: &str| {
        words.iter().position(|w| *w == after).and_then(|i| words.get(i - 1)).and_then(|w| w.parse::<u64>().ok())
    };
    let (contacts_n, domains_n) = (number("contacts").unwrap_or(0), number("domains").unwrap_or(o.domains));
    let refused = stdout.lines().filter(|l| l.contains(": refused: ")).count();
    if refused > 0 {
        eprintln!("load: WARNING: the import refused {refused} lines, e.g.:");
        for l in stdout.lines().filter(|l| l.contains(": refused: ")).take(5) {
            eprintln!("  {l}");
        }
    }
    let db = dir.join("state/nicbox.redb");
    let db_bytes = file_size(&db);
    let creds = json!({
        "domains": domains_n,
        "contacts": contacts_n,
        "import_seconds": round(import_secs, 1),
        "import_per_second": round(domains_n as f64 / import_secs.max(1e-9), 0),
        "import_refused_lines": refused,
        "dataset_seconds": dataset_secs.map(|s| round(s, 1)),
        "data_jsonl_bytes": file_size(&data),
        "db_bytes_after_import": db_bytes,
        "db_bytes_per_domain": round(db_bytes as f64 / domains_n.max(1) as f64, 0),
        "built_at": now_rfc3339(),
        "epp": {"ca_cert": "epp/ca.pem", "server_cert": "epp/server.pem", "server_key": "epp/server-key.pem"},
        "registrars": regs,
    });
    write_private(&dir.join("credentials.json"), &(serde_json::to_string_pretty(&creds).unwrap() + "\n"));
    write_sample(&dir, &names);
    // Last: the directory is complete.
    let config = dir.join("nicbox.toml");
    std::fs::rename(&setup, &config).unwrap();
    let regs = reg_creds(&creds);
    Data { dir, config, creds, regs, built_now: true }
}

/// Credits each registrar whose balance is low (the server must be stopped).
fn top_up(config: &Path, regs: &[RegCreds]) {
    let c = config.to_str().unwrap();
    let list = run_nicbox(&["registrar", "list", "--config", c]);
    for r in regs {
        let balance = list
            .lines()
            .find(|l| l.split('\t').next() == Some(r.id.as_str()))
            .and_then(|l| l.split('\t').nth(2))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        if balance < CREDIT_BELOW {
            run_nicbox(&[
                "registrar",
                "credit",
                "--config",
                c,
                "--id",
                &r.id,
                "--amount-cents",
                &CREDIT_CENTS.to_string(),
                "--reason",
                "load bench",
            ]);
        }
    }
}

// --- the load generator's shared state -------------------------------------------------------

struct Name {
    /// As the dataset spells it (WHOIS queries).
    query: String,
    /// A-label (RDAP, API, EPP).
    ascii: String,
}

struct Reg {
    id: String,
    api_key: String,
    password: String,
    contact: String,
    tls: Arc<rustls::ClientConfig>,
}

struct Ctx {
    names: Vec<Name>,
    /// Indexes into `names`, per registrar.
    by_reg: Vec<Vec<u32>>,
    regs: Vec<Reg>,
    /// This run's prefix for new names.
    run: String,
    seq: AtomicU64,
}

impl Ctx {
    fn new_name(&self, tag: char) -> String {
        format!("load{}-{tag}{}.pt", self.run, self.seq.fetch_add(1, Ordering::Relaxed))
    }

    fn own_name(&self, reg: usize, r: u64) -> &Name {
        let list = &self.by_reg[reg];
        &self.names[list[(r % list.len() as u64) as usize] as usize]
    }

    fn any_name(&self, r: u64) -> &Name {
        &self.names[(r % self.names.len() as u64) as usize]
    }
}

fn load_ctx(data: &Data) -> Ctx {
    let ca = data.dir.join(data.creds["epp"]["ca_cert"].as_str().unwrap());
    let regs: Vec<Reg> = data
        .regs
        .iter()
        .map(|r| Reg {
            id: r.id.clone(),
            api_key: r.api_key.clone(),
            password: r.epp_password.clone(),
            contact: r.contact.clone(),
            tls: client_config(&ca, &data.dir.join(&r.client_cert), &data.dir.join(&r.client_key)),
        })
        .collect();
    let index: HashMap<&str, usize> = regs.iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    let text = std::fs::read_to_string(data.dir.join("sample.tsv")).unwrap();
    let mut names = Vec::new();
    let mut by_reg = vec![Vec::new(); regs.len()];
    for line in text.lines() {
        let Some((r, n)) = line.split_once('\t') else { continue };
        let (Some(&reg), Ok(ascii)) = (index.get(r), idna::domain_to_ascii(n)) else { continue };
        by_reg[reg].push(names.len() as u32);
        names.push(Name { query: n.to_string(), ascii });
    }
    assert!(!names.is_empty(), "{}: no names", data.dir.join("sample.tsv").display());
    for (r, list) in by_reg.iter().enumerate() {
        assert!(!list.is_empty(), "the sample has no name of {}", regs[r].id);
    }
    let run = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs());
    Ctx { names, by_reg, regs, run, seq: AtomicU64::new(0) }
}

/// xorshift64: fast and good enough to pick names.
fn next(r: &mut u64) -> u64 {
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    *r
}

fn seed(i: usize) -> u64 {
    0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93))
}

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn snippet(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(300)]);
    s.replace(['\r', '\n'], " ")
}

// --- outcomes --------------------------------------------------------------------------------

#[derive(Default, Clone)]
struct Stats {
    /// Latencies of the successful requests, µs (sorted once the cell is done).
    lat: Vec<u32>,
    errors: usize,
}

#[derive(Default)]
struct Outcome {
    clients: usize,
    secs: f64,
    kinds: [Stats; KINDS],
    samples: Vec<String>,
    server_cpu: f64,
    client_cpu: f64,
    /// The whole machine's busy CPU seconds (server, client and anything else running).
    machine_cpu: f64,
    /// The writer's commits and commands during the cell (create cells).
    writer: Option<(u64, u64)>,
}

impl Outcome {
    fn add(&mut self, o: Outcome) {
        self.clients = self.clients.max(o.clients);
        self.secs += o.secs;
        for (a, b) in self.kinds.iter_mut().zip(o.kinds) {
            a.lat.extend(b.lat);
            a.lat.sort_unstable();
            a.errors += b.errors;
        }
        self.samples.extend(o.samples);
        self.samples.truncate(10);
        self.server_cpu += o.server_cpu;
        self.client_cpu += o.client_cpu;
        self.machine_cpu += o.machine_cpu;
        self.writer = match (self.writer, o.writer) {
            (Some(a), Some(b)) => Some((a.0 + b.0, a.1 + b.1)),
            (a, b) => a.or(b),
        };
    }

    fn total(&self) -> Stats {
        let mut s = Stats::default();
        for k in &self.kinds {
            s.lat.extend_from_slice(&k.lat);
            s.errors += k.errors;
        }
        s.lat.sort_unstable();
        s
    }

    fn errors(&self) -> usize {
        self.kinds.iter().map(|k| k.errors).sum()
    }

    fn cores(&self, cpu: f64) -> f64 {
        cpu / self.secs.max(1e-9)
    }

    fn other_cpu(&self) -> f64 {
        (self.machine_cpu - self.server_cpu - self.client_cpu).max(0.0)
    }
}

/// What one client task brings back.
#[derive(Default)]
struct ClientOut {
    kinds: [Stats; KINDS],
    samples: Vec<String>,
}

impl ClientOut {
    fn ok(&mut self, kind: Kind, t: Instant) {
        self.kinds[kind as usize].lat.push(micros(t.elapsed()));
    }

    fn fail(&mut self, kind: Kind, why: String) {
        self.kinds[kind as usize].errors += 1;
        if self.samples.len() < 3 {
            self.samples.push(why);
        }
    }
}

fn finish(mut out: Outcome, results: Vec<ClientOut>, start: Instant, cpu0: (f64, f64, f64), pid: u32) -> Outcome {
    out.secs = start.elapsed().as_secs_f64();
    out.server_cpu = cpu_secs(Some(pid)) - cpu0.0;
    out.client_cpu = cpu_secs(None) - cpu0.1;
    out.machine_cpu = machine_busy_secs() - cpu0.2;
    for r in results {
        for (a, b) in out.kinds.iter_mut().zip(r.kinds) {
            a.lat.extend(b.lat);
            a.errors += b.errors;
        }
        out.samples.extend(r.samples);
    }
    for k in &mut out.kinds {
        k.lat.sort_unstable();
    }
    out.samples.truncate(10);
    out
}

fn cpu_now(pid: u32) -> (f64, f64, f64) {
    (cpu_secs(Some(pid)), cpu_secs(None), machine_busy_secs())
}

// --- WHOIS and HTTP clients ------------------------------------------------------------------

/// One WHOIS query on a new connection; the answer must carry a `Domain:` line.
async fn whois_query(addr: SocketAddr, q: &[u8], buf: &mut Vec<u8>) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| format!("whois connect: {e}"))?;
    let _ = s.set_nodelay(true);
    s.write_all(q).await.map_err(|e| format!("whois write: {e}"))?;
    buf.clear();
    s.read_to_end(buf).await.map_err(|e| format!("whois read: {e}"))?;
    if find(buf, b"Domain:").is_some() { Ok(()) } else { Err(format!("whois: {}", snippet(buf))) }
}

async fn connect_http(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Sends `req` and reads one HTTP/1.1 answer (Content-Length framing) into `buf`: its status,
/// where its body starts, and whether the server closes the connection after it.
async fn http_exchange(s: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> std::io::Result<(u16, usize, bool)> {
    s.write_all(req).await?;
    buf.clear();
    let mut searched = 0usize;
    loop {
        let from = searched.saturating_sub(3);
        if let Some(pos) = find(&buf[from..], b"\r\n\r\n") {
            let end = from + pos;
            let (mut len, mut close) = (0usize, false);
            let status = std::str::from_utf8(buf.get(9..12).unwrap_or_default()).ok().and_then(|v| v.parse().ok());
            for l in buf[..end].split(|&b| b == b'\n').skip(1) {
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                let Some(colon) = l.iter().position(|&b| b == b':') else { continue };
                let (k, v) = (&l[..colon], std::str::from_utf8(&l[colon + 1..]).unwrap_or("").trim());
                if k.eq_ignore_ascii_case(b"content-length") {
                    len = v.parse().unwrap_or(0);
                } else if k.eq_ignore_ascii_case(b"connection") {
                    close = v.eq_ignore_ascii_case("close");
                } else if k.eq_ignore_ascii_case(b"transfer-encoding") {
                    return Err(std::io::Error::other("chunked answers are not supported by this client"));
                }
            }
            let Some(status) = status else { return Err(std::io::Error::other("not an HTTP answer")) };
            while buf.len() < end + 4 + len {
                buf.reserve(16_384);
                if s.read_buf(buf).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            return Ok((status, end + 4, close));
        }
        searched = buf.len();
        buf.reserve(16_384);
        if s.read_buf(buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

fn get_request(out: &mut Vec<u8>, path: &str, accept: &str, key: Option<&str>) {
    out.clear();
    out.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: {accept}\r\n").as_bytes());
    if let Some(k) = key {
        out.extend_from_slice(format!("Authorization: Bearer {k}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn create_request(out: &mut Vec<u8>, name: &str, reg: &Reg) {
    let c = &reg.contact;
    let body = format!(
        r#"{{"name":"{name}","period_years":1,"registrant":"{c}","admin":"{c}","tech":"{c}","nameservers":[{{"name":"ns1.example.net"}},{{"name":"ns2.example.net"}}]}}"#
    );
    out.clear();
    out.extend_from_slice(
        format!(
            "POST /api/v1/domains HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            reg.api_key,
            body.len()
        )
        .as_bytes(),
    );
}

/// A WHOIS / HTTP target.
#[derive(Clone, Copy)]
struct Target {
    pid: u32,
    whois: Option<SocketAddr>,
    http: Option<SocketAddr>,
}

fn pick(weights: &[u32; KINDS], total: u32, r: u64) -> Kind {
    let mut x = (r % u64::from(total)) as u32;
    for (k, w) in ALL_KINDS.iter().zip(weights) {
        if x < *w {
            return *k;
        }
        x -= w;
    }
    Kind::Whois
}

/// `clients` tasks sending requests of the kinds `weights` gives, for `secs`.
async fn drive_plain(ctx: Arc<Ctx>, t: Target, weights: [u32; KINDS], clients: usize, secs: f64) -> Outcome {
    let http_needed = weights[1] + weights[2] + weights[3] > 0;
    let mut conns = Vec::with_capacity(clients);
    for _ in 0..clients {
        conns.push(if http_needed { Some(connect_http(t.http.unwrap()).await.expect("connect HTTP")) } else { None });
    }
    let cpu0 = cpu_now(t.pid);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for (c, conn) in conns.into_iter().enumerate() {
        let ctx = ctx.clone();
        tasks.spawn(client_loop(ctx, t, weights, c, conn, deadline));
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        results.push(r.unwrap());
    }
    finish(Outcome { clients, ..Outcome::default() }, results, start, cpu0, t.pid)
}

async fn client_loop(
    ctx: Arc<Ctx>,
    t: Target,
    weights: [u32; KINDS],
    c: usize,
    mut conn: Option<TcpStream>,
    deadline: Instant,
) -> ClientOut {
    let reg = c % ctx.regs.len();
    let total: u32 = weights.iter().sum();
    let mut rng = seed(c);
    let mut out = ClientOut::default();
    let (mut req, mut buf) = (Vec::with_capacity(1024), Vec::with_capacity(16 * 1024));
    while Instant::now() < deadline {
        let kind = pick(&weights, total, next(&mut rng));
        let r = next(&mut rng);
        let expect = match kind {
            Kind::Whois => {
                req.clear();
                req.extend_from_slice(ctx.any_name(r).query.as_bytes());
                req.extend_from_slice(b"\r\n");
                0
            }
            Kind::Rdap => {
                get_request(
                    &mut req,
                    &format!("/rdap/domain/{}", ctx.any_name(r).ascii),
                    "application/rdap+json",
                    None,
                );
                200
            }
            Kind::ApiRead => {
                let path = format!("/api/v1/domains/{}", ctx.own_name(reg, r).ascii);
                get_request(&mut req, &path, "application/json", Some(&ctx.regs[reg].api_key));
                200
            }
            Kind::ApiCreate => {
                create_request(&mut req, &ctx.new_name('a'), &ctx.regs[reg]);
                201
            }
            Kind::EppInfo | Kind::EppCreate => unreachable!("EPP runs in drive_epp"),
        };
        if kind == Kind::Whois {
            let t0 = Instant::now();
            match whois_query(t.whois.unwrap(), &req, &mut buf).await {
                Ok(()) => out.ok(kind, t0),
                Err(e) => out.fail(kind, e),
            }
            continue;
        }
        if conn.is_none() {
            match connect_http(t.http.unwrap()).await {
                Ok(s) => conn = Some(s),
                Err(e) => {
                    out.fail(kind, format!("HTTP connect: {e}"));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                }
            }
        }
        let s = conn.as_mut().unwrap();
        let t0 = Instant::now();
        match http_exchange(s, &req, &mut buf).await {
            Ok((status, body, close)) => {
                if status == expect {
                    out.ok(kind, t0);
                } else {
                    out.fail(kind, format!("{} HTTP {status}: {}", kind.label(), snippet(&buf[body..])));
                }
                if close {
                    conn = None;
                }
            }
            Err(e) => {
                out.fail(kind, format!("{}: {e}", kind.label()));
                conn = None;
            }
        }
    }
    out
}

// --- EPP client ------------------------------------------------------------------------------

/// A client configuration: the test CA as the only root, the registrar's client certificate, no
/// session resumption.
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

fn result_code(resp: &[u8]) -> Option<u16> {
    let pat = b"<result code=\"";
    let i = find(resp, pat)? + pat.len();
    std::str::from_utf8(resp.get(i..i + 4)?).ok()?.parse().ok()
}

/// A failed command, for the report: its result code and message.
fn describe(what: &str, resp: &[u8]) -> String {
    let text = String::from_utf8_lossy(resp);
    let inner = |tag: &str| {
        text.find(tag).and_then(|i| {
            let from = i + text[i..].find('>')? + 1;
            Some(text[from..from + text[from..].find('<')?].to_string())
        })
    };
    format!(
        "{what}: code {} {} {}",
        result_code(resp).map_or("?".to_string(), |c| c.to_string()),
        inner("<msg").unwrap_or_default(),
        inner("<reason").unwrap_or_default()
    )
}

/// Connects, reads the greeting and logs in: the session and the greeting.
async fn connect_login(
    addr: SocketAddr,
    ctx: &Ctx,
    registrar: usize,
    index: usize,
) -> Result<(Session, String), String> {
    let r = &ctx.regs[registrar];
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
        n: 0,
        rng: seed(index + 7),
        out: Vec::with_capacity(2048),
        buf: Vec::with_capacity(4096),
    };
    recv_frame(&mut s.tls, &mut s.buf).await.map_err(|e| format!("greeting: {e}"))?;
    let greeting = String::from_utf8_lossy(&s.buf).into_owned();
    if find(&s.buf, b"<greeting>").is_none() {
        return Err(format!("not a greeting: {greeting}"));
    }
    let login = format!(
        "{E}<command><login><clID>{}</clID><pw>{}</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>{DOMAIN_NS}</objURI><objURI>{CONTACT_NS}</objURI></svcs></login><clTRID>login-{index}</clTRID></command></epp>",
        r.id, r.password
    );
    send_frame(&mut s.tls, &login, &mut s.out).await.map_err(|e| format!("login: {e}"))?;
    recv_frame(&mut s.tls, &mut s.buf).await.map_err(|e| format!("login: {e}"))?;
    if result_code(&s.buf) != Some(1000) {
        return Err(describe(&format!("login {}", r.id), &s.buf));
    }
    Ok((s, greeting))
}

/// Logs out (1500 expected; the trivial server answers its canned 1000) and closes.
async fn logout(mut s: Session) -> Result<(), String> {
    let body = format!("{E}<command><logout/><clTRID>logout-{}</clTRID></command></epp>", s.index);
    send_frame(&mut s.tls, &body, &mut s.out).await.map_err(|e| format!("logout: {e}"))?;
    recv_frame(&mut s.tls, &mut s.buf).await.map_err(|e| format!("logout: {e}"))?;
    let code = result_code(&s.buf);
    let _ = s.tls.shutdown().await;
    if code == Some(1500) || code == Some(1000) { Ok(()) } else { Err(describe("logout", &s.buf)) }
}

/// Brings `sessions` up to `n` logged-in sessions (indexes 0..n, registrar = index mod count).
async fn top_up_sessions(addr: SocketAddr, ctx: &Ctx, sessions: &mut Vec<Session>, n: usize) {
    let have: HashSet<usize> = sessions.iter().map(|s| s.index).collect();
    for i in (0..n).filter(|i| !have.contains(i)) {
        match connect_login(addr, ctx, i % ctx.regs.len(), i).await {
            Ok((s, _)) => sessions.push(s),
            Err(e) => panic!("EPP session {i} to {addr}: {e}"),
        }
    }
    sessions.sort_by_key(|s| s.index);
}

/// The command session `s` sends next.
fn epp_command(s: &mut Session, kind: Kind, ctx: &Ctx) -> String {
    s.n += 1;
    let trid = format!("l{}-{}", s.index, s.n);
    match kind {
        Kind::EppCreate => {
            let name = ctx.new_name('e');
            let c = &ctx.regs[s.registrar].contact;
            format!(
                "{E}<command><create><domain:create xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:period unit=\"y\">1</domain:period><domain:ns><domain:hostAttr><domain:hostName>ns1.example.net</domain:hostName></domain:hostAttr><domain:hostAttr><domain:hostName>ns2.example.net</domain:hostName></domain:hostAttr></domain:ns><domain:registrant>{c}</domain:registrant><domain:contact type=\"admin\">{c}</domain:contact><domain:contact type=\"tech\">{c}</domain:contact><domain:authInfo><domain:pw/></domain:authInfo></domain:create></create><clTRID>{trid}</clTRID></command></epp>"
            )
        }
        _ => {
            let r = next(&mut s.rng);
            let name = &ctx.own_name(s.registrar, r).ascii;
            format!(
                "{E}<command><info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:info></info><clTRID>{trid}</clTRID></command></epp>"
            )
        }
    }
}

/// The first `clients` sessions send `kind` commands, one at a time, for `secs`; every session
/// still connected comes back.
async fn drive_epp(
    mut sessions: Vec<Session>,
    ctx: Arc<Ctx>,
    kind: Kind,
    clients: usize,
    secs: f64,
    pid: u32,
) -> (Vec<Session>, Outcome) {
    let mut idle = sessions.split_off(clients.min(sessions.len()));
    let cpu0 = cpu_now(pid);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for mut s in sessions {
        let ctx = ctx.clone();
        tasks.spawn(async move {
            let mut out = ClientOut::default();
            while Instant::now() < deadline {
                let body = epp_command(&mut s, kind, &ctx);
                let t0 = Instant::now();
                let io = async {
                    send_frame(&mut s.tls, &body, &mut s.out).await?;
                    recv_frame(&mut s.tls, &mut s.buf).await
                }
                .await;
                if let Err(e) = io {
                    out.fail(kind, format!("session {}: {e}", s.index));
                    return (None, out);
                }
                if result_code(&s.buf) == Some(1000) {
                    out.ok(kind, t0);
                } else {
                    let why = describe(&format!("{} session {}", kind.label(), s.index), &s.buf);
                    out.fail(kind, why);
                }
            }
            (Some(s), out)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (s, out) = r.unwrap();
        idle.extend(s);
        results.push(out);
    }
    let out = finish(Outcome { clients, ..Outcome::default() }, results, start, cpu0, pid);
    idle.sort_by_key(|s| s.index);
    (idle, out)
}

// --- reference servers -----------------------------------------------------------------------

fn frame_file(path: &str) -> &'static [u8] {
    let text = std::fs::read(path).unwrap();
    let mut f = ((text.len() + 4) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&text);
    Box::leak(f.into_boxed_slice())
}

/// `--ref-whois ANSWER`: reads a line, writes ANSWER's bytes, closes.
fn ref_whois(args: &[String]) {
    let [answer] = args else { panic!("--ref-whois ANSWER") };
    let answer: &'static [u8] = Box::leak(std::fs::read(answer).unwrap().into_boxed_slice());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", l.local_addr().unwrap());
        loop {
            let Ok((mut s, _)) = l.accept().await else { continue };
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut buf = [0u8; 512];
                let mut n = 0;
                while n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => {
                            n += k;
                            if buf[..n].contains(&b'\n') {
                                break;
                            }
                        }
                    }
                }
                let _ = s.write_all(answer).await;
                let _ = s.shutdown().await;
            });
        }
    });
}

/// `--ref-http RDAP API`: a minimal axum server answering every RDAP domain lookup with RDAP's
/// bytes and every API domain read with API's.
fn ref_http(args: &[String]) {
    let [rdap, api] = args else { panic!("--ref-http RDAP API") };
    let rdap: &'static [u8] = Box::leak(std::fs::read(rdap).unwrap().into_boxed_slice());
    let api: &'static [u8] = Box::leak(std::fs::read(api).unwrap().into_boxed_slice());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        use axum::http::header::CONTENT_TYPE;
        let app = axum::Router::new()
            .route(
                "/rdap/domain/{name}",
                axum::routing::get(move || async move { ([(CONTENT_TYPE, "application/rdap+json")], rdap) }),
            )
            .route(
                "/api/v1/domains/{name}",
                axum::routing::get(move || async move { ([(CONTENT_TYPE, "application/json")], api) }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", l.local_addr().unwrap());
        axum::serve(l, app).await.unwrap();
    });
}

/// `--ref-epp CERT KEY CA GREETING ANSWER`: TLS with a client certificate required (checked
/// against CA), the greeting, then ANSWER to every frame.
fn ref_epp(args: &[String]) {
    let [cert, key, ca, greeting, answer] = args else { panic!("--ref-epp CERT KEY CA GREETING ANSWER") };
    let (greeting, answer) = (frame_file(greeting), frame_file(answer));
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

/// The answer of median size among `answers` (so that the reference sends what nicbox typically
/// sends).
fn median_answer(mut answers: Vec<Vec<u8>>) -> Vec<u8> {
    answers.sort_by_key(|a| a.len());
    answers.swap_remove(answers.len() / 2)
}

/// Real nicbox answers to copy: (WHOIS answer, RDAP body, API body).
async fn sample_answers(ctx: &Ctx, l: Listeners) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut whois, mut rdap, mut api) = (Vec::new(), Vec::new(), Vec::new());
    let mut buf = Vec::new();
    let mut req = Vec::new();
    let mut s = connect_http(l.http).await.unwrap();
    let mut rng = seed(999);
    for _ in 0..51 {
        let n = ctx.any_name(next(&mut rng));
        let q = format!("{}\r\n", n.query);
        whois_query(l.whois, q.as_bytes(), &mut buf).await.unwrap_or_else(|e| panic!("WHOIS {}: {e}", n.query));
        whois.push(buf.clone());
        get_request(&mut req, &format!("/rdap/domain/{}", n.ascii), "application/rdap+json", None);
        let (st, body, _) = http_exchange(&mut s, &req, &mut buf).await.unwrap();
        assert_eq!(st, 200, "RDAP {}: {}", n.ascii, snippet(&buf[body..]));
        rdap.push(buf[body..].to_vec());
        let own = ctx.own_name(0, next(&mut rng));
        get_request(
            &mut req,
            &format!("/api/v1/domains/{}", own.ascii),
            "application/json",
            Some(&ctx.regs[0].api_key),
        );
        let (st, body, _) = http_exchange(&mut s, &req, &mut buf).await.unwrap();
        assert_eq!(st, 200, "API GET {}: {}", own.ascii, snippet(&buf[body..]));
        api.push(buf[body..].to_vec());
    }
    (median_answer(whois), median_answer(rdap), median_answer(api))
}

/// nicbox's greeting and a real info answer of median size.
async fn sample_epp(ctx: &Ctx, addr: SocketAddr) -> (String, Vec<u8>) {
    let (mut s, greeting) = connect_login(addr, ctx, 0, 100_000).await.unwrap_or_else(|e| panic!("EPP login: {e}"));
    let mut answers = Vec::new();
    for _ in 0..21 {
        let body = epp_command(&mut s, Kind::EppInfo, ctx);
        send_frame(&mut s.tls, &body, &mut s.out).await.unwrap();
        recv_frame(&mut s.tls, &mut s.buf).await.unwrap();
        assert_eq!(result_code(&s.buf), Some(1000), "{}", describe("info", &s.buf));
        answers.push(s.buf.clone());
    }
    logout(s).await.unwrap();
    (greeting, median_answer(answers))
}

// --- the report ------------------------------------------------------------------------------

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

/// 12345.6 → "12,346".
fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

struct Cell {
    section: Section,
    reference: bool,
    clients: usize,
    out: Outcome,
}

impl Cell {
    fn rate(&self, s: &Stats) -> f64 {
        s.lat.len() as f64 / self.out.secs.max(1e-9)
    }
}

const PERCENTILES: [f64; 9] = [0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0];

fn stats_json(cell: &Cell, s: &Stats, curve: bool) -> Value {
    let mut v = json!({
        "requests": s.lat.len(),
        "per_second": round(cell.rate(s), 1),
        "p50_ms": pct(&s.lat, 0.5),
        "p99_ms": pct(&s.lat, 0.99),
        "p999_ms": pct(&s.lat, 0.999),
        "max_ms": pct(&s.lat, 1.0),
        "errors": s.errors,
    });
    if curve {
        v["percentiles_ms"] = PERCENTILES.iter().map(|&p| json!([p, pct(&s.lat, p)])).collect();
    }
    v
}

struct Report<'a> {
    o: &'a Opts,
    cells: &'a [Cell],
}

impl Report<'_> {
    fn find(&self, section: Section, reference: bool, clients: usize) -> Option<&Cell> {
        self.cells.iter().find(|c| c.section == section && c.reference == reference && c.clients == clients)
    }

    /// (throughput ratio, p99 ratio) of nicbox over the reference in the same cell.
    fn ratios(&self, c: &Cell) -> Option<(f64, f64)> {
        let r = self.find(c.section, true, c.clients)?;
        let (a, b) = (c.out.total(), r.out.total());
        Some((c.rate(&a) / r.rate(&b).max(1e-9), pct(&a.lat, 0.99) / pct(&b.lat, 0.99).max(1e-3)))
    }

    fn top(&self) -> usize {
        *self.o.levels.iter().max().unwrap()
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

/// The target line of a section (at the highest concurrency), and whether it was met.
fn target_line(rep: &Report, section: Section) -> Option<(String, bool)> {
    let top = rep.top();
    let c = rep.find(section, false, top)?;
    let total = c.out.total();
    match section {
        Section::Whois => {
            let (tr, pr) = rep.ratios(c)?;
            let ok = tr >= WHOIS_RATIO_TARGET && pr <= WHOIS_P99_TARGET;
            Some((
                format!(
                    "Targets ({top} clients): throughput ≥ {WHOIS_RATIO_TARGET}× the trivial responder: {tr:.2}, {}; p99 ≤ {WHOIS_P99_TARGET}× its p99: {pr:.2}×, {}.",
                    met(tr >= WHOIS_RATIO_TARGET),
                    met(pr <= WHOIS_P99_TARGET)
                ),
                ok,
            ))
        }
        Section::Rdap => {
            let (tr, _) = rep.ratios(c)?;
            Some((
                format!(
                    "Target ({top} clients): throughput ≥ {RDAP_RATIO_TARGET}× the minimal server: {tr:.2}, {}.",
                    met(tr >= RDAP_RATIO_TARGET)
                ),
                tr >= RDAP_RATIO_TARGET,
            ))
        }
        Section::ApiCreate | Section::EppCreate => {
            let r = c.rate(&total);
            Some((
                format!(
                    "Target ({top} clients): ≥ {} durable creates/s: {}, {}.",
                    thousands(CREATE_TARGET),
                    thousands(r),
                    met(r >= CREATE_TARGET)
                ),
                r >= CREATE_TARGET,
            ))
        }
        _ => None,
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") }
}

fn markdown(rep: &Report, head: &[String]) -> String {
    let mut md = String::new();
    md.push_str("## nicbox load harness (`cargo bench --bench load`)\n\n");
    for h in head {
        md.push_str(&format!("{h}\n"));
    }
    for &section in &SECTIONS {
        let cells: Vec<&Cell> = rep.cells.iter().filter(|c| c.section == section).collect();
        if cells.is_empty() {
            continue;
        }
        md.push_str(&format!("\n### {}\n\n", section.title()));
        if let Some(r) = section.reference() {
            md.push_str(&format!("Reference: {r}.\n\n"));
        }
        let has_ref = section.reference().is_some();
        let creates = section.creates();
        let mut cols = vec![
            "clients",
            "server",
            "requests",
            "per s",
            "p50 ms",
            "p99 ms",
            "p999 ms",
            "errors",
            "cpu server / client / other",
        ];
        if section == Section::Mixed {
            cols[1] = "kind";
        }
        if has_ref {
            cols.extend(["nicbox/ref per s", "nicbox/ref p99"]);
        }
        if creates {
            cols.extend(["commits", "cmds/commit"]);
        }
        md.push_str(&format!("| {} |\n", cols.join(" | ")));
        md.push_str(&format!(
            "|{}\n",
            cols.iter().map(|c| if matches!(*c, "server" | "kind") { "---|" } else { "--:|" }).collect::<String>()
        ));
        let mut sorted = cells.clone();
        sorted.sort_by_key(|c| (c.clients, c.reference));
        for c in sorted {
            let mut rows: Vec<(String, Stats, bool)> = Vec::new();
            if section == Section::Mixed {
                for k in ALL_KINDS.iter().filter(|k| section.weights()[**k as usize] > 0) {
                    rows.push((k.label().to_string(), c.out.kinds[*k as usize].clone(), false));
                }
                rows.push(("**total**".to_string(), c.out.total(), true));
            } else {
                rows.push(((if c.reference { "reference" } else { "nicbox" }).to_string(), c.out.total(), true));
            }
            for (label, s, whole) in rows {
                let mut v = vec![
                    c.clients.to_string(),
                    label,
                    thousands(s.lat.len() as f64),
                    thousands(c.rate(&s)),
                    ms(pct(&s.lat, 0.5)),
                    ms(pct(&s.lat, 0.99)),
                    ms(pct(&s.lat, 0.999)),
                    s.errors.to_string(),
                    if whole {
                        format!(
                            "{:.2} / {:.2} / {:.2}",
                            c.out.cores(c.out.server_cpu),
                            c.out.cores(c.out.client_cpu),
                            c.out.cores(c.out.other_cpu())
                        )
                    } else {
                        String::new()
                    },
                ];
                if has_ref {
                    match rep.ratios(c).filter(|_| !c.reference) {
                        Some((t, p)) => v.extend([format!("{t:.2}"), format!("{p:.2}×")]),
                        None => v.extend([String::new(), String::new()]),
                    }
                }
                if creates {
                    match c.out.writer.filter(|_| whole) {
                        Some((commits, commands)) => v.extend([
                            thousands(commits as f64),
                            format!("{:.1}", commands as f64 / commits.max(1) as f64),
                        ]),
                        None => v.extend([String::new(), String::new()]),
                    }
                }
                md.push_str(&format!("| {} |\n", v.join(" | ")));
            }
        }
        if let Some((line, _)) = target_line(rep, section) {
            md.push_str(&format!("\n{line}\n"));
        }
    }
    md
}

type Points = Vec<(f64, f64)>;

fn color(i: usize) -> RGBColor {
    const C: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    C[i % C.len()]
}

/// A linear axis whose ticks are the given points only (concurrency levels, percentiles).
struct KeyAxis {
    lo: f64,
    hi: f64,
    keys: Vec<f64>,
}

impl Ranged for KeyAxis {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.lo) / (self.hi - self.lo).max(1e-12);
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<H: plotters::coord::ranged1d::KeyPointHint>(&self, _: H) -> Vec<f64> {
        self.keys.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

#[allow(clippy::too_many_arguments)]
fn plot(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    x_range: (f64, f64),
    x_keys: Vec<f64>,
    x_fmt: &dyn Fn(&f64) -> String,
    series: &[(String, Points)],
) -> Result<(), Box<dyn std::error::Error>> {
    let y_max = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y)).fold(0.0f64, f64::max).max(1e-3) * 1.15;
    let root = SVGBackend::new(path, (760, 460)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(KeyAxis { lo: x_range.0, hi: x_range.1, keys: x_keys }, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .max_light_lines(1)
        .x_label_formatter(x_fmt)
        .y_label_formatter(&|y| if y_max >= 20.0 { thousands(*y) } else { format!("{y:.2}") })
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)).point_size(if points.len() < 10 {
                4
            } else {
                0
            }))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// `throughput-KEY.svg` and `latency-KEY.svg` for each section measured; the files written.
fn plots(rep: &Report) -> Vec<PathBuf> {
    let mut written = Vec::new();
    let top = rep.top();
    for &section in &SECTIONS {
        if !rep.cells.iter().any(|c| c.section == section) {
            continue;
        }
        // (label, reference?, kind or None for the total)
        let mut lines: Vec<(String, bool, Option<Kind>)> = vec![("nicbox".into(), false, None)];
        if section.reference().is_some() {
            lines.push(("reference".into(), true, None));
        }
        if section == Section::Mixed {
            lines[0].0 = "nicbox, total".into();
            for k in ALL_KINDS.iter().filter(|k| section.weights()[**k as usize] > 0) {
                lines.push((format!("nicbox, {}", k.label()), false, Some(*k)));
            }
        }
        let stats = |c: &Cell, k: Option<Kind>| match k {
            Some(k) => c.out.kinds[k as usize].clone(),
            None => c.out.total(),
        };
        let mut tput = Vec::new();
        let mut lat = Vec::new();
        for (label, reference, kind) in &lines {
            let mut pts = Vec::new();
            for &n in &rep.o.levels {
                if let Some(c) = rep.find(section, *reference, n) {
                    pts.push(((n as f64).log2(), c.rate(&stats(c, *kind))));
                }
            }
            tput.push((label.clone(), pts));
            if let Some(c) = rep.find(section, *reference, top) {
                let s = stats(c, *kind);
                if !s.lat.is_empty() {
                    let curve: Points = (0..=270)
                        .map(|i| {
                            let x = std::f64::consts::LOG10_2 + (3.0 - std::f64::consts::LOG10_2) * i as f64 / 270.0;
                            (x, pct(&s.lat, 1.0 - 10f64.powf(-x)))
                        })
                        .collect();
                    lat.push((label.clone(), curve));
                }
            }
        }
        let levels: Vec<f64> = rep.o.levels.iter().map(|&n| (n as f64).log2()).collect();
        let (lo, hi) =
            (levels.iter().copied().fold(f64::MAX, f64::min), levels.iter().copied().fold(f64::MIN, f64::max));
        let pad = ((hi - lo) * 0.06).max(0.25);
        let p = rep.o.out.join(format!("throughput-{}.svg", section.key()));
        let title = format!("{}: requests/s by concurrent clients", section.key());
        let fmt_clients = |x: &f64| format!("{:.0}", 2f64.powf(*x));
        match plot(
            &p,
            &title,
            "concurrent clients",
            "requests per second",
            (lo - pad, hi + pad),
            levels.clone(),
            &fmt_clients,
            &tput,
        ) {
            Ok(()) => written.push(p),
            Err(e) => eprintln!("load: {}: {e}", p.display()),
        }
        if !lat.is_empty() {
            let p = rep.o.out.join(format!("latency-{}.svg", section.key()));
            let title = format!("{}: latency percentiles at {top} clients", section.key());
            let fmt_pct = |x: &f64| {
                let q = 100.0 * (1.0 - 10f64.powf(-x));
                let t = format!("{q:.1}");
                format!("p{}", t.strip_suffix(".0").unwrap_or(&t))
            };
            let keys = vec![std::f64::consts::LOG10_2, 1.0, 2.0, 3.0];
            match plot(&p, &title, "percentile", "latency ms", (std::f64::consts::LOG10_2, 3.0), keys, &fmt_pct, &lat) {
                Ok(()) => written.push(p),
                Err(e) => eprintln!("load: {}: {e}", p.display()),
            }
        }
    }
    written
}

// --- the run ---------------------------------------------------------------------------------

fn print_cell(c: &Cell) {
    let s = c.out.total();
    println!(
        "  {:<10} {:<9} {:>3} clients {:>9}/s  p50 {:>7} p99 {:>7} p999 {:>7} ms  errors {}  cpu {:.2}/{:.2}/{:.2}{}",
        c.section.key(),
        if c.reference { "reference" } else { "nicbox" },
        c.clients,
        thousands(c.rate(&s)),
        ms(pct(&s.lat, 0.5)),
        ms(pct(&s.lat, 0.99)),
        ms(pct(&s.lat, 0.999)),
        s.errors,
        c.out.cores(c.out.server_cpu),
        c.out.cores(c.out.client_cpu),
        c.out.cores(c.out.other_cpu()),
        c.out.writer.map_or(String::new(), |(a, b)| format!("  {:.1} cmds/commit", b as f64 / a.max(1) as f64)),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    for (flag, f) in [("--ref-whois", ref_whois as fn(&[String])), ("--ref-http", ref_http), ("--ref-epp", ref_epp)] {
        if let Some(i) = args.iter().position(|a| a == flag) {
            f(&args[i + 1..]);
            return;
        }
    }
    let code = run();
    std::process::exit(code);
}

/// The whole run; every child process is stopped before it returns (or on unwind).
fn run() -> i32 {
    let o = Opts::from_env();
    std::fs::create_dir_all(&o.out).unwrap();
    // Plots of an earlier run would pass for this one's.
    for e in std::fs::read_dir(&o.out).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".svg") && (name.starts_with("throughput-") || name.starts_with("latency-")) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let started_at = now_rfc3339();
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_avg: Vec<&str> = load_avg.split_whitespace().take(3).collect();
    let data = ensure_data(&o);
    top_up(&data.config, &data.regs);
    let ctx = Arc::new(load_ctx(&data));
    let db_bytes_start = file_size(&data.dir.join("state/nicbox.redb"));
    let disk = fsync_probe(&data.dir, if o.quick { 0.3 } else { 1.0 });
    println!(
        "load: {} names sampled over {} registrars; rounds of {}s, {} per side, clients {:?}; disk fsync p50 {:.2} ms",
        ctx.names.len(),
        ctx.regs.len(),
        o.secs,
        o.rounds,
        o.levels,
        pct(&disk, 0.5)
    );

    // Cold starts: the last one stays up for the load.
    let starts = if o.selected("start") { 3 } else { 1 };
    let mut cold = Vec::new();
    let mut server = None;
    for i in 0..starts {
        if o.drop_caches {
            // SAFETY: sync takes no arguments and cannot fail.
            unsafe { libc::sync() };
            if let Err(e) = std::fs::write("/proc/sys/vm/drop_caches", "3") {
                eprintln!("load: cannot drop the page cache: {e}");
            }
        }
        let (p, l, took) = start_nicbox(&data.config);
        println!("load: cold start {}: {took:.3}s (VmRSS {:.1} MiB)", i + 1, memory_kib(p.pid()).0 as f64 / 1024.0);
        cold.push(took);
        if i + 1 < starts {
            p.stop();
        } else {
            server = Some((p, l));
        }
    }
    let (nb, l) = server.unwrap();
    let pid = nb.pid();
    let rss_start = memory_kib(pid).0;
    let mut rss_after: Vec<(String, u64)> = Vec::new();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let selected: Vec<Section> = SECTIONS.iter().copied().filter(|s| o.selected(s.key())).collect();

    // Copies of real answers for the references, and the references.
    let refdir = o.out.join("reference");
    std::fs::create_dir_all(&refdir).unwrap();
    let mut answer_bytes = serde_json::Map::new();
    let mut refs: Vec<Proc> = Vec::new();
    let (mut whois_ref, mut http_ref, mut epp_ref) = (None, None, None);
    let any = |ss: &[Section]| ss.iter().any(|s| selected.contains(s));
    if any(&[Section::Whois, Section::Rdap, Section::ApiRead]) {
        let (w, r, a) = rt.block_on(sample_answers(&ctx, l));
        answer_bytes.insert("whois".into(), json!(w.len()));
        answer_bytes.insert("rdap".into(), json!(r.len()));
        answer_bytes.insert("api_read".into(), json!(a.len()));
        let (wp, rp, ap) = (refdir.join("whois.txt"), refdir.join("rdap.json"), refdir.join("api.json"));
        std::fs::write(&wp, &w).unwrap();
        std::fs::write(&rp, &r).unwrap();
        std::fs::write(&ap, &a).unwrap();
        if selected.contains(&Section::Whois) {
            let (p, a) = start_reference("--ref-whois", &[wp.to_str().unwrap()], "reference WHOIS responder");
            whois_ref = Some(Target { pid: p.pid(), whois: Some(a), http: None });
            refs.push(p);
        }
        if any(&[Section::Rdap, Section::ApiRead]) {
            let (p, a) =
                start_reference("--ref-http", &[rp.to_str().unwrap(), ap.to_str().unwrap()], "reference HTTP server");
            http_ref = Some(Target { pid: p.pid(), whois: None, http: Some(a) });
            refs.push(p);
        }
    }
    if selected.contains(&Section::EppInfo) {
        let (greeting, answer) = rt.block_on(sample_epp(&ctx, l.epp));
        answer_bytes.insert("epp_info".into(), json!(answer.len()));
        let (gp, ap) = (refdir.join("epp-greeting.xml"), refdir.join("epp-info.xml"));
        std::fs::write(&gp, greeting).unwrap();
        std::fs::write(&ap, answer).unwrap();
        let e = &data.creds["epp"];
        let path = |k: &str| data.dir.join(e[k].as_str().unwrap()).to_str().unwrap().to_string();
        let (p, a) = start_reference(
            "--ref-epp",
            &[&path("server_cert"), &path("server_key"), &path("ca_cert"), gp.to_str().unwrap(), ap.to_str().unwrap()],
            "reference EPP server",
        );
        epp_ref = Some((p.pid(), a));
        refs.push(p);
    }

    let nb_target = Target { pid, whois: Some(l.whois), http: Some(l.http) };
    let top = *o.levels.iter().max().unwrap();
    let mut cells: Vec<Cell> = Vec::new();
    let (mut nb_sessions, mut ref_sessions): (Vec<Session>, Vec<Session>) = (Vec::new(), Vec::new());
    for (si, &section) in selected.iter().enumerate() {
        println!("load: {} ...", section.key());
        let reference: Option<Target> = match section {
            Section::Whois => whois_ref,
            Section::Rdap | Section::ApiRead => http_ref,
            Section::EppInfo => epp_ref.map(|(p, _)| Target { pid: p, whois: None, http: None }),
            _ => None,
        };
        let warm_n = top.min(16);
        if section.epp() {
            let kind = if section == Section::EppInfo { Kind::EppInfo } else { Kind::EppCreate };
            rt.block_on(top_up_sessions(l.epp, &ctx, &mut nb_sessions, top));
            if let Some((_, a)) = epp_ref {
                rt.block_on(top_up_sessions(a, &ctx, &mut ref_sessions, top));
            }
            let (ss, _) = rt.block_on(drive_epp(nb_sessions, ctx.clone(), kind, warm_n, o.warm, pid));
            nb_sessions = ss;
            if let Some(r) = reference {
                let (ss, _) = rt.block_on(drive_epp(ref_sessions, ctx.clone(), kind, warm_n, o.warm, r.pid));
                ref_sessions = ss;
            }
            for &n in &o.levels {
                let (mut a, mut b) = (Outcome::default(), Outcome::default());
                for _ in 0..o.rounds {
                    rt.block_on(top_up_sessions(l.epp, &ctx, &mut nb_sessions, top));
                    let w0 = section.creates().then(|| writer_metrics(l.http));
                    let (ss, mut out) = rt.block_on(drive_epp(nb_sessions, ctx.clone(), kind, n, o.secs, pid));
                    nb_sessions = ss;
                    if let Some(w0) = w0 {
                        let w1 = writer_metrics(l.http);
                        out.writer = Some((w1.0 - w0.0, w1.1 - w0.1));
                    }
                    a.add(out);
                    if let (Some(r), Some((_, addr))) = (reference, epp_ref) {
                        rt.block_on(top_up_sessions(addr, &ctx, &mut ref_sessions, top));
                        let (ss, out) = rt.block_on(drive_epp(ref_sessions, ctx.clone(), kind, n, o.secs, r.pid));
                        ref_sessions = ss;
                        b.add(out);
                    }
                }
                cells.push(Cell { section, reference: false, clients: n, out: a });
                print_cell(cells.last().unwrap());
                if reference.is_some() {
                    cells.push(Cell { section, reference: true, clients: n, out: b });
                    print_cell(cells.last().unwrap());
                }
            }
            // Sessions are closed once no EPP section follows.
            if !selected[si + 1..].iter().any(|s| s.epp()) {
                rt.block_on(async {
                    for s in nb_sessions.drain(..).chain(ref_sessions.drain(..)) {
                        if let Err(e) = logout(s).await {
                            eprintln!("load: EPP {e}");
                        }
                    }
                });
            }
        } else {
            let w = section.weights();
            rt.block_on(drive_plain(ctx.clone(), nb_target, w, warm_n, o.warm));
            if let Some(r) = reference {
                rt.block_on(drive_plain(ctx.clone(), r, w, warm_n, o.warm));
            }
            for &n in &o.levels {
                let (mut a, mut b) = (Outcome::default(), Outcome::default());
                for _ in 0..o.rounds {
                    let w0 = section.creates().then(|| writer_metrics(l.http));
                    let mut out = rt.block_on(drive_plain(ctx.clone(), nb_target, w, n, o.secs));
                    if let Some(w0) = w0 {
                        let w1 = writer_metrics(l.http);
                        out.writer = Some((w1.0 - w0.0, w1.1 - w0.1));
                    }
                    a.add(out);
                    if let Some(r) = reference {
                        b.add(rt.block_on(drive_plain(ctx.clone(), r, w, n, o.secs)));
                    }
                }
                cells.push(Cell { section, reference: false, clients: n, out: a });
                print_cell(cells.last().unwrap());
                if reference.is_some() {
                    cells.push(Cell { section, reference: true, clients: n, out: b });
                    print_cell(cells.last().unwrap());
                }
            }
        }
        rss_after.push((section.key().to_string(), memory_kib(pid).0));
    }
    let (rss_end, hwm) = memory_kib(pid);
    for p in refs {
        p.stop();
    }
    nb.stop();
    let db_bytes_now = file_size(&data.dir.join("state/nicbox.redb"));
    let created: usize = cells
        .iter()
        .filter(|c| !c.reference)
        .map(|c| c.out.kinds[Kind::ApiCreate as usize].lat.len() + c.out.kinds[Kind::EppCreate as usize].lat.len())
        .sum();

    // The report.
    let rep = Report { o: &o, cells: &cells };
    let c = &data.creds;
    let domains = c["domains"].as_u64().unwrap_or(0);
    let mut sorted_cold = cold.clone();
    sorted_cold.sort_by(f64::total_cmp);
    let cold_median = sorted_cold[sorted_cold.len() / 2];
    let mut targets = Vec::new();
    targets.push(json!({"name": "cold start median <= 2 s", "value": round(cold_median, 3), "met": cold_median <= COLD_START_TARGET}));
    targets.push(json!({"name": "RSS (VmHWM) <= 512 MiB", "value_mib": round(hwm as f64 / 1024.0, 1), "met": (hwm as f64 / 1024.0) <= RSS_TARGET_MIB}));
    for &s in &SECTIONS {
        if let Some((line, ok)) = target_line(&rep, s) {
            targets.push(json!({"name": s.key(), "text": line, "met": ok}));
        }
    }
    let mut head = Vec::new();
    head.push(format!(
        "Run {started_at} ({}): {} domains in `{}`; rounds of {} s, {} per side (alternating with the reference where there is one) after {} s of warm-up; clients {}; load average at start {}; {} CPUs.",
        if o.quick { "quick" } else { "full" },
        thousands(domains as f64),
        data.dir.display(),
        o.secs,
        o.rounds,
        o.warm,
        o.levels.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/"),
        load_avg.join(" "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    ));
    head.push(String::new());
    let db_import = c["db_bytes_after_import"].as_u64().unwrap_or(0);
    head.push(format!(
        "- Data: import {} s ({} domains/s{}); database {:.1} MiB after the import, {} B per domain. This run: {:.1} → {:.1} MiB over {} creates (measured cells only{}).",
        c["import_seconds"],
        thousands(c["import_per_second"].as_f64().unwrap_or(0.0)),
        if data.built_now { ", this run" } else { ", when the directory was built" },
        db_import as f64 / MIB,
        thousands(db_import as f64 / domains.max(1) as f64),
        db_bytes_start as f64 / MIB,
        db_bytes_now as f64 / MIB,
        thousands(created as f64),
        if created > 0 {
            format!("; {} B per create", thousands(db_bytes_now.saturating_sub(db_bytes_start) as f64 / created as f64))
        } else {
            String::new()
        },
    ));
    head.push(format!(
        "- Cold start (spawn to the last `listening` line; page cache {}): {} s, median {:.3} s (target ≤ {COLD_START_TARGET} s: {}).",
        if o.drop_caches { "dropped before each" } else { "warm" },
        cold.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(" / "),
        cold_median,
        met(cold_median <= COLD_START_TARGET)
    ));
    head.push(format!(
        "- Memory: VmRSS {:.1} MiB after start{}; VmHWM {:.1} MiB at the end (target ≤ {RSS_TARGET_MIB:.0} MiB: {}).",
        rss_start as f64 / 1024.0,
        rss_after.iter().map(|(k, v)| format!(", {:.1} after {k}", *v as f64 / 1024.0)).collect::<String>(),
        hwm as f64 / 1024.0,
        met(hwm as f64 / 1024.0 <= RSS_TARGET_MIB)
    ));
    head.push(format!(
        "- Disk floor (4 KiB append + fdatasync in the data directory, one after the other): p50 {:.2} ms, p99 {:.2} ms.",
        pct(&disk, 0.5),
        pct(&disk, 0.99)
    ));
    head.push(format!(
        "- Answers copied by the references (bytes): {}. CPU in cores: the server's (nicbox or the reference), this load generator's, and the rest of the machine's.",
        if answer_bytes.is_empty() {
            "none".to_string()
        } else {
            answer_bytes.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        }
    ));
    let md = markdown(&rep, &head);
    let cells_json: Vec<Value> = cells
        .iter()
        .map(|cell| {
            let curve = cell.clients == top;
            let mut v = json!({
                "protocol": cell.section.key(),
                "server": if cell.reference { "reference" } else { "nicbox" },
                "clients": cell.clients,
                "seconds": round(cell.out.secs, 3),
                "total": stats_json(cell, &cell.out.total(), curve),
                "server_cpu_cores": round(cell.out.cores(cell.out.server_cpu), 2),
                "client_cpu_cores": round(cell.out.cores(cell.out.client_cpu), 2),
                "other_cpu_cores": round(cell.out.cores(cell.out.other_cpu()), 2),
                "error_samples": cell.out.samples,
            });
            if cell.section == Section::Mixed {
                let mut kinds = serde_json::Map::new();
                for k in ALL_KINDS.iter().filter(|k| MIXED[**k as usize] > 0) {
                    kinds.insert(k.label().replace(' ', "_"), stats_json(cell, &cell.out.kinds[*k as usize], curve));
                }
                v["kinds"] = Value::Object(kinds);
            }
            if let Some((t, p)) = rep.ratios(cell).filter(|_| !cell.reference) {
                v["ratio_throughput"] = json!(round(t, 3));
                v["ratio_p99"] = json!(round(p, 3));
            }
            if let Some((commits, commands)) = cell.out.writer {
                v["writer_commits"] = json!(commits);
                v["writer_commands"] = json!(commands);
                v["commands_per_commit"] = json!(round(commands as f64 / commits.max(1) as f64, 2));
            }
            v
        })
        .collect();
    let errors: usize = cells.iter().map(|c| c.out.errors()).sum();
    let mut data_json = c.clone();
    if let Some(m) = data_json.as_object_mut() {
        m.remove("registrars");
        m.remove("epp");
        m.insert("dir".into(), json!(data.dir.display().to_string()));
        m.insert("db_bytes_run_start".into(), json!(db_bytes_start));
        m.insert("db_bytes_run_end".into(), json!(db_bytes_now));
        m.insert("creates_this_run".into(), json!(created));
        m.insert("built_this_run".into(), json!(data.built_now));
        m.insert("sampled_names".into(), json!(ctx.names.len()));
    }
    let report = json!({
        "bench": "load",
        "started_at": started_at,
        "quick": o.quick,
        "round_seconds": o.secs,
        "rounds_per_side": o.rounds,
        "warm_up_seconds": o.warm,
        "clients": o.levels,
        "load_average_at_start": load_avg.join(" "),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "data": data_json,
        "disk_fsync_ms": {"count": disk.len(), "p50": pct(&disk, 0.5), "p99": pct(&disk, 0.99)},
        "cold_start_seconds": cold.iter().map(|t| round(*t, 3)).collect::<Vec<_>>(),
        "cold_start_median_seconds": round(cold_median, 3),
        "page_cache_dropped": o.drop_caches,
        "memory_kib": {
            "after_start": rss_start,
            "after": rss_after.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "at_end": rss_end,
            "hwm": hwm,
        },
        "answer_bytes": answer_bytes,
        "mixed_weights": {"whois": MIXED[0], "rdap": MIXED[1], "api_read": MIXED[2], "api_create": MIXED[3]},
        "cells": cells_json,
        "targets": targets,
        "errors": errors,
    });
    let json_path = o.out.join("results.json");
    let md_path = o.out.join("results.md");
    std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap() + "\n").unwrap();
    std::fs::write(&md_path, &md).unwrap();
    let svgs = plots(&rep);
    println!("\n{md}");
    println!(
        "load: wrote {}, {} and {} plots in {}",
        json_path.display(),
        md_path.display(),
        svgs.len(),
        o.out.display()
    );
    if errors > 0 {
        for c in &cells {
            for s in &c.out.samples {
                eprintln!(
                    "  error ({} {} {} clients): {s}",
                    c.section.key(),
                    if c.reference { "reference" } else { "nicbox" },
                    c.clients
                );
            }
        }
        eprintln!("load: {errors} requests failed");
        return 1;
    }
    0
}
