//! Generated requests against the real server: one server per database, a
//! bounded number of cases per endpoint (`GRANTOR_FUZZ_CASES` for more), a
//! fixed seed (`GRANTOR_FUZZ_SEED`), so CI replays the same requests.
//!
//! Every answer must be below 500, and an error must be in its API's format:
//! `{error, error_description}` on the Authentication API, `{statusCode,
//! error, message}` on the Management API, an HTML page (or a redirect) on the
//! browser endpoints. Bodies mix structure (the endpoint's member names with
//! plausible, mutated and wrongly typed values, duplicate members, wrong
//! content types) with raw bytes; bearer tokens are mutations of real ones.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Instant;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, setup, API, EMAIL, PASSWORD};
use crate::support::fuzz::{self, bearer, body, valid, RawBody};
use crate::support::{TestApp, MGMT_CLIENT_ID};

/// Cases per endpoint unless `GRANTOR_FUZZ_CASES` says otherwise.
const CASES: u32 = 256;

thread_local! {
    /// Statuses seen by the current property, for its summary line.
    static STATUSES: RefCell<BTreeMap<u16, u32>> = const { RefCell::new(BTreeMap::new()) };
}

/// Runs `check` on generated inputs; panics with the smallest failing one.
/// Prints how many answers had each status, to show how far inputs got.
fn property<S, F, Fut>(name: &str, strategy: S, check: F)
where
    S: Strategy,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let handle = tokio::runtime::Handle::current();
    let started = Instant::now();
    let mut runner = fuzz::runner(CASES);
    let result = tokio::task::block_in_place(|| {
        STATUSES.with(|s| s.borrow_mut().clear());
        let result = runner.run(&strategy, |value| {
            handle.block_on(check(value)).map_err(TestCaseError::fail)
        });
        let statuses = STATUSES.with(|s| s.borrow().clone());
        eprintln!(
            "{name}: {} cases in {:.1?}, statuses {statuses:?}",
            fuzz::cases(CASES),
            started.elapsed()
        );
        result
    });
    if let Err(e) = result {
        panic!("{name}: {}", fuzz::cut(&e.to_string(), 4_000));
    }
}

async fn answer(request: reqwest::RequestBuilder) -> Result<(StatusCode, String, String), String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = response.status();
    STATUSES.with(|s| *s.borrow_mut().entry(status.as_u16()).or_default() += 1);
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response
        .text()
        .await
        .map_err(|e| format!("{status}: body: {e}"))?;
    if status.is_server_error() {
        return Err(format!("{status}: {}", fuzz::cut(&text, 1_000)));
    }
    Ok((status, content_type, text))
}

/// Below 500; errors as `{error, error_description}`.
async fn oauth_answer(request: reqwest::RequestBuilder) -> Result<(), String> {
    let (status, _, text) = answer(request).await?;
    if status.is_client_error() {
        let body: Value =
            serde_json::from_str(&text).map_err(|_| format!("{status}: not JSON: {text}"))?;
        if !body["error"].is_string() || !body["error_description"].is_string() {
            return Err(format!("{status}: not an OAuth error: {text}"));
        }
    }
    Ok(())
}

/// Below 500; errors as `{statusCode, error, message}`.
async fn management_answer(request: reqwest::RequestBuilder) -> Result<(), String> {
    let (status, _, text) = answer(request).await?;
    if status.is_client_error() {
        let body: Value =
            serde_json::from_str(&text).map_err(|_| format!("{status}: not JSON: {text}"))?;
        if body["statusCode"].as_u64() != Some(u64::from(status.as_u16()))
            || !body["error"].is_string()
            || !body["message"].is_string()
        {
            return Err(format!("{status}: not a Management error: {text}"));
        }
    }
    Ok(())
}

/// Below 500; errors as an HTML page.
async fn page_answer(request: reqwest::RequestBuilder) -> Result<(), String> {
    let (status, content_type, text) = answer(request).await?;
    if status.is_client_error() && !content_type.starts_with("text/html") {
        return Err(format!("{status} ({content_type}): {text}"));
    }
    Ok(())
}

