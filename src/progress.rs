//! A progress line on the terminal for long commands (`nicbox import`): how far through its
//! input, lines per second and the time left, rewritten in place at most twice a second on
//! standard error, and only when standard error is a terminal (logs and pipes get nothing).

use std::io::{BufRead, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

/// Wraps the input of a long command and reports how much of it was consumed.
pub struct Progress<R> {
    inner: R,
    what: &'static str,
    total: u64,
    done: u64,
    lines: u64,
    started: Instant,
    shown: Option<Instant>,
    on: bool,
}

const EVERY: Duration = Duration::from_millis(500);

impl<R> Progress<R> {
    /// `total`: the input's size in bytes (0 when unknown: no percentage, no time left).
    pub fn new(inner: R, what: &'static str, total: u64) -> Progress<R> {
        Progress::with_display(inner, what, total, std::io::stderr().is_terminal())
    }

    pub fn with_display(inner: R, what: &'static str, total: u64, on: bool) -> Progress<R> {
        Progress { inner, what, total, done: 0, lines: 0, started: Instant::now(), shown: None, on }
    }

    /// Lines consumed so far.
    pub fn lines_read(&self) -> u64 {
        self.lines
    }

    /// The line as it is shown now.
    pub fn line(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = self.lines as f64 / secs;
        let mut s = format!("{}: {} lines, {:.0} lines/s", self.what, self.lines, rate);
        if self.total > 0 {
            let frac = (self.done as f64 / self.total as f64).min(1.0);
            s = format!("{}: {:>3.0}% ({} lines, {:.0} lines/s", self.what, frac * 100.0, self.lines, rate);
            if frac > 0.0 {
                let left = secs * (1.0 - frac) / frac;
                s.push_str(&format!(", {} left", clock(left)));
            }
            s.push(')');
        }
        s
    }

    fn tick(&mut self) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        if self.shown.is_some_and(|t| now.duration_since(t) < EVERY) {
            return;
        }
        self.shown = Some(now);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", self.line());
        let _ = err.flush();
    }

    /// Clears the line (the command then prints its report).
    pub fn finish(&mut self) {
        if self.on && self.shown.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Progress<()> {
    /// Counts `bytes` of `lines` done, for work that is not a read.
    pub fn step(&mut self, bytes: u64, lines: u64) {
        self.done += bytes;
        self.lines += lines;
        self.tick();
    }
}

fn clock(secs: f64) -> String {
    let s = secs.round() as u64;
    if s >= 60 { format!("{}m{:02}s", s / 60, s % 60) } else { format!("{s}s") }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.tick();
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Progress<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.done += amt as u64;
        self.inner.consume(amt);
        self.tick();
    }
}

impl<R> Drop for Progress<R> {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_bytes_as_they_are_consumed() {
        let text = "a\nbb\nccc\n";
        let mut p = Progress::with_display(std::io::Cursor::new(text), "import", text.len() as u64, false);
        let mut line = String::new();
        p.read_line(&mut line).unwrap();
        assert_eq!(p.lines_read(), 1);
        assert!(p.line().starts_with("import:  22% (1 lines"), "{}", p.line());
        let mut rest = String::new();
        p.read_to_string(&mut rest).unwrap();
        assert_eq!(p.lines_read(), 3);
        assert!(p.line().contains("100% (3 lines"), "{}", p.line());
    }
}
