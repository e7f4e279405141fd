//! First start on an empty database: the tenant, the Management API, its
//! machine-to-machine client with a grant for every Management scope, the
//! dashboard administrator, and the signing keys.
//!
//! Credentials come from the `GRANTOR_BOOTSTRAP_*` / `GRANTOR_ADMIN_*`
//! settings, or are generated and printed once to standard output. The store
//! writes everything in one transaction latched on the tenant row, so a later
//! start, or a second process starting at the same moment, changes nothing.

use grantor_domain::{
    Client, ClientGrant, ClientId, RefreshTokenSettings, ResourceServer, ScopeDefinition, ScopeSet,
    SigningAlg, TenantSettings, Timestamp, TokenEndpointAuthMethod, TokenHash,
};
use grantor_store::{BootstrapPlan, Store};

use crate::config::{BootstrapCredentials, Issuer};
use crate::secrets;

/// Every Management API scope (reference §7, plus `read:logs`).
pub const MANAGEMENT_SCOPES: &[&str] = &[
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "read:client_keys",
    "update:client_keys",
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:grants",
    "delete:grants",
    "read:device_credentials",
    "delete:device_credentials",
    "create:current_user_device_credentials",
    "delete:current_user_device_credentials",
    "read:refresh_tokens",
    "update:refresh_tokens",
    "delete:refresh_tokens",
    "read:sessions",
    "update:sessions",
    "delete:sessions",
    "read:tenant_settings",
    "update:tenant_settings",
    "read:logs",
    "read:log_streams",
    "create:log_streams",
    "update:log_streams",
    "delete:log_streams",
    "read:ssf_streams",
    "manage:ssf_streams",
    "read:signing_keys",
    "create:signing_keys",
    "update:signing_keys",
];

/// A tenant bootstrapped by an older version lacks the Management API
/// scopes added since (`read:log_streams`, `manage:ssf_streams`, …): they
/// are added to the API's definitions at start, so a client grant can hold
/// them (`PATCH /api/v2/client-grants/{id}`). No grant is widened.
async fn add_new_management_scopes(
    store: &Store,
    audience: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    let Some(mut api) = store.resource_server_by_identifier(audience).await? else {
        return Ok(());
    };
    let missing: Vec<&str> = MANAGEMENT_SCOPES
        .iter()
        .copied()
        .filter(|s| !api.scopes.iter().any(|d| d.value == *s))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    tracing::info!(scopes = ?missing, "adding this version's new scopes to the Management API");
    api.scopes
        .extend(missing.into_iter().map(|s| ScopeDefinition {
            value: s.to_owned(),
            description: String::new(),
        }));
    api.updated_at = now;
    store.update_resource_server(&api).await?;
    Ok(())
}

/// Bootstraps the database if nobody has; prints generated credentials once.
pub async fn ensure_bootstrapped(
    store: &Store,
    issuer: &Issuer,
    creds: &BootstrapCredentials,
    passwords: &crate::password::PasswordHashing,
    now: Timestamp,
) -> anyhow::Result<()> {
    let audience = issuer.management_audience();
    if store.tenant_settings().await.is_ok() {
        store.sync_management_api_identifier(&audience, now).await?;
        add_new_management_scopes(store, &audience, now).await?;
        return Ok(());
    }
    let client_id = ClientId::from(creds.client_id.clone().unwrap_or_else(secrets::client_id));
    let client_secret = creds
        .client_secret
        .clone()
        .unwrap_or_else(secrets::client_secret);
    let admin_email = creds
        .admin_email
        .clone()
        .unwrap_or_else(|| "admin@grantor.local".to_owned());
    let admin_email = grantor_domain::user::normalize_email(&admin_email)
        .map_err(|e| anyhow::anyhow!("GRANTOR_ADMIN_EMAIL: {e}"))?;
    let admin_password = creds
        .admin_password
        .clone()
        .unwrap_or_else(|| secrets::alphanumeric(24));
    let plan = BootstrapPlan {
        tenant: TenantSettings::default(),
        management_api: ResourceServer {
            id: secrets::hex_id(12),
            name: "Auth0 Management API".to_owned(),
            identifier: audience.clone(),
            scopes: MANAGEMENT_SCOPES
                .iter()
                .map(|s| ScopeDefinition {
                    value: (*s).to_owned(),
                    description: String::new(),
                })
                .collect(),
            signing_alg: SigningAlg::Rs256,
            allow_offline_access: false,
            skip_consent_for_verifiable_first_party_clients: false,
            token_lifetime: ResourceServer::DEFAULT_TOKEN_LIFETIME,
            token_lifetime_for_web: ResourceServer::DEFAULT_TOKEN_LIFETIME_FOR_WEB,
            is_system: true,
            created_at: now,
            updated_at: now,
        },
        management_client: Client {
            client_id: client_id.clone(),
            name: "grantor Management API client".to_owned(),
            description: "Made at first start; calls the Management API".to_owned(),
            app_type: Some("non_interactive".to_owned()),
            is_first_party: true,
            oidc_conformant: true,
            callbacks: vec![],
            allowed_logout_urls: vec![],
            allowed_origins: vec![],
            web_origins: vec![],
            grant_types: vec!["client_credentials".to_owned()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
            secret_hash: TokenHash::of(&client_secret),
            id_token_lifetime: 36_000,
            refresh_token: RefreshTokenSettings::default(),
            backchannel_logout_url: None,
            require_proof_of_possession: false,
            require_pushed_authorization_requests: false,
            is_system: true,
            created_at: now,
            updated_at: now,
        },
        management_grant: ClientGrant {
            id: format!("cgr_{}", secrets::alphanumeric(16)),
            client_id: client_id.clone(),
            audience: audience.clone(),
            scope: MANAGEMENT_SCOPES.iter().collect::<ScopeSet>(),
            created_at: now,
        },
        admin_email: admin_email.clone(),
        admin_password_hash: passwords
            .hash(admin_password.clone())
            .await
            .map_err(|e| anyhow::anyhow!("hashing the administrator's password: {e}"))?,
        signing_keys: crate::keys::generate_signing_keys(now)?,
        now,
    };
    if store.bootstrap(&plan).await? {
        tracing::info!(client_id = %client_id, admin = %admin_email, "bootstrapped a new tenant");
        // Printed, not logged: generated credentials are shown exactly once.
        let mut lines = vec![format!(
            "grantor: first start; Management API audience {audience}"
        )];
        lines.push(format!("  management client_id:     {client_id}"));
        if creds.client_secret.is_none() {
            lines.push(format!("  management client_secret: {client_secret}"));
        }
        lines.push(format!("  dashboard admin:          {admin_email}"));
        if creds.admin_password.is_none() {
            lines.push(format!("  dashboard password:       {admin_password}"));
        }
        println!("{}", lines.join("\n"));
    } else {
        store.sync_management_api_identifier(&audience, now).await?;
    }
    Ok(())
}
