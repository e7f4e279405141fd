//! `/authorize`'s `login_hint`, `ui_locales`, `max_age` and `prompt=login`:
//! the hint pre-fills the login page (escaped), an old or `max_age=0`
//! session must sign in again (the session is kept with a new
//! authentication time and cookie), and ID tokens carry the right
//! `auth_time`.

use std::sync::Arc;

use grantor::Clock;
use grantor_testdb::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both_databases;
use crate::support::browser::{
    authorize_path, create_user, exchange_code, get, input_value, is_consent_page, is_login_page,
    location, new_browser, post_form, query_param, set_cookie_named, sign_in_and_accept,
    submit_login, web_client,
};
use crate::support::receiver::verify_jwt_at;
use crate::support::{spawn_app_on, urlencode, AppOptions, Backend, TestApp};

const CALLBACK: &str = "https://app.example.test/callback";
const EMAIL: &str = "ann@example.test";
const PASSWORD: &str = "correct-horse-battery-staple";
/// The manual clock's start, in milliseconds.
const START_MS: i64 = 1_800_000_000_000;

struct Setup {
    app: TestApp,
    clock: Clock,
    client_id: String,
    secret: String,
    user_id: String,
}

async fn setup(db: Backend) -> Setup {
    let clock = Clock::manual(grantor_domain::Timestamp(START_MS));
    let database = Arc::new(TestDatabase::new(db).await);
    let app = spawn_app_on(
        database,
        AppOptions {
            clock: clock.clone(),
            ..AppOptions::default()
        },
    )
    .await;
    let (client_id, secret) = web_client(&app, "Hint App", &[CALLBACK]).await;
    let user_id = create_user(&app, EMAIL, PASSWORD).await;
    Setup {
        app,
        clock,
        client_id,
        secret,
        user_id,
    }
}

impl Setup {
    fn path(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs = vec![("scope", "openid")];
        pairs.extend_from_slice(extra);
        authorize_path(&self.client_id, CALLBACK, &pairs)
    }

    /// Signs in (and accepts) in `browser` for a first code.
    async fn sign_in(&self, browser: &reqwest::Client) -> String {
        let response = get(&self.app, browser, &self.path(&[])).await;
        let landing = sign_in_and_accept(&self.app, browser, response, EMAIL, PASSWORD).await;
        assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.html);
        query_param(&landing.location.unwrap(), "code").expect("code")
    }

    /// Exchanges `code`; returns the verified ID token's claims.
    async fn id_token(&self, code: &str) -> Value {
        let (status, body) = exchange_code(
            &self.app,
            &self.client_id,
            Some(&self.secret),
            code,
            CALLBACK,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        verify_jwt_at(
            &self.app.url(""),
            &self.app.issuer,
            body["id_token"].as_str().expect("id_token"),
            "JWT",
            &self.client_id,
            &["iss", "aud", "exp", "sub"],
        )
        .await
    }

    /// The user's live sessions, as the Management API shows them.
    async fn sessions(&self) -> Vec<Value> {
        let (status, body) = self
            .app
            .mgmt_call(
                Method::GET,
                &format!("/users/{}/sessions", urlencode(&self.user_id)),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["sessions"].as_array().cloned().unwrap_or_default()
    }
}

/// An instant as the Management API writes it (`2027-01-15T08:00:00.000Z`).
fn iso(ms: i64) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&format)
        .unwrap()
}

