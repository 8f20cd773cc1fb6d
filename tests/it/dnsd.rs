//! Real DNS software for the integration tests: Knot and NSD started as primaries on 127.0.0.1
//! (each in its own temporary directory, on its own free high port, killed on drop), Knot and NSD
//! started as secondaries of a primary on 127.0.0.1 (`KnotSecondary`, `NsdSecondary`: AXFR at
//! start, IXFR after NOTIFY, TSIG with a `TsigKey`, the transfers they made read back), `kdig`
//! with its text output parsed (queries, and transfers with `kdig_xfr`), zone files read into
//! the same normal form as transfers (`zone_file_records`), the three zone checkers
//! (`named-checkzone -i local`, `kzonecheck`, `nsd-checkzone`), and a server that never answers.
//!
//! Everything is blocking and std only. Nothing listens anywhere but 127.0.0.1 and nothing is
//! sent anywhere but to loopback: a primary sends NOTIFY only to the loopback addresses it is
//! given, a secondary transfers only from the loopback primary it is given; no DNSSEC; control
//! channels are Unix sockets in the servers' directories.
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
/// (`start`: `zonefile-load: whole`, no journal, no transfers allowed, no NOTIFY;
/// `start_primary`: transfers and NOTIFY for secondaries, see there; zone files never written
/// back, no DNSSEC). Its config (`knot.conf`), control socket (`knot.sock`), databases and log
/// (`knotd.log`) live in `dir`. Stopped on drop.
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
        Knot::start_with(zones, None)
    }

    /// Starts knotd as a primary that its secondaries can follow: the same as `start`, plus
    /// transfers (AXFR and IXFR) allowed from 127.0.0.1, signed with `key` when there is one (an
    /// unsigned or wrongly signed request gets NOTAUTH), and a NOTIFY (signed with `key`) to each
    /// of `notify` whenever a zone loads. The zone files are loaded with `zonefile-load:
    /// difference` into a journal (`journal-content: changes`), so that after a `reload` with a
    /// higher serial knotd answers IXFR with the difference (it falls back to AXFR for a serial
    /// older than its history, logging `IXFR, outgoing, ..., incomplete history, serial N,
    /// fallback to AXFR`).
    pub fn start_primary(zones: &[(&str, &Path)], key: Option<&TsigKey>, notify: &[SocketAddr]) -> Knot {
        assert!(notify.iter().all(|a| a.ip().is_loopback()), "NOTIFY only to loopback: {notify:?}");
        Knot::start_with(zones, Some((key, notify)))
    }

    fn start_with(zones: &[(&str, &Path)], outgoing: Option<(Option<&TsigKey>, &[SocketAddr])>) -> Knot {
        let dir = tempfile::Builder::new().prefix("nicbox-knot-").tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("db")).unwrap();
        let conf = root.join("knot.conf");
        let socket = root.join("knot.sock");
        let out = root.join("knotd.log");
        let names: Vec<String> = zones.iter().map(|(zone, _)| fqdn(zone)).collect();
        for attempt in 1..=START_ATTEMPTS {
            let port = free_port();
            std::fs::write(&conf, knot_conf(&root, port, zones, outgoing)).unwrap();
            let mut daemon = spawn_knotd(&conf, &out);
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

/// Checks `conf` with `knotc conf-check` (panicking with its output when rejected), then starts
/// `knotd -c conf` with its stdout and stderr (where the log goes) in `out`.
fn spawn_knotd(conf: &Path, out: &Path) -> Daemon {
    let check = run("knotc", &["-c", conf.to_str().unwrap(), "conf-check"]);
    assert!(check.status.success(), "knot.conf rejected:\n{}", combined(&check));
    let mut command = Command::new(tool("knotd"));
    command.arg("-c").arg(conf);
    Daemon::spawn("knotd", command, out, vec![out.to_path_buf()])
}

/// `server`, `database`, `control` and `log` (stderr, `info`) sections of a knot.conf for a
/// server in `root` listening on 127.0.0.1:`port`.
fn knot_conf_head(root: &Path, port: u16) -> String {
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

"#
    )
}

