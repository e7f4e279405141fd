//! Shared Signals Framework 1.0 events as Security Event Tokens (RFC 8417),
//! queued by the store for each matching stream (`ops/ssf.rs`) and built
//! here, when they are sent or polled, from the audit event of the change
//! (`log_id`): the SET says what the audit log says. Push delivery follows
//! RFC 8935 (`ssf_push`); poll delivery (RFC 8936, `ssf_poll`) is served by
//! `src/http/ssf/poll.rs` and never passes through the worker.

use grantor_domain::SigningAlg;
use grantor_store::{
    DeliveryOutcome, LogEvent, OutboxMessage, SsfStatus, SsfStream, CAEP_SESSION_REVOKED,
    OAUTH_TOKENS_REVOKED, SSF_VERIFICATION,
};
use serde_json::{json, Map, Value};

use super::Destination;
use crate::flows::audit::{self, Actor};
use crate::flows::RequestMeta;
use crate::state::AppState;

/// The media type of a SET (RFC 8417 §2.3) and of a push body (RFC 8935).
pub const SET_MEDIA_TYPE: &str = "application/secevent+jwt";
/// The JWT `typ` of a SET.
pub const SET_TYP: &str = "secevent+jwt";
/// The audit detail a verification request carries (`{stream_id, state}`).
pub const VERIFICATION_DETAIL: &str = "ssf_verification";

/// The stream's current push endpoint: a deleted or disabled stream ends
/// the message; one paused or polled since the message was queued (a
/// status change leaves messages in flight alone) takes it back to wait.
/// Only `ssf_push` messages are claimed.
pub(super) async fn destination(state: &AppState, message: &OutboxMessage) -> Destination {
    match state.store.ssf_stream(&message.destination).await {
        Ok(Some(stream)) if stream.status == SsfStatus::Disabled => {
            Destination::Gone("the stream was disabled".to_owned())
        }
        Ok(Some(stream)) if !owner_exists(state, &stream).await => {
            Destination::Gone("the stream's client was deleted".to_owned())
        }
        Ok(Some(stream)) if stream.status == SsfStatus::Paused || stream.is_poll() => {
            Destination::Requeue
        }
        Ok(Some(stream)) => match stream.endpoint_url {
            Some(url) => Destination::Url(url),
            None => Destination::Gone("the stream has no push endpoint".to_owned()),
        },
        Ok(None) => Destination::Gone("the stream was deleted".to_owned()),
        // The store did not answer: try again later, never fail the event.
        Err(_) => Destination::Later,
    }
}

/// Whether the stream's owner client still exists (a store failure counts
/// as yes: the attempt goes ahead).
async fn owner_exists(state: &AppState, stream: &SsfStream) -> bool {
    let id = grantor_domain::ClientId::from(stream.client_id.as_str());
    !matches!(state.store.client(&id).await, Ok(None))
}

