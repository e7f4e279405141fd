//! Receivers in the network grantor runs in are refused (SSRF): with the
//! default egress rule, a back-channel logout URL or log stream endpoint on
//! this host, on a private network or at the cloud metadata address gets
//! no request, and the delivery records why; the operator's
//! `--outbound-allow-networks` (as every other outbox test sets for
//! 127.0.0.1) lets them through.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::backchannel_logout::{register, signed_in};
use crate::both_databases;
use crate::management_refresh_tokens::{fixture_on, non_rotating};
use crate::support::receiver::Receiver;
use crate::support::{spawn_app_on, AppOptions, TestApp, TestDatabase};

/// An app with grantor's default egress rule and one attempt per message.
async fn guarded_app(db: crate::support::Backend) -> TestApp {
    let database = Arc::new(TestDatabase::new(db).await);
    let mut options = AppOptions::default();
    options.outbox.egress = Default::default();
    options.outbox.max_attempts = 1;
    spawn_app_on(database, options).await
}

/// Waits until the outbox holds `n` finished messages; returns their
/// `status last_error` lines.
async fn finished(app: &TestApp, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let rows = app
            .query_strings("SELECT status || ' ' || COALESCE(last_error, '') FROM outbox WHERE status <> 'pending' ORDER BY id")
            .await;
        if rows.len() >= n {
            return rows;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

both_databases! {
    /// A logout URL on 127.0.0.1, or a name that resolves to it, is never
    /// called; the delivery fails with the reason.
    async fn a_receiver_on_this_host_gets_nothing(db: Backend) {
        let f = fixture_on(guarded_app(db).await, non_rotating()).await;
        let receiver = Receiver::start().await;
        for url in [receiver.url.clone(), receiver.url.replace("127.0.0.1", "localhost")] {
            register(&f.app, &f.web_id, &url).await;
            let (_, sid) = signed_in(&f).await;
            let (status, _) = f.app.mgmt_call(Method::DELETE, &format!("/sessions/{sid}"), None).await;
            assert!(status.is_success(), "{status}");
        }
        let rows = finished(&f.app, 2).await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        for row in &rows {
            assert!(row.starts_with("failed ") && row.contains("refused to connect to ") && row.contains("internal address"), "{rows:?}");
        }
        assert_eq!(receiver.requests(), 0, "no request reached the receiver");
    }
}

both_databases! {
    /// A log stream pointed at the cloud metadata address is accepted (a
    /// name could resolve anywhere later) but never reaches it.
    async fn a_log_stream_to_the_metadata_address_is_refused(db: Backend) {
        let app = guarded_app(db).await;
        let (status, stream) = app
            .mgmt_call(Method::POST, "/log-streams", Some(json!({
                "name": "metadata",
                "type": "http",
                "sink": {"httpEndpoint": "http://169.254.169.254/latest/meta-data", "httpContentType": "application/json", "httpContentFormat": "JSONLINES"},
            })))
            .await;
        assert_eq!(status, StatusCode::OK, "{stream}");
        // A Management API change is an audit event, which the stream ships.
        let (status, body) = app.mgmt_call(Method::POST, "/clients", Some(json!({"name": "audited"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let errors = app.query_strings("SELECT last_error FROM outbox WHERE last_error IS NOT NULL").await;
            if let Some(error) = errors.first() {
                assert!(error.contains("refused to connect to 169.254.169.254"), "{errors:?}");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no attempt recorded");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
