//! nicbox as the hidden primary, with real DNS software: Knot and NSD as its secondaries (TSIG),
//! `kdig` transfers compared record for record with the published files, and hostile clients
//! on the DNS port. Everything runs the real binary (`nicbox demo`, on loopback ports).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Server, run};
use crate::dnsd::{self, KnotSecondary, NsdSecondary, TsigKey};

/// A demo registry serving DNS on `dns` (a fixed port, so that it survives restarts).
struct Demo {
    dir: tempfile::TempDir,
    data: PathBuf,
    server: Option<Server>,
    dns: SocketAddr,
    creds: Value,
}

impl Demo {
    fn start(extra: &str) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("demo");
        let dns: SocketAddr = format!("127.0.0.1:{}", dnsd::free_port()).parse().unwrap();
        let server = Self::launch(dir.path(), &data, dns);
        let creds: Value =
            serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
        wait_for_file(&data.join("zones").join("pt.zone"));
        let mut d = Demo { dir, data, server: Some(server), dns, creds };
        if !extra.is_empty() {
            d.reconfigure(extra);
        }
        d
    }

    fn launch(dir: &Path, data: &Path, dns: SocketAddr) -> Server {
        let s = Server::start(
            &[
                "demo",
                "--data",
                data.to_str().unwrap(),
                "--http",
                "127.0.0.1:0",
                "--whois",
                "127.0.0.1:0",
                "--dns",
                &dns.to_string(),
                "--epp",
                "127.0.0.1:0",
            ],
            dir,
        );
        assert_eq!(s.dns(), dns);
        s
    }

    /// Appends `extra` to the demo's configuration (lines starting `dns.` go into its `[dns]`
    /// table instead, without the prefix) and restarts it.
    fn reconfigure(&mut self, extra: &str) {
        if let Some(s) = self.server.take() {
            assert!(s.terminate().success());
        }
        let config = self.config();
        let mut text = std::fs::read_to_string(&config).unwrap();
        for line in extra.lines() {
            if let Some(l) = line.strip_prefix("dns.") {
                text = text.replacen("[dns]\n", &format!("[dns]\n{l}\n"), 1);
            }
        }
        for line in extra.lines().filter(|l| !l.starts_with("dns.")) {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&config, text).unwrap();
        self.server = Some(Self::launch(self.dir.path(), &self.data, self.dns));
    }

    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    fn config(&self) -> PathBuf {
        self.data.join("nicbox.toml")
    }

    fn zone_file(&self) -> PathBuf {
        self.data.join("zones").join("pt.zone")
    }

    fn key(&self) -> TsigKey {
        let t = &self.creds["dns"]["tsig"];
        TsigKey {
            name: t["name"].as_str().unwrap().into(),
            algorithm: t["algorithm"].as_str().unwrap().into(),
            secret: t["secret"].as_str().unwrap().into(),
        }
    }

    fn api_key(&self) -> String {
        self.creds["registrars"][0]["api_key"].as_str().unwrap().to_string()
    }

    fn serial(&self) -> u32 {
        serial_of(&self.zone_file())
    }

    /// Changes the nameservers of one of the first registrar's delegated domains not in
    /// `skip` to `host` and ns2.example.net; returns it.
    fn change_one(&self, host: &str) -> String {
        self.change_other(host, &[])
    }

    fn change_other(&self, host: &str, skip: &[&str]) -> String {
        let text = std::fs::read_to_string(self.zone_file()).unwrap();
        let mut seen = BTreeSet::new();
        for line in text.lines().skip_while(|l| *l != "; delegations") {
            let Some(name) = line.split(' ').next().filter(|_| line.contains(" IN NS ")) else { continue };
            let name = name.trim_end_matches('.').to_string();
            if skip.contains(&name.as_str()) || !seen.insert(name.clone()) {
                continue;
            }
            if self.change(&name, host) {
                return name;
            }
        }
        panic!("no domain of the first registrar could be changed");
    }

    /// Sets the nameservers of `name` to `host` and ns2.example.net; false when refused.
    fn change(&self, name: &str, host: &str) -> bool {
        let url = self.server().url(&format!("/api/v1/domains/{name}"));
        let body = serde_json::json!({"nameservers": [{"name": host}, {"name": "ns2.example.net"}]});
        let resp = crate::common::http_agent()
            .patch(&url)
            .header("Authorization", &format!("Bearer {}", self.api_key()))
            .send_json(&body);
        matches!(resp, Ok(r) if r.status() == 200)
    }

    /// Publishes now through the running server; returns the new serial.
    fn publish(&self) -> u32 {
        let before = self.serial();
        let (code, out, err) = run(&["zone", "export", "--config", self.config().to_str().unwrap()]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("published serial"), "{out}");
        let after = self.serial();
        assert_ne!(before, after, "{out}");
        after
    }
}

