//! `/oauth/revoke` and `/oauth/introspect`: grant-wide revocation, the
//! "Refresh Token Revocation Deletes Grant" flag, and immediate effect.

use base64::Engine;
use grantor_domain::{ClientId, UserId};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rotating, rt, setup, API};
use crate::support::{assert_oauth_error, claims, read, spawn_app, TestApp};

async fn revoke(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = app
        .http
        .post(app.url("/oauth/revoke"))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn grant_exists(app: &TestApp, user_id: &str, client_id: &str) -> bool {
    let store = app.store().await;
    let found = store
        .grant_for(&UserId::from(user_id), &ClientId::from(client_id), API)
        .await
        .unwrap()
        .is_some();
    store.close().await;
    found
}

both_databases! {
    async fn revoking_one_refresh_token_revokes_every_token_of_the_grant_at_once(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let first = password_grant(&app, &id, &secret, "openid read:orders offline_access").await;
        let second = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let access = first["access_token"].as_str().unwrap().to_owned();
        let user_id = claims(&access)["sub"].as_str().unwrap().to_owned();
        assert_eq!(app.introspect(&id, &secret, &access).await["active"], true);
        assert_eq!(app.introspect(&id, &secret, &rt(&second)).await["active"], true);

        let (status, body) = revoke(&app, &[("client_id", &id), ("client_secret", &secret), ("token", &rt(&first))]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "", "RFC 7009 / Auth0: empty body");
        for token in [rt(&first), rt(&second)] {
            let (status, body) = refresh(&app, &id, &secret, &token).await;
            assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
            assert_eq!(app.introspect(&id, &secret, &token).await, json!({"active": false}));
        }
        assert_eq!(app.introspect(&id, &secret, &access).await, json!({"active": false}), "access tokens of the grant too");
        // Flag off (the default): the grant is kept.
        assert!(grant_exists(&app, &user_id, &id).await);
        // A new login works again.
        let again = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let (status, _) = refresh(&app, &id, &secret, &rt(&again)).await;
        assert_eq!(status, StatusCode::OK);
    }
}

both_databases! {
    async fn with_the_tenant_flag_on_revocation_deletes_the_grant(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let (status, _) = app.mgmt_call(Method::PATCH, "/tenants/settings", Some(json!({"flags": {"revoke_refresh_token_grant": true}}))).await;
        assert_eq!(status, StatusCode::OK);
        let body = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let user_id = claims(body["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        assert!(grant_exists(&app, &user_id, &id).await);
        // JSON body, as the Auth0 SDKs send it.
        let response = app.http.post(app.url("/oauth/revoke"))
            .json(&json!({"client_id": id, "client_secret": secret, "token": rt(&body)})).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!grant_exists(&app, &user_id, &id).await, "grant deleted");
        let (status, body) = refresh(&app, &id, &secret, &rt(&body)).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        // The audit event says the grant went too, as its receipt does.
        let (status, logs) = app.mgmt_call(Method::GET, &format!("/logs?q=type:srrt AND user_id:\"{user_id}\""), None).await;
        assert_eq!(status, StatusCode::OK);
        let event = &logs.as_array().expect("a bare array")[0];
        assert_eq!(event["details"]["receipt"]["grants_deleted"], true, "{event}");
        assert_eq!(
            event["description"],
            "Revoked the refresh tokens of a grant (/oauth/revoke); the grant was deleted too (tenant setting revoke_refresh_token_grant)"
        );
    }
}

both_databases! {
    async fn revoke_authenticates_the_client_and_checks_ownership(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let token = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        // Wrong secret: 401 invalid_client, nothing revoked.
        let (status, body) = revoke(&app, &[("client_id", &id), ("client_secret", "wrong"), ("token", &token)]).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
        // Another client: 400 invalid_request, token stays valid.
        let (other, other_secret, _) = app.create_client(json!({"name": "other"})).await;
        let (status, body) = revoke(&app, &[("client_id", &other), ("client_secret", &other_secret), ("token", &token)]).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(app.introspect(&other, &other_secret, &token).await, json!({"active": false}), "others learn nothing");
        assert_eq!(app.introspect(&id, &secret, &token).await["active"], true);
        // Unknown token: 200. Missing token: 400.
        let (status, _) = revoke(&app, &[("client_id", &id), ("client_secret", &secret), ("token", "no-such-token")]).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = revoke(&app, &[("client_id", &id), ("client_secret", &secret)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Basic authentication revokes.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let response = app.http.post(app.url("/oauth/revoke")).header("authorization", format!("Basic {basic}"))
            .form(&[("token", token.as_str())]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (status, _) = refresh(&app, &id, &secret, &token).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

both_databases! {
    async fn public_clients_revoke_with_their_client_id_alone(db: Backend) {
        let app = spawn_app(db).await;
        let (_, _) = setup(&app, rotating(0)).await;
        let (id, _, _) = app.create_client(json!({
            "name": "native", "token_endpoint_auth_method": "none", "grant_types": ["password", "refresh_token"],
        })).await;
        let (status, body) = read(app.token_form(&[
            ("grant_type", "password"), ("client_id", &id), ("username", crate::refresh_tokens::EMAIL),
            ("password", crate::refresh_tokens::PASSWORD), ("audience", API), ("scope", "read:orders offline_access"),
        ]).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = rt(&body);
        let (status, _) = revoke(&app, &[("client_id", &id), ("token", &token)]).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = read(app.token_form(&[("grant_type", "refresh_token"), ("client_id", &id), ("refresh_token", &token)]).await).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
    }
}

both_databases! {
    async fn introspection_reports_rotated_out_tokens_and_their_family_at_once(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let body = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let (status, next) = refresh(&app, &id, &secret, &rt(&body)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(app.introspect(&id, &secret, &rt(&body)).await, json!({"active": false}), "rotated out");
        let live = app.introspect(&id, &secret, &rt(&next)).await;
        assert_eq!(live["active"], true);
        assert_eq!(live["token_type"], "refresh_token");
        assert_eq!(live["client_id"], id.as_str());
        let access = next["access_token"].as_str().unwrap().to_owned();
        let seen = app.introspect(&id, &secret, &access).await;
        assert_eq!(seen["active"], true);
        assert_eq!(seen["scope"], "read:orders offline_access");
        // Reuse of the old token revokes the family: the access token minted from it is inactive now.
        let (status, _) = refresh(&app, &id, &secret, &rt(&body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(app.introspect(&id, &secret, &access).await, json!({"active": false}));
        assert_eq!(app.introspect(&id, &secret, &rt(&next)).await, json!({"active": false}));
        // Machine tokens introspect active for their own client; garbage is inactive.
        let mgmt = app.mgmt_token().await;
        let seen = app.introspect(crate::support::MGMT_CLIENT_ID, crate::support::MGMT_CLIENT_SECRET, &mgmt).await;
        assert_eq!(seen["active"], true);
        assert_eq!(app.introspect(&id, &secret, "garbage").await, json!({"active": false}));
        // Bad client credentials: 401.
        let (status, body) = read(app.http.post(app.url("/oauth/introspect"))
            .form(&[("client_id", id.as_str()), ("client_secret", "nope"), ("token", access.as_str())]).send().await.unwrap()).await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
    }
}

/// POSTs a form to `path` with optional extra headers; status, `WWW-Authenticate` and JSON body.
async fn post_raw(
    app: &TestApp,
    path: &str,
    authorization: Option<&str>,
    form: &[(&str, &str)],
) -> (StatusCode, Option<String>, Value) {
    let mut request = app.http.post(app.url(path)).form(form);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    (status, challenge, body)
}

both_databases! {
    async fn revoke_and_introspect_without_client_authentication_are_401_invalid_client(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let body = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let token = rt(&body);
        let access = body["access_token"].as_str().unwrap().to_owned();
        let (public, _, _) = app.create_client(json!({
            "name": "native", "token_endpoint_auth_method": "none", "grant_types": ["password", "refresh_token"],
        })).await;
        let malformed = "Basic %%%not-base64%%%";
        let wrong_basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:wrong")));
        for path in ["/oauth/revoke", "/oauth/introspect"] {
            // No client at all (not even a secret without an id).
            for (authorization, form) in [
                (None, vec![("token", token.as_str())]),
                (None, vec![("token", token.as_str()), ("client_secret", secret.as_str())]),
                (Some(malformed), vec![("token", token.as_str())]),
                (Some(wrong_basic.as_str()), vec![("token", token.as_str())]),
            ] {
                let (status, challenge, body) = post_raw(&app, path, authorization, &form).await;
                assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
                let challenge = challenge.unwrap_or_else(|| panic!("{path}: 401 without WWW-Authenticate"));
                assert!(challenge.starts_with("Basic"), "{challenge}");
            }
        }
        // Introspection is for confidential clients: a public client_id is 401 too.
        let (status, _, body) = post_raw(&app, "/oauth/introspect", None, &[("client_id", &public), ("token", &access)]).await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
        // Nothing of the above revoked the token; its own client still sees it live.
        assert_eq!(app.introspect(&id, &secret, &token).await["active"], true);
        let (status, _) = refresh(&app, &id, &secret, &token).await;
        assert_eq!(status, StatusCode::OK);
    }
}
