//! Zone export benchmark (`cargo bench --bench zone`, issue 11): wall time and peak memory of
//! `nicbox zone export` (the release binary, run as an operator runs it) for databases of
//! 1,000,000 and 2,000,000 domains, about 10% with glue and 5% with DS; then the same export
//! again with nothing changed (the "unchanged" path); and, in the same run, the floor: a plain
//! scan of the same database that writes each domain's records to a file and fsyncs it, with
//! nothing else (no previous publication, journal, digest or guard). Targets: 1M in 3 s, 2M in
//! 6 s, memory flat in the zone's size.
//!
//! The database is built directly through the store (`WriteTx::put_domain`, 50,000 domains a
//! transaction), bypassing the registry's writer and its change journal on purpose: what is
//! measured is the export, and the first export has no previous publication to compare with.
//!
//! Environment:
//! - `ZONE_BENCH_SIZES=100000,1000000,2000000`: the sizes (default `1000000,2000000`).
//! - `ZONE_BENCH_INSERT=sorted`: insert in name order (default: a fixed pseudo-random order, as
//!   a registry's writes come; measured at 1M: about the same file size and export time).
//! - `ZONE_BENCH_KEEP=1`: keep the temporary directories (their paths are printed).
//!
//! Wall time and peak RSS of every measured process come from `wait4` (`ru_maxrss`), taken by a
//! small middle process (`--measure`, see `measure_child` for why). The floor runs in a child
//! process too (this bench binary re-executed with `--floor`, with the binary's allocator), so
//! both include process start and opening the database, and both are measured the same way. Both run on a warm page cache (the database was just written).
//! Nothing is asserted: timings on a shared machine are not a test.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nicbox::model::{Domain, Ds, Nameserver, Timestamp};
use nicbox::store::Store;

// The binary's allocator, so that the floor allocates like the export does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CONFIG: &str = r#"data_dir = "data"

[[tld]]
name = "pt"
profile = "pt"

[tld.policy]
delegation_check = "off"

[tld.zone]
nameservers = [{ name = "a.dns.pt", addresses = ["192.0.2.53"] }, { name = "b.dns.pt", addresses = ["198.51.100.53"] }]

[zone]
dir = "zones"
"#;