/// knot.conf for `Knot`: `outgoing` is None for a server without secondaries, else the key
/// (if any) transfers must be signed with and the secondaries to NOTIFY.
fn knot_conf(
    root: &Path,
    port: u16,
    zones: &[(&str, &Path)],
    outgoing: Option<(Option<&TsigKey>, &[SocketAddr])>,
) -> String {
    let mut conf = knot_conf_head(root, port);
    let root = root.display();
    let (load, journal) = match outgoing {
        None => ("whole", "none"),
        Some(_) => ("difference", "changes"),
    };
    let mut zone_extra = String::new();
    if let Some((key, notify)) = outgoing {
        let key_line = key.map(|k| format!("    key: {}\n", k.name)).unwrap_or_default();
        if let Some(key) = key {
            conf.push_str(&key.knot_section());
        }
        if !notify.is_empty() {
            conf.push_str("remote:\n");
            for (i, addr) in notify.iter().enumerate() {
                conf.push_str(&format!("  - id: secondary{i}\n    address: {}@{}\n{key_line}", addr.ip(), addr.port()));
            }
            conf.push('\n');
            let ids: Vec<String> = (0..notify.len()).map(|i| format!("secondary{i}")).collect();
            zone_extra.push_str(&format!("    notify: [{}]\n", ids.join(", ")));
        }
        conf.push_str(&format!("acl:\n  - id: transfer\n    address: 127.0.0.1\n{key_line}    action: transfer\n\n"));
        zone_extra.push_str("    acl: transfer\n");
    }
    conf.push_str(&format!(
        r#"template:
  - id: default
    storage: "{root}"
    zonefile-sync: -1
    zonefile-load: {load}
    journal-content: {journal}

zone:
"#
    ));
    for (zone, file) in zones {
        conf.push_str(&format!("  - domain: \"{}\"\n    file: \"{}\"\n", fqdn(zone), absolute(file).display()));
        conf.push_str(&zone_extra);
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
        .args(["-p", &addr.port().to_string(), "-q", name, "-t", rtype, "+norec", "+retry=1", "+time=2", "+noidn"])
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

/// Polls `done` every 25 ms until it holds (true) or `timeout` passes (false).
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

// --- TSIG ------------------------------------------------------------------------------------

/// A TSIG key as the servers' configs and `kdig -y` spell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsigKey {
    /// The key's name, a domain name (`xfr-key` or `xfr-key.`: both tools accept either).
    pub name: String,
    /// `hmac-sha256`.
    pub algorithm: String,
    /// The secret, base64.
    pub secret: String,
}

impl TsigKey {
    /// An `hmac-sha256` key named `name` with 32 random bytes of secret (from std's randomly
    /// seeded hasher: unpredictable enough for a test, not for anything else).
    pub fn random(name: &str) -> TsigKey {
        use base64::Engine as _;
        let state = RandomState::new();
        let mut bytes = Vec::with_capacity(32);
        for i in 0u64..4 {
            let mut hasher = state.build_hasher();
            hasher.write_u64(i);
            hasher.write_u128(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
            );
            bytes.extend_from_slice(&hasher.finish().to_be_bytes());
        }
        let secret = base64::engine::general_purpose::STANDARD.encode(&bytes);
        TsigKey { name: name.to_string(), algorithm: "hmac-sha256".to_string(), secret }
    }

    /// The same name and algorithm with another random secret: what a secondary configured with
    /// the wrong secret holds.
    pub fn with_other_secret(&self) -> TsigKey {
        TsigKey { secret: TsigKey::random(&self.name).secret, ..self.clone() }
    }

    /// `ALGORITHM:NAME:SECRET`, the argument of `kdig -y`.
    pub fn kdig_arg(&self) -> String {
        format!("{}:{}:{}", self.algorithm, self.name, self.secret)
    }

    /// knot.conf's `key:` section with this key (its id is the name).
    fn knot_section(&self) -> String {
        format!("key:\n  - id: {}\n    algorithm: {}\n    secret: {}\n\n", self.name, self.algorithm, self.secret)
    }

    /// nsd.conf's `key:` clause with this key.
    fn nsd_clause(&self) -> String {
        format!(
            "key:\n    name: \"{}\"\n    algorithm: {}\n    secret: \"{}\"\n\n",
            self.name, self.algorithm, self.secret
        )
    }
}

// --- secondaries -----------------------------------------------------------------------------

/// The zone in a Knot log line `... [zone] rest` and the rest, or None.
fn knot_log_zone(line: &str) -> Option<(String, &str)> {
    let start = line.find(" [")? + 2;
    let end = start + line[start..].find("] ")?;
    Some((fqdn(&line[start..end]), &line[end + 2..]))
}

/// `knotd` as a secondary on 127.0.0.1:`port` (UDP and TCP) of one primary, for each of its
/// zones: it transfers each zone when it starts (AXFR: it has no zone file and keeps none,
/// `zonefile-load: none`, `zonefile-sync: -1`), accepts NOTIFY from the primary's IP (any port;
/// signed with the key when there is one, unsigned otherwise; a NOTIFY with a bad signature is
/// dropped without a line at `info`), then asks the SOA over UDP and, when the primary's serial
/// is higher, an IXFR over TCP. The journal (`journal-content: changes`, `journal-max-usage: 2G`
/// so that the changes of a million-delegation zone fit) keeps the changes it received.
///
/// What knotd 3.2 logs (`info`), with the zone in brackets:
/// - `[pt.] AXFR, incoming, remote 127.0.0.1@P, started`, then `... finished, 0.00 seconds,
///   1 messages, 325 bytes`, then `[pt.] refresh, remote 127.0.0.1@P, zone updated, ...,
///   serial none -> 1, ...`; the same with `IXFR` for an incremental transfer;
/// - an IXFR answered with the whole zone: `IXFR, incoming, ..., receiving AXFR-style IXFR`,
///   then the `AXFR, incoming, ... started` / `finished` lines;
/// - `[pt.] notify, incoming, remote 127.0.0.1@P, serial 2`;
/// - a refused transfer: `[pt.] AXFR, incoming, remote ..., server responded with error
///   'NOTAUTH'` (or `'REFUSED'`), then `[pt.] refresh, remote primary, address ..., failed (not
///   allowed)`; a reply whose TSIG does not verify (wrong secret): `[pt.] refresh, remote primary,
///   address ..., failed (failed to verify TSIG)`; both followed by `[pt.] refresh, failed (no
///   usable master), next retry at ...` (seen from 1 to 20 s later while bootstrapping:
///   `retransfer` to try again at once).
///
/// Its config (`knot.conf`), control socket (`knot.sock`), databases and log (`knotd.log`)
/// live in `dir`. Stopped on drop.
pub struct KnotSecondary {
    daemon: Daemon,
    /// Its port on 127.0.0.1 (UDP and TCP).
    pub port: u16,
    /// The primary it transfers from.
    pub primary: SocketAddr,
    /// Its directory, removed on drop.
    pub dir: tempfile::TempDir,
    /// `dir/knot.conf`.
    pub conf: PathBuf,
    /// `dir/knot.sock`, for `knotc -s`.
    pub socket: PathBuf,
}

impl KnotSecondary {
    /// Starts knotd on a free port as a secondary of `primary` for `zones`, transfers signed
    /// with `key` when there is one. Returns once knotd answers queries (SERVFAIL for a zone it
    /// has not transferred yet), not once the zones are transferred (the primary may refuse):
    /// wait for that with `wait_for_serial`.
    pub fn start(primary: SocketAddr, zones: &[&str], key: Option<&TsigKey>) -> KnotSecondary {
        for attempt in 1..=START_ATTEMPTS {
            if let Some(secondary) = KnotSecondary::try_start(free_port(), primary, zones, key) {
                return secondary;
            }
            eprintln!("knotd could not bind a port (attempt {attempt}), trying another");
        }
        panic!("knotd could not bind a port in {START_ATTEMPTS} attempts");
    }

    /// The same on a port chosen beforehand (`free_port()`), so that the primary can be told
    /// where to send NOTIFY before the secondary runs. Panics when the port cannot be bound.
    pub fn start_on(port: u16, primary: SocketAddr, zones: &[&str], key: Option<&TsigKey>) -> KnotSecondary {
        KnotSecondary::try_start(port, primary, zones, key)
            .unwrap_or_else(|| panic!("knotd could not bind 127.0.0.1:{port}"))
    }

    fn try_start(port: u16, primary: SocketAddr, zones: &[&str], key: Option<&TsigKey>) -> Option<KnotSecondary> {
        assert!(primary.ip().is_loopback(), "a secondary of a loopback primary only: {primary}");
        let dir = tempfile::Builder::new().prefix("nicbox-knot2-").tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("db")).unwrap();
        let conf = root.join("knot.conf");
        let socket = root.join("knot.sock");
        let out = root.join("knotd.log");
        std::fs::write(&conf, knot_secondary_conf(&root, port, primary, zones, key)).unwrap();
        let mut daemon = spawn_knotd(&conf, &out);
        let probe = zones.first().map_or(".".to_string(), |z| fqdn(z));
        let addr = localhost(port);
        if daemon.wait_ready(port, || dig_with(addr, &probe, "SOA", &["+time=1", "+retry=0"]).answered()) {
            Some(KnotSecondary { daemon, port, primary, dir, conf, socket })
        } else {
            None
        }
    }

    /// 127.0.0.1:`port`, where it answers queries.
    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    /// knotd's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Whether the log so far contains `text`.
    pub fn log_contains(&self, text: &str) -> bool {
        self.log().contains(text)
    }

    /// Polls the served SOA of `zone` until its serial is `serial`; false after `timeout`.
    pub fn wait_for_serial(&self, zone: &str, serial: u32, timeout: Duration) -> bool {
        wait_for_serial(self.addr(), zone, serial, timeout)
    }

    /// The transfers knotd completed, in order: (zone with its dot, `AXFR` or `IXFR`), from its
    /// `[zone] AXFR, incoming, remote ..., finished` / `IXFR, incoming, ..., finished` lines. An
    /// IXFR the primary answered with the whole zone counts as `AXFR` (knotd logs it so).
    pub fn incoming_transfers(&self) -> Vec<(String, String)> {
        let log = self.log();
        let mut transfers = Vec::new();
        for line in log.lines() {
            let Some((zone, rest)) = knot_log_zone(line) else { continue };
            for kind in ["AXFR", "IXFR"] {
                if rest.starts_with(&format!("{kind}, incoming, ")) && rest.contains(", finished") {
                    transfers.push((zone.clone(), kind.to_string()));
                }
            }
        }
        transfers
    }

    /// The NOTIFY messages knotd accepted: (zone with its dot, the serial they carried, None
    /// when they carried none).
    pub fn notifies(&self) -> Vec<(String, Option<u32>)> {
        let log = self.log();
        let mut notifies = Vec::new();
        for line in log.lines() {
            let Some((zone, rest)) = knot_log_zone(line) else { continue };
            if rest.starts_with("notify, incoming, ") {
                let serial = rest.rsplit_once("serial ").and_then(|(_, n)| n.trim().parse().ok());
                notifies.push((zone, serial));
            }
        }
        notifies
    }

    /// The log lines of failed attempts to refresh or transfer `zone` (the primary refused,
    /// answered an error, or its TSIG did not verify; see the type's doc for the wording).
    pub fn transfer_failures(&self, zone: &str) -> Vec<String> {
        let zone = fqdn(zone);
        let log = self.log();
        log.lines()
            .filter(|line| {
                knot_log_zone(line).is_some_and(|(z, rest)| {
                    z == zone
                        && (rest.contains("server responded with error")
                            || (rest.starts_with("refresh, ") && rest.contains("failed")))
                })
            })
            .map(str::to_string)
            .collect()
    }

    /// Whether an attempt to transfer `zone` has failed so far.
    pub fn transfer_failed(&self, zone: &str) -> bool {
        !self.transfer_failures(zone).is_empty()
    }

    fn knotc(&self, command: &str, zone: &str) -> bool {
        let socket = self.socket.to_str().unwrap();
        let out = run("knotc", &["-s", socket, command, &fqdn(zone)]);
        if !out.status.success() {
            eprintln!("knotc {command} {zone} failed: {}", combined(&out).trim());
        }
        out.status.success()
    }

    /// `knotc zone-refresh ZONE`: ask the primary's SOA now and transfer when it is newer
    /// (IXFR). Asynchronous: true when knotd accepted the command.
    pub fn refresh(&self, zone: &str) -> bool {
        self.knotc("zone-refresh", zone)
    }

    /// `knotc zone-retransfer ZONE`: transfer the whole zone now (AXFR), whatever the serials.
    /// Asynchronous: true when knotd accepted the command.
    pub fn retransfer(&self, zone: &str) -> bool {
        self.knotc("zone-retransfer", zone)
    }
}

