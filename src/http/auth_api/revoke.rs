//! `POST /oauth/revoke` (RFC 7009, Auth0 §2.3): authenticate the client
//! first, then revoke through `flows::revocation`. 200 with an empty body on
//! success and for unknown tokens; 400 `invalid_request` for a token of another
//! client (which stays valid); 401 `invalid_client` for missing or bad client
//! credentials.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use grantor_domain::{OAuthError, OAuthErrorKind};
use serde::Deserialize;

use super::token::presented_client;
use super::{AuthApiError, FormOrJson};
use crate::flows::client_auth::{self, ClientAuthError};
use crate::flows::revocation::{self, RevokeOutcome};
use crate::flows::RequestMeta;
use crate::http::extract::basic_credentials;
use crate::http::rate_limit::Surface;
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// Authenticates the client of a revoke or introspect call. No client at all
/// (neither a Basic header nor a `client_id`), a malformed Basic header, an
/// unknown client or a wrong secret are 401 `invalid_client` (RFC 6749 §5.2,
/// RFC 7009 §2.1, RFC 7662 §2.1); the response carries a Basic challenge.
/// A public client (`none`) authenticates with its `client_id` alone.
pub async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Result<grantor_domain::Client, AuthApiError> {
    let failed = || -> AuthApiError {
        OAuthError::new(
            OAuthErrorKind::InvalidClient,
            "Client authentication failed",
        )
        .into()
    };
    match basic_credentials(headers) {
        Err(_) => return Err(failed()),
        Ok(None) if client_id.is_none() => return Err(failed()),
        Ok(_) => {}
    }
    let presented = presented_client(headers, client_id, client_secret)?;
    let client = match client_auth::authenticate(&state.store, &presented).await {
        Ok(client) => client,
        Err(ClientAuthError::Store(e)) => return Err(e.into()),
        Err(_) => return Err(failed()),
    };
    // Charged only once the client is authenticated: a bucket keyed by a
    // presented (public) client id would let anyone lock that client out.
    state
        .rate_limits
        .check_client(Surface::OAuth, &client.client_id)?;
    Ok(client)
}

pub async fn post_revoke(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    FormOrJson(form): FormOrJson<RevokeForm>,
) -> Result<StatusCode, AuthApiError> {
    let client = authenticate_client(&state, &headers, form.client_id, form.client_secret).await?;
    let token = form
        .token
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: token"))?;
    let now = state.clock.now();
    match revocation::revoke_refresh_token(&state, &client, &token, &meta, now).await? {
        RevokeOutcome::NotYours => {
            Err(OAuthError::invalid_request("The token was not issued to this client").into())
        }
        RevokeOutcome::Unknown | RevokeOutcome::Revoked { .. } => Ok(StatusCode::OK),
    }
}
