//! SQLite backend: one file, WAL journal, writers serialised by `BEGIN IMMEDIATE`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreResult;

pub type Db = sqlx::Sqlite;

#[path = "../ops/mod.rs"]
pub mod ops;

pub(crate) async fn connect(url: &str) -> StoreResult<ops::Backend> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit that returned is on disk, so a revocation survives a crash.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    migrate(&pool).await?;
    Ok(ops::Backend { pool })
}

/// Starts a write transaction holding SQLite's write lock from its first
/// statement, so two writers never deadlock upgrading a read lock.
pub(crate) async fn begin_write(
    pool: &sqlx::Pool<Db>,
) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// sqlx takes no lock for SQLite migrations, so two processes starting on one
/// new file can both try migration 1; the loser's transaction fails ("table
/// already exists") and rolls back. Trying again then finds it applied.
async fn migrate(pool: &sqlx::Pool<Db>) -> StoreResult<()> {
    let migrator = sqlx::migrate!("../../migrations/sqlite");
    let mut attempt = 0;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(_) if attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => {
                return Err(anyhow::anyhow!(e)
                    .context("running SQLite migrations")
                    .into())
            }
        }
    }
}
