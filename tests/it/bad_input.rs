use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::support::{assert_mgmt_error, assert_oauth_error, read, spawn_app};

both_databases! {
    async fn management_bodies_that_are_not_valid_json_objects_are_400_and_write_nothing(db: Backend) {
        let app = spawn_app(db).await;
        let (_, before) = app.mgmt_call(Method::GET, "/clients?include_totals=true", None).await;
        for raw in ["{", "[]", "\"name\"", "{\"name\": 5}", "{\"name\": \"x\", \"nonsense\": true}", ""] {
            let response = app.mgmt(Method::POST, "/clients").await
                .header("content-type", "application/json").body(raw).send().await.unwrap();
            let (status, body) = read(response).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            assert_eq!(body["errorCode"], "invalid_body", "{raw}: {body}");
        }
        let (_, after) = app.mgmt_call(Method::GET, "/clients?include_totals=true", None).await;
        assert_eq!(before["total"], after["total"]);
    }
}

both_databases! {
    async fn management_wrong_content_type_is_415_in_auth0_format(db: Backend) {
        let app = spawn_app(db).await;
        let response = app.mgmt(Method::POST, "/clients").await
            .header("content-type", "text/plain").body("{\"name\":\"x\"}").send().await.unwrap();
        let (status, body) = read(response).await;
        assert_mgmt_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let response = app.mgmt(Method::PATCH, "/tenants/settings").await.body("{}").send().await.unwrap();
        let (status, body) = read(response).await;
        assert_mgmt_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}

/// Sends an oversized body. The server answers 413 as soon as it sees the
/// length and closes the connection without reading the rest, so the client
/// can lose the race and see a reset instead of the answer: try again then.
/// The answer says `Connection: close`, so the client never reuses that
/// connection for the next request.
pub(crate) async fn oversized(request: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    let mut last_error = None;
    for _ in 0..5 {
        match request().send().await {
            Ok(response) => return response,
            Err(e) => last_error = Some(e),
        }
    }
    panic!("no answer to an oversized body: {last_error:?}");
}

both_databases! {
    async fn two_megabyte_bodies_are_413_on_both_surfaces(db: Backend) {
        let app = spawn_app(db).await;
        let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let token = app.mgmt_token().await;
        let response = oversized(|| app.http.post(app.url("/api/v2/clients")).bearer_auth(&token)
            .header("content-type", "application/json").body(huge.clone())).await;
        assert_eq!(response.headers()["connection"], "close");
        let (status, body) = read(response).await;
        assert_mgmt_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
        let response = oversized(|| app.http.post(app.url("/oauth/token"))
            .header("content-type", "application/json").body(huge.clone())).await;
        assert_eq!(response.headers()["connection"], "close");
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert!(body["error"].is_string() && body["error_description"].is_string());
    }
}

both_databases! {
    async fn token_endpoint_bad_bodies_are_400_invalid_request(db: Backend) {
        let app = spawn_app(db).await;
        for (content_type, raw) in [
            ("application/json", "{not json"),
            ("application/json", "[1,2]"),
            ("application/json", "{\"grant_type\": 7, \"client_id\": \"x\"}"),
            ("application/x-www-form-urlencoded", "grant_type=client_credentials&grant_type=password&client_id=x"),
        ] {
            let response = app.http.post(app.url("/oauth/token")).header("content-type", content_type).body(raw).send().await.unwrap();
            let (status, body) = read(response).await;
            assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
        }
        let response = app.http.post(app.url("/oauth/token")).header("content-type", "text/plain").body("grant_type=x").send().await.unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["error"], "invalid_request");
        let response = app.http.post(app.url("/oauth/token")).header("authorization", "Basic %%%")
            .form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
    }
}

both_databases! {
    async fn bad_query_parameters_are_400(db: Backend) {
        let app = spawn_app(db).await;
        for query in ["per_page=0", "per_page=101", "page=-1", "page=abc", "include_totals=maybe"] {
            let (status, body) = app.mgmt_call(Method::GET, &format!("/clients?{query}"), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
        let (status, _) = app.mgmt_call(Method::GET, "/clients?per_page=100&include_totals=false", None).await;
        assert_eq!(status, StatusCode::OK);
        let _ = json!(null);
    }
}

both_databases! {
    /// An answer given before a large request body was read to its end
    /// (here a 401: no token) says `Connection: close`, since the server
    /// will not read further on that connection; a small unread body, or a
    /// body read to its end, keeps the connection.
    async fn an_answer_before_the_body_was_read_closes_the_connection(db: Backend) {
        let app = spawn_app(db).await;
        let body = format!("{{\"name\": \"{}\"}}", "x".repeat(200 * 1024));
        let response = app.http.post(app.url("/api/v2/clients"))
            .header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["connection"], "close");
        // A small body hyper can drain keeps the connection, read or not.
        let response = app.http.post(app.url("/api/v2/clients"))
            .header("content-type", "application/json").body("{\"name\": \"x\"}").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get("connection").is_none(), "{:?}", response.headers());
        let response = app.http.post(app.url("/oauth/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", "x")])
            .send().await.unwrap();
        assert!(response.status().is_client_error());
        assert!(response.headers().get("connection").is_none(), "{:?}", response.headers());
        // The connection reused for the next request works.
        let response = app.http.get(app.url("/healthz")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}
