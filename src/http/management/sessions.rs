//! `/api/v2/sessions` and `/api/v2/users/{id}/sessions`: browser sessions.
//! Only live sessions are shown: an ended (signed out), revoked or expired
//! session is absent from lists and `GET /sessions/{id}` answers 404 for it.
//! Deleting or revoking a session revokes the refresh tokens bound to it
//! (CONTRACT §4 rule 5), so those calls need `delete:refresh_tokens` as well
//! as `delete:sessions` (CONTRACT §3: "+ `delete:refresh_tokens` where tokens
//! are revoked"); `revoke-access` with `preserve_refresh_tokens: true` needs
//! only `delete:sessions`. Every revocation goes through
//! `flows::revocation::revoke`.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use grantor_domain::{SessionId, UserId};
use grantor_store::{RevocationTarget, SessionDetails, SessionFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::cursor::Cursors;
use super::messages;
use super::metadata;
use super::openapi::ErrorBody;
use super::refresh_tokens::user_not_found;
use super::{accepted, iso8601, ApiError, ApiJson, ApiQuery, Caller, FieldParams, ListParams};
use crate::flows::revocation::{self, AccessRefusal, AccessSelection};
use crate::flows::RequestMeta;
use crate::http::AppState;

/// Auth0's session object (reference §6.3). grantor signs in with a password
/// only, and its session cookie carries a `Max-Age`, so `authentication`
/// lists one `pwd` method and `cookie.mode` is `persistent`. ASNs are not
/// known to grantor and are empty strings.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Session)]
pub struct SessionView {
    id: String,
    user_id: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    authenticated_at: String,
    #[schema(format = DateTime)]
    idle_expires_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    #[schema(format = DateTime)]
    last_interacted_at: String,
    device: SessionDevice,
    /// The clients the session signed in to.
    clients: Vec<SessionClient>,
    authentication: Authentication,
    cookie: Cookie,
    /// Set by `PATCH /sessions/{id}`: up to 25 string entries; `null` when
    /// there is none.
    #[schema(value_type = Option<Object>, required = true)]
    session_metadata: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDevice {
    initial_user_agent: String,
    initial_ip: String,
    initial_asn: String,
    last_user_agent: String,
    last_ip: String,
    last_asn: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionClient {
    client_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Authentication {
    methods: Vec<AuthenticationMethod>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthenticationMethod {
    /// `pwd`: a password.
    name: String,
    #[schema(format = DateTime)]
    timestamp: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Cookie {
    /// `persistent`.
    mode: String,
}

fn render(d: &SessionDetails) -> Value {
    let s = &d.session;
    let view = SessionView {
        id: s.id.to_string(),
        user_id: s.user_id.to_string(),
        created_at: iso8601(s.created_at),
        updated_at: iso8601(s.updated_at),
        authenticated_at: iso8601(s.authenticated_at),
        idle_expires_at: iso8601(s.idle_expires_at),
        expires_at: iso8601(s.expires_at),
        last_interacted_at: iso8601(s.last_interacted_at),
        device: SessionDevice {
            initial_user_agent: s.initial_user_agent.clone(),
            initial_ip: s.initial_ip.clone(),
            initial_asn: String::new(),
            last_user_agent: s.last_user_agent.clone(),
            last_ip: s.last_ip.clone(),
            last_asn: String::new(),
        },
        clients: d
            .client_ids
            .iter()
            .map(|c| SessionClient {
                client_id: c.to_string(),
            })
            .collect(),
        authentication: Authentication {
            methods: vec![AuthenticationMethod {
                name: "pwd".to_owned(),
                timestamp: iso8601(s.authenticated_at),
            }],
        },
        cookie: Cookie {
            mode: "persistent".to_owned(),
        },
        session_metadata: None,
    };
    serde_json::to_value(view).unwrap_or_default()
}

/// The member `PATCH /sessions/{id}` sets.
const METADATA: &str = "session_metadata";

/// Renders sessions with their `session_metadata` (one read).
async fn render_all(state: &AppState, sessions: &[SessionDetails]) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<SessionId> = sessions.iter().map(|d| d.session.id.clone()).collect();
    let stored = metadata::by_id(state.store.session_metadata(&ids).await?);
    Ok(sessions
        .iter()
        .map(|d| {
            let mut object = render(d);
            metadata::attach(&mut object, METADATA, &stored);
            object
        })
        .collect())
}

fn session_not_found() -> ApiError {
    ApiError::not_found(messages::SESSION_DOES_NOT_EXIST, "inexistent_session")
}

/// The scopes a session-revoking call needs: `delete:sessions`, and
/// `delete:refresh_tokens` too when refresh tokens go with the sessions.
fn require_revoke_scopes(caller: &Caller, revokes_tokens: bool) -> Result<(), ApiError> {
    caller.require(&["delete:sessions"])?;
    if revokes_tokens {
        caller.require(&["delete:refresh_tokens"])?;
    }
    Ok(())
}

/// `GET /sessions/{id}`: one live session.
#[utoipa::path(
    get,
    path = "/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id (`sid`)"), FieldParams),
    responses(
        (status = 200, description = "The session", body = SessionView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown, ended, revoked or expired", body = ErrorBody),
    ),
    security(("bearer" = ["read:sessions"]))
)]
pub async fn get_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    let id = SessionId::from(id);
    caller.require(&["read:sessions"])?;
    let session = state
        .store
        .live_session(&id, state.clock.now())
        .await?
        .ok_or_else(session_not_found)?;
    let rendered = render_all(&state, std::slice::from_ref(&session)).await?;
    Ok(Json(
        fields.apply(rendered.into_iter().next().unwrap_or_default()),
    ))
}

/// `PATCH /sessions/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSessionBody {
    /// Replaces the metadata: up to 25 entries, string keys and values of
    /// at most 255 characters; `null` or `{}` removes it.
    #[serde(default, deserialize_with = "metadata::present")]
    #[schema(value_type = Option<Object>, required = true)]
    session_metadata: Option<Value>,
}

