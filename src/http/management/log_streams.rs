//! `/api/v2/log-streams`: Auth0 log streams of type `http` (the only type
//! grantor delivers). Scopes `read:log_streams`, `create:log_streams`,
//! `update:log_streams`, `delete:log_streams`. `sink.httpAuthorization` is
//! a secret: it is accepted on create and update but never rendered (Auth0
//! returns it; grantor leaves it out, as it shows no other secret twice).
//! An update cannot change `type`. Every change is audited (`sapi`).
//! Delivery: `src/outbox/log_streams.rs`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use grantor_domain::log_stream::CustomHeader;
use grantor_domain::{LogStream, LogStreamPatch};
use grantor_store::StoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::openapi::ErrorBody;
use super::{ApiError, ApiJson, Caller};
use crate::flows::RequestMeta;
use crate::http::AppState;
use crate::secrets;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderBody {
    header: String,
    value: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct SinkBody {
    httpEndpoint: Option<String>,
    httpContentType: Option<String>,
    httpContentFormat: Option<String>,
    httpAuthorization: Option<String>,
    httpCustomHeaders: Option<Vec<HeaderBody>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterBody {
    #[serde(rename = "type")]
    kind: String,
    name: String,
}

/// `POST /log-streams`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct CreateBody {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    sink: Option<SinkBody>,
    filters: Option<Vec<FilterBody>>,
    /// Accepted as `false` only (grantor has no priority streams).
    isPriority: Option<bool>,
}

/// `PATCH /log-streams/{id}`: no `type` (it cannot change).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct UpdateBody {
    name: Option<String>,
    status: Option<String>,
    sink: Option<SinkBody>,
    filters: Option<Vec<FilterBody>>,
    isPriority: Option<bool>,
}

fn patch(
    name: Option<String>,
    status: Option<String>,
    sink: Option<SinkBody>,
    filters: Option<Vec<FilterBody>>,
    is_priority: Option<bool>,
) -> Result<LogStreamPatch, ApiError> {
    if is_priority == Some(true) {
        return Err(ApiError::invalid_body(
            "Payload validation error: isPriority is not supported",
        ));
    }
    let mut p = LogStreamPatch {
        name,
        status,
        filters: filters.map(|f| f.into_iter().map(|f| (f.kind, f.name)).collect()),
        ..LogStreamPatch::default()
    };
    if let Some(sink) = sink {
        p.endpoint = sink.httpEndpoint;
        p.content_type = sink.httpContentType;
        p.content_format = sink.httpContentFormat;
        p.authorization = sink.httpAuthorization;
        p.custom_headers = sink.httpCustomHeaders.map(|h| {
            h.into_iter()
                .map(|h| CustomHeader {
                    header: h.header,
                    value: h.value,
                })
                .collect()
        });
    }
    Ok(p)
}

/// Auth0's stream object (without `sink.httpAuthorization`).
pub fn render(s: &LogStream) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "type": "http",
        "status": s.status.as_str(),
        "sink": {
            "httpEndpoint": s.endpoint,
            "httpContentType": s.content_type,
            "httpContentFormat": s.content_format.as_str(),
            "httpCustomHeaders": s.custom_headers.iter()
                .map(|h| json!({"header": h.header, "value": h.value}))
                .collect::<Vec<_>>(),
        },
        "filters": s.filters.iter()
            .map(|f| json!({"type": "category", "name": f}))
            .collect::<Vec<_>>(),
        "isPriority": false,
    })
}

fn not_found() -> ApiError {
    ApiError::not_found("The log stream does not exist.", "inexistent_log_stream")
}

fn invalid(e: grantor_domain::ValidationError) -> ApiError {
    ApiError::invalid_body(format!("Payload validation error: {e}"))
}

#[utoipa::path(
    get,
    path = "/log-streams",
    tag = "log-streams",
    responses(
        (status = 200, description = "Every log stream (a bare array)", body = Vec<Object>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["read:log_streams"]))
)]
pub async fn list_log_streams(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:log_streams"])?;
    let streams = state.store.list_log_streams().await?;
    Ok(Json(Value::Array(streams.iter().map(render).collect())))
}

#[utoipa::path(
    post,
    path = "/log-streams",
    tag = "log-streams",
    request_body = CreateBody,
    responses(
        (status = 200, description = "The new log stream", body = Object),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["create:log_streams"]))
)]
pub async fn create_log_stream(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["create:log_streams"])?;
    match body.kind.as_deref() {
        Some("http") => {}
        Some(_) => {
            return Err(ApiError::invalid_body(
                "Payload validation error: type must be http (the only log stream type grantor delivers)",
            ))
        }
        None => {
            return Err(ApiError::invalid_body(
                "Payload validation error: Missing required property: type",
            ))
        }
    }
    let Some(sink) = body.sink else {
        return Err(ApiError::invalid_body(
            "Payload validation error: Missing required property: sink",
        ));
    };
    let p = patch(body.name, None, Some(sink), body.filters, body.isPriority)?;
    let now = state.clock.now();
    let stream =
        LogStream::create(format!("lst_{}", secrets::hex_id(8)), &p, now).map_err(invalid)?;
    let event = caller.audit(format!("Create log stream {}", stream.id), &meta, now);
    state.store.insert_log_stream(&stream, &event).await?;
    Ok(Json(render(&stream)))
}

#[utoipa::path(
    get,
    path = "/log-streams/{id}",
    tag = "log-streams",
    params(("id" = String, Path, description = "The log stream's id")),
    responses(
        (status = 200, description = "The log stream", body = Object),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown log stream", body = ErrorBody),
    ),
    security(("bearer" = ["read:log_streams"]))
)]
pub async fn get_log_stream(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:log_streams"])?;
    let stream = state.store.log_stream(&id).await?.ok_or_else(not_found)?;
    Ok(Json(render(&stream)))
}

#[utoipa::path(
    patch,
    path = "/log-streams/{id}",
    tag = "log-streams",
    params(("id" = String, Path, description = "The log stream's id")),
    request_body = UpdateBody,
    responses(
        (status = 200, description = "The log stream", body = Object),
        (status = 400, description = "Bad body", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown log stream", body = ErrorBody),
    ),
    security(("bearer" = ["update:log_streams"]))
)]
pub async fn update_log_stream(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["update:log_streams"])?;
    let p = patch(
        body.name,
        body.status,
        body.sink,
        body.filters,
        body.isPriority,
    )?;
    let now = state.clock.now();
    let stream = state
        .store
        .log_stream(&id)
        .await?
        .ok_or_else(not_found)?
        .apply(&p, now)
        .map_err(invalid)?;
    let event = caller.audit(format!("Update log stream {id}"), &meta, now);
    let set_status = p.status.is_some();
    match state
        .store
        .update_log_stream(&stream, set_status, &event)
        .await
    {
        // Without a status in the body, answer with the stored one (the
        // worker may have suspended the stream since it was read).
        Ok(()) if !set_status => {
            let stored = state.store.log_stream(&id).await?.ok_or_else(not_found)?;
            Ok(Json(render(&stored)))
        }
        Ok(()) => Ok(Json(render(&stream))),
        Err(StoreError::NotFound) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    delete,
    path = "/log-streams/{id}",
    tag = "log-streams",
    params(("id" = String, Path, description = "The log stream's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown log stream", body = ErrorBody),
    ),
    security(("bearer" = ["delete:log_streams"]))
)]
pub async fn delete_log_stream(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&["delete:log_streams"])?;
    let event = caller.audit(format!("Delete log stream {id}"), &meta, state.clock.now());
    if state.store.delete_log_stream(&id, &event).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
