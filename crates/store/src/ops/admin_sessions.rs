//! Sessions of dashboard administrators (`admin_sessions`), keyed by the
//! SHA-256 of the cookie secret. A session is live while neither its absolute
//! nor its idle expiry has passed; signing out deletes it.

use grantor_domain::{Timestamp, TokenHash};
use sqlx::FromRow;

use super::Backend;
use crate::{AdminSessionRecord, LogEvent, StoreResult};

const COLUMNS: &str =
    "token_hash, email, created_at, last_seen_at, idle_expires_at, expires_at, ip, user_agent";

#[derive(FromRow)]
struct AdminSessionRow {
    token_hash: String,
    email: String,
    created_at: i64,
    last_seen_at: i64,
    idle_expires_at: i64,
    expires_at: i64,
    ip: String,
    user_agent: String,
}

impl From<AdminSessionRow> for AdminSessionRecord {
    fn from(r: AdminSessionRow) -> Self {
        AdminSessionRecord {
            token_hash: TokenHash::from_stored(r.token_hash),
            email: r.email,
            created_at: Timestamp(r.created_at),
            last_seen_at: Timestamp(r.last_seen_at),
            idle_expires_at: Timestamp(r.idle_expires_at),
            expires_at: Timestamp(r.expires_at),
            ip: r.ip,
            user_agent: r.user_agent,
        }
    }
}

impl Backend {
    /// Stores a new session and its sign-in event; the administrator's
    /// expired sessions are deleted in the same transaction.
    pub async fn create_admin_session(
        &self,
        s: &AdminSessionRecord,
        event: &LogEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM admin_sessions WHERE email = $1 AND (expires_at <= $2 OR idle_expires_at <= $2)",
        )
        .bind(&s.email)
        .bind(s.created_at.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO admin_sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(s.token_hash.as_str())
        .bind(&s.email)
        .bind(s.created_at.0)
        .bind(s.last_seen_at.0)
        .bind(s.idle_expires_at.0)
        .bind(s.expires_at.0)
        .bind(&s.ip)
        .bind(&s.user_agent)
        .execute(&mut *tx)
        .await?;
        super::logs::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live session a cookie hash names, if any.
    pub async fn admin_session(
        &self,
        token_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<AdminSessionRecord>> {
        let row: Option<AdminSessionRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM admin_sessions WHERE token_hash = $1 AND expires_at > $2 AND idle_expires_at > $2"
        ))
        .bind(token_hash.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// Records activity on a live session and moves its idle expiry forward
    /// (never back, never past the absolute expiry); false when it is gone.
    pub async fn touch_admin_session(
        &self,
        token_hash: &TokenHash,
        idle_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query(
            "UPDATE admin_sessions SET last_seen_at = $2, \
             idle_expires_at = CASE WHEN $3 > expires_at THEN expires_at WHEN $3 > idle_expires_at THEN $3 ELSE idle_expires_at END \
             WHERE token_hash = $1 AND expires_at > $2 AND idle_expires_at > $2",
        )
        .bind(token_hash.as_str())
        .bind(now.0)
        .bind(idle_expires_at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(result.rows_affected() > 0)
    }

    /// Signs a session out (with its event, when given); false when there
    /// was no such session.
    pub async fn delete_admin_session(
        &self,
        token_hash: &TokenHash,
        event: Option<&LogEvent>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let result = sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1")
            .bind(token_hash.as_str())
            .execute(&mut *tx)
            .await?;
        let found = result.rows_affected() > 0;
        if let (true, Some(event)) = (found, event) {
            super::logs::insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(found)
    }
}
