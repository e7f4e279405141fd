//! Managing the tenant from the dashboard, driven like a browser without
//! JavaScript: users (create, edit, set a password, block, unblock, delete),
//! APIs (create, edit, delete; the system API refused), applications
//! (create with the secret shown once, settings, rotate the secret, delete)
//! and the Logs page (filters, one event). Every change is checked through
//! the Management API and its audit event (`GET /api/v2/logs`, the
//! administrator as actor); every form refuses a POST without the CSRF token
//! and answers bad input with the form and a message, never a 5xx.

use reqwest::header::LOCATION;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::dashboard::Admin;
use crate::support::browser::html_unescape;
use crate::support::{read, spawn_app, TestApp, ADMIN_EMAIL};

const CONNECTION: &str = "Username-Password-Authentication";
const API: &str = "https://things.example.test/";

fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn encode(s: &str) -> String {
    s.replace('|', "%7C")
}

/// Audit events matching `q` (the Management API's log search), newest first.
async fn events(app: &TestApp, q: &str) -> Vec<Value> {
    let query = serde_urlencoded::to_string([("q", q)]).unwrap();
    let (status, body) = app
        .mgmt_call(Method::GET, &format!("/logs?{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

/// The one event of `type_code` whose description is `description`, made by
/// the signed-in administrator.
async fn admin_event(app: &TestApp, type_code: &str, description: &str) -> Value {
    let found: Vec<Value> = events(app, &format!("type:\"{type_code}\""))
        .await
        .into_iter()
        .filter(|e| e["description"] == description)
        .collect();
    assert_eq!(found.len(), 1, "{type_code} {description}: {found:?}");
    let event = found.into_iter().next().unwrap();
    assert_eq!(
        event["details"]["actor"],
        json!({"type": "admin", "email": ADMIN_EMAIL}),
        "{event}"
    );
    event
}

/// Posts `fields` without the CSRF token, then with a wrong one: both 403.
async fn refused_without_csrf(admin: &Admin<'_>, path: &str, fields: &[(&str, &str)]) {
    let response = admin.post(path, fields).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    let mut wrong = fields.to_vec();
    wrong.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(
        admin.post(path, &wrong).await.status(),
        StatusCode::FORBIDDEN,
        "{path}"
    );
}

/// Asserts a 400 page that shows `message` and the form again.
async fn form_with_error(response: Response, message: &str) -> String {
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = html_unescape(&response.text().await.unwrap());
    assert!(html.contains("class=\"error\""), "{html}");
    assert!(html.contains(message), "{message}: {html}");
    assert!(html.contains("<form method=\"post\""), "{html}");
    html
}

async fn user_by_email(app: &TestApp, email: &str) -> Option<Value> {
    let (status, body) = app
        .mgmt_call(Method::GET, &format!("/users-by-email?email={email}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().and_then(|a| a.first().cloned())
}

/// A client allowed the password grant for an API with offline access.
async fn password_client(app: &TestApp) -> (String, String) {
    let (status, body) = app
        .mgmt_call(
            Method::POST,
            "/resource-servers",
            Some(json!({"identifier": API, "name": "Things", "allow_offline_access": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (id, secret, _) = app
        .create_client(json!({"name": "cli", "grant_types": ["password", "refresh_token"]}))
        .await;
    (id, secret)
}

async fn sign_in_as(
    app: &TestApp,
    client: &(String, String),
    email: &str,
    password: &str,
) -> (StatusCode, Value) {
    read(
        app.token_form(&[
            ("grant_type", "password"),
            ("client_id", &client.0),
            ("client_secret", &client.1),
            ("username", email),
            ("password", password),
            ("audience", API),
            ("scope", "openid offline_access"),
        ])
        .await,
    )
    .await
}

async fn refresh(app: &TestApp, client: &(String, String), token: &str) -> StatusCode {
    app.token_form(&[
        ("grant_type", "refresh_token"),
        ("client_id", &client.0),
        ("client_secret", &client.1),
        ("refresh_token", token),
    ])
    .await
    .status()
}

both_databases! {
    async fn users_are_created_edited_blocked_given_a_password_and_deleted(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::signed_in(&app).await;
        let client = password_client(&app).await;
        let email = "bob@example.test";

        // The form; bad input comes back as the form with the reason.
        let html = admin.page("/dashboard/users/new").await;
        for label in ["<label for=\"email\">Email</label>", "<label for=\"password\">Password</label>", "<label for=\"user_metadata\">"] {
            assert!(html.contains(label), "{label}: {html}");
        }
        let html = form_with_error(
            admin.submit("/dashboard/users/new", "/dashboard/users/new", &[("email", "not-an-email"), ("password", "long enough password"), ("name", "Bob")]).await,
            "didn't pass validation for format email",
        ).await;
        assert!(html.contains("value=\"Bob\""), "typed values are kept: {html}");
        form_with_error(
            admin.submit("/dashboard/users/new", "/dashboard/users/new", &[("email", email), ("password", "long enough password"), ("user_metadata", "[1, 2]")]).await,
            "user_metadata must be a JSON object",
        ).await;
        form_with_error(
            admin.submit("/dashboard/users/new", "/dashboard/users/new", &[("email", email), ("password", "")]).await,
            "A password is required.",
        ).await;
        refused_without_csrf(&admin, "/dashboard/users/new", &[("email", email), ("password", "long enough password")]).await;
        assert!(user_by_email(&app, email).await.is_none(), "nothing was created");

        // Created: the fields as given, the password works, audited.
        let response = admin.submit("/dashboard/users/new", "/dashboard/users/new", &[
            ("email", email), ("password", "first password 1"), ("name", "Bob Builder"),
            ("given_name", "Bob"), ("email_verified", "true"), ("user_id", "bob1"),
            ("user_metadata", "{\"plan\": \"pro\"}"),
        ]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let user_id = "auth0|bob1";
        let path = format!("/dashboard/users/{}", encode(user_id));
        assert_eq!(location(&response), format!("{path}?done=created"));
        let user = user_by_email(&app, email).await.expect("created");
        assert_eq!(user["user_id"], user_id);
        assert_eq!(user["name"], "Bob Builder");
        assert_eq!(user["given_name"], "Bob");
        assert_eq!(user["email_verified"], true);
        assert_eq!(user["user_metadata"], json!({"plan": "pro"}));
        let html = admin.page(&format!("{path}?done=created")).await;
        assert!(html.contains("User created."), "{html}");
        let (status, tokens) = sign_in_as(&app, &client, email, "first password 1").await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let event = admin_event(&app, "sapi", &format!("Create user {user_id}")).await;
        assert_eq!(event["user_id"], user_id);
        assert!(!event.to_string().contains("first password 1"), "no password in the log");
        // The same e-mail again: the form says so.
        form_with_error(
            admin.submit("/dashboard/users/new", "/dashboard/users/new", &[("email", email), ("password", "long enough password")]).await,
            "already exists",
        ).await;

        // Edited: only what changed is written, and audited.
        let edit = format!("{path}/edit");
        let html = admin.page(&edit).await;
        assert!(html.contains("value=\"Bob Builder\""), "{html}");
        refused_without_csrf(&admin, &edit, &[("email", email), ("name", "Mallory")]).await;
        form_with_error(
            admin.submit(&edit, &edit, &[("email", email), ("name", "Bob Builder"), ("phone_number", "not a phone")]).await,
            "format phone-number",
        ).await;
        create_other(&app).await;
        form_with_error(
            admin.submit(&edit, &edit, &[("email", "other@example.test"), ("name", "Bob Builder")]).await,
            "The specified new email already exists.",
        ).await;
        let response = admin.submit(&edit, &edit, &[
            ("email", email), ("name", "Robert"), ("nickname", "bob"), ("given_name", "Bob"),
            ("phone_number", "+14155550123"), ("phone_verified", "true"),
            ("user_metadata", "{\"plan\": \"team\"}"), ("app_metadata", "{\"tier\": 2}"),
        ]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, user) = app.mgmt_call(Method::GET, &format!("/users/{}", encode(user_id)), None).await;
        assert_eq!(user["name"], "Robert");
        assert_eq!(user["phone_number"], "+14155550123");
        assert_eq!(user["phone_verified"], true);
        assert_eq!(user["email_verified"], false, "the unticked box is a change too");
        assert_eq!(user["user_metadata"], json!({"plan": "team"}));
        assert_eq!(user["app_metadata"], json!({"tier": 2}));
        let event = admin_event(&app, "sapi", &format!("Update user {user_id}")).await;
        let changed = event["details"]["changed"].as_array().unwrap();
        assert!(changed.contains(&json!("name")) && !changed.contains(&json!("given_name")), "{event}");

        // Blocked after a confirmation: sessions and tokens end, audited with a receipt.
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
        let html = html_unescape(&admin.page(&format!("{path}/block")).await);
        assert!(html.contains("Block bob@example.test?"), "{html}");
        assert!(html.contains("This will end every session of the user and revoke 1 refresh token"), "{html}");
        refused_without_csrf(&admin, &format!("{path}/block"), &[]).await;
        assert_eq!(refresh(&app, &client, &rt).await, StatusCode::OK, "nothing revoked yet");
        let (_, tokens) = sign_in_as(&app, &client, email, "first password 1").await;
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
        let response = admin.submit(&format!("{path}/block"), &format!("{path}/block"), &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let html = admin.page(&location(&response)).await;
        assert!(html.contains("User blocked: revoked"), "{html}");
        assert!(html.contains(">Unblock</button>"), "{html}");
        let (_, user) = app.mgmt_call(Method::GET, &format!("/users/{}", encode(user_id)), None).await;
        assert_eq!(user["blocked"], true);
        assert_ne!(refresh(&app, &client, &rt).await, StatusCode::OK);
        assert_ne!(sign_in_as(&app, &client, email, "first password 1").await.0, StatusCode::OK);
        let blocked = admin_event(&app, "srrt", "Revoked a user's access (sessions and refresh tokens): the user was blocked").await;
        assert_eq!(blocked["details"]["reason"], "user-blocked");
        assert_eq!(blocked["user_id"], user_id);
        assert!(blocked["details"]["receipt"]["refresh_tokens"].as_i64().unwrap() >= 1, "{blocked}");

        // Unblocked: signs in again, audited.
        refused_without_csrf(&admin, &format!("{path}/unblock"), &[]).await;
        let response = admin.submit(&path, &format!("{path}/unblock"), &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, user) = app.mgmt_call(Method::GET, &format!("/users/{}", encode(user_id)), None).await;
        assert_eq!(user["blocked"], false);
        admin_event(&app, "sapi", &format!("Unblock user {user_id}")).await;
        let (status, tokens) = sign_in_as(&app, &client, email, "first password 1").await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();

        // A new password: the policy is the form's error; then the old
        // password and the tokens stop working.
        let password = format!("{path}/password");
        refused_without_csrf(&admin, &password, &[("password", "second password 2")]).await;
        form_with_error(admin.submit(&password, &password, &[("password", "short")]).await, "Password is too weak").await;
        assert_eq!(refresh(&app, &client, &rt).await, StatusCode::OK, "a refused password changes nothing");
        let (_, tokens) = sign_in_as(&app, &client, email, "first password 1").await;
        let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
        let response = admin.submit(&password, &password, &[("password", "second password 2")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(admin.page(&location(&response)).await.contains("Password changed: revoked"));
        assert_ne!(refresh(&app, &client, &rt).await, StatusCode::OK);
        assert_ne!(sign_in_as(&app, &client, email, "first password 1").await.0, StatusCode::OK);
        assert_eq!(sign_in_as(&app, &client, email, "second password 2").await.0, StatusCode::OK);
        let changed = admin_event(&app, "srrt", "Revoked a user's access (sessions and refresh tokens): the password was changed").await;
        assert!(!changed.to_string().contains("second password 2"));

        // Deleted after a confirmation, audited.
        let delete = format!("{path}/delete");
        let html = html_unescape(&admin.page(&delete).await);
        assert!(html.contains("Delete bob@example.test?") && html.contains(">Delete user</button>"), "{html}");
        refused_without_csrf(&admin, &delete, &[]).await;
        assert!(user_by_email(&app, email).await.is_some());
        let response = admin.submit(&delete, &delete, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/dashboard/users?deleted=1");
        assert!(admin.page("/dashboard/users?deleted=1").await.contains("User deleted."));
        assert!(user_by_email(&app, email).await.is_none());
        assert_eq!(admin.get(&path).await.status(), StatusCode::NOT_FOUND);
        let deleted = admin_event(&app, "srrt", "Revoked a user's access (sessions and refresh tokens): the user was deleted").await;
        assert_eq!(deleted["details"]["reason"], "user-deleted");
    }
}

async fn create_other(app: &TestApp) {
    let (status, body) = app
        .mgmt_call(
            Method::POST,
            "/users",
            Some(json!({"connection": CONNECTION, "email": "other@example.test", "password": "other password 1"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

both_databases! {
    async fn apis_are_created_edited_and_deleted_and_the_system_api_is_not(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::signed_in(&app).await;

        let html = admin.page("/dashboard/apis").await;
        assert!(html.contains("<span class=\"pill\">system</span>"), "the Management API is listed: {html}");
        let html = admin.page("/dashboard/apis/new").await;
        assert!(html.contains("<label for=\"identifier\">Identifier</label>"), "{html}");

        // Bad input: the form again with the reason; nothing created.
        let new = "/dashboard/apis/new";
        form_with_error(admin.submit(new, new, &[("identifier", API), ("name", "Things"), ("token_lifetime", "soon")]).await, "token_lifetime must be a whole number of seconds").await;
        form_with_error(admin.submit(new, new, &[("identifier", API), ("name", ""), ("token_lifetime", "3600")]).await, "name must be 1 to 200 characters").await;
        form_with_error(admin.submit(new, new, &[("identifier", API), ("name", "Things"), ("signing_alg", "HS256")]).await, "signing_alg must be one of").await;
        refused_without_csrf(&admin, new, &[("identifier", API), ("name", "Things")]).await;
        let (status, _) = app.mgmt_call(Method::GET, &format!("/resource-servers/{}", urlencoding(API)), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Created, as the Management API reads it back, and audited.
        let response = admin.submit(new, new, &[
            ("identifier", API), ("name", "Things"), ("signing_alg", "PS256"),
            ("scopes", "read:things Read your things\nwrite:things\n\n"),
            ("token_lifetime", "3600"), ("token_lifetime_for_web", "600"),
            ("allow_offline_access", "true"),
        ]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let page = location(&response);
        assert!(page.ends_with("?saved=created"), "{page}");
        let (status, api) = app.mgmt_call(Method::GET, &format!("/resource-servers/{}", urlencoding(API)), None).await;
        assert_eq!(status, StatusCode::OK, "{api}");
        assert_eq!(api["name"], "Things");
        assert_eq!(api["signing_alg"], "PS256");
        assert_eq!(api["token_lifetime"], 3600);
        assert_eq!(api["token_lifetime_for_web"], 600);
        assert_eq!(api["allow_offline_access"], true);
        assert_eq!(api["skip_consent_for_verifiable_first_party_clients"], false);
        assert_eq!(api["scopes"], json!([{"value": "read:things", "description": "Read your things"}, {"value": "write:things", "description": ""}]));
        let id = api["id"].as_str().unwrap().to_owned();
        admin_event(&app, "sapi", &format!("Create resource server {id}")).await;
        form_with_error(admin.submit(new, new, &[("identifier", API), ("name", "Again")]).await, "An API with the same identifier already exists.").await;

        // Edited: the identifier cannot change; audited.
        let path = format!("/dashboard/apis/{id}");
        let html = admin.page(&page).await;
        assert!(html.contains("API created.") && html.contains("readonly"), "{html}");
        refused_without_csrf(&admin, &path, &[("name", "Mallory")]).await;
        form_with_error(admin.submit(&path, &path, &[("name", "Things"), ("token_lifetime", "600"), ("token_lifetime_for_web", "0")]).await, "token_lifetime_for_web must be between 1 and").await;
        let response = admin.submit(&path, &path, &[
            ("identifier", "https://other.example.test/"), ("name", "Things v2"), ("signing_alg", "RS256"),
            ("scopes", "read:things Read them"), ("token_lifetime", "7200"), ("token_lifetime_for_web", "600"),
            ("skip_consent_for_verifiable_first_party_clients", "true"),
        ]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, api) = app.mgmt_call(Method::GET, &format!("/resource-servers/{id}"), None).await;
        assert_eq!(api["identifier"], API, "the identifier is kept");
        assert_eq!(api["name"], "Things v2");
        assert_eq!(api["token_lifetime"], 7200);
        assert_eq!(api["allow_offline_access"], false);
        assert_eq!(api["skip_consent_for_verifiable_first_party_clients"], true);
        assert_eq!(api["scopes"], json!([{"value": "read:things", "description": "Read them"}]));
        admin_event(&app, "sapi", &format!("Update resource server {id}")).await;

        // The Management API: shown, never changed or deleted.
        let (_, all) = app.mgmt_call(Method::GET, "/resource-servers", None).await;
        let system = all.as_array().unwrap().iter().find(|a| a["is_system"] == true).unwrap().clone();
        let system_path = format!("/dashboard/apis/{}", system["id"].as_str().unwrap());
        let html = admin.page(&system_path).await;
        assert!(html.contains("can be read but not changed or deleted") && html.contains(" disabled>"), "{html}");
        for target in [system_path.clone(), format!("{system_path}/delete")] {
            let response = admin.submit(&path, &target, &[("name", "Hijacked")]).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{target}");
        }
        assert_eq!(admin.get(&format!("{system_path}/delete")).await.status(), StatusCode::FORBIDDEN);
        let (_, still) = app.mgmt_call(Method::GET, &format!("/resource-servers/{}", system["id"].as_str().unwrap()), None).await;
        assert_eq!(still["name"], system["name"]);

        // Deleted after a confirmation, audited.
        let delete = format!("{path}/delete");
        assert!(html_unescape(&admin.page(&delete).await).contains("Delete the API Things v2?"));
        refused_without_csrf(&admin, &delete, &[]).await;
        let response = admin.submit(&delete, &delete, &[]).await;
        assert_eq!(location(&response), "/dashboard/apis?deleted=1");
        let (status, _) = app.mgmt_call(Method::GET, &format!("/resource-servers/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        admin_event(&app, "sapi", &format!("Delete resource server {id}")).await;
        assert!(admin.page("/dashboard/apis?deleted=1").await.contains("API deleted."));
    }
}

fn urlencoding(s: &str) -> String {
    crate::support::urlencode(s)
}

/// The text of the element with `id` (the secret page's client id and secret).
fn element_text(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("{id}: {html}"))
        + id.len()
        + 6;
    let end = start + html[start..].find('<').unwrap();
    html[start..end].to_owned()
}

async fn machine_token(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.token_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("audience", API),
    ])
    .await
    .status()
}

both_databases! {
    async fn applications_are_created_edited_rotated_and_deleted(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::signed_in(&app).await;
        app.create_api(API, &["read:things"]).await;
        let new = "/dashboard/applications/new";
        let html = admin.page(new).await;
        for label in ["<label for=\"callbacks\">", "<label for=\"token_endpoint_auth_method\">", "value=\"client_credentials\"", "<label for=\"jwt_lifetime_in_seconds\">"] {
            assert!(html.contains(label), "{label}: {html}");
        }

        // Bad input: the form again with the reason.
        form_with_error(admin.submit(new, new, &[("name", "Billing"), ("app_type", "regular_web"), ("callbacks", "javascript:alert(1)"), ("token_endpoint_auth_method", "client_secret_post")]).await, "callbacks").await;
        form_with_error(admin.submit(new, new, &[("name", ""), ("app_type", "regular_web")]).await, "name must be 1 to 256 characters").await;
        form_with_error(admin.submit(new, new, &[("name", "Billing"), ("app_type", "regular_web"), ("jwt_lifetime_in_seconds", "0")]).await, "lifetime_in_seconds").await;
        refused_without_csrf(&admin, new, &[("name", "Billing")]).await;
        let (_, before) = app.mgmt_call(Method::GET, "/clients", None).await;

        // Created: the secret is on the answer, once, and works.
        let response = admin.submit(new, new, &[
            ("name", "Billing"), ("description", "Nightly invoices"), ("app_type", "non_interactive"),
            ("token_endpoint_auth_method", "client_secret_post"), ("grant_types", "client_credentials"),
            ("callbacks", "https://billing.example.test/callback"), ("web_origins", "https://billing.example.test"),
            ("is_first_party", "true"), ("oidc_conformant", "true"), ("jwt_alg", "RS256"), ("jwt_lifetime_in_seconds", "600"),
        ]).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let html = response.text().await.unwrap();
        assert!(html.contains("shown only this once"), "{html}");
        let id = element_text(&html, "client-id");
        let secret = element_text(&html, "client-secret");
        assert!(secret.len() >= 32, "{secret}");
        let (_, after) = app.mgmt_call(Method::GET, "/clients", None).await;
        assert_eq!(after.as_array().unwrap().len(), before.as_array().unwrap().len() + 1);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(client["name"], "Billing");
        assert_eq!(client["description"], "Nightly invoices");
        assert_eq!(client["app_type"], "non_interactive");
        assert_eq!(client["grant_types"], json!(["client_credentials"]));
        assert_eq!(client["callbacks"], json!(["https://billing.example.test/callback"]));
        assert_eq!(client["web_origins"], json!(["https://billing.example.test"]));
        assert_eq!(client["jwt_configuration"]["lifetime_in_seconds"], 600);
        assert_eq!(client["is_first_party"], true);
        let created = admin_event(&app, "sapi", &format!("Create client {id}")).await;
        assert!(!created.to_string().contains(&secret), "no secret in the log");
        app.create_client_grant(&id, API, &["read:things"]).await;
        assert_eq!(machine_token(&app, &id, &secret).await, StatusCode::OK);
        let path = format!("/dashboard/applications/{id}");
        let html = admin.page(&path).await;
        assert!(!html.contains(&secret), "the secret is never shown again");
        assert!(html.contains("value=\"Nightly invoices\""), "{html}");

        // Settings edited; a refused value leaves everything as it was.
        let settings = format!("{path}/settings");
        refused_without_csrf(&admin, &settings, &[("name", "Mallory")]).await;
        form_with_error(admin.submit(&path, &settings, &[("name", "Billing"), ("app_type", "no_such_type")]).await, "app_type").await;
        let response = admin.submit(&path, &settings, &[
            ("name", "Billing v2"), ("description", ""), ("app_type", "non_interactive"),
            ("token_endpoint_auth_method", "client_secret_basic"), ("grant_types", "client_credentials"),
            ("grant_types", "refresh_token"), ("callbacks", "https://billing.example.test/a\n https://billing.example.test/b?x=1,y"),
            ("allowed_logout_urls", "https://billing.example.test/bye"), ("jwt_alg", "RS256"), ("jwt_lifetime_in_seconds", "900"),
        ]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(admin.page(&location(&response)).await.contains("Settings saved."));
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(client["name"], "Billing v2");
        assert_eq!(client["description"], "");
        assert_eq!(client["token_endpoint_auth_method"], "client_secret_basic");
        assert_eq!(client["grant_types"], json!(["client_credentials", "refresh_token"]));
        assert_eq!(client["callbacks"], json!(["https://billing.example.test/a", "https://billing.example.test/b?x=1,y"]), "one URL a line; a comma is part of a URL");
        assert_eq!(client["allowed_logout_urls"], json!(["https://billing.example.test/bye"]));
        assert_eq!(client["is_first_party"], false, "the unticked box is a change too");
        assert_eq!(client["jwt_configuration"]["lifetime_in_seconds"], 900);
        let updated = admin_event(&app, "sapi", &format!("Update client {id}")).await;
        assert_eq!(updated["details"]["settings"]["name"], "Billing v2");
        // Back to client_secret_post for the token requests below.
        admin.submit(&path, &settings, &[("name", "Billing v2"), ("app_type", "non_interactive"), ("token_endpoint_auth_method", "client_secret_post"), ("grant_types", "client_credentials")]).await;

        // Rotated after a confirmation: the new secret once; the old one stops.
        let rotate = format!("{path}/rotate-secret");
        assert!(html_unescape(&admin.page(&rotate).await).contains("Rotate the secret of Billing v2?"));
        refused_without_csrf(&admin, &rotate, &[]).await;
        assert_eq!(machine_token(&app, &id, &secret).await, StatusCode::OK, "unchanged without the token");
        let response = admin.submit(&rotate, &rotate, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        let rotated = element_text(&html, "client-secret");
        assert_ne!(rotated, secret);
        assert_eq!(machine_token(&app, &id, &secret).await, StatusCode::UNAUTHORIZED);
        assert_eq!(machine_token(&app, &id, &rotated).await, StatusCode::OK);
        assert!(!admin.page(&path).await.contains(&rotated));
        let event = admin_event(&app, "sapi", &format!("Rotate the secret of client {id}")).await;
        assert!(!event.to_string().contains(&rotated));

        // The Management API's own client cannot be deleted.
        let (_, all) = app.mgmt_call(Method::GET, "/clients", None).await;
        let system = all.as_array().unwrap().iter().find(|c| c["client_id"] == crate::support::MGMT_CLIENT_ID).unwrap().clone();
        let system_path = format!("/dashboard/applications/{}", system["client_id"].as_str().unwrap());
        assert!(!admin.page(&system_path).await.contains("/delete\""), "no Delete button");
        let response = admin.submit(&path, &format!("{system_path}/delete"), &[]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        // Deleted after a confirmation, audited; its tokens stop.
        let delete = format!("{path}/delete");
        assert!(html_unescape(&admin.page(&delete).await).contains("Delete the application Billing v2?"));
        refused_without_csrf(&admin, &delete, &[]).await;
        let response = admin.submit(&delete, &delete, &[]).await;
        assert_eq!(location(&response), "/dashboard/applications?deleted=1");
        let (status, _) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(machine_token(&app, &id, &rotated).await, StatusCode::UNAUTHORIZED);
        let deleted = admin_event(&app, "sapi", &format!("Delete client {id}")).await;
        assert_eq!(deleted["client_name"], "Billing v2", "the event still names the deleted client");
    }
}

both_databases! {
    async fn the_logs_page_filters_and_opens_events(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::signed_in(&app).await;
        let (client_id, _, _) = app.create_client(json!({"name": "Shop"})).await;
        // Two changes by the administrator: a user created, then blocked.
        let new = "/dashboard/users/new";
        let response = admin.submit(new, new, &[("email", "cy@example.test"), ("password", "cy password 12"), ("user_id", "cy")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let block = "/dashboard/users/auth0%7Ccy/block";
        assert_eq!(admin.submit(block, block, &[]).await.status(), StatusCode::SEE_OTHER);
        let settings = format!("/dashboard/applications/{client_id}/settings");
        let response = admin.submit(&format!("/dashboard/applications/{client_id}"), &settings, &[("name", "Shop 2"), ("app_type", "regular_web"), ("token_endpoint_auth_method", "client_secret_post"), ("grant_types", "client_credentials")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);

        // Newest first.
        let html = html_unescape(&admin.page("/dashboard/logs").await);
        let update = html.find(&format!("Update client {client_id}")).expect("the client change");
        let blocked = html.find("the user was blocked").expect("the block");
        let created = html.find("Create user auth0|cy").expect("the creation");
        assert!(update < blocked && blocked < created, "newest first");
        assert!(html.contains(&format!("admin {ADMIN_EMAIL}")), "{html}");

        // Filters: type, user, client, last day.
        let html = html_unescape(&admin.page("/dashboard/logs?type=srrt").await);
        assert!(html.contains("the user was blocked") && !html.contains("Create user auth0|cy"), "{html}");
        assert!(html.contains("<option value=\"srrt\" selected>"), "the filter is kept: {html}");
        let html = html_unescape(&admin.page("/dashboard/logs?user_id=auth0%7Ccy").await);
        assert!(html.contains("the user was blocked") && html.contains("Create user auth0|cy"), "{html}");
        assert!(!html.contains("Update client"), "{html}");
        let html = html_unescape(&admin.page(&format!("/dashboard/logs?client_id={client_id}")).await);
        assert!(html.contains("Update client") && !html.contains("Create user"), "{html}");
        let html = admin.page("/dashboard/logs?until=2000-01-01").await;
        assert!(html.contains("No event matches these filters."), "{html}");
        let html = html_unescape(&admin.page("/dashboard/logs?until=2999-12-31&type=sapi").await);
        assert!(html.contains("Create user auth0|cy"), "{html}");
        let response = admin.get("/dashboard/logs?until=yesterday").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(html_unescape(&response.text().await.unwrap()).contains("is not a date"));

        // One event: every field, the actor and the receipt laid out.
        let event = admin_event(&app, "srrt", "Revoked a user's access (sessions and refresh tokens): the user was blocked").await;
        let log_id = event["log_id"].as_str().unwrap();
        let html = html_unescape(&admin.page(&format!("/dashboard/logs/{log_id}")).await);
        for words in [log_id, "srrt (Success Revocation)", "auth0|cy", "cy@example.test", "<h2>Actor</h2>", ADMIN_EMAIL, "<h2>Revocation receipt</h2>", ">refresh_tokens</dt>", ">sessions</dt>", ">reason</dt><dd>user-blocked</dd>"] {
            assert!(html.contains(words), "{words}: {html}");
        }
        assert_eq!(admin.get("/dashboard/logs/00000000000000000000nope").await.status(), StatusCode::NOT_FOUND);
    }
}
