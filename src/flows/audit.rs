//! Audit events (`GET /api/v2/logs`): their type codes and how one is built.
//! Events are handed to the store operation whose change they record, so each
//! is written in that change's transaction.

use std::time::Duration;

use grantor_domain::{ClientId, GrantType, Timestamp};
use grantor_store::{LogEvent, Store};
use prometheus_client::metrics::counter::Counter;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::RequestMeta;
use crate::secrets;

/// Auth0's log event type codes (the `type` of an entry of `GET /api/v2/logs`)
/// for everything grantor records: the one list of them. An enum rather than
/// string constants so that [`event`] takes nothing but a code listed here;
/// the store keeps the string ([`EventType::as_str`]), since it reads back
/// whatever code an event was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `s`, "Success Login": someone signed in (today only dashboard
    /// administrators are recorded).
    SuccessLogin,
    /// `f`, "Failed Login": a sign-in with a wrong e-mail or password (today
    /// only the dashboard's are recorded).
    FailedLogin,
    /// `slo`, "Success Logout": a session ended by signing out (today only
    /// the dashboard's are recorded).
    SuccessLogout,
    /// `sapi`, "Success API Operation": a change through the Management API
    /// or the dashboard.
    SuccessApiOperation,
    /// `srrt`, "Success Revocation": refresh tokens, grants or sessions were
    /// revoked (by a client, an administrator or grantor itself).
    SuccessRevocation,
    /// `ferrt`, "Failed Exchange of Rotating Refresh Token": a refresh token
    /// that rotation had replaced was presented again; its family is revoked.
    FailedRotatingRefreshTokenExchange,
    /// `seacft`, "Success Exchange, Authorization Code for Access Token".
    SuccessAuthorizationCodeExchange,
    /// `feacft`, "Failed Exchange, Authorization Code for Access Token";
    /// also the revocation that follows a replayed code.
    FailedAuthorizationCodeExchange,
    /// `seccft`, "Success Exchange, Client Credentials for Access Token".
    SuccessClientCredentialsExchange,
    /// `feccft`, "Failed Exchange, Client Credentials for Access Token".
    FailedClientCredentialsExchange,
    /// `sertft`, "Success Exchange, Refresh Token for Access Token".
    SuccessRefreshTokenExchange,
    /// `fertft`, "Failed Exchange, Refresh Token for Access Token" (unknown,
    /// revoked or expired token, wrong client).
    FailedRefreshTokenExchange,
    /// `sede`, "Success Exchange, Device Code for Access Token".
    SuccessDeviceCodeExchange,
    /// `fede`, "Failed Exchange, Device Code for Access Token" (every error
    /// answer, `authorization_pending` included).
    FailedDeviceCodeExchange,
    /// `sepft`, "Success Exchange, Password for Access Token".
    SuccessPasswordExchange,
    /// `fepft`, "Failed Exchange, Password for Access Token".
    FailedPasswordExchange,
    /// `log_stream_suspended`: grantor's own code (Auth0 defines none): a
    /// log stream was suspended after its deliveries kept failing.
    LogStreamSuspended,
}

