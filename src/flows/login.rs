//! Signing a user in with e-mail and password, and the browser sessions that
//! result: created at sign-in, found by the hash of their cookie secret,
//! renewed on use. Logout lives in `logout.rs`; revoking sessions (which also
//! revokes their refresh tokens) is the Management API's.

use grantor_domain::user::{normalize_email, DATABASE_CONNECTION};
use grantor_domain::{ClientId, SessionId, Timestamp, TokenHash, User};
use grantor_store::{AttemptCounter, AttemptReservation, SessionRecord};

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
    /// this IP, or from this IP whatever the e-mail; nothing was checked.
    TooManyAttempts,
    /// Every password-hashing place is taken and the wait ran out (or too
    /// many already wait); nothing was checked. Answered with 429.
    Busy,
}

/// Wrong passwords allowed per e-mail and IP in [`LOGIN_WINDOW_SECONDS`]
/// before sign-ins for that pair are refused (Auth0's brute-force default is
/// 10). Checks still running count too, so parallel guesses get no more.
pub const MAX_LOGIN_FAILURES: i64 = 10;
pub const LOGIN_WINDOW_SECONDS: i64 = 15 * 60;
/// Wrong passwords allowed per IP, whatever the e-mails, in
/// [`IP_LOGIN_WINDOW_SECONDS`] (Auth0's suspicious-IP throttling idea); the
/// end users' login page, the password grant and the dashboard share it.
pub const MAX_IP_LOGIN_FAILURES: i64 = 100;
pub const IP_LOGIN_WINDOW_SECONDS: i64 = 60 * 60;

/// Counter kinds (`attempt_counters.kind`).
pub const LOGIN_COUNTER: &str = "login";
pub const DASHBOARD_COUNTER: &str = "dashboard";
pub const IP_COUNTER: &str = "login_ip";

/// What brute-force rows are keyed by: the SHA-256 of the normalised
/// e-mail (or of the trimmed, lower-cased input when it is no e-mail), so no
/// username is stored.
pub fn identifier_hash(username: &str) -> String {
    let normalised = normalize_email(username)
        .unwrap_or_else(|_| username.trim().to_lowercase().chars().take(254).collect());
    TokenHash::of(&normalised).into_string()
}

/// What an attempt counter stores as its IP: [`super::client_network`] of
/// the client's address, an IPv6 network written with its `/64`.
pub fn counter_network(ip: &str) -> String {
    match ip.parse().map(super::client_network) {
        Ok(net @ std::net::IpAddr::V6(_)) => format!("{net}/64"),
        Ok(v4) => v4.to_string(),
        Err(_) => ip.to_owned(),
    }
}

/// The counter of one account (e-mail) from one IP network.
pub fn account_counter(kind: &'static str, identifier_hash: &str, ip: &str) -> AttemptCounter {
    AttemptCounter {
        kind,
        identifier_hash: identifier_hash.to_owned(),
        ip: counter_network(ip),
        limit: MAX_LOGIN_FAILURES,
        window_seconds: LOGIN_WINDOW_SECONDS,
    }
}

/// The counter of one IP, whatever the account.
pub fn ip_counter(ip: &str) -> AttemptCounter {
    AttemptCounter {
        kind: IP_COUNTER,
        identifier_hash: String::new(),
        ip: counter_network(ip),
        limit: MAX_IP_LOGIN_FAILURES,
        window_seconds: IP_LOGIN_WINDOW_SECONDS,
    }
}

impl LoginRefusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::WrongCredentials => "Wrong email or password.",
            Self::Blocked => "This account is blocked.",
            Self::TooManyAttempts => "Too many failed sign-ins. Try again in a few minutes.",
            Self::Busy => "Too many sign-ins are in progress. Try again in a moment.",
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
    let identifier = identifier_hash(username);
    let verified =
        match verify_with_limits(state, LOGIN_COUNTER, &identifier, hash, password, meta, now)
            .await?
        {
            Ok(verified) => verified,
            Err(refusal) => return Ok(Err(refusal)),
        };
    Ok(match user {
        Some(user) if verified && user.blocked => Err(LoginRefusal::Blocked),
        Some(user) if verified => Ok(user),
        _ => Err(LoginRefusal::WrongCredentials),
    })
}