/// An `Authorization` header for client authentication: none, the real
/// credentials, Basic around junk, or junk.
fn client_authorization(id: String, secret: String) -> BoxedStrategy<Option<String>> {
    let basic = |s: String| format!("Basic {}", STANDARD.encode(s));
    prop_oneof![
        6 => Just(None),
        1 => Just(Some(basic(format!("{id}:{secret}")))),
        1 => fuzz::hostile_text_up_to(4_000).prop_map(move |s| Some(basic(s))),
        1 => (Just(id), fuzz::hostile_text_up_to(4_000)).prop_map(move |(id, s)| Some(basic(format!("{id}:{s}")))),
        1 => "(Basic|Bearer|basic)? ?[ -~]{0,80}".prop_map(Some),
    ]
    .boxed()
}

fn post(
    app: &TestApp,
    http: &reqwest::Client,
    method: Method,
    path: &str,
    raw: &RawBody,
    authorization: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = http.request(method, app.url(path)).body(raw.bytes.clone());
    if let Some(content_type) = &raw.content_type {
        request = request.header(reqwest::header::CONTENT_TYPE, content_type);
    }
    if let Some(authorization) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, authorization);
    }
    request
}

/// A query string: the endpoint's parameters with plausible or hostile
/// values (repeats allowed), or raw text.
fn query(
    fields: &'static [&'static str],
    plausible: Vec<String>,
    valid: Vec<Vec<(String, Value)>>,
) -> BoxedStrategy<String> {
    let value = prop_oneof![
        2 => prop::sample::select(plausible),
        2 => fuzz::hostile_text_up_to(4_000),
        1 => Just(String::new()),
    ];
    let name = prop_oneof![6 => prop::sample::select(fields).prop_map(str::to_owned), 1 => fuzz::hostile_text_up_to(2_000)];
    let pairs = prop::collection::vec((name, value), 0..12)
        .prop_map(|pairs| serde_urlencoded::to_string(pairs).expect("query encoding"));
    let mutated = fuzz::mutated_members(valid)
        .prop_map(|members| String::from_utf8(fuzz::form_encode(&members)).expect("ASCII"));
    prop_oneof![
        5 => mutated,
        5 => pairs,
        1 => "[ -~]{0,200}",
        1 => prop::collection::vec(any::<u8>(), 0..100).prop_map(|bytes| {
            percent_encoding::percent_encode(&bytes, percent_encoding::NON_ALPHANUMERIC).to_string().replace("%3D", "=").replace("%26", "&")
        }),
    ]
    // A URI holds at most 64 KiB; a cut query is one more malformed input.
    .prop_map(|query: String| query.chars().take(16_000).collect())
    .boxed()
}

/// A path segment as sent: every byte but letters and digits escaped.
fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// What the generated requests aim at: real ids and secrets, so that
/// structured cases get past the first checks.
struct Targets {
    client_id: String,
    client_secret: String,
    callback: String,
    user_id: String,
    resource_server_id: String,
    client_grant_id: String,
    refresh_token: String,
    access_token: String,
    id_token: String,
    mgmt_token: String,
}

