//! Failed authentications counted per key (a user name, an address), for throttling: after `max`
//! failures within `window` of the first, the key is refused until the window ends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

struct Failures {
    count: u32,
    since: Instant,
}

/// Keys kept before expired entries are swept (a bound on memory under a spray of addresses).
const KEYS_MAX: usize = 100_000;

pub struct Lockout {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Failures>>,
}

impl Lockout {
    pub fn new(max: u32, window: Duration) -> Lockout {
        Lockout { max, window, failures: Mutex::new(HashMap::new()) }
    }

    /// How long the first of `keys` that is locked out stays so; None when none is.
    pub fn blocked(&self, keys: &[String]) -> Option<Duration> {
        let Ok(f) = self.failures.lock() else { return Some(self.window) };
        keys.iter()
            .filter_map(|k| f.get(k))
            .filter(|x| x.count >= self.max)
            .filter_map(|x| self.window.checked_sub(x.since.elapsed()))
            .max()
    }

    /// Whole seconds (at least 1, rounded up) until the first of `keys` that is locked out is
    /// let in again: the value of a `Retry-After` header. None when none is locked out.
    pub fn retry_after(&self, keys: &[String]) -> Option<u64> {
        self.blocked(keys).map(|left| left.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// How long a lock-out lasts at most.
    pub fn window(&self) -> Duration {
        self.window
    }

    pub fn fail(&self, keys: &[String]) {
        let Ok(mut f) = self.failures.lock() else { return };
        if f.len() > KEYS_MAX {
            f.retain(|_, x| x.since.elapsed() < self.window);
        }
        for k in keys {
            let e = f.entry(k.clone()).or_insert(Failures { count: 0, since: Instant::now() });
            if e.since.elapsed() >= self.window {
                *e = Failures { count: 0, since: Instant::now() };
            }
            e.count += 1;
        }
    }

    pub fn clear(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_per_key_until_the_window_ends() {
        let l = Lockout::new(3, Duration::from_millis(300));
        let (a, b) = ("ip:192.0.2.1".to_string(), "ip:192.0.2.2".to_string());
        for _ in 0..2 {
            l.fail(std::slice::from_ref(&a));
        }
        assert_eq!(l.blocked(std::slice::from_ref(&a)), None);
        l.fail(std::slice::from_ref(&a));
        let left = l.blocked(std::slice::from_ref(&a)).expect("locked after 3");
        assert!(left <= Duration::from_millis(300));
        assert_eq!(l.retry_after(std::slice::from_ref(&a)), Some(1), "rounded up to a whole second");
        assert_eq!(l.retry_after(std::slice::from_ref(&b)), None);
        assert_eq!(l.blocked(std::slice::from_ref(&b)), None, "another key is not affected");
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(l.blocked(std::slice::from_ref(&a)), None, "the window ended");
        l.fail(std::slice::from_ref(&a));
        assert_eq!(l.blocked(std::slice::from_ref(&a)), None, "a new window counts from one");
        l.clear(&a);
    }
}
