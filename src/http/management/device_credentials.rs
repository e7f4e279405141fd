//! `/api/v2/device-credentials`: Auth0's older view of refresh tokens as
//! devices, and devices' public keys. A device credential of type
//! `refresh_token` is a live refresh-token family (its id is the family id,
//! as in `/refresh-tokens/{id}`); rotating families show as `refresh_token`
//! too, so `type=rotating_refresh_token` lists nothing. Deleting one revokes
//! that refresh token ("unlink device", reference §11.3). A credential of
//! type `public_key` is a device's public key registered by `POST` for a
//! user and a client (`device_public_keys`, ids `dcr_…`), listed with
//! `type=public_key` (without `type` the list is of refresh tokens, Auth0's
//! default) and deleted by id like the others; its key is never shown.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::{ClientId, FamilyId, UserId};
use grantor_store::{
    DevicePublicKey, DevicePublicKeyFilter, FamilyRecord, Page, RefreshTokenFilter,
    RevocationTarget, StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

use super::openapi::ErrorBody;
use super::{messages, public_key, ApiError, ApiJson, ApiQuery, Caller, ListParams};
use crate::flows::audit::EventExt;
use crate::flows::RequestMeta;
use crate::http::AppState;
use crate::secrets;

const REFRESH_TOKEN: &str = "refresh_token";
const PUBLIC_KEY: &str = "public_key";
/// Types Auth0 knows that grantor has none of.
const OTHER_TYPES: &[&str] = &["rotating_refresh_token"];
/// Ids of public-key credentials start with this (refresh tokens' never do).
const PUBLIC_KEY_ID_PREFIX: &str = "dcr_";
/// The longest `device_name` grantor stores (Auth0 documents none).
const MAX_DEVICE_NAME_CHARS: usize = 255;
/// Auth0's `device_id`: at most 36 characters of `[-A-Fa-f0-9]`.
const MAX_DEVICE_ID_LEN: usize = 36;

/// Auth0's `DeviceCredential`. `device_id` is absent for refresh tokens,
/// which have none.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeviceCredential)]
pub struct DeviceCredentialView {
    /// The refresh token's id.
    id: String,
    /// The device name the client gave (`device` at `/authorize`), else the
    /// user agent that signed in.
    device_name: String,
    /// The device's id (public keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Option<String>,
    /// `refresh_token` or `public_key`.
    #[serde(rename = "type")]
    credential_type: String,
    user_id: String,
    client_id: String,
}

fn render_public_key(k: &DevicePublicKey) -> Value {
    let view = DeviceCredentialView {
        id: k.id.clone(),
        device_name: k.device_name.clone(),
        device_id: Some(k.device_id.clone()),
        credential_type: PUBLIC_KEY.to_owned(),
        user_id: k.user_id.to_string(),
        client_id: k.client_id.to_string(),
    };
    serde_json::to_value(view).unwrap_or_default()
}

fn render(f: &FamilyRecord) -> Value {
    let view = DeviceCredentialView {
        id: f.id.to_string(),
        device_name: f
            .device_name
            .clone()
            .unwrap_or_else(|| f.initial_user_agent.clone()),
        device_id: None,
        credential_type: REFRESH_TOKEN.to_owned(),
        user_id: f.user_id.to_string(),
        client_id: f.client_id.to_string(),
    };
    serde_json::to_value(view).unwrap_or_default()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceCredentialQuery {
    /// `refresh_token` (default), `public_key` or `rotating_refresh_token`
    /// (grantor has none of the last two).
    #[serde(rename = "type")]
    credential_type: Option<String>,
    user_id: Option<String>,
    client_id: Option<String>,
}

/// `GET /device-credentials` page with `include_totals=true` (doc only).
#[derive(ToSchema)]
#[allow(dead_code)]
struct DeviceCredentialPage {
    start: i64,
    limit: i64,
    total: i64,
    device_credentials: Vec<DeviceCredentialView>,
}

/// `GET /device-credentials`: live refresh tokens as devices, offset paging.
#[utoipa::path(
    get,
    path = "/device-credentials",
    tag = "device-credentials",
    params(DeviceCredentialQuery, ListParams),
    responses(
        (status = 200, description = "A bare array, or `{start, limit, total, device_credentials}` with `include_totals=true`", body = DeviceCredentialPage),
        (status = 400, description = "Bad query (unknown `type`, paging out of range)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
    ),
    security(("bearer" = ["read:device_credentials"]))
)]
pub async fn list_device_credentials(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
    ApiQuery(query): ApiQuery<DeviceCredentialQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&["read:device_credentials"])?;
    let request = params.page_request()?;
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    let page = match present(query.credential_type).as_deref() {
        None | Some(REFRESH_TOKEN) => {
            let filter = RefreshTokenFilter {
                user_id: present(query.user_id).map(UserId::from),
                client_id: present(query.client_id).map(ClientId::from),
                after_id: None,
            };
            state
                .store
                .list_live_refresh_tokens(&filter, request, state.clock.now())
                .await?
        }
        Some(PUBLIC_KEY) => {
            let filter = DevicePublicKeyFilter {
                user_id: present(query.user_id).map(UserId::from),
                client_id: present(query.client_id).map(ClientId::from),
            };
            let page = state.store.list_device_public_keys(&filter, request).await?;
            return Ok(Json(params.offset_envelope(
                "device_credentials",
                page,
                render_public_key,
            )?));
        }
        Some(other) if OTHER_TYPES.contains(&other) => Page {
            items: Vec::new(),
            total: 0,
        },
        Some(_) => {
            return Err(ApiError::invalid_query(
                "Query validation error: 'type' must be one of public_key, refresh_token, rotating_refresh_token",
            ))
        }
    };
    Ok(Json(params.offset_envelope(
        "device_credentials",
        page,
        render,
    )?))
}

