//! `GET /api/v2/openapi.json`: the Management API's OpenAPI 3.1 description,
//! generated from the route table. These tests fail when a Management route
//! exists without being described, or a described one is not served.
//!
//! Router and document come from one list: `management::routes()` adds every
//! route with utoipa-axum's `.routes(routes!(…))`, which mounts a handler and
//! adds its `#[utoipa::path]` together. So (1) every described operation must
//! answer on the server (401 without a token, never the 404/405 fallbacks);
//! (2) no method a path does not describe may answer anything but 405; and
//! (3) no source file of the Management API may add a route any other way
//! (`.route(`, `.route_service(`, `.nest(`, `.merge(`), which is the only way
//! to mount an undescribed handler.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{read, spawn_app, TestApp};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn document(app: &TestApp) -> Value {
    let (status, body) = read(
        app.http
            .get(app.url("/api/v2/openapi.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "no token needed: {body}");
    body
}

/// `path -> methods` as the document describes them.
fn operations(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (*m).to_owned())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "some-id")
}

both_databases! {
    async fn the_document_describes_every_management_route(db: Backend) {
        let app = spawn_app(db).await;
        let doc = document(&app).await;
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        assert_eq!(doc["servers"][0]["url"], "/api/v2");
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let ops = operations(&doc);
        // The contract's routes (CONTRACT §3), the logs and this document.
        let expected: &[(&str, &[&str])] = &[
            ("/clients", &["get", "post"]),
            ("/clients/{id}", &["get", "patch", "delete"]),
            ("/clients/{id}/rotate-secret", &["post"]),
            ("/users", &["get", "post"]),
            ("/users-by-email", &["get"]),
            ("/users/{id}", &["get", "patch", "delete"]),
            ("/resource-servers", &["get", "post"]),
            ("/resource-servers/{id}", &["get", "patch", "delete"]),
            ("/client-grants", &["get", "post"]),
            ("/client-grants/{id}", &["get", "patch", "delete"]),
            ("/tenants/settings", &["get", "patch"]),
            ("/grants", &["get", "delete"]),
            ("/grants/{id}", &["delete"]),
            ("/device-credentials", &["get", "post"]),
            ("/device-credentials/{id}", &["delete"]),
            ("/refresh-tokens", &["get"]),
            ("/refresh-tokens/{id}", &["get", "patch", "delete"]),
            ("/refresh-tokens/revoke", &["post"]),
            ("/users/{id}/refresh-tokens", &["get", "delete"]),
            ("/sessions/{id}", &["get", "patch", "delete"]),
            ("/sessions/{id}/revoke", &["post"]),
            ("/users/{id}/sessions", &["get", "delete"]),
            ("/users/{id}/revoke-access", &["post"]),
            ("/logs", &["get"]),
            ("/logs/{id}", &["get"]),
            ("/users/{id}/logs", &["get"]),
            ("/user-blocks", &["get", "delete"]),
            ("/user-blocks/{id}", &["get", "delete"]),
            ("/openapi.json", &["get"]),
        ];
        for (path, methods) in expected {
            let described = ops.get(*path).unwrap_or_else(|| panic!("{path} is not described"));
            let methods: BTreeSet<String> = methods.iter().map(|m| (*m).to_owned()).collect();
            assert_eq!(described, &methods, "{path}");
        }

        for (path, methods) in &ops {
            for method in methods {
                let op = &doc["paths"][path][method];
                let name = format!("{method} {path}");
                assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{name}: responses");
                if path == "/openapi.json" {
                    continue;
                }
                // Every operation names the scopes it needs, and its 401 and 403.
                let security = op["security"].as_array().unwrap_or_else(|| panic!("{name}: security"));
                assert!(security.iter().all(|s| s["bearer"].as_array().is_some_and(|scopes| !scopes.is_empty())), "{name}: {security:?}");
                for status in ["401", "403"] {
                    assert!(op["responses"].get(status).is_some(), "{name}: {status}");
                }
            }
        }
        // Bodies are described from their DTOs.
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for schema in ["RevokeRefreshTokensBody", "RevokeAccessBody", "ClientBody", "CreateUserBody", "RefreshToken", "Session", "UserGrant", "DeviceCredential", "Error"] {
            assert!(schemas.contains_key(schema), "{schema} in {:?}", schemas.keys().collect::<Vec<_>>());
        }
        let grant = &schemas["UserGrant"]["properties"];
        assert!(grant.get("clientID").is_some() && grant.get("client_id").is_none(), "{grant}");
        let revoke = &doc["paths"]["/refresh-tokens/revoke"]["post"];
        assert!(revoke["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap().ends_with("/RevokeRefreshTokensBody"));
    }
}

both_databases! {
    async fn every_described_operation_is_served_and_nothing_else(db: Backend) {
        let app = spawn_app(db).await;
        let doc = document(&app).await;
        for (path, methods) in operations(&doc) {
            let url = app.url(&format!("/api/v2{}", concrete(&path)));
            for method in METHODS {
                let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let (status, body) = read(app.http.request(http_method, &url).send().await.unwrap()).await;
                let name = format!("{method} {path}");
                if !methods.contains(method) {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{name} is not described, so not served: {body}");
                } else if path == "/openapi.json" {
                    assert_eq!(status, StatusCode::OK, "{name}");
                } else {
                    // Mounted: the bearer check answers, not the fallback.
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} is described but not served: {body}");
                }
            }
        }
    }
}

/// Strips `//` comments, so that a comment naming `.route(` does not count.
fn code_only(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn management_routes_are_only_added_through_the_described_table() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/management");
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        files += 1;
        let source = code_only(&std::fs::read_to_string(&path).unwrap());
        for forbidden in [
            ".route(",
            ".route_service(",
            ".nest(",
            ".nest_service(",
            ".merge(",
        ] {
            assert!(
                !source.contains(forbidden),
                "{} adds a route with `{forbidden}`: add it with `.routes(routes!(…))` and a `#[utoipa::path]` instead",
                path.display()
            );
        }
    }
    assert!(
        files > 5,
        "read the Management API sources in {}",
        dir.display()
    );
    let table = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    assert!(
        table.contains(".routes(routes!("),
        "mod.rs builds the table with routes!"
    );
}

