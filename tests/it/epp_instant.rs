//! instant-epp 0.5 (the async Rust EPP client of Instant Domains, as registrars' Rust systems
//! use it) against the demo's EPP server over TLS with the demo's client certificates: a
//! registrar's round of domain and contact commands as two registrars A and B, and the login
//! refusals. Every response's result code and echoed clTRID are checked.
//!
//! What instant-epp 0.5 cannot say by itself is written here as commands of our own (its
//! `Command`/`Transaction` traits over instant-xml types, as the library intends):
//! - the transfer request with the domain's ROID (`<domain:pw roid="D..-PT">`, which the .pt
//!   rules ask for): instant-epp's `DomainAuthInfo` has no `roid` attribute;
//! - a poll that reads any of nicbox's poll data: instant-epp's `PollData` knows `domain:trnData`
//!   and `domain:infData` but not `domain:panData`, and a response it cannot read gives no
//!   message id to acknowledge (used to empty the queue of the demo's earlier messages; the
//!   transfer message itself is read with instant-epp's own `Poll`);
//! - a domain info that reads the answer's extensions: sent without a request extension,
//!   instant-epp reads the answer's `<extension>` as `NoExtension` and fails on any (such as the
//!   `secDNS:infData` of a signed domain, or `rgp:infData`), so the sponsor's infos go with the
//!   .pt extension's `<ptdomain:info>` (2014-2018 form) and read every extension element.
//!
//! The contact info is instant-epp's own: the server must answer it without extensions the
//! login did not announce (ptcontact-1.0 is not announced here).
//!
//! Two things of the .pt policy shape the round: a renewal is accepted only in the 60 days
//! before expiry, so the demo's lab clock is moved forward (admin API) before the renew; and an
//! auth code is valid 30 days, so A asks for a new one (registrar API; EPP has no command for
//! it: auth codes are registry-issued) and reads it back over EPP before B's transfer.

use crate::epp::Registrar;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use instant_epp::client::RequestData;
use instant_epp::common::NoExtension;
use instant_epp::connection::Connector;
use instant_epp::contact::{Address, ContactCreate, ContactDelete, ContactInfo, InfoType, PostalInfo, Voice};
use instant_epp::domain::transfer::TransferData;
use instant_epp::domain::update::{DomainAdd, DomainRemove};
use instant_epp::domain::{
    DomainCheck, DomainContact, DomainCreate, DomainDelete, DomainInfo, DomainRenew, DomainUpdate, HostAttr, HostInfo,
    ONE_YEAR, Status,
};
use instant_epp::extensions::rgp::request::{RgpRestoreRequest, Update};
use instant_epp::extensions::secdns::{self, Algorithm, DigestAlgorithm, DsDataType};
use instant_epp::login::Login;
use instant_epp::logout::Logout;
use instant_epp::poll::{Ack, Poll, PollData};
use instant_epp::request::{Command, Extension, Transaction};
use instant_epp::response::{Response, ResponseStatus, ResultCode};
use instant_epp::{EppClient, Error};
use instant_xml::{AnyElement, FromXml, ToXml};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

use crate::common;

const EPP_NS: &str = "urn:ietf:params:xml:ns:epp-1.0";
const DOMAIN_NS: &str = "urn:ietf:params:xml:ns:domain-1.0";
const SECDNS_NS: &str = "urn:ietf:params:xml:ns:secDNS-1.1";
const RGP_NS: &str = "urn:ietf:params:xml:ns:rgp-1.0";
const PTDOMAIN_NS: &str = "http://eppdev.dns.pt/schemas/ptdomain-1.0";

// --- the demo and its credentials ------------------------------------------------------------

struct Lab {
    server: common::Server,
    ca: PathBuf,
    admin_password: String,
    registrars: Vec<Registrar>,
    _dir: tempfile::TempDir,
}

fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let server = common::start_demo(&data, dir.path());
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    let s = |v: &Value| v.as_str().unwrap_or_else(|| panic!("a string in the credentials: {v}")).to_string();
    let registrars = crate::epp::registrars_of(&creds);
    assert!(registrars.len() >= 2, "the demo has two registrars at least");
    Lab {
        server,
        ca: s(&creds["epp"]["ca_cert"]).into(),
        admin_password: s(&creds["admin"]["password"]),
        registrars,
        _dir: dir,
    }
}

