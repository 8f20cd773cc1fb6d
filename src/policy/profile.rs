//! The policy values of one TLD (POLICY.md sections 1-3): which zones take names, label
//! length and repertoire, forbidden names, periods and lifecycle numbers. A [`Profile`] is
//! data, never code: the built-in profiles give starting values, an operator's configuration
//! overrides any of them with [`ProfileOverrides`], and [`Profile::validate`] refuses values
//! that make no sense before the registry starts.

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Whether a new registration is live at once or waits for the registry's checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// The name is registered at once.
    Realtime,
    /// The domain stays `pendingCreate` until the registry's checks pass.
    Review,
}

/// Whether a registrant change takes effect at once or waits for a person to accept it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrantChangeMode {
    /// The new registrant is in place at once.
    Immediate,
    /// The domain stays `pendingUpdate` until a person accepts the supporting document.
    Review,
}

/// Whether the registry checks a domain's nameservers before delegating it (POLICY.md section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DelegationCheck {
    /// No check.
    Off,
    /// Checked and reported; the domain is delegated whatever the outcome.
    Warn,
    /// A domain enters the zone only once its nameservers pass (the .pt rule).
    Require,
}

impl DelegationCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            DelegationCheck::Off => "off",
            DelegationCheck::Warn => "warn",
            DelegationCheck::Require => "require",
        }
    }
}

/// Every policy value of a TLD.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Zones taking new names (absolute names, lower case, no trailing dot), review zones included.
    pub zones_open: Vec<String>,
    /// Zones with eligibility rules: new registrations need registry approval. Each is also open.
    pub zones_review: Vec<String>,
    /// Zones where existing names live on (renew only) but no new names are taken.
    pub zones_closed: Vec<String>,
    /// Minimum label length (of the A-label).
    pub label_min: usize,
    /// Maximum label length (of the A-label).
    pub label_max: usize,
    /// Allowed non-LDH characters (NFC, lower case); empty = no IDN at all.
    pub idn_chars: String,
    /// Two-letter names take the premium first-year price.
    pub premium_two_letter: bool,
    /// A two-letter label equal to an ISO 3166-1 alpha-2 code or a two-letter TLD is refused.
    pub forbid_cc_codes: bool,
    /// A three-letter label equal to an ISO 3166-1 alpha-3 code is refused.
    pub forbid_alpha3: bool,
    /// A label equal to an existing TLD is refused.
    pub forbid_tld_names: bool,
    /// Periods (years) a create may ask for.
    pub create_periods: Vec<u32>,
    /// Periods (years) a renew may ask for.
    pub renew_periods: Vec<u32>,
    /// A renew is accepted no earlier than this many days before expiry.
    pub renew_window_days: u32,
    /// Registration never runs more than this many years ahead.
    pub max_years_ahead: u32,
    /// Days after deletion during which the registrar may restore (0 = no restore).
    pub restore_days: u32,
    /// Whether a create is live at once or waits for review.
    pub registration_mode: RegistrationMode,
    /// Whether a registrant change is immediate or waits for review.
    pub registrant_change_mode: RegistrantChangeMode,
    /// Days an issued auth code stays valid.
    pub auth_code_valid_days: u32,
    /// Hours a registrant change under review waits for its document before it is cancelled.
    pub registrant_change_review_hours: u32,
    /// Days after which a registrar is told to fix a failing nameserver configuration.
    pub nameserver_fix_days: u32,
    /// Whether nameservers are checked before delegation, and whether a failure holds the
    /// domain out of the zone.
    pub delegation_check: DelegationCheck,
    /// Maximum number of nameservers of a domain.
    pub nameservers_max: usize,
    /// Fewer nameservers than this: registered but not delegated (`inactive`).
    pub nameservers_min_delegated: usize,
    /// A tech contact is required.
    pub tech_required: bool,
    /// Registrant, admin and tech contacts need a fiscal identification number.
    pub fiscal_id_required: bool,
    /// Glue may be in the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
    /// 2001:db8::/32, 3fff::/20): for labs and tests, whose nameservers are fictitious. Glue in
    /// any other space that is not public (private, shared, link-local...) is always refused.
    pub glue_documentation: bool,
    /// EPP speaks the .pt registry's extension (`ptdomain-1.0`, `ptcontact-1.0`) for this TLD.
    pub epp_pt_extension: bool,
}

