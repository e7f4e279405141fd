//! `Store::revoke`: each target covers exactly what it names, with a bounded
//! receipt and its audit event in the same transaction.

use grantor_domain::Reason;
use grantor_domain::ScopeSet;
use grantor_domain::{ClientId, GrantId, SessionId, UserId};
use grantor_store::{PageRequest, Store};

use crate::support::fixtures::{
    access_record, family_target, grant_target, issue_family, live, log_event, new_family, plan,
    session_record, ts, user, user_with_grant,
};

conformance_tests! {
    a_receipt_examines_a_bounded_number_of_tokens,
    revocations_cover_exactly_their_target_with_a_receipt,
    user_wide_revocation_is_one_epoch_and_later_tokens_work,
    recreated_user_does_not_revive_old_tokens,
    deleting_every_grant_of_a_user_is_one_revocation,
    a_grant_revoked_as_the_tenant_says_goes_or_stays_by_its_setting,
}

/// `/oauth/revoke` leaves the grant's fate to the tenant's
/// `revoke_refresh_token_grant`, which the store reads with the grant: off,
/// the grant stays and its tokens end by its epoch; on, the grant is deleted.
/// The receipt and its audit event say which, and a setting changed between
/// two revocations is the one the second follows.
async fn a_grant_revoked_as_the_tenant_says_goes_or_stays_by_its_setting(store: &Store) {
    use grantor_store::{DeleteGrant, RevocationTarget};
    let mut p = plan("ts");
    p.tenant.revoke_refresh_token_grant = false;
    assert!(store.bootstrap(&p).await.unwrap());
    let g = user_with_grant(store, "ts").await;
    let target = RevocationTarget::Grant {
        grant_id: g.id.clone(),
        delete_grant: DeleteGrant::AsTenantSays,
    };
    let event_of = |log_id: String| async move { store.log_event(&log_id).await.unwrap().unwrap() };

    issue_family(store, new_family("ts1", "auth0|ts", "client-a", &g.id, 0)).await;
    let off = log_event("ts-off", "srrt", 10);
    let receipt = store
        .revoke(&target, Reason::RevokeEndpoint, &off, ts(10))
        .await
        .unwrap();
    assert!(receipt.found);
    assert!(!receipt.grants_deleted, "off: the grant stays");
    assert_eq!(receipt.refresh_tokens, 1);
    assert_eq!(receipt.grant_ids, vec![g.id.to_string()]);
    assert!(!live(store, "ts1").await, "its token ended by the epoch");
    let kept = store
        .grant(&g.id)
        .await
        .unwrap()
        .expect("the grant is kept");
    let recorded = event_of(off.log_id).await;
    assert_eq!(recorded.details["receipt"]["grants_deleted"], false);
    assert_eq!(recorded.description, "test", "described as the caller said");

    p.tenant.revoke_refresh_token_grant = true;
    store.update_tenant_settings(&p.tenant, None).await.unwrap();
    let mut second = new_family("ts2", "auth0|ts", "client-a", &g.id, 20);
    second.grant_epoch = kept.token_epoch;
    issue_family(store, second).await;
    assert!(live(store, "ts2").await);
    let on = log_event("ts-on", "srrt", 30);
    let receipt = store
        .revoke(&target, Reason::RevokeEndpoint, &on, ts(30))
        .await
        .unwrap();
    assert!(receipt.grants_deleted, "on: the grant is deleted");
    assert_eq!(receipt.refresh_tokens, 1);
    assert!(store.grant(&g.id).await.unwrap().is_none());
    assert!(!live(store, "ts2").await);
    let recorded = event_of(on.log_id).await;
    assert_eq!(recorded.details["receipt"]["grants_deleted"], true);
    assert_eq!(
        recorded.description,
        "test; the grant was deleted too (tenant setting revoke_refresh_token_grant)",
        "the description says the grant went too"
    );

    // A grant that is gone is not found, whatever the tenant says.
    assert!(
        !store
            .revoke(
                &target,
                Reason::RevokeEndpoint,
                &log_event("ts-gone", "srrt", 40),
                ts(40)
            )
            .await
            .unwrap()
            .found
    );
}

