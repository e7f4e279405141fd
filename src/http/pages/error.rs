//! Errors of the browser pages, all rendered by the one error template.
//! Internal errors are shown without their cause, which is left for the log
//! (`http/error_log.rs`).

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{views, Page};
use crate::flows::authorize::{BrowserError, BrowserErrorKind};
use crate::http::error_log::ErrorCause;

#[derive(Debug)]
pub enum PageError {
    Status(StatusCode, Cow<'static, str>),
    Internal(anyhow::Error),
}

impl PageError {
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Status(StatusCode::BAD_REQUEST, message.into())
    }

    pub fn csrf() -> Self {
        Self::Status(
            StatusCode::FORBIDDEN,
            "This form has expired or was not sent from this site. Go back, reload the page and try again."
                .into(),
        )
    }
}

impl From<BrowserError> for PageError {
    fn from(e: BrowserError) -> Self {
        match e {
            BrowserError::Page { kind, message } => Self::Status(
                match kind {
                    BrowserErrorKind::Invalid => StatusCode::BAD_REQUEST,
                    BrowserErrorKind::Refused => StatusCode::FORBIDDEN,
                },
                message,
            ),
            BrowserError::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<crate::flows::FlowError> for PageError {
    fn from(e: crate::flows::FlowError) -> Self {
        BrowserError::from(e).into()
    }
}

fn title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        403 => "Forbidden",
        404 => "Not found",
        429 => "Too many attempts",
        500..=599 => "Something went wrong",
        _ => "This request cannot continue",
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, message, cause) = match self {
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
            Ok(page) => page.without_forms().into_response(),
            Err(_) => (status, message.into_owned()).into_response(),
        };
        match cause {
            Some(cause) => ErrorCause::attach(response, cause),
            None => response,
        }
    }
}
