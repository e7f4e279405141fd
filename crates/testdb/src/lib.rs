//! A database that exists for one test: a SQLite file in a temporary
//! directory, or a fresh schema in a PostgreSQL database. The store's
//! conformance suite, the black-box suite (`tests/it`) and the in-process
//! benchmark (`benches/token_endpoint.rs`) all get theirs from here.
//!
//! A PostgreSQL test database is a schema with a random name; its URL sets
//! `search_path` to it, so the migrations create their tables there and
//! several tests share one server without seeing each other. The schema is
//! dropped by [`TestDatabase::close`] or, failing that, when the value is
//! dropped, which also happens while a failing test unwinds.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection as _;

/// Names the PostgreSQL database the tests may create schemas in.
pub const POSTGRES_URL_VAR: &str = "GRANTOR_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The URL in `GRANTOR_TEST_POSTGRES_URL`, if it is set and not blank.
pub fn postgres_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// [`postgres_url`], or `None` after printing that the PostgreSQL variant of
/// the test is skipped (so a run without PostgreSQL says so, test by test).
pub fn postgres_url_or_skip() -> Option<String> {
    let url = postgres_url();
    if url.is_none() {
        eprintln!("PostgreSQL skipped: {POSTGRES_URL_VAR} is not set");
    }
    url
}

/// A database for one test; see the crate documentation.
pub struct TestDatabase {
    url: String,
    place: Place,
}

enum Place {
    /// The directory holding the SQLite file; removed on drop.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    /// `schema` is `None` once dropped.
    Postgres {
        base: String,
        schema: Option<String>,
    },
}

impl TestDatabase {
    /// On `backend`. PostgreSQL needs `GRANTOR_TEST_POSTGRES_URL` (callers
    /// check [`postgres_url_or_skip`] first); panics without it.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite(),
            Backend::Postgres => {
                let base =
                    postgres_url().unwrap_or_else(|| panic!("{POSTGRES_URL_VAR} is not set"));
                Self::postgres_in(&base, "t").await
            }
        }
    }

    /// A new SQLite file in a new temporary directory (not `sqlite::memory:`:
    /// a pool holds several connections, and a restarted server must find the
    /// same data).
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("grantor.db").display());
        Self {
            url,
            place: Place::Sqlite(dir),
        }
    }

    /// A fresh schema in the database `GRANTOR_TEST_POSTGRES_URL` names, or
    /// `None` (after printing so) when it is not set.
    pub async fn postgres() -> Option<Self> {
        let base = postgres_url_or_skip()?;
        Some(Self::postgres_in(&base, "t").await)
    }

    /// A fresh schema named `<prefix>_<pid>_<n>_<random>` in the database
    /// `base` names.
    pub async fn postgres_in(base: &str, prefix: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let schema = format!(
            "{prefix}_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let mut admin = sqlx::PgConnection::connect(base)
            .await
            .unwrap_or_else(|e| panic!("connecting to PostgreSQL ({POSTGRES_URL_VAR}): {e}"));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("creating schema {schema}: {e}"));
        let _ = admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        Self {
            url: format!("{base}{separator}options=-c%20search_path%3D{schema}"),
            place: Place::Postgres {
                base: base.to_owned(),
                schema: Some(schema),
            },
        }
    }

    /// The URL to give `Store::connect` or `--database-url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        match self.place {
            Place::Sqlite(_) => Backend::Sqlite,
            Place::Postgres { .. } => Backend::Postgres,
        }
    }

    /// Removes the database now (drops the schema, deletes the file). Close
    /// the pools on it first: an open transaction would hold the schema.
    pub async fn close(mut self) {
        if let Place::Postgres { base, schema } = &mut self.place {
            if let Some(schema) = schema.take() {
                drop_schema(base, &schema).await;
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Place::Postgres { base, schema } = &mut self.place else {
            return;
        };
        let Some(schema) = schema.take() else {
            return;
        };
        let base = base.clone();
        // Drop cannot await, and may run on a runtime's thread (which must not
        // block on that runtime): a thread of its own with its own runtime.
        let _ = std::thread::spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(drop_schema(&base, &schema)),
                Err(e) => eprintln!("warning: could not drop test schema {schema}: {e}"),
            }
        })
        .join();
    }
}

/// Drops `schema` and everything in it; a failure is a warning, not a test
/// failure (the test itself is over).
async fn drop_schema(base: &str, schema: &str) {
    let result = async {
        let mut admin = sqlx::PgConnection::connect(base).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut admin)
            .await?;
        admin.close().await
    }
    .await;
    if let Err(e) = result {
        eprintln!("warning: could not drop test schema {schema}: {e}");
    }
}
