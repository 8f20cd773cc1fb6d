//! EPP against the real binary (the demo) with raw frames over TLS and the demo's client
//! certificates: robustness (bad XML, DTDs, depth, lengths, split frames, non-UTF-8, commands
//! out of order, wrong certificates), the .pt extension in its three generations, and parity
//! with the HTTP API. Every response received is validated against the XSDs (lxml) at the end
//! of each test.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio_rustls::rustls;

use crate::common::{Server, http_agent, http_call, start_demo};

const E: &str = r#"<?xml version="1.0" encoding="UTF-8"?><epp xmlns="urn:ietf:params:xml:ns:epp-1.0">"#;
const DOMAIN_NS: &str = "urn:ietf:params:xml:ns:domain-1.0";
const CONTACT_NS: &str = "urn:ietf:params:xml:ns:contact-1.0";
const PTDOMAIN: &str = "http://eppdev.dns.pt/schemas/ptdomain-1.0";
const PTCONTACT: &str = "http://eppdev.dns.pt/schemas/ptcontact-1.0";

pub struct Registrar {
    pub id: String,
    pub password: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub contact: String,
    pub api_key: String,
}

/// The registrars of a demo's `demo-credentials.json`.
pub fn registrars_of(creds: &Value) -> Vec<Registrar> {
    let s = |v: &Value| v.as_str().unwrap_or_else(|| panic!("a string in the credentials: {v}")).to_string();
    creds["registrars"]
        .as_array()
        .expect("registrars in the credentials")
        .iter()
        .map(|r| Registrar {
            id: s(&r["id"]),
            password: s(&r["epp_password"]),
            cert: s(&r["client_cert"]).into(),
            key: s(&r["client_key"]).into(),
            contact: s(&r["contact"]),
            api_key: s(&r["api_key"]),
        })
        .collect()
}

pub struct Demo {
    pub server: Server,
    pub ca: PathBuf,
    pub admin_password: String,
    pub registrars: Vec<Registrar>,
    _dir: tempfile::TempDir,
}

pub fn demo() -> Demo {
    demo_with(None)
}

/// A demo whose `[epp]` table gets `epp_extra` lines (started once to be created, then again).
pub fn demo_with(epp_extra: Option<&str>) -> Demo {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut server = start_demo(&data, dir.path());
    if let Some(extra) = epp_extra {
        drop(server);
        let config = data.join("nicbox.toml");
        let text = std::fs::read_to_string(&config).unwrap().replace("[epp]\n", &format!("[epp]\n{extra}\n"));
        std::fs::write(&config, text).unwrap();
        server = start_demo(&data, dir.path());
    }
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_string();
    let registrars = registrars_of(&creds);
    Demo {
        server,
        ca: s(&creds["epp"]["ca_cert"]).into(),
        admin_password: s(&creds["admin"]["password"]),
        registrars,
        _dir: dir,
    }
}

impl Demo {
    /// Moves the demo's lab clock forward.
    pub fn advance_days(&self, days: u32) {
        use base64::Engine;
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", self.admin_password))
        );
        let resp = http_agent()
            .post(&self.server.url("/admin/api/clock/advance"))
            .header("authorization", &basic)
            .header("content-type", "application/json")
            .send(format!("{{\"days\": {days}}}"))
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }
}

/// Every frame the tests received, validated at the end.
#[derive(Default)]
pub struct Received(std::sync::Mutex<Vec<String>>);

impl Received {
    /// Validates every frame against tests/epp/xsd/pt-lab/all_pt.xsd (a copy of ../shared/epp/xsd) with lxml; panics on the
    /// first invalid one.
    pub fn validate(&self) {
        let frames = self.0.lock().unwrap().clone();
        assert!(!frames.is_empty());
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), serde_json::to_string(&frames).unwrap()).unwrap();
        let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/epp/xsd/pt-lab/all_pt.xsd");
        let script = r#"
import json, sys
sys.path.insert(0, sys.argv[3])
from lxml import etree
schema = etree.XMLSchema(etree.parse(sys.argv[2]))
frames = json.load(open(sys.argv[1]))
for i, f in enumerate(frames):
    doc = etree.fromstring(f.encode())
    if doc.tag != '{urn:ietf:params:xml:ns:epp-1.0}epp':
        print(f"frame {i}: root {doc.tag}"); sys.exit(1)
    if not schema.validate(doc):
        print(f"frame {i} invalid: {schema.error_log.last_error}\n{f}"); sys.exit(1)
print(f"{len(frames)} frames valid")
"#;
        let pylib = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/epp/pylib");
        let out = std::process::Command::new("python3")
            .args(["-c", script, file.path().to_str().unwrap(), xsd.to_str().unwrap(), pylib.to_str().unwrap()])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("frames valid"), "{stdout}");
    }
}

pub fn tls_config(ca: &Path, cert: Option<(&Path, &Path)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match cert {
        Some((c, k)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(c).unwrap().map(|c| c.unwrap()).collect();
            b.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(k).unwrap()).unwrap()
        }
        None => b.with_no_client_auth(),
    };
    Arc::new(config)
}

/// A blocking EPP connection with raw frames.
pub struct Raw {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    pub greeting: String,
    received: Arc<Received>,
}

