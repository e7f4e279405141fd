//! Client authentication for `/oauth/token`, `/oauth/revoke`,
//! `/oauth/introspect` and `/oauth/par` (RFC 6749 §2.3.1): the `Authorization: Basic` header
//! and the body's `client_id` / `client_secret` combined into one
//! [`PresentedClient`], checked by `flows::client_auth`, and each way it can
//! fail answered as the endpoint answers it ([`Endpoint::refusal`], the one
//! table of those answers).
//!
//! A function each handler calls, not an extractor: the credentials are body
//! members, which only the handler's one body extractor reads, and the token
//! endpoint answers a missing or unsupported `grant_type` before it looks at
//! the client.

use axum::http::HeaderMap;
use grantor_domain::{Client, OAuthError, OAuthErrorKind};

use super::AuthApiError;
use crate::flows::client_auth::{self, ClientAuthError, PresentedClient};
use crate::http::extract::basic_credentials;
use crate::http::rate_limit::Surface;
use crate::http::AppState;

/// The challenge on every 401 of the Authentication API. Each of them is a
/// failed client authentication (these three endpoints, and an unknown
/// client at `/oauth/device/code`); RFC 6749 §5.2 asks for it when the client
/// tried Basic, RFC 9110 §15.5.2 on any 401. `error.rs` adds it.
pub const CHALLENGE: &str = "Basic realm=\"grantor\"";

/// The endpoint a client authenticates at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Revoke,
    Introspect,
    /// Pushed authorization requests (RFC 9126 §2: the token endpoint's
    /// client authentication, RFC 6749 §5.2's errors).
    Par,
}

/// Why the presented client was not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// An `Authorization: Basic` header that does not decode (the reason).
    MalformedBasic(&'static str),
    /// Neither a Basic header nor a `client_id` member (a `client_secret`
    /// alone names no client).
    NoClient,
    /// A Basic header and a `client_secret` member.
    TwoMethods,
    /// A Basic header and a `client_id` member naming another client.
    IdMismatch,
    /// An unknown client, a wrong or missing secret, or a secret presented
    /// for a public client: told apart neither to the caller nor by timing.
    Rejected,
}

impl Endpoint {
    /// What `self` answers for `failure`: status and `error` come from the
    /// kind (`OAuthErrorKind::status`), every 401 carries [`CHALLENGE`].
    ///
    /// | failure | `/oauth/token` | `/oauth/revoke`, `/oauth/introspect`, `/oauth/par` |
    /// | --- | --- | --- |
    /// | malformed Basic | 400 `invalid_request` (the reason) | 401 `invalid_client` |
    /// | no client | 400 `invalid_request` | 401 `invalid_client` |
    /// | Basic and `client_secret` | 400 `invalid_request` | 400 `invalid_request` |
    /// | Basic and another `client_id` | 400 `invalid_request` | 400 `invalid_request` |
    /// | rejected | 401 `access_denied` "Unauthorized" (Auth0) | 401 `invalid_client` (RFC 7009 §2.1, RFC 7662 §2.1, RFC 9126 §2.3) |
    ///
    /// A public client (`none`) authenticates with its `client_id` alone at
    /// all three; introspection then refuses it on its own terms.
    pub fn refusal(self, failure: Failure) -> OAuthError {
        match (self, failure) {
            (_, Failure::TwoMethods) => OAuthError::invalid_request(
                "Use only one client authentication method (Basic or client_secret in the body)",
            ),
            (_, Failure::IdMismatch) => {
                OAuthError::invalid_request("client_id does not match the Basic credentials")
            }
            (Self::Token, Failure::MalformedBasic(reason)) => OAuthError::invalid_request(reason),
            (Self::Token, Failure::NoClient) => {
                OAuthError::invalid_request("Missing required parameter: client_id")
            }
            // Auth0 answers unknown clients and bad secrets alike.
            (Self::Token, Failure::Rejected) => OAuthError::client_authentication_failed(),
            (
                Self::Revoke | Self::Introspect | Self::Par,
                Failure::MalformedBasic(_) | Failure::NoClient | Failure::Rejected,
            ) => OAuthError::new(
                OAuthErrorKind::InvalidClient,
                "Client authentication failed",
            ),
        }
    }
}

/// Combines the Basic header and the body members into one presented client.
pub fn presented(
    headers: &HeaderMap,
    body_client_id: Option<String>,
    body_secret: Option<String>,
) -> Result<PresentedClient, Failure> {
    let basic = basic_credentials(headers).map_err(Failure::MalformedBasic)?;
    match (basic, body_client_id, body_secret) {
        (Some(_), _, Some(_)) => Err(Failure::TwoMethods),
        (Some((id, _)), Some(body_id), None) if body_id != id => Err(Failure::IdMismatch),
        (Some((client_id, secret)), _, None) => Ok(PresentedClient::Basic {
            client_id: client_id.into(),
            secret,
        }),
        (None, Some(client_id), Some(secret)) => Ok(PresentedClient::Post {
            client_id: client_id.into(),
            secret,
        }),
        (None, Some(client_id), None) => Ok(PresentedClient::IdOnly {
            client_id: client_id.into(),
        }),
        (None, None, _) => Err(Failure::NoClient),
    }
}

