use std::sync::Arc;

use grantor::config::BootstrapCredentials;
use reqwest::{Method, StatusCode};

use crate::both_databases;
use crate::support::{
    assert_oauth_error, connect_store, read, spawn_app_on, AppOptions, TestDatabase,
    MGMT_CLIENT_ID, MGMT_CLIENT_SECRET,
};

both_databases! {
    async fn a_later_start_never_changes_the_bootstrap_credentials(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let first = spawn_app_on(database.clone(), AppOptions::default()).await;
        let (status, _) = first.mgmt_call(Method::GET, "/clients", None).await;
        assert_eq!(status, StatusCode::OK);
        let jwks_before: serde_json::Value = first.http.get(first.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        first.stop().await;

        let other_creds = AppOptions {
            bootstrap: BootstrapCredentials {
                client_id: Some("another-id".into()),
                client_secret: Some("another-secret".into()),
                admin_email: Some("other@example.test".into()),
                admin_password: Some("other-password".into()),
            },
            ..AppOptions::default()
        };
        let second = spawn_app_on(database.clone(), other_creds).await;
        // The original credentials still work (against the new issuer's audience) ...
        second.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &second.management_audience()).await;
        // ... and the new ones were never created.
        let (status, body) = read(second.token_form(&[
            ("grant_type", "client_credentials"), ("client_id", "another-id"),
            ("client_secret", "another-secret"), ("audience", &second.management_audience()),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "access_denied");
        let jwks_after: serde_json::Value = second.http.get(second.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks_before, jwks_after, "signing keys are kept");
        let store = connect_store(&database).await;
        assert!(store.admin_password_hash("admin@example.test").await.unwrap().is_some());
        assert!(store.admin_password_hash("other@example.test").await.unwrap().is_none());
        let hash = store.admin_password_hash("admin@example.test").await.unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"), "admin password is stored with Argon2id");
        store.close().await;
    }
}

both_databases! {
    async fn two_processes_starting_at_once_bootstrap_once_and_share_keys(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let (a, b) = tokio::join!(
            spawn_app_on(database.clone(), AppOptions::default()),
            spawn_app_on(database.clone(), AppOptions::default()),
        );
        let jwks_a: serde_json::Value = a.http.get(a.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let jwks_b: serde_json::Value = b.http.get(b.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks_a, jwks_b);
        let store = connect_store(&database).await;
        let clients = store.list_clients(grantor_store::PageRequest { offset: 0, limit: 100 }).await.unwrap();
        assert_eq!(clients.total, 1, "exactly one bootstrap client");
        let keys = store.signing_keys().await.unwrap();
        let count = |state| keys.iter().filter(|k| k.state == state).count();
        assert_eq!(keys.len(), 8, "a current and a next key per algorithm, made once");
        assert_eq!((count(grantor_store::SigningKeyState::Current), count(grantor_store::SigningKeyState::Next)), (4, 4));
        store.close().await;
    }
}

both_databases! {
    /// A tenant bootstrapped before a scope existed gets it added to the
    /// Management API at the next start, once.
    async fn a_later_start_adds_new_management_scopes_without_granting_them(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let first = spawn_app_on(database.clone(), AppOptions::default()).await;
        let audience = first.management_audience();
        let issuer = first.issuer.clone();
        first.stop().await;
        // Make the tenant look older: the log-stream scopes were not defined.
        let store = connect_store(&database).await;
        let mut api = store.resource_server_by_identifier(&audience).await.unwrap().unwrap();
        let before = api.scopes.len();
        api.scopes.retain(|s| !s.value.ends_with(":log_streams"));
        assert_eq!(api.scopes.len(), before - 4);
        store.update_resource_server(&api).await.unwrap();
        store.close().await;

        let second = spawn_app_on(database.clone(), AppOptions {
            issuer: Some(issuer),
            ..AppOptions::default()
        }).await;
        let store = connect_store(&database).await;
        let api = store.resource_server_by_identifier(&audience).await.unwrap().unwrap();
        let values: Vec<&str> = api.scopes.iter().map(|s| s.value.as_str()).collect();
        for scope in grantor::bootstrap::MANAGEMENT_SCOPES {
            assert_eq!(values.iter().filter(|v| *v == scope).count(), 1, "{scope} once in {values:?}");
        }
        // The bootstrap grant still holds what it held.
        let (status, _) = second.mgmt_call(Method::GET, "/log-streams", None).await;
        assert_eq!(status, StatusCode::OK);
        store.close().await;
    }
}
