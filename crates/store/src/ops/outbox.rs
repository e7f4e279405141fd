//! The durable outbox (`outbox`): messages to other systems are written in
//! the transaction of the change they announce (`enqueue_*_in`, called by
//! the revocation and logout writes), then claimed, delivered and settled by
//! `src/outbox.rs`. A claim is a lease: one conditional `UPDATE` that takes
//! due messages whose lease is free or ran out (on PostgreSQL with
//! `FOR UPDATE SKIP LOCKED`, so processes sharing the database claim
//! disjoint messages; SQLite's write lock serialises claims), and a message
//! is settled only by the claim that holds it.

use grantor_domain::Timestamp;
use sqlx::FromRow;

use super::{placeholders, Backend, Conn, FOR_UPDATE, IN_IDS_END, IN_IDS_OF, SKIP_LOCKED};
use crate::{
    DeliveryOutcome, OutboxClaim, OutboxFilter, OutboxKind, OutboxMessage, OutboxStatus, Page,
    PageRequest, StoreResult,
};

pub(super) const COLUMNS: &str = "id, kind, destination, client_id, user_id, session_id, log_id, created_at, status, attempts, next_attempt_at, last_error, finished_at, payload";

#[derive(FromRow)]
pub(super) struct Row {
    pub(super) id: String,
    kind: String,
    destination: String,
    client_id: Option<String>,
    user_id: Option<String>,
    session_id: Option<String>,
    log_id: Option<String>,
    created_at: i64,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    finished_at: Option<i64>,
    payload: Option<String>,
}

impl Row {
    /// `None` for a kind or status this version does not know (written by a
    /// newer process sharing the database): it is left alone.
    pub(super) fn into_message(self) -> Option<OutboxMessage> {
        Some(OutboxMessage {
            kind: OutboxKind::parse(&self.kind)?,
            status: OutboxStatus::parse(&self.status)?,
            id: self.id,
            destination: self.destination,
            client_id: self.client_id,
            user_id: self.user_id,
            session_id: self.session_id,
            log_id: self.log_id,
            created_at: Timestamp(self.created_at),
            attempts: self.attempts,
            next_attempt_at: Timestamp(self.next_attempt_at),
            last_error: self.last_error,
            finished_at: self.finished_at.map(Timestamp),
            payload: self.payload,
        })
    }
}

/// The start of every statement that queues messages (`INSERT … SELECT`
/// follows): the columns a new message sets.
pub(super) const INSERT_MESSAGE: &str = "INSERT INTO outbox (id, kind, destination, client_id, user_id, session_id, log_id, created_at, status, attempts, next_attempt_at)";

/// Waiting messages of one stream that one transaction moves or ends after
/// the stream changed (paused, resumed, switched, disabled, deleted):
/// the change's own transaction takes the first batch, the sweep
/// ([`Backend::sweep_outbox`]) the rest, so no transaction is as long as a
/// backlog.
pub(super) const SWEEP_BATCH: i64 = 1000;

/// What one batch of a stream's waiting messages came to.
#[derive(Debug, Clone, Default)]
pub(super) struct Swept {
    /// Messages moved or ended.
    pub(super) moved: u64,
    /// Whether more are left for the next batch.
    pub(super) more: bool,
    /// Why the stream's state ends its waiting messages, when it does (it
    /// is disabled, stopped or deleted): a change that leaves more for the
    /// sweep records this as its drop (see [`mark_for_sweep_in`]).
    pub(super) drops: Option<String>,
}

/// Where one message kind's waiting messages of a stream (`o.destination =
/// $1`) are found: its partial index's predicate and, as the `ORDER BY`,
/// the rest of that index's key, so both engines walk that index, oldest
/// first, and a batch reads only messages still to move.
pub(super) type Waiting = (&'static str, &'static str);

