//! The configuration endpoint (SSF 1.0 §8.1.1): `POST /ssf/streams`
//! creates a stream, `GET` reads one (`?stream_id=`) or all of the caller's,
//! `PATCH` changes the members given, `PUT` replaces the receiver-supplied
//! members, `DELETE ?stream_id=` deletes one.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_store::{SsfStatus, SsfStream, SSF_EVENTS_SUPPORTED, SSF_POLL_METHOD, SSF_PUSH_METHOD};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{query, SsfCaller, SsfError, SsfJson, StreamQuery, MANAGE_SCOPE, READ_SCOPE};
use crate::flows::RequestMeta;
use crate::http::AppState;

/// The most streams one client may have (SSF lets a transmitter limit them).
pub const MAX_STREAMS_PER_CLIENT: usize = 10;
const MAX_EVENTS_REQUESTED: usize = 32;
const MAX_URL_LENGTH: usize = 2048;
const MAX_HEADER_LENGTH: usize = 4096;
const MAX_DESCRIPTION_LENGTH: usize = 1024;

/// `delivery` as a receiver sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryBody {
    method: String,
    #[serde(default)]
    endpoint_url: Option<String>,
    #[serde(default)]
    authorization_header: Option<String>,
}

/// A stream configuration as a receiver sends it. Transmitter-supplied
/// members (`iss`, `aud`, `events_supported`, `events_delivered`, …) are
/// accepted and ignored, as SSF says; any other unknown member is a 400.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamBody {
    #[serde(default)]
    stream_id: Option<String>,
    #[serde(default)]
    delivery: Option<DeliveryBody>,
    #[serde(default)]
    events_requested: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
    /// grantor's extension: `ALL` (default) or `NONE`.
    #[serde(default)]
    default_subjects: Option<String>,
    #[serde(default)]
    iss: Option<Value>,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    events_supported: Option<Value>,
    #[serde(default)]
    events_delivered: Option<Value>,
    #[serde(default)]
    min_verification_interval: Option<Value>,
    #[serde(default)]
    inactivity_timeout: Option<Value>,
}

/// The stream as SSF renders it; the authorization header is never shown.
pub fn render(state: &AppState, s: &SsfStream) -> Value {
    let mut delivery = json!({ "method": s.delivery_method });
    if s.is_poll() {
        delivery["endpoint_url"] = json!(state.issuer.url(&format!("ssf/poll/{}", s.id)));
    } else {
        delivery["endpoint_url"] = json!(s.endpoint_url);
    }
    let mut body = json!({
        "stream_id": s.id,
        "iss": state.issuer.as_str(),
        "aud": s.client_id,
        "delivery": delivery,
        "events_supported": SSF_EVENTS_SUPPORTED,
        "events_requested": s.events_requested,
        "events_delivered": s.events_delivered,
        "default_subjects": s.default_subjects,
    });
    if let Some(d) = &s.description {
        body["description"] = json!(d);
    }
    body
}

