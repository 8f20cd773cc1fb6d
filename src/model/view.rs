//! Borrowed forms of the stored domain and contact: decoded straight from the stored bytes
//! without copying their text. The public directory reads a domain and its contacts per query,
//! and decoding the owned types cost a string allocation per field, most of them never shown.
//!
//! Postcard is positional: each view lists the fields of its owned type in the same order with
//! the same shapes (`&str` for `String`). The test `views_decode_what_the_owned_types_encode`
//! fails when the two drift apart; `Domain::view` and `Contact::view` give the same view of an
//! owned value.

use std::net::IpAddr;

use serde::Deserialize;

use super::{Contact, ContactKind, Domain, Ds, Nameserver, Status, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DomainView<'a> {
    pub name: &'a str,
    pub unicode_name: &'a str,
    pub roid: &'a str,
    pub zone: &'a str,
    pub tld: &'a str,
    pub registrar: &'a str,
    pub registrant: &'a str,
    pub admin: &'a str,
    #[serde(borrow)]
    pub tech: Option<&'a str>,
    #[serde(borrow)]
    pub billing: Option<&'a str>,
    #[serde(borrow)]
    pub nameservers: Vec<NameserverView<'a>>,
    #[serde(borrow)]
    pub ds: Vec<DsView<'a>>,
    pub statuses: Vec<Status>,
    pub created: Timestamp,
    pub expires: Timestamp,
    pub updated: Timestamp,
    pub auto_renew: bool,
    pub auth_code: &'a str,
    pub auth_code_issued: Timestamp,
    pub deleted: Option<Timestamp>,
    #[serde(borrow)]
    pub registration_basis: Option<&'a str>,
    #[serde(borrow)]
    pub legitimacy: Option<&'a str>,
    pub owner_visible: bool,
    #[serde(borrow)]
    pub pending_registrant: Option<&'a str>,
    pub pending_since: Option<Timestamp>,
    pub due: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NameserverView<'a> {
    pub name: &'a str,
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct DsView<'a> {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub digest: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ContactView<'a> {
    pub handle: &'a str,
    pub registrar: &'a str,
    pub kind: ContactKind,
    pub name: &'a str,
    #[serde(borrow)]
    pub organization: Option<&'a str>,
    #[serde(borrow)]
    pub street: Vec<&'a str>,
    pub city: &'a str,
    pub postal_code: &'a str,
    pub country_code: &'a str,
    pub email: &'a str,
    #[serde(borrow)]
    pub phone: Option<&'a str>,
    #[serde(borrow)]
    pub fiscal_id: Option<&'a str>,
    pub created: Timestamp,
    pub updated: Timestamp,
}

impl DomainView<'_> {
    pub fn has(&self, s: Status) -> bool {
        self.statuses.contains(&s)
    }

    /// As `Domain::is_registered`.
    pub fn is_registered(&self) -> bool {
        super::is_registered(&self.statuses)
    }

    /// As `Domain::effective_statuses`.
    pub fn effective_statuses(&self, nameservers_min_delegated: usize) -> Vec<Status> {
        super::effective_statuses(&self.statuses, self.nameservers.len(), nameservers_min_delegated)
    }
}

impl Domain {
    /// The borrowed form of this domain (what decoding its stored bytes as a view gives).
    pub fn view(&self) -> DomainView<'_> {
        DomainView {
            name: &self.name,
            unicode_name: &self.unicode_name,
            roid: &self.roid,
            zone: &self.zone,
            tld: &self.tld,
            registrar: &self.registrar,
            registrant: &self.registrant,
            admin: &self.admin,
            tech: self.tech.as_deref(),
            billing: self.billing.as_deref(),
            nameservers: self.nameservers.iter().map(Nameserver::view).collect(),
            ds: self.ds.iter().map(Ds::view).collect(),
            statuses: self.statuses.clone(),
            created: self.created,
            expires: self.expires,
            updated: self.updated,
            auto_renew: self.auto_renew,
            auth_code: &self.auth_code,
            auth_code_issued: self.auth_code_issued,
            deleted: self.deleted,
            registration_basis: self.registration_basis.as_deref(),
            legitimacy: self.legitimacy.as_deref(),
            owner_visible: self.owner_visible,
            pending_registrant: self.pending_registrant.as_deref(),
            pending_since: self.pending_since,
            due: self.due,
        }
    }
}

