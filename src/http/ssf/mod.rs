//! The Shared Signals Framework 1.0 transmitter (OpenID SSF, CAEP, RISC):
//! its metadata at `/.well-known/ssf-configuration` and its stream
//! management endpoints under `/ssf/` (SSF 1.0 §8), one file per endpoint
//! family. Callers authenticate as Management API callers (`Caller`: a
//! `client_credentials` token for the Management API) holding
//! `manage:ssf_streams` (changes) or `read:ssf_streams` (reads, status,
//! polls). A stream belongs to the client that created it: any other client
//! gets 404 for it. Errors render in this surface's own JSON, `{err,
//! description}` (the shape of RFC 8935's error bodies), with SSF's status
//! codes.

mod discovery;
mod poll;
mod status;
mod streams;
mod subjects;
mod verify;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use grantor_store::{SsfStream, StoreError};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::management::{ApiError, Caller};
use super::AppState;

/// Changes to streams: create, update, replace, delete, subjects, verify.
pub const MANAGE_SCOPE: &str = "manage:ssf_streams";
/// Reading streams and their status, and polling their events.
pub const READ_SCOPE: &str = "read:ssf_streams";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/ssf-configuration",
            get(discovery::configuration),
        )
        .route(
            "/ssf/streams",
            get(streams::read)
                .post(streams::create)
                .patch(streams::update)
                .put(streams::replace)
                .delete(streams::delete),
        )
        .route("/ssf/status", get(status::read).post(status::update))
        .route("/ssf/subjects/add", post(subjects::add))
        .route("/ssf/subjects/remove", post(subjects::remove))
        .route("/ssf/verify", post(verify::verify))
        .route("/ssf/poll/{stream_id}", post(poll::poll))
}

/// An SSF error: a status code and `{err, description}`.
#[derive(Debug)]
pub struct SsfError {
    status: StatusCode,
    err: &'static str,
    description: String,
    /// Kept from the Management API's refusal (a 401's challenge, a 429's
    /// `Retry-After`).
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl SsfError {
    fn new(status: StatusCode, err: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            err,
            description: description.into(),
            headers: Vec::new(),
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such stream.")
    }

    fn forbidden(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("This requires the scope {scope}."),
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "The service is unavailable; try again later.",
        )
    }
}

impl From<StoreError> for SsfError {
    fn from(e: StoreError) -> Self {
        tracing::warn!(error = %e, "ssf: storage failed");
        match e {
            StoreError::NotFound => SsfError::not_found(),
            StoreError::Conflict(_) => {
                SsfError::new(StatusCode::CONFLICT, "conflict", "The change conflicts.")
            }
            _ => SsfError::unavailable(),
        }
    }
}

impl From<ApiError> for SsfError {
    /// The Management API's refusal of a caller, in this surface's words.
    fn from(e: ApiError) -> Self {
        let response = e.into_response();
        let status = response.status();
        let (err, description) = match status {
            StatusCode::UNAUTHORIZED => (
                "invalid_token",
                "A valid Management API access token is required.",
            ),
            StatusCode::TOO_MANY_REQUESTS => ("too_many_requests", "Too many requests."),
            StatusCode::FORBIDDEN => ("insufficient_scope", "The token lacks the scope."),
            s if s.is_server_error() => (
                "temporarily_unavailable",
                "The service is unavailable; try again later.",
            ),
            _ => ("invalid_request", "The request was refused."),
        };
        let mut error = SsfError::new(status, err, description);
        for name in [header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
            if let Some(v) = response.headers().get(&name) {
                error.headers.push((name, v.clone()));
            }
        }
        error
    }
}

impl IntoResponse for SsfError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(json!({ "err": self.err, "description": self.description })),
        )
            .into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// The authenticated caller of an SSF endpoint (a Management API caller).
pub struct SsfCaller(pub Caller);

impl FromRequestParts<AppState> for SsfCaller {
    type Rejection = SsfError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(SsfCaller(Caller::from_request_parts(parts, state).await?))
    }
}

impl SsfCaller {
    /// 403 unless the token holds `scope`; `manage` also allows reading.
    pub fn require(&self, scope: &str) -> Result<(), SsfError> {
        let scopes = &self.0.scopes;
        if scopes.contains(scope) || (scope == READ_SCOPE && scopes.contains(MANAGE_SCOPE)) {
            Ok(())
        } else {
            Err(SsfError::forbidden(scope))
        }
    }

    /// The caller's own stream `id`: another client's stream is 404, as
    /// an unknown one is.
    pub async fn stream(&self, state: &AppState, id: &str) -> Result<SsfStream, SsfError> {
        if id.is_empty() || id.len() > 64 || id.contains('\0') {
            return Err(SsfError::not_found());
        }
        match state.store.ssf_stream(id).await? {
            Some(stream) if stream.client_id == self.0.client_id.as_str() => Ok(stream),
            _ => Err(SsfError::not_found()),
        }
    }
}

/// A JSON body of type `T` (unknown members refused): any body that does
/// not parse is a 400 in SSF's error shape.
pub struct SsfJson<T>(pub T);

impl<T: DeserializeOwned> axum::extract::FromRequest<AppState> for SsfJson<T> {
    type Rejection = SsfError;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let json_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !json_type {
            return Err(SsfError::bad_request(
                "The body must be JSON (Content-Type: application/json).",
            ));
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => SsfError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalid_request",
                    "The body is too large.",
                ),
                _ => SsfError::bad_request("The body could not be read."),
            })?;
        // A NUL character is refused everywhere (PostgreSQL cannot store it).
        if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
            return Err(SsfError::bad_request("The body must not contain NUL."));
        }
        serde_json::from_slice(&bytes)
            .map(SsfJson)
            .map_err(|e| SsfError::bad_request(format!("Invalid body: {e}")))
    }
}

/// The query parameter `stream_id`.
#[derive(serde::Deserialize)]
pub struct StreamQuery {
    pub stream_id: Option<String>,
}

/// Parses the query string as `T`; a 400 when it does not fit.
pub fn query<T: DeserializeOwned>(uri: &axum::http::Uri) -> Result<T, SsfError> {
    serde_urlencoded::from_str(uri.query().unwrap_or_default())
        .map_err(|e| SsfError::bad_request(format!("Invalid query: {e}")))
}
