//! Log streams (`log_streams`) and their delivery through the outbox.
//!
//! Every audit event insert also runs [`stage_statement`] in the same
//! transaction (and the same batch): the event is staged in
//! `log_stream_backlog` only while some stream is active, so an event that
//! committed is never lost and nothing is staged for an event that rolled
//! back. The delivery worker then calls `batch_log_streams`: one
//! transaction takes the oldest staged events (`SKIP_LOCKED` on PostgreSQL,
//! so processes take disjoint rows), writes one `log_stream_batch` outbox
//! message per active stream whose filters match at least one of them
//! (destination: the stream id; payload: the JSON list of its log ids),
//! and deletes the staged rows. The outbox's claim, lease, retry and settle
//! deliver each batch.

use grantor_domain::log_stream::{ContentFormat, CustomHeader, LogStreamHealth};
use grantor_domain::{LogStream, LogStreamStatus, Timestamp};
use sqlx::FromRow;

use super::batch::{params, Param, Statement};
use super::{outbox, placeholders, Backend, Conn, FOR_UPDATE, SKIP_LOCKED};
use crate::{LogEvent, StoreError, StoreResult, StreamBatching};

const COLUMNS: &str = "id, name, status, http_endpoint, http_content_type, http_content_format, http_authorization, http_custom_headers, filters, consecutive_failures, failing_since, last_error, created_at, updated_at";

/// How long a delivered or failed stream batch is kept (a day): the
/// events themselves stay in the audit log for its whole retention.
pub const FINISHED_BATCH_RETENTION_MS: i64 = 86_400_000;

#[derive(FromRow)]
struct Row {
    id: String,
    name: String,
    status: String,
    http_endpoint: String,
    http_content_type: String,
    http_content_format: String,
    http_authorization: Option<String>,
    http_custom_headers: String,
    filters: String,
    consecutive_failures: i64,
    failing_since: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HeaderJson {
    header: String,
    value: String,
}

impl Row {
    fn into_stream(self) -> LogStream {
        let headers: Vec<HeaderJson> =
            serde_json::from_str(&self.http_custom_headers).unwrap_or_default();
        LogStream {
            id: self.id,
            name: self.name,
            // A status a newer version wrote is treated as paused here.
            status: LogStreamStatus::parse(&self.status).unwrap_or(LogStreamStatus::Paused),
            endpoint: self.http_endpoint,
            content_type: self.http_content_type,
            content_format: ContentFormat::parse(&self.http_content_format)
                .unwrap_or(ContentFormat::JsonArray),
            authorization: self.http_authorization,
            custom_headers: headers
                .into_iter()
                .map(|h| CustomHeader {
                    header: h.header,
                    value: h.value,
                })
                .collect(),
            filters: serde_json::from_str(&self.filters).unwrap_or_default(),
            health: LogStreamHealth {
                consecutive_failures: self.consecutive_failures,
                failing_since: self.failing_since.map(Timestamp),
                last_error: self.last_error,
            },
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        }
    }
}

fn headers_json(s: &LogStream) -> String {
    let headers: Vec<HeaderJson> = s
        .custom_headers
        .iter()
        .map(|h| HeaderJson {
            header: h.header.clone(),
            value: h.value.clone(),
        })
        .collect();
    serde_json::to_string(&headers).unwrap_or_else(|_| "[]".to_owned())
}

fn filters_json(s: &LogStream) -> String {
    serde_json::to_string(&s.filters).unwrap_or_else(|_| "[]".to_owned())
}

/// The statement that stages `e` for the log streams, sent with the event's
/// insert: one cheap `INSERT … SELECT` that writes nothing unless a stream
/// is active.
pub(super) fn stage_statement(e: &LogEvent) -> Statement<'_> {
    Statement::new(
        "INSERT INTO log_stream_backlog (log_id, type, staged_at) SELECT $1, $2, $3 \
         WHERE EXISTS (SELECT 1 FROM log_streams WHERE status = 'active')",
        params![&e.log_id, &e.type_code, e.date.0],
    )
}

