//! Rendering WHOIS answers in the .pt directory's layout, CRLF line ends. Pure: what is shown
//! was decided by `directory`; this only lays it out.

use std::fmt::Write;

use crate::directory::{Lookup, PublicParty, PublicRecord};
use crate::model::Timestamp;

const CRLF: &str = "\r\n";

/// The answer to a query `asked` that the directory looked up.
pub fn answer(lookup: &Lookup, asked: &str, registry_name: &str) -> String {
    match lookup {
        Lookup::Found(r) => record(r, registry_name),
        Lookup::NoMatch(_) => format!("{} - No Match{CRLF}", asked.trim().trim_end_matches('.').to_lowercase()),
        Lookup::Invalid => format!("invalid search{CRLF}"),
    }
}

pub fn rate_limited(until: Timestamp, suspended: bool) -> String {
    if suspended {
        format!("% Rate limit exceeded: this address is suspended until {} UTC{CRLF}", until.to_pt())
    } else {
        format!("% Rate limit exceeded: try again after {} UTC{CRLF}", until.to_pt())
    }
}

fn party(out: &mut String, role: &str, p: &PublicParty) {
    if let Some(name) = &p.name {
        let _ = write!(out, "{role} Name: {name}{CRLF}");
        let _ = write!(out, "{role} Address: {}{CRLF}", p.street.join(", "));
        let _ = write!(out, "{role} Locality: {}{CRLF}", p.city.as_deref().unwrap_or(""));
        let _ = write!(out, "{role} ZipCode: {}{CRLF}", p.postal_code.as_deref().unwrap_or(""));
        let _ = write!(out, "{role} Country Code: {}{CRLF}", p.country_code);
    }
}

