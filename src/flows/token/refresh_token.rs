//! `grant_type=refresh_token` (RFC 6749 §6) with Auth0's rotation, leeway and
//! reuse detection (CONTRACT §4 rules 6, 7, 11; reference §3).
//!
//! One query loads the presented secret with everything its validity depends
//! on; the domain decides; one compare-and-set transaction applies the result.
//! When two exchanges race, the loser's compare-and-set fails and it decides
//! again from fresh state, where its token is now the previous one: inside the
//! leeway it gets a sibling, outside it trips reuse detection. So parallel
//! exchanges never leave two live successors when the leeway is 0.

use grantor_domain::multi_resource::exchange_scope;
use grantor_domain::refresh_token::{
    decide_exchange, lifetimes_on_exchange, plan_exchange, ExchangeDecision, ExchangePlan,
    FamilyStep,
};
use grantor_domain::{
    Client, GrantType, OAuthError, OAuthErrorKind, ScopeSet, Timestamp, TokenHash,
};
use grantor_store::{
    ExchangeWrite, FamilyRecord, IssueBatch, PresentedExchange, PresentedRefreshToken, UserGrant,
};

use super::{required, IssuedTokens, TokenRequest};
use crate::flows::audience;
use crate::flows::audit::{self, EventExt};
use crate::flows::issue::{mint_access, new_family, IssueContext};
use crate::flows::multi_resource;
use crate::flows::revocation::{self, Reason};
use crate::flows::{FlowError, RequestMeta};
use crate::metrics::RefreshOutcome;
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
    let mut outcome = RefreshOutcome::Rejected;
    let result = exchange_counted(state, client, request, meta, now, &mut outcome).await;
    state.metrics.refresh_exchange(match (&result, outcome) {
        (Ok(_), outcome) | (Err(_), outcome @ RefreshOutcome::ReuseDetected) => outcome,
        (Err(_), _) => RefreshOutcome::Rejected,
    });
    result
}

