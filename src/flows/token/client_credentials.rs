//! `grant_type=client_credentials` (RFC 6749 §4.4): machine tokens for an API
//! the client holds a client grant for.

use grantor_domain::{Client, OAuthError, OAuthErrorKind, ScopeSet, Timestamp};
use serde_json::json;

use super::{IssuedTokens, TokenRequest};
use crate::flows::FlowError;
use crate::state::AppState;

pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: TokenRequest,
    now: Timestamp,
) -> Result<IssuedTokens, FlowError> {
    if client.token_endpoint_auth_method.is_public() {
        return Err(OAuthError::unauthorized_client("client_credentials").into());
    }
    let audience = match request.audience {
        Some(a) => a,
        None => state.store.tenant_settings().await?.default_audience().map(str::to_owned).ok_or_else(|| {
            OAuthError::access_denied("No audience parameter was provided, and no default audience has been configured")
        })?,
    };
    // The API and the client's grant for it, in one read.
    let (api, grant) = state
        .store
        .machine_access(&client.client_id, &audience)
        .await?;
    let api = api.ok_or_else(|| crate::flows::audience::api_not_enabled(&audience))?;
    let grant = grant.ok_or_else(|| {
        OAuthError::access_denied(format!(
            "Client is not authorized to access \"{audience}\". You might probably want to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"
        ))
    })?;
    let requested = request
        .scope
        .as_deref()
        .map(ScopeSet::parse)
        .unwrap_or_default();
    let scope = if requested.is_empty() {
        grant.scope.clone()
    } else {
        requested.intersection(&grant.scope)
    };
    if !requested.is_empty() && scope.is_empty() {
        return Err(OAuthError::new(
            OAuthErrorKind::AccessDenied,
            "None of the requested scopes is granted to the client",
        )
        .into());
    }
    let iat = now.unix_seconds();
    let mut claims = json!({
        "iss": state.issuer.as_str(),
        "sub": format!("{}@clients", client.client_id),
        "aud": audience,
        "iat": iat,
        "exp": iat + api.token_lifetime,
        "scope": scope.to_wire(),
        "azp": client.client_id.as_str(),
        "gty": "client-credentials",
        "jti": crate::secrets::hex_id(16),
    });
    if let Some(key) = &request.dpop {
        claims["cnf"] = json!({ "jkt": key.jkt });
    }
    let access_token = state.keys.sign(api.signing_alg, &claims)?;
    Ok(IssuedTokens {
        access_token,
        expires_in: api.token_lifetime,
        scope: scope.to_wire(),
        refresh_token: None,
        id_token: None,
        signing_alg: api.signing_alg,
        dpop_bound: request.dpop.is_some(),
    })
}