/// A receipt counts to RECEIPT_COUNT_LIMIT live tokens and examines at most
/// RECEIPT_SCAN_LIMIT unrevoked ones: revoking a user again, while the
/// tokens the first revocation killed (by epoch) are not purged yet, does not
/// walk all of them, and says its count is a lower bound.
async fn a_receipt_examines_a_bounded_number_of_tokens(store: &Store) {
    use grantor_store::{RECEIPT_COUNT_LIMIT, RECEIPT_SCAN_LIMIT};
    let g = user_with_grant(store, "many").await;
    let families: Vec<_> = (0..RECEIPT_SCAN_LIMIT + 5)
        .map(|i| {
            let mut f = new_family(&format!("many-{i:06}"), "auth0|many", "client-a", &g.id, i);
            f.device_name = Some(format!("device {}", i % 7));
            f
        })
        .collect();
    store.import_refresh_tokens(&families).await.unwrap();
    let everything = grantor_store::RevocationTarget::User {
        user_id: "auth0|many".into(),
        client_id: None,
        audience: None,
    };
    let first = store
        .revoke(
            &everything,
            Reason::ManagementApi,
            &log_event("many1", "srrt", 10),
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            first.refresh_tokens,
            first.refresh_tokens_at_least,
            first.devices
        ),
        (RECEIPT_COUNT_LIMIT, true, 7)
    );
    assert_eq!(
        first.refresh_token_ids.len() as i64,
        grantor_store::RECEIPT_ID_LIMIT
    );
    assert_eq!(
        first.refresh_token_ids[0], "many-000000",
        "the listed ids are the smallest, in order"
    );
    assert!(first.refresh_token_ids.windows(2).all(|w| w[0] < w[1]));
    // Every family is now dead by the user's epoch, none revoked by row.
    let again = store
        .revoke(
            &everything,
            Reason::ManagementApi,
            &log_event("many2", "srrt", 11),
            ts(11),
        )
        .await
        .unwrap();
    assert!(again.found);
    assert_eq!(
        (
            again.refresh_tokens,
            again.refresh_tokens_at_least,
            again.devices
        ),
        (0, true, 0),
        "nothing live among the examined tokens, and the walk stopped at its bound"
    );
    assert!(again.refresh_token_ids.is_empty());
    // Below the bound the count is exact.
    let one_client = grantor_store::RevocationTarget::Family {
        family_id: "many-000003".into(),
    };
    let exact = store
        .revoke(
            &one_client,
            Reason::ManagementApi,
            &log_event("many3", "srrt", 12),
            ts(12),
        )
        .await
        .unwrap();
    assert_eq!(
        (exact.refresh_tokens, exact.refresh_tokens_at_least),
        (0, false)
    );
}

/// One user with three refresh tokens: `fa1` (client-a, bound to session
/// `sa`), `fa2` (client-a) and `fb1` (client-b).
async fn revocation_fixture(store: &Store) -> (String, String) {
    store
        .insert_user(&user("rev", "rev@example.com"))
        .await
        .unwrap();
    let scope = ScopeSet::parse("offline_access");
    let ga = store
        .upsert_grant(
            &GrantId::from("g-a"),
            &UserId::from("auth0|rev"),
            &ClientId::from("client-a"),
            "https://api.example.com/",
            &scope,
            ts(0),
        )
        .await
        .unwrap();
    let gb = store
        .upsert_grant(
            &GrantId::from("g-b"),
            &UserId::from("auth0|rev"),
            &ClientId::from("client-b"),
            "https://api.example.com/",
            &scope,
            ts(0),
        )
        .await
        .unwrap();
    store
        .create_session(&session_record("sa", "auth0|rev", 0))
        .await
        .unwrap();
    let mut bound = new_family("fa1", "auth0|rev", "client-a", &ga.id, 1);
    bound.session_id = Some(SessionId::from("sa"));
    bound.device_name = Some("phone".to_owned());
    for family in [
        bound,
        new_family("fa2", "auth0|rev", "client-a", &ga.id, 2),
        new_family("fb1", "auth0|rev", "client-b", &gb.id, 3),
    ] {
        let batch = grantor_store::IssueBatch {
            resources: vec![],
            resources_of: None,
            access_token: access_record(
                &format!("j-{}", family.id),
                "auth0|rev",
                &family.client_id,
                &family.grant_id,
                Some(family.id.as_str()),
            ),
            family: Some(family),
            code_hash: None,
            event: None,
        };
        store.issue_tokens(&batch, ts(3)).await.unwrap();
    }
    (ga.id.to_string(), gb.id.to_string())
}

