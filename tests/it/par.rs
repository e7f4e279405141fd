//! Pushed Authorization Requests (RFC 9126): `POST /oauth/par`, `/authorize`
//! with its `request_uri` (one use, the pushed parameters only), the
//! client setting `require_pushed_authorization_requests`, discovery, the
//! lifetime and the purge.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grantor::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::both_databases;
use crate::support::browser::{
    authorize_path, create_user, exchange_code, get, is_login_page, location, native_client,
    new_browser, pkce_pair, query_param, sign_in_and_accept, web_client,
};
use crate::support::{read, spawn_app, spawn_app_on, AppOptions, TestApp, TestDatabase};

const CALLBACK: &str = "https://app.example.test/callback";
const OTHER_CALLBACK: &str = "https://app.example.test/other";
const API: &str = "https://api.example.test/";
const EMAIL: &str = "par@example.test";
const PASSWORD: &str = "correct-horse-battery-staple";
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// An API (`read:a`, `write:a`), a user, and a confidential web client with
/// two callbacks; returns (client_id, client_secret).
async fn setup(app: &TestApp) -> (String, String) {
    app.create_api(API, &["read:a", "write:a"]).await;
    create_user(app, EMAIL, PASSWORD).await;
    web_client(app, "PAR App", &[CALLBACK, OTHER_CALLBACK]).await
}

/// `POST /oauth/par` with a form body; status, JSON and `Cache-Control`.
async fn push(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value, Option<String>) {
    let response = app
        .http
        .post(app.url("/oauth/par"))
        .form(form)
        .send()
        .await
        .unwrap();
    let cache = response
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = read(response).await;
    (status, body, cache)
}

/// Pushes a code request for `API` (`read:a`) to `CALLBACK` and returns the
/// request_uri.
async fn push_ok(app: &TestApp, id: &str, secret: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![
        ("client_id", id),
        ("client_secret", secret),
        ("response_type", "code"),
        ("redirect_uri", CALLBACK),
        ("scope", "openid read:a"),
        ("audience", API),
        ("state", "pushed-state"),
    ];
    form.extend_from_slice(extra);
    let (status, body, _) = push(app, &form).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["request_uri"].as_str().unwrap().to_owned()
}

fn par_authorize_path(client_id: &str, request_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("client_id", client_id), ("request_uri", request_uri)];
    pairs.extend_from_slice(extra);
    format!(
        "/authorize?{}",
        serde_urlencoded::to_string(&pairs).unwrap()
    )
}

/// GET `path` in a new browser: status and page.
async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = get(app, &new_browser(), path).await;
    (response.status(), response.text().await.unwrap())
}

both_databases! {
    async fn a_pushed_request_drives_the_code_flow_and_the_query_cannot_change_it(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app).await;
        let (status, body, cache) = push(&app, &[
            ("client_id", &id), ("client_secret", &secret), ("response_type", "code"),
            ("redirect_uri", CALLBACK), ("scope", "openid read:a"), ("audience", API),
            ("state", "pushed-state"), ("nonce", "n-1"),
        ]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(body["expires_in"], 30);
        let request_uri = body["request_uri"].as_str().unwrap().to_owned();
        let random = request_uri.strip_prefix(PREFIX).expect("the RFC 9126 URN prefix");
        assert!(random.len() >= 43, "{request_uri}");
        // Only the hash of the random part is stored.
        let stored = app.query_strings("SELECT request_uri_hash FROM pushed_authorization_requests").await;
        assert_eq!(stored, vec![hex::encode(Sha256::digest(random.as_bytes()))]);
        let params = app.query_strings("SELECT params FROM pushed_authorization_requests").await;
        assert!(!params[0].contains(&secret), "the client secret is not stored: {}", params[0]);

        // Every other query parameter is ignored: the pushed ones win.
        let path = par_authorize_path(&id, &request_uri, &[
            ("redirect_uri", OTHER_CALLBACK), ("scope", "openid write:a"), ("state", "query-state"),
            ("response_type", "token"),
        ]);
        let response = get(&app, &app.http, &path).await;
        let landing = sign_in_and_accept(&app, &app.http, response, EMAIL, PASSWORD).await;
        assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.html);
        let to = landing.location.unwrap();
        assert!(to.starts_with(&format!("{CALLBACK}?")), "{to}");
        assert_eq!(query_param(&to, "state").as_deref(), Some("pushed-state"));
        let code = query_param(&to, "code").expect("a code");
        assert_eq!(app.count_rows("pushed_authorization_requests").await, 0, "used once: gone");

        let (status, tokens) = exchange_code(&app, &id, Some(&secret), &code, CALLBACK, None).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let scope = tokens["scope"].as_str().unwrap();
        assert!(scope.contains("read:a") && !scope.contains("write:a"), "{scope}");
        let access = crate::support::claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(access["aud"].as_array().map_or(access["aud"].clone(), |a| a[0].clone()), API);
        let id_token = crate::support::claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id_token["nonce"], "n-1");
    }
}

