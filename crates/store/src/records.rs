//! Inputs and outputs of store operations that are not domain entities.

use grantor_domain::{
    Client, ClientGrant, ClientId, FamilyId, GrantId, ResourceServer, SessionId, TenantSettings,
    Timestamp, TokenHash, UserId,
};

/// Offset paging: `offset` rows skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub offset: i64,
    pub limit: i64,
}

/// One page and the number of rows matching the query in all.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ClientGrantFilter {
    pub client_id: Option<ClientId>,
    pub audience: Option<String>,
    /// Checkpoint paging: only ids greater than this one.
    pub after_id: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Exact (lower-cased) e-mail.
    pub email: Option<String>,
    /// Substring of the e-mail (dashboard search).
    pub email_contains: Option<String>,
}

/// A signing key as stored: PKCS#8 private key bytes and its place in the
/// rotation.
#[derive(Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_pkcs8: Vec<u8>,
    pub created_at: Timestamp,
    pub state: SigningKeyState,
    /// When it became current (keys made before rotation existed: their
    /// creation).
    pub current_since: Option<Timestamp>,
    /// When a rotation replaced it as current.
    pub current_until: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

impl SigningKeyRecord {
    /// A new key in `state`, as bootstrap (current) or a rotation (next)
    /// stores it.
    pub fn new(
        kid: String,
        alg: String,
        private_pkcs8: Vec<u8>,
        state: SigningKeyState,
        now: Timestamp,
    ) -> Self {
        Self {
            kid,
            alg,
            private_pkcs8,
            created_at: now,
            state,
            current_since: (state == SigningKeyState::Current).then_some(now),
            current_until: None,
            revoked_at: None,
        }
    }
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .finish()
    }
}

/// Where a signing key is in its rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeyState {
    /// Published, signs after the next rotation.
    Next,
    /// Signs (one per algorithm).
    Current,
    /// Replaced; published so that what it signed still verifies.
    Previous,
    /// Neither published nor trusted.
    Revoked,
}

impl SigningKeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Previous => "previous",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "next" => Self::Next,
            "current" => Self::Current,
            "previous" => Self::Previous,
            "revoked" => Self::Revoked,
            _ => return None,
        })
    }
}

/// Every stored key with the version of the set (bumped by each rotation
/// and revocation), read in one statement.
#[derive(Debug, Clone)]
pub struct SigningKeySet {
    pub version: i64,
    pub keys: Vec<SigningKeyRecord>,
}

/// What `Store::revoke_signing_key` did.
#[derive(Debug, Clone)]
pub enum SigningKeyRevocation {
    /// The key was previous and is revoked now (the record as it is now).
    Revoked(SigningKeyRecord),
    /// No key has this kid.
    NotFound,
    /// Only a previous key can be revoked; nothing changed.
    NotPrevious(SigningKeyState),
}

/// Everything the first start writes, prepared (secrets hashed, keys made)
/// before the transaction so that the transaction itself is short.
#[derive(Debug, Clone)]
pub struct BootstrapPlan {
    pub tenant: TenantSettings,
    pub management_api: ResourceServer,
    pub management_client: Client,
    pub management_grant: ClientGrant,
    pub admin_email: String,
    pub admin_password_hash: String,
    pub signing_keys: Vec<SigningKeyRecord>,
    pub now: Timestamp,
}

/// A browser session (the `sid` of tokens issued through it).
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: SessionId,
    pub user_id: UserId,
    /// SHA-256 of the cookie secret.
    pub cookie_hash: TokenHash,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub authenticated_at: Timestamp,
    pub last_interacted_at: Timestamp,
    pub idle_expires_at: Timestamp,
    pub expires_at: Timestamp,
    pub initial_ip: String,
    pub initial_user_agent: String,
    pub last_ip: String,
    pub last_user_agent: String,
    pub ended_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A user's consent for one client and one API.
