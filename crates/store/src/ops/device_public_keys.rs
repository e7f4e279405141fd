//! Device credentials of type `public_key`: one row per user, client and
//! device (`device_public_keys`), removed with their user or client by
//! foreign keys. Each write carries its audit event.

use grantor_domain::{ClientId, Timestamp, UserId};
use sqlx::FromRow;

use super::logs::insert_event_in;
use super::Backend;
use crate::{
    DevicePublicKey, DevicePublicKeyFilter, LogEvent, Page, PageRequest, StoreError, StoreResult,
};

const COLUMNS: &str =
    "id, user_id, client_id, device_id, device_name, key_type, public_key, created_at";

#[derive(FromRow)]
struct Row {
    id: String,
    user_id: String,
    client_id: String,
    device_id: String,
    device_name: String,
    key_type: String,
    public_key: String,
    created_at: i64,
}

impl From<Row> for DevicePublicKey {
    fn from(r: Row) -> Self {
        DevicePublicKey {
            id: r.id,
            user_id: r.user_id.into(),
            client_id: r.client_id.into(),
            device_id: r.device_id,
            device_name: r.device_name,
            key_type: r.key_type,
            public_key: r.public_key,
            created_at: Timestamp(r.created_at),
        }
    }
}

/// `$1` user, `$2` client.
const FILTER: &str = "($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR client_id = $2)";

impl Backend {
    /// `Conflict` when the user already has a key for that client and
    /// device; `MissingReference` when the user or client does not exist.
    pub async fn insert_device_public_key(
        &self,
        key: &DevicePublicKey,
        event: &LogEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO device_public_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&key.id)
        .bind(key.user_id.as_str())
        .bind(key.client_id.as_str())
        .bind(&key.device_id)
        .bind(&key.device_name)
        .bind(&key.key_type)
        .bind(&key.public_key)
        .bind(key.created_at.0)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_device_public_keys(
        &self,
        filter: &DevicePublicKeyFilter,
        page: PageRequest,
    ) -> StoreResult<Page<DevicePublicKey>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM device_public_keys WHERE {FILTER} ORDER BY id LIMIT $3 OFFSET $4"
        ))
        .bind(filter.user_id.as_ref().map(UserId::as_str))
        .bind(filter.client_id.as_ref().map(ClientId::as_str))
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM device_public_keys WHERE {FILTER}"
        ))
        .bind(filter.user_id.as_ref().map(UserId::as_str))
        .bind(filter.client_id.as_ref().map(ClientId::as_str))
        .fetch_one(&mut *conn)
        .await?;
        Ok(Page {
            items: rows.into_iter().map(Into::into).collect(),
            total,
        })
    }

    /// Deletes one key with its event; false (nothing written) when unknown.
    pub async fn delete_device_public_key(&self, id: &str, event: &LogEvent) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let owner: Option<String> =
            sqlx::query_scalar("DELETE FROM device_public_keys WHERE id = $1 RETURNING user_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(owner) = owner else {
            return Ok(false);
        };
        // The event names the user whose key it was.
        let mut event = event.clone();
        event.user_id = event.user_id.or(Some(owner));
        insert_event_in(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(true)
    }
}