/// Verifies `password` against `hash` (or a dummy Argon2id hash when there is
/// no account, so the time taken does not tell) under brute-force limits.
///
/// A password-hashing place is taken first (none within the wait: `Busy`,
/// and no counter is touched, so requests turned away for capacity are not
/// failures). Then one attempt is reserved on the account's counter (`kind`,
/// the identifier hash, the IP) and on the IP's counter *before* the password
/// is checked, in one transaction; a full counter refuses unchecked. A wrong password leaves
/// its reservation as the failure. The right one resets the account's counter
/// (Auth0 counts consecutive failures) and gives the IP's reservation back;
/// nobody can reset the IP's counter with a password of their own.
pub(crate) async fn verify_with_limits(
    state: &AppState,
    kind: &'static str,
    identifier_hash: &str,
    hash: Option<String>,
    password: &str,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Result<bool, LoginRefusal>, FlowError> {
    let Ok(permit) = state.passwords.permit().await else {
        tracing::warn!("sign-in refused: password hashing at capacity");
        return Ok(Err(LoginRefusal::Busy));
    };
    let counters = [
        account_counter(kind, identifier_hash, &meta.ip),
        ip_counter(&meta.ip),
    ];
    if let AttemptReservation::Refused { counter, .. } =
        state.store.reserve_attempts(&counters, now).await?
    {
        tracing::warn!(
            ip = %meta.ip,
            limit = counters[counter].kind,
            "sign-in refused: too many failed attempts"
        );
        return Ok(Err(LoginRefusal::TooManyAttempts));
    }
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| secrets::DUMMY_PASSWORD_HASH.to_owned());
    // Verified first, always: short-circuiting on `known` would make unknown
    // accounts answer faster.
    let verified = state
        .passwords
        .verify_with(permit, hash, password.to_owned())
        .await
        && known;
    if verified {
        let [account, ip] = counters;
        state.store.release_attempts(&[ip], &[account]).await?;
    }
    Ok(Ok(verified))
}

/// Auth0's user blocks: the IPs from which sign-ins for `identifier` (an
/// e-mail) are refused now by brute-force protection. Per-IP throttling is
/// not tied to an identifier and is not listed.
pub async fn blocked_ips(
    state: &AppState,
    identifier: &str,
    now: Timestamp,
) -> Result<Vec<String>, FlowError> {
    Ok(state
        .store
        .blocked_ips(
            LOGIN_COUNTER,
            &identifier_hash(identifier),
            MAX_LOGIN_FAILURES,
            LOGIN_WINDOW_SECONDS,
            now,
        )
        .await?)
}

/// Lifts every brute-force block of `identifier` (all IPs), with `event`
/// in the same transaction; returns how many counters there were.
pub async fn lift_blocks(
    state: &AppState,
    identifier: &str,
    event: &grantor_store::LogEvent,
) -> Result<u64, FlowError> {
    Ok(state
        .store
        .clear_attempts(LOGIN_COUNTER, &identifier_hash(identifier), Some(event))
        .await?)
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
        id: SessionId::new(secrets::alphanumeric(32)),
        user_id: user.user_id.clone(),
        cookie_hash: TokenHash::of(&cookie_secret),
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

/// A new sign-in of `active`'s own user in the same browser (`prompt=login`,
/// `max_age`): the session is kept (Auth0 keeps it and moves its
/// `authenticated_at`), its authentication and interaction times become
/// `now`, and its cookie secret is replaced, so a secret seen before the
/// sign-in stops working. `None` when the session ended meanwhile.
#[tracing::instrument(skip_all, fields(user_id = %active.user.user_id))]
pub async fn reauthenticate_session(
    state: &AppState,
    active: ActiveSession,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Option<NewSession>, FlowError> {
    let tenant = state.store.tenant_settings().await?;
    let cookie_secret = secrets::bearer_token();
    let cookie_hash = TokenHash::of(&cookie_secret);
    let idle_expires_at = now
        .plus_seconds(tenant.idle_session_lifetime.saturating_mul(3600))
        .min(active.session.expires_at);
    let kept = state
        .store
        .reauthenticate_session(
            &active.session.id,
            &cookie_hash,
            &meta.ip,
            &meta.user_agent,
            idle_expires_at,
            now,
        )
        .await?;
    if !kept {
        return Ok(None);
    }
    state
        .store
        .record_login(&active.user.user_id, &meta.ip, now)
        .await?;
    let mut session = active.session;
    session.cookie_hash = cookie_hash;
    session.authenticated_at = now;
    session.last_interacted_at = now;
    session.updated_at = now;
    session.last_ip = meta.ip.clone();
    session.last_user_agent = meta.user_agent.clone();
    session.idle_expires_at = session.idle_expires_at.max(idle_expires_at);
    Ok(Some(NewSession {
        cookie_secret,
        active: ActiveSession {
            session,
            user: active.user,
        },
    }))
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
    let Some(session) = state.store.active_session_by_cookie(&hash, now).await? else {
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
/// inactivity expiry forward (never past the absolute expiry); false when
/// the session ended meanwhile (it must not be used).
pub async fn touch_session(
    state: &AppState,
    session: &SessionRecord,
    client_id: &ClientId,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<bool, FlowError> {
    let tenant = state.store.tenant_settings().await?;
    let idle_expires_at = now
        .plus_seconds(tenant.idle_session_lifetime.saturating_mul(3600))
        .min(session.expires_at);
    Ok(state
        .store
        .touch_session(
            &session.id,
            Some(client_id),
            &meta.ip,
            &meta.user_agent,
            idle_expires_at,
            now,
        )
        .await?)
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
