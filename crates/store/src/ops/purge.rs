//! The background purge: removes rows that can no longer matter, in bounded
//! batches. Revocation never waits for it; a row it has not reached yet is
//! already refused on use. Every condition it deletes on is permanent
//! (revoked, expired, an epoch moved on, a parent gone), so judging a row dead
//! and deleting it later cannot race with it coming back to life.

use grantor_domain::Timestamp;
use sqlx::FromRow;

use super::{placeholders, Backend, Conn, IN_IDS_END, IN_IDS_OF, SKIP_LOCKED};
use crate::{PurgePlan, PurgeReport, StoreResult, TableSizes};

/// Sessions, codes and device codes are kept this long after they end or
/// expire: a code or device approval issued just before a session ended still
/// finds it, a replayed code is still recognised (and what it issued revoked),
/// and a late device poll still hears `expired_token`.
const GRACE_MS: i64 = 60 * 60 * 1000;
/// Brute-force and guessing counters are kept this long (longer than any
/// of their windows).
const ATTEMPT_WINDOW_KEEP_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(FromRow)]
struct Examined {
    id: String,
    dead: i64,
}

/// Where a keyset walk resumes (empty once a batch came back short, so the
/// next pass starts over) and the ids of the batch found dead.
fn split_walk(examined: Vec<Examined>, limit: i64) -> (String, Vec<String>) {
    let resume = if (examined.len() as i64) < limit {
        String::new()
    } else {
        examined.last().map(|e| e.id.clone()).unwrap_or_default()
    };
    let dead = examined
        .into_iter()
        .filter(|e| e.dead == 1)
        .map(|e| e.id)
        .collect();
    (resume, dead)
}

async fn delete_ids_in(
    conn: &mut Conn,
    table: &str,
    column: &str,
    ids: &[String],
) -> StoreResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "DELETE FROM {table} WHERE {column} IN ({})",
        placeholders(1, ids.len())
    );
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
}

/// How long before its audit event is purged an SSF event still waiting is
/// failed (`expired_ssf_events`), and a staged one deleted.
pub(crate) const SSF_EXPIRY_LEAD_MS: i64 = 3_600_000;

/// Deletes up to `limit` rows of `table` whose `order_column` is before
/// `cutoff`, oldest first; `key` identifies a row (all rows with a key
/// value picked go, so a composite key's table may lose a few more).
async fn delete_before<T>(
    backend: &Backend,
    table: &str,
    key: &str,
    order_column: &str,
    cutoff: T,
    limit: i64,
) -> StoreResult<u64>
where
    T: for<'q> sqlx::Encode<'q, super::Db> + sqlx::Type<super::Db> + Send,
{
    let mut tx = backend.begin_write().await?;
    let sql = format!(
        "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {order_column} < $1 ORDER BY {order_column} LIMIT $2)"
    );
    let n = sqlx::query(&sql)
        .bind(cutoff)
        .bind(limit)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}

