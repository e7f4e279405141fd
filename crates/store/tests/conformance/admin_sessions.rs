//! Dashboard administrator sessions.

use grantor_domain::TokenHash;
use grantor_store::{Store, StoreError};

use crate::support::fixtures::{plan, ts, ADMIN_EMAIL};

conformance_tests! {
    admin_sessions_expire_by_idleness_and_age,
    admin_sign_out_and_sign_in_housekeeping,
    admin_sessions_belong_to_known_administrators,
}

fn admin_event(id: &str, type_code: &str, at: i64) -> grantor_store::LogEvent {
    grantor_store::LogEvent {
        log_id: format!("{at:020}{id}"),
        date: ts(at),
        type_code: type_code.to_owned(),
        description: "dashboard administrator".to_owned(),
        client_id: None,
        client_name: None,
        user_id: None,
        user_name: None,
        ip: Some("192.0.2.7".to_owned()),
        user_agent: None,
        details: serde_json::json!({"actor": {"type": "admin", "email": ADMIN_EMAIL}}),
    }
}

/// A session created at `at` (ms after `ts(0)`), idle for a minute, for an hour.
fn admin_session(hash: &str, at: i64) -> grantor_store::AdminSessionRecord {
    grantor_store::AdminSessionRecord {
        token_hash: TokenHash::of(hash),
        email: ADMIN_EMAIL.to_owned(),
        created_at: ts(at),
        last_seen_at: ts(at),
        idle_expires_at: ts(at + 60_000),
        expires_at: ts(at + 3_600_000),
        ip: "192.0.2.7".to_owned(),
        user_agent: "test agent".to_owned(),
    }
}

async fn admin_sessions_expire_by_idleness_and_age(store: &Store) {
    store.bootstrap(&plan("admin")).await.unwrap();
    let s = admin_session("one", 1_000);
    let event = admin_event("signin", "s", 1_000);
    store.create_admin_session(&s, &event).await.unwrap();
    assert_eq!(
        store
            .log_event(&event.log_id)
            .await
            .unwrap()
            .map(|e| e.type_code),
        Some("s".to_owned()),
        "the sign-in event is written with the session"
    );
    assert_eq!(
        store.admin_session(&s.token_hash, ts(2_000)).await.unwrap(),
        Some(s.clone())
    );
    assert!(store
        .admin_session(&TokenHash::from_stored("unknown"), ts(2_000))
        .await
        .unwrap()
        .is_none());
    assert!(
        store
            .admin_session(&s.token_hash, ts(61_000))
            .await
            .unwrap()
            .is_none(),
        "idle for a minute: gone"
    );

    // Activity moves the idle expiry forward, never back.
    assert!(store
        .touch_admin_session(&s.token_hash, ts(90_000), ts(30_000))
        .await
        .unwrap());
    assert!(store
        .touch_admin_session(&s.token_hash, ts(40_000), ts(31_000))
        .await
        .unwrap());
    let live = store
        .admin_session(&s.token_hash, ts(61_000))
        .await
        .unwrap()
        .expect("touched");
    assert_eq!(live.idle_expires_at, ts(90_000));
    assert_eq!(live.last_seen_at, ts(31_000));
    assert!(store
        .admin_session(&s.token_hash, ts(90_000))
        .await
        .unwrap()
        .is_none());

    // The idle expiry never passes the absolute one.
    assert!(store
        .touch_admin_session(&s.token_hash, ts(99_000_000), ts(80_000))
        .await
        .unwrap());
    let live = store
        .admin_session(&s.token_hash, ts(80_001))
        .await
        .unwrap()
        .expect("live");
    assert_eq!(live.idle_expires_at, s.expires_at);
    assert!(store
        .admin_session(&s.token_hash, s.expires_at)
        .await
        .unwrap()
        .is_none());
    assert!(
        !store
            .touch_admin_session(&s.token_hash, ts(99_000_000), s.expires_at)
            .await
            .unwrap(),
        "a dead session is not revived"
    );
}

async fn admin_sign_out_and_sign_in_housekeeping(store: &Store) {
    store.bootstrap(&plan("admin")).await.unwrap();
    let first = admin_session("first", 0);
    let second = admin_session("second", 10);
    store
        .create_admin_session(&first, &admin_event("a", "s", 0))
        .await
        .unwrap();
    store
        .create_admin_session(&second, &admin_event("b", "s", 10))
        .await
        .unwrap();

    let signed_out = admin_event("c", "slo", 20);
    assert!(store
        .delete_admin_session(&first.token_hash, Some(&signed_out))
        .await
        .unwrap());
    assert!(store.log_event(&signed_out.log_id).await.unwrap().is_some());
    assert!(store
        .admin_session(&first.token_hash, ts(30))
        .await
        .unwrap()
        .is_none());
    assert!(
        store
            .admin_session(&second.token_hash, ts(30))
            .await
            .unwrap()
            .is_some(),
        "the other session lives"
    );
    let again = admin_event("d", "slo", 40);
    assert!(!store
        .delete_admin_session(&first.token_hash, Some(&again))
        .await
        .unwrap());
    assert!(
        store.log_event(&again.log_id).await.unwrap().is_none(),
        "no event for a session that was not there"
    );

    // Signing in after `second` idled out deletes its row.
    let third = admin_session("third", 100_000);
    store
        .create_admin_session(&third, &admin_event("e", "s", 100_000))
        .await
        .unwrap();
    assert!(
        store
            .admin_session(&second.token_hash, ts(30))
            .await
            .unwrap()
            .is_none(),
        "the expired row is gone, not only expired"
    );
    assert!(store
        .admin_session(&third.token_hash, ts(100_001))
        .await
        .unwrap()
        .is_some());
}

async fn admin_sessions_belong_to_known_administrators(store: &Store) {
    store.bootstrap(&plan("admin")).await.unwrap();
    let mut s = admin_session("stranger", 0);
    s.email = "nobody@example.com".to_owned();
    assert_store_err!(
        store
            .create_admin_session(&s, &admin_event("x", "s", 0))
            .await,
        StoreError::MissingReference(_)
    );
    assert!(store
        .admin_session(&s.token_hash, ts(1))
        .await
        .unwrap()
        .is_none());
    let dup = admin_session("dup", 0);
    store
        .create_admin_session(&dup, &admin_event("y", "s", 0))
        .await
        .unwrap();
    assert_store_err!(
        store
            .create_admin_session(&dup, &admin_event("z", "s", 1))
            .await,
        StoreError::Conflict(_)
    );
}