fn join(ips: &[std::net::IpAddr]) -> String {
    ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A registered domain: comment lines, the .pt block, then nameservers and further facts.
pub fn record(r: &PublicRecord, registry_name: &str) -> String {
    let mut out = String::with_capacity(1024);
    let _ = write!(out, "% {registry_name} WHOIS server{CRLF}");
    let _ = write!(out, "% One criterion: the domain name. Personal data is not disclosed (GDPR);{CRLF}");
    let _ = write!(out, "% write to the holder through the contact form linked below.{CRLF}{CRLF}");
    let _ = write!(out, "Domain: {}{CRLF}", r.unicode_name);
    if r.is_idn() {
        let _ = write!(out, "Domain (A-label): {}{CRLF}", r.name);
    }
    let _ = write!(out, "Domain Status: {}{CRLF}", r.state);
    let _ = write!(out, "Creation Date: {}{CRLF}", r.created.to_pt());
    let _ = write!(out, "Expiration Date: {}{CRLF}", r.expires.to_pt());
    if r.owner.disclosed() {
        party(&mut out, "Owner", &r.owner);
    } else {
        let _ = write!(out, "Owner Country Code: {}{CRLF}", r.owner.country_code);
    }
    if let Some(a) = &r.admin {
        party(&mut out, "Admin", a);
    }
    out.push_str(CRLF);
    for ns in &r.nameservers {
        let _ = write!(out, "Name Server: {} | IPv4: {} and IPv6: {}{CRLF}", ns.name, join(&ns.ipv4), join(&ns.ipv6));
    }
    out.push_str(CRLF);
    let statuses: Vec<&str> = r.statuses.iter().map(|s| s.as_str()).collect();
    let _ = write!(out, "Status: {}{CRLF}", statuses.join(", "));
    if r.signed() {
        let _ = write!(out, "DNSSEC: signed{CRLF}");
        for ds in &r.ds {
            let _ = write!(out, "DS: {} {} {} {}{CRLF}", ds.key_tag, ds.algorithm, ds.digest_type, ds.digest);
        }
    } else {
        let _ = write!(out, "DNSSEC: unsigned{CRLF}");
    }
    let _ = write!(out, "Registrar: {}{CRLF}", r.registrar_name);
    let _ = write!(out, "Last Update: {}{CRLF}", r.updated.to_pt());
    let _ = write!(out, "Owner Contact Form: {}{CRLF}", r.contact_form);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{PublicDs, PublicNameserver, public_party};
    use crate::model::{Contact, ContactKind, Status};

    fn contact(kind: ContactKind) -> Contact {
        Contact {
            handle: "C1".into(),
            registrar: "r".into(),
            kind,
            name: "Exemplo, Lda.".into(),
            organization: Some("Exemplo, Lda.".into()),
            street: vec!["Rua Augusta 1".into()],
            city: "Lisboa".into(),
            postal_code: "1100-048".into(),
            country_code: "PT".into(),
            email: "dns@exemplo.pt".into(),
            phone: Some("+351.213456789".into()),
            fiscal_id: Some("501964843".into()),
            created: Timestamp(0),
            updated: Timestamp(0),
        }
    }

    fn rec(kind: ContactKind) -> PublicRecord<'static> {
        PublicRecord {
            name: "xn--aores-yra.pt".into(),
            unicode_name: "açores.pt".into(),
            roid: "D1-PT".into(),
            state: "Registered",
            statuses: vec![Status::Ok],
            created: Timestamp(1_795_341_600),
            expires: Timestamp(1_826_927_940),
            updated: Timestamp(1_795_341_600),
            owner: public_party(&contact(kind).view(), true).into_owned(),
            admin: Some(public_party(&contact(kind).view(), true).into_owned()),
            tech: None,
            nameservers: vec![
                PublicNameserver {
                    name: "ns1.xn--aores-yra.pt".into(),
                    ipv4: vec!["192.0.2.1".parse().unwrap()],
                    ipv6: vec!["2001:db8::53".parse().unwrap()],
                },
                PublicNameserver { name: "ns2.example.net".into(), ipv4: vec![], ipv6: vec![] },
            ],
            ds: vec![PublicDs { key_tag: 12345, algorithm: 13, digest_type: 2, digest: "AB".repeat(32).into() }],
            registrar_id: "r".into(),
            registrar_name: "Registos, Lda.".into(),
            contact_form: "https://registo.example/contact/xn--aores-yra.pt".into(),
        }
    }

    #[test]
    fn organization_layout_matches_the_contract() {
        let text = record(&rec(ContactKind::Organization), "nicbox");
        let want = "Domain: açores.pt\r\nDomain (A-label): xn--aores-yra.pt\r\nDomain Status: Registered\r\n\
Creation Date: 22/11/2026 10:00:00\r\nExpiration Date: 22/11/2027 23:59:00\r\nOwner Name: Exemplo, Lda.\r\n\
Owner Address: Rua Augusta 1\r\nOwner Locality: Lisboa\r\nOwner ZipCode: 1100-048\r\nOwner Country Code: PT\r\n\
Admin Name: Exemplo, Lda.\r\nAdmin Address: Rua Augusta 1\r\nAdmin Locality: Lisboa\r\nAdmin ZipCode: 1100-048\r\n\
Admin Country Code: PT\r\n\r\nName Server: ns1.xn--aores-yra.pt | IPv4: 192.0.2.1 and IPv6: 2001:db8::53\r\n\
Name Server: ns2.example.net | IPv4:  and IPv6: \r\n";
        assert!(text.contains(want), "{text}");
        assert!(text.lines().all(|l| !l.contains('\n')));
        assert!(!text.replace("\r\n", "").contains('\n'), "every line ends in CRLF");
        assert!(text.contains("DNSSEC: signed\r\n") && text.contains("Owner Contact Form: https://"));
        for secret in ["dns@exemplo.pt", "213456789", "501964843"] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn a_person_shows_only_the_owner_country() {
        let text = record(&rec(ContactKind::Person), "nicbox");
        assert!(
            text.contains("Expiration Date: 22/11/2027 23:59:00\r\nOwner Country Code: PT\r\n\r\nName Server:"),
            "{text}"
        );
        assert!(!text.contains("Owner Name") && !text.contains("Admin Name") && !text.contains("Lisboa"));
    }

    #[test]
    fn no_match_and_invalid() {
        assert_eq!(answer(&Lookup::NoMatch("livre.pt".into()), " Livre.PT. ", "x"), "livre.pt - No Match\r\n");
        assert_eq!(answer(&Lookup::Invalid, "google.com", "x"), "invalid search\r\n");
        assert!(rate_limited(Timestamp(0), true).starts_with("% Rate limit exceeded"));
    }
}
