//! Pushed authorization requests (RFC 9126): consumed once, only by their
//! client, only while live; expired ones purged in bounded batches.

use grantor_domain::{ClientId, TokenHash};
use grantor_store::{PurgePlan, Store};

use crate::support::fixtures::ts;

conformance_tests! {
    a_pushed_request_is_consumed_once_by_its_client_while_live,
    expired_pushed_requests_are_purged_in_batches,
}

async fn a_pushed_request_is_consumed_once_by_its_client_while_live(store: &Store) {
    let hash = |s: &str| TokenHash::from_stored(s.to_owned());
    let app = ClientId::from("app");
    let other = ClientId::from("other");
    let params = r#"{"response_type":"code","scope":"openid"}"#;
    for id in ["a", "b"] {
        store
            .save_pushed_request(&hash(id), &app, params, ts(0), ts(30_000))
            .await
            .unwrap();
    }
    // Another client's consume neither gets it nor destroys it.
    assert_eq!(
        store
            .consume_pushed_request(&hash("a"), &other, ts(1))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .consume_pushed_request(&hash("a"), &app, ts(1))
            .await
            .unwrap()
            .as_deref(),
        Some(params)
    );
    // Used once: gone.
    assert_eq!(
        store
            .consume_pushed_request(&hash("a"), &app, ts(2))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .consume_pushed_request(&hash("unknown"), &app, ts(2))
            .await
            .unwrap(),
        None
    );
    // At its expiry instant it is no longer live.
    assert_eq!(
        store
            .consume_pushed_request(&hash("b"), &app, ts(30_000))
            .await
            .unwrap(),
        None
    );
    // The same hash twice is a conflict, never a second request.
    store
        .save_pushed_request(&hash("c"), &app, params, ts(0), ts(30_000))
        .await
        .unwrap();
    assert_store_err!(
        store
            .save_pushed_request(&hash("c"), &app, params, ts(0), ts(30_000))
            .await,
        grantor_store::StoreError::Conflict(_)
    );
    // Two consumers at once: exactly one gets it.
    let c = hash("c");
    let (first, second) = tokio::join!(
        store.consume_pushed_request(&c, &app, ts(3)),
        store.consume_pushed_request(&c, &app, ts(3)),
    );
    let won = [first.unwrap(), second.unwrap()]
        .into_iter()
        .filter(Option::is_some)
        .count();
    assert_eq!(won, 1);
}

async fn expired_pushed_requests_are_purged_in_batches(store: &Store) {
    let app = ClientId::from("app");
    for i in 0..5 {
        store
            .save_pushed_request(
                &TokenHash::from_stored(format!("old{i}")),
                &app,
                "{}",
                ts(0),
                ts(30_000),
            )
            .await
            .unwrap();
    }
    store
        .save_pushed_request(
            &TokenHash::from_stored("live".to_owned()),
            &app,
            "{}",
            ts(0),
            ts(90_000),
        )
        .await
        .unwrap();
    let plan = PurgePlan {
        batch_size: 3,
        logs_before: ts(0),
        families_after: String::new(),
        sessions_after: String::new(),
    };
    let first = store.purge(&plan, ts(60_000)).await.unwrap();
    assert_eq!(first.pushed_authorization_requests, 3);
    assert!(first.behind(plan.batch_size));
    let second = store.purge(&plan, ts(60_000)).await.unwrap();
    assert_eq!(second.pushed_authorization_requests, 2);
    let third = store.purge(&plan, ts(60_000)).await.unwrap();
    assert_eq!(third.pushed_authorization_requests, 0);
    // The live one was kept.
    assert_eq!(
        store
            .consume_pushed_request(&TokenHash::from_stored("live".to_owned()), &app, ts(60_000))
            .await
            .unwrap()
            .as_deref(),
        Some("{}")
    );
}
