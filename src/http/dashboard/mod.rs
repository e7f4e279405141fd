//! The dashboard (`/dashboard`, CONTRACT §5): server-rendered pages for the
//! dashboard administrator, working without JavaScript. User Management ›
//! Users (create, edit, set a password, block, unblock, delete, and the
//! Authorized Applications, Sessions and Devices tabs), Applications (create,
//! settings, refresh-token settings, rotate the secret, delete), APIs
//! (create, edit, delete), Tenant Settings › Advanced, Log Streams, SSF
//! Streams, Signing Keys and Logs (the audit log and each event).
//!
//! Handlers parse, call the same flow or store operation as the Management
//! API, and render an askama template (`templates/dashboard/`). Every page
//! needs a signed-in administrator ([`Dash`]); every POST goes through
//! [`AdminForm`], which refuses it with 403 unless the double-submit CSRF
//! token matches, before the handler runs. Every revocation goes through
//! `flows::revocation`, after a confirmation page that says what it covers;
//! deleting anything and rotating a secret are confirmed first as well.
//! Every change is audited in its own transaction, with the administrator
//! as the actor.
//! Every response carries no-store, anti-framing and a strict CSP, set once
//! by [`security_headers`]; the one stylesheet is served from here.

mod apis;
mod applications;
mod error;
mod log_streams;
mod logs;
mod session;
mod signing_keys;
mod ssf_streams;
mod tenant_settings;
mod user_changes;
mod users;
mod views;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

pub use error::DashboardError;
pub use session::{AdminForm, Dash};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(session::get_index))
        .route("/dashboard/", get(session::get_index))
        .route(
            "/dashboard/login",
            get(session::get_login).post(session::post_login),
        )
        .route("/dashboard/logout", post(session::post_logout))
        .route("/dashboard/static/dashboard.css", get(get_stylesheet))
        .route("/dashboard/ssf-streams", get(ssf_streams::list_streams))
        .route("/dashboard/users", get(users::list_users))
        .route(
            "/dashboard/users/new",
            get(user_changes::get_new).post(user_changes::create),
        )
        .route("/dashboard/users/{id}", get(users::get_details))
        .route(
            "/dashboard/users/{id}/edit",
            get(user_changes::get_edit).post(user_changes::edit),
        )
        .route(
            "/dashboard/users/{id}/password",
            get(user_changes::get_password).post(user_changes::set_password),
        )
        .route(
            "/dashboard/users/{id}/block",
            get(user_changes::confirm_block).post(user_changes::block),
        )
        .route("/dashboard/users/{id}/unblock", post(user_changes::unblock))
        .route(
            "/dashboard/users/{id}/delete",
            get(user_changes::confirm_delete).post(user_changes::delete),
        )
        .route(
            "/dashboard/users/{id}/authorized-applications",
            get(users::get_authorized_applications),
        )
        .route(
            "/dashboard/users/{id}/authorized-applications/{grant_id}/revoke",
            get(users::confirm_revoke_grant).post(users::revoke_grant),
        )
        .route("/dashboard/users/{id}/sessions", get(users::get_sessions))
        .route(
            "/dashboard/users/{id}/sessions/{session_id}/revoke",
            get(users::confirm_revoke_session).post(users::revoke_session),
        )
        .route("/dashboard/users/{id}/devices", get(users::get_devices))
        .route(
            "/dashboard/users/{id}/devices/{token_id}/revoke",
            get(users::confirm_revoke_device).post(users::revoke_device),
        )
        .route(
            "/dashboard/applications",
            get(applications::list_applications),
        )
        .route(
            "/dashboard/applications/new",
            get(applications::get_new).post(applications::create),
        )
        .route(
            "/dashboard/applications/{id}",
            get(applications::get_application).post(applications::update_application),
        )
        .route(
            "/dashboard/applications/{id}/settings",
            post(applications::update_settings),
        )
        .route(
            "/dashboard/applications/{id}/rotate-secret",
            get(applications::confirm_rotate).post(applications::rotate_secret),
        )
        .route(
            "/dashboard/applications/{id}/delete",
            get(applications::confirm_delete).post(applications::delete),
        )
        .route("/dashboard/apis", get(apis::list_apis))
        .route("/dashboard/apis/new", get(apis::get_new).post(apis::create))
        .route(
            "/dashboard/apis/{id}",
            get(apis::get_api).post(apis::update),
        )
        .route(
            "/dashboard/apis/{id}/delete",
            get(apis::confirm_delete).post(apis::delete),
        )
        .route(
            "/dashboard/tenant-settings",
            get(tenant_settings::get_index),
        )
        .route(
            "/dashboard/tenant-settings/advanced",
            get(tenant_settings::get_advanced).post(tenant_settings::update_advanced),
        )
        .route("/dashboard/log-streams", get(log_streams::list_log_streams))
        .route("/dashboard/logs", get(logs::list_logs))
        .route("/dashboard/logs/{id}", get(logs::get_log))
        .route(
            "/dashboard/signing-keys",
            get(signing_keys::list_signing_keys),
        )
        .route(
            "/dashboard/signing-keys/rotate",
            get(signing_keys::confirm_rotate).post(signing_keys::rotate),
        )
        .route(
            "/dashboard/signing-keys/{kid}/revoke",
            get(signing_keys::confirm_revoke).post(signing_keys::revoke),
        )
        .route("/dashboard/{*rest}", get(not_found).post(not_found))
        .layer(axum::middleware::from_fn(security_headers))
}

/// The stylesheet, compiled into the binary; nothing comes from a CDN.
const STYLESHEET: &str = include_str!("../../../templates/dashboard/dashboard.css");

async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLESHEET,
    )
        .into_response()
}

async fn not_found(_dash: Dash) -> DashboardError {
    DashboardError::not_found("There is no such page.")
}

/// The headers of every dashboard response: nothing is cached (except the
/// stylesheet, briefly), nothing may frame a page, scripts cannot run at all,
/// and forms can only post back to grantor.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
