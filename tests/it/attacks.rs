//! Attacks a read-only review of the security work proved, kept as tests:
//! each failed before its fix. Locking a client out through its public id,
//! rotating IPv6 addresses inside one /64 past the brute-force counters,
//! guessing the dashboard password without a rate limit, a deleted machine
//! client's token staying active at introspection, and oversized pending
//! `/authorize` rows.

use grantor::http::client_ip::TrustedProxies;
use grantor::http::rate_limit::RateLimitConfig;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::limits::{bucket, spawn_with};
use crate::refresh_tokens::{setup, API, EMAIL, PASSWORD};
use crate::support::browser::{authorize_path, get, web_client};
use crate::support::{assert_oauth_error, read, AppOptions, MGMT_CLIENT_ID, MGMT_CLIENT_SECRET};

both_databases! {
    /// Wrong secrets sent with a real client's id are charged to the
    /// sender's IP, not to that client: the client still gets its tokens.
    async fn requests_that_fail_client_authentication_do_not_drain_the_clients_bucket(db: Backend) {
        let app = spawn_with(db, AppOptions {
            rate_limits: RateLimitConfig { per_client: bucket(3), ..RateLimitConfig::disabled() },
            ..AppOptions::default()
        }).await;
        for _ in 0..6 {
            let (status, body) = read(app.token_form(&[
                ("grant_type", "client_credentials"), ("client_id", MGMT_CLIENT_ID),
                ("client_secret", "not the secret"), ("audience", &app.management_audience()),
            ]).await).await;
            assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "access_denied");
        }
        for _ in 0..6 {
            let response = app.http.post(app.url("/oauth/revoke"))
                .form(&[("client_id", MGMT_CLIENT_ID), ("client_secret", "nope"), ("token", "x")])
                .send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        }
        // The real client: its three are all there, then its bucket refuses.
        for _ in 0..3 {
            let (status, body) = read(app.token_form(&[
                ("grant_type", "client_credentials"), ("client_id", MGMT_CLIENT_ID),
                ("client_secret", MGMT_CLIENT_SECRET), ("audience", &app.management_audience()),
            ]).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let (status, body) = read(app.token_form(&[
            ("grant_type", "client_credentials"), ("client_id", MGMT_CLIENT_ID),
            ("client_secret", MGMT_CLIENT_SECRET), ("audience", &app.management_audience()),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    }
}

both_databases! {
    /// Each guess from a new address of the same IPv6 /64 counts against one
    /// allowance: after ten, the right password is refused too.
    async fn ipv6_addresses_of_one_64_share_the_brute_force_counters(db: Backend) {
        let app = spawn_with(db, AppOptions {
            trusted_proxies: TrustedProxies::parse("127.0.0.1/32").unwrap(),
            ..AppOptions::default()
        }).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let attempt = |n: u32, password: &'static str| {
            let (app, id, secret) = (&app, id.clone(), secret.clone());
            async move {
                read(app.http.post(app.url("/oauth/token"))
                    .header("x-forwarded-for", format!("2001:db8:1:2::{n:x}"))
                    .form(&[
                        ("grant_type", "password"), ("client_id", id.as_str()), ("client_secret", secret.as_str()),
                        ("username", EMAIL), ("password", password), ("audience", API),
                    ])
                    .send().await.unwrap()).await
            }
        };
        for n in 1..=10 {
            let (status, body) = attempt(n, "wrong password").await;
            assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        }
        let (status, body) = attempt(11, "wrong password").await;
        assert_oauth_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
        let (status, body) = attempt(0xffff, PASSWORD).await;
        assert_oauth_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
        // Another /64 is another subscriber.
        let (status, body) = read(app.http.post(app.url("/oauth/token"))
            .header("x-forwarded-for", "2001:db8:1:3::1")
            .form(&[
                ("grant_type", "password"), ("client_id", id.as_str()), ("client_secret", secret.as_str()),
                ("username", EMAIL), ("password", PASSWORD), ("audience", API),
            ])
            .send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

both_databases! {
    async fn the_dashboard_sign_in_is_rate_limited_per_ip(db: Backend) {
        let app = spawn_with(db, AppOptions {
            rate_limits: RateLimitConfig { per_ip: bucket(3), ..RateLimitConfig::disabled() },
            ..AppOptions::default()
        }).await;
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let response = app.http.post(app.url("/dashboard/login"))
                .form(&[("email", "admin@example.test"), ("password", "guess")])
                .send().await.unwrap();
            statuses.push(response.status());
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 3, "{statuses:?}");
    }
}

both_databases! {
    /// A resource server introspecting a machine token learns at once that
    /// its client grant was narrowed, then deleted.
    async fn introspection_follows_the_machine_clients_client_grant(db: Backend) {
        let app = spawn_with(db, AppOptions::default()).await;
        app.create_api("https://orders.example.test/", &["read:orders", "write:orders"]).await;
        let (machine, machine_secret, _) = app.create_client(json!({"name": "machine", "grant_types": ["client_credentials"]})).await;
        let grant = app.create_client_grant(&machine, "https://orders.example.test/", &["read:orders", "write:orders"]).await;
        let (rs, rs_secret, _) = app.create_client(json!({"name": "orders api", "grant_types": ["client_credentials"]})).await;
        app.create_client_grant(&rs, "https://orders.example.test/", &["read:orders"]).await;
        let token = app.client_credentials(&machine, &machine_secret, "https://orders.example.test/").await;
        let answer = app.introspect(&rs, &rs_secret, &token).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["scope"], "read:orders write:orders");
        let grant_id = grant["id"].as_str().unwrap();
        let (status, _) = app.mgmt_call(Method::PATCH, &format!("/client-grants/{grant_id}"), Some(json!({"scope": ["read:orders"]}))).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(app.introspect(&rs, &rs_secret, &token).await["scope"], "read:orders");
        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/client-grants/{grant_id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(app.introspect(&rs, &rs_secret, &token).await, json!({"active": false}));
    }
}

both_databases! {
    /// Every stored `/authorize` parameter is bounded: an oversized one is an
    /// error page, and no pending request is written.
    async fn oversized_authorize_parameters_write_nothing(db: Backend) {
        let app = spawn_with(db, AppOptions::default()).await;
        let callback = "https://app.example.test/callback";
        let (web, _) = web_client(&app, "Web", &[callback]).await;
        let before = app.count_rows("authorization_requests").await;
        let long = "s".repeat(2049);
        for name in ["state", "nonce", "scope"] {
            let response = get(&app, &app.http, &authorize_path(&web, callback, &[(name, &long)])).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{name}");
            assert!(response.headers().get("location").is_none());
        }
        assert_eq!(app.count_rows("authorization_requests").await, before);
        let ok = "s".repeat(2048);
        let response = get(&app, &app.http, &authorize_path(&web, callback, &[("state", &ok)])).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(app.count_rows("authorization_requests").await, before + 1);
    }
}
