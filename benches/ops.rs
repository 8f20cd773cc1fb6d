//! Operations figures for issue 15 ("At .pt scale: two million domains"): `cargo bench --bench ops`.
//!
//! What an operator runs on a registry of 2,000,000 domains, each run as the operator runs it (the
//! release binary, `target/release/nicbox`), with its exact command recorded beside its figures.
//! It works on a scratch copy (`target/ops/scratch/`) of the data directory that `benches/load.rs`
//! builds, so that load.rs's own figures stay comparable from run to run; the copy (`cp
//! --reflink=auto`, or `nicbox backup` of the source when a server runs on it) is timed too, and its
//! configuration is load.rs's with `clock = "lab"`, a `[zone]` (published on demand only), `[dns]`
//! with a TSIG key and one `[[dns.secondary]]`, and no `[epp]`.
//!
//! 1. **Zone export** (server stopped): `nicbox zone export --config C --out DIR`, the first
//!    publication and an unchanged re-run; wall time, peak RSS and CPU from `wait4` (through a
//!    small middle process, as `benches/zone.rs` does, so the bench's own memory is not counted),
//!    the zone file's size, records and delegations. Target ≤ 6 s.
//! 2. **Backup and check** (server stopped): `nicbox backup --config C --out FILE` (time, size),
//!    `nicbox check --config C` and `nicbox check --config C --deep` (time, exit code, summary).
//! 3. **The hidden primary**: `nicbox serve` with `[dns] listen` on 127.0.0.1, then a fresh Knot
//!    (`knotd`) secondary on a loopback high port, timed from its start until it serves the
//!    published serial (polled with SOA queries over UDP every 20 ms; AXFR); then one nameserver
//!    change through the registrar API, `nicbox zone export --config C` beside the server (through
//!    its control socket; the publisher's interval is 0, on demand only; NOTIFY follows every
//!    publication) and the time until Knot serves the new serial (IXFR), split into API call,
//!    publication and NOTIFY + IXFR + Knot applying it.
//! 4. **Admin pages**: signed in through the login form (its CSRF token, the session cookie) as an
//!    `admin` user made with `nicbox user add`; a domain with a long history made first (200
//!    nameserver changes through `PATCH /api/v1/domains/NAME`); then every page of the admin UI,
//!    the dashboard, domain searches (a prefix, a U-label, a registrar, a status), two domain
//!    pages, the registrars, `reg01`'s page (half the domains), the queues, the zones, the query
//!    log, users, audit and clock pages, N requests each in round robin (after one cold request
//!    each; a page stops once its requests took a time budget in all, 60 s): p50 / p99 / max.
//!    Target ≤ 100 ms p99. Plot: `target/ops/admin-pages.svg` (p50, p99 and max per page).
//! 5. **The lifecycle job** on the lab clock: `POST /admin/api/clock/advance {"days": N}` moves
//!    registry time and runs the job inside the call, answering its report. A catch-up to the day
//!    before the dataset's peak day (the day with the most expiries, 10,000 more than any other:
//!    examples/dataset.rs `--peak-day`, 2027-03-15), in calls of at most 5 days (the HTTP request
//!    timeout is 15 s); the peak day (an advance of 2 days: whole days only move the clock, at the
//!    time of day it is, so one run covers the whole peak day only when it spans two); an
//!    ordinary day; and a run with nothing due (`POST /admin/api/lifecycle/run`). Each with its
//!    window of registry time, the domains the dataset has due in it, and the job's report.
//!
//! Written: `target/ops/results.json` and `target/ops/results.md` (markdown tables, targets
//! beside). Nothing is asserted on timings (a shared machine is not a test); the bench exits 1
//! when a step failed. Every server (nicbox, knotd) listens on 127.0.0.1 only and is stopped on
//! drop, panics included (SIGTERM, then SIGKILL; `PR_SET_PDEATHSIG` if the bench dies).
//!
//! Environment: `NICBOX_BENCH_QUICK=1` uses `target/load/data-20k` and 20 requests per page
//! (develop with it); `NICBOX_LOAD_DATA=DIR` another directory load.rs built (default
//! `target/load/data-2m`); `NICBOX_OPS_REQUESTS=N` requests per admin page (default 200);
//! `NICBOX_OPS_PAGE_BUDGET_SECS=S` the time budget of one page's requests (default 60, quick 20);
//! `NICBOX_OPS_KEEP=1` keeps the scratch copy (deleted at the end otherwise: at 2M it is the size
//! of the database).
//!
//! ```sh
//! NICBOX_BENCH_QUICK=1 cargo bench --bench load   # once: builds target/load/data-20k
//! NICBOX_BENCH_QUICK=1 cargo bench --bench ops    # 20,000 domains
//! cargo bench --bench load                        # once: builds target/load/data-2m (the import takes minutes)
//! cargo bench --bench ops                         # 2,000,000 domains
//! ```

#[path = "support/mod.rs"]
mod support;
use support::{child_command, strip_ansi};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use plotters::prelude::*;
use serde_json::{Value, json};

const MIB: f64 = 1024.0 * 1024.0;
const DAY: i64 = 86_400;
const ZONE_TARGET_SECS: f64 = 6.0;
const PAGE_TARGET_MS: f64 = 100.0;
/// The admin-UI user this bench creates in the copy.
const ADMIN_USER: &str = "opsadmin";
const TSIG_NAME: &str = "xfr";
/// Nameserver changes of the domain whose page shows a long history.
const HISTORY_UPDATES: usize = 200;
/// At most this many days per clock advance of the catch-up (each call must end within the
/// HTTP request timeout of 15 s).
const CATCH_UP_STEP_DAYS: i64 = 5;
/// How long a transfer or a server start may take before the bench gives up.
const WAIT: Duration = Duration::from_secs(1800);
const POLL: Duration = Duration::from_millis(20);
/// The last line `--measure` prints after the measured program's own output.
const MEASURED: &str = "@@measured";

// --- options and paths -----------------------------------------------------------------------

struct Opts {
    quick: bool,
    data: PathBuf,
    out: PathBuf,
    scratch: PathBuf,
    requests: usize,
    /// At most this long for the requests of one admin page.
    page_budget: Duration,
    keep: bool,
}

fn opts() -> Opts {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let quick = env("NICBOX_BENCH_QUICK").is_some();
    let out = target_dir().join("ops");
    let data = env("NICBOX_LOAD_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("load").join(if quick { "data-20k" } else { "data-2m" }));
    let data = std::path::absolute(&data).unwrap_or(data);
    let requests = env("NICBOX_OPS_REQUESTS")
        .map(|v| v.parse().expect("NICBOX_OPS_REQUESTS: a number"))
        .unwrap_or(if quick { 20 } else { 200 })
        .max(1);
    let page_budget = Duration::from_secs_f64(
        env("NICBOX_OPS_PAGE_BUDGET_SECS")
            .map(|v| v.parse().expect("NICBOX_OPS_PAGE_BUDGET_SECS: seconds"))
            .unwrap_or(if quick { 20.0 } else { 60.0 }),
    );
    Opts {
        quick,
        data,
        scratch: out.join("scratch"),
        out,
        requests,
        page_budget,
        keep: env("NICBOX_OPS_KEEP").is_some(),
    }
}

fn nicbox() -> PathBuf {
    // Cargo builds the package's binaries (in the bench's profile, release) and sets this.
    PathBuf::from(env!("CARGO_BIN_EXE_nicbox"))
}

/// The target directory: the one `nicbox` was built into (`target/release/nicbox`).
fn target_dir() -> PathBuf {
    let exe = nicbox();
    exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("target"))
}

/// A path as shown in the report: relative to the package when under it.
fn rel(s: &str) -> String {
    let root = format!("{}/", env!("CARGO_MANIFEST_DIR"));
    s.strip_prefix(&root).unwrap_or(s).to_string()
}

fn shown(p: &Path) -> String {
    rel(&p.display().to_string())
}

/// `nicbox ARGS` as a command line for the report.
fn command_line(args: &[String]) -> String {
    let mut s = String::from("nicbox");
    for a in args {
        s.push(' ');
        s.push_str(&rel(a));
    }
    s
}

/// A program from `PATH`, or from `/usr/sbin` or `/sbin` (where Debian puts knotd and knotc).
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

// --- processes -------------------------------------------------------------------------------

/// A started server, stopped on drop (SIGTERM, then SIGKILL after 30 s).
struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    /// Stops it; its exit code (None when killed or already reaped).
    fn stop(&mut self) -> Option<i32> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return st.code();
        }
        // SAFETY: signals our own child, not yet reaped (try_wait just said it runs).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("ops: {} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `nicbox ARGS` to its end: its standard output, or why it failed.
fn run_nicbox(args: &[String]) -> Result<String, String> {
    let out = Command::new(nicbox())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", command_line(args)))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{} failed ({}):\n{stdout}{}",
            command_line(args),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A finished command measured by `--measure`.
struct Measured {
    command: String,
    wall: f64,
    rss_kib: u64,
    cpu: f64,
    /// Cores the rest of the machine used meanwhile (busy CPU minus the command's own).
    other_cores: f64,
    code: i32,
    stdout: String,
    stderr: String,
}

impl Measured {
    fn json(&self) -> Value {
        json!({
            "command": self.command,
            "wall_seconds": round(self.wall, 3),
            "peak_rss_mib": round(self.rss_kib as f64 / 1024.0, 1),
            "cpu_seconds": round(self.cpu, 2),
            "other_cores": round(self.other_cores, 2),
            "exit_code": self.code,
            "stdout_tail": tail_lines(&self.stdout, 12),
        })
    }
}

fn tail_lines(s: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
}

/// `--measure PROG ARGS..`: runs PROG (its output goes to ours), reaps it with `wait4` and prints
/// `@@measured <wall ns> <peak RSS KiB> <exit code> <CPU s>`.
///
/// Why a middle process: Rust spawns with posix_spawn (vfork), and at exec Linux folds the
/// spawning process's high-water RSS into the new program's `ru_maxrss`; from this freshly
/// started process, that is at most a few MiB.
// The child is reaped with `wait4` (for its rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn measure_child(prog: &str, args: &[String]) {
    let started = Instant::now();
    let child = Command::new(prog).args(args).stdin(Stdio::null()).spawn().expect("spawn the measured program");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped, and both out-pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let wall = started.elapsed();
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    // Linux reports ru_maxrss in KiB.
    println!("\n{MEASURED} {} {} {code} {cpu}", wall.as_nanos(), usage.ru_maxrss);
}

