//! Token introspection (RFC 7662) for authenticated clients.
//!
//! `active` is decided from durable state at the moment of the call: a refresh
//! token must be its family's newest secret with the family, grant, user and
//! session all current and unexpired; a user access token must be unexpired,
//! signed by us, and its grant, family and session still current (checked by
//! `jti`). Machine tokens are active while their signature and `exp` hold.
//!
//! A client sees only tokens issued to it, or access tokens for an API it holds
//! a client grant for (a resource server checking its callers); for any other
//! token the answer is inactive, exactly as for an unknown one. The Authentication
//! API renders the answer (`http/auth_api/introspect.rs`).

use grantor_domain::refresh_token::{decide_exchange, ExchangeDecision};
use grantor_domain::{
    Client, ClientId, OAuthError, OAuthErrorKind, ScopeSet, SessionId, Timestamp, TokenHash,
};
use grantor_store::FamilyRecord;
use serde_json::Value;

use super::{multi_resource, FlowError};
use crate::keys::audiences;
use crate::state::AppState;

/// What introspection tells a caller about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// Unknown, expired, revoked, or not the caller's to see: nothing more is
    /// said.
    Inactive,
    AccessToken(ActiveAccessToken),
    RefreshToken(ActiveRefreshToken),
}

/// A live access token, as its claims describe it. A claim the token does
/// not carry is `None` (grantor's own tokens carry them all but `sid`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveAccessToken {
    pub issuer: String,
    pub subject: Option<String>,
    /// The `aud` claim: one audience, or several (a user token with `openid`
    /// also names the userinfo audience).
    pub audiences: Vec<String>,
    pub issued_at: Option<i64>,
    pub expires_at: i64,
    /// For a machine token, only the scopes its client grant still holds.
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub jti: Option<String>,
    pub session_id: Option<String>,
    /// DPoP: the thumbprint of the key it is bound to (`cnf.jkt`).
    pub dpop_jkt: Option<String>,
}

/// A live refresh token: its family, which outlives each secret's rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRefreshToken {
    pub client_id: String,
    pub user_id: String,
    pub audience: String,
    pub scope: String,
    pub issued_at: Timestamp,
    /// The earlier of the absolute and the idle expiry, if either is set.
    pub expires_at: Option<Timestamp>,
    pub session_id: Option<String>,
    /// DPoP: the thumbprint of the key it is bound to.
    pub dpop_jkt: Option<String>,
}

/// Answers `caller` about `token`. Only confidential clients may introspect
/// (a public client cannot keep the answer to itself); the token is required.
pub async fn introspect(
    state: &AppState,
    caller: &Client,
    token: Option<&str>,
    now: Timestamp,
) -> Result<Introspection, FlowError> {
    if caller.token_endpoint_auth_method.is_public() {
        return Err(OAuthError::new(
            OAuthErrorKind::InvalidClient,
            "Introspection needs a confidential client",
        )
        .into());
    }
    let token =
        token.ok_or_else(|| OAuthError::invalid_request("Missing required parameter: token"))?;
    // A JWT that is ours, unexpired and from our issuer is an access token; an
    // expired or foreign one is unknown here, as is any refresh token string.
    let verified =
        state
            .keys
            .verify_access_token(token, state.issuer.as_str(), None, now.unix_seconds());
    match verified {
        Ok(claims) => introspect_access_token(state, caller, claims, now).await,
        Err(_) => introspect_refresh_token(state, caller, token, now).await,
    }
}

