//! `GET /.well-known/ssf-configuration`: the transmitter's metadata
//! (SSF 1.0 §7.1).

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use grantor_store::{SSF_POLL_METHOD, SSF_PUSH_METHOD};
use serde_json::json;

use crate::http::AppState;

/// The SSF version this transmitter implements.
pub const SPEC_VERSION: &str = "1_0";

pub async fn configuration(State(state): State<AppState>) -> impl IntoResponse {
    let issuer = &state.issuer;
    Json(json!({
        "spec_version": SPEC_VERSION,
        "issuer": issuer.as_str(),
        "jwks_uri": issuer.url(".well-known/jwks.json"),
        "delivery_methods_supported": [SSF_PUSH_METHOD, SSF_POLL_METHOD],
        "configuration_endpoint": issuer.url("ssf/streams"),
        "status_endpoint": issuer.url("ssf/status"),
        "add_subject_endpoint": issuer.url("ssf/subjects/add"),
        "remove_subject_endpoint": issuer.url("ssf/subjects/remove"),
        "verification_endpoint": issuer.url("ssf/verify"),
        "authorization_schemes": [{ "spec_urn": "urn:ietf:rfc:6749" }],
        "default_subjects": "ALL",
        "critical_subject_members": ["user"],
    }))
}
