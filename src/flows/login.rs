//! Signing a user in with e-mail and password, and the browser sessions that
//! result: created at sign-in, found by the hash of their cookie secret,
//! renewed on use. Logout lives in `logout.rs`; revoking sessions (which also
//! revokes their refresh tokens) is the Management API's.

use grantor_domain::user::{normalize_email, DATABASE_CONNECTION};
use grantor_domain::{Timestamp, TokenHash, User};
use grantor_store::SessionRecord;

use super::{FlowError, RequestMeta};
use crate::secrets;
use crate::state::AppState;

/// A session that is neither ended, revoked nor expired, with its user, who
/// still exists and is not blocked.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub session: SessionRecord,
    pub user: User,
}

/// A session just created; `cookie_secret` is its only copy.
pub struct NewSession {
    pub cookie_secret: String,
    pub active: ActiveSession,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("session_id", &self.active.session.id)
            .finish_non_exhaustive()
    }
}

/// Why a sign-in was refused; the text is what the login page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    WrongCredentials,
    Blocked,
    /// Brute-force protection: too many wrong passwords for this e-mail from
    /// this IP; nothing was checked.
    TooManyAttempts,
}

/// Wrong passwords allowed per e-mail and IP in [`LOGIN_WINDOW_SECONDS`]
/// before sign-ins for that pair are refused (Auth0's brute-force default is 10).
pub const MAX_LOGIN_FAILURES: i64 = 10;
pub const LOGIN_WINDOW_SECONDS: i64 = 15 * 60;

/// Per e-mail and IP, so one attacker cannot lock a user out everywhere.
fn login_key(ip: &str, email: &str) -> String {
    format!("login:{ip}:{email}")
}

impl LoginRefusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::WrongCredentials => "Wrong email or password.",
            Self::Blocked => "This account is blocked.",
            Self::TooManyAttempts => "Too many failed sign-ins. Try again in a few minutes.",
        }
    }
}

/// Checks e-mail and password against the database connection.
///
/// The password is verified even when no such user exists (against a dummy
/// Argon2id hash), so the response time does not tell which e-mails exist. A
/// blocked user is told so only after giving the right password.
#[tracing::instrument(skip_all)]
pub async fn check_credentials(
    state: &AppState,
    username: &str,
    password: &str,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Result<User, LoginRefusal>, FlowError> {
    let email = normalize_email(username).ok();
    let key = login_key(&meta.ip, email.as_deref().unwrap_or(username));
    if too_many_failures(state, &key, now).await? {
        tracing::warn!(ip = %meta.ip, "sign-in refused: too many failed attempts");
        return Ok(Err(LoginRefusal::TooManyAttempts));
    }
    let user = match &email {
        Some(email) => {
            state
                .store
                .user_by_email(DATABASE_CONNECTION, email)
                .await?
        }
        None => None,
    };
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = verify_counting_failures(state, &key, hash, password, now).await?;
    Ok(match user {
        Some(user) if verified && user.blocked => Err(LoginRefusal::Blocked),
        Some(user) if verified => Ok(user),
        _ => Err(LoginRefusal::WrongCredentials),
    })
}

/// Whether sign-ins under `key` (an account and an IP) are blocked for now:
/// [`MAX_LOGIN_FAILURES`] wrong passwords in [`LOGIN_WINDOW_SECONDS`].
pub(crate) async fn too_many_failures(
    state: &AppState,
    key: &str,
    now: Timestamp,
) -> Result<bool, FlowError> {
    let failures = state
        .store
        .recent_failures(key, LOGIN_WINDOW_SECONDS, now)
        .await?;
    Ok(failures >= MAX_LOGIN_FAILURES)
}

/// Verifies `password` against `hash`, or against a dummy Argon2id hash when
/// there is no account, so the time taken does not tell; a wrong password
/// counts as a failure under `key`.
pub(crate) async fn verify_counting_failures(
    state: &AppState,
    key: &str,
    hash: Option<String>,
    password: &str,
    now: Timestamp,
) -> Result<bool, FlowError> {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| secrets::DUMMY_PASSWORD_HASH.to_owned());
    // Verified first, always: short-circuiting on `known` would make unknown
    // accounts answer faster.
    let verified = secrets::verify_password_blocking(hash, password.to_owned()).await && known;
    if !verified {
        state
            .store
            .note_failure(key, LOGIN_WINDOW_SECONDS, now)
            .await?;
    }
    Ok(verified)
}

/// Starts a browser session for `user`: the cookie secret is random, only its
/// hash is stored; lifetimes come from the tenant settings (hours).
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn create_session(
    state: &AppState,
    user: User,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<NewSession, FlowError> {
    let tenant = state.store.tenant_settings().await?;
    let cookie_secret = secrets::bearer_token();
    let expires_at = now.plus_seconds(tenant.session_lifetime.saturating_mul(3600));
    let idle_expires_at = now
        .plus_seconds(tenant.idle_session_lifetime.saturating_mul(3600))
        .min(expires_at);
    let session = SessionRecord {
        id: secrets::alphanumeric(32),
        user_id: user.user_id.clone(),
        cookie_hash: TokenHash::of(&cookie_secret).as_str().to_owned(),
        created_at: now,
        updated_at: now,
        authenticated_at: now,
        last_interacted_at: now,
        idle_expires_at,
        expires_at,
        initial_ip: meta.ip.clone(),
        initial_user_agent: meta.user_agent.clone(),
        last_ip: meta.ip.clone(),
        last_user_agent: meta.user_agent.clone(),
        ended_at: None,
        revoked_at: None,
    };
    state.store.create_session(&session).await?;
    state
        .store
        .record_login(&user.user_id, &meta.ip, now)
        .await?;
    Ok(NewSession {
        cookie_secret,
        active: ActiveSession { session, user },
    })
}

/// The active session a cookie secret names, if any.
pub async fn active_session(
    state: &AppState,
    cookie_secret: Option<&str>,
    now: Timestamp,
) -> Result<Option<ActiveSession>, FlowError> {
    let Some(secret) = cookie_secret.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let hash = TokenHash::of(secret);
    let Some(session) = state
        .store
        .active_session_by_cookie(hash.as_str(), now)
        .await?
    else {
        return Ok(None);
    };
    let user = state
        .store
        .user(&session.user_id)
        .await?
        .filter(|u| !u.blocked);
    Ok(user.map(|user| ActiveSession { session, user }))
}

/// Records that the session was used for `client_id` and pushes its
/// inactivity expiry forward (never past the absolute expiry).
pub async fn touch_session(
    state: &AppState,
    session: &SessionRecord,
    client_id: &str,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<(), FlowError> {
    let tenant = state.store.tenant_settings().await?;
    let idle_expires_at = now
        .plus_seconds(tenant.idle_session_lifetime.saturating_mul(3600))
        .min(session.expires_at);
    state
        .store
        .touch_session(
            &session.id,
            Some(client_id),
            &meta.ip,
            &meta.user_agent,
            idle_expires_at,
            now,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHash;

    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash_with_default_cost() {
        // An unparsable dummy would return at once and tell unknown users apart.
        let parsed = PasswordHash::new(crate::secrets::DUMMY_PASSWORD_HASH).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert!(parsed.hash.is_some());
        let real = crate::secrets::hash_password("x").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(parsed.params, real.params);
    }
}
