//! The single writer: one thread owns every write transaction (group commit).
//!
//! Commands arrive on a bounded channel. The writer takes every command waiting (up to
//! `WRITER_BATCH_MAX`), applies them in one transaction, commits once durably, and only then
//! answers each. A command that breaks a rule returns its error before writing anything (the
//! rule of every command in `registry`), so it leaves nothing in the batch. Should a command fail
//! after writing (a bug, or a panic), the writer aborts the transaction and runs the batch again
//! without it: its error stands and the others are unaffected.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::error::{Code, RegistryError};
use crate::limits::{WRITER_BATCH_MAX, WRITER_QUEUE_MAX};
use crate::store::{Store, WriteTx};

/// A command as the writer sees it: run it (maybe more than once), then answer it.
trait Job: Send {
    /// Runs against the transaction and keeps the outcome; true when it succeeded.
    fn run(&mut self, tx: &mut WriteTx) -> bool;
    /// Marks the outcome as failed with `e` (a panic, or a failure after writing).
    fn fail(&mut self, e: RegistryError);
    /// Sends the outcome; `commit` is the commit's failure, if it failed.
    fn answer(self: Box<Self>, commit: Option<&RegistryError>);
}

struct Typed<T, F> {
    f: F,
    outcome: Option<Result<T, RegistryError>>,
    reply: oneshot::Sender<Result<T, RegistryError>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send,
    F: FnMut(&mut WriteTx) -> Result<T, RegistryError> + Send,
{
    fn run(&mut self, tx: &mut WriteTx) -> bool {
        let r = (self.f)(tx);
        let ok = r.is_ok();
        self.outcome = Some(r);
        ok
    }

    fn fail(&mut self, e: RegistryError) {
        self.outcome = Some(Err(e));
    }

    fn answer(self: Box<Self>, commit: Option<&RegistryError>) {
        let Typed { f, outcome, reply } = *self;
        // The command (and whatever it holds, such as a registry handle) goes before the answer,
        // so a submitter that closes the registry on its answer finds no clone left here.
        drop(f);
        let answer = match (outcome, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(_)), Some(c)) => Err(c.clone()),
            (Some(Ok(v)), None) => Ok(v),
            (None, Some(c)) => Err(c.clone()),
            (None, None) => Err(RegistryError::new(Code::Internal, "command was never run")),
        };
        // The submitter may have gone away (client disconnected); the change stands regardless.
        let _ = reply.send(answer);
    }
}

/// The handle commands are submitted through. Cloning it is cheap; the writer stops when every
/// handle has been dropped and the queue is empty.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
    stats: Arc<WriterStats>,
}

/// What the writer has done (for `/metrics`): commands per commit is the group commit's gain.
#[derive(Default)]
pub struct WriterStats {
    pub commits: AtomicU64,
    pub commands: AtomicU64,
}

/// How long a batch may wait for the commands its predecessor had (see `gather`): 400 µs, or
/// `NICBOX_GATHER_US` (for benchmarks: 0 turns the wait off).
fn gather_max() -> Duration {
    static MAX: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let us = std::env::var("NICBOX_GATHER_US").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
        Duration::from_micros(us)
    })
}
const GATHER_POLL: Duration = Duration::from_micros(20);

impl Writer {
    pub fn start(store: Store) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(WRITER_QUEUE_MAX);
        let stats = Arc::new(WriterStats::default());
        let s = stats.clone();
        let handle = std::thread::Builder::new()
            .name("nicbox-writer".into())
            .spawn(move || run(store, rx, &s))
            // Failing to start a thread at start-up leaves nothing to serve with.
            .expect("cannot start the writer thread");
        (Writer { tx, stats }, handle)
    }

    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    /// Submits a command and waits for its durable answer.
    pub async fn submit<T, F>(&self, f: F) -> Result<T, RegistryError>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteTx) -> Result<T, RegistryError> + Send + 'static,
    {
        let answer = self.enqueue(f).await?;
        answer.await.unwrap_or_else(|_| Err(RegistryError::new(Code::Unavailable, "the writer has stopped")))
    }

    /// Queues a command and returns where its answer will arrive, without waiting for it:
    /// commands enqueued one after another run in that order.
    pub async fn enqueue<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, RegistryError>>, RegistryError>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteTx) -> Result<T, RegistryError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Typed { f, outcome: None, reply });
        if self.tx.send(job).await.is_err() {
            return Err(RegistryError::new(Code::Unavailable, "the writer has stopped"));
        }
        Ok(answer)
    }
}

