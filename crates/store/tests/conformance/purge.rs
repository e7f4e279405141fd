//! The purge: dead rows deleted in bounded batches, live ones kept.

use grantor_domain::Reason;
use grantor_domain::SessionId;
use grantor_domain::TokenHash;
use grantor_store::Store;

use crate::support::fixtures::{
    access_record, family_target, log_event, new_family, session_record, ts, user_with_grant,
};

conformance_tests! {
    purge_deletes_dead_rows_in_bounded_batches,
}

/// The purge deletes only dead rows, never more than a batch per table per
/// pass, and walks the families table in id order across passes.
async fn purge_deletes_dead_rows_in_bounded_batches(store: &Store) {
    let g = user_with_grant(store, "pg").await;
    // Ten families; the odd ones are revoked. One live family is bound to an
    // ended session, which must therefore survive.
    let mut ended = session_record("s-ended", "auth0|pg", 0);
    ended.ended_at = Some(ts(1));
    store.create_session(&ended).await.unwrap();
    let mut revoked_session = session_record("s-revoked", "auth0|pg", 0);
    revoked_session.revoked_at = Some(ts(1));
    store.create_session(&revoked_session).await.unwrap();
    for i in 0..10 {
        let mut f = new_family(&format!("p{i}"), "auth0|pg", "client-a", &g.id, i);
        if i == 0 {
            f.session_id = Some(SessionId::from("s-ended"));
        }
        let batch = grantor_store::IssueBatch {
            resources: vec![],
            resources_of: None,
            family: Some(f),
            access_token: access_record(&format!("jp{i}"), "auth0|pg", "client-a", &g.id, None),
            code_hash: None,
            event: None,
        };
        store.issue_tokens(&batch, ts(i)).await.unwrap();
        if i % 2 == 1 {
            store
                .revoke(
                    &family_target(&format!("p{i}")),
                    Reason::ManagementApi,
                    &log_event(&format!("pr{i}"), "srrt", i),
                    ts(i),
                )
                .await
                .unwrap();
        }
    }
    // Far in the future: access tokens expired, the ended session past its grace.
    let later = ts(100_000_000);
    let mut plan = grantor_store::PurgePlan {
        batch_size: 4,
        logs_before: ts(5),
        families_after: String::new(),
        sessions_after: String::new(),
    };
    let first = store.purge(&plan, later).await.unwrap();
    assert_eq!(
        first.refresh_token_families, 2,
        "p1 and p3 of the first four (p0..p3)"
    );
    assert_eq!(first.refresh_token_secrets, 2);
    assert_eq!(first.families_after, "p3");
    assert_eq!(first.access_tokens, 4, "a batch of expired access tokens");
    assert_eq!(
        first.sessions, 1,
        "the revoked session; the ended one is still referenced"
    );
    assert_eq!(
        first.logs, 2,
        "events before the retention cut-off: pr1 and pr3"
    );
    assert!(
        first.behind(plan.batch_size),
        "a full batch of access tokens: the purge loop hurries"
    );
    let mut total_families = first.refresh_token_families;
    plan.families_after = first.families_after;
    for _ in 0..3 {
        let r = store.purge(&plan, later).await.unwrap();
        total_families += r.refresh_token_families;
        plan.families_after = r.families_after;
    }
    assert_eq!(
        total_families, 5,
        "all five revoked families, and only them"
    );
    let mut caught_up = false;
    for _ in 0..20 {
        let r = store.purge(&plan, later).await.unwrap();
        plan.families_after = r.families_after.clone();
        if r.total() == 0 {
            caught_up = !r.behind(plan.batch_size);
            break;
        }
    }
    assert!(caught_up, "a pass with nothing to delete is not behind");
    for i in 0..10 {
        let stored = store
            .load_refresh_token(&TokenHash::from_stored(format!("hash-p{i}")))
            .await
            .unwrap();
        assert_eq!(stored.is_some(), i % 2 == 0, "p{i}");
    }
    assert!(store
        .session(&SessionId::from("s-ended"))
        .await
        .unwrap()
        .is_some());
    assert!(store
        .session(&SessionId::from("s-revoked"))
        .await
        .unwrap()
        .is_none());
}
