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

use axum::extract::State;
use axum::http::HeaderValue;
use axum::middleware::map_response_with_state;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub use body::FormOrJson;
pub use error::AuthApiError;

use super::AppState;

pub fn routes(state: &AppState) -> Router<AppState> {
    // The endpoints that take DPoP proofs (RFC 9449: token, PAR §10.1,
    // userinfo §9) hand out the current server nonce on every answer.
    let dpop = Router::new()
        .route("/oauth/token", post(token::post_token))
        .route("/oauth/par", post(par::post_par))
        .route(
            "/userinfo",
            get(userinfo::get_userinfo).post(userinfo::get_userinfo),
        )
        .route_layer(map_response_with_state(state.clone(), offer_dpop_nonce));
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
        .route("/oauth/device/code", post(device_code::post_device_code))
        .route("/oauth/revoke", post(revoke::post_revoke))
        .route("/oauth/introspect", post(introspect::post_introspect))
        .merge(dpop)
}

/// With `--require-dpop-nonce`, `DPoP-Nonce` carries the current server
/// nonce (RFC 9449 §8, §9): on every answer, so also on the `use_dpop_nonce`
/// refusals, which must carry it.
async fn offer_dpop_nonce(State(state): State<AppState>, mut response: Response) -> Response {
    if state.require_dpop_nonce {
        let nonce = crate::flows::dpop::nonce(&state, state.clock.now());
        if let Ok(value) = HeaderValue::from_str(&nonce) {
            response.headers_mut().insert("dpop-nonce", value);
        }
    }
    response
}

/// Unknown paths outside the Management API.
pub async fn not_found() -> AuthApiError {
    AuthApiError::not_found()
}
