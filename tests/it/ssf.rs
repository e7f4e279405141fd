//! The Shared Signals Framework 1.0 transmitter: discovery, stream
//! management and its boundaries (another client's stream is 404, a token
//! without the scope 403, no token 401, hostile bodies 400), and the
//! Security Event Tokens each revocation path queues through the outbox,
//! pushed (RFC 8935) to a real receiver or polled (RFC 8936), verified with
//! a third-party JWT library against the JWKS.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::management_refresh_tokens::{fixture, token_with, Fixture, CALLBACK, SCOPE};
use crate::refresh_tokens::{API, EMAIL, PASSWORD};
use crate::support::browser::{authorize_code_with, exchange_code, get, new_browser};
use crate::support::receiver::{Push, Receiver};
use crate::support::{claims, TestApp};

const SESSION_REVOKED: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
const TOKENS_REVOKED: &str = "https://schemas.openid.net/secevent/oauth/event-type/tokens-revoked";
const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
const PUSH: &str = "urn:ietf:rfc:8935";
const POLL: &str = "urn:ietf:rfc:8936";

/// A receiver's Management API client: its token and client id.
struct Rp {
    token: String,
    client_id: String,
}

async fn rp(app: &TestApp, scopes: &[&str]) -> Rp {
    let token = token_with(app, scopes).await;
    let client_id = claims(&token)["azp"].as_str().unwrap().to_owned();
    Rp { token, client_id }
}

async fn manager(app: &TestApp) -> Rp {
    rp(app, &["manage:ssf_streams", "read:ssf_streams"]).await
}

/// An SSF call with `token` (none when `None`).
async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    crate::support::read(request.send().await.unwrap()).await
}

#[track_caller]
fn assert_ssf_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(
        body["err"].is_string() && body["description"].is_string(),
        "{body}"
    );
}

async fn create(app: &TestApp, rp: &Rp, body: Value) -> Value {
    let (status, stream) = call(
        app,
        Some(&rp.token),
        Method::POST,
        "/ssf/streams",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stream}");
    stream
}

async fn push_stream(app: &TestApp, rp: &Rp, url: &str) -> String {
    let stream = create(app, rp, json!({
        "delivery": {"method": PUSH, "endpoint_url": url, "authorization_header": "Bearer receiver-secret"},
        "events_requested": [SESSION_REVOKED, TOKENS_REVOKED],
    })).await;
    stream["stream_id"].as_str().unwrap().to_owned()
}

