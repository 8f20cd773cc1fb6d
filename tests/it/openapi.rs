//! The OpenAPI document against the code: the same routes and methods, the same error codes,
//! and every route in the document answers (never 404 or 405 from the router).

use std::collections::BTreeSet;

use nicbox::http::api::OPENAPI;
use nicbox::registry::Code;
use serde_json::Value;

use crate::common::Env;

/// The API's routes as (method, path in OpenAPI form), from the application's route table.
fn api_routes() -> Vec<(String, String)> {
    nicbox::http::route_table()
        .into_iter()
        .filter_map(|r| Some((r.method.to_ascii_lowercase(), r.path.strip_prefix("/api/v1")?.to_string())))
        .collect()
}

fn doc() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

#[test]
fn document_lists_exactly_the_routes_of_the_code() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut in_doc = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete", "head"].contains(&method.as_str()) {
                in_doc.insert((method.clone(), path.clone()));
            }
        }
    }
    let in_code: BTreeSet<(String, String)> = api_routes().into_iter().collect();
    assert_eq!(in_doc, in_code);
}

#[test]
fn document_lists_exactly_the_error_codes_of_the_code() {
    let doc = doc();
    let listed: Vec<String> = doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let codes: Vec<String> = Code::ALL.iter().map(|c| c.as_str().to_string()).collect();
    assert_eq!(listed, codes);
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let env = Env::new();
    let key = env.registrar("docs", 0).await;
    for (method, path) in api_routes() {
        let concrete = format!(
            "/api/v1{}",
            path.replace("{name}", "exemplo.pt").replace("{handle}", "C0000001").replace("{id}", "1")
        );
        let body = (method == "post" || method == "patch").then(|| serde_json::json!({}));
        let (status, v) = env.call(&method.to_uppercase(), &concrete, Some(&key), body).await;
        assert_ne!(status.as_u16(), 405, "{method} {path}: {v}");
        if status.as_u16() == 404 {
            // A 404 must be the registry's answer about the object, not an unknown route.
            let detail = v["detail"].as_str().unwrap_or("");
            assert!(["exemplo.pt", "C0000001", "message 1"].iter().any(|x| detail.contains(x)), "{method} {path}: {v}");
        }
    }
    let (status, _, ct) = env.call_full("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status.as_u16(), 200);
    assert!(ct.starts_with("application/json"));
}