impl Backend {
    pub async fn table_sizes(&self) -> StoreResult<TableSizes> {
        let (refresh_token_families, refresh_token_secrets, access_tokens, sessions, logs) =
            sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM refresh_token_families), \
                 (SELECT COUNT(*) FROM refresh_token_secrets), \
                 (SELECT COUNT(*) FROM access_tokens), \
                 (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM logs)",
            )
            .fetch_one(&self.pool)
            .await?;
        Ok(TableSizes {
            refresh_token_families,
            refresh_token_secrets,
            access_tokens,
            sessions,
            logs,
        })
    }

    /// One purge pass: looks at no more than `batch_size` rows per table.
    pub async fn purge(&self, plan: &PurgePlan, now: Timestamp) -> StoreResult<PurgeReport> {
        let limit = plan.batch_size.max(1);
        let mut report = PurgeReport::default();

        // Families: walk the table by id, a batch at a time, and delete the
        // dead ones of the batch with their secrets.
        let mut tx = self.begin_write().await?;
        let examined: Vec<Examined> = sqlx::query_as(
            "SELECT f.id, CASE WHEN f.revoked_at IS NOT NULL \
               OR (f.expires_at IS NOT NULL AND f.expires_at <= $2) \
               OR (f.idle_expires_at IS NOT NULL AND f.idle_expires_at <= $2) \
               OR g.id IS NULL OR g.token_epoch <> f.grant_epoch \
               OR u.user_id IS NULL OR u.refresh_token_epoch <> f.user_epoch \
               OR (f.session_id IS NOT NULL AND (se.id IS NULL OR se.revoked_at IS NOT NULL)) \
               THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END AS dead \
             FROM refresh_token_families f \
             LEFT JOIN grants g ON g.id = f.grant_id \
             LEFT JOIN users u ON u.user_id = f.user_id \
             LEFT JOIN sessions se ON se.id = f.session_id \
             WHERE f.id > $1 ORDER BY f.id LIMIT $3",
        )
        .bind(&plan.families_after)
        .bind(now.0)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let dead;
        (report.families_after, dead) = split_walk(examined, limit);
        report.refresh_token_secrets =
            delete_ids_in(&mut tx, "refresh_token_secrets", "family_id", &dead).await?;
        delete_ids_in(&mut tx, "family_resources", "family_id", &dead).await?;
        report.refresh_token_families =
            delete_ids_in(&mut tx, "refresh_token_families", "id", &dead).await?;
        tx.commit().await?;

        // Sessions: a revoked one goes at once (everything bound to it is
        // refused already); an ended or expired one only once no refresh
        // token or live access token still names it.
        let mut tx = self.begin_write().await?;
        let grace_cutoff = now.0 - GRACE_MS;
        let examined: Vec<Examined> = sqlx::query_as(
            "SELECT s.id, CASE WHEN s.revoked_at IS NOT NULL \
               OR ((s.ended_at < $2 OR s.expires_at < $2 OR s.idle_expires_at < $2) \
                   AND NOT EXISTS (SELECT 1 FROM refresh_token_families f WHERE f.session_id = s.id) \
                   AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.session_id = s.id AND a.expires_at > $3)) \
               THEN CAST(1 AS BIGINT) ELSE CAST(0 AS BIGINT) END AS dead \
             FROM sessions s WHERE s.id > $1 ORDER BY s.id LIMIT $4",
        )
        .bind(&plan.sessions_after)
        .bind(grace_cutoff)
        .bind(now.0)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let dead;
        (report.sessions_after, dead) = split_walk(examined, limit);
        delete_ids_in(&mut tx, "session_clients", "session_id", &dead).await?;
        report.sessions = delete_ids_in(&mut tx, "sessions", "id", &dead).await?;
        tx.commit().await?;

        report.access_tokens =
            delete_before(self, "access_tokens", "jti", "expires_at", now.0, limit).await?;
        report.authorization_codes = delete_before(
            self,
            "authorization_codes",
            "code_hash",
            "expires_at",
            grace_cutoff,
            limit,
        )
        .await?;
        report.authorization_requests = delete_before(
            self,
            "authorization_requests",
            "id",
            "expires_at",
            now.0,
            limit,
        )
        .await?;
        report.device_codes = delete_before(
            self,
            "device_codes",
            "device_code_hash",
            "expires_at",
            grace_cutoff,
            limit,
        )
        .await?;
        report.dpop_proofs =
            delete_before(self, "dpop_proofs", "proof_key", "expires_at", now.0, limit).await?;
        report.pushed_authorization_requests = delete_before(
            self,
            "pushed_authorization_requests",
            "request_uri_hash",
            "expires_at",
            now.0,
            limit,
        )
        .await?;
        report.attempt_counters = delete_before(
            self,
            "attempt_counters",
            "counter_key",
            "window_start",
            now.0 - ATTEMPT_WINDOW_KEEP_MS,
            limit,
        )
        .await?;
        // An SSF event waiting for a poll, or held by a paused stream,
        // cannot wait longer than the audit event its SET is built from:
        // it is failed (shown in deliveries, purged like the rest) an hour
        // before that event goes, so a pass that cannot expire them all
        // leaves the next passes time to. The outer conditions are checked
        // again: on PostgreSQL a row a poll settled or a worker claimed
        // since the subquery read it must be left alone. Rows another
        // transaction holds (a poll settling them, a stream's status change)
        // are skipped, not waited for: the purge never waits in a lock
        // cycle with them, and takes those rows at a later pass. The ids
        // are picked once (`= ANY(ARRAY(…))` on PostgreSQL; an `IN` may run
        // the locking subquery again and take more than the limit).
        report.expired_ssf_events = {
            let mut tx = self.begin_write().await?;
            let n = sqlx::query(&format!(
                "UPDATE outbox SET status = 'failed', finished_at = $2, lease_owner = NULL, lease_until = NULL, \
                 last_error = 'expired: not delivered within the audit log retention' \
                 WHERE id{IN_IDS_OF}SELECT id FROM outbox w WHERE {} AND w.created_at < $1 ORDER BY w.created_at LIMIT $3{SKIP_LOCKED}{IN_IDS_END} \
                 AND {}",
                super::outbox::waiting("w"),
                super::outbox::waiting("outbox"),
            ))
            .bind(plan.logs_before.0.saturating_add(SSF_EXPIRY_LEAD_MS))
            .bind(now.0)
            .bind(limit)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            n
        };
        // Staged SSF events no fan-out took (delivery off, no poll) go an
        // hour before their audit events, as waiting SSF events do, so no
        // fan-out makes a message whose event is gone. The key's order is
        // time order (a log id starts with its time in milliseconds, 20
        // digits), so the walk needs no index of its own.
        report.ssf_backlog = delete_before(
            self,
            "ssf_backlog",
            "log_id",
            "log_id",
            format!(
                "{:020}",
                plan.logs_before.0.saturating_add(SSF_EXPIRY_LEAD_MS).max(0)
            ),
            limit,
        )
        .await?;
        report.logs =
            delete_before(self, "logs", "log_id", "date", plan.logs_before.0, limit).await?;
        // Delivered and given-up messages are kept as long as audit events;
        // pending ones (`finished_at` NULL) never match.
        report.outbox = delete_before(
            self,
            "outbox",
            "id",
            "finished_at",
            plan.logs_before.0,
            limit,
        )
        .await?;
        // Staged stream events whose audit event is past retention (no
        // worker took them), and finished stream batches after a day.
        report.log_stream_backlog = delete_before(
            self,
            "log_stream_backlog",
            "log_id",
            "staged_at",
            plan.logs_before.0,
            limit,
        )
        .await?;
        report.log_stream_batches = {
            let mut tx = self.begin_write().await?;
            let n = sqlx::query(
                "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE kind = 'log_stream_batch' \
                 AND finished_at < $1 ORDER BY finished_at LIMIT $2)",
            )
            .bind(now.0 - super::log_streams::FINISHED_BATCH_RETENTION_MS)
            .bind(limit)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            n
        };
        Ok(report)
    }
}
