//! Black-box tests (tier 3): the real `nicbox` binary on port 0, real sockets, real clients.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Server, http_agent, http_call, org_body, run, write_config};

/// `init`, then `registrar add`, then `registrar credit`: returns the API key.
fn init_with_registrar(config: &Path, id: &str, cents: i64) -> String {
    let c = config.to_str().unwrap();
    let (code, out, err) = run(&["init", "--config", c]);
    assert_eq!(code, 0, "init: {out} {err}");
    let (code, out, err) = run(&["registrar", "add", "--config", c, "--id", id, "--name", "Registos Teste, Lda."]);
    assert_eq!(code, 0, "registrar add: {out} {err}");
    let key = out.lines().find_map(|l| l.split("): ").nth(1)).expect("key printed").trim().to_string();
    assert!(key.starts_with(&format!("nbx_{id}_")), "{out}");
    if cents != 0 {
        let (code, out, err) = run(&[
            "registrar",
            "credit",
            "--config",
            c,
            "--id",
            id,
            "--amount-cents",
            &cents.to_string(),
            "--reason",
            "test top-up",
        ]);
        assert_eq!(code, 0, "credit: {out} {err}");
    }
    key
}

fn create_contact(agent: &ureq::Agent, s: &Server, key: &str) -> String {
    let (status, v) = http_call(agent, "POST", &s.url("/api/v1/contacts"), Some(key), Some(&org_body()));
    assert_eq!(status, 201, "{v}");
    v["handle"].as_str().unwrap().to_string()
}

