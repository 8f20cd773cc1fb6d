//! Fuzzes the name rules (POLICY.md section 1): any text through `Policy::parse` under the four
//! built-in profiles (pt, cv, st, gw; .pt with its reserved and blocked lists), then
//! `check_new`, `is_premium` and `needs_review`. Nothing may panic, and an accepted name must be
//! consistent: lower-case A-label of at most 253 bytes made of its label and zone, a label within
//! the profile's length and repertoire, the same name again when its A-label or U-label form is
//! parsed, and UTS #46 (the `idna` crate) agreeing with both forms.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nicbox::policy::{MAX_INPUT_BYTES, MAX_NAME_BYTES, Name, NameError, NameList, Policy, Profile, TldPolicy};

const _: () = assert!(MAX_INPUT_BYTES == nicbox::limits::NAME_INPUT_BYTES_MAX);

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let tlds = Profile::builtin_names()
            .iter()
            .map(|t| {
                let mut tp = TldPolicy::new(t, Profile::builtin(t).expect("built-in profile"));
                if *t == "pt" {
                    tp.reserved = NameList::parse(include_str!("../../ops/pt-reserved.txt")).expect("reserved");
                    tp.blocked = NameList::parse(include_str!("../../ops/pt-blocked.txt")).expect("blocked");
                }
                tp
            })
            .collect();
        Policy::new(tlds).expect("policy")
    })
}

fn same(p: &Policy, input: &str, name: &Name, form: &str) {
    match p.parse(input) {
        Ok(again) => assert_eq!(&again, name, "{form} {input:?} parses to another name"),
        Err(e) => panic!("{form} {input:?} of an accepted name is refused: {e}"),
    }
}

fn accepted(p: &Policy, name: &Name) {
    let t = p.tld(&name.tld).unwrap_or_else(|| panic!("{name}: tld {} is not one of the policy's", name.tld));
    let prof = &t.profile;
    // Shape of the A-label form.
    assert!(name.ascii.len() <= MAX_NAME_BYTES, "{name}: over {MAX_NAME_BYTES} bytes");
    assert!(
        name.ascii.is_ascii() && !name.ascii.bytes().any(|b| b.is_ascii_uppercase()),
        "{name}: not lower-case ASCII"
    );
    assert_eq!(name.ascii, format!("{}.{}", name.label_ascii, name.zone));
    assert_eq!(name.unicode, format!("{}.{}", name.label_unicode, name.zone));
    assert!(prof.has_zone(&name.zone), "{name}: zone {} is not one of .{}", name.zone, name.tld);
    assert!(name.zone == name.tld || name.zone.ends_with(&format!(".{}", name.tld)));
    assert_eq!(p.tld_of(&name.ascii).map(|t| t.tld.as_str()), Some(name.tld.as_str()));
    // The label: length, LDH, hyphens.
    let l = name.label_ascii.as_str();
    assert!((prof.label_min..=prof.label_max).contains(&l.len()), "{name}: label length {}", l.len());
    assert!(l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{name}: label not LDH");
    assert!(!l.starts_with('-') && !l.ends_with('-'), "{name}: hyphen at an edge");
    assert!(!l.contains('.') && !name.label_unicode.contains('.'));
    if l.get(2..4) == Some("--") {
        assert!(l.starts_with("xn--"), "{name}: '--' in positions 3-4 of a label that is not an A-label");
    }
    // IDN: U-label and A-label agree.
    assert_eq!(name.is_idn(), !name.label_unicode.is_ascii(), "{name}: is_idn disagrees with the U-label");
    if name.is_idn() {
        assert!(!prof.idn_chars.is_empty(), "{name}: IDN accepted in .{} which has none", name.tld);
        let decoded = idna::punycode::decode_to_string(&l[4..]).expect("an accepted A-label decodes");
        assert_eq!(decoded, name.label_unicode, "{name}: the A-label decodes to something else");
    } else {
        assert_eq!(name.label_unicode, name.label_ascii);
    }
    if let Some(c) = name.label_unicode.chars().find(|c| !prof.allows_char(*c)) {
        panic!("{name}: U-label {:?} holds {c:?}, outside the repertoire of .{}", name.label_unicode, name.tld);
    }
    match idna::domain_to_ascii(&name.unicode) {
        Ok(a) => assert_eq!(a, name.ascii, "UTS #46 writes {:?} as another A-label", name.unicode),
        Err(e) => panic!("UTS #46 refuses the accepted {:?}: {e:?}", name.unicode),
    }
    let (u, r) = idna::domain_to_unicode(&name.ascii);
    assert!(r.is_ok(), "UTS #46 refuses the accepted {}", name.ascii);
    assert_eq!(u, name.unicode, "UTS #46 reads {} as another U-label", name.ascii);
    // Every spelling of the same name is the same name.
    same(p, &name.ascii, name, "the A-label");
    same(p, &name.unicode, name, "the U-label");
    same(p, &name.ascii.to_ascii_uppercase(), name, "the upper-case A-label");
    same(p, &format!(" {}. ", name.ascii), name, "the A-label with a trailing dot");
    same(p, &format!("{}.{}", name.label_unicode, name.zone.to_ascii_uppercase()), name, "the upper-case zone");
    // The new-registration rules, premium and review: answers, never a panic.
    match p.check_new(name) {
        Ok(()) => {
            assert!(prof.zones_open.contains(&name.zone) && !prof.zones_closed.contains(&name.zone));
            assert!(t.blocked.lookup(&name.label_ascii, &name.ascii).is_none());
            assert!(t.reserved.lookup(&name.label_ascii, &name.ascii).is_none());
        }
        Err(NameError::ZoneClosed(z)) => assert_eq!(z, name.zone),
        Err(e) => assert!(matches!(e.code(), "invalid_name" | "reserved_name"), "{name}: {e:?}"),
    }
    if prof.zones_closed.contains(&name.zone) {
        assert_eq!(p.check_new(name), Err(NameError::ZoneClosed(name.zone.clone())));
    }
    if p.is_premium(name) {
        assert!(prof.premium_two_letter && name.label_unicode.chars().count() == 2);
    }
    let _ = p.needs_review(name);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let p = policy();
    match p.parse(&text) {
        Ok(name) => accepted(p, &name),
        Err(e) => {
            // `parse` decides syntax only: never a list or closed-zone answer.
            assert_eq!(e.code(), "invalid_name", "{text:?}: {e:?}");
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains(['\n', '\r']), "{text:?}: error {msg:?} is not one line");
            if text.trim().len() > MAX_INPUT_BYTES {
                assert_eq!(e, NameError::TooLong, "{text:?}");
            }
        }
    }
});
