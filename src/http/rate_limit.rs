//! Rate limits (CONTRACT §6.4): token buckets per client IP and per client id
//! on the Authentication API's token, revocation, introspection and device
//! endpoints, on the browser pages that sign in and activate, and on the
//! Management API; plus a tighter per-IP bucket for the endpoints that write
//! rows without a secret (`GET /authorize` saves a pending request,
//! `POST /oauth/device/code` a device code, `POST /oauth/par` a pushed
//! request, which a public client makes with its id alone), so that those
//! rows stay bounded per IP: at most `burst + per_minute × lifetime in minutes` live at once.
//!
//! The buckets are `governor` keyed limiters held in this process's memory:
//! with several processes behind a load balancer each process has its own
//! allowance. Keys are `(surface, ip)` and `(surface, client id)`, so traffic
//! on one surface never uses up another's; IPv6 addresses are bucketed by
//! their /64, which is what one subscriber usually gets. Memory is bounded:
//! [`spawn_pruner`] drops every key whose bucket is full again once a minute,
//! and a store never holds more than `max_keys` keys: past that, requests
//! with new keys share one overflow bucket until the next prune.
//!
//! A refused call gets 429 in its surface's own error format with
//! `Retry-After` and Auth0's `X-RateLimit-Limit` (the bucket size),
//! `X-RateLimit-Remaining` and `X-RateLimit-Reset` (unix seconds at which the
//! bucket is full again, or, on a 429, at which the next call is allowed).
//! Management API answers carry the `X-RateLimit-*` headers of the tighter of
//! the caller's two buckets.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::nanos::Nanos;
use governor::state::keyed::{DefaultKeyedStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{NotUntil, Quota, RateLimiter};

use super::client_ip::ClientIp;
use super::AppState;

/// A bucket: `per_minute` requests a minute on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

impl Rate {
    /// `None` when `per_minute` is 0 (the limit is off); a burst of 0 means
    /// "the same as `per_minute`".
    pub fn new(per_minute: u32, burst: u32) -> Option<Self> {
        let per_minute = NonZeroU32::new(per_minute)?;
        Some(Self {
            per_minute,
            burst: NonZeroU32::new(burst).unwrap_or(per_minute),
        })
    }

    fn quota(self) -> Quota {
        let period = Duration::from_secs(60) / self.per_minute.get();
        Quota::with_period(period.max(Duration::from_nanos(1)))
            .expect("a positive period")
            .allow_burst(self.burst)
    }
}

/// What the limits are; `None` turns one off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub per_ip: Option<Rate>,
    pub per_client: Option<Rate>,
    /// Unauthenticated requests that write a row (pending `/authorize`
    /// requests, device codes), per IP.
    pub writes_per_ip: Option<Rate>,
    /// Most keys one limiter holds (see the module comment).
    pub max_keys: usize,
}

impl RateLimitConfig {
    /// Every limit off (the black-box tests turn them on one by one).
    pub fn disabled() -> Self {
        Self {
            per_ip: None,
            per_client: None,
            writes_per_ip: None,
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Which surface a bucket belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    OAuth,
    Pages,
    Management,
}

impl Surface {
    /// The metrics' label.
    pub fn label(self) -> &'static str {
        match self {
            Surface::OAuth => "oauth",
            Surface::Pages => "pages",
            Surface::Management => "management",
        }
    }
}

/// A keyed store that never holds more than `cap` keys: a request with a new
/// key while the store is full is measured against one shared overflow state.
#[derive(Debug)]
pub struct CappedStore<K: Hash + Eq + Clone> {
    keys: DefaultKeyedStateStore<K>,
    overflow: InMemoryState,
    cap: usize,
}

impl<K: Hash + Eq + Clone> StateStore for CappedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        if let Some(state) = self.keys.get(key) {
            return state.measure_and_replace(&NotKeyed::NonKey, f);
        }
        if self.keys.len() >= self.cap {
            return self.overflow.measure_and_replace(&NotKeyed::NonKey, f);
        }
        self.keys.measure_and_replace(key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for CappedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.keys.retain_recent(drop_below);
    }