/// The same fields as [`Profile`], each optional: the values an operator's configuration sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileOverrides {
    pub zones_open: Option<Vec<String>>,
    pub zones_review: Option<Vec<String>>,
    pub zones_closed: Option<Vec<String>>,
    pub label_min: Option<usize>,
    pub label_max: Option<usize>,
    pub idn_chars: Option<String>,
    pub premium_two_letter: Option<bool>,
    pub forbid_cc_codes: Option<bool>,
    pub forbid_alpha3: Option<bool>,
    pub forbid_tld_names: Option<bool>,
    pub create_periods: Option<Vec<u32>>,
    pub renew_periods: Option<Vec<u32>>,
    pub renew_window_days: Option<u32>,
    pub max_years_ahead: Option<u32>,
    pub restore_days: Option<u32>,
    pub registration_mode: Option<RegistrationMode>,
    pub registrant_change_mode: Option<RegistrantChangeMode>,
    pub auth_code_valid_days: Option<u32>,
    pub registrant_change_review_hours: Option<u32>,
    pub nameserver_fix_days: Option<u32>,
    pub delegation_check: Option<DelegationCheck>,
    pub nameservers_max: Option<usize>,
    pub nameservers_min_delegated: Option<usize>,
    pub tech_required: Option<bool>,
    pub fiscal_id_required: Option<bool>,
    pub glue_documentation: Option<bool>,
    pub epp_pt_extension: Option<bool>,
}

/// The IDN repertoire of .pt (POLICY.md section 1), NFC.
const PT_IDN_CHARS: &str = "áàâãçéêíóôõú";

const BUILTIN_NAMES: &[&str] = &["pt", "cv", "st", "gw"];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

impl Profile {
    /// The .pt profile: the values of POLICY.md, the reference every other profile starts from.
    fn pt() -> Profile {
        Profile {
            zones_open: strings(&["pt", "com.pt", "gov.pt"]),
            zones_review: strings(&["gov.pt"]),
            zones_closed: strings(&["net.pt", "int.pt", "publ.pt", "nome.pt", "org.pt", "edu.pt"]),
            label_min: 2,
            label_max: 63,
            idn_chars: PT_IDN_CHARS.to_owned(),
            premium_two_letter: true,
            forbid_cc_codes: true,
            forbid_alpha3: false,
            forbid_tld_names: true,
            create_periods: vec![1, 3, 5],
            renew_periods: vec![1, 3, 5],
            renew_window_days: 60,
            max_years_ahead: 10,
            restore_days: 30,
            registration_mode: RegistrationMode::Realtime,
            registrant_change_mode: RegistrantChangeMode::Immediate,
            auth_code_valid_days: 30,
            registrant_change_review_hours: 48,
            nameserver_fix_days: 5,
            delegation_check: DelegationCheck::Require,
            nameservers_max: 13,
            nameservers_min_delegated: 2,
            tech_required: true,
            fiscal_id_required: true,
            glue_documentation: false,
            epp_pt_extension: true,
        }
    }

    /// A built-in profile by TLD name: `pt`, `cv`, `st` or `gw`.
    ///
    /// Only `pt` carries the registry's published values (POLICY.md). `cv`, `st` and `gw` are
    /// best guesses from POLICY.md's "Other profiles" paragraph: they take every value from
    /// `pt` except the ones named there, and an operator overrides whatever differs in reality.
    pub fn builtin(name: &str) -> Option<Profile> {
        let pt = Profile::pt();
        match name {
            "pt" => Some(pt),
            // Best guess: .cv has the second-level zones named in POLICY.md, all open, with
            // gov.cv under eligibility review like gov.pt; IDN like .pt.
            "cv" => {
                let mut open = vec!["cv".to_owned()];
                open.extend(
                    ["com", "net", "gov", "org", "edu", "int", "publ", "nome"].iter().map(|z| format!("{z}.cv")),
                );
                Some(Profile {
                    zones_open: open,
                    zones_review: strings(&["gov.cv"]),
                    zones_closed: Vec::new(),
                    epp_pt_extension: false,
                    ..pt
                })
            }
            // Best guess: .st takes 1 to 23 characters, no IDN, one zone.
            "st" => Some(Profile {
                zones_open: strings(&["st"]),
                zones_review: Vec::new(),
                zones_closed: Vec::new(),
                label_min: 1,
                label_max: 23,
                idn_chars: String::new(),
                epp_pt_extension: false,
                ..pt
            }),
            // Best guess: .gw allows ä ë ï ñ ö ü as well and forbids ISO alpha-3 codes.
            "gw" => Some(Profile {
                zones_open: strings(&["gw"]),
                zones_review: Vec::new(),
                zones_closed: Vec::new(),
                idn_chars: format!("{PT_IDN_CHARS}äëïñöü"),
                forbid_alpha3: true,
                epp_pt_extension: false,
                ..pt
            }),
            _ => None,
        }
    }

