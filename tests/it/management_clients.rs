use grantor_domain::ClientId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{assert_mgmt_error, assert_oauth_error, read, spawn_app};

fn assert_default_refresh_token(rt: &Value) {
    assert_eq!(rt["rotation_type"], "non-rotating");
    assert_eq!(rt["expiration_type"], "non-expiring");
    assert_eq!(rt["leeway"], 0);
    assert_eq!(rt["token_lifetime"], 2_592_000);
    assert_eq!(rt["idle_token_lifetime"], 1_296_000);
    assert_eq!(rt["infinite_token_lifetime"], true);
    assert_eq!(rt["infinite_idle_token_lifetime"], true);
}

both_databases! {
    async fn create_returns_the_secret_once_with_auth0_defaults(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret, created) = app.create_client(json!({"name": "My App", "callbacks": ["https://app.example/cb"]})).await;
        assert_eq!(id.len(), 32);
        assert!(secret.len() >= 43);
        assert_eq!(created["name"], "My App");
        assert_eq!(created["is_first_party"], true);
        assert_eq!(created["grant_types"], json!(["authorization_code", "implicit", "refresh_token", "client_credentials"]));
        assert_default_refresh_token(&created["refresh_token"]);
        let (status, read_back) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(read_back.get("client_secret").is_none(), "secret is never read back: {read_back}");
        assert_eq!(read_back["callbacks"], json!(["https://app.example/cb"]));
        assert_default_refresh_token(&read_back["refresh_token"]);
        let (status, body) = app.mgmt_call(Method::GET, "/clients?fields=client_id,name", None).await;
        assert_eq!(status, StatusCode::OK);
        let mine = body.as_array().unwrap().iter().find(|c| c["client_id"] == id.as_str()).unwrap().clone();
        assert_eq!(mine, json!({"client_id": id, "name": "My App"}));
    }
}