impl EventType {
    /// The code as Auth0 writes it, which is what the store keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuccessLogin => "s",
            Self::FailedLogin => "f",
            Self::SuccessLogout => "slo",
            Self::SuccessApiOperation => "sapi",
            Self::SuccessRevocation => "srrt",
            Self::FailedRotatingRefreshTokenExchange => "ferrt",
            Self::SuccessAuthorizationCodeExchange => "seacft",
            Self::FailedAuthorizationCodeExchange => "feacft",
            Self::SuccessClientCredentialsExchange => "seccft",
            Self::FailedClientCredentialsExchange => "feccft",
            Self::SuccessRefreshTokenExchange => "sertft",
            Self::FailedRefreshTokenExchange => "fertft",
            Self::SuccessDeviceCodeExchange => "sede",
            Self::FailedDeviceCodeExchange => "fede",
            Self::SuccessPasswordExchange => "sepft",
            Self::FailedPasswordExchange => "fepft",
            Self::LogStreamSuspended => "log_stream_suspended",
        }
    }

    pub const ALL: [EventType; 17] = [
        Self::SuccessLogin,
        Self::FailedLogin,
        Self::SuccessLogout,
        Self::SuccessApiOperation,
        Self::SuccessRevocation,
        Self::FailedRotatingRefreshTokenExchange,
        Self::SuccessAuthorizationCodeExchange,
        Self::FailedAuthorizationCodeExchange,
        Self::SuccessClientCredentialsExchange,
        Self::FailedClientCredentialsExchange,
        Self::SuccessRefreshTokenExchange,
        Self::FailedRefreshTokenExchange,
        Self::SuccessDeviceCodeExchange,
        Self::FailedDeviceCodeExchange,
        Self::SuccessPasswordExchange,
        Self::FailedPasswordExchange,
        Self::LogStreamSuspended,
    ];

    /// Auth0's name of the type, as its dashboard shows it.
    pub fn label(self) -> &'static str {
        match self {
            Self::SuccessLogin => "Success Login",
            Self::FailedLogin => "Failed Login",
            Self::SuccessLogout => "Success Logout",
            Self::SuccessApiOperation => "Success API Operation",
            Self::SuccessRevocation => "Success Revocation",
            Self::FailedRotatingRefreshTokenExchange => "Failed Exchange of Rotating Refresh Token",
            Self::SuccessAuthorizationCodeExchange => {
                "Success Exchange (Authorization Code for Access Token)"
            }
            Self::FailedAuthorizationCodeExchange => {
                "Failed Exchange (Authorization Code for Access Token)"
            }
            Self::SuccessClientCredentialsExchange => {
                "Success Exchange (Client Credentials for Access Token)"
            }
            Self::FailedClientCredentialsExchange => {
                "Failed Exchange (Client Credentials for Access Token)"
            }
            Self::SuccessRefreshTokenExchange => {
                "Success Exchange (Refresh Token for Access Token)"
            }
            Self::FailedRefreshTokenExchange => "Failed Exchange (Refresh Token for Access Token)",
            Self::SuccessDeviceCodeExchange => "Success Exchange (Device Code for Access Token)",
            Self::FailedDeviceCodeExchange => "Failed Exchange (Device Code for Access Token)",
            Self::SuccessPasswordExchange => "Success Exchange (Password for Access Token)",
            Self::FailedPasswordExchange => "Failed Exchange (Password for Access Token)",
            Self::LogStreamSuspended => "Log Stream Suspended",
        }
    }

    /// The log stream filter category Auth0 puts this type in
    /// (`filters[].name`): the one table of them.
    pub fn category(self) -> &'static str {
        match self {
            Self::SuccessLogin => "auth.login.success",
            Self::FailedLogin => "auth.login.fail",
            Self::SuccessLogout => "auth.logout.success",
            Self::SuccessApiOperation => "management.success",
            Self::SuccessRevocation
            | Self::SuccessAuthorizationCodeExchange
            | Self::SuccessClientCredentialsExchange
            | Self::SuccessRefreshTokenExchange
            | Self::SuccessDeviceCodeExchange
            | Self::SuccessPasswordExchange => "auth.token_exchange.success",
            Self::FailedRotatingRefreshTokenExchange
            | Self::FailedAuthorizationCodeExchange
            | Self::FailedClientCredentialsExchange
            | Self::FailedRefreshTokenExchange
            | Self::FailedDeviceCodeExchange
            | Self::FailedPasswordExchange => "auth.token_exchange.fail",
            Self::LogStreamSuspended => "system.notification",
        }
    }
}

/// The filter category of a stored type code (`other` for a code this
/// version does not write).
pub fn category_of(code: &str) -> &'static str {
    EventType::ALL
        .iter()
        .find(|t| t.as_str() == code)
        .map_or("other", |t| t.category())
}

/// The success and failure codes of an exchange at `/oauth/token`.
pub fn exchange_codes(grant_type: GrantType) -> (EventType, EventType) {
    use EventType as E;
    match grant_type {
        GrantType::AuthorizationCode => (
            E::SuccessAuthorizationCodeExchange,
            E::FailedAuthorizationCodeExchange,
        ),
        GrantType::ClientCredentials => (
            E::SuccessClientCredentialsExchange,
            E::FailedClientCredentialsExchange,
        ),
        GrantType::RefreshToken => (
            E::SuccessRefreshTokenExchange,
            E::FailedRefreshTokenExchange,
        ),
        GrantType::DeviceCode => (E::SuccessDeviceCodeExchange, E::FailedDeviceCodeExchange),
        GrantType::Password => (E::SuccessPasswordExchange, E::FailedPasswordExchange),
    }
}

/// Who made a change: recorded as `details.actor` of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An OAuth client (at `/oauth/revoke`) or a Management API caller.
    Client(ClientId),
    /// A dashboard administrator, by e-mail.
    Admin(String),
    /// grantor itself (reuse detection, a replayed code).
    System,
}

impl Actor {
    pub fn to_json(&self) -> Value {
        match self {
            Actor::Client(id) => json!({ "type": "client", "client_id": id.as_str() }),
            Actor::Admin(email) => json!({ "type": "admin", "email": email }),
            Actor::System => json!({ "type": "system" }),
        }
    }
}

