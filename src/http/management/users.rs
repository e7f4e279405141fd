//! `/api/v2/users`: users of the database connection
//! `Username-Password-Authentication`, passwords hashed with Argon2id.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::user::{database_user_id, normalize_email, UserPatch, DATABASE_CONNECTION};
use grantor_domain::user_search::{Condition, SearchError, TextMatch, UserSearch, UserSort};
use grantor_domain::{User, UserId};
use grantor_store::{StoreError, UserUpdate};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::messages;
use super::{iso8601, ApiError, ApiJson, ApiQuery, Caller, FieldParams, ListParams};
use crate::flows::audit::EventExt;
use crate::flows::revocation::{self, Reason, UserChange};
use crate::flows::RequestMeta;
use crate::http::AppState;
use crate::secrets;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    /// The database connection, the only one.
    #[schema(pattern = "^Username-Password-Authentication$")]
    connection: String,
    /// The id without the `auth0|` prefix (the user's id becomes
    /// `auth0|<user_id>`): 1 to 128 letters, digits, `.`, `_`, `-` or `@`.
    /// A random 24-hex id when absent; 409 when taken.
    #[schema(pattern = "^[A-Za-z0-9._@-]{1,128}$")]
    user_id: Option<String>,
    #[schema(format = Email)]
    email: String,
    /// At least 8 characters, at most 1024 bytes.
    #[schema(min_length = 8)]
    password: String,
    /// E.164, e.g. `+14155550123`.
    phone_number: Option<String>,
    phone_verified: Option<bool>,
    email_verified: Option<bool>,
    verify_email: Option<bool>,
    username: Option<String>,
    name: Option<String>,
    nickname: Option<String>,
    picture: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    blocked: Option<bool>,
    #[schema(value_type = Option<Object>)]
    app_metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    user_metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    connection: Option<String>,
    email: Option<String>,
    password: Option<String>,
    /// E.164, e.g. `+14155550123`.
    phone_number: Option<String>,
    phone_verified: Option<bool>,
    email_verified: Option<bool>,
    verify_email: Option<bool>,
    username: Option<String>,
    name: Option<String>,
    nickname: Option<String>,
    picture: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    blocked: Option<bool>,
    #[schema(value_type = Option<Object>)]
    app_metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<Object>)]
    user_metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Auth0's user search syntax, the subset grantor answers: `email:`,
    /// `user_id:`, `name:`, `blocked:`, `logins_count:` (number or
    /// `[a TO b]`), quoted phrases, a trailing `*`, `AND`/`OR`/`NOT` and
    /// parentheses. Anything else is a 400 naming it.
    q: Option<String>,
    email: Option<String>,
    /// `v3` (the default); other engines are refused.
    search_engine: Option<String>,
    /// `field:1` (ascending) or `field:-1` (descending); fields `email`,
    /// `user_id`, `name`, `created_at`, `updated_at`, `last_login`,
    /// `logins_count`.
    sort: Option<String>,
}

/// How many times `PATCH /users/{id}` reads, merges and writes when the
/// metadata keeps changing under it before it answers 409.
const PATCH_ATTEMPTS: usize = 5;

fn user_not_found() -> ApiError {
    ApiError::not_found(messages::USER_DOES_NOT_EXIST, "inexistent_user")
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
        "user_id": user.user_id.as_str(),
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
        ("phone_number", &user.phone_number),
    ] {
        if let Some(v) = value {
            body[key] = json!(v);
        }
    }
    if user.phone_number.is_some() {
        body["phone_verified"] = json!(user.phone_verified);
    }
    if let Some(t) = user.last_login {
        body["last_login"] = json!(iso8601(t));
    }
    body
}

