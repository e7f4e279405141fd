//! `PATCH /api/v2/refresh-tokens/{id}` (`refresh_token_metadata`) and
//! `PATCH /api/v2/sessions/{id}` (`session_metadata`): Auth0's limits, the
//! metadata on every read path and in the dashboard, audited, 404 once the
//! token or session is gone; and the checkpoint cursors every list with
//! `from` now recognises as its own (400 otherwise), with `GET
//! /refresh-tokens`' `client_id` and `fields` filters.

use std::sync::Arc;

use grantor::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::both_databases;
use crate::dashboard::Admin;
use crate::management_refresh_tokens::{
    assert_insufficient_scope, call_with, fixture, fixture_on, non_rotating, token_with, Fixture,
};
use crate::support::browser::new_browser;
use crate::support::{assert_mgmt_error, read, spawn_app_on, urlencode, AppOptions, TestDatabase};

const INVALID_CHECKPOINT: &str =
    "The checkpoint ID provided in the 'from' parameter has expired or is invalid.";

/// The user's refresh tokens and sessions by every Management read path,
/// each object as that path renders it.
async fn token_everywhere(f: &Fixture, id: &str) -> Vec<Value> {
    let user = urlencode(&f.user_id);
    let mut seen = Vec::new();
    let (status, single) = f
        .app
        .mgmt_call(Method::GET, &format!("/refresh-tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{single}");
    seen.push(single);
    for (path, key) in [
        (format!("/refresh-tokens?user_id={user}"), "refresh_tokens"),
        (format!("/users/{user}/refresh-tokens"), "tokens"),
    ] {
        let (status, list) = f.app.mgmt_call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let item = list[key].as_array().unwrap().iter().find(|t| t["id"] == id);
        seen.push(
            item.unwrap_or_else(|| panic!("{id} in {path}: {list}"))
                .clone(),
        );
    }
    seen
}

async fn session_everywhere(f: &Fixture, id: &str) -> Vec<Value> {
    let (status, single) = f
        .app
        .mgmt_call(Method::GET, &format!("/sessions/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{single}");
    let path = format!("/users/{}/sessions", urlencode(&f.user_id));
    let (status, list) = f.app.mgmt_call(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let item = list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id);
    vec![
        single,
        item.unwrap_or_else(|| panic!("{id} in {path}: {list}"))
            .clone(),
    ]
}

/// `sapi` events whose description names `id`.
async fn audit_events(f: &Fixture, id: &str) -> Vec<Value> {
    let (status, logs) = f
        .app
        .mgmt_call(Method::GET, "/logs?q=type:sapi&per_page=100", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{logs}");
    logs.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["description"].as_str().unwrap_or_default().contains(id))
        .cloned()
        .collect()
}

both_databases! {
    async fn refresh_token_metadata_is_shown_on_every_read_audited_and_cleared(db: Backend) {
        let f = fixture(db).await;
        let login = f.password_login().await;
        let id = f.token_id(&Default::default()).await;
        for token in token_everywhere(&f, &id).await {
            assert_eq!(token["refresh_token_metadata"], Value::Null, "none yet: {token}");
        }

        let metadata = json!({"device": "kitchen tablet", "tier": "gold <b>"});
        let (status, patched) = f.app.mgmt_call(Method::PATCH, &format!("/refresh-tokens/{id}"), Some(json!({"refresh_token_metadata": metadata}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["refresh_token_metadata"], metadata);
        let seen = token_everywhere(&f, &id).await;
        for token in &seen {
            assert_eq!(token, &patched, "every read path shows the same object");
        }
        // Metadata changes nothing about the token itself.
        let (status, body) = crate::refresh_tokens::refresh(&f.app, &f.id, &f.secret, &login.refresh_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        let events = audit_events(&f, &id).await;
        assert_eq!(events.len(), 1, "one sapi event: {events:?}");
        assert_eq!(events[0]["details"]["actor"]["type"], "client", "{}", events[0]);

        // The dashboard's Devices tab shows it (escaped).
        let admin = Admin::signed_in(&f.app).await;
        let html = admin.page(&format!("/dashboard/users/{}/devices", urlencode(&f.user_id))).await;
        assert!(html.contains("kitchen tablet") && html.contains("gold &#60;b&#62;"), "{html}");
        assert!(!html.contains("gold <b>"), "escaped");

        // A new PATCH replaces the whole object; `{}` and `null` clear it.
        let (status, patched) = f.app.mgmt_call(Method::PATCH, &format!("/refresh-tokens/{id}"), Some(json!({"refresh_token_metadata": {"only": "this"}}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["refresh_token_metadata"], json!({"only": "this"}));
        for clear in [json!({}), Value::Null] {
            let (status, patched) = f.app.mgmt_call(Method::PATCH, &format!("/refresh-tokens/{id}"), Some(json!({"refresh_token_metadata": clear}))).await;
            assert_eq!(status, StatusCode::OK, "{patched}");
            for token in token_everywhere(&f, &id).await {
                assert_eq!(token["refresh_token_metadata"], Value::Null, "cleared by {clear}: {token}");
            }
        }
        let html = admin.page(&format!("/dashboard/users/{}/devices", urlencode(&f.user_id))).await;
        assert!(!html.contains("kitchen tablet"), "{html}");

        // Revoked: the token no longer exists, so it cannot be patched.
        let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/refresh-tokens/{id}"), None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let before = audit_events(&f, &id).await.len();
        for target in [id.as_str(), "no-such-token"] {
            let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/refresh-tokens/{target}"), Some(json!({"refresh_token_metadata": {"a": "b"}}))).await;
            assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
            assert_eq!(body["message"], "The refresh token does not exist.");
        }
        assert_eq!(audit_events(&f, &id).await.len(), before, "a refused PATCH writes no event");
    }
}

both_databases! {
    async fn session_metadata_is_shown_on_every_read_audited_and_cleared(db: Backend) {
        let f = fixture(db).await;
        let browser = new_browser();
        let login = f.browser_login(&browser).await;
        let sid = login.session_id.clone().unwrap();
        for session in session_everywhere(&f, &sid).await {
            assert_eq!(session["session_metadata"], Value::Null, "{session}");
        }
        let metadata = json!({"risk": "low", "office": "Zürich"});
        let (status, patched) = f.app.mgmt_call(Method::PATCH, &format!("/sessions/{sid}"), Some(json!({"session_metadata": metadata}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        assert_eq!(patched["session_metadata"], metadata);
        assert_eq!(patched["id"], sid.as_str());
        for session in session_everywhere(&f, &sid).await {
            assert_eq!(session["session_metadata"], metadata, "{session}");
        }
        assert_eq!(audit_events(&f, &sid).await.len(), 1);
        // The session's refresh token carries no session metadata of its own.
        let (_, tokens) = f.app.mgmt_call(Method::GET, &format!("/users/{}/refresh-tokens", urlencode(&f.user_id)), None).await;
        assert_eq!(tokens["tokens"][0]["refresh_token_metadata"], Value::Null, "{tokens}");

        let admin = Admin::signed_in(&f.app).await;
        let html = admin.page(&format!("/dashboard/users/{}/sessions", urlencode(&f.user_id))).await;
        assert!(html.contains("Zürich") && html.contains("risk"), "{html}");

        let (status, patched) = f.app.mgmt_call(Method::PATCH, &format!("/sessions/{sid}"), Some(json!({"session_metadata": null}))).await;
        assert_eq!(status, StatusCode::OK, "{patched}");
        for session in session_everywhere(&f, &sid).await {
            assert_eq!(session["session_metadata"], Value::Null, "{session}");
        }

        // A revoked session no longer exists.
        let (status, _) = f.app.mgmt_call(Method::POST, &format!("/sessions/{sid}/revoke"), None).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        for target in [sid.as_str(), "no-such-session"] {
            let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/sessions/{target}"), Some(json!({"session_metadata": {"a": "b"}}))).await;
            assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
            assert_eq!(body["message"], "The session does not exist.");
        }
    }
}

both_databases! {
    async fn metadata_patches_refuse_hostile_bodies_and_callers_without_the_scope(db: Backend) {
        let f = fixture(db).await;
        f.password_login().await;
        let id = f.token_id(&Default::default()).await;
        let browser = new_browser();
        let sid = f.browser_login(&browser).await.session_id.unwrap();
        let kept = json!({"kept": "yes"});
        let targets = [
            (format!("/refresh-tokens/{id}"), "refresh_token_metadata"),
            (format!("/sessions/{sid}"), "session_metadata"),
        ];
        let at_limit = || -> Map<String, Value> {
            (0..25).map(|i| (format!("k{i}"), json!("v".repeat(255)))).collect()
        };
        for (path, member) in &targets {
            let (status, body) = f.app.mgmt_call(Method::PATCH, path, Some(json!({ *member: kept }))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            // Exactly at the limits is fine.
            let (status, body) = f.app.mgmt_call(Method::PATCH, path, Some(json!({ *member: at_limit() }))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body[*member].as_object().unwrap().len(), 25);
            let (status, body) = f.app.mgmt_call(Method::PATCH, path, Some(json!({ *member: kept }))).await;
            assert_eq!(status, StatusCode::OK, "{body}");

            let mut over = at_limit();
            over.insert("k25".into(), json!("v"));
            let hostile = [
                (json!({ *member: over }), true),
                (json!({ *member: {"k": "v".repeat(256)} }), true),
                (json!({ *member: {"k".repeat(256): "v"} }), true),
                (json!({ *member: {"n": 1} }), false),
                (json!({ *member: {"nested": {"a": "b"}} }), false),
                (json!({ *member: {"list": ["a"]} }), false),
                (json!({ *member: {"null": null} }), false),
                (json!({ *member: ["a"] }), false),
                (json!({ *member: "text" }), false),
                (json!({ *member: {"nul": "a\u{0}b"} }), false),
                (json!({}), false),
                (json!({ *member: {}, "other": 1 }), false),
            ];
            for (body, over_the_limit) in hostile {
                let (status, answer) = f.app.mgmt_call(Method::PATCH, path, Some(body.clone())).await;
                assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
                if over_the_limit {
                    assert_eq!(answer["message"], "Metadata must not exceed 25 entries. Each key and value must be ≤ 255 characters.", "{body}");
                }
            }
            // Not JSON at all.
            let response = f.app.mgmt(Method::PATCH, path).await.header("content-type", "application/json").body("{\"x\":").send().await.unwrap();
            let (status, answer) = read(response).await;
            assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
            // Nothing was written by any of them.
            let (_, now) = f.app.mgmt_call(Method::GET, path, None).await;
            assert_eq!(now[*member], kept, "{now}");
        }

        // Scopes: the read scopes are not enough; no token is a 401.
        let readers = token_with(&f.app, &["read:refresh_tokens", "read:sessions", "delete:refresh_tokens", "delete:sessions"]).await;
        let writers = token_with(&f.app, &["update:refresh_tokens", "update:sessions"]).await;
        for (path, member) in &targets {
            let body = json!({ *member: {"by": "reader"} });
            let (status, answer) = call_with(&f.app, &readers, Method::PATCH, path, Some(body.clone())).await;
            assert_insufficient_scope(status, &answer);
            let (status, answer) = read(f.app.http.patch(f.app.url(&format!("/api/v2{path}"))).json(&body).send().await.unwrap()).await;
            assert_mgmt_error(status, &answer, StatusCode::UNAUTHORIZED);
            let (status, answer) = call_with(&f.app, &writers, Method::PATCH, path, Some(json!({ *member: {"by": "writer"} }))).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer[*member], json!({"by": "writer"}));
        }
        // Each scope covers its own resource only.
        let tokens_only = token_with(&f.app, &["update:refresh_tokens"]).await;
        let (status, answer) = call_with(&f.app, &tokens_only, Method::PATCH, &targets[1].0, Some(json!({"session_metadata": null}))).await;
        assert_insufficient_scope(status, &answer);
    }
}

both_databases! {
    async fn checkpoint_lists_refuse_cursors_grantor_did_not_issue(db: Backend) {
        let clock = Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let database = Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions { clock: clock.clone(), ..AppOptions::default() }).await;
        let f = fixture_on(app, non_rotating()).await;
        for _ in 0..3 {
            f.password_login().await;
        }
        let browser_a = new_browser();
        let browser_b = new_browser();
        f.browser_login(&browser_a).await;
        f.browser_login(&browser_b).await;
        // A second client grant, so the client-grant list has two pages.
        token_with(&f.app, &["read:clients"]).await;
        let user = urlencode(&f.user_id);
        let lists = [
            (format!("/users/{user}/refresh-tokens?"), "tokens"),
            (format!("/refresh-tokens?user_id={user}&"), "refresh_tokens"),
            (format!("/users/{user}/sessions?"), "sessions"),
            ("/client-grants?".to_owned(), "client_grants"),
        ];
        let mut cursors = Vec::new();
        for (base, key) in &lists {
            let (status, first) = f.app.mgmt_call(Method::GET, &format!("{base}take=1"), None).await;
            assert_eq!(status, StatusCode::OK, "{first}");
            let next = first["next"].as_str().unwrap_or_else(|| panic!("{base}: {first}")).to_owned();
            let last_id = first[*key][0]["id"].as_str().unwrap().to_owned();
            // Its own cursor pages on.
            let (status, second) = f.app.mgmt_call(Method::GET, &format!("{base}take=1&from={next}"), None).await;
            assert_eq!(status, StatusCode::OK, "{second}");
            assert_ne!(second[*key][0]["id"], last_id.as_str(), "the next page: {second}");
            // Anything else is a 400: garbage, the bare id (what a cursor
            // used to be), a tampered or truncated cursor.
            let mut tampered = next.clone().into_bytes();
            let i = tampered.len() / 2;
            tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            for bad in ["x".to_owned(), last_id.clone(), tampered, next[..next.len() - 3].to_owned(), "%00".to_owned(), "A".repeat(2000)] {
                let (status, body) = f.app.mgmt_call(Method::GET, &format!("{base}take=1&from={bad}"), None).await;
                assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
                if bad != "%00" {
                    assert_eq!(body["message"], INVALID_CHECKPOINT, "{base} from={bad}: {body}");
                    assert_eq!(body["errorCode"], "invalid_query_string");
                }
            }
            cursors.push(next);
        }
        // A cursor works only on the list (and filters) that issued it.
        let (status, body) = f.app.mgmt_call(Method::GET, &format!("{}take=1&from={}", lists[1].0, cursors[0]), None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        let (status, body) = f.app.mgmt_call(Method::GET, &format!("{}take=1&from={}", lists[0].0, cursors[2]), None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        let (status, body) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens?user_id={user}&client_id={}&take=1&from={}", f.id, cursors[1]), None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);

        // Logs page from a log id: one of grantor's shape works, anything else is a 400.
        let (_, newest) = f.app.mgmt_call(Method::GET, "/logs?per_page=1", None).await;
        let log_id = newest[0]["log_id"].as_str().unwrap().to_owned();
        let (status, body) = f.app.mgmt_call(Method::GET, &format!("/logs?from={log_id}&take=5"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for bad in ["x", "00000000000000000000zzzzzzzzzzzzzzzz", "é"] {
            let (status, body) = f.app.mgmt_call(Method::GET, &format!("/logs?from={}&take=5", urlencode(bad)), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
            assert_eq!(body["message"], INVALID_CHECKPOINT, "{body}");
        }

        // Cursors expire after 24 hours, as Auth0's do.
        // (A fresh Management token: the cached one expires with them.)
        clock.advance_seconds(24 * 60 * 60 - 60);
        let reader = token_with(&f.app, &["read:refresh_tokens"]).await;
        let (status, body) = call_with(&f.app, &reader, Method::GET, &format!("{}take=1&from={}", lists[0].0, cursors[0]), None).await;
        assert_eq!(status, StatusCode::OK, "still within 24 hours: {body}");
        clock.advance_seconds(61);
        let (status, body) = call_with(&f.app, &reader, Method::GET, &format!("{}take=1&from={}", lists[0].0, cursors[0]), None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(body["message"], INVALID_CHECKPOINT, "{body}");
    }
}

async fn list_tokens(f: &Fixture, query: String) -> Vec<Value> {
    let user = urlencode(&f.user_id);
    let (status, body) = f
        .app
        .mgmt_call(
            Method::GET,
            &format!("/refresh-tokens?user_id={user}{query}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["refresh_tokens"].as_array().unwrap().clone()
}

both_databases! {
    async fn refresh_token_list_filters_by_client_and_fields(db: Backend) {
        let f = fixture(db).await;
        f.password_login().await;
        let browser = new_browser();
        f.browser_login(&browser).await;
        let user = urlencode(&f.user_id);
        let list = |query: String| list_tokens(&f, query);
        assert_eq!(list(String::new()).await.len(), 2);
        for client in [&f.id, &f.web_id] {
            let tokens = list(format!("&client_id={client}")).await;
            assert_eq!(tokens.len(), 1, "{tokens:?}");
            assert_eq!(tokens[0]["client_id"], client.as_str());
        }
        let tokens = list("&fields=id,client_id,refresh_token_metadata".to_owned()).await;
        for t in &tokens {
            let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 3, "{t}");
            assert!(t.get("user_id").is_none() && t.get("refresh_token_metadata").is_some(), "{t}");
        }
        let tokens = list("&fields=device,resource_servers&include_fields=false".to_owned()).await;
        for t in &tokens {
            assert!(t.get("device").is_none() && t.get("resource_servers").is_none() && t.get("id").is_some(), "{t}");
        }
        // An unknown field name is ignored: it selects nothing.
        let tokens = list("&fields=no_such_field".to_owned()).await;
        assert!(tokens.iter().all(|t| t == &json!({})), "{tokens:?}");
        let tokens = list("&fields=no_such_field,id".to_owned()).await;
        assert!(tokens.iter().all(|t| t.as_object().unwrap().len() == 1), "{tokens:?}");
        // Unknown client: 404, as before.
        let (status, body) = f.app.mgmt_call(Method::GET, &format!("/refresh-tokens?user_id={user}&client_id=nobody"), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}
