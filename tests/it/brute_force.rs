//! Brute-force protection on sign-in: ten wrong passwords for one e-mail from
//! one IP block further attempts for that pair (also with the right
//! password), on the login page and the password grant alike; other e-mails
//! are not affected. Attempts are reserved before the check, so parallel
//! guesses get no more checks than sequential ones; one IP gets 100 wrong
//! passwords whatever the e-mails; `/activate` guesses are limited the same way.

use std::sync::Arc;

use grantor::flows::login;
use grantor::Clock;
use reqwest::StatusCode;

use crate::both_databases;
use crate::refresh_tokens::{password_grant, rotating, setup, API, EMAIL, PASSWORD};
use crate::support::browser::{
    authorize_path, create_user, get, input_value, new_browser, post_form, submit_login, web_client,
};
use crate::support::{
    assert_oauth_error, read, spawn_app, spawn_app_on, AppOptions, TestApp, TestDatabase,
};

/// One password grant for `email` with the orders API; status and body.
pub async fn password_attempt(
    app: &TestApp,
    id: &str,
    secret: &str,
    email: &str,
    password: &str,
) -> (StatusCode, serde_json::Value) {
    read(
        app.token_form(&[
            ("grant_type", "password"),
            ("client_id", id),
            ("client_secret", secret),
            ("username", email),
            ("password", password),
            ("audience", API),
            ("scope", "read:orders"),
        ])
        .await,
    )
    .await
}

both_databases! {
    async fn ten_wrong_passwords_block_that_email_from_that_ip(db: Backend) {
        let clock = Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let database = Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions { clock: clock.clone(), ..AppOptions::default() }).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let other = "bob@example.test";
        create_user(&app, other, PASSWORD).await;
        for _ in 0..10 {
            let (status, body) = password_attempt(&app, &id, &secret, EMAIL, "wrong password").await;
            assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        }
        let (status, body) = password_attempt(&app, &id, &secret, EMAIL, PASSWORD).await;
        assert_oauth_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");

        // The login page refuses the same pair, with the right password too.
        let (web, _) = web_client(&app, "web", &["https://app.example.test/cb"]).await;
        let browser = new_browser();
        let page = get(&app, &browser, &authorize_path(&web, "https://app.example.test/cb", &[])).await.text().await.unwrap();
        let refused = submit_login(&app, &browser, &page, EMAIL, PASSWORD).await;
        assert_eq!(refused.status(), StatusCode::OK, "the login page again, with a message");
        assert!(refused.text().await.unwrap().contains("Too many failed sign-ins"));

        // Another user from the same IP signs in.
        let (status, body) = password_attempt(&app, &id, &secret, other, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Still refused inside the window; let in once it has passed.
        clock.advance_seconds(14 * 60);
        let (status, _) = password_attempt(&app, &id, &secret, EMAIL, PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        clock.advance_seconds(61);
        password_grant(&app, &id, &secret, "read:orders").await;
    }
}

/// The login counter of `email` from the loopback address, as stored.
async fn account_failures(app: &TestApp, email: &str) -> i64 {
    let store = app.store().await;
    let counter = login::account_counter(
        login::LOGIN_COUNTER,
        &login::identifier_hash(email),
        "127.0.0.1",
    );
    let n = store
        .attempt_count(&counter, app.clock.now())
        .await
        .unwrap();
    store.close().await;
    n
}

async fn ip_failures(app: &TestApp, ip: &str) -> i64 {
    let store = app.store().await;
    let n = store
        .attempt_count(&login::ip_counter(ip), app.clock.now())
        .await
        .unwrap();
    store.close().await;
    n
}

/// Sends every attempt at once (each on its own task); returns each
/// (status, error).
async fn parallel_attempts(
    app: &TestApp,
    id: &str,
    secret: &str,
    attempts: &[(String, &str)],
) -> Vec<(StatusCode, String)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (email, password) in attempts {
        let request = app.http.post(app.url("/oauth/token")).form(&[
            ("grant_type", "password"),
            ("client_id", id),
            ("client_secret", secret),
            ("username", email.as_str()),
            ("password", password),
            ("audience", API),
            ("scope", "read:orders"),
        ]);
        tasks.spawn(async move {
            let (status, body) = read(request.send().await.expect("token request")).await;
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        });
    }
    tasks.join_all().await
}

fn count(results: &[(StatusCode, String)], status: StatusCode, error: &str) -> usize {
    results
        .iter()
        .filter(|(s, e)| *s == status && e == error)
        .count()
}

