//! `nicbox demo`: a working .pt registry with realistic sample data, created on the first run
//! and reused afterwards.
//!
//! Every sample object goes through the same registry calls the API uses, so the demo data obeys
//! every rule (valid NIFs, the IDN repertoire, glue, fiscal ids).

use std::net::SocketAddr;
use std::path::Path;

use serde_json::json;
use tokio::task::JoinSet;

use crate::config;
use crate::model::{Actor, ContactKind, Role};
use crate::registry::{ContactInput, DomainCreate, DsInput, NameserverInput, NewRegistrar, Registry};
use crate::run::{Failure, init_tracing};
use crate::store::Store;

/// Domains the demo seeds.
pub const DEMO_DOMAINS: usize = 2_000;

const RESERVED: &str = include_str!("../ops/pt-reserved.txt");
const BLOCKED: &str = include_str!("../ops/pt-blocked.txt");

fn config_text(http: &str, whois: &str, dns: &str, epp: &str, tsig_secret: &str) -> String {
    format!(
        r#"# nicbox demo registry (written by `nicbox demo`; edit freely, see ops/nicbox.example.toml)
data_dir = "."
clock = "lab"

[registry]
name = "nicbox demo (.pt lab)"
currency = "EUR"

[http]
listen = "{http}"

[whois]
listen = "{whois}"
rate_per_minute = 60
burst = 20
allow = []

[[tld]]
name = "pt"
profile = "pt"
reserved = "reserved.txt"
blocked = "blocked.txt"

[tld.prices]
create = 1500
create_premium = 15000
renew = 1500
transfer = 500
restore = 3000

# The demo's nameservers are fictitious: checked and reported, delegated all the same. Their
# glue is in the documentation ranges (192.0.2.0/24, 2001:db8::/32), which only a lab allows.
[tld.policy]
delegation_check = "warn"
glue_documentation = true

[tld.zone]
primary = "a.nic.pt"
mailbox = "hostmaster.nic.pt"
nameservers = [
  {{ name = "a.nic.pt", addresses = ["192.0.2.53", "2001:db8::53"] }},
  {{ name = "b.nic.pt", addresses = ["198.51.100.53"] }},
]

# Zones are published into zones/ at start and every 15 minutes when something changed.
[zone]
dir = "zones"
interval_minutes = 15

[zone.check]
# Where nameservers without glue would be resolved: none in the demo, so that it sends
# nothing to the network (its glue is in documentation ranges, which are never queried).
resolver = "none"

# nicbox is the zones' hidden primary: secondaries transfer them from here (AXFR, IXFR) with
# the TSIG key below. Add a [[dns.secondary]] for each to have it notified of publications.
[dns]
listen = "{dns}"

[[dns.tsig]]
name = "nicbox-demo-xfr"
algorithm = "hmac-sha256"
secret = "{tsig_secret}"

# EPP over TLS. The demo made a test CA in epp/, a server certificate for localhost and
# 127.0.0.1, and a client certificate per registrar (pinned for it; see demo-credentials.json).
[epp]
listen = "{epp}"
tls_cert = "epp/server.pem"
tls_key = "epp/server-key.pem"
"#
    )
}

/// The demo's TSIG key name.
pub const DEMO_TSIG_KEY: &str = "nicbox-demo-xfr";

/// The demo's listeners and relay as given on the command line (`None`: the configuration's).
#[derive(Default)]
pub struct Listen<'a> {
    pub http: Option<&'a str>,
    pub whois: Option<&'a str>,
    pub dns: Option<&'a str>,
    pub epp: Option<&'a str>,
    /// `host:port` of an SMTP server for the contact form (no TLS, no authentication).
    pub smtp: Option<&'a str>,
}

/// The sender of the demo's contact-form messages.
pub const DEMO_MAIL_FROM: &str = "nao-responder@nicbox-demo.example";

/// A registered domain the greeting names (a registrar's own, made by every demo).
pub const DEMO_SAMPLE_DOMAIN: &str = "ptisp.pt";

