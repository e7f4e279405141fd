//! `/api/v2/keys/signing`: the tenant's signing keys and their rotation
//! (Auth0's "Signing keys" resource).
//!
//! A key object is Auth0's `kid`, `cert`, `current`, `next`, `previous`,
//! `current_since`, `current_until`, `fingerprint`, `thumbprint`, `revoked`,
//! `revoked_at`, plus grantor's `alg` (one tenant signs with four
//! algorithms, Auth0 with one). grantor makes no X.509 certificates: `cert`
//! holds the public key as PEM `PUBLIC KEY` (DER SubjectPublicKeyInfo) and
//! `fingerprint`/`thumbprint` are the SHA-1 of that DER; `pkcs7` is left
//! out. Rotation rotates the keys of all four algorithms together and
//! answers with the RS256 key that became current (the one ID tokens and
//! RS256 APIs sign with now). Only a previous key can be revoked: revoking
//! a next or current key (or a revoked one) is a 400.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use grantor_store::{SigningKeyRecord, SigningKeyRevocation, SigningKeyState};
use serde_json::{json, Value};

use super::{iso8601, ApiError, Caller};
use crate::flows::{signing_keys, RequestMeta};
use crate::http::AppState;

fn info(key: &SigningKeyRecord) -> Result<crate::keys::PublicKeyInfo, ApiError> {
    crate::keys::public_key_info(key).map_err(ApiError::internal)
}

/// The Auth0 key object.
pub fn render(key: &SigningKeyRecord) -> Result<Value, ApiError> {
    let public = info(key)?;
    let mut out = json!({
        "kid": key.kid,
        "alg": key.alg,
        "cert": public.pem,
        "fingerprint": public.fingerprint,
        "thumbprint": public.thumbprint,
        "current": key.state == SigningKeyState::Current,
        "next": key.state == SigningKeyState::Next,
        "previous": key.state == SigningKeyState::Previous,
        "revoked": key.state == SigningKeyState::Revoked,
    });
    for (name, at) in [
        ("current_since", key.current_since),
        ("current_until", key.current_until),
        ("revoked_at", key.revoked_at),
    ] {
        if let Some(at) = at {
            out[name] = json!(iso8601(at));
        }
    }
    Ok(out)
}

/// `{cert, kid}`, the answer of rotate and revoke.
fn cert_and_kid(key: &SigningKeyRecord) -> Result<Value, ApiError> {
    Ok(json!({ "cert": info(key)?.pem, "kid": key.kid }))
}

fn not_found() -> ApiError {
    ApiError::not_found("Signing key not found", "inexistent_signing_key")
}

#[utoipa::path(
    get,
    path = "/keys/signing",
    tag = "keys",
    responses(
        (status = 200, description = "Every signing key, revoked ones too: next, current and previous keys first (as the JWKS orders them), then revoked ones", body = Vec<Object>),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:signing_keys"]))
)]
pub async fn list_signing_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:signing_keys"])?;
    let mut keys = state.store.signing_keys().await?;
    let rank = |s: SigningKeyState| match s {
        SigningKeyState::Current => 0,
        SigningKeyState::Next => 1,
        SigningKeyState::Previous => 2,
        SigningKeyState::Revoked => 3,
    };
    // Newest first within a state.
    keys.reverse();
    keys.sort_by_key(|k| rank(k.state));
    let rendered = keys.iter().map(render).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Value::Array(rendered)))
}

#[utoipa::path(
    get,
    path = "/keys/signing/{kid}",
    tag = "keys",
    params(("kid" = String, Path, description = "The key id")),
    responses(
        (status = 200, description = "The signing key", body = Object),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "No key has this id", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:signing_keys"]))
)]
pub async fn get_signing_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(kid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:signing_keys"])?;
    let keys = state.store.signing_keys().await?;
    let key = keys.iter().find(|k| k.kid == kid).ok_or_else(not_found)?;
    Ok(Json(render(key)?))
}

#[utoipa::path(
    post,
    path = "/keys/signing/rotate",
    tag = "keys",
    responses(
        (status = 201, description = "Rotated: `{cert, kid}` of the RS256 key now current", body = Object),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["create:signing_keys"]), ("bearer" = ["update:signing_keys"]))
)]
pub async fn rotate_signing_keys(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require(&["create:signing_keys", "update:signing_keys"])?;
    let current = signing_keys::rotate(&state, &caller.actor(), &meta, state.clock.now()).await?;
    let rs256 = current
        .iter()
        .rev()
        .find(|k| k.alg == "RS256")
        .ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("no current RS256 key after rotation"))
        })?;
    Ok((StatusCode::CREATED, Json(cert_and_kid(rs256)?)))
}

#[utoipa::path(
    put,
    path = "/keys/signing/{kid}/revoke",
    tag = "keys",
    params(("kid" = String, Path, description = "The id of a previous key")),
    responses(
        (status = 200, description = "Revoked: `{cert, kid}`; tokens it signed no longer verify", body = Object),
        (status = 400, description = "The key is current, next or already revoked", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "No key has this id", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["update:signing_keys"]))
)]
pub async fn revoke_signing_key(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(kid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["update:signing_keys"])?;
    let outcome =
        signing_keys::revoke(&state, &kid, &caller.actor(), &meta, state.clock.now()).await?;
    match outcome {
        SigningKeyRevocation::Revoked(key) => Ok(Json(cert_and_kid(&key)?)),
        SigningKeyRevocation::NotFound => Err(not_found()),
        SigningKeyRevocation::NotPrevious(state) => Err(ApiError::bad_request(
            match state {
                SigningKeyState::Current => {
                    "The current signing key cannot be revoked; rotate first."
                }
                SigningKeyState::Next => {
                    "The next signing key cannot be revoked; it has not been used yet."
                }
                _ => "The signing key is already revoked.",
            },
            "invalid_signing_key_state",
        )),
    }
}
