//! Password hashing runs under a bound (CONTRACT §6.4): while every place is
//! taken a sign-in waits (up to the queue's length and timeout), and beyond
//! that it is refused with 429 and `Retry-After`, in each surface's format;
//! a refusal for capacity does not count as a failed sign-in.

use std::sync::Arc;
use std::time::Duration;

use grantor::password::PasswordHashConfig;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::refresh_tokens::{rotating, setup, API, EMAIL, PASSWORD};
use crate::support::browser::{authorize_path, get, new_browser, submit_login, web_client};
use crate::support::{assert_oauth_error, read, spawn_app_on, AppOptions, TestApp, TestDatabase};

async fn app_with(
    db: crate::support::Backend,
    max_waiting: usize,
    queue_timeout: Duration,
) -> TestApp {
    let database = Arc::new(TestDatabase::new(db).await);
    let options = AppOptions {
        password_hashing: PasswordHashConfig {
            concurrency: 1,
            max_waiting,
            queue_timeout,
        },
        ..AppOptions::default()
    };
    spawn_app_on(database, options).await
}

fn sign_in(app: &TestApp, id: &str, secret: &str) -> reqwest::RequestBuilder {
    app.http.post(app.url("/oauth/token")).form(&[
        ("grant_type", "password"),
        ("client_id", id),
        ("client_secret", secret),
        ("username", EMAIL),
        ("password", PASSWORD),
        ("audience", API),
        ("scope", "read:orders"),
    ])
}

fn retry_after(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned())
}

both_databases! {
    async fn a_full_bound_queues_then_refuses_with_429_on_every_surface(db: Backend) {
        let app = app_with(db, 1, Duration::from_secs(600)).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let (web, _) = web_client(&app, "web", &["https://app.example.test/cb"]).await;
        let browser = new_browser();
        let login_page = get(&app, &browser, &authorize_path(&web, "https://app.example.test/cb", &[])).await.text().await.unwrap();

        // Take the only place, as a long hash would.
        let held = app.password_hashing.permit().await.unwrap();
        // One sign-in may wait for it...
        let waiting = tokio::spawn(sign_in(&app, &id, &secret).send());
        while app.password_hashing.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        // ...the next ones are refused at once, each in its surface's format.
        let response = sign_in(&app, &id, &secret).send().await.unwrap();
        assert_eq!(retry_after(&response).as_deref(), Some("1"));
        let (status, body) = read(response).await;
        assert_oauth_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");

        let response = submit_login(&app, &browser, &login_page, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after(&response).as_deref(), Some("1"));
        assert!(response.text().await.unwrap().contains("Too many sign-ins are in progress"));

        let response = app.mgmt(Method::POST, "/users").await
            .json(&json!({"connection": "Username-Password-Authentication", "email": "new@example.test", "password": PASSWORD}))
            .send().await.unwrap();
        assert_eq!(retry_after(&response).as_deref(), Some("1"));
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body, json!({
            "statusCode": 429, "error": "Too Many Requests",
            "message": "Too many password operations are in progress. Try again in a moment.",
            "errorCode": "too_many_requests",
        }));
        let (_, users) = app.mgmt_call(Method::GET, "/users-by-email?email=new%40example.test", None).await;
        assert_eq!(users, json!([]), "nothing was created");

        // Capacity refusals are not failed sign-ins.
        let store = app.store().await;
        let counter = grantor::flows::login::ip_counter("127.0.0.1");
        assert_eq!(store.attempt_count(&counter, app.clock.now()).await.unwrap(), 0);
        store.close().await;

        // The place frees up: the waiting sign-in goes through.
        drop(held);
        let (status, body) = read(waiting.await.unwrap().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(app.password_hashing.waiting(), 0);
    }
}

both_databases! {
    async fn a_wait_longer_than_the_timeout_is_refused(db: Backend) {
        let app = app_with(db, 8, Duration::from_millis(200)).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let _held = app.password_hashing.permit().await.unwrap();
        let started = std::time::Instant::now();
        let response = sign_in(&app, &id, &secret).send().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200), "it waited first");
        assert_eq!(retry_after(&response).as_deref(), Some("1"));
        let (status, body) = read(response).await;
        assert_oauth_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
        assert_eq!(app.password_hashing.waiting(), 0);
    }
}
