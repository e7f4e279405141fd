//! The device flow's request and activation (RFC 8628): `/oauth/device/code`,
//! `/activate` with guessing protection, then login and consent.

use grantor_domain::TokenHash;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::browser::{
    create_user, enter_user_code, get, input_value, is_consent_page, is_login_page, native_client,
    new_browser, post_form, set_cookie_named, sign_in_and_accept, submit_consent, submit_login,
    web_client,
};
use crate::support::{assert_oauth_error, read, spawn_app, TestApp};

const API: &str = "https://api.example.test/";
const EMAIL: &str = "tv-owner@example.test";
const PASSWORD: &str = "correct-horse-battery-staple";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn setup(db: crate::support::Backend) -> (TestApp, String) {
    let app = spawn_app(db).await;
    app.create_api(API, &["read:a", "write:a"]).await;
    create_user(&app, EMAIL, PASSWORD).await;
    let client_id = native_client(&app, "Living Room TV", &[]).await;
    (app, client_id)
}

async fn device_code(app: &TestApp, client_id: &str, scope: &str) -> Value {
    let response = app
        .http
        .post(app.url("/oauth/device/code"))
        .form(&[
            ("client_id", client_id),
            ("scope", scope),
            ("audience", API),
        ])
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The stored hash of a user code as shown (`XXXX-XXXX`).
fn user_code_hash(shown: &str) -> String {
    grantor_domain::TokenHash::of(&shown.replace('-', ""))
        .as_str()
        .to_owned()
}

async fn is_pending(app: &TestApp, shown_user_code: &str) -> bool {
    let store = app.store().await;
    let pending = store
        .pending_device_code(
            &TokenHash::from_stored(user_code_hash(shown_user_code)),
            app.clock.now(),
        )
        .await
        .unwrap()
        .is_some();
    store.close().await;
    pending
}

both_databases! {
    async fn the_device_code_response_has_the_rfc_8628_shape(db: Backend) {
        let (app, client_id) = setup(db).await;
        let body = device_code(&app, &client_id, "openid read:a offline_access").await;
        let device_code = body["device_code"].as_str().unwrap();
        assert!(device_code.len() >= 43, "{body}");
        let user_code = body["user_code"].as_str().unwrap();
        assert_eq!(user_code.len(), 9, "{body}");
        for (i, c) in user_code.chars().enumerate() {
            if i == 4 {
                assert_eq!(c, '-');
            } else {
                assert!("BCDFGHJKLMNPQRSTVWXZ".contains(c), "{user_code}");
            }
        }
        assert_eq!(body["verification_uri"], format!("{}activate", app.issuer));
        assert_eq!(body["verification_uri_complete"], format!("{}activate?user_code={user_code}", app.issuer));
        assert_eq!(body["expires_in"], 900);
        assert_eq!(body["interval"], 5);
        // JSON bodies work too, and every request gets fresh codes.
        let response = app.http.post(app.url("/oauth/device/code"))
            .json(&json!({"client_id": client_id, "scope": "openid", "audience": null}))
            .send().await.unwrap();
        let (status, second) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_ne!(second["device_code"], body["device_code"]);
        assert_ne!(second["user_code"], body["user_code"]);
        // Only hashes are stored: the row is found by the hash of the user code.
        assert!(is_pending(&app, user_code).await);
    }
}

both_databases! {
    async fn device_code_requests_from_unfit_clients_are_refused(db: Backend) {
        let (app, client_id) = setup(db).await;
        let (confidential, _) = web_client(&app, "Web", &["https://app.example.test/cb"]).await;
        let (no_device_grant, _, _) = app.create_client(json!({
            "name": "Phone", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
        })).await;
        let post = |form: Vec<(&'static str, String)>| {
            let app = &app;
            async move { read(app.http.post(app.url("/oauth/device/code")).form(&form).send().await.unwrap()).await }
        };
        let (status, body) = post(vec![("scope", "openid".to_owned())]).await;
        assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
        let (status, body) = post(vec![("client_id", "nope".to_owned())]).await;
        assert_oauth_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_client");
        let (status, body) = post(vec![("client_id", confidential)]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "unauthorized_client");
        let (status, body) = post(vec![("client_id", no_device_grant)]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "unauthorized_client");
        let (status, body) = post(vec![("client_id", client_id), ("audience", "https://unknown.example.test/".to_owned())]).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
    }
}

both_databases! {
    async fn the_activate_page_is_a_prefilled_code_form(db: Backend) {
        let (app, _) = setup(db).await;
        let response = get(&app, &app.http, "/activate?user_code=BCDF-GHJK").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookie_named(&response, "grantor_csrf").is_some());
        let html = response.text().await.unwrap();
        assert_eq!(input_value(&html, "user_code").as_deref(), Some("BCDF-GHJK"), "{html}");
        assert!(html.contains("<label for=\"user_code\">"), "{html}");
        assert!(html.contains(">Continue</button>"), "{html}");
        let html = get(&app, &app.http, "/activate").await.text().await.unwrap();
        assert_eq!(input_value(&html, "user_code").as_deref(), Some(""));
    }
}

