//! Pushed authorization requests (`pushed_authorization_requests`, RFC
//! 9126): saved by `/oauth/par`, consumed once by `/authorize`.

use grantor_domain::{ClientId, Timestamp, TokenHash};

use super::Backend;
use crate::StoreResult;

impl Backend {
    /// Stores a pushed request under the hash of its request_uri.
    pub async fn save_pushed_request(
        &self,
        request_uri_hash: &TokenHash,
        client_id: &ClientId,
        params: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO pushed_authorization_requests (request_uri_hash, client_id, params, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(request_uri_hash.as_str())
        .bind(client_id.as_str())
        .bind(params)
        .bind(now.0)
        .bind(expires_at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a live pushed request of `client_id` out of the table and
    /// returns its parameters. One statement: of two consumers (in any
    /// processes) at most one gets it; an expired request, or one of another
    /// client, is neither returned nor deleted.
    pub async fn consume_pushed_request(
        &self,
        request_uri_hash: &TokenHash,
        client_id: &ClientId,
        now: Timestamp,
    ) -> StoreResult<Option<String>> {
        let mut tx = self.begin_write().await?;
        let params: Option<String> = sqlx::query_scalar(
            "DELETE FROM pushed_authorization_requests WHERE request_uri_hash = $1 AND client_id = $2 AND expires_at > $3 RETURNING params",
        )
        .bind(request_uri_hash.as_str())
        .bind(client_id.as_str())
        .bind(now.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(params)
    }
}
