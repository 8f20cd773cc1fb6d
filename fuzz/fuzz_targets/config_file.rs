//! Fuzzes the configuration loader: any text as the TOML configuration through
//! `nicbox::config::parse`, relative to a directory holding the example's list files. It must
//! answer Ok or an error, never panic; text that is not TOML is refused; an accepted
//! configuration is consistent (one policy per TLD, each profile valid, bounds kept) and the
//! same text gives the same settings again.
#![no_main]

use std::path::{Component, Path};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nicbox::config::{Settings, parse};

#[path = "shared/scratch.rs"]
mod scratch;

/// The base directory of relative paths: the example's and the demo's list files.
fn base() -> &'static Path {
    static D: OnceLock<&Path> = OnceLock::new();
    D.get_or_init(|| {
        let dir = scratch::dir(Path::new("/tmp"));
        let reserved = include_str!("../../ops/pt-reserved.txt");
        let blocked = include_str!("../../ops/pt-blocked.txt");
        for (name, text) in [
            ("pt-reserved.txt", reserved),
            ("pt-blocked.txt", blocked),
            ("reserved.txt", reserved),
            ("blocked.txt", blocked),
            ("bad.txt", "não é um nome!\n"),
        ] {
            std::fs::write(dir.join(name), text).expect("list");
        }
        dir
    })
}

/// Whether the loader may be let loose on this text. It opens the `reserved` and `blocked` list
/// files of each `[[tld]]`, wherever they are; the fuzzer must not make it read `/dev/zero` or
/// block on `/dev/stdin`, so only paths that stay inside the base directory are let through.
/// `None`: the text is not TOML at all.
fn paths_stay_inside(text: &str) -> Option<bool> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let Some(tlds) = table.get("tld").and_then(|t| t.as_array()) else { return Some(true) };
    for t in tlds {
        for key in ["reserved", "blocked"] {
            if let Some(p) = t.get(key).and_then(|v| v.as_str()) {
                let inside = !p.is_empty()
                    && Path::new(p).components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                if !inside {
                    return Some(false);
                }
            }
        }
    }
    Some(true)
}

fn consistent(s: &Settings, base: &Path) {
    assert!(!s.tlds.is_empty(), "accepted without a [[tld]]");
    assert_eq!(s.policy.tlds.len(), s.tlds.len(), "one policy per TLD");
    for (i, t) in s.tlds.iter().enumerate() {
        assert!(!t.name.is_empty() && !t.name.contains('.'), "tld {:?}", t.name);
        assert!(s.tlds.iter().skip(i + 1).all(|o| o.name != t.name), "tld {} twice", t.name);
        let p = s.policy.tld(&t.name).unwrap_or_else(|| panic!("tld {} has no policy", t.name));
        if let Err(e) = p.profile.validate(&t.name) {
            panic!("tld {}: an accepted profile that does not validate: {e}", t.name);
        }
        let z = &t.zone;
        assert!(z.expire > z.refresh + z.retry, "tld {}: expire {} <= refresh + retry", t.name, z.expire);
        assert!(!z.primary.is_empty() && !z.mailbox.is_empty());
        for sep in &z.separate {
            assert!(p.profile.has_zone(sep) && sep != &t.name, "tld {}: separate zone {sep}", t.name);
        }
        for price in [t.prices.create, t.prices.create_premium, t.prices.renew, t.prices.transfer, t.prices.restore] {
            assert!((0..=100_000_000).contains(&price), "tld {}: price {price}", t.name);
        }
    }
    assert!(s.currency.len() == 3 && s.currency.bytes().all(|b| b.is_ascii_uppercase()), "currency {:?}", s.currency);
    assert!(!s.public_url.ends_with('/'), "public_url {:?}", s.public_url);
    assert!(["error", "warn", "info", "debug", "trace"].contains(&s.log_level.as_str()));
    assert!(s.data_dir.is_absolute(), "data_dir {:?} is not absolute under {base:?}", s.data_dir);
    assert!(s.db_path().starts_with(&s.data_dir));
    assert!(s.http.api_rate_per_second >= 1 && s.http.api_burst >= 1);
    assert!(s.whois.rate_per_minute >= 1 && s.whois.burst >= 1);
    assert!(!s.whois.suspension_minutes.is_empty() && !s.whois.suspension_minutes.contains(&0));
    assert!((0.0..=100.0).contains(&s.zone.removal_cap_percent));
    if let Some(d) = &s.dns {
        for k in &d.keys {
            assert!((16..=512).contains(&k.secret.len()), "tsig {}: {} bytes", k.name, k.secret.len());
        }
        for sec in &d.secondaries {
            if let Some(k) = &sec.tsig {
                assert!(d.keys.iter().any(|x| &x.name == k), "secondary {} names no key", sec.name);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let base = base();
    match paths_stay_inside(text) {
        None => {
            // Not TOML: the loader must say so, not accept it.
            assert!(parse(text, base).is_err(), "text that is not TOML was accepted");
        }
        Some(false) => {}
        Some(true) => match parse(text, base) {
            Ok(s) => {
                consistent(&s, base);
                let again = parse(text, base).expect("the same text parses again");
                assert_eq!(*again.policy, *s.policy);
                assert_eq!(
                    again.tlds.iter().map(|t| &t.zone).collect::<Vec<_>>(),
                    s.tlds.iter().map(|t| &t.zone).collect::<Vec<_>>()
                );
            }
            Err(e) => assert!(!e.0.is_empty()),
        },
    }
});
