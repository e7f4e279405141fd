//! The one place that invalidates tokens. Every revoking path calls
//! [`revoke`]: reuse detection and replayed codes at the token endpoint,
//! `/oauth/revoke`, the Management API and the dashboard. Each revocation is
//! one store transaction of a constant number of row writes against durable
//! state (family, grant epoch, user epoch, session), checked on every use, so
//! it takes effect for every process before the call returns; its audit event
//! and receipt are written in the same transaction.

use grantor_domain::Timestamp;
pub use grantor_store::{RevocationReceipt, RevocationTarget, UserChange};

use super::audit::{self, codes, Actor, EventExt};
use super::{FlowError, RequestMeta};
use crate::state::AppState;

/// Why tokens were revoked; stored with revoked families and in the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A rotated-out refresh token was presented again (CONTRACT §4 rule 6).
    ReuseDetected,
    /// An authorization code was presented twice (RFC 6749 §4.1.2).
    CodeReplayed,
    /// The client switched off rotation; the rotating family is replaced.
    RotationDisabled,
    /// A client called `/oauth/revoke` (CONTRACT §4 rule 3).
    RevokeEndpoint,
    /// A Management API call (CONTRACT §4 rule 5).
    ManagementApi,
    /// A dashboard administrator's action (CONTRACT §5).
    Dashboard,
    /// The user was blocked (CONTRACT §6.3).
    UserBlocked,
    /// The user's password was changed (CONTRACT §6.3).
    PasswordChanged,
    /// The user was deleted (CONTRACT §6.3).
    UserDeleted,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReuseDetected => "reuse-detected",
            Self::CodeReplayed => "code-replayed",
            Self::RotationDisabled => "rotation-disabled",
            Self::RevokeEndpoint => "revoke-endpoint",
            Self::ManagementApi => "management-api",
            Self::Dashboard => "dashboard",
            Self::UserBlocked => "user-blocked",
            Self::PasswordChanged => "password-changed",
            Self::UserDeleted => "user-deleted",
        }
    }

    fn type_code(self) -> &'static str {
        match self {
            Self::ReuseDetected => codes::REUSE_DETECTED,
            Self::CodeReplayed => "feacft",
            _ => codes::REVOKED,
        }
    }
}

fn describe(target: &RevocationTarget, reason: Reason) -> String {
    use RevocationTarget as T;
    let what = match target {
        T::Family { .. } => "a refresh token",
        T::Families { .. } => "refresh tokens by id",
        T::Grant {
            delete_grant: true, ..
        } => "a grant and its refresh tokens",
        T::Grant { .. } => "the refresh tokens of a grant",
        T::UserGrants { .. } => "every grant of a user and their refresh tokens",
        T::User {
            client_id: None, ..
        } => "every refresh token of a user",
        T::User { .. } => "a user's refresh tokens for one application",
        T::Session { tokens: true, .. } => "a session and its refresh tokens",
        T::Session { .. } => "a session",
        T::UserSessions { tokens: true, .. } => "a user's sessions and their refresh tokens",
        T::UserSessions { .. } => "a user's sessions",
        T::UserAccess { .. } => "a user's access (sessions and refresh tokens)",
        T::CodeIssue { .. } => "what a replayed authorization code issued",
    };
    match reason {
        Reason::ReuseDetected => {
            "Refresh token reuse detected: the token's family was revoked".to_owned()
        }
        Reason::CodeReplayed => format!("Authorization code presented twice: revoked {what}"),
        Reason::RotationDisabled => {
            "Rotation switched off: the rotating token was replaced".to_owned()
        }
        Reason::RevokeEndpoint => format!("Revoked {what} (/oauth/revoke)"),
        Reason::ManagementApi => format!("Revoked {what} (Management API)"),
        Reason::Dashboard => format!("Revoked {what} (dashboard)"),
        Reason::UserBlocked => format!("Revoked {what}: the user was blocked"),
        Reason::PasswordChanged => format!("Revoked {what}: the password was changed"),
        Reason::UserDeleted => format!("Revoked {what}: the user was deleted"),
    }
}