impl Raw {
    pub fn connect(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        received: Arc<Received>,
    ) -> std::io::Result<Raw> {
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
        let conn = rustls::ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
        let mut raw = Raw { tls: rustls::StreamOwned::new(conn, tcp), greeting: String::new(), received };
        raw.greeting = raw.recv()?;
        Ok(raw)
    }

    pub fn recv(&mut self) -> std::io::Result<String> {
        let mut h = [0u8; 4];
        self.tls.read_exact(&mut h)?;
        let n = u32::from_be_bytes(h) as usize;
        let mut b = vec![0u8; n - 4];
        self.tls.read_exact(&mut b)?;
        let text = String::from_utf8(b).expect("responses are UTF-8");
        self.received.0.lock().unwrap().push(text.clone());
        Ok(text)
    }

    pub fn send_bytes(&mut self, body: &[u8]) -> std::io::Result<String> {
        let mut f = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        self.tls.write_all(&f)?;
        self.tls.flush()?;
        self.recv()
    }

    pub fn send(&mut self, xml: &str) -> String {
        self.send_bytes(xml.as_bytes()).expect("an answer")
    }

    /// A command with a clTRID; the response.
    pub fn command(&mut self, inner: &str) -> String {
        let r = self.send(&format!("{E}<command>{inner}<clTRID>t-{}</clTRID></command></epp>", inner.len()));
        assert!(r.contains(&format!("<clTRID>t-{}</clTRID>", inner.len())), "clTRID echoed: {r}");
        r
    }

    pub fn login(&mut self, r: &Registrar, ext_uris: &[&str]) -> String {
        let ext: String = ext_uris.iter().map(|u| format!("<extURI>{u}</extURI>")).collect();
        let svc_ext = if ext.is_empty() { String::new() } else { format!("<svcExtension>{ext}</svcExtension>") };
        self.command(&format!(
            "<login><clID>{}</clID><pw>{}</pw><options><version>1.0</version><lang>en</lang></options><svcs><objURI>{DOMAIN_NS}</objURI><objURI>{CONTACT_NS}</objURI><objURI>urn:ietf:params:xml:ns:host-1.0</objURI>{svc_ext}</svcs></login>",
            r.id, r.password
        ))
    }
}

pub fn code(resp: &str) -> u16 {
    let i = resp.find("<result code=\"").unwrap_or_else(|| panic!("no result: {resp}")) + 14;
    resp[i..i + 4].parse().unwrap()
}

/// The text of the first element whose tag ends with `tag` (`domain:roid`, `roid`...).
pub fn field(resp: &str, tag: &str) -> Option<String> {
    let open = format!("{tag}>");
    let i = resp.find(&open)? + open.len();
    let j = resp[i..].find('<')?;
    Some(resp[i..i + j].to_string())
}

fn connect(d: &Demo, who: usize, received: &Arc<Received>) -> Raw {
    let r = &d.registrars[who];
    Raw::connect(d.server.epp(), tls_config(&d.ca, Some((&r.cert, &r.key))), received.clone()).unwrap()
}

fn suffix() -> String {
    format!(
        "{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() % 1_000_000_000
    )
}

