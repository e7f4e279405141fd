//! Native TLS (`--tls-cert`, `--tls-key`): the server speaks HTTPS itself,
//! with an `https://` issuer, HSTS and `Secure` cookies; plain HTTP gets no
//! answer; a handshake that never comes cannot hold a connection slot; the
//! certificate is reloaded on SIGHUP (a bad file keeps the one in use); and
//! one option alone, or a key of another certificate, stops the start.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::AsyncReadExt as _;

use crate::both_databases;
use crate::support::certificate::{peer_certificate, TestCertificate};
use crate::support::{spawn_app_on, AppOptions, TestDatabase};

async fn https_app(db: crate::support::Backend, options: AppOptions) -> crate::support::TestApp {
    let db = Arc::new(TestDatabase::new(db).await);
    spawn_app_on(
        db,
        AppOptions {
            tls: Some(Arc::new(TestCertificate::new())),
            ..options
        },
    )
    .await
}

both_databases! {
    /// Discovery, the Management API and the token endpoint over HTTPS:
    /// every URL is https, the certificate is the one configured, and every
    /// answer carries HSTS.
    async fn the_server_speaks_https_with_an_https_issuer(db: Backend) {
        let app = https_app(db, AppOptions::default()).await;
        assert!(app.base_url.starts_with("https://127.0.0.1:"), "{}", app.base_url);
        let response = app.http.get(app.url("/.well-known/openid-configuration")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000");
        let discovery: Value = response.json().await.unwrap();
        let issuer = format!("{}/", app.base_url);
        assert_eq!(discovery["issuer"], issuer.as_str());
        for key in ["authorization_endpoint", "token_endpoint", "jwks_uri", "revocation_endpoint"] {
            assert!(discovery[key].as_str().unwrap().starts_with(&issuer), "{key}: {discovery}");
        }
        // A client-credentials token for the Management API (iss is https)
        // and a call with it, over the same TLS.
        let token = app.mgmt_token().await;
        assert_eq!(crate::support::claims(&token)["iss"], issuer.as_str());
        let (status, clients) = app.mgmt_call(Method::GET, "/clients", None).await;
        assert_eq!(status, StatusCode::OK, "{clients}");
        assert!(clients.as_array().is_some_and(|c| !c.is_empty()), "{clients}");
        // Cookies set over TLS are Secure (the dashboard's sign-in page).
        let page = app.http.get(app.url("/dashboard/login")).send().await.unwrap();
        let cookies: Vec<_> = page.headers().get_all("set-cookie").iter()
            .map(|v| v.to_str().unwrap().to_owned()).collect();
        assert!(!cookies.is_empty());
        assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
    }
}

/// A plain-HTTP request to the TLS listener gets no HTTP answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_listener_gets_no_answer() {
    let app = https_app(crate::support::Backend::Sqlite, AppOptions::default()).await;
    let plain = app.base_url.replacen("https://", "http://", 1);
    crate::support::tls();
    let result = reqwest::get(format!("{plain}/healthz")).await;
    assert!(
        result.is_err(),
        "answered over plain HTTP: {:?}",
        result.map(|r| r.status())
    );
    // The server is still fine over TLS.
    let ok = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

/// With one connection slot, a client that connects and never starts its
/// handshake is dropped after the header-read timeout, and the next client
/// is served: a silent socket cannot hold the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_shakes_hands_is_closed_and_frees_its_slot() {
    let options = AppOptions {
        connections: grantor::config::ConnectionConfig {
            header_read_timeout: Duration::from_secs(1),
            max_connections: 1,
            ..Default::default()
        },
        ..AppOptions::default()
    };
    let app = https_app(crate::support::Backend::Sqlite, options).await;
    let addr = app.base_url.trim_start_matches("https://").to_owned();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // The server closes it: the read ends (EOF or reset) well before 30 s.
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buffer)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection was not closed: {read:?}"
    );
    // Its slot is free: a real client gets an answer.
    let ok = tokio::time::timeout(
        Duration::from_secs(30),
        app.http.get(app.url("/healthz")).send(),
    )
    .await
    .expect("served after the silent connection was closed")
    .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

/// A handshake that never comes does not hold up a graceful stop: the
/// server stops well before the header-read timeout (a minute here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_handshake_does_not_delay_shutdown() {
    let options = AppOptions {
        connections: grantor::config::ConnectionConfig {
            header_read_timeout: Duration::from_secs(60),
            ..Default::default()
        },
        ..AppOptions::default()
    };
    let app = https_app(crate::support::Backend::Sqlite, options).await;
    let addr = app.base_url.trim_start_matches("https://").to_owned();
    let _silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // The connection is accepted (its task waits for the handshake).
    let ok = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(30), app.stop())
        .await
        .expect("stopped without waiting for the handshake");
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A `grantor serve` process with `--tls-cert`/`--tls-key`.
struct TlsProcess {
    child: std::process::Child,
    addr: String,
    stderr: crate::support::process::Stderr,
}

impl TlsProcess {
    fn start(db: &TestDatabase, certificate: &TestCertificate) -> Self {
        let tls = [
            "--tls-cert".into(),
            certificate.cert.clone().into_os_string(),
            "--tls-key".into(),
            certificate.key.clone().into_os_string(),
        ];
        Self::start_with(db, &tls)
    }

