//! `/api/v2/user-blocks`: brute-force blocks in Auth0's shape, by e-mail
//! (`?identifier=`) and by user id; deleting lifts them and sign-in works again.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::refresh_tokens::{password_grant, rotating, setup, EMAIL, PASSWORD};
use crate::support::{assert_mgmt_error, assert_oauth_error, spawn_app, TestApp};

async fn attempt(
    app: &TestApp,
    id: &str,
    secret: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    crate::brute_force::password_attempt(app, id, secret, EMAIL, password).await
}

async fn block(app: &TestApp, id: &str, secret: &str) {
    for _ in 0..10 {
        let (status, _) = attempt(app, id, secret, "wrong password").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, body) = attempt(app, id, secret, PASSWORD).await;
    assert_oauth_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
}

fn blocked_for(ip: &str) -> serde_json::Value {
    json!({"blocked_for": [{"identifier": EMAIL, "ip": ip, "connection": "Username-Password-Authentication"}]})
}

both_databases! {
    async fn blocks_are_listed_and_lifted_by_user_id(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let (_, users) = app.mgmt_call(Method::GET, "/users-by-email?email=ann@example.test", None).await;
        let user_id = users[0]["user_id"].as_str().unwrap().to_owned();
        let path = format!("/user-blocks/{user_id}");
        let (status, body) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!((status, body), (StatusCode::OK, json!({"blocked_for": []})));

        block(&app, &id, &secret).await;
        let (status, body) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!((status, body), (StatusCode::OK, blocked_for("127.0.0.1")));
        let (status, body) = app.mgmt_call(Method::GET, "/user-blocks?identifier=Ann%40Example.test", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["blocked_for"][0]["ip"], "127.0.0.1", "{body}");
        // Another e-mail is not blocked.
        let (_, body) = app.mgmt_call(Method::GET, "/user-blocks?identifier=bob%40example.test", None).await;
        assert_eq!(body, json!({"blocked_for": []}));

        let response = app.mgmt(Method::DELETE, &path).await.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let (_, body) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(body, json!({"blocked_for": []}));
        password_grant(&app, &id, &secret, "read:orders").await;
        // The lift is audited.
        let (_, logs) = app.mgmt_call(Method::GET, &format!("/users/{user_id}/logs"), None).await;
        assert!(logs.as_array().unwrap().iter().any(|e| e["type"] == "sapi" && e["description"] == "Lift brute-force blocks"), "{logs}");
    }
}

both_databases! {
    async fn blocks_are_lifted_by_identifier(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        block(&app, &id, &secret).await;
        let (status, body) = app.mgmt_call(Method::GET, "/user-blocks?identifier=ann%40example.test", None).await;
        assert_eq!((status, body), (StatusCode::OK, blocked_for("127.0.0.1")));
        let response = app.mgmt(Method::DELETE, "/user-blocks?identifier=ann%40example.test").await.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        password_grant(&app, &id, &secret, "read:orders").await;
    }
}

both_databases! {
    async fn bad_user_block_requests_are_clear_errors(db: Backend) {
        let app = spawn_app(db).await;
        for method in [Method::GET, Method::DELETE] {
            let (status, body) = app.mgmt_call(method.clone(), "/user-blocks", None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            assert_eq!(body["errorCode"], "invalid_query_string", "{body}");
            let (status, body) = app.mgmt_call(method, "/user-blocks/auth0%7Cnobody", None).await;
            assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
            assert_eq!(body["errorCode"], "inexistent_user", "{body}");
        }
    }
}
