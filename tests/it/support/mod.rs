//! `spawn_app()` and `TestApp`: the real server on port 0, on a fresh SQLite
//! file or a fresh PostgreSQL schema, with typed helpers for the APIs.

pub mod browser;
pub mod certificate;
pub mod fuzz;
pub mod process;
pub mod receiver;

use grantor::config::BootstrapCredentials;
use grantor::{Application, Clock, Config};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const MGMT_CLIENT_ID: &str = "test-management-client";
pub const MGMT_CLIENT_SECRET: &str = "test-management-secret-0123456789abcdef0123456789abcdef";
pub const ADMIN_EMAIL: &str = "admin@example.test";
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// The per-test database (a temporary SQLite file or a fresh PostgreSQL
/// schema, removed at the end) comes from the `grantor-testdb` crate, which the
/// store's conformance suite and the benchmarks use too.
pub use grantor_testdb::{Backend, TestDatabase};

/// Declares a black-box test once and runs it on both databases: it expands to
/// a module with a `sqlite` and a `postgres` test. Without
/// `GRANTOR_TEST_POSTGRES_URL` the PostgreSQL one prints that it skipped.
#[macro_export]
macro_rules! both_databases {
    ($(#[$meta:meta])* async fn $name:ident($db:ident: Backend) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(#[$meta])*
            async fn run($db: $crate::support::Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::support::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if grantor_testdb::postgres_url_or_skip().is_none() {
                    return;
                }
                run($crate::support::Backend::Postgres).await
            }
        }
    };
}

/// Installs the process's TLS crypto (aws-lc-rs) for reqwest, which is built
/// with rustls and no default provider (see the server's outbox); call it
/// before building an HTTP client. Repeated calls do nothing.
pub fn tls() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A store on `db`, beside the server: for arranging or reading rows that
/// the APIs do not reach. Close it when done.
pub async fn connect_store(db: &TestDatabase) -> grantor_store::Store {
    grantor_store::Store::connect(db.url())
        .await
        .expect("store on the test database")
}

/// Settings for `spawn_app_with`.
pub struct AppOptions {
    pub clock: Clock,
    pub bootstrap: BootstrapCredentials,
    /// Off unless a test turns it on: its deletions would race the tests
    /// that move a manual clock past expiries.
    pub purge: grantor::purge::PurgeConfig,
    /// The issuer (e.g. an https one, for the cookie prefixes); default: the
    /// listen address over http.
    pub issuer: Option<String>,
    /// The password-hashing bound. Default: as many places as `grantor serve`
    /// has, but a long queue and wait, so that tests sending sign-ins in
    /// parallel on a loaded machine are not turned away (the tests of the
    /// bound set their own).
    pub password_hashing: grantor::password::PasswordHashConfig,
    /// Off unless a test sets limits: the suite sends bursts from 127.0.0.1.
    pub rate_limits: grantor::http::rate_limit::RateLimitConfig,
    pub trusted_proxies: grantor::http::client_ip::TrustedProxies,
    pub connections: grantor::config::ConnectionConfig,
    /// The outbox worker; as `grantor serve` runs it, but quick to retry.
    pub outbox: grantor::outbox::OutboxConfig,
    /// How often the server polls the signing keys' version.
    pub signing_key_refresh: std::time::Duration,
    /// `--metrics-listen` (e.g. `127.0.0.1:0`); `None`: `/metrics` on the
    /// main listener.
    pub metrics_listen: Option<String>,
    /// `--require-dpop-nonce`.
    pub require_dpop_nonce: bool,
    /// Native TLS with this certificate: the server is `https://` and
    /// `TestApp::http` trusts it.
    pub tls: Option<std::sync::Arc<certificate::TestCertificate>>,
    /// `--par-lifetime-seconds`.
    pub par_lifetime_seconds: i64,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            clock: Clock::System,
            bootstrap: BootstrapCredentials {
                client_id: Some(MGMT_CLIENT_ID.to_owned()),
                client_secret: Some(MGMT_CLIENT_SECRET.to_owned()),
                admin_email: Some(ADMIN_EMAIL.to_owned()),
                admin_password: Some(ADMIN_PASSWORD.to_owned()),
            },
            purge: grantor::purge::PurgeConfig {
                interval: None,
                ..Default::default()
            },
            issuer: None,
            password_hashing: grantor::password::PasswordHashConfig {
                max_waiting: 100_000,
                queue_timeout: std::time::Duration::from_secs(600),
                ..Default::default()
            },
            rate_limits: grantor::http::rate_limit::RateLimitConfig::disabled(),
            outbox: grantor::outbox::OutboxConfig {
                poll_interval: Some(std::time::Duration::from_millis(200)),
                retry_base: std::time::Duration::from_millis(200),
                retry_cap: std::time::Duration::from_secs(2),
                // The tests' receivers listen on 127.0.0.1.
                egress: grantor::outbox::egress::EgressPolicy::parse("127.0.0.0/8,::1")
                    .expect("networks"),
                ..Default::default()
            },
            trusted_proxies: Default::default(),
            connections: Default::default(),
            signing_key_refresh: std::time::Duration::from_secs(2),
            metrics_listen: None,
            require_dpop_nonce: false,
            tls: None,
            par_lifetime_seconds: grantor::flows::par::DEFAULT_LIFETIME_SECONDS,
        }
    }
}

