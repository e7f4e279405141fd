//! Shared Signals streams: round trips, and the events each change queues
//! (a revocation's once fanned out) for the matching streams only (status,
//! event types, subjects), held while paused, dropped when disabled, never
//! claimed by the worker when polled, settled by polls.

use grantor_domain::{Reason, SessionId, Timestamp};
use grantor_store::{
    OutboxClaim, OutboxFilter, OutboxKind, OutboxStatus, PurgePlan, RevocationTarget, SsfPoll,
    SsfStatus, SsfStream, SsfSubjectMode, Store, CAEP_SESSION_REVOKED, OAUTH_TOKENS_REVOKED,
    SSF_POLL_METHOD, SSF_PUSH_METHOD,
};

use crate::support::fixtures::{
    all, client, issue_family, log_event, new_family, page, session_record, ts, user,
    user_with_grant,
};

conformance_tests! {
    streams_round_trip_and_delete_with_their_subjects,
    changes_queue_one_event_per_matching_stream,
    held_and_polled_events_wait_for_their_stream,
    a_multi_user_revocation_announces_every_user,
    unpolled_and_held_events_expire_with_the_audit_log,
    a_claimed_push_follows_its_stream_when_given_back,
    revocations_are_staged_and_fanned_out_as_the_streams_were,
    a_large_backlog_follows_its_stream_a_batch_per_transaction,
    events_waiting_when_disabled_stay_dropped_when_enabled_again,
    only_an_enabled_poll_stream_hands_out_events,
    the_sweep_takes_marked_streams_in_turn,
    a_dropped_event_is_not_claimed_once_its_stream_runs_again,
    a_leased_event_holds_its_drop_until_it_comes_back,
}

const USER: &str = "auth0|ssf";

fn stream(id: &str, owner: &str, method: &str, events: &[&str]) -> SsfStream {
    let events: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
    SsfStream {
        id: id.to_owned(),
        client_id: owner.to_owned(),
        delivery_method: method.to_owned(),
        endpoint_url: (method == SSF_PUSH_METHOD).then(|| format!("https://rp.example/{id}")),
        authorization_header: Some("Bearer s3cret".to_owned()),
        events_requested: events.clone(),
        events_delivered: events,
        description: Some("a stream with \"quotes\" and ünïcödé".to_owned()),
        default_subjects: "ALL".to_owned(),
        status: SsfStatus::Enabled,
        reason: None,
        created_at: ts(1),
        updated_at: ts(1),
    }
}

async fn arrange(store: &Store) {
    store
        .insert_user(&user("ssf", "ssf@example.com"))
        .await
        .unwrap();
    store.insert_client(&client("rp")).await.unwrap();
    store.insert_client(&client("other")).await.unwrap();
}

async fn insert(store: &Store, s: &SsfStream, at: i64) {
    let inserted = store
        .insert_ssf_stream(s, 10, &log_event(&format!("create-{}", s.id), "sapi", at))
        .await
        .unwrap();
    assert!(inserted, "{} was refused", s.id);
}

/// Creates each session of `USER` and ends it by browser logout at `at`,
/// with its own `slo` event.
async fn end_sessions(store: &Store, sessions: &[(&str, i64)]) {
    for (s, at) in sessions {
        store
            .create_session(&session_record(s, USER, 0))
            .await
            .unwrap();
        store
            .end_session(&SessionId::from(*s), &log_event(s, "slo", *at), ts(*at))
            .await
            .unwrap();
    }
}

/// A grant of `USER` to client `rp` (for refresh tokens to revoke).
async fn user_grant(store: &Store, id: &str) -> grantor_store::UserGrant {
    store
        .upsert_grant(
            &id.into(),
            &USER.into(),
            &"rp".into(),
            "https://api.example.com/",
            &grantor_domain::ScopeSet::parse("offline_access"),
            ts(0),
        )
        .await
        .unwrap()
}

/// The SSF messages, once what revocations staged is fanned out.
async fn queued(store: &Store) -> Vec<(String, OutboxKind, OutboxStatus)> {
    store.fan_out_ssf(1).await.unwrap();
    let mut rows: Vec<_> = store
        .list_outbox(&OutboxFilter::default(), all())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|m| m.kind != OutboxKind::BackchannelLogout)
        .map(|m| (m.id, m.kind, m.status))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

