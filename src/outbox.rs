//! Delivery of the durable outbox (`ops/outbox.rs` in the store): messages
//! written in the transaction of the change they announce are sent here,
//! after the change's call has returned, so a slow or failing receiver never
//! slows or fails it.
//!
//! Guarantees: at least once (a message is settled as delivered only after
//! its receiver answered 2xx); a failed attempt is retried with exponential
//! backoff (`retry_base` doubling up to `retry_cap`) until `max_attempts`,
//! then marked failed; each process sends at most `per_destination`
//! requests to one destination at a time; several processes may deliver from
//! one database (a claim is a lease, taken by one conditional update, on
//! PostgreSQL with `FOR UPDATE SKIP LOCKED`); a process killed mid-delivery
//! loses only its lease, and the message is sent again once the lease runs
//! out. Receivers must therefore accept a message twice (the `jti` is stable
//! across attempts).
//!
//! Message kinds: OpenID Connect Back-Channel Logout 1.0 tokens
//! (`backchannel_logout`), one per session and client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use grantor_domain::{SigningAlg, Timestamp};
use grantor_store::{DeliveryOutcome, OutboxClaim, OutboxKind, OutboxMessage};
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::state::AppState;

/// The back-channel logout event member (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid after it is signed (each attempt signs anew).
const LOGOUT_TOKEN_LIFETIME_SECONDS: i64 = 120;
/// The longest error text kept for a failed attempt.
const MAX_ERROR_LENGTH: usize = 300;

/// How the delivery worker runs (CLI flags `--outbox-*`).
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// How often the worker looks for due messages when nothing woke it;
    /// `None` turns delivery off (messages stay queued).
    pub poll_interval: Option<Duration>,
    /// How long a claim holds a message before another process may take it.
    pub lease: Duration,
    /// Messages claimed at once.
    pub batch: i64,
    /// Concurrent requests to one destination, per process.
    pub per_destination: usize,
    /// Attempts before a message is marked failed.
    pub max_attempts: i64,
    /// The first retry's delay; it doubles with each attempt.
    pub retry_base: Duration,
    /// The longest delay between attempts.
    pub retry_cap: Duration,
    /// Connect plus answer, per request.
    pub request_timeout: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            poll_interval: Some(Duration::from_secs(1)),
            lease: Duration::from_secs(60),
            batch: 50,
            per_destination: 4,
            max_attempts: 20,
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl OutboxConfig {
    /// The delay before attempt `attempts + 1`, after `attempts` failed ones.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        self.retry_base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.retry_cap)
    }
}

/// The handle flows use to say "something was queued": the worker looks
/// at once instead of at its next poll. Cheap to clone.
#[derive(Clone, Default)]
pub struct Outbox {
    notify: Arc<Notify>,
}

impl Outbox {
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// Starts the delivery loop; it runs until the returned task is aborted.
/// Messages in flight when it is aborted keep their lease and are sent again
/// once it runs out.
pub fn spawn(state: AppState, config: OutboxConfig) -> Option<tokio::task::JoinHandle<()>> {
    let poll = config.poll_interval?;
    let client = match http_client(&config) {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "outbox: no HTTP client; delivery is off");
            return None;
        }
    };
    let owner = crate::secrets::hex_id(16);
    Some(tokio::spawn(async move {
        let limits = DestinationLimits::new(config.per_destination);
        loop {
            let delivered_some = match deliver_due(&state, &client, &config, &owner, &limits).await
            {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: claiming messages failed; trying again later");
                    false
                }
            };
            if !delivered_some {
                // Woken by a new message, or the poll (retries, other processes).
                let _ = tokio::time::timeout(poll, state.outbox.notify.notified()).await;
            }
        }
    }))
}

fn http_client(config: &OutboxConfig) -> anyhow::Result<reqwest::Client> {
    // rustls with aws-lc-rs, the crypto the signing keys already use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout)
        // A receiver answers; it does not send us elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("grantor/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// One semaphore per destination URL, created on first use.
struct DestinationLimits {
    per_destination: usize,
    semaphores: std::sync::Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl DestinationLimits {
    fn new(per_destination: usize) -> Self {
        Self {
            per_destination: per_destination.max(1),
            semaphores: std::sync::Mutex::new(HashMap::new()),
        }
    }

    fn for_destination(&self, destination: &str) -> Arc<Semaphore> {
        let mut map = self
            .semaphores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Destinations come from client registrations; drop idle entries
        // now and then so the map stays small.
        if map.len() > 1_000 {
            map.retain(|_, s| s.available_permits() < self.per_destination);
        }
        map.entry(destination.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_destination)))
            .clone()
    }
}

