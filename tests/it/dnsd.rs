//! Real DNS software for the integration tests: Knot and NSD started as primaries on 127.0.0.1
//! (each in its own temporary directory, on its own free high port, killed on drop), `kdig` with
//! its text output parsed, the three zone checkers (`named-checkzone -i local`, `kzonecheck`,
//! `nsd-checkzone`), and a server that never answers.
//!
//! Everything is blocking and std only. Nothing listens anywhere but 127.0.0.1 and nothing is
//! sent anywhere but to loopback: the servers have no secondaries (so no NOTIFY), no DNSSEC, and
//! their control channels are Unix sockets in their directories.
//!
//! The tools come from Debian's `knot`, `knot-dnsutils`, `knot-dnssecutils`, `nsd` and
//! `bind9-utils`, which `ops/test` installs. `knotd`, `knotc`, `nsd` and `nsd-control` live in
//! `/usr/sbin`, which is looked at when a tool is not on `PATH`.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs::File;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a server gets to bind and load its zones.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a stopped server gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Bind failures (a port taken between `free_port` and the server's bind) are retried this often.
const START_ATTEMPTS: usize = 3;

// --- tools and ports -------------------------------------------------------------------------

/// The program to run for `name`: `name` itself when it is on `PATH`, else `/usr/sbin/name` or
/// `/sbin/name` when that exists (Debian puts the daemons and their control tools there, and a
/// non-root `PATH` often lacks it). Absolute whenever the program was found.
pub fn tool(name: &str) -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]);
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate.to_string_lossy().into_owned();
        }
    }
    name.to_string()
}

/// Ports handed out by `free_port` in this process, never handed out twice (tests run in
/// parallel and a port is only reserved once its server binds it).
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port free for both UDP and TCP on 127.0.0.1 (both were bound to check, then let go), never
/// returned twice by this process. Picked at random below the kernel's ephemeral range (so a
/// client socket's port 0 cannot take it before the server binds it); from the ephemeral range
/// itself when the range leaves no room below it.
pub fn free_port() -> u16 {
    let (low, _) = ephemeral_range();
    let below = if low >= 11_000 { Some((10_000u16, low)) } else { None };
    let state = RandomState::new();
    for attempt in 0u32..10_000 {
        let port = match below {
            Some((from, to)) => {
                let mut hasher = state.build_hasher();
                hasher.write_u32(attempt);
                hasher.write_u128(
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
                );
                from + (hasher.finish() % u64::from(to - from)) as u16
            }
            None => match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) {
                Ok(listener) => listener.local_addr().unwrap().port(),
                Err(_) => continue,
            },
        };
        if HANDED_OUT.lock().unwrap().contains(&port) {
            continue;
        }
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, port));
        if tcp.is_ok() && udp.is_ok() && HANDED_OUT.lock().unwrap().insert(port) {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 for both UDP and TCP");
}

