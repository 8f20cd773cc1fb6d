//! Checks of the parts of a request that are not names: contact fields, nameservers and glue,
//! DS records. Pure functions returning the contract's error codes.

use std::net::IpAddr;

use super::error::{Code, RegistryError, err};
use crate::limits::{
    ADDRESSES_PER_NAMESERVER_MAX, CONTACT_FIELD_BYTES_MAX, DS_RECORDS_MAX, EMAIL_BYTES_MAX, NAME_INPUT_BYTES_MAX,
    PHONE_BYTES_MAX, STREET_LINES_MAX,
};
use crate::model::{Contact, Domain, Ds, Nameserver};
use crate::policy::Profile;

/// Why `c` may not appear in text a registrant shows the world, or `None` when it may.
///
/// Refused: controls (Cc), format characters (Cf: bidirectional overrides and isolates, zero
/// width space, soft hyphen, byte order mark...), line and paragraph separators, private use,
/// unassigned code points (noncharacters such as U+FFFE among them, which XML 1.0 forbids) and
/// every other default-ignorable code point (Hangul fillers, variation selectors): each makes
/// the text display as something it is not, or not at all. ZERO WIDTH JOINER and NON-JOINER are
/// kept where a script needs them: between two characters of the same script that is not Latin
/// (Persian `می‌خواهم`, Devanagari conjuncts); anywhere else they are refused too.
pub fn forbidden_char(prev: Option<char>, c: char, next: Option<char>) -> Option<&'static str> {
    use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory as Gc, Script};
    use icu_properties::{CodePointMapData, CodePointSetData};
    let what = match CodePointMapData::<Gc>::new().get(c) {
        Gc::Control => "a control character",
        Gc::Format if c == '\u{200c}' || c == '\u{200d}' => {
            let scripts = CodePointMapData::<Script>::new();
            let script = |c: Option<char>| c.map(|c| scripts.get(c));
            let (before, after) = (script(prev), script(next));
            let needed = before.is_some()
                && before == after
                && !matches!(before, Some(Script::Latin | Script::Common | Script::Inherited | Script::Unknown));
            return (!needed).then_some("a zero width joiner outside a script that needs it");
        }
        Gc::Format => "an invisible format character",
        Gc::LineSeparator | Gc::ParagraphSeparator => "a line or paragraph separator",
        Gc::PrivateUse => "a private-use character",
        Gc::Unassigned | Gc::Surrogate => "an unassigned code point",
        _ if CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c) => "an invisible character",
        _ => return None,
    };
    Some(what)
}

/// The first character of `v` that [`forbidden_char`] refuses: (character, why).
pub fn first_forbidden(v: &str) -> Option<(char, &'static str)> {
    let chars: Vec<char> = v.chars().collect();
    chars.iter().enumerate().find_map(|(i, &c)| {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        forbidden_char(prev, c, chars.get(i + 1).copied()).map(|why| (c, why))
    })
}

/// "name contains U+202E, an invisible format character": the error for a refused character.
pub fn forbidden_message(field: &str, c: char, why: &str) -> String {
    format!("{field} contains U+{:04X}, {why}", u32::from(c))
}

/// A required text field: trimmed, 1..=CONTACT_FIELD_BYTES_MAX bytes, no control, format or
/// invisible characters ([`forbidden_char`]).
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
    if let Some((c, why)) = first_forbidden(v) {
        return err(Code::InvalidContact, forbidden_message(field, c, why));
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
    if let Some((c, why)) = first_forbidden(v) {
        return err(Code::InvalidContact, forbidden_message("email", c, why));
    }
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

/// A host name: LDH labels (IDN converted to A-labels), at least two labels, 253 bytes at most,
/// and a last label that is not all digits (no such TLD can exist, and `192.0.2.1` is an address,
/// not a host name).
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
    if labels.last().is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return err(
            Code::InvalidRequest,
            format!("nameserver `{v}` is not a host name: its last label is all digits, and no TLD is"),
        );
    }
    Ok(ascii)
}

