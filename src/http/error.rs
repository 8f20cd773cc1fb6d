//! One error type for every HTTP answer that is not a success: RFC 9457 problem details with
//! the contract's stable `code`. Client errors show their detail; internal ones are logged and
//! answered without it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::registry::{Code, RegistryError};

#[derive(Debug)]
pub struct ApiError(pub RegistryError, pub Option<u64>);

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> ApiError {
        ApiError(RegistryError::new(code, detail), None)
    }

    /// 429 with `Retry-After: secs`.
    pub fn rate_limited(secs: u64) -> ApiError {
        ApiError(RegistryError::new(Code::RateLimited, format!("too many requests: retry in {secs} s")), Some(secs))
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        ApiError(e, None)
    }
}

pub fn title(code: Code) -> &'static str {
    match code.http_status() {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (e, retry_after) = (self.0, self.1);
        let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = if e.is_internal() {
            tracing::error!(code = e.code.as_str(), detail = %e.detail, "request failed");
            "the registry could not complete the request; it has been logged".to_string()
        } else {
            e.detail.clone()
        };
        let body = serde_json::json!({
            "type": "about:blank",
            "title": title(e.code),
            "status": status.as_u16(),
            "code": e.code.as_str(),
            "detail": detail,
        });
        let mut resp = (status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        match e.code {
            Code::Unauthorized => {
                h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"nicbox\""));
            }
            Code::RateLimited | Code::Unavailable => {
                let secs = retry_after.unwrap_or(if e.code == Code::Unavailable { 10 } else { 1 }).to_string();
                if let Ok(v) = HeaderValue::from_str(&secs) {
                    h.insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        resp
    }
}