fn knot_secondary_conf(root: &Path, port: u16, primary: SocketAddr, zones: &[&str], key: Option<&TsigKey>) -> String {
    let mut conf = knot_conf_head(root, port);
    // journal-max-usage is per zone (100M by default); the database's own limit
    // (journal-db-max-size, 20G on 64-bit) is a sparse LMDB map and stays at its default.
    let key_line = key.map(|k| format!("    key: {}\n", k.name)).unwrap_or_default();
    if let Some(key) = key {
        conf.push_str(&key.knot_section());
    }
    let (ip, primary_port) = (primary.ip(), primary.port());
    let root = root.display();
    conf.push_str(&format!(
        r#"remote:
  - id: primary
    address: {ip}@{primary_port}
{key_line}
acl:
  - id: notify_from_primary
    address: {ip}
{key_line}    action: notify

template:
  - id: default
    storage: "{root}"
    zonefile-load: none
    zonefile-sync: -1
    journal-content: changes
    journal-max-usage: 2G

zone:
"#
    ));
    for zone in zones {
        // `master:` is the 3.2 spelling (Debian 12); later versions still accept it.
        conf.push_str(&format!("  - domain: \"{}\"\n    master: primary\n    acl: notify_from_primary\n", fqdn(zone)));
    }
    conf
}

/// `nsd` as a secondary on 127.0.0.1:`port` (UDP and TCP) of one primary, for each of its
/// zones: `request-xfr: 127.0.0.1@TAP KEY` (or `NOKEY`) and `allow-notify: PRIMARY-IP KEY` (any
/// source port), no zone file (`database: ""`, so each start transfers again), `verbosity: 2`,
/// `xfrd-reload-timeout: 0` (a transfer is served at once, not after the default second).
///
/// NSD goes to the primary through a TCP relay on 127.0.0.1 (`TAP`, see `XfrTap`), because NSD
/// 4.6 does not log whether a transfer was an AXFR or an IXFR: the relay reads the replies. To
/// the primary, NSD's transfers come from 127.0.0.1 on the relay's ports.
///
/// How NSD 4.6 transfers: a zone it does not have is asked with AXFR; after that, on NOTIFY (or
/// at refresh time) it asks IXFR over TCP straight away, with no SOA query first, and accepts
/// an IXFR answered with the whole zone. The `request-xfr: UDP` form (IXFR over UDP first) and
/// the `AXFR` form (never IXFR) are not used. An IXFR answered with an error or garbage makes NSD
/// fall back to AXFR, and after a NOTIMP, or three bad replies, it stops asking that primary for
/// IXFR for 48 hours (`XFRD_NO_IXFR_CACHE`): a broken IXFR can go unnoticed unless the test
/// checks `incoming_transfers`. After a failed first transfer NSD waits 10 to 20 s before
/// trying again (`retransfer` to try at once).
///
/// What NSD logs (`nsd.log`), a successful transfer (either kind):
/// `info: xfrd: zone pt. committed "received update to serial 2 at 2026-...T15:44:41 from
/// 127.0.0.1@P TSIG verified with key k1"` (`... from 127.0.0.1@P"` without a key), then `info:
/// zone pt. received update to serial 2 ... of 274 bytes in 4.2e-05 seconds` and `info: zone
/// pt. serial 1 is updated to 2`; a NOTIFY: `info: notify for pt. from 127.0.0.1 serial 2`; a
/// refusal: `error: xfrd: zone pt. received error code SERVER NOT AUTHORITATIVE FOR ZONE from
/// 127.0.0.1@P` (NOTAUTH; `REFUSED` for REFUSED); a reply that fails TSIG: `error: xfrd: zone pt.,
/// from 127.0.0.1@P: tsig error (Bad Signature)`, `... : bad tsig signature`, `info: xfrd: zone
/// pt. bad transfer 0 from 127.0.0.1@P`; a NOTIFY that fails TSIG: `error: query: bad tsig
/// signature for key k1. from 127.0.0.1`.
///
/// Its config (`nsd.conf`), state, control socket (`nsd.sock`) and log (`nsd.log`, `nsd.out`)
/// live in `dir`. Stopped on drop.
pub struct NsdSecondary {
    // Declared first: NSD stops before the relay it transfers through.
    daemon: Daemon,
    tap: XfrTap,
    /// Its port on 127.0.0.1 (UDP and TCP).
    pub port: u16,
    /// The primary it transfers from (through the relay).
    pub primary: SocketAddr,
    /// Its directory, removed on drop.
    pub dir: tempfile::TempDir,
    /// `dir/nsd.conf`, for `nsd-control -c`.
    pub conf: PathBuf,
    /// `dir/nsd.sock`.
    pub socket: PathBuf,
}

