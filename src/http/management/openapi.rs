//! The OpenAPI 3.1 description of the Management API, served at
//! `GET /api/v2/openapi.json` without authentication. It is not written by
//! hand: `routes()` in `mod.rs` registers every handler through utoipa-axum's
//! `routes!`, which mounts the handler and adds its `#[utoipa::path]` to the
//! document in one step, so a route cannot exist without its description
//! (`tests/it/openapi.rs` checks both directions). This file holds what the
//! handlers share: the document's header, the bearer security scheme, the
//! error body, and the handler that serves the document.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::{Extension, Json};
use serde::Serialize;
use serde_json::{json, Map, Value};
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

/// What every Management API operation can answer besides its own statuses,
/// as `(status, description)`. Each is rendered by `error.rs` as [`ErrorBody`].
const COMMON_ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "Bad request: a query parameter, path segment or body that fails validation (also an encoded NUL anywhere in the target)",
    ),
    ("401", "Missing or invalid bearer token"),
    ("403", "The token lacks the scope the operation needs"),
    (
        "429",
        "Rate limited (`Retry-After` and `X-RateLimit-*` headers), or, where a password is hashed, every hashing place is taken (`Retry-After`)",
    ),
];

/// Only operations with a path parameter: an unknown id, or a path that
/// matches no route (an empty id).
const NOT_FOUND: (&str, &str) = ("404", "No such resource");

/// Only operations that read a JSON body.
const BODY_ERRORS: &[(&str, &str)] = &[
    ("413", "The body is larger than 1 MiB"),
    ("415", "The body is not `application/json`"),
];

/// How a list pages, which decides the shapes its `200` can have.
#[derive(Clone, Copy)]
enum Paging {
    /// `page`/`per_page`: a bare array, or with `include_totals=true`
    /// `{start, limit, length, total, <key>}`.
    Offset,
    /// As `Offset`, and with `from`/`take` the checkpoint envelope.
    OffsetOrCheckpoint,
    /// Only `from`/`take`: `{<key>, next?, total?}`.
    Checkpoint,
}

/// The lists, by operation id: the member that holds the items, and how they page.
const LISTS: &[(&str, &str, Paging)] = &[
    ("list_clients", "clients", Paging::Offset),
    ("list_users", "users", Paging::Offset),
    ("list_resource_servers", "resource_servers", Paging::Offset),
    (
        "list_client_grants",
        "client_grants",
        Paging::OffsetOrCheckpoint,
    ),
    ("list_grants", "grants", Paging::Offset),
    (
        "list_device_credentials",
        "device_credentials",
        Paging::Offset,
    ),
    ("list_deliveries", "deliveries", Paging::Offset),
    // `from`/`take` on the logs answer a bare array, as Auth0's do.
    ("list_logs", "logs", Paging::Offset),
    ("list_user_logs", "logs", Paging::Offset),
    ("list_refresh_tokens", "refresh_tokens", Paging::Checkpoint),
    ("list_user_refresh_tokens", "tokens", Paging::Checkpoint),
    ("list_user_sessions", "sessions", Paging::Checkpoint),
];

/// The operations that create a resource, the member of their answer that
/// holds its id, and the operations that take that id as their path
/// parameter: OpenAPI `links`, which a stateful client (schemathesis's
/// stateful phase) follows from a create to the resource it made.
const CREATES: &[(&str, &str, &[&str])] = &[
    (
        "create_client",
        "client_id",
        &[
            "get_client",
            "update_client",
            "delete_client",
            "rotate_secret",
        ],
    ),
    (
        "create_user",
        "user_id",
        &[
            "get_user",
            "update_user",
            "delete_user",
            "list_user_logs",
            "list_user_sessions",
            "delete_user_sessions",
            "list_user_refresh_tokens",
            "delete_user_refresh_tokens",
            "revoke_user_access",
            "get_user_blocks",
            "delete_user_blocks",
        ],
    ),
    (
        "create_resource_server",
        "id",
        &[
            "get_resource_server",
            "update_resource_server",
            "delete_resource_server",
        ],
    ),
    (
        "create_client_grant",
        "id",
        &[
            "get_client_grant",
            "update_client_grant",
            "delete_client_grant",
        ],
    ),
    (
        "create_log_stream",
        "id",
        &["get_log_stream", "update_log_stream", "delete_log_stream"],
    ),
    (
        "create_device_credential",
        "id",
        &["delete_device_credential"],
    ),
    (
        "rotate_signing_keys",
        "kid",
        &["get_signing_key", "revoke_signing_key"],
    ),
];

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Completes the document `routes!` assembled from the handlers with what
/// they share, so that it lists every status an operation can answer and
/// every shape of its body: the common error responses, both (or all three)
/// shapes of each list, and the links from each create to the operations on
/// what it made. Handlers keep their own, more precise, descriptions: only
/// missing statuses are added.
pub fn complete(mut doc: Value) -> Value {
    let error = json!({
        "description": "",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
    // Path parameter names by operation id, for the links.
    let mut path_params: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let components = doc["components"]["schemas"].clone();
    let mut partials = BTreeSet::new();
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                let Some(op) = item.get_mut(method) else {
                    continue;
                };
                let id = op["operationId"].as_str().unwrap_or_default().to_owned();
                let params: Vec<String> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect();
                if path == "/openapi.json" {
                    continue;
                }
                let mut extra: Vec<(&str, &str)> = COMMON_ERRORS.to_vec();
                if !params.is_empty() {
                    extra.push(NOT_FOUND);
                }
                if op.get("requestBody").is_some() {
                    extra.extend_from_slice(BODY_ERRORS);
                }
                let Some(responses) = op["responses"].as_object_mut() else {
                    continue;
                };
                for (status, description) in extra {
                    if !responses.contains_key(status) {
                        let mut response = error.clone();
                        response["description"] = json!(description);
                        responses.insert(status.to_owned(), response);
                    }
                }
                let list = LISTS.iter().find(|(op_id, ..)| *op_id == id);
                if let (Some((_, key, paging)), Some(ok)) = (list, responses.get_mut("200")) {
                    let schema = &mut ok["content"]["application/json"]["schema"];
                    let items = list_items(schema, key, &components);
                    *schema = list_schema(key, items, *paging);
                }
                let filtered = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["in"] == "query" && p["name"] == "fields")
                });
                if filtered {
                    if let Some(ok) =
                        op.pointer_mut("/responses/200/content/application~1json/schema")
                    {
                        partial_refs(ok, &mut partials);
                    }
                }
                path_params.insert(id, params);
            }
        }
    }
    add_links(&mut doc, &path_params);
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for name in partials {
            let Some(mut partial) = schemas.get(&name).cloned() else {
                continue;
            };
            if let Some(object) = partial.as_object_mut() {
                object.remove("required");
                object.insert(
                    "description".into(),
                    json!(format!(
                        "`{name}`, of which `fields` may have kept only some members"
                    )),
                );
            }
            schemas.insert(format!("{name}{PARTIAL}"), partial);
        }
    }
    doc
}

