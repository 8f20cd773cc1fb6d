//! Hidden-primary benchmark (`cargo bench --bench axfr`): nicbox serving its published zone to a
//! real secondary (Knot), for a database of 1,000,000 delegations (about 10% with glue, 5% with
//! DS, the generator of `benches/zone.rs`), all run as an operator runs them (the release binary,
//! `nicbox serve`, `nicbox zone export` through its control socket), with Knot as the same-run
//! reference primary:
//!
//! 1. the database is built directly through the store, a registrar is added with `nicbox
//!    registrar add`, `nicbox serve` starts (HTTP, WHOIS and DNS on 127.0.0.1, TSIG key `xfr`,
//!    one secondary to NOTIFY) and `nicbox zone export` publishes the zone once (timed);
//! 2. **AXFR**: a fresh `knotd` secondary of nicbox starts; timed from its start until it serves
//!    nicbox's serial, while nicbox's RSS (`VmRSS` of `/proc/PID/status`) is sampled every 25 ms;
//!    nicbox's `zone transferred` log line and Knot's `AXFR, incoming, ..., finished` line give
//!    records, messages and bytes. Reference: a second `knotd` as primary loading a copy of the
//!    same zone file, and a third one as its fresh secondary, timed the same way. Then both
//!    primaries serve the same AXFR to `kdig` (records parsed and dropped), to see the serving
//!    side apart from the secondary's work;
//! 3. **1,000 changes end to end**: with the secondary in sync, the nameservers of 1,000 domains
//!    are changed through the registrar API (`PATCH /api/v1/domains/{name}`, 8 client threads),
//!    then `nicbox zone export` publishes, nicbox sends NOTIFY, and the secondary is polled every
//!    20 ms until it serves the new serial and a changed domain's new NS. Reported: the total
//!    from the first API call, its split (API, publication, publication end to Knot serving), and
//!    whether Knot took it by IXFR (its log). Target 5 s; NSD as primary with Knot as secondary
//!    was measured earlier at 6.3 s for the same 1,000 changes (not re-run here). Reference in
//!    the same run: the newly published file copied to the Knot primary, `knotc -b zone-reload`,
//!    and the time until the Knot secondary serves it.
//!
//! Environment:
//! - `AXFR_BENCH_SIZE=100000`: the number of delegations (default 1,000,000; at least 1,000).
//! - `AXFR_BENCH_KEEP=1`: keep the temporary directory (config, database, zones, every server's
//!   log; its path is printed).
//!
//! Besides wall times, the CPU time (`/proc/PID/stat`, all threads) each server used during each
//! step is reported, to tell a busy side from a waiting one.
//!
//! The served zones are polled with a small DNS client of this file over UDP (one query, no
//! process started: a `kdig` every 20 ms would take a share of the 2 CPUs from the transfer);
//! `kdig` checks a changed delegation once, at the end. Everything listens on 127.0.0.1 only, on
//! high ports; every process is stopped (SIGTERM, then SIGKILL) on drop. Steps run one after the
//! other: nothing else runs while a transfer is timed, except the pollers. Nothing is asserted on
//! timings: a shared machine is not a test.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nicbox::model::{Domain, Ds, Nameserver, Timestamp};
use nicbox::store::Store;