impl Lab {
    /// Moves the demo's lab clock forward (the lifecycle job runs at once).
    fn advance_days(&self, days: u32) {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{}", self.admin_password));
        let url = self.server.url("/admin/api/clock/advance");
        tokio::task::block_in_place(|| {
            let resp = common::http_agent()
                .post(&url)
                .header("authorization", &format!("Basic {basic}"))
                .header("content-type", "application/json")
                .send(json!({ "days": days }).to_string())
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "clock advance");
        });
    }

    /// A new auth code for `name` through the registrar API of `r`.
    fn new_auth_code(&self, r: &Registrar, name: &str) -> String {
        let url = self.server.url(&format!("/api/v1/domains/{name}/auth-code"));
        let (status, v) = tokio::task::block_in_place(|| {
            common::http_call(&common::http_agent(), "POST", &url, Some(&r.api_key), Some(&json!({})))
        });
        assert_eq!(status, 200, "new auth code: {v}");
        v["auth_code"].as_str().unwrap().to_string()
    }
}

/// The rustls client configuration: the demo's CA, and `r`'s certificate and key.
fn tls_config(ca: &Path, r: &Registrar) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&r.cert).unwrap().collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_file(&r.key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    Arc::new(config)
}

/// instant-epp's transport: TCP to the demo's address, TLS for the name "localhost" (the
/// server certificate's SAN). instant-epp's own `RustlsConnector` would resolve "localhost"
/// itself and take the first address; this one connects to the listener's address as given.
struct Tls {
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
}

impl Connector for Tls {
    type Connection = TlsStream<TcpStream>;

    // The method `#[async_trait]` makes of `async fn connect(&self, timeout: Duration)`.
    fn connect<'a, 'f>(
        &'a self,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<Self::Connection, Error>> + Send + 'f>>
    where
        'a: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let handshake = async {
                let tcp = TcpStream::connect(self.addr).await?;
                let name = ServerName::try_from("localhost").expect("a DNS name");
                TlsConnector::from(self.config.clone()).connect(name, tcp).await
            };
            match tokio::time::timeout(timeout, handshake).await {
                Ok(r) => r.map_err(Error::Io),
                Err(_) => Err(Error::Timeout),
            }
        })
    }
}

// --- commands instant-epp 0.5 has no type for ---------------------------------------------------

/// `<transfer op="request">` with the ROID on the auth code: `<domain:pw roid="D1-PT">code`.
#[derive(Debug, ToXml)]
#[xml(rename = "transfer", ns(EPP_NS))]
struct TransferWithRoid<'a> {
    #[xml(attribute)]
    op: &'a str,
    domain: TransferObject<'a>,
}

#[derive(Debug, ToXml)]
#[xml(rename = "transfer", ns(DOMAIN_NS))]
struct TransferObject<'a> {
    name: &'a str,
    #[xml(rename = "authInfo")]
    auth_info: RoidAuthInfo<'a>,
}

#[derive(Debug, ToXml)]
#[xml(rename = "authInfo", ns(DOMAIN_NS))]
struct RoidAuthInfo<'a> {
    pw: RoidPw<'a>,
}

#[derive(Debug, ToXml)]
#[xml(rename = "pw", ns(DOMAIN_NS))]
struct RoidPw<'a> {
    #[xml(attribute)]
    roid: &'a str,
    #[xml(direct)]
    code: &'a str,
}

impl<'a> TransferWithRoid<'a> {
    fn request(name: &'a str, code: &'a str, roid: &'a str) -> Self {
        TransferWithRoid {
            op: "request",
            domain: TransferObject { name, auth_info: RoidAuthInfo { pw: RoidPw { roid, code } } },
        }
    }
}

impl Transaction<NoExtension> for TransferWithRoid<'_> {}

impl Command for TransferWithRoid<'_> {
    type Response = TransferData;
    const COMMAND: &'static str = "transfer";
}

/// `<poll op="req">` (instant-epp's own request) whose `resData` may be any of nicbox's.
#[derive(Debug)]
struct PollAny;

impl ToXml for PollAny {
    fn serialize<W: std::fmt::Write + ?Sized>(
        &self,
        field: Option<instant_xml::Id<'_>>,
        serializer: &mut instant_xml::Serializer<'_, W>,
    ) -> Result<(), instant_xml::Error> {
        Poll.serialize(field, serializer)
    }
}

impl Transaction<NoExtension> for PollAny {}

