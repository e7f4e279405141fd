//! The queries, written once and mounted by both backend modules
//! (`sqlite/mod.rs`, `postgres/mod.rs`), which supply `Db` and `begin_write`.
//! Placeholders are `$n`, which both engines accept.

use super::{begin_write, Db};

mod admin_sessions;
mod attempts;
mod bootstrap;
mod client_grants;
mod clients;
mod codes;
mod device_codes;
mod grants;
mod logs;
mod purge;
mod refresh_tokens;
mod resource_servers;
mod revocation;
mod sessions;
mod tenant;
mod token_queries;
mod users;

/// One backend's connection pool; the operations are `impl` blocks in the
/// submodules, one per table family.
#[derive(Clone)]
pub struct Backend {
    pub(crate) pool: sqlx::Pool<Db>,
    /// SQLite has one writer at a time: writers of this process take turns
    /// here, in order, instead of sleeping and retrying on SQLite's busy
    /// handler (which made tail latency jump under load). `None` for
    /// PostgreSQL, whose writers run concurrently.
    pub(crate) write_turn: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

/// A write transaction, holding this process's write turn (SQLite) until it
/// commits or rolls back. Derefs to the connection, like a transaction.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, Db>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.tx
    }
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl Backend {
    pub(crate) fn new(pool: sqlx::Pool<Db>, single_writer: bool) -> Self {
        Self {
            pool,
            write_turn: single_writer.then(Default::default),
        }
    }

    /// Opens a write transaction (after taking this process's turn, where
    /// the engine has a single writer).
    pub(crate) async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let turn = match &self.write_turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        };
        let tx = begin_write(&self.pool).await?;
        Ok(WriteTx { tx, _turn: turn })
    }
}

/// A connection of this backend, as borrowed from a transaction (`&mut tx`).
type Conn = <Db as sqlx::Database>::Connection;

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