/// The registrar every generated domain belongs to (created with `nicbox registrar add`).
const REGISTRAR: &str = "bench";
/// The TSIG key nicbox and the Knot servers share.
const TSIG_NAME: &str = "xfr";
/// Domains changed in step 3, and the client threads changing them.
const CHANGES: u64 = 1_000;
const CLIENTS: u64 = 8;
/// How often a secondary is asked for its serial, and how often nicbox's RSS is read.
const POLL: Duration = Duration::from_millis(20);
const SAMPLE: Duration = Duration::from_millis(25);
/// How long anything may take before the bench gives up (a million-record AXFR included).
const WAIT: Duration = Duration::from_secs(900);
const BATCH: u64 = 50_000;
const MIB: f64 = 1024.0 * 1024.0;
/// The end-to-end target for 1,000 changes, and the NSD -> Knot figure measured earlier.
const TARGET_SECS: f64 = 5.0;
const NSD_REFERENCE_SECS: f64 = 6.3;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Domain number `i`, as in `benches/zone.rs` (`dominio{i:07}.pt`, 5% under com.pt, 0.1% IDN,
/// two nameservers, 10% inside the domain with glue, 5% with one DS), all sponsored by
/// `REGISTRAR`, none near its expiry.
fn domain(i: u64) -> Domain {
    let h = splitmix(i);
    let com = (h >> 16) % 100 < 5;
    let idn = (h >> 48).is_multiple_of(1000);
    let suffix = if com { "com.pt" } else { "pt" };
    let (name, unicode_name) = if idn {
        let u = format!("açores{i:07}.{suffix}");
        (idna::domain_to_ascii(&u).expect("an IDN name"), u)
    } else {
        let n = format!("dominio{i:07}.{suffix}");
        (n.clone(), n)
    };
    let nameservers = if h % 100 < 10 {
        let v4 = |k: u64| IpAddr::V4(Ipv4Addr::from(0x0A00_0000 | ((i * 2 + k) as u32 & 0x00FF_FFFF)));
        vec![
            Nameserver {
                name: format!("ns1.{name}"),
                addresses: vec![
                    v4(0),
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 0, 0, 0, 1)),
                ],
            },
            Nameserver { name: format!("ns2.{name}"), addresses: vec![v4(1)] },
        ]
    } else {
        let host = (h >> 8) % 20_000;
        vec![
            Nameserver { name: format!("ns1.host{host}.net"), addresses: vec![] },
            Nameserver { name: format!("ns2.host{host}.net"), addresses: vec![] },
        ]
    };
    let ds = if (h >> 32) % 100 < 5 {
        let d = |k: u64| splitmix(h ^ k);
        vec![Ds {
            key_tag: (h >> 40) as u16,
            algorithm: 13,
            digest_type: 2,
            digest: format!("{:016X}{:016X}{:016X}{:016X}", d(1), d(2), d(3), d(4)),
        }]
    } else {
        vec![]
    };
    // Registered in the last five years, expiring 10 to 14 years after (unlike zone.rs): the
    // server's lifecycle job must not renew or delete any of them while the bench runs.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let created = Timestamp(now - 86_400 - (h % 150_000_000) as i64);
    let expires = created.add_years(10 + (h % 5) as i32);
    let contact = format!("C{:08}", h % 700_000);
    Domain {
        roid: format!("D{i:09}-PT"),
        zone: suffix.into(),
        tld: "pt".into(),
        registrar: REGISTRAR.into(),
        registrant: contact.clone(),
        admin: contact.clone(),
        tech: Some(contact),
        billing: None,
        nameservers,
        ds,
        statuses: vec![],
        created,
        expires,
        updated: created,
        auto_renew: true,
        auth_code: format!("{:016x}", splitmix(h)),
        auth_code_issued: created,
        deleted: None,
        registration_basis: None,
        legitimacy: None,
        owner_visible: true,
        pending_registrant: None,
        pending_since: None,
        due: expires,
        name,
        unicode_name,
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// nicbox's configuration: `.pt` published on demand only, DNS on a free port with the TSIG key,
/// NOTIFY to `secondary`, the API's per-registrar rate limit out of the way.
fn config(secret: &str, secondary: SocketAddr) -> String {
    format!(
        r#"data_dir = "data"

[[tld]]
name = "pt"
profile = "pt"

[tld.policy]
delegation_check = "off"

[tld.zone]
nameservers = [{{ name = "a.dns.pt", addresses = ["192.0.2.53"] }}, {{ name = "b.dns.pt", addresses = ["198.51.100.53"] }}]

[zone]
dir = "zones"
interval_minutes = 0

[http]
listen = "127.0.0.1:0"
api_rate_per_second = 1000000
api_burst = 1000000

[whois]
listen = "127.0.0.1:0"

[dns]
listen = "127.0.0.1:0"

[[dns.tsig]]
name = "{TSIG_NAME}"
algorithm = "hmac-sha256"
secret = "{secret}"

[[dns.secondary]]
address = "{secondary}"
name = "knot"
tsig = "{TSIG_NAME}"
"#
    )
}

/// Writes `text` as the configuration and a database of `n` domains (a fixed pseudo-random
/// insertion order, 50,000 a transaction) under `dir`; returns the config path.
fn build(dir: &Path, text: &str, n: u64) -> PathBuf {
    let conf = dir.join("nicbox.toml");
    std::fs::write(&conf, text).unwrap();
    let settings = nicbox::config::parse(text, dir).unwrap();
    std::fs::create_dir_all(&settings.data_dir).unwrap();
    let store = Store::create(&settings.db_path()).unwrap();
    let mut stride = 2_654_435_761 % n.max(2);
    while gcd(stride, n) != 1 {
        stride += 1;
    }
    let mut i = 0;
    while i < n {
        let mut tx = store.write().unwrap();
        for k in i..(i + BATCH).min(n) {
            let d = domain(((k as u128 * stride as u128) % n as u128) as u64);
            tx.put_domain(None, &d).unwrap();
        }
        tx.commit().unwrap();
        i += BATCH;
    }
    drop(store);
    conf
}

/// 32 bytes of TSIG secret, base64 (from the clock: a bench on loopback, not a real key).
fn secret() -> String {
    use base64::Engine as _;
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let bytes: Vec<u8> = (0..4u64).flat_map(|k| splitmix(seed ^ k).to_be_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// --- processes -------------------------------------------------------------------------------

/// A started server, stopped on drop: SIGTERM, then SIGKILL after 10 s.
struct Proc {
    child: Child,
    name: &'static str,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
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
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!("{} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nicbox_bin() -> PathBuf {
    // Cargo builds the package's binaries (in the same profile) for benches and sets this.
    PathBuf::from(env!("CARGO_BIN_EXE_nicbox"))
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

/// Runs a command to its end; panics with its output unless it succeeds. Returns its stdout.
fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{stdout}{}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A port free for both TCP and UDP on 127.0.0.1, from 20,000 up (below the kernel's ephemeral
/// range, so no client socket takes it before its server binds it), never the same twice.
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

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Removes terminal colour sequences (`ESC [ ... m`) from a log line.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
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

/// `nicbox serve`, its stderr collected (and copied to `nicbox.log` in its directory).
struct Nicbox {
    proc: Proc,
    http: SocketAddr,
    dns: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Nicbox {
    fn start(conf: &Path) -> Nicbox {
        let mut child = Command::new(nicbox_bin())
            .args(["serve", "--config"])
            .arg(conf)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut proc = Proc { child, name: "nicbox" };
        let log = Arc::new(Mutex::new(Vec::new()));
        let (lines, file) = (log.clone(), conf.with_file_name("nicbox.log"));
        thread::spawn(move || {
            let mut out = File::create(file).unwrap();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = plain(&line);
                let _ = writeln!(out, "{line}");
                lines.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let find = |protocol: &str| -> Option<SocketAddr> {
            let mark = format!("listening protocol={protocol} addr=");
            log.lock().unwrap().iter().find_map(|l| {
                let rest = &l[l.find(&mark)? + mark.len()..];
                rest.split_whitespace().next()?.parse().ok()
            })
        };
        loop {
            if let (Some(http), Some(dns)) = (find("http"), find("dns")) {
                return Nicbox { proc, http, dns, log };
            }
            assert!(proc.running(), "nicbox serve exited:\n{}", log.lock().unwrap().join("\n"));
            assert!(Instant::now() < deadline, "nicbox serve does not listen:\n{}", log.lock().unwrap().join("\n"));
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn log_len(&self) -> usize {
        self.log.lock().unwrap().len()
    }

    /// The `zone transferred` lines logged since line `from`.
    fn transfers_since(&self, from: usize) -> Vec<NicboxTransfer> {
        self.log.lock().unwrap()[from..]
            .iter()
            .filter(|l| l.contains("zone transferred"))
            .map(|l| NicboxTransfer {
                kind: field(l, "kind").unwrap_or_default(),
                records: field(l, "records").and_then(|v| v.parse().ok()).unwrap_or(0),
                messages: field(l, "messages").and_then(|v| v.parse().ok()).unwrap_or(0),
                bytes: field(l, "bytes").and_then(|v| v.parse().ok()).unwrap_or(0),
                millis: field(l, "millis").and_then(|v| v.parse().ok()).unwrap_or(0),
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

/// What nicbox logged for one transfer.
struct NicboxTransfer {
    kind: String,
    records: u64,
    messages: u64,
    bytes: u64,
    millis: u64,
}

impl std::fmt::Display for NicboxTransfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {} records, {} messages, {:.1} MiB, {} ms",
            self.kind,
            self.records,
            self.messages,
            self.bytes as f64 / MIB,
            self.millis
        )
    }
}

// --- Knot ------------------------------------------------------------------------------------

/// A `knotd` in its own directory (config, control socket, databases, `knotd.log`).
struct Knot {
    proc: Proc,
    port: u16,
    dir: PathBuf,
}

fn knot_head(root: &Path, port: u16, secret: &str) -> String {
    let root = root.display();
    format!(
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

"#
    )
}

impl Knot {
    fn spawn(dir: PathBuf, port: u16, conf: String) -> Knot {
        std::fs::create_dir_all(dir.join("db")).unwrap();
        let conf_path = dir.join("knot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        run(&tool("knotc"), &["-c", conf_path.to_str().unwrap(), "conf-check"]);
        let out = File::create(dir.join("knotd.log")).unwrap();
        let child = Command::new(tool("knotd"))
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start knotd (Debian package knot): {e}"));
        Knot { proc: Proc { child, name: "knotd" }, port, dir }
    }

    /// A secondary of `primary` for `pt.`: no zone file (`zonefile-load: none`, never written,
    /// `zonefile-sync: -1`), a journal of changes big enough for a million delegations, NOTIFY
    /// accepted from 127.0.0.1 signed with the key, transfers signed with it.
    fn secondary(dir: PathBuf, port: u16, primary: SocketAddr, secret: &str) -> Knot {
        let mut conf = knot_head(&dir, port, secret);
        let root = dir.display();
        conf.push_str(&format!(
            r#"remote:
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
    journal-max-usage: 4G

zone:
  - domain: "pt."
    master: primary
    acl: notify_from_primary
"#,
            primary.ip(),
            primary.port()
        ));
        Knot::spawn(dir, port, conf)
    }

    /// A primary for `pt.` from `file` (`zonefile-load: difference` into a journal of changes,
    /// so that a reload with a higher serial is served by IXFR), transfers allowed from
    /// 127.0.0.1 signed with the key, NOTIFY (signed) to `notify`.
    fn primary(dir: PathBuf, port: u16, file: &Path, notify: SocketAddr, secret: &str) -> Knot {
        let mut conf = knot_head(&dir, port, secret);
        let root = dir.display();
        conf.push_str(&format!(
            r#"remote:
  - id: secondary
    address: {}@{}
    key: {TSIG_NAME}

acl:
  - id: transfer
    address: 127.0.0.1
    key: {TSIG_NAME}
    action: transfer

template:
  - id: default
    storage: "{root}"
    zonefile-load: difference
    zonefile-sync: -1
    journal-content: changes
    journal-max-usage: 4G

zone:
  - domain: "pt."
    file: "{}"
    notify: secondary
    acl: transfer
"#,
            notify.ip(),
            notify.port(),
            file.display()
        ));
        Knot::spawn(dir, port, conf)
    }

    fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knotd.log")).unwrap_or_default()
    }

    fn log_lines(&self) -> usize {
        self.log().lines().count()
    }

    /// The transfers knotd finished since log line `from`: its `[pt.] AXFR, incoming, ...,
    /// finished, S seconds, M messages, B bytes` lines (`IXFR, incoming` for an incremental one;
    /// an IXFR answered with the whole zone is logged as `receiving AXFR-style IXFR`, then as an
    /// AXFR).
    fn incoming_since(&self, from: usize) -> Vec<KnotTransfer> {
        self.log()
            .lines()
            .skip(from)
            .filter(|l| l.contains(", incoming, ") && l.contains(", finished"))
            .map(|l| {
                let kind = if l.contains("IXFR, incoming") { "IXFR" } else { "AXFR" };
                let number = |suffix: &str| {
                    l.split(", ")
                        .find_map(|p| p.strip_suffix(suffix).and_then(|n| n.trim().parse::<f64>().ok()))
                        .unwrap_or(0.0)
                };
                KnotTransfer {
                    kind,
                    seconds: number(" seconds"),
                    messages: number(" messages") as u64,
                    bytes: number(" bytes") as u64,
                }
            })
            .collect()
    }

    /// `knotc -b zone-reload pt.`: returns once knotd has loaded the file (blocking mode).
    fn reload(&self) {
        let socket = self.dir.join("knot.sock");
        run(&tool("knotc"), &["-b", "-s", socket.to_str().unwrap(), "zone-reload", "pt."]);
    }

    /// Polls until it serves `serial` for `pt.` (and, when given, `check` holds); the time from
    /// `since`. Panics with knotd's log when it exits or `WAIT` passes.
    fn wait_serving(&mut self, serial: u32, since: Instant, mut check: impl FnMut(SocketAddr) -> bool) -> Duration {
        let deadline = since + WAIT;
        loop {
            if soa_serial(self.addr(), "pt") == Some(serial) && check(self.addr()) {
                return since.elapsed();
            }
            assert!(self.proc.running(), "knotd in {} exited:\n{}", self.dir.display(), self.log());
            assert!(Instant::now() < deadline, "knotd does not serve serial {serial}:\n{}", self.log());
            thread::sleep(POLL);
        }
    }

    fn rss(&self) -> u64 {
        rss(self.proc.pid()).unwrap_or(0)
    }

    fn cpu(&self) -> f64 {
        cpu(self.proc.pid())
    }
}

/// What knotd logged for one incoming transfer.
struct KnotTransfer {
    kind: &'static str,
    seconds: f64,
    messages: u64,
    bytes: u64,
}

impl std::fmt::Display for KnotTransfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {:.2} s, {} messages, {:.1} MiB",
            self.kind,
            self.seconds,
            self.messages,
            self.bytes as f64 / MIB
        )
    }
}

fn describe<T: std::fmt::Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none logged".into();
    }
    items.iter().map(|t| t.to_string()).collect::<Vec<_>>().join("; ")
}

// --- a small DNS client ----------------------------------------------------------------------

/// What a UDP answer held: its rcode, the serial of an SOA in the answer section, and the NS
/// targets of the answer and authority sections (lower case, with the trailing dot).
#[derive(Default)]
struct Reply {
    rcode: u8,
    serial: Option<u32>,
    ns: Vec<String>,
}

/// A (possibly compressed) name at `pos` of `msg`, and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos)? as usize;
        if len & 0xC0 == 0xC0 {
            let target = ((len & 0x3F) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            pos = target;
        } else if len == 0 {
            if name.is_empty() {
                name.push('.');
            }
            return Some((name.to_ascii_lowercase(), end.unwrap_or(pos + 1)));
        } else {
            let label = msg.get(pos + 1..pos + 1 + len)?;
            name.push_str(&String::from_utf8_lossy(label));
            name.push('.');
            pos += 1 + len;
        }
    }
    None
}

fn parse_reply(msg: &[u8], id: u16) -> Option<Reply> {
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id || msg[2] & 0x80 == 0 {
        return None;
    }
    let count = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]) as usize;
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut reply = Reply { rcode: msg[3] & 0x0F, ..Reply::default() };
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(msg, pos)?.1 + 4;
    }
    for k in 0..an + ns + ar {
        let next = read_name(msg, pos)?.1;
        let head = msg.get(next..next + 10)?;
        let rtype = u16::from_be_bytes([head[0], head[1]]);
        let rdlen = u16::from_be_bytes([head[8], head[9]]) as usize;
        let rdata = next + 10;
        if k < an && rtype == 6 {
            let after_mname = read_name(msg, rdata)?.1;
            let after_rname = read_name(msg, after_mname)?.1;
            let s = msg.get(after_rname..after_rname + 4)?;
            reply.serial = Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
        } else if k < an + ns && rtype == 2 {
            reply.ns.push(read_name(msg, rdata)?.0);
        }
        pos = rdata + rdlen;
    }
    Some(reply)
}

static QUERY_ID: AtomicU16 = AtomicU16::new(1);

/// One UDP query (no recursion desired), 500 ms for the answer; None without an answer.
fn query(addr: SocketAddr, name: &str, qtype: u16) -> Option<Reply> {
    let id = QUERY_ID.fetch_add(1, Ordering::Relaxed);
    let mut msg = Vec::with_capacity(64);
    msg.extend_from_slice(&id.to_be_bytes());
    msg.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.push(0);
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&1u16.to_be_bytes());
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    socket.connect(addr).ok()?;
    socket.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    socket.send(&msg).ok()?;
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline {
        let n = socket.recv(&mut buf).ok()?;
        if let Some(reply) = parse_reply(&buf[..n], id) {
            return Some(reply);
        }
    }
    None
}

/// The serial of `zone`'s SOA as served at `addr`, None when no NOERROR answer with one came.
fn soa_serial(addr: SocketAddr, zone: &str) -> Option<u32> {
    query(addr, zone, 6).filter(|r| r.rcode == 0).and_then(|r| r.serial)
}

/// Whether `addr` delegates `name` to `host` (a referral or an answer naming it).
fn delegates_to(addr: SocketAddr, name: &str, host: &str) -> bool {
    let host = format!("{}.", host.trim_end_matches('.')).to_ascii_lowercase();
    query(addr, name, 2).is_some_and(|r| r.rcode == 0 && r.ns.contains(&host))
}

// --- memory ----------------------------------------------------------------------------------

/// VmRSS of a process, in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// CPU time (user and system, all threads) a process has used so far, in seconds.
fn cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // After the command name in parentheses: state (field 3), ..., utime (14), stime (15).
    let Some((_, rest)) = stat.rsplit_once(") ") else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) as f64 / hz
}

