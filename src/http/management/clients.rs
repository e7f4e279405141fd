//! `/api/v2/clients`: applications, their refresh-token settings, and secret
//! rotation. A secret is returned only by create and rotate-secret, since only
//! its hash is stored (a deliberate difference from Auth0, CONTRACT §3).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use grantor_domain::client::{ClientPatch, RefreshTokenPolicy, RefreshTokenSettingsPatch};
use grantor_domain::{Client, ClientId, ExpirationType, RotationType, TokenHash, ValidationError};
use serde::Deserialize;
use serde_json::{json, Value};

use super::messages;
use super::{ApiError, ApiJson, ApiQuery, Caller, FieldParams, ListParams};
use crate::flows::audit::{self, EventExt};
use crate::flows::RequestMeta;
use crate::http::AppState;
use crate::secrets;

const READ: &[&str] = &["read:clients", "read:client_keys"];

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenBody {
    rotation_type: Option<String>,
    expiration_type: Option<String>,
    leeway: Option<i64>,
    token_lifetime: Option<i64>,
    infinite_token_lifetime: Option<bool>,
    idle_token_lifetime: Option<i64>,
    infinite_idle_token_lifetime: Option<bool>,
    /// Multi-Resource Refresh Token policies: at least one, or `null` to
    /// remove them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<RefreshTokenPolicyBody>>)]
    policies: Option<Option<Vec<RefreshTokenPolicyBody>>>,
}

/// One `refresh_token.policies` entry.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshTokenPolicyBody {
    /// The API's identifier.
    audience: String,
    /// The scopes a refresh exchange may ask for at that API.
    scope: Vec<String>,
}

/// A member that is present (`null` included) becomes `Some`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl RefreshTokenBody {
    /// Parses the wire members into a patch; validation happens on apply.
    pub fn to_patch(&self) -> Result<RefreshTokenSettingsPatch, ValidationError> {
        Ok(RefreshTokenSettingsPatch {
            rotation_type: self
                .rotation_type
                .as_deref()
                .map(RotationType::parse)
                .transpose()?,
            expiration_type: self
                .expiration_type
                .as_deref()
                .map(ExpirationType::parse)
                .transpose()?,
            leeway: self.leeway,
            token_lifetime: self.token_lifetime,
            infinite_token_lifetime: self.infinite_token_lifetime,
            idle_token_lifetime: self.idle_token_lifetime,
            infinite_idle_token_lifetime: self.infinite_idle_token_lifetime,
            policies: match &self.policies {
                None => None,
                Some(None) => Some(vec![]),
                Some(Some(list)) if list.is_empty() => {
                    return Err(ValidationError::new(
                        "refresh_token.policies must hold at least one policy, or be null",
                    ))
                }
                Some(Some(list)) => Some(
                    list.iter()
                        .map(|p| RefreshTokenPolicy {
                            audience: p.audience.clone(),
                            scope: p.scope.clone(),
                        })
                        .collect(),
                ),
            },
        })
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfigurationBody {
    lifetime_in_seconds: Option<i64>,
    alg: Option<String>,
    secret_encoded: Option<bool>,
}

/// `backchannel_logout_initiators`: which session ends send a logout token.
/// grantor sends one for every session end, Auth0's mode `all`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackchannelLogoutInitiatorsBody {
    mode: Option<String>,
    selected_initiators: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcLogoutBody {
    backchannel_logout_urls: Option<Vec<String>>,
    backchannel_logout_initiators: Option<BackchannelLogoutInitiatorsBody>,
}

impl OidcLogoutBody {
    /// The URLs, after refusing initiator settings other than mode `all`.
    fn into_urls(self) -> Result<Option<Vec<String>>, ValidationError> {
        if let Some(initiators) = self.backchannel_logout_initiators {
            if initiators.mode.as_deref().is_some_and(|m| m != "all")
                || initiators.selected_initiators.is_some()
            {
                return Err(ValidationError::new(
                    "oidc_logout.backchannel_logout_initiators: only mode 'all' is supported (every session end sends a logout token)",
                ));
            }
        }
        Ok(self.backchannel_logout_urls)
    }
}

/// Members accepted by both POST and PATCH.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    name: Option<String>,
    description: Option<String>,
    app_type: Option<String>,
    is_first_party: Option<bool>,
    oidc_conformant: Option<bool>,
    callbacks: Option<Vec<String>>,
    allowed_logout_urls: Option<Vec<String>>,
    allowed_origins: Option<Vec<String>>,
    web_origins: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    jwt_configuration: Option<JwtConfigurationBody>,
    refresh_token: Option<RefreshTokenBody>,
    oidc_logout: Option<OidcLogoutBody>,
    /// Every token request of this client must carry a DPoP proof.
    require_proof_of_possession: Option<bool>,
    /// `/authorize` takes this client's requests only through a
    /// `request_uri` from `/oauth/par` (RFC 9126).
    require_pushed_authorization_requests: Option<bool>,
}

