//! The outbox: messages written in the transaction of the change they
//! announce, claimed under a lease, settled only by the claim that holds them,
//! purged once finished.

use grantor_domain::{ClientId, Reason, SessionId, UserId};
use grantor_store::{
    DeliveryOutcome, OutboxClaim, OutboxFilter, OutboxKind, OutboxMessage, OutboxStatus, PurgePlan,
    RevocationTarget, Store,
};

use crate::support::fixtures::{all, client, log_event, other_client, session_record, ts, user};

conformance_tests! {
    session_ends_queue_one_logout_per_registered_client,
    an_ended_session_records_no_new_client,
    claims_are_leases_settled_only_by_their_owner,
    finished_messages_are_purged_with_the_audit_log,
    a_claim_takes_a_few_per_destination_and_skips_busy_ones,
    pending_messages_are_counted_per_kind,
}

const USER: &str = "auth0|ob";

/// A user, a client with a back-channel URL (`client`) and one without
/// (`other_client`), and sessions that used both.
async fn arrange(store: &Store, sessions: &[&str]) -> String {
    store
        .insert_user(&user("ob", "ob@example.com"))
        .await
        .unwrap();
    let web = client("web");
    let url = web
        .backchannel_logout_url
        .clone()
        .expect("the fixture registers a URL");
    store.insert_client(&web).await.unwrap();
    let silent = other_client("silent");
    assert!(silent.backchannel_logout_url.is_none());
    store.insert_client(&silent).await.unwrap();
    for id in sessions {
        store
            .create_session(&session_record(id, USER, 0))
            .await
            .unwrap();
        for client in ["web", "silent"] {
            store
                .touch_session(
                    &SessionId::from(*id),
                    Some(&ClientId::from(client)),
                    "192.0.2.9",
                    "agent/9",
                    ts(1_000_000),
                    ts(1),
                )
                .await
                .unwrap();
        }
    }
    url
}

async fn messages(store: &Store) -> Vec<OutboxMessage> {
    let mut all_messages = store
        .list_outbox(&OutboxFilter::default(), all())
        .await
        .unwrap()
        .items;
    all_messages.sort_by(|a, b| a.id.cmp(&b.id));
    all_messages
}

/// Revokes one session; returns the id of its audit event.
async fn revoke_session(store: &Store, id: &str, log_id: &str, at: i64) -> String {
    let event = log_event(log_id, "srrt", at);
    store
        .revoke(
            &RevocationTarget::Session {
                session_id: SessionId::from(id),
                tokens: true,
            },
            Reason::ManagementApi,
            &event,
            ts(at),
        )
        .await
        .unwrap();
    event.log_id
}

/// A revocation and a browser logout each queue one message per registered
/// client of each live session they end, and nothing for a session that had
/// already ended or expired.
async fn session_ends_queue_one_logout_per_registered_client(store: &Store) {
    let url = arrange(store, &["s1", "s2", "s3"]).await;
    let mut expired = session_record("s4", USER, 0);
    expired.expires_at = ts(5);
    store.create_session(&expired).await.unwrap();
    store
        .touch_session(
            &SessionId::from("s4"),
            Some(&ClientId::from("web")),
            "192.0.2.9",
            "agent/9",
            ts(1_000_000),
            ts(1),
        )
        .await
        .unwrap();

    let l1 = revoke_session(store, "s1", "l1", 10).await;
    let queued = messages(store).await;
    assert_eq!(
        queued,
        vec![OutboxMessage {
            id: format!("{l1}:s1:web"),
            kind: OutboxKind::BackchannelLogout,
            destination: url.clone(),
            client_id: Some("web".to_owned()),
            user_id: Some(USER.to_owned()),
            session_id: Some("s1".to_owned()),
            log_id: Some(l1.clone()),
            created_at: ts(10),
            status: OutboxStatus::Pending,
            attempts: 0,
            next_attempt_at: ts(10),
            last_error: None,
            finished_at: None,
            payload: None,
        }]
    );
    // Revoked again: already ended, nothing more.
    revoke_session(store, "s1", "l1b", 11).await;
    let (l2, l2b) = (log_event("l2", "slo", 20), log_event("l2b", "slo", 21));
    store
        .end_session(&SessionId::from("s2"), &l2, ts(20))
        .await
        .unwrap();
    store
        .end_session(&SessionId::from("s2"), &l2b, ts(21))
        .await
        .unwrap();
    assert!(
        store.log_event(&l2.log_id).await.unwrap().is_some(),
        "the logout event is written with its messages"
    );
    assert!(
        store.log_event(&l2b.log_id).await.unwrap().is_none(),
        "a second logout of an ended session writes no event"
    );
    // Every session of the user: only s3 is still live (s4 expired).
    let l3 = log_event("l3", "srrt", 30);
    store
        .revoke(
            &RevocationTarget::UserSessions {
                user_id: UserId::from(USER),
                tokens: false,
            },
            Reason::ManagementApi,
            &l3,
            ts(30),
        )
        .await
        .unwrap();
    let ids: Vec<String> = messages(store).await.into_iter().map(|m| m.id).collect();
    let expected =
        [(&l1, "s1"), (&l2.log_id, "s2"), (&l3.log_id, "s3")].map(|(l, s)| format!("{l}:{s}:web"));
    assert_eq!(ids, expected);
}

