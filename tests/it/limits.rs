//! Boundaries on what outsiders can make the server do (CONTRACT §6.4):
//! rate limits per IP and per client with Auth0's 429 and headers, bounded
//! rows from unauthenticated endpoints, the trusted-proxy rule for the client
//! IP, and connection limits (header-read timeout, idle keep-alive, cap).

use std::sync::Arc;
use std::time::{Duration, Instant};

use grantor::http::client_ip::TrustedProxies;
use grantor::http::rate_limit::{Rate, RateLimitConfig};
use reqwest::{Method, StatusCode};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_databases;
use crate::support::browser::{authorize_path, get, native_client, web_client};
use crate::support::{
    read, spawn_app_on, AppOptions, Backend, TestApp, TestDatabase, MGMT_CLIENT_ID,
    MGMT_CLIENT_SECRET,
};

const CALLBACK: &str = "https://app.example.test/callback";

pub async fn spawn_with(db: Backend, options: AppOptions) -> TestApp {
    spawn_app_on(Arc::new(TestDatabase::new(db).await), options).await
}

/// `per_minute` 1 and a burst of `burst`: nothing refills during a test.
pub fn bucket(burst: u32) -> Option<Rate> {
    Rate::new(1, burst)
}

async fn client_credentials(app: &TestApp, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = app.http.post(app.url("/oauth/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", MGMT_CLIENT_ID),
        ("client_secret", MGMT_CLIENT_SECRET),
        ("audience", &app.management_audience()),
    ]);
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.expect("token request")
}

fn header_u64(response: &reqwest::Response, name: &str) -> u64 {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} header"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("{name} is a number"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The 429 headers: `Retry-After` and `X-RateLimit-*` with `limit`.
fn assert_refusal_headers(response: &reqwest::Response, limit: u64) {
    let retry_after = header_u64(response, "retry-after");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header_u64(response, "x-ratelimit-limit"), limit);
    assert_eq!(header_u64(response, "x-ratelimit-remaining"), 0);
    let reset = header_u64(response, "x-ratelimit-reset");
    let now = unix_now();
    assert!(
        reset >= now && reset <= now + 62,
        "X-RateLimit-Reset {reset} is unix seconds near {now}"
    );
}

