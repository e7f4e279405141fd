//! The token endpoint's grant types, for a client the endpoint authenticated
//! once: one `match`.

mod authorization_code;
mod client_credentials;
mod device_code;
mod password;
mod refresh_token;

use grantor_domain::{Client, ClientId, GrantType, OAuthError, OAuthErrorKind, Timestamp};

use crate::flows::audit::{self, EventExt};
use crate::flows::RequestMeta;
use crate::state::AppState;

/// Parameters a grant may read, already stripped of empty members.
#[derive(Debug, Default)]
pub struct TokenRequest {
    pub audience: Option<String>,
    pub scope: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub device_code: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The `DPoP` header values as sent (RFC 9449); checked by [`exchange`].
    pub dpop_proofs: Vec<String>,
    /// The key of the checked proof, set by [`exchange`].
    pub dpop: Option<crate::flows::dpop::DpopKey>,
}

/// A required parameter, or `invalid_request` naming it.
pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request(format!("Missing required parameter: {name}")))
}

/// What a successful exchange hands out (RFC 6749 §5.1); the token endpoint
/// renders it.
#[derive(Debug)]
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    /// The access token's algorithm (for the metrics; not rendered).
    pub signing_alg: grantor_domain::SigningAlg,
    /// Whether the access token is bound to a DPoP key (`token_type: DPoP`).
    pub dpop_bound: bool,
}

/// Runs `grant_type` for a client the token endpoint authenticated
/// (`flows::client_auth`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn exchange(
    state: &AppState,
    grant_type: GrantType,
    client: Client,
    mut request: TokenRequest,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<IssuedTokens, crate::flows::FlowError> {
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::unauthorized_client(grant_type.as_str()).into());
    }
    // RFC 9449: a DPoP proof for this request binds the tokens to its key.
    // A refused proof is a failed exchange like any other (audited below).
    let result = match proof_of_possession(state, &client, &request, now).await {
        Err(e) => Err(e),
        Ok(key) => {
            request.dpop = key;
            match grant_type {
                GrantType::ClientCredentials => {
                    client_credentials::exchange(state, &client, request, now).await
                }
                GrantType::AuthorizationCode => {
                    authorization_code::exchange(state, &client, request, meta, now).await
                }
                GrantType::RefreshToken => {
                    refresh_token::exchange(state, &client, request, meta, now).await
                }
                GrantType::DeviceCode => {
                    device_code::exchange(state, &client, request, meta, now).await
                }
                GrantType::Password => password::exchange(state, &client, request, meta, now).await,
            }
        }
    };
    record_outcome(state, grant_type, &client.client_id, &result, meta, now).await;
    if let Ok(issued) = &result {
        state.metrics.token_issued(grant_type, issued.signing_alg);
    }
    result
}

/// The key of the request's DPoP proof, if it sent one; a client that
/// requires proofs must send one.
async fn proof_of_possession(
    state: &AppState,
    client: &Client,
    request: &TokenRequest,
    now: Timestamp,
) -> Result<Option<crate::flows::dpop::DpopKey>, crate::flows::FlowError> {
    let proofs: Vec<&str> = request.dpop_proofs.iter().map(String::as_str).collect();
    let token_url = state.issuer.url("oauth/token");
    let key = crate::flows::dpop::check(state, &proofs, "POST", &token_url, None, now).await?;
    if client.require_proof_of_possession && key.is_none() {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidDpopProof,
            "This client requires a DPoP proof (require_proof_of_possession)",
        )
        .into());
    }
    Ok(key)
}

/// The audit events the grant flows do not write with a change of their own:
/// machine tokens (`seccft`) and every failed exchange (`fe…`), queued for
/// the audit writer; a failure to record one does not change the response.
async fn record_outcome(
    state: &AppState,
    grant_type: GrantType,
    client_id: &ClientId,
    result: &Result<IssuedTokens, crate::flows::FlowError>,
    meta: &RequestMeta,
    now: Timestamp,
) {
    let (success, failure) = audit::exchange_codes(grant_type);
    let event = match result {
        Ok(issued) if grant_type == GrantType::ClientCredentials => audit::event(
            success,
            "Client credentials exchanged for an access token",
            now,
        )
        .detail("scope", issued.scope.clone().into()),
        // The first step of the nonce dance (RFC 9449 §8), not a failure.
        Err(crate::flows::FlowError::OAuth(e)) if e.kind == OAuthErrorKind::UseDpopNonce => return,
        Err(crate::flows::FlowError::OAuth(e)) => {
            audit::event(failure, e.description.to_string(), now)
                .detail("error", e.kind.code().into())
        }
        _ => return,
    };
    state.audit.record(event.client(client_id).meta(meta)).await;
}
