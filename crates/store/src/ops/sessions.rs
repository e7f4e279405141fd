use grantor_domain::{ClientId, SessionId, Timestamp, TokenHash, UserId};
use sqlx::FromRow;

use super::logs::insert_event_in;
use super::outbox::announce_session_ends_in;
use super::{placeholders, Backend, Conn};
use crate::{
    LogEvent, Page, PageRequest, SessionDetails, SessionFilter, SessionRecord, StoreResult,
};

const COLUMNS: &str = "id, user_id, cookie_hash, created_at, updated_at, authenticated_at, last_interacted_at, idle_expires_at, expires_at, initial_ip, initial_user_agent, last_ip, last_user_agent, ended_at, revoked_at";

#[derive(FromRow)]
pub(super) struct SessionRow {
    id: String,
    user_id: String,
    cookie_hash: String,
    created_at: i64,
    updated_at: i64,
    authenticated_at: i64,
    last_interacted_at: i64,
    idle_expires_at: i64,
    expires_at: i64,
    initial_ip: String,
    initial_user_agent: String,
    last_ip: String,
    last_user_agent: String,
    ended_at: Option<i64>,
    revoked_at: Option<i64>,
}

/// A session that still counts (Management API, dashboard): neither ended
/// (browser logout), revoked nor expired. `$1` is now.
pub(super) const LIVE: &str =
    "ended_at IS NULL AND revoked_at IS NULL AND expires_at > $1 AND idle_expires_at > $1";

/// The sessions with their clients (`session_clients`), in the same order.
async fn with_clients_in(
    conn: &mut Conn,
    sessions: Vec<SessionRecord>,
) -> StoreResult<Vec<SessionDetails>> {
    let mut details: Vec<SessionDetails> = sessions
        .into_iter()
        .map(|session| SessionDetails {
            session,
            client_ids: Vec::new(),
        })
        .collect();
    if details.is_empty() {
        return Ok(details);
    }
    let sql = format!(
        "SELECT session_id, client_id FROM session_clients WHERE session_id IN ({}) ORDER BY client_id",
        placeholders(1, details.len())
    );
    let mut q = sqlx::query_as::<_, (String, String)>(&sql);
    for d in &details {
        q = q.bind(d.session.id.as_str());
    }
    for (session_id, client_id) in q.fetch_all(&mut *conn).await? {
        if let Some(d) = details.iter_mut().find(|d| d.session.id == session_id) {
            d.client_ids.push(ClientId::from(client_id));
        }
    }
    Ok(details)
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            id: r.id.into(),
            user_id: r.user_id.into(),
            cookie_hash: TokenHash::from_stored(r.cookie_hash),
            created_at: Timestamp(r.created_at),
            updated_at: Timestamp(r.updated_at),
            authenticated_at: Timestamp(r.authenticated_at),
            last_interacted_at: Timestamp(r.last_interacted_at),
            idle_expires_at: Timestamp(r.idle_expires_at),
            expires_at: Timestamp(r.expires_at),
            initial_ip: r.initial_ip,
            initial_user_agent: r.initial_user_agent,
            last_ip: r.last_ip,
            last_user_agent: r.last_user_agent,
            ended_at: r.ended_at.map(Timestamp),
            revoked_at: r.revoked_at.map(Timestamp),
        }
    }
}

