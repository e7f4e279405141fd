//! `/activate` (RFC 8628 §3.3): the user enters the code their device shows,
//! then signs in and consents as on `/authorize`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::cookies::{cookie, SESSION_COOKIE};
use super::{render_step, views, CheckedForm, CsrfToken, Page, PageError};
use crate::flows::device_authorization::{self, Activation};
use crate::flows::login;
use crate::http::extract::RequestMeta;
use crate::http::AppState;

#[derive(Deserialize, Default)]
pub struct ActivateParams {
    user_code: Option<String>,
}

/// The code form, prefilled from `?user_code=` (`verification_uri_complete`).
pub async fn get_activate(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Page, PageError> {
    let params: ActivateParams = serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|_| PageError::bad_request("The query string is malformed."))?;
    activate_page(
        &state,
        &headers,
        StatusCode::OK,
        params.user_code.as_deref().unwrap_or(""),
        None,
    )
}

pub async fn post_activate(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    CheckedForm(form): CheckedForm<ActivateParams>,
) -> Result<Page, PageError> {
    let typed = form.user_code.unwrap_or_default();
    let now = state.clock.now();
    let session = login::active_session(&state, cookie(&headers, SESSION_COOKIE), now).await?;
    match device_authorization::activate(&state, &typed, session, &meta, now).await? {
        Activation::Proceed(step) => {
            render_step(*step, CsrfToken::for_page(&headers, state.issuer.is_https()), state.issuer.is_https())
        }
        Activation::WrongCode => activate_page(
            &state,
            &headers,
            StatusCode::OK,
            &typed,
            Some("That code is not valid or has expired. Check the code on your device and try again."),
        ),
        Activation::TooManyAttempts {
            retry_after_seconds,
        } => Ok(activate_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            "",
            Some("Too many wrong codes were entered from your network. Wait a few minutes and try again."),
        )?
        .with_retry_after(retry_after_seconds.unsigned_abs())),
    }
}

fn activate_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    user_code: &str,
    error: Option<&str>,
) -> Result<Page, PageError> {
    let csrf = CsrfToken::for_page(headers, state.issuer.is_https());
    let page = Page::html(
        status,
        &views::ActivatePage {
            csrf: csrf.value(),
            user_code,
            error,
        },
    )?;
    Ok(csrf.attach(page, state.issuer.is_https()))
}
