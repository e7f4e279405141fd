//! Users: round trip, the unique e-mail per connection, filters and paging.

use grantor_domain::user::DATABASE_CONNECTION;
use grantor_domain::User;
use grantor_domain::UserId;
use grantor_store::{PageRequest, Store, StoreError, UserFilter, UserUpdate};

use crate::support::compare::assert_user_eq;
use crate::support::fixtures::{all, owned, page, ts, user};

conformance_tests! {
    user_crud,
    an_update_keeps_what_another_wrote_meanwhile,
    a_guarded_merge_is_not_written_over_a_newer_value,
    duplicate_email_in_connection_is_conflict,
    list_users_filters,
}

async fn user_ids(store: &Store, filter: &UserFilter, request: PageRequest) -> (Vec<String>, i64) {
    let page = store.list_users(filter, request).await.unwrap();
    (
        page.items
            .into_iter()
            .map(|u| u.user_id.into_string())
            .collect(),
        page.total,
    )
}

async fn user_crud(store: &Store) {
    let ann = user("0001", "ann@example.com");
    let mut bob = user("0002", "bob@example.com");
    bob.email_verified = false;
    bob.username = None;
    bob.picture = None;
    bob.given_name = None;
    bob.family_name = None;
    bob.phone_number = None;
    bob.phone_verified = false;
    bob.blocked = true;
    bob.app_metadata = "{}".to_owned();
    bob.user_metadata = "{}".to_owned();
    bob.last_login = None;
    bob.last_ip = None;
    bob.logins_count = 0;
    store.insert_user(&ann).await.unwrap();
    store.insert_user(&bob).await.unwrap();

    assert_user_eq(
        &store
            .user(&UserId::from("auth0|0001"))
            .await
            .unwrap()
            .unwrap(),
        &ann,
    );
    assert_user_eq(
        &store
            .user(&UserId::from("auth0|0002"))
            .await
            .unwrap()
            .unwrap(),
        &bob,
    );
    assert!(store
        .user(&UserId::from("auth0|0003"))
        .await
        .unwrap()
        .is_none());
    assert_user_eq(
        &store
            .user_by_email(DATABASE_CONNECTION, "ann@example.com")
            .await
            .unwrap()
            .unwrap(),
        &ann,
    );
    assert!(store
        .user_by_email("other-connection", "ann@example.com")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .user_by_email(DATABASE_CONNECTION, "nobody@example.com")
        .await
        .unwrap()
        .is_none());

    // Update every updatable field; connection, created_at and the login
    // bookkeeping (last_login, last_ip, logins_count) are not updatable.
    let updated = User {
        user_id: ann.user_id.clone(),
        connection: "ignored".to_owned(),
        email: "ann.new@example.com".to_owned(),
        email_verified: false,
        username: None,
        name: "Ann New".to_owned(),
        nickname: "annie".to_owned(),
        picture: None,
        given_name: Some("Anne".to_owned()),
        family_name: None,
        phone_number: Some("+442079460000".to_owned()),
        phone_verified: false,
        blocked: true,
        app_metadata: r#"{"plan":"free","n":[1,2]}"#.to_owned(),
        user_metadata: "{}".to_owned(),
        password_hash: "$argon2id$new".to_owned(),
        created_at: ts(7_777),
        updated_at: ts(8_888),
        last_login: None,
        last_ip: None,
        logins_count: 99,
    };
    store
        .update_user(&UserUpdate::new(ann.clone(), updated.clone()))
        .await
        .unwrap();
    let expected = User {
        connection: ann.connection.clone(),
        created_at: ann.created_at,
        last_login: ann.last_login,
        last_ip: ann.last_ip.clone(),
        logins_count: ann.logins_count,
        ..updated.clone()
    };
    assert_user_eq(
        &store
            .user(&UserId::from("auth0|0001"))
            .await
            .unwrap()
            .unwrap(),
        &expected,
    );
    assert!(store
        .user_by_email(DATABASE_CONNECTION, "ann@example.com")
        .await
        .unwrap()
        .is_none());
    assert_user_eq(
        &store
            .user_by_email(DATABASE_CONNECTION, "ann.new@example.com")
            .await
            .unwrap()
            .unwrap(),
        &expected,
    );
    assert_user_eq(
        &store
            .user(&UserId::from("auth0|0002"))
            .await
            .unwrap()
            .unwrap(),
        &bob,
    );

    // Changing the e-mail to one another user has is a conflict, and changes nothing.
    let mut clash = expected.clone();
    clash.email = "bob@example.com".to_owned();
    clash.name = "Clash".to_owned();
    assert_store_err!(
        store
            .update_user(&UserUpdate::new(expected.clone(), clash))
            .await,
        StoreError::Conflict(_)
    );
    assert_user_eq(
        &store
            .user(&UserId::from("auth0|0001"))
            .await
            .unwrap()
            .unwrap(),
        &expected,
    );

    let ghost = user("9999", "ghost@example.com");
    let mut renamed = ghost.clone();
    renamed.name = "Ghost".to_owned();
    assert_store_err!(
        store.update_user(&UserUpdate::new(ghost, renamed)).await,
        StoreError::NotFound
    );
    assert!(store
        .user(&UserId::from("auth0|9999"))
        .await
        .unwrap()
        .is_none());

    assert!(store
        .delete_user(&UserId::from("auth0|0001"))
        .await
        .unwrap());
    assert!(store
        .user(&UserId::from("auth0|0001"))
        .await
        .unwrap()
        .is_none());
    assert!(store
        .user_by_email(DATABASE_CONNECTION, "ann.new@example.com")
        .await
        .unwrap()
        .is_none());
    assert!(!store
        .delete_user(&UserId::from("auth0|0001"))
        .await
        .unwrap());
    assert_eq!(
        user_ids(store, &UserFilter::default(), all()).await,
        (owned(&["auth0|0002"]), 1)
    );
    // The e-mail is free again.
    store
        .insert_user(&user("0003", "ann.new@example.com"))
        .await
        .unwrap();
}