fn domain_body(name: &str, handle: &str) -> Value {
    json!({"name": name, "period_years": 1, "registrant": handle, "admin": handle, "tech": handle,
           "nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]})
}

#[test]
fn a_new_operator_registers_a_domain_following_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let key = init_with_registrar(&config, "ptreg", 100_000);
    // A second init must refuse to touch the database.
    let (code, _, err) = run(&["init", "--config", config.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("exists"), "{err}");

    let s = Server::serve(&config);
    let agent = http_agent();
    let (status, v) = http_call(&agent, "GET", &s.url("/api/v1/domains/check?name=novo.pt"), Some(&key), None);
    assert_eq!(status, 200);
    assert_eq!(v["results"][0]["available"], true, "{v}");
    let handle = create_contact(&agent, &s, &key);
    let (status, v) =
        http_call(&agent, "POST", &s.url("/api/v1/domains"), Some(&key), Some(&domain_body("novo.pt", &handle)));
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["status"], json!(["ok"]));
    let (status, v) = http_call(&agent, "GET", &s.url("/api/v1/domains/check?name=novo.pt"), Some(&key), None);
    assert_eq!(status, 200);
    assert_eq!(v["results"][0]["reason"], "registered");
    let (status, v) = http_call(&agent, "GET", &s.url("/api/v1/account"), Some(&key), None);
    assert_eq!(status, 200);
    assert_eq!(v["balance"]["cents"], 100_000 - 1_000);
    assert_eq!(http_call(&agent, "GET", &s.url("/healthz"), None, None).0, 200);
    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean exit");

    // The database is sound after a clean stop.
    let (code, out, err) = run(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("database: ok (1 domains"), "{out}");
}

#[test]
fn bad_input_on_the_command_line_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "data_dir = \"d\"\n[http]\nlisten = \"nowhere\"\n[[tld]]\nname = \"pt\"\n").unwrap();
    let (code, out, err) = run(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2, "{out} {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("http.listen"), "{err}");

    std::fs::write(&bad, "data_dir = \"d\"\ncolour = \"blue\"\n[[tld]]\nname = \"pt\"\n").unwrap();
    let (code, _, err) = run(&["serve", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("colour"), "{err}");

    let (code, _, err) = run(&["check", "--config", "/nonexistent/nicbox.toml"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(&["frobnicate"]);
    assert_eq!(code, 2);
    let (code, _, _) = run(&["user", "add", "--config", "x.toml", "--name", "a", "--role", "god"]);
    assert_eq!(code, 2);
    let (code, _, err) = run(&["demo", "--http", "not-an-address", "--data", dir.path().join("d").to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

/// A demo started in a new directory, with its `demo-credentials.json`.
fn demo_with_credentials() -> (tempfile::TempDir, std::path::PathBuf, Server, Value) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let s = crate::common::start_demo(&data, dir.path());
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    (dir, data, s, creds)
}

#[test]
fn demo_serves_a_seeded_registry_and_writes_credentials() {
    let (dir, data, s, creds) = demo_with_credentials();
    assert_eq!(creds["admin"]["username"], "admin");
    assert!(creds["admin"]["password"].as_str().unwrap().len() >= 16);
    let regs = creds["registrars"].as_array().unwrap();
    assert_eq!(regs.len(), 2);
    let key = regs[0]["api_key"].as_str().unwrap();
    let agent = http_agent();
    let (status, v) = http_call(&agent, "GET", &s.url("/api/v1/domains/check?name=novo.pt"), Some(key), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["results"][0]["name"], "novo.pt");
    // About 2,000 domains, with IDNs and DNSSEC among them.
    let mut names = 0;
    let (mut idn, mut signed, mut persons_seen) = (0, 0, 0);
    for r in regs {
        let key = r["api_key"].as_str().unwrap();
        let mut after: Option<String> = None;
        loop {
            let url = match &after {
                Some(a) => s.url(&format!("/api/v1/domains?limit=500&after={a}")),
                None => s.url("/api/v1/domains?limit=500"),
            };
            let (status, v) = http_call(&agent, "GET", &url, Some(key), None);
            assert_eq!(status, 200);
            for d in v["domains"].as_array().unwrap() {
                names += 1;
                idn += usize::from(d["name"].as_str().unwrap().contains("xn--"));
                signed += usize::from(!d["ds"].as_array().unwrap().is_empty());
                if names % 97 == 0 {
                    let (_, c) = http_call(
                        &agent,
                        "GET",
                        &s.url(&format!("/api/v1/contacts/{}", d["registrant"].as_str().unwrap())),
                        Some(key),
                        None,
                    );
                    persons_seen += usize::from(c["kind"] == "person");
                }
            }
            match v["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
    }
    assert!((1_900..=2_100).contains(&names), "{names} demo domains");
    assert!(idn >= 50, "{idn} IDN domains");
    assert!(signed >= 100, "{signed} signed domains");
    assert!(persons_seen >= 3, "persons among the registrants");

    // The demo runs a lab clock: the admin moves it forward over HTTP Basic, and the lifecycle
    // job runs at once (about a third of the demo expires within 400 days).
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("admin:{}", creds["admin"]["password"].as_str().unwrap()))
    );
    let resp = agent
        .post(&s.url("/admin/api/clock/advance"))
        .header("authorization", &basic)
        .header("content-type", "application/json")
        .send(r#"{"days": 400}"#)
        .unwrap();
    let mut resp = resp;
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v["kind"], "lab");
    let lc = &v["lifecycle"];
    assert!(lc["auto_renewed"].as_u64().unwrap() > 100 && lc["expired"].as_u64().unwrap() > 50, "{v}");
    let wrong = agent.get(&s.url("/admin/api/clock")).header("authorization", "Basic YWRtaW46d3Jvbmc=").call().unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(s.terminate().code(), Some(0));

    // A second run reuses the directory: same credentials, same data.
    let s = crate::common::start_demo(&data, dir.path());
    let (status, v) = http_call(&agent, "GET", &s.url("/api/v1/account"), Some(key), None);
    assert_eq!(status, 200, "{v}");
    // The lab clock's offset survived the restart.
    let mut resp = agent.get(&s.url("/admin/api/clock")).header("authorization", &basic).call().unwrap();
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
    let offset = v["offset_days"].as_f64().unwrap();
    assert!((399.9..400.1).contains(&offset), "{v}");
    assert_eq!(s.terminate().code(), Some(0));
}

/// Registrations stream in from 16 clients while the server is killed with SIGKILL: after a
/// restart, every registration that was answered 201 is there, and the database is consistent
/// (no half-written registration: indexes and counters agree with the records).
#[test]
fn kill_9_loses_no_acknowledged_registration() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let key = init_with_registrar(&config, "ptreg", 100_000_000);
    let s = Server::serve(&config);
    let agent = http_agent();
    let handle = create_contact(&agent, &s, &key);
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let base = s.url("");
    let mut threads = Vec::new();
    for t in 0..16 {
        let (ack, stop, key, handle, base) =
            (acknowledged.clone(), stop.clone(), key.clone(), handle.clone(), base.clone());
        threads.push(std::thread::spawn(move || {
            let agent = http_agent();
            let mut i = 0;
            // Bounded: stops when told, or after 5,000 requests.
            while !stop.load(Ordering::SeqCst) && i < 5_000 {
                let name = format!("t{t}-n{i}.pt");
                let (status, _) = http_call(
                    &agent,
                    "POST",
                    &format!("{base}/api/v1/domains"),
                    Some(&key),
                    Some(&domain_body(&name, &handle)),
                );
                if status == 201 {
                    ack.lock().unwrap().push(name);
                } else if status == 0 {
                    break; // the server is gone
                }
                i += 1;
            }
        }));
    }
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut s = s;
    s.child.kill().unwrap(); // SIGKILL
    s.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    drop(s);
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300, "only {} registrations before the kill", acknowledged.len());

    let s = Server::serve(&config);
    let mut listed = 0;
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            Some(a) => s.url(&format!("/api/v1/domains?limit=500&after={a}")),
            None => s.url("/api/v1/domains?limit=500"),
        };
        let (status, v) = http_call(&agent, "GET", &url, Some(&key), None);
        assert_eq!(status, 200);
        listed += v["domains"].as_array().unwrap().len();
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    for name in &acknowledged {
        let (status, v) = http_call(&agent, "GET", &s.url(&format!("/api/v1/domains/{name}")), Some(&key), None);
        assert_eq!(status, 200, "{name} was acknowledged but is missing: {v}");
    }
    assert!(listed >= acknowledged.len());
    // The balance equals the opening balance minus one charge per stored domain.
    let (_, v) = http_call(&agent, "GET", &s.url("/api/v1/account"), Some(&key), None);
    assert_eq!(v["balance"]["cents"].as_i64().unwrap(), 100_000_000 - 1_000 * listed as i64);
    assert_eq!(s.terminate().code(), Some(0));
    let (code, out, err) = run(&["check", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 0, "database inconsistent after kill -9: {out} {err}");
}

#[test]
fn backup_while_serving_then_restore() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let c = config.to_str().unwrap().to_string();
    let key = init_with_registrar(&config, "ptreg", 1_000_000);
    let s = Server::serve(&config);
    let agent = http_agent();
    let handle = create_contact(&agent, &s, &key);
    for i in 0..20 {
        let (status, v) = http_call(
            &agent,
            "POST",
            &s.url("/api/v1/domains"),
            Some(&key),
            Some(&domain_body(&format!("antes{i}.pt"), &handle)),
        );
        assert_eq!(status, 201, "{v}");
    }
    let out = dir.path().join("backup.redb");
    let (code, stdout, err) = run(&["backup", "--config", &c, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "backup while serving: {stdout} {err}");
    assert!(stdout.contains("20 domains"), "{stdout}");
    // `check` also works beside the running server (through its control socket).
    let (code, stdout, err) = run(&["check", "--config", &c]);
    assert_eq!(code, 0, "{stdout} {err}");
    assert!(stdout.contains("database: ok (20 domains"), "{stdout}");
    // A backup never overwrites.
    let (code, _, _) = run(&["backup", "--config", &c, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    let (status, _) =
        http_call(&agent, "POST", &s.url("/api/v1/domains"), Some(&key), Some(&domain_body("depois.pt", &handle)));
    assert_eq!(status, 201);
    // Restore is refused while the server runs.
    let (code, _, err) = run(&["restore", "--config", &c, "--from", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("running"), "{err}");
    assert_eq!(s.terminate().code(), Some(0));

    let (code, stdout, err) = run(&["restore", "--config", &c, "--from", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout} {err}");
    let s = Server::serve(&config);
    assert_eq!(http_call(&agent, "GET", &s.url("/api/v1/domains/antes7.pt"), Some(&key), None).0, 200);
    assert_eq!(http_call(&agent, "GET", &s.url("/api/v1/domains/depois.pt"), Some(&key), None).0, 404);
    assert_eq!(s.terminate().code(), Some(0));
    let (code, out, err) = run(&["check", "--config", &c]);
    assert_eq!(code, 0, "{out} {err}");

    // A file that is not a backup is refused and changes nothing.
    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, b"not a database").unwrap();
    let (code, _, err) = run(&["restore", "--config", &c, "--from", junk.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let (code, out, _) = run(&["check", "--config", &c]);
    assert_eq!(code, 0);
    assert!(out.contains("20 domains"), "{out}");
}

#[test]
fn import_reports_refused_lines_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let c = config.to_str().unwrap().to_string();
    init_with_registrar(&config, "ptreg", 0);
    let domain_line = |name: &str, registrar: &str| {
        let mut d = domain_body(name, "LEGACY-1");
        for (k, v) in [
            ("type", json!("domain")),
            ("registrar", json!(registrar)),
            ("created", json!("2019-05-01T10:00:00Z")),
            ("expires", json!("2027-05-01T10:00:00Z")),
        ] {
            d[k] = v;
        }
        d
    };
    let mut lines: Vec<Vec<u8>> = Vec::new();
    // Line 1: a domain before the contact it names (contacts are applied first).
    lines.push(domain_line("primeiro.pt", "ptreg").to_string().into_bytes());
    let mut contact = org_body();
    contact["type"] = json!("contact");
    contact["registrar"] = json!("ptreg");
    contact["handle"] = json!("LEGACY-1");
    lines.push(contact.to_string().into_bytes());
    for i in 0..50 {
        let mut d = domain_line(&format!("antigo{i}.pt"), "ptreg");
        d["status"] = json!(["clientTransferProhibited"]);
        d["auth_code"] = json!(format!("legacy-code-{i}"));
        lines.push(d.to_string().into_bytes());
    }
    // A closed zone holds existing names: imported, not refused.
    let mut closed = domain_line("velho.net.pt", "ptreg");
    closed["created"] = json!("2001-01-01T00:00:00Z");
    lines.push(closed.to_string().into_bytes()); // line 53
    lines.push(b"{not json".to_vec()); // line 54
    let mut unknown = domain_line("fantasma.pt", "ptreg");
    unknown["registrant"] = json!("NOBODY");
    lines.push(unknown.to_string().into_bytes()); // line 55: no such contact
    lines.push(domain_line("antigo7.pt", "ptreg").to_string().into_bytes()); // line 56: a repeat
    let mut long = domain_line("comprido.pt", "ptreg");
    long["legitimacy"] = json!("x".repeat(70 * 1024));
    lines.push(long.to_string().into_bytes()); // line 57: over the 64 KiB bound
    lines.push(b"{\"type\":\"domain\",\"name\":\"\xff\xfe.pt\"}".to_vec()); // line 58: not UTF-8
    lines.push(domain_line("ultimo.pt", "ptreg").to_string().into_bytes()); // line 59
    let file = dir.path().join("import.jsonl");
    std::fs::write(&file, lines.join(&b"\n"[..])).unwrap();
    let (code, out, err) = run(&["import", "--config", &c, file.to_str().unwrap()]);
    assert_eq!(code, 1, "refused lines make the exit code 1: {out} {err}");
    assert!(out.contains("imported 1 contacts and 53 domains"), "{out}");
    assert!(out.contains("line 54: refused"), "{out}");
    assert!(out.contains("line 55: refused: invalid_contact"), "{out}");
    assert!(out.contains("line 56: refused: not_available"), "{out}");
    assert!(out.contains("line 57: refused: longer than 65536 bytes"), "{out}");
    assert!(out.contains("line 58: refused: not UTF-8"), "{out}");
    assert_eq!(out.matches("refused").count(), 5 + 1, "five lines and the total: {out}");
    // Reported in the file's order, whatever order they were applied in.
    let at = |n: &str| out.find(&format!("line {n}:")).unwrap();
    assert!(at("54") < at("55") && at("55") < at("56") && at("56") < at("57") && at("57") < at("58"), "{out}");
    let (code, out, err) = run(&["check", "--config", &c, "--deep"]);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains("53 domains"), "{out}");
}

#[test]
fn https_only_when_a_certificate_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let config = write_config(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "listen = \"127.0.0.1:0\"\n",
        "listen = \"127.0.0.1:0\"\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    init_with_registrar(&config, "ptreg", 0);
    let s = Server::serve(&config);
    assert!(s.log.lock().unwrap().iter().any(|l| l.contains("listening protocol=https")));
    let curl = |scheme: &str| {
        std::process::Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--cacert"])
            .arg(&cert)
            .arg(format!("{scheme}://{}/healthz", s.http))
            .output()
            .unwrap()
    };
    let out = curl("https");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "HTTPS answers with the configured certificate");
    let out = curl("http");
    assert_ne!(String::from_utf8_lossy(&out.stdout), "200", "plain HTTP is not served on an HTTPS listener");
    assert_eq!(s.terminate().code(), Some(0));

    // A key that does not exist: one line naming the file, no listener.
    let bad = std::fs::read_to_string(&config).unwrap().replace("key.pem", "missing-key.pem");
    std::fs::write(&config, bad).unwrap();
    let (code, _, err) = run(&["serve", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("missing-key.pem"), "{err}");
}

#[test]
fn every_answer_has_the_security_headers_and_html_pages_a_strict_policy() {
    let (_dir, _, s, _) = demo_with_credentials();
    let agent = http_agent();
    // (path, is an HTML page)
    let paths = [
        ("/", true),
        ("/?name=exemplo.pt", true),
        ("/admin/login", true),
        ("/admin/", true), // redirected to the sign-in page
        ("/api/v1/domains/exemplo.pt", false),
        ("/rdap/domain/exemplo.pt", false),
        ("/no/such/page", false),
        ("/healthz", false),
        ("/metrics", false),
    ];
    for (path, html) in paths {
        let resp = agent.get(&s.url(path)).call().unwrap();
        let h = resp.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(get("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert!(get("referrer-policy").is_some_and(|v| v == "same-origin" || v == "no-referrer"), "{path}: {h:?}");
        let is_html = get("content-type").is_some_and(|v| v.starts_with("text/html"));
        assert_eq!(is_html, html, "{path}: {h:?}");
        if is_html {
            let csp = get("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
            assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
            let script = csp.split(';').find(|d| d.trim().starts_with("script-src")).unwrap_or("");
            assert!(!script.contains("unsafe-inline"), "{path}: inline script allowed: {csp}");
        }
    }
}

#[test]
fn an_address_guessing_api_keys_is_throttled_with_retry_after() {
    let (_dir, _, s, creds) = demo_with_credentials();
    let key = creds["registrars"][0]["api_key"].as_str().unwrap().to_string();
    let agent = http_agent();
    let account = |k: &str| {
        let resp = agent.get(&s.url("/api/v1/account")).header("authorization", &format!("Bearer {k}")).call().unwrap();
        let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        (resp.status().as_u16(), retry)
    };
    assert_eq!(account(&key).0, 200, "the right key works before");
    let max = 20; // limits::API_BAD_KEYS_MAX
    for i in 0..max {
        let (status, _) = account(&format!("{}x{i}", &key[..key.len() - 3]));
        assert_eq!(status, 401, "wrong key {i}");
    }
    let (status, retry) = account("nbx_guess_0000");
    assert_eq!(status, 429, "wrong key {max} from the same address");
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    let window = nicbox::limits::API_BAD_KEYS_WINDOW.as_secs();
    assert!((1..=window).contains(&secs), "Retry-After {secs}: whole seconds until the {window} s window ends");
    // Locked out means the right key too: a guess that hits is not told so.
    assert_eq!(account(&key).0, 429);
    // No key at all is not a guess, and is still told what to send.
    let resp = agent.get(&s.url("/api/v1/account")).call().unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}
