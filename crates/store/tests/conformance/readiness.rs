//! Readiness: a freshly migrated database holds exactly this binary's
//! migrations (the black-box `readiness` tests change the table under a
//! running server).

use grantor_store::Store;

conformance_tests! {
    a_migrated_database_is_current,
}

async fn a_migrated_database_is_current(store: &Store) {
    let status = store.migration_status().await.unwrap();
    assert!(status.is_current(), "{status:?}");
    assert!(status.pending.is_empty() && status.unknown.is_empty());
}