/// `q` (Auth0's user search syntax, the subset `grantor_domain::user_search`
/// parses), or the `email` parameter, as one search.
fn search_of(query: &UserQuery) -> Result<Option<UserSearch>, ApiError> {
    match query.search_engine.as_deref() {
        None | Some("" | "v3") => {}
        Some(other) => {
            return Err(ApiError::invalid_query(format!(
                "Query validation error: search_engine '{}' is not supported; use v3",
                other.chars().take(20).collect::<String>()
            )))
        }
    }
    let refused = |e: SearchError| ApiError::invalid_query(format!("Query validation error: {e}"));
    match (
        query.q.as_deref().filter(|q| !q.trim().is_empty()),
        query.email.as_deref(),
    ) {
        (Some(q), _) => UserSearch::parse(q).map_err(refused),
        (None, Some(e)) => {
            let email = normalize_email(e).map_err(|e| ApiError::invalid_query(e.0))?;
            Ok(Some(UserSearch::Term(Condition::Email(TextMatch::Exact(
                email,
            )))))
        }
        (None, None) => Ok(None),
    }
}

#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    params(crate::http::management::ListParams, UserQuery),
    responses(
        (status = 200, description = "A bare array of users, or `{start, limit, length, total, users}` with `include_totals=true`", body = Object),
        (status = 400, description = "Bad query", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:users"]))
)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<UserQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:users"])?;
    let search = search_of(&query)?;
    let sort = query
        .sort
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(UserSort::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_query(format!("Query validation error: {e}")))?;
    let page = state
        .store
        .search_users(search.as_ref(), sort, params.page_request()?)
        .await?;
    Ok(Json(params.offset_envelope("users", page, render)?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ByEmailQuery {
    email: Option<String>,
}

#[utoipa::path(
    get,
    path = "/users-by-email",
    tag = "users",
    params(ByEmailQuery, crate::http::management::FieldParams),
    responses(
        (status = 200, description = "The users with that e-mail (an array)", body = Vec<Object>),
        (status = 400, description = "Missing `email`", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:users"]))
)]
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

#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The user's id"), crate::http::management::FieldParams),
    responses(
        (status = 200, description = "The user", body = Object),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown user", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:users"]))
)]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    let id = UserId::from(id);
    caller.require(&["read:users"])?;
    let user = state.store.user(&id).await?.ok_or_else(user_not_found)?;
    Ok(Json(fields.apply(render(&user))))
}

