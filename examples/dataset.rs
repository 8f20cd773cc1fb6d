//! A synthetic .pt registry for `nicbox import`, at any size (issue 15): JSON lines of contacts,
//! then domains, as CONTRACT.md section 1 describes them.
//!
//! ```sh
//! cargo run --release --example dataset -- --domains 2000000 --out pt-2m.jsonl
//! ```
//!
//! What it holds, deterministic for a given `--seed`:
//! - registrars `reg01`..`reg08` (`--registrars`), with shares like a real ccTLD's: the first
//!   holds half the domains (a registrar with a million at 2,000,000), the last 2%;
//! - contacts: persons (about 80%, a NIF starting with 1, 2 or 3) and organizations (a NIF
//!   starting with 5), with valid NIF check digits, Portuguese names, streets, towns and postal
//!   codes; a few from Spain, Brazil and France with their own ids; each registrar also has four
//!   role contacts (organizations) used as technical contact of most of its domains;
//! - domains: names made of Portuguese words, surnames, towns and trades (`padaria-silva.pt`,
//!   `casadosoutos.com.pt`, `limão-e-mel.pt`), about 8% IDN (U-labels with the .pt repertoire),
//!   87% under `pt`, 11% under `com.pt`, 2% under the closed `org.pt` (kept by an import);
//!   nameservers at a hosting company (2-4), or in the domain itself with glue (5%); DS records
//!   on 12%; client statuses on 3%; created between 1991 and yesterday, expiring over the next
//!   365 days, plus `--peak-expiries` domains (10,000 by default) expiring on `--peak-day`.
//!
//! Counts are printed on standard error at the end.

use std::collections::HashSet;
use std::io::Write;

// Names and streets: the demo's, so both speak the same Portuguese.
use nicbox::demo::{FIRST as FIRST_NAMES, LAST as SURNAMES, STREET as STREETS};

const TOWNS: &[(&str, &str)] = &[
    ("Lisboa", "1000"),
    ("Porto", "4000"),
    ("Braga", "4700"),
    ("Coimbra", "3000"),
    ("Aveiro", "3800"),
    ("Faro", "8000"),
    ("Évora", "7000"),
    ("Setúbal", "2900"),
    ("Viseu", "3500"),
    ("Leiria", "2400"),
    ("Funchal", "9000"),
    ("Ponta Delgada", "9500"),
    ("Guimarães", "4800"),
    ("Viana do Castelo", "4900"),
    ("Bragança", "5300"),
    ("Guarda", "6300"),
    ("Castelo Branco", "6000"),
    ("Santarém", "2000"),
    ("Portalegre", "7300"),
    ("Beja", "7800"),
    ("Sintra", "2710"),
    ("Cascais", "2750"),
    ("Almada", "2800"),
    ("Matosinhos", "4450"),
    ("Amadora", "2700"),
    ("Loulé", "8100"),
    ("Tomar", "2300"),
    ("Covilhã", "6200"),
];
const TRADES: &[&str] = &[
    "padaria",
    "talho",
    "farmacia",
    "clinica",
    "advogados",
    "contabilidade",
    "imobiliaria",
    "restaurante",
    "cafe",
    "hotel",
    "turismo",
    "oficina",
    "construcoes",
    "transportes",
    "moveis",
    "seguros",
    "escola",
    "ginasio",
    "livraria",
    "florista",
    "vinhos",
    "azeites",
    "conservas",
    "ceramica",
    "cortica",
    "têxteis",
    "informatica",
    "design",
    "fotografia",
    "eventos",
    "dentista",
    "veterinario",
    "mercearia",
    "pastelaria",
];
const WORDS: &[&str] = &[
    "casa",
    "sol",
    "mar",
    "terra",
    "rio",
    "monte",
    "vale",
    "quinta",
    "horta",
    "jardim",
    "praia",
    "serra",
    "ponte",
    "torre",
    "porto",
    "lua",
    "estrela",
    "vento",
    "fonte",
    "pedra",
    "azul",
    "verde",
    "doce",
    "bom",
    "novo",
    "velho",
    "grande",
    "arte",
    "vida",
    "saber",
    "sabor",
    "gente",
    "mundo",
    "viagem",
    "caminho",
    "luz",
    "norte",
    "sul",
    "atlantico",
    "douro",
    "tejo",
    "minho",
    "alentejo",
    "algarve",
    "beira",
    "lusitania",
    "tasca",
    "fado",
    "saudade",
    "bacalhau",
    "sardinha",
    "pastel",
    "bica",
    "galo",
    "andorinha",
    "oliveira",
    "sobreiro",
    "vinha",
    "cereja",
];
/// Words whose U-label is an IDN under the .pt repertoire.
const IDN_WORDS: &[&str] = &[
    "açores",
    "limão",
    "pão",
    "coração",
    "música",
    "café",
    "avó",
    "irmãos",
    "bênção",
    "maçã",
    "órgão",
    "ótica",
    "açúcar",
    "cozinhação",
    "informática",
    "saúde",
    "educação",
    "construção",
    "são-joão",
    "conceição",
    "évora",
    "guimarães",
    "setúbal",
    "brandão",
    "simões",
    "magalhães",
    "pêra",
    "água",
    "calçado",
    "estação",
];
const HOSTERS: &[&str] = &[
    "dns.ptisp.pt",
    "ns.amen.pt",
    "dns.hostinger.pt",
    "ns.webtuga.pt",
    "dns.dominios.pt",
    "ns.cloudflare.com",
    "ns.ovh.net",
    "dns.sapo.pt",
    "ns.nos.pt",
    "ns.meo.pt",
    "dns.vodafone.pt",
    "ns.servidoresdedicados.pt",
];
const SHARES: &[u32] = &[50, 15, 10, 8, 6, 5, 4, 2];

