//! `--config FILE` / `GRANTOR_CONFIG`: a TOML file's values are used, an
//! option and an environment variable each override them (the option
//! winning over both), and an unknown key stops the start naming the key.

use std::process::{Command, Stdio};

use crate::both_databases;
use crate::support::{TestDatabase, MGMT_CLIENT_ID, MGMT_CLIENT_SECRET};

/// Runs `grantor serve <args>` with `env`, reads the issuer it publishes,
/// and stops it with SIGTERM.
async fn issuer_of(args: &[&str], env: &[(&str, &str)]) -> String {
    crate::support::tls();
    let mut command = Command::new(env!("CARGO_BIN_EXE_grantor"));
    command
        .arg("serve")
        .args(args)
        .env_remove("GRANTOR_ISSUER")
        .env_remove("GRANTOR_CONFIG")
        .env_remove("GRANTOR_LISTEN")
        .env_remove("GRANTOR_DATABASE_URL")
        .env("GRANTOR_LOG_FORMAT", "text")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("grantor starts");
    let (addr, _stderr) = crate::support::process::listen_address(&mut child);
    let discovery: serde_json::Value =
        reqwest::get(format!("http://{addr}/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
    discovery["issuer"].as_str().unwrap().to_owned()
}

both_databases! {
    async fn file_values_are_used_and_options_and_environment_override_them(db: Backend) {
        let db = TestDatabase::new(db).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("grantor.toml");
        std::fs::write(
            &file,
            format!(
                "# grantor's configuration\n\
                 listen = \"127.0.0.1:0\"\n\
                 database_url = \"{}\"\n\
                 issuer = \"https://file.example.test/\"\n\
                 bootstrap-client-id = \"{MGMT_CLIENT_ID}\"\n\
                 bootstrap-client-secret = \"{MGMT_CLIENT_SECRET}\"\n\
                 purge-interval-seconds = 0\n\
                 trusted-proxies = [\"10.0.0.0/8\", \"::1\"]\n",
                db.url()
            ),
        )
        .unwrap();
        let path = file.to_str().unwrap();

        // The file alone: its listen address, database and issuer are used.
        let issuer = issuer_of(&["--config", path], &[]).await;
        assert_eq!(issuer, "https://file.example.test/");
        // GRANTOR_CONFIG names the file as well as --config does.
        let issuer = issuer_of(&[], &[("GRANTOR_CONFIG", path)]).await;
        assert_eq!(issuer, "https://file.example.test/");
        // An option overrides the file.
        let issuer = issuer_of(&["--config", path, "--issuer", "https://flag.example.test/"], &[]).await;
        assert_eq!(issuer, "https://flag.example.test/");
        // So does an environment variable.
        let env = [("GRANTOR_ISSUER", "https://env.example.test/")];
        let issuer = issuer_of(&["--config", path], &env).await;
        assert_eq!(issuer, "https://env.example.test/");
        // And the option wins over both.
        let issuer = issuer_of(&["--config", path, "--issuer", "https://flag.example.test/"], &env).await;
        assert_eq!(issuer, "https://flag.example.test/");
        db.close().await;
    }
}

#[test]
fn an_unknown_key_or_a_bad_value_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grantor.toml");
    for (content, expected) in [
        (
            "listen = \"127.0.0.1:0\"\ndatabase-ulr = \"sqlite://x.db\"\n",
            "unknown key 'database-ulr'",
        ),
        (
            "listen = \"127.0.0.1:0\"\nmax-connections = 0\n",
            "max-connections",
        ),
        ("listen = [[1]]\n", "key 'listen'"),
    ] {
        std::fs::write(&file, content).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_grantor"))
            .args(["serve", "--config", file.to_str().unwrap()])
            .current_dir(dir.path())
            .env_remove("GRANTOR_CONFIG")
            .env_remove("GRANTOR_LISTEN")
            .env_remove("GRANTOR_DATABASE_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(
            stderr.contains("grantor.toml"),
            "the file is named: {stderr}"
        );
        assert!(!stderr.contains("listening on"), "{stderr}");
        assert!(
            !dir.path().join("grantor.db").exists(),
            "nothing was started"
        );
    }
}
