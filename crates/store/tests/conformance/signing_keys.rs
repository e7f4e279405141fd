//! Signing keys: rotation and revocation are each one transaction (states,
//! version and audit event together, or nothing), and the next keys of a
//! start are added once.

use grantor_store::{SigningKeyRecord, SigningKeyRevocation, SigningKeyState, Store, StoreError};

use crate::support::fixtures::{log_event, plan, ts};

conformance_tests! {
    a_start_adds_next_keys_once,
    rotation_moves_every_state_and_the_version_together,
    a_failed_rotation_changes_nothing,
    only_a_previous_key_can_be_revoked,
}

fn key(kid: &str, alg: &str, at: i64) -> SigningKeyRecord {
    SigningKeyRecord::new(
        kid.to_owned(),
        alg.to_owned(),
        format!("pkcs8 of {kid}").into_bytes(),
        SigningKeyState::Next,
        ts(at),
    )
}

/// (kid, state) of every key, sorted by kid.
async fn states(store: &Store) -> Vec<(String, SigningKeyState)> {
    let mut out: Vec<_> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.kid, k.state))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn pairs(list: &[(&str, SigningKeyState)]) -> Vec<(String, SigningKeyState)> {
    let mut out: Vec<_> = list.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A bootstrapped store (keys `t-key-1` RS256 and `t-key-2` ES256, current)
/// with next keys `n1` (RS256) and `n2` (ES256).
async fn with_next_keys(store: &Store) {
    assert!(store.bootstrap(&plan("t")).await.unwrap());
    let fresh = [key("n1", "RS256", 10), key("n2", "ES256", 10)];
    assert_eq!(
        store
            .ensure_next_signing_keys(&fresh, ts(10))
            .await
            .unwrap(),
        2
    );
}

async fn a_start_adds_next_keys_once(store: &Store) {
    assert!(store.bootstrap(&plan("t")).await.unwrap());
    let v0 = store.signing_key_version().await.unwrap();
    let fresh = [key("n1", "RS256", 10), key("n2", "ES256", 10)];
    assert_eq!(
        store
            .ensure_next_signing_keys(&fresh, ts(10))
            .await
            .unwrap(),
        2
    );
    assert_eq!(store.signing_key_version().await.unwrap(), v0 + 1);
    // A second start (or a concurrent one) adds nothing and keeps the version.
    let again = [key("m1", "RS256", 20), key("m2", "ES256", 20)];
    assert_eq!(
        store
            .ensure_next_signing_keys(&again, ts(20))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.signing_key_version().await.unwrap(), v0 + 1);
    use SigningKeyState::*;
    assert_eq!(
        states(store).await,
        pairs(&[
            ("t-key-1", Current),
            ("t-key-2", Current),
            ("n1", Next),
            ("n2", Next)
        ])
    );
    let set = store.signing_key_set().await.unwrap();
    assert_eq!(set.version, v0 + 1);
    assert_eq!(set.keys.len(), 4);
    let current = set.keys.iter().find(|k| k.kid == "t-key-1").unwrap();
    assert_eq!(
        current.current_since,
        Some(ts(0)),
        "bootstrap keys are current from their creation"
    );
}

async fn rotation_moves_every_state_and_the_version_together(store: &Store) {
    with_next_keys(store).await;
    let v = store.signing_key_version().await.unwrap();
    let event = log_event("rot1", "sapi", 100);
    let current = store
        .rotate_signing_keys(
            &[key("f1", "RS256", 100), key("f2", "ES256", 100)],
            ts(100),
            &event,
        )
        .await
        .unwrap();
    let mut kids: Vec<_> = current.iter().map(|k| k.kid.as_str()).collect();
    kids.sort();
    assert_eq!(kids, ["n1", "n2"]);
    use SigningKeyState::*;
    assert_eq!(
        states(store).await,
        pairs(&[
            ("t-key-1", Previous),
            ("t-key-2", Previous),
            ("n1", Current),
            ("n2", Current),
            ("f1", Next),
            ("f2", Next),
        ])
    );
    assert_eq!(store.signing_key_version().await.unwrap(), v + 1);
    assert!(
        store.log_event(&event.log_id).await.unwrap().is_some(),
        "the audit event is written with it"
    );
    let keys = store.signing_keys().await.unwrap();
    let old = keys.iter().find(|k| k.kid == "t-key-1").unwrap();
    assert_eq!(old.current_until, Some(ts(100)));
    let new = keys.iter().find(|k| k.kid == "n1").unwrap();
    assert_eq!(new.current_since, Some(ts(100)));

    // A second rotation keeps the first previous keys published.
    store
        .rotate_signing_keys(
            &[key("g1", "RS256", 200), key("g2", "ES256", 200)],
            ts(200),
            &log_event("rot2", "sapi", 200),
        )
        .await
        .unwrap();
    assert_eq!(
        states(store).await,
        pairs(&[
            ("t-key-1", Previous),
            ("t-key-2", Previous),
            ("n1", Previous),
            ("n2", Previous),
            ("f1", Current),
            ("f2", Current),
            ("g1", Next),
            ("g2", Next),
        ])
    );
}

async fn a_failed_rotation_changes_nothing(store: &Store) {
    with_next_keys(store).await;
    let before = states(store).await;
    let v = store.signing_key_version().await.unwrap();
    // The second fresh key reuses a stored kid: its insert fails after the
    // state updates ran, and the whole rotation must roll back.
    let event = log_event("bad", "sapi", 100);
    let result = store
        .rotate_signing_keys(
            &[key("f1", "RS256", 100), key("n2", "ES256", 100)],
            ts(100),
            &event,
        )
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(states(store).await, before);
    assert_eq!(store.signing_key_version().await.unwrap(), v);
    assert!(store.log_event(&event.log_id).await.unwrap().is_none());

    // An algorithm without a next key to promote is refused before any write.
    let result = store
        .rotate_signing_keys(&[key("f1", "EdDSA", 100)], ts(100), &event)
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(states(store).await, before);
    assert_eq!(store.signing_key_version().await.unwrap(), v);
}

async fn only_a_previous_key_can_be_revoked(store: &Store) {
    with_next_keys(store).await;
    store
        .rotate_signing_keys(
            &[key("f1", "RS256", 100), key("f2", "ES256", 100)],
            ts(100),
            &log_event("rot", "sapi", 100),
        )
        .await
        .unwrap();
    let before = states(store).await;
    let v = store.signing_key_version().await.unwrap();
    for (kid, state) in [
        ("n1", SigningKeyState::Current),
        ("f1", SigningKeyState::Next),
    ] {
        let event = log_event(&format!("no-{kid}"), "sapi", 200);
        match store
            .revoke_signing_key(kid, ts(200), &event)
            .await
            .unwrap()
        {
            SigningKeyRevocation::NotPrevious(s) => assert_eq!(s, state, "{kid}"),
            other => panic!("{kid}: {other:?}"),
        }
        assert!(store.log_event(&event.log_id).await.unwrap().is_none());
    }
    assert!(matches!(
        store
            .revoke_signing_key("nope", ts(200), &log_event("nope", "sapi", 200))
            .await
            .unwrap(),
        SigningKeyRevocation::NotFound
    ));
    assert_eq!(states(store).await, before, "refusals change nothing");
    assert_eq!(
        store.signing_key_version().await.unwrap(),
        v,
        "nor the version"
    );

    let event = log_event("rev", "sapi", 300);
    match store
        .revoke_signing_key("t-key-1", ts(300), &event)
        .await
        .unwrap()
    {
        SigningKeyRevocation::Revoked(k) => {
            assert_eq!(k.kid, "t-key-1");
            assert_eq!(k.state, SigningKeyState::Revoked);
            assert_eq!(k.revoked_at, Some(ts(300)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.signing_key_version().await.unwrap(), v + 1);
    assert!(store.log_event(&event.log_id).await.unwrap().is_some());
    // Revoked once: a second revocation is refused as not previous.
    assert!(matches!(
        store
            .revoke_signing_key("t-key-1", ts(400), &log_event("again", "sapi", 400))
            .await
            .unwrap(),
        SigningKeyRevocation::NotPrevious(SigningKeyState::Revoked)
    ));
    let set = store.signing_key_set().await.unwrap();
    assert_eq!(set.version, v + 1);
    assert_eq!(set.keys.len(), 6, "revoked keys are still listed");
}