/// Runs the demo: creates `dir` on the first run, then serves, with a greeting on stdout.
pub fn run(dir: &Path, listen: &Listen) -> Result<(), Failure> {
    let check_addr = |flag: &str, v: Option<&str>| -> Result<(), Failure> {
        match v {
            Some(a) if a.parse::<SocketAddr>().is_err() => {
                Err(Failure::Usage(format!("--{flag}: `{a}` is not an address:port")))
            }
            _ => Ok(()),
        }
    };
    check_addr("http", listen.http)?;
    check_addr("whois", listen.whois)?;
    check_addr("dns", listen.dns)?;
    check_addr("epp", listen.epp)?;
    let smtp = match listen.smtp {
        Some(a) => match a.rsplit_once(':').map(|(h, p)| (h.trim_matches(['[', ']']), p.parse::<u16>())) {
            Some((host, Ok(port))) if !host.is_empty() => Some((host.to_string(), port)),
            _ => return Err(Failure::Usage(format!("--smtp: `{a}` is not host:port"))),
        },
        None => None,
    };
    let config_path = dir.join("nicbox.toml");
    init_tracing("info", false);
    if !config_path.exists() {
        create(
            dir,
            listen.http.unwrap_or("127.0.0.1:8080"),
            listen.whois.unwrap_or("127.0.0.1:4343"),
            listen.dns.unwrap_or("127.0.0.1:5353"),
            listen.epp.unwrap_or("127.0.0.1:7700"),
        )?;
    }
    let mut settings = config::load(&config_path).map_err(|e| Failure::Usage(e.to_string()))?;
    // Links (WHOIS's contact form, RDAP) follow the listener actually bound unless the
    // configuration names a public URL of its own.
    let scheme = if settings.http.tls.is_some() { "https" } else { "http" };
    let url_follows_listener = settings.public_url == format!("{scheme}://{}", settings.http.listen);
    if let Some(a) = listen.http.and_then(|a| a.parse().ok()) {
        settings.http.listen = a;
    }
    if let Some(a) = listen.whois.and_then(|a| a.parse().ok()) {
        settings.whois.listen = a;
    }
    if let (Some(a), Some(d)) = (listen.dns.and_then(|a| a.parse().ok()), settings.dns.as_mut()) {
        d.listen = a;
    }
    if let (Some(a), Some(e)) = (listen.epp.and_then(|a| a.parse().ok()), settings.epp.as_mut()) {
        e.listen = a;
    }
    if let Some((host, port)) = smtp {
        settings.smtp = Some(config::SmtpSettings {
            host,
            port,
            from: DEMO_MAIL_FROM.into(),
            tls: config::SmtpTls::None,
            username: None,
            password: None,
        });
    }
    let creds_path = dir.join("demo-credentials.json");
    let creds: serde_json::Value =
        std::fs::read_to_string(&creds_path).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()).display().to_string();
    let creds_path = absolute(&creds_path);
    crate::run::serve_with(
        settings,
        |bound, s| {
            if url_follows_listener {
                s.public_url = format!("{scheme}://{}", crate::greeting::reachable(bound.http_addr));
            }
        },
        |bound, s| {
            let facts = crate::greeting::Facts {
                http: format!("{scheme}://{}", crate::greeting::reachable(bound.http_addr)),
                whois: bound.whois_addr,
                epp: bound.epp.as_ref().map(|(_, _, a)| *a),
                dns: bound.dns.as_ref().map(|(_, _, a)| *a),
                domain: DEMO_SAMPLE_DOMAIN.into(),
                creds,
                creds_path,
                zone_files: crate::zone::publish::zones_of(s)
                    .iter()
                    .map(|(z, _, _)| absolute(&s.zone.dir.join(format!("{z}.zone"))))
                    .collect(),
                smtp: s.smtp.as_ref().map(|m| format!("{}:{}", m.host, m.port)),
            };
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(crate::greeting::render(crate::greeting::Lang::from_env(), &facts).as_bytes());
            let _ = out.flush();
        },
    )
}

/// Writes a PEM file; private keys readable by the owner only.
fn write_pem(path: &Path, text: &str, private: bool) -> Result<(), Failure> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    Ok(())
}

