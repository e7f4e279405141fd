//! Device credentials of type `public_key` (`ops/device_public_keys.rs`).

use grantor_domain::{ClientId, Timestamp, UserId};

/// A device's public key registered for a user and a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePublicKey {
    /// `dcr_` and 16 hex digits.
    pub id: String,
    pub user_id: UserId,
    pub client_id: ClientId,
    pub device_id: String,
    pub device_name: String,
    /// `RSA`, `EC` or `OKP` (the JWK `kty` of the key).
    pub key_type: String,
    /// The DER SubjectPublicKeyInfo, base64 (standard, padded).
    pub public_key: String,
    pub created_at: Timestamp,
}

/// Which public keys `list_device_public_keys` returns.
#[derive(Debug, Clone, Default)]
pub struct DevicePublicKeyFilter {
    pub user_id: Option<UserId>,
    pub client_id: Option<ClientId>,
}
