//! The status endpoint (SSF 1.0 §8.1.2): `GET /ssf/status?stream_id=`
//! reads a stream's status, `POST /ssf/status` sets it (`enabled`,
//! `paused`, `disabled`, with an optional `reason`). Pausing holds new
//! events until the stream is enabled again; disabling drops them.

use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use grantor_store::{SsfStatus, SsfStream};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{query, SsfCaller, SsfError, SsfJson, StreamQuery, MANAGE_SCOPE, READ_SCOPE};
use crate::flows::RequestMeta;
use crate::http::AppState;

const MAX_REASON_LENGTH: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    stream_id: String,
    status: String,
    #[serde(default)]
    reason: Option<String>,
}

fn render(stream: &SsfStream) -> Value {
    let mut body = json!({ "stream_id": stream.id, "status": stream.status.as_str() });
    if let Some(reason) = &stream.reason {
        body["reason"] = json!(reason);
    }
    body
}

pub async fn read(
    State(state): State<AppState>,
    caller: SsfCaller,
    uri: Uri,
) -> Result<Json<Value>, SsfError> {
    caller.require(READ_SCOPE)?;
    let q: StreamQuery = query(&uri)?;
    let id = q
        .stream_id
        .ok_or_else(|| SsfError::bad_request("stream_id is required."))?;
    let stream = caller.stream(&state, &id).await?;
    Ok(Json(render(&stream)))
}

pub async fn update(
    State(state): State<AppState>,
    caller: SsfCaller,
    meta: RequestMeta,
    SsfJson(body): SsfJson<StatusBody>,
) -> Result<Json<Value>, SsfError> {
    caller.require(MANAGE_SCOPE)?;
    let status = SsfStatus::parse(&body.status)
        .ok_or_else(|| SsfError::bad_request("status must be enabled, paused or disabled."))?;
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.len() > MAX_REASON_LENGTH || r.contains('\0'))
    {
        return Err(SsfError::bad_request("reason is too long."));
    }
    let mut stream = caller.stream(&state, &body.stream_id).await?;
    stream.status = status;
    stream.reason = body.reason;
    let now = state.clock.now();
    let event = super::streams::audit(
        &caller,
        "Update an SSF stream's status",
        &stream,
        &meta,
        now,
    );
    if !state
        .store
        .update_ssf_stream(&stream, false, &event, now)
        .await?
    {
        return Err(SsfError::not_found());
    }
    state.outbox.wake();
    Ok(Json(render(&stream)))
}
