//! `/api/v2/grants`: user grants (consents) with `clientID`, filters and
//! offset paging; deleting a grant revokes its refresh tokens at once and
//! makes the next `/authorize` ask for consent again.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::management_refresh_tokens::{
    assert_insufficient_scope, call_with, fixture, token_with, Fixture, CALLBACK, SCOPE,
};
use crate::refresh_tokens::API;
use crate::support::browser::{
    authorize_path, get, is_consent_page, is_login_page, new_browser, submit_login,
};
use crate::support::{assert_mgmt_error, urlencode};

impl Fixture {
    async fn grants(&self, query: &str) -> Value {
        let (status, body) = self
            .app
            .mgmt_call(Method::GET, &format!("/grants?{query}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn grant_id(&self, client_id: &str) -> String {
        let list = self
            .grants(&format!(
                "user_id={}&client_id={client_id}",
                urlencode(&self.user_id)
            ))
            .await;
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        list[0]["id"].as_str().unwrap().to_owned()
    }
}

/// Whether a fresh browser signing in to the web client is asked for consent.
async fn asks_consent(f: &Fixture) -> bool {
    let browser = new_browser();
    let path = authorize_path(&f.web_id, CALLBACK, &[("scope", SCOPE), ("audience", API)]);
    let html = get(&f.app, &browser, &path).await.text().await.unwrap();
    assert!(is_login_page(&html), "{html}");
    let response = submit_login(
        &f.app,
        &browser,
        &html,
        crate::refresh_tokens::EMAIL,
        crate::refresh_tokens::PASSWORD,
    )
    .await;
    if response.status() == StatusCode::SEE_OTHER {
        return false;
    }
    let html = response.text().await.unwrap();
    assert!(is_consent_page(&html), "{html}");
    true
}

both_databases! {
    async fn grants_are_listed_with_client_id_camel_cased_filtered_and_paged(db: Backend) {
        let f = fixture(db).await;
        f.password_login().await;
        f.browser_login(&new_browser()).await;
        let user = urlencode(&f.user_id);
        let list = f.grants(&format!("user_id={user}")).await;
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        for grant in list {
            let keys: Vec<&str> = grant.as_object().unwrap().keys().map(String::as_str).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(sorted, ["audience", "clientID", "id", "scope", "user_id"], "{grant}");
            assert_eq!(grant["user_id"], f.user_id);
            assert_eq!(grant["audience"], API);
            assert!(grant["scope"].is_array(), "scope is an array: {grant}");
        }
        let web = list.iter().find(|g| g["clientID"] == f.web_id.as_str()).expect("web grant");
        let mut scope: Vec<&str> = web["scope"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        scope.sort();
        assert_eq!(scope, ["offline_access", "openid", "read:orders"]);

        // Filters.
        let by_client = f.grants(&format!("user_id={user}&client_id={}", f.web_id)).await;
        assert_eq!(by_client.as_array().unwrap().len(), 1);
        assert_eq!(by_client[0]["clientID"], f.web_id);
        assert_eq!(f.grants(&format!("audience={}", urlencode(API))).await.as_array().unwrap().len(), 2);
        assert_eq!(f.grants("audience=https%3A%2F%2Fnone.example.test%2F").await, json!([]));
        assert_eq!(f.grants("user_id=auth0%7Cnobody").await, json!([]));

        // Offset paging with totals, and past the end.
        let page = f.grants(&format!("user_id={user}&include_totals=true&per_page=1&page=1")).await;
        assert_eq!(page["start"], 1);
        assert_eq!(page["limit"], 1);
        assert_eq!(page["total"], 2);
        assert_eq!(page["grants"].as_array().unwrap().len(), 1);
        let first = f.grants(&format!("user_id={user}&per_page=1&page=0")).await;
        assert_ne!(first[0]["id"], page["grants"][0]["id"]);
        let past = f.grants(&format!("user_id={user}&include_totals=true&per_page=1&page=2")).await;
        assert_eq!(past["grants"], json!([]));
        for bad in ["per_page=0", "per_page=101", "page=-1", "include_totals=maybe"] {
            let (status, body) = f.app.mgmt_call(Method::GET, &format!("/grants?{bad}"), None).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
    }
}

both_databases! {
    async fn deleting_a_grant_revokes_its_tokens_and_asks_consent_again(db: Backend) {
        let f = fixture(db).await;
        let first = f.browser_login(&new_browser()).await;
        let second = f.browser_login(&new_browser()).await;
        let password = f.password_login().await;
        assert!(!asks_consent(&f).await, "the grant covers the scopes");
        let grant = f.grant_id(&f.web_id).await;

        let (status, body) = f.app.mgmt_call(Method::DELETE, &format!("/grants/{grant}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert_eq!(body, Value::Null, "empty body");
        f.assert_revoked(&first).await;
        f.assert_revoked(&second).await;
        f.assert_works(&password).await; // another grant
        assert!(f.grants(&format!("user_id={}&client_id={}", urlencode(&f.user_id), f.web_id)).await.as_array().unwrap().is_empty());
        assert_eq!(f.token_ids().await.len(), 1, "only the password client's token is left");
        assert!(asks_consent(&f).await, "the consent is gone");

        let (status, body) = f.app.mgmt_call(Method::DELETE, &format!("/grants/{grant}"), None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["message"], "The grant does not exist.");
    }
}

both_databases! {
    async fn deleting_a_users_grants_revokes_every_token(db: Backend) {
        let f = fixture(db).await;
        let browser = f.browser_login(&new_browser()).await;
        let password = f.password_login().await;
        let other = crate::support::browser::create_user(&f.app, "bob@example.test", "another horse battery").await;
        let (status, body) = f.app.mgmt_call(Method::DELETE, &format!("/grants?user_id={}", urlencode(&f.user_id)), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        f.assert_revoked(&browser).await;
        f.assert_revoked(&password).await;
        assert_eq!(f.grants(&format!("user_id={}", urlencode(&f.user_id))).await, json!([]));
        assert!(f.token_ids().await.is_empty());
        // Nothing left, or a user without grants: 204 again. user_id is required.
        for user in [f.user_id.clone(), other] {
            let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/grants?user_id={}", urlencode(&user)), None).await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        }
        let (status, body) = f.app.mgmt_call(Method::DELETE, "/grants", None).await;
        assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
    }
}

both_databases! {
    async fn grant_endpoints_need_their_scopes(db: Backend) {
        let f = fixture(db).await;
        let login = f.password_login().await;
        let grant = f.grant_id(&f.id).await;
        let reader = token_with(&f.app, &["read:grants"]).await;
        let other = token_with(&f.app, &["read:users"]).await;
        let (status, _) = call_with(&f.app, &reader, Method::GET, "/grants", None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = call_with(&f.app, &other, Method::GET, "/grants", None).await;
        assert_insufficient_scope(status, &body);
        assert_eq!(body["message"], "Insufficient scope, expected any of: read:grants");
        for path in [format!("/grants/{grant}"), format!("/grants?user_id={}", urlencode(&f.user_id))] {
            let (status, body) = call_with(&f.app, &reader, Method::DELETE, &path, None).await;
            assert_insufficient_scope(status, &body);
        }
        f.assert_works(&login).await;
    }
}
