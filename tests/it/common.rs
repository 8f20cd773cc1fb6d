//! Shared test harness: a registry on a temporary database with a manual clock, the router over
//! it, fixtures, and the real binary started on port 0.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use nicbox::clock::Clock;
use nicbox::model::{Actor, Timestamp};
use nicbox::registry::{NewRegistrar, Registry};
use nicbox::store::Store;
use serde_json::{Value, json};
use tower::ServiceExt;

/// 2026-11-22T10:00:00Z
pub const T0: i64 = 1_795_341_600;

pub const CONFIG: &str = r#"
data_dir = "data"
[http]
listen = "127.0.0.1:0"
api_rate_per_second = 100000
api_burst = 100000
[whois]
listen = "127.0.0.1:0"
[[tld]]
name = "pt"
profile = "pt"
reserved = "reserved.txt"
blocked = "blocked.txt"
[tld.prices]
create = 1000
create_premium = 10000
renew = 900
transfer = 500
restore = 3000
[tld.policy]
glue_documentation = true
"#;

pub const RESERVED: &str =
    "lisboa geographic: district\nnic protocol: registry\nexemplo-reservado.com.pt registry: held for a test\n";
pub const BLOCKED: &str = "merda offensive: vulgar term\n";

/// Writes a configuration (plus `extra` TOML appended) and list files into `dir`. The standard
/// configuration ends in `[tld.policy]` (the tests' glue is in documentation ranges): an `extra`
/// that starts with its own `[tld.policy]` table adds to that one.
pub fn write_config(dir: &Path, extra: &str) -> PathBuf {
    std::fs::write(dir.join("reserved.txt"), RESERVED).unwrap();
    std::fs::write(dir.join("blocked.txt"), BLOCKED).unwrap();
    let path = dir.join("nicbox.toml");
    let trimmed = extra.trim_start();
    let extra = match trimmed.strip_prefix("[tld.policy]\n") {
        Some(rest) => rest,
        None if trimmed.starts_with('[') || trimmed.is_empty() => extra,
        None => panic!("extra configuration must start with a table: {extra:?}"),
    };
    assert!(!extra.contains("[tld.policy]"), "[tld.policy] must come first in the extra configuration");
    // An extra that sets glue_documentation itself replaces the standard value.
    let base = if extra.contains("glue_documentation") {
        CONFIG.replace("glue_documentation = true\n", "")
    } else {
        CONFIG.into()
    };
    std::fs::write(&path, format!("{base}{extra}")).unwrap();
    path
}

pub struct Env {
    pub dir: tempfile::TempDir,
    pub registry: Registry,
    pub app: axum::Router,
    pub clock: Clock,
}

impl Env {
    /// A fresh registry with `extra` TOML appended to the standard test configuration (for
    /// example a `[tld.policy]` table of overrides).
    pub fn with(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), extra);
        Env::from_config(dir, &path)
    }

    pub fn new() -> Env {
        Env::with("")
    }

    /// A registry whose `[http]` table gets `extra` lines.
    pub fn with_http(extra: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let path = write_config(dir.path(), "");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "api_rate_per_second = 100000\napi_burst = 100000\n",
            extra,
            1,
        );
        std::fs::write(&path, text).unwrap();
        Env::from_config(dir, &path)
    }

    fn from_config(dir: tempfile::TempDir, path: &Path) -> Env {
        let settings = nicbox::config::load(path).unwrap();
        std::fs::create_dir_all(&settings.data_dir).unwrap();
        let store = Store::create(&settings.db_path()).unwrap();
        let clock = Clock::manual(Timestamp(T0));
        let registry = Registry::with_clock(store, settings, clock.clone());
        let app = nicbox::http::app(registry.clone());
        Env { dir, registry, app, clock }
    }

    /// The raw response of a request without a body.
    pub async fn raw(&self, method: &str, path: &str, key: Option<&str>) -> axum::response::Response {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        self.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
    }

    /// Creates a registrar with a balance; returns its API key.
    pub async fn registrar(&self, id: &str, balance_cents: i64) -> String {
        let (_, key) = self
            .registry
            .registrar_add(
                NewRegistrar {
                    id: id.into(),
                    name: format!("Registrar {id}"),
                    email: format!("{id}@example.net"),
                    balance_cents,
                },
                Actor::System("test".into()),
            )
            .await
            .unwrap();
        key.0
    }

    /// An HTTP request to the router in memory: (status, JSON body or Null, content type).
    pub async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let (s, v, _) = self.call_full(method, path, key, body.map(|b| b.to_string())).await;
        (s, v)
    }

    pub async fn call_full(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<String>,
    ) -> (StatusCode, Value, String) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b)).unwrap(),
            None => req.body(Body::empty()).unwrap(),
        };
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24).await.unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, v, ct)
    }

    /// Creates a contact through the API; returns its handle.
    pub async fn contact(&self, key: &str, body: Value) -> String {
        let (s, v) = self.call("POST", "/api/v1/contacts", Some(key), Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["handle"].as_str().unwrap().to_string()
    }

    /// An organization contact with a valid NIF.
    pub async fn org(&self, key: &str) -> String {
        self.contact(key, org_body()).await
    }

    /// Registers `name` with a standard body plus `extra` fields; returns (status, body).
    pub async fn register(&self, key: &str, name: &str, handle: &str, extra: Value) -> (StatusCode, Value) {
        let mut body = json!({"name": name, "period_years": 1, "registrant": handle, "admin": handle, "tech": handle});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.call("POST", "/api/v1/domains", Some(key), Some(body)).await
    }

    pub async fn balance(&self, key: &str) -> i64 {
        let (_, v) = self.call("GET", "/api/v1/account", Some(key), None).await;
        v["balance"]["cents"].as_i64().unwrap()
    }
}

