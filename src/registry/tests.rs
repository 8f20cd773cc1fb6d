//! Registry tests (tier 1): the service layer and its writer on a temporary database.

use super::error::{Code, RegistryError, err};
use super::writer::Writer;
use crate::store::Store;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create(&dir.path().join("t.redb")).unwrap();
    (dir, s)
}

/// A command that fails after writing (a bug the writer must contain) leaves nothing behind,
/// and the commands batched with it are applied; so is one that panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_failing_after_writing_is_rolled_back_alone() {
    let (_dir, store) = store();
    let (writer, _t) = Writer::start(store.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60u32 {
        let w = writer.clone();
        tasks.spawn(async move {
            let r: Result<(), RegistryError> = w
                .submit(move |tx| {
                    tx.counter_add(&format!("k{i}"), 1)?;
                    match i % 3 {
                        0 => err(Code::Internal, "failed after writing"),
                        1 if i == 7 => panic!("a buggy command"),
                        _ => Ok(()),
                    }
                })
                .await;
            (i, r)
        });
    }
    while let Some(res) = tasks.join_next().await {
        let (i, r) = res.unwrap();
        let stored = store.read().unwrap().counter(&format!("k{i}")).unwrap();
        if i % 3 == 0 || i == 7 {
            assert!(r.is_err(), "command {i} must be refused");
            assert_eq!(stored, 0, "command {i} left a write behind");
        } else {
            assert!(r.is_ok(), "command {i}: {r:?}");
            assert_eq!(stored, 1, "command {i} was lost");
        }
    }
}

/// Many submitters are served in few transactions (group commit), every answer after its commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_share_commits() {
    let (_dir, store) = store();
    let (writer, _t) = Writer::start(store.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..200 {
        let w = writer.clone();
        tasks.spawn(async move {
            w.submit(|tx| {
                tx.counter_add("n", 1)?;
                Ok(tx.next_seq("txn-check")?)
            })
            .await
            .unwrap()
        });
    }
    let mut n = 0;
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
        n += 1;
    }
    assert_eq!(n, 200);
    assert_eq!(store.read().unwrap().counter("n").unwrap(), 200);
}
