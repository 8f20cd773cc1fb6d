//! TLS against the real binary (the demo, with HTTPS as well as EPP): the certificates are
//! reloaded from their files on SIGHUP (open sessions go on, new handshakes see the new
//! certificate, a broken replacement keeps the last good one and logs an error, the process
//! lives on), and clients that offer only TLS 1.1 or 1.0 are refused on both listeners.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nicbox::epp::certs::{fingerprint_der, fingerprint_pem, test_pki};
use rustls::pki_types::ServerName;
use serde_json::Value;
use tokio_rustls::rustls;

use crate::common::{Server, start_demo, strip_ansi};
use crate::epp::{Raw, Received, Registrar, code, registrars_of, tls_config};

const E: &str = r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0">"#;

struct Lab {
    server: Server,
    data: PathBuf,
    /// The demo's CA and every CA made since, in one file: what the test clients trust.
    cas: PathBuf,
    registrars: Vec<Registrar>,
    _dir: tempfile::TempDir,
}

/// The demo, started once to be created, then again with `[http]` serving HTTPS from
/// `https/cert.pem` and `https/key.pem` (copies of the demo's EPP server certificate).
fn lab() -> Lab {
    lab_with("")
}

/// [`lab`] with `epp_extra` lines in `[epp]` (`epp/client-ca.pem` is a copy of the demo's CA).
fn lab_with(epp_extra: &str) -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    drop(start_demo(&data, dir.path()));
    std::fs::create_dir_all(data.join("https")).unwrap();
    std::fs::copy(data.join("epp/server.pem"), data.join("https/cert.pem")).unwrap();
    std::fs::copy(data.join("epp/server-key.pem"), data.join("https/key.pem")).unwrap();
    std::fs::copy(data.join("epp/ca.pem"), data.join("epp/client-ca.pem")).unwrap();
    let config = data.join("nicbox.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let (head, rest) = text.split_once("[http]\n").expect("an [http] table");
    let text = format!("{head}[http]\ntls_cert = \"https/cert.pem\"\ntls_key = \"https/key.pem\"\n{rest}");
    std::fs::write(&config, text.replace("[epp]\n", &format!("[epp]\n{epp_extra}"))).unwrap();
    let server = start_demo(&data, dir.path());
    assert!(server.logged("listening protocol=https"), "{:?}", server.log.lock().unwrap());
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let cas = dir.path().join("cas.pem");
    std::fs::copy(creds["epp"]["ca_cert"].as_str().unwrap(), &cas).unwrap();
    Lab { server, data, cas, registrars: registrars_of(&creds), _dir: dir }
}

impl Lab {
    fn epp_client(&self) -> Arc<rustls::ClientConfig> {
        self.epp_client_of(0)
    }

    fn epp_client_of(&self, who: usize) -> Arc<rustls::ClientConfig> {
        let r = &self.registrars[who];
        tls_config(&self.cas, Some((&r.cert, &r.key)))
    }

    fn https_client(&self) -> Arc<rustls::ClientConfig> {
        tls_config(&self.cas, None)
    }

    /// A new server certificate and key (of a new CA, which the clients are told to trust).
    fn new_pem(&self) -> (String, String) {
        let (pki, _) = test_pki().unwrap();
        let mut cas = std::fs::read_to_string(&self.cas).unwrap();
        cas.push_str(&pki.ca_cert_pem);
        std::fs::write(&self.cas, cas).unwrap();
        (pki.server_cert_pem, pki.server_key_pem)
    }

    /// Writes the certificate and key of both listeners.
    fn install(&self, cert: &str, key: &str) {
        for (c, k) in [("epp/server.pem", "epp/server-key.pem"), ("https/cert.pem", "https/key.pem")] {
            std::fs::write(self.data.join(c), cert).unwrap();
            std::fs::write(self.data.join(k), key).unwrap();
        }
    }

    fn count(&self, text: &str) -> usize {
        self.server.log.lock().unwrap().iter().filter(|l| strip_ansi(l).contains(text)).count()
    }

    /// SIGHUP, then waits until both listeners have logged the outcome of their reload.
    fn hup(&self, expect: &str) {
        self.hup_each(&[(expect, 2)]);
    }