/// `nicbox ARGS` through `--measure`.
fn measure(args: &[String]) -> Result<Measured, String> {
    let busy0 = machine_busy_secs();
    let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .arg("--measure")
        .arg(nicbox())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("--measure: {e}"))?;
    let busy = machine_busy_secs() - busy0;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let Some((stdout, last)) = text.rsplit_once(MEASURED) else {
        return Err(format!("{}: no measurement ({}):\n{text}{stderr}", command_line(args), out.status));
    };
    let f: Vec<&str> = last.split_ascii_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let (wall, cpu) = (num(0) / 1e9, num(3));
    Ok(Measured {
        command: command_line(args),
        wall,
        rss_kib: num(1) as u64,
        cpu,
        other_cores: ((busy - cpu) / wall.max(1e-9)).max(0.0),
        code: num(2) as i32,
        stdout: stdout.trim_end().to_string(),
        stderr,
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
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

/// Reads a process's VmRSS every 25 ms until stopped: the peak, KiB.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<u64>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                peak = peak.max(memory_kib(pid).0);
                std::thread::sleep(Duration::from_millis(25));
            }
            peak
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A port free for both TCP and UDP on 127.0.0.1, from 20,000 up (below the kernel's ephemeral
/// range), never the same twice.
fn free_port() -> u16 {
    let _ =
        NEXT_PORT.compare_exchange(0, 20_000 + (std::process::id() % 5_000) as u16, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32_000, "no free port");
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, port));
        if tcp.is_ok() && udp.is_ok() {
            return port;
        }
    }
}

// --- nicbox serve ----------------------------------------------------------------------------

/// `nicbox serve`, its standard error kept (and copied to `nicbox.log` in the scratch directory).
struct Server {
    proc: Proc,
    http: SocketAddr,
    whois: SocketAddr,
    dns: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    start_secs: f64,
}

impl Server {
    fn start(config: &Path, log_file: &Path) -> Result<Server, String> {
        let t = Instant::now();
        let mut child = child_command(nicbox())
            .args(["serve", "--config"])
            .arg(config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start nicbox serve: {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (lines, path) = (log.clone(), log_file.to_path_buf());
        std::thread::spawn(move || {
            let mut file = std::fs::File::create(path).ok();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                lines.lock().unwrap().push(line);
            }
        });
        let mut proc = Proc { child, name: "nicbox serve" };
        let find = |protocol: &str| -> Option<SocketAddr> {
            let mark = format!("listening protocol={protocol} addr=");
            log.lock().unwrap().iter().find_map(|l| {
                let rest = &l[l.find(&mark)? + mark.len()..];
                rest.split_whitespace().next()?.parse().ok()
            })
        };
        loop {
            if let (Some(http), Some(whois), Some(dns)) = (find("http"), find("whois"), find("dns")) {
                return Ok(Server { proc, http, whois, dns, log, start_secs: t.elapsed().as_secs_f64() });
            }
            let tail = || log.lock().unwrap().iter().rev().take(30).rev().cloned().collect::<Vec<_>>().join("\n");
            if !proc.running() {
                return Err(format!("nicbox serve exited:\n{}", tail()));
            }
            if t.elapsed() > WAIT {
                return Err(format!("nicbox serve gives no HTTP, WHOIS and DNS addresses:\n{}", tail()));
            }
            std::thread::sleep(POLL);
        }
    }

    fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    fn lines_since(&self, from: usize, mark: &str) -> Vec<String> {
        self.log.lock().unwrap()[from..].iter().filter(|l| l.contains(mark)).cloned().collect()
    }

    /// The `zone transferred` lines logged since line `from`, as JSON.
    fn transfers_since(&self, from: usize) -> Vec<Value> {
        self.lines_since(from, "zone transferred")
            .iter()
            .map(|l| {
                let n = |k: &str| field(l, k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                json!({"kind": field(l, "kind").unwrap_or_default(), "serial": n("serial"), "records": n("records"),
                       "messages": n("messages"), "bytes": n("bytes"), "millis": n("millis")})
            })
            .collect()
    }
}

/// The value of `name=value` (or `name="value"`) in a log line.
fn field(line: &str, name: &str) -> Option<String> {
    let mark = format!(" {name}=");
    let rest = &line[line.find(&mark)? + mark.len()..];
    Some(match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?.to_string(),
        None => rest.split_whitespace().next()?.to_string(),
    })
}

/// The number after `name: ` in a Debug-printed struct (`LifecycleReport { examined: 3, ... }`).
fn debug_number(line: &str, name: &str) -> u64 {
    let mark = format!("{name}: ");
    line.find(&mark)
        .map(|i| line[i + mark.len()..].chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

// --- Knot ------------------------------------------------------------------------------------

/// A `knotd` secondary of nicbox for `pt.` in its own directory (config, socket, journal, log).
struct Knot {
    proc: Proc,
    port: u16,
    dir: PathBuf,
}

impl Knot {
    /// No zone file (`zonefile-load: none`, never written), a journal of changes (for IXFR),
    /// NOTIFY accepted from 127.0.0.1 signed with the key, transfers signed with it.
    fn start(dir: &Path, port: u16, primary: SocketAddr, secret: &str) -> Result<Knot, String> {
        std::fs::create_dir_all(dir.join("db")).map_err(|e| e.to_string())?;
        let root = dir.display();
        let conf = format!(
            r#"server:
    listen: 127.0.0.1@{port}
    rundir: "{root}"
    pidfile: "{root}/knot.pid"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

database:
    storage: "{root}/db"

control:
    listen: "{root}/knot.sock"

log:
  - target: stderr
    any: info

key:
  - id: {TSIG_NAME}
    algorithm: hmac-sha256
    secret: {secret}

remote:
  - id: primary
    address: {}@{}
    key: {TSIG_NAME}

acl:
  - id: notify_from_primary
    address: 127.0.0.1
    key: {TSIG_NAME}
    action: notify

template:
  - id: default
    storage: "{root}"
    zonefile-load: none
    zonefile-sync: -1
    journal-content: changes
    journal-max-usage: 8G

zone:
  - domain: "pt."
    master: primary
    acl: notify_from_primary
"#,
            primary.ip(),
            primary.port()
        );
        let conf_path = dir.join("knot.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let check = Command::new(tool("knotc"))
            .args(["-c", conf_path.to_str().unwrap_or_default(), "conf-check"])
            .output()
            .map_err(|e| format!("cannot run knotc (Debian package knot): {e}"))?;
        if !check.status.success() {
            return Err(format!("knotc conf-check: {}", String::from_utf8_lossy(&check.stderr)));
        }
        let out = std::fs::File::create(dir.join("knotd.log")).map_err(|e| e.to_string())?;
        let child = child_command(tool("knotd"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| e.to_string())?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start knotd (Debian package knot): {e}"))?;
        Ok(Knot { proc: Proc { child, name: "knotd" }, port, dir: dir.to_path_buf() })
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knotd.log")).unwrap_or_default()
    }

    fn log_lines(&self) -> usize {
        self.log().lines().count()
    }

    /// knotd's `[pt.] AXFR, incoming, ..., finished, S seconds, M messages, B bytes` lines
    /// (`IXFR, incoming` for an incremental one) since log line `from`, from the zone name on.
    fn incoming_since(&self, from: usize) -> Vec<String> {
        self.log()
            .lines()
            .skip(from)
            .filter(|l| l.contains(", incoming, ") && l.contains(", finished"))
            .map(|l| l.find("[pt.]").map_or(l, |i| &l[i..]).to_string())
            .collect()
    }

    /// Polls until it serves `serial` for `pt.`; the time from `since`.
    fn wait_serving(&mut self, serial: u32, since: Instant) -> Result<f64, String> {
        loop {
            if soa_serial(self.addr(), "pt") == Some(serial) {
                return Ok(since.elapsed().as_secs_f64());
            }
            if !self.proc.running() {
                return Err(format!("knotd exited:\n{}", self.log()));
            }
            if since.elapsed() > WAIT {
                return Err(format!("knotd does not serve serial {serial}:\n{}", self.log()));
            }
            std::thread::sleep(POLL);
        }
    }
}

// --- a small DNS client ----------------------------------------------------------------------

/// The position after the (possibly compressed) name at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len & 0xC0 == 0xC0 {
            return Some(pos + 2);
        }
        if len == 0 {
            return Some(pos + 1);
        }
        pos += 1 + len;
    }
    None
}

static QUERY_ID: AtomicU16 = AtomicU16::new(1);

/// The serial of `zone`'s SOA as served at `addr` (one UDP query, no recursion, 500 ms), None
/// without a NOERROR answer holding one.
fn soa_serial(addr: SocketAddr, zone: &str) -> Option<u32> {
    let id = QUERY_ID.fetch_add(1, Ordering::Relaxed);
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in zone.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 6, 0, 1]);
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    socket.connect(addr).ok()?;
    socket.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    socket.send(&q).ok()?;
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    let m = &buf[..n];
    if m.len() < 12 || u16::from_be_bytes([m[0], m[1]]) != id || m[2] & 0x80 == 0 || m[3] & 0x0F != 0 {
        return None;
    }
    if u16::from_be_bytes([m[6], m[7]]) == 0 {
        return None;
    }
    let mut pos = 12;
    for _ in 0..u16::from_be_bytes([m[4], m[5]]) {
        pos = skip_name(m, pos)? + 4;
    }
    let after = skip_name(m, pos)?;
    if m.get(after..after + 2)? != [0, 6] {
        return None;
    }
    let rdata = after + 10;
    let serial_at = skip_name(m, skip_name(m, rdata)?)?;
    let s = m.get(serial_at..serial_at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// `kdig @ADDR +norec NAME NS`: whether its output names `host`.
fn kdig_delegates(addr: SocketAddr, name: &str, host: &str) -> bool {
    Command::new(tool("kdig"))
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "+norec", "+time=2", "+retry=1", name, "NS"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).to_ascii_lowercase().contains(&format!("{host}.")))
}