/// `/proc/sys/net/ipv4/ip_local_port_range`, Linux's default when unreadable.
fn ephemeral_range() -> (u16, u16) {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut numbers = text.split_whitespace().filter_map(|n| n.parse::<u16>().ok());
    match (numbers.next(), numbers.next()) {
        (Some(low), Some(high)) => (low, high),
        _ => (32_768, 60_999),
    }
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// `zone` with exactly one trailing dot, lower case (`PT` -> `pt.`, `.` -> `.`).
fn fqdn(zone: &str) -> String {
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    format!("{zone}.")
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn combined(out: &Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(tool(program))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed? ops/test installs it): {e}"))
}

// --- a daemon, killed on drop ----------------------------------------------------------------

/// A started server process. Stopped (SIGTERM, then SIGKILL after `STOP_TIMEOUT`) on drop.
struct Daemon {
    child: Option<Child>,
    name: &'static str,
    /// Files whose text explains a failure (the daemon's log, its stdout/stderr).
    logs: Vec<PathBuf>,
}

impl Daemon {
    fn spawn(name: &'static str, mut command: Command, out: &Path, logs: Vec<PathBuf>) -> Daemon {
        let file = File::create(out).unwrap();
        command.stdin(Stdio::null()).stdout(file.try_clone().unwrap()).stderr(file);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} (is it installed? ops/test installs it): {e}"));
        Daemon { child: Some(child), name, logs }
    }

    fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().unwrap().is_some(),
            None => true,
        }
    }

    fn log(&self) -> String {
        let mut text = String::new();
        for path in &self.logs {
            if let Ok(content) = std::fs::read_to_string(path) {
                text.push_str(&format!("--- {}\n{content}", path.display()));
            }
        }
        text
    }

    /// Waits until `ready` holds, or panics with the logs when the process exits or time runs
    /// out. Returns false (without panicking) when the process exited after failing to bind its
    /// port, so the caller can try another one.
    fn wait_ready(&mut self, port: u16, mut ready: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if self.exited() {
                let log = self.log();
                if log.contains("bind") {
                    return false;
                }
                panic!("{} exited before serving (port {port}):\n{log}", self.name);
            }
            // Binding comes before loading: a refused TCP connection is a cheap "not yet",
            // where a UDP query to a closed port would wait for its timeout.
            let bound = TcpStream::connect_timeout(&localhost(port), Duration::from_millis(200)).is_ok();
            if bound && ready() {
                return true;
            }
            if Instant::now() > deadline {
                panic!("{} not serving on 127.0.0.1:{port} after {START_TIMEOUT:?}:\n{}", self.name, self.log());
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        // SIGTERM lets NSD take its server and xfrd processes down with it.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// True when every zone answers its SOA (quick query: one try, one second).
fn serves_all(addr: SocketAddr, zones: &[String]) -> bool {
    zones.iter().all(|zone| serial_of(&dig_with(addr, zone, "SOA", &["+time=1", "+retry=0"]), zone).is_some())
}

// --- Knot ------------------------------------------------------------------------------------

/// `knotd` as a primary on 127.0.0.1:`port` (UDP and TCP), loading each zone from its file
/// (`zonefile-load: whole`, no journal, zone files never written back, no DNSSEC). Its config
/// (`knot.conf`), control socket (`knot.sock`), databases and log (`knotd.log`) live in `dir`.
/// Stopped on drop.
pub struct Knot {
    // Declared first so that the daemon stops before its directory is removed.
    daemon: Daemon,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub socket: PathBuf,
}

impl Knot {
    /// Starts knotd serving each (zone name, zone file) as a primary; returns once it answers
    /// SOA for every zone over UDP (and accepts TCP), or panics with knotd's log.
    pub fn start(zones: &[(&str, &Path)]) -> Knot {
        let dir = tempfile::Builder::new().prefix("nicbox-knot-").tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("db")).unwrap();
        let conf = root.join("knot.conf");
        let socket = root.join("knot.sock");
        let out = root.join("knotd.log");
        let names: Vec<String> = zones.iter().map(|(zone, _)| fqdn(zone)).collect();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            std::fs::write(&conf, knot_conf(&root, port, zones)).unwrap();
            let check = run("knotc", &["-c", conf.to_str().unwrap(), "conf-check"]);
            assert!(check.status.success(), "knot.conf rejected:\n{}", combined(&check));
            let mut command = Command::new(tool("knotd"));
            command.arg("-c").arg(&conf);
            let mut daemon = Daemon::spawn("knotd", command, &out, vec![out.clone()]);
            if daemon.wait_ready(port, || serves_all(localhost(port), &names)) {
                return Knot { daemon, port, dir, conf, socket };
            }
            eprintln!("knotd could not bind port {port} (attempt {attempt}), trying another");
        }
        panic!("knotd could not bind a port in {START_ATTEMPTS} attempts");
    }

    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    /// The argv that reloads `zone` from its file and waits for the outcome (`knotc -b`): exit
    /// status 0 when the new file was loaded, 1 when it failed (the old zone keeps being served).
    /// The program is an absolute path when knotc was found. For nicbox's reload hook.
    pub fn reload_command(&self, zone: &str) -> Vec<String> {
        let socket = self.socket.to_string_lossy().into_owned();
        vec![tool("knotc"), "-b".into(), "-s".into(), socket, "zone-reload".into(), zone.to_string()]
    }

    /// Runs `reload_command(zone)`: true when knotd loaded the file (synchronous, so the new
    /// serial is served when this returns true).
    pub fn reload(&self, zone: &str) -> bool {
        let argv = self.reload_command(zone);
        let out = Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()).output().unwrap();
        if !out.status.success() {
            eprintln!("knotc zone-reload {zone} failed: {}", combined(&out).trim());
        }
        out.status.success()
    }

    /// knotd's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

