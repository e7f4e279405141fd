//! `GET /authorize`, and the login (`POST /u/login`) and consent
//! (`POST /u/consent`) forms of a pending request.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::cookies::{cookie, set_cookie, SESSION_COOKIE};
use super::{render_step, views, CheckedForm, CsrfToken, Page, PageError};
use crate::flows::authorize::{self, AuthorizeParams, LoginResult};
use crate::flows::login::{self, LoginRefusal};
use crate::http::extract::RequestMeta;
use crate::http::AppState;
use crate::password::Busy;

pub async fn get_authorize(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Page, PageError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
            .map_err(|_| PageError::bad_request("The request's query string is malformed."))?;
    let params = AuthorizeParams::from_pairs(pairs);
    let now = state.clock.now();
    let session = login::active_session(&state, cookie(&headers, SESSION_COOKIE), now).await?;
    let step = authorize::start(&state, params, session, &meta, now).await?;
    render_step(
        step,
        CsrfToken::for_page(&headers, state.issuer.is_https()),
        state.issuer.is_https(),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    request: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

pub async fn post_login(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<LoginForm>,
) -> Result<Page, PageError> {
    let request_id = form
        .request
        .ok_or_else(|| PageError::bad_request("The form names no sign-in request."))?;
    let username = form.username.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let now = state.clock.now();
    let secure = state.issuer.is_https();
    let previous = login::active_session(&state, cookie(&headers, SESSION_COOKIE), now).await?;
    let csrf = CsrfToken::for_page(&headers, state.issuer.is_https());
    match authorize::login(
        &state,
        &request_id,
        &username,
        &password,
        previous,
        &meta,
        now,
    )
    .await?
    {
        LoginResult::Refused { view, refusal } => {
            // No hashing place: 429 and `Retry-After`. A wrong password or a
            // brute-force block shows the page again with 200.
            let busy = refusal == LoginRefusal::Busy;
            let status = if busy {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::OK
            };
            let mut page = Page::html(
                status,
                &views::LoginPage {
                    csrf: csrf.value(),
                    request_id: &view.request_id,
                    app_name: &view.app_name,
                    username: &username,
                    error: Some(refusal.message()),
                },
            )?
            .forms_may_return_to(view.redirect_uri.as_deref());
            if busy {
                page = page.with_retry_after(Busy::RETRY_AFTER_SECONDS);
            }
            Ok(csrf.attach(page, secure))
        }
        LoginResult::SignedIn { session, step } => {
            let max_age = (session.active.session.expires_at.millis() - now.millis()) / 1000;
            // A new CSRF token for the signed-in browser: one planted before
            // signing in is not carried over.
            let page = render_step(step, CsrfToken::fresh(), secure)?;
            Ok(page.with_cookie(set_cookie(
                SESSION_COOKIE,
                &session.cookie_secret,
                secure,
                Some(max_age),
            )))
        }
        LoginResult::Stopped(step) => render_step(step, csrf, secure),
    }
}

#[derive(Deserialize)]
pub struct ConsentForm {
    request: Option<String>,
    decision: Option<String>,
}

pub async fn post_consent(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<ConsentForm>,
) -> Result<Page, PageError> {
    let request_id = form
        .request
        .ok_or_else(|| PageError::bad_request("The form names no sign-in request."))?;
    let accept = match form.decision.as_deref() {
        Some("accept") => true,
        Some("decline") => false,
        _ => return Err(PageError::bad_request("Choose Accept or Decline.")),
    };
    let now = state.clock.now();
    let session = login::active_session(&state, cookie(&headers, SESSION_COOKIE), now).await?;
    let step = authorize::consent(&state, &request_id, accept, session, &meta, now).await?;
    render_step(
        step,
        CsrfToken::for_page(&headers, state.issuer.is_https()),
        state.issuer.is_https(),
    )
}
