//! Refresh tokens: the per-user-and-client cap, the exchange's compare-and-set,
//! rotation's pruning of secrets, the MAC key, and the live-token listing.

use grantor_domain::Reason;
use grantor_domain::ScopeSet;
use grantor_domain::TokenHash;
use grantor_domain::{ClientId, FamilyId, GrantId, SessionId, UserId};
use grantor_store::{PageRequest, Store};

use crate::support::fixtures::{
    access_record, all, api, exchange_write, grant_target, issue_family, log_event, new_family,
    owned, page, session_record, ts, user, user_with_grant,
};

conformance_tests! {
    refresh_token_families_are_capped_per_user_and_client,
    exchange_is_a_compare_and_set_and_revocations_are_seen_on_load,
    rotation_keeps_only_the_secrets_that_can_be_honoured,
    refresh_token_mac_key_is_stored_once,
    live_refresh_tokens_leave_out_dead_ones,
    a_policy_exchange_is_refused_when_the_apis_grant_moved,
}

/// An exchange for a policy API carries the API grant's epoch it read
/// (`resource_guard`): when that grant was revoked since, the write is a
/// lost race and nothing of it stays; with the epoch current it applies.
async fn a_policy_exchange_is_refused_when_the_apis_grant_moved(store: &Store) {
    let g = user_with_grant(store, "rg").await;
    let family = new_family("rg1", "auth0|rg", "client-a", &g.id, 1);
    let batch = grantor_store::IssueBatch {
        resources: vec![],
        resources_of: None,
        family: Some(family),
        access_token: access_record("jrg0", "auth0|rg", "client-a", &g.id, None),
        code_hash: None,
        event: None,
    };
    store.issue_tokens(&batch, ts(1)).await.unwrap();
    let mut stale = exchange_write("rg1", "auth0|rg", &g.id, 0, true, "h-rg1", "jrg1", 2);
    stale.resource_guard = Some((g.id.clone(), g.token_epoch + 1));
    assert!(
        !store.apply_exchange(&stale).await.unwrap(),
        "a moved grant refuses the write"
    );
    let family = store
        .refresh_token_family(&"rg1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(family.current_generation, 0, "nothing of it stays");
    assert!(store
        .access_token_state("jrg1", ts(2))
        .await
        .unwrap()
        .is_none());
    let mut current = exchange_write("rg1", "auth0|rg", &g.id, 0, true, "h-rg1", "jrg1", 2);
    current.resource_guard = Some((g.id.clone(), g.token_epoch));
    assert!(store.apply_exchange(&current).await.unwrap());
}

/// Auth0 keeps at most 200 active refresh tokens per user and client; the
/// 201st revokes the oldest, and other clients are not affected.
async fn refresh_token_families_are_capped_per_user_and_client(store: &Store) {
    let g = user_with_grant(store, "cap").await;
    for i in 0..201 {
        let family = new_family(&format!("f{i:03}"), "auth0|cap", "client-a", &g.id, i);
        let batch = grantor_store::IssueBatch {
            resources: vec![],
            resources_of: None,
            family: Some(family),
            access_token: access_record(&format!("j{i:03}"), "auth0|cap", "client-a", &g.id, None),
            code_hash: None,
            event: None,
        };
        store.issue_tokens(&batch, ts(i)).await.unwrap();
    }
    let other = new_family("other-client", "auth0|cap", "client-b", &g.id, 500);
    let batch = grantor_store::IssueBatch {
        resources: vec![],
        resources_of: None,
        family: Some(other),
        access_token: access_record("j-other", "auth0|cap", "client-b", &g.id, None),
        code_hash: None,
        event: None,
    };
    store.issue_tokens(&batch, ts(500)).await.unwrap();
    let oldest = store
        .load_refresh_token(&TokenHash::from_stored("hash-f000"))
        .await
        .unwrap()
        .unwrap();
    assert!(oldest.snapshot.revoked, "the oldest of 201 is revoked");
    let second = store
        .load_refresh_token(&TokenHash::from_stored("hash-f001"))
        .await
        .unwrap()
        .unwrap();
    assert!(!second.snapshot.revoked, "200 stay active");
    let newest = store
        .load_refresh_token(&TokenHash::from_stored("hash-f200"))
        .await
        .unwrap()
        .unwrap();
    assert!(!newest.snapshot.revoked);
    assert!(
        newest.snapshot.grant_current
            && newest.snapshot.user_current
            && newest.snapshot.session_current
    );
    let other = store
        .load_refresh_token(&TokenHash::from_stored("hash-other-client"))
        .await
        .unwrap()
        .unwrap();
    assert!(!other.snapshot.revoked, "the cap is per client");
}

async fn rotation_keeps_only_the_secrets_that_can_be_honoured(store: &Store) {
    let g = user_with_grant(store, "rot").await;
    let mut family = new_family("fam-rot", "auth0|rot", "client-a", &g.id, 0);
    family.secret_hash = TokenHash::from_stored("h0".to_owned());
    issue_family(store, family).await;
    // `rotated`: generation `expected + 1`; otherwise a sibling of `expected`
    // (the leeway).
    let write = |expected: i64, rotated: bool, hash: &str| {
        exchange_write(
            "fam-rot",
            "auth0|rot",
            &g.id,
            expected,
            rotated,
            hash,
            &format!("r-{hash}"),
            10,
        )
    };
    let found = |hash: &'static str| async move {
        store
            .load_refresh_token(&TokenHash::from_stored(hash))
            .await
            .unwrap()
            .map(|t| t.generation)
    };
    for generation in 1..=10i64 {
        let hash = format!("h{generation}");
        assert!(store
            .apply_exchange(&write(generation - 1, true, &hash))
            .await
            .unwrap());
        assert_eq!(
            store.table_sizes().await.unwrap().refresh_token_secrets,
            2,
            "after rotation {generation}: the newest secret and the previous one"
        );
    }
    assert_eq!(found("h10").await, Some(10));
    assert_eq!(found("h9").await, Some(9));
    assert_eq!(found("h8").await, None, "rotated out two generations ago");
    assert_eq!(found("h0").await, None);
    // A sibling inside the leeway adds a secret of the current generation;
    // the next rotation keeps both as the previous generation.
    assert!(store
        .apply_exchange(&write(10, false, "h10b"))
        .await
        .unwrap());
    assert!(store.apply_exchange(&write(10, true, "h11")).await.unwrap());
    assert_eq!(found("h10b").await, Some(10));
    assert_eq!(found("h9").await, None);
    assert_eq!(store.table_sizes().await.unwrap().refresh_token_secrets, 3);
    // A pruned generation is read by family id, with the state reuse
    // detection decides on.
    let pruned = store
        .load_pruned_refresh_token(&FamilyId::from("fam-rot"), 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pruned.generation, 3);
    assert_eq!(pruned.family.id, "fam-rot");
    assert_eq!(pruned.snapshot.current_generation, 11);
    assert!(
        !pruned.snapshot.revoked && pruned.snapshot.grant_current && pruned.snapshot.user_current
    );
    assert!(store
        .load_pruned_refresh_token(&FamilyId::from("fam-none"), 3)
        .await
        .unwrap()
        .is_none());

    // An imported secret carries no MAC: rotation keeps it, so its reuse is
    // still found by hash until the family is purged.
    let mut legacy = new_family("fam-legacy", "auth0|rot", "client-a", &g.id, 0);
    legacy.secret_hash = TokenHash::from_stored("legacy0".to_owned());
    store.import_refresh_tokens(&[legacy]).await.unwrap();
    for (expected, hash) in [(0, "legacy1"), (1, "legacy2"), (2, "legacy3")] {
        let mut w = write(expected, true, hash);
        w.family_id = FamilyId::from("fam-legacy");
        assert!(store.apply_exchange(&w).await.unwrap());
    }
    assert_eq!(found("legacy0").await, Some(0), "kept: it carries no MAC");
    assert_eq!(found("legacy1").await, None, "issued by rotation: deleted");
    assert_eq!(found("legacy3").await, Some(3));
}

