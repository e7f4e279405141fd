//! `/api/v2/sessions` and `/api/v2/users/{id}/sessions`, and
//! `POST /users/{id}/revoke-access`: Auth0's session object, checkpoint
//! paging, and revocations that take the session's refresh tokens with them
//! (unless `preserve_refresh_tokens`), at once.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::management_refresh_tokens::{
    assert_accepted, assert_insufficient_scope, call_with, fixture, ids, token_with, Fixture,
    CALLBACK,
};
use crate::support::browser::{authorize_path, get, is_login_page, new_browser};
use crate::support::{assert_mgmt_error, urlencode};

impl Fixture {
    /// Ids of the user's live sessions (one page of up to 100).
    async fn session_ids(&self) -> BTreeSet<String> {
        let (status, body) = self
            .app
            .mgmt_call(
                Method::GET,
                &format!("/users/{}/sessions?take=100", urlencode(&self.user_id)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids(&body["sessions"])
    }
}

/// Whether `http`'s session cookie still signs it in (`/authorize` answers
/// with a redirect rather than the login page).
async fn still_signed_in(f: &Fixture, http: &reqwest::Client) -> bool {
    let path = authorize_path(
        &f.web_id,
        CALLBACK,
        &[
            ("scope", "openid"),
            ("audience", crate::refresh_tokens::API),
        ],
    );
    let response = get(&f.app, http, &path).await;
    if response.status() == StatusCode::SEE_OTHER {
        return true;
    }
    let html = response.text().await.unwrap();
    assert!(is_login_page(&html), "{html}");
    false
}

fn date(v: &Value) -> &str {
    let s = v.as_str().unwrap_or_else(|| panic!("not a date: {v}"));
    assert!(s.len() == 24 && s.ends_with('Z'), "{s}");
    s
}

both_databases! {
    async fn sessions_are_shown_in_auth0_shape_and_paged_by_checkpoint(db: Backend) {
        let f = fixture(db).await;
        let first = f.browser_login(&new_browser()).await;
        let second = f.browser_login(&new_browser()).await;
        f.password_login().await; // no session
        let sid = first.session_id.clone().unwrap();
        assert_eq!(f.session_ids().await, BTreeSet::from([sid.clone(), second.session_id.clone().unwrap()]));

        let (status, session) = f.app.mgmt_call(Method::GET, &format!("/sessions/{sid}"), None).await;
        assert_eq!(status, StatusCode::OK, "{session}");
        let keys: BTreeSet<&str> = session.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from([
            "id", "user_id", "created_at", "updated_at", "authenticated_at", "idle_expires_at", "expires_at",
            "last_interacted_at", "device", "clients", "authentication", "cookie", "session_metadata",
        ]), "{session}");
        assert_eq!(session["id"], sid);
        assert_eq!(session["user_id"], f.user_id);
        for key in ["created_at", "updated_at", "authenticated_at", "idle_expires_at", "expires_at", "last_interacted_at"] {
            date(&session[key]);
        }
        assert!(date(&session["expires_at"]) > date(&session["created_at"]));
        assert_eq!(session["clients"], json!([{"client_id": f.web_id}]));
        assert_eq!(session["device"]["initial_ip"], "127.0.0.1");
        assert!(session["device"]["initial_user_agent"].is_string());
        assert_eq!(session["authentication"]["methods"][0]["name"], "pwd");
        assert_eq!(session["cookie"]["mode"], "persistent");
        assert_eq!(session["session_metadata"], Value::Null);

        // The list shows the same objects; take=1 pages, no next on the last page.
        let path = format!("/users/{}/sessions", urlencode(&f.user_id));
        let (_, page1) = f.app.mgmt_call(Method::GET, &format!("{path}?take=1&include_totals=true"), None).await;
        assert_eq!(page1["total"], 2, "{page1}");
        assert_eq!(page1["sessions"].as_array().unwrap().len(), 1);
        let next = page1["next"].as_str().expect("next on the first page").to_owned();
        let (_, page2) = f.app.mgmt_call(Method::GET, &format!("{path}?take=1&from={next}"), None).await;
        assert_eq!(page2["sessions"].as_array().unwrap().len(), 1);
        assert!(page2.get("next").is_none(), "{page2}");
        assert_ne!(page1["sessions"][0]["id"], page2["sessions"][0]["id"]);
        let listed = [&page1["sessions"][0], &page2["sessions"][0]].into_iter().find(|s| s["id"] == sid).unwrap().clone();
        assert_eq!(listed, session);
        let (_, empty) = f.app.mgmt_call(Method::GET, "/users/auth0%7Cnobody/sessions", None).await;
        assert_eq!(empty["statusCode"], 404, "unknown user: {empty}");
        let (status, body) = f.app.mgmt_call(Method::GET, "/sessions/no-such-session", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["message"], "The session does not exist.");
    }
}

both_databases! {
    async fn revoking_a_session_revokes_its_refresh_tokens_and_its_cookie(db: Backend) {
        let f = fixture(db).await;
        for method in [Method::POST, Method::DELETE] {
            let browser = new_browser();
            let doomed = f.browser_login(&browser).await;
            let other_browser = new_browser();
            let kept = f.browser_login(&other_browser).await;
            let password = f.password_login().await;
            let sid = doomed.session_id.clone().unwrap();
            assert!(still_signed_in(&f, &browser).await);

            let path = if method == Method::POST { format!("/sessions/{sid}/revoke") } else { format!("/sessions/{sid}") };
            let (status, body) = f.app.mgmt_call(method.clone(), &path, None).await;
            assert_accepted(status, &body);
            f.assert_revoked(&doomed).await;
            assert!(!still_signed_in(&f, &browser).await, "the cookie no longer signs in");
            let (status, _) = f.app.mgmt_call(Method::GET, &format!("/sessions/{sid}"), None).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            assert!(!f.session_ids().await.contains(&sid));
            let live_tokens = f.token_ids().await;
            let (_, tokens) = f.app.mgmt_call(Method::GET, &format!("/users/{}/refresh-tokens", urlencode(&f.user_id)), None).await;
            assert!(tokens["tokens"].as_array().unwrap().iter().all(|t| t["session_id"] != sid.as_str()), "{tokens}");
            assert!(!live_tokens.is_empty());
            // Other sessions, and tokens without a session, are untouched.
            f.assert_works(&kept).await;
            f.assert_works(&password).await;
            assert!(still_signed_in(&f, &other_browser).await);
            // Again: accepted; unknown: 404.
            let (status, body) = f.app.mgmt_call(method.clone(), &path, None).await;
            assert_accepted(status, &body);
            let unknown = if method == Method::POST { "/sessions/nope/revoke" } else { "/sessions/nope" };
            let (status, body) = f.app.mgmt_call(method, unknown, None).await;
            assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        }
    }
}

both_databases! {
    async fn deleting_a_users_sessions_revokes_their_refresh_tokens(db: Backend) {
        let f = fixture(db).await;
        let a = f.browser_login(&new_browser()).await;
        let b = f.browser_login(&new_browser()).await;
        let password = f.password_login().await;
        let (status, body) = f.app.mgmt_call(Method::DELETE, &format!("/users/{}/sessions", urlencode(&f.user_id)), None).await;
        assert_accepted(status, &body);
        f.assert_revoked(&a).await;
        f.assert_revoked(&b).await;
        assert!(f.session_ids().await.is_empty());
        // The password-grant token had no session: it stays.
        f.assert_works(&password).await;
        assert_eq!(f.token_ids().await.len(), 1);
        let (status, body) = f.app.mgmt_call(Method::DELETE, "/users/auth0%7Cnobody/sessions", None).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn revoke_access_ends_sessions_and_revokes_tokens_unless_preserved(db: Backend) {
        let f = fixture(db).await;
        let path = format!("/users/{}/revoke-access", urlencode(&f.user_id));
        // preserve_refresh_tokens: the sessions go, every token keeps working.
        let browser = new_browser();
        let kept = f.browser_login(&browser).await;
        let password = f.password_login().await;
        let (status, body) = f.app.mgmt_call(Method::POST, &path, Some(json!({"preserve_refresh_tokens": true}))).await;
        assert_accepted(status, &body);
        assert!(f.session_ids().await.is_empty());
        assert!(!still_signed_in(&f, &browser).await);
        f.assert_works(&kept).await;
        f.assert_works(&password).await;

        // One session: that session and its tokens only.
        let a = f.browser_login(&new_browser()).await;
        let b = f.browser_login(&new_browser()).await;
        let body = json!({"session_id": a.session_id.clone().unwrap()});
        let (status, response) = f.app.mgmt_call(Method::POST, &path, Some(body)).await;
        assert_accepted(status, &response);
        f.assert_revoked(&a).await;
        f.assert_works(&b).await;
        f.assert_works(&password).await;
        assert_eq!(f.session_ids().await, BTreeSet::from([b.session_id.clone().unwrap()]));

        // Everything: every session and every refresh token of the user.
        let (status, response) = f.app.mgmt_call(Method::POST, &path, Some(json!({}))).await;
        assert_accepted(status, &response);
        f.assert_revoked(&b).await;
        f.assert_revoked(&kept).await;
        f.assert_revoked(&password).await;
        assert!(f.session_ids().await.is_empty());
        assert!(f.token_ids().await.is_empty());
        // Signing in again works.
        let again = f.password_login().await;
        f.assert_works(&again).await;

        // Bad input: 400; unknown user, or another user's session: 404.
        for bad in [json!({"session_id": 5}), json!({"preserve_refresh_tokens": "yes"}), json!({"other": true})] {
            let (status, body) = f.app.mgmt_call(Method::POST, &path, Some(bad)).await;
            assert_mgmt_error(status, &body, StatusCode::BAD_REQUEST);
        }
        let (status, body) = f.app.mgmt_call(Method::POST, "/users/auth0%7Cnobody/revoke-access", Some(json!({}))).await;
        assert_mgmt_error(status, &body, StatusCode::NOT_FOUND);
        let other = crate::support::browser::create_user(&f.app, "bob@example.test", "another horse battery").await;
        let c = f.browser_login(&new_browser()).await;
        let body = json!({"session_id": c.session_id.clone().unwrap()});
        let (status, response) = f.app.mgmt_call(Method::POST, &format!("/users/{}/revoke-access", urlencode(&other)), Some(body)).await;
        assert_mgmt_error(status, &response, StatusCode::NOT_FOUND);
        f.assert_works(&c).await;
        f.assert_works(&again).await;
    }
}

both_databases! {
    async fn session_endpoints_need_their_scopes(db: Backend) {
        let f = fixture(db).await;
        let login = f.browser_login(&new_browser()).await;
        let sid = login.session_id.clone().unwrap();
        let user = urlencode(&f.user_id);
        let reader = token_with(&f.app, &["read:sessions"]).await;
        let sessions_only = token_with(&f.app, &["delete:sessions"]).await;
        let tokens_only = token_with(&f.app, &["delete:refresh_tokens"]).await;
        for path in [format!("/sessions/{sid}"), format!("/users/{user}/sessions")] {
            let (status, _) = call_with(&f.app, &reader, Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let (status, body) = call_with(&f.app, &sessions_only, Method::GET, &path, None).await;
            assert_insufficient_scope(status, &body);
        }
        // Revoking a session revokes refresh tokens too: both scopes are needed.
        for (method, path, body) in [
            (Method::DELETE, format!("/sessions/{sid}"), None),
            (Method::POST, format!("/sessions/{sid}/revoke"), None),
            (Method::DELETE, format!("/users/{user}/sessions"), None),
            (Method::POST, format!("/users/{user}/revoke-access"), Some(json!({}))),
        ] {
            for token in [&reader, &sessions_only, &tokens_only] {
                let (status, response) = call_with(&f.app, token, method.clone(), &path, body.clone()).await;
                assert_insufficient_scope(status, &response);
            }
        }
        f.assert_works(&login).await;
        // revoke-access keeping the refresh tokens needs delete:sessions only.
        let (status, body) = call_with(&f.app, &sessions_only, Method::POST, &format!("/users/{user}/revoke-access"),
            Some(json!({"preserve_refresh_tokens": true}))).await;
        assert_accepted(status, &body);
        f.assert_works(&login).await;
    }
}

both_databases! {
    async fn signed_out_sessions_are_not_shown(db: Backend) {
        let f = fixture(db).await;
        let (status, body) = f.app.mgmt_call(Method::PATCH, &format!("/clients/{}", f.web_id),
            Some(json!({"allowed_logout_urls": ["https://web.example.test/bye"]}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let browser = new_browser();
        let login = f.browser_login(&browser).await;
        let sid = login.session_id.clone().unwrap();
        let query = serde_urlencoded::to_string([("client_id", f.web_id.as_str()), ("returnTo", "https://web.example.test/bye")]).unwrap();
        let response = get(&f.app, &browser, &format!("/v2/logout?{query}")).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let (status, _) = f.app.mgmt_call(Method::GET, &format!("/sessions/{sid}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "an ended session is not shown");
        assert!(f.session_ids().await.is_empty());
        // Signing out keeps the refresh token (CONTRACT: logout is not revocation).
        f.assert_works(&login).await;
    }
}
