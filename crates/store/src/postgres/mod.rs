//! PostgreSQL backend: several grantor processes may share one database.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::StoreResult;

pub type Db = sqlx::Postgres;

/// PostgreSQL prepares one statement per query: a batch runs statement by
/// statement (`ops/batch.rs`).
pub(crate) const ONE_CALL_BATCHES: bool = false;

/// How a query names a stored family cheaply (`ops/revocation.rs`): its
/// primary key (a heap tuple id is not a stable join key).
pub(crate) const FAMILY_ROW_KEY: &str = "id";

/// How a write locks rows it reads first: Sessions about to be closed are locked when read (`ops/revocation.rs`), so concurrent closes and `touch_session` serialise on them.
pub(crate) const FOR_UPDATE: &str = " FOR UPDATE";

/// How a change that queues SSF events reads the streams (`st`): a share
/// lock, so a status change of a stream waits for the change to commit (and
/// then moves its new messages), or the change waits and sees the new status.
pub(crate) const FOR_SHARE_OF_STREAMS: &str = " FOR SHARE OF st";

/// How an outbox claim locks the rows it takes: Outbox claims skip rows another process is claiming (`ops/outbox.rs`).
pub(crate) const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";

/// How a fan-out of staged SSF events (`ops/ssf.rs`) excludes the others,
/// in every process: a transaction-scoped advisory lock, taken before any
/// stream row is locked, so fan-outs (which share-lock the streams they
/// match) run one at a time and never wait for each other in a cycle.
pub(crate) const LOCK_SSF_FAN_OUT: Option<&str> =
    Some("SELECT pg_advisory_xact_lock(7454127460279349761)");

/// Whether a statement may run an `INSERT` in a `WITH` clause: an audit
/// event and its staging for the log streams are one statement (one round
/// trip) here (`ops/logs.rs`).
pub(crate) const DML_IN_WITH: bool = true;

/// `x IN_IDS_OF (subquery) IN_IDS_END`: PostgreSQL's planner cannot estimate
/// how few ids a `WITH` query yields and may scan the whole table to join
/// them; `= ANY(ARRAY(…))` evaluates the subquery once and probes the index
/// per id (the outbox claim).
pub(crate) const IN_IDS_OF: &str = " = ANY(ARRAY(";
pub(crate) const IN_IDS_END: &str = "))";

/// Appended to a text column to compare it in code point (UTF-8 byte)
/// order, whatever the database's collation: the user search's exact and
/// prefix-range terms, served by the `COLLATE "C"` indexes of migration 18.
pub(crate) const BYTE_ORDER: &str = " COLLATE \"C\"";

/// Makes the planner prefer any usable index for the rest of a transaction
/// (the user search's plan check, `Store::user_search_plan`: an empty test
/// table would otherwise be scanned).
pub(crate) const PREFER_INDEXES: Option<&str> = Some("SET LOCAL enable_seqscan = off");

/// How a statement's plan is asked for.
pub(crate) const EXPLAIN: &str = "EXPLAIN ";

/// The migrations this binary embeds and runs at start; readiness compares
/// the database's applied versions with them.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

#[path = "../ops/mod.rs"]
pub mod ops;

pub(crate) async fn connect(url: &str) -> StoreResult<ops::Backend> {
    let options = PgConnectOptions::from_str(url)?;
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?;
    // sqlx takes an advisory lock, so processes starting together migrate once.
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("running PostgreSQL migrations"))?;
    Ok(ops::Backend::new(pool, None))
}

/// Read committed; correctness comes from conditional updates (compare-and-set)
/// and unique constraints inside the transaction, not from the isolation level.
pub(crate) async fn begin_write(
    pool: &sqlx::Pool<Db>,
) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin().await
}

/// Planner statistics after a bulk load, and the visibility map too:
/// `VACUUM (ANALYZE)` (outside a transaction, as VACUUM must be), so that
/// autovacuum does not start on the imported rows minutes later.
pub(crate) async fn analyze_tables(backend: &ops::Backend, tables: &[&str]) -> StoreResult<()> {
    for table in tables {
        sqlx::query(&format!("VACUUM (ANALYZE) {table}"))
            .execute(&backend.pool)
            .await?;
    }
    Ok(())
}