/// The demo's test PKI in `dir/epp`, and for each registrar of `creds` a client certificate
/// (pinned) and an EPP password, added to its entry in the credentials.
async fn epp_credentials(
    registry: &Registry,
    dir: &Path,
    epp: &str,
    creds: &mut serde_json::Value,
) -> Result<(), Failure> {
    use crate::epp::certs;
    let pki_dir = dir.join("epp");
    std::fs::create_dir_all(&pki_dir)?;
    let (pki, ca) = certs::test_pki().map_err(Failure::Failed)?;
    let abs = |name: &str| -> String {
        let p = pki_dir.join(name);
        std::path::absolute(&p).unwrap_or(p).display().to_string()
    };
    write_pem(&pki_dir.join("ca.pem"), &pki.ca_cert_pem, false)?;
    write_pem(&pki_dir.join("server.pem"), &pki.server_cert_pem, false)?;
    write_pem(&pki_dir.join("server-key.pem"), &pki.server_key_pem, true)?;
    creds["epp"] = json!({"addr": epp, "ca_cert": abs("ca.pem"), "server_cert": abs("server.pem"),
                          "server_key": abs("server-key.pem")});
    let actor = Actor::System("demo".into());
    if let Some(list) = creds["registrars"].as_array_mut() {
        for r in list {
            let id = r["id"].as_str().unwrap_or_default().to_string();
            let client = certs::client_cert(&ca, &id).map_err(Failure::Failed)?;
            write_pem(&pki_dir.join(format!("{id}.pem")), &client.cert_pem, false)?;
            write_pem(&pki_dir.join(format!("{id}-key.pem")), &client.key_pem, true)?;
            registry.epp_pin(&id, client.fingerprint, actor.clone()).await?;
            let password = registry.epp_set_password(&id, None, actor.clone()).await?;
            r["epp_password"] = json!(password);
            r["client_cert"] = json!(abs(&format!("{id}.pem")));
            r["client_key"] = json!(abs(&format!("{id}-key.pem")));
        }
    }
    Ok(())
}

