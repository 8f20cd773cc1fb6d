//! Store tests: the database against a simple in-memory model under random operations, schema
//! version checks, and backups.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::{Domain, Timestamp};

fn domain(name: &str, registrar: &str, expires: i64) -> Domain {
    Domain {
        name: name.into(),
        unicode_name: name.into(),
        roid: format!("R-{name}"),
        zone: "pt".into(),
        tld: "pt".into(),
        registrar: registrar.into(),
        registrant: "C1".into(),
        admin: "C1".into(),
        tech: None,
        billing: None,
        nameservers: if expires % 2 == 0 {
            vec![crate::model::Nameserver { name: format!("ns{}.example.net", expires % 3), addresses: vec![] }]
        } else {
            vec![]
        },
        ds: vec![],
        statuses: vec![],
        created: Timestamp(0),
        expires: Timestamp(expires),
        updated: Timestamp(0),
        auto_renew: true,
        auth_code: "x".into(),
        auth_code_issued: Timestamp(0),
        deleted: None,
        registration_basis: None,
        legitimacy: None,
        owner_visible: true,
        pending_registrant: None,
        pending_since: None,
        due: Timestamp(expires),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put { name: u8, registrar: u8, expires: u8 },
    Remove { name: u8 },
    Abort { name: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..20, 0u8..3, 0u8..10).prop_map(|(name, registrar, expires)| Op::Put { name, registrar, expires }),
        (0u8..20).prop_map(|name| Op::Remove { name }),
        (0u8..20).prop_map(|name| Op::Abort { name }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The store's records and both indexes always agree with a BTreeMap model.
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create(&dir.path().join("t.redb")).unwrap();
        let mut model: BTreeMap<String, Domain> = BTreeMap::new();
        for op in ops {
            let mut tx = store.write().unwrap();
            match op {
                Op::Put { name, registrar, expires } => {
                    let n = format!("d{name}.pt");
                    let d = domain(&n, &format!("r{registrar}"), i64::from(expires));
                    let old = tx.domain(&n).unwrap();
                    tx.put_domain(old.as_ref(), &d).unwrap();
                    tx.commit().unwrap();
                    model.insert(n, d);
                }
                Op::Remove { name } => {
                    let n = format!("d{name}.pt");
                    if let Some(old) = tx.domain(&n).unwrap() {
                        tx.remove_domain(&old).unwrap();
                    }
                    tx.commit().unwrap();
                    model.remove(&n);
                }
                Op::Abort { name } => {
                    let n = format!("d{name}.pt");
                    tx.put_domain(None, &domain(&n, "zz", 99)).unwrap();
                    tx.abort().unwrap();
                }
            }
        }
        let r = store.read().unwrap();
        for (n, d) in &model {
            let got = r.domain(n).unwrap();
            prop_assert_eq!(got.as_ref(), Some(d));
        }
        prop_assert_eq!(r.count_domains().unwrap(), model.len() as u64);
        for reg in ["r0", "r1", "r2", "zz"] {
            let want: Vec<String> = model.values().filter(|d| d.registrar == reg).map(|d| d.name.clone()).collect();
            prop_assert_eq!(r.domain_names_of(reg, None, 1000).unwrap(), want);
        }
        let mut want: Vec<(Timestamp, String)> = model.values().map(|d| (d.expires, d.name.clone())).collect();
        want.sort();
        prop_assert_eq!(r.due(Timestamp(i64::MAX), 1000).unwrap(), want);
        let problems = r.audit(&|_| vec![]).unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
    }
}

#[test]
fn newer_schema_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    {
        let s = Store::create(&path).unwrap();
        let mut tx = s.write().unwrap();
        tx.put_meta("schema_version", &(SCHEMA_VERSION + 1).to_le_bytes()).unwrap();
        tx.commit().unwrap();
    }
    let e = Store::open(&path).err().unwrap();
    assert!(matches!(e, StoreError::TooNew { .. }));
    assert!(e.to_string().contains("newer"), "{e}");
}

#[test]
fn create_refuses_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    Store::create(&path).unwrap();
    assert!(matches!(Store::create(&path), Err(StoreError::Exists(_))));
}

#[test]
fn backup_is_a_complete_copy_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create(&dir.path().join("t.redb")).unwrap();
    let mut tx = s.write().unwrap();
    for i in 0..50 {
        tx.put_domain(None, &domain(&format!("b{i}.pt"), "r", i)).unwrap();
    }
    tx.counter_add("domains.all", 50).unwrap();
    tx.commit().unwrap();
    let out = dir.path().join("backup.redb");
    let report = s.backup_to(&out).unwrap();
    assert_eq!(report.domains, 50);
    assert!(s.backup_to(&out).is_err(), "a second backup must not overwrite the first");
    drop(s);
    let b = Store::open(&out).unwrap();
    let r = b.read().unwrap();
    assert_eq!(r.count_domains().unwrap(), 50);
    assert_eq!(r.counter("domains.all").unwrap(), 50);
    assert_eq!(r.domain("b7.pt").unwrap().unwrap().expires, Timestamp(7));
    assert_eq!(r.domain_names_of("r", None, 100).unwrap().len(), 50);
}

#[test]
fn counters_move_by_difference_and_vanish_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create(&dir.path().join("t.redb")).unwrap();
    let mut tx = s.write().unwrap();
    tx.counters_move(&[], &["a".into(), "b".into()]).unwrap();
    tx.counters_move(&["a".into(), "b".into()], &["b".into(), "c".into()]).unwrap();
    assert_eq!(tx.counter("a").unwrap(), 0);
    assert_eq!(tx.counter("b").unwrap(), 1);
    assert_eq!(tx.counter("c").unwrap(), 1);
    assert_eq!(tx.counters_with_prefix("").unwrap().len(), 1 + 1);
    tx.commit().unwrap();
}
