//! `GET /api/v2/deliveries`: the outbox as an operator sees it, one item per
//! message (a back-channel logout token for one client and session, or a
//! log stream batch, which also shows `stream_id` and its number of
//! `events`) with
//! its delivery state: `pending` (with its attempts so far and when the next
//! is due), `delivered` or `failed`, and the last error. A grantor
//! extension (Auth0 has no such resource); it reads under `read:logs`, since
//! it is part of the audit trail. Filters: `client_id`, `session_id`,
//! `status`, `type`, `stream_id`; offset paging, newest first.

use axum::extract::State;
use axum::Json;
use grantor_store::{OutboxFilter, OutboxKind, OutboxMessage, OutboxStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use super::openapi::ErrorBody;
use super::{iso8601, ApiError, ApiQuery, Caller, ListParams};
use crate::http::AppState;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only messages for this client.
    client_id: Option<String>,
    /// Only messages about this session.
    session_id: Option<String>,
    /// `pending`, `delivered` or `failed`.
    status: Option<String>,
    /// Only messages of this type (`backchannel_logout`, …).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    /// Only messages to this stream (a log stream's or SSF stream's id).
    stream_id: Option<String>,
}

pub fn render(m: &OutboxMessage) -> Value {
    let mut body = json!({
        "id": m.id,
        "type": m.kind.as_str(),
        "destination": m.destination,
        "client_id": m.client_id,
        "user_id": m.user_id,
        "session_id": m.session_id,
        "log_id": m.log_id,
        "created_at": iso8601(m.created_at),
        "status": m.status.as_str(),
        "attempts": m.attempts,
        "last_error": m.last_error,
    });
    if m.kind == OutboxKind::LogStreamBatch {
        body["stream_id"] = json!(m.destination);
        body["events"] = json!(m.log_ids().len());
    }
    match (m.status, m.finished_at) {
        (OutboxStatus::Pending, _) => body["next_attempt_at"] = json!(iso8601(m.next_attempt_at)),
        (_, Some(at)) => body["finished_at"] = json!(iso8601(at)),
        (_, None) => {}
    }
    // An SSF message's destination is its stream.
    if matches!(
        m.kind,
        OutboxKind::SsfPush | OutboxKind::SsfPoll | OutboxKind::SsfHeld
    ) {
        body["stream_id"] = json!(m.destination);
    }
    body
}

#[utoipa::path(
    get,
    path = "/deliveries",
    tag = "deliveries",
    params(ListParams, DeliveryQuery),
    responses(
        (status = 200, description = "A bare array of messages, or `{start, limit, total, deliveries}` with `include_totals`", body = Object),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["read:logs"]))
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:logs"])?;
    if params.from.is_some() || params.take.is_some() {
        return Err(ApiError::invalid_query(
            "Query validation error: deliveries are paged with page and per_page",
        ));
    }
    let status = query
        .status
        .as_deref()
        .map(|raw| {
            OutboxStatus::parse(raw).ok_or_else(|| {
                ApiError::invalid_query(
                    "Query validation error: status must be pending, delivered or failed",
                )
            })
        })
        .transpose()?;
    let kind = query
        .kind
        .as_deref()
        .map(|raw| {
            OutboxKind::parse(raw).ok_or_else(|| {
                ApiError::invalid_query(format!(
                    "Query validation error: type must be one of {}",
                    OutboxKind::ALL.map(OutboxKind::as_str).join(", ")
                ))
            })
        })
        .transpose()?;
    let filter = OutboxFilter {
        client_id: query.client_id,
        session_id: query.session_id,
        status,
        kind,
        destination: query.stream_id,
    };
    let page = state
        .store
        .list_outbox(&filter, params.page_request()?)
        .await?;
    Ok(Json(params.offset_envelope("deliveries", page, render)?))
}
