//! The `grantor` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `grantor serve` on port 0 in `dir`; returns the child and its address.
fn start(dir: &std::path::Path, extra_env: &[(&str, &str)]) -> (std::process::Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_grantor"));
    cmd.arg("serve")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .current_dir(dir)
        .env_remove("GRANTOR_DATABASE_URL")
        .env_remove("GRANTOR_ISSUER")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("grantor starts");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("server reports its address");
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
