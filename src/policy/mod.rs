//! Registry policy (POLICY.md sections 1 and 2): what names each TLD takes and why one is
//! refused, the profiles that hold every policy value of a TLD, the reserved and blocked
//! lists, and the fiscal identification numbers of contacts. Everything here is pure except
//! [`NameList::load`], which reads a list file.
//!
//! The usual flow: build a [`Policy`] from one [`TldPolicy`] per TLD, then
//! [`Policy::parse`] a name (syntax, zone, label rules) and [`Policy::check_new`] it (closed
//! zones, lists, forbidden names) before a new registration.

mod data;
mod fiscal;
mod lists;
mod name;
mod profile;

#[cfg(test)]
mod tests;

pub use data::is_country_code;
pub use fiscal::{FiscalIdError, check_fiscal_id, nif_check_digit};
pub use lists::{ListEntry, ListError, MAX_ENTRIES, MAX_FILE_BYTES, MAX_LINE_BYTES, NameList};
pub use name::{MAX_INPUT_BYTES, MAX_NAME_BYTES, Name, NameError};
pub use profile::{DelegationCheck, Profile, ProfileOverrides, RegistrantChangeMode, RegistrationMode};

/// The policy of one TLD: its profile and its lists.
#[derive(Clone, Debug, PartialEq)]
pub struct TldPolicy {
    /// The TLD, lower-case A-label without dots: `pt`.
    pub tld: String,
    /// Every policy value of the TLD.
    pub profile: Profile,
    /// Names kept back by the registry (`reserved_name`).
    pub reserved: NameList,
    /// Names refused outright (`reserved_name`).
    pub blocked: NameList,
}

impl TldPolicy {
    /// A TLD with the given profile and empty lists.
    pub fn new(tld: &str, profile: Profile) -> TldPolicy {
        TldPolicy { tld: tld.to_owned(), profile, reserved: NameList::default(), blocked: NameList::default() }
    }
}

/// The policy of every TLD the registry runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// One entry per TLD.
    pub tlds: Vec<TldPolicy>,
}

impl Policy {
    /// A policy from its TLDs, after [`Profile::validate`] of each and a check that no TLD or
    /// zone is listed twice. The error names the TLD and the field.
    pub fn new(tlds: Vec<TldPolicy>) -> Result<Policy, String> {
        for (i, t) in tlds.iter().enumerate() {
            t.profile.validate(&t.tld).map_err(|e| format!("tld {}: {e}", t.tld))?;
            if tlds.iter().skip(i + 1).any(|o| o.tld == t.tld) {
                return Err(format!("tld {}: listed twice", t.tld));
            }
        }
        Ok(Policy { tlds })
    }

    /// The TLD policy a name (A-label form, no trailing dot) is under, if any.
    pub fn tld_of(&self, name_ascii: &str) -> Option<&TldPolicy> {
        let name = name_ascii.strip_suffix('.').unwrap_or(name_ascii);
        self.tlds
            .iter()
            .filter(|t| {
                let tld = t.tld.as_str();
                name.len() >= tld.len()
                    && name.get(name.len() - tld.len()..).is_some_and(|end| end.eq_ignore_ascii_case(tld))
                    && (name.len() == tld.len() || name.as_bytes().get(name.len() - tld.len() - 1) == Some(&b'.'))
            })
            .max_by_key(|t| t.tld.len())
    }

    /// The TLD policy with this exact TLD name.
    pub fn tld(&self, tld: &str) -> Option<&TldPolicy> {
        self.tlds.iter().find(|t| t.tld == tld)
    }

    /// The TLD whose profile has `zone` among its open, review or closed zones.
    fn zone_owner(&self, zone: &str) -> Option<&TldPolicy> {
        self.tlds.iter().find(|t| t.profile.has_zone(zone))
    }