    /// The names [`Profile::builtin`] knows.
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// This profile with every value the overrides set replaced.
    pub fn with_overrides(self, o: ProfileOverrides) -> Profile {
        Profile {
            zones_open: o.zones_open.unwrap_or(self.zones_open),
            zones_review: o.zones_review.unwrap_or(self.zones_review),
            zones_closed: o.zones_closed.unwrap_or(self.zones_closed),
            label_min: o.label_min.unwrap_or(self.label_min),
            label_max: o.label_max.unwrap_or(self.label_max),
            idn_chars: o.idn_chars.unwrap_or(self.idn_chars),
            premium_two_letter: o.premium_two_letter.unwrap_or(self.premium_two_letter),
            forbid_cc_codes: o.forbid_cc_codes.unwrap_or(self.forbid_cc_codes),
            forbid_alpha3: o.forbid_alpha3.unwrap_or(self.forbid_alpha3),
            forbid_tld_names: o.forbid_tld_names.unwrap_or(self.forbid_tld_names),
            create_periods: o.create_periods.unwrap_or(self.create_periods),
            renew_periods: o.renew_periods.unwrap_or(self.renew_periods),
            renew_window_days: o.renew_window_days.unwrap_or(self.renew_window_days),
            max_years_ahead: o.max_years_ahead.unwrap_or(self.max_years_ahead),
            restore_days: o.restore_days.unwrap_or(self.restore_days),
            registration_mode: o.registration_mode.unwrap_or(self.registration_mode),
            registrant_change_mode: o.registrant_change_mode.unwrap_or(self.registrant_change_mode),
            auth_code_valid_days: o.auth_code_valid_days.unwrap_or(self.auth_code_valid_days),
            registrant_change_review_hours: o
                .registrant_change_review_hours
                .unwrap_or(self.registrant_change_review_hours),
            nameserver_fix_days: o.nameserver_fix_days.unwrap_or(self.nameserver_fix_days),
            delegation_check: o.delegation_check.unwrap_or(self.delegation_check),
            nameservers_max: o.nameservers_max.unwrap_or(self.nameservers_max),
            nameservers_min_delegated: o.nameservers_min_delegated.unwrap_or(self.nameservers_min_delegated),
            tech_required: o.tech_required.unwrap_or(self.tech_required),
            fiscal_id_required: o.fiscal_id_required.unwrap_or(self.fiscal_id_required),
            glue_documentation: o.glue_documentation.unwrap_or(self.glue_documentation),
            epp_pt_extension: o.epp_pt_extension.unwrap_or(self.epp_pt_extension),
        }
    }

    /// Whether `zone` is one of this profile's zones (open, review or closed).
    pub fn has_zone(&self, zone: &str) -> bool {
        self.all_zones().any(|z| z == zone)
    }

    /// Every zone of the profile: open, review and closed (review zones are also open, so
    /// they may appear twice).
    pub fn all_zones(&self) -> impl Iterator<Item = &str> {
        self.zones_open.iter().chain(&self.zones_review).chain(&self.zones_closed).map(String::as_str)
    }

    /// Whether `c` is in the profile's repertoire: LDH or one of `idn_chars`.
    pub fn allows_char(&self, c: char) -> bool {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || self.idn_chars.contains(c)
    }

