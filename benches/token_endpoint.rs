//! The Authentication API's hot paths, end to end and in process.
//!
//! Run with `cargo bench --bench token_endpoint`; figures are in
//! docs/benchmarks.md.
//!
//! The real `grantor::Application` is built the way `tests/it/support`'s
//! `spawn_app` does (a fresh database, fixed bootstrap credentials,
//! `127.0.0.1:0`; arguments parsed as `grantor serve` parses them) and served
//! on the same tokio runtime that drives the client. Every request goes over a
//! kept-alive loopback HTTP connection with `reqwest`, and its status is
//! checked. Each benchmark runs on a temporary SQLite file (`sqlite/…`) and,
//! when `GRANTOR_BENCH_POSTGRES_URL` names a PostgreSQL database it may create
//! and drop a schema in, on PostgreSQL too (`postgres/…`).
//!
//! - `<db>/http/healthz`: `GET /healthz`, the HTTP floor (no database, no crypto).
//! - `<db>/http/token_client_credentials`: `POST /oauth/token`,
//!   `grant_type=client_credentials` for the Management API (RS256).
//! - `<db>/http/introspect_unknown`: `POST /oauth/introspect` with a random string.
//! - `<db>/http/introspect_own_access_token`: the same with a client_credentials
//!   access token issued to the caller (signature check, no token lookup).
//! - `<db>/http/revoke_unknown`: `POST /oauth/revoke` with a random string.
//! - `<db>/http/token_refresh_non_rotating` / `<db>/http/token_refresh_rotating`:
//!   `grant_type=refresh_token` for a user (password grant once in setup),
//!   the write path (`apply_exchange`, SQLite `synchronous=FULL`).
//! - `<db>/flow/client_credentials`: `flows::token::exchange` without HTTP.
//! - `<db>/store/client`: `Store::client`, one database read, for scale.
//! - `<db>/pool/read_with_ping`, `<db>/pool/read_without_ping`: one indexed
//!   read through a plain sqlx pool with sqlx's default `test_before_acquire`
//!   (a ping round trip before every operation, as grantor's pools do) and
//!   without it.

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser as _;
use criterion::{criterion_group, criterion_main, Criterion};
use grantor::config::{Cli, Command};
use grantor::flows::client_auth::PresentedClient;
use grantor::flows::token::TokenRequest;
use grantor::flows::RequestMeta;
use grantor::keys::KeyRing;
use grantor::state::AppState;
use grantor::{Application, Clock, Config};
use grantor_domain::GrantType;
use grantor_store::Store;
use grantor_testdb::{Backend, TestDatabase};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::sync::oneshot;

const CLIENT_ID: &str = "bench-management-client";
const CLIENT_SECRET: &str = "bench-management-secret-0123456789abcdef0123456789abcdef";
const API: &str = "https://orders.bench.test/";
const EMAIL: &str = "bench-user@example.test";
const PASSWORD: &str = "correct horse battery staple";

