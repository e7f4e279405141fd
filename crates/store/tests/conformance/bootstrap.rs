//! The first start (latched on the tenant row) and the tenant's settings.

use grantor_domain::ClientId;
use grantor_domain::TenantSettings;
use grantor_store::{ClientGrantFilter, Store, StoreError};

use crate::support::compare::{assert_api_eq, assert_client_eq, assert_grant_eq, assert_keys_eq};
use crate::support::fixtures::{all, plan, ADMIN_EMAIL, MGMT_API, MGMT_CLIENT, MGMT_GRANT};

conformance_tests! {
    bootstrap_runs_once,
    concurrent_bootstraps_have_one_winner,
    tenant_settings_round_trip,
}

async fn bootstrap_runs_once(store: &Store) {
    assert_store_err!(store.tenant_settings().await, StoreError::NotFound);
    assert!(store.signing_keys().await.unwrap().is_empty());

    let first = plan("first");
    assert!(store.bootstrap(&first).await.unwrap(), "first bootstrap");

    let second = plan("second");
    assert!(
        !store.bootstrap(&second).await.unwrap(),
        "a second bootstrap must report that it did nothing"
    );

    // Everything is still the first plan's.
    assert_eq!(store.tenant_settings().await.unwrap(), first.tenant);
    let mgmt = store
        .client(&ClientId::from(MGMT_CLIENT))
        .await
        .unwrap()
        .expect("mgmt client");
    assert_client_eq(&mgmt, &first.management_client);
    assert!(mgmt.secret_hash.matches("secret-first"));
    assert!(!mgmt.secret_hash.matches("secret-second"));
    assert_eq!(
        store.admin_password_hash(ADMIN_EMAIL).await.unwrap(),
        Some(first.admin_password_hash.clone())
    );
    assert_eq!(
        store
            .admin_password_hash("nobody@example.com")
            .await
            .unwrap(),
        None
    );
    assert_keys_eq(&store.signing_keys().await.unwrap(), &first.signing_keys);
    let api = store.resource_server(MGMT_API).await.unwrap().expect("api");
    assert_api_eq(&api, &first.management_api);
    let g = store
        .client_grant(MGMT_GRANT)
        .await
        .unwrap()
        .expect("grant");
    assert_grant_eq(&g, &first.management_grant);

    // And nothing of the second plan was added alongside.
    assert_eq!(store.list_clients(all()).await.unwrap().total, 1);
    assert_eq!(store.list_resource_servers(all()).await.unwrap().total, 1);
    let grants = store
        .list_client_grants(&ClientGrantFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(grants.total, 1);
}

async fn concurrent_bootstraps_have_one_winner(store: &Store) {
    let (a, b) = (plan("alpha"), plan("beta"));
    let (sa, sb) = (store.clone(), store.clone());
    let (pa, pb) = (a.clone(), b.clone());
    let ta = tokio::spawn(async move { sa.bootstrap(&pa).await });
    let tb = tokio::spawn(async move { sb.bootstrap(&pb).await });
    let ra = ta.await.unwrap().unwrap();
    let rb = tb.await.unwrap().unwrap();
    assert!(
        ra ^ rb,
        "exactly one bootstrap wins (alpha: {ra}, beta: {rb})"
    );
    let winner = if ra { &a } else { &b };
    assert_eq!(store.tenant_settings().await.unwrap(), winner.tenant);
    assert_keys_eq(&store.signing_keys().await.unwrap(), &winner.signing_keys);
    assert_eq!(
        store.admin_password_hash(ADMIN_EMAIL).await.unwrap(),
        Some(winner.admin_password_hash.clone())
    );
    let mgmt = store
        .client(&ClientId::from(MGMT_CLIENT))
        .await
        .unwrap()
        .unwrap();
    assert_client_eq(&mgmt, &winner.management_client);
}

async fn tenant_settings_round_trip(store: &Store) {
    let p = plan("t");
    assert!(store.bootstrap(&p).await.unwrap());
    assert_eq!(store.tenant_settings().await.unwrap(), p.tenant);

    let changed = TenantSettings {
        friendly_name: "Renamed — tenant \"x\"".to_owned(),
        revoke_refresh_token_grant: !p.tenant.revoke_refresh_token_grant,
        default_audience: "https://aud.example.com/".to_owned(),
        session_lifetime: 720,
        idle_session_lifetime: 1,
    };
    store.update_tenant_settings(&changed, None).await.unwrap();
    assert_eq!(store.tenant_settings().await.unwrap(), changed);

    let cleared = TenantSettings {
        default_audience: String::new(),
        ..changed.clone()
    };
    store.update_tenant_settings(&cleared, None).await.unwrap();
    let read = store.tenant_settings().await.unwrap();
    assert_eq!(read, cleared);
    assert_eq!(read.default_audience(), None);
}
