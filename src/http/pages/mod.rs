//! The browser pages: `/authorize` with its login and consent forms,
//! `/activate` for the device flow, `/v2/logout` and `/oidc/logout`.
//! Handlers parse and render; the steps are `flows::authorize`,
//! `flows::device_authorization` and `flows::logout`.
//!
//! Every page goes out through [`Page`] (no caching, no framing, no referrer,
//! and a Content-Security-Policy that allows no script, one stylesheet from
//! here, and forms posting only where the page's forms go) and every error
//! through [`PageError`] (the one error template). The one inline script,
//! the `form_post` auto-submit, runs by a per-response nonce. Every form
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
use grantor_domain::urls::csp_source;

use crate::flows::authorize::{ClientRedirect, ResponseMode, Step};

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
        .route(STYLESHEET_PATH, get(get_stylesheet))
}

/// The pages' one stylesheet, compiled in and served from here, so that the
/// CSP needs no `'unsafe-inline'` for styles.
const STYLESHEET_PATH: &str = "/u/static/pages.css";
const STYLESHEET: &str = include_str!("../../../templates/pages/pages.css");

async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The Content-Security-Policy of a page: nothing loads but the stylesheet
/// from here; no script runs unless the page carries the nonce; forms post
/// only to `form_action` (`'none'` when empty); no framing, no `<base>`.
fn content_security_policy(form_action: &[String], script_nonce: Option<&str>) -> String {
    let forms = if form_action.is_empty() {
        "'none'".to_owned()
    } else {
        form_action.join(" ")
    };
    let scripts = script_nonce.map_or_else(|| "'none'".to_owned(), |n| format!("'nonce-{n}'"));
    format!(
        "default-src 'none'; script-src {scripts}; style-src 'self'; form-action {forms}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// An HTML page or a redirect, with the headers every page carries.
pub struct Page {
    status: StatusCode,
    html: Option<String>,
    location: Option<String>,
    cookies: Vec<String>,
    /// `Retry-After` seconds, for a 429.
    retry_after: Option<u64>,
    /// CSP `form-action` sources; `'self'` unless the page says otherwise.
    form_action: Vec<String>,
    /// The nonce that lets the page's one inline script run.
    script_nonce: Option<String>,
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
            form_action: vec!["'self'".to_owned()],
            script_nonce: None,
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
            form_action: Vec::new(),
            script_nonce: None,
        }
    }

    /// The page has no form: `form-action 'none'`.
    pub fn without_forms(mut self) -> Self {
        self.form_action.clear();
        self
    }

    /// Posting the page's form may end in a redirect to the client's
    /// `redirect_uri` (a browser checks `form-action` on the redirects that
    /// follow a submission too), so its origin is allowed besides `'self'`.
    pub fn forms_may_return_to(mut self, redirect_uri: Option<&str>) -> Self {
        if let Some(source) = redirect_uri.and_then(csp_source) {
            self.form_action.push(source);
        }
        self
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
                Err(e) => {
                    // The location itself stays out of the log: it may carry a code.
                    return PageError::Internal(
                        anyhow::Error::new(e).context("invalid redirect location"),
                    )
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
        let csp = content_security_policy(&self.form_action, self.script_nonce.as_deref());
        match HeaderValue::from_str(&csp) {
            Ok(value) => {
                headers.insert(header::CONTENT_SECURITY_POLICY, value);
            }
            Err(e) => {
                return PageError::Internal(
                    anyhow::Error::new(e).context("invalid content security policy"),
                )
                .into_response();
            }
        }
        for (name, value) in [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
            (header::X_FRAME_OPTIONS, "DENY"),
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
                username: view.login_hint.as_deref().unwrap_or(""),
                error: None,
            },
        )?
        .forms_may_return_to(view.redirect_uri.as_deref()),
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
        )?
        .forms_may_return_to(view.redirect_uri.as_deref()),
        // A new token (at sign-in) is set on the way back to the client too.
        Step::Redirect(redirect) => match redirect.response_mode {
            ResponseMode::Query => Page::redirect(StatusCode::SEE_OTHER, redirect.location()),
            ResponseMode::FormPost => form_post_page(&redirect)?,
        },
        Step::DeviceConnected => {
            Page::html(StatusCode::OK, &views::DeviceResultPage { connected: true })?
                .without_forms()
        }
        Step::DeviceDenied => Page::html(
            StatusCode::OK,
            &views::DeviceResultPage { connected: false },
        )?
        .without_forms(),
    };
    Ok(csrf.attach(page, secure))
}

/// OAuth 2.0 Form Post Response Mode: a form to `redirect_uri` that submits
/// itself. Its one script runs by a fresh nonce; the form may post only to
/// the `redirect_uri`'s origin.
fn form_post_page(redirect: &ClientRedirect) -> Result<Page, PageError> {
    let nonce = crate::secrets::csp_nonce();
    let mut page = Page::html(
        StatusCode::OK,
        &views::FormPostPage {
            redirect_uri: &redirect.redirect_uri,
            params: &redirect.params,
            nonce: &nonce,
        },
    )?
    .without_forms()
    .forms_may_return_to(Some(&redirect.redirect_uri));
    page.script_nonce = Some(nonce);
    Ok(page)
}
