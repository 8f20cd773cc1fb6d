//! Store tests: the database against a simple in-memory model under random operations, schema
//! version checks, and backups.

use std::collections::BTreeMap;

use proptest::prelude::*;
use redb::ReadableTableMetadata;

use super::abuse::QUERY_LOG_BLOCK_ROWS;
use super::*;
use crate::model::{Domain, QueryLogBlock, QueryLogEntry, Timestamp};

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
        // Undelegated (no nameserver here): the index's range, in name order, paged.
        let bare: Vec<String> = model.values().filter(|d| d.nameservers.is_empty()).map(|d| d.name.clone()).collect();
        let got: Vec<String> =
            r.names_with_few_nameservers(1, "", None, 1000).unwrap().into_iter().map(|(_, a)| a).collect();
        prop_assert_eq!(&got, &bare);
        if bare.len() > 2 {
            let page: Vec<String> = r
                .names_with_few_nameservers(1, "", Some(&bare[0]), 2)
                .unwrap()
                .into_iter()
                .map(|(_, a)| a)
                .collect();
            prop_assert_eq!(page, bare[1..3].to_vec());
        }
        let all = r.names_with_few_nameservers(2, "d1", None, 1000).unwrap();
        prop_assert_eq!(all.len(), model.keys().filter(|n| n.starts_with("d1")).count());
        let problems = r.audit(&|_| vec![]).unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
    }
}

/// A schema 2 file (no nameserver-count index) is migrated at open: the index is filled from
/// the records, the audit finds it whole, and the file as it was is kept beside it.
#[test]
fn a_schema_2_database_gets_its_nameserver_count_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    {
        let s = Store::create(&path).unwrap();
        let mut tx = s.write().unwrap();
        for i in 0..300i64 {
            tx.put_domain(None, &domain(&format!("m{i:03}.pt"), "r0", i)).unwrap();
        }
        assert!(tx.txn.delete_table(DOMAINS_BY_NS_COUNT).unwrap());
        tx.put_meta("schema_version", &2u32.to_le_bytes()).unwrap();
        tx.commit().unwrap();
        let r = s.read().unwrap();
        assert!(r.names_with_few_nameservers(1, "", None, 10).is_err(), "no index before the migration");
    }
    let s = Store::open(&path).unwrap();
    let r = s.read().unwrap();
    assert_eq!(r.schema_version().unwrap(), Some(3));
    let problems = r.audit(&|_| vec![]).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let bare = r.names_with_few_nameservers(1, "", None, 1000).unwrap();
    assert_eq!(bare.len(), 150, "odd expiries have no nameserver");
    assert_eq!(bare[0].1, "m001.pt");
    let kept = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with("t.redb.v2-backup-"));
    assert!(kept, "a copy of the schema 2 file is kept beside it");
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
    // Held in the transaction, written once at commit: what was committed reads back, an
    // aborted transaction's moves vanish, and stored and moved counters merge under a prefix.
    let r = s.read().unwrap();
    assert_eq!((r.counter("a").unwrap(), r.counter("b").unwrap(), r.counter("c").unwrap()), (0, 1, 1));
    assert_eq!(r.counters_with_prefix("").unwrap().len(), 2);
    let mut tx = s.write().unwrap();
    tx.counter_add("b", -1).unwrap();
    tx.counter_add("d", 5).unwrap();
    assert_eq!(tx.next_seq("x").unwrap(), 1);
    assert_eq!(tx.next_seq_by("x", 10).unwrap(), 2);
    assert_eq!(tx.next_seq("x").unwrap(), 12);
    assert_eq!(tx.counters_with_prefix("").unwrap(), vec![("c".into(), 1), ("d".into(), 5), ("seq:x".into(), 12)]);
    tx.abort().unwrap();
    assert_eq!(s.read().unwrap().counters_with_prefix("").unwrap(), vec![("b".into(), 1), ("c".into(), 1)]);
    let mut tx = s.write().unwrap();
    assert_eq!(tx.next_seq("x").unwrap(), 1, "the aborted sequence numbers were never handed out");
    tx.counter_add("b", -1).unwrap();
    tx.commit().unwrap();
    assert_eq!(s.read().unwrap().counters_with_prefix("").unwrap(), vec![("c".into(), 1), ("seq:x".into(), 1)]);
}

