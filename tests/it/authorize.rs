//! The browser side of the code flow: `/authorize`, the login and consent
//! pages, sessions, CSRF, `response_mode=form_post`, `prompt`, and
//! `/v2/logout`.

use grantor_domain::{ClientId, UserId};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::support::browser::{
    self, authorize_code, authorize_location, authorize_location_with, authorize_path, create_user,
    exchange_code, get, input_value, is_consent_page, is_login_page, location, native_client,
    new_browser, pkce_pair, post_form, query_param, set_cookie_named, sign_in_and_accept,
    submit_consent, submit_login, web_client,
};
use crate::support::{spawn_app, TestApp};

const CALLBACK: &str = "https://app.example.test/callback";
const API: &str = "https://api.example.test/";
const EMAIL: &str = "ann@example.test";
const PASSWORD: &str = "correct-horse-battery-staple";

/// An app with an API (`read:a`, `write:a`), a web client "Test App" and a user.
async fn setup(db: crate::support::Backend) -> (TestApp, String, String) {
    let app = spawn_app(db).await;
    app.create_api(API, &["read:a", "write:a"]).await;
    let (id, secret) = web_client(&app, "Test App", &[CALLBACK]).await;
    create_user(&app, EMAIL, PASSWORD).await;
    (app, id, secret)
}

async fn user_id(app: &TestApp, email: &str) -> String {
    let store = app.store().await;
    let user = store
        .user_by_email("Username-Password-Authentication", email)
        .await
        .unwrap()
        .expect("user");
    store.close().await;
    user.user_id.into_string()
}

both_databases! {
    async fn the_login_page_has_username_password_and_continue(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("state", "s1")])).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let csrf_cookie = set_cookie_named(&response, "grantor_csrf").expect("csrf cookie");
        assert!(csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"), "{csrf_cookie}");
        assert!(set_cookie_named(&response, "grantor_session").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("name=\"username\""), "{html}");
        assert!(html.contains("name=\"password\"") && html.contains("type=\"password\""), "{html}");
        assert!(html.contains("<label for=\"username\">") && html.contains("<label for=\"password\">"), "{html}");
        assert!(html.contains(">Continue</button>"), "{html}");
        assert!(html.contains("Test App"), "{html}");
        assert!(input_value(&html, "csrf").is_some_and(|c| c.len() == 43));
        assert!(input_value(&html, "request").is_some_and(|r| r.len() == 43));
    }
}

both_databases! {
    async fn wrong_credentials_show_the_page_again_without_a_session(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let path = authorize_path(&client_id, CALLBACK, &[]);
        for (email, password) in [(EMAIL, "wrong-password"), ("nobody@example.test", PASSWORD), ("not an email", PASSWORD)] {
            let html = get(&app, &app.http, &path).await.text().await.unwrap();
            let response = submit_login(&app, &app.http, &html, email, password).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert!(set_cookie_named(&response, "grantor_session").is_none(), "no session cookie");
            let html = response.text().await.unwrap();
            assert!(is_login_page(&html), "{html}");
            assert!(html.contains("Wrong email or password."), "{html}");
        }
        // Still no session: /authorize shows the login page again.
        let html = get(&app, &app.http, &path).await.text().await.unwrap();
        assert!(is_login_page(&html));
        // The user's login count did not move.
        let (_, users) = app.mgmt_call(Method::GET, &format!("/users-by-email?email={EMAIL}"), None).await;
        assert_eq!(users[0]["logins_count"], 0, "{users}");
    }
}