fn knot_conf(root: &Path, port: u16, zones: &[(&str, &Path)]) -> String {
    let root = root.display();
    let mut conf = format!(
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

template:
  - id: default
    storage: "{root}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none

zone:
"#
    );
    for (zone, file) in zones {
        conf.push_str(&format!("  - domain: \"{}\"\n    file: \"{}\"\n", fqdn(zone), absolute(file).display()));
    }
    conf
}

// --- NSD -------------------------------------------------------------------------------------

/// `nsd` as a primary on 127.0.0.1:`port` (UDP and TCP), loading each zone from its file (no
/// `nsd.db`: `database: ""`; no chroot; `username: ""`, so it runs as the current user). Its
/// config (`nsd.conf`), pid file, zone list, xfrd state, control socket (`nsd.sock`) and log
/// (`nsd.log`, plus `nsd.out` for its stdout/stderr) live in `dir`, which is also its `zonesdir`.
/// Stopped on drop.
///
/// Reloads go through `nsd-control` over the Unix control socket, which needs no keys (NSD
/// uses the socket's file permissions instead of TLS there, so `nsd-control-setup` is not run).
pub struct Nsd {
    daemon: Daemon,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub socket: PathBuf,
}

impl Nsd {
    /// Starts nsd serving each (zone name, zone file) as a primary; returns once it answers SOA
    /// for every zone over UDP (and accepts TCP), or panics with NSD's log.
    pub fn start(zones: &[(&str, &Path)]) -> Nsd {
        let dir = tempfile::Builder::new().prefix("nicbox-nsd-").tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let conf = root.join("nsd.conf");
        let socket = root.join("nsd.sock");
        let out = root.join("nsd.out");
        let log = root.join("nsd.log");
        let names: Vec<String> = zones.iter().map(|(zone, _)| fqdn(zone)).collect();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            std::fs::write(&conf, nsd_conf(&root, port, zones)).unwrap();
            let _ = std::fs::remove_file(&socket);
            let check = run("nsd-checkconf", &[conf.to_str().unwrap()]);
            assert!(check.status.success(), "nsd.conf rejected:\n{}", combined(&check));
            let mut command = Command::new(tool("nsd"));
            command.arg("-d").arg("-c").arg(&conf);
            let mut daemon = Daemon::spawn("nsd", command, &out, vec![log.clone(), out.clone()]);
            if daemon.wait_ready(port, || serves_all(localhost(port), &names)) {
                return Nsd { daemon, port, dir, conf, socket };
            }
            eprintln!("nsd could not bind port {port} (attempt {attempt}), trying another");
        }
        panic!("nsd could not bind a port in {START_ATTEMPTS} attempts");
    }

    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    /// The argv that asks NSD to reread `zone`'s file: `nsd-control -c CONF reload ZONE`. NSD
    /// answers `ok` once the reload is scheduled, not once it is done: poll the served serial
    /// (`wait_for_serial`) to know when it took effect. A file that fails to parse still answers
    /// `ok`, and then NSD (4.6, without a database) drops the zone and answers SERVFAIL for it
    /// until a good file is reloaded, where Knot keeps serving the old zone: check a file before
    /// reloading NSD with it.
    pub fn reload_command(&self, zone: &str) -> Vec<String> {
        let conf = self.conf.to_string_lossy().into_owned();
        vec![tool("nsd-control"), "-c".into(), conf, "reload".into(), zone.to_string()]
    }

    /// Runs `reload_command(zone)`: true when NSD accepted the command (asynchronous, see there).
    pub fn reload(&self, zone: &str) -> bool {
        let argv = self.reload_command(zone);
        let out = Command::new(&argv[0]).args(&argv[1..]).stdin(Stdio::null()).output().unwrap();
        if !out.status.success() {
            eprintln!("nsd-control reload {zone} failed: {}", combined(&out).trim());
        }
        out.status.success()
    }

    /// NSD's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }
}

