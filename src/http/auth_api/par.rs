//! `POST /oauth/par` (RFC 9126 §2): a pushed authorization request. The
//! client authenticates as at the token endpoint (`client.rs`); the body's
//! other members are the authorization request, checked by `flows::par`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::json;

use super::client::{self, Endpoint};
use super::{AuthApiError, FormOrJson};
use crate::flows::authorize::AuthorizeParams;
use crate::flows::par::{self, PushError};
use crate::http::client_ip::ClientIp;
use crate::http::extract::dpop_proofs;
use crate::http::AppState;

pub async fn post_par(
    State(state): State<AppState>,
    client_ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    FormOrJson(mut form): FormOrJson<BTreeMap<String, String>>,
) -> Result<Response, AuthApiError> {
    let client_secret = form.remove("client_secret");
    let client = client::authenticate(
        &state,
        Endpoint::Par,
        &headers,
        form.get("client_id").cloned(),
        client_secret,
    )
    .await?;
    // A public client is named by its id alone, which anyone may send, so
    // its pushes are unauthenticated writes: the per-IP write bucket, as for
    // `/authorize` and `/oauth/device/code`. A confidential client's pushes
    // count against its own bucket only (taken by `client::authenticate`),
    // so a web app's backend can push every sign-in.
    if client.token_endpoint_auth_method.is_public() {
        if let Some(Extension(ClientIp(ip))) = client_ip {
            state
                .rate_limits
                .check_write(ip)
                .map_err(AuthApiError::RateLimited)?;
        }
    }
    // OIDC Core §3.1.2.6: request objects (JAR) are not supported.
    if form.contains_key("request") {
        return Err(AuthApiError::Status(
            StatusCode::BAD_REQUEST,
            "request_not_supported",
            "Request objects (the request parameter) are not supported".to_owned(),
        ));
    }
    let params = AuthorizeParams::from_pairs(form);
    let now = state.clock.now();
    let pushed = par::push(&state, client, params, &dpop_proofs(&headers), now)
        .await
        .map_err(|e| match e {
            PushError::Invalid { error, description } => {
                AuthApiError::Status(StatusCode::BAD_REQUEST, error, description)
            }
            PushError::OAuth(e) => AuthApiError::OAuth(e),
            PushError::Internal(e) => AuthApiError::Internal(e),
        })?;
    let mut response = (
        StatusCode::CREATED,
        Json(json!({
            "request_uri": pushed.request_uri,
            "expires_in": pushed.expires_in,
        })),
    )
        .into_response();
    // RFC 9126 §2.2 (a request_uri is a one-time bearer reference).
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