both_databases! {
    async fn a_blocked_user_cannot_sign_in(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let id = user_id(&app, EMAIL).await;
        let (status, body) = app.mgmt_call(Method::PATCH, &format!("/users/{}", id.replace('|', "%7C")), Some(json!({"blocked": true}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let html = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[])).await.text().await.unwrap();
        let response = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await;
        assert!(set_cookie_named(&response, "grantor_session").is_none());
        let html = response.text().await.unwrap();
        assert!(is_login_page(&html) && html.contains("blocked"), "{html}");
    }
}

both_databases! {
    async fn consent_lists_app_api_and_scopes_and_accept_sends_the_code_with_state(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let path = authorize_path(&client_id, CALLBACK, &[
            ("scope", "openid profile read:a"), ("audience", API), ("state", "st-123"), ("nonce", "n-1"),
        ]);
        let html = get(&app, &app.http, &path).await.text().await.unwrap();
        let response = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let session_cookie = set_cookie_named(&response, "grantor_session").expect("session cookie");
        assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
        assert!(session_cookie.contains("SameSite=Lax"), "{session_cookie}");
        assert!(session_cookie.contains("Path=/"), "{session_cookie}");
        assert!(!session_cookie.contains("Secure"), "http issuer: no Secure flag: {session_cookie}");
        let html = response.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
        assert!(html.contains("Test App"), "{html}");
        assert!(html.contains(API), "the API: {html}");
        for scope in ["openid", "profile", "read:a"] {
            assert!(html.contains(&format!("<code>{scope}</code>")), "{scope}: {html}");
        }
        assert!(!html.contains("write:a"), "only the asked scopes: {html}");
        assert!(html.contains(">Accept</button>") && html.contains(">Decline</button>"), "{html}");
        let response = submit_consent(&app, &app.http, &html, true).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = browser::location(&response).unwrap();
        assert!(location.starts_with(&format!("{CALLBACK}?")), "{location}");
        assert_eq!(query_param(&location, "state").as_deref(), Some("st-123"));
        let code = query_param(&location, "code").expect("code");
        assert!(code.len() >= 43);
        // The grant was recorded with the asked scopes.
        let store = app.store().await;
        let id = user_id(&app, EMAIL).await;
        let grant = store.grant_for(&UserId::from(&id), &ClientId::from(&client_id), API).await.unwrap().expect("grant");
        assert_eq!(grant.scope.to_wire(), "openid profile read:a");
        store.close().await;
        let (_, users) = app.mgmt_call(Method::GET, &format!("/users-by-email?email={EMAIL}"), None).await;
        assert_eq!(users[0]["logins_count"], 1, "{users}");
    }
}

both_databases! {
    async fn the_code_is_exchanged_at_the_token_endpoint(db: Backend) {
        let (app, client_id, secret) = setup(db).await;
        let code = authorize_code(&app, &client_id, CALLBACK, &[("scope", "openid read:a"), ("audience", API), ("nonce", "n-42")], EMAIL, PASSWORD).await;
        let (status, body) = exchange_code(&app, &client_id, Some(&secret), &code, CALLBACK, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], "openid read:a");
        let claims = crate::support::claims(body["access_token"].as_str().unwrap());
        assert_eq!(claims["aud"].as_array().map_or(claims["aud"].clone(), |a| a[0].clone()), API);
        assert!(claims["sid"].is_string(), "{claims}");
        let id_token = crate::support::claims(body["id_token"].as_str().expect("id_token"));
        assert_eq!(id_token["nonce"], "n-42");
        // A code is good once.
        let (status, _) = exchange_code(&app, &client_id, Some(&secret), &code, CALLBACK, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

both_databases! {
    async fn decline_redirects_with_access_denied_and_records_no_grant(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let path = authorize_path(&client_id, CALLBACK, &[("scope", "read:a"), ("audience", API), ("state", "xyz")]);
        let html = get(&app, &app.http, &path).await.text().await.unwrap();
        let html = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await.text().await.unwrap();
        let response = submit_consent(&app, &app.http, &html, false).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = browser::location(&response).unwrap();
        assert_eq!(query_param(&location, "error").as_deref(), Some("access_denied"), "{location}");
        assert!(query_param(&location, "error_description").is_some());
        assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
        assert!(query_param(&location, "code").is_none());
        let store = app.store().await;
        let id = user_id(&app, EMAIL).await;
        assert!(store.grant_for(&UserId::from(&id), &ClientId::from(&client_id), API).await.unwrap().is_none());
        store.close().await;
        // The pending request is gone: the same consent form cannot be replayed.
        let response = submit_consent(&app, &app.http, &html, true).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}

both_databases! {
    async fn a_second_authorize_with_a_covering_grant_skips_consent(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let extra = [("scope", "openid read:a"), ("audience", API)];
        authorize_code(&app, &client_id, CALLBACK, &extra, EMAIL, PASSWORD).await;
        // Same browser: session and grant, straight back with a code.
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("scope", "read:a"), ("audience", API), ("state", "2")])).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = browser::location(&response).unwrap();
        assert!(query_param(&location, "code").is_some(), "{location}");
        assert_eq!(query_param(&location, "state").as_deref(), Some("2"));
        // Another browser signs in but is not asked again either.
        let other = new_browser();
        let response = get(&app, &other, &authorize_path(&client_id, CALLBACK, &extra)).await;
        let html = response.text().await.unwrap();
        let response = submit_login(&app, &other, &html, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        // Asking for more shows the consent page, and Accept widens the grant.
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("scope", "read:a write:a"), ("audience", API)])).await;
        let html = response.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
        assert_eq!(submit_consent(&app, &app.http, &html, true).await.status(), StatusCode::SEE_OTHER);
        let store = app.store().await;
        let grant = store.grant_for(&UserId::from(user_id(&app, EMAIL).await), &ClientId::from(&client_id), API).await.unwrap().unwrap();
        assert_eq!(grant.scope.to_wire(), "openid read:a write:a");
        store.close().await;
    }
}

