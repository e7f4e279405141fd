//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).
//! Codes are single-use: a second presentation revokes what the first issued.

use grantor_domain::{pkce, Client, OAuthError, ScopeSet, Timestamp, TokenHash};
use grantor_store::CodeRedemption;

use super::{required, IssuedTokens, TokenRequest};
use crate::flows::issue::{issue_for_user, IssueContext};
use crate::flows::{audience, revocation, FlowError, RequestMeta};
use crate::state::AppState;

fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("Invalid authorization code")
}

pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: TokenRequest,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<IssuedTokens, FlowError> {
    let code = required(&request.code, "code")?;
    let code_hash = TokenHash::of(code).as_str().to_owned();
    let record = match state
        .store
        .redeem_authorization_code(&code_hash, now)
        .await?
    {
        CodeRedemption::Redeemed(record) => record,
        CodeRedemption::Replayed {
            issued_family_id,
            issued_jti,
        } => {
            revocation::revoke_code_issue(
                state,
                issued_family_id.as_deref(),
                issued_jti.as_deref(),
                meta,
                now,
            )
            .await?;
            return Err(invalid_code().into());
        }
        CodeRedemption::Invalid => return Err(invalid_code().into()),
    };
    if record.client_id != client.client_id {
        return Err(invalid_code().into());
    }
    // RFC 6749 §4.1.3: the redirect_uri, when sent, must be the one the code was issued to.
    if request
        .redirect_uri
        .as_deref()
        .is_some_and(|uri| uri != record.redirect_uri)
    {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        )
        .into());
    }
    match (&record.code_challenge, request.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (None, None) => {}
        _ => return Err(OAuthError::invalid_grant("Failed to verify code verifier").into()),
    }
    let user = state
        .store
        .user(&record.user_id)
        .await?
        .filter(|u| !u.blocked)
        .ok_or_else(invalid_code)?;
    let grant = state
        .store
        .grant(&record.grant_id)
        .await?
        .ok_or_else(invalid_code)?;
    let audience = audience::resolve(state, Some(&record.audience)).await?;
    let scope = ScopeSet::parse(&record.scope);
    issue_for_user(
        state,
        IssueContext {
            client,
            user: &user,
            grant: &grant,
            audience: &audience,
            scope,
            session_id: record.session_id.clone(),
            auth_time: record.auth_time,
            nonce: record.nonce.clone(),
            device_name: record.device_name.clone(),
            code_hash: Some(code_hash),
            grant_type: grantor_domain::GrantType::AuthorizationCode,
        },
        meta,
        now,
    )
    .await
}
