//! The queries, written once and mounted by both backend modules
//! (`sqlite/mod.rs`, `postgres/mod.rs`), which supply `Db` and `begin_write`.
//! Placeholders are `$n`, which both engines accept.

use super::{
    analyze_tables, begin_write, Db, BYTE_ORDER, DML_IN_WITH, EXPLAIN, FAMILY_ROW_KEY,
    FOR_SHARE_OF_STREAMS, FOR_UPDATE, IN_IDS_END, IN_IDS_OF, LOCK_SSF_FAN_OUT, ONE_CALL_BATCHES,
    PREFER_INDEXES, SKIP_LOCKED,
};
pub(crate) use group_commit::{BatchedTx, GroupCommit};

mod admin_sessions;
mod attempts;
mod batch;
mod bootstrap;
mod client_grants;
mod clients;
mod codes;
mod device_codes;
mod device_public_keys;
mod dpop;
mod grants;
mod group_commit;
mod import;
mod log_streams;
mod logs;
mod metadata;
mod outbox;
mod purge;
mod pushed_requests;
mod readiness;
mod refresh_tokens;
mod resource_servers;
mod revocation;
mod sessions;
mod signing_keys;
mod ssf;
mod tenant;
mod token_queries;
mod user_search;
mod users;

/// One backend's connection pool; the operations are `impl` blocks in the
/// submodules, one per table family.
#[derive(Clone)]
pub struct Backend {
    pub(crate) pool: sqlx::Pool<Db>,
    /// SQLite has one writer at a time: this process's writes share one
    /// writer connection and are committed in groups (see `group_commit`).
    /// `None` for PostgreSQL, whose writers run concurrently on the pool and
    /// whose commits the server already groups.
    pub(crate) writer: Option<std::sync::Arc<GroupCommit>>,
    /// Told how long each `Store` operation took (`Store::observe_operations`).
    pub(crate) observer: crate::ObserverSlot,
}

/// A write transaction: a pool transaction (PostgreSQL) or one write of a
/// group commit (SQLite). Derefs to the connection, like a transaction.
pub(crate) enum WriteTx {
    Pool(sqlx::Transaction<'static, Db>),
    Batched(BatchedTx),
}

impl std::ops::Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match self {
            WriteTx::Pool(tx) => tx,
            WriteTx::Batched(tx) => tx.conn_ref(),
        }
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        match self {
            WriteTx::Pool(tx) => tx,
            WriteTx::Batched(tx) => tx.conn(),
        }
    }
}

impl WriteTx {
    /// Returns once the write is durable.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            WriteTx::Pool(tx) => tx.commit().await,
            WriteTx::Batched(tx) => tx.commit().await,
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            WriteTx::Pool(tx) => tx.rollback().await,
            WriteTx::Batched(tx) => tx.rollback().await,
        }
    }
}

impl Backend {
    pub(crate) fn new(pool: sqlx::Pool<Db>, writer: Option<std::sync::Arc<GroupCommit>>) -> Self {
        Self {
            pool,
            writer,
            observer: crate::ObserverSlot::default(),
        }
    }

    /// The pool's connections now: open, idle, and the most it opens.
    pub(crate) fn pool_stats(&self) -> crate::PoolStats {
        crate::PoolStats {
            size: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
            dedicated_writer: self.writer.is_some(),
        }
    }

    /// Opens a write transaction.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        match &self.writer {
            Some(writer) => Ok(WriteTx::Batched(writer.begin().await?)),
            None => Ok(WriteTx::Pool(begin_write(&self.pool).await?)),
        }
    }

    /// Commits any open group, then closes the writer connection and the
    /// pool (the last connection to close checkpoints SQLite's WAL).
    pub(crate) async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }
}

/// Parameters per multi-row statement. Both engines allow far more, but
/// sqlx's SQLite driver looks each `$n` up by name among all of a
/// statement's parameters, so binding costs grow with the square of their
/// number: at 8,000 parameters a bulk import spent 75% of its time in
/// `sqlite3_bind_parameter_name`, at 1,000 still 44% (docs/benchmarks.md).
const MAX_BINDS: usize = 250;

/// A connection of this backend, as borrowed from a transaction (`&mut tx`).
type Conn = <Db as sqlx::Database>::Connection;

/// A result row of this backend.
type DbRow = <Db as sqlx::Database>::Row;

/// `t.a AS t_a, t.b AS t_b, …`: a joined table's columns under a prefix, so
/// they cannot collide with the main table's.
fn prefixed(table: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{c} AS {table}_{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lists of strings are stored as JSON text in both engines.
fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

/// `$from, $from+1, …`: `n` placeholders for an `IN (…)` list.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn from_json(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}
