//! Registry time. Nothing else in nicbox reads the wall clock.
//!
//! Three kinds: the system clock (production), a lab clock (system time plus an offset that the
//! registry stores in its database and that operators move forward in training labs), and a
//! manual clock for tests (a fixed instant moved by hand). The registry stamps `now` into every
//! command, so every rule about time is a function of its inputs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::model::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    System,
    Lab,
    Manual,
}

#[derive(Debug, Clone)]
pub struct Clock {
    kind: ClockKind,
    /// Lab: seconds added to system time. Manual: the absolute time in seconds.
    value: Arc<AtomicI64>,
}

fn system_now_secs() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // A system clock set before 1970 is a broken machine; answer the epoch, not a panic.
        Err(_) => 0,
    }
}

impl Clock {
    pub fn system() -> Clock {
        Clock { kind: ClockKind::System, value: Arc::new(AtomicI64::new(0)) }
    }

    /// A lab clock: system time plus `offset_secs` (kept in the database by the registry).
    pub fn lab(offset_secs: i64) -> Clock {
        Clock { kind: ClockKind::Lab, value: Arc::new(AtomicI64::new(offset_secs)) }
    }

    /// A clock standing still at `at` until moved (tests).
    pub fn manual(at: Timestamp) -> Clock {
        Clock { kind: ClockKind::Manual, value: Arc::new(AtomicI64::new(at.0)) }
    }

    pub fn kind(&self) -> ClockKind {
        self.kind
    }

    pub fn now(&self) -> Timestamp {
        match self.kind {
            ClockKind::System => Timestamp(system_now_secs()),
            ClockKind::Lab => Timestamp(system_now_secs().saturating_add(self.value.load(Ordering::SeqCst))),
            ClockKind::Manual => Timestamp(self.value.load(Ordering::SeqCst)),
        }
    }

    /// The lab offset in seconds (0 for other clocks).
    pub fn offset_secs(&self) -> i64 {
        match self.kind {
            ClockKind::Lab => self.value.load(Ordering::SeqCst),
            _ => 0,
        }
    }

    /// Moves a lab or manual clock forward. Returns false (and does nothing) for the system clock.
    pub fn advance(&self, secs: i64) -> bool {
        match self.kind {
            ClockKind::System => false,
            ClockKind::Lab | ClockKind::Manual => {
                self.value.fetch_add(secs, Ordering::SeqCst);
                true
            }
        }
    }

    /// The real time, whatever registry time says: for security timers (sessions, signed form
    /// tokens) that a lab clock moving forward must not expire.
    pub fn wall_now() -> Timestamp {
        Timestamp(system_now_secs())
    }

    /// Wall-clock milliseconds for measuring durations (logs, timeouts); never registry time.
    pub fn monotonic() -> std::time::Instant {
        std::time::Instant::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = Clock::manual(Timestamp(1_000));
        assert_eq!(c.now(), Timestamp(1_000));
        assert!(c.advance(86_400));
        assert_eq!(c.now(), Timestamp(87_400));
    }

    #[test]
    fn system_clock_cannot_be_moved() {
        let c = Clock::system();
        assert!(!c.advance(10));
        assert!(c.now().0 > 1_700_000_000);
    }

    #[test]
    fn lab_clock_is_system_plus_offset() {
        let c = Clock::lab(10 * 86_400);
        let d = c.now().0 - system_now_secs();
        assert!((10 * 86_400 - 5..=10 * 86_400 + 5).contains(&d));
    }
}
