//! `POST /oauth/introspect` (RFC 7662) for confidential clients.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use grantor_domain::{OAuthError, OAuthErrorKind};
use serde::Deserialize;
use serde_json::Value;

use super::revoke::authenticate_client;
use super::{AuthApiError, FormOrJson};
use crate::flows::introspect;
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct IntrospectForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn post_introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    FormOrJson(form): FormOrJson<IntrospectForm>,
) -> Result<Json<Value>, AuthApiError> {
    let client = authenticate_client(&state, &headers, form.client_id, form.client_secret).await?;
    if client.token_endpoint_auth_method.is_public() {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidClient,
            "Introspection needs a confidential client",
        )
        .into());
    }
    let token = form
        .token
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: token"))?;
    let now = state.clock.now();
    Ok(Json(
        introspect::introspect(&state, &client, &token, now).await?,
    ))
}
