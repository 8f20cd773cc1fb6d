//! Backups and upgrades (issue 14 item 9), against the real binary:
//! - `nicbox backup` of a running server under a write load (creates and renewals over the HTTP
//!   API from two registrars): the copy, restored into a new data directory, passes
//!   `check --deep`, serves, and holds every write acknowledged before the backup began and none
//!   sent after it ended (one snapshot, not a file copied while it changed);
//! - a database written by the previous schema version (tests/fixtures/v1, written by the older
//!   binary itself: tests/fixtures/README) opens with this binary, migrates, keeps everything
//!   (records, balances, the query log) and a copy of the file as it was beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Server, http_agent, http_call, org_body, run, whois_client, write_config};

/// Renewals are open for the whole registration here, so that the load can renew what it made.
const RENEW_ANY_TIME: &str = "[tld.policy]\nrenew_window_days = 3660\n";

/// `registrar add` with an opening balance; the API key it prints.
fn add_registrar(config: &Path, id: &str) -> String {
    let c = config.to_str().unwrap();
    let (code, out, err) = run(&[
        "registrar",
        "add",
        "--config",
        c,
        "--id",
        id,
        "--name",
        &format!("Registrar {id}"),
        "--balance-cents",
        "100000000",
    ]);
    assert_eq!(code, 0, "registrar add: {out} {err}");
    out.lines().find_map(|l| l.split("): ").nth(1)).expect("key printed").trim().to_string()
}

fn domain_body(name: &str, handle: &str) -> Value {
    json!({"name": name, "period_years": 1, "registrant": handle, "admin": handle, "tech": handle,
           "nameservers": [{"name": "ns1.example.net"}, {"name": "ns2.example.net"}]})
}

/// One write the load sent: `sent` and `acked` are tickets of one shared counter, taken just
/// before the request left and just after its answer came, so that they order it against the
/// backup's own tickets without any clock.
#[derive(Debug, Clone)]
struct Write {
    registrar: usize,
    name: String,
    renew: bool,
    /// The expiry the answer gave.
    expires: String,
    sent: u64,
    acked: u64,
}

/// Creates and renewals from one registrar until `stop`; every write must be acknowledged.
fn load(
    w: usize,
    url: String,
    key: String,
    handle: String,
    ticket: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Write>>>,
) {
    let agent = http_agent();
    let mut mine: Vec<(String, String)> = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let renew = i % 3 == 2;
        let (path, body, name) = if renew {
            let (name, expires) = &mine[(i / 3) % mine.len()];
            let year: i32 = expires[..4].parse().unwrap();
            (
                format!("/api/v1/domains/{name}/renew"),
                json!({"period_years": 1, "current_expiry_year": year}),
                name.clone(),
            )
        } else {
            let name = format!("carga{w}-{i}.pt");
            ("/api/v1/domains".to_string(), domain_body(&name, &handle), name)
        };
        let sent = ticket.fetch_add(1, Ordering::SeqCst);
        let (status, v) = http_call(&agent, "POST", &format!("{url}{path}"), Some(&key), Some(&body));
        let acked = ticket.fetch_add(1, Ordering::SeqCst);
        assert!(status == 200 || status == 201, "{path}: {status} {v}");
        let expires = v["expires"].as_str().unwrap().to_string();
        match mine.iter_mut().find(|(n, _)| *n == name) {
            Some(m) => m.1 = expires.clone(),
            None => mine.push((name.clone(), expires.clone())),
        }
        log.lock().unwrap().push(Write { registrar: w, name, renew, expires, sent, acked });
        i += 1;
    }
}

