//! Shared Signals Framework 1.0 streams and their events. An event is an
//! outbox message (`ops/outbox.rs`), one per matching stream: `destination`
//! is the stream id, `log_id` the change's audit event, the id
//! `<log_id>:<stream>` (plus `:<session>` for a session's end, `:<user>`
//! for one user of a revocation that covered several). A stream matches
//! when it is enabled or paused, its owner client still exists, it delivers
//! the event type, and the user is among its subjects. The kind says who
//! moves the message: `ssf_push` (the worker), `ssf_poll` (the receiver's
//! polls) or `ssf_held` (a paused stream). A stream's change moves its
//! waiting messages to the kind it now needs ([`follow_stream_in`]), a
//! thousand in its own transaction and the rest by the outbox sweep.
//!
//! A session's end writes its session-revoked messages in its own
//! transaction, by one `INSERT … SELECT`. A revocation of refresh tokens or
//! grants, the hot path, only stages its tokens-revoked event: one narrow
//! `ssf_backlog` row per user, in its transaction and only while some
//! stream is live. A fan-out ([`fan_out_in`]) turns staged rows into
//! messages and deletes them: the delivery worker's (`fan_out_ssf`), and,
//! first thing in its transaction, every stream change, subject change and
//! poll, so a stream sees each staged event with the settings it had when
//! the event was staged, and a poll returns every event staged before it.

use grantor_domain::{FamilyId, Timestamp};
use sqlx::FromRow;

use super::batch::{params, Param, Statement};
use super::logs::insert_event_in;
use super::outbox::INSERT_MESSAGE;
use super::{
    from_json, outbox, placeholders, to_json, Backend, Conn, FOR_SHARE_OF_STREAMS, FOR_UPDATE,
    LOCK_SSF_FAN_OUT,
};
use crate::{
    LogEvent, OutboxKind, SsfPoll, SsfPollResult, SsfStatus, SsfStream, SsfSubjectMode,
    StoreResult, CAEP_SESSION_REVOKED, OAUTH_TOKENS_REVOKED, SSF_POLL_METHOD,
};

const COLUMNS: &str = "id, client_id, delivery_method, endpoint_url, authorization_header, events_requested, events_delivered, description, default_subjects, status, reason, created_at, updated_at";

/// The kind a new message of stream `st` gets.
const KIND: &str = "CASE WHEN st.status = 'paused' THEN 'ssf_held' \
     WHEN st.delivery_method = 'urn:ietf:rfc:8936' THEN 'ssf_poll' ELSE 'ssf_push' END";

/// Streams `st` that take events at all (enabled or paused, owner alive).
const LIVE_STREAM: &str = "st.status IN ('enabled', 'paused') \
     AND EXISTS (SELECT 1 FROM clients c WHERE c.client_id = st.client_id)";

/// Streams `st` that deliver `event_type` to the user in column `user`.
///
/// The event type is written into the SQL as a literal `LIKE` pattern, never
/// bound: SQLite recompiles a statement whose `LIKE` pattern is a bound
/// parameter each time the parameter is bound again (it may choose another
/// plan for another pattern), which cost a revocation with an SSF stream a
/// full parse and plan of this statement.
fn matching(event_type: &'static str, user: &str) -> String {
    assert!(
        !event_type.contains(['\'', '%', '_', '\\']),
        "an SSF event type is a plain URI: {event_type}"
    );
    format!(
        "{LIVE_STREAM} AND st.events_delivered LIKE '%\"{event_type}\"%' \
         AND ((st.default_subjects = 'ALL' AND NOT EXISTS (SELECT 1 FROM ssf_subjects sj WHERE sj.stream_id = st.id AND sj.user_id = {user} AND sj.mode = 'removed')) \
         OR (st.default_subjects = 'NONE' AND EXISTS (SELECT 1 FROM ssf_subjects sj WHERE sj.stream_id = st.id AND sj.user_id = {user} AND sj.mode = 'added')))"
    )
}