/// A push endpoint: an absolute http(s) URL with a host and no
/// credentials or fragment. (Production receivers should use https; http
/// is accepted for tests and private networks.)
fn check_endpoint(url: &str) -> Result<(), SsfError> {
    let bad = |why: &str| SsfError::bad_request(format!("delivery.endpoint_url {why}."));
    if url.len() > MAX_URL_LENGTH {
        return Err(bad("is too long"));
    }
    let parsed = url::Url::parse(url).map_err(|_| bad("must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    Ok(())
}

/// Applies the receiver-supplied members of `body` to `stream` (all of
/// them for a replace, those present for an update) and checks the result.
fn apply(stream: &mut SsfStream, body: StreamBody, replace: bool) -> Result<(), SsfError> {
    if replace && body.delivery.is_none() {
        return Err(SsfError::bad_request("delivery is required."));
    }
    if let Some(delivery) = body.delivery {
        match delivery.method.as_str() {
            SSF_PUSH_METHOD => {
                let url = delivery.endpoint_url.ok_or_else(|| {
                    SsfError::bad_request("Push delivery needs delivery.endpoint_url.")
                })?;
                check_endpoint(&url)?;
                stream.endpoint_url = Some(url);
            }
            SSF_POLL_METHOD => {
                // The transmitter supplies the poll URL.
                stream.endpoint_url = None;
            }
            _ => {
                return Err(SsfError::bad_request(
                    "delivery.method must be urn:ietf:rfc:8935 or urn:ietf:rfc:8936.",
                ))
            }
        }
        if let Some(header) = &delivery.authorization_header {
            if header.is_empty()
                || header.len() > MAX_HEADER_LENGTH
                || axum::http::HeaderValue::from_str(header).is_err()
            {
                return Err(SsfError::bad_request(
                    "delivery.authorization_header is not a valid header value.",
                ));
            }
        }
        stream.delivery_method = delivery.method;
        stream.authorization_header = delivery.authorization_header;
    }
    if replace || body.events_requested.is_some() {
        let requested = body.events_requested.unwrap_or_default();
        if requested.len() > MAX_EVENTS_REQUESTED || requested.iter().any(|e| e.len() > 256) {
            return Err(SsfError::bad_request("events_requested is too long."));
        }
        let mut unique: Vec<String> = Vec::new();
        for e in requested {
            if !unique.contains(&e) {
                unique.push(e);
            }
        }
        stream.events_delivered = unique
            .iter()
            .filter(|e| SSF_EVENTS_SUPPORTED.contains(&e.as_str()))
            .cloned()
            .collect();
        stream.events_requested = unique;
    }
    if replace || body.description.is_some() {
        if body
            .description
            .as_ref()
            .is_some_and(|d| d.len() > MAX_DESCRIPTION_LENGTH || d.contains('\0'))
        {
            return Err(SsfError::bad_request("description is too long."));
        }
        stream.description = body.description;
    }
    if let Some(subjects) = body.default_subjects {
        if subjects != "ALL" && subjects != "NONE" {
            return Err(SsfError::bad_request(
                "default_subjects must be ALL or NONE.",
            ));
        }
        stream.default_subjects = subjects;
    } else if replace {
        stream.default_subjects = "ALL".to_owned();
    }
    let _ = (
        body.iss,
        body.aud,
        body.events_supported,
        body.events_delivered,
        body.min_verification_interval,
        body.inactivity_timeout,
    );
    Ok(())
}

pub async fn create(
    State(state): State<AppState>,
    caller: SsfCaller,
    meta: RequestMeta,
    SsfJson(body): SsfJson<StreamBody>,
) -> Result<Response, SsfError> {
    caller.require(MANAGE_SCOPE)?;
    if body.stream_id.is_some() {
        return Err(SsfError::bad_request(
            "stream_id is assigned by the transmitter.",
        ));
    }
    if body.delivery.is_none() {
        return Err(SsfError::bad_request("delivery is required."));
    }
    let owner = caller.0.client_id.as_str().to_owned();
    let now = state.clock.now();
    let mut stream = SsfStream {
        id: crate::secrets::hex_id(16),
        client_id: owner,
        delivery_method: String::new(),
        endpoint_url: None,
        authorization_header: None,
        events_requested: vec![],
        events_delivered: vec![],
        description: None,
        default_subjects: "ALL".to_owned(),
        status: SsfStatus::Enabled,
        reason: None,
        created_at: now,
        updated_at: now,
    };
    apply(&mut stream, body, true)?;
    let event = audit(&caller, "Create an SSF stream", &stream, &meta, now);
    let limit = i64::try_from(MAX_STREAMS_PER_CLIENT).unwrap_or(i64::MAX);
    if !state
        .store
        .insert_ssf_stream(&stream, limit, &event)
        .await?
    {
        return Err(SsfError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("A client may have at most {MAX_STREAMS_PER_CLIENT} streams."),
        ));
    }
    Ok((StatusCode::CREATED, Json(render(&state, &stream))).into_response())
}

/// The `sapi` event of a change to `stream`.
pub fn audit(
    caller: &SsfCaller,
    description: &str,
    stream: &SsfStream,
    meta: &RequestMeta,
    now: grantor_domain::Timestamp,
) -> grantor_store::LogEvent {
    let mut event = caller.0.audit(description, meta, now);
    if let Value::Object(details) = &mut event.details {
        details.insert(
            "ssf_stream".to_owned(),
            json!({
                "stream_id": stream.id,
                "delivery_method": stream.delivery_method,
                "events_delivered": stream.events_delivered,
                "status": stream.status.as_str(),
            }),
        );
    }
    event
}

pub async fn read(
    State(state): State<AppState>,
    caller: SsfCaller,
    uri: Uri,
) -> Result<Response, SsfError> {
    caller.require(READ_SCOPE)?;
    let q: StreamQuery = query(&uri)?;
    match q.stream_id {
        Some(id) => {
            let stream = caller.stream(&state, &id).await?;
            Ok(Json(render(&state, &stream)).into_response())
        }
        None => {
            let streams = state
                .store
                .list_ssf_streams(Some(caller.0.client_id.as_str()))
                .await?;
            Ok(Json(
                streams
                    .iter()
                    .map(|s| render(&state, s))
                    .collect::<Vec<_>>(),
            )
            .into_response())
        }
    }
}

async fn change(
    state: AppState,
    caller: SsfCaller,
    meta: RequestMeta,
    body: StreamBody,
    replace: bool,
) -> Result<Response, SsfError> {
    caller.require(MANAGE_SCOPE)?;
    let id = body
        .stream_id
        .clone()
        .ok_or_else(|| SsfError::bad_request("stream_id is required."))?;
    let mut stream = caller.stream(&state, &id).await?;
    apply(&mut stream, body, replace)?;
    let now = state.clock.now();
    let description = if replace {
        "Replace an SSF stream"
    } else {
        "Update an SSF stream"
    };
    let event = audit(&caller, description, &stream, &meta, now);
    if !state
        .store
        .update_ssf_stream(&stream, true, &event, now)
        .await?
    {
        return Err(SsfError::not_found());
    }
    state.outbox.wake();
    Ok(Json(render(&state, &stream)).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    caller: SsfCaller,
    meta: RequestMeta,
    SsfJson(body): SsfJson<StreamBody>,
) -> Result<Response, SsfError> {
    change(state, caller, meta, body, false).await
}

pub async fn replace(
    State(state): State<AppState>,
    caller: SsfCaller,
    meta: RequestMeta,
    SsfJson(body): SsfJson<StreamBody>,
) -> Result<Response, SsfError> {
    change(state, caller, meta, body, true).await
}

pub async fn delete(
    State(state): State<AppState>,
    caller: SsfCaller,
    meta: RequestMeta,
    uri: Uri,
) -> Result<Response, SsfError> {
    caller.require(MANAGE_SCOPE)?;
    let q: StreamQuery = query(&uri)?;
    let id = q
        .stream_id
        .ok_or_else(|| SsfError::bad_request("stream_id is required."))?;
    let stream = caller.stream(&state, &id).await?;
    let now = state.clock.now();
    let event = audit(&caller, "Delete an SSF stream", &stream, &meta, now);
    if !state
        .store
        .delete_ssf_stream(&stream.id, &event, now)
        .await?
    {
        return Err(SsfError::not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
