//! Tests of the policy module: one table row per rule of POLICY.md section 1 and per fiscal id
//! rule, tests of profiles and lists, and property tests (round trip of accepted names, no
//! panic on arbitrary input).

use proptest::prelude::*;
use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde::de::value::{Error as DeError, MapDeserializer};

use super::*;

const RESERVED: &str = "\
# geographic names
lisboa   geographic name (municipality)
évora geographic name (municipality)

porto.com.pt taken by the municipality
";

const BLOCKED: &str = "# offensive words\nbadword offensive word\n";

fn policy() -> Policy {
    let mut pt = TldPolicy::new("pt", Profile::builtin("pt").expect("builtin pt"));
    pt.reserved = NameList::parse(RESERVED).expect("reserved list");
    pt.blocked = NameList::parse(BLOCKED).expect("blocked list");
    let others = ["cv", "st", "gw"].iter().map(|t| TldPolicy::new(t, Profile::builtin(t).expect("builtin")));
    Policy::new(std::iter::once(pt).chain(others).collect()).expect("valid policy")
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Kind {
    Empty,
    TooLong,
    OtherTld,
    NotRegistrable,
    InvalidLabel,
    ZoneClosed,
    Reserved,
    Blocked,
}

fn kind(e: &NameError) -> Kind {
    match e {
        NameError::Empty => Kind::Empty,
        NameError::TooLong => Kind::TooLong,
        NameError::OtherTld => Kind::OtherTld,
        NameError::NotRegistrable => Kind::NotRegistrable,
        NameError::InvalidLabel(_) => Kind::InvalidLabel,
        NameError::ZoneClosed(_) => Kind::ZoneClosed,
        NameError::Reserved(_) => Kind::Reserved,
        NameError::Blocked(_) => Kind::Blocked,
    }
}

/// Expected outcome of one row.
#[derive(Debug, Clone)]
enum Want {
    /// `parse` and `check_new` succeed; the A-label name is this.
    Ok(&'static str),
    /// `parse` fails with this kind, and the message contains the text.
    Parse(Kind, &'static str),
    /// `parse` succeeds, `check_new` fails with this kind, and the message contains the text.
    New(Kind, &'static str),
}

fn run_rows(rows: &[(String, Want)]) {
    let p = policy();
    let mut failures = Vec::new();
    for (input, want) in rows {
        let parsed = p.parse(input);
        let outcome = match (&parsed, want) {
            (Ok(n), Want::Ok(ascii)) => match p.check_new(n) {
                Ok(()) if n.ascii == *ascii => None,
                other => Some(format!("{other:?}, name {n:?}")),
            },
            (Err(e), Want::Parse(k, text)) if kind(e) == *k && e.to_string().contains(text) => None,
            (Ok(n), Want::New(k, text)) => match p.check_new(n) {
                Err(e) if kind(&e) == *k && e.to_string().contains(text) => None,
                other => Some(format!("check_new gave {other:?}")),
            },
            _ => Some(format!("parse gave {parsed:?}")),
        };
        if let Some(got) = outcome {
            failures.push(format!("{input:?}: wanted {want:?}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn row(input: &str, want: Want) -> (String, Want) {
    (input.to_owned(), want)
}

#[test]
fn name_rules_table() {
    use Kind::*;
    let l63 = "a".repeat(63);
    let l64 = "a".repeat(64);
    let mut rows = vec![
        // Valid ASCII, case, white space, trailing dot.
        row("example.pt", Want::Ok("example.pt")),
        row("EXAMPLE.PT", Want::Ok("example.pt")),
        row("ExAmPlE.Com.Pt", Want::Ok("example.com.pt")),
        row("example.pt.", Want::Ok("example.pt")),
        row("  example.pt \t", Want::Ok("example.pt")),
        row("a1-b2.pt", Want::Ok("a1-b2.pt")),
        row("123.pt", Want::Ok("123.pt")),
        // UTS #46 mapping: full-width letters and ideographic full stop.
        row("ＥＸＡＭＰＬＥ.pt", Want::Ok("example.pt")),
        row("example。pt", Want::Ok("example.pt")),
        // Empty input.
        row("", Want::Parse(Empty, "empty")),
        row("   ", Want::Parse(Empty, "empty")),
        row(".", Want::Parse(Empty, "empty")),
        row("example.pt..", Want::Parse(InvalidLabel, "empty label")),
        row("a..pt", Want::Parse(InvalidLabel, "empty label")),
        row(".example.pt", Want::Parse(InvalidLabel, "empty label")),
        // Length: 2 to 63 (A-label).
        row("a.pt", Want::Parse(InvalidLabel, "minimum in .pt is 2")),
        row("ab.com.pt", Want::Ok("ab.com.pt")),
        (format!("{l63}.pt"), Want::Ok(Box::leak(format!("{l63}.pt").into_boxed_str()))),
        (format!("{l64}.pt"), Want::Parse(TooLong, "too long")),
        ("a".repeat(2000), Want::Parse(TooLong, "too long")),
        // Hyphens.
        row("-abc.pt", Want::Parse(InvalidLabel, "start with a hyphen")),
        row("abc-.pt", Want::Parse(InvalidLabel, "end with a hyphen")),
        row("ab--cd.pt", Want::Parse(InvalidLabel, "third and fourth")),
        row("a-b-c.pt", Want::Ok("a-b-c.pt")),
        row("ab-cd.pt", Want::Ok("ab-cd.pt")),
        row("-ção.pt", Want::Parse(InvalidLabel, "start with a hyphen")),
        row("çã--o.pt", Want::Parse(InvalidLabel, "third and fourth")),
        // A-labels.
        row("xn--aores-yra.pt", Want::Ok("xn--aores-yra.pt")),
        row("XN--AORES-YRA.PT", Want::Ok("xn--aores-yra.pt")),
        row("xn--.pt", Want::Parse(InvalidLabel, "nothing after")),
        row("xn--abc-.pt", Want::Parse(InvalidLabel, "decodes to the ASCII")),
        row("xn--a.pt", Want::Parse(InvalidLabel, "")),
        row("xn--99999999999999999.pt", Want::Parse(InvalidLabel, "")),
        // The brief's example xn--aores-xqa is a different, valid name: aáores.
        row("xn--aores-xqa.pt", Want::Ok("xn--aores-xqa.pt")),
        row("xn--mller-kva.pt", Want::Parse(InvalidLabel, "'ü'")),
        row("xn--mller-kva.gw", Want::Ok("xn--mller-kva.gw")),
        // Non-canonical A-labels: decomposed ç, capital Ç, full-width spelling of one.
        (
            format!("xn--{}.pt", idna::punycode::encode_str("ac\u{327}ores").expect("encode")),
            Want::Parse(InvalidLabel, "canonical"),
        ),
        (
            format!("xn--{}.pt", idna::punycode::encode_str("aÇores").expect("encode")),
            Want::Parse(InvalidLabel, "canonical"),
        ),
        row("ｘｎ--aores-yra.pt", Want::Ok("xn--aores-yra.pt")),
        // U-labels: NFC and case are normalised.
        row("açores.pt", Want::Ok("xn--aores-yra.pt")),
        row("AÇORES.pt", Want::Ok("xn--aores-yra.pt")),
        row("ac\u{327}ores.pt", Want::Ok("xn--aores-yra.pt")),
        row("açores.com.pt", Want::Ok("xn--aores-yra.com.pt")),
        // Repertoire: characters outside it.
        row("müller.pt", Want::Parse(InvalidLabel, "'ü'")),
        row("españa.pt", Want::Parse(InvalidLabel, "'ñ'")),
        row("straße.pt", Want::Parse(InvalidLabel, "'ß'")),
        row("gаto.pt", Want::Parse(InvalidLabel, "U+0430")),
        row("abc😀.pt", Want::Parse(InvalidLabel, "U+1F600")),
        row("αβγ.pt", Want::Parse(InvalidLabel, "'α'")),
        row("abc\u{200d}d.pt", Want::Parse(InvalidLabel, "U+200D")),
        row("\u{301}abc.pt", Want::Parse(InvalidLabel, "U+0301")),
        // No IDN at all in .st; 1 to 23 characters there.
        row("açores.st", Want::Parse(InvalidLabel, "not allowed in .st")),
        row("xn--aores-yra.st", Want::Parse(InvalidLabel, "not allowed in .st")),
        row("a.st", Want::Ok("a.st")),
        (format!("{}.st", "a".repeat(23)), Want::Ok(Box::leak(format!("{}.st", "a".repeat(23)).into_boxed_str()))),
        (format!("{}.st", "a".repeat(24)), Want::Parse(TooLong, "")),
        // .gw: more characters, alpha-3 codes forbidden.
        row("müller.gw", Want::Ok("xn--mller-kva.gw")),
        row("españa.gw", Want::Ok("xn--espaa-rta.gw")),
        row("prt.gw", Want::New(Reserved, "alpha-3")),
        row("prt.pt", Want::Ok("prt.pt")),
        // Zones.
        row("example.com.pt", Want::Ok("example.com.pt")),
        row("example.gov.pt", Want::Ok("example.gov.pt")),
        row("example.org.pt", Want::New(ZoneClosed, "org.pt")),
        row("example.edu.pt", Want::New(ZoneClosed, "edu.pt")),
        row("example.nome.pt", Want::New(ZoneClosed, "nome.pt")),
        row("example.nome.cv", Want::Ok("example.nome.cv")),
        row("a.b.pt", Want::Parse(NotRegistrable, "")),
        row("www.example.pt", Want::Parse(NotRegistrable, "")),
        row("www.example.com.pt", Want::Parse(NotRegistrable, "")),
        row("pt", Want::Parse(NotRegistrable, "")),
        row("pt.", Want::Parse(NotRegistrable, "")),
        row("com.pt", Want::Parse(NotRegistrable, "")),
        row("org.pt", Want::Parse(NotRegistrable, "")),
        row("google.com", Want::Parse(OtherTld, "")),
        row("example", Want::Parse(OtherTld, "")),
        row("example.ｐｔ", Want::Ok("example.pt")),
        row("example.xn--p1ai", Want::Parse(OtherTld, "")),
        // Forbidden names: existing TLDs, country codes, two-letter names.
        row("com.com.pt", Want::New(Reserved, "name of an existing TLD")),
        row("info.pt", Want::New(Reserved, "name of an existing TLD")),
        row("xn--p1ai.pt", Want::Parse(InvalidLabel, "U+0440")),
        row("es.pt", Want::New(Reserved, "two-letter country code")),
        row("PT.com.pt", Want::New(Reserved, "two-letter country code")),
        row("uk.pt", Want::New(Reserved, "two-letter country code")),
        row("xq.pt", Want::Ok("xq.pt")),
        row("çã.pt", Want::Ok("xn--3cah.pt")),
        // Lists.
        row("lisboa.pt", Want::New(Reserved, "geographic name (municipality)")),
        row("LISBOA.com.pt", Want::New(Reserved, "geographic name (municipality)")),
        row("évora.pt", Want::New(Reserved, "geographic name (municipality)")),
        row("xn--vora-9oa.gov.pt", Want::New(Reserved, "geographic name")),
        row("porto.com.pt", Want::New(Reserved, "taken by the municipality")),
        row("porto.pt", Want::Ok("porto.pt")),
        row("badword.pt", Want::New(Blocked, "offensive word")),
        row("lisboa.cv", Want::Ok("lisboa.cv")),
        // Other forbidden characters.
        row("exa mple.pt", Want::Parse(InvalidLabel, "' '")),
    ];
    for c in "_@!/*+,:;~=$&'()%\"<>?[]\\^`{|}#".chars() {
        let want = Want::Parse(InvalidLabel, "is not allowed in .pt");
        rows.push((format!("ex{c}ample.pt"), want));
    }
    for c in "áàâãçéêíóôõú".chars() {
        let input = format!("{c}bc.pt");
        let ascii = format!("xn--{}.pt", idna::punycode::encode_str(&format!("{c}bc")).expect("encode"));
        rows.push((input, Want::Ok(Box::leak(ascii.into_boxed_str()))));
    }
    run_rows(&rows);
}

#[test]
fn unicode_and_ascii_forms_give_the_same_name() {
    let p = policy();
    let u = p.parse("açores.pt").expect("U-label");
    let a = p.parse("xn--aores-yra.pt").expect("A-label");
    assert_eq!(u, a);
    assert_eq!(u.ascii, "xn--aores-yra.pt");
    assert_eq!(u.unicode, "açores.pt");
    assert_eq!(u.label_ascii, "xn--aores-yra");
    assert_eq!(u.label_unicode, "açores");
    assert_eq!(u.zone, "pt");
    assert_eq!(u.tld, "pt");
    assert!(u.is_idn());
    let plain = p.parse("Example.com.pt.").expect("ascii");
    assert_eq!(plain.unicode, plain.ascii);
    assert_eq!(plain.zone, "com.pt");
    assert!(!plain.is_idn());
    assert_eq!(plain.to_string(), "example.com.pt");
}

#[test]
fn review_premium_and_error_codes() {
    let p = policy();
    let gov = p.parse("example.gov.pt").expect("gov");
    assert!(p.needs_review(&gov));
    let com = p.parse("example.com.pt").expect("com");
    assert!(!p.needs_review(&com));
    let gov_cv = p.parse("example.gov.cv").expect("gov.cv");
    assert!(p.needs_review(&gov_cv));

    let xq = p.parse("xq.pt").expect("xq");
    assert!(p.is_premium(&xq));
    let idn2 = p.parse("çã.pt").expect("two IDN characters");
    assert!(p.is_premium(&idn2), "counted in U-label characters");
    assert!(!p.is_premium(&com));

    let mut review = policy();
    review.tlds[0].profile.registration_mode = RegistrationMode::Review;
    review.tlds[0].profile.premium_two_letter = false;
    assert!(review.needs_review(&com));
    assert!(!review.is_premium(&xq));

    let closed = p.parse("example.org.pt").expect("parse closed");
    assert_eq!(p.check_new(&closed), Err(NameError::ZoneClosed("org.pt".into())));
    assert_eq!(NameError::ZoneClosed("org.pt".into()).code(), "zone_closed");
    assert_eq!(NameError::Reserved("x".into()).code(), "reserved_name");
    assert_eq!(NameError::Blocked("x".into()).code(), "reserved_name");
    for e in [
        NameError::Empty,
        NameError::TooLong,
        NameError::OtherTld,
        NameError::NotRegistrable,
        NameError::InvalidLabel("x".into()),
    ] {
        assert_eq!(e.code(), "invalid_name");
    }
}

#[test]
fn tld_of_finds_the_tld() {
    let p = policy();
    assert_eq!(p.tld_of("example.pt").map(|t| t.tld.as_str()), Some("pt"));
    assert_eq!(p.tld_of("example.com.PT").map(|t| t.tld.as_str()), Some("pt"));
    assert_eq!(p.tld_of("pt").map(|t| t.tld.as_str()), Some("pt"));
    assert_eq!(p.tld_of("example.cv.").map(|t| t.tld.as_str()), Some("cv"));
    assert!(p.tld_of("examplept").is_none());
    assert!(p.tld_of("google.com").is_none());
    assert!(p.tld_of("").is_none());
}

#[test]
fn tld_without_its_apex_zone() {
    let mut profile = Profile::builtin("pt").expect("pt");
    profile.zones_open = vec!["com.pt".into()];
    profile.zones_review = Vec::new();
    let p = Policy::new(vec![TldPolicy::new("pt", profile)]).expect("valid");
    assert_eq!(p.parse("example.pt"), Err(NameError::NotRegistrable));
    assert!(p.parse("example.com.pt").is_ok());
    assert_eq!(p.parse("example.cv"), Err(NameError::OtherTld));
}

#[test]
fn mixed_scripts_are_refused() {
    let mut profile = Profile::builtin("pt").expect("pt");
    // An operator who allowed Cyrillic letters still gets no mixed-script labels.
    profile.idn_chars.push_str("аб");
    let p = Policy::new(vec![TldPolicy::new("pt", profile)]).expect("valid");
    assert!(p.parse("аб1.pt").is_ok());
    let err = p.parse("gаto.pt").expect_err("mixed");
    assert!(err.to_string().contains("mixes scripts"), "{err}");
}

#[test]
fn list_entries_and_lookup() {
    let list = NameList::parse(RESERVED).expect("list");
    assert_eq!(list.len(), 3);
    assert!(!list.is_empty());
    assert_eq!(list.entries()[1].name, "xn--vora-9oa");
    assert_eq!(list.entries()[1].reason, "geographic name (municipality)");
    assert_eq!(list.lookup("lisboa", "lisboa.pt"), Some("geographic name (municipality)"));
    assert_eq!(list.lookup("lisboa", "lisboa.com.pt"), Some("geographic name (municipality)"));
    // A full-name entry only matches that name.
    assert_eq!(list.lookup("porto", "porto.com.pt"), Some("taken by the municipality"));
    assert_eq!(list.lookup("porto", "porto.pt"), None);
    assert_eq!(list.lookup("porto", "porto.gov.pt"), None);
    assert!(NameList::parse("").expect("empty").is_empty());
    // Duplicates keep the first reason; names are stored as lower-case A-labels.
    let dup = NameList::parse("Foo first\nfoo. second\nXN--VORA-9OA x\n").expect("dup");
    assert_eq!(dup.len(), 2);
    assert_eq!(dup.lookup("foo", "foo.pt"), Some("first"));
    assert_eq!(dup.lookup("xn--vora-9oa", "xn--vora-9oa.pt"), Some("x"));
}

#[test]
fn list_parse_errors_name_the_line() {
    let cases: &[(&str, usize, &str)] = &[
        ("ok reason\nlisboa\n", 2, "no reason"),
        ("# c\n\nlisboa   \n", 3, "no reason"),
        ("bad_name reason\n", 1, "not a valid"),
        ("ok reason\n-abc reason\n", 2, "not a valid"),
        ("a..b reason\n", 1, "not a valid"),
        ("xn--a reason\n", 1, "not a valid"),
    ];
    for (text, line, msg) in cases {
        match NameList::parse(text) {
            Err(ListError::Line { line: l, message }) => {
                assert_eq!(l, *line, "{text:?}");
                assert!(message.contains(msg), "{text:?}: {message}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let long = format!("ok reason\n{} reason\n", "a".repeat(1000));
    match NameList::parse(&long) {
        Err(ListError::Line { line: 2, message }) => assert!(message.contains("1000 bytes")),
        other => panic!("{other:?}"),
    }
    let err = NameList::parse("x\n").expect_err("no reason");
    assert_eq!(err.to_string(), "name list line 1: entry \"x\" has no reason");
}

#[test]
fn list_entry_limit() {
    let mut text = String::new();
    for i in 0..=MAX_ENTRIES {
        text.push_str(&format!("n{i} r\n"));
    }
    match NameList::parse(&text) {
        Err(ListError::Line { line, .. }) => assert_eq!(line, MAX_ENTRIES + 1),
        other => panic!("{:?}", other.map(|l| l.len())),
    }
}

#[test]
fn list_load_reads_a_file() {
    let dir = std::env::temp_dir().join(format!("nicbox-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("reserved.txt");
    std::fs::write(&path, RESERVED).expect("write");
    let list = NameList::load(&path).expect("load");
    assert_eq!(list.len(), 3);
    std::fs::remove_file(&path).expect("rm");
    let err = NameList::load(&path).expect_err("missing");
    assert!(matches!(err, ListError::Io { .. }));
    assert!(err.to_string().contains("reserved.txt"));
    std::fs::remove_dir(&dir).expect("rmdir");
}

#[test]
fn list_load_is_bounded_whatever_the_file_claims() {
    // /dev/zero's size is 0: a bound checked on the size alone would read forever.
    let err = NameList::load(std::path::Path::new("/dev/zero")).expect_err("endless");
    assert!(matches!(err, ListError::FileTooLarge { .. }), "{err}");
}

#[test]
fn builtin_profiles_are_valid() {
    assert_eq!(Profile::builtin_names(), &["pt", "cv", "st", "gw"]);
    for name in Profile::builtin_names() {
        let p = Profile::builtin(name).expect("builtin");
        p.validate(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(Profile::builtin("com").is_none());
    let pt = Profile::builtin("pt").expect("pt");
    assert_eq!(pt.zones_open, ["pt", "com.pt", "gov.pt"]);
    assert_eq!(pt.zones_review, ["gov.pt"]);
    assert_eq!(pt.zones_closed.len(), 6);
    assert_eq!(pt.idn_chars.chars().count(), 12);
    assert_eq!((pt.label_min, pt.label_max), (2, 63));
    assert_eq!(pt.create_periods, [1, 3, 5]);
    let cv = Profile::builtin("cv").expect("cv");
    assert_eq!(cv.zones_open.len(), 9);
    assert_eq!(cv.zones_review, ["gov.cv"]);
    assert!(cv.zones_closed.is_empty());
    let st = Profile::builtin("st").expect("st");
    assert_eq!((st.label_min, st.label_max), (1, 23));
    assert!(st.idn_chars.is_empty());
    let gw = Profile::builtin("gw").expect("gw");
    assert!(gw.forbid_alpha3);
    assert_eq!(gw.idn_chars.chars().count(), 18);
    // A profile is valid only for its own TLD.
    assert!(pt.validate("cv").unwrap_err().contains("zones_open"));
}

#[test]
fn profile_validation_names_the_field() {
    type Edit = fn(&mut Profile);
    let cases: &[(Edit, &str)] = &[
        (|p| p.zones_open.push("example.com".into()), "zones_open"),
        (|p| p.zones_open.push("Com.pt".into()), "zones_open"),
        (|p| p.zones_open.push("pt".into()), "zones_open"),
        (|p| p.zones_closed.push("com.pt".into()), "zones_closed"),
        (|p| p.zones_review.push("com.cv".into()), "zones_review"),
        (|p| p.zones_review.push("net.pt".into()), "zones_review"),
        (|p| p.label_min = 0, "label_min"),
        (|p| p.label_max = 64, "label_max"),
        (|p| p.label_min = 64, "label_min"),
        (|p| p.label_max = 1, "label_min"),
        (|p| p.idn_chars.push('a'), "idn_chars"),
        (|p| p.idn_chars.push('-'), "idn_chars"),
        (|p| p.idn_chars.push('á'), "idn_chars"),
        (|p| p.idn_chars.push('Ü'), "idn_chars"),
        (|p| p.idn_chars.push('\u{301}'), "idn_chars"),
        (|p| p.create_periods.clear(), "create_periods"),
        (|p| p.create_periods.push(0), "create_periods"),
        (|p| p.renew_periods.push(11), "renew_periods"),
        (|p| p.max_years_ahead = 0, "max_years_ahead"),
        (|p| p.nameservers_max = 14, "nameservers_max"),
        (|p| p.nameservers_min_delegated = 14, "nameservers_min_delegated"),
        (|p| p.renew_window_days = 0, "renew_window_days"),
        (|p| p.auth_code_valid_days = 0, "auth_code_valid_days"),
        (|p| p.registrant_change_review_hours = 0, "registrant_change_review_hours"),
    ];
    for (i, (edit, field)) in cases.iter().enumerate() {
        let mut p = Profile::builtin("pt").expect("pt");
        edit(&mut p);
        match p.validate("pt") {
            Err(e) => assert!(e.contains(field), "case {i}: {e:?} does not name {field}"),
            Ok(()) => panic!("case {i} ({field}) was accepted"),
        }
    }
    let mut p = Profile::builtin("pt").expect("pt");
    p.restore_days = 0;
    assert_eq!(p.validate("pt"), Ok(()));
    assert!(p.validate("p t").is_err());
    assert!(p.validate("com.pt").is_err());
    // Policy::new validates too.
    let mut bad = Profile::builtin("pt").expect("pt");
    bad.label_max = 64;
    assert!(Policy::new(vec![TldPolicy::new("pt", bad)]).is_err());
    let pt = || TldPolicy::new("pt", Profile::builtin("pt").expect("pt"));
    assert!(Policy::new(vec![pt(), pt()]).unwrap_err().contains("twice"));
}

#[test]
fn overrides_replace_only_what_they_set() {
    let pt = Profile::builtin("pt").expect("pt");
    assert_eq!(pt.clone().with_overrides(ProfileOverrides::default()), pt);
    let o = ProfileOverrides {
        restore_days: Some(0),
        registration_mode: Some(RegistrationMode::Review),
        zones_open: Some(vec!["pt".into(), "gov.pt".into()]),
        ..ProfileOverrides::default()
    };
    let p = pt.clone().with_overrides(o);
    assert_eq!(p.restore_days, 0);
    assert_eq!(p.registration_mode, RegistrationMode::Review);
    assert_eq!(p.zones_open, ["pt", "gov.pt"]);
    assert_eq!(p.label_max, pt.label_max);

    // Deserialize: known fields only.
    // deny_unknown_fields: a misspelt key is refused, an empty table is no override.
    let empty: [(&str, u32); 0] = [];
    let de: MapDeserializer<'_, _, DeError> = MapDeserializer::new(empty.into_iter());
    assert_eq!(ProfileOverrides::deserialize(de).expect("empty"), ProfileOverrides::default());
    let map = [("label_minimum", 1u32)];
    let de: MapDeserializer<'_, _, DeError> = MapDeserializer::new(map.into_iter());
    let err = ProfileOverrides::deserialize(de).expect_err("unknown field");
    assert!(err.to_string().contains("unknown field"), "{err}");
    let mode: Result<RegistrationMode, DeError> = RegistrationMode::deserialize("review".into_deserializer());
    assert_eq!(mode, Ok(RegistrationMode::Review));
    let mode: Result<RegistrantChangeMode, DeError> =
        RegistrantChangeMode::deserialize("immediate".into_deserializer());
    assert_eq!(mode, Ok(RegistrantChangeMode::Immediate));
    let bad: Result<RegistrationMode, DeError> = RegistrationMode::deserialize("Realtime".into_deserializer());
    assert!(bad.is_err());
}

#[test]
fn embedded_data() {
    assert!(data::tld_count() > 1000);
    for t in ["com", "pt", "cv", "st", "gw", "info", "uk", "xn--p1ai"] {
        assert!(data::is_tld(t), "{t}");
    }
    assert!(!data::is_tld("xq"));
    assert!(!data::is_tld("#"));
    assert!(is_country_code("PT"));
    assert!(is_country_code("pt"));
    assert!(is_country_code("Cv"));
    assert!(!is_country_code("XQ"));
    assert!(!is_country_code("UK"));
    assert!(!is_country_code("PRT"));
    assert!(!is_country_code(""));
    assert!(data::is_alpha3("prt"));
}

#[test]
fn fiscal_id_table() {
    use FiscalIdError::*;
    #[derive(Debug)]
    enum W {
        Ok,
        Empty,
        Format,
        Check,
    }
    let rows: &[(&str, &str, W)] = &[
        ("PT", "501964843", W::Ok),
        ("pt", "501964843", W::Ok),
        ("PT", "501964844", W::Check),
        ("PT", "501964840", W::Check),
        ("PT", "123456789", W::Ok),
        ("PT", "123456780", W::Check),
        ("PT", "", W::Empty),
        ("PT", "50196484", W::Format),
        ("PT", "5019648430", W::Format),
        ("PT", "50196484a", W::Format),
        ("PT", "PT501964843", W::Format),
        ("PT", " 501964843", W::Format),
        ("PT", "400000000", W::Format),
        ("PT", "800000000", W::Format),
        ("PT", "730000000", W::Format),
        ("PT", "760000000", W::Format),
        ("PT", "920000000", W::Format),
        ("PT", "000000000", W::Format),
        ("PT", "450000004", W::Check),
        ("CV", "123456789", W::Ok),
        ("cv", "500000000", W::Ok),
        ("CV", "600000000", W::Format),
        ("CV", "023456789", W::Format),
        ("CV", "12345678", W::Format),
        ("CV", "12345678x", W::Format),
        ("CV", "", W::Empty),
        ("ES", "B12345678", W::Ok),
        ("FR", "a", W::Ok),
        ("DE", "12345678901234567890", W::Ok),
        ("DE", "123456789012345678901", W::Format),
        ("DE", "DE 123", W::Format),
        ("DE", "DE-123", W::Format),
        ("DE", "çã", W::Format),
        ("", "x1", W::Ok),
    ];
    // Every prefix of POLICY.md with a correct check digit is valid.
    let mut valid = Vec::new();
    for prefix in
        ["1", "2", "3", "45", "5", "6", "70", "71", "72", "74", "75", "77", "78", "79", "90", "91", "98", "99"]
    {
        let mut body = format!("{prefix}{}", "1".repeat(8 - prefix.len()));
        let sum: u32 = body.bytes().zip((2..=9).rev()).map(|(d, w)| u32::from(d - b'0') * w).sum();
        let r = sum % 11;
        body.push(char::from(b'0' + if r < 2 { 0 } else { (11 - r) as u8 }));
        valid.push(body);
    }
    for id in &valid {
        assert_eq!(check_fiscal_id("PT", id), Ok(()), "{id}");
    }
    for (cc, id, want) in rows {
        let got = check_fiscal_id(cc, id);
        let ok = matches!(
            (&got, want),
            (Ok(()), W::Ok) | (Err(Empty), W::Empty) | (Err(Format(_)), W::Format) | (Err(CheckDigit), W::Check)
        );
        assert!(ok, "{cc} {id:?}: wanted {want:?}, got {got:?}");
    }
    assert!(check_fiscal_id("PT", "400000000").unwrap_err().to_string().contains("45"));
}

const PT_CHARS: &str = "[a-z0-9áàâãçéêíóôõú]";

fn pt_label() -> impl Strategy<Value = String> {
    let edge = PT_CHARS;
    let mid = "[a-z0-9áàâãçéêíóôõú-]";
    proptest::string::string_regex(&format!("{edge}({mid}{{0,24}}{edge})?")).expect("regex")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn accepted_names_round_trip(
        label in pt_label(),
        zone in prop::sample::select(vec!["pt", "com.pt", "gov.pt", "org.pt", "cv", "gw"]),
        upper in any::<bool>(),
    ) {
        let p = policy();
        let input = format!("{label}.{zone}");
        let input = if upper { input.to_uppercase() } else { input };
        if let Ok(name) = p.parse(&input) {
            let from_unicode = p.parse(&name.unicode).expect("unicode form parses");
            let from_ascii = p.parse(&name.ascii).expect("ascii form parses");
            prop_assert_eq!(&from_unicode, &name);
            prop_assert_eq!(&from_ascii, &name);
            let (unicode, res) = idna::domain_to_unicode(&name.ascii);
            prop_assert!(res.is_ok());
            prop_assert_eq!(&unicode, &name.unicode);
            prop_assert!(name.ascii.len() <= MAX_NAME_BYTES);
            prop_assert!(name.ascii.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
            prop_assert!((2..=63).contains(&name.label_ascii.len()));
            prop_assert_eq!(name.is_idn(), !name.label_unicode.is_ascii());
            prop_assert_eq!(&name.zone, zone);
        } else {
            // Refused only for a rule of section 1: too short, '--' at 3-4, too long.
            let lower = label.to_lowercase();
            let chars: Vec<char> = lower.chars().collect();
            let dashes = chars.len() >= 4 && chars[2] == '-' && chars[3] == '-';
            let too_long = idna::domain_to_ascii(&lower).map(|a| a.len() > 63).unwrap_or(true);
            prop_assert!(chars.len() < 2 || dashes || too_long, "{} refused", input);
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let p = policy();
        let _ = p.parse(&s);
        let _ = p.parse(&format!("{s}.pt"));
    }

    #[test]
    fn parse_never_panics_on_name_like_strings(
        s in "[a-zA-Z0-9.\\-áçüßÇ\u{301}\u{327}。．ｘｎ _😀аα\u{200d}]{0,300}",
        suffix in prop::sample::select(vec!["", ".pt", ".com.pt", ".st", ".gw", "."]),
    ) {
        let p = policy();
        let _ = p.parse(&format!("{s}{suffix}"));
        let _ = p.parse(&format!("xn--{s}{suffix}"));
    }

    #[test]
    fn parse_never_panics_on_long_input(s in ".{0,3000}", n in 0usize..5) {
        let p = policy();
        let long = s.repeat(n + 1);
        let _ = p.parse(&long);
        let _ = p.parse(&format!("{long}.pt"));
    }
}