async fn refresh_token_mac_key_is_stored_once(store: &Store) {
    let first = store
        .refresh_token_mac_key(&[1u8; 32], ts(0))
        .await
        .unwrap();
    assert_eq!(first, vec![1u8; 32]);
    let second = store
        .refresh_token_mac_key(&[2u8; 32], ts(1))
        .await
        .unwrap();
    assert_eq!(
        second, first,
        "a second process gets the key the first stored"
    );
}

async fn exchange_is_a_compare_and_set_and_revocations_are_seen_on_load(store: &Store) {
    let g = user_with_grant(store, "cas").await;
    issue_family(store, new_family("fam", "auth0|cas", "client-a", &g.id, 0)).await;
    let write = |expected: i64, jti: &str, hash: &str| {
        exchange_write("fam", "auth0|cas", &g.id, expected, true, hash, jti, 10)
    };
    assert!(store
        .apply_exchange(&write(0, "j1", "hash-gen1"))
        .await
        .unwrap());
    assert!(
        !store
            .apply_exchange(&write(0, "j2", "hash-gen1b"))
            .await
            .unwrap(),
        "a stale generation loses"
    );
    assert!(
        store
            .load_refresh_token(&TokenHash::from_stored("hash-gen1b"))
            .await
            .unwrap()
            .is_none(),
        "the loser wrote nothing"
    );
    let current = store
        .load_refresh_token(&TokenHash::from_stored("hash-gen1"))
        .await
        .unwrap()
        .unwrap();
    // The exchange's one read sees the same token, with its user and API.
    assert!(store
        .load_exchange(&TokenHash::from_stored("hash-gen1"))
        .await
        .unwrap()
        .unwrap()
        .api
        .is_none());
    store
        .insert_resource_server(&api("api-cas", "https://api.example.com/"))
        .await
        .unwrap();
    let loaded = store
        .load_exchange(&TokenHash::from_stored("hash-gen1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(loaded.token.generation, current.generation);
    assert_eq!(
        format!("{:?}", loaded.token.snapshot),
        format!("{:?}", current.snapshot)
    );
    assert_eq!(loaded.token.family.id, current.family.id);
    assert_eq!(
        loaded.user.map(|u| u.user_id),
        Some(UserId::from("auth0|cas"))
    );
    assert_eq!(
        loaded.api.map(|a| a.id),
        Some("api-cas".to_owned()),
        "the API the family's audience names"
    );
    assert!(store
        .load_exchange(&TokenHash::from_stored("hash-none"))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        (current.generation, current.snapshot.current_generation),
        (1, 1)
    );
    assert_eq!(current.family.last_ip, "127.0.0.2");
    assert!(
        store
            .access_token_state("j1", ts(20))
            .await
            .unwrap()
            .unwrap()
            .active
    );
    // One write revokes every token of the grant, and the access tokens with it.
    assert!(
        store
            .revoke(
                &grant_target(&g.id, false),
                Reason::ManagementApi,
                &log_event("r1", "srrt", 30),
                ts(30)
            )
            .await
            .unwrap()
            .found
    );
    let after = store
        .load_refresh_token(&TokenHash::from_stored("hash-gen1"))
        .await
        .unwrap()
        .unwrap();
    assert!(!after.snapshot.grant_current);
    assert!(
        !store
            .access_token_state("j1", ts(40))
            .await
            .unwrap()
            .unwrap()
            .active
    );
    assert!(
        store.grant(&g.id).await.unwrap().is_some(),
        "the grant is kept"
    );
    assert!(
        store
            .revoke(
                &grant_target(&g.id, true),
                Reason::ManagementApi,
                &log_event("r2", "srrt", 50),
                ts(50)
            )
            .await
            .unwrap()
            .found
    );
    assert!(
        store.grant(&g.id).await.unwrap().is_none(),
        "and deleted when asked"
    );
}

async fn live_token_ids(
    store: &Store,
    filter: &grantor_store::RefreshTokenFilter,
    request: PageRequest,
    now: i64,
) -> (Vec<String>, i64) {
    let page = store
        .list_live_refresh_tokens(filter, request, ts(now))
        .await
        .unwrap();
    (
        page.items.into_iter().map(|f| f.id.into_string()).collect(),
        page.total,
    )
}

/// Revoked, expired (absolute or idle) tokens, and tokens whose grant, user
/// or session went, are not live: `live_refresh_token` does not find them and
/// the list leaves them out; filters and checkpoints narrow the rest.
async fn live_refresh_tokens_leave_out_dead_ones(store: &Store) {
    use grantor_store::{RefreshTokenFilter, RevocationTarget};
    store
        .insert_user(&user("rt", "rt@example.com"))
        .await
        .unwrap();
    store
        .insert_user(&user("rt2", "rt2@example.com"))
        .await
        .unwrap();
    let audience = "https://api.example.com/";
    let scope = ScopeSet::parse("offline_access");
    let ga = store
        .upsert_grant(
            &GrantId::from("g-a"),
            &UserId::from("auth0|rt"),
            &ClientId::from("client-a"),
            audience,
            &scope,
            ts(0),
        )
        .await
        .unwrap();
    let gb = store
        .upsert_grant(
            &GrantId::from("g-b"),
            &UserId::from("auth0|rt"),
            &ClientId::from("client-b"),
            audience,
            &scope,
            ts(0),
        )
        .await
        .unwrap();
    let g2 = store
        .upsert_grant(
            &GrantId::from("g-2"),
            &UserId::from("auth0|rt2"),
            &ClientId::from("client-a"),
            audience,
            &scope,
            ts(0),
        )
        .await
        .unwrap();
    store
        .create_session(&session_record("s-live", "auth0|rt", 0))
        .await
        .unwrap();
    store
        .create_session(&session_record("s-dead", "auth0|rt", 0))
        .await
        .unwrap();

    issue_family(store, new_family("a1", "auth0|rt", "client-a", &ga.id, 1)).await;
    issue_family(store, new_family("a2", "auth0|rt", "client-a", &ga.id, 2)).await;
    let mut a3 = new_family("a3", "auth0|rt", "client-a", &ga.id, 3);
    a3.session_id = Some(SessionId::from("s-live"));
    a3.device_name = Some("Pixel".to_owned());
    issue_family(store, a3).await;
    issue_family(store, new_family("b1", "auth0|rt", "client-b", &gb.id, 4)).await;
    issue_family(store, new_family("u2", "auth0|rt2", "client-a", &g2.id, 5)).await;
    // Dead ones: revoked, expired, idle-expired, session revoked.
    issue_family(
        store,
        new_family("x-revoked", "auth0|rt", "client-a", &ga.id, 6),
    )
    .await;
    let mut expired = new_family("x-expired", "auth0|rt", "client-a", &ga.id, 7);
    expired.expires_at = Some(ts(100));
    issue_family(store, expired).await;
    let mut idle = new_family("x-idle", "auth0|rt", "client-a", &ga.id, 8);
    idle.idle_expires_at = Some(ts(100));
    issue_family(store, idle).await;
    let mut in_dead_session = new_family("x-session", "auth0|rt", "client-a", &ga.id, 9);
    in_dead_session.session_id = Some(SessionId::from("s-dead"));
    issue_family(store, in_dead_session).await;
    let revoke = |target: RevocationTarget, id: &str| {
        let event = log_event(id, "srrt", 50);
        async move {
            store
                .revoke(&target, Reason::ManagementApi, &event, ts(50))
                .await
                .unwrap()
        }
    };
    revoke(
        RevocationTarget::Family {
            family_id: FamilyId::from("x-revoked"),
        },
        "r1",
    )
    .await;
    revoke(
        RevocationTarget::Session {
            session_id: SessionId::from("s-dead"),
            tokens: true,
        },
        "r2",
    )
    .await;

    let now = 200;
    let one = store
        .live_refresh_token(&FamilyId::from("a3"), ts(now))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(one.user_id, "auth0|rt");
    assert_eq!(one.client_id, "client-a");
    assert_eq!(
        one.session_id.as_ref().map(SessionId::as_str),
        Some("s-live")
    );
    assert_eq!(one.device_name.as_deref(), Some("Pixel"));
    assert_eq!(one.audience, audience);
    assert_eq!(one.scope, "offline_access");
    for dead in ["x-revoked", "x-expired", "x-idle", "x-session", "unknown"] {
        assert!(
            store
                .live_refresh_token(&FamilyId::from(dead), ts(now))
                .await
                .unwrap()
                .is_none(),
            "{dead} is not live"
        );
    }
    assert!(
        store
            .live_refresh_token(&FamilyId::from("x-expired"), ts(50))
            .await
            .unwrap()
            .is_some(),
        "live before it expires"
    );

    let by_user = RefreshTokenFilter {
        user_id: Some(UserId::from("auth0|rt")),
        ..Default::default()
    };
    assert_eq!(
        live_token_ids(store, &by_user, all(), now).await,
        (owned(&["a1", "a2", "a3", "b1"]), 4)
    );
    let by_client = RefreshTokenFilter {
        user_id: Some(UserId::from("auth0|rt")),
        client_id: Some(ClientId::from("client-a")),
        ..Default::default()
    };
    assert_eq!(
        live_token_ids(store, &by_client, all(), now).await,
        (owned(&["a1", "a2", "a3"]), 3)
    );
    let everyone = RefreshTokenFilter::default();
    assert_eq!(
        live_token_ids(store, &everyone, page(1, 2), now).await,
        (owned(&["a2", "a3"]), 5)
    );
    let only_client_a = RefreshTokenFilter {
        client_id: Some(ClientId::from("client-a")),
        ..Default::default()
    };
    assert_eq!(
        live_token_ids(store, &only_client_a, all(), now).await,
        (owned(&["a1", "a2", "a3", "u2"]), 4)
    );
    // Checkpoint: ids after the cursor; the total ignores it.
    let after = RefreshTokenFilter {
        after_id: Some("a2".to_owned()),
        ..by_user.clone()
    };
    assert_eq!(
        live_token_ids(store, &after, page(0, 1), now).await,
        (owned(&["a3"]), 4)
    );

    // A grant epoch bump, and a user epoch bump, take their tokens out.
    revoke(
        RevocationTarget::Grant {
            grant_id: gb.id.clone(),
            delete_grant: grantor_store::DeleteGrant::No,
        },
        "r3",
    )
    .await;
    assert_eq!(
        live_token_ids(store, &by_user, all(), now).await,
        (owned(&["a1", "a2", "a3"]), 3)
    );
    revoke(
        RevocationTarget::User {
            user_id: UserId::from("auth0|rt"),
            client_id: None,
            audience: None,
        },
        "r4",
    )
    .await;
    assert_eq!(
        live_token_ids(store, &by_user, all(), now).await,
        (vec![], 0)
    );
    assert!(store
        .live_refresh_token(&FamilyId::from("a1"), ts(now))
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        live_token_ids(store, &everyone, all(), now).await,
        (owned(&["u2"]), 1)
    );
}
