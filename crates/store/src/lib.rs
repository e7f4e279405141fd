//! grantor's storage: the only crate that knows SQL or which database is running.
//!
//! [`Store`] is a closed enum over the two backends. Each backend module sets a
//! `Db` type and its transaction opener, then mounts the same `ops` source
//! files, so every query is written once and compiled for both engines; the
//! few places where the engines differ live in `sqlite/mod.rs` and
//! `postgres/mod.rs`. Every public operation is one transaction.

// Mounting `ops/` once per backend is the design (see above), not an accident.
#![allow(clippy::duplicate_mod)]

mod postgres;
mod sqlite;

use grantor_domain::{
    Client, ClientGrant, ClientId, FamilyId, GrantId, LogStream, Reason, ResourceServer, ScopeSet,
    SessionId, TenantSettings, Timestamp, TokenHash, User, UserId,
};

pub use device_key_records::*;
pub use readiness::MigrationStatus;
pub use records::*;
pub use ssf_records::*;

mod device_key_records;
mod readiness;
mod records;
mod ssf_records;

/// Failures the callers can act on; everything else is `Unavailable`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken (duplicate identifier, email, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A referenced row (client, API, …) does not exist.
    #[error("missing reference: {0}")]
    MissingReference(String),
    /// A guarded member changed since it was read (`UserUpdate::guarding`):
    /// nothing was written; read again and retry.
    #[error("changed since it was read")]
    Changed,
    #[error("storage unavailable: {0:#}")]
    Unavailable(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::MissingReference(db.message().to_owned())
            }
            _ => StoreError::Unavailable(anyhow::Error::new(e)),
        }
    }
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::ops::Backend),
    Postgres(postgres::ops::Backend),
}

impl Store {
    /// Connects to `sqlite://…` or `postgres://…` and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let store = if url.starts_with("sqlite:") {
            Store::Sqlite(sqlite::connect(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::Postgres(postgres::connect(url).await?)
        } else {
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "unsupported database URL scheme (expected sqlite:// or postgres://)"
            )));
        };
        Ok(store)
    }

    /// Which engine runs; for logs and test names only, never for decisions.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        dispatch!(self, b => b.close().await)
    }

    /// The connection pool's state now (no query; for metrics).
    pub fn pool_stats(&self) -> PoolStats {
        dispatch!(self, b => b.pool_stats())
    }

    /// Has `observer` told the duration of every operation of the
    /// `operations!` table run through this handle and its clones from now
    /// on. Set once; later calls are ignored.
    pub fn observe_operations(&self, observer: std::sync::Arc<dyn OperationObserver>) {
        let _ = dispatch!(self, b => b.observer.0.set(observer));
    }

    fn observed(&self, operation: &'static str, started: std::time::Instant) {
        if let Some(observer) = dispatch!(self, b => b.observer.0.get()) {
            observer.observe(operation, started.elapsed());
        }
    }
}

/// A connection pool's state (`Store::pool_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open, idle or in use.
    pub size: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// The most connections the pool opens.
    pub max: u32,
    /// SQLite: this process's writes use one more connection, outside the
    /// pool (`ops/group_commit.rs`).
    pub dedicated_writer: bool,
}

/// Told the duration of each store operation (metrics).
pub trait OperationObserver: Send + Sync {
    fn observe(&self, operation: &'static str, elapsed: std::time::Duration);
}

/// Where a backend keeps its observer; shared by the clones of a `Store`.
#[derive(Clone, Default)]
pub(crate) struct ObserverSlot(
    std::sync::Arc<std::sync::OnceLock<std::sync::Arc<dyn OperationObserver>>>,
);

/// Forwards a call to whichever backend runs.
macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Store::Sqlite($b) => $e,
            Store::Postgres($b) => $e,
        }
    };
}
use dispatch;

/// Declares `Store` methods that forward to the backend method of the same
/// name, each in a `debug` span `store.<name>` without fields (for trace
/// export; switched off, and free, unless a subscriber wants it).
macro_rules! operations {
    ($( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$meta])*
                pub async fn $name(&self $(, $arg: $ty)*) -> StoreResult<$ret> {
                    use tracing::Instrument as _;
                    let span = tracing::debug_span!(concat!("store.", stringify!($name)));
                    let started = std::time::Instant::now();
                    let result = dispatch!(self, b => b.$name($($arg),*).instrument(span).await);
                    self.observed(stringify!($name), started);
                    result
                }
            )*
        }
    };
}

