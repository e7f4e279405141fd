use grantor_domain::{ClientGrant, ClientId, ResourceServer, ScopeSet, Timestamp};
use sqlx::FromRow;

use super::resource_servers::{joined_api, API_COLUMNS};
use super::{from_json, prefixed, to_json, Backend, Conn};
use crate::{ClientGrantFilter, LogEvent, Page, PageRequest, StoreError, StoreResult};

#[derive(FromRow)]
struct ClientGrantRow {
    id: String,
    client_id: String,
    audience: String,
    scope: String,
    created_at: i64,
}

impl From<ClientGrantRow> for ClientGrant {
    fn from(r: ClientGrantRow) -> Self {
        ClientGrant {
            id: r.id,
            client_id: r.client_id.into(),
            audience: r.audience,
            scope: from_json(&r.scope).into_iter().collect(),
            created_at: Timestamp(r.created_at),
        }
    }
}

fn scope_json(scope: &ScopeSet) -> String {
    to_json(&scope.to_vec())
}

/// Inserts one client grant inside the caller's transaction.
pub(super) async fn insert_client_grant_in(conn: &mut Conn, g: &ClientGrant) -> StoreResult<()> {
    sqlx::query("INSERT INTO client_grants (id, client_id, audience, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&g.id)
        .bind(g.client_id.as_str())
        .bind(&g.audience)
        .bind(scope_json(&g.scope))
        .bind(g.created_at.0)
        .execute(conn)
        .await?;
    Ok(())
}

const FILTER: &str =
    "($1 IS NULL OR client_id = $1) AND ($2 IS NULL OR audience = $2) AND ($3 IS NULL OR id > $3)";

impl Backend {
    /// Inserts a client grant, with its audit event when there is one.
    pub async fn insert_client_grant(
        &self,
        g: &ClientGrant,
        event: Option<&LogEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_client_grant_in(&mut tx, g).await?;
        if let Some(event) = event {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn client_grant(&self, id: &str) -> StoreResult<Option<ClientGrant>> {
        let row: Option<ClientGrantRow> = sqlx::query_as(
            "SELECT id, client_id, audience, scope, created_at FROM client_grants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// What a machine token needs besides its client, in one read: the API
    /// `audience` names and the client's grant for it, each if it exists
    /// (`client_credentials`; before, two reads).
    pub async fn machine_access(
        &self,
        client_id: &ClientId,
        audience: &str,
    ) -> StoreResult<(Option<ResourceServer>, Option<ClientGrant>)> {
        use sqlx::Row;
        let sql = format!(
            "SELECT {}, cg.id AS cg_id, cg.client_id AS cg_client_id, cg.audience AS cg_audience, \
             cg.scope AS cg_scope, cg.created_at AS cg_created_at \
             FROM (SELECT 1 AS one) x \
             LEFT JOIN resource_servers r ON r.identifier = $2 \
             LEFT JOIN client_grants cg ON cg.client_id = $1 AND cg.audience = $2",
            prefixed("r", API_COLUMNS)
        );
        let row = sqlx::query(&sql)
            .bind(client_id.as_str())
            .bind(audience)
            .fetch_one(&self.pool)
            .await?;
        let api = joined_api(&row)?;
        let grant = match row.try_get::<Option<String>, _>("cg_id")? {
            Some(id) => Some(ClientGrant::from(ClientGrantRow {
                id,
                client_id: row.try_get("cg_client_id")?,
                audience: row.try_get("cg_audience")?,
                scope: row.try_get("cg_scope")?,
                created_at: row.try_get("cg_created_at")?,
            })),
            None => None,
        };
        Ok((api, grant))
    }

    pub async fn client_grant_for(
        &self,
        client_id: &ClientId,
        audience: &str,
    ) -> StoreResult<Option<ClientGrant>> {
        let row: Option<ClientGrantRow> = sqlx::query_as(
            "SELECT id, client_id, audience, scope, created_at FROM client_grants WHERE client_id = $1 AND audience = $2",
        )
        .bind(client_id.as_str())
        .bind(audience)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    pub async fn list_client_grants(
        &self,
        filter: &ClientGrantFilter,
        page: PageRequest,
    ) -> StoreResult<Page<ClientGrant>> {
        let rows: Vec<ClientGrantRow> = sqlx::query_as(&format!(
            "SELECT id, client_id, audience, scope, created_at FROM client_grants WHERE {FILTER} ORDER BY id LIMIT $4 OFFSET $5"
        ))
        .bind(filter.client_id.as_ref().map(ClientId::as_str))
        .bind(&filter.audience)
        .bind(&filter.after_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM client_grants WHERE ($1 IS NULL OR client_id = $1) AND ($2 IS NULL OR audience = $2)",
        )
        .bind(filter.client_id.as_ref().map(ClientId::as_str))
        .bind(&filter.audience)
        .fetch_one(&self.pool)
        .await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total,
        })
    }

    pub async fn update_client_grant(
        &self,
        g: &ClientGrant,
        event: Option<&LogEvent>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE client_grants SET scope = $2 WHERE id = $1")
            .bind(&g.id)
            .bind(scope_json(&g.scope))
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

    /// Deletes a client grant; its audit event is written only when it existed.
    pub async fn delete_client_grant(
        &self,
        id: &str,
        event: Option<&LogEvent>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM client_grants WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let (Some(event), true) = (event, done.rows_affected() > 0) {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}
