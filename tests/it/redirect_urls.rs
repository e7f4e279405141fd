//! Registered URLs (CONTRACT §6.5): the Management API refuses dangerous
//! schemes and malformed URLs in `callbacks`, `allowed_logout_urls`,
//! `allowed_origins` and `web_origins` with Auth0's error body and writes
//! nothing; native apps' private-use schemes work end to end; `/authorize`
//! matches `redirect_uri` exactly; and a dangerous value stored around the
//! API is never redirected to (`/authorize`, `/v2/logout`, `/oidc/logout`).

use grantor_domain::ClientId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::browser::{
    authorize_path, create_user, exchange_code, get, location, native_client, pkce_pair,
    query_param, sign_in_and_accept, web_client,
};
use crate::support::{spawn_app, TestApp};

const CALLBACK: &str = "https://app.example.test/callback";
const EMAIL: &str = "ann@example.test";
const PASSWORD: &str = "correct-horse-battery-staple";

const FIELDS: [&str; 4] = [
    "callbacks",
    "allowed_logout_urls",
    "allowed_origins",
    "web_origins",
];

/// Values refused in every URL list, with why.
const REFUSED: &[&str] = &[
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "javascript://app.example.test/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "blob:https://app.example.test/0b6d-41",
    "about:blank",
    "https:///no-host",
    "https:app.example.test/callback",
    "https://app.example.test/callback#fragment",
    "https://user:secret@app.example.test/callback",
    "https:\\\\evil.example.test/",
    " https://app.example.test/callback",
    "localhost:3000/callback",
    "not a url",
];