both_databases! {
    async fn login_hint_prefills_the_email_escaped_and_ui_locales_is_accepted(db: Backend) {
        let s = setup(db).await;
        let browser = new_browser();
        let response = get(&s.app, &browser, &s.path(&[("login_hint", "ann@example.test"), ("ui_locales", "fr-CA en")])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(is_login_page(&html), "{html}");
        assert_eq!(input_value(&html, "username").as_deref(), Some("ann@example.test"));
        assert!(html.contains("<html lang=\"en\">"));

        // Markup in the hint is inert: escaped inside the attribute.
        let hostile = "\"><script>alert(1)</script>";
        let html = get(&s.app, &browser, &s.path(&[("login_hint", hostile)])).await.text().await.unwrap();
        assert!(!html.contains("<script>alert(1)"), "{html}");
        assert!(!html.contains("\"><script"), "{html}");
        assert_eq!(input_value(&html, "username").as_deref(), Some(hostile));

        // Longer than an e-mail address can be: ignored, not an error.
        let long = format!("{}@example.test", "a".repeat(300));
        let response = get(&s.app, &browser, &s.path(&[("login_hint", &long)])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert_eq!(input_value(&html, "username").as_deref(), Some(""));

        // The hint decides nothing: signing in as someone else works, and
        // the hint's account is not the one signed in.
        create_user(&s.app, "bob@example.test", PASSWORD).await;
        let html = get(&s.app, &browser, &s.path(&[("login_hint", EMAIL)])).await.text().await.unwrap();
        let response = submit_login(&s.app, &browser, &html, "bob@example.test", PASSWORD).await;
        let landing = sign_in_and_accept(&s.app, &browser, response, "bob@example.test", PASSWORD).await;
        let code = query_param(&landing.location.expect("redirect"), "code").expect("code");
        let claims = s.id_token(&code).await;
        assert_ne!(claims["sub"], s.user_id.as_str());
    }
}

both_databases! {
    async fn max_age_forces_a_new_sign_in_only_when_the_session_is_older(db: Backend) {
        let s = setup(db).await;
        let browser = new_browser();
        let code = s.sign_in(&browser).await;
        let first = s.id_token(&code).await;
        assert_eq!(first["auth_time"], START_MS / 1000);

        // Fresh enough: a code at once, auth_time unchanged.
        s.clock.advance_seconds(100);
        let response = get(&s.app, &browser, &s.path(&[("max_age", "300")])).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let code = query_param(&location(&response).unwrap(), "code").expect("code");
        assert_eq!(s.id_token(&code).await["auth_time"], START_MS / 1000);

        // Older than max_age: the login page, despite the live session.
        s.clock.advance_seconds(300);
        let response = get(&s.app, &browser, &s.path(&[("max_age", "300"), ("login_hint", EMAIL)])).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(is_login_page(&html), "{html}");
        assert_eq!(input_value(&html, "username").as_deref(), Some(EMAIL));
        let before = s.sessions().await;
        assert_eq!(before.len(), 1);
        let session_id = before[0]["id"].as_str().unwrap().to_owned();

        let response = submit_login(&s.app, &browser, &html, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert!(set_cookie_named(&response, "grantor_session").is_some(), "a new cookie secret");
        let code = query_param(&location(&response).unwrap(), "code").expect("code");
        let now_ms = START_MS + 400_000;
        let claims = s.id_token(&code).await;
        assert_eq!(claims["auth_time"], now_ms / 1000);
        assert_eq!(claims["sid"], session_id.as_str(), "the same session");

        // One session, kept, its authentication time moved (store and API).
        let after = s.sessions().await;
        assert_eq!(after.len(), 1, "{after:?}");
        assert_eq!(after[0]["id"], session_id.as_str());
        assert_eq!(after[0]["authenticated_at"], iso(now_ms).as_str());
        assert_eq!(after[0]["last_interacted_at"], iso(now_ms).as_str());
        assert_eq!(after[0]["created_at"], before[0]["created_at"]);
        assert_eq!(after[0]["authentication"]["methods"][0]["timestamp"], iso(now_ms).as_str());
        let store = s.app.store().await;
        let record = store.session(&session_id.as_str().into()).await.unwrap().unwrap();
        assert_eq!(record.authenticated_at.0, now_ms);
        store.close().await;
    }
}

both_databases! {
    async fn max_age_zero_and_prompt_login_always_ask_and_the_old_cookie_dies(db: Backend) {
        let s = setup(db).await;
        let (browser, jar) = browser_with_jar();
        s.sign_in(&browser).await;
        // Another client holding a copy of the session cookie from before.
        let old_cookie = session_cookie(&s.app, &jar);
        let stolen = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let with_old = || stolen.get(s.app.url(&s.path(&[]))).header("cookie", old_cookie.clone()).send();
        assert_eq!(with_old().await.unwrap().status(), StatusCode::SEE_OTHER, "the copy works before");

        for extra in [[("max_age", "0")], [("prompt", "login")]] {
            s.clock.advance_seconds(5);
            let html = get(&s.app, &browser, &s.path(&extra)).await.text().await.unwrap();
            assert!(is_login_page(&html), "{extra:?}: {html}");
            let response = submit_login(&s.app, &browser, &html, EMAIL, PASSWORD).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{extra:?}");
            let code = query_param(&location(&response).unwrap(), "code").expect("code");
            let claims = s.id_token(&code).await;
            assert_eq!(claims["auth_time"].as_i64().unwrap(), s.clock.now().unix_seconds(), "{extra:?}");
        }
        assert_eq!(s.sessions().await.len(), 1);
        // The cookie secret was replaced at the new sign-in: the old copy
        // leads to the login page.
        assert_ne!(session_cookie(&s.app, &jar), old_cookie);
        let response = with_old().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(is_login_page(&response.text().await.unwrap()));

        // prompt=none with max_age=0 cannot show a page: login_required.
        let response = get(&s.app, &browser, &s.path(&[("prompt", "none"), ("max_age", "0")])).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let to = location(&response).unwrap();
        assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"), "{to}");
        // prompt=none within max_age: a code.
        let response = get(&s.app, &browser, &s.path(&[("prompt", "none"), ("max_age", "60")])).await;
        assert!(query_param(&location(&response).unwrap(), "code").is_some());
    }
}

both_databases! {
    async fn a_forced_sign_in_with_a_wrong_password_gives_nothing(db: Backend) {
        let s = setup(db).await;
        let browser = new_browser();
        s.sign_in(&browser).await;
        let session_id = s.sessions().await[0]["id"].as_str().unwrap().to_owned();
        s.clock.advance_seconds(10);
        let html = get(&s.app, &browser, &s.path(&[("prompt", "login")])).await.text().await.unwrap();
        assert!(is_login_page(&html));
        let response = submit_login(&s.app, &browser, &html, EMAIL, "wrong password").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookie_named(&response, "grantor_session").is_none());
        let again = response.text().await.unwrap();
        assert!(is_login_page(&again) && again.contains("Wrong email or password"), "{again}");

        // Posting the consent form for the same request with the old
        // session does not skip the sign-in: the login page again, no code.
        let csrf = input_value(&html, "csrf").unwrap();
        let request = input_value(&html, "request").unwrap();
        let response = post_form(&s.app, &browser, "/u/consent", &[("csrf", &csrf), ("request", &request), ("decision", "accept")]).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page = response.text().await.unwrap();
        assert!(is_login_page(&page) && !is_consent_page(&page), "{page}");

        // The session's authentication time did not move.
        let sessions = s.sessions().await;
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["id"], session_id.as_str());
        assert_eq!(sessions[0]["authenticated_at"], iso(START_MS).as_str());

        // The right password finishes the same request.
        let response = submit_login(&s.app, &browser, &again, EMAIL, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let code = query_param(&location(&response).unwrap(), "code").expect("code");
        assert_eq!(s.id_token(&code).await["auth_time"], START_MS / 1000 + 10);
    }
}

both_databases! {
    async fn a_max_age_that_is_not_a_non_negative_integer_goes_back_as_invalid_request(db: Backend) {
        let s = setup(db).await;
        let browser = new_browser();
        for bad in ["-1", "abc", "1.5", "1e3", "+5", " 5", "0x10"] {
            let response = get(&s.app, &browser, &s.path(&[("max_age", bad), ("state", "st-1")])).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "{bad}");
            let to = location(&response).unwrap();
            assert!(to.starts_with(CALLBACK), "{to}");
            assert_eq!(query_param(&to, "error").as_deref(), Some("invalid_request"), "{bad}: {to}");
            assert_eq!(query_param(&to, "state").as_deref(), Some("st-1"));
            assert!(query_param(&to, "error_description").unwrap().contains("max_age"));
        }
        // A huge number is a number: no limit in practice.
        let response = get(&s.app, &browser, &s.path(&[("max_age", "99999999999999999999999999")])).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(is_login_page(&response.text().await.unwrap()));
    }
}

/// A browser like `new_browser` whose cookie jar the test can read.
fn browser_with_jar() -> (reqwest::Client, Arc<reqwest::cookie::Jar>) {
    crate::support::tls();
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    (client, jar)
}

/// `grantor_session=…` as the jar holds it for the app.
fn session_cookie(app: &TestApp, jar: &reqwest::cookie::Jar) -> String {
    use reqwest::cookie::CookieStore;
    let url = reqwest::Url::parse(&app.url("/authorize")).unwrap();
    let header = jar.cookies(&url).expect("cookies");
    header
        .to_str()
        .unwrap()
        .split("; ")
        .find(|c| c.starts_with("grantor_session="))
        .expect("a session cookie")
        .to_owned()
}

/// `name=value` of a `Set-Cookie` line.
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap_or_default()
}

