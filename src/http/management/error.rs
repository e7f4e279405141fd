//! Management API errors: `{statusCode, error, message, errorCode}` (reference §1.3).

use std::borrow::Cow;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_store::StoreError;
use serde_json::json;

use super::messages;
use crate::http::error_log::ErrorCause;
use crate::http::rate_limit::Refusal;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: Cow<'static, str>,
    error_code: Option<&'static str>,
    /// Set on a 429: its `Retry-After` and `X-RateLimit-*` headers.
    refusal: Option<Refusal>,
    /// Set on a 401: which challenge `WWW-Authenticate` carries.
    unauthenticated: Option<Unauthenticated>,
    /// Why, for the log (`http/error_log.rs`); never rendered.
    cause: Option<anyhow::Error>,
}

/// Why a request has no caller (401), as Auth0 tells the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No bearer token at all.
    MissingToken,
    /// A bearer token that is not a live Management API token.
    InvalidToken,
}

impl Unauthenticated {
    fn message(self) -> &'static str {
        match self {
            Self::MissingToken => messages::MISSING_AUTHENTICATION,
            Self::InvalidToken => messages::INVALID_TOKEN,
        }
    }

    /// The `WWW-Authenticate` value (reference §1.3).
    fn challenge(self) -> &'static str {
        match self {
            Self::MissingToken => "Bearer",
            Self::InvalidToken => "Token error=\"Invalid token\"",
        }
    }
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        message: impl Into<Cow<'static, str>>,
        error_code: Option<&'static str>,
    ) -> Self {
        Self {
            status,
            message: message.into(),
            error_code,
            refusal: None,
            unauthenticated: None,
            cause: None,
        }
    }

    /// Keeps `cause` for the log.
    pub fn with_cause(mut self, cause: impl Into<anyhow::Error>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// 429 `too_many_requests` with the rate-limit headers.
    pub fn too_many_requests(refusal: Refusal) -> Self {
        Self {
            refusal: Some(refusal),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                refusal.message(),
                Some("too_many_requests"),
            )
        }
    }

    /// A body or query that fails validation.
    pub fn invalid_body(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, Some("invalid_body"))
    }

    pub fn invalid_query(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            message,
            Some("invalid_query_string"),
        )
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>, error_code: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message, Some(error_code))
    }

    pub fn not_found(message: impl Into<Cow<'static, str>>, error_code: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, message, Some(error_code))
    }

    pub fn conflict(message: impl Into<Cow<'static, str>>, error_code: &'static str) -> Self {
        Self::new(StatusCode::CONFLICT, message, Some(error_code))
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>, error_code: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, message, Some(error_code))
    }

    /// 429 `too_many_requests` when the password-hashing bound is full, with
    /// `Retry-After` (no rate-limit headers: no bucket refused it).
    pub fn busy(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            message,
            Some("too_many_requests"),
        )
    }

    /// 401 with the message and challenge of `why`.
    pub fn unauthenticated(why: Unauthenticated) -> Self {
        Self {
            unauthenticated: Some(why),
            ..Self::new(StatusCode::UNAUTHORIZED, why.message(), None)
        }
    }

    /// 500; `e` is logged, not shown.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
            None,
        )
        .with_cause(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::new(StatusCode::NOT_FOUND, "Not Found", None),
            StoreError::Conflict(_) => Self::conflict("The resource already exists.", "conflict"),
            StoreError::MissingReference(_) => Self::not_found(
                "A referenced resource does not exist.",
                "inexistent_reference",
            ),
            StoreError::Changed => Self::conflict(
                "The resource was changed by another request meanwhile; try again.",
                "conflict",
            ),
            e @ StoreError::Unavailable(_) => Self::internal(e),
        }
    }
}

/// Flows called from the Management API (revocation) have no protocol
/// errors to show; anything they report is unexpected.
impl From<crate::flows::FlowError> for ApiError {
    fn from(e: crate::flows::FlowError) -> Self {
        match e {
            crate::flows::FlowError::OAuth(e) => Self::internal(e),
            crate::flows::FlowError::Internal(e) => Self::internal(e),
        }
    }
}

impl From<grantor_domain::ValidationError> for ApiError {
    fn from(e: grantor_domain::ValidationError) -> Self {
        Self::invalid_body(format!("Payload validation error: {}", e.0))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "statusCode": self.status.as_u16(),
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
        });
        if let Some(code) = self.error_code {
            body["errorCode"] = json!(code);
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(why) = self.unauthenticated {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(why.challenge()),
            );
        }
        if let Some(cause) = self.cause {
            response = ErrorCause::attach(response, cause);
        }
        match self.refusal {
            Some(refusal) => refusal.decorate(response),
            None if self.status == StatusCode::TOO_MANY_REQUESTS => {
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(crate::password::Busy::RETRY_AFTER_SECONDS),
                );
                response
            }
            None => response,
        }
    }
}

/// Every password-hashing place is taken: 429, as a rate limit.
impl From<crate::password::HashError> for ApiError {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Busy(_) => {
                Self::busy("Too many password operations are in progress. Try again in a moment.")
            }
            crate::password::HashError::Internal(e) => Self::internal(e),
        }
    }
}
