//! `/api/v2/tenants/settings`: tenant-wide settings, among them
//! `flags.revoke_refresh_token_grant` and `default_audience`.

use axum::extract::State;
use axum::Json;
use grantor_domain::tenant::TenantSettingsPatch;
use grantor_domain::TenantSettings;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiJson, ApiQuery, Caller, FieldParams};
use crate::flows::audit::EventExt;
use crate::flows::RequestMeta;
use crate::http::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagsBody {
    revoke_refresh_token_grant: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    friendly_name: Option<String>,
    flags: Option<FlagsBody>,
    default_audience: Option<String>,
    session_lifetime: Option<i64>,
    idle_session_lifetime: Option<i64>,
}

pub fn render(s: &TenantSettings) -> Value {
    json!({
        "friendly_name": s.friendly_name,
        "flags": { "revoke_refresh_token_grant": s.revoke_refresh_token_grant },
        "default_audience": s.default_audience,
        "session_lifetime": s.session_lifetime,
        "idle_session_lifetime": s.idle_session_lifetime,
    })
}

#[utoipa::path(
    get,
    path = "/tenants/settings",
    tag = "tenants",
    params(crate::http::management::FieldParams),
    responses(
        (status = 200, description = "The settings: `friendly_name`, `flags.revoke_refresh_token_grant`, `default_audience`, `session_lifetime`, `idle_session_lifetime`", body = Object),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:tenant_settings"]))
)]
pub async fn get_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:tenant_settings"])?;
    Ok(Json(
        fields.apply(render(&state.store.tenant_settings().await?)),
    ))
}

#[utoipa::path(
    patch,
    path = "/tenants/settings",
    tag = "tenants",
    request_body = SettingsBody,
    responses(
        (status = 200, description = "The settings", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["update:tenant_settings"]))
)]
pub async fn update_settings(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<SettingsBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["update:tenant_settings"])?;
    let patch = TenantSettingsPatch {
        friendly_name: body.friendly_name,
        revoke_refresh_token_grant: body.flags.and_then(|f| f.revoke_refresh_token_grant),
        default_audience: body.default_audience,
        session_lifetime: body.session_lifetime,
        idle_session_lifetime: body.idle_session_lifetime,
    };
    let audience_exists = match patch.default_audience.as_deref() {
        Some(audience) if !audience.is_empty() => state
            .store
            .resource_server_by_identifier(audience)
            .await?
            .is_some(),
        _ => false,
    };
    let settings = state
        .store
        .tenant_settings()
        .await?
        .apply(&patch, audience_exists)?;
    let event = caller
        .audit("Update tenant settings", &meta, state.clock.now())
        .detail("flags", serde_json::json!({ "revoke_refresh_token_grant": settings.revoke_refresh_token_grant }));
    state
        .store
        .update_tenant_settings(&settings, Some(&event))
        .await?;
    Ok(Json(render(&settings)))
}
