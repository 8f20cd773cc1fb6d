//! Checks of the parts of a request that are not names: contact fields, nameservers and glue,
//! DS records. Pure functions returning the contract's error codes.

use std::net::IpAddr;

use super::error::{Code, RegistryError, err};
use crate::limits::{
    ADDRESSES_PER_NAMESERVER_MAX, CONTACT_FIELD_BYTES_MAX, DS_RECORDS_MAX, EMAIL_BYTES_MAX, NAME_INPUT_BYTES_MAX,
    PHONE_BYTES_MAX, STREET_LINES_MAX,
};
use crate::model::{Ds, Nameserver};

/// A required text field: trimmed, 1..=CONTACT_FIELD_BYTES_MAX bytes, no control characters.
pub fn text(field: &str, v: &str) -> Result<String, RegistryError> {
    let v = v.trim();
    if v.is_empty() {
        return err(Code::InvalidContact, format!("{field} is required"));
    }
    optional_text(field, v).map(|s| s.unwrap_or_default())
}

pub fn optional_text(field: &str, v: &str) -> Result<Option<String>, RegistryError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.len() > CONTACT_FIELD_BYTES_MAX {
        return err(Code::InvalidContact, format!("{field} is longer than {CONTACT_FIELD_BYTES_MAX} bytes"));
    }
    if v.chars().any(char::is_control) {
        return err(Code::InvalidContact, format!("{field} contains a control character"));
    }
    Ok(Some(v.to_string()))
}

pub fn street(lines: &[String]) -> Result<Vec<String>, RegistryError> {
    if lines.is_empty() || lines.len() > STREET_LINES_MAX {
        return err(Code::InvalidContact, format!("street needs 1 to {STREET_LINES_MAX} lines"));
    }
    lines.iter().map(|l| text("street", l)).collect()
}

pub fn email(v: &str) -> Result<String, RegistryError> {
    let v = v.trim();
    let ok = v.len() <= EMAIL_BYTES_MAX
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && match v.rsplit_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            }
            None => false,
        };
    if !ok {
        return err(Code::InvalidContact, format!("email `{v}` is not an email address"));
    }
    Ok(v.to_string())
}

/// Phone numbers in the EPP form `+CC.NUMBER` (`+351.912345678`).
pub fn phone(v: &str) -> Result<String, RegistryError> {
    let v = v.trim();
    let ok = v.len() <= PHONE_BYTES_MAX
        && match v.strip_prefix('+').and_then(|r| r.split_once('.')) {
            Some((cc, num)) => {
                (1..=3).contains(&cc.len())
                    && cc.bytes().all(|b| b.is_ascii_digit())
                    && (4..=14).contains(&num.len())
                    && num.bytes().all(|b| b.is_ascii_digit())
            }
            None => false,
        };
    if !ok {
        return err(Code::InvalidContact, format!("phone `{v}` is not of the form +351.912345678"));
    }
    Ok(v.to_string())
}

/// A host name: LDH labels (IDN converted to A-labels), at least two labels, 253 bytes at most.
pub fn host_name(v: &str) -> Result<String, RegistryError> {
    if v.len() > NAME_INPUT_BYTES_MAX {
        return err(Code::InvalidRequest, "nameserver name too long");
    }
    let trimmed = v.trim().trim_end_matches('.');
    let ascii = idna::domain_to_ascii_strict(trimmed)
        .map_err(|_| RegistryError::new(Code::InvalidRequest, format!("nameserver `{v}` is not a host name")))?;
    let labels: Vec<&str> = ascii.split('.').collect();
    let ok = ascii.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !ok {
        return err(Code::InvalidRequest, format!("nameserver `{v}` is not a host name"));
    }
    Ok(ascii)
}