impl NsdSecondary {
    /// Starts nsd on a free port as a secondary of `primary` for `zones`, transfers signed with
    /// `key` when there is one. Returns once nsd answers queries (SERVFAIL for a zone it has not
    /// transferred yet), not once the zones are transferred: see `wait_for_serial`.
    pub fn start(primary: SocketAddr, zones: &[&str], key: Option<&TsigKey>) -> NsdSecondary {
        for attempt in 1..=START_ATTEMPTS {
            if let Some(secondary) = NsdSecondary::try_start(free_port(), primary, zones, key) {
                return secondary;
            }
            eprintln!("nsd could not bind a port (attempt {attempt}), trying another");
        }
        panic!("nsd could not bind a port in {START_ATTEMPTS} attempts");
    }

    /// The same on a port chosen beforehand (`free_port()`). Panics when it cannot be bound.
    pub fn start_on(port: u16, primary: SocketAddr, zones: &[&str], key: Option<&TsigKey>) -> NsdSecondary {
        NsdSecondary::try_start(port, primary, zones, key)
            .unwrap_or_else(|| panic!("nsd could not bind 127.0.0.1:{port}"))
    }

    fn try_start(port: u16, primary: SocketAddr, zones: &[&str], key: Option<&TsigKey>) -> Option<NsdSecondary> {
        assert!(primary.ip().is_loopback(), "a secondary of a loopback primary only: {primary}");
        let dir = tempfile::Builder::new().prefix("nicbox-nsd2-").tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let conf = root.join("nsd.conf");
        let socket = root.join("nsd.sock");
        let out = root.join("nsd.out");
        let log = root.join("nsd.log");
        let tap = XfrTap::start(primary);
        std::fs::write(&conf, nsd_secondary_conf(&root, port, primary, tap.addr(), zones, key)).unwrap();
        let check = run("nsd-checkconf", &[conf.to_str().unwrap()]);
        assert!(check.status.success(), "nsd.conf rejected:\n{}", combined(&check));
        let mut command = Command::new(tool("nsd"));
        command.arg("-d").arg("-c").arg(&conf);
        let mut daemon = Daemon::spawn("nsd", command, &out, vec![log.clone(), out.clone()]);
        let probe = zones.first().map_or(".".to_string(), |z| fqdn(z));
        let addr = localhost(port);
        if daemon.wait_ready(port, || dig_with(addr, &probe, "SOA", &["+time=1", "+retry=0"]).answered()) {
            Some(NsdSecondary { daemon, tap, port, primary, dir, conf, socket })
        } else {
            None
        }
    }

    /// 127.0.0.1:`port`, where it answers queries.
    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    /// NSD's log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Whether the log so far contains `text`.
    pub fn log_contains(&self, text: &str) -> bool {
        self.log().contains(text)
    }

    /// Polls the served SOA of `zone` until its serial is `serial`; false after `timeout`.
    pub fn wait_for_serial(&self, zone: &str, serial: u32, timeout: Duration) -> bool {
        wait_for_serial(self.addr(), zone, serial, timeout)
    }

    /// The (zone with its dot, serial) of each transfer NSD committed, in order, from its
    /// `xfrd: zone Z committed "received update to serial N ..."` lines.
    pub fn committed(&self) -> Vec<(String, u32)> {
        let log = self.log();
        let mut updates = Vec::new();
        for line in log.lines() {
            let Some((_, rest)) = line.split_once("xfrd: zone ") else { continue };
            let Some((zone, rest)) = rest.split_once(" committed \"received update to serial ") else { continue };
            if let Some(serial) = rest.split_whitespace().next().and_then(|n| n.parse().ok()) {
                updates.push((fqdn(zone), serial));
            }
        }
        updates
    }

    /// The transfers NSD completed, in order: (zone with its dot, `AXFR` or `IXFR`). The kind
    /// is what the relay saw in the reply (`IXFR`: an incremental reply; `AXFR`: the whole zone,
    /// also when NSD asked IXFR), kept only when NSD then committed that zone at that serial.
    pub fn incoming_transfers(&self) -> Vec<(String, String)> {
        let mut committed = self.committed();
        let mut transfers = Vec::new();
        for seen in self.tap.transfers() {
            if let Some(i) = committed.iter().position(|(zone, serial)| *zone == seen.zone && *serial == seen.serial) {
                committed.remove(i);
                transfers.push((seen.zone, seen.kind.to_string()));
            }
        }
        transfers
    }

    /// The NOTIFY messages NSD accepted: (zone with its dot, serial, None when none was given).
    pub fn notifies(&self) -> Vec<(String, Option<u32>)> {
        let log = self.log();
        let mut notifies = Vec::new();
        for line in log.lines() {
            let Some((_, rest)) = line.split_once("info: notify for ") else { continue };
            let zone = rest.split_whitespace().next().unwrap_or_default();
            let serial = rest.rsplit_once(" serial ").and_then(|(_, n)| n.trim().parse().ok());
            notifies.push((fqdn(zone), serial));
        }
        notifies
    }