// --- HTTP ------------------------------------------------------------------------------------

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into()
}

/// A GET: status, body and milliseconds until the whole body was read.
fn get(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)]) -> Result<(u16, Vec<u8>, f64), String> {
    let t = Instant::now();
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().with_config().limit(64 << 20).read_to_vec().map_err(|e| format!("GET {url}: {e}"))?;
    Ok((status, body, t.elapsed().as_secs_f64() * 1e3))
}

/// A POST or PATCH with a JSON body (or none): status, the answer as JSON (Null when it is not),
/// seconds until the whole answer was read.
fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    auth: &str,
    body: Option<&Value>,
) -> Result<(u16, Value, f64), String> {
    let t = Instant::now();
    let req = match method {
        "PATCH" => agent.patch(url),
        _ => agent.post(url),
    }
    .header("Authorization", auth);
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.send_empty(),
    };
    let mut resp = resp.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp.body_mut().read_to_vec().map_err(|e| format!("{method} {url}: {e}"))?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), t.elapsed().as_secs_f64()))
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Signs in through `/admin/login` (the form's token, then the form); the session cookie.
fn sign_in(agent: &ureq::Agent, base: &str, user: &str, password: &str) -> Result<String, String> {
    let (status, body, _) = get(agent, &format!("{base}/admin/login"), &[])?;
    let html = String::from_utf8_lossy(&body);
    let mark = "name=\"token\" value=\"";
    let token = html
        .find(mark)
        .and_then(|i| html[i + mark.len()..].split('"').next())
        .ok_or_else(|| format!("the sign-in page ({status}) has no token field"))?;
    let resp = agent
        .post(&format!("{base}/admin/login"))
        .send_form([("username", user), ("password", password), ("token", token)])
        .map_err(|e| format!("POST /admin/login: {e}"))?;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("nicbox_admin=") && !v.starts_with("nicbox_admin=;"))
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    match (resp.status().as_u16(), cookie) {
        (303 | 302, Some(c)) => Ok(c),
        (s, _) => Err(format!("sign-in answered {s} without a session cookie")),
    }
}

/// One WHOIS query (a new connection), the answer's length.
fn whois(addr: SocketAddr, name: &str) -> Result<usize, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("whois: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    s.write_all(format!("{name}\r\n").as_bytes()).map_err(|e| format!("whois: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("whois: {e}"))?;
    Ok(buf.len())
}

// --- the data --------------------------------------------------------------------------------

/// The expiry of every domain of the dataset (`data.jsonl`), sorted, in Unix seconds.
fn dataset_expiries(path: &Path) -> Option<Vec<i64>> {
    let f = std::fs::File::open(path).ok()?;
    let mark = "\"expires\":\"";
    let mut out = Vec::new();
    for line in BufReader::with_capacity(1 << 20, f).lines() {
        let line = line.ok()?;
        if !line.contains("\"type\":\"domain\"") {
            continue;
        }
        let Some(i) = line.find(mark) else { continue };
        let v = line[i + mark.len()..].split('"').next().unwrap_or("");
        if let Ok(t) = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
            out.push(t.unix_timestamp());
        }
    }
    out.sort_unstable();
    Some(out)
}

/// Expiries in (from, to] (none when the window is empty).
fn due_in(expiries: &[i64], from: i64, to: i64) -> usize {
    if to <= from {
        return 0;
    }
    expiries.partition_point(|&e| e <= to) - expiries.partition_point(|&e| e <= from)
}

/// The day (its midnight, UTC) with the most expiries, and how many.
fn peak_day(expiries: &[i64]) -> Option<(i64, usize)> {
    let mut days: BTreeMap<i64, usize> = BTreeMap::new();
    for e in expiries {
        *days.entry(e.div_euclid(DAY)).or_default() += 1;
    }
    days.into_iter().max_by_key(|&(d, n)| (n, std::cmp::Reverse(d))).map(|(d, n)| (d * DAY, n))
}

fn parse_time(s: &str) -> Option<i64> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(|t| t.unix_timestamp())
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

fn now_rfc3339() -> String {
    rfc3339(time::OffsetDateTime::now_utc().unix_timestamp())
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// (bytes, records) of a zone file: records are its lines but comments and empty ones.
fn zone_stats(path: &Path) -> (u64, u64) {
    let Ok(f) = std::fs::File::open(path) else { return (0, 0) };
    let mut records = 0;
    for line in BufReader::with_capacity(1 << 20, f).split(b'\n') {
        let Ok(line) = line else { break };
        if !line.is_empty() && line[0] != b';' {
            records += 1;
        }
    }
    (file_size(path), records)
}

/// `zone pt: OUTCOME serial S (N delegations; ...`: (outcome, serial, delegations).
fn zone_line(stdout: &str) -> Option<(String, u32, u64)> {
    let line = stdout.lines().find(|l| l.starts_with("zone pt: "))?;
    let rest = &line["zone pt: ".len()..];
    let outcome = rest.split_whitespace().next()?.to_string();
    let serial = rest.split(" serial ").nth(1)?.split_whitespace().next()?.parse().ok()?;
    let delegations = rest.split_once(" (")?.1.split_whitespace().next()?.parse().ok()?;
    Some((outcome, serial, delegations))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn secret() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("random bytes");
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn round(v: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (v * m).round() / m
}

/// The value at quantile `p` of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
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

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// Markdown table cell: no pipes, no newlines.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

// --- the steps -------------------------------------------------------------------------------

/// The copy of the data directory's database and lists into the scratch directory.
fn copy_data(o: &Opts) -> Result<Value, String> {
    let db = nicbox::store::DB_FILE;
    let src = o.data.join("state").join(db);
    let dst = o.scratch.join("state").join(db);
    std::fs::create_dir_all(o.scratch.join("state")).map_err(|e| e.to_string())?;
    for f in ["reserved.txt", "blocked.txt"] {
        if o.data.join(f).exists() {
            std::fs::copy(o.data.join(f), o.scratch.join(f)).map_err(|e| format!("{f}: {e}"))?;
        }
    }
    // A server running on the source writes while a plain copy reads: then the copy is taken
    // through it, with `nicbox backup` (one read snapshot).
    let running = std::os::unix::net::UnixStream::connect(o.data.join("state").join("control.sock")).is_ok();
    let t = Instant::now();
    let (method, command) = if running {
        let args: Vec<String> = ["backup", "--config", &o.data.join("nicbox.toml").display().to_string()]
            .iter()
            .map(|s| s.to_string())
            .chain(["--out".to_string(), dst.display().to_string()])
            .collect();
        run_nicbox(&args)?;
        ("nicbox backup (a server runs on the source)", command_line(&args))
    } else {
        let ok = Command::new("cp").arg("--reflink=auto").arg(&src).arg(&dst).status().is_ok_and(|s| s.success());
        if ok {
            ("cp --reflink=auto", format!("cp --reflink=auto {} {}", shown(&src), shown(&dst)))
        } else {
            std::fs::copy(&src, &dst).map_err(|e| format!("copy {}: {e}", src.display()))?;
            ("std::fs::copy", format!("std::fs::copy({}, {})", shown(&src), shown(&dst)))
        }
    };
    let secs = t.elapsed().as_secs_f64();
    let bytes = file_size(&dst);
    Ok(json!({"method": method, "command": command, "bytes": bytes, "seconds": round(secs, 2),
              "mib_per_second": round(mib(bytes) / secs.max(1e-9), 0)}))
}

/// load.rs's configuration with a lab clock, `[zone]`, `[dns]` (TSIG key, Knot as secondary) and
/// no `[epp]`.
fn write_config(src: &Path, dst: &Path, secret: &str, knot: SocketAddr) -> Result<(), String> {
    let text = std::fs::read_to_string(src).map_err(|e| format!("{}: {e}", src.display()))?;
    let mut t: toml::Table = text.parse().map_err(|e| format!("{}: {e}", src.display()))?;
    let s = |v: &str| toml::Value::String(v.to_string());
    let table = |kv: &[(&str, toml::Value)]| {
        toml::Value::Table(kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<toml::Table>())
    };
    t.insert("clock".into(), s("lab"));
    t.remove("epp");
    t.insert("zone".into(), table(&[("dir", s("zones")), ("interval_minutes", toml::Value::Integer(0))]));
    t.insert(
        "dns".into(),
        table(&[
            ("listen", s("127.0.0.1:0")),
            (
                "tsig",
                toml::Value::Array(vec![table(&[
                    ("name", s(TSIG_NAME)),
                    ("algorithm", s("hmac-sha256")),
                    ("secret", s(secret)),
                ])]),
            ),
            (
                "secondary",
                toml::Value::Array(vec![table(&[
                    ("name", s("knot")),
                    ("address", s(&knot.to_string())),
                    ("tsig", s(TSIG_NAME)),
                ])]),
            ),
        ]),
    );
    let body = toml::to_string(&t).map_err(|e| e.to_string())?;
    let head = "# Written by benches/ops.rs: benches/load.rs's configuration (a copy of its database) with a lab\n\
                # clock, zone publication on demand and the hidden primary with Knot as its secondary.\n";
    std::fs::write(dst, format!("{head}{body}")).map_err(|e| e.to_string())
}

/// A page of the admin UI and what its requests took.
struct Page {
    label: String,
    path: String,
    first_ms: f64,
    first_status: u16,
    /// Sorted milliseconds of the measured requests.
    lat: Vec<f64>,
    bytes: usize,
    bad: usize,
    sample: Option<String>,
    /// Time its requests took so far.
    spent: Duration,
}

impl Page {
    fn json(&self) -> Value {
        json!({"page": self.label, "path": self.path, "requests": self.lat.len(), "first_ms": round(self.first_ms, 2),
               "first_status": self.first_status, "p50_ms": round(pct(&self.lat, 0.5), 2),
               "p99_ms": round(pct(&self.lat, 0.99), 2), "max_ms": round(pct(&self.lat, 1.0), 2),
               "bytes": self.bytes, "not_200": self.bad, "sample_error": self.sample,
               "met": pct(&self.lat, 0.99) <= PAGE_TARGET_MS && self.bad == 0})
    }
}

/// One cold request per page, then `n` rounds over all pages (every request read to the end); a
/// page stops being requested once its requests took `budget` in all (a page that takes seconds
/// would otherwise hold the run for hours), which its `requests` tell.
fn measure_pages(
    agent: &ureq::Agent,
    base: &str,
    cookie: &str,
    list: &[(String, String)],
    n: usize,
    budget: Duration,
) -> Vec<Page> {
    let h = [("Cookie", cookie)];
    let mut pages: Vec<Page> = list
        .iter()
        .map(|(label, path)| {
            let (first_status, first_ms, bytes, sample) = match get(agent, &format!("{base}{path}"), &h) {
                Ok((s, b, ms)) => (s, ms, b.len(), (s != 200).then(|| format!("{s}: {}", snippet(&b)))),
                Err(e) => (0, 0.0, 0, Some(e)),
            };
            Page {
                label: label.clone(),
                path: path.clone(),
                first_ms,
                first_status,
                lat: Vec::with_capacity(n),
                bytes,
                bad: 0,
                sample,
                spent: Duration::from_secs_f64(first_ms / 1e3),
            }
        })
        .collect();
    for _ in 0..n {
        for p in pages.iter_mut().filter(|p| p.spent < budget) {
            let t = Instant::now();
            let r = get(agent, &format!("{base}{}", p.path), &h);
            p.spent += t.elapsed();
            match r {
                Ok((200, _, ms)) => p.lat.push(ms),
                Ok((s, b, ms)) => {
                    p.lat.push(ms);
                    p.bad += 1;
                    p.sample.get_or_insert_with(|| format!("{s}: {}", snippet(&b)));
                }
                Err(e) => {
                    p.bad += 1;
                    p.sample.get_or_insert(e);
                }
            }
        }
    }
    for p in &mut pages {
        p.lat.sort_by(f64::total_cmp);
    }
    pages
}

fn snippet(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).replace(['\r', '\n'], " ")
}

/// The lifecycle steps on the lab clock, through the admin API.
struct Lifecycle<'a> {
    agent: &'a ureq::Agent,
    base: String,
    basic: String,
    srv: &'a Server,
    expiries: Option<&'a [i64]>,
    peak: Option<(i64, usize)>,
}