#[derive(Debug, Clone)]
pub struct UserGrant {
    pub id: GrantId,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub audience: String,
    pub scope: grantor_domain::ScopeSet,
    pub token_epoch: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct AuthorizationCodeRecord {
    pub code_hash: TokenHash,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub session_id: Option<SessionId>,
    pub grant_id: GrantId,
    /// The redirect URI the code was issued to (the one sent, or the
    /// client's only callback).
    pub redirect_uri: String,
    /// Whether `/authorize` carried `redirect_uri`: then the token request
    /// must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    pub audience: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub device_name: Option<String>,
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// RFC 9449 §10: the DPoP key (JWK thumbprint) the token request must
    /// prove, when the code is bound to one.
    pub dpop_jkt: Option<String>,
}

/// A stored authorization code as a token request finds it, before anything
/// is written: the caller checks client, `redirect_uri` and PKCE against it,
/// and only then spends it with `redeem_authorization_code`.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub record: AuthorizationCodeRecord,
    pub used_at: Option<Timestamp>,
}

/// What spending an authorization code did.
#[derive(Debug, Clone)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Redeemed,
    /// A second use (RFC 6749 §4.1.2): what the first use issued, to revoke.
    Replayed {
        issued_family_id: Option<FamilyId>,
        issued_jti: Option<String>,
    },
    /// Unknown or expired.
    Invalid,
}

/// A new refresh-token family with its first secret. Its user epoch is read
/// from the user row inside the issuing transaction.
#[derive(Debug, Clone)]
pub struct NewFamily {
    pub id: FamilyId,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub grant_id: GrantId,
    pub grant_epoch: i64,
    pub session_id: Option<SessionId>,
    pub audience: String,
    pub scope: String,
    pub rotating: bool,
    pub device_name: Option<String>,
    pub ip: String,
    pub user_agent: String,
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub idle_expires_at: Option<Timestamp>,
    pub secret_hash: TokenHash,
    /// DPoP: the thumbprint of the key the refresh token is bound to.
    pub dpop_jkt: Option<String>,
}

/// What [`crate::Store::import`] writes, in this order.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    pub users: Vec<grantor_domain::User>,
    pub grants: Vec<UserGrant>,
    pub families: Vec<NewFamily>,
}

/// An access token issued to a user, recorded for introspection.
#[derive(Debug, Clone)]
pub struct AccessTokenRecord {
    pub jti: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub grant_id: GrantId,
    pub grant_epoch: i64,
    /// `None`: the user's current epoch, read inside the writing transaction.
    pub user_epoch: Option<i64>,
    pub family_id: Option<FamilyId>,
    pub session_id: Option<SessionId>,
    pub expires_at: Timestamp,
}

/// Everything one token response writes, in one transaction. The family's
/// secret is one of grantor's MAC-carrying strings (`src/refresh_secret.rs`),
/// as is every secret an exchange writes; imported ones are not.
#[derive(Debug, Clone)]
pub struct IssueBatch {
    pub family: Option<NewFamily>,
    pub access_token: AccessTokenRecord,
    /// The code this response redeemed, to remember what it issued.
    pub code_hash: Option<TokenHash>,
    /// The audit event of this issue.
    pub event: Option<LogEvent>,
    /// Multi-Resource Refresh Tokens: the policy APIs the new family is
    /// bound to (each through the user's grant for it, created if missing).
    pub resources: Vec<ResourceBinding>,
    /// The family whose bindings the new family takes over (a family
    /// replaced when its client switched rotation off).
    pub resources_of: Option<FamilyId>,
}

/// A policy API a new family is bound to: `grant_id` names the grant to
/// create if the user has none for this client and API yet. A grant created
/// so holds no scope: the user consented to nothing there, so a later
/// `/authorize` for that API still asks.
#[derive(Debug, Clone)]
pub struct ResourceBinding {
    pub audience: String,
    pub grant_id: GrantId,
}

/// A family's binding to one policy API, as a refresh exchange reads it.
#[derive(Debug, Clone)]
pub struct FamilyResource {
    pub grant_id: GrantId,
    /// The grant's epoch when the family was bound to it.
    pub grant_epoch: i64,
    /// The grant's epoch now; `None` when the grant was deleted.
    pub grant_epoch_now: Option<i64>,
    pub grant_scope: Option<String>,
    pub created_at: Option<Timestamp>,
}

impl FamilyResource {
    /// Whether the grant it was bound through is unrevoked.
    pub fn is_current(&self) -> bool {
        self.grant_epoch_now == Some(self.grant_epoch)
    }
}

