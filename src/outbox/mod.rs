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
//! Each message kind has a module of its own that says where a message goes
//! now (`destination`), what request carries it (`request`) and what else a
//! settled attempt changes (`settled`); the worker dispatches on
//! `OutboxKind` in exactly those three places:
//! - `backchannel`: OpenID Connect Back-Channel Logout 1.0 tokens
//!   (`backchannel_logout`), one per session and client.
//! - `log_streams`: batches of audit events for Auth0 log streams
//!   (`log_stream_batch`), made from the staged events by the loop's first
//!   step (`Worker::batch_log_streams`); one request at a time per stream,
//!   retried until delivered or the stream stops being active.
//! - `ssf`: Shared Signals Framework Security Event Tokens pushed to a
//!   stream (`ssf_push`, RFC 8935, which also judges the answer);
//!   `ssf_poll` and `ssf_held` are never claimed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use grantor_domain::Timestamp;
use grantor_store::{DeliveryOutcome, OutboxClaim, OutboxKind, OutboxMessage};
use tokio::sync::{Notify, Semaphore};

use crate::state::AppState;

mod backchannel;
pub mod egress;
mod log_streams;
pub mod ssf;

pub use backchannel::BACKCHANNEL_LOGOUT_EVENT;

/// Where a claimed message goes now.
enum Destination {
    /// Send it to this URL.
    Url(String),
    /// It can no longer be delivered (the registration is gone): fail it
    /// with this reason, without a request.
    Gone(String),
    /// Cannot tell now (the store did not answer): give it back for later.
    Later,
    /// Its stream now holds or polls its events: give it back to wait
    /// there (`Store::requeue_ssf_message`).
    Requeue,
}
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
    /// Staged audit events put into log stream batches per transaction.
    pub stream_batch: i64,
    /// How long a log stream's deliveries may keep failing before it is
    /// suspended (Auth0: 7 consecutive days).
    pub stream_suspend_after: Duration,
    /// Which internal networks receivers may be in (none by default).
    pub egress: egress::EgressPolicy,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            poll_interval: Some(Duration::from_secs(1)),
            lease: Duration::from_secs(30),
            batch: 50,
            per_destination: 4,
            max_attempts: 20,
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(10),
            stream_batch: 100,
            stream_suspend_after: Duration::from_secs(7 * 24 * 3600),
            egress: egress::EgressPolicy::default(),
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

/// How long the worker waits after a wake before it claims, so that the
/// wakes of a burst of changes (each `Notify` permit taken, further ones
/// folded into one) cost one claim per window rather than one per change.
const WAKE_WINDOW: Duration = Duration::from_millis(10);

/// The wake window after a claim that took nothing while it skipped busy
/// destinations (a slow receiver): a claim then takes nothing new unless
/// the change queued for another destination, so the worker looks four
/// times a second, not a hundred, and at once when one of its deliveries
/// finishes.
const BUSY_WAKE_WINDOW: Duration = Duration::from_millis(250);

