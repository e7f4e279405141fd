//! `/api/v2/refresh-tokens` and `/api/v2/users/{id}/refresh-tokens`. A refresh
//! token here is a family (one login on one device; a rotating token keeps its
//! id across rotations). Only live tokens are shown: revoked, rotated-out and
//! expired ones are absent from lists and `GET /refresh-tokens/{id}` answers
//! 404 for them (CONTRACT §3). Every revocation goes through
//! `flows::revocation::revoke` (CONTRACT §4 rule 5).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use grantor_domain::{ClientId, FamilyId, SessionId, UserId};
use grantor_store::{FamilyRecord, RefreshTokenFilter, RevocationTarget};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::cursor::Cursors;
use super::messages::{self, revoke_refresh_tokens};
use super::metadata;
use super::openapi::ErrorBody;
use super::{accepted, iso8601, ApiError, ApiJson, ApiQuery, Caller, FieldParams, ListParams};
use crate::flows::revocation::{self, RefreshTokenSelection, UnknownSubject};
use crate::flows::{multi_resource, RequestMeta};
use crate::http::AppState;

/// The most ids one `POST /refresh-tokens/revoke` takes (reference §6.2).
const MAX_REVOKE_IDS: usize = 100;

/// Auth0's refresh token object (reference §6.2). Dates are ISO 8601 with
/// `Z`; the nullable ones are `null`, never absent. ASNs are not known to
/// grantor and are empty strings. `refresh_token_metadata` is set by
/// `PATCH /refresh-tokens/{id}` and shown on every read (`null` when none).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RefreshToken)]
pub struct RefreshTokenView {
    /// The token's id (not the secret); stays the same across rotations.
    id: String,
    user_id: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// When it expires if not used; `null` without an idle lifetime.
    #[schema(format = DateTime, required = true)]
    idle_expires_at: Option<String>,
    /// When it expires regardless of use; `null` without an absolute lifetime.
    #[schema(format = DateTime, required = true)]
    expires_at: Option<String>,
    device: Device,
    client_id: String,
    /// The browser session it came from; `null` without one (password grant).
    #[schema(required = true)]
    session_id: Option<String>,
    rotating: bool,
    /// Its own API first, then every API its client's Multi-Resource Refresh
    /// Token policies let it reach now (`refresh_token.policies`).
    resource_servers: Vec<ResourceServerScopes>,
    /// Its last exchange at `/oauth/token`; `null` before the first.
    #[schema(format = DateTime, required = true)]
    last_exchanged_at: Option<String>,
    /// Up to 25 string entries (keys and values of at most 255
    /// characters); `null` when there is none.
    #[schema(value_type = Option<Object>, required = true)]
    refresh_token_metadata: Option<Value>,
    /// DPoP (RFC 9449): `{"jkt": <thumbprint>}` of the key a public
    /// client's refresh token is bound to; absent when it is not bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    cnf: Option<Value>,
}

/// Where a refresh token was issued and last used.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RefreshTokenDevice)]
pub struct Device {
    initial_ip: String,
    initial_asn: String,
    initial_user_agent: String,
    last_ip: String,
    last_asn: String,
    last_user_agent: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceServerScopes {
    audience: String,
    /// One space-separated string, as Auth0 sends it (the SDKs reject an array).
    scopes: String,
}

pub fn view(f: &FamilyRecord) -> RefreshTokenView {
    RefreshTokenView {
        id: f.id.to_string(),
        user_id: f.user_id.to_string(),
        created_at: iso8601(f.created_at),
        idle_expires_at: f.idle_expires_at.map(iso8601),
        expires_at: f.expires_at.map(iso8601),
        device: Device {
            initial_ip: f.initial_ip.clone(),
            initial_asn: String::new(),
            initial_user_agent: f.initial_user_agent.clone(),
            last_ip: f.last_ip.clone(),
            last_asn: String::new(),
            last_user_agent: f.last_user_agent.clone(),
        },
        client_id: f.client_id.to_string(),
        session_id: f.session_id.as_ref().map(SessionId::to_string),
        rotating: f.rotating,
        resource_servers: vec![ResourceServerScopes {
            audience: f.audience.clone(),
            scopes: f.scope.clone(),
        }],
        last_exchanged_at: f.last_exchanged_at.map(iso8601),
        refresh_token_metadata: None,
        cnf: f.dpop_jkt.as_ref().map(|jkt| json!({ "jkt": jkt })),
    }
}

pub fn render(f: &FamilyRecord) -> Value {
    serde_json::to_value(view(f)).unwrap_or_default()
}

/// Renders refresh tokens with their `refresh_token_metadata` (one read).
pub async fn render_all(
    state: &AppState,
    families: &[FamilyRecord],
) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<FamilyId> = families.iter().map(|f| f.id.clone()).collect();
    let stored = metadata::by_id(state.store.refresh_token_metadata(&ids).await?);
    let mut reach = multi_resource::reach_of(state, families).await?;
    Ok(families
        .iter()
        .map(|f| {
            let mut object = render(f);
            metadata::attach(&mut object, METADATA, &stored);
            // The APIs its client's policies let it reach besides its own.
            if let (Some(list), Some(more)) = (
                object["resource_servers"].as_array_mut(),
                reach.remove(&f.id),
            ) {
                list.extend(more.into_iter().map(
                    |(audience, scope)| json!({ "audience": audience, "scopes": scope.to_wire() }),
                ));
            }
            object
        })
        .collect())
}