/// A stored refresh-token family (the Management API's "refresh token").
#[derive(Debug, Clone)]
pub struct FamilyRecord {
    pub id: FamilyId,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub grant_id: GrantId,
    pub grant_epoch: i64,
    pub user_epoch: i64,
    pub session_id: Option<SessionId>,
    pub audience: String,
    pub scope: String,
    pub rotating: bool,
    pub device_name: Option<String>,
    pub initial_ip: String,
    pub initial_user_agent: String,
    pub last_ip: String,
    pub last_user_agent: String,
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub idle_expires_at: Option<Timestamp>,
    pub last_exchanged_at: Option<Timestamp>,
    pub current_generation: i64,
    pub last_rotated_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// DPoP: the thumbprint (RFC 7638, SHA-256) of the key it is bound to.
    pub dpop_jkt: Option<String>,
}

/// A presented refresh token: its family, its generation, and the state its
/// validity depends on, all read in one query.
#[derive(Debug, Clone)]
pub struct PresentedRefreshToken {
    pub family: FamilyRecord,
    pub generation: i64,
    pub snapshot: grantor_domain::refresh_token::FamilySnapshot,
}

/// What a refresh exchange reads before it decides (`Store::load_exchange`).
#[derive(Debug, Clone)]
pub struct PresentedExchange {
    pub token: PresentedRefreshToken,
    /// The family's user; `None` if it was deleted.
    pub user: Option<grantor_domain::User>,
    /// The API the family's audience names; `None` for the userinfo
    /// audience or an API deleted since.
    pub api: Option<grantor_domain::ResourceServer>,
}

/// The write of one refresh exchange, applied only if the family is still at
/// `expected_generation` and not revoked (compare-and-set).
#[derive(Debug, Clone)]
pub struct ExchangeWrite {
    pub family_id: FamilyId,
    pub expected_generation: i64,
    pub new_generation: i64,
    /// Whether this exchange rotated (sets `last_rotated_at`).
    pub rotated: bool,
    pub rotating: bool,
    /// A new secret of generation `secret_generation`, if the response carries one.
    pub new_secret_hash: Option<TokenHash>,
    pub secret_generation: i64,
    pub expires_at: Option<Timestamp>,
    pub idle_expires_at: Option<Timestamp>,
    pub ip: String,
    pub user_agent: String,
    pub now: Timestamp,
    pub access_token: AccessTokenRecord,
    /// Enabling rotation revokes the user's other non-rotating tokens for the
    /// same client and API (reference §3.2).
    pub revoke_other_non_rotating: bool,
    /// For an access token for a policy API: the grant it is issued under
    /// and the epoch it was read at; the write is refused (a lost race) if
    /// the grant was revoked since.
    pub resource_guard: Option<(GrantId, i64)>,
    /// The audit event of this exchange (`sertft`).
    pub event: LogEvent,
}

#[derive(Debug, Clone)]
pub struct DeviceCodeRecord {
    pub device_code_hash: TokenHash,
    pub user_code_hash: TokenHash,
    pub client_id: ClientId,
    pub audience: String,
    pub scope: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub interval_seconds: i64,
    pub last_polled_at: Option<Timestamp>,
    pub status: String,
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    pub grant_id: Option<GrantId>,
    pub auth_time: Option<Timestamp>,
    pub device_ip: String,
    pub device_user_agent: String,
}

/// What a device-code poll found; the poll itself is recorded.
#[derive(Debug, Clone)]
pub enum DevicePoll {
    Unknown,
    Pending {
        too_fast: bool,
        interval_seconds: i64,
    },
    /// Approved: the code is now consumed; issue tokens for it.
    Approved(Box<DeviceCodeRecord>),
    Denied,
    /// First poll after expiry; later polls answer `Unknown`.
    Expired,
}

/// The live state of a recorded user access token.
#[derive(Debug, Clone)]
pub struct AccessTokenState {
    pub client_id: ClientId,
    pub user_id: UserId,
    pub active: bool,
    /// The audience of the refresh token it was issued from, if any (an
    /// access token for another audience came through a policy).
    pub family_audience: Option<String>,
}