both_databases! {
    async fn wrong_codes_show_an_error_and_guessing_is_blocked_after_ten(db: Backend) {
        let (app, client_id) = setup(db).await;
        let body = device_code(&app, &client_id, "openid").await;
        let real = body["user_code"].as_str().unwrap().to_owned();
        let wrong = if real == "BBBB-BBBB" { "CCCC-CCCC" } else { "BBBB-BBBB" };
        for attempt in 0..10 {
            let guess = if attempt % 2 == 0 { wrong } else { "not a code" };
            let response = enter_user_code(&app, &app.http, guess).await;
            assert_eq!(response.status(), StatusCode::OK, "attempt {attempt}");
            let html = response.text().await.unwrap();
            assert!(html.contains("not valid"), "{html}");
            assert!(!is_login_page(&html));
        }
        // The eleventh attempt is refused even with the right code.
        let response = enter_user_code(&app, &app.http, &real).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let html = response.text().await.unwrap();
        assert!(html.contains("Too many"), "{html}");
        assert!(!is_login_page(&html));
        assert!(is_pending(&app, &real).await);
    }
}

both_databases! {
    async fn activate_then_login_and_consent_connects_the_device(db: Backend) {
        let (app, client_id) = setup(db).await;
        let body = device_code(&app, &client_id, "openid read:a offline_access").await;
        let user_code = body["user_code"].as_str().unwrap();
        let device_code = body["device_code"].as_str().unwrap();
        // Before approval the device is told to wait.
        let (status, pending) = read(app.token_form(&[("grant_type", DEVICE_GRANT), ("client_id", &client_id), ("device_code", device_code)]).await).await;
        assert_oauth_error(status, &pending, StatusCode::FORBIDDEN, "authorization_pending");
        // Typed in lower case without the dash.
        let typed = user_code.replace('-', "").to_lowercase();
        let response = enter_user_code(&app, &app.http, &typed).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(is_login_page(&html), "{html}");
        let response = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await;
        assert!(set_cookie_named(&response, "grantor_session").is_some());
        let html = response.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
        assert!(html.contains("Living Room TV"), "{html}");
        for scope in ["openid", "read:a", "offline_access"] {
            assert!(html.contains(&format!("<code>{scope}</code>")), "{scope}: {html}");
        }
        let response = submit_consent(&app, &app.http, &html, true).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(html.contains("Your device is now connected."), "{html}");
        assert!(!is_pending(&app, user_code).await, "approved");
        // The device's next poll gets its tokens, once.
        let (status, tokens) = read(app.token_form(&[("grant_type", DEVICE_GRANT), ("client_id", &client_id), ("device_code", device_code)]).await).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert!(tokens["access_token"].is_string(), "{tokens}");
        // The code cannot be entered again.
        let html = enter_user_code(&app, &app.http, user_code).await.text().await.unwrap();
        assert!(html.contains("not valid"), "{html}");
    }
}