#[derive(FromRow)]
struct Row {
    id: String,
    client_id: String,
    delivery_method: String,
    endpoint_url: Option<String>,
    authorization_header: Option<String>,
    events_requested: String,
    events_delivered: String,
    description: Option<String>,
    default_subjects: String,
    status: String,
    reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn into_stream(self) -> SsfStream {
        SsfStream {
            id: self.id,
            client_id: self.client_id,
            delivery_method: self.delivery_method,
            endpoint_url: self.endpoint_url,
            authorization_header: self.authorization_header,
            events_requested: from_json(&self.events_requested),
            events_delivered: from_json(&self.events_delivered),
            description: self.description,
            default_subjects: self.default_subjects,
            // An unknown status (a newer process) reads as disabled: nothing sent.
            status: SsfStatus::parse(&self.status).unwrap_or(SsfStatus::Disabled),
            reason: self.reason,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        }
    }
}

/// Queues a CAEP session-revoked event for each of `session_ids` (live
/// sessions about to end, locked by the caller) to every matching stream.
pub(super) async fn enqueue_ssf_session_ends_in(
    conn: &mut Conn,
    session_ids: &[String],
    log_id: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    let mut queued = 0;
    for chunk in session_ids.chunks(200) {
        let sql = format!(
            "{INSERT_MESSAGE} \
             SELECT $1 || ':' || st.id || ':' || s.id, {KIND}, st.id, st.client_id, s.user_id, s.id, $1, $2, 'pending', 0, $2 \
             FROM sessions s, ssf_streams st \
             WHERE s.id IN ({}) AND {}{FOR_SHARE_OF_STREAMS} \
             ON CONFLICT (id) DO NOTHING",
            placeholders(3, chunk.len()),
            matching(CAEP_SESSION_REVOKED, "s.user_id"),
        );
        let mut query = sqlx::query(&sql).bind(log_id).bind(now.0);
        for id in chunk {
            query = query.bind(id);
        }
        queued += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(queued)
}

/// The statement that stages an OAuth tokens-revoked event about `user_id`
/// for the streams (one `ssf_backlog` row, written only while some stream
/// is enabled or paused), to run in the change's own write batch (on SQLite
/// in the same trip as its audit event).
///
/// With `per_user` (a revocation that covered several users' tokens) the
/// messages' ids end in `:<user>`, so each user gets an event.
pub(super) fn stage_tokens_revoked_statement<'a>(
    user_id: &'a str,
    log_id: &'a str,
    per_user: bool,
    now: Timestamp,
) -> Statement<'a> {
    Statement::new(
        "INSERT INTO ssf_backlog (log_id, user_id, per_user, staged_at) SELECT $1, $3, $4, $2 \
         WHERE EXISTS (SELECT 1 FROM ssf_streams WHERE status IN ('enabled', 'paused')) \
         ON CONFLICT (log_id, user_id) DO NOTHING",
        params![log_id, now.0, user_id, i64::from(per_user)],
    )
}

/// Staged events one fan-out statement takes (two parameters each).
const FAN_OUT_BATCH: usize = 200;

/// How many batches a stream change or a poll fans out before its own
/// change. The worker keeps the backlog near empty; only with delivery off
/// and no polls can more wait, and then a change leaves the rest to later
/// fan-outs rather than run without bound.
const DRAIN_BATCHES: usize = 50;

/// Whether anything is staged (a read, no lock): callers skip the fan-out,
/// and its lock, when nothing is.
async fn any_staged<'e>(conn: impl sqlx::Executor<'e, Database = super::Db>) -> StoreResult<bool> {
    let any: Option<String> = sqlx::query_scalar("SELECT log_id FROM ssf_backlog LIMIT 1")
        .fetch_optional(conn)
        .await?;
    Ok(any.is_some())
}