/// The report fields of the lifecycle job, in order.
const REPORT_KEYS: [&str; 8] = [
    "examined",
    "auto_renewed",
    "expired",
    "purged",
    "registrant_changes_cancelled",
    "idempotency_records_expired",
    "query_log_purged",
    "batches",
];

impl Lifecycle<'_> {
    fn registry_now(&self) -> Result<i64, String> {
        let (status, body, _) =
            get(self.agent, &format!("{}/admin/api/clock", self.base), &[("Authorization", &self.basic)])?;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        v["now"]
            .as_str()
            .and_then(parse_time)
            .ok_or_else(|| format!("GET /admin/api/clock: {status} {}", snippet(&body)))
    }

    /// Median milliseconds of an admin API call that only signs in (HTTP Basic: argon2).
    fn auth_ms(&self) -> f64 {
        let mut v: Vec<f64> = (0..5)
            .filter_map(|_| {
                get(self.agent, &format!("{}/admin/api/clock", self.base), &[("Authorization", &self.basic)])
                    .ok()
                    .map(|r| r.2)
            })
            .collect();
        v.sort_by(f64::total_cmp);
        pct(&v, 0.5)
    }

    /// `days` Some: one clock advance (the job runs inside the call); None: `lifecycle/run`. A
    /// call cut by the request timeout (503) is followed by `lifecycle/run` calls until one finds
    /// nothing due.
    fn step(&self, label: &str, days: Option<i64>) -> Result<Value, String> {
        let from = self.registry_now()?;
        let mark = self.srv.log_len();
        let (path, body) = match days {
            Some(d) => ("/admin/api/clock/advance", Some(json!({"days": d}))),
            None => ("/admin/api/lifecycle/run", None),
        };
        let url = format!("{}{path}", self.base);
        let command = match days {
            Some(d) => format!("curl -u {ADMIN_USER}:… -X POST {}{path} -d '{{\"days\": {d}}}'", self.base),
            None => format!("curl -u {ADMIN_USER}:… -X POST {}{path}", self.base),
        };
        let (status, v, mut wall) = send(self.agent, "POST", &url, &self.basic, body.as_ref())?;
        let mut reports = Vec::new();
        let (mut timeouts, mut calls) = (0, 1);
        match status {
            200 => reports.push(if days.is_some() { v["lifecycle"].clone() } else { v }),
            503 => {
                timeouts += 1;
                let run = format!("{}/admin/api/lifecycle/run", self.base);
                for _ in 0..100 {
                    let (s, r, w) = send(self.agent, "POST", &run, &self.basic, None)?;
                    wall += w;
                    calls += 1;
                    match s {
                        200 => {
                            let done = r["examined"].as_u64() == Some(0);
                            reports.push(r);
                            if done {
                                break;
                            }
                        }
                        503 => timeouts += 1,
                        _ => return Err(format!("POST {run}: {s} {r}")),
                    }
                }
            }
            _ => return Err(format!("POST {path}: {status} {v}")),
        }
        let to = self.registry_now()?;
        let mut sum = serde_json::Map::new();
        for k in REPORT_KEYS {
            sum.insert(k.into(), json!(reports.iter().map(|r| r[k].as_u64().unwrap_or(0)).sum::<u64>()));
        }
        // Every run that examined something logs `lifecycle job ran`: more lines than the calls
        // that did means the minute job ran in the same window and took part of the work.
        let logged = self.srv.lines_since(mark, "lifecycle job ran");
        let ours = reports.iter().filter(|r| r["examined"].as_u64().unwrap_or(0) > 0).count();
        let logged_examined: u64 = logged.iter().map(|l| debug_number(l, "examined")).sum();
        let examined = sum["examined"].as_u64().unwrap_or(0);
        let changed: u64 = ["auto_renewed", "expired", "purged", "registrant_changes_cancelled"]
            .iter()
            .map(|k| sum[*k].as_u64().unwrap_or(0))
            .sum();
        let due = self.expiries.map(|e| due_in(e, from, to));
        let peak_due = match (self.expiries, self.peak) {
            (Some(e), Some((p, _))) => Some(due_in(e, from.max(p - 1), to.min(p + DAY - 1))),
            _ => None,
        };
        println!(
            "  {label}: {} → {} in {wall:.3} s: examined {examined}, changed {changed} (dataset due {}){}",
            rfc3339(from),
            rfc3339(to),
            due.map_or("?".into(), |d| d.to_string()),
            if timeouts > 0 { format!(", {timeouts} calls cut by the request timeout") } else { String::new() }
        );
        Ok(json!({
            "step": label,
            "command": command,
            "days": days,
            "from": rfc3339(from),
            "to": rfc3339(to),
            "wall_seconds": round(wall, 3),
            "report": sum,
            "changed": changed,
            "per_second": round(examined as f64 / wall.max(1e-9), 0),
            "calls": calls,
            "timeouts": timeouts,
            "dataset_due": due,
            "dataset_peak_day_due": peak_due,
            "log_runs": logged.len(),
            "log_examined": logged_examined,
            "minute_job_overlap": logged.len() > ours,
        }))
    }
}

/// Sums the steps of the catch-up into one row.
fn sum_steps(label: &str, steps: &[Value]) -> Value {
    let n = |s: &Value, k: &str| s[k].as_u64().unwrap_or(0);
    let mut report = serde_json::Map::new();
    for k in REPORT_KEYS {
        report.insert(k.into(), json!(steps.iter().map(|s| s["report"][k].as_u64().unwrap_or(0)).sum::<u64>()));
    }
    let wall: f64 = steps.iter().map(|s| s["wall_seconds"].as_f64().unwrap_or(0.0)).sum();
    let slowest = steps.iter().map(|s| s["wall_seconds"].as_f64().unwrap_or(0.0)).fold(0.0, f64::max);
    let examined = report["examined"].as_u64().unwrap_or(0);
    json!({
        "step": label,
        "command": steps.first().map(|s| s["command"].clone()).unwrap_or_default(),
        "days": steps.iter().map(|s| s["days"].as_i64().unwrap_or(0)).sum::<i64>(),
        "calls": steps.iter().map(|s| n(s, "calls")).sum::<u64>(),
        "from": steps.first().map(|s| s["from"].clone()).unwrap_or_default(),
        "to": steps.last().map(|s| s["to"].clone()).unwrap_or_default(),
        "wall_seconds": round(wall, 3),
        "slowest_call_seconds": slowest,
        "report": report,
        "changed": steps.iter().map(|s| n(s, "changed")).sum::<u64>(),
        "per_second": round(examined as f64 / wall.max(1e-9), 0),
        "timeouts": steps.iter().map(|s| n(s, "timeouts")).sum::<u64>(),
        "dataset_due": steps.iter().map(|s| s["dataset_due"].as_u64()).sum::<Option<u64>>(),
        "dataset_peak_day_due": steps.iter().map(|s| s["dataset_peak_day_due"].as_u64()).sum::<Option<u64>>(),
        "log_runs": steps.iter().map(|s| n(s, "log_runs")).sum::<u64>(),
        "log_examined": steps.iter().map(|s| n(s, "log_examined")).sum::<u64>(),
        "minute_job_overlap": steps.iter().any(|s| s["minute_job_overlap"] == true),
        "steps": steps,
    })
}