both_databases! {
    async fn clients_authenticate_as_at_the_token_endpoint(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app).await;
        let request = [("response_type", "code"), ("redirect_uri", CALLBACK), ("scope", "openid")];
        // client_secret_basic.
        let response = app.http.post(app.url("/oauth/par")).basic_auth(&id, Some(&secret))
            .form(&request).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        // A wrong secret, an unknown client, no client: 401 invalid_client.
        for form in [
            vec![("client_id", id.as_str()), ("client_secret", "wrong")],
            vec![("client_id", "no-such-client"), ("client_secret", "wrong")],
            vec![("client_id", id.as_str())],
            vec![],
        ] {
            let mut form = form;
            form.extend_from_slice(&request);
            let response = app.http.post(app.url("/oauth/par")).form(&form).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{form:?}");
            assert!(response.headers().contains_key("www-authenticate"));
            let (_, body) = read(response).await;
            assert_eq!(body["error"], "invalid_client", "{body}");
        }
        // Basic with a wrong secret too.
        let response = app.http.post(app.url("/oauth/par")).basic_auth(&id, Some("wrong"))
            .form(&request).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.count_rows("pushed_authorization_requests").await, 1);

        // A public client authenticates with its id alone, and must use PKCE.
        let public = native_client(&app, "Native", &[CALLBACK]).await;
        let (status, body, _) = push(&app, &[("client_id", &public), ("response_type", "code"), ("redirect_uri", CALLBACK)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_request");
        assert!(body["error_description"].as_str().unwrap().contains("PKCE"), "{body}");
        let (verifier, challenge) = pkce_pair();
        let (status, body, _) = push(&app, &[
            ("client_id", &public), ("response_type", "code"), ("redirect_uri", CALLBACK),
            ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let request_uri = body["request_uri"].as_str().unwrap();
        let response = get(&app, &app.http, &par_authorize_path(&public, request_uri, &[])).await;
        let landing = sign_in_and_accept(&app, &app.http, response, EMAIL, PASSWORD).await;
        let code = query_param(&landing.location.expect("a redirect"), "code").expect("a code");
        let (status, tokens) = exchange_code(&app, &public, None, &code, CALLBACK, Some(&verifier)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
    }
}

both_databases! {
    async fn bad_pushed_requests_are_json_400s_and_store_nothing(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app).await;
        let long = "x".repeat(3000);
        // Within 2048 characters each, but six bytes a character once
        // escaped in the stored JSON: over the 16 KiB a stored request may take.
        let escaped = "\u{1}".repeat(2000);
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("request_uri", "urn:ietf:params:oauth:request_uri:abc")], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("request", "eyJhbGciOiJub25lIn0.e30.")], "request_not_supported"),
            (vec![("response_type", "token"), ("redirect_uri", CALLBACK)], "unsupported_response_type"),
            (vec![("redirect_uri", CALLBACK)], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", "https://evil.example.test/cb")], "invalid_request"),
            // Two callbacks: the request must name one.
            (vec![("response_type", "code")], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("response_mode", "fragment")], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("code_challenge_method", "plain"), ("code_challenge", "abc")], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("prompt", "none login")], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("max_age", "-1")], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("state", &long)], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("login_hint", &long)], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("state", &escaped), ("nonce", &escaped)], "invalid_request"),
            (vec![("response_type", "code"), ("redirect_uri", CALLBACK), ("audience", "https://unknown.example.test/")], "access_denied"),
        ];
        for (extra, error) in cases {
            let mut form = vec![("client_id", id.as_str()), ("client_secret", secret.as_str())];
            form.extend_from_slice(&extra);
            let (status, body, cache) = push(&app, &form).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{extra:?}: {body}");
            assert_eq!(body["error"], error, "{extra:?}: {body}");
            assert!(body["error_description"].is_string(), "{body}");
            assert_eq!(cache.as_deref(), Some("no-store"));
        }
        // Duplicated parameters, in a raw form body.
        for raw in [
            format!("client_id={id}&client_secret={secret}&response_type=code&redirect_uri={}&scope=openid&scope=read:a", crate::support::urlencode(CALLBACK)),
            format!("client_id={id}&client_id={id}&client_secret={secret}&response_type=code&redirect_uri={}", crate::support::urlencode(CALLBACK)),
        ] {
            let response = app.http.post(app.url("/oauth/par"))
                .header("content-type", "application/x-www-form-urlencoded").body(raw).send().await.unwrap();
            let (status, body) = read(response).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["error"], "invalid_request", "{body}");
        }
        // A client not allowed the code grant.
        let (machine, machine_secret, _) = app.create_client(json!({"name": "m2m", "app_type": "non_interactive", "grant_types": ["client_credentials"], "callbacks": [CALLBACK]})).await;
        let (status, body, _) = push(&app, &[("client_id", &machine), ("client_secret", &machine_secret), ("response_type", "code"), ("redirect_uri", CALLBACK)]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "unauthorized_client", "{body}");
        // JSON with a non-string value, wrong media types, junk.
        for (content_type, raw) in [
            ("application/json", json!({"client_id": id, "client_secret": secret, "response_type": "code", "redirect_uri": CALLBACK, "max_age": 5}).to_string()),
            ("application/json", "[1,2]".to_owned()),
            ("application/json", "{".to_owned()),
            ("text/plain", "client_id=x".to_owned()),
        ] {
            let response = app.http.post(app.url("/oauth/par")).header("content-type", content_type).body(raw.clone()).send().await.unwrap();
            let status = response.status();
            let (_, body) = read(response).await;
            assert!(status.is_client_error(), "{raw}: {status} {body}");
            assert!(body["error"].is_string(), "{body}");
        }
        assert_eq!(app.count_rows("pushed_authorization_requests").await, 0);
        // GET is not the endpoint.
        let response = app.http.get(app.url("/oauth/par")).send().await.unwrap();
        assert!(response.status().is_client_error());
    }
}

