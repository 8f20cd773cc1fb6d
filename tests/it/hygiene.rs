//! Input hygiene: what may not enter through any way in (the API, `nicbox import`), and what
//! `nicbox check` says of stored records that today's rules would refuse. Bidirectional
//! overrides and invisible characters in contact text, glue outside public address space, host
//! names whose last label is all digits.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use nicbox::http::tls::ClientAddr;
use nicbox::model::{Actor, Contact, ContactKind, Role, Timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{Env, T0, code, org_body, run, write_config};

async fn setup(extra: &str) -> (Env, String, String) {
    let env = Env::with(extra);
    let key = env.registrar("reg-a", 10_000_000).await;
    let h = env.org(&key).await;
    (env, key, h)
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

/// The characters that let a name display as something it is not.
const HIDDEN: &[(char, &str)] = &[
    ('\u{202e}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{202d}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{200b}', "ZERO WIDTH SPACE"),
    ('\u{200e}', "LEFT-TO-RIGHT MARK"),
    ('\u{2060}', "WORD JOINER"),
    ('\u{feff}', "ZERO WIDTH NO-BREAK SPACE"),
    ('\u{00ad}', "SOFT HYPHEN"),
    ('\u{2028}', "LINE SEPARATOR"),
    ('\u{e000}', "a private-use character"),
    ('\u{3164}', "HANGUL FILLER"),
    ('\u{200d}', "ZERO WIDTH JOINER between Latin letters"),
];

#[tokio::test]
async fn contact_text_with_hidden_characters_is_refused_on_create_and_update() {
    let (env, key, h) = setup("").await;
    for (c, label) in HIDDEN {
        let cp = format!("U+{:04X}", u32::from(*c));
        for field in ["name", "organization", "city"] {
            let value = format!("Exem{c}plo");
            let (s, v) =
                env.call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), json!({field: value})))).await;
            assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_contact"), "{label} in {field}: {v}");
            let detail = v["detail"].as_str().unwrap_or_default();
            assert!(detail.contains(&cp) && detail.contains(field), "{label} in {field}: {v}");
        }
        let street = json!({"street": ["Rua Augusta 1", format!("2.º{c}Esq.")]});
        let (s, v) = env.call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), street))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{label} in the street: {v}");
        let (s, v) = env
            .call("PATCH", &format!("/api/v1/contacts/{h}"), Some(&key), Some(json!({"name": format!("No{c}va")})))
            .await;
        assert_eq!((s, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_contact"), "{label} on update: {v}");
    }
    let (s, v) = env
        .call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), json!({"email": "a\u{200b}b@exemplo.pt"}))))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a hidden character in the email: {v}");
    // Nothing was created or changed.
    let (_, v) = env.call("GET", "/api/v1/contacts", Some(&key), None).await;
    assert_eq!(v["contacts"].as_array().unwrap().len(), 1, "{v}");
    let (_, v) = env.call("GET", &format!("/api/v1/contacts/{h}"), Some(&key), None).await;
    assert_eq!(v["name"], json!("Exemplo, Lda."), "{v}");
    // What scripts need stays: a Persian name with its ZWNJ, a Devanagari conjunct with a ZWJ.
    for name in ["شرکت می\u{200c}خواهم", "क्\u{200d}षत्रिय", "Ελληνική Εταιρεία", "株式会社"]
    {
        let (s, v) =
            env.call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), json!({"name": name})))).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {v}");
        assert_eq!(v["name"], json!(name));
    }
}

