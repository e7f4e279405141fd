//! Auth0 log streams of type `http`: the Management API in Auth0's shapes
//! and scopes, and delivery through the outbox to a real receiver: the
//! events of a sign-in, a refresh and a revocation arrive once each, in
//! order, with the stream's `Authorization` header and content format;
//! category filters drop the rest; a failing receiver gets everything once
//! it recovers; failures long enough suspend the stream (with its audit
//! event) and an update back to `active` resumes it; a paused stream gets
//! nothing; `GET /deliveries?stream_id=` shows each batch.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::management_refresh_tokens::{call_with, fixture_on, non_rotating, token_with, Fixture};
use crate::refresh_tokens::refresh;
use crate::support::receiver::{RawRequest, Receiver};
use crate::support::{
    assert_mgmt_error, spawn_app, spawn_app_on, AppOptions, TestApp, TestDatabase,
};

fn stream_body(url: &str, format: &str, filters: &[&str]) -> Value {
    json!({
        "name": "audit sink",
        "type": "http",
        "sink": {
            "httpEndpoint": url,
            "httpContentType": "application/json",
            "httpContentFormat": format,
            "httpAuthorization": "Bearer stream-secret",
            "httpCustomHeaders": [{"header": "X-Tenant", "value": "acme"}],
        },
        "filters": filters.iter().map(|f| json!({"type": "category", "name": f})).collect::<Vec<_>>(),
    })
}

