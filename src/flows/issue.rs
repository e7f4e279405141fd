//! Minting the tokens of a user flow: the access token (JWT), the ID token
//! when `openid` was granted, and a refresh-token family when the contract
//! allows one; then one store transaction records them.
//!
//! A refresh token is issued only when `offline_access` is granted, the
//! audience allows offline access (the API's `allow_offline_access`, or the
//! userinfo audience), and the client has the `refresh_token` grant type.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use grantor_domain::refresh_token::lifetimes_at_issue;
use grantor_domain::{
    Client, FamilyId, GrantType, RotationType, ScopeSet, SessionId, SigningAlg, Timestamp,
    TokenHash, User,
};
use grantor_store::{AccessTokenRecord, IssueBatch, NewFamily, UserGrant};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::audience::UserAudience;
use super::audit::EventExt;
use super::token::IssuedTokens;
use super::{FlowError, RequestMeta};
use crate::claims::add_profile_claims;
use crate::refresh_secret::RefreshSecrets;
use crate::secrets;
use crate::state::AppState;

/// What a user flow hands over to be turned into tokens.
pub struct IssueContext<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub grant: &'a UserGrant,
    pub audience: &'a UserAudience,
    /// The scopes of this response (already within the grant).
    pub scope: ScopeSet,
    pub session_id: Option<SessionId>,
    pub auth_time: Timestamp,
    pub nonce: Option<String>,
    pub device_name: Option<String>,
    /// The authorization code redeemed, if any.
    pub code_hash: Option<TokenHash>,
    /// Which exchange this is, for its audit event.
    pub grant_type: GrantType,
    /// DPoP (RFC 9449): the thumbprint of the key the request proved; the
    /// access token carries it as `cnf.jkt`, and a public client's new
    /// refresh token is bound to it.
    pub dpop_jkt: Option<String>,
}

/// Signed tokens (the response, still without a refresh token) plus the
/// access-token record to store with them.
pub struct MintedAccess {
    pub tokens: IssuedTokens,
    pub record: AccessTokenRecord,
}

/// Whether this response may carry a refresh token.
pub fn offline_allowed(client: &Client, audience: &UserAudience, scope: &ScopeSet) -> bool {
    scope.contains("offline_access")
        && audience.allows_offline_access()
        && client.allows_grant(GrantType::RefreshToken)
}

/// Signs the access token and, with `openid`, the ID token, for `ctx.scope`;
/// `family_id` is the refresh-token family issued with them, if any.
pub fn mint_access(
    state: &AppState,
    ctx: &IssueContext<'_>,
    family_id: Option<&FamilyId>,
    now: Timestamp,
) -> Result<MintedAccess, FlowError> {
    let IssueContext {
        client,
        user,
        grant,
        audience,
        scope,
        ..
    } = ctx;
    let session_id = ctx.session_id.as_ref();
    let iat = now.unix_seconds();
    let expires_in = audience.token_lifetime();
    let jti = secrets::hex_id(16);
    let userinfo = state.issuer.url("userinfo");
    let aud = if scope.contains("openid") && audience.audience != userinfo {
        json!([audience.audience, userinfo])
    } else {
        json!(audience.audience)
    };
    let mut claims = json!({
        "iss": state.issuer.as_str(),
        "sub": user.user_id.as_str(),
        "aud": aud,
        "iat": iat,
        "exp": iat + expires_in,
        "scope": scope.to_wire(),
        "azp": client.client_id.as_str(),
        "jti": jti,
    });
    if let Some(sid) = session_id {
        claims["sid"] = json!(sid.as_str());
    }
    if let Some(jkt) = &ctx.dpop_jkt {
        claims["cnf"] = json!({ "jkt": jkt });
    }
    let alg = audience
        .api
        .as_ref()
        .map_or(SigningAlg::Rs256, |api| api.signing_alg);
    let access_token = state.keys.sign(alg, &claims)?;
    let id_token = if scope.contains("openid") {
        Some(sign_id_token(state, ctx, &access_token, now)?)
    } else {
        None
    };
    let record = AccessTokenRecord {
        jti,
        client_id: client.client_id.clone(),
        user_id: user.user_id.clone(),
        grant_id: grant.id.clone(),
        grant_epoch: grant.token_epoch,
        user_epoch: None,
        family_id: family_id.cloned(),
        session_id: session_id.cloned(),
        expires_at: now.plus_seconds(expires_in),
    };
    Ok(MintedAccess {
        tokens: IssuedTokens {
            access_token,
            expires_in,
            scope: scope.to_wire(),
            refresh_token: None,
            id_token,
            signing_alg: alg,
            dpop_bound: ctx.dpop_jkt.is_some(),
        },
        record,
    })
}

