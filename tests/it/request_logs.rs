//! Request logs of a real `grantor serve` process with JSON logs: one line
//! per request with method, route, status, latency, client id and request
//! id (the one returned as `X-Request-Id`), every other line logged while
//! serving a request carrying the same id, and no secret anywhere in the
//! output of a full sign-in (code flow with PKCE through the login and
//! consent forms), a refresh, a revoke, a client-credentials grant and a
//! Management API call.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use reqwest::header::SET_COOKIE;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::both_databases;
use crate::support::browser::{
    create_user, input_value, is_consent_page, is_login_page, location, new_browser, pkce_pair,
    query_param, web_client,
};
use crate::support::{
    read, TestApp, TestDatabase, ADMIN_EMAIL, ADMIN_PASSWORD, MGMT_CLIENT_ID, MGMT_CLIENT_SECRET,
};

const CALLBACK: &str = "https://app.example.test/callback";
const API: &str = "https://api.example.test/";
const EMAIL: &str = "logs@example.test";
const PASSWORD: &str = "a password that never appears in a log";

/// A `grantor serve` process on `db` whose stderr is collected line by line.
pub struct Server {
    child: std::process::Child,
    pub base_url: String,
    lines: Arc<Mutex<Vec<String>>>,
    reader: std::thread::JoinHandle<()>,
}

impl Server {
    pub fn start(db: &TestDatabase) -> Self {
        Self::start_with(db, &[])
    }

