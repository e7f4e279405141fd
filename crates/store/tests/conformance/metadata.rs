//! Refresh-token and session metadata (only a live row takes it, with its
//! event), and public-key device credentials (one per user, client and
//! device; gone with their client).

use grantor_domain::{ClientId, SessionId, UserId};
use grantor_store::{DevicePublicKey, DevicePublicKeyFilter, RevocationTarget, Store, StoreError};

use crate::support::fixtures::{all, client, log_event, session_record, ts, user};

conformance_tests! {
    session_metadata_is_written_only_for_a_live_session,
    device_public_keys_are_unique_per_device_and_go_with_their_client,
}

async fn session_metadata_is_written_only_for_a_live_session(store: &Store) {
    store
        .insert_user(&user("md", "md@example.com"))
        .await
        .unwrap();
    for id in ["live", "gone"] {
        store
            .create_session(&session_record(id, "auth0|md", 0))
            .await
            .unwrap();
    }
    let (live, gone) = (SessionId::from("live"), SessionId::from("gone"));
    assert!(store
        .set_session_metadata(
            &live,
            Some(r#"{"a":"b"}"#),
            &log_event("m1", "sapi", 10),
            ts(10)
        )
        .await
        .unwrap());
    store
        .revoke(
            &RevocationTarget::Session {
                session_id: gone.clone(),
                tokens: true,
            },
            grantor_domain::Reason::ManagementApi,
            &log_event("rv", "srrt", 20),
            ts(20),
        )
        .await
        .unwrap();
    assert!(!store
        .set_session_metadata(
            &gone,
            Some(r#"{"a":"b"}"#),
            &log_event("m2", "sapi", 30),
            ts(30)
        )
        .await
        .unwrap());
    assert!(
        store
            .log_event(&log_event("m2", "sapi", 30).log_id)
            .await
            .unwrap()
            .is_none(),
        "no event for a refused write"
    );
    assert!(store
        .log_event(&log_event("m1", "sapi", 10).log_id)
        .await
        .unwrap()
        .is_some());
    let read = store
        .session_metadata(&[live.clone(), gone.clone()])
        .await
        .unwrap();
    assert_eq!(read, vec![(live.clone(), r#"{"a":"b"}"#.to_owned())]);
    assert!(store
        .set_session_metadata(&live, None, &log_event("m3", "sapi", 40), ts(40))
        .await
        .unwrap());
    assert!(
        store.session_metadata(&[live]).await.unwrap().is_empty(),
        "cleared"
    );
    assert!(store.session_metadata(&[]).await.unwrap().is_empty());
}

fn key(id: &str, client_id: &str, device_id: &str) -> DevicePublicKey {
    DevicePublicKey {
        id: id.to_owned(),
        user_id: UserId::from("auth0|pk"),
        client_id: ClientId::from(client_id),
        device_id: device_id.to_owned(),
        device_name: "phone".to_owned(),
        key_type: "EC".to_owned(),
        public_key: "MFkw".to_owned(),
        created_at: ts(1),
    }
}

async fn device_public_keys_are_unique_per_device_and_go_with_their_client(store: &Store) {
    store
        .insert_user(&user("pk", "pk@example.com"))
        .await
        .unwrap();
    store.insert_client(&client("app-a")).await.unwrap();
    store.insert_client(&client("app-b")).await.unwrap();
    let event = |n: &str| log_event(n, "sapi", 5);
    store
        .insert_device_public_key(&key("dcr_1", "app-a", "01"), &event("k1"))
        .await
        .unwrap();
    store
        .insert_device_public_key(&key("dcr_2", "app-b", "01"), &event("k2"))
        .await
        .unwrap();
    let again = store
        .insert_device_public_key(&key("dcr_3", "app-a", "01"), &event("k3"))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let missing = store
        .insert_device_public_key(&key("dcr_4", "nobody", "02"), &event("k4"))
        .await;
    assert!(
        matches!(missing, Err(StoreError::MissingReference(_))),
        "{missing:?}"
    );
    assert!(
        store
            .log_event(&event("k3").log_id)
            .await
            .unwrap()
            .is_none(),
        "no event for a refused insert"
    );

    let everything = store
        .list_device_public_keys(&DevicePublicKeyFilter::default(), all())
        .await
        .unwrap();
    assert_eq!((everything.items.len(), everything.total), (2, 2));
    assert_eq!(everything.items[0], key("dcr_1", "app-a", "01"));
    let of_a = DevicePublicKeyFilter {
        client_id: Some(ClientId::from("app-a")),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_device_public_keys(&of_a, all())
            .await
            .unwrap()
            .total,
        1
    );

    assert!(store
        .delete_device_public_key("dcr_1", &event("d1"))
        .await
        .unwrap());
    assert!(!store
        .delete_device_public_key("dcr_1", &event("d2"))
        .await
        .unwrap());
    assert!(store.delete_client(&ClientId::from("app-b")).await.unwrap());
    let left = store
        .list_device_public_keys(&DevicePublicKeyFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(left.total, 0, "the client's keys went with it");
}