/// Reads a process's RSS every `SAMPLE` until stopped: (peak, samples).
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(u64, usize)>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let (mut peak, mut samples) = (0, 0);
            while !flag.load(Ordering::Relaxed) {
                if let Some(r) = rss(pid) {
                    peak = peak.max(r);
                    samples += 1;
                }
                thread::sleep(SAMPLE);
            }
            (peak, samples)
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> (u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

// --- nicbox commands -------------------------------------------------------------------------

/// `nicbox registrar add`: the API key it prints.
fn registrar_add(conf: &Path) -> String {
    let out = run(
        &nicbox_bin(),
        &["registrar", "add", "--config", conf.to_str().unwrap(), "--id", REGISTRAR, "--name", "Bench"],
    );
    let mark = "API key (shown once, keep it safe): ";
    let line = out.lines().find(|l| l.starts_with(mark)).unwrap_or_else(|| panic!("no API key in:\n{out}"));
    line[mark.len()..].trim().to_string()
}

/// `nicbox zone export --config CONF` (through the running server): its wall time, the new
/// serial and its line for the zone.
fn export(conf: &Path) -> (Duration, u32, String) {
    let started = Instant::now();
    let out = run(&nicbox_bin(), &["zone", "export", "--config", conf.to_str().unwrap()]);
    let wall = started.elapsed();
    let line = out.lines().find(|l| l.starts_with("zone pt: ")).unwrap_or_default().to_string();
    let serial = line
        .strip_prefix("zone pt: published serial ")
        .and_then(|r| r.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("zone export did not publish:\n{out}"));
    (wall, serial, line)
}

/// The new nameservers of the `k`th changed domain.
fn new_ns(k: u64) -> [String; 2] {
    [format!("ns1.changed{k}.example.net"), format!("ns2.changed{k}.example.net")]
}

/// Changes the nameservers of `names` through the API, `CLIENTS` threads each with its own
/// connection; returns the sorted latencies in ms. Panics on any answer but 200.
fn change_all(http: SocketAddr, key: &str, names: &[String]) -> Vec<f64> {
    let auth = format!("Bearer {key}");
    let mut latencies: Vec<f64> = thread::scope(|s| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let auth = &auth;
                s.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .timeout_global(Some(Duration::from_secs(60)))
                        .build()
                        .into();
                    let mut out = Vec::new();
                    for k in (t..names.len() as u64).step_by(CLIENTS as usize) {
                        let name = &names[k as usize];
                        let [ns1, ns2] = new_ns(k);
                        let body = serde_json::json!({"nameservers": [{"name": ns1}, {"name": ns2}]});
                        let url = format!("http://{http}/api/v1/domains/{name}");
                        let started = Instant::now();
                        let resp = agent.patch(&url).header("Authorization", auth).send_json(&body).unwrap();
                        let status = resp.status().as_u16();
                        if status != 200 {
                            let text = resp.into_body().read_to_string().unwrap_or_default();
                            panic!("PATCH {name}: {status} {text}");
                        }
                        out.push(started.elapsed().as_secs_f64() * 1e3);
                    }
                    out
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}

/// `kdig @ADDR +norec NAME NS`: whether its output names `host`.
fn kdig_delegates(addr: SocketAddr, name: &str, host: &str) -> bool {
    let out = Command::new(tool("kdig"))
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "+norec", "+time=2", "+retry=1", name, "NS"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run kdig (Debian package knot-dnsutils): {e}"));
    String::from_utf8_lossy(&out.stdout).to_ascii_lowercase().contains(&format!("{host}."))
}

/// `kdig -y KEY @ADDR pt AXFR +noall +stats` (the records parsed and dropped, nothing printed
/// but kdig's statistics): its wall time and its `;; Received ...` line.
fn kdig_axfr(addr: SocketAddr, secret: &str) -> (Duration, String) {
    let started = Instant::now();
    let out = Command::new(tool("kdig"))
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "-y", &format!("hmac-sha256:{TSIG_NAME}:{secret}")])
        .args(["+noall", "+stats", "+time=60", "pt.", "AXFR"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run kdig (Debian package knot-dnsutils): {e}"));
    let wall = started.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text.lines().find(|l| l.starts_with(";; Received")).map(|l| l.trim_start_matches(";; ").to_string());
    let line = line.unwrap_or_else(|| format!("FAILED: {}", text.trim()));
    (wall, line)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

fn main() {
    let n: u64 = std::env::var("AXFR_BENCH_SIZE")
        .unwrap_or_else(|_| "1000000".into())
        .trim()
        .replace('_', "")
        .parse()
        .expect("AXFR_BENCH_SIZE: a number of domains");
    assert!(n >= CHANGES, "AXFR_BENCH_SIZE: at least {CHANGES}");
    let knot_version = run(&tool("knotd"), &["--version"]).trim().to_string();
    eprintln!("binary: {}; {knot_version}", nicbox_bin().display());
    let load_before = loadavg();

    let tmp = tempfile::Builder::new().prefix("nicbox-axfr-bench-").tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let secret = secret();
    let secondary_port = free_port();

    // 1. The database, the registrar, the server, the first publication.
    let started = Instant::now();
    let conf = build(&dir, &config(&secret, localhost(secondary_port)), n);
    let build_time = started.elapsed();
    let db_bytes = std::fs::metadata(dir.join("data").join(nicbox::store::DB_FILE)).unwrap().len();
    eprintln!(
        "database of {n} domains built in {:.1} s ({:.0} MiB) in {}",
        secs(build_time),
        mib(db_bytes),
        dir.display()
    );
    let api_key = registrar_add(&conf);
    let started = Instant::now();
    let nicbox = Nicbox::start(&conf);
    let serve_start = started.elapsed();
    let pid = nicbox.proc.pid();
    let rss_idle = rss(pid).unwrap_or(0);
    let sampler = Sampler::start(pid);
    let cpu_mark = cpu(pid);
    let (export1, serial1, export1_line) = export(&conf);
    let export1_cpu = cpu(pid) - cpu_mark;
    let (export1_peak, _) = sampler.finish();
    let zone_file = dir.join("zones").join("pt.zone");
    let zone_bytes = std::fs::metadata(&zone_file).unwrap().len();
    eprintln!("published serial {serial1} in {:.2} s: {export1_line}", secs(export1));

    // 2. AXFR: nicbox -> a fresh Knot secondary.
    thread::sleep(Duration::from_millis(500));
    let rss_before = rss(pid).unwrap_or(0);
    let log_mark = nicbox.log_len();
    let sampler = Sampler::start(pid);
    let cpu_mark = cpu(pid);
    let started = Instant::now();
    let mut knot = Knot::secondary(dir.join("knot-secondary"), secondary_port, nicbox.dns, &secret);
    let axfr = knot.wait_serving(serial1, started, |_| true);
    let (axfr_cpu, axfr_knot_cpu) = (cpu(pid) - cpu_mark, knot.cpu());
    let (axfr_peak, axfr_samples) = sampler.finish();
    let rss_after = rss(pid).unwrap_or(0);
    let knot_rss = knot.rss();
    // nicbox logs the transfer once its last message is written; give the line a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while nicbox.transfers_since(log_mark).is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let axfr_nicbox = nicbox.transfers_since(log_mark);
    let axfr_knot = knot.incoming_since(0);
    eprintln!("Knot serves serial {serial1} from nicbox after {:.2} s", secs(axfr));

    // 2'. Reference: Knot primary (a copy of the same file) -> a fresh Knot secondary.
    let ref_secondary_port = free_port();
    let ref_primary_port = free_port();
    let ref_dir = dir.join("knot-primary");
    std::fs::create_dir_all(&ref_dir).unwrap();
    let ref_file = ref_dir.join("pt.zone");
    std::fs::copy(&zone_file, &ref_file).unwrap();
    let started = Instant::now();
    let mut ref_primary = Knot::primary(ref_dir, ref_primary_port, &ref_file, localhost(ref_secondary_port), &secret);
    let ref_load = ref_primary.wait_serving(serial1, started, |_| true);
    let ref_primary_rss = ref_primary.rss();
    eprintln!("Knot primary loaded the zone in {:.2} s", secs(ref_load));
    thread::sleep(Duration::from_millis(500));
    let cpu_mark = ref_primary.cpu();
    let started = Instant::now();
    let mut ref_knot = Knot::secondary(dir.join("knot-ref-secondary"), ref_secondary_port, ref_primary.addr(), &secret);
    let ref_axfr = ref_knot.wait_serving(serial1, started, |_| true);
    let (ref_axfr_cpu, ref_axfr_knot_cpu) = (ref_primary.cpu() - cpu_mark, ref_knot.cpu());
    let ref_axfr_knot = ref_knot.incoming_since(0);
    eprintln!("Knot serves serial {serial1} from the Knot primary after {:.2} s", secs(ref_axfr));

    // 2''. Both primaries to the same plain client (kdig, nothing kept): the serving side alone.
    thread::sleep(Duration::from_millis(500));
    let cpu_mark = cpu(pid);
    let kdig_nicbox = kdig_axfr(nicbox.dns, &secret);
    let kdig_nicbox_cpu = cpu(pid) - cpu_mark;
    let cpu_mark = ref_primary.cpu();
    let kdig_knot = kdig_axfr(ref_primary.addr(), &secret);
    let kdig_knot_cpu = ref_primary.cpu() - cpu_mark;

    // 3. 1,000 changes end to end.
    let names: Vec<String> = (0..CHANGES).map(|k| domain(k * (n / CHANGES)).name).collect();
    let last = CHANGES - 1;
    let (last_name, last_host) = (names[last as usize].clone(), new_ns(last)[0].clone());
    let (first_name, first_host) = (names[0].clone(), new_ns(0)[0].clone());
    thread::sleep(Duration::from_millis(500));
    let knot_mark = knot.log_lines();
    let log_mark = nicbox.log_len();
    let cpu_mark = cpu(pid);
    let started = Instant::now();
    let latencies = change_all(nicbox.http, &api_key, &names);
    let api = started.elapsed();
    let (api_cpu, cpu_mark) = (cpu(pid) - cpu_mark, cpu(pid));
    let (export2, serial2, export2_line) = export(&conf);
    let published = started.elapsed();
    let (export2_cpu, knot_mark_cpu) = (cpu(pid) - cpu_mark, knot.cpu());
    let serving = knot.wait_serving(serial2, started, |a| {
        delegates_to(a, &last_name, &last_host) && delegates_to(a, &first_name, &first_host)
    });
    let apply_knot_cpu = knot.cpu() - knot_mark_cpu;
    let e2e_knot = knot.incoming_since(knot_mark);
    let deadline = Instant::now() + Duration::from_secs(5);
    while nicbox.transfers_since(log_mark).is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let e2e_nicbox = nicbox.transfers_since(log_mark);
    let kdig_ok = kdig_delegates(knot.addr(), &last_name, &last_host);
    eprintln!("Knot serves serial {serial2} with the changes {:.2} s after the first API call", secs(serving));

    // 3'. Reference: the same new file to the Knot primary, reloaded, to its secondary.
    let ref_mark = ref_knot.log_lines();
    let started = Instant::now();
    std::fs::copy(&zone_file, &ref_file).unwrap();
    let ref_copy = started.elapsed();
    let (cpu_mark, ref_knot_mark_cpu) = (ref_primary.cpu(), ref_knot.cpu());
    let started = Instant::now();
    ref_primary.reload();
    let ref_reload = started.elapsed();
    let ref_serving = ref_knot.wait_serving(serial2, started, |a| {
        delegates_to(a, &last_name, &last_host) && delegates_to(a, &first_name, &first_host)
    });
    let (ref_reload_cpu, ref_apply_knot_cpu) = (ref_primary.cpu() - cpu_mark, ref_knot.cpu() - ref_knot_mark_cpu);
    let ref_e2e_knot = ref_knot.incoming_since(ref_mark);

    // The report.
    let ratio = secs(axfr) / secs(ref_axfr);
    println!();
    println!(
        "axfr bench: {n} delegations; zone file {:.1} MiB; database {:.0} MiB (built in {:.1} s); {knot_version}; {} CPUs",
        mib(zone_bytes),
        mib(db_bytes),
        secs(build_time),
        thread::available_parallelism().map_or(0, |c| c.get())
    );
    println!("1. publication");
    println!("   nicbox serve up (all listeners) in {:.2} s, RSS {:.1} MiB", secs(serve_start), mib(rss_idle));
    println!(
        "   first `nicbox zone export` (through the running server): {:.2} s; nicbox CPU {export1_cpu:.2} s, RSS peak {:.1} MiB",
        secs(export1),
        mib(export1_peak)
    );
    println!("   {export1_line}");
    println!("2. AXFR, Knot secondary from start to serving serial {serial1}");
    println!("   nicbox -> Knot:    {:>7.2} s", secs(axfr));
    println!("     nicbox logged:   {}", describe(&axfr_nicbox));
    println!("     Knot logged:     {}", describe(&axfr_knot));
    println!(
        "     nicbox RSS:      before {:.1} MiB, peak during {:.1} MiB ({:+.1}, {axfr_samples} samples), after {:.1} MiB; Knot secondary RSS {:.1} MiB",
        mib(rss_before),
        mib(axfr_peak),
        mib(axfr_peak) - mib(rss_before),
        mib(rss_after),
        mib(knot_rss)
    );
    println!("     CPU:             nicbox {axfr_cpu:.2} s, Knot secondary {axfr_knot_cpu:.2} s (its start included)");
    println!("   Knot -> Knot (reference, same file): {:>7.2} s", secs(ref_axfr));
    println!("     Knot logged:     {}", describe(&ref_axfr_knot));
    println!(
        "     CPU:             Knot primary {ref_axfr_cpu:.2} s, Knot secondary {ref_axfr_knot_cpu:.2} s (its start included)"
    );
    println!("     Knot primary loaded the file in {:.2} s, RSS {:.1} MiB", secs(ref_load), mib(ref_primary_rss));
    println!("   ratio nicbox / Knot: {ratio:.2}");
    println!("   the same AXFR to kdig (parses and drops the records; one client for both primaries):");
    println!(
        "     from nicbox:     {:>7.2} s, nicbox CPU {kdig_nicbox_cpu:.2} s: {}",
        secs(kdig_nicbox.0),
        kdig_nicbox.1
    );
    println!("     from Knot:       {:>7.2} s, Knot CPU {kdig_knot_cpu:.2} s: {}", secs(kdig_knot.0), kdig_knot.1);
    let total = secs(serving);
    let verdict = if total <= TARGET_SECS { "ok" } else { "MISSED" };
    println!("3. {CHANGES} changes end to end (API -> publication -> NOTIFY -> Knot serving)");
    println!(
        "   total from the first API call to Knot serving serial {serial2} and the new NS: {total:.2} s ({verdict}: target <= {TARGET_SECS:.1} s; NSD -> Knot measured earlier: {NSD_REFERENCE_SECS:.1} s)"
    );
    println!(
        "     API phase:       {:>7.2} s ({CLIENTS} clients, {:.0} changes/s; per call p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; nicbox CPU {api_cpu:.2} s)",
        secs(api),
        CHANGES as f64 / secs(api),
        pct(&latencies, 0.5),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0)
    );
    println!("     publication:     {:>7.2} s (nicbox CPU {export2_cpu:.2} s): {export2_line}", secs(export2));
    println!(
        "     to Knot serving: {:>7.2} s after the publication ended (Knot secondary CPU {apply_knot_cpu:.2} s)",
        total - secs(published)
    );
    println!("     nicbox logged:   {}", describe(&e2e_nicbox));
    println!("     Knot logged:     {}", describe(&e2e_knot));
    let by = match e2e_knot.last() {
        Some(t) if t.kind == "IXFR" => "by IXFR",
        Some(_) => "by AXFR (NOT incremental)",
        None => "transfer kind unknown (no line in Knot's log)",
    };
    println!("     Knot took it {by}; kdig confirms {last_name} NS {last_host}: {kdig_ok}");
    println!(
        "   Knot -> Knot (reference, same new file): {:.2} s (`knotc -b zone-reload` {:.2} s, then {:.2} s to the secondary serving; file copy {:.2} s before, not counted; CPU: Knot primary {ref_reload_cpu:.2} s, Knot secondary {ref_apply_knot_cpu:.2} s)",
        secs(ref_serving),
        secs(ref_reload),
        secs(ref_serving) - secs(ref_reload),
        secs(ref_copy)
    );
    println!("     Knot logged:     {}", describe(&ref_e2e_knot));
    println!(
        "   publication + to serving: nicbox {:.2} s + {:.2} s = {:.2} s; Knot reference (reload + to serving) {:.2} s + {:.2} s = {:.2} s",
        secs(export2),
        total - secs(published),
        secs(export2) + total - secs(published),
        secs(ref_reload),
        secs(ref_serving) - secs(ref_reload),
        secs(ref_serving)
    );
    println!("load average (1 min) before {load_before}, after {}: a busy machine slows every figure alike", loadavg());

    drop(ref_knot);
    drop(ref_primary);
    drop(knot);
    drop(nicbox);
    if std::env::var("AXFR_BENCH_KEEP").is_ok() {
        eprintln!("kept {}", tmp.keep().display());
    }
}
