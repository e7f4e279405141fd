//! The browser pages' defences: the Content-Security-Policy of each page
//! (script only by nonce on the `form_post` page), RFC 9207 `iss` on every
//! authorization response, and the CSRF cookie (`__Host-` under https, a new
//! token at every sign-in).

use std::collections::BTreeMap;

use base64::Engine;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::both_databases;
use crate::support::browser::{
    authorize_location, authorize_path, create_user, get, input_value, is_consent_page,
    is_login_page, location, new_browser, post_form, query_param, set_cookie_named,
    sign_in_and_accept, submit_consent, submit_login, web_client,
};
use crate::support::{
    spawn_app, spawn_app_on, AppOptions, TestApp, TestDatabase, ADMIN_EMAIL, ADMIN_PASSWORD,
};

const CALLBACK: &str = "https://app.example.test:8443/callback";
const CALLBACK_ORIGIN: &str = "https://app.example.test:8443";
const API: &str = "https://api.example.test/";
const EMAIL: &str = "ann@example.test";
const PASSWORD: &str = "correct-horse-battery-staple";

async fn setup(db: crate::support::Backend) -> (TestApp, String) {
    let app = spawn_app(db).await;
    app.create_api(API, &["read:a"]).await;
    let (id, _) = web_client(&app, "Test App", &[CALLBACK]).await;
    create_user(&app, EMAIL, PASSWORD).await;
    (app, id)
}

/// The response's CSP as directive name → source list.
fn csp(response: &Response) -> BTreeMap<String, Vec<String>> {
    let header = response
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .expect("a Content-Security-Policy header")
        .to_str()
        .unwrap();
    header
        .split(';')
        .filter(|d| !d.trim().is_empty())
        .map(|directive| {
            let mut parts = directive.split_whitespace().map(str::to_owned);
            let name = parts.next().unwrap().to_ascii_lowercase();
            (name, parts.collect())
        })
        .collect()
}

fn sources<'a>(policy: &'a BTreeMap<String, Vec<String>>, name: &str) -> Vec<&'a str> {
    policy
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {policy:?}"))
        .iter()
        .map(String::as_str)
        .collect()
}

/// The directives every page shares, and no script at all.
fn assert_no_script(policy: &BTreeMap<String, Vec<String>>, html: &str) {
    assert_eq!(sources(policy, "default-src"), ["'none'"], "{policy:?}");
    assert_eq!(sources(policy, "script-src"), ["'none'"], "{policy:?}");
    assert_eq!(sources(policy, "frame-ancestors"), ["'none'"], "{policy:?}");
    assert_eq!(sources(policy, "base-uri"), ["'none'"], "{policy:?}");
    assert_eq!(sources(policy, "style-src"), ["'self'"], "{policy:?}");
    assert!(!html.contains("<script"), "{html}");
    assert!(
        !html.contains("<style") && !html.contains("style="),
        "no inline style: {html}"
    );
}

