use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::support::{assert_oauth_error, claims, read, spawn_app, urlencode, TestApp};

const API: &str = "https://api.example.test/";

/// A confidential machine client with a client grant for `API` (scopes a and b).
async fn machine_client(app: &TestApp) -> (String, String) {
    app.create_api(API, &["read:a", "read:b", "read:c"]).await;
    let (id, secret, _) = app
        .create_client(json!({"name": "worker", "grant_types": ["client_credentials"]}))
        .await;
    app.create_client_grant(&id, API, &["read:a", "read:b"])
        .await;
    (id, secret)
}

both_databases! {
    async fn client_secret_post_gets_a_jwt_with_every_claim(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = machine_client(&app).await;
        let before = app.clock.now().unix_seconds();
        let (status, body) = read(app.token_form(&[
            ("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret), ("audience", API),
        ]).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 86400);
        assert_eq!(body["scope"], "read:a read:b");
        assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
        let c = claims(body["access_token"].as_str().unwrap());
        assert_eq!(c["iss"], app.issuer);
        assert_eq!(c["sub"], format!("{id}@clients"));
        assert_eq!(c["aud"], API);
        assert_eq!(c["azp"], id.as_str());
        assert_eq!(c["gty"], "client-credentials");
        assert_eq!(c["scope"], "read:a read:b");
        assert!(c["jti"].as_str().is_some_and(|j| j.len() >= 16));
        let iat = c["iat"].as_i64().unwrap();
        assert!(iat >= before && iat <= before + 5);
        assert_eq!(c["exp"].as_i64().unwrap() - iat, 86400);
    }
}

both_databases! {
    async fn client_secret_basic_and_json_bodies_work_and_null_members_are_ignored(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = machine_client(&app).await;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let response = app.http.post(app.url("/oauth/token"))
            .header("authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "client_credentials"), ("audience", API)])
            .send().await.unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // auth0-python sends null and "" for unset members.
        let (status, body) = read(app.token_json(&json!({
            "grant_type": "client_credentials", "client_id": id, "client_secret": secret,
            "audience": API, "organization": null, "scope": "",
        })).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "read:a read:b", "empty scope means every granted scope");
    }
}

both_databases! {
    async fn scopes_are_the_requested_ones_within_the_grant(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = machine_client(&app).await;
        let (status, body) = read(app.token_form(&[
            ("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret),
            ("audience", API), ("scope", "read:b read:c"),
        ]).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "read:b");
        assert_eq!(claims(body["access_token"].as_str().unwrap())["scope"], "read:b");
        let (status, body) = read(app.token_form(&[
            ("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret),
            ("audience", API), ("scope", "read:c"),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
    }
}

both_databases! {
    async fn bad_client_credentials_are_401_access_denied(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = machine_client(&app).await;
        for (client_id, client_secret) in [(id.as_str(), "wrong"), ("no-such-client", secret.as_str()), (id.as_str(), "")] {
            let (status, body) = read(app.token_form(&[
                ("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", client_secret), ("audience", API),
            ]).await).await;
            assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "access_denied");
            assert_eq!(body["error_description"], "Unauthorized");
        }
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:not-the-secret"));
        let response = app.http.post(app.url("/oauth/token")).header("authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "client_credentials"), ("audience", API)]).send().await.unwrap();
        // RFC 6749 §5.2: Basic was attempted, so the 401 carries a Basic challenge.
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        assert!(challenge.as_deref().is_some_and(|c| c.starts_with("Basic")), "{challenge:?}");
        let (status, body) = read(response).await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "access_denied");
    }
}

both_databases! {
    async fn audience_and_grant_rules_follow_auth0(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = machine_client(&app).await;
        let ask = |audience: Option<&'static str>| {
            let mut form = vec![("grant_type", "client_credentials"), ("client_id", id.as_str()), ("client_secret", secret.as_str())];
            if let Some(a) = audience { form.push(("audience", a)); }
            let app = &app;
            async move { read(app.token_form(&form).await).await }
        };
        let (status, body) = ask(Some("https://unknown.example/")).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
        assert_eq!(body["error_description"], "Service not enabled within domain: https://unknown.example/");
        app.create_api("https://other.example/", &["x"]).await;
        let (status, body) = ask(Some("https://other.example/")).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
        assert!(body["error_description"].as_str().unwrap().contains("client-grant"), "{body}");
        let (status, body) = ask(None).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
        let (status, _) = app.mgmt_call(Method::PATCH, "/tenants/settings", Some(json!({"default_audience": API}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = ask(None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(claims(body["access_token"].as_str().unwrap())["aud"], API);
    }
}

both_databases! {
    async fn grant_types_are_checked(db: Backend) {
        let app = spawn_app(db).await;
        app.create_api(API, &["read:a"]).await;
        let (id, secret, _) = app.create_client(json!({"name": "web", "grant_types": ["authorization_code"]})).await;
        app.create_client_grant(&id, API, &["read:a"]).await;
        let (status, body) = read(app.token_form(&[
            ("grant_type", "client_credentials"), ("client_id", &id), ("client_secret", &secret), ("audience", API),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "unauthorized_client");
        assert_eq!(body["error_description"], "Grant type 'client_credentials' not allowed for the client.");
        let (status, body) = read(app.token_form(&[("grant_type", "urn:example:magic"), ("client_id", &id)]).await).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "unsupported_grant_type");
        let (status, body) = read(app.token_form(&[("client_id", &id), ("client_secret", &secret)]).await).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
        // A public client cannot use client_credentials even if it lists it.
        let (pid, _, _) = app.create_client(json!({
            "name": "public", "grant_types": ["client_credentials"], "token_endpoint_auth_method": "none",
        })).await;
        app.create_client_grant(&pid, API, &["read:a"]).await;
        let (status, body) = read(app.token_form(&[("grant_type", "client_credentials"), ("client_id", &pid), ("audience", API)]).await).await;
        assert_eq!(status.as_u16() / 100, 4, "{body}");
        assert_ne!(status, StatusCode::OK);
    }
}

both_databases! {
    async fn api_signing_alg_is_used_for_its_tokens(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = machine_client(&app).await;
        for alg in ["PS256", "ES256", "EdDSA", "RS256"] {
            let (status, body) = app.mgmt_call(Method::PATCH, &format!("/resource-servers/{}", urlencode(API)), Some(json!({"signing_alg": alg}))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let token = app.client_credentials(&id, &secret, API).await;
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(format!("{:?}", header.alg), alg);
        }
    }
}
