//! What a background job (the lifecycle job, the zone publisher, the nameserver checker, the
//! query-log writer) does when it fails: it waits longer before each next attempt and logs
//! sparingly, so that a broken store (a database redb has poisoned after an I/O error, a disk
//! that stays full) cannot turn a job into a tight loop that fills the disk with log lines.
//!
//! `Failures` counts the failures in a row of one job. The wait before the next attempt doubles
//! with each (from the job's own pace up to `limits::JOB_BACKOFF_MAX`); the first failure is
//! logged at once, later ones at most once per `limits::JOB_ERROR_LOG_EVERY` with the number left
//! unlogged since; the first success after failures is logged once.

use std::fmt::Display;
use std::time::{Duration, Instant};

use crate::limits::{JOB_BACKOFF_MAX, JOB_ERROR_LOG_EVERY};

#[derive(Debug)]
pub struct Failures {
    job: &'static str,
    in_a_row: u32,
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl Failures {
    pub fn new(job: &'static str) -> Failures {
        Failures { job, in_a_row: 0, last_logged: None, unlogged: 0 }
    }

    /// Failures in a row so far.
    pub fn in_a_row(&self) -> u32 {
        self.in_a_row
    }

    /// Records a failure (logged when the log is due) and returns how long to wait before the
    /// next attempt: `pace` doubled once per failure in a row, at most `JOB_BACKOFF_MAX`.
    pub fn failed(&mut self, what: &str, error: &dyn Display, pace: Duration) -> Duration {
        self.in_a_row = self.in_a_row.saturating_add(1);
        self.note(what, error, Instant::now());
        backoff(pace, self.in_a_row)
    }

    /// Records a failure that does not change the job's pace (one item of a round failed), logged
    /// when the log is due.
    pub fn item_failed(&mut self, what: &str, error: &dyn Display) {
        self.note(what, error, Instant::now());
    }

    /// Records a success: the pace returns to normal, and a recovery is logged once.
    pub fn succeeded(&mut self) {
        if self.in_a_row > 0 || self.unlogged > 0 {
            tracing::info!(job = self.job, failures = self.in_a_row, unlogged = self.unlogged, "job works again");
        }
        self.in_a_row = 0;
        self.unlogged = 0;
        self.last_logged = None;
    }

    /// Logs the error if none was logged in the last `JOB_ERROR_LOG_EVERY`; counts it otherwise.
    /// Whether it was logged.
    fn note(&mut self, what: &str, error: &dyn Display, now: Instant) -> bool {
        let due = self.last_logged.is_none_or(|t| now.duration_since(t) >= JOB_ERROR_LOG_EVERY);
        if due {
            tracing::error!(
                job = self.job,
                error = %error,
                failures_in_a_row = self.in_a_row,
                not_logged_since_last = self.unlogged,
                "{what}"
            );
            self.last_logged = Some(now);
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        due
    }
}

/// `pace` doubled `failures` times, at most `JOB_BACKOFF_MAX` (and never below `pace`).
fn backoff(pace: Duration, failures: u32) -> Duration {
    let doubled = pace.saturating_mul(1u32 << failures.min(16));
    doubled.min(JOB_BACKOFF_MAX.max(pace))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_maximum_and_resets_on_success() {
        let pace = Duration::from_secs(1);
        let mut f = Failures::new("test");
        let waits: Vec<Duration> = (0..12).map(|_| f.failed("x", &"boom", pace)).collect();
        assert_eq!(waits[0], Duration::from_secs(2));
        assert_eq!(waits[1], Duration::from_secs(4));
        assert!(waits.windows(2).all(|w| w[1] >= w[0]), "{waits:?}");
        assert_eq!(*waits.last().unwrap(), JOB_BACKOFF_MAX);
        f.succeeded();
        assert_eq!(f.in_a_row(), 0);
        assert_eq!(f.failed("x", &"boom", pace), Duration::from_secs(2));
        // A pace already above the maximum is kept: backing off never speeds a job up.
        assert_eq!(backoff(JOB_BACKOFF_MAX * 3, 5), JOB_BACKOFF_MAX * 3);
    }

    #[test]
    fn errors_are_logged_once_per_period_however_many_there_are() {
        let mut f = Failures::new("test");
        let t0 = Instant::now();
        let logged = (0..10_000).filter(|_| f.note("x", &"boom", t0)).count();
        assert_eq!(logged, 1, "one line for 10,000 failures within the period");
        assert_eq!(f.unlogged, 9_999);
        assert!(f.note("x", &"boom", t0 + JOB_ERROR_LOG_EVERY), "logged again after the period");
        assert_eq!(f.unlogged, 0);
    }
}
