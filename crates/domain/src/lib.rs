//! grantor's vocabulary and the decisions made with it.
//!
//! This crate is pure: no IO, no async, no serde on entities. Everything here takes
//! `now` and plain values as parameters, so every rule can be tested without a server.
//! Auth0's JSON shapes live in the HTTP layer, SQL lives in `grantor-store`.

pub mod client;
pub mod client_grant;
pub mod ids;
pub mod log_stream;
pub mod multi_resource;
pub mod oauth_error;
pub mod pkce;
pub mod refresh_token;
pub mod resource_server;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod tenant;
pub mod time;
pub mod urls;
pub mod user;
pub mod user_search;

pub use client::{
    Client, ExpirationType, GrantType, RefreshTokenSettings, RotationType, TokenEndpointAuthMethod,
};
pub use client_grant::ClientGrant;
pub use ids::{ClientId, FamilyId, GrantId, SessionId, UserId};
pub use log_stream::{LogStream, LogStreamPatch, LogStreamStatus};
pub use oauth_error::{OAuthError, OAuthErrorKind};
pub use resource_server::{ResourceServer, ScopeDefinition, SigningAlg};
pub use revocation::Reason;
pub use scope::ScopeSet;
pub use secret::TokenHash;
pub use tenant::TenantSettings;
pub use time::Timestamp;
pub use user::User;

/// A value that failed validation at the boundary; the message is fit for an API client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

impl ValidationError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
