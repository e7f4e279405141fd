//! Browser logout: Auth0's `GET /v2/logout` and OIDC RP-Initiated Logout
//! (`GET /oidc/logout`). Both end the browser session (its refresh tokens stay
//! valid, as at Auth0) and send the browser only to an allowed logout URL.

use grantor_domain::urls::is_safe_redirect;
use grantor_domain::{Client, ClientId, Timestamp, TokenHash};
use serde_json::Value;

use super::audit::{self, EventExt, EventType};
use super::authorize::BrowserError;
use crate::state::AppState;

/// A logout request, from either endpoint.
#[derive(Debug, Default)]
pub struct LogoutRequest<'a> {
    pub client_id: Option<&'a str>,
    /// `returnTo` (Auth0) or `post_logout_redirect_uri` (OIDC).
    pub return_to: Option<&'a str>,
    /// OIDC: an ID token we issued, naming the client in `aud`.
    pub id_token_hint: Option<&'a str>,
    /// OIDC: echoed on the redirect.
    pub state: Option<&'a str>,
}

#[derive(Debug)]
pub enum LogoutOutcome {
    /// Redirect to this URL (one of the client's `allowed_logout_urls`).
    Redirect(String),
    /// No return URL: show a "signed out" page.
    SignedOut,
}

/// Validates the request first (the return URL must equal one of the
/// client's allowed logout URLs; nothing happens if it does not), then ends
/// the session the cookie names, if any.
#[tracing::instrument(skip_all, fields(client_id = ?request.client_id))]
pub async fn logout(
    state: &AppState,
    request: LogoutRequest<'_>,
    cookie_secret: Option<&str>,
    now: Timestamp,
) -> Result<LogoutOutcome, BrowserError> {
    let hinted = match request.id_token_hint {
        Some(token) => Some(client_of_id_token(state, token)?),
        None => None,
    };
    let client_id = match (request.client_id, hinted.as_deref()) {
        (Some(given), Some(hinted)) if given != hinted => {
            return Err(BrowserError::invalid(
                "The id_token_hint was not issued to this client_id.",
            ))
        }
        (Some(id), _) | (None, Some(id)) => Some(ClientId::from(id)),
        (None, None) => None,
    };
    let client: Option<Client> = match client_id {
        Some(id) => Some(
            state
                .store
                .client(&id)
                .await?
                .ok_or_else(|| BrowserError::invalid("Unknown client."))?,
        ),
        None => None,
    };
    let outcome = match request.return_to {
        None => LogoutOutcome::SignedOut,
        Some(url) => {
            let allowed = client
                .as_ref()
                .is_some_and(|c| c.allowed_logout_urls.iter().any(|u| u == url));
            if !allowed {
                return Err(BrowserError::invalid(
                    "The return URL is not one of the application's allowed logout URLs.",
                ));
            }
            // Defence in depth: a stored value that today's rules refuse
            // (`javascript:`, `data:`, …) is never followed.
            if !is_safe_redirect(url) {
                tracing::warn!("logout: a registered logout URL fails the URL rules");
                return Err(BrowserError::invalid(
                    "The return URL is not a URL the browser can be sent to.",
                ));
            }
            LogoutOutcome::Redirect(with_state(url, request.state))
        }
    };
    if let Some(secret) = cookie_secret.filter(|s| !s.is_empty()) {
        let hash = TokenHash::of(secret);
        if let Some(session) = state.store.active_session_by_cookie(&hash, now).await? {
            let mut event = audit::event(EventType::SuccessLogout, "Successful logout", now)
                .user(&session.user_id)
                .detail("session_id", Value::String(session.id.to_string()));
            if let Some(client) = &client {
                event = event.client(&client.client_id);
            }
            state.store.end_session(&session.id, &event, now).await?;
            state.outbox.wake();
        }
    }
    Ok(outcome)
}

/// The client (`aud`) of an ID token signed by us for this issuer. Expired
/// hints are accepted (OIDC RP-Initiated Logout §2): the token only names
/// the client, whose allowed logout URLs are then checked.
fn client_of_id_token(state: &AppState, token: &str) -> Result<String, BrowserError> {
    let invalid = || BrowserError::invalid("The id_token_hint is not a valid ID token.");
    let claims = state.keys.verify(token).map_err(|_| invalid())?;
    if claims.get("iss").and_then(Value::as_str) != Some(state.issuer.as_str()) {
        return Err(invalid());
    }
    crate::keys::audiences(&claims)
        .first()
        .map(|aud| (*aud).to_owned())
        .ok_or_else(invalid)
}

fn with_state(url: &str, state: Option<&str>) -> String {
    match state {
        None => url.to_owned(),
        Some(state) => {
            let query = serde_urlencoded::to_string([("state", state)]).unwrap_or_default();
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}{query}")
        }
    }
}
