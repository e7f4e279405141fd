//! CONTRACT §6.3: blocking a user, changing their password or deleting them
//! ends their sessions and revokes their refresh tokens at once (one
//! transaction through the revocation module, audited with a receipt); their
//! access tokens introspect inactive; unblocking brings nothing back.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rotating, rt, setup, EMAIL, PASSWORD};
use crate::support::browser::{authorize_code_with, authorize_path, get, new_browser, web_client};
use crate::support::{assert_oauth_error, claims, read, spawn_app, urlencode, TestApp};

const CALLBACK: &str = "https://web.example.test/callback";

/// A user signed in twice: a password-grant login (refresh and access token)
/// and a browser session. Returns what the checks need.
struct SignedIn {
    client_id: String,
    secret: String,
    user_id: String,
    refresh_token: String,
    access_token: String,
    web_id: String,
    browser: reqwest::Client,
}

async fn sign_in(app: &TestApp) -> SignedIn {
    let (client_id, secret) = setup(app, rotating(0)).await;
    let body = password_grant(
        app,
        &client_id,
        &secret,
        "openid read:orders offline_access",
    )
    .await;
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    let user_id = claims(&access_token)["sub"].as_str().unwrap().to_owned();
    let (web_id, _) = web_client(app, "web", &[CALLBACK]).await;
    let browser = new_browser();
    authorize_code_with(
        app,
        &browser,
        &web_id,
        CALLBACK,
        &[("scope", "openid")],
        EMAIL,
        PASSWORD,
    )
    .await;
    SignedIn {
        client_id,
        secret,
        user_id,
        refresh_token: rt(&body),
        access_token,
        web_id,
        browser,
    }
}

async fn introspect(app: &TestApp, s: &SignedIn, token: &str) -> Value {
    app.introspect(&s.client_id, &s.secret, token).await
}

/// Whether the browser's session still signs it in without a login page.
async fn browser_signed_in(app: &TestApp, s: &SignedIn) -> bool {
    let path = authorize_path(
        &s.web_id,
        CALLBACK,
        &[("scope", "openid"), ("prompt", "none")],
    );
    let response = get(app, &s.browser, &path).await;
    let to = crate::support::browser::location(&response).unwrap_or_default();
    crate::support::browser::query_param(&to, "code").is_some()
}

/// Everything the user held before the change is dead, everywhere.
async fn assert_all_access_ended(app: &TestApp, s: &SignedIn, reason: &str) {
    let (status, body) = refresh(app, &s.client_id, &s.secret, &s.refresh_token).await;
    assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
    assert_eq!(
        introspect(app, s, &s.refresh_token).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(app, s, &s.access_token).await,
        json!({"active": false})
    );
    assert!(
        !browser_signed_in(app, s).await,
        "the browser session ended"
    );
    let user = urlencode(&s.user_id);
    let (status, tokens) = app
        .mgmt_call(Method::GET, &format!("/users/{user}/refresh-tokens"), None)
        .await;
    if status == StatusCode::OK {
        assert_eq!(tokens["tokens"], json!([]), "{tokens}");
    }
    let (_, logs) = app
        .mgmt_call(Method::GET, "/logs?q=type:srrt&per_page=100", None)
        .await;
    let event = logs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"]["reason"] == reason)
        .unwrap_or_else(|| panic!("no srrt event for {reason}: {logs}"));
    assert_eq!(event["user_id"], s.user_id.as_str());
    assert!(
        event["details"]["receipt"]["refresh_tokens"]
            .as_i64()
            .unwrap()
            >= 1,
        "{event}"
    );
    assert!(
        event["details"]["receipt"]["sessions"].as_i64().unwrap() >= 1,
        "{event}"
    );
    assert!(event["details"]["actor"]["type"].is_string(), "{event}");
}

both_databases! {
    async fn blocking_a_user_ends_their_access_and_unblocking_brings_none_back(db: Backend) {
        let app = spawn_app(db).await;
        let s = sign_in(&app).await;
        assert_eq!(introspect(&app, &s, &s.access_token).await["active"], true);
        assert!(browser_signed_in(&app, &s).await);
        let user = urlencode(&s.user_id);
        let (status, body) = app.mgmt_call(Method::PATCH, &format!("/users/{user}"), Some(json!({"blocked": true}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["blocked"], true);
        assert_all_access_ended(&app, &s, "user-blocked").await;
        let (status, _) = app.mgmt_call(Method::PATCH, &format!("/users/{user}"), Some(json!({"blocked": false}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = refresh(&app, &s.client_id, &s.secret, &s.refresh_token).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        assert_eq!(introspect(&app, &s, &s.access_token).await, json!({"active": false}));
        // A fresh sign-in works again.
        password_grant(&app, &s.client_id, &s.secret, "read:orders offline_access").await;
    }
}

both_databases! {
    async fn a_new_password_ends_the_users_access(db: Backend) {
        let app = spawn_app(db).await;
        let s = sign_in(&app).await;
        let user = urlencode(&s.user_id);
        let (status, body) = app
            .mgmt_call(Method::PATCH, &format!("/users/{user}"), Some(json!({"password": "a brand new passphrase"})))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_all_access_ended(&app, &s, "password-changed").await;
        // Other changes revoke nothing.
        let (id, secret) = (s.client_id.clone(), s.secret.clone());
        let body = read(app.token_form(&[
            ("grant_type", "password"), ("client_id", &id), ("client_secret", &secret),
            ("username", EMAIL), ("password", "a brand new passphrase"),
            ("audience", crate::refresh_tokens::API), ("scope", "read:orders offline_access"),
        ]).await).await.1;
        let fresh = rt(&body);
        let (status, _) = app.mgmt_call(Method::PATCH, &format!("/users/{user}"), Some(json!({"name": "Ann"}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = refresh(&app, &id, &secret, &fresh).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

both_databases! {
    async fn deleting_a_user_ends_their_access(db: Backend) {
        let app = spawn_app(db).await;
        let s = sign_in(&app).await;
        let user = urlencode(&s.user_id);
        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/users/{user}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = app.mgmt_call(Method::GET, &format!("/users/{user}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_all_access_ended(&app, &s, "user-deleted").await;
        // Deleting an unknown user is still 204 and writes no event.
        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/users/{user}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, logs) = app.mgmt_call(Method::GET, "/logs?q=type:srrt&per_page=100", None).await;
        let deletions = logs.as_array().unwrap().iter().filter(|e| e["details"]["reason"] == "user-deleted").count();
        assert_eq!(deletions, 1, "{logs}");
    }
}