/// OIDC Core §2 ID token, RS256, with `at_hash` (§3.1.3.6) and profile/email claims by scope.
fn sign_id_token(
    state: &AppState,
    ctx: &IssueContext<'_>,
    access_token: &str,
    now: Timestamp,
) -> Result<String, FlowError> {
    let iat = now.unix_seconds();
    let digest = Sha256::digest(access_token.as_bytes());
    let mut claims = json!({
        "iss": state.issuer.as_str(),
        "sub": ctx.user.user_id.as_str(),
        "aud": ctx.client.client_id.as_str(),
        "iat": iat,
        "exp": iat + ctx.client.id_token_lifetime,
        "auth_time": ctx.auth_time.unix_seconds(),
        "at_hash": URL_SAFE_NO_PAD.encode(&digest[..16]),
    });
    if let Some(nonce) = &ctx.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(sid) = &ctx.session_id {
        claims["sid"] = json!(sid.as_str());
    }
    add_profile_claims(&mut claims, ctx.user, &ctx.scope);
    Ok(state.keys.sign(SigningAlg::Rs256, &claims)?)
}

/// Builds a new refresh-token family (not yet stored) of `scope` for what
/// `ctx` names, and its secret.
pub fn new_family(
    refresh_secrets: &RefreshSecrets,
    ctx: &IssueContext<'_>,
    scope: &ScopeSet,
    meta: &RequestMeta,
    now: Timestamp,
) -> (NewFamily, String) {
    let id = FamilyId::from(secrets::hex_id(16));
    let secret = refresh_secrets.issue(id.as_str(), 0);
    let client = ctx.client;
    let (expires_at, idle_expires_at) = lifetimes_at_issue(&client.refresh_token, now);
    let family = NewFamily {
        id,
        user_id: ctx.user.user_id.clone(),
        client_id: client.client_id.clone(),
        grant_id: ctx.grant.id.clone(),
        grant_epoch: ctx.grant.token_epoch,
        session_id: ctx.session_id.clone(),
        audience: ctx.audience.audience.clone(),
        scope: scope.to_wire(),
        rotating: client.refresh_token.rotation_type == RotationType::Rotating,
        device_name: ctx.device_name.clone(),
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        auth_time: ctx.auth_time,
        created_at: now,
        expires_at,
        idle_expires_at,
        secret_hash: TokenHash::of(&secret),
        // RFC 9449 §5: a public client's refresh token is bound to the
        // proof's key; a confidential client's is already sender-constrained
        // by its authentication.
        dpop_jkt: ctx
            .dpop_jkt
            .clone()
            .filter(|_| client.token_endpoint_auth_method.is_public()),
    };
    (family, secret)
}

/// Mints and records the tokens of a user flow (code, device, password).
#[tracing::instrument(level = "debug", skip_all)]
pub async fn issue_for_user(
    state: &AppState,
    mut ctx: IssueContext<'_>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<IssuedTokens, FlowError> {
    let offline = offline_allowed(ctx.client, ctx.audience, &ctx.scope);
    if !offline {
        ctx.scope = ctx
            .scope
            .iter()
            .filter(|s| *s != "offline_access")
            .collect();
    }
    let family = offline.then(|| new_family(&state.refresh_secrets, &ctx, &ctx.scope, meta, now));
    let minted = mint_access(state, &ctx, family.as_ref().map(|(f, _)| &f.id), now)?;
    let (family, refresh_token) = match family {
        Some((f, secret)) => (Some(f), Some(secret)),
        None => (None, None),
    };
    let (success, _) = super::audit::exchange_codes(ctx.grant_type);
    let event = super::audit::event(success, "Tokens issued", now)
        .client(&ctx.client.client_id)
        .user(&ctx.user.user_id)
        .meta(meta)
        .detail("audience", ctx.audience.audience.clone().into())
        .detail("scope", minted.tokens.scope.clone().into())
        .detail(
            "refresh_token_id",
            family.as_ref().map(|f| f.id.to_string()).into(),
        );
    // Multi-Resource Refresh Tokens: the policy APIs it reaches, bound now.
    // Only for the sign-ins Auth0 names (code and password): a device
    // approval's page names one API, and a phished user code must not
    // reach the others.
    let binds = matches!(
        ctx.grant_type,
        GrantType::AuthorizationCode | GrantType::Password
    );
    let resources = match &family {
        Some(_) if binds => {
            super::multi_resource::bindings_at_issue(state, ctx.client, &ctx.audience.audience)
                .await?
        }
        _ => vec![],
    };
    let batch = IssueBatch {
        family,
        access_token: minted.record,
        code_hash: ctx.code_hash,
        event: Some(event),
        resources,
        resources_of: None,
    };
    state.store.issue_tokens(&batch, now).await?;
    Ok(IssuedTokens {
        refresh_token,
        ..minted.tokens
    })
}
