use grantor_domain::{GrantId, SessionId, Timestamp, TokenHash, UserId};
use sqlx::FromRow;

use super::Backend;
use crate::{DeviceCodeRecord, DevicePoll, StoreResult};

const COLUMNS: &str = "device_code_hash, user_code_hash, client_id, audience, scope, created_at, expires_at, interval_seconds, last_polled_at, status, user_id, session_id, grant_id, auth_time, device_ip, device_user_agent";

#[derive(FromRow)]
struct DeviceRow {
    device_code_hash: String,
    user_code_hash: String,
    client_id: String,
    audience: String,
    scope: String,
    created_at: i64,
    expires_at: i64,
    interval_seconds: i64,
    last_polled_at: Option<i64>,
    status: String,
    user_id: Option<String>,
    session_id: Option<String>,
    grant_id: Option<String>,
    auth_time: Option<i64>,
    device_ip: String,
    device_user_agent: String,
}

impl From<DeviceRow> for DeviceCodeRecord {
    fn from(r: DeviceRow) -> Self {
        DeviceCodeRecord {
            device_code_hash: TokenHash::from_stored(r.device_code_hash),
            user_code_hash: TokenHash::from_stored(r.user_code_hash),
            client_id: r.client_id.into(),
            audience: r.audience,
            scope: r.scope,
            created_at: Timestamp(r.created_at),
            expires_at: Timestamp(r.expires_at),
            interval_seconds: r.interval_seconds,
            last_polled_at: r.last_polled_at.map(Timestamp),
            status: r.status,
            user_id: r.user_id.map(UserId::from),
            session_id: r.session_id.map(SessionId::from),
            grant_id: r.grant_id.map(GrantId::from),
            auth_time: r.auth_time.map(Timestamp),
            device_ip: r.device_ip,
            device_user_agent: r.device_user_agent,
        }
    }
}

impl Backend {
    pub async fn insert_device_code(&self, d: &DeviceCodeRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO device_codes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ))
        .bind(d.device_code_hash.as_str())
        .bind(d.user_code_hash.as_str())
        .bind(d.client_id.as_str())
        .bind(&d.audience)
        .bind(&d.scope)
        .bind(d.created_at.0)
        .bind(d.expires_at.0)
        .bind(d.interval_seconds)
        .bind(d.last_polled_at.map(|t| t.0))
        .bind(&d.status)
        .bind(d.user_id.as_ref().map(UserId::as_str))
        .bind(d.session_id.as_ref().map(SessionId::as_str))
        .bind(d.grant_id.as_ref().map(GrantId::as_str))
        .bind(d.auth_time.map(|t| t.0))
        .bind(&d.device_ip)
        .bind(&d.device_user_agent)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A pending, unexpired device code by the hash of its user code.
    pub async fn pending_device_code(
        &self,
        user_code_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<DeviceCodeRecord>> {
        let row: Option<DeviceRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM device_codes WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2"
        ))
        .bind(user_code_hash.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Approves a pending code for a user; false if it is no longer pending.
    pub async fn approve_device_code(
        &self,
        user_code_hash: &TokenHash,
        user_id: &UserId,
        session_id: &SessionId,
        grant_id: &GrantId,
        auth_time: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE device_codes SET status = 'approved', user_id = $2, session_id = $3, grant_id = $4, auth_time = $5 WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $6",
        )
        .bind(user_code_hash.as_str())
        .bind(user_id.as_str())
        .bind(session_id.as_str())
        .bind(grant_id.as_str())
        .bind(auth_time.0)
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn deny_device_code(
        &self,
        user_code_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE device_codes SET status = 'denied' WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $2",
        )
        .bind(user_code_hash.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// One poll of the token endpoint: records the poll time and moves the
    /// code to its next state in the same transaction, so an approved code is
    /// consumed exactly once however many polls race.
    pub async fn poll_device_code(
        &self,
        device_code_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<DevicePoll> {
        let mut tx = self.begin_write().await?;
        let row: Option<DeviceRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM device_codes WHERE device_code_hash = $1"
        ))
        .bind(device_code_hash.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(DevicePoll::Unknown);
        };
        let record: DeviceCodeRecord = row.into();
        let (next_status, poll) = match record.status.as_str() {
            "consumed" | "expired" => (None, DevicePoll::Unknown),
            _ if now >= record.expires_at => (Some("expired"), DevicePoll::Expired),
            "denied" => (Some("consumed"), DevicePoll::Denied),
            "approved" => (
                Some("consumed"),
                DevicePoll::Approved(Box::new(record.clone())),
            ),
            _ => {
                let too_fast = record
                    .last_polled_at
                    .is_some_and(|last| now < last.plus_seconds(record.interval_seconds));
                (
                    None,
                    DevicePoll::Pending {
                        too_fast,
                        interval_seconds: record.interval_seconds,
                    },
                )
            }
        };
        let updated = sqlx::query(
            "UPDATE device_codes SET last_polled_at = $2, status = COALESCE($3, status) WHERE device_code_hash = $1 AND status = $4",
        )
        .bind(device_code_hash.as_str())
        .bind(now.0)
        .bind(next_status)
        .bind(&record.status)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if updated == 0 && next_status.is_some() {
            // Another poll moved the code first; it got the outcome.
            return Ok(DevicePoll::Unknown);
        }
        Ok(poll)
    }
}
