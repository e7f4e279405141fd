//! The `grantor` binary as a user runs it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `grantor serve` on port 0 in `dir`; returns the child and its address.
fn start(dir: &std::path::Path, extra_env: &[(&str, &str)]) -> (std::process::Child, String) {
    crate::support::tls();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grantor"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .current_dir(dir)
        .env_remove("GRANTOR_DATABASE_URL")
        .env_remove("GRANTOR_ISSUER")
        .env("RUST_LOG", "info")
        .env("GRANTOR_OUTBOUND_ALLOW_NETWORKS", "127.0.0.0/8")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("grantor starts");
    let (addr, _stderr) = crate::support::process::listen_address(&mut child);
    (child, addr)
}

#[tokio::test]
async fn serve_runs_on_an_embedded_sqlite_file_by_default_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = start(dir.path(), &[]);
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert!(
        dir.path().join("grantor.db").exists(),
        "default database is ./grantor.db"
    );
    let issuer: serde_json::Value =
        reqwest::get(format!("http://{addr}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(issuer["issuer"], format!("http://{addr}/"));

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "grantor did not stop after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean exit");
}

#[tokio::test]
async fn generated_credentials_are_printed_once_on_first_start_only() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = start(dir.path(), &[]);
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let first = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(first.contains("management client_secret:"), "{first}");
    assert!(first.contains("dashboard password:"), "{first}");

    let (child, _) = start(dir.path(), &[]);
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let second = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        !second.contains("client_secret"),
        "credentials are printed only once: {second}"
    );
    let logs = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!logs.contains("client_secret"), "no secret in a log line");
}

#[tokio::test]
async fn invalid_configuration_exits_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_grantor"))
        .args(["serve", "--issuer", "not-a-url"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("issuer"));
}

mod durability {
    //! CONTRACT §4 rule 11: what the server answered survives `kill -9`.
    use std::sync::Arc;

    use reqwest::StatusCode;
    use serde_json::Value;

    use super::start;
    use crate::both_databases;
    use crate::refresh_tokens::{rotating, setup, API, EMAIL, PASSWORD};
    use crate::support::{read, spawn_app_on, AppOptions, TestDatabase};