both_databases! {
    async fn a_first_party_client_skips_consent_when_the_api_allows_it(db: Backend) {
        let app = spawn_app(db).await;
        let skipping = "https://skip.example.test/";
        let (status, body) = app.mgmt_call(Method::POST, "/resource-servers", Some(json!({
            "identifier": skipping, "name": "Skipping API", "scopes": [{"value": "read:a", "description": "read"}],
            "skip_consent_for_verifiable_first_party_clients": true,
        }))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        app.create_api(API, &["read:a"]).await;
        create_user(&app, EMAIL, PASSWORD).await;
        let (first_party, _, _) = app.create_client(json!({
            "name": "First", "callbacks": [CALLBACK], "grant_types": ["authorization_code"], "is_first_party": true,
        })).await;
        let (third_party, _, _) = app.create_client(json!({
            "name": "Third", "callbacks": [CALLBACK], "grant_types": ["authorization_code"], "is_first_party": false,
        })).await;
        // First party + skipping API: no consent page, and the grant is recorded.
        let response = get(&app, &app.http, &authorize_path(&first_party, CALLBACK, &[("scope", "read:a"), ("audience", skipping)])).await;
        let html = response.text().await.unwrap();
        let response = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(query_param(&location(&response).unwrap(), "code").is_some());
        let store = app.store().await;
        let id = user_id(&app, EMAIL).await;
        let grant = store.grant_for(&UserId::from(&id), &ClientId::from(&first_party), skipping).await.unwrap().expect("grant recorded");
        assert_eq!(grant.scope.to_wire(), "read:a");
        store.close().await;
        // A third-party client on the same API is asked.
        let html = get(&app, &app.http, &authorize_path(&third_party, CALLBACK, &[("scope", "read:a"), ("audience", skipping)])).await.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
        // The first-party client on an API without the setting is asked.
        let html = get(&app, &app.http, &authorize_path(&first_party, CALLBACK, &[("scope", "read:a"), ("audience", API)])).await.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
    }
}

both_databases! {
    async fn prompt_none_answers_login_required_then_consent_required_then_a_code(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let none = [("prompt", "none"), ("scope", "read:a"), ("audience", API), ("state", "p")];
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &none)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let location = browser::location(&response).unwrap();
        assert!(location.starts_with(CALLBACK), "{location}");
        assert_eq!(query_param(&location, "error").as_deref(), Some("login_required"));
        assert_eq!(query_param(&location, "state").as_deref(), Some("p"));
        // Sign in for another scope set (the userinfo audience).
        authorize_code(&app, &client_id, CALLBACK, &[("scope", "openid")], EMAIL, PASSWORD).await;
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &none)).await;
        let location = browser::location(&response).unwrap();
        assert_eq!(query_param(&location, "error").as_deref(), Some("consent_required"), "{location}");
        // With a grant, prompt=none gives a code.
        authorize_code(&app, &client_id, CALLBACK, &[("scope", "read:a"), ("audience", API)], EMAIL, PASSWORD).await;
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &none)).await;
        let location = browser::location(&response).unwrap();
        assert!(query_param(&location, "code").is_some(), "{location}");
        assert_eq!(query_param(&location, "state").as_deref(), Some("p"));
    }
}