fn wait_for_file(file: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !file.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", file.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serial_of(file: &Path) -> u32 {
    let text = std::fs::read_to_string(file).unwrap();
    let first = text.lines().next().unwrap();
    first.split(' ').nth(5).unwrap().parse().unwrap()
}

fn secondary_config(name: &str, addr: SocketAddr, key: &TsigKey, new_key: bool) -> String {
    let mut out = String::new();
    if new_key {
        out.push_str(&format!(
            "\n[[dns.tsig]]\nname = \"{}\"\nalgorithm = \"{}\"\nsecret = \"{}\"\n",
            key.name, key.algorithm, key.secret
        ));
    }
    out.push_str(&format!("\n[[dns.secondary]]\nname = \"{name}\"\naddress = \"{addr}\"\ntsig = \"{}\"\n", key.name));
    out
}

const WAIT: Duration = Duration::from_secs(30);

/// The NS targets a secondary serves for `name` (a referral: authority section).
fn ns_of(addr: SocketAddr, name: &str) -> Vec<String> {
    let d = dnsd::dig_with(addr, name, "NS", &["+norec", "+time=2", "+retry=1"]);
    d.authority
        .iter()
        .chain(d.answer.iter())
        .filter(|l| l.split_whitespace().nth(3) == Some("NS"))
        .filter_map(|l| l.split_whitespace().nth(4).map(|s| s.to_string()))
        .collect()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn knot_and_nsd_transfer_from_nicbox_then_follow_by_notify_and_ixfr() {
    let mut demo = Demo::start("");
    let knot_key = demo.key();
    let nsd_key = TsigKey::random("nsd-xfr");
    let knot = KnotSecondary::start(demo.dns, &["pt"], Some(&knot_key));
    let serial = demo.serial();
    assert!(knot.wait_for_serial("pt", serial, WAIT), "Knot did not transfer the zone: {}", knot.log());
    // A secondary with the right key name and a wrong secret is refused.
    let wrong = demo.key().with_other_secret();
    let intruder = KnotSecondary::start(demo.dns, &["pt"], Some(&wrong));
    wait_until("nicbox refuses the wrong key", || demo.server().logged("TSIG signature does not verify"));
    assert!(!intruder.wait_for_serial("pt", serial, Duration::from_secs(2)), "a wrong key got the zone");
    drop(intruder);
    // Both secondaries configured for NOTIFY, NSD with its own key.
    let nsd_port = dnsd::free_port();
    let nsd_addr: SocketAddr = format!("127.0.0.1:{nsd_port}").parse().unwrap();
    let extra = format!(
        "{}{}",
        secondary_config("knot", knot.addr(), &knot_key, false),
        secondary_config("nsd", nsd_addr, &nsd_key, true)
    );
    demo.reconfigure(&extra);
    let nsd = NsdSecondary::start_on(nsd_port, demo.dns, &["pt"], Some(&nsd_key));
    assert_eq!(nsd.addr(), nsd_addr);
    assert!(nsd.wait_for_serial("pt", serial, WAIT), "NSD did not transfer the zone: {}", nsd.log());
    let initial: Vec<_> = knot.incoming_transfers();
    assert!(initial.iter().any(|(z, k)| z == "pt." && k == "AXFR"), "Knot's first transfer is whole: {initial:?}");
    // A change through the API, a publication, NOTIFY: both take it by IXFR and serve it.
    let changed = demo.change_one("ns1.mudou.example.net");
    let new_serial = demo.publish();
    let notify_log = || -> Vec<String> {
        demo.server().log.lock().unwrap().iter().filter(|l| l.contains("notify")).cloned().collect()
    };
    assert!(knot.wait_for_serial("pt", new_serial, WAIT), "Knot: {}\nnicbox: {:?}", knot.log(), notify_log());
    assert!(nsd.wait_for_serial("pt", new_serial, WAIT), "NSD: {}\nnicbox: {:?}", nsd.log(), notify_log());
    for (who, addr) in [("knot", knot.addr()), ("nsd", nsd.addr())] {
        let ns = ns_of(addr, &changed);
        assert!(
            ns.iter().any(|n| n == "ns1.mudou.example.net."),
            "{who} serves the new delegation of {changed}: {ns:?}"
        );
    }
    assert!(
        knot.incoming_transfers().iter().any(|(z, k)| z == "pt." && k == "IXFR"),
        "Knot took the change by IXFR: {}",
        knot.log()
    );
    assert!(
        nsd.incoming_transfers().iter().any(|(z, k)| z == "pt." && k == "IXFR"),
        "NSD took the change by IXFR: {}",
        nsd.log()
    );
    wait_until("nicbox logs the IXFR", || demo.server().logged("kind=\"IXFR\"") || demo.server().logged("kind=IXFR "));
    // The admin's view: each secondary's serial, none behind.
    let metrics = ureq::get(&demo.server().url("/metrics")).call().unwrap().into_body().read_to_string().unwrap();
    for who in ["knot", "nsd"] {
        let line = format!("nicbox_dns_secondary_serial{{secondary=\"{who}\",zone=\"pt\"}} {new_serial}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
        let behind = format!("nicbox_dns_secondary_behind{{secondary=\"{who}\",zone=\"pt\"}} 0");
        assert!(metrics.contains(&behind), "{behind} in {metrics}");
    }
}

/// The records of an IXFR answer as kdig prints it: (removed, added) when incremental.
fn ixfr_sets(records: &[String]) -> Option<(BTreeSet<String>, BTreeSet<String>)> {
    let soa = |r: &String| r.split_whitespace().nth(3) == Some("SOA");
    if records.len() < 2 || !soa(&records[0]) || !soa(&records[1]) {
        return None;
    }
    let mut removed = BTreeSet::new();
    let mut added = BTreeSet::new();
    let mut section = 0;
    for r in &records[2..records.len() - 1] {
        if soa(r) {
            section += 1;
            continue;
        }
        if section % 2 == 0 {
            removed.insert(r.clone());
        } else {
            added.insert(r.clone());
        }
    }
    Some((removed, added))
}

/// Equal sets of records, or a panic naming (some of) the differences.
fn same_records(got: &BTreeSet<String>, want: &BTreeSet<String>) {
    let extra: Vec<_> = got.difference(want).take(10).collect();
    let missing: Vec<_> = want.difference(got).take(10).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "{} records against {}; not expected: {extra:?}; missing: {missing:?}",
        got.len(),
        want.len()
    );
}

fn records_of(file: &Path) -> BTreeSet<String> {
    dnsd::zone_file_records(file).into_iter().filter(|r| r.split_whitespace().nth(3) != Some("SOA")).collect()
}

#[test]
fn kdig_transfers_equal_the_published_files() {
    let demo = Demo::start("dns.keep_publications = 2");
    let key = demo.key();
    let first = demo.serial();
    // AXFR: the published file, record for record (the SOA twice, around the rest).
    let x = dnsd::kdig_xfr(demo.dns, "pt", "AXFR", Some(&key));
    assert_eq!(x.rcode, "NOERROR", "{}", x.raw);
    let want = dnsd::zone_file_records(&demo.zone_file());
    assert_eq!(x.records.len(), want.len() + 1, "{}", x.raw);
    assert_eq!(x.records.first(), x.records.last());
    same_records(&x.records.iter().cloned().collect(), &want.iter().cloned().collect());
    // Unsigned, or from an address nobody allowed: refused.
    let refused = dnsd::kdig_xfr(demo.dns, "pt", "AXFR", None);
    assert!(refused.records.is_empty() && refused.rcode == "REFUSED", "{}", refused.raw);
    // Two changes, two publications: IXFR from the first serial is exactly the difference
    // between the first and the last file, condensed.
    let before = records_of(&demo.zone_file());
    let a = demo.change_one("ns1.primeira.example.net");
    demo.publish();
    let b = demo.change_other("ns1.segunda.example.net", &[&a]);
    assert!(demo.change(&a, "ns1.terceira.example.net"));
    let last = demo.publish();
    let after = records_of(&demo.zone_file());
    let x = dnsd::kdig_xfr(demo.dns, "pt", &format!("IXFR={first}"), Some(&key));
    assert_eq!(x.rcode, "NOERROR", "{}", x.raw);
    let (removed, added) = ixfr_sets(&x.records).unwrap_or_else(|| panic!("not incremental: {}", x.raw));
    same_records(&removed, &before.difference(&after).cloned().collect());
    same_records(&added, &after.difference(&before).cloned().collect());
    assert!(added.iter().any(|r| r.starts_with(&format!("{a}.")) && r.ends_with("ns1.terceira.example.net.")));
    assert!(added.iter().any(|r| r.starts_with(&format!("{b}.")) && r.ends_with("ns1.segunda.example.net.")));
    assert!(!x.raw.contains("primeira"), "a name changed twice is sent once: {}", x.raw);
    // Condensed: exactly one old and one new version of the zone in between.
    let soas = x.records.iter().filter(|r| r.split_whitespace().nth(3) == Some("SOA")).count();
    assert_eq!(soas, 4, "{}", x.raw);
    assert!(x.records[1].contains(&format!(" {first} ")), "{}", x.raw);
    // Up to date: the SOA alone.
    let x = dnsd::kdig_xfr(demo.dns, "pt", &format!("IXFR={last}"), Some(&key));
    assert_eq!(x.records.len(), 1, "{}", x.raw);
    // Two more publications: the first serial's history is purged (2 kept): the whole zone.
    assert!(demo.change(&a, "ns1.quarta.example.net"));
    demo.publish();
    assert!(demo.change(&a, "ns1.quinta.example.net"));
    demo.publish();
    let kept = std::fs::read_dir(demo.data.join("zones").join(".ixfr")).unwrap().count();
    assert_eq!(kept, 2, "differences kept");
    let x = dnsd::kdig_xfr(demo.dns, "pt", &format!("IXFR={first}"), Some(&key));
    assert_eq!(x.rcode, "NOERROR", "{}", x.raw);
    assert!(ixfr_sets(&x.records).is_none(), "a purged serial gets the whole zone: {}", x.raw);
    same_records(
        &x.records.iter().cloned().collect(),
        &dnsd::zone_file_records(&demo.zone_file()).into_iter().collect(),
    );
}

/// An AXFR query signed with `key`.
fn signed_axfr(key: &TsigKey, zone: &str) -> Vec<u8> {
    use base64::Engine as _;
    use domain::base::{MessageBuilder, Name, Rtype};
    let secret = base64::engine::general_purpose::STANDARD.decode(&key.secret).unwrap();
    let k = domain::tsig::Key::new(domain::tsig::Algorithm::Sha256, &secret, key.name.parse().unwrap(), None, None)
        .unwrap();
    let mut b = MessageBuilder::new_vec();
    b.header_mut().set_id(4321);
    let mut q = b.question();
    q.push((Name::vec_from_str(zone).unwrap(), Rtype::AXFR)).unwrap();
    let mut add = q.additional();
    domain::tsig::ClientTransaction::request(k, &mut add, domain::rdata::tsig::Time48::now()).unwrap();
    add.finish()
}

/// A TCP connection to `addr` whose receive buffer is as small as the kernel allows, set
/// before the handshake so the window it advertises stays small: a reader that stops
/// reading holds the sender up after a few kilobytes.
fn tiny_window(addr: SocketAddr) -> TcpStream {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(v4) = addr else { panic!("IPv4 only") };
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0);
        let size: libc::c_int = 1024;
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &size as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
        let sa = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: v4.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
            sin_zero: [0; 8],
        };
        let r = libc::connect(
            fd,
            &sa as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        assert_eq!(r, 0, "connect");
        TcpStream::from_raw_fd(fd)
    }
}