/// A running server and what the benchmarks send it.
struct Bench {
    base_url: String,
    issuer: grantor::config::Issuer,
    audience: String,
    http: reqwest::Client,
    db: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Bench {
    async fn start(db: TestDatabase) -> Self {
        let db_url = db.url().to_owned();
        // Parsed like `grantor serve …`, so settings added later keep their defaults.
        let cli = Cli::try_parse_from([
            "grantor",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db_url,
            "--bootstrap-client-id",
            CLIENT_ID,
            "--bootstrap-client-secret",
            CLIENT_SECRET,
            "--admin-email",
            "admin@bench.test",
            "--admin-password",
            "bench-admin-password",
            // The benchmark measures the endpoint, not the rate limiter.
            "--rate-limit-per-ip",
            "0",
            "--rate-limit-per-client",
            "0",
        ])
        .expect("serve arguments");
        #[allow(unreachable_patterns)] // `serve` is the only command today
        let args = match cli.command {
            Command::Serve(args) => args,
            _ => unreachable!("parsed as serve"),
        };
        let config = Config::from_args(args).expect("configuration");
        let app = Application::build(config)
            .await
            .expect("application starts");
        let base_url = format!("http://{}", app.local_addr());
        let issuer = app.issuer().clone();
        let audience = issuer.management_audience();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("http client");
        Self {
            base_url,
            issuer,
            audience,
            http,
            db,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stopped");
        }
        self.db.close().await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a form, checks the status, returns the body (JSON or Null).
    async fn post_form(&self, path: &str, form: &[(&str, &str)], expect: StatusCode) -> Value {
        let response = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        assert_eq!(status, expect, "{path}: {body}");
        body
    }

    async fn client_credentials(&self) -> String {
        let body = self
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", CLIENT_ID),
                    ("client_secret", CLIENT_SECRET),
                    ("audience", &self.audience),
                ],
                StatusCode::OK,
            )
            .await;
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A Management API call with a JSON body; expects 201 and returns the body.
    async fn create(&self, token: &str, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(self.url(&format!("/api/v2{path}")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("management request");
        let status = response.status();
        let body: Value = response.json().await.expect("management JSON");
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
        body
    }

    /// An API allowing offline access, a user, and a client with the password
    /// and refresh_token grants and the given refresh-token settings; returns
    /// (client_id, client_secret, refresh_token).
    async fn user_refresh_token(&self, refresh_token: Value) -> (String, String, String) {
        let mgmt = self.client_credentials().await;
        let client = self
            .create(
                &mgmt,
                "/clients",
                json!({
                    "name": format!("bench {}", refresh_token["rotation_type"]),
                    "grant_types": ["password", "refresh_token"],
                    "refresh_token": refresh_token,
                }),
            )
            .await;
        let id = client["client_id"].as_str().expect("client_id").to_owned();
        let secret = client["client_secret"]
            .as_str()
            .expect("client_secret")
            .to_owned();
        let body = self
            .post_form(
                "/oauth/token",
                &[
                    ("grant_type", "password"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("username", EMAIL),
                    ("password", PASSWORD),
                    ("audience", API),
                    ("scope", "offline_access read:orders"),
                ],
                StatusCode::OK,
            )
            .await;
        let rt = body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_owned();
        (id, secret, rt)
    }

    /// The API and the user the refresh-token benchmarks share.
    async fn create_api_and_user(&self) {
        let mgmt = self.client_credentials().await;
        self.create(
            &mgmt,
            "/resource-servers",
            json!({
                "identifier": API, "name": "Orders", "allow_offline_access": true,
                "scopes": [{"value": "read:orders"}],
            }),
        )
        .await;
        self.create(
            &mgmt,
            "/users",
            json!({
                "connection": "Username-Password-Authentication",
                "email": EMAIL, "password": PASSWORD,
            }),
        )
        .await;
    }

    /// An `AppState` over the same database, built as `Application::build`
    /// does, for the benchmarks that skip HTTP.
    async fn state(&self) -> AppState {
        let store = Store::connect(self.db.url()).await.expect("store");
        let keys = KeyRing::new(&store.signing_key_set().await.expect("keys")).expect("load keys");
        let mac_key = store
            .refresh_token_mac_key(
                &grantor::refresh_secret::RefreshSecrets::generate_key(),
                grantor_domain::Timestamp(0),
            )
            .await
            .expect("MAC key");
        let (audit, _writer) = grantor::flows::audit::AuditQueue::start(store.clone());
        let passwords = Arc::new(grantor::password::PasswordHashing::new(Default::default()));
        let rate_limits = Arc::new(grantor::http::rate_limit::RateLimits::new(
            &grantor::http::rate_limit::RateLimitConfig::disabled(),
        ));
        // As `Application::build` does: every store operation is timed.
        let metrics = Arc::new(grantor::metrics::Metrics::new(
            true,
            &audit,
            &passwords,
            &rate_limits,
        ));
        store.observe_operations(metrics.clone());
        AppState {
            store,
            keys: Arc::new(keys),
            refresh_secrets: Arc::new(grantor::refresh_secret::RefreshSecrets::new(&mac_key)),
            issuer: Arc::new(self.issuer.clone()),
            clock: Clock::System,
            audit,
            outbox: Default::default(),
            passwords,
            rate_limits,
            trusted_proxies: Arc::new(Default::default()),
            metrics,
            require_dpop_nonce: false,
            par_lifetime_seconds: grantor::flows::par::DEFAULT_LIFETIME_SECONDS,
        }
    }
}

/// One indexed read through an sqlx pool with sqlx's default
/// `test_before_acquire(true)` (what grantor's pools use: a ping round trip
/// before every operation) and with it off.
macro_rules! bench_ping {
    ($group:expr, $rt:expr, $options:ty, $url:expr) => {
        for (name, ping) in [("read_with_ping", true), ("read_without_ping", false)] {
            let pool = $rt
                .block_on(
                    <$options>::new()
                        .max_connections(4)
                        .test_before_acquire(ping)
                        .connect($url),
                )
                .expect("pool");
            $group.bench_function(name, |b| {
                b.to_async($rt).iter(|| async {
                    let id: String =
                        sqlx::query_scalar("SELECT client_id FROM clients WHERE client_id = $1")
                            .bind(black_box(CLIENT_ID))
                            .fetch_one(&pool)
                            .await
                            .expect("client row");
                    id
                });
            });
            $rt.block_on(pool.close());
        }
    };
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn bench_sqlite(c: &mut Criterion) {
    let rt = runtime();
    let db = TestDatabase::sqlite();
    suite(c, &rt, "sqlite", db);
}

/// Runs only when `GRANTOR_BENCH_POSTGRES_URL` is set (a database the
/// benchmark may create and drop a schema in).
fn bench_postgres(c: &mut Criterion) {
    let Some(base) = std::env::var("GRANTOR_BENCH_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        eprintln!("PostgreSQL benchmarks skipped: GRANTOR_BENCH_POSTGRES_URL is not set");
        return;
    };
    let rt = runtime();
    let db = rt.block_on(TestDatabase::postgres_in(&base, "bench"));
    suite(c, &rt, "postgres", db);
}

fn suite(c: &mut Criterion, rt: &tokio::runtime::Runtime, backend: &str, db: TestDatabase) {
    let bench = rt.block_on(Bench::start(db));
    let own_token = rt.block_on(bench.client_credentials());
    rt.block_on(bench.create_api_and_user());
    let non_rotating = rt.block_on(bench.user_refresh_token(
        json!({"rotation_type": "non-rotating", "expiration_type": "non-expiring"}),
    ));
    let rotating = rt.block_on(bench.user_refresh_token(
        json!({"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0}),
    ));
    let unknown = grantor::secrets::alphanumeric(43);

    let mut group = c.benchmark_group(format!("{backend}/http"));
    configure(&mut group);
    group.bench_function("healthz", |b| {
        b.to_async(rt).iter(|| async {
            let response = bench.http.get(bench.url("/healthz")).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response.bytes().await.unwrap())
        });
    });
    group.bench_function("token_client_credentials", |b| {
        b.to_async(rt)
            .iter(|| async { black_box(bench.client_credentials().await) });
    });
    group.bench_function("introspect_unknown", |b| {
        let form = [
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("token", unknown.as_str()),
        ];
        b.to_async(rt).iter(|| async {
            let body = bench
                .post_form("/oauth/introspect", &form, StatusCode::OK)
                .await;
            assert_eq!(body["active"], false);
        });
    });
    group.bench_function("introspect_own_access_token", |b| {
        let form = [
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("token", own_token.as_str()),
        ];
        b.to_async(rt).iter(|| async {
            let body = bench
                .post_form("/oauth/introspect", &form, StatusCode::OK)
                .await;
            assert_eq!(body["active"], true);
        });
    });
    group.bench_function("revoke_unknown", |b| {
        let form = [
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("token", unknown.as_str()),
        ];
        b.to_async(rt).iter(|| async {
            bench
                .post_form("/oauth/revoke", &form, StatusCode::OK)
                .await
        });
    });
    group.bench_function("token_refresh_non_rotating", |b| {
        let (id, secret, token) = &non_rotating;
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("refresh_token", token.as_str()),
        ];
        b.to_async(rt).iter(|| async {
            let body = bench.post_form("/oauth/token", &form, StatusCode::OK).await;
            black_box(body)
        });
    });
    // Criterion calls the closure again for every sample, so the newest token
    // lives outside it; presenting a rotated-out one would be reuse.
    let (id, secret, first) = &rotating;
    let current = Mutex::new(first.clone());
    group.bench_function("token_refresh_rotating", |b| {
        b.to_async(rt).iter(|| async {
            let presented = current.lock().unwrap().clone();
            let body = bench
                .post_form(
                    "/oauth/token",
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", id),
                        ("client_secret", secret),
                        ("refresh_token", &presented),
                    ],
                    StatusCode::OK,
                )
                .await;
            let next = body["refresh_token"].as_str().expect("rotated token");
            *current.lock().unwrap() = next.to_owned();
        });
    });
    group.finish();

    let state = rt.block_on(bench.state());
    let mut group = c.benchmark_group(format!("{backend}/flow"));
    configure(&mut group);
    group.bench_function("client_credentials", |b| {
        let meta = RequestMeta::default();
        b.to_async(rt).iter(|| async {
            let presented = PresentedClient::Post {
                client_id: CLIENT_ID.into(),
                secret: CLIENT_SECRET.to_owned(),
            };
            let request = TokenRequest {
                audience: Some(bench.audience.clone()),
                ..TokenRequest::default()
            };
            let now = state.clock.now();
            let client = grantor::flows::client_auth::authenticate(&state.store, &presented)
                .await
                .expect("client authenticates");
            grantor::flows::token::exchange(
                &state,
                GrantType::ClientCredentials,
                client,
                request,
                &meta,
                now,
            )
            .await
            .expect("token issued")
        });
    });
    // What the metrics add to one rotating refresh at most: its request,
    // a token issued, an outcome, and four timed store operations.
    group.bench_function("metrics_of_one_refresh", |b| {
        use grantor_store::OperationObserver as _;
        let metrics = state.metrics.clone();
        b.iter(|| {
            metrics.request(
                std::sync::Arc::from("/oauth/token"),
                "POST",
                200,
                std::time::Duration::from_micros(900),
            );
            metrics.token_issued(GrantType::RefreshToken, grantor_domain::SigningAlg::Rs256);
            metrics.refresh_exchange(grantor::metrics::RefreshOutcome::Rotated);
            for operation in ["client", "load_exchange", "apply_exchange", "record_events"] {
                let started = std::time::Instant::now();
                metrics.observe(operation, started.elapsed());
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{backend}/store"));
    configure(&mut group);
    group.bench_function("client", |b| {
        let client_id = grantor_domain::ClientId::from(CLIENT_ID);
        b.to_async(rt).iter(|| async {
            state
                .store
                .client(black_box(&client_id))
                .await
                .unwrap()
                .expect("client exists")
        });
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{backend}/pool"));
    configure(&mut group);
    let url = bench.db.url().to_owned();
    match bench.db.backend() {
        Backend::Sqlite => {
            bench_ping!(group, rt, sqlx::sqlite::SqlitePoolOptions, &url)
        }
        Backend::Postgres => {
            bench_ping!(group, rt, sqlx::postgres::PgPoolOptions, &url)
        }
    }
    group.finish();

    rt.block_on(async {
        state.store.close().await;
        bench.stop().await;
    });
}

criterion_group!(benches, bench_sqlite, bench_postgres);
criterion_main!(benches);