both_databases! {
    async fn a_request_uri_is_used_once_by_its_own_client(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app).await;
        let (other, other_secret) = web_client(&app, "Other App", &[CALLBACK]).await;
        let request_uri = push_ok(&app, &id, &secret, &[]).await;

        // Another client's id with it: an error page, and it is not spent.
        let (status, html) = page(&app, &par_authorize_path(&other, &request_uri, &[])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains("invalid_request_uri"), "{html}");
        // No client_id at all: a page too.
        let (status, html) = page(&app, &format!("/authorize?request_uri={}", crate::support::urlencode(&request_uri))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
        assert_eq!(app.count_rows("pushed_authorization_requests").await, 1);

        // Its own client: the login page (the pending request is saved as usual).
        let pending = app.count_rows("authorization_requests").await;
        let (status, html) = page(&app, &par_authorize_path(&id, &request_uri, &[])).await;
        assert_eq!(status, StatusCode::OK);
        assert!(is_login_page(&html), "{html}");
        assert_eq!(app.count_rows("authorization_requests").await, pending + 1);

        // Used: every later use is an error page, with nothing saved or issued.
        for client in [&id, &other] {
            let (status, html) = page(&app, &par_authorize_path(client, &request_uri, &[])).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
            assert!(html.contains("invalid_request_uri"), "{html}");
        }
        assert_eq!(app.count_rows("authorization_requests").await, pending + 1);
        assert_eq!(app.count_rows("authorization_codes").await, 0);

        // Unknown and malformed request_uris, and a repeated one.
        for bad in [format!("{PREFIX}unknown"), PREFIX.to_owned(), "https://evil.example.test/req".to_owned(), "x".repeat(5000)] {
            let (status, html) = page(&app, &par_authorize_path(&id, &bad, &[])).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {html}");
        }
        let fresh = push_ok(&app, &other, &other_secret, &[]).await;
        let (status, _) = page(&app, &par_authorize_path(&other, &fresh, &[("request_uri", &fresh)])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // Nothing shows a redirect to the client.
        let response = get(&app, &new_browser(), &par_authorize_path(&id, &request_uri, &[])).await;
        assert!(location(&response).is_none());
    }
}

both_databases! {
    async fn an_expired_request_uri_is_an_error_page(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let clock = Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let app = spawn_app_on(database, AppOptions { clock: clock.clone(), par_lifetime_seconds: 45, ..AppOptions::default() }).await;
        let (id, secret) = setup(&app).await;
        let first = push_ok(&app, &id, &secret, &[]).await;
        let (status, body, _) = push(&app, &[("client_id", &id), ("client_secret", &secret), ("response_type", "code"), ("redirect_uri", CALLBACK)]).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["expires_in"], 45, "--par-lifetime-seconds");
        let second = body["request_uri"].as_str().unwrap().to_owned();
        clock.advance_seconds(44);
        let (status, html) = page(&app, &par_authorize_path(&id, &first, &[])).await;
        assert_eq!(status, StatusCode::OK);
        assert!(is_login_page(&html), "still live after 44 s");
        clock.advance_seconds(1);
        let (status, html) = page(&app, &par_authorize_path(&id, &second, &[])).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
        assert!(html.contains("invalid_request_uri"), "{html}");
    }
}

