//! `/api/v2/device-credentials`: Auth0's older view of refresh tokens as
//! devices. In grantor a device credential of type `refresh_token` is a live
//! refresh-token family (its id is the family id, as in
//! `/refresh-tokens/{id}`); grantor stores no public keys, and shows rotating
//! families as `refresh_token` too, so `type=public_key` and
//! `type=rotating_refresh_token` list nothing. Deleting one revokes that
//! refresh token ("unlink device", reference §11.3).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::{ClientId, FamilyId, UserId};
use grantor_store::{FamilyRecord, Page, RefreshTokenFilter, RevocationTarget};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::openapi::ErrorBody;
use super::{ApiError, ApiQuery, Caller, ListParams};
use crate::flows::RequestMeta;
use crate::http::AppState;

const REFRESH_TOKEN: &str = "refresh_token";
/// Types Auth0 knows that grantor has none of.
const OTHER_TYPES: &[&str] = &["public_key", "rotating_refresh_token"];

/// Auth0's `DeviceCredential`. `device_id` is absent: refresh tokens have none.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeviceCredential)]
pub struct DeviceCredentialView {
    /// The refresh token's id.
    id: String,
    /// The device name the client gave (`device` at `/authorize`), else the
    /// user agent that signed in.
    device_name: String,
    /// Always `refresh_token`.
    #[serde(rename = "type")]
    credential_type: String,
    user_id: String,
    client_id: String,
}

fn render(f: &FamilyRecord) -> Value {
    let view = DeviceCredentialView {
        id: f.id.to_string(),
        device_name: f
            .device_name
            .clone()
            .unwrap_or_else(|| f.initial_user_agent.clone()),
        credential_type: REFRESH_TOKEN.to_owned(),
        user_id: f.user_id.to_string(),
        client_id: f.client_id.to_string(),
    };
    serde_json::to_value(view).unwrap_or_default()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceCredentialQuery {
    /// `refresh_token` (default), `public_key` or `rotating_refresh_token`
    /// (grantor has none of the last two).
    #[serde(rename = "type")]
    credential_type: Option<String>,
    user_id: Option<String>,
    client_id: Option<String>,
}

/// `GET /device-credentials` page with `include_totals=true` (doc only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct DeviceCredentialPage {
    start: i64,
    limit: i64,
    total: i64,
    device_credentials: Vec<DeviceCredentialView>,
}

/// `GET /device-credentials`: live refresh tokens as devices, offset paging.
#[utoipa::path(
    get,
    path = "/device-credentials",
    tag = "device-credentials",
    params(DeviceCredentialQuery, ListParams),
    responses(
        (status = 200, description = "A bare array, or `{start, limit, total, device_credentials}` with `include_totals=true`", body = DeviceCredentialPage),
        (status = 400, description = "Bad query (unknown `type`, paging out of range)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["read:device_credentials"]))
)]
pub async fn list_device_credentials(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<DeviceCredentialQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:device_credentials"])?;
    let request = params.page_request()?;
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    let page = match present(query.credential_type).as_deref() {
        None | Some(REFRESH_TOKEN) => {
            let filter = RefreshTokenFilter {
                user_id: present(query.user_id).map(UserId::from),
                client_id: present(query.client_id).map(ClientId::from),
                after_id: None,
            };
            state
                .store
                .list_live_refresh_tokens(&filter, request, state.clock.now())
                .await?
        }
        Some(other) if OTHER_TYPES.contains(&other) => Page {
            items: Vec::new(),
            total: 0,
        },
        Some(_) => {
            return Err(ApiError::invalid_query(
                "Query validation error: 'type' must be one of public_key, refresh_token, rotating_refresh_token",
            ))
        }
    };
    Ok(Json(params.offset_envelope(
        "device_credentials",
        page,
        render,
    )?))
}

/// `DELETE /device-credentials/{id}`: revokes that refresh token.
/// An already revoked one is accepted again; an unknown id is 404.
#[utoipa::path(
    delete,
    path = "/device-credentials/{id}",
    tag = "device-credentials",
    params(("id" = String, Path, description = "The device credential's (refresh token's) id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
    ),
    security(("bearer" = ["delete:device_credentials"]))
)]
pub async fn delete_device_credential(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = FamilyId::from(id);
    caller.require(&["delete:device_credentials"])?;
    let target = RevocationTarget::Family { family_id: id };
    let receipt = caller.revoke(&state, &meta, target).await?;
    if !receipt.found {
        return Err(ApiError::not_found(
            "The device credential does not exist.",
            "inexistent_device_credential",
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