    /// [`Server::start`] with more environment variables.
    pub fn start_with(db: &TestDatabase, env: &[(&str, &str)]) -> Self {
        crate::support::tls();
        let mut command = Command::new(env!("CARGO_BIN_EXE_grantor"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("GRANTOR_ISSUER")
            .env_remove("GRANTOR_CONFIG")
            .env("GRANTOR_DATABASE_URL", db.url())
            .env("GRANTOR_LOG_FORMAT", "json")
            // grantor's own debug lines too: a stricter test for secrets.
            .env("RUST_LOG", "info,grantor=debug")
            .env("GRANTOR_BOOTSTRAP_CLIENT_ID", MGMT_CLIENT_ID)
            .env("GRANTOR_BOOTSTRAP_CLIENT_SECRET", MGMT_CLIENT_SECRET)
            .env("GRANTOR_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("GRANTOR_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("GRANTOR_RATE_LIMIT_PER_IP", "0")
            .env("GRANTOR_RATE_LIMIT_PER_CLIENT", "0")
            .env("GRANTOR_RATE_LIMIT_WRITES_PER_IP", "0")
            .env("GRANTOR_PURGE_INTERVAL_SECONDS", "0")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("grantor starts");
        let (addr, stderr) = crate::support::process::listen_address(&mut child);
        let base_url = format!("http://{addr}");
        let (lines, reader) = (stderr.lines, stderr.reader);
        Self {
            child,
            base_url,
            lines,
            reader,
        }
    }

    /// SIGTERM, wait for the exit, and every line it wrote.
    pub fn stop(mut self) -> Vec<String> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert_eq!(exit.code(), Some(0));
        self.reader.join().unwrap();
        let lines = self.lines.lock().unwrap().clone();
        lines
    }
}

/// What one tracked request must have logged.
#[derive(Debug)]
struct Expected {
    request_id: String,
    method: &'static str,
    route: &'static str,
    status: u16,
    client_id: Option<String>,
}

/// Sends requests and remembers what each must log, and every secret seen.
#[derive(Default)]
struct Tracker {
    expected: Vec<Expected>,
    secrets: Vec<String>,
}

impl Tracker {
    async fn send(
        &mut self,
        request: RequestBuilder,
        method: &'static str,
        route: &'static str,
        client_id: Option<&str>,
    ) -> Response {
        let response = request.send().await.expect("request");
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("every response carries X-Request-Id")
            .to_owned();
        for cookie in response.headers().get_all(SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
            self.secret(value);
        }
        self.expected.push(Expected {
            request_id,
            method,
            route,
            status: response.status().as_u16(),
            client_id: client_id.map(str::to_owned),
        });
        response
    }

    fn secret(&mut self, value: &str) {
        if value.len() >= 8 {
            self.secrets.push(value.to_owned());
            // A JWT's signature alone is a secret too.
            if let Some(signature) = value.split('.').nth(2) {
                self.secrets.push(signature.to_owned());
            }
        }
    }

    fn last_request_id(&self) -> &str {
        &self.expected.last().unwrap().request_id
    }
}

/// Walks the login and consent pages from `response`; returns the redirect.
async fn sign_in(
    tracker: &mut Tracker,
    base: &str,
    browser: &reqwest::Client,
    mut response: Response,
) -> String {
    for _ in 0..4 {
        let status = response.status();
        if status == StatusCode::SEE_OTHER {
            return location(&response).unwrap();
        }
        let html = response.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{html}");
        let csrf = input_value(&html, "csrf").expect("csrf");
        let request = input_value(&html, "request").expect("request");
        tracker.secret(&csrf);
        tracker.secret(&request);
        response = if is_login_page(&html) {
            let form = [
                ("csrf", csrf.as_str()),
                ("request", request.as_str()),
                ("username", EMAIL),
                ("password", PASSWORD),
            ];
            let post = browser.post(format!("{base}/u/login")).form(&form);
            tracker.send(post, "POST", "/u/login", None).await
        } else {
            assert!(is_consent_page(&html), "{html}");
            let form = [
                ("csrf", csrf.as_str()),
                ("request", request.as_str()),
                ("decision", "accept"),
            ];
            let post = browser.post(format!("{base}/u/consent")).form(&form);
            tracker.send(post, "POST", "/u/consent", None).await
        };
    }
    panic!("too many pages");
}

async fn json_of(response: Response) -> Value {
    let (status, body) = read(response).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

both_databases! {
    async fn one_line_per_request_with_its_id_and_no_secret_in_any_line(db: Backend) {
        let db = Arc::new(TestDatabase::new(db).await);
        let server = Server::start(&db);
        let base = server.base_url.clone();
        let app = TestApp::remote(&base, db.clone());
        let mut tracker = Tracker::default();
        for secret in [MGMT_CLIENT_SECRET, ADMIN_PASSWORD, PASSWORD] {
            tracker.secret(secret);
        }

        // Arrange (these requests are logged too, untracked).
        create_user(&app, EMAIL, PASSWORD).await;
        let (web, web_secret) = web_client(&app, "web", &[CALLBACK]).await;
        tracker.secret(&web_secret);
        app.create_api(API, &["read:a"]).await;
        let (machine, machine_secret, _) = app
            .create_client(json!({"name": "worker", "grant_types": ["client_credentials"]}))
            .await;
        tracker.secret(&machine_secret);
        app.create_client_grant(&machine, API, &["read:a"]).await;

        // Sign-in: authorization code with PKCE through the forms.
        let browser = new_browser();
        let (verifier, challenge) = pkce_pair();
        tracker.secret(&verifier);
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", web.as_str()),
            ("redirect_uri", CALLBACK),
            ("scope", "openid offline_access"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("state", "some-state"),
        ])
        .unwrap();
        let response = tracker
            .send(browser.get(format!("{base}/authorize?{query}")), "GET", "/authorize", None)
            .await;
        let redirect = sign_in(&mut tracker, &base, &browser, response).await;
        let code = query_param(&redirect, "code").expect("a code");
        tracker.secret(&code);
        let http = reqwest::Client::new();
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", web.as_str()),
            ("client_secret", web_secret.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.as_str()),
        ];
        let tokens = json_of(
            tracker
                .send(http.post(format!("{base}/oauth/token")).form(&form), "POST", "/oauth/token", Some(&web))
                .await,
        )
        .await;
        for name in ["access_token", "refresh_token", "id_token"] {
            tracker.secret(tokens[name].as_str().unwrap_or_else(|| panic!("{name}: {tokens}")));
        }
        let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();

        // A refresh.
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", web.as_str()),
            ("client_secret", web_secret.as_str()),
            ("refresh_token", refresh_token.as_str()),
        ];
        let refreshed = json_of(
            tracker
                .send(http.post(format!("{base}/oauth/token")).form(&form), "POST", "/oauth/token", Some(&web))
                .await,
        )
        .await;
        for name in ["access_token", "refresh_token", "id_token"] {
            if let Some(value) = refreshed[name].as_str() {
                tracker.secret(value);
            }
        }
        let current = refreshed["refresh_token"].as_str().unwrap_or(&refresh_token).to_owned();

        // A revoke (Basic credentials), then the revoked token refused, whose
        // cause is logged at debug inside the request's span.
        let revoke = http
            .post(format!("{base}/oauth/revoke"))
            .basic_auth(&web, Some(&web_secret))
            .form(&[("token", current.as_str())]);
        let response = tracker.send(revoke, "POST", "/oauth/revoke", Some(&web)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let form = [
            ("grant_type", "refresh_token"),
            ("client_id", web.as_str()),
            ("client_secret", web_secret.as_str()),
            ("refresh_token", current.as_str()),
        ];
        let response = tracker
            .send(http.post(format!("{base}/oauth/token")).form(&form), "POST", "/oauth/token", Some(&web))
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        // A client-credentials grant and a Management API call.
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", machine.as_str()),
            ("client_secret", machine_secret.as_str()),
            ("audience", API),
        ];
        let machine_token = json_of(
            tracker
                .send(http.post(format!("{base}/oauth/token")).form(&form), "POST", "/oauth/token", Some(&machine))
                .await,
        )
        .await;
        tracker.secret(machine_token["access_token"].as_str().unwrap());
        let mgmt = app.mgmt_token().await;
        tracker.secret(&mgmt);
        let call = http
            .get(format!("{base}/api/v2/clients/{web}"))
            .bearer_auth(&mgmt);
        let client = json_of(tracker.send(call, "GET", "/api/v2/clients/{id}", Some(MGMT_CLIENT_ID)).await).await;
        assert_eq!(client["client_id"], web.as_str());
        // A token for another API at the Management API: 401, whose cause
        // is logged at debug inside the request's span (the token is not).
        let call = http
            .get(format!("{base}/api/v2/clients/{web}"))
            .bearer_auth(machine_token["access_token"].as_str().unwrap());
        let response = tracker.send(call, "GET", "/api/v2/clients/{id}", None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let refused = tracker.last_request_id().to_owned();

        // A sane incoming X-Request-Id is kept; an insane one is replaced.
        let call = http.get(format!("{base}/healthz")).header("x-request-id", "edge-proxy:0001");
        tracker.send(call, "GET", "/healthz", None).await;
        assert_eq!(tracker.last_request_id(), "edge-proxy:0001");
        for insane in ["x".repeat(129), "two words".to_owned()] {
            let call = http.get(format!("{base}/healthz")).header("x-request-id", insane.as_str());
            tracker.send(call, "GET", "/healthz", None).await;
            let replaced = tracker.last_request_id();
            assert!(
                replaced.len() == 32 && replaced.chars().all(|c| c.is_ascii_hexdigit()),
                "{insane:?} was replaced by a generated id, got {replaced:?}"
            );
        }
        // No route: logged under "(unmatched)".
        tracker.send(http.get(format!("{base}/no/such/path")), "GET", "(unmatched)", None).await;

        let lines = server.stop();

        // Every line is a JSON object; no secret in any of them.
        let parsed: Vec<Value> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
            .collect();
        let all = lines.join("\n");
        for secret in &tracker.secrets {
            assert!(!all.contains(secret.as_str()), "a secret was logged: {secret}");
        }

        // One request line per request, with its fields.
        let request_lines: Vec<&Value> = parsed.iter().filter(|l| l["target"] == "grantor::request").collect();
        for expected in &tracker.expected {
            let matching: Vec<&&Value> = request_lines
                .iter()
                .filter(|l| l["request_id"] == expected.request_id.as_str())
                .collect();
            assert_eq!(matching.len(), 1, "one line for {expected:?}: {matching:?}");
            let line = matching[0];
            assert_eq!(line["level"], "INFO", "{line}");
            assert_eq!(line["method"], expected.method, "{line}");
            assert_eq!(line["route"], expected.route, "{line}");
            assert_eq!(line["status"], expected.status, "{line}");
            assert!(line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
            match &expected.client_id {
                Some(client) => assert_eq!(line["client_id"], client.as_str(), "{line}"),
                None => assert!(line.get("client_id").is_none(), "{line}"),
            }
            assert_eq!(line["span"]["request_id"], expected.request_id.as_str(), "{line}");
        }
        // No request logged twice (the untracked ones included).
        let mut ids: Vec<&str> = request_lines.iter().map(|l| l["request_id"].as_str().unwrap()).collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "a request id logged twice");

        // Every other line logged inside a request carries its id; the
        // refused refresh logged at least one such line.
        let mut inside_refused = 0;
        for line in &parsed {
            let Some(spans) = line["spans"].as_array() else { continue };
            let Some(request) = spans.iter().find(|s| s["name"] == "request") else { continue };
            let id = request["request_id"].as_str().expect("a request span carries its id");
            assert!(ids.binary_search(&id).is_ok(), "a line of a request without its request line: {line}");
            if id == refused && line["target"] != "grantor::request" {
                inside_refused += 1;
            }
        }
        assert!(inside_refused >= 1, "the refused token's cause is logged inside the request's span");
    }
}
