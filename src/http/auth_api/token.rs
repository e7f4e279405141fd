//! `POST /oauth/token`: parse, authenticate the client once (`client.rs`),
//! dispatch on the grant type to `flows::token`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::{GrantType, OAuthError, OAuthErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::client::{self, Endpoint};
use super::{AuthApiError, FormOrJson};
use crate::flows::token::{self, IssuedTokens, TokenRequest};
use crate::http::extract::RequestMeta;
use crate::http::AppState;

/// Every parameter any grant type reads; unknown ones are ignored (RFC 6749 §3.2).
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    device_code: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

pub async fn post_token(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    FormOrJson(form): FormOrJson<TokenForm>,
) -> Result<Response, AuthApiError> {
    let grant_type = form
        .grant_type
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: grant_type"))?;
    let grant_type = GrantType::parse(grant_type).ok_or_else(|| {
        OAuthError::new(
            OAuthErrorKind::UnsupportedGrantType,
            format!("Unsupported grant type: {grant_type}"),
        )
    })?;
    let client = client::authenticate(
        &state,
        Endpoint::Token,
        &headers,
        form.client_id,
        form.client_secret,
    )
    .await?;
    // RFC 9449: every DPoP header, as sent; one that is not text is a bad proof.
    let dpop_proofs = headers
        .get_all("dpop")
        .iter()
        .map(|v| v.to_str().map(str::to_owned))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            OAuthError::new(
                OAuthErrorKind::InvalidDpopProof,
                "The DPoP header is not a JWT",
            )
        })?;
    let request = TokenRequest {
        audience: form.audience,
        scope: form.scope,
        code: form.code,
        redirect_uri: form.redirect_uri,
        code_verifier: form.code_verifier,
        refresh_token: form.refresh_token,
        device_code: form.device_code,
        username: form.username,
        password: form.password,
        dpop_proofs,
        dpop: None,
    };
    let now = state.clock.now();
    let issued = token::exchange(&state, grant_type, client, request, &meta, now).await?;
    let mut response = Json(render(&issued)).into_response();
    // RFC 6749 §5.1: token responses must not be cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// RFC 6749 §5.1: `refresh_token` and `id_token` only when issued.
fn render(issued: &IssuedTokens) -> Value {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": if issued.dpop_bound { "DPoP" } else { "Bearer" },
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    });
    if let Some(rt) = &issued.refresh_token {
        body["refresh_token"] = json!(rt);
    }
    if let Some(id) = &issued.id_token {
        body["id_token"] = json!(id);
    }
    body
}
