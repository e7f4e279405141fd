//! The OpenAPI 3.1 description of the Management API, served at
//! `GET /api/v2/openapi.json` without authentication. It is not written by
//! hand: `routes()` in `mod.rs` registers every handler through utoipa-axum's
//! `routes!`, which mounts the handler and adds its `#[utoipa::path]` to the
//! document in one step, so a route cannot exist without its description
//! (`tests/it/openapi.rs` checks both directions). This file holds what the
//! handlers share: the document's header, the bearer security scheme, the
//! error body, and the handler that serves the document.

use std::sync::Arc;

use axum::{Extension, Json};
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "grantor Management API",
        description = "Auth0-compatible Management API v2. Every operation but this document needs a bearer access token from `client_credentials` with audience `<issuer>api/v2/`, carrying one of the scopes the operation lists.",
    ),
    servers((url = "/api/v2")),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody)),
    tags(
        (name = "clients", description = "Applications"),
        (name = "users", description = "Users of the database connection"),
        (name = "resource-servers", description = "APIs"),
        (name = "client-grants", description = "Machine-to-machine authorisations"),
        (name = "grants", description = "User consents"),
        (name = "device-credentials", description = "Refresh tokens seen as devices"),
        (name = "refresh-tokens", description = "Refresh tokens (one per login on a device)"),
        (name = "sessions", description = "Browser sessions"),
        (name = "tenants", description = "Tenant settings"),
        (name = "logs", description = "Audit log"),
        (name = "log-streams", description = "Audit events streamed to HTTP receivers"),
        (name = "user-blocks", description = "Brute-force blocks"),
        (name = "keys", description = "Signing keys and their rotation"),
        (name = "openapi", description = "This document"),
    )
)]
pub struct ManagementApiDoc;

/// Names the bearer scheme every operation's `security` refers to.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Auth0's Management API error body (reference §1.3), as `error.rs` renders
/// `ApiError`; a description only, never built.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
#[schema(as = Error)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The HTTP status code.
    status_code: u16,
    /// The HTTP reason phrase.
    error: String,
    message: String,
    /// Machine-readable code, e.g. `insufficient_scope`; absent on some errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
}

/// The document, as built by `routes()` and handed to [`get_openapi`].
#[derive(Clone)]
pub struct Document(pub Arc<Value>);

/// `GET /openapi.json`: this description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 description of the Management API", body = Object)),
    security(())
)]
pub async fn get_openapi(Extension(document): Extension<Document>) -> Json<Value> {
    Json(Value::clone(&document.0))
}