both_databases! {
    async fn prompt_login_shows_the_login_page_despite_a_session(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        authorize_code(&app, &client_id, CALLBACK, &[("scope", "openid")], EMAIL, PASSWORD).await;
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("scope", "openid"), ("prompt", "login")])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(is_login_page(&html), "{html}");
        // Signing in again gives a new session and, with the grant, a code at once.
        let response = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(set_cookie_named(&response, "grantor_session").is_some());
        assert!(query_param(&location(&response).unwrap(), "code").is_some());
    }
}

both_databases! {
    async fn prompt_consent_shows_the_consent_page_despite_a_grant(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        authorize_code(&app, &client_id, CALLBACK, &[("scope", "openid")], EMAIL, PASSWORD).await;
        let html = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("scope", "openid"), ("prompt", "consent")])).await.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
        let response = submit_consent(&app, &app.http, &html, true).await;
        assert!(query_param(&location(&response).unwrap(), "code").is_some());
    }
}

both_databases! {
    async fn an_unknown_client_or_redirect_uri_shows_an_error_page_and_never_redirects(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let (two_callbacks, _) = web_client(&app, "Two", &[CALLBACK, "https://app.example.test/other"]).await;
        let cases = [
            authorize_path(&client_id, "https://evil.example.test/callback", &[("state", "s")]),
            authorize_path(&client_id, &format!("{CALLBACK}/"), &[]),
            authorize_path(&client_id, &format!("{CALLBACK}?x=1"), &[]),
            authorize_path("no-such-client", CALLBACK, &[]),
            format!("/authorize?response_type=code&client_id={two_callbacks}"),
            "/authorize?response_type=code".to_owned(),
            format!("/authorize?response_type=code&client_id={client_id}&redirect_uri={CALLBACK}&redirect_uri=https://evil.example.test/"),
        ];
        for path in cases {
            let response = get(&app, &app.http, &path).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
            assert!(location(&response).is_none(), "{path}");
            let html = response.text().await.unwrap();
            assert!(html.contains("<h1>"), "an HTML error page: {html}");
            assert!(!is_login_page(&html));
        }
        // Without redirect_uri, a client's only callback is used.
        let html = get(&app, &app.http, &format!("/authorize?response_type=code&client_id={client_id}")).await.text().await.unwrap();
        let response = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await;
        let html = response.text().await.unwrap();
        let response = submit_consent(&app, &app.http, &html, true).await;
        assert!(location(&response).unwrap().starts_with(&format!("{CALLBACK}?code=")));
    }
}

both_databases! {
    async fn other_errors_go_back_to_the_client_with_state(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let (no_code_grant, _, _) = app.create_client(json!({
            "name": "Machine", "callbacks": [CALLBACK], "grant_types": ["client_credentials"],
        })).await;
        let cases = [
            (client_id.as_str(), vec![("response_type", "token")], "unsupported_response_type"),
            (&client_id, vec![("audience", "https://unknown.example.test/")], "access_denied"),
            (&client_id, vec![("code_challenge", "abc"), ("code_challenge_method", "S256")], "invalid_request"),
            (&client_id, vec![("response_mode", "fragment")], "invalid_request"),
            (&client_id, vec![("prompt", "none login")], "invalid_request"),
            (no_code_grant.as_str(), vec![], "unauthorized_client"),
        ];
        for (client, mut extra, error) in cases {
            extra.push(("state", "keep-me"));
            let response = get(&app, &app.http, &authorize_path(client, CALLBACK, &extra)).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{extra:?}");
            let location = browser::location(&response).unwrap();
            assert!(location.starts_with(&format!("{CALLBACK}?")), "{location}");
            assert_eq!(query_param(&location, "error").as_deref(), Some(error), "{location}");
            assert!(query_param(&location, "error_description").is_some());
            assert_eq!(query_param(&location, "state").as_deref(), Some("keep-me"));
        }
    }
}