pub struct TestApp {
    pub base_url: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub clock: Clock,
    pub db: std::sync::Arc<TestDatabase>,
    /// The server's password-hashing bound: tests take its places to fill it.
    pub password_hashing: std::sync::Arc<grantor::password::PasswordHashing>,
    /// `/metrics` on the separate listener, when one was asked for.
    pub metrics_url: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    mgmt_token: tokio::sync::OnceCell<String>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let db = std::sync::Arc::new(TestDatabase::new(backend).await);
    spawn_app_on(db, AppOptions::default()).await
}

/// `grantor serve`'s configuration as the suite runs it, on `database_url`.
pub fn config_for(database_url: &str, options: AppOptions) -> Config {
    Config {
        listen: "127.0.0.1:0".to_owned(),
        issuer: options
            .issuer
            .as_deref()
            .map(|i| grantor::config::Issuer::parse(i).expect("test issuer")),
        tls: options.tls.as_ref().map(|c| c.files()),
        database_url: database_url.to_owned(),
        bootstrap: options.bootstrap,
        clock: options.clock,
        purge: options.purge,
        outbox: options.outbox,
        password_hashing: options.password_hashing,
        rate_limits: options.rate_limits,
        trusted_proxies: options.trusted_proxies,
        connections: options.connections,
        signing_key_refresh: options.signing_key_refresh,
        metrics_listen: options.metrics_listen,
        require_dpop_nonce: options.require_dpop_nonce,
        par_lifetime_seconds: options.par_lifetime_seconds,
    }
}

/// Starts a server on an existing test database (restarts, several processes).
pub async fn spawn_app_on(db: std::sync::Arc<TestDatabase>, options: AppOptions) -> TestApp {
    tls();
    let clock = options.clock.clone();
    let certificate = options.tls.clone();
    let config = config_for(db.url(), options);
    let app = Application::build(config)
        .await
        .expect("application starts");
    let scheme = if certificate.is_some() {
        "https"
    } else {
        "http"
    };
    let base_url = format!("{scheme}://{}", app.local_addr());
    let metrics_url = app.metrics_addr().map(|a| format!("http://{a}/metrics"));
    let issuer = app.issuer().as_str().to_owned();
    let password_hashing = app.password_hashing();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let http = match &certificate {
        Some(certificate) => certificate.client(),
        None => reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .expect("http client"),
    };
    TestApp {
        base_url,
        issuer,
        http,
        clock,
        db,
        password_hashing,
        metrics_url,
        shutdown: Some(tx),
        server: Some(server),
        mgmt_token: tokio::sync::OnceCell::new(),
    }
}

impl TestApp {
    /// A `TestApp` for a server this test started some other way (a
    /// `grantor serve` process) on `db`, with the suite's bootstrap
    /// credentials; `stop` does nothing.
    pub fn remote(base_url: &str, db: std::sync::Arc<TestDatabase>) -> TestApp {
        tls();
        TestApp {
            base_url: base_url.trim_end_matches('/').to_owned(),
            issuer: format!("{}/", base_url.trim_end_matches('/')),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .cookie_store(true)
                .build()
                .expect("http client"),
            clock: Clock::System,
            db,
            password_hashing: std::sync::Arc::new(grantor::password::PasswordHashing::new(
                Default::default(),
            )),
            metrics_url: None,
            shutdown: None,
            server: None,
            mgmt_token: tokio::sync::OnceCell::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn management_audience(&self) -> String {
        format!("{}api/v2/", self.issuer)
    }

    /// A store on the server's database ([`connect_store`]).
    pub async fn store(&self) -> grantor_store::Store {
        connect_store(&self.db).await
    }

    /// `SELECT COUNT(*) FROM table`, straight from the database.
    pub async fn count_rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.db.backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(self.db.url()).await.unwrap();
                let n: i64 = sqlx::query_scalar(&sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(self.db.url()).await.unwrap();
                let n: i64 = sqlx::query_scalar(&sql).fetch_one(&pool).await.unwrap();
                pool.close().await;
                n
            }
        }
    }

