//! Prometheus metrics: `GET /metrics` in the Prometheus text format (0.0.4),
//! on the main listener, or only on `--metrics-listen` when that is given.
//!
//! One [`Metrics`] per process (in `AppState`) holds a `prometheus-client`
//! registry. Events are counted where they happen, one line each (the token
//! flows, `flows::revocation`, the purge, the outbox); the components that
//! already keep their own state (the rate limiter's refusals, the
//! password-hashing gate, the audit queue) own their counters, which are
//! shared handles registered here too. Gauges of state (the pool, the queues)
//! are read when scraped; the outbox's pending count is a grouped `COUNT`
//! that a background task runs every [`OUTBOX_SAMPLE_EVERY`], never a scrape.
//!
//! Labels are bounded: a route template, a method, a status, a grant type,
//! an algorithm, an outcome, a kind, a table, an operation name; never a
//! user, a client, a token or a raw path.
//!
//! No authentication, as Prometheus exporters do: nothing here names a user
//! or a client, and an operator keeps the endpoint off the public network
//! (or serves it on `--metrics-listen`, a private address).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use grantor_domain::{GrantType, SigningAlg};
use grantor_store::{OutboxKind, PurgeReport, RevocationReceipt, RevocationTarget};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::flows::audit::AuditQueue;
use crate::http::rate_limit::RateLimits;
use crate::password::PasswordHashing;
use crate::state::AppState;

/// How often the outbox's pending messages are counted.
pub const OUTBOX_SAMPLE_EVERY: Duration = Duration::from_secs(10);

/// Connections the separate metrics listener serves at once (in all and
/// per client address); more wait in its backlog.
const METRICS_MAX_CONNECTIONS: usize = 16;

/// Label sets of fixed keys and `'static` values: no allocation per event.
pub type Labels1 = [(&'static str, &'static str); 1];
pub type Labels2 = [(&'static str, &'static str); 2];

type Histograms<S> = Family<S, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Arc<str>,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Arc<str>,
    method: &'static str,
}

/// Seconds: from half a millisecond to ten seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// How a refresh-token exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The newest token: a new generation was issued.
    Rotated,
    /// The previous token inside the leeway: a sibling was issued.
    WithinLeeway,
    /// A non-rotating token, used again.
    NonRotating,
    /// A rotated-out token: its family was revoked.
    ReuseDetected,
    /// Refused (unknown, expired, revoked, wrong client, …) or failed.
    Rejected,
}

impl RefreshOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Rotated => "rotated",
            Self::WithinLeeway => "within_leeway",
            Self::NonRotating => "non_rotating",
            Self::ReuseDetected => "reuse_detected",
            Self::Rejected => "rejected",
        }
    }
}

