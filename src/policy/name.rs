//! Domain names as the registry takes them (POLICY.md section 1): splitting the input into
//! labels, folding zone labels for lookup, and checking the one registrable label against a
//! profile's length, hyphen and repertoire rules with UTS #46 (the `idna` crate,
//! non-transitional, STD3 ASCII rules). [`Name`] is the result, [`NameError`] says why a name
//! cannot be registered.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use super::profile::Profile;

/// Longest domain name in A-label form, in bytes (without the trailing dot).
pub const MAX_NAME_BYTES: usize = 253;
/// Longest input looked at, in bytes (after trimming); longer input is refused before any
/// conversion, so the work per call is bounded.
pub const MAX_INPUT_BYTES: usize = 1024;

/// Characters UTS #46 treats as label separators (they all map to `.`).
const DOTS: [char; 4] = ['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'];

/// A syntactically valid name inside one of the registry's zones.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Name {
    /// Full A-label name, lower case, no trailing dot: `xn--aores-yra.pt`.
    pub ascii: String,
    /// Full U-label form: `açores.pt` (equal to `ascii` when not IDN).
    pub unicode: String,
    /// The registrable label as an A-label: `xn--aores-yra`.
    pub label_ascii: String,
    /// The registrable label as a U-label: `açores`.
    pub label_unicode: String,
    /// The zone the name is in: `pt`, `com.pt`, ...
    pub zone: String,
    /// The TLD: `pt`.
    pub tld: String,
}

impl Name {
    /// Whether the label is internationalised (an `xn--` A-label).
    pub fn is_idn(&self) -> bool {
        self.label_ascii.starts_with("xn--")
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ascii)
    }
}

/// Why a name cannot be registered; every variant maps to one API error code ([`NameError::code`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// `invalid_name`: nothing given.
    #[error("the domain name is empty")]
    Empty,
    /// `invalid_name`: the input is over 253 bytes (A-label form) or the label is longer than
    /// the TLD's maximum.
    #[error("the domain name is too long: the label is longer than the TLD allows or the whole name is over 253 bytes")]
    TooLong,
    /// `invalid_name`: not under any TLD of this registry.
    #[error("the domain name is not under a top-level domain of this registry")]
    OtherTld,
    /// `invalid_name`: the TLD itself, a zone itself, or more than one label under a zone.
    #[error(
        "the domain name cannot be registered: it must be exactly one label under a zone of this registry (such as example.pt or example.com.pt)"
    )]
    NotRegistrable,
    /// `invalid_name`: the label breaks the rule given.
    #[error("invalid label: {0}")]
    InvalidLabel(String),
    /// `zone_closed`: the zone (named) takes no new names.
    #[error("the zone {0} is closed: its existing names are kept and renewed, but it takes no new names")]
    ZoneClosed(String),
    /// `reserved_name`: reserved, with the reason.
    #[error("the name is reserved: {0}")]
    Reserved(String),
    /// `reserved_name`: blocked, with the reason.
    #[error("the name is blocked: {0}")]
    Blocked(String),
}

impl NameError {
    /// The API error code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            NameError::Empty
            | NameError::TooLong
            | NameError::OtherTld
            | NameError::NotRegistrable
            | NameError::InvalidLabel(_) => "invalid_name",
            NameError::ZoneClosed(_) => "zone_closed",
            NameError::Reserved(_) | NameError::Blocked(_) => "reserved_name",
        }
    }
}

/// Trim white space, strip one trailing dot and split into labels (on every separator UTS #46
/// knows). Refuses empty input, input over [`MAX_INPUT_BYTES`] and empty labels.
pub(crate) fn split_input(input: &str) -> Result<Vec<&str>, NameError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > MAX_INPUT_BYTES {
        return Err(NameError::TooLong);
    }
    let s = match s.chars().next_back() {
        Some(c) if DOTS.contains(&c) => &s[..s.len() - c.len_utf8()],
        _ => s,
    };
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    let labels: Vec<&str> = s.split(DOTS).collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(NameError::InvalidLabel("empty label (a leading dot, or two dots in a row)".to_owned()));
    }
    Ok(labels)
}

