//! The audit log: filters and paging in both directions.

use grantor_store::{PageRequest, Store};

use crate::support::fixtures::{api, client, log_event, plan, user};

conformance_tests! {
    logs_filter_and_page_both_ways,
    logs_end_before_an_id,
    audited_writes_carry_their_event_and_refusals_none,
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
    // Uncounted: the same page, and no count.
    let uncounted = store
        .list_logs(
            &LogFilter {
                user_id: Some("u1".into()),
                total_up_to: Some(0),
                ..Default::default()
            },
            all,
        )
        .await
        .unwrap();
    assert_eq!(uncounted.total, 0);
    // Counted up to 2 of the 3.
    let capped = store
        .list_logs(
            &LogFilter {
                user_id: Some("u1".into()),
                total_up_to: Some(2),
                ..Default::default()
            },
            all,
        )
        .await
        .unwrap();
    assert_eq!((capped.total, capped.items.len()), (2, 3));
    assert_eq!(
        uncounted
            .items
            .iter()
            .map(|e| e.log_id.clone())
            .collect::<Vec<_>>(),
        u1.items
            .iter()
            .map(|e| e.log_id.clone())
            .collect::<Vec<_>>()
    );
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

/// `before_id` (the dashboard's "up to a day"): only events whose id sorts
/// before it, newest first.
async fn logs_end_before_an_id(store: &Store) {
    use grantor_store::LogFilter;
    for at in [1_000, 2_000, 3_000] {
        store
            .record_event(&log_event("x", "sapi", at))
            .await
            .unwrap();
    }
    let page = store
        .list_logs(
            &LogFilter {
                before_id: Some(format!("{:020}", 3_000)),
                ..Default::default()
            },
            PageRequest {
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    let ids: Vec<&str> = page.items.iter().map(|e| e.log_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![format!("{:020}x", 2_000), format!("{:020}x", 1_000)]
    );
}

/// The dashboard's writes: each change and its event together; a delete of
/// something absent or protected writes neither.
async fn audited_writes_carry_their_event_and_refusals_none(store: &Store) {
    use grantor_domain::ClientId;
    use grantor_store::LogFilter;
    assert!(store.bootstrap(&plan("aud")).await.unwrap());
    let count = |type_code: &'static str| async move {
        store
            .list_logs(
                &LogFilter {
                    type_code: Some(type_code.into()),
                    ..Default::default()
                },
                PageRequest {
                    offset: 0,
                    limit: 100,
                },
            )
            .await
            .unwrap()
            .total
    };
    let mut u = user("aud", "aud@example.com");
    store
        .insert_user_audited(&u, &log_event("u1", "t_user", 1))
        .await
        .unwrap();
    let before = u.clone();
    u.name = "Changed".into();
    store
        .update_user_audited(
            &grantor_store::UserUpdate::new(before, u.clone()),
            &log_event("u2", "t_user", 2),
        )
        .await
        .unwrap();
    assert_eq!(
        store.user(&u.user_id).await.unwrap().unwrap().name,
        "Changed"
    );
    assert_eq!(count("t_user").await, 2);
    // An update of a user that is not there writes no event either.
    let ghost = user("ghost", "ghost@example.com");
    let mut renamed = ghost.clone();
    renamed.name = "Ghost".into();
    assert!(store
        .update_user_audited(
            &grantor_store::UserUpdate::new(ghost.clone(), renamed),
            &log_event("u3", "t_user", 3)
        )
        .await
        .is_err());
    assert!(store.user(&ghost.user_id).await.unwrap().is_none());
    assert_eq!(count("t_user").await, 2);

    let mut named = log_event("c1", "t_client", 4);
    named.client_id = Some("aud-app".into());
    store
        .insert_client_audited(&client("aud-app"), &named)
        .await
        .unwrap();
    let mut gone = log_event("c2", "t_client", 5);
    gone.client_id = Some("aud-app".into());
    assert!(store
        .delete_client_audited(&ClientId::from("aud-app"), &gone)
        .await
        .unwrap());
    assert!(!store
        .delete_client_audited(&ClientId::from("aud-app"), &log_event("c3", "t_client", 6))
        .await
        .unwrap());
    let system = plan("aud").management_client.client_id;
    assert!(!store
        .delete_client_audited(&system, &log_event("c4", "t_client", 7))
        .await
        .unwrap());
    assert!(store.client(&system).await.unwrap().is_some());
    assert_eq!(count("t_client").await, 2);
    // The delete's event still names the client it deleted.
    let deleted = store
        .log_event(&format!("{:020}c2", 5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        deleted.client_name.as_deref(),
        Some(client("aud-app").name.as_str())
    );

    let mut rs = api("aud-api", "https://aud.example.com/");
    store
        .insert_resource_server_audited(&rs, &log_event("r1", "t_api", 8))
        .await
        .unwrap();
    rs.name = "Renamed".into();
    store
        .update_resource_server_audited(&rs, &log_event("r2", "t_api", 9))
        .await
        .unwrap();
    assert!(store
        .delete_resource_server_audited("aud-api", &log_event("r3", "t_api", 10))
        .await
        .unwrap());
    assert!(!store
        .delete_resource_server_audited("aud-api", &log_event("r4", "t_api", 11))
        .await
        .unwrap());
    let system_api = plan("aud").management_api.id;
    assert!(!store
        .delete_resource_server_audited(&system_api, &log_event("r5", "t_api", 12))
        .await
        .unwrap());
    assert_eq!(count("t_api").await, 3);
}