impl ClientBody {
    /// The wire members as a domain patch; `Client::apply` validates them.
    fn into_patch(self) -> Result<ClientPatch, ValidationError> {
        let (id_token_lifetime, id_token_alg, id_token_secret_encoded) =
            match self.jwt_configuration {
                Some(jwt) => (jwt.lifetime_in_seconds, jwt.alg, jwt.secret_encoded),
                None => (None, None, None),
            };
        Ok(ClientPatch {
            name: self.name,
            description: self.description,
            app_type: self.app_type,
            is_first_party: self.is_first_party,
            oidc_conformant: self.oidc_conformant,
            callbacks: self.callbacks,
            allowed_logout_urls: self.allowed_logout_urls,
            allowed_origins: self.allowed_origins,
            web_origins: self.web_origins,
            grant_types: self.grant_types,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            id_token_lifetime,
            id_token_alg,
            id_token_secret_encoded,
            refresh_token: self
                .refresh_token
                .as_ref()
                .map(RefreshTokenBody::to_patch)
                .transpose()?,
            require_proof_of_possession: self.require_proof_of_possession,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            backchannel_logout_urls: match self.oidc_logout {
                Some(oidc_logout) => oidc_logout.into_urls()?,
                None => None,
            },
        })
    }
}

/// The client as Auth0 shows it; `secret` only right after it was made.
pub fn render(client: &Client, secret: Option<&str>) -> Value {
    let rt = &client.refresh_token;
    let mut body = json!({
        "client_id": client.client_id.as_str(),
        "tenant": "grantor",
        "name": client.name,
        "description": client.description,
        "global": false,
        "is_first_party": client.is_first_party,
        "is_token_endpoint_ip_header_trusted": false,
        "oidc_conformant": client.oidc_conformant,
        "sso_disabled": false,
        "cross_origin_authentication": false,
        "custom_login_page_on": true,
        "callbacks": client.callbacks,
        "allowed_logout_urls": client.allowed_logout_urls,
        "allowed_origins": client.allowed_origins,
        "web_origins": client.web_origins,
        "grant_types": client.grant_types,
        "require_proof_of_possession": client.require_proof_of_possession,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "jwt_configuration": {
            "lifetime_in_seconds": client.id_token_lifetime,
            "secret_encoded": false,
            "alg": "RS256",
        },
        "refresh_token": {
            "rotation_type": rt.rotation_type.as_str(),
            "expiration_type": rt.expiration_type.as_str(),
            "leeway": rt.leeway,
            "token_lifetime": rt.token_lifetime,
            "infinite_token_lifetime": rt.infinite_token_lifetime,
            "idle_token_lifetime": rt.idle_token_lifetime,
            "infinite_idle_token_lifetime": rt.infinite_idle_token_lifetime,
        },
    });
    if !rt.policies.is_empty() {
        body["refresh_token"]["policies"] = rt
            .policies
            .iter()
            .map(|p| json!({ "audience": p.audience, "scope": p.scope }))
            .collect();
    }
    if let Some(app_type) = &client.app_type {
        body["app_type"] = json!(app_type);
    }
    if let Some(url) = &client.backchannel_logout_url {
        body["oidc_logout"] = json!({
            "backchannel_logout_urls": [url],
            "backchannel_logout_initiators": { "mode": "all" },
        });
    }
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
    }
    body
}

fn client_not_found() -> ApiError {
    ApiError::not_found(messages::CLIENT_NOT_FOUND, "inexistent_client")
}

#[utoipa::path(
    get,
    path = "/clients",
    tag = "clients",
    params(crate::http::management::ListParams),
    responses(
        (status = 200, description = "A bare array of clients, or `{start, limit, total, clients}` with `include_totals=true`", body = Object),
        (status = 400, description = "Bad query", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:clients"]), ("bearer" = ["read:client_keys"]))
)]
pub async fn list_clients(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    caller.require(READ)?;
    let page = state.store.list_clients(params.page_request()?).await?;
    Ok(Json(
        params.offset_envelope("clients", page, |c| render(c, None))?,
    ))
}

