//! Shared handles every flow and handler uses: store, keys, issuer, clock,
//! the audit queue and the password-hashing bound.

use std::sync::Arc;

use grantor_store::Store;

use crate::config::Issuer;
use crate::flows::audit::AuditQueue;
use crate::keys::Keys;
use crate::password::PasswordHashing;
use crate::Clock;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub keys: Arc<Keys>,
    pub issuer: Arc<Issuer>,
    pub clock: Clock,
    /// Audit events without a change of their own (see `flows::audit`).
    pub audit: AuditQueue,
    /// The bound every Argon2id computation runs under (`password.rs`).
    pub passwords: Arc<PasswordHashing>,
}
