//! `GET /readyz`: ready on a fresh server; 503 with a reason when the
//! database stops answering, when a migration of this binary is not
//! applied, and when the database holds a migration this binary does not
//! know. `/healthz` stays 200 throughout (liveness, no database).

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::both_databases;
use crate::support::{read, spawn_app, AppOptions, Backend, TestApp, TestDatabase};

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    readyz_at(&app.base_url).await
}

async fn readyz_at(base: &str) -> (StatusCode, Value) {
    let response = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    read(response).await
}

async fn healthz(base: &str) -> StatusCode {
    reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .status()
}

/// Runs one statement on the test database, beside the server.
async fn execute(db: &TestDatabase, sql: &str) {
    match db.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// The newest migration this binary embeds, as the database recorded it.
async fn newest_version(app: &TestApp) -> String {
    app.query_strings("SELECT CAST(MAX(version) AS TEXT) FROM _sqlx_migrations")
        .await
        .remove(0)
}

both_databases! {
    async fn ready_on_a_fresh_server_and_not_with_migrations_out_of_step(db: Backend) {
        let app = spawn_app(db).await;
        let (status, body) = readyz(&app).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, serde_json::json!({"status": "ready"}));

        // A migration of this binary recorded as failed counts as pending.
        let newest = newest_version(&app).await;
        execute(&app.db, &format!("UPDATE _sqlx_migrations SET success = FALSE WHERE version = {newest}")).await;
        let (status, body) = readyz(&app).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "unavailable");
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains("pending") && reason.contains(&newest), "{reason}");
        assert_eq!(healthz(&app.base_url).await, StatusCode::OK, "liveness does not depend on the database");
        execute(&app.db, &format!("UPDATE _sqlx_migrations SET success = TRUE WHERE version = {newest}")).await;
        assert_eq!(readyz(&app).await.0, StatusCode::OK);

        // A newer release migrated the database: this binary is not ready.
        execute(
            &app.db,
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99991231000000, 'from a newer release', TRUE, X'00', 0)"
                .replace("X'00'", if db == Backend::Sqlite { "X'00'" } else { "'\\x00'::bytea" })
                .as_str(),
        )
        .await;
        let (status, body) = readyz(&app).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        let reason = body["reason"].as_str().unwrap();
        assert!(reason.contains("does not know") && reason.contains("99991231000000"), "{reason}");
        execute(&app.db, "DELETE FROM _sqlx_migrations WHERE version = 99991231000000").await;
        assert_eq!(readyz(&app).await.0, StatusCode::OK);
        app.stop().await;
    }
}

both_databases! {
    async fn not_ready_while_the_database_does_not_answer(db: Backend) {
        match db {
            // SQLite is a file the server holds open: make its query fail
            // (the table it reads is gone), then bring it back.
            Backend::Sqlite => {
                let app = spawn_app(db).await;
                assert_eq!(readyz(&app).await.0, StatusCode::OK);
                execute(&app.db, "ALTER TABLE _sqlx_migrations RENAME TO moved_away").await;
                let (status, body) = readyz(&app).await;
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                assert_eq!(body["reason"], "the database did not answer");
                assert_eq!(healthz(&app.base_url).await, StatusCode::OK);
                execute(&app.db, "ALTER TABLE moved_away RENAME TO _sqlx_migrations").await;
                assert_eq!(readyz(&app).await.0, StatusCode::OK);
                app.stop().await;
            }
            // PostgreSQL over the network: the server reaches it through a
            // TCP relay the test then shuts, closing every connection and
            // refusing new ones, as a database host that went away.
            Backend::Postgres => {
                let database = TestDatabase::new(db).await;
                let mut url = url::Url::parse(database.url()).unwrap();
                let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
                let relay = Relay::start(target).await;
                url.set_port(Some(relay.port)).unwrap();
                let app = grantor::Application::build(config_for(url.as_str())).await.unwrap();
                let base = format!("http://{}", app.local_addr());
                let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
                assert_eq!(readyz_at(&base).await.0, StatusCode::OK);
                relay.stop();
                let started = std::time::Instant::now();
                let (status, body) = readyz_at(&base).await;
                assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
                let reason = body["reason"].as_str().unwrap();
                assert!(reason.starts_with("the database did not answer"), "{reason}");
                assert!(
                    started.elapsed() < std::time::Duration::from_secs(10),
                    "the probe answers within its timeout"
                );
                assert_eq!(healthz(&base).await, StatusCode::OK);
                // Without its database the server cannot stop cleanly (the
                // audit writer's drain); it ends with the test.
                server.abort();
            }
        }
    }
}

/// `grantor serve`'s configuration as the suite runs it, on `database_url`.
fn config_for(database_url: &str) -> grantor::Config {
    crate::support::config_for(database_url, AppOptions::default())
}

/// A TCP relay to the database; `stop` closes it and every connection.
struct Relay {
    port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let held = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                held.lock().unwrap().push(relay);
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { port, tasks }
    }

    /// Aborting the tasks drops the listener and both ends of every relayed
    /// connection.
    fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
