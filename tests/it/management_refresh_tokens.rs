//! `/api/v2/refresh-tokens` and `/api/v2/users/{id}/refresh-tokens`: Auth0's
//! refresh-token object, checkpoint paging, and revocations that take effect
//! at once (the token fails at `/oauth/token`, introspects inactive, and is
//! gone from the lists). Also the helpers the other Management tests share.

use std::collections::BTreeSet;
use std::sync::Arc;

use grantor::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rt, setup, API, EMAIL, PASSWORD};
use crate::support::browser::{authorize_code_with, exchange_code, new_browser, web_client};
use crate::support::{
    assert_mgmt_error, assert_oauth_error, claims, read, spawn_app, spawn_app_on, urlencode,
    AppOptions, TestApp, TestDatabase,
};

pub const CALLBACK: &str = "https://web.example.test/callback";
pub const SCOPE: &str = "openid read:orders offline_access";

/// An API with offline access, the user `EMAIL`, a confidential client with
/// the password grant (non-rotating refresh tokens, so a working token stays
/// the same) and a web application for browser sign-ins.
pub struct Fixture {
    pub app: TestApp,
    pub id: String,
    pub secret: String,
    pub web_id: String,
    pub web_secret: String,
    pub user_id: String,
}

pub async fn fixture_on(app: TestApp, refresh_token: Value) -> Fixture {
    let (id, secret) = setup(&app, refresh_token).await;
    let (web_id, web_secret) = web_client(&app, "Web", &[CALLBACK]).await;
    let (_, users) = app
        .mgmt_call(Method::GET, &format!("/users-by-email?email={EMAIL}"), None)
        .await;
    let user_id = users[0]["user_id"].as_str().expect("user_id").to_owned();
    Fixture {
        app,
        id,
        secret,
        web_id,
        web_secret,
        user_id,
    }
}

pub async fn fixture(db: crate::support::Backend) -> Fixture {
    fixture_on(spawn_app(db).await, non_rotating()).await
}

pub fn non_rotating() -> Value {
    json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})
}

/// Tokens of one sign-in.
pub struct Login {
    pub refresh_token: String,
    pub access_token: String,
    /// `sid`, or `None` for the password grant.
    pub session_id: Option<String>,
}

impl Fixture {
    /// A password-grant login (no browser session).
    pub async fn password_login(&self) -> Login {
        let body = password_grant(&self.app, &self.id, &self.secret, SCOPE).await;
        Login {
            refresh_token: rt(&body),
            access_token: body["access_token"].as_str().unwrap().to_owned(),
            session_id: None,
        }
    }