impl Command for PollAny {
    type Response = AnyPollData;
    const COMMAND: &'static str = "poll";
}

#[derive(Debug, FromXml)]
#[xml(forward)]
enum AnyPollData {
    Transfer(TransferData),
    Pending(PanData),
    Info(instant_epp::domain::InfoData),
}

/// RFC 5731's `domain:panData` (the name is all this test reads).
#[derive(Debug, FromXml)]
#[xml(rename = "panData", ns(DOMAIN_NS))]
struct PanData {
    name: PanName,
}

#[derive(Debug, FromXml)]
#[xml(rename = "name", ns(DOMAIN_NS))]
struct PanName {
    #[xml(attribute, rename = "paResult")]
    result: String,
    #[xml(direct)]
    value: String,
}

/// The .pt extension's `<ptdomain:info>` (2014-2018 form: the ROID empty, the name says it),
/// sent with a domain info so that instant-epp reads the answer's extensions at all: with no
/// request extension it reads them as `NoExtension`, and fails on any `<extension>` (such as
/// the `secDNS:infData` of a signed domain, or `rgp:infData`).
#[derive(Debug, ToXml)]
#[xml(rename = "info", ns(PTDOMAIN_NS))]
struct PtInfo {
    roid: &'static str,
}

impl<'a> Transaction<PtInfo> for DomainInfo<'a> {}

impl Extension for PtInfo {
    type Response = Vec<AnyExt>;
}

/// Any element of a response's `<extension>`, whatever its namespace.
#[derive(Debug)]
struct AnyExt(AnyElement<'static>);

impl<'xml> FromXml<'xml> for AnyExt {
    fn matches(_: instant_xml::Id<'_>, _: Option<instant_xml::Id<'_>>) -> bool {
        true
    }

    fn deserialize<'cx>(
        into: &mut Self::Accumulator,
        field: &'static str,
        deserializer: &mut instant_xml::Deserializer<'cx, 'xml>,
    ) -> Result<(), instant_xml::Error> {
        let mut element: Option<AnyElement<'xml>> = None;
        <AnyElement<'xml> as FromXml<'xml>>::deserialize(&mut element, field, deserializer)?;
        *into = element.map(|e| AnyExt(e.into_owned()));
        Ok(())
    }

    type Accumulator = Option<Self>;
    const KIND: instant_xml::Kind = instant_xml::Kind::Element;
}

/// The extension element `ns`:`name` of a response, if there.
fn ext_element<'r>(ext: Option<&'r Vec<AnyExt>>, ns: &str, name: &str) -> Option<&'r AnyElement<'static>> {
    ext?.iter().map(|e| &e.0).find(|e| e.ns == ns && e.name == name)
}

/// The text of the child `name` of `e`.
fn child_text<'e>(e: &'e AnyElement<'static>, name: &str) -> Option<&'e str> {
    e.children.iter().find(|c| c.name == name).and_then(|c| c.text.as_deref())
}

// --- one EPP session through instant-epp ---------------------------------------------------------

struct Epp {
    client: EppClient<Tls>,
    who: String,
    n: u32,
}

impl Epp {
    /// A connection presenting `cert`'s certificate; the greeting read and checked.
    async fn connect(lab: &Lab, cert: &Registrar, who: &str) -> Epp {
        let tls = Tls { addr: lab.server.epp(), config: tls_config(&lab.ca, cert) };
        let client = EppClient::new(tls, format!("nicbox-{who}"), Duration::from_secs(30)).await.expect("connect");
        let greeting = client.greeting().expect("instant-epp reads the greeting");
        let menu = &greeting.svc_menu;
        assert_eq!(menu.version, "1.0");
        assert!(menu.services.obj_uris.iter().any(|u| u == DOMAIN_NS), "{menu:?}");
        let ext = menu.services.svc_ext.as_ref().expect("svcExtension");
        for uri in [SECDNS_NS, RGP_NS] {
            assert!(ext.ext_uris.iter().any(|u| u == uri), "{uri} announced: {menu:?}");
        }
        Epp { client, who: who.to_string(), n: 0 }
    }

