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
    policy_bindings_follow_their_grant_and_go_with_their_family,
}

/// A family issued with a policy binding is bound to the user's grant for
/// that API (created by the issue, or the existing one); the binding stops
/// counting when that grant is deleted, a family replacing another takes
/// its bindings over, and the purge deletes a dead family's bindings.
async fn policy_bindings_follow_their_grant_and_go_with_their_family(store: &Store) {
    let g = user_with_grant(store, "mr").await;
    let billing = "https://billing.example.com/";
    let issue = |id: &'static str,
                 resources: Vec<grantor_store::ResourceBinding>,
                 of: Option<&'static str>| {
        let g = g.clone();
        async move {
            let batch = grantor_store::IssueBatch {
                resources,
                resources_of: of.map(Into::into),
                family: Some(new_family(id, "auth0|mr", "client-a", &g.id, 1)),
                access_token: access_record(&format!("j{id}"), "auth0|mr", "client-a", &g.id, None),
                code_hash: None,
                event: None,
            };
            store.issue_tokens(&batch, ts(1)).await.unwrap();
        }
    };
    let binding = |grant: &str| grantor_store::ResourceBinding {
        audience: billing.to_owned(),
        grant_id: grant.into(),
    };
    issue("m1", vec![binding("g-billing")], None).await;
    // The second issue finds the grant the first created.
    issue("m2", vec![binding("g-unused")], None).await;
    issue("m3", vec![], Some("m1")).await;
    for family in ["m1", "m2", "m3"] {
        let bound = store
            .family_resource(&family.into(), billing)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{family} is bound"));
        assert_eq!(bound.grant_id.as_str(), "g-billing", "{family}");
        assert!(bound.is_current(), "{family}");
        assert_eq!(
            bound.grant_scope.as_deref(),
            Some(""),
            "no consent is implied"
        );
    }
    let ids = ["m1".into(), "m2".into(), "m3".into()];
    assert_eq!(store.family_resources(&ids).await.unwrap().len(), 3);
    assert!(store
        .family_resource(&"m1".into(), "https://other/")
        .await
        .unwrap()
        .is_none());

    store
        .revoke(
            &grantor_store::RevocationTarget::Grant {
                grant_id: "g-billing".into(),
                delete_grant: grantor_store::DeleteGrant::Yes,
            },
            Reason::ManagementApi,
            &log_event("mrg", "srrt", 2),
            ts(2),
        )
        .await
        .unwrap();
    let bound = store
        .family_resource(&"m1".into(), billing)
        .await
        .unwrap()
        .unwrap();
    assert!(!bound.is_current(), "the grant is gone");
    assert!(store.family_resources(&ids).await.unwrap().is_empty());

    // A dead family's bindings go with it.
    store
        .revoke(
            &family_target("m1"),
            Reason::ManagementApi,
            &log_event("mr1", "srrt", 3),
            ts(3),
        )
        .await
        .unwrap();
    let plan = grantor_store::PurgePlan {
        batch_size: 100,
        logs_before: ts(0),
        families_after: String::new(),
        sessions_after: String::new(),
    };
    store.purge(&plan, ts(100_000_000)).await.unwrap();
    assert!(store
        .family_resource(&"m1".into(), billing)
        .await
        .unwrap()
        .is_none());
    assert!(store
        .family_resource(&"m3".into(), billing)
        .await
        .unwrap()
        .is_some());
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