/// What one revocation covers (CONTRACT §4). Every variant is a constant
/// number of row writes, whatever the number of tokens it covers: tokens are
/// checked against their family, grant, user and session on every use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationTarget {
    /// One refresh token (a family: the token and its rotations).
    Family { family_id: FamilyId },
    /// Several refresh tokens by id (`POST /refresh-tokens/revoke {ids}`).
    Families { family_ids: Vec<FamilyId> },
    /// Every refresh token issued for a grant; `delete_grant` says whether
    /// the consent goes too, so the next `/authorize` asks again.
    Grant {
        grant_id: GrantId,
        delete_grant: DeleteGrant,
    },
    /// Every grant of a user, deleted, with their refresh tokens
    /// (`DELETE /grants?user_id=`): one statement.
    UserGrants { user_id: UserId },
    /// Every refresh token of a user, or only those for one client (and API).
    User {
        user_id: UserId,
        client_id: Option<ClientId>,
        audience: Option<String>,
    },
    /// A browser session; with `tokens`, the refresh tokens bound to it too
    /// (without, the session only ends and its refresh tokens keep working).
    Session { session_id: SessionId, tokens: bool },
    /// Every session of a user, with or without their bound refresh tokens.
    UserSessions { user_id: UserId, tokens: bool },
    /// `POST /users/{id}/revoke-access`: every session of the user (or one)
    /// and, unless kept, every refresh token of the user.
    UserAccess {
        user_id: UserId,
        session_id: Option<SessionId>,
        keep_refresh_tokens: bool,
    },
    /// What the first redemption of a replayed authorization code issued.
    CodeIssue {
        family_id: Option<FamilyId>,
        jti: Option<String>,
    },
}

/// Whether revoking a grant's refresh tokens deletes the grant as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteGrant {
    /// Only the tokens: the grant's `token_epoch` moves on.
    No,
    /// The grant too (`DELETE /grants/{id}`, the dashboard).
    Yes,
    /// As the tenant's `revoke_refresh_token_grant` says (`/oauth/revoke`):
    /// the store reads it with the grant, in the revocation's own read (on
    /// PostgreSQL in its transaction, on SQLite just before it), so the call
    /// pays no read of its own for it. A setting changed after that read is
    /// followed by the next revocation. The audit event's description says
    /// when the grant was deleted too.
    AsTenantSays,
}

/// A change to a stored user: the user as the change read it, and as the
/// change leaves it. Only the members that differ, and those the change
/// names (`named`, as `UserPatch::changed_members` lists them, even when set
/// to the value read), are written, with `updated_at`; so a change another
/// request made meanwhile to another member survives: a profile edit read
/// before a block does not unblock the user, nor one read before a new
/// password bring the old one back. Two changes of the same member: the
/// last one written wins.
#[derive(Debug, Clone)]
pub struct UserUpdate {
    pub before: grantor_domain::User,
    pub after: grantor_domain::User,
    pub named: Vec<&'static str>,
    /// Members made from what was read (a metadata merge): written only
    /// while the stored value is still `before`'s.
    pub guarded: Vec<&'static str>,
}

impl UserUpdate {
    pub fn new(before: grantor_domain::User, after: grantor_domain::User) -> Self {
        Self {
            before,
            after,
            named: Vec::new(),
            guarded: Vec::new(),
        }
    }

