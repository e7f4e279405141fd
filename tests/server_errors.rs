//! A 5xx on each surface, provoked by renaming columns under the running
//! server: the client gets the surface's generic 500, and the log gets one
//! `error` line with the cause, inside the request's span, without secrets.
//!
//! The log is read with a subscriber of the test's own, set for the test's
//! thread; the test runs on a current-thread runtime, so the server's tasks
//! log on that thread too. It is a test binary of its own, with one test
//! that runs both databases one after the other: `tracing` caches whether a
//! callsite is wanted when it is first hit, and another test's thread
//! hitting the server's `request` span while this test's subscriber was
//! being set could leave that span switched off (seen as a rare failure in
//! the shared `it` binary).

#[allow(dead_code, unused_imports, unused_macros)]
#[path = "it/support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::support::browser::{authorize_path, get, input_value, new_browser, post_form};
use crate::support::{
    read, spawn_app, Backend, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, MGMT_CLIENT_SECRET,
};

const API: &str = "https://api.example.test/";
const CALLBACK: &str = "https://app.example.test/callback";

/// One logged event: level, its fields (`message` included) and the spans it
/// was inside, innermost first, each as `name{fields}`.
#[derive(Debug, Clone)]
struct Line {
    level: Level,
    text: String,
    spans: Vec<String>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Line>>>);

impl Recorder {
    fn take(&self) -> Vec<Line> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// `name=value` pairs, as the fmt subscriber writes them.
struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, "{}={} ", field.name(), value);
    }
}

struct SpanFields(String);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut text = String::new();
        attrs.record(&mut Fields(&mut text));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(text));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut text = String::new();
        event.record(&mut Fields(&mut text));
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| {
                        let fields = span
                            .extensions()
                            .get::<SpanFields>()
                            .map(|f| f.0.clone())
                            .unwrap_or_default();
                        format!("{}{{{}}}", span.name(), fields.trim_end())
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.lock().unwrap().push(Line {
            level: *event.metadata().level(),
            text,
            spans,
        });
    }
}

/// Runs `sql` on the server's database through a connection of the test's own.
async fn execute(app: &TestApp, sql: &str) {
    match app.db.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(app.db.url()).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.db.url()).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// The one `error` line the request to `path` left, checked for what every
/// such line must hold.
fn the_error_line(recorder: &Recorder, path: &str, column: &str, secrets: &[&str]) -> Line {
    let lines = recorder.take();
    for line in &lines {
        for secret in secrets {
            let logged = format!("{} {}", line.text, line.spans.join(" "));
            assert!(!logged.contains(secret), "a secret was logged: {line:?}");
        }
    }
    let errors: Vec<&Line> = lines.iter().filter(|l| l.level == Level::ERROR).collect();
    assert_eq!(errors.len(), 1, "{path}: one error line, got {lines:#?}");
    let line = errors[0].clone();
    assert!(line.text.contains("status=500"), "{line:?}");
    assert!(
        line.text.contains("cause=") && line.text.contains(column),
        "{path}: the cause is logged: {line:?}"
    );
    assert!(
        line.spans
            .iter()
            .any(|s| s.starts_with("request{") && s.contains(&format!("path={path}"))),
        "{path}: inside the request's span: {line:?}"
    );
    line
}

async fn run(backend: Backend) {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = spawn_app(backend).await;
    app.create_api(API, &["read:a"]).await;
    let (machine, machine_secret, _) = app
        .create_client(json!({"name": "worker", "grant_types": ["client_credentials"]}))
        .await;
    app.create_client_grant(&machine, API, &["read:a"]).await;
    let (web, _, _) = app
        .create_client(json!({"name": "web", "callbacks": [CALLBACK]}))
        .await;
    let admin = new_browser();
    let html = get(&app, &admin, "/dashboard/login")
        .await
        .text()
        .await
        .unwrap();
    let csrf = input_value(&html, "csrf").unwrap();
    let response = post_form(
        &app,
        &admin,
        "/dashboard/login",
        &[
            ("csrf", &csrf),
            ("email", ADMIN_EMAIL),
            ("password", ADMIN_PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let mgmt = app.mgmt_token().await;
    let secrets = [
        machine_secret.as_str(),
        MGMT_CLIENT_SECRET,
        ADMIN_PASSWORD,
        mgmt.as_str(),
    ];

    // Every query on APIs and users fails from here on.
    execute(
        &app,
        "ALTER TABLE resource_servers RENAME COLUMN identifier TO identifier_gone",
    )
    .await;
    execute(&app, "ALTER TABLE users RENAME COLUMN email TO email_gone").await;
    recorder.take();

    // The Authentication API.
    let (status, body) = read(
        app.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &machine),
            ("client_secret", &machine_secret),
            ("audience", API),
        ])
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": "server_error", "error_description": "The server could not complete the request"})
    );
    the_error_line(&recorder, "/oauth/token", "identifier", &secrets);

    // The Management API.
    let (status, body) = read(
        app.http
            .get(app.url("/api/v2/resource-servers"))
            .bearer_auth(&mgmt)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"statusCode": 500, "error": "Internal Server Error", "message": "Internal Server Error"})
    );
    the_error_line(
        &recorder,
        "/api/v2/resource-servers",
        "identifier",
        &secrets,
    );

    // The browser pages.
    let path = authorize_path(&web, CALLBACK, &[("audience", API), ("scope", "openid")]);
    let response = get(&app, &new_browser(), &path).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let html = response.text().await.unwrap();
    assert!(html.contains("The server could not complete the request"));
    assert!(!html.contains("identifier"), "no cause on the page");
    the_error_line(&recorder, "/authorize", "identifier", &secrets);

    // The dashboard.
    let response = get(&app, &admin, "/dashboard/users").await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let html = response.text().await.unwrap();
    assert!(html.contains("The server could not complete the request"));
    assert!(!html.contains("email_gone"), "no cause on the page");
    the_error_line(&recorder, "/dashboard/users", "email", &secrets);

    // A refusal below 500 logs nothing at `error`; one with a cause (why the
    // token was not accepted) logs it at `debug`.
    let response = app
        .http
        .get(app.url("/api/v2/clients"))
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let lines = recorder.take();
    assert!(lines.iter().all(|l| l.level != Level::ERROR), "{lines:#?}");
    let refused: Vec<&Line> = lines
        .iter()
        .filter(|l| l.text.contains("request refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{lines:#?}");
    assert_eq!(refused[0].level, Level::DEBUG);
    assert!(
        refused[0].text.contains("cause=malformed token"),
        "{refused:?}"
    );
    let (status, _) = read(
        app.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &machine),
            ("client_secret", "wrong"),
        ])
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let lines = recorder.take();
    assert!(lines.iter().all(|l| l.level != Level::ERROR), "{lines:#?}");
}

#[tokio::test]
async fn a_5xx_is_logged_once_with_its_cause_on_each_surface() {
    run(Backend::Sqlite).await;
    if grantor_testdb::postgres_url_or_skip().is_some() {
        run(Backend::Postgres).await;
    }
}
