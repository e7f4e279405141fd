//! The queries, written once and mounted by both backend modules
//! (`sqlite/mod.rs`, `postgres/mod.rs`), which supply `Db` and `begin_write`.
//! Placeholders are `$n`, which both engines accept.

use super::{begin_write, Db};

mod admin_sessions;
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
}

/// A connection of this backend, as borrowed from a transaction (`&mut tx`).
type Conn = <Db as sqlx::Database>::Connection;

/// Lists of strings are stored as JSON text in both engines.
fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

fn from_json(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}
