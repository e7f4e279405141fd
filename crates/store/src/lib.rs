//! grantor's storage: the only crate that knows SQL or which database is running.
//!
//! [`Store`] is a closed enum over the two backends. Each backend module sets a
//! `Db` type and its transaction opener, then mounts the same `ops` source
//! files, so every query is written once and compiled for both engines; the
//! few places where the engines differ live in `sqlite/mod.rs` and
//! `postgres/mod.rs`. Every public operation is one transaction.

// Mounting `ops/` once per backend is the design (see above), not an accident.
#![allow(clippy::duplicate_mod)]

mod postgres;
mod sqlite;

use grantor_domain::{Client, ClientGrant, ResourceServer, TenantSettings, Timestamp, User};

pub use records::*;

mod records;

/// Failures the callers can act on; everything else is `Unavailable`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule would be broken (duplicate identifier, email, …).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A referenced row (client, API, …) does not exist.
    #[error("missing reference: {0}")]
    MissingReference(String),
    #[error("storage unavailable: {0:#}")]
    Unavailable(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                StoreError::MissingReference(db.message().to_owned())
            }
            _ => StoreError::Unavailable(anyhow::Error::new(e)),
        }
    }
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::ops::Backend),
    Postgres(postgres::ops::Backend),
}

impl Store {
    /// Connects to `sqlite://…` or `postgres://…` and runs the migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let store = if url.starts_with("sqlite:") {
            Store::Sqlite(sqlite::connect(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Store::Postgres(postgres::connect(url).await?)
        } else {
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "unsupported database URL scheme (expected sqlite:// or postgres://)"
            )));
        };
        Ok(store)
    }

    /// Which engine runs; for logs and test names only, never for decisions.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        dispatch!(self, b => b.pool.close().await)
    }
}

/// Forwards a call to whichever backend runs.
macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match $self {
            Store::Sqlite($b) => $e,
            Store::Postgres($b) => $e,
        }
    };
}
use dispatch;

/// Declares `Store` methods that forward to the backend method of the same name.
macro_rules! operations {
    ($( $(#[$meta:meta])* fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                $(#[$meta])*
                pub async fn $name(&self $(, $arg: $ty)*) -> StoreResult<$ret> {
                    dispatch!(self, b => b.$name($($arg),*).await)
                }
            )*
        }
    };
}

operations! {
    /// Creates the tenant and everything of the first start, unless some
    /// process already did; returns whether this call did it.
    fn bootstrap(&self, plan: &BootstrapPlan) -> bool;
    /// Points the Management API's identifier at the current issuer.
    fn sync_management_api_identifier(&self, identifier: &str, now: Timestamp) -> ();
    fn signing_keys(&self) -> Vec<SigningKeyRecord>;

    fn tenant_settings(&self) -> TenantSettings;
    fn update_tenant_settings(&self, settings: &TenantSettings) -> ();

    fn insert_client(&self, client: &Client) -> ();
    fn client(&self, client_id: &str) -> Option<Client>;
    fn list_clients(&self, page: PageRequest) -> Page<Client>;
    fn update_client(&self, client: &Client) -> ();
    fn delete_client(&self, client_id: &str) -> bool;

    fn insert_resource_server(&self, rs: &ResourceServer) -> ();
    /// Looks an API up by id or by identifier (audience).
    fn resource_server(&self, id_or_identifier: &str) -> Option<ResourceServer>;
    fn list_resource_servers(&self, page: PageRequest) -> Page<ResourceServer>;
    fn update_resource_server(&self, rs: &ResourceServer) -> ();
    fn delete_resource_server(&self, id: &str) -> bool;

    fn insert_client_grant(&self, grant: &ClientGrant) -> ();
    fn client_grant(&self, id: &str) -> Option<ClientGrant>;
    fn client_grant_for(&self, client_id: &str, audience: &str) -> Option<ClientGrant>;
    fn list_client_grants(&self, filter: &ClientGrantFilter, page: PageRequest) -> Page<ClientGrant>;
    fn update_client_grant(&self, grant: &ClientGrant) -> ();
    fn delete_client_grant(&self, id: &str) -> bool;

    fn insert_user(&self, user: &User) -> ();
    fn user(&self, user_id: &str) -> Option<User>;
    fn user_by_email(&self, connection: &str, email: &str) -> Option<User>;
    fn list_users(&self, filter: &UserFilter, page: PageRequest) -> Page<User>;
    fn update_user(&self, user: &User) -> ();
    fn delete_user(&self, user_id: &str) -> bool;

    fn admin_password_hash(&self, email: &str) -> Option<String>;
}
