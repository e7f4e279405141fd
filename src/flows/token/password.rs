//! `grant_type=password` (RFC 6749 §4.3): only for clients that list it in
//! `grant_types` (checked before dispatch). Using it records the user's grant,
//! as there is no consent screen.

use grantor_domain::user::{normalize_email, DATABASE_CONNECTION};
use grantor_domain::{Client, OAuthError, ScopeSet, Timestamp};

use super::{required, IssuedTokens, TokenRequest};
use crate::flows::issue::{issue_for_user, IssueContext};
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
    let password = required(&request.password, "password")?.to_owned();
    let email = normalize_email(username).map_err(|_| wrong_credentials())?;
    let user = state
        .store
        .user_by_email(DATABASE_CONNECTION, &email)
        .await?;
    let hash = user.as_ref().map_or_else(
        || secrets::DUMMY_PASSWORD_HASH.to_owned(),
        |u| u.password_hash.clone(),
    );
    // Verify even for unknown users, so timing does not tell which exist.
    let verified = secrets::verify_password_blocking(hash, password).await;
    let user = user
        .filter(|u| verified && !u.blocked)
        .ok_or_else(wrong_credentials)?;
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
            &secrets::hex_id(12),
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
        },
        meta,
        now,
    )
    .await
}
