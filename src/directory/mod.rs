//! What the public directory may disclose (POLICY.md section 4), decided in one place for both
//! WHOIS and RDAP, so that they can never disagree.
//!
//! Only validly registered domains are shown (not free, not pending create, not purged). For a
//! natural person nothing personal is shown: only the country. For a legal person, its name and
//! address (unless it asked not to be shown); never anyone's phone or email. Instead of an email
//! address, the link to the anonymised contact form.

use std::borrow::Cow;
use std::net::IpAddr;

use crate::model::{ContactKind, ContactView, DomainView, DsView, Status, Timestamp};
use crate::registry::{Registry, RegistryError};

/// A contact as the directory may show it. Its text borrows from the stored record while a
/// lookup renders its answer (`lookup_with`), or owns it (`'static`, from `lookup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicParty<'a> {
    /// The registry's handle of the contact (RDAP entity handle); not personal data.
    pub handle: Cow<'a, str>,
    pub kind: ContactKind,
    /// Present only for a legal person that is shown.
    pub name: Option<Cow<'a, str>>,
    pub organization: Option<Cow<'a, str>>,
    pub street: Vec<Cow<'a, str>>,
    pub city: Option<Cow<'a, str>>,
    pub postal_code: Option<Cow<'a, str>>,
    /// Always shown.
    pub country_code: Cow<'a, str>,
}

impl PublicParty<'_> {
    /// Whether the name and address are disclosed (a shown legal person).
    pub fn disclosed(&self) -> bool {
        self.name.is_some()
    }

    pub fn into_owned(self) -> PublicParty<'static> {
        PublicParty {
            handle: owned(self.handle),
            kind: self.kind,
            name: self.name.map(owned),
            organization: self.organization.map(owned),
            street: self.street.into_iter().map(owned).collect(),
            city: self.city.map(owned),
            postal_code: self.postal_code.map(owned),
            country_code: owned(self.country_code),
        }
    }
}

fn owned(text: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(text.into_owned())
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
pub struct PublicNameserver<'a> {
    pub name: Cow<'a, str>,
    pub ipv4: Vec<IpAddr>,
    pub ipv6: Vec<IpAddr>,
}

/// A DS record as published (all of it is public).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicDs<'a> {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub digest: Cow<'a, str>,
}

/// Everything the public directory says about a registered domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicRecord<'a> {
    pub name: Cow<'a, str>,
    pub unicode_name: Cow<'a, str>,
    pub roid: Cow<'a, str>,
    /// The .pt directory's state: `Registered`, `Reserved` (registered, not delegated),
    /// `Pending Delete`, `Suspended`.
    pub state: &'static str,
    pub statuses: Vec<Status>,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub updated: Timestamp,
    pub owner: PublicParty<'a>,
    pub admin: Option<PublicParty<'a>>,
    pub tech: Option<PublicParty<'a>>,
    pub nameservers: Vec<PublicNameserver<'a>>,
    pub ds: Vec<PublicDs<'a>>,
    pub registrar_id: Cow<'a, str>,
    pub registrar_name: Cow<'a, str>,
    /// The anonymised contact form for the registrant.
    pub contact_form: String,
}

impl PublicRecord<'_> {
    pub fn is_idn(&self) -> bool {
        self.name != self.unicode_name
    }
    pub fn signed(&self) -> bool {
        !self.ds.is_empty()
    }

    pub fn into_owned(self) -> PublicRecord<'static> {
        PublicRecord {
            name: owned(self.name),
            unicode_name: owned(self.unicode_name),
            roid: owned(self.roid),
            state: self.state,
            statuses: self.statuses,
            created: self.created,
            expires: self.expires,
            updated: self.updated,
            owner: self.owner.into_owned(),
            admin: self.admin.map(PublicParty::into_owned),
            tech: self.tech.map(PublicParty::into_owned),
            nameservers: self
                .nameservers
                .into_iter()
                .map(|n| PublicNameserver { name: owned(n.name), ipv4: n.ipv4, ipv6: n.ipv6 })
                .collect(),
            ds: self
                .ds
                .into_iter()
                .map(|d| PublicDs {
                    key_tag: d.key_tag,
                    algorithm: d.algorithm,
                    digest_type: d.digest_type,
                    digest: owned(d.digest),
                })
                .collect(),
            registrar_id: owned(self.registrar_id),
            registrar_name: owned(self.registrar_name),
            contact_form: self.contact_form,
        }
    }
}

/// What a directory lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<'a> {
    Found(Box<PublicRecord<'a>>),
    /// A name of one of the registry's zones that is not registered: the name as asked (A-label).
    NoMatch(String),
    /// Not a name of the registry: nothing is looked up.
    Invalid,
}

impl Lookup<'_> {
    pub fn into_owned(self) -> Lookup<'static> {
        match self {
            Lookup::Found(r) => Lookup::Found(Box::new(r.into_owned())),
            Lookup::NoMatch(n) => Lookup::NoMatch(n),
            Lookup::Invalid => Lookup::Invalid,
        }
    }
}

