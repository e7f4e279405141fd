//! The audit log: filters and paging in both directions.

use grantor_store::{PageRequest, Store};

use crate::support::fixtures::log_event;

conformance_tests! {
    logs_filter_and_page_both_ways,
}

async fn logs_filter_and_page_both_ways(store: &Store) {
    use grantor_store::LogFilter;
    for (i, (user, kind)) in [
        ("u1", "sertft"),
        ("u2", "srrt"),
        ("u1", "srrt"),
        ("u1", "ferrt"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut e = log_event(&format!("e{i}"), kind, i as i64);
        e.user_id = Some(user.to_owned());
        e.details = serde_json::json!({ "n": i });
        store.record_event(&e).await.unwrap();
    }
    let all = PageRequest {
        offset: 0,
        limit: 10,
    };
    let u1 = store
        .list_logs(
            &LogFilter {
                user_id: Some("u1".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .unwrap();
    assert_eq!(u1.total, 3);
    let newest_first: Vec<i64> = u1
        .items
        .iter()
        .map(|e| e.details["n"].as_i64().unwrap())
        .collect();
    assert_eq!(newest_first, vec![3, 2, 0]);
    let revocations = store
        .list_logs(
            &LogFilter {
                type_code: Some("srrt".into()),
                user_id: Some("u1".into()),
                ..Default::default()
            },
            all,
        )
        .await
        .unwrap();
    assert_eq!(revocations.items.len(), 1);
    assert_eq!(revocations.items[0].details["n"], 2);
    // Checkpoint: oldest first, strictly after the given id.
    let first = store
        .list_logs(
            &LogFilter::default(),
            PageRequest {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap()
        .items
        .last()
        .unwrap()
        .log_id
        .clone();
    let after = store
        .list_logs(
            &LogFilter {
                after_id: Some(first),
                ..Default::default()
            },
            PageRequest {
                offset: 0,
                limit: 2,
            },
        )
        .await
        .unwrap();
    let ns: Vec<i64> = after
        .items
        .iter()
        .map(|e| e.details["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, vec![1, 2]);
}