both_databases! {
    async fn the_form_post_page_runs_its_one_script_by_a_fresh_nonce(db: Backend) {
        let (app, client_id) = setup(db).await;
        let path = authorize_path(&client_id, CALLBACK, &[("response_mode", "form_post"), ("state", "s")]);
        let response = get(&app, &app.http, &path).await;
        let landing = sign_in_and_accept(&app, &app.http, response, EMAIL, PASSWORD).await;
        assert_eq!(landing.status, StatusCode::OK, "{}", landing.html);
        // sign_in_and_accept drops the last response: ask again (a session
        // and a grant now exist, so the form comes at once).
        let mut nonces = Vec::new();
        for _ in 0..2 {
            let response = get(&app, &app.http, &path).await;
            assert_eq!(response.status(), StatusCode::OK);
            let policy = csp(&response);
            let html = response.text().await.unwrap();
            assert!(input_value(&html, "code").is_some(), "{html}");
            let script = sources(&policy, "script-src");
            assert_eq!(script.len(), 1, "{policy:?}");
            let nonce = script[0]
                .strip_prefix("'nonce-")
                .and_then(|n| n.strip_suffix('\''))
                .unwrap_or_else(|| panic!("a nonce source: {policy:?}"));
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(nonce).expect("base64 nonce");
            assert!(raw.len() >= 16, "at least 128 bits");
            // Every script on the page carries that nonce, and there is one.
            assert_eq!(html.matches("<script").count(), 1, "{html}");
            assert!(html.contains(&format!("<script nonce=\"{nonce}\">document.forms[0].submit();</script>")), "{html}");
            // The form may post only to the client's origin.
            assert_eq!(sources(&policy, "form-action"), [CALLBACK_ORIGIN], "{policy:?}");
            assert_eq!(sources(&policy, "default-src"), ["'none'"]);
            assert_eq!(sources(&policy, "frame-ancestors"), ["'none'"]);
            assert_eq!(sources(&policy, "base-uri"), ["'none'"]);
            nonces.push(nonce.to_owned());
        }
        assert_ne!(nonces[0], nonces[1], "a new nonce for every response");
        // An error sent by form_post is the same kind of page.
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("response_mode", "form_post"), ("response_type", "token")])).await;
        let policy = csp(&response);
        assert!(sources(&policy, "script-src")[0].starts_with("'nonce-"));
        assert_eq!(sources(&policy, "form-action"), [CALLBACK_ORIGIN]);
    }
}

both_databases! {
    async fn every_other_page_allows_no_script(db: Backend) {
        let (app, client_id) = setup(db).await;
        // Login: its form may end in a redirect to the client.
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("scope", "read:a"), ("audience", API)])).await;
        let policy = csp(&response);
        let html = response.text().await.unwrap();
        assert!(is_login_page(&html));
        assert_no_script(&policy, &html);
        assert_eq!(sources(&policy, "form-action"), ["'self'", CALLBACK_ORIGIN]);
        // A wrong password shows the login page again, same policy.
        let response = submit_login(&app, &app.http, &html, EMAIL, "wrong").await;
        let policy = csp(&response);
        let wrong = response.text().await.unwrap();
        assert_no_script(&policy, &wrong);
        assert_eq!(sources(&policy, "form-action"), ["'self'", CALLBACK_ORIGIN]);
        // Consent.
        let response = submit_login(&app, &app.http, &wrong, EMAIL, PASSWORD).await;
        let policy = csp(&response);
        let html = response.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
        assert_no_script(&policy, &html);
        assert_eq!(sources(&policy, "form-action"), ["'self'", CALLBACK_ORIGIN]);
        // /activate posts to itself only.
        let response = get(&app, &app.http, "/activate").await;
        let policy = csp(&response);
        let html = response.text().await.unwrap();
        assert_no_script(&policy, &html);
        assert_eq!(sources(&policy, "form-action"), ["'self'"]);
        // Pages without a form allow no form.
        for path in [
            "/authorize?response_type=code&client_id=nope".to_owned(),
            "/v2/logout".to_owned(),
            format!("/v2/logout?client_id={client_id}&returnTo=https%3A%2F%2Fevil.example.test%2F"),
        ] {
            let response = get(&app, &app.http, &path).await;
            let policy = csp(&response);
            let html = response.text().await.unwrap();
            assert_no_script(&policy, &html);
            assert_eq!(sources(&policy, "form-action"), ["'none'"], "{path}");
        }
        // The stylesheet the pages link to is served from here.
        let response = get(&app, &app.http, "/u/static/pages.css").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/css"));
        assert!(html_links_stylesheet(&html));
        // The dashboard allows no script either.
        let response = get(&app, &new_browser(), "/dashboard/login").await;
        let policy = csp(&response);
        let html = response.text().await.unwrap();
        assert_eq!(sources(&policy, "default-src"), ["'none'"]);
        assert!(!policy.contains_key("script-src") && !html.contains("<script"), "{policy:?}");
    }
}