/// The public view of one contact: personal data never leaves.
pub fn public_party<'a>(c: &ContactView<'a>, owner_visible: bool) -> PublicParty<'a> {
    let shown = c.kind == ContactKind::Organization && owner_visible;
    PublicParty {
        handle: Cow::Borrowed(c.handle),
        kind: c.kind,
        name: shown.then_some(Cow::Borrowed(c.name)),
        organization: if shown { Some(Cow::Borrowed(c.organization.unwrap_or(c.name))) } else { None },
        street: if shown { c.street.iter().map(|s| Cow::Borrowed(*s)).collect() } else { Vec::new() },
        city: shown.then_some(Cow::Borrowed(c.city)),
        postal_code: shown.then_some(Cow::Borrowed(c.postal_code)),
        country_code: Cow::Borrowed(c.country_code),
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

fn state_of(d: &DomainView<'_>, min_ns: usize) -> &'static str {
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
pub fn disclose(registry: &Registry, name: &str) -> Result<Option<PublicRecord<'static>>, RegistryError> {
    Ok(registry.with_domain_parties(name, |p| build_from(registry, p).map(PublicRecord::into_owned))?.flatten())
}

fn build_from<'a>(registry: &Registry, p: &crate::registry::DomainParties<'a>) -> Option<PublicRecord<'a>> {
    let d = &p.domain;
    let tech = d.tech.and_then(|t| p.contact(t));
    build(registry, d, p.contact(d.registrant), p.contact(d.admin), tech, p.registrar_name.unwrap_or(d.registrar))
}

/// Builds the public record from a domain and its parties, borrowing their text. Pure.
pub fn build<'a>(
    registry: &Registry,
    d: &DomainView<'a>,
    registrant: Option<&ContactView<'a>>,
    admin: Option<&ContactView<'a>>,
    tech: Option<&ContactView<'a>>,
    registrar_name: &'a str,
) -> Option<PublicRecord<'a>> {
    if !d.is_registered() {
        return None;
    }
    let min_ns = registry.policy().tld(d.tld).map(|t| t.profile.nameservers_min_delegated).unwrap_or(2);
    let owner = public_party(registrant?, d.owner_visible);
    Some(PublicRecord {
        name: Cow::Borrowed(d.name),
        unicode_name: Cow::Borrowed(d.unicode_name),
        roid: Cow::Borrowed(d.roid),
        state: state_of(d, min_ns),
        statuses: d.effective_statuses(min_ns),
        created: d.created,
        expires: d.expires,
        updated: d.updated,
        owner,
        admin: admin.map(|c| public_party(c, d.owner_visible)),
        tech: tech.map(|c| public_party(c, d.owner_visible)),
        nameservers: d
            .nameservers
            .iter()
            .map(|n| PublicNameserver {
                name: Cow::Borrowed(n.name),
                ipv4: n.addresses.iter().filter(|a| a.is_ipv4()).copied().collect(),
                ipv6: n.addresses.iter().filter(|a| a.is_ipv6()).copied().collect(),
            })
            .collect(),
        ds: d.ds.iter().map(public_ds).collect(),
        registrar_id: Cow::Borrowed(d.registrar),
        registrar_name: Cow::Borrowed(registrar_name),
        contact_form: format!("{}/contact/{}", registry.settings().public_url, d.name),
    })
}

fn public_ds<'a>(d: &DsView<'a>) -> PublicDs<'a> {
    PublicDs { key_tag: d.key_tag, algorithm: d.algorithm, digest_type: d.digest_type, digest: Cow::Borrowed(d.digest) }
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
/// the registry's TLDs is `Invalid` and nothing else is looked up. The answer owns its text.
pub fn lookup(registry: &Registry, query: &str) -> Result<Lookup<'static>, RegistryError> {
    lookup_with(registry, query, |l| l.into_owned())
}

/// Looks a name up and calls `f` with what was found, its text borrowed from the stored record
/// (the query path of WHOIS and RDAP: the answer is rendered without copying the record).
pub fn lookup_with<R>(registry: &Registry, query: &str, f: impl FnOnce(Lookup<'_>) -> R) -> Result<R, RegistryError> {
    let policy = registry.policy();
    let key = match plain_key(policy, query) {
        Some(key) => key,
        None => match policy.parse(query) {
            Ok(n) => n.ascii,
            Err(crate::policy::NameError::OtherTld) => return Ok(f(Lookup::Invalid)),
            // Something under our TLDs that current rules refuse (a legacy name, or garbage):
            // look up its plain lower-case form if it is ASCII, else there is nothing to find.
            Err(_) => {
                let raw = query.trim().trim_end_matches('.').to_ascii_lowercase();
                if !raw.is_ascii() || !under_our_tlds(policy, &raw) || raw.len() > 253 {
                    return Ok(f(Lookup::Invalid));
                }
                raw
            }
        },
    };
    let mut f = Some(f);
    let found = registry.with_domain_parties(&key, |p| match build_from(registry, p) {
        Some(r) => f.take().map(|f| f(Lookup::Found(Box::new(r)))),
        None => None,
    })?;
    match (found.flatten(), f) {
        (Some(answer), _) => Ok(answer),
        (None, Some(f)) => Ok(f(Lookup::NoMatch(key))),
        (None, None) => unreachable!("the answer is given exactly once"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::Contact;

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
        let c = contact(ContactKind::Person);
        let p = public_party(&c.view(), true);
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
        let c = contact(ContactKind::Organization);
        let p = public_party(&c.view(), true);
        assert_eq!(p.name.as_deref(), Some("Maria da Conceição"));
        assert_eq!(p.city.as_deref(), Some("Lisboa"));
        assert_eq!(withheld(&p), vec![Withheld::Email, Withheld::Phone]);
        let debug = format!("{p:?}");
        assert!(!debug.contains("maria@exemplo.pt") && !debug.contains("912345678") && !debug.contains("123456789"));
    }

    #[test]
    fn an_organization_may_ask_not_to_be_shown() {
        let c = contact(ContactKind::Organization);
        let p = public_party(&c.view(), false);
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