    fn shrink_to_fit(&self) {
        ShrinkableKeyedStateStore::shrink_to_fit(&self.keys);
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

type Limiter<K> = RateLimiter<K, CappedStore<K>, DefaultClock, StateInformationMiddleware>;

fn limiter<K: Hash + Eq + Clone>(rate: Rate, cap: usize) -> Limiter<K> {
    let store = CappedStore {
        keys: DefaultKeyedStateStore::default(),
        overflow: InMemoryState::default(),
        cap: cap.max(1),
    };
    RateLimiter::new(rate.quota(), store, DefaultClock::default())
}

/// An allowed call: what the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub limit: u32,
    pub remaining: u32,
    /// Until the bucket is full again.
    pub reset_after: Duration,
}

impl Allowance {
    fn of(snapshot: &StateSnapshot) -> Self {
        let quota = snapshot.quota();
        let limit = quota.burst_size().get();
        let remaining = snapshot.remaining_burst_capacity().min(limit);
        Self {
            limit,
            remaining,
            reset_after: quota.replenish_interval() * (limit - remaining),
        }
    }

    /// The tighter of two allowances.
    fn tighter(self, other: Option<Self>) -> Self {
        match other {
            Some(o) if o.remaining < self.remaining => o,
            _ => self,
        }
    }

    pub fn headers(&self) -> [(HeaderName, HeaderValue); 3] {
        rate_headers(self.limit, self.remaining, self.reset_after)
    }
}

/// A refused call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub limit: u32,
    pub retry_after: Duration,
}

impl Refusal {
    fn of<P: governor::clock::Reference>(not_until: &NotUntil<P>, now: P) -> Self {
        Self {
            limit: not_until.quota().burst_size().get(),
            retry_after: not_until.wait_time_from(now),
        }
    }

    /// Whole seconds to wait, at least one.
    pub fn retry_after_seconds(&self) -> u64 {
        ceil_seconds(self.retry_after).max(1)
    }

    pub fn message(&self) -> String {
        format!(
            "Too many requests. Try again in {} seconds; see the X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset headers.",
            self.retry_after_seconds()
        )
    }

    /// `Retry-After` and the `X-RateLimit-*` headers.
    pub fn headers(&self) -> [(HeaderName, HeaderValue); 4] {
        let wait = Duration::from_secs(self.retry_after_seconds());
        let [a, b, c] = rate_headers(self.limit, 0, wait);
        [
            (
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(self.retry_after_seconds()),
            ),
            a,
            b,
            c,
        ]
    }

    /// Adds the headers to a rendered 429.
    pub fn decorate(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        for (name, value) in self.headers() {
            headers.insert(name, value);
        }
        response
    }
}

fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

fn rate_headers(limit: u32, remaining: u32, after: Duration) -> [(HeaderName, HeaderValue); 3] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let reset = ceil_seconds(now + after);
    [
        (
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderValue::from(limit),
        ),
        (
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderValue::from(remaining),
        ),
        (
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderValue::from(reset),
        ),
    ]
}

/// The process's buckets (in `AppState`).
pub struct RateLimits {
    per_ip: Option<Limiter<(Surface, IpAddr)>>,
    per_client: Option<Limiter<(Surface, String)>>,
    writes: Option<Limiter<IpAddr>>,
    /// 429s by limit and surface (the metrics register this handle).
    pub refusals: prometheus_client::metrics::family::Family<
        crate::metrics::Labels2,
        prometheus_client::metrics::counter::Counter,
    >,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("keys", &self.key_count())
            .finish()
    }
}

/// The per-IP key: [`client_network`], the address or an IPv6 address's /64.
pub use crate::flows::client_network as ip_key;

