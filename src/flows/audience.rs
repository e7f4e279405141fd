//! Which API a user-facing request is for, and which scopes it may carry.
//!
//! A request names its `audience`, or falls back to the tenant's
//! `default_audience`, or to the userinfo endpoint (`<issuer>userinfo`), which
//! is what tokens for "just sign the user in" are for. The scopes a user can
//! grant are the OIDC scopes plus the scopes the API defines; others are
//! dropped, as Auth0 does.
//!
//! **Architecture Invariant:** every user-facing flow (authorization code,
//! password, device code, refresh, and `default_audience` for any of them)
//! resolves its API here, and the Management API's audience is refused here
//! (CONTRACT §6.1): no end user ever holds a token for `<issuer>api/v2/`.
//! Machine tokens (`client_credentials`) go by the client grants instead:
//! `Store::machine_access` reads the API and the client's grant for it in one
//! query, and [`api_not_enabled`] is the refusal both share.

use grantor_domain::{OAuthError, ResourceServer, ScopeSet};

use crate::state::AppState;

/// OIDC scopes every audience accepts.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The resolved audience of a user request.
#[derive(Debug, Clone)]
pub struct UserAudience {
    pub audience: String,
    /// `None` for the userinfo audience.
    pub api: Option<ResourceServer>,
}

impl UserAudience {
    /// The scopes of `requested` that may be granted for this audience.
    pub fn grantable(&self, requested: &ScopeSet) -> ScopeSet {
        let defined = self
            .api
            .as_ref()
            .map(ResourceServer::scope_set)
            .unwrap_or_default();
        requested
            .iter()
            .filter(|s| OIDC_SCOPES.contains(s) || defined.contains(s))
            .collect()
    }

    /// Refresh tokens are allowed for the userinfo audience and for APIs with
    /// `allow_offline_access` (CONTRACT §2).
    pub fn allows_offline_access(&self) -> bool {
        self.api.as_ref().is_none_or(|api| api.allow_offline_access)
    }

    /// Access-token lifetime in seconds.
    pub fn token_lifetime(&self) -> i64 {
        self.api
            .as_ref()
            .map_or(ResourceServer::DEFAULT_TOKEN_LIFETIME, |api| {
                api.token_lifetime
            })
    }
}

/// Resolves `requested` (or the tenant default, or userinfo) to an audience of
/// a user-facing flow; the Management API is refused with `access_denied`.
pub async fn resolve(
    state: &AppState,
    requested: Option<&str>,
) -> Result<UserAudience, super::FlowError> {
    let audience = match requested {
        Some(a) => a.to_owned(),
        None => state
            .store
            .tenant_settings()
            .await?
            .default_audience()
            .map(str::to_owned)
            .unwrap_or_else(|| state.issuer.url("userinfo")),
    };
    let api = if names_an_api(state, &audience) {
        state.store.resource_server_by_identifier(&audience).await?
    } else {
        None
    };
    resolve_loaded(state, &audience, api)
}

/// Whether `audience` must be an API to be accepted (neither the Management
/// API, refused anyway, nor userinfo).
fn names_an_api(state: &AppState, audience: &str) -> bool {
    audience != state.issuer.management_audience() && audience != state.issuer.url("userinfo")
}

/// [`resolve`]'s rules for an audience whose API (`api`: the one with that
/// identifier, if any) was already read, as a refresh exchange reads it with
/// the presented token.
pub fn resolve_loaded(
    state: &AppState,
    audience: &str,
    api: Option<ResourceServer>,
) -> Result<UserAudience, super::FlowError> {
    if audience == state.issuer.management_audience() {
        return Err(OAuthError::access_denied(
            "The Management API accepts only client_credentials tokens; \
             it cannot be requested in a user-facing flow",
        )
        .into());
    }
    if !names_an_api(state, audience) {
        return Ok(UserAudience {
            audience: audience.to_owned(),
            api: None,
        });
    }
    let api = api.ok_or_else(|| api_not_enabled(audience))?;
    Ok(UserAudience {
        audience: audience.to_owned(),
        api: Some(api),
    })
}

/// Auth0's refusal of a token request whose audience names no API.
pub fn api_not_enabled(audience: &str) -> OAuthError {
    OAuthError::access_denied(format!("Service not enabled within domain: {audience}"))
}