/// xorshift64*: fast, deterministic, good enough to pick words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    fn percent(&mut self, p: u64) -> bool {
        self.below(1000) < p * 10
    }
}

/// A valid Portuguese NIF starting with `first`.
fn nif(rng: &mut Rng, first: u8) -> String {
    let mut d: Vec<u32> = vec![u32::from(first)];
    d.extend((0..7).map(|_| rng.below(10) as u32));
    d.push(nicbox::policy::nif_check_digit(&d));
    d.iter().map(|x| char::from_digit(*x, 10).unwrap_or('0')).collect()
}

fn ascii_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ã' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' => 'o',
            'ú' | 'ü' => 'u',
            'ç' => 'c',
            c => c,
        })
        .collect::<String>()
        .to_lowercase()
        .replace(' ', "")
}

struct Args {
    domains: u64,
    registrars: usize,
    seed: u64,
    out: Option<String>,
    peak_expiries: u64,
    peak_day: String,
    now: i64,
}

fn args() -> Args {
    let mut a = Args {
        domains: 100_000,
        registrars: SHARES.len(),
        seed: 351,
        out: None,
        peak_expiries: 10_000,
        peak_day: "2027-03-15".into(),
        now: 1_796_256_000, // 2026-12-03T00:00:00Z
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{k} needs a value"));
        match k.as_str() {
            "--domains" => a.domains = v().parse().expect("--domains N"),
            "--registrars" => a.registrars = v().parse().expect("--registrars N"),
            "--seed" => a.seed = v().parse().expect("--seed N"),
            "--out" => a.out = Some(v()),
            "--peak-expiries" => a.peak_expiries = v().parse().expect("--peak-expiries N"),
            "--peak-day" => a.peak_day = v(),
            "--now" => a.now = v().parse().expect("--now UNIX-SECONDS"),
            "--bench" => {} // cargo bench passes it to every target
            other => panic!(
                "unknown argument {other} (--domains --registrars --seed --out --peak-expiries --peak-day --now)"
            ),
        }
    }
    assert!((1..=99).contains(&a.registrars), "--registrars 1..99");
    a
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .expect("a time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

struct Contact {
    handle: String,
    registrar: usize,
}

fn main() {
    let a = args();
    let mut rng = Rng(a.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let out: Box<dyn Write> = match &a.out {
        Some(p) => Box::new(std::fs::File::create(p).expect("create --out")),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    let registrars: Vec<String> = (1..=a.registrars).map(|i| format!("reg{i:02}")).collect();
    let shares: Vec<u32> = (0..a.registrars).map(|i| SHARES.get(i).copied().unwrap_or(2)).collect();
    let total_share: u32 = shares.iter().sum();
    let pick_registrar = |rng: &mut Rng| {
        let mut x = rng.below(u64::from(total_share)) as u32;
        for (i, s) in shares.iter().enumerate() {
            if x < *s {
                return i;
            }
            x -= s;
        }
        shares.len() - 1
    };

    // Contacts: four role contacts per registrar, then holders (about 0.6 per domain).
    let mut contacts: Vec<Contact> = Vec::new();
    let (mut persons, mut organizations) = (0u64, 0u64);
    let mut contact_line = |rng: &mut Rng, out: &mut dyn Write, registrar: usize, org: bool| -> String {
        let handle = format!("CT{:07}", contacts.len() + 1);
        let (town, postal) = rng.pick(TOWNS);
        let surname = rng.pick(SURNAMES);
        let person = format!("{} {} {}", rng.pick(FIRST_NAMES), rng.pick(SURNAMES), surname);
        let abroad = rng.below(100);
        let first_digit = if org { 5 } else { rng.pick(&[1u8, 2, 2, 3]) };
        let (country, fiscal, city, postal_code, phone) = match abroad {
            0 => (
                "ES",
                format!("B{}", 10_000_000 + rng.below(89_999_999)),
                "Vigo".to_string(),
                "36201".to_string(),
                format!("+34.6{:08}", rng.below(100_000_000)),
            ),
            1 => (
                "BR",
                format!("{:011}", rng.below(99_999_999_999)),
                "São Paulo".to_string(),
                "01310-100".to_string(),
                format!("+55.119{:08}", rng.below(100_000_000)),
            ),
            2 => (
                "FR",
                format!("FR{:011}", rng.below(99_999_999_999)),
                "Paris".to_string(),
                "75001".to_string(),
                format!("+33.6{:08}", rng.below(100_000_000)),
            ),
            _ => (
                "PT",
                nif(rng, first_digit),
                town.to_string(),
                format!("{}-{:03}", postal, rng.below(1000)),
                format!("+351.9{:08}", rng.below(100_000_000)),
            ),
        };
        let (kind, name, organization) = if org {
            organizations += 1;
            let company = format!("{} {} & Filhos, Lda.", ascii_title(rng.pick(TRADES)), surname);
            ("organization", person.clone(), Some(company))
        } else {
            persons += 1;
            ("person", person.clone(), None)
        };
        let email = format!(
            "{}.{}{}@{}",
            ascii_fold(person.split(' ').next().unwrap()),
            ascii_fold(surname),
            rng.below(1000),
            rng.pick(&["gmail.com", "sapo.pt", "hotmail.com", "outlook.pt", "netcabo.pt", "iol.pt"])
        );
        let line = serde_json::json!({
            "type": "contact",
            "registrar": registrars[registrar],
            "handle": handle,
            "kind": kind,
            "name": name,
            "organization": organization,
            "street": [format!("{} {}", rng.pick(STREETS), 1 + rng.below(300))],
            "city": city,
            "postal_code": postal_code,
            "country_code": country,
            "email": email,
            "phone": phone,
            "fiscal_id": fiscal,
        });
        serde_json::to_writer(&mut *out, &line).expect("write");
        out.write_all(b"\n").expect("write");
        contacts.push(Contact { handle: handle.clone(), registrar });
        handle
    };
    for r in 0..registrars.len() {
        for _ in 0..4 {
            contact_line(&mut rng, &mut out, r, true);
        }
    }
    // Registrar r's role contacts are the four it got first.
    let roles: Vec<Vec<usize>> = (0..registrars.len()).map(|r| (r * 4..r * 4 + 4).collect()).collect();
    let holders = (a.domains * 6 / 10).max(1);
    for _ in 0..holders {
        let r = pick_registrar(&mut rng);
        let org = rng.percent(20);
        contact_line(&mut rng, &mut out, r, org);
    }
    let role_count = registrars.len() * 4;

    // Domains.
    let mut seen: HashSet<String> = HashSet::with_capacity(a.domains as usize);
    let (mut idn, mut glue, mut ds, mut statused, mut com, mut org_pt) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let peak = time::Date::parse(&a.peak_day, &time::format_description::well_known::Iso8601::DATE)
        .expect("--peak-day YYYY-MM-DD")
        .midnight()
        .assume_utc()
        .unix_timestamp();
    let year = 365 * 86_400;
    for i in 0..a.domains {
        // The holder: any holder contact; the domain goes to its registrar.
        let holder = role_count + rng.below(holders) as usize;
        let registrar = contacts[holder].registrar;
        let idn_name = rng.percent(8);
        let mut label = if idn_name {
            match rng.below(3) {
                0 => format!("{}-{}", rng.pick(IDN_WORDS), rng.pick(WORDS)),
                1 => format!("{}{}", rng.pick(WORDS), rng.pick(IDN_WORDS)),
                _ => format!("{}-{}", rng.pick(TRADES), rng.pick(IDN_WORDS)),
            }
        } else {
            match rng.below(6) {
                0 => format!("{}-{}", rng.pick(TRADES), ascii_fold(rng.pick(SURNAMES))),
                1 => format!("{}{}", rng.pick(WORDS), rng.pick(WORDS)),
                2 => format!("{}-{}", rng.pick(WORDS), ascii_fold(rng.pick(TOWNS).0)),
                3 => format!("{}{}", ascii_fold(rng.pick(FIRST_NAMES)), ascii_fold(rng.pick(SURNAMES))),
                4 => format!("{}do{}", rng.pick(WORDS), rng.pick(WORDS)),
                _ => format!("{}{}{}", rng.pick(TRADES), ascii_fold(rng.pick(TOWNS).0), rng.pick(WORDS)),
            }
        };
        let zone = match rng.below(100) {
            0..=86 => "pt",
            87..=97 => "com.pt",
            _ => "org.pt",
        };
        let mut name = format!("{label}.{zone}");
        while !seen.insert(name.clone()) {
            label = format!("{label}{}", rng.below(10));
            name = format!("{label}.{zone}");
        }
        idn += u64::from(idn_name);
        com += u64::from(zone == "com.pt");
        org_pt += u64::from(zone == "org.pt");
        let nameservers: Vec<serde_json::Value> = if rng.percent(5) {
            glue += 1;
            (1..=2)
                .map(|k| {
                    serde_json::json!({
                        "name": format!("ns{k}.{name}"),
                        "addresses": [
                            format!("{}.{}.{}.{}", rng.pick(&[85u8, 89, 94, 188, 194, 195, 213]), rng.below(256), rng.below(256), 1 + rng.below(254)),
                            format!("2a00:{:x}:{:x}::{:x}", rng.below(0xffff), rng.below(0xffff), 1 + rng.below(0xfffe)),
                        ]
                    })
                })
                .collect()
        } else {
            let hoster = rng.pick(HOSTERS);
            (1..=2 + rng.below(3)).map(|k| serde_json::json!({ "name": format!("ns{k}.{hoster}") })).collect()
        };
        let ds_records: Vec<serde_json::Value> = if rng.percent(12) {
            ds += 1;
            let digest: String = (0..4).map(|_| format!("{:016X}", rng.next())).collect();
            vec![serde_json::json!({"key_tag": rng.below(65_536), "algorithm": 13, "digest_type": 2, "digest": digest})]
        } else {
            Vec::new()
        };
        let status: Vec<&str> = if rng.percent(3) {
            statused += 1;
            vec![rng.pick(&[
                "clientTransferProhibited",
                "clientDeleteProhibited",
                "clientUpdateProhibited",
                "clientHold",
            ])]
        } else {
            Vec::new()
        };
        let expires = if i < a.peak_expiries {
            peak + rng.below(86_400) as i64
        } else {
            a.now + 86_400 + rng.below(year as u64) as i64
        };
        let age_years = 1 + rng.below(34) as i64;
        let created = (expires - age_years * year).max(662_688_000).min(a.now - 86_400); // 1991-01-01
        let role = roles[registrar][rng.below(4) as usize];
        let admin = if rng.percent(60) { holder } else { role };
        let tech = if rng.percent(85) { role } else { holder };
        let auth: String =
            (0..16).map(|_| char::from(rng.pick(b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"))).collect();
        let line = serde_json::json!({
            "type": "domain",
            "registrar": registrars[registrar],
            "name": name,
            "registrant": contacts[holder].handle,
            "admin": contacts[admin].handle,
            "tech": contacts[tech].handle,
            "nameservers": nameservers,
            "ds": ds_records,
            "auto_renew": rng.percent(70),
            "created": rfc3339(created),
            "expires": rfc3339(expires),
            "status": status,
            "auth_code": auth,
        });
        serde_json::to_writer(&mut out, &line).expect("write");
        out.write_all(b"\n").expect("write");
    }
    out.flush().expect("flush");
    eprintln!(
        "dataset: {} registrars, {} contacts ({persons} persons, {organizations} organizations), {} domains \
         ({idn} IDN, {com} com.pt, {org_pt} org.pt, {glue} with glue, {ds} with DS, {statused} with client statuses, \
         {} expiring on {})",
        registrars.len(),
        contacts.len(),
        a.domains,
        a.peak_expiries.min(a.domains),
        a.peak_day
    );
}

fn ascii_title(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