    /// Also writes these members (Auth0's names), whatever was read.
    pub fn naming(mut self, members: &[&'static str]) -> Self {
        self.named.extend_from_slice(members);
        self
    }

    /// Writes these members, when written at all, only if each is still
    /// stored as `before` has it; otherwise nothing is written and the
    /// update fails with `StoreError::Changed`, so the caller reads again
    /// and makes its change from the new value (a metadata merge).
    pub fn guarding(mut self, members: &[&'static str]) -> Self {
        self.guarded.extend_from_slice(members);
        self
    }
}

/// An account change that ends the user's access in its own transaction
/// (CONTRACT §6.3): blocking, a new password, or deleting the user.
#[derive(Debug, Clone)]
pub enum UserChange {
    /// The user's new state (blocked, or a new password hash).
    Update(Box<UserUpdate>),
    Delete {
        user_id: UserId,
    },
}

impl UserChange {
    pub fn user_id(&self) -> &UserId {
        match self {
            UserChange::Update(u) => &u.after.user_id,
            UserChange::Delete { user_id } => user_id,
        }
    }
}

/// What a revocation covered (or, as a preview, would cover). Counts are of
/// refresh tokens that were live just before it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RevocationReceipt {
    /// Whether the target existed at all (an unknown id is `false`).
    pub found: bool,
    /// Live refresh tokens (families) it revoked, counted up to
    /// [`RECEIPT_COUNT_LIMIT`] (see `refresh_tokens_at_least`).
    pub refresh_tokens: i64,
    /// The count stopped at [`RECEIPT_COUNT_LIMIT`], or after examining
    /// [`RECEIPT_SCAN_LIMIT`] tokens: at least that many were revoked. Counting all of a million tokens would hold the caller for
    /// seconds; the revocation itself covers them all either way.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refresh_tokens_at_least: bool,
    /// Distinct devices (device name, else user agent) among the counted tokens.
    pub devices: i64,
    /// Up to [`RECEIPT_ID_LIMIT`] of their ids.
    pub refresh_token_ids: Vec<String>,
    /// Grants whose tokens it revoked (epoch bumped or grant deleted).
    pub grant_ids: Vec<String>,
    pub grants_deleted: bool,
    /// Sessions it revoked or ended.
    pub sessions: i64,
}

/// How many token ids a receipt lists.
pub const RECEIPT_ID_LIMIT: i64 = 100;

/// How far a receipt counts tokens; beyond it the count is a lower bound
/// (`refresh_tokens_at_least`).
pub const RECEIPT_COUNT_LIMIT: i64 = 1_000;

/// How many of a target's unrevoked refresh tokens a receipt examines at
/// most. Tokens dead by an epoch (a user or grant revoked before) are not
/// purged at once; past this many the count is a lower bound too.
pub const RECEIPT_SCAN_LIMIT: i64 = 10_000;

/// One audit event (`GET /api/v2/logs`), written in the transaction of the
/// change it records.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub log_id: String,
    pub date: Timestamp,
    /// Auth0's event type code where one exists (`srrt`, `ferrt`, `sertft`, …).
    pub type_code: String,
    pub description: String,
    pub client_id: Option<String>,
    /// Filled from the client and user rows when the event is written.
    pub client_name: Option<String>,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    pub type_code: Option<String>,
    /// Checkpoint paging: only events after this id, oldest first.
    pub after_id: Option<String>,
    /// Only events before this id (the dashboard's "up to a date": a log
    /// id's first 20 digits are its time in milliseconds).
    pub before_id: Option<String>,
    /// Offset paging oldest first (`sort=date:1`) instead of newest first.
    pub oldest_first: bool,
    /// Counts at most this many matches (a page's `total` is then a lower
    /// bound once it reaches it), and `Some(0)` none at all (no query): a
    /// count reads every matching event, which over a long audit log costs
    /// far more than the page itself, so a view that only shows "of N", or
    /// shows no total (checkpoint paging, offset paging without
    /// `include_totals`), need not read all of it.
    pub total_up_to: Option<i64>,
}

/// One purge pass: how many rows it may look at per table, and where the
/// keyset walks over families and sessions resume (empty: from the start).
#[derive(Debug, Clone)]
pub struct PurgePlan {
    pub batch_size: i64,
    /// Audit events older than this are deleted.
    pub logs_before: Timestamp,
    pub families_after: String,
    pub sessions_after: String,
}

/// What one purge pass deleted, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    pub refresh_token_families: u64,
    pub refresh_token_secrets: u64,
    pub access_tokens: u64,
    pub sessions: u64,
    pub authorization_codes: u64,
    pub authorization_requests: u64,
    pub device_codes: u64,
    pub attempt_counters: u64,
    /// DPoP proof ids past their replay window.
    pub dpop_proofs: u64,
    /// Pushed authorization requests past their lifetime.
    pub pushed_authorization_requests: u64,
    pub logs: u64,
    /// Delivered and given-up outbox messages.
    pub outbox: u64,
    /// Staged log stream events older than the audit log's retention.
    pub log_stream_backlog: u64,
    /// Staged SSF tokens-revoked events older than the audit log's retention.
    pub ssf_backlog: u64,
    /// Finished log stream batches older than a day.
    pub log_stream_batches: u64,
    /// SSF events never polled (or held by a paused stream) until their
    /// audit event's retention ended, marked failed.
    pub expired_ssf_events: u64,
    /// Where the next pass resumes its walks (empty: back to the start).
    pub families_after: String,
    pub sessions_after: String,
}