/// `DELETE /device-credentials/{id}`: revokes that refresh token.
/// An already revoked one is accepted again; an unknown id is 404.
#[utoipa::path(
    delete,
    path = "/device-credentials/{id}",
    tag = "device-credentials",
    params(("id" = String, Path, description = "The device credential's (refresh token's) id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown id", body = ErrorBody),
    ),
    security(("bearer" = ["delete:device_credentials"]), ("bearer" = ["delete:current_user_device_credentials"]))
)]
pub async fn delete_device_credential(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if id.starts_with(PUBLIC_KEY_ID_PREFIX) {
        // A public key: either of Auth0's delete scopes.
        caller.require(&[
            "delete:device_credentials",
            "delete:current_user_device_credentials",
        ])?;
        let now = state.clock.now();
        let event = caller.audit(format!("Delete device credential {id}"), &meta, now);
        if !state.store.delete_device_public_key(&id, &event).await? {
            return Err(credential_not_found());
        }
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // A refresh token: revoking any user's takes the tenant-wide scope. The
    // `current_user` scope is for a user's own credentials, and grantor's
    // callers are machines with no user of their own.
    caller.require(&["delete:device_credentials"])?;
    let id = FamilyId::from(id);
    let target = RevocationTarget::Family { family_id: id };
    let receipt = caller.revoke(&state, &meta, target).await?;
    if !receipt.found {
        return Err(credential_not_found());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn credential_not_found() -> ApiError {
    ApiError::not_found(
        "The device credential does not exist.",
        "inexistent_device_credential",
    )
}

/// `POST /device-credentials` body: Auth0's, plus `user_id`. Auth0 takes
/// the user from a user's access token; grantor's Management API callers are
/// machines, so they name the user (and the client, which Auth0 may also
/// take from the token, is required).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePublicKeyBody {
    /// A name the device's owner recognises, 1 to 255 characters.
    device_name: String,
    /// `public_key`.
    #[serde(rename = "type")]
    credential_type: String,
    /// The public key: PEM, the base64 of a PEM, or the base64 of its DER
    /// (SubjectPublicKeyInfo); RSA 2048–8192, EC P-256/384/521 or Ed25519.
    /// A private key is refused.
    value: String,
    /// The device's id: 1 to 36 characters of `[-A-Fa-f0-9]`.
    device_id: String,
    /// The client (application) the key is for.
    client_id: Option<String>,
    /// The user the key is for (grantor: required).
    user_id: Option<String>,
}

/// `POST /device-credentials` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedCredential {
    /// `dcr_` and 16 hex digits.
    id: String,
}

fn payload_error(why: &str) -> ApiError {
    ApiError::invalid_body(format!("Payload validation error: {why}"))
}

/// `POST /device-credentials`: registers a device's public key for a user and
/// a client (`type: public_key`, the only type Auth0 creates).
#[utoipa::path(
    post,
    path = "/device-credentials",
    tag = "device-credentials",
    request_body = CreatePublicKeyBody,
    responses(
        (status = 201, description = "Created: `{id}`", body = CreatedCredential),
        (status = 400, description = "Bad body: not a public key (or a private key), bad `device_id`, missing `user_id` or `client_id`", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Insufficient scope", body = ErrorBody),
        (status = 404, description = "Unknown user or client", body = ErrorBody),
        (status = 409, description = "The user already has a public key for this client and device", body = ErrorBody),
    ),
    security(("bearer" = ["create:current_user_device_credentials"]))
)]
pub async fn create_device_credential(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<CreatePublicKeyBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:current_user_device_credentials"])?;
    if body.credential_type != PUBLIC_KEY {
        return Err(payload_error("'type' must be public_key"));
    }
    let name_chars = body.device_name.chars().count();
    if name_chars == 0 || name_chars > MAX_DEVICE_NAME_CHARS {
        return Err(payload_error("'device_name' must hold 1 to 255 characters"));
    }
    let device_id = &body.device_id;
    if device_id.is_empty()
        || device_id.len() > MAX_DEVICE_ID_LEN
        || !device_id
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_hexdigit())
    {
        return Err(payload_error(
            "'device_id' must hold 1 to 36 characters of [-A-Fa-f0-9]",
        ));
    }
    let present = |v: Option<String>| v.filter(|s| !s.is_empty());
    let user_id = present(body.user_id)
        .map(UserId::from)
        .ok_or_else(|| payload_error("'user_id' is required"))?;
    let client_id = present(body.client_id)
        .map(ClientId::from)
        .ok_or_else(|| payload_error("'client_id' is required"))?;
    let key = public_key::parse(&body.value).map_err(|e| match e {
        public_key::KeyError::Private => payload_error(
            "'value' is a private key; send the device's public key only",
        ),
        public_key::KeyError::NotAKey => payload_error(
            "'value' must be a public key (PEM, or the base64 of its DER): RSA, EC P-256/384/521 or Ed25519",
        ),
    })?;
    if state.store.user(&user_id).await?.is_none() {
        return Err(ApiError::not_found(
            messages::USER_NOT_FOUND,
            "inexistent_user",
        ));
    }
    if state.store.client(&client_id).await?.is_none() {
        return Err(ApiError::not_found(
            messages::CLIENT_NOT_FOUND,
            "inexistent_client",
        ));
    }
    let now = state.clock.now();
    let record = DevicePublicKey {
        id: format!("{PUBLIC_KEY_ID_PREFIX}{}", secrets::hex_id(8)),
        user_id: user_id.clone(),
        client_id,
        device_id: device_id.clone(),
        device_name: body.device_name,
        key_type: key.key_type.to_owned(),
        public_key: key.spki_base64,
        created_at: now,
    };
    let event = caller
        .audit(
            format!("Create device credential {}", record.id),
            &meta,
            now,
        )
        .user(user_id.as_str());
    match state.store.insert_device_public_key(&record, &event).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict(
                "A public key already exists for the device.",
                "device_credential_conflict",
            ))
        }
        // The user or client went away in between.
        Err(StoreError::MissingReference(_)) => {
            return Err(ApiError::not_found(
                messages::USER_NOT_FOUND,
                "inexistent_user",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok((StatusCode::CREATED, Json(json!({ "id": record.id }))).into_response())
}
