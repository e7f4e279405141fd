//! The browser side of the authorization code flow (RFC 6749 §4.1, OIDC Core
//! §3.1): validating `/authorize`, keeping the pending request between the
//! login and consent pages, deciding whether consent is needed, and issuing
//! the code. Device activation (`device_authorization.rs`) runs through the
//! same steps with a [`Target::Device`]; redeeming codes is the token
//! endpoint's (`token/authorization_code.rs`). `params.rs` validates the
//! request; `consent.rs` decides whether to ask. A `request_uri` is taken
//! from `flows::par` before anything else.

mod consent;
pub(crate) mod params;

use std::borrow::Cow;

use grantor_domain::{Client, ClientId, ScopeSet, Timestamp, TokenHash};
use grantor_store::{AuthorizationCodeRecord, StoreError, UserGrant};
use serde::{Deserialize, Serialize};

use super::audience::{self, UserAudience};
use super::audit::{self, EventExt, EventType};
use super::login::{self, ActiveSession, LoginRefusal, NewSession};
use super::{FlowError, RequestMeta};
use crate::secrets;
use crate::state::AppState;

use self::consent::{consent_view, decide_consent, Consent};
use self::params::validate;
pub use self::params::AuthorizeParams;

/// How long a pending request waits for the user to sign in and consent.
pub const PENDING_REQUEST_SECONDS: i64 = 600;
/// Authorization code lifetime (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const CODE_LIFETIME_SECONDS: i64 = 60;

/// A browser request that can neither go on nor be reported to the client:
/// the user sees an error page.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("{message}")]
    Page {
        kind: BrowserErrorKind,
        message: Cow<'static, str>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Why a browser request stopped; the pages choose the status from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrowserErrorKind {
    /// The request is malformed, unknown or expired, or names something
    /// that no longer exists.
    Invalid,
    /// The request is understood but not allowed: the client or the API it
    /// names refuses it.
    Refused,
}

impl BrowserError {
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Page {
            kind: BrowserErrorKind::Invalid,
            message: message.into(),
        }
    }

    pub fn refused(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Page {
            kind: BrowserErrorKind::Refused,
            message: message.into(),
        }
    }

    fn expired_request() -> Self {
        Self::invalid(
            "This sign-in request has expired or is unknown. Return to the application and start again.",
        )
    }
}