fn check<K: Hash + Eq + Clone>(limiter: &Limiter<K>, key: &K) -> Result<Allowance, Refusal> {
    limiter
        .check_key(key)
        .map(|snapshot| Allowance::of(&snapshot))
        .map_err(|not_until| Refusal::of(&not_until, limiter.clock().now()))
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            per_ip: config.per_ip.map(|r| limiter(r, config.max_keys)),
            per_client: config.per_client.map(|r| limiter(r, config.max_keys)),
            writes: config.writes_per_ip.map(|r| limiter(r, config.max_keys)),
            refusals: Default::default(),
        }
    }

    /// Counts a refusal of `limit` on `surface`.
    fn refused<T>(
        &self,
        limit: &'static str,
        surface: &'static str,
        r: Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        if r.is_err() {
            self.refusals
                .get_or_create(&[("limit", limit), ("surface", surface)])
                .inc();
        }
        r
    }

    /// Takes one request from the IP's bucket of `surface`; `Ok(None)` when
    /// the limit is off.
    pub fn check_ip(&self, surface: Surface, ip: IpAddr) -> Result<Option<Allowance>, Refusal> {
        let r = self
            .per_ip
            .as_ref()
            .map(|l| check(l, &(surface, ip_key(ip))))
            .transpose();
        self.refused("per_ip", surface.label(), r)
    }

    /// Takes one request from the client's bucket of `surface`.
    pub fn check_client(
        &self,
        surface: Surface,
        client_id: &str,
    ) -> Result<Option<Allowance>, Refusal> {
        let r = self
            .per_client
            .as_ref()
            .map(|l| check(l, &(surface, client_id.to_owned())))
            .transpose();
        self.refused("per_client", surface.label(), r)
    }

    /// Takes one row-writing request from the IP's bucket.
    pub fn check_write(&self, ip: IpAddr) -> Result<Option<Allowance>, Refusal> {
        let r = self
            .writes
            .as_ref()
            .map(|l| check(l, &ip_key(ip)))
            .transpose();
        // `/authorize` (pages), `/oauth/device/code` and a public client's
        // `/oauth/par` (OAuth): the one bucket is shared by all, so is the
        // label.
        self.refused("writes_per_ip", "unauthenticated_writes", r)
    }

    /// Drops the keys whose buckets are full again (they behave exactly as
    /// absent ones).
    pub fn prune(&self) {
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_client {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.writes {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// Keys held across the limiters.
    pub fn key_count(&self) -> usize {
        self.per_ip.as_ref().map_or(0, |l| l.len())
            + self.per_client.as_ref().map_or(0, |l| l.len())
            + self.writes.as_ref().map_or(0, |l| l.len())
    }
}

/// Prunes the limiters every `every` until the returned task is aborted.
pub fn spawn_pruner(limits: Arc<RateLimits>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            limits.prune();
        }
    })
}

/// The tightest allowance seen while a Management API request runs: the
/// middleware puts the per-IP one here, `Caller` the per-client one, and the
/// middleware copies the result into the response headers.
#[derive(Debug, Clone, Default)]
pub struct AllowanceNote(Arc<Mutex<Option<Allowance>>>);

impl AllowanceNote {
    pub fn note(&self, allowance: Option<Allowance>) {
        if let Some(a) = allowance {
            if let Ok(mut slot) = self.0.lock() {
                *slot = Some(a.tighter(*slot));
            }
        }
    }

    fn get(&self) -> Option<Allowance> {
        self.0.lock().ok().and_then(|slot| *slot)
    }
}

/// Which bucket a request goes to, and whether it writes a row.
fn classify(method: &Method, path: &str) -> Option<(Surface, bool)> {
    match path {
        // `/oauth/par` takes the write bucket in its handler, for public
        // clients only (`http::auth_api::par`).
        "/oauth/token" | "/oauth/revoke" | "/oauth/introspect" | "/oauth/par" => {
            Some((Surface::OAuth, false))
        }
        "/oauth/device/code" => Some((Surface::OAuth, *method == Method::POST)),
        "/authorize" => Some((Surface::Pages, *method == Method::GET)),
        "/u/login" | "/u/consent" | "/activate" | "/dashboard/login" => {
            Some((Surface::Pages, false))
        }
        p if p == "/api/v2" || p.starts_with("/api/v2/") => Some((Surface::Management, false)),
        _ => None,
    }
}

/// A 429 in the format of `surface`.
pub fn refusal_response(surface: Surface, refusal: Refusal) -> Response {
    match surface {
        Surface::OAuth => super::auth_api::AuthApiError::RateLimited(refusal).into_response(),
        Surface::Pages => refusal.decorate(
            super::pages::PageError::Status(
                StatusCode::TOO_MANY_REQUESTS,
                refusal.message().into(),
            )
            .into_response(),
        ),
        Surface::Management => {
            super::management::ApiError::too_many_requests(refusal).into_response()
        }
    }
}

