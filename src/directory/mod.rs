//! What the public directory may disclose (POLICY.md section 4), decided in one place for both
//! WHOIS and RDAP, so that they can never disagree.
//!
//! Only validly registered domains are shown (not free, not pending create, not purged). For a
//! natural person nothing personal is shown: only the country. For a legal person, its name and
//! address (unless it asked not to be shown); never anyone's phone or email. Instead of an email
//! address, the link to the anonymised contact form.

use std::net::IpAddr;

use crate::model::{Contact, ContactKind, Domain, Ds, Status, Timestamp};
use crate::registry::{Registry, RegistryError};

/// A contact as the directory may show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicParty {
    /// The registry's handle of the contact (RDAP entity handle); not personal data.
    pub handle: String,
    pub kind: ContactKind,
    /// Present only for a legal person that is shown.
    pub name: Option<String>,
    pub organization: Option<String>,
    pub street: Vec<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    /// Always shown.
    pub country_code: String,
}

impl PublicParty {
    /// Whether the name and address are disclosed (a shown legal person).
    pub fn disclosed(&self) -> bool {
        self.name.is_some()
    }
}

/// Fields a directory answer withholds, for RDAP's `redacted` member (RFC 9537).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    Name,
    Organization,
    Address,
    Email,
    Phone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicNameserver {
    pub name: String,
    pub ipv4: Vec<IpAddr>,
    pub ipv6: Vec<IpAddr>,
}

/// Everything the public directory says about a registered domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicRecord {
    pub name: String,
    pub unicode_name: String,
    pub roid: String,
    /// The .pt directory's state: `Registered`, `Reserved` (registered, not delegated),
    /// `Pending Delete`, `Suspended`.
    pub state: &'static str,
    pub statuses: Vec<Status>,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub updated: Timestamp,
    pub owner: PublicParty,
    pub admin: Option<PublicParty>,
    pub tech: Option<PublicParty>,
    pub nameservers: Vec<PublicNameserver>,
    pub ds: Vec<Ds>,
    pub registrar_id: String,
    pub registrar_name: String,
    /// The anonymised contact form for the registrant.
    pub contact_form: String,
}

impl PublicRecord {
    pub fn is_idn(&self) -> bool {
        self.name != self.unicode_name
    }
    pub fn signed(&self) -> bool {
        !self.ds.is_empty()
    }
}

/// What a directory lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Box<PublicRecord>),
    /// A name of one of the registry's zones that is not registered: the name as asked (A-label).
    NoMatch(String),
    /// Not a name of the registry: nothing is looked up.
    Invalid,
}

/// The public view of one contact: personal data never leaves.
pub fn public_party(c: &Contact, owner_visible: bool) -> PublicParty {
    let shown = c.kind == ContactKind::Organization && owner_visible;
    PublicParty {
        handle: c.handle.clone(),
        kind: c.kind,
        name: shown.then(|| c.name.clone()),
        organization: if shown { c.organization.clone().or_else(|| Some(c.name.clone())) } else { None },
        street: if shown { c.street.clone() } else { Vec::new() },
        city: shown.then(|| c.city.clone()),
        postal_code: shown.then(|| c.postal_code.clone()),
        country_code: c.country_code.clone(),
    }
}

/// The fields withheld for a party (phone and email always; name and address of persons).
pub fn withheld(p: &PublicParty) -> Vec<Withheld> {
    withheld_when(p.disclosed())
}

/// The fields withheld for a party whose name and address are (or are not) disclosed.
pub fn withheld_when(disclosed: bool) -> Vec<Withheld> {
    let mut w = Vec::new();
    if !disclosed {
        w.extend([Withheld::Name, Withheld::Organization, Withheld::Address]);
    }
    w.extend([Withheld::Email, Withheld::Phone]);
    w
}

fn state_of(d: &Domain, min_ns: usize) -> &'static str {
    if d.has(Status::PendingDelete) {
        "Pending Delete"
    } else if d.has(Status::ServerHold) || d.has(Status::ClientHold) {
        "Suspended"
    } else if d.nameservers.len() < min_ns {
        "Reserved"
    } else {
        "Registered"
    }
}

