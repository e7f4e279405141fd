use grantor_domain::client::RefreshTokenPolicy;
use grantor_domain::{
    Client, ClientId, ExpirationType, RefreshTokenSettings, RotationType, Timestamp,
    TokenEndpointAuthMethod, TokenHash,
};
use sqlx::FromRow;

use super::{from_json, to_json, Backend, Conn};
use crate::{LogEvent, Page, PageRequest, StoreError, StoreResult};

const COLUMNS: &str = "client_id, name, description, app_type, is_first_party, oidc_conformant, callbacks, allowed_logout_urls, allowed_origins, web_origins, grant_types, token_endpoint_auth_method, secret_hash, id_token_lifetime, rt_rotation_type, rt_expiration_type, rt_leeway, rt_token_lifetime, rt_infinite_token_lifetime, rt_idle_token_lifetime, rt_infinite_idle_token_lifetime, is_system, created_at, updated_at, backchannel_logout_url, rt_policies, require_proof_of_possession, require_pushed_authorization_requests";

#[derive(FromRow)]
struct ClientRow {
    client_id: String,
    name: String,
    description: String,
    app_type: Option<String>,
    is_first_party: bool,
    oidc_conformant: bool,
    callbacks: String,
    allowed_logout_urls: String,
    allowed_origins: String,
    web_origins: String,
    grant_types: String,
    token_endpoint_auth_method: String,
    secret_hash: String,
    id_token_lifetime: i64,
    rt_rotation_type: String,
    rt_expiration_type: String,
    rt_leeway: i64,
    rt_token_lifetime: i64,
    rt_infinite_token_lifetime: bool,
    rt_idle_token_lifetime: i64,
    rt_infinite_idle_token_lifetime: bool,
    is_system: bool,
    created_at: i64,
    updated_at: i64,
    backchannel_logout_url: Option<String>,
    rt_policies: Option<String>,
    require_proof_of_possession: bool,
    require_pushed_authorization_requests: bool,
}

/// `rt_policies` as stored: JSON, `[{"audience": …, "scope": […]}]`.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPolicy {
    audience: String,
    scope: Vec<String>,
}

fn policies_to_json(policies: &[RefreshTokenPolicy]) -> Option<String> {
    (!policies.is_empty()).then(|| {
        let stored: Vec<StoredPolicy> = policies
            .iter()
            .map(|p| StoredPolicy {
                audience: p.audience.clone(),
                scope: p.scope.clone(),
            })
            .collect();
        serde_json::to_string(&stored).unwrap_or_default()
    })
}

impl ClientRow {
    fn into_domain(self) -> StoreResult<Client> {
        let corrupt = |what: &str| {
            StoreError::Unavailable(anyhow::anyhow!("stored client has an invalid {what}"))
        };
        Ok(Client {
            client_id: self.client_id.into(),
            name: self.name,
            description: self.description,
            app_type: self.app_type,
            is_first_party: self.is_first_party,
            oidc_conformant: self.oidc_conformant,
            callbacks: from_json(&self.callbacks),
            allowed_logout_urls: from_json(&self.allowed_logout_urls),
            allowed_origins: from_json(&self.allowed_origins),
            web_origins: from_json(&self.web_origins),
            grant_types: from_json(&self.grant_types),
            token_endpoint_auth_method: TokenEndpointAuthMethod::parse(
                &self.token_endpoint_auth_method,
            )
            .map_err(|_| corrupt("token_endpoint_auth_method"))?,
            secret_hash: TokenHash::from_stored(self.secret_hash),
            id_token_lifetime: self.id_token_lifetime,
            refresh_token: RefreshTokenSettings {
                rotation_type: RotationType::parse(&self.rt_rotation_type)
                    .map_err(|_| corrupt("rotation_type"))?,
                expiration_type: ExpirationType::parse(&self.rt_expiration_type)
                    .map_err(|_| corrupt("expiration_type"))?,
                leeway: self.rt_leeway,
                token_lifetime: self.rt_token_lifetime,
                infinite_token_lifetime: self.rt_infinite_token_lifetime,
                idle_token_lifetime: self.rt_idle_token_lifetime,
                infinite_idle_token_lifetime: self.rt_infinite_idle_token_lifetime,
                policies: match self.rt_policies.as_deref() {
                    None => vec![],
                    Some(text) => serde_json::from_str::<Vec<StoredPolicy>>(text)
                        .map_err(|_| corrupt("refresh_token.policies"))?
                        .into_iter()
                        .map(|p| RefreshTokenPolicy {
                            audience: p.audience,
                            scope: p.scope,
                        })
                        .collect(),
                },
            },
            backchannel_logout_url: self.backchannel_logout_url,
            require_proof_of_possession: self.require_proof_of_possession,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            is_system: self.is_system,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

/// Inserts one client inside the caller's transaction.
pub(super) async fn insert_client_in(conn: &mut Conn, c: &Client) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)"
    ))
    .bind(c.client_id.as_str())
    .bind(&c.name)
    .bind(&c.description)
    .bind(&c.app_type)
    .bind(c.is_first_party)
    .bind(c.oidc_conformant)
    .bind(to_json(&c.callbacks))
    .bind(to_json(&c.allowed_logout_urls))
    .bind(to_json(&c.allowed_origins))
    .bind(to_json(&c.web_origins))
    .bind(to_json(&c.grant_types))
    .bind(c.token_endpoint_auth_method.as_str())
    .bind(c.secret_hash.as_str())
    .bind(c.id_token_lifetime)
    .bind(c.refresh_token.rotation_type.as_str())
    .bind(c.refresh_token.expiration_type.as_str())
    .bind(c.refresh_token.leeway)
    .bind(c.refresh_token.token_lifetime)
    .bind(c.refresh_token.infinite_token_lifetime)
    .bind(c.refresh_token.idle_token_lifetime)
    .bind(c.refresh_token.infinite_idle_token_lifetime)
    .bind(c.is_system)
    .bind(c.created_at.0)
    .bind(c.updated_at.0)
    .bind(&c.backchannel_logout_url)
    .bind(policies_to_json(&c.refresh_token.policies))
    .bind(c.require_proof_of_possession)
    .bind(c.require_pushed_authorization_requests)
    .execute(conn)
    .await?;
    Ok(())
}

