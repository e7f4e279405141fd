//! `grant_type=refresh_token` (RFC 6749 §6) with Auth0's rotation, leeway and
//! reuse detection (CONTRACT §4 rules 6, 7, 11; reference §3).
//!
//! One query loads the presented secret with everything its validity depends
//! on; the domain decides; one compare-and-set transaction applies the result.
//! When two exchanges race, the loser's compare-and-set fails and it decides
//! again from fresh state, where its token is now the previous one: inside the
//! leeway it gets a sibling, outside it trips reuse detection. So parallel
//! exchanges never leave two live successors when the leeway is 0.

use grantor_domain::refresh_token::{
    decide_exchange, lifetimes_on_exchange, rotation_switch, ExchangeDecision,
};
use grantor_domain::{
    Client, OAuthError, OAuthErrorKind, RotationType, ScopeSet, Timestamp, TokenHash,
};
use grantor_store::{
    ExchangeWrite, IssueBatch, PresentedExchange, PresentedRefreshToken, UserGrant,
};

use super::{required, IssuedTokens, TokenRequest};
use crate::flows::audience::{self, UserAudience};
use crate::flows::audit::{self, EventExt};
use crate::flows::issue::{mint_access, new_family};
use crate::flows::revocation::{self, Reason};
use crate::flows::{FlowError, RequestMeta};
use crate::state::AppState;

fn invalid_refresh_token() -> OAuthError {
    OAuthError::invalid_grant("Unknown or invalid refresh token.")
}

/// How many times a lost compare-and-set is decided again before giving up.
const MAX_ATTEMPTS: usize = 8;

