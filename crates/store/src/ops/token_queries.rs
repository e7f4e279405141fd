//! Reads of live refresh tokens for the Management API and the dashboard.
//! "Live" is exactly `revocation::LIVE_FAMILIES`, the condition `revoke`
//! counts with, so a list never shows a token that `/oauth/token` would
//! refuse (revoked, expired, or dead through its grant, user or session).

use grantor_domain::{ClientId, FamilyId, Timestamp, UserId};

use super::refresh_tokens::{FamilyRow, FAMILY_COLUMNS};
use super::revocation::LIVE_FAMILIES;
use super::Backend;
use crate::{FamilyRecord, Page, PageRequest, RefreshTokenFilter, StoreResult};

/// `$1` is now (from `LIVE_FAMILIES`); `$2` user, `$3` client.
const FILTER: &str = "($2 IS NULL OR f.user_id = $2) AND ($3 IS NULL OR f.client_id = $3)";

impl Backend {
    pub async fn live_refresh_token(
        &self,
        id: &FamilyId,
        now: Timestamp,
    ) -> StoreResult<Option<FamilyRecord>> {
        let row: Option<FamilyRow> = sqlx::query_as(&format!(
            "SELECT {FAMILY_COLUMNS} {LIVE_FAMILIES} AND f.id = $2"
        ))
        .bind(now.0)
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    pub async fn list_live_refresh_tokens(
        &self,
        filter: &RefreshTokenFilter,
        page: PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<FamilyRecord>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<FamilyRow> = sqlx::query_as(&format!(
            "SELECT {FAMILY_COLUMNS} {LIVE_FAMILIES} AND {FILTER} AND ($4 IS NULL OR f.id > $4) ORDER BY f.id LIMIT $5 OFFSET $6"
        ))
        .bind(now.0)
        .bind(filter.user_id.as_ref().map(UserId::as_str))
        .bind(filter.client_id.as_ref().map(ClientId::as_str))
        .bind(&filter.after_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) {LIVE_FAMILIES} AND {FILTER}"))
                .bind(now.0)
                .bind(filter.user_id.as_ref().map(UserId::as_str))
                .bind(filter.client_id.as_ref().map(ClientId::as_str))
                .fetch_one(&mut *conn)
                .await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total,
        })
    }
}
