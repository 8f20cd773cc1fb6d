//! Reference data embedded in the binary: the top-level domains of the ICANN section of the
//! Public Suffix List and the ISO 3166-1 alpha-2 and alpha-3 country codes. The files under
//! `data/` were generated once by `scripts/gen_policy_data.py`; each holds one lower-case entry
//! a line, after `#` comment lines. The sets are built on first use.

use std::collections::HashSet;
use std::sync::LazyLock;

const TLDS_TXT: &str = include_str!("data/tlds.txt");
const ALPHA2_TXT: &str = include_str!("data/iso3166_alpha2.txt");
const ALPHA3_TXT: &str = include_str!("data/iso3166_alpha3.txt");

/// Entries of an embedded data file: trimmed, non-empty, not a `#` comment.
fn entries(text: &'static str) -> HashSet<&'static str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

static TLDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| entries(TLDS_TXT));
static ALPHA2: LazyLock<HashSet<&'static str>> = LazyLock::new(|| entries(ALPHA2_TXT));
static ALPHA3: LazyLock<HashSet<&'static str>> = LazyLock::new(|| entries(ALPHA3_TXT));

/// Whether `label` (a lower-case A-label) is an existing top-level domain.
pub fn is_tld(label: &str) -> bool {
    TLDS.contains(label)
}

/// Whether `code` (lower case) is an ISO 3166-1 alpha-2 code.
pub fn is_alpha2(code: &str) -> bool {
    ALPHA2.contains(code)
}

/// Whether `code` (lower case) is an ISO 3166-1 alpha-3 code.
pub fn is_alpha3(code: &str) -> bool {
    ALPHA3.contains(code)
}

/// Number of embedded top-level domains (for tests).
#[cfg(test)]
pub fn tld_count() -> usize {
    TLDS.len()
}

/// Whether `cc` is an ISO 3166-1 alpha-2 country code, compared case-insensitively
/// (`PT` and `pt` both are).
pub fn is_country_code(cc: &str) -> bool {
    cc.len() == 2 && cc.is_ascii() && is_alpha2(&cc.to_ascii_lowercase())
}