    /// `grantor serve` on `db` with `args` (plain HTTP without TLS options).
    fn start_with(db: &TestDatabase, args: &[std::ffi::OsString]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_grantor"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--purge-interval-seconds",
                "0",
            ])
            .arg("--database-url")
            .arg(db.url())
            .args(args)
            .env_remove("GRANTOR_ISSUER")
            .env_remove("GRANTOR_CONFIG")
            .env_remove("GRANTOR_TLS_CERT")
            .env_remove("GRANTOR_TLS_KEY")
            .env("GRANTOR_LOG_FORMAT", "text")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("grantor starts");
        let (addr, stderr) = crate::support::process::listen_address(&mut child);
        Self {
            child,
            addr,
            stderr,
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn logged(&self, text: &str) -> bool {
        self.stderr
            .lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(text))
    }

    /// The certificate a new connection is served with (by a client that
    /// trusts `trusting`); the issuer it publishes is https.
    async fn certificate_presented(&self, trusting: &[&TestCertificate]) -> Vec<u8> {
        crate::support::tls();
        let mut builder = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .tls_info(true)
            .pool_max_idle_per_host(0);
        for c in trusting {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(&c.der).unwrap());
        }
        let response = builder
            .build()
            .unwrap()
            .get(format!(
                "https://{}/.well-known/openid-configuration",
                self.addr
            ))
            .send()
            .await
            .unwrap();
        let presented = peer_certificate(&response);
        let discovery: Value = response.json().await.unwrap();
        assert_eq!(discovery["issuer"], format!("https://{}/", self.addr));
        presented
    }

    fn stop(mut self) {
        self.signal("TERM");
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
    }
}

impl Drop for TlsProcess {
    /// A failed test does not leave the process running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

both_databases! {
    /// SIGHUP re-reads the files: new connections get the renewed
    /// certificate; a file that no longer parses keeps the one in use and
    /// says so in the log; the process serves throughout and stops cleanly.
    async fn sighup_reloads_the_certificate_and_a_bad_file_keeps_the_old_one(db: Backend) {
        let db = TestDatabase::new(db).await;
        let first = TestCertificate::new();
        let second = TestCertificate::new();
        let server = TlsProcess::start(&db, &first);
        let both = [&first, &second];
        assert_eq!(server.certificate_presented(&both).await, first.der);

        first.replace_files_with(&second);
        // Not before the signal: the files are read at start and on SIGHUP.
        assert_eq!(server.certificate_presented(&both).await, first.der);
        server.signal("HUP");
        wait_for_log(&server, "TLS certificate reloaded").await;
        assert_eq!(server.certificate_presented(&both).await, second.der);

        // A broken certificate file: the reload fails, the renewed one stays.
        std::fs::write(&first.cert, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
        server.signal("HUP");
        wait_for_log(&server, "TLS certificate not reloaded").await;
        assert_eq!(server.certificate_presented(&[&second]).await, second.der);
        server.stop();
        db.close().await;
    }
}

/// Waits (30 s at most) until `process` logged `text`.
async fn wait_for_log(process: &TlsProcess, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !process.logged(text) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never logged: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Without TLS a SIGHUP does not end the process (the default action of
/// the signal): it is answered with a log line, and the server serves on,
/// without HSTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_tls_is_logged_and_harmless() {
    let db = TestDatabase::new(crate::support::Backend::Sqlite).await;
    let server = TlsProcess::start_with(&db, &[]);
    server.signal("HUP");
    wait_for_log(&server, "SIGHUP: nothing to reload").await;
    crate::support::tls();
    let response = reqwest::get(format!("http://{}/healthz", server.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response
        .headers()
        .get("strict-transport-security")
        .is_none());
    server.stop();
    db.close().await;
}

/// `--tls-cert` without `--tls-key` (and the reverse) is a usage error;
/// a key that is not the certificate's, or a file that is not PEM, stops
/// the start naming the file, without printing the key, and without
/// creating the database.
#[test]
fn bad_tls_options_stop_the_start() {
    let certificate = TestCertificate::new();
    let other = TestCertificate::new();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n").unwrap();
    let key_text = std::fs::read_to_string(&other.key).unwrap();
    let key_body = key_text.lines().nth(1).unwrap().to_owned();
    let cert = certificate.cert.to_str().unwrap();
    let key = certificate.key.to_str().unwrap();
    let cases: [(Vec<&str>, Option<i32>, &str); 5] = [
        (
            vec![
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--issuer",
                "http://id.example.test/",
            ],
            Some(2),
            "--issuer must be an https:// URL",
        ),
        (
            vec!["--tls-cert", cert],
            Some(2),
            "--tls-cert needs --tls-key",
        ),
        (
            vec!["--tls-key", cert],
            Some(2),
            "--tls-key needs --tls-cert",
        ),
        (
            vec!["--tls-cert", cert, "--tls-key", other.key.to_str().unwrap()],
            Some(1),
            "the key is not the certificate's",
        ),
        (
            vec!["--tls-cert", cert, "--tls-key", junk.to_str().unwrap()],
            Some(1),
            "junk.pem",
        ),
    ];
    for (args, code, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_grantor"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(&args)
            .current_dir(dir.path())
            .env_remove("GRANTOR_CONFIG")
            .env_remove("GRANTOR_DATABASE_URL")
            .env("GRANTOR_LOG_FORMAT", "text")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), code, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("listening on"), "{stderr}");
        assert!(
            !stderr.contains(&key_body) && !stderr.contains("c2VjcmV0"),
            "a key was printed: {stderr}"
        );
        assert!(
            !dir.path().join("grantor.db").exists(),
            "{args:?}: the database was created"
        );
    }
}