#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = CreateUserBody,
    responses(
        (status = 201, description = "The user", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 409, description = "The user already exists", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["create:users"]))
)]
pub async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateUserBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:users"])?;
    check_connection(&body.connection)?;
    let _ = body.verify_email; // grantor sends no e-mail; accepted for SDK compatibility.
    let user_id = UserId::from(match body.user_id.as_deref() {
        Some(id) => database_user_id(id)?,
        None => format!("auth0|{}", secrets::hex_id(12)),
    });
    let patch = UserPatch {
        email: None,
        password: Some(body.password),
        email_verified: body.email_verified,
        username: body.username,
        name: body.name,
        nickname: body.nickname,
        picture: body.picture,
        given_name: body.given_name,
        family_name: body.family_name,
        phone_number: body.phone_number,
        phone_verified: body.phone_verified,
        blocked: body.blocked,
        app_metadata: body.app_metadata.map(|m| Value::Object(m).to_string()),
        user_metadata: body.user_metadata.map(|m| Value::Object(m).to_string()),
    };
    let now = state.clock.now();
    let mut user = User::create(user_id, &body.email, &patch, now)?;
    if let Some(password) = patch.password {
        user.password_hash = state.passwords.hash(password).await?;
    }
    let event = caller
        .audit(format!("Create user {}", user.user_id), &meta, now)
        .user(user.user_id.as_str())
        .detail("email", json!(user.email));
    match state.store.insert_user_audited(&user, &event).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(render(&user))).into_response()),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            messages::USER_ALREADY_EXISTS,
            "auth0_idp_error",
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    request_body = UpdateUserBody,
    responses(
        (status = 200, description = "The user", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown user", body = crate::http::management::openapi::ErrorBody),
        (status = 409, description = "The e-mail is taken, or the metadata kept changing under the merge", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["update:users"]))
)]
pub async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateUserBody>,
) -> Result<Json<Value>, ApiError> {
    let id = UserId::from(id);
    caller.require(&["update:users"])?;
    if let Some(c) = &body.connection {
        check_connection(c)?;
    }
    let _ = body.verify_email;
    // Everything but the metadata, which is merged into what is read.
    let members = UserPatch {
        email: body.email,
        password: body.password,
        email_verified: body.email_verified,
        username: body.username,
        name: body.name,
        nickname: body.nickname,
        picture: body.picture,
        given_name: body.given_name,
        family_name: body.family_name,
        phone_number: body.phone_number,
        phone_verified: body.phone_verified,
        blocked: body.blocked,
        app_metadata: None,
        user_metadata: None,
    };
    // A merge is made from the read and written only while the stored
    // metadata is still what was read (`UserUpdate::guarding`): when another
    // request changed it meanwhile, read and merge again, so neither
    // request's keys are lost. The password is hashed once.
    let mut password_hash = None;
    for attempt in 1..=PATCH_ATTEMPTS {
        // After `Changed`, read what overtook this request (on SQLite it
        // may still be in the writer's open group commit).
        let current = if attempt == 1 {
            state.store.user(&id).await?
        } else {
            state.store.user_latest(&id).await?
        }
        .ok_or_else(user_not_found)?;
        let patch = UserPatch {
            app_metadata: body
                .app_metadata
                .clone()
                .map(|patch| merge_metadata(&current.app_metadata, patch)),
            user_metadata: body
                .user_metadata
                .clone()
                .map(|patch| merge_metadata(&current.user_metadata, patch)),
            ..members.clone()
        };
        let now = state.clock.now();
        let mut user = current.apply(&patch, now)?;
        // CONTRACT §6.3: blocking the user or setting a password ends all
        // their access in the same transaction as the change.
        let ends_access = Reason::for_user_update(&current, &patch);
        let changed = patch.changed_members();
        if let Some(password) = &patch.password {
            if password_hash.is_none() {
                password_hash = Some(state.passwords.hash(password.clone()).await?);
            }
            user.password_hash = password_hash.clone().unwrap_or_default();
        }
        let update = UserUpdate::new(current.clone(), user.clone())
            .naming(&changed)
            .guarding(&["app_metadata", "user_metadata"]);
        let written = match ends_access {
            None => {
                let event = caller
                    .audit(format!("Update user {id}"), &meta, now)
                    .user(id.as_str())
                    .detail("changed", json!(changed));
                state.store.update_user_audited(&update, &event).await
            }
            Some(reason) => {
                let change = UserChange::Update(Box::new(update));
                let actor = caller.actor();
                match revocation::change_account(
                    &state, change, &changed, reason, &actor, &meta, now,
                )
                .await
                {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => return Err(user_not_found()),
                    // Keep the store's error (an e-mail conflict is a 409).
                    Err(crate::flows::FlowError::Internal(e)) => match e.downcast::<StoreError>() {
                        Ok(store_error) => Err(store_error),
                        Err(e) => return Err(crate::flows::FlowError::Internal(e).into()),
                    },
                    Err(e) => return Err(e.into()),
                }
            }
        };
        match written {
            Ok(()) => return Ok(Json(render(&user))),
            Err(StoreError::Changed) if attempt < PATCH_ATTEMPTS => continue,
            Err(StoreError::Conflict(_)) => {
                return Err(ApiError::conflict(
                    "The specified new email already exists",
                    "email_conflict",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Changed.into())
}

#[utoipa::path(
    delete,
    path = "/users/{id}",
    tag = "users",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted (also when there was no such user)"),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["delete:users"]))
)]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = UserId::from(id);
    caller.require(&["delete:users"])?;
    // CONTRACT §6.3: the user's sessions and tokens end with the user, in
    // one transaction, audited.
    let change = UserChange::Delete { user_id: id };
    let now = state.clock.now();
    revocation::change_account(
        &state,
        change,
        &[],
        Reason::UserDeleted,
        &caller.actor(),
        &meta,
        now,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
