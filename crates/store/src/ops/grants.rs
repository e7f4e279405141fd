use grantor_domain::{ClientId, GrantId, ScopeSet, Timestamp, UserId};
use sqlx::FromRow;

use super::{from_json, to_json, Backend};
use crate::{GrantFilter, Page, PageRequest, StoreResult, UserGrant};

const COLUMNS: &str =
    "id, user_id, client_id, audience, scope, token_epoch, created_at, updated_at";

#[derive(FromRow)]
struct GrantRow {
    id: String,
    user_id: String,
    client_id: String,
    audience: String,
    scope: String,
    token_epoch: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<GrantRow> for UserGrant {
    fn from(r: GrantRow) -> Self {
        UserGrant {
            id: r.id.into(),
            user_id: r.user_id.into(),
            client_id: r.client_id.into(),
            audience: r.audience,
            scope: from_json(&r.scope).into_iter().collect(),
            token_epoch: r.token_epoch,
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
        }
    }
}

impl Backend {
    pub async fn grant(&self, id: &GrantId) -> StoreResult<Option<UserGrant>> {
        let row: Option<GrantRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM grants WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    pub async fn grant_for(
        &self,
        user_id: &UserId,
        client_id: &ClientId,
        audience: &str,
    ) -> StoreResult<Option<UserGrant>> {
        let row: Option<GrantRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM grants WHERE user_id = $1 AND client_id = $2 AND audience = $3"
        ))
        .bind(user_id.as_str())
        .bind(client_id.as_str())
        .bind(audience)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Creates the grant for (user, client, audience), or widens the existing
    /// one to the union of its scopes and `scope`; one grant per triple.
    pub async fn upsert_grant(
        &self,
        new_id: &GrantId,
        user_id: &UserId,
        client_id: &ClientId,
        audience: &str,
        scope: &ScopeSet,
        now: Timestamp,
    ) -> StoreResult<UserGrant> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO grants (id, user_id, client_id, audience, scope, token_epoch, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (user_id, client_id, audience) DO NOTHING",
        )
        .bind(new_id.as_str())
        .bind(user_id.as_str())
        .bind(client_id.as_str())
        .bind(audience)
        .bind(to_json(&scope.to_vec()))
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        let row: GrantRow = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM grants WHERE user_id = $1 AND client_id = $2 AND audience = $3"
        ))
        .bind(user_id.as_str())
        .bind(client_id.as_str())
        .bind(audience)
        .fetch_one(&mut *tx)
        .await?;
        let mut grant: UserGrant = row.into();
        if !scope.is_subset_of(&grant.scope) {
            grant.scope = grant.scope.union(scope);
            grant.updated_at = now;
            sqlx::query("UPDATE grants SET scope = $2, updated_at = $3 WHERE id = $1")
                .bind(grant.id.as_str())
                .bind(to_json(&grant.scope.to_vec()))
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(grant)
    }

    pub async fn list_grants(
        &self,
        filter: &GrantFilter,
        page: PageRequest,
    ) -> StoreResult<Page<UserGrant>> {
        const FILTER: &str =
            "($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR client_id = $2) AND ($3 IS NULL OR audience = $3)";
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<GrantRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM grants WHERE {FILTER} ORDER BY created_at, id LIMIT $4 OFFSET $5"
        ))
        .bind(filter.user_id.as_ref().map(UserId::as_str))
        .bind(filter.client_id.as_ref().map(ClientId::as_str))
        .bind(&filter.audience)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM grants WHERE {FILTER}"))
            .bind(filter.user_id.as_ref().map(UserId::as_str))
            .bind(filter.client_id.as_ref().map(ClientId::as_str))
            .bind(&filter.audience)
            .fetch_one(&mut *conn)
            .await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total,
        })
    }
}