    /// The log lines of failed attempts to transfer `zone` (an error rcode from the primary, a
    /// TSIG failure, a bad transfer; see the type's doc for the wording).
    pub fn transfer_failures(&self, zone: &str) -> Vec<String> {
        let zone = fqdn(zone);
        let log = self.log();
        log.lines()
            .filter(|line| {
                line.split_once("xfrd: zone ").is_some_and(|(_, rest)| {
                    let name = rest.split([' ', ',']).next().unwrap_or_default();
                    fqdn(name) == zone
                        && (rest.contains(" received error code ")
                            || rest.contains(", from ")
                            || rest.contains(" bad transfer "))
                })
            })
            .map(str::to_string)
            .collect()
    }

    /// Whether an attempt to transfer `zone` has failed so far.
    pub fn transfer_failed(&self, zone: &str) -> bool {
        !self.transfer_failures(zone).is_empty()
    }

    fn nsd_control(&self, command: &str, zone: &str) -> bool {
        let out = run("nsd-control", &["-c", self.conf.to_str().unwrap(), command, &fqdn(zone)]);
        if !out.status.success() {
            eprintln!("nsd-control {command} {zone} failed: {}", combined(&out).trim());
        }
        out.status.success()
    }

    /// `nsd-control transfer ZONE`: ask the primary now (IXFR when NSD has the zone).
    /// Asynchronous: true when NSD accepted the command.
    pub fn refresh(&self, zone: &str) -> bool {
        self.nsd_control("transfer", zone)
    }

    /// `nsd-control force_transfer ZONE`: transfer the whole zone now (AXFR). Asynchronous.
    pub fn retransfer(&self, zone: &str) -> bool {
        self.nsd_control("force_transfer", zone)
    }
}

fn nsd_secondary_conf(
    root: &Path,
    port: u16,
    primary: SocketAddr,
    tap: SocketAddr,
    zones: &[&str],
    key: Option<&TsigKey>,
) -> String {
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
    verbosity: 2
    xfrd-reload-timeout: 0

remote-control:
    control-enable: yes
    control-interface: "{root}/nsd.sock"

"#
    );
    if let Some(key) = key {
        conf.push_str(&key.nsd_clause());
    }
    let key_name = key.map_or("NOKEY", |k| k.name.as_str());
    for zone in zones {
        conf.push_str(&format!(
            "zone:\n    name: \"{}\"\n    request-xfr: {}@{} {key_name}\n    allow-notify: {} {key_name}\n\n",
            fqdn(zone),
            tap.ip(),
            tap.port(),
            primary.ip(),
        ));
    }
    conf
}

// --- a relay that sees transfers -------------------------------------------------------------

/// One transfer seen by an `XfrTap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TappedTransfer {
    /// The zone, lower case with its dot.
    pub zone: String,
    /// `IXFR` when the reply was incremental (its second record a SOA with another serial),
    /// `AXFR` when it was the whole zone (to an AXFR, or to an IXFR answered AXFR-style).
    pub kind: &'static str,
    /// The serial of the reply's first SOA (the version transferred).
    pub serial: u32,
}

/// A TCP relay on 127.0.0.1 (its own port) to `primary` that reads the DNS replies going back
/// and notes each zone transfer that brought records (a NOERROR reply to AXFR or IXFR with at
/// least two records; a reply of one SOA, "you are up to date", is not a transfer). Bytes go
/// through unchanged, so TSIG works across it. TCP only. Closed on drop (its relays notice
/// within 100 ms and close their connections).
pub struct XfrTap {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<TappedTransfer>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl XfrTap {
    /// Listens on 127.0.0.1 (a port the kernel picks) and relays each connection to `primary`.
    pub fn start(primary: SocketAddr) -> XfrTap {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (flag, found) = (stop.clone(), seen.clone());
        let acceptor = thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect_timeout(&primary, Duration::from_secs(5)) else { continue };
                let (Ok(client_copy), Ok(server_copy)) = (client.try_clone(), server.try_clone()) else { continue };
                let (up, down) = (flag.clone(), flag.clone());
                thread::spawn(move || relay(client_copy, server_copy, &up, None));
                let found = found.clone();
                thread::spawn(move || relay(server, client, &down, Some(found)));
            }
        });
        XfrTap { port, stop, seen, acceptor: Some(acceptor) }
    }

    /// 127.0.0.1:`port`, to give the secondary as its primary.
    pub fn addr(&self) -> SocketAddr {
        localhost(self.port)
    }

    /// The transfers seen so far, in order.
    pub fn transfers(&self) -> Vec<TappedTransfer> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for XfrTap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Copies `from` to `to` until `from` ends or `stop` is set, then half-closes `to`; with
/// `seen`, reads the bytes as DNS-over-TCP replies and notes the transfers in them.
fn relay(mut from: TcpStream, mut to: TcpStream, stop: &AtomicBool, seen: Option<Arc<Mutex<Vec<TappedTransfer>>>>) {
    use std::io::{ErrorKind, Read};
    let mut watch = seen.map(XfrWatch::new);
    let mut buf = vec![0u8; 64 * 1024];
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    while !stop.load(Ordering::Relaxed) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                continue;
            }
            Err(_) => break,
        };
        if let Some(watch) = watch.as_mut() {
            watch.feed(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// What is known of one reply stream (one query ID) on a relayed connection.
struct XfrReply {
    zone: String,
    /// The first SOA's serial, once seen.
    first: Option<u32>,
    /// Decided (noted, or not a transfer).
    done: bool,
}

/// Splits a DNS-over-TCP byte stream into messages and notes the transfers in them.
struct XfrWatch {
    buf: Vec<u8>,
    start: usize,
    replies: std::collections::HashMap<u16, XfrReply>,
    seen: Arc<Mutex<Vec<TappedTransfer>>>,
}

const TYPE_SOA: u16 = 6;
const TYPE_IXFR: u16 = 251;
const TYPE_AXFR: u16 = 252;

impl XfrWatch {
    fn new(seen: Arc<Mutex<Vec<TappedTransfer>>>) -> XfrWatch {
        XfrWatch { buf: Vec::new(), start: 0, replies: Default::default(), seen }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        loop {
            let available = &self.buf[self.start..];
            if available.len() < 2 {
                break;
            }
            let len = usize::from(u16::from_be_bytes([available[0], available[1]]));
            if available.len() < 2 + len {
                break;
            }
            let message = &self.buf[self.start + 2..self.start + 2 + len];
            if let Some(noted) = note_reply(message, &mut self.replies) {
                self.seen.lock().unwrap().push(noted);
            }
            self.start += 2 + len;
        }
        if self.start == self.buf.len() || self.start > 1 << 20 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

fn u16_at(message: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*message.get(at)?, *message.get(at + 1)?]))
}

/// The position after the (possibly compressed) name at `at`.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *message.get(at)?;
        match len & 0xC0 {
            0 if len == 0 => return Some(at + 1),
            0 => at += 1 + usize::from(len),
            0xC0 => return message.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
}

/// The uncompressed name at `at` (a question's), lower case with its dot, and the position after.
fn read_name(message: &[u8], mut at: usize) -> Option<(String, usize)> {
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*message.get(at)?);
        if len == 0 {
            let name = if labels.is_empty() { ".".to_string() } else { format!("{}.", labels.join(".")) };
            return Some((name, at + 1));
        }
        if len & 0xC0 != 0 {
            return None;
        }
        let label = message.get(at + 1..at + 1 + len)?;
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        at += 1 + len;
    }
}

