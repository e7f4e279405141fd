//! `POST /oauth/revoke` (RFC 7009, Auth0 §2.3): authenticate the client
//! first, then revoke through `flows::revocation`. 200 with an empty body on
//! success and for unknown tokens; 400 `invalid_request` for a token of another
//! client (which stays valid); 401 `invalid_client` for missing or bad client
//! credentials (`client.rs`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use grantor_domain::OAuthError;
use serde::Deserialize;

use super::client::{self, Endpoint};
use super::{AuthApiError, FormOrJson};
use crate::flows::revocation::{self, RevokeOutcome};
use crate::flows::RequestMeta;
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn post_revoke(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    FormOrJson(form): FormOrJson<RevokeForm>,
) -> Result<StatusCode, AuthApiError> {
    let client = client::authenticate(
        &state,
        Endpoint::Revoke,
        &headers,
        form.client_id,
        form.client_secret,
    )
    .await?;
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