    /// A connection presenting `r`'s certificate, logged in as `r`.
    async fn login(lab: &Lab, r: &Registrar, who: &str) -> Epp {
        let mut epp = Epp::connect(lab, r, who).await;
        // instant-epp announces host-1.0, contact-1.0 and domain-1.0 (host objects are not
        // offered here: the login must succeed anyway); the extensions: secDNS, RGP and the
        // .pt domain extension (for PtInfo), not the .pt contact extension.
        let login = Login::new(&r.id, &r.password, None, Some(&[SECDNS_NS, RGP_NS, PTDOMAIN_NS]));
        epp.ok(&login, ResultCode::CommandCompletedSuccessfully).await;
        epp
    }

    fn trid(&mut self) -> String {
        self.n += 1;
        format!("instant-{}-{:03}", self.who, self.n)
    }

    /// Sends a command; the response or instant-epp's error (a command error's clTRID checked).
    async fn run<'c, 'e, C, E>(
        &mut self,
        data: impl Into<RequestData<'c, 'e, C, E>>,
    ) -> Result<Response<C::Response, E::Response>, Error>
    where
        C: Transaction<E> + Command + 'c,
        E: Extension + 'e,
    {
        let id = self.trid();
        let r = self.client.transact(data, &id).await;
        match &r {
            Ok(resp) => assert_eq!(resp.tr_ids.client_tr_id.as_deref(), Some(id.as_str()), "clTRID echoed"),
            Err(Error::Command(s)) => {
                assert_eq!(s.tr_ids.client_tr_id.as_deref(), Some(id.as_str()), "clTRID echoed: {s:?}")
            }
            Err(_) => {}
        }
        r
    }

    /// A command that must succeed with `code`.
    async fn ok<'c, 'e, C, E>(
        &mut self,
        data: impl Into<RequestData<'c, 'e, C, E>>,
        code: ResultCode,
    ) -> Response<C::Response, E::Response>
    where
        C: Transaction<E> + Command + 'c,
        E: Extension + 'e,
    {
        match self.run(data).await {
            Ok(r) => {
                assert_eq!(r.result.code, code, "{} of {}: {:?}", C::COMMAND, self.who, r.result);
                r
            }
            Err(e) => panic!("{} of {} ({}): {e:?}", C::COMMAND, self.who, self.n),
        }
    }

    /// A command that must fail with `code`.
    async fn fails<'c, 'e, C, E>(
        &mut self,
        data: impl Into<RequestData<'c, 'e, C, E>>,
        code: ResultCode,
    ) -> Box<ResponseStatus>
    where
        C: Transaction<E> + Command + 'c,
        E: Extension + 'e,
    {
        match self.run(data).await {
            Err(Error::Command(s)) => {
                assert_eq!(s.result.code, code, "{} of {}: {:?}", C::COMMAND, self.who, s.result);
                s
            }
            other => panic!("{} of {}: expected {code:?}, got {other:?}", C::COMMAND, self.who),
        }
    }

    /// A domain info (no auth info) that reads the answer's extensions too.
    async fn info(&mut self, name: &str) -> (instant_epp::domain::InfoData, Vec<AnyExt>) {
        let r = self
            .ok((&DomainInfo::new(name, None), &PtInfo { roid: "" }), ResultCode::CommandCompletedSuccessfully)
            .await;
        let ext = r.extension.map(|e| e.data).unwrap_or_default();
        (r.res_data.expect("domain:infData").into_inner(), ext)
    }

    /// Reads and acknowledges every message queued (at most `max`): what each was about.
    async fn drain(&mut self, max: usize) -> Vec<String> {
        let mut seen = Vec::new();
        while seen.len() < max {
            let r = self.run(&PollAny).await.unwrap_or_else(|e| panic!("poll of {}: {e:?}", self.who));
            if r.result.code == ResultCode::CommandCompletedSuccessfullyNoMessages {
                return seen;
            }
            assert_eq!(r.result.code, ResultCode::CommandCompletedSuccessfullyAckToDequeue, "{:?}", r.result);
            let q = r.message_queue().expect("msgQ with a message");
            assert!(q.count >= 1 && q.message.is_some() && q.date.is_some(), "{q:?}");
            let id = q.id.clone();
            seen.push(match r.res_data() {
                Some(AnyPollData::Transfer(t)) => format!("trnData {} {}", t.name, t.transfer_status),
                Some(AnyPollData::Pending(p)) => format!("panData {} paResult={}", p.name.value, p.name.result),
                Some(AnyPollData::Info(i)) => format!("infData {}", i.name),
                None => format!("text {:?}", q.message.as_ref().map(|m| &m.text)),
            });
            self.ok(&Ack { message_id: &id }, ResultCode::CommandCompletedSuccessfully).await;
            // Below the server's 200 commands per second per session.
            tokio::time::sleep(Duration::from_millis(12)).await;
        }
        panic!("more than {max} poll messages for {}", self.who);
    }