/// The delegations' TTL (the `[tld.zone]` default), for the floor's lines.
const TTL: u32 = 86_400;
const BATCH: u64 = 50_000;
const MIB: f64 = 1024.0 * 1024.0;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Domain number `i`: `dominio{i:07}.pt` (5% under com.pt, 0.1% IDN), two nameservers, 10% of
/// them inside the domain with glue (IPv4 and IPv6), 5% with one DS. Unique in `i`.
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
    let created = Timestamp(1_600_000_000 + (h % 150_000_000) as i64);
    let expires = created.add_years(1 + (h % 5) as i32);
    let contact = format!("C{:08}", h % 700_000);
    Domain {
        roid: format!("D{i:09}-PT"),
        zone: suffix.into(),
        tld: "pt".into(),
        registrar: format!("registrar{}", h % 150),
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

/// Writes the configuration and a database of `n` domains under `dir`; returns the config path.
fn build(dir: &Path, n: u64) -> PathBuf {
    let conf = dir.join("nicbox.toml");
    std::fs::write(&conf, CONFIG).unwrap();
    let settings = nicbox::config::parse(CONFIG, dir).unwrap();
    std::fs::create_dir_all(&settings.data_dir).unwrap();
    let store = Store::create(&settings.db_path()).unwrap();
    let sorted = std::env::var("ZONE_BENCH_INSERT").is_ok_and(|v| v == "sorted");
    // A fixed permutation of 0..n (i * stride mod n) unless asked for name order.
    let mut stride = if sorted { 1 } else { 2_654_435_761 % n.max(2) };
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

/// A finished child: wall time, peak RSS in bytes, exit success, what it printed.
struct Run {
    wall: Duration,
    max_rss: u64,
    ok: bool,
    stdout: String,
}

/// The last line `--measure` prints after the measured program's own output.
const MEASURED: &str = "@@measured";

/// `--measure PROG ARGS..`: runs PROG (its output goes to ours), reaps it with `wait4` and prints
/// `@@measured <wall nanoseconds> <peak RSS KiB> <exit ok>`.
///
/// Why a middle process: Rust spawns with posix_spawn (vfork), and at exec Linux folds the
/// spawning process's high-water RSS into the new program's `ru_maxrss`. Spawned from the bench
/// itself (hundreds of MiB after building a database) every child would report at least the
/// bench's peak; spawned from this freshly started process, at most a few MiB of it.
// The child is reaped with `wait4` (for its rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn measure_child(prog: &str, args: &[String]) {
    let started = Instant::now();
    let child = Command::new(prog).args(args).stdin(Stdio::null()).spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped (its `Child` is never waited on), and both
    // out-pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    let wall = started.elapsed();
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    // Linux reports ru_maxrss in KiB.
    println!("\n{MEASURED} {} {} {ok}", wall.as_nanos(), usage.ru_maxrss);
}

/// Runs `prog args` through `--measure` to its end.
fn measure(prog: &Path, args: &[&std::ffi::OsStr]) -> Run {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--measure")
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "--measure failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (stdout, last) = text.rsplit_once(MEASURED).expect("the measured line");
    let mut f = last.split_ascii_whitespace();
    let wall = Duration::from_nanos(f.next().unwrap().parse().unwrap());
    let max_rss = f.next().unwrap().parse::<u64>().unwrap() * 1024;
    let ok = f.next() == Some("true");
    Run { wall, max_rss, ok, stdout: stdout.trim_end().to_string() }
}

fn nicbox_bin() -> PathBuf {
    // Cargo builds the package's binaries (in the same profile) for benches and sets this.
    PathBuf::from(env!("CARGO_BIN_EXE_nicbox"))
}

/// `nicbox zone export --config CONF --out DIR`, measured; fails loudly on a refusal or an error.
fn export(conf: &Path, out: &Path, expect: &str) -> Run {
    let run = measure(
        &nicbox_bin(),
        &["zone".as_ref(), "export".as_ref(), "--config".as_ref(), conf.as_ref(), "--out".as_ref(), out.as_ref()],
    );
    let line = run.stdout.lines().find(|l| l.starts_with("zone pt:")).unwrap_or_default().to_string();
    if !run.ok || !line.starts_with(&format!("zone pt: {expect} ")) {
        panic!("zone export did not end `{expect}`:\n{}", run.stdout);
    }
    run
}

/// The number of delegations an export line reports: `zone pt: published serial S (N delegations; ...`.
fn delegations(stdout: &str) -> Option<u64> {
    let line = stdout.lines().find(|l| l.starts_with("zone pt:"))?;
    line.split_once(" (")?.1.split_once(' ')?.0.parse().ok()
}

/// The floor, in a child process: one scan of the database, each domain's NS, DS and glue lines
/// formatted as the zone file has them into a buffered file, fsynced. Prints domains and bytes.
fn floor_child(conf: &Path, out: &Path) {
    let settings = nicbox::config::load(conf).unwrap();
    let store = Store::open(&settings.db_path()).unwrap();
    let f = File::create(out).unwrap();
    let mut w = BufWriter::with_capacity(1 << 20, f);
    let mut count = 0u64;
    store
        .read()
        .unwrap()
        .for_each_domain(|d| {
            count += 1;
            for ns in &d.nameservers {
                writeln!(w, "{}. {TTL} IN NS {}.", d.name, ns.name).unwrap();
            }
            for ds in &d.ds {
                writeln!(w, "{}. {TTL} IN DS {} {} {} {}", d.name, ds.key_tag, ds.algorithm, ds.digest_type, ds.digest)
                    .unwrap();
            }
            for ns in &d.nameservers {
                for a in &ns.addresses {
                    let kind = if a.is_ipv4() { "A" } else { "AAAA" };
                    writeln!(w, "{}. {TTL} IN {kind} {a}", ns.name).unwrap();
                }
            }
            Ok(())
        })
        .unwrap();
    let f = w.into_inner().unwrap();
    f.sync_all().unwrap();
    println!("{count} {}", f.metadata().unwrap().len());
}

fn floor(conf: &Path, out: &Path) -> (Run, u64, u64) {
    let me = std::env::current_exe().unwrap();
    let run = measure(&me, &["--floor".as_ref(), conf.as_ref(), out.as_ref()]);
    assert!(run.ok, "floor failed: {}", run.stdout);
    let mut f = run.stdout.split_ascii_whitespace().map(|x| x.parse::<u64>().unwrap());
    let (count, bytes) = (f.next().unwrap(), f.next().unwrap());
    std::fs::remove_file(out).unwrap();
    (run, count, bytes)
}

struct Row {
    n: u64,
    db_bytes: u64,
    build: Duration,
    first: Run,
    again: Run,
    floor: Run,
    floor_rss: u64,
    zone_bytes: u64,
    apex_bytes: u64,
    floor_bytes: u64,
}

fn apex_len(zone: &Path) -> u64 {
    let text = std::fs::read(zone).unwrap();
    let mark = b"; delegations\n";
    text.windows(mark.len()).position(|w| w == mark).map(|p| (p + mark.len()) as u64).unwrap_or(0)
}

fn one(n: u64) -> Row {
    let tmp = tempfile::Builder::new().prefix("nicbox-zone-bench-").tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let started = Instant::now();
    let conf = build(&dir, n);
    let build = started.elapsed();
    let db_bytes = std::fs::metadata(dir.join("data").join(nicbox::store::DB_FILE)).unwrap().len();
    eprintln!(
        "size {n}: database built in {:.1}s ({:.0} MiB) in {}",
        build.as_secs_f64(),
        db_bytes as f64 / MIB,
        dir.display()
    );

    let out = dir.join("zones");
    let floor_out = dir.join("floor.txt");
    let (floor_a, count, floor_bytes) = floor(&conf, &floor_out);
    assert_eq!(count, n, "the floor scanned {count} domains, not {n}");
    let first = export(&conf, &out, "published");
    let zone = out.join("pt.zone");
    let zone_bytes = std::fs::metadata(&zone).unwrap().len();
    let apex_bytes = apex_len(&zone);
    let got = delegations(&first.stdout);
    if got != Some(n) {
        eprintln!("warning: the export reports {got:?} delegations, expected {n}: {}", first.stdout.trim());
    }
    let again = export(&conf, &out, "unchanged");
    let (floor_b, _, _) = floor(&conf, &floor_out);
    let floor_rss = floor_a.max_rss.max(floor_b.max_rss);
    let floor = if floor_a.wall <= floor_b.wall { floor_a } else { floor_b };
    if std::env::var("ZONE_BENCH_KEEP").is_ok() {
        eprintln!("kept {}", tmp.keep().display());
    }
    Row { n, db_bytes, build, first, again, floor, floor_rss, zone_bytes, apex_bytes, floor_bytes }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--floor") {
        floor_child(Path::new(&args[2]), Path::new(&args[3]));
        return;
    }
    if args.get(1).map(String::as_str) == Some("--measure") {
        measure_child(&args[2], &args[3..]);
        return;
    }
    let sizes: Vec<u64> = std::env::var("ZONE_BENCH_SIZES")
        .unwrap_or_else(|_| "1000000,2000000".into())
        .split(',')
        .map(|s| s.trim().replace('_', "").parse().expect("ZONE_BENCH_SIZES: comma-separated domain counts"))
        .collect();
    eprintln!("binary: {}", nicbox_bin().display());
    let baseline = measure(Path::new("/bin/true"), &[]);
    eprintln!("peak RSS measurement baseline (/bin/true through --measure): {:.1} MiB", baseline.max_rss as f64 / MIB);
    let load_before = loadavg();
    let rows: Vec<Row> = sizes.iter().map(|&n| one(n)).collect();

    println!(
        "{:>9} {:>8} {:>8} {:>9} {:>8} {:>10} {:>8} {:>9} {:>6} {:>9} {:>8}  verdict",
        "domains",
        "db MiB",
        "build s",
        "export s",
        "RSS MiB",
        "unchanged",
        "unch RSS",
        "floor s",
        "ratio",
        "zone MiB",
        "flr RSS"
    );
    for r in &rows {
        let target = 3.0 * r.n as f64 / 1e6;
        let secs = r.first.wall.as_secs_f64();
        let verdict =
            if secs <= target { format!("ok (<= {target:.2} s)") } else { format!("MISSED (> {target:.2} s)") };
        println!(
            "{:>9} {:>8.0} {:>8.1} {:>9.2} {:>8.1} {:>10.2} {:>8.1} {:>9.2} {:>6.1} {:>9.1} {:>8.1}  {verdict}",
            r.n,
            r.db_bytes as f64 / MIB,
            r.build.as_secs_f64(),
            secs,
            r.first.max_rss as f64 / MIB,
            r.again.wall.as_secs_f64(),
            r.again.max_rss as f64 / MIB,
            r.floor.wall.as_secs_f64(),
            secs / r.floor.wall.as_secs_f64(),
            r.zone_bytes as f64 / MIB,
            r.floor_rss as f64 / MIB,
        );
    }
    for r in &rows {
        let delegations_bytes = r.zone_bytes - r.apex_bytes;
        if delegations_bytes != r.floor_bytes {
            println!(
                "note: size {}: the zone's delegations are {delegations_bytes} bytes, the floor wrote {} (not the same records)",
                r.n, r.floor_bytes
            );
        }
    }
    if let (Some(a), Some(b)) = (rows.first(), rows.last())
        && b.n > a.n
    {
        let per_million = |x: u64, y: u64| (y as f64 - x as f64) / MIB / ((b.n - a.n) as f64 / 1e6);
        let growth = per_million(a.first.max_rss, b.first.max_rss);
        let floor_growth = per_million(a.floor_rss, b.floor_rss);
        // Flat: the export's peak grows by less than a tenth from the smallest to the largest
        // size (and less than 8 MiB per million domains).
        let flat = (b.first.max_rss as f64) <= a.first.max_rss as f64 * 1.1 && growth < 8.0;
        println!(
            "memory: export peak {:.1} MiB at {} -> {:.1} MiB at {} ({growth:+.1} MiB per million domains; the floor's {floor_growth:+.1}): {}",
            a.first.max_rss as f64 / MIB,
            a.n,
            b.first.max_rss as f64 / MIB,
            b.n,
            if flat { "flat" } else { "NOT flat" }
        );
    }
    println!(
        "load average (1 min) before {load_before}, after {} on {} CPUs: a busy machine slows every column alike",
        loadavg(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "export s: first publication (no previous file) of `nicbox zone export`; unchanged: the same again; \
         floor s: scan + format + write + fsync of the same records (best of two); ratio = export / floor; \
         RSS: peak resident set (wait4), redb's read cache (256 MiB at most) included"
    );
}
