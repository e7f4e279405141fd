//! Command line and environment → validated configuration.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::password::PasswordHashConfig;
use crate::purge::PurgeConfig;
use crate::Clock;

#[derive(Debug, Parser)]
#[command(
    name = "grantor",
    version,
    about = "An Auth0-compatible OAuth 2.0 / OpenID Connect authorization server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (migrates the database and bootstraps it on first start).
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRANTOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Issuer URL; every endpoint URL derives from it. Default: http://<listen>/.
    #[arg(long, env = "GRANTOR_ISSUER")]
    pub issuer: Option<String>,
    /// sqlite://FILE (created if missing) or postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(
        long,
        env = "GRANTOR_DATABASE_URL",
        default_value = "sqlite://grantor.db"
    )]
    pub database_url: String,
    /// Client id of the Management API client made at first start (generated when unset).
    #[arg(long, env = "GRANTOR_BOOTSTRAP_CLIENT_ID", hide_env_values = true)]
    pub bootstrap_client_id: Option<String>,
    /// Its client secret (generated when unset).
    #[arg(long, env = "GRANTOR_BOOTSTRAP_CLIENT_SECRET", hide_env_values = true)]
    pub bootstrap_client_secret: Option<String>,
    /// E-mail of the dashboard administrator made at first start.
    #[arg(long, env = "GRANTOR_ADMIN_EMAIL", hide_env_values = true)]
    pub admin_email: Option<String>,
    /// Its password (generated when unset).
    #[arg(long, env = "GRANTOR_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Seconds between background purge passes over dead rows; 0 turns it off.
    #[arg(long, env = "GRANTOR_PURGE_INTERVAL_SECONDS", default_value_t = 10)]
    pub purge_interval_seconds: u64,
    /// Rows one purge pass looks at per table (1 to 100000).
    #[arg(long, env = "GRANTOR_PURGE_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub purge_batch_size: i64,
    /// Days audit events are kept (1 to 3650).
    #[arg(long, env = "GRANTOR_LOG_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(i64).range(1..=3650))]
    pub log_retention_days: i64,
    /// Argon2id password hashes or checks running at once (each needs 19 MiB).
    /// Default: the number of available cores.
    #[arg(long, env = "GRANTOR_PASSWORD_HASH_CONCURRENCY",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub password_hash_concurrency: Option<u16>,
    /// Sign-ins that may wait for a hashing place beyond those; more get 429
    /// at once. Default: sixteen times the concurrency.
    #[arg(long, env = "GRANTOR_PASSWORD_HASH_QUEUE",
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub password_hash_queue: Option<u32>,
    /// Milliseconds a sign-in waits for a hashing place before it gets 429.
    #[arg(long, env = "GRANTOR_PASSWORD_HASH_QUEUE_TIMEOUT_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub password_hash_queue_timeout_ms: u64,
}

/// Credentials for the first start; `None` members are generated.
#[derive(Clone, Default)]
pub struct BootstrapCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
}

impl std::fmt::Debug for BootstrapCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapCredentials")
            .field("client_id", &self.client_id)
            .field("admin_email", &self.admin_email)
            .finish_non_exhaustive()
    }
}

/// A validated issuer: an absolute http(s) URL ending in `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(String);

impl Issuer {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"))
            .ok_or_else(|| format!("issuer must start with http:// or https:// (got '{raw}')"))?;
        if rest.is_empty() || rest.starts_with('/') || trimmed.contains(['?', '#', ' ']) {
            return Err(format!(
                "issuer must be an absolute URL with a host (got '{raw}')"
            ));
        }
        let mut value = trimmed.to_owned();
        if !value.ends_with('/') {
            value.push('/');
        }
        Ok(Self(value))
    }

    pub fn for_listen_address(addr: SocketAddr) -> Self {
        Self(format!("http://{addr}/"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `<issuer><path>`, with `path` given without a leading slash.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.0, path.trim_start_matches('/'))
    }

    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The Management API's audience.
    pub fn management_audience(&self) -> String {
        self.url("api/v2/")
    }
}

/// Everything `Application::build` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub issuer: Option<Issuer>,
    pub database_url: String,
    pub bootstrap: BootstrapCredentials,
    pub clock: Clock,
    pub purge: PurgeConfig,
    pub password_hashing: PasswordHashConfig,
}

impl Config {
    pub fn from_args(args: ServeArgs) -> Result<Self, String> {
        let issuer = args.issuer.as_deref().map(Issuer::parse).transpose()?;
        Ok(Self {
            listen: args.listen,
            issuer,
            database_url: args.database_url,
            bootstrap: BootstrapCredentials {
                client_id: args.bootstrap_client_id,
                client_secret: args.bootstrap_client_secret,
                admin_email: args.admin_email,
                admin_password: args.admin_password,
            },
            clock: Clock::System,
            purge: PurgeConfig {
                interval: (args.purge_interval_seconds > 0)
                    .then(|| std::time::Duration::from_secs(args.purge_interval_seconds)),
                batch_size: args.purge_batch_size,
                log_retention_days: args.log_retention_days,
            },
            password_hashing: {
                let default = PasswordHashConfig::default();
                let concurrency = args
                    .password_hash_concurrency
                    .map_or(default.concurrency, usize::from);
                PasswordHashConfig {
                    concurrency,
                    max_waiting: args
                        .password_hash_queue
                        .map_or(concurrency.saturating_mul(16), |n| n as usize),
                    queue_timeout: std::time::Duration::from_millis(
                        args.password_hash_queue_timeout_ms,
                    ),
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_always_ends_in_slash() {
        assert_eq!(
            Issuer::parse("https://id.example").unwrap().as_str(),
            "https://id.example/"
        );
        assert_eq!(
            Issuer::parse("http://127.0.0.1:8080/").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
        assert_eq!(
            Issuer::parse("https://id.example/tenant")
                .unwrap()
                .management_audience(),
            "https://id.example/tenant/api/v2/"
        );
        for bad in [
            "id.example",
            "ftp://x/",
            "https://",
            "https:///x",
            "https://a/?q",
        ] {
            assert!(Issuer::parse(bad).is_err(), "{bad}");
        }
    }
}