impl Backend {
    pub async fn create_session(&self, s: &SessionRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(s.id.as_str())
        .bind(s.user_id.as_str())
        .bind(s.cookie_hash.as_str())
        .bind(s.created_at.0)
        .bind(s.updated_at.0)
        .bind(s.authenticated_at.0)
        .bind(s.last_interacted_at.0)
        .bind(s.idle_expires_at.0)
        .bind(s.expires_at.0)
        .bind(&s.initial_ip)
        .bind(&s.initial_user_agent)
        .bind(&s.last_ip)
        .bind(&s.last_user_agent)
        .bind(s.ended_at.map(|t| t.0))
        .bind(s.revoked_at.map(|t| t.0))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The session a browser cookie names, if it is neither ended, revoked nor expired.
    pub async fn active_session_by_cookie(
        &self,
        cookie_hash: &TokenHash,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        let row: Option<SessionRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE cookie_hash = $1 AND ended_at IS NULL AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2"
        ))
        .bind(cookie_hash.as_str())
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    pub async fn session(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let row: Option<SessionRow> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Into::into))
    }

    /// A new sign-in in a live session (`prompt=login`, `max_age`): the
    /// session is kept, its authentication time moves to `now` and its
    /// cookie secret is replaced; false when it has ended or expired.
    pub async fn reauthenticate_session(
        &self,
        id: &SessionId,
        cookie_hash: &TokenHash,
        ip: &str,
        user_agent: &str,
        idle_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE sessions SET cookie_hash = $2, authenticated_at = $6, last_interacted_at = $6, updated_at = $6, last_ip = $3, last_user_agent = $4, idle_expires_at = CASE WHEN idle_expires_at < $5 THEN $5 ELSE idle_expires_at END WHERE id = $1 AND ended_at IS NULL AND revoked_at IS NULL AND expires_at > $6 AND idle_expires_at > $6",
        )
        .bind(id.as_str())
        .bind(cookie_hash.as_str())
        .bind(ip)
        .bind(user_agent)
        .bind(idle_expires_at.0)
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        tx.commit().await?;
        Ok(done)
    }

    /// Records activity on a session and the client it was used for.
    pub async fn touch_session(
        &self,
        id: &SessionId,
        client_id: Option<&ClientId>,
        ip: &str,
        user_agent: &str,
        idle_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // Only a session that has not ended: a client recorded here is told
        // when it ends, and a close that got there first wins.
        let touched = sqlx::query(
            "UPDATE sessions SET last_interacted_at = $2, updated_at = $2, last_ip = $3, last_user_agent = $4, idle_expires_at = CASE WHEN idle_expires_at < $5 THEN $5 ELSE idle_expires_at END WHERE id = $1 AND ended_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id.as_str())
        .bind(now.0)
        .bind(ip)
        .bind(user_agent)
        .bind(idle_expires_at.0)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !touched {
            return Ok(false);
        }
        if let Some(client_id) = client_id {
            sqlx::query("INSERT INTO session_clients (session_id, client_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(id.as_str())
                .bind(client_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Browser logout: the cookie stops working; refresh tokens are kept.
    /// In one transaction: if this call ends the session, `event` is written
    /// and, if the session was live, its ends are announced
    /// (`announce_session_ends_in`).
    pub async fn end_session(
        &self,
        id: &SessionId,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        announce_session_ends_in(&mut tx, "id", id.as_str(), &event.log_id, now).await?;
        let ended = sqlx::query(
            "UPDATE sessions SET ended_at = $2, updated_at = $2 WHERE id = $1 AND ended_at IS NULL",
        )
        .bind(id.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if ended == 1 {
            insert_event_in(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Updates `last_login`, `last_ip` and `logins_count` after a sign-in.
    pub async fn record_login(
        &self,
        user_id: &UserId,
        ip: &str,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE users SET last_login = $2, last_ip = $3, logins_count = logins_count + 1 WHERE user_id = $1")
            .bind(user_id.as_str())
            .bind(now.0)
            .bind(ip)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn save_authorization_request(
        &self,
        id: &str,
        params: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO authorization_requests (id, params, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(params)
            .bind(now.0)
            .bind(expires_at.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn authorization_request(
        &self,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT params FROM authorization_requests WHERE id = $1 AND expires_at > $2",
        )
        .bind(id)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn delete_authorization_request(&self, id: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM authorization_requests WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn live_session(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> StoreResult<Option<SessionDetails>> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<SessionRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE {LIVE} AND id = $2"
        ))
        .bind(now.0)
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let sessions = row.into_iter().map(Into::into).collect();
        Ok(with_clients_in(&mut conn, sessions).await?.pop())
    }

    pub async fn list_live_sessions(
        &self,
        filter: &SessionFilter,
        page: PageRequest,
        now: Timestamp,
    ) -> StoreResult<Page<SessionDetails>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<SessionRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM sessions WHERE {LIVE} AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4 OFFSET $5"
        ))
        .bind(now.0)
        .bind(filter.user_id.as_ref().map(UserId::as_str))
        .bind(&filter.after_id)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE {LIVE} AND ($2 IS NULL OR user_id = $2)"
        ))
        .bind(now.0)
        .bind(filter.user_id.as_ref().map(UserId::as_str))
        .fetch_one(&mut *conn)
        .await?;
        let sessions = rows.into_iter().map(Into::into).collect();
        Ok(Page {
            items: with_clients_in(&mut conn, sessions).await?,
            total,
        })
    }
}
