//! Authorization codes: read without writing, spent once.

use grantor_domain::Timestamp;
use grantor_domain::TokenHash;
use grantor_domain::{ClientId, GrantId, SessionId, UserId};
use grantor_store::Store;

conformance_tests! {
    authorization_codes_are_read_without_writing_and_spent_once,
}

async fn authorization_codes_are_read_without_writing_and_spent_once(store: &Store) {
    use grantor_store::{AuthorizationCodeRecord, CodeRedemption};
    let now = Timestamp(1_700_000_000_000);
    let code = |hash: &str, sent: bool| AuthorizationCodeRecord {
        code_hash: TokenHash::from_stored(hash.to_owned()),
        client_id: ClientId::from("client"),
        user_id: UserId::from("auth0|u"),
        session_id: Some(SessionId::from("s")),
        grant_id: GrantId::from("g"),
        redirect_uri: "https://app.example/cb".to_owned(),
        redirect_uri_sent: sent,
        audience: "https://api.example/".to_owned(),
        scope: "openid".to_owned(),
        nonce: None,
        code_challenge: Some("challenge".to_owned()),
        device_name: None,
        auth_time: now,
        created_at: now,
        expires_at: now.plus_seconds(60),
        // Code a is bound to a DPoP key, b is not.
        dpop_jkt: sent.then(|| "jkt-of-a".to_owned()),
    };
    store
        .insert_authorization_code(&code("a", true))
        .await
        .unwrap();
    store
        .insert_authorization_code(&code("b", false))
        .await
        .unwrap();
    assert!(store
        .authorization_code(&TokenHash::from_stored("missing"))
        .await
        .unwrap()
        .is_none());
    // Reading leaves the code unspent, however often.
    for _ in 0..2 {
        let stored = store
            .authorization_code(&TokenHash::from_stored("a"))
            .await
            .unwrap()
            .expect("code a");
        assert!(stored.used_at.is_none());
        assert!(stored.record.redirect_uri_sent);
        assert_eq!(stored.record.code_challenge.as_deref(), Some("challenge"));
        assert_eq!(stored.record.dpop_jkt.as_deref(), Some("jkt-of-a"));
    }
    let b = store
        .authorization_code(&TokenHash::from_stored("b"))
        .await
        .unwrap()
        .unwrap()
        .record;
    assert!(!b.redirect_uri_sent);
    assert_eq!(b.dpop_jkt, None);
    assert!(matches!(
        store
            .redeem_authorization_code(&TokenHash::from_stored("a"), now)
            .await
            .unwrap(),
        CodeRedemption::Redeemed
    ));
    assert_eq!(
        store
            .authorization_code(&TokenHash::from_stored("a"))
            .await
            .unwrap()
            .unwrap()
            .used_at,
        Some(now)
    );
    assert!(matches!(
        store
            .redeem_authorization_code(&TokenHash::from_stored("a"), now)
            .await
            .unwrap(),
        CodeRedemption::Replayed {
            issued_family_id: None,
            issued_jti: None
        }
    ));
    // Expired and unknown codes are invalid, and an expired one stays unspent.
    let later = now.plus_seconds(61);
    assert!(matches!(
        store
            .redeem_authorization_code(&TokenHash::from_stored("b"), later)
            .await
            .unwrap(),
        CodeRedemption::Invalid
    ));
    assert!(store
        .authorization_code(&TokenHash::from_stored("b"))
        .await
        .unwrap()
        .unwrap()
        .used_at
        .is_none());
    assert!(matches!(
        store
            .redeem_authorization_code(&TokenHash::from_stored("missing"), now)
            .await
            .unwrap(),
        CodeRedemption::Invalid
    ));
}
