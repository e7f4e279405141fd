use grantor_domain::{ResourceServer, ScopeDefinition, SigningAlg, Timestamp};
use sqlx::FromRow;

use super::{Backend, Conn};
use crate::{LogEvent, Page, PageRequest, StoreError, StoreResult};

const COLUMNS: &str = "id, name, identifier, scopes, signing_alg, allow_offline_access, skip_consent_for_verifiable_first_party_clients, token_lifetime, token_lifetime_for_web, is_system, created_at, updated_at";

/// The API columns, for a join that reads them with a prefix
/// (`super::prefixed`).
pub(super) const API_COLUMNS: &str = COLUMNS;

/// The API of a joined read whose API columns carry the `r_` prefix;
/// `None` when the join found none.
pub(super) fn joined_api(row: &super::DbRow) -> StoreResult<Option<ResourceServer>> {
    use sqlx::Row;
    let Some(id) = row.try_get::<Option<String>, _>("r_id")? else {
        return Ok(None);
    };
    let api = ResourceServerRow {
        id,
        name: row.try_get("r_name")?,
        identifier: row.try_get("r_identifier")?,
        scopes: row.try_get("r_scopes")?,
        signing_alg: row.try_get("r_signing_alg")?,
        allow_offline_access: row.try_get("r_allow_offline_access")?,
        skip_consent_for_verifiable_first_party_clients: row
            .try_get("r_skip_consent_for_verifiable_first_party_clients")?,
        token_lifetime: row.try_get("r_token_lifetime")?,
        token_lifetime_for_web: row.try_get("r_token_lifetime_for_web")?,
        is_system: row.try_get("r_is_system")?,
        created_at: row.try_get("r_created_at")?,
        updated_at: row.try_get("r_updated_at")?,
    };
    api.into_domain().map(Some)
}

#[derive(FromRow)]
struct ResourceServerRow {
    id: String,
    name: String,
    identifier: String,
    scopes: String,
    signing_alg: String,
    allow_offline_access: bool,
    skip_consent_for_verifiable_first_party_clients: bool,
    token_lifetime: i64,
    token_lifetime_for_web: i64,
    is_system: bool,
    created_at: i64,
    updated_at: i64,
}

impl ResourceServerRow {
    fn into_domain(self) -> StoreResult<ResourceServer> {
        let pairs: Vec<(String, String)> = serde_json::from_str(&self.scopes).map_err(|e| {
            StoreError::Unavailable(anyhow::anyhow!(e).context("stored API scopes"))
        })?;
        Ok(ResourceServer {
            id: self.id,
            name: self.name,
            identifier: self.identifier,
            scopes: pairs
                .into_iter()
                .map(|(value, description)| ScopeDefinition { value, description })
                .collect(),
            signing_alg: SigningAlg::parse(&self.signing_alg)
                .map_err(|e| StoreError::Unavailable(anyhow::anyhow!(e.0)))?,
            allow_offline_access: self.allow_offline_access,
            skip_consent_for_verifiable_first_party_clients: self
                .skip_consent_for_verifiable_first_party_clients,
            token_lifetime: self.token_lifetime,
            token_lifetime_for_web: self.token_lifetime_for_web,
            is_system: self.is_system,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        })
    }
}