/// Reads one reply; returns the transfer it makes known, if any (when its second record is seen).
fn note_reply(message: &[u8], replies: &mut std::collections::HashMap<u16, XfrReply>) -> Option<TappedTransfer> {
    let id = u16_at(message, 0)?;
    let rcode = message.get(3)? & 0x0F;
    let questions = u16_at(message, 4)?;
    let answers = u16_at(message, 6)?;
    let mut at = 12;
    let reply = match replies.entry(id) {
        std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
        std::collections::hash_map::Entry::Vacant(_) if questions == 0 => return None,
        std::collections::hash_map::Entry::Vacant(new) => {
            // The first message of a reply repeats the question (RFC 5936 2.2.1).
            let (zone, after) = read_name(message, at)?;
            let qtype = u16_at(message, after)?;
            let done = rcode != 0 || (qtype != TYPE_AXFR && qtype != TYPE_IXFR);
            new.insert(XfrReply { zone, first: None, done })
        }
    };
    if reply.done {
        return None;
    }
    if rcode != 0 {
        reply.done = true;
        return None;
    }
    for _ in 0..questions {
        at = skip_name(message, at)? + 4;
    }
    for _ in 0..answers {
        at = skip_name(message, at)?;
        let rtype = u16_at(message, at)?;
        let rdlength = usize::from(u16_at(message, at + 8)?);
        let end = at + 10 + rdlength;
        let serial = match (rtype, end.checked_sub(20)) {
            (TYPE_SOA, Some(from)) if end <= message.len() && from >= at + 10 => {
                Some(u32::from_be_bytes(message[from..from + 4].try_into().ok()?))
            }
            _ => None,
        };
        at = end;
        match reply.first {
            None => {
                reply.first = serial;
                if serial.is_none() {
                    reply.done = true; // not a transfer: it must start with the SOA
                    return None;
                }
            }
            Some(first) => {
                reply.done = true;
                let kind = if serial.is_some_and(|s| s != first) { "IXFR" } else { "AXFR" };
                return Some(TappedTransfer { zone: reply.zone.clone(), kind, serial: first });
            }
        }
    }
    None
}

// --- zone transfers with kdig ----------------------------------------------------------------

/// One zone transfer by `kdig`, parsed from its text output.
#[derive(Debug, Clone, Default)]
pub struct Xfr {
    /// `NOERROR` when the transfer came through; the error the server answered otherwise, as
    /// kdig names it (`NOTAUTH`, `REFUSED`, `NOTIMP`, `FORMERR`, `SERVFAIL`, or the TSIG error
    /// when the server rejected the signature: `BADSIG`, `BADKEY`, `BADTIME`); empty when no
    /// reply came (connection refused, timeout) or kdig gave up on it (see `error`).
    pub rcode: String,
    /// The first `;; ERROR: ...` or `;; WARNING: ...` line kdig printed, without the prefix
    /// (`server replied with error 'NOTAUTH'`, `can't connect to 127.0.0.1@P(TCP)`...), empty
    /// when there was none.
    pub error: String,
    /// The records in the order they came, TSIG records left out, each normalised as
    /// `normalise_record` does (`pt. 3600 IN SOA ns1.dns.pt. hostmaster.dns.pt. 1 7200 ...`). An
    /// AXFR has its SOA first and last; an IXFR its condensed sequences (see `changes`).
    pub records: Vec<String>,
    /// Whether the reply carried TSIG records (kdig verifies them and fails the transfer when
    /// they do not verify).
    pub signed: bool,
    /// How many messages the reply took (`;; Received N B (M messages, K records)`).
    pub messages: usize,
    /// kdig's stdout followed by its stderr.
    pub raw: String,
}

/// One difference of an incremental IXFR reply: from serial `from` to serial `to`, the records
/// deleted and added (normalised, SOAs left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IxfrChange {
    /// The serial the change starts from.
    pub from: u32,
    /// The serial it leads to.
    pub to: u32,
    /// The records deleted, in reply order.
    pub removed: Vec<String>,
    /// The records added, in reply order.
    pub added: Vec<String>,
}

fn soa_serial_of_record(record: &str) -> Option<u32> {
    let fields: Vec<&str> = record.split_whitespace().collect();
    if fields.len() >= 7 && fields[3] == "SOA" { fields[6].parse().ok() } else { None }
}

impl Xfr {
    /// Whether the transfer came through.
    pub fn ok(&self) -> bool {
        self.rcode == "NOERROR"
    }

    /// The serial of the first record, the SOA of the version transferred.
    pub fn serial(&self) -> Option<u32> {
        self.records.first().and_then(|r| soa_serial_of_record(r))
    }

    /// The records as a set (an AXFR's repeated SOA counted once): compare with
    /// `zone_file_records` collected into a set.
    pub fn set(&self) -> BTreeSet<String> {
        self.records.iter().cloned().collect()
    }

    /// Whether this is an incremental IXFR reply (second record a SOA with another serial), as
    /// opposed to the whole zone or a lone SOA ("up to date").
    pub fn is_incremental(&self) -> bool {
        match (self.serial(), self.records.get(1).and_then(|r| soa_serial_of_record(r))) {
            (Some(new), Some(old)) => new != old,
            _ => false,
        }
    }

    /// The differences of an incremental IXFR reply, oldest first; empty for anything else.
    pub fn changes(&self) -> Vec<IxfrChange> {
        if !self.is_incremental() || self.records.len() < 3 {
            return Vec::new();
        }
        // SOA(new), then per change SOA(from) removed... SOA(to) added..., then SOA(new).
        let mut changes = Vec::new();
        let mut current: Option<IxfrChange> = None;
        let mut adding = false;
        for record in &self.records[1..self.records.len() - 1] {
            match (soa_serial_of_record(record), current.as_mut()) {
                (Some(serial), None) => current = Some(IxfrChange { from: serial, ..IxfrChange::default() }),
                (Some(serial), Some(change)) if !adding => {
                    change.to = serial;
                    adding = true;
                }
                (Some(serial), Some(_)) => {
                    changes.extend(current.take());
                    current = Some(IxfrChange { from: serial, ..IxfrChange::default() });
                    adding = false;
                }
                (None, Some(change)) if adding => change.added.push(record.clone()),
                (None, Some(change)) => change.removed.push(record.clone()),
                (None, None) => {}
            }
        }
        changes.extend(current);
        changes
    }
}