both_databases! {
    async fn a_public_client_must_use_pkce_s256(db: Backend) {
        let app = spawn_app(db).await;
        create_user(&app, EMAIL, PASSWORD).await;
        let client_id = native_client(&app, "Phone", &[CALLBACK]).await;
        for mut extra in [Vec::<(&str, &str)>::new(), vec![("code_challenge_method", "S256")]] {
            extra.push(("state", "s"));
            let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &extra)).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER);
            let location = browser::location(&response).unwrap();
            assert_eq!(query_param(&location, "error").as_deref(), Some("invalid_request"), "{location}");
            assert_eq!(query_param(&location, "state").as_deref(), Some("s"));
        }
        let (verifier, challenge) = pkce_pair();
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("code_challenge", &challenge), ("code_challenge_method", "plain")])).await;
        assert_eq!(query_param(&location(&response).unwrap(), "error").as_deref(), Some("invalid_request"));
        let code = authorize_code(&app, &client_id, CALLBACK, &[("code_challenge", &challenge), ("code_challenge_method", "S256"), ("scope", "openid")], EMAIL, PASSWORD).await;
        let (status, body) = exchange_code(&app, &client_id, None, &code, CALLBACK, Some(&verifier)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

both_databases! {
    async fn form_post_answers_with_an_auto_submitting_form(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let path = authorize_path(&client_id, CALLBACK, &[("response_mode", "form_post"), ("state", "a<b&c"), ("scope", "openid")]);
        let response = get(&app, &app.http, &path).await;
        let landing = sign_in_and_accept(&app, &app.http, response, EMAIL, PASSWORD).await;
        assert_eq!(landing.status, StatusCode::OK);
        assert!(landing.location.is_none());
        let html = landing.html;
        assert!(html.contains(&format!("<form method=\"post\" action=\"{CALLBACK}\">")), "{html}");
        assert!(input_value(&html, "code").is_some_and(|c| c.len() == 43), "{html}");
        assert_eq!(input_value(&html, "state").as_deref(), Some("a<b&c"));
        assert!(!html.contains("a<b&c"), "escaped: {html}");
        assert!(html.contains("type=\"submit\""), "a button for browsers without JavaScript: {html}");
        assert!(html.contains("document.forms[0].submit()"), "{html}");
        // Errors use form_post too.
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("response_mode", "form_post"), ("response_type", "token")])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert_eq!(input_value(&html, "error").as_deref(), Some("unsupported_response_type"), "{html}");
    }
}

both_databases! {
    async fn a_redirect_uri_with_a_query_keeps_it(db: Backend) {
        let app = spawn_app(db).await;
        create_user(&app, EMAIL, PASSWORD).await;
        let callback = "https://app.example.test/cb?tenant=7";
        let (client_id, _) = web_client(&app, "Query", &[callback]).await;
        let location = authorize_location(&app, &client_id, callback, &[("state", "s")], EMAIL, PASSWORD).await;
        assert!(location.starts_with("https://app.example.test/cb?tenant=7&code="), "{location}");
    }
}