async fn client_ids(app: &TestApp) -> Vec<String> {
    let (status, body) = app.mgmt_call(Method::GET, "/clients", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .expect("an array")
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Auth0's 400 for a bad body, naming the member.
fn assert_refused(status: StatusCode, body: &Value, field: &str, url: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{field} {url:?}: {body}");
    assert_eq!(body["statusCode"], 400, "{body}");
    assert_eq!(body["error"], "Bad Request", "{body}");
    assert_eq!(body["errorCode"], "invalid_body", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("Payload validation error: {field}[")),
        "{message}"
    );
}

both_databases! {
    async fn the_management_api_refuses_dangerous_and_malformed_urls_and_writes_nothing(db: Backend) {
        let app = spawn_app(db).await;
        let (existing, _) = web_client(&app, "Existing", &[CALLBACK]).await;
        let before = client_ids(&app).await;
        for field in FIELDS {
            for url in REFUSED {
                let (status, body) = app
                    .mgmt_call(Method::POST, "/clients", Some(json!({"name": "Bad", field: [url]})))
                    .await;
                assert_refused(status, &body, field, url);
                // One good value first: the index points at the bad one.
                let (status, body) = app
                    .mgmt_call(
                        Method::PATCH,
                        &format!("/clients/{existing}"),
                        Some(json!({"name": "Renamed", field: ["https://ok.example.test/", url]})),
                    )
                    .await;
                assert_refused(status, &body, field, url);
                assert!(body["message"].as_str().unwrap().contains(&format!("{field}[1]")), "{body}");
            }
        }
        // Nothing was created and the existing client is untouched.
        assert_eq!(client_ids(&app).await, before);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{existing}"), None).await;
        assert_eq!(client["name"], "Existing");
        assert_eq!(client["callbacks"], json!([CALLBACK]));
        assert_eq!(client["allowed_logout_urls"], json!([]));
        assert_eq!(client["web_origins"], json!([]));
    }
}

both_databases! {
    async fn native_app_schemes_are_accepted_and_work_end_to_end(db: Backend) {
        let app = spawn_app(db).await;
        create_user(&app, EMAIL, PASSWORD).await;
        let callbacks = ["com.example.app:/callback", "myapp://cb", "http://127.0.0.1:8765/cb"];
        let client_id = native_client(&app, "Phone", &callbacks).await;
        let (status, body) = app
            .mgmt_call(
                Method::PATCH,
                &format!("/clients/{client_id}"),
                Some(json!({
                    "allowed_logout_urls": ["myapp://signed-out"],
                    "allowed_origins": ["capacitor://localhost", "https://app.example.test"],
                    "web_origins": ["https://app.example.test"],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // Stored exactly as sent, not normalised.
        assert_eq!(body["callbacks"], json!(callbacks));
        assert_eq!(body["allowed_logout_urls"], json!(["myapp://signed-out"]));
        assert_eq!(body["allowed_origins"], json!(["capacitor://localhost", "https://app.example.test"]));

        // The code flow redirects to the private-use scheme.
        let redirect = "com.example.app:/callback";
        let (verifier, challenge) = pkce_pair();
        let path = authorize_path(&client_id, redirect, &[
            ("code_challenge", &challenge), ("code_challenge_method", "S256"), ("state", "s"),
        ]);
        let response = get(&app, &app.http, &path).await;
        let landing = sign_in_and_accept(&app, &app.http, response, EMAIL, PASSWORD).await;
        assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.html);
        let to = landing.location.unwrap();
        assert!(to.starts_with("com.example.app:/callback?code="), "{to}");
        let code = query_param(&to, "code").unwrap();
        let (status, body) = exchange_code(&app, &client_id, None, &code, redirect, Some(&verifier)).await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // Logout returns to the native scheme.
        let response = get(&app, &app.http, &format!("/v2/logout?client_id={client_id}&returnTo=myapp%3A%2F%2Fsigned-out")).await;
        assert_eq!(response.status(), StatusCode::FOUND);
        assert_eq!(location(&response).as_deref(), Some("myapp://signed-out"));
    }
}

both_databases! {
    async fn authorize_compares_redirect_uri_exactly(db: Backend) {
        let app = spawn_app(db).await;
        let (client_id, _) = web_client(&app, "Web", &[CALLBACK]).await;
        // Variants a URL parser would call equal, and dangerous ones: all
        // refused with an error page, never a redirect.
        for redirect in [
            "https://APP.example.test/callback",
            "https://app.example.test:443/callback",
            "https://app.example.test/callback/",
            "https://app.example.test/./callback",
            "https://app.example.test/callback#x",
            "https://app.example.test/callback?",
            "javascript:alert(1)",
            "data:text/html,hi",
        ] {
            let response = get(&app, &app.http, &authorize_path(&client_id, redirect, &[("state", "s")])).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{redirect}");
            assert!(location(&response).is_none(), "{redirect}");
            let html = response.text().await.unwrap();
            assert!(html.contains("not one of the application"), "{redirect}: {html}");
        }
        // The registered string itself goes on to the login page.
        let response = get(&app, &app.http, &authorize_path(&client_id, CALLBACK, &[])).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

/// Writes URL lists straight into the store, as a value stored before the
/// rules (or by hand) would be.
async fn store_urls_around_the_api(
    app: &TestApp,
    client_id: &str,
    callbacks: &[&str],
    logout: &[&str],
) {
    let store = app.store().await;
    let mut client = store
        .client(&ClientId::from(client_id))
        .await
        .unwrap()
        .expect("client");
    client.callbacks = callbacks.iter().map(|s| (*s).to_owned()).collect();
    client.allowed_logout_urls = logout.iter().map(|s| (*s).to_owned()).collect();
    store.update_client(&client, None).await.expect("update");
    store.close().await;
}

both_databases! {
    async fn a_dangerous_url_stored_around_the_api_is_never_redirected_to(db: Backend) {
        let app = spawn_app(db).await;
        let (client_id, _) = web_client(&app, "Legacy", &[CALLBACK]).await;
        let evil = ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)"];
        store_urls_around_the_api(&app, &client_id, &evil, &evil).await;
        for url in evil {
            let encoded = serde_urlencoded::to_string([("u", url)]).unwrap();
            let encoded = encoded.trim_start_matches("u=");
            for path in [
                authorize_path(&client_id, url, &[("state", "s")]),
                format!("/v2/logout?client_id={client_id}&returnTo={encoded}"),
                format!("/oidc/logout?client_id={client_id}&post_logout_redirect_uri={encoded}&state=s"),
            ] {
                let response = get(&app, &app.http, &path).await;
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
                assert!(location(&response).is_none(), "{path}");
                let html = response.text().await.unwrap();
                assert!(!html.contains(url), "the value is not echoed: {html}");
            }
        }
        // With a single stored (dangerous) callback, omitting redirect_uri
        // does not fall back to it either.
        store_urls_around_the_api(&app, &client_id, &["javascript:alert(1)"], &[]).await;
        let response = get(&app, &app.http, &format!("/authorize?response_type=code&client_id={client_id}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(location(&response).is_none());
    }
}