/// The process's metrics; cheap to share (`Arc`), every handle inside is an
/// atomic or a family of them.
pub struct Metrics {
    registry: Registry,
    /// Serve `/metrics` on the main listener (no `--metrics-listen`).
    on_main_listener: bool,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: Histograms<RouteLabels>,
    tokens_issued: Family<Labels2, Counter>,
    refresh_exchanges: Family<Labels1, Counter>,
    revocations: Family<Labels1, Counter>,
    revoked_refresh_tokens: Family<Labels1, Counter>,
    revoked_sessions: Family<Labels1, Counter>,
    store_duration: Histograms<Labels1>,
    pool_connections: Family<Labels1, Gauge>,
    pool_max: Gauge,
    purge_passes: Counter,
    purge_failures: Counter,
    purge_deleted: Family<Labels1, Counter>,
    purge_behind: Gauge,
    outbox_pending: Family<Labels1, Gauge>,
    outbox_deliveries: Family<Labels2, Counter>,
    audit_depth: Gauge,
    password_in_use: Gauge,
    password_waiting: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("on_main_listener", &self.on_main_listener)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every metric; the counters that `audit`, `passwords` and
    /// `rate_limits` own are registered as shared handles.
    pub fn new(
        on_main_listener: bool,
        audit: &AuditQueue,
        passwords: &PasswordHashing,
        rate_limits: &RateLimits,
    ) -> Self {
        let mut registry = Registry::with_prefix("grantor");
        let m = Self {
            registry: Registry::default(),
            on_main_listener,
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            tokens_issued: Family::default(),
            refresh_exchanges: Family::default(),
            revocations: Family::default(),
            revoked_refresh_tokens: Family::default(),
            revoked_sessions: Family::default(),
            store_duration: Family::new_with_constructor(latency_histogram),
            pool_connections: Family::default(),
            pool_max: Gauge::default(),
            purge_passes: Counter::default(),
            purge_failures: Counter::default(),
            purge_deleted: Family::default(),
            purge_behind: Gauge::default(),
            outbox_pending: Family::default(),
            outbox_deliveries: Family::default(),
            audit_depth: Gauge::default(),
            password_in_use: Gauge::default(),
            password_waiting: Gauge::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time from a request's head to its response, by route template and method",
            m.http_duration.clone(),
        );
        r.register(
            "tokens_issued",
            "Access tokens issued at the token endpoint, by grant type and signing algorithm",
            m.tokens_issued.clone(),
        );
        r.register(
            "refresh_exchanges",
            "Refresh-token exchanges, by outcome (rotated, within_leeway, non_rotating, reuse_detected, rejected)",
            m.refresh_exchanges.clone(),
        );
        r.register(
            "revocations",
            "Revocations that found their target, by target kind",
            m.revocations.clone(),
        );
        r.register(
            "revoked_refresh_tokens",
            "Live refresh tokens the revocations covered (a receipt's count, a lower bound past its limit), by target kind",
            m.revoked_refresh_tokens.clone(),
        );
        r.register(
            "revoked_sessions",
            "Sessions the revocations ended, by target kind",
            m.revoked_sessions.clone(),
        );
        r.register(
            "rate_limit_refusals",
            "Requests refused with 429 by a rate limit, by limit and surface",
            rate_limits.refusals.clone(),
        );
        r.register(
            "password_hash_in_use",
            "Argon2id computations running now",
            m.password_in_use.clone(),
        );
        r.register(
            "password_hash_waiting",
            "Password hashes waiting for a place now",
            m.password_waiting.clone(),
        );
        r.register(
            "password_hash_refusals",
            "Password hashes refused (queue full or waited too long), answered with 429",
            passwords.refused.clone(),
        );
        r.register(
            "db_pool_connections",
            "Database pool connections now, by state (in_use, idle)",
            m.pool_connections.clone(),
        );
        r.register(
            "db_pool_max_connections",
            "The most connections the database pool opens",
            m.pool_max.clone(),
        );
        r.register(
            "store_operation_duration_seconds",
            "Duration of each store operation (one transaction), by operation",
            m.store_duration.clone(),
        );
        r.register(
            "purge_passes",
            "Purge passes completed",
            m.purge_passes.clone(),
        );
        r.register(
            "purge_failures",
            "Purge passes that failed",
            m.purge_failures.clone(),
        );
        r.register(
            "purge_deleted_rows",
            "Rows the purge deleted, by table",
            m.purge_deleted.clone(),
        );
        r.register(
            "purge_behind",
            "1 while the last purge pass reported a backlog (the next pass follows at once), else 0",
            m.purge_behind.clone(),
        );
        r.register(
            "outbox_pending_messages",
            "Outbox messages waiting to be delivered or polled, by kind (counted every 10 s)",
            m.outbox_pending.clone(),
        );
        r.register(
            "outbox_deliveries",
            "Outbox delivery attempts recorded, by kind and outcome (delivered, retry, gave_up)",
            m.outbox_deliveries.clone(),
        );
        r.register(
            "audit_queue_depth",
            "Audit events queued for the background writer now",
            m.audit_depth.clone(),
        );
        r.register(
            "audit_events_dropped",
            "Queued audit events that could not be stored",
            audit.dropped.clone(),
        );
        r.register(
            "audit_write_retries",
            "Failed writes of queued audit events that were tried again",
            audit.retries.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts one answered request (the HTTP layer; public for the bench).
    pub fn request(&self, route: Arc<str>, method: &'static str, status: u16, elapsed: Duration) {
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.clone(),
                method,
            })
            .observe(elapsed.as_secs_f64());
        self.http_requests
            .get_or_create(&RequestLabels {
                route,
                method,
                status,
            })
            .inc();
    }