both_databases! {
    async fn a_form_without_the_csrf_token_is_refused_and_does_nothing(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let html = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[])).await.text().await.unwrap();
        let request = input_value(&html, "request").unwrap();
        let csrf = input_value(&html, "csrf").unwrap();
        // No csrf field.
        let response = post_form(&app, &app.http, "/u/login", &[("request", &request), ("username", EMAIL), ("password", PASSWORD)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie_named(&response, "grantor_session").is_none());
        assert!(response.text().await.unwrap().contains("<h1>"));
        // A wrong one.
        let wrong = grantor::secrets::bearer_token();
        let response = post_form(&app, &app.http, "/u/login", &[("csrf", &wrong), ("request", &request), ("username", EMAIL), ("password", PASSWORD)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        // The right field from a browser without the cookie (a cross-site post).
        let attacker = new_browser();
        let response = post_form(&app, &attacker, "/u/login", &[("csrf", &csrf), ("request", &request), ("username", EMAIL), ("password", PASSWORD)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(set_cookie_named(&response, "grantor_session").is_none());
        // Nothing happened: no login was recorded, and the real form still works.
        let (_, users) = app.mgmt_call(Method::GET, &format!("/users-by-email?email={EMAIL}"), None).await;
        assert_eq!(users[0]["logins_count"], 0);
        let response = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await;
        let consent = response.text().await.unwrap();
        assert!(is_consent_page(&consent));
        // The consent form is protected the same way.
        let request = input_value(&consent, "request").unwrap();
        let response = post_form(&app, &app.http, "/u/consent", &[("request", &request), ("decision", "accept")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let store = app.store().await;
        assert!(store.grant_for(&UserId::from(user_id(&app, EMAIL).await), &ClientId::from(&client_id), &format!("{}userinfo", app.issuer)).await.unwrap().is_none());
        store.close().await;
    }
}

both_databases! {
    async fn logout_ends_the_session_and_only_returns_to_allowed_urls(db: Backend) {
        let app = spawn_app(db).await;
        create_user(&app, EMAIL, PASSWORD).await;
        let return_to = "https://app.example.test/bye";
        let (client_id, _, _) = app.create_client(json!({
            "name": "Logout", "callbacks": [CALLBACK], "allowed_logout_urls": [return_to],
            "grant_types": ["authorization_code"],
        })).await;
        authorize_code(&app, &client_id, CALLBACK, &[], EMAIL, PASSWORD).await;
        // A returnTo that is not allowed: 400 page, session kept.
        for bad in ["https://evil.example.test/", "https://app.example.test/bye/", "https://app.example.test/byex"] {
            let query = serde_urlencoded::to_string([("client_id", client_id.as_str()), ("returnTo", bad)]).unwrap();
            let response = get(&app, &app.http, &format!("/v2/logout?{query}")).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert!(location(&response).is_none());
        }
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[])).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "still signed in");
        // An allowed one: redirect there, cookie cleared, session over.
        let query = serde_urlencoded::to_string([("client_id", client_id.as_str()), ("returnTo", return_to)]).unwrap();
        let response = get(&app, &app.http, &format!("/v2/logout?{query}")).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(location(&response).as_deref(), Some(return_to));
        let cleared = set_cookie_named(&response, "grantor_session").expect("cookie cleared");
        assert!(cleared.contains("Max-Age=0"), "{cleared}");
        let html = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[])).await.text().await.unwrap();
        assert!(is_login_page(&html), "signed out: {html}");
    }
}

both_databases! {
    async fn logout_without_return_to_shows_a_signed_out_page_and_a_stolen_cookie_is_dead(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        let browser = new_browser();
        let response = get(&app, &browser, &authorize_path(&client_id, CALLBACK, &[])).await;
        let html = response.text().await.unwrap();
        let response = submit_login(&app, &browser, &html, EMAIL, PASSWORD).await;
        let cookie = set_cookie_named(&response, "grantor_session").unwrap();
        let secret = cookie.split(';').next().unwrap().to_owned();
        let response = get(&app, &browser, "/v2/logout").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.text().await.unwrap().contains("signed out"));
        // Replaying the old cookie value does not revive the session.
        let replay = app.http.get(app.url(&authorize_path(&client_id, CALLBACK, &[("prompt", "none")])))
            .header("cookie", secret).send().await.unwrap();
        let location = location(&replay).unwrap();
        assert_eq!(query_param(&location, "error").as_deref(), Some("login_required"));
    }
}

both_databases! {
    async fn sessions_are_per_browser(db: Backend) {
        let (app, client_id, _) = setup(db).await;
        authorize_code(&app, &client_id, CALLBACK, &[], EMAIL, PASSWORD).await;
        let other = new_browser();
        let response = get(&app, &other, &authorize_path(&client_id, CALLBACK, &[("prompt", "none")])).await;
        assert_eq!(query_param(&location(&response).unwrap(), "error").as_deref(), Some("login_required"));
        let location = authorize_location_with(&app, &other, &client_id, CALLBACK, &[], EMAIL, PASSWORD).await;
        assert!(query_param(&location, "code").is_some());
    }
}