pub fn org_body() -> Value {
    json!({"kind":"organization","name":"Exemplo, Lda.","organization":"Exemplo, Lda.",
           "street":["Rua Augusta 1"],"city":"Lisboa","postal_code":"1100-048","country_code":"PT",
           "email":"dns@exemplo.pt","phone":"+351.213456789","fiscal_id":"501964843"})
}

pub fn person_body() -> Value {
    json!({"kind":"person","name":"João Conceição Gonçalves","street":["Rua da Prata 12, 3.º Esq."],
           "city":"Évora","postal_code":"7000-651","country_code":"PT","email":"joao@exemplo-mail.pt",
           "phone":"+351.912345678","fiscal_id":"123456789"})
}

/// The code of a problem+json answer.
pub fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("")
}

/// The real binary, started with `args`, killed on drop.
pub struct Server {
    pub child: Child,
    pub http: SocketAddr,
    /// The WHOIS listener's address, read from its `listening protocol=whois` line.
    pub whois: SocketAddr,
    pub dir: PathBuf,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The DNS and EPP listeners' addresses, once their `listening` lines came.
    listeners: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, SocketAddr>>>,
    /// A demo's credentials file: when the server is dropped, no log line may hold any of its
    /// secrets (every test that starts a demo checks its whole log).
    credentials: Option<PathBuf>,
}