    /// Reads and acknowledges (with `PollAny`) the messages ahead of the transfer message of
    /// `name`, and leaves that one at the head of the queue. The demo's background jobs (the
    /// nameserver checks, the lifecycle job of the moved clock) may queue messages for this
    /// registrar at any moment, so the transfer message need not be the first.
    async fn skip_to_transfer(&mut self, name: &str, max: usize) -> Vec<String> {
        let mut skipped = Vec::new();
        while skipped.len() < max {
            let r = self.run(&PollAny).await.unwrap_or_else(|e| panic!("poll of {}: {e:?}", self.who));
            assert_eq!(
                r.result.code,
                ResultCode::CommandCompletedSuccessfullyAckToDequeue,
                "{} polls for the transfer of {name}: {:?} (skipped {skipped:?})",
                self.who,
                r.result
            );
            let id = r.message_queue().expect("msgQ with a message").id.clone();
            match r.res_data() {
                Some(AnyPollData::Transfer(t)) if t.name == name => return skipped,
                other => skipped.push(format!("{other:?}")),
            }
            self.ok(&Ack { message_id: &id }, ResultCode::CommandCompletedSuccessfully).await;
            tokio::time::sleep(Duration::from_millis(12)).await;
        }
        panic!("no transfer message for {name} in {max} messages of {}", self.who);
    }

    async fn logout(mut self) {
        self.ok(&Logout, ResultCode::CommandCompletedSuccessfullyEndingSession).await;
        let _ = self.client.shutdown().await;
    }
}

fn suffix() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}", t.as_micros() % 1_000_000_000)
}

/// `2027-05-01T10:00:00+00:00` with the year plus `years`.
fn plus_years(rfc3339: &str, years: i32) -> String {
    let year: i32 = rfc3339[..4].parse().unwrap();
    format!("{}{}", year + years, &rfc3339[4..])
}

