//! The Management API (`/api/v2`, Auth0-compatible): one file per Auth0
//! resource holding its DTOs and handlers. Bodies go through `ApiJson`,
//! queries through `ApiQuery`, the caller through `Caller`, and every error
//! renders once, in `error.rs`, with the messages Auth0 defines from
//! `messages.rs`.
//!
//! **The route table is the API description.** Every route is added with
//! `.routes(routes!(…))`, which mounts the handlers and adds their
//! `#[utoipa::path]` to the OpenAPI document (`openapi.rs`, served at
//! `/openapi.json`) in one step; `tests/it/openapi.rs` fails on any other way
//! of adding a route. One `routes!` holds the handlers of one path only.

mod body;
mod caller;
mod client_grants;
mod clients;
mod cursor;
mod deliveries;
mod device_credentials;
mod error;
mod grants;
mod log_streams;
mod logs;
mod messages;
mod metadata;
mod openapi;
mod paging;
mod public_key;
mod refresh_tokens;
mod resource_servers;
mod sessions;
mod signing_keys;
mod tenant_settings;
mod user_blocks;
mod users;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use body::ApiJson;
pub use caller::Caller;
pub use error::ApiError;
pub use logs::render as render_log_event;
pub use paging::{iso8601, ApiQuery, FieldParams, ListParams};

use super::AppState;

pub fn routes() -> Router<AppState> {
    let (router, document) = OpenApiRouter::with_openapi(openapi::ManagementApiDoc::openapi())
        .routes(routes!(clients::list_clients, clients::create_client))
        .routes(routes!(
            clients::get_client,
            clients::update_client,
            clients::delete_client
        ))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::users_by_email))
        .routes(routes!(
            users::get_user,
            users::update_user,
            users::delete_user
        ))
        .routes(routes!(
            resource_servers::list_resource_servers,
            resource_servers::create_resource_server
        ))
        .routes(routes!(
            resource_servers::get_resource_server,
            resource_servers::update_resource_server,
            resource_servers::delete_resource_server
        ))
        .routes(routes!(
            client_grants::list_client_grants,
            client_grants::create_client_grant
        ))
        .routes(routes!(
            client_grants::get_client_grant,
            client_grants::update_client_grant,
            client_grants::delete_client_grant
        ))
        .routes(routes!(
            tenant_settings::get_settings,
            tenant_settings::update_settings
        ))
        .routes(routes!(grants::list_grants, grants::delete_grants_by_user))
        .routes(routes!(grants::delete_grant))
        .routes(routes!(
            device_credentials::list_device_credentials,
            device_credentials::create_device_credential
        ))
        .routes(routes!(device_credentials::delete_device_credential))
        .routes(routes!(refresh_tokens::list_refresh_tokens))
        .routes(routes!(
            refresh_tokens::get_refresh_token,
            refresh_tokens::delete_refresh_token,
            refresh_tokens::update_refresh_token
        ))
        .routes(routes!(refresh_tokens::revoke_refresh_tokens))
        .routes(routes!(
            refresh_tokens::list_user_refresh_tokens,
            refresh_tokens::delete_user_refresh_tokens
        ))
        .routes(routes!(
            sessions::get_session,
            sessions::delete_session,
            sessions::update_session
        ))
        .routes(routes!(sessions::revoke_session))
        .routes(routes!(
            sessions::list_user_sessions,
            sessions::delete_user_sessions
        ))
        .routes(routes!(sessions::revoke_user_access))
        .routes(routes!(
            user_blocks::get_blocks_by_identifier,
            user_blocks::delete_blocks_by_identifier
        ))
        .routes(routes!(
            user_blocks::get_user_blocks,
            user_blocks::delete_user_blocks
        ))
        .routes(routes!(logs::list_logs))
        .routes(routes!(deliveries::list_deliveries))
        .routes(routes!(
            log_streams::list_log_streams,
            log_streams::create_log_stream
        ))
        .routes(routes!(
            log_streams::get_log_stream,
            log_streams::update_log_stream,
            log_streams::delete_log_stream
        ))
        .routes(routes!(logs::get_log))
        .routes(routes!(logs::list_user_logs))
        .routes(routes!(signing_keys::list_signing_keys))
        .routes(routes!(signing_keys::rotate_signing_keys))
        .routes(routes!(signing_keys::get_signing_key))
        .routes(routes!(signing_keys::revoke_signing_key))
        .routes(routes!(openapi::get_openapi))
        .split_for_parts();
    let document = openapi::complete(serde_json::to_value(&document).unwrap_or_default());
    router
        .layer(Extension(openapi::Document(Arc::new(document))))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// `202 Accepted` with `{}`, as Auth0 answers its asynchronous deletes
/// (reference §10); grantor's have taken effect when it is sent.
fn accepted() -> Response {
    (StatusCode::ACCEPTED, Json(serde_json::json!({}))).into_response()
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not Found", None)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", None)
}
