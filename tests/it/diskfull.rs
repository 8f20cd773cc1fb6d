//! A full disk (issue 14): the demo's data directory on a small tmpfs that the test fills up.
//! Writes are refused with a clear error (API 503 `unavailable` with Retry-After, EPP 2400, a
//! banner on every admin page and 503 for a new sign-in) and change nothing; reads, WHOIS, RDAP and zone transfers go on;
//! when the space comes back, writing resumes by itself; `check --deep` finds nothing
//! half-written. The tmpfs is mounted by the test (the tests run as root on this machine, as
//! they do in CI); a failed mount fails the test.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{http_agent, http_call, start_demo, whois_client};
use crate::dnsd::{TsigKey, kdig_xfr};
use crate::epp::{Raw, Received, code as epp_code, tls_config};

/// A tmpfs mounted for the test, unmounted (lazily) when dropped.
struct Mount(PathBuf);

impl Mount {
    fn new(at: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount a tmpfs at {} (the tests run as root): {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with one file until the disk refuses; its path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5au8; 1 << 20];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "filling the disk: {e}");
            break;
        }
    }
    // Whatever is left below a whole MiB too.
    let small = vec![0x5au8; 4096];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_pauses_writes_keeps_reads_and_resumes_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    let _mount = Mount::new(&mnt, "96m");
    let data = mnt.join("demo");
    let server = start_demo(&data, dir.path());
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let reg = &creds["registrars"][0];
    let (key, contact) = (reg["api_key"].as_str().unwrap(), reg["contact"].as_str().unwrap());
    let agent = http_agent();
    let create = |name: &str| {
        http_call(
            &agent,
            "POST",
            &server.url("/api/v1/domains"),
            Some(key),
            Some(&json!({"name": name, "period_years": 1, "registrant": contact, "admin": contact, "tech": contact})),
        )
    };
    let (status, v) = create("antes-do-disco-cheio.pt");
    assert_eq!(status, 201, "{v}");
    let (status, before) = http_call(&agent, "GET", &server.url("/api/v1/account"), Some(key), None);
    assert_eq!(status, 200);
    // An EPP session opened before the disk fills (login writes nothing it needs later).
    let epp_config = tls_config(
        Path::new(creds["epp"]["ca_cert"].as_str().unwrap()),
        Some((Path::new(reg["client_cert"].as_str().unwrap()), Path::new(reg["client_key"].as_str().unwrap()))),
    );
    let mut epp = Raw::connect(server.epp(), epp_config, std::sync::Arc::new(Received::default())).unwrap();
    let e = r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0">"#;
    let login = format!(
        "{e}<command><login><clID>{}</clID><pw>{}</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>urn:ietf:params:xml:ns:domain-1.0</objURI><objURI>urn:ietf:params:xml:ns:contact-1.0</objURI></svcs></login><clTRID>l1</clTRID></command></epp>",
        reg["id"].as_str().unwrap(),
        reg["epp_password"].as_str().unwrap()
    );
    assert_eq!(epp_code(&epp.send(&login)), 1000);

    // An admin session opened before the disk fills (signing in writes the session).
    let admin = Admin::sign_in(&server.url(""), &creds);
    assert_eq!(admin.page("/admin/").0, 200);
    assert!(!admin.page("/admin/").1.contains("id=\"storage-full\""), "no banner while there is room");

    let filler = fill(&mnt);

    // Writes: refused, clearly, and nothing written.
    let (status, v) = create("com-o-disco-cheio.pt");
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["code"], "unavailable", "{v}");
    assert!(v["detail"].as_str().unwrap().contains("storage is full"), "{v}");
    let resp = agent
        .post(&server.url("/api/v1/domains"))
        .header("authorization", &format!("Bearer {key}"))
        .header("content-type", "application/json")
        .send(json!({"name": "outro-cheio.pt", "period_years": 1, "registrant": contact, "admin": contact, "tech": contact}).to_string())
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().get("retry-after").is_some(), "503 with Retry-After");
    let frame = format!(
        "{e}<command><create><domain:create xmlns:domain=\"urn:ietf:params:xml:ns:domain-1.0\"><domain:name>epp-cheio.pt</domain:name><domain:period unit=\"y\">1</domain:period><domain:registrant>{contact}</domain:registrant><domain:contact type=\"admin\">{contact}</domain:contact><domain:contact type=\"tech\">{contact}</domain:contact><domain:authInfo><domain:pw/></domain:authInfo></domain:create></create><clTRID>c1</clTRID></command></epp>"
    );
    let r = epp.send(&frame);
    assert_eq!(epp_code(&r), 2400, "{r}");
    assert!(r.contains("storage is full"), "the reason says why: {r}");
    // Reads: the API, WHOIS, RDAP and a zone transfer.
    let (status, v) = http_call(&agent, "GET", &server.url("/api/v1/domains/antes-do-disco-cheio.pt"), Some(key), None);
    assert_eq!(status, 200, "{v}");
    let (status, v) = http_call(&agent, "GET", &server.url("/api/v1/domains/com-o-disco-cheio.pt"), Some(key), None);
    assert_eq!(status, 404, "the refused create left nothing: {v}");
    let (_, after) = http_call(&agent, "GET", &server.url("/api/v1/account"), Some(key), None);
    assert_eq!(after["balance"], before["balance"], "nothing charged for the refused writes");
    let w = whois_client(server.whois, "antes-do-disco-cheio.pt");
    assert!(w.contains("antes-do-disco-cheio.pt"), "{w}");
    let (status, v) = http_call(&agent, "GET", &server.url("/rdap/domain/antes-do-disco-cheio.pt"), None, None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ldhName"], "antes-do-disco-cheio.pt");
    let tsig = &creds["dns"]["tsig"];
    let key_t = TsigKey {
        name: tsig["name"].as_str().unwrap().into(),
        algorithm: tsig["algorithm"].as_str().unwrap().into(),
        secret: tsig["secret"].as_str().unwrap().into(),
    };
    let x = kdig_xfr(server.dns(), "pt", "AXFR", Some(&key_t));
    assert_eq!(x.rcode, "NOERROR", "AXFR on a full disk: {}", x.error);
    assert!(x.records.len() > 1000, "the whole zone: {} records", x.records.len());
    assert!(server.logged("writes are paused"), "the log says writes are paused");
    // The admin UI: every page says so; signing in is refused with the reason, not a 500.
    let (status, html) = admin.page("/admin/");
    assert_eq!(status, 200, "admin pages are reads: {html}");
    assert!(html.contains("id=\"storage-full\"") && says_full(&html), "{html}");
    let (status, html) = Admin::sign_in_attempt(&server.url(""), &creds);
    assert_eq!(status, 503, "{html}");
    assert!(says_full(&html), "{html}");
    // The query log cannot be written either: more queries, a few seconds, and still at most
    // one line about it (jobs::Failures), not one per block.
    for _ in 0..20 {
        whois_client(server.whois, "antes-do-disco-cheio.pt");
    }
    std::thread::sleep(Duration::from_secs(2));
    let lines = server.log_count("could not write the query log");
    assert_eq!(lines, 1, "a failing query log: one error line in a few seconds, not one per block");

    // Space again: writing resumes without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, v) = create("depois-do-disco-cheio.pt");
        if status == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "writes did not resume: {status} {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = epp.send(&frame);
    assert_eq!(epp_code(&r), 1000, "EPP writes resume in the same session: {r}");
    assert!(server.logged("writes resume"), "the log says writes resume");
    assert!(!admin.page("/admin/").1.contains("id=\"storage-full\""), "the banner goes when space returns");
    assert_eq!(Admin::sign_in_attempt(&server.url(""), &creds).0, 303, "signing in works again");
    let (code, out, err) =
        crate::common::run(&["check", "--deep", "--config", data.join("nicbox.toml").to_str().unwrap()]);
    assert_eq!(code, 0, "nothing half-written:\n{out}{err}");
}

