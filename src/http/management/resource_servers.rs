//! `/api/v2/resource-servers`: APIs, the audiences tokens are issued for.
//! The Management API itself (`is_system`) can be read but not changed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::resource_server::ResourceServerPatch;
use grantor_domain::{ResourceServer, ScopeDefinition};
use grantor_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::messages;
use super::{ApiError, ApiJson, ApiQuery, Caller, FieldParams, ListParams};
use crate::flows::audit::{self, EventExt};
use crate::flows::RequestMeta;
use crate::http::AppState;
use crate::secrets;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    value: String,
    description: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerBody {
    identifier: Option<String>,
    name: Option<String>,
    scopes: Option<Vec<ScopeBody>>,
    signing_alg: Option<String>,
    allow_offline_access: Option<bool>,
    skip_consent_for_verifiable_first_party_clients: Option<bool>,
    token_lifetime: Option<i64>,
    token_lifetime_for_web: Option<i64>,
}

impl ResourceServerBody {
    /// The wire members as a domain patch; `ResourceServer::apply` validates them.
    fn into_patch(self) -> ResourceServerPatch {
        ResourceServerPatch {
            identifier: self.identifier,
            name: self.name,
            scopes: self.scopes.map(|scopes| {
                scopes
                    .into_iter()
                    .map(|s| ScopeDefinition {
                        value: s.value,
                        description: s.description.unwrap_or_default(),
                    })
                    .collect()
            }),
            signing_alg: self.signing_alg,
            allow_offline_access: self.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: self
                .skip_consent_for_verifiable_first_party_clients,
            token_lifetime: self.token_lifetime,
            token_lifetime_for_web: self.token_lifetime_for_web,
        }
    }
}

pub fn render(rs: &ResourceServer) -> Value {
    json!({
        "id": rs.id,
        "name": rs.name,
        "identifier": rs.identifier,
        "scopes": rs.scopes.iter().map(|s| json!({"value": s.value, "description": s.description})).collect::<Vec<_>>(),
        "signing_alg": rs.signing_alg.as_str(),
        "allow_offline_access": rs.allow_offline_access,
        "skip_consent_for_verifiable_first_party_clients": rs.skip_consent_for_verifiable_first_party_clients,
        "token_lifetime": rs.token_lifetime,
        "token_lifetime_for_web": rs.token_lifetime_for_web,
        "is_system": rs.is_system,
    })
}

fn not_found() -> ApiError {
    ApiError::not_found(
        messages::RESOURCE_SERVER_NOT_FOUND,
        "inexistent_resource_server",
    )
}

fn system_api() -> ApiError {
    ApiError::forbidden(
        "The Management API cannot be modified or deleted.",
        "operation_not_supported",
    )
}

#[utoipa::path(
    get,
    path = "/resource-servers",
    tag = "resource-servers",
    params(crate::http::management::ListParams),
    responses(
        (status = 200, description = "A bare array of APIs, or `{start, limit, total, resource_servers}` with `include_totals=true`", body = Object),
        (status = 400, description = "Bad query", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:resource_servers"]))
)]
pub async fn list_resource_servers(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:resource_servers"])?;
    let page = state
        .store
        .list_resource_servers(params.page_request()?)
        .await?;
    Ok(Json(params.offset_envelope(
        "resource_servers",
        page,
        render,
    )?))
}

/// Accepts the API's id or its identifier (audience), as Auth0 does.
#[utoipa::path(
    get,
    path = "/resource-servers/{id}",
    tag = "resource-servers",
    params(("id" = String, Path, description = "The API's id or identifier"), crate::http::management::FieldParams),
    responses(
        (status = 200, description = "The API", body = Object),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown API", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:resource_servers"]))
)]
pub async fn get_resource_server(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:resource_servers"])?;
    let rs = state
        .store
        .resource_server(&id)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(fields.apply(render(&rs))))
}

#[utoipa::path(
    post,
    path = "/resource-servers",
    tag = "resource-servers",
    request_body = ResourceServerBody,
    responses(
        (status = 201, description = "The API", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 409, description = "The identifier is taken", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["create:resource_servers"]))
)]
pub async fn create_resource_server(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(mut body): ApiJson<ResourceServerBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:resource_servers"])?;
    let identifier = body.identifier.take().ok_or_else(|| {
        ApiError::invalid_body("Payload validation error: Missing required property: identifier")
    })?;
    let now = state.clock.now();
    let rs =
        ResourceServer::new(secrets::hex_id(12), identifier, now)?.apply(&body.into_patch())?;
    let event = caller
        .audit(
            format!("Create resource server {}", rs.identifier),
            &meta,
            now,
        )
        .detail("resource_server", audit::resource_server(&rs));
    match state
        .store
        .insert_resource_server_audited(&rs, &event)
        .await
    {
        Ok(()) => Ok((StatusCode::CREATED, Json(render(&rs))).into_response()),
        Err(StoreError::Conflict(_)) => Err(ApiError::conflict(
            "A resource server with the same identifier already exists",
            "resource_server_conflict",
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    patch,
    path = "/resource-servers/{id}",
    tag = "resource-servers",
    params(("id" = String, Path, description = "The API's id or identifier")),
    request_body = ResourceServerBody,
    responses(
        (status = 200, description = "The API", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown API", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["update:resource_servers"]))
)]
pub async fn update_resource_server(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResourceServerBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["update:resource_servers"])?;
    let rs = state
        .store
        .resource_server(&id)
        .await?
        .ok_or_else(not_found)?;
    if rs.is_system {
        return Err(system_api());
    }
    let mut rs = rs.apply(&body.into_patch())?;
    rs.updated_at = state.clock.now();
    let event = caller
        .audit(
            format!("Update resource server {}", rs.identifier),
            &meta,
            rs.updated_at,
        )
        .detail("resource_server", audit::resource_server(&rs));
    state
        .store
        .update_resource_server_audited(&rs, &event)
        .await?;
    Ok(Json(render(&rs)))
}

#[utoipa::path(
    delete,
    path = "/resource-servers/{id}",
    tag = "resource-servers",
    params(("id" = String, Path, description = "The API's id or identifier")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown API", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["delete:resource_servers"]))
)]
pub async fn delete_resource_server(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&["delete:resource_servers"])?;
    let rs = state
        .store
        .resource_server(&id)
        .await?
        .ok_or_else(not_found)?;
    if rs.is_system {
        return Err(system_api());
    }
    let event = caller
        .audit(
            format!("Delete resource server {}", rs.identifier),
            &meta,
            state.clock.now(),
        )
        .detail("resource_server", audit::resource_server(&rs));
    state
        .store
        .delete_resource_server_audited(&rs.id, &event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
