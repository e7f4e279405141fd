//! Log streams: events staged by their own insert only while a stream is
//! active, batched per matching stream (and deleted from the backlog) in
//! one transaction, failures counted until a suspension with its event,
//! staged rows and finished batches purged in bounded batches.

use grantor_domain::{LogStream, LogStreamPatch, LogStreamStatus};
use grantor_store::{DeliveryOutcome, OutboxClaim, OutboxFilter, OutboxKind, PurgePlan, Store};

use crate::support::fixtures::{log_event, ts};

conformance_tests! {
    events_are_staged_only_while_a_stream_is_active,
    staged_events_become_one_batch_per_matching_stream,
    failures_suspend_a_stream_once_with_its_event,
    staged_rows_and_finished_batches_are_purged,
    a_stopped_streams_batches_end_a_thousand_per_transaction,
    batches_pending_when_paused_end_even_if_resumed_first,
}

const DAY: i64 = 86_400_000;

fn categorize(code: &str) -> &'static str {
    match code {
        "sertft" | "seccft" => "auth.token_exchange.success",
        "sapi" => "management.success",
        _ => "other",
    }
}

async fn stream(store: &Store, id: &str, format: &str, filters: &[&str], at: i64) -> LogStream {
    let patch = LogStreamPatch {
        name: Some(id.to_owned()),
        endpoint: Some("https://logs.example.com/in".to_owned()),
        content_type: Some("application/json".to_owned()),
        content_format: Some(format.to_owned()),
        filters: Some(
            filters
                .iter()
                .map(|f| ("category".to_owned(), (*f).to_owned()))
                .collect(),
        ),
        ..LogStreamPatch::default()
    };
    let s = LogStream::create(id.to_owned(), &patch, ts(at)).unwrap();
    store
        .insert_log_stream(&s, &log_event(&format!("create-{id}"), "sapi", at))
        .await
        .unwrap();
    s
}

async fn batches(store: &Store, stream_id: &str) -> Vec<Vec<String>> {
    let filter = OutboxFilter {
        kind: Some(OutboxKind::LogStreamBatch),
        destination: Some(stream_id.to_owned()),
        ..OutboxFilter::default()
    };
    let page = grantor_store::PageRequest {
        offset: 0,
        limit: 100,
    };
    let mut found: Vec<_> = store
        .list_outbox(&filter, page)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.log_ids())
        .collect();
    found.sort();
    found
}

async fn events_are_staged_only_while_a_stream_is_active(store: &Store) {
    store
        .record_event(&log_event("a", "sapi", 1))
        .await
        .unwrap();
    assert_eq!(store.log_stream_backlog().await.unwrap(), 0);
    let s = stream(store, "lst_1", "JSONARRAY", &[], 2).await;
    // Its own creation event is staged with it.
    assert_eq!(store.log_stream_backlog().await.unwrap(), 1);
    store
        .record_events(&[log_event("b", "seccft", 3), log_event("c", "seccft", 3)])
        .await
        .unwrap();
    assert_eq!(store.log_stream_backlog().await.unwrap(), 3);
    let mut paused = s.clone();
    paused.status = LogStreamStatus::Paused;
    store
        .update_log_stream(&paused, true, &log_event("d", "sapi", 4))
        .await
        .unwrap();
    store
        .record_event(&log_event("e", "sapi", 5))
        .await
        .unwrap();
    assert_eq!(
        store.log_stream_backlog().await.unwrap(),
        3,
        "nothing is staged while no stream is active"
    );
}

