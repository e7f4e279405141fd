//! OpenID Connect Back-Channel Logout 1.0: one logout token per ended
//! session and client that registered `oidc_logout.backchannel_logout_urls`,
//! queued by the store when the session ends (`announce_session_ends_in`).

use grantor_domain::{ClientId, SigningAlg};
use grantor_store::OutboxMessage;
use serde_json::json;

use super::Destination;
use crate::state::AppState;

/// The back-channel logout event member (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid after it is signed (each attempt signs anew).
const LOGOUT_TOKEN_LIFETIME_SECONDS: i64 = 120;

/// The client's current back-channel logout URL: a changed URL is used, a
/// removed one or a deleted client ends the message.
pub(super) async fn destination(state: &AppState, message: &OutboxMessage) -> Destination {
    let gone =
        || Destination::Gone("the client no longer has a back-channel logout URL".to_owned());
    let Some(client_id) = message.client_id.as_deref() else {
        return gone();
    };
    match state.store.client(&ClientId::from(client_id)).await {
        Ok(Some(client)) => client
            .backchannel_logout_url
            .map_or_else(gone, Destination::Url),
        Ok(None) => gone(),
        // The store is unavailable: try the URL it was queued for.
        Err(_) => Destination::Url(message.destination.clone()),
    }
}

/// The POST that carries the logout token (§2.5: a form with `logout_token`).
pub(super) fn request(
    state: &AppState,
    message: &OutboxMessage,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::RequestBuilder, String> {
    let token = logout_token(state, message).map_err(|e| e.to_string())?;
    Ok(request
        .header(reqwest::header::CACHE_CONTROL, "no-store")
        .form(&[("logout_token", token)]))
}

/// The Logout Token (Back-Channel Logout 1.0 §2.4): `iss`, `aud` (the
/// client), `iat`, `exp`, `jti` (the message id), `sub`, `sid`, `events`; no
/// `nonce`. Signed with RS256, as ID tokens are, with `typ: logout+jwt`.
fn logout_token(state: &AppState, message: &OutboxMessage) -> anyhow::Result<String> {
    let now = state.clock.now().unix_seconds();
    let claims = json!({
        "iss": state.issuer.as_str(),
        "aud": message.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_LIFETIME_SECONDS,
        "jti": message.id,
        "sub": message.user_id,
        "sid": message.session_id,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    state
        .keys
        .sign_typed(SigningAlg::Rs256, "logout+jwt", &claims)
}
