//! `GET /metrics`: the Prometheus text format, and the counters that a
//! refresh, a reuse detection, a machine token and a rate-limit refusal
//! move (by exactly one, comparing scrapes before and after); the pool
//! gauges; `--metrics-listen` moving the endpoint off the main listener.

use std::collections::HashMap;

use grantor::http::rate_limit::{Rate, RateLimitConfig};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_databases;
use crate::refresh_tokens::{password_grant, refresh, rotating, setup};
use crate::support::{read, spawn_app, spawn_app_on, AppOptions, TestApp, TestDatabase};

/// One scrape: every sample by name and sorted labels.
struct Scrape(HashMap<(String, Vec<(String, String)>), f64>);

impl Scrape {
    /// Parses the text format strictly: `# HELP`/`# TYPE` comments and
    /// `name{label="value",…} number` samples, nothing else.
    fn parse(text: &str) -> Self {
        let mut samples = HashMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            if let Some(comment) = line.strip_prefix("# ") {
                assert!(
                    comment.starts_with("HELP grantor_") || comment.starts_with("TYPE grantor_"),
                    "unexpected comment: {line}"
                );
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("not a number: {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let mut labels: Vec<(String, String)> = split_labels(body)
                        .into_iter()
                        .map(|pair| {
                            let (k, v) = pair.split_once('=').expect("label=value");
                            let v = v
                                .strip_prefix('"')
                                .and_then(|v| v.strip_suffix('"'))
                                .expect("quoted label value");
                            (k.to_owned(), v.to_owned())
                        })
                        .collect();
                    labels.sort();
                    (name, labels)
                }
                None => (series, Vec::new()),
            };
            assert!(
                name.starts_with("grantor_")
                    && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad metric name: {line}"
            );
            assert!(
                samples.insert((name.to_owned(), labels), value).is_none(),
                "duplicate sample: {line}"
            );
        }
        Self(samples)
    }

    /// The sample's value; 0 when absent (a counter not yet created).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        key.sort();
        self.0.get(&(name.to_owned(), key)).copied().unwrap_or(0.0)
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        let mut key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        key.sort();
        self.0.contains_key(&(name.to_owned(), key))
    }

    /// Every label value of every sample (for the "no identifiers" check).
    fn label_values(&self) -> impl Iterator<Item = &str> {
        self.0
            .keys()
            .flat_map(|(_, labels)| labels.iter().map(|(_, v)| v.as_str()))
    }
}

/// Label pairs, split on commas outside quotes (route templates hold none,
/// but a value may).
fn split_labels(body: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < body.len() {
        parts.push(&body[start..]);
    }
    parts
}

async fn scrape_at(app: &TestApp, url: &str) -> Scrape {
    let response = app.http.get(url).send().await.expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(&response.text().await.unwrap())
}

async fn scrape(app: &TestApp) -> Scrape {
    scrape_at(app, &app.url("/metrics")).await
}

const TOKEN_200: [(&str, &str); 3] = [
    ("route", "/oauth/token"),
    ("method", "POST"),
    ("status", "200"),
];

both_databases! {
    /// A rotation moves the exchange, issuance, HTTP and store counters by
    /// exactly one; the pool gauges are there; no label carries a client id,
    /// a user id or a token.
    async fn a_refresh_moves_the_right_counters_by_one(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let issued = password_grant(&app, &id, &secret, "offline_access read:orders").await;
        let rt = issued["refresh_token"].as_str().unwrap();
        let before = scrape(&app).await;
        let (status, body) = refresh(&app, &id, &secret, rt).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let after = scrape(&app).await;
        let delta = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
        assert_eq!(delta("grantor_refresh_exchanges_total", &[("outcome", "rotated")]), 1.0);
        assert_eq!(delta("grantor_refresh_exchanges_total", &[("outcome", "rejected")]), 0.0);
        assert_eq!(delta("grantor_refresh_exchanges_total", &[("outcome", "reuse_detected")]), 0.0);
        assert_eq!(
            delta("grantor_tokens_issued_total", &[("grant_type", "refresh_token"), ("alg", "RS256")]),
            1.0
        );
        assert_eq!(delta("grantor_http_requests_total", &TOKEN_200), 1.0);
        assert_eq!(
            delta(
                "grantor_http_request_duration_seconds_count",
                &[("route", "/oauth/token"), ("method", "POST")]
            ),
            1.0
        );
        // The exchange loads once and applies once.
        for operation in ["load_exchange", "apply_exchange"] {
            assert_eq!(
                delta("grantor_store_operation_duration_seconds_count", &[("operation", operation)]),
                1.0,
                "{operation}"
            );
        }
        // Management routes are counted by template, never by id.
        assert!(after.has(
            "grantor_http_requests_total",
            &[("route", "/api/v2/users"), ("method", "POST"), ("status", "201")]
        ));
        // Gauges read at the scrape.
        for state in ["in_use", "idle"] {
            assert!(after.has("grantor_db_pool_connections", &[("state", state)]), "{state}");
        }
        assert!(after.value("grantor_db_pool_max_connections", &[]) >= 1.0);
        assert!(after.value("grantor_db_pool_connections", &[("state", "in_use")]) >= 0.0);
        assert!(after.has("grantor_audit_queue_depth", &[]));
        assert!(after.has("grantor_password_hash_in_use", &[]));
        assert!(after.has("grantor_password_hash_refusals_total", &[]));
        let new_rt = body["refresh_token"].as_str().unwrap();
        for value in after.label_values() {
            for secret_or_id in [id.as_str(), secret.as_str(), rt, new_rt] {
                assert!(!value.contains(secret_or_id), "a label names {value}");
            }
        }
    }
}

