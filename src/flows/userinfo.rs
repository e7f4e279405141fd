//! `/userinfo` (OIDC Core §5.3): whose claims an access token may read. The
//! token must be ours, unexpired, include the userinfo audience and carry
//! `openid`; its subject must still exist and not be blocked.

use grantor_domain::{ScopeSet, Timestamp, User, UserId};

use super::{dpop, FlowError};
use crate::state::AppState;

/// The user an access token speaks for, and the scopes that release their
/// claims (`crate::claims`).
#[derive(Debug)]
pub struct UserInfo {
    pub user: User,
    pub scope: ScopeSet,
}

/// Why a presented access token reads nothing (each is `invalid_token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not ours, expired, not for the userinfo audience, or without `openid`.
    InvalidToken,
    /// Its user was deleted or blocked since it was issued.
    UserGone,
    /// RFC 9449 §7: a DPoP-bound token presented as a bearer token, a
    /// bearer token under the DPoP scheme, or a proof that is missing, bad
    /// or made with another key.
    BadProof,
    /// `--require-dpop-nonce`: a sound proof without a current server nonce
    /// (RFC 9449 §9; the client retries with the one it is sent).
    UseNonce,
}

/// How the access token was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme<'a> {
    Bearer,
    /// `Authorization: DPoP`, with the request's `DPoP` header values, its
    /// method and the URL it was sent to.
    Dpop {
        proofs: &'a [&'a str],
        method: &'a str,
    },
}

pub async fn userinfo(
    state: &AppState,
    access_token: &str,
    scheme: Scheme<'_>,
    now: Timestamp,
) -> Result<Result<UserInfo, Refusal>, FlowError> {
    let audience = state.issuer.url("userinfo");
    let Ok(claims) = state.keys.verify_access_token(
        access_token,
        state.issuer.as_str(),
        Some(&audience),
        now.unix_seconds(),
    ) else {
        return Ok(Err(Refusal::InvalidToken));
    };
    let scope = ScopeSet::parse(claims["scope"].as_str().unwrap_or_default());
    if !scope.contains("openid") {
        return Ok(Err(Refusal::InvalidToken));
    }
    // RFC 9449 §7: a bound token only with a proof from its key, under the
    // DPoP scheme; an unbound one only as a bearer token.
    let bound = claims["cnf"]["jkt"].as_str();
    match (scheme, bound) {
        (Scheme::Bearer, None) => {}
        (Scheme::Dpop { proofs, method }, Some(jkt)) => {
            let key = match dpop::check(state, proofs, method, &audience, Some(access_token), now)
                .await
            {
                Ok(key) => key,
                Err(FlowError::OAuth(e))
                    if e.kind == grantor_domain::OAuthErrorKind::UseDpopNonce =>
                {
                    return Ok(Err(Refusal::UseNonce))
                }
                Err(FlowError::OAuth(_)) => return Ok(Err(Refusal::BadProof)),
                Err(e) => return Err(e),
            };
            if key.as_ref().map(|k| k.jkt.as_str()) != Some(jkt) {
                return Ok(Err(Refusal::BadProof));
            }
        }
        _ => return Ok(Err(Refusal::BadProof)),
    }
    let Some(user_id) = claims["sub"].as_str().map(UserId::from) else {
        return Ok(Err(Refusal::InvalidToken));
    };
    Ok(match state.store.user(&user_id).await? {
        Some(user) if !user.blocked => Ok(UserInfo { user, scope }),
        _ => Err(Refusal::UserGone),
    })
}