/// The public record of a domain, or `None` when the directory must not show it.
pub fn disclose(registry: &Registry, d: &Domain) -> Result<Option<PublicRecord>, RegistryError> {
    Ok(registry.domain_with_parties(&d.name)?.and_then(|p| build_from(registry, p)))
}

fn build_from(registry: &Registry, p: crate::registry::DomainParties) -> Option<PublicRecord> {
    let (d, contacts, registrar_name) = p.into_parts();
    let contact = |handle: &str| contacts.iter().find(|c| c.handle == handle);
    let tech = d.tech.as_deref().and_then(contact);
    let (registrant, admin) = (contact(&d.registrant), contact(&d.admin));
    build(registry, d, registrant, admin, tech, registrar_name)
}

/// Builds the public record from a domain (taken, its fields move into the record) and its
/// parties. Pure.
pub fn build(
    registry: &Registry,
    d: Domain,
    registrant: Option<&Contact>,
    admin: Option<&Contact>,
    tech: Option<&Contact>,
    registrar_name: String,
) -> Option<PublicRecord> {
    if !d.is_registered() {
        return None;
    }
    let min_ns = registry.policy().tld(&d.tld).map(|t| t.profile.nameservers_min_delegated).unwrap_or(2);
    let owner = public_party(registrant?, d.owner_visible);
    let contact_form = format!("{}/contact/{}", registry.settings().public_url, d.name);
    Some(PublicRecord {
        state: state_of(&d, min_ns),
        statuses: d.effective_statuses(min_ns),
        created: d.created,
        expires: d.expires,
        updated: d.updated,
        owner,
        admin: admin.map(|c| public_party(c, d.owner_visible)),
        tech: tech.map(|c| public_party(c, d.owner_visible)),
        nameservers: d
            .nameservers
            .into_iter()
            .map(|n| PublicNameserver {
                ipv4: n.addresses.iter().filter(|a| a.is_ipv4()).copied().collect(),
                ipv6: n.addresses.iter().filter(|a| a.is_ipv6()).copied().collect(),
                name: n.name,
            })
            .collect(),
        ds: d.ds,
        registrar_id: d.registrar,
        registrar_name,
        contact_form,
        name: d.name,
        unicode_name: d.unicode_name,
        roid: d.roid,
    })
}

/// The key of a query that is a plain host name under one of the registry's TLDs (letters,
/// digits, hyphens and dots; no A-label): its lower-case form, which is what the full parse
/// would give for it (UTS #46 maps ASCII letters to lower case and changes nothing else). The
/// common query skips the IDNA machinery; anything else goes through `Policy::parse`.
fn plain_key(policy: &crate::policy::Policy, query: &str) -> Option<String> {
    let raw = query.trim().trim_end_matches('.');
    if raw.is_empty()
        || raw.len() > 253
        || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        || raw.split('.').any(|l| l.len() >= 4 && l[..4].eq_ignore_ascii_case("xn--"))
    {
        return None;
    }
    let key = raw.to_ascii_lowercase();
    under_our_tlds(policy, &key).then_some(key)
}

/// Whether a lower-case name has at least one label under one of the registry's TLDs.
fn under_our_tlds(policy: &crate::policy::Policy, key: &str) -> bool {
    policy
        .tlds
        .iter()
        .any(|t| key.strip_suffix(t.tld.as_str()).is_some_and(|head| head.len() > 1 && head.ends_with('.')))
}

