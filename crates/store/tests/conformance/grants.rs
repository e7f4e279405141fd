//! User grants (consents) as the Management API lists them.

use grantor_domain::ScopeSet;
use grantor_domain::{ClientId, GrantId, UserId};
use grantor_store::{PageRequest, Store};

use crate::support::fixtures::{all, owned, page, ts};

conformance_tests! {
    list_grants_filters_and_pages,
}

async fn list_grants_filters_and_pages(store: &Store) {
    use grantor_store::GrantFilter;
    let read = ScopeSet::parse("openid read");
    let cases = [
        ("g1", "auth0|u1", "client-a", "https://a/", 3),
        ("g2", "auth0|u1", "client-b", "https://a/", 1),
        ("g3", "auth0|u1", "client-a", "https://b/", 2),
        ("g4", "auth0|u2", "client-a", "https://a/", 4),
    ];
    for (id, user_id, client_id, audience, at) in cases {
        store
            .upsert_grant(
                &GrantId::from(id),
                &UserId::from(user_id),
                &ClientId::from(client_id),
                audience,
                &read,
                ts(at),
            )
            .await
            .unwrap();
    }
    let ids = |filter: GrantFilter, request: PageRequest| async move {
        let page = store.list_grants(&filter, request).await.unwrap();
        (
            page.items
                .into_iter()
                .map(|g| g.id.into_string())
                .collect::<Vec<_>>(),
            page.total,
        )
    };
    assert_eq!(
        ids(GrantFilter::default(), all()).await,
        (owned(&["g2", "g3", "g1", "g4"]), 4),
        "oldest first"
    );
    assert_eq!(
        ids(GrantFilter::default(), page(1, 2)).await,
        (owned(&["g3", "g1"]), 4)
    );
    let by_user = GrantFilter {
        user_id: Some(UserId::from("auth0|u1")),
        ..Default::default()
    };
    assert_eq!(
        ids(by_user.clone(), all()).await,
        (owned(&["g2", "g3", "g1"]), 3)
    );
    assert_eq!(
        ids(
            GrantFilter {
                client_id: Some(ClientId::from("client-a")),
                ..by_user.clone()
            },
            all()
        )
        .await,
        (owned(&["g3", "g1"]), 2)
    );
    assert_eq!(
        ids(
            GrantFilter {
                audience: Some("https://a/".to_owned()),
                ..Default::default()
            },
            all()
        )
        .await,
        (owned(&["g2", "g1", "g4"]), 3)
    );
    assert_eq!(ids(by_user, page(3, 10)).await, (vec![], 3), "past the end");
    let page = store
        .list_grants(
            &GrantFilter {
                user_id: Some(UserId::from("auth0|u2")),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap();
    let g4 = &page.items[0];
    assert_eq!(
        (
            g4.client_id.as_str(),
            g4.audience.as_str(),
            g4.scope.to_wire()
        ),
        ("client-a", "https://a/", read.to_wire())
    );
}