/// Registrar `reg`'s names in the sample whose domain reads `["ok"]` through the API (so a
/// nameserver change reaches the zone), at most `n`, ASCII names only.
fn plain_domains(
    agent: &ureq::Agent,
    base: &str,
    key: &str,
    sample: &[(String, String)],
    reg: &str,
    n: usize,
) -> Vec<String> {
    let auth = format!("Bearer {key}");
    let mut out = Vec::new();
    for (_, name) in sample.iter().filter(|(r, n)| r == reg && n.is_ascii()).take(200) {
        if let Ok((200, body, _)) = get(agent, &format!("{base}/api/v1/domains/{name}"), &[("Authorization", &auth)]) {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if v["status"] == json!(["ok"]) {
                out.push(name.clone());
                if out.len() == n {
                    break;
                }
            }
        }
    }
    out
}

fn ns_body(tag: &str) -> Value {
    json!({"nameservers": [{"name": format!("ns1.{tag}.example.net")}, {"name": format!("ns2.{tag}.example.net")}]})
}

// --- the plot --------------------------------------------------------------------------------

/// A linear axis whose ticks are the given points only (the pages' rows).
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

/// `admin-pages.svg`: per page, bars of p50 and p99 and a mark at the maximum, the target line.
fn plot_pages(path: &Path, pages: &[Page], n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let rows = pages.len();
    let x_max = pages.iter().map(|p| pct(&p.lat, 1.0)).fold(PAGE_TARGET_MS, f64::max) * 1.08;
    let root = SVGBackend::new(path, (960, (90 + 30 * rows) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let labels: Vec<String> = pages.iter().map(|p| p.label.clone()).collect();
    let y = |i: usize| (rows - 1 - i) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("admin pages: latency over {n} requests each (target p99 ≤ 100 ms)"), ("sans-serif", 17))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(300)
        .build_cartesian_2d(
            0f64..x_max,
            KeyAxis { lo: -0.6, hi: rows as f64 - 0.4, keys: (0..rows).map(|i| i as f64).collect() },
        )?;
    chart
        .configure_mesh()
        .x_desc("ms")
        .max_light_lines(1)
        .y_label_formatter(&|v| labels.get(rows - 1 - (v.round() as usize).min(rows - 1)).cloned().unwrap_or_default())
        .draw()?;
    let (c50, c99, cmax) = (RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(90, 90, 90));
    chart
        .draw_series(
            pages
                .iter()
                .enumerate()
                .map(|(i, p)| Rectangle::new([(0.0, y(i) + 0.04), (pct(&p.lat, 0.5), y(i) + 0.34)], c50.filled())),
        )?
        .label("p50")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], c50.filled()));
    chart
        .draw_series(
            pages
                .iter()
                .enumerate()
                .map(|(i, p)| Rectangle::new([(0.0, y(i) - 0.34), (pct(&p.lat, 0.99), y(i) - 0.04)], c99.filled())),
        )?
        .label("p99")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], c99.filled()));
    chart
        .draw_series(
            pages.iter().enumerate().map(|(i, p)| Cross::new((pct(&p.lat, 1.0), y(i)), 5, cmax.stroke_width(2))),
        )?
        .label("max")
        .legend(move |(x, y)| Cross::new((x + 8, y), 5, cmax.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            [(PAGE_TARGET_MS, -0.6), (PAGE_TARGET_MS, rows as f64 - 0.4)],
            RED.stroke_width(2),
        ))?
        .label("target p99")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

// --- the run ---------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--measure") {
        measure_child(&args[2], &args[3..]);
        return;
    }
    std::process::exit(run());
}

