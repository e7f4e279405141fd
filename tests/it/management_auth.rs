use grantor::Clock;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::support::{assert_mgmt_error, read, spawn_app, spawn_app_on, AppOptions, TestDatabase};

both_databases! {
    async fn requests_without_a_valid_bearer_token_are_401(db: Backend) {
        let app = spawn_app(db).await;
        let (status, body) = read(app.http.get(app.url("/api/v2/clients")).send().await.unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
        assert_eq!(body["message"], "Missing authentication");
        for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."] {
            let response = app.http.get(app.url("/api/v2/clients")).bearer_auth(token).send().await.unwrap();
            assert!(response.headers().contains_key("www-authenticate"));
            let (status, body) = read(response).await;
            assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
            assert_eq!(body["message"], "Invalid token");
        }
    }
}

both_databases! {
    async fn tokens_signed_by_another_tenant_or_for_another_api_are_401(db: Backend) {
        let app = spawn_app(db).await;
        let other = spawn_app(db).await;
        // Same issuer shape, same audience path, but the other server's keys.
        let foreign = other.mgmt_token().await;
        let (status, body) = read(app.http.get(app.url("/api/v2/clients")).bearer_auth(&foreign).send().await.unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
        // Our own key, but an access token for a custom API.
        app.create_api("https://api.example.test/", &["read:a"]).await;
        let (id, secret, _) = app.create_client(json!({"name": "m2m", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, "https://api.example.test/", &["read:a"]).await;
        let custom = app.client_credentials(&id, &secret, "https://api.example.test/").await;
        let (status, body) = read(app.http.get(app.url("/api/v2/clients")).bearer_auth(&custom).send().await.unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
    }
}

both_databases! {
    async fn expired_tokens_are_401(db: Backend) {
        let clock = Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let database = std::sync::Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions { clock: clock.clone(), ..AppOptions::default() }).await;
        let token = app.mgmt_token().await;
        let (status, _) = read(app.http.get(app.url("/api/v2/clients")).bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        clock.advance_seconds(86_400);
        let (status, body) = read(app.http.get(app.url("/api/v2/clients")).bearer_auth(&token).send().await.unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
        assert_eq!(body["message"], "Invalid token");
    }
}

both_databases! {
    async fn missing_scope_is_403_insufficient_scope(db: Backend) {
        let app = spawn_app(db).await;
        let audience = app.management_audience();
        let (id, secret, _) = app.create_client(json!({"name": "reader", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&id, &audience, &["read:clients"]).await;
        let token = app.client_credentials(&id, &secret, &audience).await;
        let (status, _) = read(app.http.get(app.url("/api/v2/clients")).bearer_auth(&token).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = read(app.http.get(app.url("/api/v2/users")).bearer_auth(&token).send().await.unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
        assert_eq!(body["errorCode"], "insufficient_scope");
        assert_eq!(body["message"], "Insufficient scope, expected any of: read:users");
        let response = app.http.post(app.url("/api/v2/clients")).bearer_auth(&token).json(&json!({"name": "x"})).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
        let (_, list) = app.mgmt_call(Method::GET, "/clients", None).await;
        assert!(list.as_array().unwrap().iter().all(|c| c["name"] != "x"), "nothing was created");
    }
}

both_databases! {
    async fn unknown_paths_and_methods_answer_in_auth0_format(db: Backend) {
        let app = spawn_app(db).await;
        let (status, body) = app.mgmt_call(Method::GET, "/no-such-resource", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app.mgmt_call(Method::PUT, "/clients", Some(json!({}))).await;
        assert_mgmt_error(status, &body, StatusCode::METHOD_NOT_ALLOWED);
    }
}
