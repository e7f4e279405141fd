//! `/api/v2/client-grants`: which client may get machine tokens for which API,
//! with which scopes. Lists page by offset or, with `from`/`take`, by checkpoint.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::{ClientGrant, ClientId, ScopeSet};
use grantor_store::{ClientGrantFilter, PageRequest, StoreError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::messages;
use super::{ApiError, ApiJson, ApiQuery, Caller, FieldParams, ListParams};
use crate::flows::audit::EventExt;
use crate::flows::RequestMeta;
use crate::http::AppState;
use crate::secrets;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientGrantBody {
    client_id: String,
    audience: String,
    scope: Vec<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientGrantBody {
    scope: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientGrantQuery {
    client_id: Option<String>,
    audience: Option<String>,
}

pub fn render(g: &ClientGrant) -> Value {
    json!({
        "id": g.id,
        "client_id": g.client_id.as_str(),
        "audience": g.audience,
        "scope": g.scope.to_vec(),
        "subject_type": "client",
    })
}

fn not_found() -> ApiError {
    ApiError::not_found(messages::GRANT_DOES_NOT_EXIST, "inexistent_client_grant")
}

/// The API `audience` names, which must exist, and `scope` checked against it.
async fn checked_scopes(
    state: &AppState,
    audience: &str,
    scope: Vec<String>,
) -> Result<ScopeSet, ApiError> {
    let api = state
        .store
        .resource_server_by_identifier(audience)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(
                messages::client_grants::RESOURCE_SERVER_NOT_FOUND,
                "inexistent_resource_server",
            )
        })?;
    Ok(api.defined_scopes(scope)?)
}

#[utoipa::path(
    get,
    path = "/client-grants",
    tag = "client-grants",
    params(crate::http::management::ListParams, ClientGrantQuery),
    responses(
        (status = 200, description = "Offset paging: a bare array or `{start, limit, total, client_grants}`; with `from`/`take`: `{client_grants, next}`, `next` absent on the last page", body = Object),
        (status = 400, description = "Bad query", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:client_grants"]))
)]
pub async fn list_client_grants(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<ClientGrantQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:client_grants"])?;
    let checkpoint = params.from.is_some() || params.take.is_some();
    let mut filter = ClientGrantFilter {
        client_id: query.client_id.map(ClientId::from),
        audience: query.audience,
        after_id: None,
    };
    if !checkpoint {
        let page = state
            .store
            .list_client_grants(&filter, params.page_request()?)
            .await?;
        return Ok(Json(params.offset_envelope(
            "client_grants",
            page,
            render,
        )?));
    }
    let take = params.take()?;
    let cursors = super::cursor::Cursors::new(
        &state,
        "client_grants",
        &[
            filter.client_id.as_ref().map(ClientId::as_str),
            filter.audience.as_deref(),
        ],
    );
    filter.after_id = cursors.open(params.from.as_deref())?;
    let page = state
        .store
        .list_client_grants(
            &filter,
            PageRequest {
                offset: 0,
                limit: take + 1,
            },
        )
        .await?;
    let has_more = page.items.len() as i64 > take;
    let items: Vec<&ClientGrant> = page.items.iter().take(take as usize).collect();
    let next = has_more
        .then(|| items.last().map(|g| cursors.seal(&g.id)))
        .flatten();
    let rendered = items.into_iter().map(render).collect();
    Ok(Json(params.checkpoint_envelope(
        "client_grants",
        rendered,
        next,
        Some(page.total),
    )))
}

#[utoipa::path(
    get,
    path = "/client-grants/{id}",
    tag = "client-grants",
    params(("id" = String, Path, description = "The client grant's id"), crate::http::management::FieldParams),
    responses(
        (status = 200, description = "The client grant", body = Object),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown client grant", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:client_grants"]))
)]
pub async fn get_client_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:client_grants"])?;
    let grant = state.store.client_grant(&id).await?.ok_or_else(not_found)?;
    Ok(Json(fields.apply(render(&grant))))
}

#[utoipa::path(
    post,
    path = "/client-grants",
    tag = "client-grants",
    request_body = CreateClientGrantBody,
    responses(
        (status = 201, description = "The client grant", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown client or API", body = crate::http::management::openapi::ErrorBody),
        (status = 409, description = "The client already has a grant for the API", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["create:client_grants"]))
)]
pub async fn create_client_grant(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateClientGrantBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:client_grants"])?;
    let client_id = ClientId::from(body.client_id);
    if state.store.client(&client_id).await?.is_none() {
        return Err(ApiError::not_found(
            messages::client_grants::CLIENT_NOT_FOUND,
            "inexistent_client",
        ));
    }
    let scope = checked_scopes(&state, &body.audience, body.scope).await?;
    let grant = ClientGrant {
        id: format!("cgr_{}", secrets::alphanumeric(16)),
        client_id,
        audience: body.audience,
        scope,
        created_at: state.clock.now(),
    };
    let event = caller
        .audit(
            format!("Create client grant {}", grant.id),
            &meta,
            grant.created_at,
        )
        .detail("client_grant", render(&grant));
    match state.store.insert_client_grant(&grant, Some(&event)).await {
        Ok(()) => Ok((StatusCode::CREATED, Json(render(&grant))).into_response()),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "A client grant for this client and audience already exists",
            "client_grant_conflict",
        )),
        Err(StoreError::MissingReference(_)) => Err(ApiError::not_found(
            messages::client_grants::CLIENT_NOT_FOUND,
            "inexistent_client",
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    patch,
    path = "/client-grants/{id}",
    tag = "client-grants",
    params(("id" = String, Path, description = "The client grant's id")),
    request_body = UpdateClientGrantBody,
    responses(
        (status = 200, description = "The client grant", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown client grant", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["update:client_grants"]))
)]
pub async fn update_client_grant(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateClientGrantBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["update:client_grants"])?;
    let mut grant = state.store.client_grant(&id).await?.ok_or_else(not_found)?;
    if let Some(scope) = body.scope {
        grant.scope = checked_scopes(&state, &grant.audience, scope).await?;
    }
    let event = caller
        .audit(
            format!("Update client grant {id}"),
            &meta,
            state.clock.now(),
        )
        .detail("client_grant", render(&grant));
    state
        .store
        .update_client_grant(&grant, Some(&event))
        .await?;
    Ok(Json(render(&grant)))
}

#[utoipa::path(
    delete,
    path = "/client-grants/{id}",
    tag = "client-grants",
    params(("id" = String, Path, description = "The client grant's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown client grant", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["delete:client_grants"]))
)]
pub async fn delete_client_grant(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&["delete:client_grants"])?;
    let event = caller.audit(
        format!("Delete client grant {id}"),
        &meta,
        state.clock.now(),
    );
    if !state.store.delete_client_grant(&id, Some(&event)).await? {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}