both_databases! {
    /// Presenting a rotated-out token: one reuse detection, one family
    /// revocation covering one live token; and an unknown token is one
    /// rejection.
    async fn reuse_detection_moves_the_reuse_and_revocation_counters(db: Backend) {
        let app = spawn_app(db).await;
        let (id, secret) = setup(&app, rotating(0)).await;
        let issued = password_grant(&app, &id, &secret, "offline_access read:orders").await;
        let first = issued["refresh_token"].as_str().unwrap();
        let (status, _) = refresh(&app, &id, &secret, first).await;
        assert_eq!(status, StatusCode::OK);
        let before = scrape(&app).await;
        let (status, _) = refresh(&app, &id, &secret, first).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = refresh(&app, &id, &secret, "not-a-token").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let after = scrape(&app).await;
        let delta = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
        assert_eq!(delta("grantor_refresh_exchanges_total", &[("outcome", "reuse_detected")]), 1.0);
        assert_eq!(delta("grantor_refresh_exchanges_total", &[("outcome", "rejected")]), 1.0);
        assert_eq!(delta("grantor_refresh_exchanges_total", &[("outcome", "rotated")]), 0.0);
        assert_eq!(delta("grantor_revocations_total", &[("target", "family")]), 1.0);
        assert_eq!(delta("grantor_revoked_refresh_tokens_total", &[("target", "family")]), 1.0);
        assert_eq!(
            delta("grantor_http_requests_total", &[("route", "/oauth/token"), ("method", "POST"), ("status", "403")]),
            2.0
        );
        // The same reuse again revokes nothing more: not counted again.
        let (status, _) = refresh(&app, &id, &secret, first).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let again = scrape(&app).await;
        assert_eq!(
            again.value("grantor_revocations_total", &[("target", "family")]),
            after.value("grantor_revocations_total", &[("target", "family")]),
            "a family already revoked is not counted twice"
        );
    }
}