/// Ends up to [`outbox::SWEEP_BATCH`] pending batches of log stream
/// `stream_id`: first those a change ended before (a recorded drop, see
/// `outbox::finish_drop_in`), then, unless the stream is active, the rest:
/// a paused or suspended stream sends nothing, and a deleted one nothing
/// more. Batches under a live lease are being sent and are left alone (the
/// worker ends them when it next claims them). Locks the stream's row
/// first, as its changes do. Called by every change that stops, resumes or
/// deletes a stream, in its transaction, and by the sweep.
pub(super) async fn end_batches_in(
    conn: &mut Conn,
    stream_id: &str,
    now: Timestamp,
) -> StoreResult<outbox::Swept> {
    let status: Option<String> = sqlx::query_scalar(&format!(
        "SELECT status FROM log_streams WHERE id = $1{FOR_UPDATE}"
    ))
    .bind(stream_id)
    .fetch_optional(&mut *conn)
    .await?;
    let error = match status.as_deref() {
        Some("active") => None,
        Some(status) => Some(format!(
            "the log stream is {status}; the batch was not sent"
        )),
        None => Some("the log stream was deleted".to_owned()),
    };
    let batches = [outbox::BATCHES];
    let mut swept =
        outbox::finish_drop_in(conn, stream_id, &batches, outbox::SWEEP_BATCH, now).await?;
    if !swept.more {
        if let Some(error) = &error {
            let left = outbox::SWEEP_BATCH - swept.moved as i64;
            swept.moved += outbox::move_waiting_in(
                conn,
                stream_id,
                outbox::BATCHES,
                &outbox::Set::Fail(error),
                None,
                left,
                now,
            )
            .await?;
            swept.more = outbox::any_waiting_in(conn, stream_id, &batches, None, now).await?;
        }
    }
    swept.drops = error;
    Ok(swept)
}

/// A change's part: the first batch of a stopped or deleted stream's
/// pending batches ends now, in its transaction; when more wait, the
/// stream is left for the sweep, with the change's drop, so they end even
/// if the stream is resumed first.
async fn follow_in(conn: &mut Conn, stream_id: &str, now: Timestamp) -> StoreResult<()> {
    let swept = end_batches_in(conn, stream_id, now).await?;
    outbox::leave_rest_in(conn, stream_id, &swept, now).await
}