#[tokio::test]
async fn glue_outside_public_address_space_is_refused() {
    let (env, key, h) = setup("").await;
    for ip in [
        "10.1.2.3",
        "172.16.0.1",
        "172.31.9.9",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.0.5",
        "fc00::1",
        "fd12:3456::53",
        "fe80::1",
        "198.18.0.1",
        "240.0.0.1",
    ] {
        let ns = json!({"nameservers": [{"name": "ns1.privado.pt", "addresses": [ip]}, {"name": "ns.example.net"}]});
        let (s, v) = env.register(&key, "privado.pt", &h, ns).await;
        assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_request"), "{ip}: {v}");
        assert!(v["detail"].as_str().unwrap_or_default().contains("cannot reach"), "{ip}: {v}");
    }
    let (s, _) = env.call("GET", "/api/v1/domains/privado.pt", Some(&key), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a refused create leaves nothing");
    // The test configuration allows documentation ranges, as the demo does.
    let ns = json!({"nameservers": [{"name": "ns1.publico.pt", "addresses": ["192.0.2.1", "2001:db8::1"]}]});
    let (s, v) = env.register(&key, "publico.pt", &h, ns).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // An update is held to the same rule, and changes nothing when refused.
    let patch = json!({"nameservers": [{"name": "ns1.publico.pt", "addresses": ["10.0.0.53"]}]});
    let (s, v) = env.call("PATCH", "/api/v1/domains/publico.pt", Some(&key), Some(patch)).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_request"), "{v}");
    let (_, v) = env.call("GET", "/api/v1/domains/publico.pt", Some(&key), None).await;
    assert_eq!(v["nameservers"][0]["addresses"], json!(["192.0.2.1", "2001:db8::1"]), "{v}");
    // A public address is glue.
    let patch =
        json!({"nameservers": [{"name": "ns1.publico.pt", "addresses": ["193.136.192.1", "2001:690:a00::53"]}]});
    let (s, v) = env.call("PATCH", "/api/v1/domains/publico.pt", Some(&key), Some(patch)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn documentation_glue_only_where_the_policy_allows_it() {
    let (env, key, h) = setup("[tld.policy]\nglue_documentation = false\n").await;
    for ip in ["192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::53"] {
        let ns = json!({"nameservers": [{"name": "ns1.documentos.pt", "addresses": [ip]}]});
        let (s, v) = env.register(&key, "documentos.pt", &h, ns).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{ip}: {v}");
        assert!(v["detail"].as_str().unwrap_or_default().contains("documentation"), "{ip}: {v}");
    }
    let ns = json!({"nameservers": [{"name": "ns1.documentos.pt", "addresses": ["193.136.192.1"]}]});
    let (s, v) = env.register(&key, "documentos.pt", &h, ns).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn a_host_name_must_end_in_a_label_that_can_be_a_tld() {
    let (env, key, h) = setup("").await;
    for host in ["ns1.example.123", "192.0.2.1", "ns.exemplo.0"] {
        let (s, v) = env.register(&key, "numerico.pt", &h, json!({"nameservers": [{"name": host}]})).await;
        assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "invalid_request"), "{host}: {v}");
        assert!(v["detail"].as_str().unwrap_or_default().contains("all digits"), "{host}: {v}");
    }
    let (s, v) = env.register(&key, "numerico.pt", &h, json!({"nameservers": [{"name": "ns1.123.example.net"}]})).await;
    assert_eq!(s, StatusCode::CREATED, "digits elsewhere are fine: {v}");
}

fn import_line(kind: &str, mut body: Value, extra: Value) -> String {
    body["type"] = json!(kind);
    body["registrar"] = json!("ptreg");
    with(body, extra).to_string()
}

fn imported_domain(name: &str, extra: Value) -> String {
    let base = json!({"name": name, "period_years": 1, "registrant": "ORG-1", "admin": "ORG-1", "tech": "ORG-1",
                      "nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}],
                      "created": "2019-05-01T10:00:00Z", "expires": "2027-05-01T10:00:00Z"});
    import_line("domain", base, extra)
}

fn init(config: &std::path::Path) {
    let c = config.to_str().unwrap();
    let (status, out, err) = run(&["init", "--config", c]);
    assert_eq!(status, 0, "init: {out} {err}");
    let (status, out, err) = run(&["registrar", "add", "--config", c, "--id", "ptreg", "--name", "Registos, Lda."]);
    assert_eq!(status, 0, "registrar add: {out} {err}");
}

#[test]
fn import_applies_the_same_rules() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let c = config.to_str().unwrap();
    init(&config);
    let lines = [
        import_line("contact", org_body(), json!({"handle": "ORG-1"})),
        import_line("contact", org_body(), json!({"handle": "BIDI-1", "name": "Exemplo\u{202e}adL ,"})),
        import_line("contact", org_body(), json!({"handle": "ZWSP-1", "street": ["Rua\u{200b}Augusta"]})),
        imported_domain("bom.pt", json!({})),
        imported_domain(
            "privado.pt",
            json!({"nameservers": [{"name": "ns1.privado.pt", "addresses": ["10.1.2.3"]}, {"name": "ns2.example.net"}]}),
        ),
        imported_domain(
            "partilhado.pt",
            json!({"nameservers": [{"name": "ns1.partilhado.pt", "addresses": ["100.64.1.1"]}]}),
        ),
        imported_domain("numerico.pt", json!({"nameservers": [{"name": "ns1.example.123"}]})),
        imported_domain("codigo.pt", json!({"auth_code": "abc\u{202e}def"})),
    ];
    let file = dir.path().join("import.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (status, out, err) = run(&["import", "--config", c, file.to_str().unwrap()]);
    assert_eq!(status, 1, "refused lines make the exit code 1: {out} {err}");
    assert!(out.contains("imported 1 contacts and 1 domains"), "{out}");
    for (line, want) in [
        (2, "U+202E"),
        (3, "U+200B"),
        (5, "private address space (10.0.0.0/8)"),
        (6, "shared address space (100.64.0.0/10)"),
        (7, "all digits"),
        (8, "U+202E"),
    ] {
        let l = out
            .lines()
            .find(|l| l.starts_with(&format!("line {line}: refused")))
            .unwrap_or_else(|| panic!("line {line}: {out}"));
        assert!(l.contains(want), "line {line} should say {want}: {l}");
    }
}

/// Records that entered before a rule (here: documentation glue a lab allowed, and contact text
/// written straight into the store as an older version would have taken it) are reported by
/// `nicbox check`, one line each, and left as they are.
#[test]
fn check_reports_stored_records_that_the_rules_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let c = config.to_str().unwrap();
    init(&config);
    let lines = [
        import_line("contact", org_body(), json!({"handle": "ORG-1"})),
        imported_domain(
            "laboratorio.pt",
            json!({"nameservers": [{"name": "ns1.laboratorio.pt", "addresses": ["192.0.2.7"]}]}),
        ),
    ];
    let file = dir.path().join("import.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (status, out, err) = run(&["import", "--config", c, file.to_str().unwrap()]);
    assert_eq!(status, 0, "{out} {err}");
    let (status, out, err) = run(&["check", "--config", c]);
    assert_eq!(status, 0, "{out} {err}");
    assert!(out.contains("records: ok"), "a clean database is reported clean: {out}");

    // A contact the API would refuse, written as an older version would have stored it.
    {
        let settings = nicbox::config::load(&config).unwrap();
        let store = nicbox::store::Store::open(&settings.db_path()).unwrap();
        let mut tx = store.write().unwrap();
        tx.put_contact(&Contact {
            handle: "OLD-1".into(),
            registrar: "ptreg".into(),
            kind: ContactKind::Person,
            name: "Maria\u{202e}Silva".into(),
            organization: None,
            street: vec!["Rua\u{200b}Nova 1".into()],
            city: "Lisboa".into(),
            postal_code: "1100-048".into(),
            country_code: "PT".into(),
            email: "maria@exemplo.pt".into(),
            phone: None,
            fiscal_id: None,
            created: Timestamp(T0),
            updated: Timestamp(T0),
        })
        .unwrap();
        tx.commit().unwrap();
    }
    // The lab's policy now refuses documentation glue.
    let text =
        std::fs::read_to_string(&config).unwrap().replace("glue_documentation = true", "glue_documentation = false");
    std::fs::write(&config, text).unwrap();
    let db = nicbox::config::load(&config).unwrap().db_path();
    let before = std::fs::read(&db).unwrap();
    let (status, out, err) = run(&["check", "--config", c]);
    assert_eq!(status, 0, "findings are notes, the database is sound: {out} {err}");
    for want in [
        "records: note: contact OLD-1: name contains U+202E",
        "records: note: contact OLD-1: street contains U+200B",
        "records: note: domain laboratorio.pt: 192.0.2.7 cannot be a nameserver address",
        "records: 3 stored values",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "check changes nothing");
}

/// Characters a generated contact name is made of: letters of several scripts, spaces, and
/// every kind of character that hides or disguises text.
fn name_char() -> impl Strategy<Value = char> {
    prop::sample::select(vec![
        'a',
        'Z',
        'é',
        'ç',
        ' ',
        '-',
        'ب',
        'ی',
        'م',
        'क',
        '्',
        'ष',
        'Ω',
        '北',
        '\u{202e}',
        '\u{202a}',
        '\u{2066}',
        '\u{200b}',
        '\u{200c}',
        '\u{200d}',
        '\u{200e}',
        '\u{feff}',
        '\u{00ad}',
        '\u{2028}',
        '\u{2029}',
        '\u{e000}',
        '\u{fffe}',
        '\u{3164}',
        '\u{fe0f}',
        '\u{0007}',
        '\u{0085}',
        '\u{1f600}',
        '\u{0301}',
    ])
}

/// Whether `text` shows a character that hides or disguises text: a control other than the line
/// breaks and tab of the format itself, or a format, separator, private-use or unassigned one
/// from the pool above. A joiner counts unless it sits between two letters of Arabic or
/// Devanagari, the scripts of the pool that need one.
fn shows_hidden(text: &str) -> Option<char> {
    let chars: Vec<char> = text.chars().collect();
    // The script of a character that may be joined (Arabic, Devanagari): a joiner is kept only
    // between two characters of the same one.
    let needs_joiner = |c: char| match c {
        '\u{0600}'..='\u{06ff}' => Some(1),
        '\u{0900}'..='\u{097f}' => Some(2),
        _ => None,
    };
    chars.iter().enumerate().find_map(|(i, &c)| {
        let bad = match c {
            '\n' | '\r' | '\t' => false,
            '\u{200c}' | '\u{200d}' => {
                let before = if i > 0 { needs_joiner(chars[i - 1]) } else { None };
                !(before.is_some() && chars.get(i + 1).and_then(|&n| needs_joiner(n)) == before)
            }
            c if c.is_control() => true,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}' | '\u{200e}' | '\u{feff}' | '\u{00ad}' => {
                true
            }
            '\u{2028}' | '\u{2029}' | '\u{e000}' | '\u{fffe}' | '\u{3164}' | '\u{fe0f}' => true,
            _ => false,
        };
        bad.then_some(c)
    })
}