impl Nameserver {
    pub fn view(&self) -> NameserverView<'_> {
        NameserverView { name: &self.name, addresses: self.addresses.clone() }
    }
}

impl Ds {
    pub fn view(&self) -> DsView<'_> {
        DsView { key_tag: self.key_tag, algorithm: self.algorithm, digest_type: self.digest_type, digest: &self.digest }
    }
}

impl Contact {
    /// The borrowed form of this contact (what decoding its stored bytes as a view gives).
    pub fn view(&self) -> ContactView<'_> {
        ContactView {
            handle: &self.handle,
            registrar: &self.registrar,
            kind: self.kind,
            name: &self.name,
            organization: self.organization.as_deref(),
            street: self.street.iter().map(String::as_str).collect(),
            city: &self.city,
            postal_code: &self.postal_code,
            country_code: &self.country_code,
            email: &self.email,
            phone: self.phone.as_deref(),
            fiscal_id: self.fiscal_id.as_deref(),
            created: self.created,
            updated: self.updated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_domain() -> Domain {
        Domain {
            name: "xn--aores-yra.pt".into(),
            unicode_name: "açores.pt".into(),
            roid: "D1-PT".into(),
            zone: "pt".into(),
            tld: "pt".into(),
            registrar: "r1".into(),
            registrant: "C1".into(),
            admin: "C2".into(),
            tech: Some("C3".into()),
            billing: Some("C4".into()),
            nameservers: vec![
                Nameserver {
                    name: "ns1.xn--aores-yra.pt".into(),
                    addresses: vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
                },
                Nameserver { name: "ns2.example.net".into(), addresses: vec![] },
            ],
            ds: vec![Ds { key_tag: 12345, algorithm: 13, digest_type: 2, digest: "AB".repeat(32) }],
            statuses: vec![Status::ClientHold, Status::ServerTransferProhibited],
            created: Timestamp(1),
            expires: Timestamp(2),
            updated: Timestamp(3),
            auto_renew: true,
            auth_code: "s3cret!".into(),
            auth_code_issued: Timestamp(4),
            deleted: Some(Timestamp(5)),
            registration_basis: Some("basis".into()),
            legitimacy: Some("legit".into()),
            owner_visible: false,
            pending_registrant: Some("C5".into()),
            pending_since: Some(Timestamp(6)),
            due: Timestamp(7),
        }
    }

    fn full_contact() -> Contact {
        Contact {
            handle: "C1".into(),
            registrar: "r1".into(),
            kind: ContactKind::Organization,
            name: "Exemplo, Lda.".into(),
            organization: Some("Exemplo".into()),
            street: vec!["Rua Augusta 1".into(), "2º Esq.".into()],
            city: "Lisboa".into(),
            postal_code: "1100-048".into(),
            country_code: "PT".into(),
            email: "dns@exemplo.pt".into(),
            phone: Some("+351.213456789".into()),
            fiscal_id: Some("501964843".into()),
            created: Timestamp(8),
            updated: Timestamp(9),
        }
    }

    /// Each view decodes the bytes of its owned type into exactly the owned value's view, with
    /// every optional field present and absent: a field added, moved or retyped on one side only
    /// fails here.
    #[test]
    fn views_decode_what_the_owned_types_encode() {
        let full = full_domain();
        let mut empty = full_domain();
        (empty.tech, empty.billing, empty.deleted, empty.registration_basis, empty.legitimacy) =
            (None, None, None, None, None);
        (empty.pending_registrant, empty.pending_since) = (None, None);
        (empty.nameservers, empty.ds, empty.statuses) = (vec![], vec![], vec![]);
        for d in [full, empty] {
            let bytes = postcard::to_allocvec(&d).unwrap();
            let view: DomainView<'_> = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(view, d.view());
            assert_eq!(view.effective_statuses(2), d.effective_statuses(2));
            assert_eq!(view.is_registered(), d.is_registered());
        }
        let full = full_contact();
        let mut empty = full_contact();
        (empty.organization, empty.phone, empty.fiscal_id, empty.street) = (None, None, None, vec![]);
        empty.kind = ContactKind::Person;
        for c in [full, empty] {
            let bytes = postcard::to_allocvec(&c).unwrap();
            let view: ContactView<'_> = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(view, c.view());
        }
    }
}
