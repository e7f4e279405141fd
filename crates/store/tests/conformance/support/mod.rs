//! The harness: a store on a database that exists for one test, and the
//! macros that declare a test once for both engines. Builders live in
//! `fixtures`, field-by-field comparisons in `compare`.

pub mod compare;
pub mod fixtures;

use std::future::Future;

use grantor_store::Store;
use grantor_testdb::TestDatabase;

/// Asserts that a store call failed with the given `StoreError` pattern.
macro_rules! assert_store_err {
    ($result:expr, $pat:pat $(,)?) => {
        match $result {
            Err($pat) => {}
            Err(other) => panic!("expected {}, got {other:?}", stringify!($pat)),
            Ok(_) => panic!("expected {}, got Ok", stringify!($pat)),
        }
    };
}

/// Instantiates each named `async fn(&Store)` of the calling module once per
/// backend, as `<module>::sqlite::<name>` and `<module>::postgres::<name>`.
macro_rules! conformance_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::support::TestDb::sqlite().await;
                    db.run(|store| async move { super::$name(&store).await }).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::support::TestDb::postgres().await else {
                        return;
                    };
                    db.run(|store| async move { super::$name(&store).await }).await;
                }
            )+
        }
    };
}

/// A store on a database that exists for one test only.
pub struct TestDb {
    store: Store,
    database: TestDatabase,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        Self::connect(TestDatabase::sqlite(), "sqlite").await
    }

    /// `None` (after saying so) when no PostgreSQL server is configured.
    pub async fn postgres() -> Option<Self> {
        Some(Self::connect(TestDatabase::postgres().await?, "postgres").await)
    }

    async fn connect(database: TestDatabase, backend: &str) -> Self {
        // A panic here drops `database`, which removes it.
        let store = Store::connect(database.url())
            .await
            .unwrap_or_else(|e| panic!("connecting the store to {backend}: {e}"));
        assert_eq!(store.backend_name(), backend);
        TestDb { store, database }
    }

    /// Runs the test body on its own task so that a failing assertion still
    /// lets the store close before the database is removed (an open
    /// transaction would hold the schema); the failure is re-raised afterwards.
    pub async fn run<F, Fut>(self, body: F)
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let outcome = tokio::spawn(body(self.store.clone())).await;
        self.store.close().await;
        self.database.close().await;
        if let Err(e) = outcome {
            match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("test task failed: {e}"),
            }
        }
    }
}