/// The suffix of a schema that `fields` has filtered: the same members, none required.
const PARTIAL: &str = ".fields";

/// Points every component `schema` refers to at its `fields`-filtered copy,
/// named in `partials` for [`complete`] to make.
fn partial_refs(schema: &mut Value, partials: &mut BTreeSet<String>) {
    match schema {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref") {
                if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                    if !name.ends_with(PARTIAL) {
                        partials.insert(name.to_owned());
                        reference.push_str(PARTIAL);
                    }
                }
                return;
            }
            // A list's envelope is written inline, so only its items change.
            object
                .values_mut()
                .for_each(|value| partial_refs(value, partials));
        }
        Value::Array(values) => values.iter_mut().for_each(|v| partial_refs(v, partials)),
        _ => {}
    }
}

/// The schema of one item of a list whose `200` currently says `schema`: the
/// `items` of an array, or of the `<key>` member of a (referenced) page
/// object; an object when the handler only said `Object`.
fn list_items(schema: &Value, key: &str, components: &Value) -> Value {
    let resolved = match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            &components[name]
        }
        None => schema,
    };
    let items = if resolved["type"] == "array" {
        &resolved["items"]
    } else {
        &resolved["properties"][key]["items"]
    };
    if items.is_null() {
        json!({ "type": "object" })
    } else {
        items.clone()
    }
}

fn list_schema(key: &str, items: Value, paging: Paging) -> Value {
    let array = json!({ "type": "array", "items": items });
    let offset = json!({
        "type": "object",
        "description": "With `include_totals=true`",
        "required": ["start", "limit", "length", "total", key],
        "properties": {
            "start": { "type": "integer" },
            "limit": { "type": "integer" },
            "length": { "type": "integer" },
            "total": { "type": "integer" },
            key: array,
        },
        "additionalProperties": false,
    });
    let checkpoint = json!({
        "type": "object",
        "description": "With `from`/`take`: `next` is absent on the last page, `total` present with `include_totals=true`",
        "required": [key],
        "properties": {
            key: array,
            "next": { "type": "string" },
            "total": { "type": "integer" },
        },
        "additionalProperties": false,
    });
    let mut bare = array.clone();
    bare["description"] = json!("Without `include_totals` (or with it `false`)");
    let shapes = match paging {
        Paging::Offset => vec![bare, offset],
        Paging::OffsetOrCheckpoint => vec![bare, offset, checkpoint],
        Paging::Checkpoint => return checkpoint,
    };
    json!({ "oneOf": shapes })
}

fn add_links(doc: &mut Value, path_params: &BTreeMap<String, Vec<String>>) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        for method in METHODS {
            let Some(op) = item.get_mut(method) else {
                continue;
            };
            let id = op["operationId"].as_str().unwrap_or_default();
            let Some((_, member, targets)) = CREATES.iter().find(|(op_id, ..)| *op_id == id) else {
                continue;
            };
            let mut links = Map::new();
            for target in *targets {
                // `tests/it/openapi.rs` checks that every target is linked.
                let Some([param]) = path_params.get(*target).map(Vec::as_slice) else {
                    continue;
                };
                links.insert(
                    target.to_string(),
                    json!({
                        "operationId": target,
                        "parameters": { param: format!("$response.body#/{member}") },
                    }),
                );
            }
            let success = op["responses"]
                .as_object_mut()
                .into_iter()
                .flat_map(|responses| responses.iter_mut())
                .find(|(status, _)| status.starts_with('2'));
            if let Some((_, response)) = success {
                response["links"] = Value::Object(links);
            }
        }
    }
}
