//! The workloads, each a closed loop per connection: send, wait for the
//! answer, check it, send the next. A request counts when it started inside
//! the measured window; the warm-up's requests are sent but not counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hdrhistogram::Histogram;
use hyper::StatusCode;
use sha2::{Digest, Sha256};

use crate::fixture::{Fixture, Params};
use crate::http::{form, Answer, Connection};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// `grant_type=client_credentials` for the API signed with this algorithm.
    ClientCredentials(String),
    /// Refresh rotation; each chain presents the token it was last given.
    Refresh(String),
    /// `/oauth/revoke` of a refresh token, each token once.
    Revoke,
    /// `/authorize` with a signed-in session, then the code exchange (PKCE).
    AuthorizationCode,
}

impl Workload {
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "revoke" => Self::Revoke,
            "authorization-code" => Self::AuthorizationCode,
            _ => match name.split_once(':') {
                Some(("client-credentials", alg)) => Self::ClientCredentials(alg.to_owned()),
                Some(("refresh", alg)) => Self::Refresh(alg.to_owned()),
                _ => bail!("unknown workload {name:?} (client-credentials:ALG, refresh:ALG, revoke, authorization-code)"),
            },
        })
    }

    pub fn name(&self) -> String {
        match self {
            Self::ClientCredentials(alg) => format!("client-credentials:{alg}"),
            Self::Refresh(alg) => format!("refresh:{alg}"),
            Self::Revoke => "revoke".into(),
            Self::AuthorizationCode => "authorization-code".into(),
        }
    }
}

/// What one connection measured.
pub struct Tally {
    pub histogram: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The revoke workload ran out of tokens before the window ended.
    pub exhausted: bool,
    /// Refresh workloads: each chain's current token, by connection.
    pub chain_heads: Vec<(usize, String)>,
}