fn run(store: Store, mut rx: mpsc::Receiver<Box<dyn Job>>, stats: &WriterStats) {
    let mut last = 0;
    loop {
        // What is already waiting as the last answers leave was sent by other clients: those
        // answered cannot have sent their next command yet.
        let mut batch = Vec::new();
        take_waiting(&mut rx, &mut batch);
        let others = batch.len();
        if batch.is_empty() {
            match rx.blocking_recv() {
                Some(job) => batch.push(job),
                None => break,
            }
        }
        gather(&mut rx, &mut batch, (last + others).clamp(1, WRITER_BATCH_MAX));
        last = batch.len();
        stats.commands.fetch_add(batch.len() as u64, Ordering::Relaxed);
        stats.commits.fetch_add(1, Ordering::Relaxed);
        apply_batch(&store, batch);
    }
    tracing::debug!("writer stopped");
}

fn take_waiting(rx: &mut mpsc::Receiver<Box<dyn Job>>, batch: &mut Vec<Box<dyn Job>>) {
    while batch.len() < WRITER_BATCH_MAX {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
}

/// Adds what is waiting to the batch, and waits a little (at most `gather_max`) until it holds
/// `target` commands: the clients of the last batch plus those that were already waiting.
/// Clients that each keep one command in flight (EPP sessions) send their next command just
/// after their answer; a commit that leaves without them costs a whole extra commit (an fsync),
/// and without the wait 16 sessions settle into two groups of 8 taking turns. A lone client's
/// target is its own one command, so it never waits.
fn gather(rx: &mut mpsc::Receiver<Box<dyn Job>>, batch: &mut Vec<Box<dyn Job>>, target: usize) {
    let deadline = Instant::now() + gather_max();
    loop {
        take_waiting(rx, batch);
        if batch.len() >= target || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(GATHER_POLL);
    }
}

fn apply_batch(store: &Store, mut batch: Vec<Box<dyn Job>>) {
    let mut excluded = vec![false; batch.len()];
    let commit_error = loop {
        let mut tx = match store.write() {
            Ok(tx) => tx,
            Err(e) => break Some(RegistryError::from(e)),
        };
        let mut replay = false;
        for (i, job) in batch.iter_mut().enumerate() {
            if excluded[i] {
                continue;
            }
            let writes_before = tx.writes();
            let ok = match catch_unwind(AssertUnwindSafe(|| job.run(&mut tx))) {
                Ok(ok) => ok,
                Err(_) => {
                    tracing::error!("a registry command panicked; it is refused and its batch replayed");
                    job.fail(RegistryError::new(Code::Internal, "internal error"));
                    excluded[i] = true;
                    replay = true;
                    break;
                }
            };
            if !ok && tx.writes() != writes_before {
                tracing::error!("a registry command failed after writing; replaying its batch without it");
                excluded[i] = true;
                replay = true;
                break;
            }
        }
        if replay {
            let _ = tx.abort();
            continue;
        }
        match tx.commit() {
            Ok(()) => break None,
            Err(e) => break Some(RegistryError::from(e)),
        }
    };
    if let Some(e) = &commit_error {
        tracing::error!(error = %e.detail, "commit failed; every command of the batch is answered with an error");
    }
    for job in batch {
        job.answer(commit_error.as_ref());
    }
}
