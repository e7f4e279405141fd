//! `/api/v2/users`: users of the database connection
//! `Username-Password-Authentication`, passwords hashed with Argon2id.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::user::{normalize_email, validate_password, DATABASE_CONNECTION};
use grantor_domain::{User, ValidationError};
use grantor_store::{StoreError, UserFilter};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{iso8601, ApiError, ApiJson, ApiQuery, Caller, FieldParams, ListParams};
use crate::http::AppState;
use crate::secrets;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    connection: String,
    email: String,
    password: String,
    email_verified: Option<bool>,
    verify_email: Option<bool>,
    username: Option<String>,
    name: Option<String>,
    nickname: Option<String>,
    picture: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    blocked: Option<bool>,
    app_metadata: Option<Map<String, Value>>,
    user_metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    connection: Option<String>,
    email: Option<String>,
    password: Option<String>,
    email_verified: Option<bool>,
    verify_email: Option<bool>,
    username: Option<String>,
    name: Option<String>,
    nickname: Option<String>,
    picture: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    blocked: Option<bool>,
    app_metadata: Option<Map<String, Value>>,
    user_metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserQuery {
    q: Option<String>,
    email: Option<String>,
}

fn user_not_found() -> ApiError {
    ApiError::not_found("The user does not exist.", "inexistent_user")
}

fn check_connection(connection: &str) -> Result<(), ApiError> {
    if connection == DATABASE_CONNECTION {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "The connection does not exist.",
            "inexistent_connection",
        ))
    }
}

fn check_text(field: &str, value: &Option<String>, max: usize) -> Result<(), ValidationError> {
    match value {
        Some(v) if v.len() > max => Err(ValidationError::new(format!(
            "{field} is limited to {max} characters"
        ))),
        _ => Ok(()),
    }
}

/// Auth0 merges metadata one level deep; a `null` member removes the key.
fn merge_metadata(current: &str, patch: Map<String, Value>) -> String {
    let mut merged: Map<String, Value> = serde_json::from_str(current).unwrap_or_default();
    for (k, v) in patch {
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    Value::Object(merged).to_string()
}

pub fn render(user: &User) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!({}));
    let mut body = json!({
        "user_id": user.user_id,
        "email": user.email,
        "email_verified": user.email_verified,
        "name": user.name,
        "nickname": user.nickname,
        "created_at": iso8601(user.created_at),
        "updated_at": iso8601(user.updated_at),
        "identities": [{
            "connection": user.connection,
            "user_id": user.identity_id(),
            "provider": "auth0",
            "isSocial": false,
        }],
        "app_metadata": parse(&user.app_metadata),
        "user_metadata": parse(&user.user_metadata),
        "blocked": user.blocked,
        "logins_count": user.logins_count,
    });
    for (key, value) in [
        ("username", &user.username),
        ("picture", &user.picture),
        ("given_name", &user.given_name),
        ("family_name", &user.family_name),
        ("last_ip", &user.last_ip),
    ] {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    if let Some(t) = user.last_login {
        body["last_login"] = json!(iso8601(t));
    }
    body
}

/// Supports the `q` forms used to find a user by e-mail: `email:"a@b.c"` or `email:a@b.c`.
fn email_from_q(q: &str) -> Result<String, ApiError> {
    let value = q.trim().strip_prefix("email:").ok_or_else(|| {
        ApiError::invalid_query("Query validation error: only q=email:\"…\" is supported")
    })?;
    let value = value.trim().trim_matches('"');
    normalize_email(value).map_err(|e| ApiError::invalid_query(e.0))
}

pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:users"])?;
    let email = match (
        query.q.as_deref().filter(|q| !q.is_empty()),
        query.email.as_deref(),
    ) {
        (Some(q), _) => Some(email_from_q(q)?),
        (None, Some(e)) => Some(normalize_email(e).map_err(|e| ApiError::invalid_query(e.0))?),
        (None, None) => None,
    };
    let filter = UserFilter {
        email,
        email_contains: None,
    };
    let page = state
        .store
        .list_users(&filter, params.page_request()?)
        .await?;
    Ok(Json(params.offset_envelope("users", page, render)?))
}

#[derive(Debug, Deserialize)]
pub struct ByEmailQuery {
    email: Option<String>,
}

