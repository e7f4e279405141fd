//! Tenant › Signing Keys: every key with its state and dates, and the two
//! changes of `/api/v2/keys/signing` (rotate; revoke a previous key), each
//! behind a confirmation page (GET) whose form posts with the CSRF token.
//! They call the same flow as the Management API (`flows::signing_keys`),
//! with the administrator as the audit event's actor.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use grantor_store::{SigningKeyRecord, SigningKeyRevocation, SigningKeyState};
use serde::Deserialize;

use super::session::EmptyForm;
use super::views::{self, Layout};
use super::{AdminForm, Dash, DashboardError};
use crate::flows::signing_keys;
use crate::http::extract::RequestMeta;
use crate::http::pages::Page;
use crate::http::AppState;

const PAGE: &str = "/dashboard/signing-keys";

pub struct KeyRow {
    pub state: &'static str,
    pub alg: String,
    pub kid: String,
    pub current_since: String,
    pub current_until: String,
    pub revoked_at: String,
    pub revocable: bool,
}

#[derive(Template)]
#[template(path = "dashboard/signing_keys.html")]
pub struct SigningKeysPage<'a> {
    pub layout: Layout<'a>,
    pub notice: Option<&'static str>,
    pub rows: Vec<KeyRow>,
}

#[derive(Template)]
#[template(path = "dashboard/signing_key_confirm.html")]
pub struct ConfirmPage<'a> {
    pub layout: Layout<'a>,
    pub heading: String,
    pub facts: Vec<(&'static str, String)>,
    /// What the change does, said before the button.
    pub what: &'static str,
    pub button: &'static str,
    pub action: String,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    done: Option<String>,
}

fn dash_when(at: Option<grantor_domain::Timestamp>) -> String {
    at.map_or_else(|| "—".to_owned(), views::when)
}

fn rank(state: SigningKeyState) -> u8 {
    match state {
        SigningKeyState::Current => 0,
        SigningKeyState::Next => 1,
        SigningKeyState::Previous => 2,
        SigningKeyState::Revoked => 3,
    }
}

pub async fn list_signing_keys(
    State(state): State<AppState>,
    dash: Dash,
    Query(query): Query<NoticeQuery>,
) -> Result<Page, DashboardError> {
    let mut keys = state.store.signing_keys().await?;
    keys.reverse();
    keys.sort_by_key(|k| rank(k.state));
    let rows = keys
        .into_iter()
        .map(|k| KeyRow {
            state: k.state.as_str(),
            revocable: k.state == SigningKeyState::Previous,
            current_since: dash_when(k.current_since),
            current_until: dash_when(k.current_until),
            revoked_at: dash_when(k.revoked_at),
            alg: k.alg,
            kid: k.kid,
        })
        .collect();
    let notice = match query.done.as_deref() {
        Some("rotated") => Some("Signing keys rotated: the next keys sign now."),
        Some("revoked") => Some("Signing key revoked: tokens it signed no longer verify."),
        _ => None,
    };
    let html = Page::html(
        StatusCode::OK,
        &SigningKeysPage {
            layout: dash.layout("signing-keys"),
            notice,
            rows,
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn confirm_rotate(
    State(state): State<AppState>,
    dash: Dash,
) -> Result<Page, DashboardError> {
    let keys = state.store.signing_keys().await?;
    let facts = keys
        .iter()
        .filter(|k| k.state == SigningKeyState::Next)
        .map(|k| (alg_label(&k.alg), k.kid.clone()))
        .collect();
    let html = Page::html(
        StatusCode::OK,
        &ConfirmPage {
            layout: dash.layout("signing-keys"),
            heading: "Rotate the signing keys?".to_owned(),
            facts,
            what: "These next keys will sign from now on; the current keys become previous keys and stay published, so tokens they signed still verify. A new next key is made for each algorithm.",
            button: "Rotate",
            action: format!("{PAGE}/rotate"),
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn rotate(
    State(state): State<AppState>,
    meta: RequestMeta,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    signing_keys::rotate(&state, &dash.admin.actor(), &meta, state.clock.now()).await?;
    Ok(Page::redirect(
        StatusCode::SEE_OTHER,
        format!("{PAGE}?done=rotated"),
    ))
}

fn alg_label(alg: &str) -> &'static str {
    match alg {
        "RS256" => "RS256 key",
        "PS256" => "PS256 key",
        "ES256" => "ES256 key",
        "EdDSA" => "EdDSA key",
        _ => "Key",
    }
}

async fn previous_key(state: &AppState, kid: &str) -> Result<SigningKeyRecord, DashboardError> {
    let key = state
        .store
        .signing_keys()
        .await?
        .into_iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| DashboardError::not_found("There is no signing key with this id."))?;
    if key.state != SigningKeyState::Previous {
        return Err(not_previous(key.state));
    }
    Ok(key)
}

fn not_previous(state: SigningKeyState) -> DashboardError {
    DashboardError::bad_request(match state {
        SigningKeyState::Current => "The current signing key cannot be revoked; rotate first.",
        SigningKeyState::Next => {
            "The next signing key cannot be revoked; it has not been used yet."
        }
        _ => "This signing key is already revoked.",
    })
}

pub async fn confirm_revoke(
    State(state): State<AppState>,
    dash: Dash,
    Path(kid): Path<String>,
) -> Result<Page, DashboardError> {
    let key = previous_key(&state, &kid).await?;
    let html = Page::html(
        StatusCode::OK,
        &ConfirmPage {
            layout: dash.layout("signing-keys"),
            heading: format!("Revoke the {} key {}?", key.alg, key.kid),
            facts: vec![
                ("Key ID", key.kid.clone()),
                ("Algorithm", key.alg.clone()),
                ("Current since", dash_when(key.current_since)),
                ("Current until", dash_when(key.current_until)),
            ],
            what: "The key is unpublished at once, and every token it signed (ID, access and Management API tokens) stops verifying in every process. This cannot be undone.",
            button: "Revoke",
            action: format!("{PAGE}/{}/revoke", percent_encoding::utf8_percent_encode(&key.kid, percent_encoding::NON_ALPHANUMERIC)),
        },
    )?;
    Ok(dash.finish(html))
}

pub async fn revoke(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(kid): Path<String>,
    AdminForm { dash, .. }: AdminForm<EmptyForm>,
) -> Result<Page, DashboardError> {
    let outcome =
        signing_keys::revoke(&state, &kid, &dash.admin.actor(), &meta, state.clock.now()).await?;
    match outcome {
        SigningKeyRevocation::Revoked(_) => Ok(Page::redirect(
            StatusCode::SEE_OTHER,
            format!("{PAGE}?done=revoked"),
        )),
        SigningKeyRevocation::NotFound => Err(DashboardError::not_found(
            "There is no signing key with this id.",
        )),
        SigningKeyRevocation::NotPrevious(state) => Err(not_previous(state)),
    }
}