    /// SIGHUP, then waits until each text has been logged `n` more times.
    fn hup_each(&self, expect: &[(&str, usize)]) {
        let before: Vec<usize> = expect.iter().map(|(e, _)| self.count(e)).collect();
        unsafe {
            libc::kill(self.server.child.id() as i32, libc::SIGHUP);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        for ((text, n), before) in expect.iter().zip(before) {
            while self.count(text) < before + n {
                assert!(
                    Instant::now() < deadline,
                    "no `{text}` {n} times after SIGHUP: {:?}",
                    self.server.log.lock().unwrap()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn alive(&mut self) {
        assert!(self.server.child.try_wait().unwrap().is_none(), "nicbox is still running");
    }

    fn https(&self) -> SocketAddr {
        self.server.http
    }
}

/// The SHA-256 fingerprint of the certificate a new TLS connection to `addr` is shown.
fn presented(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> [u8; 32] {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).expect("the handshake completes");
    }
    let cert = conn.peer_certificates().expect("a server certificate")[0].clone();
    fingerprint_der(cert.as_ref())
}

type Https = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn https_connect(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Https {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// One HTTP/1.1 request on a kept-alive connection: (status, body).
fn get(s: &mut Https, path: &str) -> (u16, String) {
    write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    s.flush().unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("a response on the same connection");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or_else(|| panic!("a Content-Length: {head}"));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn check(c: &mut Raw, name: &str) -> u16 {
    code(&c.command(&format!(
        r#"<check><domain:check xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"><domain:name>{name}</domain:name></domain:check></check>"#
    )))
}

#[test]
fn certificates_are_reloaded_on_sighup_without_dropping_sessions() {
    let mut lab = lab();
    let received = Arc::new(Received::default());
    let first = fingerprint_pem(&std::fs::read_to_string(lab.data.join("epp/server.pem")).unwrap()).unwrap();
    assert_eq!(presented(lab.server.epp(), lab.epp_client()), first);
    assert_eq!(presented(lab.https(), lab.https_client()), first);

    // Sessions opened before the reload: an EPP session logged in, an HTTPS connection kept alive.
    let mut session = Raw::connect(lab.server.epp(), lab.epp_client(), received.clone()).unwrap();
    assert_eq!(code(&session.login(&lab.registrars[0], &[])), 1000);
    let mut kept = https_connect(lab.https(), lab.https_client());
    assert_eq!(get(&mut kept, "/healthz").0, 200);

    // (a, b) A new certificate and key, SIGHUP: the open sessions go on, new handshakes see it.
    let (cert, key) = lab.new_pem();
    let second = fingerprint_pem(&cert).unwrap();
    assert_ne!(second, first);
    lab.install(&cert, &key);
    lab.hup("TLS certificate reloaded");
    lab.alive();
    assert_eq!(check(&mut session, "reload-test.pt"), 1000, "the EPP session opened before the reload goes on");
    let hello = session.send(&format!("{E}<hello/></epp>"));
    assert!(hello.contains("<greeting>"), "{hello}");
    assert_eq!(get(&mut kept, "/healthz").0, 200, "the HTTPS connection opened before the reload goes on");
    assert_eq!(presented(lab.server.epp(), lab.epp_client()), second, "a new EPP connection sees the new certificate");
    assert_eq!(presented(lab.https(), lab.https_client()), second, "a new HTTPS connection sees the new certificate");
    let mut fresh = Raw::connect(lab.server.epp(), lab.epp_client_of(1), received.clone()).unwrap();
    assert_eq!(code(&fresh.login(&lab.registrars[1], &[])), 1000, "logging in over the new certificate works");
    assert_eq!(code(&fresh.command("<logout/>")), 1500);

    // (c) Broken replacements: each keeps the last good certificate and logs an error, once per
    // listener and SIGHUP; (d) the process lives on.
    let (other_cert, other_key) = lab.new_pem();
    let broken: [(&str, &str, &str); 4] = [
        ("a key that does not match", &other_cert, &key),
        ("not a certificate", "this is not a certificate\n", &key),
        ("not a key", &cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        ("an empty key file", &other_cert, ""),
    ];
    for (what, c, k) in broken {
        lab.install(c, k);
        lab.hup("TLS reload failed: keeping the previous certificate");
        lab.alive();
        assert_eq!(presented(lab.server.epp(), lab.epp_client()), second, "EPP after {what}");
        assert_eq!(presented(lab.https(), lab.https_client()), second, "HTTPS after {what}");
        assert_eq!(check(&mut session, "reload-test.pt"), 1000, "the old session after {what}");
    }
    // A file that is gone (or unreadable): the same.
    std::fs::remove_file(lab.data.join("epp/server-key.pem")).unwrap();
    std::fs::remove_file(lab.data.join("https/key.pem")).unwrap();
    lab.hup("TLS reload failed: keeping the previous certificate");
    lab.alive();
    assert_eq!(presented(lab.server.epp(), lab.epp_client()), second);
    let errors: Vec<String> = lab
        .server
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|l| strip_ansi(l))
        .filter(|l| l.contains("TLS reload failed"))
        .collect();
    assert_eq!(errors.len(), 10, "one error per listener and SIGHUP: {errors:#?}");
    assert!(errors.iter().all(|l| l.contains("ERROR")), "{errors:#?}");
    assert!(errors.iter().any(|l| l.contains("server-key.pem")), "the error names the file: {errors:#?}");
    assert!(errors.iter().any(|l| l.contains("https") && l.contains("key.pem")), "{errors:#?}");
    assert!(errors.iter().any(|l| l.contains("no certificate in the file")), "{errors:#?}");
    assert!(errors.iter().any(|l| l.contains("no private key in the file")), "{errors:#?}");
    assert!(
        errors
            .iter()
            .any(|l| l.contains("server.pem") && l.contains("server-key.pem") && l.contains("does not belong")),
        "a key that does not match names both files: {errors:#?}"
    );

    // Good files again: taken at the next SIGHUP.
    lab.install(&other_cert, &other_key);
    lab.hup("TLS certificate reloaded");
    let third = fingerprint_pem(&other_cert).unwrap();
    assert_eq!(presented(lab.server.epp(), lab.epp_client()), third);
    assert_eq!(presented(lab.https(), lab.https_client()), third);
    assert_eq!(check(&mut session, "reload-test.pt"), 1000, "the first session outlived every reload");
    assert_eq!(code(&session.command("<logout/>")), 1500);
    drop(kept);
    lab.alive();
    assert_eq!(lab.server.terminate().code(), Some(0), "SIGTERM still stops it cleanly");
    received.validate();
}

/// `openssl s_client` offering one protocol version: whether the handshake succeeded.
fn s_client(addr: SocketAddr, version: &str, ca: &Path, cert: Option<&Registrar>) -> (bool, String) {
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string(), version, "-servername", "localhost"]);
    // OpenSSL 3 refuses TLS 1.0/1.1 itself at its default security level: lower it, so that the
    // refusal tested is the server's.
    cmd.args(["-cipher", "DEFAULT@SECLEVEL=0", "-CAfile"]).arg(ca);
    if let Some(r) = cert {
        cmd.arg("-cert").arg(&r.cert).arg("-key").arg(&r.key);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("openssl");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let ok = text.contains("Verify return code: 0 (ok)") && !text.contains("Cipher is (NONE)");
    (ok, text)
}

#[test]
fn only_tls_1_2_and_newer_are_spoken() {
    let lab = lab();
    let r = &lab.registrars[0];
    for (name, addr, cert) in [("epp", lab.server.epp(), Some(r)), ("https", lab.https(), None)] {
        for version in ["-tls1_2", "-tls1_3"] {
            let (ok, text) = s_client(addr, version, &lab.cas, cert);
            assert!(ok, "{name} {version} is accepted: {text}");
        }
        for version in ["-tls1_1", "-tls1"] {
            let (ok, text) = s_client(addr, version, &lab.cas, cert);
            assert!(!ok, "{name} {version} is refused: {text}");
            // The server's alert (rustls answers such a hello with handshake_failure), not
            // the client giving up before sending it.
            assert!(text.contains("SSL alert number"), "{name} {version}: refused by the server: {text}");
        }
    }
}

#[test]
fn the_epp_client_ca_is_reloaded_on_sighup_too() {
    let mut lab = lab_with("client_ca = \"epp/client-ca.pem\"\n");
    let received = Arc::new(Received::default());
    let client_ca = lab.data.join("epp/client-ca.pem");
    let demo_ca = std::fs::read_to_string(&client_ca).unwrap();
    let mut session = Raw::connect(lab.server.epp(), lab.epp_client(), received.clone()).unwrap();
    assert_eq!(code(&session.login(&lab.registrars[0], &[])), 1000);

    // Another CA: certificates of the demo's CA no longer get through the handshake; the session
    // opened before goes on.
    let (other, _) = test_pki().unwrap();
    std::fs::write(&client_ca, &other.ca_cert_pem).unwrap();
    lab.hup("TLS certificate reloaded");
    assert!(
        Raw::connect(lab.server.epp(), lab.epp_client(), received.clone()).is_err(),
        "a client certificate of a CA no longer trusted is refused"
    );
    assert_eq!(check(&mut session, "reload-ca.pt"), 1000);

    // A client CA file that is not one: EPP keeps the CA it has (HTTPS reloads its own files).
    std::fs::write(&client_ca, "no CA here\n").unwrap();
    lab.hup_each(&[("TLS reload failed: keeping the previous certificate", 1), ("TLS certificate reloaded", 1)]);
    lab.alive();
    assert!(lab.server.logged("client-ca.pem: no certificate in the file"), "{:?}", lab.server.log.lock().unwrap());
    assert!(Raw::connect(lab.server.epp(), lab.epp_client(), received.clone()).is_err(), "still the other CA");

    // The demo's CA again: new connections log in.
    std::fs::write(&client_ca, &demo_ca).unwrap();
    lab.hup("TLS certificate reloaded");
    let mut fresh = Raw::connect(lab.server.epp(), lab.epp_client_of(1), received.clone()).unwrap();
    assert_eq!(code(&fresh.login(&lab.registrars[1], &[])), 1000);
    assert_eq!(check(&mut session, "reload-ca.pt"), 1000, "the first session outlived both reloads");
    received.validate();
}
