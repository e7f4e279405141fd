//! Refresh tokens through the password grant (no browser needed): issue
//! conditions, rotation, leeway, reuse detection, lifetimes, scope narrowing,
//! switching rotation on and off, and parallel exchanges.

use grantor_domain::TokenHash;
use std::sync::Arc;

use grantor::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{
    assert_oauth_error, claims, read, spawn_app, spawn_app_on, AppOptions, TestApp, TestDatabase,
};

pub const API: &str = "https://orders.example.test/";
pub const EMAIL: &str = "ann@example.test";
pub const PASSWORD: &str = "correct horse battery";

/// An API allowing offline access, a user, and a confidential client with the
/// password and refresh_token grants and the given `refresh_token` settings.
pub async fn setup(app: &TestApp, refresh_token: Value) -> (String, String) {
    let (status, body) = app
        .mgmt_call(
            Method::POST,
            "/resource-servers",
            Some(json!({
                "identifier": API, "name": "Orders", "allow_offline_access": true,
                "scopes": [{"value": "read:orders"}, {"value": "write:orders"}],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .mgmt_call(Method::POST, "/users", Some(json!({
            "connection": "Username-Password-Authentication", "email": EMAIL, "password": PASSWORD,
        })))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (id, secret, _) = app
        .create_client(json!({
            "name": "mobile", "grant_types": ["password", "refresh_token"], "refresh_token": refresh_token,
        }))
        .await;
    (id, secret)
}

pub fn rotating(leeway: i64) -> Value {
    json!({"rotation_type": "rotating", "expiration_type": "expiring", "leeway": leeway})
}

/// Password grant; returns the JSON body, asserting 200.
pub async fn password_grant(app: &TestApp, id: &str, secret: &str, scope: &str) -> Value {
    let (status, body) = read(
        app.token_form(&[
            ("grant_type", "password"),
            ("client_id", id),
            ("client_secret", secret),
            ("username", EMAIL),
            ("password", PASSWORD),
            ("audience", API),
            ("scope", scope),
        ])
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub async fn refresh(app: &TestApp, id: &str, secret: &str, rt: &str) -> (StatusCode, Value) {
    read(
        app.token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", id),
            ("client_secret", secret),
            ("refresh_token", rt),
        ])
        .await,
    )
    .await
}

/// The `refresh_token` of a token response; panics when there is none.
pub fn rt(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {body}"))
        .to_owned()
}

#[track_caller]
fn assert_invalid_refresh(status: StatusCode, body: &Value) {
    assert_oauth_error(status, body, StatusCode::FORBIDDEN, "invalid_grant");
    assert_eq!(
        body["error_description"],
        "Unknown or invalid refresh token."
    );
}

both_databases! {
    async fn refresh_tokens_need_offline_access_and_an_api_that_allows_it(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let body = password_grant(&app, &id, &secret, "openid read:orders").await;
        assert!(body.get("refresh_token").is_none(), "no offline_access, no refresh token: {body}");
        let body = password_grant(&app, &id, &secret, "openid read:orders offline_access").await;
        assert!(rt(&body).len() >= 43, "at least 256 bits");
        assert_eq!(body["scope"], "openid read:orders offline_access");
        // The same request for an API without allow_offline_access gets none.
        app.mgmt_call(Method::PATCH, &format!("/resource-servers/{}", crate::support::urlencode(API)),
            Some(json!({"allow_offline_access": false}))).await;
        let body = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert_eq!(body["scope"], "read:orders");
    }
}

both_databases! {
    async fn password_grant_is_only_for_clients_that_list_it_and_checks_the_password(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let (other, other_secret, _) = app.create_client(json!({"name": "default grants"})).await;
        let (status, body) = read(app.token_form(&[
            ("grant_type", "password"), ("client_id", &other), ("client_secret", &other_secret),
            ("username", EMAIL), ("password", PASSWORD), ("audience", API),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "unauthorized_client");
        for (user, pass) in [(EMAIL, "wrong password"), ("nobody@example.test", PASSWORD)] {
            let (status, body) = read(app.token_form(&[
                ("grant_type", "password"), ("client_id", &id), ("client_secret", &secret),
                ("username", user), ("password", pass), ("audience", API),
            ]).await).await;
            assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        }
        let body = password_grant(&app, &id, &secret, "openid profile email read:orders").await;
        let access = claims(body["access_token"].as_str().unwrap());
        assert!(access["sub"].as_str().unwrap().starts_with("auth0|"));
        assert_eq!(access["aud"], json!([API, format!("{}userinfo", app.issuer)]));
        assert_eq!(access["azp"], id.as_str());
        let id_token = claims(body["id_token"].as_str().unwrap());
        assert_eq!(id_token["aud"], id.as_str());
        assert_eq!(id_token["sub"], access["sub"]);
        assert_eq!(id_token["email"], EMAIL);
        assert!(id_token["at_hash"].is_string());
        let userinfo: Value = app.http.get(app.url("/userinfo")).bearer_auth(body["access_token"].as_str().unwrap())
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(userinfo["sub"], access["sub"]);
        assert_eq!(userinfo["email"], EMAIL);
        let (status, _) = read(app.http.get(app.url("/userinfo")).bearer_auth("nope").send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

both_databases! {
    async fn non_rotating_tokens_stay_valid_and_get_no_successor(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let token = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        for _ in 0..3 {
            let (status, body) = refresh(&app, &id, &secret, &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(body.get("refresh_token").is_none(), "{body}");
            assert_eq!(claims(body["access_token"].as_str().unwrap())["scope"], "read:orders offline_access");
        }
        // Another client cannot use it, and it stays valid for its own.
        let (other, other_secret, _) = app.create_client(json!({"name": "other", "grant_types": ["refresh_token"]})).await;
        let (status, body) = refresh(&app, &other, &other_secret, &token).await;
        assert_invalid_refresh(status, &body);
        let (status, _) = refresh(&app, &id, &secret, &token).await;
        assert_eq!(status, StatusCode::OK);
    }
}

both_databases! {
    async fn rotation_reuse_outside_the_leeway_revokes_the_whole_family(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let first = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        let other_family = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        let (status, body) = refresh(&app, &id, &secret, &first).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let second = rt(&body);
        assert_ne!(second, first);
        let (status, body) = refresh(&app, &id, &secret, &second).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let third = rt(&body);
        // Reuse of the first (rotated-out) token.
        let (status, body) = refresh(&app, &id, &secret, &first).await;
        assert_invalid_refresh(status, &body);
        // Everything issued since is dead too ...
        let (status, body) = refresh(&app, &id, &secret, &third).await;
        assert_invalid_refresh(status, &body);
        // ... and the user's other login is untouched.
        let (status, body) = refresh(&app, &id, &secret, &other_family).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

both_databases! {
    async fn within_the_leeway_only_the_previous_token_may_be_exchanged_again(db: Backend) {
        let clock = Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let database = Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions { clock: clock.clone(), ..AppOptions::default() }).await;
        let (id, secret) = setup(&app, rotating(30)).await;
        let t0 = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        let (_, body) = refresh(&app, &id, &secret, &t0).await;
        let t1 = rt(&body);
        clock.advance_seconds(10);
        // t0 is the immediately previous token, inside the leeway: a new token.
        let (status, body) = refresh(&app, &id, &secret, &t0).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let t1b = rt(&body);
        assert_ne!(t1b, t1);
        // Both successors work; rotating t1 makes t0 older than the previous one.
        let (status, body) = refresh(&app, &id, &secret, &t1).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let t2 = rt(&body);
        let (status, body) = refresh(&app, &id, &secret, &t0).await;
        assert_invalid_refresh(status, &body);
        let (status, body) = refresh(&app, &id, &secret, &t2).await;
        assert_invalid_refresh(status, &body);
        let _ = t1b;

        // A fresh family: after the leeway, the previous token is reuse.
        let u0 = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        let (_, body) = refresh(&app, &id, &secret, &u0).await;
        let u1 = rt(&body);
        clock.advance_seconds(30);
        let (status, body) = refresh(&app, &id, &secret, &u0).await;
        assert_invalid_refresh(status, &body);
        let (status, body) = refresh(&app, &id, &secret, &u1).await;
        assert_invalid_refresh(status, &body);
    }
}

both_databases! {
    async fn lifetimes_expire_tokens_and_rotation_never_extends_the_absolute_one(db: Backend) {
        let clock = Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let database = Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions { clock: clock.clone(), ..AppOptions::default() }).await;
        let (id, secret) = setup(&app, json!({
            "rotation_type": "rotating", "expiration_type": "expiring", "token_lifetime": 100, "idle_token_lifetime": 40,
        })).await;
        // Idle expiry.
        let idle = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        clock.advance_seconds(41);
        let (status, body) = refresh(&app, &id, &secret, &idle).await;
        assert_invalid_refresh(status, &body);
        // Absolute expiry holds across rotations that keep it active.
        let mut token = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        for _ in 0..3 {
            clock.advance_seconds(30);
            let (status, body) = refresh(&app, &id, &secret, &token).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            token = rt(&body);
        }
        clock.advance_seconds(11); // 101 s after issue, 11 s after the last exchange
        let (status, body) = refresh(&app, &id, &secret, &token).await;
        assert_invalid_refresh(status, &body);
    }
}

both_databases! {
    async fn a_narrower_scope_may_be_asked_on_refresh_but_not_a_wider_one(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let token = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        let (status, body) = read(app.token_form(&[
            ("grant_type", "refresh_token"), ("client_id", &id), ("client_secret", &secret),
            ("refresh_token", &token), ("scope", "read:orders"),
        ]).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "read:orders");
        let (status, body) = read(app.token_form(&[
            ("grant_type", "refresh_token"), ("client_id", &id), ("client_secret", &secret),
            ("refresh_token", &token), ("scope", "read:orders write:orders"),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_scope");
        // auth0-python sends scope "" on refresh: that means the original scopes.
        let (status, body) = read(app.token_json(&json!({
            "grant_type": "refresh_token", "client_id": id, "client_secret": secret, "refresh_token": token, "scope": "",
        })).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "read:orders offline_access");
    }
}

both_databases! {
    async fn switching_rotation_on_and_off_migrates_tokens(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let plain = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        let sibling = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        let (status, _) = app.mgmt_call(Method::PATCH, &format!("/clients/{id}"), Some(json!({"refresh_token": rotating(0)}))).await;
        assert_eq!(status, StatusCode::OK);
        // Exchanging a non-rotating token now yields a rotating one ...
        let (status, body) = refresh(&app, &id, &secret, &plain).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rotated = rt(&body);
        // ... the old one is now rotated out, and the user's other non-rotating tokens are gone.
        let (status, body) = refresh(&app, &id, &secret, &sibling).await;
        assert_invalid_refresh(status, &body);
        let (status, body) = refresh(&app, &id, &secret, &rotated).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let latest = rt(&body);
        // Switching rotation off: the exchange yields a non-rotating token and kills the family.
        app.mgmt_call(Method::PATCH, &format!("/clients/{id}"), Some(json!({"refresh_token": {"rotation_type": "non-rotating"}}))).await;
        let (status, body) = refresh(&app, &id, &secret, &latest).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let plain_again = rt(&body);
        let (status, body) = refresh(&app, &id, &secret, &latest).await;
        assert_invalid_refresh(status, &body);
        for _ in 0..2 {
            let (status, body) = refresh(&app, &id, &secret, &plain_again).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(body.get("refresh_token").is_none());
        }
    }
}

both_databases! {
    async fn deleting_the_user_invalidates_their_refresh_tokens(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let body = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let user_id = claims(body["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/users/{}", user_id.replace('|', "%7C")), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = refresh(&app, &id, &secret, &rt(&body)).await;
        assert_invalid_refresh(status, &body);
    }
}

both_databases! {
    async fn twenty_parallel_exchanges_leave_at_most_one_live_successor(db: Backend) {
        let app = Arc::new(spawn_app(db).await);
        let (id, secret) = setup(&app, rotating(0)).await;
        let token = rt(&password_grant(&app, &id, &secret, "read:orders offline_access").await);
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let (app, id, secret, token) = (app.clone(), id.clone(), secret.clone(), token.clone());
            tasks.push(tokio::spawn(async move { refresh(&app, &id, &secret, &token).await }));
        }
        let mut successors = Vec::new();
        for task in tasks {
            let (status, body) = task.await.unwrap();
            match status {
                StatusCode::OK => successors.push(rt(&body)),
                _ => assert_invalid_refresh(status, &body),
            }
        }
        assert!(!successors.is_empty(), "one exchange always wins the compare-and-set");
        let mut live = 0;
        for successor in &successors {
            let (status, _) = refresh(&app, &id, &secret, successor).await;
            if status == StatusCode::OK {
                live += 1;
            }
        }
        assert!(live <= 1, "{live} live successors out of {}", successors.len());
        if successors.len() < 24 {
            // Some exchange lost and tripped reuse detection: the family is dead.
            assert_eq!(live, 0, "reuse detection revoked the family");
        }
    }
}

both_databases! {
    async fn refresh_tokens_record_session_device_and_lifetimes(db: Backend) {
        let app = spawn_app(db).await;
        let (_, _) = setup(&app, rotating(0)).await;
        let callback = "https://app.example.test/cb";
        let (id, secret, _) = app.create_client(json!({
            "name": "recorder", "callbacks": [callback], "grant_types": ["authorization_code", "refresh_token"],
            "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring", "token_lifetime": 3600, "idle_token_lifetime": 600},
        })).await;
        let code = crate::support::browser::authorize_code(&app, &id, callback,
            &[("audience", API), ("scope", "read:orders offline_access"), ("device", "Ann's phone")], EMAIL, PASSWORD).await;
        let (status, body) = crate::support::browser::exchange_code(&app, &id, Some(&secret), &code, callback, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = rt(&body);
        let store = app.store().await;
        let hash = grantor_domain::TokenHash::of(&token);
        let family = store.load_refresh_token(&TokenHash::from_stored(hash.as_str())).await.unwrap().unwrap().family;
        assert_eq!(family.device_name.as_deref(), Some("Ann's phone"));
        assert!(family.session_id.is_some(), "tokens from a browser login carry its session");
        assert_eq!(family.initial_ip, "127.0.0.1");
        assert!(family.rotating);
        assert_eq!(family.audience, API);
        assert_eq!(family.scope, "read:orders offline_access");
        let created = family.created_at.millis();
        assert_eq!(family.expires_at.map(|t| t.millis() - created), Some(3_600_000));
        assert_eq!(family.idle_expires_at.map(|t| t.millis() - created), Some(600_000));
        assert!(family.last_exchanged_at.is_none());
        assert_ne!(family.id, token, "the public id is not the secret");
        // An exchange records when and from where.
        let response = app.http.post(app.url("/oauth/token")).header("user-agent", "RecorderApp/2.0")
            .form(&[("grant_type", "refresh_token"), ("client_id", id.as_str()), ("client_secret", secret.as_str()), ("refresh_token", token.as_str())])
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let after = store.refresh_token_family(&family.id).await.unwrap().unwrap();
        assert!(after.last_exchanged_at.is_some());
        assert_eq!(after.last_user_agent, "RecorderApp/2.0");
        assert_eq!(after.initial_user_agent, family.initial_user_agent, "initial device data is kept");
        assert_eq!(after.expires_at, family.expires_at, "absolute expiry is fixed at issue");
        assert_eq!(after.current_generation, 1);
        store.close().await;
    }
}

both_databases! {
    async fn a_public_client_rotates_by_default_and_reuse_is_detected(db: Backend) {
        let app = spawn_app(db).await;
        let _ = setup(&app, rotating(0)).await;
        let public_password_grant = |id: String| {
            let app = &app;
            async move {
                let (status, body) = read(app.token_form(&[
                    ("grant_type", "password"), ("client_id", &id), ("username", EMAIL), ("password", PASSWORD),
                    ("audience", API), ("scope", "read:orders offline_access"),
                ]).await).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                rt(&body)
            }
        };
        let public_refresh = |id: String, token: String| {
            let app = &app;
            async move {
                read(app.token_form(&[("grant_type", "refresh_token"), ("client_id", &id), ("refresh_token", &token)]).await).await
            }
        };
        let (public, _, _) = app.create_client(json!({
            "name": "native", "token_endpoint_auth_method": "none", "grant_types": ["password", "refresh_token"],
        })).await;
        let first = public_password_grant(public.clone()).await;
        let (status, body) = public_refresh(public.clone(), first.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let second = body["refresh_token"].as_str().expect("a rotating exchange returns a new refresh token").to_owned();
        assert_ne!(second, first);
        // The rotated-out token is reuse: refused, and the family is revoked.
        let (status, body) = public_refresh(public.clone(), first).await;
        assert_invalid_refresh(status, &body);
        let (status, body) = public_refresh(public.clone(), second).await;
        assert_invalid_refresh(status, &body);
        // The explicit opt-in keeps one token that works again and again.
        let (legacy, _, _) = app.create_client(json!({
            "name": "legacy native", "token_endpoint_auth_method": "none", "grant_types": ["password", "refresh_token"],
            "refresh_token": {"rotation_type": "non-rotating"},
        })).await;
        let token = public_password_grant(legacy.clone()).await;
        for _ in 0..2 {
            let (status, body) = public_refresh(legacy.clone(), token.clone()).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert!(body.get("refresh_token").is_none(), "non-rotating: {body}");
        }
    }
}

both_databases! {
    async fn a_long_rotation_chain_keeps_two_secrets_and_any_old_token_is_still_reuse(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let (other_id, other_secret, _) = app
            .create_client(json!({
                "name": "other", "grant_types": ["password", "refresh_token"], "refresh_token": rotating(0),
            }))
            .await;
        let (user_id, chain) = rotation_chain(&app, &id, &secret, 12).await;
        // Twelve rotations, one family: the newest secret and the previous one.
        let store = app.store().await;
        let sizes = store.table_sizes().await.unwrap();
        assert_eq!((sizes.refresh_token_families, sizes.refresh_token_secrets), (1, 2));
        assert_eq!(live_tokens(&app, &user_id).await, 1);

        // A forged old token (the MAC broken) and an old token presented by
        // another client are refused and revoke nothing.
        let old = chain[3].clone();
        let mut forged = old.clone().into_bytes();
        let last = forged.len() - 3;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let (status, body) = refresh(&app, &id, &secret, &forged).await;
        assert_invalid_refresh(status, &body);
        let (status, body) = refresh(&app, &other_id, &other_secret, &old).await;
        assert_invalid_refresh(status, &body);
        let (status, body) = refresh(&app, &id, &secret, chain.last().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "nothing was revoked: {body}");
        let newest = rt(&body);
        assert_eq!(live_tokens(&app, &user_id).await, 1);

        // The client's own token of generation 3, whose secret is long gone:
        // reuse, and the family is revoked.
        let (status, body) = refresh(&app, &id, &secret, &old).await;
        assert_invalid_refresh(status, &body);
        let (status, body) = refresh(&app, &id, &secret, &newest).await;
        assert_invalid_refresh(status, &body);
        assert_eq!(live_tokens(&app, &user_id).await, 0);
        let (status, logs) = app
            .mgmt_call(Method::GET, &format!("/logs?q={}", crate::support::urlencode("type:ferrt")), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{logs}");
        assert_eq!(logs.as_array().map(Vec::len), Some(1), "one reuse detection: {logs}");
        store.close().await;
    }
}

both_databases! {
    async fn revoking_a_long_rotated_out_token_still_revokes_its_grant(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let (user_id, chain) = rotation_chain(&app, &id, &secret, 3).await;
        assert_eq!(live_tokens(&app, &user_id).await, 1);
        // The first token's secret is gone (three rotations since); RFC 7009
        // still revokes what was issued for its grant.
        let response = app.http.post(app.url("/oauth/revoke"))
            .form(&[("client_id", id.as_str()), ("client_secret", secret.as_str()), ("token", chain[0].as_str())])
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (status, body) = refresh(&app, &id, &secret, chain.last().unwrap()).await;
        assert_invalid_refresh(status, &body);
        assert_eq!(live_tokens(&app, &user_id).await, 0);
    }
}

/// A password grant, then `rotations` exchanges each presenting the token
/// the last one returned; the user id and every refresh token, oldest first.
async fn rotation_chain(
    app: &TestApp,
    id: &str,
    secret: &str,
    rotations: usize,
) -> (String, Vec<String>) {
    let first = password_grant(app, id, secret, "read:orders offline_access").await;
    let user_id = claims(first["access_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut chain = vec![rt(&first)];
    for _ in 0..rotations {
        let (status, body) = refresh(app, id, secret, chain.last().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        chain.push(rt(&body));
    }
    (user_id, chain)
}

/// How many live refresh tokens the Management API lists for the user.
async fn live_tokens(app: &TestApp, user_id: &str) -> usize {
    let path = format!(
        "/users/{}/refresh-tokens",
        crate::support::urlencode(user_id)
    );
    let (status, body) = app.mgmt_call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["tokens"].as_array().unwrap().len()
}
