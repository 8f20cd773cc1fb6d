//! Registry benchmarks (`cargo bench --bench registry`): durable domain creates through the
//! single writer with 1, 8 and 64 concurrent submitters, domain reads on one thread, name
//! validation, and a bulk import. Prints one line per measurement; nothing is asserted, since
//! timings on a shared machine are not a test.
//!
//! Set `NICBOX_BENCH_QUICK=1` for a short run (CI smoke check).

use std::sync::Arc;
use std::time::{Duration, Instant};

use nicbox::model::{Actor, ContactKind, Timestamp};
use nicbox::registry::{ContactInput, DomainCreate, NameserverInput, NewRegistrar, Registry};
use nicbox::store::Store;

const CONFIG: &str = "data_dir = \"data\"\n[[tld]]\nname = \"pt\"\nprofile = \"pt\"\n";

fn quick() -> bool {
    std::env::var("NICBOX_BENCH_QUICK").is_ok()
}

fn new_registry(dir: &std::path::Path) -> Registry {
    let settings = nicbox::config::parse(CONFIG, dir).unwrap();
    std::fs::create_dir_all(&settings.data_dir).unwrap();
    let store = Store::create(&settings.db_path()).unwrap();
    Registry::with_clock(store, settings, nicbox::clock::Clock::manual(Timestamp(1_795_341_600)))
}

async fn setup(registry: &Registry) -> String {
    registry
        .registrar_add(
            NewRegistrar { id: "bench".into(), name: "Bench".into(), email: String::new(), balance_cents: 900_000_000 },
            Actor::System("bench".into()),
        )
        .await
        .unwrap();
    let c = registry
        .contact_create(
            "bench",
            ContactInput {
                handle: None,
                kind: ContactKind::Organization,
                name: "Exemplo, Lda.".into(),
                organization: None,
                street: vec!["Rua Augusta 1".into()],
                city: "Lisboa".into(),
                postal_code: "1100-048".into(),
                country_code: "PT".into(),
                email: "dns@exemplo.pt".into(),
                phone: None,
                fiscal_id: Some("501964843".into()),
            },
        )
        .await
        .unwrap();
    c.handle
}

fn create(name: String, handle: &str) -> DomainCreate {
    DomainCreate {
        name,
        period_years: 1,
        registrant: handle.into(),
        admin: handle.into(),
        tech: Some(handle.into()),
        billing: None,
        nameservers: vec![
            NameserverInput { name: "ns1.example.net".into(), addresses: vec![] },
            NameserverInput { name: "ns2.example.net".into(), addresses: vec![] },
        ],
        ds: vec![],
        auto_renew: true,
        registration_basis: None,
        legitimacy: None,
        owner_visible: None,
    }
}

