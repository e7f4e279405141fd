//! The one place that invalidates tokens. Every revoking path calls
//! [`revoke`]: reuse detection and replayed codes at the token endpoint,
//! `/oauth/revoke`, the Management API and the dashboard. Each revocation is
//! one store transaction of a constant number of row writes against durable
//! state (family, grant epoch, user epoch, session), checked on every use, so
//! it takes effect for every process before the call returns; its audit event
//! and receipt are written in the same transaction.

pub use grantor_domain::revocation::Reason;
use grantor_domain::{ClientId, FamilyId, SessionId, Timestamp, UserId};
pub use grantor_store::{DeleteGrant, RevocationReceipt, RevocationTarget, UserChange};

use super::audit::{self, Actor, EventExt, EventType};
use super::{FlowError, RequestMeta};
use crate::state::AppState;

/// The audit event type a revocation for `reason` is recorded under.
fn event_type(reason: Reason) -> EventType {
    match reason {
        Reason::ReuseDetected => EventType::FailedRotatingRefreshTokenExchange,
        Reason::CodeReplayed => EventType::FailedAuthorizationCodeExchange,
        _ => EventType::SuccessRevocation,
    }
}

fn describe(target: &RevocationTarget, reason: Reason) -> String {
    use RevocationTarget as T;
    let what = match target {
        T::Family { .. } => "a refresh token",
        T::Families { .. } => "refresh tokens by id",
        T::Grant {
            delete_grant: DeleteGrant::Yes,
            ..
        } => "a grant and its refresh tokens",
        // `No`, or `AsTenantSays`: the store adds that the grant went too
        // when the tenant said so.
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
    audit::event(event_type(reason), describe(target, reason), now)
        .meta(meta)
        .detail("actor", actor.to_json())
        .detail("reason", reason.as_str().into())
}

/// Revokes what `target` covers, at once and durably, and records who did it
/// and what it covered. An unknown target writes nothing (`receipt.found`).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn revoke(
    state: &AppState,
    target: RevocationTarget,
    reason: Reason,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<RevocationReceipt, FlowError> {
    let event = revocation_event(&target, reason, actor, meta, now);
    let receipt = state.store.revoke(&target, reason, &event, now).await?;
    state.metrics.revocation(&target, &receipt);
    if receipt.found {
        // Ended sessions may have queued back-channel logouts and SSF
        // events, and revoked tokens staged theirs; the worker folds a
        // burst of wakes into one fan-out and one claim.
        state.outbox.wake();
    }
    if receipt.found {
        tracing::info!(
            reason = reason.as_str(),
            refresh_tokens = receipt.refresh_tokens,
            sessions = receipt.sessions,
            grants_deleted = receipt.grants_deleted,
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
/// receipt. `changed` names the other profile members the same change
/// sets (`details.changed`), so the one event records all of it. `None`
/// when the user does not exist (nothing written).
pub async fn change_account(
    state: &AppState,
    change: UserChange,
    changed: &[&str],
    reason: Reason,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Option<RevocationReceipt>, FlowError> {
    let target = RevocationTarget::UserAccess {
        user_id: change.user_id().clone(),
        session_id: None,
        keep_refresh_tokens: false,
    };
    let mut event = revocation_event(&target, reason, actor, meta, now);
    if !changed.is_empty() {
        event = event.detail("changed", serde_json::json!(changed));
    }
    let receipt = state
        .store
        .change_user_revoking(&change, reason, &event, now)
        .await?;
    if let Some(receipt) = &receipt {
        state.metrics.revocation(&target, receipt);
        // Ended sessions may have queued back-channel logouts, and revoked
        // tokens staged their SSF events.
        state.outbox.wake();
        tracing::info!(
            reason = reason.as_str(),
            refresh_tokens = receipt.refresh_tokens,
            sessions = receipt.sessions,
            user_id = change.user_id().as_str(),
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

/// The refresh tokens a Management API call names (`POST
/// /refresh-tokens/revoke`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshTokenSelection {
    /// Families by id; ids that do not exist are skipped.
    Ids(Vec<FamilyId>),
    /// Every refresh token of a user, or only those for one client, or for
    /// one API of that client (`audience` comes only with `client_id`).
    User {
        user_id: UserId,
        client_id: Option<ClientId>,
        audience: Option<String>,
    },
}

/// What a [`RefreshTokenSelection`] names that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownSubject {
    User,
    Client,
    Api,
}

/// Revokes the refresh tokens `selection` names, once what it names is
/// known to exist (nothing is written otherwise). When several are unknown,
/// the user is reported first, then the client, then the API.
///
/// The user is not read ahead: the revocation's own receipt says whether
/// it exists (`found`), and an unknown user makes it write nothing. So a
/// selection costs one read for each of the client and the API it names.
pub async fn revoke_selection(
    state: &AppState,
    selection: RefreshTokenSelection,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Result<RevocationReceipt, UnknownSubject>, FlowError> {
    let target = match selection {
        RefreshTokenSelection::Ids(family_ids) => RevocationTarget::Families { family_ids },
        RefreshTokenSelection::User {
            user_id,
            client_id,
            audience,
        } => {
            // Read only on the way to an error, to report the user first.
            let user = &user_id;
            let unknown = |other: UnknownSubject| async move {
                let user_known = state.store.user(user).await?.is_some();
                Ok::<_, FlowError>(if user_known {
                    other
                } else {
                    UnknownSubject::User
                })
            };
            if let Some(client_id) = &client_id {
                if state.store.client(client_id).await?.is_none() {
                    return Ok(Err(unknown(UnknownSubject::Client).await?));
                }
            }
            if let Some(audience) = &audience {
                let api = state.store.resource_server_by_identifier(audience).await?;
                if api.is_none() {
                    return Ok(Err(unknown(UnknownSubject::Api).await?));
                }
            }
            RevocationTarget::User {
                user_id,
                client_id,
                audience,
            }
        }
    };
    let user_target = matches!(target, RevocationTarget::User { .. });
    let receipt = revoke(state, target, Reason::ManagementApi, actor, meta, now).await?;
    if user_target && !receipt.found {
        return Ok(Err(UnknownSubject::User));
    }
    Ok(Ok(receipt))
}

/// A user's access as `POST /users/{id}/revoke-access` names it: every
/// session, or one, and the refresh tokens with them unless kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSelection {
    pub user_id: UserId,
    pub session_id: Option<SessionId>,
    pub keep_refresh_tokens: bool,
}

/// Why an [`AccessSelection`] was not revoked (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessRefusal {
    UnknownUser,
    /// The named session does not exist or is another user's.
    NotTheUsersSession,
}

/// Revokes the access `selection` names. A named session must be the
/// user's: the revocation itself would close it whoever it belongs to. An
/// unknown user is reported before a session that is not theirs; as in
/// [`revoke_selection`], the revocation's receipt says whether the user
/// exists, so the user is read ahead only to tell the two apart.
pub async fn revoke_access(
    state: &AppState,
    selection: AccessSelection,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Result<RevocationReceipt, AccessRefusal>, FlowError> {
    let AccessSelection {
        user_id,
        session_id,
        keep_refresh_tokens,
    } = selection;
    if let Some(session_id) = &session_id {
        let owned = state
            .store
            .session(session_id)
            .await?
            .is_some_and(|s| s.user_id == user_id);
        if !owned {
            let user_known = state.store.user(&user_id).await?.is_some();
            return Ok(Err(if user_known {
                AccessRefusal::NotTheUsersSession
            } else {
                AccessRefusal::UnknownUser
            }));
        }
    }
    let target = RevocationTarget::UserAccess {
        user_id,
        session_id,
        keep_refresh_tokens,
    };
    let receipt = revoke(state, target, Reason::ManagementApi, actor, meta, now).await?;
    if !receipt.found {
        return Ok(Err(AccessRefusal::UnknownUser));
    }
    Ok(Ok(receipt))
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
    // Whether the grant goes too is the tenant's setting, which the store
    // reads with the grant in the revoking transaction.
    let target = RevocationTarget::Grant {
        grant_id: presented.family.grant_id.clone(),
        delete_grant: DeleteGrant::AsTenantSays,
    };
    let actor = Actor::Client(client.client_id.clone());
    let receipt = revoke(state, target, Reason::RevokeEndpoint, &actor, meta, now).await?;
    if !receipt.found {
        return Ok(RevokeOutcome::Unknown);
    }
    Ok(RevokeOutcome::Revoked {
        grant_deleted: receipt.grants_deleted,
    })
}

/// A presented refresh token by the hash of its string, or, once rotation
/// removed its secret, by the family and generation its MAC names.
async fn find_refresh_token(
    state: &AppState,
    token: &str,
) -> Result<Option<grantor_store::PresentedRefreshToken>, FlowError> {
    let hash = grantor_domain::TokenHash::of(token);
    if let Some(found) = state.store.load_refresh_token(&hash).await? {
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
    family_id: &FamilyId,
    reason: Reason,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<bool, FlowError> {
    let target = RevocationTarget::Family {
        family_id: family_id.clone(),
    };
    let receipt = revoke(state, target, reason, &Actor::System, meta, now).await?;
    Ok(receipt.refresh_tokens > 0)
}

/// Revokes what the first redemption of a replayed code issued.
pub async fn revoke_code_issue(
    state: &AppState,
    family_id: Option<&FamilyId>,
    jti: Option<&str>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<(), FlowError> {
    let target = RevocationTarget::CodeIssue {
        family_id: family_id.cloned(),
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