both_databases! {
    async fn decline_denies_the_device(db: Backend) {
        let (app, client_id) = setup(db).await;
        let body = device_code(&app, &client_id, "read:a").await;
        let user_code = body["user_code"].as_str().unwrap();
        let response = enter_user_code(&app, &app.http, user_code).await;
        let html = response.text().await.unwrap();
        let html = submit_login(&app, &app.http, &html, EMAIL, PASSWORD).await.text().await.unwrap();
        let response = submit_consent(&app, &app.http, &html, false).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(html.contains("Access was denied"), "{html}");
        assert!(!is_pending(&app, user_code).await);
        let (status, denied) = read(app.token_form(&[("grant_type", DEVICE_GRANT), ("client_id", &client_id), ("device_code", body["device_code"].as_str().unwrap())]).await).await;
        assert_oauth_error(status, &denied, StatusCode::FORBIDDEN, "access_denied");
    }
}

both_databases! {
    async fn a_second_device_code_for_the_same_user_and_app_asks_again(db: Backend) {
        let (app, client_id) = setup(db).await;
        let browser = new_browser();
        let first = device_code(&app, &client_id, "read:a").await;
        let response = enter_user_code(&app, &browser, first["user_code"].as_str().unwrap()).await;
        let landing = sign_in_and_accept(&app, &browser, response, EMAIL, PASSWORD).await;
        assert!(landing.html.contains("Your device is now connected."), "{landing:?}");
        // A second device of the same app: session and grant exist, yet the
        // user confirms this device too (RFC 8628 §5.4, CONTRACT §6.6).
        let second = device_code(&app, &client_id, "read:a").await;
        let second_code = second["user_code"].as_str().unwrap();
        let response = enter_user_code(&app, &browser, second_code).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
        assert!(is_pending(&app, second_code).await, "nothing approved before Accept");
        let response = submit_consent(&app, &browser, &html, true).await;
        assert!(response.text().await.unwrap().contains("Your device is now connected."));
        assert!(!is_pending(&app, second_code).await);
    }
}

/// The device code row as stored (found by its user code), for its request time.
async fn stored_device_code(
    app: &TestApp,
    shown_user_code: &str,
) -> grantor_store::DeviceCodeRecord {
    let store = app.store().await;
    let record = store
        .pending_device_code(
            &TokenHash::from_stored(user_code_hash(shown_user_code)),
            app.clock.now(),
        )
        .await
        .unwrap()
        .expect("pending device code");
    store.close().await;
    record
}

/// The text of the `<dd id="…">` element on a page.
fn definition(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("<dd id=\"{id}\">"))?;
    let rest = &html[start..];
    let open_end = rest.find('>')? + 1;
    let close = rest.find("</dd>")?;
    Some(crate::support::browser::html_unescape(
        &rest[open_end..close],
    ))
}