    /// A browser sign-in to the web application in `http` (a new session
    /// per browser); returns its tokens and `sid`.
    pub async fn browser_login(&self, http: &reqwest::Client) -> Login {
        let extra = [("scope", SCOPE), ("audience", API)];
        let code = authorize_code_with(
            &self.app,
            http,
            &self.web_id,
            CALLBACK,
            &extra,
            EMAIL,
            PASSWORD,
        )
        .await;
        let (status, body) = exchange_code(
            &self.app,
            &self.web_id,
            Some(&self.web_secret),
            &code,
            CALLBACK,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let access_token = body["access_token"].as_str().unwrap().to_owned();
        let session_id = claims(&access_token)["sid"].as_str().map(str::to_owned);
        assert!(session_id.is_some(), "a browser login has a sid");
        Login {
            refresh_token: rt(&body),
            access_token,
            session_id,
        }
    }

    /// The client credentials that issued `login` (password or web client).
    fn owner(&self, login: &Login) -> (&str, &str) {
        if login.session_id.is_some() {
            (&self.web_id, &self.web_secret)
        } else {
            (&self.id, &self.secret)
        }
    }

    pub async fn introspect(&self, login: &Login, token: &str) -> Value {
        let (id, secret) = self.owner(login);
        self.app.introspect(id, secret, token).await
    }

    /// The login's refresh token fails at `/oauth/token` (403 `invalid_grant`)
    /// and both its tokens introspect inactive.
    pub async fn assert_revoked(&self, login: &Login) {
        let (id, secret) = self.owner(login);
        let (status, body) = refresh(&self.app, id, secret, &login.refresh_token).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        for token in [&login.refresh_token, &login.access_token] {
            assert_eq!(
                self.introspect(login, token).await,
                json!({"active": false})
            );
        }
    }

    /// The login's refresh token still works at `/oauth/token` and both its
    /// tokens introspect active (the clients are non-rotating, so the token
    /// stays the same).
    pub async fn assert_works(&self, login: &Login) {
        for token in [&login.refresh_token, &login.access_token] {
            assert_eq!(self.introspect(login, token).await["active"], true);
        }
        let (id, secret) = self.owner(login);
        let (status, body) = refresh(&self.app, id, secret, &login.refresh_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Ids of the user's live refresh tokens, walking every page.
    pub async fn token_ids(&self) -> BTreeSet<String> {
        let (status, body) = self
            .app
            .mgmt_call(
                Method::GET,
                &format!("/users/{}/refresh-tokens", urlencode(&self.user_id)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids(&body["tokens"])
    }

    /// The id of the refresh token `login` holds, found through the list by
    /// its session or, for password logins, as the only new id.
    pub async fn token_id(&self, before: &BTreeSet<String>) -> String {
        let after = self.token_ids().await;
        let new: Vec<&String> = after.difference(before).collect();
        assert_eq!(new.len(), 1, "exactly one new token: {new:?}");
        new[0].clone()
    }
}

pub fn ids(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A Management token holding only `scopes`.
pub async fn token_with(app: &TestApp, scopes: &[&str]) -> String {
    let audience = app.management_audience();
    let (id, secret, _) = app
        .create_client(json!({"name": format!("scoped {}", scopes.join(" ")), "grant_types": ["client_credentials"]}))
        .await;
    app.create_client_grant(&id, &audience, scopes).await;
    app.client_credentials(&id, &secret, &audience).await
}

/// A Management call with `token`.
pub async fn call_with(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .http
        .request(method, app.url(&format!("/api/v2{path}")))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
}

#[track_caller]
pub fn assert_insufficient_scope(status: StatusCode, body: &Value) {
    assert_mgmt_error(status, body, StatusCode::FORBIDDEN);
    assert_eq!(body["errorCode"], "insufficient_scope", "{body}");
}

#[track_caller]
pub fn assert_accepted(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, &json!({}), "202 with {{}}");
}

#[track_caller]
fn assert_iso(date: &Value) {
    let s = date
        .as_str()
        .unwrap_or_else(|| panic!("not a date: {date}"));
    assert!(
        s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T',
        "ISO 8601 with millis and Z: {s}"
    );
}

both_databases! {
    async fn refresh_tokens_are_shown_in_auth0_shape(db: Backend) {
        let f = fixture(db).await;
        let before = f.token_ids().await;
        let password = f.password_login().await;
        let password_id = f.token_id(&before).await;
        let before = f.token_ids().await;
        let browser = f.browser_login(&new_browser()).await;
        let browser_id = f.token_id(&before).await;

        let (status, token) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{browser_id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        let keys: BTreeSet<&str> = token.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from([
            "id", "user_id", "created_at", "idle_expires_at", "expires_at", "device", "client_id",
            "session_id", "rotating", "resource_servers", "last_exchanged_at",
            "refresh_token_metadata",
        ]), "{token}");
        assert_eq!(token["id"], browser_id);
        assert_eq!(token["user_id"], f.user_id);
        assert_eq!(token["client_id"], f.web_id);
        assert_eq!(token["session_id"].as_str(), browser.session_id.as_deref());
        assert_eq!(token["rotating"], false);
        assert_iso(&token["created_at"]);
        assert_eq!(token["expires_at"], Value::Null, "non-expiring: null, present");
        assert_eq!(token["idle_expires_at"], Value::Null);
        assert_eq!(token["last_exchanged_at"], Value::Null, "never exchanged yet");
        assert_eq!(token["resource_servers"], json!([{"audience": API, "scopes": SCOPE}]), "scopes is one string");
        let device = token["device"].as_object().unwrap();
        let device_keys: BTreeSet<&str> = device.keys().map(String::as_str).collect();
        assert_eq!(device_keys, BTreeSet::from([
            "initial_ip", "initial_asn", "initial_user_agent", "last_ip", "last_asn", "last_user_agent",
        ]));
        assert_eq!(device["initial_ip"], "127.0.0.1");

        // An exchange shows as last_exchanged_at; the password token has no session.
        let (status, _) = refresh(&f.app, &f.id, &f.secret, &password.refresh_token).await;
        assert_eq!(status, StatusCode::OK);
        let (_, token) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{password_id}"), None).await;
        assert_eq!(token["session_id"], Value::Null);
        assert_eq!(token["client_id"], f.id);
        assert_iso(&token["last_exchanged_at"]);

        // fields / include_fields.
        let (_, token) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{password_id}?fields=id,client_id"), None).await;
        assert_eq!(token, json!({"id": password_id, "client_id": f.id}));

        // The user's list holds both, each in the same shape.
        let (status, list) = f.app.mgmt_call(Method::GET, &format!("/users/{}/refresh-tokens", urlencode(&f.user_id)), None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(ids(&list["tokens"]), BTreeSet::from([password_id.clone(), browser_id.clone()]));
        assert!(list.get("next").is_none(), "one page: no next: {list}");
        let listed = list["tokens"].as_array().unwrap().iter().find(|t| t["id"] == browser_id).unwrap();
        let (_, single) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{browser_id}"), None).await;
        assert_eq!(listed, &single);
    }
}

both_databases! {
    async fn user_refresh_tokens_page_by_checkpoint_without_next_on_the_last_page(db: Backend) {
        let f = fixture(db).await;
        for _ in 0..3 {
            f.password_login().await;
        }
        let path = format!("/users/{}/refresh-tokens", urlencode(&f.user_id));
        let (_, all) = f.app.mgmt_call(Method::GET, &format!("{path}?include_totals=true"), None).await;
        assert_eq!(all["total"], 3, "{all}");
        let mut seen = Vec::new();
        let mut from = String::new();
        for page in 0.. {
            let (status, body) = f.app.mgmt_call(Method::GET, &format!("{path}?take=2&from={from}"), None).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let tokens = body["tokens"].as_array().unwrap();
            seen.extend(tokens.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
            match body.get("next") {
                Some(next) => {
                    assert_eq!(page, 0, "only the first page has next: {body}");
                    from = next.as_str().unwrap().to_owned();
                }
                None => {
                    assert_eq!(page, 1, "{body}");
                    break;
                }
            }
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 3, "no repeats: {seen:?}");
        // take bounds.
        for bad in ["take=0", "take=101", "take=x"] {
            let (status, body) = f.app.mgmt_call(Method::GET, &format!("{path}?{bad}"), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
        // Unknown user: 404.
        let (status, body) = f.app.mgmt_call(Method::GET, "/users/auth0%7Cnobody/refresh-tokens", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn deleting_a_refresh_token_revokes_it_at_once(db: Backend) {
        let f = fixture(db).await;
        let before = f.token_ids().await;
        let doomed = f.password_login().await;
        let doomed_id = f.token_id(&before).await;
        let kept = f.password_login().await;
        f.assert_works(&doomed).await;

        let (status, body) = f.app.mgmt_call(Method::DELETE, &format!("/refresh-tokens/{doomed_id}"), None).await;
        assert_accepted(status, &body);
        f.assert_revoked(&doomed).await;
        let (status, body) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{doomed_id}"), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["message"], "The refresh token does not exist.");
        assert!(!f.token_ids().await.contains(&doomed_id));
        assert_eq!(f.token_ids().await.len(), 1);
        // Only that token: the user's other one still works.
        f.assert_works(&kept).await;
        // Again: accepted (nothing left to do); unknown id: 404.
        let (status, body) = f.app.mgmt_call(Method::DELETE, &format!("/refresh-tokens/{doomed_id}"), None).await;
        assert_accepted(status, &body);
        let (status, body) = f.app.mgmt_call(Method::DELETE, "/refresh-tokens/no-such-token", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = f.app.mgmt_call(Method::GET, "/refresh-tokens/no-such-token", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn rotated_reused_and_expired_tokens_do_not_show(db: Backend) {
        let clock = Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let database = Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions { clock: clock.clone(), ..AppOptions::default() }).await;
        let f = fixture_on(app, json!({
            "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0,
            "token_lifetime": 1000, "idle_token_lifetime": 100,
        })).await;
        let t0 = f.password_login().await.refresh_token;
        let id = f.token_id(&BTreeSet::new()).await;
        // Rotation keeps the id: one token, and its rotated-out secret is no token.
        let (status, body) = refresh(&f.app, &f.id, &f.secret, &t0).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let t1 = rt(&body);
        assert_eq!(f.token_ids().await, BTreeSet::from([id.clone()]));
        let (_, token) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{id}"), None).await;
        assert_eq!(token["rotating"], true);
        assert_iso(&token["expires_at"]);
        assert_iso(&token["idle_expires_at"]);
        // Reuse of t0 revokes the family: gone.
        let (status, _) = refresh(&f.app, &f.id, &f.secret, &t0).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = refresh(&f.app, &f.id, &f.secret, &t1).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(f.token_ids().await.is_empty());
        let (status, _) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        // Idle expiry: listed until it expires, then gone.
        f.password_login().await;
        let id = f.token_id(&BTreeSet::new()).await;
        clock.advance_seconds(99);
        assert_eq!(f.token_ids().await, BTreeSet::from([id.clone()]));
        clock.advance_seconds(2);
        assert!(f.token_ids().await.is_empty());
        let (status, _) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn deleting_a_users_refresh_tokens_revokes_every_one(db: Backend) {
        let f = fixture(db).await;
        let password = f.password_login().await;
        let browser = f.browser_login(&new_browser()).await;
        assert_eq!(f.token_ids().await.len(), 2);
        let (status, body) = f.app.mgmt_call(Method::DELETE, &format!("/users/{}/refresh-tokens", urlencode(&f.user_id)), None).await;
        assert_accepted(status, &body);
        f.assert_revoked(&password).await;
        f.assert_revoked(&browser).await;
        assert!(f.token_ids().await.is_empty());
        // A new login works again.
        let again = f.password_login().await;
        f.assert_works(&again).await;
        let (status, body) = f.app.mgmt_call(Method::DELETE, "/users/auth0%7Cnobody/refresh-tokens", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn bulk_list_needs_a_user_and_filters_by_client(db: Backend) {
        let f = fixture(db).await;
        f.password_login().await;
        f.browser_login(&new_browser()).await;
        let base = format!("/refresh-tokens?user_id={}", urlencode(&f.user_id));
        let (status, body) = f.app.mgmt_call(Method::GET, &base, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["refresh_tokens"].as_array().unwrap().len(), 2, "{body}");
        assert!(body.get("next").is_none());
        let (_, body) = f.app.mgmt_call(Method::GET, &format!("{base}&client_id={}", f.web_id), None).await;
        let tokens = body["refresh_tokens"].as_array().unwrap();
        assert_eq!(tokens.len(), 1, "{body}");
        assert_eq!(tokens[0]["client_id"], f.web_id);
        // Paging: one at a time, ids ascending, no next at the end.
        let (_, first) = f.app.mgmt_call(Method::GET, &format!("{base}&take=1"), None).await;
        let next = first["next"].as_str().expect("next").to_owned();
        let (_, second) = f.app.mgmt_call(Method::GET, &format!("{base}&take=1&from={next}"), None).await;
        assert!(second.get("next").is_none(), "{second}");
        assert!(first["refresh_tokens"][0]["id"].as_str() < second["refresh_tokens"][0]["id"].as_str());
        // user_id is required; unknown user or client: 404.
        let (status, body) = f.app.mgmt_call(Method::GET, "/refresh-tokens", None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        let (status, body) = f.app.mgmt_call(Method::GET, "/refresh-tokens?user_id=auth0%7Cnobody", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = f.app.mgmt_call(Method::GET, &format!("{base}&client_id=nope"), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn bulk_revoke_takes_exactly_one_combination(db: Backend) {
        let f = fixture(db).await;
        let revoke = |body: Value| {
            let app = &f.app;
            async move { app.mgmt_call(Method::POST, "/refresh-tokens/revoke", Some(body)).await }
        };
        // By ids: only those.
        let before = f.token_ids().await;
        let a = f.password_login().await;
        let a_id = f.token_id(&before).await;
        let b = f.password_login().await;
        let (status, body) = revoke(json!({"ids": [a_id, "unknown-id"]})).await;
        assert_accepted(status, &body);
        f.assert_revoked(&a).await;
        f.assert_works(&b).await;
        // By user and client (and API): the web client's only.
        let web = f.browser_login(&new_browser()).await;
        let (status, body) = revoke(json!({"user_id": f.user_id, "client_id": f.web_id, "audience": API})).await;
        assert_accepted(status, &body);
        f.assert_revoked(&web).await;
        f.assert_works(&b).await;
        let web = f.browser_login(&new_browser()).await;
        let (status, body) = revoke(json!({"user_id": f.user_id, "client_id": f.web_id})).await;
        assert_accepted(status, &body);
        f.assert_revoked(&web).await;
        f.assert_works(&b).await;
        // By user: all.
        let (status, body) = revoke(json!({"user_id": f.user_id})).await;
        assert_accepted(status, &body);
        f.assert_revoked(&b).await;
        assert!(f.token_ids().await.is_empty());

        let c = f.password_login().await;
        for bad in [
            json!({}),
            json!({"ids": []}),
            json!({"ids": ["x"], "user_id": f.user_id}),
            json!({"client_id": f.id}),
            json!({"user_id": f.user_id, "audience": API}),
            json!({"ids": (0..101).map(|i| i.to_string()).collect::<Vec<_>>()}),
            json!({"user_id": f.user_id, "unknown": 1}),
            json!({"user_id": 7}),
            json!({"user_id": "auth0|nobody"}),
            json!({"user_id": f.user_id, "client_id": "nope"}),
            json!({"user_id": f.user_id, "client_id": f.id, "audience": "https://nope.example.test/"}),
        ] {
            let (status, body) = revoke(bad.clone()).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
        let response = f.app.mgmt(Method::POST, "/refresh-tokens/revoke").await.body("user_id=x").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        f.assert_works(&c).await;
    }
}

both_databases! {
    async fn refresh_token_endpoints_need_their_scopes(db: Backend) {
        let f = fixture(db).await;
        let login = f.password_login().await;
        let id = f.token_id(&BTreeSet::new()).await;
        let user = urlencode(&f.user_id);
        let reader = token_with(&f.app, &["read:refresh_tokens"]).await;
        let other = token_with(&f.app, &["read:users", "delete:sessions"]).await;
        for (method, path, body) in [
            (Method::GET, format!("/refresh-tokens/{id}"), None),
            (Method::GET, format!("/users/{user}/refresh-tokens"), None),
            (Method::GET, format!("/refresh-tokens?user_id={user}"), None),
        ] {
            let (status, _) = call_with(&f.app, &reader, method.clone(), &path, body.clone()).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let (status, body) = call_with(&f.app, &other, method, &path, body).await;
            assert_insufficient_scope(status, &body);
        }
        for (method, path, body) in [
            (Method::DELETE, format!("/refresh-tokens/{id}"), None),
            (Method::DELETE, format!("/users/{user}/refresh-tokens"), None),
            (Method::POST, "/refresh-tokens/revoke".to_owned(), Some(json!({"ids": [id]}))),
        ] {
            let (status, body) = call_with(&f.app, &reader, method, &path, body).await;
            assert_insufficient_scope(status, &body);
            assert_eq!(body["message"], "Insufficient scope, expected any of: delete:refresh_tokens");
        }
        f.assert_works(&login).await;
    }
}