impl From<FlowError> for BrowserError {
    fn from(e: FlowError) -> Self {
        match e {
            FlowError::OAuth(e) => Self::invalid(e.description),
            FlowError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<StoreError> for BrowserError {
    fn from(e: StoreError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}

/// How the code (or error) travels back to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// A 303 redirect with the parameters in the query.
    Query,
    /// An auto-submitting HTML form (OAuth 2.0 Form Post Response Mode).
    FormPost,
}

/// What a pending request ends in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// An authorization code sent to `redirect_uri`.
    Code {
        redirect_uri: String,
        /// Whether the request named `redirect_uri` (else it is the client's
        /// only callback); the token request must then repeat it.
        #[serde(default)]
        redirect_uri_sent: bool,
        response_mode: ResponseMode,
        state: Option<String>,
        nonce: Option<String>,
        code_challenge: Option<String>,
        device_name: Option<String>,
        /// RFC 9449 §10: the code is bound to this DPoP key (`dpop_jkt`).
        #[serde(default)]
        dpop_jkt: Option<String>,
    },
    /// Approving a device code (RFC 8628 §3.3). The device's request, as
    /// recorded at `/oauth/device/code`, is shown on the consent page.
    Device {
        user_code_hash: String,
        #[serde(default)]
        device_ip: String,
        #[serde(default)]
        device_user_agent: String,
        /// When the device asked, in milliseconds since the epoch.
        #[serde(default)]
        requested_at_ms: i64,
    },
}

/// A validated request waiting for the login and consent pages, stored as
/// JSON under a random id that the pages' forms carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRequest {
    pub client_id: String,
    pub audience: String,
    /// Requested scopes the audience can grant, space-separated.
    pub scope: String,
    /// `prompt=consent`: show the consent page even if a grant covers the scopes.
    #[serde(default)]
    pub force_consent: bool,
    /// `login_hint`, trimmed and bounded: only ever the login page's
    /// pre-filled e-mail.
    #[serde(default)]
    pub login_hint: Option<String>,
    /// `prompt=login` or `max_age` asked for a new sign-in: the session
    /// that finishes this request must have authenticated at or after this
    /// instant (milliseconds), whichever page (login or consent) is posted.
    #[serde(default)]
    pub authenticated_after: Option<i64>,
    pub target: Target,
}

/// Where the browser goes next.
#[derive(Debug)]
pub enum Step {
    Login(LoginView),
    Consent(ConsentView),
    /// Back to the client, with a code or an error.
    Redirect(ClientRedirect),
    DeviceConnected,
    DeviceDenied,
}

#[derive(Debug, Clone)]
pub struct LoginView {
    pub request_id: String,
    pub app_name: String,
    /// The request's `login_hint`, to pre-fill the e-mail field.
    pub login_hint: Option<String>,
    /// The client's `redirect_uri` when the request ends in a code: posting
    /// the form may redirect there, so the page's CSP `form-action` names it.
    pub redirect_uri: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConsentView {
    pub request_id: String,
    pub app_name: String,
    /// The API's name, or a description of the userinfo audience.
    pub api_name: String,
    pub audience: String,
    pub user_email: String,
    pub scopes: Vec<ScopeLine>,
    /// As in [`LoginView`].
    pub redirect_uri: Option<String>,
    /// For a device approval: which device asked, so the user can tell it is
    /// theirs (RFC 8628 §5.4).
    pub device: Option<DeviceRequestView>,
}

/// The device request a device-flow consent page names.
#[derive(Debug, Clone)]
pub struct DeviceRequestView {
    pub ip: String,
    pub user_agent: String,
    pub requested_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct ScopeLine {
    pub value: String,
    pub description: String,
}

/// A response to the client's redirection endpoint. Every one, success or
/// error, carries `iss` (RFC 9207), so that a client talking to several
/// servers can tell which one answered (mix-up attacks, RFC 9700 §4.4).
#[derive(Debug, Clone)]
pub struct ClientRedirect {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

impl ClientRedirect {
    fn error(
        issuer: &str,
        redirect_uri: &str,
        response_mode: ResponseMode,
        state: Option<&str>,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        // RFC 6749 §4.1.2.1: error, error_description, and state if one was
        // sent; RFC 9207: iss.
        let mut params = vec![
            ("error", error.to_owned()),
            ("error_description", description.into()),
        ];
        if let Some(state) = state {
            params.push(("state", state.to_owned()));
        }
        params.push(("iss", issuer.to_owned()));
        Self {
            redirect_uri: redirect_uri.to_owned(),
            response_mode,
            params,
        }
    }

    /// The redirect URI with the parameters appended to its query.
    pub fn location(&self) -> String {
        let query = serde_urlencoded::to_string(&self.params).unwrap_or_default();
        let separator = if self.redirect_uri.ends_with(['?', '&']) {
            ""
        } else if self.redirect_uri.contains('?') {
            "&"
        } else {
            "?"
        };
        format!("{}{separator}{query}", self.redirect_uri)
    }
}

/// Why a request stopped: an error page, or an error sent to the client.
enum Rejected {
    Page(BrowserError),
    Client(ClientRedirect),
}

impl From<BrowserError> for Rejected {
    fn from(e: BrowserError) -> Self {
        Self::Page(e)
    }
}

impl From<StoreError> for Rejected {
    fn from(e: StoreError) -> Self {
        Self::Page(e.into())
    }
}

impl From<FlowError> for Rejected {
    fn from(e: FlowError) -> Self {
        Self::Page(e.into())
    }
}

fn settle(rejected: Rejected) -> Result<Step, BrowserError> {
    match rejected {
        Rejected::Page(e) => Err(e),
        Rejected::Client(redirect) => Ok(Step::Redirect(redirect)),
    }
}

/// A pending request with what it refers to, loaded for one step.
pub(crate) struct Loaded {
    /// `None` while the request has not been saved (`prompt=none`).
    request_id: Option<String>,
    pending: PendingRequest,
    client: Client,
    audience: UserAudience,
}

impl Loaded {
    /// A request validated now and not yet saved, for [`begin`].
    pub(crate) fn unsaved(pending: PendingRequest, client: Client, audience: UserAudience) -> Self {
        Self {
            request_id: None,
            pending,
            client,
            audience,
        }
    }