operations! {
    /// Creates the tenant and everything of the first start, unless some
    /// process already did; returns whether this call did it.
    fn bootstrap(&self, plan: &BootstrapPlan) -> bool;
    /// Points the Management API's identifier at the current issuer.
    fn sync_management_api_identifier(&self, identifier: &str, now: Timestamp) -> ();
    /// Every signing key, revoked ones too, oldest first.
    fn signing_keys(&self) -> Vec<SigningKeyRecord>;
    /// Every signing key with the set's version, in one statement.
    fn signing_key_set(&self) -> SigningKeySet;
    /// The set's version alone: the cheap poll of every process.
    fn signing_key_version(&self) -> i64;
    /// Stores `fresh` keys as next for the algorithms without a next key
    /// (the first start of a version with rotation); returns how many.
    fn ensure_next_signing_keys(&self, fresh: &[SigningKeyRecord], now: Timestamp) -> u64;
    /// Rotation, one transaction: current keys become previous, next keys
    /// current, `fresh` the new next keys; bumps the version, writes
    /// `event`. Returns the keys now current.
    fn rotate_signing_keys(&self, fresh: &[SigningKeyRecord], now: Timestamp, event: &LogEvent) -> Vec<SigningKeyRecord>;
    /// Revokes a previous key (any other state is refused, unchanged);
    /// bumps the version and writes `event` when it does.
    fn revoke_signing_key(&self, kid: &str, now: Timestamp, event: &LogEvent) -> SigningKeyRevocation;
    /// The refresh-token MAC key: `candidate` is stored unless a key exists;
    /// every process gets the one stored.
    fn refresh_token_mac_key(&self, candidate: &[u8], now: Timestamp) -> Vec<u8>;

    fn tenant_settings(&self) -> TenantSettings;
    /// With `event`, the change is audited in its transaction.
    fn update_tenant_settings(&self, settings: &TenantSettings, event: Option<&LogEvent>) -> ();

    fn insert_client(&self, client: &Client) -> ();
    fn client(&self, client_id: &ClientId) -> Option<Client>;
    fn list_clients(&self, page: PageRequest) -> Page<Client>;
    /// With `event`, the change is audited in its transaction.
    fn update_client(&self, client: &Client, event: Option<&LogEvent>) -> ();
    /// The one write of a client's secret (rotation), audited.
    fn set_client_secret(&self, client_id: &ClientId, secret_hash: &TokenHash, now: Timestamp, event: &LogEvent) -> ();
    fn delete_client(&self, client_id: &ClientId) -> bool;
    /// The dashboard's writes: each with its audit event, in one transaction.
    fn insert_client_audited(&self, client: &Client, event: &LogEvent) -> ();
    /// False (nothing written) for an unknown or system client.
    fn delete_client_audited(&self, client_id: &ClientId, event: &LogEvent) -> bool;

    fn insert_resource_server(&self, rs: &ResourceServer) -> ();
    /// Looks an API up by id or by identifier (audience).
    fn resource_server(&self, id_or_identifier: &str) -> Option<ResourceServer>;
    /// Looks an API up by identifier (audience) only.
    fn resource_server_by_identifier(&self, identifier: &str) -> Option<ResourceServer>;
    fn list_resource_servers(&self, page: PageRequest) -> Page<ResourceServer>;
    /// The APIs with these identifiers, in one query.
    fn resource_servers_by_identifiers(&self, identifiers: &[String]) -> Vec<ResourceServer>;
    /// The signing algorithms some API uses (for the JWKS).
    fn signing_algs_in_use(&self) -> Vec<String>;
    fn update_resource_server(&self, rs: &ResourceServer) -> ();
    fn delete_resource_server(&self, id: &str) -> bool;
    fn insert_resource_server_audited(&self, rs: &ResourceServer, event: &LogEvent) -> ();
    fn update_resource_server_audited(&self, rs: &ResourceServer, event: &LogEvent) -> ();
    /// False (nothing written) for an unknown or system API.
    fn delete_resource_server_audited(&self, id: &str, event: &LogEvent) -> bool;

    fn insert_client_grant(&self, grant: &ClientGrant, event: Option<&LogEvent>) -> ();
    fn client_grant(&self, id: &str) -> Option<ClientGrant>;
    fn client_grant_for(&self, client_id: &ClientId, audience: &str) -> Option<ClientGrant>;
    fn machine_access(&self, client_id: &ClientId, audience: &str) -> (Option<ResourceServer>, Option<ClientGrant>);
    fn list_client_grants(&self, filter: &ClientGrantFilter, page: PageRequest) -> Page<ClientGrant>;
    fn update_client_grant(&self, grant: &ClientGrant, event: Option<&LogEvent>) -> ();
    fn delete_client_grant(&self, id: &str, event: Option<&LogEvent>) -> bool;

    fn insert_user(&self, user: &User) -> ();
    fn user(&self, user_id: &UserId) -> Option<User>;
    /// The user as the last committed write left it, also one still in an
    /// open group commit on SQLite (read through the writer and answered
    /// after that commit): what a change made again after `Changed` reads.
    fn user_latest(&self, user_id: &UserId) -> Option<User>;
    fn user_by_email(&self, connection: &str, email: &str) -> Option<User>;
    fn list_users(&self, filter: &UserFilter, page: PageRequest) -> Page<User>;
    /// The Management API's user search: users matching `query` (all
    /// without one) in `sort` order (creation time by default), a page and
    /// the total. Every value of the query is a bound parameter.
    fn search_users(&self, query: Option<&grantor_domain::user_search::UserSearch>, sort: Option<grantor_domain::user_search::UserSort>, page: PageRequest) -> Page<User>;
    /// The engine's plan for `search_users`'s row query (a diagnostic: the
    /// conformance suite checks that e-mail and user id terms use an index).
    fn user_search_plan(&self, query: Option<&grantor_domain::user_search::UserSearch>, sort: Option<grantor_domain::user_search::UserSort>) -> Vec<String>;
    fn update_user(&self, update: &UserUpdate) -> ();
    fn delete_user(&self, user_id: &UserId) -> bool;
    fn insert_user_audited(&self, user: &User, event: &LogEvent) -> ();
    fn update_user_audited(&self, update: &UserUpdate, event: &LogEvent) -> ();

    fn admin_password_hash(&self, email: &str) -> Option<String>;

    // Dashboard administrator sessions
    /// Stores a new session with its sign-in event; deletes the
    /// administrator's expired sessions.
    fn create_admin_session(&self, session: &AdminSessionRecord, event: &LogEvent) -> ();
    /// The live session a cookie hash names (neither expiry passed).
    fn admin_session(&self, token_hash: &TokenHash, now: Timestamp) -> Option<AdminSessionRecord>;
    /// Moves a live session's idle expiry forward; false when it is gone.
    fn touch_admin_session(&self, token_hash: &TokenHash, idle_expires_at: Timestamp, now: Timestamp) -> bool;
    /// Signs a session out, with its event when given; false when unknown.
    fn delete_admin_session(&self, token_hash: &TokenHash, event: Option<&LogEvent>) -> bool;

    fn create_session(&self, session: &SessionRecord) -> ();
    /// The session a cookie names, if neither ended, revoked nor expired.
    fn active_session_by_cookie(&self, cookie_hash: &TokenHash, now: Timestamp) -> Option<SessionRecord>;
    fn session(&self, id: &SessionId) -> Option<SessionRecord>;
    /// Records a use of a live session (and the client it was used for);
    /// false when the session has ended or was revoked.
    fn touch_session(&self, id: &SessionId, client_id: Option<&ClientId>, ip: &str, user_agent: &str, idle_expires_at: Timestamp, now: Timestamp) -> bool;
    /// A new sign-in in a live session: `authenticated_at` (and the last
    /// interaction) become `now`, the cookie hash is replaced; false when
    /// the session has ended, was revoked or expired.
    fn reauthenticate_session(&self, id: &SessionId, cookie_hash: &TokenHash, ip: &str, user_agent: &str, idle_expires_at: Timestamp, now: Timestamp) -> bool;
    /// Browser logout; refresh tokens bound to the session stay valid. Writes
    /// `event` and queues the session's back-channel logouts with it.
    fn end_session(&self, id: &SessionId, event: &LogEvent, now: Timestamp) -> ();
    fn record_login(&self, user_id: &UserId, ip: &str, now: Timestamp) -> ();
    fn save_authorization_request(&self, id: &str, params: &str, now: Timestamp, expires_at: Timestamp) -> ();
    fn authorization_request(&self, id: &str, now: Timestamp) -> Option<String>;
    fn delete_authorization_request(&self, id: &str) -> ();
    /// Stores a pushed authorization request (RFC 9126) under the SHA-256
    /// of its request_uri.
    fn save_pushed_request(&self, request_uri_hash: &TokenHash, client_id: &ClientId, params: &str, now: Timestamp, expires_at: Timestamp) -> ();
    /// Deletes a live pushed request of `client_id` and returns its
    /// parameters, in one statement: one use at most, across processes.
    fn consume_pushed_request(&self, request_uri_hash: &TokenHash, client_id: &ClientId, now: Timestamp) -> Option<String>;

    fn grant(&self, id: &GrantId) -> Option<UserGrant>;
    fn grant_for(&self, user_id: &UserId, client_id: &ClientId, audience: &str) -> Option<UserGrant>;
    /// Creates the user's grant for (client, audience) or widens its scopes.
    fn upsert_grant(&self, new_id: &GrantId, user_id: &UserId, client_id: &ClientId, audience: &str, scope: &ScopeSet, now: Timestamp) -> UserGrant;

    fn insert_authorization_code(&self, code: &AuthorizationCodeRecord) -> ();
    /// A code by hash, used or not; writes nothing (checks come before spending).
    fn authorization_code(&self, code_hash: &TokenHash) -> Option<StoredCode>;
    /// Spends a code once (compare-and-set on `used_at`); a second
    /// presentation reports what the first issued.
    fn redeem_authorization_code(&self, code_hash: &TokenHash, now: Timestamp) -> CodeRedemption;

    /// Writes a token response's family, access-token record and code link.
    fn issue_tokens(&self, batch: &IssueBatch, now: Timestamp) -> ();
    fn load_refresh_token(&self, token_hash: &TokenHash) -> Option<PresentedRefreshToken>;
    /// The presented token with its user and API, in one query.
    fn load_exchange(&self, token_hash: &TokenHash) -> Option<PresentedExchange>;
    /// A family's state for a token of `generation` whose secret is no longer
    /// stored (rotated out long ago): what reuse detection needs.
    fn load_pruned_refresh_token(&self, family_id: &FamilyId, generation: i64) -> Option<PresentedRefreshToken>;
    /// Imports existing refresh tokens in one transaction (no cap applied).
    fn import_refresh_tokens(&self, families: &[NewFamily]) -> ();
    /// Imports users, grants and refresh tokens in one transaction, many
    /// rows per statement (a migration, a benchmark's fixture).
    fn import(&self, batch: &ImportBatch) -> ();
    /// Refreshes the planner's statistics after a bulk import.
    fn analyze(&self) -> ();
    /// Compare-and-set on the family's generation; false if it moved or was revoked.
    fn apply_exchange(&self, write: &ExchangeWrite) -> bool;
    fn refresh_token_family(&self, id: &FamilyId) -> Option<FamilyRecord>;
    /// Whether a recorded user access token is live (itself, grant, user, family, session).
    fn access_token_state(&self, jti: &str, now: Timestamp) -> Option<AccessTokenState>;
    /// A family's binding to a policy API (Multi-Resource Refresh Tokens),
    /// with the state of the grant it names now.
    fn family_resource(&self, family_id: &FamilyId, audience: &str) -> Option<FamilyResource>;
    /// The policy APIs these families are bound to through unrevoked grants.
    fn family_resources(&self, family_ids: &[FamilyId]) -> Vec<(FamilyId, String)>;
    /// The one write path that invalidates tokens, with its audit event, in one
    /// transaction; a constant number of row writes whatever it covers.
    fn revoke(&self, target: &RevocationTarget, reason: Reason, event: &LogEvent, now: Timestamp) -> RevocationReceipt;
    /// What `revoke` would cover now; writes nothing.
    fn revocation_preview(&self, target: &RevocationTarget, now: Timestamp) -> RevocationReceipt;
    /// An account change (block, new password, delete) and the revocation of
    /// all the user's access, with its event, in one transaction; `None` for
    /// an unknown user.
    fn change_user_revoking(&self, change: &UserChange, reason: Reason, event: &LogEvent, now: Timestamp) -> Option<RevocationReceipt>;

    /// Writes an audit event that goes with no other change.
    fn record_event(&self, event: &LogEvent) -> ();
    /// Writes several such events in one transaction.
    fn record_events(&self, events: &[LogEvent]) -> ();
    fn log_event(&self, log_id: &str) -> Option<LogEvent>;
    /// The events of `log_ids` that still exist, by log id.
    fn log_events(&self, log_ids: &[String]) -> Vec<LogEvent>;
    fn list_logs(&self, filter: &LogFilter, page: PageRequest) -> Page<LogEvent>;

    /// One bounded purge pass over dead rows (see `ops/purge.rs`).
    fn purge(&self, plan: &PurgePlan, now: Timestamp) -> PurgeReport;
    /// Row counts of the tables that grow with use (full counts).
    fn table_sizes(&self) -> TableSizes;
    /// The applied migrations against this binary's (`GET /readyz`); an
    /// error when the database does not answer.
    fn migration_status(&self) -> MigrationStatus;

    // The outbox (`ops/outbox.rs`); messages are written by the changes they announce.
    /// Whether any message is due at `now` (a read).
    fn outbox_due(&self, now: Timestamp) -> bool;
    /// Turns staged tokens-revoked events into SSF messages, up to
    /// `max_batches` batches (`ops/ssf.rs`); how many staged rows it took.
    fn fan_out_ssf(&self, max_batches: usize) -> u64;
    /// Moves the waiting messages of changed streams that their change
    /// left for later, up to `max_batches` batches, the marked streams in
    /// turn after `after` (`ops/outbox.rs`); how many, and the last stream.
    fn sweep_outbox(&self, only: Option<&str>, after: &str, max_batches: usize, now: Timestamp) -> (u64, String);
    /// Leases due messages to `claim.owner`, counting an attempt on each.
    fn claim_outbox(&self, claim: &OutboxClaim, now: Timestamp) -> Vec<OutboxMessage>;
    /// Gives a claimed, unsent message back without counting an attempt.
    fn release_outbox(&self, id: &str, owner: &str, next_attempt_at: Timestamp) -> bool;
    /// Records an attempt's outcome; false when `owner` lost the lease.
    fn settle_outbox(&self, id: &str, owner: &str, outcome: &DeliveryOutcome, now: Timestamp) -> bool;
    /// Pending messages per kind (the metrics' periodic count).
    fn outbox_pending_counts(&self) -> Vec<(OutboxKind, i64)>;
    /// Messages matching `filter`, newest first; `total` counts every match.
    fn list_outbox(&self, filter: &OutboxFilter, page: PageRequest) -> Page<OutboxMessage>;

    // Log streams (`ops/log_streams.rs`); every change with its audit event.
    fn insert_log_stream(&self, stream: &LogStream, event: &LogEvent) -> ();
    fn log_stream(&self, id: &str) -> Option<LogStream>;
    /// Every stream, oldest first.
    fn list_log_streams(&self) -> Vec<LogStream>;
    /// `NotFound` when the stream is gone.
    /// `set_status`: the update names a status (else the stored one stays).
    fn update_log_stream(&self, stream: &LogStream, set_status: bool, event: &LogEvent) -> ();
    fn delete_log_stream(&self, id: &str, event: &LogEvent) -> bool;
    /// Turns the oldest staged events into per-stream batch messages.
    fn batch_log_streams(&self, limit: i64, categorize: fn(&str) -> &'static str, now: Timestamp) -> StreamBatching;
    /// Staged events not yet batched.
    fn log_stream_backlog(&self) -> i64;
    /// A batch attempt's outcome on the stream's health; true when it
    /// suspended the stream (and wrote `suspension`).
    fn record_log_stream_outcome(&self, id: &str, error: Option<&str>, suspend_after_ms: i64, suspension: &LogEvent, now: Timestamp) -> bool;
    // Shared Signals streams (`ops/ssf.rs`); each change with its audit event.
    /// Stores a new stream, unless its owner client already has `limit`
    /// (false then, nothing written). The count and the insert are one
    /// transaction, under the owner's row lock on PostgreSQL.
    fn insert_ssf_stream(&self, stream: &SsfStream, limit: i64, event: &LogEvent) -> bool;
    fn ssf_stream(&self, id: &str) -> Option<SsfStream>;
    /// The streams of one client (all with `None`), oldest first.
    fn list_ssf_streams(&self, client_id: Option<&str>) -> Vec<SsfStream>;
    /// Replaces a stream's settings and, unless `keep_status`, its status;
    /// its waiting events follow (held while paused, dropped when
    /// disabled). False when it is gone.
    fn update_ssf_stream(&self, stream: &SsfStream, keep_status: bool, event: &LogEvent, now: Timestamp) -> bool;
    /// Pauses an enabled stream whose deliveries failed for good, holding
    /// its waiting events, with its audit event; false unless it was enabled.
    fn suspend_ssf_stream(&self, id: &str, reason: &str, event: &LogEvent, now: Timestamp) -> bool;
    /// Gives back a push event `owner` claimed for a stream that now holds
    /// or polls its events (no attempt counted) and moves the stream's
    /// waiting events to its current state, under the stream's lock; false
    /// when `owner` no longer held it.
    fn requeue_ssf_message(&self, id: &str, owner: &str, now: Timestamp) -> bool;
    /// Deletes a stream, its subjects, and drops its waiting events.
    fn delete_ssf_stream(&self, id: &str, event: &LogEvent, now: Timestamp) -> bool;
    /// Adds a user to a stream or removes one from it.
    fn set_ssf_subject(&self, stream_id: &str, user_id: &str, mode: SsfSubjectMode, event: &LogEvent, now: Timestamp) -> bool;
    /// Queues a verification event for an enabled or paused stream.
    fn request_ssf_verification(&self, stream_id: &str, event: &LogEvent, now: Timestamp) -> bool;
    /// An RFC 8936 poll: settles acknowledged and failed events and returns
    /// up to `max_events` waiting ones, in one transaction.
    fn poll_ssf(&self, stream_id: &str, poll: &SsfPoll, now: Timestamp) -> SsfPollResult;

    fn insert_device_code(&self, code: &DeviceCodeRecord) -> ();
    fn pending_device_code(&self, user_code_hash: &TokenHash, now: Timestamp) -> Option<DeviceCodeRecord>;
    fn approve_device_code(&self, user_code_hash: &TokenHash, user_id: &UserId, session_id: &SessionId, grant_id: &GrantId, auth_time: Timestamp, now: Timestamp) -> bool;
    fn deny_device_code(&self, user_code_hash: &TokenHash, now: Timestamp) -> bool;
    /// Records a poll and moves the code on; an approved code is consumed once.
    fn poll_device_code(&self, device_code_hash: &TokenHash, now: Timestamp) -> DevicePoll;
    /// Takes one attempt on every counter, in one transaction, before the
    /// password or code is checked: all or none, so parallel guesses get no
    /// more checks than sequential ones. A full counter refuses (and nothing
    /// is taken); an expired window starts again at one.
    fn reserve_attempts(&self, counters: &[AttemptCounter], now: Timestamp) -> AttemptReservation;
    /// Records a DPoP proof (by the hash of its key's thumbprint and `jti`)
    /// until `expires_at`; false for a replay.
    fn record_dpop_proof(&self, proof_key: &TokenHash, expires_at: Timestamp) -> bool;
    /// After a successful check: gives back one attempt on each of
    /// `release` and deletes the counters in `reset`, in one transaction.
    fn release_attempts(&self, release: &[AttemptCounter], reset: &[AttemptCounter]) -> ();
    /// Attempts counted on `counter` in its current window.
    fn attempt_count(&self, counter: &AttemptCounter, now: Timestamp) -> i64;
    /// IPs whose counter of `kind` for `identifier_hash` is full
    /// (`limit` reached inside `window_seconds`), sorted.
    fn blocked_ips(&self, kind: &str, identifier_hash: &str, limit: i64, window_seconds: i64, now: Timestamp) -> Vec<String>;
    /// Deletes every counter of `kind` for `identifier_hash` (lifting its
    /// blocks), with its audit event; returns how many there were.
    fn clear_attempts(&self, kind: &str, identifier_hash: &str, event: Option<&LogEvent>) -> u64;

    // Management API and dashboard reads
    /// One live refresh token (family) by id, or `None` when it is unknown,
    /// revoked, expired (absolute or idle), or dead through its grant, user or
    /// session: the same condition `revoke` counts with, so a revoked or
    /// rotated-out token never shows. (A rotated-out *secret* is not a token
    /// here: the family keeps its id across rotations.)
    fn live_refresh_token(&self, id: &FamilyId, now: Timestamp) -> Option<FamilyRecord>;
    /// Live refresh tokens matching `filter` (user, client), ordered by id,
    /// `page.limit` at most after `page.offset` rows. Checkpoint paging sets
    /// `filter.after_id` and offset 0 (ask for `limit + 1` to learn whether a
    /// next page exists). `total` counts every live match, ignoring
    /// `after_id`. This is also the device-credential listing: in grantor a
    /// device credential of type `refresh_token` is a live family.
    fn list_live_refresh_tokens(&self, filter: &RefreshTokenFilter, page: PageRequest, now: Timestamp) -> Page<FamilyRecord>;
    /// Replaces a live refresh token's `refresh_token_metadata` (JSON object
    /// text; `None` clears it), with its audit event; false when the token is
    /// unknown, revoked or expired (nothing written).
    fn set_refresh_token_metadata(&self, id: &FamilyId, metadata: Option<&str>, event: &LogEvent, now: Timestamp) -> bool;
    /// The metadata of those of `ids` that have some (JSON object text).
    fn refresh_token_metadata(&self, ids: &[FamilyId]) -> Vec<(FamilyId, String)>;
    /// Replaces a live session's `session_metadata`, as
    /// `set_refresh_token_metadata` does for a refresh token.
    fn set_session_metadata(&self, id: &SessionId, metadata: Option<&str>, event: &LogEvent, now: Timestamp) -> bool;
    /// The metadata of those of `ids` that have some (JSON object text).
    fn session_metadata(&self, ids: &[SessionId]) -> Vec<(SessionId, String)>;
    /// Registers a device's public key with its audit event; `Conflict` when
    /// the user has one for that client and device, `MissingReference` when
    /// the user or client does not exist.
    fn insert_device_public_key(&self, key: &DevicePublicKey, event: &LogEvent) -> ();
    /// Public keys matching `filter`, by id, offset paging; `total` counts
    /// every match.
    fn list_device_public_keys(&self, filter: &DevicePublicKeyFilter, page: PageRequest) -> Page<DevicePublicKey>;
    /// Deletes a public key with its event; false when there is none.
    fn delete_device_public_key(&self, id: &str, event: &LogEvent) -> bool;
    /// User grants (consents) matching `filter` (user, client, audience),
    /// oldest first (`created_at`, then id), offset paging; `total` counts
    /// every match.
    fn list_grants(&self, filter: &GrantFilter, page: PageRequest) -> Page<UserGrant>;
    /// One session by id with its clients, or `None` when it is unknown,
    /// ended (browser logout), revoked or expired (absolute or idle).
    fn live_session(&self, id: &SessionId, now: Timestamp) -> Option<SessionDetails>;
    /// Live sessions (neither ended, revoked nor expired) matching `filter`,
    /// with their clients, ordered by id; paging as in
    /// `list_live_refresh_tokens` (`filter.after_id` for checkpoints); `total`
    /// counts every live match, ignoring `after_id`.
    fn list_live_sessions(&self, filter: &SessionFilter, page: PageRequest, now: Timestamp) -> Page<SessionDetails>;
}