fn nsd_conf(root: &Path, port: u16, zones: &[(&str, &Path)]) -> String {
    let root = root.display();
    let mut conf = format!(
        r#"server:
    ip-address: 127.0.0.1@{port}
    do-ip4: yes
    do-ip6: no
    server-count: 1
    database: ""
    zonesdir: "{root}"
    zonelistfile: "{root}/zone.list"
    xfrdfile: "{root}/xfrd.state"
    xfrdir: "{root}"
    pidfile: "{root}/nsd.pid"
    logfile: "{root}/nsd.log"
    username: ""
    chroot: ""
    verbosity: 1

remote-control:
    control-enable: yes
    control-interface: "{root}/nsd.sock"

"#
    );
    for (zone, file) in zones {
        conf.push_str(&format!(
            "zone:\n    name: \"{}\"\n    zonefile: \"{}\"\n\n",
            fqdn(zone),
            absolute(file).display()
        ));
    }
    conf
}

// --- kdig ------------------------------------------------------------------------------------

/// One `kdig` run, parsed from its text output.
#[derive(Debug, Clone, Default)]
pub struct Dig {
    /// `NOERROR`, `NXDOMAIN`, `REFUSED`...; empty when no answer came (timeout, refused
    /// connection: see `raw`).
    pub rcode: String,
    /// The header flags as kdig prints them (`qr`, `aa`, `tc`, `rd`, `ra`...).
    pub flags: Vec<String>,
    pub aa: bool,
    /// Each record as one whitespace-normalised line: `owner ttl class type rdata`
    /// (e.g. `exemplo.pt. 3600 IN NS ns1.exemplo.pt.`; spaces inside TXT strings are normalised
    /// too).
    pub answer: Vec<String>,
    pub authority: Vec<String>,
    pub additional: Vec<String>,
    /// kdig's stdout followed by its stderr (warnings and errors go to stderr).
    pub raw: String,
}

impl Dig {
    /// Whether a response came back at all.
    pub fn answered(&self) -> bool {
        !self.rcode.is_empty()
    }

    /// The records of `section` (answer, authority or additional) of type `rtype`.
    pub fn records<'a>(section: &'a [String], rtype: &'a str) -> impl Iterator<Item = &'a String> + 'a {
        section.iter().filter(move |r| r.split_whitespace().nth(3).is_some_and(|t| t.eq_ignore_ascii_case(rtype)))
    }
}

/// `kdig @ADDR -p PORT -q NAME -t TYPE +norec +retry=1 +time=2` over UDP (kdig retries over TCP
/// by itself when the answer is truncated).
pub fn dig(addr: SocketAddr, name: &str, rtype: &str) -> Dig {
    dig_with(addr, name, rtype, &[])
}

/// The same over TCP (`+tcp`).
pub fn dig_tcp(addr: SocketAddr, name: &str, rtype: &str) -> Dig {
    dig_with(addr, name, rtype, &["+tcp"])
}

/// `dig` with more kdig options after the defaults (a later option wins: `+time=1 +retry=0`
/// overrides `+retry=1 +time=2`).
pub fn dig_with(addr: SocketAddr, name: &str, rtype: &str, options: &[&str]) -> Dig {
    let out = Command::new(tool("kdig"))
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string(), "-q", name, "-t", rtype, "+norec", "+retry=1", "+time=2"])
        .args(options)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run kdig (is knot-dnsutils installed?): {e}"));
    let mut dig = parse_kdig(&String::from_utf8_lossy(&out.stdout));
    dig.raw.push_str(&String::from_utf8_lossy(&out.stderr));
    dig
}

