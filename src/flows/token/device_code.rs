//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4),
//! with Auth0's statuses: `authorization_pending` 403, `slow_down` 429,
//! `expired_token` 403 (once; later polls are `invalid_grant`), `access_denied` 403.

use grantor_domain::{Client, OAuthError, OAuthErrorKind, ScopeSet, Timestamp, TokenHash};
use grantor_store::DevicePoll;

use super::{required, IssuedTokens, TokenRequest};
use crate::flows::issue::{issue_for_user, IssueContext};
use crate::flows::{audience, FlowError, RequestMeta};
use crate::state::AppState;

fn invalid_device_code() -> OAuthError {
    OAuthError::invalid_grant("Invalid or expired device code.")
}

pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: TokenRequest,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<IssuedTokens, FlowError> {
    let device_code = required(&request.device_code, "device_code")?;
    let hash = TokenHash::of(device_code);
    let record = match state.store.poll_device_code(&hash, now).await? {
        DevicePoll::Unknown => return Err(invalid_device_code().into()),
        DevicePoll::Pending {
            too_fast: true,
            interval_seconds,
        } => {
            return Err(OAuthError::new(
                OAuthErrorKind::SlowDown,
                format!(
                "You are polling faster than the specified interval of {interval_seconds} seconds."
            ),
            )
            .into())
        }
        DevicePoll::Pending {
            too_fast: false, ..
        } => {
            return Err(OAuthError::new(
                OAuthErrorKind::AuthorizationPending,
                "User has yet to authorize device code.",
            )
            .into())
        }
        DevicePoll::Denied => {
            return Err(OAuthError::access_denied("User cancelled the confirmation prompt.").into())
        }
        DevicePoll::Expired => {
            return Err(OAuthError::new(
                OAuthErrorKind::ExpiredToken,
                "The device code has expired.",
            )
            .into())
        }
        DevicePoll::Approved(record) => record,
    };
    if record.client_id != client.client_id {
        return Err(invalid_device_code().into());
    }
    let (Some(user_id), Some(grant_id)) = (&record.user_id, &record.grant_id) else {
        return Err(invalid_device_code().into());
    };
    let user = state
        .store
        .user(user_id)
        .await?
        .filter(|u| !u.blocked)
        .ok_or_else(invalid_device_code)?;
    let grant = state
        .store
        .grant(grant_id)
        .await?
        .ok_or_else(invalid_device_code)?;
    let audience = audience::resolve(state, Some(&record.audience)).await?;
    issue_for_user(
        state,
        IssueContext {
            client,
            user: &user,
            grant: &grant,
            audience: &audience,
            scope: ScopeSet::parse(&record.scope),
            session_id: record.session_id.clone(),
            auth_time: record.auth_time.unwrap_or(now),
            nonce: None,
            device_name: Some(record.device_user_agent.clone()).filter(|d| !d.is_empty()),
            code_hash: None,
            grant_type: grantor_domain::GrantType::DeviceCode,
            dpop_jkt: request.dpop.as_ref().map(|k| k.jkt.clone()),
        },
        meta,
        now,
    )
    .await
}