fn html_links_stylesheet(html: &str) -> bool {
    html.contains("<link rel=\"stylesheet\" href=\"/u/static/pages.css\">")
}

fn assert_iss(app: &TestApp, location: &str) {
    assert_eq!(
        query_param(location, "iss").as_deref(),
        Some(app.issuer.as_str()),
        "{location}"
    );
}

both_databases! {
    async fn every_authorization_response_carries_iss(db: Backend) {
        let (app, client_id) = setup(db).await;
        let (status, discovery) = crate::support::read(get(&app, &app.http, "/.well-known/openid-configuration").await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(discovery["authorization_response_iss_parameter_supported"], Value::Bool(true));
        assert_eq!(discovery["issuer"], app.issuer.as_str());

        // prompt=none without a session: login_required.
        let none = [("prompt", "none"), ("scope", "read:a"), ("audience", API), ("state", "p")];
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &none)).await;
        let to = location(&response).unwrap();
        assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
        assert_iss(&app, &to);
        // An error found while validating.
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("response_type", "token")])).await;
        let to = location(&response).unwrap();
        assert_eq!(query_param(&to, "error").as_deref(), Some("unsupported_response_type"));
        assert_iss(&app, &to);
        // Decline: access_denied.
        let html = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[("scope", "read:a"), ("audience", API)])).await.text().await.unwrap();
        let html = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await.text().await.unwrap();
        let response = submit_consent(&app, &app.http, &html, false).await;
        let to = location(&response).unwrap();
        assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
        assert_iss(&app, &to);
        // prompt=none with a session but no grant: consent_required.
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &none)).await;
        let to = location(&response).unwrap();
        assert_eq!(query_param(&to, "error").as_deref(), Some("consent_required"));
        assert_iss(&app, &to);
        // Success, after consent and then at once with prompt=none.
        let to = authorize_location(&app, &client_id, CALLBACK, &[("scope", "read:a"), ("audience", API)], EMAIL, PASSWORD).await;
        assert!(query_param(&to, "code").is_some());
        assert_iss(&app, &to);
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &none)).await;
        let to = location(&response).unwrap();
        assert!(query_param(&to, "code").is_some(), "{to}");
        assert_eq!(query_param(&to, "state").as_deref(), Some("p"));
        assert_iss(&app, &to);
        // form_post: success and error both carry an `iss` field.
        let scoped = [("scope", "read:a"), ("audience", API), ("response_mode", "form_post")];
        for extra in [scoped.to_vec(), vec![("response_mode", "form_post"), ("prompt", "none login")]] {
            let html = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &extra)).await.text().await.unwrap();
            assert!(input_value(&html, "code").is_some() || input_value(&html, "error").is_some(), "{html}");
            assert_eq!(input_value(&html, "iss").as_deref(), Some(app.issuer.as_str()), "{html}");
        }
    }
}

/// The `name=value` of a `Set-Cookie` header.
fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_owned()
}