fn parse_kdig(text: &str) -> Dig {
    #[derive(PartialEq)]
    enum Section {
        None,
        Answer,
        Authority,
        Additional,
    }
    let mut dig = Dig { raw: text.to_string(), ..Dig::default() };
    let mut section = Section::None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix(";; ->>HEADER<<-") {
            if let Some(status) = header.split(';').find_map(|part| part.trim().strip_prefix("status:")) {
                dig.rcode = status.trim().to_string();
            }
        } else if let Some(flags) = line.strip_prefix(";; Flags:") {
            let flags = flags.split(';').next().unwrap_or_default();
            dig.flags = flags.split_whitespace().map(str::to_string).collect();
            dig.aa = dig.flags.iter().any(|f| f == "aa");
        } else if line.starts_with(";;") && line.ends_with("SECTION:") {
            section = match line {
                ";; ANSWER SECTION:" => Section::Answer,
                ";; AUTHORITY SECTION:" => Section::Authority,
                ";; ADDITIONAL SECTION:" => Section::Additional,
                _ => Section::None,
            };
        } else if line.is_empty() {
            section = Section::None;
        } else if !line.starts_with(';') {
            let record = line.split_whitespace().collect::<Vec<_>>().join(" ");
            match section {
                Section::Answer => dig.answer.push(record),
                Section::Authority => dig.authority.push(record),
                Section::Additional => dig.additional.push(record),
                Section::None => {}
            }
        }
    }
    dig
}

fn serial_of(dig: &Dig, zone: &str) -> Option<u32> {
    if dig.rcode != "NOERROR" {
        return None;
    }
    let zone = fqdn(zone);
    dig.answer.iter().find_map(|record| {
        let fields: Vec<&str> = record.split_whitespace().collect();
        let soa = fields.len() >= 7 && fields[3].eq_ignore_ascii_case("SOA") && fqdn(fields[0]) == zone;
        if soa { fields[6].parse().ok() } else { None }
    })
}

/// The serial of `zone`'s SOA as served at `addr` (UDP), None when no SOA came back.
pub fn soa_serial(addr: SocketAddr, zone: &str) -> Option<u32> {
    serial_of(&dig(addr, zone, "SOA"), zone)
}

/// Polls `soa_serial` until it is `serial`; false when `timeout` passes first.
pub fn wait_for_serial(addr: SocketAddr, zone: &str, serial: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if serial_of(&dig_with(addr, zone, "SOA", &["+time=1", "+retry=0"]), zone) == Some(serial) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

// --- zone checkers ---------------------------------------------------------------------------

fn check(program: &str, args: &[&str]) -> Result<(), String> {
    let out = run(program, args);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{program} {}: {}\n{}", args.join(" "), out.status, combined(&out).trim()))
    }
}

/// `named-checkzone -i local ZONE FILE` (`-i local`: the default integrity checks look up
/// out-of-zone names and hang without a network). Err holds the command, status and output.
pub fn named_checkzone(zone: &str, file: &Path) -> Result<(), String> {
    check("named-checkzone", &["-i", "local", zone, file.to_str().unwrap()])
}

/// `kzonecheck -o ZONE FILE`. Its parse errors can be terse (`failed to run semantic checks`).
pub fn kzonecheck(zone: &str, file: &Path) -> Result<(), String> {
    check("kzonecheck", &["-o", zone, file.to_str().unwrap()])
}

/// `nsd-checkzone ZONE FILE`.
pub fn nsd_checkzone(zone: &str, file: &Path) -> Result<(), String> {
    check("nsd-checkzone", &[zone, file.to_str().unwrap()])
}

// --- a server that never answers -------------------------------------------------------------