fn scopes_json(rs: &ResourceServer) -> String {
    let pairs: Vec<(&str, &str)> = rs
        .scopes
        .iter()
        .map(|s| (s.value.as_str(), s.description.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".to_owned())
}

/// Inserts one API inside the caller's transaction.
pub(super) async fn insert_resource_server_in(
    conn: &mut Conn,
    rs: &ResourceServer,
) -> StoreResult<()> {
    sqlx::query(&format!(
        "INSERT INTO resource_servers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&rs.id)
    .bind(&rs.name)
    .bind(&rs.identifier)
    .bind(scopes_json(rs))
    .bind(rs.signing_alg.as_str())
    .bind(rs.allow_offline_access)
    .bind(rs.skip_consent_for_verifiable_first_party_clients)
    .bind(rs.token_lifetime)
    .bind(rs.token_lifetime_for_web)
    .bind(rs.is_system)
    .bind(rs.created_at.0)
    .bind(rs.updated_at.0)
    .execute(conn)
    .await?;
    Ok(())
}

impl Backend {
    /// The signing algorithms some API uses (for the JWKS).
    pub async fn signing_algs_in_use(&self) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT signing_alg FROM resource_servers ORDER BY signing_alg",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn insert_resource_server(&self, rs: &ResourceServer) -> StoreResult<()> {
        self.insert_resource_server_with(rs, None).await
    }

    /// Inserts the API and `event` in one transaction.
    pub async fn insert_resource_server_audited(
        &self,
        rs: &ResourceServer,
        event: &LogEvent,
    ) -> StoreResult<()> {
        self.insert_resource_server_with(rs, Some(event)).await
    }

    async fn insert_resource_server_with(
        &self,
        rs: &ResourceServer,
        event: Option<&LogEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_resource_server_in(&mut tx, rs).await?;
        if let Some(event) = event {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn resource_server(
        &self,
        id_or_identifier: &str,
    ) -> StoreResult<Option<ResourceServer>> {
        let row: Option<ResourceServerRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM resource_servers WHERE id = $1 OR identifier = $1"
        ))
        .bind(id_or_identifier)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ResourceServerRow::into_domain).transpose()
    }

    /// Looks an API up by its identifier (audience) only, as token requests name it.
    pub async fn resource_server_by_identifier(
        &self,
        identifier: &str,
    ) -> StoreResult<Option<ResourceServer>> {
        let row: Option<ResourceServerRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM resource_servers WHERE identifier = $1"
        ))
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ResourceServerRow::into_domain).transpose()
    }

    /// The APIs with these identifiers (those that exist), in one query.
    pub async fn resource_servers_by_identifiers(
        &self,
        identifiers: &[String],
    ) -> StoreResult<Vec<ResourceServer>> {
        if identifiers.is_empty() {
            return Ok(vec![]);
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM resource_servers WHERE identifier IN ({}) ORDER BY identifier",
            super::placeholders(1, identifiers.len())
        );
        let mut query = sqlx::query_as::<_, ResourceServerRow>(&sql);
        for identifier in identifiers {
            query = query.bind(identifier);
        }
        query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(ResourceServerRow::into_domain)
            .collect()
    }

    pub async fn list_resource_servers(
        &self,
        page: PageRequest,
    ) -> StoreResult<Page<ResourceServer>> {
        let rows: Vec<ResourceServerRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM resource_servers ORDER BY created_at, id LIMIT $1 OFFSET $2"
        ))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM resource_servers")
            .fetch_one(&self.pool)
            .await?;
        let items = rows
            .into_iter()
            .map(ResourceServerRow::into_domain)
            .collect::<StoreResult<_>>()?;
        Ok(Page { items, total })
    }

    pub async fn update_resource_server(&self, rs: &ResourceServer) -> StoreResult<()> {
        self.update_resource_server_with(rs, None).await
    }

    /// Updates the API and writes `event` in one transaction.
    pub async fn update_resource_server_audited(
        &self,
        rs: &ResourceServer,
        event: &LogEvent,
    ) -> StoreResult<()> {
        self.update_resource_server_with(rs, Some(event)).await
    }

    async fn update_resource_server_with(
        &self,
        rs: &ResourceServer,
        event: Option<&LogEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE resource_servers SET name = $2, scopes = $3, signing_alg = $4, allow_offline_access = $5, skip_consent_for_verifiable_first_party_clients = $6, token_lifetime = $7, token_lifetime_for_web = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(&rs.id)
        .bind(&rs.name)
        .bind(scopes_json(rs))
        .bind(rs.signing_alg.as_str())
        .bind(rs.allow_offline_access)
        .bind(rs.skip_consent_for_verifiable_first_party_clients)
        .bind(rs.token_lifetime)
        .bind(rs.token_lifetime_for_web)
        .bind(rs.updated_at.0)
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

    /// Deletes an API and, through foreign keys, the client grants for it.
    /// Deletes an API; a tenant `default_audience` naming it is cleared in the
    /// same transaction, so token requests without an audience then get the
    /// "no default audience" answer instead of a dangling one.
    pub async fn delete_resource_server(&self, id: &str) -> StoreResult<bool> {
        self.delete_resource_server_with(id, None).await
    }

    /// Deletes an API as [`Self::delete_resource_server`] does and, when it
    /// was there, writes `event` in the same transaction.
    pub async fn delete_resource_server_audited(
        &self,
        id: &str,
        event: &LogEvent,
    ) -> StoreResult<bool> {
        self.delete_resource_server_with(id, Some(event)).await
    }

    async fn delete_resource_server_with(
        &self,
        id: &str,
        event: Option<&LogEvent>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE tenant SET default_audience = '' WHERE default_audience IN (SELECT identifier FROM resource_servers WHERE id = $1 AND is_system = FALSE)")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM resource_servers WHERE id = $1 AND is_system = FALSE")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(event) = event {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