both_databases! {
    async fn the_csrf_token_is_replaced_at_sign_in(db: Backend) {
        let (app, client_id) = setup(db).await;
        let browser = new_browser();
        let response = get(&app, &browser, &authorize_path(&client_id, CALLBACK, &[("scope", "read:a"), ("audience", API)])).await;
        let before = cookie_value(&set_cookie_named(&response, "grantor_csrf").expect("csrf cookie"));
        let html = response.text().await.unwrap();
        assert_eq!(input_value(&html, "csrf").as_deref(), Some(before.as_str()));
        // Signing in sets a new token and the consent page carries it.
        let response = submit_login(&app, &browser, &html, EMAIL, PASSWORD).await;
        let after = cookie_value(&set_cookie_named(&response, "grantor_csrf").expect("a new csrf cookie"));
        assert_ne!(before, after);
        let consent = response.text().await.unwrap();
        assert!(is_consent_page(&consent), "{consent}");
        assert_eq!(input_value(&consent, "csrf").as_deref(), Some(after.as_str()));
        // A form made with the token from before signing in is refused and
        // changes nothing.
        let request = input_value(&consent, "request").unwrap();
        let response = post_form(&app, &browser, "/u/consent", &[("csrf", &before), ("request", &request), ("decision", "accept")]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(location(&response).is_none());
        let (_, grants) = app.mgmt_call(Method::GET, "/grants", None).await;
        assert_eq!(grants.as_array().map(Vec::len), Some(0), "{grants}");
        // The new token works.
        let response = submit_consent(&app, &browser, &consent, true).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(query_param(&location(&response).unwrap(), "code").is_some());

        // A sign-in that ends in a redirect at once (grant exists, new
        // browser session) sets a new token as well.
        let response = get(&app, &browser, &authorize_path(&client_id, CALLBACK, &[("scope", "read:a"), ("audience", API), ("prompt", "login")])).await;
        let html = response.text().await.unwrap();
        let token = input_value(&html, "csrf").unwrap();
        assert_eq!(token, after);
        let response = submit_login(&app, &browser, &html, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let renewed = cookie_value(&set_cookie_named(&response, "grantor_csrf").expect("a new csrf cookie on the redirect"));
        assert_ne!(renewed, after);

        // The dashboard: the sign-in replaces the token too.
        let admin = new_browser();
        let response = get(&app, &admin, "/dashboard/login").await;
        let html = response.text().await.unwrap();
        let before = input_value(&html, "csrf").unwrap();
        let response = post_form(&app, &admin, "/dashboard/login", &[("csrf", &before), ("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let after = cookie_value(&set_cookie_named(&response, "grantor_csrf").expect("a new csrf cookie"));
        assert_ne!(before, after);
        // The old token no longer signs out; the new one does.
        let response = post_form(&app, &admin, "/dashboard/logout", &[("csrf", &before)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(get(&app, &admin, "/dashboard/users").await.status(), StatusCode::OK, "still signed in");
        let response = post_form(&app, &admin, "/dashboard/logout", &[("csrf", &after)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(get(&app, &admin, "/dashboard/users").await.status(), StatusCode::SEE_OTHER, "signed out");
    }
}

both_databases! {
    async fn under_an_https_issuer_the_csrf_cookie_is_host_prefixed(db: Backend) {
        let database = std::sync::Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions {
            issuer: Some("https://login.example.test/".to_owned()),
            ..AppOptions::default()
        }).await;
        assert_eq!(app.issuer, "https://login.example.test/");
        // No cookie store: the client sends exactly the Cookie header we write.
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        for path in ["/activate", "/dashboard/login"] {
            let response = http.get(app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert!(set_cookie_named(&response, "grantor_csrf").is_none(), "{path}");
            let cookie = set_cookie_named(&response, "__Host-grantor_csrf").expect("a __Host- cookie");
            let attributes: Vec<String> = cookie.split(';').skip(1).map(|a| a.trim().to_ascii_lowercase()).collect();
            assert!(attributes.contains(&"secure".to_owned()), "{cookie}");
            assert!(attributes.contains(&"path=/".to_owned()), "{cookie}");
            assert!(attributes.contains(&"httponly".to_owned()), "{cookie}");
            assert!(!attributes.iter().any(|a| a.starts_with("domain")), "{cookie}");
        }
        // The form check reads the prefixed cookie, and only it.
        let token = grantor::secrets::bearer_token();
        let form = [("csrf", token.as_str()), ("user_code", "BCDF-GHJK")];
        let response = http.post(app.url("/activate")).header(COOKIE, format!("__Host-grantor_csrf={token}")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(html.contains("not valid or has expired"), "{html}");
        let response = http.post(app.url("/activate")).header(COOKIE, format!("grantor_csrf={token}")).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        // The discovery document and `iss` use the https issuer.
        let (_, discovery) = crate::support::read(http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
        assert_eq!(discovery["issuer"], "https://login.example.test/");
    }
}
