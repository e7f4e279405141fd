//! `GET /readyz`, the readiness probe: 200 `{"status":"ready"}` only when
//! the database answers within [`READINESS_TIMEOUT`] and its applied
//! migrations are exactly the ones this binary embeds; otherwise 503
//! `{"status":"unavailable","reason":…}`. `/healthz` stays the liveness
//! probe (the process serves HTTP), which never touches the database.
//!
//! Neither rate-limited nor authenticated: a load balancer or an
//! orchestrator calls it, and the answer names no secret (a database error
//! is logged, not rendered).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::state::AppState;

/// How long the probe waits for the database before it answers 503; below
/// the pool's own 30 s wait for a connection, so a database that stopped
/// answering shows within a probe's usual timeout.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn readyz(State(state): State<AppState>) -> Response {
    let status = tokio::time::timeout(READINESS_TIMEOUT, state.store.migration_status()).await;
    let reason = match status {
        Ok(Ok(status)) if status.is_current() => {
            return (StatusCode::OK, no_store(), Json(json!({"status": "ready"}))).into_response();
        }
        Ok(Ok(status)) => {
            let mut parts = Vec::new();
            if !status.pending.is_empty() {
                parts.push(format!("pending migrations {:?}", status.pending));
            }
            if !status.unknown.is_empty() {
                parts.push(format!(
                    "the database has migrations this binary does not know {:?}",
                    status.unknown
                ));
            }
            parts.join("; ")
        }
        Ok(Err(e)) => {
            tracing::warn!("readiness: the database did not answer: {e}");
            "the database did not answer".to_owned()
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer within {READINESS_TIMEOUT:?}");
            format!(
                "the database did not answer within {} s",
                READINESS_TIMEOUT.as_secs()
            )
        }
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        no_store(),
        Json(json!({"status": "unavailable", "reason": reason})),
    )
        .into_response()
}

fn no_store() -> [(axum::http::HeaderName, &'static str); 1] {
    [(axum::http::header::CACHE_CONTROL, "no-store")]
}