    /// Syntax only: normalise (trim white space, strip one trailing dot, lower-case via
    /// UTS #46), find the zone (the longest matching zone among the open, review and closed
    /// zones of every TLD), and check the label's characters and length against the zone's
    /// profile. Accepts a U-label or an A-label; an A-label must be the canonical encoding of a
    /// valid U-label.
    pub fn parse(&self, input: &str) -> Result<Name, NameError> {
        let labels = name::split_input(input)?;
        let folded: Vec<Option<String>> = labels.iter().map(|l| name::fold_label(l)).collect();
        // Smallest start index = longest zone.
        let mut found = None;
        for start in 0..folded.len() {
            let Some(suffix) = join_folded(folded.get(start..).unwrap_or_default()) else {
                continue;
            };
            if let Some(owner) = self.zone_owner(&suffix) {
                found = Some((start, owner, suffix));
                break;
            }
        }
        match found {
            Some((1, owner, zone)) => {
                let raw = labels.first().copied().unwrap_or_default();
                let (label_ascii, label_unicode) = name::check_label(raw, &owner.profile, &owner.tld)?;
                let ascii = format!("{label_ascii}.{zone}");
                if ascii.len() > MAX_NAME_BYTES {
                    return Err(NameError::TooLong);
                }
                Ok(Name {
                    unicode: format!("{label_unicode}.{zone}"),
                    ascii,
                    label_ascii,
                    label_unicode,
                    zone,
                    tld: owner.tld.clone(),
                })
            }
            Some(_) => Err(NameError::NotRegistrable),
            None => match folded.last() {
                // Under one of our TLDs but in none of its zones.
                Some(Some(last)) if self.tld(last).is_some() => Err(NameError::NotRegistrable),
                _ => Err(NameError::OtherTld),
            },
        }
    }

    /// Everything else that decides whether a new registration may take the name: closed
    /// zone, blocked list, reserved list, two-letter country codes, names of existing TLDs and
    /// (where the profile says) ISO alpha-3 codes. Not whether it is already registered.
    pub fn check_new(&self, name: &Name) -> Result<(), NameError> {
        let t = self.tld(&name.tld).ok_or(NameError::OtherTld)?;
        let p = &t.profile;
        if p.zones_closed.contains(&name.zone) {
            return Err(NameError::ZoneClosed(name.zone.clone()));
        }
        if !p.zones_open.contains(&name.zone) {
            return Err(NameError::NotRegistrable);
        }
        if let Some(reason) = t.blocked.lookup(&name.label_ascii, &name.ascii) {
            return Err(NameError::Blocked(reason.to_owned()));
        }
        if let Some(reason) = t.reserved.lookup(&name.label_ascii, &name.ascii) {
            return Err(NameError::Reserved(reason.to_owned()));
        }
        let label = name.label_ascii.as_str();
        if p.forbid_cc_codes && label.len() == 2 && (data::is_alpha2(label) || data::is_tld(label)) {
            return Err(NameError::Reserved("two-letter country code".to_owned()));
        }
        if p.forbid_tld_names && (data::is_tld(label) || self.tld(label).is_some()) {
            return Err(NameError::Reserved("name of an existing TLD".to_owned()));
        }
        if p.forbid_alpha3 && label.len() == 3 && data::is_alpha3(label) {
            return Err(NameError::Reserved("three-letter country code (ISO 3166-1 alpha-3)".to_owned()));
        }
        Ok(())
    }

    /// Whether the name takes the premium first-year price: a two-letter label (counted in
    /// characters of the U-label) in a TLD whose profile says so.
    pub fn is_premium(&self, name: &Name) -> bool {
        self.tld(&name.tld).is_some_and(|t| t.profile.premium_two_letter && name.label_unicode.chars().count() == 2)
    }

    /// Whether a new registration of the name needs the registry's approval: its zone has
    /// eligibility rules, or the TLD registers everything under review.
    pub fn needs_review(&self, name: &Name) -> bool {
        self.tld(&name.tld).is_some_and(|t| {
            t.profile.zones_review.contains(&name.zone) || t.profile.registration_mode == RegistrationMode::Review
        })
    }
}

/// The labels joined with dots, or `None` when one of them could not be folded.
fn join_folded(labels: &[Option<String>]) -> Option<String> {
    let mut out = String::new();
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(l.as_deref()?);
    }
    Some(out)
}