/// Every target revokes exactly what it names, reports it in the receipt,
/// and writes its audit event in the same transaction.
async fn revocations_cover_exactly_their_target_with_a_receipt(store: &Store) {
    use grantor_store::RevocationTarget as T;
    revocation_fixture(store).await;

    let user_wide = T::User {
        user_id: "auth0|rev".into(),
        client_id: None,
        audience: None,
    };
    let preview = store.revocation_preview(&user_wide, ts(10)).await.unwrap();
    assert!(preview.found);
    assert_eq!(
        (preview.refresh_tokens, preview.devices),
        (3, 2),
        "phone + test agent"
    );

    // One family.
    let receipt = store
        .revoke(
            &family_target("fa2"),
            Reason::ManagementApi,
            &log_event("ev1", "srrt", 10),
            ts(10),
        )
        .await
        .unwrap();
    assert_eq!((receipt.found, receipt.refresh_tokens), (true, 1));
    assert_eq!(receipt.refresh_token_ids, vec!["fa2".to_owned()]);
    assert!(!live(store, "fa2").await);
    assert!(live(store, "fa1").await && live(store, "fb1").await);
    let event = store
        .log_event(&format!("{:020}ev1", 10))
        .await
        .unwrap()
        .expect("the event is written with the revocation");
    assert_eq!(
        event.user_id.as_deref(),
        Some("auth0|rev"),
        "filled from the family"
    );
    assert_eq!(event.client_id.as_deref(), Some("client-a"));
    assert_eq!(event.user_name.as_deref(), Some("rev@example.com"));
    assert_eq!(event.details["receipt"]["refresh_tokens"], 1);

    // Revoking it again covers nothing.
    let again = store
        .revoke(
            &family_target("fa2"),
            Reason::ManagementApi,
            &log_event("ev2", "srrt", 11),
            ts(11),
        )
        .await
        .unwrap();
    assert_eq!((again.found, again.refresh_tokens), (true, 0));

    // One client's tokens of the user: the other client's stay.
    let receipt = store
        .revoke(
            &T::User {
                user_id: "auth0|rev".into(),
                client_id: Some("client-b".into()),
                audience: None,
            },
            Reason::ManagementApi,
            &log_event("ev3", "srrt", 12),
            ts(12),
        )
        .await
        .unwrap();
    assert_eq!(receipt.refresh_tokens, 1);
    assert_eq!(receipt.grant_ids, vec!["g-b".to_owned()]);
    assert!(!live(store, "fb1").await);
    assert!(live(store, "fa1").await);
    assert!(
        !store
            .access_token_state("j-fb1", ts(12))
            .await
            .unwrap()
            .unwrap()
            .active,
        "the access token of a revoked grant introspects inactive"
    );

    // A session without its tokens only ends it; with them, they die too.
    let preview = store
        .revocation_preview(
            &T::Session {
                session_id: "sa".into(),
                tokens: true,
            },
            ts(13),
        )
        .await
        .unwrap();
    assert_eq!((preview.sessions, preview.refresh_tokens), (1, 1));
    let ended = store
        .revoke(
            &T::Session {
                session_id: "sa".into(),
                tokens: false,
            },
            Reason::ManagementApi,
            &log_event("ev4", "srrt", 13),
            ts(13),
        )
        .await
        .unwrap();
    assert_eq!((ended.sessions, ended.refresh_tokens), (1, 0));
    assert!(
        live(store, "fa1").await,
        "an ended session keeps its refresh tokens"
    );
    let revoked = store
        .revoke(
            &T::Session {
                session_id: "sa".into(),
                tokens: true,
            },
            Reason::ManagementApi,
            &log_event("ev5", "srrt", 14),
            ts(14),
        )
        .await
        .unwrap();
    assert_eq!((revoked.sessions, revoked.refresh_tokens), (1, 1));
    assert!(!live(store, "fa1").await);
    assert!(store
        .session(&SessionId::from("sa"))
        .await
        .unwrap()
        .unwrap()
        .revoked_at
        .is_some());

    // Unknown targets write nothing, not even an event.
    let before = store
        .list_logs(
            &grantor_store::LogFilter::default(),
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .total;
    for target in [
        family_target("nope"),
        grant_target("nope", true),
        T::User {
            user_id: "auth0|nobody".into(),
            client_id: None,
            audience: None,
        },
        T::Session {
            session_id: "nope".into(),
            tokens: true,
        },
    ] {
        let r = store
            .revoke(
                &target,
                Reason::ManagementApi,
                &log_event(&format!("u{before}"), "srrt", 15),
                ts(15),
            )
            .await
            .unwrap();
        assert!(!r.found, "{target:?}");
    }
    let after = store
        .list_logs(
            &grantor_store::LogFilter::default(),
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap()
        .total;
    assert_eq!(before, after);
}

/// All of a user's tokens go with one write of the user's epoch; tokens
/// issued afterwards work.
async fn user_wide_revocation_is_one_epoch_and_later_tokens_work(store: &Store) {
    let (ga, _) = revocation_fixture(store).await;
    let receipt = store
        .revoke(
            &grantor_store::RevocationTarget::User {
                user_id: "auth0|rev".into(),
                client_id: None,
                audience: None,
            },
            Reason::ManagementApi,
            &log_event("all", "srrt", 20),
            ts(20),
        )
        .await
        .unwrap();
    assert_eq!(receipt.refresh_tokens, 3);
    for f in ["fa1", "fa2", "fb1"] {
        assert!(!live(store, f).await, "{f}");
    }
    let batch = grantor_store::IssueBatch {
        resources: vec![],
        resources_of: None,
        family: Some(new_family("later", "auth0|rev", "client-a", &ga, 30)),
        access_token: access_record("j-later", "auth0|rev", "client-a", &ga, Some("later")),
        code_hash: None,
        event: None,
    };
    store.issue_tokens(&batch, ts(30)).await.unwrap();
    assert!(live(store, "later").await);
    assert!(
        store
            .access_token_state("j-later", ts(31))
            .await
            .unwrap()
            .unwrap()
            .active
    );
}

/// A user deleted and created again under the same id does not inherit the
/// old user's refresh tokens.
async fn recreated_user_does_not_revive_old_tokens(store: &Store) {
    revocation_fixture(store).await;
    assert!(store.delete_user(&UserId::from("auth0|rev")).await.unwrap());
    assert!(!live(store, "fa2").await);
    let mut again = user("rev", "rev@example.com");
    again.created_at = ts(50);
    store.insert_user(&again).await.unwrap();
    assert!(
        !live(store, "fa2").await,
        "the old epoch must not match the new user"
    );
}

/// `DELETE /grants?user_id=` is one revocation: every grant of the user goes,
/// with every refresh token issued for them.
async fn deleting_every_grant_of_a_user_is_one_revocation(store: &Store) {
    revocation_fixture(store).await;
    let receipt = store
        .revoke(
            &grantor_store::RevocationTarget::UserGrants {
                user_id: "auth0|rev".into(),
            },
            Reason::ManagementApi,
            &log_event("ug", "srrt", 40),
            ts(40),
        )
        .await
        .unwrap();
    assert_eq!(receipt.refresh_tokens, 3);
    assert_eq!(receipt.grant_ids, vec!["g-a".to_owned(), "g-b".to_owned()]);
    assert!(receipt.grants_deleted);
    for f in ["fa1", "fa2", "fb1"] {
        assert!(!live(store, f).await, "{f}");
    }
    assert!(store.grant(&GrantId::from("g-a")).await.unwrap().is_none());
    assert!(store.grant(&GrantId::from("g-b")).await.unwrap().is_none());
}