/// A Management API or dashboard change (`sapi`, Auth0's "Success API
/// Operation"), with who made it.
pub fn api_operation(
    description: impl Into<String>,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> LogEvent {
    let event = event(EventType::SuccessApiOperation, description, now)
        .meta(meta)
        .detail("actor", actor.to_json());
    match actor {
        Actor::Client(id) => event.client(id),
        _ => event,
    }
}

/// An application's settings as a change's audit event records them (no
/// secret).
pub fn client_settings(client: &grantor_domain::Client) -> Value {
    json!({
        "name": client.name,
        "description": client.description,
        "app_type": client.app_type,
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "callbacks": client.callbacks,
        "allowed_logout_urls": client.allowed_logout_urls,
        "web_origins": client.web_origins,
        "allowed_origins": client.allowed_origins,
        "grant_types": client.grant_types,
        "is_first_party": client.is_first_party,
        "oidc_conformant": client.oidc_conformant,
        "require_proof_of_possession": client.require_proof_of_possession,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "jwt_configuration": {"alg": "RS256", "lifetime_in_seconds": client.id_token_lifetime},
    })
}

/// An API as a change's audit event records it.
pub fn resource_server(rs: &grantor_domain::ResourceServer) -> Value {
    json!({
        "id": rs.id,
        "identifier": rs.identifier,
        "name": rs.name,
        "scopes": rs.scopes.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(),
        "signing_alg": rs.signing_alg.as_str(),
        "token_lifetime": rs.token_lifetime,
        "allow_offline_access": rs.allow_offline_access,
        "skip_consent_for_verifiable_first_party_clients": rs.skip_consent_for_verifiable_first_party_clients,
    })
}

/// A new event; ids sort by time (zero-padded milliseconds, then randomness).
pub fn event(type_code: EventType, description: impl Into<String>, now: Timestamp) -> LogEvent {
    LogEvent {
        log_id: format!("{:020}{}", now.0.max(0), secrets::hex_id(8)),
        date: now,
        type_code: type_code.as_str().to_owned(),
        description: description.into(),
        client_id: None,
        client_name: None,
        user_id: None,
        user_name: None,
        ip: None,
        user_agent: None,
        details: json!({}),
    }
}

/// Builder-style setters, so call sites read as one expression.
pub trait EventExt {
    fn client(self, client_id: impl AsRef<str>) -> Self;
    fn user(self, user_id: impl AsRef<str>) -> Self;
    fn meta(self, meta: &RequestMeta) -> Self;
    fn detail(self, key: &str, value: Value) -> Self;
}

impl EventExt for LogEvent {
    fn client(mut self, client_id: impl AsRef<str>) -> Self {
        self.client_id = Some(client_id.as_ref().to_owned());
        self
    }
    fn user(mut self, user_id: impl AsRef<str>) -> Self {
        self.user_id = Some(user_id.as_ref().to_owned());
        self
    }
    fn meta(mut self, meta: &RequestMeta) -> Self {
        self.ip = Some(meta.ip.clone()).filter(|s| !s.is_empty());
        self.user_agent = Some(meta.user_agent.clone()).filter(|s| !s.is_empty());
        self
    }
    fn detail(mut self, key: &str, value: Value) -> Self {
        if let Value::Object(map) = &mut self.details {
            map.insert(key.to_owned(), value);
        }
        self
    }
}

/// Events waiting for the writer before `record` waits (backpressure).
const QUEUE_CAPACITY: usize = 10_000;
/// Events the writer puts in one transaction at most.
const BATCH: usize = 200;
/// The wait before a failed batch is written again; doubled each time up to
/// `RETRY_MAX`, while writes have been failing for less than `RETRY_FOR` (a
/// database restart or failover), or `RETRY_WHEN_CLOSING` during a graceful
/// stop (`app.rs` waits 10 s for the writer); past that, failed batches are
/// counted dropped.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);
const RETRY_FOR: Duration = Duration::from_secs(60);
const RETRY_WHEN_CLOSING: Duration = Duration::from_secs(5);

/// The queue for events that go with no change of their own: machine tokens
/// (`seccft`) and failed exchanges. A background writer stores them in
/// batches, so a busy token endpoint pays one commit per batch instead of one
/// per request (on SQLite, every commit waits for the single writer). Such an
/// event is written within moments of the answer, and can be lost if the
/// process crashes in between; events that record a change are never queued,
/// they are written in the change's own transaction. A batch whose write
/// fails is written again (`Writer::write`), so a database that is away for
/// less than a minute loses none; meanwhile the queue fills and then
/// `record` waits.
#[derive(Clone)]
pub struct AuditQueue {
    tx: mpsc::Sender<LogEvent>,
    /// Events that could not be stored (the metrics register this handle).
    pub dropped: Counter,
    /// Failed writes that were tried again (registered likewise).
    pub retries: Counter,
}

impl AuditQueue {
    /// Starts the writer; it stops once every queue handle is dropped and
    /// the queue is drained.
    pub fn start(store: Store) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<LogEvent>(QUEUE_CAPACITY);
        let mut writer = Writer::new(store, RETRY_FOR);
        let dropped = writer.dropped.clone();
        let retries = writer.retries.clone();
        let writer = tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while let Some(first) = rx.recv().await {
                batch.push(first);
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                writer.write(&batch, || rx.is_closed()).await;
                batch.clear();
            }
        });
        (
            Self {
                tx,
                dropped,
                retries,
            },
            writer,
        )
    }

    /// Events queued and not yet taken by the writer.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Queues an event; waits only when the writer is far behind.
    pub async fn record(&self, event: LogEvent) {
        if self.tx.send(event).await.is_err() {
            tracing::warn!("audit writer stopped; an event was not recorded");
            self.dropped.inc();
        }
    }
}

