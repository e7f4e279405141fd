//! Errors of the dashboard, rendered in one place: a redirect to the sign-in
//! page when there is no administrator session, otherwise the dashboard's
//! error page. Internal errors are shown without their cause, which is left
//! for the log (`http/error_log.rs`).

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::views;
use crate::http::error_log::ErrorCause;
use crate::http::pages::{Page, PageError};

#[derive(Debug)]
pub enum DashboardError {
    /// No live administrator session: go to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    Status(StatusCode, Cow<'static, str>),
    Internal(anyhow::Error),
}

impl DashboardError {
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Status(StatusCode::NOT_FOUND, message.into())
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, message.into())
    }

    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Status(StatusCode::FORBIDDEN, message.into())
    }
}

impl From<PageError> for DashboardError {
    fn from(e: PageError) -> Self {
        match e {
            PageError::Status(status, message) => Self::Status(status, message),
            PageError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<crate::flows::FlowError> for DashboardError {
    fn from(e: crate::flows::FlowError) -> Self {
        match e {
            crate::flows::FlowError::OAuth(e) => {
                Self::Status(StatusCode::BAD_REQUEST, e.description)
            }
            crate::flows::FlowError::Internal(e) => Self::Internal(e),
        }
    }
}

/// A value the domain refused, where no form can show it: 400 with its reason.
impl From<grantor_domain::ValidationError> for DashboardError {
    fn from(e: grantor_domain::ValidationError) -> Self {
        Self::bad_request(e.0)
    }
}

/// Every password-hashing place is taken: 503, try again.
impl From<crate::password::HashError> for DashboardError {
    fn from(e: crate::password::HashError) -> Self {
        match e {
            crate::password::HashError::Busy(_) => Self::Status(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many password operations are in progress. Try again in a moment.".into(),
            ),
            crate::password::HashError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<grantor_store::StoreError> for DashboardError {
    fn from(e: grantor_store::StoreError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}

fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "This request cannot be done",
        403 => "Forbidden",
        404 => "Not found",
        500..=599 => "Something went wrong",
        _ => "This request cannot be done",
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let (status, message, cause) = match self {
            Self::SignIn { next } => {
                let query =
                    serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
                return Page::redirect(StatusCode::SEE_OTHER, format!("/dashboard/login?{query}"))
                    .into_response();
            }
            Self::Status(status, message) => (status, message, None),
            Self::Internal(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The server could not complete the request. Try again later.".into(),
                Some(e),
            ),
        };
        let page = views::ErrorPage {
            title: title(status),
            message: &message,
        };
        let response = match Page::html(status, &page) {
            Ok(page) => page.into_response(),
            Err(_) => (status, message.into_owned()).into_response(),
        };
        match cause {
            Some(cause) => ErrorCause::attach(response, cause),
            None => response,
        }
    }
}