pub async fn exchange(
    state: &AppState,
    client: &Client,
    request: TokenRequest,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<IssuedTokens, FlowError> {
    let presented = required(&request.refresh_token, "refresh_token")?;
    let hash = TokenHash::of(presented).as_str().to_owned();
    for _ in 0..MAX_ATTEMPTS {
        let Some(loaded) = state.store.load_exchange(&hash).await? else {
            return Err(pruned_token(state, client, presented, meta, now).await);
        };
        let token = &loaded.token;
        if token.family.client_id != client.client_id {
            return Err(invalid_refresh_token().into());
        }
        let decision = decide_exchange(
            &token.snapshot,
            token.generation,
            client.refresh_token.leeway,
            now,
        );
        let step = match decision {
            ExchangeDecision::Reject(_) => return Err(invalid_refresh_token().into()),
            ExchangeDecision::ReuseDetected => {
                revocation::revoke_family(
                    state,
                    &token.family.id,
                    Reason::ReuseDetected,
                    meta,
                    now,
                )
                .await?;
                return Err(invalid_refresh_token().into());
            }
            ExchangeDecision::Reuse
            | ExchangeDecision::Rotate
            | ExchangeDecision::RotateWithinLeeway => {
                exchange_once(state, client, &request, meta, now, &loaded, decision).await?
            }
        };
        if let Some(issued) = step {
            return Ok(issued);
        }
    }
    Err(OAuthError::new(
        OAuthErrorKind::ServerError,
        "Too many concurrent exchanges of this refresh token",
    )
    .into())
}

/// A token whose hash is not stored: unknown, unless its MAC shows grantor
/// issued it for a family that has since rotated past it, which is reuse
/// (rotation keeps only the secrets that can still be honoured; see
/// `refresh_secret`). Always an error.
async fn pruned_token(
    state: &AppState,
    client: &Client,
    presented: &str,
    meta: &RequestMeta,
    now: Timestamp,
) -> FlowError {
    let token = match revocation::pruned_refresh_token(state, presented).await {
        Ok(Some(token)) => token,
        Ok(None) => return invalid_refresh_token().into(),
        Err(e) => return e,
    };
    // Only a generation rotation has already removed; anything else whose
    // secret is missing is not honoured and revokes nothing.
    let pruned = token.generation < token.snapshot.current_generation - 1;
    if token.family.client_id != client.client_id || !pruned {
        return invalid_refresh_token().into();
    }
    if decide_exchange(
        &token.snapshot,
        token.generation,
        client.refresh_token.leeway,
        now,
    ) == ExchangeDecision::ReuseDetected
    {
        if let Err(e) =
            revocation::revoke_family(state, &token.family.id, Reason::ReuseDetected, meta, now)
                .await
        {
            return e;
        }
    }
    invalid_refresh_token().into()
}

/// One attempt; `Ok(None)` when the compare-and-set lost a race.
async fn exchange_once(
    state: &AppState,
    client: &Client,
    request: &TokenRequest,
    meta: &RequestMeta,
    now: Timestamp,
    loaded: &PresentedExchange,
    decision: ExchangeDecision,
) -> Result<Option<IssuedTokens>, FlowError> {
    let token = &loaded.token;
    let family = &token.family;
    let granted = ScopeSet::parse(&family.scope);
    let scope = match request
        .scope
        .as_deref()
        .map(ScopeSet::parse)
        .filter(|s| !s.is_empty())
    {
        Some(asked) if !asked.is_subset_of(&granted) => {
            return Err(OAuthError::new(
                OAuthErrorKind::InvalidScope,
                "The requested scope exceeds the scope granted by the refresh token",
            )
            .into())
        }
        Some(asked) => asked,
        None => granted.clone(),
    };
    // Read with the presented token (`load_exchange`): no further query.
    let user = loaded
        .user
        .clone()
        .filter(|u| !u.blocked)
        .ok_or_else(invalid_refresh_token)?;
    let audience = audience::resolve_loaded(state, &family.audience, loaded.api.clone())
        .map_err(|_| invalid_refresh_token())?;
    // The grant was current when loaded; carry its epoch into the new access token.
    let grant = UserGrant {
        id: family.grant_id.clone(),
        user_id: family.user_id.clone(),
        client_id: family.client_id.clone(),
        audience: family.audience.clone(),
        scope: granted.clone(),
        token_epoch: family.grant_epoch,
        created_at: family.created_at,
        updated_at: family.created_at,
    };
    let switch = rotation_switch(family.rotating, &client.refresh_token);
    if decision != ExchangeDecision::RotateWithinLeeway && switch == Some(RotationType::NonRotating)
    {
        return replace_with_non_rotating(
            state, client, &user, &grant, &audience, scope, meta, now, token,
        )
        .await
        .map(Some);
    }
    let (expires_at, idle_expires_at) =
        lifetimes_on_exchange(&client.refresh_token, family.expires_at, now);
    let current = family.current_generation;
    let (new_generation, rotated, secret_generation, issue_secret, rotating) = match decision {
        ExchangeDecision::Rotate => (current + 1, true, current + 1, true, true),
        ExchangeDecision::RotateWithinLeeway => (current, false, current, true, true),
        // A non-rotating family whose client now rotates becomes rotating.
        _ if switch == Some(RotationType::Rotating) => (current + 1, true, current + 1, true, true),
        _ => (current, false, current, false, false),
    };
    let minted = mint_access(
        state,
        client,
        &user,
        &grant,
        &audience,
        scope,
        family.session_id.as_deref(),
        family.auth_time,
        None,
        Some(&family.id),
        now,
    )?;
    let secret = issue_secret.then(|| state.refresh_secrets.issue(&family.id, secret_generation));
    let write = ExchangeWrite {
        family_id: family.id.clone(),
        expected_generation: current,
        new_generation,
        rotated,
        rotating,
        new_secret_hash: secret
            .as_deref()
            .map(|s| TokenHash::of(s).as_str().to_owned()),
        secret_generation,
        expires_at,
        idle_expires_at,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        now,
        access_token: minted.record,
        revoke_other_non_rotating: !family.rotating && rotating,
        event: exchange_event(client, family, meta, now).detail("rotated", rotated.into()),
    };
    if !state.store.apply_exchange(&write).await? {
        return Ok(None);
    }
    Ok(Some(IssuedTokens {
        refresh_token: secret,
        ..minted.tokens
    }))
}

/// The client switched rotation off: the rotating family is revoked and the
/// exchange yields a new non-rotating token (reference §3.2).
#[allow(clippy::too_many_arguments)]
async fn replace_with_non_rotating(
    state: &AppState,
    client: &Client,
    user: &grantor_domain::User,
    grant: &UserGrant,
    audience: &UserAudience,
    scope: ScopeSet,
    meta: &RequestMeta,
    now: Timestamp,
    token: &PresentedRefreshToken,
) -> Result<IssuedTokens, FlowError> {
    let family = &token.family;
    if !revocation::revoke_family(state, &family.id, Reason::RotationDisabled, meta, now).await? {
        return Err(invalid_refresh_token().into());
    }
    let granted = ScopeSet::parse(&family.scope);
    let (new, secret) = new_family(
        &state.refresh_secrets,
        client,
        user,
        grant,
        audience,
        &granted,
        family.session_id.clone(),
        family.auth_time,
        family.device_name.clone(),
        meta,
        now,
    );
    let minted = mint_access(
        state,
        client,
        user,
        grant,
        audience,
        scope,
        family.session_id.as_deref(),
        family.auth_time,
        None,
        Some(&new.id),
        now,
    )?;
    let new_id = new.id.clone();
    state
        .store
        .issue_tokens(
            &IssueBatch {
                family: Some(new),
                access_token: minted.record,
                code_hash: None,
                event: Some(
                    exchange_event(client, family, meta, now)
                        .detail("replaced_by", new_id.clone().into()),
                ),
            },
            now,
        )
        .await?;
    Ok(IssuedTokens {
        refresh_token: Some(secret),
        ..minted.tokens
    })
}

/// The `sertft` event of a successful exchange of one of `family`'s tokens.
fn exchange_event(
    client: &Client,
    family: &grantor_store::FamilyRecord,
    meta: &RequestMeta,
    now: Timestamp,
) -> grantor_store::LogEvent {
    let (success, _) = audit::exchange_codes(grantor_domain::GrantType::RefreshToken);
    audit::event(success, "Refresh token exchanged", now)
        .client(&client.client_id)
        .user(&family.user_id)
        .meta(meta)
        .detail("refresh_token_id", family.id.clone().into())
}
