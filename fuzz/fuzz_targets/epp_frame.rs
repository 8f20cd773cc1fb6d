//! Fuzzes EPP frame handling: any bytes as a frame's body, read as XML (no DTD, bounded depth
//! and nodes) and, when it is an EPP command, run against a small registry as a logged-in
//! registrar. Nothing may panic, and every answer renders as a well-formed EPP document.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nicbox::epp::exec::{self, Answer, Session};
use nicbox::epp::xml;
use nicbox::registry::Registry;

#[path = "shared/scratch.rs"]
mod scratch;

struct World {
    rt: tokio::runtime::Runtime,
    registry: Registry,
    session: Session,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        // On tmpfs where there is one: every accepted command commits.
        let dir = scratch::dir(scratch::fast_base());
        let text = "data_dir = \"data\"\n[[tld]]\nname = \"pt\"\n[tld.policy]\nglue_documentation = true\n";
        let settings = nicbox::config::parse(text, dir).expect("config");
        std::fs::create_dir_all(&settings.data_dir).expect("data dir");
        nicbox::store::Store::create(&settings.db_path()).expect("store");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        let registry = Registry::open(settings).expect("registry");
        let r = rt
            .block_on(registry.registrar_add(
                nicbox::registry::NewRegistrar {
                    id: "r1".into(),
                    name: "R1".into(),
                    email: "r1@example.net".into(),
                    balance_cents: 1_000_000_000,
                },
                nicbox::model::Actor::System("fuzz".into()),
            ))
            .expect("registrar")
            .0;
        let extensions = exec::EXT_URIS.iter().map(|u| u.to_string()).collect();
        let session = Session { registrar: Some(r), fingerprint: [0; 32], extensions };
        World { rt, registry, session }
    })
}

fn check(a: &Answer) {
    let text = a.render(Some("fuzz-1"), "sv-1");
    let parsed = xml::parse(&text).unwrap_or_else(|e| panic!("an answer that does not parse ({e:?}): {text}"));
    assert!(xml::child(parsed.root_element(), xml::EPP, "response").is_some());
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(doc) = xml::parse(text) else { return };
    let _ = exec::cl_trid(&doc);
    let Some(command) = xml::child(doc.root_element(), xml::EPP, "command") else { return };
    let w = world();
    let answer = w.rt.block_on(exec::command(&w.registry, &w.session, command));
    check(&answer);
    // The answer's detail may carry any text of the frame: it must stay well-formed.
    check(&Answer::fail(2001, "Fuzzed", text));
});
