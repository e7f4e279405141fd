//! Shared handles every flow and handler uses: store, keys, issuer, clock,
//! the audit queue, the outbox's wake-up, the password-hashing bound and the
//! request limits.

use std::sync::Arc;

use grantor_store::Store;

use crate::config::Issuer;
use crate::flows::audit::AuditQueue;
use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::RateLimits;
use crate::keys::KeyRing;
use crate::outbox::Outbox;
use crate::password::PasswordHashing;
use crate::refresh_secret::RefreshSecrets;
use crate::Clock;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The signing keys, swapped whole when the stored set changes.
    pub keys: Arc<KeyRing>,
    /// The MAC that refresh-token strings carry (`refresh_secret`).
    pub refresh_secrets: Arc<RefreshSecrets>,
    pub issuer: Arc<Issuer>,
    pub clock: Clock,
    /// Audit events without a change of their own (see `flows::audit`).
    pub audit: AuditQueue,
    /// Wakes the outbox worker after a change queued messages (`outbox`).
    pub outbox: Outbox,
    /// The bound every Argon2id computation runs under (`password.rs`).
    pub passwords: Arc<PasswordHashing>,
    /// Per-IP and per-client request buckets (`http::rate_limit`).
    pub rate_limits: Arc<RateLimits>,
    /// Proxies whose `X-Forwarded-For` names the client (`http::client_ip`).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Prometheus metrics (`metrics.rs`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `--require-dpop-nonce`: DPoP proofs must carry a current server
    /// nonce (`flows::dpop::nonce`).
    pub require_dpop_nonce: bool,
    /// Seconds a pushed authorization request stays usable (`flows::par`).
    pub par_lifetime_seconds: i64,
}
