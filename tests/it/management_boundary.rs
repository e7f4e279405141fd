//! CONTRACT §6.1: the Management API is for machines. Every user-facing flow
//! that names the Management API's audience (directly or through
//! `default_audience`) is refused, and the bearer check accepts only
//! `client_credentials` tokens of a client that still holds its client grant,
//! read on every call and on every process.

use std::sync::Arc;

use grantor_domain::{ClientId, FamilyId, GrantId, ScopeSet, TokenHash, UserId};
use grantor_store::NewFamily;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rotating, setup, API, EMAIL, PASSWORD};
use crate::support::browser::{
    authorize_path, create_user, get, native_client, new_browser, pkce_pair, query_param,
    sign_in_and_accept,
};
use crate::support::{
    assert_mgmt_error, assert_oauth_error, claims, read, spawn_app, spawn_app_on, urlencode,
    AppOptions, TestApp, TestDatabase,
};

const ADMIN_SCOPES: &str = "openid offline_access create:clients update:users read:users delete:users create:client_grants";
const SPA_CALLBACK: &str = "https://spa.example.test/callback";

/// Calls `GET /api/v2/clients` with `token`; returns the status.
async fn list_clients_with(app: &TestApp, token: &str) -> (StatusCode, Value) {
    read(
        app.http
            .get(app.url("/api/v2/clients"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

both_databases! {
    /// The escalation of issue 10: an end user signs in through a public
    /// single-page app asking for the Management API with administrative
    /// scopes and accepts their own consent. Before the fix this gave a code
    /// whose access token listed clients; now the request ends in
    /// `access_denied` before any sign-in, and no grant is recorded.
    async fn an_end_user_cannot_get_management_scopes_through_the_browser(db: Backend) {
        let app = spawn_app(db).await;
        let user_id = create_user(&app, EMAIL, PASSWORD).await;
        let spa = native_client(&app, "SPA", &[SPA_CALLBACK]).await;
        let (verifier, challenge) = pkce_pair();
        let audience = app.management_audience();
        let browser = new_browser();
        let path = authorize_path(&spa, SPA_CALLBACK, &[
            ("audience", &audience), ("scope", ADMIN_SCOPES), ("state", "s1"),
            ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]);
        let first = get(&app, &browser, &path).await;
        let landing = sign_in_and_accept(&app, &browser, first, EMAIL, PASSWORD).await;
        let to = landing.location.unwrap_or_else(|| panic!("expected a redirect: {}", landing.html));
        assert!(to.starts_with(SPA_CALLBACK), "{to}");
        assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"), "{to}");
        assert_eq!(query_param(&to, "state").as_deref(), Some("s1"));
        if let Some(code) = query_param(&to, "code") {
            // What the old server did: show that the code is worthless.
            let (status, body) = read(app.token_form(&[
                ("grant_type", "authorization_code"), ("client_id", &spa), ("code", &code),
                ("redirect_uri", SPA_CALLBACK), ("code_verifier", &verifier),
            ]).await).await;
            if status == StatusCode::OK {
                let (status, _) = list_clients_with(&app, body["access_token"].as_str().unwrap()).await;
                panic!("an end user got a Management API token (list clients: {status})");
            }
        }
        let (status, grants) = app.mgmt_call(Method::GET, &format!("/grants?user_id={}", urlencode(&user_id)), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(grants, json!([]), "no consent for the Management API was recorded");
    }
}

both_databases! {
    async fn password_and_device_flows_refuse_the_management_audience(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let audience = app.management_audience();
        let (status, body) = read(app.token_form(&[
            ("grant_type", "password"), ("client_id", &id), ("client_secret", &secret),
            ("username", EMAIL), ("password", PASSWORD), ("audience", &audience), ("scope", ADMIN_SCOPES),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
        assert!(body.get("access_token").is_none());

        let tv = native_client(&app, "TV", &[]).await;
        let (status, body) = read(app.http.post(app.url("/oauth/device/code"))
            .form(&[("client_id", tv.as_str()), ("scope", ADMIN_SCOPES), ("audience", &audience)])
            .send().await.unwrap()).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
        assert!(body.get("device_code").is_none());
    }
}

both_databases! {
    async fn default_audience_never_routes_a_user_to_the_management_api(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let audience = app.management_audience();
        let (status, body) = app.mgmt_call(Method::PATCH, "/tenants/settings",
            Some(json!({"default_audience": audience}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // A password grant naming no audience would land on the default.
        let (status, body) = read(app.token_form(&[
            ("grant_type", "password"), ("client_id", &id), ("client_secret", &secret),
            ("username", EMAIL), ("password", PASSWORD), ("scope", ADMIN_SCOPES),
        ]).await).await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "access_denied");
        // Machines still get their token through the default.
        let (status, body) = read(app.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", crate::support::MGMT_CLIENT_ID),
            ("client_secret", crate::support::MGMT_CLIENT_SECRET),
        ]).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = list_clients_with(&app, body["access_token"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
    }
}

both_databases! {
    /// A refresh token whose grant names the Management API (as one recorded
    /// before this boundary existed, imported here) is refused at exchange.
    async fn a_refresh_token_for_the_management_api_is_refused(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let signed_in = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let user_id = UserId::from(claims(signed_in["access_token"].as_str().unwrap())["sub"].as_str().unwrap());
        let client_id = ClientId::from(&id);
        let audience = app.management_audience();
        let store = app.store().await;
        let now = app.clock.now();
        // The same import for the orders API is the control: it works.
        let family = |name: &str, audience: &str, grant: &grantor_store::UserGrant, scope: &str| NewFamily {
            dpop_jkt: None,
            id: FamilyId::from(format!("{name}-family")),
            user_id: user_id.clone(),
            client_id: client_id.clone(),
            grant_id: grant.id.clone(),
            grant_epoch: grant.token_epoch,
            session_id: None,
            audience: audience.to_owned(),
            scope: scope.to_owned(),
            rotating: true,
            device_name: None,
            ip: "192.0.2.1".to_owned(),
            user_agent: "importer".to_owned(),
            auth_time: now,
            created_at: now,
            expires_at: None,
            idle_expires_at: None,
            secret_hash: TokenHash::of(&format!("{name}-refresh-token-0123456789abcdef0123456789")),
        };
        let legacy = store
            .upsert_grant(&GrantId::from("legacy-grant"), &user_id, &client_id, &audience, &ScopeSet::parse("create:clients offline_access"), now)
            .await
            .unwrap();
        let orders = store
            .upsert_grant(&GrantId::from("orders-grant"), &user_id, &client_id, API, &ScopeSet::parse("read:orders offline_access"), now)
            .await
            .unwrap();
        store.import_refresh_tokens(&[
            family("legacy", &audience, &legacy, "create:clients offline_access"),
            family("control", API, &orders, "read:orders offline_access"),
        ]).await.unwrap();
        let (status, body) = refresh(&app, &id, &secret, "control-refresh-token-0123456789abcdef0123456789").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = refresh(&app, &id, &secret, "legacy-refresh-token-0123456789abcdef0123456789").await;
        assert_oauth_error(status, &body, StatusCode::FORBIDDEN, "invalid_grant");
        assert!(body.get("access_token").is_none(), "{body}");
    }
}

both_databases! {
    /// Tokens that the Management API's bearer check must refuse although
    /// they are signed by grantor: user tokens of any API, and machine
    /// tokens of another API.
    async fn only_client_credentials_tokens_for_the_management_api_are_accepted(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let user = password_grant(&app, &id, &secret, "openid read:orders").await;
        let (status, body) = list_clients_with(&app, user["access_token"].as_str().unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
        let (status, body) = list_clients_with(&app, user["id_token"].as_str().unwrap()).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
    }
}

/// A machine client holding a Management API client grant with `scopes`.
async fn machine(app: &TestApp, scopes: &[&str]) -> (String, String, String) {
    let (id, secret, _) = app
        .create_client(json!({"name": "automation", "grant_types": ["client_credentials"]}))
        .await;
    let grant = app
        .create_client_grant(&id, &app.management_audience(), scopes)
        .await;
    let grant_id = grant["id"].as_str().unwrap().to_owned();
    (id, secret, grant_id)
}

both_databases! {
    async fn narrowing_or_deleting_the_client_grant_or_the_client_takes_effect_on_the_next_call(db: Backend) {
        let app = spawn_app(db).await;
        let audience = app.management_audience();
        let (id, secret, grant_id) = machine(&app, &["read:clients", "read:users"]).await;
        let token = app.client_credentials(&id, &secret, &audience).await;
        let users = |token: String| {
            let app = &app;
            async move { read(app.http.get(app.url("/api/v2/users")).bearer_auth(token).send().await.unwrap()).await }
        };
        assert_eq!(list_clients_with(&app, &token).await.0, StatusCode::OK);
        assert_eq!(users(token.clone()).await.0, StatusCode::OK);

        // Narrowed: the token still says read:users, the grant no longer does.
        let (status, body) = app.mgmt_call(Method::PATCH, &format!("/client-grants/{grant_id}"),
            Some(json!({"scope": ["read:clients"]}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = users(token.clone()).await;
        assert_mgmt_error(status, &body, StatusCode::FORBIDDEN);
        assert_eq!(list_clients_with(&app, &token).await.0, StatusCode::OK);

        // The client grant deleted: the token is worthless.
        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/client-grants/{grant_id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = list_clients_with(&app, &token).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);

        // A new grant, then the client deleted: also worthless.
        app.create_client_grant(&id, &audience, &["read:clients"]).await;
        let token = app.client_credentials(&id, &secret, &audience).await;
        assert_eq!(list_clients_with(&app, &token).await.0, StatusCode::OK);
        let (status, _) = app.mgmt_call(Method::DELETE, &format!("/clients/{id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = list_clients_with(&app, &token).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
    }
}

both_databases! {
    /// Two processes on one database: a client grant deleted through one is
    /// refused by the other on its very next call (nothing is cached).
    async fn a_deleted_client_grant_is_refused_by_every_process(db: Backend) {
        let database = Arc::new(TestDatabase::new(db).await);
        let options = || AppOptions { issuer: Some("http://grantor.test/".to_owned()), ..AppOptions::default() };
        let first = spawn_app_on(database.clone(), options()).await;
        let second = spawn_app_on(database.clone(), options()).await;
        let audience = first.management_audience();
        let (id, secret, grant_id) = machine(&first, &["read:clients"]).await;
        let token = first.client_credentials(&id, &secret, &audience).await;
        assert_eq!(list_clients_with(&second, &token).await.0, StatusCode::OK);
        let (status, _) = first.mgmt_call(Method::DELETE, &format!("/client-grants/{grant_id}"), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = list_clients_with(&second, &token).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
        let (status, body) = list_clients_with(&first, &token).await;
        assert_mgmt_error(status, &body, StatusCode::UNAUTHORIZED);
    }
}