/// Authenticates the client of a request to `endpoint` (one read,
/// constant-time secret check), then charges the client's rate-limit bucket.
pub async fn authenticate(
    state: &AppState,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body_client_id: Option<String>,
    body_secret: Option<String>,
) -> Result<Client, AuthApiError> {
    let presented = presented(headers, body_client_id, body_secret)
        .map_err(|failure| endpoint.refusal(failure))?;
    let client = match client_auth::authenticate(&state.store, &presented).await {
        Ok(client) => client,
        Err(ClientAuthError::Store(e)) => return Err(e.into()),
        Err(ClientAuthError::UnknownClient | ClientAuthError::BadCredentials) => {
            return Err(endpoint.refusal(Failure::Rejected).into())
        }
    };
    crate::http::request_log::note_client(client.client_id.as_str());
    // Charged only once the client is authenticated: a bucket keyed by a
    // presented client id would let anyone lock that client out.
    state
        .rate_limits
        .check_client(Surface::OAuth, client.client_id.as_str())?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    use base64::Engine;

    use super::*;

    const ALL: [Failure; 5] = [
        Failure::MalformedBasic("malformed Basic credentials"),
        Failure::NoClient,
        Failure::TwoMethods,
        Failure::IdMismatch,
        Failure::Rejected,
    ];

    /// Status, `error`, `error_description` and `WWW-Authenticate` as sent.
    fn wire(endpoint: Endpoint, failure: Failure) -> (u16, String, String, Option<String>) {
        let error = endpoint.refusal(failure);
        let (code, description) = (error.kind.code(), error.description.to_string());
        let response = AuthApiError::from(error).into_response();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        (
            response.status().as_u16(),
            code.to_owned(),
            description,
            challenge,
        )
    }

    #[test]
    fn the_token_endpoint_answers_a_rejected_client_as_auth0_does() {
        let basic = Some(CHALLENGE.to_owned());
        assert_eq!(
            wire(Endpoint::Token, Failure::Rejected),
            (401, "access_denied".into(), "Unauthorized".into(), basic)
        );
        assert_eq!(
            wire(Endpoint::Token, Failure::NoClient),
            (
                400,
                "invalid_request".into(),
                "Missing required parameter: client_id".into(),
                None
            )
        );
        assert_eq!(
            wire(
                Endpoint::Token,
                Failure::MalformedBasic("malformed Basic credentials")
            ),
            (
                400,
                "invalid_request".into(),
                "malformed Basic credentials".into(),
                None
            )
        );
    }

    #[test]
    fn revoke_introspect_and_par_answer_every_missing_or_bad_client_with_invalid_client() {
        for endpoint in [Endpoint::Revoke, Endpoint::Introspect, Endpoint::Par] {
            for failure in ALL {
                let (status, code, description, challenge) = wire(endpoint, failure);
                match failure {
                    Failure::TwoMethods | Failure::IdMismatch => {
                        assert_eq!((status, code.as_str()), (400, "invalid_request"));
                        assert_eq!(challenge, None);
                    }
                    _ => {
                        assert_eq!(
                            (status, code.as_str(), description.as_str()),
                            (401, "invalid_client", "Client authentication failed"),
                            "{endpoint:?} {failure:?}"
                        );
                        assert_eq!(challenge.as_deref(), Some(CHALLENGE));
                    }
                }
            }
        }
    }

    #[test]
    fn two_methods_and_a_mismatched_id_are_the_same_400_everywhere() {
        for failure in [Failure::TwoMethods, Failure::IdMismatch] {
            let token = wire(Endpoint::Token, failure);
            assert_eq!(token.0, 400);
            assert_eq!(wire(Endpoint::Revoke, failure), token);
            assert_eq!(wire(Endpoint::Introspect, failure), token);
            assert_eq!(wire(Endpoint::Par, failure), token);
        }
    }

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn basic(id: &str, secret: &str) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        format!("Basic {encoded}")
    }

    #[test]
    fn credentials_are_combined_or_refused_for_one_reason() {
        let s = |v: &str| Some(v.to_owned());
        let id_of = |p: Result<PresentedClient, Failure>| p.map(|p| p.client_id().to_owned());
        let with_basic = headers(Some(&basic("app", "secret")));
        assert!(matches!(
            presented(&with_basic, None, None),
            Ok(PresentedClient::Basic { .. })
        ));
        // The same id in the body as in the header is fine.
        assert_eq!(
            id_of(presented(&with_basic, s("app"), None)),
            Ok("app".into())
        );
        assert_eq!(
            id_of(presented(&with_basic, s("other"), None)),
            Err(Failure::IdMismatch)
        );
        assert_eq!(
            id_of(presented(&with_basic, None, s("secret"))),
            Err(Failure::TwoMethods)
        );
        let none = headers(None);
        assert!(matches!(
            presented(&none, s("app"), s("secret")),
            Ok(PresentedClient::Post { .. })
        ));
        assert!(matches!(
            presented(&none, s("app"), None),
            Ok(PresentedClient::IdOnly { .. })
        ));
        assert_eq!(id_of(presented(&none, None, None)), Err(Failure::NoClient));
        assert_eq!(
            id_of(presented(&none, None, s("secret"))),
            Err(Failure::NoClient)
        );
        // Another scheme is no Basic header at all.
        assert_eq!(
            id_of(presented(&headers(Some("Bearer abc")), None, None)),
            Err(Failure::NoClient)
        );
        assert!(matches!(
            presented(&headers(Some("Basic %%%")), s("app"), s("secret")),
            Err(Failure::MalformedBasic(_))
        ));
    }

    #[test]
    fn only_401s_carry_the_challenge() {
        for endpoint in [
            Endpoint::Token,
            Endpoint::Revoke,
            Endpoint::Introspect,
            Endpoint::Par,
        ] {
            for failure in ALL {
                let (status, _, _, challenge) = wire(endpoint, failure);
                assert_eq!(
                    challenge.is_some(),
                    status == StatusCode::UNAUTHORIZED.as_u16()
                );
            }
        }
    }
}
