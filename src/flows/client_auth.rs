//! Client authentication for the token, revocation and introspection endpoints
//! (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, or `none`.
//!
//! A confidential client may present its secret either way, whichever its
//! registered `token_endpoint_auth_method` names: Auth0's SDKs always use the
//! body, so being strict here would break them. A public client (`none`) is
//! identified by its id alone; it cannot act as a confidential client.

use grantor_domain::{Client, ClientId};
use grantor_store::Store;

/// What the request carried.
#[derive(Debug)]
pub enum PresentedClient {
    Basic { client_id: ClientId, secret: String },
    Post { client_id: ClientId, secret: String },
    IdOnly { client_id: ClientId },
}

impl PresentedClient {
    pub fn client_id(&self) -> &ClientId {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::IdOnly { client_id } => client_id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("unknown client")]
    UnknownClient,
    #[error("wrong or missing client secret")]
    BadCredentials,
    #[error(transparent)]
    Store(#[from] grantor_store::StoreError),
}

/// Looks the client up and checks what it presented; one database read.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn authenticate(
    store: &Store,
    presented: &PresentedClient,
) -> Result<Client, ClientAuthError> {
    let client = store
        .client(presented.client_id())
        .await?
        .ok_or(ClientAuthError::UnknownClient)?;
    let public = client.token_endpoint_auth_method.is_public();
    match presented {
        PresentedClient::IdOnly { .. } if public => Ok(client),
        PresentedClient::Basic { secret, .. } | PresentedClient::Post { secret, .. }
            if !public && client.secret_hash.matches(secret) =>
        {
            Ok(client)
        }
        _ => Err(ClientAuthError::BadCredentials),
    }
}