// --- the tests -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_epp_scenario() {
    // instant-epp logs a response it cannot read (at error level, with the XML): shown on
    // failure. RUST_LOG=instant_epp=debug shows every frame.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("instant_epp=error"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    let lab = lab();
    let (ra, rb) = (&lab.registrars[0], &lab.registrars[1]);
    let s = suffix();
    let name = format!("instant-{s}.pt");
    let ns1 = format!("ns1.instant-{s}.pt");
    let contact_id = format!("IA{s}");
    assert!((3..=16).contains(&contact_id.len()));
    // Deviations of the server from the standards, checked as they come and reported together
    // at the end, so that one does not hide the steps after it.
    let mut deviations: Vec<String> = Vec::new();

    // A logs in; the demo's earlier messages are read and acknowledged (see drain).
    let mut a = Epp::login(&lab, ra, "A").await;
    let earlier = a.drain(2000).await;
    eprintln!("A had {} messages queued: {:?}", earlier.len(), earlier.iter().take(3).collect::<Vec<_>>());

    // Check: available.
    let r = a.ok(&DomainCheck { domains: &[&name] }, ResultCode::CommandCompletedSuccessfully).await;
    let chk = &r.res_data().expect("chkData").list;
    assert_eq!(chk.len(), 1);
    assert_eq!(chk[0].name.value, name);
    assert!(chk[0].name.available, "{name} available: {chk:?}");

    // Contact create and info.
    let addr = Address::new(&["Rua Augusta 1"], "Lisboa", None, Some("1100-048"), "PT".parse().unwrap());
    let postal = PostalInfo::new(InfoType::International, "Ana Instantânea", None, addr);
    let create = ContactCreate::new(&contact_id, "ana@exemplo-mail.pt", postal, Some(Voice::new("+351.213456789")), "");
    let r = a.ok(&create, ResultCode::CommandCompletedSuccessfully).await;
    assert_eq!(r.res_data().expect("creData").id, contact_id);
    match a.run(&ContactInfo::new(&contact_id, "")).await {
        Ok(r) => {
            assert_eq!(r.result.code, ResultCode::CommandCompletedSuccessfully, "{:?}", r.result);
            let c = r.res_data().expect("contact infData");
            assert_eq!(c.id, contact_id);
            assert_eq!(c.postal_info.info_type, InfoType::International);
            assert_eq!(c.postal_info.name, "Ana Instantânea");
            assert_eq!(c.postal_info.address.street, ["Rua Augusta 1"]);
            assert_eq!(c.postal_info.address.city, "Lisboa");
            assert_eq!(c.postal_info.address.postal_code.as_deref(), Some("1100-048"));
            assert_eq!(c.postal_info.address.country.alpha2, "PT");
            assert_eq!(c.voice.as_ref().map(|v| v.number.as_ref()), Some("+351.213456789"));
            assert_eq!(c.email, "ana@exemplo-mail.pt");
            assert_eq!(c.client_id, ra.id);
            assert!(c.statuses.contains(&instant_epp::contact::Status::Ok), "{:?}", c.statuses);
        }
        Err(Error::Xml(e)) => deviations.push(format!(
            "contact info {contact_id}: the answer carries <extension><ptcontact:infData> though the login \
             announced no ptcontact-1.0 (RFC 5730 2.9.1.1: only the services of the login; RFC 9038): \
             instant-epp cannot read it ({e})"
        )),
        Err(e) => panic!("contact info: {e:?}"),
    }

    // Domain create: A's contact (with a NIF), two nameservers as host attributes (glue for
    // the one inside the domain), a DS record (secDNS-1.1 on create).
    let v4: IpAddr = "192.0.2.1".parse().unwrap();
    let v6: IpAddr = "2001:db8::1".parse().unwrap();
    let hosts = [
        HostInfo::Attr(HostAttr { name: ns1.as_str().into(), addresses: Some(vec![v4, v6]) }),
        HostInfo::Attr(HostAttr { name: "ns.example.net".into(), addresses: None }),
    ];
    let contacts = [
        DomainContact { contact_type: "admin".into(), id: ra.contact.as_str().into() },
        DomainContact { contact_type: "tech".into(), id: ra.contact.as_str().into() },
    ];
    let create = DomainCreate::new(&name, ONE_YEAR, Some(&hosts), Some(&ra.contact), "", Some(&contacts));
    let digest = "E2D3C916F6DEEAC73294E8268FB5885044A833FC5459588F4A9184CFC41A5766";
    let ds = [DsDataType::new(12345, Algorithm::EcdsaP256Sha256, DigestAlgorithm::Sha256, digest, None)];
    let sec = secdns::CreateData::from(&ds[..]);
    let r = a.ok((&create, &sec), ResultCode::CommandCompletedSuccessfully).await;
    let cre = r.res_data().expect("creData");
    assert_eq!(cre.name, name);
    let created_ex = cre.expiring_at.expect("exDate");
    assert_eq!(plus_years(&cre.created_at.to_rfc3339(), 1)[..10], created_ex.to_rfc3339()[..10]);

    // Domain info (the sponsor): nameservers, ROID, auth code, contacts, the DS record.
    let (info, ext) = a.info(&name).await;
    assert_eq!(info.name, name);
    assert!(info.roid.starts_with('D') && info.roid.ends_with("-PT"), "ROID {}", info.roid);
    let roid = info.roid.clone();
    assert_eq!(info.client_id, ra.id);
    assert_eq!(info.registrant.as_deref(), Some(ra.contact.as_str()));
    let mut roles: Vec<(String, String)> =
        info.contacts.iter().flatten().map(|c| (c.contact_type.to_string(), c.id.to_string())).collect();
    roles.sort();
    assert_eq!(roles, [("admin".to_string(), ra.contact.clone()), ("tech".to_string(), ra.contact.clone())]);
    let mut ns: Vec<(String, Vec<IpAddr>)> = info
        .ns
        .as_ref()
        .expect("domain:ns")
        .ns
        .iter()
        .map(|h| match h {
            HostInfo::Attr(a) => (a.name.to_string(), a.addresses.clone().unwrap_or_default()),
            HostInfo::Obj(o) => panic!("a hostObj in the info: {o:?}"),
        })
        .collect();
    ns.sort();
    assert_eq!(ns, vec![("ns.example.net".to_string(), vec![]), (ns1.clone(), vec![v4, v6])]);
    let code_a = info.auth_info.as_ref().expect("authInfo for the sponsor").password.to_string();
    assert!(!code_a.is_empty());
    let ex = info.expiring_at.expect("exDate");
    assert_eq!(ex, created_ex);
    let sec_inf = ext_element(Some(&ext), SECDNS_NS, "infData").expect("secDNS:infData");
    let ds_inf = sec_inf.children.iter().find(|c| c.name == "dsData").expect("secDNS:dsData");
    assert_eq!(child_text(ds_inf, "keyTag"), Some("12345"));
    assert_eq!(child_text(ds_inf, "alg"), Some("13"));
    assert_eq!(child_text(ds_inf, "digestType"), Some("2"));
    assert!(child_text(ds_inf, "digest").is_some_and(|d| d.eq_ignore_ascii_case(digest)), "{ds_inf:?}");

    // Update: add clientTransferProhibited, then remove it.
    let statuses = [Status::ClientTransferProhibited];
    let mut up = DomainUpdate::new(&name);
    up.add(DomainAdd { ns: None, contacts: None, statuses: Some(&statuses) });
    a.ok(&up, ResultCode::CommandCompletedSuccessfully).await;
    let st = a.info(&name).await.0.statuses.unwrap_or_default();
    assert!(st.contains(&Status::ClientTransferProhibited), "{st:?}");
    let mut up = DomainUpdate::new(&name);
    up.remove(DomainRemove { ns: None, contacts: None, statuses: Some(&statuses) });
    a.ok(&up, ResultCode::CommandCompletedSuccessfully).await;
    let st = a.info(&name).await.0.statuses.unwrap_or_default();
    assert!(!st.contains(&Status::ClientTransferProhibited), "{st:?}");

    // Renew 1 year with curExpDate from the info: refused before the renew window (60 days
    // before expiry), accepted in it; exDate one year later.
    let renew = DomainRenew::new(&name, ex.date_naive(), ONE_YEAR);
    a.fails(&renew, ResultCode::ObjectIsNotEligibleForRenewal).await;
    lab.advance_days(320);
    let r = a.ok(&renew, ResultCode::CommandCompletedSuccessfully).await;
    let ren = r.res_data().expect("renData");
    assert_eq!(ren.name, name);
    let new_ex = ren.expiring_at.expect("exDate");
    assert_eq!(new_ex.to_rfc3339(), plus_years(&ex.to_rfc3339(), 1));
    assert_eq!(a.info(&name).await.0.expiring_at, Some(new_ex));
    // The lifecycle job of those 320 days may have queued messages: read and acknowledged.
    let aged = a.drain(2000).await;
    eprintln!("A had {} messages after the clock moved: {:?}", aged.len(), aged.iter().take(3).collect::<Vec<_>>());

    // The auth code of the create is older than its 30 days now: a new one (registrar API),
    // read back over EPP.
    let code = lab.new_auth_code(ra, &name);
    assert_ne!(code, code_a);
    let info = a.info(&name).await.0;
    assert_eq!(info.auth_info.as_ref().map(|p| p.password.to_string()), Some(code.clone()));

    // B logs in; info without auth info: no auth code (instant-epp's own DomainInfo).
    let mut b = Epp::login(&lab, rb, "B").await;
    let r = b.ok(&DomainInfo::new(&name, None), ResultCode::CommandCompletedSuccessfully).await;
    let info = r.res_data().expect("infData");
    assert_eq!(info.name, name);
    assert_eq!(info.roid, roid);
    assert_eq!(info.client_id, ra.id);
    assert!(info.auth_info.is_none(), "no auth code for another registrar: {info:?}");

    // B's transfer with A's auth code and the ROID: approved at once.
    let r = b.ok(&TransferWithRoid::request(&name, &code, &roid), ResultCode::CommandCompletedSuccessfully).await;
    let trn = r.res_data().expect("trnData");
    assert_eq!(trn.name, name);
    assert_eq!(trn.transfer_status, "serverApproved");
    assert_eq!(trn.requester_id, rb.id);
    assert_eq!(trn.ack_id, ra.id);
    assert_eq!(trn.expiring_at, Some(new_ex), "a transfer adds no years here");
    let info = b.info(&name).await.0;
    assert_eq!(info.client_id, rb.id);
    assert!(info.auth_info.as_ref().is_some_and(|p| p.password != code), "a new auth code after the transfer");

    // A polls (instant-epp's own Poll): the transfer away, as domain:trnData; ack. Messages
    // the demo's background jobs queued since the drain are read first (see skip_to_transfer).
    let skipped = a.skip_to_transfer(&name, 2000).await;
    eprintln!(
        "A had {} messages ahead of the transfer: {:?}",
        skipped.len(),
        skipped.iter().take(3).collect::<Vec<_>>()
    );
    let r = a.ok(&Poll, ResultCode::CommandCompletedSuccessfullyAckToDequeue).await;
    let q = r.message_queue().expect("msgQ");
    assert!(q.count >= 1 && q.date.is_some(), "{q:?}");
    assert!(q.message.as_ref().is_some_and(|m| !m.text.is_empty()), "{q:?}");
    let msg_id = q.id.clone();
    match r.res_data() {
        Some(PollData::DomainTransfer(t)) => {
            assert_eq!(t.name, name);
            assert_eq!(t.transfer_status, "serverApproved");
            assert_eq!(t.requester_id, rb.id);
            assert_eq!(t.ack_id, ra.id);
            assert_eq!(t.expiring_at, Some(new_ex));
        }
        other => panic!("a domain:trnData poll message for {name}, got {other:?}"),
    }
    let r = a.ok(&Ack { message_id: &msg_id }, ResultCode::CommandCompletedSuccessfully).await;
    let q = r.message_queue().expect("msgQ in the ack answer");
    assert_eq!(q.id, msg_id);
    // Acknowledged means gone: no second transfer message for the domain behind it.
    let after = a.drain(2000).await;
    assert!(!after.iter().any(|m| m.starts_with(&format!("trnData {name} "))), "{after:?}");

    // B deletes the domain (redemption period), then restores it with RGP.
    b.ok(&DomainDelete::new(&name), ResultCode::CommandCompletedSuccessfully).await;
    let (info, ext) = b.info(&name).await;
    let st = info.statuses.unwrap_or_default();
    assert!(st.contains(&Status::PendingDelete), "{st:?}");
    let rgp = ext_element(Some(&ext), RGP_NS, "infData").expect("rgp:infData in the redemption period");
    let rgp_status: Vec<&str> = rgp
        .children
        .iter()
        .filter(|c| c.name == "rgpStatus")
        .flat_map(|c| c.attributes.iter().filter(|a| a.name == "s").map(|a| a.value.as_ref()))
        .collect();
    assert_eq!(rgp_status, ["redemptionPeriod"]);
    let restore = Update { data: RgpRestoreRequest::default() };
    b.ok((&DomainUpdate::new(&name), &restore), ResultCode::CommandCompletedSuccessfully).await;
    let (info, ext) = b.info(&name).await;
    let st = info.statuses.unwrap_or_default();
    assert!(!st.contains(&Status::PendingDelete), "restored: {st:?}");
    assert!(ext_element(Some(&ext), RGP_NS, "infData").is_none(), "no grace period after the restore");
    assert_eq!(info.client_id, rb.id);

    // A's new contact is linked to nothing: deleted; then gone.
    a.ok(&ContactDelete::new(&contact_id), ResultCode::CommandCompletedSuccessfully).await;
    a.fails(&ContactInfo::new(&contact_id, ""), ResultCode::ObjectDoesNotExist).await;

    a.logout().await;
    b.logout().await;
    assert!(deviations.is_empty(), "the server deviated from EPP:\n{}", deviations.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_epp_refuses_a_wrong_password_and_unpinned_certificate() {
    let lab = lab();
    let (ra, rb) = (&lab.registrars[0], &lab.registrars[1]);

    // A wrong password: 2200, the session stays open; the right one then works.
    let mut a = Epp::connect(&lab, ra, "A").await;
    let wrong = "wrong-pass-123";
    assert_ne!(wrong, ra.password);
    let s = a.fails(&Login::new(&ra.id, wrong, None, None), ResultCode::AuthenticationError).await;
    assert!(!s.result.message.is_empty());
    a.ok(&Login::new(&ra.id, &ra.password, None, None), ResultCode::CommandCompletedSuccessfully).await;
    a.logout().await;

    // B's certificate, A's id and password: 2501, and the server closes the session.
    let mut c = Epp::connect(&lab, rb, "BasA").await;
    c.fails(&Login::new(&ra.id, &ra.password, None, None), ResultCode::AuthenticationErrorServerClosingConnection)
        .await;
    match c.run(&Login::new(&ra.id, &ra.password, None, None)).await {
        Err(Error::Io(_)) => {}
        other => panic!("the session is closed after 2501, got {other:?}"),
    }
}
