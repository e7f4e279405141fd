//! `/api/v2/grants`: user grants (a user's consent for one client and one
//! API). Deleting a grant revokes every refresh token issued under it and
//! removes the consent, so the next `/authorize` asks again (CONTRACT §4
//! rule 2); it goes through `flows::revocation::revoke`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::{ClientId, GrantId, UserId};
use grantor_store::{DeleteGrant, GrantFilter, RevocationTarget, UserGrant};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::messages;
use super::openapi::ErrorBody;
use super::{ApiError, ApiQuery, Caller, ListParams};
use crate::flows::RequestMeta;
use crate::http::AppState;

/// Auth0's `UserGrant`; note `clientID`, camel-cased on the wire (reference §10).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UserGrant)]
pub struct GrantView {
    id: String,
    #[serde(rename = "clientID")]
    client_id: String,
    user_id: String,
    audience: String,
    /// The consented scopes, possibly empty.
    scope: Vec<String>,
}

fn render(g: &UserGrant) -> Value {
    let view = GrantView {
        id: g.id.to_string(),
        client_id: g.client_id.to_string(),
        user_id: g.user_id.to_string(),
        audience: g.audience.clone(),
        scope: g.scope.to_vec(),
    };
    serde_json::to_value(view).unwrap_or_default()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    user_id: Option<String>,
    client_id: Option<String>,
    /// An API identifier.
    audience: Option<String>,
}

/// `GET /grants` page with `include_totals=true` (doc only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct GrantPage {
    start: i64,
    limit: i64,
    total: i64,
    grants: Vec<GrantView>,
}

/// `GET /grants`: user grants, oldest first, offset paging.
#[utoipa::path(
    get,
    path = "/grants",
    tag = "grants",
    params(GrantQuery, ListParams),
    responses(
        (status = 200, description = "A bare array, or `{start, limit, total, grants}` with `include_totals=true`", body = GrantPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["read:grants"]))
)]
pub async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<GrantQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:grants"])?;
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    let filter = GrantFilter {
        user_id: present(query.user_id).map(UserId::from),
        client_id: present(query.client_id).map(ClientId::from),
        audience: present(query.audience),
    };
    let page = state
        .store
        .list_grants(&filter, params.page_request()?)
        .await?;
    Ok(Json(params.offset_envelope("grants", page, render)?))
}

/// `DELETE /grants/{id}`: deletes the grant and revokes its refresh tokens.
/// Auth0 documents no 404 here; grantor answers 404 for an unknown id.
#[utoipa::path(
    delete,
    path = "/grants/{id}",
    tag = "grants",
    params(("id" = String, Path, description = "The grant's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
    ),
    security(("bearer" = ["delete:grants"]))
)]
pub async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = GrantId::from(id);
    caller.require(&["delete:grants"])?;
    let target = RevocationTarget::Grant {
        grant_id: id,
        delete_grant: DeleteGrant::Yes,
    };
    if !caller.revoke(&state, &meta, target).await?.found {
        return Err(ApiError::not_found(
            messages::GRANT_DOES_NOT_EXIST,
            "inexistent_grant",
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteGrantsQuery {
    /// Required: whose grants to delete.
    user_id: Option<String>,
}

/// `DELETE /grants?user_id=`: deletes every grant of the user (and revokes
/// their refresh tokens) in one revocation, one statement. A user without
/// grants, or an unknown one, is answered 204 too: there is nothing left to
/// delete.
#[utoipa::path(
    delete,
    path = "/grants",
    tag = "grants",
    params(DeleteGrantsQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Missing `user_id`", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["delete:grants"]))
)]
pub async fn delete_grants_by_user(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiQuery(query): ApiQuery<DeleteGrantsQuery>,
) -> Result<Response, ApiError> {
    caller.require(&["delete:grants"])?;
    let user_id = query
        .user_id
        .filter(|u| !u.is_empty())
        .map(UserId::from)
        .ok_or_else(|| ApiError::invalid_query(messages::MISSING_USER_ID))?;
    let target = RevocationTarget::UserGrants { user_id };
    caller.revoke(&state, &meta, target).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
