//! Zone publication with real DNS software: the exported files pass `named-checkzone` and
//! `kzonecheck`, Knot and NSD load them and answer referrals, the guard refuses what the journal
//! does not explain and mass removals, and the nameserver check against real servers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::StatusCode;
use nicbox::model::{Actor, GuardOutcome, Role, ZoneRun};
use serde_json::{Value, json};

use crate::common::{Env, run, write_config};
use crate::dnsd::{self, Knot, Nsd, Silent};

/// Zone settings appended to the test configuration: the TLD's nameservers, the check off
/// unless `mode` says otherwise, and `zone_extra` lines in `[zone]`.
fn zone_config(mode: &str, tld_zone_extra: &str, zone_extra: &str) -> String {
    format!(
        r#"
[tld.policy]
delegation_check = "{mode}"

[tld.zone]
primary = "a.nic.pt"
mailbox = "hostmaster.nic.pt"
nameservers = [{{ name = "a.nic.pt", addresses = ["192.0.2.53"] }}, {{ name = "b.nic.pt", addresses = ["2001:db8::53"] }}]
{tld_zone_extra}

[zone]
interval_minutes = 0
{zone_extra}
"#
    )
}

fn ns(hosts: &[(&str, &[&str])]) -> Value {
    Value::Array(hosts.iter().map(|(h, a)| json!({"name": h, "addresses": a})).collect())
}

async fn publish(env: &Env) -> Vec<ZoneRun> {
    nicbox::zone::publish(&env.registry, None, None).await.expect("export runs")
}

fn zone_dir(env: &Env) -> PathBuf {
    env.registry.settings().zone.dir.clone()
}

fn checkers_accept(zone: &str, file: &Path) {
    dnsd::named_checkzone(zone, file).unwrap_or_else(|e| panic!("named-checkzone {zone}: {e}"));
    dnsd::kzonecheck(zone, file).unwrap_or_else(|e| panic!("kzonecheck {zone}: {e}"));
}