impl PurgeReport {
    pub fn total(&self) -> u64 {
        self.refresh_token_families
            + self.refresh_token_secrets
            + self.access_tokens
            + self.sessions
            + self.authorization_codes
            + self.authorization_requests
            + self.device_codes
            + self.attempt_counters
            + self.dpop_proofs
            + self.pushed_authorization_requests
            + self.logs
            + self.outbox
            + self.log_stream_backlog
            + self.ssf_backlog
            + self.log_stream_batches
            + self.expired_ssf_events
    }

    /// Whether the pass left work behind: a time-ordered delete filled its
    /// batch, or at least half of a walked batch was dead. The purge loop
    /// then runs the next pass soon instead of after its interval.
    pub fn behind(&self, batch_size: i64) -> bool {
        let full = |n: u64| n as i64 >= batch_size.max(1);
        let dense = |n: u64| 2 * n as i64 >= batch_size.max(1);
        full(self.access_tokens)
            || full(self.authorization_codes)
            || full(self.authorization_requests)
            || full(self.device_codes)
            || full(self.attempt_counters)
            || full(self.dpop_proofs)
            || full(self.pushed_authorization_requests)
            || full(self.logs)
            || full(self.outbox)
            || full(self.log_stream_backlog)
            || full(self.ssf_backlog)
            || full(self.log_stream_batches)
            || full(self.expired_ssf_events)
            || dense(self.refresh_token_families)
            || dense(self.sessions)
    }
}

/// Exact row counts of the tables that grow with use (a full count: for
/// benchmarks and tests, not for a request path).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableSizes {
    pub refresh_token_families: i64,
    pub refresh_token_secrets: i64,
    pub access_tokens: i64,
    pub sessions: i64,
    pub logs: i64,
}

// Management API and dashboard reads.

/// Which live refresh tokens (families) to list: `GET /users/{id}/refresh-tokens`,
/// `GET /refresh-tokens`, `GET /device-credentials` and the dashboard's
/// Devices tab. Every field narrows the list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct RefreshTokenFilter {
    pub user_id: Option<UserId>,
    pub client_id: Option<ClientId>,
    /// Checkpoint paging: only ids greater than this one (ordering is by id).
    pub after_id: Option<String>,
}

/// Which user grants to list (`GET /grants`, the dashboard's Authorized
/// Applications tab). Every field narrows the list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    pub user_id: Option<UserId>,
    pub client_id: Option<ClientId>,
    pub audience: Option<String>,
}

/// Which live sessions to list (`GET /users/{id}/sessions`, the dashboard's
/// Sessions tab). Every field narrows the list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub user_id: Option<UserId>,
    /// Checkpoint paging: only ids greater than this one (ordering is by id).
    pub after_id: Option<String>,
}

/// A session with the clients it was used for (Auth0's session object).
#[derive(Debug, Clone)]
pub struct SessionDetails {
    pub session: SessionRecord,
    /// Ids of the clients the session signed in to, sorted.
    pub client_ids: Vec<ClientId>,
}

/// A dashboard administrator's session (the `grantor_admin` cookie).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSessionRecord {
    /// SHA-256 of the cookie secret; the secret itself is never stored.
    pub token_hash: TokenHash,
    pub email: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub idle_expires_at: Timestamp,
    pub expires_at: Timestamp,
    pub ip: String,
    pub user_agent: String,
}

/// A brute-force or guessing counter (`ops/attempts.rs`): attempts of one
/// `kind` under one identifier (the SHA-256 of a normalised e-mail, or empty)
/// and one IP, at most `limit` in a window of `window_seconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptCounter {
    pub kind: &'static str,
    pub identifier_hash: String,
    pub ip: String,
    pub limit: i64,
    pub window_seconds: i64,
}

impl AttemptCounter {
    /// The row's primary key.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.kind, self.identifier_hash, self.ip)
    }
}

/// What `reserve_attempts` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptReservation {
    /// Every counter took one more attempt.
    Reserved,
    /// The counter at `counter` (an index into the slice) is full; nothing
    /// was taken. Its window ends in `retry_after_seconds`.
    Refused {
        counter: usize,
        retry_after_seconds: i64,
    },
}