/// The RFC 8935 push: the SET as the body, `application/secevent+jwt`,
/// with the stream's `authorization_header`.
pub(super) async fn request(
    state: &AppState,
    message: &OutboxMessage,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::RequestBuilder, String> {
    let stream = state
        .store
        .ssf_stream(&message.destination)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the stream was deleted")?;
    let token = security_event_token(state, &stream, message)
        .await
        .map_err(|e| e.to_string())?;
    let request = request
        .header(reqwest::header::CONTENT_TYPE, SET_MEDIA_TYPE)
        .header(reqwest::header::ACCEPT, "application/json")
        .body(token);
    Ok(match stream.authorization_header {
        Some(header) => request.header(reqwest::header::AUTHORIZATION, header),
        None => request,
    })
}

/// RFC 8935 §2.2-2.3: 202 Accepted is success; an error answer's JSON
/// `{err, description}` is kept as the reason.
pub(super) async fn outcome(response: reqwest::Response) -> Result<(), String> {
    let status = response.status();
    if status == reqwest::StatusCode::ACCEPTED {
        return Ok(());
    }
    // An error body is read up to 4 KiB (the receiver chooses its size);
    // the worker also cleans and cuts the text it keeps.
    let mut response = response;
    let mut bytes = Vec::new();
    while bytes.len() < 4096 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    let err = body.as_ref().and_then(|b| b["err"].as_str());
    let description = body.as_ref().and_then(|b| b["description"].as_str());
    Err(match (err, description) {
        (Some(err), Some(d)) => format!("the receiver answered {}: {err}: {d}", status.as_u16()),
        (Some(err), None) => format!("the receiver answered {}: {err}", status.as_u16()),
        _ => format!("the receiver answered {}", status.as_u16()),
    })
}

/// A push given up after its last attempt pauses its stream (if it was
/// enabled), with the reason and an audit event: later events are held, not
/// lost, until the receiver enables the stream again (`POST /ssf/status`).
pub(super) async fn settled(state: &AppState, message: &OutboxMessage, outcome: &DeliveryOutcome) {
    let DeliveryOutcome::GaveUp { error } = outcome else {
        return;
    };
    let now = state.clock.now();
    let reason = format!(
        "suspended by grantor: event {} failed for good: {error}",
        message.id
    );
    let mut event = audit::api_operation(
        "SSF stream paused: a delivery failed for good",
        &Actor::System,
        &RequestMeta::default(),
        now,
    );
    event.client_id = message.client_id.clone();
    if let Value::Object(details) = &mut event.details {
        details.insert(
            "ssf_stream".to_owned(),
            json!({ "stream_id": message.destination, "status": "paused", "reason": reason }),
        );
    }
    match state
        .store
        .suspend_ssf_stream(&message.destination, &reason, &event, now)
        .await
    {
        Ok(true) => {
            tracing::warn!(stream = %message.destination, "ssf: stream paused after a delivery failed for good")
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(stream = %message.destination, error = %e, "ssf: pausing a failing stream failed")
        }
    }
}

/// The event type a message carries: a named session's end, a verification
/// (its audit event says so), or a refresh-token/grant revocation.
fn event_type(message: &OutboxMessage, log: Option<&LogEvent>) -> &'static str {
    if message.session_id.is_some() {
        CAEP_SESSION_REVOKED
    } else if log.is_some_and(|l| l.details.get(VERIFICATION_DETAIL).is_some()) {
        SSF_VERIFICATION
    } else {
        OAUTH_TOKENS_REVOKED
    }
}

/// CAEP's `initiating_entity` from the audit event's actor: a dashboard
/// administrator or a Management API client is `admin`, grantor itself
/// (reuse detection, a replayed code) is `policy`; a client at
/// `/oauth/revoke` acts for its user, and no actor (a browser logout) is the
/// user too.
fn initiating_entity(log: &LogEvent) -> &'static str {
    match log.details["actor"]["type"].as_str() {
        Some("admin") => "admin",
        Some("system") => "policy",
        Some("client") if log.details["reason"].as_str() != Some("revoke-endpoint") => "admin",
        _ => "user",
    }
}

/// Signs the SET for one message (RFC 8417; SSF 1.0 §4): `iss`, `jti` (the
/// message id), `iat`, `aud` (the stream's owner client), `txn` (the audit
/// event id), `sub_id` (RFC 9493) and one event. Each attempt or poll signs
/// anew; the `jti` stays.
pub async fn security_event_token(
    state: &AppState,
    stream: &SsfStream,
    message: &OutboxMessage,
) -> anyhow::Result<String> {
    let log = match message.log_id.as_deref() {
        Some(id) => state.store.log_event(id).await?,
        None => None,
    };
    let kind = event_type(message, log.as_ref());
    let issuer = state.issuer.as_str();
    let user = || json!({ "format": "iss_sub", "iss": issuer, "sub": message.user_id });
    let sub_id = if kind == SSF_VERIFICATION {
        json!({ "format": "opaque", "id": stream.id })
    } else if let Some(session) = &message.session_id {
        json!({ "format": "complex", "user": user(), "session": { "format": "opaque", "id": session } })
    } else {
        user()
    };
    let mut event = Map::new();
    if let Some(log) = &log {
        if kind == SSF_VERIFICATION {
            if let Some(s) = log.details[VERIFICATION_DETAIL]["state"].as_str() {
                event.insert("state".into(), json!(s));
            }
        } else {
            event.insert("event_timestamp".into(), json!(log.date.unix_seconds()));
            event.insert("initiating_entity".into(), json!(initiating_entity(log)));
            event.insert("reason_admin".into(), json!({ "en": log.description }));
            // grantor's members: what the audit event names.
            event.insert("client_id".into(), json!(log.client_id));
            event.insert("log_type".into(), json!(log.type_code));
            if let Some(receipt) = log.details.get("receipt") {
                event.insert("receipt".into(), receipt.clone());
            }
        }
    }
    let claims = json!({
        "iss": issuer,
        "jti": message.id,
        "iat": state.clock.now().unix_seconds(),
        "aud": stream.client_id,
        "txn": message.log_id,
        "sub_id": sub_id,
        "events": { kind: Value::Object(event) },
    });
    state.keys.sign_typed(SigningAlg::Rs256, SET_TYP, &claims)
}
