//! `POST /oauth/device/code` (RFC 8628 §3.1, §3.2): form or JSON body.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{AuthApiError, FormOrJson};
use crate::flows::device_authorization;
use crate::http::extract::RequestMeta;
use crate::http::AppState;

#[derive(Debug, Deserialize)]
pub struct DeviceCodeForm {
    client_id: Option<String>,
    scope: Option<String>,
    audience: Option<String>,
}

pub async fn post_device_code(
    State(state): State<AppState>,
    meta: RequestMeta,
    FormOrJson(form): FormOrJson<DeviceCodeForm>,
) -> Result<Response, AuthApiError> {
    // No per-client bucket here: the client is not authenticated (public
    // clients send only their id), and a bucket keyed by a presented id would
    // let anyone lock that client out. The per-IP buckets (requests and row
    // writes) apply.
    let now = state.clock.now();
    let issued = device_authorization::request(
        &state,
        form.client_id.as_deref(),
        form.scope.as_deref(),
        form.audience.as_deref(),
        &meta,
        now,
    )
    .await?;
    let mut response = Json(json!({
        "device_code": issued.device_code,
        "user_code": issued.user_code,
        "verification_uri": issued.verification_uri,
        "verification_uri_complete": issued.verification_uri_complete,
        "expires_in": issued.expires_in,
        "interval": issued.interval,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