/// The `(method, path, operation)` of every described operation.
fn each_operation(doc: &Value) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for (path, methods) in operations(doc) {
        for method in methods {
            all.push((
                method.clone(),
                path.clone(),
                doc["paths"][&path][&method].clone(),
            ));
        }
    }
    all
}

fn path_params(op: &Value) -> Vec<String> {
    op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "path")
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// The schema of `op`'s JSON answer with `status`.
fn answer_schema<'a>(op: &'a Value, status: &str) -> &'a Value {
    &op["responses"][status]["content"]["application/json"]["schema"]
}

/// A structural check of `value` against the (small) schemas the list and
/// error descriptions use: `type`, `required`, `additionalProperties: false`,
/// `oneOf` (exactly one branch), `$ref` to a component.
fn matches(doc: &Value, schema: &Value, value: &Value) -> bool {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return matches(doc, &doc["components"]["schemas"][name], value);
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        return branches.iter().filter(|b| matches(doc, b, value)).count() == 1;
    }
    match schema["type"].as_str() {
        Some("array") => value
            .as_array()
            .is_some_and(|items| items.iter().all(|i| matches(doc, &schema["items"], i))),
        Some("object") => {
            let Some(object) = value.as_object() else {
                return false;
            };
            let required = schema["required"].as_array().into_iter().flatten();
            let closed = schema["additionalProperties"] == Value::Bool(false);
            let properties = &schema["properties"];
            required
                .into_iter()
                .all(|r| object.contains_key(r.as_str().unwrap()))
                && (!closed || object.keys().all(|k| properties.get(k).is_some()))
                && object
                    .iter()
                    .all(|(k, v)| properties.get(k).is_none_or(|s| matches(doc, s, v)))
        }
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("string") => value.is_string(),
        _ => true,
    }
}

fn collect_refs(schema: &Value, refs: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
                refs.push(reference.to_owned());
            }
            object.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(values) => values.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