/// What an outbox message is (`outbox.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    /// An OpenID Connect Back-Channel Logout token for one client and one
    /// session, POSTed to the client's `backchannel_logout_url`.
    BackchannelLogout,
    /// A batch of audit events for one log stream (destination: the
    /// stream's id; payload: the JSON list of the events' log ids).
    LogStreamBatch,
    /// A Security Event Token for an SSF stream with push delivery
    /// (RFC 8935); `destination` is the stream's id.
    SsfPush,
    /// A Security Event Token waiting for its SSF stream's receiver to poll
    /// it (RFC 8936); never claimed by the delivery worker.
    SsfPoll,
    /// A Security Event Token held for a paused SSF stream; it becomes
    /// `SsfPush` or `SsfPoll` when the stream is enabled again. Never claimed.
    SsfHeld,
}

impl OutboxKind {
    pub const ALL: [OutboxKind; 5] = [
        OutboxKind::BackchannelLogout,
        OutboxKind::LogStreamBatch,
        OutboxKind::SsfPush,
        OutboxKind::SsfPoll,
        OutboxKind::SsfHeld,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::BackchannelLogout => "backchannel_logout",
            OutboxKind::LogStreamBatch => "log_stream_batch",
            OutboxKind::SsfPush => "ssf_push",
            OutboxKind::SsfPoll => "ssf_poll",
            OutboxKind::SsfHeld => "ssf_held",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "backchannel_logout" => Some(OutboxKind::BackchannelLogout),
            "log_stream_batch" => Some(OutboxKind::LogStreamBatch),
            "ssf_push" => Some(OutboxKind::SsfPush),
            "ssf_poll" => Some(OutboxKind::SsfPoll),
            "ssf_held" => Some(OutboxKind::SsfHeld),
            _ => None,
        }
    }

    /// Whether the delivery worker claims messages of this kind (polled and
    /// held messages wait for their receiver or their stream).
    pub fn worker_delivers(self) -> bool {
        !matches!(self, OutboxKind::SsfPoll | OutboxKind::SsfHeld)
    }
}

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    /// Not delivered yet (possibly being delivered, or waiting for a retry).
    Pending,
    Delivered,
    /// Gave up after the last attempt.
    Failed,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Delivered => "delivered",
            OutboxStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(OutboxStatus::Pending),
            "delivered" => Some(OutboxStatus::Delivered),
            "failed" => Some(OutboxStatus::Failed),
            _ => None,
        }
    }
}

/// One outbox message with its delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Unique, stable across retries: the message's `jti`.
    pub id: String,
    pub kind: OutboxKind,
    /// The URL it is sent to.
    pub destination: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// The audit event of the change that wrote it.
    pub log_id: Option<String>,
    pub created_at: Timestamp,
    pub status: OutboxStatus,
    /// Attempts started so far (a claimed message counts its attempt).
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub finished_at: Option<Timestamp>,
    /// What the message carries beyond its columns (a log stream batch:
    /// the JSON list of its log ids).
    pub payload: Option<String>,
}

impl OutboxMessage {
    /// The log ids a log stream batch carries (empty for other kinds).
    pub fn log_ids(&self) -> Vec<String> {
        self.payload
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .unwrap_or_default()
    }
}

/// A claim on due messages: `owner` delivers them until `lease_until`,
/// after which another claim may take them again.
#[derive(Debug, Clone)]
pub struct OutboxClaim {
    pub owner: String,
    pub lease_until: Timestamp,
    pub limit: i64,
    /// Destinations whose messages are left alone (the claiming process has
    /// no free place for them).
    pub skip_destinations: Vec<String>,
    /// At most this many messages per destination (1 to 16): the places a
    /// process has for one destination.
    pub per_destination: i64,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; try again at `next_attempt_at`.
    Retry {
        error: String,
        next_attempt_at: Timestamp,
    },
    /// Failed for the last time.
    GaveUp {
        error: String,
    },
}

/// Which outbox messages to list (newest first).
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub client_id: Option<String>,
    pub session_id: Option<String>,
    pub status: Option<OutboxStatus>,
    pub kind: Option<OutboxKind>,
    /// The message's `destination` exactly (a URL, or a stream's id for
    /// the stream kinds).
    pub destination: Option<String>,
}

/// What one `batch_log_streams` call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamBatching {
    /// Staged events taken (and deleted from the backlog).
    pub events: u64,
    /// Outbox messages written.
    pub batches: u64,
}