/// The member `PATCH /refresh-tokens/{id}` sets.
const METADATA: &str = "refresh_token_metadata";

fn token_not_found() -> ApiError {
    ApiError::not_found(
        messages::REFRESH_TOKEN_DOES_NOT_EXIST,
        "inexistent_refresh_token",
    )
}

pub(super) fn user_not_found() -> ApiError {
    ApiError::not_found(messages::USER_NOT_FOUND, "inexistent_user")
}

/// Reads one checkpoint page of live refresh tokens and renders it under `key`.
async fn checkpoint_list(
    state: &AppState,
    params: &ListParams,
    mut filter: RefreshTokenFilter,
    key: &str,
) -> Result<Value, ApiError> {
    let cursors = Cursors::new(
        state,
        key,
        &[
            filter.user_id.as_ref().map(UserId::as_str),
            filter.client_id.as_ref().map(ClientId::as_str),
        ],
    );
    filter.after_id = cursors.open(params.from.as_deref())?;
    let page = state
        .store
        .list_live_refresh_tokens(&filter, params.checkpoint_request()?, state.clock.now())
        .await?;
    let (items, next) = params.checkpoint_page(page.items, |f| f.id.to_string())?;
    Ok(params.checkpoint_envelope(
        key,
        render_all(state, &items).await?,
        next.map(|position| cursors.seal(&position)),
        Some(page.total),
    ))
}

/// `GET /refresh-tokens/{id}`: one live refresh token.
#[utoipa::path(
    get,
    path = "/refresh-tokens/{id}",
    tag = "refresh-tokens",
    params(("id" = String, Path, description = "The refresh token's id"), FieldParams),
    responses(
        (status = 200, description = "The refresh token", body = RefreshTokenView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown, revoked or expired", body = ErrorBody),
    ),
    security(("bearer" = ["read:refresh_tokens"]))
)]
pub async fn get_refresh_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    let id = FamilyId::from(id);
    caller.require(&["read:refresh_tokens"])?;
    let family = state
        .store
        .live_refresh_token(&id, state.clock.now())
        .await?
        .ok_or_else(token_not_found)?;
    let rendered = render_all(&state, std::slice::from_ref(&family)).await?;
    Ok(Json(
        fields.apply(rendered.into_iter().next().unwrap_or_default()),
    ))
}

/// `PATCH /refresh-tokens/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRefreshTokenBody {
    /// Replaces the metadata: up to 25 entries, string keys and values of
    /// at most 255 characters; `null` or `{}` removes it.
    #[serde(default, deserialize_with = "metadata::present")]
    #[schema(value_type = Option<Object>, required = true)]
    refresh_token_metadata: Option<Value>,
}

/// `PATCH /refresh-tokens/{id}`: replaces a live refresh token's
/// `refresh_token_metadata`. A revoked, expired or unknown token is 404
/// (for Auth0 it no longer exists), and nothing is written.
#[utoipa::path(
    patch,
    path = "/refresh-tokens/{id}",
    tag = "refresh-tokens",
    params(("id" = String, Path, description = "The refresh token's id")),
    request_body = UpdateRefreshTokenBody,
    responses(
        (status = 200, description = "The refresh token, with its new metadata", body = RefreshTokenView),
        (status = 400, description = "Bad body: metadata over the limits, a value that is not a string", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown, revoked or expired", body = ErrorBody),
    ),
    security(("bearer" = ["update:refresh_tokens"]))
)]
pub async fn update_refresh_token(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateRefreshTokenBody>,
) -> Result<Json<Value>, ApiError> {
    let id = FamilyId::from(id);
    caller.require(&["update:refresh_tokens"])?;
    let stored = metadata::parse(METADATA, body.refresh_token_metadata)?;
    let now = state.clock.now();
    let event = caller.audit(
        format!("Update the metadata of refresh token {id}"),
        &meta,
        now,
    );
    if !state
        .store
        .set_refresh_token_metadata(&id, stored.as_deref(), &event, now)
        .await?
    {
        return Err(token_not_found());
    }
    let family = state
        .store
        .live_refresh_token(&id, now)
        .await?
        .ok_or_else(token_not_found)?;
    let rendered = render_all(&state, std::slice::from_ref(&family)).await?;
    Ok(Json(rendered.into_iter().next().unwrap_or_default()))
}

