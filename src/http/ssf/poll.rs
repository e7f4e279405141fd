//! RFC 8936 poll delivery: `POST /ssf/poll/{stream_id}` (the stream's
//! `delivery.endpoint_url`) with `{maxEvents, returnImmediately, ack,
//! setErrs}`. Acknowledged events are settled as delivered, reported ones
//! as failed with their error, and up to `maxEvents` waiting events are
//! returned as `{sets: {jti: SET}, moreAvailable}`, all in one transaction;
//! an event returned but not acknowledged is returned again by the next
//! poll. grantor always answers at once (no long polling):
//! `returnImmediately` is accepted and has no effect.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Json;
use grantor_store::SsfPoll;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{SsfCaller, SsfError, SsfJson, READ_SCOPE};
use crate::http::AppState;
use crate::outbox::ssf::security_event_token;

/// Events per poll when `maxEvents` is absent, and the most one poll returns.
pub const MAX_EVENTS: i64 = 100;
/// The most acknowledgements and errors one poll may carry.
const MAX_SETTLED: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollBody {
    #[serde(default, rename = "maxEvents")]
    max_events: Option<i64>,
    #[serde(default, rename = "returnImmediately")]
    return_immediately: Option<bool>,
    #[serde(default)]
    ack: Vec<String>,
    #[serde(default, rename = "setErrs")]
    set_errs: BTreeMap<String, SetErr>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetErr {
    err: String,
    #[serde(default)]
    description: Option<String>,
}

pub async fn poll(
    State(state): State<AppState>,
    caller: SsfCaller,
    Path(stream_id): Path<String>,
    SsfJson(body): SsfJson<PollBody>,
) -> Result<Json<Value>, SsfError> {
    caller.require(READ_SCOPE)?;
    let stream = caller.stream(&state, &stream_id).await?;
    if !stream.is_poll() {
        return Err(SsfError::bad_request(
            "This stream does not use poll delivery.",
        ));
    }
    let max_events = body.max_events.unwrap_or(MAX_EVENTS);
    if !(0..=MAX_EVENTS).contains(&max_events) {
        return Err(SsfError::bad_request(format!(
            "maxEvents must be between 0 and {MAX_EVENTS}."
        )));
    }
    if body.ack.len() + body.set_errs.len() > MAX_SETTLED {
        return Err(SsfError::bad_request("Too many ack and setErrs entries."));
    }
    let _ = body.return_immediately;
    let errors = body
        .set_errs
        .into_iter()
        .map(|(jti, e)| {
            let text = match e.description {
                Some(d) => format!("the receiver reported {}: {d}", e.err),
                None => format!("the receiver reported {}", e.err),
            };
            (jti, text.chars().take(300).collect())
        })
        .collect();
    let poll = SsfPoll {
        ack: body.ack,
        errors,
        max_events,
    };
    let now = state.clock.now();
    let result = state.store.poll_ssf(&stream.id, &poll, now).await?;
    let mut sets = Map::new();
    for message in &result.messages {
        let token = security_event_token(&state, &stream, message)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "ssf: signing a SET failed");
                SsfError::unavailable()
            })?;
        sets.insert(message.id.clone(), json!(token));
    }
    Ok(Json(
        json!({ "sets": sets, "moreAvailable": result.more_available }),
    ))
}