both_databases! {
    /// A request that asks for a fresh sign-in (`max_age=0`), started with
    /// no session at all, cannot be finished afterwards with an older
    /// session's cookie: its consent form, posted with that cookie, gets the
    /// login page and no code.
    async fn an_older_session_added_after_the_start_cannot_finish_a_forced_request(db: Backend) {
        let s = setup(db).await;
        // A session signed in at the start of the clock; its cookie kept.
        let owner = new_browser();
        let html = get(&s.app, &owner, &s.path(&[])).await.text().await.unwrap();
        let response = submit_login(&s.app, &owner, &html, EMAIL, PASSWORD).await;
        let session_cookie = set_cookie_named(&response, "grantor_session").expect("a session cookie");
        s.clock.advance_seconds(60);
        // The forced request, begun by a browser without any session.
        let other = new_browser();
        let response = get(&s.app, &other, &s.path(&[("max_age", "0")])).await;
        let csrf_cookie = set_cookie_named(&response, "grantor_csrf").expect("a CSRF cookie");
        let html = response.text().await.unwrap();
        assert!(is_login_page(&html), "{html}");
        let csrf = input_value(&html, "csrf").unwrap();
        let request = input_value(&html, "request").unwrap();
        // The old session's cookie added for the consent post.
        let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let response = raw
            .post(s.app.url("/u/consent"))
            .header("cookie", format!("{}; {}", cookie_pair(&csrf_cookie), cookie_pair(&session_cookie)))
            .form(&[("csrf", csrf.as_str()), ("request", request.as_str()), ("decision", "accept")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{:?}", response.headers().get("location"));
        let page = response.text().await.unwrap();
        assert!(is_login_page(&page), "{page}");
    }
}
