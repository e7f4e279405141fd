//! Browser sessions as the Management API and the dashboard list them.

use grantor_domain::Reason;
use grantor_domain::{ClientId, SessionId, UserId};
use grantor_store::{PageRequest, Store};

use crate::support::fixtures::{all, log_event, owned, page, session_record, ts, user};

conformance_tests! {
    live_sessions_leave_out_ended_revoked_and_expired,
    reauthentication_moves_the_time_and_the_cookie_of_a_live_session_only,
}

/// Ended (logout), revoked and expired sessions are not live; live ones come
/// with the clients they were used for, ordered by id, with checkpoints.
async fn live_sessions_leave_out_ended_revoked_and_expired(store: &Store) {
    use grantor_store::{RevocationTarget, SessionFilter};
    store
        .insert_user(&user("se", "se@example.com"))
        .await
        .unwrap();
    for id in ["s1", "s2", "s3", "x-ended", "x-revoked"] {
        store
            .create_session(&session_record(id, "auth0|se", 0))
            .await
            .unwrap();
    }
    let mut expired = session_record("x-expired", "auth0|se", 0);
    expired.expires_at = ts(100);
    store.create_session(&expired).await.unwrap();
    let mut idle = session_record("x-idle", "auth0|se", 0);
    idle.idle_expires_at = ts(100);
    store.create_session(&idle).await.unwrap();
    store
        .create_session(&session_record("other", "auth0|other", 0))
        .await
        .unwrap();
    for client in ["client-b", "client-a"] {
        store
            .touch_session(
                &SessionId::from("s2"),
                Some(&ClientId::from(client)),
                "192.0.2.9",
                "agent/9",
                ts(500_000),
                ts(10),
            )
            .await
            .unwrap();
    }
    store
        .end_session(
            &SessionId::from("x-ended"),
            &log_event("e-slo", "slo", 20),
            ts(20),
        )
        .await
        .unwrap();
    store
        .revoke(
            &RevocationTarget::Session {
                session_id: SessionId::from("x-revoked"),
                tokens: true,
            },
            Reason::ManagementApi,
            &log_event("rs", "srrt", 30),
            ts(30),
        )
        .await
        .unwrap();

    let now = ts(200);
    let s2 = store
        .live_session(&SessionId::from("s2"), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s2.client_ids, owned(&["client-a", "client-b"]));
    assert_eq!(s2.session.user_id, "auth0|se");
    assert_eq!(s2.session.last_ip, "192.0.2.9");
    assert_eq!(s2.session.initial_ip, "192.0.2.1");
    assert!(store
        .live_session(&SessionId::from("s1"), now)
        .await
        .unwrap()
        .unwrap()
        .client_ids
        .is_empty());
    for dead in ["x-ended", "x-revoked", "x-expired", "x-idle", "unknown"] {
        assert!(
            store
                .live_session(&SessionId::from(dead), now)
                .await
                .unwrap()
                .is_none(),
            "{dead} is not live"
        );
    }

    let ids = |filter: SessionFilter, request: PageRequest| async move {
        let page = store
            .list_live_sessions(&filter, request, now)
            .await
            .unwrap();
        (
            page.items
                .into_iter()
                .map(|d| d.session.id.into_string())
                .collect::<Vec<_>>(),
            page.total,
        )
    };
    let by_user = SessionFilter {
        user_id: Some(UserId::from("auth0|se")),
        after_id: None,
    };
    assert_eq!(
        ids(by_user.clone(), all()).await,
        (owned(&["s1", "s2", "s3"]), 3)
    );
    assert_eq!(
        ids(
            SessionFilter {
                after_id: Some("s1".to_owned()),
                ..by_user.clone()
            },
            page(0, 1)
        )
        .await,
        (owned(&["s2"]), 3)
    );
    assert_eq!(
        ids(SessionFilter::default(), all()).await,
        (owned(&["other", "s1", "s2", "s3"]), 4)
    );
    let page_with_clients = store
        .list_live_sessions(&by_user, all(), now)
        .await
        .unwrap();
    assert_eq!(
        page_with_clients.items[1].client_ids,
        owned(&["client-a", "client-b"])
    );
}

/// A new sign-in in a live session (`prompt=login`, `max_age`) moves its
/// authentication time and replaces its cookie hash; an ended session is
/// left alone.
async fn reauthentication_moves_the_time_and_the_cookie_of_a_live_session_only(store: &Store) {
    use grantor_domain::TokenHash;
    store
        .insert_user(&user("ra", "ra@example.com"))
        .await
        .unwrap();
    store
        .create_session(&session_record("r1", "auth0|ra", 0))
        .await
        .unwrap();
    let fresh = TokenHash::from_stored("cookie-new".to_owned());
    let done = store
        .reauthenticate_session(
            &SessionId::from("r1"),
            &fresh,
            "192.0.2.7",
            "agent/7",
            ts(900_000),
            ts(50_000),
        )
        .await
        .unwrap();
    assert!(done);
    let s = store
        .session(&SessionId::from("r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.authenticated_at, ts(50_000));
    assert_eq!(s.last_interacted_at, ts(50_000));
    assert_eq!(s.created_at, ts(0));
    assert_eq!(s.last_ip, "192.0.2.7");
    assert_eq!(s.idle_expires_at, ts(1_000_000), "never moved backwards");
    assert!(store
        .active_session_by_cookie(&fresh, ts(50_001))
        .await
        .unwrap()
        .is_some());
    let old = TokenHash::from_stored("cookie-r1".to_owned());
    assert!(store
        .active_session_by_cookie(&old, ts(50_001))
        .await
        .unwrap()
        .is_none());

    store
        .end_session(
            &SessionId::from("r1"),
            &log_event("e-ra", "slo", 60_000),
            ts(60_000),
        )
        .await
        .unwrap();
    let again = TokenHash::from_stored("cookie-again".to_owned());
    let done = store
        .reauthenticate_session(
            &SessionId::from("r1"),
            &again,
            "192.0.2.8",
            "agent/8",
            ts(900_000),
            ts(70_000),
        )
        .await
        .unwrap();
    assert!(!done, "an ended session is not signed into again");
    let s = store
        .session(&SessionId::from("r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.authenticated_at, ts(50_000));
    // Expired: refused too.
    store
        .create_session(&session_record("r2", "auth0|ra", 0))
        .await
        .unwrap();
    let done = store
        .reauthenticate_session(
            &SessionId::from("r2"),
            &again,
            "192.0.2.8",
            "agent/8",
            ts(3_000_000),
            ts(2_500_000),
        )
        .await
        .unwrap();
    assert!(!done);
}
