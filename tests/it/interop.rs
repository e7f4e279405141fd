//! The code flow with PKCE, refresh and the device flow driven by a
//! third-party OAuth 2.0 client (the `oauth2` crate), so the server is not only
//! tested against its own understanding of the protocol. The browser steps
//! (login, consent, activation) use the helpers in `support::browser`.

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, DeviceAuthorizationUrl,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::refresh_tokens::{API, EMAIL, PASSWORD};
use crate::support::{browser, claims, TestApp};

const CALLBACK: &str = "https://app.example.test/callback";

fn oauth_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Plays the user in a new browser: opens `url`, signs in, accepts consent,
/// and returns where the server finally redirects.
async fn browse_authorize(app: &TestApp, url: &str) -> String {
    let browser = browser::new_browser();
    let response = browser.get(url).send().await.unwrap();
    let landing = browser::sign_in_and_accept(app, &browser, response, EMAIL, PASSWORD).await;
    landing
        .location
        .unwrap_or_else(|| panic!("no redirect ({}): {}", landing.status, landing.html))
}

/// Enters `user_code` on /activate in a new browser, signs in and accepts;
/// returns the final page.
async fn browse_activate(app: &TestApp, user_code: &str) -> String {
    let browser = browser::new_browser();
    let response = browser::enter_user_code(app, &browser, user_code).await;
    browser::sign_in_and_accept(app, &browser, response, EMAIL, PASSWORD)
        .await
        .html
}

async fn setup_user_and_api(app: &TestApp) {
    let (status, body) = app.mgmt_call(Method::POST, "/resource-servers", Some(json!({
        "identifier": API, "name": "Orders", "allow_offline_access": true, "scopes": [{"value": "read:orders"}],
    }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.mgmt_call(Method::POST, "/users", Some(json!({
        "connection": "Username-Password-Authentication", "email": EMAIL, "password": PASSWORD,
    }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

both_databases! {
    async fn oauth2_crate_runs_the_code_flow_with_pkce_and_rotating_refresh(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        setup_user_and_api(&app).await;
        let (id, secret, _) = app.create_client(json!({
            "name": "web", "callbacks": [CALLBACK], "grant_types": ["authorization_code", "refresh_token"],
            "refresh_token": {"rotation_type": "rotating", "expiration_type": "expiring"},
        })).await;
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_client_secret(ClientSecret::new(secret))
            .set_auth_uri(AuthUrl::new(format!("{}authorize", app.issuer)).unwrap())
            .set_token_uri(TokenUrl::new(format!("{}oauth/token", app.issuer)).unwrap())
            .set_redirect_uri(RedirectUrl::new(CALLBACK.to_owned()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(["openid", "email", "offline_access", "read:orders"].map(|s| Scope::new(s.to_owned())))
            .add_extra_param("audience", API)
            .add_extra_param("nonce", "n-0S6_WzA2Mj")
            .set_pkce_challenge(challenge)
            .url();
        let location = browse_authorize(&app, url.as_str()).await;
        let redirect = reqwest::Url::parse(&location).unwrap();
        assert!(location.starts_with(CALLBACK), "{location}");
        let params: std::collections::HashMap<_, _> = redirect.query_pairs().into_owned().collect();
        assert_eq!(params.get("state"), Some(state.secret()));
        let code = params.get("code").expect("code in redirect").clone();

        let http = oauth_http();
        let verifier_text = verifier.secret().clone();
        let tokens = client.exchange_code(AuthorizationCode::new(code.clone())).set_pkce_verifier(verifier)
            .request_async(&http).await.expect("code exchange");
        let access = claims(tokens.access_token().secret());
        assert_eq!(access["aud"][0], API);
        assert_eq!(access["azp"], id.as_str());
        assert!(access["sid"].is_string(), "tokens from a browser session carry sid");
        let refresh = tokens.refresh_token().expect("refresh token").clone();
        // The code is single-use, and a second use (same client, same
        // verifier) revokes what the first issued.
        let replay = client.exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier_text)).request_async(&http).await;
        assert!(replay.is_err(), "a code works once");
        assert!(client.exchange_refresh_token(&refresh).request_async(&http).await.is_err(),
            "replaying the code revoked the refresh token it had issued");

        // A fresh login, then rotation through the third-party client.
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _) = client.authorize_url(CsrfToken::new_random)
            .add_scopes(["offline_access", "read:orders"].map(|s| Scope::new(s.to_owned())))
            .add_extra_param("audience", API).set_pkce_challenge(challenge).url();
        let location = browse_authorize(&app, url.as_str()).await;
        let code = reqwest::Url::parse(&location).unwrap().query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        let tokens = client.exchange_code(AuthorizationCode::new(code)).set_pkce_verifier(verifier)
            .request_async(&http).await.expect("code exchange");
        let first = tokens.refresh_token().unwrap().clone();
        let rotated = client.exchange_refresh_token(&first).request_async(&http).await.expect("refresh");
        let second = rotated.refresh_token().expect("rotation returns a new refresh token").clone();
        assert_ne!(second.secret(), first.secret());
        assert!(client.exchange_refresh_token(&second).request_async(&http).await.is_ok());
        assert!(client.exchange_refresh_token(&RefreshToken::new(first.secret().clone())).request_async(&http).await.is_err(),
            "reuse of a rotated-out token is refused");
    }
}

both_databases! {
    async fn oauth2_crate_runs_the_device_flow(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        setup_user_and_api(&app).await;
        let (id, _, _) = app.create_client(json!({
            "name": "tv", "app_type": "native", "token_endpoint_auth_method": "none",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
        })).await;
        let client = BasicClient::new(ClientId::new(id.clone()))
            .set_auth_uri(AuthUrl::new(format!("{}authorize", app.issuer)).unwrap())
            .set_token_uri(TokenUrl::new(format!("{}oauth/token", app.issuer)).unwrap())
            .set_device_authorization_url(DeviceAuthorizationUrl::new(format!("{}oauth/device/code", app.issuer)).unwrap())
            .set_auth_type(oauth2::AuthType::RequestBody);
        let http = oauth_http();
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scopes(["offline_access", "read:orders"].map(|s| Scope::new(s.to_owned())))
            .add_extra_param("audience", API)
            .request_async(&http)
            .await
            .expect("device authorization");
        assert_eq!(details.verification_uri().as_str(), format!("{}activate", app.issuer));
        let page = browse_activate(&app, details.user_code().secret()).await;
        assert!(page.contains("connected"), "{page}");
        let tokens = client
            .exchange_device_access_token(&details)
            .request_async(&http, tokio::time::sleep, Some(std::time::Duration::from_secs(60)))
            .await
            .expect("device token");
        assert_eq!(claims(tokens.access_token().secret())["azp"], id.as_str());
        let refresh = tokens.refresh_token().expect("refresh token for offline_access");
        assert!(client.exchange_refresh_token(refresh).request_async(&http).await.is_ok());
    }
}
