//! `/api/v2/device-credentials`: live refresh tokens seen as devices (type
//! `refresh_token`, ids shared with `/refresh-tokens`), offset paging, and
//! "unlink device" (delete), which revokes that refresh token at once.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::management_refresh_tokens::{
    assert_insufficient_scope, call_with, fixture, ids, token_with, Fixture,
};
use crate::support::browser::new_browser;
use crate::support::{assert_mgmt_error, urlencode};

impl Fixture {
    async fn devices(&self, query: &str) -> Value {
        let (status, body) = self
            .app
            .mgmt_call(Method::GET, &format!("/device-credentials?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

both_databases! {
    async fn device_credentials_are_the_live_refresh_tokens(db: Backend) {
        let f = fixture(db).await;
        f.password_login().await;
        f.browser_login(&new_browser()).await;
        let user = urlencode(&f.user_id);
        let page = f.devices(&format!("user_id={user}&type=refresh_token&include_totals=true&page=0&per_page=50")).await;
        assert_eq!(page["total"], 2, "{page}");
        assert_eq!(page["start"], 0);
        assert_eq!(page["limit"], 50);
        let list = page["device_credentials"].as_array().unwrap();
        assert_eq!(ids(&page["device_credentials"]), f.token_ids().await, "same ids as the refresh tokens");
        for device in list {
            let keys: BTreeSet<&str> = device.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, BTreeSet::from(["id", "device_name", "type", "user_id", "client_id"]), "{device}");
            assert_eq!(device["type"], "refresh_token");
            assert_eq!(device["user_id"], f.user_id);
            // No device name was given: the user agent that signed in.
            let id = device["id"].as_str().unwrap();
            let (_, token) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{id}"), None).await;
            assert_eq!(device["device_name"], token["device"]["initial_user_agent"], "{device}");
        }
        // Bare array by default; filters; other types have none.
        let bare = f.devices(&format!("user_id={user}")).await;
        assert_eq!(bare.as_array().unwrap().len(), 2);
        let web = f.devices(&format!("user_id={user}&client_id={}", f.web_id)).await;
        assert_eq!(web.as_array().unwrap().len(), 1);
        assert_eq!(web[0]["client_id"], f.web_id);
        for other in ["public_key", "rotating_refresh_token"] {
            assert_eq!(f.devices(&format!("user_id={user}&type={other}")).await, json!([]));
        }
        assert_eq!(f.devices("user_id=auth0%7Cnobody").await, json!([]));
        // Paging.
        let first = f.devices(&format!("user_id={user}&per_page=1&page=0")).await;
        let second = f.devices(&format!("user_id={user}&per_page=1&page=1")).await;
        let third = f.devices(&format!("user_id={user}&per_page=1&page=2")).await;
        assert_ne!(first[0]["id"], second[0]["id"]);
        assert_eq!(third, json!([]));
        for bad in ["type=password", "per_page=0", "page=x"] {
            let (status, body) = f.app.mgmt_call(Method::GET, &format!("/device-credentials?{bad}"), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
    }
}

both_databases! {
    async fn deleting_a_device_credential_revokes_that_refresh_token(db: Backend) {
        let f = fixture(db).await;
        let before = f.token_ids().await;
        let doomed = f.browser_login(&new_browser()).await;
        let id = f.token_id(&before).await;
        let kept = f.password_login().await;
        let (status, body) = f.app.mgmt_call(Method::DELETE, &format!("/device-credentials/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(body, Value::Null);
        f.assert_revoked(&doomed).await;
        f.assert_works(&kept).await;
        let listed = f.devices(&format!("user_id={}", urlencode(&f.user_id))).await;
        assert!(!ids(&listed).contains(&id), "{listed}");
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let (status, _) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, body) = f.app.mgmt_call(Method::DELETE, "/device-credentials/no-such-id", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn device_credential_endpoints_need_their_scopes(db: Backend) {
        let f = fixture(db).await;
        let login = f.password_login().await;
        let id = f.token_id(&BTreeSet::new()).await;
        let reader = token_with(&f.app, &["read:device_credentials"]).await;
        let other = token_with(&f.app, &["read:refresh_tokens", "delete:refresh_tokens"]).await;
        let (status, _) = call_with(&f.app, &reader, Method::GET, "/device-credentials", None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = call_with(&f.app, &other, Method::GET, "/device-credentials", None).await;
        assert_insufficient_scope(status, &body);
        let (status, body) = call_with(&f.app, &reader, Method::DELETE, &format!("/device-credentials/{id}"), None).await;
        assert_insufficient_scope(status, &body);
        assert_eq!(body["message"], "Insufficient scope, expected any of: delete:device_credentials");
        // The current_user scope cannot revoke a user's refresh token: it
        // is for a user's own credentials, and callers here are machines.
        let current_user = token_with(&f.app, &["delete:current_user_device_credentials"]).await;
        let (status, body) = call_with(&f.app, &current_user, Method::DELETE, &format!("/device-credentials/{id}"), None).await;
        assert_insufficient_scope(status, &body);
        f.assert_works(&login).await;
    }
}