/// `DELETE /refresh-tokens/{id}`: revokes the token (and its rotations).
/// Deleting an already revoked token is accepted again; an unknown id is 404.
#[utoipa::path(
    delete,
    path = "/refresh-tokens/{id}",
    tag = "refresh-tokens",
    params(("id" = String, Path, description = "The refresh token's id")),
    responses(
        (status = 202, description = "Revoked; `{}`", body = Object),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
    ),
    security(("bearer" = ["delete:refresh_tokens"]))
)]
pub async fn delete_refresh_token(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = FamilyId::from(id);
    caller.require(&["delete:refresh_tokens"])?;
    let target = RevocationTarget::Family { family_id: id };
    let receipt = caller.revoke(&state, &meta, target).await?;
    if !receipt.found {
        return Err(token_not_found());
    }
    Ok(accepted())
}

/// Filters of `GET /refresh-tokens`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefreshTokenQuery {
    /// Required: whose refresh tokens.
    user_id: Option<String>,
    /// Only those issued to this client.
    client_id: Option<String>,
}

/// `GET /refresh-tokens` page (doc only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct RefreshTokenPage {
    refresh_tokens: Vec<RefreshTokenView>,
    /// Cursor for `from`; absent on the last page.
    next: Option<String>,
}

/// `GET /refresh-tokens?user_id=&client_id=`: a user's live refresh tokens,
/// by id, with checkpoint paging.
#[utoipa::path(
    get,
    path = "/refresh-tokens",
    tag = "refresh-tokens",
    params(
        RefreshTokenQuery,
        ("from" = Option<String>, Query, description = "The `next` cursor of the previous page"),
        ("take" = Option<i64>, Query, description = "Items per page, 1 to 100 (default 50)"),
        FieldParams,
    ),
    responses(
        (status = 200, description = "`{refresh_tokens, next}`; `next` is absent on the last page", body = RefreshTokenPage),
        (status = 400, description = "Missing `user_id` or bad query", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown user or client", body = ErrorBody),
    ),
    security(("bearer" = ["read:refresh_tokens"]))
)]
pub async fn list_refresh_tokens(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<RefreshTokenQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:refresh_tokens"])?;
    let user_id = query
        .user_id
        .filter(|u| !u.is_empty())
        .map(UserId::from)
        .ok_or_else(|| ApiError::invalid_query(messages::MISSING_USER_ID))?;
    if state.store.user(&user_id).await?.is_none() {
        return Err(user_not_found());
    }
    let client_id = query
        .client_id
        .filter(|c| !c.is_empty())
        .map(ClientId::from);
    if let Some(client_id) = &client_id {
        if state.store.client(client_id).await?.is_none() {
            return Err(ApiError::not_found(
                messages::CLIENT_DOES_NOT_EXIST,
                "inexistent_client",
            ));
        }
    }
    let filter = RefreshTokenFilter {
        user_id: Some(user_id),
        client_id,
        after_id: None,
    };
    Ok(Json(
        checkpoint_list(&state, &params, filter, "refresh_tokens").await?,
    ))
}

/// Exactly one of `{ids}`, `{user_id}`, `{user_id, client_id}` or
/// `{user_id, client_id, audience}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRefreshTokensBody {
    /// 1 to 100 refresh-token ids; ids that do not exist are skipped.
    ids: Option<Vec<String>>,
    user_id: Option<String>,
    client_id: Option<String>,
    /// An API identifier.
    audience: Option<String>,
}

