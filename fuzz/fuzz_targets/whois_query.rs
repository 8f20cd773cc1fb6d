//! Fuzzes the WHOIS query path that needs no database: the bytes a client sends, parsed into a
//! query, then the name rules of the pt profile applied to it (as the directory does), then the
//! rendering of a no-match answer. Nothing may panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nicbox::directory::Lookup;
use nicbox::policy::{Policy, Profile, TldPolicy};
use nicbox::whois::query::{Query, parse};
use nicbox::whois::render::answer;

fn policy() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        let profile = Profile::builtin("pt").expect("pt profile");
        Policy::new(vec![TldPolicy::new("pt", profile)]).expect("policy")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Query::Text(text) = parse(data) {
        assert!(text.len() <= 255);
        match policy().parse(&text) {
            Ok(name) => {
                assert!(name.ascii.is_ascii());
                let again = policy().parse(&name.unicode).expect("an accepted name parses again");
                assert_eq!(again.ascii, name.ascii);
                let _ = policy().check_new(&name);
                let out = answer(&Lookup::NoMatch(name.ascii.clone()), &text, "fuzz");
                assert!(out.ends_with("\r\n"));
            }
            Err(e) => {
                let _ = e.code();
            }
        }
    }
});