async fn duplicate_email_in_connection_is_conflict(store: &Store) {
    let original = user("0001", "same@example.com");
    store.insert_user(&original).await.unwrap();

    let mut twin = user("0002", "same@example.com");
    twin.name = "Twin".to_owned();
    assert_store_err!(store.insert_user(&twin).await, StoreError::Conflict(_));
    assert!(store
        .user(&UserId::from("auth0|0002"))
        .await
        .unwrap()
        .is_none());

    // Same user_id, other e-mail: also a conflict.
    assert_store_err!(
        store.insert_user(&user("0001", "other@example.com")).await,
        StoreError::Conflict(_)
    );
    assert_user_eq(
        &store
            .user_by_email(DATABASE_CONNECTION, "same@example.com")
            .await
            .unwrap()
            .unwrap(),
        &original,
    );

    // The same e-mail in another connection is another user.
    let mut elsewhere = user("0003", "same@example.com");
    elsewhere.connection = "other-connection".to_owned();
    store.insert_user(&elsewhere).await.unwrap();
    assert_user_eq(
        &store
            .user_by_email("other-connection", "same@example.com")
            .await
            .unwrap()
            .unwrap(),
        &elsewhere,
    );
    assert_eq!(
        user_ids(store, &UserFilter::default(), all()).await.1,
        2,
        "two users in all"
    );
}

