//! The background purge removes revoked rows in bounded batches while the
//! server runs, and leaves live ones alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grantor_domain::FamilyId;
use reqwest::{Method, StatusCode};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rotating, rt, setup};
use crate::support::{claims, connect_store, spawn_app_on, urlencode, AppOptions, TestDatabase};

both_databases! {
    async fn revoked_refresh_tokens_are_purged_in_the_background(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let options = AppOptions {
            purge: grantor::purge::PurgeConfig {
                interval: Some(Duration::from_millis(50)),
                batch_size: 2,
                log_retention_days: 30,
            },
            ..AppOptions::default()
        };
        let app = spawn_app_on(database.clone(), options).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let tokens: Vec<_> = sign_in_times(&app, &id, &secret, 5).await;
        let user_id = claims(tokens[0]["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let response = app.http.post(app.url("/oauth/revoke"))
            .form(&[("client_id", id.as_str()), ("client_secret", secret.as_str()), ("token", rt(&tokens[0]).as_str())])
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // The receipt names the five families; a new sign-in makes a live one.
        let (_, events) = app.mgmt_call(Method::GET, &format!("/logs?q={}", urlencode("type:srrt")), None).await;
        let revoked: Vec<String> = events[0]["details"]["receipt"]["refresh_token_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
        assert_eq!(revoked.len(), 5);
        let live = password_grant(&app, &id, &secret, "read:orders offline_access").await;

        let store = connect_store(&database).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut remaining = 0;
            for family in &revoked {
                if store.refresh_token_family(&FamilyId::from(family)).await.unwrap().is_some() {
                    remaining += 1;
                }
            }
            if remaining == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{remaining} revoked families still stored after 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        store.close().await;
        let (status, body) = refresh(&app, &id, &secret, &rt(&live)).await;
        assert_eq!(status, StatusCode::OK, "the live token is untouched: {body}");
        let (status, listed) = app.mgmt_call(Method::GET, &format!("/users/{}/refresh-tokens", urlencode(&user_id)), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
    }
}

async fn sign_in_times(
    app: &crate::support::TestApp,
    id: &str,
    secret: &str,
    n: usize,
) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(password_grant(app, id, secret, "read:orders offline_access").await);
    }
    out
}
