//! The browser pages: `/authorize` with its login and consent forms,
//! `/activate` for the device flow, `/v2/logout` and `/oidc/logout`.
//! Handlers parse and render; the steps are `flows::authorize`,
//! `flows::device_authorization` and `flows::logout`.
//!
//! Every page goes out through [`Page`] (no caching, no framing, no referrer)
//! and every error through [`PageError`] (the one error template). Every form
//! POST is read through [`CheckedForm`], which refuses it with 403 unless its
//! `csrf` field equals the `grantor_csrf` cookie (double submit).

mod activate;
mod authorize;
pub(crate) mod cookies;
mod error;
mod logout;
mod views;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use cookies::{CheckedForm, CsrfToken};
pub use error::PageError;

use super::AppState;
use crate::flows::authorize::{ResponseMode, Step};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(authorize::get_authorize))
        .route("/u/login", post(authorize::post_login))
        .route("/u/consent", post(authorize::post_consent))
        .route(
            "/activate",
            get(activate::get_activate).post(activate::post_activate),
        )
        .route("/v2/logout", get(logout::get_logout))
        .route("/oidc/logout", get(logout::get_oidc_logout))
}

/// An HTML page or a redirect, with the headers every page carries.
pub struct Page {
    status: StatusCode,
    html: Option<String>,
    location: Option<String>,
    cookies: Vec<String>,
    /// `Retry-After` seconds, for a 429.
    retry_after: Option<u64>,
}

impl Page {
    pub fn html(status: StatusCode, template: &impl Template) -> Result<Self, PageError> {
        let html = template
            .render()
            .map_err(|e| PageError::Internal(anyhow::Error::new(e).context("rendering a page")))?;
        Ok(Self {
            status,
            html: Some(html),
            location: None,
            cookies: Vec::new(),
            retry_after: None,
        })
    }

    /// A redirect (303 after a form POST, so that the browser follows with a
    /// GET). Non-ASCII characters of a registered URL are percent-encoded, as
    /// a `Location` header must be ASCII.
    pub fn redirect(status: StatusCode, location: String) -> Self {
        let location = percent_encoding::utf8_percent_encode(&location, percent_encoding::CONTROLS)
            .to_string();
        Self {
            status,
            html: None,
            location: Some(location),
            cookies: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_cookie(mut self, set_cookie: String) -> Self {
        self.cookies.push(set_cookie);
        self
    }

    /// Adds `Retry-After` (seconds), for a 429.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = match self.html {
            Some(html) => (self.status, axum::response::Html(html)).into_response(),
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        if let Some(location) = self.location {
            match HeaderValue::from_str(&location) {
                Ok(value) => {
                    headers.insert(header::LOCATION, value);
                }
                Err(_) => {
                    tracing::error!("redirect location is not a valid header value");
                    return PageError::Internal(anyhow::anyhow!("invalid redirect location"))
                        .into_response();
                }
            }
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        for cookie in self.cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, value);
            }
        }
        for (name, value) in [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        response
    }
}

/// Renders the next step of a sign-in: a page with a form, or the response
/// to the client (a 303 redirect, or the auto-submitting form of
/// `response_mode=form_post`).
pub fn render_step(step: Step, csrf: CsrfToken, secure: bool) -> Result<Page, PageError> {
    let page = match step {
        Step::Login(view) => Page::html(
            StatusCode::OK,
            &views::LoginPage {
                csrf: csrf.value(),
                request_id: &view.request_id,
                app_name: &view.app_name,
                username: "",
                error: None,
            },
        )?,
        Step::Consent(view) => Page::html(
            StatusCode::OK,
            &views::ConsentPage {
                csrf: csrf.value(),
                request_id: &view.request_id,
                app_name: &view.app_name,
                api_name: &view.api_name,
                audience: &view.audience,
                user_email: &view.user_email,
                scopes: &view.scopes,
                device: view.device.as_ref().map(views::DeviceLines::new),
            },
        )?,
        Step::Redirect(redirect) => {
            return Ok(match redirect.response_mode {
                ResponseMode::Query => Page::redirect(StatusCode::SEE_OTHER, redirect.location()),
                ResponseMode::FormPost => Page::html(
                    StatusCode::OK,
                    &views::FormPostPage {
                        redirect_uri: &redirect.redirect_uri,
                        params: &redirect.params,
                    },
                )?,
            })
        }
        Step::DeviceConnected => {
            Page::html(StatusCode::OK, &views::DeviceResultPage { connected: true })?
        }
        Step::DeviceDenied => Page::html(
            StatusCode::OK,
            &views::DeviceResultPage { connected: false },
        )?,
    };
    Ok(csrf.attach(page, secure))
}
