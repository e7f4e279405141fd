//! OpenID Connect Back-Channel Logout through the durable outbox: every way a
//! session ends sends each client that registered a back-channel URL, and
//! was issued tokens in that session, one logout token, verified here with a
//! third-party JWT library against the JWKS; a failing receiver gets it once
//! it recovers; a slow one never holds the call that ended the session; two
//! processes on one database deliver each message once.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::management_refresh_tokens::{fixture, fixture_on, non_rotating, Fixture, CALLBACK};
use crate::refresh_tokens::{API, EMAIL, PASSWORD};
use crate::support::browser::{authorize_code_with, get, new_browser, web_client};
use crate::support::receiver::{verify_logout_token, Receiver};
use crate::support::{assert_mgmt_error, spawn_app_on, AppOptions, TestApp, TestDatabase};

/// Registers `url` as the client's back-channel logout URL.
pub async fn register(app: &TestApp, client_id: &str, url: &str) {
    let (status, body) = app
        .mgmt_call(
            Method::PATCH,
            &format!("/clients/{client_id}"),
            Some(json!({"oidc_logout": {"backchannel_logout_urls": [url]}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["oidc_logout"]["backchannel_logout_urls"], json!([url]));
}

/// Waits until no outbox message is pending (every one delivered or given up).
async fn settled(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let pending = app.count_rows("outbox WHERE status = 'pending'").await;
        if pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} outbox messages still pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Signs the fixture's user in to the web client in a new browser; returns
/// the browser and the session id.
pub async fn signed_in(f: &Fixture) -> (reqwest::Client, String) {
    let browser = new_browser();
    let login = f.browser_login(&browser).await;
    (browser, login.session_id.expect("sid"))
}

/// Checks one delivered token: for `client_id`, the fixture's user, `sid`.
async fn assert_logout_token(f: &Fixture, token: &str, client_id: &str, sid: &str) -> Value {
    let claims = verify_logout_token(&f.app, token, client_id).await;
    assert_eq!(claims["sub"], f.user_id, "{claims}");
    assert_eq!(claims["sid"], sid, "{claims}");
    claims
}

both_databases! {
    /// Each Management API path that ends one session, and both browser
    /// logouts: exactly one verified logout token per ended session.
    async fn every_way_a_session_ends_sends_one_logout_token(db: Backend) {
        let f = fixture(db).await;
        let receiver = Receiver::start().await;
        register(&f.app, &f.web_id, &receiver.url).await;
        let user = crate::support::urlencode(&f.user_id);
        let mut jtis = BTreeSet::new();
        for path in [
            "DELETE /sessions/{sid}",
            "POST /sessions/{sid}/revoke",
            "POST /users/{user}/revoke-access {session_id}",
            "POST /users/{user}/revoke-access",
            "DELETE /users/{user}/sessions",
            "GET /v2/logout",
            "GET /oidc/logout",
        ] {
            let (browser, sid) = signed_in(&f).await;
            let before = receiver.accepted().len();
            match path {
                "GET /v2/logout" | "GET /oidc/logout" => {
                    let url = format!("{}?client_id={}", &path[4..], f.web_id);
                    let response = get(&f.app, &browser, &url).await;
                    assert!(response.status().is_success(), "{path}: {}", response.status());
                }
                _ => {
                    let (method, rest) = path.split_once(' ').unwrap();
                    let (route, body) = match rest.split_once(' ') {
                        Some((route, _)) => (route, Some(json!({"session_id": sid}))),
                        None => (rest, (method == "POST").then(|| json!({}))),
                    };
                    let route = route.replace("{sid}", &sid).replace("{user}", &user);
                    let method = Method::from_bytes(method.as_bytes()).unwrap();
                    let (status, body) = f.app.mgmt_call(method, &route, body).await;
                    assert!(status.is_success(), "{path}: {status} {body}");
                }
            }
            let tokens = receiver.wait_for(before + 1).await;
            settled(&f.app).await;
            assert_eq!(receiver.accepted().len(), before + 1, "{path}: one token, not more");
            let claims = assert_logout_token(&f, &tokens[before], &f.web_id, &sid).await;
            assert!(jtis.insert(claims["jti"].as_str().unwrap().to_owned()), "{path}: a new jti");
        }
    }
}

both_databases! {
    /// Signing in again in the same browser (`prompt=login`) as the same
    /// user keeps its session (nothing ends, nothing is announced); another
    /// user's sign-in replaces it, and the replaced one is announced.
    async fn a_new_sign_in_announces_the_session_it_replaces(db: Backend) {
        let f = fixture(db).await;
        let receiver = Receiver::start().await;
        register(&f.app, &f.web_id, &receiver.url).await;
        let (browser, first) = signed_in(&f).await;
        let extra = [("scope", "openid"), ("audience", API), ("prompt", "login")];
        authorize_code_with(&f.app, &browser, &f.web_id, CALLBACK, &extra, EMAIL, PASSWORD).await;
        let other = "other-user@example.test";
        crate::support::browser::create_user(&f.app, other, PASSWORD).await;
        authorize_code_with(&f.app, &browser, &f.web_id, CALLBACK, &extra, other, PASSWORD).await;
        let tokens = receiver.wait_for(1).await;
        settled(&f.app).await;
        assert_eq!(receiver.accepted().len(), 1, "only the replaced session, once");
        assert_logout_token(&f, &tokens[0], &f.web_id, &first).await;
    }
}

both_databases! {
    /// Blocking and deleting the user end every session: one token each.
    async fn blocking_or_deleting_the_user_sends_a_token_per_session(db: Backend) {
        let f = fixture(db).await;
        let receiver = Receiver::start().await;
        register(&f.app, &f.web_id, &receiver.url).await;
        let user = crate::support::urlencode(&f.user_id);
        let (_, first) = signed_in(&f).await;
        let (_, second) = signed_in(&f).await;

        let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/users/{user}"), Some(json!({"blocked": true}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let tokens = receiver.wait_for(2).await;
        settled(&f.app).await;
        assert_eq!(receiver.accepted().len(), 2);
        let mut sids = BTreeSet::new();
        for token in &tokens {
            let claims = verify_logout_token(&f.app, token, &f.web_id).await;
            sids.insert(claims["sid"].as_str().unwrap().to_owned());
        }
        assert_eq!(sids, BTreeSet::from([first, second]));

        let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/users/{user}"), Some(json!({"blocked": false}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, third) = signed_in(&f).await;
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/users/{user}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let tokens = receiver.wait_for(3).await;
        settled(&f.app).await;
        assert_eq!(receiver.accepted().len(), 3);
        assert_logout_token(&f, &tokens[2], &f.web_id, &third).await;
    }
}

both_databases! {
    /// Only clients that registered a URL and were issued tokens in the
    /// session hear of its end, each at its own URL with its own `aud`; a
    /// session that already ended is not announced again.
    async fn only_the_sessions_registered_clients_are_told_once(db: Backend) {
        let f = fixture(db).await;
        let web_receiver = Receiver::start().await;
        let other_receiver = Receiver::start().await;
        register(&f.app, &f.web_id, &web_receiver.url).await;
        // A second registered client, used in the same browser session (SSO).
        let (second_id, _) = web_client(&f.app, "Second", &[CALLBACK]).await;
        register(&f.app, &second_id, &other_receiver.url).await;
        // A third registered client that this session never used.
        let unused_receiver = Receiver::start().await;
        let (unused_id, _) = web_client(&f.app, "Unused", &[CALLBACK]).await;
        register(&f.app, &unused_id, &unused_receiver.url).await;
        // And one that never registered a URL.
        let (silent_id, _) = web_client(&f.app, "Silent", &[CALLBACK]).await;

        let (browser, sid) = signed_in(&f).await;
        for client in [&second_id, &silent_id] {
            authorize_code_with(&f.app, &browser, client, CALLBACK, &[("scope", "openid"), ("audience", API)], EMAIL, PASSWORD).await;
        }
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/sessions/{sid}"), None).await;
        assert!(status.is_success(), "{status}");
        let web = web_receiver.wait_for(1).await;
        let other = other_receiver.wait_for(1).await;
        settled(&f.app).await;
        assert_logout_token(&f, &web[0], &f.web_id, &sid).await;
        assert_logout_token(&f, &other[0], &second_id, &sid).await;
        assert_eq!(unused_receiver.requests(), 0, "a client the session never used is not told");
        assert_eq!(f.app.count_rows("outbox").await, 2, "nothing queued for the silent client");

        // Browser logout, then a Management revocation of the ended session: one token only.
        let (browser, sid) = signed_in(&f).await;
        let response = get(&f.app, &browser, "/v2/logout").await;
        assert!(response.status().is_success());
        web_receiver.wait_for(2).await;
        let (status, _) = f.app.mgmt_call(Method::POST, &format!("/sessions/{sid}/revoke"), Some(json!({}))).await;
        assert!(status.is_success());
        settled(&f.app).await;
        assert_eq!(web_receiver.accepted().len(), 2, "an ended session is announced once");
    }
}

both_databases! {
    /// A receiver that fails is retried with backoff and gets the token once
    /// it answers 200; each attempt's outcome is recorded.
    async fn a_failing_receiver_gets_the_token_once_it_recovers(db: Backend) {
        let f = fixture(db).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(503);
        register(&f.app, &f.web_id, &receiver.url).await;
        let (_, sid) = signed_in(&f).await;
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/sessions/{sid}"), None).await;
        assert!(status.is_success(), "{status}");
        receiver.wait_until("three failed attempts", |r| r.requests() >= 3).await;
        assert!(receiver.accepted().is_empty());
        let rows = f.app.query_strings("SELECT status || ' ' || CAST(attempts AS TEXT) || ' ' || COALESCE(last_error, '') FROM outbox").await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert!(rows[0].starts_with("pending "), "{rows:?}");
        assert!(rows[0].ends_with("the receiver answered 503"), "{rows:?}");
        // The dashboard's application page shows it too.
        let admin = crate::dashboard::Admin::signed_in(&f.app).await;
        let html = admin.page(&format!("/dashboard/applications/{}", f.web_id)).await;
        assert!(html.contains("Back-Channel Logout Deliveries") && html.contains(&sid) && html.contains("the receiver answered 503"), "{html}");
        // The Management API shows the same state.
        let (status, pending) = f.app.mgmt_call(Method::GET, &format!("/deliveries?client_id={}&status=pending&include_totals=true", f.web_id), None).await;
        assert_eq!(status, StatusCode::OK, "{pending}");
        assert_eq!(pending["total"], 1, "{pending}");
        let item = &pending["deliveries"][0];
        assert_eq!((item["type"].as_str(), item["session_id"].as_str(), item["destination"].as_str()), (Some("backchannel_logout"), Some(sid.as_str()), Some(receiver.url.as_str())), "{item}");
        assert!(item["attempts"].as_i64().unwrap() >= 1, "{item}");
        assert_eq!(item["last_error"], "the receiver answered 503");
        assert!(item["next_attempt_at"].is_string(), "{item}");

        receiver.answer_with(200);
        let tokens = receiver.wait_for(1).await;
        settled(&f.app).await;
        assert_eq!(receiver.accepted().len(), 1);
        assert_logout_token(&f, &tokens[0], &f.web_id, &sid).await;
        let rows = f.app.query_strings("SELECT status FROM outbox").await;
        assert_eq!(rows, vec!["delivered".to_owned()]);
        let (_, delivered) = f.app.mgmt_call(Method::GET, &format!("/deliveries?session_id={sid}"), None).await;
        assert_eq!(delivered.as_array().map(Vec::len), Some(1), "{delivered}");
        assert_eq!(delivered[0]["status"], "delivered");
        assert!(delivered[0]["finished_at"].is_string(), "{delivered}");
        let (_, none) = f.app.mgmt_call(Method::GET, "/deliveries?status=pending", None).await;
        assert_eq!(none, json!([]));
        for bad in ["/deliveries?status=lost", "/deliveries?from=x&take=2", "/deliveries?per_page=0"] {
            let (status, body) = f.app.mgmt_call(Method::GET, bad, None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
    }
}

both_databases! {
    /// After `max_attempts` failures a message is marked failed and no
    /// longer sent.
    async fn a_message_is_given_up_after_the_last_attempt(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let mut options = AppOptions::default();
        options.outbox.max_attempts = 2;
        let f = fixture_on(spawn_app_on(database, options).await, non_rotating()).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(500);
        register(&f.app, &f.web_id, &receiver.url).await;
        let (_, sid) = signed_in(&f).await;
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/sessions/{sid}"), None).await;
        assert!(status.is_success(), "{status}");
        settled(&f.app).await;
        let rows = f.app.query_strings("SELECT status || ' ' || CAST(attempts AS TEXT) FROM outbox").await;
        assert_eq!(rows, vec!["failed 2".to_owned()]);
        assert_eq!(receiver.requests(), 2);
    }
}

both_databases! {
    /// Delivery runs after the call: a receiver that does not answer never
    /// holds the revocation that queued its token.
    async fn a_slow_receiver_does_not_hold_the_call_that_ended_the_session(db: Backend) {
        let f = fixture(db).await;
        let receiver = Receiver::start().await;
        register(&f.app, &f.web_id, &receiver.url).await;
        let (_, sid) = signed_in(&f).await;
        receiver.hold();
        let route = format!("/sessions/{sid}");
        let call = f.app.mgmt_call(Method::DELETE, &route, None);
        let (status, _) = tokio::time::timeout(std::time::Duration::from_secs(10), call)
            .await
            .expect("the revocation answers while the receiver holds the delivery");
        assert!(status.is_success(), "{status}");
        receiver.wait_until("the delivery reached the receiver", |r| r.requests() == 1).await;
        assert!(receiver.accepted().is_empty(), "still held");
        receiver.release();
        receiver.wait_for(1).await;
        settled(&f.app).await;
    }
}

both_databases! {
    /// A receiver that holds its requests holds only its own places: another
    /// client's token, queued after, is delivered meanwhile.
    async fn a_held_receiver_does_not_hold_other_clients_tokens(db: Backend) {
        let f = fixture(db).await;
        let slow = Receiver::start().await;
        let fast = Receiver::start().await;
        register(&f.app, &f.web_id, &slow.url).await;
        let (other_id, _) = web_client(&f.app, "Other", &[CALLBACK]).await;
        register(&f.app, &other_id, &fast.url).await;
        // Five sessions of the slow client: more than its four places.
        for _ in 0..5 {
            signed_in(&f).await;
        }
        let (browser, other_sid) = signed_in(&f).await;
        authorize_code_with(&f.app, &browser, &other_id, CALLBACK, &[("scope", "openid"), ("audience", API)], EMAIL, PASSWORD).await;
        slow.hold();
        let user = crate::support::urlencode(&f.user_id);
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/users/{user}/sessions"), None).await;
        assert!(status.is_success());
        slow.wait_until("four requests held", |r| r.requests() == 4).await;
        let tokens = fast.wait_for(1).await;
        assert_logout_token(&f, &tokens[0], &other_id, &other_sid).await;
        assert_eq!(slow.requests(), 4, "at most four at once to one URL");
        slow.release();
        slow.wait_for(6).await;
        settled(&f.app).await;
        assert_eq!(slow.accepted().len(), 6);
        assert_eq!(fast.accepted().len(), 1);
    }
}

both_databases! {
    /// A queued message goes to the client's URL as it is when sent; once
    /// the URL is removed, it is given up with a reason.
    async fn a_queued_message_follows_the_clients_current_url(db: Backend) {
        let f = fixture(db).await;
        let old = Receiver::start().await;
        let new = Receiver::start().await;
        old.answer_with(503);
        register(&f.app, &f.web_id, &old.url).await;
        let (_, sid) = signed_in(&f).await;
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/sessions/{sid}"), None).await;
        assert!(status.is_success());
        old.wait_until("a failed attempt", |r| r.requests() >= 1).await;
        register(&f.app, &f.web_id, &new.url).await;
        let tokens = new.wait_for(1).await;
        assert_logout_token(&f, &tokens[0], &f.web_id, &sid).await;
        settled(&f.app).await;

        new.answer_with(503);
        let (_, sid) = signed_in(&f).await;
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/sessions/{sid}"), None).await;
        assert!(status.is_success());
        new.wait_until("a failed attempt", |r| r.requests() >= 2).await;
        let (status, _) = f.app.mgmt_call(Method::PATCH, &format!("/clients/{}", f.web_id), Some(json!({"oidc_logout": {"backchannel_logout_urls": []}}))).await;
        assert_eq!(status, StatusCode::OK);
        settled(&f.app).await;
        let (_, failed) = f.app.mgmt_call(Method::GET, &format!("/deliveries?session_id={sid}"), None).await;
        assert_eq!(failed[0]["status"], "failed", "{failed}");
        assert_eq!(failed[0]["last_error"], "the client no longer has a back-channel logout URL");
    }
}

both_databases! {
    /// Two processes on one database both deliver, each message once: with
    /// one message per claim and the receiver holding every request, two
    /// requests in flight at once can only be two processes' claims of two
    /// different messages.
    async fn two_processes_deliver_each_message_once(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let one_at_a_time = || {
            let mut options = AppOptions::default();
            options.outbox.batch = 1;
            options
        };
        let f = fixture_on(spawn_app_on(database.clone(), one_at_a_time()).await, non_rotating()).await;
        // Processes behind one load balancer share one issuer.
        let second = spawn_app_on(database, AppOptions {
            issuer: Some(f.app.issuer.clone()),
            ..one_at_a_time()
        }).await;
        let receiver = Receiver::start().await;
        register(&f.app, &f.web_id, &receiver.url).await;
        const SESSIONS: usize = 12;
        let mut sids = BTreeSet::new();
        for _ in 0..SESSIONS {
            sids.insert(signed_in(&f).await.1);
        }
        receiver.hold();
        let (status, _) = second
            .mgmt_call(Method::DELETE, &format!("/users/{}/sessions", crate::support::urlencode(&f.user_id)), None)
            .await;
        assert!(status.is_success(), "{status}");
        receiver.wait_until("both processes have a delivery in flight", |r| r.requests() >= 2).await;
        // Each process claimed exactly one message (its batch), not more.
        let leased = f.app.query_strings("SELECT lease_owner FROM outbox WHERE lease_owner IS NOT NULL").await;
        assert_eq!(leased.len(), 2, "{leased:?}");
        assert_ne!(leased[0], leased[1], "two processes, one message each");
        assert_eq!(receiver.requests(), 2);
        receiver.release();
        let tokens = receiver.wait_for(SESSIONS).await;
        settled(&f.app).await;
        assert_eq!(receiver.accepted().len(), SESSIONS, "each message once");
        assert_eq!(receiver.requests(), SESSIONS, "no message was sent twice");
        let owners = f.app.query_strings("SELECT DISTINCT lease_owner FROM outbox").await;
        assert_eq!(owners.len(), 2, "both processes delivered: {owners:?}");
        let mut delivered = BTreeSet::new();
        let mut jtis = BTreeSet::new();
        for token in &tokens {
            let claims = verify_logout_token(&f.app, token, &f.web_id).await;
            delivered.insert(claims["sid"].as_str().unwrap().to_owned());
            jtis.insert(claims["jti"].as_str().unwrap().to_owned());
        }
        assert_eq!(delivered, sids);
        assert_eq!(jtis.len(), SESSIONS);
        second.stop().await;
    }
}

both_databases! {
    /// `oidc_logout` on the client object: one http(s) URL, shown on reads,
    /// cleared with an empty list; other shapes are a 400.
    async fn the_backchannel_url_is_validated_and_shown(db: Backend) {
        let f = fixture(db).await;
        let path = format!("/clients/{}", f.web_id);
        register(&f.app, &f.web_id, "https://rp.example/logout").await;
        let (_, client) = f.app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(client["oidc_logout"], json!({
            "backchannel_logout_urls": ["https://rp.example/logout"],
            "backchannel_logout_initiators": {"mode": "all"},
        }));
        for bad in [
            json!({"backchannel_logout_urls": ["https://a.example/1", "https://b.example/2"]}),
            json!({"backchannel_logout_urls": ["javascript:alert(1)"]}),
            json!({"backchannel_logout_urls": ["com.example.app:/logout"]}),
            json!({"backchannel_logout_urls": ["https://*.example.com/logout"]}),
            json!({"backchannel_logout_urls": ["https://rp.example/logout#frag"]}),
            json!({"backchannel_logout_urls": ["https://rp.example/x"], "backchannel_logout_initiators": {"mode": "custom", "selected_initiators": ["rp-logout"]}}),
            json!({"backchannel_logout_urls": "https://rp.example/x"}),
            json!({"unknown": true}),
        ] {
            let (status, body) = f.app.mgmt_call(Method::PATCH, &path, Some(json!({"oidc_logout": bad}))).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
        let (_, client) = f.app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(client["oidc_logout"]["backchannel_logout_urls"], json!(["https://rp.example/logout"]), "a refused PATCH changed nothing");
        let (status, client) = f.app.mgmt_call(Method::PATCH, &path, Some(json!({"oidc_logout": {"backchannel_logout_urls": []}}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(client.get("oidc_logout").is_none(), "{client}");

        let (status, discovery) = crate::support::read(f.app.http.get(f.app.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(discovery["backchannel_logout_supported"], true);
        assert_eq!(discovery["backchannel_logout_session_supported"], true);
    }
}