fn soa_query(id: u16, name: &str, rtype: u16, rd: bool) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, if rd { 1 } else { 0 }, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

fn udp_exchange(addr: SocketAddr, msg: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    s.send_to(msg, addr).unwrap();
    let mut buf = [0u8; 4096];
    s.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
}

fn rcode(answer: &[u8]) -> u8 {
    answer[3] & 0x0f
}

/// The SOA answer over TCP, signed, within a second: the listener is not stalled.
fn answers_promptly(demo: &Demo, key: &TsigKey) {
    let started = Instant::now();
    let d = dnsd::kdig_xfr(demo.dns, "pt", "SOA", Some(key));
    assert_eq!(d.rcode, "NOERROR", "{}", d.raw);
    assert!(started.elapsed() < Duration::from_secs(3), "SOA took {:?}", started.elapsed());
}

#[test]
fn hostile_clients_are_answered_or_dropped_and_stall_nobody() {
    let demo = Demo::start("dns.write_timeout_secs = 2\ndns.idle_secs = 2\ndns.send_buffer_kib = 8");
    let key = demo.key();
    let addr = demo.dns;
    // Garbage, truncated and oversized datagrams: dropped (or FORMERR), never a crash.
    assert!(udp_exchange(addr, b"\xff\xfe garbage").is_none());
    assert!(udp_exchange(addr, &[0u8; 5]).is_none());
    assert!(udp_exchange(addr, &vec![0x41u8; 4500]).is_none());
    let q = soa_query(9, "pt", 6, false);
    if let Some(a) = udp_exchange(addr, &q[..15]) {
        assert_eq!(rcode(&a), 1, "truncated question: FORMERR");
    }
    // Other zones, ANY, recursion desired, unsigned SOA from an address nobody allowed: REFUSED.
    for (name, rtype, rd) in [("example.com", 6, true), ("pt", 255, false), ("google.com", 1, true), ("pt", 6, false)] {
        let a = udp_exchange(addr, &soa_query(7, name, rtype, rd)).expect("an answer");
        assert_eq!(rcode(&a), 5, "{name}/{rtype}: REFUSED");
        assert_eq!(a[3] & 0x80, 0, "never recursion available");
    }
    // TCP: a length prefix promising too much, a frame cut short, a silent connection: closed.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[0xff, 0xff, 1, 2, 3]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)), "an oversized frame closes the connection");
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.write_all(&[0, 40, 1]).unwrap();
    // A transfer client that stops reading: its AXFR stalls on a tiny window while others are
    // served, a publication goes through, and it is dropped after the write timeout.
    let mut slow = tiny_window(addr);
    let query = signed_axfr(&key, "pt");
    slow.write_all(&(query.len() as u16).to_be_bytes()).unwrap();
    slow.write_all(&query).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    answers_promptly(&demo, &key);
    let x = dnsd::kdig_xfr(addr, "pt", "AXFR", Some(&key));
    assert_eq!(x.rcode, "NOERROR", "another client transfers meanwhile: {}", x.raw);
    demo.change_one("ns1.durante.example.net");
    let started = Instant::now();
    demo.publish();
    assert!(started.elapsed() < Duration::from_secs(20), "publication waited for the slow reader");
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(matches!(idle.read(&mut buf), Ok(0) | Err(_)), "an idle connection is closed");
    let deadline = Instant::now() + WAIT;
    while !demo.server().logged("transfer abandoned") {
        let log: Vec<String> =
            demo.server().log.lock().unwrap().iter().filter(|l| l.contains("transfer")).cloned().collect();
        assert!(Instant::now() < deadline, "the slow reader is not dropped: {log:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    answers_promptly(&demo, &key);
    drop(slow);
}

/// The admin UI flags a secondary that stays on an older serial: nicbox's own listener (in
/// process) learns the secondary's serial from its IXFR, a publication moves on, time passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zones_page_flags_a_secondary_behind() {
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::http::Request;
    use nicbox::http::tls::ClientAddr;
    use nicbox::model::{Actor, Role};
    use tower::ServiceExt;

    let key = TsigKey::random("lag-xfr");
    let extra = format!(
        r#"
[tld.policy]
delegation_check = "off"
[tld.zone]
nameservers = [{{ name = "a.nic.pt", addresses = ["192.0.2.53"] }}]
[zone]
interval_minutes = 0
[dns]
listen = "127.0.0.1:0"
behind_after_secs = 60
[[dns.tsig]]
name = "{}"
secret = "{}"
[[dns.secondary]]
name = "lagging"
address = "127.0.0.1:9"
tsig = "{}"
"#,
        key.name, key.secret, key.name
    );
    let env = crate::common::Env::with(&extra);
    let api = env.registrar("reg-a", 10_000_000).await;
    let h = env.org(&api).await;
    let ns = serde_json::json!({"nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]});
    let (s, v) = env.register(&api, "atrasado.pt", &h, ns).await;
    assert!(s.is_success(), "{v}");
    let first = nicbox::zone::publish(&env.registry, None, None).await.unwrap()[0].serial;
    let settings = env.registry.settings();
    let d = settings.dns.clone().unwrap();
    let (tcp, udp) = nicbox::dns::server::bind(d.listen).await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let primary = nicbox::dns::server::Primary::new(d, vec!["pt".into()], settings.zone.dir.clone()).unwrap();
    let listener =
        tokio::spawn(nicbox::dns::server::serve(std::sync::Arc::new(primary), tcp, udp, std::future::pending()));
    // The secondary asks for IXFR from the serial it has: the first one; up to date.
    let k = key.clone();
    let x = tokio::task::spawn_blocking(move || dnsd::kdig_xfr(addr, "pt", &format!("IXFR={first}"), Some(&k)))
        .await
        .unwrap();
    assert_eq!(x.records.len(), 1, "{}", x.raw);
    // The zone moves on; the secondary does not come back.
    let body = serde_json::json!({"nameservers": [{"name": "ns3.example.net"}, {"name": "ns2.example.net"}]});
    let (s, v) = env.call("PATCH", "/api/v1/domains/atrasado.pt", Some(&api), Some(body)).await;
    assert!(s.is_success(), "{v}");
    let second = nicbox::zone::publish(&env.registry, None, None).await.unwrap()[0].serial;
    assert_ne!(first, second);

    let page = |cookie: Option<String>| {
        let app = env.app.clone();
        async move {
            let mut req = Request::builder().uri("/admin/zones");
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let (_, password) = env.registry.user_add("ana", Role::Support, Actor::System("test".into())).await.unwrap();
    let login = env.raw("GET", "/admin/login", None).await;
    let html = String::from_utf8_lossy(&axum::body::to_bytes(login.into_body(), 1 << 20).await.unwrap()).into_owned();
    let i = html.find("name=\"token\" value=\"").unwrap() + "name=\"token\" value=\"".len();
    let token = html[i..].split('"').next().unwrap().to_string();
    let req = Request::builder()
        .method("POST")
        .uri("/admin/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .extension(ConnectInfo(ClientAddr("192.0.2.9:4000".parse().unwrap())))
        .body(Body::from(format!("username=ana&password={password}&token={token}")))
        .unwrap();
    let resp = env.app.clone().oneshot(req).await.unwrap();
    let cookie = resp.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let row = |html: &str| -> String {
        let i = html.find("data-secondary=\"lagging\"").unwrap_or_else(|| panic!("no secondary row: {html}"));
        html[i..i + html[i..].find("</tr>").unwrap()].to_string()
    };
    let now = row(&page(Some(cookie.clone())).await);
    assert!(now.contains("data-state=\"catching up\""), "{now}");
    env.clock.advance(120);
    let later = row(&page(Some(cookie)).await);
    assert!(later.contains("data-state=\"behind\"") && later.contains("ATRASADO"), "{later}");
    assert!(later.contains(&first.to_string()) && later.contains(&second.to_string()), "{later}");
    listener.abort();
}
