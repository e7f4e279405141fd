//! Signing-key rotation and revocation, for the Management API
//! (`/api/v2/keys/signing`) and the dashboard alike. Each change is one
//! store transaction with its `sapi` audit event; this process then reloads
//! its [`crate::keys::KeyRing`] at once, and every other process within its
//! `--signing-key-refresh-seconds` poll.

use grantor_domain::{SigningAlg, Timestamp};
use grantor_store::{SigningKeyRecord, SigningKeyRevocation, SigningKeyState};
use serde_json::json;

use super::audit::{self, Actor, EventExt};
use super::{FlowError, RequestMeta};
use crate::state::AppState;

/// Rotates every algorithm's keys together: each next key becomes current,
/// each current key previous, and a fresh next key is made per algorithm.
/// Returns the keys now current.
pub async fn rotate(
    state: &AppState,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<Vec<SigningKeyRecord>, FlowError> {
    // RSA key generation takes a good part of a second: off the runtime.
    let fresh = tokio::task::spawn_blocking(move || {
        SigningAlg::ALL
            .into_iter()
            .map(|alg| crate::keys::generate_signing_key(alg, SigningKeyState::Next, now))
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await
    .map_err(anyhow::Error::new)??;
    // `previous` is filled by the store with the keys the rotation demoted.
    let event = audit::api_operation("Rotate signing keys", actor, meta, now).detail(
        "signing_keys",
        json!({
            "previous": [],
            "next": fresh.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        }),
    );
    let current = state.store.rotate_signing_keys(&fresh, now, &event).await?;
    reload(state).await;
    Ok(current)
}

/// Revokes a previous key; a key in any other state is refused unchanged.
pub async fn revoke(
    state: &AppState,
    kid: &str,
    actor: &Actor,
    meta: &RequestMeta,
    now: Timestamp,
) -> Result<SigningKeyRevocation, FlowError> {
    let event = audit::api_operation("Revoke signing key", actor, meta, now)
        .detail("signing_keys", json!({ "revoked": kid }));
    let outcome = state.store.revoke_signing_key(kid, now, &event).await?;
    if matches!(outcome, SigningKeyRevocation::Revoked(_)) {
        reload(state).await;
    }
    Ok(outcome)
}

/// This process takes the change at once. The change is committed whatever
/// happens here, so a failed reload is not the request's failure: it is
/// logged, and the next poll tries again.
async fn reload(state: &AppState) {
    if let Err(e) = state.keys.reload(&state.store).await {
        tracing::warn!("reloading the signing keys after a change failed: {e:#}");
    }
}