#[utoipa::path(
    get,
    path = "/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "The client's id"), crate::http::management::FieldParams),
    responses(
        (status = 200, description = "The client (never its secret)", body = Object),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown client", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["read:clients"]), ("bearer" = ["read:client_keys"]))
)]
pub async fn get_client(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(fields): ApiQuery<FieldParams>,
) -> Result<Json<Value>, ApiError> {
    let id = ClientId::from(id);
    caller.require(READ)?;
    let client = state
        .store
        .client(&id)
        .await?
        .ok_or_else(client_not_found)?;
    Ok(Json(fields.apply(render(&client, None))))
}

#[utoipa::path(
    post,
    path = "/clients",
    tag = "clients",
    request_body = ClientBody,
    responses(
        (status = 201, description = "The client, with its secret (shown only here and by rotate-secret)", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["create:clients"]))
)]
pub async fn create_client(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<Response, ApiError> {
    caller.require(&["create:clients"])?;
    if body.name.is_none() {
        return Err(ApiError::invalid_body(
            "Payload validation error: Missing required property: name",
        ));
    }
    let now = state.clock.now();
    let secret = secrets::client_secret();
    let client = Client::new(
        ClientId::new(secrets::client_id()),
        TokenHash::of(&secret),
        now,
    )
    .apply(&body.into_patch()?)?;
    client
        .refresh_token
        .refuse_policy_audience(&state.issuer.management_audience())?;
    let event = caller
        .audit(format!("Create client {}", client.client_id), &meta, now)
        .detail("settings", audit::client_settings(&client));
    state.store.insert_client_audited(&client, &event).await?;
    Ok((StatusCode::CREATED, Json(render(&client, Some(&secret)))).into_response())
}

#[utoipa::path(
    patch,
    path = "/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "The client's id")),
    request_body = ClientBody,
    responses(
        (status = 200, description = "The client", body = Object),
        (status = 400, description = "Bad body", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown client", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["update:clients"]))
)]
pub async fn update_client(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClientBody>,
) -> Result<Json<Value>, ApiError> {
    let id = ClientId::from(id);
    caller.require(&["update:clients"])?;
    let mut client = state
        .store
        .client(&id)
        .await?
        .ok_or_else(client_not_found)?
        .apply(&body.into_patch()?)?;
    client
        .refresh_token
        .refuse_policy_audience(&state.issuer.management_audience())?;
    let now = state.clock.now();
    client.updated_at = now;
    let event = caller
        .audit(format!("Update client {id}"), &meta, now)
        .detail("settings", audit::client_settings(&client));
    state.store.update_client(&client, Some(&event)).await?;
    Ok(Json(render(&client, None)))
}

#[utoipa::path(
    delete,
    path = "/clients/{id}",
    tag = "clients",
    params(("id" = String, Path, description = "The client's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The Management API's own client cannot be deleted", body = crate::http::management::openapi::ErrorBody),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown client", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["delete:clients"]))
)]
pub async fn delete_client(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = ClientId::from(id);
    caller.require(&["delete:clients"])?;
    let client = state
        .store
        .client(&id)
        .await?
        .ok_or_else(client_not_found)?;
    if client.is_system {
        return Err(ApiError::bad_request(
            "The Management API client made at first start cannot be deleted.",
            "operation_not_supported",
        ));
    }
    let event = caller.audit(format!("Delete client {id}"), &meta, state.clock.now());
    state.store.delete_client_audited(&id, &event).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/clients/{id}/rotate-secret",
    tag = "clients",
    params(("id" = String, Path, description = "The client's id")),
    responses(
        (status = 200, description = "The client with its new secret", body = Object),
        (status = 401, description = "Missing or invalid token", body = crate::http::management::openapi::ErrorBody),
        (status = 403, description = "Insufficient scope", body = crate::http::management::openapi::ErrorBody),
        (status = 404, description = "Unknown client", body = crate::http::management::openapi::ErrorBody),
    ),
    security(("bearer" = ["update:client_keys"]))
)]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = ClientId::from(id);
    caller.require(&["update:client_keys"])?;
    let mut client = state
        .store
        .client(&id)
        .await?
        .ok_or_else(client_not_found)?;
    let secret = secrets::client_secret();
    client.secret_hash = TokenHash::of(&secret);
    let now = state.clock.now();
    client.updated_at = now;
    let event = caller.audit(format!("Rotate the secret of client {id}"), &meta, now);
    state
        .store
        .set_client_secret(&id, &client.secret_hash, now, &event)
        .await?;
    Ok(Json(render(&client, Some(&secret))))
}
