//! `/api/v2/tenants/settings`: `flags.revoke_refresh_token_grant`,
//! `default_audience` and its effect on `client_credentials`, and refusal of
//! unknown members.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{
    assert_mgmt_error, assert_oauth_error, claims, read, spawn_app, TestApp, MGMT_CLIENT_ID,
    MGMT_CLIENT_SECRET,
};

async fn settings(app: &TestApp) -> Value {
    let (status, body) = app.mgmt_call(Method::GET, "/tenants/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn patch(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.mgmt_call(Method::PATCH, "/tenants/settings", Some(body))
        .await
}

/// `client_credentials` without an `audience` parameter.
async fn token_without_audience(
    app: &TestApp,
    client_id: &str,
    secret: &str,
) -> (StatusCode, Value) {
    read(
        app.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .await,
    )
    .await
}

both_databases! {
    async fn revoke_refresh_token_grant_is_off_by_default_and_can_be_turned_on(db: Backend) {
        let app = spawn_app(db).await;
        let initial = settings(&app).await;
        assert_eq!(initial["flags"]["revoke_refresh_token_grant"], false, "{initial}");
        assert_eq!(initial["default_audience"], "", "{initial}");

        let (status, patched) = patch(&app, json!({"flags": {"revoke_refresh_token_grant": true}})).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["flags"]["revoke_refresh_token_grant"], true, "{patched}");
        let stored = settings(&app).await;
        assert_eq!(stored, patched);
        let mut expected = initial.clone();
        expected["flags"]["revoke_refresh_token_grant"] = json!(true);
        assert_eq!(stored, expected, "nothing else changed");

        // An empty flags object, or none at all, leaves the flag alone.
        for body in [json!({"flags": {}}), json!({})] {
            let (status, answer) = patch(&app, body).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(settings(&app).await, expected);
        }

        let (status, patched) = patch(&app, json!({"flags": {"revoke_refresh_token_grant": false}})).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(settings(&app).await, initial);
    }
}

both_databases! {
    async fn unknown_settings_members_are_refused_and_nothing_changes(db: Backend) {
        let app = spawn_app(db).await;
        let before = settings(&app).await;
        for body in [
            json!({"revoke_refresh_token_grant": true}),
            json!({"flags": {"revoke_refresh_token_grant": true, "enable_sso": true}}),
            json!({"flags": {"revoke_refresh_token_grant": true}, "no_such_setting": 1}),
            json!({"friendly_name": "Renamed", "flags": {"no_such_flag": false}}),
            json!({"flags": {"revoke_refresh_token_grant": "yes"}}),
            json!({"flags": true}),
        ] {
            let (status, answer) = patch(&app, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
            assert_eq!(settings(&app).await, before, "{body} changed something");
        }
    }
}

both_databases! {
    async fn default_audience_must_be_the_identifier_of_an_existing_api(db: Backend) {
        let app = spawn_app(db).await;
        let api = app.create_api("https://default.example.test/", &[]).await;
        let before = settings(&app).await;
        for audience in [json!("https://unknown.example.test/"), api["id"].clone()] {
            let (status, body) = patch(&app, json!({"default_audience": audience, "flags": {"revoke_refresh_token_grant": true}})).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            assert_eq!(settings(&app).await, before, "{audience}: nothing changed, not even the flag");
        }

        let (status, body) = patch(&app, json!({"default_audience": "https://default.example.test/"})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["default_audience"], "https://default.example.test/");
        assert_eq!(settings(&app).await["default_audience"], "https://default.example.test/");
    }
}

both_databases! {
    async fn client_credentials_without_audience_uses_the_default_audience(db: Backend) {
        let app = spawn_app(db).await;
        let identifier = "https://fallback.example.test/";
        app.create_api(identifier, &["read:fallback"]).await;
        let (client_id, secret, _) = app.create_client(json!({"name": "defaulted", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&client_id, identifier, &["read:fallback"]).await;

        // No audience and no default: 403 access_denied.
        let (status, body) = token_without_audience(&app, &client_id, &secret).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");

        let (status, body) = patch(&app, json!({"default_audience": identifier})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(settings(&app).await["default_audience"], identifier);

        let (status, body) = token_without_audience(&app, &client_id, &secret).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = claims(body["access_token"].as_str().expect("access_token"));
        assert_eq!(token["aud"], identifier);
        assert_eq!(token["scope"], "read:fallback");
        assert_eq!(token["azp"], client_id.as_str());
        // An explicit audience still wins over the default.
        let explicit = app.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &app.management_audience()).await;
        assert_eq!(claims(&explicit)["aud"], app.management_audience());

        let (status, body) = patch(&app, json!({"default_audience": ""})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(settings(&app).await["default_audience"], "");
        let (status, body) = token_without_audience(&app, &client_id, &secret).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
    }
}

both_databases! {
    /// Deleting the API that is the default audience clears the setting with it.
    async fn deleting_the_default_audience_api_clears_the_setting(db: Backend) {
        let app = spawn_app(db).await;
        let identifier = "https://doomed.example.test/";
        let api = app.create_api(identifier, &[]).await;
        let (status, body) = patch(&app, json!({"default_audience": identifier})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/resource-servers/{}", api["id"].as_str().unwrap()), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(settings(&app).await["default_audience"], "");
    }
}