/// A label as UTS #46 writes it in ASCII, leniently (for matching zone and TLD names only);
/// `None` when it cannot be converted.
pub(crate) fn fold_label(raw: &str) -> Option<String> {
    if raw.is_ascii() {
        return Some(raw.to_ascii_lowercase());
    }
    Uts46::new()
        .to_ascii(raw.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow, DnsLength::Ignore)
        .ok()
        .map(|s| s.into_owned())
}

fn char_not_allowed(c: char, tld: &str) -> NameError {
    NameError::InvalidLabel(format!(
        "character {c:?} (U+{:04X}) is not allowed in .{tld}: only a-z, 0-9, '-' and the TLD's IDN characters",
        u32::from(c)
    ))
}

/// Rough script of a character, enough to refuse mixed scripts in a label (the crate has no
/// Unicode script tables; every script outside the three below counts as one "other").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    Common,
    Latin,
    Greek,
    Cyrillic,
    Other,
}

fn script_of(c: char) -> Script {
    match c {
        '0'..='9' | '-' => Script::Common,
        'a'..='z' | 'A'..='Z' => Script::Latin,
        '\u{D7}' | '\u{F7}' => Script::Common,
        '\u{C0}'..='\u{24F}' | '\u{1E00}'..='\u{1EFF}' => Script::Latin,
        '\u{370}'..='\u{3FF}' | '\u{1F00}'..='\u{1FFF}' => Script::Greek,
        '\u{400}'..='\u{52F}' => Script::Cyrillic,
        _ => Script::Other,
    }
}

/// Check a label in Unicode form (mapped by UTS #46: lower case, NFC) against the profile and
/// return its A-label.
fn check_ulabel(u: &str, profile: &Profile, tld: &str) -> Result<String, NameError> {
    let is_idn = !u.is_ascii();
    if is_idn && profile.idn_chars.is_empty() {
        return Err(NameError::InvalidLabel(format!(
            "internationalised names (IDN, non-ASCII characters) are not allowed in .{tld}"
        )));
    }
    if let Some(c) = u.chars().find(|c| !profile.allows_char(*c)) {
        return Err(char_not_allowed(c, tld));
    }
    let mut script = Script::Common;
    for c in u.chars() {
        let s = script_of(c);
        if s == Script::Common {
            continue;
        }
        if script != Script::Common && script != s {
            return Err(NameError::InvalidLabel(format!("the label mixes scripts ({script:?} and {s:?})")));
        }
        script = s;
    }
    if u.starts_with('-') {
        return Err(NameError::InvalidLabel("a label must not start with a hyphen".to_owned()));
    }
    if u.ends_with('-') {
        return Err(NameError::InvalidLabel("a label must not end with a hyphen".to_owned()));
    }
    if u.chars().nth(2) == Some('-') && u.chars().nth(3) == Some('-') {
        return Err(NameError::InvalidLabel(
            "'--' in the third and fourth positions is only allowed in a valid A-label (xn--)".to_owned(),
        ));
    }
    let ascii = if is_idn {
        Uts46::new()
            .to_ascii(u.as_bytes(), AsciiDenyList::STD3, Hyphens::Check, DnsLength::Ignore)
            .map_err(|_| {
                NameError::InvalidLabel(format!("{u:?} is not a valid internationalised label (IDNA, UTS #46)"))
            })?
            .into_owned()
    } else {
        u.to_owned()
    };
    let len = ascii.len();
    if len > profile.label_max {
        return Err(NameError::TooLong);
    }
    if len < profile.label_min {
        let form = if is_idn { " as an A-label" } else { "" };
        return Err(NameError::InvalidLabel(format!(
            "the label is {len} character{} long{form}; the minimum in .{tld} is {}",
            if len == 1 { "" } else { "s" },
            profile.label_min
        )));
    }
    Ok(ascii)
}