/// `kdig @IP -p PORT [-y KEY] ZONE QUERY +time=10 +retry=0`, where `query` is `AXFR` or
/// `IXFR=SERIAL` (kdig's spelling: the serial the client has), over TCP, parsed.
///
/// kdig prints a transfer as `;; AXFR for pt.` (or `;; IXFR for pt.`), the records one a line
/// (the TSIG record of each message among them), then `;; Received 450 B (1 messages, 10
/// records)`; a refusal as `;; ERROR: server replied with error 'NOTAUTH'` and `;; ERROR: failed
/// to query server 127.0.0.1@P(TCP)` on stderr (exit status 1), with the TSIG error in place of
/// the rcode when the server rejected the signature (`'BADSIG'`, `'BADKEY'`); no server as
/// `;; WARNING: can't connect to 127.0.0.1@P(TCP)`.
pub fn kdig_xfr(addr: SocketAddr, zone: &str, query: &str, key: Option<&TsigKey>) -> Xfr {
    let mut command = Command::new(tool("kdig"));
    command.arg(format!("@{}", addr.ip())).args(["-p", &addr.port().to_string()]);
    if let Some(key) = key {
        command.args(["-y", &key.kdig_arg()]);
    }
    let out = command
        .args([&fqdn(zone), query, "+time=10", "+retry=0", "+noidn"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run kdig (is knot-dnsutils installed?): {e}"));
    parse_kdig_xfr(&String::from_utf8_lossy(&out.stdout), &String::from_utf8_lossy(&out.stderr), out.status.success())
}

/// kdig's output of a transfer; `success`: its exit status was 0.
fn parse_kdig_xfr(stdout: &str, stderr: &str, success: bool) -> Xfr {
    let mut xfr = Xfr { raw: format!("{stdout}{stderr}"), ..Xfr::default() };
    let mut received = false;
    for line in stdout.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix(";; Received ") {
            received = true;
            if let Some((_, counts)) = rest.split_once('(') {
                xfr.messages = counts.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
            }
        } else if !line.is_empty() && !line.starts_with(';') {
            if line.split_whitespace().nth(3).is_some_and(|t| t.eq_ignore_ascii_case("TSIG")) {
                xfr.signed = true;
            } else {
                xfr.records.push(normalise_record(line).unwrap_or_else(|| line.to_string()));
            }
        }
    }
    let mut failed = !success;
    for line in stderr.lines().map(str::trim) {
        let error = line.strip_prefix(";; ERROR: ");
        failed |= error.is_some();
        if let Some(message) = error.or_else(|| line.strip_prefix(";; WARNING: ")) {
            if xfr.error.is_empty() {
                xfr.error = message.to_string();
            }
            if let Some((_, rest)) = message.split_once("replied with error '")
                && xfr.rcode.is_empty()
            {
                xfr.rcode = rest.split('\'').next().unwrap_or_default().to_string();
            }
        }
    }
    if xfr.rcode.is_empty() && received && !failed && !xfr.records.is_empty() {
        xfr.rcode = "NOERROR".to_string();
    }
    xfr
}

/// Appends `name` lower case, with its trailing dot.
fn push_name(out: &mut String, name: &str) {
    let start = out.len();
    out.push_str(name);
    out[start..].make_ascii_lowercase();
    if !name.ends_with('.') {
        out.push('.');
    }
}

/// Appends `field` as a plain number when it is one (`0300` -> `300`), else as it is.
fn push_number(out: &mut String, field: &str) {
    match field.parse::<u64>() {
        Ok(n) => out.push_str(&n.to_string()),
        Err(_) => out.push_str(field),
    }
}

/// One record `owner ttl class type rdata` (spaces or tabs between fields) in the one form both
/// `kdig_xfr` and `zone_file_records` give it, so that equal records compare equal: fields
/// separated by one space, owner lower case with its dot, TTL as a plain number, class and type
/// upper case; the names in NS, CNAME, DNAME, PTR, MX and SOA data lower case with their dot;
/// A and AAAA addresses in their standard text form (`2001:db8::53` for `2001:DB8:0:0::53`);
/// SOA numbers as plain numbers; DS and CDS digests as one upper-case hex string; anything else
/// as it came, fields joined by one space. None when the line has fewer than four fields or
/// its TTL is not a number.
pub fn normalise_record(line: &str) -> Option<String> {
    // Tabs to spaces, then split on spaces: the same fields as `split_ascii_whitespace` for
    // the lines at hand, and several times faster in a debug build (a million-line zone).
    let spaced = line.trim().replace('\t', " ");
    let mut fields = spaced.split(' ').filter(|f| !f.is_empty());
    let (owner, ttl, class, rtype) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let ttl: u32 = ttl.parse().ok()?;
    let data: Vec<&str> = fields.collect();
    let mut out = String::with_capacity(line.len() + 8);
    push_name(&mut out, owner);
    out.push(' ');
    out.push_str(&ttl.to_string());
    out.push(' ');
    let start = out.len();
    out.push_str(class);
    out[start..].make_ascii_uppercase();
    out.push(' ');
    let rtype = rtype.to_ascii_uppercase();
    out.push_str(&rtype);
    let push_field = |out: &mut String, push: &dyn Fn(&mut String, &str), field: &str| {
        out.push(' ');
        push(out, field);
    };
    let verbatim = |out: &mut String, field: &str| out.push_str(field);
    match (rtype.as_str(), data.len()) {
        ("NS" | "CNAME" | "DNAME" | "PTR", 1) => push_field(&mut out, &push_name, data[0]),
        ("MX", 2) => {
            push_field(&mut out, &push_number, data[0]);
            push_field(&mut out, &push_name, data[1]);
        }
        ("SOA", 7) => {
            push_field(&mut out, &push_name, data[0]);
            push_field(&mut out, &push_name, data[1]);
            for number in &data[2..] {
                push_field(&mut out, &push_number, number);
            }
        }
        ("A" | "AAAA", 1) => match data[0].parse::<std::net::IpAddr>() {
            Ok(ip) => push_field(&mut out, &verbatim, &ip.to_string()),
            Err(_) => push_field(&mut out, &verbatim, data[0]),
        },
        ("DS" | "CDS", 4..) => {
            for number in &data[..3] {
                push_field(&mut out, &push_number, number);
            }
            out.push(' ');
            let start = out.len();
            for part in &data[3..] {
                out.push_str(part);
            }
            out[start..].make_ascii_uppercase();
        }
        _ => {
            for field in &data {
                push_field(&mut out, &verbatim, field);
            }
        }
    }
    Some(out)
}

/// The records of a zone file written one a line as `owner ttl class type rdata` with absolute
/// names (as nicbox writes its zones), each normalised by `normalise_record`, in file order;
/// blank lines and `;` comment lines skipped. Panics on a line it cannot read (a `$ORIGIN` or
/// `$TTL` directive, a relative owner without a TTL...), naming the file and line.
pub fn zone_file_records(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut records = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        let record = (!line.starts_with('$')).then(|| normalise_record(line)).flatten();
        records.push(
            record.unwrap_or_else(|| {
                panic!("{}:{}: not `owner ttl class type rdata`: {line}", path.display(), number + 1)
            }),
        );
    }
    records
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

#[test]
fn transfers_are_parsed_and_records_normalised() {
    let soa = |serial: u32| {
        format!("pt.                 \t3600\tIN\tSOA\tns1.dns.pt. hostmaster.dns.pt. {serial} 7200 3600 1209600 300\n")
    };
    let tsig = "k1.                 \t0\tANY\tTSIG\thmac-sha256. 1796226419 300 32 AIuY= 26908 NOERROR 0\n";
    // SOA 3, then 1 -> 2 adding novo, then 2 -> 3 removing novo and adding novo2, then SOA 3.
    let ns = |owner: &str| format!("{owner:<20}\t3600\tIN\tNS\tns.novo.example.\n");
    let ixfr = [
        ";; IXFR for pt.\n".to_string(),
        soa(3),
        soa(1),
        soa(2),
        ns("novo.pt."),
        soa(2),
        ns("novo.pt."),
        soa(3),
        ns("novo2.pt."),
        soa(3),
        tsig.to_string(),
        ";; Received 494 B (1 messages, 9 records)\n;; From 127.0.0.1@15301(TCP) in 0.3 ms\n".to_string(),
    ]
    .concat();
    let xfr = parse_kdig_xfr(&ixfr, "", true);
    assert!(xfr.ok() && xfr.signed && xfr.is_incremental(), "{xfr:?}");
    assert_eq!((xfr.messages, xfr.records.len(), xfr.serial()), (1, 9, Some(3)));
    let changes = xfr.changes();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!((changes[0].from, changes[0].to, changes[0].removed.len()), (1, 2, 0));
    assert_eq!(changes[0].added, ["novo.pt. 3600 IN NS ns.novo.example."]);
    assert_eq!((changes[1].from, changes[1].to), (2, 3));
    assert_eq!(changes[1].removed, ["novo.pt. 3600 IN NS ns.novo.example."]);
    assert_eq!(changes[1].added, ["novo2.pt. 3600 IN NS ns.novo.example."]);

    let refused = parse_kdig_xfr(
        ";; AXFR for pt.\n;; Received 0 B\n",
        ";; ERROR: server replied with error 'BADSIG'\n;; ERROR: failed to query server 127.0.0.1@1(TCP)\n",
        false,
    );
    assert_eq!((refused.rcode.as_str(), refused.error.as_str()), ("BADSIG", "server replied with error 'BADSIG'"));
    let unreachable = parse_kdig_xfr("", ";; WARNING: can't connect to 127.0.0.1@1(TCP)\n;; ERROR: failed\n", false);
    assert!(unreachable.rcode.is_empty() && !unreachable.ok() && unreachable.records.is_empty());

    // kdig's form and a zone file's form of the same records are equal once normalised.
    let digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    for (file, kdig) in [
        ("NS1.Dns.PT. 3600 in aaaa 2001:DB8:0:0::53", "ns1.dns.pt.\t3600\tIN\tAAAA\t2001:db8::53"),
        ("exemplo.pt. 3600 IN NS NS1.Exemplo.PT.", "exemplo.pt.\t3600\tIN\tNS\tns1.exemplo.pt."),
        (
            &format!("exemplo.pt. 3600 IN DS 12345 13 2 {digest}"),
            &format!("exemplo.pt. 3600 IN DS 12345 13 2 {}", digest.to_uppercase()),
        ),
        ("pt. 03600 IN SOA NS1.dns.pt. hostmaster.dns.pt. 01 7200 3600 1209600 300", soa(1).trim()),
    ] {
        assert_eq!(normalise_record(file), normalise_record(kdig), "{file}");
    }
    assert_eq!(normalise_record("a.pt. 60 IN A 192.0.2.1").unwrap(), "a.pt. 60 IN A 192.0.2.1");
    assert_eq!(normalise_record("a.pt. IN A 192.0.2.1"), None);
    let dir = tempfile::tempdir().unwrap();
    let file =
        write_zone(dir.path(), "pt.zone", &format!("; header\n\n{}exemplo.pt. 3600 IN NS ns1.exemplo.pt.\n", soa(1)));
    assert_eq!(
        zone_file_records(&file),
        [normalise_record(&soa(1)).unwrap(), "exemplo.pt. 3600 IN NS ns1.exemplo.pt.".into()]
    );

    // The relay's reading of replies on the wire: an incremental IXFR, an AXFR-style one, a
    // lone SOA (up to date), a refusal.
    let reply = |id: u16, rcode: u8, qtype: u16, answers: &[(u16, u32)]| {
        let mut m = id.to_be_bytes().to_vec();
        m.extend([0x84, rcode, 0, 1]);
        m.extend((answers.len() as u16).to_be_bytes());
        m.extend([0, 0, 0, 0]);
        m.extend([2, b'p', b't', 0]);
        m.extend(qtype.to_be_bytes());
        m.extend([0, 1]);
        for &(rtype, serial) in answers {
            m.extend([0xC0, 12]);
            m.extend(rtype.to_be_bytes());
            m.extend([0, 1, 0, 0, 0x0E, 0x10]);
            if rtype == TYPE_SOA {
                m.extend([0, 24, 0xC0, 12, 0xC0, 12]);
                m.extend(serial.to_be_bytes());
                m.extend([0; 16]);
            } else {
                m.extend([0, 2, 0xC0, 12]);
            }
        }
        let mut framed = (m.len() as u16).to_be_bytes().to_vec();
        framed.extend(m);
        framed
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut watch = XfrWatch::new(seen.clone());
    let stream = [
        reply(1, 0, TYPE_IXFR, &[(TYPE_SOA, 3), (TYPE_SOA, 2)]),
        reply(2, 0, TYPE_IXFR, &[(TYPE_SOA, 3)]),
        reply(2, 0, TYPE_IXFR, &[(2, 0), (TYPE_SOA, 3)]),
        reply(3, 0, TYPE_IXFR, &[(TYPE_SOA, 3)]),
        reply(4, 5, TYPE_AXFR, &[]),
    ]
    .concat();
    for chunk in stream.chunks(7) {
        watch.feed(chunk);
    }
    let zone = "pt.".to_string();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            TappedTransfer { zone: zone.clone(), kind: "IXFR", serial: 3 },
            TappedTransfer { zone, kind: "AXFR", serial: 3 }
        ]
    );
}