/// `PATCH /sessions/{id}`: replaces a live session's `session_metadata`. An
/// ended, revoked, expired or unknown session is 404, and nothing is written.
#[utoipa::path(
    patch,
    path = "/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id (`sid`)")),
    request_body = UpdateSessionBody,
    responses(
        (status = 200, description = "The session, with its new metadata", body = SessionView),
        (status = 400, description = "Bad body: metadata over the limits, a value that is not a string", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown, ended, revoked or expired", body = ErrorBody),
    ),
    security(("bearer" = ["update:sessions"]))
)]
pub async fn update_session(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateSessionBody>,
) -> Result<Json<Value>, ApiError> {
    let id = SessionId::from(id);
    caller.require(&["update:sessions"])?;
    let stored = metadata::parse(METADATA, body.session_metadata)?;
    let now = state.clock.now();
    let event = caller.audit(format!("Update the metadata of session {id}"), &meta, now);
    if !state
        .store
        .set_session_metadata(&id, stored.as_deref(), &event, now)
        .await?
    {
        return Err(session_not_found());
    }
    let session = state
        .store
        .live_session(&id, now)
        .await?
        .ok_or_else(session_not_found)?;
    let rendered = render_all(&state, std::slice::from_ref(&session)).await?;
    Ok(Json(rendered.into_iter().next().unwrap_or_default()))
}

/// `DELETE /sessions/{id}` and `POST /sessions/{id}/revoke`: both revoke the
/// session and the refresh tokens bound to it.
async fn revoke_one(
    state: AppState,
    caller: Caller,
    meta: RequestMeta,
    session_id: SessionId,
) -> Result<Response, ApiError> {
    require_revoke_scopes(&caller, true)?;
    let target = RevocationTarget::Session {
        session_id,
        tokens: true,
    };
    if !caller.revoke(&state, &meta, target).await?.found {
        return Err(session_not_found());
    }
    Ok(accepted())
}

/// `DELETE /sessions/{id}`: revokes the session and its refresh tokens.
/// An already revoked or ended session is accepted again; unknown is 404.
#[utoipa::path(
    delete,
    path = "/sessions/{id}",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 202, description = "Revoked; `{}`", body = Object),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
    ),
    security(("bearer" = ["delete:sessions", "delete:refresh_tokens"]))
)]
pub async fn delete_session(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = SessionId::from(id);
    revoke_one(state, caller, meta, id).await
}

/// `POST /sessions/{id}/revoke`: revokes the session and its refresh tokens.
#[utoipa::path(
    post,
    path = "/sessions/{id}/revoke",
    tag = "sessions",
    params(("id" = String, Path, description = "The session's id")),
    responses(
        (status = 202, description = "Revoked; `{}`", body = Object),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
    ),
    security(("bearer" = ["delete:sessions", "delete:refresh_tokens"]))
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = SessionId::from(id);
    revoke_one(state, caller, meta, id).await
}

