//! Auth0's `refresh_token_metadata` and `session_metadata`: a JSON object
//! stored as text in the family's or session's `metadata` column (NULL when
//! empty). Only a live token or session can be given metadata (a revoked or
//! expired one no longer exists for the Management API); the reads take the
//! ids of a page the caller already read, so the token and session queries
//! stay as they are.

use grantor_domain::{FamilyId, SessionId, Timestamp};

use super::logs::insert_event_in;
use super::revocation::LIVE_FAMILIES;
use super::sessions::LIVE as LIVE_SESSION;
use super::{placeholders, Backend};
use crate::{LogEvent, StoreResult};

impl Backend {
    pub async fn set_refresh_token_metadata(
        &self,
        id: &FamilyId,
        metadata: Option<&str>,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let sql = format!(
            "UPDATE refresh_token_families SET metadata = $3 \
             WHERE id = $2 AND id IN (SELECT f.id {LIVE_FAMILIES} AND f.id = $2)"
        );
        self.set_metadata(&sql, id.as_str(), metadata, event, now)
            .await
    }

    pub async fn set_session_metadata(
        &self,
        id: &SessionId,
        metadata: Option<&str>,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let sql = format!("UPDATE sessions SET metadata = $3 WHERE {LIVE_SESSION} AND id = $2");
        self.set_metadata(&sql, id.as_str(), metadata, event, now)
            .await
    }

    /// Runs `sql` (`$1` now, `$2` the id, `$3` the metadata) and, when it
    /// changed a row, writes `event` in the same transaction.
    async fn set_metadata(
        &self,
        sql: &str,
        id: &str,
        metadata: Option<&str>,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(sql)
            .bind(now.0)
            .bind(id)
            .bind(metadata)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn refresh_token_metadata(
        &self,
        ids: &[FamilyId],
    ) -> StoreResult<Vec<(FamilyId, String)>> {
        let ids: Vec<&str> = ids.iter().map(FamilyId::as_str).collect();
        let rows = self.metadata_of("refresh_token_families", &ids).await?;
        Ok(rows.into_iter().map(|(id, m)| (id.into(), m)).collect())
    }

    pub async fn session_metadata(
        &self,
        ids: &[SessionId],
    ) -> StoreResult<Vec<(SessionId, String)>> {
        let ids: Vec<&str> = ids.iter().map(SessionId::as_str).collect();
        let rows = self.metadata_of("sessions", &ids).await?;
        Ok(rows.into_iter().map(|(id, m)| (id.into(), m)).collect())
    }

    /// `(id, metadata)` of the rows of `table` among `ids` that have some.
    async fn metadata_of(&self, table: &str, ids: &[&str]) -> StoreResult<Vec<(String, String)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, metadata FROM {table} WHERE metadata IS NOT NULL AND id IN ({})",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query_as::<_, (String, String)>(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }
}