/// The body's combination, as a selection.
fn selection(body: RevokeRefreshTokensBody) -> Result<RefreshTokenSelection, ApiError> {
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    let (user_id, client_id, audience) = (
        present(body.user_id),
        present(body.client_id),
        present(body.audience),
    );
    let invalid = || ApiError::invalid_body(revoke_refresh_tokens::INVALID_COMBINATION);
    match (body.ids, user_id, client_id, audience) {
        (Some(mut ids), None, None, None) => {
            if ids.is_empty() || ids.len() > MAX_REVOKE_IDS || ids.iter().any(String::is_empty) {
                return Err(ApiError::invalid_body(format!(
                    "Payload validation error: 'ids' must hold 1 to {MAX_REVOKE_IDS} non-empty ids"
                )));
            }
            ids.sort();
            ids.dedup();
            Ok(RefreshTokenSelection::Ids(
                ids.into_iter().map(FamilyId::from).collect(),
            ))
        }
        (None, Some(_), None, Some(_)) => Err(invalid()),
        (None, Some(user_id), client_id, audience) => Ok(RefreshTokenSelection::User {
            user_id: user_id.into(),
            client_id: client_id.map(ClientId::from),
            audience,
        }),
        _ => Err(invalid()),
    }
}

/// `POST /refresh-tokens/revoke`: revokes refresh tokens by id, or all of a
/// user's (optionally for one client, and one API).
#[utoipa::path(
    post,
    path = "/refresh-tokens/revoke",
    tag = "refresh-tokens",
    request_body = RevokeRefreshTokensBody,
    responses(
        (status = 202, description = "Revoked; `{}`", body = Object),
        (status = 400, description = "Invalid combination, or unknown user, client or API", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["delete:refresh_tokens"]))
)]
pub async fn revoke_refresh_tokens(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<RevokeRefreshTokensBody>,
) -> Result<Response, ApiError> {
    caller.require(&["delete:refresh_tokens"])?;
    let selection = selection(body)?;
    let now = state.clock.now();
    let revoked =
        revocation::revoke_selection(&state, selection, &caller.actor(), &meta, now).await?;
    // Auth0 answers 400 (not 404) for what this body names (reference §6.2).
    match revoked {
        Ok(_) => Ok(accepted()),
        Err(UnknownSubject::User) => Err(ApiError::invalid_body(
            revoke_refresh_tokens::USER_NOT_FOUND,
        )),
        Err(UnknownSubject::Client) => Err(ApiError::invalid_body(
            revoke_refresh_tokens::CLIENT_NOT_FOUND,
        )),
        Err(UnknownSubject::Api) => Err(ApiError::invalid_body(
            revoke_refresh_tokens::RESOURCE_SERVER_NOT_FOUND,
        )),
    }
}

/// `GET /users/{id}/refresh-tokens` page (doc only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct UserRefreshTokenPage {
    tokens: Vec<RefreshTokenView>,
    /// Cursor for `from`; absent on the last page.
    next: Option<String>,
    /// With `include_totals=true`: how many live tokens the user has.
    total: Option<i64>,
}

/// `GET /users/{id}/refresh-tokens`: the user's live refresh tokens, by id,
/// with checkpoint paging.
#[utoipa::path(
    get,
    path = "/users/{id}/refresh-tokens",
    tag = "refresh-tokens",
    params(
        ("id" = String, Path, description = "The user's id"),
        ("from" = Option<String>, Query, description = "The `next` cursor of the previous page"),
        ("take" = Option<i64>, Query, description = "Items per page, 1 to 100 (default 50)"),
        ("include_totals" = Option<bool>, Query, description = "Adds `total`"),
        FieldParams,
    ),
    responses(
        (status = 200, description = "`{tokens, next}`; `next` is absent on the last page", body = UserRefreshTokenPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown user", body = ErrorBody),
    ),
    security(("bearer" = ["read:refresh_tokens"]))
)]
pub async fn list_user_refresh_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = UserId::from(user_id);
    caller.require(&["read:refresh_tokens"])?;
    if state.store.user(&user_id).await?.is_none() {
        return Err(user_not_found());
    }
    let filter = RefreshTokenFilter {
        user_id: Some(user_id),
        ..Default::default()
    };
    Ok(Json(
        checkpoint_list(&state, &params, filter, "tokens").await?,
    ))
}

/// `DELETE /users/{id}/refresh-tokens`: revokes every refresh token of the
/// user (one write: the user's token epoch).
#[utoipa::path(
    delete,
    path = "/users/{id}/refresh-tokens",
    tag = "refresh-tokens",
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 202, description = "Revoked; `{}`", body = Object),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown user", body = ErrorBody),
    ),
    security(("bearer" = ["delete:refresh_tokens"]))
)]
pub async fn delete_user_refresh_tokens(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(user_id): Path<String>,
) -> Result<Response, ApiError> {
    let user_id = UserId::from(user_id);
    caller.require(&["delete:refresh_tokens"])?;
    let target = RevocationTarget::User {
        user_id,
        client_id: None,
        audience: None,
    };
    let receipt = caller.revoke(&state, &meta, target).await?;
    if !receipt.found {
        return Err(user_not_found());
    }
    Ok(accepted())
}
