//! The Management API (`/api/v2`, Auth0-compatible): one file per Auth0
//! resource holding its DTOs and handlers. Bodies go through `ApiJson`,
//! queries through `ApiQuery`, the caller through `Caller`, and every error
//! renders once, in `error.rs`.

mod body;
mod caller;
mod client_grants;
mod clients;
mod error;
mod paging;
mod resource_servers;
mod tenant_settings;
mod users;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

pub use body::ApiJson;
pub use caller::Caller;
pub use error::ApiError;
pub use paging::{iso8601, ApiQuery, FieldParams, ListParams};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/clients",
            get(clients::list_clients).post(clients::create_client),
        )
        .route(
            "/clients/{id}",
            get(clients::get_client)
                .patch(clients::update_client)
                .delete(clients::delete_client),
        )
        .route("/clients/{id}/rotate-secret", post(clients::rotate_secret))
        .route("/users", get(users::list_users).post(users::create_user))
        .route("/users-by-email", get(users::users_by_email))
        .route(
            "/users/{id}",
            get(users::get_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        )
        .route(
            "/resource-servers",
            get(resource_servers::list_resource_servers)
                .post(resource_servers::create_resource_server),
        )
        .route(
            "/resource-servers/{id}",
            get(resource_servers::get_resource_server)
                .patch(resource_servers::update_resource_server)
                .delete(resource_servers::delete_resource_server),
        )
        .route(
            "/client-grants",
            get(client_grants::list_client_grants).post(client_grants::create_client_grant),
        )
        .route(
            "/client-grants/{id}",
            get(client_grants::get_client_grant)
                .patch(client_grants::update_client_grant)
                .delete(client_grants::delete_client_grant),
        )
        .route(
            "/tenants/settings",
            get(tenant_settings::get_settings).patch(tenant_settings::update_settings),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not Found", None)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed", None)
}