both_databases! {
    async fn thirty_parallel_wrong_passwords_get_only_ten_checks(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let attempts: Vec<(String, &str)> = (0..30).map(|_| (EMAIL.to_owned(), "wrong password")).collect();
        let results = parallel_attempts(&app, &id, &secret, &attempts).await;
        // Exactly the limit were checked (403 wrong password); the rest were
        // refused unchecked, as if they had been sent one after another.
        assert_eq!(count(&results, StatusCode::FORBIDDEN, "invalid_grant"), 10, "{results:?}");
        assert_eq!(count(&results, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"), 20, "{results:?}");
        assert_eq!(account_failures(&app, EMAIL).await, 10);
        // The right password is refused too: the pair is blocked.
        let (status, body) = password_attempt(&app, &id, &secret, EMAIL, PASSWORD).await;
        assert_oauth_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
        assert_eq!(account_failures(&app, EMAIL).await, 10, "a refused attempt is not counted");
    }
}

both_databases! {
    async fn a_right_password_resets_the_account_counter_but_not_the_ip_counter(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        for _ in 0..9 {
            let (status, _) = password_attempt(&app, &id, &secret, EMAIL, "wrong password").await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
        assert_eq!(account_failures(&app, EMAIL).await, 9);
        password_grant(&app, &id, &secret, "read:orders").await;
        // Consecutive failures, as Auth0 counts them: the account starts again...
        assert_eq!(account_failures(&app, EMAIL).await, 0);
        // ...but the IP keeps its nine failures (its own success gave back only its place).
        assert_eq!(ip_failures(&app, "127.0.0.1").await, 9);
        // Keyed by the e-mail's hash: another spelling of the same e-mail is the same account.
        let (status, _) = password_attempt(&app, &id, &secret, " ANN@Example.test ", "wrong password").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(account_failures(&app, EMAIL).await, 1);
    }
}

both_databases! {
    async fn one_ip_gets_a_hundred_wrong_passwords_whatever_the_emails(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        // 110 different e-mails at once from one IP: no account reaches its
        // own limit, the IP's limit of 100 refuses the rest unchecked.
        let attempts: Vec<(String, &str)> = (0..110).map(|i| (format!("guess{i}@example.test"), "wrong password")).collect();
        let results = parallel_attempts(&app, &id, &secret, &attempts).await;
        assert_eq!(count(&results, StatusCode::FORBIDDEN, "invalid_grant"), 100, "{results:?}");
        assert_eq!(count(&results, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"), 10, "{results:?}");
        assert_eq!(ip_failures(&app, "127.0.0.1").await, 100);
        // A real user with the right password is refused from that IP...
        let (status, body) = password_attempt(&app, &id, &secret, EMAIL, PASSWORD).await;
        assert_oauth_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
        // ...and signs in from another one.
        let other_ip = reqwest::Client::builder()
            .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
            .build()
            .unwrap();
        let response = other_ip
            .post(app.url("/oauth/token"))
            .form(&[
                ("grant_type", "password"), ("client_id", &id), ("client_secret", &secret),
                ("username", EMAIL), ("password", PASSWORD), ("audience", API), ("scope", "read:orders"),
            ])
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

both_databases! {
    async fn parallel_user_code_guesses_get_only_ten_lookups(db: Backend) {
        let app = spawn_app(db).await;
        let client_id = crate::support::browser::native_client(&app, "TV", &[]).await;
        app.create_api(API, &["read:orders"]).await;
        let (status, body) = read(
            app.http.post(app.url("/oauth/device/code"))
                .form(&[("client_id", client_id.as_str()), ("scope", "openid"), ("audience", API)])
                .send().await.unwrap(),
        ).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let real = body["user_code"].as_str().unwrap().to_owned();
        let wrong = if real == "BBBB-BBBB" { "CCCC-CCCC" } else { "BBBB-BBBB" };
        let browser = new_browser();
        let html = get(&app, &browser, "/activate").await.text().await.unwrap();
        let csrf = input_value(&html, "csrf").unwrap();
        let mut guesses = tokio::task::JoinSet::new();
        for _ in 0..30 {
            let request = browser.post(app.url("/activate")).form(&[("csrf", csrf.as_str()), ("user_code", wrong)]);
            guesses.spawn(async move { request.send().await.expect("activate") });
        }
        let responses = guesses.join_all().await;
        let wrong_code = responses.iter().filter(|r| r.status() == StatusCode::OK).count();
        let refused: Vec<_> = responses.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).collect();
        assert_eq!((wrong_code, refused.len()), (10, 20));
        assert!(refused.iter().all(|r| r.headers().get("retry-after").is_some()));
        let store = app.store().await;
        let guesses = store
            .attempt_count(&grantor::flows::device_authorization::activation_counter("127.0.0.1"), app.clock.now())
            .await
            .unwrap();
        store.close().await;
        assert_eq!(guesses, 10);
        // The real code is refused as well now, from this IP.
        let response = post_form(&app, &browser, "/activate", &[("csrf", csrf.as_str()), ("user_code", real.as_str())]).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }
}