/// A session that has ended is not touched and takes no new client, so no
/// client can be issued tokens in it without hearing of its end.
async fn an_ended_session_records_no_new_client(store: &Store) {
    arrange(store, &["s1"]).await;
    let s1 = SessionId::from("s1");
    let late = ClientId::from("late");
    store.insert_client(&client("late")).await.unwrap();
    store
        .end_session(&s1, &log_event("l1", "slo", 10), ts(10))
        .await
        .unwrap();
    let touched = store
        .touch_session(
            &s1,
            Some(&late),
            "192.0.2.9",
            "agent/9",
            ts(1_000_000),
            ts(11),
        )
        .await
        .unwrap();
    assert!(!touched);
    let live = SessionId::from("s2");
    store
        .create_session(&session_record("s2", USER, 0))
        .await
        .unwrap();
    assert!(store
        .touch_session(
            &live,
            Some(&late),
            "192.0.2.9",
            "agent/9",
            ts(1_000_000),
            ts(11)
        )
        .await
        .unwrap());
    let l2 = log_event("l2", "slo", 12);
    store.end_session(&live, &l2, ts(12)).await.unwrap();
    let ids: Vec<String> = messages(store).await.into_iter().map(|m| m.id).collect();
    let l1 = log_event("l1", "slo", 10).log_id;
    assert_eq!(
        ids,
        vec![format!("{l1}:s1:web"), format!("{}:s2:late", l2.log_id)],
        "the late client is told of the session it was recorded in, not of s1"
    );
}

fn claim(owner: &str, lease_until: i64, limit: i64) -> OutboxClaim {
    OutboxClaim {
        owner: owner.to_owned(),
        lease_until: ts(lease_until),
        limit,
        skip_destinations: vec![],
        per_destination: 16,
    }
}