both_databases! {
    async fn oidc_logout_takes_an_id_token_hint_and_echoes_state(db: Backend) {
        let app = spawn_app(db).await;
        create_user(&app, EMAIL, PASSWORD).await;
        let return_to = "https://app.example.test/bye";
        let (client_id, secret, _) = app.create_client(json!({
            "name": "OIDC", "callbacks": [CALLBACK], "allowed_logout_urls": [return_to],
            "grant_types": ["authorization_code"],
        })).await;
        let (other_client, _) = web_client(&app, "Other", &[CALLBACK]).await;
        let code = authorize_code(&app, &client_id, CALLBACK, &[("scope", "openid")], EMAIL, PASSWORD).await;
        let (status, tokens) = exchange_code(&app, &client_id, Some(&secret), &code, CALLBACK, None).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let id_token = tokens["id_token"].as_str().expect("id_token");
        // A hint for another client, a forged hint, or an unlisted URL: 400, session kept.
        for query in [
            vec![("id_token_hint", id_token), ("client_id", other_client.as_str()), ("post_logout_redirect_uri", return_to)],
            vec![("id_token_hint", "e30.e30.e30"), ("post_logout_redirect_uri", return_to)],
            vec![("id_token_hint", id_token), ("post_logout_redirect_uri", "https://evil.example.test/")],
        ] {
            let response = get(&app, &app.http, &format!("/oidc/logout?{}", serde_urlencoded::to_string(&query).unwrap())).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query:?}");
        }
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("prompt", "none"), ("scope", "openid")])).await;
        assert!(query_param(&browser::location(&response).unwrap(), "code").is_some(), "still signed in");
        let query = serde_urlencoded::to_string([("id_token_hint", id_token), ("post_logout_redirect_uri", return_to), ("state", "bye-1")]).unwrap();
        let response = get(&app, &app.http, &format!("/oidc/logout?{query}")).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(browser::location(&response).as_deref(), Some("https://app.example.test/bye?state=bye-1"));
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("prompt", "none")])).await;
        assert_eq!(query_param(&browser::location(&response).unwrap(), "error").as_deref(), Some("login_required"));
    }
}

/// A refresh exchange for a public client; returns status and body.
async fn refresh_public(
    app: &TestApp,
    client_id: &str,
    token: &str,
) -> (StatusCode, serde_json::Value) {
    crate::support::read(
        app.token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", token),
        ])
        .await,
    )
    .await
}

both_databases! {
    async fn a_code_is_checked_before_it_is_spent_and_only_a_true_replay_revokes(db: Backend) {
        let app = spawn_app(db).await;
        create_user(&app, EMAIL, PASSWORD).await;
        let client_id = native_client(&app, "Phone", &[CALLBACK]).await;
        let other_client = native_client(&app, "Other phone app", &[CALLBACK]).await;
        let (verifier, challenge) = pkce_pair();
        let (wrong_verifier, _) = pkce_pair();
        let extra = [("code_challenge", challenge.as_str()), ("code_challenge_method", "S256"), ("scope", "openid offline_access")];
        let code = authorize_code(&app, &client_id, CALLBACK, &extra, EMAIL, PASSWORD).await;
        // Each failed presentation is 403 invalid_grant and leaves the code unspent.
        let attempts: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("wrong verifier", vec![("client_id", &client_id), ("redirect_uri", CALLBACK), ("code_verifier", &wrong_verifier)]),
            ("no verifier", vec![("client_id", &client_id), ("redirect_uri", CALLBACK)]),
            ("another client", vec![("client_id", &other_client), ("redirect_uri", CALLBACK), ("code_verifier", &verifier)]),
            ("no redirect_uri", vec![("client_id", &client_id), ("code_verifier", &verifier)]),
            ("another redirect_uri", vec![("client_id", &client_id), ("redirect_uri", "https://app.example.test/other"), ("code_verifier", &verifier)]),
            ("redirect_uri with a trailing slash", vec![("client_id", &client_id), ("redirect_uri", "https://app.example.test/callback/"), ("code_verifier", &verifier)]),
        ];
        for (what, mut form) in attempts {
            form.extend([("grant_type", "authorization_code"), ("code", code.as_str())]);
            let (status, body) = crate::support::read(app.token_form(&form).await).await;
            crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
            assert!(body.get("access_token").is_none(), "{what}: {body}");
        }
        // The legitimate client still gets its tokens afterwards.
        let (status, tokens) = exchange_code(&app, &client_id, None, &code, CALLBACK, Some(&verifier)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let refresh_token = tokens["refresh_token"].as_str().expect("refresh token").to_owned();
        // Failed presentations after the use neither succeed nor revoke anything.
        let (status, body) = exchange_code(&app, &client_id, None, &code, CALLBACK, Some(&wrong_verifier)).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        let (status, body) = exchange_code(&app, &other_client, None, &code, CALLBACK, Some(&verifier)).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        let (status, next) = refresh_public(&app, &client_id, &refresh_token).await;
        assert_eq!(status, StatusCode::OK, "the stolen-code attempts revoked nothing: {next}");
        let successor = next["refresh_token"].as_str().expect("public clients rotate").to_owned();
        // A true replay (right client, verifier and redirect_uri) is refused
        // and revokes what the first exchange issued, rotations included.
        let (status, body) = exchange_code(&app, &client_id, None, &code, CALLBACK, Some(&verifier)).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        let (status, body) = refresh_public(&app, &client_id, &successor).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
    }
}