    /// Check that the values are sane for the TLD `tld`. The error names the field.
    pub fn validate(&self, tld: &str) -> Result<(), String> {
        check_dns_name(tld).map_err(|e| format!("tld {tld:?}: {e}"))?;
        if tld.contains('.') {
            return Err(format!("tld {tld:?}: must be a single label"));
        }
        let mut seen: Vec<&str> = Vec::new();
        for (field, zones) in [
            ("zones_open", &self.zones_open),
            ("zones_review", &self.zones_review),
            ("zones_closed", &self.zones_closed),
        ] {
            for zone in zones {
                check_dns_name(zone).map_err(|e| format!("{field}: zone {zone:?}: {e}"))?;
                if zone != tld && !zone.ends_with(&format!(".{tld}")) {
                    return Err(format!("{field}: zone {zone:?} is not under .{tld}"));
                }
                if field != "zones_review" {
                    if seen.contains(&zone.as_str()) {
                        return Err(format!("{field}: zone {zone:?} is listed twice"));
                    }
                    seen.push(zone);
                }
            }
        }
        for zone in &self.zones_review {
            if !self.zones_open.contains(zone) {
                return Err(format!("zones_review: zone {zone:?} must also be in zones_open"));
            }
            if self.zones_review.iter().filter(|z| *z == zone).count() > 1 {
                return Err(format!("zones_review: zone {zone:?} is listed twice"));
            }
        }
        if seen.is_empty() {
            return Err("zones_open: the profile has no zone at all".to_owned());
        }
        if self.label_min < 1 {
            return Err("label_min: must be at least 1".to_owned());
        }
        if self.label_max > 63 {
            return Err(format!("label_max: {} is over the DNS limit of 63", self.label_max));
        }
        if self.label_min > self.label_max {
            return Err(format!("label_min: {} is greater than label_max {}", self.label_min, self.label_max));
        }
        self.validate_idn_chars()?;
        if !(1..=10).contains(&self.max_years_ahead) {
            return Err(format!("max_years_ahead: {} is not in 1..=10", self.max_years_ahead));
        }
        for (field, periods) in [("create_periods", &self.create_periods), ("renew_periods", &self.renew_periods)] {
            if periods.is_empty() {
                return Err(format!("{field}: must not be empty"));
            }
            for p in periods {
                if !(1..=10).contains(p) {
                    return Err(format!("{field}: period {p} is not in 1..=10"));
                }
                if *p > self.max_years_ahead {
                    return Err(format!("{field}: period {p} is over max_years_ahead {}", self.max_years_ahead));
                }
            }
        }
        check_range("renew_window_days", self.renew_window_days, 1, 3660)?;
        check_range("restore_days", self.restore_days, 0, 365)?;
        check_range("auth_code_valid_days", self.auth_code_valid_days, 1, 3660)?;
        check_range("registrant_change_review_hours", self.registrant_change_review_hours, 1, 24 * 366)?;
        check_range("nameserver_fix_days", self.nameserver_fix_days, 0, 366)?;
        if !(1..=13).contains(&self.nameservers_max) {
            return Err(format!("nameservers_max: {} is not in 1..=13", self.nameservers_max));
        }
        if !(1..=self.nameservers_max).contains(&self.nameservers_min_delegated) {
            return Err(format!(
                "nameservers_min_delegated: {} is not in 1..=nameservers_max ({})",
                self.nameservers_min_delegated, self.nameservers_max
            ));
        }
        Ok(())
    }

    /// `idn_chars`: no ASCII, no duplicates, each a lower-case NFC character that UTS #46
    /// leaves as it is (so the repertoire check on a mapped U-label can ever match it).
    fn validate_idn_chars(&self) -> Result<(), String> {
        let uts46 = idna::uts46::Uts46::new();
        for (i, c) in self.idn_chars.chars().enumerate() {
            if c.is_ascii() {
                return Err(format!(
                    "idn_chars: {c:?} is ASCII; LDH characters are always allowed and other ASCII never"
                ));
            }
            if self.idn_chars.chars().skip(i + 1).any(|d| d == c) {
                return Err(format!("idn_chars: {c:?} is listed twice"));
            }
            let s = c.to_string();
            let nfc: String = s.nfc().collect();
            if nfc != s {
                return Err(format!("idn_chars: {c:?} (U+{:04X}) is not in NFC", u32::from(c)));
            }
            let (mapped, result) =
                uts46.to_unicode(s.as_bytes(), idna::uts46::AsciiDenyList::STD3, idna::uts46::Hyphens::Allow);
            if result.is_err() || mapped != s {
                return Err(format!(
                    "idn_chars: {c:?} (U+{:04X}) is not a valid lower-case IDNA character (UTS #46 maps or refuses it)",
                    u32::from(c)
                ));
            }
        }
        Ok(())
    }
}

fn check_range(field: &str, value: u32, min: u32, max: u32) -> Result<(), String> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(format!("{field}: {value} is not in {min}..={max}")) }
}

/// An absolute DNS name as the profile writes it: lower-case LDH labels of 1 to 63 characters,
/// no hyphen first or last, at most 253 bytes, no trailing dot.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty name".to_owned());
    }
    if name.len() > 253 {
        return Err("longer than 253 bytes".to_owned());
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err("empty label (leading, trailing or double dot)".to_owned());
        }
        if label.len() > 63 {
            return Err(format!("label {label:?} is longer than 63 characters"));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            return Err(format!("character {c:?} not allowed (lower-case a-z, 0-9 and '-' only)"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("label {label:?} starts or ends with a hyphen"));
        }
    }
    Ok(())
}
