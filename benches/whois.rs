//! WHOIS load benchmark (`cargo bench --bench whois`): queries per second and p50/p99 latency
//! with 64 concurrent clients, a new connection per query, 100,000 domains in the store, the
//! load generator's network allow-listed; and, in the same run, the same harness against a
//! trivial responder (a separate process that reads a line and writes a fixed answer). The
//! two are measured in alternating rounds so that a noisy neighbour hurts both alike.
//!
//! `NICBOX_BENCH_QUICK=1`: 5,000 domains and short rounds (a smoke run).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 64;

fn quick() -> bool {
    std::env::var("NICBOX_BENCH_QUICK").is_ok()
}

/// Trivial responder mode: the bench binary re-executed with `--trivial-responder`.
fn trivial_responder() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", l.local_addr().unwrap());
        let answer: &'static [u8] = Box::leak(fixed_answer().into_boxed_slice());
        loop {
            let Ok((mut s, _)) = l.accept().await else { continue };
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
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

/// About the size of a nicbox answer for an organization's domain.
fn fixed_answer() -> Vec<u8> {
    let mut a = String::new();
    for i in 0..24 {
        a.push_str(&format!("Field {i:02}: a fixed answer of about the size of a real record\r\n"));
    }
    a.into_bytes()
}

fn nicbox() -> &'static str {
    env!("CARGO_BIN_EXE_nicbox")
}

fn run(args: &[&str]) {
    let out = Command::new(nicbox()).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_nicbox(config: &str) -> (Proc, SocketAddr) {
    let mut child = Command::new(nicbox())
        .args(["serve", "--config", config])
        .env("NICBOX_LOG", "nicbox=warn,nicbox=info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines.next().expect("nicbox exited").unwrap();
        if let Some(i) = line.find("listening protocol=whois addr=") {
            let rest = &line[i + "listening protocol=whois addr=".len()..];
            let a: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '\u{1b}').collect();
            break a.parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), addr)
}

fn start_trivial() -> (Proc, SocketAddr) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--trivial-responder")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Proc(child), line.trim().parse().unwrap())
}

/// One round: `CLIENTS` tasks querying `addr` for `secs`; returns the latencies (µs).
async fn round(addr: SocketAddr, secs: f64, names: std::sync::Arc<Vec<String>>) -> (usize, Vec<u32>, usize) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let names = names.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut i = c * 7919;
            while Instant::now() < deadline {
                i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let q = format!("{}\r\n", names[(i >> 33) % names.len()]);
                let t = Instant::now();
                let ok = async {
                    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
                    s.set_nodelay(true).ok()?;
                    s.write_all(q.as_bytes()).await.ok()?;
                    let mut buf = Vec::with_capacity(2048);
                    s.read_to_end(&mut buf).await.ok()?;
                    (buf.len() > 20).then_some(())
                }
                .await;
                match ok {
                    Some(()) => lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
                    None => errors += 1,
                }
            }
            (lat, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (l, e) = r.unwrap();
        all.extend(l);
        errors += e;
    }
    (all.len(), all, errors)
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize] as f64 / 1000.0
}

fn main() {
    if std::env::args().any(|a| a == "--trivial-responder") {
        trivial_responder();
        return;
    }
    let q = quick();
    let n = if q { 5_000 } else { 100_000 };
    let secs = if q { 1.0 } else { 6.0 };
    let rounds = if q { 1 } else { 3 };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nicbox.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[http]\nlisten = \"127.0.0.1:0\"\n[whois]\nlisten = \"127.0.0.1:0\"\nallow = [\"127.0.0.0/8\"]\nmax_connections_per_origin = 1000\n[[tld]]\nname = \"pt\"\n[tld.policy]\nglue_documentation = true\n",
    )
    .unwrap();
    let c = config.to_str().unwrap();
    run(&["init", "--config", c]);
    run(&["registrar", "add", "--config", c, "--id", "bench", "--name", "Bench, Lda."]);
    let mut text = String::new();
    text.push_str(r#"{"type":"contact","registrar":"bench","handle":"ORG-1","kind":"organization","name":"Exemplo, Lda.","street":["Rua Augusta 1"],"city":"Lisboa","postal_code":"1100-048","country_code":"PT","email":"dns@exemplo.pt","phone":"+351.213456789","fiscal_id":"501964843"}"#);
    text.push('\n');
    let mut names = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("dominio{i}.pt");
        text.push_str(&format!(
            r#"{{"type":"domain","registrar":"bench","name":"{name}","registrant":"ORG-1","admin":"ORG-1","tech":"ORG-1","nameservers":[{{"name":"ns1.{name}","addresses":["192.0.2.1"]}},{{"name":"ns2.example.net"}}],"created":"2020-01-01T00:00:00Z","expires":"2030-01-01T00:00:00Z"}}"#
        ));
        text.push('\n');
        names.push(name);
    }
    let file = dir.path().join("import.jsonl");
    std::fs::write(&file, text).unwrap();
    run(&["import", "--config", c, file.to_str().unwrap()]);
    let names = std::sync::Arc::new(names);

    let (_nb, nb_addr) = start_nicbox(c);
    let (_tr, tr_addr) = start_trivial();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // Warm up both.
    rt.block_on(round(nb_addr, 0.5, names.clone()));
    rt.block_on(round(tr_addr, 0.5, names.clone()));
    let (mut nb_n, mut nb_lat, mut nb_err, mut tr_n, mut tr_lat, mut tr_err) = (0, Vec::new(), 0, 0, Vec::new(), 0);
    for _ in 0..rounds {
        let (k, l, e) = rt.block_on(round(nb_addr, secs, names.clone()));
        nb_n += k;
        nb_lat.extend(l);
        nb_err += e;
        let (k, l, e) = rt.block_on(round(tr_addr, secs, names.clone()));
        tr_n += k;
        tr_lat.extend(l);
        tr_err += e;
    }
    nb_lat.sort_unstable();
    tr_lat.sort_unstable();
    let total = secs * rounds as f64;
    let (nb_qps, tr_qps) = (nb_n as f64 / total, tr_n as f64 / total);
    println!(
        "whois/load     {CLIENTS} clients, new connection per query, {n} domains, {rounds} rounds of {secs}s each"
    );
    println!(
        "  nicbox   {nb_qps:>8.0} q/s  p50 {:.2} ms  p99 {:.2} ms  errors {nb_err}",
        pct(&nb_lat, 0.50),
        pct(&nb_lat, 0.99)
    );
    println!(
        "  trivial  {tr_qps:>8.0} q/s  p50 {:.2} ms  p99 {:.2} ms  errors {tr_err}",
        pct(&tr_lat, 0.50),
        pct(&tr_lat, 0.99)
    );
    println!(
        "  ratio nicbox/trivial: throughput {:.2}, p99 {:.2}x",
        nb_qps / tr_qps.max(1.0),
        pct(&nb_lat, 0.99) / pct(&tr_lat, 0.99).max(0.001)
    );
}
