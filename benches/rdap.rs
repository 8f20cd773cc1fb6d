//! RDAP load benchmark (`cargo bench --bench rdap`): domain lookups per second with keep-alive
//! and 64 concurrent clients over 100,000 domains (the load generator allow-listed), and in the
//! same run a minimal hyper server (one axum route over hyper, a fixed 1 KB JSON body) in a
//! separate process, measured in alternating rounds.
//!
//! `NICBOX_BENCH_QUICK=1`: 5,000 domains and short rounds (a smoke run).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 64;

fn minimal_server() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let body: &'static str =
            Box::leak(format!("{{\"objectClassName\":\"domain\",\"pad\":\"{}\"}}", "x".repeat(980)).into_boxed_str());
        let app = axum::Router::new().route(
            "/rdap/domain/{name}",
            axum::routing::get(
                move || async move { ([(axum::http::header::CONTENT_TYPE, "application/rdap+json")], body) },
            ),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", l.local_addr().unwrap());
        axum::serve(l, app).await.unwrap();
    });
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
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("nicbox exited").unwrap();
        if let Some(i) = line.find("listening protocol=http addr=") {
            let rest = &line[i + "listening protocol=http addr=".len()..];
            let a: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '\u{1b}').collect();
            break a.parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), addr)
}

fn start_minimal() -> (Proc, SocketAddr) {
    let mut child =
        Command::new(std::env::current_exe().unwrap()).arg("--minimal-server").stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (Proc(child), line.trim().parse().unwrap())
}

/// Reads one HTTP/1.1 response (Content-Length framing); false on error or non-200. The load
/// generator shares the machine with the servers, so it does as little as it can per byte: it
/// looks for the end of the head only in bytes it has not searched yet, and never copies the head.
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    let mut tmp = [0u8; 16384];
    let mut searched: usize = 0;
    loop {
        let from = searched.saturating_sub(3);
        if let Some(pos) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            let end = from + pos;
            let head = &buf[..end];
            let ok = head.starts_with(b"HTTP/1.1 200");
            let len = head
                .split(|&b| b == b'\n')
                .find_map(|l| {
                    let l = l.strip_suffix(b"\r").unwrap_or(l);
                    (l.len() > 15 && l[..15].eq_ignore_ascii_case(b"content-length:"))
                        .then(|| std::str::from_utf8(&l[15..]).ok()?.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                match s.read(&mut tmp).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => buf.extend_from_slice(&tmp[..n]),
                }
            }
            return ok;
        }
        searched = buf.len();
        match s.read(&mut tmp).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

async fn round(addr: SocketAddr, secs: f64, n: usize) -> (usize, Vec<u32>, usize) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        tasks.spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = Vec::with_capacity(16 * 1024);
            let mut i: usize = c * 7919 + 1;
            while Instant::now() < deadline {
                i = i.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let req = format!(
                    "GET /rdap/domain/dominio{}.pt HTTP/1.1\r\nHost: bench\r\nAccept: application/rdap+json\r\n\r\n",
                    (i >> 33) % n
                );
                let t = Instant::now();
                if s.write_all(req.as_bytes()).await.is_err() || !read_response(&mut s, &mut buf).await {
                    errors += 1;
                    match tokio::net::TcpStream::connect(addr).await {
                        Ok(ns) => s = ns,
                        Err(_) => break,
                    }
                    continue;
                }
                lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            (lat, errors)
        });
    }
    let (mut all, mut errors) = (Vec::new(), 0);
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
    if std::env::args().any(|a| a == "--minimal-server") {
        minimal_server();
        return;
    }
    let q = std::env::var("NICBOX_BENCH_QUICK").is_ok();
    let n = if q { 5_000 } else { 100_000 };
    let (secs, rounds) = if q { (1.0, 1) } else { (6.0, 3) };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nicbox.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[http]\nlisten = \"127.0.0.1:0\"\n[whois]\nlisten = \"127.0.0.1:0\"\nallow = [\"127.0.0.0/8\"]\n[[tld]]\nname = \"pt\"\n[tld.policy]\nglue_documentation = true\n",
    )
    .unwrap();
    let c = config.to_str().unwrap();
    run(&["init", "--config", c]);
    run(&["registrar", "add", "--config", c, "--id", "bench", "--name", "Bench, Lda."]);
    let mut text = String::new();
    text.push_str(r#"{"type":"contact","registrar":"bench","handle":"P-1","kind":"person","name":"Maria Conceição","street":["Rua Augusta 1"],"city":"Lisboa","postal_code":"1100-048","country_code":"PT","email":"maria@exemplo.pt","phone":"+351.912345678","fiscal_id":"123456789"}"#);
    text.push('\n');
    text.push_str(r#"{"type":"contact","registrar":"bench","handle":"ORG-1","kind":"organization","name":"Exemplo, Lda.","street":["Rua Augusta 1"],"city":"Lisboa","postal_code":"1100-048","country_code":"PT","email":"dns@exemplo.pt","fiscal_id":"501964843"}"#);
    text.push('\n');
    for i in 0..n {
        let holder = if i % 2 == 0 { "P-1" } else { "ORG-1" };
        text.push_str(&format!(
            r#"{{"type":"domain","registrar":"bench","name":"dominio{i}.pt","registrant":"{holder}","admin":"ORG-1","tech":"ORG-1","nameservers":[{{"name":"ns1.dominio{i}.pt","addresses":["192.0.2.1","2001:db8::1"]}},{{"name":"ns2.example.net"}}],"ds":[{{"key_tag":1234,"algorithm":13,"digest_type":2,"digest":"{}"}}],"created":"2020-01-01T00:00:00Z","expires":"2030-01-01T00:00:00Z"}}"#,
            "AB".repeat(32)
        ));
        text.push('\n');
    }
    let file = dir.path().join("import.jsonl");
    std::fs::write(&file, text).unwrap();
    run(&["import", "--config", c, file.to_str().unwrap()]);

    let (_nb, nb_addr) = start_nicbox(c);
    let (_mn, mn_addr) = start_minimal();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(round(nb_addr, 0.5, n));
    rt.block_on(round(mn_addr, 0.5, n));
    let (mut a_n, mut a_l, mut a_e, mut b_n, mut b_l, mut b_e) = (0, Vec::new(), 0, 0, Vec::new(), 0);
    for _ in 0..rounds {
        let (k, l, e) = rt.block_on(round(nb_addr, secs, n));
        (a_n, a_e) = (a_n + k, a_e + e);
        a_l.extend(l);
        let (k, l, e) = rt.block_on(round(mn_addr, secs, n));
        (b_n, b_e) = (b_n + k, b_e + e);
        b_l.extend(l);
    }
    a_l.sort_unstable();
    b_l.sort_unstable();
    let total = secs * rounds as f64;
    let (a_qps, b_qps) = (a_n as f64 / total, b_n as f64 / total);
    println!("rdap/load      {CLIENTS} clients, keep-alive, {n} domains, {rounds} rounds of {secs}s each");
    println!(
        "  nicbox   {a_qps:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {a_e}",
        pct(&a_l, 0.5),
        pct(&a_l, 0.99)
    );
    println!(
        "  minimal  {b_qps:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  errors {b_e}",
        pct(&b_l, 0.5),
        pct(&b_l, 0.99)
    );
    println!("  ratio nicbox/minimal: {:.2}", a_qps / b_qps.max(1.0));
}