/// The audit event of a revocation: what, why and who (the store adds the
/// receipt in the revoking transaction).
fn revocation_event(
    target: &RevocationTarget,
    reason: Reason,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> grantor_store::LogEvent {
    audit::event(reason.type_code(), describe(target, reason), now)
        .meta(meta)
        .detail("actor", actor.to_json())
        .detail("reason", reason.as_str().into())
}

/// Revokes what `target` covers, at once and durably, and records who did it
/// and what it covered. An unknown target writes nothing (`receipt.found`).
pub async fn revoke(
    state: &AppState,
    target: RevocationTarget,
    reason: Reason,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<RevocationReceipt, FlowError> {
    let event = revocation_event(&target, reason, actor, meta, now);
    let receipt = state
        .store
        .revoke(&target, reason.as_str(), &event, now)
        .await?;
    if receipt.found {
        tracing::info!(
            reason = reason.as_str(),
            refresh_tokens = receipt.refresh_tokens,
            sessions = receipt.sessions,
            ?target,
            "revoked"
        );
    }
    Ok(receipt)
}

/// Applies an account change that must end the user's access (CONTRACT §6.3:
/// blocking, a new password, deletion) and, in the same transaction, ends
/// every session of the user and revokes every refresh token (the user's
/// epoch, so their access tokens introspect inactive too), audited with a
/// receipt. `None` when the user does not exist (nothing written).
pub async fn change_account(
    state: &AppState,
    change: UserChange,
    reason: Reason,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Option<RevocationReceipt>, FlowError> {
    let target = RevocationTarget::UserAccess {
        user_id: change.user_id().to_owned(),
        session_id: None,
        keep_refresh_tokens: false,
    };
    let event = revocation_event(&target, reason, actor, meta, now);
    let receipt = state
        .store
        .change_user_revoking(&change, reason.as_str(), &event, now)
        .await?;
    if let Some(receipt) = &receipt {
        tracing::info!(
            reason = reason.as_str(),
            refresh_tokens = receipt.refresh_tokens,
            sessions = receipt.sessions,
            user_id = change.user_id(),
            "revoked a user's access"
        );
    }
    Ok(receipt)
}

/// What [`revoke`] would cover now (the dashboard's confirmation); writes nothing.
pub async fn preview(
    state: &AppState,
    target: &RevocationTarget,
    now: Timestamp,
) -> Result<RevocationReceipt, FlowError> {
    Ok(state.store.revocation_preview(target, now).await?)
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
/// revokes every refresh token issued for the same grant; the grant itself
/// goes too when `flags.revoke_refresh_token_grant` is on.
pub async fn revoke_refresh_token(
    state: &AppState,
    client: &grantor_domain::Client,
    token: &str,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<RevokeOutcome, FlowError> {
    let Some(presented) = find_refresh_token(state, token).await? else {
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
    let target = RevocationTarget::Grant {
        grant_id: presented.family.grant_id.clone(),
        delete_grant,
    };
    let actor = Actor::Client(client.client_id.clone());
    let receipt = revoke(state, target, Reason::RevokeEndpoint, &actor, meta, now).await?;
    if !receipt.found {
        return Ok(RevokeOutcome::Unknown);
    }
    Ok(RevokeOutcome::Revoked {
        grant_deleted: delete_grant,
    })
}

/// A presented refresh token by the hash of its string, or, once rotation
/// removed its secret, by the family and generation its MAC names.
async fn find_refresh_token(
    state: &AppState,
    token: &str,
) -> Result<Option<grantor_store::PresentedRefreshToken>, FlowError> {
    let hash = grantor_domain::TokenHash::of(token);
    if let Some(found) = state.store.load_refresh_token(hash.as_str()).await? {
        return Ok(Some(found));
    }
    pruned_refresh_token(state, token).await
}

/// A token whose secret is no longer stored, read by the family and
/// generation its MAC names (`None` without a valid MAC or a family): an old
/// token of a family still identifies the family and its grant.
pub(crate) async fn pruned_refresh_token(
    state: &AppState,
    token: &str,
) -> Result<Option<grantor_store::PresentedRefreshToken>, FlowError> {
    let Some(claimed) = state.refresh_secrets.verify(token) else {
        return Ok(None);
    };
    Ok(state
        .store
        .load_pruned_refresh_token(&claimed.family_id, claimed.generation)
        .await?)
}

/// Revokes one refresh-token family on grantor's own initiative (reuse
/// detection, rotation switched off); returns whether it was live.
pub async fn revoke_family(
    state: &AppState,
    family_id: &str,
    reason: Reason,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<bool, FlowError> {
    let target = RevocationTarget::Family {
        family_id: family_id.to_owned(),
    };
    let receipt = revoke(state, target, reason, &Actor::System, meta, now).await?;
    Ok(receipt.refresh_tokens > 0)
}

/// Revokes what the first redemption of a replayed code issued.
pub async fn revoke_code_issue(
    state: &AppState,
    family_id: Option<&str>,
    jti: Option<&str>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<(), FlowError> {
    let target = RevocationTarget::CodeIssue {
        family_id: family_id.map(str::to_owned),
        jti: jti.map(str::to_owned),
    };
    revoke(
        state,
        target,
        Reason::CodeReplayed,
        &Actor::System,
        meta,
        now,
    )
    .await?;
    Ok(())
}
