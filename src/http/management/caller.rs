//! `Caller`: the bearer JWT on a Management API request. Checked signature,
//! issuer, audience (`<issuer>api/v2/`) and expiry, or 401; each handler's
//! first line names the scopes it needs (403 otherwise).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use grantor_domain::ScopeSet;
use serde_json::Value;

use super::ApiError;
use crate::http::extract::bearer_token;
use crate::http::AppState;

#[derive(Debug, Clone)]
pub struct Caller {
    /// `azp` of the token: the client calling.
    pub client_id: String,
    pub scopes: ScopeSet,
}

impl Caller {
    /// Passes when the token has any of `scopes` (Auth0's "any of" rule).
    pub fn require(&self, scopes: &[&str]) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.scopes.contains(s)) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                format!("Insufficient scope, expected any of: {}", scopes.join(",")),
                "insufficient_scope",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token =
            bearer_token(&parts.headers).ok_or(ApiError::unauthorized("Missing authentication"))?;
        let invalid = || ApiError::unauthorized("Invalid token");
        let claims = state.keys.verify(token).map_err(|_| invalid())?;
        let now = state.clock.now().unix_seconds();
        let audience = state.issuer.management_audience();
        let aud_ok = match &claims["aud"] {
            Value::String(a) => *a == audience,
            Value::Array(list) => list.iter().any(|a| a.as_str() == Some(audience.as_str())),
            _ => false,
        };
        let iss_ok = claims["iss"].as_str() == Some(state.issuer.as_str());
        let exp_ok = claims["exp"].as_i64().is_some_and(|exp| exp > now);
        if !(aud_ok && iss_ok && exp_ok) {
            return Err(invalid());
        }
        Ok(Caller {
            client_id: claims["azp"].as_str().unwrap_or_default().to_owned(),
            scopes: ScopeSet::parse(claims["scope"].as_str().unwrap_or_default()),
        })
    }
}