both_databases! {
    async fn every_operation_documents_every_error_it_can_answer(db: Backend) {
        let app = spawn_app(db).await;
        let doc = document(&app).await;
        let error = "#/components/schemas/Error";
        let mut bodies = 0;
        for (method, path, op) in each_operation(&doc) {
            if path == "/openapi.json" {
                continue;
            }
            let name = format!("{method} {path}");
            let mut statuses = vec!["400", "401", "403", "429"];
            if !path_params(&op).is_empty() {
                statuses.push("404");
            }
            let takes_body = op.get("requestBody").is_some();
            if takes_body {
                statuses.extend(["413", "415"]);
            }
            for status in statuses {
                assert_eq!(answer_schema(&op, status)["$ref"], error, "{name}: {status}");
                assert!(op["responses"][status]["description"].as_str().is_some_and(|d| !d.is_empty()), "{name}: {status}");
            }

            // The documented errors are the ones the server sends.
            let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = app.url(&format!("/api/v2{}", concrete(&path)));
            let token = app.mgmt_token().await;
            let nul = format!("{url}?fields=%00");
            let (status, body) = read(app.http.request(http_method.clone(), &nul).bearer_auth(&token).send().await.unwrap()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
            assert!(matches(&doc, answer_schema(&op, "400"), &body), "{name}: {body}");
            if takes_body {
                bodies += 1;
                let (status, body) = read(app.http.request(http_method, &url).bearer_auth(&token)
                    .header("content-type", "text/plain").body("{}").send().await.unwrap()).await;
                assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}: {body}");
                assert!(matches(&doc, answer_schema(&op, "415"), &body), "{name}: {body}");
                assert_eq!(body["errorCode"], "unsupported_media_type", "{name}: {body}");
            }
        }
        assert!(bodies >= 10, "operations reading a body: {bodies}");
    }
}

both_databases! {
    async fn lists_describe_each_shape_they_answer(db: Backend) {
        let app = spawn_app(db).await;
        let doc = document(&app).await;
        // Every paged list says how its pages look.
        for (method, path, op) in each_operation(&doc) {
            let params: Vec<&str> = op["parameters"].as_array().into_iter().flatten()
                .filter_map(|p| p["name"].as_str()).collect();
            if method != "get" || !(params.contains(&"per_page") || params.contains(&"take")) {
                continue;
            }
            let schema = answer_schema(&op, "200");
            let name = format!("{method} {path}");
            if params.contains(&"per_page") {
                let shapes = schema["oneOf"].as_array().unwrap_or_else(|| panic!("{name}: {schema}"));
                assert_eq!(shapes[0]["type"], "array", "{name}: the bare array");
                assert_eq!(shapes[1]["type"], "object", "{name}: the envelope");
                for member in ["start", "limit", "length", "total"] {
                    assert!(shapes[1]["required"].as_array().unwrap().contains(&Value::from(member)), "{name}: {member}");
                }
            } else {
                assert_eq!(schema["type"], "object", "{name}: the checkpoint envelope: {schema}");
                assert!(schema["properties"]["next"].is_object(), "{name}");
            }
        }
        // `fields` may drop any member, so what it filters requires none.
        for (method, path, op) in each_operation(&doc) {
            let fields = op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == "fields");
            if !fields {
                continue;
            }
            let mut refs = Vec::new();
            collect_refs(answer_schema(&op, "200"), &mut refs);
            for reference in refs {
                let name = reference.rsplit('/').next().unwrap();
                let schema = &doc["components"]["schemas"][name];
                assert!(schema.is_object(), "{method} {path}: {reference}");
                assert!(schema.get("required").is_none(), "{method} {path}: {name} requires members that `fields` may drop");
            }
        }
        let session = answer_schema(&doc["paths"]["/sessions/{id}"]["get"], "200");
        assert_eq!(session["$ref"], "#/components/schemas/Session.fields");
        assert!(!doc["components"]["schemas"]["Session"]["required"].as_array().unwrap().is_empty(), "the unfiltered one keeps them");

        let client_grants = &doc["paths"]["/client-grants"]["get"];
        assert_eq!(answer_schema(client_grants, "200")["oneOf"].as_array().unwrap().len(), 3, "offset, envelope, checkpoint");

        // The answers match: a bare array, the envelope, and the checkpoint envelope.
        let (client_id, _, _) = app.create_client(json!({"name": "listed", "app_type": "non_interactive", "grant_types": ["client_credentials"]})).await;
        let api = app.create_api("https://listed.example/", &["read:things"]).await;
        app.create_client_grant(&client_id, api["identifier"].as_str().unwrap(), &["read:things"]).await;
        let cases = [
            ("/clients", "/clients", "array"),
            ("/clients", "/clients?include_totals=true&per_page=1", "object"),
            ("/client-grants", "/client-grants", "array"),
            ("/client-grants", "/client-grants?include_totals=true", "object"),
            ("/client-grants", "/client-grants?take=1", "object"),
            ("/client-grants", "/client-grants?from=&take=1&include_totals=true", "object"),
            ("/resource-servers", "/resource-servers?include_totals=false", "array"),
            ("/log-streams", "/log-streams", "array"),
            ("/logs", "/logs?take=2", "array"),
            ("/logs", "/logs?include_totals=true", "object"),
        ];
        for (path, target, shape) in cases {
            let (status, body) = app.mgmt_call(Method::GET, target, None).await;
            assert_eq!(status, StatusCode::OK, "{target}: {body}");
            assert_eq!(if body.is_array() { "array" } else { "object" }, shape, "{target}: {body}");
            let schema = answer_schema(&doc["paths"][path]["get"], "200");
            assert!(matches(&doc, schema, &body), "{target}: {body} does not match {schema}");
        }
        let (_, page) = app.mgmt_call(Method::GET, "/client-grants?take=1", None).await;
        assert!(page["next"].is_string(), "a second grant follows (the bootstrap one): {page}");
    }
}