#[test]
fn epp_refuses_bad_frames_and_keeps_the_session() {
    let d = demo();
    let received = Arc::new(Received::default());
    let mut c = connect(&d, 0, &received);
    assert!(c.greeting.contains("<greeting>") && c.greeting.contains(DOMAIN_NS), "{}", c.greeting);
    // Commands before login.
    let r = c.command(&format!(
        "<check><domain:check xmlns:domain=\"{DOMAIN_NS}\"><domain:name>a.pt</domain:name></domain:check></check>"
    ));
    assert_eq!(code(&r), 2002, "{r}");
    // Readable frames that are not EPP: 2001, and the session goes on.
    for (label, body) in [
        ("not well-formed", "<epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"><command>".to_string()),
        ("DOCTYPE with an entity", format!("<?xml version=\"1.0\"?><!DOCTYPE epp [<!ENTITY x \"{}\">]><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\"><hello/></epp>", "y".repeat(100))),
        ("external entity", "<?xml version=\"1.0\"?><!DOCTYPE epp [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\">&x;</epp>".to_string()),
        ("deep nesting", format!("{E}{}{}</epp>", "<a>".repeat(5000), "</a>".repeat(5000))),
        ("wrong root namespace", "<epp xmlns=\"urn:example\"><hello/></epp>".to_string()),
        ("no command", format!("{E}<nothing/></epp>")),
    ] {
        let r = c.send(&body);
        assert_eq!(code(&r), 2001, "{label}: {r}");
        assert!(!r.contains("/etc/passwd") && !r.contains("root:"), "{label}: {r}");
    }
    let r = c.send_bytes(b"<epp xmlns=\"urn:ietf:params:xml:ns:epp-1.0\">\xff\xfe</epp>").unwrap();
    assert_eq!(code(&r), 2001, "non-UTF-8: {r}");
    // <hello> answers a greeting; an unknown command 2000 (after login).
    assert!(c.send(&format!("{E}<hello/></epp>")).contains("<greeting>"));
    let r = c.login(&d.registrars[0], &[]);
    assert_eq!(code(&r), 1000, "{r}");
    let r = c.login(&d.registrars[0], &[]);
    assert_eq!(code(&r), 2002, "login twice: {r}");
    // No extension the client did not announce (RFC 5730 2.9.1.1): it announced none.
    let r = c.command(&format!(
        "<info><contact:info xmlns:contact=\"{CONTACT_NS}\"><contact:id>{}</contact:id></contact:info></info>",
        d.registrars[0].contact
    ));
    assert_eq!(code(&r), 1000, "{r}");
    assert!(!r.contains("<extension>"), "an unannounced extension: {r}");
    let r = c.command("<frobnicate/>");
    assert_eq!(code(&r), 2000, "{r}");
    let r = c.command("<check><x:check xmlns:x=\"urn:example:unknown\"><x:name>a</x:name></x:check></check>");
    assert_eq!(code(&r), 2307, "unknown object namespace: {r}");
    let r = c.command("<info><host:info xmlns:host=\"urn:ietf:params:xml:ns:host-1.0\"><host:name>ns1.a.pt</host:name></host:info></info>");
    assert_eq!(code(&r), 2307, "host objects are not offered: {r}");
    // `<`, `&` and control characters in values: escaped in, refused cleanly, valid XML out.
    let r = c.command(&format!("<info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>&lt;b&amp;&gt;.pt</domain:name></domain:info></info>"));
    assert!([2005, 2303].contains(&code(&r)), "{r}");
    let someone_elses = first_domain_of(&d, 1);
    let r = c.command(&format!("<info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{someone_elses}</domain:name><domain:authInfo><domain:pw>a&lt;b&amp;c&#x9;</domain:pw></domain:authInfo></domain:info></info>"));
    assert_eq!(code(&r), 2202, "a wrong auth code: {r}");
    let r = c.send(&format!("{E}<command><create><contact:create xmlns:contact=\"{CONTACT_NS}\"><contact:id>CTL{}</contact:id><contact:postalInfo type=\"int\"><contact:name>Bad&#x1B;Name</contact:name><contact:addr><contact:street>Rua 1</contact:street><contact:city>Lisboa</contact:city><contact:pc>1100-001</contact:pc><contact:cc>PT</contact:cc></contact:addr></contact:postalInfo><contact:email>a@b.pt</contact:email><contact:authInfo><contact:pw>x</contact:pw></contact:authInfo></contact:create></create></command></epp>", &suffix()[..6]));
    assert!(code(&r) == 2001 || code(&r) == 2005, "a control character in a name: {r}");
    // Split frames: the header and the body in pieces, with pauses.
    let body = format!("{E}<command><poll op=\"req\"/><clTRID>split-1</clTRID></command></epp>");
    let mut frame = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body.as_bytes());
    for piece in frame.chunks(7) {
        c.tls.write_all(piece).unwrap();
        c.tls.flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = c.recv().unwrap();
    assert!(r.contains("split-1") && [1300, 1301].contains(&code(&r)), "{r}");
    // A length header larger than the bound: an answer saying so, and the session closes.
    c.tls.write_all(&(10_000_000u32).to_be_bytes()).unwrap();
    c.tls.flush().unwrap();
    let r = c.recv().unwrap();
    assert_eq!(code(&r), 2500, "{r}");
    assert!(r.contains("65536"), "the bound is named: {r}");
    assert!(c.recv().is_err(), "closed after a frame too large");
    // A length header smaller than itself.
    let mut c = connect(&d, 0, &received);
    c.tls.write_all(&3u32.to_be_bytes()).unwrap();
    c.tls.flush().unwrap();
    let r = c.recv().unwrap();
    assert_eq!(code(&r), 2500, "{r}");
    received.validate();
}

fn first_domain_of(d: &Demo, who: usize) -> String {
    let (s, v) = http_call(
        &http_agent(),
        "GET",
        &d.server.url("/api/v1/domains?limit=1"),
        Some(&d.registrars[who].api_key),
        None,
    );
    assert_eq!(s, 200, "{v}");
    v["domains"][0]["name"].as_str().unwrap().to_string()
}

#[test]
fn epp_login_is_bound_to_pinned_certificates_and_throttled() {
    let d = demo();
    let received = Arc::new(Received::default());
    let (a, b) = (&d.registrars[0], &d.registrars[1]);
    // No client certificate: the handshake fails.
    let no_cert = Raw::connect(d.server.epp(), tls_config(&d.ca, None), received.clone());
    assert!(no_cert.is_err(), "a connection without a client certificate is refused");
    // B's certificate cannot log in as A, even with A's password.
    let mut c = Raw::connect(d.server.epp(), tls_config(&d.ca, Some((&b.cert, &b.key))), received.clone()).unwrap();
    let r = c.login(a, &[]);
    assert_eq!(code(&r), 2501, "{r}");
    assert!(r.contains("not pinned"), "{r}");
    assert!(c.recv().is_err(), "the session is closed");
    // A's own certificate and password work.
    let mut c = connect(&d, 0, &received);
    assert_eq!(code(&c.login(a, &[])), 1000);
    assert_eq!(code(&c.command("<logout/>")), 1500);
    assert!(c.recv().is_err(), "logout closes the session");
    // newPW at login changes the password: the old one no longer works, the new one does.
    let new_pw = "nova-Senha-2026";
    let mut c = connect(&d, 0, &received);
    let r = c.command(&format!(
        "<login><clID>{}</clID><pw>{}</pw><newPW>{new_pw}</newPW><options><version>1.0</version><lang>en</lang></options><svcs><objURI>{DOMAIN_NS}</objURI></svcs></login>",
        a.id, a.password
    ));
    assert_eq!(code(&r), 1000, "{r}");
    assert_eq!(code(&c.command("<logout/>")), 1500);
    let mut c = connect(&d, 0, &received);
    assert_eq!(code(&c.login(a, &[])), 2200, "the old password is gone");
    let renamed = Registrar { password: new_pw.into(), ..clone(a) };
    assert_eq!(code(&c.login(&renamed, &[])), 1000, "the new password works");
    assert_eq!(code(&c.command("<logout/>")), 1500);
    // Wrong passwords: 2200, then the registrar is locked out for a while (2502, a limit
    // exceeded), told how long to wait (the demo's window: 15 minutes), and the session closes.
    let mut c = connect(&d, 1, &received);
    let wrong = Registrar { password: "wrong-password".into(), ..clone(b) };
    let mut codes = Vec::new();
    let wait = |r: &str| -> u64 {
        let i = r.find("retry in ").unwrap_or_else(|| panic!("no wait in {r}")) + "retry in ".len();
        let secs: u64 = r[i..].split(" s").next().unwrap().parse().unwrap();
        assert!((1..=15 * 60).contains(&secs), "retry in {secs} s: {r}");
        secs
    };
    for _ in 0..6 {
        let r = c.login(&wrong, &[]);
        codes.push(code(&r));
        if code(&r) == 2502 {
            assert!(r.contains("too many failed logins"), "{r}");
            wait(&r);
            assert!(c.recv().is_err(), "the session is closed");
            break;
        }
    }
    assert!(codes.len() >= 5 && codes[..codes.len() - 1].iter().all(|c| *c == 2200), "{codes:?}");
    assert_eq!(*codes.last().unwrap(), 2502, "{codes:?}");
    // Even the right password is refused while locked out.
    let mut c = connect(&d, 1, &received);
    let r = c.login(b, &[]);
    assert_eq!(code(&r), 2502, "{r}");
    wait(&r);
    // The address is locked out too: A's right password from it waits as well.
    let mut c = connect(&d, 0, &received);
    assert_eq!(code(&c.login(a, &[])), 2502, "the address is locked out");
    received.validate();
}

fn clone(r: &Registrar) -> Registrar {
    Registrar {
        id: r.id.clone(),
        password: r.password.clone(),
        cert: r.cert.clone(),
        key: r.key.clone(),
        contact: r.contact.clone(),
        api_key: r.api_key.clone(),
    }
}

fn contact_create(id: &str, name: &str, ext: &str) -> String {
    format!(
        "<create><contact:create xmlns:contact=\"{CONTACT_NS}\"><contact:id>{id}</contact:id><contact:postalInfo type=\"int\"><contact:name>{name}</contact:name><contact:addr><contact:street>Rua Augusta 1</contact:street><contact:city>Lisboa</contact:city><contact:pc>1100-048</contact:pc><contact:cc>PT</contact:cc></contact:addr></contact:postalInfo><contact:voice>+351.213456789</contact:voice><contact:email>dns@exemplo.pt</contact:email><contact:authInfo><contact:pw>unused-1</contact:pw></contact:authInfo></contact:create></create>{ext}"
    )
}

fn domain_create(name: &str, contact: &str, ext: &str) -> String {
    format!(
        "<create><domain:create xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:period unit=\"y\">1</domain:period><domain:ns><domain:hostAttr><domain:hostName>ns1.example.net</domain:hostName></domain:hostAttr><domain:hostAttr><domain:hostName>ns2.example.net</domain:hostName></domain:hostAttr></domain:ns><domain:registrant>{contact}</domain:registrant><domain:contact type=\"admin\">{contact}</domain:contact><domain:contact type=\"tech\">{contact}</domain:contact><domain:authInfo><domain:pw/></domain:authInfo></domain:create></create>{ext}"
    )
}

fn ext(inner: &str) -> String {
    format!("<extension>{inner}</extension>")
}

/// The .pt extension of 2008, 2014-2018 and 2019: contacts carry the fiscal id as
/// `identification` or `vat`; domains legitimacy, registration basis, auto-renew and owner
/// visibility in each generation's form; info, renew and transfer with the ROID or without.
#[test]
fn epp_speaks_the_pt_extension_of_each_generation() {
    let d = demo();
    let received = Arc::new(Received::default());
    let (a, b) = (&d.registrars[0], &d.registrars[1]);
    let mut c = connect(&d, 0, &received);
    assert_eq!(code(&c.login(a, &[PTDOMAIN, PTCONTACT, "urn:ietf:params:xml:ns:secDNS-1.1"])), 1000);
    let s = &suffix()[..6];
    let agent = http_agent();
    let api = |path: &str| http_call(&agent, "GET", &d.server.url(path), Some(&a.api_key), None).1;
    let generations = [
        (
            "v0",
            format!(
                "<ptcontact:create xmlns:ptcontact=\"{PTCONTACT}\"><ptcontact:type>organization</ptcontact:type><ptcontact:identification type=\"1\">501964843</ptcontact:identification><ptcontact:mobile>+351.912345678</ptcontact:mobile></ptcontact:create>"
            ),
            format!(
                "<ptdomain:create xmlns:ptdomain=\"{PTDOMAIN}\"><ptdomain:legitimacy type=\"1\"/><ptdomain:registration_basis type=\"090\"/><ptdomain:addPeriod>0</ptdomain:addPeriod><ptdomain:nextPossibleRegistration>false</ptdomain:nextPossibleRegistration><ptdomain:autoRenew>false</ptdomain:autoRenew></ptdomain:create>"
            ),
            false,
            true,
        ),
        (
            "v1",
            format!(
                "<ptcontact:create xmlns:ptcontact=\"{PTCONTACT}\"><ptcontact:identification>501964843</ptcontact:identification><ptcontact:mobile>+351.912345678</ptcontact:mobile></ptcontact:create>"
            ),
            format!(
                "<ptdomain:create xmlns:ptdomain=\"{PTDOMAIN}\"><ptdomain:legitimacy type=\"1\"/><ptdomain:registration_basis type=\"090\"/><ptdomain:autoRenew>1</ptdomain:autoRenew><ptdomain:ownerVisible>1</ptdomain:ownerVisible></ptdomain:create>"
            ),
            true,
            true,
        ),
        (
            "v2",
            format!(
                "<ptcontact:create xmlns:ptcontact=\"{PTCONTACT}\"><ptcontact:vat>501964843</ptcontact:vat><ptcontact:mobile>+351.912345678</ptcontact:mobile></ptcontact:create>"
            ),
            format!(
                "<ptdomain:create xmlns:ptdomain=\"{PTDOMAIN}\"><ptdomain:legitimacy>1</ptdomain:legitimacy><ptdomain:autoRenew>true</ptdomain:autoRenew><ptdomain:Arbitration>true</ptdomain:Arbitration><ptdomain:ownerConf>false</ptdomain:ownerConf></ptdomain:create>"
            ),
            true,
            false,
        ),
    ];
    for (generation, contact_ext, domain_ext, auto_renew, visible) in &generations {
        let handle = format!("PT{generation}{s}");
        let r = c.command(&contact_create(&handle, "Exemplo, Lda.", &ext(contact_ext)));
        assert_eq!(code(&r), 1000, "{generation} contact: {r}");
        let v = api(&format!("/api/v1/contacts/{handle}"));
        assert_eq!(v["fiscal_id"], "501964843", "{generation}: the fiscal id arrived: {v}");
        let name = format!("pt-{generation}-{s}.pt");
        let r = c.command(&domain_create(&name, &handle, &ext(domain_ext)));
        assert_eq!(code(&r), 1000, "{generation} domain: {r}");
        let roid = field(&r, "ptdomain:roid").unwrap_or_else(|| panic!("{generation}: ptdomain:creData/roid: {r}"));
        assert!(roid.starts_with('D') && roid.ends_with("-PT"), "{roid}");
        let v = api(&format!("/api/v1/domains/{name}"));
        assert_eq!(v["auto_renew"], *auto_renew, "{generation}: {v}");
        assert_eq!(v["owner_visible"], *visible, "{generation}: {v}");
        assert_eq!(v["legitimacy"], "1", "{generation}: {v}");
        // Info with the 2008 roid, the 2014 empty roid, and none (2019).
        for info_ext in [
            ext(&format!(
                "<ptdomain:info xmlns:ptdomain=\"{PTDOMAIN}\"><ptdomain:roid>{roid}</ptdomain:roid></ptdomain:info>"
            )),
            ext(&format!("<ptdomain:info xmlns:ptdomain=\"{PTDOMAIN}\"><ptdomain:roid/></ptdomain:info>")),
            String::new(),
        ] {
            let r = c.command(&format!("<info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:info></info>{info_ext}"));
            assert_eq!(code(&r), 1000, "{generation} info: {r}");
            assert_eq!(field(&r, "domain:roid").as_deref(), Some(roid.as_str()));
            if info_ext.is_empty() {
                assert!(!r.contains("ptdomain:infData"), "no extension data unasked: {r}");
            } else {
                assert_eq!(
                    field(&r, "ptdomain:autoRenew").as_deref(),
                    Some(if *auto_renew { "true" } else { "false" }),
                    "{r}"
                );
            }
        }
        let r = c.command(&format!(
            "<info><contact:info xmlns:contact=\"{CONTACT_NS}\"><contact:id>{handle}</contact:id></contact:info></info>"
        ));
        assert_eq!(field(&r, "ptcontact:vat").as_deref(), Some("501964843"), "{r}");
    }
    let name = format!("pt-v1-{s}.pt");
    let info = c.command(&format!(
        "<info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:info></info>"
    ));
    // The 2014-2018 transfer: transferKey and roid in the extension.
    let (auth, roid) = (field(&info, "domain:pw").unwrap(), field(&info, "domain:roid").unwrap());
    let mut cb = connect(&d, 1, &received);
    assert_eq!(code(&cb.login(b, &[PTDOMAIN])), 1000);
    let r = cb.command(&format!("<transfer op=\"request\"><domain:transfer xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:transfer></transfer>{}", ext(&format!("<ptdomain:transfer xmlns:ptdomain=\"{PTDOMAIN}\"><ptdomain:roid>{roid}</ptdomain:roid><ptdomain:transferKey>{auth}</ptdomain:transferKey></ptdomain:transfer>"))));
    assert_eq!(code(&r), 1000, "{r}");
    assert_eq!(field(&r, "domain:trStatus").as_deref(), Some("serverApproved"), "{r}");
    assert_eq!(field(&r, "domain:reID").as_deref(), Some(b.id.as_str()));
    // The losing registrar's poll names the domain in a trnData.
    let mut found = false;
    for _ in 0..200 {
        let r = c.command("<poll op=\"req\"/>");
        if code(&r) == 1300 {
            break;
        }
        assert_eq!(code(&r), 1301, "{r}");
        if r.contains("<domain:trnData") && r.contains(&format!("<domain:name>{name}</domain:name>")) {
            found = true;
        }
        let i = r.find("msgQ count=").unwrap();
        let id = r[i..].split("id=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let ack = c.command(&format!("<poll op=\"ack\" msgID=\"{id}\"/>"));
        assert_eq!(code(&ack), 1000, "{ack}");
        if found {
            break;
        }
    }
    assert!(found, "a domain:trnData poll message for {name}");
    // Giving up sponsorship (2008 and 2014 forms) is not offered: said so.
    let r = cb.command(&format!("<update><domain:update xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:update></update>{}", ext(&format!("<ptdomain:update xmlns:ptdomain=\"{PTDOMAIN}\"><ptdomain:renounce>true</ptdomain:renounce></ptdomain:update>"))));
    assert_eq!(code(&r), 2102, "{r}");
    // chg/registrant is the registrant change of POLICY.md (immediate in the demo's profile).
    let v2 = format!("pt-v2-{s}.pt");
    let r = c.command(&format!(
        "<update><domain:update xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{v2}</domain:name><domain:chg><domain:registrant>PTv1{s}</domain:registrant></domain:chg></domain:update></update>"
    ));
    assert_eq!(code(&r), 1000, "{r}");
    assert_eq!(api(&format!("/api/v1/domains/{v2}"))["registrant"], format!("PTv1{s}"));
    // Renew with the 2008-2018 notRenew flag (once the lab clock is in the renew window):
    // auto-renew goes off.
    let name = format!("pt-v2-{s}.pt");
    let mut renewed = None;
    for _ in 0..14 {
        let info = c.command(&format!(
            "<info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name></domain:info></info>"
        ));
        let ex = field(&info, "domain:exDate").unwrap();
        let r = c.command(&format!("<renew><domain:renew xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{name}</domain:name><domain:curExpDate>{}</domain:curExpDate><domain:period unit=\"y\">1</domain:period></domain:renew></renew>{}", &ex[..10], ext(&format!("<ptdomain:renew xmlns:ptdomain=\"{PTDOMAIN}\"><ptdomain:roid/><ptdomain:notRenew>true</ptdomain:notRenew></ptdomain:renew>"))));
        if code(&r) == 2105 {
            d.advance_days(30);
            continue;
        }
        assert_eq!(code(&r), 1000, "{r}");
        renewed = Some(r);
        break;
    }
    assert!(renewed.is_some(), "renewed once in the renew window");
    assert_eq!(api(&format!("/api/v1/domains/{name}"))["auto_renew"], false);
    received.validate();
}