/// Nameservers of `domain` (A-label): names, glue where the host is inside the domain, none
/// elsewhere, no duplicates, at most `max`.
pub fn nameservers(
    domain: &str,
    input: &[(String, Vec<String>)],
    max: usize,
) -> Result<Vec<Nameserver>, RegistryError> {
    if input.len() > max {
        return err(Code::TooManyNameservers, format!("{} nameservers given, at most {max} allowed", input.len()));
    }
    let mut out: Vec<Nameserver> = Vec::with_capacity(input.len());
    for (name, addresses) in input {
        let host = host_name(name)?;
        if out.iter().any(|n| n.name == host) {
            return err(Code::InvalidRequest, format!("nameserver {host} is listed twice"));
        }
        if addresses.len() > ADDRESSES_PER_NAMESERVER_MAX {
            return err(
                Code::InvalidRequest,
                format!("nameserver {host}: at most {ADDRESSES_PER_NAMESERVER_MAX} addresses"),
            );
        }
        let mut ips: Vec<IpAddr> = Vec::with_capacity(addresses.len());
        for a in addresses {
            let ip: IpAddr = a
                .trim()
                .parse()
                .map_err(|_| RegistryError::new(Code::InvalidRequest, format!("`{a}` is not an IP address")))?;
            if ip.is_unspecified() || ip.is_multicast() || ip.is_loopback() {
                return err(Code::InvalidRequest, format!("{ip} cannot be a nameserver address"));
            }
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        let inside = host == domain || host.ends_with(&format!(".{domain}"));
        if inside && ips.is_empty() {
            return err(Code::MissingGlue, format!("nameserver {host} is inside {domain} and needs glue addresses"));
        }
        if !inside && !ips.is_empty() {
            return err(
                Code::InvalidRequest,
                format!("nameserver {host} is outside {domain}: glue addresses are only for hosts inside the domain"),
            );
        }
        out.push(Nameserver { name: host, addresses: ips });
    }
    Ok(out)
}

/// DS records (RFC 4034, 4509, 6605): known algorithms and digest types, digest length by type.
pub fn ds(input: &[(u16, u8, u8, String)]) -> Result<Vec<Ds>, RegistryError> {
    if input.len() > DS_RECORDS_MAX {
        return err(Code::InvalidRequest, format!("at most {DS_RECORDS_MAX} DS records"));
    }
    let mut out: Vec<Ds> = Vec::with_capacity(input.len());
    for (key_tag, algorithm, digest_type, digest) in input {
        if ![5u8, 7, 8, 10, 13, 14, 15, 16].contains(algorithm) {
            return err(Code::InvalidRequest, format!("DS algorithm {algorithm} is not supported"));
        }
        let want = match digest_type {
            1 => 40,
            2 => 64,
            4 => 96,
            _ => {
                return err(Code::InvalidRequest, format!("DS digest type {digest_type} is not supported"));
            }
        };
        let d: String = digest.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if d.len() != want || !d.bytes().all(|b| b.is_ascii_hexdigit()) {
            return err(
                Code::InvalidRequest,
                format!("DS digest of type {digest_type} must be {want} hexadecimal digits"),
            );
        }
        let rec = Ds { key_tag: *key_tag, algorithm: *algorithm, digest_type: *digest_type, digest: d };
        if !out.contains(&rec) {
            out.push(rec);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter().map(|(n, a)| (n.to_string(), a.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn nameserver_rules() {
        let d = "exemplo.pt";
        assert!(nameservers(d, &ns(&[("ns1.exemplo.pt", &["192.0.2.1"]), ("ns.example.net", &[])]), 13).is_ok());
        let code = |r: Result<Vec<Nameserver>, RegistryError>| r.unwrap_err().code;
        assert_eq!(code(nameservers(d, &ns(&[("ns1.exemplo.pt", &[])]), 13)), Code::MissingGlue);
        assert_eq!(code(nameservers(d, &ns(&[("ns.example.net", &["192.0.2.1"])]), 13)), Code::InvalidRequest);
        assert_eq!(
            code(nameservers(d, &ns(&[("a.example.net", &[]), ("b.example.net", &[])]), 1)),
            Code::TooManyNameservers
        );
        assert_eq!(
            code(nameservers(d, &ns(&[("a.example.net", &[]), ("A.example.net.", &[])]), 13)),
            Code::InvalidRequest
        );
        assert_eq!(code(nameservers(d, &ns(&[("bad_host.net", &[])]), 13)), Code::InvalidRequest);
        assert_eq!(code(nameservers(d, &ns(&[("ns1.exemplo.pt", &["999.1.1.1"])]), 13)), Code::InvalidRequest);
        assert_eq!(code(nameservers(d, &ns(&[("ns1.exemplo.pt", &["127.0.0.1"])]), 13)), Code::InvalidRequest);
        // A similar-looking name outside the domain is not inside it.
        assert!(nameservers(d, &ns(&[("ns.notexemplo.pt", &[])]), 13).is_ok());
        let v6 = nameservers(d, &ns(&[("ns1.exemplo.pt", &["2001:db8::53"])]), 13).unwrap();
        assert_eq!(v6[0].addresses[0].to_string(), "2001:db8::53");
    }

    #[test]
    fn ds_rules() {
        let good = (12345u16, 13u8, 2u8, "a".repeat(64));
        assert_eq!(ds(std::slice::from_ref(&good)).unwrap()[0].digest, "A".repeat(64));
        assert!(ds(&[(1, 13, 2, "a".repeat(63))]).is_err());
        assert!(ds(&[(1, 13, 3, "a".repeat(64))]).is_err());
        assert!(ds(&[(1, 99, 2, "a".repeat(64))]).is_err());
        assert!(ds(&[(1, 13, 2, "g".repeat(64))]).is_err());
        assert!(ds(&vec![good; DS_RECORDS_MAX + 1]).is_err());
    }

    #[test]
    fn contact_fields() {
        assert!(email("dns@exemplo.pt").is_ok());
        for bad in ["", "no-at.pt", "a@b", "a b@c.pt", "@c.pt", "a@.pt"] {
            assert!(email(bad).is_err(), "{bad}");
        }
        assert!(phone("+351.912345678").is_ok());
        for bad in ["912345678", "+351912345678", "+351.12", "+3511.912345678", "+351.91234567a"] {
            assert!(phone(bad).is_err(), "{bad}");
        }
        assert!(text("name", "  ").is_err());
        assert!(text("name", "a\u{7}b").is_err());
        assert!(text("name", &"x".repeat(256)).is_err());
        assert_eq!(text("city", " Évora ").unwrap(), "Évora");
        assert!(street(&[]).is_err());
        assert!(street(&["a".into(), "b".into(), "c".into(), "d".into()]).is_err());
    }
}