/// A claim takes at most `limit` due messages and counts an attempt; a
/// leased message is not claimed again until its lease runs out; only the
/// holder settles it; a retry waits for its time.
async fn claims_are_leases_settled_only_by_their_owner(store: &Store) {
    let url = arrange(store, &["s1", "s2", "s3"]).await;
    store
        .revoke(
            &RevocationTarget::UserSessions {
                user_id: UserId::from(USER),
                tokens: true,
            },
            Reason::ManagementApi,
            &log_event("l1", "srrt", 10),
            ts(10),
        )
        .await
        .unwrap();
    assert!(
        !store.outbox_due(ts(9)).await.unwrap(),
        "not due before it was written"
    );
    assert!(store.outbox_due(ts(100)).await.unwrap());
    let mut skipping = claim("S", 1_100, 5);
    skipping.skip_destinations = vec!["https://elsewhere.example/".to_owned(), url];
    assert!(
        store
            .claim_outbox(&skipping, ts(100))
            .await
            .unwrap()
            .is_empty(),
        "a busy destination's messages are left alone"
    );

    let a = store
        .claim_outbox(&claim("A", 1_100, 2), ts(100))
        .await
        .unwrap();
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|m| m.attempts == 1));
    let b = store
        .claim_outbox(&claim("B", 1_200, 5), ts(200))
        .await
        .unwrap();
    assert_eq!(b.len(), 1, "the leased ones are not claimed again");
    assert!(a.iter().all(|m| m.id != b[0].id));
    assert!(store
        .claim_outbox(&claim("C", 1_300, 5), ts(300))
        .await
        .unwrap()
        .is_empty());
    assert!(!store.outbox_due(ts(300)).await.unwrap());

    let delivered = DeliveryOutcome::Delivered;
    assert!(
        !store
            .settle_outbox(&a[0].id, "B", &delivered, ts(400))
            .await
            .unwrap(),
        "only the holder settles"
    );
    assert!(store
        .settle_outbox(&a[0].id, "A", &delivered, ts(400))
        .await
        .unwrap());
    assert!(
        !store
            .settle_outbox(&a[0].id, "A", &delivered, ts(401))
            .await
            .unwrap(),
        "settled once"
    );
    let retry = DeliveryOutcome::Retry {
        error: "the receiver answered 503".to_owned(),
        next_attempt_at: ts(5_000),
    };
    assert!(store
        .settle_outbox(&a[1].id, "A", &retry, ts(500))
        .await
        .unwrap());

    // B's lease ran out (B was killed): the message is claimed again.
    let c = store
        .claim_outbox(&claim("C", 2_300, 5), ts(1_300))
        .await
        .unwrap();
    assert_eq!(
        c.iter().map(|m| (&m.id, m.attempts)).collect::<Vec<_>>(),
        vec![(&b[0].id, 2)]
    );
    assert!(
        !store
            .settle_outbox(&b[0].id, "B", &delivered, ts(1_301))
            .await
            .unwrap(),
        "B lost its lease"
    );
    let gave_up = DeliveryOutcome::GaveUp {
        error: "the receiver answered 500".to_owned(),
    };
    assert!(store
        .settle_outbox(&c[0].id, "C", &gave_up, ts(1_400))
        .await
        .unwrap());

    // A message given back unsent counts no attempt and is due again at once.
    let e = store
        .claim_outbox(&claim("E", 9_000, 5), ts(1_500))
        .await
        .unwrap();
    assert!(e.is_empty(), "nothing else is due before the retry");

    // The retry is due at its time, not before.
    assert!(store
        .claim_outbox(&claim("D", 6_000, 5), ts(4_999))
        .await
        .unwrap()
        .is_empty());
    let d = store
        .claim_outbox(&claim("D", 6_000, 5), ts(5_000))
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].id.as_str(), d[0].attempts), (a[1].id.as_str(), 2));
    assert_eq!(
        d[0].last_error.as_deref(),
        Some("the receiver answered 503")
    );

    let by_id = |id: &str| {
        let id = id.to_owned();
        async move {
            messages(store)
                .await
                .into_iter()
                .find(|m| m.id == id)
                .unwrap()
        }
    };
    let first = by_id(&a[0].id).await;
    let _ = by_id(&d[0].id).await;
    assert_eq!(
        (first.status, first.finished_at),
        (OutboxStatus::Delivered, Some(ts(400)))
    );
    let failed = by_id(&b[0].id).await;
    assert_eq!(
        (failed.status, failed.attempts, failed.finished_at),
        (OutboxStatus::Failed, 2, Some(ts(1_400)))
    );
    assert_eq!(
        failed.last_error.as_deref(),
        Some("the receiver answered 500")
    );
    let filtered = store
        .list_outbox(
            &OutboxFilter {
                status: Some(OutboxStatus::Pending),
                ..OutboxFilter::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!((filtered.items.len(), filtered.total), (1, 1));
}

/// Delivered and failed messages go with the audit log's retention; pending
/// ones stay whatever their age.
async fn finished_messages_are_purged_with_the_audit_log(store: &Store) {
    arrange(store, &["s1", "s2"]).await;
    revoke_session(store, "s1", "l1", 10).await;
    revoke_session(store, "s2", "l2", 10).await;
    let claimed = store
        .claim_outbox(&claim("A", 1_000, 1), ts(100))
        .await
        .unwrap();
    assert!(store
        .settle_outbox(&claimed[0].id, "A", &DeliveryOutcome::Delivered, ts(400))
        .await
        .unwrap());
    let plan = |before: i64| PurgePlan {
        batch_size: 100,
        logs_before: ts(before),
        families_after: String::new(),
        sessions_after: String::new(),
    };
    let report = store.purge(&plan(400), ts(10_000_000)).await.unwrap();
    assert_eq!(report.outbox, 0, "finished at the cutoff is kept");
    let report = store.purge(&plan(401), ts(10_000_000)).await.unwrap();
    assert_eq!(report.outbox, 1);
    let left = messages(store).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, OutboxStatus::Pending);
}