async fn streams_round_trip_and_delete_with_their_subjects(store: &Store) {
    arrange(store).await;
    let a = stream("a", "rp", SSF_PUSH_METHOD, &[CAEP_SESSION_REVOKED]);
    let b = stream("b", "other", SSF_POLL_METHOD, &[OAUTH_TOKENS_REVOKED]);
    insert(store, &a, 1).await;
    insert(store, &b, 2).await;
    assert_eq!(store.ssf_stream("a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.ssf_stream("missing").await.unwrap(), None);
    assert_eq!(
        store.list_ssf_streams(Some("rp")).await.unwrap(),
        vec![a.clone()]
    );
    assert_eq!(store.list_ssf_streams(None).await.unwrap().len(), 2);

    let mut changed = a.clone();
    changed.status = SsfStatus::Paused;
    changed.reason = Some("maintenance".to_owned());
    changed.default_subjects = "NONE".to_owned();
    let event = log_event("update-a", "sapi", 3);
    assert!(store
        .update_ssf_stream(&changed, false, &event, ts(3))
        .await
        .unwrap());
    changed.updated_at = ts(3);
    assert_eq!(store.ssf_stream("a").await.unwrap(), Some(changed));
    assert!(
        store.log_event(&event.log_id).await.unwrap().is_some(),
        "audited with the change"
    );
    // A settings change read before a status change keeps the stored
    // status and reason.
    let mut stale = a.clone();
    stale.description = Some("new words".to_owned());
    assert!(store
        .update_ssf_stream(&stale, true, &log_event("u1", "sapi", 3), ts(3))
        .await
        .unwrap());
    let kept = store.ssf_stream("a").await.unwrap().unwrap();
    assert_eq!(
        (
            kept.status,
            kept.reason.as_deref(),
            kept.description.as_deref()
        ),
        (SsfStatus::Paused, Some("maintenance"), Some("new words"))
    );
    let mut gone = a.clone();
    gone.id = "nope".to_owned();
    assert!(!store
        .update_ssf_stream(&gone, false, &log_event("u2", "sapi", 4), ts(4))
        .await
        .unwrap());

    assert!(store
        .set_ssf_subject(
            "a",
            USER,
            SsfSubjectMode::Added,
            &log_event("s1", "sapi", 5),
            ts(5)
        )
        .await
        .unwrap());
    assert!(store
        .set_ssf_subject(
            "a",
            USER,
            SsfSubjectMode::Removed,
            &log_event("s2", "sapi", 6),
            ts(6)
        )
        .await
        .unwrap());
    assert!(!store
        .set_ssf_subject(
            "nope",
            USER,
            SsfSubjectMode::Added,
            &log_event("s3", "sapi", 7),
            ts(7)
        )
        .await
        .unwrap());
    assert!(
        store
            .log_event(&log_event("s3", "sapi", 7).log_id)
            .await
            .unwrap()
            .is_none(),
        "no event without a change"
    );

    assert!(store
        .delete_ssf_stream("a", &log_event("d", "sapi", 8), ts(8))
        .await
        .unwrap());
    assert!(!store
        .delete_ssf_stream("a", &log_event("d2", "sapi", 9), ts(9))
        .await
        .unwrap());
    assert_eq!(store.ssf_stream("a").await.unwrap(), None);
    assert_eq!(store.list_ssf_streams(None).await.unwrap(), vec![b]);
}

/// Ending a session with its tokens queues session-revoked and
/// tokens-revoked events, each only to the streams that take them.
async fn changes_queue_one_event_per_matching_stream(store: &Store) {
    arrange(store).await;
    store
        .create_session(&session_record("s1", USER, 0))
        .await
        .unwrap();
    // A refresh token bound to the session, for its tokens-revoked event.
    let grant = user_grant(store, "g-ssf").await;
    let mut family = new_family("f-s1", USER, "rp", &grant.id, 0);
    family.session_id = Some(SessionId::from("s1"));
    issue_family(store, family).await;
    let both = [CAEP_SESSION_REVOKED, OAUTH_TOKENS_REVOKED];
    insert(store, &stream("all", "rp", SSF_PUSH_METHOD, &both), 1).await;
    insert(
        store,
        &stream("sessions", "rp", SSF_POLL_METHOD, &[CAEP_SESSION_REVOKED]),
        1,
    )
    .await;
    let mut disabled = stream("disabled", "rp", SSF_PUSH_METHOD, &both);
    disabled.status = SsfStatus::Disabled;
    insert(store, &disabled, 1).await;
    let mut none = stream("none", "rp", SSF_PUSH_METHOD, &both);
    none.default_subjects = "NONE".to_owned();
    insert(store, &none, 1).await;
    let mut added = stream("added", "other", SSF_PUSH_METHOD, &[OAUTH_TOKENS_REVOKED]);
    added.default_subjects = "NONE".to_owned();
    insert(store, &added, 1).await;
    store
        .set_ssf_subject(
            "added",
            USER,
            SsfSubjectMode::Added,
            &log_event("a", "sapi", 2),
            ts(2),
        )
        .await
        .unwrap();
    insert(store, &stream("removed", "rp", SSF_PUSH_METHOD, &both), 1).await;
    store
        .set_ssf_subject(
            "removed",
            USER,
            SsfSubjectMode::Removed,
            &log_event("r", "sapi", 2),
            ts(2),
        )
        .await
        .unwrap();
    // A stream whose owner client is gone hears nothing.
    insert(
        store,
        &stream("orphan", "deleted-client", SSF_PUSH_METHOD, &both),
        1,
    )
    .await;

    let event = log_event("l1", "srrt", 10);
    store
        .revoke(
            &RevocationTarget::Session {
                session_id: SessionId::from("s1"),
                tokens: true,
            },
            Reason::ManagementApi,
            &event,
            ts(10),
        )
        .await
        .unwrap();
    let l = &event.log_id;
    let mut expected = vec![
        (
            format!("{l}:all:s1"),
            OutboxKind::SsfPush,
            OutboxStatus::Pending,
        ),
        (
            format!("{l}:all"),
            OutboxKind::SsfPush,
            OutboxStatus::Pending,
        ),
        (
            format!("{l}:sessions:s1"),
            OutboxKind::SsfPoll,
            OutboxStatus::Pending,
        ),
        (
            format!("{l}:added"),
            OutboxKind::SsfPush,
            OutboxStatus::Pending,
        ),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(queued(store).await, expected);
    // The same revocation again ends nothing and announces nothing.
    store
        .revoke(
            &RevocationTarget::Session {
                session_id: SessionId::from("s1"),
                tokens: true,
            },
            Reason::ManagementApi,
            &log_event("l2", "srrt", 11),
            ts(11),
        )
        .await
        .unwrap();
    assert_eq!(queued(store).await, expected);
    let message = store
        .list_outbox(
            &OutboxFilter {
                destination: Some("all".to_owned()),
                session_id: Some("s1".to_owned()),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(
        (
            message.client_id.as_deref(),
            message.user_id.as_deref(),
            message.log_id.as_deref()
        ),
        (Some("rp"), Some(USER), Some(l.as_str()))
    );

    // An unknown session revokes nothing and queues nothing.
    let before = queued(store).await.len();
    store
        .revoke(
            &RevocationTarget::Session {
                session_id: SessionId::from("nope"),
                tokens: true,
            },
            Reason::ManagementApi,
            &log_event("l2", "srrt", 11),
            ts(11),
        )
        .await
        .unwrap();
    assert_eq!(queued(store).await.len(), before);
}

/// Paused streams hold their events (never claimed); enabling releases
/// them as the stream's delivery says; polled events are never claimed and
/// are settled by polls; disabling drops what waits.
async fn held_and_polled_events_wait_for_their_stream(store: &Store) {
    arrange(store).await;
    let mut paused = stream("paused", "rp", SSF_POLL_METHOD, &[CAEP_SESSION_REVOKED]);
    paused.status = SsfStatus::Paused;
    insert(store, &paused, 1).await;
    let mut push = stream("push", "rp", SSF_PUSH_METHOD, &[CAEP_SESSION_REVOKED]);
    push.status = SsfStatus::Paused;
    insert(store, &push, 1).await;
    end_sessions(store, &[("s1", 10), ("s2", 10), ("s3", 10)]).await;
    let kinds: Vec<OutboxKind> = queued(store).await.into_iter().map(|q| q.1).collect();
    assert_eq!(kinds, vec![OutboxKind::SsfHeld; 6]);
    let claim = OutboxClaim {
        owner: "w".to_owned(),
        lease_until: ts(100_000),
        limit: 50,
        skip_destinations: vec![],
        per_destination: 16,
    };
    assert!(!store.outbox_due(ts(20)).await.unwrap());
    assert!(
        store.claim_outbox(&claim, ts(20)).await.unwrap().is_empty(),
        "held events are never claimed"
    );

    paused.status = SsfStatus::Enabled;
    store
        .update_ssf_stream(&paused, false, &log_event("e1", "sapi", 30), ts(30))
        .await
        .unwrap();
    assert!(
        store.claim_outbox(&claim, ts(31)).await.unwrap().is_empty(),
        "polled events are never claimed"
    );
    push.status = SsfStatus::Enabled;
    store
        .update_ssf_stream(&push, false, &log_event("e2", "sapi", 32), ts(32))
        .await
        .unwrap();
    let claimed = store.claim_outbox(&claim, ts(33)).await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert!(claimed
        .iter()
        .all(|m| m.kind == OutboxKind::SsfPush && m.destination == "push"));

    let first = store
        .poll_ssf(
            "paused",
            &SsfPoll {
                max_events: 2,
                ..Default::default()
            },
            ts(40),
        )
        .await
        .unwrap();
    assert_eq!(first.messages.len(), 2);
    assert!(first.more_available);
    assert!(first
        .messages
        .iter()
        .all(|m| m.kind == OutboxKind::SsfPoll && m.attempts == 1));
    let (a, b) = (first.messages[0].id.clone(), first.messages[1].id.clone());
    // Another stream's poll cannot settle these.
    store
        .poll_ssf(
            "push",
            &SsfPoll {
                ack: vec![a.clone()],
                ..Default::default()
            },
            ts(41),
        )
        .await
        .unwrap();
    let second = store
        .poll_ssf(
            "paused",
            &SsfPoll {
                ack: vec![a.clone()],
                errors: vec![(b.clone(), "bad".to_owned())],
                max_events: 10,
            },
            ts(42),
        )
        .await
        .unwrap();
    assert_eq!(second.messages.len(), 1);
    assert!(!second.more_available);
    let third = second.messages[0].id.clone();
    let status = |id: String| async move {
        store
            .list_outbox(&OutboxFilter::default(), all())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|m| m.id == id)
            .map(|m| (m.status, m.last_error, m.finished_at))
    };
    assert_eq!(
        status(a).await,
        Some((OutboxStatus::Delivered, None, Some(ts(42))))
    );
    assert_eq!(
        status(b).await,
        Some((OutboxStatus::Failed, Some("bad".to_owned()), Some(ts(42))))
    );

    paused.status = SsfStatus::Disabled;
    store
        .update_ssf_stream(&paused, false, &log_event("e3", "sapi", 50), ts(50))
        .await
        .unwrap();
    assert_eq!(
        status(third).await,
        Some((
            OutboxStatus::Failed,
            Some("the stream was disabled".to_owned()),
            Some(ts(50))
        ))
    );
    let empty = store
        .poll_ssf(
            "paused",
            &SsfPoll {
                max_events: 10,
                ..Default::default()
            },
            ts(51),
        )
        .await
        .unwrap();
    assert!(empty.messages.is_empty());

    // A failing push stream is suspended (paused) once, with its event;
    // its waiting events are held.
    end_sessions(store, &[("s4", 60)]).await;
    let suspended = log_event("suspend", "sapi", 61);
    assert!(store
        .suspend_ssf_stream("push", "failed for good", &suspended, ts(61))
        .await
        .unwrap());
    assert!(!store
        .suspend_ssf_stream("push", "again", &log_event("suspend2", "sapi", 62), ts(62))
        .await
        .unwrap());
    assert!(!store
        .suspend_ssf_stream(
            "paused",
            "disabled streams stay disabled",
            &log_event("suspend3", "sapi", 63),
            ts(63)
        )
        .await
        .unwrap());
    let now = store.ssf_stream("push").await.unwrap().unwrap();
    assert_eq!(
        (now.status, now.reason.as_deref()),
        (SsfStatus::Paused, Some("failed for good"))
    );
    assert!(store.log_event(&suspended.log_id).await.unwrap().is_some());
    assert!(store
        .log_event(&log_event("suspend2", "sapi", 62).log_id)
        .await
        .unwrap()
        .is_none());
    let held = store
        .list_outbox(
            &OutboxFilter {
                destination: Some("push".to_owned()),
                session_id: Some("s4".to_owned()),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].kind, OutboxKind::SsfHeld);
    let _: Timestamp = ts(0);
}

/// Revoking a list of families that belong to several users (the
/// Management API's bulk revoke) tells each user's streams, once each.
async fn a_multi_user_revocation_announces_every_user(store: &Store) {
    store.insert_client(&client("rp")).await.unwrap();
    let a = user_with_grant(store, "ma").await;
    let b = user_with_grant(store, "mb").await;
    issue_family(store, new_family("fa", "auth0|ma", "client-a", &a.id, 1)).await;
    issue_family(store, new_family("fb", "auth0|mb", "client-a", &b.id, 1)).await;
    insert(
        store,
        &stream("all", "rp", SSF_PUSH_METHOD, &[OAUTH_TOKENS_REVOKED]),
        1,
    )
    .await;
    let event = log_event("multi", "srrt", 10);
    store
        .revoke(
            &RevocationTarget::Families {
                family_ids: vec!["fa".into(), "fb".into()],
            },
            Reason::ManagementApi,
            &event,
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!(
        store.fan_out_ssf(1).await.unwrap(),
        2,
        "one staged row per user"
    );
    let filter = OutboxFilter {
        destination: Some("all".to_owned()),
        ..OutboxFilter::default()
    };
    let mut got: Vec<(String, Option<String>)> = store
        .list_outbox(&filter, all())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| (m.id, m.user_id))
        .collect();
    got.sort();
    let l = &event.log_id;
    assert_eq!(
        got,
        vec![
            (format!("{l}:all:auth0|ma"), Some("auth0|ma".to_owned())),
            (format!("{l}:all:auth0|mb"), Some("auth0|mb".to_owned())),
        ]
    );
}

/// A receiver that never polls, or a stream left paused, keeps its events
/// only as long as the audit events they are built from: the purge fails
/// them (a bounded batch at a time) an hour before those go; push events are left
/// to their attempt limit.
async fn unpolled_and_held_events_expire_with_the_audit_log(store: &Store) {
    arrange(store).await;
    insert(
        store,
        &stream("poll", "rp", SSF_POLL_METHOD, &[CAEP_SESSION_REVOKED]),
        1,
    )
    .await;
    let mut held = stream("held", "rp", SSF_PUSH_METHOD, &[CAEP_SESSION_REVOKED]);
    held.status = SsfStatus::Paused;
    insert(store, &held, 1).await;
    end_sessions(store, &[("s1", 10), ("s2", 20)]).await;
    let kinds: Vec<OutboxKind> = queued(store).await.into_iter().map(|q| q.1).collect();
    assert_eq!(
        kinds,
        vec![
            OutboxKind::SsfHeld,
            OutboxKind::SsfPoll,
            OutboxKind::SsfHeld,
            OutboxKind::SsfPoll
        ]
    );
    // Events expire an hour before their audit events go: `expiring_before`
    // is the events' cutoff.
    const LEAD: i64 = 3_600_000;
    let plan = |expiring_before: i64, batch_size: i64| PurgePlan {
        batch_size,
        logs_before: ts(expiring_before - LEAD),
        families_after: String::new(),
        sessions_after: String::new(),
    };
    let report = store.purge(&plan(10, 100), ts(1_000)).await.unwrap();
    assert_eq!(
        report.expired_ssf_events, 0,
        "nothing older than the cutoff"
    );
    let report = store.purge(&plan(15, 1), ts(1_000)).await.unwrap();
    assert_eq!(report.expired_ssf_events, 1, "a bounded batch");
    assert!(report.behind(1));
    let report = store.purge(&plan(15, 100), ts(1_000)).await.unwrap();
    assert_eq!(report.expired_ssf_events, 1);
    let rows = queued(store).await;
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| r.2 == OutboxStatus::Failed)
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(failed.len(), 2, "{rows:?}");
    assert!(failed.iter().all(|id| id.ends_with(":s1")), "{rows:?}");
    let expired = store
        .list_outbox(&OutboxFilter::default(), all())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|m| m.status == OutboxStatus::Failed)
        .unwrap();
    assert_eq!(expired.finished_at, Some(ts(1_000)));
    assert!(expired.last_error.unwrap().starts_with("expired"));
    // The later events still wait, and a poll no longer returns the expired one.
    let polled = store
        .poll_ssf(
            "poll",
            &SsfPoll {
                max_events: 10,
                ..Default::default()
            },
            ts(1_001),
        )
        .await
        .unwrap();
    assert_eq!(polled.messages.len(), 1);
    assert!(
        polled.messages[0].id.ends_with(":s2"),
        "{:?}",
        polled.messages
    );
}

/// A push in flight when its stream is paused (or switched to poll) is
/// left alone by the status change; the worker gives it back with
/// `requeue_ssf_message`, which moves it to the stream's current kind
/// without counting an attempt. Only the lease owner can.
async fn a_claimed_push_follows_its_stream_when_given_back(store: &Store) {
    arrange(store).await;
    let mut push = stream("push", "rp", SSF_PUSH_METHOD, &[CAEP_SESSION_REVOKED]);
    insert(store, &push, 1).await;
    end_sessions(store, &[("s1", 10), ("s2", 10)]).await;
    let claim = OutboxClaim {
        owner: "w".to_owned(),
        lease_until: ts(100_000),
        limit: 50,
        skip_destinations: vec![],
        per_destination: 16,
    };
    let claimed = store.claim_outbox(&claim, ts(20)).await.unwrap();
    assert_eq!(claimed.len(), 2);
    push.status = SsfStatus::Paused;
    store
        .update_ssf_stream(&push, false, &log_event("p", "sapi", 30), ts(30))
        .await
        .unwrap();
    assert_eq!(
        queued(store).await.iter().map(|q| q.1).collect::<Vec<_>>(),
        vec![OutboxKind::SsfPush; 2],
        "leased messages are left to their owner"
    );
    assert!(!store
        .requeue_ssf_message(&claimed[0].id, "someone-else", ts(31))
        .await
        .unwrap());
    assert!(store
        .requeue_ssf_message(&claimed[0].id, "w", ts(31))
        .await
        .unwrap());
    let rows = store
        .list_outbox(&OutboxFilter::default(), all())
        .await
        .unwrap()
        .items;
    let given_back = rows.iter().find(|m| m.id == claimed[0].id).unwrap();
    assert_eq!(
        (given_back.kind, given_back.status, given_back.attempts),
        (OutboxKind::SsfHeld, OutboxStatus::Pending, 0)
    );
    // Enabled again as a poll stream, the held one is polled; the other,
    // still leased, follows when its owner gives it back.
    push.status = SsfStatus::Enabled;
    push.delivery_method = SSF_POLL_METHOD.to_owned();
    push.endpoint_url = None;
    store
        .update_ssf_stream(&push, false, &log_event("e", "sapi", 40), ts(40))
        .await
        .unwrap();
    assert!(store
        .requeue_ssf_message(&claimed[1].id, "w", ts(41))
        .await
        .unwrap());
    assert_eq!(
        queued(store)
            .await
            .iter()
            .map(|q| (q.1, q.2))
            .collect::<Vec<_>>(),
        vec![(OutboxKind::SsfPoll, OutboxStatus::Pending); 2]
    );
    assert!(
        store.claim_outbox(&claim, ts(50)).await.unwrap().is_empty(),
        "nothing is pushed any more"
    );
}

/// Revokes `USER`'s family `family` (issued for it here) at `at`; returns
/// the audit event's log id.
async fn revoke_family(store: &Store, grant_id: &str, family: &str, at: i64) -> String {
    issue_family(store, new_family(family, USER, "rp", grant_id, at - 1)).await;
    let mut event = log_event(family, "srrt", at);
    // As the server names events: the time in milliseconds, then a suffix.
    event.log_id = format!("{:020}{family}", ts(at).0);
    let receipt = store
        .revoke(
            &RevocationTarget::Family {
                family_id: family.into(),
            },
            Reason::ManagementApi,
            &event,
            ts(at),
        )
        .await
        .unwrap();
    assert_eq!(receipt.refresh_tokens, 1);
    event.log_id
}

/// A revocation writes no SSF message itself: it stages its tokens-revoked
/// event (only while some stream is live), and a fan-out makes the
/// messages with each stream as it was when the event was staged. A
/// stream created, or a subject removed, after the revocation changes
/// nothing for that event (each change fans out what is staged first), a
/// poll returns what was staged before it, and what no fan-out takes is
/// purged with the audit log.
async fn revocations_are_staged_and_fanned_out_as_the_streams_were(store: &Store) {
    arrange(store).await;
    let grant = user_grant(store, "g-staged").await;
    let messages = || async {
        store
            .list_outbox(&OutboxFilter::default(), all())
            .await
            .unwrap()
            .items
            .len()
    };
    // No live stream: nothing is staged.
    revoke_family(store, grant.id.as_str(), "f0", 5).await;
    assert_eq!(store.fan_out_ssf(1).await.unwrap(), 0);

    insert(
        store,
        &stream("push", "rp", SSF_PUSH_METHOD, &[OAUTH_TOKENS_REVOKED]),
        6,
    )
    .await;
    let first = revoke_family(store, grant.id.as_str(), "f1", 10).await;
    assert_eq!(messages().await, 0, "the revocation only staged its event");
    // A stream created now does not hear of it; the one that was there does.
    insert(
        store,
        &stream("late", "rp", SSF_POLL_METHOD, &[OAUTH_TOKENS_REVOKED]),
        11,
    )
    .await;
    assert_eq!(
        queued(store).await,
        vec![(
            format!("{first}:push"),
            OutboxKind::SsfPush,
            OutboxStatus::Pending
        )]
    );
    // Staged before the subject was removed from "push": it still goes there.
    let second = revoke_family(store, grant.id.as_str(), "f2", 20).await;
    assert!(store
        .set_ssf_subject(
            "push",
            USER,
            SsfSubjectMode::Removed,
            &log_event("rm", "sapi", 21),
            ts(21),
        )
        .await
        .unwrap());
    // Staged after: only the poll stream, and a poll returns it unasked.
    let third = revoke_family(store, grant.id.as_str(), "f3", 30).await;
    let poll = SsfPoll {
        max_events: 10,
        ack: vec![],
        errors: vec![],
    };
    let polled: Vec<String> = store
        .poll_ssf("late", &poll, ts(31))
        .await
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        polled,
        vec![format!("{second}:late"), format!("{third}:late")]
    );
    assert_eq!(
        store.fan_out_ssf(1).await.unwrap(),
        0,
        "nothing is left staged"
    );
    let mut all_ids: Vec<String> = queued(store).await.into_iter().map(|m| m.0).collect();
    all_ids.sort();
    let mut expected = vec![
        format!("{first}:push"),
        format!("{second}:push"),
        format!("{second}:late"),
        format!("{third}:late"),
    ];
    expected.sort();
    assert_eq!(all_ids, expected);
    let message = store
        .list_outbox(
            &OutboxFilter {
                destination: Some("late".to_owned()),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|m| m.id == format!("{third}:late"))
        .unwrap();
    assert_eq!(
        (
            message.client_id.as_deref(),
            message.user_id.as_deref(),
            message.log_id.as_deref(),
            message.created_at,
        ),
        (Some("rp"), Some(USER), Some(third.as_str()), ts(30)),
        "made as the revocation would have made it"
    );
    // What no fan-out takes (delivery off, no poll) goes an hour before its
    // audit event, as waiting SSF events do: `expiring_before` is its cutoff.
    revoke_family(store, grant.id.as_str(), "f4", 40).await;
    const LEAD: i64 = 3_600_000;
    let plan = |expiring_before: i64| PurgePlan {
        batch_size: 100,
        logs_before: ts(expiring_before - LEAD),
        families_after: String::new(),
        sessions_after: String::new(),
    };
    assert_eq!(store.purge(&plan(40), ts(50)).await.unwrap().ssf_backlog, 0);
    assert_eq!(store.purge(&plan(41), ts(50)).await.unwrap().ssf_backlog, 1);
    assert_eq!(store.fan_out_ssf(1).await.unwrap(), 0);
}

/// How many of stream `id`'s messages have `kind` and `status`.
async fn count(store: &Store, id: &str, kind: OutboxKind, status: OutboxStatus) -> i64 {
    let filter = OutboxFilter {
        destination: Some(id.to_owned()),
        kind: Some(kind),
        status: Some(status),
        ..OutboxFilter::default()
    };
    store.list_outbox(&filter, page(0, 1)).await.unwrap().total
}

/// A stream change moves or ends the first thousand waiting events in its
/// own transaction and leaves the rest to the sweep, a thousand per
/// transaction, so no change is as long as a backlog; a poll sweeps its
/// own stream first; deleting the stream's client ends its events too.
/// Clients `rp` and `other`, `streams`, and one tokens-revoked event for
/// each of `n` users (one revocation of `n` families), fanned out.
async fn bulk_backlog(store: &Store, n: usize, streams: &[SsfStream]) {
    use grantor_domain::{ScopeSet, UserId};
    let batch = grantor_store::ImportBatch {
        users: (0..n)
            .map(|i| user(&format!("b{i:05}"), &format!("b{i:05}@example.com")))
            .collect(),
        grants: (0..n)
            .map(|i| grantor_store::UserGrant {
                id: format!("g-b{i:05}").into(),
                user_id: UserId::from(format!("auth0|b{i:05}")),
                client_id: "rp".into(),
                audience: "https://api.example.com/".to_owned(),
                scope: ScopeSet::parse("offline_access"),
                token_epoch: 0,
                created_at: ts(0),
                updated_at: ts(0),
            })
            .collect(),
        families: (0..n)
            .map(|i| {
                new_family(
                    &format!("f-b{i:05}"),
                    &format!("auth0|b{i:05}"),
                    "rp",
                    format!("g-b{i:05}"),
                    1,
                )
            })
            .collect(),
    };
    store.insert_client(&client("rp")).await.unwrap();
    store.insert_client(&client("other")).await.unwrap();
    store.import(&batch).await.unwrap();
    for s in streams {
        insert(store, s, 1).await;
    }
    store
        .revoke(
            &RevocationTarget::Families {
                family_ids: (0..n).map(|i| format!("f-b{i:05}").into()).collect(),
            },
            Reason::ManagementApi,
            &log_event("bulk", "srrt", 10),
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!(store.fan_out_ssf(n / 200 + 1).await.unwrap(), n as u64);
}

/// One sweep call of at most `batches` batches, from the first marked stream.
async fn sweep(store: &Store, batches: usize, at: i64) -> u64 {
    store
        .sweep_outbox(None, "", batches, ts(at))
        .await
        .unwrap()
        .0
}

async fn a_large_backlog_follows_its_stream_a_batch_per_transaction(store: &Store) {
    const N: usize = 2_300;
    let mut big = stream("big", "rp", SSF_PUSH_METHOD, &[OAUTH_TOKENS_REVOKED]);
    let orphan = stream("orphan", "other", SSF_POLL_METHOD, &[OAUTH_TOKENS_REVOKED]);
    bulk_backlog(store, N, &[big.clone(), orphan]).await;
    let n = N as i64;
    let pending = OutboxStatus::Pending;
    assert_eq!(count(store, "big", OutboxKind::SsfPush, pending).await, n);
    assert_eq!(
        count(store, "orphan", OutboxKind::SsfPoll, pending).await,
        n
    );
    assert_eq!(
        sweep(store, 10, 11).await,
        0,
        "nothing is left for the sweep"
    );

    // Paused: the change holds the first thousand itself.
    store
        .suspend_ssf_stream("big", "slow", &log_event("pause", "sapi", 20), ts(20))
        .await
        .unwrap();
    assert_eq!(
        count(store, "big", OutboxKind::SsfHeld, pending).await,
        1_000
    );
    assert_eq!(
        count(store, "big", OutboxKind::SsfPush, pending).await,
        n - 1_000
    );
    assert_eq!(sweep(store, 1, 21).await, 1_000);
    assert_eq!(
        count(store, "big", OutboxKind::SsfHeld, pending).await,
        2_000
    );
    assert_eq!(sweep(store, 10, 22).await, n as u64 - 2_000);
    assert_eq!(count(store, "big", OutboxKind::SsfHeld, pending).await, n);
    assert_eq!(sweep(store, 10, 23).await, 0);

    // Enabled again as a poll stream: a poll sweeps its own stream first,
    // so it sees every event, and nothing is pushed any more.
    big.status = SsfStatus::Enabled;
    big.reason = None;
    big.delivery_method = SSF_POLL_METHOD.to_owned();
    big.endpoint_url = None;
    store
        .update_ssf_stream(&big, false, &log_event("poll", "sapi", 30), ts(30))
        .await
        .unwrap();
    assert_eq!(
        count(store, "big", OutboxKind::SsfPoll, pending).await,
        1_000
    );
    let polled = store
        .poll_ssf(
            "big",
            &SsfPoll {
                ack: vec![],
                errors: vec![],
                max_events: 10,
            },
            ts(31),
        )
        .await
        .unwrap();
    assert_eq!(polled.messages.len(), 10);
    assert_eq!(count(store, "big", OutboxKind::SsfPoll, pending).await, n);
    assert_eq!(count(store, "big", OutboxKind::SsfHeld, pending).await, 0);

    // Deleted: every event fails, the first thousand at once.
    assert!(store
        .delete_ssf_stream("big", &log_event("delete", "sapi", 40), ts(40))
        .await
        .unwrap());
    let failed = OutboxStatus::Failed;
    assert_eq!(
        count(store, "big", OutboxKind::SsfPoll, failed).await,
        1_000
    );
    sweep(store, 10, 41).await;
    assert_eq!(count(store, "big", OutboxKind::SsfPoll, failed).await, n);
    assert_eq!(count(store, "big", OutboxKind::SsfPoll, pending).await, 0);
    let last = store
        .list_outbox(
            &OutboxFilter {
                destination: Some("big".to_owned()),
                ..OutboxFilter::default()
            },
            page(0, 1),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(
        last[0].last_error.as_deref(),
        Some("the stream was deleted")
    );

    // A deleted client's streams: all left to the sweep.
    assert!(store.delete_client(&"other".into()).await.unwrap());
    assert_eq!(
        count(store, "orphan", OutboxKind::SsfPoll, pending).await,
        n
    );
    assert_eq!(sweep(store, 10, 50).await, n as u64);
    assert_eq!(count(store, "orphan", OutboxKind::SsfPoll, failed).await, n);
    assert_eq!(sweep(store, 10, 51).await, 0);
}

/// A poll of `id` for up to 100 events; how many it got.
async fn poll_count(store: &Store, id: &str, at: i64) -> usize {
    let poll = SsfPoll {
        ack: vec![],
        errors: vec![],
        max_events: 100,
    };
    store
        .poll_ssf(id, &poll, ts(at))
        .await
        .unwrap()
        .messages
        .len()
}

/// Disabled with more waiting events than its change ends, then enabled
/// again before the sweep came: the events that waited when it was
/// disabled still end ("the stream was disabled"), and the stream gets
/// only what happens after.
async fn events_waiting_when_disabled_stay_dropped_when_enabled_again(store: &Store) {
    const N: usize = 2_300;
    let mut s = stream("big", "rp", SSF_POLL_METHOD, &[OAUTH_TOKENS_REVOKED]);
    bulk_backlog(store, N, std::slice::from_ref(&s)).await;
    s.status = SsfStatus::Disabled;
    store
        .update_ssf_stream(&s, false, &log_event("off", "sapi", 20), ts(20))
        .await
        .unwrap();
    let (pending, failed) = (OutboxStatus::Pending, OutboxStatus::Failed);
    assert_eq!(
        count(store, "big", OutboxKind::SsfPoll, failed).await,
        1_000
    );
    s.status = SsfStatus::Enabled;
    store
        .update_ssf_stream(&s, false, &log_event("on", "sapi", 30), ts(30))
        .await
        .unwrap();
    // The re-enabling change ended the next thousand itself.
    assert_eq!(
        count(store, "big", OutboxKind::SsfPoll, failed).await,
        2_000
    );
    // A poll sweeps its own stream first: nothing from before comes.
    assert_eq!(poll_count(store, "big", 31).await, 0);
    assert_eq!(
        count(store, "big", OutboxKind::SsfPoll, failed).await,
        N as i64
    );
    assert_eq!(count(store, "big", OutboxKind::SsfPoll, pending).await, 0);
    assert_eq!(sweep(store, 10, 32).await, 0, "nothing is left marked");
    // What happens after the stream runs again is delivered.
    revoke_later(store, "b00007").await;
    assert_eq!(poll_count(store, "big", 42).await, 1);
}

/// A new token of `bulk_backlog`'s user `name`, revoked at 41.
async fn revoke_later(store: &Store, name: &str) {
    let user_id = format!("auth0|{name}");
    let family = new_family("later", &user_id, "rp", format!("g-{name}"), 40);
    issue_family(store, family).await;
    store
        .revoke(
            &RevocationTarget::Families {
                family_ids: vec!["later".into()],
            },
            Reason::ManagementApi,
            &log_event("later", "srrt", 41),
            ts(41),
        )
        .await
        .unwrap();
}

/// A paused or disabled poll stream's poll hands out nothing, whatever is
/// left to sweep.
async fn only_an_enabled_poll_stream_hands_out_events(store: &Store) {
    let mut s = stream("p", "rp", SSF_POLL_METHOD, &[OAUTH_TOKENS_REVOKED]);
    bulk_backlog(store, 5, std::slice::from_ref(&s)).await;
    s.status = SsfStatus::Paused;
    store
        .update_ssf_stream(&s, false, &log_event("pause", "sapi", 20), ts(20))
        .await
        .unwrap();
    assert_eq!(poll_count(store, "p", 21).await, 0);
    assert_eq!(
        count(store, "p", OutboxKind::SsfHeld, OutboxStatus::Pending).await,
        5
    );
    s.status = SsfStatus::Enabled;
    store
        .update_ssf_stream(&s, false, &log_event("resume", "sapi", 30), ts(30))
        .await
        .unwrap();
    assert_eq!(poll_count(store, "p", 31).await, 5);
    assert_eq!(poll_count(store, "missing", 32).await, 0);
}

/// Two streams with large backlogs, both paused: a sweep of one batch
/// takes the first, the next (after it) the second, then the first again.
async fn the_sweep_takes_marked_streams_in_turn(store: &Store) {
    const N: usize = 1_500;
    let mut a = stream("a", "rp", SSF_PUSH_METHOD, &[OAUTH_TOKENS_REVOKED]);
    let mut b = stream("b", "rp", SSF_PUSH_METHOD, &[OAUTH_TOKENS_REVOKED]);
    bulk_backlog(store, N, &[a.clone(), b.clone()]).await;
    for (s, at) in [(&mut a, 20), (&mut b, 21)] {
        s.status = SsfStatus::Paused;
        store
            .update_ssf_stream(s, false, &log_event(&s.id.clone(), "sapi", at), ts(at))
            .await
            .unwrap();
    }
    let held = |id: &'static str| count(store, id, OutboxKind::SsfHeld, OutboxStatus::Pending);
    assert_eq!((held("a").await, held("b").await), (1_000, 1_000));
    let (moved, last) = store.sweep_outbox(None, "", 1, ts(30)).await.unwrap();
    assert_eq!((moved, last.as_str()), (500, "a"));
    let (moved, last) = store.sweep_outbox(None, &last, 1, ts(31)).await.unwrap();
    assert_eq!((moved, last.as_str()), (500, "b"));
    assert_eq!((held("a").await, held("b").await), (1_500, 1_500));
    // Both finished: the marks go, and the turn goes round to nothing.
    assert_eq!(sweep(store, 10, 32).await, 0);
}

/// Events a disabling ended, still waiting for the sweep after the stream
/// was enabled again, are never claimed; the sweep ends them, and what
/// comes after is claimed.
async fn a_dropped_event_is_not_claimed_once_its_stream_runs_again(store: &Store) {
    const N: usize = 2_300;
    let mut s = stream("big", "rp", SSF_PUSH_METHOD, &[OAUTH_TOKENS_REVOKED]);
    bulk_backlog(store, N, std::slice::from_ref(&s)).await;
    for (status, at) in [(SsfStatus::Disabled, 20), (SsfStatus::Enabled, 30)] {
        s.status = status;
        store
            .update_ssf_stream(&s, false, &log_event(&format!("s{at}"), "sapi", at), ts(at))
            .await
            .unwrap();
    }
    let (pending, failed) = (OutboxStatus::Pending, OutboxStatus::Failed);
    assert_eq!(count(store, "big", OutboxKind::SsfPush, pending).await, 300);
    let claim = OutboxClaim {
        owner: "w".to_owned(),
        lease_until: ts(100_000),
        limit: 50,
        skip_destinations: vec![],
        per_destination: 16,
    };
    assert!(
        store.claim_outbox(&claim, ts(31)).await.unwrap().is_empty(),
        "a dropped event was claimed"
    );
    assert_eq!(sweep(store, 10, 32).await, 300);
    assert_eq!(
        count(store, "big", OutboxKind::SsfPush, failed).await,
        N as i64
    );
    revoke_later(store, "b00009").await;
    store.fan_out_ssf(1).await.unwrap();
    assert_eq!(store.claim_outbox(&claim, ts(42)).await.unwrap().len(), 1);
}

/// Events leased when their stream was disabled are left to their lease;
/// the drop stays recorded until they are settled, and one that comes
/// back for a retry after the stream ran again is ended by the sweep, not
/// claimed.
async fn a_leased_event_holds_its_drop_until_it_comes_back(store: &Store) {
    use grantor_store::DeliveryOutcome;
    const N: usize = 2_300;
    let mut s = stream("big", "rp", SSF_PUSH_METHOD, &[OAUTH_TOKENS_REVOKED]);
    bulk_backlog(store, N, std::slice::from_ref(&s)).await;
    let claim = OutboxClaim {
        owner: "w".to_owned(),
        lease_until: ts(100_000),
        limit: 16,
        skip_destinations: vec![],
        per_destination: 16,
    };
    let leased = store.claim_outbox(&claim, ts(15)).await.unwrap();
    assert_eq!(leased.len(), 16);
    for (status, at) in [(SsfStatus::Disabled, 20), (SsfStatus::Enabled, 30)] {
        s.status = status;
        store
            .update_ssf_stream(&s, false, &log_event(&format!("s{at}"), "sapi", at), ts(at))
            .await
            .unwrap();
    }
    let (pending, failed) = (OutboxStatus::Pending, OutboxStatus::Failed);
    assert_eq!(sweep(store, 10, 31).await, (N - 2_000 - 16) as u64);
    assert_eq!(count(store, "big", OutboxKind::SsfPush, pending).await, 16);
    assert_eq!(
        sweep(store, 10, 32).await,
        0,
        "the leased ones are left alone"
    );
    // One comes back for a retry: not claimed, ended by the sweep.
    let retry = DeliveryOutcome::Retry {
        error: "503".to_owned(),
        next_attempt_at: ts(33),
    };
    assert!(store
        .settle_outbox(&leased[0].id, "w", &retry, ts(33))
        .await
        .unwrap());
    assert!(store.claim_outbox(&claim, ts(40)).await.unwrap().is_empty());
    assert_eq!(sweep(store, 10, 41).await, 1);
    // The rest are delivered; the drop is done, and new events go out.
    for m in &leased[1..] {
        store
            .settle_outbox(&m.id, "w", &DeliveryOutcome::Delivered, ts(42))
            .await
            .unwrap();
    }
    assert_eq!(sweep(store, 10, 43).await, 0);
    assert_eq!(
        count(store, "big", OutboxKind::SsfPush, failed).await,
        (N - 15) as i64
    );
    revoke_later(store, "b00011").await;
    store.fan_out_ssf(1).await.unwrap();
    assert_eq!(store.claim_outbox(&claim, ts(44)).await.unwrap().len(), 1);
}