    /// The one text column `sql` selects, straight from the database.
    pub async fn query_strings(&self, sql: &str) -> Vec<String> {
        match self.db.backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(self.db.url()).await.unwrap();
                let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(self.db.url()).await.unwrap();
                let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            }
        }
    }

    /// Runs one statement on the server's database, beside the server.
    pub async fn execute(&self, sql: &str) {
        match self.db.backend() {
            Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(self.db.url()).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(self.db.url()).await.unwrap();
                sqlx::query(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// `POST /oauth/token` with a form body.
    pub async fn token_form(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(self.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .expect("token request")
    }

    /// `POST /oauth/token` with a JSON body.
    pub async fn token_json(&self, body: &Value) -> Response {
        self.http
            .post(self.url("/oauth/token"))
            .json(body)
            .send()
            .await
            .expect("token request")
    }

    /// A client_credentials token; panics unless the server issues one.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        audience: &str,
    ) -> String {
        let response = self
            .token_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("audience", audience),
            ])
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("token json");
        assert_eq!(status, StatusCode::OK, "token request failed: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// `POST /oauth/introspect` as client `id` (`client_secret_post`);
    /// asserts 200 and returns the answer.
    pub async fn introspect(&self, id: &str, secret: &str, token: &str) -> Value {
        let response = self
            .http
            .post(self.url("/oauth/introspect"))
            .form(&[
                ("client_id", id),
                ("client_secret", secret),
                ("token", token),
            ])
            .send()
            .await
            .expect("introspection request");
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A Management API token with every scope (the bootstrap client's).
    pub async fn mgmt_token(&self) -> String {
        self.mgmt_token
            .get_or_init(|| async {
                self.client_credentials(
                    MGMT_CLIENT_ID,
                    MGMT_CLIENT_SECRET,
                    &self.management_audience(),
                )
                .await
            })
            .await
            .clone()
    }

    /// A Management API request with the full-scope bearer token.
    pub async fn mgmt(&self, method: Method, path: &str) -> RequestBuilder {
        let token = self.mgmt_token().await;
        self.http
            .request(method, self.url(&format!("/api/v2{path}")))
            .bearer_auth(token)
    }

    /// Sends a Management request with an optional JSON body; returns status and JSON (Null when empty).
    pub async fn mgmt_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.mgmt(method, path).await;
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("management request")).await
    }

    /// Creates a confidential client and returns (client_id, client_secret, body).
    pub async fn create_client(&self, body: Value) -> (String, String, Value) {
        let (status, created) = self.mgmt_call(Method::POST, "/clients", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (
            created["client_id"].as_str().expect("client_id").to_owned(),
            created["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
            created,
        )
    }

    /// Creates an API with the given identifier and scopes.
    pub async fn create_api(&self, identifier: &str, scopes: &[&str]) -> Value {
        let scopes: Vec<Value> = scopes
            .iter()
            .map(|s| json!({"value": s, "description": s}))
            .collect();
        let (status, body) = self
            .mgmt_call(
                Method::POST,
                "/resource-servers",
                Some(json!({"identifier": identifier, "name": identifier, "scopes": scopes})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn create_client_grant(
        &self,
        client_id: &str,
        audience: &str,
        scope: &[&str],
    ) -> Value {
        let (status, body) = self
            .mgmt_call(
                Method::POST,
                "/client-grants",
                Some(json!({"client_id": client_id, "audience": audience, "scope": scope})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Status and JSON body (`Value::Null` for an empty body).
pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    (status, body)
}

/// Decodes a JWT's claims without checking it (for asserting contents).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("claims JSON")
}

/// Asserts an Auth0 Management error body.
pub fn assert_mgmt_error(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["statusCode"], expected.as_u16(), "{body}");
    assert!(
        body["error"].is_string() && body["message"].is_string(),
        "{body}"
    );
}

/// Asserts an RFC 6749 error body.
pub fn assert_oauth_error(status: StatusCode, body: &Value, expected: StatusCode, error: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
}

/// A query string, percent-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).expect("query string")
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a
/// path segment or a query value (`auth0|…` user ids, API identifiers).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
