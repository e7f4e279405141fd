//! Brute-force attempt counters: atomic reservations in a window.

use grantor_store::Store;

use crate::support::fixtures::ts;

conformance_tests! {
    attempt_reservations_are_atomic_and_windowed,
}

fn counter(kind: &'static str, ip: &str, limit: i64) -> grantor_store::AttemptCounter {
    grantor_store::AttemptCounter {
        kind,
        identifier_hash: "ab".repeat(32),
        ip: ip.to_owned(),
        limit,
        window_seconds: 60,
    }
}

/// Fifty parallel reservations on a counter of ten: exactly ten are taken,
/// all or none of several counters, released and reset as asked, and a new
/// window starts again at one.
async fn attempt_reservations_are_atomic_and_windowed(store: &Store) {
    use grantor_store::AttemptReservation::{Refused, Reserved};
    let account = counter("login", "192.0.2.1", 10);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (store, account) = (store.clone(), account.clone());
        tasks.spawn(async move { store.reserve_attempts(&[account], ts(0)).await.unwrap() });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.iter().filter(|r| **r == Reserved).count(), 10);
    assert!(results.iter().all(|r| matches!(
        r,
        Reserved
            | Refused {
                counter: 0,
                retry_after_seconds: 60
            }
    )));
    assert_eq!(store.attempt_count(&account, ts(0)).await.unwrap(), 10);
    assert_eq!(
        store
            .blocked_ips("login", &account.identifier_hash, 10, 60, ts(0))
            .await
            .unwrap(),
        vec!["192.0.2.1".to_owned()]
    );

    // All or none: a full second counter takes nothing from the first.
    let ip = counter("login_ip", "192.0.2.2", 100);
    let fresh = counter("login", "192.0.2.2", 10);
    assert_eq!(
        store
            .reserve_attempts(&[fresh.clone(), account.clone()], ts(1_000))
            .await
            .unwrap(),
        Refused {
            counter: 1,
            retry_after_seconds: 59
        }
    );
    assert_eq!(store.attempt_count(&fresh, ts(1_000)).await.unwrap(), 0);
    assert_eq!(
        store
            .reserve_attempts(&[fresh.clone(), ip.clone()], ts(1_000))
            .await
            .unwrap(),
        Reserved
    );
    store
        .release_attempts(std::slice::from_ref(&ip), std::slice::from_ref(&fresh))
        .await
        .unwrap();
    assert_eq!(store.attempt_count(&fresh, ts(1_000)).await.unwrap(), 0);
    assert_eq!(store.attempt_count(&ip, ts(1_000)).await.unwrap(), 0);

    // The window ends: the counter starts again at one.
    assert_eq!(
        store
            .reserve_attempts(std::slice::from_ref(&account), ts(60_000))
            .await
            .unwrap(),
        Reserved
    );
    assert_eq!(store.attempt_count(&account, ts(60_000)).await.unwrap(), 1);
    assert!(store
        .blocked_ips("login", &account.identifier_hash, 10, 60, ts(60_000))
        .await
        .unwrap()
        .is_empty());

    // Lifting deletes every counter of the identifier (`fresh` was reset).
    assert_eq!(
        store
            .reserve_attempts(&[counter("login", "192.0.2.3", 10)], ts(60_000))
            .await
            .unwrap(),
        Reserved
    );
    assert_eq!(
        store
            .clear_attempts("login", &account.identifier_hash, None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.attempt_count(&account, ts(60_000)).await.unwrap(), 0);
}
