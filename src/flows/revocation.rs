//! The one place that invalidates tokens. Every revoking path calls in here;
//! each revocation is a constant number of writes against durable state
//! (family, grant epoch, user epoch, session), checked on every use.

use grantor_domain::Timestamp;

use super::FlowError;
use crate::state::AppState;

/// Why a family was revoked; stored with it and (later) audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A rotated-out refresh token was presented again (CONTRACT §4 rule 6).
    ReuseDetected,
    /// An authorization code was presented twice (RFC 6749 §4.1.2).
    CodeReplayed,
    /// The client switched off rotation; the rotating family is replaced.
    RotationDisabled,
}

/// What `/oauth/revoke` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// Unknown (or already dead) token: nothing to do; RFC 7009 answers 200.
    Unknown,
    /// The token belongs to another client: refused, and it stays valid.
    NotYours,
    /// Every refresh token of the grant was revoked (and the grant deleted
    /// when the tenant flag is on).
    Revoked { grant_deleted: bool },
}

/// `POST /oauth/revoke` (CONTRACT §4 rule 3): revoking a refresh token
/// revokes every refresh token issued for the same grant, in one write; the
/// grant itself goes too when `flags.revoke_refresh_token_grant` is on.
pub async fn revoke_refresh_token(
    state: &AppState,
    client: &grantor_domain::Client,
    token: &str,
    now: Timestamp,
) -> Result<RevokeOutcome, FlowError> {
    let hash = grantor_domain::TokenHash::of(token);
    let Some(presented) = state.store.load_refresh_token(hash.as_str()).await? else {
        return Ok(RevokeOutcome::Unknown);
    };
    if presented.family.client_id != client.client_id {
        return Ok(RevokeOutcome::NotYours);
    }
    let delete_grant = state
        .store
        .tenant_settings()
        .await?
        .revoke_refresh_token_grant;
    let done = state
        .store
        .revoke_grant_tokens(&presented.family.grant_id, delete_grant, now)
        .await?;
    if !done {
        return Ok(RevokeOutcome::Unknown);
    }
    tracing::info!(grant_id = %presented.family.grant_id, grant_deleted = delete_grant, "grant's refresh tokens revoked via /oauth/revoke");
    Ok(RevokeOutcome::Revoked {
        grant_deleted: delete_grant,
    })
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReuseDetected => "reuse-detected",
            Self::CodeReplayed => "code-replayed",
            Self::RotationDisabled => "rotation-disabled",
        }
    }
}

/// Revokes one refresh-token family: every token of it stops working at once.
pub async fn revoke_family(
    state: &AppState,
    family_id: &str,
    reason: Reason,
    now: Timestamp,
) -> Result<bool, FlowError> {
    let revoked = state
        .store
        .revoke_family(family_id, reason.as_str(), now)
        .await?;
    if revoked {
        tracing::info!(
            family_id,
            reason = reason.as_str(),
            "refresh-token family revoked"
        );
    }
    Ok(revoked)
}

/// Revokes what the first redemption of a replayed code issued.
pub async fn revoke_code_issue(
    state: &AppState,
    family_id: Option<&str>,
    jti: Option<&str>,
    now: Timestamp,
) -> Result<(), FlowError> {
    if let Some(family_id) = family_id {
        revoke_family(state, family_id, Reason::CodeReplayed, now).await?;
    }
    if let Some(jti) = jti {
        state.store.revoke_access_token(jti, now).await?;
    }
    Ok(())
}