async fn set_status(app: &TestApp, rp: &Rp, stream_id: &str, status: &str) {
    let (code, body) = call(
        app,
        Some(&rp.token),
        Method::POST,
        "/ssf/status",
        Some(json!({"stream_id": stream_id, "status": status, "reason": "test"})),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"], status);
}

/// Waits until no revocation's SSF event is left staged (the worker fanned
/// them all out) and no SSF push is pending.
async fn settled(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let pending = app.count_rows("ssf_backlog").await
            + app
                .count_rows("outbox WHERE status = 'pending' AND kind = 'ssf_push'")
                .await;
        if pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} pushes still pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Verifies a SET against the JWKS with `jsonwebtoken` (signature, `typ`,
/// `iss`, `aud`) and returns its claims.
async fn verify_set(app: &TestApp, token: &str, audience: &str) -> Value {
    let claims = crate::support::receiver::verify_jwt_at(
        &app.url(""),
        &app.issuer,
        token,
        "secevent+jwt",
        audience,
        &["iss", "aud", "iat"],
    )
    .await;
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );
    assert_eq!(
        claims["events"].as_object().map(|e| e.len()),
        Some(1),
        "one event per SET: {claims}"
    );
    claims
}

/// A verified push: its content type and header, then its claims.
async fn verify_push(app: &TestApp, push: &Push, audience: &str) -> Value {
    assert_eq!(
        push.content_type.as_deref(),
        Some("application/secevent+jwt")
    );
    assert_eq!(
        push.authorization.as_deref(),
        Some("Bearer receiver-secret")
    );
    verify_set(app, &push.body, audience).await
}

fn event_type(claims: &Value) -> String {
    claims["events"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone()
}

/// Checks a revocation SET against the audit event it names (`txn`): the
/// user, the client and the receipt are the audit log's.
async fn assert_matches_audit(app: &TestApp, claims: &Value, user_id: &str) {
    let kind = event_type(claims);
    let event = &claims["events"][&kind];
    let (status, log) = app
        .mgmt_call(
            Method::GET,
            &format!("/logs/{}", claims["txn"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert!(
        claims["jti"]
            .as_str()
            .unwrap()
            .starts_with(log["log_id"].as_str().unwrap()),
        "{claims}"
    );
    assert_eq!(event["client_id"], log["client_id"], "{claims} {log}");
    assert_eq!(
        event["receipt"], log["details"]["receipt"],
        "{claims} {log}"
    );
    assert_eq!(event["reason_admin"]["en"], log["description"], "{claims}");
    let user = json!({"format": "iss_sub", "iss": app.issuer, "sub": user_id});
    if kind == SESSION_REVOKED {
        assert_eq!(claims["sub_id"]["format"], "complex", "{claims}");
        assert_eq!(claims["sub_id"]["user"], user, "{claims}");
        assert_eq!(claims["sub_id"]["session"]["format"], "opaque", "{claims}");
    } else {
        assert_eq!(kind, TOKENS_REVOKED);
        assert_eq!(claims["sub_id"], user, "{claims}");
        assert!(event["receipt"].is_object(), "{claims}");
    }
}

/// Waits for `n` more pushes after `before`, checks that no more come, and
/// returns their claims counted by event type.
async fn expect_sets(
    f: &Fixture,
    receiver: &Receiver,
    rp: &Rp,
    before: usize,
    n: usize,
    what: &str,
) -> (Vec<Value>, BTreeMap<String, usize>) {
    let pushes = receiver.wait_for_pushes(before + n).await;
    settled(&f.app).await;
    assert_eq!(
        receiver.pushes().len(),
        before + n,
        "{what}: exactly {n} SETs"
    );
    let mut all = vec![];
    let mut counts = BTreeMap::new();
    for push in &pushes[before..] {
        let claims = verify_push(&f.app, push, &rp.client_id).await;
        assert_matches_audit(&f.app, &claims, &f.user_id).await;
        *counts.entry(event_type(&claims)).or_insert(0) += 1;
        all.push(claims);
    }
    (all, counts)
}

fn counts(session: usize, tokens: usize) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    if session > 0 {
        map.insert(SESSION_REVOKED.to_owned(), session);
    }
    if tokens > 0 {
        map.insert(TOKENS_REVOKED.to_owned(), tokens);
    }
    map
}

both_databases! {
    /// The transmitter's metadata names its endpoints and delivery methods.
    async fn discovery_names_the_endpoints(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        let (status, config) = call(&app, None, Method::GET, "/.well-known/ssf-configuration", None).await;
        assert_eq!(status, StatusCode::OK, "{config}");
        assert_eq!(config["spec_version"], "1_0");
        assert_eq!(config["issuer"], app.issuer);
        assert_eq!(config["jwks_uri"], app.url("/.well-known/jwks.json"));
        assert_eq!(config["delivery_methods_supported"], json!([PUSH, POLL]));
        assert_eq!(config["default_subjects"], "ALL");
        for (member, path) in [
            ("configuration_endpoint", "/ssf/streams"),
            ("status_endpoint", "/ssf/status"),
            ("add_subject_endpoint", "/ssf/subjects/add"),
            ("remove_subject_endpoint", "/ssf/subjects/remove"),
            ("verification_endpoint", "/ssf/verify"),
        ] {
            assert_eq!(config[member], app.url(path), "{member}");
        }
        assert!(config["authorization_schemes"].is_array());
    }
}

both_databases! {
    /// Create, read (one, all), update, replace, status, subjects, delete:
    /// each as SSF says, each audited; transmitter-supplied members are the
    /// transmitter's.
    async fn streams_are_created_read_changed_and_deleted(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        let rp = manager(&app).await;
        let logs_before = app.count_rows("logs WHERE type = 'sapi'").await;
        let stream = create(&app, &rp, json!({
            "delivery": {"method": PUSH, "endpoint_url": "http://127.0.0.1:9/ssf", "authorization_header": "Bearer x"},
            "events_requested": [SESSION_REVOKED, "https://example.test/unknown-event"],
            "description": "mine",
            "iss": "https://evil.example.test/",
            "aud": "someone-else",
        })).await;
        let id = stream["stream_id"].as_str().unwrap().to_owned();
        assert_eq!(stream["iss"], app.issuer);
        assert_eq!(stream["aud"], rp.client_id);
        assert_eq!(stream["events_delivered"], json!([SESSION_REVOKED]));
        assert_eq!(stream["events_requested"], json!([SESSION_REVOKED, "https://example.test/unknown-event"]));
        assert_eq!(stream["events_supported"], json!([SESSION_REVOKED, TOKENS_REVOKED]));
        assert_eq!(stream["delivery"], json!({"method": PUSH, "endpoint_url": "http://127.0.0.1:9/ssf"}), "the authorization header is never shown");
        assert_eq!(stream["description"], "mine");

        let (status, one) = call(&app, Some(&rp.token), Method::GET, &format!("/ssf/streams?stream_id={id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(one, stream);
        let (_, all) = call(&app, Some(&rp.token), Method::GET, "/ssf/streams", None).await;
        assert_eq!(all, json!([stream]));

        let (status, patched) = call(&app, Some(&rp.token), Method::PATCH, "/ssf/streams", Some(json!({"stream_id": id, "events_requested": [TOKENS_REVOKED]}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["events_delivered"], json!([TOKENS_REVOKED]));
        assert_eq!(patched["description"], "mine", "PATCH keeps what it does not name");

        let (status, replaced) = call(&app, Some(&rp.token), Method::PUT, "/ssf/streams", Some(json!({"stream_id": id, "delivery": {"method": POLL}, "events_requested": [SESSION_REVOKED]}))).await;
        assert_eq!(status, StatusCode::OK, "{replaced}");
        assert_eq!(replaced["delivery"], json!({"method": POLL, "endpoint_url": app.url(&format!("/ssf/poll/{id}"))}));
        assert!(replaced.get("description").is_none(), "PUT replaces: {replaced}");

        let (status, st) = call(&app, Some(&rp.token), Method::GET, &format!("/ssf/status?stream_id={id}"), None).await;
        assert_eq!((status, st), (StatusCode::OK, json!({"stream_id": id, "status": "enabled"})));
        set_status(&app, &rp, &id, "paused").await;
        let (_, st) = call(&app, Some(&rp.token), Method::GET, &format!("/ssf/status?stream_id={id}"), None).await;
        assert_eq!(st, json!({"stream_id": id, "status": "paused", "reason": "test"}));

        let subject = json!({"format": "iss_sub", "iss": app.issuer, "sub": "auth0|someone"});
        let (status, _) = call(&app, Some(&rp.token), Method::POST, "/ssf/subjects/add", Some(json!({"stream_id": id, "subject": subject, "verified": true}))).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = call(&app, Some(&rp.token), Method::POST, "/ssf/subjects/remove", Some(json!({"stream_id": id, "subject": {"format": "opaque", "id": "auth0|someone"}}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(app.query_strings(&format!("SELECT mode FROM ssf_subjects WHERE stream_id = '{id}'")).await, vec!["removed".to_owned()]);

        let (status, _) = call(&app, Some(&rp.token), Method::DELETE, &format!("/ssf/streams?stream_id={id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = call(&app, Some(&rp.token), Method::GET, &format!("/ssf/streams?stream_id={id}"), None).await;
        assert_ssf_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(app.count_rows("ssf_subjects").await, 0);
        // create, update, replace, status, add, remove, delete: seven audited changes.
        assert_eq!(app.count_rows("logs WHERE type = 'sapi'").await - logs_before, 7);
        assert_eq!(app.count_rows("logs WHERE description LIKE '%SSF%'").await, 7);
    }
}

both_databases! {
    /// Another client never sees or touches a stream (404, empty list); a
    /// token without the scope is 403, no token 401; the owner's stream is
    /// unchanged afterwards.
    async fn another_clients_stream_is_not_found(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        let owner = manager(&app).await;
        let attacker = manager(&app).await;
        let id = push_stream(&app, &owner, "http://127.0.0.1:9/ssf").await;
        let (_, before) = call(&app, Some(&owner.token), Method::GET, &format!("/ssf/streams?stream_id={id}"), None).await;
        let (status, list) = call(&app, Some(&attacker.token), Method::GET, "/ssf/streams", None).await;
        assert_eq!((status, list), (StatusCode::OK, json!([])));
        let attempts = [
            (Method::GET, format!("/ssf/streams?stream_id={id}"), None),
            (Method::PATCH, "/ssf/streams".to_owned(), Some(json!({"stream_id": id, "description": "x"}))),
            (Method::PUT, "/ssf/streams".to_owned(), Some(json!({"stream_id": id, "delivery": {"method": POLL}}))),
            (Method::DELETE, format!("/ssf/streams?stream_id={id}"), None),
            (Method::GET, format!("/ssf/status?stream_id={id}"), None),
            (Method::POST, "/ssf/status".to_owned(), Some(json!({"stream_id": id, "status": "disabled"}))),
            (Method::POST, "/ssf/subjects/remove".to_owned(), Some(json!({"stream_id": id, "subject": {"format": "opaque", "id": "u"}}))),
            (Method::POST, "/ssf/verify".to_owned(), Some(json!({"stream_id": id}))),
            (Method::POST, format!("/ssf/poll/{id}"), Some(json!({}))),
        ];
        for (method, path, body) in attempts.clone() {
            let (status, answer) = call(&app, Some(&attacker.token), method.clone(), &path, body).await;
            assert_ssf_error(status, &answer, StatusCode::NOT_FOUND);
            assert_eq!(answer["err"], "not_found", "{method} {path}");
        }
        // Scopes: read-only may not change; no SSF scope may not read.
        let reader = rp(&app, &["read:ssf_streams"]).await;
        let (status, body) = call(&app, Some(&reader.token), Method::POST, "/ssf/streams", Some(json!({"delivery": {"method": POLL}}))).await;
        assert_ssf_error(status, &body, StatusCode::FORBIDDEN);
        let (status, _) = call(&app, Some(&reader.token), Method::GET, "/ssf/streams", None).await;
        assert_eq!(status, StatusCode::OK);
        let outsider = rp(&app, &["read:logs"]).await;
        let (status, body) = call(&app, Some(&outsider.token), Method::GET, "/ssf/streams", None).await;
        assert_ssf_error(status, &body, StatusCode::FORBIDDEN);
        for (method, path, body) in attempts {
            let (status, answer) = call(&app, None, method, &path, body).await;
            assert_ssf_error(status, &answer, StatusCode::UNAUTHORIZED);
        }
        let (status, body) = call(&app, Some("not-a-token"), Method::GET, "/ssf/streams", None).await;
        assert_ssf_error(status, &body, StatusCode::UNAUTHORIZED);
        let (_, after) = call(&app, Some(&owner.token), Method::GET, &format!("/ssf/streams?stream_id={id}"), None).await;
        assert_eq!(before, after);
        assert_eq!(app.count_rows("ssf_streams").await, 1);
    }
}

both_databases! {
    /// Hostile or malformed bodies are 400 in SSF's error shape, and change
    /// nothing.
    async fn hostile_bodies_are_400(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        let rp = manager(&app).await;
        let id = push_stream(&app, &rp, "http://127.0.0.1:9/ssf").await;
        let long = "x".repeat(5000);
        let bad_creates = [
            json!({}),
            json!({"delivery": {"method": "urn:example:smoke-signals"}}),
            json!({"delivery": {"method": PUSH}}),
            json!({"delivery": {"method": PUSH, "endpoint_url": "javascript:alert(1)"}}),
            json!({"delivery": {"method": PUSH, "endpoint_url": "http://user:pass@127.0.0.1/ssf"}}),
            json!({"delivery": {"method": PUSH, "endpoint_url": "ftp://127.0.0.1/ssf"}}),
            json!({"delivery": {"method": PUSH, "endpoint_url": "/relative"}}),
            json!({"delivery": {"method": PUSH, "endpoint_url": format!("http://h/{long}")}}),
            json!({"delivery": {"method": PUSH, "endpoint_url": "http://h/", "authorization_header": "a\nb"}}),
            json!({"delivery": {"method": POLL}, "stream_id": "chosen"}),
            json!({"delivery": {"method": POLL}, "unknown": 1}),
            json!({"delivery": {"method": POLL}, "events_requested": "not a list"}),
            json!({"delivery": {"method": POLL}, "default_subjects": "SOME"}),
            json!({"delivery": {"method": POLL}, "description": long}),
            json!([1, 2]),
        ];
        for body in bad_creates {
            let (status, answer) = call(&app, Some(&rp.token), Method::POST, "/ssf/streams", Some(body.clone())).await;
            assert_ssf_error(status, &answer, StatusCode::BAD_REQUEST);
        }
        let raw = app.http.post(app.url("/ssf/streams")).bearer_auth(&rp.token).header("content-type", "application/json").body("{not json").send().await.unwrap();
        assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
        let raw = app.http.post(app.url("/ssf/streams")).bearer_auth(&rp.token).header("content-type", "text/plain").body("{}").send().await.unwrap();
        assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
        let huge = format!("{{\"description\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let raw = crate::bad_input::oversized(|| app.http.post(app.url("/ssf/streams")).bearer_auth(&rp.token).header("content-type", "application/json").body(huge.clone())).await;
        assert_eq!(raw.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(raw.headers()["connection"], "close");
        let body: Value = raw.json().await.unwrap();
        assert!(body["err"].is_string(), "{body}");
        let bad_others = [
            (Method::POST, "/ssf/status", json!({"stream_id": id, "status": "sleeping"})),
            (Method::POST, "/ssf/status", json!({"stream_id": id})),
            (Method::PATCH, "/ssf/streams", json!({"description": "no id"})),
            (Method::POST, "/ssf/subjects/add", json!({"stream_id": id, "subject": {"format": "iss_sub", "iss": "https://other.example.test/", "sub": "u"}})),
            (Method::POST, "/ssf/subjects/add", json!({"stream_id": id, "subject": {"format": "email", "email": "a@b.c"}})),
            (Method::POST, "/ssf/subjects/add", json!({"stream_id": id, "subject": "u"})),
            (Method::POST, "/ssf/verify", json!({"stream_id": id, "state": long})),
            (Method::POST, &format!("/ssf/poll/{id}"), json!({})),
            (Method::PATCH, "/ssf/streams", json!({"stream_id": "a\u{0}b", "description": "x"})),
            (Method::POST, "/ssf/status", json!({"stream_id": id, "status": "enabled", "reason": "a\u{0}b"})),
            (Method::POST, "/ssf/subjects/add", json!({"stream_id": id, "subject": {"format": "opaque", "id": "a\u{0}b"}})),
            (Method::POST, "/ssf/verify", json!({"stream_id": id, "state": "\u{0}"})),
            (Method::POST, "/ssf/streams", json!({"delivery": {"method": POLL}, "events_requested": ["a\u{0}b"]})),
        ];
        for (method, path, body) in bad_others {
            let (status, answer) = call(&app, Some(&rp.token), method.clone(), path, Some(body.clone())).await;
            assert_ssf_error(status, &answer, StatusCode::BAD_REQUEST);
        }
        let (status, answer) = call(&app, Some(&rp.token), Method::DELETE, "/ssf/streams", None).await;
        assert_ssf_error(status, &answer, StatusCode::BAD_REQUEST);
        // NUL in a stream id (query, path): no such stream, never a 5xx.
        let (status, answer) = call(&app, Some(&rp.token), Method::GET, "/ssf/streams?stream_id=a%00b", None).await;
        assert_ssf_error(status, &answer, StatusCode::NOT_FOUND);
        let (status, answer) = call(&app, Some(&rp.token), Method::POST, "/ssf/poll/a%00b", Some(json!({}))).await;
        assert_ssf_error(status, &answer, StatusCode::NOT_FOUND);
        let poll = create(&app, &rp, json!({"delivery": {"method": POLL}})).await;
        let (status, answer) = call(&app, Some(&rp.token), Method::POST, &format!("/ssf/poll/{}", poll["stream_id"].as_str().unwrap()), Some(json!({"ack": ["a\u{0}b"]}))).await;
        assert_ssf_error(status, &answer, StatusCode::BAD_REQUEST);
        let (status, answer) = call(&app, Some(&rp.token), Method::POST, &format!("/ssf/poll/{}", poll["stream_id"].as_str().unwrap()), Some(json!({"maxEvents": -1}))).await;
        assert_ssf_error(status, &answer, StatusCode::BAD_REQUEST);
        call(&app, Some(&rp.token), Method::DELETE, &format!("/ssf/streams?stream_id={}", poll["stream_id"].as_str().unwrap()), None).await;
        assert_eq!(app.count_rows("ssf_streams").await, 1);
        assert_eq!(app.count_rows("ssf_subjects").await, 0);
        assert_eq!(app.count_rows("outbox").await, 0);
    }
}

both_databases! {
    /// A verification request pushes one SET with the receiver's `state`,
    /// about the stream itself.
    async fn verification_is_pushed_with_its_state(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        let rp = manager(&app).await;
        let receiver = Receiver::start().await;
        let id = push_stream(&app, &rp, &receiver.ssf_url).await;
        let (status, body) = call(&app, Some(&rp.token), Method::POST, "/ssf/verify", Some(json!({"stream_id": id, "state": "abc123"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let pushes = receiver.wait_for_pushes(1).await;
        settled(&app).await;
        let claims = verify_push(&app, &pushes[0], &rp.client_id).await;
        assert_eq!(claims["events"], json!({VERIFICATION: {"state": "abc123"}}), "{claims}");
        assert_eq!(claims["sub_id"], json!({"format": "opaque", "id": id}));
        assert_eq!(receiver.pushes().len(), 1);
    }
}

both_databases! {
    /// Each revocation path sends exactly the SETs it should: a session's
    /// end is CAEP session-revoked (one per session), a revocation of
    /// refresh tokens or grants is OAuth tokens-revoked; each names the user,
    /// the client and the receipt the audit log records.
    async fn every_revocation_path_sends_its_sets(db: Backend) {
        let f = fixture(db).await;
        let receiver = Receiver::start().await;
        let rp = manager(&f.app).await;
        push_stream(&f.app, &rp, &receiver.ssf_url).await;
        let user = crate::support::urlencode(&f.user_id);
        let mut seen = 0;

        // /oauth/revoke of a refresh token by its client.
        let login = f.password_login().await;
        let response = f.app.http.post(f.app.url("/oauth/revoke")).form(&[("client_id", f.id.as_str()), ("client_secret", f.secret.as_str()), ("token", login.refresh_token.as_str())]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (sets, by_type) = expect_sets(&f, &receiver, &rp, seen, 1, "/oauth/revoke").await;
        assert_eq!(by_type, counts(0, 1));
        assert_eq!(sets[0]["events"][TOKENS_REVOKED]["client_id"], f.id);
        assert_eq!(sets[0]["events"][TOKENS_REVOKED]["initiating_entity"], "user");
        seen += 1;

        // DELETE /refresh-tokens/{id}.
        let before = f.token_ids().await;
        f.password_login().await;
        let token_id = f.token_id(&before).await;
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/refresh-tokens/{token_id}"), None).await;
        assert!(status.is_success());
        let (sets, by_type) = expect_sets(&f, &receiver, &rp, seen, 1, "DELETE /refresh-tokens").await;
        assert_eq!(by_type, counts(0, 1));
        assert_eq!(sets[0]["events"][TOKENS_REVOKED]["initiating_entity"], "admin");
        seen += 1;

        // DELETE /grants/{id}.
        f.password_login().await;
        let (_, grants) = f.app.mgmt_call(Method::GET, &format!("/grants?user_id={user}"), None).await;
        let grant_id = grants[0]["id"].as_str().unwrap().to_owned();
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/grants/{grant_id}"), None).await;
        assert!(status.is_success());
        let (_, by_type) = expect_sets(&f, &receiver, &rp, seen, 1, "DELETE /grants").await;
        assert_eq!(by_type, counts(0, 1));
        seen += 1;

        // DELETE /sessions/{id}: the session ends and its tokens go.
        let browser = new_browser();
        let sid = f.browser_login(&browser).await.session_id.unwrap();
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/sessions/{sid}"), None).await;
        assert!(status.is_success());
        let (sets, by_type) = expect_sets(&f, &receiver, &rp, seen, 2, "DELETE /sessions").await;
        assert_eq!(by_type, counts(1, 1));
        let session_set = sets.iter().find(|s| event_type(s) == SESSION_REVOKED).unwrap();
        assert_eq!(session_set["sub_id"]["session"]["id"], sid);
        seen += 2;

        // Browser logout: the session ends, its refresh tokens stay.
        let browser = new_browser();
        let sid = f.browser_login(&browser).await.session_id.unwrap();
        let response = get(&f.app, &browser, "/v2/logout").await;
        assert!(response.status().is_success());
        let (sets, by_type) = expect_sets(&f, &receiver, &rp, seen, 1, "/v2/logout").await;
        assert_eq!(by_type, counts(1, 0));
        assert_eq!(sets[0]["sub_id"]["session"]["id"], sid);
        seen += 1;

        // A replayed authorization code revokes what it issued.
        let browser = new_browser();
        let code = authorize_code_with(&f.app, &browser, &f.web_id, CALLBACK, &[("scope", SCOPE), ("audience", API)], EMAIL, PASSWORD).await;
        let (status, _) = exchange_code(&f.app, &f.web_id, Some(&f.web_secret), &code, CALLBACK, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = exchange_code(&f.app, &f.web_id, Some(&f.web_secret), &code, CALLBACK, None).await;
        assert!(status.is_client_error());
        let (sets, by_type) = expect_sets(&f, &receiver, &rp, seen, 1, "replayed code").await;
        assert_eq!(by_type, counts(0, 1));
        assert_eq!(sets[0]["events"][TOKENS_REVOKED]["initiating_entity"], "policy");
        seen += 1;

        // Blocking the user: every live session (two, plus the one of the
        // replayed code's browser) and all refresh tokens.
        let (_, before_block) = f.app.mgmt_call(Method::GET, &format!("/sessions?user_id={user}"), None).await;
        let _ = before_block;
        f.browser_login(&new_browser()).await;
        f.browser_login(&new_browser()).await;
        let live = f.app.count_rows(&format!("sessions WHERE user_id = '{}' AND ended_at IS NULL AND revoked_at IS NULL", f.user_id)).await as usize;
        assert!(live >= 2);
        let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/users/{user}"), Some(json!({"blocked": true}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, by_type) = expect_sets(&f, &receiver, &rp, seen, live + 1, "blocking").await;
        assert_eq!(by_type, counts(live, 1));
        // Every SET has its own jti.
        let jtis: std::collections::BTreeSet<String> = receiver.pushes().iter().map(|p| claims(&p.body)["jti"].as_str().unwrap().to_owned()).collect();
        assert_eq!(jtis.len(), receiver.pushes().len());
    }
}

both_databases! {
    /// Subjects: a stream with `default_subjects: NONE` hears only of users
    /// added; one with ALL, nothing of a user removed; a stream that did not
    /// request an event type gets none of it.
    async fn only_a_streams_subjects_and_events_are_sent(db: Backend) {
        let f = fixture(db).await;
        let rp = manager(&f.app).await;
        let none_receiver = Receiver::start().await;
        let removed_receiver = Receiver::start().await;
        let sessions_receiver = Receiver::start().await;
        let none = create(&f.app, &rp, json!({"delivery": {"method": PUSH, "endpoint_url": none_receiver.ssf_url, "authorization_header": "Bearer receiver-secret"}, "events_requested": [TOKENS_REVOKED], "default_subjects": "NONE"})).await;
        let removed = push_stream(&f.app, &rp, &removed_receiver.ssf_url).await;
        create(&f.app, &rp, json!({"delivery": {"method": PUSH, "endpoint_url": sessions_receiver.ssf_url}, "events_requested": [SESSION_REVOKED]})).await;
        let subject = json!({"format": "iss_sub", "iss": f.app.issuer, "sub": f.user_id});
        let (status, _) = call(&f.app, Some(&rp.token), Method::POST, "/ssf/subjects/remove", Some(json!({"stream_id": removed, "subject": subject}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let revoke_one = || async {
            let before = f.token_ids().await;
            f.password_login().await;
            let id = f.token_id(&before).await;
            let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/refresh-tokens/{id}"), None).await;
            assert!(status.is_success());
        };
        revoke_one().await;
        settled(&f.app).await;
        assert_eq!(f.app.count_rows("outbox").await, 0, "no stream takes this user's tokens-revoked yet");
        let (status, _) = call(&f.app, Some(&rp.token), Method::POST, "/ssf/subjects/add", Some(json!({"stream_id": none["stream_id"], "subject": {"format": "complex", "user": subject}}))).await;
        assert_eq!(status, StatusCode::OK);
        revoke_one().await;
        none_receiver.wait_for_pushes(1).await;
        settled(&f.app).await;
        assert_eq!(f.app.count_rows("outbox").await, 1);
        assert_eq!(removed_receiver.requests() + sessions_receiver.requests(), 0);
    }
}

both_databases! {
    /// RFC 8936: a poll stream's events wait for polls; `maxEvents` bounds
    /// a poll, `moreAvailable` says more wait, unacknowledged events come
    /// again, `ack` settles them delivered and `setErrs` failed (shown by
    /// `GET /api/v2/deliveries?stream_id=`).
    async fn a_poll_stream_returns_and_settles_its_events(db: Backend) {
        let f = fixture(db).await;
        let rp = manager(&f.app).await;
        let stream = create(&f.app, &rp, json!({"delivery": {"method": POLL}, "events_requested": [SESSION_REVOKED]})).await;
        let id = stream["stream_id"].as_str().unwrap().to_owned();
        let poll_path = format!("/ssf/poll/{id}");
        assert_eq!(stream["delivery"]["endpoint_url"], f.app.url(&poll_path));
        let mut sids = vec![];
        for _ in 0..3 {
            sids.push(f.browser_login(&new_browser()).await.session_id.unwrap());
        }
        let user = crate::support::urlencode(&f.user_id);
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/users/{user}/sessions"), None).await;
        assert!(status.is_success());
        // The worker never takes them.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(f.app.count_rows("outbox WHERE kind = 'ssf_poll' AND status = 'pending' AND attempts = 0").await, 3);

        let (status, first) = call(&f.app, Some(&rp.token), Method::POST, &poll_path, Some(json!({"maxEvents": 2, "returnImmediately": true}))).await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(first["moreAvailable"], true);
        let sets = first["sets"].as_object().unwrap();
        assert_eq!(sets.len(), 2);
        let mut got = vec![];
        for (jti, set) in sets {
            let claims = verify_set(&f.app, set.as_str().unwrap(), &rp.client_id).await;
            assert_eq!(&claims["jti"], jti);
            assert_matches_audit(&f.app, &claims, &f.user_id).await;
            got.push(jti.clone());
        }
        // Ack one, report the other; the third comes now.
        let (status, second) = call(&f.app, Some(&rp.token), Method::POST, &poll_path, Some(json!({"ack": [got[0]], "setErrs": {got[1].clone(): {"err": "invalid_key", "description": "cannot verify"}}}))).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(second["moreAvailable"], false);
        let third: Vec<String> = second["sets"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(third.len(), 1);
        assert!(!got.contains(&third[0]));
        // Not acknowledged: returned again.
        let (_, again) = call(&f.app, Some(&rp.token), Method::POST, &poll_path, Some(json!({"maxEvents": 10}))).await;
        assert_eq!(again["sets"].as_object().unwrap().keys().cloned().collect::<Vec<_>>(), third);
        let (_, last) = call(&f.app, Some(&rp.token), Method::POST, &poll_path, Some(json!({"ack": third, "maxEvents": 0}))).await;
        assert_eq!(last, json!({"sets": {}, "moreAvailable": false}));

        let (status, deliveries) = f.app.mgmt_call(Method::GET, &format!("/deliveries?stream_id={id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{deliveries}");
        let by_id: BTreeMap<String, Value> = deliveries.as_array().unwrap().iter().map(|d| (d["id"].as_str().unwrap().to_owned(), d.clone())).collect();
        assert_eq!(by_id.len(), 3);
        assert_eq!(by_id[&got[0]]["status"], "delivered");
        assert_eq!(by_id[&got[1]]["status"], "failed");
        assert_eq!(by_id[&got[1]]["last_error"], "the receiver reported invalid_key: cannot verify");
        assert_eq!(by_id[&third[0]]["status"], "delivered");
        assert_eq!(by_id[&third[0]]["type"], "ssf_poll");
    }
}

both_databases! {
    /// A paused stream holds its events and delivers them once enabled; a
    /// disabled stream gets nothing, not even after it is enabled again.
    async fn paused_streams_hold_and_disabled_streams_drop(db: Backend) {
        let f = fixture(db).await;
        let rp = manager(&f.app).await;
        let paused_receiver = Receiver::start().await;
        let disabled_receiver = Receiver::start().await;
        let paused = push_stream(&f.app, &rp, &paused_receiver.ssf_url).await;
        let disabled = push_stream(&f.app, &rp, &disabled_receiver.ssf_url).await;
        set_status(&f.app, &rp, &paused, "paused").await;
        set_status(&f.app, &rp, &disabled, "disabled").await;
        let browser = new_browser();
        f.browser_login(&browser).await;
        let response = get(&f.app, &browser, "/v2/logout").await;
        assert!(response.status().is_success());
        assert_eq!(f.app.count_rows(&format!("outbox WHERE destination = '{paused}' AND kind = 'ssf_held'")).await, 1);
        assert_eq!(f.app.count_rows(&format!("outbox WHERE destination = '{disabled}'")).await, 0);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(paused_receiver.requests(), 0, "held while paused");
        set_status(&f.app, &rp, &paused, "enabled").await;
        set_status(&f.app, &rp, &disabled, "enabled").await;
        let pushes = paused_receiver.wait_for_pushes(1).await;
        settled(&f.app).await;
        let claims = verify_push(&f.app, &pushes[0], &rp.client_id).await;
        assert_eq!(event_type(&claims), SESSION_REVOKED);
        assert_eq!(disabled_receiver.requests(), 0);
    }
}

both_databases! {
    /// A failing push receiver's RFC 8935 error is recorded; once it
    /// recovers it gets every event, in the order they were queued.
    async fn a_failing_push_receiver_gets_everything_after_it_recovers(db: Backend) {
        let f = fixture(db).await;
        let rp = manager(&f.app).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(401);
        let id = push_stream(&f.app, &rp, &receiver.ssf_url).await;
        for _ in 0..2 {
            let browser = new_browser();
            f.browser_login(&browser).await;
            assert!(get(&f.app, &browser, "/v2/logout").await.status().is_success());
        }
        receiver.wait_until("failed attempts", |r| r.requests() >= 2).await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (_, pending) = f.app.mgmt_call(Method::GET, &format!("/deliveries?stream_id={id}&status=pending"), None).await;
            let errors: Vec<&str> = pending.as_array().unwrap().iter().filter_map(|d| d["last_error"].as_str()).collect();
            if errors.len() == 2 {
                assert!(errors.iter().all(|e| *e == "the receiver answered 401: authentication_failed: the test receiver refuses"), "{errors:?}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{pending}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // The dashboard's SSF Streams page shows the stream and its failures.
        let admin = crate::dashboard::Admin::signed_in(&f.app).await;
        let html = admin.page("/dashboard/ssf-streams").await;
        assert!(html.contains(&id) && html.contains(&rp.client_id) && html.contains(&receiver.ssf_url), "{html}");
        assert!(html.contains("authentication_failed") && html.contains("SSF Streams"), "{html}");
        assert!(!html.contains("receiver-secret"), "the authorization header is never shown");
        receiver.answer_with(200);
        let pushes = receiver.wait_for_pushes(2).await;
        settled(&f.app).await;
        assert_eq!(receiver.pushes().len(), 2);
        for push in &pushes {
            let claims = verify_push(&f.app, push, &rp.client_id).await;
            assert_eq!(event_type(&claims), SESSION_REVOKED);
        }
        let (_, delivered) = f.app.mgmt_call(Method::GET, &format!("/deliveries?stream_id={id}&status=delivered"), None).await;
        assert_eq!(delivered.as_array().unwrap().len(), 2);
    }
}

both_databases! {
    /// A push given up after its last attempt pauses the stream, with a
    /// reason and an audit event; later events are held and delivered once
    /// the receiver enables the stream again.
    async fn a_stream_whose_delivery_fails_for_good_is_paused(db: Backend) {
        let database = std::sync::Arc::new(crate::support::TestDatabase::new(db).await);
        let mut options = crate::support::AppOptions::default();
        options.outbox.max_attempts = 1;
        let app = crate::support::spawn_app_on(database, options).await;
        let f = crate::management_refresh_tokens::fixture_on(app, crate::management_refresh_tokens::non_rotating()).await;
        let rp = manager(&f.app).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(500);
        let id = push_stream(&f.app, &rp, &receiver.ssf_url).await;
        let browser = new_browser();
        f.browser_login(&browser).await;
        assert!(get(&f.app, &browser, "/v2/logout").await.status().is_success());
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        let status = loop {
            let (_, status) = call(&f.app, Some(&rp.token), Method::GET, &format!("/ssf/status?stream_id={id}"), None).await;
            if status["status"] == "paused" {
                break status;
            }
            assert!(tokio::time::Instant::now() < deadline, "{status}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(status["reason"].as_str().unwrap().contains("failed for good: the receiver answered 500"), "{status}");
        assert_eq!(f.app.count_rows("logs WHERE description = 'SSF stream paused: a delivery failed for good'").await, 1);
        assert_eq!(receiver.requests(), 1);
        // Held while paused; delivered once enabled.
        receiver.answer_with(200);
        let browser = new_browser();
        f.browser_login(&browser).await;
        assert!(get(&f.app, &browser, "/v2/logout").await.status().is_success());
        assert_eq!(f.app.count_rows(&format!("outbox WHERE destination = '{id}' AND kind = 'ssf_held'")).await, 1);
        set_status(&f.app, &rp, &id, "enabled").await;
        let pushes = receiver.wait_for_pushes(1).await;
        settled(&f.app).await;
        assert_eq!(event_type(&verify_push(&f.app, &pushes[0], &rp.client_id).await), SESSION_REVOKED);
        let (_, failed) = f.app.mgmt_call(Method::GET, &format!("/deliveries?stream_id={id}&status=failed"), None).await;
        assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
        assert_eq!(failed[0]["stream_id"], id);
    }
}

both_databases! {
    /// A push in flight when the receiver pauses its stream is not pushed
    /// again: after the failed attempt it waits with the stream's held
    /// events and goes out once the stream is enabled.
    async fn a_push_in_flight_when_paused_waits_with_the_held_events(db: Backend) {
        let f = fixture(db).await;
        let rp = manager(&f.app).await;
        let receiver = Receiver::start().await;
        let id = push_stream(&f.app, &rp, &receiver.ssf_url).await;
        receiver.hold();
        receiver.answer_with(500);
        let browser = new_browser();
        f.browser_login(&browser).await;
        assert!(get(&f.app, &browser, "/v2/logout").await.status().is_success());
        receiver.wait_until("the push reached the receiver", |r| r.requests() == 1).await;
        set_status(&f.app, &rp, &id, "paused").await;
        receiver.release();
        let held = format!("outbox WHERE destination = '{id}' AND kind = 'ssf_held' AND status = 'pending' AND lease_owner IS NULL");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while f.app.count_rows(&held).await != 1 {
            assert!(tokio::time::Instant::now() < deadline, "the failed push never moved to the held events");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(receiver.requests(), 1, "nothing is pushed to a paused stream");
        receiver.answer_with(202);
        set_status(&f.app, &rp, &id, "enabled").await;
        let pushes = receiver.wait_for_pushes(1).await;
        settled(&f.app).await;
        assert_eq!(event_type(&verify_push(&f.app, &pushes[0], &rp.client_id).await), SESSION_REVOKED);
        assert_eq!(receiver.requests(), 2);
    }
}

both_databases! {
    /// Reuse detection (grantor's own policy) and deleting the user each
    /// send one tokens-revoked SET naming the user and the audit receipt.
    async fn reuse_detection_and_deleting_the_user_send_their_sets(db: Backend) {
        use crate::refresh_tokens::{password_grant, refresh, rotating, setup};
        let app = crate::support::spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let (_, users) = app.mgmt_call(Method::GET, &format!("/users-by-email?email={EMAIL}"), None).await;
        let user_id = users[0]["user_id"].as_str().unwrap().to_owned();
        let f = Fixture { app, id, secret, web_id: String::new(), web_secret: String::new(), user_id };
        let rp = manager(&f.app).await;
        let receiver = Receiver::start().await;
        push_stream(&f.app, &rp, &receiver.ssf_url).await;

        let first = password_grant(&f.app, &f.id, &f.secret, "read:orders offline_access").await;
        let first = first["refresh_token"].as_str().unwrap().to_owned();
        let (status, _) = refresh(&f.app, &f.id, &f.secret, &first).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = refresh(&f.app, &f.id, &f.secret, &first).await;
        assert!(status.is_client_error(), "reuse is refused");
        let (sets, by_type) = expect_sets(&f, &receiver, &rp, 0, 1, "reuse detection").await;
        assert_eq!(by_type, counts(0, 1));
        assert_eq!(sets[0]["events"][TOKENS_REVOKED]["initiating_entity"], "policy");
        assert_eq!(sets[0]["events"][TOKENS_REVOKED]["receipt"]["refresh_tokens"], 1, "{}", sets[0]);

        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/users/{}", crate::support::urlencode(&f.user_id)), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (sets, by_type) = expect_sets(&f, &receiver, &rp, 1, 1, "deleting the user").await;
        assert_eq!(by_type, counts(0, 1));
        assert_eq!(sets[0]["events"][TOKENS_REVOKED]["initiating_entity"], "admin");
    }
}

both_databases! {
    /// A revocation's SET is pushed at once (the worker is woken; its poll
    /// is a minute here), and revoking refresh tokens that are already dead
    /// announces nothing.
    async fn a_revocation_wakes_the_worker_and_a_repeat_announces_nothing(db: Backend) {
        let database = std::sync::Arc::new(crate::support::TestDatabase::new(db).await);
        let mut options = crate::support::AppOptions::default();
        options.outbox.poll_interval = Some(std::time::Duration::from_secs(60));
        let app = crate::support::spawn_app_on(database, options).await;
        let f = crate::management_refresh_tokens::fixture_on(app, crate::management_refresh_tokens::non_rotating()).await;
        let receiver = Receiver::start().await;
        let rp = manager(&f.app).await;
        push_stream(&f.app, &rp, &receiver.ssf_url).await;
        let before = f.token_ids().await;
        f.password_login().await;
        let token_id = f.token_id(&before).await;
        let revoke = || f.app.mgmt_call(Method::POST, "/refresh-tokens/revoke", Some(json!({"ids": [token_id]})));
        let started = std::time::Instant::now();
        assert!(revoke().await.0.is_success());
        let pushes = receiver.wait_for_pushes(1).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "pushed before the poll");
        assert_eq!(event_type(&claims(&pushes[0].body)), TOKENS_REVOKED);
        // Again: accepted, nothing ended, nothing staged or queued.
        assert!(revoke().await.0.is_success());
        assert_eq!(f.app.count_rows("ssf_backlog").await, 0);
        settled(&f.app).await;
        assert_eq!(f.app.count_rows("outbox WHERE kind IN ('ssf_push', 'ssf_poll', 'ssf_held')").await, 1);
        assert_eq!(receiver.pushes().len(), 1);
    }
}

both_databases! {
    /// A client holds at most 10 streams, also when it asks for fifteen at
    /// once: exactly ten are created, the rest are 409, and only the ten
    /// are audited.
    async fn a_client_gets_at_most_ten_streams_even_in_parallel(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        let rp = manager(&app).await;
        let mut attempts = tokio::task::JoinSet::new();
        for _ in 0..15 {
            let request = app.http.post(app.url("/ssf/streams")).bearer_auth(&rp.token).json(&json!({"delivery": {"method": POLL}}));
            attempts.spawn(async move { crate::support::read(request.send().await.unwrap()).await });
        }
        let answers = attempts.join_all().await;
        let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        let refused: Vec<_> = answers.iter().filter(|(s, _)| *s != StatusCode::CREATED).collect();
        assert_eq!(created, 10, "{answers:?}");
        for (status, body) in refused {
            assert_ssf_error(*status, body, StatusCode::CONFLICT);
        }
        assert_eq!(app.count_rows("ssf_streams").await, 10);
        // Counted by description: the machine token's own audit event goes
        // through the batching queue and may land at any moment.
        assert_eq!(app.count_rows("logs WHERE description LIKE 'Create an SSF stream%'").await, 10);
    }
}

/// Waits until `SELECT COUNT(*) FROM outbox WHERE …` reaches `want`.
async fn wait_for_count(app: &TestApp, condition: &str, want: i64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let got = app.count_rows(&format!("outbox WHERE {condition}")).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{condition}: {got}, not {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

both_databases! {
    /// A stream change moves the first thousand of its waiting events in
    /// its own call; the delivery worker moves the rest (a thousand per
    /// transaction), a poll sweeps its own stream before it reads, and a
    /// deletion ends them all. No change is as long as the backlog.
    async fn a_large_backlog_follows_its_streams_changes(db: Backend) {
        use grantor_domain::{FamilyId, GrantId, ScopeSet, UserId};
        const N: usize = 1_500;
        let f = fixture(db).await;
        let rp = manager(&f.app).await;
        let stream = create(&f.app, &rp, json!({"delivery": {"method": POLL}, "events_requested": [TOKENS_REVOKED]})).await;
        let id = stream["stream_id"].as_str().unwrap().to_owned();

        // N users with one token each, revoked by one revocation (the
        // fixture writes them straight to the store).
        let store = f.app.store().await;
        let now = f.app.clock.now();
        let user = |i: usize| format!("auth0|bulk{i:05}");
        let model = store.user(&UserId::from(&f.user_id)).await.unwrap().unwrap();
        let users = (0..N)
            .map(|i| {
                let mut u = model.clone();
                u.user_id = UserId::from(user(i));
                u.email = format!("bulk{i:05}@example.com");
                u.username = None;
                u
            })
            .collect();
        let grants: Vec<grantor_store::UserGrant> = (0..N)
            .map(|i| grantor_store::UserGrant {
                id: GrantId::from(format!("bulk-grant-{i}")),
                user_id: UserId::from(user(i)),
                client_id: f.id.as_str().into(),
                audience: API.to_owned(),
                scope: ScopeSet::parse("offline_access"),
                token_epoch: 0,
                created_at: now,
                updated_at: now,
            })
            .collect();
        let families = grants
            .iter()
            .enumerate()
            .map(|(i, g)| grantor_store::NewFamily {
                dpop_jkt: None,
                id: FamilyId::from(format!("bulk-family-{i}")),
                user_id: g.user_id.clone(),
                client_id: g.client_id.clone(),
                grant_id: g.id.clone(),
                grant_epoch: 0,
                session_id: None,
                audience: API.to_owned(),
                scope: "offline_access".to_owned(),
                rotating: true,
                device_name: None,
                ip: "127.0.0.1".to_owned(),
                user_agent: "test".to_owned(),
                auth_time: now,
                created_at: now,
                expires_at: None,
                idle_expires_at: None,
                secret_hash: grantor_domain::TokenHash::of(&format!("bulk-token-{i}")),
            })
            .collect();
        store.import(&grantor_store::ImportBatch { users, grants, families }).await.unwrap();
        store
            .revoke(
                &grantor_store::RevocationTarget::Families {
                    family_ids: (0..N).map(|i| FamilyId::from(format!("bulk-family-{i}"))).collect(),
                },
                grantor_domain::Reason::ManagementApi,
                &grantor_store::LogEvent {
                    log_id: format!("{:020}bulk", now.0),
                    date: now,
                    type_code: "srrt".to_owned(),
                    description: "bulk".to_owned(),
                    client_id: None,
                    client_name: None,
                    user_id: None,
                    user_name: None,
                    ip: None,
                    user_agent: None,
                    details: json!({}),
                },
                now,
            )
            .await
            .unwrap();
        let n = N as i64;
        let mine = format!("destination = '{id}' AND status = 'pending'");
        wait_for_count(&f.app, &format!("{mine} AND kind = 'ssf_poll'"), n).await;

        // Paused: the call holds the first thousand itself, the worker the rest.
        set_status(&f.app, &rp, &id, "paused").await;
        assert!(f.app.count_rows(&format!("outbox WHERE {mine} AND kind = 'ssf_held'")).await >= 1_000);
        wait_for_count(&f.app, &format!("{mine} AND kind = 'ssf_held'"), n).await;
        assert_eq!(f.app.count_rows("outbox_sweep").await, 0, "nothing left for the sweep");

        // Enabled again: a poll returns events at once, and all of them wait for polls.
        set_status(&f.app, &rp, &id, "enabled").await;
        let (status, polled) = call(&f.app, Some(&rp.token), Method::POST, &format!("/ssf/poll/{id}"), Some(json!({"maxEvents": 5, "returnImmediately": true}))).await;
        assert_eq!(status, StatusCode::OK, "{polled}");
        assert_eq!(polled["sets"].as_object().unwrap().len(), 5);
        assert_eq!(polled["moreAvailable"], true);
        assert_eq!(f.app.count_rows(&format!("outbox WHERE {mine} AND kind = 'ssf_poll'")).await, n);

        // Deleted: every event ends, with the reason.
        let (status, _) = call(&f.app, Some(&rp.token), Method::DELETE, &format!("/ssf/streams?stream_id={id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        wait_for_count(&f.app, &format!("destination = '{id}' AND status = 'failed' AND last_error = 'the stream was deleted'"), n).await;
        wait_for_count(&f.app, &mine, 0).await;
    }
}