/// How often the loop turns staged audit events into log stream batches:
/// each turn is a write, so a busy server batches a quarter second of
/// events at a time rather than the few of each wake (a skipped batching
/// shortens the next wait to the window's end; full batches are made one
/// after another in the same turn).
const STREAM_BATCH_WINDOW: Duration = Duration::from_millis(250);

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
    let worker = Arc::new(Worker {
        owner: crate::secrets::hex_id(16),
        limits: DestinationLimits::new(config.per_destination),
        stream_limits: DestinationLimits::new(1),
        client,
        config,
        state,
        swept_last: std::sync::Mutex::new(String::new()),
    });
    Some(tokio::spawn(async move {
        let mut in_flight = tokio::task::JoinSet::new();
        // Whether the last claim found due messages but took none while it
        // skipped destinations with no free place: a wake then waits
        // `BUSY_WAKE_WINDOW` (or less, if a delivery finishes first), since
        // most likely what the change queued waits for a busy destination
        // too.
        let mut blocked = false;
        let mut next_batching = tokio::time::Instant::now();
        loop {
            while in_flight.try_join_next().is_some() {}
            let batched = tokio::time::Instant::now() >= next_batching;
            if batched {
                next_batching = tokio::time::Instant::now() + STREAM_BATCH_WINDOW;
                worker.batch_log_streams().await;
                worker.sweep().await;
            }
            worker.fan_out_ssf().await;
            let free = usize::try_from(worker.config.batch)
                .unwrap_or(1)
                .saturating_sub(in_flight.len());
            if free > 0 {
                match worker.claim(free).await {
                    Ok(Claimed {
                        messages,
                        lease_until,
                        skipped_busy,
                    }) => {
                        blocked = skipped_busy && messages.is_empty();
                        for message in messages {
                            let worker = worker.clone();
                            in_flight
                                .spawn(async move { worker.deliver(message, lease_until).await });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox: claiming messages failed; trying again later");
                    }
                }
            }
            // Events staged since a skipped batching are batched by the
            // end of their window even when nothing else turns the loop.
            let until_poll = if batched {
                poll
            } else {
                poll.min(next_batching.saturating_duration_since(tokio::time::Instant::now()))
            };
            // Claim again when a delivery finishes (a place is free), when
            // a change queued something, or at the poll (retries, messages
            // other processes queued).
            tokio::select! {
                _ = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = worker.state.outbox.notify.notified() => {
                    // Changes that come in a burst (a revocation a
                    // millisecond) wake it once per window, not once each;
                    // a delivery that finishes meanwhile ends the window.
                    let window = if blocked { BUSY_WAKE_WINDOW } else { WAKE_WINDOW };
                    tokio::select! {
                        _ = tokio::time::sleep(window) => {}
                        _ = in_flight.join_next(), if !in_flight.is_empty() => {}
                    }
                }
                _ = tokio::time::sleep(until_poll) => {}
            }
        }
    }))
}

/// What one claim took.
struct Claimed {
    messages: Vec<OutboxMessage>,
    /// When their lease runs out.
    lease_until: Timestamp,
    /// Whether messages were due and destinations with no free place in
    /// this process were skipped.
    skipped_busy: bool,
}