/// A UDP socket and a TCP listener on 127.0.0.1 on one port, both silent: datagrams are never
/// read, TCP connections are accepted and held open without being read. Closed on drop.
pub struct Silent {
    pub port: u16,
    udp: Option<UdpSocket>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Silent {
    pub fn start() -> Silent {
        for _ in 0..100 {
            let Ok(tcp) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) else { continue };
            let port = tcp.local_addr().unwrap().port();
            let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)) else { continue };
            tcp.set_nonblocking(true).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let acceptor = thread::spawn(move || {
                let mut held = Vec::new();
                while !flag.load(Ordering::Relaxed) {
                    match tcp.accept() {
                        Ok((stream, _)) => held.push(stream),
                        Err(_) => thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
            return Silent { port, udp: Some(udp), stop, acceptor: Some(acceptor) };
        }
        panic!("no port on 127.0.0.1 free for both UDP and TCP");
    }

    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.udp.take();
    }
}

// --- tests of this module ----------------------------------------------------------------------

/// A small `pt.` zone: SOA, NS (with in-zone glue), the delegation `exemplo.pt.` with glue and a
/// DS, and `extra` lines.
fn pt_zone(serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN pt.\n$TTL 3600\n\
         @ IN SOA ns1.dns.pt. hostmaster.dns.pt. {serial} 7200 3600 1209600 300\n\
         @ IN NS ns1.dns.pt.\n\
         ns1.dns IN A 192.0.2.53\n\
         exemplo IN NS ns1.exemplo.pt.\n\
         ns1.exemplo IN A 192.0.2.1\n\
         exemplo IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n\
         {extra}"
    )
}

/// Writes `text` to `dir/name` in one go (write a temporary file, then rename, as a publisher
/// would) and returns the path.
fn write_zone(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&tmp).unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.sync_all().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// The referral for `www.exemplo.pt A`: not authoritative, NS in authority, glue in additional.
fn assert_referral(dig: &Dig, child: &str, ns: &str, glue: Option<&str>) {
    assert_eq!(dig.rcode, "NOERROR", "{}", dig.raw);
    assert!(!dig.aa, "a referral is not authoritative: {}", dig.raw);
    assert!(dig.answer.is_empty(), "{}", dig.raw);
    assert!(dig.authority.contains(&format!("{child} 3600 IN NS {ns}")), "{}", dig.raw);
    if let Some(glue) = glue {
        assert!(dig.additional.contains(&format!("{ns} 3600 IN A {glue}")), "{}", dig.raw);
    }
}

fn assert_nxdomain(dig: &Dig) {
    assert_eq!(dig.rcode, "NXDOMAIN", "{}", dig.raw);
    assert!(dig.aa, "{}", dig.raw);
    assert_eq!(Dig::records(&dig.authority, "SOA").count(), 1, "{}", dig.raw);
}

#[test]
fn free_ports_are_distinct_and_bindable() {
    let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
    let distinct: BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    for port in ports {
        assert!(port >= 1024);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
        UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}

#[test]
fn kdig_output_is_parsed() {
    let text = ";; ->>HEADER<<- opcode: QUERY; status: NXDOMAIN; id: 35426\n\
                ;; Flags: qr aa; QUERY: 1; ANSWER: 0; AUTHORITY: 1; ADDITIONAL: 0\n\n\
                ;; QUESTION SECTION:\n;; nothere.pt.         \t\tIN\tA\n\n\
                ;; AUTHORITY SECTION:\n\
                pt.                 \t300\tIN\tSOA\tns1.dns.pt. hostmaster.dns.pt. 1 7200 3600 1209600 300\n\n\
                ;; Received 86 B\n";
    let dig = parse_kdig(text);
    assert_eq!(dig.rcode, "NXDOMAIN");
    assert_eq!(dig.flags, ["qr", "aa"]);
    assert!(dig.aa);
    assert!(dig.answer.is_empty() && dig.additional.is_empty());
    assert_eq!(dig.authority, ["pt. 300 IN SOA ns1.dns.pt. hostmaster.dns.pt. 1 7200 3600 1209600 300"]);
    assert!(dig.answered());
    assert!(!parse_kdig(";; no answer\n").answered());
}

#[test]
fn checkers_pass_a_good_zone_and_fail_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_zone(dir.path(), "pt.zone", &pt_zone(1, ""));
    named_checkzone("pt", &good).unwrap();
    kzonecheck("pt", &good).unwrap();
    nsd_checkzone("pt", &good).unwrap();

    let broken = write_zone(dir.path(), "broken.zone", &pt_zone(1, "bad IN A 999.1.1.1\n"));
    for result in [named_checkzone("pt", &broken), kzonecheck("pt", &broken), nsd_checkzone("pt", &broken)] {
        let error = result.unwrap_err();
        assert!(error.contains("exit status"), "{error}");
    }
    assert!(named_checkzone("pt", &broken).unwrap_err().contains("bad dotted quad"));
    assert!(nsd_checkzone("pt", &broken).unwrap_err().contains("999.1.1.1"));

    let no_soa = write_zone(dir.path(), "nosoa.zone", "$ORIGIN pt.\n$TTL 60\nexemplo IN NS ns1.exemplo.pt.\n");
    assert!(named_checkzone("pt", &no_soa).is_err());
    assert!(kzonecheck("pt", &no_soa).unwrap_err().contains("missing SOA"));
    assert!(nsd_checkzone("pt", &no_soa).is_err());
}

