//! A relying party's back-channel endpoint for the outbox tests: a real HTTP
//! server on 127.0.0.1:0 that records every `logout_token` POSTed to it,
//! answers with a status the test sets, and can hold requests until the test
//! releases them. It is also an RFC 8935 push endpoint (`ssf_url`): each
//! POST's content type, `Authorization` and raw body are recorded, and a
//! success is answered 202, a failure with an RFC 8935 error body.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Form, Router};
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use super::TestApp;

#[derive(Default)]
struct Shared {
    /// Tokens of requests answered 2xx, in arrival order.
    accepted: Mutex<Vec<String>>,
    /// Every request, answered or not.
    requests: AtomicUsize,
    /// The status the next answers carry.
    status: AtomicU16,
    /// While `true`, requests wait before answering.
    held: Mutex<Option<watch::Receiver<bool>>>,
    /// Raw requests to `stream_url` answered 2xx, in arrival order.
    stream_accepted: Mutex<Vec<RawRequest>>,
    /// SET pushes answered 2xx, in arrival order.
    pushes: Mutex<Vec<Push>>,
}

/// A request to the receiver's raw endpoint (a log stream's batch).
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

async fn receive_raw(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> StatusCode {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let held = shared.held.lock().unwrap().clone();
    if let Some(mut released) = held {
        let _ = released.wait_for(|released| *released).await;
    }
    let status = StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap();
    if status.is_success() {
        shared
            .stream_accepted
            .lock()
            .unwrap()
            .push(RawRequest { headers, body });
    }
    status
}

/// One accepted RFC 8935 push.
#[derive(Debug, Clone)]
pub struct Push {
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    /// The raw body: the SET.
    pub body: String,
}

pub struct Receiver {
    /// The URL to register as `backchannel_logout_urls`.
    pub url: String,
    /// The URL to register as an SSF stream's push endpoint.
    pub ssf_url: String,
    /// A URL that records any POST's headers and body (a log stream's
    /// `httpEndpoint`).
    pub stream_url: String,
    shared: Arc<Shared>,
    hold: Mutex<Option<watch::Sender<bool>>>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Deserialize)]
struct LogoutForm {
    logout_token: String,
}

async fn receive(State(shared): State<Arc<Shared>>, Form(form): Form<LogoutForm>) -> StatusCode {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let held = shared.held.lock().unwrap().clone();
    if let Some(mut released) = held {
        let _ = released.wait_for(|released| *released).await;
    }
    let status = StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap();
    if status.is_success() {
        shared.accepted.lock().unwrap().push(form.logout_token);
    }
    status
}

async fn receive_push(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let held = shared.held.lock().unwrap().clone();
    if let Some(mut released) = held {
        let _ = released.wait_for(|released| *released).await;
    }
    let status = StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap();
    if !status.is_success() {
        let error = serde_json::json!({"err": "authentication_failed", "description": "the test receiver refuses"});
        return (status, axum::Json(error));
    }
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    shared.pushes.lock().unwrap().push(Push {
        content_type: header(axum::http::header::CONTENT_TYPE),
        authorization: header(axum::http::header::AUTHORIZATION),
        body,
    });
    (StatusCode::ACCEPTED, axum::Json(Value::Null))
}

impl Receiver {
    /// A receiver answering 200.
    pub async fn start() -> Self {
        super::tls();
        let shared = Arc::new(Shared::default());
        shared.status.store(200, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/backchannel-logout",
            listener.local_addr().unwrap()
        );
        let stream_url = format!("http://{}/log-stream", listener.local_addr().unwrap());
        let ssf_url = format!("http://{}/ssf", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/backchannel-logout", post(receive))
            .route("/log-stream", post(receive_raw))
            .route("/ssf", post(receive_push))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            url,
            stream_url,
            ssf_url,
            shared,
            hold: Mutex::new(None),
            server,
        }
    }

    /// Answers every later request with `status`.
    pub fn answer_with(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    /// Requests from now on wait until [`Receiver::release`].
    pub fn hold(&self) {
        let (tx, rx) = watch::channel(false);
        *self.shared.held.lock().unwrap() = Some(rx);
        *self.hold.lock().unwrap() = Some(tx);
    }

    pub fn release(&self) {
        *self.shared.held.lock().unwrap() = None;
        if let Some(tx) = self.hold.lock().unwrap().take() {
            let _ = tx.send(true);
        }
    }

    /// Requests received so far, answered or not.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The tokens accepted so far.
    pub fn accepted(&self) -> Vec<String> {
        self.shared.accepted.lock().unwrap().clone()
    }

    /// The raw requests accepted so far.
    pub fn raw_accepted(&self) -> Vec<RawRequest> {
        self.shared.stream_accepted.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until `condition` holds for the receiver; panics
    /// with `what` otherwise.
    pub async fn wait_until(&self, what: &str, condition: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !condition(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting until {what} (requests: {}, accepted: {})",
                self.requests(),
                self.accepted().len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The SET pushes accepted so far.
    pub fn pushes(&self) -> Vec<Push> {
        self.shared.pushes.lock().unwrap().clone()
    }

    /// Waits until `n` SET pushes were accepted; returns them.
    pub async fn wait_for_pushes(&self, n: usize) -> Vec<Push> {
        self.wait_until(&format!("{n} SETs arrived"), |r| r.pushes().len() >= n)
            .await;
        self.pushes()
    }

    /// Waits until `n` tokens were accepted; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        self.wait_until(&format!("{n} logout tokens arrived"), |r| {
            r.accepted().len() >= n
        })
        .await;
        self.accepted()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Verifies a logout token against the issuer's JWKS with a third-party
/// library (signature, `iss`, `aud`, `exp`) and checks what Back-Channel
/// Logout 1.0 §2.4 requires of it; returns its claims.
pub async fn verify_logout_token(app: &TestApp, token: &str, client_id: &str) -> Value {
    verify_logout_token_at(&app.url(""), &app.issuer, token, client_id).await
}

/// [`verify_logout_token`] against a server at `base` (a URL ending in `/`).
pub async fn verify_logout_token_at(
    base: &str,
    issuer: &str,
    token: &str,
    client_id: &str,
) -> Value {
    let claims = verify_jwt_at(
        base,
        issuer,
        token,
        "logout+jwt",
        client_id,
        &["iss", "aud", "exp", "iat", "sub"],
    )
    .await;
    assert!(
        claims.get("nonce").is_none(),
        "a logout token has no nonce: {claims}"
    );
    assert!(
        claims["jti"].as_str().is_some_and(|j| !j.is_empty()),
        "{claims}"
    );
    assert!(claims["sid"].as_str().is_some(), "{claims}");
    assert_eq!(
        claims["events"],
        serde_json::json!({"http://schemas.openid.net/event/backchannel-logout": {}}),
        "{claims}"
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 300, "{claims}");
    claims
}

/// Verifies an RS256 JWT of type `typ` from the server at `base` against its
/// JWKS with `jsonwebtoken` (signature, `iss`, `aud`, the `required`
/// claims, and `exp` when it is required); returns its claims.
pub async fn verify_jwt_at(
    base: &str,
    issuer: &str,
    token: &str,
    typ: &str,
    audience: &str,
    required: &[&str],
) -> Value {
    let jwks: JwkSet = reqwest::get(format!(
        "{}/.well-known/jwks.json",
        base.trim_end_matches('/')
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some(typ));
    let jwk = jwks
        .find(header.kid.as_deref().expect("kid"))
        .expect("the signing key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = required.contains(&"exp");
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(required);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("the {typ} token verifies against the JWKS: {e}"))
        .claims
}