fn http_client(config: &OutboxConfig) -> anyhow::Result<reqwest::Client> {
    // rustls with aws-lc-rs, the crypto the signing keys already use.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout)
        // A receiver answers; it does not send us elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        // Never through a proxy from the environment (`HTTPS_PROXY`): the
        // proxy would resolve the receiver's name, out of the egress rule's
        // sight.
        .no_proxy()
        // Only addresses the egress rule permits (names; IP literals are
        // checked before each request).
        .dns_resolver(config.egress.resolver())
        .user_agent(concat!("grantor/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// One semaphore per destination (a message's `destination` column: the
/// URL it was queued for, or its stream's id), created on first use.
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

    /// Destinations with no free place now (at most `MAX_SKIPPED`): the
    /// claim leaves their messages alone instead of taking them only to
    /// give them back.
    fn busy(&self) -> Vec<String> {
        const MAX_SKIPPED: usize = 100;
        let map = self
            .semaphores
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.iter()
            .filter(|(_, s)| s.available_permits() == 0)
            .map(|(d, _)| d.clone())
            .take(MAX_SKIPPED)
            .collect()
    }

    /// A place for one request to `destination`, if one is free now.
    fn try_acquire(&self, destination: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let semaphore = {
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
        };
        semaphore.try_acquire_owned().ok()
    }
}

/// One process's delivery loop and what each delivery needs.
struct Worker {
    /// This process's lease owner id.
    owner: String,
    limits: DestinationLimits,
    /// One request at a time per log stream (keyed by stream id), so a
    /// stream's batches arrive in order while none fails.
    stream_limits: DestinationLimits,
    client: reqwest::Client,
    config: OutboxConfig,
    state: AppState,
    /// The stream the last sweep ended with: the next one starts after
    /// it, so every marked stream gets its turn.
    swept_last: std::sync::Mutex<String>,
}

impl Worker {
    /// Turns staged audit events into log stream batches (a read when
    /// nothing is staged), at most `STREAM_BATCH_ROUNDS` transactions per
    /// turn of the loop (the loop turns at least once per poll).
    async fn batch_log_streams(&self) {
        const STREAM_BATCH_ROUNDS: usize = 100;
        for _ in 0..STREAM_BATCH_ROUNDS {
            let now = self.state.clock.now();
            match self
                .state
                .store
                .batch_log_streams(
                    self.config.stream_batch,
                    crate::flows::audit::category_of,
                    now,
                )
                .await
            {
                Ok(done) if done.events >= u64::try_from(self.config.stream_batch).unwrap_or(0) => {
                }
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: batching log stream events failed; trying again later");
                    return;
                }
            }
        }
    }

    /// Turns the tokens-revoked events revocations staged into SSF
    /// messages (a read when nothing is staged), at most
    /// `SSF_FAN_OUT_BATCHES` batches (transactions) per turn of the loop;
    /// the rest waits for the next turn.
    async fn fan_out_ssf(&self) {
        const SSF_FAN_OUT_BATCHES: usize = 20;
        if let Err(e) = self.state.store.fan_out_ssf(SSF_FAN_OUT_BATCHES).await {
            tracing::warn!(error = %e, "outbox: fanning out SSF events failed; trying again later");
        }
    }

    /// Moves what stream changes left for later (a stream paused, resumed,
    /// switched or deleted with more waiting events than its change moved
    /// itself): at most `SWEEP_BATCHES` transactions per turn (a read when
    /// nothing is left), the rest at the next.
    async fn sweep(&self) {
        const SWEEP_BATCHES: usize = 10;
        let now = self.state.clock.now();
        let after = self
            .swept_last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match self
            .state
            .store
            .sweep_outbox(None, &after, SWEEP_BATCHES, now)
            .await
        {
            Ok((_, last)) => {
                *self
                    .swept_last
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = last;
            }
            Err(e) => {
                tracing::warn!(error = %e, "outbox: moving a changed stream's events failed; trying again later");
            }
        }
    }

    /// Leases up to `limit` due messages (nothing, without a write, when
    /// none is due).
    async fn claim(&self, limit: usize) -> anyhow::Result<Claimed> {
        let now = self.state.clock.now();
        let lease_until = Timestamp(now.0.saturating_add(millis(self.config.lease)));
        if !self.state.store.outbox_due(now).await? {
            return Ok(Claimed {
                messages: vec![],
                lease_until,
                skipped_busy: false,
            });
        }
        let mut busy = self.limits.busy();
        busy.extend(self.stream_limits.busy());
        let skipped_busy = !busy.is_empty();
        let claim = OutboxClaim {
            owner: self.owner.clone(),
            lease_until,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
            skip_destinations: busy,
            per_destination: i64::try_from(self.config.per_destination).unwrap_or(1),
        };
        Ok(Claimed {
            messages: self.state.store.claim_outbox(&claim, now).await?,
            lease_until,
            skipped_busy,
        })
    }

    /// Sends one claimed message and records the outcome. A message whose
    /// destination has no free place, or whose lease would run out before
    /// an answer could come, is given back unsent (no attempt counted), so a
    /// slow receiver holds only its own places, never the others'.
    async fn deliver(&self, message: OutboxMessage, lease_until: Timestamp) {
        let now = self.state.clock.now();
        let destination = match self.current_destination(&message).await {
            Destination::Url(url) => Some(url),
            Destination::Gone(error) => {
                // Nothing was attempted: the receiver is not to blame, so
                // no per-kind consequence (a stream is not suspended).
                self.record(&message, &DeliveryOutcome::GaveUp { error })
                    .await;
                return;
            }
            Destination::Later => None,
            Destination::Requeue => {
                if let Err(e) = self
                    .state
                    .store
                    .requeue_ssf_message(&message.id, &self.owner, now)
                    .await
                {
                    tracing::warn!(message = %message.id, error = %e, "outbox: requeueing a message failed; its lease will run out");
                }
                return;
            }
        };
        let lease_left = lease_until.0 - now.0;
        // Places are counted per `destination` column (the queued URL, or
        // the stream's id), the same key the claim uses to skip busy ones.
        let permit = match (&destination, message.kind) {
            (None, _) => None,
            (Some(_), OutboxKind::LogStreamBatch) => {
                self.stream_limits.try_acquire(&message.destination)
            }
            (Some(_), _) => self.limits.try_acquire(&message.destination),
        };
        let destination = match destination {
            Some(url)
                if permit.is_some() && lease_left >= millis(self.config.request_timeout) * 2 =>
            {
                url
            }
            _ => {
                let later = Timestamp(now.0.saturating_add(millis(self.config.request_timeout)));
                if let Err(e) = self
                    .state
                    .store
                    .release_outbox(&message.id, &self.owner, later)
                    .await
                {
                    tracing::warn!(message = %message.id, error = %e, "outbox: giving a message back failed; its lease will run out");
                }
                return;
            }
        };
        let result = self
            .attempt(&message, &destination)
            .await
            .map_err(clean_error);
        drop(permit);
        let now = self.state.clock.now();
        let outcome = match result {
            Ok(()) => DeliveryOutcome::Delivered,
            // A stream batch is retried until it is delivered or its
            // stream stops being active (as Auth0 retries until resolved).
            Err(error)
                if message.attempts >= self.config.max_attempts
                    && message.kind != OutboxKind::LogStreamBatch =>
            {
                DeliveryOutcome::GaveUp { error }
            }
            Err(error) => DeliveryOutcome::Retry {
                error,
                next_attempt_at: Timestamp(
                    now.0
                        .saturating_add(millis(self.config.backoff(message.attempts))),
                ),
            },
        };
        self.settle(&message, outcome).await;
    }

    /// Where the message goes now: the current registration, so a changed
    /// URL is used and a removed one ends the message.
    async fn current_destination(&self, message: &OutboxMessage) -> Destination {
        match message.kind {
            OutboxKind::BackchannelLogout => backchannel::destination(&self.state, message).await,
            OutboxKind::LogStreamBatch => log_streams::destination(&self.state, message).await,
            OutboxKind::SsfPush | OutboxKind::SsfPoll | OutboxKind::SsfHeld => {
                ssf::destination(&self.state, message).await
            }
        }
    }

    /// What else a recorded outcome changes, per kind.
    async fn settled(&self, message: &OutboxMessage, outcome: &DeliveryOutcome) {
        match message.kind {
            OutboxKind::SsfPush => ssf::settled(&self.state, message, outcome).await,
            OutboxKind::BackchannelLogout | OutboxKind::SsfPoll | OutboxKind::SsfHeld => {
                let _ = outcome;
            }
            OutboxKind::LogStreamBatch => {
                log_streams::settled(
                    &self.state,
                    self.config.stream_suspend_after,
                    message,
                    outcome,
                )
                .await;
            }
        }
    }

    /// Records an attempt's outcome, then what else it changes per kind.
    async fn settle(&self, message: &OutboxMessage, outcome: DeliveryOutcome) {
        if self.record(message, &outcome).await {
            self.settled(message, &outcome).await;
        }
    }

    /// Records an outcome; true when this process still held the message.
    async fn record(&self, message: &OutboxMessage, outcome: &DeliveryOutcome) -> bool {
        log_outcome(message, outcome);
        self.state.metrics.delivery(
            message.kind,
            match outcome {
                DeliveryOutcome::Delivered => "delivered",
                DeliveryOutcome::Retry { .. } => "retry",
                DeliveryOutcome::GaveUp { .. } => "gave_up",
            },
        );
        let now = self.state.clock.now();
        match self
            .state
            .store
            .settle_outbox(&message.id, &self.owner, outcome, now)
            .await
        {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(
                    message = %message.id,
                    "outbox: the lease ran out before the attempt was recorded; the message may be sent again"
                );
                false
            }
            Err(e) => {
                tracing::warn!(message = %message.id, error = %e, "outbox: recording an attempt failed");
                false
            }
        }
    }

    /// One delivery attempt: `Err` carries what went wrong, for the record.
    async fn attempt(&self, message: &OutboxMessage, destination: &str) -> Result<(), String> {
        self.config.egress.check_url(destination)?;
        let request = self.client.post(destination);
        let request = match message.kind {
            OutboxKind::BackchannelLogout => backchannel::request(&self.state, message, request)?,
            OutboxKind::LogStreamBatch => {
                log_streams::request(&self.state, message, request).await?
            }
            OutboxKind::SsfPush | OutboxKind::SsfPoll | OutboxKind::SsfHeld => {
                ssf::request(&self.state, message, request).await?
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| describe(&e, self.config.request_timeout))?;
        if message.kind == OutboxKind::SsfPush {
            return ssf::outcome(response).await;
        }
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {}", status.as_u16()))
        }
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A failed request in words for the record: what kind of failure and its
/// innermost cause (never the URL, which is the client's registration); the
/// caller cleans and cuts it with every other attempt error (`clean_error`).
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    if error.is_timeout() {
        format!("no answer within {} s", timeout.as_secs())
    } else if error.is_connect() {
        format!("could not connect: {cause}")
    } else {
        format!("the request failed: {cause}")
    }
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

/// An error kept for the record: receivers choose part of it (an RFC 8935
/// `err`), so control characters (NUL, which PostgreSQL text refuses, line
/// breaks) become spaces and the length is capped.
fn clean_error(text: String) -> String {
    truncate(
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    )
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
