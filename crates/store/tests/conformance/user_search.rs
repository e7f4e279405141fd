//! The Management API's user search as the store runs it: terms compiled
//! with bound values (hostile text is only text), and the plans of e-mail
//! and user id terms, exact and prefix, using the indexes of migration 18.

use grantor_domain::user_search::{UserSearch, UserSort};
use grantor_store::{PageRequest, Store};

use crate::support::fixtures::user;

conformance_tests! {
    terms_match_with_bound_values,
    email_and_user_id_terms_use_an_index,
}

fn q(text: &str) -> UserSearch {
    UserSearch::parse(text).unwrap().unwrap()
}

async fn ids(store: &Store, text: &str) -> Vec<String> {
    let page = store
        .search_users(
            Some(&q(text)),
            Some(UserSort::parse("user_id:1").unwrap()),
            PageRequest {
                offset: 0,
                limit: 100,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total as usize, page.items.len(), "{text}");
    page.items
        .into_iter()
        .map(|u| u.user_id.into_string())
        .collect()
}

async fn terms_match_with_bound_values(store: &Store) {
    for (id, email, name) in [
        ("a1", "ann@example.com", "Ann O'Neil"),
        ("a2", "anna@example.com", "Anna_B"),
        ("b1", "bob@example.com", "Bob 100%"),
    ] {
        let mut u = user(id, email);
        u.name = name.to_owned();
        store.insert_user(&u).await.unwrap();
    }
    assert_eq!(ids(store, "email:ann*").await, ["auth0|a1", "auth0|a2"]);
    assert_eq!(
        ids(store, "user_id:auth0|a*").await,
        ["auth0|a1", "auth0|a2"]
    );
    assert_eq!(ids(store, "name:\"ann o'neil\"").await, ["auth0|a1"]);
    assert_eq!(ids(store, "name:anna_*").await, ["auth0|a2"]);
    assert_eq!(ids(store, "name:\"bob 100%\"").await, ["auth0|b1"]);
    for hostile in [
        "email:\"x' OR '1'='1\"",
        "user_id:\"a1' OR 1=1 --\"",
        "name:\"%\"",
        "name:%*",
        "name:ann_*",
        "email:\"ann@example.com'); DELETE FROM users; --\"",
    ] {
        assert!(ids(store, hostile).await.is_empty(), "{hostile}");
    }
    assert_eq!(ids(store, "email:*").await.len(), 3);
}

/// The plan of `text`'s row query, with the planner told to prefer
/// indexes (an empty table would otherwise be scanned on PostgreSQL).
async fn plan(store: &Store, text: &str) -> String {
    store
        .user_search_plan(Some(&q(text)), None)
        .await
        .unwrap()
        .join("\n")
}

async fn email_and_user_id_terms_use_an_index(store: &Store) {
    for (text, index) in [
        ("email:ann@example.com", "users_email_search"),
        ("email:ann*", "users_email_search"),
        ("user_id:\"auth0|a1\"", "user"),
        ("user_id:auth0|a*", "user"),
        ("name:\"ann o'neil\"", "users_name_search"),
    ] {
        let plan = plan(store, text).await;
        println!("{text}:\n{plan}\n");
        let lower = plan.to_lowercase();
        assert!(lower.contains(index), "{text}: {plan}");
        // SQLite says SEARCH … USING INDEX; PostgreSQL names an index scan.
        assert!(
            lower.contains("search users using")
                || lower.contains("index scan")
                || lower.contains("index cond"),
            "{text} is not an index search: {plan}"
        );
        assert!(!lower.contains("seq scan"), "{text}: {plan}");
        assert!(
            !lower.contains("users_created"),
            "{text} walks the creation order: {plan}"
        );
    }
}
