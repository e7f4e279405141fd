//! `GET /v2/logout?client_id=…&returnTo=…` (Auth0) and `GET /oidc/logout`
//! (OIDC RP-Initiated Logout: `id_token_hint`, `client_id`,
//! `post_logout_redirect_uri`, `state`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use super::cookies::{clear_cookie, cookie, SESSION_COOKIE};
use super::{views, Page, PageError};
use crate::flows::logout::{self, LogoutOutcome, LogoutRequest};
use crate::http::AppState;

#[derive(Deserialize)]
struct LogoutParams {
    client_id: Option<String>,
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.is_empty())
}

fn parse(query: Option<String>) -> Result<LogoutParams, PageError> {
    serde_urlencoded::from_str(query.as_deref().unwrap_or(""))
        .map_err(|_| PageError::bad_request("The query string is malformed."))
}

pub async fn get_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Page, PageError> {
    let params = parse(query)?;
    let request = LogoutRequest {
        client_id: present(&params.client_id),
        return_to: present(&params.return_to),
        ..LogoutRequest::default()
    };
    finish(&state, &headers, request).await
}

pub async fn get_oidc_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Page, PageError> {
    let params = parse(query)?;
    let request = LogoutRequest {
        client_id: present(&params.client_id),
        return_to: present(&params.post_logout_redirect_uri),
        id_token_hint: present(&params.id_token_hint),
        state: present(&params.state),
    };
    finish(&state, &headers, request).await
}

async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    request: LogoutRequest<'_>,
) -> Result<Page, PageError> {
    let now = state.clock.now();
    let outcome = logout::logout(state, request, cookie(headers, SESSION_COOKIE), now).await?;
    let page = match outcome {
        // Auth0 answers logout with 302 Found.
        LogoutOutcome::Redirect(url) => Page::redirect(StatusCode::FOUND, url),
        LogoutOutcome::SignedOut => {
            Page::html(StatusCode::OK, &views::SignedOutPage)?.without_forms()
        }
    };
    Ok(page.with_cookie(clear_cookie(SESSION_COOKIE, state.issuer.is_https())))
}