impl Backend {
    pub async fn insert_log_stream(&self, s: &LogStream, event: &LogEvent) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO log_streams ({COLUMNS}, type) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'http')"
        ))
        .bind(&s.id)
        .bind(&s.name)
        .bind(s.status.as_str())
        .bind(&s.endpoint)
        .bind(&s.content_type)
        .bind(s.content_format.as_str())
        .bind(&s.authorization)
        .bind(headers_json(s))
        .bind(filters_json(s))
        .bind(s.health.consecutive_failures)
        .bind(s.health.failing_since.map(|t| t.0))
        .bind(&s.health.last_error)
        .bind(s.created_at.0)
        .bind(s.updated_at.0)
        .execute(&mut *tx)
        .await?;
        super::logs::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn log_stream(&self, id: &str) -> StoreResult<Option<LogStream>> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM log_streams WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(Row::into_stream))
    }

    /// Every stream, oldest first.
    pub async fn list_log_streams(&self) -> StoreResult<Vec<LogStream>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM log_streams ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Row::into_stream).collect())
    }

    /// Writes the stream's settings; its status only with `set_status` (the
    /// update names one: a rename read before a suspension must not undo
    /// it); its health only when this update resumes it (the worker counts
    /// failures meanwhile, and a stale read must not undo them). `NotFound`
    /// when it was deleted meanwhile.
    pub async fn update_log_stream(
        &self,
        s: &LogStream,
        set_status: bool,
        event: &LogEvent,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE log_streams SET name = $2, status = CASE WHEN $14 THEN $3 ELSE status END, http_endpoint = $4, http_content_type = $5, \
             http_content_format = $6, http_authorization = $7, http_custom_headers = $8, filters = $9, \
             consecutive_failures = CASE WHEN $14 AND $3 = 'active' AND status <> 'active' THEN $10 ELSE consecutive_failures END, \
             failing_since = CASE WHEN $14 AND $3 = 'active' AND status <> 'active' THEN $11 ELSE failing_since END, \
             last_error = CASE WHEN $14 AND $3 = 'active' AND status <> 'active' THEN $12 ELSE last_error END, \
             updated_at = $13 WHERE id = $1",
        )
        .bind(&s.id)
        .bind(&s.name)
        .bind(s.status.as_str())
        .bind(&s.endpoint)
        .bind(&s.content_type)
        .bind(s.content_format.as_str())
        .bind(&s.authorization)
        .bind(headers_json(s))
        .bind(filters_json(s))
        .bind(s.health.consecutive_failures)
        .bind(s.health.failing_since.map(|t| t.0))
        .bind(&s.health.last_error)
        .bind(s.updated_at.0)
        .bind(set_status)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        if set_status {
            follow_in(&mut tx, &s.id, s.updated_at).await?;
        }
        super::logs::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a stream; its pending batches end (the first thousand now,
    /// the rest by the sweep).
    pub async fn delete_log_stream(&self, id: &str, event: &LogEvent) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("DELETE FROM log_streams WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        follow_in(&mut tx, id, event.date).await?;
        super::logs::insert_event_in(&mut tx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Turns up to `limit` of the oldest staged events into one outbox
    /// message per active stream that wants at least one of them (a
    /// `JSONOBJECT` stream gets one message per event), and deletes them
    /// from the backlog, in one transaction. `categorize` maps an event
    /// type code to its filter category.
    pub async fn batch_log_streams(
        &self,
        limit: i64,
        categorize: fn(&str) -> &'static str,
        now: Timestamp,
    ) -> StoreResult<StreamBatching> {
        // A read first: an idle call writes nothing.
        let any: Option<String> =
            sqlx::query_scalar("SELECT log_id FROM log_stream_backlog LIMIT 1")
                .fetch_optional(&self.pool)
                .await?;
        if any.is_none() {
            return Ok(StreamBatching::default());
        }
        let mut tx = self.begin_write().await?;
        let staged: Vec<(String, String)> = sqlx::query_as(&format!(
            "SELECT log_id, type FROM log_stream_backlog ORDER BY log_id LIMIT $1{SKIP_LOCKED}"
        ))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        if staged.is_empty() {
            return Ok(StreamBatching::default());
        }
        let streams: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM log_streams WHERE status = 'active' ORDER BY id"
        ))
        .fetch_all(&mut *tx)
        .await?;
        let mut batches = 0;
        for stream in streams.into_iter().map(Row::into_stream) {
            let wanted: Vec<&String> = staged
                .iter()
                .filter(|(_, type_code)| stream.wants(categorize(type_code)))
                .map(|(log_id, _)| log_id)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let groups: Vec<Vec<&String>> = match stream.content_format {
                ContentFormat::JsonObject => wanted.iter().map(|id| vec![*id]).collect(),
                _ => vec![wanted],
            };
            for group in groups {
                let first = group[0];
                let payload = serde_json::to_string(&group).unwrap_or_else(|_| "[]".to_owned());
                batches += sqlx::query(
                    "INSERT INTO outbox (id, kind, destination, log_id, created_at, status, attempts, next_attempt_at, payload) \
                     VALUES ($1, 'log_stream_batch', $2, $3, $4, 'pending', 0, $4, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(format!("{first}:{}", stream.id))
                .bind(&stream.id)
                .bind(first)
                .bind(now.0)
                .bind(payload)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }
        let sql = format!(
            "DELETE FROM log_stream_backlog WHERE log_id IN ({})",
            placeholders(1, staged.len())
        );
        let mut delete = sqlx::query(&sql);
        for (log_id, _) in &staged {
            delete = delete.bind(log_id);
        }
        let events = delete.execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(StreamBatching { events, batches })
    }

    /// Staged events waiting for `batch_log_streams` (a count, for tests
    /// and the dashboard).
    pub async fn log_stream_backlog(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM log_stream_backlog")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Records a batch attempt's outcome on its stream's health: a
    /// delivery clears the failure run; a failure counts one more and, once
    /// the run is `suspend_after_ms` old, suspends an active stream and
    /// writes `suspension` (its audit event) in the same transaction.
    /// Returns whether this call suspended the stream.
    pub async fn record_log_stream_outcome(
        &self,
        id: &str,
        error: Option<&str>,
        suspend_after_ms: i64,
        suspension: &LogEvent,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let Some(error) = error else {
            sqlx::query(
                "UPDATE log_streams SET consecutive_failures = 0, failing_since = NULL WHERE id = $1 AND consecutive_failures <> 0",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(false);
        };
        sqlx::query(
            "UPDATE log_streams SET consecutive_failures = consecutive_failures + 1, \
             failing_since = COALESCE(failing_since, $2), last_error = $3 WHERE id = $1 AND status = 'active'",
        )
        .bind(id)
        .bind(now.0)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        let suspended = sqlx::query(
            "UPDATE log_streams SET status = 'suspended', updated_at = $2 \
             WHERE id = $1 AND status = 'active' AND failing_since <= $3",
        )
        .bind(id)
        .bind(now.0)
        .bind(now.0.saturating_sub(suspend_after_ms))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if suspended {
            follow_in(&mut tx, id, now).await?;
            super::logs::insert_event_in(&mut tx, suspension).await?;
        }
        tx.commit().await?;
        Ok(suspended)
    }
}