both_databases! {
    async fn a_client_requiring_par_refuses_plain_requests_and_takes_pushed_ones(db: Backend) {
        let app = spawn_app(db).await;
        app.create_api(API, &["read:a"]).await;
        create_user(&app, EMAIL, PASSWORD).await;
        // Management API round trip of the setting.
        let (id, secret, created) = app.create_client(json!({
            "name": "Strict", "app_type": "regular_web", "callbacks": [CALLBACK],
            "grant_types": ["authorization_code"], "require_pushed_authorization_requests": true,
        })).await;
        assert_eq!(created["require_pushed_authorization_requests"], true);
        let (_, read_back) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(read_back["require_pushed_authorization_requests"], true);

        // A plain /authorize: the client is told (its redirect URI is registered).
        let response = get(&app, &new_browser(), &authorize_path(&id, CALLBACK, &[("state", "s")])).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let to = location(&response).unwrap();
        assert!(to.starts_with(CALLBACK), "{to}");
        assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query_param(&to, "state").as_deref(), Some("s"));
        assert_eq!(app.count_rows("authorization_requests").await, 0);

        // Pushed: the flow goes on.
        let (status, body, _) = push(&app, &[("client_id", &id), ("client_secret", &secret), ("response_type", "code"), ("redirect_uri", CALLBACK), ("audience", API), ("scope", "read:a")]).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let response = get(&app, &app.http, &par_authorize_path(&id, body["request_uri"].as_str().unwrap(), &[])).await;
        let landing = sign_in_and_accept(&app, &app.http, response, EMAIL, PASSWORD).await;
        let code = query_param(&landing.location.expect("a redirect"), "code").expect("a code");
        let (status, tokens) = exchange_code(&app, &id, Some(&secret), &code, CALLBACK, None).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");

        // Switched off, plain requests work again.
        let (status, patched) = app.mgmt_call(Method::PATCH, &format!("/clients/{id}"), Some(json!({"require_pushed_authorization_requests": false}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["require_pushed_authorization_requests"], false);
        let (_, read_back) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(read_back["require_pushed_authorization_requests"], false);
        let (status, html) = page(&app, &authorize_path(&id, CALLBACK, &[])).await;
        assert_eq!(status, StatusCode::OK);
        assert!(is_login_page(&html));
        // A wrong type is a 400, nothing written.
        let (status, _) = app.mgmt_call(Method::PATCH, &format!("/clients/{id}"), Some(json!({"require_pushed_authorization_requests": "yes"}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}

both_databases! {
    async fn discovery_names_the_par_endpoint(db: Backend) {
        let app = spawn_app(db).await;
        for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
            let doc: Value = app.http.get(app.url(path)).send().await.unwrap().json().await.unwrap();
            assert_eq!(doc["pushed_authorization_request_endpoint"], format!("{}oauth/par", app.issuer));
            assert_eq!(doc["require_pushed_authorization_requests"], false);
        }
    }
}

both_databases! {
    async fn expired_pushed_requests_are_purged(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let clock = Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let app = spawn_app_on(database, AppOptions {
            clock: clock.clone(),
            purge: grantor::purge::PurgeConfig { interval: Some(Duration::from_millis(50)), batch_size: 2, log_retention_days: 30 },
            ..AppOptions::default()
        }).await;
        let (id, secret) = setup(&app).await;
        for _ in 0..5 {
            push_ok(&app, &id, &secret, &[]).await;
        }
        clock.advance_seconds(31);
        let live = push_ok(&app, &id, &secret, &[]).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while app.count_rows("pushed_authorization_requests").await > 1 {
            assert!(Instant::now() < deadline, "expired pushed requests still stored after 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (status, html) = page(&app, &par_authorize_path(&id, &live, &[])).await;
        assert_eq!(status, StatusCode::OK, "the live one is kept");
        assert!(is_login_page(&html));
    }
}

both_databases! {
    async fn the_dashboard_sets_the_requirement(db: Backend) {
        let app = spawn_app(db).await;
        let (id, _) = web_client(&app, "Dash App", &[CALLBACK]).await;
        let admin = crate::dashboard::Admin::signed_in(&app).await;
        let path = format!("/dashboard/applications/{id}");
        let settings = format!("{path}/settings");
        let html = admin.page(&path).await;
        assert!(html.contains("name=\"require_pushed_authorization_requests\""), "{html}");
        let fields = [("name", "Dash App"), ("app_type", "regular_web"), ("token_endpoint_auth_method", "client_secret_post"),
            ("grant_types", "authorization_code"), ("callbacks", CALLBACK), ("jwt_alg", "RS256"), ("jwt_lifetime_in_seconds", "600")];
        let mut ticked = fields.to_vec();
        ticked.push(("require_pushed_authorization_requests", "true"));
        let response = admin.submit(&path, &settings, &ticked).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(client["require_pushed_authorization_requests"], true);
        let html = admin.page(&path).await;
        assert!(html.contains("name=\"require_pushed_authorization_requests\" value=\"true\" checked"), "{html}");
        let (status, _) = page(&app, &authorize_path(&id, CALLBACK, &[])).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "a plain request is refused");
        // Unticked is a change too.
        let response = admin.submit(&path, &settings, &fields).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(client["require_pushed_authorization_requests"], false);
    }
}

both_databases! {
    /// A public client pushes with its id alone, so each push is a row an
    /// outsider can make: `/oauth/par` takes the per-IP write bucket. A
    /// confidential client's pushes do not (a web app's backend pushes every
    /// sign-in from one address), even once the bucket is empty.
    async fn pushes_are_bounded_by_the_write_bucket(db: Backend) {
        use grantor::http::rate_limit::{Rate, RateLimitConfig};
        let database = Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions {
            rate_limits: RateLimitConfig { writes_per_ip: Rate::new(3, 0), ..RateLimitConfig::disabled() },
            ..AppOptions::default()
        }).await;
        let public = native_client(&app, "Native", &[CALLBACK]).await;
        let (_, challenge) = pkce_pair();
        let form = [("client_id", public.as_str()), ("response_type", "code"), ("redirect_uri", CALLBACK),
            ("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let (status, body, _) = push(&app, &form).await;
            if status == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(body["error"], "too_many_requests", "{body}");
            }
            statuses.push(status);
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 3, "{statuses:?}");
        assert_eq!(app.count_rows("pushed_authorization_requests").await, 3);

        let (id, secret) = setup(&app).await;
        for _ in 0..5 {
            push_ok(&app, &id, &secret, &[]).await;
        }
        assert_eq!(app.count_rows("pushed_authorization_requests").await, 8);
    }
}

both_databases! {
    /// RFC 9449 §10: a code bound to a DPoP key, by a proof sent with the
    /// push or by `dpop_jkt` at `/authorize`, is exchanged only with a proof
    /// of that key; without one, or with another key, it stays unspent.
    async fn a_code_bound_to_a_dpop_key_needs_a_proof_of_it(db: Backend) {
        use crate::dpop::DpopKey;
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app).await;
        let (key, other) = (DpopKey::es256(), DpopKey::es256());
        let (par_url, token_url) = (app.url("/oauth/par"), app.url("/oauth/token"));
        let form = [
            ("client_id", id.as_str()), ("client_secret", secret.as_str()), ("response_type", "code"),
            ("redirect_uri", CALLBACK), ("scope", "openid read:a"), ("audience", API),
        ];
        let code_of = |path: String| {
            let app = &app;
            async move {
                let http = new_browser();
                let response = get(app, &http, &path).await;
                let landing = sign_in_and_accept(app, &http, response, EMAIL, PASSWORD).await;
                query_param(&landing.location.expect("a redirect"), "code").expect("a code")
            }
        };
        let exchange = |code: String, proof: Option<String>| {
            let (app, id, secret, token_url) = (&app, &id, &secret, &token_url);
            async move {
                let mut request = app.http.post(token_url.as_str()).form(&[
                    ("grant_type", "authorization_code"), ("client_id", id.as_str()),
                    ("client_secret", secret.as_str()), ("code", code.as_str()), ("redirect_uri", CALLBACK),
                ]);
                if let Some(proof) = proof {
                    request = request.header("DPoP", proof);
                }
                read(request.send().await.unwrap()).await
            }
        };
        let refused = |(status, body): (StatusCode, Value)| {
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            assert_eq!(body["error"], "invalid_grant", "{body}");
        };

        // A proof sent with the push.
        let response = app.http.post(&par_url).header("DPoP", key.proof("POST", &par_url)).form(&form).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let code = code_of(par_authorize_path(&id, body["request_uri"].as_str().unwrap(), &[])).await;
        refused(exchange(code.clone(), None).await);
        refused(exchange(code.clone(), Some(other.proof("POST", &token_url))).await);
        let (status, tokens) = exchange(code, Some(key.proof("POST", &token_url))).await;
        assert_eq!(status, StatusCode::OK, "the refusals left the code unspent: {tokens}");
        assert_eq!(crate::support::claims(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint());

        // `dpop_jkt` at /authorize, without PAR.
        let jkt = key.thumbprint();
        let code = code_of(authorize_path(&id, CALLBACK, &[("scope", "openid read:a"), ("audience", API), ("dpop_jkt", &jkt)])).await;
        refused(exchange(code.clone(), Some(other.proof("POST", &token_url))).await);
        let (status, body) = exchange(code, Some(key.proof("POST", &token_url))).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // A push whose dpop_jkt names another key than its proof; a bad
        // dpop_jkt; a bad proof at the push.
        let mut mismatched = form.to_vec();
        let other_jkt = other.thumbprint();
        mismatched.push(("dpop_jkt", &other_jkt));
        let response = app.http.post(&par_url).header("DPoP", key.proof("POST", &par_url)).form(&mismatched).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
        let mut malformed = form.to_vec();
        malformed.push(("dpop_jkt", "not-a-thumbprint"));
        let (status, body, _) = push(&app, &malformed).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
        let response = app.http.post(&par_url).header("DPoP", key.proof("POST", &token_url)).form(&form).send().await.unwrap();
        let (status, body) = read(response).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "a proof for another URL: {body}");
    }
}