/// Turns up to [`FAN_OUT_BATCH`] staged tokens-revoked events, oldest log
/// id first, into one message per matching stream, and deletes them;
/// returns how many staged rows it took. A message is created and due when
/// its event was staged. Fan-outs exclude each other (`LOCK_SSF_FAN_OUT`,
/// before any stream lock), and share-lock the streams they match, as a
/// session end's enqueue does. Callers look first ([`any_staged`]), so an
/// empty backlog takes no lock and polls and stream changes of different
/// streams do not queue on each other for nothing; a revocation that
/// commits after that read is ordered after the caller.
async fn fan_out_in(conn: &mut Conn) -> StoreResult<u64> {
    if let Some(lock) = LOCK_SSF_FAN_OUT {
        sqlx::query(lock).execute(&mut *conn).await?;
    }
    let staged: Vec<(String, String)> =
        sqlx::query_as("SELECT log_id, user_id FROM ssf_backlog ORDER BY log_id, user_id LIMIT $1")
            .bind(FAN_OUT_BATCH as i64)
            .fetch_all(&mut *conn)
            .await?;
    if staged.is_empty() {
        return Ok(0);
    }
    let pairs = (0..staged.len())
        .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let insert = format!(
        "{INSERT_MESSAGE} \
         SELECT b.log_id || ':' || st.id || CASE WHEN b.per_user = 1 THEN ':' || b.user_id ELSE '' END, \
         {KIND}, st.id, st.client_id, b.user_id, NULL, b.log_id, b.staged_at, 'pending', 0, b.staged_at \
         FROM ssf_backlog b, ssf_streams st \
         WHERE (b.log_id, b.user_id) IN (VALUES {pairs}) AND {}{FOR_SHARE_OF_STREAMS} \
         ON CONFLICT (id) DO NOTHING",
        matching(OAUTH_TOKENS_REVOKED, "b.user_id"),
    );
    let delete = format!("DELETE FROM ssf_backlog WHERE (log_id, user_id) IN (VALUES {pairs})");
    for sql in [&insert, &delete] {
        let mut query = sqlx::query(sql);
        for (log_id, user_id) in &staged {
            query = query.bind(log_id).bind(user_id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(staged.len() as u64)
}

/// Fans out what is staged (up to [`DRAIN_BATCHES`] batches) before a
/// stream change, in its transaction.
async fn drain_in(conn: &mut Conn) -> StoreResult<()> {
    if !any_staged(&mut *conn).await? {
        return Ok(());
    }
    for _ in 0..DRAIN_BATCHES {
        if fan_out_in(conn).await? < FAN_OUT_BATCH as u64 {
            break;
        }
    }
    Ok(())
}

/// The user whose tokens a replayed code's revocation covers (its audit
/// event names no user).
pub(super) async fn code_issue_user_in(
    conn: &mut Conn,
    family_id: Option<&FamilyId>,
    jti: Option<&str>,
) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM refresh_token_families WHERE id = $1 \
         UNION ALL SELECT user_id FROM access_tokens WHERE jti = $2 LIMIT 1",
    )
    .bind(family_id.map(FamilyId::as_str))
    .bind(jti)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Where each SSF kind's waiting messages of a stream are found.
fn waiting_of(kind: OutboxKind) -> outbox::Waiting {
    match kind {
        OutboxKind::SsfPush => outbox::PUSHED,
        OutboxKind::SsfPoll => outbox::POLLED,
        _ => outbox::HELD,
    }
}

/// The SSF kinds a stream's waiting messages may have.
const SSF_KINDS: [OutboxKind; 3] = [
    OutboxKind::SsfPush,
    OutboxKind::SsfPoll,
    OutboxKind::SsfHeld,
];

/// Moves up to [`outbox::SWEEP_BATCH`] of stream `stream_id`'s waiting
/// messages: first those a change ended before (a recorded drop, see
/// `outbox::finish_drop_in`), then to the stream's current state: held
/// while it is paused, pushed or polled as its delivery method says,
/// failed when it is disabled, deleted, or its client is (`last_error`
/// says which). Messages under a live lease are being sent and are left
/// alone (the worker gives them back to the right place,
/// `requeue_ssf_message`). Locks the stream's row first, as its changes
/// and polls do. Called by every stream change, after its update and in
/// its transaction, and by the sweep.
pub(super) async fn follow_stream_in(
    conn: &mut Conn,
    stream_id: &str,
    now: Timestamp,
) -> StoreResult<outbox::Swept> {
    let stream: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM ssf_streams WHERE id = $1{FOR_UPDATE}"
    ))
    .bind(stream_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (target, dropped) = match stream.map(Row::into_stream) {
        None => (None, "the stream was deleted"),
        Some(s) => {
            let owner: Option<String> =
                sqlx::query_scalar("SELECT client_id FROM clients WHERE client_id = $1")
                    .bind(&s.client_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            if owner.is_none() {
                (None, "the stream's client was deleted")
            } else {
                (kind_for(&s), "the stream was disabled")
            }
        }
    };
    let all: Vec<outbox::Waiting> = SSF_KINDS.into_iter().map(waiting_of).collect();
    let mut swept = outbox::finish_drop_in(conn, stream_id, &all, outbox::SWEEP_BATCH, now).await?;
    swept.drops = target.is_none().then(|| dropped.to_owned());
    if swept.more {
        return Ok(swept);
    }
    let sources: Vec<outbox::Waiting> = SSF_KINDS
        .into_iter()
        .filter(|k| Some(*k) != target)
        .map(waiting_of)
        .collect();
    let set = match target {
        Some(kind) => outbox::Set::Kind(kind.as_str()),
        None => outbox::Set::Fail(dropped),
    };
    for source in &sources {
        let left = outbox::SWEEP_BATCH - swept.moved as i64;
        swept.moved +=
            outbox::move_waiting_in(conn, stream_id, *source, &set, None, left, now).await?;
    }
    swept.more = outbox::any_waiting_in(conn, stream_id, &sources, None, now).await?;
    Ok(swept)
}

/// A change's part: the first batch of the stream's waiting messages
/// follows it now, in its transaction; when more wait, the stream is left
/// for the sweep (with the change's drop, when it ends them).
async fn follow_in(conn: &mut Conn, stream_id: &str, now: Timestamp) -> StoreResult<()> {
    let swept = follow_stream_in(conn, stream_id, now).await?;
    outbox::leave_rest_in(conn, stream_id, &swept, now).await
}

/// The kind waiting messages of `stream` get; `None` when they are dropped.
fn kind_for(stream: &SsfStream) -> Option<OutboxKind> {
    match stream.status {
        SsfStatus::Disabled => None,
        SsfStatus::Paused => Some(OutboxKind::SsfHeld),
        SsfStatus::Enabled if stream.delivery_method == SSF_POLL_METHOD => {
            Some(OutboxKind::SsfPoll)
        }
        SsfStatus::Enabled => Some(OutboxKind::SsfPush),
    }
}

impl Backend {
    /// Fans out staged tokens-revoked events, up to `max_batches` batches
    /// of [`FAN_OUT_BATCH`], each in a transaction of its own, until one
    /// comes back short (see [`fan_out_in`]); how many staged rows it took.
    /// A read, and no write, when nothing is staged. The delivery worker's
    /// fan-out, and a poll's before its own transaction.
    pub async fn fan_out_ssf(&self, max_batches: usize) -> StoreResult<u64> {
        let mut taken = 0;
        for _ in 0..max_batches {
            if !any_staged(&self.pool).await? {
                break;
            }
            let mut tx = self.begin_write().await?;
            let batch = fan_out_in(&mut tx).await?;
            tx.commit().await?;
            taken += batch;
            if batch < FAN_OUT_BATCH as u64 {
                break;
            }
        }
        Ok(taken)
    }

    pub async fn insert_ssf_stream(
        &self,
        s: &SsfStream,
        limit: i64,
        event: &LogEvent,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        drain_in(&mut tx).await?;
        // Concurrent creations by one client queue on its row (SQLite's
        // write transaction is already exclusive), so the count holds.
        sqlx::query(&format!(
            "SELECT client_id FROM clients WHERE client_id = $1{FOR_UPDATE}"
        ))
        .bind(&s.client_id)
        .fetch_optional(&mut *tx)
        .await?;
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ssf_streams WHERE client_id = $1")
            .bind(&s.client_id)
            .fetch_one(&mut *tx)
            .await?;
        if held >= limit {
            return Ok(false);
        }
        sqlx::query(&format!(
            "INSERT INTO ssf_streams ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&s.id)
        .bind(&s.client_id)
        .bind(&s.delivery_method)
        .bind(&s.endpoint_url)
        .bind(&s.authorization_header)
        .bind(to_json(&s.events_requested))
        .bind(to_json(&s.events_delivered))
        .bind(&s.description)
        .bind(&s.default_subjects)
        .bind(s.status.as_str())
        .bind(&s.reason)
        .bind(s.created_at.0)
        .bind(s.updated_at.0)
        .execute(&mut *tx)
        .await?;
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn ssf_stream(&self, id: &str) -> StoreResult<Option<SsfStream>> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM ssf_streams WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Row::into_stream))
    }

    pub async fn list_ssf_streams(&self, client_id: Option<&str>) -> StoreResult<Vec<SsfStream>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ssf_streams WHERE ($1 IS NULL OR client_id = $1) ORDER BY created_at, id"
        ))
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Row::into_stream).collect())
    }

    pub async fn update_ssf_stream(
        &self,
        s: &SsfStream,
        keep_status: bool,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        drain_in(&mut tx).await?;
        // A settings change keeps the stored status and reason (the worker
        // may have paused the stream since the caller read it).
        let mut merged;
        let s = if keep_status {
            let stored: Option<(String, Option<String>)> = sqlx::query_as(&format!(
                "SELECT status, reason FROM ssf_streams WHERE id = $1{FOR_UPDATE}"
            ))
            .bind(&s.id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((status, reason)) = stored else {
                return Ok(false);
            };
            merged = s.clone();
            merged.status = SsfStatus::parse(&status).unwrap_or(SsfStatus::Disabled);
            merged.reason = reason;
            &merged
        } else {
            s
        };
        let changed = sqlx::query(
            "UPDATE ssf_streams SET delivery_method = $2, endpoint_url = $3, authorization_header = $4, \
             events_requested = $5, events_delivered = $6, description = $7, default_subjects = $8, \
             status = $9, reason = $10, updated_at = $11 WHERE id = $1",
        )
        .bind(&s.id)
        .bind(&s.delivery_method)
        .bind(&s.endpoint_url)
        .bind(&s.authorization_header)
        .bind(to_json(&s.events_requested))
        .bind(to_json(&s.events_delivered))
        .bind(&s.description)
        .bind(&s.default_subjects)
        .bind(s.status.as_str())
        .bind(&s.reason)
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        follow_in(&mut tx, &s.id, now).await?;
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn suspend_ssf_stream(
        &self,
        id: &str,
        reason: &str,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        drain_in(&mut tx).await?;
        let changed = sqlx::query(
            "UPDATE ssf_streams SET status = 'paused', reason = $2, updated_at = $3 WHERE id = $1 AND status = 'enabled'",
        )
        .bind(id)
        .bind(reason)
        .bind(now.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        follow_in(&mut tx, id, now).await?;
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn requeue_ssf_message(
        &self,
        id: &str,
        owner: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        // The stream's row first, as every status change and enqueue takes
        // it, so a change racing this one sees the message unleased.
        let stream: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ssf_streams WHERE id = (SELECT destination FROM outbox WHERE id = $1){FOR_UPDATE}"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let released = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if released == 0 {
            return Ok(false);
        }
        // Only this message moves: the stream's other waiting messages
        // followed its last change already, or the sweep moves them.
        let stream = stream.map(Row::into_stream);
        match stream.as_ref().map(kind_for) {
            Some(Some(kind)) => {
                sqlx::query("UPDATE outbox SET kind = $2 WHERE id = $1")
                    .bind(id)
                    .bind(kind.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            dropped => {
                let reason = if dropped.is_some() {
                    "the stream was disabled"
                } else {
                    "the stream was deleted"
                };
                sqlx::query(
                    "UPDATE outbox SET status = 'failed', last_error = $3, finished_at = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(now.0)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn delete_ssf_stream(
        &self,
        id: &str,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        drain_in(&mut tx).await?;
        let changed = sqlx::query("DELETE FROM ssf_streams WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM ssf_subjects WHERE stream_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        follow_in(&mut tx, id, now).await?;
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn set_ssf_subject(
        &self,
        stream_id: &str,
        user_id: &str,
        mode: SsfSubjectMode,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        drain_in(&mut tx).await?;
        let exists: Option<String> = sqlx::query_scalar("SELECT id FROM ssf_streams WHERE id = $1")
            .bind(stream_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO ssf_subjects (stream_id, user_id, mode, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (stream_id, user_id) DO UPDATE SET mode = excluded.mode, created_at = excluded.created_at",
        )
        .bind(stream_id)
        .bind(user_id)
        .bind(mode.as_str())
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn request_ssf_verification(
        &self,
        stream_id: &str,
        event: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let queued = sqlx::query(&format!(
            "{INSERT_MESSAGE} \
             SELECT $1 || ':' || st.id, {KIND}, st.id, st.client_id, NULL, NULL, $1, $2, 'pending', 0, $2 \
             FROM ssf_streams st WHERE st.id = $3 AND {LIVE_STREAM} \
             ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&event.log_id)
        .bind(now.0)
        .bind(stream_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if queued == 0 {
            return Ok(false);
        }
        insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn poll_ssf(
        &self,
        stream_id: &str,
        poll: &SsfPoll,
        now: Timestamp,
    ) -> StoreResult<SsfPollResult> {
        const MINE: &str =
            "id = $1 AND destination = $2 AND kind = 'ssf_poll' AND status = 'pending'";
        // What revocations staged before the poll becomes messages first, in
        // a short transaction of its own, so the poll's own transaction
        // (up to a thousand settlements) never holds the fan-out lock.
        self.fan_out_ssf(DRAIN_BATCHES).await?;
        // And what a change of the stream left for the sweep follows it
        // (a stream switched to poll gets its pushed events).
        self.sweep_outbox(Some(stream_id), "", DRAIN_BATCHES, now)
            .await?;
        let mut tx = self.begin_write().await?;
        // Polls of one stream, and its status changes (which move its
        // waiting events), queue on the stream's row: neither can then hold
        // some of its events while waiting for others (a lock cycle).
        let state: Option<(String, String)> = sqlx::query_as(&format!(
            "SELECT status, delivery_method FROM ssf_streams WHERE id = $1{FOR_UPDATE}"
        ))
        .bind(stream_id)
        .fetch_optional(&mut *tx)
        .await?;
        // Only an enabled poll stream hands out events (a paused one holds
        // them), and none that a disabling ended and the sweep has not
        // reached yet (a recorded drop).
        if state
            .as_ref()
            .map(|(status, method)| (status.as_str(), method.as_str()))
            != Some(("enabled", SSF_POLL_METHOD))
        {
            return Ok(SsfPollResult::default());
        }
        for jti in &poll.ack {
            sqlx::query(&format!(
                "UPDATE outbox SET status = 'delivered', finished_at = $3 WHERE {MINE}"
            ))
            .bind(jti)
            .bind(stream_id)
            .bind(now.0)
            .execute(&mut *tx)
            .await?;
        }
        for (jti, error) in &poll.errors {
            sqlx::query(&format!(
                "UPDATE outbox SET status = 'failed', finished_at = $3, last_error = $4 WHERE {MINE}"
            ))
            .bind(jti)
            .bind(stream_id)
            .bind(now.0)
            .bind(error)
            .execute(&mut *tx)
            .await?;
        }
        let mut rows: Vec<outbox::Row> = sqlx::query_as(&format!(
            "SELECT {} FROM outbox WHERE destination = $1 AND kind = 'ssf_poll' AND status = 'pending' \
             AND created_at > COALESCE((SELECT w.drop_until FROM outbox_sweep w WHERE w.destination = $1), -1) \
             ORDER BY created_at, id LIMIT $2",
            outbox::COLUMNS
        ))
        .bind(stream_id)
        .bind(poll.max_events.max(0) + 1)
        .fetch_all(&mut *tx)
        .await?;
        let more_available = rows.len() as i64 > poll.max_events.max(0);
        rows.truncate(usize::try_from(poll.max_events.max(0)).unwrap_or(0));
        if !rows.is_empty() {
            let sql = format!(
                "UPDATE outbox SET attempts = attempts + 1 WHERE id IN ({})",
                placeholders(1, rows.len())
            );
            let mut query = sqlx::query(&sql);
            for row in &rows {
                query = query.bind(&row.id);
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(SsfPollResult {
            messages: rows
                .into_iter()
                .filter_map(outbox::Row::into_message)
                .map(|mut m| {
                    m.attempts += 1;
                    m
                })
                .collect(),
            more_available,
        })
    }
}