/// `GET /users/{id}/sessions` page (doc only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct UserSessionPage {
    sessions: Vec<SessionView>,
    /// Cursor for `from`; absent on the last page.
    next: Option<String>,
    /// With `include_totals=true`: how many live sessions the user has.
    total: Option<i64>,
}

/// `GET /users/{id}/sessions`: the user's live sessions, by id, with
/// checkpoint paging.
#[utoipa::path(
    get,
    path = "/users/{id}/sessions",
    tag = "sessions",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("from" = Option<String>, Query, description = "The `next` cursor of the previous page"),
        ("take" = Option<i64>, Query, description = "Items per page, 1 to 100 (default 50)"),
        ("include_totals" = Option<bool>, Query, description = "Adds `total`"),
        FieldParams,
    ),
    responses(
        (status = 200, description = "`{sessions, next}`; `next` is absent on the last page", body = UserSessionPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown user", body = ErrorBody),
    ),
    security(("bearer" = ["read:sessions"]))
)]
pub async fn list_user_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = UserId::from(user_id);
    caller.require(&["read:sessions"])?;
    if state.store.user(&user_id).await?.is_none() {
        return Err(user_not_found());
    }
    let cursors = Cursors::new(&state, "sessions", &[Some(user_id.as_str())]);
    let filter = SessionFilter {
        after_id: cursors.open(params.from.as_deref())?,
        user_id: Some(user_id),
    };
    let page = state
        .store
        .list_live_sessions(&filter, params.checkpoint_request()?, state.clock.now())
        .await?;
    let (items, next) = params.checkpoint_page(page.items, |d| d.session.id.to_string())?;
    Ok(Json(params.checkpoint_envelope(
        "sessions",
        render_all(&state, &items).await?,
        next.map(|position| cursors.seal(&position)),
        Some(page.total),
    )))
}

/// `DELETE /users/{id}/sessions`: revokes every session of the user and the
/// refresh tokens bound to them (refresh tokens without a session stay).
#[utoipa::path(
    delete,
    path = "/users/{id}/sessions",
    tag = "sessions",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 202, description = "Revoked; `{}`", body = Object),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown user", body = ErrorBody),
    ),
    security(("bearer" = ["delete:sessions", "delete:refresh_tokens"]))
)]
pub async fn delete_user_sessions(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    let user_id = UserId::from(user_id);
    require_revoke_scopes(&caller, true)?;
    let target = RevocationTarget::UserSessions {
        user_id,
        tokens: true,
    };
    if !caller.revoke(&state, &meta, target).await?.found {
        return Err(user_not_found());
    }
    Ok(accepted())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeAccessBody {
    /// Only this session (and its refresh tokens); default: every session
    /// and every refresh token of the user.
    session_id: Option<String>,
    /// Keep the refresh tokens; only the sessions go (default `false`).
    preserve_refresh_tokens: Option<bool>,
}

/// `POST /users/{id}/revoke-access`: revokes the user's sessions (or one) and,
/// unless `preserve_refresh_tokens`, their refresh tokens: with `session_id`
/// those bound to that session, without it every refresh token of the user.
#[utoipa::path(
    post,
    path = "/users/{id}/revoke-access",
    tag = "sessions",
    params(("id" = String, Path, description = "The user's id")),
    request_body = RevokeAccessBody,
    responses(
        (status = 202, description = "Revoked; `{}`", body = Object),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope (`delete:refresh_tokens` is needed unless `preserve_refresh_tokens`)", body = ErrorBody),
        (status = 404, description = "Unknown user, or a session that is not the user's", body = ErrorBody),
    ),
    security(("bearer" = ["delete:sessions", "delete:refresh_tokens"]))
)]
pub async fn revoke_user_access(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(user_id): Path<String>,
    ApiJson(body): ApiJson<RevokeAccessBody>,
) -> Result<Response, ApiError> {
    let user_id = UserId::from(user_id);
    let keep_refresh_tokens = body.preserve_refresh_tokens.unwrap_or(false);
    require_revoke_scopes(&caller, !keep_refresh_tokens)?;
    let selection = AccessSelection {
        user_id,
        session_id: body
            .session_id
            .filter(|s| !s.is_empty())
            .map(SessionId::from),
        keep_refresh_tokens,
    };
    let now = state.clock.now();
    match revocation::revoke_access(&state, selection, &caller.actor(), &meta, now).await? {
        Ok(_) => Ok(accepted()),
        Err(AccessRefusal::UnknownUser) => Err(user_not_found()),
        Err(AccessRefusal::NotTheUsersSession) => Err(session_not_found()),
    }
}
