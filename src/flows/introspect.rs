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
//! token the answer is `{"active": false}`, exactly as for an unknown one.

use grantor_domain::refresh_token::{decide_exchange, ExchangeDecision};
use grantor_domain::{Client, Timestamp, TokenHash};
use serde_json::{json, Value};

use super::FlowError;
use crate::keys::audiences;
use crate::state::AppState;

pub fn inactive() -> Value {
    json!({ "active": false })
}

pub async fn introspect(
    state: &AppState,
    caller: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Value, FlowError> {
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
) -> Result<Value, FlowError> {
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
        return Ok(inactive());
    }
    let is_machine = claims["gty"].as_str() == Some("client-credentials");
    let mut scope = claims["scope"].clone();
    if is_machine {
        // A machine token is live only while its client still holds the
        // client grant it was issued under (the grant cascades away with the
        // client), and only for the scopes the grant still holds: the rule
        // the Management API's bearer check applies (CONTRACT §6.1).
        let (Some(azp), Some(audience)) =
            (claims["azp"].as_str(), audiences(&claims).first().copied())
        else {
            return Ok(inactive());
        };
        let Some(grant) = state.store.client_grant_for(azp, audience).await? else {
            return Ok(inactive());
        };
        let held = grant.held_scopes(claims["scope"].as_str().unwrap_or_default());
        scope = json!(held.to_wire());
    } else {
        let Some(jti) = claims["jti"].as_str() else {
            return Ok(inactive());
        };
        match state.store.access_token_state(jti, now).await? {
            Some(s) if s.active => {}
            _ => return Ok(inactive()),
        }
    }
    let mut body = json!({
        "active": true,
        "token_type": "access_token",
        "iss": claims["iss"],
        "sub": claims["sub"],
        "aud": claims["aud"],
        "iat": claims["iat"],
        "exp": claims["exp"],
        "scope": scope,
        "client_id": claims["azp"],
        "jti": claims["jti"],
    });
    if let Some(sid) = claims.get("sid") {
        body["sid"] = sid.clone();
    }
    Ok(body)
}

async fn introspect_refresh_token(
    state: &AppState,
    caller: &Client,
    token: &str,
    now: Timestamp,
) -> Result<Value, FlowError> {
    let Some(presented) = state
        .store
        .load_refresh_token(TokenHash::of(token).as_str())
        .await?
    else {
        return Ok(inactive());
    };
    if presented.family.client_id != caller.client_id {
        return Ok(inactive());
    }
    // Leeway 0: a rotated-out secret is never reported active.
    let active = matches!(
        decide_exchange(&presented.snapshot, presented.generation, 0, now),
        ExchangeDecision::Reuse | ExchangeDecision::Rotate
    );
    if !active {
        return Ok(inactive());
    }
    let family = &presented.family;
    let mut body = json!({
        "active": true,
        "token_type": "refresh_token",
        "client_id": family.client_id,
        "sub": family.user_id,
        "aud": family.audience,
        "scope": family.scope,
        "iat": family.created_at.unix_seconds(),
        "iss": state.issuer.as_str(),
    });
    if let Some(exp) = family
        .expires_at
        .into_iter()
        .chain(family.idle_expires_at)
        .min()
    {
        body["exp"] = json!(exp.unix_seconds());
    }
    if let Some(sid) = &family.session_id {
        body["sid"] = json!(sid);
    }
    Ok(body)
}