    /// An access token issued at the token endpoint.
    pub fn token_issued(&self, grant_type: GrantType, alg: SigningAlg) {
        self.tokens_issued
            .get_or_create(&[
                ("grant_type", grant_type_label(grant_type)),
                ("alg", alg.as_str()),
            ])
            .inc();
    }

    pub fn refresh_exchange(&self, outcome: RefreshOutcome) {
        self.refresh_exchanges
            .get_or_create(&[("outcome", outcome.as_str())])
            .inc();
    }

    /// A revocation that committed; nothing for an unknown target.
    pub fn revocation(&self, target: &RevocationTarget, receipt: &RevocationReceipt) {
        // Only a revocation that ended something: a target that was found
        // but had nothing live (an already revoked token, a second
        // `/oauth/revoke`) is not counted, so a client cannot drive this up.
        let ended_something =
            receipt.refresh_tokens > 0 || receipt.sessions > 0 || receipt.grants_deleted;
        if !receipt.found || !ended_something {
            return;
        }
        let labels = [("target", target_label(target))];
        self.revocations.get_or_create(&labels).inc();
        self.revoked_refresh_tokens
            .get_or_create(&labels)
            .inc_by(u64::try_from(receipt.refresh_tokens).unwrap_or(0));
        self.revoked_sessions
            .get_or_create(&labels)
            .inc_by(u64::try_from(receipt.sessions).unwrap_or(0));
    }

    /// A purge pass: its deletions per table and whether it is behind.
    pub fn purge_pass(&self, report: &PurgeReport, behind: bool) {
        self.purge_passes.inc();
        self.purge_behind.set(i64::from(behind));
        let tables = [
            ("refresh_token_families", report.refresh_token_families),
            ("refresh_token_secrets", report.refresh_token_secrets),
            ("access_tokens", report.access_tokens),
            ("sessions", report.sessions),
            ("authorization_codes", report.authorization_codes),
            ("authorization_requests", report.authorization_requests),
            ("device_codes", report.device_codes),
            ("attempt_counters", report.attempt_counters),
            ("dpop_proofs", report.dpop_proofs),
            (
                "pushed_authorization_requests",
                report.pushed_authorization_requests,
            ),
            ("logs", report.logs),
            ("outbox", report.outbox),
            ("log_stream_backlog", report.log_stream_backlog),
            ("ssf_backlog", report.ssf_backlog),
            ("log_stream_batches", report.log_stream_batches),
            ("expired_ssf_events", report.expired_ssf_events),
        ];
        for (table, rows) in tables {
            // Created at zero too, so every table shows from the first pass.
            self.purge_deleted
                .get_or_create(&[("table", table)])
                .inc_by(rows);
        }
    }

    pub fn purge_failed(&self) {
        self.purge_failures.inc();
    }

    /// A recorded delivery attempt: `outcome` is delivered, retry or gave_up.
    pub fn delivery(&self, kind: OutboxKind, outcome: &'static str) {
        self.outbox_deliveries
            .get_or_create(&[("kind", kind.as_str()), ("outcome", outcome)])
            .inc();
    }

    /// The text of a scrape, with the gauges of state read now.
    fn render(&self, state: &AppState) -> String {
        let pool = state.store.pool_stats();
        let in_use = pool.size.saturating_sub(pool.idle) + u32::from(pool.dedicated_writer);
        self.pool_connections
            .get_or_create(&[("state", "in_use")])
            .set(i64::from(in_use));
        self.pool_connections
            .get_or_create(&[("state", "idle")])
            .set(i64::from(pool.idle));
        self.pool_max
            .set(i64::from(pool.max) + i64::from(pool.dedicated_writer));
        self.audit_depth.set(gauge_value(state.audit.depth()));
        self.password_in_use
            .set(gauge_value(state.passwords.in_use()));
        self.password_waiting
            .set(gauge_value(state.passwords.waiting()));
        let mut text = String::with_capacity(16 * 1024);
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
        {
            tracing::warn!("encoding the metrics failed: {e}");
        }
        text
    }

