//! Registry instants: whole seconds since the Unix epoch, UTC.
//!
//! Seconds are enough for a registry (EPP and RDAP show seconds), sort as integers in the expiry
//! index, and encode small. Calendar arithmetic (adding years) goes through the `time` crate.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, Month, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

pub const SECS_PER_DAY: i64 = 86_400;

impl Timestamp {
    fn to_odt(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 in UTC, `2026-11-22T10:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        self.rfc3339().to_string()
    }

    /// RFC 3339 in UTC, written where it is displayed (no allocation).
    pub fn rfc3339(self) -> Rfc3339Utc {
        Rfc3339Utc(self)
    }

    /// The .pt directory's format: `dd/mm/yyyy HH:MM:SS` (UTC).
    pub fn to_pt(self) -> String {
        let t = self.to_odt();
        format!(
            "{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
            t.day(),
            u8::from(t.month()),
            t.year(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// `yyyy-mm-dd` (UTC), for day counters.
    pub fn day_key(self) -> String {
        let t = self.to_odt();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    }

    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        OffsetDateTime::parse(text, &Rfc3339).ok().map(|t| Timestamp(t.unix_timestamp()))
    }

    pub fn year(self) -> i32 {
        self.to_odt().year()
    }

    /// The same calendar instant `years` later (29 February becomes 28 February).
    pub fn add_years(self, years: i32) -> Timestamp {
        let t = self.to_odt();
        let year = t.year().saturating_add(years);
        let day =
            if t.month() == Month::February && t.day() == 29 && !time::util::is_leap_year(year) { 28 } else { t.day() };
        match t.date().replace_day(1).and_then(|d| d.replace_year(year)).and_then(|d| d.replace_day(day)) {
            Ok(date) => Timestamp(t.replace_date(date).unix_timestamp()),
            // Beyond the calendar's range (year 9999): saturate rather than fail.
            Err(_) => Timestamp(i64::MAX / 2),
        }
    }

    pub fn add_days(self, days: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(days.saturating_mul(SECS_PER_DAY)))
    }

    pub fn add_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Timestamp) -> i64 {
        Duration::seconds(later.0 - self.0).whole_days()
    }
}

/// A timestamp shown (`Display`) as RFC 3339 in UTC.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339Utc(Timestamp);

impl Rfc3339Utc {
    /// The text, written digit by digit for the years 0 to 9999 (every answer of the directory
    /// carries four dates: `fmt`'s padded integers were a measurable share of an RDAP answer).
    pub fn text(self) -> Option<[u8; 20]> {
        let t = self.0.to_odt();
        let year = u16::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
        let mut b = *b"0000-00-00T00:00:00Z";
        let two = |b: &mut [u8; 20], at: usize, v: u8| {
            b[at] = b'0' + v / 10;
            b[at + 1] = b'0' + v % 10;
        };
        two(&mut b, 0, (year / 100) as u8);
        two(&mut b, 2, (year % 100) as u8);
        two(&mut b, 5, u8::from(t.month()));
        two(&mut b, 8, t.day());
        two(&mut b, 11, t.hour());
        two(&mut b, 14, t.minute());
        two(&mut b, 17, t.second());
        Some(b)
    }
}

impl std::fmt::Display for Rfc3339Utc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(b) = self.text()
            && let Ok(text) = std::str::from_utf8(&b)
        {
            return f.write_str(text);
        }
        let t = self.0.to_odt();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digit-by-digit text agrees with the time crate's RFC 3339 over the years 0 to 9999.
    #[test]
    fn rfc3339_text_matches_the_time_crate() {
        let first = OffsetDateTime::parse("0000-01-01T00:00:00Z", &Rfc3339).unwrap().unix_timestamp();
        let last = OffsetDateTime::parse("9999-12-31T23:59:59Z", &Rfc3339).unwrap().unix_timestamp();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let span = (last - first) as u64;
        let samples = (0..20_000).map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            first + (x % (span + 1)) as i64
        });
        for secs in samples.chain([first, last, 0, 951_782_400, 4_107_542_399]) {
            let want = OffsetDateTime::from_unix_timestamp(secs).unwrap().format(&Rfc3339).unwrap();
            assert_eq!(Timestamp(secs).rfc3339().to_string(), want, "{secs}");
        }
        assert!(Timestamp(first - 1).rfc3339().text().is_none(), "a negative year takes the general path");
    }

    #[test]
    fn formats() {
        let t = Timestamp::parse_rfc3339("2026-11-22T10:00:05Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:00:05Z");
        assert_eq!(t.to_pt(), "22/11/2026 10:00:05");
        assert_eq!(t.day_key(), "2026-11-22");
        assert_eq!(t.year(), 2026);
    }

    #[test]
    fn years_follow_the_calendar() {
        let t = Timestamp::parse_rfc3339("2024-02-29T12:00:00Z").unwrap();
        assert_eq!(t.add_years(1).to_rfc3339(), "2025-02-28T12:00:00Z");
        assert_eq!(t.add_years(4).to_rfc3339(), "2028-02-29T12:00:00Z");
        let u = Timestamp::parse_rfc3339("2026-01-31T00:00:00Z").unwrap();
        assert_eq!(u.add_years(3).to_rfc3339(), "2029-01-31T00:00:00Z");
    }

    #[test]
    fn offsets_are_accepted_and_stored_as_utc() {
        let t = Timestamp::parse_rfc3339("2026-11-22T11:00:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:00:00Z");
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
    }
}