both_databases! {
    async fn the_confirmation_names_the_app_and_the_requesting_devices_ip_agent_and_time(db: Backend) {
        let (app, _) = setup(db).await;
        // A first-party app whose API skips consent for first-party clients:
        // /authorize would not ask, the device flow still does.
        let (status, body) = app.mgmt_call(reqwest::Method::PATCH, &format!("/resource-servers/{}", crate::support::urlencode(API)),
            Some(json!({"skip_consent_for_verifiable_first_party_clients": true}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (client_id, _, _) = app.create_client(json!({
            "name": "Kitchen <Radio>", "app_type": "native", "token_endpoint_auth_method": "none", "is_first_party": true,
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
        })).await;
        let agent = "RadioOS/3.1 (kitchen; <b>model</b> 7)";
        let (status, body) = read(app.http.post(app.url("/oauth/device/code")).header("user-agent", agent)
            .form(&[("client_id", client_id.as_str()), ("scope", "read:a"), ("audience", API)]).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let user_code = body["user_code"].as_str().unwrap();
        let device_code = body["device_code"].as_str().unwrap();
        let requested_at = stored_device_code(&app, user_code).await.created_at;
        // The user's browser has another user agent; the page shows the device's.
        let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true)
            .user_agent("UsersLaptopBrowser/1.0").build().unwrap();
        let response = enter_user_code(&app, &browser, user_code).await;
        let html = response.text().await.unwrap();
        let response = submit_login(&app, &browser, &html, EMAIL, PASSWORD).await;
        let html = response.text().await.unwrap();
        assert!(is_consent_page(&html), "first-party skip-consent does not skip a device confirmation: {html}");
        assert!(html.contains("Kitchen &#60;Radio&#62;") || html.contains("Kitchen &lt;Radio&gt;"), "the app, escaped: {html}");
        assert_eq!(definition(&html, "device-ip").as_deref(), Some("127.0.0.1"), "{html}");
        assert_eq!(definition(&html, "device-user-agent").as_deref(), Some(agent), "{html}");
        assert!(!html.contains("<b>model</b>"), "the user agent is escaped: {html}");
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
        let expected = time::OffsetDateTime::from_unix_timestamp(requested_at.unix_seconds()).unwrap().format(&format).unwrap();
        assert_eq!(definition(&html, "device-requested-at"), Some(expected), "{html}");
        assert!(html.contains(">Accept</button>") && html.contains(">Decline</button>"), "{html}");
        // Until Accept, the device keeps waiting.
        assert!(is_pending(&app, user_code).await);
        let (status, pending) = read(app.token_form(&[("grant_type", DEVICE_GRANT), ("client_id", &client_id), ("device_code", device_code)]).await).await;
        assert_oauth_error(status, &pending, StatusCode::FORBIDDEN, "authorization_pending");
        let response = submit_consent(&app, &browser, &html, true).await;
        assert!(response.text().await.unwrap().contains("Your device is now connected."));
        // (An approved code answers at once, whatever the poll interval.)
        let (status, tokens) = read(app.token_form(&[("grant_type", DEVICE_GRANT), ("client_id", &client_id), ("device_code", device_code)]).await).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
    }
}

both_databases! {
    async fn decline_on_a_signed_in_users_confirmation_denies_the_device(db: Backend) {
        let (app, client_id) = setup(db).await;
        let browser = new_browser();
        let first = device_code(&app, &client_id, "read:a").await;
        let response = enter_user_code(&app, &browser, first["user_code"].as_str().unwrap()).await;
        sign_in_and_accept(&app, &browser, response, EMAIL, PASSWORD).await;
        // Signed in, grant recorded: a second device is still confirmed, and Decline denies it.
        let second = device_code(&app, &client_id, "read:a").await;
        let html = enter_user_code(&app, &browser, second["user_code"].as_str().unwrap()).await.text().await.unwrap();
        assert!(is_consent_page(&html), "{html}");
        let response = submit_consent(&app, &browser, &html, false).await;
        assert!(response.text().await.unwrap().contains("Access was denied"));
        let (status, denied) = read(app.token_form(&[("grant_type", DEVICE_GRANT), ("client_id", &client_id), ("device_code", second["device_code"].as_str().unwrap())]).await).await;
        assert_oauth_error(status, &denied, StatusCode::FORBIDDEN, "access_denied");
    }
}

both_databases! {
    async fn the_activate_form_needs_the_csrf_token(db: Backend) {
        let (app, client_id) = setup(db).await;
        let body = device_code(&app, &client_id, "read:a").await;
        let user_code = body["user_code"].as_str().unwrap();
        let response = post_form(&app, &app.http, "/activate", &[("user_code", user_code)]).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(is_pending(&app, user_code).await);
    }
}