    async fn sample_outbox(&self, store: &grantor_store::Store) {
        match store.outbox_pending_counts().await {
            Ok(counts) => {
                for kind in OutboxKind::ALL {
                    let n = counts
                        .iter()
                        .find(|(k, _)| *k == kind)
                        .map_or(0, |(_, n)| *n);
                    self.outbox_pending
                        .get_or_create(&[("kind", kind.as_str())])
                        .set(n);
                }
            }
            Err(e) => tracing::debug!(error = %e, "counting the outbox failed"),
        }
    }
}

impl grantor_store::OperationObserver for Metrics {
    fn observe(&self, operation: &'static str, elapsed: Duration) {
        self.store_duration
            .get_or_create(&[("operation", operation)])
            .observe(elapsed.as_secs_f64());
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn grant_type_label(grant_type: GrantType) -> &'static str {
    match grant_type {
        // The URN is the wire name; the label is shorter.
        GrantType::DeviceCode => "device_code",
        other => other.as_str(),
    }
}

fn target_label(target: &RevocationTarget) -> &'static str {
    use RevocationTarget as T;
    match target {
        T::Family { .. } => "family",
        T::Families { .. } => "families",
        T::Grant { .. } => "grant",
        T::UserGrants { .. } => "user_grants",
        T::User { .. } => "user",
        T::Session { .. } => "session",
        T::UserSessions { .. } => "user_sessions",
        T::UserAccess { .. } => "user_access",
        T::CodeIssue { .. } => "code_issue",
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route label of requests that matched no route (never the raw path).
const UNMATCHED: &str = "unmatched";

/// Middleware: counts every request by its matched route template (the
/// layer runs after routing, so `MatchedPath` is known; the fallback has
/// none and counts as `unmatched`).
pub async fn http_layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route: Arc<str> = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| Arc::from(UNMATCHED), |p| Arc::from(p.as_str()));
    let response = next.run(request).await;
    state
        .metrics
        .request(route, method, response.status().as_u16(), started.elapsed());
    response
}

async fn scrape(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(&state);
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        text,
    )
        .into_response()
}

/// `GET /metrics` for the main router: present only when no separate
/// metrics listener was given.
pub fn routes(state: &AppState) -> Router<AppState> {
    if state.metrics.on_main_listener {
        Router::new().route("/metrics", get(scrape))
    } else {
        Router::new()
    }
}

/// Binds `--metrics-listen`, if given.
pub async fn bind(listen: Option<&str>) -> anyhow::Result<Option<TcpListener>> {
    use anyhow::Context as _;
    match listen {
        None => Ok(None),
        Some(addr) => {
            Ok(Some(TcpListener::bind(addr).await.with_context(|| {
                format!("binding the metrics listener {addr}")
            })?))
        }
    }
}

/// The tasks [`spawn`] starts.
pub struct Tasks {
    /// Samples the outbox backlog; runs until aborted.
    pub sampler: tokio::task::JoinHandle<()>,
    /// The separate listener's server, when there is one; ends after
    /// `shutdown`.
    pub listener: Option<tokio::task::JoinHandle<()>>,
}

/// Starts the outbox sampler and, with a separate listener, its server
/// (`/metrics` only; everything else 404), which stops like the main one
/// when `shutdown` completes (its connections, and their copies of the
/// state, gone).
pub fn spawn(
    state: AppState,
    listener: Option<TcpListener>,
    header_read_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Tasks {
    let sampler_state = state.clone();
    let sampler = tokio::spawn(async move {
        let mut tick = tokio::time::interval(OUTBOX_SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sampler_state
                .metrics
                .sample_outbox(&sampler_state.store)
                .await;
        }
    });
    let listener = listener.map(|listener| {
        let router = Router::new()
            .route("/metrics", get(scrape))
            .fallback(|| async { StatusCode::NOT_FOUND })
            .with_state(state);
        // The main listener's accept loop, with its header-read timeout and
        // a small connection cap: a scraper needs one or two connections,
        // and nobody reaching this port can hold more.
        let limits = crate::config::ConnectionConfig {
            header_read_timeout,
            max_connections: METRICS_MAX_CONNECTIONS,
            max_connections_per_ip: METRICS_MAX_CONNECTIONS,
            ..crate::config::ConnectionConfig::default()
        };
        tokio::spawn(async move {
            crate::app::serve(
                listener,
                router,
                &limits,
                Default::default(),
                None,
                shutdown,
            )
            .await;
        })
    });
    Tasks { sampler, listener }
}