#[test]
fn knot_serves_referrals_and_nxdomain_and_reloads() {
    let zones = tempfile::tempdir().unwrap();
    let file = write_zone(zones.path(), "pt.zone", &pt_zone(1, ""));
    let knot = Knot::start(&[("pt", &file)]);
    let addr = knot.addr();
    assert!(knot.dir.path().join("knot.sock").exists());

    assert_eq!(soa_serial(addr, "pt"), Some(1));
    assert_referral(&dig(addr, "www.exemplo.pt", "A"), "exemplo.pt.", "ns1.exemplo.pt.", Some("192.0.2.1"));
    assert_referral(&dig_tcp(addr, "www.exemplo.pt", "A"), "exemplo.pt.", "ns1.exemplo.pt.", Some("192.0.2.1"));
    assert_nxdomain(&dig(addr, "nothere.pt", "A"));
    let soa = dig_tcp(addr, "pt", "SOA");
    assert!(soa.aa && soa.answer.len() == 1, "{}", soa.raw);

    // A higher serial and another delegation, loaded synchronously.
    write_zone(zones.path(), "pt.zone", &pt_zone(2, "novo IN NS ns.novo.example.\n"));
    assert!(knot.reload("pt"), "{}", knot.log());
    assert_eq!(soa_serial(addr, "pt"), Some(2));
    assert_referral(&dig(addr, "www.novo.pt", "A"), "novo.pt.", "ns.novo.example.", None);
    assert_referral(&dig(addr, "www.exemplo.pt", "A"), "exemplo.pt.", "ns1.exemplo.pt.", Some("192.0.2.1"));

    // The argv for a reload hook works as it stands.
    write_zone(zones.path(), "pt.zone", &pt_zone(3, "novo IN NS ns.novo.example.\n"));
    let argv = knot.reload_command("pt");
    assert!(argv.contains(&"zone-reload".to_string()) && argv.last().unwrap() == "pt", "{argv:?}");
    let status = Command::new(&argv[0]).args(&argv[1..]).stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    assert_eq!(soa_serial(addr, "pt"), Some(3));

    // A broken file fails the reload and the old zone stays.
    write_zone(zones.path(), "pt.zone", &pt_zone(4, "bad IN A 999.1.1.1\n"));
    assert!(!knot.reload("pt"));
    assert_eq!(soa_serial(addr, "pt"), Some(3));
    assert!(!knot.reload("nothere"));
}