/// Claims one batch of due messages and delivers them concurrently (within
/// each destination's limit); returns how many it claimed.
async fn deliver_due(
    state: &AppState,
    client: &reqwest::Client,
    config: &OutboxConfig,
    owner: &str,
    limits: &DestinationLimits,
) -> anyhow::Result<usize> {
    let now = state.clock.now();
    if !state.store.outbox_due(now).await? {
        return Ok(0);
    }
    let lease_ms = i64::try_from(config.lease.as_millis()).unwrap_or(i64::MAX);
    let claim = OutboxClaim {
        owner: owner.to_owned(),
        lease_until: Timestamp(now.0.saturating_add(lease_ms)),
        limit: config.batch,
    };
    let messages = state.store.claim_outbox(&claim, now).await?;
    let claimed = messages.len();
    let mut tasks = tokio::task::JoinSet::new();
    for message in messages {
        let semaphore = limits.for_destination(&message.destination);
        let state = state.clone();
        let client = client.clone();
        let config = config.clone();
        let owner = owner.to_owned();
        tasks.spawn(async move {
            let Ok(_permit) = semaphore.acquire_owned().await else {
                return;
            };
            let result = attempt(&state, &client, &message).await;
            let now = state.clock.now();
            let outcome = match result {
                Ok(()) => DeliveryOutcome::Delivered,
                Err(error) if message.attempts >= config.max_attempts => {
                    DeliveryOutcome::GaveUp { error }
                }
                Err(error) => {
                    let delay = config.backoff(message.attempts);
                    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                    DeliveryOutcome::Retry {
                        error,
                        next_attempt_at: Timestamp(now.0.saturating_add(delay_ms)),
                    }
                }
            };
            log_outcome(&message, &outcome);
            match state
                .store
                .settle_outbox(&message.id, &owner, &outcome, now)
                .await
            {
                Ok(true) => {}
                Ok(false) => tracing::warn!(
                    message = %message.id,
                    "outbox: the lease ran out before the attempt was recorded; the message may be sent again"
                ),
                Err(e) => tracing::warn!(message = %message.id, error = %e, "outbox: recording an attempt failed"),
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    Ok(claimed)
}

fn log_outcome(message: &OutboxMessage, outcome: &DeliveryOutcome) {
    match outcome {
        DeliveryOutcome::Delivered => tracing::debug!(
            message = %message.id,
            kind = message.kind.as_str(),
            attempts = message.attempts,
            "outbox: delivered"
        ),
        DeliveryOutcome::Retry { error, .. } => tracing::info!(
            message = %message.id,
            kind = message.kind.as_str(),
            attempts = message.attempts,
            error = %error,
            "outbox: delivery failed; will retry"
        ),
        DeliveryOutcome::GaveUp { error } => tracing::warn!(
            message = %message.id,
            kind = message.kind.as_str(),
            attempts = message.attempts,
            error = %error,
            "outbox: delivery failed for the last time"
        ),
    }
}

/// One delivery attempt: `Err` carries what went wrong, for the record.
async fn attempt(
    state: &AppState,
    client: &reqwest::Client,
    message: &OutboxMessage,
) -> Result<(), String> {
    let request = match message.kind {
        OutboxKind::BackchannelLogout => {
            let token = logout_token(state, message).map_err(|e| e.to_string())?;
            client
                .post(&message.destination)
                .header(reqwest::header::CACHE_CONTROL, "no-store")
                .form(&[("logout_token", token)])
        }
    };
    let response = request.send().await.map_err(|e| {
        // reqwest's error names the URL, which is the client's registration.
        truncate(e.without_url().to_string())
    })?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", status.as_u16()))
    }
}

/// The Logout Token (Back-Channel Logout 1.0 §2.4): `iss`, `aud` (the
/// client), `iat`, `exp`, `jti` (the message id), `sub`, `sid`, `events`; no
/// `nonce`. Signed with RS256, as ID tokens are, with `typ: logout+jwt`.
fn logout_token(state: &AppState, message: &OutboxMessage) -> anyhow::Result<String> {
    let now = state.clock.now().unix_seconds();
    let claims = json!({
        "iss": state.issuer.as_str(),
        "aud": message.client_id,
        "iat": now,
        "exp": now + LOGOUT_TOKEN_LIFETIME_SECONDS,
        "jti": message.id,
        "sub": message.user_id,
        "sid": message.session_id,
        "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
    });
    state
        .keys
        .sign_typed(SigningAlg::Rs256, "logout+jwt", &claims)
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_ERROR_LENGTH {
        let mut end = MAX_ERROR_LENGTH;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = OutboxConfig {
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(60),
            ..OutboxConfig::default()
        };
        assert_eq!(config.backoff(1), Duration::from_secs(1));
        assert_eq!(config.backoff(2), Duration::from_secs(2));
        assert_eq!(config.backoff(5), Duration::from_secs(16));
        assert_eq!(config.backoff(7), Duration::from_secs(60));
        assert_eq!(config.backoff(i64::MAX), Duration::from_secs(60));
        assert_eq!(config.backoff(0), Duration::from_secs(1));
    }

    #[test]
    fn errors_are_cut_on_a_character_boundary() {
        let text = "é".repeat(400);
        let cut = truncate(text);
        assert!(cut.len() <= MAX_ERROR_LENGTH);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
