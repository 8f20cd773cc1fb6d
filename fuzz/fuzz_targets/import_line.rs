//! Fuzzes `nicbox import`: any bytes as one line of the JSON-lines format, read by
//! `ImportLine::parse` and then imported through `Registry::import` into a small registry
//! (registrar `ptreg` with contacts `ORG-1` and `PES-1`, on tmpfs where there is one, built once
//! per process). Nothing may panic; a line the parser refuses is refused by the import with the
//! same reason; a line is imported or refused, never both or neither; an imported domain or
//! contact is stored as given; and every so often the database's audit (indexes and counters in
//! step with the records) finds nothing.
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use libfuzzer_sys::fuzz_target;
use nicbox::model::Actor;
use nicbox::registry::{ImportLine, ImportReport, NewRegistrar, Registry};

#[path = "shared/scratch.rs"]
mod scratch;

struct World {
    rt: tokio::runtime::Runtime,
    registry: Registry,
}

const CONTACTS: &str = concat!(
    r#"{"type":"contact","registrar":"ptreg","handle":"ORG-1","kind":"organization","name":"Exemplo, Lda.","#,
    r#""organization":"Exemplo, Lda.","street":["Rua Augusta 1"],"city":"Lisboa","postal_code":"1100-048","#,
    r#""country_code":"PT","email":"dns@exemplo.pt","phone":"+351.213456789","fiscal_id":"501964843"}"#,
    "\n",
    r#"{"type":"contact","registrar":"ptreg","handle":"PES-1","kind":"person","name":"João Gonçalves","#,
    r#""street":["Rua da Prata 12"],"city":"Évora","postal_code":"7000-651","country_code":"PT","#,
    r#""email":"joao@exemplo-mail.pt","fiscal_id":"501964843"}"#,
    "\n",
);

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        // On tmpfs where there is one: every imported line commits.
        let dir = scratch::dir(scratch::fast_base());
        let text = "data_dir = \"data\"\n\
                    [[tld]]\nname = \"pt\"\n[tld.policy]\nglue_documentation = true\n\
                    [[tld]]\nname = \"cv\"\n";
        let settings = nicbox::config::parse(text, dir).expect("config");
        std::fs::create_dir_all(&settings.data_dir).expect("data dir");
        nicbox::store::Store::create(&settings.db_path()).expect("store");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        let registry = Registry::open(settings).expect("registry");
        rt.block_on(registry.registrar_add(
            NewRegistrar {
                id: "ptreg".into(),
                name: "Registos, Lda.".into(),
                email: "ptreg@example.net".into(),
                balance_cents: 0,
            },
            Actor::System("fuzz".into()),
        ))
        .expect("registrar");
        let report = rt.block_on(registry.import(CONTACTS.as_bytes())).expect("contacts");
        assert_eq!(report, ImportReport { contacts: 2, domains: 0, refused: vec![] }, "the fixed contacts");
        World { rt, registry }
    })
}

static IMPORTED: AtomicU64 = AtomicU64::new(0);

fn verify(w: &World, line: &ImportLine) {
    match line {
        ImportLine::Contact { registrar, contact } => {
            let handle = contact.handle.as_deref().expect("a parsed contact line has a handle");
            let c =
                w.registry.contact_any(handle).expect("read").unwrap_or_else(|| panic!("contact {handle} not stored"));
            assert_eq!(&c.registrar, registrar);
            assert_eq!(c.handle, handle);
        }
        ImportLine::Domain { registrar, domain, created, expires, statuses, auth_code } => {
            let d = w
                .registry
                .domain_any(&domain.name)
                .expect("read")
                .unwrap_or_else(|| panic!("domain {} not stored", domain.name));
            assert_eq!(&d.registrar, registrar);
            assert_eq!((d.created, d.expires), (*created, *expires));
            assert_eq!(d.registrant, domain.registrant);
            for s in statuses {
                assert!(d.has(*s), "{}: status {s:?} lost", d.name);
            }
            if statuses.is_empty() {
                assert!(d.statuses.is_empty(), "{}: statuses {:?} from nowhere", d.name, d.statuses);
            }
            let _ = auth_code; // generated when the line gives none
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // One line: up to the first newline.
    let line = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let w = world();
    let parsed = std::str::from_utf8(line).ok().map(|t| (t, ImportLine::parse(t)));
    let report = w.rt.block_on(w.registry.import(line)).expect("an import of one line answers");
    let outcomes = report.contacts + report.domains + report.refused.len() as u64;
    for (n, _) in &report.refused {
        assert_eq!(*n, 1, "refused line number");
    }
    match parsed {
        None => assert_eq!(report.refused, vec![(1, "not UTF-8".to_string())]),
        Some((text, _)) if text.trim().is_empty() => assert_eq!(outcomes, 0, "a blank line is skipped"),
        Some((_, Err(e))) => {
            assert_eq!(report.refused, vec![(1, format!("{}: {}", e.code.as_str(), e.detail))], "the parser's reason");
            assert!(!e.is_internal(), "a bad line is an internal error: {}", e.detail);
        }
        Some((_, Ok(l))) => {
            assert_eq!(outcomes, 1, "one line, one outcome: {report:?}");
            match &l {
                ImportLine::Contact { .. } => assert_eq!(report.domains, 0),
                ImportLine::Domain { .. } => assert_eq!(report.contacts, 0),
            }
            if let Some((_, why)) = report.refused.first() {
                assert!(!why.starts_with("internal error"), "a line made an internal error: {why}");
            } else {
                verify(w, &l);
                // The audit reads the whole database: now and then, as it grows.
                if IMPORTED.fetch_add(1, Ordering::Relaxed) % 64 == 0 {
                    let findings = w.registry.audit().expect("audit");
                    assert!(findings.is_empty(), "audit after an import: {findings:?}");
                }
            }
        }
    }
});