impl Tally {
    fn new() -> Self {
        Self {
            // Microseconds, 1 µs to 60 s, 3 significant digits.
            histogram: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            ok: 0,
            errors: 0,
            first_error: None,
            exhausted: false,
            chain_heads: Vec::new(),
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.histogram.add(&other.histogram).expect("same bounds");
        self.ok += other.ok;
        self.errors += other.errors;
        self.exhausted |= other.exhausted;
        self.chain_heads.extend(other.chain_heads);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

pub struct Window {
    pub measure_from: Instant,
    pub end: Instant,
    pace: Option<Pace>,
}

/// A fixed request rate shared by every connection: request `n` (counted
/// over all connections) starts no earlier than `start + n / rate`.
struct Pace {
    start: Instant,
    seconds_per_request: f64,
    next: AtomicUsize,
}

impl Window {
    pub fn new(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now();
        Self {
            measure_from: start + warmup,
            end: start + warmup + duration,
            pace: None,
        }
    }

    /// At most `per_second` requests a second in all (`None`: as fast as
    /// the connections go).
    pub fn paced(mut self, per_second: Option<f64>) -> Self {
        self.pace = per_second.filter(|r| *r > 0.0).map(|rate| Pace {
            start: Instant::now(),
            seconds_per_request: 1.0 / rate,
            next: AtomicUsize::new(0),
        });
        self
    }

    /// Waits for this connection's next turn under the pace.
    async fn turn(&self) {
        if let Some(pace) = &self.pace {
            let n = pace.next.fetch_add(1, Ordering::Relaxed);
            let at = pace.start + Duration::from_secs_f64(n as f64 * pace.seconds_per_request);
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

/// Runs `workload` on `connections` connections until the window ends.
pub async fn run(
    fixture: Arc<Fixture>,
    workload: &Workload,
    connections: usize,
    window: Arc<Window>,
) -> anyhow::Result<Tally> {
    let shared = Arc::new(Shared::new(&fixture, workload, connections)?);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..connections {
        let mut conn = Connection::open(&fixture.base_url).await?;
        let fixture = fixture.clone();
        let workload = workload.clone();
        let window = window.clone();
        let shared = shared.clone();
        tasks.spawn(async move {
            let mut tally = Tally::new();
            let mut state = ConnState::new(&fixture, &workload, &shared, index);
            while Instant::now() < window.end {
                window.turn().await;
                if Instant::now() >= window.end {
                    break;
                }
                let started = Instant::now();
                let outcome = one(&mut conn, &fixture, &workload, &shared, &mut state).await;
                let measured = started >= window.measure_from;
                match outcome {
                    Ok(Step::Done) => {
                        if measured {
                            let micros = started.elapsed().as_micros().max(1) as u64;
                            tally.histogram.saturating_record(micros);
                            tally.ok += 1;
                        }
                    }
                    Ok(Step::Exhausted) => {
                        tally.exhausted = true;
                        break;
                    }
                    Err(e) => {
                        tally.errors += 1;
                        if tally.first_error.is_none() {
                            tally.first_error = Some(format!("{e:#}"));
                        }
                        // A broken refresh chain or connection cannot go on.
                        if matches!(workload, Workload::Refresh(_)) || conn.is_closed() {
                            break;
                        }
                    }
                }
            }
            if matches!(workload, Workload::Refresh(_)) {
                tally.chain_heads.push((index, state.refresh_token));
            }
            tally
        });
    }
    let mut total = Tally::new();
    while let Some(tally) = tasks.join_next().await {
        total.merge(tally?);
    }
    Ok(total)
}

/// Inputs the connections share.
struct Shared {
    revoke_next: AtomicUsize,
}

impl Shared {
    fn new(fixture: &Fixture, workload: &Workload, connections: usize) -> anyhow::Result<Self> {
        match workload {
            Workload::ClientCredentials(alg) => {
                fixture
                    .client_credentials
                    .get(alg)
                    .with_context(|| format!("the fixture has no client_credentials for {alg}"))?;
            }
            Workload::Refresh(alg) => {
                let chains = fixture
                    .refresh
                    .get(alg)
                    .with_context(|| format!("the fixture has no refresh chains for {alg}"))?;
                if chains.tokens.len() < connections {
                    bail!(
                        "{} refresh chains for {alg}, {connections} connections",
                        chains.tokens.len()
                    );
                }
            }
            Workload::Revoke | Workload::AuthorizationCode => {}
        }
        Ok(Self {
            revoke_next: AtomicUsize::new(0),
        })
    }
}

/// What a connection carries from one request to the next.
struct ConnState {
    refresh_token: String,
    cookies: BTreeMap<String, String>,
}

impl ConnState {
    fn new(fixture: &Fixture, workload: &Workload, _shared: &Shared, index: usize) -> Self {
        let refresh_token = match workload {
            Workload::Refresh(alg) => fixture.refresh[alg].tokens[index].clone(),
            _ => String::new(),
        };
        let mut cookies = BTreeMap::new();
        if let Some(header) = &fixture.authorization_code.cookie {
            for pair in header.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=') {
                    cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        Self {
            refresh_token,
            cookies,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take_cookies(&mut self, answer: &Answer) {
        for value in answer.headers.get_all(hyper::header::SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or("");
            if let Some((k, v)) = pair.split_once('=') {
                let expired = value.to_ascii_lowercase().contains("max-age=0")
                    || value
                        .to_ascii_lowercase()
                        .contains("expires=thu, 01 jan 1970");
                if expired || v.is_empty() {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies.insert(k.trim().to_owned(), v.to_owned());
                }
            }
        }
    }
}

enum Step {
    Done,
    Exhausted,
}

fn with_params<'a>(
    base: Vec<(&'a str, &'a str)>,
    params: &'a Params,
) -> impl Iterator<Item = (&'a str, &'a str)> {
    base.into_iter()
        .chain(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn expect(answer: &Answer, status: StatusCode, what: &str) -> anyhow::Result<()> {
    if answer.status != status {
        bail!(
            "{what}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
        );
    }
    Ok(())
}

async fn one(
    conn: &mut Connection,
    fixture: &Fixture,
    workload: &Workload,
    shared: &Shared,
    state: &mut ConnState,
) -> anyhow::Result<Step> {
    match workload {
        Workload::ClientCredentials(alg) => {
            let call = &fixture.client_credentials[alg];
            let body = form(with_params(
                vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", &call.client_id),
                    ("client_secret", &call.client_secret),
                ],
                &call.params,
            ));
            let answer = conn.post_form(&fixture.paths.token, body).await?;
            expect(&answer, StatusCode::OK, "client_credentials")?;
            token_field(&answer, "access_token")?;
        }
        Workload::Refresh(alg) => {
            let chains = &fixture.refresh[alg];
            let body = form(with_params(
                vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &state.refresh_token),
                    ("client_id", &chains.client_id),
                    ("client_secret", &chains.client_secret),
                ],
                &chains.params,
            ));
            let answer = conn.post_form(&fixture.paths.token, body).await?;
            expect(&answer, StatusCode::OK, "refresh exchange")?;
            token_field(&answer, "access_token")?;
            state.refresh_token =
                token_field(&answer, "refresh_token").context("refresh exchange did not rotate")?;
        }
        Workload::Revoke => {
            let set = &fixture.revoke;
            let i = shared.revoke_next.fetch_add(1, Ordering::Relaxed);
            let Some(token) = set.tokens.get(i) else {
                return Ok(Step::Exhausted);
            };
            let body = form([
                ("token", token.as_str()),
                ("token_type_hint", "refresh_token"),
                ("client_id", &set.client_id),
                ("client_secret", &set.client_secret),
            ]);
            let answer = conn.post_form(&fixture.paths.revoke, body).await?;
            expect(&answer, StatusCode::OK, "revoke")?;
        }
        Workload::AuthorizationCode => authorization_code(conn, fixture, state).await?,
    }
    Ok(Step::Done)
}

fn token_field(answer: &Answer, field: &str) -> anyhow::Result<String> {
    let json: serde_json::Value = serde_json::from_slice(&answer.body)?;
    json[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {field} in the answer"))
}

/// One round of the code flow: `/authorize` (following the server's own
/// redirects with this connection's cookies) until it redirects to the
/// client with a code, then the exchange with the PKCE verifier.
async fn authorization_code(
    conn: &mut Connection,
    fixture: &Fixture,
    state: &mut ConnState,
) -> anyhow::Result<()> {
    let flow = &fixture.authorization_code;
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let csrf_state = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 12]>());
    let query = form(with_params(
        vec![
            ("response_type", "code"),
            ("client_id", &flow.client_id),
            ("redirect_uri", &flow.redirect_uri),
            ("state", &csrf_state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
        &flow.authorize_params,
    ));
    let mut path = format!("{}?{query}", fixture.paths.authorize);
    let mut code = None;
    for _ in 0..10 {
        let answer = conn.get(&path, Some(&state.cookie_header())).await?;
        state.take_cookies(&answer);
        if !answer.status.is_redirection() {
            bail!(
                "/authorize answered {} instead of redirecting: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
            );
        }
        let location = answer
            .headers
            .get(hyper::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("redirect without Location")?;
        if location.starts_with(&flow.redirect_uri) {
            let url = url::Url::parse(location)?;
            let mut pairs: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
            if pairs.get("state") != Some(&csrf_state) {
                bail!("state did not round-trip: {location}");
            }
            code = Some(
                pairs
                    .remove("code")
                    .with_context(|| format!("no code in {location}"))?,
            );
            break;
        }
        path = match location.strip_prefix(&fixture.base_url) {
            Some(rest) => rest.to_owned(),
            None if location.starts_with('/') => location.to_owned(),
            None => bail!("redirect off the server: {location}"),
        };
    }
    let code = code.context("too many redirects")?;
    let body = form(with_params(
        vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &flow.redirect_uri),
            ("code_verifier", &verifier),
            ("client_id", &flow.client_id),
            ("client_secret", &flow.client_secret),
        ],
        &flow.token_params,
    ));
    let answer = conn.post_form(&fixture.paths.token, body).await?;
    expect(&answer, StatusCode::OK, "code exchange")?;
    token_field(&answer, "access_token")?;
    Ok(())
}
