//! Extractors shared by the surfaces: request metadata and client credentials.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::client_ip::ClientIp;
pub use crate::flows::RequestMeta;

impl<S: Send + Sync> FromRequestParts<S> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The address `client_ip::layer` settled on (socket peer, or the
        // forwarded client behind a trusted proxy); the socket peer when the
        // router runs without that layer.
        let ip = match parts.extensions.get::<ClientIp>() {
            Some(ClientIp(ip)) => ip.to_string(),
            None => parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ci| ci.0.ip().to_canonical().to_string())
                .unwrap_or_default(),
        };
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(512)
            .collect();
        Ok(Self { ip, user_agent })
    }
}

/// `Authorization: Basic` credentials (RFC 6749 §2.3.1: both parts form-urlencoded).
/// `Ok(None)` when the header is absent or uses another scheme.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, &'static str> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| "malformed Authorization header")?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| "malformed Basic credentials")?;
    let decoded = String::from_utf8(decoded).map_err(|_| "malformed Basic credentials")?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or("malformed Basic credentials")?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| "malformed Basic credentials")
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// The bearer token of an `Authorization: Bearer …` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    authorization_token(headers, "bearer")
}

/// The token of an `Authorization: DPoP <token>` header (RFC 9449 §7.1).
pub fn dpop_token(headers: &HeaderMap) -> Option<&str> {
    authorization_token(headers, "dpop")
}

/// The `DPoP` header values as sent (RFC 9449 §4.1), for `flows::dpop::check`;
/// one that is not text stands as a NUL, which no proof parses as.
pub fn dpop_proofs(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("dpop")
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .collect()
}

/// The token of an `Authorization` header of `scheme` (any case).
fn authorization_token<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (sent, token) = value.split_once(' ')?;
    sent.eq_ignore_ascii_case(scheme)
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
