//! Adding and removing subjects (SSF 1.0 §8.1.3): `POST /ssf/subjects/add`
//! and `POST /ssf/subjects/remove` with `{stream_id, subject}`. A subject
//! names a user: `iss_sub` with this issuer, `opaque` with the user id, or
//! `complex` with such a `user` member.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use grantor_store::SsfSubjectMode;
use serde::Deserialize;
use serde_json::Value;

use super::{SsfCaller, SsfError, SsfJson, MANAGE_SCOPE};
use crate::flows::RequestMeta;
use crate::http::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectBody {
    stream_id: String,
    subject: Value,
    /// SSF's hint that the receiver verified the subject; not used.
    #[serde(default)]
    verified: Option<bool>,
}

/// The user id a subject identifier (RFC 9493) names.
fn user_id(state: &AppState, subject: &Value) -> Result<String, SsfError> {
    let bad = || {
        SsfError::bad_request(
            "subject must be iss_sub (this issuer), opaque, or complex with a user.",
        )
    };
    let id = match subject["format"].as_str() {
        Some("iss_sub") if subject["iss"].as_str() == Some(state.issuer.as_str()) => {
            subject["sub"].as_str()
        }
        Some("opaque") => subject["id"].as_str(),
        Some("complex") if subject["user"]["format"].as_str() != Some("complex") => {
            return user_id(state, &subject["user"])
        }
        _ => None,
    }
    .ok_or_else(bad)?;
    if id.is_empty() || id.len() > 256 || id.contains('\0') {
        return Err(bad());
    }
    Ok(id.to_owned())
}

async fn set(
    state: AppState,
    caller: SsfCaller,
    meta: RequestMeta,
    body: SubjectBody,
    mode: SsfSubjectMode,
) -> Result<(), SsfError> {
    caller.require(MANAGE_SCOPE)?;
    let _ = body.verified;
    let stream = caller.stream(&state, &body.stream_id).await?;
    let user = user_id(&state, &body.subject)?;
    let now = state.clock.now();
    let description = match mode {
        SsfSubjectMode::Added => "Add a subject to an SSF stream",
        SsfSubjectMode::Removed => "Remove a subject from an SSF stream",
    };
    let mut event = super::streams::audit(&caller, description, &stream, &meta, now);
    event.user_id = Some(user.clone());
    if !state
        .store
        .set_ssf_subject(&stream.id, &user, mode, &event, now)
        .await?
    {
        return Err(SsfError::not_found());
    }
    Ok(())
}

pub async fn add(
    State(state): State<AppState>,
    caller: SsfCaller,
    meta: RequestMeta,
    SsfJson(body): SsfJson<SubjectBody>,
) -> Result<Response, SsfError> {
    set(state, caller, meta, body, SsfSubjectMode::Added).await?;
    Ok(StatusCode::OK.into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    caller: SsfCaller,
    meta: RequestMeta,
    SsfJson(body): SsfJson<SubjectBody>,
) -> Result<Response, SsfError> {
    set(state, caller, meta, body, SsfSubjectMode::Removed).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