async fn create_stream(app: &TestApp, body: Value) -> Value {
    let (status, stream) = app
        .mgmt_call(Method::POST, "/log-streams", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{stream}");
    stream
}

/// The events of every accepted request, in arrival order, parsed by the
/// stream's content format.
fn events(requests: &[RawRequest], format: &str) -> Vec<Value> {
    requests
        .iter()
        .flat_map(|r| match format {
            "JSONARRAY" => serde_json::from_str::<Vec<Value>>(&r.body).unwrap(),
            "JSONLINES" => r
                .body
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            _ => vec![serde_json::from_str(&r.body).unwrap()],
        })
        .collect()
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["data"]["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn wait_for_events(receiver: &Receiver, format: &str, n: usize) -> Vec<Value> {
    receiver
        .wait_until(&format!("{n} streamed events arrived"), |r| {
            events(&r.raw_accepted(), format).len() >= n
        })
        .await;
    events(&receiver.raw_accepted(), format)
}

/// Waits until nothing is staged and no stream batch is pending.
async fn drained(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let staged = app.count_rows("log_stream_backlog").await;
        let pending = app
            .count_rows("outbox WHERE kind = 'log_stream_batch' AND status = 'pending'")
            .await;
        if staged == 0 && pending == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{staged} staged, {pending} pending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stream_status(app: &TestApp, id: &str) -> String {
    let (status, body) = app
        .mgmt_call(Method::GET, &format!("/log-streams/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["status"].as_str().unwrap().to_owned()
}

async fn wait_for_status(app: &TestApp, id: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while stream_status(app, id).await != want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream never became {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn deliveries(app: &TestApp, stream_id: &str) -> Vec<Value> {
    let (status, body) = app
        .mgmt_call(
            Method::GET,
            &format!("/deliveries?stream_id={stream_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

/// A machine client (created before the stream, so its `sapi` events are
/// not streamed).
struct Machine {
    id: String,
    secret: String,
}

async fn machine(app: &TestApp) -> Machine {
    let (id, secret, _) = app
        .create_client(json!({"name": "m2m", "grant_types": ["client_credentials"]}))
        .await;
    app.create_client_grant(&id, &app.management_audience(), &["read:logs"])
        .await;
    Machine { id, secret }
}

/// A machine-token exchange: one `seccft` event (through the audit queue).
/// A machine token, once its `seccft` event is stored: the audit queue
/// writes it after the answer, and a test that changes a stream next must
/// not race that write.
async fn machine_event(f: &Fixture, m: &Machine) {
    const STORED: &str = "logs WHERE type = 'seccft'";
    let before = f.app.count_rows(STORED).await;
    let audience = f.app.management_audience();
    let _ = f.app.client_credentials(&m.id, &m.secret, &audience).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while f.app.count_rows(STORED).await <= before {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the seccft event was never stored"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

both_databases! {
    /// Create, list, read, update and delete in Auth0's shapes, each change
    /// audited; scopes enforced; bad bodies 400; unknown ids 404.
    async fn crud_in_auth0_shapes_with_scopes(db: Backend) {
        let app = spawn_app(db).await;
        let stream = create_stream(&app, stream_body("https://logs.example.com/in", "JSONARRAY", &["auth.login.success"])).await;
        let id = stream["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("lst_"), "{stream}");
        assert_eq!(stream["type"], "http");
        assert_eq!(stream["status"], "active");
        assert_eq!(stream["sink"]["httpEndpoint"], "https://logs.example.com/in");
        assert_eq!(stream["sink"]["httpContentFormat"], "JSONARRAY");
        assert_eq!(stream["sink"]["httpCustomHeaders"], json!([{"header": "X-Tenant", "value": "acme"}]));
        assert_eq!(stream["filters"], json!([{"type": "category", "name": "auth.login.success"}]));
        assert!(stream["sink"].get("httpAuthorization").is_none(), "the secret is never shown: {stream}");

        let (status, list) = app.mgmt_call(Method::GET, "/log-streams", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list, json!([stream.clone()]));
        let (status, got) = app.mgmt_call(Method::GET, &format!("/log-streams/{id}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, stream);

        let (status, updated) = app.mgmt_call(Method::PATCH, &format!("/log-streams/{id}"), Some(json!({
            "name": "renamed", "status": "paused", "sink": {"httpContentFormat": "JSONLINES"}, "filters": []
        }))).await;
        assert_eq!(status, StatusCode::OK, "{updated}");
        assert_eq!(updated["name"], "renamed");
        assert_eq!(updated["status"], "paused");
        assert_eq!(updated["sink"]["httpContentFormat"], "JSONLINES");
        assert_eq!(updated["sink"]["httpEndpoint"], "https://logs.example.com/in");
        assert_eq!(updated["filters"], json!([]));

        // `type` cannot change; `suspended` is grantor's to set.
        for body in [json!({"type": "http"}), json!({"status": "suspended"}), json!({"status": "on"})] {
            let (status, err) = app.mgmt_call(Method::PATCH, &format!("/log-streams/{id}"), Some(body)).await;
            assert_mgmt_error(status, &err, StatusCode::BAD_REQUEST);
        }
        // Bad create bodies.
        let url = "https://logs.example.com/in";
        for body in [
            json!({"name": "x", "type": "http"}),
            json!({"name": "x", "type": "datadog", "sink": {"httpEndpoint": url}}),
            json!({"type": "http", "sink": {"httpEndpoint": url, "httpContentType": "application/json", "httpContentFormat": "JSONARRAY"}}),
            json!({"name": "x", "type": "http", "sink": {"httpEndpoint": url, "httpContentType": "application/json", "httpContentFormat": "XML"}}),
            json!({"name": "x", "type": "http", "sink": {"httpEndpoint": url, "httpContentType": "application/json", "httpContentFormat": "JSONARRAY"}, "filters": [{"type": "category", "name": "nope"}]}),
            json!({"name": "x", "type": "http", "sink": {"httpEndpoint": url, "httpContentType": "application/json", "httpContentFormat": "JSONARRAY", "extra": 1}}),
            json!({"name": "x", "type": "http", "status": "active", "sink": {"httpEndpoint": url, "httpContentType": "application/json", "httpContentFormat": "JSONARRAY"}}),
        ] {
            let (status, err) = app.mgmt_call(Method::POST, "/log-streams", Some(body.clone())).await;
            assert_mgmt_error(status, &err, StatusCode::BAD_REQUEST);
        }
        // Unknown ids.
        for method in [Method::GET, Method::PATCH, Method::DELETE] {
            let body = (method == Method::PATCH).then(|| json!({"name": "n"}));
            let (status, err) = app.mgmt_call(method, "/log-streams/lst_unknown", body).await;
            assert_mgmt_error(status, &err, StatusCode::NOT_FOUND);
        }
        // Scopes: a reader cannot create, update or delete.
        let reader = token_with(&app, &["read:log_streams"]).await;
        let (status, err) = call_with(&app, &reader, Method::POST, "/log-streams", Some(stream_body(url, "JSONARRAY", &[]))).await;
        assert_mgmt_error(status, &err, StatusCode::FORBIDDEN);
        let (status, err) = call_with(&app, &reader, Method::PATCH, &format!("/log-streams/{id}"), Some(json!({"name": "n"}))).await;
        assert_mgmt_error(status, &err, StatusCode::FORBIDDEN);
        let (status, err) = call_with(&app, &reader, Method::DELETE, &format!("/log-streams/{id}"), None).await;
        assert_mgmt_error(status, &err, StatusCode::FORBIDDEN);
        let (status, _) = call_with(&app, &reader, Method::GET, "/log-streams", None).await;
        assert_eq!(status, StatusCode::OK);
        let writer = token_with(&app, &["create:log_streams"]).await;
        let (status, err) = call_with(&app, &writer, Method::GET, &format!("/log-streams/{id}"), None).await;
        assert_mgmt_error(status, &err, StatusCode::FORBIDDEN);

        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/log-streams/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, err) = app.mgmt_call(Method::GET, &format!("/log-streams/{id}"), None).await;
        assert_mgmt_error(status, &err, StatusCode::NOT_FOUND);

        // Every change audited.
        let descriptions = app.query_strings("SELECT description FROM logs WHERE type = 'sapi' ORDER BY log_id").await;
        for d in [format!("Create log stream {id}"), format!("Update log stream {id}"), format!("Delete log stream {id}")] {
            assert!(descriptions.contains(&d), "{d} in {descriptions:?}");
        }
    }
}

both_databases! {
    /// Hostile endpoints and headers are refused with a 400, nothing stored.
    async fn hostile_urls_and_headers_are_refused(db: Backend) {
        let app = spawn_app(db).await;
        let sink = |endpoint: &str, headers: Value| json!({"name": "x", "type": "http", "sink": {
            "httpEndpoint": endpoint, "httpContentType": "application/json",
            "httpContentFormat": "JSONARRAY", "httpCustomHeaders": headers}});
        for endpoint in ["file:///etc/passwd", "javascript:alert(1)", "ftp://logs.example.com/", "https://user:pw@logs.example.com/", "/relative", "", "https://logs.example.com/#f"] {
            let (status, err) = app.mgmt_call(Method::POST, "/log-streams", Some(sink(endpoint, json!([])))).await;
            assert_mgmt_error(status, &err, StatusCode::BAD_REQUEST);
        }
        for headers in [
            json!([{"header": "Host", "value": "evil"}]),
            json!([{"header": "Content-Length", "value": "1"}]),
            json!([{"header": "X-A", "value": "a\r\nX-B: b"}]),
            json!([{"header": "X A", "value": "a"}]),
        ] {
            let (status, err) = app.mgmt_call(Method::POST, "/log-streams", Some(sink("https://logs.example.com/", headers))).await;
            assert_mgmt_error(status, &err, StatusCode::BAD_REQUEST);
        }
        assert_eq!(app.count_rows("log_streams").await, 0);
    }
}

both_databases! {
    /// A sign-in, a refresh and a revocation reach the receiver as exactly
    /// those three events, once each, in log-id order, with the stream's
    /// headers and format; events of other categories are dropped.
    async fn sign_in_refresh_and_revoke_arrive_once_in_order(db: Backend) {
        let f = fixture_on(spawn_app(db).await, non_rotating()).await;
        let m = machine(&f.app).await;
        let receiver = Receiver::start().await;
        let stream = create_stream(&f.app, stream_body(&receiver.stream_url, "JSONLINES", &["auth.token_exchange.success"])).await;
        let stream_id = stream["id"].as_str().unwrap().to_owned();
        machine_event(&f, &m).await;
        let browser = crate::support::browser::new_browser();
        let login = f.browser_login(&browser).await;
        let (status, body) = refresh(&f.app, &f.web_id, &f.web_secret, &login.refresh_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let rt = body["refresh_token"].as_str().map_or(login.refresh_token.clone(), str::to_owned);
        let response = f.app.http.post(f.app.url("/oauth/revoke")).form(&[
            ("token", rt.as_str()), ("client_id", f.web_id.as_str()), ("client_secret", f.web_secret.as_str()),
        ]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // The machine token (seccft) is also a token exchange: four events.
        wait_for_events(&receiver, "JSONLINES", 4).await;
        drained(&f.app).await;
        let got = events(&receiver.raw_accepted(), "JSONLINES");
        let mut got_types = types(&got);
        got_types.sort();
        let mut want = vec!["seccft", "seacft", "sertft", "srrt"];
        want.sort_unstable();
        assert_eq!(got_types, want, "{got:?}");
        let ids: Vec<&str> = got.iter().map(|e| e["log_id"].as_str().unwrap()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(ids, sorted, "each once, in log-id order");
        for request in receiver.raw_accepted() {
            assert_eq!(request.headers["authorization"], "Bearer stream-secret");
            assert_eq!(request.headers["x-tenant"], "acme");
            assert_eq!(request.headers["content-type"], "application/json");
        }
        // Each event is what GET /logs/{id} renders, wrapped.
        for event in &got {
            let id = event["log_id"].as_str().unwrap();
            let (status, log) = f.app.mgmt_call(Method::GET, &format!("/logs/{id}"), None).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(event["data"], log);
        }
        // The Management API calls (management.success) were filtered out.
        assert!(!types(&got).contains(&"sapi".to_owned()));
        let batches = deliveries(&f.app, &stream_id).await;
        assert!(!batches.is_empty());
        let carried: u64 = batches.iter().map(|b| {
            assert_eq!(b["type"], "log_stream_batch");
            assert_eq!(b["status"], "delivered", "{b}");
            assert_eq!(b["stream_id"], stream_id.as_str());
            b["events"].as_u64().unwrap()
        }).sum();
        assert_eq!(carried, 4);
    }
}

both_databases! {
    /// A receiver that fails gets every event once it recovers; meanwhile
    /// the deliveries show the batch pending with its attempts and error.
    async fn a_failing_receiver_gets_everything_once_it_recovers(db: Backend) {
        let f = fixture_on(spawn_app(db).await, non_rotating()).await;
        let m = machine(&f.app).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(503);
        let stream = create_stream(&f.app, stream_body(&receiver.stream_url, "JSONARRAY", &[])).await;
        let stream_id = stream["id"].as_str().unwrap().to_owned();
        machine_event(&f, &m).await;
        receiver.wait_until("two failed attempts", |r| r.requests() >= 2).await;
        let pending = deliveries(&f.app, &stream_id).await;
        assert!(pending.iter().any(|b| b["status"] == "pending"
            && b["attempts"].as_i64().unwrap() >= 1
            && b["last_error"] == "the receiver answered 503"), "{pending:?}");
        receiver.answer_with(200);
        drained(&f.app).await;
        let got = events(&receiver.raw_accepted(), "JSONARRAY");
        let got_types = types(&got);
        // The stream's own creation (sapi) and the machine token (seccft).
        assert!(got_types.contains(&"sapi".to_owned()), "{got_types:?}");
        assert!(got_types.contains(&"seccft".to_owned()), "{got_types:?}");
        let mut ids: Vec<&str> = got.iter().map(|e| e["log_id"].as_str().unwrap()).collect();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "each event once");
        assert!(deliveries(&f.app, &stream_id).await.iter().all(|b| b["status"] == "delivered"));
        assert_eq!(stream_status(&f.app, &stream_id).await, "active");
    }
}

both_databases! {
    /// Failing long enough (here: at once) suspends the stream with its
    /// audit event; its pending batch ends; an update back to `active`
    /// resumes delivery of new events.
    async fn repeated_failure_suspends_and_an_update_resumes(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let mut options = AppOptions::default();
        options.outbox.stream_suspend_after = Duration::ZERO;
        let f = fixture_on(spawn_app_on(database, options).await, non_rotating()).await;
        let m = machine(&f.app).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(500);
        let stream = create_stream(&f.app, stream_body(&receiver.stream_url, "JSONOBJECT", &["auth.token_exchange.success"])).await;
        let stream_id = stream["id"].as_str().unwrap().to_owned();
        machine_event(&f, &m).await;
        wait_for_status(&f.app, &stream_id, "suspended").await;
        let suspended = f.app.query_strings("SELECT details FROM logs WHERE type = 'log_stream_suspended'").await;
        assert_eq!(suspended.len(), 1, "{suspended:?}");
        assert!(suspended[0].contains(&stream_id));
        drained(&f.app).await;
        let batches = deliveries(&f.app, &stream_id).await;
        assert!(batches.iter().all(|b| b["status"] == "failed"), "{batches:?}");
        // Nothing is staged for a suspended stream.
        machine_event(&f, &m).await;
        receiver.answer_with(200);
        // A rename does not resume it, and answers with the stored status.
        let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/log-streams/{stream_id}"), Some(json!({"name": "renamed"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!((body["name"].as_str(), body["status"].as_str()), (Some("renamed"), Some("suspended")));
        let (_, read) = f.app.mgmt_call(Method::GET, &format!("/log-streams/{stream_id}"), None).await;
        assert_eq!(read["status"], "suspended");
        let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/log-streams/{stream_id}"), Some(json!({"status": "active"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "active");
        machine_event(&f, &m).await;
        let got = wait_for_events(&receiver, "JSONOBJECT", 1).await;
        drained(&f.app).await;
        assert_eq!(types(&events(&receiver.raw_accepted(), "JSONOBJECT")), vec!["seccft"], "{got:?}");
    }
}

both_databases! {
    /// A paused stream gets nothing, while an active one gets the events.
    async fn a_paused_stream_gets_nothing(db: Backend) {
        let f = fixture_on(spawn_app(db).await, non_rotating()).await;
        let m = machine(&f.app).await;
        let (paused_rx, active_rx) = (Receiver::start().await, Receiver::start().await);
        let paused = create_stream(&f.app, stream_body(&paused_rx.stream_url, "JSONARRAY", &["auth.token_exchange.success"])).await;
        let paused_id = paused["id"].as_str().unwrap().to_owned();
        let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/log-streams/{paused_id}"), Some(json!({"status": "paused"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        create_stream(&f.app, stream_body(&active_rx.stream_url, "JSONARRAY", &["auth.token_exchange.success"])).await;
        machine_event(&f, &m).await;
        wait_for_events(&active_rx, "JSONARRAY", 1).await;
        drained(&f.app).await;
        assert_eq!(paused_rx.requests(), 0);
        assert!(deliveries(&f.app, &paused_id).await.is_empty());
    }
}

both_databases! {
    /// The dashboard's Log Streams page shows each stream's status, failure
    /// count, last error and newest batches; names are escaped and the
    /// authorization secret is never shown.
    async fn the_dashboard_shows_each_streams_health_and_batches(db: Backend) {
        let f = fixture_on(spawn_app(db).await, non_rotating()).await;
        let m = machine(&f.app).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(503);
        let mut body = stream_body(&receiver.stream_url, "JSONARRAY", &["auth.token_exchange.success"]);
        body["name"] = json!("<script>x</script>");
        let stream = create_stream(&f.app, body).await;
        let stream_id = stream["id"].as_str().unwrap().to_owned();
        machine_event(&f, &m).await;
        receiver.wait_until("a failed attempt", |r| r.requests() >= 1).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let admin = crate::dashboard::Admin::signed_in(&f.app).await;
        let html = loop {
            let html = admin.page("/dashboard/log-streams").await;
            if html.contains("the receiver answered 503") {
                break html;
            }
            assert!(tokio::time::Instant::now() < deadline, "{html}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(html.contains(&stream_id));
        assert!(html.contains("&#60;script&#62;x"), "{html}");
        assert!(!html.contains("<script>x"));
        assert!(!html.contains("stream-secret"));
        assert!(html.contains("auth.token_exchange.success"));
        assert!(html.contains(r#"href="/dashboard/log-streams" aria-current="page""#));
    }
}

both_databases! {
    /// A receiver that does not answer never holds the calls whose events
    /// it is sent: revocations and token exchanges return while it holds
    /// every request, and it gets their events once it answers.
    async fn a_slow_receiver_never_holds_a_request(db: Backend) {
        let f = fixture_on(spawn_app(db).await, non_rotating()).await;
        let m = machine(&f.app).await;
        let receiver = Receiver::start().await;
        receiver.hold();
        create_stream(&f.app, stream_body(&receiver.stream_url, "JSONARRAY", &["auth.token_exchange.success"])).await;
        machine_event(&f, &m).await;
        receiver.wait_until("a request is held", |r| r.requests() >= 1).await;
        let started = std::time::Instant::now();
        for _ in 0..5 {
            let login = f.password_login().await;
            let response = f.app.http.post(f.app.url("/oauth/revoke")).form(&[
                ("token", login.refresh_token.as_str()), ("client_id", f.id.as_str()), ("client_secret", f.secret.as_str()),
            ]).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
        assert!(receiver.raw_accepted().is_empty());
        receiver.release();
        // One seccft, then five sepft and five srrt.
        let got = wait_for_events(&receiver, "JSONARRAY", 11).await;
        drained(&f.app).await;
        let got_types = types(&events(&receiver.raw_accepted(), "JSONARRAY"));
        assert_eq!(got_types.iter().filter(|t| *t == "srrt").count(), 5, "{got:?}");
        assert_eq!(got_types.len(), 11, "{got_types:?}");
    }
}

both_databases! {
    /// Two processes on one database batch and send each event once.
    async fn two_processes_stream_each_event_once(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let f = fixture_on(spawn_app_on(database.clone(), AppOptions::default()).await, non_rotating()).await;
        let second = spawn_app_on(database, AppOptions {
            issuer: Some(f.app.issuer.clone()),
            ..AppOptions::default()
        }).await;
        let m = machine(&f.app).await;
        let receiver = Receiver::start().await;
        create_stream(&f.app, stream_body(&receiver.stream_url, "JSONLINES", &["auth.token_exchange.success"])).await;
        const EVENTS: usize = 30;
        for i in 0..EVENTS {
            let app = if i % 2 == 0 { &f.app } else { &second };
            let _ = app.client_credentials(&m.id, &m.secret, &f.app.management_audience()).await;
        }
        wait_for_events(&receiver, "JSONLINES", EVENTS).await;
        drained(&f.app).await;
        let got = events(&receiver.raw_accepted(), "JSONLINES");
        let mut ids: Vec<&str> = got.iter().map(|e| e["log_id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), EVENTS, "each event once");
        assert_eq!(got.len(), EVENTS);
        second.stop().await;
    }
}

both_databases! {
    /// Deleting a stream ends its pending batches without a request.
    async fn a_deleted_stream_ends_its_pending_batches(db: Backend) {
        let f = fixture_on(spawn_app(db).await, non_rotating()).await;
        let m = machine(&f.app).await;
        let receiver = Receiver::start().await;
        receiver.answer_with(503);
        let stream = create_stream(&f.app, stream_body(&receiver.stream_url, "JSONARRAY", &[])).await;
        let stream_id = stream["id"].as_str().unwrap().to_owned();
        machine_event(&f, &m).await;
        receiver.wait_until("a failed attempt", |r| r.requests() >= 1).await;
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/log-streams/{stream_id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        drained(&f.app).await;
        let batches = deliveries(&f.app, &stream_id).await;
        assert!(!batches.is_empty());
        assert!(batches.iter().all(|b| b["status"] == "failed"), "{batches:?}");
        assert!(batches.iter().any(|b| b["last_error"] == "the log stream was deleted"), "{batches:?}");
    }
}