fn logged(at: i64, origin: &str, query: &str) -> QueryLogEntry {
    QueryLogEntry {
        at: Timestamp(at),
        origin: origin.into(),
        protocol: if at % 2 == 0 { "whois".into() } else { "rdap".into() },
        query: query.into(),
        outcome: crate::model::QueryOutcome::Found,
    }
}

fn block(entries: &[QueryLogEntry]) -> QueryLogBlock {
    let mut b = QueryLogBlock::default();
    for e in entries {
        b.push(e.clone());
    }
    b
}

/// The query log in blocks reads back every entry, by time window and by origin, in both orders,
/// and purges whole blocks once all their entries are past retention.
#[test]
fn query_log_blocks_read_by_origin_and_window_and_purge() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create(&dir.path().join("t.redb")).unwrap();
    let all: Vec<QueryLogEntry> = (0..30)
        .map(|i| logged(100 + i, ["192.0.2.1", "192.0.2.2", "2001:db8::/64"][i as usize % 3], &format!("q{i}.pt")))
        .collect();
    for chunk in all.chunks(7) {
        let mut tx = s.write().unwrap();
        tx.append_query_log(&block(chunk)).unwrap();
        tx.commit().unwrap();
    }
    let r = s.read().unwrap();
    assert_eq!(r.query_log(None, Timestamp(0), 1000, false).unwrap(), all);
    let mut newest = all.clone();
    newest.reverse();
    assert_eq!(r.query_log(None, Timestamp(0), 1000, true).unwrap(), newest);
    // A window starting inside a block, and a limit that ends inside one.
    assert_eq!(r.query_log(None, Timestamp(110), 1000, false).unwrap(), all[10..].to_vec());
    assert_eq!(r.query_log(None, Timestamp(110), 4, true).unwrap(), newest[..4].to_vec());
    let of_2: Vec<QueryLogEntry> = all.iter().filter(|e| e.origin == "192.0.2.2").cloned().collect();
    assert_eq!(r.query_log(Some("192.0.2.2"), Timestamp(0), 1000, false).unwrap(), of_2);
    assert_eq!(
        r.query_log(Some("192.0.2.2"), Timestamp(0), 3, true).unwrap(),
        of_2.iter().rev().take(3).cloned().collect::<Vec<_>>()
    );
    assert_eq!(r.query_log(Some("192.0.2.9"), Timestamp(0), 1000, false).unwrap(), vec![]);
    assert!(r.query_log_has_before(Timestamp(107)).unwrap());
    assert!(!r.query_log_has_before(Timestamp(106)).unwrap());
    drop(r);

    // Blocks end at 106, 113, 120, 127, 129: before 121, three go whole; the one holding 121 stays.
    let mut tx = s.write().unwrap();
    assert_eq!(tx.purge_query_log(Timestamp(121), 1_000_000).unwrap(), 21);
    tx.commit().unwrap();
    let r = s.read().unwrap();
    assert_eq!(r.query_log(None, Timestamp(0), 1000, false).unwrap(), all[21..].to_vec());
    let of_1: Vec<QueryLogEntry> = all[21..].iter().filter(|e| e.origin == "192.0.2.1").cloned().collect();
    assert_eq!(r.query_log(Some("192.0.2.1"), Timestamp(0), 1000, false).unwrap(), of_1);
    // The purged blocks' origin index entries went with them: the block of 21-27 has all three
    // origins, the one of 28-29 two.
    let idx = r.txn.open_table(QUERY_LOG_BLOCK_ORIGINS).unwrap();
    assert_eq!(idx.iter().unwrap().count(), 3 + 2);
}

