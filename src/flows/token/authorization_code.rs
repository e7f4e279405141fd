//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).
//! A code is checked against the request before it is spent, and spent with
//! one compare-and-set; a second presentation that passes the checks revokes
//! what the first issued.

use grantor_domain::{pkce, Client, OAuthError, ScopeSet, Timestamp, TokenHash};
use grantor_store::{AuthorizationCodeRecord, CodeRedemption};

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
    let code_hash = TokenHash::of(code);
    // Check first, spend second: a request that fails a check (another
    // client, a wrong or missing redirect_uri, a wrong PKCE verifier) leaves
    // the code untouched, so whoever stole a code without the rest cannot
    // burn it, nor trigger the replay revocation below.
    let stored = state
        .store
        .authorization_code(&code_hash)
        .await?
        .ok_or_else(invalid_code)?;
    let record = stored.record;
    check_presentation(&record, client, &request)?;
    if stored.used_at.is_none() && record.expires_at <= now {
        return Err(invalid_code().into());
    }
    match state
        .store
        .redeem_authorization_code(&code_hash, now)
        .await?
    {
        CodeRedemption::Redeemed => {}
        CodeRedemption::Replayed {
            issued_family_id,
            issued_jti,
        } => {
            // A second presentation by the right client with the right
            // verifier (RFC 6749 §4.1.2): revoke what the first one issued.
            revocation::revoke_code_issue(
                state,
                issued_family_id.as_ref(),
                issued_jti.as_deref(),
                meta,
                now,
            )
            .await?;
            return Err(invalid_code().into());
        }
        CodeRedemption::Invalid => return Err(invalid_code().into()),
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
            dpop_jkt: request.dpop.as_ref().map(|k| k.jkt.clone()),
        },
        meta,
        now,
    )
    .await
}

/// What a token request must match before its code is spent (RFC 6749
/// §4.1.3, RFC 7636 §4.6): the client the code was issued to; the
/// `redirect_uri`, required and identical when `/authorize` carried one; the
/// PKCE verifier when the code has a challenge (and none when it has not);
/// a proof of the code's DPoP key when it is bound to one.
fn check_presentation(
    record: &AuthorizationCodeRecord,
    client: &Client,
    request: &TokenRequest,
) -> Result<(), OAuthError> {
    if record.client_id != client.client_id {
        return Err(invalid_code());
    }
    match request.redirect_uri.as_deref() {
        Some(uri) if uri != record.redirect_uri => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ))
        }
        None if record.redirect_uri_sent => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri is required: the authorization request carried one",
            ))
        }
        _ => {}
    }
    match (&record.code_challenge, request.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if pkce::verify_s256(verifier, challenge) => {}
        (None, None) => {}
        _ => return Err(OAuthError::invalid_grant("Failed to verify code verifier")),
    }
    // RFC 9449 §10: a code bound to a DPoP key needs a proof of that key.
    if let Some(jkt) = &record.dpop_jkt {
        if request.dpop.as_ref().map(|k| &k.jkt) != Some(jkt) {
            return Err(OAuthError::invalid_grant(
                "The authorization code is bound to a DPoP key: send a DPoP proof made with it",
            ));
        }
    }
    Ok(())
}
