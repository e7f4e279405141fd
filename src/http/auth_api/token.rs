//! `POST /oauth/token`: parse, authenticate the client once, dispatch on the
//! grant type to `flows::token`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::{GrantType, OAuthError, OAuthErrorKind};
use serde::Deserialize;

use super::{AuthApiError, FormOrJson};
use crate::flows::client_auth::PresentedClient;
use crate::flows::token::{self, TokenRequest};
use crate::http::extract::{basic_credentials, RequestMeta};
use crate::http::rate_limit::Surface;
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
    let presented = presented_client(&headers, form.client_id, form.client_secret)?;
    let client = token::authenticate(&state, &presented).await?;
    // Charged only once the client is authenticated: a bucket keyed by a
    // presented client id would let anyone lock that client out.
    state
        .rate_limits
        .check_client(Surface::OAuth, &client.client_id)?;
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
    };
    let now = state.clock.now();
    let issued = token::exchange(&state, grant_type, client, request, &meta, now).await?;
    let mut response = Json(issued.to_json()).into_response();
    // RFC 6749 §5.1: token responses must not be cached.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Combines the Basic header and the body members into one presented client.
pub fn presented_client(
    headers: &HeaderMap,
    body_client_id: Option<String>,
    body_secret: Option<String>,
) -> Result<PresentedClient, OAuthError> {
    let basic = basic_credentials(headers).map_err(OAuthError::invalid_request)?;
    match (basic, body_client_id, body_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "Use only one client authentication method (Basic or client_secret in the body)",
        )),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(OAuthError::invalid_request(
            "client_id does not match the Basic credentials",
        )),
        (Some((client_id, secret)), _, None) => Ok(PresentedClient::Basic { client_id, secret }),
        (None, Some(client_id), Some(secret)) => Ok(PresentedClient::Post { client_id, secret }),
        (None, Some(client_id), None) => Ok(PresentedClient::IdOnly { client_id }),
        (None, None, _) => Err(OAuthError::invalid_request(
            "Missing required parameter: client_id",
        )),
    }
}