/// Middleware: the per-IP buckets (and, for `/authorize`, the per-client one
/// of the query's `client_id`) before the handler runs; the per-client
/// buckets of bodies and bearer tokens are taken by the handlers, once they
/// have read them.
pub async fn layer(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some((surface, writes)) = classify(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let Some(ClientIp(ip)) = request.extensions().get::<ClientIp>().copied() else {
        return next.run(request).await;
    };
    let limits = &state.rate_limits;
    let by_ip = match limits.check_ip(surface, ip) {
        Ok(a) => a,
        Err(refusal) => return refusal_response(surface, refusal),
    };
    if writes {
        if let Err(refusal) = limits.check_write(ip) {
            tracing::info!(%ip, "refused a row-writing request: per-IP write limit");
            return refusal_response(surface, refusal);
        }
    }
    if surface != Surface::Management {
        return next.run(request).await;
    }
    let note = AllowanceNote::default();
    note.note(by_ip);
    request.extensions_mut().insert(note.clone());
    let mut response = next.run(request).await;
    if let Some(allowance) = note.get() {
        let headers: &mut HeaderMap = response.headers_mut();
        for (name, value) in allowance.headers() {
            headers.entry(name).or_insert(value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_minute: u32, burst: u32) -> Rate {
        Rate::new(per_minute, burst).unwrap()
    }

    #[test]
    fn zero_turns_a_limit_off() {
        assert_eq!(Rate::new(0, 10), None);
        assert_eq!(Rate::new(60, 0), Some(rate(60, 60)));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_wait() {
        let limits = RateLimits::new(&RateLimitConfig {
            per_ip: Some(rate(1, 3)),
            ..RateLimitConfig::disabled()
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let remaining: Vec<u32> = (0..3)
            .map(|_| {
                limits
                    .check_ip(Surface::OAuth, ip)
                    .unwrap()
                    .unwrap()
                    .remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refusal = limits.check_ip(Surface::OAuth, ip).unwrap_err();
        assert_eq!(refusal.limit, 3);
        assert!(refusal.retry_after > Duration::from_secs(50), "{refusal:?}");
        assert_eq!(refusal.retry_after_seconds(), 60);
        // Another surface and another IP have their own buckets.
        assert!(limits.check_ip(Surface::Management, ip).is_ok());
        assert!(limits
            .check_ip(Surface::OAuth, "192.0.2.2".parse().unwrap())
            .is_ok());
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let limits = RateLimits::new(&RateLimitConfig {
            per_ip: Some(rate(1, 1)),
            ..RateLimitConfig::disabled()
        });
        assert!(limits
            .check_ip(Surface::OAuth, "2001:db8:1:2::1".parse().unwrap())
            .is_ok());
        assert!(limits
            .check_ip(Surface::OAuth, "2001:db8:1:2:ffff::9".parse().unwrap())
            .is_err());
        assert!(limits
            .check_ip(Surface::OAuth, "2001:db8:1:3::1".parse().unwrap())
            .is_ok());
    }

    #[test]
    fn the_key_store_is_capped_and_new_keys_share_an_overflow_bucket() {
        let limits = RateLimits::new(&RateLimitConfig {
            per_client: Some(rate(1, 2)),
            max_keys: 10,
            ..RateLimitConfig::disabled()
        });
        for i in 0..10 {
            limits
                .check_client(Surface::OAuth, &format!("client{i}"))
                .unwrap();
        }
        assert_eq!(limits.key_count(), 10);
        // Keys 11 and up all land in the one overflow bucket of two.
        assert!(limits.check_client(Surface::OAuth, "new-a").is_ok());
        assert!(limits.check_client(Surface::OAuth, "new-b").is_ok());
        assert!(limits.check_client(Surface::OAuth, "new-c").is_err());
        assert_eq!(limits.key_count(), 10);
        // Known keys keep their own buckets.
        assert!(limits.check_client(Surface::OAuth, "client0").is_ok());
    }

    #[test]
    fn pruning_drops_only_full_buckets() {
        let limits = RateLimits::new(&RateLimitConfig {
            per_ip: Some(Rate::new(6_000_000, 1).unwrap()),
            per_client: Some(rate(1, 5)),
            ..RateLimitConfig::disabled()
        });
        limits
            .check_ip(Surface::OAuth, "192.0.2.1".parse().unwrap())
            .unwrap();
        limits.check_client(Surface::OAuth, "c").unwrap();
        assert_eq!(limits.key_count(), 2);
        // The per-IP bucket refills in 10 µs; the per-client one takes a minute.
        std::thread::sleep(Duration::from_millis(5));
        limits.prune();
        assert_eq!(limits.key_count(), 1);
    }

    #[test]
    fn classification_covers_the_listed_endpoints() {
        assert_eq!(
            classify(&Method::POST, "/oauth/token"),
            Some((Surface::OAuth, false))
        );
        assert_eq!(
            classify(&Method::POST, "/oauth/device/code"),
            Some((Surface::OAuth, true))
        );
        // A public client's push takes the write bucket in the handler.
        assert_eq!(
            classify(&Method::POST, "/oauth/par"),
            Some((Surface::OAuth, false))
        );
        assert_eq!(
            classify(&Method::GET, "/authorize"),
            Some((Surface::Pages, true))
        );
        assert_eq!(
            classify(&Method::POST, "/activate"),
            Some((Surface::Pages, false))
        );
        assert_eq!(
            classify(&Method::GET, "/api/v2/users"),
            Some((Surface::Management, false))
        );
        assert_eq!(classify(&Method::GET, "/.well-known/jwks.json"), None);
        assert_eq!(classify(&Method::GET, "/healthz"), None);
    }
}