/// Looks a name up for the public directory: one criterion, the domain name. A name outside
/// the registry's TLDs is `Invalid` and nothing else is looked up.
pub fn lookup(registry: &Registry, query: &str) -> Result<Lookup, RegistryError> {
    let policy = registry.policy();
    let key = match plain_key(policy, query) {
        Some(key) => key,
        None => match policy.parse(query) {
            Ok(n) => n.ascii,
            Err(crate::policy::NameError::OtherTld) => return Ok(Lookup::Invalid),
            // Something under our TLDs that current rules refuse (a legacy name, or garbage):
            // look up its plain lower-case form if it is ASCII, else there is nothing to find.
            Err(_) => {
                let raw = query.trim().trim_end_matches('.').to_ascii_lowercase();
                if !raw.is_ascii() || !under_our_tlds(policy, &raw) || raw.len() > 253 {
                    return Ok(Lookup::Invalid);
                }
                raw
            }
        },
    };
    match registry.domain_with_parties(&key)?.and_then(|p| build_from(registry, p)) {
        Some(r) => Ok(Lookup::Found(Box::new(r))),
        None => Ok(Lookup::NoMatch(key)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(kind: ContactKind) -> Contact {
        Contact {
            handle: "C1".into(),
            registrar: "r".into(),
            kind,
            name: "Maria da Conceição".into(),
            organization: Some("Exemplo, Lda.".into()),
            street: vec!["Rua Augusta 1".into()],
            city: "Lisboa".into(),
            postal_code: "1100-048".into(),
            country_code: "PT".into(),
            email: "maria@exemplo.pt".into(),
            phone: Some("+351.912345678".into()),
            fiscal_id: Some("123456789".into()),
            created: Timestamp(0),
            updated: Timestamp(0),
        }
    }

    #[test]
    fn a_person_shows_only_the_country() {
        let p = public_party(&contact(ContactKind::Person), true);
        assert_eq!(
            (p.name.clone(), p.organization.clone(), p.city.clone(), p.postal_code.clone()),
            (None, None, None, None)
        );
        assert!(p.street.is_empty());
        assert_eq!(p.country_code, "PT");
        assert_eq!(
            withheld(&p),
            vec![Withheld::Name, Withheld::Organization, Withheld::Address, Withheld::Email, Withheld::Phone]
        );
    }

    #[test]
    fn an_organization_shows_name_and_address_never_phone_or_email() {
        let p = public_party(&contact(ContactKind::Organization), true);
        assert_eq!(p.name.as_deref(), Some("Maria da Conceição"));
        assert_eq!(p.city.as_deref(), Some("Lisboa"));
        assert_eq!(withheld(&p), vec![Withheld::Email, Withheld::Phone]);
        let debug = format!("{p:?}");
        assert!(!debug.contains("maria@exemplo.pt") && !debug.contains("912345678") && !debug.contains("123456789"));
    }

    #[test]
    fn an_organization_may_ask_not_to_be_shown() {
        let p = public_party(&contact(ContactKind::Organization), false);
        assert!(!p.disclosed());
    }

    fn policy() -> crate::policy::Policy {
        use crate::policy::{Policy, Profile, TldPolicy};
        let tlds = ["pt", "cv", "st", "gw"].iter().map(|t| TldPolicy::new(t, Profile::builtin(t).expect("builtin")));
        Policy::new(tlds.collect()).expect("valid policy")
    }

    #[test]
    fn plain_keys_are_what_the_parse_gives() {
        let p = policy();
        for (query, key) in [
            ("Exemplo.PT", Some("exemplo.pt")),
            (" exemplo.com.pt. ", Some("exemplo.com.pt")),
            ("exemplo.cv", Some("exemplo.cv")),
            ("exemplo.com", None),
            ("pt", None),
            (".pt", None),
            ("xn--aores-yra.pt", None),
            ("XN--AORES-YRA.PT", None),
            ("açores.pt", None),
            ("exem_plo.pt", None),
        ] {
            assert_eq!(plain_key(&p, query).as_deref(), key, "{query}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

        /// Wherever the fast path answers, the full parse (when it accepts the name) gives the
        /// same key: the fast path never finds a different domain.
        #[test]
        fn the_fast_path_agrees_with_the_parse(label in "[A-Za-z0-9-]{1,20}", zone in "(pt|PT|com\\.pt|Gov\\.Pt|cv|st|gw)\\.?") {
            proptest::prop_assume!(!label.to_ascii_lowercase().starts_with("xn--"));
            let p = policy();
            let query = format!("{label}.{zone}");
            if let Some(key) = plain_key(&p, &query) {
                if let Ok(n) = p.parse(&query) {
                    proptest::prop_assert_eq!(n.ascii, key);
                }
            } else {
                proptest::prop_assert!(false, "{} is a plain name under our TLDs", query);
            }
        }
    }
}
