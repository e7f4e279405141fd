//! `/api/v2/client-grants`: which client may get machine tokens for which API
//! and scopes; offset and checkpoint paging; the effect on issued tokens.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::{assert_mgmt_error, assert_oauth_error, claims, query, spawn_app, TestApp};

async fn machine_client(app: &TestApp, name: &str) -> (String, String) {
    let (id, secret, _) = app
        .create_client(json!({"name": name, "grant_types": ["client_credentials"]}))
        .await;
    (id, secret)
}

async fn list(app: &TestApp, query_string: &str) -> Value {
    let (status, body) = app
        .mgmt_call(Method::GET, &format!("/client-grants?{query_string}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{query_string}: {body}");
    body
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("array")
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect()
}

fn scope_of(token: &str) -> BTreeSet<String> {
    claims(token)["scope"]
        .as_str()
        .expect("scope claim")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

both_databases! {
    async fn creating_a_client_grant_returns_it_with_a_cgr_id(db: Backend) {
        let app = spawn_app(db).await;
        let (client_id, secret) = machine_client(&app, "reporter").await;
        let audience = "https://reports.example.test/";
        app.create_api(audience, &["read:reports", "write:reports"]).await;

        let (status, created) = app
            .mgmt_call(Method::POST, "/client-grants", Some(json!({"client_id": client_id, "audience": audience, "scope": ["read:reports"]})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id");
        assert!(id.starts_with("cgr_") && id.len() > 4, "{id}");
        assert_eq!(created["client_id"], client_id);
        assert_eq!(created["audience"], audience);
        assert_eq!(created["scope"], json!(["read:reports"]));

        let (status, fetched) = app.mgmt_call(Method::GET, &format!("/client-grants/{id}"), None).await;
        assert_eq!(status, StatusCode::OK, "{fetched}");
        assert_eq!(fetched, created);

        // The grant is what lets the client get a token for the API.
        let token = app.client_credentials(&client_id, &secret, audience).await;
        assert_eq!(claims(&token)["aud"], audience);
        assert_eq!(scope_of(&token), set(&["read:reports"]));

        let (status, body) = app.mgmt_call(Method::GET, "/client-grants/cgr_doesnotexist0000", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["errorCode"], "inexistent_client_grant", "{body}");
    }
}

both_databases! {
    async fn invalid_client_grants_are_refused_and_nothing_is_written(db: Backend) {
        let app = spawn_app(db).await;
        let (client_id, _) = machine_client(&app, "refused").await;
        let audience = "https://stock.example.test/";
        app.create_api(audience, &["read:stock"]).await;
        let existing = app.create_client_grant(&client_id, audience, &["read:stock"]).await;
        let before = list(&app, "include_totals=true").await;

        let (status, body) = app
            .mgmt_call(Method::POST, "/client-grants", Some(json!({"client_id": client_id, "audience": audience, "scope": []})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::CONFLICT);

        let (status, body) = app
            .mgmt_call(Method::POST, "/client-grants", Some(json!({"client_id": "no-such-client", "audience": audience, "scope": []})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);

        let (status, body) = app
            .mgmt_call(Method::POST, "/client-grants", Some(json!({"client_id": client_id, "audience": "https://nowhere.example.test/", "scope": []})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);

        for (case, body) in [
            ("scope not defined on the API", json!({"client_id": client_id, "audience": audience, "scope": ["write:stock"]})),
            ("unknown field", json!({"client_id": client_id, "audience": audience, "scope": [], "allow_everything": true})),
            ("missing audience", json!({"client_id": client_id, "scope": []})),
            ("scope not a list", json!({"client_id": client_id, "audience": audience, "scope": "read:stock"})),
        ] {
            let (status, answer) = app.mgmt_call(Method::POST, "/client-grants", Some(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
            assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
        }
        // An undefined scope is refused on a new (client, audience) pair too.
        let other_audience = "https://other-stock.example.test/";
        app.create_api(other_audience, &["read:other"]).await;
        let (status, body) = app
            .mgmt_call(Method::POST, "/client-grants", Some(json!({"client_id": client_id, "audience": other_audience, "scope": ["read:stock"]})))
            .await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);

        assert_eq!(list(&app, "include_totals=true").await, before, "nothing was written");
        let (_, still) = app.mgmt_call(Method::GET, &format!("/client-grants/{}", existing["id"].as_str().unwrap()), None).await;
        assert_eq!(still, existing);
    }
}

both_databases! {
    async fn client_grants_list_by_offset_and_filter_by_client_and_audience(db: Backend) {
        let app = spawn_app(db).await;
        let (c1, _) = machine_client(&app, "one").await;
        let (c2, _) = machine_client(&app, "two").await;
        let a1 = "https://one.example.test/";
        let a2 = "https://two.example.test/";
        app.create_api(a1, &["s"]).await;
        app.create_api(a2, &["s"]).await;
        let g11 = app.create_client_grant(&c1, a1, &["s"]).await;
        let g12 = app.create_client_grant(&c1, a2, &[]).await;
        let g21 = app.create_client_grant(&c2, a1, &[]).await;

        // The bootstrap client's grant for the Management API is listed too.
        let all = list(&app, "").await;
        let all_items = all.as_array().expect("a bare array without include_totals");
        assert_eq!(all_items.len(), 4, "{all}");
        for g in [&g11, &g12, &g21] {
            assert!(all_items.contains(g), "{g} missing from {all}");
        }
        assert!(all_items.iter().any(|g| g["audience"] == app.management_audience()));

        let totals = list(&app, "include_totals=true").await;
        assert_eq!(totals["start"], 0, "{totals}");
        assert_eq!(totals["limit"], 50, "{totals}");
        assert_eq!(totals["total"], 4, "{totals}");
        assert_eq!(&totals["client_grants"], &all);

        let page = list(&app, "include_totals=true&page=1&per_page=3").await;
        assert_eq!(page["start"], 3, "{page}");
        assert_eq!(page["client_grants"].as_array().unwrap().len(), 1, "{page}");
        assert_eq!(list(&app, "page=2&per_page=3").await, json!([]), "past the end");

        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let by_client = list(&app, &query(&[("client_id", &c1)])).await;
        assert_eq!(sorted(ids(&by_client)), sorted(ids(&json!([g11, g12]))));
        let by_audience = list(&app, &query(&[("audience", a1)])).await;
        assert_eq!(sorted(ids(&by_audience)), sorted(ids(&json!([g11, g21]))));
        let both = list(&app, &query(&[("audience", a1), ("client_id", &c2)])).await;
        assert_eq!(both, json!([g21]));
        let counted = list(&app, &query(&[("audience", a1), ("include_totals", "true")])).await;
        assert_eq!(counted["total"], 2, "{counted}");
        assert_eq!(list(&app, &query(&[("client_id", "nobody")])).await, json!([]));
    }
}

both_databases! {
    async fn checkpoint_paging_walks_every_grant_once_and_omits_next_on_the_last_page(db: Backend) {
        let app = spawn_app(db).await;
        let (client_id, _) = machine_client(&app, "pager").await;
        for i in 0..4 {
            let audience = format!("https://page{i}.example.test/");
            app.create_api(&audience, &[]).await;
            app.create_client_grant(&client_id, &audience, &[]).await;
        }
        let everything: BTreeSet<String> = ids(&list(&app, "").await).into_iter().collect();
        assert_eq!(everything.len(), 5, "four grants and the bootstrap one");

        for take in [1usize, 2, 5] {
            let mut seen = Vec::new();
            let mut next: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut q = vec![("take", take.to_string())];
                if let Some(from) = &next {
                    q.push(("from", from.clone()));
                }
                let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let page = list(&app, &query(&q)).await;
                pages += 1;
                assert!(pages <= 5, "take={take}: paging does not end");
                let items = page["client_grants"].as_array().unwrap_or_else(|| panic!("client_grants key: {page}"));
                assert!(items.len() <= take, "{page}");
                seen.extend(ids(&page["client_grants"]));
                match page.get("next") {
                    Some(cursor) => {
                        let cursor = cursor.as_str().expect("next is a string");
                        assert!(!cursor.is_empty(), "{page}");
                        assert_eq!(items.len(), take, "only full pages have a next: {page}");
                        next = Some(cursor.to_owned());
                    }
                    None => break,
                }
            }
            assert_eq!(pages, everything.len().div_ceil(take), "take={take}");
            let distinct: BTreeSet<String> = seen.iter().cloned().collect();
            assert_eq!(distinct.len(), seen.len(), "take={take}: a grant came twice: {seen:?}");
            assert_eq!(distinct, everything, "take={take}");
        }

        let page = list(&app, "take=2&include_totals=true").await;
        assert_eq!(page["total"], 5, "{page}");
        for bad in ["take=0", "take=101"] {
            let (status, body) = app.mgmt_call(Method::GET, &format!("/client-grants?{bad}"), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
    }
}

both_databases! {
    async fn patching_a_grants_scope_changes_the_scope_of_new_tokens(db: Backend) {
        let app = spawn_app(db).await;
        let (client_id, secret) = machine_client(&app, "scoped").await;
        let audience = "https://ledger.example.test/";
        app.create_api(audience, &["read:ledger", "write:ledger", "delete:ledger"]).await;
        let grant = app.create_client_grant(&client_id, audience, &["read:ledger"]).await;
        let path = format!("/client-grants/{}", grant["id"].as_str().unwrap());
        assert_eq!(scope_of(&app.client_credentials(&client_id, &secret, audience).await), set(&["read:ledger"]));

        let (status, patched) = app.mgmt_call(Method::PATCH, &path, Some(json!({"scope": ["read:ledger", "write:ledger"]}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["id"], grant["id"]);
        assert_eq!(patched["client_id"], client_id);
        assert_eq!(patched["audience"], audience);
        let patched_scope: BTreeSet<String> = patched["scope"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
        assert_eq!(patched_scope, set(&["read:ledger", "write:ledger"]));
        let (_, fetched) = app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(fetched, patched);
        assert_eq!(scope_of(&app.client_credentials(&client_id, &secret, audience).await), set(&["read:ledger", "write:ledger"]));

        // Narrowing works too.
        let (status, body) = app.mgmt_call(Method::PATCH, &path, Some(json!({"scope": ["delete:ledger"]}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(scope_of(&app.client_credentials(&client_id, &secret, audience).await), set(&["delete:ledger"]));
        let (_, fetched) = app.mgmt_call(Method::GET, &path, None).await;

        // Refused PATCHes change neither the grant nor the tokens.
        for bad in [
            json!({"scope": ["admin:ledger"]}),
            json!({"scope": ["read:ledger"], "audience": "https://elsewhere.example.test/"}),
            json!({"scope": "read:ledger"}),
        ] {
            let (status, body) = app.mgmt_call(Method::PATCH, &path, Some(bad.clone())).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            let (_, after) = app.mgmt_call(Method::GET, &path, None).await;
            assert_eq!(after, fetched, "{bad}");
        }
        assert_eq!(scope_of(&app.client_credentials(&client_id, &secret, audience).await), set(&["delete:ledger"]));

        let (status, body) = app.mgmt_call(Method::PATCH, "/client-grants/cgr_doesnotexist0000", Some(json!({"scope": []}))).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["errorCode"], "inexistent_client_grant", "{body}");
    }
}

both_databases! {
    async fn deleting_a_grant_denies_new_tokens_for_that_audience(db: Backend) {
        let app = spawn_app(db).await;
        let (client_id, secret) = machine_client(&app, "revoked").await;
        let audience = "https://vault.example.test/";
        let kept_audience = "https://kept.example.test/";
        app.create_api(audience, &["open:vault"]).await;
        app.create_api(kept_audience, &["read:kept"]).await;
        let grant = app.create_client_grant(&client_id, audience, &["open:vault"]).await;
        app.create_client_grant(&client_id, kept_audience, &["read:kept"]).await;
        app.client_credentials(&client_id, &secret, audience).await;

        let path = format!("/client-grants/{}", grant["id"].as_str().unwrap());
        let response = app.mgmt(Method::DELETE, &path).await.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.text().await.unwrap().is_empty());

        let (status, body) = app.mgmt_call(Method::GET, &path, None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["errorCode"], "inexistent_client_grant", "{body}");
        assert_eq!(list(&app, &query(&[("audience", audience)])).await, json!([]));

        let response = app
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &client_id),
                ("client_secret", &secret),
                ("audience", audience),
            ])
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");

        // The client's other grant still works, and a second delete is a 404.
        app.client_credentials(&client_id, &secret, kept_audience).await;
        let (status, body) = app.mgmt_call(Method::DELETE, &path, None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}
