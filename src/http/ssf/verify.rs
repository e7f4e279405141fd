//! `POST /ssf/verify` (SSF 1.0 §8.1.4): queues a verification event, with
//! the receiver's `state`, to the stream as any other event is delivered.
//! A disabled stream gets none (the answer is 204 all the same).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{SsfCaller, SsfError, SsfJson, MANAGE_SCOPE};
use crate::flows::RequestMeta;
use crate::http::AppState;
use crate::outbox::ssf::VERIFICATION_DETAIL;

const MAX_STATE_LENGTH: usize = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    stream_id: String,
    #[serde(default)]
    state: Option<String>,
}

pub async fn verify(
    State(state): State<AppState>,
    caller: SsfCaller,
    meta: RequestMeta,
    SsfJson(body): SsfJson<VerifyBody>,
) -> Result<StatusCode, SsfError> {
    caller.require(MANAGE_SCOPE)?;
    if body
        .state
        .as_ref()
        .is_some_and(|s| s.len() > MAX_STATE_LENGTH || s.contains('\0'))
    {
        return Err(SsfError::bad_request("state is too long."));
    }
    let stream = caller.stream(&state, &body.stream_id).await?;
    let now = state.clock.now();
    let mut event = super::streams::audit(
        &caller,
        "Request an SSF verification event",
        &stream,
        &meta,
        now,
    );
    if let Value::Object(details) = &mut event.details {
        details.insert(
            VERIFICATION_DETAIL.to_owned(),
            json!({ "stream_id": stream.id, "state": body.state }),
        );
    }
    state
        .store
        .request_ssf_verification(&stream.id, &event, now)
        .await?;
    state.outbox.wake();
    Ok(StatusCode::NO_CONTENT)
}