both_databases! {
    async fn creates_link_to_the_operations_on_what_they_made(db: Backend) {
        let app = spawn_app(db).await;
        let doc = document(&app).await;
        let by_id: BTreeMap<String, (String, String, Value)> = each_operation(&doc)
            .into_iter()
            .map(|(method, path, op)| (op["operationId"].as_str().unwrap().to_owned(), (method, path, op)))
            .collect();
        let ops = operations(&doc);
        // Every POST on a collection whose members have operations of their own.
        let mut creates = BTreeMap::new();
        for (path, methods) in &ops {
            let member = format!("{path}/{{");
            if !methods.contains("post") || path.contains('{') || !ops.keys().any(|p| p.starts_with(&member)) {
                continue;
            }
            let op = &doc["paths"][path]["post"];
            let (status, success) = op["responses"].as_object().unwrap().iter()
                .find(|(status, _)| status.starts_with('2')).unwrap();
            let links = success["links"].as_object().unwrap_or_else(|| panic!("POST {path}: no links"));
            let member_ops: BTreeSet<&str> = by_id.iter()
                .filter(|(_, (_, p, _))| p.starts_with(&member) && p.matches('{').count() == 1)
                .map(|(id, _)| id.as_str())
                .collect();
            for target in &member_ops {
                assert!(links.contains_key(*target), "POST {path} does not link to {target}: {:?}", links.keys());
            }
            for (name, link) in links {
                let target = link["operationId"].as_str().unwrap();
                let (_, _, target_op) = by_id.get(target).unwrap_or_else(|| panic!("{name}: unknown {target}"));
                let params: Vec<&String> = link["parameters"].as_object().unwrap().keys().collect();
                assert_eq!(params.iter().map(|p| p.as_str()).collect::<Vec<_>>(), path_params(target_op), "{name}");
            }
            creates.insert(path.clone(), (status.clone(), links.clone()));
        }
        for path in ["/clients", "/users", "/resource-servers", "/client-grants", "/log-streams", "/device-credentials"] {
            assert!(creates.contains_key(path), "{path} links: {:?}", creates.keys());
        }

        // Followed on real answers, each link names the resource just made.
        let (client_id, _, _) = app.create_client(json!({"name": "linked", "app_type": "non_interactive", "grant_types": ["client_credentials"]})).await;
        let bodies = [
            ("/clients", json!({"name": "made"})),
            ("/users", json!({"connection": "Username-Password-Authentication", "email": "linked@example.test", "password": "a long enough password"})),
            ("/resource-servers", json!({"identifier": "https://linked.example/", "name": "linked"})),
            ("/client-grants", json!({"client_id": client_id, "audience": "https://linked.example/", "scope": []})),
        ];
        for (path, body) in bodies {
            let (status, made) = app.mgmt_call(Method::POST, path, Some(body)).await;
            let (expected, links) = &creates[path];
            assert_eq!(status.as_str(), expected, "POST {path}: {made}");
            for link in links.values() {
                let target = link["operationId"].as_str().unwrap();
                let (method, target_path, _) = &by_id[target];
                if method != "get" {
                    continue;
                }
                let (param, expression) = link["parameters"].as_object().unwrap().iter().next().unwrap();
                let pointer = expression.as_str().unwrap().strip_prefix("$response.body#").unwrap();
                let id = made.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("{target}: {pointer} in {made}"));
                let concrete = target_path.replace(&format!("{{{param}}}"), &crate::support::urlencode(id));
                let (status, found) = app.mgmt_call(Method::GET, &concrete, None).await;
                assert_eq!(status, StatusCode::OK, "{target} GET {concrete}: {found}");
            }
        }
    }
}
