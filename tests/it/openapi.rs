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
use serde_json::Value;

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