/// SSF events to push (`outbox_claimable_destination`, 0017).
pub(super) const PUSHED: Waiting = (
    "o.status = 'pending' AND o.kind IN ('backchannel_logout', 'ssf_push') AND o.kind = 'ssf_push'",
    "o.next_attempt_at, o.id",
);
/// SSF events waiting for a poll (`outbox_poll`, 0021).
pub(super) const POLLED: Waiting = (
    "o.status = 'pending' AND o.kind = 'ssf_poll'",
    "o.created_at, o.id",
);
/// SSF events of a paused stream (`outbox_held`, 0029).
pub(super) const HELD: Waiting = ("o.status = 'pending' AND o.kind = 'ssf_held'", "o.id");
/// Log stream batches (`outbox_stream_pending`, 0017).
pub(super) const BATCHES: Waiting = (
    "o.status = 'pending' AND o.kind = 'log_stream_batch'",
    "o.id",
);
/// Every kind a stream's change moves or ends.
const ALL_WAITING: [Waiting; 4] = [PUSHED, POLLED, HELD, BATCHES];

/// What a batch does to the messages it takes.
pub(super) enum Set<'a> {
    /// Moves them to this kind.
    Kind(&'static str),
    /// Ends them as failed with this error.
    Fail(&'a str),
}

/// Moves or ends up to `limit` unleased waiting messages of `destination`
/// of one kind (`waiting`), only those made up to `until` when given; how
/// many. The ids are chosen first, then updated by primary key, with no
/// partial index's predicate in the update itself: PostgreSQL, whose
/// statistics rarely know how many messages wait, would otherwise walk
/// that index and filter the ids. The stream's row lock, taken by every
/// caller first, keeps any other change of these messages' kind out.
pub(super) async fn move_waiting_in(
    conn: &mut Conn,
    destination: &str,
    (predicate, order): Waiting,
    set: &Set<'_>,
    until: Option<i64>,
    limit: i64,
    now: Timestamp,
) -> StoreResult<u64> {
    if limit <= 0 {
        return Ok(0);
    }
    let until_sql = if until.is_some() {
        " AND o.created_at <= $5"
    } else {
        ""
    };
    let chosen = format!(
        "SELECT o.id FROM outbox o WHERE o.destination = $1 AND {predicate} \
         AND (o.lease_until IS NULL OR o.lease_until <= $2){until_sql} ORDER BY {order} LIMIT $3"
    );
    let (assignment, value) = match set {
        Set::Kind(kind) => ("kind = $4", *kind),
        Set::Fail(reason) => (
            "status = 'failed', last_error = $4, finished_at = $2, lease_until = NULL",
            *reason,
        ),
    };
    let sql = format!(
        "UPDATE outbox SET {assignment} WHERE id{IN_IDS_OF}{chosen}{IN_IDS_END} \
         AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $2)"
    );
    let mut query = sqlx::query(&sql)
        .bind(destination)
        .bind(now.0)
        .bind(limit)
        .bind(value);
    if let Some(until) = until {
        query = query.bind(until);
    }
    Ok(query.execute(&mut *conn).await?.rows_affected())
}

/// Whether any unleased waiting message of `destination` of the kinds
/// `sources` is left (made up to `until`, when given).
pub(super) async fn any_waiting_in(
    conn: &mut Conn,
    destination: &str,
    sources: &[Waiting],
    until: Option<i64>,
    now: Timestamp,
) -> StoreResult<bool> {
    any_left_in(conn, destination, sources, until, Some(now)).await
}

/// Whether any waiting message of `destination` of the kinds `sources`
/// is left (made up to `until`, when given), leased ones too unless `now`
/// is given (then only those whose lease is free at `now`).
async fn any_left_in(
    conn: &mut Conn,
    destination: &str,
    sources: &[Waiting],
    until: Option<i64>,
    now: Option<Timestamp>,
) -> StoreResult<bool> {
    if sources.is_empty() {
        return Ok(false);
    }
    let until_sql = if until.is_some() {
        " AND o.created_at <= $3"
    } else {
        ""
    };
    let any = sources
        .iter()
        .map(|(predicate, order)| {
            format!(
                "SELECT COUNT(*) AS n FROM (SELECT o.id FROM outbox o WHERE o.destination = $1 \
                 AND {predicate} AND ($2 < 0 OR o.lease_until IS NULL OR o.lease_until <= $2){until_sql} \
                 ORDER BY {order} LIMIT 1) one"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql = format!("SELECT COALESCE(MAX(n), 0) FROM ({any}) probes");
    let mut query = sqlx::query_scalar::<_, i64>(&sql)
        .bind(destination)
        .bind(now.map_or(-1, |now| now.0));
    if let Some(until) = until {
        query = query.bind(until);
    }
    Ok(query.fetch_one(&mut *conn).await? > 0)
}

/// A stream left for the sweep, as a batch reads it.
pub(super) struct Mark {
    generation: i64,
    drop_until: Option<i64>,
    drop_reason: Option<String>,
}

/// The sweep's mark of `destination`, if any.
async fn mark_of_in(conn: &mut Conn, destination: &str) -> StoreResult<Option<Mark>> {
    let row: Option<(i64, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT generation, drop_until, drop_reason FROM outbox_sweep WHERE destination = $1",
    )
    .bind(destination)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|(generation, drop_until, drop_reason)| Mark {
        generation,
        drop_until,
        drop_reason,
    }))
}

/// A batch's first part, for a stream whose change recorded a drop: ends
/// up to `limit` of the messages made up to the drop's time (of the kinds
/// `sources`), whatever the stream's state now; once none is left, the
/// drop is done and its record goes (unless a change marked the stream
/// again meanwhile). Nothing when no drop is recorded.
pub(super) async fn finish_drop_in(
    conn: &mut Conn,
    destination: &str,
    sources: &[Waiting],
    limit: i64,
    now: Timestamp,
) -> StoreResult<Swept> {
    let mut swept = Swept::default();
    let Some(Mark {
        generation,
        drop_until: Some(until),
        drop_reason,
    }) = mark_of_in(conn, destination).await?
    else {
        return Ok(swept);
    };
    let reason = drop_reason.unwrap_or_default();
    for source in sources {
        let left = limit - swept.moved as i64;
        swept.moved += move_waiting_in(
            conn,
            destination,
            *source,
            &Set::Fail(&reason),
            Some(until),
            left,
            now,
        )
        .await?;
    }
    swept.more = any_waiting_in(conn, destination, sources, Some(until), now).await?;
    // The record goes once nothing of any kind is left to drop, leased
    // messages included (one whose attempt fails comes back, and the claim
    // leaves it alone only while the record says it is dropped); a batch
    // of the other stream family, whose part of the sweep runs too, must
    // not clear a drop that is still under way.
    if !swept.more && !any_left_in(conn, destination, &ALL_WAITING, Some(until), None).await? {
        sqlx::query(
            "UPDATE outbox_sweep SET drop_until = NULL, drop_reason = NULL \
             WHERE destination = $1 AND generation = $2",
        )
        .bind(destination)
        .bind(generation)
        .execute(&mut *conn)
        .await?;
    }
    Ok(swept)
}

/// Leaves `destination` (a stream's id) for the sweep: more of its waiting
/// messages must follow its change than one transaction moves. `drops`:
/// the change ends them (with this error), so those made up to `now` end
/// even if the stream runs again before the sweep reaches them. Each mark
/// draws a new random generation.
pub(super) async fn mark_for_sweep_in(
    conn: &mut Conn,
    destination: &str,
    drops: Option<&str>,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox_sweep (destination, generation, drop_until, drop_reason) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (destination) DO UPDATE SET generation = $2, \
         drop_until = COALESCE($3, outbox_sweep.drop_until), \
         drop_reason = COALESCE($4, outbox_sweep.drop_reason)",
    )
    .bind(destination)
    .bind(rand::random::<i64>())
    .bind(drops.map(|_| now.0))
    .bind(drops)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Leaves every SSF stream of `client_id` (being deleted) for the sweep,
/// which ends their waiting events ("the stream's client was deleted"):
/// as [`mark_for_sweep_in`], with no drop of its own to record.
pub(super) async fn mark_client_streams_in(conn: &mut Conn, client_id: &str) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox_sweep (destination, generation) \
         SELECT id, $2 FROM ssf_streams WHERE client_id = $1 \
         ON CONFLICT (destination) DO UPDATE SET generation = $2",
    )
    .bind(client_id)
    .bind(rand::random::<i64>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A change's part once its first batch ran: when more wait, the stream
/// is left for the sweep, with the change's drop when its state ends them.
pub(super) async fn leave_rest_in(
    conn: &mut Conn,
    destination: &str,
    swept: &Swept,
    now: Timestamp,
) -> StoreResult<()> {
    if swept.more {
        mark_for_sweep_in(conn, destination, swept.drops.as_deref(), now).await?;
    }
    Ok(())
}

/// Session ids per `INSERT … SELECT` (within every engine's parameter limit).
const SESSIONS_PER_STATEMENT: usize = 200;

/// The kinds the worker sends one message at a time, as the partial index
/// `outbox_claimable_destination` (0017) lists them; with
/// `log_stream_batch` (`outbox_stream_pending`), every kind it delivers.
const SENT_ONE_BY_ONE: &str = "'backchannel_logout', 'ssf_push'";

/// Claimable messages of the kinds sent one by one, in table `a`.
fn one_by_one(a: &str) -> String {
    format!("{a}.status = 'pending' AND {a}.kind IN ({SENT_ONE_BY_ONE})")
}

/// A log stream's pending batches in table `a`, as `outbox_stream_pending`
/// (0017) has them.
fn stream_pending(a: &str) -> String {
    format!("{a}.status = 'pending' AND {a}.kind = 'log_stream_batch'")
}

/// SSF events waiting for a receiver's poll or a paused stream, in table
/// `a`, as `outbox_waiting` (0017) has them: never claimed, expired by the
/// purge.
pub(super) fn waiting(a: &str) -> String {
    format!("{a}.status = 'pending' AND {a}.kind IN ('ssf_poll', 'ssf_held')")
}

/// The kinds this version delivers, as an SQL list: a message of a kind a
/// newer process wrote is never claimed here.
fn known_kinds() -> String {
    OutboxKind::ALL
        .iter()
        .filter(|k| k.worker_delivers())
        .map(|k| format!("'{}'", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Before the caller closes the sessions whose `column` (`id` or
/// `user_id`) is `value`: reads the live ones, locking them on PostgreSQL
/// (`FOR_UPDATE`), and queues their back-channel logouts in the caller's
/// transaction. Two closes of one session, or a close racing
/// `touch_session`, serialise on the row, so each session's end is
/// announced once, to every client it was used for.
pub(super) async fn announce_session_ends_in(
    conn: &mut Conn,
    column: &str,
    value: &str,
    log_id: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    let live: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT id FROM sessions WHERE {column} = $1 AND ended_at IS NULL AND revoked_at IS NULL \
         AND expires_at > $2 AND idle_expires_at > $2 ORDER BY id{FOR_UPDATE}"
    ))
    .bind(value)
    .bind(now.0)
    .fetch_all(&mut *conn)
    .await?;
    super::ssf::enqueue_ssf_session_ends_in(conn, &live, log_id, now).await?;
    enqueue_backchannel_logouts_in(conn, &live, log_id, now).await
}

/// Queues a back-channel logout token for every client that registered a
/// `backchannel_logout_url` and was issued tokens in one of `session_ids`
/// (sessions found live and locked by `announce_session_ends_in`). The
/// message id is the audit event's id, the session and the client.
async fn enqueue_backchannel_logouts_in(
    conn: &mut Conn,
    session_ids: &[String],
    log_id: &str,
    now: Timestamp,
) -> StoreResult<u64> {
    let mut queued = 0;
    for chunk in session_ids.chunks(SESSIONS_PER_STATEMENT) {
        let sql = format!(
            "{INSERT_MESSAGE} \
             SELECT $1 || ':' || s.id || ':' || c.client_id, 'backchannel_logout', c.backchannel_logout_url, c.client_id, s.user_id, s.id, $1, $2, 'pending', 0, $2 \
             FROM sessions s \
             JOIN session_clients sc ON sc.session_id = s.id \
             JOIN clients c ON c.client_id = sc.client_id \
             WHERE s.id IN ({}) AND c.backchannel_logout_url IS NOT NULL \
             ON CONFLICT (id) DO NOTHING",
            placeholders(3, chunk.len())
        );
        let mut query = sqlx::query(&sql).bind(log_id).bind(now.0);
        for id in chunk {
            query = query.bind(id);
        }
        queued += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(queued)
}

impl Backend {
    /// Pending messages per kind this version knows (kinds without any are
    /// left out), for the metrics. Each part repeats a partial index's
    /// predicate (0015, 0017), so only pending rows are read, never the
    /// delivered and failed ones kept with the audit log.
    pub async fn outbox_pending_counts(&self) -> StoreResult<Vec<(OutboxKind, i64)>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT o.kind, COUNT(*) FROM outbox o WHERE {} GROUP BY o.kind \
             UNION ALL SELECT o.kind, COUNT(*) FROM outbox o WHERE {} GROUP BY o.kind \
             UNION ALL SELECT o.kind, COUNT(*) FROM outbox o WHERE {} GROUP BY o.kind",
            one_by_one("o"),
            stream_pending("o"),
            waiting("o"),
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, n)| Some((OutboxKind::parse(&kind)?, n)))
            .collect())
    }

    /// Brings the waiting messages of streams left for the sweep
    /// ([`mark_for_sweep_in`]) to their stream's current state, after any
    /// drop their changes recorded: one transaction per batch of
    /// [`SWEEP_BATCH`] (per message kind), up to `max_batches`, taking the
    /// marked streams in turn after `after` (round the list); `only` sweeps
    /// that one stream alone (a poll's own). Each batch locks the stream's
    /// row first, as its changes and polls do, and removes the mark once
    /// nothing is left, unless a change marked it again meanwhile. A read,
    /// and no write, when nothing is marked. Returns how many messages it
    /// moved or ended, and the last stream it swept (the next call's
    /// `after`).
    pub async fn sweep_outbox(
        &self,
        only: Option<&str>,
        after: &str,
        max_batches: usize,
        now: Timestamp,
    ) -> StoreResult<(u64, String)> {
        let mut swept = 0;
        let mut last = after.to_owned();
        for _ in 0..max_batches {
            let marked: Option<(String, i64)> =
                match only {
                    Some(destination) => sqlx::query_as(
                        "SELECT destination, generation FROM outbox_sweep WHERE destination = $1",
                    )
                    .bind(destination)
                    .fetch_optional(&self.pool)
                    .await?,
                    None => {
                        let next = "SELECT destination, generation FROM outbox_sweep \
                         WHERE destination > $1 ORDER BY destination LIMIT 1";
                        match sqlx::query_as(next)
                            .bind(&last)
                            .fetch_optional(&self.pool)
                            .await?
                        {
                            Some(found) => Some(found),
                            None if !last.is_empty() => {
                                sqlx::query_as(next)
                                    .bind("")
                                    .fetch_optional(&self.pool)
                                    .await?
                            }
                            None => None,
                        }
                    }
                };
            let Some((destination, generation)) = marked else {
                break;
            };
            let mut tx = self.begin_write().await?;
            // Both families' stream rows before either part touches the
            // mark (a change locks its stream's row, then the mark): the
            // SSF part locks its row first thing; the log stream's row is
            // locked here, ahead of it.
            sqlx::query(&format!(
                "SELECT id FROM log_streams WHERE id = $1{FOR_UPDATE}"
            ))
            .bind(&destination)
            .fetch_optional(&mut *tx)
            .await?;
            let ssf = super::ssf::follow_stream_in(&mut tx, &destination, now).await?;
            let stream = super::log_streams::end_batches_in(&mut tx, &destination, now).await?;
            let mut unmarked = false;
            if !ssf.more && !stream.more {
                // A drop still recorded waits for messages in flight.
                unmarked = sqlx::query(
                    "DELETE FROM outbox_sweep WHERE destination = $1 AND generation = $2 \
                     AND drop_until IS NULL",
                )
                .bind(&destination)
                .bind(generation)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0;
            }
            tx.commit().await?;
            let moved = ssf.moved + stream.moved;
            swept += moved;
            last = destination;
            if moved == 0 && !unmarked {
                // Nothing to move now and still marked (its drop waits for
                // a lease): the next call comes back to it.
                break;
            }
        }
        Ok((swept, last))
    }

    /// Whether any message is due at `now` (a read; an idle poll writes nothing).
    pub async fn outbox_due(&self, now: Timestamp) -> StoreResult<bool> {
        Ok(sqlx::query_scalar::<_, i64>(&format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE status = 'pending' AND kind IN ({}) AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1) LIMIT 1) due",
            known_kinds()
        ))
        .bind(now.0)
        .fetch_one(&self.pool)
        .await?
            > 0)
    }

    /// Leases up to `claim.limit` due messages to `claim.owner`, oldest due
    /// first, counting an attempt on each.
    pub async fn claim_outbox(
        &self,
        claim: &OutboxClaim,
        now: Timestamp,
    ) -> StoreResult<Vec<OutboxMessage>> {
        // The claim walks destinations, not messages: a receiver that is
        // slow or busy (skipped: no free place in this process) may have
        // any number of messages waiting, and a claim that stepped over
        // each of them would cost as much as that backlog. Two loose index
        // scans list the destinations with waiting messages, one probe per
        // destination: `dests` over `outbox_claimable_destination` (the
        // kinds sent one by one), `streams` over `outbox_stream_pending`
        // (log stream batches). `picked` then takes, per destination not
        // skipped, up to `per_destination` due messages (the n-th by its
        // own probe, `OFFSET n`: neither engine lets a correlated value set
        // a `LIMIT`), and per log stream its oldest pending batch only: a
        // stream's batches go one at a time, oldest first (a batch id
        // starts with its first log id), in every process together, so a
        // busy stream's later batches are never claimed just to be given
        // back. `due` keeps those that are due and not leased. Each probe's
        // `ORDER BY` is its index's whole key, so PostgreSQL walks that
        // index rather than `outbox_destination`, whose entries include
        // the kinds never claimed (a poll stream's waiting events).
        // The due ids are chosen (and on PostgreSQL locked) once, in a
        // materialized CTE: as `IN (subquery)` PostgreSQL may run the
        // locking subquery again while updating and take more than `limit`.
        let skip = |column: &str| {
            if claim.skip_destinations.is_empty() {
                String::new()
            } else {
                format!(
                    "AND {column} NOT IN ({})",
                    placeholders(5, claim.skip_destinations.len())
                )
            }
        };
        let mut picks: Vec<String> = (0..claim.per_destination.clamp(1, 16))
            .map(|n| {
                format!(
                    "SELECT (SELECT r.id FROM outbox r WHERE r.destination = dests.d AND {} \
                     AND r.next_attempt_at <= $3 AND (r.lease_until IS NULL OR r.lease_until <= $3) \
                     ORDER BY r.next_attempt_at, r.id LIMIT 1 OFFSET {n}) FROM dests WHERE dests.d IS NOT NULL {}",
                    one_by_one("r"),
                    skip("dests.d")
                )
            })
            .collect();
        picks.push(format!(
            "SELECT (SELECT MIN(p.id) FROM outbox p WHERE p.destination = streams.d AND {}) \
             FROM streams WHERE streams.d IS NOT NULL {}",
            stream_pending("p"),
            skip("streams.d")
        ));
        let sql = format!(
            "WITH RECURSIVE dests(d) AS ( \
               SELECT (SELECT o.destination FROM outbox o WHERE {one_o} ORDER BY o.destination, o.next_attempt_at, o.id LIMIT 1) \
               UNION ALL \
               SELECT (SELECT o.destination FROM outbox o WHERE {one_o} AND o.destination > dests.d ORDER BY o.destination, o.next_attempt_at, o.id LIMIT 1) \
               FROM dests WHERE dests.d IS NOT NULL), \
             streams(d) AS ( \
               SELECT (SELECT o.destination FROM outbox o WHERE {stream_o} ORDER BY o.destination, o.id LIMIT 1) \
               UNION ALL \
               SELECT (SELECT o.destination FROM outbox o WHERE {stream_o} AND o.destination > streams.d ORDER BY o.destination, o.id LIMIT 1) \
               FROM streams WHERE streams.d IS NOT NULL), \
             picked(id) AS ({picks}), \
             due AS MATERIALIZED (SELECT o.id FROM outbox o WHERE o.id{IN_IDS_OF}SELECT id FROM picked WHERE id IS NOT NULL{IN_IDS_END} \
               AND o.status = 'pending' AND o.kind IN ({kinds}) AND o.next_attempt_at <= $3 \
               AND (o.lease_until IS NULL OR o.lease_until <= $3) \
               AND NOT EXISTS (SELECT 1 FROM outbox_sweep w WHERE w.destination = o.destination AND o.created_at <= w.drop_until) \
               ORDER BY o.next_attempt_at, o.id LIMIT $4{SKIP_LOCKED}) \
             UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM due) \
             AND status = 'pending' AND (lease_until IS NULL OR lease_until <= $3) \
             RETURNING {COLUMNS}",
            picks = picks.join(" UNION ALL "),
            kinds = known_kinds(),
            one_o = one_by_one("o"),
            stream_o = stream_pending("o"),
        );
        let mut tx = self.begin_write().await?;
        let mut query = sqlx::query_as(&sql)
            .bind(&claim.owner)
            .bind(claim.lease_until.0)
            .bind(now.0)
            .bind(claim.limit);
        for destination in &claim.skip_destinations {
            query = query.bind(destination);
        }
        let rows: Vec<Row> = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut messages: Vec<OutboxMessage> =
            rows.into_iter().filter_map(Row::into_message).collect();
        messages.sort_by(|a, b| (a.next_attempt_at, &a.id).cmp(&(b.next_attempt_at, &b.id)));
        Ok(messages)
    }

    /// Records how an attempt ended; false when `owner` no longer holds the
    /// message (its lease ran out and another claim took it). A finished
    /// message keeps its last owner (which process sent it).
    pub async fn settle_outbox(
        &self,
        id: &str,
        owner: &str,
        outcome: &DeliveryOutcome,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (status, next_attempt_at, error, finished_at) = match outcome {
            DeliveryOutcome::Delivered => ("delivered", None, None, Some(now.0)),
            DeliveryOutcome::Retry {
                error,
                next_attempt_at,
            } => (
                "pending",
                Some(next_attempt_at.0),
                Some(error.as_str()),
                None,
            ),
            DeliveryOutcome::GaveUp { error } => {
                ("failed", None, Some(error.as_str()), Some(now.0))
            }
        };
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE outbox SET status = $3, next_attempt_at = COALESCE($4, next_attempt_at), \
             last_error = COALESCE($5, last_error), finished_at = $6, lease_until = NULL, \
             lease_owner = CASE WHEN $3 = 'pending' THEN NULL ELSE lease_owner END \
             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .bind(status)
        .bind(next_attempt_at)
        .bind(error)
        .bind(finished_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Gives a claimed message back without an attempt (it was not sent):
    /// due again at `next_attempt_at`. False when `owner` no longer holds it.
    pub async fn release_outbox(
        &self,
        id: &str,
        owner: &str,
        next_attempt_at: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, attempts = attempts - 1, next_attempt_at = $3 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'pending'",
        )
        .bind(id)
        .bind(owner)
        .bind(next_attempt_at.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Messages matching `filter`, newest first (`created_at`, then id);
    /// `total` counts every match.
    pub async fn list_outbox(
        &self,
        filter: &OutboxFilter,
        page: PageRequest,
    ) -> StoreResult<Page<OutboxMessage>> {
        const MATCHES: &str = "FROM outbox WHERE ($1 IS NULL OR client_id = $1) AND ($2 IS NULL OR session_id = $2) AND ($3 IS NULL OR status = $3) \
             AND ($4 IS NULL OR kind = $4) AND ($5 IS NULL OR destination = $5)";
        let status = filter.status.map(OutboxStatus::as_str);
        let kind = filter.kind.map(OutboxKind::as_str);
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} {MATCHES} ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7"
        ))
        .bind(filter.client_id.as_deref())
        .bind(filter.session_id.as_deref())
        .bind(status)
        .bind(kind)
        .bind(filter.destination.as_deref())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) {MATCHES}"))
            .bind(filter.client_id.as_deref())
            .bind(filter.session_id.as_deref())
            .bind(status)
            .bind(kind)
            .bind(filter.destination.as_deref())
            .fetch_one(&self.pool)
            .await?;
        Ok(Page {
            items: rows.into_iter().filter_map(Row::into_message).collect(),
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    /// The claim's two index walks cover every kind the worker delivers.
    #[test]
    fn the_claims_kinds_are_the_delivered_kinds() {
        assert_eq!(
            super::known_kinds(),
            "'backchannel_logout', 'log_stream_batch', 'ssf_push'"
        );
        assert_eq!(super::SENT_ONE_BY_ONE, "'backchannel_logout', 'ssf_push'");
    }
}