/// Everything; every child process is stopped before it returns (or on unwind). The exit code.
fn run() -> i32 {
    let o = opts();
    let (src_config, creds_path, sample_path) =
        (o.data.join("nicbox.toml"), o.data.join("credentials.json"), o.data.join("sample.tsv"));
    if !src_config.exists() || !creds_path.exists() || !sample_path.exists() {
        eprintln!(
            "ops: {} has no nicbox.toml, credentials.json or sample.tsv: this bench works on a copy of the data \
             directory that benches/load.rs builds. Build it first:\n\n    {}cargo bench --bench load\n\n\
             (or set NICBOX_LOAD_DATA to a directory it built)",
            o.data.display(),
            if o.quick { "NICBOX_BENCH_QUICK=1 " } else { "" }
        );
        return 2;
    }
    let _ = std::fs::create_dir_all(&o.out);
    let _ = std::fs::remove_file(o.out.join("admin-pages.svg"));
    let mut errors: Vec<String> = Vec::new();
    let started_at = now_rfc3339();
    let load_start = loadavg();
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(&creds_path).unwrap_or_default()).unwrap_or(Value::Null);
    let domains = creds["domains"].as_u64().unwrap_or(0);
    println!(
        "ops: data {} ({} domains, built {}); {} requests per admin page",
        o.data.display(),
        thousands(domains as f64),
        creds["built_at"].as_str().unwrap_or("?"),
        o.requests
    );
    let sample: Vec<(String, String)> = std::fs::read_to_string(&sample_path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(r, n)| (r.to_string(), n.to_string())))
        .collect();
    let key_of = |id: &str| {
        creds["registrars"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["id"] == id))
            .and_then(|r| r["api_key"].as_str())
            .map(str::to_string)
    };
    let Some(reg01_key) = key_of("reg01") else {
        eprintln!("ops: {} names no registrar reg01", creds_path.display());
        return 2;
    };

    // The scratch copy.
    if o.scratch.exists()
        && let Err(e) = std::fs::remove_dir_all(&o.scratch)
    {
        eprintln!("ops: cannot remove the previous {}: {e}", o.scratch.display());
        return 1;
    }
    println!("ops: copying the database to {}", o.scratch.display());
    let copy = match copy_data(&o) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ops: copy: {e}");
            return 1;
        }
    };
    println!(
        "ops: copy: {} MiB in {} s ({})",
        round(mib(copy["bytes"].as_u64().unwrap_or(0)), 0),
        copy["seconds"],
        copy["method"].as_str().unwrap_or("")
    );
    let secret = secret();
    let knot_port = free_port();
    let config = o.scratch.join("nicbox.toml");
    if let Err(e) = write_config(&src_config, &config, &secret, SocketAddr::from((Ipv4Addr::LOCALHOST, knot_port))) {
        eprintln!("ops: configuration: {e}");
        return 1;
    }
    let c = config.display().to_string();
    let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let password = match run_nicbox(&a(&["user", "add", "--config", &c, "--name", ADMIN_USER, "--role", "admin"])) {
        Ok(out) => match out.split("password (shown once): ").nth(1) {
            Some(p) => p.trim().to_string(),
            None => {
                eprintln!("ops: no password in: {out}");
                return 1;
            }
        },
        Err(e) => {
            eprintln!("ops: {e}");
            return 1;
        }
    };
    let expiries = dataset_expiries(&o.data.join("data.jsonl"));
    let peak = expiries.as_deref().and_then(peak_day);

    // 1. Zone export, the server stopped.
    let zones = o.scratch.join("zones");
    let zone_file = zones.join("pt.zone");
    let export_args = a(&["zone", "export", "--config", &c, "--out", &zones.display().to_string()]);
    let mut zone_json = json!({});
    let mut serial1 = None;
    println!("ops: zone export");
    match (measure(&export_args), measure(&export_args)) {
        (Ok(first), Ok(again)) => {
            let (bytes, records) = zone_stats(&zone_file);
            let l1 = zone_line(&first.stdout);
            let l2 = zone_line(&again.stdout);
            if first.code != 0 || l1.as_ref().is_none_or(|l| l.0 != "published") {
                errors.push(format!("zone export: {}\n{}", first.stdout, first.stderr));
            }
            if again.code != 0 || l2.as_ref().is_none_or(|l| l.0 != "unchanged") {
                errors.push(format!("zone export again: {}\n{}", again.stdout, again.stderr));
            }
            serial1 = l1.as_ref().map(|l| l.1);
            println!(
                "  first {:.2} s ({:.1} MiB peak RSS), unchanged {:.2} s ({:.1} MiB); {:.1} MiB, {} records",
                first.wall,
                first.rss_kib as f64 / 1024.0,
                again.wall,
                again.rss_kib as f64 / 1024.0,
                mib(bytes),
                records
            );
            zone_json = json!({
                "first": first.json(),
                "unchanged": again.json(),
                "file": shown(&zone_file),
                "file_bytes": bytes,
                "records": records,
                "delegations": l1.as_ref().map(|l| l.2),
                "serial": serial1,
                "target_seconds": ZONE_TARGET_SECS,
                "met": first.wall <= ZONE_TARGET_SECS && again.wall <= ZONE_TARGET_SECS,
            });
        }
        (Err(e), _) | (_, Err(e)) => errors.push(format!("zone export: {e}")),
    }

    // 2. Backup and check, the server stopped.
    println!("ops: backup, check, check --deep");
    let backup_file = o.scratch.join("backup.redb");
    let mut ops_json = Vec::new();
    let mut db_domains: Option<u64> = None;
    for (label, args) in [
        ("backup", a(&["backup", "--config", &c, "--out", &backup_file.display().to_string()])),
        ("check", a(&["check", "--config", &c])),
        ("check --deep", a(&["check", "--config", &c, "--deep"])),
    ] {
        match measure(&args) {
            Ok(m) => {
                let mut v = m.json();
                if label == "backup" {
                    v["bytes"] = json!(file_size(&backup_file));
                    let _ = std::fs::remove_file(&backup_file);
                }
                // One line per finding or note would bury the summary: those are counted.
                let listed =
                    |l: &str| ["finding:", "records: note:", "configuration:"].iter().any(|p| l.starts_with(p));
                let summary: Vec<String> = m
                    .stdout
                    .lines()
                    .filter(|l| !l.trim().is_empty() && !listed(l))
                    .take(12)
                    .map(str::to_string)
                    .collect();
                let findings = m.stdout.lines().filter(|l| l.starts_with("finding:")).count();
                if label == "check" {
                    db_domains = m
                        .stdout
                        .lines()
                        .find_map(|l| l.strip_prefix("database: ok ("))
                        .and_then(|r| r.split_whitespace().next())
                        .and_then(|n| n.parse().ok());
                }
                println!("  {label}: {:.2} s, exit {}, {}", m.wall, m.code, summary.first().map_or("", |s| s));
                if m.code != 0 {
                    errors.push(format!("{}: exit {}\n{}{}", m.command, m.code, m.stdout, m.stderr));
                }
                v["label"] = json!(label);
                v["summary"] = json!(summary);
                v["findings"] = json!(findings);
                ops_json.push(v);
            }
            Err(e) => errors.push(format!("{label}: {e}")),
        }
    }

    // 3-5. The server.
    println!("ops: nicbox serve");
    let srv = match Server::start(&config, &o.scratch.join("nicbox.log")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ops: {e}");
            return 1;
        }
    };
    let pid = srv.proc.pid();
    let rss_start = memory_kib(pid).0;
    let agent = agent();
    let base = format!("http://{}", srv.http);
    let basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ADMIN_USER}:{password}")));
    let api_auth = format!("Bearer {reg01_key}");
    let picked = plain_domains(&agent, &base, &reg01_key, &sample, "reg01", 2);
    let (ixfr_name, history_name) = (picked.first().cloned(), picked.get(1).cloned());
    if picked.len() < 2 {
        errors.push("fewer than two domains of reg01 in the sample read status [\"ok\"]".into());
    }

    // 3. AXFR, then one change and its IXFR.
    let mut dns_json = json!({});
    if let Some(serial1) = serial1 {
        println!("ops: AXFR to a fresh Knot secondary");
        let result = (|| -> Result<Value, String> {
            let kdir = o.scratch.join("knot");
            let mark = srv.log_len();
            let rss_before = memory_kib(pid).0;
            let sampler = Sampler::start(pid);
            let t = Instant::now();
            let mut knot = Knot::start(&kdir, knot_port, srv.dns, &secret)?;
            let axfr = knot.wait_serving(serial1, t);
            let rss_peak = sampler.finish();
            let axfr = axfr?;
            let knot_rss = memory_kib(knot.proc.pid()).0;
            println!("  Knot serves serial {serial1} after {axfr:.2} s");
            let axfr_json = json!({
                "command": format!("knotd -c {}", shown(&kdir.join("knot.conf"))),
                "seconds": round(axfr, 3),
                "serial": serial1,
                "nicbox_transfers": srv.transfers_since(mark),
                "knot_log": knot.incoming_since(0),
                "nicbox_rss_mib_before": round(rss_before as f64 / 1024.0, 1),
                "nicbox_rss_mib_peak": round(rss_peak as f64 / 1024.0, 1),
                "knot_rss_mib_after": round(knot_rss as f64 / 1024.0, 1),
            });
            let Some(name) = ixfr_name.as_deref() else { return Ok(json!({"axfr": axfr_json})) };
            println!("ops: one change, publication, IXFR");
            let (mark, kmark) = (srv.log_len(), knot.log_lines());
            let tag = format!("ops-ixfr-{}", std::process::id());
            let t0 = Instant::now();
            let (status, v, api) =
                send(&agent, "PATCH", &format!("{base}/api/v1/domains/{name}"), &api_auth, Some(&ns_body(&tag)))?;
            if status != 200 {
                return Err(format!("PATCH /api/v1/domains/{name}: {status} {v}"));
            }
            let publish_args = a(&["zone", "export", "--config", &c]);
            let t1 = Instant::now();
            let out = run_nicbox(&publish_args)?;
            let publication = t1.elapsed().as_secs_f64();
            let t2 = Instant::now();
            let published_at = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let (outcome, serial2, delegations) = zone_line(&out).ok_or_else(|| format!("no zone line in: {out}"))?;
            if outcome != "published" {
                return Err(format!("the publication after one change: {out}"));
            }
            let notify_to_serving = knot.wait_serving(serial2, t2)?;
            let total = t0.elapsed().as_secs_f64();
            let served = kdig_delegates(knot.addr(), name, &format!("ns1.{tag}.example.net"));
            println!(
                "  change → Knot serving serial {serial2}: {total:.2} s (API {:.3}, publication {publication:.2}, NOTIFY + IXFR + apply {notify_to_serving:.2})",
                api
            );
            // The NOTIFY line comes from a background task: give it a moment.
            std::thread::sleep(Duration::from_millis(300));
            let ixfr_json = json!({
                "domain": name,
                "change_command": format!("curl -H 'Authorization: Bearer …' -X PATCH {base}/api/v1/domains/{name} -d '{}'", ns_body(&tag)),
                "publish_command": command_line(&publish_args),
                "publish_line": out.lines().find(|l| l.starts_with("zone pt: ")).unwrap_or_default(),
                "serial": serial2,
                "delegations": delegations,
                "api_seconds": round(api, 4),
                "publication_seconds": round(publication, 3),
                "notify_ixfr_apply_seconds": round(notify_to_serving, 3),
                "total_seconds": round(total, 3),
                "kdig_shows_new_ns": served,
                "notify_log": srv.lines_since(mark, "notify "),
                "nicbox_transfers": srv.transfers_since(mark),
                "knot_log": knot.incoming_since(kmark),
                "publication_returned_at": published_at,
                "knot_log_lines": knot.log().lines().skip(kmark).take(30).map(str::to_string).collect::<Vec<_>>(),
            });
            let knot_exit = knot.proc.stop();
            Ok(json!({"axfr": axfr_json, "ixfr": ixfr_json, "knot_exit": knot_exit,
                      "knot_version": Command::new(tool("knotd")).arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default()}))
        })();
        match result {
            Ok(v) => dns_json = v,
            Err(e) => errors.push(format!("dns: {e}")),
        }
    } else {
        errors.push("dns: no published serial (the zone export failed), no transfer measured".into());
    }

    // 4. Admin pages.
    println!("ops: admin pages");
    let mut pages: Vec<Page> = Vec::new();
    let mut history_json = json!({});
    let whois_names: Vec<&str> = sample.iter().step_by((sample.len() / 20).max(1)).map(|(_, n)| n.as_str()).collect();
    let whois_ok = whois_names.iter().filter(|n| whois(srv.whois, n).is_ok()).count();
    if let Some(name) = history_name.as_deref() {
        let t = Instant::now();
        let mut failed = 0;
        for i in 0..HISTORY_UPDATES {
            let tag = if i % 2 == 0 { "ops-a" } else { "ops-b" };
            match send(&agent, "PATCH", &format!("{base}/api/v1/domains/{name}"), &api_auth, Some(&ns_body(tag))) {
                Ok((200, _, _)) => {}
                Ok((s, v, _)) => {
                    failed += 1;
                    if failed == 1 {
                        errors.push(format!("PATCH {name}: {s} {v}"));
                    }
                }
                Err(e) => {
                    failed += 1;
                    errors.push(e);
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let entries = get(&agent, &format!("{base}/api/v1/domains/{name}/history"), &[("Authorization", &api_auth)])
            .ok()
            .and_then(|(_, b, _)| serde_json::from_slice::<Value>(&b).ok())
            .map(|v| {
                v.as_array()
                    .or_else(|| v["history"].as_array())
                    .or_else(|| v["entries"].as_array())
                    .map_or(0, |a| a.len())
            })
            .unwrap_or(0);
        println!("  {HISTORY_UPDATES} nameserver changes of {name} in {secs:.2} s; its history has {entries} entries");
        history_json = json!({"domain": name, "updates": HISTORY_UPDATES, "failed": failed, "seconds": round(secs, 2),
                              "history_entries": entries,
                              "command": format!("{HISTORY_UPDATES} × PATCH /api/v1/domains/{name} (nameservers alternating ns1/ns2.ops-a / ops-b.example.net)")});
    }
    // The query log is written every 0.5 s.
    std::thread::sleep(Duration::from_millis(1200));
    let unicode = sample.iter().find(|(_, n)| !n.is_ascii()).map(|(_, n)| n.clone());
    let mut list: Vec<(String, String)> = vec![
        ("dashboard".into(), "/admin/".into()),
        ("domains: search prefix `casa`".into(), "/admin/domains?q=casa".into()),
    ];
    if let Some(u) = &unicode {
        list.push((format!("domains: search U-label `{u}`"), format!("/admin/domains?q={}", enc(u))));
    }
    list.push(("domains of reg01".into(), "/admin/domains?registrar=reg01".into()));
    list.push(("domains: status inactive".into(), "/admin/domains?status=inactive".into()));
    // Sparse filters without a prefix: the smallest registrar (2%), a stored status (0.75%).
    list.push(("domains of reg08".into(), "/admin/domains?registrar=reg08".into()));
    list.push(("domains: status clientHold".into(), "/admin/domains?status=clientHold".into()));
    if let Some(h) = &history_name {
        list.push((format!("domain with a long history ({h})"), format!("/admin/domains/{h}")));
    }
    if let Some(u) = &unicode {
        let ascii = idna::domain_to_ascii(u).unwrap_or_else(|_| u.clone());
        list.push((format!("domain `{u}`"), format!("/admin/domains/{ascii}")));
    }
    for (label, path) in [
        ("registrars", "/admin/registrars"),
        ("registrar reg01", "/admin/registrars/reg01"),
        ("queues", "/admin/queues"),
        ("zones and secondaries", "/admin/zones"),
        ("directory: query log (24 h)", "/admin/directory"),
        ("query log of 127.0.0.1 (90 days)", "/admin/directory?origin=127.0.0.1&hours=2160"),
        ("users", "/admin/users"),
        ("audit log", "/admin/audit"),
        ("lab clock", "/admin/clock"),
        ("sign-in form", "/admin/login"),
    ] {
        list.push((label.into(), path.into()));
    }
    match sign_in(&agent, &base, ADMIN_USER, &password) {
        Ok(cookie) => {
            pages = measure_pages(&agent, &base, &cookie, &list, o.requests, o.page_budget);
            for p in &pages {
                println!(
                    "  {:<48} first {:>8.2}  p50 {:>8.2}  p99 {:>8.2}  max {:>8.2} ms  {} B{}",
                    p.label,
                    p.first_ms,
                    pct(&p.lat, 0.5),
                    pct(&p.lat, 0.99),
                    pct(&p.lat, 1.0),
                    p.bytes,
                    if p.bad > 0 || p.first_status != 200 {
                        format!("  NOT 200: {}", p.sample.as_deref().unwrap_or(""))
                    } else {
                        String::new()
                    }
                );
                if p.bad > 0 || p.first_status != 200 {
                    errors.push(format!("admin page {}: {}", p.path, p.sample.as_deref().unwrap_or("")));
                }
            }
        }
        Err(e) => errors.push(format!("admin sign-in: {e}")),
    }

    // 5. The lifecycle job on the lab clock.
    println!("ops: lifecycle (lab clock)");
    let lc = Lifecycle {
        agent: &agent,
        base: base.clone(),
        basic: basic.clone(),
        srv: &srv,
        expiries: expiries.as_deref(),
        peak,
    };
    let auth_ms = lc.auth_ms();
    let mut lifecycle_rows: Vec<Value> = Vec::new();
    let mut lifecycle_notes: Vec<String> = Vec::new();
    let result = (|| -> Result<(), String> {
        let now0 = lc.registry_now()?;
        let Some((peak_start, _)) = peak else {
            lifecycle_notes.push("no data.jsonl beside the data directory: the peak day is unknown".into());
            lifecycle_rows.push(lc.step("an ordinary day", Some(1))?);
            lifecycle_rows.push(lc.step("nothing due", None)?);
            return Ok(());
        };
        let gap = peak_start - now0;
        if gap <= 0 {
            lifecycle_notes.push(format!(
                "registry time ({}) is past the dataset's peak day ({}): no peak measured",
                rfc3339(now0),
                rfc3339(peak_start)
            ));
        } else {
            // To the day before the peak day, at this time of day.
            let mut left = (gap - 1) / DAY;
            let mut steps = Vec::new();
            while left > 0 {
                let d = left.min(CATCH_UP_STEP_DAYS);
                steps.push(lc.step("catch-up", Some(d))?);
                left -= d;
            }
            if !steps.is_empty() {
                let n = steps.len();
                lifecycle_rows.push(sum_steps(&format!("catch-up to the day before the peak ({n} calls)"), &steps));
            }
            lifecycle_rows.push(lc.step("the peak day (whole, in a 2-day advance)", Some(2))?);
        }
        lifecycle_rows.push(lc.step("an ordinary day", Some(1))?);
        lifecycle_rows.push(lc.step("nothing due", None)?);
        Ok(())
    })();
    if let Err(e) = result {
        errors.push(format!("lifecycle: {e}"));
    }

    // The server's end.
    let (rss_end, hwm) = memory_kib(pid);
    let log_warnings = srv.lines_since(0, " WARN ").len();
    let log_errors = srv.lines_since(0, " ERROR ").len();
    let server_start = srv.start_secs;
    let mut srv = srv;
    let exit = srv.proc.stop();
    if exit != Some(0) {
        errors.push(format!("nicbox serve exited {exit:?}"));
    }
    let load_end = loadavg();

    // The report.
    let page_json: Vec<Value> = pages.iter().map(Page::json).collect();
    let pages_met = !pages.is_empty() && pages.iter().all(|p| pct(&p.lat, 0.99) <= PAGE_TARGET_MS && p.bad == 0);
    let svg = o.out.join("admin-pages.svg");
    let plotted = !pages.is_empty()
        && match plot_pages(&svg, &pages, o.requests) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("ops: {}: {e}", svg.display());
                false
            }
        };
    let report = json!({
        "bench": "ops",
        "started_at": started_at,
        "quick": o.quick,
        "binary": shown(&nicbox()),
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "load_average_start": load_start,
        "load_average_end": load_end,
        "data": {"dir": shown(&o.data), "domains": domains, "domains_in_database": db_domains, "built_at": creds["built_at"],
                 "peak_day": peak.map(|(d, _)| rfc3339(d)), "peak_day_expiries": peak.map(|(_, n)| n)},
        "scratch": shown(&o.scratch),
        "config": shown(&config),
        "copy": copy,
        "zone_export": zone_json,
        "backup_and_check": ops_json,
        "server": {"command": format!("nicbox serve --config {}", shown(&config)), "start_seconds": round(server_start, 3),
                   "rss_mib_after_start": round(rss_start as f64 / 1024.0, 1), "rss_mib_end": round(rss_end as f64 / 1024.0, 1),
                   "hwm_mib": round(hwm as f64 / 1024.0, 1), "exit": exit, "log_warnings": log_warnings, "log_errors": log_errors},
        "dns": dns_json,
        "history_domain": history_json,
        "whois_queries_before_pages": {"sent": whois_names.len(), "answered": whois_ok},
        "admin_pages": {"requests_each": o.requests, "budget_seconds": o.page_budget.as_secs_f64(), "target_p99_ms": PAGE_TARGET_MS, "met": pages_met,
                        "plot": plotted.then(|| shown(&svg)), "pages": page_json},
        "lifecycle": {"basic_auth_call_ms": round(auth_ms, 1), "steps": lifecycle_rows, "notes": lifecycle_notes},
        "errors": errors,
    });
    let md = markdown(&o, &report);
    let (json_path, md_path) = (o.out.join("results.json"), o.out.join("results.md"));
    let _ = std::fs::write(&json_path, serde_json::to_string_pretty(&report).unwrap_or_default() + "\n");
    let _ = std::fs::write(&md_path, &md);
    println!("\n{md}");
    println!(
        "ops: wrote {} and {}{}",
        shown(&json_path),
        shown(&md_path),
        if plotted { format!(" and {}", shown(&svg)) } else { String::new() }
    );
    if !o.keep {
        let _ = std::fs::remove_dir_all(&o.scratch);
    } else {
        println!("ops: kept {}", o.scratch.display());
    }
    if errors.is_empty() {
        0
    } else {
        for e in &errors {
            eprintln!("ops: FAILED: {e}");
        }
        1
    }
}

