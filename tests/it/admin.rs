//! Router tests of the admin UI's sign-in: the signed form token, throttling after repeated
//! failures, session cookies. (The pages themselves are tested in Chromium: tests/browser.)

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use nicbox::http::tls::ClientAddr;
use nicbox::model::{Actor, Role};
use tower::ServiceExt;

use crate::common::Env;

async fn post_login(env: &Env, from: &str, body: String) -> (u16, Option<String>, String) {
    let req = Request::builder()
        .method("POST")
        .uri("/admin/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .extension(ConnectInfo(ClientAddr(from.parse().unwrap())))
        .body(Body::from(body))
        .unwrap();
    let resp = env.app.clone().oneshot(req).await.unwrap();
    let status = resp.status().as_u16();
    let cookie = resp.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_string());
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, cookie, String::from_utf8_lossy(&bytes).into_owned())
}

async fn token(env: &Env) -> String {
    let resp = env.raw("GET", "/admin/login", None).await;
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let html = String::from_utf8_lossy(&bytes).into_owned();
    let i = html.find("name=\"token\" value=\"").expect("token field") + "name=\"token\" value=\"".len();
    html[i..].split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn sign_in_needs_the_form_token_and_is_throttled_after_five_failures() {
    let env = Env::new();
    let (_, password) = env.registry.user_add("maria", Role::Admin, Actor::System("test".into())).await.unwrap();
    let from = "192.0.2.55:40000";

    // Without the signed token from the form: refused, even with the right password.
    let (status, cookie, _) = post_login(&env, from, format!("username=maria&password={password}")).await;
    assert_eq!((status, cookie), (403, None));

    let t = token(&env).await;
    let (status, cookie, _) = post_login(&env, from, format!("username=maria&password={password}&token={t}")).await;
    assert_eq!(status, 303);
    let cookie = cookie.expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no Secure flag over plain HTTP (tests); set under TLS");

    for i in 0..5 {
        let (status, cookie, body) =
            post_login(&env, from, format!("username=maria&password=wrong{i}&token={t}")).await;
        assert_eq!((status, cookie), (401, None), "attempt {i}");
        assert!(!body.contains(&password));
    }
    // Throttled now: even the right password waits, told for how long (Retry-After, in seconds
    // up to the 15-minute window, and in words on the page).
    let window = nicbox::http::admin::lockout_window().as_secs();
    let req = Request::builder()
        .method("POST")
        .uri("/admin/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .extension(ConnectInfo(ClientAddr(from.parse().unwrap())))
        .body(Body::from(format!("username=maria&password={password}&token={t}")))
        .unwrap();
    let resp = env.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().get("set-cookie").is_none());
    let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().expect("Retry-After in seconds");
    assert!((1..=window).contains(&retry), "Retry-After {retry}, window {window}");
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    let page = String::from_utf8_lossy(&bytes);
    // The page is in Portuguese unless the browser asks for English.
    assert!(page.contains("tente de novo dentro de") && page.contains(&format!("{retry} segundos")), "{page}");
    // The admin API's Basic sign-in shares the throttle: 429 with the same wait.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("maria:{password}"));
    let req = Request::builder()
        .uri("/admin/api/stats")
        .header("authorization", format!("Basic {basic}"))
        .extension(ConnectInfo(ClientAddr(from.parse().unwrap())))
        .body(Body::empty())
        .unwrap();
    let resp = env.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let api_retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=retry).contains(&api_retry), "Retry-After {api_retry} after {retry}");
    // Another user from another address is not held back.
    let (_, other) = env.registry.user_add("joao", Role::Support, Actor::System("test".into())).await.unwrap();
    let (status, _, _) =
        post_login(&env, "198.51.100.7:40000", format!("username=joao&password={other}&token={t}")).await;
    assert_eq!(status, 303);
    // The failures are in the audit log.
    let audit = env.registry.audit_log(None, 100).unwrap();
    assert_eq!(audit.iter().filter(|e| e.operation.starts_with("failed sign-in")).count(), 5);
}

/// The admin search without a name prefix takes a registrar's or a stored status's domains
/// from its own index: each filter finds exactly its domains, page after page, and the other
/// filters still apply.
#[tokio::test]
async fn search_by_registrar_or_status_finds_exactly_those_domains_page_by_page() {
    use nicbox::model::Status;
    use nicbox::registry::admin::DomainSearch;
    let env = Env::new();
    let (ka, kb) = (env.registrar("alfa", 10_000_000).await, env.registrar("beta", 10_000_000).await);
    let (ha, hb) = (env.org(&ka).await, env.org(&kb).await);
    let mut of_a = Vec::new();
    for i in 0..70 {
        // Interleaved names, so that a registrar's are not one run of the name order; some IDN,
        // some in com.pt.
        let (key, handle) = if i % 3 == 0 { (&ka, &ha) } else { (&kb, &hb) };
        let name = match i % 5 {
            0 => format!("açor{i:02}.pt"),
            1 => format!("casa{i:02}.com.pt"),
            _ => format!("casa{i:02}.pt"),
        };
        let (s, v) = env.register(key, &name, handle, serde_json::json!({})).await;
        assert!(s.is_success(), "{name}: {v}");
        if key == &ka {
            of_a.push(env.registry.name_key(&name).unwrap());
        }
    }
    let held: Vec<String> = of_a.iter().step_by(4).cloned().collect();
    for n in &held {
        env.registry
            .set_server_statuses(n, vec![Status::ServerHold], vec![], Actor::User("maria".into()))
            .await
            .unwrap();
    }
    // Every page of a search, as the domains page follows them (its token: the last Unicode name).
    let all = |q: DomainSearch, limit: usize| {
        let mut out: Vec<String> = Vec::new();
        let mut q = q;
        loop {
            let page = env.registry.domain_search(&q, limit).unwrap();
            out.extend(page.iter().map(|d| d.name.clone()));
            if page.len() < limit {
                return out;
            }
            q.after = page.last().map(|d| d.unicode_name.clone());
        }
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let by_a = all(DomainSearch { registrar: Some("alfa".into()), ..Default::default() }, 7);
    assert_eq!(by_a.len(), of_a.len(), "each of alfa's domains once: {by_a:?}");
    assert_eq!(sorted(by_a), sorted(of_a.clone()));
    let com =
        all(DomainSearch { registrar: Some("alfa".into()), zone: Some("com.pt".into()), ..Default::default() }, 3);
    let want: Vec<String> = of_a.iter().filter(|n| n.ends_with(".com.pt")).cloned().collect();
    assert!(!want.is_empty());
    assert_eq!(sorted(com), sorted(want));
    let on_hold = all(DomainSearch { status: Some(Status::ServerHold), ..Default::default() }, 2);
    assert_eq!(sorted(on_hold), sorted(held.clone()));
    let none =
        all(DomainSearch { status: Some(Status::ServerHold), registrar: Some("beta".into()), ..Default::default() }, 5);
    assert!(none.is_empty(), "beta holds none of them: {none:?}");
    // With a prefix, the prefix's range is walked and the registrar filters it.
    let casa_a = all(DomainSearch { prefix: "casa".into(), registrar: Some("alfa".into()), ..Default::default() }, 4);
    let want: Vec<String> = of_a.iter().filter(|n| n.starts_with("casa")).cloned().collect();
    assert_eq!(sorted(casa_a), sorted(want));
}