impl Backend {
    pub async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_client_in(&mut tx, client).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Inserts the client and `event` in one transaction.
    pub async fn insert_client_audited(
        &self,
        client: &Client,
        event: &LogEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_client_in(&mut tx, client).await?;
        super::logs::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn client(&self, client_id: &ClientId) -> StoreResult<Option<Client>> {
        let row: Option<ClientRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM clients WHERE client_id = $1"
        ))
        .bind(client_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(ClientRow::into_domain).transpose()
    }

    pub async fn list_clients(&self, page: PageRequest) -> StoreResult<Page<Client>> {
        let rows: Vec<ClientRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM clients ORDER BY created_at, client_id LIMIT $1 OFFSET $2"
        ))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients")
            .fetch_one(&self.pool)
            .await?;
        let items = rows
            .into_iter()
            .map(ClientRow::into_domain)
            .collect::<StoreResult<_>>()?;
        Ok(Page { items, total })
    }

    /// Writes every updatable member except the secret, which only
    /// `set_client_secret` changes: a PATCH that read the client before a
    /// concurrent rotation must not write the old secret back.
    pub async fn update_client(&self, c: &Client, event: Option<&LogEvent>) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE clients SET name = $2, description = $3, app_type = $4, is_first_party = $5, oidc_conformant = $6, callbacks = $7, allowed_logout_urls = $8, allowed_origins = $9, web_origins = $10, grant_types = $11, token_endpoint_auth_method = $12, id_token_lifetime = $13, rt_rotation_type = $14, rt_expiration_type = $15, rt_leeway = $16, rt_token_lifetime = $17, rt_infinite_token_lifetime = $18, rt_idle_token_lifetime = $19, rt_infinite_idle_token_lifetime = $20, updated_at = $21, backchannel_logout_url = $22, rt_policies = $23, require_proof_of_possession = $24, require_pushed_authorization_requests = $25 WHERE client_id = $1",
        )
        .bind(c.client_id.as_str())
        .bind(&c.name)
        .bind(&c.description)
        .bind(&c.app_type)
        .bind(c.is_first_party)
        .bind(c.oidc_conformant)
        .bind(to_json(&c.callbacks))
        .bind(to_json(&c.allowed_logout_urls))
        .bind(to_json(&c.allowed_origins))
        .bind(to_json(&c.web_origins))
        .bind(to_json(&c.grant_types))
        .bind(c.token_endpoint_auth_method.as_str())
        .bind(c.id_token_lifetime)
        .bind(c.refresh_token.rotation_type.as_str())
        .bind(c.refresh_token.expiration_type.as_str())
        .bind(c.refresh_token.leeway)
        .bind(c.refresh_token.token_lifetime)
        .bind(c.refresh_token.infinite_token_lifetime)
        .bind(c.refresh_token.idle_token_lifetime)
        .bind(c.refresh_token.infinite_idle_token_lifetime)
        .bind(c.updated_at.0)
        .bind(&c.backchannel_logout_url)
        .bind(policies_to_json(&c.refresh_token.policies))
        .bind(c.require_proof_of_possession)
        .bind(c.require_pushed_authorization_requests)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if let Some(event) = event {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces the client's secret (its hash) and nothing else.
    pub async fn set_client_secret(
        &self,
        client_id: &ClientId,
        secret_hash: &TokenHash,
        now: Timestamp,
        event: &LogEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE client_id = $1",
        )
        .bind(client_id.as_str())
        .bind(secret_hash.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        super::logs::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a client and, through foreign keys, its client grants.
    pub async fn delete_client(&self, client_id: &ClientId) -> StoreResult<bool> {
        self.delete_client_with(client_id, None).await
    }

    /// Deletes a client as [`Self::delete_client`] does and, when it was
    /// there, writes `event` in the same transaction.
    pub async fn delete_client_audited(
        &self,
        client_id: &ClientId,
        event: &LogEvent,
    ) -> StoreResult<bool> {
        self.delete_client_with(client_id, Some(event)).await
    }

    async fn delete_client_with(
        &self,
        client_id: &ClientId,
        event: Option<&LogEvent>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        if let Some(event) = event {
            // Written first, so the event still names the client.
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1 AND is_system = FALSE")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        // Its SSF streams deliver nothing more: the sweep ends their
        // waiting events, however many there are.
        super::outbox::mark_client_streams_in(&mut tx, client_id.as_str()).await?;
        tx.commit().await?;
        Ok(true)
    }
}