// --- markdown --------------------------------------------------------------------------------

fn f(v: &Value, digits: usize) -> String {
    v.as_f64().map_or("–".into(), |x| format!("{x:.digits$}"))
}

fn markdown(o: &Opts, r: &Value) -> String {
    let mut m = String::new();
    let w = |m: &mut String, s: String| {
        m.push_str(&s);
        m.push('\n');
    };
    let d = &r["data"];
    let (imported, stored) = (d["domains"].as_f64().unwrap_or(0.0), d["domains_in_database"].as_f64());
    w(
        &mut m,
        format!(
            "# nicbox operations at {} domains ({}{})\n",
            thousands(stored.unwrap_or(imported)),
            if o.quick { "quick run" } else { "full run" },
            match stored {
                Some(n) if n != imported =>
                    format!("; {} imported by benches/load.rs, the rest made by its create phases", thousands(imported)),
                _ => String::new(),
            }
        ),
    );
    w(
        &mut m,
        format!(
            "Run {} by `cargo bench --bench ops`{}: the release binary `{}` on a copy of `{}` (built {}); {} CPUs, load average {} at the start, {} at the end. `C` below is `{}`.\n",
            r["started_at"].as_str().unwrap_or(""),
            if o.quick { " (NICBOX_BENCH_QUICK=1)" } else { "" },
            r["binary"].as_str().unwrap_or(""),
            d["dir"].as_str().unwrap_or(""),
            d["built_at"].as_str().unwrap_or("?"),
            r["cpus"],
            r["load_average_start"].as_str().unwrap_or(""),
            r["load_average_end"].as_str().unwrap_or(""),
            r["config"].as_str().unwrap_or(""),
        ),
    );
    let c = &r["copy"];
    w(
        &mut m,
        format!(
            "- Copy of the database: {:.1} MiB in {} s ({} MiB/s): `{}`.",
            mib(c["bytes"].as_u64().unwrap_or(0)),
            f(&c["seconds"], 2),
            c["mib_per_second"],
            c["command"].as_str().unwrap_or("")
        ),
    );
    let s = &r["server"];
    w(
        &mut m,
        format!(
            "- `{}`: listening after {} s; RSS {} MiB after start, {} MiB at the end, peak (VmHWM) {} MiB; {} warnings and {} errors in its log; exit {}.",
            s["command"].as_str().unwrap_or(""),
            f(&s["start_seconds"], 2),
            f(&s["rss_mib_after_start"], 1),
            f(&s["rss_mib_end"], 1),
            f(&s["hwm_mib"], 1),
            s["log_warnings"],
            s["log_errors"],
            s["exit"]
        ),
    );
    if let Some(e) = r["errors"].as_array().filter(|e| !e.is_empty()) {
        w(
            &mut m,
            format!(
                "- **{} step(s) failed**: {}",
                e.len(),
                cell(&e.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("; "))
            ),
        );
    }
    m.push('\n');

    // Zone export.
    let z = &r["zone_export"];
    w(&mut m, format!("## Zone export (target ≤ {ZONE_TARGET_SECS} s)\n"));
    if z.get("first").is_some() {
        w(&mut m, "| run | command | wall s | peak RSS MiB | CPU s | other cores | exit | output |".into());
        w(&mut m, "|---|---|---|---|---|---|---|---|".into());
        for (label, k) in [("first publication", "first"), ("unchanged re-run", "unchanged")] {
            let x = &z[k];
            w(
                &mut m,
                format!(
                    "| {label} | `{}` | {} | {} | {} | {} | {} | {} |",
                    x["command"].as_str().unwrap_or(""),
                    f(&x["wall_seconds"], 2),
                    f(&x["peak_rss_mib"], 1),
                    f(&x["cpu_seconds"], 2),
                    f(&x["other_cores"], 2),
                    x["exit_code"],
                    cell(
                        x["stdout_tail"]
                            .as_array()
                            .and_then(|a| a.iter().rev().find_map(|l| l.as_str().filter(|l| l.starts_with("zone "))))
                            .unwrap_or("")
                    )
                ),
            );
        }
        w(
            &mut m,
            format!(
                "\nZone file `{}`: {:.1} MiB, {} records, {} delegations, serial {}. Target: {}.\n",
                z["file"].as_str().unwrap_or(""),
                mib(z["file_bytes"].as_u64().unwrap_or(0)),
                thousands(z["records"].as_f64().unwrap_or(0.0)),
                thousands(z["delegations"].as_f64().unwrap_or(0.0)),
                z["serial"],
                met(z["met"] == true)
            ),
        );
    } else {
        w(&mut m, "Not measured (see the errors above).\n".into());
    }

    // Backup and check.
    w(&mut m, "## Backup and check (server stopped)\n".into());
    w(&mut m, "| command | wall s | peak RSS MiB | CPU s | exit | result |".into());
    w(&mut m, "|---|---|---|---|---|---|".into());
    for x in r["backup_and_check"].as_array().into_iter().flatten() {
        let result = if x["label"] == "backup" {
            format!(
                "{:.1} MiB written: {}",
                mib(x["bytes"].as_u64().unwrap_or(0)),
                x["summary"][0].as_str().unwrap_or("")
            )
        } else {
            let lines: Vec<&str> = x["summary"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let mut t = lines.join("; ");
            if x["findings"].as_u64().unwrap_or(0) > 0 {
                t.push_str(&format!("; {} findings", x["findings"]));
            }
            t
        };
        w(
            &mut m,
            format!(
                "| `{}` | {} | {} | {} | {} | {} |",
                x["command"].as_str().unwrap_or(""),
                f(&x["wall_seconds"], 2),
                f(&x["peak_rss_mib"], 1),
                f(&x["cpu_seconds"], 2),
                x["exit_code"],
                cell(&result)
            ),
        );
    }
    m.push('\n');

    // DNS.
    let dns = &r["dns"];
    w(&mut m, "## Hidden primary: AXFR and IXFR to a Knot secondary\n".into());
    if let Some(ax) = dns.get("axfr") {
        let t = |v: &Value| {
            v.as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    format!(
                        "{} serial {}: {} records, {} messages, {:.1} MiB, {} ms",
                        t["kind"].as_str().unwrap_or(""),
                        t["serial"],
                        thousands(t["records"].as_f64().unwrap_or(0.0)),
                        t["messages"],
                        mib(t["bytes"].as_u64().unwrap_or(0)),
                        t["millis"]
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let k = |v: &Value| v.as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join("; ");
        w(
            &mut m,
            format!(
                "{}; nicbox `[dns] listen` on 127.0.0.1, TSIG hmac-sha256 key `{TSIG_NAME}`, Knot as `[[dns.secondary]]` (NOTIFY after each publication); the zone: {:.1} MiB, {} records.\n",
                dns["knot_version"].as_str().unwrap_or("knotd"),
                mib(z["file_bytes"].as_u64().unwrap_or(0)),
                thousands(z["records"].as_f64().unwrap_or(0.0))
            ),
        );
        w(&mut m, "| step | command | seconds | detail |".into());
        w(&mut m, "|---|---|---|---|".into());
        w(
            &mut m,
            format!(
                "| AXFR: start of a fresh secondary → it serves serial {} | `{}` | {} | nicbox: {}; Knot: {}; nicbox RSS {} → {} MiB peak; Knot RSS after {} MiB |",
                ax["serial"],
                ax["command"].as_str().unwrap_or(""),
                f(&ax["seconds"], 2),
                cell(&t(&ax["nicbox_transfers"])),
                cell(&k(&ax["knot_log"])),
                f(&ax["nicbox_rss_mib_before"], 1),
                f(&ax["nicbox_rss_mib_peak"], 1),
                f(&ax["knot_rss_mib_after"], 1)
            ),
        );
        if let Some(ix) = dns.get("ixfr") {
            w(
                &mut m,
                format!(
                    "| one change through the API | `{}` | {} | {} |",
                    cell(ix["change_command"].as_str().unwrap_or("")),
                    f(&ix["api_seconds"], 3),
                    ix["domain"].as_str().unwrap_or("")
                ),
            );
            w(
                &mut m,
                format!(
                    "| publication beside the server (control socket) | `{}` | {} | {} |",
                    ix["publish_command"].as_str().unwrap_or(""),
                    f(&ix["publication_seconds"], 2),
                    cell(ix["publish_line"].as_str().unwrap_or(""))
                ),
            );
            w(
                &mut m,
                format!(
                    "| NOTIFY → IXFR → Knot serves serial {} | (NOTIFY sent by the server after the publication) | {} | nicbox: {}; Knot: {}; kdig shows the new NS: {} |",
                    ix["serial"],
                    f(&ix["notify_ixfr_apply_seconds"], 3),
                    cell(&t(&ix["nicbox_transfers"])),
                    cell(&k(&ix["knot_log"])),
                    ix["kdig_shows_new_ns"]
                ),
            );
            w(
                &mut m,
                format!(
                    "| **change → secondary serving it** | | **{}** | the publisher runs on demand here (`[zone] interval_minutes = 0`; the default is every 15 minutes when something changed) |",
                    f(&ix["total_seconds"], 2)
                ),
            );
        }
        m.push('\n');
    } else {
        w(&mut m, "Not measured (see the errors above).\n".into());
    }

    // Admin pages.
    let ap = &r["admin_pages"];
    w(&mut m, format!("## Admin pages (target p99 ≤ {PAGE_TARGET_MS} ms)\n"));
    let h = &r["history_domain"];
    w(
        &mut m,
        format!(
            "Signed in through `/admin/login` (form token, session cookie) as `{ADMIN_USER}` (`nicbox user add --config C --name {ADMIN_USER} --role admin`); one cold request per page, then {} rounds over all pages, one request at a time over a keep-alive connection, each read to its end (a page stops at {} s of requests in all: see its requests). The long-history domain first got {} nameserver changes through the API ({}; {} s; its history: {} entries). {} WHOIS queries were sent first, so the query log has entries. Target: {}.{}\n",
            ap["requests_each"],
            ap["budget_seconds"],
            h["updates"],
            h["command"].as_str().unwrap_or(""),
            f(&h["seconds"], 2),
            h["history_entries"],
            r["whois_queries_before_pages"]["sent"],
            met(ap["met"] == true),
            ap["plot"].as_str().map_or(String::new(), |p| format!(" Plot: `{p}`."))
        ),
    );
    w(&mut m, "| page | URL | requests | first ms | p50 ms | p99 ms | max ms | bytes | target |".into());
    w(&mut m, "|---|---|---|---|---|---|---|---|---|".into());
    for p in ap["pages"].as_array().into_iter().flatten() {
        w(
            &mut m,
            format!(
                "| {} | `GET {}` | {} | {} | {} | {} | {} | {} | {} |",
                cell(p["page"].as_str().unwrap_or("")),
                p["path"].as_str().unwrap_or(""),
                p["requests"],
                f(&p["first_ms"], 1),
                f(&p["p50_ms"], 1),
                f(&p["p99_ms"], 1),
                f(&p["max_ms"], 1),
                thousands(p["bytes"].as_f64().unwrap_or(0.0)),
                if p["not_200"].as_u64().unwrap_or(0) > 0 || p["first_status"] != 200 {
                    format!("**not 200** ({})", cell(p["sample_error"].as_str().unwrap_or("")))
                } else {
                    met(p["met"] == true).to_string()
                }
            ),
        );
    }
    m.push('\n');

    // Lifecycle.
    let lc = &r["lifecycle"];
    w(&mut m, "## The lifecycle job (lab clock)\n".into());
    w(
        &mut m,
        format!(
            "`clock = \"lab\"`: `POST /admin/api/clock/advance` moves registry time by whole days (at the time of day it is) and runs the job inside the call (`src/http/admin_api.rs`), answering its report; the job reads the due index in batches of 512 domains per transaction. The dataset's peak day: {} ({} expiries). Wall times are the whole HTTP call, HTTP Basic sign-in included ({} ms alone: argon2). \"Due\" is what the dataset's `data.jsonl` has expiring in the window; the job also purges domains whose restore period (30 days) ends in it.\n",
            d["peak_day"].as_str().map_or("?", |s| &s[..10.min(s.len())]),
            thousands(d["peak_day_expiries"].as_f64().unwrap_or(0.0)),
            f(&lc["basic_auth_call_ms"], 0)
        ),
    );
    w(
        &mut m,
        "| step | command | registry time | wall s | due (of the peak day) | examined | changed | renewed | expired | purged | batches | examined per s |"
            .into(),
    );
    w(&mut m, "|---|---|---|---|---|---|---|---|---|---|---|---|".into());
    for s in lc["steps"].as_array().into_iter().flatten() {
        let rep = &s["report"];
        let mut note = String::new();
        if s["timeouts"].as_u64().unwrap_or(0) > 0 {
            note.push_str(&format!(
                " ({} calls cut by the 15 s request timeout; the rest ran in `lifecycle/run` calls)",
                s["timeouts"]
            ));
        }
        if s["minute_job_overlap"] == true {
            note.push_str(&format!(" (the minute job ran too: {} examined in all per the log)", s["log_examined"]));
        }
        if let Some(q) = rep["query_log_purged"].as_u64().filter(|q| *q > 0) {
            note.push_str(&format!(" (query log: {} entries purged)", thousands(q as f64)));
        }
        w(
            &mut m,
            format!(
                "| {}{} | `{}` | {} → {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(s["step"].as_str().unwrap_or("")),
                cell(&note),
                s["command"].as_str().unwrap_or(""),
                s["from"].as_str().unwrap_or(""),
                s["to"].as_str().unwrap_or(""),
                f(&s["wall_seconds"], 3),
                match (s["dataset_due"].as_u64(), s["dataset_peak_day_due"].as_u64()) {
                    (Some(a), Some(b)) => format!("{} ({})", thousands(a as f64), thousands(b as f64)),
                    (Some(a), None) => thousands(a as f64),
                    _ => "?".into(),
                },
                thousands(rep["examined"].as_f64().unwrap_or(0.0)),
                thousands(s["changed"].as_f64().unwrap_or(0.0)),
                thousands(rep["auto_renewed"].as_f64().unwrap_or(0.0)),
                thousands(rep["expired"].as_f64().unwrap_or(0.0)),
                thousands(rep["purged"].as_f64().unwrap_or(0.0)),
                rep["batches"],
                thousands(s["per_second"].as_f64().unwrap_or(0.0)),
            ),
        );
    }
    for n in lc["notes"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        w(&mut m, format!("\nNote: {n}"));
    }
    m
}
