//! Application layer: load, decide (domain), write (store), mint (keys).
//! Flows take `RequestMeta` and `now`, never framework request types.

pub mod admin;
pub mod audience;
pub mod audit;
pub mod authorize;
pub mod client_auth;
pub mod device_authorization;
pub mod introspect;
pub mod issue;
pub mod login;
pub mod logout;
pub mod revocation;
pub mod token;

use grantor_domain::OAuthError;

/// The caller's IP address and user agent, for device records and audit.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: String,
    pub user_agent: String,
}

/// How a flow fails: a protocol error for the client, or something unexpected.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<grantor_store::StoreError> for FlowError {
    fn from(e: grantor_store::StoreError) -> Self {
        Self::Internal(anyhow::Error::new(e))
    }
}