async fn introspect_access_token(
    state: &AppState,
    caller: &Client,
    claims: Value,
    now: Timestamp,
) -> Result<Introspection, FlowError> {
    let issued_to_caller = claims["azp"].as_str() == Some(caller.client_id.as_str());
    let mut visible = issued_to_caller;
    for audience in audiences(&claims) {
        if visible {
            break;
        }
        visible = state
            .store
            .client_grant_for(&caller.client_id, audience)
            .await?
            .is_some();
    }
    if !visible {
        return Ok(Introspection::Inactive);
    }
    let text = |name: &str| claims[name].as_str().map(str::to_owned);
    let is_machine = claims["gty"].as_str() == Some("client-credentials");
    let mut scope = text("scope");
    if is_machine {
        // A machine token is live only while its client still holds the
        // client grant it was issued under (the grant cascades away with the
        // client), and only for the scopes the grant still holds: the rule
        // the Management API's bearer check applies (CONTRACT §6.1).
        let (Some(azp), Some(audience)) =
            (claims["azp"].as_str(), audiences(&claims).first().copied())
        else {
            return Ok(Introspection::Inactive);
        };
        let azp = ClientId::from(azp);
        let Some(grant) = state.store.client_grant_for(&azp, audience).await? else {
            return Ok(Introspection::Inactive);
        };
        let held = grant.held_scopes(claims["scope"].as_str().unwrap_or_default());
        scope = Some(held.to_wire());
    } else {
        let Some(jti) = claims["jti"].as_str() else {
            return Ok(Introspection::Inactive);
        };
        let Some(record) = state
            .store
            .access_token_state(jti, now)
            .await?
            .filter(|s| s.active)
        else {
            return Ok(Introspection::Inactive);
        };
        // An access token for another API than its refresh token's came
        // through a Multi-Resource Refresh Token policy: live only while
        // the client's policy still reaches that API.
        // The scopes it reports are those the policy still allows (and the
        // OIDC ones), as a machine token's are its client grant's.
        let api = audiences(&claims).first().copied();
        if let (Some(own), Some(api)) = (record.family_audience.as_deref(), api) {
            if api != own {
                let Some(allowed) =
                    multi_resource::policy_still_holds(state, &record.client_id, api).await?
                else {
                    return Ok(Introspection::Inactive);
                };
                let held = ScopeSet::parse(claims["scope"].as_str().unwrap_or_default());
                let oidc = multi_resource::oidc_scopes(&held);
                scope = Some(held.intersection(&allowed.union(&oidc)).to_wire());
            }
        }
    }
    Ok(Introspection::AccessToken(ActiveAccessToken {
        // Both checked by `verify_access_token`.
        issuer: text("iss").unwrap_or_default(),
        expires_at: claims["exp"].as_i64().unwrap_or_default(),
        subject: text("sub"),
        audiences: audiences(&claims).into_iter().map(str::to_owned).collect(),
        issued_at: claims["iat"].as_i64(),
        scope,
        client_id: text("azp"),
        jti: text("jti"),
        session_id: text("sid"),
        dpop_jkt: claims["cnf"]["jkt"].as_str().map(str::to_owned),
    }))
}

async fn introspect_refresh_token(
    state: &AppState,
    caller: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Introspection, FlowError> {
    let Some(presented) = state
        .store
        .load_refresh_token(&TokenHash::of(token))
        .await?
    else {
        return Ok(Introspection::Inactive);
    };
    if presented.family.client_id != caller.client_id {
        return Ok(Introspection::Inactive);
    }
    // Leeway 0: a rotated-out secret is never reported active.
    let active = matches!(
        decide_exchange(&presented.snapshot, presented.generation, 0, now),
        ExchangeDecision::Reuse | ExchangeDecision::Rotate
    );
    if !active {
        return Ok(Introspection::Inactive);
    }
    Ok(Introspection::RefreshToken(active_refresh_token(
        presented.family,
    )))
}

fn active_refresh_token(family: FamilyRecord) -> ActiveRefreshToken {
    let expires_at = family
        .expires_at
        .into_iter()
        .chain(family.idle_expires_at)
        .min();
    ActiveRefreshToken {
        client_id: family.client_id.into_string(),
        user_id: family.user_id.into_string(),
        audience: family.audience,
        scope: family.scope,
        issued_at: family.created_at,
        expires_at,
        session_id: family.session_id.map(SessionId::into_string),
        dpop_jkt: family.dpop_jkt,
    }
}
