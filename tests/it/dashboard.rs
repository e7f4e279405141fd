//! The dashboard, driven like a browser without JavaScript (forms read from
//! the HTML and posted back): sign-in, CSRF, headers, users, the user tabs
//! and their revocations, applications, tenant settings, audit events.
//! The same scenarios run in headless Chromium in `e2e/` (`scripts/e2e-tests`).

use reqwest::header::LOCATION;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rt, setup, API, EMAIL, PASSWORD};
use crate::support::browser::{
    authorize_code_with, create_user, exchange_code, html_unescape, input_value, new_browser,
    set_cookie_named, web_client,
};
use crate::support::{
    claims, spawn_app, spawn_app_on, AppOptions, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD,
};

/// A browser signed in (or not yet) to the dashboard.
pub(crate) struct Admin<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
}

impl<'a> Admin<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            http: new_browser(),
        }
    }

    pub(crate) async fn signed_in(app: &'a TestApp) -> Admin<'a> {
        let admin = Self::new(app);
        let response = admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        admin
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.http.get(self.app.url(path)).send().await.expect("GET")
    }

    /// GET `path`, asserting 200; the HTML.
    pub(crate) async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        let status = response.status();
        let html = response.text().await.expect("page");
        assert_eq!(status, StatusCode::OK, "GET {path}: {html}");
        html
    }

    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.http
            .post(self.app.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }

    /// Posts `fields` and the CSRF token of the form on the page at `from`.
    pub(crate) async fn submit(
        &self,
        from: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let html = self.page(from).await;
        let csrf = input_value(&html, "csrf").expect("a csrf field");
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    async fn sign_in(&self, email: &str, password: &str) -> Response {
        let html = self.page("/dashboard/login").await;
        let csrf = input_value(&html, "csrf").expect("csrf on the sign-in page");
        self.post(
            "/dashboard/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}

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

async fn tenant_flag(app: &TestApp) -> bool {
    let (status, body) = app.mgmt_call(Method::GET, "/tenants/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["flags"]["revoke_refresh_token_grant"]
        .as_bool()
        .expect("flag")
}

/// Audit events of one type, newest first.
async fn events(app: &TestApp, type_code: &str) -> Vec<Value> {
    let q = format!("type:\"{type_code}\"");
    let query = serde_urlencoded::to_string([("q", q.as_str())]).unwrap();
    let (status, body) = app
        .mgmt_call(Method::GET, &format!("/logs?{query}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().cloned().unwrap_or_default()
}

fn by_admin(event: &Value) -> bool {
    event["details"]["actor"] == json!({"type": "admin", "email": ADMIN_EMAIL})
}

both_databases! {
    async fn pages_need_a_signed_in_administrator(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::new(&app);
        for path in ["/dashboard", "/dashboard/users", "/dashboard/applications", "/dashboard/tenant-settings/advanced"] {
            let response = admin.get(path).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
            assert!(location(&response).starts_with("/dashboard/login"), "{path}");
        }
        let response = admin.get("/dashboard/users?q=ann").await;
        assert_eq!(location(&response), "/dashboard/login?next=%2Fdashboard%2Fusers%3Fq%3Dann");

        let html = admin.page("/dashboard/login").await;
        for words in ["<label for=\"email\">Email</label>", "<label for=\"password\">Password</label>", ">Sign in</button>"] {
            assert!(html.contains(words), "{words}: {html}");
        }

        // Wrong password, unknown e-mail, an end user's credentials: refused alike.
        create_user(&app, "ann@example.test", "ann-password-1").await;
        for (email, password) in [(ADMIN_EMAIL, "wrong password"), ("nobody@example.test", ADMIN_PASSWORD), ("ann@example.test", "ann-password-1")] {
            let response = admin.sign_in(email, password).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert!(set_cookie_named(&response, "grantor_admin").is_none());
            let html = response.text().await.unwrap();
            assert!(html.contains("Wrong email or password."), "{html}");
        }
        assert_eq!(admin.get("/dashboard/users").await.status(), StatusCode::SEE_OTHER);
        assert!(events(&app, "f").await.len() >= 3, "failed sign-ins are audited");

        // The bootstrap administrator signs in (e-mail case does not matter),
        // and lands where it was going.
        let html = admin.page("/dashboard/login?next=%2Fdashboard%2Fapplications").await;
        let csrf = input_value(&html, "csrf").unwrap();
        let next = input_value(&html, "next").unwrap();
        let response = admin.post("/dashboard/login", &[("csrf", &csrf), ("next", &next), ("email", &ADMIN_EMAIL.to_uppercase()), ("password", ADMIN_PASSWORD)]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/dashboard/applications");
        let cookie = set_cookie_named(&response, "grantor_admin").expect("admin cookie");
        for attribute in ["Path=/dashboard", "HttpOnly", "SameSite=Strict", "Max-Age="] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(set_cookie_named(&response, "grantor_session").is_none(), "not an end-user session");
        let html = admin.page("/dashboard/users").await;
        assert!(html.contains(&format!("Signed in as <strong>{ADMIN_EMAIL}</strong>")), "{html}");
        assert!(html.contains(">User Management</h2>") && html.contains(">Users</a>"), "{html}");
        assert!(html.contains(">Applications</a>") && html.contains(">Tenant Settings</a>"), "{html}");
        assert!(events(&app, "s").await.iter().any(by_admin), "the sign-in is audited");

        // An open redirect is not possible through `next`.
        let response = admin.get("/dashboard/login?next=https%3A%2F%2Fevil.example%2F").await;
        assert_eq!(location(&response), "/dashboard/users");
    }
}

both_databases! {
    async fn every_post_needs_the_csrf_token(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::signed_in(&app).await;
        let (id, _, _) = app.create_client(json!({"name": "Shop"})).await;
        let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("/dashboard/tenant-settings/advanced".to_owned(), vec![("revoke_refresh_token_grant", "true")]),
            (format!("/dashboard/applications/{id}"), vec![("rotation_type", "rotating"), ("expiration_type", "expiring"), ("leeway", "5"), ("token_lifetime", "3600"), ("idle_token_lifetime", "600")]),
            ("/dashboard/logout".to_owned(), vec![]),
            ("/dashboard/login".to_owned(), vec![("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)]),
            ("/dashboard/users/auth0%7Cx/devices/y/revoke".to_owned(), vec![]),
        ];
        for (path, fields) in &forms {
            // No token at all, then a wrong one.
            let response = admin.post(path, fields).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
            let html = response.text().await.unwrap();
            assert!(html.contains("not sent from this site"), "{html}");
            let mut with_wrong = fields.clone();
            with_wrong.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
            assert_eq!(admin.post(path, &with_wrong).await.status(), StatusCode::FORBIDDEN, "{path}");
        }
        // Nothing happened: flag off, client unchanged, still signed in.
        assert!(!tenant_flag(&app).await);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(client["refresh_token"]["rotation_type"], "non-rotating");
        admin.page("/dashboard/users").await;

        // A form another site made the browser send is refused even with the token.
        let html = admin.page("/dashboard/tenant-settings/advanced").await;
        let csrf = input_value(&html, "csrf").unwrap();
        let response = admin.http.post(app.url("/dashboard/tenant-settings/advanced"))
            .header("sec-fetch-site", "cross-site")
            .form(&[("csrf", csrf.as_str()), ("revoke_refresh_token_grant", "true")])
            .send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(!tenant_flag(&app).await);

        // Without a session, a POST with a valid token goes to the sign-in page.
        let stranger = Admin::new(&app);
        let html = stranger.page("/dashboard/login").await;
        let csrf = input_value(&html, "csrf").unwrap();
        let response = stranger.post("/dashboard/tenant-settings/advanced", &[("csrf", &csrf), ("revoke_refresh_token_grant", "true")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(!tenant_flag(&app).await);
    }
}

both_databases! {
    async fn pages_are_not_cached_framed_or_scripted(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::signed_in(&app).await;
        for path in ["/dashboard/users", "/dashboard/login", "/dashboard/nope"] {
            let response = admin.get(path).await;
            let headers = response.headers();
            assert_eq!(headers["cache-control"], "no-store", "{path}");
            assert_eq!(headers["x-frame-options"], "DENY", "{path}");
            let csp = headers["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
            assert_eq!(headers["x-content-type-options"], "nosniff");
        }
        assert_eq!(admin.get("/dashboard/nope").await.status(), StatusCode::NOT_FOUND);
        // A malformed query is not the framework's plain-text error.
        admin.page("/dashboard/users?page=abc").await;
        let user_id = create_user(&app, "q@example.test", "a-password-123").await;
        admin.page(&format!("/dashboard/users/{}/devices?page=-3&tokens=x&revoked=device", encode(&user_id))).await;
        let css = admin.get("/dashboard/static/dashboard.css").await;
        assert_eq!(css.status(), StatusCode::OK);
        assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
        let html = admin.page("/dashboard/users").await;
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/dashboard/static/dashboard.css\">"));
        assert!(!html.contains("<script") && !html.contains("https://"), "no script, nothing from elsewhere");
    }
}

both_databases! {
    async fn users_are_paged_and_found_by_email(db: Backend) {
        let app = spawn_app(db).await;
        for i in 0..27 {
            create_user(&app, &format!("user{i:02}@example.test"), "a-password-123").await;
        }
        create_user(&app, "Ann.Lee@Example.test", "a-password-123").await;
        let admin = Admin::signed_in(&app).await;
        let html = admin.page("/dashboard/users").await;
        assert!(html.contains("<label for=\"q\">Search by email</label>"), "{html}");
        assert!(html.contains("Showing 1–25 of 28"), "{html}");
        assert!(html.contains("href=\"/dashboard/users?page=1\">Next</a>"), "{html}");
        let html = admin.page("/dashboard/users?page=1").await;
        assert!(html.contains("Showing 26–28 of 28") && html.contains(">Previous</a>"), "{html}");

        let html = admin.page("/dashboard/users?q=ANN.LEE").await;
        assert!(html.contains("ann.lee@example.test") && html.contains("Showing 1–1 of 1"), "{html}");
        assert!(!html.contains("user00@"), "{html}");
        let html = admin.page("/dashboard/users?q=%25").await;
        assert!(html.contains("No user's email contains “%”."), "LIKE wildcards are literal: {html}");

        // The user's page: Details, and the tabs by their names.
        let (_, users) = app.mgmt_call(Method::GET, "/users-by-email?email=ann.lee%40example.test", None).await;
        let user_id = users[0]["user_id"].as_str().unwrap().to_owned();
        let html = admin.page(&format!("/dashboard/users/{}", encode(&user_id))).await;
        for words in [">Details</a>", ">Authorized Applications</a>", ">Sessions</a>", ">Devices</a>", &user_id, "ann.lee@example.test"] {
            assert!(html.contains(words), "{words}: {html}");
        }
        assert_eq!(admin.get("/dashboard/users/auth0%7Cnobody").await.status(), StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn user_data_is_escaped(db: Backend) {
        let app = spawn_app(db).await;
        let user_id = create_user(&app, "eve@example.test", "a-password-123").await;
        let (status, body) = app.mgmt_call(Method::PATCH, &format!("/users/{user_id}"), Some(json!({"name": "<script>alert(1)</script>"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let admin = Admin::signed_in(&app).await;
        for path in ["/dashboard/users".to_owned(), format!("/dashboard/users/{}", encode(&user_id))] {
            let html = admin.page(&path).await;
            assert!(!html.contains("<script>"), "{html}");
            assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"), "{html}");
        }
    }
}

both_databases! {
    async fn the_tenant_toggle_is_the_management_flag(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::signed_in(&app).await;
        let html = admin.page("/dashboard/tenant-settings/advanced").await;
        assert!(html.contains("<label for=\"revoke_refresh_token_grant\">Refresh Token Revocation Deletes Grant</label>"), "{html}");
        assert!(html.contains(">Advanced</a>"), "{html}");
        assert!(!html.contains(" checked>"), "off by default: {html}");

        let response = admin.submit("/dashboard/tenant-settings/advanced", "/dashboard/tenant-settings/advanced", &[("revoke_refresh_token_grant", "true")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(tenant_flag(&app).await, "the Management API sees it at once");
        let html = admin.page(&location(&response)).await;
        assert!(html.contains("Tenant settings saved.") && html.contains(" checked>"), "{html}");
        let event = events(&app, "sapi").await.into_iter().find(by_admin).expect("audited with the administrator");
        assert_eq!(event["details"]["flags"]["revoke_refresh_token_grant"], true);

        // Off again (an unchecked box sends nothing), and the API's change shows here.
        admin.submit("/dashboard/tenant-settings/advanced", "/dashboard/tenant-settings/advanced", &[]).await;
        assert!(!tenant_flag(&app).await);
        app.mgmt_call(Method::PATCH, "/tenants/settings", Some(json!({"flags": {"revoke_refresh_token_grant": true}}))).await;
        assert!(admin.page("/dashboard/tenant-settings/advanced").await.contains(" checked>"));
    }
}

both_databases! {
    async fn application_settings_are_validated_like_the_management_api(db: Backend) {
        let app = spawn_app(db).await;
        let (id, _, _) = app.create_client(json!({"name": "Shop", "app_type": "regular_web"})).await;
        let admin = Admin::signed_in(&app).await;
        let html = admin.page("/dashboard/applications").await;
        assert!(html.contains(&format!("href=\"/dashboard/applications/{id}\">Shop</a>")), "{html}");
        let path = format!("/dashboard/applications/{id}");
        let html = admin.page(&path).await;
        for words in ["<label for=\"rotation_type\">Rotation</label>", "<label for=\"leeway\">", "<label for=\"expiration_type\">Expiration</label>", "<label for=\"token_lifetime\">", "<label for=\"idle_token_lifetime\">", ">Save</button>"] {
            assert!(html.contains(words), "{words}: {html}");
        }

        let good = [("rotation_type", "rotating"), ("leeway", "30"), ("expiration_type", "expiring"), ("token_lifetime", "86400"), ("idle_token_lifetime", "3600")];
        let response = admin.submit(&path, &path, &good).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(client["refresh_token"], json!({
            "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 30,
            "token_lifetime": 86400, "infinite_token_lifetime": false,
            "idle_token_lifetime": 3600, "infinite_idle_token_lifetime": false,
        }));
        assert!(admin.page(&location(&response)).await.contains("Refresh token settings saved."));
        let event = events(&app, "sapi").await.into_iter().find(by_admin).expect("audited");
        assert_eq!(event["description"], format!("Update client {id}"));
        assert_eq!(event["client_id"], id.as_str(), "the Logs page's client filter finds it");

        // What the Management API refuses, the dashboard refuses with the same words.
        for (field, value, patch) in [
            ("leeway", "86401", json!({"leeway": 86401})),
            ("idle_token_lifetime", "90000", json!({"idle_token_lifetime": 90000})),
            ("token_lifetime", "0", json!({"token_lifetime": 0})),
        ] {
            let (status, api) = app.mgmt_call(Method::PATCH, &format!("/clients/{id}"), Some(json!({"refresh_token": patch}))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{api}");
            let mut fields = good.to_vec();
            fields.retain(|(k, _)| *k != field);
            fields.push((field, value));
            let response = admin.submit(&path, &path, &fields).await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{field}");
            let html = html_unescape(&response.text().await.unwrap());
            let api_message = api["message"].as_str().unwrap();
            let domain_message = api_message.rsplit(": ").next().unwrap();
            assert!(html.contains(domain_message), "{domain_message} in {html}");
            assert!(html.contains(&format!("value=\"{value}\"")), "the form keeps what was typed");
        }
        let response = admin.submit(&path, &path, &[("rotation_type", "sometimes")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let response = admin.submit(&path, &path, &[("leeway", "ten")]).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let (_, after) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(after["refresh_token"], client["refresh_token"], "nothing was written");

        // Infinite lifetimes and non-expiring tokens.
        let response = admin.submit(&path, &path, &[("rotation_type", "non-rotating"), ("leeway", "0"), ("expiration_type", "non-expiring"), ("token_lifetime", "86400"), ("infinite_token_lifetime", "true"), ("idle_token_lifetime", "3600"), ("infinite_idle_token_lifetime", "true")]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(client["refresh_token"]["expiration_type"], "non-expiring");
        assert_eq!(client["refresh_token"]["infinite_token_lifetime"], true);
        assert_eq!(admin.get("/dashboard/applications/nope").await.status(), StatusCode::NOT_FOUND);

        // The back-channel logout URL: set, refused with the API's words, cleared.
        let mut with_url = good.to_vec();
        with_url.push(("backchannel_logout_url", "https://shop.example/logout"));
        let response = admin.submit(&path, &path, &with_url).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(client["oidc_logout"]["backchannel_logout_urls"], json!(["https://shop.example/logout"]));
        assert!(admin.page(&path).await.contains("value=\"https://shop.example/logout\""));
        let mut bad = good.to_vec();
        bad.push(("backchannel_logout_url", "javascript:alert(1)"));
        let response = admin.submit(&path, &path, &bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = html_unescape(&response.text().await.unwrap());
        assert!(html.contains("oidc_logout.backchannel_logout_urls[0]"), "{html}");
        let (_, unchanged) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert_eq!(unchanged["oidc_logout"], client["oidc_logout"], "nothing was written");
        let mut cleared = good.to_vec();
        cleared.push(("backchannel_logout_url", ""));
        assert_eq!(admin.submit(&path, &path, &cleared).await.status(), StatusCode::SEE_OTHER);
        let (_, client) = app.mgmt_call(Method::GET, &format!("/clients/{id}"), None).await;
        assert!(client.get("oidc_logout").is_none(), "{client}");
    }
}

/// The grant, session and refresh-token ids shown on a tab, from its Revoke buttons.
fn revoke_links(html: &str, tab: &str) -> Vec<String> {
    let needle = format!("/{tab}/");
    html.match_indices("action=\"")
        .filter_map(|(at, _)| {
            let rest = &html[at + 8..];
            let action = &rest[..rest.find('"')?];
            (action.contains(&needle) && action.ends_with("/revoke")).then(|| action.to_owned())
        })
        .collect()
}

both_databases! {
    async fn revoking_an_authorized_application_revokes_its_grant_and_tokens(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let first = password_grant(&app, &id, &secret, "openid read:orders offline_access").await;
        let second = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let user_id = claims(first["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let admin = Admin::signed_in(&app).await;
        let tab = format!("/dashboard/users/{}/authorized-applications", encode(&user_id));
        let html = admin.page(&tab).await;
        for words in ["mobile", "Orders", API, "read:orders", "offline_access", ">Revoke</button>", "Date granted"] {
            assert!(html.contains(words), "{words}: {html}");
        }
        let links = revoke_links(&html, "authorized-applications");
        assert_eq!(links.len(), 1, "{html}");

        // The confirmation says what will go, and changes nothing.
        let html = admin.page(&links[0]).await;
        assert!(html.contains("This will revoke the grant and 2 refresh tokens on 1 device."), "{html}");
        assert!(html.contains(">Revoke</button>") && html.contains(">Cancel</a>"), "{html}");
        assert_eq!(refresh(&app, &id, &secret, &rt(&second)).await.0, StatusCode::OK);

        let response = admin.submit(&links[0], &links[0], &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        for body in [&first, &second] {
            let (status, error) = refresh(&app, &id, &secret, &rt(body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
            assert_eq!(error["error"], "invalid_grant");
        }
        let html = admin.page(&location(&response)).await;
        assert!(html.contains("Authorized application revoked: 2 refresh tokens on 1 device."), "{html}");
        assert!(html.contains("has not authorized any application"), "the grant is gone: {html}");
        let event = events(&app, "srrt").await.into_iter().find(by_admin).expect("audited with the administrator");
        assert_eq!(event["details"]["reason"], "dashboard");

        // A second press finds nothing to revoke.
        let html = admin.page(&tab).await;
        let csrf = input_value(&html, "csrf").unwrap();
        let response = admin.post(&links[0], &[("csrf", &csrf)]).await;
        assert!(location(&response).ends_with("revoked=none"), "{}", location(&response));
        // Signing in again records a new grant, whose tokens work.
        let again = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        assert_eq!(refresh(&app, &id, &secret, &rt(&again)).await.0, StatusCode::OK);
    }
}

both_databases! {
    async fn revoking_a_device_revokes_that_refresh_token_only(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let first = password_grant(&app, &id, &secret, "openid read:orders offline_access").await;
        let second = password_grant(&app, &id, &secret, "read:orders offline_access").await;
        let user_id = claims(first["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();
        let admin = Admin::signed_in(&app).await;
        let tab = format!("/dashboard/users/{}/devices", encode(&user_id));
        let html = admin.page(&tab).await;
        for words in ["Device name", "Application", "Created", "Last used", "mobile"] {
            assert!(html.contains(words), "{words}: {html}");
        }
        let links = revoke_links(&html, "devices");
        assert_eq!(links.len(), 2, "{html}");
        let html = admin.page(&links[0]).await;
        assert!(html.contains("This will revoke 1 refresh token on 1 device."), "{html}");
        let response = admin.submit(&links[0], &links[0], &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let outcomes = [
            refresh(&app, &id, &secret, &rt(&first)).await.0,
            refresh(&app, &id, &secret, &rt(&second)).await.0,
        ];
        assert_eq!(outcomes.iter().filter(|s| **s == StatusCode::FORBIDDEN).count(), 1, "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{outcomes:?}");
        let html = admin.page(&location(&response)).await;
        assert!(html.contains("Device revoked: 1 refresh token on 1 device."), "{html}");
        assert_eq!(revoke_links(&html, "devices").len(), 1, "{html}");
        // Someone else's token cannot be revoked through this user's page.
        let other = create_user(&app, "other@example.test", "a-password-123").await;
        let theirs = links[1].replace(&encode(&user_id), &encode(&other));
        assert_eq!(admin.get(&theirs).await.status(), StatusCode::NOT_FOUND);
    }
}

both_databases! {
    async fn revoking_a_session_signs_it_out_and_revokes_its_tokens(db: Backend) {
        let app = spawn_app(db).await;
        setup(&app, json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"})).await;
        let callback = "https://web.example.test/callback";
        let (web_id, web_secret) = web_client(&app, "Web shop", &[callback]).await;
        let browser = new_browser();
        let code = authorize_code_with(&app, &browser, &web_id, callback, &[("scope", "openid offline_access read:orders"), ("audience", API)], EMAIL, PASSWORD).await;
        let (status, tokens) = exchange_code(&app, &web_id, Some(&web_secret), &code, callback, None).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let user_id = claims(tokens["access_token"].as_str().unwrap())["sub"].as_str().unwrap().to_owned();

        let admin = Admin::signed_in(&app).await;
        let tab = format!("/dashboard/users/{}/sessions", encode(&user_id));
        let html = admin.page(&tab).await;
        for words in ["Device", "IP", "Last activity", "Web shop", "127.0.0.1"] {
            assert!(html.contains(words), "{words}: {html}");
        }
        let links = revoke_links(&html, "sessions");
        assert_eq!(links.len(), 1, "{html}");
        let html = admin.page(&links[0]).await;
        assert!(html.contains("This will revoke 1 session and 1 refresh token on 1 device."), "{html}");
        let response = admin.submit(&links[0], &links[0], &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (status, _) = refresh(&app, &web_id, &web_secret, &rt(&tokens)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let html = admin.page(&location(&response)).await;
        assert!(html.contains("Session revoked: 1 session and 1 refresh token on 1 device."), "{html}");
        assert!(html.contains("no active session"), "{html}");
        // The browser's session is over: /authorize asks it to sign in again.
        let response = browser.get(app.url(&crate::support::browser::authorize_path(&web_id, callback, &[("scope", "openid")]))).send().await.unwrap();
        let html = response.text().await.unwrap();
        assert!(crate::support::browser::is_login_page(&html), "{html}");
    }
}

both_databases! {
    async fn admin_sessions_survive_restarts_and_end_at_sign_out(db: Backend) {
        let app = spawn_app(db).await;
        let admin = Admin::new(&app);
        let response = admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let cookie = set_cookie_named(&response, "grantor_admin").unwrap();
        let secret = cookie.split(';').next().unwrap().to_owned();
        let db = app.db.clone();
        app.stop().await;

        // Another process on the same database knows the session.
        let app = spawn_app_on(db, AppOptions::default()).await;
        let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let with_cookie = |path: &str| plain.get(app.url(path)).header("cookie", secret.clone()).send();
        assert_eq!(with_cookie("/dashboard/users").await.unwrap().status(), StatusCode::OK);

        let html = with_cookie("/dashboard/users").await.unwrap().text().await.unwrap();
        let csrf = input_value(&html, "csrf").unwrap();
        let response = plain.post(app.url("/dashboard/logout"))
            .header("cookie", format!("{secret}; grantor_csrf={csrf}"))
            .form(&[("csrf", csrf.as_str())]).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/dashboard/login?signed_out=1");
        assert!(set_cookie_named(&response, "grantor_admin").unwrap().contains("Max-Age=0"));
        assert_eq!(with_cookie("/dashboard/users").await.unwrap().status(), StatusCode::SEE_OTHER, "the old cookie is dead");
        assert!(events(&app, "slo").await.iter().any(by_admin), "sign-out is audited");
    }
}

both_databases! {
    async fn repeated_wrong_passwords_pause_sign_in_and_sessions_idle_out(db: Backend) {
        let clock = grantor::Clock::manual(grantor_domain::Timestamp(1_800_000_000_000));
        let database = std::sync::Arc::new(crate::support::TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions { clock: clock.clone(), ..AppOptions::default() }).await;
        let admin = Admin::new(&app);
        for _ in 0..10 {
            let html = admin.sign_in(ADMIN_EMAIL, "wrong password").await.text().await.unwrap();
            assert!(html.contains("Wrong email or password."), "{html}");
        }
        let response = admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookie_named(&response, "grantor_admin").is_none());
        assert!(response.text().await.unwrap().contains("Too many failed sign-ins"));

        // Fifteen minutes later the right password works again.
        clock.advance_seconds(15 * 60 + 1);
        assert_eq!(admin.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(), StatusCode::SEE_OTHER);
        admin.page("/dashboard/users").await;

        // Activity keeps the session; an hour without a request ends it.
        clock.advance_seconds(50 * 60);
        admin.page("/dashboard/users").await;
        clock.advance_seconds(50 * 60);
        admin.page("/dashboard/users").await;
        clock.advance_seconds(61 * 60);
        assert_eq!(admin.get("/dashboard/users").await.status(), StatusCode::SEE_OTHER);
    }
}