async fn admin_cookie(env: &Env) -> String {
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
    resp.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string()
}

async fn page(env: &Env, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder().uri(path);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = env.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any contact the API accepts renders in WHOIS, RDAP and the admin page without a control or
    /// format character; any contact refused is refused for such a character.
    #[test]
    fn accepted_contacts_render_without_hidden_characters(chars in prop::collection::vec(name_char(), 1..12)) {
        let name: String = std::iter::once('N').chain(chars).collect();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (env, key, _) = setup("").await;
            let (s, v) = env.call("POST", "/api/v1/contacts", Some(&key), Some(with(org_body(), json!({"name": name, "organization": name})))).await;
            if s != StatusCode::CREATED {
                prop_assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{:?}: {}", name, v);
                prop_assert!(shows_hidden(name.trim()).is_some(), "{:?} refused without a hidden character: {}", name, v);
                return Ok(());
            }
            let stored = v["name"].as_str().unwrap().to_string();
            prop_assert_eq!(shows_hidden(&stored), None, "{:?} accepted as {:?}", name, stored);
            let h = v["handle"].as_str().unwrap().to_string();
            let (s, v) = env.register(&key, "visivel.pt", &h, json!({"nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]})).await;
            prop_assert_eq!(s, StatusCode::CREATED, "{}", v);
            let record = nicbox::directory::disclose(&env.registry, "visivel.pt").unwrap().expect("public record");
            let whois = nicbox::whois::render::record(&record, "nicbox");
            let (_, rdap) = page(&env, "/rdap/domain/visivel.pt", None).await;
            let cookie = admin_cookie(&env).await;
            let (status, admin) = page(&env, "/admin/domains/visivel.pt", Some(&cookie)).await;
            prop_assert_eq!(status, StatusCode::OK);
            for (front, text) in [("WHOIS", &whois), ("RDAP", &rdap), ("admin", &admin)] {
                prop_assert!(text.contains(stored.as_str()) || front == "admin" && text.contains(&askama_escape(&stored)), "{} does not show {:?}", front, stored);
                prop_assert_eq!(shows_hidden(text), None, "{} shows a hidden character for {:?}", front, name);
            }
            Ok(())
        })?;
    }
}

/// The HTML escaping of the characters a generated name can hold.
fn askama_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('\'', "&#39;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