both_databases! {
    async fn a_confidential_clients_code_survives_other_clients_and_bad_secrets(db: Backend) {
        let (app, client_id, secret) = setup(db).await;
        let (other, other_secret) = web_client(&app, "Other", &[CALLBACK]).await;
        let code = authorize_code(&app, &client_id, CALLBACK, &[("scope", "openid")], EMAIL, PASSWORD).await;
        // Another client with valid credentials: invalid_grant.
        let (status, body) = exchange_code(&app, &other, Some(&other_secret), &code, CALLBACK, None).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        // The right client with a wrong secret: client authentication fails first.
        let (status, body) = exchange_code(&app, &client_id, Some("wrong-secret"), &code, CALLBACK, None).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "access_denied");
        // A verifier for a code without a challenge: invalid_grant.
        let (status, body) = exchange_code(&app, &client_id, Some(&secret), &code, CALLBACK, Some("unexpected-verifier-0123456789-0123456789-abc")).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        // redirect_uri was sent to /authorize, so it is required here.
        let (status, body) = crate::support::read(app.token_form(&[
            ("grant_type", "authorization_code"), ("client_id", &client_id), ("client_secret", &secret), ("code", &code),
        ]).await).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        assert!(body["error_description"].as_str().unwrap().contains("redirect_uri"), "{body}");
        let (status, body) = exchange_code(&app, &client_id, Some(&secret), &code, CALLBACK, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["id_token"].is_string(), "{body}");
    }
}

both_databases! {
    async fn without_redirect_uri_at_authorize_none_is_needed_at_the_token_endpoint(db: Backend) {
        let (app, client_id, secret) = setup(db).await;
        let html = get(&app, &app.http, &format!("/authorize?response_type=code&client_id={client_id}&scope=openid")).await.text().await.unwrap();
        let html = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await.text().await.unwrap();
        let response = submit_consent(&app, &app.http, &html, true).await;
        let code = query_param(&location(&response).unwrap(), "code").expect("code");
        // A wrong one is still refused, and the code survives it.
        let (status, body) = exchange_code(&app, &client_id, Some(&secret), &code, "https://app.example.test/elsewhere", None).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        let (status, body) = crate::support::read(app.token_form(&[
            ("grant_type", "authorization_code"), ("client_id", &client_id), ("client_secret", &secret), ("code", &code),
        ]).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

both_databases! {
    async fn parallel_exchanges_of_one_code_yield_exactly_one_success(db: Backend) {
        let (app, client_id, secret) = setup(db).await;
        let app = std::sync::Arc::new(app);
        let code = authorize_code(&app, &client_id, CALLBACK, &[("scope", "openid")], EMAIL, PASSWORD).await;
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (app, client_id, secret, code) = (app.clone(), client_id.clone(), secret.clone(), code.clone());
            tasks.push(tokio::spawn(async move {
                exchange_code(&app, &client_id, Some(&secret), &code, CALLBACK, None).await
            }));
        }
        let mut successes = 0;
        for task in tasks {
            let (status, body) = task.await.unwrap();
            if status == StatusCode::OK {
                successes += 1;
            } else {
                crate::support::assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
            }
        }
        assert_eq!(successes, 1, "exactly one exchange spends the code");
    }
}
