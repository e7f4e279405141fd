//! Dashboard administrators: signing in (Argon2id, taking the same time for
//! an unknown e-mail; brute-force limits as for end users), their sessions (a random cookie secret of which only
//! the SHA-256 is stored, with an idle and an absolute expiry) and signing
//! out. Sign-ins, failed sign-ins and sign-outs are audited. What an
//! administrator then does is audited by the flow that does it, with
//! [`Actor::Admin`] as the actor.

use grantor_domain::{Timestamp, TokenHash};
use grantor_store::AdminSessionRecord;

use super::audit::{self, Actor, EventExt, EventType};
use super::login::{self, LoginRefusal};
use super::{FlowError, RequestMeta};
use crate::secrets;
use crate::state::AppState;

/// A session ends after this long without a request…
pub const SESSION_IDLE_SECONDS: i64 = 60 * 60;
/// …and in any case this long after signing in.
pub const SESSION_LIFETIME_SECONDS: i64 = 12 * 60 * 60;
/// Activity is written back at most this often per session, so that reading
/// pages does not turn into one database write per request.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// A signed-in administrator.
#[derive(Debug, Clone)]
pub struct Admin {
    pub email: String,
    pub expires_at: Timestamp,
}

impl Admin {
    pub fn actor(&self) -> Actor {
        Actor::Admin(self.email.clone())
    }
}

/// A new session: the secret goes into the cookie and nowhere else.
pub struct NewAdminSession {
    pub cookie_secret: String,
    pub admin: Admin,
}

impl std::fmt::Debug for NewAdminSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAdminSession")
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// What a sign-in attempt came to.
#[derive(Debug)]
pub enum SignIn {
    SignedIn(NewAdminSession),
    /// Wrong e-mail or password (whichever part was wrong), or too many
    /// wrong attempts for this e-mail from this IP; the text is the refusal's.
    Refused(LoginRefusal),
}

/// Checks an administrator's e-mail and password; on success starts a
/// session. Brute-force limits as on the end users' login page (a counter of
/// its own per e-mail and IP, the per-IP counter shared): after
/// [`login::MAX_LOGIN_FAILURES`] wrong attempts for one e-mail from one IP in
/// [`login::LOGIN_WINDOW_SECONDS`], attempts are refused unchecked.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<SignIn, FlowError> {
    let email: String = email.trim().to_lowercase().chars().take(254).collect();
    let stored = if email.is_empty() {
        None
    } else {
        state.store.admin_password_hash(&email).await?
    };
    let identifier = login::identifier_hash(&email);
    let verified = match login::verify_with_limits(
        state,
        login::DASHBOARD_COUNTER,
        &identifier,
        stored,
        password,
        meta,
        now,
    )
    .await?
    {
        Ok(verified) => verified,
        Err(refusal) => {
            tracing::warn!(ip = %meta.ip, ?refusal, "dashboard sign-in refused unchecked");
            return Ok(SignIn::Refused(refusal));
        }
    };
    if !verified {
        let event = audit::event(EventType::FailedLogin, "Dashboard sign-in failed", now)
            .meta(meta)
            .detail("dashboard", true.into());
        state.store.record_event(&event).await?;
        tracing::info!("dashboard sign-in refused");
        return Ok(SignIn::Refused(LoginRefusal::WrongCredentials));
    }
    let cookie_secret = secrets::bearer_token();
    let record = AdminSessionRecord {
        token_hash: TokenHash::of(&cookie_secret),
        email: email.clone(),
        created_at: now,
        last_seen_at: now,
        idle_expires_at: now.plus_seconds(SESSION_IDLE_SECONDS),
        expires_at: now.plus_seconds(SESSION_LIFETIME_SECONDS),
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
    };
    let actor = Actor::Admin(email.clone());
    let event = audit::event(
        EventType::SuccessLogin,
        "Dashboard administrator signed in",
        now,
    )
    .meta(meta)
    .detail("actor", actor.to_json());
    state.store.create_admin_session(&record, &event).await?;
    Ok(SignIn::SignedIn(NewAdminSession {
        cookie_secret,
        admin: Admin {
            email,
            expires_at: record.expires_at,
        },
    }))
}

/// The administrator a cookie secret names, if its session is live; notes
/// the activity (at most once a minute), which keeps the session from idling out.
pub async fn session(
    state: &AppState,
    cookie_secret: Option<&str>,
    now: Timestamp,
) -> Result<Option<Admin>, FlowError> {
    let Some(secret) = cookie_secret.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let hash = TokenHash::of(secret);
    let Some(record) = state.store.admin_session(&hash, now).await? else {
        return Ok(None);
    };
    if now.millis() - record.last_seen_at.millis() >= TOUCH_INTERVAL_MS {
        let idle_expires_at = now.plus_seconds(SESSION_IDLE_SECONDS);
        if !state
            .store
            .touch_admin_session(&hash, idle_expires_at, now)
            .await?
        {
            return Ok(None);
        }
    }
    Ok(Some(Admin {
        email: record.email,
        expires_at: record.expires_at,
    }))
}

/// Ends the session a cookie secret names (nothing happens for an unknown one).
pub async fn sign_out(
    state: &AppState,
    cookie_secret: Option<&str>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<(), FlowError> {
    let Some(secret) = cookie_secret.filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let hash = TokenHash::of(secret);
    let email = state
        .store
        .admin_session(&hash, now)
        .await?
        .map(|s| s.email);
    let mut event = audit::event(
        EventType::SuccessLogout,
        "Dashboard administrator signed out",
        now,
    )
    .meta(meta);
    if let Some(email) = email {
        event = event.detail("actor", Actor::Admin(email).to_json());
    }
    state
        .store
        .delete_admin_session(&hash, Some(&event))
        .await?;
    Ok(())
}