both_databases! {
    /// A machine token for an ES256 API is counted under client_credentials
    /// and ES256.
    async fn a_client_credentials_grant_is_counted_with_its_grant_type_and_algorithm(db: Backend) {
        let app = spawn_app(db).await;
        const API: &str = "https://es.example.test/";
        let (status, body) = app
            .mgmt_call(
                Method::POST,
                "/resource-servers",
                Some(json!({"identifier": API, "name": "es", "signing_alg": "ES256", "scopes": [{"value": "read:a"}]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (id, secret, _) = app
            .create_client(json!({"name": "worker", "grant_types": ["client_credentials"]}))
            .await;
        app.create_client_grant(&id, API, &["read:a"]).await;
        let before = scrape(&app).await;
        app.client_credentials(&id, &secret, API).await;
        let after = scrape(&app).await;
        let delta = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
        assert_eq!(
            delta("grantor_tokens_issued_total", &[("grant_type", "client_credentials"), ("alg", "ES256")]),
            1.0
        );
        assert_eq!(
            delta("grantor_tokens_issued_total", &[("grant_type", "client_credentials"), ("alg", "RS256")]),
            0.0
        );
        assert_eq!(delta("grantor_http_requests_total", &TOKEN_200), 1.0);
    }
}

both_databases! {
    /// A 429 from the per-IP bucket moves the refusal counter of that limit
    /// and surface, and the HTTP counter of the 429; `/metrics` itself is
    /// not rate-limited.
    async fn a_rate_limit_refusal_is_counted_by_limit_and_surface(db: Backend) {
        let database = std::sync::Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions {
            rate_limits: RateLimitConfig {
                per_ip: Rate::new(1, 1),
                ..RateLimitConfig::disabled()
            },
            ..AppOptions::default()
        })
        .await;
        let before = scrape(&app).await;
        let form = [("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", "x")];
        let (status, _) = read(app.token_form(&form).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = read(app.token_form(&form).await).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        // Many scrapes in a row: never refused.
        for _ in 0..5 {
            scrape(&app).await;
        }
        let after = scrape(&app).await;
        let delta = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
        assert_eq!(
            delta("grantor_rate_limit_refusals_total", &[("limit", "per_ip"), ("surface", "oauth")]),
            1.0
        );
        assert_eq!(
            delta("grantor_http_requests_total", &[("route", "/oauth/token"), ("method", "POST"), ("status", "429")]),
            1.0
        );
    }
}

both_databases! {
    /// With `--metrics-listen`, `/metrics` is served only there: the main
    /// listener answers 404, and the metrics listener serves nothing else.
    async fn a_separate_metrics_listener_takes_the_endpoint_off_the_main_one(db: Backend) {
        let database = std::sync::Arc::new(TestDatabase::new(db).await);
        let app = spawn_app_on(database, AppOptions {
            metrics_listen: Some("127.0.0.1:0".to_owned()),
            ..AppOptions::default()
        })
        .await;
        let main = app.http.get(app.url("/metrics")).send().await.unwrap();
        assert_eq!(main.status(), StatusCode::NOT_FOUND);
        let url = app.metrics_url.clone().expect("a metrics listener");
        let scraped = scrape_at(&app, &url).await;
        // The 404 above was counted, under no route of its own.
        assert_eq!(
            scraped.value("grantor_http_requests_total", &[("route", "unmatched"), ("method", "GET"), ("status", "404")]),
            1.0
        );
        let other = app.http.get(url.replace("/metrics", "/healthz")).send().await.unwrap();
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
        let other = app.http.get(url.replace("/metrics", "/oauth/token")).send().await.unwrap();
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
    }
}

/// The separate metrics listener is served like the main one: a connection
/// that sends nothing is closed after the header-read timeout, so clients
/// that connect and stay silent (more of them than its connection cap)
/// cannot keep a scraper out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_cannot_hold_the_metrics_listener() {
    use tokio::io::AsyncReadExt as _;
    let database = std::sync::Arc::new(TestDatabase::new(crate::support::Backend::Sqlite).await);
    let app = spawn_app_on(
        database,
        AppOptions {
            metrics_listen: Some("127.0.0.1:0".to_owned()),
            connections: grantor::config::ConnectionConfig {
                header_read_timeout: std::time::Duration::from_secs(1),
                ..Default::default()
            },
            ..AppOptions::default()
        },
    )
    .await;
    let url = app.metrics_url.clone().expect("a metrics listener");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics")
        .to_owned();
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    // A scrape is answered once the silent ones have been dropped.
    let scrape = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        app.http.get(&url).send(),
    )
    .await
    .expect("the scrape was answered")
    .unwrap();
    assert_eq!(scrape.status(), StatusCode::OK);
    for mut connection in silent {
        let mut buffer = [0u8; 16];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            connection.read(&mut buffer),
        )
        .await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "a silent connection was kept: {read:?}"
        );
    }
}

both_databases! {
    /// A failed write of queued audit events is tried again, not dropped:
    /// with the audit table away, machine tokens are still issued and their
    /// `seccft` events wait; once it is back, every one is written, once.
    async fn a_failed_audit_write_is_tried_again_until_it_succeeds(db: Backend) {
        use crate::support::{MGMT_CLIENT_ID, MGMT_CLIENT_SECRET};
        let app = spawn_app(db).await;
        let audience = app.management_audience();
        let seccft = "SELECT log_id FROM logs WHERE type = 'seccft'";
        let before = app.query_strings(seccft).await.len();
        app.execute("ALTER TABLE logs RENAME TO logs_away").await;
        for _ in 0..5 {
            app.client_credentials(MGMT_CLIENT_ID, MGMT_CLIENT_SECRET, &audience).await;
        }
        let retries = "grantor_audit_write_retries_total";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while scrape(&app).await.value(retries, &[]) < 1.0 {
            assert!(std::time::Instant::now() < deadline, "the failed write was not tried again");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        app.execute("ALTER TABLE logs_away RENAME TO logs").await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while app.query_strings(seccft).await.len() < before + 5 {
            assert!(std::time::Instant::now() < deadline, "the events were not written");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let after = scrape(&app).await;
        assert_eq!(after.value("grantor_audit_events_dropped_total", &[]), 0.0);
        assert_eq!(after.value("grantor_audit_queue_depth", &[]), 0.0);
        // Written once: no event twice (the log id is the table's key), and
        // the count is exact.
        assert_eq!(app.query_strings(seccft).await.len(), before + 5);
    }
}