/// Check an `xn--` label (lower-case LDH): valid Punycode of a valid U-label in the profile's
/// repertoire, and the canonical encoding of that U-label. Returns the U-label.
fn check_alabel(a: &str, profile: &Profile, tld: &str) -> Result<String, NameError> {
    if a.len() > profile.label_max {
        return Err(NameError::TooLong);
    }
    let encoded = a.get(4..).unwrap_or_default();
    if encoded.is_empty() {
        return Err(NameError::InvalidLabel("'xn--' with nothing after it is not an A-label".to_owned()));
    }
    let u = idna::punycode::decode_to_string(encoded)
        .ok_or_else(|| NameError::InvalidLabel(format!("{a:?} is not valid Punycode (bad xn-- label)")))?;
    if u.is_ascii() {
        return Err(NameError::InvalidLabel(format!(
            "{a:?} decodes to the ASCII label {u:?}; an A-label must encode non-ASCII characters"
        )));
    }
    if profile.idn_chars.is_empty() {
        return Err(NameError::InvalidLabel(format!(
            "internationalised names (IDN, xn-- labels) are not allowed in .{tld}"
        )));
    }
    let uts46 = Uts46::new();
    let (mapped, res) = uts46.to_unicode(u.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow);
    if res.is_err() {
        return Err(match first_bad_char(&u, profile) {
            Some(c) => char_not_allowed(c, tld),
            None => NameError::InvalidLabel(format!(
                "{a:?} decodes to {u:?}, which is not a valid internationalised label (IDNA, UTS #46)"
            )),
        });
    }
    if mapped != u {
        return Err(NameError::InvalidLabel(format!(
            "{a:?} is not a canonical A-label: it decodes to {u:?}, which is not in lower-case NFC form (write {mapped:?} instead)"
        )));
    }
    let again = check_ulabel(&u, profile, tld)?;
    if again != a {
        return Err(NameError::InvalidLabel(format!(
            "{a:?} is not the canonical A-label of {u:?} (that is {again:?})"
        )));
    }
    Ok(u)
}

/// The first character of `label` that UTS #46 refuses on its own or maps to something
/// outside the profile's repertoire (to name it when a whole label is refused).
fn first_bad_char(label: &str, profile: &Profile) -> Option<char> {
    let uts46 = Uts46::new();
    label.chars().find(|&c| {
        let mut buf = [0u8; 4];
        let one = c.encode_utf8(&mut buf);
        let (m, r) = uts46.to_unicode(one.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow);
        r.is_err() || !m.chars().all(|d| profile.allows_char(d))
    })
}

/// LDH check of an ASCII label (already lower case), with the offending character named.
fn check_ldh(label: &str, tld: &str) -> Result<(), NameError> {
    match label.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        Some(c) => Err(char_not_allowed(c, tld)),
        None => Ok(()),
    }
}

/// Check the registrable label `raw` (as given: U-label or A-label, any case) against the
/// profile of `.tld`. Returns `(A-label, U-label)`.
pub(crate) fn check_label(raw: &str, profile: &Profile, tld: &str) -> Result<(String, String), NameError> {
    if raw.is_ascii() {
        let lower = raw.to_ascii_lowercase();
        check_ldh(&lower, tld)?;
        if lower.starts_with("xn--") {
            let u = check_alabel(&lower, profile, tld)?;
            return Ok((lower, u));
        }
        let ascii = check_ulabel(&lower, profile, tld)?;
        return Ok((ascii, lower));
    }
    // A non-ASCII spelling of an A-label (full-width letters, say): UTS #46 would fold it to
    // `xn--...` and decode it; check it as the A-label it folds to, so the canonical-encoding
    // rule cannot be avoided that way.
    let folded: String = raw.nfkc().collect::<String>().to_lowercase();
    if folded.starts_with("xn--") {
        if !folded.is_ascii() {
            return Err(NameError::InvalidLabel("an A-label (xn--...) must be ASCII".to_owned()));
        }
        check_ldh(&folded, tld)?;
        let u = check_alabel(&folded, profile, tld)?;
        return Ok((folded, u));
    }
    let uts46 = Uts46::new();
    let (mapped, res) = uts46.to_unicode(raw.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow);
    if res.is_err() {
        if let Some(c) = first_bad_char(raw, profile) {
            return Err(char_not_allowed(c, tld));
        }
        return Err(NameError::InvalidLabel(format!("{raw:?} is not a valid internationalised label (IDNA, UTS #46)")));
    }
    let ascii = check_ulabel(&mapped, profile, tld)?;
    Ok((ascii, mapped.into_owned()))
}