/// Nameservers of `domain` (A-label) under its TLD's `profile`: names, glue where the host is
/// inside the domain and none elsewhere, no duplicates, at most `nameservers_max`. Glue is a
/// public address ([`glue_address`]).
pub fn nameservers(
    domain: &str,
    input: &[(String, Vec<String>)],
    profile: &Profile,
) -> Result<Vec<Nameserver>, RegistryError> {
    let max = profile.nameservers_max;
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
            glue_address(&ip, profile)?;
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

/// A glue address must be reachable from the Internet: not private, shared, link-local,
/// loopback, multicast or otherwise reserved ([`crate::dns::not_public`]). Documentation
/// ranges only where the profile allows them (`glue_documentation`, for labs and tests).
pub fn glue_address(ip: &IpAddr, profile: &Profile) -> Result<(), RegistryError> {
    match crate::dns::not_public(ip) {
        None => Ok(()),
        Some(n) if n.documentation && profile.glue_documentation => Ok(()),
        Some(n) => err(
            Code::InvalidRequest,
            format!(
                "{ip} cannot be a nameserver address: it is in {}, which the Internet cannot reach{}",
                n.range,
                if n.documentation { " (a lab's policy may allow it: glue_documentation)" } else { "" }
            ),
        ),
    }
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

/// What the input rules would now refuse in a stored contact (an import from another registry,
/// or a record older than a rule), one finding per field; nothing is changed.
pub fn stored_contact_findings(c: &Contact) -> Vec<String> {
    let mut fields: Vec<(&str, &str)> = vec![("name", &c.name), ("city", &c.city), ("postal_code", &c.postal_code)];
    if let Some(o) = &c.organization {
        fields.push(("organization", o));
    }
    fields.extend(c.street.iter().map(|l| ("street", l.as_str())));
    let mut out: Vec<String> =
        fields.into_iter().filter_map(|(field, v)| optional_text(field, v).err().map(|e| e.detail)).collect();
    if let Err(e) = email(&c.email) {
        out.push(e.detail);
    }
    out
}

/// What the input rules would now refuse in a stored domain's nameservers and glue under its
/// TLD's `profile`, one finding per host or address.
pub fn stored_domain_findings(d: &Domain, profile: &Profile) -> Vec<String> {
    let mut out = Vec::new();
    for ns in &d.nameservers {
        if let Err(e) = host_name(&ns.name) {
            out.push(e.detail);
        }
        out.extend(ns.addresses.iter().filter_map(|ip| glue_address(ip, profile).err().map(|e| e.detail)));
    }
    if let Some((c, why)) = first_forbidden(&d.auth_code) {
        out.push(forbidden_message("auth code", c, why));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        list.iter().map(|(n, a)| (n.to_string(), a.iter().map(|s| s.to_string()).collect())).collect()
    }

    fn lab() -> Profile {
        Profile { glue_documentation: true, ..Profile::builtin("pt").unwrap() }
    }

    fn with_max(max: usize) -> Profile {
        Profile { nameservers_max: max, ..lab() }
    }

    #[test]
    fn nameserver_rules() {
        let d = "exemplo.pt";
        let p = lab();
        assert!(nameservers(d, &ns(&[("ns1.exemplo.pt", &["192.0.2.1"]), ("ns.example.net", &[])]), &p).is_ok());
        let code = |r: Result<Vec<Nameserver>, RegistryError>| r.unwrap_err().code;
        assert_eq!(code(nameservers(d, &ns(&[("ns1.exemplo.pt", &[])]), &p)), Code::MissingGlue);
        assert_eq!(code(nameservers(d, &ns(&[("ns.example.net", &["192.0.2.1"])]), &p)), Code::InvalidRequest);
        assert_eq!(
            code(nameservers(d, &ns(&[("a.example.net", &[]), ("b.example.net", &[])]), &with_max(1))),
            Code::TooManyNameservers
        );
        assert_eq!(
            code(nameservers(d, &ns(&[("a.example.net", &[]), ("A.example.net.", &[])]), &p)),
            Code::InvalidRequest
        );
        assert_eq!(code(nameservers(d, &ns(&[("bad_host.net", &[])]), &p)), Code::InvalidRequest);
        assert_eq!(code(nameservers(d, &ns(&[("ns1.exemplo.pt", &["999.1.1.1"])]), &p)), Code::InvalidRequest);
        assert_eq!(code(nameservers(d, &ns(&[("ns1.exemplo.pt", &["127.0.0.1"])]), &p)), Code::InvalidRequest);
        // A similar-looking name outside the domain is not inside it.
        assert!(nameservers(d, &ns(&[("ns.notexemplo.pt", &[])]), &p).is_ok());
        let v6 = nameservers(d, &ns(&[("ns1.exemplo.pt", &["2001:db8::53"])]), &p).unwrap();
        assert_eq!(v6[0].addresses[0].to_string(), "2001:db8::53");
    }

    #[test]
    fn glue_outside_public_space_is_refused() {
        let d = "exemplo.pt";
        let (lab, production) = (lab(), Profile::builtin("pt").unwrap());
        let glue = |ip: &str, p: &Profile| nameservers(d, &ns(&[("ns1.exemplo.pt", &[ip])]), p);
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.1.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "fc00::1",
            "fd00::53",
            "fe80::1",
            "::1",
            "::ffff:10.0.0.1",
        ] {
            for p in [&lab, &production] {
                let e = glue(ip, p).unwrap_err();
                assert_eq!(e.code, Code::InvalidRequest, "{ip}");
                assert!(e.detail.contains("cannot reach"), "{ip}: {}", e.detail);
            }
        }
        let e = glue("10.1.2.3", &production).unwrap_err();
        assert!(e.detail.contains("private address space (10.0.0.0/8)"), "{}", e.detail);
        // Documentation ranges: only where the policy allows them.
        for ip in ["192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::53"] {
            assert!(glue(ip, &lab).is_ok(), "{ip}");
            let e = glue(ip, &production).unwrap_err();
            assert!(e.detail.contains("documentation"), "{ip}: {}", e.detail);
        }
        // Public space is glue anywhere; the neighbours of the refused ranges too.
        for ip in ["193.136.192.1", "172.32.0.1", "100.128.0.1", "2001:690:a00::53", "2a00:1450::1"] {
            assert!(glue(ip, &production).is_ok(), "{ip}");
        }
    }

    #[test]
    fn host_names_end_in_a_possible_tld() {
        for bad in ["ns1.example.123", "192.0.2.1", "ns.10", "a.b.0"] {
            let e = host_name(bad).unwrap_err();
            assert!(e.detail.contains("all digits"), "{bad}: {}", e.detail);
        }
        for good in ["ns1.123.pt", "ns1.example.xn--p1ai", "1.2.3.example.net", "ns.exemplo.pt."] {
            assert!(host_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn invisible_and_format_characters_are_refused() {
        for (bad, cp) in [
            ("Jo\u{202e}ão", "U+202E"),
            ("Maria\u{200b}Silva", "U+200B"),
            ("a\u{2066}b\u{2069}", "U+2066"),
            ("\u{feff}Rui", "U+FEFF"),
            ("Ana\u{00ad}Lima", "U+00AD"),
            ("Rua\u{2028}Nova", "U+2028"),
            ("Rua\u{e000}", "U+E000"),
            ("x\u{fffe}", "U+FFFE"),
            ("Kim\u{3164}", "U+3164"),
            ("Ana\u{fe0f}", "U+FE0F"),
            // Joiners between Latin letters, or at an edge, hide nothing a script needs.
            ("Jo\u{200d}ão", "U+200D"),
            ("Lima\u{200c}", "U+200C"),
            ("\u{1f468}\u{200d}\u{1f469}", "U+200D"),
        ] {
            let e = text("name", bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidContact);
            assert!(e.detail.contains(cp), "{bad:?}: {}", e.detail);
        }
        // Persian and Devanagari need their joiners.
        assert!(text("name", "می\u{200c}خواهم").is_ok());
        assert!(text("name", "क्\u{200d}ष").is_ok());
        for good in ["José Fernandes", "Ünal Çelik", "北京市", "Ελένη", "O'Neill-Smith", "Dvořák"] {
            assert_eq!(text("name", good).unwrap(), good);
        }
        assert!(email("a\u{200b}b@exemplo.pt").is_err());
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