/// The exchange; `outcome` is set to what the decision was (the metrics).
async fn exchange_counted(
    state: &AppState,
    client: &Client,
    request: TokenRequest,
    meta: &RequestMeta,
    now: Timestamp,
    outcome: &mut RefreshOutcome,
) -> Result<IssuedTokens, FlowError> {
    let presented = required(&request.refresh_token, "refresh_token")?;
    let hash = TokenHash::of(presented);
    for _ in 0..MAX_ATTEMPTS {
        let Some(loaded) = state.store.load_exchange(&hash).await? else {
            return Err(pruned_token(state, client, &request, presented, meta, now, outcome).await);
        };
        let token = &loaded.token;
        if token.family.client_id != client.client_id {
            return Err(invalid_refresh_token().into());
        }
        proves_binding(&token.family, &request)?;
        let decision = decide_exchange(
            &token.snapshot,
            token.generation,
            client.refresh_token.leeway,
            now,
        );
        let step = match decision {
            ExchangeDecision::Reject(_) => return Err(invalid_refresh_token().into()),
            ExchangeDecision::ReuseDetected => {
                *outcome = RefreshOutcome::ReuseDetected;
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
                *outcome = match decision {
                    ExchangeDecision::Reuse => RefreshOutcome::NonRotating,
                    ExchangeDecision::RotateWithinLeeway => RefreshOutcome::WithinLeeway,
                    _ => RefreshOutcome::Rotated,
                };
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
    request: &TokenRequest,
    presented: &str,
    meta: &RequestMeta,
    now: Timestamp,
    outcome: &mut RefreshOutcome,
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
    // Without the key a stolen old token proves nothing, and revokes nothing.
    if let Err(e) = proves_binding(&token.family, request) {
        return e.into();
    }
    if decide_exchange(
        &token.snapshot,
        token.generation,
        client.refresh_token.leeway,
        now,
    ) == ExchangeDecision::ReuseDetected
    {
        *outcome = RefreshOutcome::ReuseDetected;
        if let Err(e) =
            revocation::revoke_family(state, &token.family.id, Reason::ReuseDetected, meta, now)
                .await
        {
            return e;
        }
    }
    invalid_refresh_token().into()
}

/// A refresh token bound to a DPoP key (RFC 9449 §5) is exchanged only
/// with a proof made with that key; without one, or with another key, the
/// exchange is refused before anything is decided, so it changes nothing
/// (its failure is audited like every failed exchange).
fn proves_binding(family: &FamilyRecord, request: &TokenRequest) -> Result<(), OAuthError> {
    let Some(bound) = &family.dpop_jkt else {
        return Ok(());
    };
    match &request.dpop {
        Some(key) if &key.jkt == bound => Ok(()),
        Some(_) => Err(OAuthError::invalid_grant(
            "The refresh token is bound to another DPoP key",
        )),
        None => Err(OAuthError::invalid_grant(
            "The refresh token is bound to a DPoP key: send a DPoP proof made with it",
        )),
    }
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
    let Some(plan) = plan_exchange(decision, &token.snapshot, &client.refresh_token) else {
        return Err(invalid_refresh_token().into());
    };
    // Read with the presented token (`load_exchange`): no further query.
    let user = loaded
        .user
        .clone()
        .filter(|u| !u.blocked)
        .ok_or_else(invalid_refresh_token)?;
    // Another API by a Multi-Resource Refresh Token policy, if the request
    // names one this token reaches (two more reads); else the token's own
    // API, whatever `audience` says (Auth0's treatment of an API no policy
    // allows). The switch to non-rotating answers for the token's own API.
    let reach = match (request.audience.as_deref(), &plan) {
        (Some(asked), ExchangePlan::Continue(_)) if asked != family.audience => {
            multi_resource::reach(state, client, family, asked).await?
        }
        _ => None,
    };
    let (scope, audience, grant) = match reach {
        Some(reach) => {
            let asked = request.scope.as_deref().map(ScopeSet::parse);
            let scope = exchange_scope(
                asked.as_ref(),
                &reach.allowed,
                &multi_resource::oidc_scopes(&ScopeSet::parse(&family.scope)),
            );
            (scope, reach.audience, reach.grant)
        }
        None => {
            let audience = audience::resolve_loaded(state, &family.audience, loaded.api.clone())
                .map_err(|e| match e {
                    FlowError::OAuth(why) => invalid_refresh_token().with_cause(why).into(),
                    internal => internal,
                })?;
            (narrowed_scope(request, family)?, audience, grant_of(family))
        }
    };
    let ctx = IssueContext {
        client,
        user: &user,
        grant: &grant,
        audience: &audience,
        scope,
        session_id: family.session_id.clone(),
        auth_time: family.auth_time,
        nonce: None,
        device_name: family.device_name.clone(),
        code_hash: None,
        grant_type: GrantType::RefreshToken,
        dpop_jkt: request.dpop.as_ref().map(|k| k.jkt.clone()),
    };
    match plan {
        ExchangePlan::ReplaceWithNonRotating => {
            replace_with_non_rotating(state, &ctx, family, meta, now)
                .await
                .map(Some)
        }
        ExchangePlan::Continue(step) => continue_family(state, &ctx, token, step, meta, now).await,
    }
}

/// The scope of the new access token: the family's, or a subset of it the
/// request asks for (RFC 6749 §6).
fn narrowed_scope(request: &TokenRequest, family: &FamilyRecord) -> Result<ScopeSet, OAuthError> {
    let granted = ScopeSet::parse(&family.scope);
    match request
        .scope
        .as_deref()
        .map(ScopeSet::parse)
        .filter(|s| !s.is_empty())
    {
        Some(asked) if !asked.is_subset_of(&granted) => Err(OAuthError::new(
            OAuthErrorKind::InvalidScope,
            "The requested scope exceeds the scope granted by the refresh token",
        )),
        Some(asked) => Ok(asked),
        None => Ok(granted),
    }
}

/// The grant a family was issued under, as it was when the family was
/// loaded (its epoch was current then): the new access token carries it.
fn grant_of(family: &FamilyRecord) -> UserGrant {
    UserGrant {
        id: family.grant_id.clone(),
        user_id: family.user_id.clone(),
        client_id: family.client_id.clone(),
        audience: family.audience.clone(),
        scope: ScopeSet::parse(&family.scope),
        token_epoch: family.grant_epoch,
        created_at: family.created_at,
        updated_at: family.created_at,
    }
}

/// Moves the family on by `step` with a compare-and-set on the generation
/// it was loaded at; `Ok(None)` when another exchange got there first.
async fn continue_family(
    state: &AppState,
    ctx: &IssueContext<'_>,
    token: &PresentedRefreshToken,
    step: FamilyStep,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Option<IssuedTokens>, FlowError> {
    let family = &token.family;
    let (expires_at, idle_expires_at) =
        lifetimes_on_exchange(&ctx.client.refresh_token, family.expires_at, now);
    let mut minted = mint_access(state, ctx, Some(&family.id), now)?;
    // The user's epoch the family was loaded with, not the one current at
    // the write: an account change (block, new password) that commits
    // between the load and the write leaves this token dead, not live.
    minted.record.user_epoch = Some(family.user_epoch);
    // An access token for a policy API is issued under that API's grant.
    let for_policy_api = ctx.audience.audience != family.audience;
    let secret = step.issue_secret.then(|| {
        state
            .refresh_secrets
            .issue(family.id.as_str(), step.secret_generation)
    });
    let write = ExchangeWrite {
        family_id: family.id.clone(),
        expected_generation: family.current_generation,
        new_generation: step.new_generation,
        rotated: step.rotated,
        rotating: step.rotating,
        new_secret_hash: secret.as_deref().map(TokenHash::of),
        secret_generation: step.secret_generation,
        expires_at,
        idle_expires_at,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        now,
        access_token: minted.record,
        revoke_other_non_rotating: step.starts_rotating(&token.snapshot),
        resource_guard: for_policy_api.then(|| (ctx.grant.id.clone(), ctx.grant.token_epoch)),
        event: exchange_event(ctx.client, family, meta, now)
            .detail("rotated", step.rotated.into())
            .detail("audience", ctx.audience.audience.clone().into()),
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
async fn replace_with_non_rotating(
    state: &AppState,
    ctx: &IssueContext<'_>,
    family: &FamilyRecord,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<IssuedTokens, FlowError> {
    if !revocation::revoke_family(state, &family.id, Reason::RotationDisabled, meta, now).await? {
        return Err(invalid_refresh_token().into());
    }
    // The new family keeps the old one's scope; the access token has the
    // (possibly narrowed) scope of this request.
    let granted = ScopeSet::parse(&family.scope);
    let (new, secret) = new_family(&state.refresh_secrets, ctx, &granted, meta, now);
    let minted = mint_access(state, ctx, Some(&new.id), now)?;
    let new_id = new.id.to_string();
    state
        .store
        .issue_tokens(
            &IssueBatch {
                family: Some(new),
                access_token: minted.record,
                code_hash: None,
                event: Some(
                    exchange_event(ctx.client, family, meta, now)
                        .detail("replaced_by", new_id.into()),
                ),
                resources: vec![],
                resources_of: Some(family.id.clone()),
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
    family: &FamilyRecord,
    meta: &RequestMeta,
    now: Timestamp,
) -> grantor_store::LogEvent {
    let (success, _) = audit::exchange_codes(grantor_domain::GrantType::RefreshToken);
    audit::event(success, "Refresh token exchanged", now)
        .client(&client.client_id)
        .user(&family.user_id)
        .meta(meta)
        .detail("refresh_token_id", family.id.to_string().into())
}
