//! Request extractors with bounds: JSON bodies (size, nesting depth, unknown fields refused),
//! repeated query parameters, and the registrar behind a bearer key.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::limits::{API_BODY_BYTES_MAX, JSON_DEPTH_MAX};
use crate::model::Registrar;
use crate::registry::Code;

/// Deepest nesting of objects and arrays in a JSON text (brackets inside strings ignored).
pub fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// A JSON body of at most `API_BODY_BYTES_MAX` bytes and `JSON_DEPTH_MAX` levels.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        // The body must be JSON whatever the Content-Type says: `curl -d` sends a form type by
        // default, and refusing it would only get in the way of a registrar trying the API.
        let body = axum::body::to_bytes(req.into_body(), API_BODY_BYTES_MAX).await.map_err(|_| {
            ApiError::new(Code::TooLarge, format!("the body is larger than {API_BODY_BYTES_MAX} bytes"))
        })?;
        parse_json(&body).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if json_depth(body) > JSON_DEPTH_MAX {
        return Err(ApiError::new(Code::InvalidRequest, format!("JSON nested deeper than {JSON_DEPTH_MAX} levels")));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::new(Code::InvalidRequest, format!("invalid JSON body: {e}")))
}

/// Every value of a query parameter, in order (`?name=a&name=b`).
pub fn query_values(query: Option<&str>, key: &str) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// Wrong API keys per address: `API_BAD_KEYS_MAX` within `API_BAD_KEYS_WINDOW` lock the address out
/// for the rest of the window (429 with Retry-After).
fn bad_keys() -> &'static crate::http::lockout::Lockout {
    static L: std::sync::OnceLock<crate::http::lockout::Lockout> = std::sync::OnceLock::new();
    L.get_or_init(|| {
        crate::http::lockout::Lockout::new(crate::limits::API_BAD_KEYS_MAX, crate::limits::API_BAD_KEYS_WINDOW)
    })
}

/// The registrar whose API key the request carries.
pub struct Authed(pub Registrar);

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| ApiError::new(Code::Unauthorized, "send Authorization: Bearer <api key>"))?;
        // An address that keeps sending wrong keys is refused for a while, right keys included:
        // guessing costs time, and the refusal says when to come back.
        // (A router driven in-process, without a connection, has no address and no throttle.)
        let origin: Vec<String> = parts
            .extensions
            .get::<axum::extract::ConnectInfo<crate::http::tls::ClientAddr>>()
            .map(|c| format!("ip:{}", c.0.0.ip()))
            .into_iter()
            .collect();
        if let Some(secs) = bad_keys().retry_after(&origin) {
            return Err(ApiError::rate_limited(secs));
        }
        let registrar = match state.registry.authenticate(key) {
            Ok(r) => r,
            Err(e) => {
                if e.code == Code::Unauthorized {
                    bad_keys().fail(&origin);
                }
                return Err(e.into());
            }
        };
        if let Err(not_until) = state.api_limiter.check_key(&registrar.id) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            return Err(ApiError::rate_limited(wait.as_secs() + 1));
        }
        Ok(Authed(registrar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(json_depth(br#"{"a":[1,2]}"#), 2);
        assert_eq!(json_depth(br#"{"a":"[[[[[[\"]]]"}"#), 1);
        assert_eq!(json_depth(b"[[[[[[[[[[]]]]]]]]]]"), 10);
        assert_eq!(json_depth(b"1"), 0);
    }

    #[test]
    fn repeated_query_values() {
        assert_eq!(query_values(Some("name=a.pt&x=1&name=a%C3%A7ores.pt"), "name"), vec!["a.pt", "açores.pt"]);
        assert!(query_values(None, "name").is_empty());
    }
}

/// A POST body (JSON, or nothing for calls without one) with its Idempotency-Key, if any. The
/// key's fingerprint covers the method, the path and the body, so reusing a key for another
/// request is detected.
pub struct Posted<T> {
    pub body: T,
    pub idem: Option<crate::registry::Idem>,
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Posted<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        use sha2::{Digest, Sha256};
        let key = match req.headers().get("idempotency-key") {
            None => None,
            Some(v) => {
                let k = v.to_str().unwrap_or("").trim().to_string();
                if k.is_empty()
                    || k.len() > crate::limits::IDEMPOTENCY_KEY_BYTES_MAX
                    || !k.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(ApiError::new(
                        Code::InvalidRequest,
                        format!(
                            "Idempotency-Key: 1 to {} printable ASCII characters",
                            crate::limits::IDEMPOTENCY_KEY_BYTES_MAX
                        ),
                    ));
                }
                Some(k)
            }
        };
        let head = format!("{} {}\n", req.method(), req.uri().path());
        let body = axum::body::to_bytes(req.into_body(), API_BODY_BYTES_MAX).await.map_err(|_| {
            ApiError::new(Code::TooLarge, format!("the body is larger than {API_BODY_BYTES_MAX} bytes"))
        })?;
        let fingerprint: [u8; 32] = Sha256::new().chain_update(head.as_bytes()).chain_update(&body).finalize().into();
        let parsed = if body.iter().all(u8::is_ascii_whitespace) {
            parse_json(&Bytes::from_static(b"{}"))?
        } else {
            parse_json(&body)?
        };
        Ok(Posted { body: parsed, idem: key.map(|key| crate::registry::Idem { key, fingerprint }) })
    }
}

/// A body that must be empty or `{}` (calls whose URL says everything).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}
