//! Inputs and outputs of store operations that are not domain entities.

use grantor_domain::{Client, ClientGrant, ResourceServer, TenantSettings, Timestamp};

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
    pub client_id: Option<String>,
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

/// A signing key as stored: PKCS#8 private key bytes.
#[derive(Clone)]
pub struct SigningKeyRecord {
    pub kid: String,
    pub alg: String,
    pub private_pkcs8: Vec<u8>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
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
    pub id: String,
    pub user_id: String,
    /// SHA-256 of the cookie secret.
    pub cookie_hash: String,
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
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: grantor_domain::ScopeSet,
    pub token_epoch: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct AuthorizationCodeRecord {
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub grant_id: String,
    pub redirect_uri: String,
    pub audience: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub device_name: Option<String>,
    pub auth_time: Timestamp,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// What presenting an authorization code found.
#[derive(Debug, Clone)]
pub enum CodeRedemption {
    /// First use: the code is now spent.
    Redeemed(Box<AuthorizationCodeRecord>),
    /// A second use (RFC 6749 §4.1.2): what the first use issued, to revoke.
    Replayed {
        issued_family_id: Option<String>,
        issued_jti: Option<String>,
    },
    /// Unknown or expired.
    Invalid,
}

/// A new refresh-token family with its first secret. Its user epoch is read
/// from the user row inside the issuing transaction.
#[derive(Debug, Clone)]
pub struct NewFamily {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub grant_id: String,
    pub grant_epoch: i64,
    pub session_id: Option<String>,
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
    pub secret_hash: String,
}

/// An access token issued to a user, recorded for introspection.
#[derive(Debug, Clone)]
pub struct AccessTokenRecord {
    pub jti: String,
    pub client_id: String,
    pub user_id: String,
    pub grant_id: String,
    pub grant_epoch: i64,
    /// `None`: the user's current epoch, read inside the writing transaction.
    pub user_epoch: Option<i64>,
    pub family_id: Option<String>,
    pub session_id: Option<String>,
    pub expires_at: Timestamp,
}

/// Everything one token response writes, in one transaction.
#[derive(Debug, Clone)]
pub struct IssueBatch {
    pub family: Option<NewFamily>,
    pub access_token: AccessTokenRecord,
    /// The code this response redeemed, to remember what it issued.
    pub code_hash: Option<String>,
}

/// A stored refresh-token family (the Management API's "refresh token").
#[derive(Debug, Clone)]
pub struct FamilyRecord {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub grant_id: String,
    pub grant_epoch: i64,
    pub user_epoch: i64,
    pub session_id: Option<String>,
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
}

/// A presented refresh token: its family, its generation, and the state its
/// validity depends on, all read in one query.
#[derive(Debug, Clone)]
pub struct PresentedRefreshToken {
    pub family: FamilyRecord,
    pub generation: i64,
    pub snapshot: grantor_domain::refresh_token::FamilySnapshot,
}

/// The write of one refresh exchange, applied only if the family is still at
/// `expected_generation` and not revoked (compare-and-set).
#[derive(Debug, Clone)]
pub struct ExchangeWrite {
    pub family_id: String,
    pub expected_generation: i64,
    pub new_generation: i64,
    /// Whether this exchange rotated (sets `last_rotated_at`).
    pub rotated: bool,
    pub rotating: bool,
    /// A new secret of generation `secret_generation`, if the response carries one.
    pub new_secret_hash: Option<String>,
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
}

#[derive(Debug, Clone)]
pub struct DeviceCodeRecord {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    pub audience: String,
    pub scope: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub interval_seconds: i64,
    pub last_polled_at: Option<Timestamp>,
    pub status: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub grant_id: Option<String>,
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
    pub client_id: String,
    pub user_id: String,
    pub active: bool,
}