async fn targets(app: &TestApp) -> Targets {
    let (client_id, client_secret) = setup(
        app,
        json!({"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 5}),
    )
    .await;
    let callback = "https://app.example.test/callback".to_owned();
    let (status, body) = app
        .mgmt_call(
            Method::PATCH,
            &format!("/clients/{client_id}"),
            Some(json!({
                "callbacks": [callback],
                "grant_types": ["password", "refresh_token", "authorization_code", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tokens = password_grant(
        app,
        &client_id,
        &client_secret,
        "openid profile email offline_access read:orders",
    )
    .await;
    let (_, users) = app
        .mgmt_call(Method::GET, &format!("/users-by-email?email={EMAIL}"), None)
        .await;
    let (_, apis) = app.mgmt_call(Method::GET, "/resource-servers", None).await;
    let resource_server_id = apis
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["identifier"] == API)
        .expect("the API")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let grant = app
        .create_client_grant(&client_id, API, &["read:orders"])
        .await;
    Targets {
        user_id: users[0]["user_id"].as_str().expect("user_id").to_owned(),
        resource_server_id,
        client_grant_id: grant["id"].as_str().expect("grant id").to_owned(),
        refresh_token: tokens["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned(),
        access_token: tokens["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
        id_token: tokens["id_token"].as_str().expect("id_token").to_owned(),
        mgmt_token: app.mgmt_token().await,
        client_id,
        client_secret,
        callback,
    }
}

both_databases! {
    async fn generated_requests_never_get_a_5xx_and_errors_keep_their_format(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        let t = targets(&app).await;
        // A connection per request: the server may close a connection after
        // answering without reading a body (a 415, say), and a pooled
        // connection reused at that moment fails on the client's side.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let started = Instant::now();
        let s = |v: &str| json!(v);
        let (id, secret) = (s(&t.client_id), s(&t.client_secret));

        // The Authentication API.
        let token_values = vec![
            s("client_credentials"), s("password"), s("refresh_token"), s("authorization_code"),
            s("urn:ietf:params:oauth:grant-type:device_code"), id.clone(), secret.clone(),
            s(MGMT_CLIENT_ID), s(API), s(&app.management_audience()), s("openid offline_access read:orders"),
            s(&t.refresh_token), s(EMAIL), s(PASSWORD), s(&t.callback), s(""), Value::Null, json!(["a", "b"]),
        ];
        let token_valid = vec![
            valid(&[("grant_type", s("client_credentials")), ("client_id", id.clone()), ("client_secret", secret.clone()), ("audience", s(API))]),
            valid(&[("grant_type", s("password")), ("client_id", id.clone()), ("client_secret", secret.clone()), ("username", s(EMAIL)), ("password", s(PASSWORD)), ("audience", s(API)), ("scope", s("openid offline_access"))]),
            valid(&[("grant_type", s("refresh_token")), ("client_id", id.clone()), ("client_secret", secret.clone()), ("refresh_token", s(&t.refresh_token))]),
            valid(&[("grant_type", s("authorization_code")), ("client_id", id.clone()), ("client_secret", secret.clone()), ("code", s("unknown-code")), ("redirect_uri", s(&t.callback)), ("code_verifier", s(&"v".repeat(43)))]),
            valid(&[("grant_type", s("urn:ietf:params:oauth:grant-type:device_code")), ("client_id", id.clone()), ("device_code", s("unknown"))]),
        ];
        property(
            "POST /oauth/token",
            (
                body("application/x-www-form-urlencoded", &["grant_type", "client_id", "client_secret", "audience", "scope", "code", "redirect_uri", "code_verifier", "refresh_token", "device_code", "username", "password"], token_values, token_valid),
                client_authorization(t.client_id.clone(), t.client_secret.clone()),
            ),
            |(raw, authorization)| oauth_answer(post(&app, &http, Method::POST, "/oauth/token", &raw, authorization.as_deref())),
        );
        for path in ["/oauth/revoke", "/oauth/introspect"] {
            property(
                &format!("POST {path}"),
                (
                    body("application/x-www-form-urlencoded", &["token", "token_type_hint", "client_id", "client_secret"], vec![
                        s(&t.refresh_token), s(&t.access_token), id.clone(), secret.clone(), s("refresh_token"), s("access_token"), s(""),
                    ], vec![
                        valid(&[("token", s(&t.access_token)), ("client_id", id.clone()), ("client_secret", secret.clone())]),
                        valid(&[("token", s("not-a-token")), ("token_type_hint", s("refresh_token")), ("client_id", id.clone()), ("client_secret", secret.clone())]),
                    ]),
                    client_authorization(t.client_id.clone(), t.client_secret.clone()),
                ),
                |(raw, authorization)| oauth_answer(post(&app, &http, Method::POST, path, &raw, authorization.as_deref())),
            );
        }
        property(
            "POST /oauth/device/code",
            body("application/x-www-form-urlencoded", &["client_id", "scope", "audience"], vec![
                id.clone(), s(MGMT_CLIENT_ID), s(API), s("openid offline_access"), s(""),
            ], vec![valid(&[("client_id", id.clone()), ("scope", s("openid offline_access read:orders")), ("audience", s(API))])]),
            |raw| oauth_answer(post(&app, &http, Method::POST, "/oauth/device/code", &raw, None)),
        );
        property(
            "POST /oauth/par",
            (
                body("application/x-www-form-urlencoded", &["client_id", "client_secret", "response_type", "redirect_uri", "scope", "audience", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "response_mode", "max_age", "request_uri", "request"], vec![
                    id.clone(), secret.clone(), s("code"), s(&t.callback), s(API), s("openid offline_access"), s("S256"), s("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
                    s("none"), s("login consent"), s("form_post"), s("0"), s("urn:ietf:params:oauth:request_uri:x"), s(""), Value::Null, json!(["a", "b"]),
                ], vec![
                    valid(&[("client_id", id.clone()), ("client_secret", secret.clone()), ("response_type", s("code")), ("redirect_uri", s(&t.callback)), ("scope", s("openid read:orders")), ("audience", s(API)), ("state", s("xyz"))]),
                    valid(&[("client_id", id.clone()), ("client_secret", secret.clone()), ("response_type", s("code")), ("redirect_uri", s(&t.callback)), ("code_challenge", s("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")), ("code_challenge_method", s("S256")), ("prompt", s("login")), ("max_age", s("60"))]),
                ]),
                client_authorization(t.client_id.clone(), t.client_secret.clone()),
            ),
            |(raw, authorization)| oauth_answer(post(&app, &http, Method::POST, "/oauth/par", &raw, authorization.as_deref())),
        );
        let real_tokens = vec![t.access_token.clone(), t.id_token.clone(), t.mgmt_token.clone()];
        property(
            "GET /userinfo",
            (bearer(real_tokens.clone()), any::<bool>()),
            |(token, as_post)| {
                let method = if as_post { Method::POST } else { Method::GET };
                oauth_answer(http.request(method, app.url("/userinfo")).header("authorization", format!("Bearer {token}")))
            },
        );

        // The browser endpoints that parse protocol parameters.
        let challenge = s("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        property(
            "GET /authorize",
            query(
                &["response_type", "client_id", "redirect_uri", "scope", "audience", "state", "nonce", "code_challenge", "code_challenge_method", "prompt", "response_mode", "device", "request_uri"],
                vec![
                    "code".into(), t.client_id.clone(), t.callback.clone(), "openid profile offline_access".into(), API.into(),
                    "S256".into(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(), "none".into(), "login consent".into(),
                    "form_post".into(), "query".into(), "urn:ietf:params:oauth:request_uri:unknown".into(),
                ],
                vec![valid(&[
                    ("response_type", s("code")), ("client_id", id.clone()), ("redirect_uri", s(&t.callback)), ("scope", s("openid profile offline_access read:orders")),
                    ("audience", s(API)), ("state", s("xyz")), ("nonce", s("n")), ("code_challenge", challenge.clone()), ("code_challenge_method", s("S256")),
                ])],
            ),
            |query| page_answer(http.get(format!("{}?{query}", app.url("/authorize")))),
        );
        property(
            "GET /oidc/logout",
            (bearer(real_tokens.clone()), query(&["client_id", "post_logout_redirect_uri", "state"], vec![t.client_id.clone(), t.callback.clone()], vec![
                valid(&[("client_id", id.clone()), ("post_logout_redirect_uri", s(&t.callback)), ("state", s("s"))]),
            ])),
            |(hint, rest)| {
                // Cut to what a URL can hold (a cut token is one more mutation).
                let hint: String = hint.chars().take(8_000).collect();
                let hint = serde_urlencoded::to_string([("id_token_hint", hint)]).expect("query");
                page_answer(http.get(format!("{}?{hint}&{rest}", app.url("/oidc/logout"))))
            },
        );

        // The Management API, with a full-scope token.
        let mgmt = |method: Method, path: String, raw: RawBody| {
            management_answer(post(&app, &http, method, &format!("/api/v2{path}"), &raw, Some(&format!("Bearer {}", t.mgmt_token))))
        };
        let id_path = |real: String| prop_oneof![4 => Just(real), 1 => fuzz::hostile_text_up_to(2_000)];
        let urls = json!(["https://a.example.test/cb", "com.example.app://callback"]);
        let client_values = vec![
            s("name"), s("regular_web"), s("spa"), s("none"), s("client_secret_post"), urls.clone(), json!(["password", "implicit"]),
            json!({"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0, "token_lifetime": 3600, "idle_token_lifetime": 1800}),
            json!({"token_lifetime": i64::MAX, "idle_token_lifetime": -1}), json!({"lifetime_in_seconds": 36000, "alg": "RS256"}),
            json!(true), json!(false), json!(0), json!(i64::MAX), json!([]), json!({}),
        ];
        let client_fields: &'static [&'static str] = &[
            "name", "description", "app_type", "is_first_party", "oidc_conformant", "callbacks", "allowed_logout_urls",
            "allowed_origins", "web_origins", "grant_types", "token_endpoint_auth_method", "jwt_configuration", "refresh_token",
        ];
        let client_valid = vec![
            valid(&[("name", s("fuzz app"))]),
            valid(&[
                ("name", s("fuzz app")), ("description", s("d")), ("app_type", s("regular_web")), ("is_first_party", json!(true)),
                ("callbacks", urls.clone()), ("allowed_logout_urls", urls.clone()), ("grant_types", json!(["authorization_code", "refresh_token"])),
                ("token_endpoint_auth_method", s("client_secret_post")), ("jwt_configuration", json!({"lifetime_in_seconds": 3600, "alg": "RS256"})),
                ("refresh_token", json!({"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 10, "token_lifetime": 7200, "idle_token_lifetime": 3600})),
            ]),
        ];
        property("POST /api/v2/clients", body("application/json", client_fields, client_values.clone(), client_valid.clone()), |raw| mgmt(Method::POST, "/clients".into(), raw));
        property(
            "PATCH /api/v2/clients/{id}",
            (id_path(t.client_id.clone()), body("application/json", client_fields, client_values, client_valid)),
            |(id, raw)| mgmt(Method::PATCH, format!("/clients/{}", encode(&id)), raw),
        );
        let user_fields: &'static [&'static str] = &[
            "connection", "user_id", "email", "password", "phone_number", "phone_verified", "email_verified", "verify_email",
            "username", "name", "nickname", "picture", "given_name", "family_name", "blocked", "app_metadata", "user_metadata",
        ];
        let user_values = vec![
            s("Username-Password-Authentication"), s("fuzz@example.test"), s("correct horse battery staple"), s("+14155550123"),
            s("abc-123"), json!({"plan": "gold", "nested": {"a": [1, 2]}}), json!({"plan": null}), json!(true), s(""),
        ];
        let user_valid = vec![
            valid(&[("connection", s("Username-Password-Authentication")), ("email", s("fuzz@example.test")), ("password", s("correct horse battery staple"))]),
            valid(&[
                ("connection", s("Username-Password-Authentication")), ("email", s("fuzz2@example.test")), ("password", s("correct horse battery staple")),
                ("user_id", s("fuzz-1")), ("phone_number", s("+14155550123")), ("name", s("Fuzz")), ("app_metadata", json!({"plan": "gold"})),
                ("user_metadata", json!({"theme": {"dark": true}})), ("blocked", json!(false)), ("email_verified", json!(true)),
            ]),
        ];
        property("POST /api/v2/users", body("application/json", user_fields, user_values.clone(), user_valid.clone()), |raw| mgmt(Method::POST, "/users".into(), raw));
        property(
            "PATCH /api/v2/users/{id}",
            (id_path(t.user_id.clone()), body("application/json", user_fields, user_values, user_valid)),
            |(id, raw)| mgmt(Method::PATCH, format!("/users/{}", encode(&id)), raw),
        );
        let api_fields: &'static [&'static str] = &[
            "identifier", "name", "scopes", "signing_alg", "allow_offline_access", "skip_consent_for_verifiable_first_party_clients",
            "token_lifetime", "token_lifetime_for_web",
        ];
        let api_values = vec![
            s("https://fuzz.example.test/api"), s("Fuzz"), json!([{"value": "read:x", "description": "Read"}, {"value": "read:x"}]),
            json!([{"value": ""}, {"description": "no value"}]), s("RS256"), s("HS256"), s("EdDSA"), json!(86400), json!(-1), json!(i64::MAX), json!(true),
        ];
        let api_valid = vec![valid(&[
            ("identifier", s("https://fuzz.example.test/api")), ("name", s("Fuzz")), ("scopes", json!([{"value": "read:x", "description": "Read"}])),
            ("signing_alg", s("ES256")), ("allow_offline_access", json!(true)), ("token_lifetime", json!(3600)), ("token_lifetime_for_web", json!(600)),
        ])];
        property("POST /api/v2/resource-servers", body("application/json", api_fields, api_values.clone(), api_valid.clone()), |raw| mgmt(Method::POST, "/resource-servers".into(), raw));
        property(
            "PATCH /api/v2/resource-servers/{id}",
            (id_path(t.resource_server_id.clone()), body("application/json", api_fields, api_values, api_valid)),
            |(id, raw)| mgmt(Method::PATCH, format!("/resource-servers/{}", encode(&id)), raw),
        );
        let grant_values = vec![id.clone(), s(API), s(&app.management_audience()), json!(["read:orders", "write:orders"]), json!(["nope"]), json!([])];
        property(
            "POST /api/v2/client-grants",
            body("application/json", &["client_id", "audience", "scope"], grant_values.clone(), vec![
                valid(&[("client_id", id.clone()), ("audience", s(&app.management_audience())), ("scope", json!(["read:users"]))]),
            ]),
            |raw| mgmt(Method::POST, "/client-grants".into(), raw),
        );
        property(
            "PATCH /api/v2/client-grants/{id}",
            (id_path(t.client_grant_id.clone()), body("application/json", &["scope"], grant_values, vec![valid(&[("scope", json!(["read:orders"]))])])),
            |(id, raw)| mgmt(Method::PATCH, format!("/client-grants/{}", encode(&id)), raw),
        );
        property(
            "PATCH /api/v2/tenants/settings",
            body("application/json", &["friendly_name", "flags", "default_audience", "session_lifetime", "idle_session_lifetime"], vec![
                s("Fuzz"), json!({"revoke_refresh_token_grant": false}), json!({"revoke_refresh_token_grant": "yes"}), s(API), s(""),
                json!(72), json!(1.5), json!(i64::MAX), json!(-1),
            ], vec![valid(&[
                ("friendly_name", s("Fuzz")), ("flags", json!({"revoke_refresh_token_grant": false})), ("default_audience", s(API)),
                ("session_lifetime", json!(72)), ("idle_session_lifetime", json!(24)),
            ])]),
            |raw| mgmt(Method::PATCH, "/tenants/settings".into(), raw),
        );
        property(
            "POST /api/v2/refresh-tokens/revoke",
            body("application/json", &["ids", "user_id", "client_id", "audience"], vec![
                json!(["rt_unknown"]), json!([]), s(&t.user_id), id.clone(), s(API), Value::Array(vec![s("x"); 200]),
            ], vec![
                valid(&[("ids", json!(["rt_unknown"]))]),
                valid(&[("user_id", s(&t.user_id)), ("client_id", id.clone()), ("audience", s(API))]),
            ]),
            |raw| mgmt(Method::POST, "/refresh-tokens/revoke".into(), raw),
        );
        property(
            "POST /api/v2/users/{id}/revoke-access",
            (id_path(t.user_id.clone()), body("application/json", &["session_id", "preserve_refresh_tokens"], vec![s("nope"), json!(true), json!(false)], vec![
                valid(&[("preserve_refresh_tokens", json!(true))]),
                valid(&[("session_id", s("unknown")), ("preserve_refresh_tokens", json!(false))]),
            ])),
            |(id, raw)| mgmt(Method::POST, format!("/users/{}/revoke-access", encode(&id)), raw),
        );
        // Metadata PATCHes and public-key device credentials (issue 15).
        let (_, tokens) = app.mgmt_call(Method::GET, &format!("/users/{}/refresh-tokens", encode(&t.user_id)), None).await;
        let token_id = tokens["tokens"][0]["id"].as_str().unwrap_or("rt_unknown").to_owned();
        let metadata_values = vec![
            json!({"a": "b"}), json!({}), Value::Null, json!({"n": 1}), json!({"o": {"a": "b"}}), json!(["x"]), s("x"),
            Value::Object((0..30).map(|i| (format!("k{i}"), s("v"))).collect()), json!({"k": "v".repeat(300)}),
        ];
        for (path, member, id) in [("refresh-tokens", "refresh_token_metadata", token_id), ("sessions", "session_metadata", "unknown-session".to_owned())] {
            let fields: &'static [&'static str] = if member == "session_metadata" { &["session_metadata"] } else { &["refresh_token_metadata"] };
            property(
                &format!("PATCH /api/v2/{path}/{{id}}"),
                (id_path(id), body("application/json", fields, metadata_values.clone(), vec![valid(&[(member, json!({"device": "fuzz"}))])])),
                |(id, raw)| mgmt(Method::PATCH, format!("/{path}/{}", encode(&id)), raw),
            );
        }
        let spki = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEb/b0+9O+dXEuACnX0j2ihETFD8UlelmwNclu4NmfXv1iuq1/KyMjSv9+9VKZzwaeFE18othnMIOQV5pPrQiwTQ==";
        property(
            "POST /api/v2/device-credentials",
            body("application/json", &["device_name", "type", "value", "device_id", "client_id", "user_id"], vec![
                s("phone"), s("public_key"), s("refresh_token"), s(spki), s("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
                s("0a1b"), s(&"f".repeat(37)), id.clone(), s(&t.user_id), s(""), json!(1),
            ], vec![valid(&[
                ("device_name", s("phone")), ("type", s("public_key")), ("value", s(spki)), ("device_id", s("0a1b")),
                ("client_id", id.clone()), ("user_id", s(&t.user_id)),
            ])]),
            |raw| mgmt(Method::POST, "/device-credentials".into(), raw),
        );
        property(
            "Management bearer tokens",
            bearer(real_tokens),
            |token| management_answer(http.get(app.url("/api/v2/clients")).header("authorization", format!("Bearer {token}"))),
        );
        eprintln!("all properties: {:.1?}", started.elapsed());
    }
}

both_databases! {
    /// Found by the property above: `GET /authorize?client_id=%00` was a 500 on
    /// PostgreSQL (text cannot hold NUL), a 400 on SQLite. A NUL anywhere, in
    /// a target or a body, is now a 400 in the surface's format on both, and
    /// nothing is written.
    async fn nul_characters_are_a_400_in_each_surface_format(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        let response = app.http.get(app.url("/authorize?client_id=%00")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        assert!(response.text().await.unwrap().contains("NUL character"));

        for (content_type, raw) in [
            ("application/json", r#"{"grant_type": "client_credentials", "client_id": "a\u0000", "client_secret": "x"}"#),
            ("application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=a%00&client_secret=x"),
        ] {
            let response = app.http.post(app.url("/oauth/token")).header("content-type", content_type).body(raw).send().await.unwrap();
            let (status, body) = crate::support::read(response).await;
            crate::support::assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");
        }
        let response = app.http.post(app.url("/oauth/revoke?x=%00")).form(&[("token", "t")]).send().await.unwrap();
        let (status, body) = crate::support::read(response).await;
        crate::support::assert_oauth_error(status, &body, StatusCode::BAD_REQUEST, "invalid_request");

        let (_, before) = app.mgmt_call(Method::GET, "/clients?include_totals=true", None).await;
        for body in [json!({"name": "a\u{0}b"}), json!({"name": "x", "callbacks": ["https://a.example/\u{0}"]})] {
            let (status, answer) = app.mgmt_call(Method::POST, "/clients", Some(body)).await;
            crate::support::assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
            assert_eq!(answer["errorCode"], "invalid_body", "{answer}");
        }
        let (status, answer) = app.mgmt_call(Method::POST, "/users", Some(json!({
            "connection": "Username-Password-Authentication", "email": "a@example.test", "password": "long enough password",
            "user_metadata": {"k\u{0}": 1},
        }))).await;
        crate::support::assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
        let (_, after) = app.mgmt_call(Method::GET, "/clients?include_totals=true", None).await;
        assert_eq!(before["total"], after["total"], "nothing was created");
        for path in ["/clients/a%00b", "/users?q=%00", "/users/auth0%7C%00"] {
            let (status, answer) = app.mgmt_call(Method::GET, path, None).await;
            crate::support::assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
            assert_eq!(answer["errorCode"], "invalid_uri", "{path}: {answer}");
        }

        let response = app.http.get(app.url("/dashboard/users/%00")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }
}

both_databases! {
    /// A path that does not percent-decode to UTF-8 (`%FF`) is a 400 in the
    /// surface's own format, never axum's plain-text rejection, and reaches
    /// no handler.
    async fn a_path_that_is_not_utf8_is_a_400_in_each_surface_format(db: Backend) {
        let app = crate::support::spawn_app(db).await;
        for path in ["/users/%FF", "/clients/%FF", "/users/auth0%7C%C3/sessions", "/log-streams/%FF", "/refresh-tokens/%FF"] {
            let (status, answer) = app.mgmt_call(Method::GET, path, None).await;
            crate::support::assert_mgmt_error(status, &answer, StatusCode::BAD_REQUEST);
            assert_eq!(answer["errorCode"], "invalid_uri", "{path}: {answer}");
            assert!(answer["message"].as_str().unwrap().contains("UTF-8"), "{answer}");
        }
        // Valid UTF-8, percent-encoded, still reaches the handler.
        let (status, answer) = app.mgmt_call(Method::GET, "/users/auth0%7C%C3%A9", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

        let token = crate::management_refresh_tokens::token_with(&app, &["manage:ssf_streams", "read:ssf_streams"]).await;
        let response = app.http.post(app.url("/ssf/poll/%FF")).bearer_auth(&token).json(&json!({})).send().await.unwrap();
        let (status, body) = crate::support::read(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["err"], "invalid_request", "{body}");

        let response = app.http.get(app.url("/dashboard/users/%FF")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
    }
}
