//! Writes that share a group commit (SQLite) and exchanges sent as one batch
//! (`ops/batch.rs`): each write is whole or absent, whatever its neighbours do.

use grantor_domain::TokenHash;
use grantor_domain::{ClientId, FamilyId};
use grantor_store::{Store, StoreError};

use crate::support::compare::assert_client_eq;
use crate::support::fixtures::{
    all, client, exchange_write, issue_family, new_family, ts, user_with_grant,
};

conformance_tests! {
    concurrent_writes_commit_independently,
    an_exchange_is_written_whole_or_not_at_all,
}

/// Many writes at once (on SQLite they share group commits): each one is
/// atomic on its own; a write that fails (a duplicate) or is abandoned
/// mid-way (its future dropped) leaves the others of its batch committed.
async fn concurrent_writes_commit_independently(store: &Store) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60 {
        let store = store.clone();
        tasks.spawn(async move {
            // Write 3k+1 repeats id 3k: one of each pair must conflict.
            let id = format!("c{}", if i % 3 == 1 { i - 1 } else { i });
            let result = store.insert_client(&client(&id)).await;
            (
                i,
                result.map_err(|e| {
                    matches!(e, StoreError::Conflict(_))
                        .then_some(())
                        .ok_or(e.to_string())
                }),
            )
        });
    }
    for i in 0..20 {
        let store = store.clone();
        // Abandoned writes: dropped before or while they run.
        let write = async move { store.insert_client(&client(&format!("dropped{i}"))).await };
        let _ = tokio::time::timeout(std::time::Duration::from_micros(i * 50), write).await;
    }
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (_, Ok(())) => ok += 1,
            (_, Err(Ok(()))) => {}
            (i, Err(Err(other))) => {
                panic!("write {i} failed with something else than a conflict: {other}")
            }
        }
    }
    let listed = store.list_clients(all()).await.unwrap();
    let durable: Vec<&str> = listed
        .items
        .iter()
        .map(|c| c.client_id.as_str())
        .filter(|id| id.starts_with('c'))
        .collect();
    assert_eq!(ok, 60 - 20, "every id but the duplicates was written");
    assert_eq!(durable.len(), 40, "{durable:?}");
    // An abandoned write is either all there or not at all.
    for c in listed
        .items
        .iter()
        .filter(|c| c.client_id.as_str().starts_with("dropped"))
    {
        assert_client_eq(c, &client(c.client_id.as_str()));
    }
    // And the store still writes afterwards.
    store.insert_client(&client("after")).await.unwrap();
    assert!(store
        .client(&ClientId::from("after"))
        .await
        .unwrap()
        .is_some());
}

/// An exchange's statements go to SQLite in one call (`ops/batch.rs`): a
/// statement that fails after the compare-and-set succeeded, a missed
/// compare-and-set, and racing exchanges of one family each leave either the
/// whole exchange or nothing, also when they share a group commit.
async fn an_exchange_is_written_whole_or_not_at_all(store: &Store) {
    let g = user_with_grant(store, "whole").await;
    let mut family = new_family("fam-whole", "auth0|whole", "client-a", &g.id, 0);
    family.secret_hash = TokenHash::from_stored("w0".to_owned());
    issue_family(store, family).await;
    let write = |expected: i64, hash: &str, jti: &str| {
        exchange_write(
            "fam-whole",
            "auth0|whole",
            &g.id,
            expected,
            true,
            hash,
            jti,
            20,
        )
    };
    let generation = || async {
        store
            .refresh_token_family(&FamilyId::from("fam-whole"))
            .await
            .unwrap()
            .unwrap()
            .current_generation
    };
    let before = store.table_sizes().await.unwrap();

    // The compare-and-set applies, then the new secret collides with the
    // stored one: the move of the family is rolled back with it.
    assert!(store
        .apply_exchange(&write(0, "w0", "w-dup"))
        .await
        .is_err());
    assert_eq!(generation().await, 0, "the family did not move");
    assert_eq!(
        store
            .access_token_state("w-dup", ts(20))
            .await
            .unwrap()
            .map(|s| s.active),
        None
    );
    // A stale generation: nothing of the exchange is written.
    assert!(!store
        .apply_exchange(&write(7, "w-stale", "w-stale"))
        .await
        .unwrap());
    assert_eq!(
        store
            .load_refresh_token(&TokenHash::from_stored("w-stale"))
            .await
            .unwrap()
            .map(|t| t.generation),
        None
    );
    assert_eq!(
        store.table_sizes().await.unwrap(),
        before,
        "no row from either failed exchange"
    );

    // Eight exchanges race from generation 0: one wins, and only its rows exist.
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        let w = write(0, &format!("w-race{i}"), &format!("w-race{i}"));
        racers.spawn(async move { (i, store.apply_exchange(&w).await.unwrap()) });
    }
    let winners: Vec<i32> = racers
        .join_all()
        .await
        .into_iter()
        .filter_map(|(i, won)| won.then_some(i))
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one exchange applies: {winners:?}"
    );
    let winner = format!("w-race{}", winners[0]);
    assert_eq!(generation().await, 1);
    for i in 0..8 {
        let hash = format!("w-race{i}");
        let stored = store
            .load_refresh_token(&TokenHash::from_stored(hash.as_str()))
            .await
            .unwrap()
            .is_some();
        let recorded = store
            .access_token_state(&hash, ts(20))
            .await
            .unwrap()
            .is_some();
        assert_eq!(stored, hash == winner, "secret of {hash}");
        assert_eq!(recorded, hash == winner, "access-token record of {hash}");
    }
    let after = store.table_sizes().await.unwrap();
    assert_eq!(
        after.refresh_token_secrets,
        before.refresh_token_secrets + 1
    );
    assert_eq!(after.access_tokens, before.access_tokens + 1);
    assert_eq!(after.logs, before.logs + 1);
}
