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