both_databases! {
    async fn expiring_rotation_settings_fill_auth0_defaults_and_are_validated(db: Backend) {
        let app = spawn_app(db).await;
        let (id, _, created) = app.create_client(json!({
            "name": "spa", "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 10},
        })).await;
        let rt = &created["refresh_token"];
        assert_eq!(rt["rotation_type"], "rotating");
        assert_eq!(rt["leeway"], 10);
        assert_eq!(rt["infinite_token_lifetime"], false);
        assert_eq!(rt["infinite_idle_token_lifetime"], false);
        assert_eq!(rt["token_lifetime"], 2_592_000);
        for bad in [
            json!({"refresh_token": {"leeway": -1}}),
            json!({"refresh_token": {"rotation_type": "sometimes"}}),
            json!({"refresh_token": {"token_lifetime": 0}}),
            json!({"refresh_token": {"token_lifetime": 600, "idle_token_lifetime": 1200}}),
            json!({"refresh_token": {"unknown": 1}}),
            json!({"grant_types": ["magic"]}),
            json!({"callbacks": ["not a url"]}),
            json!({"token_endpoint_auth_method": "private_key_jwt_maybe"}),
        ] {
            let (status, body) = app.mgmt_call(Method::PATCH, &format!("/clients/{id}"), Some(bad.clone())).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
        let (_, after) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(after["refresh_token"], created["refresh_token"], "refused patches changed nothing");
        let (status, patched) = app.mgmt_call(Method::PATCH, &format!("/clients/{id}"), Some(json!({
            "refresh_token": {"idle_token_lifetime": 3600, "token_lifetime": 7200}, "name": "renamed",
        }))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["refresh_token"]["idle_token_lifetime"], 3600);
        assert_eq!(patched["refresh_token"]["rotation_type"], "rotating", "unnamed members are kept");
        let (_, after) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(after["name"], "renamed");
        assert_eq!(after["refresh_token"], patched["refresh_token"]);
    }
}

both_databases! {
    async fn rotate_secret_replaces_the_old_secret(db: Backend) {
        let app = spawn_app(db).await;
        let audience = app.management_audience();
        let (id, old_secret, _) = app.create_client(json!({"name": "m2m", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, &audience, &["read:clients"]).await;
        app.client_credentials(&id, &old_secret, &audience).await;
        let (status, rotated) = app.mgmt_call(Method::POST, &format!("/clients/{id}/rotate-secret"), None).await;
        assert_eq!(status, StatusCode::OK);
        let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
        assert_ne!(new_secret, old_secret);
        let (status, body) = read(app.token_form(&[
            ("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &old_secret), ("audience", &audience),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "access_denied");
        app.client_credentials(&id, &new_secret, &audience).await;
    }
}

both_databases! {
    async fn list_pages_and_delete_removes_the_client(db: Backend) {
        let app = spawn_app(db).await;
        for i in 0..3 {
            app.create_client(json!({"name": format!("app {i}")})).await;
        }
        let (status, page) = app.mgmt_call(Method::GET, "/clients?include_totals=true&per_page=2&page=1", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["total"], 4, "three apps and the bootstrap client");
        assert_eq!(page["start"], 2);
        assert_eq!(page["limit"], 2);
        assert_eq!(page["clients"].as_array().unwrap().len(), 2);
        let (_, past_end) = app.mgmt_call(Method::GET, "/clients?page=5&per_page=2", None).await;
        assert_eq!(past_end, json!([]));
        let (id, _, _) = app.create_client(json!({"name": "doomed"})).await;
        let (status, body) = app.mgmt_call(Method::DELETE, &format!("/clients/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        // The bootstrap client cannot be deleted.
        let (status, body) = app.mgmt_call(Method::DELETE, &format!("/clients/{}", crate::support::MGMT_CLIENT_ID), None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        app.mgmt_call(Method::GET, "/clients", None).await;
    }
}

both_databases! {
    async fn client_secrets_are_stored_only_as_hashes(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret, _) = app.create_client(json!({"name": "hashed"})).await;
        let store = app.store().await;
        let client = store.client(&ClientId::from(&id)).await.unwrap().unwrap();
        assert_ne!(client.secret_hash.as_str(), secret);
        assert!(!client.secret_hash.as_str().contains(&secret));
        assert!(client.secret_hash.matches(&secret));
        store.close().await;
    }
}

both_databases! {
    async fn public_clients_rotate_unless_non_rotating_is_asked_for(db: Backend) {
        let app = spawn_app(db).await;
        let rotation = |client: &Value| client["refresh_token"]["rotation_type"].as_str().unwrap().to_owned();
        // RFC 9700 §4.14.2: a public client gets rotating refresh tokens by default…
        let (public, _, created) = app.create_client(json!({"name": "Phone", "token_endpoint_auth_method": "none"})).await;
        assert_eq!(rotation(&created), "rotating");
        let (status, read_back) = app.mgmt_call(Method::GET, &format!("/clients/{public}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(rotation(&read_back), "rotating", "stored, not only rendered");
        let (_, _, created) = app.create_client(json!({
            "name": "SPA", "token_endpoint_auth_method": "none", "refresh_token": {"expiration_type": "expiring"},
        })).await;
        assert_eq!(rotation(&created), "rotating", "a refresh_token object without rotation_type");
        // …non-rotating only when asked for explicitly, at creation or later.
        let (_, _, created) = app.create_client(json!({
            "name": "Legacy", "token_endpoint_auth_method": "none", "refresh_token": {"rotation_type": "non-rotating"},
        })).await;
        assert_eq!(rotation(&created), "non-rotating");
        let (status, patched) = app.mgmt_call(Method::PATCH, &format!("/clients/{public}"),
            Some(json!({"refresh_token": {"rotation_type": "non-rotating"}}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(rotation(&patched), "non-rotating");
        let (_, patched) = app.mgmt_call(Method::PATCH, &format!("/clients/{public}"), Some(json!({"name": "Phone 2"}))).await;
        assert_eq!(rotation(&patched), "non-rotating", "an unrelated change keeps the opt-in");
        // Confidential clients keep Auth0's default; becoming public switches rotation on.
        let (confidential, _, created) = app.create_client(json!({"name": "Web"})).await;
        assert_eq!(rotation(&created), "non-rotating");
        let (_, patched) = app.mgmt_call(Method::PATCH, &format!("/clients/{confidential}"),
            Some(json!({"token_endpoint_auth_method": "none"}))).await;
        assert_eq!(rotation(&patched), "rotating");
        let (confidential, _, _) = app.create_client(json!({"name": "Web 2"})).await;
        let (_, patched) = app.mgmt_call(Method::PATCH, &format!("/clients/{confidential}"),
            Some(json!({"token_endpoint_auth_method": "none", "refresh_token": {"rotation_type": "non-rotating"}}))).await;
        assert_eq!(rotation(&patched), "non-rotating");
    }
}
