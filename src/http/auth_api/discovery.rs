//! `GET /.well-known/openid-configuration` (OIDC Discovery, RFC 8414) and
//! `GET /.well-known/jwks.json`. List an endpoint here when it is built.

use axum::extract::State;
use axum::Json;
use grantor_domain::SigningAlg;
use serde_json::{json, Value};

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
        "response_modes_supported": ["query", "form_post"],
        "code_challenge_methods_supported": ["S256"],
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
        "request_uri_parameter_supported": false,
    }))
}

pub async fn get_jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.keys.jwks().clone())
}
