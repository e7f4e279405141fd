//! `--otlp-endpoint` / `OTEL_EXPORTER_OTLP_ENDPOINT`: a `grantor serve`
//! process exports its spans over OTLP/HTTP (protobuf) to a receiver in
//! the test, which accepts `POST /v1/traces` and keeps the bodies.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;

use crate::both_databases;
use crate::request_logs::Server;
use crate::support::{TestApp, TestDatabase, MGMT_CLIENT_SECRET};

/// A minimal OTLP/HTTP traces receiver.
struct Receiver {
    endpoint: String,
    bodies: Arc<Mutex<Vec<Bytes>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Self {
        let bodies: Arc<Mutex<Vec<Bytes>>> = Arc::default();
        let kept = bodies.clone();
        let router = axum::Router::new().route(
            "/v1/traces",
            post(move |body: Bytes| {
                let kept = kept.clone();
                async move {
                    kept.lock().unwrap().push(body);
                    // An empty ExportTraceServiceResponse: full success.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self {
            endpoint,
            bodies,
            task,
        }
    }

    /// Every body received so far, as one byte string (protobuf keeps
    /// strings as their UTF-8 bytes).
    fn received(&self) -> (usize, Vec<u8>) {
        let bodies = self.bodies.lock().unwrap();
        (bodies.len(), bodies.concat())
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

both_databases! {
    async fn spans_of_requests_flows_and_store_operations_reach_the_collector(db: Backend) {
        let receiver = Receiver::start().await;
        let db = Arc::new(TestDatabase::new(db).await);
        let server = Server::start_with(
            &db,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
                // Send batches every 100 ms instead of 5 s.
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        );
        let app = TestApp::remote(&server.base_url, db.clone());
        let token = app.mgmt_token().await;

        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (count, bytes) = receiver.received();
            let complete = contains(&bytes, "grantor")
                && contains(&bytes, "/oauth/token")
                && contains(&bytes, "exchange")
                && contains(&bytes, "store.");
            if complete {
                assert!(count >= 1);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no request, flow and store spans after 30 s ({count} exports)"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let lines = server.stop();
        let (_, bytes) = receiver.received();
        for secret in [MGMT_CLIENT_SECRET, token.as_str()] {
            assert!(!contains(&bytes, secret), "a secret was exported");
        }
        assert!(
            lines.iter().any(|l| l.contains("exporting traces over OTLP/HTTP")),
            "the start says where traces go"
        );
        receiver.task.abort();
    }
}