    fn requested(&self) -> ScopeSet {
        ScopeSet::parse(&self.pending.scope)
    }

    fn login_view(&self) -> LoginView {
        LoginView {
            request_id: self.request_id.clone().unwrap_or_default(),
            app_name: self.client.name.clone(),
            login_hint: self.pending.login_hint.clone(),
            redirect_uri: self.redirect_uri(),
        }
    }

    /// Whether `session` signed in recently enough for this request (see
    /// [`PendingRequest::authenticated_after`]).
    fn accepts(&self, session: &ActiveSession) -> bool {
        self.pending
            .authenticated_after
            .is_none_or(|after| session.session.authenticated_at.0 >= after)
    }

    /// The client's `redirect_uri`, for a request that ends in a code.
    fn redirect_uri(&self) -> Option<String> {
        match &self.pending.target {
            Target::Code { redirect_uri, .. } => Some(redirect_uri.clone()),
            Target::Device { .. } => None,
        }
    }

    /// An error for the client when the target is a redirect; a page otherwise.
    fn reject(&self, app: &AppState, error: &'static str, description: &str) -> Rejected {
        match &self.pending.target {
            Target::Code {
                redirect_uri,
                response_mode,
                state,
                ..
            } => Rejected::Client(ClientRedirect::error(
                app.issuer.as_str(),
                redirect_uri,
                *response_mode,
                state.as_deref(),
                error,
                description,
            )),
            Target::Device { .. } => Rejected::Page(BrowserError::refused(description.to_owned())),
        }
    }
}

/// `GET /authorize`: validates the request, then shows the login page, the
/// consent page, or sends the code at once when a session and a grant exist.
#[tracing::instrument(skip_all, fields(client_id = ?params.client_id))]
pub async fn start(
    state: &AppState,
    params: AuthorizeParams,
    session: Option<ActiveSession>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Step, BrowserError> {
    // RFC 9126 §4: a pushed request replaces the query's parameters.
    let params = match params.request_uri.clone() {
        Some(request_uri) => super::par::take(state, &params, &request_uri, now).await?,
        None => params,
    };
    let (mut loaded, prompt) = match validate(state, params).await {
        Ok(v) => v,
        Err(rejected) => return settle(rejected),
    };
    loaded.pending.authenticated_after = prompt.sign_in_after(now);
    let must_sign_in = session
        .as_ref()
        .is_some_and(|s| prompt.needs_sign_in(s.session.authenticated_at, now));
    if prompt.none {
        // OIDC Core §3.1.2.1: no page may be shown; a session older than
        // `max_age` counts as none.
        let Some(session) = session.filter(|_| !must_sign_in) else {
            return settle(loaded.reject(state, "login_required", "Login required"));
        };
        return match decide_consent(state, &loaded, &session, now).await? {
            Consent::Ask => settle(loaded.reject(state, "consent_required", "Consent required")),
            Consent::Granted(grant) => complete(state, &loaded, &session, &grant, meta, now).await,
        };
    }
    begin(state, loaded, session, must_sign_in, meta, now).await
}

/// Saves an [unsaved](Loaded::unsaved) request, then shows the login page
/// (no session, or `force_login`) or goes on to consent. With `force_login`
/// the request remembers that only a sign-in from now on may finish it.
pub(crate) async fn begin(
    state: &AppState,
    mut loaded: Loaded,
    session: Option<ActiveSession>,
    force_login: bool,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Step, BrowserError> {
    let request_id = secrets::bearer_token();
    if force_login {
        loaded.pending.authenticated_after = Some(now.0);
    }
    let json = serde_json::to_string(&loaded.pending).map_err(anyhow::Error::new)?;
    state
        .store
        .save_authorization_request(
            &request_id,
            &json,
            now,
            now.plus_seconds(PENDING_REQUEST_SECONDS),
        )
        .await?;
    loaded.request_id = Some(request_id);
    match session {
        Some(session) if !force_login => proceed(state, &loaded, &session, meta, now).await,
        _ => Ok(Step::Login(loaded.login_view())),
    }
}

/// What the login form led to.
#[derive(Debug)]
pub enum LoginResult {
    /// Wrong credentials or a blocked user: the login page again, no session.
    Refused {
        view: LoginView,
        refusal: LoginRefusal,
    },
    /// A new session (its cookie must be set) and the next step.
    SignedIn {
        session: Box<NewSession>,
        step: Step,
    },
    /// The request could not go on (e.g. its API vanished): the next step.
    Stopped(Step),
}

/// The login form was posted for a pending request.
#[tracing::instrument(skip_all)]
pub async fn login(
    state: &AppState,
    request_id: &str,
    username: &str,
    password: &str,
    previous: Option<ActiveSession>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<LoginResult, BrowserError> {
    let loaded = match load(state, request_id, now).await {
        Ok(loaded) => loaded,
        Err(rejected) => return settle(rejected).map(LoginResult::Stopped),
    };
    let user = match login::check_credentials(state, username, password, meta, now).await? {
        Ok(user) => user,
        Err(refusal) => {
            if refusal == LoginRefusal::Blocked {
                tracing::info!("sign-in refused: user is blocked");
            }
            return Ok(LoginResult::Refused {
                view: loaded.login_view(),
                refusal,
            });
        }
    };
    // The same user signing in again (`prompt=login`, `max_age`) keeps the
    // browser's session with a new authentication time and cookie secret.
    let (previous, renewed) = match previous {
        Some(previous) if previous.user.user_id == user.user_id => {
            match login::reauthenticate_session(state, previous, meta, now).await? {
                Some(renewed) => (None, Some(renewed)),
                None => (None, None),
            }
        }
        other => (other, None),
    };
    // Another user's sign-in replaces the browser's previous session.
    if let Some(previous) = previous {
        let event = audit::event(
            EventType::SuccessLogout,
            "Session ended by a new sign-in in the same browser",
            now,
        )
        .user(&previous.session.user_id)
        .detail(
            "session_id",
            serde_json::Value::String(previous.session.id.to_string()),
        )
        .meta(meta);
        state
            .store
            .end_session(&previous.session.id, &event, now)
            .await?;
        state.outbox.wake();
    }
    let session = match renewed {
        Some(renewed) => renewed,
        None => login::create_session(state, user, meta, now).await?,
    };
    let step = proceed(state, &loaded, &session.active, meta, now).await?;
    Ok(LoginResult::SignedIn {
        session: Box::new(session),
        step,
    })
}

/// The consent form was posted: Accept records the grant and finishes,
/// Decline tells the client `access_denied` (or denies the device).
#[tracing::instrument(skip_all, fields(accept))]
pub async fn consent(
    state: &AppState,
    request_id: &str,
    accept: bool,
    session: Option<ActiveSession>,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Step, BrowserError> {
    let loaded = match load(state, request_id, now).await {
        Ok(loaded) => loaded,
        Err(rejected) => return settle(rejected),
    };
    let Some(session) = session else {
        // The session ended between the pages: sign in again.
        return Ok(Step::Login(loaded.login_view()));
    };
    if !loaded.accepts(&session) {
        // `prompt=login` or `max_age`: the page to post was the login form.
        return Ok(Step::Login(loaded.login_view()));
    }
    if !accept {
        state.store.delete_authorization_request(request_id).await?;
        return match &loaded.pending.target {
            Target::Code { .. } => {
                settle(loaded.reject(state, "access_denied", "User did not authorize the request"))
            }
            Target::Device { user_code_hash, .. } => {
                state
                    .store
                    .deny_device_code(&TokenHash::from_stored(user_code_hash.as_str()), now)
                    .await?;
                Ok(Step::DeviceDenied)
            }
        };
    }
    let grant = consent::record_grant(state, &loaded, &session, now).await?;
    complete(state, &loaded, &session, &grant, meta, now).await
}

/// Reads a pending request and what it refers to.
async fn load(state: &AppState, request_id: &str, now: Timestamp) -> Result<Loaded, Rejected> {
    let json = state
        .store
        .authorization_request(request_id, now)
        .await?
        .ok_or_else(BrowserError::expired_request)?;
    let pending: PendingRequest = serde_json::from_str(&json).map_err(|e| {
        BrowserError::Internal(anyhow::Error::new(e).context("reading a pending request"))
    })?;
    let client = state
        .store
        .client(&ClientId::from(&pending.client_id))
        .await?
        .ok_or_else(|| BrowserError::invalid("The application no longer exists."))?;
    let audience = match audience::resolve(state, Some(&pending.audience)).await {
        Ok(audience) => audience,
        Err(FlowError::OAuth(e)) => {
            let partial = Loaded {
                request_id: Some(request_id.to_owned()),
                pending,
                client,
                audience: UserAudience {
                    audience: String::new(),
                    api: None,
                },
            };
            return Err(partial.reject(state, e.kind.code(), &e.description));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Loaded {
        request_id: Some(request_id.to_owned()),
        pending,
        client,
        audience,
    })
}

/// With a session: the consent page, or finish at once.
async fn proceed(
    state: &AppState,
    loaded: &Loaded,
    session: &ActiveSession,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Step, BrowserError> {
    match decide_consent(state, loaded, session, now).await? {
        Consent::Ask => Ok(Step::Consent(consent_view(loaded, session))),
        Consent::Granted(grant) => complete(state, loaded, session, &grant, meta, now).await,
    }
}

/// Finishes a consented request: issues the code and sends it to the client,
/// or approves the device code.
async fn complete(
    state: &AppState,
    loaded: &Loaded,
    session: &ActiveSession,
    grant: &UserGrant,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Step, BrowserError> {
    if !loaded.accepts(session) {
        return Ok(Step::Login(loaded.login_view()));
    }
    if !login::touch_session(state, &session.session, &loaded.client.client_id, meta, now).await? {
        return Err(BrowserError::invalid(
            "Your session ended while this request was in progress. Sign in again.",
        ));
    }
    let scope = loaded.requested().intersection(&grant.scope);
    let step = match &loaded.pending.target {
        Target::Code {
            redirect_uri,
            redirect_uri_sent,
            response_mode,
            state: client_state,
            nonce,
            code_challenge,
            device_name,
            dpop_jkt,
        } => {
            let code = secrets::bearer_token();
            state
                .store
                .insert_authorization_code(&AuthorizationCodeRecord {
                    code_hash: TokenHash::of(&code),
                    client_id: loaded.client.client_id.clone(),
                    user_id: session.user.user_id.clone(),
                    session_id: Some(session.session.id.clone()),
                    grant_id: grant.id.clone(),
                    redirect_uri: redirect_uri.clone(),
                    redirect_uri_sent: *redirect_uri_sent,
                    audience: loaded.audience.audience.clone(),
                    scope: scope.to_wire(),
                    nonce: nonce.clone(),
                    code_challenge: code_challenge.clone(),
                    device_name: device_name.clone(),
                    auth_time: session.session.authenticated_at,
                    created_at: now,
                    expires_at: now.plus_seconds(CODE_LIFETIME_SECONDS),
                    dpop_jkt: dpop_jkt.clone(),
                })
                .await?;
            let mut params = vec![("code", code)];
            if let Some(client_state) = client_state {
                params.push(("state", client_state.clone()));
            }
            params.push(("iss", state.issuer.as_str().to_owned()));
            Step::Redirect(ClientRedirect {
                redirect_uri: redirect_uri.clone(),
                response_mode: *response_mode,
                params,
            })
        }
        Target::Device { user_code_hash, .. } => {
            let approved = state
                .store
                .approve_device_code(
                    &TokenHash::from_stored(user_code_hash.as_str()),
                    &session.user.user_id,
                    &session.session.id,
                    &grant.id,
                    session.session.authenticated_at,
                    now,
                )
                .await?;
            if !approved {
                return Err(BrowserError::invalid(
                    "This device code has expired or was already used. Start again on your device.",
                ));
            }
            Step::DeviceConnected
        }
    };
    if let Some(request_id) = &loaded.request_id {
        state.store.delete_authorization_request(request_id).await?;
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_appends_to_an_existing_query() {
        let r = ClientRedirect {
            redirect_uri: "https://app.example/cb?x=1".to_owned(),
            response_mode: ResponseMode::Query,
            params: vec![("code", "a b".to_owned()), ("state", "s&t".to_owned())],
        };
        assert_eq!(
            r.location(),
            "https://app.example/cb?x=1&code=a+b&state=s%26t"
        );
        let r = ClientRedirect {
            redirect_uri: "https://app.example/cb".to_owned(),
            ..r
        };
        assert_eq!(r.location(), "https://app.example/cb?code=a+b&state=s%26t");
    }
}
