//! `GET /.well-known/openid-configuration` (OIDC Discovery, RFC 8414) and
//! `GET /.well-known/jwks.json`. List an endpoint here when it is built.

use axum::extract::State;
use axum::Json;
use grantor_domain::SigningAlg;
use serde_json::{json, Value};

use super::AuthApiError;
use crate::flows::FlowError;
use crate::http::AppState;

pub async fn get_discovery(State(state): State<AppState>) -> Json<Value> {
    let issuer = &state.issuer;
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    Json(json!({
        "issuer": issuer.as_str(),
        "token_endpoint": issuer.url("oauth/token"),
        "jwks_uri": issuer.url(".well-known/jwks.json"),
        "authorization_endpoint": issuer.url("authorize"),
        "device_authorization_endpoint": issuer.url("oauth/device/code"),
        "end_session_endpoint": issuer.url("oidc/logout"),
        // OpenID Connect Back-Channel Logout 1.0: logout tokens carry `sid`.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "response_modes_supported": ["query", "form_post"],
        // RFC 9207: every authorization response carries `iss`.
        "authorization_response_iss_parameter_supported": true,
        "code_challenge_methods_supported": ["S256"],
        "dpop_signing_alg_values_supported": crate::flows::dpop::SIGNING_ALGS,
        "claims_parameter_supported": false,
        "userinfo_endpoint": issuer.url("userinfo"),
        "revocation_endpoint": issuer.url("oauth/revoke"),
        "introspection_endpoint": issuer.url("oauth/introspect"),
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "id_token_signing_alg_values_supported": algs,
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "request_parameter_supported": false,
        // OIDC's `request_uri` names a request object to fetch, which is not
        // supported; the only `request_uri` taken is a pushed request's.
        "request_uri_parameter_supported": false,
        // RFC 9126 §5; whether PAR is required is a per-client setting.
        "pushed_authorization_request_endpoint": issuer.url("oauth/par"),
        "require_pushed_authorization_requests": false,
    }))
}

/// The RSA keys (RS256, PS256; ID tokens are RS256) always, and the EC and
/// OKP keys only while some API signs with ES256 or EdDSA: Auth0 publishes
/// RSA keys only, and auth0-python's token verifier fails on any other key
/// type in the set, whatever key the token names.
pub async fn get_jwks(State(state): State<AppState>) -> Result<Json<Value>, AuthApiError> {
    let in_use = state
        .store
        .signing_algs_in_use()
        .await
        .map_err(FlowError::from)?;
    let wanted =
        |alg: &str| matches!(alg, "RS256" | "PS256") || in_use.iter().any(|used| used == alg);
    let keys: Vec<Value> = state.keys.jwks()["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter(|k| k["alg"].as_str().is_some_and(wanted))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({ "keys": keys })))
}
