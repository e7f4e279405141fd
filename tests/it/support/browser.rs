//! A scripted browser for the login, consent and activation pages: forms are
//! read from the HTML with plain string search and posted back like a
//! browser would (cookies kept by the reqwest cookie store, redirects not
//! followed).

use base64::Engine;
use reqwest::header::{LOCATION, SET_COOKIE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::TestApp;

pub const CONNECTION: &str = "Username-Password-Authentication";

/// A new browser: its own cookie store, redirects not followed.
pub fn new_browser() -> reqwest::Client {
    super::tls();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("http client")
}

/// Creates a database user through the Management API; returns its `user_id`.
pub async fn create_user(app: &TestApp, email: &str, password: &str) -> String {
    let (status, body) = app
        .mgmt_call(
            Method::POST,
            "/users",
            Some(json!({"connection": CONNECTION, "email": email, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["user_id"].as_str().expect("user_id").to_owned()
}

/// A PKCE pair (RFC 7636): a random verifier and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = format!(
        "{}{}",
        grantor::secrets::bearer_token(),
        grantor::secrets::alphanumeric(10)
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A confidential web application allowed the code and refresh grants;
/// returns (client_id, client_secret).
pub async fn web_client(app: &TestApp, name: &str, callbacks: &[&str]) -> (String, String) {
    let (id, secret, _) = app
        .create_client(json!({
            "name": name,
            "app_type": "regular_web",
            "callbacks": callbacks,
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .await;
    (id, secret)
}

/// A public native application (`token_endpoint_auth_method: none`) with
/// the code, refresh and device grants; returns its client_id.
pub async fn native_client(app: &TestApp, name: &str, callbacks: &[&str]) -> String {
    let (id, _, _) = app
        .create_client(json!({
            "name": name,
            "app_type": "native",
            "callbacks": callbacks,
            "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    id
}

/// `/authorize?response_type=code&client_id=…&redirect_uri=…&<extra>` as a
/// path (an `extra` `response_type` replaces the default).
pub fn authorize_path(client_id: &str, redirect_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    if !extra.iter().any(|(k, _)| *k == "response_type") {
        pairs.push(("response_type", "code"));
    }
    pairs.push(("client_id", client_id));
    pairs.push(("redirect_uri", redirect_uri));
    pairs.extend_from_slice(extra);
    format!(
        "/authorize?{}",
        serde_urlencoded::to_string(&pairs).expect("query")
    )
}

/// The value of the `<input>` named `name`, HTML entities decoded.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let mut from = 0;
    while let Some(found) = html[from..].find(&needle) {
        let at = from + found;
        from = at + needle.len();
        let Some(tag_start) = html[..at].rfind('<') else {
            continue;
        };
        if !html[tag_start..].starts_with("<input") {
            continue;
        }
        let tag_end = at + html[at..].find('>')?;
        let tag = &html[tag_start..tag_end];
        let value_at = tag.find("value=\"")? + "value=\"".len();
        let value_end = value_at + tag[value_at..].find('"')?;
        return Some(html_unescape(&tag[value_at..value_end]));
    }
    None
}

/// Decodes the entities askama writes (`&#34;` style) and the named ones.
pub fn html_unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// A query parameter of a URL (first occurrence), decoded.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The `Location` header.
pub fn location(response: &Response) -> Option<String> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Every `Set-Cookie` header of a response.
pub fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// The `Set-Cookie` header for cookie `name`, if the response sets it.
pub fn set_cookie_named(response: &Response, name: &str) -> Option<String> {
    set_cookies(response)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

pub fn is_login_page(html: &str) -> bool {
    html.contains("action=\"/u/login\"")
}

pub fn is_consent_page(html: &str) -> bool {
    html.contains("action=\"/u/consent\"")
}

/// Posts a form (`application/x-www-form-urlencoded`) from `http`.
pub async fn post_form(
    app: &TestApp,
    http: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
) -> Response {
    http.post(app.url(path))
        .form(fields)
        .send()
        .await
        .expect("form post")
}

/// GET `path` (relative to the server) from `http`.
pub async fn get(app: &TestApp, http: &reqwest::Client, path: &str) -> Response {
    http.get(app.url(path)).send().await.expect("GET")
}

/// Types `code` into the `/activate` form (with its CSRF token) and submits it.
pub async fn enter_user_code(app: &TestApp, http: &reqwest::Client, code: &str) -> Response {
    let html = get(app, http, "/activate")
        .await
        .text()
        .await
        .expect("activate page");
    let csrf = input_value(&html, "csrf").expect("csrf");
    post_form(
        app,
        http,
        "/activate",
        &[("csrf", &csrf), ("user_code", code)],
    )
    .await
}

/// Posts the login form found in `html`.
pub async fn submit_login(
    app: &TestApp,
    http: &reqwest::Client,
    html: &str,
    email: &str,
    password: &str,
) -> Response {
    let csrf = input_value(html, "csrf").expect("csrf input on the login page");
    let request = input_value(html, "request").expect("request input on the login page");
    post_form(
        app,
        http,
        "/u/login",
        &[
            ("csrf", &csrf),
            ("request", &request),
            ("username", email),
            ("password", password),
        ],
    )
    .await
}

/// Presses Accept (`accept = true`) or Decline on the consent page in `html`.
pub async fn submit_consent(
    app: &TestApp,
    http: &reqwest::Client,
    html: &str,
    accept: bool,
) -> Response {
    let csrf = input_value(html, "csrf").expect("csrf input on the consent page");
    let request = input_value(html, "request").expect("request input on the consent page");
    let decision = if accept { "accept" } else { "decline" };
    post_form(
        app,
        http,
        "/u/consent",
        &[
            ("csrf", &csrf),
            ("request", &request),
            ("decision", decision),
        ],
    )
    .await
}

/// Where [`sign_in_and_accept`] ended: a redirect, or a page that is neither
/// the login nor the consent page (form_post, "device connected", an error).
#[derive(Debug)]
pub struct Landing {
    pub status: StatusCode,
    pub location: Option<String>,
    pub html: String,
}

/// Walks pages from `response` on: signs in on a login page, accepts a
/// consent page, and returns where that ends. Panics if the login page comes
/// back after signing in (wrong credentials).
pub async fn sign_in_and_accept(
    app: &TestApp,
    http: &reqwest::Client,
    mut response: Response,
    email: &str,
    password: &str,
) -> Landing {
    let mut signed_in = false;
    for _ in 0..4 {
        let status = response.status();
        let location = location(&response);
        let html = response.text().await.expect("page");
        if status == StatusCode::OK && is_login_page(&html) {
            assert!(!signed_in, "signing in failed: {html}");
            signed_in = true;
            response = submit_login(app, http, &html, email, password).await;
        } else if status == StatusCode::OK && is_consent_page(&html) {
            response = submit_consent(app, http, &html, true).await;
        } else {
            return Landing {
                status,
                location,
                html,
            };
        }
    }
    panic!("sign_in_and_accept: too many pages");
}

/// GET /authorize from `http`, then sign in and Accept as needed; returns
/// the final `Location` (the redirect to `redirect_uri`).
pub async fn authorize_location_with(
    app: &TestApp,
    http: &reqwest::Client,
    client_id: &str,
    redirect_uri: &str,
    extra: &[(&str, &str)],
    email: &str,
    password: &str,
) -> String {
    let response = get(app, http, &authorize_path(client_id, redirect_uri, extra)).await;
    let landing = sign_in_and_accept(app, http, response, email, password).await;
    match landing.location {
        Some(location) if landing.status == StatusCode::SEE_OTHER => location,
        _ => panic!(
            "expected a 303 redirect, got {}: {}",
            landing.status, landing.html
        ),
    }
}

/// [`authorize_location_with`] in the app's own browser (`app.http`).
pub async fn authorize_location(
    app: &TestApp,
    client_id: &str,
    redirect_uri: &str,
    extra: &[(&str, &str)],
    email: &str,
    password: &str,
) -> String {
    authorize_location_with(
        app,
        &app.http,
        client_id,
        redirect_uri,
        extra,
        email,
        password,
    )
    .await
}

/// Runs the browser part of the code flow in `app.http` and returns the
/// authorization code; panics if the redirect carries an error instead.
pub async fn authorize_code(
    app: &TestApp,
    client_id: &str,
    redirect_uri: &str,
    extra: &[(&str, &str)],
    email: &str,
    password: &str,
) -> String {
    let location = authorize_location(app, client_id, redirect_uri, extra, email, password).await;
    code_from(&location)
}

/// [`authorize_code`] in another browser.
pub async fn authorize_code_with(
    app: &TestApp,
    http: &reqwest::Client,
    client_id: &str,
    redirect_uri: &str,
    extra: &[(&str, &str)],
    email: &str,
    password: &str,
) -> String {
    let location =
        authorize_location_with(app, http, client_id, redirect_uri, extra, email, password).await;
    code_from(&location)
}

fn code_from(location: &str) -> String {
    query_param(location, "code").unwrap_or_else(|| panic!("no code in redirect: {location}"))
}

/// Exchanges a code at the token endpoint with `client_secret_post` (or no
/// secret for a public client, passing `secret = None`); returns status and JSON.
pub async fn exchange_code(
    app: &TestApp,
    client_id: &str,
    secret: Option<&str>,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", redirect_uri),
    ];
    if let Some(secret) = secret {
        form.push(("client_secret", secret));
    }
    if let Some(verifier) = code_verifier {
        form.push(("code_verifier", verifier));
    }
    super::read(app.token_form(&form).await).await
}
