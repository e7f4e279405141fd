//! Brute-force protection on sign-in: ten wrong passwords for one e-mail from
//! one IP block further attempts for that pair (also with the right
//! password), on the login page and the password grant alike; other e-mails
//! are not affected.

use std::sync::Arc;

use grantor::Clock;
use reqwest::StatusCode;

use crate::both_databases;
use crate::refresh_tokens::{password_grant, rotating, setup, API, EMAIL, PASSWORD};
use crate::support::browser::{
    authorize_path, create_user, get, new_browser, submit_login, web_client,
};
use crate::support::{assert_oauth_error, read, spawn_app_on, AppOptions, TestApp, TestDatabase};

async fn password_attempt(
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
