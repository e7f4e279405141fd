//! The Authentication API (Auth0-compatible paths at the root): one file per
//! endpoint, client authentication for token, revoke, introspect and par in
//! `client.rs`, errors rendered by `error.rs` as `{error, error_description}`.

mod body;
mod client;
mod device_code;
mod discovery;
mod error;
mod introspect;
mod par;
mod revoke;
mod token;
mod userinfo;

use axum::routing::{get, post};
use axum::Router;

pub use body::FormOrJson;
pub use error::AuthApiError;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::get_discovery),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::get_discovery),
        )
        .route("/.well-known/jwks.json", get(discovery::get_jwks))
        .route("/oauth/token", post(token::post_token))
        .route("/oauth/device/code", post(device_code::post_device_code))
        .route("/oauth/par", post(par::post_par))
        .route(
            "/userinfo",
            get(userinfo::get_userinfo).post(userinfo::get_userinfo),
        )
        .route("/oauth/revoke", post(revoke::post_revoke))
        .route("/oauth/introspect", post(introspect::post_introspect))
}

/// Unknown paths outside the Management API.
pub async fn not_found() -> AuthApiError {
    AuthApiError::not_found()
}
