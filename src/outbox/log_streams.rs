//! Auth0 log streams of type `http`: a `log_stream_batch` message carries
//! the log ids of a batch of audit events for one stream (written by
//! `Store::batch_log_streams` from the events staged with their inserts).
//! Each batch is POSTed to the stream's current `httpEndpoint` with its
//! `httpAuthorization` as the `Authorization` header, its custom headers,
//! and the events in its content format; each event is
//! `{"log_id": …, "data": <the event as GET /api/v2/logs renders it>}`.

use grantor_domain::log_stream::ContentFormat;
use grantor_domain::{LogStream, LogStreamStatus};
use grantor_store::{DeliveryOutcome, OutboxMessage};
use serde_json::{json, Value};

use super::Destination;
use crate::flows::audit::{self, EventExt, EventType};
use crate::state::AppState;

/// The stream's current endpoint while it is active. A paused or suspended
/// stream ends its pending batches (its events are not sent, as nothing is
/// sent while it does not run), and so does a deleted one: the change ends
/// them in bounded batches (`Store::sweep_outbox`); this ends one claimed
/// meanwhile.
pub(super) async fn destination(state: &AppState, message: &OutboxMessage) -> Destination {
    match state.store.log_stream(&message.destination).await {
        Ok(Some(stream)) if stream.status == LogStreamStatus::Active => {
            Destination::Url(stream.endpoint)
        }
        Ok(Some(stream)) => Destination::Gone(format!(
            "the log stream is {}; the batch was not sent",
            stream.status.as_str()
        )),
        Ok(None) => Destination::Gone("the log stream was deleted".to_owned()),
        Err(_) => Destination::Later,
    }
}

/// One event as Auth0 streams it to an http sink.
fn wrap(event: &grantor_store::LogEvent) -> Value {
    json!({
        "log_id": event.log_id,
        "data": crate::http::management::render_log_event(event),
    })
}

/// The body of a batch in the stream's content format.
pub fn body(format: ContentFormat, events: &[Value]) -> String {
    match format {
        ContentFormat::JsonArray => Value::Array(events.to_vec()).to_string(),
        ContentFormat::JsonLines => events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        // Batches of a JSONOBJECT stream hold one event each; a batch made
        // before the stream switched to JSONOBJECT goes as one object per
        // line rather than lose events.
        ContentFormat::JsonObject if events.len() == 1 => events[0].to_string(),
        ContentFormat::JsonObject => body(ContentFormat::JsonLines, events),
    }
}

/// The POST that carries the batch.
pub(super) async fn request(
    state: &AppState,
    message: &OutboxMessage,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::RequestBuilder, String> {
    let stream: LogStream = state
        .store
        .log_stream(&message.destination)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "the log stream was deleted".to_owned())?;
    let events = state
        .store
        .log_events(&message.log_ids())
        .await
        .map_err(|e| e.to_string())?;
    let events: Vec<Value> = events.iter().map(wrap).collect();
    let mut request = request
        .header(reqwest::header::CONTENT_TYPE, &stream.content_type)
        .body(body(stream.content_format, &events));
    if let Some(authorization) = &stream.authorization {
        request = request.header(reqwest::header::AUTHORIZATION, authorization);
    }
    for h in &stream.custom_headers {
        request = request.header(h.header.as_str(), h.value.as_str());
    }
    Ok(request)
}

/// Counts the stream's failed attempts and clears them on a delivery; a
/// run of failures as long as `suspend_after` suspends the stream, with a
/// `log_stream_suspended` audit event. Batches ended because the stream
/// is not active change nothing (the store counts only active streams).
pub(super) async fn settled(
    state: &AppState,
    suspend_after: std::time::Duration,
    message: &OutboxMessage,
    outcome: &DeliveryOutcome,
) {
    let error = match outcome {
        DeliveryOutcome::Delivered => None,
        DeliveryOutcome::Retry { error, .. } | DeliveryOutcome::GaveUp { error } => {
            Some(error.as_str())
        }
    };
    let now = state.clock.now();
    let stream_id = &message.destination;
    let suspension = audit::event(
        EventType::LogStreamSuspended,
        format!("Log stream {stream_id} suspended: its deliveries kept failing"),
        now,
    )
    .detail("stream_id", json!(stream_id))
    .detail("last_error", json!(error));
    match state
        .store
        .record_log_stream_outcome(
            stream_id,
            error,
            super::millis(suspend_after),
            &suspension,
            now,
        )
        .await
    {
        Ok(true) => {
            tracing::warn!(stream = %stream_id, "log stream suspended after failing deliveries")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(stream = %stream_id, error = %e, "recording a log stream's health failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let events = vec![json!({"a": 1}), json!({"b": 2})];
        assert_eq!(
            body(ContentFormat::JsonArray, &events),
            r#"[{"a":1},{"b":2}]"#
        );
        assert_eq!(
            body(ContentFormat::JsonLines, &events),
            "{\"a\":1}\n{\"b\":2}"
        );
        assert_eq!(body(ContentFormat::JsonObject, &events[..1]), r#"{"a":1}"#);
        // Never drops events: several go as JSON lines.
        assert_eq!(
            body(ContentFormat::JsonObject, &events),
            "{\"a\":1}\n{\"b\":2}"
        );
    }
}