/// The file without its first line and with the SOA serial blanked: what must not change
/// between two exports of the same state.
fn content(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .skip(1)
        .map(
            |l| if l.contains(" IN SOA ") { l.split(' ').take(6).collect::<Vec<_>>().join(" ") } else { l.to_string() },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

/// A registry with a registrar and a contact, and a few domains of every kind.
async fn seeded(extra: &str) -> (Env, String, String) {
    let env = Env::with(extra);
    let key = env.registrar("reg-a", 10_000_000).await;
    let h = env.org(&key).await;
    let two = ns(&[("ns1.example.net", &[]), ("ns2.example.net", &[])]);
    for name in ["alfa.pt", "bravo.pt", "charlie.com.pt", "dunas.pt", "ecos.pt"] {
        let (s, v) = env.register(&key, name, &h, json!({"nameservers": two})).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {v}");
    }
    let glue = ns(&[("ns1.glue.pt", &["192.0.2.1", "2001:db8::1"]), ("ns2.glue.pt", &["198.51.100.2"])]);
    let ds = json!([{"key_tag": 12345, "algorithm": 13, "digest_type": 2, "digest": "AB".repeat(32)}]);
    let (s, v) = env.register(&key, "glue.pt", &h, json!({"nameservers": glue, "ds": ds})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env.register(&key, "açores.pt", &h, json!({"nameservers": two})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env.register(&key, "inactive.pt", &h, json!({"nameservers": []})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (env, key, h)
}

#[tokio::test]
async fn exported_zone_holds_the_delegations_and_passes_the_checkers() {
    let (env, key, _) = seeded(&zone_config("off", "", "")).await;
    let (s, v) =
        env.call("PATCH", "/api/v1/domains/dunas.pt", Some(&key), Some(json!({"add_status": ["clientHold"]}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = env.call("DELETE", "/api/v1/domains/ecos.pt", Some(&key), None).await;
    assert!(s.is_success(), "{v}");
    let runs = publish(&env).await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.outcome, GuardOutcome::Published, "{run:?}");
    // alfa, bravo, charlie.com.pt, glue, açores: not the held, deleted or inactive ones.
    assert_eq!(run.delegations, 5, "{run:?}");
    let file = PathBuf::from(&run.file);
    checkers_accept("pt", &file);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("alfa.pt. 86400 IN NS ns1.example.net.\n"), "{text}");
    assert!(text.contains("charlie.com.pt. 86400 IN NS ns2.example.net.\n"), "{text}");
    assert!(text.contains("xn--aores-yra.pt. 86400 IN NS"), "A-labels only: {text}");
    assert!(!text.contains("açores"), "{text}");
    assert!(text.contains(&format!("glue.pt. 86400 IN DS 12345 13 2 {}\n", "AB".repeat(32))), "{text}");
    assert!(text.contains("ns1.glue.pt. 86400 IN A 192.0.2.1\n"), "{text}");
    assert!(text.contains("ns1.glue.pt. 86400 IN AAAA 2001:db8::1\n"), "{text}");
    for absent in ["dunas.pt.", "ecos.pt.", "inactive.pt."] {
        assert!(!text.lines().any(|l| l.starts_with(absent)), "{absent} must not be delegated: {text}");
    }
    // No glue for hosts outside the domain.
    assert!(!text.contains("example.net. 86400 IN A"), "{text}");
    let serial = run.serial;
    // Nothing changed: no new serial, no new file.
    let again = publish(&env).await;
    assert_eq!(again[0].outcome, GuardOutcome::Unchanged, "{:?}", again[0]);
    assert_eq!(again[0].serial, serial);
    // The same state gives the same bytes (serial aside), and the serial only goes up.
    let before = content(&file);
    let (s, _) =
        env.call("PATCH", "/api/v1/domains/dunas.pt", Some(&key), Some(json!({"remove_status": ["clientHold"]}))).await;
    assert_eq!(s, StatusCode::OK);
    let third = publish(&env).await;
    assert_eq!((third[0].outcome, third[0].added), (GuardOutcome::Published, 1), "{:?}", third[0]);
    assert!(third[0].serial > serial);
    assert!(nicbox::zone::publish::previous_file(&zone_dir(&env), "pt").exists(), "the previous publication is kept");
    let (s, _) =
        env.call("PATCH", "/api/v1/domains/dunas.pt", Some(&key), Some(json!({"add_status": ["clientHold"]}))).await;
    assert_eq!(s, StatusCode::OK);
    let fourth = publish(&env).await;
    assert_eq!((fourth[0].outcome, fourth[0].removed), (GuardOutcome::Published, 1), "{:?}", fourth[0]);
    assert!(fourth[0].serial > third[0].serial);
    assert_eq!(content(&file), before, "same state, same bytes");
}

#[tokio::test]
async fn second_level_zones_published_apart_are_delegated_from_the_tld() {
    let (env, _, _) = seeded(&zone_config("off", "separate = [\"com.pt\"]", "")).await;
    let runs = publish(&env).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let pt = runs.iter().find(|r| r.zone == "pt").unwrap();
    let com = runs.iter().find(|r| r.zone == "com.pt").unwrap();
    assert_eq!((pt.outcome, com.outcome), (GuardOutcome::Published, GuardOutcome::Published));
    assert_eq!((pt.delegations, com.delegations), (6, 1), "{runs:?}");
    checkers_accept("pt", Path::new(&pt.file));
    checkers_accept("com.pt", Path::new(&com.file));
    let pt_text = std::fs::read_to_string(&pt.file).unwrap();
    assert!(pt_text.contains("com.pt. 86400 IN NS a.nic.pt.\n"), "{pt_text}");
    assert!(!pt_text.contains("charlie.com.pt"), "{pt_text}");
    let com_text = std::fs::read_to_string(&com.file).unwrap();
    assert!(com_text.contains("com.pt. 3600 IN SOA a.nic.pt. hostmaster.nic.pt."), "{com_text}");
    assert!(com_text.contains("charlie.com.pt. 86400 IN NS ns1.example.net.\n"), "{com_text}");
    // A change in one zone of the TLD is explained for that zone and leaves the other alone.
    let key = env.registrar("reg-b", 1_000_000).await;
    let h = env.org(&key).await;
    let (s, v) = env
        .register(&key, "novo.com.pt", &h, json!({"nameservers": ns(&[("ns1.x.net", &[]), ("ns2.x.net", &[])])}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let runs = publish(&env).await;
    let pt = runs.iter().find(|r| r.zone == "pt").unwrap();
    let com = runs.iter().find(|r| r.zone == "com.pt").unwrap();
    assert_eq!(pt.outcome, GuardOutcome::Unchanged, "{pt:?}");
    assert_eq!((com.outcome, com.added), (GuardOutcome::Published, 1), "{com:?}");
}

#[tokio::test]
async fn the_guard_refuses_what_the_journal_does_not_explain_and_mass_removals() {
    let (env, key, h) = seeded(&zone_config("off", "", "removal_cap_count = 3")).await;
    let first = publish(&env).await;
    assert_eq!(first[0].outcome, GuardOutcome::Published);
    let file = PathBuf::from(&first[0].file);
    // An ordinary day's changes pass: a new name, a nameserver change, a deletion.
    let (s, _) = env
        .register(&key, "foxtrot.pt", &h, json!({"nameservers": ns(&[("ns1.y.net", &[]), ("ns2.y.net", &[])])}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = env
        .call(
            "PATCH",
            "/api/v1/domains/alfa.pt",
            Some(&key),
            Some(json!({"nameservers": ns(&[("ns1.z.net", &[]), ("ns2.z.net", &[])])})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = env.call("DELETE", "/api/v1/domains/bravo.pt", Some(&key), None).await;
    assert!(s.is_success());
    let day = publish(&env).await;
    let r = &day[0];
    assert_eq!(
        (r.outcome, r.added, r.changed, r.removed, r.unexplained),
        (GuardOutcome::Published, 1, 1, 1, 0),
        "{r:?}"
    );
    assert_eq!(r.sample_changed, vec!["alfa.pt".to_string()]);

    // Damage the generator's input behind the registry's back: a delegation changes with no
    // journal entry. The export refuses, whatever the size, and the zone stays as it was.
    let published = std::fs::read(&file).unwrap();
    {
        let store = env.registry.store();
        let old = store.read().unwrap().domain("dunas.pt").unwrap().unwrap();
        let mut new = old.clone();
        new.nameservers[0].name = "ns1.hijack.example".into();
        let mut tx = store.write().unwrap();
        tx.put_domain(Some(&old), &new).unwrap();
        tx.commit().unwrap();
    }
    let refused = publish(&env).await;
    let r = &refused[0];
    assert_eq!(r.outcome, GuardOutcome::RefusedUnexplained, "{r:?}");
    assert_eq!(r.sample_unexplained, vec!["dunas.pt".to_string()]);
    assert_eq!(std::fs::read(&file).unwrap(), published, "a refusal keeps the previous zone");
    let (_, attempt) = env.registry.zone_state("pt").unwrap();
    assert_eq!(attempt.unwrap().outcome, GuardOutcome::RefusedUnexplained);
    // An admin publishes anyway, with a reason, through the admin API; it is audited.
    env.registry.user_add("ops", Role::Admin, Actor::System("test".into())).await.unwrap();
    let (_, pw) = env.registry.user_add("ops2", Role::Admin, Actor::System("test".into())).await.unwrap();
    let (_, support_pw) = env.registry.user_add("help", Role::Support, Actor::System("test".into())).await.unwrap();
    let basic = |u: &str, p: &str| {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
    };
    let post = |auth: String, body: Value| {
        let app = env.app.clone();
        async move {
            use tower::ServiceExt;
            let req = axum::http::Request::builder()
                .method("POST")
                .uri("/admin/api/zone/export")
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let (s, v) = post(basic("ops2", &pw), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["zones"][0]["outcome"], "refused_unexplained", "{v}");
    assert_eq!(v["zones"][0]["published"], false, "{v}");
    let (s, v) = post(basic("help", &support_pw), json!({"force": true, "reason": "support may not"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = post(basic("ops2", &pw), json!({"force": true})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a force needs a reason: {v}");
    let (s, v) =
        post(basic("ops2", &pw), json!({"force": true, "reason": "restored the hijacked record by hand"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["zones"][0]["outcome"].as_str(), v["zones"][0]["published"].as_bool()),
        (Some("forced"), Some(true)),
        "{v}"
    );
    assert!(v["zones"][0]["note"].as_str().unwrap().contains("restored the hijacked record by hand"), "{v}");
    let history = env.registry.store().read().unwrap().history("zone:pt", 10).unwrap();
    assert!(
        history.iter().any(|e| e.operation == "zone.publish_forced" && e.actor == Actor::User("ops2".into())),
        "{history:?}"
    );
    assert!(std::fs::read_to_string(&file).unwrap().contains("ns1.hijack.example"));

    // A mass deletion past the cap (3) is refused, then published by an admin with a reason.
    for name in ["alfa.pt", "charlie.com.pt", "dunas.pt", "glue.pt"] {
        let (s, v) = env.call("DELETE", &format!("/api/v1/domains/{name}"), Some(&key), None).await;
        assert!(s.is_success(), "{name}: {v}");
    }
    let refused = publish(&env).await;
    let r = &refused[0];
    assert_eq!((r.outcome, r.removed, r.unexplained), (GuardOutcome::RefusedRemovals, 4, 0), "{r:?}");
    assert_eq!(r.sample_removed.len(), 4);
    let req = axum::http::Request::builder().uri("/metrics").body(axum::body::Body::empty()).unwrap();
    let resp = tower::ServiceExt::oneshot(env.app.clone(), req).await.unwrap();
    let metrics = String::from_utf8(axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap();
    assert!(metrics.contains("nicbox_zone_refused{zone=\"pt\"} 1\n"), "{metrics}");
    assert!(metrics.contains("nicbox_zone_refusals_total "), "{metrics}");
    let forced = nicbox::zone::publish(&env.registry, None, Some((Actor::User("ops".into()), "end of the lab".into())))
        .await
        .unwrap();
    assert_eq!((forced[0].outcome, forced[0].removed), (GuardOutcome::Forced, 4), "{:?}", forced[0]);
    checkers_accept("pt", &file);
}

#[tokio::test]
async fn knot_and_nsd_serve_the_published_zone_and_follow_a_change() {
    // The reload hook is a script the test writes once the DNS server runs (its control
    // socket lives in the server's own directory).
    let (env, key, _) = seeded(&zone_config("off", "", "reload_command = [\"sh\", \"{file}.reload.sh\"]")).await;
    let first = publish(&env).await;
    let file = PathBuf::from(&first[0].file);
    assert!(
        first[0].after_publish.iter().any(|l| l.starts_with("reload: failed")),
        "no script yet: {:?}",
        first[0].after_publish
    );
    let knot = Knot::start(&[("pt", &file)]);
    let nsd = Nsd::start(&[("pt", &file)]);
    let script = format!("{} && {}\n", shell(&knot.reload_command("pt")), shell(&nsd.reload_command("pt")));
    std::fs::write(format!("{}.reload.sh", file.display()), script).unwrap();
    for addr in [knot.addr(), nsd.addr()] {
        assert_eq!(dnsd::soa_serial(addr, "pt"), Some(first[0].serial));
        let d = dnsd::dig(addr, "www.glue.pt", "A");
        assert_eq!((d.rcode.as_str(), d.aa), ("NOERROR", false), "a referral: {}", d.raw);
        assert!(d.authority.iter().any(|r| r.contains("glue.pt.") && r.contains("NS ns1.glue.pt.")), "{}", d.raw);
        assert!(
            d.additional.iter().any(|r| r.starts_with("ns1.glue.pt.") && r.contains("192.0.2.1")),
            "glue: {}",
            d.raw
        );
        let held = dnsd::dig(addr, "inactive.pt", "NS");
        assert_eq!(held.rcode, "NXDOMAIN", "{}", held.raw);
    }
    // A hold and a deletion through the API, a new delegation; the next publication reloads
    // both servers, which serve the new serial.
    let (s, _) =
        env.call("PATCH", "/api/v1/domains/alfa.pt", Some(&key), Some(json!({"add_status": ["clientHold"]}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = env.call("DELETE", "/api/v1/domains/bravo.pt", Some(&key), None).await;
    assert!(s.is_success());
    let (s, _) = env
        .call(
            "PATCH",
            "/api/v1/domains/dunas.pt",
            Some(&key),
            Some(json!({"nameservers": ns(&[("ns1.novo.net", &[]), ("ns2.novo.net", &[])])})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let second = publish(&env).await;
    assert_eq!(second[0].outcome, GuardOutcome::Published);
    assert_eq!(second[0].after_publish, vec!["reload: ok (sh)".to_string()], "{:?}", second[0]);
    for addr in [knot.addr(), nsd.addr()] {
        assert!(dnsd::wait_for_serial(addr, "pt", second[0].serial, Duration::from_secs(10)), "new serial");
        for gone in ["alfa.pt", "bravo.pt"] {
            let d = dnsd::dig(addr, gone, "NS");
            assert_eq!(d.rcode, "NXDOMAIN", "{gone}: {}", d.raw);
        }
        let d = dnsd::dig(addr, "www.dunas.pt", "A");
        assert!(d.authority.iter().any(|r| r.contains("NS ns1.novo.net.")), "{}", d.raw);
    }
}

fn shell(argv: &[String]) -> String {
    argv.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect::<Vec<_>>().join(" ")
}

/// A zone file for a real authoritative server, serving `domains` (each with its SOA), and a
/// zone `example.net` whose hosts the check resolves to 127.0.0.1.
fn child_zones(dir: &Path, domains: &[&str]) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for d in domains {
        let p = dir.join(format!("{d}.zone"));
        std::fs::write(
            &p,
            format!("{d}. 3600 IN SOA ns1.example.net. h.example.net. 1 3600 900 604800 300\n{d}. 3600 IN NS ns1.example.net.\n{d}. 3600 IN NS ns2.example.net.\n"),
        )
        .unwrap();
        out.push((d.to_string(), p));
    }
    let p = dir.join("example.net.zone");
    std::fs::write(
        &p,
        "example.net. 3600 IN SOA ns1.example.net. h.example.net. 1 3600 900 604800 300\nexample.net. 3600 IN NS ns1.example.net.\nns1.example.net. 3600 IN A 127.0.0.1\nns2.example.net. 3600 IN A 127.0.0.1\nsilent.example.net. 3600 IN A 127.0.0.1\n",
    )
    .unwrap();
    out.push(("example.net".into(), p));
    // A parent zone for `lame.pt`: the server answers for it with a referral (no AA).
    let p = dir.join("lame.pt.zone");
    std::fs::write(
        &p,
        "lame.pt. 3600 IN SOA ns1.example.net. h.example.net. 1 3600 900 604800 300\nlame.pt. 3600 IN NS ns1.example.net.\nsub.lame.pt. 3600 IN NS ns.elsewhere.example.\n",
    )
    .unwrap();
    out.push(("lame.pt".into(), p));
    out
}

#[tokio::test]
async fn the_nameserver_check_against_real_servers_holds_back_under_require() {
    let tmp = tempfile::tempdir().unwrap();
    let zones = child_zones(tmp.path(), &["served.pt", "later.pt"]);
    let zone_refs: Vec<(&str, &Path)> =
        zones.iter().filter(|(z, _)| z != "later.pt").map(|(z, p)| (z.as_str(), p.as_path())).collect();
    let knot = Knot::start(&zone_refs);
    let silent = Silent::start();
    let extra = zone_config(
        "require",
        "",
        &format!(
            "[zone.check]\nport = {}\nresolver = \"{}\"\nallow_loopback = true\nretry_minutes = [1]\n",
            knot.port,
            knot.addr()
        ),
    );
    let env = Env::with(&extra);
    let key = env.registrar("reg-a", 10_000_000).await;
    let h = env.org(&key).await;
    let good = ns(&[("ns1.example.net", &[]), ("ns2.example.net", &[])]);
    for name in ["served.pt", "notserved.pt", "later.pt"] {
        let (s, v) = env.register(&key, name, &h, json!({"nameservers": good})).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let (s, v) = env.register(&key, "sub.lame.pt", &h, json!({"nameservers": good})).await;
    let _ = (s, v);
    let settings = nicbox::dns::check::CheckSettings {
        query_timeout_ms: 500,
        domain_budget_ms: 3_000,
        ..nicbox::dns::check::CheckSettings::new(knot.port, Some(knot.addr()), true)
    };
    let permits = tokio::sync::Semaphore::new(8);
    let nameservers = env.registry.store().read().unwrap().domain("served.pt").unwrap().unwrap().nameservers;
    // A served domain passes over UDP and TCP on every address.
    let ok = nicbox::dns::check::check_domain("served.pt", &nameservers, &settings, &permits).await;
    assert!(nicbox::dns::check::passed(&ok), "{ok:?}");
    assert_eq!(ok.len(), 4, "2 hosts x (UDP, TCP): {ok:?}");
    // Knot refuses a domain it does not serve.
    let refused = nicbox::dns::check::check_domain("notserved.pt", &nameservers, &settings, &permits).await;
    assert!(refused.iter().all(|r| !r.ok && r.reason == "REFUSED"), "{refused:?}");
    // A referral is a lame answer: no AA.
    let lame = nicbox::dns::check::check_domain("sub.lame.pt", &nameservers, &settings, &permits).await;
    assert!(lame.iter().all(|r| !r.ok && r.reason.contains("no AA")), "{lame:?}");
    // Silence: a timeout, within the bounds.
    let silent_ns = vec![nicbox::model::Nameserver { name: "silent.example.net".into(), addresses: vec![] }];
    let started = std::time::Instant::now();
    let quiet_settings = nicbox::dns::check::CheckSettings { port: silent.port, ..settings.clone() };
    let quiet = nicbox::dns::check::check_domain("served.pt", &silent_ns, &quiet_settings, &permits).await;
    assert!(quiet.iter().all(|r| !r.ok), "{quiet:?}");
    assert!(quiet.iter().any(|r| r.reason == "timeout" || r.reason.contains("budget")), "{quiet:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(silent);

    // Under `require`, nothing is delegated before it passes.
    let runs = publish(&env).await;
    assert_eq!(runs[0].delegations, 0, "{:?}", runs[0]);
    // The checker's round: each due domain checked and its outcome recorded.
    for due in env.registry.ns_checks_due(100).unwrap() {
        let r = nicbox::dns::check::check_domain(&due.domain, &due.nameservers, &settings, &permits).await;
        let passed = nicbox::dns::check::passed(&r);
        env.registry.record_ns_check(&due.domain, due.nameservers, r, passed).await.unwrap();
    }
    let runs = publish(&env).await;
    assert_eq!((runs[0].outcome, runs[0].delegations), (GuardOutcome::Published, 1), "{:?}", runs[0]);
    let text = std::fs::read_to_string(&runs[0].file).unwrap();
    assert!(text.contains("served.pt. 86400 IN NS"), "{text}");
    assert!(!text.contains("notserved.pt.") && !text.contains("later.pt."), "{text}");
    // The results are in the registrar's domain answer, per server with a reason.
    let (_, v) = env.call("GET", "/api/v1/domains/notserved.pt", Some(&key), None).await;
    let check = &v["nameserver_check"];
    assert_eq!(
        (check["mode"].as_str(), check["passed"].as_bool(), check["in_zone"].as_bool()),
        (Some("require"), Some(false), Some(false)),
        "{v}"
    );
    assert_eq!(check["servers"][0]["reason"], "REFUSED", "{v}");
    assert!(check["next_check"].is_string(), "a failure is retried: {v}");
    // Once its server serves it, `later.pt` passes on a retry and enters the zone.
    drop(knot);
    let zone_refs: Vec<(&str, &Path)> = zones.iter().map(|(z, p)| (z.as_str(), p.as_path())).collect();
    let knot = Knot::start(&zone_refs);
    let settings = nicbox::dns::check::CheckSettings {
        ..nicbox::dns::check::CheckSettings::new(knot.port, Some(knot.addr()), true)
    };
    let later = env.registry.store().read().unwrap().domain("later.pt").unwrap().unwrap();
    let r = nicbox::dns::check::check_domain("later.pt", &later.nameservers, &settings, &permits).await;
    assert!(nicbox::dns::check::passed(&r), "{r:?}");
    env.registry.record_ns_check("later.pt", later.nameservers, r, true).await.unwrap();
    let runs = publish(&env).await;
    assert_eq!((runs[0].outcome, runs[0].added, runs[0].unexplained), (GuardOutcome::Published, 1, 0), "{:?}", runs[0]);
    assert!(std::fs::read_to_string(&runs[0].file).unwrap().contains("later.pt. 86400 IN NS"));
    // After the profile's 5 days of failing, the registrar is told once.
    env.clock.advance(6 * 86_400);
    for _ in 0..2 {
        let nsv = env.registry.store().read().unwrap().domain("notserved.pt").unwrap().unwrap().nameservers;
        let r = nicbox::dns::check::check_domain("notserved.pt", &nsv, &settings, &permits).await;
        env.registry.record_ns_check("notserved.pt", nsv, r, false).await.unwrap();
    }
    let (_, v) = env.call("GET", "/api/v1/poll", Some(&key), None).await;
    let told: Vec<&Value> =
        v["messages"].as_array().unwrap().iter().filter(|m| m["kind"] == "nameservers.failing").collect();
    assert_eq!(told.len(), 1, "{v}");
    assert_eq!(told[0]["domain"], "notserved.pt", "{v}");
}

#[test]
fn zone_export_command_with_the_server_stopped_and_running() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &zone_config("off", "", ""));
    let c = config.to_str().unwrap();
    let (code, _, err) = run(&["init", "--config", c]);
    assert_eq!(code, 0, "{err}");
    let out = dir.path().join("out");
    let (code, stdout, err) = run(&["zone", "export", "--config", c, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout} {err}");
    assert!(stdout.contains("zone pt: published serial"), "{stdout}");
    checkers_accept("pt", &out.join("pt.zone"));
    // Beside a running server, through its control socket.
    let server = crate::common::Server::serve(&config);
    let (code, stdout, err) = run(&["zone", "export", "--config", c, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout} {err}");
    assert!(stdout.contains("zone pt: unchanged"), "{stdout}");
    drop(server);
    // A configuration without the TLD's nameservers cannot publish: a clear error, exit 2.
    let dir2 = tempfile::tempdir().unwrap();
    let config2 = write_config(dir2.path(), "");
    let c2 = config2.to_str().unwrap();
    assert_eq!(run(&["init", "--config", c2]).0, 0);
    let (code, _, err) = run(&["zone", "export", "--config", c2]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("nameservers"), "{err}");
}

#[test]
fn the_demo_zone_passes_the_checkers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let server = crate::common::start_demo(&data, dir.path());
    let file = data.join("zones").join("pt.zone");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !file.exists() {
        assert!(std::time::Instant::now() < deadline, "the demo publishes its zone at start");
        std::thread::sleep(Duration::from_millis(100));
    }
    checkers_accept("pt", &file);
    let creds: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("demo-credentials.json")).unwrap()).unwrap();
    assert_eq!(Path::new(creds["zones_dir"].as_str().unwrap()), std::path::absolute(data.join("zones")).unwrap());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(" IN DS ") && text.contains("xn--") && text.contains(" IN AAAA "), "IDN, DS and glue");
    drop(server);
}

/// The server's own jobs: the checker picks up a new domain, checks it against a real server,
/// and the publication triggered over the admin API delegates it only once it passed.
#[test]
fn the_server_checks_new_domains_in_the_background_before_delegating() {
    let tmp = tempfile::tempdir().unwrap();
    let zones = child_zones(tmp.path(), &["servido.pt"]);
    let zone_refs: Vec<(&str, &Path)> = zones.iter().map(|(z, p)| (z.as_str(), p.as_path())).collect();
    let knot = Knot::start(&zone_refs);
    let dir = tempfile::tempdir().unwrap();
    let extra = zone_config(
        "require",
        "",
        &format!(
            "[zone.check]\nport = {}\nresolver = \"{}\"\nallow_loopback = true\ninterval_secs = 1\n",
            knot.port,
            knot.addr()
        ),
    );
    let config = write_config(dir.path(), &extra);
    let c = config.to_str().unwrap();
    assert_eq!(run(&["init", "--config", c]).0, 0);
    let (_, out, _) = run(&[
        "registrar",
        "add",
        "--config",
        c,
        "--id",
        "reg-a",
        "--name",
        "Registos, Lda.",
        "--balance-cents",
        "100000",
    ]);
    let key = out.lines().find_map(|l| l.split("keep it safe): ").nth(1)).expect("API key").trim().to_string();
    let (_, out, _) = run(&["user", "add", "--config", c, "--name", "ops", "--role", "admin"]);
    let password = out.split("password (shown once): ").nth(1).expect("password").trim().to_string();
    let server = crate::common::Server::serve(&config);
    let agent = crate::common::http_agent();
    let (s, v) = crate::common::http_call(
        &agent,
        "POST",
        &server.url("/api/v1/contacts"),
        Some(&key),
        Some(&crate::common::org_body()),
    );
    assert_eq!(s, 201, "{v}");
    let h = v["handle"].as_str().unwrap().to_string();
    let two = ns(&[("ns1.example.net", &[]), ("ns2.example.net", &[])]);
    for name in ["servido.pt", "recusado.pt"] {
        let body = json!({"name": name, "period_years": 1, "registrant": h, "admin": h, "tech": h, "nameservers": two});
        let (s, v) = crate::common::http_call(&agent, "POST", &server.url("/api/v1/domains"), Some(&key), Some(&body));
        assert_eq!(s, 201, "{v}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, a) =
            crate::common::http_call(&agent, "GET", &server.url("/api/v1/domains/servido.pt"), Some(&key), None);
        let (_, b) =
            crate::common::http_call(&agent, "GET", &server.url("/api/v1/domains/recusado.pt"), Some(&key), None);
        if a["nameserver_check"]["checked"].is_string() && b["nameserver_check"]["checked"].is_string() {
            assert_eq!(a["nameserver_check"]["passed"], true, "{a}");
            assert_eq!(b["nameserver_check"]["passed"], false, "{b}");
            assert_eq!(b["nameserver_check"]["servers"][0]["reason"], "REFUSED", "{b}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the checker did not run: {a} {b}");
        std::thread::sleep(Duration::from_millis(200));
    }
    use base64::Engine;
    let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("ops:{password}")));
    let resp = agent.post(&server.url("/admin/api/zone/export")).header("authorization", &auth).send("").unwrap();
    let v: Value = serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(v["zones"][0]["published"], true, "{v}");
    assert_eq!(v["zones"][0]["delegations"], 1, "{v}");
    let text = std::fs::read_to_string(v["zones"][0]["file"].as_str().unwrap()).unwrap();
    assert!(text.contains("servido.pt. 86400 IN NS") && !text.contains("recusado.pt."), "{text}");
    drop(server);
}

/// A SIGKILL at any moment of an export leaves a whole zone file: the previous publication or
/// the complete new one, never a part.
#[test]
fn a_killed_export_leaves_a_whole_zone() {
    const DOMAINS: usize = 40_000;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &zone_config("off", "", ""));
    let c = config.to_str().unwrap();
    assert_eq!(run(&["init", "--config", c]).0, 0);
    {
        let settings = nicbox::config::load(&config).unwrap();
        let store = nicbox::store::Store::open(&settings.db_path()).unwrap();
        let mut tx = store.write().unwrap();
        for i in 0..DOMAINS {
            let name = format!("dominio{i:06}.pt");
            let d = nicbox::model::Domain {
                name: name.clone(),
                unicode_name: name.clone(),
                roid: format!("D{i}-PT"),
                zone: "pt".into(),
                tld: "pt".into(),
                registrar: "reg-a".into(),
                registrant: "C1".into(),
                admin: "C1".into(),
                tech: None,
                billing: None,
                nameservers: vec![
                    nicbox::model::Nameserver {
                        name: format!("ns1.{name}"),
                        addresses: vec!["192.0.2.1".parse().unwrap()],
                    },
                    nicbox::model::Nameserver { name: "ns2.example.net".into(), addresses: vec![] },
                ],
                ds: vec![],
                statuses: vec![],
                created: nicbox::model::Timestamp(0),
                expires: nicbox::model::Timestamp(i64::MAX / 2),
                updated: nicbox::model::Timestamp(0),
                auto_renew: false,
                auth_code: "x".into(),
                auth_code_issued: nicbox::model::Timestamp(0),
                deleted: None,
                registration_basis: None,
                legitimacy: None,
                owner_visible: true,
                pending_registrant: None,
                pending_since: None,
                due: nicbox::model::Timestamp(i64::MAX / 2),
            };
            tx.put_domain(None, &d).unwrap();
        }
        tx.commit().unwrap();
    }
    let (code, out, err) = run(&["zone", "export", "--config", c]);
    assert_eq!(code, 0, "{out} {err}");
    let file = dir.path().join("data").join("zones").join("pt.zone");
    let whole = |path: &Path| -> usize {
        let r = nicbox::zone::render::Reader::open(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
            .expect("a zone file nicbox wrote");
        let mut n = 0;
        for d in r {
            d.expect("every record reads");
            n += 1;
        }
        n
    };
    assert_eq!(whole(&file), DOMAINS);
    let first = std::fs::read(&file).unwrap();
    // Another TTL: every delegation changes, so an export rewrites the whole file.
    let text = std::fs::read_to_string(&config).unwrap().replace("[tld.zone]\n", "[tld.zone]\nttl = 7200\n");
    std::fs::write(&config, text).unwrap();
    let mut rewritten = false;
    for delay_ms in [5u64, 30, 60, 120, 200, 350] {
        let mut child = std::process::Command::new(crate::common::binary())
            .args(["zone", "export", "--config", c])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let status = child.wait().unwrap();
        assert_eq!(whole(&file), DOMAINS, "after a kill at {delay_ms} ms ({status})");
        let now = std::fs::read(&file).unwrap();
        if now != first {
            assert!(String::from_utf8_lossy(&now).contains(" 7200 IN NS "), "a complete new publication");
            rewritten = true;
            break;
        }
    }
    let (code, out, err) = run(&["zone", "export", "--config", c]);
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(whole(&file), DOMAINS);
    assert!(std::fs::read_to_string(&file).unwrap().contains(" 7200 IN NS "), "{rewritten}");
}
