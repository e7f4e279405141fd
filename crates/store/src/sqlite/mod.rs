//! SQLite backend: one file, WAL journal; this process's writes go through one
//! writer connection in group commits (`ops/group_commit.rs`), and processes
//! sharing the file take SQLite's write lock with `BEGIN IMMEDIATE`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreResult;

pub type Db = sqlx::Sqlite;

/// A write's statements go to the connection's thread in one call
/// (`ops/batch.rs`): SQLite runs several statements of one prepared query.
pub(crate) const ONE_CALL_BATCHES: bool = true;

/// How a query names a stored family cheaply (`ops/revocation.rs`): the
/// rowid, which every SQLite index holds, so a scan of candidate families is
/// read from the index alone.
pub(crate) const FAMILY_ROW_KEY: &str = "rowid";

/// How a write locks rows it reads first: SQLite has one writer, so a read inside a write transaction needs no row lock.
pub(crate) const FOR_UPDATE: &str = "";

/// How a change that queues SSF events reads the streams: SQLite has one
/// writer, so a stream's status cannot change during the change.
pub(crate) const FOR_SHARE_OF_STREAMS: &str = "";

/// How an outbox claim locks the rows it takes: SQLite has one writer: a claim needs no row locks.
pub(crate) const SKIP_LOCKED: &str = "";

/// How a fan-out of staged SSF events (`ops/ssf.rs`) excludes the others:
/// SQLite has one writer, so nothing more is needed.
pub(crate) const LOCK_SSF_FAN_OUT: Option<&str> = None;

/// Whether a statement may run an `INSERT` in a `WITH` clause: SQLite
/// cannot, so an audit event and its staging for the log streams are two
/// statements, sent in one call (`ops/logs.rs`).
pub(crate) const DML_IN_WITH: bool = false;

/// `x IN_IDS_OF (subquery) IN_IDS_END`: a plain `IN` (SQLite probes the
/// primary key per id).
pub(crate) const IN_IDS_OF: &str = " IN (";
pub(crate) const IN_IDS_END: &str = ")";

/// Appended to a text column to compare it in code point (UTF-8 byte)
/// order: SQLite's BINARY collation (the user search, migration 18).
pub(crate) const BYTE_ORDER: &str = " COLLATE BINARY";

/// SQLite's planner needs no push towards an index (`Store::user_search_plan`).
pub(crate) const PREFER_INDEXES: Option<&str> = None;

/// How a statement's plan is asked for.
pub(crate) const EXPLAIN: &str = "EXPLAIN QUERY PLAN ";

/// The migrations this binary embeds and runs at start; readiness compares
/// the database's applied versions with them.
pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

#[path = "../ops/mod.rs"]
pub mod ops;

pub(crate) async fn connect(url: &str) -> StoreResult<ops::Backend> {
    // Two processes opening one new file at once can collide while one creates
    // the file, switches it to WAL or runs a migration (sqlx takes no lock for
    // SQLite migrations): the loser fails fast ("database is locked", "table
    // already exists") and its transaction rolls back. Trying again then finds
    // the work done, so retry with a growing pause before giving up.
    let mut attempt: u64 = 0;
    loop {
        match open_and_migrate(url).await {
            Ok(backend) => return Ok(backend),
            Err(_) if attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

async fn open_and_migrate(url: &str) -> StoreResult<ops::Backend> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit that returned is on disk, so a revocation survives a crash.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        // A file connection does not go stale; skipping sqlx's ping before
        // each acquire saves a round trip per store call.
        .test_before_acquire(false)
        .connect_with(options)
        .await?;
    if let Err(e) = MIGRATOR.run(&pool).await {
        pool.close().await;
        return Err(anyhow::anyhow!(e)
            .context("running SQLite migrations")
            .into());
    }
    // The writer connection leaves the pool for good: every write of this
    // process goes through it, in groups (`ops/group_commit.rs`).
    let mut writer = pool.acquire().await?.detach();
    // Every write walks the indexes it changes; a bigger page cache on the
    // one writer connection keeps their upper levels in memory (32 MiB;
    // readers keep SQLite's default 2 MiB each).
    sqlx::query("PRAGMA cache_size = -32768")
        .execute(&mut writer)
        .await?;
    // The writer's statement journal in memory. Each write of a group
    // commit is a savepoint, so SQLite keeps the original of every page the
    // group changes in a statement journal, which past 64 KiB went to a
    // temporary file: with a few more rows per write (an SSF stream's
    // events) every group commit created, wrote and deleted a file. The
    // journal holds the originals of the pages one group changes; every
    // write is a bounded batch (a purge batch, an import's statements of at
    // most `MAX_BINDS` parameters).
    sqlx::query("PRAGMA temp_store = MEMORY")
        .execute(&mut writer)
        .await?;
    Ok(ops::Backend::new(
        pool,
        Some(ops::GroupCommit::start(writer)),
    ))
}

/// Starts a write transaction holding SQLite's write lock from its first
/// statement, so two writers never deadlock upgrading a read lock.
pub(crate) async fn begin_write(
    pool: &sqlx::Pool<Db>,
) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// Planner statistics after a bulk load: `ANALYZE` as a write, so that it
/// takes its turn with this process's other writes instead of waiting on
/// their lock.
pub(crate) async fn analyze_tables(backend: &ops::Backend, tables: &[&str]) -> StoreResult<()> {
    let mut tx = backend.begin_write().await?;
    for table in tables {
        sqlx::query(&format!("ANALYZE {table}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    /// `.cargo/config.toml` builds the bundled SQLite without STAT4, with
    /// which statements comparing a bound value with a sampled index are
    /// compiled again on every execution. A build that misses the setting
    /// (an inherited `LIBSQLITE3_FLAGS`, a build from outside the
    /// workspace) fails here.
    #[tokio::test]
    async fn the_bundled_sqlite_is_built_without_stat4() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("an in-memory database");
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut conn)
            .await
            .expect("the compile options");
        assert!(
            options.iter().any(|o| o.starts_with("THREADSAFE")),
            "not the list of compile options: {options:?}"
        );
        assert!(
            !options.iter().any(|o| o.contains("STAT4")),
            "SQLite was built with STAT4: {options:?}"
        );
    }
}