fn create(dir: &Path, http: &str, whois: &str, dns: &str, epp: &str) -> Result<(), Failure> {
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD.encode(crate::registry::random_bytes::<32>());
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("reserved.txt"), RESERVED)?;
    std::fs::write(dir.join("blocked.txt"), BLOCKED)?;
    let config_path = dir.join("nicbox.toml");
    // The configuration parsed without [epp] while its certificates do not exist yet.
    let mut settings =
        config::parse(&config_text(http, whois, dns, epp, &secret), dir).map_err(|e| Failure::Failed(e.to_string()))?;
    settings.epp = None;
    Store::create(&settings.db_path())?;
    let registry = Registry::open(settings)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let started = std::time::Instant::now();
    let mut creds = rt.block_on(seed(&registry, http, whois))?;
    rt.block_on(epp_credentials(&registry, dir, epp, &mut creds))?;
    creds["dns"] = serde_json::json!({
        "addr": dns,
        "tsig": {"name": DEMO_TSIG_KEY, "algorithm": "hmac-sha256", "secret": secret},
    });
    registry.close();
    let creds_path = dir.join("demo-credentials.json");
    std::fs::write(&creds_path, serde_json::to_string_pretty(&creds)? + "\n")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds_path, std::fs::Permissions::from_mode(0o600))?;
    }
    // The configuration is written last: a demo interrupted while seeding starts over.
    std::fs::write(&config_path, config_text(http, whois, dns, epp, &secret))?;
    tracing::info!("demo registry created in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// A small deterministic generator (xorshift64*), so every demo has the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Sample data shared with the scale dataset (examples/dataset.rs).
pub const FIRST: &[&str] = &[
    "João",
    "Maria",
    "José",
    "Ana",
    "António",
    "Inês",
    "Francisco",
    "Beatriz",
    "Luís",
    "Leonor",
    "Gonçalo",
    "Mariana",
    "Tomás",
    "Matilde",
    "Rodrigo",
    "Carolina",
    "Sebastião",
    "Constança",
    "Simão",
    "Lúcia",
    "Amílcar",
    "Graça",
    "Conceição",
    "Fátima",
    "Nuno",
    "Sérgio",
    "Vítor",
    "Helena",
    "Joaquim",
    "Teresa",
];
/// Sample data shared with the scale dataset (examples/dataset.rs).
pub const LAST: &[&str] = &[
    "Silva",
    "Santos",
    "Ferreira",
    "Pereira",
    "Oliveira",
    "Costa",
    "Rodrigues",
    "Martins",
    "Jesus",
    "Sousa",
    "Fernandes",
    "Gonçalves",
    "Gomes",
    "Lopes",
    "Marques",
    "Alves",
    "Almeida",
    "Ribeiro",
    "Pinto",
    "Carvalho",
    "Teixeira",
    "Moreira",
    "Correia",
    "Mendes",
    "Nunes",
    "Soares",
    "Vieira",
    "Monteiro",
    "Cardoso",
    "Brandão",
    "Simões",
    "Conceição",
    "Magalhães",
];
const BUSINESS: &[&str] = &[
    "padaria",
    "pastelaria",
    "café",
    "livraria",
    "oficina",
    "talho",
    "farmácia",
    "clínica",
    "escola",
    "hotel",
    "quinta",
    "vinhos",
    "azeite",
    "cortiça",
    "turismo",
    "surf",
    "restaurante",
    "tasca",
    "mercearia",
    "florista",
    "ótica",
    "sapataria",
    "barbearia",
    "imobiliária",
    "construções",
    "transportes",
    "contabilidade",
    "advogados",
    "design",
    "fotografia",
    "música",
    "cerâmica",
    "azulejos",
    "conservas",
    "pão",
    "limões",
    "maçã",
    "sabão",
    "coração",
];
const PLACE: &[&str] = &[
    "alfama",
    "belém",
    "ribeira",
    "baixa",
    "chiado",
    "estrela",
    "graça",
    "alvalade",
    "benfica",
    "campanhã",
    "foz",
    "matosinhos",
    "sintra",
    "cascais",
    "óbidos",
    "tomar",
    "nazaré",
    "peniche",
    "lagos",
    "tavira",
    "olhão",
    "sagres",
    "guimarães",
    "barcelos",
    "chaves",
    "lamego",
    "mértola",
    "marvão",
    "monsaraz",
    "ericeira",
    "alcobaça",
    "fátima",
];
const CITY: &[(&str, &str)] = &[
    ("Lisboa", "1100-048"),
    ("Porto", "4000-322"),
    ("Coimbra", "3000-214"),
    ("Braga", "4700-435"),
    ("Évora", "7000-651"),
    ("Faro", "8000-138"),
    ("Setúbal", "2900-467"),
    ("Aveiro", "3810-193"),
    ("Guimarães", "4810-225"),
    ("Funchal", "9000-064"),
    ("Ponta Delgada", "9500-150"),
    ("Viseu", "3500-080"),
];
/// Sample data shared with the scale dataset (examples/dataset.rs).
pub const STREET: &[&str] = &[
    "Rua Augusta",
    "Avenida da Liberdade",
    "Rua de Santa Catarina",
    "Rua Direita",
    "Largo do Chiado",
    "Rua da Prata",
    "Avenida dos Aliados",
    "Rua do Comércio",
    "Praça da República",
    "Rua 25 de Abril",
    "Travessa do Açúcar",
    "Rua Dr. António José de Almeida",
    "Calçada da Estrela",
    "Rua São João",
    "Avenida João XXI",
];

/// A valid Portuguese NIF with the given first digit (1-2 persons, 5 companies).
fn nif(rng: &mut Rng, first: u32) -> String {
    let mut digits = vec![first];
    for _ in 0..7 {
        digits.push((rng.next() % 10) as u32);
    }
    digits.push(crate::policy::nif_check_digit(&digits));
    digits.iter().map(|d| char::from_digit(*d, 10).unwrap_or('0')).collect()
}

fn slug(s: &str) -> String {
    s.to_lowercase().replace(' ', "-")
}

fn contact_input(rng: &mut Rng, kind: ContactKind, name: String) -> ContactInput {
    let (city, postal) = CITY[rng.below(CITY.len())];
    let email_local = slug(&name).chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>();
    ContactInput {
        handle: None,
        kind,
        organization: (kind == ContactKind::Organization).then(|| name.clone()),
        street: vec![format!("{} {}", rng.pick(STREET), 1 + rng.below(250))],
        city: city.into(),
        postal_code: postal.into(),
        country_code: "PT".into(),
        email: format!("{}@exemplo-mail.pt", if email_local.is_empty() { "geral".into() } else { email_local }),
        phone: Some(format!("+351.{}{:08}", if kind == ContactKind::Person { 9 } else { 2 }, rng.next() % 100_000_000)),
        fiscal_id: Some({
            let first = if kind == ContactKind::Person { 1 + (rng.next() % 2) as u32 } else { 5 };
            nif(rng, first)
        }),
        name,
    }
}

async fn seed(registry: &Registry, http: &str, whois: &str) -> Result<serde_json::Value, Failure> {
    let system = Actor::System("demo".into());
    let mut registrars = Vec::new();
    for (id, name) in [("ptisp", "PTisp Registos, Lda."), ("amen-pt", "Amen Portugal, S.A.")] {
        let (r, key) = registry
            .registrar_add(
                NewRegistrar {
                    id: id.into(),
                    name: name.into(),
                    email: format!("registos@{id}.example"),
                    balance_cents: 10_000_000,
                },
                system.clone(),
            )
            .await?;
        registrars.push((r.id, r.name, key.0));
    }
    let (_, admin_password) = registry.user_add("admin", Role::Admin, system.clone()).await?;

    let mut rng = Rng(0x6E69_6362_6F78_2026);
    // Each registrar's technical contact (an organization, used as admin and tech of many names).
    let mut tech = Vec::new();
    for (id, name, _) in &registrars {
        let c = registry.contact_create(id, contact_input(&mut rng, ContactKind::Organization, name.clone())).await?;
        tech.push(c.handle);
    }
    // The hosting providers' own domains, with the glue of the nameservers many demo domains
    // use: every nameserver inside .pt then has an address in the zone.
    for (i, (id, _, _)) in registrars.iter().enumerate() {
        let name = if id == "ptisp" { "ptisp.pt" } else { "amen.pt" };
        let req = DomainCreate {
            name: name.into(),
            period_years: 5,
            registrant: tech[i].clone(),
            admin: tech[i].clone(),
            tech: Some(tech[i].clone()),
            billing: None,
            nameservers: vec![
                NameserverInput {
                    name: format!("ns1.{name}"),
                    addresses: vec![format!("192.0.2.{}", 10 + i), format!("2001:db8:53::{}", 10 + i)],
                },
                NameserverInput { name: format!("ns2.{name}"), addresses: vec![format!("198.51.100.{}", 10 + i)] },
            ],
            ds: vec![],
            auto_renew: true,
            registration_basis: None,
            legitimacy: None,
            owner_visible: Some(true),
        };
        registry.domain_create(id, req).await?;
    }

    // Registrations spread over the last 90 days (registry time is moved back and forward
    // again), so that dates and the dashboard's chart look like a living registry.
    const SPREAD_DAYS: i64 = 90;
    registry.clock().advance(-SPREAD_DAYS * 86_400);
    let mut moved_days = 0i64;
    let mut spawned = 0usize;
    let mut seen = std::collections::HashSet::new();
    let mut jobs: JoinSet<Result<bool, crate::registry::RegistryError>> = JoinSet::new();
    let mut made = 0usize;
    let mut attempts = 0usize;
    while made + jobs.len() < DEMO_DOMAINS && attempts < DEMO_DOMAINS * 10 {
        attempts += 1;
        let which = rng.below(registrars.len());
        let person = rng.chance(55);
        let label = match rng.below(4) {
            0 => format!("{}-{}", rng.pick(BUSINESS), rng.pick(PLACE)),
            1 => format!("{}{}", slug(rng.pick(LAST)), slug(rng.pick(LAST))),
            2 => format!("{}-{}", slug(rng.pick(FIRST)), slug(rng.pick(LAST))),
            _ => format!("{}{}", rng.pick(BUSINESS), 1 + rng.below(99)),
        };
        let zone = if rng.chance(80) { "pt" } else { "com.pt" };
        let name = format!("{label}.{zone}");
        if !seen.insert(name.clone())
            || registry.policy().parse(&name).and_then(|n| registry.policy().check_new(&n)).is_err()
        {
            continue;
        }
        let holder = if person {
            format!("{} {} {}", rng.pick(FIRST), rng.pick(LAST), rng.pick(LAST))
        } else {
            let kind = ["Lda.", "S.A.", "Unipessoal, Lda."][rng.below(3)];
            let business = rng.pick(BUSINESS);
            let mut chars = business.chars();
            let capital: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
            format!("{capital} {}, {kind}", rng.pick(LAST))
        };
        let registrant =
            contact_input(&mut rng, if person { ContactKind::Person } else { ContactKind::Organization }, holder);
        let ascii = match registry.policy().parse(&name) {
            Ok(n) => n.ascii,
            Err(_) => continue,
        };
        let nameservers = match rng.below(10) {
            0 => vec![],
            1..=2 => vec![
                NameserverInput {
                    name: format!("ns1.{ascii}"),
                    addresses: vec![
                        format!("192.0.2.{}", 1 + rng.below(250)),
                        format!("2001:db8::{:x}", 1 + rng.below(65000)),
                    ],
                },
                NameserverInput {
                    name: format!("ns2.{ascii}"),
                    addresses: vec![format!("198.51.100.{}", 1 + rng.below(250))],
                },
            ],
            _ => {
                let host = ["amen.pt", "ptisp.pt", "amen.pt", "cloudflare.com", "dnsmadeeasy.com"][rng.below(5)];
                vec![
                    NameserverInput { name: format!("ns1.{host}"), addresses: vec![] },
                    NameserverInput { name: format!("ns2.{host}"), addresses: vec![] },
                ]
            }
        };
        let ds = if rng.chance(15) {
            let digest: String = (0..4).map(|_| format!("{:016X}", rng.next())).collect();
            vec![DsInput { key_tag: (rng.next() % 65_535) as u16, algorithm: 13, digest_type: 2, digest }]
        } else {
            vec![]
        };
        let period = [1, 1, 1, 3, 5][rng.below(5)];
        // A few organizations ask not to be shown in the directory.
        let owner_visible = if !person && rng.chance(5) { Some(false) } else { None };
        spawned += 1;
        if spawned.is_multiple_of(DEMO_DOMAINS / SPREAD_DAYS as usize) && moved_days < SPREAD_DAYS {
            registry.clock().advance(86_400);
            moved_days += 1;
        }
        let auto_renew = rng.chance(70);
        let (reg_id, tech_handle) = (registrars[which].0.clone(), tech[which].clone());
        let r = registry.clone();
        jobs.spawn(async move {
            let c = r.contact_create(&reg_id, registrant).await?;
            let req = DomainCreate {
                name,
                period_years: period,
                registrant: c.handle.clone(),
                admin: if c.kind == ContactKind::Organization { c.handle.clone() } else { tech_handle.clone() },
                tech: Some(tech_handle),
                billing: None,
                nameservers,
                ds,
                auto_renew,
                registration_basis: None,
                legitimacy: None,
                owner_visible,
            };
            r.domain_create(&reg_id, req).await.map(|_| true)
        });
        while jobs.len() >= 64 {
            if let Some(res) = jobs.join_next().await {
                made += usize::from(matches!(res, Ok(Ok(true))));
                if let Ok(Err(e)) = res {
                    tracing::warn!(error = %e, "demo registration refused");
                }
            }
        }
    }
    while let Some(res) = jobs.join_next().await {
        made += usize::from(matches!(res, Ok(Ok(true))));
    }
    registry.clock().advance((SPREAD_DAYS - moved_days) * 86_400);
    // A few registrations from 13 months ago without auto-renew: the lifecycle job finds them
    // expired and moves them to pendingDelete; a few more deleted by their registrar.
    let (reg_id, tech_handle) = (registrars[0].0.clone(), tech[0].clone());
    registry.clock().advance(-400 * 86_400);
    let mut old_names = Vec::new();
    for i in 0..12 {
        let name = format!("{}-antiga{i}.pt", rng.pick(BUSINESS));
        let c = registry
            .contact_create(&reg_id, contact_input(&mut rng, ContactKind::Organization, format!("Antiga {i}, Lda.")))
            .await?;
        let req = DomainCreate {
            name: name.clone(),
            period_years: 1,
            registrant: c.handle.clone(),
            admin: c.handle.clone(),
            tech: Some(tech_handle.clone()),
            billing: None,
            nameservers: vec![
                NameserverInput { name: "ns1.ptisp.pt".into(), addresses: vec![] },
                NameserverInput { name: "ns2.ptisp.pt".into(), addresses: vec![] },
            ],
            ds: vec![],
            auto_renew: false,
            registration_basis: None,
            legitimacy: None,
            owner_visible: None,
        };
        if registry.domain_create(&reg_id, req).await.is_ok() {
            old_names.push(name);
        }
    }
    registry.clock().advance(400 * 86_400);
    let report = registry.run_lifecycle().await?;
    for d in registry.domain_list(&reg_id, None, 8)? {
        if !d.has(crate::model::Status::PendingDelete) {
            let _ = registry.domain_delete(&reg_id, &d.name).await;
        }
    }
    tracing::info!(domains = made + old_names.len(), expired = report.expired, "demo data seeded");
    Ok(json!({
        "http": format!("http://{http}"),
        "whois": whois,
        "admin": {"username": "admin", "password": admin_password},
        "zones_dir": std::path::absolute(&registry.settings().zone.dir).unwrap_or_else(|_| registry.settings().zone.dir.clone()).display().to_string(),
        // `contact`: the registrar's own organization contact (with a NIF), usable at once as
        // the registrant, admin or tech of a .pt domain.
        "registrars": registrars.iter().zip(&tech).map(|((id, name, key), contact)| json!({"id": id, "name": name, "api_key": key, "contact": contact})).collect::<Vec<_>>(),
    }))
}
