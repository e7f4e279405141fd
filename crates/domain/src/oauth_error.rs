//! OAuth 2.0 protocol errors (RFC 6749 §5.2, RFC 8628 §3.5, RFC 7009 §2.2.1).
//!
//! The `description` is what the client sees; the HTTP layer picks the status
//! code from the kind, following Auth0's choices (e.g. `invalid_grant` is 403).
//! An error may keep its cause (`with_cause`): for the server's log, never
//! rendered to the client.

use std::borrow::Cow;
use std::error::Error;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorKind {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    AccessDenied,
    /// Auth0 answers bad client credentials at `/oauth/token` with 401 `access_denied`.
    ClientAuthenticationFailed,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
    UnsupportedTokenType,
    /// Brute-force protection: too many failed sign-ins (Auth0: 429).
    TooManyAttempts,
    /// Auth0's rate-limit answer (429 `too_many_requests`); grantor also
    /// gives it when every password-hashing place is taken.
    TooManyRequests,
    /// RFC 9449: a DPoP proof that is missing where required, malformed,
    /// replayed or for another request.
    InvalidDpopProof,
    /// RFC 9449 §8: the server requires a nonce it issued (`DPoP-Nonce`) in
    /// the proof, and this one has none or a stale one.
    UseDpopNonce,
    ServerError,
}

impl OAuthErrorKind {
    /// The `error` member on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied | Self::ClientAuthenticationFailed => "access_denied",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::TooManyAttempts => "too_many_attempts",
            Self::TooManyRequests => "too_many_requests",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::ServerError => "server_error",
        }
    }

    /// Auth0's HTTP status for this error (reference §2.2).
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidRequest
            | Self::UnsupportedGrantType
            | Self::UnsupportedTokenType
            | Self::InvalidDpopProof
            | Self::UseDpopNonce => 400,
            Self::InvalidClient | Self::ClientAuthenticationFailed => 401,
            Self::InvalidGrant
            | Self::UnauthorizedClient
            | Self::InvalidScope
            | Self::AccessDenied
            | Self::AuthorizationPending
            | Self::ExpiredToken => 403,
            Self::SlowDown | Self::TooManyAttempts | Self::TooManyRequests => 429,
            Self::ServerError => 500,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}: {description}", kind.code())]
pub struct OAuthError {
    pub kind: OAuthErrorKind,
    pub description: Cow<'static, str>,
    #[source]
    cause: Option<Arc<dyn Error + Send + Sync>>,
}

/// Two errors are equal when the client would see the same one.
impl PartialEq for OAuthError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.description == other.description
    }
}

impl Eq for OAuthError {}

impl OAuthError {
    pub fn new(kind: OAuthErrorKind, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            description: description.into(),
            cause: None,
        }
    }

    /// Keeps `cause`, the reason behind this answer, for the log.
    pub fn with_cause(mut self, cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        self.cause = Some(Arc::from(cause.into()));
        self
    }

    /// The cause kept by [`OAuthError::with_cause`], if any.
    pub fn cause(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        self.cause.as_deref()
    }
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorKind::InvalidRequest, description)
    }
    pub fn access_denied(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorKind::AccessDenied, description)
    }
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(OAuthErrorKind::InvalidGrant, description)
    }
    /// Bad or missing client credentials at the token endpoint.
    pub fn client_authentication_failed() -> Self {
        Self::new(OAuthErrorKind::ClientAuthenticationFailed, "Unauthorized")
    }
    pub fn unauthorized_client(grant_type: &str) -> Self {
        Self::new(
            OAuthErrorKind::UnauthorizedClient,
            format!("Grant type '{grant_type}' not allowed for the client."),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the API was deleted")]
    struct Deleted;

    #[test]
    fn a_cause_is_kept_as_the_source_and_never_shown() {
        let e = OAuthError::invalid_grant("Unknown or invalid refresh token.").with_cause(Deleted);
        assert_eq!(
            e.to_string(),
            "invalid_grant: Unknown or invalid refresh token."
        );
        assert_eq!(
            Error::source(&e).map(ToString::to_string).as_deref(),
            Some("the API was deleted")
        );
        assert_eq!(
            e,
            OAuthError::invalid_grant("Unknown or invalid refresh token.")
        );
    }
}