/// The IPs of the machine-token events (`seccft`), sorted, once at least
/// `at_least` are stored (they go through the audit queue; bounded wait).
async fn machine_token_ips(app: &TestApp, at_least: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ips = app
            .query_strings("SELECT ip FROM logs WHERE type = 'seccft' ORDER BY ip")
            .await;
        if ips.len() >= at_least || Instant::now() > deadline {
            return ips;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both_databases! {
    /// A spoofed X-Forwarded-For from an untrusted peer changes nothing: the
    /// per-IP bucket is 127.0.0.1's, and the audit log says 127.0.0.1.
    async fn the_token_endpoint_is_limited_per_ip_and_forwarded_for_is_ignored_by_default(db: Backend) {
        let app = spawn_with(db, AppOptions {
            rate_limits: RateLimitConfig { per_ip: bucket(4), ..RateLimitConfig::disabled() },
            ..AppOptions::default()
        }).await;
        app.mgmt_token().await; // one of the four
        for spoofed in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
            let (status, body) = read(client_credentials(&app, Some(spoofed)).await).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let response = client_credentials(&app, Some("203.0.113.4")).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_refusal_headers(&response, 4);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let (_, body) = read(response).await;
        assert_eq!(body["error"], "too_many_requests", "{body}");
        assert!(body["error_description"].as_str().unwrap().contains("Too many requests"), "{body}");
        // Refused before the flow ran: a second one is refused too, and the
        // other surfaces keep their own buckets (the Management API answers).
        let response = client_credentials(&app, None).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let (status, _) = app.mgmt_call(Method::GET, "/clients", None).await;
        assert_eq!(status, StatusCode::OK);
        // Exactly four machine tokens were issued, each to 127.0.0.1.
        assert_eq!(machine_token_ips(&app, 4).await, ["127.0.0.1"; 4]);
    }
}

both_databases! {
    /// With 127.0.0.1/32 trusted, the right-most untrusted X-Forwarded-For
    /// entry is the client: each forwarded address has its own per-IP bucket
    /// and shows in the audit log, while the per-client bucket spans them.
    async fn forwarded_for_is_honoured_from_a_trusted_proxy_and_the_client_bucket_spans_ips(db: Backend) {
        let app = spawn_with(db, AppOptions {
            rate_limits: RateLimitConfig {
                per_ip: bucket(2),
                per_client: bucket(4),
                ..RateLimitConfig::disabled()
            },
            trusted_proxies: TrustedProxies::parse("127.0.0.1/32").unwrap(),
            ..AppOptions::default()
        }).await;
        app.mgmt_token().await; // from the proxy itself: one of the client's four
        // The client forged the left-most entry; the proxy appended the real one.
        let a = "6.6.6.6, 198.51.100.10";
        for _ in 0..2 {
            assert_eq!(client_credentials(&app, Some(a)).await.status(), StatusCode::OK);
        }
        let refused = client_credentials(&app, Some(a)).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_refusal_headers(&refused, 2); // the IP's bucket
        // Another address still has its IP allowance; the client has one left.
        let b = "198.51.100.20";
        assert_eq!(client_credentials(&app, Some(b)).await.status(), StatusCode::OK);
        let refused = client_credentials(&app, Some(b)).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_refusal_headers(&refused, 4); // the client's bucket
        let (_, body) = read(refused).await;
        assert_eq!(body["error"], "too_many_requests");
        // The audit log records the forwarded addresses, never the forged one.
        assert_eq!(
            machine_token_ips(&app, 4).await,
            ["127.0.0.1", "198.51.100.10", "198.51.100.10", "198.51.100.20"]
        );
    }
}

both_databases! {
    /// Auth0's Management API shape: every answer carries X-RateLimit-*, and
    /// a refusal is `{statusCode: 429, error, message, errorCode}`; the
    /// per-client bucket is the verified token's `azp`, and requests with a
    /// bad token still count against the IP.
    async fn the_management_api_reports_its_limits_and_refuses_in_its_own_format(db: Backend) {
        let app = spawn_with(db, AppOptions {
            rate_limits: RateLimitConfig {
                per_ip: bucket(5),
                per_client: bucket(3),
                ..RateLimitConfig::disabled()
            },
            ..AppOptions::default()
        }).await;
        let token = app.mgmt_token().await; // the OAuth surface's buckets
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let response = app.http.get(app.url("/api/v2/clients")).bearer_auth(&token).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header_u64(&response, "x-ratelimit-limit"), 3);
            let reset = header_u64(&response, "x-ratelimit-reset");
            assert!(reset >= unix_now() && reset <= unix_now() + 200, "{reset}");
            remaining.push(header_u64(&response, "x-ratelimit-remaining"));
        }
        assert_eq!(remaining, [2, 1, 0]);
        let response = app.http.get(app.url("/api/v2/clients")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_refusal_headers(&response, 3);
        let (_, body) = read(response).await;
        assert_eq!(body["statusCode"], 429, "{body}");
        assert_eq!(body["error"], "Too Many Requests");
        assert_eq!(body["errorCode"], "too_many_requests");
        assert!(body["message"].as_str().unwrap().contains("Too many requests"), "{body}");
        // The IP has one request left: a bad token is judged (401), then refused.
        let bad = app.http.get(app.url("/api/v2/clients")).bearer_auth("not-a-jwt").send().await.unwrap();
        assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
        let bad = app.http.get(app.url("/api/v2/clients")).bearer_auth("not-a-jwt").send().await.unwrap();
        assert_eq!(bad.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_refusal_headers(&bad, 5);
        let (_, body) = read(bad).await;
        assert_eq!(body["errorCode"], "too_many_requests");
    }
}

both_databases! {
    /// The sign-in and activation pages share the pages' per-IP bucket and
    /// refuse with the error page (429, Retry-After).
    async fn login_and_activation_pages_are_limited_per_ip(db: Backend) {
        let app = spawn_with(db, AppOptions {
            rate_limits: RateLimitConfig { per_ip: bucket(3), ..RateLimitConfig::disabled() },
            ..AppOptions::default()
        }).await;
        for _ in 0..3 {
            assert_eq!(get(&app, &app.http, "/activate").await.status(), StatusCode::OK);
        }
        let refused = get(&app, &app.http, "/activate").await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_refusal_headers(&refused, 3);
        assert!(refused.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = refused.text().await.unwrap();
        assert!(html.contains("Too many"), "{html}");
        // The login form is refused before its CSRF check or any password work.
        let refused = app.http.post(app.url("/u/login"))
            .form(&[("request", "x"), ("username", "a@example.test"), ("password", "p")])
            .send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        // The token endpoint is another surface with its own bucket.
        assert_eq!(client_credentials(&app, None).await.status(), StatusCode::OK);
    }
}

both_databases! {
    /// Pending `/authorize` requests and device codes are written by
    /// unauthenticated requests; a flood from one IP is refused with 429
    /// before it writes more than the write bucket allows.
    async fn floods_of_unauthenticated_writes_are_refused_before_rows_are_written(db: Backend) {
        let app = spawn_with(db, AppOptions {
            rate_limits: RateLimitConfig { writes_per_ip: Rate::new(5, 0), ..RateLimitConfig::disabled() },
            ..AppOptions::default()
        }).await;
        let native = native_client(&app, "TV", &[]).await;
        let (web, _) = web_client(&app, "Web", &[CALLBACK]).await;
        let before = app.count_rows("device_codes").await;
        let mut statuses = Vec::new();
        for _ in 0..12 {
            let response = app.http.post(app.url("/oauth/device/code"))
                .form(&[("client_id", native.as_str())]).send().await.unwrap();
            statuses.push(response.status());
            if response.status() == StatusCode::TOO_MANY_REQUESTS {
                let (_, body) = read(response).await;
                assert_eq!(body["error"], "too_many_requests", "{body}");
            }
        }
        assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 5, "{statuses:?}");
        assert_eq!(app.count_rows("device_codes").await - before, 5);
        // /authorize shares the IP's write bucket, which is now empty.
        let before = app.count_rows("authorization_requests").await;
        let path = authorize_path(&web, CALLBACK, &[]);
        for _ in 0..5 {
            let refused = get(&app, &app.http, &path).await;
            assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
            assert!(refused.headers().contains_key("retry-after"));
        }
        assert_eq!(app.count_rows("authorization_requests").await, before);
    }
}

both_databases! {
    /// The login flow's first step saves a pending request: the write bucket
    /// bounds how many, per IP.
    async fn an_authorize_flood_writes_at_most_the_bucket(db: Backend) {
        let app = spawn_with(db, AppOptions {
            rate_limits: RateLimitConfig { writes_per_ip: Rate::new(4, 0), ..RateLimitConfig::disabled() },
            ..AppOptions::default()
        }).await;
        let (web, _) = web_client(&app, "Web", &[CALLBACK]).await;
        let path = authorize_path(&web, CALLBACK, &[]);
        let mut ok = 0;
        for _ in 0..10 {
            match get(&app, &app.http, &path).await.status() {
                StatusCode::OK => ok += 1,
                StatusCode::TOO_MANY_REQUESTS => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(ok, 4);
        assert_eq!(app.count_rows("authorization_requests").await, 4);
    }
}

/// Reads until the server closes the connection; the bytes read.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

fn with_connections(header_read_timeout: Duration, max_connections: usize) -> AppOptions {
    AppOptions {
        connections: grantor::config::ConnectionConfig {
            header_read_timeout,
            max_connections,
            ..Default::default()
        },
        ..AppOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalling_in_its_headers_is_disconnected_and_others_are_served() {
    let app = spawn_with(
        Backend::Sqlite,
        with_connections(Duration::from_secs(1), 64),
    )
    .await;
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // While it stalls, others are answered.
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut slow))
        .await
        .expect("the server closes a stalled connection");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "closed after {waited:?}"
    );
    // It never got an answer to its half request.
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_with(
        Backend::Sqlite,
        with_connections(Duration::from_secs(1), 64),
    )
    .await;
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    let mut client = TcpStream::connect(&addr).await.unwrap();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut client))
        .await
        .expect("the server closes an idle keep-alive connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(800));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let app = spawn_with(
        Backend::Sqlite,
        with_connections(Duration::from_secs(30), 1),
    )
    .await;
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    // The first connection takes the only slot and sends nothing.
    let holder = TcpStream::connect(&addr).await.unwrap();
    // The second one's request is not read while the slot is taken.
    let mut waiting = TcpStream::connect(&addr).await.unwrap();
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "answered while the cap was reached");
    // Once the first closes, the second is served.
    drop(holder);
    let answer = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut waiting))
        .await
        .expect("served after the slot freed up");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_cut_off_at_the_body_deadline() {
    let app = spawn_with(
        Backend::Sqlite,
        AppOptions {
            connections: grantor::config::ConnectionConfig {
                body_read_timeout: Duration::from_secs(1),
                ..Default::default()
            },
            ..AppOptions::default()
        },
    )
    .await;
    let addr = app.base_url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    // One byte every 300 ms: each arrives well within any per-read timeout,
    // but the whole body would take five minutes.
    let mut buf = [0u8; 512];
    let mut answer = Vec::new();
    while started.elapsed() < Duration::from_secs(8) {
        let _ = slow.write_all(b"a").await;
        match tokio::time::timeout(Duration::from_millis(300), slow.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800),
        "cut off after {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(6),
        "still reading after {waited:?}"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
    // Others are served meanwhile and after.
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ip_holds_at_most_its_connection_share_unless_it_is_a_trusted_proxy() {
    for (trusted, third_served) in [("", false), ("127.0.0.1/32", true)] {
        let app = spawn_with(
            Backend::Sqlite,
            AppOptions {
                connections: grantor::config::ConnectionConfig {
                    max_connections_per_ip: 2,
                    ..Default::default()
                },
                trusted_proxies: TrustedProxies::parse(trusted).unwrap(),
                ..AppOptions::default()
            },
        )
        .await;
        let addr = app.base_url.trim_start_matches("http://").to_owned();
        let holders = [
            TcpStream::connect(&addr).await.unwrap(),
            TcpStream::connect(&addr).await.unwrap(),
        ];
        // The listen queue is first come, first served: the accept loop
        // admits both holders before it sees the third.
        let mut third = TcpStream::connect(&addr).await.unwrap();
        let _ = third
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await;
        let answer = tokio::time::timeout(Duration::from_secs(5), read_until_closed(&mut third))
            .await
            .expect("answered or closed");
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(
            answer.starts_with("HTTP/1.1 200 OK"),
            third_served,
            "trusted {trusted:?}: {answer}"
        );
        drop(holders);
        app.stop().await;
    }
}
