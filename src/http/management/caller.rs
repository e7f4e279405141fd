//! `Caller`: the bearer JWT on a Management API request (CONTRACT §6.1).
//!
//! Accepted only when the signature, issuer, audience (`<issuer>api/v2/`) and
//! expiry check out, the token is a `client_credentials` token
//! (`gty: client-credentials`), and its client still holds a client grant for
//! the Management API, read on every call (one indexed read, no cache): a
//! deleted client or client grant is refused with 401 on the next call, on
//! every process. The caller's scopes are the token's scopes that the client
//! grant still holds, so narrowing a client grant takes effect at once too.
//! Each handler's first line names the scopes it needs (403 otherwise).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use grantor_domain::{ClientId, ScopeSet, Timestamp};
use grantor_store::{LogEvent, RevocationReceipt, RevocationTarget};

use crate::flows::audit::{self, Actor};
use crate::flows::revocation::{self, Reason};
use crate::flows::RequestMeta;

use super::error::Unauthenticated;
use super::{messages, ApiError};
use crate::http::extract::bearer_token;
use crate::http::rate_limit::{AllowanceNote, Surface};
use crate::http::AppState;

#[derive(Debug, Clone)]
pub struct Caller {
    /// `azp` of the token: the client calling.
    pub client_id: ClientId,
    pub scopes: ScopeSet,
}

impl Caller {
    /// Who this caller is, for revocation receipts and audit events.
    pub fn actor(&self) -> Actor {
        Actor::Client(self.client_id.clone())
    }

    /// Revokes `target` on this caller's behalf, through the one revocation
    /// path; `receipt.found` is false for an unknown target.
    pub async fn revoke(
        &self,
        state: &AppState,
        meta: &RequestMeta,
        target: RevocationTarget,
    ) -> Result<RevocationReceipt, ApiError> {
        let now = state.clock.now();
        let actor = self.actor();
        Ok(revocation::revoke(state, target, Reason::ManagementApi, &actor, meta, now).await?)
    }

    /// The `sapi` audit event of a change this caller makes.
    pub fn audit(
        &self,
        description: impl Into<String>,
        meta: &RequestMeta,
        now: Timestamp,
    ) -> LogEvent {
        audit::api_operation(description, &self.actor(), meta, now)
    }

    /// Passes when the token has any of `scopes` (Auth0's "any of" rule).
    pub fn require(&self, scopes: &[&str]) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.scopes.contains(s)) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                messages::insufficient_scope(scopes),
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
        let token = bearer_token(&parts.headers)
            .ok_or_else(|| ApiError::unauthenticated(Unauthenticated::MissingToken))?;
        let invalid = || ApiError::unauthenticated(Unauthenticated::InvalidToken);
        let now = state.clock.now().unix_seconds();
        let audience = state.issuer.management_audience();
        let claims = state
            .keys
            .verify_access_token(token, state.issuer.as_str(), Some(&audience), now)
            .map_err(|e| invalid().with_cause(e))?;
        if claims["gty"].as_str() != Some("client-credentials") {
            return Err(invalid());
        }
        // A DPoP-bound token (`cnf`) is good only with a proof of its key
        // under the DPoP scheme (RFC 9449 §7), which this API does not take:
        // it is refused, never honoured as a bearer token.
        if claims.get("cnf").is_some() {
            return Err(invalid());
        }
        let client_id = ClientId::from(claims["azp"].as_str().ok_or_else(invalid)?);
        // The client grant cascades away with its client, so finding it also
        // proves the client still exists.
        let grant = state
            .store
            .client_grant_for(&client_id, &audience)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(invalid)?;
        let scopes = grant.held_scopes(claims["scope"].as_str().unwrap_or_default());
        let caller = Caller { client_id, scopes };
        crate::http::request_log::note_client(caller.client_id.as_str());
        // The per-client bucket, keyed by the verified `azp` (an unverified
        // one would let anyone drain another client's allowance).
        let allowance = state
            .rate_limits
            .check_client(Surface::Management, caller.client_id.as_str())
            .map_err(ApiError::too_many_requests)?;
        if let Some(note) = parts.extensions.get::<AllowanceNote>() {
            note.note(allowance);
        }
        Ok(caller)
    }
}