/// A claim takes at most `per_destination` due messages of each
/// destination, none of a skipped (busy) one, and a destination's next
/// messages once the first are leased.
async fn a_claim_takes_a_few_per_destination_and_skips_busy_ones(store: &Store) {
    let url = arrange(store, &["s1", "s2", "s3", "s4", "s5"]).await;
    let mut second = client("second");
    second.backchannel_logout_url = Some("https://second.example/logout".to_owned());
    store.insert_client(&second).await.unwrap();
    for id in ["s1", "s2"] {
        store
            .touch_session(
                &SessionId::from(id),
                Some(&ClientId::from("second")),
                "192.0.2.9",
                "agent/9",
                ts(1_000_000),
                ts(1),
            )
            .await
            .unwrap();
    }
    store
        .revoke(
            &RevocationTarget::UserSessions {
                user_id: UserId::from(USER),
                tokens: true,
            },
            Reason::ManagementApi,
            &log_event("l1", "srrt", 10),
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!(messages(store).await.len(), 7);
    let destinations = |claimed: &[OutboxMessage]| -> Vec<String> {
        claimed.iter().map(|m| m.destination.clone()).collect()
    };
    let mut x = claim("X", 1_000, 50);
    x.per_destination = 2;
    x.skip_destinations = vec![url.clone()];
    let claimed = store.claim_outbox(&x, ts(100)).await.unwrap();
    assert_eq!(
        destinations(&claimed),
        vec!["https://second.example/logout"; 2],
        "the busy destination is skipped"
    );
    let mut y = claim("Y", 1_000, 50);
    y.per_destination = 2;
    let claimed = store.claim_outbox(&y, ts(100)).await.unwrap();
    assert_eq!(
        destinations(&claimed),
        vec![url.clone(); 2],
        "two per destination"
    );
    y.per_destination = 5;
    let claimed = store.claim_outbox(&y, ts(100)).await.unwrap();
    assert_eq!(destinations(&claimed), vec![url.clone(); 3], "the rest");
    assert!(store.claim_outbox(&y, ts(100)).await.unwrap().is_empty());
}

/// The metrics' periodic count: pending messages per kind, a settled one no
/// longer counted; and the pool's state, read without a query.
async fn pending_messages_are_counted_per_kind(store: &Store) {
    assert!(store.outbox_pending_counts().await.unwrap().is_empty());
    arrange(store, &["s1", "s2", "s3"]).await;
    store
        .revoke(
            &RevocationTarget::UserSessions {
                user_id: UserId::from(USER),
                tokens: true,
            },
            Reason::ManagementApi,
            &log_event("l1", "srrt", 10),
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!(
        store.outbox_pending_counts().await.unwrap(),
        vec![(OutboxKind::BackchannelLogout, 3)]
    );
    let claimed = store
        .claim_outbox(&claim("A", 1_100, 1), ts(100))
        .await
        .unwrap();
    assert!(store
        .settle_outbox(&claimed[0].id, "A", &DeliveryOutcome::Delivered, ts(200))
        .await
        .unwrap());
    assert_eq!(
        store.outbox_pending_counts().await.unwrap(),
        vec![(OutboxKind::BackchannelLogout, 2)],
        "a leased message is still pending; a delivered one is not"
    );
    let pool = store.pool_stats();
    assert!(
        pool.max >= 1 && pool.size <= pool.max && pool.idle <= pool.size,
        "{pool:?}"
    );
}