/// The same registration (with glue and DS), update and transfer over HTTP and over EPP leave
/// the same state, history, charges and poll messages.
#[test]
fn epp_and_http_leave_the_same_state() {
    let d = demo();
    let received = Arc::new(Received::default());
    let (a, b) = (&d.registrars[0], &d.registrars[1]);
    let agent = http_agent();
    let call = |key: &str, method: &str, path: &str, body: Option<&Value>| {
        http_call(&agent, method, &d.server.url(path), Some(key), body)
    };
    let s = &suffix()[..6];
    let (over_http, over_epp) = (format!("paridade-http-{s}.pt"), format!("paridade-epp-{s}.pt"));
    let balance = |key: &str| call(key, "GET", "/api/v1/account", None).1["balance"]["cents"].as_i64().unwrap();
    let (a0, b0) = (balance(&a.api_key), balance(&b.api_key));
    // Over HTTP.
    let body = serde_json::json!({"name": over_http, "period_years": 1, "registrant": a.contact, "admin": a.contact, "tech": a.contact,
        "nameservers": [{"name": format!("ns1.{over_http}"), "addresses": ["192.0.2.1"]}, {"name": "ns.example.net"}],
        "ds": [{"key_tag": 12345, "algorithm": 13, "digest_type": 2, "digest": "A".repeat(64)}]});
    let (st, v) = call(&a.api_key, "POST", "/api/v1/domains", Some(&body));
    assert_eq!(st, 201, "{v}");
    let (st, v) = call(
        &a.api_key,
        "PATCH",
        &format!("/api/v1/domains/{over_http}"),
        Some(&serde_json::json!({"add_status": ["clientDeleteProhibited"]})),
    );
    assert_eq!(st, 200, "{v}");
    let (_, v) = call(&a.api_key, "GET", &format!("/api/v1/domains/{over_http}"), None);
    let (auth, roid) = (v["auth_code"].as_str().unwrap().to_string(), v["roid"].as_str().unwrap().to_string());
    let (st, v) = call(
        &b.api_key,
        "POST",
        &format!("/api/v1/domains/{over_http}/transfer"),
        Some(&serde_json::json!({"auth_code": auth, "roid": roid})),
    );
    assert_eq!(st, 200, "{v}");
    // Over EPP.
    let mut ca = connect(&d, 0, &received);
    assert_eq!(code(&ca.login(a, &["urn:ietf:params:xml:ns:secDNS-1.1"])), 1000);
    let r = ca.command(&format!(
        "<create><domain:create xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{over_epp}</domain:name><domain:period unit=\"y\">1</domain:period><domain:ns><domain:hostAttr><domain:hostName>ns1.{over_epp}</domain:hostName><domain:hostAddr ip=\"v4\">192.0.2.1</domain:hostAddr></domain:hostAttr><domain:hostAttr><domain:hostName>ns.example.net</domain:hostName></domain:hostAttr></domain:ns><domain:registrant>{c}</domain:registrant><domain:contact type=\"admin\">{c}</domain:contact><domain:contact type=\"tech\">{c}</domain:contact><domain:authInfo><domain:pw/></domain:authInfo></domain:create></create><extension><secDNS:create xmlns:secDNS=\"urn:ietf:params:xml:ns:secDNS-1.1\"><secDNS:dsData><secDNS:keyTag>12345</secDNS:keyTag><secDNS:alg>13</secDNS:alg><secDNS:digestType>2</secDNS:digestType><secDNS:digest>{}</secDNS:digest></secDNS:dsData></secDNS:create></extension>",
        "a".repeat(64), c = a.contact
    ));
    assert_eq!(code(&r), 1000, "{r}");
    let r = ca.command(&format!("<update><domain:update xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{over_epp}</domain:name><domain:add><domain:status s=\"clientDeleteProhibited\"/></domain:add></domain:update></update>"));
    assert_eq!(code(&r), 1000, "{r}");
    let info = ca.command(&format!(
        "<info><domain:info xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{over_epp}</domain:name></domain:info></info>"
    ));
    let (auth, roid) = (field(&info, "domain:pw").unwrap(), field(&info, "domain:roid").unwrap());
    let mut cb = connect(&d, 1, &received);
    assert_eq!(code(&cb.login(b, &[])), 1000);
    let r = cb.command(&format!("<transfer op=\"request\"><domain:transfer xmlns:domain=\"{DOMAIN_NS}\"><domain:name>{over_epp}</domain:name><domain:authInfo><domain:pw roid=\"{roid}\">{auth}</domain:pw></domain:authInfo></domain:transfer></transfer>"));
    assert_eq!(code(&r), 1000, "{r}");
    // The same state (but for the names, ROIDs and auth codes).
    let strip = |name: &str| {
        let (_, mut v) = call(&b.api_key, "GET", &format!("/api/v1/domains/{name}"), None);
        // The contacts are the gaining registrar's copies, made at the transfer.
        assert_eq!(v["registrant"], v["admin"]);
        assert_eq!(v["registrant"], v["tech"]);
        let o = v.as_object_mut().unwrap();
        for k in [
            "registrant",
            "admin",
            "tech",
            "name",
            "unicode_name",
            "roid",
            "auth_code",
            "auth_code_valid_until",
            "created",
            "updated",
            "expires",
            "nameserver_check",
        ] {
            o.remove(k);
        }
        v.to_string().replace(name, "NAME")
    };
    assert_eq!(strip(&over_http), strip(&over_epp));
    // The same history (operations, actors, amounts), so the same charges; and the balances
    // moved by exactly those amounts.
    let history = |name: &str| {
        let (_, v) = call(&b.api_key, "GET", &format!("/api/v1/domains/{name}/history"), None);
        v["history"].as_array().unwrap().clone()
    };
    let lines = |h: &[Value]| {
        h.iter().map(|h| format!("{} {} {}", h["operation"], h["actor"], h["amount_cents"])).collect::<Vec<_>>()
    };
    let (hh, he) = (history(&over_http), history(&over_epp));
    assert_eq!(lines(&hh), lines(&he));
    let paid = |id: &str| -> i64 {
        hh.iter()
            .chain(&he)
            .filter(|h| h["actor"].as_str().is_some_and(|a| a.ends_with(id)))
            .map(|h| h["amount_cents"].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!(balance(&a.api_key) - a0, paid(&a.id), "A's balance moved by its charges: {hh:?}");
    assert_eq!(balance(&b.api_key) - b0, paid(&b.id), "B's balance moved by its charges");
    assert!(paid(&a.id) < 0 && paid(&b.id) < 0);
    // The same poll messages for the losing registrar (one transfer away each).
    let (_, v) = call(&a.api_key, "GET", "/api/v1/poll", None);
    let kinds: Vec<String> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["domain"] == over_http.as_str() || m["domain"] == over_epp.as_str())
        .map(|m| format!("{}", m["kind"]))
        .collect();
    assert_eq!(kinds.len(), 2, "{v}");
    assert_eq!(kinds[0], kinds[1]);
    received.validate();
}

/// The admin UI shows a registrar's pinned certificates and its live EPP sessions, and
/// `/metrics` counts responses by result code.
#[test]
fn epp_sessions_and_certificates_show_in_the_admin_ui_and_metrics() {
    let d = demo();
    let received = Arc::new(Received::default());
    let a = &d.registrars[0];
    let mut c = connect(&d, 0, &received);
    assert_eq!(code(&c.login(a, &[])), 1000);
    assert_eq!(code(&c.command("<poll op=\"req\"/>")) / 100, 13);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent();
    let mut login = agent.get(&d.server.url("/admin/login")).call().unwrap();
    let html = login.body_mut().read_to_string().unwrap();
    let i = html.find("name=\"token\" value=\"").unwrap() + "name=\"token\" value=\"".len();
    let token = html[i..].split('"').next().unwrap().to_string();
    let resp = agent
        .post(&d.server.url("/admin/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .send(format!("username=admin&password={}&token={token}", d.admin_password))
        .unwrap();
    let cookie =
        resp.headers().get("set-cookie").expect("signed in").to_str().unwrap().split(';').next().unwrap().to_string();
    let mut page =
        agent.get(&d.server.url(&format!("/admin/registrars/{}", a.id))).header("cookie", &cookie).call().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    let html = page.body_mut().read_to_string().unwrap();
    let pem = std::fs::read_to_string(&a.cert).unwrap();
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    let fp: String = {
        use sha2::Digest;
        sha2::Sha256::digest(der.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    };
    let certs = &html[html.find("id=\"epp-certificates\"").expect("certificates table")..];
    assert!(certs[..certs.find("</table>").unwrap()].contains(&fp), "the pinned certificate is listed: {certs}");
    let sessions = &html[html.find("id=\"epp-sessions\"").expect("sessions table")..];
    let sessions = &sessions[..sessions.find("</table>").unwrap()];
    assert!(sessions.contains("127.0.0.1:") && sessions.contains(&fp), "the live session is listed: {sessions}");
    let mut m = agent.get(&d.server.url("/metrics")).call().unwrap();
    let metrics = m.body_mut().read_to_string().unwrap();
    assert!(metrics.contains("nicbox_epp_responses_total{code=\"1000\"}"), "{metrics}");
    assert!(metrics.contains("nicbox_epp_sessions 1"), "{metrics}");
    // The writer's group commit: the demo's set-up alone is many commands in fewer commits.
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name}: {metrics}"))
    };
    let (commits, commands) = (counter("nicbox_writer_commits_total "), counter("nicbox_writer_commands_total "));
    assert!(commits > 0 && commands >= commits, "commits {commits}, commands {commands}");
    // After logout the session is gone from the page.
    assert_eq!(code(&c.command("<logout/>")), 1500);
    std::thread::sleep(Duration::from_millis(200));
    let mut page =
        agent.get(&d.server.url(&format!("/admin/registrars/{}", a.id))).header("cookie", &cookie).call().unwrap();
    let html = page.body_mut().read_to_string().unwrap();
    let sessions = &html[html.find("id=\"epp-sessions\"").unwrap()..];
    let sessions = &sessions[..sessions.find("</table>").unwrap()];
    assert!(!sessions.contains(&fp) && sessions.contains("colspan=\"4\""), "logged out: {sessions}");
    received.validate();
}

/// Sessions per registrar, time to log in, idle time and commands per second are bounded, and a
/// limit that bites says which.
#[test]
fn epp_bounds_sessions_login_time_idle_time_and_command_rate() {
    let d =
        demo_with(Some("sessions_per_registrar = 2\nlogin_timeout_secs = 1\nidle_secs = 2\ncommands_per_second = 5"));
    let received = Arc::new(Received::default());
    let a = &d.registrars[0];
    let (mut s1, mut s2, mut s3) = (connect(&d, 0, &received), connect(&d, 0, &received), connect(&d, 0, &received));
    assert_eq!(code(&s1.login(a, &[])), 1000);
    assert_eq!(code(&s2.login(a, &[])), 1000);
    let r = s3.login(a, &[]);
    assert_eq!(code(&r), 2502, "{r}");
    assert!(r.contains("at most 2 sessions"), "{r}");
    assert!(s3.recv().is_err(), "closed past the session limit");
    // Commands faster than the rate: refused with the limit named; the session goes on.
    let mut limited = 0;
    for _ in 0..20 {
        let r = s1.command("<poll op=\"req\"/>");
        if code(&r) == 2400 {
            assert!(r.contains("5 commands per second"), "{r}");
            limited += 1;
        }
    }
    assert!(limited >= 10, "{limited} of 20 refused at 5/s");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(code(&s1.command("<poll op=\"req\"/>")) / 100, 13, "usable again after a second");
    assert_eq!(code(&s1.command("<logout/>")), 1500);
    // A freed place can be taken.
    let mut s4 = connect(&d, 0, &received);
    assert_eq!(code(&s4.login(a, &[])), 1000);
    // Idle sessions end after idle_secs, with an answer saying why.
    std::thread::sleep(Duration::from_millis(2500));
    let r = s2.recv().unwrap();
    assert_eq!(code(&r), 2500, "{r}");
    assert!(s2.recv().is_err());
    // A connection that does not log in in time is closed.
    let mut slow = connect(&d, 1, &received);
    std::thread::sleep(Duration::from_millis(1500));
    let r = slow.recv().unwrap();
    assert_eq!(code(&r), 2500, "{r}");
    assert!(slow.recv().is_err());
    drop(s4);
    received.validate();
}
