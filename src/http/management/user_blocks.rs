//! `/api/v2/user-blocks`: Auth0's view of brute-force protection. A block is
//! an (identifier, IP) pair whose failed sign-ins reached the limit inside
//! the window (`flows::login`); listing shows the IPs, deleting lifts every
//! block of the identifier at once. Looked up by e-mail (`identifier`) or by
//! user id; only the SHA-256 of the e-mail is stored, so the identifier shown
//! is the one asked about (or the user's e-mail).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::user::DATABASE_CONNECTION;
use grantor_domain::UserId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::messages;
use super::openapi::ErrorBody;
use super::{ApiError, ApiQuery, Caller};
use crate::flows::audit::EventExt;
use crate::flows::login;
use crate::flows::RequestMeta;
use crate::http::AppState;

/// One blocked pair.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBlock {
    identifier: String,
    ip: String,
    connection: String,
}

/// Auth0's answer: `{"blocked_for": [...]}`, empty when nothing is blocked.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBlocks {
    blocked_for: Vec<UserBlock>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IdentifierQuery {
    /// The e-mail signed in with.
    identifier: Option<String>,
    /// Accepted for Auth0 compatibility; brute-force protection is always on.
    #[allow(dead_code)]
    consider_brute_force_enablement: Option<bool>,
}

fn identifier(query: IdentifierQuery) -> Result<String, ApiError> {
    query
        .identifier
        .map(|i| i.trim().to_owned())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::invalid_query("Missing required 'identifier' parameter."))
}

/// The e-mail of a user of the database connection, or 404.
async fn user_email(state: &AppState, id: &UserId) -> Result<String, ApiError> {
    state
        .store
        .user(id)
        .await?
        .filter(|u| u.connection == DATABASE_CONNECTION)
        .map(|u| u.email)
        .ok_or_else(|| ApiError::not_found(messages::USER_DOES_NOT_EXIST, "inexistent_user"))
}

async fn render(state: &AppState, identifier: String) -> Result<Json<UserBlocks>, ApiError> {
    let ips = login::blocked_ips(state, &identifier, state.clock.now()).await?;
    Ok(Json(UserBlocks {
        blocked_for: ips
            .into_iter()
            .map(|ip| UserBlock {
                identifier: identifier.clone(),
                ip,
                connection: DATABASE_CONNECTION.to_owned(),
            })
            .collect(),
    }))
}

async fn lift(
    state: &AppState,
    caller: &Caller,
    meta: &RequestMeta,
    identifier: &str,
    user_id: Option<&UserId>,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let mut event = caller.audit("Lift brute-force blocks", meta, now);
    if let Some(user_id) = user_id {
        event = event.user(user_id);
    }
    login::lift_blocks(state, identifier, &event).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /user-blocks?identifier=`: the IPs blocked for an e-mail.
#[utoipa::path(
    get,
    path = "/user-blocks",
    tag = "user-blocks",
    params(IdentifierQuery),
    responses(
        (status = 200, description = "The blocks", body = UserBlocks),
        (status = 400, description = "Missing `identifier`", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["read:users"]))
)]
pub async fn get_blocks_by_identifier(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<IdentifierQuery>,
) -> Result<Json<UserBlocks>, ApiError> {
    caller.require(&["read:users"])?;
    render(&state, identifier(query)?).await
}

/// `DELETE /user-blocks?identifier=`: lifts every block of an e-mail.
#[utoipa::path(
    delete,
    path = "/user-blocks",
    tag = "user-blocks",
    params(IdentifierQuery),
    responses(
        (status = 204, description = "Lifted (also when nothing was blocked)"),
        (status = 400, description = "Missing `identifier`", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["update:users"]))
)]
pub async fn delete_blocks_by_identifier(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiQuery(query): ApiQuery<IdentifierQuery>,
) -> Result<Response, ApiError> {
    caller.require(&["update:users"])?;
    let identifier = identifier(query)?;
    lift(&state, &caller, &meta, &identifier, None).await
}

/// `GET /user-blocks/{id}`: the IPs blocked for a user's e-mail.
#[utoipa::path(
    get,
    path = "/user-blocks/{id}",
    tag = "user-blocks",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The blocks", body = UserBlocks),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown user", body = ErrorBody),
    ),
    security(("bearer" = ["read:users"]))
)]
pub async fn get_user_blocks(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<UserBlocks>, ApiError> {
    let id = UserId::from(id);
    caller.require(&["read:users"])?;
    let email = user_email(&state, &id).await?;
    render(&state, email).await
}

/// `DELETE /user-blocks/{id}`: lifts every block of a user's e-mail.
#[utoipa::path(
    delete,
    path = "/user-blocks/{id}",
    tag = "user-blocks",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Lifted (also when nothing was blocked)"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown user", body = ErrorBody),
    ),
    security(("bearer" = ["update:users"]))
)]
pub async fn delete_user_blocks(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = UserId::from(id);
    caller.require(&["update:users"])?;
    let email = user_email(&state, &id).await?;
    lift(&state, &caller, &meta, &email, Some(&id)).await
}