/// A version 1 database (a record per query) opens as the current version with the same entries
/// in blocks and without the old tables.
#[test]
fn schema_1_query_log_migrates_to_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let n = QUERY_LOG_BLOCK_ROWS as i64 + 5;
    let all: Vec<QueryLogEntry> =
        (0..n).map(|i| logged(1_000 + i / 10, if i % 4 == 0 { "192.0.2.4" } else { "192.0.2.5" }, "x.pt")).collect();
    {
        let s = Store::create(&path).unwrap();
        let mut tx = s.write().unwrap();
        {
            let mut log = tx.txn.open_table(legacy::QUERY_LOG).unwrap();
            let mut idx = tx.txn.open_table(legacy::QUERY_LOG_BY_ORIGIN).unwrap();
            for (seq, e) in all.iter().enumerate() {
                log.insert((e.at.0, seq as u64), codec::encode(e).unwrap().as_slice()).unwrap();
                idx.insert((e.origin.as_str(), e.at.0, seq as u64), ()).unwrap();
            }
        }
        tx.txn.delete_table(QUERY_LOG_BLOCKS).unwrap();
        tx.txn.delete_table(QUERY_LOG_BLOCK_ORIGINS).unwrap();
        tx.put_meta("schema_version", &1u32.to_le_bytes()).unwrap();
        tx.commit().unwrap();
    }
    let s = Store::open(&path).unwrap();
    let r = s.read().unwrap();
    assert_eq!(r.schema_version().unwrap(), Some(SCHEMA_VERSION));
    assert_eq!(r.query_log(None, Timestamp(0), usize::MAX, false).unwrap(), all);
    let of_4: Vec<QueryLogEntry> = all.iter().filter(|e| e.origin == "192.0.2.4").cloned().collect();
    assert_eq!(r.query_log(Some("192.0.2.4"), Timestamp(0), usize::MAX, false).unwrap(), of_4);
    assert_eq!(r.txn.open_table(QUERY_LOG_BLOCKS).unwrap().len().unwrap(), 2, "8,197 entries make two blocks");
    assert!(matches!(r.txn.open_table(legacy::QUERY_LOG), Err(redb::TableError::TableDoesNotExist(_))));
    assert!(matches!(r.txn.open_table(legacy::QUERY_LOG_BY_ORIGIN), Err(redb::TableError::TableDoesNotExist(_))));
}

#[test]
fn a_cached_directory_snapshot_does_not_keep_freed_pages() {
    // The directory's snapshot is cached between lookups; one kept across commits would hold
    // every page those commits free, and the file would grow with each of them.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let s = Store::create(&path).unwrap();
    let value = vec![7u8; 2048];
    let commit = |i: usize| {
        let mut tx = s.write().unwrap();
        tx.put_meta(&format!("k{}", i % 8), &value).unwrap();
        tx.commit().unwrap();
    };
    (0..50).for_each(commit);
    drop(s.directory().unwrap());
    let before = std::fs::metadata(&path).unwrap().len();
    (0..1000).for_each(commit);
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after <= before + 256 * 1024, "1,000 small commits grew the file from {before} to {after} bytes");
}