    async fn token(base: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let client = reqwest::Client::new();
        read(
            client
                .post(format!("{base}/oauth/token"))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// Starts the binary on `url`, waits for it to listen.
    fn serve(dir: &std::path::Path, url: &str) -> (std::process::Child, String) {
        let (child, addr) = start(
            dir,
            &[
                ("GRANTOR_DATABASE_URL", url),
                ("GRANTOR_PURGE_INTERVAL_SECONDS", "0"),
            ],
        );
        (child, format!("http://{addr}"))
    }

    /// [`serve`] with more environment.
    fn serve_with(
        dir: &std::path::Path,
        url: &str,
        extra: &[(&str, &str)],
    ) -> (std::process::Child, String) {
        let mut env = vec![
            ("GRANTOR_DATABASE_URL", url),
            ("GRANTOR_PURGE_INTERVAL_SECONDS", "0"),
        ];
        env.extend_from_slice(extra);
        let (child, addr) = start(dir, &env);
        (child, format!("http://{addr}"))
    }

    fn kill_9(mut child: std::process::Child) {
        child.kill().expect("SIGKILL"); // std sends SIGKILL on Unix
        child.wait().unwrap();
    }

    both_databases! {
        async fn answered_rotations_and_revocations_survive_sigkill(db: Backend) {
            let database = Arc::new(TestDatabase::new(db).await);
            let app = spawn_app_on(database.clone(), AppOptions::default()).await;
            let (id, secret) = setup(&app, rotating(0)).await;
            app.stop().await;
            let dir = tempfile::tempdir().unwrap();
            let refresh = |rt: String| {
                let (id, secret) = (id.clone(), secret.clone());
                move |base: String| async move {
                    token(&base, &[("grant_type", "refresh_token"), ("client_id", &id), ("client_secret", &secret), ("refresh_token", &rt)]).await
                }
            };

            // A rotation that answered is durable: its new token works after a crash.
            let (server, base) = serve(dir.path(), database.url());
            let (status, first) = token(&base, &[
                ("grant_type", "password"), ("client_id", &id), ("client_secret", &secret),
                ("username", EMAIL), ("password", PASSWORD), ("audience", API), ("scope", "offline_access read:orders"),
            ]).await;
            assert_eq!(status, StatusCode::OK, "{first}");
            let (status, second) = refresh(first["refresh_token"].as_str().unwrap().to_owned())(base.clone()).await;
            assert_eq!(status, StatusCode::OK, "{second}");
            kill_9(server);

            let (server, base) = serve(dir.path(), database.url());
            let (status, third) = refresh(second["refresh_token"].as_str().unwrap().to_owned())(base.clone()).await;
            assert_eq!(status, StatusCode::OK, "the rotated token survived the crash: {third}");
            let live = third["refresh_token"].as_str().unwrap().to_owned();

            // A revocation that answered is durable: the token fails after a crash.
            let response = reqwest::Client::new()
                .post(format!("{base}/oauth/revoke"))
                .form(&[("client_id", id.as_str()), ("client_secret", secret.as_str()), ("token", live.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            kill_9(server);

            let (server, base) = serve(dir.path(), database.url());
            let (status, body) = refresh(live.clone())(base.clone()).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "the revoked token still fails: {body}");
            assert_eq!(body["error"], "invalid_grant");
            let (status, body) = read(
                reqwest::Client::new()
                    .post(format!("{base}/oauth/introspect"))
                    .form(&[("client_id", id.as_str()), ("client_secret", secret.as_str()), ("token", live.as_str())])
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!((status, body["active"].clone()), (StatusCode::OK, Value::Bool(false)));
            kill_9(server);
        }
    }

    both_databases! {
        /// A back-channel logout queued by a revocation that answered is
        /// still sent after `kill -9`: the receiver fails while the first
        /// process runs, the process is killed, and the next one delivers.
        async fn queued_logouts_survive_sigkill_and_are_sent_after_restart(db: Backend) {
            use crate::backchannel_logout::{register, signed_in};
            use crate::management_refresh_tokens::{fixture_on, non_rotating};
            use crate::support::receiver::{verify_logout_token_at, Receiver};
            use crate::support::{MGMT_CLIENT_ID, MGMT_CLIENT_SECRET};

            let database = Arc::new(TestDatabase::new(db).await);
            let f = fixture_on(spawn_app_on(database.clone(), AppOptions::default()).await, non_rotating()).await;
            let receiver = Receiver::start().await;
            receiver.answer_with(503);
            register(&f.app, &f.web_id, &receiver.url).await;
            let (_, sid) = signed_in(&f).await;
            let (issuer, web_id, user_id) = (f.app.issuer.clone(), f.web_id.clone(), f.user_id.clone());
            f.app.stop().await;

            // The binary answers with the same issuer, as a restarted process would.
            let dir = tempfile::tempdir().unwrap();
            let env = [("GRANTOR_ISSUER", issuer.as_str()), ("GRANTOR_OUTBOX_RETRY_BASE_MS", "100")];
            let (server, base) = serve_with(dir.path(), database.url(), &env);
            let audience = format!("{issuer}api/v2/");
            let (status, body) = token(&base, &[
                ("grant_type", "client_credentials"), ("client_id", MGMT_CLIENT_ID),
                ("client_secret", MGMT_CLIENT_SECRET), ("audience", &audience),
            ]).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let bearer = body["access_token"].as_str().unwrap().to_owned();
            let response = reqwest::Client::new()
                .delete(format!("{base}/api/v2/sessions/{sid}"))
                .bearer_auth(&bearer)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            // Killed once the failed attempt is recorded (a kill during an
            // attempt would leave the message leased for a minute first).
            let store = crate::support::connect_store(&database).await;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let messages = store.list_outbox(&Default::default(), grantor_store::PageRequest { offset: 0, limit: 10 }).await.unwrap().items;
                if messages.iter().any(|m| m.last_error.is_some()) {
                    assert_eq!(messages.len(), 1);
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "no failed attempt recorded");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            store.close().await;
            assert!(receiver.requests() >= 1);
            kill_9(server);
            assert!(receiver.accepted().is_empty());

            receiver.answer_with(200);
            let (server, base) = serve_with(dir.path(), database.url(), &env);
            let tokens = receiver.wait_for(1).await;
            let claims = verify_logout_token_at(&base, &issuer, &tokens[0], &web_id).await;
            assert_eq!((claims["sid"].as_str(), claims["sub"].as_str()), (Some(sid.as_str()), Some(user_id.as_str())));
            kill_9(server);
            assert_eq!(receiver.accepted().len(), 1);
        }
    }
}