/// Copies the files of a data directory that are not the database (configuration, lists).
fn copy_dir_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_backup_under_write_load_restores_with_every_write_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), RENEW_ANY_TIME);
    let c = config.to_str().unwrap();
    let (code, out, err) = run(&["init", "--config", c]);
    assert_eq!(code, 0, "init: {out} {err}");
    let keys = [add_registrar(&config, "ptreg"), add_registrar(&config, "outroreg")];
    let server = Server::serve(&config);
    let agent = http_agent();
    let handles: Vec<String> = keys
        .iter()
        .map(|k| {
            let (status, v) = http_call(&agent, "POST", &server.url("/api/v1/contacts"), Some(k), Some(&org_body()));
            assert_eq!(status, 201, "{v}");
            v["handle"].as_str().unwrap().to_string()
        })
        .collect();
    // Something to copy before the load starts.
    for i in 0..150 {
        let (status, v) = http_call(
            &agent,
            "POST",
            &server.url("/api/v1/domains"),
            Some(&keys[i % 2]),
            Some(&domain_body(&format!("antes{i}.pt"), &handles[i % 2])),
        );
        assert_eq!(status, 201, "{v}");
    }

    let ticket = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<Write>>> = Arc::default();
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (url, key, handle) = (server.url(""), keys[w].clone(), handles[w].clone());
            let (ticket, stop, log) = (ticket.clone(), stop.clone(), log.clone());
            std::thread::spawn(move || load(w, url, key, handle, ticket, stop, log))
        })
        .collect();
    let wait_for = |what: &str, enough: &dyn Fn(&[Write]) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !enough(&log.lock().unwrap()) {
            assert!(!workers.iter().any(|w| w.is_finished()), "a load thread stopped (see its panic)");
            assert!(Instant::now() < deadline, "the load did not get to {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // The load is running (renewals included) before the backup begins.
    wait_for("30 writes", &|l| l.len() >= 30 && l.iter().any(|w| w.renew));

    let out = dir.path().join("backup.redb");
    let begin = ticket.fetch_add(1, Ordering::SeqCst);
    let (code, stdout, stderr) = run(&["backup", "--config", c, "--out", out.to_str().unwrap()]);
    let end = ticket.fetch_add(1, Ordering::SeqCst);
    assert_eq!(code, 0, "backup of the running server: {stdout} {stderr}");
    assert!(stdout.contains("backup written to"), "{stdout}");
    // And it goes on after the backup ended: the backup was taken in the middle of the load.
    wait_for("20 writes after the backup", &|l| l.iter().filter(|w| w.sent > end).count() >= 20);
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let writes = log.lock().unwrap().clone();
    assert_eq!(server.terminate().code(), Some(0));

    // Restored into a new data directory (the configuration copied, data_dir relative to it).
    let restored = dir.path().join("restored");
    copy_dir_files(dir.path(), &restored);
    std::fs::remove_file(restored.join("backup.redb")).unwrap();
    let rconfig = restored.join("nicbox.toml");
    let rc = rconfig.to_str().unwrap();
    let (code, stdout, stderr) = run(&["restore", "--config", rc, "--from", out.to_str().unwrap()]);
    assert_eq!(code, 0, "restore: {stdout} {stderr}");
    let (code, stdout, stderr) = run(&["check", "--deep", "--config", rc]);
    assert_eq!(code, 0, "check --deep of the restored backup: {stdout} {stderr}");
    assert!(!stdout.contains("finding:"), "{stdout}");

    // What the copy must hold, per domain: the latest expiry acknowledged before the backup
    // began (a later renewal may be in it too), and nothing first sent after it ended.
    let mut must: BTreeMap<(usize, String), String> = BTreeMap::new();
    let mut never: BTreeMap<(usize, String), String> = BTreeMap::new();
    for w in &writes {
        let k = (w.registrar, w.name.clone());
        if w.acked < begin {
            let e = must.entry(k).or_default();
            if w.expires > *e {
                *e = w.expires.clone();
            }
        } else if w.sent > end {
            // A create sent after the end must be missing; a renewal's result must be.
            let e = never.entry(k).or_insert_with(|| w.expires.clone());
            if !w.renew || w.expires < *e {
                *e = w.expires.clone();
            }
        }
    }
    let before = writes.iter().filter(|w| w.acked < begin).count();
    let during = writes.iter().filter(|w| w.acked > begin && w.sent < end).count();
    let after = writes.iter().filter(|w| w.sent > end).count();
    println!("writes acknowledged before the backup: {before}, overlapping it: {during}, sent after it: {after}");

    let s = Server::serve(&rconfig);
    for ((r, name), expires) in &must {
        let (status, v) = http_call(&agent, "GET", &s.url(&format!("/api/v1/domains/{name}")), Some(&keys[*r]), None);
        assert_eq!(status, 200, "{name}, acknowledged before the backup began, is not in the copy: {v}");
        let got = v["expires"].as_str().unwrap();
        assert!(got >= expires.as_str(), "{name}: the copy has expiry {got}, a renewal to {expires} was acknowledged");
    }
    for ((r, name), expires) in &never {
        let acked_before = must.contains_key(&(*r, name.clone()));
        if acked_before || writes.iter().any(|w| w.name == *name && w.sent < end) {
            // Created before the end: the copy has it when the create was acknowledged before the
            // backup began, and may have it when the create overlapped the backup; either way
            // the renewals sent after the end must be missing.
            let (status, v) =
                http_call(&agent, "GET", &s.url(&format!("/api/v1/domains/{name}")), Some(&keys[*r]), None);
            if status == 404 && !acked_before {
                continue;
            }
            assert_eq!(status, 200, "{name}: {v}");
            let got = v["expires"].as_str().unwrap();
            assert!(got < expires.as_str(), "{name}: the copy has a renewal sent after the backup ended ({got})");
        } else {
            let (status, v) =
                http_call(&agent, "GET", &s.url(&format!("/api/v1/domains/{name}")), Some(&keys[*r]), None);
            assert_eq!(status, 404, "{name}, created after the backup ended, is in the copy: {v}");
        }
    }
    // The restored registry takes writes.
    let (status, v) = http_call(
        &agent,
        "POST",
        &s.url("/api/v1/domains"),
        Some(&keys[0]),
        Some(&domain_body("depois-do-restauro.pt", &handles[0])),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(s.terminate().code(), Some(0));
    let (code, stdout, stderr) = run(&["check", "--deep", "--config", rc]);
    assert_eq!(code, 0, "{stdout} {stderr}");
}

/// tests/fixtures/v1: the database and what its registrars saw (tests/fixtures/make_v1.py).
fn fixture() -> (PathBuf, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    let expected = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    (dir.join("nicbox.redb.gz"), expected)
}

/// The copies kept before a migration in `data`.
fn migration_copies(data: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("nicbox.redb.v1-backup-"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_version_1_database_migrates_keeps_its_data_and_a_copy_beside_it() {
    let (gz, expected) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let c = config.to_str().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("nicbox.redb");
    let unpacked = std::process::Command::new("gzip").arg("-dc").arg(&gz).output().expect("gzip");
    assert!(unpacked.status.success());
    std::fs::write(&db, &unpacked.stdout).unwrap();
    assert_eq!(
        nicbox::store::ReadOnlyStore::open(&db).unwrap().read().unwrap().schema_version().unwrap(),
        Some(1),
        "the fixture is a version 1 database"
    );

    let server = Server::serve(&config);
    assert!(server.logged(&format!(
        "kept a copy of the database before migrating it from schema version 1 to {}",
        nicbox::store::SCHEMA_VERSION
    )));
    assert!(server.logged("database migrated to schema version 2"));
    assert!(server.logged("database migrated to schema version 3"));
    let agent = http_agent();
    // Every domain as the older binary answered it, with its registrar's key.
    let regs = expected["registrars"].as_object().unwrap();
    for (name, want) in expected["domains"].as_object().unwrap() {
        let key = regs[want["registrar"].as_str().unwrap()]["api_key"].as_str().unwrap();
        let (status, v) = http_call(&agent, "GET", &server.url(&format!("/api/v1/domains/{name}")), Some(key), None);
        assert_eq!(status, 200, "{name}: {v}");
        assert_eq!(v["expires"], want["expires"], "{name}");
        assert_eq!(v["status"], want["status"], "{name}");
        let mut ns: Vec<&str> =
            v["nameservers"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
        ns.sort();
        assert_eq!(json!(ns), want["nameservers"], "{name}");
    }
    for (id, r) in regs {
        let key = r["api_key"].as_str().unwrap();
        let (status, v) = http_call(&agent, "GET", &server.url("/api/v1/account"), Some(key), None);
        assert_eq!(status, 200, "{id}: {v}");
        assert_eq!(v["balance"]["cents"], r["balance_cents"], "{id}");
        for handle in r["contacts"].as_object().unwrap().values() {
            let h = handle.as_str().unwrap();
            let (status, v) = http_call(&agent, "GET", &server.url(&format!("/api/v1/contacts/{h}")), Some(key), None);
            assert_eq!(status, 200, "{h}: {v}");
        }
    }
    // The migrated registry serves WHOIS and takes writes.
    assert!(whois_client(server.whois, "antigo0.pt").contains("antigo0.pt"));
    let ptreg = &regs["ptreg"];
    let (status, v) = http_call(
        &agent,
        "POST",
        &server.url("/api/v1/domains"),
        Some(ptreg["api_key"].as_str().unwrap()),
        Some(&domain_body("novo-depois-da-migracao.pt", ptreg["contacts"]["org"].as_str().unwrap())),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(server.terminate().code(), Some(0));

    let (code, stdout, stderr) = run(&["check", "--deep", "--config", c]);
    assert_eq!(code, 0, "check --deep after the migration: {stdout} {stderr}");
    assert!(!stdout.contains("finding:"), "{stdout}");

    // The query log: every query of the older binary, now in blocks, readable.
    {
        let store = nicbox::store::Store::open(&db).unwrap();
        let r = store.read().unwrap();
        assert_eq!(r.schema_version().unwrap(), Some(nicbox::store::SCHEMA_VERSION));
        let log = r.query_log(None, nicbox::model::Timestamp(0), 10_000, false).unwrap();
        for q in expected["queries"].as_array().unwrap() {
            let q = q.as_str().unwrap();
            assert!(log.iter().any(|e| e.query == q), "query {q} of the version 1 log: {log:?}");
        }
    }

    // The copy kept before the migration: one, and it is the version 1 file as it was.
    let copies = migration_copies(&data);
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = nicbox::store::ReadOnlyStore::open(&copies[0]).unwrap();
    let r = copy.read().unwrap();
    assert_eq!(r.schema_version().unwrap(), Some(1));
    let domains = expected["domains"].as_object().unwrap().len() as u64;
    assert_eq!(r.count_domains().unwrap(), domains, "the copy holds the domains of the file as it was");
    drop(r);
    drop(copy);
    // Opening the migrated file again makes no new copy.
    let server = Server::serve(&config);
    assert!(!server.logged("kept a copy"));
    assert_eq!(server.terminate().code(), Some(0));
    assert_eq!(migration_copies(&data).len(), 1);
}