/// Durable creates with `submitters` concurrent tasks, `per` creates each.
async fn creates(submitters: usize, per: usize) -> (f64, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let registry = new_registry(dir.path());
    let handle = Arc::new(setup(&registry).await);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for s in 0..submitters {
        let (r, h) = (registry.clone(), handle.clone());
        tasks.spawn(async move {
            for i in 0..per {
                r.domain_create("bench", create(format!("s{s}-d{i}.pt"), &h)).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let elapsed = started.elapsed();
    ((submitters * per) as f64 / elapsed.as_secs_f64(), elapsed)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let q = quick();

    if wanted("create") {
        for (submitters, per) in
            [(1, if q { 50 } else { 300 }), (8, if q { 25 } else { 150 }), (64, if q { 10 } else { 80 })]
        {
            let (rate, took) = rt.block_on(creates(submitters, per));
            println!(
                "create/durable submitters={submitters:<3} creates={:<6} {rate:>9.0} creates/s  ({:.2}s)",
                submitters * per,
                took.as_secs_f64()
            );
        }
    }

    if wanted("read") {
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry(dir.path());
        let n = if q { 5_000 } else { 100_000 };
        let handle = rt.block_on(setup(&registry));
        // Fill through the writer with many in flight (group commit), like an import.
        rt.block_on(async {
            let handle = Arc::new(handle);
            let mut tasks = tokio::task::JoinSet::new();
            for s in 0..64 {
                let (r, h) = (registry.clone(), handle.clone());
                tasks.spawn(async move {
                    for i in (s..n).step_by(64) {
                        r.domain_create("bench", create(format!("d{i}.pt"), &h)).await.unwrap();
                    }
                });
            }
            while let Some(r) = tasks.join_next().await {
                r.unwrap();
            }
        });
        let mut x: u64 = 88172645463325252;
        let reads = if q { 50_000 } else { 500_000 };
        let started = Instant::now();
        let mut found = 0usize;
        for _ in 0..reads {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let name = format!("d{}.pt", x % n as u64);
            found += usize::from(registry.domain_any(&name).unwrap().is_some());
        }
        let took = started.elapsed();
        assert_eq!(found, reads);
        println!(
            "read/domain    one thread, {n} domains  {:>9.0} reads/s  ({:.2} µs each)",
            reads as f64 / took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / reads as f64
        );
    }

    if wanted("rdap") {
        // Where an RDAP answer's time goes: the directory lookup, building the JSON, serializing.
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry(dir.path());
        let handle = rt.block_on(setup(&registry));
        rt.block_on(async {
            for i in 0..100 {
                registry.domain_create("bench", create(format!("d{i}.pt"), &handle)).await.unwrap();
            }
        });
        let app = rt.block_on(async { nicbox::http::test_state(registry.clone()) });
        let n = if q { 2_000 } else { 50_000 };
        let started = Instant::now();
        for i in 0..n {
            // The query path: the record borrowed from the stored bytes while it is looked at.
            let found = nicbox::directory::lookup_with(&registry, &format!("d{}.pt", i % 100), |l| {
                matches!(l, nicbox::directory::Lookup::Found(_))
            });
            assert!(found.unwrap());
        }
        let lookup = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        let rec = match nicbox::directory::lookup(&registry, "d1.pt").unwrap() {
            nicbox::directory::Lookup::Found(r) => r,
            _ => panic!("d1.pt"),
        };
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += nicbox::http::rdap::domain_body(&app, &rec).len();
        }
        let build = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("rdap/render    lookup {lookup:.1} µs, JSON body {build:.1} µs ({} bytes)", bytes / n);
    }

    if wanted("validate") {
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry(dir.path());
        let names = [
            "exemplo.pt",
            "açores-turismo.pt",
            "xn--aores-yra.pt",
            "Padaria-Alfama.COM.PT.",
            "ab--cd.pt",
            "google.com",
            "café-central.pt",
            "x.pt",
        ];
        let rounds = if q { 20_000 } else { 200_000 };
        let started = Instant::now();
        let mut ok = 0usize;
        for i in 0..rounds {
            let n = names[i % names.len()];
            if let Ok(name) = registry.policy().parse(n) {
                ok += usize::from(registry.policy().check_new(&name).is_ok());
            }
        }
        let took = started.elapsed();
        println!(
            "validate/name  parse+check_new         {:>9.0} names/s  ({:.2} µs each, {ok} accepted)",
            rounds as f64 / took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / rounds as f64
        );
    }

    if wanted("lifecycle") {
        // 100,000 domains expiring on the same day: half with auto-renew on, half off; the
        // registrar's balance covers a quarter of the renewals, so the job renews some and
        // expires the rest.
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry(dir.path());
        rt.block_on(setup(&registry));
        let n = if q { 5_000 } else { 100_000 };
        let mut text = String::with_capacity(n * 300);
        text.push_str(r#"{"type":"contact","registrar":"bench","handle":"LEGACY-1","kind":"organization","name":"Exemplo, Lda.","street":["Rua Augusta 1"],"city":"Lisboa","postal_code":"1100-048","country_code":"PT","email":"dns@exemplo.pt","fiscal_id":"501964843"}"#);
        text.push('\n');
        for i in 0..n {
            text.push_str(&format!(
                r#"{{"type":"domain","registrar":"bench","name":"vence{i}.pt","registrant":"LEGACY-1","admin":"LEGACY-1","tech":"LEGACY-1","auto_renew":{},"created":"2025-11-25T12:00:00Z","expires":"2026-11-25T{:02}:{:02}:00Z"}}"#,
                i % 2 == 0,
                (i / 60) % 24,
                i % 60
            ));
            text.push('\n');
        }
        let report = rt.block_on(registry.import(&import_file(&text), false)).unwrap();
        assert_eq!(report.domains as usize, n);
        // Balance for a quarter of the renewals (renew price 1,500 cents).
        let balance = registry.registrar_get("bench").unwrap().balance_cents;
        let want = (n as i64 / 4) * 1_500;
        rt.block_on(registry.registrar_credit("bench", want - balance, "bench", Actor::System("bench".into())))
            .unwrap();
        let rss_before = rss_kib();
        // Registry time: the day after.
        registry.clock().advance(4 * 86_400);
        let started = Instant::now();
        let r = rt.block_on(registry.run_lifecycle()).unwrap();
        let took = started.elapsed();
        println!(
            "lifecycle/day  {n} due the same day       {:.2}s ({:.0} domains/s): {} renewed, {} expired, {} batches; RSS +{} MiB (peak {} MiB)",
            took.as_secs_f64(),
            r.examined as f64 / took.as_secs_f64(),
            r.auto_renewed,
            r.expired,
            r.batches,
            (rss_kib().saturating_sub(rss_before)) / 1024,
            peak_rss_kib() / 1024
        );
        registry.clock().advance(86_400);
        let started = Instant::now();
        let r = rt.block_on(registry.run_lifecycle()).unwrap();
        println!(
            "lifecycle/idle a day with nothing due   {:.0} µs (examined {})",
            started.elapsed().as_secs_f64() * 1e6,
            r.examined
        );
    }

    if wanted("import") {
        let dir = tempfile::tempdir().unwrap();
        let registry = new_registry(dir.path());
        rt.block_on(setup(&registry));
        let n = if q { 5_000 } else { 100_000 };
        let mut text = String::with_capacity(n * 300);
        text.push_str(r#"{"type":"contact","registrar":"bench","handle":"LEGACY-1","kind":"organization","name":"Exemplo, Lda.","street":["Rua Augusta 1"],"city":"Lisboa","postal_code":"1100-048","country_code":"PT","email":"dns@exemplo.pt","fiscal_id":"501964843"}"#);
        text.push('\n');
        for i in 0..n {
            text.push_str(&format!(
                r#"{{"type":"domain","registrar":"bench","name":"importado{i}.pt","registrant":"LEGACY-1","admin":"LEGACY-1","tech":"LEGACY-1","nameservers":[{{"name":"ns1.example.net"}},{{"name":"ns2.example.net"}}],"created":"2015-03-01T12:00:00Z","expires":"2027-03-01T12:00:00Z","status":[],"auth_code":"code-{i}"}}"#
            ));
            text.push('\n');
        }
        let started = Instant::now();
        let report = rt.block_on(registry.import(&import_file(&text), false)).unwrap();
        let took = started.elapsed();
        assert_eq!(report.domains as usize, n, "{:?}", report.refused.first());
        println!(
            "import/jsonl   {n} domains            {:>9.0} domains/s ({:.1}s)",
            n as f64 / took.as_secs_f64(),
            took.as_secs_f64()
        );
    }
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

fn peak_rss_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

/// The import's text as a file (`nicbox import` reads a file twice: to order it, then to apply it).
fn import_file(text: &str) -> std::fs::File {
    use std::io::{Seek, Write};
    let mut f = tempfile::tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f.rewind().unwrap();
    f
}