/// The background writer: its counters, and since when its writes have been
/// failing (the retry budget is one per outage, not one per batch).
struct Writer {
    store: Store,
    dropped: Counter,
    retries: Counter,
    failing_since: Option<tokio::time::Instant>,
    /// How long an outage is retried before failed batches are dropped
    /// (`RETRY_FOR`; shorter in this module's tests).
    retry_for: Duration,
}

impl Writer {
    /// A writer with fresh counters, retrying an outage for `retry_for`.
    fn new(store: Store, retry_for: Duration) -> Self {
        Self {
            store,
            dropped: Counter::default(),
            retries: Counter::default(),
            failing_since: None,
            retry_for,
        }
    }

    /// Writes one batch (one transaction: all of it or none), again after a
    /// failure, waiting `RETRY_FIRST` and then twice as long each time up to
    /// `RETRY_MAX`, while the writes have been failing for less than
    /// `RETRY_FOR` (`RETRY_WHEN_CLOSING` once the queue is closed, so a
    /// graceful stop is not held); past that, a batch that fails is
    /// counted in `dropped` at once, until a write succeeds again. A write
    /// whose commit went through but whose answer was lost (the connection
    /// broke) is recognised by its first event being there, so no event is
    /// written twice.
    async fn write(&mut self, batch: &[LogEvent], closing: impl Fn() -> bool) {
        let Some(first) = batch.first() else {
            return;
        };
        let mut wait = RETRY_FIRST;
        loop {
            let error = match self.store.record_events(batch).await {
                Ok(()) => {
                    self.failing_since = None;
                    return;
                }
                Err(e) => e,
            };
            if let Ok(Some(_)) = self.store.log_event(&first.log_id).await {
                self.failing_since = None;
                return;
            }
            let since = *self
                .failing_since
                .get_or_insert_with(tokio::time::Instant::now);
            let budget = if closing() {
                RETRY_WHEN_CLOSING
            } else {
                self.retry_for
            };
            if since.elapsed() + wait > budget {
                tracing::warn!(error = %error, events = batch.len(), "could not record audit events; dropped");
                self.dropped.inc_by(batch.len() as u64);
                return;
            }
            tracing::warn!(error = %error, events = batch.len(), retry_in_ms = wait.as_millis() as u64, "could not record audit events; trying again");
            self.retries.inc();
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer with a retry budget of `retry_for` on a fresh SQLite store,
    /// and a second connection pool on the same file that takes the audit
    /// table away and brings it back (the database away and back, as far as
    /// the writer can tell).
    struct Rig {
        writer: Writer,
        admin: sqlx::SqlitePool,
        _dir: grantor_testdb::TestDatabase,
    }

    impl Rig {
        async fn new(retry_for: Duration) -> Self {
            let db = grantor_testdb::TestDatabase::sqlite();
            let store = Store::connect(db.url()).await.unwrap();
            let admin = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            Self {
                writer: Writer::new(store, retry_for),
                admin,
                _dir: db,
            }
        }

        async fn execute(&self, sql: &str) {
            sqlx::query(sql).execute(&self.admin).await.unwrap();
        }

        async fn stored(&self, batch: &[LogEvent]) -> usize {
            let mut n = 0;
            for e in batch {
                if self
                    .writer
                    .store
                    .log_event(&e.log_id)
                    .await
                    .unwrap()
                    .is_some()
                {
                    n += 1;
                }
            }
            n
        }

        fn counts(&self) -> (u64, u64) {
            (self.writer.dropped.get(), self.writer.retries.get())
        }
    }

    fn batch(n: i64, at: i64) -> Vec<LogEvent> {
        (0..n)
            .map(|i| {
                event(
                    EventType::SuccessClientCredentialsExchange,
                    "test",
                    Timestamp(at + i),
                )
            })
            .collect()
    }

    /// Past the outage's budget a failed batch is dropped and counted, and
    /// a later batch of the same outage is dropped at once, without a retry;
    /// once a write succeeds the next outage has a budget of its own.
    #[tokio::test]
    async fn an_outage_longer_than_the_budget_drops_failed_batches_once_each() {
        let budget = Duration::from_millis(600);
        let mut rig = Rig::new(budget).await;
        rig.execute("ALTER TABLE logs RENAME TO logs_away").await;
        let first = batch(3, 1_000);
        let started = std::time::Instant::now();
        rig.writer.write(&first, || false).await;
        let (dropped, retries) = rig.counts();
        assert_eq!(dropped, 3, "the batch is dropped and counted");
        assert!(retries >= 1, "it was tried again before: {retries}");
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "it waited before trying again"
        );
        // Still failing and past the budget: the next batch is tried once.
        tokio::time::sleep(budget).await;
        let second = batch(2, 2_000);
        rig.writer.write(&second, || false).await;
        assert_eq!(rig.counts(), (5, retries), "dropped without a retry");

        rig.execute("ALTER TABLE logs_away RENAME TO logs").await;
        let third = batch(2, 3_000);
        rig.writer.write(&third, || false).await;
        assert_eq!(rig.counts(), (5, retries), "written, nothing counted");
        assert_eq!(rig.stored(&third).await, 2);
        assert_eq!(rig.stored(&first).await + rig.stored(&second).await, 0);

        // A new outage: tried again before anything is dropped.
        rig.execute("ALTER TABLE logs RENAME TO logs_away").await;
        rig.writer.write(&batch(1, 4_000), || false).await;
        let (dropped, again) = rig.counts();
        assert_eq!(dropped, 6);
        assert!(
            again > retries,
            "the new outage was retried: {again} after {retries}"
        );
    }

    /// A batch whose commit went through though the writer saw an error (a
    /// lost answer; here the batch is already stored, so writing it again
    /// fails on its key) is recognised by its first event: neither retried
    /// nor dropped, and stored once.
    #[tokio::test]
    async fn a_batch_already_stored_is_neither_retried_nor_dropped() {
        let mut rig = Rig::new(RETRY_FOR).await;
        let events = batch(3, 5_000);
        rig.writer.store.record_events(&events).await.unwrap();
        rig.writer.write(&events, || false).await;
        assert_eq!(rig.counts(), (0, 0));
        assert_eq!(rig.stored(&events).await, 3);
    }

    /// During a graceful stop an outage is retried for `RETRY_WHEN_CLOSING`
    /// at most, whatever the budget.
    #[tokio::test]
    async fn a_closing_queue_gives_up_within_its_own_budget() {
        let mut rig = Rig::new(Duration::from_secs(3_600)).await;
        rig.execute("ALTER TABLE logs RENAME TO logs_away").await;
        let events = batch(1, 6_000);
        let write = rig.writer.write(&events, || true);
        tokio::time::timeout(RETRY_WHEN_CLOSING + Duration::from_secs(5), write)
            .await
            .expect("gave up within the closing budget");
        assert_eq!(rig.counts().0, 1, "dropped");
    }

    #[test]
    fn exchange_codes_are_auth0s() {
        let codes = |g| {
            let (s, f) = exchange_codes(g);
            (s.as_str(), f.as_str())
        };
        assert_eq!(codes(GrantType::AuthorizationCode), ("seacft", "feacft"));
        assert_eq!(codes(GrantType::ClientCredentials), ("seccft", "feccft"));
        assert_eq!(codes(GrantType::RefreshToken), ("sertft", "fertft"));
        assert_eq!(codes(GrantType::DeviceCode), ("sede", "fede"));
        assert_eq!(codes(GrantType::Password), ("sepft", "fepft"));
    }

    #[test]
    fn every_type_has_one_of_auth0s_categories() {
        for t in EventType::ALL {
            assert!(
                grantor_domain::log_stream::CATEGORIES.contains(&t.category()),
                "{t:?}"
            );
            assert_eq!(category_of(t.as_str()), t.category());
        }
        assert_eq!(category_of("unknown"), "other");
        assert_eq!(category_of("sertft"), "auth.token_exchange.success");
    }
}
