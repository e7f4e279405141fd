//! NUL characters are refused at the edge, on every surface, in its own format.
//!
//! No identifier, secret, URL, name or metadata value we accept may hold
//! U+0000, and PostgreSQL cannot store it in text: a NUL that reached the
//! store failed there (a 500) on PostgreSQL and was stored on SQLite. So a
//! request carrying one is a 400 before any handler runs, the same on both
//! databases: request targets (an encoded `%00` in the path or query) through
//! the per-surface middlewares below, bodies in their extractors (`FormOrJson`,
//! `ApiJson`, `CheckedForm`, the dashboard's sign-in form).
//!
//! The same middlewares refuse a path whose percent-decoding is not UTF-8
//! (`/api/v2/users/%FF`): path parameters are text, and axum's own
//! rejection is a plain-text 400 in no surface's format. The SSF surface,
//! which answers a NUL in a stream id with 404 (no such stream), refuses
//! only such paths (`ssf_targets`).

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use grantor_domain::OAuthError;
use serde_json::Value;

use super::auth_api::AuthApiError;
use super::dashboard::DashboardError;
use super::management::ApiError;
use super::pages::PageError;
use super::ssf::SsfError;

pub const MESSAGE: &str = "The request contains a NUL character, which no parameter may hold.";

/// `%00` in the path or query (a raw NUL cannot be in a request target).
pub fn in_target(uri: &Uri) -> bool {
    let encoded = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    encoded(uri.path()) || uri.query().is_some_and(encoded)
}

pub const PATH_MESSAGE: &str = "The request path is not valid UTF-8 once percent-decoded.";

/// A path that does not percent-decode to UTF-8.
pub fn bad_path(uri: &Uri) -> bool {
    percent_encoding::percent_decode_str(uri.path())
        .decode_utf8()
        .is_err()
}

/// Why a request target is refused before any handler runs, if it is.
fn refusal_of(uri: &Uri) -> Option<&'static str> {
    if in_target(uri) {
        Some(MESSAGE)
    } else if bad_path(uri) {
        Some(PATH_MESSAGE)
    } else {
        None
    }
}

/// A form body holding a NUL, raw or percent-encoded.
pub fn in_form(bytes: &[u8]) -> bool {
    bytes.contains(&0) || bytes.windows(3).any(|w| w == b"%00")
}

/// A JSON value with a NUL in any string or member name.
pub fn in_json(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(in_json),
        Value::Object(members) => members.iter().any(|(k, v)| k.contains('\0') || in_json(v)),
        _ => false,
    }
}

/// A JSON text with a NUL in a string: JSON can only write one as `\u0000`,
/// so only texts holding that sequence are parsed again to make sure.
pub fn in_json_text(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w == br"\u0000")
        && serde_json::from_slice::<Value>(bytes).is_ok_and(|v| in_json(&v))
}

async fn refuse(
    request: Request,
    next: Next,
    refusal: impl FnOnce(&'static str) -> Response,
) -> Response {
    match refusal_of(request.uri()) {
        Some(message) => refusal(message),
        None => next.run(request).await,
    }
}

/// The Authentication API: `{error: invalid_request}`.
pub async fn oauth_targets(request: Request, next: Next) -> Response {
    refuse(request, next, |message| {
        AuthApiError::from(OAuthError::invalid_request(message)).into_response()
    })
    .await
}

/// The Management API: `{statusCode: 400, errorCode: invalid_uri}`.
pub async fn management_targets(request: Request, next: Next) -> Response {
    refuse(request, next, |message| {
        ApiError::bad_request(message, "invalid_uri").into_response()
    })
    .await
}

/// The browser pages: the error page.
pub async fn page_targets(request: Request, next: Next) -> Response {
    refuse(request, next, |message| {
        PageError::bad_request(message).into_response()
    })
    .await
}

/// The dashboard: its error page.
pub async fn dashboard_targets(request: Request, next: Next) -> Response {
    refuse(request, next, |message| {
        DashboardError::bad_request(message).into_response()
    })
    .await
}

/// Shared Signals: `{err: invalid_request}` for a path that is not UTF-8.
pub async fn ssf_targets(request: Request, next: Next) -> Response {
    if bad_path(request.uri()) {
        SsfError::bad_request(PATH_MESSAGE).into_response()
    } else {
        next.run(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nul_wherever_it_is_written() {
        assert!(in_target(&"/api/v2/clients/a%00b".parse().unwrap()));
        assert!(in_target(&"/authorize?client_id=%00".parse().unwrap()));
        assert!(!in_target(&"/authorize?client_id=%2500".parse().unwrap()));
        assert!(in_form(b"a=b%00") && in_form(b"a=\0") && !in_form(b"a=%2500"));
        assert!(in_json_text(br#"{"a": {"b\u0000": 1}}"#));
        assert!(in_json_text(br#"{"a": ["x\u0000y"]}"#));
        assert!(!in_json_text(br#"{"a": "\\u0000"}"#));
        assert!(bad_path(&"/api/v2/users/%FF".parse().unwrap()));
        assert!(bad_path(&"/ssf/poll/a%C3".parse().unwrap()));
        assert!(!bad_path(&"/api/v2/users/auth0%7C%C3%A9".parse().unwrap()));
        assert!(!bad_path(&"/authorize?x=%FF".parse().unwrap()));
    }
}
