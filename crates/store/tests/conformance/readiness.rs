//! Readiness: a freshly migrated database holds exactly this binary's
//! migrations (the black-box `readiness` tests change the table under a
//! running server).

use grantor_store::Store;

conformance_tests! {
    a_migrated_database_is_current,
}

async fn a_migrated_database_is_current(store: &Store) {
    let status = store.migration_status().await.unwrap();
    assert!(status.is_current(), "{status:?}");
    assert!(status.pending.is_empty() && status.unknown.is_empty());
}

/// PostgreSQL only (the pool's setting is PostgreSQL's): connections the
/// server dropped while they sat in the pool (a restart, a failover,
/// `pg_terminate_backend`) fail no operation: the pool checks each one
/// before handing it out (`test_before_acquire`, `postgres::connect`) and
/// replaces a broken one. A request that makes several store calls (a code
/// spent, then tokens issued) or the audit writer's batch would otherwise
/// fail half-way on such a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_the_server_dropped_fail_no_operation() {
    use sqlx::Connection as _;

    let Some(database) = grantor_testdb::TestDatabase::postgres().await else {
        return;
    };
    // A name of its own, so only this store's connections are dropped.
    let name = format!("grantor_drop_{:08x}", rand::random::<u32>());
    let store = Store::connect(&format!("{}&application_name={name}", database.url()))
        .await
        .unwrap();
    // Several connections in the pool, all idle and recently used.
    let reads = futures_util::future::join_all((0..6).map(|_| store.migration_status())).await;
    for read in reads {
        read.unwrap();
    }
    let mut admin = sqlx::PgConnection::connect(database.url()).await.unwrap();
    let dropped: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t",
    )
    .bind(&name)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(dropped >= 1, "the store held no connection");
    // Termination is a signal: wait until the server has ended them all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1")
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} connections still open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let _ = admin.close().await;
    for _ in 0..dropped + 20 {
        store.migration_status().await.unwrap();
    }
    store.close().await;
    database.close().await;
}