pub async fn users_by_email(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ByEmailQuery>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:users"])?;
    let email = query.email.as_deref().ok_or_else(|| {
        ApiError::invalid_query("Query validation error: Missing required property: email")
    })?;
    let email = normalize_email(email).map_err(|e| ApiError::invalid_query(e.0))?;
    let user = state
        .store
        .user_by_email(DATABASE_CONNECTION, &email)
        .await?;
    Ok(Json(Value::Array(
        user.iter().map(|u| fields.apply(render(u))).collect(),
    )))
}

pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:users"])?;
    let user = state.store.user(&id).await?.ok_or_else(user_not_found)?;
    Ok(Json(fields.apply(render(&user))))
}

pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUserBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:users"])?;
    check_connection(&body.connection)?;
    let email = normalize_email(&body.email)?;
    validate_password(&body.password)?;
    for (field, value) in [
        ("username", &body.username),
        ("name", &body.name),
        ("nickname", &body.nickname),
        ("given_name", &body.given_name),
        ("family_name", &body.family_name),
    ] {
        check_text(field, value, 300)?;
    }
    check_text("picture", &body.picture, 2048)?;
    let _ = body.verify_email; // grantor sends no e-mail; accepted for SDK compatibility.
    let now = state.clock.now();
    let local_part = email.split('@').next().unwrap_or_default().to_owned();
    let user = User {
        user_id: format!("auth0|{}", secrets::hex_id(12)),
        connection: DATABASE_CONNECTION.to_owned(),
        name: body.name.unwrap_or_else(|| email.clone()),
        nickname: body.nickname.unwrap_or(local_part),
        email,
        email_verified: body.email_verified.unwrap_or(false),
        username: body.username,
        picture: body.picture,
        given_name: body.given_name,
        family_name: body.family_name,
        blocked: body.blocked.unwrap_or(false),
        app_metadata: Value::Object(body.app_metadata.unwrap_or_default()).to_string(),
        user_metadata: Value::Object(body.user_metadata.unwrap_or_default()).to_string(),
        password_hash: secrets::hash_password_blocking(body.password)
            .await
            .map_err(ApiError::internal)?,
        created_at: now,
        updated_at: now,
        last_login: None,
        last_ip: None,
        logins_count: 0,
    };
    match state.store.insert_user(&user).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(render(&user))).into_response()),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "The user already exists.",
            "auth0_idp_error",
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["update:users"])?;
    let mut user = state.store.user(&id).await?.ok_or_else(user_not_found)?;
    if let Some(c) = &body.connection {
        check_connection(c)?;
    }
    if let Some(email) = &body.email {
        user.email = normalize_email(email)?;
    }
    if let Some(password) = body.password {
        validate_password(&password)?;
        user.password_hash = secrets::hash_password_blocking(password)
            .await
            .map_err(ApiError::internal)?;
    }
    for (field, value) in [
        ("username", &body.username),
        ("name", &body.name),
        ("nickname", &body.nickname),
        ("given_name", &body.given_name),
        ("family_name", &body.family_name),
    ] {
        check_text(field, value, 300)?;
    }
    check_text("picture", &body.picture, 2048)?;
    let _ = body.verify_email;
    if let Some(v) = body.email_verified {
        user.email_verified = v;
    }
    if let Some(v) = body.blocked {
        user.blocked = v;
    }
    if let Some(v) = body.username {
        user.username = Some(v);
    }
    if let Some(v) = body.name {
        user.name = v;
    }
    if let Some(v) = body.nickname {
        user.nickname = v;
    }
    if let Some(v) = body.picture {
        user.picture = Some(v);
    }
    if let Some(v) = body.given_name {
        user.given_name = Some(v);
    }
    if let Some(v) = body.family_name {
        user.family_name = Some(v);
    }
    if let Some(patch) = body.app_metadata {
        user.app_metadata = merge_metadata(&user.app_metadata, patch);
    }
    if let Some(patch) = body.user_metadata {
        user.user_metadata = merge_metadata(&user.user_metadata, patch);
    }
    user.updated_at = state.clock.now();
    match state.store.update_user(&user).await {
        Ok(()) => Ok(Json(render(&user))),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "The specified new email already exists",
            "email_conflict",
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&["delete:users"])?;
    state.store.delete_user(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
