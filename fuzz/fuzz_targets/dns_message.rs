//! Fuzzes the hidden primary's message handling: any bytes, over UDP or TCP, from an allowed
//! address, judged against a small published zone (TSIG verification included). Nothing may
//! panic; an answer is a DNS message that parses, and a transfer streams whole.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nicbox::config::{DnsSettings, TsigKeySettings};
use nicbox::dns::server::{Decision, Primary};

#[path = "shared/scratch.rs"]
mod scratch;

fn primary() -> &'static Primary {
    static P: OnceLock<Primary> = OnceLock::new();
    P.get_or_init(|| {
        let dir = scratch::dir(std::path::Path::new("/tmp"));
        std::fs::write(
            dir.join("pt.zone"),
            "; nicbox zone pt serial 2026120201 journal 1\n\
             pt. 3600 IN SOA a.dns.pt. hostmaster.dns.pt. 2026120201 3600 900 1209600 3600\n\
             pt. 86400 IN NS a.dns.pt.\n\
             a.dns.pt. 86400 IN A 192.0.2.53\n\
             ; delegations\n\
             abc.pt. 86400 IN NS ns1.abc.pt.\n\
             abc.pt. 86400 IN DS 1 13 2 ABCDEF\n\
             ns1.abc.pt. 86400 IN AAAA 2001:db8::1\n",
        )
        .expect("zone");
        let settings = DnsSettings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            keys: vec![TsigKeySettings {
                name: "xfr".into(),
                algorithm: "hmac-sha256".into(),
                secret: b"0123456789abcdef0123456789abcdef".to_vec(),
                zones: None,
            }],
            secondaries: vec![],
            allow: vec!["127.0.0.0/8".parse().expect("net")],
            max_connections: 4,
            max_transfers: 2,
            idle_secs: 1,
            write_timeout_secs: 1,
            keep_publications: 10,
            keep_days: 7,
            behind_after_secs: 60,
            send_buffer_kib: 0,
        };
        Primary::new(settings, vec!["pt".into()], dir.to_path_buf()).expect("primary")
    })
}

fuzz_target!(|data: &[u8]| {
    let p = primary();
    let tcp = data.first().is_some_and(|b| b & 1 == 1);
    match p.judge(data.to_vec(), "127.0.0.1".parse().expect("ip"), tcp) {
        Decision::Answer(a) => assert!(a.len() >= 12),
        Decision::Transfer(t) => {
            let _ = p.produce(*t, &mut |m| {
                assert!(m.len() <= 65_535);
                true
            });
        }
        Decision::Drop => {}
    }
});
