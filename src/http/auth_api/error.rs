//! Authentication API errors: RFC 6749 JSON with Auth0's status codes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::{OAuthError, OAuthErrorKind};
use serde_json::json;

use super::client;
use crate::http::error_log::ErrorCause;
use crate::http::rate_limit::Refusal;

#[derive(Debug)]
pub enum AuthApiError {
    OAuth(OAuthError),
    /// Body too large, wrong media type and the like.
    Status(StatusCode, &'static str, String),
    /// Something we did not expect: shown as `server_error`, its cause left
    /// for the log (`http/error_log.rs`).
    Internal(anyhow::Error),
    /// A rate limit: 429 `too_many_requests` with `Retry-After` and `X-RateLimit-*`.
    RateLimited(Refusal),
}

impl AuthApiError {
    pub fn not_found() -> Self {
        Self::Status(StatusCode::NOT_FOUND, "not_found", "Not Found".to_owned())
    }
}

impl From<OAuthError> for AuthApiError {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

impl From<crate::flows::FlowError> for AuthApiError {
    fn from(e: crate::flows::FlowError) -> Self {
        match e {
            crate::flows::FlowError::OAuth(e) => Self::OAuth(e),
            crate::flows::FlowError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<grantor_store::StoreError> for AuthApiError {
    fn from(e: grantor_store::StoreError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}

impl From<anyhow::Error> for AuthApiError {
    fn from(e: anyhow::Error) -> Self {
        Self::Internal(e)
    }
}

impl From<Refusal> for AuthApiError {
    fn from(r: Refusal) -> Self {
        Self::RateLimited(r)
    }
}

impl IntoResponse for AuthApiError {
    fn into_response(self) -> Response {
        let mut refusal = None;
        let mut cause = None;
        let (status, code, description) = match self {
            Self::RateLimited(r) => {
                refusal = Some(r);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    r.message(),
                )
            }
            Self::OAuth(e) => {
                let rendered = (
                    StatusCode::from_u16(e.kind.status()).unwrap_or(StatusCode::BAD_REQUEST),
                    e.kind.code(),
                    e.description.to_string(),
                );
                if e.cause().is_some() {
                    cause = Some(anyhow::Error::new(e));
                }
                rendered
            }
            Self::Status(status, code, description) => (status, code, description),
            Self::Internal(e) => {
                cause = Some(e);
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    OAuthErrorKind::ServerError.code(),
                    "The server could not complete the request".to_owned(),
                )
            }
        };
        let mut response = (
            status,
            Json(json!({ "error": code, "error_description": description })),
        )
            .into_response();
        if code == OAuthErrorKind::TooManyRequests.code() {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::password::Busy::RETRY_AFTER_SECONDS),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            // Each 401 here is a failed client authentication (`client.rs`).
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(client::CHALLENGE),
            );
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(cause) = cause {
            response = ErrorCause::attach(response, cause);
        }
        match refusal {
            Some(refusal) => refusal.decorate(response),
            None => response,
        }
    }
}