async fn staged_events_become_one_batch_per_matching_stream(store: &Store) {
    let exchanges = stream(
        store,
        "lst_a",
        "JSONLINES",
        &["auth.token_exchange.success"],
        1,
    )
    .await;
    let all = stream(store, "lst_b", "JSONARRAY", &[], 1).await;
    let objects = stream(
        store,
        "lst_c",
        "JSONOBJECT",
        &["auth.token_exchange.success"],
        1,
    )
    .await;
    let paused = stream(store, "lst_d", "JSONARRAY", &[], 1).await;
    let mut p = paused.clone();
    p.status = LogStreamStatus::Paused;
    store
        .update_log_stream(&p, true, &log_event("pause", "sapi", 1))
        .await
        .unwrap();
    // The creation events and the pause's: drain them first.
    let first = store
        .batch_log_streams(100, categorize, ts(2))
        .await
        .unwrap();
    assert_eq!(first.events, 5);
    let before_all = batches(store, &all.id).await.len();
    let (x, y, z) = (
        log_event("x", "sertft", 10),
        log_event("y", "sapi", 11),
        log_event("z", "seccft", 12),
    );
    store
        .record_events(&[x.clone(), y.clone(), z.clone()])
        .await
        .unwrap();
    // Two at a time: the oldest first.
    let done = store
        .batch_log_streams(2, categorize, ts(20))
        .await
        .unwrap();
    assert_eq!(done.events, 2);
    assert_eq!(store.log_stream_backlog().await.unwrap(), 1);
    let done = store
        .batch_log_streams(2, categorize, ts(21))
        .await
        .unwrap();
    assert_eq!(done.events, 1);
    assert_eq!(
        store
            .batch_log_streams(2, categorize, ts(22))
            .await
            .unwrap()
            .events,
        0
    );
    assert_eq!(
        batches(store, &exchanges.id).await,
        vec![vec![x.log_id.clone()], vec![z.log_id.clone()]]
    );
    let for_all = batches(store, &all.id).await;
    assert_eq!(for_all.len(), before_all + 2);
    assert!(for_all.contains(&vec![x.log_id.clone(), y.log_id.clone()]));
    assert!(for_all.contains(&vec![z.log_id.clone()]));
    // One message per event for JSONOBJECT; nothing for the paused stream.
    assert_eq!(
        batches(store, &objects.id).await,
        vec![vec![x.log_id.clone()], vec![z.log_id.clone()]]
    );
    assert!(batches(store, &paused.id).await.is_empty());
    // The batch's events read back in log-id order.
    let read = store
        .log_events(&[z.log_id.clone(), x.log_id.clone(), "missing".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        read.iter().map(|e| e.log_id.clone()).collect::<Vec<_>>(),
        vec![x.log_id, z.log_id]
    );
}

async fn failures_suspend_a_stream_once_with_its_event(store: &Store) {
    let s = stream(store, "lst_f", "JSONARRAY", &[], 0).await;
    let event = |n: &str| log_event(n, "log_stream_suspended", 0);
    let id = s.id.as_str();
    let fail = |at: i64, n: &'static str| {
        let e = event(n);
        async move {
            store
                .record_log_stream_outcome(id, Some("the receiver answered 500"), 1_000, &e, ts(at))
                .await
                .unwrap()
        }
    };
    assert!(!fail(100, "s1").await);
    assert!(!fail(500, "s2").await);
    let health = store.log_stream(&s.id).await.unwrap().unwrap().health;
    assert_eq!(health.consecutive_failures, 2);
    assert_eq!(health.failing_since, Some(ts(100)));
    assert_eq!(
        health.last_error.as_deref(),
        Some("the receiver answered 500")
    );
    // An update from a stale read (a rename) keeps the failure count.
    let mut renamed = s.clone();
    renamed.name = "renamed".to_owned();
    store
        .update_log_stream(&renamed, false, &log_event("rename", "sapi", 550))
        .await
        .unwrap();
    let after = store.log_stream(&s.id).await.unwrap().unwrap();
    assert_eq!(after.name, "renamed");
    assert_eq!(after.health.consecutive_failures, 2);
    // A delivery clears the run.
    assert!(!store
        .record_log_stream_outcome(&s.id, None, 1_000, &event("ok"), ts(600))
        .await
        .unwrap());
    let health = store.log_stream(&s.id).await.unwrap().unwrap().health;
    assert_eq!(
        (health.consecutive_failures, health.failing_since),
        (0, None)
    );
    assert!(!fail(700, "s3").await);
    assert!(
        fail(1_700, "s4").await,
        "a run as long as the limit suspends"
    );
    assert!(!fail(1_800, "s5").await, "once");
    let after = store.log_stream(&s.id).await.unwrap().unwrap();
    assert_eq!(after.status, LogStreamStatus::Suspended);
    // A rename read before the suspension (its status still active) does
    // not resume the stream; an update that names a status does.
    let mut stale = s.clone();
    stale.name = "renamed again".to_owned();
    store
        .update_log_stream(&stale, false, &log_event("rename2", "sapi", 1_900))
        .await
        .unwrap();
    let after = store.log_stream(&s.id).await.unwrap().unwrap();
    assert_eq!(
        (after.name.as_str(), after.status),
        ("renamed again", LogStreamStatus::Suspended)
    );
    let events = store
        .list_logs(
            &grantor_store::LogFilter {
                type_code: Some("log_stream_suspended".to_owned()),
                ..Default::default()
            },
            grantor_store::PageRequest {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(events.total, 1);
}

async fn staged_rows_and_finished_batches_are_purged(store: &Store) {
    stream(store, "lst_p", "JSONARRAY", &[], 1).await;
    store
        .record_events(&[log_event("o1", "sapi", 2), log_event("o2", "sapi", 3)])
        .await
        .unwrap();
    let plan = |before: i64| PurgePlan {
        batch_size: 2,
        logs_before: ts(before),
        families_after: String::new(),
        sessions_after: String::new(),
    };
    // Staged rows older than the audit log's cutoff, a bounded batch at a time.
    let report = store.purge(&plan(3), ts(10)).await.unwrap();
    assert_eq!(report.log_stream_backlog, 2);
    assert_eq!(store.log_stream_backlog().await.unwrap(), 1);
    // A delivered batch is kept a day after it finished.
    store
        .batch_log_streams(100, categorize, ts(10))
        .await
        .unwrap();
    let claimed = store
        .claim_outbox(
            &OutboxClaim {
                owner: "A".to_owned(),
                lease_until: ts(1_000),
                limit: 10,
                skip_destinations: vec![],
                per_destination: 16,
            },
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(store
        .settle_outbox(&claimed[0].id, "A", &DeliveryOutcome::Delivered, ts(100))
        .await
        .unwrap());
    let report = store.purge(&plan(0), ts(100 + DAY)).await.unwrap();
    assert_eq!(report.log_stream_batches, 0);
    let report = store.purge(&plan(0), ts(101 + DAY)).await.unwrap();
    assert_eq!(report.log_stream_batches, 1);
    assert!(batches(store, "lst_p").await.is_empty());
}

/// How many of stream `id`'s batches have `status`.
async fn batch_count(store: &Store, id: &str, status: grantor_store::OutboxStatus) -> i64 {
    let filter = OutboxFilter {
        kind: Some(OutboxKind::LogStreamBatch),
        destination: Some(id.to_owned()),
        status: Some(status),
        ..OutboxFilter::default()
    };
    let page = grantor_store::PageRequest {
        offset: 0,
        limit: 1,
    };
    store.list_outbox(&filter, page).await.unwrap().total
}

/// `n` events at 10, batched at 20 (one batch per event for the
/// `JSONOBJECT` stream `lst_big`); how many batches `lst_big` has pending.
async fn batch_backlog(store: &Store, n: usize) -> i64 {
    let events: Vec<_> = (0..n)
        .map(|i| log_event(&format!("e{i:04}"), "sapi", 10))
        .collect();
    store.record_events(&events).await.unwrap();
    store
        .batch_log_streams(5_000, categorize, ts(20))
        .await
        .unwrap();
    let total = batch_count(store, "lst_big", grantor_store::OutboxStatus::Pending).await;
    assert!(total > n as i64, "one batch per event: {total}");
    total
}

/// Pausing or deleting a stream ends its pending batches: the first
/// thousand in the change's own transaction, the rest by the sweep, a
/// thousand per transaction (a claim ends no more than one at a time).
async fn a_stopped_streams_batches_end_a_thousand_per_transaction(store: &Store) {
    use grantor_store::OutboxStatus::{Failed, Pending};
    let mut big = stream(store, "lst_big", "JSONOBJECT", &[], 1).await;
    let small = stream(store, "lst_small", "JSONARRAY", &[], 2).await;
    let total = batch_backlog(store, 1_500).await;
    assert_eq!(batch_count(store, "lst_small", Pending).await, 1);

    big.status = LogStreamStatus::Paused;
    big.updated_at = ts(30);
    store
        .update_log_stream(&big, true, &log_event("pause", "sapi", 30))
        .await
        .unwrap();
    assert_eq!(batch_count(store, "lst_big", Failed).await, 1_000);
    assert_eq!(batch_count(store, "lst_big", Pending).await, total - 1_000);
    assert_eq!(
        store.sweep_outbox(None, "", 10, ts(31)).await.unwrap().0,
        (total - 1_000) as u64
    );
    assert_eq!(batch_count(store, "lst_big", Failed).await, total);
    assert_eq!(store.sweep_outbox(None, "", 10, ts(32)).await.unwrap().0, 0);
    let filter = OutboxFilter {
        destination: Some("lst_big".to_owned()),
        ..OutboxFilter::default()
    };
    let page = grantor_store::PageRequest {
        offset: 0,
        limit: 1,
    };
    let one = store.list_outbox(&filter, page).await.unwrap().items;
    assert_eq!(
        one[0].last_error.as_deref(),
        Some("the log stream is paused; the batch was not sent")
    );

    assert!(store
        .delete_log_stream(&small.id, &log_event("delete", "sapi", 40))
        .await
        .unwrap());
    assert_eq!(batch_count(store, "lst_small", Failed).await, 1);
    assert_eq!(
        store.sweep_outbox(None, "", 10, ts(41)).await.unwrap().0,
        0,
        "a short backlog is ended by the change alone"
    );
}

/// Paused with more pending batches than its change ends, then resumed
/// before the sweep came: the batches pending when it stopped still end;
/// those made after it resumed go out.
async fn batches_pending_when_paused_end_even_if_resumed_first(store: &Store) {
    use grantor_store::OutboxStatus::{Failed, Pending};
    let mut big = stream(store, "lst_big", "JSONOBJECT", &[], 1).await;
    let total = batch_backlog(store, 2_500).await;
    big.status = LogStreamStatus::Paused;
    big.updated_at = ts(30);
    store
        .update_log_stream(&big, true, &log_event("pause", "sapi", 30))
        .await
        .unwrap();
    big.status = LogStreamStatus::Active;
    big.updated_at = ts(40);
    store
        .update_log_stream(&big, true, &log_event("resume", "sapi", 40))
        .await
        .unwrap();
    // Each change ended a thousand; the rest wait for the sweep, and the
    // claim leaves them alone although the stream is active again.
    assert_eq!(batch_count(store, "lst_big", Failed).await, 2_000);
    // The resume's own event is staged and batched.
    store
        .batch_log_streams(5_000, categorize, ts(41))
        .await
        .unwrap();
    assert_eq!(
        batch_count(store, "lst_big", Pending).await,
        total - 2_000 + 1
    );
    let claim = OutboxClaim {
        owner: "w".to_owned(),
        lease_until: ts(100_000),
        limit: 10,
        skip_destinations: vec![],
        per_destination: 1,
    };
    assert!(store.claim_outbox(&claim, ts(42)).await.unwrap().is_empty());
    store.sweep_outbox(None, "", 10, ts(43)).await.unwrap();
    assert_eq!(batch_count(store, "lst_big", Failed).await, total);
    let claimed = store.claim_outbox(&claim, ts(44)).await.unwrap();
    assert_eq!(claimed.len(), 1, "the batch made after the resume goes out");
    assert!(claimed[0].log_ids().iter().any(|id| id.ends_with("resume")));
}
