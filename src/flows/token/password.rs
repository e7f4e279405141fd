//! `grant_type=password` (RFC 6749 §4.3): only for clients that list it in
//! `grant_types` (checked before dispatch). Using it records the user's grant,
//! as there is no consent screen.

use grantor_domain::{Client, GrantId, OAuthError, OAuthErrorKind, ScopeSet, Timestamp};

use super::{required, IssuedTokens, TokenRequest};
use crate::flows::issue::{issue_for_user, IssueContext};
use crate::flows::login::{self, LoginRefusal};
use crate::flows::{audience, FlowError, RequestMeta};
use crate::secrets;
use crate::state::AppState;

fn wrong_credentials() -> OAuthError {
    OAuthError::invalid_grant("Wrong email or password.")
}

pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: TokenRequest,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<IssuedTokens, FlowError> {
    let username = required(&request.username, "username")?;
    let password = required(&request.password, "password")?;
    // The same check as the login page: timing-safe, with brute-force protection.
    let user = match login::check_credentials(state, username, password, meta, now).await? {
        Ok(user) => user,
        Err(LoginRefusal::TooManyAttempts) => {
            return Err(OAuthError::new(
                OAuthErrorKind::TooManyAttempts,
                LoginRefusal::TooManyAttempts.message(),
            )
            .into())
        }
        Err(LoginRefusal::Busy) => {
            return Err(OAuthError::new(
                OAuthErrorKind::TooManyRequests,
                LoginRefusal::Busy.message(),
            )
            .into())
        }
        Err(_) => return Err(wrong_credentials().into()),
    };
    let audience = audience::resolve(state, request.audience.as_deref()).await?;
    let requested = request
        .scope
        .as_deref()
        .map(ScopeSet::parse)
        .unwrap_or_default();
    let scope = audience.grantable(&requested);
    let grant = state
        .store
        .upsert_grant(
            &GrantId::new(secrets::hex_id(12)),
            &user.user_id,
            &client.client_id,
            &audience.audience,
            &scope,
            now,
        )
        .await?;
    state
        .store
        .record_login(&user.user_id, &meta.ip, now)
        .await?;
    issue_for_user(
        state,
        IssueContext {
            client,
            user: &user,
            grant: &grant,
            audience: &audience,
            scope,
            session_id: None,
            auth_time: now,
            nonce: None,
            device_name: None,
            code_hash: None,
            grant_type: grantor_domain::GrantType::Password,
            dpop_jkt: request.dpop.as_ref().map(|k| k.jkt.clone()),
        },
        meta,
        now,
    )
    .await
}