async fn list_users_filters(store: &Store) {
    // Emails chosen so that `%`, `_` and `\` would match more as LIKE wildcards.
    let emails = [
        ("u1", "a_b@example.com"),
        ("u2", "axb@example.com"),
        ("u3", "a%b@example.com"),
        ("u4", "aqqb@example.com"),
        ("u5", "back\\slash@example.com"),
        ("u6", "backxslash@example.com"),
        ("u7", "carol@test.org"),
    ];
    for (i, (id, email)) in emails.iter().enumerate() {
        let mut u = user(id, email);
        u.created_at = ts(i as i64 * 10);
        store.insert_user(&u).await.unwrap();
    }
    let by = |email: Option<&str>, contains: Option<&str>| UserFilter {
        email: email.map(str::to_owned),
        email_contains: contains.map(str::to_owned),
    };
    let ids =
        |list: &[&str]| -> Vec<String> { list.iter().map(|i| format!("auth0|{i}")).collect() };

    // No filter: everyone, oldest first, with offset paging.
    assert_eq!(
        user_ids(store, &by(None, None), all()).await,
        (ids(&["u1", "u2", "u3", "u4", "u5", "u6", "u7"]), 7)
    );
    assert_eq!(
        user_ids(store, &by(None, None), page(2, 3)).await,
        (ids(&["u3", "u4", "u5"]), 7)
    );
    assert_eq!(
        user_ids(store, &by(None, None), page(7, 3)).await,
        (ids(&[]), 7)
    );

    // Exact e-mail.
    assert_eq!(
        user_ids(store, &by(Some("a_b@example.com"), None), all()).await,
        (ids(&["u1"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(Some("a%b@example.com"), None), all()).await,
        (ids(&["u3"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(Some("example.com"), None), all()).await,
        (ids(&[]), 0)
    );

    // Substring.
    assert_eq!(
        user_ids(store, &by(None, Some("@test.")), all()).await,
        (ids(&["u7"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("example.com")), page(0, 2)).await,
        (ids(&["u1", "u2"]), 6)
    );
    // Wildcard characters in the needle are literal.
    assert_eq!(
        user_ids(store, &by(None, Some("_")), all()).await,
        (ids(&["u1"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("a_b")), all()).await,
        (ids(&["u1"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("%")), all()).await,
        (ids(&["u3"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("a%b")), all()).await,
        (ids(&["u3"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("\\")), all()).await,
        (ids(&["u5"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("k\\s")), all()).await,
        (ids(&["u5"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(None, Some("nobody")), all()).await,
        (ids(&[]), 0)
    );
    // Case: e-mails are stored lower-cased; the search ignores the needle's
    // case, the same way on both engines.
    assert_eq!(
        user_ids(store, &by(None, Some("CAROL@")), all()).await,
        (ids(&["u7"]), 1)
    );

    // Both filters together must both hold.
    assert_eq!(
        user_ids(store, &by(Some("axb@example.com"), Some("x")), all()).await,
        (ids(&["u2"]), 1)
    );
    assert_eq!(
        user_ids(store, &by(Some("axb@example.com"), Some("_")), all()).await,
        (ids(&[]), 0)
    );

    // Whole users come back.
    let page = store
        .list_users(&by(Some("carol@test.org"), None), all())
        .await
        .unwrap();
    let mut expected = user("u7", "carol@test.org");
    expected.created_at = ts(60);
    assert_eq!(page.items.len(), 1);
    assert_user_eq(&page.items[0], &expected);
}

/// Two changes read the same user; each writes only the members it
/// changed, so a profile edit read before a block (or a new password) does
/// not undo it, and the last change of one member wins.
async fn an_update_keeps_what_another_wrote_meanwhile(store: &Store) {
    let read = user("0100", "race@example.com");
    store.insert_user(&read).await.unwrap();

    let mut blocked = read.clone();
    blocked.blocked = true;
    blocked.password_hash = "$argon2id$new-password".to_owned();
    blocked.updated_at = ts(10);
    store
        .update_user(&UserUpdate::new(read.clone(), blocked))
        .await
        .unwrap();
    // A profile edit that read the user before the block.
    let mut renamed = read.clone();
    renamed.name = "Renamed".to_owned();
    renamed.app_metadata = r#"{"plan":"platinum"}"#.to_owned();
    renamed.updated_at = ts(11);
    store
        .update_user(&UserUpdate::new(read.clone(), renamed))
        .await
        .unwrap();

    let stored = store.user(&read.user_id).await.unwrap().unwrap();
    assert!(stored.blocked, "the stale edit did not unblock the user");
    assert_eq!(stored.password_hash, "$argon2id$new-password");
    assert_eq!(stored.name, "Renamed");
    assert_eq!(stored.app_metadata, r#"{"plan":"platinum"}"#);
    assert_eq!(stored.updated_at, ts(11));
    assert_eq!(stored.email, read.email);

    // A change that names a member writes it even when the read already
    // had that value: re-blocking from a read made before someone else
    // unblocked the user leaves them blocked.
    let mut unblocked = stored.clone();
    unblocked.blocked = false;
    unblocked.updated_at = ts(12);
    store
        .update_user(&UserUpdate::new(stored.clone(), unblocked))
        .await
        .unwrap();
    let mut reblocked = stored.clone();
    reblocked.updated_at = ts(13);
    store
        .update_user(&UserUpdate::new(stored, reblocked).naming(&["blocked"]))
        .await
        .unwrap();
    assert!(store.user(&read.user_id).await.unwrap().unwrap().blocked);
}

/// A metadata merge made from a read is written only while the stored
/// metadata is still what was read: otherwise nothing of the update is
/// written and it fails with `Changed`; unguarded members, and an unknown
/// user, behave as before.
async fn a_guarded_merge_is_not_written_over_a_newer_value(store: &Store) {
    let mut read = user("0200", "merge@example.com");
    read.user_metadata = r#"{"a":1}"#.to_owned();
    store.insert_user(&read).await.unwrap();
    let id = read.user_id.clone();
    const GUARDED: [&str; 2] = ["app_metadata", "user_metadata"];

    // Another request merged "b" in after our read.
    let mut theirs = read.clone();
    theirs.user_metadata = r#"{"a":1,"b":2}"#.to_owned();
    theirs.updated_at = ts(10);
    store
        .update_user(&UserUpdate::new(read.clone(), theirs.clone()).guarding(&GUARDED))
        .await
        .unwrap();

    // Our merge of "c", made from the older read, with a name change.
    let mut ours = read.clone();
    ours.user_metadata = r#"{"a":1,"c":3}"#.to_owned();
    ours.name = "Stale".to_owned();
    ours.updated_at = ts(20);
    assert_store_err!(
        store
            .update_user(&UserUpdate::new(read.clone(), ours.clone()).guarding(&GUARDED))
            .await,
        StoreError::Changed
    );
    assert_user_eq(&store.user(&id).await.unwrap().unwrap(), &theirs);

    // Made again from a fresh read, it is written.
    let fresh = store.user(&id).await.unwrap().unwrap();
    let mut again = fresh.clone();
    again.user_metadata = r#"{"a":1,"b":2,"c":3}"#.to_owned();
    again.updated_at = ts(30);
    store
        .update_user(&UserUpdate::new(fresh, again.clone()).guarding(&GUARDED))
        .await
        .unwrap();
    assert_user_eq(&store.user(&id).await.unwrap().unwrap(), &again);

    // A guarded member that is not written is not checked: an update of
    // the name alone from the stale read goes through.
    let mut renamed = read.clone();
    renamed.name = "Renamed".to_owned();
    renamed.updated_at = ts(40);
    store
        .update_user(&UserUpdate::new(read.clone(), renamed).guarding(&GUARDED))
        .await
        .unwrap();
    let now = store.user(&id).await.unwrap().unwrap();
    assert_eq!(now.name, "Renamed");
    assert_eq!(now.user_metadata, again.user_metadata);

    // An unknown user is still NotFound, guarded or not.
    let mut ghost = user("0201", "ghost@example.com");
    let mut changed = ghost.clone();
    changed.user_metadata = r#"{"x":1}"#.to_owned();
    ghost.user_metadata = "{}".to_owned();
    assert_store_err!(
        store
            .update_user(&UserUpdate::new(ghost, changed).guarding(&GUARDED))
            .await,
        StoreError::NotFound
    );
}