/// A bulk load leaves the contact, nameserver, due and nameserver-count indexes to its end,
/// which builds them from the records; one that dies before its end has them rebuilt at the
/// next open. Either way the audit finds every index whole.
#[test]
fn a_bulk_load_builds_its_deferred_indexes_at_the_end_or_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let s = Store::create(&path).unwrap();
    {
        let mut tx = s.write().unwrap();
        tx.put_domain(None, &domain("antes.pt", "r0", 4)).unwrap();
        tx.commit().unwrap();
    }
    s.begin_bulk().unwrap();
    for i in 0..200i64 {
        let mut tx = s.write().unwrap();
        tx.put_domain(None, &domain(&format!("b{i:03}.pt"), "r1", i)).unwrap();
        tx.commit().unwrap();
    }
    let problems = s.read().unwrap().audit(&|_| vec![]).unwrap();
    assert!(problems.iter().any(|p| p.contains("missing from the due index")), "deferred: {problems:?}");
    assert!(s.end_bulk().unwrap() > 0);
    let r = s.read().unwrap();
    let problems = r.audit(&|_| vec![]).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(r.due(Timestamp(i64::MAX), 1000).unwrap().len(), 201);
    assert_eq!(r.names_with_few_nameservers(1, "b", None, 1000).unwrap().len(), 100);
    drop(r);
    // After the end, writes index as they go again.
    {
        let mut tx = s.write().unwrap();
        tx.put_domain(None, &domain("depois.pt", "r0", 6)).unwrap();
        tx.commit().unwrap();
    }
    assert!(s.read().unwrap().audit(&|_| vec![]).unwrap().is_empty());
    // A load that never reaches its end.
    s.begin_bulk().unwrap();
    {
        let mut tx = s.write().unwrap();
        tx.put_domain(None, &domain("perdido.pt", "r2", 8)).unwrap();
        tx.commit().unwrap();
    }
    drop(s);
    let s = Store::open(&path).unwrap();
    let r = s.read().unwrap();
    let problems = r.audit(&|_| vec![]).unwrap();
    assert!(problems.is_empty(), "rebuilt at open: {problems:?}");
    assert!(r.due(Timestamp(i64::MAX), 1000).unwrap().iter().any(|(_, n)| n == "perdido.pt"));
    assert!(r.get_meta("bulk_indexes_pending").unwrap().is_none());
}

/// The journal purge: entries up to the published sequence go, later ones and other TLDs'
/// stay; when every entry is the TLD's and none is later, the table goes at once (the same
/// outcome, without a removal per entry).
#[test]
fn journal_purge_keeps_what_is_not_published_and_drops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create(&dir.path().join("t.redb")).unwrap();
    let entry = crate::model::JournalEntry { at: Timestamp(0), before: None, after: None };
    let append = |tld: &str, names: std::ops::Range<u32>| {
        let mut tx = s.write().unwrap();
        for i in names {
            let seq = tx.next_seq("zone_journal").unwrap();
            tx.append_journal(tld, &format!("n{i:04}.{tld}"), seq, &entry).unwrap();
        }
        tx.commit().unwrap();
    };
    let left = |tld: &str| {
        let mut seqs = Vec::new();
        s.read()
            .unwrap()
            .for_each_journal_entry(tld, 0, u64::MAX, |_, seq, _| {
                seqs.push(seq);
                Ok(())
            })
            .unwrap();
        seqs
    };
    let purge = |tld: &str, upto: u64, limit: usize| {
        let mut tx = s.write().unwrap();
        let n = tx.purge_journal(tld, upto, limit).unwrap();
        tx.commit().unwrap();
        n
    };
    append("pt", 0..300); // seqs 1..=300
    append("cv", 0..5); // 301..=305
    // Another TLD's entries: entry by entry, in pages of `limit`.
    assert_eq!(purge("pt", 300, 100), 100);
    assert_eq!(purge("pt", 300, 1000), 200);
    assert!(left("pt").is_empty());
    assert_eq!(left("cv"), (301..=305).collect::<Vec<_>>());
    // Only this TLD's, but one entry is later than what was published: it stays.
    assert_eq!(purge("cv", 304, 1000), 4);
    assert_eq!(left("cv"), vec![305]);
    // Only this TLD's and nothing later: all at once, whatever the limit.
    append("pt", 0..50); // 306..=355
    assert_eq!(purge("cv", 305, 1000), 1);
    assert_eq!(purge("pt", 355, 10), 50);
    assert!(left("pt").is_empty() && left("cv").is_empty());
    assert!(s.read().unwrap().txn.open_table(ZONE_JOURNAL).is_ok(), "the table is there, empty");
    // The next entries go into it as before.
    append("pt", 0..1);
    assert_eq!(left("pt"), vec![356]);
    assert_eq!(purge("pt", 355, 10), 0);
    assert_eq!(left("pt"), vec![356]);
}