/// An admin UI session (the demo's admin user), without following redirects.
struct Admin {
    base: String,
    cookie: String,
}

impl Admin {
    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
    }

    /// A sign-in through the form: (status, body), and the session cookie if one was set.
    fn attempt(base: &str, creds: &Value) -> (u16, String, Option<String>) {
        let agent = Admin::agent();
        let form = agent.get(&format!("{base}/admin/login")).call().unwrap().body_mut().read_to_string().unwrap();
        let token = form.split("name=\"token\" value=\"").nth(1).and_then(|t| t.split('"').next()).unwrap();
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("username", creds["admin"]["username"].as_str().unwrap())
            .append_pair("password", creds["admin"]["password"].as_str().unwrap())
            .append_pair("token", token)
            .finish();
        let mut r = agent
            .post(&format!("{base}/admin/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .send(body)
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .map(|c| c.split(';').next().unwrap().to_string());
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default(), cookie)
    }

    fn sign_in_attempt(base: &str, creds: &Value) -> (u16, String) {
        let (status, body, _) = Admin::attempt(base, creds);
        (status, body)
    }

    fn sign_in(base: &str, creds: &Value) -> Admin {
        let (status, body, cookie) = Admin::attempt(base, creds);
        assert_eq!(status, 303, "sign-in: {body}");
        Admin { base: base.to_string(), cookie: cookie.expect("a session cookie") }
    }

    fn page(&self, path: &str) -> (u16, String) {
        let mut r = Admin::agent().get(&format!("{}{path}", self.base)).header("cookie", &self.cookie).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default())
    }
}

/// The admin UI's words for a full disk, in either language.
fn says_full(html: &str) -> bool {
    html.contains("disk holding the database is full") || html.contains("disco da base de dados está cheio")
}
