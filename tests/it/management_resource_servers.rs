//! `/api/v2/resource-servers`: APIs (audiences), their defaults and
//! validation, the read-only system Management API, and the effect of a change
//! on the tokens issued for an API.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{
    assert_mgmt_error, assert_oauth_error, claims, read, spawn_app, TestApp, MGMT_CLIENT_ID,
    MGMT_CLIENT_SECRET,
};

/// `/resource-servers/{id or identifier}`, percent-encoded.
fn api_path(id_or_identifier: &str) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(id_or_identifier, percent_encoding::NON_ALPHANUMERIC);
    format!("/resource-servers/{encoded}")
}

async fn all_apis(app: &TestApp) -> Value {
    let (status, body) = app
        .mgmt_call(
            Method::GET,
            "/resource-servers?include_totals=true&per_page=100",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn system_api(app: &TestApp) -> Value {
    let list = all_apis(app).await;
    list["resource_servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|api| api["identifier"] == app.management_audience())
        .cloned()
        .expect("the Management API is listed")
}

/// A client holding a client grant for `audience` with `scope`: (client_id, secret, grant).
async fn client_with_grant(
    app: &TestApp,
    audience: &str,
    scope: &[&str],
) -> (String, String, Value) {
    let (id, secret, _) = app
        .create_client(json!({"name": "machine", "grant_types": ["client_credentials"]}))
        .await;
    let grant = app.create_client_grant(&id, audience, scope).await;
    (id, secret, grant)
}

both_databases! {
    async fn creating_an_api_applies_auth0_defaults_and_reads_back_by_id_and_identifier(db: Backend) {
        let app = spawn_app(db).await;
        let identifier = "https://orders.example.test/api";
        let (status, created) = app
            .mgmt_call(
                Method::POST,
                "/resource-servers",
                Some(json!({"identifier": identifier, "name": "Orders", "scopes": [{"value": "read:orders", "description": "Read orders"}]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id");
        assert!(!id.is_empty());
        assert_eq!(created["identifier"], identifier);
        assert_eq!(created["name"], "Orders");
        assert_eq!(created["scopes"], json!([{"value": "read:orders", "description": "Read orders"}]));
        assert_eq!(created["token_lifetime"], 86_400);
        assert_eq!(created["token_lifetime_for_web"], 7_200);
        assert_eq!(created["signing_alg"], "RS256");
        assert_eq!(created["allow_offline_access"], false);
        assert_eq!(created["skip_consent_for_verifiable_first_party_clients"], false);
        assert_eq!(created["is_system"], false);

        let (status, by_id) = app.mgmt_call(Method::GET, &api_path(id), None).await;
        assert_eq!(status, StatusCode::OK, "{by_id}");
        assert_eq!(by_id, created);
        let (status, by_identifier) = app.mgmt_call(Method::GET, &api_path(identifier), None).await;
        assert_eq!(status, StatusCode::OK, "{by_identifier}");
        assert_eq!(by_identifier, created);

        // Only `identifier` is required.
        let (status, minimal) = app
            .mgmt_call(Method::POST, "/resource-servers", Some(json!({"identifier": "urn:minimal"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{minimal}");
        assert_eq!(minimal["scopes"], json!([]));
        assert_eq!(minimal["token_lifetime"], 86_400);
        assert_eq!(minimal["signing_alg"], "RS256");

        let (status, body) = app.mgmt_call(Method::GET, &api_path("https://unknown.example.test/"), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn creating_an_api_from_an_invalid_body_is_refused_and_writes_nothing(db: Backend) {
        let app = spawn_app(db).await;
        let existing = app.create_api("https://dup.example.test/", &["read:dup"]).await;
        let before = all_apis(&app).await;

        let (status, body) = app
            .mgmt_call(Method::POST, "/resource-servers", Some(json!({"identifier": "https://dup.example.test/", "name": "Again"})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::CONFLICT);

        let cases = [
            ("missing identifier", json!({"name": "No identifier"})),
            ("empty identifier", json!({"identifier": ""})),
            ("invalid signing_alg", json!({"identifier": "https://alg.example.test/", "signing_alg": "XS999"})),
            ("token_lifetime negative", json!({"identifier": "https://tl1.example.test/", "token_lifetime": -5})),
            ("token_lifetime over 30 days", json!({"identifier": "https://tl2.example.test/", "token_lifetime": 2_592_001})),
            ("scope with a space", json!({"identifier": "https://sc.example.test/", "scopes": [{"value": "read orders"}]})),
            ("unknown field", json!({"identifier": "https://uf.example.test/", "enforce_nothing": true})),
        ];
        for (case, body) in cases {
            let (status, answer) = app.mgmt_call(Method::POST, "/resource-servers", Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
            assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
        }

        assert_eq!(all_apis(&app).await, before, "nothing was written");
        let (_, still) = app.mgmt_call(Method::GET, &api_path(existing["id"].as_str().unwrap()), None).await;
        assert_eq!(still, existing, "the duplicate did not overwrite the original");
        // The upper bound itself is accepted.
        let (status, body) = app
            .mgmt_call(Method::POST, "/resource-servers", Some(json!({"identifier": "https://max.example.test/", "token_lifetime": 2_592_000})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["token_lifetime"], 2_592_000);
    }
}

both_databases! {
    async fn listing_apis_pages_and_includes_the_system_management_api(db: Backend) {
        let app = spawn_app(db).await;
        let a = app.create_api("https://a.example.test/", &[]).await;
        let b = app.create_api("https://b.example.test/", &[]).await;

        let list = all_apis(&app).await;
        assert_eq!(list["start"], 0, "{list}");
        assert_eq!(list["limit"], 100, "{list}");
        assert_eq!(list["total"], 3, "{list}");
        let items = list["resource_servers"].as_array().expect("resource_servers key");
        assert_eq!(items.len(), 3);
        assert!(items.contains(&a) && items.contains(&b), "{list}");
        let system = system_api(&app).await;
        assert_eq!(system["is_system"], true, "{system}");
        assert!(items.iter().filter(|i| i["is_system"] == true).count() == 1, "{list}");

        let (status, bare) = app.mgmt_call(Method::GET, "/resource-servers", None).await;
        assert_eq!(status, StatusCode::OK, "{bare}");
        assert_eq!(bare.as_array().expect("bare array without include_totals"), items);

        let mut paged = Vec::new();
        for page in 0..3 {
            let (status, body) = app.mgmt_call(Method::GET, &format!("/resource-servers?page={page}&per_page=1"), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let body = body.as_array().unwrap().clone();
            assert_eq!(body.len(), 1);
            paged.extend(body);
        }
        assert_eq!(&paged, items, "pages walk the list in order");
        let (status, past) = app.mgmt_call(Method::GET, "/resource-servers?page=3&per_page=1&include_totals=true", None).await;
        assert_eq!(status, StatusCode::OK, "{past}");
        assert_eq!(past["resource_servers"], json!([]));
        assert_eq!(past["total"], 3);

        for bad in ["per_page=0", "per_page=101"] {
            let (status, body) = app.mgmt_call(Method::GET, &format!("/resource-servers?{bad}"), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
    }
}

both_databases! {
    async fn patching_an_api_changes_its_scopes_and_the_lifetime_of_new_tokens(db: Backend) {
        let app = spawn_app(db).await;
        let identifier = "https://billing.example.test/";
        let api = app.create_api(identifier, &["read:invoices"]).await;
        let path = api_path(api["id"].as_str().unwrap());
        let (client_id, secret, grant) = client_with_grant(&app, identifier, &["read:invoices"]).await;
        let grant_path = format!("/client-grants/{}", grant["id"].as_str().unwrap());

        let token = claims(&app.client_credentials(&client_id, &secret, identifier).await);
        assert_eq!(token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap(), 86_400);

        // write:invoices is not defined yet, so a grant cannot hold it.
        let (status, body) = app.mgmt_call(Method::PATCH, &grant_path, Some(json!({"scope": ["read:invoices", "write:invoices"]}))).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);

        let scopes = json!([
            {"value": "read:invoices", "description": "Read invoices"},
            {"value": "write:invoices", "description": "Write invoices"},
        ]);
        let (status, patched) = app
            .mgmt_call(Method::PATCH, &path, Some(json!({"scopes": scopes, "token_lifetime": 600})))
            .await;
        assert!(status.is_success(), "{status}: {patched}");
        assert_eq!(patched["scopes"], scopes);
        assert_eq!(patched["token_lifetime"], 600);
        assert_eq!(patched["identifier"], identifier);
        assert_eq!(patched["name"], api["name"], "members not in the PATCH are kept");
        assert_eq!(patched["token_lifetime_for_web"], api["token_lifetime_for_web"]);
        let (_, fetched) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(fetched, patched);

        let token = claims(&app.client_credentials(&client_id, &secret, identifier).await);
        assert_eq!(token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap(), 600);
        assert_eq!(token["aud"], identifier);

        // Now the grant may hold the new scope, and tokens carry it.
        let (status, body) = app.mgmt_call(Method::PATCH, &grant_path, Some(json!({"scope": ["read:invoices", "write:invoices"]}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = claims(&app.client_credentials(&client_id, &secret, identifier).await);
        let mut scope: Vec<&str> = token["scope"].as_str().unwrap().split(' ').collect();
        scope.sort();
        assert_eq!(scope, ["read:invoices", "write:invoices"]);

        // A refused PATCH changes nothing.
        for bad in [json!({"token_lifetime": -1}), json!({"token_lifetime": 2_592_001}), json!({"signing_alg": "none"}), json!({"token_lifetime": 60, "unknown": 1})] {
            let (status, body) = app.mgmt_call(Method::PATCH, &path, Some(bad.clone())).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            let (_, after) = app.mgmt_call(Method::GET, &path, None).await;
            assert_eq!(after, fetched, "{bad}");
        }
    }
}

both_databases! {
    async fn an_api_identifier_cannot_be_changed(db: Backend) {
        let app = spawn_app(db).await;
        let api = app.create_api("https://fixed.example.test/", &["read:x"]).await;
        let path = api_path(api["id"].as_str().unwrap());

        let (status, body) = app
            .mgmt_call(Method::PATCH, &path, Some(json!({"identifier": "https://moved.example.test/", "name": "Moved"})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        let (_, after) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(after, api, "nothing changed, not even the name");
        let (status, body) = app.mgmt_call(Method::GET, &api_path("https://moved.example.test/"), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);

        // Sending the current identifier back (as SDKs do) is fine.
        let (status, body) = app
            .mgmt_call(Method::PATCH, &path, Some(json!({"identifier": "https://fixed.example.test/", "name": "Renamed"})))
            .await;
        assert!(status.is_success(), "{status}: {body}");
        assert_eq!(body["name"], "Renamed");
        assert_eq!(body["identifier"], "https://fixed.example.test/");
    }
}

both_databases! {
    async fn the_system_management_api_can_be_neither_changed_nor_deleted(db: Backend) {
        let app = spawn_app(db).await;
        let system = system_api(&app).await;
        let id = system["id"].as_str().unwrap();

        for path in [api_path(id), api_path(&app.management_audience())] {
            let (status, body) = app.mgmt_call(Method::PATCH, &path, Some(json!({"token_lifetime": 60, "name": "Hijacked"}))).await;
            assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
            let (status, body) = app.mgmt_call(Method::DELETE, &path, None).await;
            assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
        }
        assert_eq!(system_api(&app).await, system, "unchanged");

        // And it still works: a fresh token with the old lifetime is accepted.
        let token = app.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &app.management_audience()).await;
        let c = claims(&token);
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), system["token_lifetime"].as_i64().unwrap());
        let response = app.http.get(app.url("/api/v2/resource-servers")).bearer_auth(&token).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

both_databases! {
    async fn deleting_an_api_removes_it_and_the_client_grants_for_it(db: Backend) {
        let app = spawn_app(db).await;
        let identifier = "https://doomed.example.test/";
        let api = app.create_api(identifier, &["read:doom"]).await;
        let other = app.create_api("https://survivor.example.test/", &["read:ok"]).await;
        let (client_id, secret, grant) = client_with_grant(&app, identifier, &["read:doom"]).await;
        let other_grant = app.create_client_grant(&client_id, "https://survivor.example.test/", &["read:ok"]).await;
        app.client_credentials(&client_id, &secret, identifier).await;

        let path = api_path(api["id"].as_str().unwrap());
        let response = app.mgmt(Method::DELETE, &path).await.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.text().await.unwrap().is_empty());

        let (status, body) = app.mgmt_call(Method::GET, &path, None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app.mgmt_call(Method::GET, &api_path(identifier), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app.mgmt_call(Method::GET, &format!("/client-grants/{}", grant["id"].as_str().unwrap()), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        let (status, grants) = app.mgmt_call(Method::GET, &format!("/client-grants?client_id={client_id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{grants}");
        assert_eq!(grants, json!([other_grant]), "only the other API's grant is left");
        let (_, still) = app.mgmt_call(Method::GET, &api_path(other["id"].as_str().unwrap()), None).await;
        assert_eq!(still, other);

        let denied = |app: &TestApp| {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", client_id.as_str()),
                ("client_secret", secret.as_str()),
                ("audience", identifier),
            ];
            let request = app.http.post(app.url("/oauth/token")).form(&form);
            async move { read(request.send().await.unwrap()).await }
        };
        let (status, body) = denied(&app).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");

        // Re-creating the API does not bring the grant back.
        app.create_api(identifier, &["read:doom"]).await;
        let (status, body) = denied(&app).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");

        let (status, body) = app.mgmt_call(Method::DELETE, &path, None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}