/// `nicbox demo` on `data` with every listener on a free loopback port (HTTP, WHOIS, DNS), so
/// that demos of parallel tests never meet on a default port.
pub fn demo_args(data: &Path) -> Vec<String> {
    [
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--http",
        "127.0.0.1:0",
        "--whois",
        "127.0.0.1:0",
        "--dns",
        "127.0.0.1:0",
        "--epp",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Starts `nicbox demo` on `data` (see [`demo_args`]), run from `dir`.
pub fn start_demo(data: &Path, dir: &Path) -> Server {
    let args = demo_args(data);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&args, dir)
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_nicbox")
}

impl Server {
    /// Starts `nicbox serve --config F` and waits for its `listening` lines.
    pub fn serve(config: &Path) -> Server {
        Server::start(&["serve", "--config", config.to_str().unwrap()], config.parent().unwrap())
    }

    pub fn start(args: &[&str], dir: &Path) -> Server {
        Server::start_with(args, dir, Stdio::null(), &[])
    }

    /// Like [`Server::start`], with standard output going to `stdout` and `env` set (a value of
    /// `None` removes the variable).
    pub fn start_with(args: &[&str], dir: &Path, stdout: Stdio, env: &[(&str, Option<&str>)]) -> Server {
        let mut command = Command::new(binary());
        command.args(args);
        for (k, v) in env {
            match v {
                Some(v) => command.env(k, v),
                None => command.env_remove(k),
            };
        }
        Server::start_command_to(command, dir, stdout)
    }

    /// Starts `cmd` (the binary, or a wrapper that runs it and passes its standard error on) and
    /// waits for its `listening` lines.
    pub fn start_command(cmd: Command, dir: &Path) -> Server {
        Server::start_command_to(cmd, dir, Stdio::null())
    }

    fn start_command_to(mut cmd: Command, dir: &Path, stdout: Stdio) -> Server {
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let mut child = cmd
            .env("NICBOX_LOG", "nicbox=info")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nicbox");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        let listeners = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
        let listeners2 = listeners.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let plain = strip_ansi(&line);
                log2.lock().unwrap().push(line);
                for proto in ["dns", "epp"] {
                    let marker = format!("listening protocol={proto} addr=");
                    if let Some(i) = plain.find(&marker)
                        && let Ok(a) = plain[i + marker.len()..].trim().parse()
                    {
                        listeners2.lock().unwrap().insert(proto.to_string(), a);
                    }
                }
                for proto in ["http", "https", "whois"] {
                    let marker = format!("listening protocol={proto} addr=");
                    if let Some(i) = plain.find(&marker) {
                        let _ = tx.send((proto, plain[i + marker.len()..].trim().to_string()));
                    }
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let (mut http, mut whois): (Option<SocketAddr>, Option<SocketAddr>) = (None, None);
        while http.is_none() || whois.is_none() {
            if let Ok((proto, a)) = rx.recv_timeout(Duration::from_millis(100)) {
                let addr: SocketAddr = a.parse().expect("listening address");
                if proto == "whois" {
                    whois = Some(addr);
                } else {
                    http = Some(addr);
                }
                continue;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("nicbox exited with {status} before listening: {:?}", log.lock().unwrap());
            }
            assert!(Instant::now() < deadline, "nicbox did not start: {:?}", log.lock().unwrap());
        }
        let (http, whois) = (http.unwrap(), whois.unwrap());
        let credentials = args
            .iter()
            .any(|a| a == "demo")
            .then(|| args.iter().position(|a| a == "--data"))
            .flatten()
            .and_then(|i| args.get(i + 1))
            .map(|d| dir.join(d).join("demo-credentials.json"));
        Server { child, http, whois, dir: dir.to_path_buf(), log, listeners, credentials }
    }

    /// The address of the `proto` listener (waits for its `listening` line).
    fn listener(&self, proto: &str) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(a) = self.listeners.lock().unwrap().get(proto) {
                return *a;
            }
            assert!(Instant::now() < deadline, "no {proto} listener: {:?}", self.log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The DNS listener's address.
    pub fn dns(&self) -> SocketAddr {
        self.listener("dns")
    }

    /// The EPP listener's address.
    pub fn epp(&self) -> SocketAddr {
        self.listener("epp")
    }

    /// Whether a log line so far contains `text`.
    pub fn logged(&self, text: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| strip_ansi(l).contains(text))
    }

    /// How many lines of the log so far contain `text`.
    pub fn log_count(&self, text: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| strip_ansi(l).contains(text)).count()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http, path)
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "nicbox did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            return;
        }
        let Some(creds) = self.credentials.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) else { return };
        let creds: Value = serde_json::from_str(&creds).expect("the demo's credentials file");
        let mut secrets = Vec::new();
        secrets_in(&creds, &mut secrets);
        assert!(!secrets.is_empty(), "the credentials file names secrets");
        let log = self.log.lock().unwrap();
        for line in log.iter() {
            for secret in &secrets {
                assert!(!line.contains(secret.as_str()), "a secret in the log: {line}");
            }
        }
    }
}

/// The values of a credentials document's secret fields (API keys, passwords, TSIG secrets).
fn secrets_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v.as_str() {
                    Some(s) if matches!(k.as_str(), "api_key" | "password" | "epp_password" | "secret") => {
                        out.push(s.to_string())
                    }
                    _ => secrets_in(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| secrets_in(v, out)),
        _ => {}
    }
}

pub fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
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

/// Runs the binary to completion: (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary()).args(args).stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A blocking HTTP client for black-box tests.
pub fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// (status, JSON body) of a request against a running server.
pub fn http_call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let auth = key.map(|k| format!("Bearer {k}"));
    let resp = match (method, body) {
        ("GET", _) => {
            let mut r = agent.get(url);
            if let Some(a) = &auth {
                r = r.header("authorization", a);
            }
            r.call()
        }
        ("DELETE", _) => {
            let mut r = agent.delete(url);
            if let Some(a) = &auth {
                r = r.header("authorization", a);
            }
            r.call()
        }
        (m, b) => {
            let mut r = match m {
                "POST" => agent.post(url),
                "PATCH" => agent.patch(url),
                _ => agent.put(url),
            };
            if let Some(a) = &auth {
                r = r.header("authorization", a);
            }
            r.header("content-type", "application/json").send(b.map(|b| b.to_string()).unwrap_or_default())
        }
    };
    match resp {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(e) => (0, json!({"transport_error": e.to_string()})),
    }
}

/// Runs the Debian `whois` client against a server: its standard output.
pub fn whois_client(addr: SocketAddr, query: &str) -> String {
    let out = Command::new("whois")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string(), query])
        .stdin(Stdio::null())
        .output()
        .expect("the whois client (Debian package whois) must be installed: ops/test installs it");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends raw bytes to a WHOIS port and reads the answer to the end (10 s at most).
pub fn whois_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}