#[test]
fn nsd_serves_referrals_and_nxdomain_and_reloads() {
    let zones = tempfile::tempdir().unwrap();
    let file = write_zone(zones.path(), "pt.zone", &pt_zone(1, ""));
    let nsd = Nsd::start(&[("pt", &file)]);
    let addr = nsd.addr();

    assert_eq!(soa_serial(addr, "pt"), Some(1));
    assert_referral(&dig(addr, "www.exemplo.pt", "A"), "exemplo.pt.", "ns1.exemplo.pt.", Some("192.0.2.1"));
    assert_referral(&dig_tcp(addr, "www.exemplo.pt", "A"), "exemplo.pt.", "ns1.exemplo.pt.", Some("192.0.2.1"));
    assert_nxdomain(&dig(addr, "nothere.pt", "A"));
    assert_nxdomain(&dig_tcp(addr, "nothere.pt", "A"));

    write_zone(zones.path(), "pt.zone", &pt_zone(2, "novo IN NS ns.novo.example.\n"));
    assert!(nsd.reload("pt"), "{}", nsd.log());
    assert!(wait_for_serial(addr, "pt", 2, Duration::from_secs(10)), "{}", nsd.log());
    assert_referral(&dig(addr, "www.novo.pt", "A"), "novo.pt.", "ns.novo.example.", None);
    assert!(!nsd.reload("nothere"));

    // A broken file: the command still succeeds, and the zone is dropped (SERVFAIL) until a
    // good file is reloaded.
    write_zone(zones.path(), "pt.zone", &pt_zone(3, "bad IN A 999.1.1.1\n"));
    assert!(nsd.reload("pt"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while dig(addr, "pt", "SOA").rcode != "SERVFAIL" {
        assert!(Instant::now() < deadline, "{}", nsd.log());
        thread::sleep(Duration::from_millis(25));
    }
    assert!(nsd.log().contains("999.1.1.1"), "{}", nsd.log());
    write_zone(zones.path(), "pt.zone", &pt_zone(4, ""));
    assert!(nsd.reload("pt"));
    assert!(wait_for_serial(addr, "pt", 4, Duration::from_secs(10)), "{}", nsd.log());
}

#[test]
fn servers_run_side_by_side() {
    let zones = tempfile::tempdir().unwrap();
    let pt = write_zone(zones.path(), "pt.zone", &pt_zone(10, ""));
    let com_pt = write_zone(
        zones.path(),
        "com.pt.zone",
        "$ORIGIN com.pt.\n$TTL 3600\n@ IN SOA ns1.dns.pt. hostmaster.dns.pt. 20 7200 3600 1209600 300\n\
         @ IN NS ns1.dns.pt.\nloja IN NS ns.loja.example.\n",
    );
    let other = tempfile::tempdir().unwrap();
    let pt_other = write_zone(other.path(), "pt.zone", &pt_zone(30, ""));

    let (a, b) = thread::scope(|s| {
        let a = s.spawn(|| Knot::start(&[("pt", &pt), ("com.pt", &com_pt)]));
        let b = s.spawn(|| Knot::start(&[("pt", &pt_other)]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let n = Nsd::start(&[("pt.", &pt), ("com.pt.", &com_pt)]);
    let ports: BTreeSet<u16> = [a.port, b.port, n.port].into();
    assert_eq!(ports.len(), 3);
    assert_ne!(a.dir.path(), b.dir.path());

    assert_eq!(soa_serial(a.addr(), "pt"), Some(10));
    assert_eq!(soa_serial(a.addr(), "com.pt"), Some(20));
    assert_eq!(soa_serial(b.addr(), "pt"), Some(30));
    assert_eq!(soa_serial(b.addr(), "com.pt"), None);
    assert_nxdomain(&dig(b.addr(), "com.pt", "SOA")); // in b, com.pt. is a name in pt.
    assert_eq!(soa_serial(n.addr(), "pt."), Some(10));
    assert_eq!(soa_serial(n.addr(), "com.pt"), Some(20));
    assert_referral(&dig(n.addr(), "www.loja.com.pt", "A"), "loja.com.pt.", "ns.loja.example.", None);

    // Stopped on drop: the port stops answering.
    let addr = a.addr();
    drop(a);
    let after = dig_with(addr, "pt", "SOA", &["+time=1", "+retry=0", "+tcp"]);
    assert!(!after.answered(), "{}", after.raw);
}

#[test]
fn silent_server_times_kdig_out() {
    let silent = Silent::start();
    let addr = silent.addr();
    for options in [&["+time=1", "+retry=0"][..], &["+time=1", "+retry=0", "+tcp"][..]] {
        let started = Instant::now();
        let dig = dig_with(addr, "pt", "SOA", options);
        let elapsed = started.elapsed();
        assert!(!dig.answered(), "{}", dig.raw);
        assert!(dig.raw.contains("timeout"), "{}", dig.raw);
        assert!(elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5), "{elapsed:?}");
    }
    // TCP connections are accepted (and held), not refused.
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
    drop(stream);
    drop(silent);
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}
